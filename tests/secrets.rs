//! Secrets stay secret: a canary token goes through every verb and operator command, in
//! success and failure, verbose and dry run, and appears in no output, log or task file (not
//! even when the hoster echoes it back); the generated root password reaches only the task
//! file and the `finished` answer; credentials never follow a redirect to another host; plain
//! `http://` is refused off loopback.

mod common;

use base64::Engine;
use common::{Plugin, RawServer, fetching, fixture, respond};
use mockito::{Matcher, Mock, Server, ServerGuard};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A token no output may ever contain, with characters that change when encoded.
const CANARY: &str = "CANARY-7f3a9c-TOKEN+/=";

/// Every form the canary can take on the way out: as is, in a URL, in JSON, in base64.
fn canary_forms() -> Vec<String> {
    vec![
        "7f3a9c".into(),
        percent_encoding::utf8_percent_encode(CANARY, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        base64::engine::general_purpose::STANDARD.encode(format!("Bearer {CANARY}")),
    ]
}

/// The testhost provider, generating the root password and sending it with the order.
fn provider_yaml() -> String {
    fixture("providers/testhost.yaml")
        .replace(
            "          image: \"{{settings.image}}\"\n",
            "          image: \"{{settings.image}}\"\n          root_pass: \"{{task.password}}\"\n",
        )
        .replace("{{saved.root_password}}", "{{task.password}}")
}

/// Everything a run printed, labelled for the failure message.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn keep(&mut self, label: String, output: &Output) {
        self.0.push((
            format!("stdout of {label}"),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ));
        self.0.push((
            format!("stderr of {label}"),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }

    /// Adds every file under `dir` but `except`.
    fn keep_files(&mut self, dir: &Path, except: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            // The plugin's symlink is the binary itself, not something it wrote.
            if path == except || kind.is_symlink() {
                continue;
            }
            if kind.is_dir() {
                self.keep_files(&path, except);
            } else if path.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                self.0.push((
                    format!("file {}", path.display()),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }

    fn assert_nowhere(&self, secret: &str, allowed: impl Fn(&str) -> bool) {
        for (label, text) in &self.0 {
            if !allowed(label) {
                assert!(
                    !text.contains(secret),
                    "`{secret}` leaked in {label}:\n{text}"
                );
            }
        }
    }
}

/// The plugin with the canary token, a log file, and a mock hoster at `server`.
fn canary_plugin(server: &ServerGuard) -> (Plugin, PathBuf) {
    logged(
        Plugin::new("testhost", &provider_yaml(), &server.url()),
        CANARY,
    )
}

/// `plugin` with `token` and a log (`log=` in its secrets file, in its own log folder).
fn logged(plugin: Plugin, token: &str) -> (Plugin, PathBuf) {
    let logs = plugin.root.path().join("logs");
    let log = logs.join("vps-provider.log");
    let plugin = plugin
        .secrets(&format!("token={token}\nlog=vps-provider.log\n"))
        .with_env("VPS_PROVIDER_LOG_DIR", logs.to_str().unwrap());
    (plugin, log)
}

/// A hoster answering orders and polls with `status` and `body`; `body` may echo the token.
fn hoster(server: &mut ServerGuard, status: usize, order: &str, poll: &str) -> Vec<Mock> {
    vec![
        server
            .mock("POST", "/servers")
            .with_status(status)
            .with_body(order)
            .create(),
        server
            .mock("GET", Matcher::Regex("^/servers/".into()))
            .with_status(status)
            .with_body(poll)
            .create(),
    ]
}

/// Runs every verb through the symlink and `vps-provider run` (plain, verbose, dry run).
fn every_verb(plugin: &Plugin, outputs: &mut Outputs, phase: &str, task: &str) {
    let verbs: [&[&str]; 9] = [
        &["help"],
        &["configs"],
        &["order", "1"],
        &["order", "9"],
        &["order", "../x"],
        &["order_status", task],
        &["order_status", "abc"],
        &["order_status", "12345"],
        &["reboot"],
    ];
    for verb in verbs {
        let output = plugin.command(verb).output().unwrap();
        outputs.keep(format!("{phase}: {verb:?}"), &output);
        for flag in [None, Some("--verbose"), Some("--dry-run")] {
            let mut args = vec!["run", "testhost"];
            args.extend(flag);
            args.extend(verb);
            outputs.keep(format!("{phase}: {args:?}"), &plugin.operator(&args));
        }
    }
}

#[test]
fn the_canary_token_and_the_root_password_appear_nowhere_they_should_not() {
    let mut server = Server::new();
    let (plugin, log) = canary_plugin(&server);
    let mut outputs = Outputs::default();

    // Success: two orders (one polled to the end, one kept for the failure phases).
    let ok = hoster(
        &mut server,
        201,
        &json!({"server": {"id": 42}}).to_string(),
        &json!({"server": {"id": 42, "status": "running", "ipv4": "192.0.2.7"}}).to_string(),
    );
    let finished = common::task_id(&plugin.run(&["order", "1"]));
    let kept = common::task_id(&plugin.run(&["order", "2"]));
    let answer = plugin
        .command(&["order_status", &finished])
        .output()
        .unwrap();
    let reply: Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(reply["status"], "finished");
    let password = reply["server_password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 12, "{reply}");
    outputs.keep("the finished order_status".into(), &answer);
    every_verb(&plugin, &mut outputs, "success", &finished);
    ok.into_iter().for_each(|m| m.remove());

    // Failures, from a hoster that echoes the token back in its error.
    let echo = json!({"error": {"message": format!("bad token Bearer {CANARY}")}}).to_string();
    let garbage = format!("<html>token {CANARY}</html> not json {CANARY}");
    for (phase, status, body) in [
        ("401", 401, echo.as_str()),
        ("500", 500, echo.as_str()),
        ("redirect", 302, echo.as_str()),
        ("garbage", 200, garbage.as_str()),
    ] {
        let mocks = hoster(&mut server, status, body, body);
        every_verb(&plugin, &mut outputs, phase, &kept);
        mocks.into_iter().for_each(|m| m.remove());
    }

    // The operator's other commands.
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    for args in [
        vec!["check", "testhost"],
        vec!["tasks", "testhost"],
        vec!["validate"],
        vec!["list"],
        vec!["install", "testhost", "--root", root_arg],
        vec!["uninstall", "testhost", "--root", root_arg],
    ] {
        outputs.keep(format!("{args:?}"), &plugin.operator(&args));
    }

    outputs.keep_files(plugin.root.path(), &plugin.secrets_path());
    outputs.keep_files(root.path(), &plugin.secrets_path());
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("Bearer ***"),
        "the log traced the requests"
    );
    for form in canary_forms() {
        outputs.assert_nowhere(&form, |_| false);
    }
    // The password is only in the task file and the answer that hands the server over.
    let task_file = plugin.state_dir().join(format!("{finished}.json"));
    let handed_over = |label: &str| {
        label == "stdout of the finished order_status"
            || label == format!("file {}", task_file.display())
            || label.starts_with(&format!("stdout of success: [\"order_status\", \"{finished}\"]"))
            || label.starts_with(&format!("stdout of success: [\"run\", \"testhost\", \"order_status\", \"{finished}\"]"))
            || label.starts_with(&format!("stdout of success: [\"run\", \"testhost\", \"--verbose\", \"order_status\", \"{finished}\"]"))
    };
    outputs.assert_nowhere(&password, handed_over);
    // Every other task's password is in its own task file only.
    for entry in std::fs::read_dir(plugin.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue; // the polls' lock file
        }
        let task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if task["id"] != finished.as_str() {
            let own_file = format!("file {}", path.display());
            outputs.assert_nowhere(task["password"].as_str().unwrap(), |l| l == own_file);
        }
    }
}

#[test]
fn credentials_never_follow_a_redirect_to_another_host() {
    // 127.0.0.2 is loopback too, but another host: it must receive nothing.
    let elsewhere = RawServer::start("127.0.0.2", |stream, _| {
        respond(stream, "200 OK", &[], r#"{"plans": [{"id": "stolen"}]}"#);
    });
    let target = format!("{}/plans", elsewhere.url);
    let api = RawServer::start("127.0.0.1", move |stream, _| {
        respond(stream, "302 Found", &[&format!("Location: {target}")], "");
    });
    let plugin = fetching(&api.url, 10, 1 << 20);
    let run = plugin.run(&["configs"]);
    common::assert_error_says(
        &run,
        &["redirected", &elsewhere.url, "not on the API's origin"],
    );
    assert_eq!(api.received().len(), 1);
    assert!(
        elsewhere.received().is_empty(),
        "{:?}",
        elsewhere.received()
    );
}

#[test]
fn a_redirect_on_the_same_origin_is_followed_with_the_credentials() {
    let api = RawServer::start("127.0.0.1", |stream, index| {
        if index == 0 {
            respond(
                stream,
                "301 Moved Permanently",
                &["Location: /v2/plans"],
                "",
            );
        } else {
            respond(stream, "200 OK", &[], r#"{"plans": [{"id": "small"}]}"#);
        }
    });
    let plugin = fetching(&api.url, 10, 1 << 20);
    assert_eq!(common::ids(plugin.run(&["configs"]).ok()), ["small"]);
    let received = api.received();
    assert_eq!(received[1].line(), "GET /v2/plans HTTP/1.1");
    assert!(
        received[1]
            .head
            .to_ascii_lowercase()
            .contains("authorization: bearer tok-limits-123"),
        "{}",
        received[1].head
    );
}

#[test]
fn a_redirected_order_is_not_followed_and_may_have_been_placed() {
    let api = RawServer::start("127.0.0.1", |stream, _| {
        respond(
            stream,
            "307 Temporary Redirect",
            &["Location: /servers/again"],
            "",
        );
    });
    let plugin = Plugin::new("testhost", &fixture("providers/testhost.yaml"), &api.url)
        .secrets("token=tok-secret-123\n");
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(&run, &["307", "the order may have been placed"]);
    let lines: Vec<String> = api.received().iter().map(|r| r.line().to_owned()).collect();
    assert_eq!(lines, ["POST /servers HTTP/1.1"]);
    assert_eq!(plugin.only_task()["stage"], "unknown");
}

#[test]
fn plain_http_is_refused_off_loopback_and_nothing_is_sent() {
    // From the provider file (no override)...
    let yaml = fixture("providers/testhost.yaml").replace(
        "https://api.testhost.invalid/v1",
        "http://api.testhost.invalid/v1",
    );
    let plugin = Plugin::new("testhost", &yaml, "unused")
        .secrets("token=tok-secret-123\n")
        .without_env("VPS_PROVIDER_BASE_URL");
    let run = plugin.run(&["order", "1"]);
    common::assert_error_says(&run, &["plain http", "https://", "loopback"]);
    let validate = plugin.operator(&["validate", "testhost"]);
    assert!(!validate.status.success());
    assert!(
        String::from_utf8_lossy(&validate.stdout).contains("plain http")
            || String::from_utf8_lossy(&validate.stderr).contains("plain http")
    );

    // ...and from VPS_PROVIDER_BASE_URL (a documentation address: it is never contacted).
    for url in [
        "http://192.0.2.1/v1",
        "http://localhost.example/v1",
        "http://127.0.0.1.example",
    ] {
        let plugin = Plugin::new("testhost", &fixture("providers/testhost.yaml"), url)
            .secrets("token=tok-secret-123\n");
        let run = plugin.run(&["order", "1"]);
        common::assert_error_says(&run, &["VPS_PROVIDER_BASE_URL", "plain http"]);
        assert!(!plugin.state_dir().exists(), "no task was recorded");
    }

    // Loopback addresses other than 127.0.0.1 work.
    let server = RawServer::start("127.0.0.2", |stream, _| {
        respond(stream, "200 OK", &[], r#"{"plans": [{"id": "small"}]}"#);
    });
    let plugin = fetching(&server.url, 10, 1 << 20);
    assert_eq!(common::ids(plugin.run(&["configs"]).ok()), ["small"]);
}

/// A token for the tests below, whose prefix is what a cut through it would leave.
const TOKEN: &str = "SuperSecretToken-4711";

#[test]
fn a_token_across_the_cut_of_a_body_is_hidden_in_messages_and_traces() {
    let mut server = Server::new();
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        &server.url(),
    )
    .secrets(&format!("token={TOKEN}\n"));
    // Messages quote 200 characters of a body: the token starts 8 before the cut.
    let echo = format!("{}Bearer {TOKEN} was refused", "x".repeat(185));
    let refused = server
        .mock("POST", "/servers")
        .with_status(422)
        .with_body(&echo)
        .create();
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(message.contains("Bearer ***"), "{message}");
    assert!(!message.contains("SuperSec"), "{message}");
    refused.remove();

    // Traces quote 2,000 characters of a body: the token starts 8 before the cut.
    let head = r#"{"server":{"id":42},"note":""#;
    let long = format!(
        r#"{head}{}{TOKEN}{}"}}"#,
        "x".repeat(1992 - head.len()),
        "y".repeat(100)
    );
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(&long)
        .create();
    let verbose = plugin.operator(&["run", "testhost", "--verbose", "order", "1"]);
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains(&format!("< {head}")), "{stderr}");
    assert!(!stderr.contains("SuperSec"), "{stderr}");
}

/// The testhost provider sending cloud-init `user_data`: base64 of a text around the
/// generated password.
fn cloud_init_yaml() -> String {
    fixture("providers/testhost.yaml").replace(
        "          image: \"{{settings.image}}\"\n",
        "          image: \"{{settings.image}}\"\n          user_data: \"{{base64 (concat \\\"password: \\\" task.password)}}\"\n",
    )
}

#[test]
fn the_base64_of_the_generated_password_is_hidden_in_dry_runs_traces_and_the_log() {
    let mut server = Server::new();
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(r#"{"server":{"id":42}}"#)
        .create();
    let (plugin, log) = logged(
        Plugin::new("testhost", &cloud_init_yaml(), &server.url()),
        TOKEN,
    );
    let dry = plugin.operator(&["run", "testhost", "order", "1", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(stdout.contains(r#""user_data":"***""#), "{stdout}");

    let verbose = plugin.operator(&["run", "testhost", "--verbose", "order", "1"]);
    let reply: Value = serde_json::from_slice(&verbose.stdout).unwrap();
    let task = reply["task_id"].as_str().unwrap();
    let task: Value = serde_json::from_slice(
        &std::fs::read(plugin.state_dir().join(format!("{task}.json"))).unwrap(),
    )
    .unwrap();
    let encoded = |password: &Value| {
        base64::engine::general_purpose::STANDARD
            .encode(format!("password: {}", password.as_str().unwrap()))
    };
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains(r#""user_data":"***""#), "{stderr}");
    assert!(!stderr.contains(&encoded(&task["password"])), "{stderr}");

    std::fs::remove_dir_all(plugin.state_dir()).unwrap();
    common::task_id(&plugin.run(&["order", "1"]));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(r#""user_data":"***""#), "{logged}");
    assert!(
        !logged.contains(&encoded(&plugin.only_task()["password"])),
        "{logged}"
    );
}

#[test]
fn an_auth_value_is_hidden_whatever_it_is_made_of() {
    // A secret too short to be hidden by itself, made a credential by a setting.
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "bearer: \"{{secrets.token}}\"",
            "bearer: \"{{secrets.token}}-{{settings.account}}\"",
        )
        .replace(
            "  image: rocky-9\n",
            "  image: rocky-9\n  account: acct-99\n",
        );
    let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9").secrets("token=12345\n");
    let dry = plugin.operator(&["run", "testhost", "order", "1", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(stdout.contains("Authorization: Bearer ***"), "{stdout}");
    assert!(!stdout.contains("12345-acct-99"), "{stdout}");
}

#[test]
fn a_secret_the_shell_quoting_or_the_placeholders_would_change_is_hidden_in_dry_runs() {
    // A `'` becomes `'\''` in a curl line, and `%3C...%3E` is shown as `<...>`: a secret must be
    // hidden before either, in a header and in a body.
    let yaml = fixture("providers/testhost.yaml")
        .replace(
            "          image: \"{{settings.image}}\"\n",
            "          image: \"{{settings.image}}\"\n          key: \"{{secrets.token}}\"\n",
        )
        .replace(
            "  base_url: ",
            "  headers: { X-Key: \"{{secrets.token}}\" }\n  base_url: ",
        );
    for token in ["Tok'en-123456-quoted", "Tok<abc>+Secret99"] {
        let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9")
            .secrets(&format!("token=\"{token}\"\n"));
        let dry = plugin.operator(&["run", "testhost", "order", "1", "--dry-run"]);
        let stdout = String::from_utf8_lossy(&dry.stdout);
        assert!(stdout.contains("Authorization: Bearer ***"), "{stdout}");
        assert!(stdout.contains("X-Key: ***"), "{stdout}");
        for part in ["en-123456", "Secret99", "abc"] {
            assert!(!stdout.contains(part), "{part} in {stdout}");
        }
    }
}

#[test]
fn a_credential_written_in_the_provider_file_is_refused_with_its_place() {
    let literal = "LiteralBearer-0815";
    for (auth, key) in [
        (format!("bearer: \"{literal}\""), "api.auth.bearer"),
        (
            format!("header: {{ name: X-Key, value: \"Key {literal}\" }}"),
            "api.auth.header.value",
        ),
        (
            format!("query: {{ name: key, value: \"{{{{settings.image}}}}{literal}\" }}"),
            "api.auth.query.value",
        ),
        (
            format!("basic: {{ username: \"{{{{secrets.token}}}}\", password: {literal} }}"),
            "api.auth.basic.password",
        ),
    ] {
        let yaml =
            fixture("providers/testhost.yaml").replace("bearer: \"{{secrets.token}}\"", &auth);
        let line = yaml.lines().position(|l| l.contains(literal)).unwrap() + 1;
        let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9");
        let validate = plugin.operator(&["validate", "testhost"]);
        let stdout = String::from_utf8_lossy(&validate.stdout);
        assert!(!validate.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!("testhost.yaml:{line}:"))
                && stdout.contains("this credential is written in the provider file")
                && stdout.contains("put it in the secrets file")
                && stdout.contains(&format!("`{key}`")),
            "{stdout}"
        );
        assert!(!stdout.contains(literal), "the report quotes it: {stdout}");
        // Loading refuses it too: a dry run never shows it.
        let dry = plugin.operator(&["run", "testhost", "order", "1", "--dry-run"]);
        assert!(!String::from_utf8_lossy(&dry.stdout).contains(literal));
    }
}

#[test]
fn protocol_runs_write_no_core_dump() {
    // The hoster holds its answer until the run's limits have been read.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (arrived, arrival) = std::sync::mpsc::channel::<()>();
    let (wait, arrived) = (std::sync::Mutex::new(wait), std::sync::Mutex::new(arrived));
    let api = RawServer::start("127.0.0.1", move |stream, _| {
        let _ = arrived.lock().unwrap().send(());
        let _ = wait.lock().unwrap().recv();
        respond(stream, "200 OK", &[], r#"{"plans": [{"id": "small"}]}"#);
    });
    let plugin = fetching(&api.url, 10, 1 << 20);
    let child = plugin
        .command(&["configs"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    arrival.recv().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    go.send(()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "0"],
        "{core}"
    );
}
