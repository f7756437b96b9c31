//! The fetched menu is kept for a while (`configs.fetch.cache_minutes`), so opening the
//! panel's order wizard does not wait on the hoster, and an older one stands in while the
//! hoster fails (`stale_minutes`). An order never buys from a stale menu.

mod common;

use common::Plugin;
use mockito::{Mock, Server};
use serde_json::{Value, json};

const PLANS: &str = r#"{"plans":[{"name":"cx22"},{"name":"cx32"}]}"#;

fn fetching(server: &Server, cache: &str) -> Plugin {
    let yaml = common::fetching_testhost_yaml().replace(
        "    request: { path: /plans }\n",
        &format!("    request: {{ path: /plans }}\n{cache}"),
    );
    Plugin::new("testhost", &yaml, &server.url()).secrets("token=tok-cache-123\n")
}

fn plans(server: &mut Server, hits: usize) -> Mock {
    server
        .mock("GET", "/plans")
        .with_body(PLANS)
        .expect(hits)
        .create()
}

fn hoster_down(server: &mut Server) -> Mock {
    server
        .mock("GET", "/plans")
        .with_status(503)
        .with_body(r#"{"error":{"message":"maintenance"}}"#)
        .expect_at_least(1)
        .create()
}

fn menu() -> Value {
    json!({"configurations": [{"id": "cx22", "descr": "cx22"}, {"id": "cx32", "descr": "cx32"}], "status": "enabled"})
}

/// Makes the stored menu `minutes` older.
fn age_cache(plugin: &Plugin, minutes: u64) {
    let path = plugin.state_dir().join("configs.cache");
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    stored["fetched"] = Value::from(stored["fetched"].as_u64().unwrap() - minutes * 60);
    std::fs::write(&path, stored.to_string()).unwrap();
}

#[test]
fn a_fetched_menu_is_reused_while_fresh_then_fetched_again() {
    let mut server = Server::new();
    let plugin = fetching(&server, "");
    let first = plans(&mut server, 1);
    assert_eq!(plugin.run(&["configs"]).ok(), &menu());
    assert_eq!(plugin.run(&["configs"]).ok(), &menu());
    first.assert();

    // Past the default ten minutes, the hoster is asked again.
    age_cache(&plugin, 11);
    first.remove();
    let second = plans(&mut server, 1);
    assert_eq!(plugin.run(&["configs"]).ok(), &menu());
    second.assert();
}

#[test]
fn cache_minutes_zero_asks_the_hoster_every_time() {
    let mut server = Server::new();
    let plugin = fetching(&server, "    cache_minutes: 0\n");
    let mock = plans(&mut server, 3);
    for _ in 0..3 {
        assert_eq!(plugin.run(&["configs"]).ok(), &menu());
    }
    mock.assert();
}

#[test]
fn an_edited_provider_file_or_setting_is_not_answered_from_the_old_menu() {
    let mut server = Server::new();
    let plugin = fetching(&server, "");
    let mock = plans(&mut server, 3);
    plugin.run(&["configs"]).ok();

    let file = plugin.provider_file();
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("descr: \"{{item.name}}\"", "descr: \"Plan {{item.name}}\"");
    std::fs::write(&file, edited).unwrap();
    let reply = plugin.run(&["configs"]);
    assert_eq!(reply.ok()["configurations"][0]["descr"], "Plan cx22");

    let plugin = plugin.secrets("token=tok-cache-123\nimage=debian-12\n");
    plugin.run(&["configs"]).ok();
    mock.assert();
}

#[test]
fn a_hoster_that_is_down_gets_the_older_menu_up_to_stale_minutes() {
    let mut server = Server::new();
    let plugin = fetching(&server, "    stale_minutes: 120\n");
    plans(&mut server, 1);
    plugin.run(&["configs"]).ok();
    age_cache(&plugin, 60);
    server.reset();
    let down = hoster_down(&mut server);
    // An hour old, past fresh but within `stale_minutes`: the wizard still has its menu.
    assert_eq!(plugin.run(&["configs"]).ok(), &menu());

    // Older than that, the panel hears what the hoster said.
    age_cache(&plugin, 61);
    let run = plugin.run(&["configs"]);
    assert!(
        run.error_message().contains("maintenance"),
        "{}",
        run.stdout
    );
    down.assert();
}

#[test]
fn an_order_never_buys_from_a_stale_menu_but_uses_a_fresh_one() {
    let mut server = Server::new();
    let plugin = fetching(&server, "");
    plans(&mut server, 1);
    plugin.run(&["configs"]).ok();

    // Fresh: the order takes the plan's vars from the kept menu, without asking for the list.
    let create = server
        .mock("POST", "/servers")
        .match_body(mockito::Matcher::PartialJson(json!({"plan": "cx32"})))
        .with_status(201)
        .with_body(r#"{"server":{"id":42},"root_password":"pw"}"#)
        .expect(1)
        .create();
    common::task_id(&plugin.run(&["order", "cx32"]));
    create.assert();

    // Stale and the hoster down: the order is refused before anything is bought.
    age_cache(&plugin, 11);
    server.reset();
    hoster_down(&mut server);
    let never = server.mock("POST", "/servers").expect(0).create();
    let run = plugin.run(&["order", "cx32"]);
    assert!(
        run.error_message().contains("maintenance"),
        "{}",
        run.stdout
    );
    never.assert();
}

#[test]
fn cache_minutes_out_of_range_is_an_error_at_its_key() {
    let server = Server::new();
    let plugin = fetching(&server, "    cache_minutes: 100000\n");
    let message = plugin.run(&["configs"]).error_message().to_owned();
    assert!(
        message.contains("testhost.yaml:") && message.contains("cache_minutes"),
        "{message}"
    );
}
