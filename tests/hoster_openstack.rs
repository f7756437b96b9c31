//! The shipped OpenStack provider file, end to end through the real binary, against one mock
//! on 127.0.0.1 that serves Keystone v3 (`/auth/tokens`) and Nova 2.1 (`/v2.1/...`, the
//! path of the catalog's public compute URL: `$VPS_PROVIDER_BASE_URL` replaces only its
//! scheme, host and port), answering with fixtures made from the OpenStack API reference
//! (tests/fixtures/hosters/openstack/README.md).

mod common;

use base64::Engine;
use common::{
    Plugin, Received, assert_error_says, assert_failed, assert_polls_until_finished, capture_once,
    descrs, disabled_configs, enabled_descrs, help_reply, hoster_fixture, once, pair, rate_limited,
    received_json, task_id,
};
use mockito::{Matcher, Mock, Server};
use serde_json::{Value, json};

const PASSWORD: &str = "invented-password-1";
const TOKEN: &str = "gAAAAABinventedtokenvalue0000000000000000";
const NEW_TOKEN: &str = "gAAAAABinventedtokenvalue1111111111111111";
const SERVER_ID: &str = "f3b5c0a2-6d1e-4c7b-9a8f-2e1d0c9b8a76";
const IMAGE: &str = "70a599e0-31e7-49b7-b260-868f441e862b";
const NETWORK: &str = "ab1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

fn openstack(name: &str) -> String {
    hoster_fixture("openstack", name)
}

/// The site settings of `request-auth-password.json`: a user and password, a project by name.
fn secrets() -> String {
    format!(
        "password={PASSWORD}\nauth_url=https://identity.cloud.example.com/v3\nusername=vps-provider\n\
         project_name=vps-provider-project\nimage_id={IMAGE}\nnetwork_id={NETWORK}\n"
    )
}

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("openstack", &server.url()).secrets(&secrets())
}

/// Keystone's 201 with `token` in `X-Subject-Token` and the fixture's catalog, valid long.
fn token_answer(mock: Mock, token: &str) -> Mock {
    let mut body: Value = serde_json::from_str(&openstack("token.json")).unwrap();
    body["token"]["expires_at"] = "2999-01-01T00:00:00.000000Z".into();
    mock.with_status(201)
        .with_header("X-Subject-Token", token)
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

/// The password login of `request-auth-password.json`, answered with `token`.
fn keystone(server: &mut Server, token: &str) -> Mock {
    let mut expected: Value =
        serde_json::from_str(&openstack("request-auth-password.json")).unwrap();
    expected["auth"]["identity"]["password"]["user"]["password"] = PASSWORD.into();
    let login = server
        .mock("POST", "/auth/tokens")
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(expected));
    token_answer(login, token).create()
}

/// A Nova request carrying `token`; not created yet.
fn nova(server: &mut Server, method: &str, path: &str, token: &str) -> Mock {
    server
        .mock(method, format!("/v2.1{path}").as_str())
        .match_header("x-auth-token", token)
}

fn flavors(server: &mut Server) -> Mock {
    nova(server, "GET", "/flavors/detail", TOKEN)
        .with_body(openstack("flavors.json"))
        .create()
}

/// One answer to GET /servers/{id}, in the order created.
fn show(server: &mut Server, status: usize, body: &str) -> Mock {
    once(
        nova(server, "GET", &format!("/servers/{SERVER_ID}"), TOKEN),
        status,
        body,
    )
}

/// POST /servers accepted (202); the body Nova got is kept.
fn create(server: &mut Server) -> (Mock, Received) {
    let post =
        nova(server, "POST", "/servers", TOKEN).match_header("content-type", "application/json");
    capture_once(post, 202, openstack("create.json"))
}

/// Orders `b2-7`: the task id and the body Nova received.
fn order(server: &mut Server, plugin: &Plugin) -> (String, Value) {
    keystone(server, TOKEN);
    flavors(server);
    let (created, received) = create(server);
    let task = task_id(&plugin.run(&["order", "b2-7"]));
    created.assert();
    (task, received_json(&received))
}

#[test]
fn help_is_enabled_once_the_secret_and_the_site_settings_are_there() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();
    let no_login = server.mock("POST", Matcher::Any).expect(0).create();

    let without = Plugin::shipped("openstack", &server.url());
    assert_eq!(without.run(&["help"]).ok(), &help_reply("disabled"));
    assert_eq!(without.run(&["configs"]).ok(), &disabled_configs());
    // The secret alone is not enough: the cloud's address, image and network are the site's.
    let secret_only = Plugin::shipped("openstack", &server.url()).secrets("password=x\n");
    let why = secret_only.operator(&["list", "--root", "/nonexistent"]);
    let listed = String::from_utf8_lossy(&why.stdout);
    for setting in ["auth_url", "image_id", "network_id"] {
        assert!(listed.contains(setting), "{listed}");
    }
    assert_eq!(secret_only.run(&["help"]).ok()["status"], "disabled");

    assert_eq!(plugin(&server).run(&["help"]).ok(), &help_reply("enabled"));
    untouched.assert();
    no_login.assert();
}

#[test]
fn configs_log_in_once_and_offer_the_flavors_with_a_disk_in_range() {
    let mut server = Server::new();
    let login = keystone(&mut server, TOKEN).expect(1);
    let list = flavors(&mut server).expect(2);
    let plugin = plugin(&server);
    let menu = plugin.run(&["configs"]);
    // SL1.1-1024-10 has 1 GB (below 2 GB), STD2-2-4 no local disk (boot volume needed).
    assert_eq!(
        enabled_descrs(&menu),
        [pair(
            "b2-7",
            "b2-7: 2 vCPU, 6.8 GB RAM, 50 GB disk, Rocky Linux 9, RegionOne"
        )]
    );
    // The token and the catalog are kept: another run (the menu is cached, so an order's
    // run) needs no login.
    std::fs::remove_file(plugin.state_dir().join("configs.cache")).unwrap();
    assert_eq!(plugin.run(&["configs"]).ok(), menu.ok());
    login.assert();
    list.assert();
}

#[test]
fn an_application_credential_logs_in_without_a_scope() {
    let mut server = Server::new();
    let mut expected: Value =
        serde_json::from_str(&openstack("request-auth-appcred.json")).unwrap();
    expected["auth"]["identity"]["application_credential"]["secret"] = PASSWORD.into();
    let login = server
        .mock("POST", "/auth/tokens")
        .match_body(Matcher::Json(expected));
    let login = token_answer(login, TOKEN).expect(1).create();
    let list = flavors(&mut server).expect(1);
    let plugin = Plugin::shipped("openstack", &server.url()).secrets(&format!(
        "{}application_credential_id=0a1b2c3d4e5f40718293a4b5c6d7e8f9\nregion=RegionOne\n",
        secrets()
    ));
    assert_eq!(descrs(plugin.run(&["configs"]).ok()).len(), 1);
    login.assert();
    list.assert();
}

#[test]
fn an_order_sends_nova_the_server_with_the_password_in_cloud_init() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task, mut body) = order(&mut server, &plugin);

    let user_data = body["server"]
        .as_object_mut()
        .unwrap()
        .remove("user_data")
        .expect("user_data is sent");
    assert_eq!(
        body,
        json!({"server": {
            "name": format!("bitrix-{task}"),
            "flavorRef": "b2-7",
            "imageRef": IMAGE,
            "networks": [{"uuid": NETWORK}],
            "metadata": {"created-by": "vps-provider", "task": task},
        }}),
        "no adminPass, no key_name when the site sets none"
    );
    let cloud_init = cloud_init_of(&user_data);
    assert!(cloud_init.starts_with("#cloud-config\n"), "{cloud_init}");
    let password = password_in(&cloud_init);
    assert_eq!(password.len(), 24);
    assert!(
        cloud_init.contains(&format!("password: \"{password}\""))
            && cloud_init.contains("PermitRootLogin yes")
            && cloud_init.contains("ssh_pwauth: true"),
        "{cloud_init}"
    );

    // The poll hands out the password cloud-init sets, never Nova's adminPass.
    let polls = [
        show(&mut server, 200, &openstack("status-build.json")),
        show(&mut server, 200, &openstack("status-build2.json")),
        show(&mut server, 200, &openstack("status-active.json")),
    ];
    let finished = ("finished".into(), "203.0.113.25".into(), password);
    assert_polls_until_finished(&plugin, &task, finished, &polls);
}

/// The cloud-config document in a base64 `user_data`.
fn cloud_init_of(user_data: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(user_data.as_str().expect("user_data is text"))
        .expect("user_data is base64");
    String::from_utf8(bytes).unwrap()
}

/// The root password the cloud-config's runcmd sets.
fn password_in(cloud_init: &str) -> String {
    let after = cloud_init
        .split("echo 'root:")
        .nth(1)
        .expect("runcmd sets root's password");
    after.split('\'').next().unwrap().to_owned()
}

#[test]
fn polls_take_the_floating_address_on_a_private_network() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task, body) = order(&mut server, &plugin);
    let password = password_in(&cloud_init_of(&body["server"]["user_data"]));
    let polls = [
        show(&mut server, 200, &openstack("status-build.json")),
        show(&mut server, 200, &openstack("status-build2.json")),
        show(&mut server, 200, &openstack("status-active-floating.json")),
    ];
    // 198.51.100.77 is the floating IPv4; the fixed 192.168.0.14 is private.
    let finished = ("finished".into(), "198.51.100.77".into(), password);
    assert_polls_until_finished(&plugin, &task, finished, &polls);
}

#[test]
fn a_build_in_error_reaches_the_panel_with_novas_fault_and_is_deleted_once() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task, _) = order(&mut server, &plugin);
    show(&mut server, 200, &openstack("status-error.json"));
    let deleted = nova(
        &mut server,
        "DELETE",
        &format!("/servers/{SERVER_ID}"),
        TOKEN,
    )
    .with_status(204)
    .expect(1)
    .create();
    let says = ["ERROR: No valid host was found. There are not enough hosts available."];
    assert_failed(&plugin.run(&["order_status", &task]), &task, &says);
    // Later polls answer from the task store: no second DELETE.
    assert_failed(&plugin.run(&["order_status", &task]), &task, &says);
    deleted.assert();
}

#[test]
fn a_wrong_password_is_keystones_message_and_buys_nothing() {
    let mut server = Server::new();
    let login = server
        .mock("POST", "/auth/tokens")
        .with_status(401)
        .with_header("content-type", "application/json")
        .with_body(openstack("keystone-401.json"))
        .expect(2)
        .create();
    let nothing = server.mock("POST", "/v2.1/servers").expect(0).create();
    let plugin = plugin(&server);
    let says = [
        "the login to the hoster failed",
        "The request you have made requires authentication.",
    ];
    assert_error_says(&plugin.run(&["configs"]), &says);
    let run = plugin.run(&["order", "b2-7"]);
    assert_error_says(&run, &says);
    assert!(!run.stdout.contains(PASSWORD), "{}", run.stdout);
    let tasks = plugin.operator(&["tasks", "openstack"]);
    let listed = String::from_utf8_lossy(&tasks.stdout);
    assert!(
        !listed.contains("ordered") && !listed.contains("unknown"),
        "{listed}"
    );
    login.assert();
    nothing.assert();
}

#[test]
fn an_expired_token_is_renewed_once() {
    let mut server = Server::new();
    let first = keystone(&mut server, TOKEN).expect(1);
    let list = flavors(&mut server).expect(1);
    let plugin = plugin(&server);
    assert_eq!(descrs(plugin.run(&["configs"]).ok()).len(), 1);
    first.assert();
    list.assert();

    // Keystone revoked the kept token: Nova answers 401, the run logs in again, once.
    first.remove();
    list.remove();
    let expired = nova(&mut server, "GET", "/flavors/detail", TOKEN)
        .with_status(401)
        .with_body(openstack("error-401.json"))
        .expect(1)
        .create();
    let second = keystone(&mut server, NEW_TOKEN).expect(1);
    let renewed = nova(&mut server, "GET", "/flavors/detail", NEW_TOKEN)
        .with_body(openstack("flavors.json"))
        .expect(1)
        .create();
    std::fs::remove_file(plugin.state_dir().join("configs.cache")).unwrap();
    assert_eq!(descrs(plugin.run(&["configs"]).ok()).len(), 1);
    expired.assert();
    second.assert();
    renewed.assert();
}

#[test]
fn a_quota_refusal_is_novas_message_and_nothing_was_bought() {
    let mut server = Server::new();
    keystone(&mut server, TOKEN);
    flavors(&mut server);
    let refused = nova(&mut server, "POST", "/servers", TOKEN)
        .with_status(403)
        .with_body(openstack("error-403.json"))
        .expect(1)
        .create();
    let plugin = plugin(&server);
    let run = plugin.run(&["order", "b2-7"]);
    assert_error_says(
        &run,
        &["Quota exceeded for cores: Requested 2, but already used 20 of 20 cores"],
    );
    assert_eq!(plugin.only_task()["stage"], "refused");
    refused.assert();
}

#[test]
fn an_unknown_server_is_novas_message() {
    let mut server = Server::new();
    let plugin = plugin(&server);
    let (task, _) = order(&mut server, &plugin);
    show(&mut server, 404, &openstack("error-404.json"));
    let run = plugin.run(&["order_status", &task]);
    let message = run.error_message();
    let nova_says: Value = serde_json::from_str(&openstack("error-404.json")).unwrap();
    assert!(
        message.contains(nova_says["itemNotFound"]["message"].as_str().unwrap())
            && !message.contains("itemNotFound"),
        "{message}"
    );
}

#[test]
fn a_rate_limited_read_is_retried_and_an_order_is_not() {
    let mut server = Server::new();
    keystone(&mut server, TOKEN);
    let limited = rate_limited(
        nova(&mut server, "GET", "/flavors/detail", TOKEN),
        &openstack("error-429.json"),
        1,
    );
    // Read once: the order takes the menu the configs run cached.
    let list = flavors(&mut server).expect(1);
    let plugin = plugin(&server);
    assert_eq!(descrs(plugin.run(&["configs"]).ok()).len(), 1);
    limited.assert();

    let post = rate_limited(
        nova(&mut server, "POST", "/servers", TOKEN),
        &openstack("error-429.json"),
        1,
    );
    let run = plugin.run(&["order", "b2-7"]);
    assert_error_says(&run, &["This request was rate-limited.", "wait a minute"]);
    post.assert();
    list.assert();
}
