//! The shipped Timeweb Cloud provider file, end to end through the real binary, against a mock
//! of the Timeweb Cloud API v1 on 127.0.0.1 answering with fixtures made from its docs.

mod common;

use common::{
    Plugin, Received, assert_bad_token, assert_error_says, assert_failed,
    assert_order_rate_limited, assert_poll_rate_limited, assert_token_from_env, authed,
    capture_once, deleted_once, disabled_configs, enabled_descrs as descrs, fixture, fixture_with,
    help_reply, json_post, once, pair, rate_limited, received_json, task_id, task_reply,
};
use mockito::{Matcher, Mock, Server};
use serde_json::json;

const SERVER: &str = "/api/v1/servers/4051231";
/// The fixtures' Rocky Linux 9 id is made up; the shipped file has none (see its header).
const SECRETS: &str = "token=tok\nos_id=99\n";

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("timeweb", &server.url()).secrets(SECRETS)
}

fn presets(server: &mut Server) -> Mock {
    authed(server, "GET", "/api/v1/presets/servers")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(fixture("hosters/timeweb/plans.json"))
        .create()
}

/// One answer to GET /api/v1/servers/4051231, in the order created.
fn poll_answer(server: &mut Server, status: usize, body: &str) -> Mock {
    let get = authed(server, "GET", SERVER).with_header("content-type", "application/json");
    once(get, status, body)
}

/// POST /api/v1/servers accepted; the body it got is kept in the returned cell.
fn create(server: &mut Server) -> (Mock, Received) {
    let request = json!({"preset_id": 4799, "os_id": 99});
    let post = json_post(server, "/api/v1/servers", request)
        .with_header("content-type", "application/json");
    capture_once(post, 201, fixture("hosters/timeweb/create.json"))
}

/// Orders preset 4799 and returns the task id.
fn order(plugin: &Plugin, server: &mut Server) -> String {
    let _presets = presets(server);
    let (create, _) = create(server);
    let run = plugin.run(&["order", "4799"]);
    create.assert();
    task_id(&run)
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();

    assert_eq!(plugin(&server).run(&["help"]).ok(), &help_reply("enabled"));
    let without = Plugin::shipped("timeweb", &server.url());
    assert_eq!(without.run(&["help"]).ok()["status"], "disabled");
    assert_eq!(without.run(&["configs"]).ok(), &disabled_configs());
    assert_token_from_env(
        Plugin::shipped("timeweb", &server.url()).secrets("os_id=99\n"),
        "TIMEWEB_CLOUD_TOKEN",
    );
    untouched.assert();
}

#[test]
fn configs_offer_the_plans_in_range_in_the_location() {
    let mut server = Server::new();
    let list = presets(&mut server).expect(1);
    let run = plugin(&server).run(&["configs"]);
    list.assert();
    assert_eq!(
        descrs(&run),
        [
            pair(
                "4799",
                "Bitrix-env, Rocky Linux 9, 1 vCPU 3.3 GHz, 2 GB RAM, 30 GB disk (nvme), 477.00 RUB/month, ru-1"
            ),
            pair(
                "4805",
                "Bitrix-env, Rocky Linux 9, 2 vCPU 3.3 GHz, 4 GB RAM, 50 GB disk (nvme), 850.00 RUB/month, ru-1"
            ),
        ]
    );
    // 1 GB is below the floor; nl-1 and pl-1 are other locations.
    for absent in ["4795", "2453", "2455", "nl-1", "pl-1"] {
        assert!(!run.stdout.contains(absent), "{absent} in {}", run.stdout);
    }
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    let _list = presets(&mut server);
    let nl =
        Plugin::shipped("timeweb", &server.url()).secrets("token=tok\nos_id=99\nlocation=nl-1\n");
    assert_eq!(
        descrs(&nl.run(&["configs"])),
        [pair(
            "2453",
            "Bitrix-env, Rocky Linux 9, 1 vCPU 3.3 GHz, 2 GB RAM, 40 GB disk (nvme), 650.00 RUB/month, nl-1"
        )]
    );
    let cheap = Plugin::shipped("timeweb", &server.url())
        .secrets("token=tok\nos_id=99\nmax_price_rub=500\nos_name=AlmaLinux 9\n");
    assert_eq!(
        descrs(&cheap.run(&["configs"])),
        [pair(
            "4799",
            "Bitrix-env, AlmaLinux 9, 1 vCPU 3.3 GHz, 2 GB RAM, 30 GB disk (nvme), 477.00 RUB/month, ru-1"
        )]
    );
}

#[test]
fn nothing_is_offered_until_the_operator_sets_os_id() {
    let mut server = Server::new();
    let list = server.mock("GET", Matcher::Any).expect(0).create();
    let creates = server.mock("POST", Matcher::Any).expect(0).create();
    let unset = Plugin::shipped("timeweb", &server.url()).secrets("token=tok\n");
    assert_eq!(unset.run(&["help"]).ok()["status"], "disabled");
    assert_eq!(unset.run(&["configs"]).ok()["configurations"], json!([]));

    let run = unset.run(&["order", "4799"]);
    assert!(
        run.error_message().contains("setting `os_id` missing"),
        "{}",
        run.stdout
    );
    list.assert();
    creates.assert();
}

#[test]
fn order_sends_numbers_and_polls_until_the_root_password_is_there() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let (create, received) = create(&mut server);
    let p = plugin(&server);

    let ordered = p.run(&["order", "4799"]);
    create.assert();
    let task_id = task_id(&ordered);
    let body = received_json(&received);
    assert_eq!(body["name"], format!("bitrix-{task_id}"));
    assert!(
        body["preset_id"].is_u64() && body["os_id"].is_u64(),
        "{body}"
    );
    assert_eq!(body["preset_id"], 4799);
    assert_eq!(body["os_id"], 99);
    assert!(body.get("availability_zone").is_none(), "{body}");

    // installing with the 0.0.0.0 placeholder; installing with the real address; `on` with
    // root_pass still null; `on` with root_pass but a placeholder address; then ready.
    let polls = [
        poll_answer(&mut server, 200, &fixture("hosters/timeweb/create.json")),
        poll_answer(
            &mut server,
            200,
            &fixture("hosters/timeweb/status-progress.json"),
        ),
        poll_answer(
            &mut server,
            200,
            &fixture("hosters/timeweb/status-progress2.json"),
        ),
        poll_answer(
            &mut server,
            200,
            &fixture_with("hosters/timeweb/status-ready.json", |v| {
                v["server"]["networks"][0]["ips"][1]["ip"] = json!("0.0.0.0")
            }),
        ),
        poll_answer(
            &mut server,
            200,
            &fixture("hosters/timeweb/status-ready.json"),
        ),
    ];
    let in_progress = task_reply(&task_id, "in_progress", "", "");
    for _ in 0..4 {
        let run = p.run(&["order_status", &task_id]);
        assert_eq!(run.ok(), &in_progress);
        assert!(!run.stdout.contains("fH7#qL2m!Xz9"));
    }
    // The main IPv4, not the IPv6 listed before it.
    let finished = task_reply(&task_id, "finished", "203.0.113.77", "fH7#qL2m!Xz9");
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    // Once finished, the answer comes from the task store: the hoster is not asked again.
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    for poll in &polls {
        poll.assert();
    }
}

#[test]
fn a_blocked_server_is_an_error() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let _off = poll_answer(
        &mut server,
        200,
        &fixture_with("hosters/timeweb/status-ready.json", |v| {
            v["server"]["status"] = json!("off")
        }),
    );
    let _blocked = poll_answer(
        &mut server,
        200,
        &fixture("hosters/timeweb/status-failed.json"),
    );
    assert_eq!(
        p.run(&["order_status", &task_id]).ok()["status"],
        "in_progress"
    );
    let deleted = deleted_once(&mut server, SERVER);
    let failed = p.run(&["order_status", &task_id]);
    assert_failed(&failed, &task_id, &["`blocked`", "the server was deleted"]);
    deleted.assert();
}

#[test]
fn a_bad_token_says_so_with_the_hosters_message() {
    let mut server = Server::new();
    let refused = once(
        server.mock("GET", "/api/v1/presets/servers"),
        401,
        &fixture("hosters/timeweb/error-401.json"),
    );
    let p = Plugin::shipped("timeweb", &server.url()).secrets("token=wrong-token-123\nos_id=99\n");
    let run = p.run(&["configs"]);
    assert_bad_token(
        &run,
        "wrong-token-123",
        &["401 Unauthorized", ": Unauthorized"],
    );
    assert!(!run.stderr.contains("wrong-token-123"));
    refused.assert();
}

#[test]
fn an_invalid_plan_is_refused_with_the_hosters_message_or_messages() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let one = once(
        server.mock("POST", "/api/v1/servers"),
        400,
        &fixture("hosters/timeweb/error-400.json"),
    );
    let run = plugin(&server).run(&["order", "4805"]);
    assert_error_says(&run, &["400", "Preset not found"]);
    one.assert();
    one.remove();

    let many = once(
        server.mock("POST", "/api/v1/servers"),
        400,
        &fixture("hosters/timeweb/error-400-list.json"),
    );
    let run = plugin(&server).run(&["order", "4799"]);
    assert_error_says(
        &run,
        &[
            "preset_id must be a number conforming to the specified constraints; \
           os_id must be a number conforming to the specified constraints",
        ],
    );
    many.assert();
}

#[test]
fn rate_limits_are_reported_and_an_order_is_never_resent() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let p = plugin(&server);
    let limited = assert_order_rate_limited(
        &p,
        server.mock("POST", "/api/v1/servers"),
        &fixture("hosters/timeweb/error-429.json"),
        "4799",
        "Too many requests",
    );
    limited.remove();

    // A poll is a read: retried on 429, then reported; the next poll works again.
    let task_id = order(&p, &mut server);
    let busy = rate_limited(
        server.mock("GET", SERVER),
        &fixture("hosters/timeweb/error-429.json"),
        4,
    );
    let ready = poll_answer(
        &mut server,
        200,
        &fixture("hosters/timeweb/status-ready.json"),
    );
    assert_poll_rate_limited(&p, &task_id, busy, ready, "Too many requests");
}

#[test]
fn a_server_the_hoster_does_not_know_is_an_error() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let gone = poll_answer(&mut server, 404, &fixture("hosters/timeweb/error-404.json"));
    let run = p.run(&["order_status", &task_id]);
    assert_error_says(&run, &["404", "Server not found"]);
    gone.assert();
}

#[test]
fn a_zone_chosen_by_the_site_is_sent() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let (create, received) = create(&mut server);
    let p = Plugin::shipped("timeweb", &server.url())
        .secrets(&format!("{SECRETS}availability_zone=spb-3\n"));
    task_id(&p.run(&["order", "4799"]));
    create.assert();
    assert_eq!(received_json(&received)["availability_zone"], "spb-3");
}
