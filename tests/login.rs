//! Session logins (`api.login`): a Keystone v3 login whose token comes back in
//! `X-Subject-Token`, kept in the state folder between runs, renewed once on a 401, never at
//! the cost of a second purchase; and an OAuth2 client-credentials form login.

mod common;

use common::*;
use mockito::Matcher;
use std::os::unix::fs::PermissionsExt;

const PASSWORD: &str = "s3cret-Passw0rd";
const TOKEN: &str = "gAAAAAB-keystone-token-1";
const NEW_TOKEN: &str = "gAAAAAB-keystone-token-2";

/// OpenStack: Keystone v3 for the token, Nova for flavors and servers.
fn openstack_yaml() -> String {
    r#"name: openstack
secrets:
  password: {}
settings:
  user: admin
  project: demo
  image: rocky-9
api:
  base_url: https://cloud.example.invalid
  login:
    request:
      method: POST
      path: /v3/auth/tokens
      json:
        auth:
          identity:
            methods: [password]
            password:
              user: { name: "{{settings.user}}", domain: { id: default }, password: "{{secrets.password}}" }
          scope: { project: { name: "{{settings.project}}", domain: { id: default } } }
    token: { header: X-Subject-Token }
    expires: $.token.expires_at
  auth:
    header: { name: X-Auth-Token, value: "{{session.token}}" }
  error_message: $.error.message
  deadline_seconds: 5
configs:
  fetch:
    request: { path: /flavors/detail }
    items: $.flavors[*]
    id: "{{item.id}}"
    descr: "{{item.name}}"
    vars: { flavor: "{{item.id}}" }
    cache_minutes: 0
order:
  steps:
    - request:
        method: POST
        path: /servers
        json: { server: { name: "bx-{{task.id}}", flavorRef: "{{config.flavor}}", imageRef: "{{settings.image}}" } }
      extract:
        server_id: $.server.id
        root_password: $.server.adminPass
  hoster_id: "{{saved.server_id}}"
order_status:
  steps:
    - request: { path: "/servers/{{saved.server_id}}" }
      extract:
        state: $.server.status
        ip: $.server.accessIPv4
  status:
    value: "{{polled.state}}"
    map: { BUILD: in_progress, ACTIVE: finished, ERROR: error }
  server: "{{polled.ip}}"
  server_password: "{{saved.root_password}}"
"#
    .to_owned()
}

fn openstack(server: &mockito::Server) -> Plugin {
    Plugin::new("openstack", &openstack_yaml(), &server.url())
        .secrets(&format!("password={PASSWORD}\n"))
}

/// Keystone's login: the password in the body, the token in `X-Subject-Token`.
fn keystone(server: &mut mockito::Server, token: &str, expires_at: &str) -> mockito::Mock {
    server
        .mock("POST", "/v3/auth/tokens")
        .match_body(Matcher::PartialJson(serde_json::json!({
            "auth": { "identity": { "password": { "user": { "name": "admin" } } } }
        })))
        .with_status(201)
        .with_header("X-Subject-Token", token)
        .with_header("Content-Type", "application/json")
        .with_body(format!(
            r#"{{"token":{{"expires_at":"{expires_at}","methods":["password"]}}}}"#
        ))
}

const FAR: &str = "2999-12-03T10:00:00.000000Z";

fn nova(server: &mut mockito::Server, method: &str, path: &str, token: &str) -> mockito::Mock {
    server
        .mock(method, path)
        .match_header("X-Auth-Token", token)
}

fn flavors(server: &mut mockito::Server, token: &str) -> mockito::Mock {
    nova(server, "GET", "/flavors/detail", token)
        .with_body(r#"{"flavors":[{"id":"1","name":"m1.small"}]}"#)
}

fn create(server: &mut mockito::Server, token: &str) -> mockito::Mock {
    nova(server, "POST", "/servers", token)
        .with_status(202)
        .with_body(r#"{"server":{"id":"srv-1","adminPass":"Root-pass-1"}}"#)
}

fn show(server: &mut mockito::Server, token: &str) -> mockito::Mock {
    nova(server, "GET", "/servers/srv-1", token)
        .with_body(r#"{"server":{"status":"BUILD","accessIPv4":""}}"#)
}

fn refused(mock: mockito::Mock) -> mockito::Mock {
    mock.with_status(401).with_body(
        r#"{"error":{"message":"The request you have made requires authentication.","code":401}}"#,
    )
}

fn session_file(plugin: &Plugin) -> std::path::PathBuf {
    plugin.state_dir().join("session.cache")
}

fn task_files(plugin: &Plugin) -> usize {
    std::fs::read_dir(plugin.state_dir())
        .map(|dir| {
            dir.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
        })
        .unwrap_or(0)
}

fn assert_no_secrets(run: &Run) {
    for secret in [PASSWORD, TOKEN, NEW_TOKEN] {
        assert!(!run.stdout.contains(secret), "{}", run.stdout);
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
    }
}

#[test]
fn the_login_is_sent_once_and_its_token_kept_for_the_next_runs() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(1).create();
    let flavors = flavors(&mut server, TOKEN).expect(1).create();
    let create = create(&mut server, TOKEN).expect(1).create();
    let show = show(&mut server, TOKEN).expect(1).create();
    let plugin = openstack(&server);

    let ordered = plugin.run(&["order", "1"]);
    let task = task_id(&ordered);
    assert_no_secrets(&ordered);
    let file = session_file(&plugin);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(!kept.contains(PASSWORD), "{kept}");

    // The poll: the kept token, one request and no login.
    let polled = plugin.run(&["order_status", &task]);
    assert_eq!(status(&polled), in_progress(), "{}", polled.stdout);
    assert_no_secrets(&polled);
    for mock in [login, flavors, create, show] {
        mock.assert();
    }
}

#[test]
fn a_symlink_in_place_of_the_session_is_neither_read_nor_written_through() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(1).create();
    flavors(&mut server, TOKEN).expect(1).create();
    let plugin = openstack(&server);
    std::fs::create_dir_all(plugin.state_dir()).unwrap();
    std::fs::set_permissions(plugin.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let elsewhere = plugin.root.path().join("elsewhere");
    std::fs::write(&elsewhere, "untouched").unwrap();
    std::os::unix::fs::symlink(&elsewhere, session_file(&plugin)).unwrap();
    plugin.run(&["configs"]).ok();
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
    let kept = std::fs::symlink_metadata(session_file(&plugin)).unwrap();
    assert!(
        kept.file_type().is_file(),
        "the link was replaced by the kept session"
    );
    login.assert();
}

#[test]
fn help_does_not_log_in_and_a_dry_run_logs_in_only_to_read_the_menu() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(0).create();
    let plugin = openstack(&server);
    plugin.run(&["help"]).ok();
    login.assert();
    // An order's dry run reads the menu it picks the config from, as `configs` does: that
    // takes the login, and nothing of it is kept.
    login.remove();
    let login = keystone(&mut server, TOKEN, FAR).expect(1).create();
    let dry = plugin.operator(&["run", "openstack", "order", "1", "--dry-run"]);
    let shown =
        String::from_utf8_lossy(&dry.stdout).to_string() + &String::from_utf8_lossy(&dry.stderr);
    assert!(
        !shown.contains(PASSWORD) && !shown.contains(TOKEN),
        "{shown}"
    );
    assert!(!session_file(&plugin).exists());
    login.assert();
}

#[test]
fn the_trace_hides_the_password_and_the_token() {
    let mut server = mockito::Server::new();
    keystone(&mut server, TOKEN, FAR).create();
    flavors(&mut server, TOKEN).create();
    let plugin = openstack(&server);
    let traced = plugin.operator(&["run", "openstack", "configs", "--verbose"]);
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(stderr.contains("X-Auth-Token: ***"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN) && !stderr.contains(PASSWORD),
        "{stderr}"
    );
}

#[test]
fn a_401_renews_the_token_once_and_sends_the_read_again() {
    let mut server = mockito::Server::new();
    let first = keystone(&mut server, TOKEN, FAR).expect(1).create();
    flavors(&mut server, TOKEN).create();
    create(&mut server, TOKEN).create();
    let plugin = openstack(&server);
    let task = task_id(&plugin.run(&["order", "1"]));

    // The hoster revoked the kept token: the next login hands out another.
    first.remove();
    let second = keystone(&mut server, NEW_TOKEN, FAR).expect(1).create();
    let revoked = refused(show(&mut server, TOKEN)).expect(1).create();
    let shown = show(&mut server, NEW_TOKEN).expect(1).create();
    let polled = plugin.run(&["order_status", &task]);
    assert_eq!(status(&polled), in_progress(), "{}", polled.stdout);
    assert_no_secrets(&polled);
    for mock in [second, revoked, shown] {
        mock.assert();
    }
}

#[test]
fn a_second_401_is_reported_after_one_renewal() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(2).create();
    let list = refused(flavors(&mut server, TOKEN)).expect(2).create();
    let plugin = openstack(&server);
    let run = plugin.run(&["configs"]);
    assert_error_says(&run, &["401", "requires authentication"]);
    login.assert();
    list.assert();
}

#[test]
fn an_expired_token_is_a_new_login() {
    let mut server = mockito::Server::new();
    let in_an_hour = chrono::DateTime::from_timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 3600,
        0,
    )
    .unwrap()
    .to_rfc3339();
    let login = keystone(&mut server, TOKEN, &in_an_hour).expect(2).create();
    let list = flavors(&mut server, TOKEN).expect(3).create();
    let plugin = openstack(&server);
    plugin.run(&["configs"]).ok();
    plugin.run(&["configs"]).ok(); // still valid: kept
    let later = plugin.with_env("VPS_PROVIDER_FAKE_CLOCK_SKEW", "7200");
    later.run(&["configs"]).ok();
    login.assert();
    list.assert();
}

#[test]
fn a_changed_password_is_a_new_login() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(2).create();
    flavors(&mut server, TOKEN).expect(2).create();
    let plugin = openstack(&server);
    plugin.run(&["configs"]).ok();
    let plugin = plugin.secrets("password=another-Passw0rd\n");
    plugin.run(&["configs"]).ok();
    login.assert();
}

#[test]
fn a_failed_login_is_an_error_naming_the_login_and_buys_nothing() {
    let mut server = mockito::Server::new();
    let login = server
        .mock("POST", "/v3/auth/tokens")
        .with_status(401)
        .with_body(r#"{"error":{"message":"The account is locked.","code":401}}"#)
        .expect(1)
        .create();
    let buy = server.mock("POST", "/servers").expect(0).create();
    let plugin = openstack(&server);
    let run = plugin.run(&["order", "1"]);
    assert_error_says(
        &run,
        &["the login to the hoster failed", "The account is locked."],
    );
    assert_no_secrets(&run);
    assert_eq!(task_files(&plugin), 0);
    assert!(!session_file(&plugin).exists());
    login.assert();
    buy.assert();
}

#[test]
fn a_401_on_the_purchase_renews_the_token_but_never_resends_it() {
    let mut server = mockito::Server::new();
    let login = keystone(&mut server, TOKEN, FAR).expect(2).create();
    flavors(&mut server, TOKEN).create();
    let buy = refused(create(&mut server, TOKEN)).expect(1).create();
    let plugin = openstack(&server);
    let run = plugin.run(&["order", "1"]);
    assert_error_says(&run, &["401", "requires authentication"]);
    buy.assert();
    login.assert();
}

/// An OAuth2 client-credentials API: a form login, `access_token` and `expires_in`.
fn oauth_yaml() -> String {
    let base = fetching_testhost_yaml();
    base.replace(
        "  auth:\n    bearer: \"{{secrets.token}}\"\n",
        r#"  login:
    request:
      method: POST
      path: /oauth/token
      form: { grant_type: client_credentials, client_id: bx, client_secret: "{{secrets.token}}" }
    token: $.access_token
    expires: $.expires_in
  auth:
    bearer: "{{session.token}}"
"#,
    )
}

#[test]
fn an_oauth2_form_login_gives_a_bearer_token() {
    let mut server = mockito::Server::new();
    let login = server
        .mock("POST", "/oauth/token")
        .match_body("grant_type=client_credentials&client_id=bx&client_secret=client-s3cret")
        .with_body(r#"{"access_token":"oauth-token-1","token_type":"bearer","expires_in":3600}"#)
        .expect(1)
        .create();
    let plans = server
        .mock("GET", "/plans")
        .match_header("Authorization", "Bearer oauth-token-1")
        .with_body(r#"{"plans":[{"name":"small"}]}"#)
        .expect(2)
        .create();
    let yaml = oauth_yaml().replace(
        "items: $.plans[*]",
        "items: $.plans[*]\n    cache_minutes: 0",
    );
    let plugin = Plugin::new("testhost", &yaml, &server.url()).secrets("token=client-s3cret\n");
    for _ in 0..2 {
        let run = plugin.run(&["configs"]);
        assert_eq!(ids(run.ok()), ["small"]);
        assert!(!run.stdout.contains("oauth-token-1"));
    }
    login.assert();
    plans.assert();
}

fn validate(yaml: &str) -> (Option<i32>, String) {
    let validation = validate_yaml("openstack.yaml", yaml);
    (validation.code, validation.stdout)
}

/// The report of `validate` on `yaml`, which must be a refusal, and the file's path.
fn refused_by_validate(yaml: &str) -> (String, String, tempfile::TempDir) {
    let validation = validate_yaml("openstack.yaml", yaml);
    assert_eq!(validation.code, Some(1), "{}", validation.stdout);
    let file = validation.file.display().to_string();
    (validation.stdout, file, validation.dir)
}

fn line_of(yaml: &str, needle: &str) -> usize {
    yaml[..yaml.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn validate_knows_the_login_keys() {
    let (code, stdout) = validate(&openstack_yaml());
    assert_eq!(code, Some(0), "{stdout}");

    let yaml = openstack_yaml().replace(
        "    expires: $.token.expires_at\n",
        "    expire_seconds: 600\n",
    );
    let (stdout, file, _dir) = refused_by_validate(&yaml);
    assert!(stdout.contains("expires_seconds"), "did you mean: {stdout}");
    let line = line_of(&yaml, "expire_seconds");
    assert!(stdout.contains(&format!("{file}:{line}:")), "{stdout}");

    let yaml = openstack_yaml().replace("{{session.token}}", "{{session.tokn}}");
    let (stdout, file, _dir) = refused_by_validate(&yaml);
    assert!(stdout.contains("did you mean `token`?"), "{stdout}");
    let line = line_of(&yaml, "session.tokn");
    assert!(stdout.contains(&format!("{file}:{line}:")), "{stdout}");
}
