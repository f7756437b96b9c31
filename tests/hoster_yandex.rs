//! The shipped Yandex Cloud Compute provider file, run through the real binary against a mock
//! of Yandex Cloud's REST API (answers from `tests/fixtures/hosters/yandex/`, made from the API
//! reference; see its README). One mock host serves IAM, Compute and the operations, each
//! where its own URL in the file sends it: `$VPS_PROVIDER_BASE_URL` is the mock plus a path
//! (`/compute-host`), which replaces `api.base_url` (Compute) whole but only the scheme, host
//! and port of the IAM and operation endpoints. So Compute's requests arrive under
//! `/compute-host`, the others at their endpoint's path, and a request sent to the wrong API
//! reaches no mock.

mod common;

use common::{
    Plugin, assert_error_says, assert_failed, assert_rate_limited, capture_once, descrs,
    hoster_fixture, rate_limited, received_json, task_id, task_reply,
};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

/// The OAuth token of the site, and the IAM token the mock's IAM hands out for it.
const OAUTH: &str = "y0_oauth-tok";
const IAM: &str = "t1.invented-iam-token.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const SECRETS: &str =
    "token=y0_oauth-tok\nfolder_id=b1g0invented0folder01\nsubnet_id=e9binvented0subnet001\n";
const OPERATION: &str = "/operations/fhm0invented0oper0001";
/// Where the mock serves Compute: `$VPS_PROVIDER_BASE_URL`'s path, then the file's.
const COMPUTE: &str = "/compute-host/compute/v1";

/// `$VPS_PROVIDER_BASE_URL` for `server`: the mock, with the path that marks Compute.
fn base_url(server: &ServerGuard) -> String {
    format!("{}/compute-host", server.url())
}

fn yandex(name: &str) -> String {
    hoster_fixture("yandex", name)
}

fn plugin(server: &ServerGuard) -> Plugin {
    Plugin::shipped("yandex", &base_url(server)).secrets(SECRETS)
}

/// The token exchange, answered with an IAM token valid until 2100; expected `times` times.
fn iam_login(server: &mut ServerGuard, times: usize) -> Mock {
    let answer = json!({"iamToken": IAM, "expiresAt": "2100-01-01T00:00:00Z"});
    server
        .mock("POST", "/iam/v1/tokens")
        .match_body(Matcher::Json(json!({"yandexPassportOauthToken": OAUTH})))
        .with_status(200)
        .with_body(answer.to_string())
        .expect(times)
        .create()
}

/// A Compute request `method path` (under `/compute/v1`) carrying the IAM token.
fn compute(server: &mut ServerGuard, method: &str, path: &str) -> Mock {
    with_iam(server, method, &format!("{COMPUTE}{path}"))
}

/// A request `method path` carrying the IAM token; not created yet.
fn with_iam(server: &mut ServerGuard, method: &str, path: &str) -> Mock {
    server
        .mock(method, path)
        .match_header("authorization", format!("Bearer {IAM}").as_str())
}

/// The look-up of the newest AlmaLinux 9 image.
fn image(server: &mut ServerGuard) -> Mock {
    compute(server, "GET", "/images:latestByFamily")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("folderId".into(), "standard-images".into()),
            Matcher::UrlEncoded("family".into(), "almalinux-9".into()),
        ]))
        .with_body(yandex("image-latest.json"))
        .create()
}

/// The operation read, answered with `fixture` `times` times.
fn operation(server: &mut ServerGuard, fixture: &str, times: usize) -> Mock {
    with_iam(server, "GET", OPERATION)
        .with_body(yandex(fixture))
        .expect(times)
        .create()
}

/// Orders config 1: the login, the image, the create (once) and the operation (done at once
/// when `done`); the task id, the body Yandex received, and the login (expected once).
fn order_small(server: &mut ServerGuard, plugin: &Plugin, done: &str) -> (String, Value, Mock) {
    let login = iam_login(server, 1);
    image(server);
    let (create, received) = capture_once(
        compute(server, "POST", "/instances"),
        200,
        yandex("create-operation.json"),
    );
    let wait = operation(server, done, 1);
    let task_id = task_id(&plugin.run(&["order", "1"]));
    create.assert();
    wait.assert();
    (task_id, received_json(&received), login)
}

fn password_of(plugin: &Plugin) -> String {
    plugin.only_task()["password"].as_str().unwrap().to_owned()
}

#[test]
fn help_is_enabled_with_the_token_and_the_folders_ids() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();
    let none = Plugin::shipped("yandex", &server.url());
    assert_eq!(none.run(&["help"]).ok(), &common::help_reply("disabled"));
    let token_only = Plugin::shipped("yandex", &server.url()).secrets("token=y0_oauth-tok\n");
    assert_eq!(
        token_only.run(&["help"]).ok(),
        &common::help_reply("disabled")
    );
    assert_error_says(&token_only.run(&["order", "1"]), &["folder_id"]);
    assert_eq!(
        plugin(&server).run(&["help"]).ok(),
        &common::help_reply("enabled")
    );
    untouched.assert();
}

#[test]
fn configs_is_the_fixed_menu_in_the_sites_zone_without_a_request() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();
    let reply = Plugin::shipped("yandex", &server.url())
        .secrets(&format!("{SECRETS}zone=ru-central1-b\n"))
        .run(&["configs"]);
    assert_eq!(reply.ok()["status"], "enabled");
    let disk = |n| format!("{n} GB disk, ru-central1-b");
    assert_eq!(
        descrs(reply.ok()),
        [
            (
                "1",
                format!(
                    "Bitrix-env, AlmaLinux 9, 2 vCPU (20%), 2 GB RAM, {}",
                    disk(20)
                )
            ),
            (
                "2",
                format!("Bitrix-env, AlmaLinux 9, 2 vCPU, 4 GB RAM, {}", disk(30))
            ),
            (
                "3",
                format!("Bitrix-env, AlmaLinux 9, 2 vCPU, 8 GB RAM, {}", disk(40))
            ),
            (
                "4",
                format!("Bitrix-env, AlmaLinux 9, 4 vCPU, 8 GB RAM, {}", disk(60))
            ),
            (
                "5",
                format!("Bitrix-env, AlmaLinux 9, 4 vCPU, 16 GB RAM, {}", disk(80))
            ),
            (
                "6",
                format!("Bitrix-env, AlmaLinux 9, 8 vCPU, 32 GB RAM, {}", disk(120))
            ),
        ]
        .map(|(id, descr)| (id.to_owned(), descr))
    );
    untouched.assert();
}

#[test]
fn order_sends_the_documented_create_and_awaits_its_operation() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, body, _) = order_small(&mut server, &plugin, "operation-done.json");
    let password = password_of(&plugin);
    let user_data = format!(
        "#cloud-config\nssh_pwauth: true\ndisable_root: false\nchpasswd:\n  expire: false\n  users:\n    - {{ name: root, password: \"{password}\", type: text }}\nruncmd:\n  - [sh, -c, \"echo 'PermitRootLogin yes' > /etc/ssh/sshd_config.d/01-bitrix-root.conf && systemctl restart sshd\"]\n"
    );
    assert_eq!(
        body,
        json!({
            "folderId": "b1g0invented0folder01",
            "name": format!("bitrix-{task_id}"),
            "zoneId": "ru-central1-a",
            "platformId": "standard-v3",
            "labels": {"managed-by": "vps-provider", "bitrix-task": task_id},
            "resourcesSpec": {"memory": "2147483648", "cores": "2", "coreFraction": "20"},
            "bootDiskSpec": {"autoDelete": true, "diskSpec": {
                "size": "21474836480", "typeId": "network-ssd", "imageId": "fd8invented0image0001"}},
            "networkInterfaceSpecs": [{"subnetId": "e9binvented0subnet001",
                "primaryV4AddressSpec": {"oneToOneNatSpec": {"ipVersion": "IPV4"}}}],
            "metadata": {"user-data": user_data},
        })
    );
    let task = plugin.only_task();
    assert_eq!(task["hoster_id"], "fhm0invented0inst0001");
    assert_eq!(task["stage"], "ordered");
}

#[test]
fn polls_read_the_operation_until_the_machine_runs_with_its_nat_address() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _, login) = order_small(&mut server, &plugin, "operation-done.json");
    // Polls read the operation again, whatever the order's wait saw.
    let running = operation(&mut server, "operation-running.json", 2);
    let mut finished = task_reply(&task_id, "in_progress", "", "");
    for _ in 0..2 {
        assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    }
    running.assert();
    let done = operation(&mut server, "operation-done.json", 1);
    finished = task_reply(&task_id, "finished", "203.0.113.40", &password_of(&plugin));
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    // Final: answered from the record; one IAM token served the order and every poll.
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    done.assert();
    login.assert();
}

#[test]
fn a_failed_operation_is_an_error_in_yandexs_words_and_the_machine_is_deleted_once() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    // The order's wait ends on `done`, which a failed operation is too; the poll reads why.
    let (task_id, _, _) = order_small(&mut server, &plugin, "operation-error.json");
    assert_eq!(plugin.only_task()["stage"], "ordered");
    operation(&mut server, "operation-error.json", 1);
    let deleted = compute(&mut server, "DELETE", "/instances/fhm0invented0inst0001")
        .with_body(yandex("delete-operation.json"))
        .expect(1)
        .create();
    let run = plugin.run(&["order_status", &task_id]);
    assert_failed(
        &run,
        &task_id,
        &[
            "Quota limit vpc.externalAddresses.count exceeded",
            "the server was deleted",
        ],
    );
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), run.ok());
    deleted.assert();
}

#[test]
fn the_orders_wait_reads_the_operation_again_and_hands_the_task_out_when_it_runs_out() {
    let mut server = Server::new();
    // The shipped wait is 20 s; 3 s here, so the test sees it run out.
    let yaml = std::fs::read_to_string(common::repo_file("providers.d/yandex.yaml")).unwrap();
    assert!(yaml.contains("every_seconds: 2, seconds: 20 }"));
    let plugin = Plugin::new(
        "yandex",
        &yaml.replace("seconds: 20 }", "seconds: 3 }"),
        &base_url(&server),
    )
    .secrets(SECRETS);
    iam_login(&mut server, 1);
    image(&mut server);
    let create = compute(&mut server, "POST", "/instances")
        .with_body(yandex("create-operation.json"))
        .expect(1)
        .create();
    let running = operation(&mut server, "operation-running.json", 2);
    let task_id = task_id(&plugin.run(&["order", "1"]));
    create.assert();
    running.assert();
    let task = plugin.only_task();
    assert_eq!(
        (&task["stage"], &task["hoster_id"]),
        (&json!("ordered"), &json!("fhm0invented0inst0001"))
    );
    assert!(
        task["last_state"]
            .as_str()
            .unwrap()
            .contains("`seconds` allows 3"),
        "{task}"
    );
    // The polls take over, with the IAM token kept from the order.
    operation(&mut server, "operation-done.json", 1);
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "finished", "203.0.113.40", &password_of(&plugin))
    );
}

#[test]
fn a_refused_oauth_token_is_an_error_and_nothing_is_bought() {
    let mut server = Server::new();
    server
        .mock("POST", "/iam/v1/tokens")
        .with_status(401)
        .with_body(yandex("error-iam-401.json"))
        .expect(1)
        .create();
    let create = server
        .mock("POST", Matcher::Regex("instances".into()))
        .expect(0)
        .create();
    let run = plugin(&server).run(&["order", "1"]);
    assert_error_says(
        &run,
        &[
            "the login to the hoster failed",
            "Token is invalid or has expired.",
        ],
    );
    assert!(!run.stdout.contains(OAUTH), "{}", run.stdout);
    create.assert();
}

#[test]
fn a_quota_429_on_create_is_refused_and_never_retried() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    iam_login(&mut server, 1);
    image(&mut server);
    let create = rate_limited(
        compute(&mut server, "POST", "/instances"),
        &yandex("error-429.json"),
        1,
    );
    let run = plugin.run(&["order", "1"]);
    assert_rate_limited(&run, "Quota limit compute.instanceCores.count exceeded");
    assert_error_says(&run, &["nothing was bought"]);
    create.assert();
    assert_eq!(plugin.only_task()["stage"], "refused");
}

#[test]
fn a_429_on_the_image_look_up_is_retried() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _, _) = {
        // Created first, so mockito answers with it only once it has had its one hit.
        let limited = rate_limited(
            compute(&mut server, "GET", "/images:latestByFamily").match_query(Matcher::Any),
            &yandex("error-429.json"),
            1,
        );
        let ordered = order_small(&mut server, &plugin, "operation-done.json");
        limited.assert();
        ordered
    };
    assert_eq!(plugin.only_task()["id"], task_id.as_str());
}

#[test]
fn yandexs_invalid_argument_and_unknown_operation_reach_the_panel_in_its_words() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    iam_login(&mut server, 1);
    image(&mut server);
    let create = compute(&mut server, "POST", "/instances")
        .with_status(400)
        .with_body(yandex("error-400.json"))
        .expect(1)
        .create();
    let run = plugin.run(&["order", "1"]);
    assert_error_says(
        &run,
        &[
            "Platform 'standard-v3' does not support 3 cores",
            "nothing was bought",
        ],
    );
    assert!(
        !run.stdout.contains("\"code\""),
        "not raw JSON: {}",
        run.stdout
    );
    create.assert();

    let mut server = Server::new();
    let plugin = Plugin::shipped("yandex", &base_url(&server)).secrets(SECRETS);
    let (task_id, _, _) = order_small(&mut server, &plugin, "operation-done.json");
    with_iam(&mut server, "GET", OPERATION)
        .with_status(404)
        .with_body(yandex("error-404.json").replace(
            "Instance fhm0invented0inst0001",
            "Operation fhm0invented0oper0001",
        ))
        .create();
    assert_error_says(
        &plugin.run(&["order_status", &task_id]),
        &["Operation fhm0invented0oper0001 not found"],
    );
}

#[test]
fn each_request_reaches_its_apis_url_and_no_other() {
    let mut server = Server::new();
    // Created first: mockito answers with these only what no other mock matches.
    let strays = ["GET", "POST", "DELETE", "PUT", "PATCH"]
        .map(|method| server.mock(method, Matcher::Any).expect(0).create());
    let plugin = plugin(&server);
    // `check` logs in at IAM and reads Compute's zones.
    let check_login = iam_login(&mut server, 1);
    let zones = compute(&mut server, "GET", "/zones")
        .with_body(r#"{"zones": []}"#)
        .expect(1)
        .create();
    let check = plugin.operator(&["check", "yandex"]);
    assert!(check.status.success(), "{check:?}");
    zones.assert();
    check_login.assert();
    // The order: the image and the create at Compute, the wait at the operation endpoint;
    // then the poll of a failed operation, and the cleanup at Compute.
    let (task_id, _, _) = order_small(&mut server, &plugin, "operation-error.json");
    operation(&mut server, "operation-error.json", 1);
    let deleted = compute(&mut server, "DELETE", "/instances/fhm0invented0inst0001")
        .with_body(yandex("delete-operation.json"))
        .expect(1)
        .create();
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok()["status"],
        "error"
    );
    deleted.assert();
    for stray in strays {
        stray.assert();
    }
}

#[test]
fn a_dry_run_without_a_mock_shows_yandexs_three_hosts() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task_id, _, _) = order_small(&mut server, &plugin, "operation-error.json");
    // The site's own run: no `$VPS_PROVIDER_BASE_URL`, so the file's URLs as written; the dry
    // run sends nothing (there is no network to send to).
    let mut env = plugin.env.clone();
    env.retain(|(name, _)| name != "VPS_PROVIDER_BASE_URL");
    let shown = |args: &[&str]| {
        let output = common::operator(args, &env);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let order = shown(&["run", "yandex", "order", "1", "--dry-run"]);
    let poll = shown(&["run", "yandex", "order_status", &task_id, "--dry-run"]);
    for (text, url) in [
        (
            &order,
            "POST 'https://iam.api.cloud.yandex.net/iam/v1/tokens'",
        ),
        (
            &order,
            "GET 'https://compute.api.cloud.yandex.net/compute/v1/images:latestByFamily?",
        ),
        (
            &order,
            "POST 'https://compute.api.cloud.yandex.net/compute/v1/instances'",
        ),
        (
            &order,
            "GET 'https://operation.api.cloud.yandex.net/operations/<saved.operation_id>'",
        ),
        (
            &poll,
            "GET 'https://operation.api.cloud.yandex.net/operations/fhm0invented0oper0001'",
        ),
        (
            &poll,
            "DELETE 'https://compute.api.cloud.yandex.net/compute/v1/instances/fhm0invented0inst0001'",
        ),
    ] {
        assert!(text.contains(url), "{url} in:\n{text}");
    }
    assert!(!format!("{order}{poll}").contains(OAUTH));
    assert!(!format!("{order}{poll}").contains(IAM));
}
