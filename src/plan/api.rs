//! The `api` section: base URL, authentication, the login, shared headers, where errors are,
//! and the limits every request keeps (deadline, answer size).

use super::{Compiler, ErrorsPlan, ExtractPlan, Query, RequestPlan, Text};
use crate::manifest::{self, Method};
use crate::position::YamlPath;
use std::time::Duration;

/// `api.deadline_seconds`: lowest, default, highest.
const DEADLINE_SECONDS: (u64, u64, u64) = (1, 60, 600);

/// The deadline of a run before its provider file is read.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(DEADLINE_SECONDS.1);

/// `api.max_response_bytes`: lowest, default (8 MiB), highest (256 MiB).
const RESPONSE_BYTES: (u64, u64, u64) = (1024, 8 << 20, 256 << 20);

/// `api.login.expires_seconds`: (lowest, default, highest).
const SESSION_SECONDS: (u64, u64, u64) = (60, 3600, 30 * 24 * 3600);

/// How requests authenticate.
#[derive(Debug)]
pub enum AuthPlan {
    Bearer(Text),
    Header(String, Text),
    Query(String, Text),
    Basic(Text, Text),
}

/// What `api.login` takes from its answer under its own keys; `login.extract` takes the rest.
pub const LOGIN_PARTS: [&str; 2] = ["token", "expires"];

/// The login that gets a session token, checked.
#[derive(Debug)]
pub struct LoginPlan {
    /// Where `api.login` is written.
    pub at: YamlPath,
    pub request: RequestPlan,
    /// `token`, when the file says where `expires`, and the values of `login.extract`:
    /// everything taken from the answer.
    pub extract: Vec<(String, ExtractPlan)>,
    /// How long a token lasts when the answer does not say.
    pub lifetime: Duration,
    /// `renew_when`: where an answer says the session ended.
    pub renew_when: Option<Query>,
}

/// `api.clock`: where the hoster tells its time.
#[derive(Debug)]
pub struct ClockPlan {
    /// Where `api.clock` is written.
    pub at: YamlPath,
    pub request: RequestPlan,
    /// `time`: where the time is in the answer.
    pub extract: Vec<(String, ExtractPlan)>,
}

/// One of `api.endpoints`, checked.
#[derive(Debug)]
pub struct EndpointPlan {
    pub name: String,
    pub url: Text,
    /// Whether the URL names `session`: it is known only after the login (a dry run shows
    /// `<endpoints.NAME>`).
    pub uses_session: bool,
}

/// The API settings, checked.
#[derive(Debug)]
pub struct ApiPlan {
    /// `api.base_url`: a URL, or a template over `settings` rendered when the plan is bound.
    pub base_url: Text,
    /// `api.endpoints`, compiled only when the plan sends requests.
    pub endpoints: Vec<EndpointPlan>,
    pub auth: Option<AuthPlan>,
    pub login: Option<LoginPlan>,
    pub clock: Option<ClockPlan>,
    /// Whether `api.auth` or `api.headers` name `clock.*`: then every request needs it.
    pub clock_everywhere: bool,
    pub headers: Vec<(String, Text)>,
    /// `api.error_when` and `api.error_message`.
    pub errors: ErrorsPlan,
    pub failure_statuses: Vec<(u16, u16)>,
    pub deadline: Duration,
    pub max_response_bytes: u64,
    pub check: Option<RequestPlan>,
}

impl Compiler<'_> {
    /// The API section. Its templates and JSONPath (auth, headers, the error message, the
    /// check) are compiled only when the plan will send a request: `help` sends none.
    pub(super) fn api(&mut self, api: &manifest::Api, sends: bool) -> ApiPlan {
        let at = YamlPath::root().key("api");
        let clock_uses = self.clock_uses;
        // A templated URL is checked once it is filled in (when bound, or when used).
        let urls = std::iter::once((at.key("base_url"), &api.base_url)).chain(
            api.endpoints
                .iter()
                .map(|(name, url)| (at.key("endpoints").key(name), url)),
        );
        for (at, url) in urls {
            if !url.contains("{{")
                && let Err((message, help)) = check_base_url(url)
            {
                self.problem(&at, message, help);
            }
        }
        let endpoints = if sends {
            self.endpoints(&at, api)
        } else {
            Vec::new()
        };
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
        let headers = if sends {
            self.pairs(&at.key("headers"), &api.headers)
        } else {
            Vec::new()
        };
        let clock_everywhere = self.clock_uses > clock_uses;
        ApiPlan {
            base_url: self.text(at.key("base_url"), api.base_url.trim_end_matches('/')),
            endpoints,
            auth,
            clock: api
                .clock
                .as_ref()
                .filter(|_| sends)
                .and_then(|clock| self.clock(at.key("clock"), clock)),
            clock_everywhere,
            headers,
            login: api
                .login
                .as_ref()
                .filter(|_| sends)
                .map(|login| self.login(at.key("login"), login)),
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

    /// `api.clock`: a read whose answer holds the hoster's time.
    fn clock(&mut self, at: YamlPath, clock: &manifest::Clock) -> Option<ClockPlan> {
        if clock.request.method != Method::Get {
            self.problem(
                &at.key("request").key("method"),
                "the clock must only read",
                "use GET (e.g. `request: { path: /auth/time }`)",
            );
        }
        let request = self.request(at.key("request"), &clock.request);
        let time = self.extract(at.key("time"), &clock.time)?;
        Some(ClockPlan {
            at,
            request,
            extract: vec![("time".to_owned(), time)],
        })
    }

    /// `api.endpoints`: templates over `settings` and the session; the login's own request
    /// cannot go to one that needs the session it is about to get.
    fn endpoints(&mut self, at: &YamlPath, api: &manifest::Api) -> Vec<EndpointPlan> {
        let endpoints: Vec<EndpointPlan> = api
            .endpoints
            .iter()
            .map(|(name, url)| EndpointPlan {
                name: name.clone(),
                url: self.text(at.key("endpoints").key(name), url.trim_end_matches('/')),
                uses_session: crate::variables::uses(url).is_some_and(|uses| {
                    uses.variables
                        .iter()
                        .any(|(names, _)| names[0] == "session")
                }),
            })
            .collect();
        let login_endpoint = api
            .login
            .as_ref()
            .and_then(|login| login.request.endpoint.as_ref());
        if let Some(name) = login_endpoint
            && endpoints.iter().any(|e| &e.name == name && e.uses_session)
        {
            self.problem(
                &at.key("login").key("request").key("endpoint"),
                format!(
                    "the login goes to endpoint `{name}`, whose URL needs the login's own session"
                ),
                "send the login to `api.base_url` or to an endpoint made of settings only",
            );
        }
        endpoints
    }

    /// `api.login`: its request, where the token and its expiry are, how long a token lasts,
    /// and the other values kept with the token (`login.extract`, as `session.NAME`).
    pub(super) fn login(&mut self, at: YamlPath, login: &manifest::Login) -> LoginPlan {
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
        for (name, part) in &login.extract {
            let at = at.key("extract").key(name);
            if LOGIN_PARTS.contains(&name.as_str()) {
                self.problem(
                    &at,
                    format!("`{name}` is the login's own `{name}`"),
                    format!("give this value another name, or take it with `api.login.{name}`"),
                );
            } else if let Some(plan) = self.extract(at, part) {
                extract.push((name.clone(), plan));
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
            renew_when: login
                .renew_when
                .as_ref()
                .and_then(|q| self.query(at.key("renew_when"), q)),
            at,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
