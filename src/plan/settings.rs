//! The `secrets` and `settings` sections, and binding a plan to a site: its secrets file's
//! values (typed like the defaults), its reserved lines (`log=`, `ssh_check=`, `ssh_port=`)
//! and the base URL override.

use super::{Compiler, Plan, check_base_url};
use crate::error::{Error, Result};
use crate::ids;
use crate::manifest::{self, Manifest, ProviderStatus};
use crate::position::YamlPath;
use crate::redact;
use crate::site::{self, Site};
use crate::suggest;
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// A plan with this site's secrets and settings.
pub struct Bound {
    pub plan: Plan,
    /// The base URL in use: `$VPS_PROVIDER_BASE_URL`, or `api.base_url` filled in.
    pub base_url: String,
    /// `api.base_url` as the provider file makes it, with this site's settings.
    pub file_base_url: String,
    /// The scheme, host and port of `$VPS_PROVIDER_BASE_URL`, which replace those of every
    /// endpoint of `api.endpoints`.
    pub origin_override: Option<String>,
    pub secrets: Map<String, Value>,
    pub settings: Map<String, Value>,
    /// Why the provider cannot work here, when it cannot.
    pub disabled_because: Option<String>,
    /// The file name of the site's trace log (`log=` in the secrets file), when it has one.
    pub log: Option<String>,
    /// Whether the SSH check may run: not when the secrets file says `ssh_check=off`.
    pub ssh_check: bool,
    /// The port the SSH check knocks on when the secrets file's `ssh_port=` sets one.
    pub ssh_port: Option<u16>,
}

impl Compiler<'_> {
    /// The file's name and the names it declares: a secret, a setting or a reserved name of the
    /// secrets file (`log=`...) may each name one thing only.
    pub(super) fn declarations(&mut self, name: &str, manifest: &Manifest) {
        if let Some(written) = &manifest.name
            && written != name
        {
            self.problem(
                &YamlPath::root().key("name"),
                format!("the file says `name: {written}` but is loaded as `{name}`"),
                format!("rename the file to `{written}.yaml` or set `name: {name}`"),
            );
        }
        for (reserved, what) in site::RESERVED {
            for (kind, declared) in [
                ("secrets", manifest.secrets.contains_key(*reserved)),
                ("settings", manifest.settings.contains_key(*reserved)),
            ] {
                if declared {
                    self.problem(
                    &YamlPath::root().key(kind).key(reserved),
                    format!("`{reserved}` is a reserved name: the secrets file's `{reserved}=` {what}"),
                    "give this one another name",
                );
                }
            }
        }
        for (secret, decl) in &manifest.secrets {
            if manifest.settings.contains_key(secret) {
                self.problem(
                    &YamlPath::root().key("secrets").key(secret),
                    format!("`{secret}` is both a secret and a setting"),
                    "give them different names: both are set by `name=value` in the secrets file",
                );
            }
            if decl.env.as_deref().is_some_and(str::is_empty) {
                self.problem(
                    &YamlPath::root().key("secrets").key(secret).key("env"),
                    "the variable name is empty",
                    "name a variable, e.g. `ACME_TOKEN`, or leave `env` out",
                );
            }
        }
    }

    /// The settings as declared: plain defaults or described (see [`manifest::SettingDecl`]).
    pub(super) fn settings(
        &mut self,
        settings: &IndexMap<String, Value>,
    ) -> IndexMap<String, manifest::SettingDecl> {
        let mut declared = IndexMap::new();
        for (name, value) in settings {
            // `{ default: x, descripton: y }` would be a map-valued setting: every key near
            // the described form's is taken as a misspelling of it.
            let described = ["default", "description"];
            if let Value::Object(map) = value
                && !map.contains_key("description")
                && !map.is_empty()
                && map.len() <= 2
                && map
                    .keys()
                    .all(|k| crate::suggest::closest(k, described).is_some())
                && let Some(wrong) = map.keys().find(|k| !described.contains(&k.as_str()))
            {
                self.problem(
                    &YamlPath::root().key("settings").key(name).key(wrong),
                    format!("setting `{name}`: unknown key `{wrong}`"),
                    crate::suggest::help(wrong, described),
                );
                continue;
            }
            match manifest::SettingDecl::from_value(value) {
                Ok(decl) => {
                    declared.insert(name.clone(), decl);
                }
                Err(reason) => self.problem(
                    &YamlPath::root().key("settings").key(name),
                    format!("setting `{name}`: {reason}"),
                    "write `{ default: VALUE, description: \"TEXT\" }`, or the default alone",
                ),
            }
        }
        declared
    }
}

impl Plan {
    /// Adds this site's secrets and settings. A secret that is missing disables the provider
    /// (with the reason); a line of the secrets file that names nothing is an error.
    pub fn bind(self, site: &Site) -> Result<Bound> {
        if let Some(url) = &site.base_url_override {
            check_base_url(url).map_err(|(message, help)| {
                Error::new(format!("VPS_PROVIDER_BASE_URL: {message}")).help(help)
            })?;
        }
        let entries = site::read_secrets_file(&site.secrets_file)?;
        let mut secrets = Map::new();
        let mut settings = self.setting_defaults();
        let (mut log, mut ssh_check, mut ssh_port) = (None, true, None);
        for entry in entries {
            if entry.name == site::LOG_KEY {
                log = log_name(entry, site)?;
            } else if entry.name == site::SSH_CHECK_KEY {
                ssh_check = ssh_check_switch(&entry)?;
            } else if entry.name == site::SSH_PORT_KEY {
                ssh_port = ssh_port_number(&entry)?;
            } else if self.secrets.contains_key(&entry.name) {
                // An empty `token=` (as `install` writes it) is a secret still to be filled in.
                if !entry.value.is_empty() {
                    redact::register(&entry.value);
                    secrets.insert(entry.name, Value::String(entry.value));
                }
            } else if let Some(default) = self.settings.get(&entry.name).map(|d| d.default_value())
            {
                // An empty `project=` (as `install` writes it) is a setting still to be chosen.
                if default.is_null() && entry.value.is_empty() {
                    continue;
                }
                let value = typed_like(default, &entry.value).map_err(|expected| {
                    Error::new(format!("setting `{}` must be {expected}", entry.name))
                        .at(entry.location.clone())
                        .help(format!("its default in the provider file is `{default}`"))
                })?;
                settings.insert(entry.name, value);
            } else {
                let known: Vec<&str> = self
                    .secrets
                    .keys()
                    .chain(self.settings.keys())
                    .map(String::as_str)
                    .collect();
                let help = match suggest::closest(&entry.name, known.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None if known.is_empty() => {
                        "this provider takes no secrets or settings".to_owned()
                    }
                    None => format!("this provider knows: {}", known.join(", ")),
                };
                return Err(Error::new(format!(
                    "`{}` is neither a secret nor a setting of `{}`",
                    entry.name, self.name
                ))
                .at(entry.location)
                .help(help));
            }
        }
        let mut missing = Vec::new();
        for (name, decl) in &self.secrets {
            if secrets.contains_key(name) {
                continue;
            }
            match decl
                .env
                .as_deref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.is_empty())
            {
                Some(value) => {
                    redact::register(&value);
                    secrets.insert(name.clone(), Value::String(value));
                }
                None => missing.push(format!("secret `{name}`")),
            }
        }
        // A setting without a default (`~`) is one the site must choose.
        for (name, value) in &settings {
            if value.is_null() {
                missing.push(format!("setting `{name}`"));
            }
        }
        let disabled_because = if self.status == ProviderStatus::Disabled {
            Some(format!(
                "`{}` is disabled in its provider file `{}`",
                self.name,
                self.source.file.display()
            ))
        } else if !missing.is_empty() {
            Some(format!(
                "{} missing: add a `name=value` line for each to `{}` (mode 0600)",
                missing.join(", "),
                site.secrets_file.display()
            ))
        } else {
            None
        };
        let file_base_url = self.filled_base_url(&settings, disabled_because.is_none())?;
        let base_url_override = site
            .base_url_override
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_owned());
        Ok(Bound {
            origin_override: base_url_override
                .as_deref()
                .and_then(origin)
                .map(str::to_owned),
            base_url: base_url_override.unwrap_or_else(|| file_base_url.clone()),
            file_base_url,
            plan: self,
            secrets,
            settings,
            disabled_because,
            log,
            ssh_check,
            ssh_port,
        })
    }
}

impl Plan {
    /// `api.base_url` filled in with the site's settings, and checked when the provider can
    /// work here (a disabled one may lack the settings its URL is made of).
    fn filled_base_url(&self, settings: &Map<String, Value>, check: bool) -> Result<String> {
        let written = &self.api.base_url;
        let context = serde_json::json!({ "settings": settings });
        let url = self
            .templates
            .render(&written.template, &context)
            .map_err(|e| {
                self.source
                    .error(&written.at, format!("cannot fill in this template: {e}"))
            })?;
        let url = url.trim_end_matches('/').to_owned();
        // A URL written out was checked when the file was compiled; one made of settings is
        // known only now.
        let templated = !matches!(written.template, crate::template::Template::Literal(_));
        if check
            && templated
            && let Err((message, help)) = check_base_url(&url)
        {
            return Err(self
                .source
                .error(
                    &written.at,
                    format!("once filled in with the settings, {message}"),
                )
                .help(format!("{help}; check the settings this URL is made of")));
        }
        Ok(url)
    }
}

/// The `scheme://host[:port]` that starts `url`, when it has a scheme.
pub fn origin(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

/// The log's file name from the secrets file's `log=` line: a plain name (an empty value is
/// no log), never a path, so the log stays in the site's log folder.
fn log_name(entry: site::Entry, site: &Site) -> Result<Option<String>> {
    if entry.value.is_empty() {
        return Ok(None);
    }
    if !ids::is_safe(&entry.value) {
        return Err(Error::new(format!(
            "`{}=` must be a file name in `{}`, not `{}`",
            site::LOG_KEY,
            site.log_dir.display(),
            ids::shown(&entry.value)
        ))
        .at(entry.location)
        .help(format!("write e.g. `{}=vps-provider.log`: a letter or digit, then letters, digits, `_`, `.`, `-` (no `/`), at most {} characters", site::LOG_KEY, ids::MAX_LEN)));
    }
    Ok(Some(entry.value))
}

/// The secrets file's `ssh_check=` line: `off` (or `0`, `false`, `no`) turns the SSH check
/// off, `on` (or `1`, `true`, `yes`, or empty) leaves it on.
fn ssh_check_switch(entry: &site::Entry) -> Result<bool> {
    match entry.value.to_ascii_lowercase().as_str() {
        "off" | "0" | "false" | "no" => Ok(false),
        "on" | "1" | "true" | "yes" | "" => Ok(true),
        _ => Err(Error::new(format!(
            "`{}=` must be `on` or `off`, not `{}`",
            site::SSH_CHECK_KEY,
            ids::shown(&entry.value)
        ))
        .at(entry.location.clone())
        .help(format!(
            "write `{}=off` to skip the SSH check (a staging API, a mock), or remove the line",
            site::SSH_CHECK_KEY
        ))),
    }
}

/// The secrets file's `ssh_port=` line: the port the SSH check knocks on (empty: the file's).
fn ssh_port_number(entry: &site::Entry) -> Result<Option<u16>> {
    if entry.value.is_empty() {
        return Ok(None);
    }
    match entry.value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(Error::new(format!(
            "`{}=` must be a port from 1 to 65535, not `{}`",
            site::SSH_PORT_KEY,
            ids::shown(&entry.value)
        ))
        .at(entry.location.clone())
        .help(format!(
            "write the port the servers' SSH listens on, e.g. `{}=2222`",
            site::SSH_PORT_KEY
        ))),
    }
}

/// Reads `text` as a value of the same JSON type as `default`.
fn typed_like(default: &Value, text: &str) -> std::result::Result<Value, &'static str> {
    match default {
        Value::String(_) => Ok(Value::String(text.to_owned())),
        // No default to take the type from: a number or a list is read as one.
        Value::Null => Ok(serde_yaml_ng::from_str::<Value>(text)
            .ok()
            .filter(|v| !v.is_string() && !v.is_null())
            .unwrap_or_else(|| Value::String(text.to_owned()))),
        Value::Number(_) => serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .map_err(|_| "a number"),
        Value::Bool(_) => text
            .parse()
            .map(Value::Bool)
            .map_err(|_| "`true` or `false`"),
        Value::Array(_) => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(list @ Value::Array(_)) => Ok(list),
            _ => Err("a list like `[a, b]`"),
        },
        Value::Object(_) => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(map @ Value::Object(_)) => Ok(map),
            _ => Err("a map like `{a: 1}`"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_their_type() {
        assert_eq!(typed_like(&Value::from(1), "1869"), Ok(Value::from(1869)));
        assert!(typed_like(&Value::from(1), "rocky").is_err());
        assert_eq!(typed_like(&Value::from("a"), "12"), Ok(Value::from("12")));
        assert_eq!(typed_like(&Value::Null, "12"), Ok(Value::from(12)));
        assert_eq!(
            typed_like(&Value::Null, "rocky-9"),
            Ok(Value::from("rocky-9"))
        );
        assert_eq!(
            typed_like(&serde_json::json!([]), "[1, 2]"),
            Ok(serde_json::json!([1, 2]))
        );
    }
}
