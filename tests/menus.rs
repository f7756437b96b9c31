//! Menus as real APIs shape them: plans keyed by name (Scaleway), one element or a list of them
//! (BILLmanager's `out=json`), prices from another endpoint joined by key and plans offered per
//! location (Hetzner's `/pricing`). Each runs the real binary through the panel's symlink
//! against a loopback mock whose answers come from `tests/fixtures/hosters/<api>/`.

mod common;

use common::{
    Plugin, SECRETS, authed, capture_once, descrs, fixture, get_once, hoster_fixture, json_post,
    pair, received_json, task_id, validate_yaml,
};
use mockito::{Server, ServerGuard};
use serde_json::json;

/// The testhost provider file with `configs` replaced by `configs` (YAML, indented as under
/// `configs:`); its order sends `config.plan` and `config.region`.
fn provider(configs: &str) -> String {
    let base = fixture("providers/testhost.yaml");
    let written = &base[base.find("configs:").unwrap()..base.find("order:").unwrap()];
    base.replace(written, &format!("configs:\n{configs}"))
}

fn plugin(server: &ServerGuard, configs: &str) -> Plugin {
    Plugin::new("testhost", &provider(configs), &server.url()).secrets(SECRETS)
}

/// Runs `validate` on `yaml` and returns its output and the file's path.
fn validate(yaml: &str) -> (String, String) {
    let validation = validate_yaml("testhost.yaml", yaml);
    assert_eq!(validation.code, Some(1), "validate must fail");
    (validation.stdout, validation.file.display().to_string())
}

const SCALEWAY: &str = r#"  fetch:
    request: { path: /instance/v1/zones/fr-par-1/products/servers }
    items: { entries: $.servers }
    also:
      stock:
        request: { path: /instance/v1/zones/fr-par-1/products/servers/availability }
        items: { entries: $.servers }
        key: "{{item.key}}"
        match: "{{item.key}}"
    filter: "{{#unless item.value.end_of_service}}{{#if (ne also.stock.value.availability 'shortage')}}1{{/if}}{{/unless}}"
    id: "{{item.key}}"
    descr: "{{item.key}}: {{item.value.ncpus}} vCPU, {{human_size item.value.ram 'B'}} RAM, {{fixed item.value.monthly_price 2}} EUR/month ({{also.stock.value.availability}})"
    vars: { plan: "{{item.key}}", region: fr-par-1 }
"#;

#[test]
fn plans_keyed_by_name_are_entries_with_their_key() {
    let mut server = Server::new();
    let servers = get_once(
        &mut server,
        "/instance/v1/zones/fr-par-1/products/servers",
        200,
        &hoster_fixture("scaleway", "servers.json"),
    );
    let stock = get_once(
        &mut server,
        "/instance/v1/zones/fr-par-1/products/servers/availability",
        200,
        &hoster_fixture("scaleway", "availability.json"),
    );
    let run = plugin(&server, SCALEWAY).run(&["configs"]);
    servers.assert();
    stock.assert();
    // DEV1-M is out of stock, STARDUST1-S is being retired.
    assert_eq!(
        descrs(run.ok()),
        [
            pair(
                "DEV1-S",
                "DEV1-S: 2 vCPU, 2 GB RAM, 6.42 EUR/month (available)"
            ),
            pair(
                "GP1-XS",
                "GP1-XS: 4 vCPU, 16 GB RAM, 66.58 EUR/month (scarce)"
            ),
        ]
    );
}

#[test]
fn entries_on_a_list_say_so_at_items() {
    let mut server = Server::new();
    get_once(
        &mut server,
        "/instance/v1/zones/fr-par-1/products/servers",
        200,
        r#"{"servers": [{"name": "DEV1-S"}]}"#,
    );
    let run = plugin(&server, SCALEWAY).run(&["configs"]);
    let message = run.error_message();
    assert!(
        message.contains("the answer has an array here, not an object keyed by name")
            && message.contains("testhost.yaml:19:"),
        "{message}"
    );
}

const BILLMANAGER: &str = r#"  fetch:
    request:
      path: /billmgr
      query: { func: pricelist.export, itemtype: vds, out: json }
    items: { one_or_many: $.doc.pricelist }
    id: "{{item.id.[$]}}"
    descr: "{{item.name.[$]}}, {{item.price.period.[$cost]}} {{item.price.[$currency]}}/month"
    vars: { plan: "{{item.id.[$]}}", region: msk }
"#;

fn billmanager_menu(answer: &str) -> Vec<(String, String)> {
    let mut server = Server::new();
    let list = authed(&mut server, "GET", "/billmgr")
        .match_query(mockito::Matcher::UrlEncoded(
            "func".into(),
            "pricelist.export".into(),
        ))
        .with_body(hoster_fixture("billmgr", answer))
        .expect(1)
        .create();
    let run = plugin(&server, BILLMANAGER).run(&["configs"]);
    list.assert();
    descrs(run.ok())
}

#[test]
fn one_element_is_one_plan_and_an_array_is_many() {
    assert_eq!(
        billmanager_menu("pricelist-one.json"),
        [pair(
            "277",
            "VDS-1 (1 CPU, 1 GB RAM, 20 GB SSD), 390.00 RUB/month"
        )]
    );
    assert_eq!(
        billmanager_menu("pricelist-many.json"),
        [
            pair(
                "277",
                "VDS-1 (1 CPU, 1 GB RAM, 20 GB SSD), 390.00 RUB/month"
            ),
            pair(
                "278",
                "VDS-2 (2 CPU, 4 GB RAM, 40 GB SSD), 890.00 RUB/month"
            ),
        ]
    );
}

const HETZNER: &str = r#"  fetch:
    request: { path: /server_types }
    items: "$.server_types[?@.architecture == 'x86']"
    also:
      prices:
        request: { path: /pricing }
        items: $.pricing.server_types[*]
        key: "{{item.name}}"
        match: "{{item.name}}"
    combine:
      location: { list: [fsn1, nbg1] }
    filter: "{{#if also.prices}}{{#with (find also.prices.prices 'location' combine.location)}}1{{/with}}{{/if}}"
    id: "{{item.name}}.{{combine.location}}"
    descr: "{{item.name}}, {{item.cores}} vCPU, {{#with (find also.prices.prices 'location' combine.location)}}{{fixed price_monthly.gross 2}}{{/with}} EUR/month, {{combine.location}}"
    vars: { plan: "{{item.name}}", region: "{{combine.location}}" }
"#;

fn hetzner_mocks(server: &mut ServerGuard) -> (mockito::Mock, mockito::Mock) {
    let plans = get_once(
        server,
        "/server_types",
        200,
        &hoster_fixture("hetzner", "plans.json"),
    );
    let prices = get_once(
        server,
        "/pricing",
        200,
        &hoster_fixture("hetzner", "pricing.json"),
    );
    (plans, prices)
}

#[test]
fn prices_from_another_endpoint_are_joined_and_plans_offered_per_location() {
    let mut server = Server::new();
    let (plans, prices) = hetzner_mocks(&mut server);
    let run = plugin(&server, HETZNER).run(&["configs"]);
    plans.assert();
    prices.assert();
    // cx22 has no price: dropped by the filter; cax11 is arm: not an item.
    assert_eq!(
        descrs(run.ok()),
        [
            pair("cx23.fsn1", "cx23, 2 vCPU, 4.15 EUR/month, fsn1"),
            pair("cx23.nbg1", "cx23, 2 vCPU, 4.15 EUR/month, nbg1"),
            pair("cpx22.fsn1", "cpx22, 2 vCPU, 7.13 EUR/month, fsn1"),
            pair("cpx22.nbg1", "cpx22, 2 vCPU, 7.13 EUR/month, nbg1"),
        ]
    );
}

#[test]
fn a_combination_is_ordered_with_its_own_vars() {
    let mut server = Server::new();
    hetzner_mocks(&mut server);
    let plugin = plugin(&server, HETZNER);
    let (create, received) = capture_once(
        json_post(&mut server, "/servers", json!({ "plan": "cpx22" })),
        201,
        r#"{"server": {"id": 7}, "root_password": "pw"}"#.into(),
    );
    let run = plugin.run(&["order", "cpx22.nbg1"]);
    task_id(&run);
    create.assert();
    let body = received_json(&received);
    assert_eq!(
        (&body["plan"], &body["location"]),
        (&json!("cpx22"), &json!("nbg1"))
    );
}

#[test]
fn two_elements_with_one_key_are_an_error_at_the_key() {
    let mut server = Server::new();
    get_once(
        &mut server,
        "/server_types",
        200,
        &hoster_fixture("hetzner", "plans.json"),
    );
    get_once(
        &mut server,
        "/pricing",
        200,
        r#"{"pricing": {"server_types": [{"name": "cx23"}, {"name": "cx23"}]}}"#,
    );
    let run = plugin(&server, HETZNER).run(&["configs"]);
    let message = run.error_message();
    assert!(
        message.contains("two elements of `also.prices` have the key `cx23`")
            && message.contains("testhost.yaml:24:9"),
        "{message}"
    );
}

#[test]
fn validate_finds_misused_menu_keys_with_their_place() {
    let broken = provider(
        &HETZNER
            .replace("{{combine.location}}\"\n    descr", "{{@key}}\"\n    descr")
            .replace("also.prices.prices 'location' combine.location)}}1", "also.prises.prices 'location' combine.locaton)}}1")
            .replace("request: { path: /pricing }", "request: { method: POST, path: /pricing }")
            .replace("      location: { list: [fsn1, nbg1] }", "      location: { list: [fsn1], request: { path: /locations } }\n      image: { request: { path: /images } }")
            .replace("      image: { request: { path: /images } }", "      image: { request: { path: /images } }\n      os.version: { list: [9] }")
            .replace("    items: \"$.server_types[?@.architecture == 'x86']\"", "    items: { entries: $.server_types, one_or_many: $.server_types }"),
    );
    let (stdout, file) = validate(&broken);
    for (says, line_col) in [
        (
            "`items` needs exactly one of `entries` and `one_or_many`",
            "19:5",
        ),
        ("the menu's lists must be read with GET", "22:20"),
        ("`combine.os.version` cannot be named in a template", "29:7"),
        (
            "`combine.location` needs exactly one of `list` and `request`",
            "27:7",
        ),
        ("`combine.image.request` needs `items`", "28:7"),
        (
            "`also.prises.prices` names `also.prises`, which is not declared (name it under `configs.fetch.also:`); did you mean `prices`?",
            "30:5",
        ),
        (
            "`combine.locaton` is not declared (name it under `configs.fetch.combine:`); did you mean `location`?",
            "30:5",
        ),
        ("`@key` exists only inside an `#each` block", "31:5"),
    ] {
        assert!(
            stdout.contains(says) && stdout.contains(&format!("{file}:{line_col}")),
            "{says} at {line_col}:\n{stdout}"
        );
    }
}

#[test]
fn key_inside_each_passes_validate() {
    let mut server = Server::new();
    get_once(
        &mut server,
        "/instance/v1/zones/fr-par-1/products/servers",
        200,
        &hoster_fixture("scaleway", "servers.json"),
    );
    get_once(
        &mut server,
        "/instance/v1/zones/fr-par-1/products/servers/availability",
        200,
        &hoster_fixture("scaleway", "availability.json"),
    );
    let each = SCALEWAY.replace(
        " ({{also.stock.value.availability}})",
        "{{#each item.value.per_volume_constraint}}, {{@key}}{{/each}}",
    );
    let run = plugin(&server, &each).run(&["configs"]);
    assert_eq!(
        descrs(run.ok())[0].1,
        "DEV1-S: 2 vCPU, 2 GB RAM, 6.42 EUR/month, l_ssd"
    );
}

#[test]
fn key_outside_each_is_a_validate_error_at_its_place() {
    let yaml =
        common::fetching_testhost_yaml().replace("id: \"{{item.name}}\"", "id: \"{{@key}}\"");
    let (stdout, file) = validate(&yaml);
    assert!(
        stdout.contains("`@key` exists only inside an `#each` block")
            && stdout.contains("use `item.key`")
            && stdout.contains(&format!("{file}:20:5")),
        "{stdout}"
    );
}

#[test]
fn a_misspelt_shape_is_named_with_a_suggestion() {
    let (stdout, file) = validate(&provider(&SCALEWAY.replace(
        "items: { entries: $.servers }\n    also",
        "items: { entrys: $.servers }\n    also",
    )));
    assert!(
        stdout.contains("unknown key `entrys`")
            && stdout.contains("did you mean `entries`?")
            && stdout.contains(&format!("{file}:19:14")),
        "{stdout}"
    );
}

#[test]
fn a_menu_of_100000_plans_keyed_by_name_joins_100000_prices_in_one_pass() {
    // A join that scanned the prices for every plan would be 10^10 comparisons here, far
    // past the deadline; a hash map makes it one look-up per plan.
    let count = 100_000;
    let plans: Vec<String> = (0..count)
        .map(|i| format!(r#""p{i}":{{"ncpus":2}}"#))
        .collect();
    let prices: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"plan":"p{i}","eur":{i}}}"#))
        .collect();
    let mut server = Server::new();
    get_once(
        &mut server,
        "/plans",
        200,
        &format!(r#"{{"servers":{{{}}}}}"#, plans.join(",")),
    );
    get_once(
        &mut server,
        "/prices",
        200,
        &format!(r#"{{"prices":[{}]}}"#, prices.join(",")),
    );
    let configs = r#"  fetch:
    request: { path: /plans }
    items: { entries: $.servers }
    also:
      price: { request: { path: /prices }, items: "$.prices[*]", key: "{{item.plan}}", match: "{{item.key}}" }
    id: "{{item.key}}"
    descr: "{{item.key}} {{also.price.eur}} EUR"
    vars: { plan: "{{item.key}}", region: fsn1 }
"#;
    let yaml = provider(configs).replace("deadline_seconds: 3", "deadline_seconds: 120");
    let run = Plugin::new("testhost", &yaml, &server.url())
        .secrets(SECRETS)
        .run(&["configs"]);
    let menu = run.ok()["configurations"].as_array().unwrap();
    assert_eq!(menu.len(), count);
    assert_eq!(
        menu[count - 1]["descr"],
        format!("p{} {} EUR", count - 1, count - 1)
    );
}

#[test]
fn a_combined_list_may_come_from_a_request() {
    let mut server = Server::new();
    let (plans, prices) = hetzner_mocks(&mut server);
    let locations = get_once(
        &mut server,
        "/locations",
        200,
        &hoster_fixture("hetzner", "locations.json"),
    );
    let configs = HETZNER
        .replace(
            "location: { list: [fsn1, nbg1] }",
            "location: { request: { path: /locations }, items: \"$.locations[*]\" }",
        )
        .replace("combine.location", "combine.location.name")
        .replace(
            ", {{combine.location.name}}\"",
            ", {{combine.location.city}}\"",
        );
    let run = plugin(&server, &configs).run(&["configs"]);
    plans.assert();
    prices.assert();
    locations.assert();
    assert_eq!(
        descrs(run.ok())[..2],
        [
            pair("cx23.fsn1", "cx23, 2 vCPU, 4.15 EUR/month, Falkenstein"),
            pair("cx23.nbg1", "cx23, 2 vCPU, 4.15 EUR/month, Nuremberg"),
        ]
    );
}
