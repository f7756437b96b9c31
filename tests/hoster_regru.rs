//! The shipped REG.RU CloudVPS provider file, end to end through the real binary, against a
//! mock of the CloudVPS API v1 on 127.0.0.1 answering with fixtures made from public clients
//! of that API (`tests/fixtures/hosters/regru/README.md` names them and what is guessed).

mod common;

use common::{
    Plugin, Received, assert_bad_token, assert_configs_retried, assert_error_says, assert_failed,
    assert_help_follows_the_token, assert_order_rate_limited, assert_poll_rate_limited,
    assert_token_from_env, authed, capture_once, deleted_once, enabled_descrs as descrs,
    fixture_with, hoster_fixture, json_post, once, operator, pair, rate_limited, received_json,
    task_id, task_reply,
};
use mockito::{Matcher, Mock, Server};
use serde_json::{Value, json};

const REGLET: &str = "/v1/reglets/424242";

fn regru(name: &str) -> String {
    hoster_fixture("regru", name)
}

/// `regru(name)` with one change.
fn regru_with(name: &str, change: impl FnOnce(&mut Value)) -> String {
    fixture_with(&format!("hosters/regru/{name}"), change)
}

/// The ready reglet's answer with `status` in place of `active`.
fn active_but(status: &str) -> String {
    regru_with("status-active.json", |v| {
        v["reglet"]["status"] = json!(status)
    })
}

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("regru", &server.url()).secrets(common::SECRETS)
}

/// GET /v1/sizes, answered with `body`.
fn sizes(server: &mut Server, body: &str) -> Mock {
    authed(server, "GET", "/v1/sizes")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
        .create()
}

/// One answer to GET /v1/reglets/424242, in the order created.
fn reglet(server: &mut Server, status: usize, body: &str) -> Mock {
    let get = authed(server, "GET", REGLET).with_header("content-type", "application/json");
    once(get, status, body)
}

/// POST /v1/reglets accepted (201); the body it got is kept in the returned cell.
fn create(server: &mut Server) -> (Mock, Received) {
    let post = json_post(server, "/v1/reglets", json!({"size": "c2-m2-d30-base"}))
        .with_header("content-type", "application/json");
    capture_once(post, 201, regru("create.json"))
}

/// Checks that the error `run` printed quotes the hoster's `words` as they are, not the JSON
/// answer around them.
fn assert_hosters_words(run: &common::Run, words: &str) {
    assert_error_says(run, &[&format!(": {words} (at `")]);
}

/// Orders size 1087 (`c2-m2-d30-base`) and returns the task id.
fn order(plugin: &Plugin, server: &mut Server) -> String {
    let _sizes = sizes(server, &regru("sizes.json"));
    let (create, _) = create(server);
    let run = plugin.run(&["order", "1087"]);
    create.assert();
    task_id(&run)
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    assert_help_follows_the_token("regru", "1087");
    let server = Server::new();
    assert_token_from_env(
        Plugin::shipped("regru", &server.url()),
        "REGRU_CLOUDVPS_TOKEN",
    );
}

#[test]
fn configs_offer_the_sizes_still_sold_in_range_in_the_region() {
    let mut server = Server::new();
    let list = sizes(&mut server, &regru("sizes.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    list.assert();
    assert_eq!(
        descrs(&run),
        [
            pair(
                "1087",
                "Bitrix-env, AlmaLinux 9, 2 vCPU, 2 GB RAM, 30 GB disk, 460.00 RUB/month, openstack-msk1"
            ),
            pair(
                "1089",
                "Bitrix-env, AlmaLinux 9, 2 vCPU, 4 GB RAM, 50 GB disk, 840.00 RUB/month, openstack-msk1"
            ),
        ]
    );
    // 1085 has 1 GB, below the floor; 5 (`cloud-1`) is archived.
    for absent in ["\"1085\"", "\"5\"", "cloud-1"] {
        assert!(!run.stdout.contains(absent), "{absent} in {}", run.stdout);
    }
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    // 1087 is sold in St Petersburg only, 1089 lists no regions at all (the field may be
    // missing from /v1/sizes): it is offered wherever the site orders.
    let _list = sizes(
        &mut server,
        &regru_with("sizes.json", |v| {
            v["sizes"][1]["regions"] = json!(["openstack-spb1"]);
            v["sizes"][2].as_object_mut().unwrap().remove("regions");
        }),
    );
    let moscow = plugin(&server).run(&["configs"]);
    assert_eq!(
        descrs(&moscow)
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        ["1089"]
    );
    let spb = Plugin::shipped("regru", &server.url())
        .secrets("token=tok\nregion=openstack-spb1\nmin_memory_mb=512\nmax_price_rub=500\n");
    assert_eq!(
        descrs(&spb.run(&["configs"])),
        [pair(
            "1087",
            "Bitrix-env, AlmaLinux 9, 2 vCPU, 2 GB RAM, 30 GB disk, 460.00 RUB/month, openstack-spb1"
        )]
    );
    // In range and cheap, but archived: never offered.
    let cheap = Plugin::shipped("regru", &server.url())
        .secrets("token=tok\nmin_memory_mb=512\nmax_memory_mb=1024\nimage_name=Rocky Linux 9\n");
    assert_eq!(
        descrs(&cheap.run(&["configs"])),
        [pair(
            "1085",
            "Bitrix-env, Rocky Linux 9, 1 vCPU, 1 GB RAM, 10 GB disk, 215.00 RUB/month, openstack-msk1"
        )]
    );
}

#[test]
fn order_sends_the_password_in_cloud_init_and_polls_until_finished() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &regru("sizes.json"));
    let (create, received) = create(&mut server);
    let p = plugin(&server);

    let ordered = p.run(&["order", "1087"]);
    create.assert();
    let task_id = task_id(&ordered);

    let mut body = received_json(&received);
    let password = common::cloud_init_root_password(&body["user_data"]);
    body.as_object_mut().unwrap().remove("user_data");
    assert_eq!(
        body,
        json!({
            "name": format!("bitrix-{task_id}"),
            "size": "c2-m2-d30-base",
            "image": "almalinux-9-amd64",
            "region_slug": "openstack-msk1",
            "backups": false,
            "ssh_keys": [],
        })
    );
    // The password is only ever printed by a finished order_status.
    assert!(!ordered.stdout.contains(&password) && !ordered.stderr.contains(&password));
    assert_eq!(p.only_task()["hoster_id"], "424242");

    // `new` with its address already there; `active` before the address is assigned; ready.
    let polls = [
        reglet(&mut server, 200, &regru("status-new.json")),
        reglet(
            &mut server,
            200,
            &regru_with("status-active.json", |v| v["reglet"]["ip"] = Value::Null),
        ),
        reglet(&mut server, 200, &regru("status-active.json")),
    ];
    let in_progress = task_reply(&task_id, "in_progress", "", "");
    for _ in 0..2 {
        let run = p.run(&["order_status", &task_id]);
        assert_eq!(run.ok(), &in_progress);
        assert!(!run.stdout.contains("203.0.113.90"), "{}", run.stdout);
    }
    // The IPv4 address, not the IPv6 one.
    let finished = task_reply(&task_id, "finished", "203.0.113.90", &password);
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    // Once finished, the answer comes from the task store: the hoster is not asked again.
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    for poll in &polls {
        poll.assert();
    }
}

#[test]
fn the_sites_ssh_keys_and_image_are_sent() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &regru("sizes.json"));
    let (create, received) = create(&mut server);
    let p = Plugin::shipped("regru", &server.url()).secrets(
        "token=tok\nssh_keys=[\"0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0\", 4242]\nimage=rocky-9-amd64\n",
    );
    task_id(&p.run(&["order", "1087"]));
    create.assert();
    let body = received_json(&received);
    assert_eq!(
        body["ssh_keys"],
        json!(["0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0", 4242])
    );
    assert_eq!(body["image"], "rocky-9-amd64");
}

/// REG.RU reports no failure of a build: a reglet still `new` half an hour after the order is
/// given up on and deleted, once; later polls answer from the task store.
#[test]
fn a_build_that_never_ends_is_given_up_and_deleted_once() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let early = reglet(&mut server, 200, &regru("status-new.json"));
    assert_eq!(
        p.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "in_progress", "", "")
    );
    early.assert();

    p.backdate_task(&task_id, 31);
    let late = reglet(&mut server, 200, &regru("status-new.json"));
    let deleted = deleted_once(&mut server, REGLET);
    let run = p.run(&["order_status", &task_id]);
    assert_failed(
        &run,
        &task_id,
        &[
            "`new`",
            "given up after 30 minutes",
            "the server was deleted",
        ],
    );
    let again = p.run(&["order_status", &task_id]);
    assert_eq!(again.ok()["status"], "error");
    late.assert();
    deleted.assert();
}

#[test]
fn a_site_that_keeps_failed_servers_gets_no_delete() {
    let mut server = Server::new();
    let p =
        Plugin::shipped("regru", &server.url()).secrets("token=tok\ndelete_failed_servers=false\n");
    let task_id = order(&p, &mut server);
    p.backdate_task(&task_id, 31);
    let _late = reglet(&mut server, 200, &regru("status-new.json"));
    let untouched = server.mock("DELETE", Matcher::Any).expect(0).create();
    let run = p.run(&["order_status", &task_id]);
    assert_failed(&run, &task_id, &["given up after 30 minutes"]);
    untouched.assert();
}

#[test]
fn suspended_removed_and_failed_reglets_are_errors_and_deleted() {
    for (state, body) in [
        ("suspended", active_but("suspended")),
        ("archive", active_but("archive")),
        ("error", regru("status-error.json")),
    ] {
        let mut server = Server::new();
        let p = plugin(&server);
        let task_id = order(&p, &mut server);
        let _poll = reglet(&mut server, 200, &body);
        let deleted = deleted_once(&mut server, REGLET);
        let run = p.run(&["order_status", &task_id]);
        assert_failed(
            &run,
            &task_id,
            &[&format!("`{state}`"), "the server was deleted"],
        );
        deleted.assert();
    }
}

#[test]
fn a_powered_off_reglet_waits_and_an_unknown_state_is_named() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let _off = reglet(&mut server, 200, &active_but("off"));
    let _odd = reglet(&mut server, 200, &active_but("reinstalling"));
    let untouched = server.mock("DELETE", Matcher::Any).expect(0).create();
    assert_eq!(
        p.run(&["order_status", &task_id]).ok()["status"],
        "in_progress"
    );
    assert_error_says(
        &p.run(&["order_status", &task_id]),
        &["`reinstalling`", "status map does not know"],
    );
    untouched.assert();
}

#[test]
fn a_bad_token_says_so_with_the_hosters_message() {
    let mut server = Server::new();
    // The plan list needs no token at REG.RU; ordering does.
    let _sizes = server
        .mock("GET", "/v1/sizes")
        .with_body(regru("sizes.json"))
        .create();
    let refused = once(
        server.mock("POST", "/v1/reglets"),
        401,
        &regru("error-401.json"),
    );
    let p = Plugin::shipped("regru", &server.url()).secrets("token=wrong-token-123\n");
    let run = p.run(&["order", "1087"]);
    assert_bad_token(&run, "wrong-token-123", &["401", "Authorization required"]);
    assert!(!run.stderr.contains("wrong-token-123"));
    assert_hosters_words(&run, "Authorization required");
    assert_eq!(p.only_task()["stage"], "refused");
    refused.assert();

    // `check` reads the account, which does need the token (the plan list would say ok).
    let account = once(
        server.mock("GET", "/v1/account/info"),
        401,
        &regru("error-401.json"),
    );
    let check = operator(&["check", "regru"], &p.env);
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("Authorization required") && stderr.contains("check the API token"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-token-123"), "{stderr}");
    account.assert();
}

#[test]
fn a_refused_order_gets_the_hosters_words_and_buys_nothing() {
    for (status, body, says) in [
        (400, "error-400.json", "Validation error; size"),
        (402, "error-402.json", "Insufficient funds on balance"),
        (
            400,
            "error-400-schema.json",
            "'vps provider' does not match '^[a-zA-Z0-9._-]+$' at name",
        ),
        // What the panel sees if REG.RU's request schema does not take `user_data`.
        (
            400,
            "error-400-user-data.json",
            "Additional properties are not allowed ('user_data' was unexpected)",
        ),
    ] {
        let mut server = Server::new();
        let _sizes = sizes(&mut server, &regru("sizes.json"));
        let refused = once(server.mock("POST", "/v1/reglets"), status, &regru(body));
        let p = plugin(&server);
        let run = p.run(&["order", "1087"]);
        assert_error_says(&run, &[&status.to_string()]);
        assert_hosters_words(&run, says);
        assert_eq!(p.only_task()["stage"], "refused");
        refused.assert();
    }
}

#[test]
fn rate_limits_are_retried_on_reads_and_an_order_is_never_resent() {
    let mut server = Server::new();
    let limited = rate_limited(
        authed(&mut server, "GET", "/v1/sizes"),
        &regru("error-429.json"),
        1,
    );
    let list = sizes(&mut server, &regru("sizes.json")).expect(1);
    assert_configs_retried(&plugin(&server), limited, list, 2);

    let mut server = Server::new();
    let _sizes = sizes(&mut server, &regru("sizes.json"));
    let p = plugin(&server);
    let limited = assert_order_rate_limited(
        &p,
        server.mock("POST", "/v1/reglets"),
        &regru("error-429.json"),
        "1087",
        "Too many requests",
    );
    limited.remove();

    // A poll is a read: retried on 429, then reported; the next poll works again.
    let task_id = order(&p, &mut server);
    let busy = rate_limited(server.mock("GET", REGLET), &regru("error-429.json"), 4);
    let ready = reglet(&mut server, 200, &regru("status-active.json"));
    assert_poll_rate_limited(&p, &task_id, busy, ready, "Too many requests");
}

#[test]
fn a_reglet_the_hoster_does_not_know_is_an_error() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let gone = reglet(&mut server, 404, &regru("error-404.json"));
    let run = p.run(&["order_status", &task_id]);
    assert_error_says(&run, &["404"]);
    assert_hosters_words(&run, "No such reglet: 424242");
    gone.assert();
}
