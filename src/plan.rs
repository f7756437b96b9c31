//! The checked plan: a provider file with its JSONPath and templates compiled and its ids,
//! statuses and names checked. All load-time `file:line:col` errors come from here.
//!
//! Rules: compiling needs only the provider file (so `validate` needs no site); binding the
//! plan to a site ([`Plan::bind`]) adds secrets and setting overrides; nothing here touches the
//! network or the task store.

use crate::error::{Error, Location, Result, Source, io_error};
use crate::ids;
use crate::manifest::{self, Configs, Manifest, Method, Otherwise, ProviderStatus, TaskStatus};
use crate::position::{LineCol, YamlPath};
use crate::redact;
use crate::site::{self, Site};
use crate::suggest;
use crate::template::{Template, Templates, Tree};
use crate::variables::{self, Declared, Scope};
use indexmap::IndexMap;
use jsonpath_rust::parser::model::JpQuery;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// `api.deadline_seconds`: lowest, default, highest.
const DEADLINE_SECONDS: (u64, u64, u64) = (1, 60, 600);
/// The deadline of a run before its provider file is read.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(DEADLINE_SECONDS.1);
/// `api.max_response_bytes`: lowest, default (8 MiB), highest (256 MiB).
const RESPONSE_BYTES: (u64, u64, u64) = (1024, 8 << 20, 256 << 20);
/// `api.login.expires_seconds`: (lowest, default, highest).
const SESSION_SECONDS: (u64, u64, u64) = (60, 3600, 30 * 24 * 3600);
const DEFAULT_MAX_PAGES: u32 = 20;
/// `configs.fetch.cache_minutes`: lowest, default, highest (a day).
const CACHE_MINUTES: (u64, u64, u64) = (0, 10, 24 * 60);
/// `configs.fetch.stale_minutes`: lowest, default (a day), highest (a week).
const STALE_MINUTES: (u64, u64, u64) = (0, 24 * 60, 7 * 24 * 60);
/// `order_status.give_up_after_minutes`: lowest, default, highest (a week).
const GIVE_UP_MINUTES: (u64, u64, u64) = (1, 30, 7 * 24 * 60);
/// `order_status.ssh_check.timeout_seconds`: lowest, default, highest.
const SSH_TIMEOUT_SECONDS: (u64, u64, u64) = (1, 3, 30);
const DEFAULT_SSH_PORT: u16 = 22;
/// The most memory an `extract` pattern may compile to: far above any real pattern, and it
/// bounds what a hostile file can make a run build.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

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
}

/// One request, ready to render.
#[derive(Debug)]
pub struct RequestPlan {
    pub at: YamlPath,
    pub method: Method,
    pub path: Text,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(String, Text)>,
    pub body: Option<BodyPlan>,
}

/// A request's body: one of the three kinds a request may have.
#[derive(Debug)]
pub enum BodyPlan {
    /// `json:`, a tree serialised as JSON.
    Json(Tree),
    /// `form:`, a flat tree sent as `name=value&...`.
    Form(Tree),
    /// `body:`, a template sent as it renders.
    Text { content_type: String, text: Text },
}

/// What a form body may hold, for the messages that refuse anything else.
pub const FORM_RULE: &str = "form fields are flat: `name: value`, and a list sends its name once per item (`ids: [1, 2]` → `ids=1&ids=2`); send nested data as `json:`";

/// The `Content-Type` of a `body:` that names none.
const DEFAULT_TEXT_TYPE: &str = "text/plain; charset=utf-8";

impl BodyPlan {
    /// The `Content-Type` sent when the provider file sets none in its headers.
    pub fn content_type(&self) -> &str {
        match self {
            BodyPlan::Json(_) => "application/json",
            BodyPlan::Form(_) => "application/x-www-form-urlencoded",
            BodyPlan::Text { content_type, .. } => content_type,
        }
    }
}

/// A request and the values taken from its answer.
#[derive(Debug)]
pub struct StepPlan {
    pub request: RequestPlan,
    pub extract: Vec<(String, ExtractPlan)>,
    /// The step's own `error_when` and `error_message`, which replace the API's.
    pub errors: ErrorsPlan,
}

/// Where a hoster puts its errors: a JSONPath that finds one inside a 2xx answer, and the
/// JSONPath of its text.
#[derive(Debug, Default, Clone)]
pub struct ErrorsPlan {
    pub when: Option<Query>,
    pub message: Option<Query>,
}

impl ErrorsPlan {
    /// These rules alone: `error_when` and `error_message`.
    pub fn rules(&self) -> (Option<&Query>, Option<&Query>) {
        (self.when.as_ref(), self.message.as_ref())
    }

    /// These rules, each falling back to `api`'s where this one has none.
    pub fn or<'a>(&'a self, api: &'a ErrorsPlan) -> (Option<&'a Query>, Option<&'a Query>) {
        (
            self.when.as_ref().or(api.when.as_ref()),
            self.message.as_ref().or(api.message.as_ref()),
        )
    }
}

/// Where in the answer an extracted value is.
#[derive(Debug)]
pub enum AnswerPlace {
    /// A JSONPath over the body.
    Body(Query),
    /// A response header, by its name (matched in any letter case).
    Header(String),
    /// The HTTP status code.
    Status,
}

/// One `extract` value, compiled.
#[derive(Debug)]
pub struct ExtractPlan {
    pub place: AnswerPlace,
    /// Cuts the value found to the pattern's first group (or whole match).
    pub pattern: Option<regex::Regex>,
}

impl ExtractPlan {
    /// Whether the value is read from the body (which must then be JSON).
    pub fn reads_body(&self) -> bool {
        matches!(self.place, AnswerPlace::Body(_))
    }

    /// The header the value is read from, if it is one.
    pub fn header(&self) -> Option<&str> {
        match &self.place {
            AnswerPlace::Header(name) => Some(name),
            _ => None,
        }
    }
}

/// How requests authenticate.
#[derive(Debug)]
pub enum AuthPlan {
    Bearer(Text),
    Header(String, Text),
    Query(String, Text),
    Basic(Text, Text),
}

/// The login that gets a session token, checked.
#[derive(Debug)]
pub struct LoginPlan {
    /// Where `api.login` is written.
    pub at: YamlPath,
    pub request: RequestPlan,
    /// `token` and, when the file says where, `expires`: the values taken from the answer.
    pub extract: Vec<(String, ExtractPlan)>,
    /// How long a token lasts when the answer does not say.
    pub lifetime: Duration,
}

/// The API settings, checked.
#[derive(Debug)]
pub struct ApiPlan {
    pub base_url: String,
    pub auth: Option<AuthPlan>,
    pub login: Option<LoginPlan>,
    pub headers: Vec<(String, Text)>,
    /// `api.error_when` and `api.error_message`.
    pub errors: ErrorsPlan,
    pub failure_statuses: Vec<(u16, u16)>,
    pub deadline: Duration,
    pub max_response_bytes: u64,
    pub check: Option<RequestPlan>,
}

/// A config's vars: a map whose string leaves are templates, and where it was written.
#[derive(Debug)]
pub struct Vars {
    pub at: YamlPath,
    pub tree: Tree,
}

/// One written-out configuration.
#[derive(Debug)]
pub struct StaticConfigPlan {
    pub id: String,
    /// A template over `settings` (`"... {{settings.region}}"`).
    pub descr: Text,
    pub vars: Vars,
}

/// How paginated plan lists continue.
#[derive(Debug)]
pub struct PagesPlan {
    pub next: Query,
    pub param: Option<String>,
    pub max: u32,
}

/// Where the elements of a list are in an answer (see [`manifest::Items`]).
#[derive(Debug)]
pub enum ItemsPlan {
    /// Every match is one element.
    Each(Query),
    /// The match is an object: every entry is one element `{key, value}`.
    Entries(Query),
    /// The match is one element (an object) or an array of them.
    OneOrMany(Query),
}

/// A list joined to each plan by key.
#[derive(Debug)]
pub struct AlsoPlan {
    pub name: String,
    pub request: RequestPlan,
    pub items: ItemsPlan,
    pub key: Text,
    pub matches: Text,
}

/// Where a combined list comes from.
#[derive(Debug)]
pub enum ListPlan {
    Written(Vec<Value>),
    Fetched(Box<(RequestPlan, ItemsPlan)>),
}

/// A list offered with every plan.
#[derive(Debug)]
pub struct CombinePlan {
    pub name: String,
    pub list: ListPlan,
}

/// Configurations built from a plan list.
#[derive(Debug)]
pub struct FetchPlan {
    pub request: RequestPlan,
    pub pages: Option<PagesPlan>,
    pub items: ItemsPlan,
    pub also: Vec<AlsoPlan>,
    pub combine: Vec<CombinePlan>,
    pub filter: Option<Text>,
    pub id: Text,
    pub descr: Text,
    pub vars: Vars,
    /// The vars as written, shown by a dry run in place of values from a plan.
    pub vars_written: Map<String, Value>,
    /// How long a fetched menu is reused, and how long it may stand in for a failed fetch.
    pub fresh_for: Duration,
    pub stale_for: Duration,
}

#[derive(Debug)]
pub enum ConfigsPlan {
    Static(Vec<StaticConfigPlan>),
    Fetch(Box<FetchPlan>),
}

/// A `map` key of the status rule.
#[derive(Debug)]
pub enum StatePattern {
    Exact(String),
    Glob(Vec<String>),
}

impl StatePattern {
    /// A key of the status map: with a `*`, a pattern (`*` stands for any text), else exact.
    pub fn parse(key: &str) -> StatePattern {
        if key.contains('*') {
            StatePattern::Glob(key.split('*').map(str::to_owned).collect())
        } else {
            StatePattern::Exact(key.to_owned())
        }
    }
}

#[derive(Debug)]
pub struct StatusPlan {
    pub steps: Vec<StepPlan>,
    pub value: Text,
    pub map: Vec<(StatePattern, TaskStatus)>,
    pub otherwise: Otherwise,
    pub server: Text,
    pub server_password: Text,
    pub ssh_check: Option<SshCheckPlan>,
    pub give_up_after: Duration,
}

/// Where and how long to knock before calling a server ready.
#[derive(Debug, Clone, Copy)]
pub struct SshCheckPlan {
    pub port: u16,
    pub timeout: Duration,
}

/// The requests that delete a server whose order failed, and whether to send them.
#[derive(Debug)]
pub struct CleanupPlan {
    pub when: Option<Text>,
    pub steps: Vec<StepPlan>,
}

#[derive(Debug)]
pub struct OrderPlan {
    pub steps: Vec<StepPlan>,
    pub hoster_id: Text,
    /// The index of the step that buys: the one marked `buys: true`, or the only non-`GET`
    /// one. `None` when every step is a `GET` and none is marked.
    pub buys: Option<usize>,
}

/// The sections of a provider file a run uses. Only those are compiled: compiling templates
/// and JSONPath is most of a run's start-up, which the panel pays on every call (`help` for
/// every provider on every page, `order_status` for every task). `validate` compiles all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub configs: bool,
    pub order: bool,
    /// `order_status` and `cleanup`.
    pub status: bool,
}

impl Parts {
    /// Enough to say whether the provider is enabled: structure, secrets and settings.
    pub const NONE: Parts = Parts {
        configs: false,
        order: false,
        status: false,
    };
    pub const ALL: Parts = Parts {
        configs: true,
        order: true,
        status: true,
    };
    pub const CONFIGS: Parts = Parts {
        configs: true,
        ..Parts::NONE
    };
    /// An order picks its config from the menu first.
    pub const ORDER: Parts = Parts {
        configs: true,
        order: true,
        status: false,
    };
    pub const STATUS: Parts = Parts {
        status: true,
        ..Parts::NONE
    };
}

/// A provider file, checked, with the [`Parts`] it was loaded for compiled.
pub struct Plan {
    pub name: String,
    pub source: Source,
    pub status: ProviderStatus,
    pub description: Option<String>,
    pub secrets: IndexMap<String, manifest::SecretDecl>,
    pub settings: IndexMap<String, manifest::SettingDecl>,
    pub api: ApiPlan,
    configs: Option<ConfigsPlan>,
    order: Option<OrderPlan>,
    order_status: Option<StatusPlan>,
    cleanup: Option<CleanupPlan>,
    pub templates: Templates,
    /// Names of extracted values that `server_password` is made of (see [`Plan::is_secret_value`]).
    pub secret_values: BTreeSet<String>,
}

/// A plan with this site's secrets and settings.
pub struct Bound {
    pub plan: Plan,
    pub base_url: String,
    pub secrets: Map<String, Value>,
    pub settings: Map<String, Value>,
    /// Why the provider cannot work here, when it cannot.
    pub disabled_because: Option<String>,
    /// The file name of the site's trace log (`log=` in the secrets file), when it has one.
    pub log: Option<String>,
    /// Whether the SSH check may run: not when the secrets file says `ssh_check=off`.
    pub ssh_check: bool,
    /// The port the SSH check knocks on when the secrets file's `ssh_port=` sets one.
    pub ssh_port: Option<u16>,
}

/// Reads and compiles the provider file at `path`, for provider `name`.
pub fn load_file(name: &str, path: &Path, parts: Parts) -> Result<Plan, Vec<Error>> {
    let text = match crate::files::read_text(path, crate::files::WRITTEN_FILE_CAP) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(vec![Error::new(format!("no provider file `{}`", path.display())).help(
                format!(
                    "write one (see providers.d/ and the README), or set VPS_PROVIDER_DIR to the folder that holds `{name}.yaml`"
                ),
            )]);
        }
        Err(err) => return Err(vec![io_error("read the provider file", path, &err)]),
    };
    load_source(name, path, &text, parts)
}

/// Parses and compiles provider file `text` as if read from `path` (which only appears in
/// messages): [`load_file`] without the file system, so the fuzz targets and the regression
/// tests feed it the same way a run does.
pub fn load_source(name: &str, path: &Path, text: &str, parts: Parts) -> Result<Plan, Vec<Error>> {
    let source = Source {
        file: path.to_path_buf(),
        text: text.into(),
    };
    let manifest = parse(&source).map_err(|e| vec![e])?;
    Plan::compile(name, manifest, source, parts)
}

/// Like [`load_file`], with the problems as one error: the first, and how many more there are
/// (`validate` shows them all).
pub fn load_checked(name: &str, path: &Path, parts: Parts) -> Result<Plan> {
    load_file(name, path, parts).map_err(|mut problems| {
        let first = problems.remove(0);
        match problems.len() {
            0 => first,
            more => {
                let help = format!(
                    "{more} more problem(s) in this file: run `vps-provider validate {name}`"
                );
                let help = first
                    .help
                    .clone()
                    .map_or(help.clone(), |h| format!("{h}; {help}"));
                first.help(help)
            }
        }
    })
}

/// Parses the YAML into the provider file's types, with serde's position and a suggestion.
pub fn parse(source: &Source) -> Result<Manifest> {
    serde_yaml_ng::from_str(&source.text).map_err(|err| yaml_error(source, &err))
}

/// serde_yaml's error at its place, with a suggestion for a misspelt key.
pub fn yaml_error(source: &Source, err: &serde_yaml_ng::Error) -> Error {
    let line_col = err.location().map(|l| LineCol {
        line: l.line(),
        col: l.column(),
    });
    let raw = err.to_string();
    // serde_yaml appends " at line N column M"; the location says it better.
    let message = raw.split(" at line ").next().unwrap_or(&raw).to_owned();
    let error =
        Error::new(message.clone()).at(Location::in_file(&source.file, line_col, &source.text));
    match suggestion(&message) {
        Some(help) => error.help(help),
        None => error,
    }
}

/// "did you mean" for serde's `unknown field `x`, expected one of `a`, `b``.
fn suggestion(message: &str) -> Option<String> {
    let start = message
        .find("unknown field")
        .or_else(|| message.find("unknown variant"))?;
    let ticks: Vec<&str> = message[start..].split('`').skip(1).step_by(2).collect();
    let (unknown, expected) = ticks.split_first()?;
    Some(suggest::help(unknown, expected.iter().copied()))
}

/// Collects problems while compiling, so `validate` can show them all at once.
struct Compiler<'a> {
    source: &'a Source,
    templates: Templates,
    declared: Declared,
    problems: Vec<Error>,
}

impl Compiler<'_> {
    fn problem(&mut self, at: &YamlPath, message: impl Into<String>, help: impl Into<String>) {
        self.problems
            .push(self.source.error(at, message).help(help));
    }

    /// Checks the variables a template names (see [`crate::variables`]).
    fn check_variables(&mut self, at: &YamlPath, text: &str) {
        if text.contains("{{") {
            for problem in variables::check(text, &Scope::at(&self.declared, at)) {
                self.problem(at, problem, "templates see `settings`, `secrets`, and by place `item`, `also`, `combine`, `config`, `task`, `saved`, `polled`: see the README");
            }
        }
    }

    fn text(&mut self, at: YamlPath, text: &str) -> Text {
        self.check_variables(&at, text);
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
        Text { at, template }
    }

    /// Refuses an auth value that takes no secret: a credential written in the provider file
    /// (mode 0644, shown by dry runs) is a credential given away. The line is not quoted: it
    /// holds the credential.
    fn credential_from_secrets(&mut self, at: &YamlPath, text: &str) {
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

    fn tree(&mut self, at: &YamlPath, value: &Value) -> Tree {
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

    fn vars(&mut self, at: YamlPath, vars: &IndexMap<String, Value>) -> Vars {
        let tree = self.tree(&at, &Value::Object(vars.clone().into_iter().collect()));
        Vars { at, tree }
    }

    fn check_tree_variables(&mut self, at: &YamlPath, value: &Value) {
        match value {
            Value::String(text) => self.check_variables(at, text),
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

    fn query(&mut self, at: YamlPath, text: &str) -> Option<Query> {
        match compile_query(text) {
            Ok(compiled) => Some(Query { at, compiled }),
            Err(message) => {
                self.problem(&at, message, "JSONPath starts at `$`, e.g. `$.server.id` or `$.items[?@.type == 'public'].ip`");
                None
            }
        }
    }

    fn pairs(&mut self, at: &YamlPath, map: &IndexMap<String, String>) -> Vec<(String, Text)> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.text(at.key(k), v)))
            .collect()
    }

    fn request(&mut self, at: YamlPath, request: &manifest::Request) -> RequestPlan {
        RequestPlan {
            method: request.method,
            path: self.text(at.key("path"), &request.path),
            query: self.pairs(&at.key("query"), &request.query),
            headers: self.pairs(&at.key("headers"), &request.headers),
            body: self.body(&at, request),
            at,
        }
    }

    /// The request's one body, if it has one; two or three kinds are a problem at the second.
    fn body(&mut self, at: &YamlPath, request: &manifest::Request) -> Option<BodyPlan> {
        let written: Vec<&str> = [
            ("json", request.json.is_some()),
            ("form", request.form.is_some()),
            ("body", request.body.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect();
        if let [_, second, ..] = written[..] {
            self.problem(
                &at.key(second),
                format!("a request has one body, this one has `{}`", written.join("` and `")),
                "keep one: `json` (a JSON body), `form` (a form body) or `body` (text sent as written)",
            );
        }
        if let Some(json) = &request.json {
            return Some(BodyPlan::Json(self.tree(&at.key("json"), json)));
        }
        if let Some(form) = &request.form {
            return Some(BodyPlan::Form(self.form(at.key("form"), form)));
        }
        let raw = request.body.as_ref()?;
        let at = at.key("body");
        let content_type = raw.content_type.as_deref().unwrap_or(DEFAULT_TEXT_TYPE);
        if !content_type.contains('/') || content_type.chars().any(char::is_control) {
            self.problem(
                &at.key("content_type"),
                format!("`{}` is not a content type", content_type.escape_debug()),
                "write a media type on one line, e.g. `text/plain` or `application/x-yaml`",
            );
        }
        Some(BodyPlan::Text {
            content_type: content_type.to_owned(),
            text: self.text(at.key("text"), &raw.text),
        })
    }

    /// A form body: flat, checked before it is compiled like a JSON body.
    fn form(&mut self, at: YamlPath, form: &IndexMap<String, Value>) -> Tree {
        for (key, value) in form {
            let flat = match value {
                Value::Array(items) => !items.iter().any(|i| i.is_array() || i.is_object()),
                Value::Object(_) => false,
                _ => true,
            };
            if !flat {
                self.problem(
                    &at.key(key),
                    format!("form field `{key}` holds a map or a list of lists"),
                    FORM_RULE,
                );
            }
        }
        self.tree(&at, &Value::Object(form.clone().into_iter().collect()))
    }

    /// One `extract` value: a JSONPath (the short form), or exactly one part of the answer.
    fn extract(&mut self, at: YamlPath, extract: &manifest::Extract) -> Option<ExtractPlan> {
        let part = match extract {
            manifest::Extract::Body(path) => {
                return Some(ExtractPlan {
                    place: AnswerPlace::Body(self.query(at, path)?),
                    pattern: None,
                });
            }
            manifest::Extract::Part(part) => part,
        };
        let place = match (&part.body, &part.header, part.status) {
            (Some(path), None, None) => AnswerPlace::Body(self.query(at.key("body"), path)?),
            (None, Some(name), None) => {
                let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || !name.chars().all(token) {
                    self.problem(
                        &at.key("header"),
                        format!("`{}` is not a header name", name.escape_debug()),
                        "write the name as the hoster documents it, e.g. `Location` or `X-Subject-Token`",
                    );
                }
                AnswerPlace::Header(name.clone())
            }
            (None, None, Some(true)) => AnswerPlace::Status,
            _ => {
                self.problem(
                    &at,
                    "an extracted value comes from exactly one of `body`, `header` and `status: true`",
                    "e.g. `{ header: Location }`, `{ status: true }`, or a JSONPath like `$.server.id` for the body",
                );
                return None;
            }
        };
        let pattern = part.pattern.as_ref().and_then(|pattern| {
            regex::RegexBuilder::new(pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    // The parser's report spans lines (the pattern, a caret, the reason).
                    let report = e.to_string();
                    let reason = report.lines().last().unwrap_or_default();
                    self.problem(
                        &at.key("pattern"),
                        format!(
                            "`{pattern}` is not a regular expression: {}",
                            reason.trim_start_matches("error: ")
                        ),
                        "e.g. `/servers/([^/?]+)` takes `42` from `/servers/42`; see https://docs.rs/regex for the syntax",
                    );
                })
                .ok()
        });
        Some(ExtractPlan { place, pattern })
    }

    /// Compiles `steps`; `buys: true` is for `order`'s steps only (`may_buy`).
    fn steps(&mut self, at: YamlPath, steps: &[manifest::Step], may_buy: bool) -> Vec<StepPlan> {
        if steps.is_empty() {
            self.problem(
                &at,
                "there are no steps",
                "add at least one `- request: {...}`",
            );
        }
        steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let at = at.index(i);
                if step.buys && !may_buy {
                    self.problem(
                        &at.key("buys"),
                        "only an `order` step buys",
                        "remove `buys: true` here; mark the order step that buys the server",
                    );
                }
                StepPlan {
                    errors: self.errors(&at, &step.error_when, &step.error_message),
                    request: self.request(at.key("request"), &step.request),
                    extract: step
                        .extract
                        .iter()
                        .filter_map(|(name, extract)| {
                            Some((
                                name.clone(),
                                self.extract(at.key("extract").key(name), extract)?,
                            ))
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// `error_when` and `error_message` of the section at `at`, compiled.
    fn errors(
        &mut self,
        at: &YamlPath,
        when: &Option<String>,
        message: &Option<String>,
    ) -> ErrorsPlan {
        ErrorsPlan {
            when: when
                .as_ref()
                .and_then(|q| self.query(at.key("error_when"), q)),
            message: message
                .as_ref()
                .and_then(|q| self.query(at.key("error_message"), q)),
        }
    }

    /// The order step that buys: the one marked `buys: true`, else the only one that is not
    /// a `GET`. A file where that is ambiguous is refused: taking the wrong step for the
    /// purchase tells the panel a server may exist when none does, or the reverse.
    fn buying_step(&mut self, at: &YamlPath, steps: &[manifest::Step]) -> Option<usize> {
        let marked: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].buys).collect();
        for &i in marked.iter().skip(1) {
            self.problem(
                &at.index(i).key("buys"),
                format!("step {} says `buys: true` too; only one step buys", i + 1),
                format!("keep `buys: true` on the step that orders the server (now step {} and this one)", marked[0] + 1),
            );
        }
        for &i in &marked {
            if steps[i].request.method == Method::Get {
                self.problem(
                    &at.index(i).key("buys"),
                    "a `GET` step cannot buy: reads are retried, a purchase must be sent once",
                    "send the purchase with `method: POST` (or the method the hoster documents)",
                );
            }
        }
        let writes: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].request.method != Method::Get)
            .collect();
        match (marked.first(), writes.as_slice()) {
            (Some(&i), _) => Some(i),
            (None, [only]) => Some(*only),
            (None, []) => None,
            (None, [_, second, ..]) => {
                self.problem(
                    &at.index(*second).key("request").key("method"),
                    format!("steps {} are not `GET`, and none says which one buys the server", writes.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ")),
                    "add `buys: true` to the step that orders the server (a login or other step before it then buys nothing)",
                );
                None
            }
        }
    }

    /// `value`, or its default, when it lies within `range`.
    fn bounded(
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

    /// The API section. Its templates and JSONPath (auth, headers, the error message, the
    /// check) are compiled only when the plan will send a request: `help` sends none.
    fn api(&mut self, api: &manifest::Api, sends: bool) -> ApiPlan {
        let at = YamlPath::root().key("api");
        if let Err((message, help)) = check_base_url(&api.base_url) {
            self.problem(&at.key("base_url"), message, help);
        }
        let auth = api.auth.as_ref().filter(|_| sends).and_then(|auth| {
            let at = at.key("auth");
            let plans: Vec<AuthPlan> = [
                auth.bearer.as_ref().map(|value| AuthPlan::Bearer(self.text(at.key("bearer"), value))),
                auth.header.as_ref().map(|h| AuthPlan::Header(h.name.clone(), self.text(at.key("header").key("value"), &h.value))),
                auth.query.as_ref().map(|q| AuthPlan::Query(q.name.clone(), self.text(at.key("query").key("value"), &q.value))),
                auth.basic.as_ref().map(|b| {
                    AuthPlan::Basic(
                        self.text(at.key("basic").key("username"), &b.username),
                        self.text(at.key("basic").key("password"), &b.password),
                    )
                }),
            ]
            .into_iter()
            .flatten()
            .collect();
            if plans.len() != 1 {
                self.problem(&at, format!("`auth` needs exactly one of `bearer`, `header`, `query`, `basic`; it has {}", plans.len()), "e.g. `auth: { bearer: \"{{secrets.token}}\" }`");
            }
            let credentials = [
                auth.bearer.as_deref().map(|v| (at.key("bearer"), v)),
                auth.header.as_ref().map(|h| (at.key("header").key("value"), h.value.as_str())),
                auth.query.as_ref().map(|q| (at.key("query").key("value"), q.value.as_str())),
                auth.basic.as_ref().map(|b| (at.key("basic").key("password"), b.password.as_str())),
            ];
            for (at, text) in credentials.into_iter().flatten() {
                self.credential_from_secrets(&at, text);
            }
            plans.into_iter().next()
        });
        let failure_statuses = match &api.failure_statuses {
            None => vec![(300, 599)],
            Some(ranges) => ranges
                .iter()
                .enumerate()
                .filter_map(|(i, range)| {
                    let parsed = parse_status_range(range);
                    if parsed.is_none() {
                        self.problem(
                            &at.key("failure_statuses").index(i),
                            "not an HTTP status or range",
                            "write a code like `404` or a range like `\"500-599\"`",
                        );
                    }
                    parsed
                })
                .collect(),
        };
        ApiPlan {
            base_url: api.base_url.trim_end_matches('/').to_owned(),
            auth,
            login: api
                .login
                .as_ref()
                .filter(|_| sends)
                .map(|login| self.login(at.key("login"), login)),
            headers: if sends {
                self.pairs(&at.key("headers"), &api.headers)
            } else {
                Vec::new()
            },
            errors: if sends {
                self.errors(&at, &api.error_when, &api.error_message)
            } else {
                ErrorsPlan::default()
            },
            failure_statuses,
            deadline: Duration::from_secs(self.bounded(
                &at.key("deadline_seconds"),
                api.deadline_seconds,
                DEADLINE_SECONDS,
                "the panel waits for the plugin with no timeout of its own",
            )),
            max_response_bytes: self.bounded(
                &at.key("max_response_bytes"),
                api.max_response_bytes,
                RESPONSE_BYTES,
                "an answer is read into memory whole",
            ),
            check: api.check.as_ref().filter(|_| sends).map(|request| {
                if request.method != Method::Get {
                    self.problem(
                        &at.key("check").key("method"),
                        "the check must only read",
                        "use GET",
                    );
                }
                self.request(at.key("check"), request)
            }),
        }
    }

    /// `api.login`: its request, where the token and its expiry are, how long a token lasts.
    fn login(&mut self, at: YamlPath, login: &manifest::Login) -> LoginPlan {
        let mut extract = Vec::new();
        let parts = [
            ("token", Some(&login.token)),
            ("expires", login.expires.as_ref()),
        ];
        for (name, part) in parts {
            if let Some(plan) = part.and_then(|part| self.extract(at.key(name), part)) {
                extract.push((name.to_owned(), plan));
            }
        }
        LoginPlan {
            request: self.request(at.key("request"), &login.request),
            extract,
            lifetime: Duration::from_secs(self.bounded(
                &at.key("expires_seconds"),
                login.expires_seconds,
                SESSION_SECONDS,
                "a kept token must outlast the run by a minute",
            )),
            at,
        }
    }

    fn configs(&mut self, configs: &Configs) -> ConfigsPlan {
        let at = YamlPath::root().key("configs");
        let chosen = match (&configs.static_list, &configs.fetch) {
            (Some(list), None) => Ok(list),
            (None, Some(fetch)) => Err(fetch),
            _ => {
                self.problem(&at, "`configs` needs exactly one of `static` and `fetch`", "write `configs: { static: [...] }` for a fixed list, or `configs: { fetch: {...} }` to build it from the hoster's plans");
                return ConfigsPlan::Static(Vec::new());
            }
        };
        match chosen {
            Ok(list) => {
                let at = at.key("static");
                if list.is_empty() {
                    self.problem(
                        &at,
                        "the config list is empty",
                        "add at least one `- id: \"1\"` with `descr` and `vars`",
                    );
                }
                let mut seen = Vec::new();
                let plans = list
                    .iter()
                    .enumerate()
                    .map(|(i, config)| {
                        let at = at.index(i);
                        if !ids::is_safe(&config.id) {
                            self.problem(
                                &at.key("id"),
                                format!(
                                    "config id `{}` is not safe in a shell or a file name",
                                    ids::shown(&config.id)
                                ),
                                ids::RULE,
                            );
                        }
                        if seen.contains(&config.id) {
                            self.problem(
                                &at.key("id"),
                                format!("config id `{}` is used twice", config.id),
                                "give every config its own id",
                            );
                        }
                        seen.push(config.id.clone());
                        self.reserved_vars(&at.key("vars"), &config.vars);
                        StaticConfigPlan {
                            id: config.id.clone(),
                            descr: self.text(at.key("descr"), &config.descr),
                            vars: self.vars(at.key("vars"), &config.vars),
                        }
                    })
                    .collect();
                ConfigsPlan::Static(plans)
            }
            Err(fetch) => {
                let at = at.key("fetch");
                self.reserved_vars(&at.key("vars"), &fetch.vars);
                let pages = fetch.pages.as_ref().and_then(|pages| {
                    Some(PagesPlan {
                        next: self.query(at.key("pages").key("next"), &pages.next)?,
                        param: pages.param.clone(),
                        max: pages.max.unwrap_or(DEFAULT_MAX_PAGES),
                    })
                });
                let plan = FetchPlan {
                    request: self.list_request(at.key("request"), &fetch.request),
                    pages,
                    items: self.items(at.key("items"), &fetch.items),
                    also: fetch
                        .also
                        .iter()
                        .map(|(name, also)| self.also(at.key("also").key(name), name, also))
                        .collect(),
                    combine: fetch
                        .combine
                        .iter()
                        .map(|(name, combine)| {
                            self.combine(at.key("combine").key(name), name, combine)
                        })
                        .collect(),
                    filter: fetch
                        .filter
                        .as_ref()
                        .map(|f| self.text(at.key("filter"), f)),
                    id: self.text(at.key("id"), &fetch.id),
                    descr: self.text(at.key("descr"), &fetch.descr),
                    vars: self.vars(at.key("vars"), &fetch.vars),
                    vars_written: fetch.vars.clone().into_iter().collect(),
                    fresh_for: Duration::from_secs(
                        60 * self.bounded(
                            &at.key("cache_minutes"),
                            fetch.cache_minutes,
                            CACHE_MINUTES,
                            "how long a fetched menu is reused",
                        ),
                    ),
                    stale_for: Duration::from_secs(
                        60 * self.bounded(
                            &at.key("stale_minutes"),
                            fetch.stale_minutes,
                            STALE_MINUTES,
                            "how long an old menu stands in while the hoster fails",
                        ),
                    ),
                };
                ConfigsPlan::Fetch(Box::new(plan))
            }
        }
    }

    /// A request of the menu: it must only read.
    fn list_request(&mut self, at: YamlPath, request: &manifest::Request) -> RequestPlan {
        let plan = self.request(at, request);
        if plan.method != Method::Get {
            self.problem(
                &plan.at.key("method"),
                "the menu's lists must be read with GET",
                "configs must never change anything at the hoster",
            );
        }
        plan
    }

    fn items(&mut self, at: YamlPath, items: &manifest::Items) -> ItemsPlan {
        let mut query = |at: YamlPath, text: &str| {
            self.query(at.clone(), text)
                .unwrap_or_else(|| placeholder_query(&at))
        };
        match items {
            manifest::Items::Path(text) => ItemsPlan::Each(query(at, text)),
            manifest::Items::Shaped(shape) => match (&shape.entries, &shape.one_or_many) {
                (Some(text), None) => ItemsPlan::Entries(query(at.key("entries"), text)),
                (None, Some(text)) => ItemsPlan::OneOrMany(query(at.key("one_or_many"), text)),
                _ => {
                    self.problem(&at, "`items` needs exactly one of `entries` and `one_or_many`", "write `items: $.plans[*]` for a list, `items: { entries: $.servers }` for plans keyed by name, or `items: { one_or_many: $.doc.elem }` for one plan or a list of them");
                    ItemsPlan::Each(placeholder_query(&at))
                }
            },
        }
    }

    /// A list's name becomes a template path (`also.NAME`): a plain word, or it cannot be read.
    fn list_name(&mut self, at: &YamlPath, root: &str, name: &str) -> String {
        let mut chars = name.chars();
        let plain = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            self.problem(
                at,
                format!(
                    "`{root}.{}` cannot be named in a template",
                    ids::shown(name)
                ),
                "name the list with letters, digits and `_`, starting with a letter",
            );
        }
        name.to_owned()
    }

    fn also(&mut self, at: YamlPath, name: &str, also: &manifest::Also) -> AlsoPlan {
        AlsoPlan {
            name: self.list_name(&at, "also", name),
            request: self.list_request(at.key("request"), &also.request),
            items: self.items(at.key("items"), &also.items),
            key: self.text(at.key("key"), &also.key),
            matches: self.text(at.key("match"), &also.matches),
        }
    }

    fn combine(&mut self, at: YamlPath, name: &str, combine: &manifest::Combine) -> CombinePlan {
        let list = match (&combine.list, &combine.request, &combine.items) {
            (Some(list), None, None) => {
                if list.is_empty() {
                    self.problem(
                        &at.key("list"),
                        "the list is empty: no plan would be offered",
                        "write at least one element, or leave this list out",
                    );
                }
                ListPlan::Written(list.clone())
            }
            (None, Some(request), Some(items)) => ListPlan::Fetched(Box::new((
                self.list_request(at.key("request"), request),
                self.items(at.key("items"), items),
            ))),
            (None, Some(_), None) => {
                self.problem(
                    &at,
                    format!(
                        "`combine.{name}.request` needs `items`: where the list is in the answer"
                    ),
                    "e.g. `items: $.regions[*]`",
                );
                ListPlan::Written(Vec::new())
            }
            _ => {
                self.problem(&at, format!("`combine.{name}` needs exactly one of `list` and `request` (with `items`)"), "write `list: [a, b]`, or `request: { path: /regions }` with `items: $.regions[*]`");
                ListPlan::Written(Vec::new())
            }
        };
        CombinePlan {
            name: self.list_name(&at, "combine", name),
            list,
        }
    }

    /// The settings as declared: plain defaults or described (see [`manifest::SettingDecl`]).
    fn settings(
        &mut self,
        settings: &IndexMap<String, Value>,
    ) -> IndexMap<String, manifest::SettingDecl> {
        let mut declared = IndexMap::new();
        for (name, value) in settings {
            match manifest::SettingDecl::from_value(value) {
                Ok(decl) => {
                    declared.insert(name.clone(), decl);
                }
                Err(reason) => self.problem(
                    &YamlPath::root().key("settings").key(name),
                    format!("setting `{name}`: {reason}"),
                    "write `{ default: VALUE, description: \"TEXT\" }`, or the default alone",
                ),
            }
        }
        declared
    }

    fn reserved_vars(&mut self, at: &YamlPath, vars: &IndexMap<String, Value>) {
        for name in ["id", "descr"] {
            if vars.contains_key(name) {
                self.problem(
                    &at.key(name),
                    format!("`{name}` is reserved: `config.{name}` is the config's own"),
                    "rename this var",
                );
            }
        }
    }

    fn status(&mut self, status: &manifest::OrderStatus) -> StatusPlan {
        let at = YamlPath::root().key("order_status");
        for (i, step) in status.steps.iter().enumerate() {
            if step.request.method != Method::Get {
                self.problem(
                    &at.key("steps").index(i).key("request").key("method"),
                    "order_status must only read",
                    "use GET: the panel polls this on every page load",
                );
            }
        }
        if status.status.map.is_empty() {
            self.problem(
                &at.key("status").key("map"),
                "the status map is empty",
                "map the hoster's states, e.g. `running: finished`",
            );
        }
        StatusPlan {
            steps: self.steps(at.key("steps"), &status.steps, false),
            value: self.text(at.key("status").key("value"), &status.status.value),
            map: status
                .status
                .map
                .iter()
                .map(|(key, outcome)| (StatePattern::parse(key), *outcome))
                .collect(),
            otherwise: status.status.otherwise,
            server: self.text(at.key("server"), &status.server),
            server_password: self.text(at.key("server_password"), &status.server_password),
            ssh_check: status.ssh_check.as_ref().map(|check| SshCheckPlan {
                port: match check.port {
                    Some(0) => {
                        self.problem(
                            &at.key("ssh_check").key("port"),
                            "port 0 cannot be connected to",
                            "use the server's SSH port, usually 22",
                        );
                        DEFAULT_SSH_PORT
                    }
                    port => port.unwrap_or(DEFAULT_SSH_PORT),
                },
                timeout: Duration::from_secs(self.bounded(
                    &at.key("ssh_check").key("timeout_seconds"),
                    check.timeout_seconds,
                    SSH_TIMEOUT_SECONDS,
                    "one attempt per poll; the next poll tries again",
                )),
            }),
            give_up_after: Duration::from_secs(
                60 * self.bounded(
                    &at.key("give_up_after_minutes"),
                    status.give_up_after_minutes,
                    GIVE_UP_MINUTES,
                    "how long an order may stay in progress",
                ),
            ),
        }
    }

    fn cleanup(&mut self, cleanup: &manifest::Cleanup) -> CleanupPlan {
        let at = YamlPath::root().key("cleanup");
        for (i, step) in cleanup.steps.iter().enumerate() {
            if !step.extract.is_empty() {
                self.problem(
                    &at.key("steps").index(i).key("extract"),
                    "a cleanup step takes nothing from its answer",
                    "remove `extract`: nothing runs after the cleanup",
                );
            }
        }
        CleanupPlan {
            when: cleanup.when.as_ref().map(|w| self.text(at.key("when"), w)),
            steps: self.steps(at.key("steps"), &cleanup.steps, false),
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

/// Names of extracted values to hide from every message and trace: those that
/// `server_password` is made of, and those whose names say they are secret.
fn secret_values(server_password: &str) -> BTreeSet<String> {
    let names: BTreeSet<String> = variables::uses(server_password)
        .map(|uses| uses.variables)
        .unwrap_or_default()
        .into_iter()
        .filter(|(path, _)| matches!(path[0].as_str(), "saved" | "polled") && path.len() > 1)
        .map(|(path, _)| path[1].clone())
        .collect();
    names
}

/// The names the file declares, for checking the variables its templates use.
fn declared(manifest: &Manifest) -> Declared {
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
    }
}

/// A section the run did not load was used: a bug, reported rather than panicked on.
fn not_loaded(section: &str) -> Error {
    Error::new(format!(
        "internal error (a bug in vps-provider): `{section}` was used but not loaded"
    ))
}

/// Stands in for a query that did not compile, so compiling can go on and report more.
fn placeholder_query(at: &YamlPath) -> Query {
    Query {
        at: at.clone(),
        compiled: jsonpath_rust::parser::parse_json_path("$").expect("`$` is a JSONPath"),
    }
}

fn parse_status_range(range: &manifest::StatusRange) -> Option<(u16, u16)> {
    let valid = |code: u16| (100..=599).contains(&code);
    let (low, high) = match range {
        manifest::StatusRange::Code(code) => (*code, *code),
        manifest::StatusRange::Range(text) => {
            let (low, high) = text.split_once('-').unwrap_or((text, text));
            (low.trim().parse().ok()?, high.trim().parse().ok()?)
        }
    };
    (valid(low) && valid(high) && low <= high).then_some((low, high))
}

impl Plan {
    /// Checks and compiles a parsed provider file. Returns every problem found.
    pub fn compile(
        name: &str,
        manifest: Manifest,
        source: Source,
        parts: Parts,
    ) -> Result<Plan, Vec<Error>> {
        let mut c = Compiler {
            source: &source,
            templates: Templates::new(),
            declared: declared(&manifest),
            problems: Vec::new(),
        };
        if let Some(written) = &manifest.name
            && written != name
        {
            c.problem(
                &YamlPath::root().key("name"),
                format!("the file says `name: {written}` but is loaded as `{name}`"),
                format!("rename the file to `{written}.yaml` or set `name: {name}`"),
            );
        }
        for (reserved, what) in site::RESERVED {
            for (kind, declared) in [
                ("secrets", manifest.secrets.contains_key(*reserved)),
                ("settings", manifest.settings.contains_key(*reserved)),
            ] {
                if declared {
                    c.problem(
                        &YamlPath::root().key(kind).key(reserved),
                        format!("`{reserved}` is a reserved name: the secrets file's `{reserved}=` {what}"),
                        "give this one another name",
                    );
                }
            }
        }
        for (secret, decl) in &manifest.secrets {
            if manifest.settings.contains_key(secret) {
                c.problem(
                    &YamlPath::root().key("secrets").key(secret),
                    format!("`{secret}` is both a secret and a setting"),
                    "give them different names: both are set by `name=value` in the secrets file",
                );
            }
            if decl.env.as_deref().is_some_and(str::is_empty) {
                c.problem(
                    &YamlPath::root().key("secrets").key(secret).key("env"),
                    "the variable name is empty",
                    "name a variable, e.g. `ACME_TOKEN`, or leave `env` out",
                );
            }
        }
        let settings = c.settings(&manifest.settings);
        let api = c.api(&manifest.api, parts != Parts::NONE);
        let configs = parts.configs.then(|| c.configs(&manifest.configs));
        let order = parts.order.then(|| OrderPlan {
            buys: c.buying_step(
                &YamlPath::root().key("order").key("steps"),
                &manifest.order.steps,
            ),
            steps: c.steps(
                YamlPath::root().key("order").key("steps"),
                &manifest.order.steps,
                true,
            ),
            hoster_id: c.text(
                YamlPath::root().key("order").key("hoster_id"),
                &manifest.order.hoster_id,
            ),
        });
        let order_status = parts.status.then(|| c.status(&manifest.order_status));
        let cleanup = manifest
            .cleanup
            .as_ref()
            .filter(|_| parts.status)
            .map(|cleanup| c.cleanup(cleanup));
        // Only polls and orders handle extracted values.
        let secret_values = if parts.order || parts.status {
            secret_values(&manifest.order_status.server_password)
        } else {
            BTreeSet::new()
        };
        let Compiler {
            templates,
            problems,
            ..
        } = c;
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Plan {
            name: name.to_owned(),
            source,
            status: manifest.status,
            description: manifest.description,
            secrets: manifest.secrets,
            settings,
            api,
            configs,
            order,
            order_status,
            cleanup,
            templates,
            secret_values,
        })
    }

    /// The menu. The plan must have been loaded with [`Parts::configs`].
    pub fn configs(&self) -> Result<&ConfigsPlan> {
        self.configs.as_ref().ok_or_else(|| not_loaded("configs"))
    }

    /// How to order. The plan must have been loaded with [`Parts::order`].
    pub fn order(&self) -> Result<&OrderPlan> {
        self.order.as_ref().ok_or_else(|| not_loaded("order"))
    }

    /// How to poll. The plan must have been loaded with [`Parts::status`].
    pub fn order_status(&self) -> Result<&StatusPlan> {
        self.order_status
            .as_ref()
            .ok_or_else(|| not_loaded("order_status"))
    }

    /// The cleanup of failed servers, if the file has one (loaded with [`Parts::status`]).
    pub fn cleanup(&self) -> Option<&CleanupPlan> {
        self.cleanup.as_ref()
    }

    /// Whether the value extracted as `name` is a secret: `server_password` is made of it, or
    /// its name says so (`root_pass`, `api_token`...).
    pub fn is_secret_value(&self, name: &str) -> bool {
        self.secret_values.contains(name) || looks_secret(name)
    }

    /// Every setting with its default (`null`: the site must set it).
    pub fn setting_defaults(&self) -> Map<String, Value> {
        self.settings
            .iter()
            .map(|(name, decl)| (name.clone(), decl.default_value().clone()))
            .collect()
    }

    /// Adds this site's secrets and settings. A secret that is missing disables the provider
    /// (with the reason); a line of the secrets file that names nothing is an error.
    pub fn bind(self, site: &Site) -> Result<Bound> {
        if let Some(url) = &site.base_url_override {
            check_base_url(url).map_err(|(message, help)| {
                Error::new(format!("VPS_PROVIDER_BASE_URL: {message}")).help(help)
            })?;
        }
        let entries = site::read_secrets_file(&site.secrets_file)?;
        let mut secrets = Map::new();
        let mut settings = self.setting_defaults();
        let (mut log, mut ssh_check, mut ssh_port) = (None, true, None);
        for entry in entries {
            if entry.name == site::LOG_KEY {
                log = log_name(entry, site)?;
            } else if entry.name == site::SSH_CHECK_KEY {
                ssh_check = ssh_check_switch(&entry)?;
            } else if entry.name == site::SSH_PORT_KEY {
                ssh_port = ssh_port_number(&entry)?;
            } else if self.secrets.contains_key(&entry.name) {
                // An empty `token=` (as `install` writes it) is a secret still to be filled in.
                if !entry.value.is_empty() {
                    redact::register(&entry.value);
                    secrets.insert(entry.name, Value::String(entry.value));
                }
            } else if let Some(default) = self.settings.get(&entry.name).map(|d| d.default_value())
            {
                // An empty `project=` (as `install` writes it) is a setting still to be chosen.
                if default.is_null() && entry.value.is_empty() {
                    continue;
                }
                let value = typed_like(default, &entry.value).map_err(|expected| {
                    Error::new(format!("setting `{}` must be {expected}", entry.name))
                        .at(entry.location.clone())
                        .help(format!("its default in the provider file is `{default}`"))
                })?;
                settings.insert(entry.name, value);
            } else {
                let known: Vec<&str> = self
                    .secrets
                    .keys()
                    .chain(self.settings.keys())
                    .map(String::as_str)
                    .collect();
                let help = match suggest::closest(&entry.name, known.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None if known.is_empty() => {
                        "this provider takes no secrets or settings".to_owned()
                    }
                    None => format!("this provider knows: {}", known.join(", ")),
                };
                return Err(Error::new(format!(
                    "`{}` is neither a secret nor a setting of `{}`",
                    entry.name, self.name
                ))
                .at(entry.location)
                .help(help));
            }
        }
        let mut missing = Vec::new();
        for (name, decl) in &self.secrets {
            if secrets.contains_key(name) {
                continue;
            }
            match decl
                .env
                .as_deref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.is_empty())
            {
                Some(value) => {
                    redact::register(&value);
                    secrets.insert(name.clone(), Value::String(value));
                }
                None => missing.push(format!("secret `{name}`")),
            }
        }
        // A setting without a default (`~`) is one the site must choose.
        for (name, value) in &settings {
            if value.is_null() {
                missing.push(format!("setting `{name}`"));
            }
        }
        let disabled_because = if self.status == ProviderStatus::Disabled {
            Some(format!(
                "`{}` is disabled in its provider file `{}`",
                self.name,
                self.source.file.display()
            ))
        } else if !missing.is_empty() {
            Some(format!(
                "{} missing: add a `name=value` line for each to `{}` (mode 0600)",
                missing.join(", "),
                site.secrets_file.display()
            ))
        } else {
            None
        };
        Ok(Bound {
            base_url: site.base_url_override.clone().map_or_else(
                || self.api.base_url.clone(),
                |u| u.trim_end_matches('/').to_owned(),
            ),
            plan: self,
            secrets,
            settings,
            disabled_because,
            log,
            ssh_check,
            ssh_port,
        })
    }
}

/// Whether a name (of an extracted value, or of the header it came from) says it is secret.
pub fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The log's file name from the secrets file's `log=` line: a plain name (an empty value is
/// no log), never a path, so the log stays in the site's log folder.
fn log_name(entry: site::Entry, site: &Site) -> Result<Option<String>> {
    if entry.value.is_empty() {
        return Ok(None);
    }
    if !ids::is_safe(&entry.value) {
        return Err(Error::new(format!(
            "`{}=` must be a file name in `{}`, not `{}`",
            site::LOG_KEY,
            site.log_dir.display(),
            ids::shown(&entry.value)
        ))
        .at(entry.location)
        .help(format!("write e.g. `{}=vps-provider.log`: a letter or digit, then letters, digits, `_`, `.`, `-` (no `/`), at most {} characters", site::LOG_KEY, ids::MAX_LEN)));
    }
    Ok(Some(entry.value))
}

/// The secrets file's `ssh_check=` line: `off` (or `0`, `false`, `no`) turns the SSH check
/// off, `on` (or `1`, `true`, `yes`, or empty) leaves it on.
fn ssh_check_switch(entry: &site::Entry) -> Result<bool> {
    match entry.value.to_ascii_lowercase().as_str() {
        "off" | "0" | "false" | "no" => Ok(false),
        "on" | "1" | "true" | "yes" | "" => Ok(true),
        _ => Err(Error::new(format!(
            "`{}=` must be `on` or `off`, not `{}`",
            site::SSH_CHECK_KEY,
            ids::shown(&entry.value)
        ))
        .at(entry.location.clone())
        .help(format!(
            "write `{}=off` to skip the SSH check (a staging API, a mock), or remove the line",
            site::SSH_CHECK_KEY
        ))),
    }
}

/// The secrets file's `ssh_port=` line: the port the SSH check knocks on (empty: the file's).
fn ssh_port_number(entry: &site::Entry) -> Result<Option<u16>> {
    if entry.value.is_empty() {
        return Ok(None);
    }
    match entry.value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(Error::new(format!(
            "`{}=` must be a port from 1 to 65535, not `{}`",
            site::SSH_PORT_KEY,
            ids::shown(&entry.value)
        ))
        .at(entry.location.clone())
        .help(format!(
            "write the port the servers' SSH listens on, e.g. `{}=2222`",
            site::SSH_PORT_KEY
        ))),
    }
}

/// Whether `url` may carry a token: `https://`, or plain `http://` to this machine only (the
/// demo and the tests), where nothing crosses a network. Gives the problem and what to do.
pub fn check_base_url(url: &str) -> std::result::Result<(), (String, String)> {
    let https = url.starts_with("https://");
    let host = match crate::http::url_host(url) {
        Some(host) if url.starts_with("http://") || https => host,
        _ => {
            return Err((
                format!("`{url}` is not an http(s) URL"),
                "write the full URL, e.g. `https://api.example.com/v1`".into(),
            ));
        }
    };
    if host.is_empty() {
        return Err((
            format!("`{url}` names no host"),
            "write the full URL, e.g. `https://api.example.com/v1`".into(),
        ));
    }
    let loopback = crate::http::is_loopback_host(host);
    if https || loopback {
        Ok(())
    } else {
        Err((
            format!("`{url}` is plain http: the API token would cross the network unencrypted"),
            "use the hoster's `https://` address; plain `http://` is only for loopback (127.0.0.1, ::1, localhost)".into(),
        ))
    }
}

/// Reads `text` as a value of the same JSON type as `default`.
fn typed_like(default: &Value, text: &str) -> std::result::Result<Value, &'static str> {
    match default {
        Value::String(_) => Ok(Value::String(text.to_owned())),
        // No default to take the type from: a number or a list is read as one.
        Value::Null => Ok(serde_yaml_ng::from_str::<Value>(text)
            .ok()
            .filter(|v| !v.is_string() && !v.is_null())
            .unwrap_or_else(|| Value::String(text.to_owned()))),
        Value::Number(_) => serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .map_err(|_| "a number"),
        Value::Bool(_) => text
            .parse()
            .map(Value::Bool)
            .map_err(|_| "`true` or `false`"),
        Value::Array(_) => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(list @ Value::Array(_)) => Ok(list),
            _ => Err("a list like `[a, b]`"),
        },
        Value::Object(_) => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(map @ Value::Object(_)) => Ok(map),
            _ => Err("a map like `{a: 1}`"),
        },
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
    fn plain_http_is_for_loopback_only() {
        for ok in [
            "https://api.example.com/v1",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.2",
            "http://[::1]:99/x",
            "http://localhost/v1",
            "http://LOCALHOST:1",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com/v1",
            "http://10.0.0.1/v1",
            "http://127.0.0.1.evil.example/v1",
            "http://localhost.evil.example",
            "http://user@example.com",
            "http://[::2]/",
            "ftp://127.0.0.1",
            "http://",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
        let (message, help) = check_base_url("http://api.example.com").unwrap_err();
        assert!(message.contains("plain http"), "{message}");
        assert!(help.contains("https://"), "{help}");
    }

    #[test]
    fn suggests_the_nearest_key() {
        let message = "unknown field `extrat`, expected one of `request`, `extract`";
        assert_eq!(suggestion(message).unwrap(), "did you mean `extract`?");
        assert!(suggestion("missing field `id`").is_none());
    }

    #[test]
    fn jsonpath_errors_fit_on_one_line() {
        let err = jsonpath_rust::parser::parse_json_path("$.server[id").unwrap_err();
        assert_eq!(
            jsonpath_reason(&err.to_string()),
            "expected selector at character 10"
        );
    }

    #[test]
    fn status_ranges() {
        use manifest::StatusRange::*;
        assert_eq!(parse_status_range(&Code(404)), Some((404, 404)));
        assert_eq!(
            parse_status_range(&Range("500-599".into())),
            Some((500, 599))
        );
        assert_eq!(parse_status_range(&Range("599-500".into())), None);
        assert_eq!(parse_status_range(&Code(42)), None);
    }

    #[test]
    fn settings_keep_their_type() {
        assert_eq!(typed_like(&Value::from(1), "1869"), Ok(Value::from(1869)));
        assert!(typed_like(&Value::from(1), "rocky").is_err());
        assert_eq!(typed_like(&Value::from("a"), "12"), Ok(Value::from("12")));
        assert_eq!(typed_like(&Value::Null, "12"), Ok(Value::from(12)));
        assert_eq!(
            typed_like(&Value::Null, "rocky-9"),
            Ok(Value::from("rocky-9"))
        );
        assert_eq!(
            typed_like(&serde_json::json!([]), "[1, 2]"),
            Ok(serde_json::json!([1, 2]))
        );
    }
}
