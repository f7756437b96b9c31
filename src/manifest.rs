//! The provider file as written: serde structs that mirror the YAML one to one.
//!
//! Rules: every struct denies unknown keys (a misspelt key must never be silently ignored);
//! nothing here is checked beyond its type: JSONPath, templates and ids are checked when
//! [`crate::plan`] compiles these structs. The JSON Schema of the provider file is derived
//! from these types, so the doc comments here are what editors show to hosters.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub use crate::protocol::TaskStatus;

/// A provider file: how to order servers from one hoster.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The provider's name; when given it must equal the file name without `.yaml`.
    #[serde(default)]
    pub name: Option<String>,
    /// A line for people: who the hoster is, what this file orders.
    #[serde(default)]
    pub description: Option<String>,
    /// `enabled` (the default) or `disabled`: a disabled provider is hidden by the panel.
    #[serde(default)]
    pub status: ProviderStatus,
    /// Secrets this provider needs, by name. Values come from the site's secrets file
    /// (`name=value` lines) or, for development, from the environment variable named in `env`.
    /// Templates read them as `{{secrets.NAME}}`.
    #[serde(default)]
    pub secrets: IndexMap<String, SecretDecl>,
    /// Site settings with their defaults (region, image, plan range...): `region: fsn1`, or
    /// with a description for the operator, `region: { default: fsn1, description: "..." }`.
    /// The site's secrets file may override any of them with a `name=value` line; a setting
    /// whose default is `~` must be set there (an empty `name=` leaves it unset). Templates
    /// read `{{settings.NAME}}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, SettingDecl>")]
    pub settings: IndexMap<String, Value>,
    /// How to talk to the hoster's API.
    pub api: Api,
    /// What the panel may order.
    pub configs: Configs,
    /// How to order a server.
    pub order: Order,
    /// How to follow an order until the server is ready.
    pub order_status: OrderStatus,
    /// What to send, once, when an order fails after the hoster created the server (it
    /// reported an error, or the order outlived `order_status.give_up_after_minutes`): usually
    /// a `DELETE` of the server, so a broken machine does not keep billing. Without it, a
    /// failed server is left for the operator to delete.
    #[serde(default)]
    pub cleanup: Option<Cleanup>,
}

/// The requests that delete a server whose order failed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cleanup {
    /// Template; the cleanup is sent only when it renders to anything but empty, `false`, `0`
    /// or `null`. Name a setting (`"{{settings.delete_failed_servers}}"`) so the operator can
    /// turn it off with a `delete_failed_servers=false` line in the site's secrets file.
    #[serde(default)]
    pub when: Option<String>,
    /// Requests sent in order (templates see `task`, `config`, `saved`); never retried.
    pub steps: Vec<Step>,
}

/// Whether the provider is switched on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    #[default]
    Enabled,
    Disabled,
}

/// A secret the provider needs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretDecl {
    /// An environment variable that may supply the secret when the secrets file does not
    /// (development only: the panel runs plugins through sudo, which drops the environment).
    #[serde(default)]
    pub env: Option<String>,
    /// What the secret is and where the operator gets it.
    #[serde(default)]
    pub description: Option<String>,
}

/// A site setting: its default as it is (`region: fsn1`), or described (`region: { default:
/// fsn1, description: "..." }`). A map with a `description` key is the described form (so
/// it may have no key but `default`); any other value, a map or list too, is a default.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum SettingDecl {
    Described(DescribedSetting),
    Plain(Value),
}

/// A setting with what it is for.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedSetting {
    /// The default; `~` or left out: the site must set it.
    #[serde(default)]
    pub default: Value,
    /// What the setting is and which values it takes; `install` writes it into the site's
    /// secrets file as comment lines above the setting.
    pub description: String,
}

impl SettingDecl {
    /// The setting written as `value`: a map with a `description` key is the described form
    /// (read here, not by serde's `untagged`, which would read a list `[standard, dedicated]`
    /// as the described form's fields in order). Gives serde's reason when it is not.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Object(map) if map.contains_key("description") => {
                DescribedSetting::deserialize(value)
                    .map(SettingDecl::Described)
                    .map_err(|e| e.to_string())
            }
            _ => Ok(SettingDecl::Plain(value.clone())),
        }
    }

    /// The default value (`null`: none, the site must set it).
    pub fn default_value(&self) -> &Value {
        match self {
            SettingDecl::Described(d) => &d.default,
            SettingDecl::Plain(v) => v,
        }
    }

    /// What the setting is for, when the file says.
    pub fn description(&self) -> Option<&str> {
        match self {
            SettingDecl::Described(d) => Some(&d.description),
            SettingDecl::Plain(_) => None,
        }
    }
}

/// The hoster's API.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Base URL that request paths are appended to, e.g. `https://api.example.com/v1`. It may
    /// be a template over `settings` (`"{{settings.auth_url}}"`, for an API whose address
    /// differs per site), filled in as written: a setting's `/` stays a `/`.
    /// `$VPS_PROVIDER_BASE_URL` replaces it for one run (staging APIs, mock servers).
    pub base_url: String,
    /// Other base URLs, by name, for APIs whose parts live at different addresses (identity
    /// and compute, billing and servers): a request sends to one with `endpoint: NAME`
    /// (without it, to `base_url`). Each is a template over `settings` and, with a login,
    /// `session` (the values `api.login.extract` took from the login's answer, e.g. a service
    /// catalog), filled in as written and checked like `base_url` (`https://`, or loopback)
    /// each time it is used. `$VPS_PROVIDER_BASE_URL` replaces the scheme, host and port of
    /// each (its path stays), so one mock on loopback serves them all.
    #[serde(default)]
    pub endpoints: IndexMap<String, String>,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// A login request whose answer holds a session token, for APIs that hand one out
    /// (OpenStack Keystone, OAuth2 client credentials, billing panels). `api.auth` then sends
    /// it as `{{session.token}}`, e.g. `auth: { header: { name: X-Auth-Token, value:
    /// "{{session.token}}" } }`. The token is kept in the state folder until it expires.
    // The schema says `Login`, not "`Login` or null": a misspelt key inside is then an
    // unknown key with a "did you mean".
    #[serde(default)]
    #[schemars(with = "Login")]
    pub login: Option<Login>,
    /// The hoster's clock, for APIs that sign requests with a timestamp they check against
    /// their own time (e.g. `{ request: { path: /auth/time }, time: $ }`). When a
    /// request's templates use `{{clock.*}}`, this request is sent once per run (without
    /// `api.auth`) and `clock.*` is the hoster's time; without it, `clock.*` is this
    /// machine's.
    #[serde(default)]
    #[schemars(with = "Clock")]
    pub clock: Option<Clock>,
    /// Headers sent with every request (values are templates; they may sign the request with
    /// `{{request.*}}`, `{{clock.*}}` and the digest helpers).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// JSONPath of the hoster's error text in a failed answer, e.g. `$.error.message`.
    /// A path that matches several strings (a list of errors) joins them with `; `.
    #[serde(default)]
    pub error_message: Option<String>,
    /// JSONPath that finds an error inside an answer whose status says success, for APIs
    /// that answer every error with a 200 and an error object (RPC-style billing panels:
    /// `error_when: $.doc.error`). The answer is a failure when the path finds anything but
    /// `null` or `false`; the failure's text is then taken with `error_message` (or is what
    /// the path found). A step's own `error_when` replaces this one.
    #[serde(default)]
    pub error_when: Option<String>,
    /// HTTP statuses that mean failure, as codes and ranges (default `["300-599"]`). Any
    /// other status is an answer to read: `["300-403", "405-599"]` lets a 404 through, for
    /// a hoster that answers 404 while a server is still being created.
    #[serde(default)]
    pub failure_statuses: Option<Vec<StatusRange>>,
    /// Seconds the whole verb may take, all requests and retries included (default 60, at
    /// most 600: the panel waits for the plugin with no timeout of its own).
    #[serde(default)]
    pub deadline_seconds: Option<u64>,
    /// Largest answer accepted, in bytes (default 8 MiB, at most 256 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
    /// A read-only request that `vps-provider check` sends to test the token and the base URL
    /// (e.g. `{ path: /account }`). Without it, `check` fetches the plan list.
    #[serde(default)]
    pub check: Option<Request>,
}

/// The login that gets a session token: sent before the first request that needs the token,
/// again when the kept one has expired, the credentials or settings changed, or a request was
/// refused with 401 (once per run).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The login request (templates see `settings` and `secrets`), e.g. `{ method: POST,
    /// path: /v3/auth/tokens, json: {...} }`. It is sent without `api.auth`.
    pub request: Request,
    /// Where the token is in the answer: a JSONPath (`$.access_token`) or another part
    /// (`{ header: X-Subject-Token }`).
    pub token: Extract,
    /// Where the token's expiry is in the answer: seconds from now (`$.expires_in`) or an
    /// RFC 3339 time (`$.token.expires_at`). Without it, or when the answer has none,
    /// `expires_seconds` applies.
    #[serde(default)]
    pub expires: Option<Extract>,
    /// How long a token lasts when the answer does not say, in seconds (default 3600, 60 to
    /// 2592000). A kept token is used only while it outlasts
    /// `api.deadline_seconds` by a minute; else the run logs in again.
    #[serde(default)]
    pub expires_seconds: Option<u64>,
    /// A JSONPath over any answer: when it matches (a value other than `null` or `false`),
    /// the hoster says the session ended, as a 401 does: the token is renewed once and a read
    /// sent again (a request that buys never is). For APIs that answer an ended session with
    /// 200 and an error inside, e.g. `"$.doc.error[?@['$type'] == 'auth']"`.
    #[serde(default)]
    pub renew_when: Option<String>,
    /// More values to take from the login's answer, kept with the token while it is valid:
    /// name → a JSONPath or another part of the answer, as in a step's `extract`. Templates of
    /// `api.auth` and `api.endpoints` read them as `{{session.NAME}}` (OpenStack: the service
    /// catalog, `compute: "$.token.catalog[?@.type == 'compute'].endpoints"`).
    #[serde(default)]
    pub extract: IndexMap<String, Extract>,
}

/// Where the hoster tells its time: a read-only request and the place of the time in its
/// answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// The request, e.g. `{ path: /auth/time }` (a GET; templates see `settings` and
    /// `secrets`). It is sent without `api.auth`.
    pub request: Request,
    /// Where the time is in the answer: a JSONPath (`$` for an answer that is the bare
    /// number, `$.serverTime`) or another part (`{ header: Date }`). The value is unix
    /// seconds (a number or a text of digits), an RFC 3339 time or an HTTP date.
    pub time: Extract,
}

/// An HTTP status code (`404`) or an inclusive range (`"500-599"`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusRange {
    Code(u16),
    Range(String),
}

/// How requests authenticate: exactly one of the keys. Every value is a template, usually
/// naming a secret.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `Authorization: Bearer <value>`, e.g. `bearer: "{{secrets.token}}"`.
    #[serde(default)]
    pub bearer: Option<String>,
    /// A header of the hoster's choosing, e.g. `{ name: X-API-Key, value: "{{secrets.key}}" }`.
    #[serde(default)]
    pub header: Option<NamedValue>,
    /// A query parameter, e.g. `{ name: api_key, value: "{{secrets.key}}" }`.
    #[serde(default)]
    pub query: Option<NamedValue>,
    /// HTTP basic auth.
    #[serde(default)]
    pub basic: Option<BasicAuth>,
}

/// A name and a templated value.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedValue {
    pub name: String,
    pub value: String,
}

/// HTTP basic auth credentials (templates).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

/// What the panel may order: exactly one of `static` (a fixed list) or `fetch` (built from
/// the hoster's plan list).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Configs {
    /// A fixed list: `configs: { static: [ {id, descr, vars}, ... ] }`.
    #[serde(default, rename = "static")]
    pub static_list: Option<Vec<StaticConfig>>,
    /// Fetched from the hoster on every `configs` and `order`.
    #[serde(default)]
    pub fetch: Option<Box<FetchConfigs>>,
}

/// One orderable configuration, written out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// The id the panel passes to `order`: a letter or digit, then letters, digits, `_`, `.`,
    /// `-`; at most 64 characters. The panel sorts ids numerically, so digits are best.
    pub id: String,
    /// The line the panel shows to the person ordering.
    pub descr: String,
    /// Values the order request needs (`{{config.NAME}}`).
    #[serde(default)]
    pub vars: IndexMap<String, Value>,
}

/// Configurations built from the hoster's plan list.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchConfigs {
    /// The request that lists plans.
    pub request: Request,
    /// How to get the next page, when the list is paginated.
    #[serde(default)]
    pub pages: Option<Pages>,
    /// Where the plans are in the answer: a JSONPath whose every match is a plan
    /// (`$.server_types[*]`), `{ entries: $.servers }` for plans keyed by name, or
    /// `{ one_or_many: $.doc.elem }` for an answer that drops the list around a single plan.
    pub items: Items,
    /// Template over `item` (and `also`, `combine`); a plan is kept when it renders to
    /// anything but empty, `false`, `0` or `null`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Template of the config id from `item` (and `combine`): it must be unique and stable
    /// across refreshes, e.g. `"{{item.id}}"` or, for plans named and offered per region,
    /// `"{{item.key}}.{{combine.region}}"`. The panel sorts ids as numbers: prefer digits.
    pub id: String,
    /// Template of the line shown to people, from `item`.
    pub descr: String,
    /// Values the order request needs, rendered from `item` (`{{config.NAME}}`).
    #[serde(default)]
    pub vars: IndexMap<String, Value>,
    /// Other lists joined to each plan by key, by name: `also.NAME` in `filter`, `id`,
    /// `descr` and `vars` is the element of that list whose `key` equals the plan's `match`
    /// (`null` when none does). For prices, images or regions that live in other endpoints.
    #[serde(default)]
    pub also: IndexMap<String, Also>,
    /// Lists to offer every plan with, by name: each plan is offered once per element of
    /// each list (plan × region × ...), and templates read that element as `combine.NAME`.
    #[serde(default)]
    pub combine: IndexMap<String, Combine>,
    /// Minutes a fetched menu is reused before the hoster is asked again (default 10, at most
    /// 1440; 0 asks every time), so opening the order wizard does not wait on the hoster.
    #[serde(default)]
    pub cache_minutes: Option<u64>,
    /// Minutes an older menu is still shown when the hoster cannot be reached or fails
    /// (default 1440, a day; at most 10080; 0 never).
    #[serde(default)]
    pub stale_minutes: Option<u64>,
}

/// Where the elements of a list are in an answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Items {
    /// JSONPath whose every match is one element, e.g. `$.server_types[*]`.
    Path(String),
    /// The path names a value of a known shape.
    Shaped(ItemsShape),
}

/// A JSONPath and the shape of the value it names: exactly one of the keys.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsShape {
    /// JSONPath of an object keyed by name (`{"DEV1-S": {...}, "GP1-XS": {...}}`): each
    /// entry is one element, seen as `item.key` (the name) and `item.value` (what it holds).
    #[serde(default)]
    pub entries: Option<String>,
    /// JSONPath of one element or an array of them (RPC answers such as BILLmanager's
    /// `out=json` give a lone element as an object): an object is one element, an array is
    /// many, nothing or `null` is none.
    #[serde(default)]
    pub one_or_many: Option<String>,
}

/// A list joined to each plan by key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Also {
    /// The request (`GET`, templates see `settings` and `secrets`) that gives the list;
    /// sent once per menu.
    pub request: Request,
    /// Where the list's elements are in the answer (as in `configs.fetch.items`).
    pub items: Items,
    /// How to follow the list's pages (as in `configs.fetch.pages`).
    #[serde(default)]
    pub pages: Option<Pages>,
    /// Template over `item`, an element of this list: its key, e.g. `"{{item.plan_id}}"`.
    /// Two elements with the same key are an error.
    pub key: String,
    /// Template over the plan (`item`, `combine`): the key of the element it takes, e.g.
    /// `"{{item.id}}"`.
    #[serde(rename = "match")]
    pub matches: String,
}

/// A list whose every element is offered with every plan: exactly one of `list` and
/// `request`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Combine {
    /// The elements written out, e.g. `[fr-par-1, nl-ams-1]`.
    #[serde(default)]
    pub list: Option<Vec<Value>>,
    /// The request (`GET`) that gives the list; sent once per menu.
    #[serde(default)]
    pub request: Option<Request>,
    /// With `request`: where the list's elements are in the answer.
    #[serde(default)]
    pub items: Option<Items>,
    /// With `request`: how to follow the list's pages (as in `configs.fetch.pages`).
    #[serde(default)]
    pub pages: Option<Pages>,
}

/// How to follow a paginated list: exactly one of `next`, `link`, `page` and `offset`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pages {
    /// The next page is named in the body: the JSONPath of a URL or path on the API's host
    /// (`$.links.pages.next`), or, with `param`, of a value for that query parameter (a page
    /// number or a cursor, `$.meta.next_cursor`). Nothing, `null`, `false` or an empty string
    /// ends the list.
    #[serde(default)]
    pub next: Option<String>,
    /// With `next`: the query parameter that takes the value found there.
    #[serde(default)]
    pub param: Option<String>,
    /// The next page is the `Link` response header's target of this relation (RFC 8288),
    /// usually `next`: `Link: <https://api.example.com/v1/types?page=2>; rel="next"`. No such
    /// link ends the list.
    #[serde(default)]
    pub link: Option<String>,
    /// Page numbers: the query parameter of the page number (`page`), counting from 1; the
    /// first request is sent as written, then pages 2, 3, ... With `count` or `total`.
    #[serde(default)]
    pub page: Option<String>,
    /// Offsets: the query parameter of how many items to skip (`offset`); the first request
    /// is sent as written, then each page skips the items read so far. An empty page, or
    /// `total` items read, ends the list.
    #[serde(default)]
    pub offset: Option<String>,
    /// With `page`: where the answer says how many pages there are (`$.pages`, or
    /// `{ header: X-Total-Pages }`).
    #[serde(default)]
    pub count: Option<Extract>,
    /// With `page` or `offset`: where the answer says how many items there are in all
    /// (`$.meta.total`, or `{ header: X-Total-Count }`); the list ends once that many are read.
    #[serde(default)]
    pub total: Option<Extract>,
    /// At most this many pages are read (default 20, 1 to 1000); a list that goes on is an
    /// error, not a shorter menu.
    #[serde(default)]
    pub max: Option<u64>,
}

/// One HTTP request. Every string in it is a template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET` (the default), `POST`, `PUT`, `PATCH` or `DELETE`. Only `GET` is ever retried.
    #[serde(default)]
    pub method: Method,
    /// Which of `api.endpoints` the request goes to (default: `api.base_url`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path appended to the base URL, e.g. `/servers/{{saved.server_id}}`.
    pub path: String,
    /// Query parameters.
    #[serde(default)]
    pub query: IndexMap<String, String>,
    /// Extra headers for this request. Header names match in any letter case: one written
    /// here replaces the same header from `api.headers`, and a `Content-Type` or `Accept`
    /// written in either replaces the default (`Accept: application/json`, the body's type).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A JSON body written as YAML, sent as `application/json`. String leaves are templates;
    /// a leaf that is exactly one `{{path}}` keeps the type of the value it names (a number
    /// stays a number). A key written with a final `?` (`zone?:`) is left out when its value
    /// is null or empty. A request has at most one of `json`, `form` and `body`.
    #[serde(default)]
    pub json: Option<Value>,
    /// A form body written as a flat YAML map, sent as `application/x-www-form-urlencoded`
    /// (RPC-style billing panels). Leaves are templates as in `json`, and `key?:` is left out
    /// when null or empty; every name and value is percent-encoded. A list sends its key once
    /// per item (`ids: [1, 2]` → `ids=1&ids=2`; write the key as `ids[]` if the API wants
    /// that); a null is an empty value. Maps and lists of lists are refused: send those as
    /// `json`.
    #[serde(default)]
    pub form: Option<IndexMap<String, Value>>,
    /// A body sent exactly as its template renders, e.g. a cloud-init `user_data` the API
    /// takes as `text/plain`: `body: { content_type: text/plain, text: "..." }`.
    // The schema says `RawBody`, not "`RawBody` or null": a misspelt key inside is then an
    // unknown key with a "did you mean", not "matches none of the schemas".
    #[serde(default)]
    #[schemars(with = "RawBody")]
    pub body: Option<RawBody>,
}

/// A body sent as written: no quoting, no encoding.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBody {
    /// The body's `Content-Type` (default `text/plain; charset=utf-8`). A `Content-Type` in
    /// `headers` or `api.headers` replaces it.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Template of the body, sent byte for byte as it renders (a YAML block scalar `|` keeps
    /// its lines and the final line break).
    pub text: String,
}

/// HTTP methods a provider may use.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// A request and what to take from its answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub request: Request,
    /// `buys: true` marks the order step that buys the server: it is never retried, a
    /// failure before it means nothing was bought, and a failure on it without a clear
    /// refusal may have bought one. Needed when two or more order steps are not `GET` (a
    /// login `POST`, then the purchase); with one non-`GET` step and no marker, that step
    /// buys. At most one step has it; only `order` steps may.
    #[serde(default)]
    pub buys: bool,
    /// Replaces `api.error_when` for this step's answer (same rules).
    #[serde(default)]
    pub error_when: Option<String>,
    /// Replaces `api.error_message` for this step's answer (same rules).
    #[serde(default)]
    pub error_message: Option<String>,
    /// Values to take from the answer: name → a JSONPath over its body (`$.server.id`), or a
    /// map naming another part of the answer (`{ header: Location }`, `{ status: true }`). What
    /// is not there gives `null`. In `order` they are kept with the task (`{{saved.NAME}}`);
    /// in `order_status` they are read as `{{polled.NAME}}`. The body must be JSON only when a
    /// value is taken from it.
    #[serde(default)]
    pub extract: IndexMap<String, Extract>,
    /// Sends this `GET` again until its answer says the hoster is done (`until`), for an
    /// operation or action to finish or a server to stop: e.g. `repeat: { until: $.done }`.
    /// Allowed in `order` after the step that buys (the purchase is never resent) and in
    /// `cleanup`; never past the verb's deadline (`api.deadline_seconds`).
    #[serde(default)]
    #[schemars(with = "Repeat")]
    pub repeat: Option<Repeat>,
}

/// How a step waits: its `GET` is sent again, `every_seconds` apart, until `until` matches,
/// at most `attempts` times and `seconds` long, and always ending before the verb's deadline.
/// When a bound passes first, an order hands its task to the panel (polls follow it; the
/// steps after the wait are not sent and their values are `null`), and a cleanup goes on
/// from this step on a later poll.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// JSONPath over the answer's body: done when it finds anything but `null` or `false`,
    /// like `error_when`. `$.done` (an operation), `$[?@.status == 'off']` (the answer's
    /// object, e.g. `{"server": {"status": "off"}}`, whose `status` is `off`).
    pub until: String,
    /// Seconds between two requests (default 2, 1 to 60).
    #[serde(default)]
    pub every_seconds: Option<u64>,
    /// Requests sent at most, the first included (default 30, 1 to 1000).
    #[serde(default)]
    pub attempts: Option<u64>,
    /// Seconds the wait may take at most (default and most: 600; the verb's deadline ends it
    /// sooner).
    #[serde(default)]
    pub seconds: Option<u64>,
}

/// Where an extracted value comes from. The short form, a string, is a JSONPath over the
/// answer's body, as it always was, so every older file keeps its meaning; the long form, a
/// map with exactly one of `body`, `header` and `status`, reaches the rest of the answer and
/// may cut the value with a `pattern`. A map, not a prefix inside the string, because YAML
/// checks its keys: a misspelt `hedaer:` is an unknown key with a "did you mean", and no
/// JSONPath can be mistaken for a header name.
#[derive(Debug)]
pub enum Extract {
    /// A JSONPath over the answer's body, e.g. `$.server.id`.
    Body(String),
    /// Another part of the answer, e.g. `{ header: Location, pattern: "/servers/([^/?]+)" }`.
    Part(AnswerPart),
}

/// A part of the answer: exactly one of `body`, `header` and `status`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerPart {
    /// A JSONPath over the answer's body (the same as the short form).
    #[serde(default)]
    pub body: Option<String>,
    /// A response header, by name in any letter case (`Location`, `X-Subject-Token`); `null`
    /// when the answer has none. A header whose name says it is secret (`token`, `key`...) is
    /// hidden in messages and traces like a value whose name does.
    #[serde(default)]
    pub header: Option<String>,
    /// `status: true` takes the answer's HTTP status code, as a number (`201`).
    #[serde(default)]
    pub status: Option<bool>,
    /// A regular expression applied to the value found, as text: the value becomes its first
    /// group (or the whole match when it has no group), or `null` when it does not match.
    /// E.g. `pattern: "/servers/([^/?]+)"` takes `42` from `Location: /servers/42`.
    #[serde(default)]
    pub pattern: Option<String>,
}

impl JsonSchema for Extract {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Extract".into()
    }

    /// One schema that is a string or the map, rather than `anyOf` the two: a misspelt key in
    /// the map is then reported as an unknown key with a "did you mean".
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = AnswerPart::json_schema(generator);
        schema.insert("type".into(), serde_json::json!(["string", "object"]));
        schema.insert(
            "description".into(),
            "A JSONPath over the answer's body (`$.server.id`), or a map with exactly one of \
             `body`, `header` and `status: true`, and maybe a `pattern`."
                .into(),
        );
        schema
    }
}

impl<'de> Deserialize<'de> for Extract {
    /// By hand rather than `untagged`: serde's untagged enums drop the inner error, and a
    /// misspelt key in the map must still be named, with its place and a "did you mean".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Extract;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSONPath like `$.server.id` or a map like `{ header: Location }`")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Extract, E> {
                Ok(Extract::Body(text.to_owned()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Extract, M::Error> {
                AnswerPart::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Extract::Part)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// How to order a server.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// Requests sent in order; the one with `buys: true` (or, when no step says so, the only
    /// one that is not a `GET`) buys the server and is never retried. Each may use what the
    /// earlier ones extracted (`{{saved.NAME}}`).
    pub steps: Vec<Step>,
    /// Template of the hoster's id of the new server, e.g. `{{saved.server_id}}`; an empty
    /// result fails the order.
    pub hoster_id: String,
}

/// How to follow an order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStatus {
    /// Read-only requests sent on every poll.
    pub steps: Vec<Step>,
    /// How the hoster's state becomes `in_progress`, `finished` or `error`.
    pub status: StatusRule,
    /// Template of the server's address. `finished` waits until it is a real address.
    pub server: String,
    /// Template of root's password: `{{saved.NAME}}` (kept from the order answer),
    /// `{{password}}` (generated at order time), or `{{polled.NAME}}` (from this answer).
    pub server_password: String,
    /// Ready means reachable: `finished` also waits until the server accepts TCP connections
    /// on its SSH port (the panel connects as root the moment it reads `finished`, and fails
    /// the task for good if it cannot). `ssh_check: {}` checks port 22. The variable
    /// `VPS_PROVIDER_SSH_CHECK=off` or `vps-provider run --no-ssh-check` turns it off for a run
    /// against a staging API or a mock.
    #[serde(default)]
    pub ssh_check: Option<SshCheck>,
    /// Minutes an order may stay `in_progress`, counted from the order (default 30, at most
    /// 10080). Past that, polls answer `error` with what the hoster last reported.
    #[serde(default)]
    pub give_up_after_minutes: Option<u64>,
}

/// How to tell that a server's SSH port is open.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshCheck {
    /// The port to connect to (default 22).
    #[serde(default)]
    pub port: Option<u16>,
    /// Seconds one connection attempt may take (default 3, at most 30; always within the
    /// verb's deadline).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Maps the hoster's state to the panel's.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRule {
    /// Template of the hoster's state, e.g. `{{polled.status}}` or, when it takes several
    /// fields, `{{polled.status}}/{{polled.power}}`.
    pub value: String,
    /// The hoster's states and what they mean. A `*` in a key matches any text; exact keys
    /// win, then patterns in the order written.
    pub map: IndexMap<String, TaskStatus>,
    /// What a state not in `map` means: `in_progress`, `error`, or `unexpected` (the
    /// default: the poll answers an error object naming the state, and later polls try again).
    #[serde(default)]
    pub otherwise: Otherwise,
}

/// What an unmapped hoster state means.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    InProgress,
    Error,
    #[default]
    Unexpected,
}
