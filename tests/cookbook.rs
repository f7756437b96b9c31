//! The hosters' cookbook (`docs/writing-a-provider.md`) cannot rot: every ```yaml block of it
//! whose first line is `# file: NAME.yaml` is a complete provider file. Each must pass
//! `vps-provider validate`, and each is run through the panel's symlink against a loopback mock
//! of its API, answering in the shapes the cookbook describes: `help` is enabled, the menu is
//! what the file's filter and templates make of the plan list, `order` buys once with the body
//! the file builds, and one poll finishes with the address and the root password that works.
//! The walkthrough's commands (`install`, the secrets template, `list`, `--dry-run`, `check`)
//! are run on the first example as the cookbook shows them.

mod common;

use base64::Engine;
use common::*;
use mockito::{Matcher, Server};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

const DOC: &str = "docs/writing-a-provider.md";

/// The first line that marks a cookbook block as a complete provider file.
const MARKER: &str = "# file: ";

/// The examples that have a conversation below, in the cookbook's order. An example added to
/// the cookbook needs its mock here (the coverage test says so), and one removed takes its
/// conversation with it.
const CONVERSATIONS: &[&str] = &[
    "example-rest",
    "example-keystone",
    "example-rpc",
    "example-map",
    "example-cloudinit",
    "example-signed",
    "example-priced",
];

/// One complete provider file of the cookbook: its name (the file's, without `.yaml`) and text.
struct Example {
    name: String,
    yaml: String,
}

/// Every block of the cookbook marked as a complete file, in the order of the page.
fn examples() -> Vec<Example> {
    let doc = std::fs::read_to_string(repo_file(DOC)).expect("the cookbook exists");
    doc.split("\n```yaml\n")
        .skip(1)
        .filter_map(|block| {
            let block = block
                .split("\n```")
                .next()
                .expect("the block ends")
                .to_owned()
                + "\n";
            let file = block.lines().next()?.strip_prefix(MARKER)?.trim();
            let name = file
                .strip_suffix(".yaml")
                .unwrap_or_else(|| panic!("`{MARKER}{file}` in {DOC}: name the file NAME.yaml"));
            Some(Example {
                name: name.to_owned(),
                yaml: block,
            })
        })
        .collect()
}

/// The cookbook's example `name`.
fn example(name: &str) -> String {
    examples()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{DOC} has no block marked `{MARKER}{name}.yaml`"))
        .yaml
}

/// The example `name` installed as a provider whose hoster is `server`, with `secrets`.
fn plugin(name: &str, server: &Server, secrets: &str) -> Plugin {
    Plugin::new(name, &example(name), &server.url()).secrets(secrets)
}

#[test]
fn every_marked_example_has_a_conversation_and_every_conversation_an_example() {
    let names: Vec<String> = examples().into_iter().map(|e| e.name).collect();
    assert_eq!(
        names, CONVERSATIONS,
        "each `{MARKER}NAME.yaml` block of {DOC} needs a conversation in tests/cookbook.rs \
         (a mock of its API and a test through the symlink), and each conversation its block"
    );
}

#[test]
fn every_example_file_validates() {
    let dir = tempfile::tempdir().unwrap();
    for Example { name, yaml } in examples() {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &yaml).unwrap();
        let output = operator(&["validate", path.to_str().unwrap()], &[]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.starts_with("ok: "),
            "the cookbook's {name}.yaml does not validate:\n{yaml}\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The panel's conversation with `plugin`: `help` is enabled, the menu is exactly `menu`,
/// ordering `config` gives a task id, and one poll says `finished` at `address`. Returns the
/// root password the panel got.
fn converse(plugin: &Plugin, menu: &[(&str, &str)], config: &str, address: &str) -> String {
    assert_eq!(plugin.run(&["help"]).ok(), &help_reply("enabled"));
    let offered = enabled_descrs(&plugin.run(&["configs"]));
    let expected: Vec<_> = menu.iter().map(|(id, descr)| pair(id, descr)).collect();
    assert_eq!(offered, expected);
    let task = task_id(&plugin.run(&["order", config]));
    let (state, server, password) = status(&plugin.run(&["order_status", &task]));
    assert_eq!((state.as_str(), server.as_str()), ("finished", address));
    password
}

/// Checks that `password` is one vps-provider generated: 24 letters and digits.
fn assert_generated(password: &str) {
    assert!(
        password.len() == 24 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password:?}"
    );
}

/// The name every example gives its server: `bitrix-` and the one recorded task's id.
fn server_name(plugin: &Plugin) -> String {
    format!("bitrix-{}", plugin.only_task()["id"].as_str().unwrap())
}

/// Checks that `document` is a cloud-config that sets root's password to `password`.
fn assert_sets_root_password(document: &str, password: &str) {
    assert!(document.starts_with("#cloud-config\n"), "{document}");
    let line = format!("- {{ name: root, password: \"{password}\", type: text }}");
    assert!(document.contains(&line), "{document}");
}

/// The form body a [`capture_once`] mock received, as (name, value) pairs.
fn received_form(received: &Received) -> Vec<(String, String)> {
    let body = String::from_utf8(received.lock().unwrap().clone()).unwrap();
    body.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// The value of `name` in a form body.
fn form_value<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no `{name}` in {form:?}"))
        .1
        .as_str()
}

// --- REST with a bearer token ---------------------------------------------------------------

const REST_PLANS: &str = r#"{"plans": [
  {"id": 100, "slug": "s-1-1", "cpus": 1, "memory_mb": 1024, "disk_gb": 25, "price": 5},
  {"id": 101, "slug": "s-2-4", "cpus": 2, "memory_mb": 4096, "disk_gb": 40, "price": 12.5},
  {"id": 102, "slug": "s-4-8", "cpus": 4, "memory_mb": 8192, "disk_gb": 80, "price": 24},
  {"id": 105, "slug": "s-8-32", "cpus": 8, "memory_mb": 32768, "disk_gb": 320, "price": 96}
]}"#;

/// The REST hoster's plan list for `region`, answered `times` times.
fn rest_plans(server: &mut Server, region: &str, times: usize) -> mockito::Mock {
    authed(server, "GET", "/plans")
        .match_query(Matcher::UrlEncoded("region".into(), region.into()))
        .with_body(REST_PLANS)
        .expect(times)
        .create()
}

#[test]
fn example_rest_orders_a_server_and_hands_over_the_hosters_password() {
    let mut server = Server::new();
    // The menu is read once: `order` finds the plan's vars in the menu `configs` cached.
    let plans = rest_plans(&mut server, "eu-1", 1);
    let create = json_post(
        &mut server,
        "/servers",
        json!({"plan": "s-4-8", "region": "eu-1", "image": "rocky-9"}),
    )
    .with_status(201)
    .with_body(r#"{"server": {"id": 5001, "status": "provisioning"}, "root_password": "Hoster-Root-Pw-1"}"#)
    .expect(1)
    .create();
    let show = get_once(
        &mut server,
        "/servers/5001",
        200,
        r#"{"server": {"status": "running", "ipv4": "203.0.113.10"}}"#,
    );
    let plugin = plugin("example-rest", &server, SECRETS);
    let password = converse(
        &plugin,
        &[
            (
                "101",
                "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 40 GB SSD, 12.50 EUR/month, eu-1",
            ),
            (
                "102",
                "Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 80 GB SSD, 24.00 EUR/month, eu-1",
            ),
        ],
        "102",
        "203.0.113.10",
    );
    assert_eq!(password, "Hoster-Root-Pw-1");
    for mock in [plans, create, show] {
        mock.assert();
    }
}

#[test]
fn the_walkthrough_commands_work_as_the_cookbook_shows_them() {
    let mut server = Server::new();
    let untouched = server.mock("GET", Matcher::Any).expect(0).create();
    let plugin = Plugin::new("example-rest", &example("example-rest"), &server.url());
    let providers = plugin.root.path().join("providers");
    let root = providers.to_str().unwrap();

    // validate, by name, from the provider folder.
    let validate = plugin.operator(&["validate", "example-rest"]);
    assert!(validate.status.success(), "{validate:?}");
    assert!(String::from_utf8_lossy(&validate.stdout).starts_with("ok: "));

    // install: the symlink (already there: kept) and the secrets template, 0600.
    let install = plugin.operator(&["install", "example-rest", "--root", root]);
    let said = String::from_utf8_lossy(&install.stdout).into_owned();
    assert!(install.status.success(), "{said}");
    assert!(said.contains("wrote a secrets template"), "{said}");
    let template = std::fs::read_to_string(plugin.secrets_path()).unwrap();
    for line in [
        "# API token from Example Cloud's console (Account → API), read and write",
        "token=",
        "# region=eu-1",
        "# max_price=50",
    ] {
        assert!(
            template.lines().any(|l| l == line),
            "`{line}` not in:\n{template}"
        );
    }
    let mode = std::fs::metadata(plugin.secrets_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // list: installed, disabled until the token is there, and why.
    let list =
        String::from_utf8_lossy(&plugin.operator(&["list", "--root", root]).stdout).into_owned();
    assert!(
        list.contains("installed") && list.contains("disabled: secret `token` missing"),
        "{list}"
    );

    // The site fills in the token and changes the region, as the cookbook's secrets file does.
    let token = "the-token-from-the-hosters-console";
    let filled = template
        .replace("\ntoken=\n", &format!("\ntoken={token}\n"))
        .replace("# region=eu-1", "region=eu-2");
    std::fs::write(plugin.secrets_path(), filled).unwrap();
    assert_eq!(plugin.run(&["help"]).ok(), &help_reply("enabled"));

    // --dry-run: the request as a curl line, the token hidden, nothing sent.
    let dry = plugin.operator(&["run", "example-rest", "configs", "--dry-run"]);
    let curl = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{curl}");
    let expected = format!(
        "curl -X GET '{}/plans?region=eu-2' -H 'Accept: application/json' -H 'Authorization: Bearer ***'",
        server.url()
    );
    assert!(curl.lines().any(|l| l == expected), "{curl}");
    assert!(!curl.contains(token), "{curl}");
    untouched.assert();
    untouched.remove();
    // An order's dry run reads the menu for real (to fill in the config's vars), buys nothing.
    let plans = server
        .mock("GET", "/plans")
        .match_query(Matcher::UrlEncoded("region".into(), "eu-2".into()))
        .match_header("authorization", format!("Bearer {token}").as_str())
        .with_body(REST_PLANS)
        .expect(1)
        .create();
    let dry_order = plugin.operator(&["run", "example-rest", "order", "102", "--dry-run"]);
    let shown = String::from_utf8_lossy(&dry_order.stdout).into_owned();
    assert!(dry_order.status.success(), "{dry_order:?}");
    assert!(shown.contains("#   sent"), "{shown}");
    assert!(
        shown.contains(r#""plan":"s-4-8""#) && !shown.contains("{{"),
        "{shown}"
    );
    print!("{shown}");
    plans.assert();
    assert!(
        !plugin.state_dir().exists()
            || std::fs::read_dir(plugin.state_dir()).unwrap().all(|e| e
                .unwrap()
                .path()
                .extension()
                .is_none_or(|x| x != "json"))
    );

    // check: one request to api.check, and "ok".
    let account = server
        .mock("GET", "/account")
        .match_header("authorization", format!("Bearer {token}").as_str())
        .with_body(r#"{"account": {"email": "ops@hoster.example"}}"#)
        .expect(1)
        .create();
    let check = plugin.operator(&["check", "example-rest"]);
    let said = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check.status.success()
            && said.starts_with("ok: GET ")
            && said.contains("the token and the base URL work"),
        "{said}{check:?}"
    );
    account.assert();
}

// --- a login with a header token (OpenStack Keystone) -----------------------------------------

const KEYSTONE_PASSWORD: &str = "os-Passw0rd-42";
const KEYSTONE_TOKEN: &str = "gAAAAAB-keystone-token-1";

/// The Keystone example with the site's password and settings.
fn keystone_plugin(server: &Server) -> Plugin {
    plugin(
        "example-keystone",
        server,
        &format!(
            "password={KEYSTONE_PASSWORD}\nauth_url=https://identity.cloud.example/v3\nuser=admin\n\
             project=bitrix\nimage=img-rocky-9\nnetwork=net-public\n"
        ),
    )
}

/// Keystone's answer: the token's expiry and a service catalog whose compute URLs differ in
/// their paths too (`$VPS_PROVIDER_BASE_URL` moves only their scheme, host and port to the
/// mock), so the mock tells which one the file picked.
const KEYSTONE_ANSWER: &str = r#"{"token": {
  "expires_at": "2999-12-31T23:59:59.000000Z", "methods": ["password"],
  "catalog": [
    {"type": "identity", "name": "keystone", "endpoints": [
      {"interface": "public", "region_id": "RegionOne", "url": "https://identity.cloud.example/v3"}]},
    {"type": "compute", "name": "nova", "endpoints": [
      {"interface": "internal", "region_id": "RegionOne", "url": "http://nova-internal.cloud.example:8774/internal/v2.1"},
      {"interface": "public", "region_id": "RegionTwo", "url": "https://compute.two.cloud.example/two/v2.1"},
      {"interface": "public", "region_id": "RegionOne", "url": "https://compute.cloud.example/v2.1"}]}
  ]}}"#;

/// The password login, under the identity URL's path (`/v3` of `auth_url`, replaced whole by
/// the mock's address), answered with [`KEYSTONE_ANSWER`]; not created yet.
fn keystone_login(server: &mut Server) -> mockito::Mock {
    server
        .mock("POST", "/auth/tokens")
        .match_body(Matcher::PartialJson(json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": KEYSTONE_PASSWORD}}},
            "scope": {"project": {"name": "bitrix", "domain": {"name": "Default"}}}
        }})))
        .with_status(201)
        .with_header("X-Subject-Token", KEYSTONE_TOKEN)
        .with_header("Content-Type", "application/json")
        .with_body(KEYSTONE_ANSWER)
}

#[test]
fn example_keystone_logs_in_once_and_finds_nova_in_the_catalog() {
    let mut server = Server::new();
    // One login for the whole conversation: the token and the catalog are kept between runs.
    let login = keystone_login(&mut server).expect(1).create();
    // Nova, at the path of the catalog's public RegionOne URL only.
    let nova = |server: &mut Server, method: &str, path: &str| {
        server
            .mock(method, format!("/v2.1{path}").as_str())
            .match_header("X-Auth-Token", KEYSTONE_TOKEN)
    };
    let flavors = nova(&mut server, "GET", "/flavors/detail")
        .with_body(
            r#"{"flavors": [
              {"id": "0", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
              {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
              {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 40}
            ]}"#,
        )
        .expect(1)
        .create();
    let (create, received) = capture_once(
        nova(&mut server, "POST", "/servers"),
        202,
        r#"{"server": {"id": "9c6b3f1e-5d1a-4c2b-9a57-3c8e2f0d4b11", "links": []}}"#.into(),
    );
    let show = nova(
        &mut server,
        "GET",
        "/servers/9c6b3f1e-5d1a-4c2b-9a57-3c8e2f0d4b11",
    )
    .with_body(
        r#"{"server": {"status": "ACTIVE", "addresses": {"public": [
              {"version": 6, "addr": "2001:db8::20"}, {"version": 4, "addr": "203.0.113.20"}
            ]}}}"#,
    )
    .expect(1)
    .create();
    let elsewhere = server
        .mock("GET", Matcher::Regex("^/(internal|two)/".into()))
        .expect(0)
        .create();
    let plugin = keystone_plugin(&server);
    let password = converse(
        &plugin,
        &[
            (
                "2",
                "Bitrix-env, m1.small: 1 vCPU, 2 GB RAM, 20 GB disk, RegionOne",
            ),
            (
                "3",
                "Bitrix-env, m1.medium: 2 vCPU, 4 GB RAM, 40 GB disk, RegionOne",
            ),
        ],
        "3",
        "203.0.113.20",
    );
    assert_generated(&password);
    assert_eq!(
        received_json(&received),
        json!({"server": {
            "name": server_name(&plugin),
            "flavorRef": "3",
            "imageRef": "img-rocky-9",
            "networks": [{"uuid": "net-public"}],
            "adminPass": password,
        }})
    );
    for mock in [login, flavors, create, show, elsewhere] {
        mock.assert();
    }
}

#[test]
fn example_keystone_takes_the_region_setting_from_the_catalog_and_names_a_missing_one() {
    let mut server = Server::new();
    keystone_login(&mut server).create();
    let two = server
        .mock("GET", "/two/v2.1/flavors/detail")
        .match_header("X-Auth-Token", KEYSTONE_TOKEN)
        .with_body(r#"{"flavors": [{"id": "7", "name": "m2.large", "vcpus": 4, "ram": 8192, "disk": 80}]}"#)
        .expect(1)
        .create();
    let plugin = keystone_plugin(&server);
    let settings = std::fs::read_to_string(plugin.secrets_path()).unwrap();
    let plugin = plugin.secrets(&format!("{settings}region=RegionTwo\n"));
    assert_eq!(
        enabled_descrs(&plugin.run(&["configs"])),
        [pair(
            "7",
            "Bitrix-env, m2.large: 4 vCPU, 8 GB RAM, 80 GB disk, RegionTwo"
        )]
    );
    two.assert();

    // A region with no public compute URL: the endpoint is named, nothing is bought.
    let plugin = plugin.secrets(&format!("{settings}region=RegionThree\n"));
    let nothing_bought = server.mock("POST", "/two/v2.1/servers").expect(0).create();
    let message = plugin.run(&["order", "7"]).error_message().to_owned();
    assert!(message.contains("endpoint `compute`"), "{message}");
    nothing_bought.assert();
}

#[test]
fn example_keystone_dry_run_shows_the_login_and_the_compute_endpoint_to_be_found() {
    let mut server = Server::new();
    let nothing = server.mock("GET", Matcher::Any).expect(0).create();
    let no_login = server.mock("POST", Matcher::Any).expect(0).create();
    let plugin = keystone_plugin(&server);
    let dry = plugin.operator(&["run", "example-keystone", "configs", "--dry-run"]);
    let shown = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.status.success(), "{dry:?}");
    assert!(
        shown.contains(&format!("-X POST '{}/auth/tokens'", server.url())),
        "{shown}"
    );
    assert!(
        shown.contains("<endpoints.compute>/flavors/detail"),
        "{shown}"
    );
    assert!(!shown.contains(KEYSTONE_PASSWORD), "{shown}");
    nothing.assert();
    no_login.assert();
}

#[test]
fn example_keystone_reports_a_refused_login_in_keystones_words() {
    let mut server = Server::new();
    let login = server
        .mock("POST", "/auth/tokens")
        .with_status(401)
        .with_header("Content-Type", "application/json")
        .with_body(r#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#)
        .expect(1)
        .create();
    let nothing_else = server.mock("GET", Matcher::Any).expect(0).create();
    let plugin = keystone_plugin(&server);
    let run = plugin.run(&["configs"]);
    let message = run.error_message();
    assert!(
        message.contains("the login to the hoster failed")
            && message.contains("The request you have made requires authentication."),
        "{message}"
    );
    assert!(!message.contains(KEYSTONE_PASSWORD), "{message}");
    login.assert();
    nothing_else.assert();
}

// --- form/RPC with errors inside 200 (BILLmanager style) -------------------------------------

const RPC_PASSWORD: &str = "billing-Pw-42";
const RPC_SESSION: &str = "5e6f7a8b9c0d1e2f";

/// `GET /billmgr?func=<func>&auth=<session>` answering 200 with `body`, once.
fn rpc_read(server: &mut Server, func: &str, body: &str) -> mockito::Mock {
    server
        .mock("GET", "/billmgr")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("func".into(), func.into()),
            Matcher::UrlEncoded("auth".into(), RPC_SESSION.into()),
            Matcher::UrlEncoded("out".into(), "json".into()),
        ]))
        .with_body(body)
        .expect(1)
        .create()
}

/// The billing panel's `func=auth` login, by form, answering `body` (a 200 either way).
fn rpc_login(server: &mut Server, body: &str) -> (mockito::Mock, Received) {
    capture_once(
        server
            .mock("POST", "/billmgr")
            .match_query(Matcher::Missing)
            .match_header("content-type", "application/x-www-form-urlencoded")
            .match_body(Matcher::Regex("(^|&)func=auth(&|$)".into())),
        200,
        body.into(),
    )
}

fn rpc_plugin(server: &Server) -> Plugin {
    plugin(
        "example-rpc",
        server,
        &format!("user=client@hoster.example\npassword={RPC_PASSWORD}\n"),
    )
}

#[test]
fn example_rpc_logs_in_by_form_and_orders_through_func_calls() {
    let mut server = Server::new();
    let (login, login_form) = rpc_login(
        &mut server,
        &format!(r#"{{"doc": {{"auth": {{"$id": "{RPC_SESSION}", "$": "{RPC_SESSION}"}}}}}}"#),
    );
    let pricelist = rpc_read(
        &mut server,
        "pricelist.export",
        r#"{"doc": {"$func": "pricelist.export", "pricelist": [
          {"id": {"$": "277"}, "name": {"$": "VDS-1 (1 CPU, 2 GB RAM, 20 GB SSD)"},
           "price": {"$currency": "RUB", "period": {"$cost": "390.00", "$length": "1"}}},
          {"id": {"$": "278"}, "name": {"$": "VDS-2 (2 CPU, 4 GB RAM, 40 GB SSD)"},
           "price": {"$currency": "RUB", "period": {"$cost": "890.00", "$length": "1"}}}
        ]}}"#,
    );
    let (order, order_form) = capture_once(
        server
            .mock("POST", "/billmgr")
            .match_query(Matcher::UrlEncoded("auth".into(), RPC_SESSION.into()))
            .match_body(Matcher::Regex("(^|&)func=vds.order.param(&|$)".into())),
        200,
        r#"{"doc": {"$func": "vds.order.param", "id": {"$": "4242"}, "ok": {}}}"#.into(),
    );
    let edit = rpc_read(
        &mut server,
        "vds.edit",
        r#"{"doc": {"elid": {"$": "4242"}, "item_status": {"$": "2"}, "ip": {"$": "203.0.113.30"}}}"#,
    );
    let plugin = rpc_plugin(&server);
    let password = converse(
        &plugin,
        &[
            (
                "277",
                "VDS-1 (1 CPU, 2 GB RAM, 20 GB SSD), 390.00 RUB/month",
            ),
            (
                "278",
                "VDS-2 (2 CPU, 4 GB RAM, 40 GB SSD), 890.00 RUB/month",
            ),
        ],
        "278",
        "203.0.113.30",
    );
    assert_generated(&password);
    let login_form = received_form(&login_form);
    assert_eq!(form_value(&login_form, "username"), "client@hoster.example");
    assert_eq!(form_value(&login_form, "password"), RPC_PASSWORD);
    let order_form = received_form(&order_form);
    for (name, value) in [
        ("sok", "ok"),
        ("skipbasket", "on"),
        ("pricelist", "278"),
        ("datacenter", "1"),
        ("ostempl", "Rocky-9-x86_64"),
        ("period", "1"),
        ("domain", &server_name(&plugin)),
        ("password", &password),
    ] {
        assert_eq!(form_value(&order_form, name), value, "{order_form:?}");
    }
    for mock in [login, pricelist, order, edit] {
        mock.assert();
    }
}

#[test]
fn example_rpc_reports_a_login_refused_inside_a_200_in_the_hosters_words() {
    let mut server = Server::new();
    let (login, _) = rpc_login(
        &mut server,
        r#"{"doc": {"error": {"$type": "auth", "$object": "badpassword", "msg": {"$": "Invalid username or password"}}}}"#,
    );
    let nothing_else = server.mock("GET", Matcher::Any).expect(0).create();
    let run = rpc_plugin(&server).run(&["configs"]);
    let message = run.error_message();
    assert!(
        message.contains("Invalid username or password"),
        "{message}"
    );
    assert!(!message.contains(RPC_PASSWORD), "{message}");
    login.assert();
    nothing_else.assert();
}

// --- plans keyed by name ---------------------------------------------------------------------

const MAP_KEY: &str = "scw-secret-key-0123456789";
const MAP_SERVER: &str = "11111111-2222-4333-8444-555555555555";

#[test]
fn example_map_offers_the_entries_and_orders_in_three_steps() {
    let mut server = Server::new();
    let zone = "/instance/v1/zones/fr-par-1";
    let keyed = |server: &mut Server, method: &str, path: String| {
        server
            .mock(method, path.as_str())
            .match_header("X-Auth-Token", MAP_KEY)
    };
    let products = keyed(&mut server, "GET", format!("{zone}/products/servers"))
        .with_body(
            r#"{"servers": {
              "DEV1-S": {"arch": "x86_64", "ncpus": 2, "ram": 2147483648, "monthly_price": 6.424, "end_of_service": false},
              "DEV1-M": {"arch": "x86_64", "ncpus": 3, "ram": 4294967296, "monthly_price": 14.308, "end_of_service": false},
              "STARDUST1-S": {"arch": "x86_64", "ncpus": 1, "ram": 1073741824, "monthly_price": 0.15, "end_of_service": false},
              "AMP2-C2": {"arch": "arm64", "ncpus": 2, "ram": 8589934592, "monthly_price": 39.4, "end_of_service": false},
              "VC1S": {"arch": "x86_64", "ncpus": 2, "ram": 2147483648, "monthly_price": 5.0, "end_of_service": true}
            }}"#,
        )
        .expect(1)
        .create();
    let (create, created) = capture_once(
        keyed(&mut server, "POST", format!("{zone}/servers"))
            .match_header("content-type", "application/json"),
        201,
        format!(r#"{{"server": {{"id": "{MAP_SERVER}", "state": "stopped"}}}}"#),
    );
    let (cloud_init, document) = capture_once(
        keyed(
            &mut server,
            "PATCH",
            format!("{zone}/servers/{MAP_SERVER}/user_data/cloud-init"),
        )
        .match_header("content-type", "text/plain"),
        204,
        String::new(),
    );
    let power_on = keyed(
        &mut server,
        "POST",
        format!("{zone}/servers/{MAP_SERVER}/action"),
    )
    .match_body(Matcher::Json(json!({"action": "poweron"})))
    .with_status(202)
    .with_body(r#"{"task": {"id": "t-1", "status": "pending"}}"#)
    .expect(1)
    .create();
    let show = keyed(&mut server, "GET", format!("{zone}/servers/{MAP_SERVER}"))
        .with_body(r#"{"server": {"state": "running", "public_ip": {"address": "203.0.113.40"}}}"#)
        .expect(1)
        .create();
    let plugin = plugin(
        "example-map",
        &server,
        &format!("secret_key={MAP_KEY}\nproject=proj-1\nimage=img-rocky-9\n"),
    );
    let password = converse(
        &plugin,
        &[
            (
                "DEV1-S",
                "Bitrix-env, DEV1-S: 2 vCPU, 2 GB RAM, 6.42 EUR/month, fr-par-1",
            ),
            (
                "DEV1-M",
                "Bitrix-env, DEV1-M: 3 vCPU, 4 GB RAM, 14.31 EUR/month, fr-par-1",
            ),
        ],
        "DEV1-M",
        "203.0.113.40",
    );
    assert_generated(&password);
    assert_eq!(
        received_json(&created),
        json!({
            "name": server_name(&plugin),
            "commercial_type": "DEV1-M",
            "image": "img-rocky-9",
            "project": "proj-1",
            "dynamic_ip_required": true,
        })
    );
    let document = String::from_utf8(document.lock().unwrap().clone()).unwrap();
    assert_sets_root_password(&document, &password);
    for mock in [products, create, cloud_init, power_on, show] {
        mock.assert();
    }
}

// --- a generated password through cloud-init -------------------------------------------------

const CLOUD_INSTANCE: &str = "cb676a46-66fd-4dfb-b839-443f2e6c0b60";

#[test]
fn example_cloudinit_sends_the_password_base64_encoded_in_user_data() {
    let mut server = Server::new();
    let (create, received) = capture_once(
        json_post(&mut server, "/instances", json!({})),
        202,
        format!(
            r#"{{"instance": {{"id": "{CLOUD_INSTANCE}", "status": "pending", "main_ip": "0.0.0.0"}}}}"#
        ),
    );
    let show = get_once(
        &mut server,
        &format!("/instances/{CLOUD_INSTANCE}"),
        200,
        r#"{"instance": {"status": "active", "main_ip": "203.0.113.50"}}"#,
    );
    let plugin = plugin("example-cloudinit", &server, SECRETS);
    let password = converse(
        &plugin,
        &[
            (
                "1",
                "Bitrix-env, Rocky Linux 9, 2 vCPU, 4 GB RAM, 80 GB SSD, ams",
            ),
            (
                "2",
                "Bitrix-env, Rocky Linux 9, 4 vCPU, 8 GB RAM, 160 GB SSD, ams",
            ),
            (
                "3",
                "Bitrix-env, Rocky Linux 9, 6 vCPU, 16 GB RAM, 320 GB SSD, ams",
            ),
        ],
        "2",
        "203.0.113.50",
    );
    assert_generated(&password);
    let body = received_json(&received);
    assert_eq!(body["label"], server_name(&plugin));
    assert_eq!(body["plan"], "vc2-4c-8gb");
    assert_eq!(body["region"], "ams");
    assert_eq!(body["os_id"], 1869, "a number, as the cookbook says");
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(body["user_data"].as_str().expect("user_data is a string"))
        .expect("user_data is base64");
    let document = String::from_utf8(user_data).unwrap();
    assert_sets_root_password(&document, &password);
    assert!(document.contains("PermitRootLogin yes\n"), "{document}");
    for mock in [create, show] {
        mock.assert();
    }
}

// --- signed requests --------------------------------------------------------------------------

const SIGNED_APP_KEY: &str = "app-key-7d1e42";
const SIGNED_APP_SECRET: &str = "app-secret-Q9zX4wK2";
const SIGNED_CONSUMER_KEY: &str = "consumer-key-M2pL8kT5";
const SIGNED_INSTANCE: &str = "inst-5c2e9a";
/// The hoster's clock runs an hour ahead of this machine's: only a signature made with the
/// time `api.clock` reads passes.
const SIGNED_HOSTER_AHEAD: u64 = 3600;

/// The hoster's time now, as its `GET /auth/time` says it.
fn signed_hoster_time() -> u64 {
    unix_now() + SIGNED_HOSTER_AHEAD
}

/// Whether `request` carries the signature the cookbook documents, recomputed from its
/// formula, with a timestamp within half a minute of the hoster's clock.
fn signed_by_the_formula(origin: &str, request: &mockito::Request) -> bool {
    let keys = SigningKeys {
        app_key: SIGNED_APP_KEY,
        app_secret: SIGNED_APP_SECRET,
        consumer_key: SIGNED_CONSUMER_KEY,
    };
    ovh_signed(request, origin, &keys, signed_hoster_time(), 30)
}

/// The signing hoster's clock, which must be asked unsigned (no key goes to it).
fn signing_clock(server: &mut Server) -> mockito::Mock {
    server
        .mock("GET", "/1.0/auth/time")
        .match_request(|r| {
            ["x-ovh-application", "x-ovh-consumer", "x-ovh-signature"]
                .iter()
                .all(|h| !r.has_header(*h))
        })
        .with_body_from_request(|_| signed_hoster_time().to_string().into_bytes())
        .create()
}

/// The signing hoster's `Invalid signature` to any `method` request whose signature does not
/// check out (the clock's aside).
fn signature_refused(server: &mut Server, method: &str) -> mockito::Mock {
    let origin = server.url();
    server
        .mock(method, Matcher::Any)
        .match_request(move |r| r.path() != "/1.0/auth/time" && !signed_by_the_formula(&origin, r))
        .with_status(400)
        .with_body(r#"{"errorCode":"INVALID_SIGNATURE","httpCode":"400 Bad Request","message":"Invalid signature"}"#)
        .create()
}

/// A mock of `method path` that answers only correctly signed requests; not created yet.
fn signed(server: &mut Server, method: &str, path: &str) -> mockito::Mock {
    let origin = server.url();
    server
        .mock(method, path)
        .match_query(Matcher::Any)
        .match_request(move |r| signed_by_the_formula(&origin, r))
}

/// The signed example, its base URL's `/1.0` kept on the mock, with the site's keys and
/// `app_secret` as the secret it signs with.
fn signed_plugin(server: &Server, app_secret: &str) -> Plugin {
    Plugin::new(
        "example-signed",
        &example("example-signed"),
        &format!("{}/1.0", server.url()),
    )
    .secrets(&format!(
        "app_key={SIGNED_APP_KEY}\napp_secret={app_secret}\nconsumer_key={SIGNED_CONSUMER_KEY}\n\
         project=p-42\nimage=img-rocky-9\n"
    ))
}

const SIGNED_FLAVORS: &str = r#"[
  {"id": "f-b2-7", "name": "b2-7", "region": "GRA11", "vcpus": 2, "ram": 7000, "disk": 50, "osType": "linux", "available": true},
  {"id": "f-b2-15", "name": "b2-15", "region": "GRA11", "vcpus": 4, "ram": 15000, "disk": 100, "osType": "linux", "available": true},
  {"id": "f-b2-30", "name": "b2-30", "region": "GRA11", "vcpus": 8, "ram": 30000, "disk": 200, "osType": "linux", "available": false},
  {"id": "f-d2-2", "name": "d2-2", "region": "GRA11", "vcpus": 1, "ram": 2000, "disk": 25, "osType": "linux", "available": true},
  {"id": "f-win-b2-7", "name": "win-b2-7", "region": "GRA11", "vcpus": 2, "ram": 7000, "disk": 50, "osType": "windows", "available": true}
]"#;

#[test]
fn example_signed_signs_every_request_with_the_hosters_clock_over_url_and_body() {
    let mut server = Server::new();
    let clock = signing_clock(&mut server);
    let refused = [
        signature_refused(&mut server, "GET"),
        signature_refused(&mut server, "POST"),
    ];
    let flavors = signed(&mut server, "GET", "/1.0/cloud/project/p-42/flavor")
        .match_query(Matcher::Exact("region=GRA11".into()))
        .with_body(SIGNED_FLAVORS)
        .expect(1)
        .create();
    let (create, created) = capture_once(
        signed(&mut server, "POST", "/1.0/cloud/project/p-42/instance"),
        200,
        format!(r#"{{"id": "{SIGNED_INSTANCE}", "status": "BUILD", "ipAddresses": []}}"#),
    );
    let show = signed(
        &mut server,
        "GET",
        &format!("/1.0/cloud/project/p-42/instance/{SIGNED_INSTANCE}"),
    )
    .with_body(
        r#"{"id": "inst-5c2e9a", "status": "ACTIVE", "ipAddresses": [
          {"ip": "10.0.0.5", "type": "private", "version": 4},
          {"ip": "2001:db8::60", "type": "public", "version": 6},
          {"ip": "203.0.113.60", "type": "public", "version": 4}
        ]}"#,
    )
    .expect(1)
    .create();
    let plugin = signed_plugin(&server, SIGNED_APP_SECRET);
    let password = converse(
        &plugin,
        &[
            (
                "b2-7",
                "Bitrix-env, Rocky Linux 9, b2-7: 2 vCPU, 7000 MB RAM, 50 GB SSD, GRA11",
            ),
            (
                "b2-15",
                "Bitrix-env, Rocky Linux 9, b2-15: 4 vCPU, 15000 MB RAM, 100 GB SSD, GRA11",
            ),
        ],
        "b2-7",
        "203.0.113.60",
    );
    assert_generated(&password);
    // The purchase's body, which its signature covered byte for byte.
    let body = received_json(&created);
    assert_eq!(body["name"], server_name(&plugin));
    assert_eq!(body["flavorId"], "f-b2-7");
    assert_eq!(body["imageId"], "img-rocky-9");
    assert_eq!(body["region"], "GRA11");
    assert_sets_root_password(body["userData"].as_str().unwrap(), &password);
    // One clock read per run that sends anything: configs, order, order_status.
    clock.expect(3).assert();
    for refusal in refused {
        refusal.expect(0).assert();
    }
    for mock in [flavors, create, show] {
        mock.assert();
    }
}

#[test]
fn example_signed_with_a_wrong_secret_is_refused_in_the_hosters_words_and_buys_nothing() {
    let mut server = Server::new();
    signing_clock(&mut server);
    let refused_read = signature_refused(&mut server, "GET");
    let refused_purchase = signature_refused(&mut server, "POST");
    let flavors = signed(&mut server, "GET", "/1.0/cloud/project/p-42/flavor")
        .with_body(SIGNED_FLAVORS)
        .expect(0)
        .create();
    let create = signed(&mut server, "POST", "/1.0/cloud/project/p-42/instance")
        .expect(0)
        .create();
    let wrong = "not-the-app-secret-1";
    let plugin = signed_plugin(&server, wrong);
    let configs = plugin.run(&["configs"]);
    let message = configs.error_message();
    assert!(
        message.contains("400") && message.contains("Invalid signature"),
        "{message}"
    );
    let ordered = plugin.run(&["order", "b2-7"]);
    assert!(
        ordered.error_message().contains("Invalid signature"),
        "{}",
        ordered.stdout
    );
    for run in [&configs, &ordered] {
        for secret in [wrong, SIGNED_CONSUMER_KEY, SIGNED_APP_KEY] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} in {run:?}"
            );
        }
    }
    // Both runs asked for the menu, signed wrong; nothing reached the purchase.
    refused_read.expect(2).assert();
    refused_purchase.expect(0).assert();
    flavors.assert();
    create.assert();
}

// --- a map-keyed, Link-paged API priced by a second endpoint -------------------------------------

/// One authenticated GET of `path` on the priced hoster, whose query matches `query`, answered
/// once with `body`; not created yet.
fn priced_read(server: &mut Server, path: &str, query: Matcher, body: &str) -> mockito::Mock {
    authed(server, "GET", path)
        .match_query(query)
        .with_body(body)
        .expect(1)
}

#[test]
fn example_priced_joins_two_link_pages_of_entries_with_billing_prices_and_waits_for_the_action() {
    let mut server = Server::new();
    // Page 1 links to page 2 on the hoster's real host (the file's base URL): the run follows
    // it on the base URL in use, the mock.
    let first_page = priced_read(
        &mut server,
        "/server_types",
        Matcher::Exact("per_page=50".into()),
        r#"{"server_types": {
          "cx12": {"id": 12, "cores": 1, "memory_gb": 2, "disk_gb": 20},
          "cx22": {"id": 22, "cores": 2, "memory_gb": 4, "disk_gb": 40},
          "cx32": {"id": 32, "cores": 4, "memory_gb": 8, "disk_gb": 80}
        }}"#,
    )
    .with_header(
        "link",
        "<https://api.compute.example/v1/server_types?per_page=50&page=2>; rel=\"next\", \
         <https://api.compute.example/v1/server_types?per_page=50&page=2>; rel=\"last\"",
    )
    .create();
    let second_page = priced_read(
        &mut server,
        "/server_types",
        Matcher::AllOf(vec![
            Matcher::UrlEncoded("per_page".into(), "50".into()),
            Matcher::UrlEncoded("page".into(), "2".into()),
        ]),
        r#"{"server_types": {
          "cx42": {"id": 42, "cores": 8, "memory_gb": 16, "disk_gb": 160},
          "cx52": {"id": 52, "cores": 16, "memory_gb": 32, "disk_gb": 320},
          "ccx13": {"id": 113, "cores": 2, "memory_gb": 8, "disk_gb": 80}
        }}"#,
    )
    .with_header(
        "link",
        "<https://api.compute.example/v1/server_types?per_page=50&page=1>; rel=\"prev\"",
    )
    .create();
    // The billing API's prices, under its own path (`/v2` of `api.endpoints.billing`): cx12 is
    // too small, cx52 too dear, ccx13 has no price in this location.
    let prices = priced_read(
        &mut server,
        "/v2/prices",
        Matcher::Exact("location=fsn1".into()),
        r#"{"prices": [
          {"server_type": "cx12", "monthly": 3.29},
          {"server_type": "cx22", "monthly": 4.51},
          {"server_type": "cx32", "monthly": 7.2},
          {"server_type": "cx42", "monthly": 17.49},
          {"server_type": "cx52", "monthly": 45}
        ]}"#,
    )
    .create();
    let (create, created) = capture_once(
        json_post(&mut server, "/servers", json!({"server_type": "cx32"})),
        201,
        r#"{"server": {"id": 7001, "status": "initializing"}, "action": {"id": 9001, "status": "running"}}"#
            .into(),
    );
    // The action is running on the first read and done on the second: the order reads it
    // until it says `success`, and not after.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let action = authed(&mut server, "GET", "/actions/9001")
        .with_body_from_request(move |_| {
            let status = match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => "running",
                _ => "success",
            };
            format!(r#"{{"action": {{"id": 9001, "status": "{status}"}}}}"#).into_bytes()
        })
        .expect(2)
        .create();
    let show = get_once(
        &mut server,
        "/servers/7001",
        200,
        r#"{"server": {"status": "running", "public_net": {"ipv4": {"ip": "203.0.113.70"}}}}"#,
    );
    let plugin = plugin("example-priced", &server, SECRETS);
    let password = converse(
        &plugin,
        &[
            (
                "22",
                "Bitrix-env, Rocky Linux 9, cx22: 2 vCPU, 4 GB RAM, 40 GB SSD, 4.51 EUR/month, fsn1",
            ),
            (
                "32",
                "Bitrix-env, Rocky Linux 9, cx32: 4 vCPU, 8 GB RAM, 80 GB SSD, 7.20 EUR/month, fsn1",
            ),
            (
                "42",
                "Bitrix-env, Rocky Linux 9, cx42: 8 vCPU, 16 GB RAM, 160 GB SSD, 17.49 EUR/month, fsn1",
            ),
        ],
        "32",
        "203.0.113.70",
    );
    assert_generated(&password);
    let body = received_json(&created);
    assert_eq!(body["name"], server_name(&plugin));
    assert_eq!(body["location"], "fsn1");
    assert_eq!(body["image"], "rocky-9");
    assert_sets_root_password(body["user_data"].as_str().unwrap(), &password);
    assert_eq!(plugin.only_task()["hoster_id"], "7001");
    for mock in [first_page, second_page, prices, create, action, show] {
        mock.assert();
    }
}
