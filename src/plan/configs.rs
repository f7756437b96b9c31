//! The `configs` section: the menu, written out (`static`) or built from the hoster's plan
//! lists (`fetch`, with pages, joined lists and combinations).

use super::compiler::{Compiler, Query, Text, Vars, placeholder_query};
use super::{AnswerPlace, ExtractPlan, RequestPlan};
use crate::ids;
use crate::manifest::{self, Configs, Method};
use crate::position::YamlPath;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::time::Duration;

/// `pages.max`: lowest, default, highest.
const MAX_PAGES: (u64, u64, u64) = (1, 20, 1000);

/// `configs.fetch.cache_minutes`: lowest, default, highest (a day).
const CACHE_MINUTES: (u64, u64, u64) = (0, 10, 24 * 60);

/// `configs.fetch.stale_minutes`: lowest, default (a day), highest (a week).
const STALE_MINUTES: (u64, u64, u64) = (0, 24 * 60, 7 * 24 * 60);

/// One written-out configuration.
#[derive(Debug)]
pub struct StaticConfigPlan {
    pub id: String,
    /// A template over `settings` (`"... {{settings.region}}"`).
    pub descr: Text,
    pub vars: Vars,
}

/// How a paged list continues, and how far.
#[derive(Debug)]
pub struct PagesPlan {
    pub style: PageStyle,
    /// What each answer is read for besides its elements (the `Link` header, the page or item
    /// count), by name: `link`, `count`, `total`.
    pub extract: Vec<(String, ExtractPlan)>,
    /// Pages read at most.
    pub max: u32,
    /// `pages` in the file, for messages.
    pub at: YamlPath,
}

/// Where the next page is (see [`manifest::Pages`]).
#[derive(Debug)]
pub enum PageStyle {
    /// A value in the body: a URL on the API's host, or the value of query parameter `param`.
    Next { next: Query, param: Option<String> },
    /// The `Link` header's target of relation `rel`.
    Link { rel: String },
    /// Page number `param`, until the page count (`count`) or the item count (`total`).
    Page { param: String },
    /// Offset `param`, until an empty page or the item count (`total`).
    Offset { param: String },
}

/// Where the elements of a list are in an answer (see [`manifest::Items`]).
#[derive(Debug)]
pub enum ItemsPlan {
    /// Every match is one element.
    Each(Query),
    /// The match is an object: every entry is one element `{key, value}`.
    Entries(Query),
    /// The match is one element (an object) or an array of them.
    OneOrMany(Query),
}

/// A list joined to each plan by key.
#[derive(Debug)]
pub struct AlsoPlan {
    pub name: String,
    pub request: RequestPlan,
    pub pages: Option<PagesPlan>,
    pub items: ItemsPlan,
    pub key: Text,
    pub matches: Text,
}

/// Where a combined list comes from.
#[derive(Debug)]
pub enum ListPlan {
    Written(Vec<Value>),
    Fetched(Box<(RequestPlan, Option<PagesPlan>, ItemsPlan)>),
}

/// A list offered with every plan.
#[derive(Debug)]
pub struct CombinePlan {
    pub name: String,
    pub list: ListPlan,
}

/// Configurations built from a plan list.
#[derive(Debug)]
pub struct FetchPlan {
    pub request: RequestPlan,
    pub pages: Option<PagesPlan>,
    pub items: ItemsPlan,
    pub also: Vec<AlsoPlan>,
    pub combine: Vec<CombinePlan>,
    pub filter: Option<Text>,
    pub id: Text,
    pub descr: Text,
    pub vars: Vars,
    /// The vars as written, shown by a dry run in place of values from a plan.
    pub vars_written: Map<String, Value>,
    /// How long a fetched menu is reused, and how long it may stand in for a failed fetch.
    pub fresh_for: Duration,
    pub stale_for: Duration,
}

#[derive(Debug)]
pub enum ConfigsPlan {
    Static(Vec<StaticConfigPlan>),
    Fetch(Box<FetchPlan>),
}

impl Compiler<'_> {
    pub(super) fn configs(&mut self, configs: &Configs) -> ConfigsPlan {
        let at = YamlPath::root().key("configs");
        let chosen = match (&configs.static_list, &configs.fetch) {
            (Some(list), None) => Ok(list),
            (None, Some(fetch)) => Err(fetch),
            _ => {
                self.problem(&at, "`configs` needs exactly one of `static` and `fetch`", "write `configs: { static: [...] }` for a fixed list, or `configs: { fetch: {...} }` to build it from the hoster's plans");
                return ConfigsPlan::Static(Vec::new());
            }
        };
        match chosen {
            Ok(list) => {
                let at = at.key("static");
                if list.is_empty() {
                    self.problem(
                        &at,
                        "the config list is empty",
                        "add at least one `- id: \"1\"` with `descr` and `vars`",
                    );
                }
                let mut seen = Vec::new();
                let plans = list
                    .iter()
                    .enumerate()
                    .map(|(i, config)| {
                        let at = at.index(i);
                        if !ids::is_safe(&config.id) {
                            self.problem(
                                &at.key("id"),
                                format!(
                                    "config id `{}` is not safe in a shell or a file name",
                                    ids::shown(&config.id)
                                ),
                                ids::RULE,
                            );
                        }
                        if seen.contains(&config.id) {
                            self.problem(
                                &at.key("id"),
                                format!("config id `{}` is used twice", config.id),
                                "give every config its own id",
                            );
                        }
                        seen.push(config.id.clone());
                        self.reserved_vars(&at.key("vars"), &config.vars);
                        StaticConfigPlan {
                            id: config.id.clone(),
                            descr: self.text(at.key("descr"), &config.descr),
                            vars: self.vars(at.key("vars"), &config.vars),
                        }
                    })
                    .collect();
                ConfigsPlan::Static(plans)
            }
            Err(fetch) => {
                let at = at.key("fetch");
                self.reserved_vars(&at.key("vars"), &fetch.vars);
                let pages = self.pages(at.key("pages"), fetch.pages.as_ref());
                let plan = FetchPlan {
                    request: self.list_request(at.key("request"), &fetch.request),
                    pages,
                    items: self.items(at.key("items"), &fetch.items),
                    also: fetch
                        .also
                        .iter()
                        .map(|(name, also)| self.also(at.key("also").key(name), name, also))
                        .collect(),
                    combine: fetch
                        .combine
                        .iter()
                        .map(|(name, combine)| {
                            self.combine(at.key("combine").key(name), name, combine)
                        })
                        .collect(),
                    filter: fetch
                        .filter
                        .as_ref()
                        .map(|f| self.text(at.key("filter"), f)),
                    id: self.text(at.key("id"), &fetch.id),
                    descr: self.text(at.key("descr"), &fetch.descr),
                    vars: self.vars(at.key("vars"), &fetch.vars),
                    vars_written: fetch.vars.clone().into_iter().collect(),
                    fresh_for: Duration::from_secs(
                        60 * self.bounded(
                            &at.key("cache_minutes"),
                            fetch.cache_minutes,
                            CACHE_MINUTES,
                            "how long a fetched menu is reused",
                        ),
                    ),
                    stale_for: Duration::from_secs(
                        60 * self.bounded(
                            &at.key("stale_minutes"),
                            fetch.stale_minutes,
                            STALE_MINUTES,
                            "how long an old menu stands in while the hoster fails",
                        ),
                    ),
                };
                ConfigsPlan::Fetch(Box::new(plan))
            }
        }
    }

    /// A request of the menu: it must only read.
    pub(super) fn list_request(
        &mut self,
        at: YamlPath,
        request: &manifest::Request,
    ) -> RequestPlan {
        let plan = self.request(at, request);
        if plan.method != Method::Get {
            self.problem(
                &plan.at.key("method"),
                "the menu's lists must be read with GET",
                "configs must never change anything at the hoster",
            );
        }
        plan
    }

    pub(super) fn items(&mut self, at: YamlPath, items: &manifest::Items) -> ItemsPlan {
        let mut query = |at: YamlPath, text: &str| {
            self.query(at.clone(), text)
                .unwrap_or_else(|| placeholder_query(&at))
        };
        match items {
            manifest::Items::Path(text) => ItemsPlan::Each(query(at, text)),
            manifest::Items::Shaped(shape) => match (&shape.entries, &shape.one_or_many) {
                (Some(text), None) => ItemsPlan::Entries(query(at.key("entries"), text)),
                (None, Some(text)) => ItemsPlan::OneOrMany(query(at.key("one_or_many"), text)),
                _ => {
                    self.problem(&at, "`items` needs exactly one of `entries` and `one_or_many`", "write `items: $.plans[*]` for a list, `items: { entries: $.servers }` for plans keyed by name, or `items: { one_or_many: $.doc.elem }` for one plan or a list of them");
                    ItemsPlan::Each(placeholder_query(&at))
                }
            },
        }
    }

    /// A list's name becomes a template path (`also.NAME`): a plain word, or it cannot be read.
    pub(super) fn list_name(&mut self, at: &YamlPath, root: &str, name: &str) -> String {
        let mut chars = name.chars();
        let plain = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            self.problem(
                at,
                format!(
                    "`{root}.{}` cannot be named in a template",
                    ids::shown(name)
                ),
                "name the list with letters, digits and `_`, starting with a letter",
            );
        }
        name.to_owned()
    }

    pub(super) fn also(&mut self, at: YamlPath, name: &str, also: &manifest::Also) -> AlsoPlan {
        AlsoPlan {
            name: self.list_name(&at, "also", name),
            request: self.list_request(at.key("request"), &also.request),
            pages: self.pages(at.key("pages"), also.pages.as_ref()),
            items: self.items(at.key("items"), &also.items),
            key: self.text(at.key("key"), &also.key),
            matches: self.text(at.key("match"), &also.matches),
        }
    }

    pub(super) fn combine(
        &mut self,
        at: YamlPath,
        name: &str,
        combine: &manifest::Combine,
    ) -> CombinePlan {
        if combine.list.is_some() && combine.pages.is_some() {
            self.problem(
                &at.key("pages"),
                "a written `list` has no pages",
                "`pages` goes with `request`; leave it out here",
            );
        }
        let list = match (&combine.list, &combine.request, &combine.items) {
            (Some(list), None, None) => {
                if list.is_empty() {
                    self.problem(
                        &at.key("list"),
                        "the list is empty: no plan would be offered",
                        "write at least one element, or leave this list out",
                    );
                }
                ListPlan::Written(list.clone())
            }
            (None, Some(request), Some(items)) => ListPlan::Fetched(Box::new((
                self.list_request(at.key("request"), request),
                self.pages(at.key("pages"), combine.pages.as_ref()),
                self.items(at.key("items"), items),
            ))),
            (None, Some(_), None) => {
                self.problem(
                    &at,
                    format!(
                        "`combine.{name}.request` needs `items`: where the list is in the answer"
                    ),
                    "e.g. `items: $.regions[*]`",
                );
                ListPlan::Written(Vec::new())
            }
            _ => {
                self.problem(&at, format!("`combine.{name}` needs exactly one of `list` and `request` (with `items`)"), "write `list: [a, b]`, or `request: { path: /regions }` with `items: $.regions[*]`");
                ListPlan::Written(Vec::new())
            }
        };
        CombinePlan {
            name: self.list_name(&at, "combine", name),
            list,
        }
    }

    /// A list's `pages`: exactly one style, with the keys it needs and none it cannot use.
    pub(super) fn pages(
        &mut self,
        at: YamlPath,
        pages: Option<&manifest::Pages>,
    ) -> Option<PagesPlan> {
        let pages = pages?;
        let styles: Vec<&str> = [
            ("next", pages.next.is_some()),
            ("link", pages.link.is_some()),
            ("page", pages.page.is_some()),
            ("offset", pages.offset.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, written)| written.then_some(key))
        .collect();
        let help = "write one of `next: $.links.next` (the body names the next page), `link: next` (the `Link` header), `page: page` with `count: $.pages` or `total: $.results` (page numbers), `offset: offset` (items skipped)";
        let style = match styles.as_slice() {
            [] => {
                self.problem(
                    &at,
                    "`pages` needs one of `next`, `link`, `page` and `offset`",
                    help,
                );
                return None;
            }
            [_, second, ..] => {
                self.problem(
                    &at.key(second),
                    format!(
                        "`pages.{second}` conflicts with `pages.{}`: a list is paged one way",
                        styles[0]
                    ),
                    help,
                );
                return None;
            }
            [style] => *style,
        };
        // Keys that belong to another style: named where they are written.
        let misplaced = [
            (
                "param",
                pages.param.is_some(),
                style == "next",
                "`param` names the query parameter of a value found at `next`; for page numbers write `page: NAME`, for offsets `offset: NAME`",
            ),
            (
                "count",
                pages.count.is_some(),
                style == "page",
                "`count` is the page count of `page` paging; with `link` or `next` the hoster says where the next page is",
            ),
            (
                "total",
                pages.total.is_some(),
                matches!(style, "page" | "offset"),
                "`total` is the item count of `page` or `offset` paging",
            ),
        ];
        for (key, written, fits, why) in misplaced {
            if written && !fits {
                self.problem(
                    &at.key(key),
                    format!("`pages.{key}` does not go with `pages.{style}`"),
                    why,
                );
            }
        }
        let mut extract = Vec::new();
        let mut take = |this: &mut Self, name: &str, from: Option<&manifest::Extract>| {
            if let Some(plan) = from.and_then(|from| this.extract(at.key(name), from)) {
                extract.push((name.to_owned(), plan));
            }
        };
        let parameter = |this: &mut Self, key: &str, name: &str| {
            if name.trim().is_empty() {
                this.problem(
                    &at.key(key),
                    format!("`pages.{key}` is empty"),
                    "name the query parameter the hoster documents, e.g. `page` or `offset`",
                );
            }
            name.to_owned()
        };
        let style = match style {
            "next" => PageStyle::Next {
                next: self
                    .query(at.key("next"), pages.next.as_deref().unwrap_or_default())
                    .unwrap_or_else(|| placeholder_query(&at.key("next"))),
                param: pages.param.as_ref().map(|p| parameter(self, "param", p)),
            },
            "link" => {
                let rel = pages.link.clone().unwrap_or_default();
                let token = |c: char| c.is_ascii_alphanumeric() || ".-_".contains(c);
                if rel.is_empty() || !rel.chars().all(token) {
                    self.problem(
                        &at.key("link"),
                        format!("`{}` is not a link relation", rel.escape_debug()),
                        "write the `rel` of the next page's link, usually `link: next`",
                    );
                }
                extract.push((
                    "link".to_owned(),
                    ExtractPlan {
                        place: AnswerPlace::HeaderLines("link".into()),
                        pattern: None,
                    },
                ));
                PageStyle::Link {
                    rel: rel.to_ascii_lowercase(),
                }
            }
            "page" => {
                if pages.count.is_some() == pages.total.is_some() {
                    let key = if pages.count.is_some() {
                        "total"
                    } else {
                        "page"
                    };
                    self.problem(&at.key(key), "page numbers need exactly one of `count` (how many pages) and `total` (how many items)", "e.g. `count: $.pages`, or `total: { header: X-Total-Count }`: without them the last page is not known");
                }
                take(self, "count", pages.count.as_ref());
                take(self, "total", pages.total.as_ref());
                PageStyle::Page {
                    param: parameter(self, "page", pages.page.as_deref().unwrap_or_default()),
                }
            }
            _ => {
                take(self, "total", pages.total.as_ref());
                PageStyle::Offset {
                    param: parameter(self, "offset", pages.offset.as_deref().unwrap_or_default()),
                }
            }
        };
        let max = self.bounded(
            &at.key("max"),
            pages.max,
            MAX_PAGES,
            "how many pages are read at most",
        );
        Some(PagesPlan {
            style,
            extract,
            max: max as u32,
            at,
        })
    }

    pub(super) fn reserved_vars(&mut self, at: &YamlPath, vars: &IndexMap<String, Value>) {
        for name in ["id", "descr"] {
            if vars.contains_key(name) {
                self.problem(
                    &at.key(name),
                    format!("`{name}` is reserved: `config.{name}` is the config's own"),
                    "rename this var",
                );
            }
        }
    }
}
