//! Reading hoster answers: JSONPath queries, the status map and the address check.
//!
//! Rules: a query gives its first match, or `null` when nothing matches (an address that is
//! not there yet is normal while a server is built); a header that is not there and a pattern
//! that does not match give `null` too; an error text joins every string it finds;
//! a placeholder address (`0.0.0.0`, `::`), this machine (loopback, however it is written) or
//! an empty one is never an address.

use crate::http::Answer;
use crate::manifest::{Otherwise, TaskStatus};
use crate::plan::{AnswerPlace, ExtractPlan, Query, StatePattern};
use crate::template::text_of;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The first value `query` finds in `answer`, or `null`.
pub fn first(query: &Query, answer: &Value) -> Value {
    jsonpath_rust::query::js_path_process(&query.compiled, answer)
        .ok()
        .and_then(|found| found.into_iter().next().map(|r| r.val().clone()))
        .unwrap_or(Value::Null)
}

/// The value `extract` takes from `answer`, whose body is `body` (`null` when it is not read).
pub fn take(extract: &ExtractPlan, answer: &Answer, body: &Value) -> Value {
    let found = match &extract.place {
        AnswerPlace::Body(query) => first(query, body),
        AnswerPlace::Header(name) => answer.header(name).map_or(Value::Null, Value::from),
        AnswerPlace::HeaderLines(name) => {
            answer.header_lines(name).map_or(Value::Null, Value::from)
        }
        AnswerPlace::Status => Value::from(answer.status),
    };
    match &extract.pattern {
        Some(pattern) if !found.is_null() => {
            let text = text_of(&found);
            pattern
                .captures(&text)
                .and_then(|c| c.get(1).or_else(|| c.get(0)))
                .map_or(Value::Null, |m| Value::from(m.as_str()))
        }
        _ => found,
    }
}

/// Every value `query` finds in `answer`.
pub fn all<'a>(query: &Query, answer: &'a Value) -> Vec<&'a Value> {
    jsonpath_rust::query::js_path_process(&query.compiled, answer)
        .map(|found| found.into_iter().map(|r| r.val()).collect())
        .unwrap_or_default()
}

/// The strings `query` finds, lists flattened, joined by `; ` (hosters put errors in lists).
pub fn joined_text(query: &Query, answer: &Value) -> Option<String> {
    fn collect(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::String(s) if !s.trim().is_empty() => into.push(s.trim().to_owned()),
            Value::Array(items) => items.iter().for_each(|i| collect(i, into)),
            Value::Number(n) => into.push(n.to_string()),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    all(query, answer)
        .into_iter()
        .for_each(|v| collect(v, &mut texts));
    (!texts.is_empty()).then(|| texts.join("; "))
}

/// What the hoster's state means, by the status rule; `None` for an unexpected state.
pub fn map_state(
    state: &str,
    map: &[(StatePattern, TaskStatus)],
    otherwise: Otherwise,
) -> Option<TaskStatus> {
    let exact = map
        .iter()
        .find(|(p, _)| matches!(p, StatePattern::Exact(e) if e == state));
    let pattern = || {
        map.iter()
            .find(|(p, _)| matches!(p, StatePattern::Glob(parts) if glob_matches(parts, state)))
    };
    match exact.or_else(pattern) {
        Some((_, status)) => Some(*status),
        None => match otherwise {
            Otherwise::InProgress => Some(TaskStatus::InProgress),
            Otherwise::Error => Some(TaskStatus::Error),
            Otherwise::Unexpected => None,
        },
    }
}

/// `parts` are the pieces of a pattern between its `*`s.
fn glob_matches(parts: &[String], text: &str) -> bool {
    let (first, rest) = parts.split_first().expect("split gives at least one part");
    let Some(mut remaining) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

/// Whether `server` is an address the panel can SSH to: an IP that [`is_usable_ip`] accepts, or
/// a host name. Both hold only characters that the panel's shell takes as literals
/// ([`crate::panel_safe::is_shell_safe`]).
pub fn is_usable_address(server: &str, hoster_is_local: bool) -> bool {
    match server.parse::<IpAddr>() {
        Ok(ip) => is_usable_ip(ip, hoster_is_local),
        Err(_) => is_host_name(server),
    }
}

/// Whether `ip` can be a new server's: not a placeholder, this machine, a link, a group or the
/// broadcast address, also when written inside an IPv6 address (`::ffff:127.0.0.1`,
/// `64:ff9b::7f00:1`, `2002:7f00:1::`). A loopback address counts only for a hoster on this
/// machine (`hoster_is_local`: a mock or a local staging API), whose servers may well be local
/// too.
pub fn is_usable_ip(ip: IpAddr, hoster_is_local: bool) -> bool {
    match ip {
        IpAddr::V6(ip) if ip.is_loopback() => hoster_is_local,
        IpAddr::V6(ip) if ip.is_unspecified() => false,
        IpAddr::V6(ip) => match embedded_ipv4(ip) {
            Some(v4) => is_usable_ip(IpAddr::V4(v4), hoster_is_local),
            None => !(ip.is_unicast_link_local() || ip.is_multicast()),
        },
        IpAddr::V4(ip) if ip.is_loopback() => hoster_is_local,
        // `0.0.0.0/8` is "this network": a placeholder, or this machine to Linux.
        IpAddr::V4(ip) => {
            !(ip.octets()[0] == 0 || ip.is_link_local() || ip.is_multicast() || ip.is_broadcast())
        }
    }
}

/// The IPv4 address an IPv6 address carries, and reaches, when it is written in one of the
/// forms that do: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64's
/// well-known prefix (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let joined = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match ip.segments() {
        [0, 0, 0, 0, 0, 0 | 0xffff, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
            Some(joined(high, low))
        }
        [0x2002, high, low, ..] => Some(joined(high, low)),
        _ => None,
    }
}

/// Whether `server` is a host name that names another machine: dotted labels of letters,
/// digits and `-`, no trailing dot; not `localhost` or a name under it (RFC 6761), nor RHEL's
/// `localhost.localdomain`; and not an IPv4 address in another spelling (`0x7f.1`, `127.1`),
/// which resolvers read as one: a name's last label is never a number.
fn is_host_name(server: &str) -> bool {
    let labels: Vec<&str> = server.split('.').collect();
    let (Some(first), Some(last)) = (labels.first(), labels.last()) else {
        return false;
    };
    let is_number = |label: &str| {
        let hex = label
            .strip_prefix("0x")
            .or_else(|| label.strip_prefix("0X"));
        match hex {
            Some(digits) => digits.chars().all(|c| c.is_ascii_hexdigit()),
            None => label.chars().all(|c| c.is_ascii_digit()),
        }
    };
    server.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        })
        && !first.eq_ignore_ascii_case("localhost")
        && !last.eq_ignore_ascii_case("localhost")
        && !is_number(last)
        && server.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::YamlPath;
    use serde_json::json;

    fn query(text: &str) -> Query {
        Query {
            at: YamlPath::root(),
            compiled: jsonpath_rust::parser::parse_json_path(text).unwrap(),
        }
    }

    #[test]
    fn headers_and_the_status_are_taken_and_cut_by_a_pattern() {
        let answer = Answer {
            status: 201,
            headers: vec![("location".into(), "/v1/servers/42?x=1".into())],
            body: Vec::new(),
            elapsed: std::time::Duration::ZERO,
            attempts: 1,
        };
        let take_with = |place, pattern: Option<&str>| {
            let extract = ExtractPlan {
                place,
                pattern: pattern.map(|p| regex::Regex::new(p).unwrap()),
            };
            take(&extract, &answer, &json!({"id": 7}))
        };
        let header = |name: &str| AnswerPlace::Header(name.into());
        assert_eq!(
            take_with(header("LOCATION"), None),
            json!("/v1/servers/42?x=1")
        );
        assert_eq!(
            take_with(header("Location"), Some("/servers/([^/?]+)")),
            json!("42")
        );
        assert_eq!(take_with(header("Location"), Some("[0-9]+")), json!("1"));
        assert_eq!(
            take_with(header("Location"), Some("/disks/(.+)")),
            Value::Null
        );
        assert_eq!(take_with(header("X-Missing"), Some("(.*)")), Value::Null);
        assert_eq!(take_with(AnswerPlace::Status, None), json!(201));
        assert_eq!(take_with(AnswerPlace::Status, Some("^2")), json!("2"));
        assert_eq!(take_with(AnswerPlace::Body(query("$.id")), None), json!(7));
    }

    #[test]
    fn first_match_or_null() {
        let answer = json!({"droplet": {"networks": {"v4": [
            {"type": "private", "ip_address": "10.0.0.2"},
            {"type": "public", "ip_address": "203.0.113.9"}]}}});
        assert_eq!(
            first(
                &query("$.droplet.networks.v4[?@.type == 'public'].ip_address"),
                &answer
            ),
            json!("203.0.113.9")
        );
        assert_eq!(
            first(&query("$.droplet.networks.v6[0].ip_address"), &answer),
            Value::Null
        );
    }

    #[test]
    fn nested_filters() {
        let answer = json!({"server": {"networks": [{"type": "public", "ips": [
            {"ip": "2001:db8::1", "type": "ipv6", "is_main": true},
            {"ip": "203.0.113.5", "type": "ipv4", "is_main": true}]}]}});
        let q = query(
            "$.server.networks[?@.type == 'public'].ips[?@.type == 'ipv4' && @.is_main == true].ip",
        );
        assert_eq!(first(&q, &answer), json!("203.0.113.5"));
    }

    #[test]
    fn error_texts_are_joined() {
        let q = query("$.errors[*].reason");
        let answer = json!({"errors": [{"reason": "a"}, {"reason": "b"}]});
        assert_eq!(joined_text(&q, &answer).unwrap(), "a; b");
        assert_eq!(
            joined_text(&query("$.message"), &json!({"message": ["x", "y"]})).unwrap(),
            "x; y"
        );
        assert_eq!(joined_text(&query("$.message"), &json!({})), None);
    }

    #[test]
    fn states_map_exactly_then_by_pattern() {
        let map = vec![
            (
                StatePattern::Exact("active/running/ok".into()),
                TaskStatus::Finished,
            ),
            (
                StatePattern::Glob(vec!["suspended/".into(), "".into()]),
                TaskStatus::Error,
            ),
            (
                StatePattern::Glob(vec!["".into(), "/".into(), "".into()]),
                TaskStatus::InProgress,
            ),
        ];
        assert_eq!(
            map_state("active/running/ok", &map, Otherwise::Unexpected),
            Some(TaskStatus::Finished)
        );
        assert_eq!(
            map_state("suspended/stopped/none", &map, Otherwise::Unexpected),
            Some(TaskStatus::Error)
        );
        assert_eq!(
            map_state("pending/running/none", &map, Otherwise::Unexpected),
            Some(TaskStatus::InProgress)
        );
        assert_eq!(map_state("weird", &map, Otherwise::Unexpected), None);
        assert_eq!(
            map_state("weird", &map, Otherwise::Error),
            Some(TaskStatus::Error)
        );
    }

    #[test]
    fn placeholders_are_not_addresses() {
        for bad in [
            "",
            "0.0.0.0",
            "::",
            "null",
            "a b",
            "[\"1.2.3.4\"]",
            "-x.example",
            "127.0.0.1",
            "::1",
            "169.254.1.1",
            "fe80::1",
            "224.0.0.1",
            "255.255.255.255",
            "vps1.example.com\n",
            "vps1.example.com.",
            "fe80::1%eth0",
        ] {
            assert!(!is_usable_address(bad, false), "{bad}");
        }
        for good in [
            "203.0.113.7",
            "2001:db8::1",
            "vps1.example.com",
            "10.0.0.5",
            "::ffff:203.0.113.7",
            "64:ff9b::cb00:7107",
            "2002:cb00:7107::1",
            "fd00::5",
            "xn--80ak6aa92e.example",
        ] {
            assert!(is_usable_address(good, false), "{good}");
        }
        // A mock hoster on this machine may hand out servers on this machine.
        assert!(is_usable_address("127.0.0.1", true));
        assert!(is_usable_address("::1", true));
        assert!(!is_usable_address("0.0.0.0", true));
    }

    #[test]
    fn this_machine_is_refused_however_it_is_written() {
        for local in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::",
            "2002:7f00:1:0:0:0:0:1",
            "::127.0.0.1",
            "127.255.255.254",
        ] {
            assert!(!is_usable_address(local, false), "{local}");
            assert!(is_usable_address(local, true), "{local} is loopback");
        }
        for never in [
            "::ffff:0.0.0.0",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:e000:1::",
            "0.1.2.3",
            "0.0.0.1",
            "localhost",
            "localhost.",
            "LocalHost",
            "a.localhost",
            "a.b.LOCALHOST",
            "a.localhost.",
            "localhost.localdomain",
            "0x7f.0.0.1",
            "0x7f.1",
            "127.1",
            "vps.0x10",
            "1.2.3",
        ] {
            assert!(!is_usable_address(never, true), "{never}");
            assert!(!is_usable_address(never, false), "{never}");
        }
    }

    #[test]
    fn every_usable_address_is_safe_for_the_panels_shell() {
        let hostile = [
            "1.2.3.4\ntouch /tmp/x",
            "vps.example.com;id",
            "vps.exa?ple.com",
            "~root.example",
            "2001:db8::1%eth0",
            "a\tb.example",
            "vps.exämple.com",
            "$(id).example",
        ];
        let usable = [
            "203.0.113.7",
            "2001:db8::1",
            "::ffff:203.0.113.7",
            "vps-1.example.com",
        ];
        for candidate in hostile.iter().chain(&usable) {
            if is_usable_address(candidate, false) {
                assert!(crate::panel_safe::is_shell_safe(candidate), "{candidate}");
            }
        }
        assert!(usable.iter().all(|a| is_usable_address(a, false)));
        assert!(!hostile.iter().any(|a| is_usable_address(a, false)));
    }
}
