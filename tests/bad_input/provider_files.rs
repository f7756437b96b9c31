//! Provider files: broken YAML, wrong types for every major key, unknown keys, empty, huge,
//! alias bombs, deep nesting, bytes that are not UTF-8, and things that are not files.

use crate::common::{Plugin, fixture};
use crate::harness::{
    Case, Expect, NOWHERE, Scene, args, error, link_to_dev_zero, make_fifo, run_table, testhost,
};

fn good() -> String {
    fixture("providers/testhost.yaml")
}

/// A case whose provider file is `bytes`, run with `help`.
fn file(name: &str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    file_for(name, bytes, &["help"], expect)
}

/// A case whose provider file is `bytes`, run with `verb`.
fn file_for(name: &str, bytes: impl Into<Vec<u8>>, verb: &[&str], expect: Expect) -> Case {
    let bytes = bytes.into();
    with(
        name,
        move |p| std::fs::write(p.provider_file(), &bytes).unwrap(),
        verb,
        expect,
    )
}

/// A case whose provider file is the good one with `from` replaced by `to`.
fn replaced(name: &str, from: &str, to: &str, expect: Expect) -> Case {
    replaced_for(name, from, to, &["help"], expect)
}

/// Like [`replaced`], run with `verb`: `help` compiles no template (it says whether the
/// provider is enabled, and is called for every provider on every page), so a problem in a
/// section shows in the verb that uses it, and in `validate`.
fn replaced_for(name: &str, from: &str, to: &str, verb: &[&str], expect: Expect) -> Case {
    let text = good();
    assert!(
        text.contains(from),
        "{name}: `{from}` is not in the fixture"
    );
    file_for(name, text.replacen(from, to, 1), verb, expect)
}

/// A case whose provider file `change` alters after the good one is installed, run with `verb`.
fn with(name: &str, change: impl Fn(&Plugin) + 'static, verb: &[&str], expect: Expect) -> Case {
    let verb: Vec<String> = verb.iter().map(|s| s.to_string()).collect();
    Case::new(
        name,
        move || {
            let plugin = testhost(NOWHERE);
            change(&plugin);
            let verb: Vec<&str> = verb.iter().map(String::as_str).collect();
            Scene::new(plugin, args(&verb))
        },
        expect,
    )
}

/// The classic "billion laughs", under `settings` (which takes any value): each alias level
/// multiplies the one before by ten, a billion strings at the last.
fn alias_bomb() -> String {
    let mut text = good().replacen("settings:\n", "settings:\n  a0: &a0 [\"lol\"]\n", 1);
    let mut levels = String::new();
    for level in 1..10 {
        let list = vec![format!("*a{}", level - 1); 10].join(", ");
        levels.push_str(&format!("  a{level}: &a{level} [{list}]\n"));
    }
    text = text.replacen("  region: fsn1\n", &format!("{levels}  region: fsn1\n"), 1);
    text
}

/// The good file with `value` as one more setting.
fn with_setting(value: &str) -> String {
    good().replacen("settings:\n", &format!("settings:\n  extra: {value}\n"), 1)
}

pub fn cases() -> Vec<Case> {
    let at = "testhost.yaml:";
    vec![
        file("empty file", "", error(&[at])),
        file("only a comment", "# nothing here\n", error(&[at])),
        file("only whitespace", "\n\n   \n", error(&[at])),
        file("a null document", "~\n", error(&[at])),
        file(
            "a list instead of a map",
            "- name: testhost\n",
            error(&[at]),
        ),
        file("a scalar instead of a map", "testhost\n", error(&[at])),
        file(
            "unclosed flow list",
            "name: testhost\napi: [unclosed\n",
            error(&[at]),
        ),
        file(
            "unclosed quote",
            "name: \"testhost\napi: {}\n",
            error(&[at]),
        ),
        replaced(
            "tab indentation",
            "  base_url:",
            "\tbase_url:",
            error(&[at]),
        ),
        replaced("bad indentation", "  auth:", "    auth:", error(&[at])),
        file(
            "two documents",
            format!("{}---\nname: other\n", good()),
            error(&[at]),
        ),
        file(
            "non-UTF-8 bytes",
            [good().as_bytes(), b"# \xff\xfe\n"].concat(),
            error(&["testhost.yaml", "UTF-8"]),
        ),
        file(
            "a byte order mark",
            format!("\u{feff}{}", good()),
            Expect::Says("enabled"),
        ),
        file(
            "CRLF line ends",
            good().replace('\n', "\r\n"),
            Expect::Says("enabled"),
        ),
        replaced(
            "name of another provider",
            "name: testhost",
            "name: other",
            error(&[at, "other"]),
        ),
        replaced(
            "name is a list",
            "name: testhost",
            "name: [testhost]",
            error(&[at]),
        ),
        replaced(
            "status is not a status",
            "name: testhost",
            "name: testhost\nstatus: maybe",
            error(&[at, "maybe"]),
        ),
        replaced(
            "secrets is a string",
            "secrets:\n  token:\n    env: TESTHOST_TOKEN",
            "secrets: token",
            error(&[at]),
        ),
        replaced(
            "settings is a list",
            "settings:\n  region: fsn1\n  image: rocky-9",
            "settings: [fsn1, rocky-9]",
            error(&[at]),
        ),
        replaced(
            "api is a string",
            "api:\n",
            "api: x\nold_api:\n",
            error(&[at]),
        ),
        replaced(
            "base_url is a number",
            "base_url: https://api.testhost.invalid/v1",
            "base_url: 5",
            error(&[at]),
        ),
        replaced(
            "base_url is not a URL",
            "base_url: https://api.testhost.invalid/v1",
            "base_url: \"not a url\"",
            error(&[at]),
        ),
        replaced(
            "deadline is text",
            "deadline_seconds: 3",
            "deadline_seconds: soon",
            error(&[at]),
        ),
        replaced(
            "deadline is negative",
            "deadline_seconds: 3",
            "deadline_seconds: -1",
            error(&[at]),
        ),
        replaced(
            "deadline is huge",
            "deadline_seconds: 3",
            "deadline_seconds: 99999999999999999999999",
            error(&[at]),
        ),
        replaced(
            "deadline is a float",
            "deadline_seconds: 3",
            "deadline_seconds: 2.5",
            error(&[at]),
        ),
        replaced(
            "auth is a list",
            "  auth:\n    bearer: \"{{secrets.token}}\"",
            "  auth: [\"{{secrets.token}}\"]",
            error(&[at]),
        ),
        replaced(
            "configs is a number",
            "configs:\n  static:",
            "configs: 7\nold_configs:\n  static:",
            error(&[at]),
        ),
        replaced(
            "static configs is a map",
            "  static:\n    - id: \"1\"",
            "  static:\n    one:\n      id: \"1\"",
            error(&[at]),
        ),
        replaced(
            "a config id is a list",
            "id: \"1\"",
            "id: [1]",
            error(&[at]),
        ),
        replaced_for(
            "a config id is hostile",
            "id: \"1\"",
            "id: \"1; rm -rf /\"",
            &["configs"],
            error(&[at]),
        ),
        replaced_for(
            "two configs share an id",
            "id: \"2\"",
            "id: \"1\"",
            &["configs"],
            error(&[at]),
        ),
        replaced(
            "order steps is a string",
            "order:\n  steps:\n",
            "order:\n  steps: x\n  old_steps:\n",
            error(&[at]),
        ),
        replaced(
            "order steps is empty",
            "order:\n  steps:\n",
            "order:\n  steps: []\n  old_steps:\n",
            error(&[at]),
        ),
        replaced(
            "unknown method",
            "method: POST",
            "method: FETCH",
            error(&[at, "FETCH"]),
        ),
        replaced(
            "extract is a number",
            "      extract:\n        server_id: $.server.id\n        root_password: $.root_password",
            "      extract: 5",
            error(&[at]),
        ),
        replaced(
            "status map is a list",
            "    map:\n",
            "    map: []\n    old_map:\n",
            error(&[at]),
        ),
        replaced(
            "a status maps to nonsense",
            "running: finished",
            "running: done",
            error(&[at, "done"]),
        ),
        replaced(
            "unknown top-level key",
            "name: testhost",
            "name: testhost\nnmae: testhost",
            error(&[at, "nmae"]),
        ),
        replaced(
            "unknown key in api",
            "  deadline_seconds: 3",
            "  deadline_seconds: 3\n  dedline: 4",
            error(&[at, "dedline"]),
        ),
        replaced(
            "duplicate key",
            "name: testhost",
            "name: testhost\nname: testhost",
            error(&[at, "duplicate"]),
        ),
        replaced_for(
            "a template that does not parse",
            "bx-{{task.id}}",
            "bx-{{task.id",
            &["order", "1"],
            error(&[at]),
        ),
        replaced_for(
            "a template naming an undeclared secret",
            "{{secrets.token}}",
            "{{secrets.tokn}}",
            // The first verb that sends a request: a written-out menu sends none and, like
            // `help`, compiles no API template.
            &["order", "1"],
            error(&[at, "tokn"]),
        ),
        replaced(
            "an anchor under an unknown key",
            "settings:\n",
            "base: &base { region: fsn1 }\nsettings:\n  <<: *base\n",
            error(&[at, "unknown field `base`"]),
        ),
        file(
            "a YAML merge key in settings",
            with_setting("{ <<: { a: 1 } }"),
            Expect::Says("enabled"),
        ),
        // A tag on a scalar is ignored: the value is what counts.
        replaced(
            "an unknown YAML tag",
            "name: testhost",
            "name: !secret testhost",
            Expect::Says("enabled"),
        ),
        file(
            "an alias bomb",
            alias_bomb(),
            error(&[at, "repetition limit exceeded"]),
        ),
        file(
            "an alias to nothing",
            with_setting("*nothing"),
            error(&[at, "unknown anchor"]),
        ),
        file(
            "lists nested 10,000 deep",
            with_setting(&format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000))),
            error(&[at, "recursion limit"]),
        ),
        file(
            "maps nested 10,000 deep",
            with_setting(&format!("{}1{}", "{a: ".repeat(10_000), "}".repeat(10_000))),
            error(&[at, "recursion limit"]),
        ),
        file(
            "block maps nested 10,000 deep",
            with_setting(
                &(1..10_000)
                    .map(|d| format!("\n{}k:", " ".repeat(2 + d)))
                    .collect::<String>(),
            ),
            error(&[at, "recursion limit"]),
        ),
        file(
            "a 50 MB file of comments",
            format!(
                "{}{}",
                good(),
                "# padding padding padding padding padding padding padding\n".repeat(900_000)
            ),
            Expect::Says("enabled"),
        ),
        file(
            "a 50 MB value",
            with_setting(&"x".repeat(50_000_000)),
            Expect::Says("enabled"),
        ),
        file(
            "a 50 MB unknown key",
            format!("{}note: {}\n", good(), "x".repeat(50_000_000)),
            error(&[at, "unknown field `note`"]),
        ),
        with(
            "a folder instead of a file",
            |p| {
                std::fs::remove_file(p.provider_file()).unwrap();
                std::fs::create_dir(p.provider_file()).unwrap();
            },
            &["help"],
            error(&["testhost.yaml", "a directory, not a regular file"]),
        ),
        with(
            "a FIFO",
            |p| make_fifo(&p.provider_file()),
            &["help"],
            error(&["testhost.yaml", "a FIFO, not a regular file"]),
        ),
        with(
            "a symlink to /dev/zero",
            |p| link_to_dev_zero(&p.provider_file()),
            &["configs"],
            error(&["testhost.yaml", "a device, not a regular file"]),
        ),
        with(
            "a symlink loop",
            |p| {
                std::fs::remove_file(p.provider_file()).unwrap();
                std::os::unix::fs::symlink(p.provider_file(), p.provider_file()).unwrap();
            },
            &["help"],
            error(&["testhost.yaml"]),
        ),
        with(
            "a dangling symlink",
            |p| {
                std::fs::remove_file(p.provider_file()).unwrap();
                std::os::unix::fs::symlink("/nonexistent/x.yaml", p.provider_file()).unwrap();
            },
            &["help"],
            error(&["no provider file"]),
        ),
        with(
            "no file at all",
            |p| std::fs::remove_file(p.provider_file()).unwrap(),
            &["help"],
            error(&["no provider file", "VPS_PROVIDER_DIR"]),
        ),
        // Root reads a file whatever its mode, and the tests run as root here: the file is
        // read. Run as another user, it cannot be, and that is an error naming it.
        with(
            "mode 000",
            |p| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p.provider_file(), std::fs::Permissions::from_mode(0o000))
                    .unwrap();
            },
            &["help"],
            if is_root() {
                Expect::Says("enabled")
            } else {
                error(&["testhost.yaml", "denied"])
            },
        ),
    ]
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn provider_files() {
    run_table(cases());
}
