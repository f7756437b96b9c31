//! The operator's commands (the binary called as `vps-provider`): run a verb by hand, the
//! demo, and the tools for writing and installing provider files.
//!
//! Rules: clap parses argv here and only here (protocol mode never loads it); each command
//! lives in a module of its own; exit codes: 0 success, 1 failure, 2 bad usage.

mod demo;

use crate::site::Site;
use crate::verbs::{self, Verb};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

pub use demo::DEMO_PROVIDER;

/// One binary that lets the Bitrix pool panel order servers from any hoster described by a
/// YAML provider file.
#[derive(Debug, Parser)]
#[command(name = "vps-provider", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer one verb for a provider, exactly as its symlink would for the panel.
    Run {
        /// The provider's name (its file is `<name>.yaml` in the provider folder).
        name: String,
        /// `help`, `configs`, `order <config_id>` or `order_status <task_id>`.
        #[arg(num_args = 1.., allow_hyphen_values = true, value_name = "VERB [ARG]")]
        verb: Vec<OsString>,
    },
    /// Run the panel's whole conversation against a mock hoster on loopback.
    Demo,
}

/// Runs the operator's command line (without the program name).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(
        std::iter::once(OsString::from(crate::OPERATOR_NAME)).chain(args),
    ) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run { name, verb } => {
            let site = Site::from_env(&name);
            let reply = Verb::parse(&verb)
                .and_then(|verb| verbs::answer(&name, &site, &verb, None))
                .unwrap_or_else(|e| crate::protocol::Reply::error(&e.one_line()));
            reply.print()
        }
        Command::Demo => demo::main(),
    }
}
