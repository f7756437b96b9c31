//! The last line of defence of "the whole verb ends within its deadline": the panel waits for
//! the plugin with no timeout of its own, so a run that hangs anywhere (a template that loops
//! over a huge list, a stuck disk) would hang the panel's page.
//!
//! Requests carry their own deadlines; this catches everything else. [`arm`] sets an alarm
//! (`alarm(2)`: one system call, no thread, so the protocol path stays lean); when it rings,
//! the signal handler writes the error object with `write(2)` and exits with 1. The reply is
//! printed once either way: [`claim_reply`] decides who prints it, the run or the alarm.
//!
//! While a server is being bought the alarm's reply is the order's own ([`late_reply`]): it
//! names the task, or hands it out once the hoster took the order, so a run stuck past the
//! deadline (a hung disk while recording the answer) still lets the server be found.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Duration;

/// Time past the provider's deadline before the alarm rings: the run's own deadline
/// handling gets the first chance to say what timed out.
const GRACE: Duration = Duration::from_secs(5);

static ARMED: AtomicBool = AtomicBool::new(false);
static REPLIED: AtomicBool = AtomicBool::new(false);
/// The reply the alarm prints instead of [`LATE_REPLY`], if any: its exit code, then the
/// line (leaked: set at most a few times per run, and read by the handler at any moment, so
/// never freed; one pointer, so code and line change together).
static ORDER_REPLY: AtomicPtr<Vec<u8>> = AtomicPtr::new(std::ptr::null_mut());

const LATE_REPLY: &[u8] = b"{\"error\":1,\"error_message\":\"the run did not end within its deadline and was stopped; if the hoster is slow, raise `api.deadline_seconds` in the provider file, else run `vps-provider run <name> <verb> --verbose` to see where it hangs\"}\n";

/// Rings `deadline` plus a grace period from now. Protocol runs call this first with the
/// default deadline and again once the provider file says its own.
pub fn arm(deadline: Duration) {
    let seconds = (deadline + GRACE).as_secs().clamp(1, u64::from(u32::MAX)) as libc::c_uint;
    // SAFETY: installs an async-signal-safe handler (atomics, write, _exit) and sets a timer.
    unsafe {
        if !ARMED.swap(true, Ordering::SeqCst) {
            libc::signal(libc::SIGALRM, on_alarm as *const () as libc::sighandler_t);
        }
        libc::alarm(seconds);
    }
}

/// Moves an armed alarm to `deadline` from now; does nothing for operator commands, which
/// never armed one.
pub fn extend(deadline: Duration) {
    if ARMED.load(Ordering::SeqCst) {
        arm(deadline);
    }
}

/// Makes `reply` (one JSON object) what the alarm prints from now on.
pub fn late_reply(reply: &crate::protocol::Reply) {
    // A handed-out task is a success reply (exit code 0): its polls tell what became of it.
    let mut line = vec![u8::from(matches!(
        reply,
        crate::protocol::Reply::Error { .. }
    ))];
    line.extend(serde_json::to_vec(reply).unwrap_or_else(|_| LATE_REPLY.to_vec()));
    line.push(b'\n');
    ORDER_REPLY.store(Box::into_raw(Box::new(line)), Ordering::SeqCst);
}

/// Whether the caller may print the reply: true once per process. A `false` means the alarm
/// is printing it and the process is about to end.
pub fn claim_reply() -> bool {
    !REPLIED.swap(true, Ordering::SeqCst)
}

extern "C" fn on_alarm(_signal: libc::c_int) {
    // The run is printing its own reply: let it finish.
    if !claim_reply() {
        return;
    }
    let order_reply = ORDER_REPLY.load(Ordering::SeqCst);
    // SAFETY: a non-null pointer is a leaked Vec, never freed or changed.
    let (code, line): (i32, &[u8]) = match unsafe { order_reply.as_ref() } {
        Some(line) => (i32::from(line[0]), &line[1..]),
        None => (1, LATE_REPLY),
    };
    // SAFETY: write and _exit are async-signal-safe; the buffer lives to the end.
    unsafe {
        libc::write(libc::STDOUT_FILENO, line.as_ptr().cast(), line.len());
        libc::_exit(code);
    }
}
