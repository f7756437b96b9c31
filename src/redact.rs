//! The last line of defence for secrets: every text that leaves the process for a person
//! (error messages, traces, logs) passes through [`clean`], which replaces every secret value
//! known to this run by `***`. Secrets are registered as soon as they are read.

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Values shorter than this are not redacted: replacing every `1` in a message would hide
/// everything and protect nothing.
const MIN_LEN: usize = 4;

/// Remembers a secret value for the rest of the run.
pub fn register(value: &str) {
    if value.len() >= MIN_LEN {
        let mut secrets = SECRETS.lock().unwrap_or_else(|p| p.into_inner());
        if !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_owned());
            // Longest first, so a secret that contains another is hidden whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
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
    fn hides_registered_values_and_ignores_short_ones() {
        register("tok-123456");
        register("ab");
        assert_eq!(clean("GET /x?key=tok-123456 ab"), "GET /x?key=*** ab");
    }
}
