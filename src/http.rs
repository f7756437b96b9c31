//! One ureq agent for the whole run: TLS verified, timeouts, a deadline, a size cap, and
//! retries for requests that only read.
//!
//! Rules: every request ends before the verb's deadline (the panel waits with no timeout of
//! its own); a request that may buy something (anything but GET) is sent exactly once; a
//! read is retried on connection errors, 429 and 5xx, with backoff that honours `Retry-After`.
//! Redirects are followed by this module, not by ureq: only for a read, only to the same
//! origin (scheme, host and port, so credentials in headers never reach another host), at
//! most [`MAX_REDIRECTS`] times. A request that may buy gets its 3xx back as an answer.

use std::io::Read;
use std::time::{Duration, Instant};
use ureq::Agent;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Redirects followed for one read, at most.
pub const MAX_REDIRECTS: u32 = 5;
pub const USER_AGENT: &str = concat!("vps-provider/", env!("CARGO_PKG_VERSION"));

/// The host part of `scheme://[user@]host[:port]/...` (brackets of an IPv6 address removed),
/// or `None` when `url` has no scheme.
pub fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    Some(match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    })
}

/// Whether `host` is this machine: 127.0.0.0/8, `::1` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url`'s host is this machine.
pub fn is_loopback_url(url: &str) -> bool {
    url_host(url).is_some_and(is_loopback_host)
}

/// A request, rendered and ready to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Outgoing {
    /// Only reads are retried: a request that may buy a server is never sent twice.
    pub fn is_retryable(&self) -> bool {
        self.method == "GET"
    }
}

/// What the hoster answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The response headers, names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    pub attempts: u32,
}

impl Answer {
    /// The first value of header `name`, in any letter case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every line of header `name`, in any letter case, joined by `, ` (RFC 9110, 5.3: how a
    /// list header split over several lines is read).
    pub fn header_lines(&self, name: &str) -> Option<String> {
        let lines: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    }
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The verb's deadline passed.
    Deadline,
    /// The answer was larger than the cap.
    TooLarge(u64),
    /// No connection was made (refused, unknown host): the request never left.
    NotConnected(String),
    /// TLS, a broken or cut answer...: the request may have reached the hoster.
    Network(String),
    /// A read was redirected to another origin, or too many times: not followed.
    Redirect(String),
    /// The request cannot be put on the wire (an invalid URL or header): nothing was sent.
    Invalid(String),
}

/// One exchange, before any retry or redirect is decided.
struct Exchange {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    retry_after: Option<Duration>,
    location: Option<String>,
}

/// The HTTP side of one run.
pub struct Client {
    agent: Agent,
    deadline: Instant,
    max_response_bytes: u64,
}

impl Client {
    pub fn new(deadline: Duration, max_response_bytes: u64) -> Self {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            // A redirect would move a token to wherever it points, and an order must not be
            // replayed: `send` decides which redirects to follow.
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        Client {
            agent,
            deadline: Instant::now() + deadline,
            max_response_bytes,
        }
    }

    /// How long until the deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Sends `request`, retrying reads on transient failures while the deadline allows.
    pub fn send(&self, request: &Outgoing) -> Result<Answer, Failure> {
        let started = Instant::now();
        let mut attempt = 1;
        let mut redirects = 0;
        let mut request = std::borrow::Cow::Borrowed(request);
        loop {
            let result = self.send_once(&request);
            if let Ok(Exchange {
                status,
                location: Some(location),
                ..
            }) = &result
                && request.is_retryable()
                && matches!(status, 301 | 302 | 303 | 307 | 308)
            {
                let target = same_origin_target(&request.url, location)?;
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Failure::Redirect(format!(
                        "more than {MAX_REDIRECTS} redirects (the last to `{target}`)"
                    )));
                }
                request.to_mut().url = target;
                continue;
            }
            let retry_after = match &result {
                Ok(Exchange {
                    status,
                    retry_after,
                    ..
                }) if *status == 429 || (500..=599).contains(status) => {
                    Some(retry_after.unwrap_or(FIRST_BACKOFF * 2u32.pow(attempt - 1)))
                }
                Err(Failure::Network(_) | Failure::NotConnected(_)) => {
                    Some(FIRST_BACKOFF * 2u32.pow(attempt - 1))
                }
                _ => None,
            };
            let wait = retry_after.filter(|_| request.is_retryable() && attempt < MAX_ATTEMPTS);
            match wait {
                Some(wait) if self.remaining().is_some_and(|left| left > wait) => {
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => {
                    return result.map(
                        |Exchange {
                             status,
                             headers,
                             body,
                             ..
                         }| Answer {
                            status,
                            headers,
                            body,
                            elapsed: started.elapsed(),
                            attempts: attempt,
                        },
                    );
                }
            }
        }
    }

    fn send_once(&self, request: &Outgoing) -> Result<Exchange, Failure> {
        // Out of time before anything left: nothing was sent.
        let remaining = self.remaining().ok_or_else(|| {
            Failure::NotConnected("the deadline passed before the request could be sent".into())
        })?;
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let built = builder
            .body(request.body.clone().unwrap_or_default())
            .map_err(|e| Failure::Invalid(format!("cannot build the request: {e}")))?;
        let configured = self
            .agent
            .configure_request(built)
            .timeout_global(Some(remaining))
            .build();
        let mut response = self.agent.run(configured).map_err(failure)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A value that is not visible ASCII is kept as far as it is UTF-8: `extract` reads
        // headers as text.
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(self.max_response_bytes.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| failure(ureq::Error::Io(e)))?;
        if body.len() as u64 > self.max_response_bytes {
            return Err(Failure::TooLarge(self.max_response_bytes));
        }
        Ok(Exchange {
            status,
            headers,
            body,
            retry_after,
            location,
        })
    }
}

/// Where a redirect (or a next-page link) from `from` to `location` leads, if it stays on the
/// same origin; a relative `location` is resolved against `from`.
pub fn same_origin_target(from: &str, location: &str) -> Result<String, Failure> {
    let origin_of = |url: &str| -> Option<(String, String, u16)> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Some((scheme, uri.host()?.to_ascii_lowercase(), port))
    };
    let from_origin = origin_of(from);
    let prefix = from_origin
        .as_ref()
        .and_then(|_| from.find("://").map(|i| i + 3))
        .map(|start| {
            let end = from[start..].find('/').map_or(from.len(), |i| start + i);
            &from[..end]
        })
        .unwrap_or_default();
    let target = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!(
            "{}://{rest}",
            from_origin.as_ref().map_or("", |o| o.0.as_str())
        )
    } else if location.starts_with('/') {
        format!("{prefix}{location}")
    } else {
        // Relative to the folder of the current path.
        let path = from.split(['?', '#']).next().unwrap_or(from);
        let folder = &path[..path.rfind('/').map_or(path.len(), |i| i + 1)];
        let folder = if folder.len() < prefix.len() + 1 {
            format!("{prefix}/")
        } else {
            folder.to_owned()
        };
        format!("{folder}{location}")
    };
    match (from_origin, origin_of(&target)) {
        (Some(a), Some(b)) if a == b => Ok(target),
        _ => Err(Failure::Redirect(format!(
            "a redirect to `{target}`, which is not on the API's origin (scheme, host and port), was not followed"
        ))),
    }
}

fn failure(error: ureq::Error) -> Failure {
    use ureq::Timeout;
    match error {
        // Timed out while finding or connecting to the host: the request never left.
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
            Failure::NotConnected(error.to_string())
        }
        ureq::Error::Timeout(_) => Failure::Deadline,
        ureq::Error::BodyExceedsLimit(limit) => Failure::TooLarge(limit),
        // Reading the body wraps ureq's own errors in io::Error.
        ureq::Error::Io(io)
            if io
                .get_ref()
                .and_then(|e| e.downcast_ref::<ureq::Error>())
                .is_some() =>
        {
            let inner = io
                .into_inner()
                .and_then(|e| e.downcast::<ureq::Error>().ok());
            inner.map_or(Failure::Deadline, |e| failure(*e))
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Failure::Deadline,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            Failure::NotConnected(error.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Failure::NotConnected(io.to_string())
        }
        other => Failure::Network(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_origin() {
        let from = "http://127.0.0.1:8080/v1/plans?page=2";
        let target = |location| same_origin_target(from, location);
        assert_eq!(
            target("/v2/plans").unwrap(),
            "http://127.0.0.1:8080/v2/plans"
        );
        assert_eq!(target("more").unwrap(), "http://127.0.0.1:8080/v1/more");
        assert_eq!(
            target("http://127.0.0.1:8080/x").unwrap(),
            "http://127.0.0.1:8080/x"
        );
        assert_eq!(
            same_origin_target("https://h/a", "https://H:443/b").unwrap(),
            "https://H:443/b"
        );
        for elsewhere in [
            "http://127.0.0.2:8080/x",
            "http://127.0.0.1:8081/x",
            "https://127.0.0.1:8080/x",
            "//evil.example/x",
            "http://127.0.0.1:8080@evil.example/x",
        ] {
            let Err(Failure::Redirect(message)) = target(elsewhere) else {
                panic!("{elsewhere} was followed");
            };
            assert!(message.contains("not on the API's origin"), "{message}");
        }
    }
}

#[cfg(test)]
mod loopback_tests {
    use super::is_loopback_url;

    #[test]
    fn only_this_machine_is_loopback() {
        for local in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.9.9",
            "http://[::1]:80/x",
            "https://localhost/v1",
            "http://user:pw@127.0.0.1/",
        ] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            "https://api.example.com/v1",
            "http://127.0.0.1.example.com/",
            "http://10.0.0.1/",
            "http://localhost.evil/",
            "127.0.0.1",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
    }
}
