//! The site's trace log (`log=NAME` in the secrets file, in `$VPS_PROVIDER_LOG_DIR`), run
//! through the panel's symlink: it is made 0600 and marked as ours, grows run after run, one
//! record a line whatever the hoster or argv hold; and it is never written through a symlink,
//! into a file this program did not make, or into a folder others can write to. The verb
//! answers the same whether the log was written or not.

mod common;

use common::{Plugin, fixture};
use mockito::{Server, ServerGuard};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The first line of every log vps-provider makes (`trace::LOG_MARKER`).
const MARKER: &str = "# vps-provider trace log: written by vps-provider only\n";

/// Some text that is not ours, as a copy of a system file would be.
const FOREIGN: &str = "root:x:0:0:root:/root:/bin/bash\n";

/// The testhost plugin, logging to `log=testhost.log` in folder `dir`, and a hoster that
/// answers orders with `status` and `body`.
fn answered(dir: &Path, status: usize, body: &str) -> (Plugin, ServerGuard) {
    let mut server = Server::new();
    server
        .mock("POST", "/servers")
        .with_status(status)
        .with_body(body)
        .create();
    let plugin = Plugin::new(
        "testhost",
        &fixture("providers/testhost.yaml"),
        &server.url(),
    )
    .secrets("token=tok-secret-123\nlog=testhost.log\n")
    .with_env("VPS_PROVIDER_LOG_DIR", dir.to_str().unwrap());
    (plugin, server)
}

/// [`answered`] by a hoster that takes orders.
fn logging_to(dir: &Path) -> (Plugin, ServerGuard) {
    answered(dir, 201, r#"{"server":{"id":42}}"#)
}

/// A folder of `plugin`'s temporary tree, made with `mode`.
fn folder(plugin: &Plugin, name: &str, mode: u32) -> PathBuf {
    let path = plugin.root.path().join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Orders through the symlink and checks the panel got its task.
fn order(plugin: &Plugin) {
    common::task_id(&plugin.run(&["order", "1"]));
}

#[test]
fn a_fresh_log_is_0600_marked_as_ours_and_grows_on_the_next_run() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let (plugin, _server) = logging_to(&dir);
    order(&plugin);
    assert_eq!(mode(&dir), 0o700, "the missing log folder is made 0700");
    let log = dir.join("testhost.log");
    assert_eq!(mode(&log), 0o600);
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.starts_with(MARKER), "{first}");
    assert!(
        first.contains("> POST ") && first.contains("< 201 for POST"),
        "{first}"
    );
    assert!(!first.contains("tok-secret-123"), "{first}");

    order(&plugin);
    let second = std::fs::read_to_string(&log).unwrap();
    assert!(
        second.len() > first.len() && second.starts_with(&first),
        "{second}"
    );
    assert_eq!(second.matches(MARKER).count(), 1, "{second}");
    assert_eq!(mode(&log), 0o600);
}

#[test]
fn newlines_from_the_hoster_and_argv_stay_inside_one_record() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let injected = "\n* * * * * root touch /tmp/owned\r\n\u{1b}[2J\u{2028}next";
    let (plugin, _server) = answered(&dir, 422, &format!("refused{injected}"));
    common::assert_error_says(&plugin.run(&["order", "1"]), &["422"]);
    let bad_config = format!("1{injected}");
    let bad = plugin.run(&["order", &bad_config]);
    assert!(bad.error_message().contains("is not a config id"));

    let log = std::fs::read_to_string(dir.join("testhost.log")).unwrap();
    for line in log.lines() {
        assert!(
            ["# ", "> ", "< "].iter().any(|mark| line.starts_with(mark)),
            "a record of its own: {line:?} in\n{log}"
        );
    }
    assert!(
        !log.contains(['\r', '\u{1b}', '\u{2028}']),
        "raw control characters: {log:?}"
    );
    let escaped = r"\n* * * * * root touch /tmp/owned\r\n\x1b[2J\u{2028}next";
    assert!(
        log.contains(&format!("< refused{escaped}")),
        "the body, escaped: {log}"
    );
    assert!(
        log.contains(&format!("order 1{escaped}")),
        "the argv, escaped: {log}"
    );
}

#[test]
fn a_symlinked_log_folder_or_parent_folder_is_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let real = root.path().join("real");
    std::fs::create_dir_all(real.join("logs")).unwrap();
    for path in [&real, &real.join("logs")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let link = root.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    for dir in [link.clone(), link.join("logs")] {
        let (plugin, _server) = logging_to(&dir);
        order(&plugin);
        assert_eq!(
            std::fs::read_dir(&real).unwrap().count(),
            1,
            "nothing was made through {}",
            dir.display()
        );
        assert_eq!(std::fs::read_dir(real.join("logs")).unwrap().count(), 0);
    }
}

#[test]
fn a_file_this_program_did_not_make_is_left_as_it_is() {
    let (plugin, _server) = logging_to(Path::new("/unused"));
    let dir = folder(&plugin, "logs", 0o700);
    let elsewhere = folder(&plugin, "elsewhere", 0o700);
    let plugin = plugin.with_env("VPS_PROVIDER_LOG_DIR", dir.to_str().unwrap());
    let log = dir.join("testhost.log");
    let ours = format!("{MARKER}# an earlier run\n");
    // Each case: what is at the log's place, made by `make`, and the file to watch.
    let cases: [(&str, &dyn Fn() -> PathBuf); 5] = [
        ("a readable copy of a system file", &|| {
            std::fs::write(&log, FOREIGN).unwrap();
            std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
            log.clone()
        }),
        ("a private file without the marker", &|| {
            std::fs::write(&log, FOREIGN).unwrap();
            std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
            log.clone()
        }),
        ("a marked file that others can read", &|| {
            std::fs::write(&log, &ours).unwrap();
            std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).unwrap();
            log.clone()
        }),
        ("a symlink to a marked private file", &|| {
            let target = elsewhere.join("target");
            std::fs::write(&target, &ours).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::symlink(&target, &log).unwrap();
            target
        }),
        ("a hard link to a marked private file", &|| {
            let target = elsewhere.join("target");
            std::fs::write(&target, &ours).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::hard_link(&target, &log).unwrap();
            target
        }),
    ];
    for (what, make) in cases {
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_file(elsewhere.join("target"));
        let watched = make();
        let (before, mode_before) = (std::fs::read(&watched).unwrap(), mode(&watched));
        order(&plugin);
        assert_eq!(std::fs::read(&watched).unwrap(), before, "{what}: changed");
        assert_eq!(mode(&watched), mode_before, "{what}: its mode changed");
    }
}

#[test]
fn a_log_folder_others_can_write_to_or_not_ours_is_not_used() {
    let (mut plugin, _server) = logging_to(Path::new("/unused"));
    for (name, mode) in [("group", 0o770), ("others", 0o703), ("sticky", 0o1777)] {
        let dir = folder(&plugin, name, mode);
        plugin = plugin.with_env("VPS_PROVIDER_LOG_DIR", dir.to_str().unwrap());
        order(&plugin);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "a {mode:o} folder was written to"
        );
    }
    // A private folder of someone else's (`nobody`).
    let dir = folder(&plugin, "theirs", 0o700);
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let plugin = plugin.with_env("VPS_PROVIDER_LOG_DIR", dir.to_str().unwrap());
    order(&plugin);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn log_takes_a_file_name_only_and_no_provider_may_declare_it() {
    let root = tempfile::tempdir().unwrap();
    let (mut plugin, _server) = logging_to(root.path());
    for value in ["../../etc/cron.d/x", "/etc/passwd", "a/b", ".hidden"] {
        plugin = plugin.secrets(&format!("token=tok-secret-123\nlog={value}\n"));
        let run = plugin.run(&["order", "1"]);
        let message = run.error_message();
        assert!(
            message.contains("testhost.conf:2:1: `log=` must be a file name in"),
            "{message}"
        );
    }
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);

    for (section, declared) in [("secrets", "  log: {}\n"), ("settings", "  log: x.log\n")] {
        let yaml = fixture("providers/testhost.yaml")
            .replace(&format!("{section}:\n"), &format!("{section}:\n{declared}"));
        let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9");
        let validate = plugin.operator(&["validate", "testhost"]);
        let stdout = String::from_utf8_lossy(&validate.stdout);
        assert!(!validate.status.success(), "{stdout}");
        assert!(
            stdout.contains("`log` is a reserved name")
                && stdout.contains(&format!("`{section}.log`")),
            "{stdout}"
        );
    }
}
