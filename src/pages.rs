//! Where a paged list goes on: the next page's URL after each answer, by the list's
//! `pages` style (a value in the body, the `Link` header, page numbers or offsets).
//!
//! Rules: a next page given as a URL (in the body or a `Link` header) is the hoster's word and
//! so is hostile: it is followed only on the API's origin (scheme, host and port), so the
//! credentials sent with every page never reach another host, and `api.auth` is applied
//! anew to it. A URL already read ends the list (a hoster whose last page names itself, or a
//! loop). Page and item counts must be numbers. Page numbers and offsets are set in the first
//! request's URL, so the file's own query (the page size) is kept on every page.

use crate::error::{Error, Result};
use crate::extract;
use crate::http;
use crate::plan::{PageStyle, PagesPlan};
use crate::runner::{Runner, with_query};
use crate::template::text_of;
use serde_json::{Map, Value};

/// What is known after reading one page.
pub struct Read<'a> {
    /// The URL of the first page, as the file builds it.
    pub first_url: &'a str,
    /// The URL of the page just read.
    pub url: &'a str,
    /// Its body.
    pub answer: &'a Value,
    /// What `pages.extract` took from it (the `Link` header, a count).
    pub taken: &'a Map<String, Value>,
    /// The number of this page, counting from 1.
    pub page: u32,
    /// Elements on this page, and on every page read so far.
    pub on_page: usize,
    pub so_far: usize,
}

/// The URL of the next page, or `None` when the list ends here.
pub fn next_url(runner: &Runner, pages: &PagesPlan, read: &Read) -> Result<Option<String>> {
    match &pages.style {
        PageStyle::Next { next, param } => {
            let value = text_of(&extract::first(next, read.answer));
            if value.is_empty() || value == "false" {
                return Ok(None);
            }
            match param {
                Some(param) => Ok(Some(with_query(read.first_url, param, &value))),
                None => on_api_host(runner, read.url, &value)
                    .map(Some)
                    .map_err(|e| e.at(runner.bound.plan.source.at(&next.at))),
            }
        }
        PageStyle::Link { rel } => {
            let header = text_of(read.taken.get("link").unwrap_or(&Value::Null));
            match link_target(&header, rel) {
                Some(target) => on_api_host(runner, read.url, &target)
                    .map(Some)
                    .map_err(|e| e.at(runner.bound.plan.source.at(&pages.at.key("link")))),
                None => Ok(None),
            }
        }
        PageStyle::Page { param } => {
            if read.on_page == 0 {
                return Ok(None);
            }
            let last = match count(runner, pages, read, "count")? {
                Some(pages_in_all) => u64::from(read.page) >= pages_in_all,
                None => all_read(runner, pages, read)?,
            };
            Ok((!last).then(|| with_query(read.first_url, param, &(read.page + 1).to_string())))
        }
        PageStyle::Offset { param } => {
            if read.on_page == 0 || all_read(runner, pages, read)? {
                return Ok(None);
            }
            Ok(Some(with_query(
                read.first_url,
                param,
                &read.so_far.to_string(),
            )))
        }
    }
}

/// Whether `total` items have been read (`false` when the file has no `total`).
fn all_read(runner: &Runner, pages: &PagesPlan, read: &Read) -> Result<bool> {
    Ok(count(runner, pages, read, "total")?.is_some_and(|total| read.so_far as u64 >= total))
}

/// The count `name` (`count` or `total`) the answer gives, when the file reads one.
fn count(runner: &Runner, pages: &PagesPlan, read: &Read, name: &str) -> Result<Option<u64>> {
    let Some(found) = pages
        .extract
        .iter()
        .any(|(n, _)| n == name)
        .then(|| read.taken.get(name).unwrap_or(&Value::Null))
    else {
        return Ok(None);
    };
    let text = text_of(found);
    match text.trim().parse::<u64>() {
        Ok(number) => Ok(Some(number)),
        Err(_) => Err(runner
            .bound
            .plan
            .source
            .error(
                &pages.at.key(name),
                format!(
                    "the answer's {} is `{}`, not a number",
                    if name == "count" { "page count" } else { "item count" },
                    crate::ids::shown(&text)
                ),
            )
            .help(format!(
                "check `pages.{name}` against the hoster's answer (`vps-provider run NAME configs --verbose` shows it)"
            ))),
    }
}

/// `next` as a URL on the API's origin: a path or relative reference is resolved against the
/// page just read, and a URL under the provider file's own base URL is moved to the one in use
/// (so `$VPS_PROVIDER_BASE_URL` holds for every page). Anything else is refused.
fn on_api_host(runner: &Runner, current: &str, next: &str) -> Result<String> {
    let origin = |url: &str| crate::plan::origin(url).map(str::to_owned);
    let (written, in_use) = (&runner.bound.file_base_url, &runner.bound.base_url);
    // Under the written base URL first (`https://api.example.com/v1/...` to the mock's
    // `http://127.0.0.1:PORT/v1/...`), else on its origin.
    let pairs = [
        Some((
            written.trim_end_matches('/').to_owned(),
            in_use.trim_end_matches('/').to_owned(),
        )),
        origin(written).zip(origin(in_use)),
    ];
    let moved = pairs.into_iter().flatten().find_map(|(from, to)| {
        next.strip_prefix(&from)
            .filter(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            .map(|rest| format!("{to}{rest}"))
    });
    let next = moved.as_deref().unwrap_or(next);
    http::same_origin_target(current, next).map_err(|_| {
        // Only the host and port are shown: the URL's query or user part may carry what the
        // hoster echoed.
        let rest = next
            .split_once("://")
            .map_or(next.trim_start_matches('/'), |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        Error::new(format!(
            "the next page is on `{}`, not on the API's host",
            crate::ids::shown(host)
        ))
        .help("only pages on `api.base_url`'s scheme, host and port are read (the token goes with every page); check the base URL against the hoster's links")
    })
}

/// The target of the first link of relation `rel` in a `Link` header (RFC 8288, section 3):
/// `<URI>; rel="next", <URI>; rel="prev last"`. A `rel` holds one or more relation types,
/// compared in any letter case; only a link's first `rel` counts; commas and semicolons inside
/// `<...>` or a quoted value are part of it.
pub fn link_target(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let after_open = rest.strip_prefix('<')?;
        let close = after_open.find('>')?;
        let target = &after_open[..close];
        rest = &after_open[close + 1..];
        let (params, next) = split_params(rest);
        rest = next;
        let relations = params
            .iter()
            .find_map(|(name, value)| name.eq_ignore_ascii_case("rel").then_some(value.as_str()));
        if relations.is_some_and(|r| {
            r.split_ascii_whitespace()
                .any(|one| one.eq_ignore_ascii_case(rel))
        }) {
            return Some(target.trim().to_owned());
        }
        if rest.is_empty() {
            return None;
        }
    }
}

/// The `; name=value` parameters of one link, and what follows its ending comma.
fn split_params(text: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let Some(after) = rest.strip_prefix(';') else {
            // A comma (or the end) closes the link; anything else is skipped up to a comma.
            let end = rest.find(',').map_or(rest.len(), |i| i + 1);
            return (params, &rest[end..]);
        };
        let after = after.trim_start_matches([' ', '\t']);
        let name_end = after
            .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(after.len());
        let name = after[..name_end].to_owned();
        rest = after[name_end..].trim_start_matches([' ', '\t']);
        let mut value = String::new();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start_matches([' ', '\t']);
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                rest = &quoted[end.min(quoted.len())..];
            } else {
                let value_end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
                value = after_eq[..value_end].trim().to_owned();
                rest = &after_eq[value_end..];
            }
        }
        params.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::link_target;

    #[test]
    fn finds_the_next_link_as_github_writes_it() {
        let header = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last""#;
        assert_eq!(
            link_target(header, "next").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(link_target(header, "first"), None);
    }

    #[test]
    fn reads_the_forms_rfc_8288_allows() {
        // Unquoted, several relation types, any letter case, other parameters first.
        assert_eq!(
            link_target("</p?page=2>; title=\"a, b; c\"; REL=next", "next").as_deref(),
            Some("/p?page=2")
        );
        assert_eq!(
            link_target("</last>; rel=\"last next\"", "next").as_deref(),
            Some("/last")
        );
        assert_eq!(
            link_target("</a,b;c>;rel=next", "next").as_deref(),
            Some("/a,b;c")
        );
        // Only the first `rel` of a link counts.
        assert_eq!(link_target("</x>; rel=prev; rel=next", "next"), None);
        // A relation that only contains the word is not it.
        assert_eq!(link_target("</x>; rel=\"nextpage\"", "next"), None);
        assert_eq!(link_target("", "next"), None);
        assert_eq!(link_target("garbage; rel=next", "next"), None);
        assert_eq!(link_target("<unclosed; rel=next", "next"), None);
        assert_eq!(link_target("</a>; rel=\"unterminated", "next"), None);
    }
}
