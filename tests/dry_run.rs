//! `vps-provider run NAME order|order_status ... --dry-run` against a loopback mock of the
//! Hetzner Cloud API (answers from `tests/fixtures/hosters/hetzner/`, made from its public
//! docs, see the README there; the power-on step is `POST /servers/{id}/actions/poweron` of
//! https://docs.hetzner.cloud/reference/cloud#server-actions): a dry run reads the menu the
//! order picks from, shows every step with what is not known yet marked, refuses a config the
//! menu does not offer, and never reports a placeholder as the hoster's state.

mod common;

use common::{Plugin, hoster_fixture, once, task_id};
use mockito::{Matcher, Mock, Server, ServerGuard};

/// Long enough to be redacted (shorter values are not: see `src/redact.rs`).
const TOKEN: &str = "hcloud-token-5f2c";

fn hetzner(name: &str) -> String {
    hoster_fixture("hetzner", name)
}

/// The shipped Hetzner file with a second order step that powers the new server on, so
/// the dry run has a step that needs the first one's answer.
fn plugin(base_url: &str) -> Plugin {
    let yaml = std::fs::read_to_string(common::repo_file("providers.d/hetzner.yaml")).unwrap();
    let yaml = yaml.replacen(
        "      extract:\n        server_id: $.server.id",
        "      buys: true\n      extract:\n        server_id: $.server.id",
        1,
    );
    let yaml = yaml.replace(
        "  hoster_id: \"{{saved.server_id}}\"",
        "    - request:\n        method: POST\n        path: \"/servers/{{saved.server_id}}/actions/poweron\"\n      extract:\n        poweron_id: $.action.id\n  hoster_id: \"{{saved.server_id}}\"",
    );
    Plugin::new("hetzner", &yaml, base_url).secrets(&format!("token={TOKEN}\n"))
}

fn plans(server: &mut ServerGuard) -> Mock {
    server
        .mock("GET", "/server_types")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_query(Matcher::UrlEncoded("per_page".into(), "50".into()))
        .with_body(hetzner("plans.json"))
        .create()
}

/// Mocks of every request that changes something, none of which a dry run may send.
fn nothing_changes(server: &mut ServerGuard) -> Vec<Mock> {
    [("POST", Matcher::Any), ("DELETE", Matcher::Any)]
        .into_iter()
        .map(|(method, path)| server.mock(method, path).expect(0).create())
        .collect()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn an_orders_dry_run_fills_in_the_config_from_the_real_menu_and_shows_every_step() {
    let mut server = Server::new();
    let menu = plans(&mut server).expect(1);
    let unsent = nothing_changes(&mut server);
    let plugin = plugin(&server.url());
    let output = plugin.operator(&["run", "hetzner", "order", "22", "--dry-run"]);
    let shown = stdout(&output);
    assert!(
        output.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    menu.assert();
    unsent.iter().for_each(Mock::assert);
    assert!(
        shown.contains("/server_types?per_page=50")
            && shown.contains(
                "#   sent (a read the dry run needs, as `configs` sends it): answered 200"
            ),
        "the menu is read for real: {shown}"
    );
    assert!(
        shown.contains("# config `22` is on offer: Bitrix-env, Rocky Linux 9, 2 vCPU"),
        "{shown}"
    );
    assert!(
        shown.contains(r#""server_type":"cx23""#) && shown.contains(r#""location":"fsn1""#),
        "the picked config's vars come from the hoster's menu: {shown}"
    );
    assert!(
        !shown.contains("{{"),
        "no template is shown unrendered: {shown}"
    );
    assert!(
        shown.contains("curl -X POST '")
            && shown.contains("/servers/<saved.server_id>/actions/poweron'"),
        "the step after the purchase is shown, its unknown input marked: {shown}"
    );
    assert!(
        shown.contains("Authorization: Bearer ***") && !shown.contains(TOKEN),
        "{shown}"
    );
    assert!(
        shown.ends_with("# dry run: only the reads marked `sent` went out; nothing was ordered, changed or recorded; <saved.NAME> and <polled.NAME> stand for values from the hoster's answers\n"),
        "{shown}"
    );
    let recorded = std::fs::read_dir(plugin.state_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(recorded, 0, "a dry run records nothing");
}

#[test]
fn a_dry_run_refuses_a_config_the_menu_does_not_offer_and_names_those_it_does() {
    let mut server = Server::new();
    plans(&mut server).expect(2);
    let unsent = nothing_changes(&mut server);
    let plugin = plugin(&server.url());
    let output = plugin.operator(&["run", "hetzner", "order", "23", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: `hetzner` offers no config `23`")
            && stderr.contains("help: it offers 22, 116")
            && stderr.contains("use an id that `configs` printed"),
        "{stderr}"
    );
    assert!(
        !stdout(&output).contains("curl -X POST"),
        "no order step is shown"
    );
    // The panel's order says the same.
    let run = plugin.run(&["order", "23"]);
    assert!(
        run.error_message().contains("it offers 22, 116"),
        "{}",
        run.stdout
    );
    unsent.iter().for_each(Mock::assert);
}

#[test]
fn a_dry_run_that_cannot_read_the_menu_marks_the_configs_vars_unknown() {
    let plugin = plugin("http://127.0.0.1:9");
    let output = plugin.operator(&["run", "hetzner", "order", "22", "--dry-run"]);
    let shown = stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("# the plan list could not be read, so config `22` is not checked and its vars are shown as `<config.NAME>`: ")
            && shown.contains("cannot connect to the hoster for GET /server_types"),
        "{shown}"
    );
    assert!(
        shown.contains(r#""server_type":"<config.server_type>""#) && !shown.contains("{{"),
        "{shown}"
    );
    assert!(shown.ends_with("# dry run: nothing was sent; <saved.NAME> and <polled.NAME> stand for values from the hoster's answers\n"), "{shown}");
}

#[test]
fn a_polls_dry_run_shows_what_the_status_map_would_do_and_no_placeholder_as_an_answer() {
    let mut server = Server::new();
    plans(&mut server);
    once(
        server.mock("POST", "/servers"),
        201,
        &hetzner("create.json"),
    );
    once(
        server.mock("POST", "/servers/42424242/actions/poweron"),
        201,
        r#"{"action":{"id":7}}"#,
    );
    let plugin = plugin(&server.url());
    let task = task_id(&plugin.run(&["order", "22"]));
    server.reset();
    let unsent = nothing_changes(&mut server);
    let polls = server.mock("GET", Matcher::Any).expect(0).create();
    let record = plugin.state_dir().join(format!("{task}.json"));
    let before = std::fs::read(&record).unwrap();

    let output = plugin.operator(&["run", "hetzner", "order_status", &task, "--dry-run"]);
    let shown = stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("/servers/42424242'") && shown.contains("/actions/"),
        "both polls are shown with the task's saved ids: {shown}"
    );
    assert!(
        shown.contains("# the hoster's state is `<polled.state>/<polled.build>` (`order_status.status.value`); the status map makes running/success → finished, */error → error,")
            && shown.contains("anything else an error naming the state"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "# once finished, the panel gets the server `<polled.ip>` with the root password `***`"
        ),
        "the kept root password stays hidden: {shown}"
    );
    assert!(
        shown.contains("# if it is `error`, cleanup sends when `cleanup.when` (`true`) holds:\ncurl -X DELETE '")
            && shown.contains("/servers/42424242'"),
        "{shown}"
    );
    assert!(
        !shown.contains("does not know") && !shown.contains("stops here"),
        "a placeholder is not reported as the hoster's state: {shown}"
    );
    assert!(!shown.contains("Yq7rNf3KpXw9LmTz2Hc4"), "{shown}");
    assert_eq!(
        std::fs::read(&record).unwrap(),
        before,
        "the task is not touched"
    );
    unsent.iter().for_each(Mock::assert);
    polls.assert();
}
