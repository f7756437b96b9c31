//! Runs the real binary the way the panel does: through a symlink named like the provider,
//! one verb per run, with a clean environment, and checks that stdout is exactly one JSON
//! object every time.

#![allow(dead_code)]

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_vps-provider");

/// A provider installed in a temporary panel tree.
pub struct Plugin {
    pub root: tempfile::TempDir,
    pub name: String,
    pub env: Vec<(String, String)>,
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl Run {
    /// The error message, or a panic saying the run succeeded.
    pub fn error_message(&self) -> &str {
        assert_eq!(
            self.json["error"], 1,
            "expected an error object, got {}",
            self.stdout
        );
        assert!(
            !self.success,
            "an error object must come with a non-zero exit code"
        );
        self.json["error_message"]
            .as_str()
            .expect("error_message is a string")
    }

    /// The reply, checked to be a success (no `error` key at all, exit code 0).
    pub fn ok(&self) -> &Value {
        assert!(
            self.json.get("error").is_none(),
            "expected success, got {}",
            self.stdout
        );
        assert!(self.success, "a success reply must come with exit code 0");
        &self.json
    }
}

pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn fixture(relative: &str) -> String {
    let path = repo_file("tests/fixtures").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Plugin {
    /// A provider `name` whose provider file is `yaml`, and whose hoster is at `base_url`.
    pub fn new(name: &str, yaml: &str, base_url: &str) -> Plugin {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::create_dir_all(dir.join("providers.d")).unwrap();
        std::fs::write(dir.join(format!("providers.d/{name}.yaml")), yaml).unwrap();
        let bin = dir.join(format!("providers/{name}/bin"));
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(BIN, bin.join(name)).unwrap();
        std::fs::create_dir_all(dir.join(format!("providers/{name}/etc"))).unwrap();
        let env = vec![
            (
                "VPS_PROVIDER_DIR".into(),
                dir.join("providers.d").display().to_string(),
            ),
            (
                "VPS_PROVIDER_SECRETS".into(),
                dir.join(format!("providers/{name}/etc/{name}.conf"))
                    .display()
                    .to_string(),
            ),
            (
                "VPS_PROVIDER_STATE_DIR".into(),
                dir.join("state").display().to_string(),
            ),
            ("VPS_PROVIDER_BASE_URL".into(), base_url.to_owned()),
        ];
        Plugin {
            root,
            name: name.to_owned(),
            env,
        }
    }

    /// A shipped provider file from `providers.d/`.
    pub fn shipped(name: &str, base_url: &str) -> Plugin {
        let yaml = std::fs::read_to_string(repo_file(&format!("providers.d/{name}.yaml"))).unwrap();
        Plugin::new(name, &yaml, base_url)
    }

    /// Writes the site's secrets file (mode 0600).
    pub fn secrets(self, text: &str) -> Plugin {
        let path = self.secrets_path();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self
    }

    pub fn secrets_path(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers/{0}/etc/{0}.conf", self.name))
    }

    pub fn provider_file(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers.d/{}.yaml", self.name))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state").join(&self.name)
    }

    pub fn plugin_path(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers/{0}/bin/{0}", self.name))
    }

    /// Runs the plugin with `args`, as the panel does.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_os(
            &args
                .iter()
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>(),
        )
    }

    pub fn run_os(&self, args: &[std::ffi::OsString]) -> Run {
        let output = Command::new(self.plugin_path())
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("the plugin runs");
        parse_run(output)
    }
}

/// Checks the one rule that holds for every run: stdout is exactly one JSON object.
pub fn parse_run(output: std::process::Output) -> Run {
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "stdout must be one line: {stdout:?}"
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}"));
    assert!(json.is_object(), "stdout must be a JSON object: {stdout}");
    if json.get("error").is_none() {
        assert_all_strings(&json, &stdout);
    }
    Run {
        json,
        stdout,
        stderr,
        success: output.status.success(),
    }
}

/// Every value the panel reads is a JSON string.
fn assert_all_strings(value: &Value, whole: &str) {
    match value {
        Value::Object(map) => map.values().for_each(|v| assert_all_strings(v, whole)),
        Value::Array(items) => items.iter().for_each(|v| assert_all_strings(v, whole)),
        Value::String(_) => {}
        other => panic!("`{other}` is not a string in {whole}"),
    }
}
