//! The operator's commands, run as a person would: the binary called as `vps-provider`.

mod common;

use common::{Plugin, fixture, operator, parse_run, repo_file};
use mockito::Server;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn shipped_env() -> Vec<(String, String)> {
    vec![(
        "VPS_PROVIDER_DIR".into(),
        repo_file("providers.d").display().to_string(),
    )]
}

#[test]
fn every_shipped_provider_file_is_valid() {
    let output = operator(&["validate"], &shipped_env());
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for name in [
        "demo",
        "hetzner",
        "digitalocean",
        "vultr",
        "linode",
        "timeweb",
        "billmgr",
        "regru",
        "yandex",
    ] {
        assert!(
            stdout.contains(&format!(
                "ok: {}",
                repo_file(&format!("providers.d/{name}.yaml")).display()
            )),
            "{stdout}"
        );
    }
}

#[test]
fn validate_reports_every_problem_like_a_compiler() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.yaml");
    let broken = fixture("../../providers.d/demo.yaml")
        .replace("    items: $.plans[*]", "    items: $.plans[*")
        .replace(
            "{{item.cpus}} vCPU",
            "{{item.cpus}} vCPU {{setings.x}} {{secrets.tokn}}",
        );
    std::fs::write(&file, broken).unwrap();
    let output = operator(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("error: `$.plans[*` is not a JSONPath"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  --> {}:34:5", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean `settings`?"), "{stdout}");
    assert!(
        stdout.contains("`secrets.tokn`") && stdout.contains("did you mean `token`?"),
        "{stdout}"
    );
    assert!(stdout.contains("help: "), "{stdout}");
    assert!(stdout.contains("3 problem(s)"), "{stdout}");

    let json = operator(
        &["validate", "--format", "json", file.to_str().unwrap()],
        &[],
    );
    let problems: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(problems.as_array().unwrap().len(), 3);
    assert_eq!(problems[0]["line"], 34);
    assert_eq!(problems[0]["key"], "configs.fetch.items");
}

#[test]
fn validate_finds_every_structural_problem_with_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.yaml");
    let broken = fixture("../../providers.d/demo.yaml")
        .replace("  error_message:", "  error_mesage:")
        .replace("      running: finished", "      running: finishd")
        .replace("  hoster_id:", "  hoster_ids:");
    std::fs::write(&file, broken).unwrap();
    let stdout = text(&operator(&["validate", file.to_str().unwrap()], &[]).stdout);
    assert!(
        stdout.contains("unknown key `error_mesage`")
            && stdout.contains("did you mean `error_message`?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"finishd\"") && stdout.contains("did you mean `finished`?"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hoster_id"),
        "a missing field is named: {stdout}"
    );
    assert!(stdout.contains("4 problem(s)"), "{stdout}");
}

/// `vps-provider <command>` prints exactly the committed file `path`.
fn assert_generated(command: &str, path: &str) {
    let output = operator(&[command], &[]);
    let committed = std::fs::read_to_string(repo_file(path)).unwrap();
    assert!(
        text(&output.stdout) == committed,
        "{path} is stale: run `cargo run -- {command} > {path}`"
    );
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    assert_generated("schema", "schemas/provider.schema.json");
}

#[test]
fn the_committed_man_page_is_what_the_binary_prints() {
    assert_generated("man", "docs/vps-provider.1");
}

#[test]
fn shipped_files_match_the_schema_by_an_independent_validator_and_declare_it() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("schemas/provider.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for entry in std::fs::read_dir(repo_file("providers.d")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/provider.schema.json\n"),
            "{} must start with the schema line",
            path.display()
        );
        let document: Value = serde_yaml_ng::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let bad: Value = serde_yaml_ng::from_str("name: x\napi: {base_url: 1, extra: true}\n").unwrap();
    assert!(
        validator.iter_errors(&bad).count() >= 3,
        "the schema rejects a bad file"
    );
}

#[test]
fn install_is_idempotent_keeps_secrets_and_uninstall_keeps_history() {
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        "http://127.0.0.1:9",
    );
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let install = operator(&["install", "testhost", "--root", root_arg], &plugin.env);
    assert!(install.status.success(), "{}", text(&install.stderr));
    let link = root.path().join("testhost/bin/testhost");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let conf = root.path().join("testhost/etc/testhost.conf");
    assert_eq!(
        std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let template = std::fs::read_to_string(&conf).unwrap();
    assert!(
        template.contains("\ntoken=\n") && template.contains("# region=fsn1"),
        "{template}"
    );

    // The installed symlink answers the panel (disabled until the token is filled in).
    let run = |args: &[&str]| {
        let mut env = plugin.env.clone();
        env.retain(|(k, _)| k != "VPS_PROVIDER_SECRETS");
        env.push(("VPS_PROVIDER_SECRETS".into(), conf.display().to_string()));
        parse_run(
            Command::new(&link)
                .args(args)
                .env_clear()
                .envs(env)
                .output()
                .unwrap(),
        )
    };
    assert_eq!(run(&["help"]).ok()["status"], "disabled");
    std::fs::write(&conf, template.replace("\ntoken=\n", "\ntoken=abcd1234\n")).unwrap();
    assert_eq!(run(&["help"]).ok()["status"], "enabled");

    let again = operator(&["install", "testhost", "--root", root_arg], &plugin.env);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("already linked")
            && text(&again.stdout).contains("kept the secrets file")
    );
    assert!(
        std::fs::read_to_string(&conf)
            .unwrap()
            .contains("token=abcd1234"),
        "install never overwrites secrets"
    );

    let tasks = root.path().join("testhost/tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(tasks.join("1795667540109"), "").unwrap();
    let uninstall = operator(&["uninstall", "testhost", "--root", root_arg], &plugin.env);
    assert!(uninstall.status.success());
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the symlink is gone"
    );
    assert!(conf.exists(), "a filled-in secrets file is kept");
    assert!(tasks.join("1795667540109").exists(), "task history is kept");
}

#[test]
fn install_refuses_a_name_without_a_provider_file_and_a_real_plugin() {
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        "http://127.0.0.1:9",
    );
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let missing = operator(&["install", "nosuch", "--root", root_arg], &plugin.env);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("no provider file"),
        "{}",
        text(&missing.stderr)
    );
    let handwritten = root.path().join("testhost/bin/testhost");
    std::fs::create_dir_all(handwritten.parent().unwrap()).unwrap();
    std::fs::write(&handwritten, "#!/bin/sh\n").unwrap();
    let refused = operator(&["install", "testhost", "--root", root_arg], &plugin.env);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("is not a symlink"));
    assert_eq!(
        std::fs::read_to_string(&handwritten).unwrap(),
        "#!/bin/sh\n"
    );
}

#[test]
fn list_shows_installed_enabled_and_why_disabled() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let env = shipped_env();
    assert!(
        operator(&["install", "demo", "--root", root_arg], &env)
            .status
            .success()
    );
    let stdout = text(&operator(&["list", "--root", root_arg], &env).stdout);
    let demo = stdout.lines().find(|l| l.starts_with("demo\t")).unwrap();
    assert!(
        demo.contains("\tinstalled\t") && demo.contains("disabled: secret `token` missing"),
        "{demo}"
    );
    let hetzner = stdout.lines().find(|l| l.starts_with("hetzner\t")).unwrap();
    assert!(hetzner.contains("\tnot installed\t"), "{hetzner}");
}

#[test]
fn check_says_whether_the_token_works() {
    let mut server = Server::new();
    let plugin = Plugin::shipped("demo", &server.url()).secrets("token=good-token\n");
    server
        .mock("GET", "/plans")
        .match_header("authorization", "Bearer good-token")
        .with_body(r#"{"plans":[]}"#)
        .create();
    let ok = operator(&["check", "demo"], &plugin.env);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).starts_with("ok: GET "),
        "{}",
        text(&ok.stdout)
    );

    let plugin = plugin.secrets("token=bad-token\n");
    server
        .mock("GET", "/plans")
        .match_header("authorization", "Bearer bad-token")
        .with_status(401)
        .with_body(r#"{"error":{"message":"invalid API token"}}"#)
        .create();
    let bad = operator(&["check", "demo"], &plugin.env);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("401 Unauthorized")
            && stderr.contains("invalid API token")
            && stderr.contains("check the API token"),
        "{stderr}"
    );
    assert!(!stderr.contains("bad-token"), "{stderr}");
}

#[test]
fn a_dry_run_prints_curl_lines_with_secrets_hidden_and_sends_nothing() {
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        "http://127.0.0.1:9",
    )
    .secrets("token=tok-secret-123\n");
    let output = operator(&["run", "testhost", "order", "2", "--dry-run"], &plugin.env);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.starts_with("# config `2` is on offer: Large: 4 vCPU, 8 GB RAM\ncurl -X POST 'http://127.0.0.1:9/servers' -H 'Accept: application/json' -H 'Authorization: Bearer ***'"), "{stdout}");
    assert!(stdout.contains("\"plan\":\"large\""), "{stdout}");
    assert!(stdout.contains("# dry run: nothing was sent"), "{stdout}");
    assert!(!stdout.contains("tok-secret-123"));
    assert!(!plugin.state_dir().exists(), "a dry run records no task");

    let fetched = Plugin::shipped("demo", "http://127.0.0.1:9").secrets("token=tok-secret-123\n");
    let stdout = text(&operator(&["run", "demo", "order", "1", "--dry-run"], &fetched.env).stdout);
    assert!(
        stdout.contains("curl -X GET 'http://127.0.0.1:9/plans'")
            && stdout.contains("# the plan list could not be read, so config `1` is not checked")
            && stdout.contains("\"plan\":\"<config.plan>\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"root_password\":\"***\""),
        "the generated password is hidden: {stdout}"
    );
}

#[test]
fn verbose_and_the_log_trace_requests_with_secrets_redacted() {
    let mut server = Server::new();
    let mut plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        &server.url(),
    )
    .secrets("token=tok-secret-123\n");
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(r#"{"server":{"id":42},"root_password":"Hoster-Pw-1"}"#)
        .create();
    let verbose = operator(&["run", "testhost", "order", "1", "--verbose"], &plugin.env);
    let stderr = text(&verbose.stderr);
    assert!(
        stderr.contains("> POST ") && stderr.contains("< 201 for POST"),
        "{stderr}"
    );
    assert!(stderr.contains("Authorization: Bearer ***"), "{stderr}");
    assert!(
        !stderr.contains("tok-secret-123") && !stderr.contains("Hoster-Pw-1"),
        "{stderr}"
    );
    let reply: Value = serde_json::from_slice(&verbose.stdout).unwrap();
    assert!(reply["task_id"].is_string());

    let logs = plugin.root.path().join("logs");
    let log = logs.join("vps-provider.log");
    plugin
        .env
        .push(("VPS_PROVIDER_LOG_DIR".into(), logs.display().to_string()));
    let plugin = plugin.secrets("token=tok-secret-123\nlog=vps-provider.log\n");
    let run = plugin.run(&["order", "1"]);
    run.ok();
    assert!(
        run.stderr.is_empty(),
        "the panel's runs write nothing on stderr"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("> POST ") && logged.contains("< 201"),
        "{logged}"
    );
    assert!(
        !logged.contains("tok-secret-123") && !logged.contains("Hoster-Pw-1"),
        "{logged}"
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn tasks_lists_recorded_orders() {
    let mut server = Server::new();
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        &server.url(),
    )
    .secrets("token=tok-secret-123\n");
    let empty = text(&operator(&["tasks", "testhost"], &plugin.env).stdout);
    assert!(empty.starts_with("no tasks in "), "{empty}");
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(r#"{"server":{"id":42}}"#)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "2"]));
    let table = text(&operator(&["tasks", "testhost"], &plugin.env).stdout);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("TASK "), "{table}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..4],
        [task_id.as_str(), "2", "42", "ordered"],
        "{table}"
    );
}

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    for command in [
        "run",
        "validate",
        "schema",
        "install",
        "uninstall",
        "list",
        "check",
        "tasks",
        "demo",
        "man",
    ] {
        let output = operator(&[command, "--help"], &[]);
        assert!(output.status.success(), "{command} --help");
        assert!(
            text(&output.stdout).contains("Usage: vps-provider"),
            "{command}"
        );
    }
    assert!(text(&operator(&["--version"], &[]).stdout).starts_with("vps-provider "));
    assert_eq!(operator(&["frobnicate"], &[]).status.code(), Some(2));
    assert_eq!(operator(&[], &[]).status.code(), Some(2));
}

#[test]
fn the_readme_operator_examples_run() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let block = readme
        .split("```console\n")
        .nth(1)
        .expect("the README has a console block")
        .split("```")
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "VPS_PROVIDER_DIR".to_owned(),
            repo_file("providers.d").display().to_string(),
        ),
        (
            "VPS_PROVIDER_STATE_DIR".to_owned(),
            dir.path().join("state").display().to_string(),
        ),
        (
            "VPS_PROVIDER_SECRETS".to_owned(),
            dir.path().join("none.conf").display().to_string(),
        ),
    ];
    let mut ran = 0;
    for line in block
        .lines()
        .filter_map(|l| l.strip_prefix("$ vps-provider "))
    {
        let command = line
            .split(" #")
            .next()
            .unwrap()
            .replace("/opt/webdir/providers", &dir.path().display().to_string());
        let args: Vec<&str> = command.split_whitespace().collect();
        let output = operator(&args, &env);
        assert!(
            output.status.success(),
            "`vps-provider {line}` failed: {}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 6, "the README shows the operator commands");
    assert!(
        !Path::new(&dir.path().join("demo/bin/demo")).exists(),
        "the README's uninstall removed the link"
    );
}

#[test]
fn basic_auth_and_query_keys_are_hidden_in_their_encoded_forms() {
    let yaml = fixture("providers/testhost.yaml").replace(
        "  auth:\n    bearer: \"{{secrets.token}}\"",
        "  auth:\n    basic: { username: admin, password: \"{{secrets.token}}\" }\n  headers:\n    X-Key: \"{{secrets.token}}\"",
    );
    let plugin =
        Plugin::new("testhost", &yaml, "http://127.0.0.1:9").secrets("token=S3cr3t+Tok/en==\n");
    let stdout =
        text(&operator(&["run", "testhost", "order", "1", "--dry-run"], &plugin.env).stdout);
    assert!(
        stdout.contains("-H 'Authorization: Basic ***'") && stdout.contains("-H 'X-Key: ***'"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("S3cr3t") && !stdout.contains("UzNjcjN0"),
        "{stdout}"
    );

    let yaml = fixture("providers/testhost.yaml").replace(
        "  auth:\n    bearer: \"{{secrets.token}}\"",
        "  auth:\n    query: { name: key, value: \"{{secrets.token}}\" }",
    );
    let plugin =
        Plugin::new("testhost", &yaml, "http://127.0.0.1:9").secrets("token=S3cr3t+Tok/en==\n");
    let stdout =
        text(&operator(&["run", "testhost", "order", "1", "--dry-run"], &plugin.env).stdout);
    assert!(stdout.contains("/servers?key=***'"), "{stdout}");
    assert!(!stdout.contains("S3cr3t"), "{stdout}");
}

#[test]
fn numbers_out_of_range_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("testhost.yaml");
    let yaml = fixture("providers/testhost.yaml").replace(
        "deadline_seconds: 3",
        "deadline_seconds: 18446744073709551615",
    );
    std::fs::write(&file, yaml).unwrap();
    let stdout = text(&operator(&["validate", file.to_str().unwrap()], &[]).stdout);
    assert!(
        stdout.contains("is out of range") && stdout.contains("use 1 to 600"),
        "{stdout}"
    );
}

#[test]
fn no_source_file_names_a_hoster() {
    // A hoster is a provider file, never code: a hoster's name in src/ would be a special case.
    let hosters = [
        "hetzner",
        "digitalocean",
        "vultr",
        "linode",
        "timeweb",
        "billmgr",
        "regru",
        "reg.ru",
        "yandex",
        "hcloud",
        "selectel",
        "infra.mail.ru",
    ];
    let mut stack = vec![repo_file("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
            for hoster in hosters {
                assert!(
                    !text.contains(hoster),
                    "{} names `{hoster}`",
                    path.display()
                );
            }
        }
    }
}
