//! The contract every bad-input case is held to, and the loop that runs a table of cases.

use crate::common::{Plugin, Run};
use crate::raw_hoster::{Behaviour, RawHoster, Route};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What a case must end with.
#[derive(Debug, Clone)]
pub enum Expect {
    /// The error object, its message holding every one of these parts.
    Error(Vec<&'static str>),
    /// A success reply of the verb's shape.
    Ok,
    /// A success reply whose `status` is this (`enabled`, `in_progress`...).
    Says(&'static str),
    /// `order`: the reply, and the stage of the one task it recorded.
    Recorded(Box<Expect>, &'static str),
}

/// A plugin with its files written, the argv to run, and what must live while it runs.
pub struct Scene {
    pub plugin: Plugin,
    pub args: Vec<OsString>,
    pub hoster: Option<RawHoster>,
}

impl Scene {
    pub fn new(plugin: Plugin, args: Vec<OsString>) -> Scene {
        Scene {
            plugin,
            args,
            hoster: None,
        }
    }
}

/// One case: a name that says what is wrong, how to build its scene, what must come out.
pub struct Case {
    pub name: String,
    pub scene: Box<dyn Fn() -> Scene>,
    pub expect: Expect,
}

impl Case {
    pub fn new(
        name: impl Into<String>,
        scene: impl Fn() -> Scene + 'static,
        expect: Expect,
    ) -> Case {
        Case {
            name: name.into(),
            scene: Box::new(scene),
            expect,
        }
    }
}

/// An error whose message holds every one of `parts`.
pub fn error(parts: &[&'static str]) -> Expect {
    Expect::Error(parts.to_vec())
}

/// argv from plain strings.
pub fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// Runs every case of `table`, then fails naming every case that broke the contract.
pub fn run_table(table: Vec<Case>) {
    let mut failed = Vec::new();
    for case in &table {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)));
        if outcome.is_err() {
            eprintln!("^^^ bad-input case `{}` failed", case.name);
            failed.push(case.name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed: {failed:#?}",
        failed.len(),
        table.len()
    );
}

/// Runs one case and checks the whole contract.
fn check(case: &Case) {
    let scene = (case.scene)();
    let plugin = &scene.plugin;
    let before = snapshot(plugin);
    let purchases = || scene.hoster.as_ref().map_or(0, |h| h.count(PURCHASE));
    let purchases_before = purchases();
    let run = plugin.run_os(&scene.args);
    let purchases_sent = purchases() - purchases_before;
    assert!(
        purchases_sent <= 1,
        "the order was sent {purchases_sent} times"
    );
    assert_no_panic(&run.stderr);
    let verb = scene.args.first().and_then(|v| v.to_str()).unwrap_or("");
    let (reply, stage) = match &case.expect {
        Expect::Recorded(reply, stage) => (&**reply, Some(*stage)),
        other => (other, None),
    };
    match reply {
        Expect::Error(parts) => {
            let message = assert_error_shape(&run);
            for part in parts {
                assert!(message.contains(part), "`{part}` not in: {message}");
            }
        }
        Expect::Ok => assert_success_shape(&run, verb),
        Expect::Says(status) => {
            assert_success_shape(&run, verb);
            assert_eq!(run.json["status"], *status, "{}", run.stdout);
        }
        Expect::Recorded(..) => unreachable!("a recorded case holds a plain expectation"),
    }
    let after = snapshot(plugin);
    // A poll that succeeds may record what it told the panel; nothing else rewrites a task.
    let may_update = verb == "order_status" && run.success;
    for (path, bytes) in &before {
        match after.get(path) {
            Some(now) if now == bytes || may_update => {}
            Some(_) => panic!("`{}` was changed", path.display()),
            None => panic!("`{}` was lost", path.display()),
        }
    }
    let new_tasks: Vec<&PathBuf> = after
        .keys()
        .filter(|p| !before.contains_key(*p) && p.starts_with(plugin.state_dir()))
        // The polls' lock file is no task.
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    match stage {
        Some(stage) => {
            assert_eq!(new_tasks.len(), 1, "one task recorded: {new_tasks:?}");
            let task: Value = serde_json::from_slice(&after[new_tasks[0]]).unwrap();
            assert_eq!(task["stage"], stage, "{task}");
            if run.success {
                assert_eq!(
                    task["id"], run.json["task_id"],
                    "the panel got the task's id"
                );
            }
            assert_task_listed(plugin, task["id"].as_str().unwrap(), stage);
        }
        None => {
            assert!(
                new_tasks.is_empty(),
                "no task may be recorded: {new_tasks:?}"
            );
            assert_eq!(
                purchases_sent, 0,
                "an order was sent but no task records it"
            );
        }
    }
}

/// Puts a FIFO (mode 0600) at `path`, where a file was: reading it would wait for a writer.
pub fn make_fifo(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .args(["-m", "600"])
        .arg(path)
        .status();
    assert!(made.unwrap().success(), "mkfifo {}", path.display());
}

/// Replaces the file at `path` with a symlink to `/dev/zero`: reading it never ends.
pub fn link_to_dev_zero(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

/// No panic message, no backtrace, no sign of a crash on stderr.
pub fn assert_no_panic(stderr: &str) {
    for sign in ["panicked", "stack backtrace", "RUST_BACKTRACE", "overflow"] {
        assert!(!stderr.contains(sign), "stderr shows `{sign}`: {stderr}");
    }
}

/// The error object and nothing else; gives its message.
fn assert_error_shape(run: &Run) -> String {
    let keys: Vec<&String> = run.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "error_message"], "{}", run.stdout);
    let message = run.error_message().to_owned();
    assert!(!message.trim().is_empty(), "an empty error message");
    // A panic caught by the guard is still a bug.
    assert!(!message.contains("internal error"), "{message}");
    message
}

/// The success shape of `verb`: exactly its keys (all values strings: `parse_run` checks).
fn assert_success_shape(run: &Run, verb: &str) {
    let reply = run.ok();
    let keys: Vec<&str> = reply
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: &[&str] = match verb {
        "help" => &["options", "status"],
        "configs" => &["configurations", "status"],
        "order" => &["task_id"],
        "order_status" => &["task_id", "status", "server", "server_password"],
        other => panic!("`{other}` cannot succeed"),
    };
    assert_eq!(keys, expected, "{}", run.stdout);
    if verb == "configs" {
        for config in reply["configurations"].as_array().unwrap() {
            let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["id", "descr"], "{}", run.stdout);
        }
    }
    if verb == "order_status" && reply["status"] == "finished" {
        assert!(
            !reply["server"].as_str().unwrap().is_empty(),
            "{}",
            run.stdout
        );
        assert!(
            !reply["server_password"].as_str().unwrap().is_empty(),
            "{}",
            run.stdout
        );
    }
}

/// `vps-provider tasks NAME` lists the task with its stage.
fn assert_task_listed(plugin: &Plugin, task_id: &str, stage: &str) {
    let output = std::process::Command::new(crate::common::BIN)
        .args(["tasks", &plugin.name])
        .env_clear()
        .envs(plugin.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    let line = listing
        .lines()
        .find(|l| l.contains(task_id))
        .unwrap_or_else(|| {
            panic!(
                "task {task_id} not in `tasks`: {listing} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(line.contains(stage), "{line}");
}

/// Every stored file of the plugin, by path: provider file, secrets file, tasks. Symlinks
/// and folders are not followed (a case may make a loop on purpose).
fn snapshot(plugin: &Plugin) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut keep = |path: &Path| {
        let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
        if is_file {
            files.insert(path.to_path_buf(), std::fs::read(path).unwrap());
        }
    };
    keep(&plugin.provider_file());
    keep(&plugin.secrets_path());
    if let Ok(entries) = std::fs::read_dir(plugin.state_dir()) {
        entries.flatten().for_each(|e| keep(&e.path()));
    }
    files
}

/// No hoster is needed: nothing listens on port 9 of loopback.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// The token of [`testhost`]; it must never show.
pub const TOKEN: &str = "tok-secret-123";

/// The test provider with its token, its hoster at `base_url`.
pub fn testhost(base_url: &str) -> Plugin {
    Plugin::new(
        "testhost",
        &crate::common::fixture("providers/testhost.yaml"),
        base_url,
    )
    .secrets(&format!("token={TOKEN}\n"))
}

/// The request that buys a server from the test provider.
pub const PURCHASE: &str = "POST /servers";

/// What the test hoster answers to a purchase that went well: server 42 and its password.
pub const ORDER_ANSWER: &str = r#"{"server":{"id":42},"root_password":"pw-abc"}"#;

/// The test provider with one task ordered from a hoster that answers the purchase well and
/// the poll of server 42 with `poll`; the argv polls the task.
pub fn ordered(poll: Behaviour) -> Scene {
    let hoster = RawHoster::start(vec![
        ("POST", "/servers", Behaviour::json(201, ORDER_ANSWER)),
        ("GET", "/servers/42", poll),
    ]);
    let plugin = testhost(&hoster.url());
    let run = plugin.run(&["order", "1"]);
    let task_id = crate::common::task_id(&run);
    Scene {
        plugin,
        args: args(&["order_status", &task_id]),
        hoster: Some(hoster),
    }
}

/// The test provider whose hoster answers `routes`, running `argv`.
pub fn hosted(plugin: impl Fn(&str) -> Plugin, routes: Vec<Route>, argv: &[&str]) -> Scene {
    let hoster = RawHoster::start(routes);
    Scene {
        plugin: plugin(&hoster.url()),
        args: args(argv),
        hoster: Some(hoster),
    }
}
