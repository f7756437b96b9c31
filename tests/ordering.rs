//! Ordering and polling against a mock hoster on loopback: the task's life from `order` to
//! `finished`, every password source, the status map, and what the hoster can do wrong.

mod common;

use common::{Plugin, assert_failed, fixture};
use mockito::{Matcher, Server};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-secret-123";

fn testhost(server: &Server) -> Plugin {
    with_yaml(server, &fixture("providers/testhost.yaml"))
}

fn with_yaml(server: &Server, yaml: &str) -> Plugin {
    Plugin::new("testhost", yaml, &server.url()).secrets(&format!("token={TOKEN}\n"))
}

fn server_answer(status: &str, ip: Value) -> String {
    json!({"server": {"id": 42, "status": status, "ipv4": ip}}).to_string()
}

/// Mocks one poll of server 42 answering `body`.
fn poll(server: &mut Server, body: String) -> mockito::Mock {
    server
        .mock("GET", "/servers/42")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .with_body(body)
        .expect(1)
        .create()
}

fn order_ok(server: &mut Server) -> mockito::Mock {
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(
            json!({"server": {"id": 42, "status": "initializing"}, "root_password": "Hoster-Pw-1"})
                .to_string(),
        )
        .expect(1)
        .create()
}

/// A mock hoster that took an order of config 1 (server 42), the plugin whose provider file is
/// `yaml`, and the task id it handed out.
fn ordered(yaml: &str) -> (mockito::ServerGuard, Plugin, String) {
    let mut server = Server::new();
    let plugin = with_yaml(&server, yaml);
    order_ok(&mut server);
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, plugin, task_id)
}

/// The `status` one `order_status` poll answers.
fn polled_status(plugin: &Plugin, task_id: &str) -> Value {
    plugin.run(&["order_status", task_id]).ok()["status"].clone()
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let text = std::fs::read_to_string(plugin.state_dir().join(format!("{task_id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_whole_conversation_with_a_password_kept_from_the_order() {
    let mut server = Server::new();
    let plugin = testhost(&server);
    let create = server
        .mock("POST", "/servers")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_header("content-type", "application/json")
        .match_header("user-agent", Matcher::Regex("^vps-provider/".into()))
        .match_body(Matcher::PartialJson(
            json!({"plan": "large", "location": "fsn1", "image": "rocky-9"}),
        ))
        .with_status(201)
        .with_body(
            json!({"server": {"id": 42, "status": "initializing"}, "root_password": "Hoster-Pw-1"})
                .to_string(),
        )
        .expect(1)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "2"]));
    create.assert();
    assert!(task_id.bytes().all(|b| b.is_ascii_digit()), "{task_id}");
    assert_eq!(task_file(&plugin, &task_id)["hoster_id"], "42");

    let polls = [
        poll(&mut server, server_answer("initializing", Value::Null)),
        poll(&mut server, server_answer("running", json!("0.0.0.0"))),
        poll(&mut server, server_answer("running", json!("203.0.113.7"))),
    ];
    for expected in ["in_progress", "in_progress"] {
        let reply = plugin.run(&["order_status", &task_id]);
        assert_eq!(reply.ok()["status"], expected);
        assert_eq!(
            reply.ok()["server_password"],
            "",
            "no password before finished"
        );
    }
    let done = plugin.run(&["order_status", &task_id]);
    assert_eq!(
        done.ok(),
        &json!({"task_id": task_id, "status": "finished", "server": "203.0.113.7", "server_password": "Hoster-Pw-1"})
    );
    polls.iter().for_each(|m| m.assert());

    // Finished is final: later polls answer from the store, without asking the hoster.
    let later = server.mock("GET", "/servers/42").expect(0).create();
    assert_eq!(plugin.run(&["order_status", &task_id]).stdout, done.stdout);
    later.assert();
}

#[test]
fn task_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_server, plugin, task_id) = ordered(&fixture("providers/testhost.yaml"));
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(plugin.state_dir()), 0o700);
    assert_eq!(
        mode(plugin.state_dir().join(format!("{task_id}.json"))),
        0o600
    );
}

#[test]
fn a_generated_password_is_sent_kept_and_reported() {
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "image: \"{{settings.image}}\"",
            "image: \"{{settings.image}}\"\n          root_pass: \"{{password}}\"",
        )
        .replace(
            "server_password: \"{{saved.root_password}}\"",
            "server_password: \"{{password}}\"",
        );
    let mut server = Server::new();
    let plugin = with_yaml(&server, &yaml);
    let sent = Arc::new(Mutex::new(Value::Null));
    let seen = sent.clone();
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body_from_request(move |request| {
            *seen.lock().unwrap() = serde_json::from_slice(request.body().unwrap()).unwrap();
            json!({"server": {"id": 42}}).to_string().into()
        })
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    let password = sent.lock().unwrap()["root_pass"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24);
    poll(&mut server, server_answer("running", json!("203.0.113.8")));
    let done = plugin.run(&["order_status", &task_id]);
    assert_eq!(done.ok()["server_password"], password.as_str());
}

#[test]
fn a_password_that_appears_later_in_the_server_object() {
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "        ip: $.server.ipv4",
            "        ip: $.server.ipv4\n        root_pass: $.server.root_pass",
        )
        .replace(
            "server_password: \"{{saved.root_password}}\"",
            "server_password: \"{{polled.root_pass}}\"",
        );
    let (mut server, plugin, task_id) = ordered(&yaml);
    poll(
        &mut server,
        json!({"server": {"status": "running", "ipv4": "203.0.113.9", "root_pass": null}})
            .to_string(),
    );
    poll(
        &mut server,
        json!({"server": {"status": "running", "ipv4": "203.0.113.9", "root_pass": "Later-Pw"}})
            .to_string(),
    );
    assert_eq!(polled_status(&plugin, &task_id), "in_progress");
    let done = plugin.run(&["order_status", &task_id]);
    assert_eq!(done.ok()["status"], "finished");
    assert_eq!(done.ok()["server_password"], "Later-Pw");
}

#[test]
fn the_status_map_error_and_values_not_in_it() {
    let (mut server, plugin, task_id) = ordered(&fixture("providers/testhost.yaml"));
    poll(&mut server, server_answer("migrating", Value::Null));
    let message = plugin
        .run(&["order_status", &task_id])
        .error_message()
        .to_owned();
    assert!(
        message.contains("`migrating`") && message.contains("order_status.status.map"),
        "{message}"
    );
    poll(&mut server, server_answer("failed", Value::Null));
    let failed = plugin.run(&["order_status", &task_id]);
    assert_failed(&failed, &task_id, &["the hoster reports `failed`"]);

    let lenient = fixture("providers/testhost.yaml").replace(
        "      failed: error",
        "      failed: error\n    otherwise: in_progress",
    );
    let (mut server, plugin, task_id) = ordered(&lenient);
    poll(&mut server, server_answer("migrating", Value::Null));
    assert_eq!(polled_status(&plugin, &task_id), "in_progress");
}

#[test]
fn a_pattern_in_the_status_map_reads_several_fields() {
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "        state: $.server.status",
            "        state: $.server.status\n        power: $.server.power",
        )
        .replace(
            "value: \"{{polled.state}}\"",
            "value: \"{{polled.state}}/{{polled.power}}\"",
        )
        .replace(
            "      running: finished\n",
            "      running/on: finished\n      \"*/off\": in_progress\n",
        );
    let (mut server, plugin, task_id) = ordered(&yaml);
    poll(
        &mut server,
        json!({"server": {"status": "running", "power": "off", "ipv4": "203.0.113.5"}}).to_string(),
    );
    poll(
        &mut server,
        json!({"server": {"status": "running", "power": "on", "ipv4": "203.0.113.5"}}).to_string(),
    );
    assert_eq!(polled_status(&plugin, &task_id), "in_progress");
    assert_eq!(polled_status(&plugin, &task_id), "finished");
}

#[test]
fn an_order_of_two_requests_and_a_status_of_two_calls() {
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "        root_password: $.root_password\n",
            "        root_password: $.root_password\n    - request:\n        method: POST\n        path: \"/servers/{{saved.server_id}}/actions/poweron\"\n      extract:\n        action_id: $.action.id\n",
        )
        .replace(
            "order_status:\n  steps:\n",
            "order_status:\n  steps:\n    - request:\n        path: \"/actions/{{saved.action_id}}\"\n      extract:\n        action: $.action.status\n",
        )
        .replace("value: \"{{polled.state}}\"", "value: \"{{polled.action}}/{{polled.state}}\"")
        .replace("      running: finished\n", "      success/running: finished\n      \"running/*\": in_progress\n");
    let mut server = Server::new();
    let plugin = with_yaml(&server, &yaml);
    let create = order_ok(&mut server);
    let poweron = server
        .mock("POST", "/servers/42/actions/poweron")
        .with_body(r#"{"action":{"id":7}}"#)
        .expect(1)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    create.assert();
    poweron.assert();
    server
        .mock("GET", "/actions/7")
        .with_body(r#"{"action":{"status":"running"}}"#)
        .expect(1)
        .create();
    server
        .mock("GET", "/actions/7")
        .with_body(r#"{"action":{"status":"success"}}"#)
        .expect(1)
        .create();
    poll(&mut server, server_answer("running", json!("203.0.113.7")));
    poll(&mut server, server_answer("running", json!("203.0.113.7")));
    assert_eq!(polled_status(&plugin, &task_id), "in_progress");
    assert_eq!(polled_status(&plugin, &task_id), "finished");
}

#[test]
fn a_bought_server_reaches_the_panel_even_when_a_later_step_fails() {
    let yaml = common::testhost_with_poweron_step();
    let mut server = Server::new();
    let plugin = with_yaml(&server, &yaml);
    order_ok(&mut server);
    common::power_on_fails(&mut server);
    // The panel gets the task id (so it keeps the server on its orders page) ...
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    // ... and every poll says what went wrong and what to do.
    let message = plugin
        .run(&["order_status", &task_id])
        .error_message()
        .to_owned();
    assert!(
        message.contains("may have been ordered")
            && message.contains("the server was ordered but step 2 failed")
            && message.contains("hoster's console"),
        "{message}"
    );
    assert_eq!(task_file(&plugin, &task_id)["stage"], "unknown");
}

#[test]
fn fetched_configs_follow_pages_filter_and_keep_vars() {
    let base = fixture("providers/testhost.yaml");
    let static_configs = &base[base.find("configs:").unwrap()..base.find("order:").unwrap()];
    let yaml = base.replace(
        static_configs,
        r#"configs:
  fetch:
    request:
      path: /plans
      query: { per_page: "2" }
    pages: { next: $.meta.next_page, param: page }
    items: $.plans[*]
    filter: "{{contains item.regions settings.region}}"
    id: "{{item.name}}"
    descr: "{{item.cores}} vCPU, {{human_size item.memory_mb \"MB\"}} RAM, {{fixed item.price 2}} EUR"
    vars: { plan: "{{item.name}}", region: "{{settings.region}}" }
"#,
    );
    let mut server = Server::new();
    let plugin = with_yaml(&server, &yaml);
    let page1 = server
        .mock("GET", "/plans")
        .match_query(Matcher::UrlEncoded("per_page".into(), "2".into()))
        .expect(1)
        .with_body(json!({"plans": [
            {"name": "cx22", "cores": 2, "memory_mb": 4096, "price": 4.51, "regions": ["fsn1", "nbg1"]},
            {"name": "ccx13", "cores": 2, "memory_mb": 8192, "price": 14, "regions": ["hel1"]}],
            "meta": {"next_page": 2}}).to_string())
        .create();
    let page2 = server
        .mock("GET", "/plans")
        .match_query(Matcher::AllOf(vec![Matcher::UrlEncoded("per_page".into(), "2".into()), Matcher::UrlEncoded("page".into(), "2".into())]))
        .with_body(json!({"plans": [{"name": "cx32", "cores": 4, "memory_mb": 8192, "price": 7.3, "regions": ["fsn1"]}], "meta": {"next_page": null}}).to_string())
        .expect(1)
        .create();
    let reply = plugin.run(&["configs"]);
    assert_eq!(
        reply.ok()["configurations"],
        json!([{"id": "cx22", "descr": "2 vCPU, 4 GB RAM, 4.51 EUR"}, {"id": "cx32", "descr": "4 vCPU, 8 GB RAM, 7.30 EUR"}])
    );
    page1.assert();
    page2.assert();

    let create = server
        .mock("POST", "/servers")
        .match_body(Matcher::PartialJson(
            json!({"plan": "cx32", "location": "fsn1"}),
        ))
        .with_status(201)
        .with_body(r#"{"server":{"id":42}}"#)
        .create();
    plugin.run(&["order", "cx32"]).ok();
    create.assert();
    assert!(
        plugin
            .run(&["order", "ccx13"])
            .error_message()
            .contains("offers no config `ccx13`")
    );
}

#[test]
fn settings_from_the_secrets_file_override_defaults() {
    let mut server = Server::new();
    let plugin = testhost(&server).secrets(&format!("token={TOKEN}\nregion=nbg1\nimage=alma-9\n"));
    let create = server
        .mock("POST", "/servers")
        .match_body(Matcher::PartialJson(
            json!({"location": "nbg1", "image": "alma-9"}),
        ))
        .with_status(201)
        .with_body(r#"{"server":{"id":42}}"#)
        .expect(1)
        .create();
    plugin.run(&["order", "1"]).ok();
    create.assert();
}

#[test]
fn failure_statuses_can_let_a_not_found_through_as_an_answer() {
    // Some hosters answer 404 for a server that is still being created.
    let yaml = fixture("providers/testhost.yaml").replace(
        "  deadline_seconds: 3",
        "  deadline_seconds: 3\n  failure_statuses: [\"300-403\", \"405-599\"]",
    );
    let (mut server, plugin, task_id) = ordered(&yaml);
    server
        .mock("GET", "/servers/42")
        .with_status(404)
        .with_body(r#"{"server":{"status":"initializing"}}"#)
        .expect(1)
        .create();
    poll(&mut server, server_answer("running", json!("203.0.113.7")));
    assert_eq!(polled_status(&plugin, &task_id), "in_progress");
    assert_eq!(polled_status(&plugin, &task_id), "finished");
}

#[test]
fn a_static_descr_is_a_template_over_settings() {
    let yaml = fixture("providers/testhost.yaml").replace(
        "descr: \"Small: 1 vCPU, 2 GB RAM\"",
        "descr: \"Small in {{settings.region}}\"",
    );
    let server = Server::new();
    let plugin = with_yaml(&server, &yaml).secrets(&format!("token={TOKEN}\nregion=nbg1\n"));
    assert_eq!(
        plugin.run(&["configs"]).ok()["configurations"][0]["descr"],
        "Small in nbg1"
    );
}
