//! What the panel gets is safe for its root shell and its web page (issue 14).
//!
//! The shell: the panel's client escapes `server` and `server_password` with `Pool::esc_chars`
//! and runs them, as root, in one `system()` line. These tests replay that escaping exactly and
//! run the line with `sh -c` (and bash, RHEL's `/bin/sh`, when present), with `printf` in place
//! of `expect`: what comes out must be the values as they are. The web page: a plan's `descr`
//! and every message come out as one clean line of bounded length.

mod common;

use common::{Plugin, fixture, task_reply};
use mockito::{Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use vps_provider::panel_safe::is_shell_safe_char;

const TOKEN: &str = "tok-boundary-1";

/// `Pool::esc_chars` of bitrix-env 9.0.9: a backslash before each of these, nothing else.
fn esc_chars(value: &str) -> String {
    let mut escaped = String::new();
    for c in value.chars() {
        if ";<>*|`&$!#()[]{}:'\"\\ ".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The shells the panel's line may meet as `/bin/sh`.
fn shells() -> Vec<&'static str> {
    let mut shells = vec!["/bin/sh"];
    if Path::new("/bin/bash").exists() {
        shells.push("/bin/bash");
    }
    shells
}

/// What each shell prints on stdout for the panel's line with `words` in place of its values,
/// run in `folder` with `HOME` set to it, and whether the line succeeded.
fn panel_line_prints(words: &[&str], folder: &Path) -> Vec<(bool, String)> {
    let escaped: Vec<String> = words.iter().map(|w| esc_chars(w)).collect();
    let line = format!("printf '%s\\n' {}", escaped.join(" "));
    shells()
        .into_iter()
        .map(|shell| {
            let output = Command::new(shell)
                .arg("-c")
                .arg(&line)
                .current_dir(folder)
                .env_clear()
                .env("HOME", folder)
                .env("PATH", "/usr/bin:/bin")
                .output()
                .unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            (output.status.success(), stdout)
        })
        .collect()
}

/// Checks that every shell prints `words` exactly, one a line.
fn assert_literal(words: &[&str]) {
    let folder = tempfile::tempdir().unwrap();
    // A file for a `?` to match, had one slipped through.
    std::fs::write(folder.path().join("a1b"), "").unwrap();
    let expected: String = words.iter().map(|w| format!("{w}\n")).collect();
    for (succeeded, printed) in panel_line_prints(words, folder.path()) {
        assert!(succeeded);
        assert_eq!(printed, expected);
    }
}

#[test]
fn every_safe_character_reaches_the_panels_shell_as_itself() {
    let safe: Vec<char> = (0u8..=255)
        .map(char::from)
        .filter(|c| is_shell_safe_char(*c))
        .collect();
    let alone: Vec<String> = safe.iter().map(|c| c.to_string()).collect();
    let inside: Vec<String> = safe.iter().map(|c| format!("a{c}b")).collect();
    let leading: Vec<String> = safe.iter().map(|c| format!("{c}ab")).collect();
    let all: String = safe.iter().collect();
    let mut words = vec!["203.0.113.7", all.as_str()];
    words.extend(
        alone
            .iter()
            .chain(&inside)
            .chain(&leading)
            .map(String::as_str),
    );
    assert_literal(&words);
}

#[test]
fn the_characters_left_out_are_not_literals_in_the_panels_shell() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("a1b"), "").unwrap();
    let home = folder.path().display().to_string();
    for (_, printed) in panel_line_prints(&["a?b", "~", "x\ny", "x\ty"], folder.path()) {
        // `?` matched a file, `~` became the home folder, and a line break ended the command:
        // `y x<tab>y` is a command of its own (not found), whose tab splits words.
        assert_eq!(printed, format!("a1b\n{home}\nx\n"));
    }
    assert!(!"?~\n\t \u{7f}é".chars().any(is_shell_safe_char));
}

#[test]
fn generated_passwords_and_servers_reach_the_panels_shell_as_they_are() {
    let passwords: Vec<String> = (0..500)
        .map(|_| vps_provider::password::generate().unwrap())
        .collect();
    let servers = [
        "203.0.113.7",
        "10.0.0.5",
        "2001:db8::1",
        "2001:db8:0:0:1:0:0:1",
        "::ffff:203.0.113.7",
        "vps-1.example.com",
        "xn--80ak6aa92e.example",
    ];
    for server in servers {
        assert!(
            vps_provider::extract::is_usable_address(server, false),
            "{server}"
        );
    }
    let mut words: Vec<&str> = servers.to_vec();
    words.extend(passwords.iter().map(String::as_str));
    assert_literal(&words);
}

/// testhost.yaml whose poll also reads the root password (as Timeweb's does: a reset in the
/// console shows in the next poll), with a cleanup that must never be sent for a server that
/// is fine, and `status_extra` under `order_status`.
fn polled_password_yaml(status_extra: &str) -> String {
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "        ip: $.server.ipv4\n",
            "        ip: $.server.ipv4\n        pw: $.server.root_pass\n",
        )
        .replace(
            "server_password: \"{{saved.root_password}}\"",
            "server_password: \"{{polled.pw}}\"",
        );
    format!(
        "{yaml}  {status_extra}\ncleanup:\n  steps:\n    - request: {{ method: DELETE, path: \"/servers/{{{{task.hoster_id}}}}\" }}\n"
    )
}

/// A hoster that took an order for server 42, the plugin, and the task id it handed out.
fn ordered(yaml: &str) -> (ServerGuard, Plugin, String) {
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    common::creates_server_42(&mut server, 1);
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, plugin, task_id)
}

/// The next `times` polls of server 42 answer `state`, `ip` and root password `pw`.
fn hoster_says(server: &mut Server, state: &str, ip: &str, pw: &str, times: usize) -> Mock {
    server
        .mock("GET", "/servers/42")
        .with_body(
            json!({"server": {"id": 42, "status": state, "ipv4": ip, "root_pass": pw}}).to_string(),
        )
        .expect(times)
        .create()
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn operator_refresh(plugin: &Plugin, task_id: &str) -> common::Run {
    common::parse_run(plugin.operator(&["run", "testhost", "order_status", task_id, "--refresh"]))
}

#[test]
fn a_hostile_root_password_never_reaches_the_panels_shell() {
    let (mut server, plugin, task_id) = ordered(&polled_password_yaml(""));
    let never_deleted = server.mock("DELETE", "/servers/42").expect(0).create();
    let shell_folder = tempfile::tempdir().unwrap();
    let pwned = shell_folder.path().join("PWNED");
    let hostile = format!("x\ntouch\t{}", pwned.display());
    let hostile_polls = hoster_says(&mut server, "running", "203.0.113.7", &hostile, 2);
    let record_before = task_file(&plugin, &task_id);

    for _ in 0..2 {
        let poll = plugin.run(&["order_status", &task_id]);
        // The panel's line on what was printed creates nothing.
        let reply = &poll.json;
        let word = |key: &str| reply[key].as_str().unwrap_or_default().to_owned();
        panel_line_prints(
            &[&word("server"), &word("server_password")],
            shell_folder.path(),
        );
        assert!(
            !pwned.exists(),
            "the panel's shell ran the hoster's command"
        );
        let message = poll.error_message();
        assert!(message.contains("cannot pass safely"), "{message}");
        assert!(
            message.contains("reset it in the hoster's console"),
            "{message}"
        );
        assert!(!poll.stdout.contains("touch") && !poll.stderr.contains("touch"));
        // Not finished, not failed, nothing deleted: the record is as it was.
        assert_eq!(task_file(&plugin, &task_id), record_before);
    }
    hostile_polls.assert();

    // Once the password is reset at the hoster, the next poll finishes the task.
    let fixed = hoster_says(&mut server, "running", "203.0.113.7", "Reset-Pw-2", 1);
    let done = plugin.run(&["order_status", &task_id]);
    assert_eq!(
        done.ok(),
        &task_reply(&task_id, "finished", "203.0.113.7", "Reset-Pw-2")
    );
    fixed.assert();
    never_deleted.assert();
}

#[test]
fn a_refresh_never_takes_back_a_finished_answer() {
    let (mut server, plugin, task_id) = ordered(&polled_password_yaml(""));
    let finished = task_reply(&task_id, "finished", "203.0.113.7", "Hoster-Pw-1");
    let running = hoster_says(&mut server, "running", "203.0.113.7", "Hoster-Pw-1", 1);
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    running.assert();

    // The hoster now says it is building again (a rebuild, a hiccup).
    let building = hoster_says(&mut server, "starting", "", "", 1);
    let refreshed = operator_refresh(&plugin, &task_id);
    let reply = refreshed.ok();
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains("stays `finished`"), "{}", refreshed.stdout);
    assert!(
        message.contains("the hoster reports `starting`"),
        "{message}"
    );
    let mut without_message = reply.clone();
    without_message.as_object_mut().unwrap().remove("message");
    assert_eq!(without_message, finished);
    building.assert();

    let record = task_file(&plugin, &task_id);
    assert_eq!(
        (&record["stage"], &record["last_status"], &record["server"]),
        (
            &json!("finished"),
            &json!("finished"),
            &json!("203.0.113.7")
        )
    );
    // The panel's next poll still gets the server and its password, from the record.
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
}

#[test]
fn a_refresh_of_a_server_whose_ssh_port_closed_keeps_it_finished() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let check = format!("ssh_check: {{ port: {port}, timeout_seconds: 1 }}");
    let (mut server, plugin, task_id) = ordered(&polled_password_yaml(&check));
    let plugin = plugin.with_env("VPS_PROVIDER_SSH_CHECK", "on");
    let finished = task_reply(&task_id, "finished", "127.0.0.1", "Hoster-Pw-1");
    let running = hoster_says(&mut server, "running", "127.0.0.1", "Hoster-Pw-1", 2);
    let sshd = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
    drop(sshd);

    let refreshed = operator_refresh(&plugin, &task_id);
    let reply = refreshed.ok();
    assert_eq!(
        (
            &reply["status"],
            &reply["server"],
            &reply["server_password"]
        ),
        (
            &json!("finished"),
            &json!("127.0.0.1"),
            &json!("Hoster-Pw-1")
        )
    );
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains("does not accept connections"), "{message}");
    running.assert();
    assert_eq!(task_file(&plugin, &task_id)["stage"], "finished");
    assert_eq!(plugin.run(&["order_status", &task_id]).ok(), &finished);
}

#[test]
fn a_refresh_keeps_a_failed_task_failed() {
    let (mut server, plugin, task_id) = ordered(&polled_password_yaml(""));
    let failed = hoster_says(&mut server, "failed", "", "", 1);
    let _deleted = server
        .mock("DELETE", "/servers/42")
        .with_status(204)
        .expect(1)
        .create();
    assert_eq!(
        plugin.run(&["order_status", &task_id]).ok()["status"],
        "error"
    );
    failed.assert();

    let running = hoster_says(&mut server, "running", "203.0.113.7", "Hoster-Pw-1", 1);
    let refreshed = operator_refresh(&plugin, &task_id);
    assert_eq!(
        (&refreshed.ok()["status"], &refreshed.ok()["server"]),
        (&json!("error"), &json!(""))
    );
    assert!(
        refreshed.ok()["message"]
            .as_str()
            .unwrap()
            .contains("stays `error`"),
        "{}",
        refreshed.stdout
    );
    running.assert();
    assert_eq!(task_file(&plugin, &task_id)["stage"], "failed");
}

#[test]
fn plan_descriptions_reach_the_web_page_as_one_clean_short_line() {
    let mut server = Server::new();
    let yaml = common::fetching_testhost_yaml()
        .replace("descr: \"{{item.name}}\"", "descr: \"{{item.descr}}\"");
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets(&format!("token={TOKEN}\n"));
    let hostile =
        "\u{1b}[31mRed\u{1b}[0m\r\nplan\u{0} \u{2028}2 GB\u{2029}\u{202e}evil\u{2069}\u{7}\t";
    server
        .mock("GET", "/plans")
        .with_body(
            json!({"plans": [
                {"name": "p1", "descr": hostile},
                {"name": "p2", "descr": "long ".repeat(1000)},
            ]})
            .to_string(),
        )
        .create();
    let run = plugin.run(&["configs"]);
    let configs = common::enabled_descrs(&run);
    assert_eq!(configs[0], common::pair("p1", "Red plan 2 GB evil"));
    let long = &configs[1].1;
    assert_eq!(long.chars().count(), 200, "{long}");
    assert!(long.ends_with('…'), "{long}");
    for raw in ["\\u001b", "\\r", "\\n", "\\u0000", "\u{2028}", "\u{202e}"] {
        assert!(!run.stdout.contains(raw), "{raw} in {}", run.stdout);
    }
}

#[test]
fn a_4_mb_unknown_status_gives_a_short_error_on_every_poll() {
    let (mut server, plugin, task_id) = ordered(&polled_password_yaml(""));
    let huge = "\u{1b}[2Jbuilding\n".repeat(400_000);
    let polls = hoster_says(&mut server, &huge, "", "", 2);
    for _ in 0..2 {
        let poll = plugin.run(&["order_status", &task_id]);
        assert!(
            poll.error_message()
                .contains("the status map does not know"),
            "{}",
            &poll.stdout[..200]
        );
        assert!(poll.stdout.len() < 4096, "{} bytes", poll.stdout.len());
    }
    polls.assert();
}
