//! The fetched menu, kept for a while: opening the panel's order wizard should not wait on the
//! hoster's plan list every time, and a hoster that is down should not empty the wizard.
//!
//! One file per provider, `<state dir>/<provider>/configs.cache` (0600, written atomically like
//! a task, and not named `*.json`, so the task store never takes it for a task). It holds the
//! menu as the panel saw it, with a key made of what the menu is built from (the provider
//! file, the site's settings, the API's address, this binary's version): change any of them
//! and the cache no longer applies. Secrets are not part of the key, so no hash of a token is
//! ever written down.

use crate::state::now_secs;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cache of one provider's menu.
pub struct MenuCache {
    path: PathBuf,
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
    /// The cache in `dir` (the provider's task folder), for a menu built from `inputs`.
    pub fn new(dir: &Path, inputs: &[&str]) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        inputs.hash(&mut hasher);
        MenuCache {
            path: dir.join("configs.cache"),
            key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The menu stored for the same inputs at most `max_age` ago.
    pub fn get<T: DeserializeOwned>(&self, max_age: Duration) -> Option<T> {
        let bytes = crate::files::read_bytes(&self.path, crate::files::STATE_FILE_CAP).ok()?;
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
        let Some(dir) = self.path.parent() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut temp = tempfile::Builder::new()
                .prefix(".configs-")
                .permissions(std::fs::Permissions::from_mode(0o600))
                .tempfile_in(dir)?;
            temp.write_all(&serde_json::to_vec(&stored)?)?;
            temp.persist(&self.path)?;
            Ok(())
        };
        let _ = write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_menu_is_reused_for_the_same_inputs_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let cache = MenuCache::new(dir.path(), &["file", "settings"]);
        assert_eq!(cache.get::<Vec<String>>(Duration::from_secs(600)), None);
        cache.put(&vec!["plan-1".to_owned()]);
        assert_eq!(
            cache.get::<Vec<String>>(Duration::from_secs(600)),
            Some(vec!["plan-1".to_owned()])
        );
        let other = MenuCache::new(dir.path(), &["file", "other settings"]);
        assert_eq!(other.get::<Vec<String>>(Duration::from_secs(600)), None);
        let mode = std::fs::metadata(dir.path().join("configs.cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
