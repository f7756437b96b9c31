//! Many runs at once, as a busy panel makes them: 100 `order` and 100 `order_status` runs of
//! one provider started together against one loopback mock hoster. Every order gets a task of
//! its own whose file is whole, every answer is the one for its own task, and no temporary
//! file is left behind.

mod common;

use common::{Plugin, fixture, parse_run};
use mockito::{Matcher, Server};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const ORDERS: usize = 100;
const POLLS: usize = 100;
/// Tasks ordered before the crowd arrives, so the polls have something to ask about.
const EARLIER_TASKS: usize = 10;

/// The address the mock gives server `id`.
fn address_of(id: u64) -> String {
    format!("10.0.{}.{}", id / 256, id % 256)
}

#[test]
fn a_hundred_orders_and_a_hundred_polls_at_once() {
    let mut server = Server::new();
    // The testhost file with room for 200 processes on a small machine.
    let yaml =
        fixture("providers/testhost.yaml").replace("deadline_seconds: 3", "deadline_seconds: 120");
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets("token=tok-secret-123\n");

    // Each order gets the next server id; the hoster keeps the name it was asked for.
    let next_id = Arc::new(AtomicU64::new(1));
    let names = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (counter, seen) = (next_id.clone(), names.clone());
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body_from_request(move |request| {
            let body: Value = serde_json::from_slice(request.body().unwrap()).unwrap();
            seen.lock()
                .unwrap()
                .push(body["name"].as_str().unwrap().to_owned());
            let id = counter.fetch_add(1, Ordering::SeqCst);
            json!({"server": {"id": id}, "root_password": format!("Hoster-Pw-{id}")})
                .to_string()
                .into_bytes()
        })
        .create();
    server
        .mock("GET", Matcher::Regex(r"^/servers/\d+$".into()))
        .with_body_from_request(|request| {
            let id: u64 = request.path().rsplit('/').next().unwrap().parse().unwrap();
            json!({"server": {"id": id, "status": "running", "ipv4": address_of(id)}})
                .to_string()
                .into_bytes()
        })
        .create();

    let earlier: Vec<String> = (0..EARLIER_TASKS)
        .map(|_| common::task_id(&plugin.run(&["order", "1"])))
        .collect();

    // Start everything, then wait for everything.
    let orders: Vec<_> = (0..ORDERS)
        .map(|_| plugin.command(&["order", "2"]).output_later())
        .collect();
    let polled: Vec<&String> = earlier.iter().cycle().take(POLLS).collect();
    let polls: Vec<_> = polled
        .iter()
        .map(|id| plugin.command(&["order_status", id]).output_later())
        .collect();
    let order_runs: Vec<_> = orders
        .into_iter()
        .map(|c| parse_run(c.wait_with_output().unwrap()))
        .collect();
    let poll_runs: Vec<_> = polls
        .into_iter()
        .map(|c| parse_run(c.wait_with_output().unwrap()))
        .collect();

    // Every order has a task of its own, and the hoster was asked once for each.
    let new_ids: BTreeSet<String> = order_runs.iter().map(common::task_id).collect();
    assert_eq!(new_ids.len(), ORDERS, "every task id is distinct");
    assert!(new_ids.iter().all(|id| !earlier.contains(id)));
    let asked: BTreeSet<String> = names.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = earlier
        .iter()
        .chain(&new_ids)
        .map(|id| format!("bx-{id}"))
        .collect();
    assert_eq!(
        asked, expected,
        "the hoster got one order per task, named after it"
    );
    assert_eq!(
        next_id.load(Ordering::SeqCst) as usize,
        EARLIER_TASKS + ORDERS + 1
    );

    // Every poll answers for its own task: its server's address and password.
    for (id, run) in polled.iter().zip(&poll_runs) {
        let task = task_file(&plugin, id);
        let server_id: u64 = task["hoster_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            run.ok(),
            &common::task_reply(
                id,
                "finished",
                &address_of(server_id),
                &format!("Hoster-Pw-{server_id}")
            )
        );
        assert_eq!(task["stage"], "finished");
    }

    // Every task file is whole and names its own task; nothing else is in the folder.
    let mut hoster_ids = BTreeSet::new();
    for id in earlier.iter().chain(&new_ids) {
        let task = task_file(&plugin, id);
        assert_eq!(task["id"], id.as_str());
        assert!(hoster_ids.insert(task["hoster_id"].as_str().unwrap().to_owned()));
    }
    // Besides the task files, only the polls' lock file.
    let mut names: Vec<String> = std::fs::read_dir(plugin.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, [".lock"], "no temporary file is left");
    let tasks = std::fs::read_dir(plugin.state_dir()).unwrap().count() - 1;
    assert_eq!(tasks, EARLIER_TASKS + ORDERS);
}

fn task_file(plugin: &Plugin, id: &str) -> Value {
    let path = plugin.state_dir().join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Starts a command with its output captured, to be collected later.
trait OutputLater {
    fn output_later(&mut self) -> std::process::Child;
}

impl OutputLater for std::process::Command {
    fn output_later(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
