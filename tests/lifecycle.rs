//! An order's life past the protocol, against a mock hoster on loopback: `finished` waits for
//! the SSH port, an order that hangs turns into `error`, a server that failed is deleted once,
//! and a final answer is given from the record without asking the hoster again.

mod common;

use common::{Plugin, assert_failed, fixture, task_reply};
use mockito::{Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::net::TcpListener;

const TOKEN: &str = "tok-lifecycle-1";

/// testhost.yaml with `status_extra` added under `order_status` and `top_extra` at the top.
fn yaml(status_extra: &str, top_extra: &str) -> String {
    let mut yaml = fixture("providers/testhost.yaml");
    if !status_extra.is_empty() {
        yaml.push_str(&format!("  {status_extra}\n"));
    }
    yaml.push_str(top_extra);
    yaml
}

/// A cleanup that deletes the server.
const CLEANUP: &str = r#"cleanup:
  steps:
    - request: { method: DELETE, path: "/servers/{{task.hoster_id}}" }
"#;

/// testhost.yaml with [`CLEANUP`], which the site can turn off with
/// `delete_failed_servers=false`, as the shipped files do.
fn with_switchable_cleanup() -> String {
    let cleanup = CLEANUP.replace(
        "cleanup:\n",
        "cleanup:\n  when: \"{{settings.delete_failed_servers}}\"\n",
    );
    yaml("", &cleanup).replace("settings:\n", "settings:\n  delete_failed_servers: true\n")
}

/// A hoster that took an order for server 42, the plugin, and the task id it handed out.
fn ordered(yaml: &str, secrets: &str) -> (ServerGuard, Plugin, String) {
    let mut server = Server::new();
    let plugin =
        Plugin::new("testhost", yaml, &server.url()).secrets(&format!("token={TOKEN}\n{secrets}"));
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(
            json!({"server": {"id": 42, "status": "initializing"}, "root_password": "Hoster-Pw-1"})
                .to_string(),
        )
        .expect(1)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, plugin, task_id)
}

/// Every poll of server 42 answers `state` and `ip`; `times` polls are expected.
fn hoster_says(server: &mut Server, state: &str, ip: &str, times: usize) -> Mock {
    server
        .mock("GET", "/servers/42")
        .with_body(json!({"server": {"id": 42, "status": state, "ipv4": ip}}).to_string())
        .expect(times)
        .create()
}

fn delete(server: &mut Server, status: usize, times: usize) -> Mock {
    server
        .mock("DELETE", "/servers/42")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .with_status(status)
        .expect(times)
        .create()
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn tasks_table(plugin: &Plugin) -> String {
    let output = plugin.operator(&["tasks", "testhost"]);
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// A loopback port that nothing listens on (for now).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn finished_waits_until_the_ssh_port_accepts_connections() {
    let port = closed_port();
    let check = format!("ssh_check: {{ port: {port}, timeout_seconds: 1 }}");
    let (mut server, plugin, task_id) = ordered(&yaml(&check, ""), "");
    let plugin = plugin.with_env("VPS_PROVIDER_SSH_CHECK", "on");
    let _running = hoster_says(&mut server, "running", "127.0.0.1", 2);

    let early = plugin.run(&["order_status", &task_id]);
    let mut waiting = task_reply(&task_id, "in_progress", "", "");
    waiting["message"] =
        format!("the hoster reports `running`; waiting for SSH on port {port}").into();
    assert_eq!(early.ok(), &waiting);
    let table = tasks_table(&plugin);
    assert!(
        table.contains(&format!(
            "port {port} of 127.0.0.1 does not accept connections yet"
        )),
        "{table}"
    );

    let _sshd = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let ready = plugin.run(&["order_status", &task_id]);
    assert_eq!(
        ready.ok(),
        &task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1")
    );
}

#[test]
fn the_ssh_check_can_be_turned_off_for_one_run() {
    let check = format!("ssh_check: {{ port: {} }}", closed_port());
    let (mut server, plugin, task_id) = ordered(&yaml(&check, ""), "");
    let plugin = plugin.with_env("VPS_PROVIDER_SSH_CHECK", "on");
    let _running = hoster_says(&mut server, "running", "127.0.0.1", 2);
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok()["status"],
        "in_progress"
    );
    let output = plugin.operator(&[
        "run",
        "testhost",
        "order_status",
        &task_id,
        "--no-ssh-check",
    ]);
    let run = common::parse_run(output);
    assert_eq!(
        run.ok(),
        &task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1")
    );
}

#[test]
fn an_order_that_never_finishes_turns_into_an_error_and_stays_one() {
    let (mut server, plugin, task_id) = ordered(&yaml("give_up_after_minutes: 30", ""), "");
    let polls = hoster_says(&mut server, "initializing", "", 2);
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok()["status"],
        "in_progress"
    );

    plugin.backdate_task(&task_id, 31);

    let late = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &late,
        &task_id,
        &[
            "31 minutes",
            "`initializing`",
            "given up after 30 minutes",
            "server `42` is left",
        ],
    );
    assert_eq!(task_file(&plugin, &task_id)["stage"], "failed");
    // Later polls answer the same from the record: the hoster is not asked again.
    for _ in 0..3 {
        assert_eq!(plugin.run(&["order_status", &task_id]).ok(), late.ok());
    }
    polls.assert();
    assert!(tasks_table(&plugin).contains("given up after 30 minutes"));
}

#[test]
fn a_failed_server_is_deleted_exactly_once_even_by_polls_at_the_same_time() {
    let (mut server, plugin, task_id) = ordered(&with_switchable_cleanup(), "");
    let _failed = server
        .mock("GET", "/servers/42")
        .with_body(json!({"server": {"id": 42, "status": "failed"}}).to_string())
        .expect_at_least(1)
        .create();
    let deleted = delete(&mut server, 204, 1);

    let answers: Vec<common::Run> = std::thread::scope(|scope| {
        let polls: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| plugin.run(&["order_status", &task_id])))
            .collect();
        polls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    for answer in &answers {
        assert_eq!(answer.ok()["status"], "error", "{}", answer.stdout);
    }
    let again = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &again,
        &task_id,
        &["the hoster reports `failed`", "the server was deleted"],
    );
    deleted.assert();
    let task = task_file(&plugin, &task_id);
    assert_eq!(
        (&task["stage"], &task["cleanup"]),
        (&json!("failed"), &json!("done"))
    );
    assert!(tasks_table(&plugin).contains("the server was deleted"));
}

#[test]
fn the_operator_can_keep_failed_servers() {
    let (mut server, plugin, task_id) =
        ordered(&with_switchable_cleanup(), "delete_failed_servers=false\n");
    let _failed = hoster_says(&mut server, "failed", "", 1);
    let never = delete(&mut server, 204, 0);
    assert_failed(
        &plugin.run(&["order_status", &task_id]),
        &task_id,
        &["server `42` is left as it is"],
    );
    never.assert();
}

#[test]
fn a_refused_cleanup_is_recorded_and_not_sent_again() {
    let (mut server, plugin, task_id) = ordered(&yaml("", CLEANUP), "");
    let _failed = hoster_says(&mut server, "failed", "", 1);
    let refused = delete(&mut server, 500, 1);
    for _ in 0..3 {
        assert_failed(
            &plugin.run(&["order_status", &task_id]),
            &task_id,
            &[
                "deleting server `42` failed",
                "delete it in the hoster's console",
            ],
        );
    }
    refused.assert();
    assert_eq!(task_file(&plugin, &task_id)["cleanup"], "failed");
}

#[test]
fn no_cleanup_for_an_order_that_never_reached_the_hoster() {
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", &yaml("", CLEANUP), &server.url())
        .secrets(&format!("token={TOKEN}\n"));
    server
        .mock("POST", "/servers")
        .with_status(422)
        .with_body(r#"{"error": {"message": "plan sold out"}}"#)
        .create();
    let never = delete(&mut server, 204, 0);
    let refused = plugin.run(&["order", "1"]);
    assert!(refused.error_message().contains("plan sold out"));
    let task_id = plugin.only_task()["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let poll = plugin.run(&["order_status", &task_id]);
        assert!(poll.error_message().contains("refused"), "{}", poll.stdout);
    }
    never.assert();
}

#[test]
fn a_finished_task_answers_from_its_record_until_the_operator_refreshes() {
    let (mut server, plugin, task_id) = ordered(&yaml("", ""), "");
    let polls = hoster_says(&mut server, "running", "203.0.113.7", 2);
    let finished = task_reply(&task_id, "finished", "203.0.113.7", "Hoster-Pw-1");
    for _ in 0..5 {
        assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    }
    let refreshed = common::parse_run(plugin.operator(&[
        "run",
        "testhost",
        "order_status",
        &task_id,
        "--refresh",
    ]));
    assert_eq!(refreshed.ok(), &finished);
    polls.assert();

    let wrong = plugin.operator(&["run", "testhost", "configs", "--refresh"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--refresh is for `order_status"));
}

#[test]
fn validate_checks_the_lifecycle_keys() {
    let bad = yaml(
        "ssh_check: { port: 0 }\n  give_up_after_minutes: 0",
        "cleanup:\n  steps:\n    - request: { method: DELETE, path: \"/servers/{{saved.server_id}}\" }\n      extract: { x: $.y }\n",
    );
    let plugin = Plugin::new("testhost", &bad, "http://127.0.0.1:9");
    let file = plugin.provider_file();
    let output = plugin.operator(&["validate", file.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{report}");
    for says in [
        "port 0 cannot be connected to",
        "`0` is out of range",
        "a cleanup step takes nothing from its answer",
    ] {
        assert!(report.contains(says), "`{says}` not in {report}");
    }
}
