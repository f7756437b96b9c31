//! The menu the panel shows: the static list, or the configurations made from the hoster's
//! plan list, joined with other lists (`also`) and combined with them (`combine`).
//!
//! Rules: the menu is linear in its size: `also` lists are hash maps looked up once per plan,
//! and ids are checked for duplicates with a hash set; every list is read with `GET`, once per
//! menu; a list that does not have the shape `items` says is an error at `items`, never a
//! menu made of the wrong values. Ids are what the `id` template makes of the plan (and of
//! its combination): they must be safe ([`crate::ids`]) and unique, and stay stable across
//! refreshes as long as the hoster's names do; a name such as `DEV1-S.fr-par-1` is a safe id
//! but the panel sorts ids as numbers, so a hoster's numeric id is preferred where it has one.

use crate::error::Result;
use crate::extract;
use crate::ids;
use crate::menu_cache::MenuCache;
use crate::plan::{
    AlsoPlan, ConfigsPlan, FetchPlan, ItemsPlan, ListPlan, Query, RequestPlan, Vars,
};
use crate::runner::{CallError, Runner, with_query};
use crate::site::Site;
use crate::state::Store;
use crate::template::{is_truthy, text_of};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// A configuration with the values its order needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ResolvedConfig {
    pub id: String,
    pub descr: String,
    pub vars: Map<String, Value>,
}

impl ResolvedConfig {
    /// `config` as templates see it: `id`, `descr` and the vars.
    pub(crate) fn as_context(&self) -> Map<String, Value> {
        let mut config = self.vars.clone();
        config.insert("id".into(), Value::String(self.id.clone()));
        config.insert("descr".into(), Value::String(self.descr.clone()));
        config
    }
}

/// Whether an old menu may stand in for one the hoster failed to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// For the wizard's menu: better an hour-old menu than none.
    Allowed,
    /// For an order: the config must be on offer now.
    Refused,
}

/// The configurations on offer: the static list, or the plan list fetched and filtered (or
/// taken from the [`MenuCache`] while it is fresh).
pub fn configs(runner: &mut Runner, site: &Site, stale: Stale) -> Result<Vec<ResolvedConfig>> {
    let plan = &runner.bound.plan;
    let base = Value::Object(runner.base_context());
    match plan.configs()? {
        ConfigsPlan::Static(list) => list
            .iter()
            .map(|c| {
                Ok(ResolvedConfig {
                    id: c.id.clone(),
                    descr: runner.render(&c.descr, &base)?,
                    vars: render_vars(runner, &c.vars, &base)?,
                })
            })
            .collect(),
        ConfigsPlan::Fetch(fetch) if runner.is_dry_run() => fetch_menu(runner, fetch, &base),
        ConfigsPlan::Fetch(fetch) => {
            let settings = serde_json::to_string(&runner.bound.settings).unwrap_or_default();
            let cache = MenuCache::new(
                Store::new(&site.state_dir, &plan.name),
                &[&*plan.source.text, &settings, &runner.bound.base_url],
            );
            if !fetch.fresh_for.is_zero()
                && let Some(menu) = cache.get(fetch.fresh_for)
            {
                return Ok(menu);
            }
            match fetch_menu(runner, fetch, &base) {
                Ok(menu) => {
                    cache.put(&menu);
                    Ok(menu)
                }
                Err(error) if stale == Stale::Allowed && !fetch.stale_for.is_zero() => {
                    cache.get(fetch.stale_for).ok_or(error)
                }
                Err(error) => Err(error),
            }
        }
    }
}

/// A config's vars, filled in.
fn render_vars(runner: &Runner, vars: &Vars, context: &Value) -> Result<Map<String, Value>> {
    let plan = &runner.bound.plan;
    let rendered = plan.templates.render_tree(&vars.tree, context);
    let rendered = rendered.map_err(|e| {
        plan.source
            .error(&vars.at, format!("cannot fill in the vars: {e}"))
    })?;
    // A `vars` map renders to a map.
    Ok(rendered.as_object().cloned().unwrap_or_default())
}

/// Fetches the plan list and the lists joined or combined with it, and makes the menu.
fn fetch_menu(runner: &mut Runner, fetch: &FetchPlan, base: &Value) -> Result<Vec<ResolvedConfig>> {
    let plans = plan_list(runner, fetch, base)?;
    let joins = fetch
        .also
        .iter()
        .map(|also| join_table(runner, also, base))
        .collect::<Result<Vec<_>>>()?;
    let combined = fetch
        .combine
        .iter()
        .map(|combine| match &combine.list {
            ListPlan::Written(list) => Ok((combine.name.as_str(), list.clone())),
            ListPlan::Fetched(fetched) => {
                let (request, items) = &**fetched;
                Ok((
                    combine.name.as_str(),
                    fetch_list(runner, request, items, base)?,
                ))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut menu = Menu {
        runner: &*runner,
        fetch,
        joins,
        configs: Vec::with_capacity(plans.len()),
        ids_seen: HashSet::with_capacity(plans.len()),
    };
    for plan in plans {
        let mut context = base.clone();
        context["item"] = plan;
        menu.combinations(&combined, &mut context)?;
    }
    Ok(menu.configs)
}

/// Fetches the plan list, page by page.
fn plan_list(runner: &mut Runner, fetch: &FetchPlan, base: &Value) -> Result<Vec<Value>> {
    let plan = &runner.bound.plan;
    let first = runner.build(&fetch.request, base)?;
    let mut outgoing = first.clone();
    let mut items = Vec::new();
    for page in 1.. {
        let answer = match runner.send(&fetch.request, &outgoing) {
            Err(CallError::NotSent) => break, // a dry run shows the first page only
            answer => answer?,
        };
        items.extend(items_of(runner, &fetch.items, &answer)?);
        let Some(pages) = &fetch.pages else { break };
        let next = text_of(&extract::first(&pages.next, &answer));
        if next.is_empty() || next == "false" {
            break;
        }
        if page >= pages.max {
            return Err(plan
                .source
                .error(
                    &pages.next.at,
                    format!("the plan list has more than {} pages", pages.max),
                )
                .help("raise `pages.max`, or ask for more items per page in the request's query"));
        }
        outgoing.url = match &pages.param {
            Some(param) => with_query(&first.url, param, &next),
            None => next_page_url(runner, &next).ok_or_else(|| {
                plan.source.error(&pages.next.at, format!("the next page `{next}` is not on the API's host"))
                    .help("only pages under `api.base_url` are followed; use `pages.param` for page numbers or cursors")
            })?,
        };
    }
    Ok(items)
}

/// Fetches one list of `also` or `combine` (a dry run fetches nothing: the list is empty).
fn fetch_list(
    runner: &mut Runner,
    request: &RequestPlan,
    items: &ItemsPlan,
    base: &Value,
) -> Result<Vec<Value>> {
    let outgoing = runner.build(request, base)?;
    match runner.send(request, &outgoing) {
        Err(CallError::NotSent) => Ok(Vec::new()),
        answer => items_of(runner, items, &answer?),
    }
}

/// The elements `items` finds in `answer`.
fn items_of(runner: &Runner, items: &ItemsPlan, answer: &Value) -> Result<Vec<Value>> {
    let shape_error = |query: &Query, found: &Value, wanted: &str, help: &str| {
        runner
            .bound
            .plan
            .source
            .error(
                &query.at,
                format!("the answer has {} here, not {wanted}", kind(found)),
            )
            .help(help.to_owned())
    };
    let mut elements = Vec::new();
    match items {
        ItemsPlan::Each(query) => elements.extend(extract::all(query, answer).into_iter().cloned()),
        ItemsPlan::Entries(query) => {
            for found in extract::all(query, answer) {
                match found {
                    Value::Object(map) => elements.extend(
                        map.iter()
                            .map(|(key, value)| json!({ "key": key, "value": value })),
                    ),
                    Value::Null => {}
                    other => {
                        return Err(shape_error(
                            query,
                            other,
                            "an object keyed by name",
                            "`entries` is for `{\"name\": {...}, ...}`; for a list write `items: $.path[*]`",
                        ));
                    }
                }
            }
        }
        ItemsPlan::OneOrMany(query) => {
            for found in extract::all(query, answer) {
                match found {
                    Value::Array(list) => elements.extend(list.iter().cloned()),
                    Value::Object(_) => elements.push(found.clone()),
                    Value::Null => {}
                    other => {
                        return Err(shape_error(
                            query,
                            other,
                            "an object or an array of them",
                            "`one_or_many` names the element itself (`$.doc.elem`), not a field of it",
                        ));
                    }
                }
            }
        }
    }
    Ok(elements)
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An `also` list by key: a hash map, so that joining is one look-up per plan.
fn join_table(
    runner: &mut Runner,
    also: &AlsoPlan,
    base: &Value,
) -> Result<HashMap<String, Value>> {
    let elements = fetch_list(runner, &also.request, &also.items, base)?;
    let mut table = HashMap::with_capacity(elements.len());
    let mut context = base.clone();
    for element in elements {
        context["item"] = element;
        let key = runner.render(&also.key, &context)?;
        let element = context["item"].take();
        if table.insert(key.clone(), element).is_some() {
            return Err(runner
                .bound
                .plan
                .source
                .error(
                    &also.key.at,
                    format!("two elements of `also.{}` have the key `{key}`", also.name),
                )
                .help("build the key from fields that differ between elements (add the region, the period...)"));
        }
    }
    Ok(table)
}

/// The menu being made: every plan and combination that passes the filter, ids checked.
struct Menu<'r, 'b> {
    runner: &'r Runner<'b>,
    fetch: &'r FetchPlan,
    joins: Vec<HashMap<String, Value>>,
    configs: Vec<ResolvedConfig>,
    // Ids seen so far: a menu may hold 100,000 plans, so no scan of the list per plan.
    ids_seen: HashSet<String>,
}

impl Menu<'_, '_> {
    /// Adds the plan in `context` once per combination of the `lists`' elements.
    fn combinations(&mut self, lists: &[(&str, Vec<Value>)], context: &mut Value) -> Result<()> {
        let Some(((name, list), rest)) = lists.split_first() else {
            return self.add(context);
        };
        for element in list {
            context["combine"][*name] = element.clone();
            self.combinations(rest, context)?;
        }
        Ok(())
    }

    /// Adds the plan (and combination) in `context`, with its `also` elements.
    fn add(&mut self, context: &mut Value) -> Result<()> {
        let (runner, fetch) = (self.runner, self.fetch);
        let plan = &runner.bound.plan;
        for (also, table) in fetch.also.iter().zip(&self.joins) {
            let key = runner.render(&also.matches, context)?;
            context["also"][also.name.as_str()] = table.get(&key).cloned().unwrap_or(Value::Null);
        }
        if let Some(filter) = &fetch.filter
            && !is_truthy(&runner.render(filter, context)?)
        {
            return Ok(());
        }
        let id = runner.render(&fetch.id, context)?;
        if !ids::is_safe(&id) {
            return Err(plan
                .source
                .error(
                    &fetch.id.at,
                    format!(
                        "the config id `{}` made from a plan is not safe",
                        ids::shown(&id)
                    ),
                )
                .help(ids::RULE));
        }
        let descr = runner.render(&fetch.descr, context)?;
        let vars = render_vars(runner, &fetch.vars, context)?;
        if !self.ids_seen.insert(id.clone()) {
            return Err(plan
                .source
                .error(
                    &fetch.id.at,
                    format!("two plans make the same config id `{id}`"),
                )
                .help("build the id from fields that differ between plans (and regions)"));
        }
        self.configs.push(ResolvedConfig { id, descr, vars });
        Ok(())
    }
}

/// A next-page link is followed only under the base URL. A link under the provider file's own
/// base URL is moved to the one in use, so `$VPS_PROVIDER_BASE_URL` holds for every page.
fn next_page_url(runner: &Runner, next: &str) -> Option<String> {
    let in_use = &runner.bound.base_url;
    let written = &runner.bound.file_base_url;
    let origin = |url: &str| crate::plan::origin(url).map(str::to_owned);
    if next.starts_with('/') {
        return Some(format!("{}{next}", origin(in_use)?));
    }
    [in_use, written].into_iter().find_map(|base| {
        let base_origin = origin(base)?;
        let rest = next.strip_prefix(&base_origin)?;
        let on_base = rest.is_empty() || rest.starts_with('/') || rest.starts_with('?');
        on_base.then_some(())?;
        Some(format!("{}{rest}", origin(in_use)?))
    })
}
