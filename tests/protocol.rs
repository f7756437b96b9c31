//! The panel's side of the contract: argv, files, hostile input. Every run goes through the
//! real binary under a provider's name, and every run must print exactly one JSON object.

mod common;

use common::{Plugin, fixture};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;

/// No hoster is needed for these: nothing listens on port 9 of loopback.
const NOWHERE: &str = "http://127.0.0.1:9";

fn testhost() -> Plugin {
    Plugin::new("testhost", &fixture("providers/testhost.yaml"), NOWHERE)
        .secrets("token=tok-secret-123\n")
}

#[test]
fn help_lists_the_verbs_and_says_enabled() {
    let run = testhost().run(&["help"]);
    assert_eq!(
        run.stdout,
        "{\"options\":[\"help\",\"configs\",\"order\",\"order_status\"],\"status\":\"enabled\"}\n"
    );
    assert!(run.success);
}

#[test]
fn help_says_disabled_without_the_secret_and_configs_too() {
    let plugin = Plugin::new("testhost", &fixture("providers/testhost.yaml"), NOWHERE);
    assert_eq!(plugin.run(&["help"]).ok()["status"], "disabled");
    assert_eq!(plugin.run(&["configs"]).ok()["status"], "disabled");
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(
        message.contains("secret `token` missing") && message.contains("testhost.conf"),
        "{message}"
    );
}

#[test]
fn help_says_disabled_when_the_file_says_so() {
    let yaml = fixture("providers/testhost.yaml")
        .replace("name: testhost", "name: testhost\nstatus: disabled");
    let plugin = Plugin::new("testhost", &yaml, NOWHERE).secrets("token=abcd\n");
    assert_eq!(plugin.run(&["help"]).ok()["status"], "disabled");
    assert!(
        plugin
            .run(&["order", "1"])
            .error_message()
            .contains("disabled in its provider file")
    );
}

#[test]
fn a_secret_may_come_from_the_environment() {
    let mut plugin = Plugin::new("testhost", &fixture("providers/testhost.yaml"), NOWHERE);
    plugin
        .env
        .push(("TESTHOST_TOKEN".into(), "from-env".into()));
    assert_eq!(plugin.run(&["help"]).ok()["status"], "enabled");
}

#[test]
fn static_configs_need_no_network_and_no_task_store() {
    let plugin = testhost();
    let run = plugin.run(&["configs"]);
    assert_eq!(
        run.stdout,
        "{\"configurations\":[{\"id\":\"1\",\"descr\":\"Small: 1 vCPU, 2 GB RAM\"},{\"id\":\"2\",\"descr\":\"Large: 4 vCPU, 8 GB RAM\"}],\"status\":\"enabled\"}\n"
    );
    assert!(
        !plugin.state_dir().exists(),
        "configs must not touch the task store"
    );
}

#[test]
fn a_secrets_file_readable_by_others_is_refused() {
    let plugin = testhost();
    std::fs::set_permissions(
        plugin.secrets_path(),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let run = plugin.run(&["help"]);
    let message = run.error_message();
    assert!(
        message.contains("readable by others") && message.contains("chmod 600"),
        "{message}"
    );
    assert!(!message.contains("tok-secret-123"));
}

#[test]
fn a_misspelt_line_in_the_secrets_file_is_named_with_a_suggestion() {
    let plugin = testhost().secrets("token=abcd\nregoin=nbg1\n");
    let message = plugin.run(&["help"]).error_message().to_owned();
    assert!(
        message.contains(":2:1:") && message.contains("did you mean `region`"),
        "{message}"
    );
}

#[test]
fn unknown_verb_missing_and_extra_arguments() {
    let plugin = testhost();
    assert!(plugin.run(&[]).error_message().contains("no verb given"));
    assert!(
        plugin
            .run(&["reboot"])
            .error_message()
            .contains("unknown verb `reboot`")
    );
    assert!(
        plugin
            .run(&["order"])
            .error_message()
            .contains("needs a config id")
    );
    assert!(
        plugin
            .run(&["order_status"])
            .error_message()
            .contains("needs a task id")
    );
    assert!(
        plugin
            .run(&["help", "now"])
            .error_message()
            .contains("takes no argument")
    );
    assert!(
        plugin
            .run(&["configs", "a", "b"])
            .error_message()
            .contains("takes no argument")
    );
    assert!(
        plugin
            .run(&["order", "1", "2"])
            .error_message()
            .contains("takes one config id")
    );
}

#[test]
fn a_missing_provider_file_says_where_it_looked() {
    let plugin = testhost();
    std::fs::remove_file(plugin.provider_file()).unwrap();
    let message = plugin.run(&["help"]).error_message().to_owned();
    assert!(
        message.contains("no provider file")
            && message.contains("testhost.yaml")
            && message.contains("VPS_PROVIDER_DIR"),
        "{message}"
    );
}

#[test]
fn a_broken_provider_file_points_at_line_and_column() {
    let yaml = "name: testhost\napi:\n  base_url: http://x\n  auth: [unclosed\n";
    let plugin = Plugin::new("testhost", yaml, NOWHERE);
    let message = plugin.run(&["help"]).error_message().to_owned();
    assert!(message.contains("testhost.yaml:"), "{message}");
}

#[test]
fn a_misspelt_key_is_an_error_with_a_suggestion() {
    let yaml = fixture("providers/testhost.yaml").replace("  error_message:", "  error_mesage:");
    let message = Plugin::new("testhost", &yaml, NOWHERE)
        .run(&["help"])
        .error_message()
        .to_owned();
    assert!(
        message.contains("unknown field `error_mesage`")
            && message.contains("did you mean `error_message`"),
        "{message}"
    );
    assert!(message.contains("testhost.yaml:14:3"), "{message}");
}

#[test]
fn a_bad_jsonpath_points_at_its_key() {
    let yaml = fixture("providers/testhost.yaml")
        .replace("server_id: $.server.id", "server_id: $.server[id");
    let plugin = Plugin::new("testhost", &yaml, NOWHERE).secrets("token=tok-secret-123\n");
    // `help` compiles no template or JSONPath (it is called for every provider on every
    // page); the verb that uses the path reports it, before it sends anything.
    assert_eq!(plugin.run(&["help"]).ok()["status"], "enabled");
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(
        message.contains("is not a JSONPath")
            && message.contains("order.steps[0].extract.server_id"),
        "{message}"
    );
    assert!(message.contains("testhost.yaml:36:9"), "{message}");
}

#[test]
fn unknown_and_malformed_task_ids_are_errors() {
    let plugin = testhost();
    assert!(
        plugin
            .run(&["order_status", "12345"])
            .error_message()
            .contains("no task `12345`")
    );
    for hostile in [
        "../../etc/passwd",
        "1;reboot",
        "$(reboot)",
        "-1",
        &"1".repeat(10_000),
    ] {
        let message = plugin
            .run(&["order_status", hostile])
            .error_message()
            .to_owned();
        assert!(message.contains("is not a task id"), "{hostile}: {message}");
        assert!(message.len() < 400, "the id is cut in the message");
    }
    assert!(!plugin.state_dir().exists());
}

#[test]
fn hostile_config_ids_are_refused_before_anything_is_recorded() {
    let plugin = testhost();
    for hostile in ["../../etc/passwd", "1;reboot", &"7".repeat(10_000), "99"] {
        let message = plugin.run(&["order", hostile]).error_message().to_owned();
        assert!(
            message.contains("is not a config id") || message.contains("offers no config"),
            "{message}"
        );
    }
    assert!(
        !plugin.state_dir().exists(),
        "nothing may be recorded for a config that does not exist"
    );
}

#[test]
fn non_utf8_arguments_are_errors() {
    let plugin = testhost();
    let bad = OsString::from_vec(vec![b'1', 0xff, 0xfe]);
    let message = plugin
        .run_os(&[OsString::from("order_status"), bad.clone()])
        .error_message()
        .to_owned();
    assert!(message.contains("not valid UTF-8"), "{message}");
    assert!(
        plugin
            .run_os(&[bad])
            .error_message()
            .contains("not valid UTF-8")
    );
}

#[test]
fn an_unsafe_program_name_is_an_error() {
    let plugin = testhost();
    let odd = plugin.root.path().join("we ird;name");
    std::os::unix::fs::symlink(common::BIN, &odd).unwrap();
    let output = std::process::Command::new(&odd)
        .arg("help")
        .env_clear()
        .output()
        .unwrap();
    let run = common::parse_run(output);
    assert!(run.error_message().contains("is not a provider name"));
}

#[test]
fn operator_run_behaves_like_the_symlink() {
    let plugin = testhost();
    let output = std::process::Command::new(common::BIN)
        .args(["run", "testhost", "configs"])
        .env_clear()
        .envs(plugin.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let via_run = common::parse_run(output);
    assert_eq!(via_run.stdout, plugin.run(&["configs"]).stdout);
}

#[test]
fn a_setting_without_a_default_must_be_set_by_the_site() {
    let yaml = fixture("providers/testhost.yaml").replace("  image: rocky-9", "  image: ~");
    let plugin = Plugin::new("testhost", &yaml, NOWHERE).secrets("token=abcd\n");
    assert_eq!(plugin.run(&["help"]).ok()["status"], "disabled");
    let message = plugin.run(&["order", "1"]).error_message().to_owned();
    assert!(message.contains("setting `image` missing"), "{message}");
    let plugin = plugin.secrets("token=abcd\nimage=alma-9\n");
    assert_eq!(plugin.run(&["help"]).ok()["status"], "enabled");
}

#[test]
fn an_empty_secret_line_is_a_missing_secret() {
    let plugin = testhost().secrets("token=\n");
    assert_eq!(plugin.run(&["help"]).ok()["status"], "disabled");
}

/// A bug that panics still gives the panel one error object (the release build aborts on
/// panic: the object comes from the panic hook, not from unwinding), and nothing raw on stderr.
#[test]
fn a_panic_is_one_error_object() {
    for args in [vec!["help"], vec!["order_status", "1"]] {
        let run = testhost()
            .with_env("VPS_PROVIDER_FAULT", "panic_in_answer")
            .run(&args);
        let message = run.error_message();
        assert!(
            message.contains("internal error") && message.contains("panic_in_answer"),
            "{message}"
        );
        assert!(!run.success);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    let plugin = testhost().with_env("VPS_PROVIDER_FAULT", "panic_in_answer");
    let through_run = common::parse_run(plugin.operator(&["run", "testhost", "help"]));
    assert!(through_run.error_message().contains("internal error"));
}
