//! The site's settings through the panel symlink, against a mock hoster on loopback: the
//! secrets file turns the SSH check off or moves its port (`ssh_check=`, `ssh_port=`), an
//! `in_progress` that waits on SSH says so, a setting may carry a description that `install`
//! writes into the secrets template, and an empty value leaves a required setting unset.

mod common;

use common::{Plugin, fixture, help_reply, operator, task_reply};
use mockito::{Server, ServerGuard};
use serde_json::json;
use std::net::TcpListener;

const TOKEN: &str = "tok-settings-1";

/// A loopback port that nothing listens on (for now).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// testhost.yaml whose SSH check knocks on `port` of the server.
fn with_ssh_check(port: u16) -> String {
    format!(
        "{}  ssh_check: {{ port: {port}, timeout_seconds: 1 }}\n",
        fixture("providers/testhost.yaml")
    )
}

/// A hoster that took an order for server 42 and reports it `running` at 127.0.0.1 to every
/// poll; the plugin (SSH check on in the environment) with `secrets` added; the task id.
fn running(yaml: &str, secrets: &str) -> (ServerGuard, Plugin, String) {
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", yaml, &server.url())
        .secrets(&format!("token={TOKEN}\n{secrets}"))
        .with_env("VPS_PROVIDER_SSH_CHECK", "on");
    common::creates_server_42(&mut server, 1);
    server
        .mock("GET", "/servers/42")
        .with_body(
            json!({"server": {"id": 42, "status": "running", "ipv4": "127.0.0.1"}}).to_string(),
        )
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, plugin, task_id)
}

#[test]
fn the_site_file_turns_the_ssh_check_off() {
    let (_server, plugin, task_id) = running(&with_ssh_check(closed_port()), "ssh_check=off\n");
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1")
    );
}

#[test]
fn the_site_file_moves_the_ssh_port_and_the_reply_says_it_waits_for_ssh() {
    let port = closed_port();
    let (_server, plugin, task_id) = running(
        &with_ssh_check(closed_port()),
        &format!("ssh_port={port}\n"),
    );
    let early = plugin.run(&["order_status", &task_id]);
    let mut waiting = task_reply(&task_id, "in_progress", "", "");
    waiting["message"] =
        format!("the hoster reports `running`; waiting for SSH on port {port}").into();
    assert_eq!(early.ok(), &waiting);

    let _sshd = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok(),
        &task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1")
    );
}

#[test]
fn bad_ssh_lines_are_errors_with_their_place() {
    for (line, says) in [
        ("ssh_port=ssh", "`ssh_port=` must be a port from 1 to 65535"),
        ("ssh_port=0", "`ssh_port=` must be a port from 1 to 65535"),
        ("ssh_check=maybe", "`ssh_check=` must be `on` or `off`"),
    ] {
        let plugin = Plugin::new(
            "testhost",
            &fixture("providers/testhost.yaml"),
            "http://127.0.0.1:9",
        )
        .secrets(&format!("token={TOKEN}\n{line}\n"));
        let run = plugin.run(&["help"]);
        let place = format!("{}:2:1: {says}", plugin.secrets_path().display());
        assert!(run.error_message().contains(&place), "{}", run.stdout);
    }
}

#[test]
fn a_provider_cannot_declare_the_reserved_ssh_names() {
    let yaml =
        fixture("providers/testhost.yaml").replace("settings:\n", "settings:\n  ssh_port: 22\n");
    let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9");
    let file = plugin.provider_file();
    let output = plugin.operator(&["validate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("`ssh_port` is a reserved name")
            && stderr.contains(&format!("--> {}:8:3", file.display())),
        "{stderr}"
    );
}

/// testhost.yaml with a setting `project` that has no default, and orders naming it.
fn with_required_project() -> String {
    fixture("providers/testhost.yaml")
        .replace(
            "settings:\n",
            "settings:\n  project: { description: \"The project to bill.\" }\n",
        )
        .replace(
            "image: \"{{settings.image}}\"",
            "image: \"{{settings.image}}\"\n          project: \"{{settings.project}}\"",
        )
}

#[test]
fn an_empty_value_leaves_a_required_setting_unset() {
    let mut server = Server::new();
    let untouched = server
        .mock("POST", mockito::Matcher::Any)
        .expect(0)
        .create();
    let plugin = Plugin::new("testhost", &with_required_project(), &server.url())
        .secrets(&format!("token={TOKEN}\nproject=\n"));
    assert_eq!(plugin.run(&["help"]).ok(), &help_reply("disabled"));
    let order = plugin.run(&["order", "1"]);
    assert!(
        order.error_message().contains("setting `project` missing"),
        "{}",
        order.stdout
    );
    untouched.assert();

    let set = plugin.secrets(&format!("token={TOKEN}\nproject=p-7\n"));
    assert_eq!(set.run(&["help"]).ok(), &help_reply("enabled"));
}

#[test]
fn a_described_setting_keeps_its_default_and_install_writes_the_description() {
    let yaml = fixture("providers/testhost.yaml").replace(
        "  image: rocky-9\n",
        "  image: { default: rocky-9, description: \"The image to install.\\nSee the hoster's list.\" }\n",
    );
    let mut server = Server::new();
    let bought = server
        .mock("POST", "/servers")
        .match_body(mockito::Matcher::PartialJson(json!({"image": "rocky-9"})))
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .expect(1)
        .create();
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    common::task_id(&plugin.run(&["order", "1"]));
    bought.assert();

    let root = tempfile::tempdir().unwrap();
    let install = operator(
        &[
            "install",
            "testhost",
            "--root",
            root.path().to_str().unwrap(),
        ],
        &plugin.env,
    );
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let template = std::fs::read_to_string(root.path().join("testhost/etc/testhost.conf")).unwrap();
    assert!(
        template.contains("\n# The image to install.\n# See the hoster's list.\n# image=rocky-9\n"),
        "{template}"
    );
}

#[test]
fn a_list_setting_stays_a_list_and_a_misspelt_description_is_a_validate_error() {
    let listed = fixture("providers/testhost.yaml")
        .replace("  image: rocky-9\n", "  image: [rocky-9, alma-9]\n")
        .replace("\"{{settings.image}}\"", "\"{{settings.image.[1]}}\"");
    let mut server = Server::new();
    let bought = server
        .mock("POST", "/servers")
        .match_body(mockito::Matcher::PartialJson(json!({"image": "alma-9"})))
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .expect(1)
        .create();
    let plugin =
        Plugin::new("testhost", &listed, &server.url()).secrets(&format!("token={TOKEN}\n"));
    common::task_id(&plugin.run(&["order", "1"]));
    bought.assert();

    let misspelt = fixture("providers/testhost.yaml").replace(
        "  image: rocky-9\n",
        "  image: { default: rocky-9, description: \"d\", defualt: 1 }\n",
    );
    let plugin = Plugin::new("testhost", &misspelt, "http://127.0.0.1:9");
    let file = plugin.provider_file();
    let output = plugin.operator(&["validate", file.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        report.contains("setting `image`: unknown field `defualt`")
            && report.contains(&format!("--> {}:9:3", file.display())),
        "{report}"
    );
}
