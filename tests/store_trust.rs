//! The task store trusts only itself: a task folder (or state folder) that is a symlink, is
//! owned by another user or is writable by group/others, and a task file that is a symlink,
//! are refused with an error object, through the panel's symlink, and left exactly as they
//! were; a forged `finished` task in them is never served.

mod common;

use common::{Plugin, fixture};
use mockito::{Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A hoster that takes one order of server 42 (and no more), the plugin, and the task id.
fn ordered() -> (ServerGuard, Mock, Plugin, String) {
    let mut server = Server::new();
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        &server.url(),
    )
    .secrets("token=tok-trust-1\n");
    let create = common::creates_server_42(&mut server, 1);
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, create, plugin, task_id)
}

/// Rewrites the task file at `path` as a finished task of someone else's server.
fn forge_finished(path: &Path) {
    let mut task: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    task["stage"] = json!("finished");
    task["server"] = json!("203.0.113.66");
    task["server_password"] = json!("Forged-Pw-1");
    std::fs::write(path, task.to_string()).unwrap();
}

/// Every entry under `dir` (not following symlinks): path, owner, mode, and contents or
/// link target.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, u32, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let contents = if meta.file_type().is_symlink() {
            std::fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else if meta.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            Vec::new()
        } else {
            std::fs::read(&path).unwrap()
        };
        entries.push((path, meta.uid(), meta.mode(), contents));
    }
    entries.sort();
    entries
}

/// `order_status` of the task and a new `order` are both refused with an error saying
/// `says`, the forged task is not served, and nothing under `root` changed.
fn assert_refused(plugin: &Plugin, task_id: &str, root: &Path, says: &[&str]) {
    let before = snapshot(root);
    for args in [&["order_status", task_id][..], &["order", "1"]] {
        let run = plugin.run(args);
        common::assert_error_says(&run, says);
        assert!(!run.stdout.contains("Forged-Pw-1"), "{}", run.stdout);
    }
    assert_eq!(snapshot(root), before, "nothing changed on disk");
}

#[test]
fn a_symlinked_task_folder_is_refused_not_followed() {
    let (_server, create, plugin, task_id) = ordered();
    let elsewhere = plugin.root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let real = elsewhere.join("testhost");
    std::fs::rename(plugin.state_dir(), &real).unwrap();
    forge_finished(&real.join(format!("{task_id}.json")));
    std::os::unix::fs::symlink(&real, plugin.state_dir()).unwrap();
    assert_refused(
        &plugin,
        &task_id,
        plugin.root.path(),
        &["task folder", "is a symbolic link", "remove the link"],
    );
    create.assert();
}

#[test]
fn a_task_folder_owned_by_another_user_is_refused() {
    let (_server, create, plugin, task_id) = ordered();
    forge_finished(&plugin.state_dir().join(format!("{task_id}.json")));
    std::os::unix::fs::chown(plugin.state_dir(), Some(65534), Some(65534)).unwrap();
    assert_refused(
        &plugin,
        &task_id,
        plugin.root.path(),
        &["task folder", "owned by uid 65534", "chown -R root:"],
    );
    create.assert();
}

#[test]
fn a_task_folder_others_can_write_is_refused_and_not_chmod_ed() {
    let (_server, create, plugin, task_id) = ordered();
    forge_finished(&plugin.state_dir().join(format!("{task_id}.json")));
    std::fs::set_permissions(plugin.state_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(
        &plugin,
        &task_id,
        plugin.root.path(),
        &[
            "task folder",
            "writable by group or others (mode 0777)",
            "chmod 700",
        ],
    );
    create.assert();
}

#[test]
fn a_state_folder_others_can_write_is_refused() {
    let (_server, create, plugin, task_id) = ordered();
    let state = plugin.state_dir().parent().unwrap().to_path_buf();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(
        &plugin,
        &task_id,
        plugin.root.path(),
        &["state folder", "writable by group or others", "chmod 700"],
    );
    create.assert();
}

#[test]
fn a_task_file_that_is_a_symlink_to_a_forged_task_is_refused() {
    let (_server, _create, plugin, task_id) = ordered();
    // A forged finished task elsewhere, named as the next task would be, linked in.
    let forged_id = (task_id.parse::<u128>().unwrap() + 1000).to_string();
    let forged = plugin.root.path().join("forged.json");
    std::fs::copy(plugin.state_dir().join(format!("{task_id}.json")), &forged).unwrap();
    forge_finished(&forged);
    let mut task: Value = serde_json::from_slice(&std::fs::read(&forged).unwrap()).unwrap();
    task["id"] = json!(forged_id);
    std::fs::write(&forged, task.to_string()).unwrap();
    std::os::unix::fs::symlink(
        &forged,
        plugin.state_dir().join(format!("{forged_id}.json")),
    )
    .unwrap();
    let before = snapshot(plugin.root.path());
    let run = plugin.run(&["order_status", &forged_id]);
    common::assert_error_says(&run, &["symbolic link", "remove the link"]);
    assert!(!run.stdout.contains("Forged-Pw-1"), "{}", run.stdout);
    assert_eq!(snapshot(plugin.root.path()), before);
    // `tasks` lists the real task and reports the link.
    let output = plugin.operator(&["tasks", "testhost"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains(&task_id));
    assert!(String::from_utf8_lossy(&output.stderr).contains("symbolic link"));
}
