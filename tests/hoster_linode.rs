//! The shipped Linode provider file, run through the real binary against a mock of the Linode
//! API v4 (answers from `tests/fixtures/hosters/linode/`, made from its docs).

mod common;

use common::{
    Plugin, assert_bad_token, assert_configs_retried, assert_error_says, assert_failed,
    assert_help_follows_the_token, assert_order_rate_limited, assert_polls_until_finished,
    capture_once, deleted_once, descr_of, get_list, get_once, hoster_fixture, ids, json_post, once,
    rate_limited, received_json, status, task_id,
};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

const INSTANCE: &str = "/linode/instances/71234567";

fn linode(name: &str) -> String {
    hoster_fixture("linode", name)
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("linode", &server.url()).secrets(common::SECRETS)
}

/// GET /linode/types, answered with `body`.
fn types(server: &mut ServerGuard, body: &str) -> Mock {
    get_list(
        server,
        "/linode/types",
        Matcher::UrlEncoded("page_size".into(), "500".into()),
        body,
    )
}

/// Orders g6-standard-1 and returns the task id and the body Linode received.
fn order_2gb(server: &mut ServerGuard, plugin: &Plugin) -> (String, Value) {
    types(server, &linode("plans.json"));
    let request = json!({
        "region": "eu-central",
        "type": "g6-standard-1",
        "image": "linode/rocky9",
    });
    let (create, received) = capture_once(
        json_post(server, "/linode/instances", request),
        200,
        linode("create.json"),
    );
    let run = plugin.run(&["order", "g6-standard-1"]);
    let task_id = task_id(&run);
    create.assert();
    let body = received_json(&received);
    let password = body["root_pass"].as_str().unwrap_or_default();
    assert!(
        password.is_empty() || !run.stdout.contains(password),
        "the root password shows only in order_status: {}",
        run.stdout
    );
    (task_id, body)
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    assert_help_follows_the_token("linode", "g6-standard-1");
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
    .map(|answer| get_once(&mut server, INSTANCE, 200, &linode(answer)))
    .collect();
    let finished = (
        "finished".to_owned(),
        "203.0.113.88".to_owned(),
        root_pass.to_owned(),
    );
    assert_polls_until_finished(&plugin, &task_id, finished, &mocks);
}

#[test]
fn the_public_address_is_reported_even_when_a_private_one_comes_first() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body) = order_2gb(&mut server, &plugin);
    let mut ready: Value = serde_json::from_str(&linode("status-ready.json")).unwrap();
    ready["ipv4"] = json!(["192.168.139.12", "203.0.113.88"]);
    get_once(&mut server, INSTANCE, 200, &ready.to_string());
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
    let refusing = server
        .mock("GET", "/linode/types")
        .match_query(Matcher::Any);
    once(refusing, 401, &linode("error-401.json"));
    let run = Plugin::shipped("linode", &server.url())
        .secrets("token=wrong-token\n")
        .run(&["configs"]);
    assert_bad_token(&run, "wrong-token", &["Invalid Token"]);
}

#[test]
fn an_invalid_plan_on_order_reaches_the_panel() {
    let mut server = Server::new();
    types(&mut server, &linode("plans.json"));
    let create = once(
        server.mock("POST", "/linode/instances"),
        400,
        &linode("error-400.json"),
    );
    let run = plugin(&server).run(&["order", "g6-dedicated-2"]);
    assert_error_says(&run, &["A valid plan type by that ID was not found"]);
    create.assert();
}

#[test]
fn a_rate_limited_order_is_not_sent_twice() {
    let mut server = Server::new();
    types(&mut server, &linode("plans.json"));
    assert_order_rate_limited(
        &plugin(&server),
        server.mock("POST", "/linode/instances"),
        &linode("error-429.json"),
        "g6-standard-1",
        "Too many requests",
    );
}

#[test]
fn a_rate_limited_read_is_retried() {
    let mut server = Server::new();
    let limited = rate_limited(
        server
            .mock("GET", "/linode/types")
            .match_query(Matcher::Any),
        &linode("error-429.json"),
        1,
    );
    let list = types(&mut server, &linode("plans.json")).expect(1);
    assert_configs_retried(&plugin(&server), limited, list, 3);
}

#[test]
fn an_unknown_linode_is_an_error() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    get_once(&mut server, INSTANCE, 404, &linode("error-404.json"));
    let run = plugin.run(&["order_status", &task_id]);
    assert_error_says(&run, &["Not found", "does not know this resource"]);
}

/// Linode reports a failed build only in its events: an instance still `provisioning` half an
/// hour after the order is given up on, and deleted.
#[test]
fn a_build_that_never_ends_is_given_up_and_deleted() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    plugin.backdate_task(&task_id, 31);
    get_once(&mut server, INSTANCE, 200, &linode("status-progress.json"));
    let deleted = deleted_once(&mut server, INSTANCE);
    let run = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &run,
        &task_id,
        &["given up after 30 minutes", "the server was deleted"],
    );
    deleted.assert();
}
