//! The shipped Timeweb Cloud provider file, end to end through the real binary, against a mock
//! of the Timeweb Cloud API v1 on 127.0.0.1 answering with fixtures made from its docs.

mod common;

use common::{Plugin, Run, fixture};
use mockito::{Matcher, Mock, Server};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const SERVER: &str = "/api/v1/servers/4051231";
/// The fixtures' Rocky Linux 9 id is made up; the shipped file has none (see its header).
const SECRETS: &str = "token=tok\nos_id=99\n";

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("timeweb", &server.url()).secrets(SECRETS)
}

fn presets(server: &mut Server) -> Mock {
    server
        .mock("GET", "/api/v1/presets/servers")
        .match_header("authorization", "Bearer tok")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(fixture("hosters/timeweb/plans.json"))
        .create()
}

/// One answer to GET /api/v1/servers/4051231, in the order created.
fn poll_answer(server: &mut Server, status: usize, body: &str) -> Mock {
    server
        .mock("GET", SERVER)
        .match_header("authorization", "Bearer tok")
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body(body)
        .expect(1)
        .create()
}

fn fixture_with(name: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(&fixture(name)).unwrap();
    change(&mut value);
    value.to_string()
}

/// POST /api/v1/servers accepted; the body it got is kept in the returned cell.
fn create(server: &mut Server) -> (Mock, Arc<Mutex<Vec<u8>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let answer = fixture("hosters/timeweb/create.json");
    let mock = server
        .mock("POST", "/api/v1/servers")
        .match_header("authorization", "Bearer tok")
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(
            json!({"preset_id": 4799, "os_id": 99}),
        ))
        .with_status(201)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |request| {
            *keep.lock().unwrap() = request.body().unwrap().clone();
            answer.clone().into_bytes()
        })
        .expect(1)
        .create();
    (mock, received)
}

/// Orders preset 4799 and returns the task id.
fn order(plugin: &Plugin, server: &mut Server) -> String {
    let _presets = presets(server);
    let (create, _) = create(server);
    let run = plugin.run(&["order", "4799"]);
    create.assert();
    run.ok()["task_id"].as_str().unwrap().to_owned()
}

fn descrs(run: &Run) -> Vec<(String, String)> {
    let reply = run.ok();
    assert_eq!(reply["status"], "enabled");
    reply["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["descr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(id: &str, descr: &str) -> (String, String) {
    (id.to_owned(), descr.to_owned())
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();

    assert_eq!(
        plugin(&server).run(&["help"]).ok(),
        &json!({"options": ["help", "configs", "order", "order_status"], "status": "enabled"})
    );
    let without = Plugin::shipped("timeweb", &server.url());
    assert_eq!(without.run(&["help"]).ok()["status"], "disabled");
    assert_eq!(
        without.run(&["configs"]).ok(),
        &json!({"configurations": [], "status": "disabled"})
    );
    let mut from_env = Plugin::shipped("timeweb", &server.url()).secrets("os_id=99\n");
    from_env
        .env
        .push(("TIMEWEB_CLOUD_TOKEN".into(), "tok".into()));
    assert_eq!(from_env.run(&["help"]).ok()["status"], "enabled");
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
    let task_id = ordered.ok()["task_id"].as_str().unwrap().to_owned();
    let body: Value = serde_json::from_slice(&received.lock().unwrap()).unwrap();
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
    let in_progress =
        json!({"task_id": task_id, "status": "in_progress", "server": "", "server_password": ""});
    for _ in 0..4 {
        let run = p.run(&["order_status", &task_id]);
        assert_eq!(run.ok(), &in_progress);
        assert!(!run.stdout.contains("fH7#qL2m!Xz9"));
    }
    // The main IPv4, not the IPv6 listed before it.
    let finished = json!({"task_id": task_id, "status": "finished",
        "server": "203.0.113.77", "server_password": "fH7#qL2m!Xz9"});
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
    assert_eq!(
        p.run(&["order_status", &task_id]).ok(),
        &json!({"task_id": task_id, "status": "error", "server": "", "server_password": ""})
    );
}

#[test]
fn a_bad_token_says_so_with_the_hosters_message() {
    let mut server = Server::new();
    let refused = server
        .mock("GET", "/api/v1/presets/servers")
        .with_status(401)
        .with_body(fixture("hosters/timeweb/error-401.json"))
        .expect(1)
        .create();
    let p = Plugin::shipped("timeweb", &server.url()).secrets("token=wrong-token-123\nos_id=99\n");
    let run = p.run(&["configs"]);
    let message = run.error_message();
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(message.contains(": Unauthorized"), "{message}");
    assert!(message.contains("check the API token"), "{message}");
    assert!(!run.stdout.contains("wrong-token-123") && !run.stderr.contains("wrong-token-123"));
    refused.assert();
}

#[test]
fn an_invalid_plan_is_refused_with_the_hosters_message_or_messages() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let one = server
        .mock("POST", "/api/v1/servers")
        .with_status(400)
        .with_body(fixture("hosters/timeweb/error-400.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "4805"]);
    let message = run.error_message();
    assert!(message.contains("400"), "{message}");
    assert!(message.contains("Preset not found"), "{message}");
    one.assert();
    one.remove();

    let many = server
        .mock("POST", "/api/v1/servers")
        .with_status(400)
        .with_body(fixture("hosters/timeweb/error-400-list.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "4799"]);
    let message = run.error_message();
    assert!(
        message.contains(
            "preset_id must be a number conforming to the specified constraints; \
             os_id must be a number conforming to the specified constraints"
        ),
        "{message}"
    );
    many.assert();
}

#[test]
fn rate_limits_are_reported_and_an_order_is_never_resent() {
    let mut server = Server::new();
    let _presets = presets(&mut server);
    let limited = server
        .mock("POST", "/api/v1/servers")
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(fixture("hosters/timeweb/error-429.json"))
        .expect(1)
        .create();
    let p = plugin(&server);
    let run = p.run(&["order", "4799"]);
    let message = run.error_message();
    assert!(message.contains("Too many requests"), "{message}");
    assert!(message.contains("wait a minute"), "{message}");
    limited.assert();
    limited.remove();

    // A poll is a read: retried on 429, then reported; the next poll works again.
    let task_id = order(&p, &mut server);
    let busy = server
        .mock("GET", SERVER)
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(fixture("hosters/timeweb/error-429.json"))
        .expect(4)
        .create();
    let ready = poll_answer(
        &mut server,
        200,
        &fixture("hosters/timeweb/status-ready.json"),
    );
    let poll = p.run(&["order_status", &task_id]);
    assert!(
        poll.error_message().contains("Too many requests"),
        "{}",
        poll.stdout
    );
    busy.assert();
    assert_eq!(
        p.run(&["order_status", &task_id]).ok()["status"],
        "finished"
    );
    ready.assert();
}

#[test]
fn a_server_the_hoster_does_not_know_is_an_error() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let gone = poll_answer(&mut server, 404, &fixture("hosters/timeweb/error-404.json"));
    let run = p.run(&["order_status", &task_id]);
    let message = run.error_message();
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("Server not found"), "{message}");
    gone.assert();
}
