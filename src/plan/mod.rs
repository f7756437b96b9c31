//! The checked plan: a provider file with its JSONPath and templates compiled and its ids,
//! statuses and names checked. All load-time `file:line:col` errors come from here.
//!
//! Rules: compiling needs only the provider file (so `validate` needs no site); binding the
//! plan to a site ([`Plan::bind`]) adds secrets and setting overrides; nothing here touches the
//! network or the task store.
//!
//! One module per section of the provider file: `api`, `configs`, `order` (with
//! `order_status` and `cleanup`), `settings` (with `secrets` and the site binding);
//! `request` compiles a request and its answer wherever one is written, and `compiler`
//! holds what every section uses (templates, JSONPath, bounded numbers).

mod api;
mod compiler;
mod configs;
mod order;
mod request;
mod settings;

pub use api::*;
pub use compiler::*;
pub use configs::*;
pub use order::*;
pub use request::*;
pub use settings::*;

use compiler::{Compiler, declared};

use crate::error::{Error, Location, Result, Source, io_error};
use crate::manifest::{self, Manifest, ProviderStatus};
use crate::position::LineCol;
use crate::suggest;
use crate::template::Templates;
use crate::variables;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// The sections of a provider file a run uses. Only those are compiled: compiling templates
/// and JSONPath is most of a run's start-up, which the panel pays on every call (`help` for
/// every provider on every page, `order_status` for every task). `validate` compiles all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub configs: bool,
    pub order: bool,
    /// `order_status` and `cleanup`.
    pub status: bool,
    /// `api.check`, for the operator's `check`.
    pub check: bool,
}

impl Parts {
    /// Enough to say whether the provider is enabled: structure, secrets and settings.
    pub const NONE: Parts = Parts {
        configs: false,
        order: false,
        status: false,
        check: false,
    };
    pub const ALL: Parts = Parts {
        configs: true,
        order: true,
        status: true,
        check: true,
    };
    pub const CONFIGS: Parts = Parts {
        configs: true,
        ..Parts::NONE
    };
    /// An order picks its config from the menu first.
    pub const ORDER: Parts = Parts {
        configs: true,
        order: true,
        ..Parts::NONE
    };
    pub const STATUS: Parts = Parts {
        status: true,
        ..Parts::NONE
    };
    /// `check` reads `api.check`, or the plan list when there is none.
    pub const CHECK: Parts = Parts {
        configs: true,
        check: true,
        ..Parts::NONE
    };

    /// Whether a run with these parts sends a request: only then are the API section's
    /// templates and JSONPath compiled (`help` and a written-out menu send none).
    fn send(self, manifest: &Manifest) -> bool {
        self.order || self.status || self.check || self.configs && manifest.configs.fetch.is_some()
    }
}

/// A provider file, checked, with the [`Parts`] it was loaded for compiled.
pub struct Plan {
    pub name: String,
    pub source: Source,
    pub status: ProviderStatus,
    pub description: Option<String>,
    pub secrets: IndexMap<String, manifest::SecretDecl>,
    pub settings: IndexMap<String, manifest::SettingDecl>,
    pub api: ApiPlan,
    configs: Option<ConfigsPlan>,
    order: Option<OrderPlan>,
    order_status: Option<StatusPlan>,
    cleanup: Option<CleanupPlan>,
    pub templates: Templates,
    /// Names of extracted values that `server_password` is made of (see [`Plan::is_secret_value`]).
    pub secret_values: BTreeSet<String>,
}

/// Reads and compiles the provider file at `path`, for provider `name`.
pub fn load_file(name: &str, path: &Path, parts: Parts) -> Result<Plan, Vec<Error>> {
    let text = match crate::files::read_text(path, crate::files::WRITTEN_FILE_CAP) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(vec![Error::new(format!("no provider file `{}`", path.display())).help(
                format!(
                    "write one (see providers.d/ and the README), or set VPS_PROVIDER_DIR to the folder that holds `{name}.yaml`"
                ),
            )]);
        }
        Err(err) => return Err(vec![io_error("read the provider file", path, &err)]),
    };
    load_source(name, path, &text, parts)
}

/// Parses and compiles provider file `text` as if read from `path` (which only appears in
/// messages): [`load_file`] without the file system, so the fuzz targets and the regression
/// tests feed it the same way a run does.
pub fn load_source(name: &str, path: &Path, text: &str, parts: Parts) -> Result<Plan, Vec<Error>> {
    let source = Source {
        file: path.to_path_buf(),
        text: text.into(),
    };
    let manifest = parse(&source).map_err(|e| vec![e])?;
    Plan::compile(name, manifest, source, parts)
}

/// Like [`load_file`], with the problems as one error: the first, and how many more there are
/// (`validate` shows them all).
pub fn load_checked(name: &str, path: &Path, parts: Parts) -> Result<Plan> {
    load_file(name, path, parts).map_err(|mut problems| {
        let first = problems.remove(0);
        match problems.len() {
            0 => first,
            more => {
                let help = format!(
                    "{more} more problem(s) in this file: run `vps-provider validate {name}`"
                );
                let help = first
                    .help
                    .clone()
                    .map_or(help.clone(), |h| format!("{h}; {help}"));
                first.help(help)
            }
        }
    })
}

/// Parses the YAML into the provider file's types, with serde's position and a suggestion.
pub fn parse(source: &Source) -> Result<Manifest> {
    serde_yaml_ng::from_str(&source.text).map_err(|err| yaml_error(source, &err))
}

/// serde_yaml's error at its place, with a suggestion for a misspelt key.
pub fn yaml_error(source: &Source, err: &serde_yaml_ng::Error) -> Error {
    let line_col = err.location().map(|l| LineCol {
        line: l.line(),
        col: l.column(),
    });
    let raw = err.to_string();
    // serde_yaml appends " at line N column M"; the location says it better.
    let message = raw.split(" at line ").next().unwrap_or(&raw).to_owned();
    let error =
        Error::new(message.clone()).at(Location::in_file(&source.file, line_col, &source.text));
    match suggestion(&message) {
        Some(help) => error.help(help),
        None => error,
    }
}

/// "did you mean" for serde's `unknown field `x`, expected one of `a`, `b``.
fn suggestion(message: &str) -> Option<String> {
    let start = message
        .find("unknown field")
        .or_else(|| message.find("unknown variant"))?;
    let ticks: Vec<&str> = message[start..].split('`').skip(1).step_by(2).collect();
    let (unknown, expected) = ticks.split_first()?;
    Some(suggest::help(unknown, expected.iter().copied()))
}

impl Plan {
    /// Checks and compiles a parsed provider file. Returns every problem found.
    pub fn compile(
        name: &str,
        manifest: Manifest,
        source: Source,
        parts: Parts,
    ) -> Result<Plan, Vec<Error>> {
        let mut c = Compiler {
            source: &source,
            templates: Templates::new(),
            declared: declared(&manifest),
            problems: Vec::new(),
            clock_uses: 0,
        };
        c.declarations(name, &manifest);
        let settings = c.settings(&manifest.settings);
        let api = c.api(&manifest.api, parts.send(&manifest));
        let configs = parts.configs.then(|| c.configs(&manifest.configs));
        let order = parts.order.then(|| c.order(&manifest.order));
        let order_status = parts.status.then(|| c.status(&manifest.order_status));
        let cleanup = manifest
            .cleanup
            .as_ref()
            .filter(|_| parts.status)
            .map(|cleanup| c.cleanup(cleanup));
        // Only polls and orders handle extracted values.
        let secret_values = if parts.order || parts.status {
            secret_values(&manifest.order_status.server_password)
        } else {
            BTreeSet::new()
        };
        let Compiler {
            templates,
            problems,
            ..
        } = c;
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Plan {
            name: name.to_owned(),
            source,
            status: manifest.status,
            description: manifest.description,
            secrets: manifest.secrets,
            settings,
            api,
            configs,
            order,
            order_status,
            cleanup,
            templates,
            secret_values,
        })
    }

    /// The menu. The plan must have been loaded with [`Parts::configs`].
    pub fn configs(&self) -> Result<&ConfigsPlan> {
        self.configs.as_ref().ok_or_else(|| not_loaded("configs"))
    }

    /// How to order. The plan must have been loaded with [`Parts::order`].
    pub fn order(&self) -> Result<&OrderPlan> {
        self.order.as_ref().ok_or_else(|| not_loaded("order"))
    }

    /// How to poll. The plan must have been loaded with [`Parts::status`].
    pub fn order_status(&self) -> Result<&StatusPlan> {
        self.order_status
            .as_ref()
            .ok_or_else(|| not_loaded("order_status"))
    }

    /// The cleanup of failed servers, if the file has one (loaded with [`Parts::status`]).
    pub fn cleanup(&self) -> Option<&CleanupPlan> {
        self.cleanup.as_ref()
    }

    /// Whether the value extracted as `name` is a secret: `server_password` is made of it, or
    /// its name says so (`root_pass`, `api_token`...).
    pub fn is_secret_value(&self, name: &str) -> bool {
        self.secret_values.contains(name) || looks_secret(name)
    }

    /// Every setting with its default (`null`: the site must set it).
    pub fn setting_defaults(&self) -> Map<String, Value> {
        self.settings
            .iter()
            .map(|(name, decl)| (name.clone(), decl.default_value().clone()))
            .collect()
    }
}

/// Names of extracted values to hide from every message and trace: those that
/// `server_password` is made of, and those whose names say they are secret.
fn secret_values(server_password: &str) -> BTreeSet<String> {
    let names: BTreeSet<String> = variables::uses(server_password)
        .map(|uses| uses.variables)
        .unwrap_or_default()
        .into_iter()
        .filter(|(path, _)| matches!(path[0].as_str(), "saved" | "polled") && path.len() > 1)
        .map(|(path, _)| path[1].clone())
        .collect();
    names
}

/// A section the run did not load was used: a bug, reported rather than panicked on.
fn not_loaded(section: &str) -> Error {
    Error::new(format!(
        "internal error (a bug in vps-provider): `{section}` was used but not loaded"
    ))
}

/// Whether a name (of an extracted value, or of the header it came from) says it is secret.
pub fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_key() {
        let message = "unknown field `extrat`, expected one of `request`, `extract`";
        assert_eq!(suggestion(message).unwrap(), "did you mean `extract`?");
        assert!(suggestion("missing field `id`").is_none());
    }
}
