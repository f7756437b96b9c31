//! argv: no verb, unknown verbs, every verb with missing, extra, empty, huge, non-UTF-8 and
//! shell-hostile arguments; and the operator's command line, which answers in plain text.

use crate::common::{BIN, Plugin};
use crate::harness::{
    Case, Expect, NOWHERE, Scene, args, assert_no_panic, error, run_table, testhost,
};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Arguments a shell, a path or a parser would read as something else.
const HOSTILE: [&str; 22] = [
    "; rm -rf /",
    "1; rm -rf /",
    "$(id)",
    "`id`",
    "1`reboot`",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "1\nhelp",
    "1\r\n",
    "\"1\"",
    "'1'",
    "*",
    "1?",
    "[1]",
    "-1",
    "--help",
    "-",
    "1 2",
    "\t1",
    "1|cat",
];

/// 100 KB: far beyond any id, still within one argument's limit.
fn huge() -> String {
    "7".repeat(100_000)
}

fn non_utf8() -> OsString {
    OsString::from_vec(vec![b'1', 0xff, 0xfe, b'2'])
}

/// A case that runs `argv` against the test provider (no hoster).
fn case(name: impl Into<String>, argv: Vec<OsString>, expect: Expect) -> Case {
    Case::new(
        name,
        move || Scene::new(testhost(NOWHERE), argv.clone()),
        expect,
    )
}

pub fn cases() -> Vec<Case> {
    let usage = "call it as `help`";
    let mut cases = vec![
        case("no verb", vec![], error(&["no verb given", usage])),
        case(
            "empty verb",
            args(&[""]),
            error(&["unknown verb ``", "the verbs are"]),
        ),
        case(
            "unknown verb",
            args(&["reboot"]),
            error(&["unknown verb `reboot`"]),
        ),
        case(
            "verb in capitals",
            args(&["HELP"]),
            error(&["unknown verb `HELP`"]),
        ),
        case(
            "verb with a space",
            args(&["help "]),
            error(&["unknown verb"]),
        ),
        case(
            "verb with a newline",
            args(&["help\n"]),
            error(&["unknown verb `help\\n`"]),
        ),
        case(
            "init is not offered",
            args(&["init"]),
            error(&["unknown verb `init`"]),
        ),
        case(
            "--help as verb",
            args(&["--help"]),
            error(&["unknown verb `--help`"]),
        ),
        case("-h as verb", args(&["-h"]), error(&["unknown verb `-h`"])),
        case(
            "huge verb",
            vec![OsString::from(huge())],
            error(&["unknown verb", "…"]),
        ),
        case(
            "non-UTF-8 verb",
            vec![non_utf8()],
            error(&["the verb is not valid UTF-8"]),
        ),
        case(
            "help with an argument",
            args(&["help", "now"]),
            error(&["`help` takes no argument, got 1"]),
        ),
        case(
            "help with an empty argument",
            args(&["help", ""]),
            error(&["takes no argument"]),
        ),
        case(
            "configs with two arguments",
            args(&["configs", "a", "b"]),
            error(&["`configs` takes no argument, got 2"]),
        ),
        case(
            "configs with --help",
            args(&["configs", "--help"]),
            error(&["takes no argument"]),
        ),
        case(
            "help with a non-UTF-8 argument",
            vec!["help".into(), non_utf8()],
            error(&["takes no argument"]),
        ),
        case(
            "order without a config id",
            args(&["order"]),
            error(&["`order` needs a config id"]),
        ),
        case(
            "order with two config ids",
            args(&["order", "1", "2"]),
            error(&["takes one config id, got 2"]),
        ),
        case(
            "order with an empty config id",
            args(&["order", ""]),
            error(&["`` is not a config id"]),
        ),
        case(
            "order with a huge config id",
            vec!["order".into(), huge().into()],
            error(&["is not a config id", "…"]),
        ),
        case(
            "order with a non-UTF-8 config id",
            vec!["order".into(), non_utf8()],
            error(&["the config id is not valid UTF-8"]),
        ),
        case(
            "order with an unknown config id",
            args(&["order", "99"]),
            error(&["offers no config `99`"]),
        ),
        case(
            "order with a config id of 65 characters",
            args(&["order", &"1".repeat(65)]),
            error(&["is not a config id"]),
        ),
        case(
            "order with a config id with a leading zero",
            args(&["order", "01"]),
            error(&["offers no config `01`"]),
        ),
        case(
            "order with a full-width digit",
            args(&["order", "１"]),
            error(&["is not a config id"]),
        ),
        case(
            "order_status without a task id",
            args(&["order_status"]),
            error(&["`order_status` needs a task id"]),
        ),
        case(
            "order_status with two task ids",
            args(&["order_status", "1", "2"]),
            error(&["takes one task id, got 2"]),
        ),
        case(
            "order_status with an empty task id",
            args(&["order_status", ""]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with a huge task id",
            vec!["order_status".into(), huge().into()],
            error(&["is not a task id", "…"]),
        ),
        case(
            "order_status with a non-UTF-8 task id",
            vec!["order_status".into(), non_utf8()],
            error(&["the task id is not valid UTF-8"]),
        ),
        case(
            "order_status with an unknown task id",
            args(&["order_status", "1795667540109"]),
            error(&["no task `1795667540109`"]),
        ),
        case(
            "order_status with a 64-digit task id",
            args(&["order_status", &"9".repeat(64)]),
            error(&["no task"]),
        ),
        case(
            "order_status with a 65-digit task id",
            args(&["order_status", &"9".repeat(65)]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with task id 0",
            args(&["order_status", "0"]),
            error(&["no task `0`"]),
        ),
        case(
            "order_status with a task id in letters",
            args(&["order_status", "abc"]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with a task file name",
            args(&["order_status", "1.json"]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with an exponent",
            args(&["order_status", "1e5"]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with a plus sign",
            args(&["order_status", "+1"]),
            error(&["is not a task id"]),
        ),
        case(
            "order_status with Arabic-Indic digits",
            args(&["order_status", "١٢"]),
            error(&["is not a task id"]),
        ),
    ];
    for hostile in HOSTILE {
        cases.push(case(
            format!("hostile verb {hostile:?}"),
            args(&[hostile]),
            error(&["unknown verb"]),
        ));
        // A hostile config id is refused by the id rule, or (`1 2`...) not offered.
        cases.push(case(
            format!("order with hostile config id {hostile:?}"),
            args(&["order", hostile]),
            error(&["config"]),
        ));
        cases.push(case(
            format!("order_status with hostile task id {hostile:?}"),
            args(&["order_status", hostile]),
            error(&["is not a task id"]),
        ));
    }
    cases
}

#[test]
fn argv() {
    run_table(cases());
}

/// One operator command line and what it must end with: the exit code, and parts of stderr.
pub struct OperatorCase {
    name: &'static str,
    args: Vec<OsString>,
    code: i32,
    says: Vec<&'static str>,
}

fn operator(
    name: &'static str,
    argv: Vec<OsString>,
    code: i32,
    says: &[&'static str],
) -> OperatorCase {
    OperatorCase {
        name,
        args: argv,
        code,
        says: says.to_vec(),
    }
}

pub fn operator_cases() -> Vec<OperatorCase> {
    vec![
        operator("no command", vec![], 2, &["Usage"]),
        operator(
            "unknown command",
            args(&["frobnicate"]),
            2,
            &["unrecognized subcommand"],
        ),
        operator(
            "unknown flag",
            args(&["--bogus"]),
            2,
            &["unexpected argument"],
        ),
        operator("run without a name", args(&["run"]), 2, &["required"]),
        operator(
            "run without a verb",
            args(&["run", "testhost"]),
            1,
            &["\"error\":1", "no verb given"],
        ),
        operator(
            "run with a non-UTF-8 name",
            vec!["run".into(), non_utf8(), "help".into()],
            2,
            &["UTF-8"],
        ),
        operator(
            "validate a missing file",
            args(&["validate", "/nonexistent/x.yaml"]),
            1,
            &["x.yaml"],
        ),
        operator("validate a folder", args(&["validate", "/"]), 1, &["error"]),
        operator(
            "validate a huge name",
            vec!["validate".into(), huge().into()],
            1,
            &["error"],
        ),
        operator(
            "tasks of a hostile name",
            args(&["tasks", "../../etc"]),
            1,
            &["`../../etc` is not a provider name"],
        ),
        operator(
            "check of a hostile name",
            args(&["check", "../testhost"]),
            1,
            &["`../testhost` is not a provider name"],
        ),
        operator(
            "run of a hostile name",
            args(&["run", "../providers.d/testhost", "help"]),
            1,
            &["\"error\":1", "is not a provider name"],
        ),
        operator(
            "run of an empty name",
            args(&["run", "", "help"]),
            1,
            &["is not a provider name"],
        ),
        operator("tasks without a name", args(&["tasks"]), 2, &["required"]),
        operator(
            "install a hostile name",
            args(&["install", "$(id)", "--root", "/nonexistent"]),
            1,
            &["not a provider name"],
        ),
        operator(
            "uninstall without a name",
            args(&["uninstall"]),
            2,
            &["required"],
        ),
        operator(
            "check an unknown provider",
            args(&["check", "nosuch"]),
            1,
            &["no provider file"],
        ),
        operator(
            "list of a missing root",
            args(&["list", "--root", "/nonexistent"]),
            0,
            &[],
        ),
    ]
}

#[test]
fn operator_argv() {
    let mut failed = Vec::new();
    for case in operator_cases() {
        let plugin = testhost(NOWHERE);
        let outcome = std::panic::catch_unwind(|| check_operator(&plugin, &case));
        if outcome.is_err() {
            eprintln!("^^^ operator case `{}` failed", case.name);
            failed.push(case.name);
        }
    }
    assert!(failed.is_empty(), "operator cases failed: {failed:#?}");
}

/// Plain text, not JSON: a clear message on stderr, the right exit code, no panic.
fn check_operator(plugin: &Plugin, case: &OperatorCase) {
    let output = std::process::Command::new(BIN)
        .args(&case.args)
        .env_clear()
        .envs(plugin.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_no_panic(&stderr);
    assert_eq!(
        output.status.code(),
        Some(case.code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    // `validate` reports on stdout, `run` answers there as the plugin; the rest use stderr.
    let said = format!("{stdout}{stderr}");
    for part in &case.says {
        assert!(said.contains(part), "`{part}` not in: {said}");
    }
    if case.code != 0 {
        assert!(!said.trim().is_empty(), "a failure says why");
    }
}
