//! The operator's commands (the binary called as `vps-provider`): run a verb by hand, dry or
//! traced; validate, install and inspect providers; the demo; the schema and the man page.
//!
//! Rules: clap parses argv here and only here (protocol mode never loads it); each command
//! lives in a module of its own; exit codes: 0 success, 1 failure, 2 bad usage.

mod check;
mod demo;
mod install;
mod schema;
mod tasks;
mod validate;

use crate::error::Error;
use crate::protocol::Reply;
use crate::site::{self, Site};
use crate::trace::{DryRun, Trace};
use crate::verbs::{self, Verb};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub use demo::DEMO_PROVIDER;
pub use schema::{provider_schema, provider_schema_text};
/// `validate`'s problem listing for a provider file's text (the fuzz targets use it).
pub use validate::problems_in;

/// One binary that lets the Bitrix pool panel order servers from any hoster described by a
/// YAML provider file.
///
/// Symlinked as /opt/webdir/providers/NAME/bin/NAME, it answers the panel's verbs for that
/// provider. Called as `vps-provider`, it is the operator's tool.
///
/// Environment: VPS_PROVIDER_DIR (provider files, default /etc/vps-provider/providers.d),
/// VPS_PROVIDER_SECRETS (secrets file), VPS_PROVIDER_STATE_DIR (tasks, default
/// /var/lib/vps-provider), VPS_PROVIDER_BASE_URL (replaces the API's base URL),
/// VPS_PROVIDER_LOG_DIR (the folder of the trace log that `log=NAME` in the secrets file
/// names, default /var/log/vps-provider).
#[derive(Debug, Parser)]
#[command(name = "vps-provider", version, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer one verb for a provider, exactly as its symlink would for the panel.
    ///
    /// Prints the panel's JSON object. With --dry-run, prints the HTTP requests as curl command
    /// lines (secrets as ***) and sends nothing that changes anything: an order's dry run reads
    /// the menu as `configs` does, to check the config id and fill in its vars, and buys and
    /// records nothing; values from the hoster's answers show as <saved.NAME>, <polled.NAME>. With --verbose, traces every request and answer on stderr; without either, the
    /// run appends to the site's log (`log=` in the secrets file), as the panel's runs do.
    Run {
        /// The provider's name (its file is NAME.yaml in the provider folder).
        name: String,
        /// help, configs, order <config_id> or order_status <task_id>.
        #[arg(num_args = 1..=2, value_name = "VERB [ARG]")]
        verb: Vec<OsString>,
        /// Print the requests as curl command lines instead of sending them.
        #[arg(long, conflicts_with = "verbose")]
        dry_run: bool,
        /// Trace every request and answer on stderr (secrets redacted).
        #[arg(long, short)]
        verbose: bool,
        /// With order_status: ask the hoster again about a finished or failed task (whose
        /// answer otherwise comes from its record).
        #[arg(long)]
        refresh: bool,
        /// Do not wait for new servers' SSH port (as VPS_PROVIDER_SSH_CHECK=off): for a
        /// staging API or a mock, whose addresses are not real servers.
        #[arg(long)]
        no_ssh_check: bool,
    },
    /// Check provider files without sending anything; print every problem with file:line:col.
    ///
    /// Checks YAML syntax, unknown or misspelt keys, missing fields, wrong types, JSONPath,
    /// templates and the variables they name, config ids, and secrets used but not declared.
    /// Without arguments, checks every file in the provider folder. Exits 1 when a file has a
    /// problem.
    Validate {
        /// Provider files (paths, or names ending in .yaml) or provider names.
        #[arg(value_name = "FILE|NAME")]
        files: Vec<String>,
        /// `text` for people, `json` for tools.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the JSON Schema of the provider file (the same as schemas/provider.schema.json).
    Schema,
    /// Link a provider into the panel's folder and write its secrets template.
    ///
    /// Creates ROOT/NAME/bin/NAME as a symlink to this binary, and
    /// ROOT/NAME/etc/NAME.conf (mode 0600) with every secret and setting when there is
    /// none. Safe to run again. Refuses a provider without a valid provider file.
    Install {
        name: String,
        /// The panel's providers folder.
        #[arg(long, default_value = site::DEFAULT_PANEL_ROOT)]
        root: PathBuf,
    },
    /// Remove what install made: the symlink, and the secrets template if it was never filled in.
    ///
    /// Never removes a filled-in secrets file or any task.
    Uninstall {
        name: String,
        /// The panel's providers folder.
        #[arg(long, default_value = site::DEFAULT_PANEL_ROOT)]
        root: PathBuf,
    },
    /// List every provider file: installed or not, enabled or disabled and why.
    List {
        /// The panel's providers folder.
        #[arg(long, default_value = site::DEFAULT_PANEL_ROOT)]
        root: PathBuf,
    },
    /// Send one read-only, authenticated request to see whether the token and base URL work.
    ///
    /// Uses `api.check` from the provider file, or the plan list.
    Check { name: String },
    /// List the recorded orders of a provider: id, config, hoster id, stage, server, age.
    Tasks { name: String },
    /// Run the panel's whole conversation against a mock hoster on loopback.
    Demo,
    /// Print the man page (roff), for packaging.
    Man,
}

/// Runs the operator's command line (without the program name).
pub fn main(args: Vec<OsString>) -> ExitCode {
    // A bug must not print a raw panic (which may quote a secret): one redacted line instead.
    std::panic::set_hook(Box::new(|info| {
        let what = crate::redact::clean(&info.to_string());
        eprintln!("internal error (a bug in vps-provider): {what}; please report it");
    }));
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
    // A name becomes part of paths (its provider file, its task folder), as in protocol mode.
    let named = match &cli.command {
        Command::Run { name, .. } | Command::Check { name } | Command::Tasks { name } => {
            Some(name.as_str())
        }
        _ => None,
    };
    if let Some(name) = named.filter(|n| !crate::ids::is_safe(n)) {
        let error = Error::new(format!(
            "`{}` is not a provider name",
            crate::ids::shown(name)
        ))
        .help(crate::ids::RULE);
        // `run` answers as the plugin would under that name.
        return match cli.command {
            Command::Run { .. } => Reply::error(&error.one_line()).print(),
            _ => failed(&error),
        };
    }
    // These read a provider's secrets (and tasks' passwords): no core dump may keep them.
    if named.is_some() {
        crate::redact::no_core_dumps();
    }
    let outcome: Result<(), Error> = match cli.command {
        Command::Run {
            name,
            verb,
            dry_run,
            verbose,
            refresh,
            no_ssh_check,
        } => {
            let options = RunOptions {
                dry_run,
                verbose,
                refresh,
                ssh_check: !no_ssh_check,
            };
            return run(&name, &verb, options);
        }
        Command::Validate { files, format } => {
            let files: Vec<(String, PathBuf)> = if files.is_empty() {
                match site::provider_files() {
                    Ok(files) => files,
                    Err(err) => return failed(&err),
                }
            } else {
                files.iter().map(|f| validate::resolve(f)).collect()
            };
            return if validate::run(&files, format == Format::Json) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Schema => {
            print!("{}", provider_schema_text());
            Ok(())
        }
        Command::Install { name, root } => install::install(&name, &root).map(print_lines),
        Command::Uninstall { name, root } => install::uninstall(&name, &root).map(print_lines),
        Command::List { root } => install::list(&root).map(|listed| {
            for p in listed {
                let installed = if p.installed {
                    "installed"
                } else {
                    "not installed"
                };
                println!(
                    "{}\t{}\t{installed}\t{}\t{}",
                    p.name,
                    p.file.display(),
                    p.state,
                    p.description
                );
            }
        }),
        Command::Check { name } => check::run(&name).map(|line| println!("{line}")),
        Command::Tasks { name } => tasks::table(&name).map(|table| print!("{table}")),
        Command::Demo => return demo::main(),
        Command::Man => man_page().map(|page| print!("{page}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => failed(&err),
    }
}

fn failed(err: &Error) -> ExitCode {
    eprint!("{}", crate::redact::clean(&err.report()));
    ExitCode::FAILURE
}

fn print_lines(lines: Vec<String>) {
    lines.iter().for_each(|line| println!("{line}"));
}

/// `run`: the verb as the panel would get it, or its requests shown (dry) or traced.
/// How `run` was asked to answer.
struct RunOptions {
    dry_run: bool,
    verbose: bool,
    refresh: bool,
    ssh_check: bool,
}

fn run(name: &str, verb: &[OsString], options: RunOptions) -> ExitCode {
    let mut site = Site::from_env(name);
    site.ssh_check &= options.ssh_check;
    let verb = match Verb::parse(verb) {
        Ok(Verb::OrderStatus { task_id, .. }) => Verb::OrderStatus {
            task_id,
            refresh: options.refresh,
        },
        Ok(_) if options.refresh => {
            return failed(&Error::new("--refresh is for `order_status <task_id>`"));
        }
        Ok(verb) => verb,
        Err(err) => return Reply::error(&err.one_line()).print(),
    };
    if !options.dry_run {
        let observer: Option<Box<dyn crate::runner::Observer>> = if options.verbose {
            Some(Box::new(Trace::new(std::io::stderr())))
        } else {
            None
        };
        let answer = || {
            verbs::answer(name, &site, &verb, observer)
                .unwrap_or_else(|e| Reply::error(&e.one_line()))
        };
        return crate::guarded(answer).print();
    }
    // A dry run records nothing: it works on a copy of the task store.
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            return failed(&Error::new(format!(
                "cannot make a temporary folder: {err}"
            )));
        }
    };
    // What the run reads is copied in: the task polled, and the menu and the login's session
    // kept beside the tasks (so a dry run reads no menu and logs in no more than a real run).
    let mut copied = vec!["configs.cache".to_owned(), "session.cache".to_owned()];
    if let Verb::OrderStatus { task_id, .. } = &verb
        && crate::ids::is_safe(task_id)
    {
        copied.push(format!("{task_id}.json"));
    }
    let to = scratch.path().join(name);
    if std::fs::create_dir(&to).is_ok() {
        let _ = std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        for file in &copied {
            let _ = std::fs::copy(site.state_dir.join(name).join(file), to.join(file));
        }
    }
    site.state_dir = scratch.path().to_path_buf();
    let dry = DryRun::new(std::io::stdout());
    let (shown, sent) = (dry.shown.clone(), dry.sent.clone());
    let result = verbs::answer(name, &site, &verb, Some(Box::new(dry)));
    match result {
        Err(err) if shown.get() == 0 => failed(&err),
        _ if shown.get() == 0 => {
            println!("# dry run: this verb sends no request");
            ExitCode::SUCCESS
        }
        // The config id was checked against the menu the hoster gave: a wrong one is the
        // same mistake the real order would make.
        Err(err) if sent.get() > 0 => failed(&err),
        outcome => {
            let what = if sent.get() == 0 {
                "nothing was sent"
            } else {
                "only the reads marked `sent` went out; nothing was ordered, changed or recorded"
            };
            println!(
                "# dry run: {what}; <saved.NAME> and <polled.NAME> stand for values from the hoster's answers"
            );
            if let Err(err) = outcome {
                println!(
                    "# without real answers the verb stops here: {}",
                    crate::redact::clean(&err.one_line())
                );
            }
            ExitCode::SUCCESS
        }
    }
}

/// The man page, generated from the same definition as `--help`.
pub fn man_page() -> Result<String, Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Error::new(format!("cannot render the man page: {e}")))?;
    String::from_utf8(page).map_err(|e| Error::new(format!("the man page is not UTF-8: {e}")))
}
