//! Watching the runner: a trace of every exchange (`--verbose`, or the site's log for the
//! provider's runs) and the dry run, which prints each request as a curl command line and
//! sends nothing.
//!
//! Rules: everything written here passes through [`redact::clean`], so secrets known to the
//! run (tokens, generated and kept passwords) come out as `***`; bodies are redacted, then cut
//! to a length a person reads; one record is one line (control characters escaped).
//!
//! The log ([`log`]) runs as root in a folder an operator named, so it trusts nothing it did
//! not make: no symlink anywhere on the way, every folder owned by root or us and writable by
//! no one else (unless sticky, like `/tmp`), the log folder ours alone; it creates the file
//! itself (0600, with [`LOG_MARKER`] as its first line) and appends only to such a file. A log
//! it cannot trust is skipped, silently: the panel's reply matters more than the log.

use crate::http::{Answer, Outgoing};
use crate::redact;
use crate::runner::Observer;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path};

/// Bodies longer than this are cut in traces.
const BODY_LIMIT: usize = 2000;

/// The first line of every log this program creates; it appends to no file that lacks it.
pub const LOG_MARKER: &str = "# vps-provider trace log: written by vps-provider only\n";

/// Writes every request and answer to `out`.
pub struct Trace<W: Write> {
    out: W,
}

impl<W: Write> Trace<W> {
    pub fn new(out: W) -> Self {
        Trace { out }
    }

    fn line(&mut self, text: &str) {
        let mut line = one_line(&redact::clean(text));
        line.push('\n');
        // One write for one record: runs appending at once do not interleave their lines. A
        // trace that cannot be written must not break the verb it watches.
        let _ = self.out.write_all(line.as_bytes());
        let _ = self.out.flush();
    }

    /// A body, redacted before it is cut: a cut through a secret would leave a piece of it
    /// that no longer matches.
    fn body(&mut self, mark: char, body: &[u8]) {
        let text = redact::clean(&String::from_utf8_lossy(body));
        self.line(&format!("{mark} {}", cut(&text)));
    }
}

impl<W: Write> Observer for Trace<W> {
    fn request(&mut self, request: &Outgoing) {
        self.line(&format!("> {} {}", request.method, request.url));
        for (name, value) in &request.headers {
            self.line(&format!("> {name}: {value}"));
        }
        if let Some(body) = &request.body {
            self.body('>', body);
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
        self.body('<', &answer.body);
    }
}

/// Prints each request as a curl command line and sends nothing, except the reads an order
/// needs to show the truth (see [`crate::runner::Runner::reading_for_real`]), whose answers
/// it notes under their request.
pub struct DryRun<W: Write> {
    out: W,
    /// How many requests were shown.
    pub shown: std::rc::Rc<std::cell::Cell<usize>>,
    /// How many of them were sent (the reads).
    pub sent: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<W: Write> DryRun<W> {
    pub fn new(out: W) -> Self {
        DryRun {
            out,
            shown: Default::default(),
            sent: Default::default(),
        }
    }
}

impl<W: Write> Observer for DryRun<W> {
    fn sends(&self) -> bool {
        false
    }

    fn request(&mut self, request: &Outgoing) {
        self.shown.set(self.shown.get() + 1);
        // Secrets are hidden in each part as it was sent, before anything rewrites it: shell
        // quoting (`'` → `'\''`) or decoded placeholders would make a secret match none of
        // its registered forms.
        let shown = Outgoing {
            method: request.method,
            url: placeholders_decoded(&redact::clean(&request.url)),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), redact::clean(value)))
                .collect(),
            body: request
                .body
                .as_ref()
                .map(|body| redact::clean(&String::from_utf8_lossy(body)).into_bytes()),
        };
        let _ = writeln!(self.out, "{}", curl(&shown));
    }

    fn answer(&mut self, _: &Outgoing, answer: &Answer) {
        self.sent.set(self.sent.get() + 1);
        let _ = writeln!(
            self.out,
            "#   sent (a read the dry run needs, as `configs` sends it): answered {}, {} bytes",
            answer.status,
            answer.body.len()
        );
    }

    fn note(&mut self, text: &str) {
        let _ = writeln!(self.out, "# {}", one_line(&redact::clean(text)));
    }
}

/// `url` with the dry run's placeholders (`<saved.server_id>`) as they are written, not
/// percent-encoded as a path segment would carry them (`%3Csaved.server_id%3E`).
fn placeholders_decoded(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("%3C") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with("%3E") {
            out.push_str(&format!("<{}>", &after[..name_len]));
            rest = &after[name_len + 3..];
        } else {
            out.push_str("%3C");
            rest = after;
        }
    }
    out.push_str(rest);
    out
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

/// `text` on one line: control characters and Unicode's line breaks and direction overrides
/// escaped (`\n`, `\r`, `\t`, `\x1b`, `\u{2028}`), so a hoster's body or an argument cannot
/// write a record of its own into the log, nor move a terminal's cursor in a trace.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            '\u{2028}'
            | '\u{2029}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The site's trace log: file `name` in folder `dir`, appended to (see the module's rules
/// for what is trusted), its first record the run's time, pid and argv. `None` when it
/// cannot be trusted or opened.
pub fn log(dir: &Path, name: &str) -> Option<Trace<File>> {
    let folder = log_folder(dir)?;
    let file = log_file(&folder, name)?;
    let mut trace = Trace::new(file);
    // `args()` would panic on an argument that is not UTF-8.
    let argv: Vec<String> = std::env::args_os()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    trace.line(&format!(
        "# {} pid {}: {}",
        crate::state::now_secs(),
        std::process::id(),
        argv.join(" ")
    ));
    Some(trace)
}

/// Opens `dir` one folder at a time from `/`, never through a symlink, each checked as it is
/// opened (so none can be swapped for another after its check); makes the last one (0700)
/// when it is missing.
fn log_folder(dir: &Path) -> Option<File> {
    let mut names = Vec::new();
    for component in dir.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => names.push(name),
            // `..` would climb out of a folder already checked; a relative path has no root.
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    // The log folder is a folder of its own, never `/`.
    if !dir.has_root() || names.is_empty() {
        return None;
    }
    let mut folder = File::open("/").ok()?;
    trusted(&folder, false)?;
    for (index, name) in names.iter().enumerate() {
        let last = index + 1 == names.len();
        let name = CString::new(name.as_encoded_bytes()).ok()?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        folder = match open_at(&folder, &name, flags, 0) {
            Err(err) if last && err.raw_os_error() == Some(libc::ENOENT) => {
                // SAFETY: a live folder descriptor and a NUL-terminated name.
                if unsafe { libc::mkdirat(fd(&folder), name.as_ptr(), 0o700) } != 0 {
                    return None;
                }
                open_at(&folder, &name, flags, 0).ok()?
            }
            opened => opened.ok()?,
        };
        trusted(&folder, last)?;
    }
    Some(folder)
}

/// Whether a folder on the way to the log can be trusted: owned by root or by us and
/// writable by no one else, or sticky (as `/tmp`: others cannot move what is ours); the log
/// folder itself (`last`) is ours and no one else's to write in.
fn trusted(folder: &File, last: bool) -> Option<()> {
    let meta = folder.metadata().ok()?;
    let others_write = meta.mode() & 0o022 != 0;
    let ours = meta.uid() == euid();
    let ok = if last {
        ours && !others_write
    } else {
        (ours || meta.uid() == 0) && (!others_write || meta.mode() & libc::S_ISVTX != 0)
    };
    ok.then_some(())
}

/// Opens the log file `name` in `folder` to append: a new one (made 0600 and marked as ours),
/// or one that is surely ours: a regular file, owned by us, mode 0600, one link, marked.
fn log_file(folder: &File, name: &str) -> Option<File> {
    let name = CString::new(name).ok()?;
    // Never blocking on a FIFO someone put there; never taking it as a terminal.
    let flags = libc::O_RDWR | libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOCTTY;
    match open_at(folder, &name, flags, 0) {
        Ok(file) => {
            let meta = file.metadata().ok()?;
            let mut first = vec![0; LOG_MARKER.len()];
            let ours = meta.file_type().is_file()
                && meta.uid() == euid()
                && meta.mode() & 0o7777 == 0o600
                && meta.nlink() == 1
                && file.read_exact_at(&mut first, 0).is_ok()
                && first == LOG_MARKER.as_bytes();
            ours.then_some(file)
        }
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
            let mut file =
                open_at(folder, &name, flags | libc::O_CREAT | libc::O_EXCL, 0o600).ok()?;
            // The umask may have taken bits away; the file is ours to set.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .ok()?;
            file.write_all(LOG_MARKER.as_bytes()).ok()?;
            Some(file)
        }
        Err(_) => None,
    }
}

/// `openat(2)` without following a symlink in the last place, closed on exec.
fn open_at(
    folder: &File,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> std::io::Result<File> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a live folder descriptor, a NUL-terminated name; a descriptor returned by
    // `openat` is new and owned by nothing else.
    let raw = unsafe { libc::openat(fd(folder), name.as_ptr(), flags, libc::c_uint::from(mode)) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(raw) }))
}

fn fd(file: &File) -> libc::c_int {
    file.as_raw_fd()
}

fn euid() -> u32 {
    // SAFETY: `geteuid` cannot fail and touches no memory.
    unsafe { libc::geteuid() }
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
    fn placeholders_are_shown_as_written() {
        assert_eq!(
            placeholders_decoded("http://h/servers/%3Csaved.server_id%3E/x%3Cy"),
            "http://h/servers/<saved.server_id>/x%3Cy"
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        assert!(cut(&"x".repeat(5000)).ends_with("(5000 bytes in all)"));
        assert_eq!(cut("short"), "short");
    }
}
