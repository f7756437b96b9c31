//! vps-provider: one binary that answers the Bitrix pool panel's provider protocol for any
//! hoster described by a YAML provider file.
//!
//! Data flows one way: argv → [`site`] and [`plan`] (the provider file, checked) →
//! [`template`] → [`runner`]/[`http`] → [`extract`] → [`protocol`]. [`verbs`] puts the
//! pieces together for the panel; [`ops`] holds the operator's commands.

pub mod clock;
pub mod error;
pub mod extract;
pub mod fault;
pub mod files;
pub mod http;
pub mod ids;
pub mod manifest;
pub mod menu;
pub mod menu_cache;
pub mod ops;
pub mod pages;
pub mod panel_safe;
pub mod password;
pub mod plan;
pub mod position;
pub mod protocol;
pub mod reachable;
pub mod redact;
pub mod runner;
pub mod session;
pub mod signals;
pub mod signing;
pub mod site;
pub mod state;
pub mod suggest;
pub mod template;
pub mod trace;
pub mod variables;
pub mod verbs;
pub mod watchdog;

use std::ffi::OsString;
use std::process::ExitCode;

/// The name the binary answers to as the operator's tool.
pub const OPERATOR_NAME: &str = "vps-provider";

/// Answers the panel for provider `name`: exactly one JSON object on stdout, whatever happens,
/// a panic included.
pub fn protocol_main(name: &str, args: &[OsString]) -> ExitCode {
    redact::no_core_dumps();
    watchdog::arm(plan::DEFAULT_DEADLINE);
    guarded(|| answer(name, args)).print()
}

/// Runs `reply`; a panic prints the error reply instead and exits with 1. The release build
/// aborts on panic (no unwinding tables: a smaller, faster binary), so the reply is printed by
/// the panic hook, which runs before either unwinding or aborting; the default hook would print
/// the panic to stderr with whatever it holds, the reply carries the message redacted.
pub fn guarded(reply: impl FnOnce() -> protocol::Reply) -> protocol::Reply {
    std::panic::set_hook(Box::new(|panic| {
        let payload = panic.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        protocol::Reply::error(&format!(
            "internal error (a bug in vps-provider): {what}; please report it"
        ))
        .print();
        std::process::exit(1);
    }));
    reply()
}

fn answer(name: &str, args: &[OsString]) -> protocol::Reply {
    let result = if ids::is_safe(name) {
        // Without an observer of its own, a run traces to the site's log when it has one.
        verbs::Verb::parse(args)
            .and_then(|verb| verbs::answer(name, &site::Site::from_env(name), &verb, None))
    } else {
        Err(
            error::Error::new(format!("`{}` is not a provider name", ids::shown(name)))
                .help(ids::RULE),
        )
    };
    result.unwrap_or_else(|error| protocol::Reply::error(&error.one_line()))
}
