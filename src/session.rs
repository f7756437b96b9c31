//! The session token of `api.login`, kept between runs: a poll with a kept token costs one
//! request, not a login and a request.
//!
//! One file per provider, `<state dir>/<provider>/session.cache` (0600, written atomically
//! through a random O_EXCL name, not named `*.json` so the task store never takes it for a
//! task; read only when the task store trusts its folder, never through a symlink). It holds
//! the token, when it expires, and a key: a SHA-256 over the provider's name and the login
//! request as it is sent (base URL, credentials, settings), so a changed password or base URL
//! is a new login. The credentials themselves are never written, nor an unsalted hash of one.
//! A kept token is used only while it stays valid for the whole run and [`MARGIN`] more, so
//! no request of the run (the purchase least of all) goes out with a token about to expire.

use crate::error::{Error, Result};
use crate::http::Outgoing;
use crate::state::{Store, now_secs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// How long before its expiry a token is renewed: a request sent with it must still arrive
/// while it is valid (and a purchase is never sent with a token about to expire).
pub const MARGIN: Duration = Duration::from_secs(60);

/// The file of the session in the task folder.
const FILE: &str = "session.cache";

/// The kept session of one provider.
pub struct SessionCache {
    store: Store,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    token: String,
    /// The values `api.login.extract` took from the same answer (a service catalog...).
    #[serde(default)]
    values: Map<String, Value>,
    /// Seconds since the Unix epoch.
    expires: u64,
}

impl SessionCache {
    /// The session in `store`'s task folder for provider `provider` logging in with `login`.
    pub fn new(store: Store, provider: &str, login: &Outgoing) -> Self {
        let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
        // Each part with its length: no two different logins give the same bytes.
        let parts = [
            provider.as_bytes(),
            login.method.as_bytes(),
            login.url.as_bytes(),
        ]
        .into_iter()
        .chain(
            login
                .headers
                .iter()
                .flat_map(|(n, v)| [n.as_bytes(), v.as_bytes()]),
        )
        .chain(login.body.as_deref());
        for part in parts {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let key = hasher
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        SessionCache { store, key }
    }

    /// The kept token and the values kept with it, when it is for the same login and valid
    /// for `run` and [`MARGIN`] more.
    pub fn get(&self, run: Duration) -> Option<(String, Map<String, Value>)> {
        self.store.check_trusted().ok()?.then_some(())?;
        let bytes = self.store.read_cache(FILE)?;
        let stored: Stored = serde_json::from_slice(&bytes).ok()?;
        let valid = stored.key == self.key
            && now_secs().saturating_add((run + MARGIN).as_secs()) < stored.expires
            && !stored.token.is_empty();
        valid.then(|| {
            // The values kept with it are hidden by the runner, by the rule of a fresh login.
            crate::redact::register(&stored.token);
            (stored.token, stored.values)
        })
    }

    /// Keeps `token` and its `values` until `expires` (seconds since the Unix epoch). A
    /// session that cannot be kept is no error: the next run logs in again.
    pub fn put(&self, token: &str, values: &Map<String, Value>, expires: u64) {
        let stored = Stored {
            key: self.key.clone(),
            token: token.to_owned(),
            values: values.clone(),
            expires,
        };
        if let Ok(bytes) = serde_json::to_vec(&stored) {
            self.store.write_cache(FILE, &bytes);
        }
    }
}

/// When a token taken now expires (seconds since the Unix epoch): `value` is seconds from now
/// (`expires_in`, a number or digits) or an RFC 3339 time (Keystone's `expires_at`); `null`
/// means the answer does not say, and `lifetime` applies.
pub fn expiry(value: &Value, lifetime: Duration) -> Result<u64> {
    let now = now_secs();
    let seconds = match value {
        Value::Null => return Ok(now.saturating_add(lifetime.as_secs())),
        Value::Number(n) => n.as_u64(),
        Value::String(text) => text.trim().parse::<u64>().ok().or_else(|| {
            let at = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
            Some(
                u64::try_from(at.timestamp())
                    .unwrap_or(0)
                    .saturating_sub(now),
            )
        }),
        _ => None,
    };
    let seconds = seconds.ok_or_else(|| {
        Error::new(format!(
            "the login's expiry `{}` is neither seconds nor an RFC 3339 time",
            crate::redact::clean(&crate::template::text_of(value))
        ))
        .help("point `api.login.expires` at `expires_in` (seconds) or `expires_at` (e.g. `2026-12-03T10:00:00Z`), or leave it out and set `api.login.expires_seconds`")
    })?;
    Ok(now.saturating_add(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn login(body: &str) -> Outgoing {
        Outgoing {
            method: "POST",
            url: "http://127.0.0.1:1/v3/auth/tokens".into(),
            headers: vec![],
            body: Some(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_token_is_kept_for_the_same_login_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = || Store::new(dir.path(), "demo");
        let cache = SessionCache::new(store(), "demo", &login("password=a"));
        let run = Duration::from_secs(60);
        let token = |got: Option<(String, Map<String, Value>)>| got.map(|(token, _)| token);
        assert_eq!(cache.get(run), None);
        let catalog: Map<String, Value> = [("compute".to_owned(), json!([{"url": "https://c"}]))]
            .into_iter()
            .collect();
        cache.put("tok-1", &catalog, now_secs() + 3600);
        assert_eq!(cache.get(run), Some(("tok-1".to_owned(), catalog)));
        let other = SessionCache::new(store(), "demo", &login("password=b"));
        assert_eq!(other.get(run), None, "a changed password is a new login");
        cache.put("tok-2", &Map::new(), now_secs() + 150);
        assert_eq!(token(cache.get(Duration::ZERO)).as_deref(), Some("tok-2"));
        let long_run = Duration::from_secs(120);
        assert_eq!(cache.get(long_run), None, "it would expire during the run");
        let file = dir.path().join("demo/session.cache");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains("password"), "{text}");
    }

    #[test]
    fn expiries_are_seconds_or_times() {
        let hour = Duration::from_secs(3600);
        let now = now_secs();
        assert!(expiry(&json!(120), hour).unwrap() - now <= 121);
        assert!(expiry(&json!("120"), hour).unwrap() - now >= 119);
        assert!(expiry(&Value::Null, hour).unwrap() - now >= 3599);
        assert_eq!(
            expiry(&json!("2000-01-01T00:00:00.000000Z"), hour).unwrap(),
            now
        );
        let later = expiry(&json!("2999-01-01T00:00:00Z"), hour).unwrap();
        assert_eq!(later, 32472144000);
        assert!(
            expiry(&json!("tomorrow"), hour)
                .unwrap_err()
                .message
                .contains("neither seconds")
        );
    }
}
