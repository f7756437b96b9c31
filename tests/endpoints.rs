//! Several endpoints (`api.endpoints`): an API whose identity, compute and billing parts live
//! at different base URLs is one provider file. The identity URL comes from a setting
//! (`base_url: "{{settings.auth_url}}"`), the compute URL from the service catalog in the
//! login's answer (`api.login.extract`, kept with the token), a billing URL from a setting
//! whose `/` stays a `/`. The answers are Keystone v3's and Nova 2.1's documented shapes
//! (tests/fixtures/hosters/openstack/README.md); the billing list is invented, as no
//! OpenStack API has prices.

mod common;

use common::*;
use mockito::Matcher;

const PASSWORD: &str = "endpoint-Passw0rd";
const TOKEN: &str = "gAAAAABinventedtokenvalue0000000000000000";

fn cloud_yaml() -> String {
    r#"name: cloud
secrets:
  password: {}
settings:
  auth_url: https://identity.cloud.example.com/v3
  region: RegionOne
  billing_prefix: billing/v2
api:
  base_url: "{{settings.auth_url}}"
  endpoints:
    compute: '{{#with (find session.compute "interface" "public" "region_id" settings.region)}}{{url}}{{else}}{{/with}}'
    billing: "https://billing.cloud.example.com/{{settings.billing_prefix}}"
  login:
    request:
      method: POST
      path: /auth/tokens
      json:
        auth:
          identity:
            methods: [password]
            password: { user: { name: bx, domain: { name: Default }, password: "{{secrets.password}}" } }
    token: { header: X-Subject-Token }
    expires: $.token.expires_at
    extract:
      compute: "$.token.catalog[?@.type == 'compute'].endpoints"
  auth:
    header: { name: X-Auth-Token, value: "{{session.token}}" }
  error_message: $.*.message
  deadline_seconds: 5
configs:
  fetch:
    request: { endpoint: compute, path: /flavors/detail }
    items: $.flavors[*]
    also:
      prices:
        request: { endpoint: billing, path: /prices }
        items: $.prices[*]
        key: "{{item.flavor}}"
        match: "{{item.id}}"
    id: "{{item.id}}"
    descr: "{{item.name}}, {{#if also.prices}}{{also.prices.monthly}} EUR{{else}}no price{{/if}}"
    vars: { flavor: "{{item.id}}" }
    cache_minutes: 0
order:
  steps:
    - request:
        endpoint: compute
        method: POST
        path: /servers
        json: { server: { name: "bx-{{task.id}}", flavorRef: "{{config.flavor}}" } }
      extract: { server_id: $.server.id }
  hoster_id: "{{saved.server_id}}"
order_status:
  steps:
    - request: { endpoint: compute, path: "/servers/{{saved.server_id}}" }
      extract: { state: $.server.status, ip: $.server.accessIPv4 }
  status:
    value: "{{polled.state}}"
    map: { BUILD: in_progress, ACTIVE: finished, ERROR: error }
  server: "{{polled.ip}}"
  server_password: "{{password}}"
"#
    .to_owned()
}

/// Keystone's answer (the fixture, with an expiry in the future) and `catalog` in place of the
/// fixture's catalog when given.
fn token_body(catalog: Option<serde_json::Value>) -> String {
    let mut token: serde_json::Value =
        serde_json::from_str(&hoster_fixture("openstack", "token.json")).unwrap();
    token["token"]["expires_at"] = "2999-01-01T00:00:00.000000Z".into();
    if let Some(catalog) = catalog {
        token["token"]["catalog"] = catalog;
    }
    token.to_string()
}

fn keystone(server: &mut mockito::Server, body: &str) -> mockito::Mock {
    server
        .mock("POST", "/auth/tokens")
        .match_body(Matcher::PartialJson(serde_json::json!({
            "auth": { "identity": { "password": { "user": { "password": PASSWORD } } } }
        })))
        .with_status(201)
        .with_header("X-Subject-Token", TOKEN)
        .with_header("Content-Type", "application/json")
        .with_body(body)
        .create()
}

fn authed_get(server: &mut mockito::Server, path: &str, body: &str) -> mockito::Mock {
    server
        .mock("GET", path)
        .match_header("X-Auth-Token", TOKEN)
        .with_body(body)
        .create()
}

fn prices(server: &mut mockito::Server) -> mockito::Mock {
    authed_get(
        server,
        "/billing/v2/prices",
        r#"{"prices":[{"flavor":"1011","monthly":"4.10"}]}"#,
    )
}

fn cloud(server: &mockito::Server) -> Plugin {
    Plugin::new("cloud", &cloud_yaml(), &server.url()).secrets(&format!("password={PASSWORD}\n"))
}

/// The plugin without `$VPS_PROVIDER_BASE_URL`: every URL is the one the file makes.
fn without_override(plugin: Plugin) -> Plugin {
    plugin.without_env("VPS_PROVIDER_BASE_URL")
}

#[test]
fn the_compute_url_comes_from_the_login_catalog_and_the_billing_url_from_a_setting() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, &token_body(None)).expect(1);
    // The catalog's public RegionOne URL is https://compute.regionone.cloud.example.com/v2.1;
    // the override moves its scheme, host and port to the mock and keeps its path.
    let flavors = authed_get(
        &mut server,
        "/v2.1/flavors/detail",
        &hoster_fixture("openstack", "flavors.json"),
    )
    .expect(2);
    let prices = prices(&mut server).expect(2);
    let plugin = cloud(&server);
    let menu = plugin.run(&["configs"]);
    assert_eq!(
        enabled_descrs(&menu),
        vec![
            pair("1011", "SL1.1-1024-10, 4.10 EUR"),
            pair("b2-7", "b2-7, no price"),
            pair("5c6b2a10-3f4e-4d5c-9b8a-7a6b5c4d3e2f", "STD2-2-4, no price"),
        ]
    );
    // The catalog is kept with the token: the next run needs no login to find Nova.
    assert_eq!(plugin.run(&["configs"]).ok(), menu.ok());
    login.assert();
    flavors.assert();
    prices.assert();
}

#[test]
fn the_region_setting_picks_the_catalog_entry() {
    let mut server = mockito::Server::new();
    keystone(&mut server, &token_body(None));
    prices(&mut server);
    // RegionTwo's public URL ends in the project id.
    let flavors = authed_get(
        &mut server,
        "/v2.1/8c6a1f9e2b3d4c5e6f708192a3b4c5d6/flavors/detail",
        r#"{"flavors":[{"id":"1011","name":"SL1.1-1024-10"}]}"#,
    );
    let plugin = cloud(&server).secrets(&format!("password={PASSWORD}\nregion=RegionTwo\n"));
    assert_eq!(
        enabled_descrs(&plugin.run(&["configs"])),
        vec![pair("1011", "SL1.1-1024-10, 4.10 EUR")]
    );
    flavors.assert();
}

#[test]
fn a_region_missing_from_the_catalog_is_an_error_at_the_endpoint() {
    let mut server = mockito::Server::new();
    keystone(&mut server, &token_body(None));
    let nothing = server.mock("GET", Matcher::Any).expect(0).create();
    let plugin = cloud(&server).secrets(&format!("password={PASSWORD}\nregion=RegionNine\n"));
    let run = plugin.run(&["configs"]);
    let at = position(&cloud_yaml(), "compute: '");
    assert_error_says(
        &run,
        &[
            &format!("cloud.yaml:{at}"),
            "endpoint `compute`: the URL is empty once filled in",
            "login's answer",
        ],
    );
    nothing.assert();
}

#[test]
fn a_catalog_that_sends_the_token_over_plain_http_is_refused() {
    let mut server = mockito::Server::new();
    let catalog = serde_json::json!([{ "type": "compute", "endpoints": [
        { "interface": "public", "region_id": "RegionOne", "url": "http://compute.cloud.example.com:8774/v2.1" }
    ]}]);
    keystone(&mut server, &token_body(Some(catalog)));
    let nothing = server.mock("GET", Matcher::Any).expect(0).create();
    let run = cloud(&server).run(&["configs"]);
    assert_error_says(
        &run,
        &[
            "endpoint `compute`",
            "`http://compute.cloud.example.com:8774/v2.1` is plain http",
        ],
    );
    nothing.assert();
}

#[test]
fn without_the_override_the_urls_are_the_settings_and_the_catalog() {
    let mut server = mockito::Server::new();
    // A cloud on loopback: its auth URL is a setting, its catalog names its own Nova.
    let nova = format!("{}/nova/v2.1", server.url());
    let catalog = serde_json::json!([{ "type": "compute", "endpoints": [
        { "interface": "public", "region_id": "RegionOne", "url": nova }
    ]}]);
    let login = server
        .mock("POST", "/identity/v3/auth/tokens")
        .with_status(201)
        .with_header("X-Subject-Token", TOKEN)
        .with_body(token_body(Some(catalog)))
        .create();
    let flavors = authed_get(
        &mut server,
        "/nova/v2.1/flavors/detail",
        r#"{"flavors":[{"id":"1011","name":"SL1.1-1024-10"}]}"#,
    );
    let prices = authed_get(
        &mut server,
        "/bill/ing/prices",
        r#"{"prices":[{"flavor":"1011","monthly":"4.10"}]}"#,
    );
    let yaml = cloud_yaml().replace(
        "https://billing.cloud.example.com/{{settings.billing_prefix}}",
        &format!("{}/{{{{settings.billing_prefix}}}}", server.url()),
    );
    let plugin = without_override(Plugin::new("cloud", &yaml, "")).secrets(&format!(
        "password={PASSWORD}\nauth_url={}/identity/v3/\nbilling_prefix=bill/ing\n",
        server.url()
    ));
    assert_eq!(
        enabled_descrs(&plugin.run(&["configs"])),
        vec![pair("1011", "SL1.1-1024-10, 4.10 EUR")]
    );
    login.assert();
    flavors.assert();
    prices.assert();
}

#[test]
fn a_base_url_setting_that_is_plain_http_is_refused_at_the_base_url() {
    let plugin = without_override(Plugin::new("cloud", &cloud_yaml(), "")).secrets(&format!(
        "password={PASSWORD}\nauth_url=http://identity.cloud.example.com/v3\n"
    ));
    let at = position(&cloud_yaml(), "base_url:");
    let run = plugin.run(&["configs"]);
    assert_error_says(
        &run,
        &[
            &format!("cloud.yaml:{at}"),
            "once filled in with the settings",
            "plain http",
        ],
    );
}

#[test]
fn a_dry_run_shows_the_login_and_the_endpoint_it_would_find() {
    let mut server = mockito::Server::new();
    let nothing = server.mock("GET", Matcher::Any).expect(0).create();
    let login = server.mock("POST", Matcher::Any).expect(0).create();
    let plugin = cloud(&server);
    let dry = plugin.operator(&["run", "cloud", "configs", "--dry-run"]);
    let shown = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(
        shown.contains(&format!("{}/auth/tokens", server.url())),
        "{shown}"
    );
    assert!(
        shown.contains("<endpoints.compute>/flavors/detail"),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
    nothing.assert();
    login.assert();
}

/// `vps-provider validate` on `yaml`: its exit code, its report, and the file's name.
fn validate(yaml: &str) -> (Option<i32>, String) {
    let validation = validate_yaml("cloud.yaml", yaml);
    (validation.code, validation.stdout)
}

#[test]
fn validate_checks_endpoint_names_urls_and_what_they_may_use() {
    let (code, stdout) = validate(&cloud_yaml());
    assert_eq!(code, Some(0), "{stdout}");

    let cases = [
        (
            "{ endpoint: compute, path: /flavors/detail }",
            "{ endpoint: comptue, path: /flavors/detail }",
            "endpoint: comptue",
            "`comptue` is not one of `api.endpoints`",
            "did you mean `compute`?",
        ),
        (
            "billing: \"https://billing.cloud.example.com/{{settings.billing_prefix}}\"",
            "billing: http://billing.cloud.example.com/v2",
            "billing: http",
            "is plain http",
            "https://",
        ),
        (
            "      method: POST\n      path: /auth/tokens",
            "      endpoint: compute\n      method: POST\n      path: /auth/tokens",
            "endpoint: compute\n      method: POST",
            "whose URL needs the login's own session",
            "settings only",
        ),
        (
            "      compute: \"$.token.catalog",
            "      token: $.token.id\n      compute: \"$.token.catalog",
            "token: $.token.id",
            "`token` is the login's own `token`",
            "another name",
        ),
        (
            "{{settings.billing_prefix}}\"",
            "{{secrets.password}}\"",
            "billing: \"https",
            "names `secrets`, which is not a variable here",
            "",
        ),
        (
            "session.compute \"interface\"",
            "session.compte \"interface\"",
            "compute: '",
            "did you mean `compute`?",
            "",
        ),
    ];
    for (from, to, at, says, help) in cases {
        let yaml = cloud_yaml().replacen(from, to, 1);
        assert_ne!(yaml, cloud_yaml(), "{from}");
        let (code, stdout) = validate(&yaml);
        assert_eq!(code, Some(1), "{to}: {stdout}");
        let at = position(&yaml, at);
        assert!(
            stdout.contains(&format!("cloud.yaml:{at}")),
            "{to}: {at}: {stdout}"
        );
        assert!(
            stdout.contains(says) && stdout.contains(help),
            "{to}: {stdout}"
        );
    }
}
