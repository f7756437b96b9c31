//! Runs the real binary the way the panel does: through a symlink named like the provider,
//! one verb per run, with a clean environment, and checks that stdout is exactly one JSON
//! object every time.

#![allow(dead_code)]

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_vps-provider");

/// A provider installed in a temporary panel tree.
pub struct Plugin {
    pub root: tempfile::TempDir,
    pub name: String,
    pub env: Vec<(String, String)>,
}

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl Run {
    /// The error message, or a panic saying the run succeeded.
    pub fn error_message(&self) -> &str {
        assert_eq!(
            self.json["error"], 1,
            "expected an error object, got {}",
            self.stdout
        );
        assert!(
            !self.success,
            "an error object must come with a non-zero exit code"
        );
        self.json["error_message"]
            .as_str()
            .expect("error_message is a string")
    }

    /// The reply, checked to be a success (no `error` key at all, exit code 0).
    pub fn ok(&self) -> &Value {
        assert!(
            self.json.get("error").is_none(),
            "expected success, got {}",
            self.stdout
        );
        assert!(self.success, "a success reply must come with exit code 0");
        &self.json
    }
}

pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The line and column of the first `needle` in `text`, 1-based, as `validate` reports them.
pub fn position(text: &str, needle: &str) -> String {
    let at = text.find(needle).expect("the needle is in the text");
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

pub fn fixture(relative: &str) -> String {
    let path = repo_file("tests/fixtures").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The testhost provider file with its configs fetched from `GET /plans` (`$.plans[*]`, id
/// and descr from each plan's `name`), so that reads of the plan list can be tested.
pub fn fetching_testhost_yaml() -> String {
    let base = fixture("providers/testhost.yaml");
    let static_configs = &base[base.find("configs:").unwrap()..base.find("order:").unwrap()];
    base.replace(
        static_configs,
        "configs:\n  fetch:\n    request: { path: /plans }\n    items: $.plans[*]\n    id: \"{{item.name}}\"\n    descr: \"{{item.name}}\"\n    vars: { plan: \"{{item.name}}\", region: fsn1 }\n",
    )
}

impl Plugin {
    /// A provider `name` whose provider file is `yaml`, and whose hoster is at `base_url`.
    pub fn new(name: &str, yaml: &str, base_url: &str) -> Plugin {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        std::fs::create_dir_all(dir.join("providers.d")).unwrap();
        std::fs::write(dir.join(format!("providers.d/{name}.yaml")), yaml).unwrap();
        let bin = dir.join(format!("providers/{name}/bin"));
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(BIN, bin.join(name)).unwrap();
        std::fs::create_dir_all(dir.join(format!("providers/{name}/etc"))).unwrap();
        let env = vec![
            (
                "VPS_PROVIDER_DIR".into(),
                dir.join("providers.d").display().to_string(),
            ),
            (
                "VPS_PROVIDER_SECRETS".into(),
                dir.join(format!("providers/{name}/etc/{name}.conf"))
                    .display()
                    .to_string(),
            ),
            (
                "VPS_PROVIDER_STATE_DIR".into(),
                dir.join("state").display().to_string(),
            ),
            ("VPS_PROVIDER_BASE_URL".into(), base_url.to_owned()),
            // Fixtures carry documented public addresses: no test may knock on them. The
            // SSH check's own tests turn it back on with loopback listeners.
            ("VPS_PROVIDER_SSH_CHECK".into(), "off".into()),
        ];
        Plugin {
            root,
            name: name.to_owned(),
            env,
        }
    }

    /// A shipped provider file from `providers.d/`.
    pub fn shipped(name: &str, base_url: &str) -> Plugin {
        let yaml = std::fs::read_to_string(repo_file(&format!("providers.d/{name}.yaml"))).unwrap();
        Plugin::new(name, &yaml, base_url)
    }

    /// Writes the site's secrets file (mode 0600).
    pub fn secrets(self, text: &str) -> Plugin {
        let path = self.secrets_path();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        self
    }

    pub fn secrets_path(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers/{0}/etc/{0}.conf", self.name))
    }

    pub fn provider_file(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers.d/{}.yaml", self.name))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state").join(&self.name)
    }

    pub fn plugin_path(&self) -> PathBuf {
        self.root
            .path()
            .join(format!("providers/{0}/bin/{0}", self.name))
    }

    /// The one task recorded in the store, as its JSON file says it.
    pub fn only_task(&self) -> Value {
        // Task files only: the folder also holds the polls' lock and the menu cache.
        let mut files = std::fs::read_dir(self.state_dir())
            .expect("a task folder")
            .map(|e| e.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"));
        let file = files.next().expect("a task file");
        assert!(files.next().is_none(), "exactly one task is recorded");
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }

    /// Rewrites task `task_id`'s record as if it had been ordered `minutes` earlier, by both
    /// clocks it keeps (the wall clock and this boot's boot-time clock).
    pub fn backdate_task(&self, task_id: &str, minutes: u64) {
        let path = self.state_dir().join(format!("{task_id}.json"));
        let mut task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        task["created"] = Value::from(task["created"].as_u64().unwrap() - minutes * 60);
        if let Some(secs) = task["boot"]["secs"].as_i64() {
            task["boot"]["secs"] = Value::from(secs - minutes as i64 * 60);
        }
        std::fs::write(&path, task.to_string()).unwrap();
    }

    /// Sets the environment variable `key` for every later run.
    pub fn with_env(mut self, key: &str, value: &str) -> Plugin {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The plugin without the variable `key` (`VPS_PROVIDER_BASE_URL`: the file's own URLs, as
    /// a site runs it).
    pub fn without_env(mut self, key: &str) -> Plugin {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Runs the plugin with `args`, as the panel does.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_os(
            &args
                .iter()
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>(),
        )
    }

    pub fn run_os(&self, args: &[std::ffi::OsString]) -> Run {
        parse_run(self.command(args).output().expect("the plugin runs"))
    }

    /// The command the panel would run for `args`, not started yet.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(self.plugin_path());
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `vps-provider args...` (the operator's CLI) with this plugin's environment.
    pub fn operator(&self, args: &[&str]) -> std::process::Output {
        operator(args, &self.env)
    }
}

/// Runs `vps-provider args...` with a clean environment plus `env`.
pub fn operator(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// Checks the one rule that holds for every run: stdout is exactly one JSON object.
pub fn parse_run(output: std::process::Output) -> Run {
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "stdout must be one line: {stdout:?}"
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}"));
    assert!(json.is_object(), "stdout must be a JSON object: {stdout}");
    if json.get("error").is_none() {
        assert_all_strings(&json, &stdout);
    }
    Run {
        json,
        stdout,
        stderr,
        success: output.status.success(),
    }
}

/// Every value the panel reads is a JSON string.
fn assert_all_strings(value: &Value, whole: &str) {
    match value {
        Value::Object(map) => map.values().for_each(|v| assert_all_strings(v, whole)),
        Value::Array(items) => items.iter().for_each(|v| assert_all_strings(v, whole)),
        Value::String(_) => {}
        other => panic!("`{other}` is not a string in {whole}"),
    }
}

// Helpers shared by the hoster end-to-end tests (`tests/hoster_*.rs`): mocks of a hoster's API
// on a `mockito` server, and checks of the replies the panel gets.

/// The authorization header every hoster mock expects: the token in [`SECRETS`].
pub const AUTH: &str = "Bearer tok";

/// A secrets file holding only the token the mocks expect.
pub const SECRETS: &str = "token=tok\n";

/// The JSON fixture `name` (under `tests/fixtures/`) after `change`, as text: one field of a
/// documented answer changed, without a file for every variation.
pub fn fixture_with(name: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(&fixture(name)).unwrap();
    change(&mut value);
    value.to_string()
}

/// What `vps-provider validate` said of a provider file written for it.
pub struct Validation {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The provider file, in `dir`.
    pub file: PathBuf,
    /// The temporary folder holding the file, removed when this is dropped.
    pub dir: tempfile::TempDir,
}

impl Validation {
    /// Everything it printed: the report on stdout, then stderr.
    pub fn report(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Writes `yaml` as `file_name` in a new temporary folder and runs `vps-provider validate` on
/// it, as a hoster's engineer does on a file being written.
pub fn validate_yaml(file_name: &str, yaml: &str) -> Validation {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(file_name);
    std::fs::write(&file, yaml).unwrap();
    let output = operator(&["validate", file.to_str().unwrap()], &[]);
    Validation {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("validate prints UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("validate prints UTF-8"),
        file,
        dir,
    }
}

/// The fixture `name` of `hoster`, from `tests/fixtures/hosters/<hoster>/`.
pub fn hoster_fixture(hoster: &str, name: &str) -> String {
    fixture(&format!("hosters/{hoster}/{name}"))
}

/// A mock of `method path` that only matches requests carrying [`AUTH`]; not created yet.
pub fn authed(server: &mut mockito::Server, method: &str, path: &str) -> mockito::Mock {
    server
        .mock(method, path)
        .match_header("authorization", AUTH)
}

/// Creates `mock` answering with `status` and `body`, expected to be called exactly once.
pub fn once(mock: mockito::Mock, status: usize, body: &str) -> mockito::Mock {
    mock.with_status(status).with_body(body).expect(1).create()
}

/// One authenticated GET of `path`, answered once with `status` and `body`.
pub fn get_once(
    server: &mut mockito::Server,
    path: &str,
    status: usize,
    body: &str,
) -> mockito::Mock {
    once(authed(server, "GET", path), status, body)
}

/// An authenticated GET of `path` whose query matches `query`, answered 200 with `body`.
pub fn get_list(
    server: &mut mockito::Server,
    path: &str,
    query: mockito::Matcher,
    body: &str,
) -> mockito::Mock {
    authed(server, "GET", path)
        .match_query(query)
        .with_status(200)
        .with_body(body)
        .create()
}

/// Creates `mock` answering 429 with `retry-after: 0` and `body`, expected `times` times.
pub fn rate_limited(mock: mockito::Mock, body: &str, times: usize) -> mockito::Mock {
    mock.with_status(429)
        .with_header("retry-after", "0")
        .with_body(body)
        .expect(times)
        .create()
}

/// An authenticated JSON POST of `path` whose body contains `partial`; not created yet.
pub fn json_post(server: &mut mockito::Server, path: &str, partial: Value) -> mockito::Mock {
    authed(server, "POST", path)
        .match_header("content-type", "application/json")
        .match_body(mockito::Matcher::PartialJson(partial))
}

/// The request body a [`capture_once`] mock received.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// Creates `mock` answering once with `status` and `answer`, keeping the body it received.
pub fn capture_once(
    mock: mockito::Mock,
    status: usize,
    answer: String,
) -> (mockito::Mock, Received) {
    let received = Received::default();
    let keep = received.clone();
    let mock = mock
        .with_status(status)
        .with_body_from_request(move |request| {
            *keep.lock().unwrap() = request.body().unwrap().clone();
            answer.clone().into_bytes()
        })
        .expect(1)
        .create();
    (mock, received)
}

/// The JSON body a [`capture_once`] mock received.
pub fn received_json(received: &Received) -> Value {
    serde_json::from_slice(&received.lock().unwrap()).unwrap()
}

/// The root password that `user_data`, the cloud-init document a shipped file sends where the
/// hoster makes none (digitalocean.yaml, regru.yaml), sets; checked to be a generated one (24
/// letters and digits), never expired, and usable over SSH: password logins on, root allowed
/// (in a drop-in read first and in the main file), set again last, sshd restarted.
pub fn cloud_init_root_password(user_data: &Value) -> String {
    let user_data = user_data.as_str().expect("user_data is text");
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    let cloud: Value = serde_yaml_ng::from_str(user_data).expect("user_data is YAML");
    let password = cloud["chpasswd"]["users"][0]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        cloud["chpasswd"],
        serde_json::json!({"expire": false, "users": [{"name": "root", "password": password, "type": "text"}]})
    );
    assert_eq!(cloud["ssh_pwauth"], true);
    assert_eq!(cloud["disable_root"], false);
    let runcmd: Vec<&str> = cloud["runcmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(runcmd.contains(&format!("echo 'root:{password}' | chpasswd").as_str()));
    assert!(
        runcmd
            .iter()
            .any(|c| c.contains("PermitRootLogin yes") && c.contains("/etc/ssh/sshd_config"))
    );
    assert_eq!(runcmd.last(), Some(&"systemctl restart sshd"));
    assert_eq!(
        cloud["write_files"][0]["path"],
        "/etc/ssh/sshd_config.d/01-bitrix-pool.conf"
    );
    assert!(
        cloud["write_files"][0]["content"]
            .as_str()
            .unwrap()
            .contains("PermitRootLogin yes\n")
    );
    password
}

/// The task id of a successful `order` reply.
pub fn task_id(run: &Run) -> String {
    run.ok()["task_id"].as_str().unwrap().to_owned()
}

/// The status, server address and password of a successful `order_status` reply.
pub fn status(run: &Run) -> (String, String, String) {
    let reply = run.ok();
    (
        reply["status"].as_str().unwrap().to_owned(),
        reply["server"].as_str().unwrap().to_owned(),
        reply["server_password"].as_str().unwrap().to_owned(),
    )
}

/// What [`status`] gives for an order still being built.
pub fn in_progress() -> (String, String, String) {
    ("in_progress".into(), String::new(), String::new())
}

/// The hoster's DELETE of a failed server at `path`, expected exactly once (the shipped
/// files clean up after a failed order).
pub fn deleted_once(server: &mut mockito::Server, path: &str) -> mockito::Mock {
    authed(server, "DELETE", path)
        .with_status(204)
        .expect(1)
        .create()
}

/// Checks that `run` is the `error` answer for `task_id`, whose message (for the operator)
/// names each of `says`.
pub fn assert_failed(run: &Run, task_id: &str, says: &[&str]) {
    let reply = run.ok();
    let message = reply["message"].as_str().unwrap_or_default();
    let mut expected = task_reply(task_id, "error", "", "");
    expected["message"] = Value::String(message.to_owned());
    assert_eq!(reply, &expected);
    for part in says {
        assert!(message.contains(part), "`{part}` not in {message}");
    }
}

/// The whole `order_status` reply for `task_id`.
pub fn task_reply(task_id: &str, status: &str, server: &str, password: &str) -> Value {
    serde_json::json!({"task_id": task_id, "status": status, "server": server, "server_password": password})
}

/// The reply to `help` of a provider whose status is `status` ("enabled" or "disabled").
pub fn help_reply(status: &str) -> Value {
    serde_json::json!({"options": ["help", "configs", "order", "order_status"], "status": status})
}

/// The reply to `configs` of a disabled provider.
pub fn disabled_configs() -> Value {
    serde_json::json!({"configurations": [], "status": "disabled"})
}

/// Checks that `run` was refused for want of a token.
pub fn assert_needs_token(run: &Run) {
    assert!(run.error_message().contains("token"), "{}", run.stdout);
}

/// The whole help check of a hoster needing only a token: disabled without, enabled with.
pub fn assert_help_follows_the_token(name: &str, config: &str) {
    let mut server = mockito::Server::new();
    let untouched = server.mock("GET", mockito::Matcher::Any).expect(0).create();

    let without = Plugin::shipped(name, &server.url());
    assert_eq!(without.run(&["help"]).ok(), &help_reply("disabled"));
    assert_eq!(without.run(&["configs"]).ok(), &disabled_configs());
    assert_needs_token(&without.run(&["order", config]));

    let with = Plugin::shipped(name, &server.url()).secrets(SECRETS);
    assert_eq!(with.run(&["help"]).ok(), &help_reply("enabled"));
    untouched.assert();
}

/// Checks that `plugin` is enabled once the token "tok" is in the environment variable `var`.
pub fn assert_token_from_env(mut plugin: Plugin, var: &str) {
    plugin.env.push((var.into(), "tok".into()));
    assert_eq!(plugin.run(&["help"]).ok()["status"], "enabled");
}

/// Checks that `run` failed with a message containing every one of `parts`.
pub fn assert_error_says(run: &Run, parts: &[&str]) {
    let message = run.error_message();
    for part in parts {
        assert!(message.contains(part), "{message}");
    }
}

/// Checks a 401: the hoster's `parts`, "check the API token", and never the `token` on stdout.
pub fn assert_bad_token(run: &Run, token: &str, parts: &[&str]) {
    assert_error_says(run, parts);
    assert_error_says(run, &["check the API token"]);
    assert!(!run.stdout.contains(token), "{}", run.stdout);
}

/// Checks a 429 that was not retried: the hoster's `says` and "wait a minute".
pub fn assert_rate_limited(run: &Run, says: &str) {
    assert_error_says(run, &[says, "wait a minute"]);
}

/// The ids of the configurations in a `configs` reply.
pub fn ids(reply: &Value) -> Vec<String> {
    reply["configurations"]
        .as_array()
        .expect("a list of configurations")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The description of configuration `id` in a `configs` reply.
pub fn descr_of<'a>(reply: &'a Value, id: &str) -> &'a str {
    reply["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no config {id} in {reply}"))["descr"]
        .as_str()
        .unwrap()
}

/// The (id, description) pairs of a `configs` reply, in order.
pub fn descrs(reply: &Value) -> Vec<(String, String)> {
    reply["configurations"]
        .as_array()
        .expect("a list of configurations")
        .iter()
        .map(|c| pair(c["id"].as_str().unwrap(), c["descr"].as_str().unwrap()))
        .collect()
}

/// The (id, description) pairs of a `configs` run, checked to be enabled.
pub fn enabled_descrs(run: &Run) -> Vec<(String, String)> {
    let reply = run.ok();
    assert_eq!(reply["status"], "enabled");
    descrs(reply)
}

/// An (id, description) pair as [`descrs`] gives it.
pub fn pair(id: &str, descr: &str) -> (String, String) {
    (id.to_owned(), descr.to_owned())
}

/// Orders `config` against `post` answered 429 with `body`: the hoster's `says`, sent only once.
pub fn assert_order_rate_limited(
    plugin: &Plugin,
    post: mockito::Mock,
    body: &str,
    config: &str,
    says: &str,
) -> mockito::Mock {
    let create = rate_limited(post, body, 1);
    let run = plugin.run(&["order", config]);
    assert_rate_limited(&run, says);
    create.assert();
    create
}

/// `configs` after a 429 from `limited`: retried on `list`, and `count` configs offered.
pub fn assert_configs_retried(
    plugin: &Plugin,
    limited: mockito::Mock,
    list: mockito::Mock,
    count: usize,
) {
    let run = plugin.run(&["configs"]);
    assert_eq!(ids(run.ok()).len(), count);
    limited.assert();
    list.assert();
}

/// A poll of `task_id` answered 429 by `busy` is reported with `says`; the next, by `ready`, finishes.
pub fn assert_poll_rate_limited(
    plugin: &Plugin,
    task_id: &str,
    busy: mockito::Mock,
    ready: mockito::Mock,
    says: &str,
) {
    let poll = plugin.run(&["order_status", task_id]);
    assert!(poll.error_message().contains(says), "{}", poll.stdout);
    busy.assert();
    assert_eq!(
        plugin.run(&["order_status", task_id]).ok()["status"],
        "finished"
    );
    ready.assert();
}

/// Two polls of `task_id` in progress, then two `finished` (the second from the task store).
pub fn assert_polls_until_finished(
    plugin: &Plugin,
    task_id: &str,
    finished: (String, String, String),
    mocks: &[mockito::Mock],
) {
    for _ in 0..2 {
        let run = plugin.run(&["order_status", task_id]);
        assert_eq!(run.ok()["task_id"], task_id);
        assert_eq!(status(&run), in_progress());
    }
    assert_eq!(status(&plugin.run(&["order_status", task_id])), finished);
    // Once finished, the answer comes from the task store: the hoster is not asked again.
    assert_eq!(status(&plugin.run(&["order_status", task_id])), finished);
    for mock in mocks {
        mock.assert();
    }
}

// A raw loopback HTTP server for hosters that misbehave in ways mockito cannot: answers that
// never end, never come, or redirect forever.

/// One request a [`RawServer`] received: when, and its head (request line and headers).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub at: std::time::Instant,
    pub head: String,
}

impl RawRequest {
    /// The request line, e.g. `GET /plans HTTP/1.1`.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

/// A loopback server that hands every connection to a handler, and keeps what it received.
pub struct RawServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<RawRequest>>>,
}

impl RawServer {
    /// Listens on `ip` (a loopback address); `handler` gets each connection after its request
    /// head was read, with the number of requests seen before it.
    pub fn start(
        ip: &str,
        handler: impl Fn(&mut std::net::TcpStream, usize) + Send + Sync + 'static,
    ) -> RawServer {
        use std::io::Read;
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<RawRequest>::new()));
        let seen = requests.clone();
        let handler = std::sync::Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (seen, handler) = (seen.clone(), handler.clone());
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    // Read the body too: closing with unread bytes would reset the connection.
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .unwrap_or(0);
                    let _ = std::io::copy(&mut (&mut stream).take(length), &mut std::io::sink());
                    let index = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(RawRequest {
                            at: std::time::Instant::now(),
                            head: String::from_utf8_lossy(&head).into_owned(),
                        });
                        seen.len() - 1
                    };
                    handler(&mut stream, index);
                });
            }
        });
        RawServer { url, requests }
    }

    /// What was received so far.
    pub fn received(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// Writes a whole answer with `status`, extra `headers` and `body`, and closes the connection.
pub fn respond(stream: &mut std::net::TcpStream, status: &str, headers: &[&str], body: &str) {
    use std::io::Write;
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for header in headers {
        answer.push_str(header);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    answer.push_str(body);
    let _ = stream.write_all(answer.as_bytes());
}

/// The testhost provider with its menu fetched from `GET /plans`, a deadline of `deadline`
/// seconds and an answer cap of `max_bytes`.
pub fn fetching(base_url: &str, deadline: u64, max_bytes: u64) -> Plugin {
    let testhost = fixture("providers/testhost.yaml");
    let (head, rest) = testhost.split_once("configs:\n").unwrap();
    let (_, order) = rest.split_once("order:\n").unwrap();
    let yaml = format!(
        "{head}  max_response_bytes: {max_bytes}\nconfigs:\n  fetch:\n    request: {{ path: /plans }}\n    items: $.plans[*]\n    id: \"{{{{item.id}}}}\"\n    descr: \"{{{{item.id}}}}\"\n    vars: {{ plan: \"{{{{item.id}}}}\", region: fsn1 }}\norder:\n{order}"
    )
    .replace("deadline_seconds: 3", &format!("deadline_seconds: {deadline}"));
    Plugin::new("testhost", &yaml, base_url).secrets("token=tok-limits-123\n")
}

/// The testhost's create, answered: server 42 with its root password, `expected` times.
pub fn creates_server_42(server: &mut mockito::Server, expected: usize) -> mockito::Mock {
    server
        .mock("POST", "/servers")
        .with_status(201)
        .with_body(
            serde_json::json!({"server": {"id": 42}, "root_password": "Hoster-Pw-1"}).to_string(),
        )
        .expect(expected)
        .create()
}

/// testhost.yaml with a second order step after the create: `POST /servers/{id}/actions/poweron`.
pub fn testhost_with_poweron_step() -> String {
    fixture("providers/testhost.yaml").replace(
        "        root_password: $.root_password\n",
        "        root_password: $.root_password\n    - request:\n        method: POST\n        path: \"/servers/{{saved.server_id}}/actions/poweron\"\n",
    )
}

/// The testhost's second order step (see [`testhost_with_poweron_step`]) failing with a 500,
/// once.
pub fn power_on_fails(server: &mut mockito::Server) -> mockito::Mock {
    server
        .mock("POST", "/servers/42/actions/poweron")
        .with_status(500)
        .with_body("{}")
        .expect(1)
        .create()
}

/// The text of `request`'s header `name` (empty when it is absent or not text), as a mock of
/// a signing hoster reads it.
pub fn header_text(request: &mockito::Request, name: &str) -> String {
    request
        .header(name)
        .first()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The keys a mock of an OVHcloud-style signing hoster expects.
pub struct SigningKeys<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
    pub consumer_key: &'a str,
}

/// Whether `request` carries OVHcloud's documented signature
/// (tests/fixtures/hosters/ovhcloud/README.md), recomputed here independently of the binary:
/// `$1$` and the SHA-1 hex of the application secret, consumer key, method, full URL
/// (`origin` + path and query), body and timestamp joined by `+`, with the keys' headers and a
/// timestamp within `leeway` seconds of `hoster_now`.
pub fn ovh_signed(
    request: &mockito::Request,
    origin: &str,
    keys: &SigningKeys,
    hoster_now: u64,
    leeway: u64,
) -> bool {
    let timestamp = header_text(request, "x-ovh-timestamp");
    let url = format!("{origin}{}", request.path_and_query());
    let body = request.utf8_lossy_body().unwrap_or_default().into_owned();
    let text = [
        keys.app_secret,
        keys.consumer_key,
        request.method(),
        &url,
        &body,
        &timestamp,
    ]
    .join("+");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let on_time = timestamp
        .parse::<u64>()
        .is_ok_and(|t| t.abs_diff(hoster_now) < leeway);
    header_text(request, "x-ovh-application") == keys.app_key
        && header_text(request, "x-ovh-consumer") == keys.consumer_key
        && header_text(request, "x-ovh-signature") == format!("$1${hex}")
        && on_time
}

/// This machine's time, in unix seconds (a mock's clock is made from it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
