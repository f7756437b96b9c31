//! One ureq agent for the whole run: TLS verified, timeouts, a deadline, a size cap, and
//! retries for requests that only read.
//!
//! Rules: every request ends before the verb's deadline (the panel waits with no timeout of
//! its own); a request that may buy something (anything but GET) is sent exactly once; a
//! read is retried on connection errors, 429 and 5xx, with backoff that honours `Retry-After`.

use std::io::Read;
use std::time::{Duration, Instant};
use ureq::Agent;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const USER_AGENT: &str = concat!("vps-provider/", env!("CARGO_PKG_VERSION"));

/// Whether `url`'s host is this machine (127.0.0.0/8, `::1` or `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    pub body: Vec<u8>,
    pub elapsed: Duration,
    pub attempts: u32,
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
            // replayed: redirects are answers, reported as they are.
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
        loop {
            let result = self.send_once(request);
            let retry_after = match &result {
                Ok((status, _, retry_after)) if *status == 429 || (500..=599).contains(status) => {
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
                    return result.map(|(status, body, _)| Answer {
                        status,
                        body,
                        elapsed: started.elapsed(),
                        attempts: attempt,
                    });
                }
            }
        }
    }

    fn send_once(&self, request: &Outgoing) -> Result<(u16, Vec<u8>, Option<Duration>), Failure> {
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
            .map_err(|e| Failure::Network(format!("cannot build the request: {e}")))?;
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
        Ok((status, body, retry_after))
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
