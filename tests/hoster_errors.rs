//! What the hoster can do wrong, and what the panel is told: the hoster's own message, what
//! to do, never a secret, never a second purchase.

mod common;

use common::{Plugin, fixture};
use mockito::Server;
use serde_json::json;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-secret-123";

/// The testhost provider with its configs fetched from `/plans`, so reads can be tested.
fn fetching(base_url: &str) -> Plugin {
    Plugin::new("testhost", &common::fetching_testhost_yaml(), base_url)
        .secrets(&format!("token={TOKEN}\n"))
}

fn plans_ok(server: &mut Server) -> mockito::Mock {
    server
        .mock("GET", "/plans")
        .with_body(r#"{"plans":[{"name":"cx22"}]}"#)
        .create()
}

fn configs_error(status: usize, body: &str) -> String {
    let mut server = Server::new();
    let plugin = fetching(&server.url());
    server
        .mock("GET", "/plans")
        .with_status(status)
        .with_body(body)
        .create();
    let run = plugin.run(&["configs"]);
    let message = run.error_message().to_owned();
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "a secret leaked: {}",
        run.stdout
    );
    message
}

#[test]
fn unauthorized_carries_the_hosters_message_and_says_check_the_token() {
    let message = configs_error(
        401,
        r#"{"error":{"code":"unauthorized","message":"unable to authenticate"}}"#,
    );
    assert!(
        message.contains("401 Unauthorized") && message.contains("unable to authenticate"),
        "{message}"
    );
    assert!(message.contains("check the API token"), "{message}");
    assert!(
        message.contains("testhost.yaml:") && message.contains("configs.fetch.request"),
        "{message}"
    );
}

#[test]
fn a_hoster_message_that_echoes_the_token_is_redacted() {
    let message = configs_error(
        403,
        &json!({"error": {"message": format!("token {TOKEN} lacks rights")}}).to_string(),
    );
    assert!(message.contains("token *** lacks rights"), "{message}");
}

/// A mock hoster, the plugin, and the id of a task ordered from it (server 42).
fn ordered() -> (mockito::ServerGuard, Plugin, String) {
    let mut server = Server::new();
    let plugin = fetching(&server.url());
    plans_ok(&mut server);
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(r#"{"server":{"id":42}}"#)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "cx22"]));
    (server, plugin, task_id)
}

#[test]
fn not_found_on_a_poll() {
    let (mut server, plugin, task_id) = ordered();
    server
        .mock("GET", "/servers/42")
        .with_status(404)
        .with_body(r#"{"error":{"code":"not_found","message":"server not found"}}"#)
        .create();
    let message = plugin
        .run(&["order_status", &task_id])
        .error_message()
        .to_owned();
    assert!(
        message.contains("404 Not Found") && message.contains("server not found"),
        "{message}"
    );
}

#[test]
fn a_refused_order_reaches_the_panel_and_is_recorded_as_refused() {
    let mut server = Server::new();
    let plugin = fetching(&server.url());
    plans_ok(&mut server);
    let create = server
        .mock("POST", "/servers")
        .with_status(422)
        .with_body(r#"{"error":{"code":"invalid_input","message":"server type cx22 is sold out"}}"#)
        .expect(1)
        .create();
    let message = plugin.run(&["order", "cx22"]).error_message().to_owned();
    assert!(
        message.contains("422 Unprocessable Entity") && message.contains("sold out"),
        "{message}"
    );
    create.assert();
    let task = plugin.only_task();
    assert_eq!(task["stage"], "refused");
}

#[test]
fn an_order_is_never_retried_and_a_500_may_hide_a_purchase() {
    let mut server = Server::new();
    let plugin = fetching(&server.url());
    plans_ok(&mut server);
    let create = server
        .mock("POST", "/servers")
        .with_status(500)
        .with_body("{}")
        .expect(1)
        .create();
    let message = plugin.run(&["order", "cx22"]).error_message().to_owned();
    assert!(message.contains("500 Internal Server Error"), "{message}");
    // A gateway's 5xx may come after the hoster took the order: never "try again".
    assert!(
        message.contains("may have been placed") && message.contains("before ordering again"),
        "{message}"
    );
    create.assert();
    let task = plugin.only_task();
    assert_eq!(task["stage"], "unknown");
}

#[test]
fn a_hoster_that_cannot_be_reached_was_not_ordered_from() {
    // Nothing listens on port 9 of loopback: the connection is refused, nothing was sent.
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        "http://127.0.0.1:9",
    )
    .secrets(&format!("token={TOKEN}\n"));
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(
        message.contains("cannot connect") && message.contains("nothing was sent"),
        "{message}"
    );
    let task = plugin.only_task();
    assert_eq!(task["stage"], "refused");
}

#[test]
fn reads_are_retried_after_429_and_500() {
    let mut server = Server::new();
    let plugin = fetching(&server.url());
    let limited = server
        .mock("GET", "/plans")
        .with_status(429)
        .with_header("retry-after", "1")
        .with_body("{}")
        .expect(1)
        .create();
    let broken = server
        .mock("GET", "/plans")
        .with_status(503)
        .with_body("<html>busy</html>")
        .expect(1)
        .create();
    let fine = server
        .mock("GET", "/plans")
        .with_body(r#"{"plans":[{"name":"cx22"}]}"#)
        .expect(1)
        .create();
    let started = Instant::now();
    let reply = plugin.run(&["configs"]);
    assert_eq!(reply.ok()["configurations"][0]["id"], "cx22");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    limited.assert();
    broken.assert();
    fine.assert();
}

#[test]
fn rate_limited_for_longer_than_the_deadline_gives_up_with_a_message() {
    let message = configs_error(429, r#"{"error":{"message":"rate limit exceeded"}}"#);
    assert!(
        message.contains("429 Too Many Requests") && message.contains("rate limit exceeded"),
        "{message}"
    );
    assert!(message.contains("wait a minute"), "{message}");
}

#[test]
fn malformed_json_html_pages_and_empty_bodies() {
    let message = configs_error(200, r#"{"plans": [{"name": "cx22"}"#);
    assert!(message.contains("is not JSON"), "{message}");
    let message = configs_error(502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
    assert!(
        message.contains("502 Bad Gateway") && message.contains("an HTML page"),
        "{message}"
    );
    let message = configs_error(500, "");
    assert!(message.contains("an empty body"), "{message}");
}

#[test]
fn an_empty_success_answer_to_a_poll_is_an_unexpected_state() {
    let (mut server, plugin, task_id) = ordered();
    server
        .mock("GET", "/servers/42")
        .with_status(200)
        .with_body("")
        .create();
    let message = plugin
        .run(&["order_status", &task_id])
        .error_message()
        .to_owned();
    assert!(message.contains("the state ``"), "{message}");
}

/// A hoster that accepts connections and never answers; counts the connections.
fn silent_hoster() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, connections)
}

#[test]
fn a_hang_ends_at_the_deadline() {
    let (url, _) = silent_hoster();
    let plugin = fetching(&url);
    let started = Instant::now();
    let message = plugin.run(&["configs"]).error_message().to_owned();
    let took = started.elapsed();
    assert!(message.contains("within the deadline of 3 s"), "{message}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn an_order_without_an_answer_is_sent_once_recorded_as_unknown_and_says_check_the_console() {
    let (url, connections) = silent_hoster();
    let plugin = Plugin::new("testhost", &fixture("providers/testhost.yaml"), &url)
        .secrets(&format!("token={TOKEN}\n"));
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(
        message.contains("within the deadline") && message.contains("may have been placed"),
        "{message}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the purchase was sent exactly once"
    );
    let task = plugin.only_task();
    assert_eq!(task["stage"], "unknown");
    let task_id = task["id"].as_str().unwrap();
    assert!(
        plugin
            .run(&["order_status", task_id])
            .error_message()
            .contains("may have been ordered")
    );
}
