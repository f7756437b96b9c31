//! Every body kind and whole answers, through the panel's symlink against a mock hoster on
//! loopback that records what it received: form bodies, raw text bodies, the file's headers
//! replacing the defaults (never two of one name), and values taken from response headers and
//! the status code.

mod common;

use common::{Plugin, operator, position, validate_yaml};
use mockito::Server;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-secret-123";

/// One request as the hoster received it.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    /// Every value of header `name` that arrived.
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Mocks `method path` answering `status` with `headers` and `body`, recording each request.
fn record(
    server: &mut Server,
    method: &str,
    path: &str,
    status: usize,
    headers: &[(&str, &str)],
    body: &str,
) -> Arc<Mutex<Vec<Received>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    let mut mock = server
        .mock(method, path)
        .match_request(move |request| {
            into.lock().unwrap().push(Received {
                headers: request
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect(),
                body: request.body().cloned().unwrap_or_default(),
            });
            true
        })
        .with_status(status);
    for (name, value) in headers {
        mock = mock.with_header(*name, value);
    }
    mock.with_body(body).create();
    seen
}

/// The one request `seen` holds.
fn only(seen: &Arc<Mutex<Vec<Received>>>) -> Received {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "exactly one request arrived: {seen:?}");
    seen[0].clone()
}

/// A provider whose order is `steps` (YAML at the indent of `order.steps` items) and whose
/// `api` section ends with `api_extra`; a poll reads `/servers/{{saved.server_id}}`.
fn provider(api_extra: &str, steps: &str) -> String {
    format!(
        r#"name: bodies
secrets:
  token: {{}}
  root_pw: {{}}
api:
  base_url: https://api.bodies.invalid/v1
  auth: {{ bearer: "{{{{secrets.token}}}}" }}
{api_extra}configs:
  static:
    - {{ id: "1", descr: "Small", vars: {{ plan: small }} }}
order:
  steps:
{steps}  hoster_id: "{{{{saved.server_id}}}}"
order_status:
  steps:
    - request: {{ path: "/servers/{{{{saved.server_id}}}}" }}
      extract: {{ state: $.status, ip: $.ip }}
  status: {{ value: "{{{{polled.state}}}}", map: {{ running: finished }} }}
  server: "{{{{polled.ip}}}}"
  server_password: "{{{{password}}}}"
"#
    )
}

fn plugin(server: &Server, yaml: &str) -> Plugin {
    Plugin::new("bodies", yaml, &server.url())
        .secrets(&format!("token={TOKEN}\nroot_pw=a&b=c+d e%\n"))
}

#[test]
fn a_form_body_is_url_encoded_with_one_content_type() {
    let mut server = Server::new();
    let create = record(&mut server, "POST", "/servers", 201, &[], r#"{"id": 42}"#);
    let yaml = provider(
        "",
        r#"    - request:
        method: POST
        path: /servers
        form:
          plan: "{{config.plan}}"
          password: "{{secrets.root_pw}}"
          zone?: ""
          tags: [web, "{{config.plan}}"]
          count: 2
      extract: { server_id: $.id }
"#,
    );
    let plugin = plugin(&server, &yaml);
    plugin.run(&["order", "1"]).ok();
    let received = only(&create);
    assert_eq!(
        received.values("content-type"),
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(
        String::from_utf8(received.body).unwrap(),
        "plan=small&password=a%26b%3Dc%2Bd%20e%25&tags=web&tags=small&count=2"
    );
    assert_eq!(plugin.only_task()["hoster_id"], "42");

    // The dry run shows the same body, with the password hidden in its encoded form.
    let output = operator(&["run", "bodies", "order", "1", "--dry-run"], &plugin.env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("-H 'Content-Type: application/x-www-form-urlencoded' --data-raw 'plan=small&password=***&tags=web&tags=small&count=2'"),
        "{stdout}"
    );
}

#[test]
fn a_raw_text_patch_is_sent_byte_for_byte_with_one_content_type() {
    let mut server = Server::new();
    record(&mut server, "POST", "/servers", 201, &[], r#"{"id": 42}"#);
    // The hoster answers the PATCH with plain text: nothing is read from it, so that is fine.
    let patch = record(
        &mut server,
        "PATCH",
        "/servers/42/user_data",
        200,
        &[],
        "OK",
    );
    let yaml = provider(
        "",
        r#"    - request: { method: POST, path: /servers, json: { plan: "{{config.plan}}" } }
      buys: true
      extract: { server_id: $.id }
    - request:
        method: PATCH
        path: "/servers/{{saved.server_id}}/user_data"
        body:
          content_type: text/plain
          text: |
            #cloud-config
            hostname: bx-{{saved.server_id}}
            runcmd:
              - echo "a & b" > /tmp/x
"#,
    );
    let plugin = plugin(&server, &yaml);
    plugin.run(&["order", "1"]).ok();
    let task = plugin.only_task();
    assert_eq!(task["stage"], "ordered", "{task}");
    let received = only(&patch);
    assert_eq!(received.values("content-type"), ["text/plain"]);
    assert_eq!(received.values("accept"), ["application/json"]);
    assert_eq!(
        received.body,
        b"#cloud-config\nhostname: bx-42\nruncmd:\n  - echo \"a & b\" > /tmp/x\n"
    );

    // The dry run's curl line carries the text as it is, quoted for the shell.
    let output = operator(&["run", "bodies", "order", "1", "--dry-run"], &plugin.env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("-H 'Content-Type: text/plain' --data-raw '#cloud-config\nhostname: bx-<saved.server_id>\nruncmd:\n  - echo \"a & b\" > /tmp/x\n'"),
        "{stdout}"
    );
}

#[test]
fn headers_the_file_sets_replace_the_defaults_in_any_letter_case() {
    let mut server = Server::new();
    let create = record(&mut server, "POST", "/servers", 201, &[], r#"{"id": 42}"#);
    let yaml = provider(
        "  headers: { content-TYPE: application/vnd.api+json, ACCEPT: application/vnd.api+json }\n",
        r#"    - request:
        method: POST
        path: /servers
        headers: { content-type: application/merge-patch+json }
        json: { plan: "{{config.plan}}" }
      extract: { server_id: $.id }
"#,
    );
    plugin(&server, &yaml).run(&["order", "1"]).ok();
    let received = only(&create);
    assert_eq!(
        received.values("content-type"),
        ["application/merge-patch+json"]
    );
    assert_eq!(received.values("accept"), ["application/vnd.api+json"]);
    assert_eq!(received.body, br#"{"plan":"small"}"#);
}

#[test]
fn the_hoster_id_comes_from_the_location_of_a_201_that_is_not_json() {
    let mut server = Server::new();
    record(
        &mut server,
        "POST",
        "/servers",
        201,
        &[("Location", "/servers/42")],
        "Created",
    );
    record(
        &mut server,
        "GET",
        "/servers/42",
        200,
        &[],
        r#"{"status": "running", "ip": "203.0.113.7"}"#,
    );
    let yaml = provider(
        "",
        r#"    - request: { method: POST, path: /servers, json: { plan: "{{config.plan}}" } }
      extract:
        server_id: { header: location, pattern: "/servers/([^/?]+)$" }
        created: { status: true }
"#,
    );
    let plugin = plugin(&server, &yaml);
    let task_id = plugin.run(&["order", "1"]).ok()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let task = plugin.only_task();
    assert_eq!(task["hoster_id"], "42");
    assert_eq!(task["saved"]["created"], 201);
    let status = plugin.run(&["order_status", &task_id]);
    assert_eq!(status.ok()["status"], "finished", "{}", status.stdout);
    assert_eq!(status.json["server"], "203.0.113.7");
}

#[test]
fn the_status_code_is_a_polled_value() {
    let mut server = Server::new();
    record(&mut server, "POST", "/servers", 201, &[], r#"{"id": 42}"#);
    let not_yet = server
        .mock("GET", "/servers/42")
        .with_status(404)
        .with_body(r#"{"error": "not found"}"#)
        .create();
    let yaml = provider(
        "  failure_statuses: [\"300-403\", \"405-599\"]\n",
        "    - request: { method: POST, path: /servers }\n      extract: { server_id: $.id }\n",
    )
    .replace(
        "extract: { state: $.status, ip: $.ip }",
        "extract: { code: { status: true }, state: $.status, ip: $.ip }",
    )
    .replace(
        "value: \"{{polled.state}}\", map: { running: finished }",
        "value: \"{{polled.code}} {{polled.state}}\", map: { \"404 \": in_progress, \"200 running\": finished }",
    );
    let plugin = plugin(&server, &yaml);
    let task_id = plugin.run(&["order", "1"]).ok()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = plugin.run(&["order_status", &task_id]);
    assert_eq!(first.ok()["status"], "in_progress", "{}", first.stdout);
    not_yet.remove();
    server
        .mock("GET", "/servers/42")
        .with_body(r#"{"status": "running", "ip": "203.0.113.7"}"#)
        .create();
    let ready = plugin.run(&["order_status", &task_id]);
    assert_eq!(ready.ok()["status"], "finished", "{}", ready.stdout);
}

#[test]
fn a_token_from_a_secret_looking_header_is_hidden_in_traces() {
    let mut server = Server::new();
    let token = "gAAAAAB-subject-token-9f8e7d";
    record(
        &mut server,
        "POST",
        "/auth/tokens",
        201,
        &[("X-Subject-Token", token)],
        "",
    );
    let create = record(&mut server, "POST", "/servers", 201, &[], r#"{"id": 42}"#);
    let yaml = provider(
        "",
        r#"    - request: { method: POST, path: /auth/tokens }
      extract: { session: { header: X-Subject-Token } }
    - request:
        method: POST
        path: /servers
        headers: { X-Auth-Token: "{{saved.session}}" }
        json: { note: "{{saved.session}}" }
      buys: true
      extract: { server_id: $.id }
"#,
    );
    let plugin = plugin(&server, &yaml);
    let output = operator(&["run", "bodies", "order", "1", "--verbose"], &plugin.env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(only(&create).values("x-auth-token"), [token]);
    assert!(stderr.contains("X-Auth-Token: ***"), "{stderr}");
    assert!(!stderr.contains(token), "{stderr}");
}

/// `vps-provider validate` on `yaml`: its exit code and report.
fn validate(yaml: &str) -> (Option<i32>, String, std::path::PathBuf, tempfile::TempDir) {
    let validation = validate_yaml("bodies.yaml", yaml);
    (
        validation.code,
        validation.stdout,
        validation.file,
        validation.dir,
    )
}

#[test]
fn validate_refuses_two_bodies_and_nested_forms_at_their_place() {
    let yaml = provider(
        "",
        r#"    - request:
        method: POST
        path: /servers
        json: { plan: "{{config.plan}}" }
        form: { plan: "{{config.plan}}" }
      buys: true
      extract: { server_id: $.id }
    - request:
        method: POST
        path: /servers/x
        form: { plan: { nested: 1 } }
"#,
    );
    let (code, stdout, file, _dir) = validate(&yaml);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("error: a request has one body, this one has `json` and `form`"),
        "{stdout}"
    );
    let at = position(&yaml, "form: { plan: \"");
    assert!(
        stdout.contains(&format!("--> {}:{at}", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("form field `plan` holds a map or a list of lists"),
        "{stdout}"
    );
    assert!(stdout.contains("2 problem(s)"), "{stdout}");
}

#[test]
fn validate_names_misspelt_body_and_extract_keys_with_suggestions() {
    let yaml = provider(
        "",
        r#"    - request:
        method: PATCH
        path: /servers
        body: { content_typ: text/plain, text: hi }
      extract:
        server_id: { hedaer: Location }
"#,
    );
    let (code, stdout, file, _dir) = validate(&yaml);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("unknown key `content_typ`")
            && stdout.contains("did you mean `content_type`?"),
        "{stdout}"
    );
    let at = position(&yaml, "content_typ");
    assert!(
        stdout.contains(&format!("--> {}:{at}", file.display())),
        "{stdout}"
    );

    let yaml = yaml.replace("content_typ:", "content_type:");
    let (_, stdout, file, _dir) = validate(&yaml);
    assert!(
        stdout.contains("unknown key `hedaer`") && stdout.contains("did you mean `header`?"),
        "{stdout}"
    );
    let at = position(&yaml, "hedaer");
    assert!(
        stdout.contains(&format!("--> {}:{at}", file.display())),
        "{stdout}"
    );

    let yaml = yaml.replace(
        "{ hedaer: Location }",
        "{ header: Location, status: true, pattern: \"(\" }",
    );
    let (_, stdout, _, _dir) = validate(&yaml);
    assert!(
        stdout.contains("exactly one of `body`, `header` and `status: true`"),
        "{stdout}"
    );
    let (_, stdout, _, _dir) = validate(&yaml.replace("status: true, ", ""));
    assert!(
        stdout.contains("`(` is not a regular expression: unclosed group"),
        "{stdout}"
    );
}
