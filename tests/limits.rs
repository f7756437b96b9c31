//! The limits that keep a misbehaving hoster from hanging the panel or filling memory, each
//! shown against a raw loopback server: the answer size cap, the verb's deadline, bounded
//! retries of reads with backoff and `Retry-After`, and bounded redirects.
//!
//! No test measures speed: time bounds are "it ended" (ten times the deadline), and the waits
//! between retries are checked from below only (the client must wait at least that long).

mod common;

use common::{Plugin, RawServer, fetching, respond};
use std::io::Write;
use std::time::{Duration, Instant};

const DEADLINE: u64 = 3;

/// Runs `configs`, checking it ended within ten times `deadline` seconds.
fn configs_ending_within(plugin: &Plugin, deadline: u64) -> common::Run {
    let started = Instant::now();
    let run = plugin.run(&["configs"]);
    assert!(
        started.elapsed() < Duration::from_secs(10 * deadline),
        "the run hung: {:?}",
        started.elapsed()
    );
    run
}

const PLANS: &str = r#"{"plans": [{"id": "small"}]}"#;

#[test]
fn an_endless_answer_is_cut_at_the_size_cap() {
    let server = RawServer::start("127.0.0.1", |stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[");
        // An answer that never ends: written until the client hangs up.
        let chunk = [b' '; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    });
    let plugin = fetching(&server.url, 60, 4096);
    let run = configs_ending_within(&plugin, 60);
    common::assert_error_says(&run, &["larger than 4096 bytes", "max_response_bytes"]);
    assert_eq!(
        server.received().len(),
        1,
        "a too large answer is not retried"
    );
}

#[test]
fn a_hoster_that_never_answers_ends_at_the_deadline() {
    let server = RawServer::start("127.0.0.1", |_, _| {
        std::thread::sleep(Duration::from_secs(3600));
    });
    let plugin = fetching(&server.url, DEADLINE, 1 << 20);
    let run = configs_ending_within(&plugin, DEADLINE);
    common::assert_error_says(&run, &["within the deadline of 3 s", "deadline_seconds"]);
}

#[test]
fn a_hoster_that_answers_slowly_byte_by_byte_ends_at_the_deadline() {
    let server = RawServer::start("127.0.0.1", |stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        // Each byte in time to beat a read timeout, none to finish before the deadline.
        while stream.write_all(b" ").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let plugin = fetching(&server.url, DEADLINE, 1 << 20);
    let run = configs_ending_within(&plugin, DEADLINE);
    common::assert_error_says(&run, &["within the deadline"]);
}

#[test]
fn reads_are_retried_a_bounded_number_of_times_honouring_retry_after() {
    let server = RawServer::start("127.0.0.1", |stream, _| {
        respond(stream, "503 Service Unavailable", &["Retry-After: 1"], "{}");
    });
    let plugin = fetching(&server.url, 60, 1 << 20);
    let run = configs_ending_within(&plugin, 60);
    common::assert_error_says(&run, &["503", "try again later"]);
    let received = server.received();
    assert_eq!(
        received.len(),
        4,
        "one request and three retries: {received:?}"
    );
    for pair in received.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_secs(1),
            "Retry-After: 1 was not honoured"
        );
    }
}

#[test]
fn retries_back_off_and_a_later_success_is_used() {
    let server = RawServer::start("127.0.0.1", |stream, index| {
        if index < 3 {
            respond(stream, "500 Internal Server Error", &[], "oops");
        } else {
            respond(stream, "200 OK", &[], PLANS);
        }
    });
    let plugin = fetching(&server.url, 60, 1 << 20);
    let run = configs_ending_within(&plugin, 60);
    assert_eq!(common::ids(run.ok()), ["small"]);
    let received = server.received();
    assert_eq!(received.len(), 4);
    // Without Retry-After the waits double: at least 0.5 s, 1 s, 2 s.
    for (pair, least) in received.windows(2).zip([500, 1000, 2000]) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(least));
    }
}

#[test]
fn the_retries_stop_at_the_deadline() {
    let server = RawServer::start("127.0.0.1", |stream, _| {
        respond(stream, "429 Too Many Requests", &["Retry-After: 30"], "{}");
    });
    let plugin = fetching(&server.url, DEADLINE, 1 << 20);
    let run = configs_ending_within(&plugin, DEADLINE);
    common::assert_error_says(&run, &["429", "wait a minute"]);
    assert_eq!(
        server.received().len(),
        1,
        "a wait beyond the deadline is not started"
    );
}

#[test]
fn a_redirect_loop_is_followed_a_bounded_number_of_times() {
    let server = RawServer::start("127.0.0.1", |stream, index| {
        let location = format!("Location: /plans/{}", index + 1);
        respond(stream, "302 Found", &[&location], "");
    });
    let plugin = fetching(&server.url, 60, 1 << 20);
    let run = configs_ending_within(&plugin, 60);
    common::assert_error_says(&run, &["more than 5 redirects", "/plans/6"]);
    let lines: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.line().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /plans HTTP/1.1",
            "GET /plans/1 HTTP/1.1",
            "GET /plans/2 HTTP/1.1",
            "GET /plans/3 HTTP/1.1",
            "GET /plans/4 HTTP/1.1",
            "GET /plans/5 HTTP/1.1",
        ]
    );
}

#[test]
fn a_run_that_hangs_outside_any_request_is_stopped_after_its_deadline() {
    // A menu that loops 8 billion times: no request is involved, so only the watchdog can
    // end the run. The panel still gets one error object, a few seconds after the deadline.
    let big: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
    let yaml = common::fixture("providers/testhost.yaml")
        .replace("deadline_seconds: 3", "deadline_seconds: 1")
        .replace(
            "  image: rocky-9\n",
            &format!("  image: rocky-9\n  big: [{}]\n", big.join(", ")),
        )
        .replace(
            "descr: \"Small: 1 vCPU, 2 GB RAM\"",
            "descr: \"{{#each settings.big}}{{#each ../settings.big}}{{#each ../../settings.big}}{{/each}}{{/each}}{{/each}}\"",
        );
    let plugin = Plugin::new("testhost", &yaml, "http://127.0.0.1:9").secrets("token=tok-1\n");
    let started = Instant::now();
    let run = plugin.run(&["configs"]);
    let took = started.elapsed();
    assert!(
        run.error_message()
            .contains("did not end within its deadline"),
        "{}",
        run.stdout
    );
    assert!(!run.success);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// A plan list of `count` plans named `p0`, `p1`...; the ids repeat after `distinct`.
fn plan_list(count: usize, distinct: usize) -> String {
    let plans: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"id":"p{}"}}"#, i % distinct))
        .collect();
    format!(r#"{{"plans":[{}]}}"#, plans.join(","))
}

#[test]
fn a_menu_of_100000_plans_is_made_within_the_deadline() {
    // Making the menu was quadratic in the plan count (each id compared with every earlier
    // one): 100,000 plans took 53 s, well past this deadline; now about 2 s in a debug build.
    // The deadline leaves a wide margin for a loaded machine; speed itself is measured by
    // benches/menu_scale.
    let count = 100_000;
    let server = RawServer::start("127.0.0.1", move |stream, _| {
        respond(stream, "200 OK", &[], &plan_list(count, count));
    });
    let plugin = fetching(&server.url, 20, 8 << 20);
    let run = configs_ending_within(&plugin, 20);
    let menu = run.ok()["configurations"].as_array().unwrap();
    assert_eq!(menu.len(), count);
    assert_eq!(menu[count - 1]["id"], format!("p{}", count - 1));
}

#[test]
fn two_plans_that_make_one_config_id_are_an_error_at_the_id() {
    let server = RawServer::start("127.0.0.1", |stream, _| {
        respond(stream, "200 OK", &[], &plan_list(5, 3));
    });
    let plugin = fetching(&server.url, DEADLINE, 1 << 20);
    let run = plugin.run(&["configs"]);
    common::assert_error_says(
        &run,
        &["two plans make the same config id `p0`", "testhost.yaml:"],
    );
}
