//! The shipped ISPsystem BILLmanager provider file, end to end through the real binary, against
//! a mock of a hoster's BILLmanager (`/billmgr?func=...&out=json`) on 127.0.0.1 answering with
//! fixtures made from ISPsystem's documentation and public clients. Every answer is a 200: the
//! errors are inside (`doc.error`), the session comes from `func=auth`, and the order's answer
//! holds no id, so the new service is found in `func=vds` by the domain the order sent.

mod common;

use common::{
    Plugin, Run, assert_error_says, assert_failed, assert_polls_until_finished,
    assert_rate_limited, disabled_configs, enabled_descrs as descrs, help_reply, operator, pair,
    rate_limited, repo_file, status, task_id,
};
use mockito::{Matcher, Mock, Server};
use std::sync::{Arc, Mutex};

/// The session id in `auth.json`.
const SESSION: &str = "9f3c2b1a0d8e7f6a5b4c3d2e";
const PASSWORD: &str = "Acc0unt-Pw-77";
/// What a site fills in besides its panel's address: the login, its password, and the two
/// values that differ per hoster.
const SECRETS: &str = "username=client@example.com\npassword=Acc0unt-Pw-77\ndatacenter=1\nostempl=ISPsystem__AlmaLinux-9-amd64\n";
/// The domain of the new service in the `vds-*` fixtures, replaced by the one the order sent.
const FIXTURE_DOMAIN: &str = "vps-provider-test.example.com";
/// The fixtures' new service.
const ELID: &str = "4242";

fn fixture(name: &str) -> String {
    common::hoster_fixture("billmgr", name)
}

/// The shipped file as it is, with `secrets` in the site's secrets file and no
/// `$VPS_PROVIDER_BASE_URL`: every request goes where the site's `panel_url` says.
fn site(secrets: &str) -> Plugin {
    let plugin = Plugin::shipped("billmgr", "").secrets(secrets);
    // Without the override a file that named an address of its own would be sent there.
    let shipped = std::fs::read_to_string(plugin.provider_file()).unwrap();
    assert!(
        shipped.contains("\n  base_url: \"{{settings.panel_url}}\"\n"),
        "the shipped file sends every request to the site's panel_url"
    );
    plugin.without_env("VPS_PROVIDER_BASE_URL")
}

/// The site whose `panel_url` is the mock, with `SECRETS` and then `more`.
fn site_at(server: &Server, more: &str) -> Plugin {
    site(&format!("panel_url={}\n{SECRETS}{more}", server.url()))
}

fn plugin(server: &Server) -> Plugin {
    site_at(server, "")
}

/// `func=<func>` with the session, as a GET; not created yet.
fn get(server: &mut Server, func: &str) -> Mock {
    server
        .mock("GET", "/billmgr")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("func".into(), func.into()),
            Matcher::UrlEncoded("out".into(), "json".into()),
            Matcher::UrlEncoded("auth".into(), SESSION.into()),
        ]))
}

/// `func=<func>` with the session, as a form POST; not created yet.
fn post(server: &mut Server, func: &str) -> Mock {
    server
        .mock("POST", "/billmgr")
        .match_query(Matcher::UrlEncoded("auth".into(), SESSION.into()))
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(Matcher::UrlEncoded("func".into(), func.into()))
}

/// The login, answered with `answer`: the credentials in a form body, never in the URL.
fn login(server: &mut Server, answer: &str) -> Mock {
    server
        .mock("POST", "/billmgr")
        .match_query(Matcher::Missing)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(
            format!("func=auth&out=json&username=client%40example.com&password={PASSWORD}")
                .as_str(),
        )
        .with_body(fixture(answer))
        .create()
}

fn pricelist(server: &mut Server, answer: &str) -> Mock {
    get(server, "pricelist.export")
        .with_body(fixture(answer))
        .create()
}

/// A mock hoster that logs in and lists the tariffs of `tariffs`.
fn serving(tariffs: &str) -> (mockito::ServerGuard, [Mock; 2]) {
    let mut server = Server::new();
    let mocks = [
        login(&mut server, "auth.json"),
        pricelist(&mut server, tariffs),
    ];
    (server, mocks)
}

/// The domain the order sent, shared between the order's mock and the service list's.
type Domain = Arc<Mutex<String>>;

/// The order, accepted (`order-ok.json`) once; keeps the form it got and the domain in it.
fn order_accepted(server: &mut Server, domain: &Domain) -> (Mock, Arc<Mutex<String>>) {
    let form = Arc::new(Mutex::new(String::new()));
    let (keep_form, keep_domain) = (form.clone(), domain.clone());
    let mock = post(server, "v2.vds.order.param")
        .with_body_from_request(move |request| {
            let body = String::from_utf8(request.body().unwrap().clone()).unwrap();
            let sent = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("domain="))
                .unwrap_or_default()
                .to_owned();
            *keep_domain.lock().unwrap() = sent;
            *keep_form.lock().unwrap() = body;
            fixture("order-ok.json").into_bytes()
        })
        .expect(1)
        .create();
    (mock, form)
}

/// `func=vds` answered `hits` times with the fixture `answer`, its new service carrying the
/// domain the order sent.
fn services(server: &mut Server, domain: &Domain, answer: &str, hits: usize) -> Mock {
    let (domain, body) = (domain.clone(), fixture(answer));
    get(server, "vds")
        .with_body_from_request(move |_| {
            body.replace(FIXTURE_DOMAIN, &domain.lock().unwrap())
                .into_bytes()
        })
        .expect(hits)
        .create()
}

/// `func=vds.edit&elid=4242` (the root password), answered with `answer`.
fn service_form(server: &mut Server, answer: &str) -> Mock {
    get(server, "vds.edit")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("func".into(), "vds.edit".into()),
            Matcher::UrlEncoded("elid".into(), ELID.into()),
            Matcher::UrlEncoded("auth".into(), SESSION.into()),
        ]))
        .with_body(fixture(answer))
        .create()
}

/// Logs in, orders tariff 277 and finds the new service (in `after_order`, the list right
/// after the order); gives the task id and the form the order sent.
fn order(
    plugin: &Plugin,
    server: &mut Server,
    domain: &Domain,
    after_order: &str,
) -> (String, String) {
    let _login = login(server, "auth.json");
    let _list = pricelist(server, "pricelist-many.json");
    let (ordered, form) = order_accepted(server, domain);
    let found = services(server, domain, after_order, 1);
    let run = plugin.run(&["order", "277"]);
    ordered.assert();
    found.assert();
    let form = form.lock().unwrap().clone();
    (task_id(&run), form)
}

/// A mock hoster, the site's plugin and the task of an order whose service list right after
/// the order is `after_order`.
struct Ordered {
    server: mockito::ServerGuard,
    domain: Domain,
    plugin: Plugin,
    task_id: String,
}

fn ordered(after_order: &str) -> Ordered {
    let mut server = Server::new();
    let domain = Domain::default();
    let plugin = plugin(&server);
    let (task_id, _) = order(&plugin, &mut server, &domain, after_order);
    Ordered {
        server,
        domain,
        plugin,
        task_id,
    }
}

/// What the panel gets once the fixtures' service is ready.
fn ready() -> (String, String, String) {
    (
        "finished".into(),
        "203.0.113.60".into(),
        "Invented-Root-Pass-42".into(),
    )
}

fn no_raw_answer(run: &Run) {
    for raw in ["{\"doc\"", "$type", "tparams"] {
        assert!(!run.stdout.contains(raw), "{raw} in {}", run.stdout);
    }
    for secret in [PASSWORD, SESSION] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{}{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn without_its_panel_url_it_is_disabled_and_a_plain_http_one_is_refused() {
    // No mock: without an address there is nowhere to send anything.
    let unnamed = site(SECRETS);
    assert_eq!(unnamed.run(&["help"]).ok(), &help_reply("disabled"));
    assert_eq!(unnamed.run(&["configs"]).ok(), &disabled_configs());
    let list = operator(&["list"], &unnamed.env);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("panel_url") && listed.contains("missing"),
        "{listed}"
    );
    assert!(!listed.contains("datacenter"), "{listed}");
    assert_eq!(
        site(&format!("panel_url=\n{SECRETS}")).run(&["help"]).ok(),
        &help_reply("disabled"),
        "an empty address is unset"
    );

    // The login's password must not travel in clear: a documentation address, never
    // contacted, refused before any request with the line of the file it fills in.
    let shipped = std::fs::read_to_string(repo_file("providers.d/billmgr.yaml")).unwrap();
    let line = 1 + shipped
        .lines()
        .position(|l| l.trim_start().starts_with("base_url:"))
        .unwrap();
    let plain = site(&format!(
        "panel_url=http://billing.hoster.example\n{SECRETS}"
    ));
    for verb in [&["configs"][..], &["order", "277"]] {
        let run = plain.run(verb);
        assert_error_says(
            &run,
            &[
                &format!("billmgr.yaml:{line}:"),
                "once filled in with the settings",
                "plain http",
                "check the settings this URL is made of",
            ],
        );
        assert!(!run.stdout.contains(PASSWORD), "{}", run.stdout);
    }
    // Refused before the order made a task: not even the task folder exists.
    assert!(!plain.state_dir().exists(), "nothing was ordered");
}

#[test]
fn help_follows_the_credentials_and_settings() {
    let mut server = Server::new();
    let untouched = [
        server.mock("GET", Matcher::Any).expect(0).create(),
        server.mock("POST", Matcher::Any).expect(0).create(),
    ];
    let panel = format!("panel_url={}\n", server.url());
    let with = |secrets: &str| site(&format!("{panel}{secrets}"));

    assert_eq!(with("").run(&["help"]).ok(), &help_reply("disabled"));
    let no_os = with("username=client@example.com\npassword=pw\ndatacenter=1\n");
    assert_eq!(no_os.run(&["help"]).ok(), &help_reply("disabled"));
    assert_error_says(&no_os.run(&["order", "277"]), &["ostempl"]);
    assert_eq!(with(SECRETS).run(&["help"]).ok(), &help_reply("enabled"));

    let mut from_env = with("username=client@example.com\ndatacenter=1\nostempl=x\n");
    from_env.env.push(("BILLMGR_PASSWORD".into(), "pw".into()));
    assert_eq!(from_env.run(&["help"]).ok(), &help_reply("enabled"));
    untouched.iter().for_each(Mock::assert);
}

#[test]
fn a_panel_under_a_path_is_asked_there() {
    let mut server = Server::new();
    let login = server
        .mock("POST", "/manager/billmgr")
        .match_body(Matcher::UrlEncoded("func".into(), "auth".into()))
        .with_body(fixture("auth.json"))
        .expect(1)
        .create();
    let list = server
        .mock("GET", "/manager/billmgr")
        .match_query(Matcher::UrlEncoded(
            "func".into(),
            "pricelist.export".into(),
        ))
        .with_body(fixture("pricelist-one.json"))
        .expect(1)
        .create();
    // As copied from the browser's address bar, with its final slash.
    let p = site(&format!("panel_url={}/manager/\n{SECRETS}", server.url()));
    assert_eq!(descrs(&p.run(&["configs"])).len(), 1);
    login.assert();
    list.assert();
}

#[test]
fn configs_log_in_once_and_offer_the_vds_tariffs() {
    let mut server = Server::new();
    let session = login(&mut server, "auth.json").expect(1);
    let list = pricelist(&mut server, "pricelist-many.json").expect(1);
    let run = plugin(&server).run(&["configs"]);
    assert_eq!(
        descrs(&run),
        [
            pair(
                "277",
                "Bitrix-env, Rocky Linux 9, VDS-1 (1 CPU, 1 GB RAM, 20 GB SSD), 390.00 RUB/month"
            ),
            pair(
                "278",
                "Bitrix-env, Rocky Linux 9, VDS-2 (2 CPU, 4 GB RAM, 40 GB SSD), 890.00 RUB/month"
            ),
        ]
    );
    no_raw_answer(&run);
    session.assert();
    list.assert();
}

#[test]
fn one_tariff_is_one_config() {
    let (server, _hoster) = serving("pricelist-one.json");
    let run = plugin(&server).run(&["configs"]);
    assert_eq!(
        descrs(&run),
        [pair(
            "277",
            "Bitrix-env, Rocky Linux 9, VDS-1 (1 CPU, 1 GB RAM, 20 GB SSD), 390.00 RUB/month"
        )]
    );
}

#[test]
fn order_sends_the_form_and_polls_the_service_it_finds_by_domain() {
    let mut server = Server::new();
    let domain = Domain::default();
    let p = plugin(&server);
    let (task_id, form) = order(&p, &mut server, &domain, "vds-list-processing.json");
    assert_eq!(
        form,
        format!(
            "func=v2.vds.order.param&out=json&pricelist=277&datacenter=1&order_period=1&period=1\
             &ostempl=ISPsystem__AlmaLinux-9-amd64&domain=bitrix-{task_id}.bitrix.internal\
             &autoprolong=1&skipbasket=on&sok=ok"
        )
    );
    assert_eq!(p.only_task()["hoster_id"], ELID, "{}", p.only_task());

    let polls = [
        services(&mut server, &domain, "vds-list-processing.json", 2),
        services(&mut server, &domain, "vds-list-active.json", 1),
        service_form(&mut server, "vds-edit.json").expect(3),
    ];
    assert_polls_until_finished(&p, &task_id, ready(), &polls);
}

#[test]
fn a_first_service_is_one_object_and_is_found_too() {
    let Ordered {
        mut server,
        domain,
        plugin: p,
        task_id,
    } = ordered("vds-list-one.json");
    assert_eq!(p.only_task()["hoster_id"], ELID);
    let _active = services(&mut server, &domain, "vds-list-one.json", 1);
    let _form = service_form(&mut server, "vds-edit.json");
    assert_eq!(status(&p.run(&["order_status", &task_id])), ready());
}

#[test]
fn a_build_still_processing_after_30_minutes_is_given_up_and_deleted_once() {
    let Ordered {
        mut server,
        domain,
        plugin: p,
        task_id,
    } = ordered("vds-list-processing.json");
    let _processing = services(&mut server, &domain, "vds-list-processing.json", 2);
    let _form = service_form(&mut server, "vds-edit.json");
    p.backdate_task(&task_id, 31);
    let deleted = post(&mut server, "vds.delete")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("elid".into(), ELID.into()),
            Matcher::UrlEncoded("sok".into(), "ok".into()),
        ]))
        .with_body(fixture("delete-ok.json"))
        .expect(1)
        .create();
    let failed = p.run(&["order_status", &task_id]);
    assert_failed(&failed, &task_id, &["given up after 30 minutes", "`5`"]);
    // The next poll answers from the task store: no second delete.
    assert_failed(&p.run(&["order_status", &task_id]), &task_id, &[]);
    deleted.assert();
    assert_eq!(p.only_task()["cleanup"], "done", "{}", p.only_task());
}

#[test]
fn a_suspended_service_is_an_error_and_a_refused_delete_is_recorded() {
    let Ordered {
        mut server,
        domain: _,
        plugin: p,
        task_id,
    } = ordered("vds-list-one.json");
    let suspended = fixture("vds-list-one.json").replace(
        r#""$orig": "2",
        "$": "Active""#,
        r#""$orig": "3",
        "$": "Suspended""#,
    );
    assert!(suspended.contains("Suspended"));
    let _list = get(&mut server, "vds").with_body(suspended).create();
    let _form = service_form(&mut server, "vds-edit.json");
    let refused = post(&mut server, "vds.delete")
        .with_body(fixture("error-access.json"))
        .expect(1)
        .create();
    let failed = p.run(&["order_status", &task_id]);
    assert_failed(&failed, &task_id, &["`3`"]);
    refused.assert();
    let task = p.only_task();
    assert!(
        task["cleanup_message"]
            .as_str()
            .is_some_and(|m| m.contains("Insufficient privileges to perform this operation")),
        "{task}"
    );
}

#[test]
fn a_wrong_password_is_the_hosters_words_and_orders_nothing() {
    let mut server = Server::new();
    let refused = login(&mut server, "error-auth.json").expect(2);
    let nothing = [
        get(&mut server, "pricelist.export").expect(0).create(),
        post(&mut server, "v2.vds.order.param").expect(0).create(),
    ];
    let p = plugin(&server);
    let configs = p.run(&["configs"]);
    assert_error_says(
        &configs,
        &[
            "the login to the hoster failed",
            "Invalid username or password",
        ],
    );
    no_raw_answer(&configs);
    let order = p.run(&["order", "277"]);
    // The order reads the tariffs first: it stops at the login, before any task exists.
    assert_error_says(
        &order,
        &[
            "the login to the hoster failed",
            "Invalid username or password",
        ],
    );
    no_raw_answer(&order);
    refused.assert();
    nothing.iter().for_each(Mock::assert);
}

#[test]
fn a_refused_order_is_the_hosters_words_and_nothing_was_bought() {
    for (answer, says) in [
        ("error-balance.json", "Insufficient funds on the account"),
        (
            "error-value.json",
            "The value of the field Operating system is invalid",
        ),
        (
            "error-missed.json",
            "Required field Tariff plan is not filled",
        ),
    ] {
        let (mut server, _hoster) = serving("pricelist-many.json");
        let refused = post(&mut server, "v2.vds.order.param")
            .with_body(fixture(answer))
            .expect(1)
            .create();
        let no_lookup = get(&mut server, "vds").expect(0).create();
        let p = plugin(&server);
        let run = p.run(&["order", "277"]);
        assert_error_says(
            &run,
            &[says, "nothing was bought (the hoster refused the order)"],
        );
        no_raw_answer(&run);
        refused.assert();
        no_lookup.assert();
        assert_eq!(p.only_task()["stage"], "refused");
    }
}

#[test]
fn an_unknown_service_is_an_error_in_the_hosters_words() {
    let Ordered {
        mut server,
        plugin: p,
        task_id,
        ..
    } = ordered("vds-list-one.json");
    let _list = get(&mut server, "vds")
        .with_body(fixture("vds-list-empty.json"))
        .create();
    let _form = service_form(&mut server, "error-not-found.json");
    let run = p.run(&["order_status", &task_id]);
    assert_error_says(&run, &["Object not found"]);
    no_raw_answer(&run);
}

#[test]
fn a_session_the_hoster_ended_is_renewed_once_and_the_poll_goes_on() {
    let Ordered {
        mut server,
        domain,
        plugin: p,
        task_id,
    } = ordered("vds-list-one.json");
    // The kept session is refused inside a 200 (`renew_when`): one new login, then the list
    // is read again with the new session.
    let ended = get(&mut server, "vds")
        .with_body(fixture("error-session.json"))
        .expect(1)
        .create();
    let relogin = login(&mut server, "auth.json").expect(1);
    let listed = services(&mut server, &domain, "vds-list-one.json", 1);
    let _form = service_form(&mut server, "vds-edit.json");
    assert_eq!(status(&p.run(&["order_status", &task_id])), ready());
    ended.assert();
    relogin.assert();
    listed.assert();

    // A session that ends again at once is reported in the hoster's words, after one renewal.
    let Ordered {
        mut server,
        plugin: p,
        task_id,
        ..
    } = ordered("vds-list-one.json");
    let again = get(&mut server, "vds")
        .with_body(fixture("error-session.json"))
        .expect(2)
        .create();
    let relogin = login(&mut server, "auth.json").expect(1);
    let run = p.run(&["order_status", &task_id]);
    assert_error_says(&run, &["Session expired or invalid", "session ended"]);
    no_raw_answer(&run);
    again.assert();
    relogin.assert();
}

#[test]
fn an_order_whose_service_is_not_listed_is_handed_out_for_the_console() {
    let mut server = Server::new();
    let domain = Domain::default();
    let p = plugin(&server);
    // The list right after the order shows only an older service.
    let (task_id, _) = order(&p, &mut server, &domain, "vds-list-empty.json");
    assert_eq!(p.only_task()["stage"], "unknown");
    let poll = p.run(&["order_status", &task_id]);
    assert_error_says(
        &poll,
        &["may have been ordered", "check the hoster's console"],
    );
}

#[test]
fn rate_limits_are_retried_on_reads_and_never_on_the_order() {
    let mut server = Server::new();
    let _login = login(&mut server, "auth.json");
    let busy = rate_limited(get(&mut server, "pricelist.export"), "Too Many Requests", 1);
    let list = pricelist(&mut server, "pricelist-many.json").expect(1);
    let p = plugin(&server);
    assert_eq!(descrs(&p.run(&["configs"])).len(), 2);
    busy.assert();
    list.assert();

    let limited = rate_limited(
        post(&mut server, "v2.vds.order.param"),
        "Too Many Requests",
        1,
    );
    let no_lookup = get(&mut server, "vds").expect(0).create();
    let run = p.run(&["order", "277"]);
    assert_rate_limited(&run, "Too Many Requests");
    limited.assert();
    no_lookup.assert();
}

#[test]
fn settings_in_the_secrets_file_change_the_menu_and_the_order() {
    let (mut server, _hoster) = serving("pricelist-many.json");
    let site = site_at(
        &server,
        "max_price=500\nos_name=AlmaLinux 9\norder_func=vds.order.param\nserver_domain=pool.example.com\nautoprolong=off\n",
    );
    assert_eq!(
        descrs(&site.run(&["configs"])),
        [pair(
            "277",
            "Bitrix-env, AlmaLinux 9, VDS-1 (1 CPU, 1 GB RAM, 20 GB SSD), 390.00 RUB/month"
        )]
    );
    // BILLmanager 5's order function, the site's domain and no renewal.
    let bm5 = post(&mut server, "vds.order.param")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("func".into(), "vds.order.param".into()),
            Matcher::UrlEncoded("autoprolong".into(), "off".into()),
            Matcher::Regex("&domain=bitrix-[0-9]+\\.pool\\.example\\.com&".into()),
        ]))
        .with_body(fixture("order-ok.json"))
        .expect(1)
        .create();
    let _found = get(&mut server, "vds")
        .with_body(fixture("vds-list-one.json"))
        .create();
    let run = site.run(&["order", "277"]);
    assert!(run.json["task_id"].is_string(), "{}", run.stdout);
    bm5.assert();
    // 278 costs 890: above the cap, it is not offered, and cannot be ordered.
    assert_error_says(&site.run(&["order", "278"]), &["offers no config `278`"]);
}
