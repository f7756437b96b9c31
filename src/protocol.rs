//! The panel's wire format (`docs/protocol.md`) and the one place that prints it.
//!
//! Rules: stdout carries exactly one JSON object per run; every value is a JSON string; a
//! success reply has no `error` key at all (the panel treats its mere presence as failure);
//! an error reply is `{"error":1,"error_message":"..."}`, with secrets redacted; every text a
//! hoster can fill in (`descr`, `message`, `error_message`) is printed as one clean line of
//! bounded length ([`panel_safe::shown`]), here, so that no verb can forget it.

use crate::panel_safe::{self, DESCR_CAP, MESSAGE_CAP};
use crate::redact;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::process::ExitCode;

/// The verbs this plugin answers, in the order `help` lists them.
pub const VERBS: [&str; 4] = ["help", "configs", "order", "order_status"];

/// `enabled` or `disabled`, as `help` and `configs` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Enabled,
    Disabled,
}

/// The panel's task states, as `order_status` says them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    InProgress,
    Finished,
    Error,
}

/// The name serde gives a unit enum variant (`in_progress`), for messages and tables.
pub fn wire_name(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&wire_name(self))
    }
}

/// One orderable configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Configuration {
    pub id: String,
    pub descr: String,
}

/// What a verb answers.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Help {
        options: [&'static str; 4],
        status: Availability,
    },
    Configs {
        configurations: Vec<Configuration>,
        status: Availability,
    },
    Order {
        task_id: String,
    },
    Status {
        task_id: String,
        status: TaskStatus,
        server: String,
        server_password: String,
        /// Why the order failed, with `error`: for the operator (the panel reads only the
        /// fields above).
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Error {
        error: u8,
        error_message: String,
    },
}

impl Reply {
    pub fn help(status: Availability) -> Self {
        Reply::Help {
            options: VERBS,
            status,
        }
    }

    pub fn error(message: &str) -> Self {
        Reply::Error {
            error: 1,
            error_message: redact::clean(message),
        }
    }

    /// The reply as the panel's web page may show it: the hoster's texts cleaned and capped.
    fn shown(&self) -> Reply {
        let mut reply = self.clone();
        match &mut reply {
            Reply::Configs { configurations, .. } => configurations
                .iter_mut()
                .for_each(|c| c.descr = panel_safe::shown(&c.descr, DESCR_CAP)),
            Reply::Status {
                message: Some(text),
                ..
            }
            | Reply::Error {
                error_message: text,
                ..
            } => *text = panel_safe::shown(text, MESSAGE_CAP),
            _ => {}
        }
        reply
    }

    /// The reply's line of stdout, newline included.
    fn line(&self) -> String {
        // Serialising these types cannot fail: plain strings and fixed keys.
        let mut line = serde_json::to_string(&self.shown()).unwrap_or_else(|_| {
            r#"{"error":1,"error_message":"internal error: the reply could not be written"}"#.into()
        });
        line.push('\n');
        line
    }

    /// Prints the reply as the one line of stdout and returns the exit code that goes with it.
    pub fn print(&self) -> ExitCode {
        let line = self.line();
        // One reply per run: when the watchdog's alarm has claimed it, the alarm prints it and
        // ends the process; this thread waits for that rather than end first, silent.
        if !crate::watchdog::claim_reply() {
            loop {
                std::thread::park();
            }
        }
        let mut stdout = std::io::stdout().lock();
        // Nothing to do if stdout is gone: the panel is not listening.
        let _ = stdout
            .write_all(line.as_bytes())
            .and_then(|_| stdout.flush());
        // A signal held while a server was bought ends the run now, as it asked.
        crate::signals::resume();
        match self {
            Reply::Error { .. } => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_protocol() {
        let json = |r: &Reply| serde_json::to_string(r).unwrap();
        assert_eq!(
            json(&Reply::help(Availability::Enabled)),
            r#"{"options":["help","configs","order","order_status"],"status":"enabled"}"#
        );
        assert_eq!(
            json(&Reply::Order {
                task_id: "24".into()
            }),
            r#"{"task_id":"24"}"#
        );
        assert_eq!(
            json(&Reply::error("boom")),
            r#"{"error":1,"error_message":"boom"}"#
        );
        let configs = Reply::Configs {
            configurations: vec![Configuration {
                id: "1".into(),
                descr: "d".into(),
            }],
            status: Availability::Disabled,
        };
        assert_eq!(
            json(&configs),
            r#"{"configurations":[{"id":"1","descr":"d"}],"status":"disabled"}"#
        );
    }

    #[test]
    fn hoster_texts_are_printed_clean_and_capped() {
        let huge = format!("unknown state `{}`", "\u{1b}[2J\n".repeat(1 << 20));
        let error = Reply::error(&huge).line();
        assert!(error.len() < 4096, "{} bytes", error.len());
        assert!(
            !error.contains("\\u001b") && !error.contains("\\n"),
            "{error}"
        );
        let status = Reply::Status {
            task_id: "1".into(),
            status: TaskStatus::Error,
            server: String::new(),
            server_password: String::new(),
            message: Some("x".repeat(5000)),
        };
        let json: serde_json::Value = serde_json::from_str(&status.line()).unwrap();
        assert_eq!(
            json["message"].as_str().unwrap().chars().count(),
            MESSAGE_CAP
        );
        let configs = Reply::Configs {
            configurations: vec![Configuration {
                id: "1".into(),
                descr: "a\u{2028}b\u{202e}c".into(),
            }],
            status: Availability::Enabled,
        };
        assert_eq!(
            configs.line(),
            "{\"configurations\":[{\"id\":\"1\",\"descr\":\"a bc\"}],\"status\":\"enabled\"}\n"
        );
    }
}
