//! Handlebars set up for this job: templates in URLs, headers, bodies and descriptions.
//!
//! Rules: no HTML escaping (these are API values, not pages); strict mode, so a misspelt
//! variable is an error instead of an empty string; a JSON body is a tree rendered leaf by leaf
//! and serialised afterwards, so a value can never break the JSON; a leaf that is exactly one
//! `{{path}}` keeps the type of the value it names (numbers stay numbers, lists stay lists).
//!
//! Variables: `settings`, `secrets`, `config` (id, descr and its vars), `task` (id,
//! config_id), `saved` (kept at order time), `polled` (this poll's answers), `item` (a plan,
//! while building configs). Helpers are listed by [`helper_names`]; `base64` and `json` also
//! take a block (`{{#base64}}...{{/base64}}`): the block is rendered, then encoded, so a YAML
//! block scalar can be a multi-line document. A tag alone on its line takes the line with it
//! (handlebars' standalone rule): the block's text starts on the line after `{{#base64}}` and
//! ends with the newline before `{{/base64}}`. What a helper makes of a secret, from its
//! arguments or its block, is hidden as a secret.

use crate::position::YamlPath;
use crate::redact;
use crate::signing::{DIGEST_HELPERS, DigestHelper};
use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    Renderable, ScopedJson,
};
use serde_json::Value;

/// The helpers this project adds to handlebars' own (the README says what each does).
pub fn helper_names() -> impl Iterator<Item = &'static str> + Clone {
    std::iter::once("password")
        .chain(VALUE_HELPERS.iter().map(|(name, _)| *name))
        .chain(DIGEST_HELPERS.iter().map(|(name, _)| *name))
}

/// The helpers that may be written as blocks: handlebars' own that take a block, and ours
/// that encode or digest the text their block renders (`{{#base64}}...{{/base64}}`).
pub const BLOCK_HELPERS: &[&str] = &[
    "if",
    "unless",
    "each",
    "with",
    "base64",
    "json",
    "sha1",
    "sha256",
    "hmac_sha256",
];

/// The helpers that take no argument, whose bare name inside `#each`/`#with` could as well be
/// a field of the block's value (see [`crate::variables`]).
pub const ZERO_ARGUMENT_HELPERS: &[&str] = &["password", "uuid"];

/// What a helper takes: how many arguments, and in words (for messages, at load time and at
/// run time alike).
pub struct Signature {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub takes: &'static str,
}

const fn takes(name: &'static str, min: usize, max: usize, takes: &'static str) -> Signature {
    Signature {
        name,
        min,
        max,
        takes,
    }
}

/// Every helper a template may call, ours and handlebars' own, with what it takes. Written as
/// a block, `base64` and `json` take no argument: the block is their text.
pub const SIGNATURES: &[Signature] = &[
    takes("password", 0, 0, "no argument"),
    takes("uuid", 0, 0, "no argument"),
    takes("base64", 1, 1, "one text"),
    takes("json", 1, 1, "one value"),
    takes("default", 2, 2, "a value and a fallback"),
    takes("human_size", 2, 2, "a number and its unit (\"MB\")"),
    takes("fixed", 2, 2, "a number and a count of decimals"),
    takes("contains", 2, 2, "a list (or text) and a value"),
    takes("concat", 1, usize::MAX, "one or more values"),
    takes(
        "find",
        3,
        usize::MAX,
        "a list, then field names each with a value",
    ),
    takes("pluck", 2, 2, "a list and a field name"),
    takes("if", 1, 1, "one value"),
    takes("unless", 1, 1, "one value"),
    takes("each", 1, 1, "one list or map"),
    takes("with", 1, 1, "one value"),
    takes("lookup", 2, 2, "a list or map and a key"),
    takes("log", 1, usize::MAX, "one or more values"),
    takes("eq", 2, 2, "two values"),
    takes("ne", 2, 2, "two values"),
    takes("gt", 2, 2, "two values"),
    takes("gte", 2, 2, "two values"),
    takes("lt", 2, 2, "two values"),
    takes("lte", 2, 2, "two values"),
    takes("and", 1, usize::MAX, "one or more values"),
    takes("or", 1, usize::MAX, "one or more values"),
    takes("not", 1, 1, "one value"),
    takes("len", 1, 1, "one list, map or text"),
];

/// What helper `name` takes.
pub fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// The units `human_size` knows.
pub const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];

/// A compiled template.
#[derive(Debug, Clone)]
pub enum Template {
    /// Text without any `{{`.
    Literal(String),
    /// Exactly one `{{a.b.c}}`: looked up directly, keeping its JSON type.
    Lookup(Vec<String>),
    /// Anything else, registered in the handlebars registry under this name.
    Handlebars(String),
}

/// A JSON body or a map of vars: literal leaves and templates.
#[derive(Debug, Clone)]
pub enum Tree {
    Object(Vec<Entry>),
    Array(Vec<Tree>),
    Value(Value),
    Text(Template),
}

/// One key of a JSON object in a body. A key written with a final `?` (`zone?:`) is optional:
/// it is left out when its value renders to null or to an empty text.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub optional: bool,
    pub value: Tree,
}

/// The registry of compiled templates, and their texts (for messages that quote the part
/// of a template that failed). The handlebars registry is made with the first template that
/// needs it: registering the helpers is most of what `help` would spend on templates, and
/// `help`, like most literal or single-lookup texts, needs none.
pub struct Templates {
    registry: Option<Handlebars<'static>>,
    texts: std::collections::HashMap<String, String>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// A handlebars registry, strict, unescaped, with our helpers.
fn registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("password", Box::new(PasswordHelper));
    for (name, function) in VALUE_HELPERS {
        registry.register_helper(
            name,
            Box::new(ValueHelper {
                name,
                function: *function,
            }),
        );
    }
    for (name, _) in DIGEST_HELPERS {
        registry.register_helper(name, Box::new(DigestHelper(name)));
    }
    registry
}

impl Templates {
    pub fn new() -> Self {
        Templates {
            registry: None,
            texts: Default::default(),
        }
    }

    /// Compiles `text`, found at `path` in the provider file.
    pub fn compile(&mut self, path: &YamlPath, text: &str) -> Result<Template, String> {
        if !text.contains("{{") {
            return Ok(Template::Literal(text.to_owned()));
        }
        if let Some(lookup) = single_lookup(text) {
            return Ok(Template::Lookup(lookup));
        }
        let name = path.to_string();
        let template = parse(text)?;
        self.registry
            .get_or_insert_with(registry)
            .register_template(&name, template);
        self.texts.insert(name.clone(), text.to_owned());
        Ok(Template::Handlebars(name))
    }

    /// Compiles a YAML structure whose string leaves are templates.
    pub fn compile_tree(
        &mut self,
        path: &YamlPath,
        value: &Value,
    ) -> Result<Tree, (YamlPath, String)> {
        Ok(match value {
            Value::String(text) => {
                Tree::Text(self.compile(path, text).map_err(|e| (path.clone(), e))?)
            }
            Value::Array(items) => Tree::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.compile_tree(&path.index(i), item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Tree::Object(
                map.iter()
                    .map(|(written, v)| {
                        let (key, optional) = match written.strip_suffix('?') {
                            Some(key) => (key.to_owned(), true),
                            None => (written.clone(), false),
                        };
                        Ok(Entry {
                            key,
                            optional,
                            value: self.compile_tree(&path.key(written), v)?,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => Tree::Value(other.clone()),
        })
    }

    /// Renders a template to text.
    pub fn render(&self, template: &Template, context: &Value) -> Result<String, String> {
        match template {
            Template::Literal(text) => Ok(text.clone()),
            Template::Lookup(path) => Ok(text_of(lookup(context, path)?)),
            Template::Handlebars(name) => self
                .registry
                .as_ref()
                .ok_or_else(|| {
                    format!(
                        "internal error (a bug in vps-provider): template `{name}` was not compiled"
                    )
                })?
                .render(name, context)
                .map_err(|e| describe(&e, self.texts.get(name).map_or("", String::as_str))),
        }
    }

    /// Renders a template to a value: a single lookup keeps its type, anything else is text.
    pub fn render_value(&self, template: &Template, context: &Value) -> Result<Value, String> {
        match template {
            Template::Lookup(path) => lookup(context, path).cloned(),
            _ => self.render(template, context).map(Value::String),
        }
    }

    /// Renders a tree to JSON.
    pub fn render_tree(&self, tree: &Tree, context: &Value) -> Result<Value, String> {
        Ok(match tree {
            Tree::Object(entries) => {
                let mut object = serde_json::Map::new();
                for entry in entries {
                    let value = self.render_tree(&entry.value, context)?;
                    let empty = value.is_null() || value.as_str() == Some("");
                    if !(entry.optional && empty) {
                        object.insert(entry.key.clone(), value);
                    }
                }
                Value::Object(object)
            }
            Tree::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_tree(v, context))
                    .collect::<Result<_, _>>()?,
            ),
            Tree::Value(value) => value.clone(),
            Tree::Text(template) => self.render_value(template, context)?,
        })
    }
}

/// The deepest nesting of blocks and sub-expressions a template may have. Handlebars parses,
/// checks and renders templates recursively, and its parser slows down with the square of the
/// depth: a few thousand levels (found by fuzzing) overflow the stack, which kills the process
/// before any reply reaches the panel, or take minutes. The shipped files nest 5 deep.
pub const MAX_NESTING: usize = 32;

/// Parses `text` as a handlebars template of a provider file, or says why it is not one.
/// Every parse of a template goes through here (the compiler and the variable check), so
/// what handlebars is given has been checked for depth first, and what it gives back is
/// checked for partials.
pub fn parse(text: &str) -> Result<handlebars::Template, String> {
    let depth = nesting(text);
    if depth > MAX_NESTING {
        return Err(format!(
            "blocks and `(...)` are nested {depth} deep; at most {MAX_NESTING} are allowed"
        ));
    }
    let template = handlebars::Template::compile(text).map_err(|e| {
        let reason = e.reason().to_string();
        match e.pos() {
            Some((line, col)) => format!("{reason} (template line {line}, column {col})"),
            _ => reason,
        }
    })?;
    // A partial (`{{> name}}`) renders another registered template, and every template of the
    // file is registered under its key: one that includes itself, or an inline partial that
    // includes itself (found by fuzzing), recurses until the stack overflows. Provider files
    // have no use for partials or decorators, so they are refused.
    if has_partials(&template.elements) {
        return Err(
            "partials (`{{> name}}`) and decorators (`{{* name}}`, `{{#*inline}}`) are not supported"
                .into(),
        );
    }
    Ok(template)
}

/// How deep blocks (`{{#if}}...{{/if}}`) and sub-expressions (`(...)` inside `{{ }}`) nest,
/// counted over the text before handlebars sees it. It may count too much (a `(` inside a
/// quoted literal), never too little.
fn nesting(text: &str) -> usize {
    let (mut blocks, mut deepest) = (0usize, 0usize);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let inside = &rest[start + 2..];
        let end = inside.find("}}").unwrap_or(inside.len());
        let mustache = inside[..end].trim_start_matches(['{', '~']).trim_start();
        if mustache.starts_with(['#', '^']) && mustache.len() > 1 {
            blocks += 1;
        } else if mustache.starts_with('/') {
            blocks = blocks.saturating_sub(1);
        }
        let mut parens = 0usize;
        for c in mustache.chars() {
            match c {
                '(' => parens += 1,
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(blocks + parens);
        }
        deepest = deepest.max(blocks);
        rest = &inside[end..];
    }
    deepest
}

/// Whether a parsed template holds a partial or a decorator anywhere.
fn has_partials(elements: &[handlebars::template::TemplateElement]) -> bool {
    use handlebars::template::TemplateElement::*;
    elements.iter().any(|element| match element {
        PartialExpression(_) | PartialBlock(_) | DecoratorExpression(_) | DecoratorBlock(_) => true,
        HelperBlock(helper) => [&helper.template, &helper.inverse]
            .into_iter()
            .flatten()
            .any(|inner| has_partials(&inner.elements)),
        _ => false,
    })
}

/// A value as text: strings as they are, null as empty, the rest as JSON.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a rendered filter keeps its item.
pub fn is_truthy(rendered: &str) -> bool {
    !matches!(rendered.trim(), "" | "false" | "0" | "null")
}

/// What went wrong in template `text`, naming the variable, or, where handlebars does not
/// say which (`lookup` of a key that is not there, a helper's argument), quoting the part of
/// the template that failed and where it is.
fn describe(error: &RenderError, text: &str) -> String {
    let place = || {
        let (line, col) = (error.line_no?, error.column_no?);
        let rest = text
            .lines()
            .nth(line.checked_sub(1)?)?
            .get(col.checked_sub(1)?..)?;
        let end = rest.find("}}").map_or(rest.len(), |i| i + 2);
        Some(format!(
            "`{}` (template line {line}, column {col})",
            &rest[..end]
        ))
    };
    let place = || place().unwrap_or_else(|| "a part of the template".into());
    match error.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => {
            format!("the template names `{path}`, which has no value here")
        }
        RenderErrorReason::MissingVariable(None) => {
            format!("{} looks up a value that is not there", place())
        }
        RenderErrorReason::ParamNotFoundForIndex(helper, index) => format!(
            "{}: argument {} of `{helper}` has no value here",
            place(),
            index + 1
        ),
        RenderErrorReason::ParamNotFoundForName(helper, name) => {
            format!("{}: `{name}` of `{helper}` has no value here", place())
        }
        reason => reason.to_string(),
    }
}

/// `{{ a.b.c }}` and nothing else → `["a","b","c"]`.
fn single_lookup(text: &str) -> Option<Vec<String>> {
    // Only the braces' inside is trimmed: `" {{x}} "` is text with spaces, not a lookup.
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let parts: Vec<&str> = inner.split('.').collect();
    (parts.iter().all(|p| is_name(p))
        && !inner.contains("{{")
        && !ZERO_ARGUMENT_HELPERS.contains(&parts[0]))
    .then(|| parts.into_iter().map(str::to_owned).collect())
}

fn lookup<'a>(context: &'a Value, path: &[String]) -> Result<&'a Value, String> {
    let mut node = context;
    for (depth, key) in path.iter().enumerate() {
        let next = match node {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        node = next.ok_or_else(|| {
            format!(
                "the template names `{}`, which has no value here",
                path[..=depth].join(".")
            )
        })?;
    }
    Ok(node)
}

/// `{{password}}`: the password generated for this order, from `task.password`.
struct PasswordHelper;

impl HelperDef for PasswordHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        _: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        context: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        match context.data().pointer("/task/password") {
            Some(Value::String(password)) => {
                Ok(ScopedJson::Derived(Value::String(password.clone())))
            }
            _ => Err(
                RenderErrorReason::Other("no password was generated for this task".into()).into(),
            ),
        }
    }
}

type HelperFn = fn(&[&Value]) -> Result<Value, String>;

/// A helper that is a plain function of its arguments.
struct ValueHelper {
    name: &'static str,
    function: HelperFn,
}

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        context: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        // As a block (`{{#base64}}...{{/base64}}`), the rendered block is the one argument.
        let block = match helper.template() {
            Some(block) => Some(Value::String(block.renders(registry, context, rc)?)),
            None => None,
        };
        let args: Vec<&Value> = match &block {
            Some(text) => vec![text],
            None => helper.params().iter().map(|p| p.value()).collect(),
        };
        // A function refuses arguments it cannot take with an empty reason: the helper's
        // signature says what it takes.
        let result = (self.function)(&args).map_err(|e| {
            let e = match signature(self.name) {
                Some(signature) if e.is_empty() => format!("takes {}", signature.takes),
                _ => e,
            };
            RenderErrorReason::Other(format!("`{}`: {e}", self.name))
        })?;
        // What a helper makes of a secret (its base64, its JSON, a text around it) gives the
        // secret away as well as the secret itself: it is hidden as one.
        if args
            .iter()
            .any(|arg| redact::contains_secret(&text_of(arg)))
        {
            redact::register(&text_of(&result));
        }
        Ok(ScopedJson::Derived(result))
    }
}

const VALUE_HELPERS: &[(&str, HelperFn)] = &[
    ("uuid", |_| {
        Ok(Value::String(uuid::Uuid::new_v4().to_string()))
    }),
    ("base64", |args| {
        let [text] = args else {
            return Err(String::new());
        };
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(text_of(text)),
        ))
    }),
    ("json", |args| {
        let [value] = args else {
            return Err(String::new());
        };
        Ok(Value::String(value.to_string()))
    }),
    ("default", |args| {
        let [value, fallback] = args else {
            return Err(String::new());
        };
        let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
        Ok(if empty {
            (*fallback).clone()
        } else {
            (*value).clone()
        })
    }),
    ("human_size", |args| {
        let [value, unit] = args else {
            return Err(String::new());
        };
        Ok(Value::String(human_size(number(value)?, &text_of(unit))?))
    }),
    ("fixed", |args| {
        let [value, digits] = args else {
            return Err(String::new());
        };
        let digits = number(digits)?;
        if !(0.0..=20.0).contains(&digits) {
            return Err(format!("takes 0 to 20 decimals, not {digits}"));
        }
        let digits = digits as usize;
        Ok(Value::String(format!("{:.digits$}", number(value)?)))
    }),
    ("contains", |args| {
        let [haystack, needle] = args else {
            return Err(String::new());
        };
        Ok(Value::Bool(match haystack {
            Value::Array(items) => items
                .iter()
                .any(|i| i == *needle || text_of(i) == text_of(needle)),
            other => text_of(other).contains(&text_of(needle)),
        }))
    }),
    ("add", |args| {
        let [a, b] = args else {
            return Err("takes two numbers".into());
        };
        let (a, b) = (number(a)?, number(b)?);
        let sum = a + b;
        // Whole numbers stay whole: `{{add clock.unix 600}}` is a timestamp, not `1.7e9`.
        Ok(if sum.fract() == 0.0 && sum.abs() < 9e15 {
            Value::from(sum as i64)
        } else {
            Value::from(sum)
        })
    }),
    ("concat", |args| {
        Ok(Value::String(args.iter().map(|a| text_of(a)).collect()))
    }),
    ("find", |args| {
        // A list, then one or more field names each with the value it must have.
        let (Some(Value::Array(items)), pairs) = (args.first(), args.get(1..).unwrap_or(&[]))
        else {
            return Err(String::new());
        };
        if pairs.is_empty() || pairs.len() % 2 != 0 {
            return Err(String::new());
        }
        let found = items.iter().find(|item| {
            pairs.chunks(2).all(|pair| {
                item.get(text_of(pair[0]))
                    .is_some_and(|v| v == pair[1] || text_of(v) == text_of(pair[1]))
            })
        });
        Ok(found.cloned().unwrap_or(Value::Null))
    }),
    ("pluck", |args| {
        let [Value::Array(items), field] = args else {
            return Err(String::new());
        };
        let field = text_of(field);
        Ok(Value::Array(
            items
                .iter()
                .filter_map(|item| item.get(&field).cloned())
                .collect(),
        ))
    }),
];

/// `value` as a number: a JSON number or a text that reads as one.
pub(crate) fn number(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("`{n}` is not a number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a number")),
        other => Err(format!("`{other}` is not a number")),
    }
}

/// `2048, "MB"` → `2 GB`; units are binary (1 GB = 1024 MB), as hosters count them.
fn human_size(amount: f64, unit: &str) -> Result<String, String> {
    let mut index = UNITS
        .iter()
        .position(|u| u.eq_ignore_ascii_case(unit))
        .ok_or_else(|| format!("unknown unit `{unit}`; use one of {}", UNITS.join(", ")))?;
    let mut amount = amount;
    while amount >= 1024.0 && index + 1 < UNITS.len() {
        amount /= 1024.0;
        index += 1;
    }
    let rounded = (amount * 10.0).round() / 10.0;
    let text = if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    };
    Ok(format!("{text} {}", UNITS[index]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(text: &str, context: Value) -> Result<String, String> {
        let mut templates = Templates::new();
        let template = templates.compile(&YamlPath::root().key("t"), text)?;
        templates.render(&template, &context)
    }

    #[test]
    fn what_helpers_make_of_a_secret_is_a_secret() {
        redact::register("Derived-Secret-42");
        let context =
            json!({"secrets": {"t": "Derived-Secret-42"}, "settings": {"n": "plain-value-1"}});
        for text in [
            r##"{{base64 (concat "#cloud-config\npassword: " secrets.t)}}"##,
            r#"{{json (concat "a\"b" secrets.t)}}"#,
            "{{concat secrets.t settings.n}}",
            "{{#base64}}\n#cloud-config\npassword: {{secrets.t}}\n{{/base64}}",
            "{{#json}}a\"b {{secrets.t}}{{/json}}",
        ] {
            let made = render(text, context.clone()).unwrap();
            assert_eq!(redact::clean(&format!("<{made}>")), "<***>", "{text}");
        }
        let plain = render("{{base64 settings.n}}", context).unwrap();
        assert_eq!(
            redact::clean(&plain),
            plain,
            "a value made of no secret stays"
        );
    }

    #[test]
    fn does_not_escape_html() {
        assert_eq!(
            render("{{a}}&{{b}}", json!({"a": "<x>", "b": "'\""})).unwrap(),
            "<x>&'\""
        );
    }

    #[test]
    fn strict_mode_names_the_missing_variable() {
        let err = render(
            "x-{{settings.regoin}}",
            json!({"settings": {"region": "fsn1"}}),
        )
        .unwrap_err();
        assert!(err.contains("settings.regoin"), "{err}");
    }

    #[test]
    fn a_single_lookup_keeps_its_type() {
        let mut templates = Templates::new();
        let body = json!({"os_id": "{{settings.os}}", "name": "bx-{{task.id}}", "n": 3, "keys": "{{settings.keys}}"});
        let tree = templates.compile_tree(&YamlPath::root(), &body).unwrap();
        let context = json!({"settings": {"os": 1868, "keys": [1, 2]}, "task": {"id": "7"}});
        assert_eq!(
            templates.render_tree(&tree, &context).unwrap(),
            json!({"os_id": 1868, "name": "bx-7", "n": 3, "keys": [1, 2]})
        );
    }

    #[test]
    fn spaces_around_a_lookup_make_it_text() {
        let mut templates = Templates::new();
        let tree = templates
            .compile_tree(&YamlPath::root(), &json!({"n": " {{settings.n}} "}))
            .unwrap();
        let body = templates
            .render_tree(&tree, &json!({"settings": {"n": 5}}))
            .unwrap();
        assert_eq!(body, json!({"n": " 5 "}));
    }

    #[test]
    fn an_optional_key_is_left_out_when_empty() {
        let mut templates = Templates::new();
        let body = json!({"zone?": "{{settings.zone}}", "keys?": "{{settings.keys}}", "name": "{{settings.none}}"});
        let tree = templates.compile_tree(&YamlPath::root(), &body).unwrap();
        let empty = json!({"settings": {"zone": "", "keys": null, "none": null}});
        assert_eq!(
            templates.render_tree(&tree, &empty).unwrap(),
            json!({"name": null})
        );
        let set = json!({"settings": {"zone": "spb-3", "keys": [7], "none": null}});
        assert_eq!(
            templates.render_tree(&tree, &set).unwrap(),
            json!({"zone": "spb-3", "keys": [7], "name": null})
        );
    }

    #[test]
    fn a_value_cannot_break_the_json() {
        let mut templates = Templates::new();
        let tree = templates
            .compile_tree(&YamlPath::root(), &json!({"label": "bx {{task.id}}"}))
            .unwrap();
        let hostile = json!({"task": {"id": "\",\"admin\":true,\"x\":\""}});
        let body = templates.render_tree(&tree, &hostile).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn helpers_work() {
        let context = json!({"task": {"password": "Pw1"}, "item": {"memory": 2048, "disk": 81920, "price": 5, "regions": ["fra1"]}});
        assert_eq!(render("{{password}}", context.clone()).unwrap(), "Pw1");
        assert_eq!(
            render("{{human_size item.memory \"MB\"}}", context.clone()).unwrap(),
            "2 GB"
        );
        assert_eq!(
            render("{{human_size item.disk \"MB\"}}", context.clone()).unwrap(),
            "80 GB"
        );
        assert_eq!(
            render("{{human_size 1536 \"MB\"}}", context.clone()).unwrap(),
            "1.5 GB"
        );
        assert_eq!(
            render("{{human_size 512 \"MB\"}}", context.clone()).unwrap(),
            "512 MB"
        );
        assert_eq!(
            render("{{fixed item.price 2}}", context.clone()).unwrap(),
            "5.00"
        );
        assert_eq!(
            render("{{fixed \"4.5101\" 2}}", context.clone()).unwrap(),
            "4.51"
        );
        assert_eq!(
            render("{{contains item.regions \"fra1\"}}", context.clone()).unwrap(),
            "true"
        );
        assert_eq!(
            render("{{base64 \"hi\"}}", context.clone()).unwrap(),
            "aGk="
        );
        assert_eq!(
            render("{{json item.regions}}", context.clone()).unwrap(),
            "[\"fra1\"]"
        );
        assert_eq!(
            render(
                "{{default item.none \"x\"}}",
                json!({"item": {"none": null}})
            )
            .unwrap(),
            "x"
        );
        assert_eq!(render("{{uuid}}", context).unwrap().len(), 36);
        let prices = json!({"r": "nbg1", "item": {"prices": [{"location": "fsn1", "p": "1.5"}, {"location": "nbg1", "p": "2.5"}],
            "locations": [{"name": "fsn1"}, {"name": "nbg1"}]}});
        assert_eq!(
            render(
                "{{#with (find item.prices \"location\" r)}}{{fixed p 2}}{{/with}}",
                prices.clone()
            )
            .unwrap(),
            "2.50"
        );
        let endpoints = json!({"region": "Two", "e": [
            {"interface": "internal", "region_id": "Two", "url": "http://internal"},
            {"interface": "public", "region_id": "One", "url": "https://one"},
            {"interface": "public", "region_id": "Two", "url": "https://two"}]});
        let public_in = "{{#with (find e \"interface\" \"public\" \"region_id\" region)}}{{url}}{{else}}none{{/with}}";
        assert_eq!(render(public_in, endpoints.clone()).unwrap(), "https://two");
        let elsewhere = json!({"region": "Three", "e": endpoints["e"].clone()});
        assert_eq!(render(public_in, elsewhere).unwrap(), "none");
        let odd = render(
            "{{find e \"interface\" \"public\" \"region_id\"}}",
            endpoints,
        );
        assert!(odd.unwrap_err().contains("field names each with a value"));
        assert_eq!(
            render(
                "{{contains (pluck item.locations \"name\") r}}",
                prices.clone()
            )
            .unwrap(),
            "true"
        );
        assert_eq!(
            render(
                "{{contains (pluck item.locations \"name\") \"hel1\"}}",
                prices
            )
            .unwrap(),
            "false"
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_handlebars_sees_it() {
        let deep = |n: usize| format!("{}x{}", "{{#if a}}".repeat(n), "{{/if}}".repeat(n));
        assert_eq!(render(&deep(MAX_NESTING), json!({"a": true})).unwrap(), "x");
        let err = render(&deep(MAX_NESTING + 1), json!({"a": true})).unwrap_err();
        assert!(err.contains("nested 33 deep"), "{err}");
        let parens = format!(
            "{{{{concat {}\"x\"{}}}}}",
            "(concat ".repeat(40),
            ")".repeat(40)
        );
        assert!(
            render(&parens, json!({}))
                .unwrap_err()
                .contains("nested 40 deep")
        );
        // Siblings are not nesting.
        assert_eq!(
            render(&"{{#if a}}x{{/if}}".repeat(100), json!({"a": true}))
                .unwrap()
                .len(),
            100
        );
    }

    #[test]
    fn partials_and_decorators_are_refused() {
        for text in [
            "{{> t}}",
            "{{#> t}}x{{/t}}",
            "{{#*inline \"a\"}}{{> a}}{{/inline}}{{> a}}",
            "{{#if a}}{{else}}{{> t}}{{/if}}",
            "{{*decorator}}",
        ] {
            let err = render(text, json!({"a": true})).unwrap_err();
            assert!(err.contains("partials"), "{text}: {err}");
        }
    }

    #[test]
    fn what_handlebars_leaves_unnamed_is_quoted_with_its_place() {
        let context = json!({"item": {"o": {}, "tags": []}});
        let err = render("x {{lookup item.o \"k\"}}", context.clone()).unwrap_err();
        assert_eq!(
            err,
            "`{{lookup item.o \"k\"}}` (template line 1, column 3) looks up a value that is not there"
        );
        let err = render("a\n{{#if (eq item.nope 1)}}x{{/if}}", context).unwrap_err();
        assert!(
            err.contains("(template line 2, column 1): argument 1 of `eq` has no value here"),
            "{err}"
        );
    }

    #[test]
    fn password_without_one_is_an_error() {
        assert!(
            render("{{password}}", json!({"task": {}}))
                .unwrap_err()
                .contains("no password")
        );
    }

    #[test]
    fn helper_errors_say_which_helper() {
        let err = render("{{human_size \"lots\" \"MB\"}}", json!({})).unwrap_err();
        assert!(err.contains("human_size") && err.contains("lots"), "{err}");
    }
}
