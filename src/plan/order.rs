//! The `order`, `order_status` and `cleanup` sections: the steps that buy a server, the polls
//! that tell the panel how it goes, and the requests that delete a server whose order failed.

use super::{Compiler, StepPlan, Text};
use crate::manifest::{self, Method, Otherwise, TaskStatus};
use crate::position::YamlPath;
use std::time::Duration;

/// `order_status.give_up_after_minutes`: lowest, default, highest (a week).
const GIVE_UP_MINUTES: (u64, u64, u64) = (1, 30, 7 * 24 * 60);

/// `order_status.ssh_check.timeout_seconds`: lowest, default, highest.
const SSH_TIMEOUT_SECONDS: (u64, u64, u64) = (1, 3, 30);

const DEFAULT_SSH_PORT: u16 = 22;

#[derive(Debug)]
pub struct OrderPlan {
    pub steps: Vec<StepPlan>,
    pub hoster_id: Text,
    /// The index of the step that buys: the one marked `buys: true`, or the only non-`GET`
    /// one. `None` when every step is a `GET` and none is marked.
    pub buys: Option<usize>,
}

/// A `map` key of the status rule.
#[derive(Debug)]
pub enum StatePattern {
    Exact(String),
    Glob(Vec<String>),
}

impl StatePattern {
    /// A key of the status map: with a `*`, a pattern (`*` stands for any text), else exact.
    pub fn parse(key: &str) -> StatePattern {
        if key.contains('*') {
            StatePattern::Glob(key.split('*').map(str::to_owned).collect())
        } else {
            StatePattern::Exact(key.to_owned())
        }
    }
}

#[derive(Debug)]
pub struct StatusPlan {
    pub steps: Vec<StepPlan>,
    pub value: Text,
    pub map: Vec<(StatePattern, TaskStatus)>,
    pub otherwise: Otherwise,
    pub server: Text,
    pub server_password: Text,
    pub ssh_check: Option<SshCheckPlan>,
    pub give_up_after: Duration,
}

/// Where and how long to knock before calling a server ready.
#[derive(Debug, Clone, Copy)]
pub struct SshCheckPlan {
    pub port: u16,
    pub timeout: Duration,
}

/// The requests that delete a server whose order failed, and whether to send them.
#[derive(Debug)]
pub struct CleanupPlan {
    pub when: Option<Text>,
    pub steps: Vec<StepPlan>,
}

impl Compiler<'_> {
    /// The `order` section: its steps, which one buys, and the hoster's id of the new server.
    pub(super) fn order(&mut self, order: &manifest::Order) -> OrderPlan {
        let at = YamlPath::root().key("order");
        let buys = self.buying_step(&at.key("steps"), &order.steps);
        for (i, step) in order.steps.iter().enumerate() {
            if step.repeat.is_some() && buys.is_none_or(|b| i <= b) {
                self.problem(
                    &at.key("steps").index(i).key("repeat"),
                    "an order waits only after the step that buys",
                    "a wait before the purchase spends the time the purchase needs; move the wait after the buying step (or into `order_status`, which is polled)",
                );
            }
        }
        OrderPlan {
            buys,
            steps: self.steps(at.key("steps"), &order.steps, true),
            hoster_id: self.text(at.key("hoster_id"), &order.hoster_id),
        }
    }

    /// The order step that buys: the one marked `buys: true`, else the only one that is not
    /// a `GET`. A file where that is ambiguous is refused: taking the wrong step for the
    /// purchase tells the panel a server may exist when none does, or the reverse.
    pub(super) fn buying_step(&mut self, at: &YamlPath, steps: &[manifest::Step]) -> Option<usize> {
        let marked: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].buys).collect();
        for &i in marked.iter().skip(1) {
            self.problem(
                &at.index(i).key("buys"),
                format!("step {} says `buys: true` too; only one step buys", i + 1),
                format!("keep `buys: true` on the step that orders the server (now step {} and this one)", marked[0] + 1),
            );
        }
        for &i in &marked {
            if steps[i].request.method == Method::Get {
                self.problem(
                    &at.index(i).key("buys"),
                    "a `GET` step cannot buy: reads are retried, a purchase must be sent once",
                    "send the purchase with `method: POST` (or the method the hoster documents)",
                );
            }
        }
        let writes: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].request.method != Method::Get)
            .collect();
        match (marked.first(), writes.as_slice()) {
            (Some(&i), _) => Some(i),
            (None, [only]) => Some(*only),
            (None, []) => None,
            (None, [_, second, ..]) => {
                self.problem(
                    &at.index(*second).key("request").key("method"),
                    format!("steps {} are not `GET`, and none says which one buys the server", writes.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ")),
                    "add `buys: true` to the step that orders the server (a login or other step before it then buys nothing)",
                );
                None
            }
        }
    }

    pub(super) fn status(&mut self, status: &manifest::OrderStatus) -> StatusPlan {
        let at = YamlPath::root().key("order_status");
        for (i, step) in status.steps.iter().enumerate() {
            if step.request.method != Method::Get {
                self.problem(
                    &at.key("steps").index(i).key("request").key("method"),
                    "order_status must only read",
                    "use GET: the panel polls this on every page load",
                );
            }
            if step.repeat.is_some() {
                self.problem(
                    &at.key("steps").index(i).key("repeat"),
                    "a poll does not wait: the panel polls every task on every page load",
                    "remove `repeat`: the next poll reads again (map the hoster's in-between states to `in_progress`)",
                );
            }
        }
        if status.status.map.is_empty() {
            self.problem(
                &at.key("status").key("map"),
                "the status map is empty",
                "map the hoster's states, e.g. `running: finished`",
            );
        }
        StatusPlan {
            steps: self.steps(at.key("steps"), &status.steps, false),
            value: self.text(at.key("status").key("value"), &status.status.value),
            map: status
                .status
                .map
                .iter()
                .map(|(key, outcome)| (StatePattern::parse(key), *outcome))
                .collect(),
            otherwise: status.status.otherwise,
            server: self.text(at.key("server"), &status.server),
            server_password: self.text(at.key("server_password"), &status.server_password),
            ssh_check: status.ssh_check.as_ref().map(|check| SshCheckPlan {
                port: match check.port {
                    Some(0) => {
                        self.problem(
                            &at.key("ssh_check").key("port"),
                            "port 0 cannot be connected to",
                            "use the server's SSH port, usually 22",
                        );
                        DEFAULT_SSH_PORT
                    }
                    port => port.unwrap_or(DEFAULT_SSH_PORT),
                },
                timeout: Duration::from_secs(self.bounded(
                    &at.key("ssh_check").key("timeout_seconds"),
                    check.timeout_seconds,
                    SSH_TIMEOUT_SECONDS,
                    "one attempt per poll; the next poll tries again",
                )),
            }),
            give_up_after: Duration::from_secs(
                60 * self.bounded(
                    &at.key("give_up_after_minutes"),
                    status.give_up_after_minutes,
                    GIVE_UP_MINUTES,
                    "how long an order may stay in progress",
                ),
            ),
        }
    }

    pub(super) fn cleanup(&mut self, cleanup: &manifest::Cleanup) -> CleanupPlan {
        let at = YamlPath::root().key("cleanup");
        for (i, step) in cleanup.steps.iter().enumerate() {
            if !step.extract.is_empty() {
                self.problem(
                    &at.key("steps").index(i).key("extract"),
                    "a cleanup step takes nothing from its answer",
                    "remove `extract`: nothing runs after the cleanup",
                );
            }
        }
        CleanupPlan {
            when: cleanup.when.as_ref().map(|w| self.text(at.key("when"), w)),
            steps: self.steps(at.key("steps"), &cleanup.steps, false),
        }
    }
}
