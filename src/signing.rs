//! Signed requests: the digest helpers (`sha1`, `sha256`, `hmac_sha256`), the view of the
//! request as it goes out (`request.*`) and the clock (`clock.*`) that header and query
//! templates sign.
//!
//! Rules: a digest is taken over the exact bytes of its text; its output is text, lowercase
//! hex unless `out="base64"`; an HMAC key is the key's text unless `key="hex"` or
//! `key="base64"` says how the key's bytes are written (so the output of one `hmac_sha256`
//! can be the key of the next, as derived-key schemes chain them). A digest made from a
//! secret is hidden as one, like every helper's output. `request.*` exists only where the
//! request is known: header values and query values; `clock.*` in every request template.

use crate::redact;
use crate::template::text_of;
use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    Renderable, ScopedJson,
};
use serde_json::{Value, json};

/// The digest helpers, with the count of arguments each takes besides a block's text (a
/// block is the text: `{{#sha1}}...{{/sha1}}`, `{{#hmac_sha256 KEY}}...{{/hmac_sha256}}`).
pub const DIGEST_HELPERS: &[(&str, usize)] = &[("sha1", 1), ("sha256", 1), ("hmac_sha256", 2)];

/// The options a digest helper takes (`out="base64"`, `key="hex"`) and the values of each.
pub const DIGEST_OPTIONS: &[(&str, &[&str])] = &[
    ("out", &["hex", "base64"]),
    ("key", &["text", "hex", "base64"]),
];

/// What `request.*` holds.
pub const REQUEST_FIELDS: &[&str] = &["method", "url", "host", "path", "query", "body"];

/// What `clock.*` holds.
pub const CLOCK_FIELDS: &[&str] = &["unix", "rfc3339", "iso_basic", "date", "http"];

/// The problem with a digest helper's arguments and options as written, if any: `params` is
/// the count of positional arguments, `block` whether it is written as a block, `options`
/// its `name=value` options (`None` for a value that is not a literal text).
pub fn check_call(
    name: &str,
    params: usize,
    block: bool,
    options: &[(String, Option<String>)],
) -> Option<String> {
    let (_, takes) = DIGEST_HELPERS.iter().find(|(n, _)| *n == name)?;
    let wanted = if block { takes - 1 } else { *takes };
    let usage = match name {
        "hmac_sha256" => "`{{hmac_sha256 KEY TEXT}}` or `{{#hmac_sha256 KEY}}TEXT{{/hmac_sha256}}`",
        "sha1" => "`{{sha1 TEXT}}` or `{{#sha1}}TEXT{{/sha1}}`",
        _ => "`{{sha256 TEXT}}` or `{{#sha256}}TEXT{{/sha256}}`",
    };
    if params != wanted {
        return Some(format!(
            "`{name}` takes {wanted} argument(s){}, here it has {params}: write {usage}",
            if block { " besides its block" } else { "" }
        ));
    }
    for (option, value) in options {
        let Some((_, values)) = DIGEST_OPTIONS
            .iter()
            .find(|(o, _)| *o == option)
            .filter(|(o, _)| *o != "key" || name == "hmac_sha256")
        else {
            let known = if name == "hmac_sha256" {
                "`out` and `key`"
            } else {
                "`out`"
            };
            return Some(format!(
                "`{name}` has no option `{option}` (it takes {known}, e.g. `out=\"base64\"`)"
            ));
        };
        if !value.as_deref().is_some_and(|v| values.contains(&v)) {
            return Some(format!(
                "`{option}=` of `{name}` is one of {}, written as a quoted text",
                values
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    None
}

/// A digest helper: `name` says which.
pub struct DigestHelper(pub &'static str);

impl HelperDef for DigestHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        context: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let fail = |e: String| RenderErrorReason::Other(format!("`{}`: {e}", self.0));
        let mut args: Vec<Value> = helper.params().iter().map(|p| p.value().clone()).collect();
        if let Some(block) = helper.template() {
            args.push(Value::String(block.renders(registry, context, rc)?));
        }
        let option = |name: &str, default: &'static str| -> String {
            helper
                .hash_get(name)
                .map_or(default.to_owned(), |v| text_of(v.value()))
        };
        let digest = match (self.0, args.as_slice()) {
            ("sha1", [text]) => ring::digest::digest(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                text_of(text).as_bytes(),
            )
            .as_ref()
            .to_vec(),
            ("sha256", [text]) => {
                ring::digest::digest(&ring::digest::SHA256, text_of(text).as_bytes())
                    .as_ref()
                    .to_vec()
            }
            ("hmac_sha256", [key, text]) => {
                let key = key_bytes(&text_of(key), &option("key", "text")).map_err(fail)?;
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
                ring::hmac::sign(&key, text_of(text).as_bytes())
                    .as_ref()
                    .to_vec()
            }
            _ => {
                let (_, takes) = DIGEST_HELPERS
                    .iter()
                    .find(|(n, _)| *n == self.0)
                    .copied()
                    .unwrap_or_default();
                return Err(fail(format!("takes {takes} argument(s), not {}", args.len())).into());
            }
        };
        let encoded = match option("out", "hex").as_str() {
            "hex" => hex(&digest),
            "base64" => base64::engine::general_purpose::STANDARD.encode(&digest),
            other => {
                return Err(fail(format!(
                    "`out=\"{other}\"` is neither \"hex\" nor \"base64\""
                ))
                .into());
            }
        };
        // A signature made with a secret key, or over a text holding a secret, is hidden as
        // a secret, like everything a helper makes of one.
        if args
            .iter()
            .any(|arg| redact::contains_secret(&text_of(arg)))
        {
            redact::register(&encoded);
        }
        Ok(ScopedJson::Derived(Value::String(encoded)))
    }
}

/// The bytes of an HMAC key written as `how` (`text`, `hex`, `base64`). The key is not quoted
/// in the error: it is a secret.
fn key_bytes(key: &str, how: &str) -> Result<Vec<u8>, String> {
    match how {
        "text" => Ok(key.as_bytes().to_vec()),
        "hex" => {
            let digits = key.trim().as_bytes();
            if !digits.len().is_multiple_of(2) {
                return Err("the key is not hex (an odd count of digits)".into());
            }
            digits
                .chunks(2)
                .map(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| "the key is not hex".to_owned())
                })
                .collect()
        }
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| "the key is not base64".to_owned()),
        other => Err(format!(
            "`key=\"{other}\"` is none of \"text\", \"hex\", \"base64\""
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `clock.*` at unix time `unix`: the seconds, and the forms signatures use.
pub fn clock_view(unix: i64) -> Value {
    let at = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
    json!({
        "unix": unix,
        "rfc3339": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "iso_basic": at.format("%Y%m%dT%H%M%SZ").to_string(),
        "date": at.format("%Y%m%d").to_string(),
        "http": at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    })
}

/// `request.*` of a request as it goes out: its method, full URL, host, path, query (without
/// the `?`) and body as sent (empty when it has none).
pub fn request_view(method: &str, url: &str, body: Option<&[u8]>) -> Value {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, rest) = match after_scheme.find('/') {
        Some(i) => after_scheme.split_at(i),
        None => (after_scheme, ""),
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    json!({
        "method": method,
        "url": url,
        "host": authority.rsplit('@').next().unwrap_or(authority),
        "path": if path.is_empty() { "/" } else { path },
        "query": query,
        "body": String::from_utf8_lossy(body.unwrap_or_default()),
    })
}

/// The unix time in the hoster's clock answer: seconds (a number or a text of digits), an
/// RFC 3339 time, or an HTTP date (a `Date` header).
pub fn hoster_time(value: &Value) -> Option<i64> {
    // Years 1970 to 9999 only: a hostile number then cannot overflow the offset arithmetic.
    const LAST: i64 = 253_402_300_799;
    let time = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<i64>()
                .ok()
                .or_else(|| Some(chrono::DateTime::parse_from_rfc3339(text).ok()?.timestamp()))
                .or_else(|| Some(chrono::DateTime::parse_from_rfc2822(text).ok()?.timestamp()))
        }
        _ => None,
    }?;
    (0..=LAST).contains(&time).then_some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosters_time_out_of_range_is_no_time() {
        assert_eq!(hoster_time(&json!(1_767_225_600)), Some(1_767_225_600));
        assert_eq!(hoster_time(&json!("1767225600")), Some(1_767_225_600));
        for hostile in [
            json!(i64::MIN),
            json!(-1),
            json!(1e300),
            json!("99999999999999"),
        ] {
            assert_eq!(hoster_time(&hostile), None, "{hostile}");
        }
    }

    #[test]
    fn digests_match_published_test_vectors() {
        let mut templates = crate::template::Templates::new();
        let mut render = |text: &str| {
            let at = crate::position::YamlPath::root().key("t");
            let template = templates.compile(&at, text).unwrap();
            templates.render(&template, &json!({})).unwrap()
        };
        // FIPS 180-2 "abc"; RFC 4231 test case 2.
        assert_eq!(
            render("{{sha1 \"abc\"}}"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            render("{{sha256 \"abc\"}}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            render("{{hmac_sha256 \"Jefe\" \"what do ya want for nothing?\"}}"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            render(
                "{{hmac_sha256 \"4a656665\" \"what do ya want for nothing?\" key=\"hex\" out=\"base64\"}}"
            ),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
        assert_eq!(
            render(
                "{{#hmac_sha256 \"SmVmZQ==\" key=\"base64\"}}what do ya want for nothing?{{/hmac_sha256}}"
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_request_and_the_clock_as_templates_see_them() {
        let view = request_view(
            "POST",
            "https://api.example.com:8443/1.0/me?a=1&b=2",
            Some(b"{}"),
        );
        assert_eq!(view["host"], "api.example.com:8443");
        assert_eq!(view["path"], "/1.0/me");
        assert_eq!(view["query"], "a=1&b=2");
        assert_eq!(view["body"], "{}");
        assert_eq!(request_view("GET", "http://h", None)["path"], "/");
        let clock = clock_view(1_700_000_000);
        assert_eq!(clock["rfc3339"], "2023-11-14T22:13:20Z");
        assert_eq!(clock["iso_basic"], "20231114T221320Z");
        assert_eq!(clock["http"], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(hoster_time(&json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(
            hoster_time(&json!("2023-11-14T22:13:20Z")),
            Some(1_700_000_000)
        );
        assert_eq!(
            hoster_time(&json!("Tue, 14 Nov 2023 22:13:20 GMT")),
            Some(1_700_000_000)
        );
        assert_eq!(hoster_time(&json!("soon")), None);
    }

    #[test]
    fn calls_are_checked_as_written() {
        assert!(check_call("sha1", 1, false, &[]).is_none());
        assert!(check_call("hmac_sha256", 1, true, &[]).is_none());
        assert!(
            check_call("hmac_sha256", 1, false, &[])
                .unwrap()
                .contains("takes 2")
        );
        let option = |k: &str, v: &str| vec![(k.to_owned(), Some(v.to_owned()))];
        assert!(check_call("sha256", 1, false, &option("out", "base64")).is_none());
        assert!(
            check_call("sha256", 1, false, &option("out", "b64"))
                .unwrap()
                .contains("\"hex\", \"base64\"")
        );
        assert!(
            check_call("sha1", 1, false, &option("key", "hex"))
                .unwrap()
                .contains("no option `key`")
        );
        assert!(check_call("concat", 9, false, &[]).is_none());
    }
}
