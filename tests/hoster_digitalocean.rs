//! The shipped DigitalOcean provider file, end to end through the real binary, against a mock
//! of the DigitalOcean API v2 on 127.0.0.1 answering with fixtures made from its docs.

mod common;

use common::{Plugin, Run, fixture};
use mockito::{Matcher, Mock, Server};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const DROPLET: &str = "/v2/droplets/512345678";

fn plugin(server: &Server) -> Plugin {
    Plugin::shipped("digitalocean", &server.url()).secrets("token=tok\n")
}

/// GET /v2/sizes?per_page=200, answered with `body`.
fn sizes(server: &mut Server, body: &str) -> Mock {
    server
        .mock("GET", "/v2/sizes")
        .match_query(Matcher::UrlEncoded("per_page".into(), "200".into()))
        .match_header("authorization", "Bearer tok")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
        .create()
}

/// One answer to GET /v2/droplets/512345678, in the order created.
fn droplet(server: &mut Server, status: usize, body: &str) -> Mock {
    server
        .mock("GET", DROPLET)
        .match_header("authorization", "Bearer tok")
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body(body)
        .expect(1)
        .create()
}

/// POST /v2/droplets accepted; the body it got is kept in the returned cell.
fn create(server: &mut Server) -> (Mock, Arc<Mutex<Vec<u8>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let answer = fixture("hosters/digitalocean/create.json");
    let mock = server
        .mock("POST", "/v2/droplets")
        .match_header("authorization", "Bearer tok")
        .match_header("content-type", "application/json")
        .match_body(Matcher::PartialJson(json!({
            "region": "fra1",
            "size": "s-1vcpu-2gb",
            "image": "rockylinux-9-x64",
            "ssh_keys": [],
            "tags": ["bitrix-env"],
        })))
        .with_status(202)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |request| {
            *keep.lock().unwrap() = request.body().unwrap().clone();
            answer.clone().into_bytes()
        })
        .expect(1)
        .create();
    (mock, received)
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

/// Orders `s-1vcpu-2gb` and returns the task id.
fn order(plugin: &Plugin, server: &mut Server) -> String {
    let _sizes = sizes(server, &fixture("hosters/digitalocean/plans.json"));
    let (create, _) = create(server);
    let run = plugin.run(&["order", "s-1vcpu-2gb"]);
    create.assert();
    run.ok()["task_id"].as_str().unwrap().to_owned()
}

#[test]
fn help_is_enabled_with_a_token_and_disabled_without() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();

    let run = plugin(&server).run(&["help"]);
    assert_eq!(
        run.ok(),
        &json!({"options": ["help", "configs", "order", "order_status"], "status": "enabled"})
    );

    let without = Plugin::shipped("digitalocean", &server.url());
    assert_eq!(without.run(&["help"]).ok()["status"], "disabled");
    // A disabled provider offers nothing and does not call the hoster.
    assert_eq!(
        without.run(&["configs"]).ok(),
        &json!({"configurations": [], "status": "disabled"})
    );
    let refused = without.run(&["order", "s-1vcpu-2gb"]);
    assert!(
        refused.error_message().contains("token"),
        "{}",
        refused.stdout
    );

    // The token may also come from DIGITALOCEAN_TOKEN while developing.
    let mut from_env = Plugin::shipped("digitalocean", &server.url());
    from_env
        .env
        .push(("DIGITALOCEAN_TOKEN".into(), "tok".into()));
    assert_eq!(from_env.run(&["help"]).ok()["status"], "enabled");
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
    let page2 = server
        .mock("GET", "/v2/sizes")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("page".into(), "2".into()),
            Matcher::UrlEncoded("per_page".into(), "2".into()),
        ]))
        .match_header("authorization", "Bearer tok")
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
    let task_id = ordered.ok()["task_id"].as_str().unwrap().to_owned();
    assert!(task_id.bytes().all(|b| b.is_ascii_digit()), "{task_id}");

    let body: Value = serde_json::from_slice(&received.lock().unwrap()).unwrap();
    assert_eq!(body["name"], format!("bitrix-{task_id}"));
    let user_data = body["user_data"].as_str().expect("user_data is text");
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    let cloud: Value = serde_yaml_ng::from_str(user_data).expect("user_data is YAML");
    let password = cloud["chpasswd"]["users"][0]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        cloud["chpasswd"],
        json!({"expire": false, "users": [{"name": "root", "password": password, "type": "text"}]})
    );
    assert_eq!(cloud["ssh_pwauth"], true);
    assert_eq!(cloud["disable_root"], false);
    let runcmd: Vec<&str> = cloud["runcmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(runcmd.contains(&format!("echo 'root:{password}' | chpasswd").as_str()));
    assert!(
        runcmd
            .iter()
            .any(|c| c.contains("PermitRootLogin yes") && c.contains("/etc/ssh/sshd_config"))
    );
    assert_eq!(runcmd.last(), Some(&"systemctl restart sshd"));
    assert_eq!(
        cloud["write_files"][0]["path"],
        "/etc/ssh/sshd_config.d/01-bitrix-pool.conf"
    );
    assert!(
        cloud["write_files"][0]["content"]
            .as_str()
            .unwrap()
            .contains("PermitRootLogin yes\n")
    );
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
    let in_progress =
        json!({"task_id": task_id, "status": "in_progress", "server": "", "server_password": ""});
    assert_eq!(p.run(&["order_status", &task_id]).ok(), &in_progress);
    // `new` with only a private address: the private address is never reported.
    let second = p.run(&["order_status", &task_id]);
    assert_eq!(second.ok(), &in_progress);
    assert!(!second.stdout.contains("192.0.2.24"));
    let finished = json!({"task_id": task_id, "status": "finished",
        "server": "203.0.113.54", "server_password": password});
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
    let failed = p.run(&["order_status", &task_id]);
    assert_eq!(
        failed.ok(),
        &json!({"task_id": task_id, "status": "error", "server": "", "server_password": ""})
    );
}

#[test]
fn a_bad_token_says_so_with_the_hosters_message() {
    let mut server = Server::new();
    let refused = server
        .mock("GET", "/v2/sizes")
        .match_query(Matcher::Any)
        .with_status(401)
        .with_body(fixture("hosters/digitalocean/error-401.json"))
        .expect(1)
        .create();
    let p = Plugin::shipped("digitalocean", &server.url()).secrets("token=wrong-token-123\n");
    let run = p.run(&["configs"]);
    let message = run.error_message();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("Unable to authenticate you."), "{message}");
    assert!(message.contains("check the API token"), "{message}");
    assert!(!run.stdout.contains("wrong-token-123") && !run.stderr.contains("wrong-token-123"));
    refused.assert();
}

#[test]
fn a_plan_the_region_does_not_sell_is_refused_at_order() {
    let mut server = Server::new();
    let _sizes = sizes(&mut server, &fixture("hosters/digitalocean/plans.json"));
    let refused = server
        .mock("POST", "/v2/droplets")
        .with_status(422)
        .with_body(fixture("hosters/digitalocean/error-422.json"))
        .expect(1)
        .create();
    let run = plugin(&server).run(&["order", "s-2vcpu-4gb"]);
    let message = run.error_message();
    assert!(message.contains("422"), "{message}");
    assert!(
        message.contains("Size is not available in this region."),
        "{message}"
    );
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
    let limited = server
        .mock("POST", "/v2/droplets")
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(fixture("hosters/digitalocean/error-429.json"))
        .expect(1)
        .create();
    let p = plugin(&server);
    let run = p.run(&["order", "s-1vcpu-2gb"]);
    let message = run.error_message();
    assert!(message.contains("API Rate limit exceeded."), "{message}");
    assert!(message.contains("wait a minute"), "{message}");
    limited.assert();
    limited.remove();

    // A poll is a read: retried on 429, then reported; the next poll works again.
    let task_id = order(&p, &mut server);
    let busy = server
        .mock("GET", DROPLET)
        .with_status(429)
        .with_header("retry-after", "0")
        .with_body(fixture("hosters/digitalocean/error-429.json"))
        .expect(4)
        .create();
    let ready = droplet(
        &mut server,
        200,
        &fixture("hosters/digitalocean/status-ready.json"),
    );
    let poll = p.run(&["order_status", &task_id]);
    assert!(
        poll.error_message().contains("API Rate limit exceeded."),
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
    let message = run.error_message();
    assert!(message.contains("404"), "{message}");
    assert!(
        message.contains("The resource you were accessing could not be found."),
        "{message}"
    );
    gone.assert();
}
