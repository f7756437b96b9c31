//! `vps-provider validate`: checks provider files without sending anything, and prints every
//! problem like a compiler: `file:line:col`, what is wrong, and a `help:` line.
//!
//! The stages are those of loading, stopped before the site and the network: YAML syntax, the
//! schema (every structural problem at once), then the plan (JSONPath, templates, variables,
//! ids, statuses).

use crate::error::{Error, Source};
use crate::plan::{self, Parts, Plan};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The problems of one provider file.
pub fn problems(name: &str, path: &Path) -> Vec<Error> {
    let text = match crate::files::read_text(path, crate::files::WRITTEN_FILE_CAP) {
        Ok(text) => text,
        Err(err) => return vec![crate::error::io_error("read", path, &err)],
    };
    problems_in(name, path, &text)
}

/// The problems of provider file `text`, as if read from `path` (which only appears in
/// messages): `problems` without the file system, for the fuzz targets and their tests.
pub fn problems_in(name: &str, path: &Path, text: &str) -> Vec<Error> {
    let source = Source {
        file: path.to_path_buf(),
        text: text.into(),
    };
    let document: Value = match serde_yaml_ng::from_str(&source.text) {
        Ok(document) => document,
        Err(err) => {
            let error = plan::yaml_error(&source, &err);
            let message = format!("this is not valid YAML: {}", error.message);
            return vec![
                Error { message, ..error }.help("check indentation and quoting around this place"),
            ];
        }
    };
    let structural = super::schema::problems(&source, &document);
    if !structural.is_empty() {
        return structural;
    }
    match plan::parse(&source)
        .map_err(|e| vec![e])
        .and_then(|manifest| Plan::compile(name, manifest, source, Parts::ALL))
    {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// A provider named on the command line: a file (a path, or a name ending in `.yaml`) or a
/// provider name looked up in the provider folder.
pub fn resolve(argument: &str) -> (String, PathBuf) {
    let path = Path::new(argument);
    if argument.contains('/') || argument.ends_with(".yaml") {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (name, path.to_path_buf())
    } else {
        (
            argument.to_owned(),
            crate::site::Site::from_env(argument).provider_file,
        )
    }
}

#[derive(Serialize)]
struct JsonProblem {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
    help: Option<String>,
}

/// Validates `files`; prints a report; returns whether all are valid.
pub fn run(files: &[(String, PathBuf)], json: bool) -> bool {
    let mut all = Vec::new();
    let mut text = String::new();
    for (name, path) in files {
        let found = problems(name, path);
        if found.is_empty() {
            text.push_str(&format!("ok: {}\n", path.display()));
        } else {
            for problem in &found {
                text.push_str(&problem.report());
                text.push('\n');
            }
            text.push_str(&format!(
                "{} problem(s) in {}\n",
                found.len(),
                path.display()
            ));
        }
        all.extend(found.into_iter().map(|p| {
            let location = p.location.as_deref();
            JsonProblem {
                file: location.map_or_else(
                    || path.display().to_string(),
                    |l| l.file.display().to_string(),
                ),
                line: location.and_then(|l| l.line_col).map(|lc| lc.line),
                column: location.and_then(|l| l.line_col).map(|lc| lc.col),
                key: location
                    .and_then(|l| l.path.as_ref())
                    .map(|k| k.to_string()),
                message: p.message,
                help: p.help,
            }
        }));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("problems are JSON")
        );
    } else {
        print!("{text}");
    }
    all.is_empty()
}
