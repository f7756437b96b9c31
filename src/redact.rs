//! The last line of defence for secrets: every text that leaves the process for a person
//! (error messages, traces, logs, dry runs) passes through [`clean`], which replaces every
//! secret value known to this run by `***`. Secrets are registered as soon as they are read,
//! with the encodings they take on the way out (in a URL query, inside a JSON string); a value
//! made from a secret (by a template helper, or an auth header) is registered as it is made.
//! Redact first, cut afterwards: a cut through a secret leaves a piece no longer matched.
//! The process's memory holds the secrets in clear, so runs that read them are kept out of
//! core dumps ([`no_core_dumps`]).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Values shorter than this are not redacted: replacing every `true` or `1` in a message
/// would hide everything and protect nothing, and no real token or password is this short.
const MIN_LEN: usize = 6;

/// What a query value keeps unencoded (RFC 3986 unreserved): the same set the runner uses.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Remembers a secret value, and its encodings, for the rest of the run.
pub fn register(value: &str) {
    if value.len() < MIN_LEN {
        return;
    }
    let in_query = utf8_percent_encode(value, QUERY_VALUE).to_string();
    let in_json = serde_json::to_string(value).unwrap_or_default();
    let in_json = in_json.trim_matches('"').to_owned();
    let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    for form in [value.to_owned(), in_query, in_json] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret that contains another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Whether `text` holds a registered secret (in any of its registered forms).
pub fn contains_secret(text: &str) -> bool {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    secrets.iter().any(|secret| text.contains(secret.as_str()))
}

/// Keeps this process out of core dumps: a crash (the release build aborts on panic) would
/// otherwise write the tokens and passwords it holds to a core file. Not dumpable also keeps
/// other users' debuggers out and makes `/proc/<pid>/` root's; a core size limit of 0 stays
/// even if something made the process dumpable again. Best effort: a refusal changes nothing
/// else about the run.
pub fn no_core_dumps() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only change this process's own attributes; their arguments are
    // plain values and a pointer to a live `rlimit`.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
        libc::setrlimit(libc::RLIMIT_CORE, &none);
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn clean(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "***")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_registered_values_in_every_encoding_and_ignores_short_ones() {
        register("tok-123456");
        register("S3cr3t+Tok/en==\"x");
        register("true");
        assert_eq!(clean("GET /x?key=tok-123456 true"), "GET /x?key=*** true");
        assert_eq!(clean("?key=S3cr3t%2BTok%2Fen%3D%3D%22x"), "?key=***");
        assert_eq!(clean(r#"{"p":"S3cr3t+Tok/en==\"x"}"#), r#"{"p":"***"}"#);
        assert!(contains_secret("a tok-123456 b") && !contains_secret("tok-12345"));
    }

    #[test]
    fn the_process_is_not_dumpable_and_writes_no_core() {
        no_core_dumps();
        // SAFETY: reads of this process's own attributes into a live `rlimit`.
        let (dumpable, core) = unsafe {
            let mut core = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 1,
            };
            libc::getrlimit(libc::RLIMIT_CORE, &mut core);
            (libc::prctl(libc::PR_GET_DUMPABLE), core)
        };
        assert_eq!(dumpable, 0);
        assert_eq!((core.rlim_cur, core.rlim_max), (0, 0));
    }
}
