//! The runner: renders a planned request with a context, sends it, and reads the answer.
//!
//! This is the only module that talks to the network (through [`crate::http`]). It turns every
//! failure into an [`Error`] that names the request's key in the provider file, the hoster's
//! own message when there is one, and what to do. A dry run renders and reports requests
//! without sending them; a trace reports every exchange. Both go through [`Observer`].

use crate::error::{Error, Result};
use crate::extract;
use crate::http::{Answer, Client, Failure, Outgoing};
use crate::manifest::Method;
use crate::plan::{
    self, AuthPlan, BodyPlan, Bound, ExtractPlan, LoginPlan, Query, RequestPlan, StepPlan, Text,
};
use crate::redact;
use crate::redact::QUERY_VALUE;
use crate::session::{self, SessionCache};
use crate::state::Store;
use crate::template::text_of;
use base64::Engine;
use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Sees requests and answers: a dry run or a trace. Never sees secrets in clear: what it is
/// given has already been through [`crate::redact`] where it is printed.
pub trait Observer {
    /// Whether requests are really sent (`false` for a dry run).
    fn sends(&self) -> bool {
        true
    }
    /// Called with each request, before it is sent (or instead, in a dry run).
    fn request(&mut self, request: &Outgoing);
    /// Called with each answer that came back.
    fn answer(&mut self, request: &Outgoing, answer: &Answer);
    /// Told what a dry run could not show as it is (a step that needs the hoster's answers,
    /// what a placeholder state would become); a trace has nothing to add.
    fn note(&mut self, _text: &str) {}
}

/// Sends planned requests for one verb.
pub struct Runner<'a> {
    pub bound: &'a Bound,
    client: Client,
    observer: Option<Box<dyn Observer + 'a>>,
    /// Where `api.login`'s token is kept between runs (none: each run logs in).
    state_dir: Option<std::path::PathBuf>,
    /// The session token of this run, once known.
    token: Option<String>,
    /// The other values of this run's session (`api.login.extract`), with the token.
    session_values: Map<String, Value>,
    /// Whether this run already renewed its token after a 401 (it does so once).
    renewed: bool,
    /// Seconds the hoster's clock is ahead of this machine's, once `api.clock` was asked.
    clock_offset: Option<i64>,
    /// Whether a dry run is reading for real for a while (the menu an order picks from).
    reading: bool,
}

/// What a dry run sends in place of the session token.
const TOKEN_PLACEHOLDER: &str = "<session.token>";

/// What stopped a request.
#[derive(Debug)]
pub enum CallError {
    /// The request was not sent (dry run).
    NotSent,
    /// The hoster answered with a failure status.
    Answered { error: Error, status: u16 },
    /// The hoster answered with a success status and an error inside (`error_when`): it
    /// refused the request, so nothing was done.
    Refused(Error),
    /// No connection could be made: the request never left, so nothing was done.
    Unreachable(Error),
    /// No answer, or one that could not be read: for a request that buys, the outcome is
    /// unknown.
    NoAnswer(Error),
    /// The request could not be built (a template failed): nothing was sent.
    NotBuilt(Error),
    /// The answer says the session ended (`api.login.renew_when`), whatever its status: the
    /// request was refused for its token, so nothing was done.
    SessionEnded(Error),
    /// A step that waits (`repeat`) reached a bound before the hoster was done; `values` are
    /// what the last answer gave. Only a `GET` waits, so nothing was done twice.
    WaitedTooLong {
        error: Error,
        values: Box<Map<String, Value>>,
    },
}

impl CallError {
    /// Whether the hoster surely did nothing: the request never left, or the hoster refused it
    /// with a client error. A 5xx, a redirect, a 408 or no answer at all may hide a request that
    /// was carried out (a gateway that timed out while the server was being created).
    pub fn surely_did_nothing(&self) -> bool {
        match self {
            CallError::NotSent
            | CallError::Unreachable(_)
            | CallError::NotBuilt(_)
            | CallError::Refused(_)
            | CallError::SessionEnded(_)
            | CallError::WaitedTooLong { .. } => true,
            CallError::Answered { status, .. } => (400..=499).contains(status) && *status != 408,
            CallError::NoAnswer(_) => false,
        }
    }

    pub fn into_error(self) -> Error {
        match self {
            CallError::NotSent => Error::new("dry run: nothing was sent"),
            CallError::Answered { error: e, .. }
            | CallError::Refused(e)
            | CallError::SessionEnded(e)
            | CallError::Unreachable(e)
            | CallError::NoAnswer(e)
            | CallError::NotBuilt(e)
            | CallError::WaitedTooLong { error: e, .. } => e,
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        e.into_error()
    }
}

impl<'a> Runner<'a> {
    pub fn new(bound: &'a Bound, observer: Option<Box<dyn Observer + 'a>>) -> Self {
        let api = &bound.plan.api;
        Runner {
            bound,
            client: Client::new(api.deadline, api.max_response_bytes),
            observer,
            state_dir: None,
            token: None,
            session_values: Map::new(),
            renewed: false,
            clock_offset: None,
            reading: false,
        }
    }

    /// Keeps `api.login`'s token in `state_dir` between runs.
    pub fn keeping_sessions_in(mut self, state_dir: &std::path::Path) -> Self {
        self.state_dir = Some(state_dir.to_owned());
        self
    }

    /// How long the verb may still take.
    pub fn time_left(&self) -> std::time::Duration {
        self.client.time_left()
    }

    /// Whether this is a dry run: requests are shown, never sent (except while
    /// [`Runner::reading_for_real`]).
    pub fn is_dry_run(&self) -> bool {
        !self.reading && self.observer.as_ref().is_some_and(|o| !o.sends())
    }

    /// Runs `read` as a real run would, even in a dry run: for the reads an order's dry run
    /// needs to show the truth (the menu it picks the config from, and the login that menu
    /// takes), which are what `configs` sends on every visit of the panel's wizard. The dry
    /// run's observer still shows each request, and each answer as it comes.
    pub fn reading_for_real<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> T {
        let was = std::mem::replace(&mut self.reading, true);
        let result = read(self);
        self.reading = was;
        result
    }

    /// Tells the observer (a dry run) what it cannot show as a request.
    pub fn note(&mut self, text: &str) {
        if let Some(observer) = &mut self.observer {
            observer.note(&redact::clean(text));
        }
    }

    /// The variables every template sees: `settings` and `secrets`.
    pub fn base_context(&self) -> Map<String, Value> {
        let mut context = Map::new();
        context.insert(
            "settings".into(),
            Value::Object(self.bound.settings.clone()),
        );
        context.insert("secrets".into(), Value::Object(self.bound.secrets.clone()));
        context
    }

    /// Renders a template, or says which key failed and why.
    pub fn render(&self, text: &Text, context: &Value) -> Result<String> {
        self.bound
            .plan
            .templates
            .render(&text.template, context)
            .map_err(|e| {
                self.bound
                    .plan
                    .source
                    .error(&text.at, format!("cannot fill in this template: {e}"))
            })
    }

    /// Renders a header's value, which must stay one header: no line break, NUL or other
    /// control character (the value itself is not shown: it may be a token).
    fn render_header(&self, text: &Text, context: &Value) -> Result<String> {
        let value = self.render(text, context)?;
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(self
                .bound
                .plan
                .source
                .error(
                    &text.at,
                    "this header's value holds a line break, NUL or other control character once filled in",
                )
                .help("check the secret, setting or value the template uses: a header must stay one line"));
        }
        Ok(value)
    }

    /// Renders a planned request, with the session token when `api.auth` sends one (logging
    /// in first when this run has none).
    pub fn build(&mut self, request: &RequestPlan, context: &Value) -> Result<Outgoing> {
        let auth = self.auth_context(context)?;
        self.read_clock(request)?;
        self.outgoing(request, context, Some(&auth))
    }

    /// Asks `api.clock` for the hoster's time, once per run, when `request` (or what goes
    /// out with every request) names `clock.*`. A dry run shows the request and uses this
    /// machine's time. A failure says it was the clock: nothing else was sent for `request`.
    fn read_clock(&mut self, request: &RequestPlan) -> Result<()> {
        let bound = self.bound;
        let api = &bound.plan.api;
        let Some(clock) = api
            .clock
            .as_ref()
            .filter(|_| self.clock_offset.is_none() && (request.clock || api.clock_everywhere))
        else {
            return Ok(());
        };
        let failed = |error: Error| Error {
            message: format!(
                "the hoster's clock (`api.clock`) could not be read: {}",
                error.message
            ),
            ..error
        };
        let outgoing = self.bare(&clock.request)?;
        let reads_body = clock.extract.iter().any(|(_, from)| from.reads_body());
        let values = match self.exchange(
            &clock.request,
            &outgoing,
            &clock.extract,
            reads_body,
            api.errors.rules(),
        ) {
            Ok((_, values)) => values,
            Err(CallError::NotSent) => {
                self.clock_offset = Some(0);
                return Ok(());
            }
            Err(other) => return Err(failed(other.into_error())),
        };
        let found = values.get("time").unwrap_or(&Value::Null);
        let hosters = crate::signing::hoster_time(found).ok_or_else(|| {
            failed(
                bound
                    .plan
                    .source
                    .error(
                        &clock.at.key("time"),
                        format!(
                            "`{}` is not a time (unix seconds, RFC 3339 or an HTTP date)",
                            redact::clean(&text_of(found)).chars().take(80).collect::<String>()
                        ),
                    )
                    .help("point `api.clock.time` at the time in the hoster's answer: `$` for a bare number, or e.g. `{ header: Date }`"),
            )
        })?;
        self.clock_offset = Some(hosters - crate::clock::wall_secs() as i64);
        Ok(())
    }

    /// `context` with `session` (the token and the values `api.login.extract` took) when
    /// there is a login (logging in when this run has no token yet).
    fn auth_context(&mut self, context: &Value) -> Result<Value> {
        let mut with_session = context.clone();
        if let Some(login) = &self.bound.plan.api.login {
            let token = self.session_token(login, false)?;
            let mut session = self.session_values.clone();
            session.insert("token".into(), Value::String(token));
            if let Value::Object(map) = &mut with_session {
                map.insert("session".into(), Value::Object(session));
            }
        }
        Ok(with_session)
    }

    /// The session token: this run's, a kept one still valid, or a new login's (always a new
    /// login when `renew`). A dry run shows the login and uses a placeholder.
    fn session_token(&mut self, login: &LoginPlan, renew: bool) -> Result<String> {
        if let Some(token) = self.token.as_ref().filter(|_| !renew) {
            return Ok(token.clone());
        }
        let bound = self.bound;
        self.read_clock(&login.request)?;
        let outgoing = self.outgoing(&login.request, &Value::Object(self.base_context()), None)?;
        let cache = self
            .state_dir
            .as_ref()
            .filter(|_| !self.is_dry_run())
            .map(|dir| {
                SessionCache::new(
                    Store::new(dir, &bound.plan.name),
                    &bound.plan.name,
                    &outgoing,
                )
            });
        let kept = cache
            .as_ref()
            .filter(|_| !renew)
            .and_then(|cache| cache.get(bound.plan.api.deadline));
        let (token, values) = match kept {
            // Hidden by the rule a fresh login's answer is, not only by the names kept.
            Some((token, values)) => {
                hide_secret_values(&bound.plan, &login.extract, &values);
                (token, values)
            }
            None => match self.log_in(login, &outgoing)? {
                Some((token, values, expires)) => {
                    if let Some(cache) = &cache {
                        cache.put(&token, &values, expires);
                    }
                    (token, values)
                }
                None => (
                    TOKEN_PLACEHOLDER.to_owned(),
                    session_values(login, |name| Value::String(format!("<session.{name}>"))),
                ),
            },
        };
        self.token = Some(token.clone());
        self.session_values = values;
        Ok(token)
    }

    /// Sends the login; gives the token, the other values it takes, and when it expires
    /// (`None` in a dry run). A failure says it was the login, with the hoster's message.
    #[allow(clippy::type_complexity)]
    fn log_in(
        &mut self,
        login: &LoginPlan,
        outgoing: &Outgoing,
    ) -> Result<Option<(String, Map<String, Value>, u64)>> {
        let failed = |error: Error| Error {
            message: format!("the login to the hoster failed: {}", error.message),
            ..error
        };
        let reads_body = login.extract.iter().any(|(_, from)| from.reads_body());
        // A panel that answers a wrong password with 200 and an error object fails the login
        // by the API's own rules.
        let rules = self.bound.plan.api.errors.rules();
        let values =
            match self.exchange(&login.request, outgoing, &login.extract, reads_body, rules) {
                Ok((_, values)) => values,
                Err(CallError::NotSent) => return Ok(None),
                Err(other) => return Err(failed(other.into_error())),
            };
        let token = values.get("token").map(text_of).unwrap_or_default();
        if token.is_empty() {
            return Err(failed(
                self.bound
                    .plan
                    .source
                    .error(
                        &login.at.key("token"),
                        "the hoster's answer has no token where `token` points",
                    )
                    .help(
                        "check `api.login.token` against the hoster's answer (see the trace log)",
                    ),
            ));
        }
        redact::register(&token);
        let expires = session::expiry(
            values.get("expires").unwrap_or(&Value::Null),
            login.lifetime,
        )
        .map_err(failed)?;
        let kept = session_values(login, |name| {
            values.get(name).cloned().unwrap_or(Value::Null)
        });
        Ok(Some((token, kept, expires)))
    }

    /// After a 401 or an answer that says the session ended, a new token once per run;
    /// `false` when there is no login to renew or it was renewed already.
    fn renew_after(&mut self, failure: &CallError) -> Result<bool> {
        let refused = matches!(
            failure,
            CallError::Answered { status: 401, .. } | CallError::SessionEnded(_)
        );
        let Some(login) = self
            .bound
            .plan
            .api
            .login
            .as_ref()
            .filter(|_| refused && !self.renewed)
        else {
            return Ok(false);
        };
        self.renewed = true;
        self.session_token(login, true)
            .map_err(CallError::NotBuilt)?;
        Ok(true)
    }

    /// The headers of `api.auth`, rendered with `context`.
    fn auth_headers(&self, context: &Value) -> Result<Vec<(String, String)>> {
        let mut headers = Vec::new();
        match &self.bound.plan.api.auth {
            Some(AuthPlan::Bearer(token)) => headers.push((
                "Authorization".into(),
                format!("Bearer {}", credential(self.render_header(token, context)?)),
            )),
            Some(AuthPlan::Header(name, value)) => headers.push((
                name.clone(),
                credential(self.render_header(value, context)?),
            )),
            Some(AuthPlan::Basic(user, password)) => {
                let pair = format!(
                    "{}:{}",
                    self.render(user, context)?,
                    credential(self.render(password, context)?)
                );
                let credentials = base64::engine::general_purpose::STANDARD.encode(pair);
                // The encoded pair carries the password: hide it as such.
                redact::register(&credentials);
                headers.push(("Authorization".into(), format!("Basic {credentials}")));
            }
            Some(AuthPlan::Query(..)) | None => {}
        }
        Ok(headers)
    }

    /// `api.auth`'s query parameter, when it is one and `signs` says whether it names
    /// `request.*` (it is then filled in with the request's other parameters known).
    fn auth_query(&self, context: &Value, signs: bool) -> Result<Option<(String, String)>> {
        match &self.bound.plan.api.auth {
            Some(AuthPlan::Query(name, value)) if value.signs == signs => Ok(Some((
                name.clone(),
                credential(self.render(value, context)?),
            ))),
            _ => Ok(None),
        }
    }

    /// `outgoing` with `api.auth` rendered anew (after the session token was renewed).
    fn reauthorized(&mut self, outgoing: &Outgoing) -> Result<Outgoing> {
        let mut again = outgoing.clone();
        let mut context = self.auth_context(&Value::Object(self.base_context()))?;
        self.with_clock(&mut context);
        for signs in [false, true] {
            if let Some((name, value)) = self.auth_query(&context, signs)? {
                again.url = with_query(&again.url, &name, &value);
            }
        }
        let context = signing_context(&context, &again.url, &again, true);
        for (name, value) in self.auth_headers(&context)? {
            set_header(&mut again.headers, &name, value);
        }
        // A signature in `api.headers` is over this URL and this clock reading, not the first.
        // (A request's own signing headers see its step's values, which are not here: they
        // keep their first rendering.)
        let plan = &self.bound.plan;
        for (name, text) in plan.api.headers.iter().filter(|(_, t)| t.signs) {
            let value = self.render_header(text, &context)?;
            set_header(&mut again.headers, name, value);
        }
        Ok(again)
    }

    /// Adds `clock.*` to `context`: the hoster's time when `api.clock` was read, else this
    /// machine's. One reading per request, so a timestamp header and the signature over it
    /// agree.
    fn with_clock(&self, context: &mut Value) {
        let now = crate::clock::wall_secs() as i64 + self.clock_offset.unwrap_or(0);
        if let Value::Object(map) = context {
            map.insert("clock".into(), crate::signing::clock_view(now));
        }
    }

    /// `api.clock`'s request: its own headers only, since `api.headers` may sign with the
    /// clock it asks for.
    fn bare(&self, request: &RequestPlan) -> Result<Outgoing> {
        let mut outgoing = self.outgoing(request, &Value::Object(self.base_context()), None)?;
        let shared = |(name, _): &(String, String)| {
            let named = |(n, _): &(String, Text)| n.eq_ignore_ascii_case(name);
            self.bound.plan.api.headers.iter().any(named) && !request.headers.iter().any(named)
        };
        outgoing.headers.retain(|header| !shared(header));
        Ok(outgoing)
    }

    /// Renders a planned request; `auth` is the context `api.auth` is rendered with (`None`:
    /// no auth, for the login itself). The path and the body come first; then the query
    /// values that do not sign, the ones that do (seeing `request.*` without themselves), and
    /// last every header, seeing the whole request as it goes out.
    fn outgoing(
        &self,
        request: &RequestPlan,
        context: &Value,
        auth: Option<&Value>,
    ) -> Result<Outgoing> {
        let plan = &self.bound.plan;
        // The clock and the request view are added only where a template names them: most
        // requests sign nothing, and a context is copied for each.
        let timed = |context: &Value| {
            let mut context = context.clone();
            self.with_clock(&mut context);
            context
        };
        let needs_clock = request.clock || plan.api.clock_everywhere;
        let context = &*if needs_clock {
            Cow::Owned(timed(context))
        } else {
            Cow::Borrowed(context)
        };
        let auth = auth.map(|auth| {
            if needs_clock {
                Cow::Owned(timed(auth))
            } else {
                Cow::Borrowed(auth)
            }
        });
        let headers_sign = plan
            .api
            .headers
            .iter()
            .chain(&request.headers)
            .any(|(_, t)| t.signs)
            || auth.is_some()
                && plan.api.auth.as_ref().is_some_and(|a| match a {
                    AuthPlan::Bearer(t) | AuthPlan::Header(_, t) | AuthPlan::Query(_, t) => t.signs,
                    AuthPlan::Basic(u, p) => u.signs || p.signs,
                });
        let signing = headers_sign || request.query.iter().any(|(_, t)| t.signs);
        let with_request = |context, url: &str, outgoing: &Outgoing| {
            signing_context(context, url, outgoing, signing)
        };
        // Every value is percent-encoded as one path segment: it cannot add segments, a query
        // or a fragment to the path the provider file wrote.
        let path = self.render(&request.path, &encoded_for_path(context))?;
        if path
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(plan
                .source
                .error(
                    &request.path.at,
                    format!("the path `{path}` has a `.` or `..` segment"),
                )
                .help("a value filled into the path is `.` or `..`: check the config and the hoster's answers"));
        }
        let mut url = if path.starts_with('/') {
            format!(
                "{}{path}",
                self.base_of(request, auth.as_deref().unwrap_or(context))?
            )
        } else {
            return Err(plan
                .source
                .error(
                    &request.path.at,
                    format!("the path `{path}` does not start with `/`"),
                )
                .help("paths are appended to `api.base_url`; write `/servers`, not a full URL"));
        };
        let body = match &request.body {
            Some(body) => Some(self.body(request, body, context)?),
            None => None,
        };
        let mut outgoing = Outgoing {
            method: method_name(request.method),
            url: String::new(),
            headers: Vec::new(),
            body,
        };
        for signs in [false, true] {
            let context = if signs {
                &with_request(context, &url, &outgoing)
            } else {
                context
            };
            let mut query = Vec::new();
            for (name, value) in request.query.iter().filter(|(_, v)| v.signs == signs) {
                query.push((name.clone(), self.render(value, context)?));
            }
            if let Some(auth) = &auth {
                let auth = if signs {
                    &with_request(auth, &url, &outgoing)
                } else {
                    auth
                };
                query.extend(self.auth_query(auth, signs)?);
            }
            for (name, value) in &query {
                url = with_query(&url, name, value);
            }
        }
        outgoing.url = url;
        let context = &with_request(context, &outgoing.url, &outgoing);
        let mut headers = vec![("Accept".to_owned(), "application/json".to_owned())];
        if let Some(auth) = &auth {
            headers.extend(self.auth_headers(&with_request(auth, &outgoing.url, &outgoing))?);
        }
        if let Some(body) = &request.body {
            headers.push(("Content-Type".into(), body.content_type().into()));
        }
        // The file's headers replace the defaults above and `api.headers` (request headers
        // come last): one of each name goes out, whatever its letter case.
        for (name, value) in plan.api.headers.iter().chain(&request.headers) {
            set_header(&mut headers, name, self.render_header(value, context)?);
        }
        outgoing.headers = headers;
        Ok(outgoing)
    }

    /// The base URL `request` goes to: `api.base_url` (or its override), or its endpoint
    /// filled in with `context` (settings and the session), its scheme, host and port
    /// replaced by `$VPS_PROVIDER_BASE_URL`'s, then checked: what a login's answer says is
    /// an address must be one a token may go to. A dry run without a session shows
    /// `<endpoints.NAME>` for an endpoint made from it.
    fn base_of(&self, request: &RequestPlan, context: &Value) -> Result<String> {
        let plan = &self.bound.plan;
        let Some(name) = &request.endpoint else {
            return Ok(self.bound.base_url.clone());
        };
        let Some(endpoint) = plan.api.endpoints.iter().find(|e| &e.name == name) else {
            return Err(Error::new(format!(
                "internal error (a bug in vps-provider): endpoint `{name}` was used but not loaded"
            )));
        };
        if endpoint.uses_session && self.is_dry_run() {
            return Ok(format!("<endpoints.{name}>"));
        }
        let filled = self.render(&endpoint.url, context)?;
        let filled = filled.trim().trim_end_matches('/');
        let problem = |message: String| {
            plan.source
                .error(&endpoint.url.at, format!("endpoint `{name}`: {message}"))
                .help(if endpoint.uses_session {
                    "it is made from the login's answer (`session`): check `api.login.extract`, the settings it selects by (a region?) and the answer (see `run --verbose`)"
                } else {
                    "check the settings it is made of"
                })
        };
        let Some(origin) = plan::origin(filled).filter(|_| !filled.is_empty()) else {
            return Err(problem(if filled.is_empty() {
                "the URL is empty once filled in".into()
            } else {
                format!("`{}` is not an http(s) URL", redact::clean(filled))
            }));
        };
        if filled.contains(['?', '#'])
            || filled.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(problem(format!(
                "`{}` has a query, a fragment, a space or a control character",
                redact::clean(filled).escape_debug()
            )));
        }
        // The URL as made is checked even when a mock stands in for it: a catalog entry that
        // would send the token in clear must fail against the mock as it would for real.
        plan::check_base_url(filled).map_err(|(message, _)| problem(message))?;
        let url = match &self.bound.origin_override {
            Some(replacement) => format!("{replacement}{}", &filled[origin.len()..]),
            None => filled.to_owned(),
        };
        Ok(url)
    }

    /// Renders a request's body: JSON built leaf by leaf, a form encoded field by field, or
    /// text as it renders.
    fn body(&self, request: &RequestPlan, body: &BodyPlan, context: &Value) -> Result<Vec<u8>> {
        let plan = &self.bound.plan;
        let tree = |tree, key| {
            plan.templates.render_tree(tree, context).map_err(|e| {
                plan.source.error(
                    &request.at.key(key),
                    format!("cannot fill in the body: {e}"),
                )
            })
        };
        match body {
            BodyPlan::Json(json) => serde_json::to_vec(&tree(json, "json")?)
                .map_err(|e| Error::new(format!("cannot encode the body: {e}"))),
            BodyPlan::Form(form) => form_encoded(&tree(form, "form")?).map_err(|field| {
                plan.source
                    .error(
                        &request.at.key("form"),
                        format!("form field `{field}` is a map or a list of lists once filled in"),
                    )
                    .help(plan::FORM_RULE)
            }),
            BodyPlan::Text { text, .. } => Ok(self.render(text, context)?.into_bytes()),
        }
    }

    /// Sends a built request and reads its JSON answer (errors found by the API's rules).
    /// After a 401 the token is renewed once and a read is sent again with it; any other
    /// request is never resent (a 401 on a purchase bought nothing).
    pub fn send(&mut self, request: &RequestPlan, outgoing: &Outgoing) -> Result<Value, CallError> {
        self.send_taking(request, outgoing, &[])
            .map(|(answer, _)| answer)
    }

    /// [`Runner::send`], also taking the `extract` values from the answer (a list's pages
    /// read the `Link` header or a count this way).
    pub fn send_taking(
        &mut self,
        request: &RequestPlan,
        outgoing: &Outgoing,
        extract: &[(String, ExtractPlan)],
    ) -> Result<(Value, Map<String, Value>), CallError> {
        let rules = self.bound.plan.api.errors.rules();
        self.exchange_renewing(request, outgoing, extract, true, rules)
    }

    /// `outgoing` sent to another URL of the API (a list's next page) with `api.auth` applied
    /// anew: a next-page URL from the hoster need not carry a query-parameter credential.
    pub fn at_url(&mut self, outgoing: &Outgoing, url: String) -> Result<Outgoing> {
        let moved = Outgoing {
            url,
            ..outgoing.clone()
        };
        self.reauthorized(&moved)
    }

    /// [`Runner::exchange`], renewing the session once after a 401 (see [`Runner::send`]).
    fn exchange_renewing(
        &mut self,
        request: &RequestPlan,
        outgoing: &Outgoing,
        extract: &[(String, ExtractPlan)],
        reads_body: bool,
        errors: (Option<&Query>, Option<&Query>),
    ) -> Result<(Value, Map<String, Value>), CallError> {
        let failure = match self.exchange(request, outgoing, extract, reads_body, errors) {
            Err(failure) => failure,
            done => return done,
        };
        // Renewed even when the request is not sent again, so the next run has a good token;
        // a renewal that fails reports the request's own refusal, which says what was refused.
        let renewed = self.renew_after(&failure).unwrap_or(false);
        if !renewed || request.method != Method::Get {
            return Err(failure);
        }
        let again = self.reauthorized(outgoing).map_err(CallError::NotBuilt)?;
        self.exchange(request, &again, extract, reads_body, errors)
    }

    /// Sends a built request, checks the answer, and takes the `extract` values from it. The
    /// body must be JSON when `reads_body` (it is then returned), else it may be anything
    /// (`null` is returned): an empty 201 with a `Location` header is a whole answer.
    /// Values whose names, or whose headers' names, look secret (`password`, `root_pass`,
    /// `X-Subject-Token`...) are registered for redaction before the answer reaches a trace.
    /// `errors` are the `error_when` and `error_message` that apply: the status decides
    /// first, then an error found inside a 2xx answer makes it a refusal.
    fn exchange(
        &mut self,
        request: &RequestPlan,
        outgoing: &Outgoing,
        extract: &[(String, ExtractPlan)],
        reads_body: bool,
        errors: (Option<&Query>, Option<&Query>),
    ) -> Result<(Value, Map<String, Value>), CallError> {
        let (error_when, error_message) = errors;
        if let Some(observer) = &mut self.observer {
            observer.request(outgoing);
        }
        if self.is_dry_run() {
            return Err(CallError::NotSent);
        }
        let plan = &self.bound.plan;
        let where_ = || plan.source.at(&request.at);
        let what = format!("{} {}", outgoing.method, url_path(&outgoing.url));
        let answer = self.client.send(outgoing).map_err(|failure| {
            let unreachable = matches!(failure, Failure::NotConnected(_));
            let invalid = matches!(failure, Failure::Invalid(_));
            let (message, help) = match failure {
                Failure::Deadline => (
                    format!("no answer to {what} within the deadline of {} s", plan.api.deadline.as_secs()),
                    "the hoster is slow or unreachable; try again later, or raise `api.deadline_seconds`",
                ),
                Failure::TooLarge(limit) => (
                    format!("the answer to {what} is larger than {limit} bytes"),
                    "raise `api.max_response_bytes`, or ask for fewer items per page",
                ),
                Failure::NotConnected(reason) => (
                    format!("cannot connect to the hoster for {what}: {reason}"),
                    "nothing was sent; check the network and `api.base_url` (or VPS_PROVIDER_BASE_URL)",
                ),
                Failure::Network(reason) => (
                    format!("the exchange with the hoster for {what} failed: {reason}"),
                    "check the network and `api.base_url` (or VPS_PROVIDER_BASE_URL)",
                ),
                Failure::Redirect(reason) => (
                    format!("the hoster redirected {what}: {reason}"),
                    "the API moved: fix `api.base_url` (or VPS_PROVIDER_BASE_URL) to its new address",
                ),
                Failure::Invalid(reason) => (
                    format!("{what} cannot be sent: {reason}"),
                    "nothing was sent; check `api.base_url` (or VPS_PROVIDER_BASE_URL) and the request's templates",
                ),
            };
            let error = Error::new(message).at(where_()).help(help);
            if unreachable {
                CallError::Unreachable(error)
            } else if invalid {
                CallError::NotBuilt(error)
            } else {
                CallError::NoAnswer(error)
            }
        })?;
        let parsed: std::result::Result<Value, String> =
            if answer.body.iter().all(u8::is_ascii_whitespace) {
                Ok(Value::Null)
            } else {
                serde_json::from_slice(&answer.body).map_err(|e| e.to_string())
            };
        // `api.failure_statuses` decides (default 300-599), so a provider may read a 404 as
        // an answer ("not there yet"); a 1xx is never a final answer.
        let failed_status = answer.status < 200
            || plan
                .api
                .failure_statuses
                .iter()
                .any(|(low, high)| (*low..=*high).contains(&answer.status));
        // An error the hoster put inside a 2xx answer (`error_when`): what it found.
        let error_found = match (&parsed, error_when) {
            (Ok(json), Some(when)) if !failed_status => found_in(when, json),
            _ => None,
        };
        let failed = failed_status || error_found.is_some();
        // An ended session may come in any answer, a 200 included; only answers to requests
        // sent with the token say so (the login's own answer is checked by `error_when`).
        let session_ended = match (&parsed, &plan.api.login) {
            (Ok(json), Some(login)) if !std::ptr::eq(request, &login.request) => login
                .renew_when
                .as_ref()
                .is_some_and(|when| found_in(when, json).is_some()),
            _ => false,
        };

        let body = match &parsed {
            Ok(json) => Some(json),
            Err(_) if !reads_body => Some(&Value::Null),
            Err(_) => None,
        };
        let extracted: Map<String, Value> = match body.filter(|_| !failed) {
            Some(body) => extract
                .iter()
                .map(|(name, from)| (name.clone(), extract::take(from, &answer, body)))
                .collect(),
            None => Map::new(),
        };
        hide_secret_values(plan, extract, &extracted);
        if let Some(observer) = &mut self.observer {
            observer.answer(outgoing, &answer);
        }
        let hosters_words =
            |json: &Value| error_message.and_then(|q| extract::joined_text(q, json));
        if let (true, Ok(json)) = (session_ended, &parsed) {
            let detail = hosters_words(json).unwrap_or_else(|| describe_body(&answer.body));
            let error = Error::new(format!(
                "the hoster answered {} to {what}: the session ended ({detail})",
                status_line(answer.status)
            ))
            .at(where_())
            .help("found by `api.login.renew_when`; the login is sent again once per run, so the next poll or order uses a new session");
            return Err(CallError::SessionEnded(error));
        }
        if let (Some(found), Ok(json)) = (&error_found, &parsed) {
            let detail = hosters_words(json)
                .unwrap_or_else(|| describe_body(&serde_json::to_vec(found).unwrap_or_default()));
            let error = Error::new(format!(
                "the hoster answered {} to {what}, with an error inside: {detail}",
                status_line(answer.status)
            ))
            .at(where_())
            .help(format!(
                "read the hoster's message above (found by `error_when`); check the secrets file of `{}` and the config and settings the request used",
                plan.name
            ));
            return Err(CallError::Refused(error));
        }
        if failed {
            let detail = match &parsed {
                Ok(json) => hosters_words(json).unwrap_or_else(|| describe_body(&answer.body)),
                Err(_) => describe_body(&answer.body),
            };
            let error = Error::new(format!(
                "the hoster answered {} to {what}: {detail}",
                status_line(answer.status)
            ))
            .at(where_())
            .help(help_for_status(answer.status, &plan.name));
            return Err(CallError::Answered {
                error,
                status: answer.status,
            });
        }
        let json = parsed.or_else(|reason| {
            if !reads_body {
                return Ok(Value::Null);
            }
            Err(CallError::NoAnswer(
                Error::new(format!(
                    "the answer to {what} is not JSON ({reason}): {}",
                    describe_body(&answer.body)
                ))
                .at(where_())
                .help("check `api.base_url`: it must point at the hoster's JSON API"),
            ))
        })?;
        Ok((json, extracted))
    }

    /// Runs one step: the request, then its extractions; a step that waits sends its `GET`
    /// again until its answer matches `repeat.until`, within its bounds and the deadline. In
    /// a dry run, each value is a placeholder named as later templates name it
    /// (`<saved.server_id>` for an order's step, `<polled.state>` for a poll's), so the steps
    /// after it can be shown too; a step that cannot be filled in before the hoster answers
    /// is described instead, and the steps after it are still shown.
    pub fn step(
        &mut self,
        step: &StepPlan,
        context: &Value,
    ) -> Result<Map<String, Value>, CallError> {
        let placeholders = || {
            let root = match step.request.at.0.first() {
                Some(crate::position::Segment::Key(key)) if key == "order_status" => "polled.",
                Some(crate::position::Segment::Key(key)) if key == "order" => "saved.",
                _ => "",
            };
            step.extract
                .iter()
                .map(|(name, _)| (name.clone(), Value::String(format!("<{root}{name}>"))))
                .collect()
        };
        let mut outgoing = match self.build(&step.request, context) {
            Ok(outgoing) => outgoing,
            Err(error) if self.is_dry_run() => {
                self.note(&format!(
                    "`{}` cannot be filled in before the hoster answers: {}",
                    step.request.at,
                    error.one_line()
                ));
                return Ok(placeholders());
            }
            Err(error) => return Err(CallError::NotBuilt(error)),
        };
        let reads_body =
            step.repeat.is_some() || step.extract.iter().any(|(_, from)| from.reads_body());
        let rules = step.errors.or(&self.bound.plan.api.errors);
        let started = std::time::Instant::now();
        for attempt in 1.. {
            match self.exchange_renewing(&step.request, &outgoing, &step.extract, reads_body, rules)
            {
                Ok((body, extracted)) => match &step.repeat {
                    Some(repeat)
                        if repeat
                            .until
                            .as_ref()
                            .is_none_or(|q| found_in(q, &body).is_none()) =>
                    {
                        if let Some(error) = self.wait_over(repeat, attempt, started) {
                            return Err(CallError::WaitedTooLong {
                                error,
                                values: Box::new(extracted),
                            });
                        }
                        std::thread::sleep(repeat.every);
                        // Built again for the next attempt: a token renewed meanwhile and a
                        // signature over the clock must be the ones of that request.
                        outgoing = self
                            .build(&step.request, context)
                            .map_err(CallError::NotBuilt)?;
                    }
                    _ => return Ok(extracted),
                },
                Err(CallError::NotSent) => return Ok(placeholders()),
                Err(other) => return Err(other),
            }
        }
        unreachable!("the attempts are bounded")
    }

    /// Why a wait whose hoster is not done yet stops here, or `None` when another request
    /// fits in every bound. The next request must start with time left for its answer and for
    /// the verb's reply: the deadline is the panel's, and an order past it would lose its task.
    fn wait_over(
        &self,
        repeat: &plan::RepeatPlan,
        attempt: u64,
        started: std::time::Instant,
    ) -> Option<Error> {
        let deadline = self.bound.plan.api.deadline;
        let reserve = (deadline / 4).min(std::time::Duration::from_secs(10));
        let why = if attempt >= repeat.attempts {
            format!("`attempts` allows {}", repeat.attempts)
        } else if started.elapsed() + repeat.every > repeat.within {
            format!("`seconds` allows {}", repeat.within.as_secs())
        } else if self.time_left() < repeat.every + reserve {
            format!(
                "the verb's deadline of {} s (`api.deadline_seconds`) is near",
                deadline.as_secs()
            )
        } else {
            return None;
        };
        Some(
            self.bound
                .plan
                .source
                .error(
                    &repeat.at.key("until"),
                    format!(
                        "the hoster was not done after {attempt} request(s) in {} s: {why}",
                        started.elapsed().as_secs()
                    ),
                )
                .help("a later run goes on waiting; raise the bounds if the hoster is slow"),
        )
    }
}

/// An auth value is hidden whatever it is made of (a secret, a setting, a helper).
fn credential(value: String) -> String {
    redact::register(&value);
    value
}

/// `context` with `request.*` (`outgoing`'s method and body, and `url`) when `signing`.
fn signing_context<'c>(
    context: &'c Value,
    url: &str,
    outgoing: &Outgoing,
    signing: bool,
) -> Cow<'c, Value> {
    if !signing {
        return Cow::Borrowed(context);
    }
    let mut context = context.clone();
    if let Value::Object(map) = &mut context {
        map.insert(
            "request".into(),
            crate::signing::request_view(outgoing.method, url, outgoing.body.as_deref()),
        );
    }
    Cow::Owned(context)
}

/// A session's values besides the token (`api.login.extract`), each as `value` gives it.
fn session_values(login: &LoginPlan, value: impl Fn(&str) -> Value) -> Map<String, Value> {
    login
        .extract
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !plan::LOGIN_PARTS.contains(name))
        .map(|name| (name.to_owned(), value(name)))
        .collect()
}

/// `context` with every text percent-encoded as a path segment (RFC 3986 unreserved
/// characters stay), for rendering a path. Public for the template fuzz target, which checks
/// that no value can add a segment, a query or a fragment.
pub fn encoded_for_path(context: &Value) -> Value {
    match context {
        Value::String(text) => Value::String(utf8_percent_encode(text, QUERY_VALUE).to_string()),
        Value::Array(items) => Value::Array(items.iter().map(encoded_for_path).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), encoded_for_path(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Sets header `name` to `value`: in the place of an earlier header of that name in any letter
/// case (so the order stays as it was), or at the end.
fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    let same = |(n, _): &(String, String)| n.eq_ignore_ascii_case(name);
    let at = headers.iter().position(same).unwrap_or(headers.len());
    headers.retain(|h| !same(h));
    headers.insert(at.min(headers.len()), (name.to_owned(), value));
}

/// A rendered form body as `name=value&...`, names and values percent-encoded as query values
/// are (so secrets in it are hidden in traces like those in a query); a list repeats its name.
/// Gives the field that is a map or holds a list, which a form cannot carry.
fn form_encoded(form: &Value) -> std::result::Result<Vec<u8>, String> {
    let encode = |text: &str| utf8_percent_encode(text, QUERY_VALUE).to_string();
    let mut pairs = Vec::new();
    for (name, value) in form.as_object().into_iter().flatten() {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            one => std::slice::from_ref(one),
        };
        for item in items {
            if item.is_array() || item.is_object() {
                return Err(name.clone());
            }
            pairs.push(format!("{}={}", encode(name), encode(&text_of(item))));
        }
    }
    Ok(pairs.join("&").into_bytes())
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// `url` with `name=value` set in its query (replacing an earlier value of `name`).
pub fn with_query(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let encoded_name = utf8_percent_encode(name, QUERY_VALUE).to_string();
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(encoded_name.as_str()))
        .map(str::to_owned)
        .collect();
    pairs.push(format!(
        "{encoded_name}={}",
        utf8_percent_encode(value, QUERY_VALUE)
    ));
    format!("{base}?{}", pairs.join("&"))
}

/// The path of a URL, without its query (which may hold a key).
fn url_path(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme
        .find('/')
        .map_or("/", |i| &without_scheme[i..]);
    path.split('?').next().unwrap_or(path)
}

fn status_line(status: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn help_for_status(status: u16, provider: &str) -> String {
    match status {
        401 | 403 => format!(
            "check the API token in the secrets file of `{provider}` (and its rights at the hoster)"
        ),
        404 => {
            "the hoster does not know this resource: check the id, or `api.base_url` and the path"
                .into()
        }
        429 => "the hoster limits the request rate: wait a minute and try again".into(),
        500..=599 => "the hoster has trouble: try again later".into(),
        300..=399 => "the API redirected: fix `api.base_url` to the address it points to".into(),
        _ => {
            "read the hoster's message above; check the config and settings the request used".into()
        }
    }
}

/// A short, safe description of a body that is not the expected JSON: redacted before it is
/// cut, so a secret the hoster echoes is not cut into a piece that no longer matches.
fn describe_body(body: &[u8]) -> String {
    let text = redact::clean(&String::from_utf8_lossy(body));
    let trimmed = text.trim();
    if trimmed.is_empty() {
        "an empty body".into()
    } else if trimmed.starts_with('<') {
        "an HTML page, not the API's JSON".into()
    } else {
        let cut: String = trimmed.chars().take(200).collect();
        let cut = cut.replace(['\n', '\r'], " ");
        if trimmed.chars().count() > 200 {
            format!("`{cut}…`")
        } else {
            format!("`{cut}`")
        }
    }
}

/// Registers for redaction the values of `extracted` that are secret: those `server_password`
/// is made of, those whose names say so (`root_pass`, `api_token`...), and those read from a
/// header whose name says so (`X-Subject-Token`).
fn hide_secret_values(
    plan: &plan::Plan,
    extract: &[(String, ExtractPlan)],
    extracted: &Map<String, Value>,
) {
    for (name, from) in extract {
        let secret = plan.is_secret_value(name) || from.header().is_some_and(plan::looks_secret);
        if let Some(value) = extracted.get(name).filter(|_| secret) {
            redact::register(&text_of(value));
        }
    }
}

/// The first value `query` finds in `json` that is not `null` or `false`: what an
/// `error_when`, `renew_when` or `repeat.until` matched.
fn found_in(query: &Query, json: &Value) -> Option<Value> {
    extract::all(query, json)
        .into_iter()
        .find(|found| !matches!(found, Value::Null | Value::Bool(false)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_and_replaced() {
        assert_eq!(
            with_query("http://h/x", "a", "b c&d"),
            "http://h/x?a=b%20c%26d"
        );
        assert_eq!(
            with_query("http://h/x?page=1&per_page=2", "page", "2"),
            "http://h/x?per_page=2&page=2"
        );
    }

    #[test]
    fn paths_lose_their_query() {
        assert_eq!(
            url_path("https://api.example.com/v1/servers?key=s"),
            "/v1/servers"
        );
        assert_eq!(url_path("http://127.0.0.1:9"), "/");
    }

    #[test]
    fn bodies_are_described_safely() {
        assert_eq!(describe_body(b""), "an empty body");
        assert_eq!(
            describe_body(b"<html><body>502</body></html>"),
            "an HTML page, not the API's JSON"
        );
        assert_eq!(describe_body(b"oops"), "`oops`");
    }
}
