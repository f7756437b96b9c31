//! Checks that templates name only variables that exist where they are rendered, so a
//! misspelt `{{setings.region}}` or an undeclared `{{secrets.tokn}}` is found when the file is
//! loaded, with its position, instead of on the day an order fails.
//!
//! Rules: which roots a template sees depends on where it is written (see [`Scope::at`]);
//! names under `settings`, `secrets`, `config`, `saved`, `polled` and `task` are checked
//! against what the file declares, and a step sees only what the steps before it extracted;
//! `item` (a hoster's plan) is not known in advance and is not checked; inside `#each` and
//! `#with` blocks, relative paths point into the block's value and are not checked, but
//! `@root.` paths, and `../` paths that climb out of every block, are. Inside such a block a
//! bare `{{uuid}}` or `{{password}}` is refused: handlebars calls the helper even when the
//! block's value has a field of that name, so the template must write `{{this.uuid}}` (the
//! field) or `{{(uuid)}}` (the helper). Only the helpers of [`crate::template::BLOCK_HELPERS`]
//! may be written as blocks.

use crate::position::{Segment, YamlPath};
use handlebars::Path;
use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use std::collections::BTreeSet;

/// Handlebars' own helpers that a template may call.
pub const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];
/// `task.*` fields.
const TASK_FIELDS: &[&str] = &["id", "config_id", "password", "hoster_id"];

/// The names a provider file declares.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub settings: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
    /// Vars every config has, plus `id` and `descr`.
    pub config: BTreeSet<String>,
    /// Names extracted by each of `order.steps`, in order.
    pub saved: Vec<BTreeSet<String>>,
    /// Names extracted by each of `order_status.steps`, in order.
    pub polled: Vec<BTreeSet<String>>,
    /// The lists of `configs.fetch.also` and `configs.fetch.combine`.
    pub also: BTreeSet<String>,
    pub combine: BTreeSet<String>,
    /// Whether `api.login` is declared: `api.auth` then sees `session.token`.
    pub login: bool,
    /// The names `api.login.extract` takes, which `session` has besides `token`.
    pub session: BTreeSet<String>,
    /// The names of `api.endpoints`, which a request's `endpoint` may name.
    pub endpoints: BTreeSet<String>,
}

/// What a template at some place in the file can see.
pub struct Scope {
    roots: Vec<&'static str>,
    names: Vec<(&'static str, BTreeSet<String>)>,
}

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|f| f.to_string()).collect()
}

/// The names extracted by the steps before step `before` (all steps when `None`).
fn extracted(steps: &[BTreeSet<String>], before: Option<usize>) -> BTreeSet<String> {
    steps
        .iter()
        .take(before.unwrap_or(usize::MAX))
        .flatten()
        .cloned()
        .collect()
}

impl Scope {
    /// The scope of a template written at `at`.
    pub fn at(declared: &Declared, at: &YamlPath) -> Self {
        let key = |i: usize| match at.0.get(i) {
            Some(Segment::Key(k)) => k.as_str(),
            _ => "",
        };
        let step = match (at.0.get(1), at.0.get(2)) {
            (Some(Segment::Key(k)), Some(Segment::Index(i))) if k == "steps" => Some(*i),
            _ => None,
        };
        let sends =
            at.0.iter()
                .any(|s| matches!(s, Segment::Key(k) if k == "request"));
        let mut roots: Vec<&'static str> = match (key(0), key(1)) {
            ("configs", "fetch") if sends => vec!["settings", "secrets"],
            // An `also` list's key is made from its own element, before any plan is seen.
            ("configs", "fetch") if key(2) == "also" && key(4) == "key" => {
                vec!["settings", "secrets", "item"]
            }
            ("configs", "fetch") => vec!["settings", "secrets", "item", "also", "combine"],
            ("order" | "cleanup", _) => vec!["settings", "secrets", "config", "task", "saved"],
            ("order_status", _) => {
                vec!["settings", "secrets", "config", "task", "saved", "polled"]
            }
            ("api", "auth") if declared.login => vec!["settings", "secrets", "session"],
            // Addresses are shown in traces and dry runs: no secret belongs in them.
            ("api", "endpoints") if declared.login => vec!["settings", "session"],
            ("api", "base_url" | "endpoints") => vec!["settings"],
            _ => vec!["settings", "secrets"],
        };
        // What goes out with every request (`api.auth`, `api.headers`) and a request's own
        // templates see the clock; its headers and query values also see the request they
        // sign. The clock's own request cannot be timed by the clock it asks for.
        let shared = key(0) == "api" && matches!(key(1), "auth" | "headers");
        if (sends || shared) && key(1) != "clock" {
            roots.push("clock");
            let request_part =
                at.0.iter()
                    .position(|s| matches!(s, Segment::Key(k) if k == "request"));
            let signs = shared
                || request_part.is_some_and(|i| {
                    matches!(at.0.get(i + 1), Some(Segment::Key(k)) if k == "headers" || k == "query")
                });
            if signs {
                roots.push("request");
            }
        }
        let saved = match key(0) {
            "order" => extracted(&declared.saved, step),
            _ => extracted(&declared.saved, None),
        };
        let polled = extracted(&declared.polled, step.filter(|_| key(0) == "order_status"));
        let names = vec![
            ("settings", declared.settings.clone()),
            ("secrets", declared.secrets.clone()),
            ("config", declared.config.clone()),
            ("saved", saved),
            ("polled", polled),
            ("task", fields(TASK_FIELDS)),
            ("also", declared.also.clone()),
            ("combine", declared.combine.clone()),
            (
                "session",
                std::iter::once("token".to_owned())
                    .chain(declared.session.iter().cloned())
                    .collect(),
            ),
            ("request", fields(crate::signing::REQUEST_FIELDS)),
            ("clock", fields(crate::signing::CLOCK_FIELDS)),
        ];
        Scope { roots, names }
    }

    fn names(&self, root: &str) -> Option<&BTreeSet<String>> {
        self.names
            .iter()
            .find(|(r, _)| *r == root)
            .map(|(_, names)| names)
    }
}

/// What a template uses: the variables it names from the top level, and the helpers it calls.
#[derive(Debug, Default)]
pub struct Uses {
    /// Each path as its names (`["settings", "region"]`) and as written.
    pub variables: Vec<(Vec<String>, String)>,
    pub helpers: Vec<String>,
    /// Block variables (`@key`, `@index`) used outside every `#each`, as written.
    pub loose_locals: Vec<String>,
    /// Helpers written as blocks (`{{#name}}...{{/name}}`).
    pub blocks: Vec<String>,
    /// Bare zero-argument helper names (`{{uuid}}`) inside `#each`/`#with`, where the block's
    /// value may have a field of that name: handlebars calls the helper, the author may have
    /// meant the field (a disk cloned from a random UUID, a generated password reported as the
    /// hoster's), so the template must say which.
    pub ambiguous: Vec<String>,
    /// Every helper call, with its arguments and options, for [`crate::template::SIGNATURES`]
    /// and the digest helpers' checks.
    pub calls: Vec<Call>,
}

/// One call of a helper: its name, each argument as the literal written (`None`: a path or
/// a sub-expression, known only at run time), whether it is written as a block, and its
/// `name=value` options (the value when it is a literal text).
#[derive(Debug)]
pub struct Call {
    pub name: String,
    pub args: Vec<Option<serde_json::Value>>,
    pub block: bool,
    pub options: Vec<(String, Option<String>)>,
}

/// What template `text` uses, or `None` when it does not parse (the compiler reports that).
pub fn uses(text: &str) -> Option<Uses> {
    let template = crate::template::parse(text).ok()?;
    let mut uses = Uses::default();
    walk(&template.elements, 0, &mut uses);
    Some(uses)
}

/// Problems with the variables and helpers of template `text`, as messages.
pub fn check(text: &str, scope: &Scope) -> Vec<String> {
    checked(text, scope).0
}

/// [`check`], with what the template uses (`None` when it does not parse).
pub fn checked(text: &str, scope: &Scope) -> (Vec<String>, Option<Uses>) {
    let Some(uses) = uses(text) else {
        return (Vec::new(), None);
    };
    let mut problems = Vec::new();
    for helper in &uses.helpers {
        known_helper(helper, scope, &mut problems);
    }
    for block in &uses.blocks {
        if !crate::template::BLOCK_HELPERS.contains(&block.as_str()) {
            problems.push(format!(
                "`{{{{#{block}}}}}` is not a block helper (blocks: {})",
                crate::template::BLOCK_HELPERS.join(", ")
            ));
        }
    }
    for name in &uses.ambiguous {
        problems.push(format!(
            "inside `{{{{#each}}}}`/`{{{{#with}}}}`, `{{{{{name}}}}}` calls the helper `{name}`, not the field `{name}`: write `{{{{this.{name}}}}}` for the field or `{{{{({name})}}}}` for the helper"
        ));
    }
    for call in &uses.calls {
        problems.extend(call_problem(call));
        problems.extend(crate::signing::check_call(
            &call.name,
            call.args.len(),
            call.block,
            &call.options,
        ));
    }
    for (names, raw) in &uses.variables {
        variable(names, raw, scope, &mut problems);
    }
    for raw in &uses.loose_locals {
        problems.push(format!(
            "`{raw}` exists only inside an `#each` block, and there is none around it here; \
             for plans keyed by name write `items: {{ entries: $.path }}` and use `item.key`"
        ));
    }
    problems.dedup();
    (problems, Some(uses))
}

fn walk(elements: &[TemplateElement], depth: usize, uses: &mut Uses) {
    for element in elements {
        match element {
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                helper_use(helper, depth, false, uses)
            }
            TemplateElement::HelperBlock(helper) => {
                if let Parameter::Name(name) | Parameter::Path(Path::Relative((_, name))) =
                    &helper.name
                {
                    uses.blocks.push(name.clone());
                }
                helper_use(helper, depth, false, uses)
            }
            _ => {}
        }
    }
}

/// Records what `helper` uses; `called` when it is written as a call (`(uuid)`), so a bare
/// name in it is a helper and nothing else.
fn helper_use(helper: &HelperTemplate, depth: usize, called: bool, uses: &mut Uses) {
    let mut moves_context = false;
    let call = |name: &str| Call {
        name: name.to_owned(),
        args: helper
            .params
            .iter()
            .map(|p| match p {
                Parameter::Literal(value) => Some(value.clone()),
                _ => None,
            })
            .collect(),
        block: helper.template.is_some(),
        options: helper
            .hash
            .iter()
            .map(|(key, value)| {
                let literal = match value {
                    Parameter::Literal(serde_json::Value::String(text)) => Some(text.clone()),
                    _ => None,
                };
                (key.clone(), literal)
            })
            .collect(),
    };
    match &helper.name {
        Parameter::Name(name) => {
            uses.helpers.push(name.clone());
            uses.calls.push(call(name));
            moves_context = matches!(name.as_str(), "each" | "with");
        }
        // `{{password}}` and `{{uuid}}` parse as paths; so does a plain `{{settings.x}}`.
        Parameter::Path(path) if helper.params.is_empty() && is_helper(path) => {
            if depth > 0 && !called && helper.template.is_none() {
                uses.ambiguous.push(raw(path));
            }
            uses.helpers.push(raw(path))
        }
        // A helper's name alone (`{{base64}}`, `{{#if}}`) outside every block is a call with
        // no argument (inside one it may be a field of the block's value).
        Parameter::Path(path)
            if helper.params.is_empty()
                && (depth == 0 || helper.template.is_some())
                && crate::template::signature(&raw(path)).is_some() =>
        {
            uses.helpers.push(raw(path));
            uses.calls.push(call(&raw(path)));
        }
        other => parameter(other, depth, uses),
    }
    for param in helper.params.iter().chain(helper.hash.values()) {
        parameter(param, depth, uses);
    }
    if let Some(inner) = &helper.template {
        walk(&inner.elements, depth + usize::from(moves_context), uses);
    }
    // `{{else}}` of `#each`/`#with` renders in the outer context.
    if let Some(inverse) = &helper.inverse {
        walk(&inverse.elements, depth, uses);
    }
}

fn parameter(parameter: &Parameter, depth: usize, uses: &mut Uses) {
    match parameter {
        Parameter::Path(path @ Path::Local(_)) if depth == 0 => uses.loose_locals.push(raw(path)),
        Parameter::Path(path) => {
            if let Some(names) = top_level(path, depth) {
                uses.variables.push((names, raw(path)));
            }
        }
        Parameter::Subexpression(sub) => match sub.element.as_ref() {
            TemplateElement::Expression(helper) => helper_use(helper, depth, true, uses),
            other => walk(std::slice::from_ref(other), depth, uses),
        },
        _ => {} // literals
    }
}

/// The names of `path` when it reaches the top-level context from `depth` blocks deep.
fn top_level(path: &Path, depth: usize) -> Option<Vec<String>> {
    let Path::Relative((_, raw)) = path else {
        return None;
    }; // @index, @key...
    let (climbs, rest) = if let Some(rest) = raw.strip_prefix("@root.") {
        (usize::MAX, rest)
    } else {
        let ups = raw.matches("../").count();
        (ups, raw.trim_start_matches("../"))
    };
    let names: Vec<String> = rest
        .split(['.', '/'])
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    (climbs >= depth && names.first().is_some_and(|n| n != "this")).then_some(names)
}

fn raw(path: &Path) -> String {
    match path {
        Path::Relative((_, raw)) | Path::Local((_, _, raw)) => raw.clone(),
    }
}

fn is_helper(path: &Path) -> bool {
    crate::template::ZERO_ARGUMENT_HELPERS.contains(&raw(path).as_str())
}

/// What is wrong with a helper call that can only fail at run time: the wrong number of
/// arguments, or a literal of the wrong kind.
fn call_problem(call: &Call) -> Option<String> {
    use crate::template::{UNITS, number, signature, text_of};
    let signature = signature(&call.name)?;
    let name = signature.name;
    let count = call.args.len();
    let encodes_its_block = matches!(name, "base64" | "json") && call.block;
    if encodes_its_block {
        return (count > 0).then(|| {
            format!("`{{{{#{name}}}}}` encodes its block and takes no argument; write `{{{{#{name}}}}}...{{{{/{name}}}}}` or `{{{{{name} value}}}}`")
        });
    }
    if count < signature.min || count > signature.max {
        let given = match count {
            0 => "none".to_owned(),
            1 => "1 argument".to_owned(),
            n => format!("{n} arguments"),
        };
        return Some(format!(
            "`{name}` takes {}, and is given {given} here",
            signature.takes
        ));
    }
    let literal = |i: usize| call.args.get(i).and_then(Option::as_ref);
    let not_a_number = |i: usize| literal(i).filter(|v| number(v).is_err());
    match name {
        "human_size" | "fixed" if not_a_number(0).is_some() => Some(format!(
            "`{name}` takes a number first, not `{}`",
            text_of(literal(0)?)
        )),
        "human_size" => {
            let unit = text_of(literal(1)?);
            (!UNITS.iter().any(|u| u.eq_ignore_ascii_case(&unit))).then(|| {
                format!(
                    "`human_size` knows no unit `{unit}`; use one of {}",
                    UNITS.join(", ")
                )
            })
        }
        "fixed" => {
            let digits = literal(1)?;
            let ok = number(digits).is_ok_and(|d| (0.0..=20.0).contains(&d) && d.fract() == 0.0);
            (!ok).then(|| format!("`fixed` takes 0 to 20 decimals, not `{}`", text_of(digits)))
        }
        "find" | "pluck" | "each" if literal(0).is_some_and(|v| !v.is_array()) => Some(format!(
            "`{name}` takes a list first, not the literal `{}`",
            text_of(literal(0)?)
        )),
        _ => None,
    }
}

fn known_helper(name: &str, scope: &Scope, problems: &mut Vec<String>) {
    let ours = crate::template::helper_names();
    if !ours.clone().any(|h| h == name) && !BUILTIN_HELPERS.contains(&name) {
        problems.push(format!(
            "there is no helper `{name}`{}",
            did_you_mean(name, ours.chain(BUILTIN_HELPERS.iter().copied()))
        ));
    } else if name == "password" && !scope.roots.contains(&"task") {
        problems.push(
            "`{{password}}` exists only while ordering and polling (it belongs to a task)".into(),
        );
    }
}

fn variable(names: &[String], raw: &str, scope: &Scope, problems: &mut Vec<String>) {
    let root = names[0].as_str();
    if !scope.roots.contains(&root) && matches!(root, "request" | "clock") {
        problems.push(format!(
            "`{raw}` names `{root}`, which exists only {}",
            if root == "request" {
                "in the header and query values of a request (and `api.headers`, `api.auth`), where the request they sign is known"
            } else {
                "in requests' templates (and `api.headers`, `api.auth`), not in `api.clock`'s own request"
            }
        ));
        return;
    }
    if !scope.roots.contains(&root) {
        problems.push(format!(
            "`{raw}` names `{root}`, which is not a variable here (here: {}){}",
            scope.roots.join(", "),
            did_you_mean(root, scope.roots.iter().copied())
        ));
        return;
    }
    if let (Some(second), Some(known)) = (names.get(1), scope.names(root))
        && !known.contains(second)
    {
        let declared_where = match root {
            "settings" => "declare it under `settings:`",
            "secrets" => "declare it under `secrets:`",
            "config" => "every config must have it in its `vars`",
            "saved" => "extract it in an earlier `order.steps[].extract`",
            "polled" => "extract it in an earlier `order_status.steps[].extract`",
            "also" => "name it under `configs.fetch.also:`",
            "combine" => "name it under `configs.fetch.combine:`",
            "session" => "the login's session has `token` and what `api.login.extract` takes",
            "request" => "the request has method, url, host, path, query and body",
            "clock" => "the clock has unix, rfc3339, iso_basic, date and http",
            _ => "task has id, config_id, password and hoster_id",
        };
        let named = if raw == format!("{root}.{second}") {
            format!("`{raw}` is not declared")
        } else {
            format!("`{raw}` names `{root}.{second}`, which is not declared")
        };
        problems.push(format!(
            "{named} ({declared_where}){}",
            did_you_mean(second, known.iter().map(String::as_str))
        ));
    }
}

fn did_you_mean<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> String {
    crate::suggest::closest(name, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Declared {
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        Declared {
            settings: set(&["region", "image"]),
            secrets: set(&["token"]),
            config: set(&["id", "descr", "plan"]),
            saved: vec![set(&["server_id"]), set(&["action_id"])],
            polled: vec![set(&["state"])],
            also: set(&["prices"]),
            combine: set(&["region"]),
            login: true,
            session: set(&["compute"]),
            endpoints: set(&["compute"]),
        }
    }

    fn problems(text: &str, at: &YamlPath) -> Vec<String> {
        check(text, &Scope::at(&declared(), at))
    }

    fn order_step(index: usize) -> YamlPath {
        YamlPath::root()
            .key("order")
            .key("steps")
            .index(index)
            .key("request")
    }

    #[test]
    fn declared_names_pass() {
        let text = "{{settings.region}}-{{config.plan}}-{{saved.server_id}}-{{password}}-{{uuid}}-{{task.id}}";
        assert!(problems(text, &order_step(1)).is_empty());
        let fetch = YamlPath::root().key("configs").key("fetch").key("descr");
        let text = "{{human_size item.memory \"MB\"}} {{#with (find item.prices \"l\" settings.region)}}{{p.gross}}{{@root.settings.image}}{{../settings.image}}{{/with}}";
        assert!(
            problems(text, &fetch).is_empty(),
            "{:?}",
            problems(text, &fetch)
        );
        let nested = "{{#with item}}{{#each tags}}{{../region}}{{/each}}{{/with}}";
        assert!(
            problems(nested, &fetch).is_empty(),
            "a `../` inside two blocks stays inside"
        );
    }

    #[test]
    fn misspelt_and_undeclared_names_are_found() {
        let found = problems("{{settings.regoin}}", &order_step(0));
        assert!(
            found[0].contains("settings.regoin") && found[0].contains("did you mean `region`"),
            "{found:?}"
        );
        assert!(
            problems("{{secrets.api_key}}", &order_step(0))[0]
                .contains("declare it under `secrets:`")
        );
        assert!(problems("{{polled.state}}", &order_step(0))[0].contains("not a variable here"));
        assert!(
            problems("{{#if (eq setings.x 1)}}{{/if}}", &order_step(0))[0]
                .contains("did you mean `settings`")
        );
        assert!(
            problems("{{human_sise 1 \"MB\"}}", &order_step(0))[0]
                .contains("did you mean `human_size`")
        );
        assert_eq!(
            problems(
                "{{#each item.x}}{{@root.saved.nope}}{{/each}}",
                &order_step(0)
            )
            .len(),
            2
        );
        let fetch = YamlPath::root().key("configs").key("fetch").key("descr");
        assert!(
            problems(
                "{{#each item.tags}}x{{else}}{{settings.nope}}{{/each}}",
                &fetch
            )[0]
            .contains("settings.nope")
        );
    }

    #[test]
    fn a_step_sees_only_what_earlier_steps_extracted() {
        assert!(problems("{{saved.server_id}}", &order_step(0))[0].contains("earlier"));
        assert!(problems("{{saved.action_id}}", &order_step(1))[0].contains("earlier"));
        assert!(
            problems(
                "{{saved.action_id}}",
                &YamlPath::root().key("order").key("hoster_id")
            )
            .is_empty()
        );
        let status_step = YamlPath::root()
            .key("order_status")
            .key("steps")
            .index(0)
            .key("request");
        assert!(problems("{{saved.action_id}}", &status_step).is_empty());
        assert!(problems("{{polled.state}}", &status_step)[0].contains("earlier"));
    }

    #[test]
    fn block_variables_need_a_block() {
        let fetch = YamlPath::root().key("configs").key("fetch").key("id");
        assert!(problems("{{@key}}", &fetch)[0].contains("only inside an `#each`"));
        assert!(problems("{{concat @index item.x}}", &fetch)[0].contains("`@index`"));
        assert!(problems("{{#each item.x}}{{@key}}{{@index}}{{/each}}", &fetch).is_empty());
        assert!(problems("{{also.prices.x}}{{combine.region}}", &fetch).is_empty());
        let request = YamlPath::root()
            .key("configs")
            .key("fetch")
            .key("also")
            .key("prices")
            .key("request")
            .key("path");
        assert!(problems("{{item.x}}", &request)[0].contains("not a variable here"));
    }

    #[test]
    fn password_is_only_for_tasks() {
        let api = YamlPath::root().key("api").key("headers").key("X");
        assert!(problems("{{password}}", &api)[0].contains("only while ordering"));
    }

    #[test]
    fn the_session_token_is_seen_by_api_auth_only() {
        let auth = YamlPath::root().key("api").key("auth").key("bearer");
        assert!(problems("{{session.token}}", &auth).is_empty());
        assert!(problems("{{session.tokn}}", &auth)[0].contains("did you mean `token`?"));
        let header = YamlPath::root().key("api").key("headers").key("X-Token");
        assert!(problems("{{session.token}}", &header)[0].contains("not a variable here"));
        let without = Declared {
            login: false,
            ..declared()
        };
        assert!(!check("{{session.token}}", &Scope::at(&without, &auth)).is_empty());
    }

    #[test]
    fn endpoints_see_settings_and_the_session_but_no_secret() {
        let endpoint = YamlPath::root().key("api").key("endpoints").key("compute");
        assert!(problems("{{settings.region}}{{session.compute}}", &endpoint).is_empty());
        assert!(problems("{{session.compte}}", &endpoint)[0].contains("did you mean `compute`?"));
        assert!(problems("{{secrets.token}}", &endpoint)[0].contains("not a variable here"));
        let base_url = YamlPath::root().key("api").key("base_url");
        assert!(problems("{{settings.region}}", &base_url).is_empty());
        assert!(problems("{{session.token}}", &base_url)[0].contains("not a variable here"));
    }
}
