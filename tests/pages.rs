//! Paged lists as real APIs page them, run through the real binary against loopback mocks
//! written from each API's public documentation (sources in
//! `tests/fixtures/hosters/pagination/README.md`): the `Link` header (Waldur's REST API, the
//! GitHub style), page numbers up to a page count (Linode API v4, with the shipped file) or
//! an item count in a header (Scaleway's `X-Total-Count`), and offsets up to an item count
//! (CloudSigma API 2.0). Every list of the menu may be paged; next URLs from the hoster stay
//! on the API's host; a page read before ends the list; `validate` names misuse.

mod common;

use common::{AUTH, Plugin, SECRETS, fixture, hoster_fixture, ids};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};

/// testhost.yaml with `configs` replaced by `configs_yaml` (a whole `configs:` section).
fn testhost_with(configs_yaml: &str) -> String {
    let base = fixture("providers/testhost.yaml");
    let configs = &base[base.find("configs:").unwrap()..base.find("order:").unwrap()];
    base.replace(configs, configs_yaml)
}

fn plugin(server: &ServerGuard, configs_yaml: &str) -> Plugin {
    Plugin::new("testhost", &testhost_with(configs_yaml), &server.url()).secrets(SECRETS)
}

/// Waldur's OpenStack flavors (`GET /api/openstacktenant-flavors/`), `count` of them from `from`.
fn flavors(from: usize, count: usize) -> String {
    let list: Vec<Value> = (from..from + count)
        .map(|n| {
            json!({"uuid": format!("f{n:04}"), "name": format!("m1.flavor-{n}"), "cores": 1 + n % 8,
                   "ram": 1024 * (1 + n % 16), "disk": 20480})
        })
        .collect();
    Value::Array(list).to_string()
}

const WALDUR_MENU: &str = r#"configs:
  fetch:
    request: { path: /api/openstacktenant-flavors/, query: { page_size: "100" } }
    pages: { link: next }
    items: $[*]
    id: "{{item.uuid}}"
    descr: "{{item.name}}: {{item.cores}} vCPU, {{human_size item.ram \"MB\"}} RAM"
    vars: { plan: "{{item.uuid}}", region: fsn1 }
"#;

/// One page of Waldur's flavors, as `page` with `page_size=100`, answered with `link` (none:
/// no `Link` header), expected once.
fn flavor_page(server: &mut ServerGuard, page: Option<&str>, body: String, link: &[&str]) -> Mock {
    let mut query = vec![Matcher::UrlEncoded("page_size".into(), "100".into())];
    if let Some(page) = page {
        query.push(Matcher::UrlEncoded("page".into(), page.into()));
    }
    let mut mock = common::authed(server, "GET", "/api/openstacktenant-flavors/")
        .match_query(Matcher::AllOf(query))
        .with_body(body)
        .expect(1);
    for line in link {
        mock = mock.with_header("link", line);
    }
    mock.create()
}

/// Waldur's link to flavor page `page` under `base`, of relation `rel`.
fn link_to(base: &str, page: u32, rel: &str) -> String {
    format!("<{base}/api/openstacktenant-flavors/?page={page}&page_size=100>; rel=\"{rel}\"")
}

#[test]
fn every_flavor_over_two_link_header_pages_is_offered() {
    let mut server = Server::new();
    let base = server.url();
    // Waldur writes absolute links on its own host; the first page has no `page`, the second
    // is named by the `next` relation, and a second `Link` line carries `last`.
    let first = server
        .mock("GET", "/api/openstacktenant-flavors/")
        .match_header("authorization", AUTH)
        .match_query(Matcher::Exact("page_size=100".into()))
        .with_header(
            "link",
            &format!(
                "{}, {}",
                link_to(&base, 1, "first"),
                link_to(&base, 2, "next")
            ),
        )
        .with_header("link", &link_to(&base, 2, "last"))
        .with_header("x-result-count", "130")
        .with_body(flavors(0, 100))
        .expect(1)
        .create();
    let second = flavor_page(
        &mut server,
        Some("2"),
        flavors(100, 30),
        &[&link_to(&base, 1, "prev")],
    );
    let reply = plugin(&server, WALDUR_MENU).run(&["configs"]);
    let offered = ids(reply.ok());
    assert_eq!(offered.len(), 130, "every flavor of both pages");
    assert_eq!(offered[0], "f0000");
    assert_eq!(offered[129], "f0129");
    first.assert();
    second.assert();
}

#[test]
fn a_link_under_the_files_base_url_is_read_from_the_base_url_in_use() {
    // The hoster links to its real host (the file's `api.base_url`); a run against a mock or a
    // staging API (`VPS_PROVIDER_BASE_URL`) reads the next page there too.
    let mut server = Server::new();
    let written = "https://api.testhost.invalid/v1";
    let yaml = testhost_with(WALDUR_MENU);
    let plugin = Plugin::new("testhost", &yaml, &format!("{}/v1", server.url())).secrets(SECRETS);
    let next =
        format!("<{written}/api/openstacktenant-flavors/?page=2&page_size=100>; rel=\"next\"");
    let first = common::authed(&mut server, "GET", "/v1/api/openstacktenant-flavors/")
        .match_query(Matcher::Exact("page_size=100".into()))
        .with_header("link", &next)
        .with_body(flavors(0, 2))
        .expect(1)
        .create();
    let second = common::authed(&mut server, "GET", "/v1/api/openstacktenant-flavors/")
        .match_query(Matcher::UrlEncoded("page".into(), "2".into()))
        .with_body(flavors(2, 1))
        .expect(1)
        .create();
    assert_eq!(
        ids(plugin.run(&["configs"]).ok()),
        ["f0000", "f0001", "f0002"]
    );
    first.assert();
    second.assert();
}

#[test]
fn a_next_link_to_another_host_is_refused_and_gets_no_token() {
    let mut server = Server::new();
    let mut elsewhere = Server::new();
    // Another port on loopback is another origin: the token must not go there.
    let trap = elsewhere
        .mock("GET", Matcher::Any)
        .with_body("[]")
        .expect(0)
        .create();
    for foreign in [
        format!("{}/api/openstacktenant-flavors/?page=2", elsewhere.url()),
        format!(
            "{}@127.0.0.2/api/openstacktenant-flavors/?page=2",
            server.url()
        ),
        "//127.0.0.2/api/openstacktenant-flavors/?page=2".to_owned(),
    ] {
        let first = server
            .mock("GET", "/api/openstacktenant-flavors/")
            .match_header("authorization", "Bearer tokPageSecret9")
            .match_query(Matcher::Any)
            .with_header("link", &format!("<{foreign}>; rel=\"next\""))
            .with_body(flavors(0, 2))
            .expect(1)
            .create();
        let run = Plugin::new("testhost", &testhost_with(WALDUR_MENU), &server.url())
            .secrets("token=tokPageSecret9\n")
            .run(&["configs"]);
        let message = run.error_message();
        assert!(
            message.contains("not on the API's host") && message.contains("testhost.yaml:"),
            "{foreign}: {message}"
        );
        assert!(
            !run.stdout.contains("PageSecret") && !run.stderr.contains("PageSecret"),
            "{}",
            run.stdout
        );
        first.assert();
        first.remove();
    }
    trap.assert();
}

#[test]
fn a_next_page_read_before_ends_the_list() {
    // A hoster whose last page links to itself (or back to the first) is not read in a loop.
    let mut server = Server::new();
    let base = server.url();
    let first = flavor_page(
        &mut server,
        None,
        flavors(0, 2),
        &[&link_to(&base, 2, "next")],
    );
    let second = flavor_page(
        &mut server,
        Some("2"),
        flavors(2, 2),
        &[&link_to(&base, 2, "next")],
    );
    let reply = plugin(&server, WALDUR_MENU).run(&["configs"]);
    assert_eq!(ids(reply.ok()), ["f0000", "f0001", "f0002", "f0003"]);
    first.assert();
    second.assert();
}

#[test]
fn a_list_longer_than_max_pages_is_an_error_not_a_shorter_menu() {
    let mut server = Server::new();
    let base = server.url();
    let menu = WALDUR_MENU.replace("{ link: next }", "{ link: next, max: 2 }");
    let link = |page: u32| link_to(&base, page, "next");
    let first = flavor_page(&mut server, None, flavors(0, 1), &[&link(2)]);
    let second = flavor_page(&mut server, Some("2"), flavors(1, 1), &[&link(3)]);
    let third = flavor_page(&mut server, Some("3"), flavors(2, 1), &[]).expect(0);
    let message = plugin(&server, &menu)
        .run(&["configs"])
        .error_message()
        .to_owned();
    assert!(
        message.contains("more than 2 pages") && message.contains("testhost.yaml:"),
        "{message}"
    );
    first.assert();
    second.assert();
    third.assert();
}

#[test]
fn linode_reads_every_page_up_to_its_page_count() {
    // Linode API v4: {"data": [...], "page": 1, "pages": 2, "results": 5}; later pages are
    // `?page=2` with the same `page_size`.
    let mut server = Server::new();
    let mut page1: Value = serde_json::from_str(&hoster_fixture("linode", "plans.json")).unwrap();
    page1["pages"] = json!(2);
    page1["results"] = json!(5);
    let mut page2 = page1.clone();
    let mut extra = page1["data"][2].clone();
    extra["id"] = json!("g6-standard-4");
    extra["label"] = json!("Linode 8GB");
    extra["memory"] = json!(8192);
    page2["data"] = json!([extra]);
    page2["page"] = json!(2);
    let first = common::get_list(
        &mut server,
        "/linode/types",
        Matcher::Exact("page_size=500".into()),
        &page1.to_string(),
    );
    let second = common::get_list(
        &mut server,
        "/linode/types",
        Matcher::AllOf(vec![
            Matcher::UrlEncoded("page_size".into(), "500".into()),
            Matcher::UrlEncoded("page".into(), "2".into()),
        ]),
        &page2.to_string(),
    );
    let plugin = Plugin::shipped("linode", &server.url()).secrets(SECRETS);
    let offered = ids(plugin.run(&["configs"]).ok());
    assert!(
        offered.contains(&"g6-standard-1".to_owned())
            && offered.contains(&"g6-standard-4".to_owned()),
        "both pages are offered: {offered:?}"
    );
    first.expect(1).assert();
    second.expect(1).assert();
}

#[test]
fn a_page_count_that_is_not_a_number_is_named() {
    let mut server = Server::new();
    let mut page1: Value = serde_json::from_str(&hoster_fixture("linode", "plans.json")).unwrap();
    page1["pages"] = json!("many");
    common::get_list(
        &mut server,
        "/linode/types",
        Matcher::Any,
        &page1.to_string(),
    );
    let plugin = Plugin::shipped("linode", &server.url()).secrets(SECRETS);
    let message = plugin.run(&["configs"]).error_message().to_owned();
    assert!(
        message.contains("page count is `many`, not a number") && message.contains("linode.yaml:"),
        "{message}"
    );
}

#[test]
fn scaleway_pages_by_number_until_the_total_count_header() {
    // Scaleway: `?page=N&per_page=M`, the item count in `X-Total-Count`, plans keyed by name.
    let mut server = Server::new();
    let all: Value = serde_json::from_str(&hoster_fixture("scaleway", "servers.json")).unwrap();
    let names: Vec<String> = all["servers"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(names.len() >= 3, "the fixture has plans for two pages");
    let page = |keys: &[String]| {
        let map: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| (k.clone(), all["servers"][k].clone()))
            .collect();
        json!({ "servers": map }).to_string()
    };
    let total = names.len().to_string();
    let pages: Vec<Mock> = names
        .chunks(2)
        .enumerate()
        .map(|(i, chunk)| {
            let mut query = vec![Matcher::UrlEncoded("per_page".into(), "2".into())];
            if i > 0 {
                query.push(Matcher::UrlEncoded("page".into(), (i + 1).to_string()));
            }
            common::authed(
                &mut server,
                "GET",
                "/instance/v1/zones/fr-par-1/products/servers",
            )
            .match_query(Matcher::AllOf(query))
            .with_header("x-total-count", &total)
            .with_body(page(chunk))
            .expect(1)
            .create()
        })
        .collect();
    let menu = r#"configs:
  fetch:
    request: { path: /instance/v1/zones/fr-par-1/products/servers, query: { per_page: "2" } }
    pages: { page: page, total: { header: X-Total-Count } }
    items: { entries: $.servers }
    id: "{{item.key}}"
    descr: "{{item.key}}: {{item.value.ncpus}} vCPU"
    vars: { plan: "{{item.key}}", region: fsn1 }
"#;
    let offered = ids(plugin(&server, menu).run(&["configs"]).ok());
    assert_eq!(
        offered, names,
        "every plan once, and no page past the total"
    );
    pages.iter().for_each(Mock::assert);
}

/// CloudSigma's library drives (`GET /api/2.0/libdrives/?limit=&offset=`), `count` from `from`,
/// `total` in all.
fn libdrives(from: usize, count: usize, total: usize) -> String {
    let objects: Vec<Value> = (from..from + count)
        .map(|n| json!({"uuid": format!("d{n}"), "name": format!("Rocky Linux 9.{n}"), "os": "linux"}))
        .collect();
    json!({"meta": {"limit": 2, "offset": from, "total_count": total}, "objects": objects})
        .to_string()
}

#[test]
fn a_combined_list_pages_by_offset_until_the_total() {
    // CloudSigma: `offset` (zero-based) and `limit`, the total in `meta.total_count`.
    let mut server = Server::new();
    let plans = common::get_list(
        &mut server,
        "/plans",
        Matcher::Any,
        &json!({"plans": [{"name": "small"}, {"name": "large"}]}).to_string(),
    );
    let drives: Vec<Mock> = [0, 2, 4]
        .into_iter()
        .map(|offset| {
            let mut query = vec![Matcher::UrlEncoded("limit".into(), "2".into())];
            query.push(if offset == 0 {
                Matcher::Regex("^limit=2$".into())
            } else {
                Matcher::UrlEncoded("offset".into(), offset.to_string())
            });
            common::authed(&mut server, "GET", "/api/2.0/libdrives/")
                .match_query(Matcher::AllOf(query))
                .with_body(libdrives(offset, if offset == 4 { 1 } else { 2 }, 5))
                .expect(1)
                .create()
        })
        .collect();
    let menu = r#"configs:
  fetch:
    request: { path: /plans }
    items: $.plans[*]
    combine:
      image:
        request: { path: /api/2.0/libdrives/, query: { limit: "2" } }
        pages: { offset: offset, total: $.meta.total_count }
        items: $.objects[*]
    id: "{{item.name}}.{{combine.image.uuid}}"
    descr: "{{item.name}}, {{combine.image.name}}"
    vars: { plan: "{{item.name}}", region: fsn1 }
"#;
    let offered = ids(plugin(&server, menu).run(&["configs"]).ok());
    assert_eq!(offered.len(), 10, "2 plans x 5 drives: {offered:?}");
    assert!(offered.contains(&"large.d4".to_owned()));
    plans.assert();
    drives.iter().for_each(Mock::assert);
}

#[test]
fn an_also_list_follows_its_body_next() {
    let mut server = Server::new();
    let plans = common::get_list(
        &mut server,
        "/plans",
        Matcher::Any,
        &json!({"plans": [{"name": "small"}, {"name": "large"}]}).to_string(),
    );
    // Prices over two pages, the next named by a path in the body.
    let prices1 = common::get_list(
        &mut server,
        "/prices",
        Matcher::Regex("^$".into()),
        &json!({"prices": [{"plan": "small", "eur": 4}], "links": {"next": "/prices?cursor=abc"}})
            .to_string(),
    );
    let prices2 = common::get_list(
        &mut server,
        "/prices",
        Matcher::UrlEncoded("cursor".into(), "abc".into()),
        &json!({"prices": [{"plan": "large", "eur": 9}], "links": {"next": null}}).to_string(),
    );
    let menu = r#"configs:
  fetch:
    request: { path: /plans }
    items: $.plans[*]
    also:
      price:
        request: { path: /prices }
        pages: { next: $.links.next }
        items: $.prices[*]
        key: "{{item.plan}}"
        match: "{{item.name}}"
    id: "{{item.name}}"
    descr: "{{item.name}}, {{also.price.eur}} EUR"
    vars: { plan: "{{item.name}}", region: fsn1 }
"#;
    let reply = plugin(&server, menu).run(&["configs"]);
    assert_eq!(
        reply.ok()["configurations"],
        json!([{"id": "small", "descr": "small, 4 EUR"}, {"id": "large", "descr": "large, 9 EUR"}])
    );
    plans.assert();
    prices1.expect(1).assert();
    prices2.expect(1).assert();
}

#[test]
fn a_query_credential_is_sent_with_every_page() {
    // A next URL from the hoster need not carry `api.auth`'s query parameter: it is set again.
    let mut server = Server::new();
    let yaml = testhost_with(
        r#"configs:
  fetch:
    request: { path: /plans }
    pages: { link: next }
    items: $.plans[*]
    id: "{{item.name}}"
    descr: "{{item.name}}"
    vars: { plan: "{{item.name}}", region: fsn1 }
"#,
    )
    .replace(
        "    bearer: \"{{secrets.token}}\"",
        "    query: { name: api_key, value: \"{{secrets.token}}\" }",
    );
    let base = server.url();
    let first = server
        .mock("GET", "/plans")
        .match_query(Matcher::Exact("api_key=tok".into()))
        .with_header("link", &format!("<{base}/plans?page=2>; rel=\"next\""))
        .with_body(json!({"plans": [{"name": "a"}]}).to_string())
        .expect(1)
        .create();
    let second = server
        .mock("GET", "/plans")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("page".into(), "2".into()),
            Matcher::UrlEncoded("api_key".into(), "tok".into()),
        ]))
        .with_body(json!({"plans": [{"name": "b"}]}).to_string())
        .expect(1)
        .create();
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets(SECRETS);
    assert_eq!(ids(plugin.run(&["configs"]).ok()), ["a", "b"]);
    first.assert();
    second.assert();
}

/// `vps-provider validate` of testhost.yaml with `pages` set to `pages_yaml`: its output.
fn validate_pages(pages_yaml: &str) -> String {
    let menu = format!(
        "configs:\n  fetch:\n    request: {{ path: /plans }}\n    pages: {pages_yaml}\n    items: $.plans[*]\n    id: \"{{{{item.name}}}}\"\n    descr: \"{{{{item.name}}}}\"\n    vars: {{ plan: \"{{{{item.name}}}}\", region: fsn1 }}\n"
    );
    let validation = common::validate_yaml("testhost.yaml", &testhost_with(&menu));
    assert_ne!(validation.code, Some(0), "{pages_yaml} must not validate");
    validation.report()
}

#[test]
fn validate_names_paging_misuse_where_it_is_written() {
    for (pages, says) in [
        (
            "{ next: $.next, link: next }",
            "`pages.link` conflicts with `pages.next`",
        ),
        (
            "{ page: page, offset: offset, total: $.t }",
            "`pages.offset` conflicts with `pages.page`",
        ),
        ("{ page: page }", "page numbers need exactly one of `count`"),
        (
            "{ page: page, count: $.pages, total: $.results }",
            "page numbers need exactly one of `count`",
        ),
        (
            "{ link: next, param: page }",
            "`pages.param` does not go with `pages.link`",
        ),
        (
            "{ offset: offset, count: $.pages }",
            "`pages.count` does not go with `pages.offset`",
        ),
        (
            "{ next: $.next, total: $.t }",
            "`pages.total` does not go with `pages.next`",
        ),
        ("{ link: \"next page\" }", "is not a link relation"),
        ("{ page: \"\", count: $.pages }", "`pages.page` is empty"),
        ("{ link: next, max: 0 }", "`0` is out of range"),
        (
            "{ max: 5 }",
            "`pages` needs one of `next`, `link`, `page` and `offset`",
        ),
        (
            "{ page: page, count: { header: \"X Pages\" } }",
            "is not a header name",
        ),
        ("{ lnik: next }", "did you mean `link`?"),
    ] {
        let output = validate_pages(pages);
        assert!(output.contains(says), "{pages}: {output}");
        assert!(
            output.contains("testhost.yaml:"),
            "{pages}: names the place: {output}"
        );
    }
}

#[test]
fn validate_places_a_paging_problem_on_its_key() {
    let output = validate_pages("{ next: $.next, link: next }");
    // `pages` is on line 18 of the file built by `validate_pages`; `link` on that line.
    let line = testhost_with("configs:\n")
        .lines()
        .position(|l| l.starts_with("configs:"))
        .unwrap()
        + 4;
    assert!(
        output.contains(&format!("testhost.yaml:{line}:")),
        "{output}"
    );
}
