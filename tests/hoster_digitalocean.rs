//! The shipped DigitalOcean provider file, end to end through the real binary, against a mock
//! of the DigitalOcean API v2 on 127.0.0.1 answering with fixtures made from its docs.

mod common;

use common::{
    Plugin, Received, assert_bad_token, assert_error_says, assert_failed, assert_needs_token,
    assert_order_rate_limited, assert_poll_rate_limited, assert_token_from_env, authed,
    capture_once, deleted_once, disabled_configs, enabled_descrs as descrs, fixture, help_reply,
    json_post, once, pair, rate_limited, received_json, task_id, task_reply,
};
use mockito::{Matcher, Mock, Server};
use serde_json::{Value, json};

const DROPLET: &str = "/v2/droplets/512345678";

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("digitalocean", &server.url()).secrets(common::SECRETS)
}

/// GET /v2/sizes?per_page=200, answered with `body`.
fn sizes(server: &mut Server, body: &str) -> Mock {
    authed(server, "GET", "/v2/sizes")
        .match_query(Matcher::UrlEncoded("per_page".into(), "200".into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
        .create()
}

/// One answer to GET /v2/droplets/512345678, in the order created.
fn droplet(server: &mut Server, status: usize, body: &str) -> Mock {
    let get = authed(server, "GET", DROPLET).with_header("content-type", "application/json");
    once(get, status, body)
}

/// POST /v2/droplets accepted; the body it got is kept in the returned cell.
fn create(server: &mut Server) -> (Mock, Received) {
    let request = json!({
        "region": "fra1",
        "size": "s-1vcpu-2gb",
        "image": "rockylinux-9-x64",
        "ssh_keys": [],
        "tags": ["bitrix-env"],
    });
    let post =
        json_post(server, "/v2/droplets", request).with_header("content-type", "application/json");
    capture_once(post, 202, fixture("hosters/digitalocean/create.json"))
}

/// Orders `s-1vcpu-2gb` and returns the task id.
fn order(plugin: &Plugin, server: &mut Server) -> String {
    let _sizes = sizes(server, &fixture("hosters/digitalocean/plans.json"));
    let (create, _) = create(server);
    let run = plugin.run(&["order", "s-1vcpu-2gb"]);
    create.assert();
    task_id(&run)
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();

    let run = plugin(&server).run(&["help"]);
    assert_eq!(run.ok(), &help_reply("enabled"));

    let without = Plugin::shipped("digitalocean", &server.url());
    assert_eq!(without.run(&["help"]).ok()["status"], "disabled");
    // A disabled provider offers nothing and does not call the hoster.
    assert_eq!(without.run(&["configs"]).ok(), &disabled_configs());
    assert_needs_token(&without.run(&["order", "s-1vcpu-2gb"]));

    // The token may also come from DIGITALOCEAN_TOKEN while developing.
    assert_token_from_env(
        Plugin::shipped("digitalocean", &server.url()),
        "DIGITALOCEAN_TOKEN",
    );
    untouched.assert();
}

#[test]
fn configs_offer_the_plans_in_range_in_the_region() {
    let mut server = Server::new();
    let list = sizes(&mut server, &fixture("hosters/digitalocean/plans.json")).expect(1);
    let run = plugin(&server).run(&["configs"]);
    list.assert();
    assert_eq!(
        descrs(&run),
        [
            pair(
                "s-1vcpu-2gb",
                "Bitrix-env, Rocky Linux 9, 1 vCPU, 2 GB RAM, 50 GB disk, 12.00 USD/month, fra1"
            ),
            pair(
                "s-2vcpu-4gb",
                "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB disk, 24.00 USD/month, fra1"
            ),
        ]
    );
    // Below the memory floor (512 MB, 1 GB) and the legacy size no longer sold are left out.
    for absent in ["s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "512mb"] {
        assert!(!run.stdout.contains(absent), "{absent} in {}", run.stdout);
    }
}

#[test]
fn settings_in_the_secrets_file_change_the_menu() {
    let mut server = Server::new();
    let _list = sizes(&mut server, &fixture("hosters/digitalocean/plans.json"));
    let cheap = Plugin::shipped("digitalocean", &server.url())
        .secrets("token=tok\nregion=ams3\nmin_memory_mb=512\nmax_price_monthly=10\n");
    let run = cheap.run(&["configs"]);
    assert_eq!(
        descrs(&run),
        [
            pair(
                "s-1vcpu-512mb-10gb",
                "Bitrix-env, Rocky Linux 9, 1 vCPU, 512 MB RAM, 10 GB disk, 4.00 USD/month, ams3"
            ),
            pair(
                "s-1vcpu-1gb",
                "Bitrix-env, Rocky Linux 9, 1 vCPU, 1 GB RAM, 25 GB disk, 6.00 USD/month, ams3"
            ),
        ]
    );
    // `512mb` is in range but `available: false`, with no regions: never offered.
    assert!(!run.stdout.contains("\"512mb\""), "{}", run.stdout);

    let elsewhere = Plugin::shipped("digitalocean", &server.url())
        .secrets("token=tok\nregion=xyz9\nmin_memory_mb=1\n");
    assert_eq!(descrs(&elsewhere.run(&["configs"])), []);
}

#[test]
fn configs_follow_the_next_page_link_to_the_mock() {
    let mut server = Server::new();
    let page1 = sizes(
        &mut server,
        &fixture("hosters/digitalocean/plans-page1.json"),
    )
    .expect(1);
    // Page 1 says `https://api.digitalocean.com/v2/sizes?page=2&per_page=2`: it must be
    // fetched from the base URL in use, with the token.
    let page2 = authed(&mut server, "GET", "/v2/sizes")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("page".into(), "2".into()),
            Matcher::UrlEncoded("per_page".into(), "2".into()),
        ]))
        .with_status(200)
        .with_body(fixture("hosters/digitalocean/plans-page2.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["configs"]);
    page1.assert();
    page2.assert();
    let ids: Vec<String> = descrs(&run).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["s-1vcpu-2gb", "s-2vcpu-4gb"]);
    assert!(!run.stdout.contains("\"512mb\""), "{}", run.stdout);
}

#[test]
fn order_sets_the_password_through_cloud_init_and_polls_until_finished() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &fixture("hosters/digitalocean/plans.json"));
    let (create, received) = create(&mut server);
    let p = plugin(&server);

    let ordered = p.run(&["order", "s-1vcpu-2gb"]);
    create.assert();
    let task_id = task_id(&ordered);
    assert!(task_id.bytes().all(|b| b.is_ascii_digit()), "{task_id}");

    let body = received_json(&received);
    assert_eq!(body["name"], format!("bitrix-{task_id}"));
    let password = common::cloud_init_root_password(&body["user_data"]);
    // The password is only ever printed by a finished order_status.
    assert!(!ordered.stdout.contains(&password) && !ordered.stderr.contains(&password));

    let new = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-progress.json"),
    );
    let private_only = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-progress2.json"),
    );
    let ready = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-ready.json"),
    );
    let in_progress = task_reply(&task_id, "in_progress", "", "");
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &in_progress);
    // `new` with only a private address: the private address is never reported.
    let second = p.run(&["order_status", &task_id]);
    assert_eq!(second.ok(), &in_progress);
    assert!(!second.stdout.contains("192.0.2.24"));
    let finished = task_reply(&task_id, "finished", "203.0.113.54", &password);
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    // Once finished, the answer comes from the task store: the hoster is not asked again.
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &finished);
    new.assert();
    private_only.assert();
    ready.assert();
}

#[test]
fn archived_is_an_error_and_powered_off_waits() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let mut off: Value =
        serde_json::from_str(&fixture("hosters/digitalocean/status-ready.json")).unwrap();
    off["droplet"]["status"] = json!("off");
    let _off = droplet(&mut server, 200, &off.to_string());
    let _archived = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-failed.json"),
    );
    assert_eq!(
        p.run(&["order_status", &task_id]).ok()["status"],
        "in_progress"
    );
    let deleted = deleted_once(&mut server, DROPLET);
    let failed = p.run(&["order_status", &task_id]);
    assert_failed(&failed, &task_id, &["`archive`", "the server was deleted"]);
    deleted.assert();
}

#[test]
fn a_bad_token_says_so_with_the_hosters_message() {
    let mut server = Server::new();
    let refused = once(
        server.mock("GET", "/v2/sizes").match_query(Matcher::Any),
        401,
        &fixture("hosters/digitalocean/error-401.json"),
    );
    let p = Plugin::shipped("digitalocean", &server.url()).secrets("token=wrong-token-123\n");
    let run = p.run(&["configs"]);
    assert_bad_token(
        &run,
        "wrong-token-123",
        &["401", "Unable to authenticate you."],
    );
    assert!(!run.stderr.contains("wrong-token-123"));
    refused.assert();
}

#[test]
fn a_plan_the_region_does_not_sell_is_refused_at_order() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &fixture("hosters/digitalocean/plans.json"));
    let refused = once(
        server.mock("POST", "/v2/droplets"),
        422,
        &fixture("hosters/digitalocean/error-422.json"),
    );
    let run = plugin(&server).run(&["order", "s-2vcpu-4gb"]);
    assert_error_says(&run, &["422", "Size is not available in this region."]);
    refused.assert();

    // A config the menu does not offer is refused before anything is sent.
    let unknown = plugin(&server).run(&["order", "s-1vcpu-1gb"]);
    assert!(
        unknown.error_message().contains("no config `s-1vcpu-1gb`"),
        "{}",
        unknown.stdout
    );
    refused.assert();
}

#[test]
fn rate_limits_are_reported_and_an_order_is_never_resent() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &fixture("hosters/digitalocean/plans.json"));
    let p = plugin(&server);
    let limited = assert_order_rate_limited(
        &p,
        server.mock("POST", "/v2/droplets"),
        &fixture("hosters/digitalocean/error-429.json"),
        "s-1vcpu-2gb",
        "API Rate limit exceeded.",
    );
    limited.remove();

    // A poll is a read: retried on 429, then reported; the next poll works again.
    let task_id = order(&p, &mut server);
    let busy = rate_limited(
        server.mock("GET", DROPLET),
        &fixture("hosters/digitalocean/error-429.json"),
        4,
    );
    let ready = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-ready.json"),
    );
    assert_poll_rate_limited(&p, &task_id, busy, ready, "API Rate limit exceeded.");
}

#[test]
fn a_droplet_the_hoster_does_not_know_is_an_error() {
    let mut server = Server::new();
    let p = plugin(&server);
    let task_id = order(&p, &mut server);
    let gone = droplet(
        &mut server,
        404,
        &fixture("hosters/digitalocean/error-404.json"),
    );
    let run = p.run(&["order_status", &task_id]);
    assert_error_says(
        &run,
        &["404", "The resource you were accessing could not be found."],
    );
    gone.assert();
}
