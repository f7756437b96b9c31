//! The compiler's common tools: the [`Compiler`] that collects problems while a provider
//! file is checked, and how one template, JSONPath, tree of templates or bounded number is
//! compiled and checked, wherever in the file it is written.

use crate::error::{Error, Source};
use crate::manifest::Manifest;
use crate::position::YamlPath;
use crate::template::{Template, Templates, Tree};
use crate::variables::{self, Declared, Scope};
use indexmap::IndexMap;
use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;
use std::collections::BTreeSet;

/// A compiled JSONPath and where it was written.
#[derive(Debug, Clone)]
pub struct Query {
    pub at: YamlPath,
    pub compiled: JpQuery,
}

/// A compiled template and where it was written.
#[derive(Debug, Clone)]
pub struct Text {
    pub at: YamlPath,
    pub template: Template,
    /// Whether it names `request.*`: it signs the request, so it is filled in once the rest
    /// of the request is (see [`crate::runner`]).
    pub signs: bool,
}

/// A config's vars: a map whose string leaves are templates, and where it was written.
#[derive(Debug)]
pub struct Vars {
    pub at: YamlPath,
    pub tree: Tree,
}

/// Collects problems while compiling, so `validate` can show them all at once.
pub(super) struct Compiler<'a> {
    pub(super) source: &'a Source,
    pub(super) templates: Templates,
    pub(super) declared: Declared,
    pub(super) problems: Vec<Error>,
    /// How many templates so far name `clock.*`: a request whose templates raised it needs
    /// the clock (and `api.clock`'s request, when there is one).
    pub(super) clock_uses: usize,
}

impl Compiler<'_> {
    pub(super) fn problem(
        &mut self,
        at: &YamlPath,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.problems
            .push(self.source.error(at, message).help(help));
    }

    /// Checks the variables a template names (see [`crate::variables`]); gives whether it
    /// names `request.*`.
    pub(super) fn check_variables(&mut self, at: &YamlPath, text: &str) -> bool {
        let mut signs = false;
        if text.contains("{{") {
            let (problems, uses) = variables::checked(text, &Scope::at(&self.declared, at));
            for problem in problems {
                self.problem(at, problem, "templates see `settings`, `secrets`, and by place `item`, `also`, `combine`, `config`, `task`, `saved`, `polled`, `clock`, `request`: see the README");
            }
            let names = |root: &str| {
                uses.as_ref()
                    .is_some_and(|u| u.variables.iter().any(|(names, _)| names[0] == root))
            };
            if names("clock") {
                self.clock_uses += 1;
            }
            signs = names("request");
        }
        signs
    }

    pub(super) fn text(&mut self, at: YamlPath, text: &str) -> Text {
        let signs = self.check_variables(&at, text);
        let template = match self.templates.compile(&at, text) {
            Ok(template) => template,
            Err(reason) => {
                self.problem(
                    &at,
                    format!("this template does not parse: {reason}"),
                    "templates are handlebars: `{{settings.region}}`, `{{#if x}}...{{/if}}`",
                );
                Template::Literal(String::new())
            }
        };
        Text {
            at,
            template,
            signs,
        }
    }

    /// Refuses an auth value that takes no secret: a credential written in the provider file
    /// (mode 0644, shown by dry runs) is a credential given away. The line is not quoted: it
    /// holds the credential.
    pub(super) fn credential_from_secrets(&mut self, at: &YamlPath, text: &str) {
        // A template that does not parse is reported where it is compiled.
        let Some(uses) = variables::uses(text) else {
            return;
        };
        // A session token comes from a login, which takes the secrets.
        if !uses.variables.iter().any(|(names, _)| {
            names
                .first()
                .is_some_and(|n| n == "secrets" || n == "session")
        }) {
            let mut error = self
                .source
                .error(at, "this credential is written in the provider file, which anyone on the server can read")
                .help("put it in the secrets file: declare it under `secrets:` (e.g. `token: {}`), write `token=...` in the site's `<name>.conf`, and use `{{secrets.token}}` here");
            if let Some(location) = &mut error.location {
                location.line_text = None;
            }
            self.problems.push(error);
        }
    }

    pub(super) fn tree(&mut self, at: &YamlPath, value: &Value) -> Tree {
        self.check_tree_variables(at, value);
        match self.templates.compile_tree(at, value) {
            Ok(tree) => tree,
            Err((at, reason)) => {
                self.problem(
                    &at,
                    format!("this template does not parse: {reason}"),
                    "templates are handlebars: `{{settings.region}}`",
                );
                Tree::Value(Value::Null)
            }
        }
    }

    pub(super) fn vars(&mut self, at: YamlPath, vars: &IndexMap<String, Value>) -> Vars {
        let tree = self.tree(&at, &Value::Object(vars.clone().into_iter().collect()));
        Vars { at, tree }
    }

    pub(super) fn check_tree_variables(&mut self, at: &YamlPath, value: &Value) {
        match value {
            Value::String(text) => {
                self.check_variables(at, text);
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| self.check_tree_variables(&at.index(i), v)),
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| self.check_tree_variables(&at.key(k), v)),
            _ => {}
        }
    }

    pub(super) fn query(&mut self, at: YamlPath, text: &str) -> Option<Query> {
        match compile_query(text) {
            Ok(compiled) => Some(Query { at, compiled }),
            Err(message) => {
                self.problem(&at, message, "JSONPath starts at `$`, e.g. `$.server.id` or `$.items[?@.type == 'public'].ip`");
                None
            }
        }
    }

    pub(super) fn pairs(
        &mut self,
        at: &YamlPath,
        map: &IndexMap<String, String>,
    ) -> Vec<(String, Text)> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.text(at.key(k), v)))
            .collect()
    }

    /// `value`, or its default, when it lies within `range`.
    pub(super) fn bounded(
        &mut self,
        at: &YamlPath,
        value: Option<u64>,
        range: (u64, u64, u64),
        why: &str,
    ) -> u64 {
        let (low, default, high) = range;
        match value {
            Some(value) if !(low..=high).contains(&value) => {
                self.problem(
                    at,
                    format!("`{value}` is out of range"),
                    format!("use {low} to {high} ({why})"),
                );
                default
            }
            value => value.unwrap_or(default),
        }
    }
}

/// How deep `[` and `(` may nest in a JSONPath. jsonpath-rust's parser backtracks through
/// function calls nested in filters, in a time that grows exponentially with the depth: found
/// by fuzzing, `$` followed by `[?count(value(@.a` eight times (24 deep, 137 characters) took
/// more than 30 s to refuse, and a verb compiles the paths it uses before it answers. Real
/// paths nest two or three deep (`$.servers[?(@.name == 'web' && @.ip)].id` is 2).
pub const MAX_JSONPATH_NESTING: usize = 10;

/// Compiles a JSONPath written in a provider file, or says in one line why it is not one.
pub fn compile_query(text: &str) -> std::result::Result<JpQuery, String> {
    let depth = jsonpath_nesting(text);
    if depth > MAX_JSONPATH_NESTING {
        return Err(format!(
            "`{text}` nests `[` and `(` {depth} deep; at most {MAX_JSONPATH_NESTING} are allowed (simplify the filter)"
        ));
    }
    jsonpath_rust::parser::parse_json_path(text).map_err(|err| {
        format!(
            "`{text}` is not a JSONPath: {}",
            jsonpath_reason(&err.to_string())
        )
    })
}

/// The deepest nesting of `[` and `(` in `text`, outside quoted names and strings; one left
/// open counts as nested, as it does for the parser.
fn jsonpath_nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ']' | ')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// pest's multi-line report (`--> 1:10`, a caret, `= expected selector`) as one phrase:
/// `expected selector at character 10`.
fn jsonpath_reason(report: &str) -> String {
    let expected = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .map(str::trim);
    let column = report
        .split("--> ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pos| pos.split(':').nth(1));
    match (expected, column) {
        (Some(expected), Some(column)) => format!("{expected} at character {column}"),
        _ => report.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// The names the file declares, for checking the variables its templates use.
pub(super) fn declared(manifest: &Manifest) -> Declared {
    let names = |keys: &mut dyn Iterator<Item = &String>| keys.cloned().collect::<BTreeSet<_>>();
    let mut config: BTreeSet<String> =
        match (&manifest.configs.static_list, &manifest.configs.fetch) {
            (Some(list), _) => {
                let mut sets = list.iter().map(|c| names(&mut c.vars.keys()));
                let first = sets.next().unwrap_or_default();
                sets.fold(first, |all, next| {
                    all.intersection(&next).cloned().collect()
                })
            }
            (None, Some(fetch)) => names(&mut fetch.vars.keys()),
            (None, None) => BTreeSet::new(),
        };
    config.extend(["id".to_owned(), "descr".to_owned()]);
    let fetch = manifest.configs.fetch.as_deref();
    Declared {
        also: fetch.map_or_else(BTreeSet::new, |f| names(&mut f.also.keys())),
        combine: fetch.map_or_else(BTreeSet::new, |f| names(&mut f.combine.keys())),
        settings: names(&mut manifest.settings.keys()),
        secrets: names(&mut manifest.secrets.keys()),
        config,
        saved: manifest
            .order
            .steps
            .iter()
            .map(|s| names(&mut s.extract.keys()))
            .collect(),
        polled: manifest
            .order_status
            .steps
            .iter()
            .map(|s| names(&mut s.extract.keys()))
            .collect(),
        login: manifest.api.login.is_some(),
        session: manifest
            .api
            .login
            .as_ref()
            .map_or_else(BTreeSet::new, |l| names(&mut l.extract.keys())),
        endpoints: names(&mut manifest.api.endpoints.keys()),
    }
}

/// Stands in for a query that did not compile, so compiling can go on and report more.
pub(super) fn placeholder_query(at: &YamlPath) -> Query {
    Query {
        at: at.clone(),
        compiled: jsonpath_rust::parser::parse_json_path("$").expect("`$` is a JSONPath"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpaths_nested_too_deep_are_refused_at_once() {
        assert_eq!(
            jsonpath_nesting("$.servers[?(@.name == 'web' && @.ip)].id"),
            2
        );
        assert_eq!(jsonpath_nesting("$['a[(b']['c\\'[']"), 1);
        let fine = format!("${}", "[?count(value(@.a))]".repeat(3));
        assert_eq!(jsonpath_nesting(&fine), 3);
        assert!(compile_query(&fine).is_ok());
        // The shape the fuzzer found: each level costs the parser several times the last.
        let hostile = format!("${}", "[?count(value(@.a".repeat(8));
        let started = std::time::Instant::now();
        let err = compile_query(&hostile).unwrap_err();
        assert!(err.contains("24 deep; at most 10"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn jsonpath_errors_fit_on_one_line() {
        let err = jsonpath_rust::parser::parse_json_path("$.server[id").unwrap_err();
        assert_eq!(
            jsonpath_reason(&err.to_string()),
            "expected selector at character 10"
        );
    }
}
