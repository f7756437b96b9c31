//! Watching the runner: a trace of every exchange (`--verbose`, or `$VPS_PROVIDER_LOG` for runs
//! started by the panel) and the dry run, which prints each request as a curl command line and
//! sends nothing.
//!
//! Rules: everything written here passes through [`redact::clean`], so secrets known to the
//! run (tokens, generated and kept passwords) come out as `***`; bodies are cut to a length a
//! person reads.

use crate::http::{Answer, Outgoing};
use crate::redact;
use crate::runner::Observer;
use std::io::Write;

/// Bodies longer than this are cut in traces.
const BODY_LIMIT: usize = 2000;

/// Writes every request and answer to `out`.
pub struct Trace<W: Write> {
    out: W,
}

impl<W: Write> Trace<W> {
    pub fn new(out: W) -> Self {
        Trace { out }
    }

    fn line(&mut self, text: &str) {
        // A trace that cannot be written must not break the verb it watches.
        let _ = writeln!(self.out, "{}", redact::clean(text));
        let _ = self.out.flush();
    }
}

impl<W: Write> Observer for Trace<W> {
    fn request(&mut self, request: &Outgoing) {
        self.line(&format!("> {} {}", request.method, request.url));
        for (name, value) in &request.headers {
            self.line(&format!("> {name}: {value}"));
        }
        if let Some(body) = &request.body {
            self.line(&format!("> {}", cut(&String::from_utf8_lossy(body))));
        }
    }

    fn answer(&mut self, request: &Outgoing, answer: &Answer) {
        let retries = if answer.attempts > 1 {
            format!(" after {} attempts", answer.attempts)
        } else {
            String::new()
        };
        self.line(&format!(
            "< {} for {} {} in {} ms{retries}, {} bytes",
            answer.status,
            request.method,
            request.url,
            answer.elapsed.as_millis(),
            answer.body.len()
        ));
        self.line(&format!(
            "< {}",
            cut(&String::from_utf8_lossy(&answer.body))
        ));
    }
}

/// Prints each request as a curl command line and sends nothing.
pub struct DryRun<W: Write> {
    out: W,
    /// How many requests were shown.
    pub shown: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<W: Write> DryRun<W> {
    pub fn new(out: W) -> Self {
        DryRun {
            out,
            shown: Default::default(),
        }
    }
}

impl<W: Write> Observer for DryRun<W> {
    fn sends(&self) -> bool {
        false
    }

    fn request(&mut self, request: &Outgoing) {
        self.shown.set(self.shown.get() + 1);
        let _ = writeln!(self.out, "{}", redact::clean(&curl(request)));
    }

    fn answer(&mut self, _: &Outgoing, _: &Answer) {}
}

/// `request` as a curl command line.
pub fn curl(request: &Outgoing) -> String {
    let mut line = format!("curl -X {} {}", request.method, quote(&request.url));
    for (name, value) in &request.headers {
        line.push_str(&format!(" -H {}", quote(&format!("{name}: {value}"))));
    }
    if let Some(body) = &request.body {
        line.push_str(&format!(
            " --data-raw {}",
            quote(&String::from_utf8_lossy(body))
        ));
    }
    line
}

/// Single-quoted for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn cut(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(BODY_LIMIT).collect();
    if chars.next().is_some() {
        format!("{head}… ({} bytes in all)", text.len())
    } else {
        head
    }
}

/// The trace for runs started by the panel: appended to the file `$VPS_PROVIDER_LOG` names
/// (created 0600), or none. A log that cannot be opened is skipped: the panel's reply matters
/// more than the log.
pub fn from_env() -> Option<Trace<std::fs::File>> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = std::env::var_os("VPS_PROVIDER_LOG").filter(|p| !p.is_empty())?;
    // Not through a symlink, never blocking on a FIFO, only into a regular file that no one
    // else can read (an existing log keeps its contents but loses wider permissions).
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .ok()?;
    let mut trace = Trace::new(file);
    let argv: Vec<String> = std::env::args().collect();
    trace.line(&format!(
        "# {} pid {}: {}",
        crate::state::now_secs(),
        std::process::id(),
        argv.join(" ")
    ));
    Some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_lines_quote_for_the_shell() {
        let request = Outgoing {
            method: "POST",
            url: "https://api.example.com/v1/servers".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(br#"{"name":"it's"}"#.to_vec()),
        };
        assert_eq!(
            curl(&request),
            r#"curl -X POST 'https://api.example.com/v1/servers' -H 'Content-Type: application/json' --data-raw '{"name":"it'\''s"}'"#
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        assert!(cut(&"x".repeat(5000)).ends_with("(5000 bytes in all)"));
        assert_eq!(cut("short"), "short");
    }
}
