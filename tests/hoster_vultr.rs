//! The shipped Vultr provider file, run through the real binary against a mock of the Vultr
//! API v2 (answers from `tests/fixtures/hosters/vultr/`, made from its docs).

mod common;

use common::{Plugin, fixture};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const SECRETS: &str = "token=tok\n";
const AUTH: &str = "Bearer tok";
const INSTANCE: &str = "/instances/cb676a46-66fd-4dfb-b839-443f2e6c0b60";

fn vultr(name: &str) -> String {
    fixture(&format!("hosters/vultr/{name}"))
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("vultr", &server.url()).secrets(SECRETS)
}

/// GET /plans of type `plan_type` (first page), answered with `body`.
fn plans(server: &mut ServerGuard, plan_type: &str, body: &str) -> Mock {
    server
        .mock("GET", "/plans")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("type".into(), plan_type.into()),
            Matcher::UrlEncoded("per_page".into(), "500".into()),
        ]))
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(body)
        .create()
}

fn get(server: &mut ServerGuard, path: &str, status: usize, body: &str) -> Mock {
    server
        .mock("GET", path)
        .match_header("authorization", AUTH)
        .with_status(status)
        .with_body(body)
        .expect(1)
        .create()
}

fn ids(reply: &Value) -> Vec<String> {
    reply["configurations"]
        .as_array()
        .expect("a list of configurations")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn descr_of<'a>(reply: &'a Value, id: &str) -> &'a str {
    reply["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no config {id} in {reply}"))["descr"]
        .as_str()
        .unwrap()
}

/// Orders vc2-1c-2gb and returns the task id and the body Vultr received.
fn order_2gb(server: &mut ServerGuard, plugin: &Plugin) -> (String, Value) {
    plans(server, "vc2", &vultr("plans.json"));
    let received = Arc::new(Mutex::new(Value::Null));
    let keep = received.clone();
    let create = server
        .mock("POST", "/instances")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(json!({
            "region": "fra",
            "plan": "vc2-1c-2gb",
            "os_id": 1869,
        })))
        .with_status(202)
        .with_body_from_request(move |request| {
            *keep.lock().unwrap() = serde_json::from_slice(request.body().unwrap()).unwrap();
            vultr("create.json").into_bytes()
        })
        .expect(1)
        .create();
    let run = plugin.run(&["order", "vc2-1c-2gb"]);
    let task_id = run.ok()["task_id"].as_str().unwrap().to_owned();
    assert!(
        !run.stdout.contains("Xk9#mP2v"),
        "the root password shows only in order_status: {}",
        run.stdout
    );
    create.assert();
    let body = received.lock().unwrap().clone();
    (task_id, body)
}

fn status(run: &common::Run) -> (String, String, String) {
    let reply = run.ok();
    (
        reply["status"].as_str().unwrap().to_owned(),
        reply["server"].as_str().unwrap().to_owned(),
        reply["server_password"].as_str().unwrap().to_owned(),
    )
}

fn in_progress() -> (String, String, String) {
    ("in_progress".into(), String::new(), String::new())
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();

    let without = Plugin::shipped("vultr", &server.url());
    assert_eq!(
        without.run(&["help"]).ok(),
        &json!({"options": ["help", "configs", "order", "order_status"], "status": "disabled"})
    );
    assert_eq!(
        without.run(&["configs"]).ok(),
        &json!({"configurations": [], "status": "disabled"})
    );
    let refused = without.run(&["order", "vc2-1c-2gb"]);
    assert!(
        refused.error_message().contains("token"),
        "{}",
        refused.stdout
    );

    assert_eq!(
        plugin(&server).run(&["help"]).ok(),
        &json!({"options": ["help", "configs", "order", "order_status"], "status": "enabled"})
    );
    untouched.assert();
}

#[test]
fn configs_follows_the_cursor_and_keeps_vc2_plans_of_the_region_in_range() {
    let mut server = Server::new();
    let page2 = server
        .mock("GET", "/plans")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("type".into(), "vc2".into()),
            Matcher::UrlEncoded("per_page".into(), "500".into()),
            Matcher::UrlEncoded("cursor".into(), "bmV4dF9fdmMyLTFjLTJnYg==".into()),
        ]))
        .match_header("authorization", AUTH)
        .with_body(vultr("plans-page2.json"))
        .expect(1)
        .create();
    let page1 = plans(&mut server, "vc2", &vultr("plans-page1.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    let reply = run.ok();
    assert_eq!(reply["status"], "enabled");
    // vc2-1c-1gb has too little memory; vhf-1c-1gb is another plan family.
    assert_eq!(ids(reply), ["vc2-1c-2gb", "vc2-2c-4gb"]);
    assert_eq!(
        descr_of(reply, "vc2-1c-2gb"),
        "Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 55 GB disk, 10.00 USD/month, fra"
    );
    assert_eq!(
        descr_of(reply, "vc2-2c-4gb"),
        "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB disk, 20.00 USD/month, fra"
    );
    assert!(!run.stdout.contains("1gb"), "{}", run.stdout);
    page1.assert();
    page2.assert();
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    plans(&mut server, "vc2", &vultr("plans.json"));
    let cheap = Plugin::shipped("vultr", &server.url()).secrets("token=tok\nmax_monthly_usd=25\n");
    assert_eq!(
        ids(cheap.run(&["configs"]).ok()),
        ["vc2-1c-2gb", "vc2-2c-4gb"]
    );
    let default = plugin(&server).run(&["configs"]);
    assert_eq!(
        descr_of(default.ok(), "vc2-4c-8gb"),
        "Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 160 GB disk, 40.00 USD/month, fra"
    );

    // Another plan family and region: the family goes into the request, the region filters.
    let vhf = plans(&mut server, "vhf", &vultr("plans.json")).expect(2);
    let in_amsterdam = Plugin::shipped("vultr", &server.url())
        .secrets("token=tok\nplan_type=vhf\nmin_ram_mb=1024\nregion=ams\n");
    let reply = in_amsterdam.run(&["configs"]);
    assert_eq!(ids(reply.ok()), ["vhf-1c-1gb"]);
    assert_eq!(
        descr_of(reply.ok(), "vhf-1c-1gb"),
        "Bitrix-env, Rocky Linux 9, 1 vCPU, 1 GB RAM, 32 GB disk, 6.00 USD/month, ams"
    );
    let in_chicago = Plugin::shipped("vultr", &server.url())
        .secrets("token=tok\nplan_type=vhf\nmin_ram_mb=1024\nregion=ord\n");
    assert_eq!(ids(in_chicago.run(&["configs"]).ok()), Vec::<String>::new());
    vhf.assert();
}

#[test]
fn order_then_poll_until_finished() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body) = order_2gb(&mut server, &plugin);
    assert_eq!(body["region"], "fra");
    assert_eq!(body["plan"], "vc2-1c-2gb");
    assert_eq!(body["os_id"], json!(1869), "os_id is a number: {body}");
    assert_eq!(body["label"], format!("bitrix-{task_id}"));
    assert_eq!(body["hostname"], format!("bitrix-{task_id}"));
    assert_eq!(body["backups"], "disabled");
    assert!(body.get("sshkey_id").is_none(), "no ssh keys: {body}");

    let mocks: Vec<Mock> = [
        "status-progress.json",  // pending/running/none, 0.0.0.0
        "status-progress2.json", // active/running/installingbooting
        "status-ready.json",     // active/running/ok
    ]
    .into_iter()
    .map(|answer| get(&mut server, INSTANCE, 200, &vultr(answer)))
    .collect();
    for _ in 0..2 {
        let run = plugin.run(&["order_status", &task_id]);
        assert_eq!(run.ok()["task_id"], task_id.as_str());
        assert_eq!(status(&run), in_progress());
    }
    let finished = (
        "finished".to_owned(),
        "203.0.113.45".to_owned(),
        "Xk9#mP2v{Q7rL4tW".to_owned(),
    );
    assert_eq!(status(&plugin.run(&["order_status", &task_id])), finished);
    // Once finished, the answer comes from the task store: Vultr is not asked again.
    assert_eq!(status(&plugin.run(&["order_status", &task_id])), finished);
    for mock in &mocks {
        mock.assert();
    }
}

#[test]
fn ready_without_an_address_is_still_in_progress() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    let mut placeholder: Value = serde_json::from_str(&vultr("status-ready.json")).unwrap();
    placeholder["instance"]["main_ip"] = json!("0.0.0.0");
    get(&mut server, INSTANCE, 200, &placeholder.to_string());
    assert_eq!(
        status(&plugin.run(&["order_status", &task_id])),
        in_progress()
    );
}

#[test]
fn a_suspended_instance_is_an_error() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    get(&mut server, INSTANCE, 200, &vultr("status-failed.json"));
    assert_eq!(
        status(&plugin.run(&["order_status", &task_id])),
        ("error".into(), String::new(), String::new())
    );
}

#[test]
fn a_bad_token_says_so_with_vultrs_message() {
    let mut server = Server::new();
    server
        .mock("GET", "/plans")
        .match_query(Matcher::Any)
        .with_status(401)
        .with_body(vultr("error-401.json"))
        .expect(1)
        .create();
    let run = Plugin::shipped("vultr", &server.url())
        .secrets("token=wrong-token\n")
        .run(&["configs"]);
    let message = run.error_message();
    assert!(message.contains("Invalid API token."), "{message}");
    assert!(message.contains("check the API token"), "{message}");
    assert!(!run.stdout.contains("wrong-token"), "{}", run.stdout);
}

#[test]
fn an_invalid_plan_on_order_reaches_the_panel() {
    let mut server = Server::new();
    plans(&mut server, "vc2", &vultr("plans.json"));
    let create = server
        .mock("POST", "/instances")
        .with_status(400)
        .with_body(vultr("error-400.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "vc2-2c-4gb"]);
    let message = run.error_message();
    assert!(message.contains("Invalid plan chosen."), "{message}");
    create.assert();
}

#[test]
fn a_rate_limited_order_is_not_sent_twice() {
    let mut server = Server::new();
    plans(&mut server, "vc2", &vultr("plans.json"));
    let create = server
        .mock("POST", "/instances")
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(vultr("error-429.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "vc2-1c-2gb"]);
    let message = run.error_message();
    assert!(message.contains("Rate limit reached"), "{message}");
    assert!(message.contains("wait a minute"), "{message}");
    create.assert();
}

#[test]
fn a_rate_limited_read_is_retried() {
    let mut server = Server::new();
    let limited = server
        .mock("GET", "/plans")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(vultr("error-429.json"))
        .expect(1)
        .create();
    let list = plans(&mut server, "vc2", &vultr("plans.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    assert_eq!(ids(run.ok()).len(), 3);
    limited.assert();
    list.assert();
}

#[test]
fn an_unknown_instance_is_an_error_naming_it() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    get(&mut server, INSTANCE, 404, &vultr("error-404.json"));
    let run = plugin.run(&["order_status", &task_id]);
    let message = run.error_message();
    assert!(message.contains("instance not found"), "{message}");
}
