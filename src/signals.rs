//! SIGTERM, SIGINT and SIGHUP while a server is being bought: they wait.
//!
//! Killed between sending the buying request and recording its answer, a run leaves a server
//! the panel never hears of. So from just before that request until the reply is printed
//! ([`defer`] to [`resume`]), these signals are only noted (the handler stores the signal
//! number: async-signal-safe); once the reply is out, the first one noted is raised again
//! with its default action, so the process ends as the signal asked. Outside that window they
//! keep their default action. SIGKILL cannot be deferred: the crash tests cover it.
//!
//! Handlers, not a blocked signal mask: a mask is per thread, a handler holds for the whole
//! process. `SA_RESTART` keeps the request's reads and writes going through a signal.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signals a panel, an init system or a closed terminal sends to end a run.
const DEFERRED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

static DEFERRING: AtomicBool = AtomicBool::new(false);
/// The first signal noted while deferring; 0 for none.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// Holds the deferred signals from now until [`resume`].
pub fn defer() {
    if !DEFERRING.swap(true, Ordering::SeqCst) {
        set_handler(note as *const () as libc::sighandler_t);
    }
}

/// Ends the window: the default actions come back, and a signal noted in the window is raised
/// again (the process ends here, as that signal asked). Call it once the reply is printed.
pub fn resume() {
    if !DEFERRING.swap(false, Ordering::SeqCst) {
        return;
    }
    set_handler(libc::SIG_DFL);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: raise only sends a signal to this process.
        unsafe {
            libc::raise(pending);
        }
    }
}

fn set_handler(handler: libc::sighandler_t) {
    for signal in DEFERRED {
        // SAFETY: a zeroed sigaction with a handler, an empty mask and SA_RESTART is valid;
        // `note` is async-signal-safe (one atomic store).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

extern "C" fn note(signal: libc::c_int) {
    let _ = PENDING.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}
