//! What the fuzz targets do with one input, shared with the stable regression test
//! (`tests/fuzz_regressions.rs` includes this file), so a crash found by the fuzzer is replayed
//! through exactly the same calls under plain `cargo test`.
//!
//! Each function feeds the input through the library's own entry points (the ones a run uses)
//! and panics only when the library panics or when one of the properties checked here does
//! not hold; errors returned by the library are the expected answer to hostile input.
//!
//! Inputs with several parts (a template and its context, a JSONPath and its document...) split
//! them at `0xFF` bytes: no UTF-8 text contains that byte, so every text part can still hold
//! any character, and seeds and crash files stay readable text files.

use serde_json::{Value, json};
use std::path::Path;
use vps_provider::extract;
use vps_provider::manifest::{Otherwise, TaskStatus};
use vps_provider::ops;
use vps_provider::plan::{self, ConfigsPlan, Parts, Query, StatePattern};
use vps_provider::position::YamlPath;
use vps_provider::runner;
use vps_provider::template::Templates;
use vps_provider::variables::{self, Declared, Scope};

/// Separates the parts of a multi-part input.
pub const SEPARATOR: u8 = 0xFF;

/// The parts of `data`, each as text (invalid UTF-8 replaced: the fuzzer's bytes are not all
/// text, the library takes only text).
fn parts(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == SEPARATOR)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// `provider_file`: the input is a provider file. Loading it (as every verb does) and
/// validating it (as `vps-provider validate` does) must give a plan or problems, never a
/// panic, a hang or a blown stack, and the two must agree.
pub fn provider_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // `load_file` reads the file with `read_to_string`, which refuses non-UTF-8 itself.
        return;
    };
    let path = Path::new("fuzz.yaml");
    let loaded = plan::load_source("fuzz", path, text, Parts::ALL);
    let problems = ops::problems_in("fuzz", path, text);
    match &loaded {
        Ok(plan) => {
            // A written-out menu renders as `configs` renders it, with the file's settings
            // (a template that loads must also render, or fail, without crashing).
            if let Ok(ConfigsPlan::Static(list)) = plan.configs() {
                let context = json!({ "settings": plan.setting_defaults(), "secrets": {} });
                for config in list {
                    let _ = plan.templates.render(&config.descr.template, &context);
                    let _ = plan.templates.render_tree(&config.vars.tree, &context);
                }
            }
            // A file every verb can run must also load for the verbs that need less of it.
            for parts in [Parts::NONE, Parts::CONFIGS, Parts::ORDER, Parts::STATUS] {
                assert!(
                    plan::load_source("fuzz", path, text, parts).is_ok(),
                    "loads with every part but not with {parts:?}"
                );
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without saying why");
            // Every problem renders both ways (the panel's one line, the operator's report).
            for error in errors {
                assert!(!error.one_line().is_empty());
                assert!(!error.report().is_empty());
            }
            assert!(
                !problems.is_empty(),
                "`validate` passes a file that does not load: {}",
                errors[0].one_line()
            );
        }
    }
    for problem in &problems {
        assert!(!problem.one_line().is_empty());
    }
}

/// `template`: the input is a template, then (after `0xFF`) its context as JSON (text that
/// is not JSON becomes `{"v": text}`). The template is checked the way the loader checks it,
/// compiled, and rendered as text, as a typed value, as a URL path and inside a JSON body.
pub fn template(data: &[u8]) {
    let parts = parts(data);
    let text = parts[0].as_str();
    let context = parts.get(1).map_or_else(
        || json!({}),
        |written| serde_json::from_str(written).unwrap_or_else(|_| json!({ "v": written })),
    );
    // The loader's variable check, at a place that sees every root.
    let declared = Declared {
        settings: ["region".to_owned()].into(),
        secrets: ["token".to_owned()].into(),
        ..Declared::default()
    };
    let at = YamlPath::root().key("order_status").key("server");
    let _ = variables::check(text, &Scope::at(&declared, &at));

    let mut templates = Templates::new();
    if let Ok(compiled) = templates.compile(&at, text) {
        let _ = templates.render(&compiled, &context);
        let _ = templates.render_value(&compiled, &context);
        // As a request path: every text in the context encoded as one path segment.
        let _ = templates.render(&compiled, &runner::encoded_for_path(&context));
    }

    // Inside a JSON body, where the rendered body must stay the JSON it was built as.
    let body = json!({ "name": text, "zone?": text, "list": [text, 1], "fixed": "x" });
    let at = YamlPath::root()
        .key("order")
        .key("steps")
        .index(0)
        .key("json");
    if let Ok(tree) = templates.compile_tree(&at, &body)
        && let Ok(rendered) = templates.render_tree(&tree, &context)
    {
        let object = rendered.as_object().expect("a body renders to an object");
        assert!(
            object
                .keys()
                .all(|k| ["name", "zone", "list", "fixed"].contains(&k.as_str())),
            "a value added a key to the body: {rendered}"
        );
        assert_eq!(object.get("fixed"), Some(&json!("x")));
        let bytes = serde_json::to_vec(&rendered).expect("a rendered body serialises");
        let back: Value = serde_json::from_slice(&bytes).expect("a serialised body parses");
        assert_eq!(back, rendered, "the body changed on its way through JSON");
    }

    // No value, whatever it holds, adds a segment, a query or a fragment to a path, or a
    // parameter to a query.
    let mut fixed = Templates::new();
    let path = fixed
        .compile(&YamlPath::root().key("path"), "/servers/{{v}}/actions")
        .expect("the fixed path compiles");
    for value in strings(&context).into_iter().take(16) {
        let encoded = runner::encoded_for_path(&json!({ "v": value }));
        let rendered = fixed.render(&path, &encoded).expect("the path renders");
        assert!(
            !rendered.contains(['?', '#']) && rendered.split('/').count() == 4,
            "`{value}` changed the path's shape: {rendered}"
        );
        let url = runner::with_query("https://api.example/v1/x?page=2", value, value);
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        assert!(
            !url.contains('#') && query.split('&').count() <= 2,
            "`{value}` changed the query's shape: {url}"
        );
    }
}

/// The texts in `value`, depth first.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// `extract`: the input is a JSONPath, then a hoster's answer as JSON (text that is not JSON
/// is taken as a JSON string), then a hoster's state, then status-map keys (`0xFF` between
/// each). The path is compiled as the loader compiles it and evaluated as a run does; the
/// state is mapped by the status rule and checked against a plain reference matcher.
pub fn extract(data: &[u8]) {
    let parts = parts(data);
    let path = parts[0].as_str();
    let answer = parts.get(1).map_or(Value::Null, |written| {
        serde_json::from_str(written).unwrap_or_else(|_| Value::String(written.clone()))
    });
    if let Ok(compiled) = plan::compile_query(path) {
        let query = Query {
            at: YamlPath::root().key("extract"),
            compiled,
        };
        let first = extract::first(&query, &answer);
        let all = extract::all(&query, &answer);
        assert_eq!(
            &first,
            all.first().copied().unwrap_or(&Value::Null),
            "`first` is not the first of `all`"
        );
        let _ = extract::joined_text(&query, &answer);
    }

    let state = parts.get(2).map_or("", String::as_str);
    let _ = extract::is_usable_address(state, false);
    let _ = extract::is_usable_address(state, true);
    let statuses = [
        TaskStatus::Finished,
        TaskStatus::InProgress,
        TaskStatus::Error,
    ];
    let keys = parts.get(3..).unwrap_or_default();
    let map: Vec<(StatePattern, TaskStatus)> = keys
        .iter()
        .zip(statuses.iter().cycle())
        .map(|(key, status)| (StatePattern::parse(key), *status))
        .collect();
    let otherwise = [
        Otherwise::Unexpected,
        Otherwise::InProgress,
        Otherwise::Error,
    ][keys.len() % 3];
    let mapped = extract::map_state(state, &map, otherwise);
    // The rule: an exact key first, then the first pattern that matches, then `otherwise`.
    let exact = keys
        .iter()
        .zip(statuses.iter().cycle())
        .find(|(key, _)| !key.contains('*') && key.as_str() == state);
    let pattern = || {
        keys.iter()
            .zip(statuses.iter().cycle())
            .find(|(key, _)| key.contains('*') && glob_reference(key.as_bytes(), state.as_bytes()))
    };
    let expected = match exact.or_else(pattern) {
        Some((_, status)) => Some(*status),
        None => match otherwise {
            Otherwise::InProgress => Some(TaskStatus::InProgress),
            Otherwise::Error => Some(TaskStatus::Error),
            Otherwise::Unexpected => None,
        },
    };
    assert_eq!(mapped, expected, "state `{state}` mapped against {keys:?}");
}

/// Whether `pattern` (`*` for any run of bytes) matches all of `text`: the textbook
/// backtracking matcher, written independently of `extract`'s to check it.
fn glob_reference(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_reference;

    #[test]
    fn the_reference_matcher_matches() {
        assert!(glob_reference(b"a*c", b"abc"));
        assert!(glob_reference(b"*", b""));
        assert!(glob_reference(b"*/*", b"x/y"));
        assert!(!glob_reference(b"ab*ba", b"aba"));
        assert!(!glob_reference(b"a*", b"ba"));
    }
}
