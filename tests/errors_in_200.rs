//! Errors inside 2xx answers (`error_when`), through the panel's symlink against a loopback
//! mock of a BILLmanager-like API: every answer is a 200, and an error is an object
//! `{"doc":{"error":{"$type":...,"msg":{"$":"..."}}}}`. A wrong password must fail `configs`
//! (and cache nothing) and `check`; a refused purchase must be a refusal with the hoster's
//! words; a poll answered with an error must be an error object.

mod common;

use common::{Plugin, operator};
use mockito::{Matcher, Server};

const PASSWORD: &str = "pw-secret-42";

/// The provider file: the billing panel's `func`s, errors found at `$.doc.error`.
const BILLING: &str = r#"name: billing
secrets:
  user: {}
  password: {}
api:
  base_url: https://billing.invalid
  auth:
    query: { name: authinfo, value: "{{secrets.user}}:{{secrets.password}}" }
  error_when: $.doc.error
  error_message: "$.doc.error.msg['$']"
configs:
  fetch:
    request:
      path: /billmgr
      query: { func: v2.vds.order.pricelist, out: json }
    items: $.doc.elem[*]
    id: "{{item.id}}"
    descr: "{{item.name}}"
    vars: { pricelist: "{{item.id}}" }
order:
  steps:
    - request:
        method: POST
        path: /billmgr
        form: { func: vds.order.param, out: json, pricelist: "{{config.pricelist}}", sok: ok }
      # The purchase's refusal says more in `detail`: this step reads it instead of `msg`.
      error_message: "$.doc.error.detail['$']"
      extract: { server_id: "$.doc.id['$']" }
  hoster_id: "{{saved.server_id}}"
order_status:
  steps:
    - request:
        path: /billmgr
        query: { func: vds.edit, elid: "{{saved.server_id}}", out: json }
      extract: { state: "$.doc.status['$']", ip: "$.doc.ip['$']" }
  status: { value: "{{polled.state}}", map: { "2": finished, "1": in_progress } }
  server: "{{polled.ip}}"
  server_password: "{{password}}"
"#;

const AUTH_ERROR: &str =
    r#"{"doc":{"error":{"$type":"auth","msg":{"$":"Invalid username or password"}}}}"#;
const PRICELIST: &str = r#"{"doc":{"elem":[{"id":"7","name":"VDS 2 GB"}]}}"#;

fn plugin(server: &Server) -> Plugin {
    Plugin::new("billing", BILLING, &server.url())
        .secrets(&format!("user=admin\npassword={PASSWORD}\n"))
}

/// `GET /billmgr?func=<func>` answering 200 with `body`, `hits` times.
fn func(server: &mut Server, func: &str, body: &str, hits: usize) -> mockito::Mock {
    server
        .mock("GET", "/billmgr")
        .match_query(Matcher::UrlEncoded("func".into(), func.into()))
        .with_body(body)
        .expect(hits)
        .create()
}

#[test]
fn a_wrong_password_fails_configs_with_the_hosters_words_and_is_not_cached() {
    let mut server = Server::new();
    let mock = func(&mut server, "v2.vds.order.pricelist", AUTH_ERROR, 2);
    let plugin = plugin(&server);
    for _ in 0..2 {
        let run = plugin.run(&["configs"]);
        let message = run.error_message();
        assert!(
            message.contains("Invalid username or password")
                && message.contains("read the hoster's message above"),
            "{message}"
        );
        assert!(!message.contains(PASSWORD), "{message}");
    }
    // The second run asked the hoster again: the failed menu was not cached.
    mock.assert();
}

#[test]
fn check_fails_on_an_error_inside_a_200() {
    let mut server = Server::new();
    func(&mut server, "v2.vds.order.pricelist", AUTH_ERROR, 1);
    let plugin = plugin(&server);
    let output = operator(&["check", "billing"], &plugin.env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("ok"), "{stdout}");
    assert!(stderr.contains("Invalid username or password"), "{stderr}");
}

#[test]
fn a_purchase_answered_200_with_an_error_is_refused_in_the_hosters_words() {
    let mut server = Server::new();
    func(&mut server, "v2.vds.order.pricelist", PRICELIST, 1);
    let buy = server
        .mock("POST", "/billmgr")
        .match_query(Matcher::Any)
        .with_body(r#"{"doc":{"error":{"$type":"account","msg":{"$":"Payment error"},"detail":{"$":"Insufficient funds on the account"}}}}"#)
        .expect(1)
        .create();
    let plugin = plugin(&server);
    let run = plugin.run(&["order", "7"]);
    let message = run.error_message();
    assert!(
        message.contains("Insufficient funds on the account")
            && message.contains("nothing was bought"),
        "{message}"
    );
    assert!(!message.contains("may have been placed"), "{message}");
    buy.assert();
    let task = plugin.only_task();
    assert_eq!(task["stage"], "refused", "{task}");
    let id = task["id"].as_str().unwrap();
    let poll = plugin.run(&["order_status", id]);
    assert!(poll.error_message().contains("refused"), "{}", poll.stdout);
}

#[test]
fn a_poll_answered_200_with_an_error_is_an_error_object() {
    let mut server = Server::new();
    func(&mut server, "v2.vds.order.pricelist", PRICELIST, 1);
    server
        .mock("POST", "/billmgr")
        .match_query(Matcher::Any)
        .with_body(r#"{"doc":{"id":{"$":"501"}}}"#)
        .create();
    func(
        &mut server,
        "vds.edit",
        r#"{"doc":{"error":{"$type":"access","msg":{"$":"Access denied to item 501"}}}}"#,
        1,
    );
    let plugin = plugin(&server);
    let order = plugin.run(&["order", "7"]);
    let id = order.ok()["task_id"].as_str().unwrap().to_owned();
    let poll = plugin.run(&["order_status", &id]);
    assert!(
        poll.error_message().contains("Access denied to item 501"),
        "{}",
        poll.stdout
    );
}
