//! Named fault points for the crash tests: a debug build run with `VPS_PROVIDER_FAULT=<name>`
//! kills itself with SIGKILL when it reaches the point of that name, so a test can show what a
//! power cut or an OOM kill at exactly that moment leaves behind.
//!
//! Release builds contain none of it: [`point`] is an empty inline function there, and the
//! variable is never read.

/// The variable that names the point to die at.
#[cfg(debug_assertions)]
pub const VAR: &str = "VPS_PROVIDER_FAULT";

/// Dies here, without any cleanup, if `VPS_PROVIDER_FAULT` names this point (debug builds only).
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    if std::env::var_os(VAR).is_some_and(|wanted| wanted == name) {
        // SAFETY: raise only sends a signal to this process; SIGKILL cannot be caught.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

/// Panics here if `VPS_PROVIDER_FAULT` names this point (debug builds only): a bug that
/// the panel must still get one JSON object for.
#[cfg(debug_assertions)]
pub fn panic_point(name: &str) {
    if std::env::var_os(VAR).is_some_and(|wanted| wanted == name) {
        panic!("fault point `{name}` reached");
    }
}

/// Hangs here for good if `VPS_PROVIDER_FAULT` names this point (debug builds only): a stuck
/// disk or a stopped process, which only the watchdog ends.
#[cfg(debug_assertions)]
pub fn hang_point(name: &str) {
    if std::env::var_os(VAR).is_some_and(|wanted| wanted == name) {
        loop {
            std::thread::park();
        }
    }
}

/// Fails here as a full disk does (ENOSPC) if `VPS_PROVIDER_FAULT` names this point (debug
/// builds only): for a write that must fail even where a test cannot fill a disk.
#[cfg(debug_assertions)]
pub fn disk_full_point(name: &str) -> std::io::Result<()> {
    match std::env::var_os(VAR) {
        Some(wanted) if wanted == name => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
        _ => Ok(()),
    }
}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn disk_full_point(_name: &str) -> std::io::Result<()> {
    Ok(())
}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hang_point(_name: &str) {}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn panic_point(_name: &str) {}
