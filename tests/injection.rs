//! Values cannot change the shape of a request: settings from the site's file and values from
//! the hoster's answers, holding quotes, backslashes, braces, `{{`, slashes, `..`, `?`, `#`,
//! `%2F`, line breaks, NUL and long unicode, arrive at the mock hoster as exactly one path
//! segment, one query value, one header value or one JSON string, or are refused (a header
//! cannot hold a line break).

mod common;

use common::Plugin;
use mockito::{Matcher, Server, ServerGuard};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-inject-0042";

/// Everything a single line of the secrets file can carry that means something in a URL, a
/// template, a header or JSON.
const HOSTILE: &str = r#"a"b\c}{{secrets.token}}{{{x}}}/../x?y=1&z=2#f%2F..%00'<>[]$"#;

/// A test provider whose order and poll put values everywhere a request has structure.
const YAML: &str = r#"
name: inject
secrets:
  token:
    env: INJECT_TOKEN
settings:
  label: plain
  region: fsn1
api:
  base_url: https://api.inject.invalid
  auth:
    header: { name: X-Api-Key, value: "{{secrets.token}}" }
  headers:
    X-Label: "{{settings.label}}"
  deadline_seconds: 20
configs:
  static:
    - id: "1"
      descr: "One"
      vars: { plan: "{{settings.label}}" }
order:
  steps:
    - request:
        method: POST
        path: "/servers/{{settings.label}}/create"
        query: { tag: "{{settings.label}}" }
        json:
          name: "bx-{{task.id}}"
          label: "{{settings.label}}"
          region: "{{settings.region}}"
          nested: { plan: "{{config.plan}}", mixed: "a {{settings.label}} b" }
      buys: true
      extract:
        server_id: $.server.id
  hoster_id: "{{saved.server_id}}"
order_status:
  steps:
    - request:
        path: "/servers/{{saved.server_id}}"
        query: { id: "{{saved.server_id}}" }
        headers: { X-Server: "{{saved.server_id}}" }
      extract:
        state: $.status
  status:
    value: "{{polled.state}}"
    map: { running: finished }
    otherwise: in_progress
  server: "192.0.2.10"
  server_password: "{{task.password}}"
"#;

/// One request the mock hoster received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Seen {
    /// The path's segments, each percent-decoded.
    fn segments(&self) -> Vec<String> {
        let path = self.path_and_query.split('?').next().unwrap();
        path.split('/').map(decoded).collect()
    }

    /// The query's pairs, each side percent-decoded.
    fn query(&self) -> Vec<(String, String)> {
        let Some((_, query)) = self.path_and_query.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (decoded(name), decoded(value))
            })
            .collect()
    }

    fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

fn decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8().unwrap().into_owned()
}

/// A mock hoster that records every request, takes orders as server `server_id` and reports
/// every server running.
fn hoster(server: &mut ServerGuard, server_id: Value) -> Arc<Mutex<Vec<Seen>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    for (method, answer) in [
        ("POST", json!({"server": {"id": server_id}})),
        ("GET", json!({"status": "running"})),
    ] {
        let keep = seen.clone();
        server
            .mock(method, Matcher::Any)
            .with_status(200)
            .with_body_from_request(move |request| {
                keep.lock().unwrap().push(Seen {
                    method: request.method().to_owned(),
                    path_and_query: request.path_and_query().to_owned(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                        .collect(),
                    body: request.body().unwrap().clone(),
                });
                answer.to_string().into_bytes()
            })
            .create();
    }
    seen
}

fn plugin(server: &ServerGuard, settings: &str) -> Plugin {
    Plugin::new("inject", YAML, &server.url()).secrets(&format!("token={TOKEN}\n{settings}"))
}

/// No request carries the token anywhere but in its own header.
fn assert_token_only_in_its_header(seen: &[Seen]) {
    for request in seen {
        assert!(!request.path_and_query.contains(TOKEN), "{request:?}");
        assert!(!String::from_utf8_lossy(&request.body).contains(TOKEN));
        for (name, value) in &request.headers {
            let carries = String::from_utf8_lossy(value).contains(TOKEN);
            assert_eq!(carries, name == "x-api-key", "{name}: {request:?}");
        }
    }
}

#[test]
fn settings_with_every_special_character_keep_their_place_in_the_order() {
    let long_unicode = "𝄞ü€中\u{200b}".repeat(400);
    let mut server = Server::new();
    let seen = hoster(&mut server, json!(42));
    let plugin = plugin(
        &server,
        &format!("label={HOSTILE}\nregion={long_unicode}\n"),
    );
    let task_id = common::task_id(&plugin.run(&["order", "1"]));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let order = &seen[0];
    assert_eq!(order.method, "POST");
    assert_eq!(
        order.segments(),
        ["", "servers", HOSTILE, "create"],
        "{order:?}"
    );
    assert_eq!(order.query(), [("tag".to_owned(), HOSTILE.to_owned())]);
    assert_eq!(order.header("x-label"), [HOSTILE.as_bytes()]);
    let body: Value = serde_json::from_slice(&order.body).unwrap();
    assert_eq!(
        body,
        json!({
            "name": format!("bx-{task_id}"),
            "label": HOSTILE,
            "region": long_unicode,
            "nested": {"plan": HOSTILE, "mixed": format!("a {HOSTILE} b")},
        })
    );
    assert_token_only_in_its_header(&seen);
}

#[test]
fn hoster_values_with_every_special_character_stay_one_segment_one_value_and_one_header() {
    // Everything but a line break or NUL, which a header cannot carry (see the next test).
    let server_id = format!("../42/{HOSTILE}");
    let mut server = Server::new();
    let seen = hoster(&mut server, json!(server_id));
    let plugin = plugin(&server, "");
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    let poll = plugin.run(&["order_status", &task_id]);
    assert_eq!(common::status(&poll).0, "finished");

    let seen = seen.lock().unwrap();
    let status = &seen[1];
    assert_eq!(status.method, "GET");
    assert_eq!(status.segments(), ["", "servers", server_id.as_str()]);
    assert_eq!(status.query(), [("id".to_owned(), server_id.clone())]);
    assert_eq!(status.header("x-server"), [server_id.as_bytes()]);
    assert_token_only_in_its_header(&seen);
}

#[test]
fn values_that_would_split_the_path_or_break_a_header_are_refused_before_sending() {
    for (server_id, says) in [
        ("..", "`.` or `..` segment"),
        (".", "`.` or `..` segment"),
        ("42\r\nX-Injected: yes", "line break, NUL"),
        ("42\nX-Injected: yes", "line break, NUL"),
        ("42\u{0}", "line break, NUL"),
    ] {
        let mut server = Server::new();
        let seen = hoster(&mut server, json!(server_id));
        let plugin = plugin(&server, "");
        let task_id = common::task_id(&plugin.run(&["order", "1"]));
        let poll = plugin.run(&["order_status", &task_id]);
        common::assert_error_says(&poll, &[says]);
        assert!(!poll.stdout.contains("X-Injected"), "{}", poll.stdout);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "only the order was sent: {seen:?}");
    }
}

#[test]
fn a_hoster_value_in_a_json_body_stays_one_json_string() {
    // The id the hoster gave goes back to it in a second step's body.
    let yaml = YAML.replace(
        "  hoster_id: \"{{saved.server_id}}\"",
        "    - request:\n        method: POST\n        path: /actions\n        json: { server: \"{{saved.server_id}}\", note: \"id={{saved.server_id}}\" }\n  hoster_id: \"{{saved.server_id}}\"",
    );
    let server_id = format!("42\", \"admin\": true, \"x\": \"\n\u{0}{HOSTILE}");
    let mut server = Server::new();
    let seen = hoster(&mut server, json!(server_id));
    let plugin = Plugin::new("inject", &yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    common::task_id(&plugin.run(&["order", "1"]));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let body: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(
        body,
        json!({"server": server_id, "note": format!("id={server_id}")})
    );
}
