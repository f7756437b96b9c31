//! `vps-provider tasks <name>`: the recorded orders of a provider, newest first.

use crate::error::Result;
use crate::site::Site;
use crate::state::{self, Stage, Store};

/// The table `tasks` prints. Files that are not readable tasks are reported on stderr.
pub fn table(name: &str) -> Result<String> {
    let site = Site::from_env(name);
    let store = Store::new(&site.state_dir, name);
    let (tasks, problems) = store.list()?;
    for problem in problems {
        eprint!("{}", crate::redact::clean(&problem.report()));
    }
    if tasks.is_empty() {
        return Ok(format!("no tasks in {}\n", store.dir().display()));
    }
    let now = state::now_secs();
    // Values from the hoster are shown cut and escaped: a column as wide as a 1 MB answer
    // cannot be formatted, and control characters would drive the operator's terminal.
    let rows: Vec<[String; 7]> = tasks
        .iter()
        .map(|task| {
            let stage = task.stage.name();
            [
                task.id.clone(),
                crate::ids::shown(&task.config_id),
                task.hoster_id
                    .as_deref()
                    .map_or_else(|| "-".into(), crate::ids::shown),
                format!(
                    "{stage}{}",
                    task.last_status
                        .as_ref()
                        .filter(|_| task.stage == Stage::Ordered)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ),
                task.server
                    .as_deref()
                    .map_or_else(|| "-".into(), crate::ids::shown),
                age(now.saturating_sub(task.created)),
                crate::redact::clean(&note(task))
                    .escape_debug()
                    .take(NOTE_WIDTH)
                    .collect(),
            ]
        })
        .collect();
    let header = [
        "TASK",
        "CONFIG",
        "HOSTER ID",
        "STAGE",
        "SERVER",
        "AGE",
        "NOTE",
    ]
    .map(str::to_owned);
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// The note column's width, at most: enough for a failure and what became of its server.
const NOTE_WIDTH: usize = 400;

/// What the operator should know of a task that is not plainly on its way or done.
fn note(task: &state::Task) -> String {
    match task.stage {
        Stage::Failed => task.failure(),
        Stage::Ordered => task.last_state.clone().unwrap_or_default(),
        Stage::Finished => String::new(),
        Stage::Ordering | Stage::Refused | Stage::Unknown => {
            task.message.clone().unwrap_or_default()
        }
    }
}

/// `95` → `1m`, `7200` → `2h`, `3 days` → `3d`.
fn age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_well() {
        assert_eq!(super::age(5), "5s");
        assert_eq!(super::age(95), "1m");
        assert_eq!(super::age(7200), "2h");
        assert_eq!(super::age(3 * 86400 + 5), "3d");
    }
}
