//! The README's first command, `vps-provider demo`, kept true: it runs the panel's whole
//! conversation against its built-in mock hoster and ends with a finished server.

mod common;

#[test]
fn the_demo_runs_the_whole_conversation() {
    let output = std::process::Command::new(common::BIN)
        .arg("demo")
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for verb in [" help\n", " configs\n", " order 1\n", " order_status "] {
        assert!(stdout.contains(verb), "the demo shows `{verb}`: {stdout}");
    }
    assert!(stdout.contains("\"status\":\"in_progress\""), "{stdout}");
    assert!(
        stdout.contains("\"status\":\"finished\",\"server\":\"192.0.2.10\""),
        "{stdout}"
    );
}
