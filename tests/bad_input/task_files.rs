//! Task files: truncated, empty, garbage, the wrong JSON, wrong types, another task's file, a
//! file from a newer version, things that are not files, stages that cannot be followed.
//! Each case orders a real task, damages its file, and polls it.

use crate::harness::{Case, Expect, Scene, error, link_to_dev_zero, make_fifo, ordered, run_table};
use crate::raw_hoster::Behaviour;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A poll that would say the server is still being built.
fn building() -> Behaviour {
    Behaviour::json(200, r#"{"server":{"status":"starting","ipv4":null}}"#)
}

fn task_path(scene: &Scene) -> PathBuf {
    let id = scene.args[1].to_str().unwrap();
    scene.plugin.state_dir().join(format!("{id}.json"))
}

/// A case that orders a task, then `damage`s its file, then polls it.
fn with(name: &str, damage: impl Fn(&Path) + 'static, expect: Expect) -> Case {
    Case::new(
        name,
        move || {
            let scene = ordered(building());
            damage(&task_path(&scene));
            scene
        },
        expect,
    )
}

/// A case whose task file holds `bytes`.
fn bytes(name: &str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    let bytes = bytes.into();
    with(
        name,
        move |path| std::fs::write(path, &bytes).unwrap(),
        expect,
    )
}

/// A case whose task file is the real one with `edit` applied to its JSON.
fn edited(name: &str, edit: impl Fn(&mut Value) + 'static, expect: Expect) -> Case {
    with(
        name,
        move |path| {
            let mut json: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            edit(&mut json);
            std::fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        },
        expect,
    )
}

/// The real task file with `key` set to `value`.
fn set(name: &str, key: &'static str, value: Value, expect: Expect) -> Case {
    edited(name, move |json| json[key] = value.clone(), expect)
}

pub fn cases() -> Vec<Case> {
    let damaged = || error(&["is damaged", "restore it from a backup"]);
    vec![
        with(
            "truncated",
            |path| {
                let text = std::fs::read(path).unwrap();
                std::fs::write(path, &text[..text.len() / 2]).unwrap();
            },
            damaged(),
        ),
        bytes("empty", "", damaged()),
        bytes(
            "binary garbage",
            [0u8, 159, 146, 150, 255, 1, 2, 3, 0x7f, 0x80],
            damaged(),
        ),
        bytes("a JSON array", "[]", damaged()),
        bytes("JSON null", "null", damaged()),
        bytes("a JSON string", "\"1795667540109\"", damaged()),
        with(
            "trailing garbage",
            |path| {
                let mut text = std::fs::read(path).unwrap();
                text.extend_from_slice(b"\n}{garbage");
                std::fs::write(path, text).unwrap();
            },
            damaged(),
        ),
        with(
            "invalid UTF-8 in a string",
            |path| {
                let text = std::fs::read(path).unwrap();
                let text = String::from_utf8(text)
                    .unwrap()
                    .replace("pw-abc", "pw-\u{1}");
                let mut bytes = text.into_bytes();
                let at = bytes.iter().position(|b| *b == 1).unwrap();
                bytes[at] = 0xff;
                std::fs::write(path, bytes).unwrap();
            },
            damaged(),
        ),
        set("stage is a number", "stage", json!(5), damaged()),
        set("stage is unknown", "stage", json!("bought"), damaged()),
        set("id is a number", "id", json!(42), damaged()),
        set("created is text", "created", json!("yesterday"), damaged()),
        set("password is null", "password", Value::Null, damaged()),
        set("saved is a list", "saved", json!([]), damaged()),
        with(
            "a saved value nested 10,000 deep",
            |path| {
                let text = std::fs::read_to_string(path).unwrap();
                let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
                let text = text.replacen(
                    "\"saved\": {",
                    &format!("\"saved\": {{\"deep\": {deep},"),
                    1,
                );
                std::fs::write(path, text).unwrap();
            },
            error(&["is damaged", "recursion limit"]),
        ),
        bytes(
            "nested 10,000 deep",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            error(&["is damaged", "recursion limit"]),
        ),
        set(
            "the file holds another task",
            "id",
            json!("1"),
            error(&["is damaged", "it holds task `1`"]),
        ),
        set(
            "from a newer version",
            "format",
            json!(99),
            error(&["newer version", "task format 99"]),
        ),
        set(
            "a field this version does not know",
            "ssh_key",
            json!("ssh-ed25519 AAAA"),
            error(&["newer version", "ssh_key"]),
        ),
        set(
            "another provider's task",
            "provider",
            json!("other"),
            error(&["belongs to provider `other`"]),
        ),
        set(
            "still ordering (the run was interrupted)",
            "stage",
            json!("ordering"),
            error(&[
                "may have been ordered",
                "interrupted",
                "check the hoster's console",
            ]),
        ),
        set(
            "stage unknown",
            "stage",
            json!("unknown"),
            error(&["may have been ordered", "check the hoster's console"]),
        ),
        set(
            "refused",
            "stage",
            json!("refused"),
            error(&["refused", "nothing was bought"]),
        ),
        edited(
            "finished without a server",
            |json| {
                json["stage"] = json!("finished");
                json["server"] = Value::Null;
                json["server_password"] = json!("pw-abc");
            },
            damaged(),
        ),
        edited(
            "finished at 0.0.0.0",
            |json| {
                json["stage"] = json!("finished");
                json["server"] = json!("0.0.0.0");
                json["server_password"] = json!("pw-abc");
            },
            damaged(),
        ),
        edited(
            "finished without a password",
            |json| {
                json["stage"] = json!("finished");
                json["server"] = json!("203.0.113.7");
                json["server_password"] = json!("");
            },
            damaged(),
        ),
        edited(
            "finished with a line break in the password",
            |json| {
                json["stage"] = json!("finished");
                json["server"] = json!("203.0.113.7");
                json["server_password"] = json!("x\ntouch\t/tmp/pwned");
            },
            damaged(),
        ),
        edited(
            "finished at 127.0.0.1 spelled 0x7f.1",
            |json| {
                json["stage"] = json!("finished");
                json["server"] = json!("0x7f.1");
                json["server_password"] = json!("pw-abc");
            },
            damaged(),
        ),
        set(
            "a 20 MB saved value",
            "saved",
            json!({"server_id": 42, "note": "x".repeat(20_000_000)}),
            Expect::Says("in_progress"),
        ),
        with(
            "a folder",
            |path| {
                std::fs::remove_file(path).unwrap();
                std::fs::create_dir(path).unwrap();
            },
            error(&["cannot read the task", "a directory"]),
        ),
        with(
            "a FIFO",
            make_fifo,
            error(&["cannot read the task", "a FIFO"]),
        ),
        with(
            "a symlink to /dev/zero",
            link_to_dev_zero,
            error(&["cannot read the task", "symbolic link", "does not follow"]),
        ),
        with(
            "a symlink loop",
            |path| {
                std::fs::remove_file(path).unwrap();
                std::os::unix::fs::symlink(path, path).unwrap();
            },
            error(&["cannot read the task", "symbolic link"]),
        ),
        with(
            "a symlink to another file",
            |path| {
                let other = path.with_extension("txt");
                std::fs::write(&other, "not a task\n").unwrap();
                std::fs::remove_file(path).unwrap();
                std::os::unix::fs::symlink(&other, path).unwrap();
            },
            error(&["cannot read the task", "symbolic link", "does not follow"]),
        ),
        with(
            "gone",
            |path| std::fs::remove_file(path).unwrap(),
            error(&["no task"]),
        ),
    ]
}

#[test]
fn task_files() {
    run_table(cases());
}
