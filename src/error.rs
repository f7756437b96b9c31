//! The one error type, and the one place that renders it.
//!
//! Every error says what went wrong and, where it can, where (`file:line:col` of the provider
//! file's key) and what to do (`help`). Protocol mode prints [`Error::one_line`] inside the
//! panel's error object; operator commands print [`Error::report`], like a compiler.

use crate::position::{self, LineCol, YamlPath};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A provider file's text, kept so that errors can point into it.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: PathBuf,
    pub text: Arc<str>,
}

impl Source {
    /// The location of the key at `path`.
    pub fn at(&self, path: &YamlPath) -> Location {
        Location {
            file: self.file.clone(),
            line_col: position::locate(&self.text, path),
            path: Some(path.clone()),
            line_text: None,
        }
        .with_line_text(&self.text)
    }

    /// An error at the key at `path`.
    pub fn error(&self, path: &YamlPath, message: impl Into<String>) -> Error {
        Error::new(message).at(self.at(path))
    }
}

/// A place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line_col: Option<LineCol>,
    /// The YAML key, when known (`order.steps[0].extract.id`).
    pub path: Option<YamlPath>,
    /// The source line, for the compiler-style report.
    pub line_text: Option<String>,
}

impl Location {
    /// A file with a line and column already known (serde's errors).
    pub fn in_file(file: &Path, line_col: Option<LineCol>, text: &str) -> Self {
        Location {
            file: file.to_path_buf(),
            line_col,
            path: None,
            line_text: None,
        }
        .with_line_text(text)
    }

    fn with_line_text(mut self, text: &str) -> Self {
        self.line_text = self
            .line_col
            .and_then(|lc| text.lines().nth(lc.line.saturating_sub(1)))
            .map(str::to_owned);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(LineCol { line, col }) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        Ok(())
    }
}

/// What went wrong, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub help: Option<String>,
    pub location: Option<Box<Location>>,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            help: None,
            location: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(Box::new(location));
        self
    }

    /// One line for the panel: `file:line:col: message (key `a.b`); help`.
    pub fn one_line(&self) -> String {
        let mut line = String::new();
        if let Some(location) = &self.location {
            line.push_str(&format!("{location}: "));
        }
        line.push_str(&self.message);
        if let Some(path) = self.location.as_ref().and_then(|l| l.path.as_ref()) {
            line.push_str(&format!(" (at `{path}`)"));
        }
        if let Some(help) = &self.help {
            line.push_str("; ");
            line.push_str(help);
        }
        line
    }

    /// A compiler-style report: the message, `--> file:line:col`, the source line with a
    /// caret, and a `help:` line.
    pub fn report(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        if let Some(location) = &self.location {
            out.push_str(&format!("  --> {location}\n"));
            if let (Some(lc), Some(text)) = (location.line_col, &location.line_text) {
                let number = lc.line.to_string();
                let pad = " ".repeat(number.len());
                out.push_str(&format!("{pad} |\n{number} | {text}\n"));
                out.push_str(&format!(
                    "{pad} | {}^\n",
                    " ".repeat(lc.col.saturating_sub(1))
                ));
            }
            if let Some(path) = &location.path {
                out.push_str(&format!("  = key: `{path}`\n"));
            }
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("help: {help}\n"));
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

impl std::error::Error for Error {}

/// Plain I/O with the file it was about.
pub fn io_error(action: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::new(format!("cannot {action} `{}`: {err}", path.display()))
}
