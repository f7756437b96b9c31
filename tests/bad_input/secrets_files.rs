//! Secrets files: missing, empty, readable by others, not a file, lines that are not
//! `name=value`, duplicates, huge, not UTF-8, CRLF, values with `=` or nothing in them.

use crate::common::Plugin;
use crate::harness::{
    Case, Expect, NOWHERE, Scene, TOKEN, args, error, make_fifo, run_table, testhost,
};
use std::os::unix::fs::PermissionsExt;

/// A case whose secrets file `change` alters after the good one (`token=...`, 0600) is written.
fn with(
    name: &str,
    verb: &'static [&'static str],
    change: impl Fn(&Plugin) + 'static,
    expect: Expect,
) -> Case {
    Case::new(
        name,
        move || {
            let plugin = testhost(NOWHERE);
            change(&plugin);
            Scene::new(plugin, args(verb))
        },
        expect,
    )
}

/// A case whose secrets file holds `bytes` (mode 0600), run with `help`.
fn text(name: &str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    let bytes = bytes.into();
    with(
        name,
        &["help"],
        move |p| std::fs::write(p.secrets_path(), &bytes).unwrap(),
        expect,
    )
}

fn mode(name: &str, mode: u32) -> Case {
    with(
        name,
        &["help"],
        move |p| {
            std::fs::set_permissions(p.secrets_path(), std::fs::Permissions::from_mode(mode))
                .unwrap()
        },
        error(&["testhost.conf", "readable by others", "chmod 600"]),
    )
}

pub fn cases() -> Vec<Case> {
    let at = "testhost.conf:";
    let token = format!("token={TOKEN}\n");
    vec![
        with(
            "missing",
            &["help"],
            |p| std::fs::remove_file(p.secrets_path()).unwrap(),
            Expect::Says("disabled"),
        ),
        with(
            "missing, and an order",
            &["order", "1"],
            |p| std::fs::remove_file(p.secrets_path()).unwrap(),
            error(&["secret `token` missing", "testhost.conf"]),
        ),
        text("empty", "", Expect::Says("disabled")),
        text("only comments", "# token=\n", Expect::Says("disabled")),
        mode("readable by all (0644)", 0o644),
        mode("readable by the group (0640)", 0o640),
        mode("readable by others only (0604)", 0o604),
        mode("writable by the group (0620)", 0o620),
        // Root reads it whatever the mode: a private file is a private file.
        with(
            "mode 000",
            &["help"],
            |p| {
                std::fs::set_permissions(p.secrets_path(), std::fs::Permissions::from_mode(0o000))
                    .unwrap()
            },
            if crate::provider_files::is_root() {
                Expect::Says("enabled")
            } else {
                error(&["testhost.conf"])
            },
        ),
        with(
            "a folder",
            &["help"],
            |p| {
                std::fs::remove_file(p.secrets_path()).unwrap();
                std::fs::create_dir(p.secrets_path()).unwrap();
                std::fs::set_permissions(p.secrets_path(), std::fs::Permissions::from_mode(0o700))
                    .unwrap();
            },
            error(&["testhost.conf", "a directory"]),
        ),
        with(
            "a FIFO",
            &["configs"],
            |p| make_fifo(&p.secrets_path()),
            error(&["testhost.conf", "a FIFO, not a regular file"]),
        ),
        with(
            "a symlink loop",
            &["help"],
            |p| {
                std::fs::remove_file(p.secrets_path()).unwrap();
                std::os::unix::fs::symlink(p.secrets_path(), p.secrets_path()).unwrap();
            },
            error(&["testhost.conf"]),
        ),
        text(
            "a line without =",
            format!("{token}just-a-secret-value\n"),
            error(&["testhost.conf:2:1", "not `name=value`"]),
        ),
        text("a line that is only =", format!("{token}=\n"), error(&[at])),
        text(
            "a name with a space",
            format!("{token}my token=x\n"),
            error(&[at]),
        ),
        text(
            "an unknown name",
            format!("{token}regoin=nbg1\n"),
            error(&[at, "did you mean `region`"]),
        ),
        text(
            "the same name twice",
            format!("{token}token=other\n"),
            error(&["testhost.conf:2:1", "`token` is set twice", "line 1"]),
        ),
        text(
            "a huge file of comments",
            format!(
                "{token}{}",
                "# a comment line of the secrets file\n".repeat(300_000)
            ),
            Expect::Says("enabled"),
        ),
        text(
            "a huge value",
            format!("token={}\n", "t".repeat(5_000_000)),
            Expect::Says("enabled"),
        ),
        text(
            "non-UTF-8 bytes",
            [token.as_bytes(), b"region=\xff\xfe\n"].concat(),
            error(&["testhost.conf", "UTF-8"]),
        ),
        text(
            "CRLF line ends",
            token.replace('\n', "\r\n") + "region=nbg1\r\n",
            Expect::Says("enabled"),
        ),
        text(
            "a byte order mark",
            format!("\u{feff}{token}"),
            Expect::Says("enabled"),
        ),
        text(
            "a secret with = in it",
            "token=abc=def==\n",
            Expect::Says("enabled"),
        ),
        text("an empty secret", "token=\n", Expect::Says("disabled")),
        text(
            "an empty quoted secret",
            "token=\"\"\n",
            Expect::Says("disabled"),
        ),
        text(
            "unbalanced quotes",
            "token=\"abc\n",
            Expect::Says("enabled"),
        ),
        // A setting keeps the type of its default: text stays text, even `[1, 2]`.
        text(
            "a list for a text setting",
            format!("{token}region=[1, 2]\n"),
            Expect::Says("enabled"),
        ),
        text(
            "an empty setting",
            format!("{token}region=\n"),
            Expect::Says("enabled"),
        ),
    ]
}

#[test]
fn secrets_files() {
    run_table(cases());
}
