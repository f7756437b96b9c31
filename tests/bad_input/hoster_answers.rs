//! Hoster answers: wrong JSON types where a value is read, missing fields, deep nesting, bodies
//! that are not JSON (HTML, invalid UTF-8, truncated, empty), cut or reset connections, a slow
//! drip, a huge body, headers that lie. Each misbehaviour is tried on every verb that talks to
//! the hoster: the plan list (`configs`), the purchase (`order`) and the poll (`order_status`).
//! For `order`, the task must be recorded with the stage that tells the truth: `unknown` when
//! the hoster may have bought, `refused` when it surely did not.

use crate::common::{Plugin, fetching_testhost_yaml};
use crate::harness::{Case, Expect, Scene, TOKEN, error, hosted, ordered, run_table, testhost};
use crate::raw_hoster::Behaviour;
use std::time::Duration;

/// A verb that talks to the hoster, and the request whose answer misbehaves.
#[derive(Debug, Clone, Copy)]
enum Target {
    Configs,
    Order,
    Poll,
}

const TARGETS: [Target; 3] = [Target::Configs, Target::Order, Target::Poll];

impl Target {
    /// The good answer of this request with `value` where the plugin reads its one value:
    /// the plan's name, the server's id, the server's state.
    fn body_with(self, value: &str) -> String {
        match self {
            Target::Configs => format!(r#"{{"plans":[{{"name":{value}}}]}}"#),
            Target::Order => format!(r#"{{"server":{{"id":{value}}},"root_password":"pw-abc"}}"#),
            Target::Poll => format!(r#"{{"server":{{"status":{value},"ipv4":"203.0.113.7"}}}}"#),
        }
    }

    /// The good answer: a plan `cx22`, server 42, a running server.
    fn good_body(self) -> String {
        self.body_with(match self {
            Target::Configs => "\"cx22\"",
            Target::Order => "42",
            Target::Poll => "\"running\"",
        })
    }

    /// The plugin and argv, with the hoster answering this request with `behaviour`.
    fn scene(self, behaviour: Behaviour) -> Scene {
        match self {
            Target::Configs => hosted(
                |url| {
                    Plugin::new("testhost", &fetching_testhost_yaml(), url)
                        .secrets(&format!("token={TOKEN}\n"))
                },
                vec![("GET", "/plans", behaviour)],
                &["configs"],
            ),
            Target::Order => hosted(
                testhost,
                vec![("POST", "/servers", behaviour)],
                &["order", "1"],
            ),
            Target::Poll => ordered(behaviour),
        }
    }
}

/// One misbehaviour: how the hoster answers each target, and what each verb must end with
/// (`None`: not tried on that verb).
struct Row {
    name: &'static str,
    answer: Box<dyn Fn(Target) -> Behaviour>,
    expect: [Option<Expect>; 3],
}

fn row(
    name: &'static str,
    answer: impl Fn(Target) -> Behaviour + 'static,
    configs: Expect,
    order: Expect,
    poll: Expect,
) -> Row {
    Row {
        name,
        answer: Box::new(answer),
        expect: [Some(configs), Some(order), Some(poll)],
    }
}

/// A 200 JSON answer with `value` at the place the plugin reads.
fn value(value: &'static str) -> impl Fn(Target) -> Behaviour {
    move |target| Behaviour::json(200, target.body_with(value))
}

/// The same answer to every target.
fn same(behaviour: Behaviour) -> impl Fn(Target) -> Behaviour {
    move |_| behaviour.clone()
}

/// `order` answered: the task id reaches the panel; the task has `stage`.
fn bought(stage: &'static str) -> Expect {
    Expect::Recorded(Box::new(Expect::Ok), stage)
}

/// `order` not answered in a way that says nothing was bought: the panel is told to check the
/// hoster's console, and the task is `unknown`.
fn maybe_bought(parts: &[&'static str]) -> Expect {
    let mut parts = parts.to_vec();
    parts.push("the order may have been placed: check the hoster's console");
    Expect::Recorded(Box::new(error(&parts)), "unknown")
}

const HTML: &str = "<!DOCTYPE html><html><body><h1>Bad Gateway</h1></body></html>";

fn rows() -> Vec<Row> {
    let not_json = || error(&["is not JSON", "check `api.base_url`"]);
    let broken = || error(&["the exchange with the hoster", "failed"]);
    let unsafe_id = || error(&["made from a plan is not safe"]);
    let state = |s: &'static str| error(&[s, "which the status map does not know"]);
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep: &'static str = Box::leak(deep.into_boxed_str());
    let long: &'static str = Box::leak(format!("\"{}\"", "7".repeat(1_000_000)).into_boxed_str());
    vec![
        row(
            "a number where text is read",
            value("42"),
            Expect::Says("enabled"),
            bought("ordered"),
            state("state `42`"),
        ),
        row(
            "a fraction where text is read",
            value("4.5"),
            Expect::Says("enabled"),
            bought("ordered"),
            state("state `4.5`"),
        ),
        row(
            "true where text is read",
            value("true"),
            Expect::Says("enabled"),
            bought("ordered"),
            state("state `true`"),
        ),
        row(
            "null where text is read",
            value("null"),
            unsafe_id(),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "an empty string where text is read",
            value("\"\""),
            unsafe_id(),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "a list where text is read",
            value("[1,2]"),
            unsafe_id(),
            bought("ordered"),
            state("state `[1,2]`"),
        ),
        row(
            "an object where text is read",
            value("{\"a\":1}"),
            unsafe_id(),
            bought("ordered"),
            state("which the status map does not know"),
        ),
        row(
            "a value nested 10,000 deep",
            value(deep),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "a 1 MB string where text is read",
            value(long),
            unsafe_id(),
            bought("ordered"),
            state("state `7777"),
        ),
        row(
            "a hostile string where text is read",
            value("\"1; rm -rf / $(id)\""),
            unsafe_id(),
            bought("ordered"),
            state("state `1; rm -rf / $(id)`"),
        ),
        row(
            "missing fields",
            same(Behaviour::json(200, "{}")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "body null",
            same(Behaviour::json(200, "null")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "a JSON list",
            same(Behaviour::json(200, "[]")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "a JSON string",
            same(Behaviour::json(200, "\"ok\"")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "a JSON number",
            same(Behaviour::json(200, "42")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "an empty body",
            same(Behaviour::json(200, "")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "204 No Content",
            same(Behaviour::json(204, "")),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "an error object with 200",
            same(Behaviour::json(
                200,
                r#"{"error":{"message":"quota exceeded"}}"#,
            )),
            Expect::Says("enabled"),
            bought("unknown"),
            state("state ``"),
        ),
        row(
            "JSON nested 10,000 deep",
            same(Behaviour::json(200, deep)),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "truncated JSON",
            |t| Behaviour::json(200, &t.good_body()[..10]),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "JSON then garbage",
            |t| Behaviour::json(200, t.good_body() + "garbage"),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "two JSON objects",
            |t| Behaviour::json(200, t.good_body().repeat(2)),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "a byte order mark before JSON",
            |t| Behaviour::json(200, format!("\u{feff}{}", t.good_body())),
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "invalid UTF-8",
            |t| {
                Behaviour::json(
                    200,
                    t.body_with("\"\u{1}\"")
                        .replace('\u{1}', "\u{ff}")
                        .into_bytes()
                        .into_iter()
                        .map(|b| if b == 0xc3 { 0xff } else { b })
                        .collect::<Vec<u8>>(),
                )
            },
            not_json(),
            maybe_bought(&["is not JSON"]),
            not_json(),
        ),
        row(
            "an HTML page with 200",
            same(Behaviour::with_type(200, "text/html", HTML)),
            error(&["an HTML page"]),
            maybe_bought(&["an HTML page"]),
            error(&["an HTML page"]),
        ),
        row(
            "an HTML page with 500",
            same(Behaviour::with_type(500, "text/html", HTML)),
            error(&["500", "an HTML page"]),
            maybe_bought(&["500", "an HTML page"]),
            error(&["500", "an HTML page"]),
        ),
        row(
            "an HTML page with 404",
            same(Behaviour::with_type(404, "text/html", HTML)),
            error(&["404", "an HTML page"]),
            Expect::Recorded(Box::new(error(&["404", "an HTML page"])), "refused"),
            error(&["404", "an HTML page"]),
        ),
        row(
            "text/plain around good JSON",
            |t| Behaviour::with_type(200, "text/plain", t.good_body()),
            Expect::Says("enabled"),
            bought("ordered"),
            Expect::Says("finished"),
        ),
        row(
            "no Content-Type",
            |t| Behaviour::Full {
                status: 200,
                headers: vec![],
                body: t.good_body().into_bytes(),
            },
            Expect::Says("enabled"),
            bought("ordered"),
            Expect::Says("finished"),
        ),
        row(
            "gzip claimed, plain sent",
            |t| Behaviour::Full {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Content-Encoding".into(), "gzip".into()),
                ],
                body: t.good_body().into_bytes(),
            },
            broken(),
            maybe_bought(&["failed"]),
            broken(),
        ),
        row(
            "Content-Length larger than the body, then closed",
            |t| Behaviour::Short {
                claimed: 10_000,
                body: t.good_body().into_bytes(),
            },
            broken(),
            maybe_bought(&["failed"]),
            broken(),
        ),
        row(
            "connection reset mid-body",
            |t| Behaviour::Reset {
                body: t.good_body().as_bytes()[..10].to_vec(),
            },
            broken(),
            maybe_bought(&["failed"]),
            broken(),
        ),
        row(
            "closed without an answer",
            same(Behaviour::Raw(Vec::new())),
            broken(),
            maybe_bought(&["failed"]),
            broken(),
        ),
        row(
            "not HTTP at all",
            same(Behaviour::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec())),
            broken(),
            maybe_bought(&["failed"]),
            broken(),
        ),
        Row {
            name: "a slow drip within the deadline",
            answer: Box::new(|t| Behaviour::Drip {
                body: t.good_body().into_bytes(),
                pause: Duration::from_millis(20),
            }),
            expect: [None, None, Some(Expect::Says("finished"))],
        },
        Row {
            name: "a 20 MB body",
            answer: Box::new(|_| Behaviour::Huge { size: 20_000_000 }),
            expect: [Some(error(&["larger than"])), None, None],
        },
    ]
}

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for row in rows() {
        let answer: std::rc::Rc<dyn Fn(Target) -> Behaviour> = row.answer.into();
        for (target, expect) in TARGETS.into_iter().zip(row.expect) {
            let Some(expect) = expect else { continue };
            let answer = answer.clone();
            cases.push(Case::new(
                format!("{} to {target:?}", row.name),
                move || target.scene(answer(target)),
                expect,
            ));
        }
    }
    cases
}

#[test]
fn hoster_answers() {
    run_table(cases());
}
