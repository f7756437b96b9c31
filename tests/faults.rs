//! Crashes during an order: the process is SIGKILLed at each step of `order` (by a debug-build
//! fault point, or from outside once the hoster has the request), and what is left must tell
//! the operator the truth: no task when nothing was sent, else a task that `order_status` and
//! `vps-provider tasks` report, never a torn task file. A buying request that times out is
//! reported as "may have been placed" and is never sent twice.

mod common;

use common::{Plugin, fixture};
use mockito::{Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn testhost(base_url: &str) -> Plugin {
    Plugin::new("testhost", &fixture("providers/testhost.yaml"), base_url)
        .secrets("token=tok-secret-123\n")
}

/// The order of server 42, answered by the hoster; `expected` times.
fn order_mock(server: &mut ServerGuard, expected: usize) -> Mock {
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .expect(expected)
        .create()
}

/// Runs `order 1` with the fault point `point` armed and checks that the process was killed.
fn order_killed_at(plugin: &Plugin, point: &str) {
    let output = plugin
        .command(&["order", "1"])
        .env("VPS_PROVIDER_FAULT", point)
        .output()
        .unwrap();
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGKILL),
        "the run must die at `{point}`: {output:?}"
    );
    assert!(output.stdout.is_empty(), "a killed run printed {output:?}");
}

/// The files of the task folder: task files (`<id>.json`) and everything else.
fn store_files(plugin: &Plugin) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(plugin.state_dir()) else {
        return Default::default();
    };
    entries
        .map(|e| e.unwrap().path())
        .partition(|p| p.extension().is_some_and(|e| e == "json"))
}

/// Every task file parses and names itself; returns the tasks.
fn whole_tasks(plugin: &Plugin) -> Vec<Value> {
    let (tasks, _) = store_files(plugin);
    tasks
        .iter()
        .map(|path| {
            let task: Value = serde_json::from_slice(&std::fs::read(path).unwrap())
                .unwrap_or_else(|e| panic!("torn task file {}: {e}", path.display()));
            assert_eq!(
                path.file_stem().unwrap().to_str().unwrap(),
                task["id"],
                "a task file names itself"
            );
            task
        })
        .collect()
}

/// `vps-provider tasks` for the plugin: its stdout, after checking it reported no problem.
fn tasks_table(plugin: &Plugin) -> String {
    let output = plugin.operator(&["tasks", &plugin.name]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stderr.is_empty(),
        "temporary files are not tasks: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The store holds nothing the operator must act on: no task, and `tasks` says so.
fn assert_no_task(plugin: &Plugin) {
    assert!(whole_tasks(plugin).is_empty());
    assert!(tasks_table(plugin).starts_with("no tasks in "));
}

/// The store holds exactly one task, interrupted while ordering: `order_status` tells the
/// operator to check the hoster's console, and `tasks` lists it as `ordering`.
fn assert_one_interrupted_task(plugin: &Plugin) -> Value {
    let tasks = whole_tasks(plugin);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = tasks[0].clone();
    assert_eq!(task["stage"], "ordering");
    let id = task["id"].as_str().unwrap();
    let status = plugin.run(&["order_status", id]);
    common::assert_error_says(
        &status,
        &[id, "may have been ordered", "check the hoster's console"],
    );
    let table = tasks_table(plugin);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], [id, "1", "-", "ordering"], "{table}");
    task
}

/// After a crash, the next order works and gets a task of its own.
fn assert_next_order_works(plugin: &Plugin, server: &mut ServerGuard, before: usize) {
    let create = order_mock(server, 1);
    let id = common::task_id(&plugin.run(&["order", "1"]));
    create.assert();
    let tasks = whole_tasks(plugin);
    assert_eq!(tasks.len(), before + 1);
    assert!(
        tasks
            .iter()
            .any(|t| t["id"] == id && t["stage"] == "ordered")
    );
}

#[test]
fn killed_while_recording_the_task_nothing_is_sent_and_no_task_is_left() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = order_mock(&mut server, 0);
    order_killed_at(&plugin, "writing_new_task");
    create.assert();
    let (_, others) = store_files(&plugin);
    assert_eq!(
        others.len(),
        1,
        "the half-written temporary file: {others:?}"
    );
    assert_no_task(&plugin);
    assert_next_order_works(&plugin, &mut server, 0);
}

#[test]
fn killed_before_the_request_the_task_is_recorded_and_nothing_was_sent() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = order_mock(&mut server, 0);
    order_killed_at(&plugin, "before_order_request");
    create.assert();
    assert_one_interrupted_task(&plugin);
    assert_next_order_works(&plugin, &mut server, 1);
}

#[test]
fn killed_after_the_request_was_sent_the_task_is_recorded() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    // The hoster kills the plugin as soon as it has the order, before it answers.
    let pid = Arc::new(Mutex::new(None::<u32>));
    let to_kill = pid.clone();
    let create = server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body_from_request(move |_| {
            let pid = to_kill.lock().unwrap().expect("the plugin was started");
            // SAFETY: kill sends a signal to the child this test started.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            br#"{"server": {"id": 42}}"#.to_vec()
        })
        .expect(1)
        .create();
    let child = plugin
        .command(&["order", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    *pid.lock().unwrap() = Some(child.id());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.signal(), Some(libc::SIGKILL), "{output:?}");
    create.assert();
    assert_one_interrupted_task(&plugin);
}

#[test]
fn killed_after_the_answer_the_task_is_recorded() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = order_mock(&mut server, 1);
    order_killed_at(&plugin, "after_order_answer");
    create.assert();
    assert_one_interrupted_task(&plugin);
    assert_next_order_works(&plugin, &mut server, 1);
}

#[test]
fn killed_while_writing_the_answer_the_old_record_stays_whole() {
    let mut server = Server::new();
    let plugin = testhost(&server.url());
    let create = order_mock(&mut server, 1);
    order_killed_at(&plugin, "writing_task");
    create.assert();
    let (_, others) = store_files(&plugin);
    assert_eq!(
        others.len(),
        1,
        "the half-written temporary file: {others:?}"
    );
    let torn = std::fs::read(&others[0]).unwrap();
    assert!(
        serde_json::from_slice::<Value>(&torn).is_err(),
        "cut mid-write"
    );
    assert_one_interrupted_task(&plugin);
    assert_next_order_works(&plugin, &mut server, 1);
}

#[test]
fn an_order_request_that_times_out_may_have_been_placed_and_is_sent_once() {
    // A hoster that takes the order and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut head = [0; 4096];
            let read = stream.read(&mut head).unwrap_or(0);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head[..read]).into_owned());
            held.push(stream);
        }
    });
    let plugin = testhost(&base_url);
    let started = std::time::Instant::now();
    let run = plugin.run(&["order", "1"]);
    // The provider file's deadline is 3 s: a hang would take far longer than ten times that.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    common::assert_error_says(
        &run,
        &[
            "within the deadline",
            "the order may have been placed",
            "check the hoster's console",
        ],
    );
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 1, "sent exactly once: {requests:?}");
    assert!(requests[0].starts_with("POST /servers "), "{}", requests[0]);

    let task = whole_tasks(&plugin).pop().unwrap();
    assert_eq!(task["stage"], "unknown");
    let status = plugin.run(&["order_status", task["id"].as_str().unwrap()]);
    common::assert_error_says(&status, &["may have been ordered", "hoster's console"]);
}
