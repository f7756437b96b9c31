//! The four verbs of the panel's protocol, built from the pieces above:
//! argv → provider file → plan → templates → HTTP → extraction → reply.
//!
//! Rules: `help` and a static `configs` touch neither the network nor the task store; `order`
//! records its task before it asks the hoster, and never sends the buying request twice;
//! `order_status` only reads, and once a task is finished it answers from the store.

use crate::error::{Error, Result};
use crate::extract;
use crate::ids;
use crate::menu::{ResolvedConfig, Stale, configs};
use crate::panel_safe;
use crate::password;
use crate::plan::{self, Bound, ConfigsPlan, Parts};
use crate::protocol::TaskStatus;
use crate::protocol::{Availability, Configuration, Reply, VERBS};
use crate::reachable;
use crate::redact;
use crate::runner::{CallError, Observer, Runner};
use crate::site::Site;
use crate::state::{Cleanup, Stage, Store, Task};
use crate::template::{is_truthy, text_of};
use serde_json::{Map, Value, json};
use std::ffi::OsString;

/// A verb and its argument, as the panel passed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Help,
    Configs,
    Order(String),
    /// `refresh` (the operator's `run --refresh`) asks the hoster again about a task whose
    /// answer is final; the panel never sets it.
    OrderStatus {
        task_id: String,
        refresh: bool,
    },
}

impl Verb {
    /// Reads the panel's argv (after the program name).
    pub fn parse(args: &[OsString]) -> Result<Verb> {
        let usage = "call it as `help`, `configs`, `order <config_id>` or `order_status <task_id>`";
        let Some(verb) = args.first() else {
            return Err(Error::new("no verb given").help(usage));
        };
        let Some(verb) = verb.to_str() else {
            return Err(Error::new("the verb is not valid UTF-8").help(usage));
        };
        let argument = |what: &str| -> Result<String> {
            match args {
                [_, arg] => arg.to_str().map(str::to_owned).ok_or_else(|| {
                    Error::new(format!("the {what} is not valid UTF-8")).help(usage)
                }),
                [_] => Err(Error::new(format!("`{verb}` needs a {what}")).help(usage)),
                _ => Err(
                    Error::new(format!("`{verb}` takes one {what}, got {}", args.len() - 1))
                        .help(usage),
                ),
            }
        };
        let no_argument = |v: Verb| {
            if args.len() == 1 {
                Ok(v)
            } else {
                Err(Error::new(format!(
                    "`{verb}` takes no argument, got {}",
                    args.len() - 1
                ))
                .help(usage))
            }
        };
        match verb {
            "help" => no_argument(Verb::Help),
            "configs" => no_argument(Verb::Configs),
            "order" => argument("config id").map(Verb::Order),
            "order_status" => argument("task id").map(|task_id| Verb::OrderStatus {
                task_id,
                refresh: false,
            }),
            other => Err(Error::new(format!("unknown verb `{}`", ids::shown(other)))
                .help(format!("the verbs are {}", VERBS.join(", ")))),
        }
    }
}

/// Loads the provider file, compiling `parts` of it, and binds it to the site. With several
/// problems, the first is reported and the rest counted (`validate` shows them all).
pub fn load(name: &str, site: &Site, parts: Parts) -> Result<Bound> {
    let bound = plan::load_checked(name, &site.provider_file, parts)?.bind(site)?;
    crate::watchdog::extend(bound.plan.api.deadline);
    Ok(bound)
}

/// Answers one verb for provider `name`, watched by `observer` (a dry run, `--verbose`) or,
/// without one, by the site's log when its secrets file names one (`log=`): the log is known
/// once the plan is bound. Each verb compiles only the part of the provider file it uses: the
/// panel pays the start-up on every call.
pub fn answer(
    name: &str,
    site: &Site,
    verb: &Verb,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<Reply> {
    crate::fault::panic_point("panic_in_answer");
    match verb {
        Verb::Help => Ok(Reply::help(availability(&load(name, site, Parts::NONE)?))),
        Verb::Configs => {
            let bound = load(name, site, Parts::CONFIGS)?;
            let status = availability(&bound);
            // A disabled provider still lists a static menu (it costs nothing), but does not
            // call a hoster it has no credentials for.
            let configurations = match (bound.plan.configs()?, status) {
                (ConfigsPlan::Fetch(_), Availability::Disabled) => Vec::new(),
                _ => configs(&mut runner(&bound, site, observer), site, Stale::Allowed)?
                    .into_iter()
                    .map(|c| Configuration {
                        id: c.id,
                        descr: c.descr,
                    })
                    .collect(),
            };
            Ok(Reply::Configs {
                configurations,
                status,
            })
        }
        Verb::Order(config_id) => {
            let bound = load(name, site, Parts::ORDER)?;
            if let Some(reason) = &bound.disabled_because {
                return Err(Error::new(format!("cannot order: {reason}")));
            }
            order(&mut runner(&bound, site, observer), site, config_id)
        }
        Verb::OrderStatus { task_id, refresh } => {
            order_status(name, site, task_id, *refresh, observer)
        }
    }
}

/// The runner for a bound plan, watched by `observer`, or else by the site's log.
fn runner<'a>(
    bound: &'a Bound,
    site: &Site,
    observer: Option<Box<dyn Observer + 'a>>,
) -> Runner<'a> {
    let observer = observer.or_else(|| {
        let log = crate::trace::log(&site.log_dir, bound.log.as_deref()?)?;
        Some(Box::new(log) as Box<dyn Observer>)
    });
    Runner::new(bound, observer).keeping_sessions_in(&site.state_dir)
}

fn availability(bound: &Bound) -> Availability {
    match bound.disabled_because {
        Some(_) => Availability::Disabled,
        None => Availability::Enabled,
    }
}

fn order(runner: &mut Runner, site: &Site, config_id: &str) -> Result<Reply> {
    let plan = &runner.bound.plan;
    if !ids::is_safe(config_id) {
        return Err(
            Error::new(format!("`{}` is not a config id", ids::shown(config_id)))
                .help("use an id that `configs` printed"),
        );
    }
    let config = picked_config(runner, site, config_id)?;

    let password = password::generate().map_err(Error::new)?;
    redact::register(&password);
    let store = Store::new(&site.state_dir, &plan.name);
    let mut task = store.create(Task::new(
        &plan.name,
        &config.id,
        config.as_context(),
        password,
    ))?;
    let mut bought = false;
    let order_plan = plan.order()?;
    for (index, step) in order_plan.steps.iter().enumerate() {
        let last = index + 1 == order_plan.steps.len();
        let context = task_context(runner, &task, None);
        // The step that buys is the one the file names (or its only non-GET step): a login
        // before it buys nothing, and the purchase window opens only here.
        let buys = order_plan.buys == Some(index);
        if buys {
            if runner.time_left() < purchase_budget(plan.api.deadline) {
                let error = Error::new("too little time is left before the deadline to send the order safely")
                    .help("nothing was ordered; the plan list was slow: try again, or raise `api.deadline_seconds`");
                return Err(record_failure(&store, &mut task, Stage::Refused, error));
            }
            if !runner.is_dry_run()
                && let Err(error) = store.reserve(&task.id)
            {
                return Err(record_failure(&store, &mut task, Stage::Refused, error));
            }
            // From here until the reply is out, a server may exist that only this run knows
            // of: SIGTERM/SIGINT/SIGHUP wait, and the watchdog's reply names the task.
            crate::signals::defer();
            crate::watchdog::late_reply(&Reply::error(&format!(
                "the run ordering task `{}` did not end within its deadline: the order may have been placed; check the hoster's console before ordering again",
                task.id
            )));
            crate::fault::point("before_order_request");
        }
        match runner.step(step, &context) {
            Ok(extracted) => {
                if buys {
                    crate::fault::point("after_order_answer");
                }
                task.saved.extend(extracted);
                bought |= buys;
                // The hoster's id is kept as soon as the answers hold it, so cleanup and the
                // operator can find the server whatever fails next.
                if let Ok(id) =
                    runner.render(&order_plan.hoster_id, &task_context(runner, &task, None))
                    && !id.is_empty()
                {
                    task.hoster_id = Some(id);
                }
                if bought {
                    crate::watchdog::late_reply(&Reply::Order {
                        task_id: task.id.clone(),
                    });
                    crate::fault::hang_point("hang_after_order_answer");
                }
                // The last step's values are recorded below with the stage, in one write:
                // each write is two fsyncs, and the panel waits on the order.
                if !last && let Err(error) = store.save(&task) {
                    if bought {
                        return Ok(unrecorded_purchase(&task, &error));
                    }
                    return Err(error);
                }
            }
            // A wait after the purchase that did not see the hoster done (out of time, or a
            // read that failed) ends the order here: the server's id is known, so the task is
            // handed out and its polls follow the server. The steps not sent give `null`.
            Err(failure) if bought && step.repeat.is_some() => {
                let why = match failure {
                    CallError::WaitedTooLong { error, values } => {
                        task.saved.extend(*values);
                        error.one_line()
                    }
                    other => other.into_error().one_line(),
                };
                for (name, _) in order_plan.steps[index + 1..]
                    .iter()
                    .flat_map(|later| &later.extract)
                {
                    task.saved.entry(name.clone()).or_insert(Value::Null);
                }
                task.last_state = Some(recorded_text(&format!(
                    "the order's step {} stopped waiting: {why}",
                    index + 1
                )));
                break;
            }
            // A bought server must reach the panel: the task is handed out, and its polls say
            // what went wrong.
            Err(failure) if bought => {
                let what = format!(
                    "the server was ordered but step {} failed: {}",
                    index + 1,
                    failure.into_error().one_line()
                );
                return Ok(handed_out_with_problem(&store, &mut task, what));
            }
            Err(failure) => {
                let (stage, nothing_bought) = if buys && !failure.surely_did_nothing() {
                    (Stage::Unknown, false)
                } else {
                    (Stage::Refused, true)
                };
                let error = failure.into_error();
                let error = if nothing_bought {
                    let when = if buys {
                        "the hoster refused the order"
                    } else {
                        "the step that buys was not sent"
                    };
                    let help = error
                        .help
                        .as_ref()
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default();
                    error.help(format!("nothing was bought ({when}){help}"))
                } else {
                    error.help(format!(
                        "the order may have been placed: check the hoster's console before ordering again (task `{}`)",
                        task.id
                    ))
                };
                return Err(record_failure(&store, &mut task, stage, error));
            }
        }
    }
    // Past this point the server is bought: every way out hands the task out.
    if task.hoster_id.is_none() {
        let context = task_context(runner, &task, None);
        let problem = match runner.render(&order_plan.hoster_id, &context) {
            Ok(_) => plan
                .source
                .error(
                    &order_plan.hoster_id.at,
                    "the hoster's answer held no server id: fix `order.steps[].extract`",
                )
                .one_line(),
            Err(error) => error.one_line(),
        };
        return Ok(handed_out_with_problem(&store, &mut task, problem));
    }
    task.stage = Stage::Ordered;
    Ok(match store.save(&task) {
        Ok(()) => Reply::Order {
            task_id: task.id.clone(),
        },
        Err(error) => unrecorded_purchase(&task, &error),
    })
}

/// The config `config_id` of the menu on offer now. A dry run reads the menu for real (it is
/// what `configs` sends), so it shows the config's vars as the order would send them; when
/// it cannot read it, each var is shown as the placeholder `<config.NAME>`.
fn picked_config(runner: &mut Runner, site: &Site, config_id: &str) -> Result<ResolvedConfig> {
    let plan = &runner.bound.plan;
    let menu = if runner.is_dry_run() {
        match runner.reading_for_real(|runner| configs(runner, site, Stale::Refused)) {
            Ok(menu) => menu,
            Err(error) => {
                let ConfigsPlan::Fetch(fetch) = plan.configs()? else {
                    return Err(error);
                };
                runner.note(&format!(
                    "the plan list could not be read, so config `{config_id}` is not checked and its vars are shown as `<config.NAME>`: {}",
                    error.one_line()
                ));
                let unknown = |name: &str| Value::String(format!("<config.{name}>"));
                return Ok(ResolvedConfig {
                    id: config_id.to_owned(),
                    descr: "<config.descr>".into(),
                    vars: fetch
                        .vars_written
                        .keys()
                        .map(|name| (name.clone(), unknown(name)))
                        .collect(),
                });
            }
        }
    } else {
        configs(runner, site, Stale::Refused)?
    };
    let ids: Vec<&str> = menu.iter().map(|c| c.id.as_str()).collect();
    if let Some(config) = menu.iter().find(|c| c.id == config_id) {
        if runner.is_dry_run() {
            runner.note(&format!(
                "config `{config_id}` is on offer: {}",
                panel_safe::quoted(&config.descr)
            ));
        }
        return Ok(config.clone());
    }
    // The list may be long (a plan per region): the first ids say what ids look like.
    const SHOWN: usize = 20;
    let listed = match ids.len() {
        0 => "it offers none now".to_owned(),
        n if n > SHOWN => format!(
            "it offers {} and {} more",
            ids[..SHOWN].join(", "),
            n - SHOWN
        ),
        _ => format!("it offers {}", ids.join(", ")),
    };
    Err(Error::new(format!(
        "`{}` offers no config `{}`",
        plan.name,
        ids::shown(config_id)
    ))
    .help(format!("{listed}; use an id that `configs` printed")))
}

/// The least time the buying request gets: without it, it would likely time out after the
/// hoster took the order, leaving its outcome unknown.
fn purchase_budget(deadline: std::time::Duration) -> std::time::Duration {
    (deadline / 2).min(std::time::Duration::from_secs(15))
}

/// Records a failed order and returns its error.
fn record_failure(store: &Store, task: &mut Task, stage: Stage, error: Error) -> Error {
    task.stage = stage;
    // The hoster's message may echo the token back: the task file is not a secret store.
    task.message = Some(redact::clean(&error.one_line()));
    // The error being reported matters more than a failure to record it.
    let _ = store.save(task);
    error
}

/// A server was bought but something after the purchase failed: the task id goes to the panel
/// (so the server is not lost to it) and every poll reports `problem`.
fn handed_out_with_problem(store: &Store, task: &mut Task, problem: String) -> Reply {
    task.stage = Stage::Unknown;
    task.message = Some(redact::clean(&problem));
    match store.save(task) {
        Ok(()) => Reply::Order {
            task_id: task.id.clone(),
        },
        Err(error) => unrecorded_purchase(task, &error),
    }
}

/// A server was bought but its record could not be written (a full disk, a failing one): the
/// panel still gets the task id (the task file says `ordering`, so its polls say to check the
/// console), and stderr gets what the hoster answered, for the operator to find the server.
fn unrecorded_purchase(task: &Task, error: &Error) -> Reply {
    let answers = serde_json::to_string(&task.saved).unwrap_or_default();
    eprintln!(
        "{}",
        redact::clean(&format!(
            "vps-provider: task `{}`: the server was bought (hoster id `{}`; the hoster's answers gave {answers}) but its record could not be written: {}",
            task.id,
            task.hoster_id.as_deref().unwrap_or("unknown"),
            error.one_line()
        ))
    );
    Reply::Order {
        task_id: task.id.clone(),
    }
}

/// The variables of a task's templates.
fn task_context(runner: &Runner, task: &Task, polled: Option<&Map<String, Value>>) -> Value {
    let mut context = runner.base_context();
    context.insert("config".into(), Value::Object(task.config.clone()));
    context.insert(
        "task".into(),
        json!({"id": task.id, "config_id": task.config_id, "password": task.password, "hoster_id": task.hoster_id}),
    );
    context.insert("saved".into(), Value::Object(task.saved.clone()));
    if let Some(polled) = polled {
        context.insert("polled".into(), Value::Object(polled.clone()));
    }
    Value::Object(context)
}

/// What the record of a task says to the panel.
fn status_reply(task: &Task, status: TaskStatus) -> Reply {
    let finished = status == TaskStatus::Finished;
    let shown_if_finished = |value: &Option<String>| match value {
        Some(value) if finished => value.clone(),
        _ => String::new(),
    };
    Reply::Status {
        task_id: task.id.clone(),
        status,
        server: shown_if_finished(&task.server),
        server_password: shown_if_finished(&task.server_password),
        message: (status == TaskStatus::Error)
            .then(|| task.failure())
            .map(|m| redact::clean(&m)),
    }
}

/// What one poll of the hoster found.
struct Poll {
    outcome: TaskStatus,
    /// The hoster's state, or why a server it calls ready is not ready yet.
    state: String,
    /// Why the order failed, for `error`.
    failure: Option<String>,
    /// Address and root password, for `finished`.
    server: Option<(String, String)>,
    /// What an `in_progress` reply says it waits for (the SSH port), when it is not the hoster.
    message: Option<String>,
}

fn order_status(
    name: &str,
    site: &Site,
    task_id: &str,
    refresh: bool,
    observer: Option<Box<dyn Observer + '_>>,
) -> Result<Reply> {
    let store = Store::new(&site.state_dir, name);
    let task = store.load(task_id)?;
    // The panel polls every task on every page load: a final answer is given from the task's
    // record, the same every time, without reading the provider file or asking the hoster;
    // only a cleanup that waits goes on (the answer stays the record's).
    let resumes_cleanup = task.cleanup == Some(Cleanup::Waiting) && task.stage == Stage::Failed;
    if task.stage.is_final() && !refresh && !resumes_cleanup {
        return Ok(recorded_reply(&task));
    }
    let bound = load(name, site, Parts::STATUS)?;
    let runner = &mut runner(&bound, site, observer);
    let plan = &bound.plan;
    // Everything of the task that is a password stays out of messages and traces.
    redact::register(&task.password);
    task.server_password
        .iter()
        .for_each(|p| redact::register(p));
    for (name, value) in &task.saved {
        if plan.is_secret_value(name) {
            redact::register(&text_of(value));
        }
    }

    if resumes_cleanup && !refresh {
        return Ok(recorded_reply(&clean_up(runner, &store, task)?));
    }

    match task.stage {
        Stage::Ordered | Stage::Finished | Stage::Failed => {}
        Stage::Refused => {
            let why = task.message.clone().unwrap_or_default();
            return Err(Error::new(format!(
                "the hoster refused the order of task `{}`: {why}",
                task.id
            ))
            .help("nothing was bought; order again"));
        }
        Stage::Ordering | Stage::Unknown => {
            let why = task
                .message
                .clone()
                .unwrap_or_else(|| "the run that ordered it was interrupted".into());
            return Err(Error::new(format!("task `{}` may have been ordered, but cannot be followed: {why}", task.id))
                .help("check the hoster's console: delete the server there, or add it to the pool by hand"));
        }
    }

    let poll = poll(runner, site, &store, &task)?;
    let (task, refreshed) = {
        let _lock = store.lock()?;
        let mut task = store.load(task_id)?;
        // A poll running beside this one may have recorded a final answer first: it stands.
        if task.stage.is_final() && !refresh {
            return Ok(recorded_reply(&task));
        }
        // Only a refresh (the operator's) gets here with a final task.
        let refreshed = task.stage.is_final();
        let before = recorded_fields(&task);
        record(&mut task, &poll);
        // Polls are many: the task is written only when something changed.
        if before != recorded_fields(&task) {
            store.save(&task)?;
        }
        (task, refreshed)
    };
    let task = if task.stage == Stage::Failed {
        clean_up(runner, &store, task)?
    } else {
        task
    };
    Ok(if refreshed {
        refreshed_reply(&task, &poll)
    } else {
        let mut reply = status_reply(&task, poll.outcome);
        if let Reply::Status {
            status: TaskStatus::InProgress,
            message,
            ..
        } = &mut reply
        {
            *message = poll.message.as_deref().map(redact::clean);
        }
        reply
    })
}

/// What a poll may change in a task's record.
fn recorded_fields(task: &Task) -> impl PartialEq + use<> {
    (
        task.stage,
        task.last_status,
        task.last_state.clone(),
        task.message.clone(),
        task.server.clone(),
        task.server_password.clone(),
    )
}

/// Records what a poll found. A final answer is never taken back: the panel may be adding a
/// finished server to the pool that very moment, and an `in_progress` after `finished` would
/// show it an empty address and password. So a refresh (its port closed now, its hoster saying
/// it is building) leaves a finished task finished and a failed one failed; it may only move a
/// finished server to the address and password the hoster reports now.
fn record(task: &mut Task, poll: &Poll) {
    let was_final = task.stage.is_final();
    match &poll.server {
        Some((server, password)) if task.stage != Stage::Failed => {
            task.server = Some(server.clone());
            task.server_password = Some(password.clone());
            task.stage = Stage::Finished;
        }
        _ if was_final => {}
        None if poll.outcome == TaskStatus::Error => {
            task.stage = Stage::Failed;
            task.message = poll.failure.as_deref().map(recorded_text);
        }
        _ => task.stage = Stage::Ordered,
    }
    if !was_final {
        task.last_status = Some(poll.outcome);
    }
    task.last_state = Some(recorded_text(&poll.state));
}

/// A hoster's text as a task's record keeps it: no secrets, and as long as a reply shows it.
fn recorded_text(text: &str) -> String {
    panel_safe::shown(&redact::clean(text), panel_safe::MESSAGE_CAP)
}

/// What a refresh of a final task answers: the record, which stands, and, when the hoster now
/// says otherwise, what it says (for the operator: the panel reads no `message`).
fn refreshed_reply(task: &Task, poll: &Poll) -> Reply {
    let mut reply = recorded_reply(task);
    if let Reply::Status {
        status, message, ..
    } = &mut reply
        && *status != poll.outcome
    {
        let now = format!(
            "the record stays `{status}` (a final answer is never taken back), though now {}",
            poll.state
        );
        *message = Some(redact::clean(&match message.take() {
            Some(before) => format!("{before}; {now}"),
            None => now,
        }));
    }
    reply
}

/// The answer a task's record gives.
fn recorded_reply(task: &Task) -> Reply {
    let status = match task.stage {
        Stage::Finished => TaskStatus::Finished,
        Stage::Failed => TaskStatus::Error,
        _ => task.last_status.unwrap_or(TaskStatus::InProgress),
    };
    status_reply(task, status)
}

/// Asks the hoster how the order stands, and checks what it says: `finished` needs a real
/// address, a password and (when the file asks) an open SSH port; `in_progress` past the
/// file's limit is `error`.
fn poll(runner: &mut Runner, site: &Site, store: &Store, task: &Task) -> Result<Poll> {
    let plan = &runner.bound.plan;
    let status = plan.order_status()?;
    let mut polled = Map::new();
    for step in &status.steps {
        let context = task_context(runner, task, Some(&polled));
        polled.extend(runner.step(step, &context)?);
    }
    let context = task_context(runner, task, Some(&polled));
    if runner.is_dry_run() {
        return Ok(dry_poll(runner, status, task, &context));
    }
    let state = runner.render(&status.value, &context)?;
    let outcome = extract::map_state(&state, &status.map, status.otherwise);
    // Messages quote the state, which a hoster may make megabytes long or full of escapes.
    let state = panel_safe::quoted(&state);
    let outcome = outcome.ok_or_else(|| {
        plan.source
            .error(
                &status.value.at,
                format!(
                    "the hoster reports the state `{state}`, which the status map does not know"
                ),
            )
            .help("add it to `order_status.status.map`, or set `otherwise`")
    })?;
    let mut poll = Poll {
        outcome,
        state: format!("the hoster reports `{state}`"),
        failure: None,
        server: None,
        message: None,
    };
    match outcome {
        TaskStatus::Finished => {
            let server = runner.render(&status.server, &context)?;
            let password = runner.render(&status.server_password, &context)?;
            // The panel SSHes to `server` with `password` as soon as it reads `finished`:
            // until both are real and the port answers, the server is still in progress.
            let hoster_is_local = crate::http::is_loopback_url(&runner.bound.base_url);
            let not_ready = if !extract::is_usable_address(&server, hoster_is_local) {
                Some(format!(
                    "the hoster reports `{state}` but no usable address yet (`{}`)",
                    panel_safe::quoted(&server)
                ))
            } else if password.is_empty() {
                Some(format!(
                    "the hoster reports `{state}` but no root password yet"
                ))
            } else if !panel_safe::is_shell_safe(&password) {
                return Err(unsafe_password(task));
            } else {
                status
                    .ssh_check
                    .filter(|_| site.ssh_check && runner.bound.ssh_check)
                    .and_then(|check| {
                        let timeout = check.timeout.min(runner.time_left());
                        let port = runner.bound.ssh_port.unwrap_or(check.port);
                        reachable::ssh_port_open(&server, port, timeout, hoster_is_local)
                            .err()
                            .map(|why| (port, why))
                    })
                    .map(|(port, why)| {
                        // The panel shows nothing but `message` while a task is in progress.
                        poll.message = Some(format!(
                            "the hoster reports `{state}`; waiting for SSH on port {port}"
                        ));
                        format!("the hoster reports `{state}` but {why}")
                    })
            };
            match not_ready {
                Some(why) => {
                    poll.outcome = TaskStatus::InProgress;
                    poll.state = why;
                }
                None => poll.server = Some((server, password)),
            }
        }
        TaskStatus::Error => poll.failure = Some(poll.state.clone()),
        TaskStatus::InProgress => {}
    }
    // Giving up deletes the server: the age must be one that no clock jump can fake.
    if poll.outcome == TaskStatus::InProgress
        && let age = store.age(task)?
        && age > status.give_up_after
    {
        poll.outcome = TaskStatus::Error;
        poll.failure = Some(format!(
            "still not ready {} minutes after the order ({}); given up after {} minutes",
            age.as_secs() / 60,
            poll.state,
            status.give_up_after.as_secs() / 60
        ));
    }
    Ok(poll)
}

/// What a dry run's poll shows in place of an outcome: no answer came, so no state is
/// mapped. It says what the status map would make of the states the hoster may report, what
/// a finished task would give the panel, and the cleanup an `error` would send.
fn dry_poll(runner: &mut Runner, status: &plan::StatusPlan, task: &Task, context: &Value) -> Poll {
    let bound = runner.bound;
    let plan = &bound.plan;
    let shown = |runner: &Runner, text: &plan::Text| {
        runner
            .render(text, context)
            .map(|value| format!("`{value}`"))
            .unwrap_or_else(|_| "(known once the hoster answers)".into())
    };
    let map: Vec<String> = status
        .map
        .iter()
        .map(|(pattern, outcome)| {
            let written = match pattern {
                plan::StatePattern::Exact(exact) => exact.clone(),
                plan::StatePattern::Glob(parts) => parts.join("*"),
            };
            format!("{written} → {outcome}")
        })
        .collect();
    let otherwise = match status.otherwise {
        crate::manifest::Otherwise::InProgress => "in_progress",
        crate::manifest::Otherwise::Error => "error",
        crate::manifest::Otherwise::Unexpected => "an error naming the state",
    };
    let notes = [
        format!(
            "the hoster's state is {} (`order_status.status.value`); the status map makes {}, anything else {otherwise}",
            shown(runner, &status.value),
            map.join(", ")
        ),
        format!(
            "once finished, the panel gets the server {} with the root password {}",
            shown(runner, &status.server),
            shown(runner, &status.server_password)
        ),
    ];
    for note in &notes {
        runner.note(note);
    }
    if let Some(cleanup) = plan.cleanup().filter(|_| task.hoster_id.is_some()) {
        let when = match &cleanup.when {
            Some(when) => format!(" when `cleanup.when` ({}) holds", shown(runner, when)),
            None => String::new(),
        };
        runner.note(&format!("if it is `error`, cleanup sends{when}:"));
        let context = task_context(runner, task, None);
        for step in &cleanup.steps {
            // A dry run's step only shows its request.
            let _ = runner.step(step, &context);
        }
    }
    Poll {
        outcome: TaskStatus::InProgress,
        state: "a dry run: no state was read".into(),
        failure: None,
        server: None,
        message: None,
    }
}

/// A poll whose hoster reports a root password that the panel's root shell would not take as
/// it is (see [`panel_safe`]). An error, not `in_progress` (waiting does not fix it) and not
/// `error` (the server is fine): the task is left as it was, nothing is deleted, and a later
/// poll finishes it once the hoster reports a password the panel can pass.
fn unsafe_password(task: &Task) -> Error {
    Error::new(format!(
        "the hoster's root password for task `{}` holds a character the panel cannot pass safely to its shell",
        task.id
    ))
    .help(format!(
        "reset it in the hoster's console to {}; or add the server to the pool by hand",
        panel_safe::SHELL_SAFE_RULE
    ))
}

/// Sends the file's cleanup for a failed server, once: the claim is recorded before the
/// request leaves, so neither a poll beside this one nor a later one sends it again. A task
/// that never reached the hoster has no server id and is never cleaned up. A step that waits
/// and runs out of time leaves the cleanup `waiting` at that step (a `GET`, safe to send
/// again): a later poll claims it and goes on from there.
fn clean_up(runner: &mut Runner, store: &Store, task: Task) -> Result<Task> {
    let plan = &runner.bound.plan;
    let Some(cleanup) = plan.cleanup() else {
        return Ok(task);
    };
    let resumes = task.cleanup == Some(Cleanup::Waiting);
    if (task.cleanup.is_some() && !resumes) || task.hoster_id.is_none() {
        return Ok(task);
    }
    if !resumes
        && let Some(when) = &cleanup.when
        && !is_truthy(&runner.render(when, &task_context(runner, &task, None))?)
    {
        return Ok(task);
    }
    let (task, first) = {
        let _lock = store.lock()?;
        let mut task = store.load(&task.id)?;
        let first = match task.cleanup {
            None if task.stage == Stage::Failed => 0,
            Some(Cleanup::Waiting) if task.stage == Stage::Failed => {
                task.cleanup_next.unwrap_or_default()
            }
            _ => return Ok(task),
        };
        task.cleanup = Some(Cleanup::Sending);
        task.cleanup_next = Some(first).filter(|&i| i > 0);
        store.save(&task)?;
        (task, first)
    };
    let mut sent = Ok(());
    for (index, step) in cleanup.steps.iter().enumerate().skip(first) {
        // Each later step is recorded before it leaves: a run killed there is told apart.
        if index > first && !runner.is_dry_run() {
            let _lock = store.lock()?;
            let mut now = store.load(&task.id)?;
            now.cleanup_next = Some(index);
            store.save(&now)?;
        }
        if let Err(failure) = runner.step(step, &task_context(runner, &task, None)) {
            sent = Err((index, failure));
            break;
        }
    }
    let _lock = store.lock()?;
    let mut task = store.load(&task.id)?;
    match sent {
        Ok(()) => {
            task.cleanup = Some(Cleanup::Done);
            task.cleanup_next = None;
            task.cleanup_message = None;
        }
        // A dry run shows the cleanup it would send; its scratch store is thrown away.
        Err((_, CallError::NotSent)) => return Ok(task),
        Err((index, CallError::WaitedTooLong { error, .. })) => {
            task.cleanup = Some(Cleanup::Waiting);
            task.cleanup_next = Some(index);
            task.cleanup_message = Some(redact::clean(&error.one_line()));
        }
        Err((_, failure)) => {
            task.cleanup = Some(Cleanup::Failed);
            task.cleanup_message = Some(redact::clean(&failure.into_error().one_line()));
        }
    }
    store.save(&task)?;
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn verbs_and_their_arguments() {
        assert_eq!(Verb::parse(&args(&["help"])).unwrap(), Verb::Help);
        assert_eq!(
            Verb::parse(&args(&["order", "7"])).unwrap(),
            Verb::Order("7".into())
        );
        assert!(
            Verb::parse(&args(&[]))
                .unwrap_err()
                .message
                .contains("no verb")
        );
        assert!(
            Verb::parse(&args(&["help", "x"]))
                .unwrap_err()
                .message
                .contains("takes no argument")
        );
        assert!(
            Verb::parse(&args(&["order"]))
                .unwrap_err()
                .message
                .contains("needs a config id")
        );
        assert!(
            Verb::parse(&args(&["order_status", "1", "2"]))
                .unwrap_err()
                .message
                .contains("takes one task id")
        );
        assert!(
            Verb::parse(&args(&["reboot"]))
                .unwrap_err()
                .message
                .contains("unknown verb")
        );
    }
}
