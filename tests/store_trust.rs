//! The task store trusts only itself, a bought server is never lost, and clocks cannot delete
//! servers (issue 14, items 3 to 5), through the panel's symlink against loopback hosters:
//! - a task folder that is a symlink, someone else's, or open to others is refused and left
//!   as it is;
//! - SIGTERM, SIGINT and SIGHUP during the buying request wait for the record and the reply;
//!   a disk that fills while the hoster answers still gets the record (room was kept); a step
//!   that fails after the purchase leaves the hoster's id on record;
//! - a wall clock set forward does not give an order up, both clocks past the limit do; a
//!   clock set back does not make task ids go down.

mod common;

use common::{Plugin, RawServer, fixture, respond};
use mockito::Server;
use serde_json::{Value, json};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::sync::mpsc;
use std::time::Duration;

const TOKEN: &str = "tok-store-trust-1";

fn testhost(yaml: &str, base_url: &str) -> Plugin {
    Plugin::new("testhost", yaml, base_url).secrets(&format!("token={TOKEN}\n"))
}

/// A hoster that takes orders for server 42, and the plugin.
fn ordering() -> (mockito::ServerGuard, Plugin) {
    let mut server = Server::new();
    let plugin = testhost(&fixture("providers/testhost.yaml"), &server.url());
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .create();
    (server, plugin)
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

// --- 3. the task store trusts only itself ------------------------------------------------

#[test]
fn a_task_folder_that_is_a_symlink_is_refused_and_left_alone() {
    let (_server, plugin) = ordering();
    // Someone else's folder, with a forged finished task sending the panel to their server.
    let elsewhere = tempfile::tempdir().unwrap();
    let forged = elsewhere.path().join("1700000000000.json");
    let task = json!({"format": 1, "id": "1700000000000", "provider": "testhost",
        "config_id": "1", "config": {}, "created": 1700000000u64, "stage": "finished",
        "password": "x", "server": "198.51.100.66", "server_password": "Attacker-Pw-1"});
    std::fs::write(&forged, task.to_string()).unwrap();
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(plugin.state_dir().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), plugin.state_dir()).unwrap();

    let run = plugin.run(&["order_status", "1700000000000"]);
    common::assert_error_says(&run, &["task folder", "is a symbolic link", "not trusted"]);
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(&run, &["is a symbolic link"]);
    assert_eq!(mode(elsewhere.path()), 0o755, "the folder was not chmod-ed");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        1,
        "nothing was written there"
    );
}

#[test]
fn a_task_folder_owned_by_another_user_or_open_to_others_is_refused() {
    let (_server, plugin) = ordering();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    let folder = plugin.state_dir();
    let before = std::fs::read(folder.join(format!("{task_id}.json"))).unwrap();

    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = plugin.run(&["order_status", &task_id]);
    common::assert_error_says(
        &run,
        &["writable by group or others (mode 0777)", "chmod 700"],
    );
    assert_eq!(mode(&folder), 0o777, "refused, not chmod-ed into shape");

    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&folder, Some(65534), None).unwrap();
    let run = plugin.run(&["order_status", &task_id]);
    common::assert_error_says(&run, &["owned by uid 65534", "chown"]);
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(&run, &["owned by uid 65534"]);
    assert_eq!(std::fs::metadata(&folder).unwrap().uid(), 65534);

    std::os::unix::fs::chown(&folder, Some(0), None).unwrap();
    assert_eq!(
        std::fs::read(folder.join(format!("{task_id}.json"))).unwrap(),
        before,
        "the task is as it was"
    );
    let run = plugin.run(&["order_status", &task_id]);
    assert!(!run.stdout.contains("not trusted"), "{}", run.stdout);
}

// --- 4. a bought server is never lost -----------------------------------------------------

/// A hoster whose `POST /servers` is held until the test says so: it tells `arrived` when the
/// request is in, waits for `go`, then answers 201 for server 42.
fn held_purchase() -> (RawServer, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (arrived_tx, arrived) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let arrived_tx = std::sync::Mutex::new(arrived_tx);
    let go_rx = std::sync::Mutex::new(go_rx);
    let server = RawServer::start("127.0.0.1", move |stream, _| {
        arrived_tx.lock().unwrap().send(()).unwrap();
        let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(20));
        respond(
            stream,
            "201 Created",
            &["Content-Type: application/json"],
            r#"{"server": {"id": 42}, "root_password": "Hoster-Pw-1"}"#,
        );
    });
    (server, arrived, go)
}

#[test]
fn a_signal_during_the_purchase_waits_for_the_record_and_the_reply() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let (server, arrived, go) = held_purchase();
        let plugin = testhost(&fixture("providers/testhost.yaml"), &server.url);
        let child = plugin
            .command(&["order", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        arrived.recv_timeout(Duration::from_secs(20)).unwrap();
        // SAFETY: kill only sends a signal to the child this test started.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        std::thread::sleep(Duration::from_millis(300));
        go.send(()).unwrap();
        let output = child.wait_with_output().unwrap();
        let reply: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("signal {signal}: no reply: {output:?}"));
        let task_id = reply["task_id"]
            .as_str()
            .expect("the task id reached the panel");
        assert_eq!(
            output.status.signal(),
            Some(signal),
            "the run ends as the signal asked, after the reply"
        );
        let task = task_file(&plugin, task_id);
        assert_eq!(
            (task["stage"].as_str(), task["hoster_id"].as_str()),
            (Some("ordered"), Some("42")),
            "signal {signal}: {task}"
        );
    }
}

/// A 4 MiB tmpfs for the task store, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "this test mounts a tmpfs: it runs as root"
        );
        SmallDisk(dir)
    }

    /// Writes a filler file until the disk is full.
    fn fill(path: &std::path::Path) {
        use std::io::Write;
        let mut filler = std::fs::File::create(path.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while filler
            .write_all(&chunk)
            .and_then(|_| filler.sync_all())
            .is_ok()
        {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_disk_that_fills_while_the_hoster_answers_still_gets_the_record() {
    let disk = SmallDisk::mount();
    let state = disk.0.path().to_path_buf();
    let filled = state.clone();
    let server = RawServer::start("127.0.0.1", move |stream, _| {
        SmallDisk::fill(&filled);
        respond(
            stream,
            "201 Created",
            &["Content-Type: application/json"],
            r#"{"server": {"id": 42}, "root_password": "Hoster-Pw-1"}"#,
        );
    });
    let plugin = testhost(&fixture("providers/testhost.yaml"), &server.url)
        .with_env("VPS_PROVIDER_STATE_DIR", state.to_str().unwrap());
    let run = plugin.run(&["order", "1"]);
    let task_id = common::task_id(&run);
    let task: Value = serde_json::from_slice(
        &std::fs::read(state.join("testhost").join(format!("{task_id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (task["stage"].as_str(), task["hoster_id"].as_str()),
        (Some("ordered"), Some("42")),
        "{task}"
    );

    // The disk is full now: the next order is refused before anything is bought.
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(&run, &["nothing was ordered", "free some disk space"]);
    assert_eq!(server.received().len(), 1, "no second purchase was sent");
}

#[test]
fn a_step_that_fails_after_the_purchase_leaves_the_hosters_id_on_record() {
    let mut server = Server::new();
    let yaml = fixture("providers/testhost.yaml").replace(
        "      extract:\n        server_id: $.server.id\n        root_password: $.root_password\n",
        "      extract:\n        server_id: $.server.id\n        root_password: $.root_password\n    - request: { method: POST, path: \"/servers/{{saved.server_id}}/actions/protect\" }\n",
    );
    assert!(yaml.contains("/actions/protect"), "the second step is in");
    let plugin = testhost(&yaml, &server.url());
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .create();
    server
        .mock("POST", "/servers/42/actions/protect")
        .with_status(500)
        .with_body(r#"{"error": {"message": "protection is down"}}"#)
        .create();
    let run = plugin.run(&["order", "1"]);
    let task_id = common::task_id(&run);
    assert_eq!(task_file(&plugin, &task_id)["hoster_id"], "42");
    let tasks = plugin.operator(&["tasks", "testhost"]);
    let table = String::from_utf8_lossy(&tasks.stdout);
    let row = table.lines().find(|l| l.contains(&task_id)).unwrap();
    assert!(
        row.contains("42"),
        "`vps-provider tasks` shows the hoster id: {table}"
    );
    let run = plugin.run(&["order_status", &task_id]);
    common::assert_error_says(&run, &["step 2 failed", "protection is down"]);
}

// --- 5. clocks cannot delete servers ------------------------------------------------------

#[test]
fn a_clock_set_forward_does_not_give_an_order_up_but_time_that_passed_does() {
    let mut server = Server::new();
    let yaml = format!(
        "{}cleanup:\n  steps:\n    - request: {{ method: DELETE, path: \"/servers/{{{{task.hoster_id}}}}\" }}\n",
        fixture("providers/testhost.yaml")
    );
    let plugin = testhost(&yaml, &server.url());
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .create();
    server
        .mock("GET", "/servers/42")
        .with_body(json!({"server": {"status": "initializing", "ipv4": null}}).to_string())
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    let deleted = server
        .mock("DELETE", "/servers/42")
        .with_status(204)
        .expect(0)
        .create();

    // The wall clock 45 minutes ahead (an NTP step, `date -s`): still building.
    let ahead = plugin.with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "2700");
    let run = ahead.run(&["order_status", &task_id]);
    assert_eq!(run.ok()["status"], "in_progress", "{}", run.stdout);
    deleted.assert();

    // 45 minutes by both clocks: given up, and the server deleted once.
    let later = ahead.with_env("VPS_PROVIDER_FAKE_BOOT_SKEW", "2700");
    let deleted = server
        .mock("DELETE", "/servers/42")
        .with_status(204)
        .expect(1)
        .create();
    let run = later.run(&["order_status", &task_id]);
    assert_eq!(run.ok()["status"], "error", "{}", run.stdout);
    later.run(&["order_status", &task_id]);
    deleted.assert();
}

#[test]
fn task_ids_keep_increasing_when_the_clock_goes_back() {
    let (_server, plugin) = ordering();
    let first: u128 = common::task_id(&plugin.run(&["order", "1"]))
        .parse()
        .unwrap();
    let back = plugin.with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "-3600");
    let second: u128 = common::task_id(&back.run(&["order", "1"])).parse().unwrap();
    assert!(second > first, "{second} after {first}");
}
