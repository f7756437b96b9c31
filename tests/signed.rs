//! Signed requests: OVHcloud's `X-Ovh-Signature` (SHA-1 over the secrets, the method, the
//! full URL, the body and a timestamp from the hoster's own clock, `api.clock`) and
//! Exoscale's HMAC-SHA256 `Authorization` header, each checked by a mock that recomputes the
//! signature from the documented formula (tests/fixtures/hosters/{ovhcloud,exoscale}/README.md),
//! with their failure paths: a wrong signature, a clock that cannot be read, misuse that
//! `validate` catches.

mod common;

use base64::Engine;
use common::*;
use mockito::Matcher;
use serde_json::json;

const APP_KEY: &str = "ovh-app-key-7d1e";
const APP_SECRET: &str = "ovh-app-secret-Q9zX4w";
const CONSUMER_KEY: &str = "ovh-consumer-key-M2pL8k";
/// The hoster's clock is an hour ahead of this machine's: only a signature made with the
/// hoster's time passes.
const HOSTER_AHEAD: i64 = 3600;

fn now() -> i64 {
    unix_now() as i64
}

fn ovh_yaml() -> String {
    r#"name: ovhcloud
secrets:
  app_key: {}
  app_secret: {}
  consumer_key: {}
settings:
  project: p-42
  region: GRA11
  image: img-rocky-9
api:
  base_url: https://eu.api.ovh.com/1.0
  clock:
    request: { path: /auth/time }
    time: $
  headers:
    X-Ovh-Application: "{{secrets.app_key}}"
    X-Ovh-Consumer: "{{secrets.consumer_key}}"
    X-Ovh-Timestamp: "{{clock.unix}}"
    X-Ovh-Signature: "$1${{sha1 (concat secrets.app_secret '+' secrets.consumer_key '+' request.method '+' request.url '+' request.body '+' clock.unix)}}"
  error_message: $.message
  deadline_seconds: 10
configs:
  fetch:
    request: { path: "/cloud/project/{{settings.project}}/flavor", query: { region: "{{settings.region}}" } }
    items: "$[?@.available == true]"
    id: "{{item.name}}"
    descr: "{{item.vcpus}} vCPU, {{item.ram}} MB RAM"
    vars: { flavor: "{{item.id}}" }
    cache_minutes: 0
order:
  steps:
    - request:
        method: POST
        path: "/cloud/project/{{settings.project}}/instance"
        json: { name: "bx-{{task.id}}", flavorId: "{{config.flavor}}", imageId: "{{settings.image}}", region: "{{settings.region}}" }
      extract: { instance_id: $.id }
  hoster_id: "{{saved.instance_id}}"
order_status:
  steps:
    - request: { path: "/cloud/project/{{settings.project}}/instance/{{saved.instance_id}}" }
      extract: { state: $.status, ip: "$.ipAddresses[?@.type == 'public' && @.version == 4].ip" }
  status:
    value: "{{polled.state}}"
    map: { BUILD: in_progress, ACTIVE: finished, ERROR: error }
  server: "{{polled.ip}}"
  server_password: "{{password}}"
"#
    .to_owned()
}

fn ovh(server: &mockito::Server, app_secret: &str) -> Plugin {
    Plugin::new("ovhcloud", &ovh_yaml(), &format!("{}/1.0", server.url())).secrets(&format!(
        "app_key={APP_KEY}\napp_secret={app_secret}\nconsumer_key={CONSUMER_KEY}\n"
    ))
}

/// Whether `request` carries OVHcloud's signature, recomputed from the documented formula,
/// with a timestamp within a minute of the hoster's clock.
fn ovh_signed(base: &str, request: &mockito::Request) -> bool {
    let keys = SigningKeys {
        app_key: APP_KEY,
        app_secret: APP_SECRET,
        consumer_key: CONSUMER_KEY,
    };
    common::ovh_signed(request, base, &keys, (now() + HOSTER_AHEAD) as u64, 60)
}

const INVALID_SIGNATURE: &str = r#"{"errorCode":"INVALID_SIGNATURE","httpCode":"400 Bad Request","message":"Invalid signature"}"#;

/// `method path` answering `body` when signed, and OVHcloud's 400 when not.
fn ovh_signed_mock(
    server: &mut mockito::Server,
    method: &str,
    path: &str,
    status: usize,
    body: &str,
) -> (mockito::Mock, mockito::Mock) {
    let base = server.url();
    let good = server
        .mock(method, path)
        .match_query(Matcher::Any)
        .match_request({
            let base = base.clone();
            move |r| ovh_signed(&base, r)
        })
        .with_status(status)
        .with_body(body)
        .create();
    let bad = server
        .mock(method, path)
        .match_query(Matcher::Any)
        .match_request(move |r| !ovh_signed(&base, r))
        .with_status(400)
        .with_body(INVALID_SIGNATURE)
        .create();
    (good, bad)
}

fn ovh_clock(server: &mut mockito::Server) -> mockito::Mock {
    server
        .mock("GET", "/1.0/auth/time")
        .with_body((now() + HOSTER_AHEAD).to_string())
}

#[test]
fn every_page_of_a_signed_list_is_signed_over_its_own_url() {
    // The plan list in two pages linked by a `Link` header: the second page's signature must
    // be over the second page's URL, not a copy of the first page's.
    let yaml = ovh_yaml().replace(
        "    items: \"$[?@.available == true]\"\n",
        "    pages: { link: next }\n    items: \"$[?@.available == true]\"\n",
    );
    assert!(yaml.contains("link: next"), "the paging went into the file");
    let mut server = mockito::Server::new();
    let _clock = ovh_clock(&mut server).expect(1).create();
    let base = server.url();
    let path = "/1.0/cloud/project/p-42/flavor";
    let signed = |base: String| move |r: &mockito::Request| ovh_signed(&base, r);
    let first = server
        .mock("GET", path)
        .match_query(Matcher::Exact("region=GRA11".into()))
        .match_request(signed(base.clone()))
        .with_header(
            "Link",
            &format!("<{base}{path}?region=GRA11&page=2>; rel=\"next\""),
        )
        .with_body(hoster_fixture("ovhcloud", "flavors.json"))
        .expect(1)
        .create();
    let second = server
        .mock("GET", path)
        .match_query(Matcher::Exact("region=GRA11&page=2".into()))
        .match_request(signed(base.clone()))
        .with_body(
            json!([{"id": "flavor-d2-4", "name": "d2-4", "vcpus": 2, "ram": 4000, "available": true}])
                .to_string(),
        )
        .expect(1)
        .create();
    let _refused = server
        .mock("GET", path)
        .match_query(Matcher::Any)
        .with_status(400)
        .with_body(INVALID_SIGNATURE)
        .create();
    let plugin = Plugin::new("ovhcloud", &yaml, &format!("{base}/1.0")).secrets(&format!(
        "app_key={APP_KEY}\napp_secret={APP_SECRET}\nconsumer_key={CONSUMER_KEY}\n"
    ));
    let configs = plugin.run(&["configs"]);
    assert_eq!(
        configs.ok()["configurations"],
        json!([
            {"id": "b2-7", "descr": "2 vCPU, 7000 MB RAM"},
            {"id": "d2-4", "descr": "2 vCPU, 4000 MB RAM"}
        ])
    );
    first.assert();
    second.assert();
}

#[test]
fn an_ovhcloud_order_is_signed_with_the_hosters_clock_over_the_url_and_the_body() {
    let mut server = mockito::Server::new();
    // Three runs (configs, order, order_status): the clock is read once in each.
    let clock = ovh_clock(&mut server).expect(3).create();
    let flavors = hoster_fixture("ovhcloud", "flavors.json");
    let (menu, _) = ovh_signed_mock(
        &mut server,
        "GET",
        "/1.0/cloud/project/p-42/flavor",
        200,
        &flavors,
    );
    let (create, _) = ovh_signed_mock(
        &mut server,
        "POST",
        "/1.0/cloud/project/p-42/instance",
        200,
        &hoster_fixture("ovhcloud", "instance-build.json"),
    );
    let (poll, _) = ovh_signed_mock(
        &mut server,
        "GET",
        "/1.0/cloud/project/p-42/instance/inst-7f3a",
        200,
        &hoster_fixture("ovhcloud", "instance-build.json"),
    );
    let plugin = ovh(&server, APP_SECRET);

    let configs = plugin.run(&["configs"]);
    assert_eq!(
        configs.ok()["configurations"],
        json!([{"id": "b2-7", "descr": "2 vCPU, 7000 MB RAM"}])
    );
    let ordered = plugin.run(&["order", "b2-7"]);
    let task = task_id(&ordered);
    assert_eq!(plugin.only_task()["hoster_id"], "inst-7f3a");
    assert_eq!(status(&plugin.run(&["order_status", &task])), in_progress());
    clock.assert();
    menu.expect(2).assert();
    create.expect(1).assert();
    poll.expect(1).assert();
}

#[test]
fn a_wrong_signature_is_the_hosters_refusal_and_buys_nothing() {
    let mut server = mockito::Server::new();
    ovh_clock(&mut server).create();
    let (_, menu_refused) = ovh_signed_mock(
        &mut server,
        "GET",
        "/1.0/cloud/project/p-42/flavor",
        200,
        "[]",
    );
    let create = server
        .mock("POST", "/1.0/cloud/project/p-42/instance")
        .expect(0)
        .create();
    let plugin = ovh(&server, "a-wrong-app-secret");
    let configs = plugin.run(&["configs"]);
    let message = configs.error_message();
    assert!(
        message.contains("400") && message.contains("Invalid signature"),
        "{message}"
    );
    let ordered = plugin.run(&["order", "b2-7"]);
    assert!(ordered.error_message().contains("Invalid signature"));
    menu_refused.expect(2).assert();
    create.assert();
    for secret in ["a-wrong-app-secret", CONSUMER_KEY] {
        assert!(!configs.stdout.contains(secret) && !configs.stderr.contains(secret));
    }
}

#[test]
fn a_clock_that_cannot_be_read_stops_the_run_before_anything_is_signed_or_bought() {
    let mut server = mockito::Server::new();
    let clock = server
        .mock("GET", "/1.0/auth/time")
        .with_status(404)
        .with_body(r#"{"message":"The requested object (time) does not exist"}"#)
        .expect(1)
        .create();
    let anything_else = server
        .mock("GET", Matcher::Regex("^/1.0/cloud".into()))
        .expect(0)
        .create();
    let plugin = ovh(&server, APP_SECRET);
    let configs = plugin.run(&["configs"]);
    let message = configs.error_message();
    assert!(
        message.contains("the hoster's clock (`api.clock`) could not be read")
            && message.contains("404")
            && message.contains("does not exist"),
        "{message}"
    );
    clock.assert();
    anything_else.assert();

    // A clock answer that is no time says where to look.
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/1.0/auth/time")
        .with_body(r#""soon""#)
        .create();
    let plugin = ovh(&server, APP_SECRET);
    let message = plugin.run(&["configs"]).error_message().to_owned();
    assert!(
        message.contains("`soon` is not a time") && message.contains("api.clock.time"),
        "{message}"
    );
}

#[test]
fn traces_and_dry_runs_never_show_the_keys_or_the_signature() {
    let mut server = mockito::Server::new();
    ovh_clock(&mut server).create();
    ovh_signed_mock(
        &mut server,
        "GET",
        "/1.0/cloud/project/p-42/flavor",
        200,
        &hoster_fixture("ovhcloud", "flavors.json"),
    );
    let plugin = ovh(&server, APP_SECRET);
    let traced = plugin.operator(&["run", "ovhcloud", "configs", "--verbose"]);
    let dry = plugin.operator(&["run", "ovhcloud", "order", "b2-7", "--dry-run"]);
    for output in [&traced, &dry] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("X-Ovh-Signature"), "{text}");
        for secret in [APP_SECRET, CONSUMER_KEY] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("X-Ovh-Signature: $1$***"),
            "the signature is shown: {text}"
        );
    }
    assert!(traced.status.success());
}

// Exoscale API v2: an HMAC-SHA256 signature, base64, in the Authorization header.

const EXO_KEY: &str = "EXOa1b2c3d4e5f6";
const EXO_SECRET: &str = "exo-secret-Zq7Yv1Rk";

fn exoscale_yaml() -> String {
    r#"name: exoscale
secrets:
  api_key: {}
  api_secret: {}
settings:
  zone: ch-gva-2
api:
  base_url: https://api-ch-gva-2.exoscale.com/v2
  auth:
    header:
      name: Authorization
      value: "EXO2-HMAC-SHA256 credential={{secrets.api_key}},expires={{add clock.unix 600}},signature={{#hmac_sha256 secrets.api_secret out=\"base64\"}}{{request.method}} {{request.path}}\n{{request.body}}\n\n\n{{add clock.unix 600}}{{/hmac_sha256}}"
  error_message: $.message
  deadline_seconds: 10
configs:
  fetch:
    request: { path: /instance-type }
    items: "$['instance-types'][*]"
    id: "{{item.size}}"
    descr: "{{item.cpus}} vCPU"
    vars: { type: "{{item.id}}" }
    cache_minutes: 0
order:
  steps:
    - request:
        method: POST
        path: /instance
        json: { name: "bx-{{task.id}}", instance-type: { id: "{{config.type}}" } }
      extract: { op: $.reference.id }
  hoster_id: "{{saved.op}}"
order_status:
  steps:
    - request: { path: "/instance/{{saved.op}}" }
      extract: { state: $.state, ip: "$['public-ip']" }
  status: { value: "{{polled.state}}", map: { running: finished, starting: in_progress } }
  server: "{{polled.ip}}"
  server_password: "{{password}}"
"#
    .to_owned()
}

/// Whether `request` carries Exoscale's signature, recomputed from the documented message.
fn exo_signed(request: &mockito::Request) -> bool {
    let auth = header_text(request, "authorization");
    let Some(fields) = auth.strip_prefix("EXO2-HMAC-SHA256 ") else {
        return false;
    };
    let field = |name: &str| {
        fields
            .split(',')
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    };
    let expires = field("expires");
    let message = format!(
        "{} {}\n{}\n\n\n{expires}",
        request.method(),
        request.path(),
        request.utf8_lossy_body().unwrap_or_default()
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, EXO_SECRET.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&key, message.as_bytes()));
    let expires_soon = expires
        .parse::<i64>()
        .is_ok_and(|e| (e - now() - 600).abs() < 60);
    field("credential") == EXO_KEY && field("signature") == signature && expires_soon
}

/// Exoscale's refusal of a purchase whose signature does not check out; not created yet.
fn exo_refusal(server: &mut mockito::Server) -> mockito::Mock {
    server
        .mock("POST", "/v2/instance")
        .match_request(|r| !exo_signed(r))
        .with_status(401)
        .with_body(r#"{"message":"invalid request signature"}"#)
}

fn exoscale(server: &mockito::Server, api_secret: &str) -> Plugin {
    Plugin::new(
        "exoscale",
        &exoscale_yaml(),
        &format!("{}/v2", server.url()),
    )
    .secrets(&format!("api_key={EXO_KEY}\napi_secret={api_secret}\n"))
}

#[test]
fn an_exoscale_request_carries_a_base64_hmac_sha256_over_method_path_body_and_expiry() {
    let mut server = mockito::Server::new();
    let listed = server
        .mock("GET", "/v2/instance-type")
        .match_request(exo_signed)
        .with_body(r#"{"instance-types":[{"id":"it-1","size":"small","cpus":2}]}"#)
        .expect(1)
        .create();
    let created = server
        .mock("POST", "/v2/instance")
        .match_request(exo_signed)
        .with_body(r#"{"id":"op-1","state":"pending","reference":{"id":"vm-9"}}"#)
        .expect(1)
        .create();
    let refused = exo_refusal(&mut server).create();
    let plugin = exoscale(&server, EXO_SECRET);
    let ordered = plugin.run(&["order", "small"]);
    task_id(&ordered);
    assert_eq!(plugin.only_task()["hoster_id"], "vm-9");
    listed.assert();
    created.assert();
    refused.expect(0).assert();
}

#[test]
fn a_wrong_hmac_key_is_a_401_and_nothing_is_bought() {
    let mut server = mockito::Server::new();
    server
        .mock("GET", "/v2/instance-type")
        .with_body(r#"{"instance-types":[{"id":"it-1","size":"small","cpus":2}]}"#)
        .create();
    let refused = exo_refusal(&mut server).expect(1).create();
    let plugin = exoscale(&server, "not-the-secret-1");
    let ordered = plugin.run(&["order", "small"]);
    let message = ordered.error_message();
    assert!(
        message.contains("401") && message.contains("invalid request signature"),
        "{message}"
    );
    assert!(
        !ordered.stdout.contains("not-the-secret-1")
            && !ordered.stderr.contains("not-the-secret-1")
    );
    refused.assert();
    let tasks = plugin.operator(&["tasks", "exoscale"]);
    assert!(!String::from_utf8_lossy(&tasks.stdout).contains("vm-9"));
}

/// `validate`'s report on the OVHcloud file with `from` replaced by `to`, and the
/// `file:line:col` of the key (indented by `col - 1`) on the line that holds `to`.
fn validate_with(from: &str, to: &str) -> (String, String) {
    let yaml = ovh_yaml();
    assert!(yaml.contains(from), "{from}");
    let plugin = Plugin::new(
        "ovhcloud",
        &yaml.replacen(from, to, 1),
        "http://127.0.0.1:9",
    );
    let file = plugin.provider_file().display().to_string();
    let changed = yaml.replacen(from, to, 1);
    let line = changed[..changed.find(to).unwrap()].matches('\n').count() + 1;
    let col = changed
        .lines()
        .nth(line - 1)
        .unwrap()
        .find(|c: char| c != ' ')
        .unwrap()
        + 1;
    let output = plugin.operator(&["validate", &file]);
    let file = format!("{file}:{line}:{col}");
    assert!(!output.status.success(), "validate accepted `{to}`");
    (
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
        file,
    )
}

#[test]
fn validate_catches_misused_signing_helpers_and_variables_at_their_place() {
    let (report, file) = validate_with("{{sha1 (concat", "{{hmac_sha256 (concat");
    assert!(
        report.contains("`hmac_sha256` takes 2 argument(s), here it has 1")
            && report.contains(&file),
        "{report}"
    );
    let (report, file) = validate_with(
        "descr: \"{{item.vcpus}} vCPU",
        "descr: \"{{request.url}} {{item.vcpus}} vCPU",
    );
    assert!(
        report.contains(
            "`request.url` names `request`, which exists only in the header and query values"
        ) && report.contains(&file),
        "{report}"
    );
    let (report, _) = validate_with("'+' clock.unix)}}", "'+' clock.unx)}}");
    assert!(report.contains("did you mean `unix`?"), "{report}");
    let (report, _) = validate_with(" request.body ", " request.bdy ");
    assert!(report.contains("did you mean `body`?"), "{report}");
    let (report, _) = validate_with("clock.unix)}}\"", "clock.unix) out=\\\"b64\\\"}}\"");
    assert!(
        report.contains("`out=` of `sha1` is one of \"hex\", \"base64\""),
        "{report}"
    );
    let (report, _) = validate_with(
        "    request: { path: /auth/time }",
        "    request: { path: \"/auth/time/{{clock.unix}}\" }",
    );
    assert!(
        report.contains("not in `api.clock`'s own request"),
        "{report}"
    );
    let (report, _) = validate_with("    time: $\n", "    tme: $\n");
    assert!(report.contains("did you mean `time`?"), "{report}");
    let (report, _) = validate_with(
        "    request: { path: /auth/time }",
        "    request: { method: POST, path: /auth/time }",
    );
    assert!(report.contains("the clock must only read"), "{report}");
}
