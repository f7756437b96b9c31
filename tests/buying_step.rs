//! The buying step is said, not guessed: with a login `POST` before the purchase, only the
//! step marked `buys: true` can have bought a server. A failure on the login, or a refusal of
//! the purchase, says nothing was bought (task `refused`); `validate` refuses a file where the
//! buying step is ambiguous, at its place in the file.

mod common;

use common::{Plugin, validate_yaml};
use mockito::Server;

/// A hoster that wants a session from `POST /login` before `POST /servers` buys; `buys` is
/// written on the purchase step as `purchase_extra`.
fn provider(purchase_extra: &str) -> String {
    format!(
        r#"name: session
secrets:
  password: {{}}
api:
  base_url: https://api.session.invalid
  error_message: $.error
configs:
  static:
    - id: "1"
      descr: "Small"
      vars: {{ plan: small }}
order:
  steps:
    - request:
        method: POST
        path: /login
        json: {{ password: "{{{{secrets.password}}}}" }}
      extract: {{ session: $.session }}
    - request:
        method: POST
        path: /servers
        headers: {{ X-Session: "{{{{saved.session}}}}" }}
        json: {{ plan: "{{{{config.plan}}}}" }}
{purchase_extra}      extract: {{ server_id: $.id }}
  hoster_id: "{{{{saved.server_id}}}}"
order_status:
  steps:
    - request: {{ path: "/servers/{{{{saved.server_id}}}}" }}
      extract: {{ state: $.state, ip: $.ip }}
  status: {{ value: "{{{{polled.state}}}}", map: {{ running: finished }} }}
  server: "{{{{polled.ip}}}}"
  server_password: "{{{{password}}}}"
"#
    )
}

const MARKED: &str = "      buys: true\n";

fn plugin(server: &Server) -> Plugin {
    Plugin::new("session", &provider(MARKED), &server.url()).secrets("password=pw-secret-9\n")
}

/// The failed order's message, checked to say nothing was bought, with the task `refused`.
fn assert_nothing_bought(plugin: &Plugin, says: &str) {
    let run = plugin.run(&["order", "1"]);
    let message = run.error_message();
    assert!(
        message.contains(says) && message.contains("nothing was bought"),
        "{message}"
    );
    assert!(!message.contains("may have been placed"), "{message}");
    assert!(!message.contains("was ordered"), "{message}");
    assert_eq!(plugin.only_task()["stage"], "refused");
}

#[test]
fn a_401_on_the_purchase_after_a_login_is_a_refusal() {
    let mut server = Server::new();
    server
        .mock("POST", "/login")
        .with_body(r#"{"session":"s-1"}"#)
        .create();
    let buy = server
        .mock("POST", "/servers")
        .with_status(401)
        .with_body(r#"{"error":"session expired"}"#)
        .expect(1)
        .create();
    assert_nothing_bought(&plugin(&server), "session expired");
    buy.assert();
}

#[test]
fn a_failed_login_says_nothing_was_bought_and_never_sends_the_purchase() {
    let mut server = Server::new();
    server
        .mock("POST", "/login")
        .with_status(500)
        .with_body(r#"{"error":"login service down"}"#)
        .create();
    let buy = server.mock("POST", "/servers").expect(0).create();
    assert_nothing_bought(&plugin(&server), "login service down");
    buy.assert();
}

#[test]
fn the_marked_step_buys_after_the_login() {
    let mut server = Server::new();
    server
        .mock("POST", "/login")
        .with_body(r#"{"session":"s-1"}"#)
        .create();
    server
        .mock("POST", "/servers")
        .match_header("x-session", "s-1")
        .with_body(r#"{"id":"77"}"#)
        .create();
    let plugin = plugin(&server);
    let run = plugin.run(&["order", "1"]);
    assert!(run.ok()["task_id"].is_string());
    let task = plugin.only_task();
    assert_eq!(
        (&task["stage"], &task["hoster_id"]),
        (&"ordered".into(), &"77".into())
    );
}

/// `vps-provider validate` on `yaml`: whether it failed, and its report.
fn validate(yaml: &str) -> (bool, String) {
    let validation = validate_yaml("session.yaml", yaml);
    (validation.code != Some(0), validation.report())
}

/// `file:line:col` of the `nth` (0-based) `needle` in `yaml`.
fn place(yaml: &str, needle: &str, nth: usize) -> String {
    let at = yaml
        .match_indices(needle)
        .nth(nth)
        .expect("the needle is there")
        .0;
    let line = yaml[..at].matches('\n').count() + 1;
    let col = at - yaml[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("session.yaml:{line}:{col}")
}

#[test]
fn validate_refuses_two_buying_steps_at_the_second() {
    let yaml = provider(MARKED).replace(
        "      extract: { session: $.session }",
        "      buys: true\n      extract: { session: $.session }",
    );
    let (failed, report) = validate(&yaml);
    assert!(failed, "{report}");
    assert!(report.contains("only one step buys"), "{report}");
    assert!(report.contains(&place(&yaml, "buys: true", 1)), "{report}");
}

#[test]
fn validate_refuses_two_writing_steps_without_a_marker() {
    let yaml = provider("");
    let (failed, report) = validate(&yaml);
    assert!(failed, "{report}");
    assert!(
        report.contains("none says which one buys") && report.contains("add `buys: true`"),
        "{report}"
    );
    assert!(
        report.contains(&place(&yaml, "method: POST", 1)),
        "{report}"
    );
    // Marked, the same file is valid.
    let (failed, report) = validate(&provider(MARKED));
    assert!(!failed, "{report}");
}

#[test]
fn validate_refuses_buys_on_a_read_or_outside_the_order() {
    let yaml = provider(MARKED).replace(
        "    - request: { path: \"/servers/{{saved.server_id}}\" }",
        "    - request: { path: \"/servers/{{saved.server_id}}\" }\n      buys: true",
    );
    let (failed, report) = validate(&yaml);
    assert!(failed, "{report}");
    assert!(report.contains("only an `order` step buys"), "{report}");
    assert!(report.contains(&place(&yaml, "buys: true", 1)), "{report}");

    let yaml = provider(MARKED).replace(
        "        method: POST\n        path: /servers",
        "        path: /servers",
    );
    let (failed, report) = validate(&yaml);
    assert!(failed, "{report}");
    assert!(report.contains("a `GET` step cannot buy"), "{report}");
}
