//! `install`, `uninstall` and `list`: putting providers where the panel finds them.
//!
//! The panel looks for `<root>/<name>/bin/<name>` (root `/opt/webdir/providers`) and reports
//! whether `<root>/<name>/etc/<name>.conf` exists. `install` makes the first a symlink to this
//! binary and writes the second as a template when there is none; `uninstall` removes what
//! `install` made and nothing else: never a secrets file someone filled in, never a task.

use crate::error::{Error, Result, io_error};
use crate::ids;
use crate::plan::{self, Parts, Plan};
use crate::site::{self, Site};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The files of one installed provider.
pub struct Layout {
    pub plugin: PathBuf,
    pub secrets: PathBuf,
}

impl Layout {
    pub fn new(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        Layout {
            plugin: dir.join("bin").join(name),
            secrets: dir.join("etc").join(format!("{name}.conf")),
        }
    }

    /// Whether the plugin is a symlink to this binary.
    pub fn is_installed(&self) -> bool {
        let ours = std::env::current_exe().and_then(fs::canonicalize).ok();
        fs::symlink_metadata(&self.plugin).is_ok_and(|m| m.file_type().is_symlink())
            && fs::canonicalize(&self.plugin).ok() == ours
    }
}

/// The secrets file `install` writes: every secret to fill in, every setting with its default.
pub fn secrets_template(plan: &Plan) -> String {
    let mut text = format!(
        "# Secrets and site settings of the `{}` provider (vps-provider).\n# Keep this file mode 0600. One `name=value` per line.\n",
        plan.name
    );
    for (name, decl) in &plan.secrets {
        comment_lines(&mut text, decl.description.as_deref());
        text.push_str(&format!("{name}=\n"));
    }
    if !plan.settings.is_empty() {
        text.push_str("\n# Settings: uncomment a line to change the provider file's default;\n");
        text.push_str("# a setting without a default must be set.\n");
        for (name, decl) in &plan.settings {
            comment_lines(&mut text, decl.description());
            match decl.default_value() {
                serde_json::Value::Null => text.push_str(&format!("{name}=\n")),
                // One line each: a text with a line break is shown as JSON.
                serde_json::Value::String(s) if !s.contains('\n') => {
                    text.push_str(&format!("# {name}={s}\n"))
                }
                other => text.push_str(&format!("# {name}={other}\n")),
            }
        }
    }
    text.push_str(&format!(
        "\n# The SSH check of new servers: uncomment to turn it off (a staging API, a mock)\n# or to knock on another port than the provider file's.\n# {}=off\n# {}=22\n",
        crate::site::SSH_CHECK_KEY,
        crate::site::SSH_PORT_KEY
    ));
    text.push_str(&format!(
        "\n# A trace of every run (secrets hidden), a file in {}/: uncomment to keep one.\n# {}={}.log\n",
        crate::site::DEFAULT_LOG_DIR,
        crate::site::LOG_KEY,
        plan.name
    ));
    text
}

/// A secret's or setting's description, above its line: a blank line, then every line of it
/// as a comment (or the file would not parse).
fn comment_lines(text: &mut String, description: Option<&str>) {
    if let Some(description) = description {
        text.push('\n');
        description
            .lines()
            .for_each(|line| text.push_str(&format!("# {line}\n")));
    }
}

fn load_valid(name: &str) -> Result<Plan> {
    if !ids::is_safe(name) {
        return Err(
            Error::new(format!("`{}` is not a provider name", ids::shown(name))).help(ids::RULE),
        );
    }
    plan::load_checked(name, &Site::from_env(name).provider_file, Parts::ALL)
}

fn make_dir(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| io_error("create", path, &e))
}

/// Installs provider `name` under `root`; returns what was done, a line each.
pub fn install(name: &str, root: &Path) -> Result<Vec<String>> {
    let plan = load_valid(name)?;
    let layout = Layout::new(root, name);
    let exe = std::env::current_exe()
        .and_then(fs::canonicalize)
        .map_err(|e| Error::new(format!("cannot find this binary: {e}")))?;
    let mut done = Vec::new();
    make_dir(layout.plugin.parent().expect("bin/ has a parent"), 0o755)?;
    let link = || {
        std::os::unix::fs::symlink(&exe, &layout.plugin)
            .map_err(|e| io_error("link", &layout.plugin, &e))
    };
    let linked = format!("{} -> {}", layout.plugin.display(), exe.display());
    match fs::symlink_metadata(&layout.plugin) {
        Ok(_) if layout.is_installed() => {
            done.push(format!("already linked: {}", layout.plugin.display()))
        }
        // A link to another binary (an older build, another path) is replaced.
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::remove_file(&layout.plugin).map_err(|e| io_error("replace", &layout.plugin, &e))?;
            link()?;
            done.push(format!("relinked: {linked}"));
        }
        Ok(_) => {
            return Err(Error::new(format!("`{}` exists and is not a symlink", layout.plugin.display()))
                .help("it may be a hand-written plugin: move it away first if vps-provider should replace it"));
        }
        Err(_) => {
            link()?;
            done.push(format!("linked: {linked}"));
        }
    }
    make_dir(layout.secrets.parent().expect("etc/ has a parent"), 0o700)?;
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&layout.secrets);
    match created {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(secrets_template(&plan).as_bytes())
                .map_err(|e| io_error("write", &layout.secrets, &e))?;
            done.push(format!(
                "wrote a secrets template: {} (fill it in)",
                layout.secrets.display()
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            done.push(format!(
                "kept the secrets file: {}",
                layout.secrets.display()
            ));
        }
        Err(err) => return Err(io_error("create", &layout.secrets, &err)),
    }
    Ok(done)
}

/// Removes what `install` made: the symlink, and the secrets file if it is still the untouched
/// template. Folders are removed only when empty. Task history is never touched.
pub fn uninstall(name: &str, root: &Path) -> Result<Vec<String>> {
    if !ids::is_safe(name) {
        return Err(
            Error::new(format!("`{}` is not a provider name", ids::shown(name))).help(ids::RULE),
        );
    }
    let layout = Layout::new(root, name);
    let mut done = Vec::new();
    match fs::symlink_metadata(&layout.plugin) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::remove_file(&layout.plugin).map_err(|e| io_error("remove", &layout.plugin, &e))?;
            done.push(format!("removed: {}", layout.plugin.display()));
        }
        Ok(_) => done.push(format!(
            "left alone (not a symlink): {}",
            layout.plugin.display()
        )),
        Err(_) => done.push(format!("not installed: {}", layout.plugin.display())),
    }
    let untouched = load_valid(name)
        .ok()
        .zip(crate::files::read_text(&layout.secrets, crate::files::WRITTEN_FILE_CAP).ok())
        .is_some_and(|(plan, text)| text == secrets_template(&plan));
    if untouched {
        fs::remove_file(&layout.secrets).map_err(|e| io_error("remove", &layout.secrets, &e))?;
        done.push(format!(
            "removed the unfilled template: {}",
            layout.secrets.display()
        ));
    } else if layout.secrets.exists() {
        done.push(format!(
            "kept (it holds the site's secrets): {}",
            layout.secrets.display()
        ));
    }
    for dir in [
        layout.plugin.parent(),
        layout.secrets.parent(),
        layout.plugin.parent().and_then(Path::parent),
    ]
    .into_iter()
    .flatten()
    {
        // Only empty folders go: `remove_dir` refuses the rest, which is what we want.
        let _ = fs::remove_dir(dir);
    }
    Ok(done)
}

/// One line of `list`.
pub struct Listed {
    pub name: String,
    pub file: PathBuf,
    pub installed: bool,
    pub state: String,
    /// The provider file's own `description`.
    pub description: String,
}

/// Every provider file in the provider folder, with its state on this site.
pub fn list(root: &Path) -> Result<Vec<Listed>> {
    Ok(site::provider_files()?
        .into_iter()
        .map(|(name, file)| {
            let mut site = Site::from_env(&name);
            let layout = Layout::new(root, &name);
            if std::env::var_os("VPS_PROVIDER_SECRETS").is_none() {
                site.secrets_file = layout.secrets.clone();
            }
            let (state, description) = match plan::load_file(&name, &file, Parts::ALL) {
                Err(problems) => (
                    format!(
                        "invalid ({} problem(s): run `vps-provider validate {name}`)",
                        problems.len()
                    ),
                    String::new(),
                ),
                Ok(plan) => {
                    let description = plan.description.clone().unwrap_or_default();
                    let state = match plan.bind(&site) {
                        Err(err) => format!("broken: {}", err.one_line()),
                        Ok(bound) => bound
                            .disabled_because
                            .map_or_else(|| "enabled".into(), |why| format!("disabled: {why}")),
                    };
                    (state, description)
                }
            };
            Listed {
                installed: layout.is_installed(),
                file,
                name,
                state,
                description,
            }
        })
        .collect())
}
