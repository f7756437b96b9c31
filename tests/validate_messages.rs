//! `vps-provider validate` on broken provider files: every template or key that could only
//! fail at run time is a problem at load time, and each message says what is wrong, names the
//! key and the variable or helper, and points at `file:line:col`. Built from the test
//! provider (`tests/fixtures/providers/testhost.yaml`), one change at a time.

mod common;

use common::{Plugin, fixture, validate_yaml};

/// Validates testhost.yaml with `from` replaced by `to`; gives stdout and the file's path.
fn validate_with(from: &str, to: &str) -> (String, String) {
    let yaml = fixture("providers/testhost.yaml");
    assert!(yaml.contains(from), "the fixture holds {from:?}");
    let validation = validate_yaml("testhost.yaml", &yaml.replacen(from, to, 1));
    assert_eq!(validation.code, Some(1), "{}", validation.stdout);
    (validation.stdout, validation.file.display().to_string())
}

/// Asserts that validating with the change reports `message` at `line:col`, then `help`.
fn assert_problem(from: &str, to: &str, at: (usize, usize), message: &str, help: &str) {
    let (stdout, file) = validate_with(from, to);
    let expected = format!("error: {message}\n  --> {file}:{}:{}\n", at.0, at.1);
    assert!(
        stdout.contains(&expected),
        "expected\n{expected}in\n{stdout}"
    );
    assert!(stdout.contains(&format!("help: {help}")), "{stdout}");
    assert!(
        stdout.ends_with(&format!("1 problem(s) in {file}\n")),
        "{stdout}"
    );
}

/// Asserts that each template, written as the order's body `name` (30:11), is refused with
/// its message.
fn assert_body_name_problems(cases: &[(&str, &str)]) {
    for (written, message) in cases {
        assert_problem(
            r#"          name: "bx-{{task.id}}""#,
            &format!("          name: '{written}'"),
            (30, 11),
            message,
            "templates see `settings`",
        );
    }
}

#[test]
fn a_helper_given_too_few_or_too_many_arguments() {
    assert_body_name_problems(&[
        (
            "{{base64}}",
            "`base64` takes one text, and is given none here",
        ),
        (
            "{{base64 task.id task.id}}",
            "`base64` takes one text, and is given 2 arguments here",
        ),
        (
            r#"{{human_size 2048}}"#,
            r#"`human_size` takes a number and its unit ("MB"), and is given 1 argument here"#,
        ),
        (
            "{{#if (eq task.id)}}x{{/if}}",
            "`eq` takes two values, and is given 1 argument here",
        ),
        (
            "{{#if}}x{{/if}}",
            "`if` takes one value, and is given none here",
        ),
        (
            "{{find config.plan \"id\"}}",
            "`find` takes a list, then field names each with a value, and is given 2 arguments here",
        ),
    ]);
}

#[test]
fn a_helper_given_a_literal_it_cannot_take() {
    assert_body_name_problems(&[
        (
            r#"{{human_size 2048 "XB"}}"#,
            "`human_size` knows no unit `XB`; use one of B, KB, MB, GB, TB",
        ),
        (
            r#"{{fixed 4.5 "two"}}"#,
            "`fixed` takes 0 to 20 decimals, not `two`",
        ),
        (
            r#"{{fixed "lots" 2}}"#,
            "`fixed` takes a number first, not `lots`",
        ),
        (
            r#"{{pluck "abc" "id"}}"#,
            "`pluck` takes a list first, not the literal `abc`",
        ),
        (
            r#"{{#each "abc"}}x{{/each}}"#,
            "`each` takes a list first, not the literal `abc`",
        ),
        (
            r#"{{#base64 task.id}}x{{/base64}}"#,
            "`{{#base64}}` encodes its block and takes no argument; write `{{#base64}}...{{/base64}}` or `{{base64 value}}`",
        ),
    ]);
}

#[test]
fn a_variable_that_does_not_exist_where_it_is_written_is_named_in_every_place() {
    // (what is replaced, its replacement, line and column of the key, the message)
    let places = [
        (
            "path: \"/servers/{{saved.server_id}}\"",
            "path: \"/servers/{{saved.server_ip}}\"",
            (42, 9),
            "`saved.server_ip` is not declared (extract it in an earlier `order.steps[].extract`); did you mean `server_id`?",
        ),
        (
            "    bearer: \"{{secrets.token}}\"",
            "    bearer: \"{{secrets.tokn}}\"",
            (13, 5),
            "`secrets.tokn` is not declared (declare it under `secrets:`); did you mean `token`?",
        ),
        (
            "          image: \"{{settings.image}}\"",
            "          image: \"{{settings.imgae}}\"",
            (33, 11),
            "`settings.imgae` is not declared (declare it under `settings:`); did you mean `image`?",
        ),
        (
            "      vars: { plan: small, region: \"{{settings.region}}\" }",
            "      vars: { plan: small, region: \"{{setings.region}}\" }",
            (20, 28),
            "`setings.region` names `setings`, which is not a variable here (here: settings, secrets); did you mean `settings`?",
        ),
        (
            "      descr: \"Small: 1 vCPU, 2 GB RAM\"",
            "      descr: \"Small {{task.id}}\"",
            (19, 7),
            "`task.id` names `task`, which is not a variable here (here: settings, secrets)",
        ),
        (
            "    value: \"{{polled.state}}\"",
            "    value: \"{{polled.stat}}\"",
            (47, 5),
            "`polled.stat` is not declared (extract it in an earlier `order_status.steps[].extract`); did you mean `state`?",
        ),
        (
            "  server: \"{{polled.ip}}\"",
            "  server: \"{{polled.ipv4}}\"",
            (53, 3),
            "`polled.ipv4` is not declared (extract it in an earlier `order_status.steps[].extract`); did you mean `ip`?",
        ),
        (
            "  server_password: \"{{saved.root_password}}\"",
            "  server_password: \"{{saved.root_pasword}}\"",
            (54, 3),
            "`saved.root_pasword` is not declared (extract it in an earlier `order.steps[].extract`); did you mean `root_password`?",
        ),
        (
            "  hoster_id: \"{{saved.server_id}}\"",
            "  hoster_id: \"{{polled.server_id}}\"",
            (38, 3),
            "`polled.server_id` names `polled`, which is not a variable here (here: settings, secrets, config, task, saved)",
        ),
        (
            "  server_password: \"{{saved.root_password}}\"",
            "  server_password: \"{{saved.root_password}}\"\ncleanup:\n  when: \"{{config.plna}}\"\n  steps:\n    - request: { method: DELETE, path: \"/servers/{{task.hoster_id}}\" }",
            (56, 3),
            "`config.plna` is not declared (every config must have it in its `vars`); did you mean `plan`?",
        ),
    ];
    for (from, to, at, message) in places {
        assert_problem(from, to, at, message, "templates see `settings`");
    }
}

#[test]
fn a_type_error_inside_an_optional_block_names_the_key_not_the_block() {
    let (stdout, file) = validate_with(
        "  server: \"{{polled.ip}}\"",
        "  server: \"{{polled.ip}}\"\n  ssh_check: { port: twenty-two }",
    );
    assert!(
        stdout.contains(&format!(
            "error: \"twenty-two\" is not of types \"null\", \"integer\"\n  --> {file}:54:16\n"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains("anyOf") && !stdout.contains("{\"port\""),
        "{stdout}"
    );
}

#[test]
fn a_misspelt_key_of_a_described_setting_is_found() {
    assert_problem(
        "  region: fsn1",
        "  region: { default: fsn1, descripton: where servers are made }",
        (8, 28),
        "setting `region`: unknown key `descripton`",
        "did you mean `description`?",
    );
}

#[test]
fn a_lookup_that_finds_nothing_at_run_time_quotes_the_template_and_its_place() {
    // `lookup` of a key that is not there: handlebars' own message named no variable.
    let yaml = fixture("providers/testhost.yaml").replace(
        "      vars: { plan: large, region: \"{{settings.region}}\" }",
        "      vars: { plan: large, region: \"zone {{lookup settings \\\"zone\\\"}}\" }",
    );
    let plugin =
        Plugin::new("testhost", &yaml, "http://127.0.0.1:9").secrets("token=tok-secret-123\n");
    let run = plugin.run(&["configs"]);
    let message = run.error_message();
    assert!(
        message.contains("testhost.yaml:23:7: cannot fill in the vars: `{{lookup settings \"zone\"}}` (template line 1, column 6) looks up a value that is not there (at `configs.static[1].vars`)"),
        "{message}"
    );
    assert!(!message.contains("strict mode"), "{message}");
}
