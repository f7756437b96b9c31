//! The shipped Hetzner Cloud provider file, run through the real binary against a mock of the
//! Hetzner Cloud API (answers from `tests/fixtures/hosters/hetzner/`, made from its docs).

mod common;

use common::{
    Plugin, assert_bad_token, assert_configs_retried, assert_error_says, assert_failed,
    assert_help_follows_the_token, assert_order_rate_limited, assert_polls_until_finished, authed,
    capture_once, deleted_once, descrs, get_list, get_once, hoster_fixture, json_post, once,
    rate_limited, received_json, task_id,
};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

fn hetzner(name: &str) -> String {
    hoster_fixture("hetzner", name)
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("hetzner", &server.url()).secrets(common::SECRETS)
}

/// GET /server_types (first page), answered with `body`.
fn plans(server: &mut ServerGuard, body: &str) -> Mock {
    get_list(
        server,
        "/server_types",
        Matcher::UrlEncoded("per_page".into(), "50".into()),
        body,
    )
}

/// Orders config 22 (cx23) and returns the task id and the body Hetzner received.
fn order_cx23(server: &mut ServerGuard, plugin: &Plugin) -> (String, Value) {
    plans(server, &hetzner("plans.json"));
    let request = json!({
        "server_type": "cx23",
        "image": "rocky-9",
        "location": "fsn1",
        "start_after_create": true,
    });
    let (create, received) = capture_once(
        json_post(server, "/servers", request),
        201,
        hetzner("create.json"),
    );
    let run = plugin.run(&["order", "22"]);
    let task_id = task_id(&run);
    assert!(
        !run.stdout.contains("Yq7rNf3KpXw9LmTz2Hc4"),
        "the root password shows only in order_status: {}",
        run.stdout
    );
    create.assert();
    (task_id, received_json(&received))
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    assert_help_follows_the_token("hetzner", "22");
}

#[test]
fn configs_lists_current_x86_plans_of_the_location_with_their_price() {
    let mut server = Server::new();
    let list = plans(&mut server, &hetzner("plans.json")).expect(1);
    let reply = plugin(&server).run(&["configs"]);
    list.assert();
    assert_eq!(reply.ok()["status"], "enabled");
    assert_eq!(
        descrs(reply.ok()),
        [
            (
                "22".to_owned(),
                "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 40 GB disk, 4.15 EUR/month, fsn1"
                    .to_owned()
            ),
            (
                "116".to_owned(),
                "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB disk, 7.13 EUR/month, fsn1"
                    .to_owned()
            ),
        ]
    );
    // cax11 (id 45) is ARM, cx22 (id 104) is deprecated.
    for gone in ["\"45\"", "\"104\"", "cax11", "cx22"] {
        assert!(!reply.stdout.contains(gone), "{gone} in {}", reply.stdout);
    }
}

#[test]
fn configs_follows_every_page() {
    let mut server = Server::new();
    let mut all: Value = serde_json::from_str(&hetzner("plans.json")).unwrap();
    let types = all["server_types"].as_array().unwrap().clone();
    let mut first = all.clone();
    first["server_types"] = json!(types[..1]);
    first["meta"]["pagination"] = json!({"page": 1, "per_page": 1, "previous_page": null, "next_page": 2, "last_page": 2, "total_entries": 4});
    all["server_types"] = json!(types[1..]);
    all["meta"]["pagination"] = json!({"page": 2, "per_page": 1, "previous_page": 1, "next_page": null, "last_page": 2, "total_entries": 4});
    let page2 = authed(&mut server, "GET", "/server_types")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("per_page".into(), "50".into()),
            Matcher::UrlEncoded("page".into(), "2".into()),
        ]))
        .with_body(all.to_string())
        .expect(1)
        .create();
    let page1 = plans(&mut server, &first.to_string()).expect(1);
    let reply = plugin(&server).run(&["configs"]);
    let ids: Vec<_> = descrs(reply.ok()).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["22", "116"]);
    page1.assert();
    page2.assert();
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    plans(&mut server, &hetzner("plans.json"));
    let helsinki = Plugin::shipped("hetzner", &server.url()).secrets("token=tok\nlocation=hel1\n");
    assert_eq!(
        descrs(helsinki.run(&["configs"]).ok()),
        [(
            "22".to_owned(),
            "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 40 GB disk, 4.15 EUR/month, hel1"
                .to_owned()
        )]
    );
    let cheap = Plugin::shipped("hetzner", &server.url()).secrets("token=tok\nmax_price_eur=5\n");
    let ids: Vec<_> = descrs(cheap.run(&["configs"]).ok())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["22"]);
    let arm = Plugin::shipped("hetzner", &server.url()).secrets("token=tok\narchitecture=arm\n");
    let ids: Vec<_> = descrs(arm.run(&["configs"]).ok())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["45"]);
}

#[test]
fn order_then_poll_until_finished() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body) = order_cx23(&mut server, &plugin);
    assert_eq!(body["name"], format!("bitrix-{task_id}"));
    assert_eq!(body["server_type"], "cx23");
    assert_eq!(body["image"], "rocky-9");
    assert_eq!(body["location"], "fsn1");
    assert_eq!(body["public_net"]["enable_ipv4"], true);
    assert!(body.get("ssh_keys").is_none(), "no ssh keys: {body}");

    let polls = [
        ("status-progress.json", "action-running.json"),
        ("status-progress2.json", "action-success.json"),
        ("status-ready.json", "action-success.json"),
    ];
    let mut mocks = Vec::new();
    for (server_answer, action_answer) in polls {
        mocks.push(get_once(
            &mut server,
            "/servers/42424242",
            200,
            &hetzner(server_answer),
        ));
        mocks.push(get_once(
            &mut server,
            "/actions/558001",
            200,
            &hetzner(action_answer),
        ));
    }
    let finished = (
        "finished".to_owned(),
        "203.0.113.17".to_owned(),
        "Yq7rNf3KpXw9LmTz2Hc4".to_owned(),
    );
    assert_polls_until_finished(&plugin, &task_id, finished, &mocks);
}

#[test]
fn a_failed_build_is_an_error() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_cx23(&mut server, &plugin);
    get_once(
        &mut server,
        "/servers/42424242",
        200,
        &hetzner("status-progress.json"),
    );
    get_once(
        &mut server,
        "/actions/558001",
        200,
        &hetzner("action-failed.json"),
    );
    let deleted = deleted_once(&mut server, "/servers/42424242");
    let run = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &run,
        &task_id,
        &["`initializing/error`", "the server was deleted"],
    );
    deleted.assert();
}

#[test]
fn a_bad_token_says_so_with_hetzners_message() {
    let mut server = Server::new();
    let refusing = server
        .mock("GET", "/server_types")
        .match_query(Matcher::Any);
    once(refusing, 401, &hetzner("error-401.json"));
    let run = Plugin::shipped("hetzner", &server.url())
        .secrets("token=wrong-token\n")
        .run(&["configs"]);
    assert_bad_token(&run, "wrong-token", &["unable to authenticate"]);
}

#[test]
fn hetzners_refusal_of_an_order_reaches_the_panel() {
    for (status, answer, expected) in [
        (
            400,
            "error-400.json",
            "invalid input in field 'server_type'; server type cx99 not found",
        ),
        (412, "error-412.json", "error during placement"),
    ] {
        let mut server = Server::new();
        plans(&mut server, &hetzner("plans.json"));
        let create = once(server.mock("POST", "/servers"), status, &hetzner(answer));
        let run = plugin(&server).run(&["order", "116"]);
        assert_error_says(&run, &[expected]);
        create.assert();
    }
}

#[test]
fn a_rate_limited_order_is_not_sent_twice() {
    let mut server = Server::new();
    plans(&mut server, &hetzner("plans.json"));
    assert_order_rate_limited(
        &plugin(&server),
        server.mock("POST", "/servers"),
        &hetzner("error-429.json"),
        "22",
        "limit of 3600 requests per hour reached",
    );
}

#[test]
fn a_rate_limited_read_is_retried() {
    let mut server = Server::new();
    let limited = rate_limited(
        server
            .mock("GET", "/server_types")
            .match_query(Matcher::Any),
        &hetzner("error-429.json"),
        1,
    );
    let list = plans(&mut server, &hetzner("plans.json")).expect(1);
    assert_configs_retried(&plugin(&server), limited, list, 2);
}

#[test]
fn an_unknown_server_is_an_error_naming_it() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _) = order_cx23(&mut server, &plugin);
    get_once(
        &mut server,
        "/servers/42424242",
        404,
        &hetzner("error-404.json"),
    );
    let run = plugin.run(&["order_status", &task_id]);
    assert_error_says(&run, &["server with ID '42424242' not found"]);
}
