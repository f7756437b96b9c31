//! The fetched menu, kept for a while: opening the panel's order wizard should not wait on the
//! hoster's plan list every time, and a hoster that is down should not empty the wizard.
//!
//! One file per provider, `<state dir>/<provider>/configs.cache` (0600, written atomically like
//! a task, and not named `*.json`, so the task store never takes it for a task). It holds the
//! menu as the panel saw it, with a key made of what the menu is built from (the provider
//! file, the site's settings, the API's address, this binary's version): change any of them
//! and the cache no longer applies. Secrets are not part of the key, so no hash of a token is
//! ever written down.
//!
//! The cache lives in the task folder, so it is read and written only when the task store
//! trusts that folder (`Store::check_trusted`), and never through a symlink: a menu planted
//! there would set the vars of the next order.

use crate::state::{Store, now_secs};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// The file of the menu cache in the task folder.
const FILE: &str = "configs.cache";

/// The cache of one provider's menu.
pub struct MenuCache {
    store: Store,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    key: String,
    /// Seconds since the Unix epoch.
    fetched: u64,
    menu: T,
}

impl MenuCache {
    /// The cache in `store`'s task folder, for a menu built from `inputs`.
    pub fn new(store: Store, inputs: &[&str]) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        inputs.hash(&mut hasher);
        MenuCache {
            store,
            key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The menu stored for the same inputs at most `max_age` ago.
    pub fn get<T: DeserializeOwned>(&self, max_age: Duration) -> Option<T> {
        self.store.check_trusted().ok()?.then_some(())?;
        let bytes = self.store.read_cache(FILE)?;
        let stored: Stored<T> = serde_json::from_slice(&bytes).ok()?;
        let age = now_secs().saturating_sub(stored.fetched);
        (stored.key == self.key && age <= max_age.as_secs()).then_some(stored.menu)
    }

    /// Stores `menu`. A cache that cannot be written is no error: the menu was fetched, and
    /// the next run fetches it again.
    pub fn put<T: Serialize>(&self, menu: &T) {
        let stored = Stored {
            key: self.key.clone(),
            fetched: now_secs(),
            menu,
        };
        if let Ok(bytes) = serde_json::to_vec(&stored) {
            self.store.write_cache(FILE, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_menu_is_reused_for_the_same_inputs_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = || Store::new(dir.path(), "demo");
        let cache = MenuCache::new(store(), &["file", "settings"]);
        assert_eq!(cache.get::<Vec<String>>(Duration::from_secs(600)), None);
        cache.put(&vec!["plan-1".to_owned()]);
        assert_eq!(
            cache.get::<Vec<String>>(Duration::from_secs(600)),
            Some(vec!["plan-1".to_owned()])
        );
        let other = MenuCache::new(store(), &["file", "other settings"]);
        assert_eq!(other.get::<Vec<String>>(Duration::from_secs(600)), None);
        let mode = std::fs::metadata(dir.path().join("demo/configs.cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
