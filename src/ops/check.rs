//! `vps-provider check <name>`: one read-only, authenticated request that tells the operator
//! whether the token and the base URL work, with the hoster's own message when they do not.

use crate::error::{Error, Result};
use crate::plan::{ConfigsPlan, Parts};
use crate::runner::Runner;
use crate::site::Site;
use crate::verbs;
use serde_json::Value;

/// Sends the check; returns a line saying what answered.
pub fn run(name: &str) -> Result<String> {
    let site = Site::from_env(name);
    let bound = verbs::load(name, &site, Parts::CHECK)?;
    if let Some(reason) = &bound.disabled_because {
        return Err(Error::new(format!("`{name}` cannot work here: {reason}")));
    }
    let mut runner = Runner::new(&bound, None).keeping_sessions_in(&site.state_dir);
    let context = Value::Object(runner.base_context());
    let request = match (&bound.plan.api.check, bound.plan.configs()?) {
        (Some(check), _) => check,
        (None, ConfigsPlan::Fetch(fetch)) => &fetch.request,
        (None, ConfigsPlan::Static(_)) => {
            return Err(Error::new(format!("`{name}` has no read-only request to check with"))
                .help("add `api.check: { path: /account }` (any GET that needs the token) to the provider file"));
        }
    };
    let outgoing = runner.build(request, &context)?;
    let started = std::time::Instant::now();
    runner.send(request, &outgoing)?;
    Ok(format!(
        "ok: {} {} answered in {} ms: the token and the base URL work",
        outgoing.method,
        crate::redact::clean(&outgoing.url),
        started.elapsed().as_millis()
    ))
}
