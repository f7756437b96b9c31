//! What this site says: where files are (from the environment) and the site's secrets file.
//!
//! The panel runs plugins as root through sudo, so the environment is an operator's tool for
//! development and tests; in production everything comes from fixed paths and the secrets file
//! `/opt/webdir/providers/<name>/etc/<name>.conf` (the file the panel reports as the
//! provider's config). That file holds `name=value` lines: secrets and setting overrides, and
//! the reserved names ([`RESERVED`]): `log=NAME`, the file under [`DEFAULT_LOG_DIR`] (or
//! `$VPS_PROVIDER_LOG_DIR`) that the provider's runs append their trace to (see
//! [`crate::trace::log`]), and `ssh_check=off` / `ssh_port=PORT`, which turn off or move the
//! SSH check of `order_status.ssh_check` (a staging API, a mock, a site whose servers listen
//! elsewhere). The log's place is the site's to choose, never the environment's: only a file
//! name, in a fixed folder.

use crate::error::{Error, Location, Result, io_error};
use crate::position::LineCol;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where provider files are when `$VPS_PROVIDER_DIR` is not set.
pub const DEFAULT_PROVIDER_DIR: &str = "/etc/vps-provider/providers.d";
/// Where the panel keeps plugins, and where `install` puts them.
pub const DEFAULT_PANEL_ROOT: &str = "/opt/webdir/providers";
/// Where tasks are kept when `$VPS_PROVIDER_STATE_DIR` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vps-provider";
/// Where trace logs are when `$VPS_PROVIDER_LOG_DIR` is not set.
pub const DEFAULT_LOG_DIR: &str = "/var/log/vps-provider";
/// The name in the secrets file that names the log; no provider may declare it.
pub const LOG_KEY: &str = "log";
/// The name in the secrets file that turns the SSH check off (`ssh_check=off`) or on.
pub const SSH_CHECK_KEY: &str = "ssh_check";
/// The name in the secrets file that sets the port the SSH check knocks on.
pub const SSH_PORT_KEY: &str = "ssh_port";
/// The secrets file's reserved names, and what each does: no provider may declare them.
pub const RESERVED: &[(&str, &str)] = &[
    (LOG_KEY, "names the site's trace log"),
    (SSH_CHECK_KEY, "turns the SSH check on or off"),
    (SSH_PORT_KEY, "sets the SSH check's port"),
];

/// The folder of provider files: `$VPS_PROVIDER_DIR`, or the default.
pub fn provider_dir() -> PathBuf {
    std::env::var_os("VPS_PROVIDER_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| DEFAULT_PROVIDER_DIR.into(), PathBuf::from)
}

/// Every provider file in the provider folder, by name, sorted.
pub fn provider_files() -> Result<Vec<(String, PathBuf)>> {
    let dir = provider_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| io_error("list", &dir, &e))?;
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.strip_suffix(".yaml")?.to_owned(),
                e.path(),
            ))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The places and overrides that apply to one provider on this site.
#[derive(Debug, Clone)]
pub struct Site {
    pub provider_file: PathBuf,
    pub secrets_file: PathBuf,
    pub state_dir: PathBuf,
    /// The folder of trace logs: `$VPS_PROVIDER_LOG_DIR`, or the default.
    pub log_dir: PathBuf,
    pub base_url_override: Option<String>,
    /// Whether `order_status.ssh_check` knocks on new servers' SSH port. Off with
    /// `VPS_PROVIDER_SSH_CHECK=off` (or `0`, `false`, `no`; or `run --no-ssh-check`): against a staging API or a mock,
    /// the addresses a hoster hands out are not servers of ours to connect to.
    pub ssh_check: bool,
}

impl Site {
    /// The site as the environment describes it, for provider `name`.
    pub fn from_env(name: &str) -> Self {
        let var = |key: &str| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Site {
            provider_file: provider_dir().join(format!("{name}.yaml")),
            secrets_file: var("VPS_PROVIDER_SECRETS").unwrap_or_else(|| {
                Path::new(DEFAULT_PANEL_ROOT)
                    .join(name)
                    .join("etc")
                    .join(format!("{name}.conf"))
            }),
            state_dir: var("VPS_PROVIDER_STATE_DIR").unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
            log_dir: var("VPS_PROVIDER_LOG_DIR").unwrap_or_else(|| DEFAULT_LOG_DIR.into()),
            base_url_override: std::env::var("VPS_PROVIDER_BASE_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            ssh_check: !std::env::var("VPS_PROVIDER_SSH_CHECK")
                .is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false" | "no")),
        }
    }
}

/// One `name=value` line of the secrets file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub value: String,
    pub location: Location,
}

/// Reads the site's secrets file. A missing file is no entries (secrets may come from the
/// environment); a file that group or others can read is refused, since it holds API tokens.
pub fn read_secrets_file(path: &Path) -> Result<Vec<Entry>> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error("read the secrets file", path, &err)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::new(format!(
            "the secrets file `{}` is readable by others (mode {mode:03o})",
            path.display()
        ))
        .help(format!("run `chmod 600 {}`", path.display())));
    }
    let text = crate::files::read_text(path, crate::files::WRITTEN_FILE_CAP)
        .map_err(|e| io_error("read the secrets file", path, &e))?;
    // Some editors start a file with a byte order mark; it is not part of the first name.
    parse(path, text.strip_prefix('\u{feff}').unwrap_or(&text))
}

fn parse(path: &Path, text: &str) -> Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_col = LineCol {
            line: index + 1,
            col: raw.len() - raw.trim_start().len() + 1,
        };
        // The line itself may hold a secret: never quote it in the error.
        let location = Location {
            line_text: None,
            ..Location::in_file(path, Some(line_col), "")
        };
        let Some((name, value)) = line.split_once('=') else {
            return Err(
                Error::new("this line of the secrets file is not `name=value`")
                    .at(location)
                    .help("write one `name=value` per line; `#` starts a comment"),
            );
        };
        let name = name.trim();
        // Two values for one name: which one the site meant is not for us to guess.
        if let Some(first) = entries.iter().find(|e| e.name == name) {
            let first_line = first.location.line_col.map_or(0, |lc| lc.line);
            return Err(Error::new(format!(
                "`{name}` is set twice in the secrets file (first on line {first_line})"
            ))
            .at(location)
            .help("keep one line for each name"));
        }
        entries.push(Entry {
            name: name.to_owned(),
            value: unquote(value.trim()).to_owned(),
            location,
        });
    }
    Ok(entries)
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_values_comments_and_quotes() {
        let text =
            "# token from the console\ntoken = abc=def\n\nregion=\"fsn1\"\nimage='rocky-9'\n";
        let entries = parse(Path::new("x.conf"), text).unwrap();
        let pairs: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("token", "abc=def"),
                ("region", "fsn1"),
                ("image", "rocky-9")
            ]
        );
        assert_eq!(
            entries[1].location.line_col,
            Some(LineCol { line: 4, col: 1 })
        );
    }

    #[test]
    fn refuses_a_name_set_twice_and_names_both_lines() {
        let err = parse(Path::new("x.conf"), "token=a\n\ntoken=b\n").unwrap_err();
        assert!(
            err.one_line()
                .starts_with("x.conf:3:1: `token` is set twice")
                && err.one_line().contains("line 1"),
            "{}",
            err.one_line()
        );
        assert!(!err.one_line().contains("=b"));
    }

    #[test]
    fn refuses_a_line_without_equals_and_does_not_quote_it() {
        let err = parse(Path::new("x.conf"), "ok=1\nsupersecret\n").unwrap_err();
        assert!(
            err.one_line().starts_with("x.conf:2:1: "),
            "{}",
            err.one_line()
        );
        assert!(!err.one_line().contains("supersecret"));
    }
}
