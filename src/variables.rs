//! Checks that templates name only variables that exist where they are rendered, so a
//! misspelt `{{setings.region}}` or an undeclared `{{secrets.tokn}}` is found when the file is
//! loaded, with its position, instead of on the day an order fails.
//!
//! Rules: which roots a template sees depends on where it is written (see [`Scope::at`]);
//! names under `settings`, `secrets`, `config`, `saved`, `polled` and `task` are checked
//! against what the file declares; `item` (a hoster's plan) is not known in advance and is not
//! checked; inside `#each` and `#with` blocks, relative paths point into the block's value and
//! are not checked either, but `@root.` paths are.

use crate::position::{Segment, YamlPath};
use handlebars::template::{HelperTemplate, Parameter, TemplateElement};
use handlebars::{Path, PathSeg};
use std::collections::BTreeSet;

/// The helpers a template may call: handlebars' own and this project's.
const BUILTIN_HELPERS: &[&str] = &[
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
    /// Names extracted by `order.steps`.
    pub saved: BTreeSet<String>,
    /// Names extracted by `order_status.steps`.
    pub polled: BTreeSet<String>,
}

/// What a template at some place in the file can see.
pub struct Scope<'a> {
    declared: &'a Declared,
    roots: &'static [&'static str],
}

impl<'a> Scope<'a> {
    /// The scope of a template written at `at`.
    pub fn at(declared: &'a Declared, at: &YamlPath) -> Self {
        let key = |i: usize| match at.0.get(i) {
            Some(Segment::Key(k)) => k.as_str(),
            _ => "",
        };
        let roots: &'static [&'static str] = match (key(0), key(1)) {
            ("configs", "fetch") if key(2) != "request" => &["settings", "secrets", "item"],
            ("order", _) => &["settings", "secrets", "config", "task", "saved"],
            ("order_status", _) => &["settings", "secrets", "config", "task", "saved", "polled"],
            _ => &["settings", "secrets"],
        };
        Scope { declared, roots }
    }

    fn names(&self, root: &str) -> Option<Vec<&str>> {
        let set = match root {
            "settings" => &self.declared.settings,
            "secrets" => &self.declared.secrets,
            "config" => &self.declared.config,
            "saved" => &self.declared.saved,
            "polled" => &self.declared.polled,
            "task" => return Some(TASK_FIELDS.to_vec()),
            _ => return None,
        };
        Some(set.iter().map(String::as_str).collect())
    }

    fn has_task(&self) -> bool {
        self.roots.contains(&"task")
    }
}

/// Problems with the variables and helpers of template `text`, as messages.
pub fn check(text: &str, scope: &Scope) -> Vec<String> {
    let Ok(template) = handlebars::Template::compile(text) else {
        return Vec::new(); // a parse error is reported by the compiler itself
    };
    let mut problems = Vec::new();
    walk(&template.elements, false, scope, &mut problems);
    problems.dedup();
    problems
}

fn walk(elements: &[TemplateElement], in_block: bool, scope: &Scope, problems: &mut Vec<String>) {
    for element in elements {
        match element {
            TemplateElement::Expression(helper)
            | TemplateElement::HtmlExpression(helper)
            | TemplateElement::HelperBlock(helper) => {
                helper_use(helper, in_block, scope, problems);
            }
            _ => {}
        }
    }
}

fn helper_use(helper: &HelperTemplate, in_block: bool, scope: &Scope, problems: &mut Vec<String>) {
    let mut moves_context = false;
    match &helper.name {
        Parameter::Name(name) => {
            known_helper(name, scope, problems);
            moves_context = matches!(name.as_str(), "each" | "with");
        }
        // `{{password}}` and `{{uuid}}` parse as paths; so does a plain `{{settings.x}}`.
        Parameter::Path(path) if helper.params.is_empty() && is_helper(path) => {
            known_helper(&raw(path), scope, problems);
        }
        Parameter::Path(path) => variable(path, in_block, scope, problems),
        Parameter::Subexpression(sub) => walk(
            std::slice::from_ref(sub.element.as_ref()),
            in_block,
            scope,
            problems,
        ),
        _ => {} // literals
    }
    for parameter in helper.params.iter().chain(helper.hash.values()) {
        match parameter {
            Parameter::Path(path) => variable(path, in_block, scope, problems),
            Parameter::Subexpression(sub) => walk(
                std::slice::from_ref(sub.element.as_ref()),
                in_block,
                scope,
                problems,
            ),
            _ => {}
        }
    }
    for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
        walk(&inner.elements, in_block || moves_context, scope, problems);
    }
}

fn raw(path: &Path) -> String {
    match path {
        Path::Relative((_, raw)) | Path::Local((_, _, raw)) => raw.clone(),
    }
}

fn is_helper(path: &Path) -> bool {
    matches!(raw(path).as_str(), "password" | "uuid")
}

fn known_helper(name: &str, scope: &Scope, problems: &mut Vec<String>) {
    let ours = crate::template::HELPERS
        .iter()
        .any(|(helper, _)| *helper == name);
    if !ours && !BUILTIN_HELPERS.contains(&name) {
        problems.push(format!(
            "there is no helper `{name}`{}",
            did_you_mean(
                name,
                crate::template::HELPERS
                    .iter()
                    .map(|(h, _)| *h)
                    .chain(BUILTIN_HELPERS.iter().copied())
            )
        ));
    } else if name == "password" && !scope.has_task() {
        problems.push(
            "`{{password}}` exists only while ordering and polling (it belongs to a task)".into(),
        );
    }
}

fn variable(path: &Path, in_block: bool, scope: &Scope, problems: &mut Vec<String>) {
    let Path::Relative((segments, raw)) = path else {
        return;
    }; // @index, @key...
    let mut names = Vec::new();
    let mut absolute = !in_block;
    for segment in segments {
        match segment {
            PathSeg::Named(name) => names.push(name.as_str()),
            _ => absolute = true, // @root. or ../
        }
    }
    let Some(root) = names.first().copied() else {
        return;
    };
    if !absolute || root == "this" {
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
            "saved" => "extract it in an `order.steps[].extract`",
            "polled" => "extract it in an `order_status.steps[].extract`",
            _ => "task has id, config_id, password and hoster_id",
        };
        problems.push(format!(
            "`{raw}` names `{root}.{second}`, which is not declared ({declared_where}){}",
            did_you_mean(second, known.into_iter())
        ));
    }
}

fn did_you_mean<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> String {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; did you mean `{c}`?"))
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
            saved: set(&["server_id"]),
            polled: set(&["state"]),
        }
    }

    fn problems(text: &str, at: &YamlPath) -> Vec<String> {
        let declared = declared();
        check(text, &Scope::at(&declared, at))
    }

    fn order() -> YamlPath {
        YamlPath::root().key("order").key("steps")
    }

    #[test]
    fn declared_names_pass() {
        let text = "{{settings.region}}-{{config.plan}}-{{saved.server_id}}-{{password}}-{{uuid}}-{{task.id}}";
        assert!(problems(text, &order()).is_empty());
        let fetch = YamlPath::root().key("configs").key("fetch").key("descr");
        let text = "{{human_size item.memory \"MB\"}} {{#with (find item.prices \"l\" settings.region)}}{{p.gross}}{{@root.settings.image}}{{/with}}";
        assert!(
            problems(text, &fetch).is_empty(),
            "{:?}",
            problems(text, &fetch)
        );
    }

    #[test]
    fn misspelt_and_undeclared_names_are_found() {
        let found = problems("{{settings.regoin}}", &order());
        assert!(
            found[0].contains("settings.regoin") && found[0].contains("did you mean `region`"),
            "{found:?}"
        );
        assert!(
            problems("{{secrets.api_key}}", &order())[0].contains("declare it under `secrets:`")
        );
        assert!(problems("{{polled.state}}", &order())[0].contains("not a variable here"));
        assert!(
            problems("{{#if (eq setings.x 1)}}{{/if}}", &order())[0]
                .contains("did you mean `settings`")
        );
        assert!(
            problems("{{human_sise 1 \"MB\"}}", &order())[0].contains("did you mean `human_size`")
        );
        assert!(problems("{{#each item.x}}{{@root.saved.nope}}{{/each}}", &order()).len() == 2);
    }

    #[test]
    fn password_is_only_for_tasks() {
        let api = YamlPath::root().key("api").key("headers").key("X");
        assert!(problems("{{password}}", &api)[0].contains("only while ordering"));
    }
}
