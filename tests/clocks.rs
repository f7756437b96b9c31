//! Clocks cannot delete servers: a give-up needs both the wall clock and the boot-time clock
//! to say the time has passed (moved here by editing the task's record, or by the debug
//! build's `VPS_PROVIDER_FAKE_CLOCK_SKEW` / `VPS_PROVIDER_FAKE_BOOT_SKEW`), and task ids keep
//! increasing when the clock goes back.

mod common;

use common::{Plugin, fixture};
use mockito::{Mock, Server, ServerGuard};
use serde_json::{Value, json};

/// testhost.yaml, given up after 30 minutes, deleting a failed server.
fn yaml() -> String {
    fixture("providers/testhost.yaml")
        + "  give_up_after_minutes: 30\ncleanup:\n  steps:\n    - request: { method: DELETE, path: \"/servers/{{task.hoster_id}}\" }\n"
}

/// A hoster that took the order of server 42 and is still building it; the DELETE mock.
fn building(deletes: usize) -> (ServerGuard, Plugin, String, Mock) {
    let mut server = Server::new();
    let plugin = Plugin::new("testhost", &yaml(), &server.url()).secrets("token=tok-clock-1\n");
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string())
        .create();
    server
        .mock("GET", "/servers/42")
        .with_body(json!({"server": {"id": 42, "status": "initializing"}}).to_string())
        .create();
    let delete = server
        .mock("DELETE", "/servers/42")
        .with_status(204)
        .expect(deletes)
        .create();
    let task_id = common::task_id(&plugin.run(&["order", "1"]));
    (server, plugin, task_id, delete)
}

fn edit_task(plugin: &Plugin, task_id: &str, edit: impl FnOnce(&mut Value)) {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    let mut task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut task);
    std::fs::write(&path, task.to_string()).unwrap();
}

fn task_file(plugin: &Plugin, task_id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{task_id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn poll_status(plugin: &Plugin, task_id: &str) -> String {
    let run = plugin.run(&["order_status", task_id]);
    run.ok()["status"].as_str().unwrap().to_owned()
}

#[test]
fn a_wall_clock_45_minutes_ahead_deletes_nothing() {
    let (_server, plugin, task_id, delete) = building(0);
    // As the wall clock read 45 minutes later: the record's wall-clock time moves back.
    edit_task(&plugin, &task_id, |task| {
        task["created"] = json!(task["created"].as_u64().unwrap() - 45 * 60);
    });
    assert_eq!(poll_status(&plugin, &task_id), "in_progress");
    // The same through the debug build's fake skew of the wall clock.
    let ahead = plugin.with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "2700");
    assert_eq!(poll_status(&ahead, &task_id), "in_progress");
    assert_eq!(task_file(&ahead, &task_id)["stage"], "ordered");
    delete.assert();
}

#[test]
fn both_clocks_past_the_limit_give_up_and_delete_once() {
    let (_server, plugin, task_id, delete) = building(1);
    let late = plugin
        .with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "2700")
        .with_env("VPS_PROVIDER_FAKE_BOOT_SKEW", "2700");
    let run = late.run(&["order_status", &task_id]);
    common::assert_failed(
        &run,
        &task_id,
        &[
            "45 minutes",
            "given up after 30 minutes",
            "the server was deleted",
        ],
    );
    assert_eq!(late.run(&["order_status", &task_id]).ok(), run.ok());
    delete.assert();
}

#[test]
fn after_a_reboot_the_give_up_starts_again_from_the_first_poll() {
    let (_server, plugin, task_id, delete) = building(0);
    // Recorded in another boot, long ago by both of that boot's clocks.
    edit_task(&plugin, &task_id, |task| {
        task["created"] = json!(task["created"].as_u64().unwrap() - 45 * 60);
        task["boot"]["boot_id"] = json!("an-earlier-boot");
    });
    assert_eq!(poll_status(&plugin, &task_id), "in_progress");
    let mark = task_file(&plugin, &task_id)["boot"].clone();
    assert_ne!(mark["boot_id"], "an-earlier-boot", "marked with this boot");
    // Within this boot the clock now counts, from that poll.
    let later = plugin.with_env("VPS_PROVIDER_FAKE_BOOT_SKEW", "600");
    assert_eq!(poll_status(&later, &task_id), "in_progress");
    assert_eq!(task_file(&later, &task_id)["boot"], mark);
    delete.assert();
}

#[test]
fn a_task_file_without_boot_mark_still_loads_and_polls() {
    let (_server, plugin, task_id, delete) = building(0);
    edit_task(&plugin, &task_id, |task| {
        task.as_object_mut().unwrap().remove("boot");
    });
    assert_eq!(poll_status(&plugin, &task_id), "in_progress");
    assert!(task_file(&plugin, &task_id)["boot"]["secs"].is_i64());
    delete.assert();
}

#[test]
fn task_ids_keep_increasing_when_the_clock_goes_back() {
    let (_server, plugin, task_id, _delete) = building(0);
    // A task recorded while the clock read a day ahead.
    let ahead = (task_id.parse::<u128>().unwrap() + 86_400_000).to_string();
    std::fs::copy(
        plugin.state_dir().join(format!("{task_id}.json")),
        plugin.state_dir().join(format!("{ahead}.json")),
    )
    .unwrap();
    edit_task(&plugin, &ahead, |task| task["id"] = json!(ahead));
    let next = common::task_id(&plugin.run(&["order", "1"]));
    assert!(
        next.parse::<u128>().unwrap() > ahead.parse::<u128>().unwrap(),
        "{next} after {ahead}"
    );
    let back = plugin.with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "-86400");
    let after = common::task_id(&back.run(&["order", "1"]));
    assert!(after.parse::<u128>().unwrap() > next.parse::<u128>().unwrap());
}
