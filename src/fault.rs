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

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}

/// Release builds have no fault points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn panic_point(_name: &str) {}
