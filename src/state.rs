//! The task store: one private JSON file per order, written atomically.
//!
//! Rules: a task is recorded *before* the hoster is asked (a bought server is never
//! untracked); every write goes to a temporary file that is fsynced and renamed over the
//! old one, so a reader sees the old task or the new one, never half; the folder is 0700 and
//! files 0600 (they hold root passwords); a task id is checked by [`ids::is_safe`] before
//! it becomes part of a path. New ids are reserved with a no-clobber link, so two orders at
//! the same moment cannot share one, without a lock file.
//!
//! The store trusts only itself: the task folder and the state folder above it must be real
//! folders (not symlinks) owned by the user running this (root), writable by no one else, and
//! the folders above those writable only by root or this user (or sticky, like `/tmp`).
//! Anything else is refused with what to fix, never chmod-ed into shape: someone else could
//! have put a forged task there (a `finished` task sends the panel to their server with their
//! password). Files in the folder are opened without following symlinks.
//!
//! A purchase may fill the disk under the task being bought: [`Store::reserve`] keeps room
//! for its record, given back by the next [`Store::save`].

use crate::clock::{self, BootMark};
use crate::error::{Error, Result, io_error};
use crate::ids;
use crate::protocol::TaskStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where an order stands, from this binary's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Recorded; the hoster has not answered yet (or the run died before it did).
    Ordering,
    /// The hoster took the order; `order_status` polls it.
    Ordered,
    /// The hoster refused the order: nothing was bought.
    Refused,
    /// Unknown whether the hoster took the order (no answer): check its console.
    Unknown,
    /// The server is ready; `server` and `server_password` are final.
    Finished,
    /// The hoster took the order, then it failed: the hoster reported an error, or the order
    /// stayed in progress too long. Final; `message` says why, `cleanup` what became of it.
    Failed,
}

impl Stage {
    /// Whether polls answer from the record without asking the hoster.
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Finished | Stage::Failed)
    }
}

/// What became of the cleanup of a failed server. Recorded *before* it is sent, so it is
/// never sent twice, even by a run that dies half-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// Being sent, or the run that sent it died before the answer.
    Sending,
    /// The hoster accepted it.
    Done,
    /// The hoster refused it, or did not answer; `cleanup_message` says how.
    Failed,
    /// A step waits for the hoster (a server to stop) and ran out of time in this run: a
    /// later poll goes on from step `cleanup_next` (a `GET`, safe to send again).
    Waiting,
}

impl Stage {
    /// The stage's name, as the task file spells it.
    pub fn name(self) -> String {
        crate::protocol::wire_name(&self)
    }
}

/// The task file format this binary writes. A file of a higher format, or with a field this
/// binary does not know, comes from a newer version: it is refused and left as it is, since
/// rewriting it would drop what this version does not know. Raise it when a change to [`Task`]
/// must not be read by older binaries at all.
pub const FORMAT: u32 = 1;

/// One order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The file's format ([`FORMAT`]); files written before it was recorded are format 1.
    #[serde(default = "first_format")]
    pub format: u32,
    pub id: String,
    pub provider: String,
    pub config_id: String,
    /// The config at order time as templates see it (`id`, `descr`, vars): `{{config.NAME}}`.
    pub config: Map<String, Value>,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// The boot-time clock at order time, or at the first poll of a later boot (files written
    /// before it was recorded have none): see [`Store::age`].
    #[serde(default)]
    pub boot: Option<BootMark>,
    pub stage: Stage,
    /// The password generated for this order (`{{password}}`).
    pub password: String,
    /// The hoster's id of the server.
    #[serde(default)]
    pub hoster_id: Option<String>,
    /// Values extracted from the order's answers (`{{saved.NAME}}`).
    #[serde(default)]
    pub saved: Map<String, Value>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub server_password: Option<String>,
    /// The last status the panel was told, and why a failed order failed.
    #[serde(default)]
    pub last_status: Option<TaskStatus>,
    #[serde(default)]
    pub message: Option<String>,
    /// The hoster's state at the last poll (`{{polled...}}` as the status rule renders it),
    /// or why a server it calls ready is not ready yet: what an order that hangs reports.
    #[serde(default)]
    pub last_state: Option<String>,
    /// The cleanup of a failed server, when one was sent.
    #[serde(default)]
    pub cleanup: Option<Cleanup>,
    #[serde(default)]
    pub cleanup_message: Option<String>,
    /// The cleanup step to send next (counted from 0): where a `waiting` cleanup goes on, or
    /// the step a `sending` one was at. Written only once a cleanup has steps to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_next: Option<usize>,
}

impl Task {
    /// A task about to be ordered: recorded with a fresh id by [`Store::create`].
    pub fn new(
        provider: &str,
        config_id: &str,
        config: Map<String, Value>,
        password: String,
    ) -> Self {
        Task {
            format: FORMAT,
            id: String::new(),
            provider: provider.to_owned(),
            config_id: config_id.to_owned(),
            config,
            created: now_secs(),
            boot: Some(BootMark::now()),
            stage: Stage::Ordering,
            password,
            hoster_id: None,
            saved: Map::new(),
            server: None,
            server_password: None,
            last_status: None,
            message: None,
            last_state: None,
            cleanup: None,
            cleanup_message: None,
            cleanup_next: None,
        }
    }

    /// Why a failed task failed, and what became of its server.
    pub fn failure(&self) -> String {
        let why = self.message.clone().unwrap_or_default();
        let server = match (self.cleanup, self.hoster_id.as_deref()) {
            (Some(Cleanup::Done), _) => "the server was deleted".to_owned(),
            (Some(Cleanup::Sending), Some(id)) => format!(
                "the run deleting server `{id}` was interrupted: check the hoster's console"
            ),
            (Some(Cleanup::Waiting), Some(id)) => format!(
                "deleting server `{id}` goes on at cleanup step {} on the next poll ({})",
                self.cleanup_next.unwrap_or_default() + 1,
                self.cleanup_message
                    .as_deref()
                    .unwrap_or("waiting for the hoster")
            ),
            (Some(Cleanup::Failed), Some(id)) => format!(
                "deleting server `{id}` failed ({}): delete it in the hoster's console",
                self.cleanup_message.as_deref().unwrap_or("no reason given")
            ),
            (None, Some(id)) => {
                format!("server `{id}` is left as it is: delete it in the hoster's console")
            }
            _ => String::new(),
        };
        [why, server]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Room kept on disk for the record of a purchase: a task file with what the hoster's answers
/// gave (ids, an address, a password) is a few KiB; this is far more, and still cheap.
pub const RESERVE_BYTES: i64 = 1 << 20;

/// The tasks of one provider: `<state dir>/<provider>/<task id>.json`.
pub struct Store {
    dir: PathBuf,
    provider: String,
    /// The file [`Store::reserve`] made, until a save or the end of the run gives it back.
    reserved: RefCell<Option<PathBuf>>,
}

impl Store {
    pub fn new(state_dir: &Path, provider: &str) -> Self {
        Store {
            dir: state_dir.join(provider),
            provider: provider.to_owned(),
            reserved: RefCell::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The state folder: the task folder's parent.
    fn root(&self) -> &Path {
        self.dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Creates what is missing of the state folder and the task folder (0700), then checks
    /// both as [`Store::check_trusted`] does. An existing folder is never changed.
    pub(crate) fn ensure_dir(&self) -> Result<()> {
        for (folder, recursive) in [(self.root(), true), (self.dir.as_path(), false)] {
            match fs::symlink_metadata(folder) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
                    .recursive(recursive)
                    .mode(0o700)
                    .create(folder)
                    .or_else(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(|e| io_error("create the folder", folder, &e))?,
                Err(err) => return Err(io_error("inspect the folder", folder, &err)),
                Ok(_) => {}
            }
        }
        self.check_trusted().map(|_| ())
    }

    /// Whether the task folder exists, after checking that it and the folders above it can
    /// be changed by no one but this user (see the module's rules).
    pub(crate) fn check_trusted(&self) -> Result<bool> {
        for (folder, what) in [(self.root(), "state folder"), (&self.dir, "task folder")] {
            match fs::symlink_metadata(folder) {
                Ok(metadata) => trusted_folder(folder, what, &metadata)?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(err) => return Err(io_error(&format!("inspect the {what}"), folder, &err)),
            }
        }
        let root = fs::canonicalize(self.root())
            .map_err(|e| io_error("resolve the state folder", self.root(), &e))?;
        for above in root.ancestors().skip(1) {
            let metadata =
                fs::metadata(above).map_err(|e| io_error("inspect the folder", above, &e))?;
            let owner_ok = metadata.uid() == 0 || metadata.uid() == euid();
            // A sticky folder (`/tmp`) lets others add entries, never rename or remove ours.
            let others_write = metadata.mode() & 0o022 != 0 && metadata.mode() & 0o1000 == 0;
            if !owner_ok || others_write {
                return Err(Error::new(format!(
                    "the folder `{}` above the task store can be changed by a user other than root (owner uid {}, mode {:04o}): it is not trusted",
                    above.display(),
                    metadata.uid(),
                    metadata.mode() & 0o7777
                ))
                .help(format!(
                    "`chown root` and `chmod go-w` it, or point VPS_PROVIDER_STATE_DIR at a folder only root can change (the default is {})",
                    crate::site::DEFAULT_STATE_DIR
                )));
            }
        }
        Ok(true)
    }

    /// A private temporary file in the task folder holding `task`. `fault` names the point, in
    /// the middle of the write, where the crash tests cut it.
    fn temp_file(&self, task: &Task, fault: &str) -> Result<tempfile::NamedTempFile> {
        let mut temp = tempfile::Builder::new()
            .prefix(".task-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(|e| io_error("create a task file in", &self.dir, &e))?;
        let json = serde_json::to_vec_pretty(task)
            .map_err(|e| Error::new(format!("cannot encode task: {e}")))?;
        let (first_half, second_half) = json.split_at(json.len() / 2);
        temp.write_all(first_half)
            .map(|_| crate::fault::point(fault))
            .and_then(|_| temp.write_all(second_half))
            .and_then(|_| temp.as_file().sync_all())
            .map_err(|e| io_error("write a task file in", &self.dir, &e))?;
        Ok(temp)
    }

    /// Records a new task under a fresh numeric id: milliseconds since the epoch, or one past
    /// the highest id in the folder when the clock was set back, bumped until free (digits, as
    /// the panel prefers; increasing, and never reused after a restart).
    pub fn create(&self, mut task: Task) -> Result<Task> {
        self.ensure_dir()?;
        let mut candidate = clock::wall_millis().max(self.highest_id().map_or(0, |id| id + 1));
        loop {
            task.id = candidate.to_string();
            let temp = self.temp_file(&task, "writing_new_task")?;
            match temp.persist_noclobber(self.path_of(&task.id)) {
                Ok(_) => {
                    self.sync_dir();
                    return Ok(task);
                }
                Err(err) if err.error.kind() == std::io::ErrorKind::AlreadyExists => candidate += 1,
                Err(err) => return Err(io_error("record the task in", &self.dir, &err.error)),
            }
        }
    }

    /// The highest task id in the folder.
    fn highest_id(&self) -> Option<u128> {
        fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let id = name.to_str()?.strip_suffix(".json")?;
                id.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| id.parse().ok())?
            })
            .max()
    }

    /// Keeps [`RESERVE_BYTES`] of the disk for task `id`'s next save: called before a
    /// purchase, so a disk that fills while the hoster answers cannot stop the bought server's
    /// record. An error means the disk is already too full to order safely.
    pub fn reserve(&self, id: &str) -> Result<()> {
        let path = self.dir.join(format!(".reserve-{id}"));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io_error("make room for the order's record in", &self.dir, &e))?;
        *self.reserved.borrow_mut() = Some(path.clone());
        // SAFETY: posix_fallocate only allocates blocks of the file it is given.
        let code = unsafe {
            libc::posix_fallocate(std::os::fd::AsRawFd::as_raw_fd(&file), 0, RESERVE_BYTES)
        };
        if code != 0 {
            self.release();
            let err = std::io::Error::from_raw_os_error(code);
            return Err(
                io_error("make room for the order's record in", &self.dir, &err)
                    .help("nothing was ordered: free some disk space, then order again"),
            );
        }
        Ok(())
    }

    /// Gives back the room [`Store::reserve`] kept.
    fn release(&self) {
        if let Some(path) = self.reserved.borrow_mut().take() {
            let _ = fs::remove_file(path);
        }
    }

    /// The bytes of the cache file `name` beside the tasks (the menu, the login's session),
    /// when the folder is trusted and the file is one of ours (never through a symlink).
    pub fn read_cache(&self, name: &str) -> Option<Vec<u8>> {
        self.check_trusted().ok()?.then_some(())?;
        crate::files::read_state_bytes(&self.dir.join(name), crate::files::STATE_FILE_CAP).ok()
    }

    /// Writes the cache file `name` beside the tasks: private (0600), through a random O_EXCL
    /// name and a rename, so never into a file someone put there. Not fsynced, and a cache that
    /// cannot be written is no error: the next run fetches it again.
    pub fn write_cache(&self, name: &str, bytes: &[u8]) {
        let write = || -> Result<()> {
            self.ensure_dir()?;
            let mut temp = tempfile::Builder::new()
                .prefix(&format!(".{name}-"))
                .permissions(fs::Permissions::from_mode(0o600))
                .tempfile_in(&self.dir)
                .map_err(|e| io_error("write a cache in", &self.dir, &e))?;
            temp.write_all(bytes)
                .map_err(|e| io_error("write a cache in", &self.dir, &e))?;
            temp.persist(self.dir.join(name))
                .map_err(|e| io_error("write a cache in", &self.dir, &e.error))?;
            Ok(())
        };
        let _ = write();
    }

    /// Replaces a task's record.
    pub fn save(&self, task: &Task) -> Result<()> {
        self.ensure_dir()?;
        // The room kept for this write is given back just before it.
        self.release();
        crate::fault::disk_full_point("disk_full_saving_task")
            .map_err(|e| io_error("save the task in", &self.dir, &e))?;
        let temp = self.temp_file(task, "writing_task")?;
        temp.persist(self.path_of(&task.id))
            .map_err(|e| io_error("save the task in", &self.dir, &e.error))?;
        self.sync_dir();
        Ok(())
    }

    /// The task with this id. The id is checked before it touches a path.
    pub fn load(&self, id: &str) -> Result<Task> {
        if !ids::is_safe(id) || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new(format!(
                "`{}` is not a task id of this provider",
                ids::shown(id)
            ))
            .help("use the task_id that `order` printed"));
        }
        let path = self.path_of(id);
        let no_task = || {
            Error::new(format!("no task `{id}` in `{}`", self.dir.display())).help(
                "use a task_id that `order` printed on this machine; check VPS_PROVIDER_STATE_DIR",
            )
        };
        if !self.check_trusted()? {
            return Err(no_task());
        }
        let bytes = match crate::files::read_state_bytes(&path, crate::files::STATE_FILE_CAP) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(no_task()),
            Err(err) => return Err(io_error("read the task", &path, &err)),
        };
        let damaged = |why: String| {
            Error::new(format!(
                "the task file `{}` is damaged: {why}",
                path.display()
            ))
            .help("restore it from a backup or check the order in the hoster's console")
        };
        let newer = |what: String| {
            Error::new(format!(
                "the task file `{}` was written by a newer version of vps-provider ({what})",
                path.display()
            ))
            .help("follow this order with the newer version; this one leaves the file as it is")
        };
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if let Some(format) = json.get("format").and_then(Value::as_u64)
            && format > u64::from(FORMAT)
        {
            return Err(newer(format!(
                "task format {format}; this one reads up to {FORMAT}"
            )));
        }
        let task: Task = serde_json::from_value(json).map_err(|e| {
            let why = e.to_string();
            if why.starts_with("unknown field") {
                newer(why)
            } else {
                damaged(why)
            }
        })?;
        // `save` writes to the path the id names: a file must name itself.
        if task.id != id {
            return Err(damaged(format!("it holds task `{}`", ids::shown(&task.id))));
        }
        if task.provider != self.provider {
            return Err(Error::new(format!(
                "task `{id}` belongs to provider `{}`, not `{}`",
                ids::shown(&task.provider),
                self.provider
            )));
        }
        // A finished task is answered from the file alone: the panel SSHes to what it says,
        // and passes both to its root shell.
        if task.stage == Stage::Finished
            && !(task
                .server
                .as_deref()
                // Loopback is allowed: a hoster on this machine (a mock) hands those out.
                .is_some_and(|server| crate::extract::is_usable_address(server, true))
                && task
                    .server_password
                    .as_deref()
                    .is_some_and(crate::panel_safe::is_shell_safe))
        {
            return Err(damaged(
                "it says finished without a server address and root password the panel can use"
                    .into(),
            ));
        }
        Ok(task)
    }

    /// Holds the provider's task lock until the guard is dropped: read-modify-write of a task
    /// (a poll's result, a cleanup's claim) happens under it, so concurrent polls neither
    /// undo each other's result nor send a cleanup twice. Never held across a request.
    pub fn lock(&self) -> Result<TaskLock> {
        self.ensure_dir()?;
        let path = self.dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io_error("open the task lock", &path, &e))?;
        file.lock()
            .map_err(|e| io_error("take the task lock", &path, &e))?;
        Ok(TaskLock { _file: file })
    }

    /// Every task, newest first, and the problems of files that are not readable tasks.
    pub fn list(&self) -> Result<(Vec<Task>, Vec<Error>)> {
        if !self.check_trusted()? {
            return Ok(Default::default());
        }
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(err) => return Err(io_error("list tasks in", &self.dir, &err)),
        };
        let mut tasks = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) {
                match self.load(id) {
                    Ok(task) => tasks.push(task),
                    Err(problem) => problems.push(problem),
                }
            }
        }
        tasks.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        Ok((tasks, problems))
    }

    /// The rename is durable only once the folder is synced; a failure here loses nothing
    /// that the next write would not redo, so it is not an error.
    fn sync_dir(&self) {
        let dir = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
            .open(&self.dir);
        if let Ok(dir) = dir {
            let _ = dir.sync_all();
        }
    }

    /// How long ago `task` was ordered, by a measure no clock jump can fake: the lesser of what
    /// the wall clock and the boot-time clock say (a clock set forward cannot age a task, one
    /// set back only delays its end). The boot-time clock means nothing across a reboot: at the
    /// first poll of a new boot (or of a task recorded before boot marks were) the task is
    /// marked anew with this boot's clock, so its age starts again from zero. A reboot thus
    /// delays a give-up by at most the time the task had run before it, and never hastens it.
    pub fn age(&self, task: &Task) -> Result<Duration> {
        let wall = now_secs().saturating_sub(task.created);
        let now = BootMark::now();
        let boot = match task.boot.as_ref().and_then(|mark| mark.secs_until(&now)) {
            Some(secs) => secs,
            None => {
                self.mark_boot(&task.id, &now)?;
                0
            }
        };
        Ok(Duration::from_secs(wall.min(boot)))
    }

    /// Records `now` as task `id`'s boot mark, unless a poll beside this one already did.
    fn mark_boot(&self, id: &str, now: &BootMark) -> Result<()> {
        let _lock = self.lock()?;
        let mut task = self.load(id)?;
        if task
            .boot
            .as_ref()
            .and_then(|mark| mark.secs_until(now))
            .is_none()
        {
            task.boot = Some(now.clone());
            self.save(&task)?;
        }
        Ok(())
    }
}

impl Drop for Store {
    /// Room kept for a save that never came (the order failed before the hoster answered).
    fn drop(&mut self) {
        self.release();
    }
}

/// This process's effective user: the owner the store's folders must have.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuses a state or task folder that is a symlink, not a folder, someone else's, or
/// writable by group or others.
fn trusted_folder(folder: &Path, what: &str, metadata: &fs::Metadata) -> Result<()> {
    let shown = folder.display();
    let refuse = |why: String, fix: String| {
        Err(Error::new(format!(
            "the {what} `{shown}` {why}: it is not trusted, so vps-provider does not use it"
        ))
        .help(fix))
    };
    if metadata.file_type().is_symlink() {
        return refuse(
            "is a symbolic link".into(),
            format!(
                "remove the link `{shown}` (vps-provider makes the folder itself), or point VPS_PROVIDER_STATE_DIR at the real folder"
            ),
        );
    }
    if !metadata.is_dir() {
        return refuse(
            "is not a folder".into(),
            format!("move `{shown}` away; vps-provider makes the folder itself"),
        );
    }
    if metadata.uid() != euid() {
        return refuse(
            format!(
                "is owned by uid {}, not by uid {} which runs vps-provider",
                metadata.uid(),
                euid()
            ),
            format!("check what is in it, then `chown -R root: {shown}`"),
        );
    }
    if metadata.mode() & 0o022 != 0 {
        return refuse(
            format!(
                "is writable by group or others (mode {:04o})",
                metadata.mode() & 0o7777
            ),
            format!("check what is in it, then `chmod 700 {shown}`"),
        );
    }
    Ok(())
}

/// The provider's task lock; released when dropped (the file is closed).
pub struct TaskLock {
    _file: fs::File,
}

fn first_format() -> u32 {
    1
}

/// Seconds since the Unix epoch, by the wall clock.
pub fn now_secs() -> u64 {
    clock::wall_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Task {
        Task::new("demo", "1", Map::new(), "pw".into())
    }

    #[test]
    fn ids_are_unique_digits_and_files_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "demo");
        let a = store.create(task()).unwrap();
        let b = store.create(task()).unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.bytes().all(|c| c.is_ascii_digit()));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.path_of(&a.id)), 0o600);
        assert_eq!(store.list().unwrap().0.len(), 2);
        assert_eq!(Stage::Finished.name(), "finished");
    }

    #[test]
    fn saves_replace_and_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "demo");
        let mut t = store.create(task()).unwrap();
        t.stage = Stage::Finished;
        store.save(&t).unwrap();
        let err = store.load(&t.id).unwrap_err();
        assert!(
            err.message.contains("finished without a server"),
            "{}",
            err.message
        );
        t.server = Some("203.0.113.7".into());
        t.server_password = Some("pw".into());
        store.save(&t).unwrap();
        assert_eq!(store.load(&t.id).unwrap().stage, Stage::Finished);
        let leftovers = fs::read_dir(store.dir()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn a_file_that_holds_another_task_is_damaged_and_does_not_hide_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "demo");
        let real = store.create(task()).unwrap();
        fs::copy(store.path_of(&real.id), store.path_of("5")).unwrap();
        assert!(store.load("5").unwrap_err().message.contains("is damaged"));
        let (tasks, problems) = store.list().unwrap();
        assert_eq!((tasks.len(), problems.len()), (1, 1));
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "demo");
        let real = store.create(task()).unwrap();
        let path = store.path_of(&real.id);
        let mut json: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["format"], FORMAT);
        let without_format = {
            let mut old = json.clone();
            old.as_object_mut().unwrap().remove("format");
            old
        };
        fs::write(&path, without_format.to_string()).unwrap();
        assert_eq!(store.load(&real.id).unwrap().format, 1, "older files load");
        for (key, value) in [("format", json!(FORMAT + 1)), ("ssh_key", json!("k"))] {
            json[key] = value;
            let text = json.to_string();
            fs::write(&path, &text).unwrap();
            let err = store.load(&real.id).unwrap_err();
            assert!(err.message.contains("newer version"), "{}", err.message);
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn hostile_ids_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "demo");
        for id in [
            "../../etc/passwd",
            "1;reboot",
            "",
            "abc",
            &"1".repeat(10_000),
        ] {
            let err = store.load(id).unwrap_err();
            assert!(
                err.message.contains("not a task id"),
                "{id}: {}",
                err.message
            );
        }
    }
}
