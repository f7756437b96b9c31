//! Steps that wait (`repeat`) and cleanups that go on over several polls, against a mock of
//! DigitalOcean's documented API v2 on loopback (shapes from repo `digitalocean/openapi`, see
//! tests/fixtures/hosters/digitalocean/README.md): a create returns an action to wait for
//! (`GET /v2/actions/{id}`, `in-progress` → `completed`), and a failed droplet is deleted by
//! powering it off (`POST /v2/droplets/{id}/actions {"type":"power_off"}`), waiting until its
//! status is `off`, then `DELETE /v2/droplets/{id}`.

mod common;

use common::{Plugin, assert_failed, hoster_fixture, task_reply};
use mockito::{Mock, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRETS: &str = "token=tok\n";

/// A DigitalOcean-shaped provider file: the order waits for the create action with `wait`
/// (its `repeat:` line), and the cleanup with `cleanup_wait`; `deadline` is the verb's.
fn provider(wait: &str, cleanup_wait: &str, deadline: u64) -> String {
    format!(
        r#"name: waiter
secrets:
  token: {{}}
api:
  base_url: https://api.digitalocean.invalid
  auth: {{ bearer: "{{{{secrets.token}}}}" }}
  error_message: $.message
  deadline_seconds: {deadline}
configs:
  static:
    - {{ id: "1", descr: "1 vCPU, 2 GB", vars: {{ size: s-1vcpu-2gb }} }}
order:
  steps:
    - request:
        method: POST
        path: /v2/droplets
        json: {{ name: "bx-{{{{task.id}}}}", size: "{{{{config.size}}}}", image: rockylinux-9-x64 }}
      extract: {{ droplet_id: $.droplet.id, action_id: "$.links.actions[0].id" }}
    - request: {{ path: "/v2/actions/{{{{saved.action_id}}}}" }}
      {wait}
      extract: {{ action: $.action.status }}
  hoster_id: "{{{{saved.droplet_id}}}}"
order_status:
  steps:
    - request: {{ path: "/v2/droplets/{{{{saved.droplet_id}}}}" }}
      extract: {{ state: $.droplet.status, ip: "$.droplet.networks.v4[?@.type == 'public'].ip_address" }}
  status:
    value: "{{{{polled.state}}}}"
    map: {{ new: in_progress, active: finished, archive: error }}
  server: "{{{{polled.ip}}}}"
  server_password: "{{{{password}}}}"
cleanup:
  steps:
    - request:
        method: POST
        path: "/v2/droplets/{{{{task.hoster_id}}}}/actions"
        json: {{ type: power_off }}
    - request: {{ path: "/v2/droplets/{{{{task.hoster_id}}}}" }}
      {cleanup_wait}
    - request: {{ method: DELETE, path: "/v2/droplets/{{{{task.hoster_id}}}}" }}
"#
    )
}

const ORDER_WAIT: &str =
    "repeat: { until: \"$[?@.status == 'completed']\", every_seconds: 1, attempts: 5 }";
const CLEANUP_WAIT: &str =
    "repeat: { until: \"$[?@.status == 'off']\", every_seconds: 1, attempts: 2 }";

fn action(status: &str) -> String {
    json!({"action": {"id": 2345678901u64, "status": status, "type": "create", "resource_id": 512345678}})
        .to_string()
}

fn droplet(status: &str) -> String {
    json!({"droplet": {"id": 512345678, "status": status, "networks": {"v4": [
        {"ip_address": "192.0.2.24", "type": "private"},
        {"ip_address": "203.0.113.24", "type": "public"}]}}})
    .to_string()
}

/// `method path` answering `bodies` in turn (the last one again once they run out); the
/// count of requests it received.
fn in_turn(
    server: &mut Server,
    method: &str,
    path: &str,
    bodies: Vec<String>,
) -> (Mock, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let mock = common::authed(server, method, path)
        .with_status(200)
        .with_body_from_request(move |_| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            bodies[n.min(bodies.len() - 1)].clone().into_bytes()
        })
        .create();
    (mock, count)
}

/// The droplet create, expected exactly once, answered with the documented 202.
fn create(server: &mut Server) -> Mock {
    common::json_post(server, "/v2/droplets", json!({"size": "s-1vcpu-2gb"}))
        .with_status(202)
        .with_body(hoster_fixture("digitalocean", "create.json"))
        .expect(1)
        .create()
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_wait_sends_each_attempt_with_the_token_renewed_during_it() {
    // The session ends while the order waits: the read is renewed and resent once, and the
    // attempts after it carry the new token too (not the one the step was first built with).
    let yaml = provider(ORDER_WAIT, CLEANUP_WAIT, 30)
        .replace(
            "  auth: { bearer: \"{{secrets.token}}\" }\n",
            "  login:\n    request: { method: POST, path: /v2/login, json: { key: \"{{secrets.token}}\" } }\n    token: $.token\n  auth: { bearer: \"{{session.token}}\" }\n",
        );
    assert!(yaml.contains("/v2/login"), "the login went into the file");
    let mut server = Server::new();
    let logins = Arc::new(AtomicUsize::new(0));
    let counted = logins.clone();
    let _login = server
        .mock("POST", "/v2/login")
        .with_body_from_request(move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            format!(r#"{{"token": "session-token-{n}"}}"#).into_bytes()
        })
        .create();
    let bought = server
        .mock("POST", "/v2/droplets")
        .match_header("authorization", "Bearer session-token-1")
        .with_status(202)
        .with_body(hoster_fixture("digitalocean", "create.json"))
        .expect(1)
        .create();
    let ended = server
        .mock("GET", "/v2/actions/2345678901")
        .match_header("authorization", "Bearer session-token-1")
        .with_status(401)
        .with_body(r#"{"id": "unauthorized", "message": "Unable to authenticate you"}"#)
        .expect(1)
        .create();
    let reads = Arc::new(AtomicUsize::new(0));
    let seen = reads.clone();
    let renewed = server
        .mock("GET", "/v2/actions/2345678901")
        .match_header("authorization", "Bearer session-token-2")
        .with_body_from_request(move |_| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            action(if n == 0 { "in-progress" } else { "completed" }).into_bytes()
        })
        .expect(2)
        .create();
    let plugin = Plugin::new("waiter", &yaml, &server.url()).secrets("token=api-key-123456\n");
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    bought.assert();
    ended.assert();
    renewed.assert();
    assert_eq!(
        reads.load(Ordering::SeqCst),
        2,
        "the renewed read, then one more attempt"
    );
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    assert_eq!(task_file(&plugin, &task_id)["saved"]["action"], "completed");
}

#[test]
fn an_order_waits_for_its_create_action_and_sends_the_purchase_once() {
    let mut server = Server::new();
    let bought = create(&mut server);
    let (_action, reads) = in_turn(
        &mut server,
        "GET",
        "/v2/actions/2345678901",
        vec![
            action("in-progress"),
            action("in-progress"),
            action("completed"),
        ],
    );
    let plugin = Plugin::new(
        "waiter",
        &provider(ORDER_WAIT, CLEANUP_WAIT, 30),
        &server.url(),
    )
    .secrets(SECRETS);

    let started = Instant::now();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two pauses of a second"
    );
    bought.assert();
    assert_eq!(reads.load(Ordering::SeqCst), 3);
    let task = task_file(&plugin, &task_id);
    assert_eq!(task["stage"], "ordered");
    assert_eq!(task["hoster_id"], "512345678");
    assert_eq!(task["saved"]["action"], "completed");

    common::get_once(
        &mut server,
        "/v2/droplets/512345678",
        200,
        &droplet("active"),
    );
    let password = task["password"].as_str().unwrap();
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "finished", "203.0.113.24", password)
    );
}

/// An order whose create action stays `in-progress`, waited for with `wait` within a verb
/// deadline of `deadline` s: the hoster (the create was sent once), the plugin, the task id,
/// its record, how many action reads were sent, and how long the order took.
fn ordered_while_in_progress(
    wait: &str,
    deadline: u64,
) -> (mockito::ServerGuard, Plugin, String, Value, usize, Duration) {
    let mut server = Server::new();
    let bought = create(&mut server);
    let (_action, reads) = in_turn(
        &mut server,
        "GET",
        "/v2/actions/2345678901",
        vec![action("in-progress")],
    );
    let plugin = Plugin::new(
        "waiter",
        &provider(wait, CLEANUP_WAIT, deadline),
        &server.url(),
    )
    .secrets(SECRETS);
    let started = Instant::now();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    let took = started.elapsed();
    bought.assert();
    let task = task_file(&plugin, &task_id);
    assert_eq!(task["stage"], "ordered");
    assert_eq!(task["hoster_id"], "512345678");
    let reads = reads.load(Ordering::SeqCst);
    (server, plugin, task_id, task, reads, took)
}

#[test]
fn an_order_whose_wait_runs_out_is_handed_out_and_its_polls_follow_it() {
    let wait = "repeat: { until: \"$[?@.status == 'completed']\", every_seconds: 1, attempts: 2 }";
    let (mut server, plugin, task_id, task, reads, _) = ordered_while_in_progress(wait, 30);
    assert_eq!(reads, 2, "`attempts: 2` is two requests");
    let last_state = task["last_state"].as_str().unwrap();
    assert!(last_state.contains("stopped waiting"), "{last_state}");
    assert!(last_state.contains("`attempts` allows 2"), "{last_state}");

    let poll = common::get_once(&mut server, "/v2/droplets/512345678", 200, &droplet("new"));
    assert_eq!(
        common::status(&plugin.run(&["order_status", &task_id])),
        common::in_progress()
    );
    poll.assert();
}

#[test]
fn a_wait_in_an_order_ends_before_the_verbs_deadline() {
    let wait =
        "repeat: { until: \"$[?@.status == 'completed']\", every_seconds: 1, attempts: 1000 }";
    let (_server, _, _, task, reads, took) = ordered_while_in_progress(wait, 4);
    assert!(took < Duration::from_secs(4), "the order took {took:?}");
    assert!(reads >= 2, "it waited: {reads} reads");
    assert!(
        task["last_state"]
            .as_str()
            .unwrap()
            .contains("deadline of 4 s"),
        "{task}"
    );
}

#[test]
fn a_failed_droplet_is_powered_off_waited_for_over_two_polls_and_deleted_once() {
    let mut server = Server::new();
    create(&mut server);
    in_turn(
        &mut server,
        "GET",
        "/v2/actions/2345678901",
        vec![action("completed")],
    );
    let plugin = Plugin::new(
        "waiter",
        &provider(ORDER_WAIT, CLEANUP_WAIT, 30),
        &server.url(),
    )
    .secrets(SECRETS);
    let task_id = common::task_id(&plugin.run(&["order", "1"]));

    let power_off = common::json_post(
        &mut server,
        "/v2/droplets/512345678/actions",
        json!({"type": "power_off"}),
    )
    .with_status(201)
    .with_body(action("in-progress"))
    .expect(1)
    .create();
    // The poll that finds it failed, then two cleanup reads still `archive` (not off yet),
    // then the next poll's read finds it `off`.
    let (_droplet, reads) = in_turn(
        &mut server,
        "GET",
        "/v2/droplets/512345678",
        vec![
            droplet("archive"),
            droplet("archive"),
            droplet("archive"),
            droplet("off"),
        ],
    );
    let deleted = common::authed(&mut server, "DELETE", "/v2/droplets/512345678")
        .with_status(204)
        .expect(1)
        .create();

    let first = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &first,
        &task_id,
        &["archive", "goes on at cleanup step 2 on the next poll"],
    );
    power_off.assert();
    assert_eq!(reads.load(Ordering::SeqCst), 3);
    let task = task_file(&plugin, &task_id);
    assert_eq!(
        (&task["cleanup"], &task["cleanup_next"]),
        (&json!("waiting"), &json!(1))
    );

    let second = plugin.run(&["order_status", &task_id]);
    assert_failed(&second, &task_id, &["archive", "the server was deleted"]);
    assert_eq!(
        reads.load(Ordering::SeqCst),
        4,
        "the wait went on with one read"
    );
    deleted.assert();
    power_off.assert();
    assert_eq!(task_file(&plugin, &task_id)["cleanup"], "done");

    // Done is done: the record answers, nothing is sent.
    let third = plugin.run(&["order_status", &task_id]);
    assert_eq!(third.ok(), second.ok());
    assert_eq!(reads.load(Ordering::SeqCst), 4);
    deleted.assert();
}

#[test]
fn validate_refuses_waits_that_could_resend_or_outlast_a_poll() {
    let plugin = Plugin::new("waiter", "", "http://127.0.0.1:9");
    let cases = [
        // A write that repeats.
        (
            provider(ORDER_WAIT, CLEANUP_WAIT, 30).replace(
                "        json: { type: power_off }\n",
                "        json: { type: power_off }\n      repeat: { until: $.action }\n",
            ),
            "only a `GET` step may repeat",
            "repeat: { until: $.action }",
        ),
        // A wait before the purchase.
        (
            provider(ORDER_WAIT, CLEANUP_WAIT, 30).replace(
                "  steps:\n    - request:\n        method: POST\n        path: /v2/droplets\n",
                "  steps:\n    - request: { path: /v2/account }\n      repeat: { until: $.account }\n    - request:\n        method: POST\n        path: /v2/droplets\n",
            ),
            "an order waits only after the step that buys",
            "repeat: { until: $.account }",
        ),
        // A poll that waits.
        (
            provider(ORDER_WAIT, CLEANUP_WAIT, 30).replace(
                "      extract: { state: $.droplet.status",
                "      repeat: { until: $.droplet }\n      extract: { state: $.droplet.status",
            ),
            "a poll does not wait",
            "repeat: { until: $.droplet }",
        ),
        // Bounds out of range.
        (
            provider(
                "repeat: { until: $.action, every_seconds: 0, attempts: 5000, seconds: 601 }",
                CLEANUP_WAIT,
                30,
            ),
            "`0` is out of range",
            "every_seconds: 0",
        ),
        (
            provider("repeat: { until: $.action, attempts: 5000 }", CLEANUP_WAIT, 30),
            "`5000` is out of range",
            "attempts: 5000",
        ),
        (
            provider("repeat: { until: \"$.[\" }", CLEANUP_WAIT, 30),
            "JSONPath",
            "until: \"$.[\"",
        ),
        // A misspelt key.
        (
            provider("repeat: { untill: $.action }", CLEANUP_WAIT, 30),
            "did you mean `until`?",
            "untill",
        ),
    ];
    for (yaml, says, key) in cases {
        // The problem is reported at the key's line and column.
        let (line, text) = yaml
            .lines()
            .enumerate()
            .find(|(_, text)| text.contains(key))
            .unwrap();
        let place = format!(":{}:{}", line + 1, text.find(key).unwrap() + 1);
        std::fs::write(plugin.provider_file(), &yaml).unwrap();
        let output = plugin.operator(&["validate", plugin.provider_file().to_str().unwrap()]);
        let report = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{report}");
        assert!(report.contains(says), "`{says}` not in {report}");
        assert!(
            report.contains(&format!("waiter.yaml{place}")),
            "`{place}` not in {report}"
        );
    }
    std::fs::write(
        plugin.provider_file(),
        provider(ORDER_WAIT, CLEANUP_WAIT, 30),
    )
    .unwrap();
    let output = plugin.operator(&["validate", plugin.provider_file().to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
