//! The clocks a task is measured by: the wall clock (what people read: ages, the menu cache,
//! task ids) and the boot-time clock (`CLOCK_BOOTTIME`: seconds since this machine booted,
//! suspend included, which no one can set).
//!
//! Rule: nothing that deletes a server trusts the wall clock alone. An NTP step, an operator's
//! `date -s` or a dead RTC battery moves it by hours at once; the boot-time clock only moves
//! forward, but means nothing across a reboot, so a [`BootMark`] carries the boot's id
//! (`/proc/sys/kernel/random/boot_id`) to tell whether two readings are of the same boot.
//!
//! Debug builds read two fake skews, in seconds, so tests can move the clocks:
//! `VPS_PROVIDER_FAKE_CLOCK_SKEW` (the wall clock) and `VPS_PROVIDER_FAKE_BOOT_SKEW` (the
//! boot-time clock). Release builds contain none of it.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// A reading of the boot-time clock, with the boot it was taken in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootMark {
    /// The kernel's id of the boot; empty where `/proc` does not tell it.
    pub boot_id: String,
    /// Seconds of `CLOCK_BOOTTIME`. Signed: a test moves a task back past the boot.
    pub secs: i64,
}

impl BootMark {
    /// The boot-time clock now.
    pub fn now() -> Self {
        let boot_id =
            crate::files::read_bytes(std::path::Path::new("/proc/sys/kernel/random/boot_id"), 64)
                .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
                .unwrap_or_default();
        BootMark {
            boot_id,
            secs: boot_secs().saturating_add(skew("VPS_PROVIDER_FAKE_BOOT_SKEW")),
        }
    }

    /// Seconds from `self` to `later`, when both are readings of the same boot: `None` when
    /// the machine rebooted in between (or the clock reads lower, which only a reboot does).
    pub fn secs_until(&self, later: &BootMark) -> Option<u64> {
        let same_boot = self.boot_id == later.boot_id;
        let elapsed = later.secs.checked_sub(self.secs)?;
        (same_boot && elapsed >= 0).then_some(elapsed as u64)
    }
}

fn boot_secs() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given. It cannot fail for
    // CLOCK_BOOTTIME on Linux 2.6.39 and later; if it did, `now` stays 0 and every later
    // reading is past it, as a reboot would make it.
    unsafe {
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now);
    }
    now.tv_sec
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn wall_millis() -> u128 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let skew = i128::from(skew("VPS_PROVIDER_FAKE_CLOCK_SKEW")) * 1000;
    u128::try_from((real as i128).saturating_add(skew)).unwrap_or(0)
}

/// Seconds since the Unix epoch, by the wall clock.
pub fn wall_secs() -> u64 {
    (wall_millis() / 1000) as u64
}

/// The fake skew `var` asks for (debug builds only).
#[cfg(debug_assertions)]
fn skew(var: &str) -> i64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Release builds read the clocks as they are.
#[cfg(not(debug_assertions))]
#[inline(always)]
fn skew(_var: &str) -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_is_comparable_within_one_boot_only() {
        let then = BootMark::now();
        let later = BootMark {
            secs: then.secs + 90,
            ..then.clone()
        };
        assert_eq!(then.secs_until(&later), Some(90));
        assert_eq!(later.secs_until(&then), None, "lower: a reboot");
        let other_boot = BootMark {
            boot_id: "another".into(),
            ..later
        };
        assert_eq!(then.secs_until(&other_boot), None);
        assert!(wall_secs() > 1_700_000_000);
    }
}
