//! Requests and what is taken from their answers: the request (path, query, headers, one body
//! of three kinds), a step's `extract` and its `error_when`, wherever a request is written
//! (`api.login`, `api.check`, the menu's lists, the order, the polls, the cleanup).

use super::{Compiler, Query, Text};
use crate::manifest::{self, Method};
use crate::position::YamlPath;
use crate::template::Tree;
use indexmap::IndexMap;
use serde_json::Value;
use std::time::Duration;

/// The most memory an `extract` pattern may compile to: far above any real pattern, and it
/// bounds what a hostile file can make a run build.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// One request, ready to render.
#[derive(Debug)]
pub struct RequestPlan {
    pub at: YamlPath,
    pub method: Method,
    /// The name of the `api.endpoints` entry it goes to (`None`: `api.base_url`).
    pub endpoint: Option<String>,
    pub path: Text,
    pub query: Vec<(String, Text)>,
    pub headers: Vec<(String, Text)>,
    pub body: Option<BodyPlan>,
    /// Whether its templates name `clock.*` (then `api.clock` is asked, once per run).
    pub clock: bool,
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
    /// How the step waits, when it does: its `GET` sent again until `until` matches.
    pub repeat: Option<RepeatPlan>,
}

/// `repeat.every_seconds`: lowest, default, highest.
const REPEAT_EVERY_SECONDS: (u64, u64, u64) = (1, 2, 60);
/// `repeat.attempts`: lowest, default, highest.
const REPEAT_ATTEMPTS: (u64, u64, u64) = (1, 30, 1000);
/// `repeat.seconds`: lowest, default, highest (the longest deadline a verb may have).
const REPEAT_SECONDS: (u64, u64, u64) = (1, 600, 600);

/// A step that waits, compiled: see [`manifest::Repeat`].
#[derive(Debug)]
pub struct RepeatPlan {
    pub at: YamlPath,
    pub until: Option<Query>,
    pub every: Duration,
    pub attempts: u64,
    pub within: Duration,
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
    /// Every line of a list header, joined by `, ` as RFC 9110 (5.3) allows: a hoster may
    /// split its `Link` header over several lines. Only the pager reads this.
    HeaderLines(String),
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
            AnswerPlace::Header(name) | AnswerPlace::HeaderLines(name) => Some(name),
            _ => None,
        }
    }
}

impl Compiler<'_> {
    pub(super) fn request(&mut self, at: YamlPath, request: &manifest::Request) -> RequestPlan {
        let clock_uses = self.clock_uses;
        if let Some(name) = &request.endpoint
            && !self.declared.endpoints.contains(name)
        {
            let known = self.declared.endpoints.iter().map(String::as_str);
            let help = if self.declared.endpoints.is_empty() {
                "declare it under `api.endpoints:` (`NAME: https://...`), or leave `endpoint` out to send to `api.base_url`".to_owned()
            } else {
                crate::suggest::help(name, known)
            };
            self.problem(
                &at.key("endpoint"),
                format!("`{name}` is not one of `api.endpoints`"),
                help,
            );
        }
        let mut plan = RequestPlan {
            method: request.method,
            endpoint: request.endpoint.clone(),
            path: self.text(at.key("path"), &request.path),
            query: self.pairs(&at.key("query"), &request.query),
            headers: self.pairs(&at.key("headers"), &request.headers),
            body: self.body(&at, request),
            clock: false,
            at,
        };
        plan.clock = self.clock_uses > clock_uses;
        plan
    }

    /// The request's one body, if it has one; two or three kinds are a problem at the second.
    pub(super) fn body(&mut self, at: &YamlPath, request: &manifest::Request) -> Option<BodyPlan> {
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
    pub(super) fn form(&mut self, at: YamlPath, form: &IndexMap<String, Value>) -> Tree {
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
    pub(super) fn extract(
        &mut self,
        at: YamlPath,
        extract: &manifest::Extract,
    ) -> Option<ExtractPlan> {
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
    pub(super) fn steps(
        &mut self,
        at: YamlPath,
        steps: &[manifest::Step],
        may_buy: bool,
    ) -> Vec<StepPlan> {
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
                    repeat: step
                        .repeat
                        .as_ref()
                        .map(|repeat| self.repeat(at.key("repeat"), repeat, step.request.method)),
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

    /// A step's `repeat`: only a `GET` is sent again (a write sent twice may do twice), and
    /// every bound within its range.
    fn repeat(&mut self, at: YamlPath, repeat: &manifest::Repeat, method: Method) -> RepeatPlan {
        if method != Method::Get {
            self.problem(
                &at,
                "only a `GET` step may repeat: a request that changes something must be sent once",
                "send the change in one step, then wait in the next: `- request: { path: ... }` with `repeat: { until: ... }`",
            );
        }
        RepeatPlan {
            until: self.query(at.key("until"), &repeat.until),
            every: Duration::from_secs(self.bounded(
                &at.key("every_seconds"),
                repeat.every_seconds,
                REPEAT_EVERY_SECONDS,
                "seconds between two requests",
            )),
            attempts: self.bounded(
                &at.key("attempts"),
                repeat.attempts,
                REPEAT_ATTEMPTS,
                "requests sent at most, the first included",
            ),
            within: Duration::from_secs(self.bounded(
                &at.key("seconds"),
                repeat.seconds,
                REPEAT_SECONDS,
                "the verb's deadline ends the wait sooner",
            )),
            at,
        }
    }

    /// `error_when` and `error_message` of the section at `at`, compiled.
    pub(super) fn errors(
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
}
