//! The shipped Vultr provider file, run through the real binary against a mock of the Vultr
//! API v2 (answers from `tests/fixtures/hosters/vultr/`, made from its docs).

mod common;

use common::{
    Plugin, assert_bad_token, assert_configs_retried, assert_error_says, assert_failed,
    assert_help_follows_the_token, assert_order_rate_limited, assert_polls_until_finished, authed,
    capture_once, deleted_once, descr_of, get_list, get_once, hoster_fixture, ids, in_progress,
    json_post, once, rate_limited, received_json, status, task_id,
};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

const INSTANCE: &str = "/instances/cb676a46-66fd-4dfb-b839-443f2e6c0b60";

fn vultr(name: &str) -> String {
    hoster_fixture("vultr", name)
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("vultr", &server.url()).secrets(common::SECRETS)
}

/// GET /plans of type `plan_type` (first page), answered with `body`.
fn plans(server: &mut ServerGuard, plan_type: &str, body: &str) -> Mock {
    let query = Matcher::AllOf(vec![
        Matcher::UrlEncoded("type".into(), plan_type.into()),
        Matcher::UrlEncoded("per_page".into(), "500".into()),
    ]);
    get_list(server, "/plans", query, body)
}

/// Orders vc2-1c-2gb and returns the task id and the body Vultr received.
fn order_2gb(server: &mut ServerGuard, plugin: &Plugin) -> (String, Value) {
    plans(server, "vc2", &vultr("plans.json"));
    let request = json!({
        "region": "fra",
        "plan": "vc2-1c-2gb",
        "os_id": 1869,
    });
    let (create, received) = capture_once(
        json_post(server, "/instances", request),
        202,
        vultr("create.json"),
    );
    let run = plugin.run(&["order", "vc2-1c-2gb"]);
    let task_id = task_id(&run);
    assert!(
        !run.stdout.contains("Xk9#mP2v"),
        "the root password shows only in order_status: {}",
        run.stdout
    );
    create.assert();
    (task_id, received_json(&received))
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    assert_help_follows_the_token("vultr", "vc2-1c-2gb");
}

#[test]
fn configs_follows_the_cursor_and_keeps_vc2_plans_of_the_region_in_range() {
    let mut server = Server::new();
    let page2 = authed(&mut server, "GET", "/plans")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("type".into(), "vc2".into()),
            Matcher::UrlEncoded("per_page".into(), "500".into()),
            Matcher::UrlEncoded("cursor".into(), "bmV4dF9fdmMyLTFjLTJnYg==".into()),
        ]))
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
    .map(|answer| get_once(&mut server, INSTANCE, 200, &vultr(answer)))
    .collect();
    let finished = (
        "finished".to_owned(),
        "203.0.113.45".to_owned(),
        "Xk9#mP2v{Q7rL4tW".to_owned(),
    );
    assert_polls_until_finished(&plugin, &task_id, finished, &mocks);
}

#[test]
fn ready_without_an_address_is_still_in_progress() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    let mut placeholder: Value = serde_json::from_str(&vultr("status-ready.json")).unwrap();
    placeholder["instance"]["main_ip"] = json!("0.0.0.0");
    get_once(&mut server, INSTANCE, 200, &placeholder.to_string());
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
    get_once(&mut server, INSTANCE, 200, &vultr("status-failed.json"));
    let deleted = deleted_once(&mut server, INSTANCE);
    let run = plugin.run(&["order_status", &task_id]);
    assert_failed(&run, &task_id, &["the server was deleted"]);
    deleted.assert();
}

#[test]
fn a_bad_token_says_so_with_vultrs_message() {
    let mut server = Server::new();
    let refusing = server.mock("GET", "/plans").match_query(Matcher::Any);
    once(refusing, 401, &vultr("error-401.json"));
    let run = Plugin::shipped("vultr", &server.url())
        .secrets("token=wrong-token\n")
        .run(&["configs"]);
    assert_bad_token(&run, "wrong-token", &["Invalid API token."]);
}

#[test]
fn an_invalid_plan_on_order_reaches_the_panel() {
    let mut server = Server::new();
    plans(&mut server, "vc2", &vultr("plans.json"));
    let create = once(
        server.mock("POST", "/instances"),
        400,
        &vultr("error-400.json"),
    );
    let run = plugin(&server).run(&["order", "vc2-2c-4gb"]);
    assert_error_says(&run, &["Invalid plan chosen."]);
    create.assert();
}

#[test]
fn a_rate_limited_order_is_not_sent_twice() {
    let mut server = Server::new();
    plans(&mut server, "vc2", &vultr("plans.json"));
    assert_order_rate_limited(
        &plugin(&server),
        server.mock("POST", "/instances"),
        &vultr("error-429.json"),
        "vc2-1c-2gb",
        "Rate limit reached",
    );
}

#[test]
fn a_rate_limited_read_is_retried() {
    let mut server = Server::new();
    let limited = rate_limited(
        server.mock("GET", "/plans").match_query(Matcher::Any),
        &vultr("error-429.json"),
        1,
    );
    let list = plans(&mut server, "vc2", &vultr("plans.json")).expect(1);
    assert_configs_retried(&plugin(&server), limited, list, 3);
}

#[test]
fn an_unknown_instance_is_an_error_naming_it() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_2gb(&mut server, &plugin);
    get_once(&mut server, INSTANCE, 404, &vultr("error-404.json"));
    let run = plugin.run(&["order_status", &task_id]);
    assert_error_says(&run, &["instance not found"]);
}
