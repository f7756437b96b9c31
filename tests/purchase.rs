//! A bought server is never lost: not when the disk fills while the buying request is in
//! flight, not when SIGTERM, SIGINT or SIGHUP arrive during it, and not when a later order
//! step fails (the hoster's id is recorded as soon as an answer gives it).

mod common;

use common::{Plugin, fixture};
use mockito::Server;
use serde_json::{Value, json};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn testhost(base_url: &str) -> Plugin {
    Plugin::new("testhost", &fixture("providers/testhost.yaml"), base_url)
        .secrets("token=tok-purchase-1\n")
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Checks that `task_id`'s record says ordered, server 42.
fn assert_ordered_42(plugin: &Plugin, task_id: &str) {
    let task = task_file(plugin, task_id);
    assert_eq!(
        (&task["stage"], &task["hoster_id"]),
        (&json!("ordered"), &json!("42"))
    );
}

/// A tmpfs of `size` mounted at `at` (0700, as the state folder must be), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(status.success(), "this test needs root to mount a tmpfs");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem holding `dir` with one file, until it takes no more.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    let _ = filler.sync_all();
}

#[test]
fn a_disk_that_fills_during_the_purchase_still_records_the_server() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let state = plugin.state_dir().parent().unwrap().to_path_buf();
    let _tmpfs = Tmpfs::mount(&state, "4m");
    let filled = state.clone();
    let create = server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body_from_request(move |_| {
            fill(&filled);
            json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"})
                .to_string()
                .into_bytes()
        })
        .expect(1)
        .create();
    let run = plugin.run(&["order", "1"]);
    let task_id = common::task_id(&run);
    create.assert();
    assert_ordered_42(&plugin, &task_id);
    let leftovers: Vec<_> = std::fs::read_dir(plugin.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with(".reserve"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the reserve is given back: {leftovers:?}"
    );
}

#[test]
fn a_full_disk_refuses_the_order_before_anything_is_bought() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let state = plugin.state_dir().parent().unwrap().to_path_buf();
    let _tmpfs = Tmpfs::mount(&state, "4m");
    // Room for the task, not for the purchase's reserve.
    std::fs::create_dir(plugin.state_dir()).unwrap();
    std::fs::write(state.join("filler"), vec![0u8; 3 << 20]).unwrap();
    let never = server.mock("POST", "/servers").expect(0).create();
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(
        &run,
        &["make room for the order's record", "nothing was ordered"],
    );
    never.assert();
}

/// The order of server 42, held by the hoster until the test has sent `signal` to the plugin.
fn signalled_during_the_purchase(signal: libc::c_int) {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let pid = Arc::new(Mutex::new(None::<u32>));
    let to_signal = pid.clone();
    let create = server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body_from_request(move |_| {
            let pid = to_signal.lock().unwrap().expect("the plugin was started");
            // SAFETY: kill sends a signal to the child this test started.
            assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
            br#"{"server": {"id": 42}, "root_password": "Hoster-Pw-1"}"#.to_vec()
        })
        .expect(1)
        .create();
    let child = plugin
        .command(&["order", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    *pid.lock().unwrap() = Some(child.id());
    let output = child.wait_with_output().unwrap();
    create.assert();
    let status = output.status;
    let run = common::parse_run(output);
    let task_id = run.json["task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id: {run:?}"))
        .to_owned();
    assert_eq!(status.signal(), Some(signal), "ends as the signal asked");
    assert_ordered_42(&plugin, &task_id);
}

#[test]
fn sigterm_during_the_purchase_waits_for_the_record_and_the_reply() {
    signalled_during_the_purchase(libc::SIGTERM);
}

#[test]
fn sigint_and_sighup_during_the_purchase_wait_too() {
    signalled_during_the_purchase(libc::SIGINT);
    signalled_during_the_purchase(libc::SIGHUP);
}

#[test]
fn a_later_step_that_fails_leaves_the_hoster_id_recorded() {
    let yaml = common::testhost_with_poweron_step();
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets("token=tok-purchase-1\n");
    common::creates_server_42(&mut server, 1);
    common::power_on_fails(&mut server);
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    assert_eq!(task_file(&plugin, &task_id)["hoster_id"], "42");
    let output = plugin.operator(&["tasks", "testhost"]);
    let table = String::from_utf8(output.stdout).unwrap();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], [&task_id[..], "1", "42", "unknown"], "{table}");
}

#[test]
fn a_run_stuck_after_the_purchase_still_hands_out_its_task() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}}).to_string())
        .expect(1)
        .create();
    // Stuck once the hoster took the order: only the watchdog ends the run.
    let output = plugin
        .command(&["order", "1"])
        .env("VPS_PROVIDER_FAULT", "hang_after_order_answer")
        .output()
        .unwrap();
    create.assert();
    let run = common::parse_run(output);
    let task_id = common::task_id(&run);
    // The record was never written past `ordering`: its polls send the operator to the
    // hoster's console, and the panel keeps the task on its page.
    assert_eq!(task_file(&plugin, &task_id)["stage"], "ordering");
}

#[test]
fn a_bought_server_whose_record_cannot_be_saved_reaches_the_panel_and_stderr() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = common::creates_server_42(&mut server, 1);
    // Every save after the purchase fails as on a full disk.
    let output = plugin
        .command(&["order", "1"])
        .env("VPS_PROVIDER_FAULT", "disk_full_saving_task")
        .output()
        .unwrap();
    create.assert();
    let run = common::parse_run(output);
    let task_id = common::task_id(&run);
    for says in [
        "the server was bought",
        &task_id,
        "hoster id `42`",
        "server_id",
        "No space left",
    ] {
        assert!(run.stderr.contains(says), "`{says}` not in {}", run.stderr);
    }
    assert!(!run.stderr.contains("Hoster-Pw-1"), "{}", run.stderr);
    assert!(!run.stderr.contains("tok-purchase-1"), "{}", run.stderr);
}
