//! The shipped Linode provider file, run through the real binary against a mock of the Linode
//! API v4 (answers from `tests/fixtures/hosters/linode/`, made from its docs).

mod common;

use common::{Plugin, fixture};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const SECRETS: &str = "token=tok\n";
const AUTH: &str = "Bearer tok";
const INSTANCE: &str = "/linode/instances/71234567";

fn linode(name: &str) -> String {
    fixture(&format!("hosters/linode/{name}"))
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("linode", &server.url()).secrets(SECRETS)
}

/// GET /linode/types, answered with `body`.
fn types(server: &mut ServerGuard, body: &str) -> Mock {
    server
        .mock("GET", "/linode/types")
        .match_query(Matcher::UrlEncoded("page_size".into(), "500".into()))
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

/// Orders g6-standard-1 and returns the task id and the body Linode received.
fn order_2gb(server: &mut ServerGuard, plugin: &Plugin) -> (String, Value) {
    types(server, &linode("plans.json"));
    let received = Arc::new(Mutex::new(Value::Null));
    let keep = received.clone();
    let create = server
        .mock("POST", "/linode/instances")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(json!({
            "region": "eu-central",
            "type": "g6-standard-1",
            "image": "linode/rocky9",
        })))
        .with_status(200)
        .with_body_from_request(move |request| {
            *keep.lock().unwrap() = serde_json::from_slice(request.body().unwrap()).unwrap();
            linode("create.json").into_bytes()
        })
        .expect(1)
        .create();
    let run = plugin.run(&["order", "g6-standard-1"]);
    let task_id = run.ok()["task_id"].as_str().unwrap().to_owned();
    create.assert();
    let body = received.lock().unwrap().clone();
    let password = body["root_pass"].as_str().unwrap_or_default();
    assert!(
        password.is_empty() || !run.stdout.contains(password),
        "the root password shows only in order_status: {}",
        run.stdout
    );
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

    let without = Plugin::shipped("linode", &server.url());
    assert_eq!(
        without.run(&["help"]).ok(),
        &json!({"options": ["help", "configs", "order", "order_status"], "status": "disabled"})
    );
    assert_eq!(
        without.run(&["configs"]).ok(),
        &json!({"configurations": [], "status": "disabled"})
    );
    let refused = without.run(&["order", "g6-standard-1"]);
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
fn configs_keeps_standard_and_dedicated_plans_in_range() {
    let mut server = Server::new();
    let list = types(&mut server, &linode("plans.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    let reply = run.ok();
    assert_eq!(reply["status"], "enabled");
    // The Nanode is too small (and of the nanode class).
    assert_eq!(
        ids(reply),
        ["g6-standard-1", "g6-standard-2", "g6-dedicated-2"]
    );
    assert!(!run.stdout.contains("nanode"), "{}", run.stdout);
    assert_eq!(
        descr_of(reply, "g6-standard-1"),
        "Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 50 GB disk, 12.00 USD/month, eu-central"
    );
    assert_eq!(
        descr_of(reply, "g6-standard-2"),
        "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB disk, 24.00 USD/month, eu-central"
    );
    assert_eq!(
        descr_of(reply, "g6-dedicated-2"),
        "Bitrix-env, Rocky Linux 9, 2 dedicated vCPU, 4 GB RAM, 80 GB disk, 36.00 USD/month, eu-central"
    );
    list.assert();
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    types(&mut server, &linode("plans.json"));
    let shared_only =
        Plugin::shipped("linode", &server.url()).secrets("token=tok\nplan_classes=[standard]\n");
    assert_eq!(
        ids(shared_only.run(&["configs"]).ok()),
        ["g6-standard-1", "g6-standard-2"]
    );
    let cheap = Plugin::shipped("linode", &server.url()).secrets("token=tok\nmax_monthly_usd=20\n");
    assert_eq!(ids(cheap.run(&["configs"]).ok()), ["g6-standard-1"]);
    // A region with its own prices shows them.
    let jakarta = Plugin::shipped("linode", &server.url()).secrets("token=tok\nregion=id-cgk\n");
    let reply = jakarta.run(&["configs"]);
    assert_eq!(
        descr_of(reply.ok(), "g6-standard-2"),
        "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB disk, 28.80 USD/month, id-cgk"
    );
    assert_eq!(
        descr_of(reply.ok(), "g6-standard-1"),
        "Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 50 GB disk, 12.00 USD/month, id-cgk"
    );
    // The price cap applies to the region's price: 28.80 there, 24.00 elsewhere.
    let capped = "token=tok\nmax_monthly_usd=25\n";
    let here = Plugin::shipped("linode", &server.url()).secrets(capped);
    assert_eq!(
        ids(here.run(&["configs"]).ok()),
        ["g6-standard-1", "g6-standard-2"]
    );
    let there =
        Plugin::shipped("linode", &server.url()).secrets(&format!("{capped}region=id-cgk\n"));
    assert_eq!(ids(there.run(&["configs"]).ok()), ["g6-standard-1"]);
}

#[test]
fn order_with_a_generated_password_then_poll_until_finished() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body) = order_2gb(&mut server, &plugin);
    assert_eq!(body["region"], "eu-central");
    assert_eq!(body["type"], "g6-standard-1");
    assert_eq!(body["image"], "linode/rocky9");
    assert_eq!(body["label"], format!("bitrix-{task_id}"));
    assert_eq!(body["booted"], true);
    assert!(body.get("authorized_keys").is_none(), "no ssh keys: {body}");
    let root_pass = body["root_pass"].as_str().expect("root_pass is sent");
    assert_eq!(root_pass.len(), 24, "{root_pass}");
    assert!(root_pass.chars().all(|c| c.is_ascii_alphanumeric()));

    let mocks: Vec<Mock> = [
        "status-progress.json",  // provisioning
        "status-progress2.json", // booting
        "status-ready.json",     // running
    ]
    .into_iter()
    .map(|answer| get(&mut server, INSTANCE, 200, &linode(answer)))
    .collect();
    for _ in 0..2 {
        let run = plugin.run(&["order_status", &task_id]);
        assert_eq!(run.ok()["task_id"], task_id.as_str());
        assert_eq!(status(&run), in_progress());
    }
    let finished = (
        "finished".to_owned(),
        "203.0.113.88".to_owned(),
        root_pass.to_owned(),
    );
    assert_eq!(status(&plugin.run(&["order_status", &task_id])), finished);
    // Once finished, the answer comes from the task store: Linode is not asked again.
    assert_eq!(status(&plugin.run(&["order_status", &task_id])), finished);
    for mock in &mocks {
        mock.assert();
    }
}

#[test]
fn the_public_address_is_reported_even_when_a_private_one_comes_first() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body) = order_2gb(&mut server, &plugin);
    let mut ready: Value = serde_json::from_str(&linode("status-ready.json")).unwrap();
    ready["ipv4"] = json!(["192.168.139.12", "203.0.113.88"]);
    get(&mut server, INSTANCE, 200, &ready.to_string());
    assert_eq!(
        status(&plugin.run(&["order_status", &task_id])),
        (
            "finished".to_owned(),
            "203.0.113.88".to_owned(),
            body["root_pass"].as_str().unwrap().to_owned()
        )
    );
}

#[test]
fn a_bad_token_says_so_with_linodes_message() {
    let mut server = Server::new();
    server
        .mock("GET", "/linode/types")
        .match_query(Matcher::Any)
        .with_status(401)
        .with_body(linode("error-401.json"))
        .expect(1)
        .create();
    let run = Plugin::shipped("linode", &server.url())
        .secrets("token=wrong-token\n")
        .run(&["configs"]);
    let message = run.error_message();
    assert!(message.contains("Invalid Token"), "{message}");
    assert!(message.contains("check the API token"), "{message}");
    assert!(!run.stdout.contains("wrong-token"), "{}", run.stdout);
}

#[test]
fn an_invalid_plan_on_order_reaches_the_panel() {
    let mut server = Server::new();
    types(&mut server, &linode("plans.json"));
    let create = server
        .mock("POST", "/linode/instances")
        .with_status(400)
        .with_body(linode("error-400.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "g6-dedicated-2"]);
    let message = run.error_message();
    assert!(
        message.contains("A valid plan type by that ID was not found"),
        "{message}"
    );
    create.assert();
}

#[test]
fn a_rate_limited_order_is_not_sent_twice() {
    let mut server = Server::new();
    types(&mut server, &linode("plans.json"));
    let create = server
        .mock("POST", "/linode/instances")
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(linode("error-429.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "g6-standard-1"]);
    let message = run.error_message();
    assert!(message.contains("Too many requests"), "{message}");
    assert!(message.contains("wait a minute"), "{message}");
    create.assert();
}

#[test]
fn a_rate_limited_read_is_retried() {
    let mut server = Server::new();
    let limited = server
        .mock("GET", "/linode/types")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(linode("error-429.json"))
        .expect(1)
        .create();
    let list = types(&mut server, &linode("plans.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    assert_eq!(ids(run.ok()).len(), 3);
    limited.assert();
    list.assert();
}

#[test]
fn an_unknown_linode_is_an_error() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    get(&mut server, INSTANCE, 404, &linode("error-404.json"));
    let run = plugin.run(&["order_status", &task_id]);
    let message = run.error_message();
    assert!(message.contains("Not found"), "{message}");
    assert!(message.contains("does not know this resource"), "{message}");
}
