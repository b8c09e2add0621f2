//! Backstage's scaffolder routes (`/api/scaffolder/v2/...`) over
//! ScaffoldRequests. A task is a request, its id `<namespace>:<name>`
//! ([`task`]); one task is read from the API server at each call, so every
//! replica, before and after a restart, answers the same; the task list is
//! read from the controller's store ([`list`]). Creating a task creates a
//! request ([`create`]); cancel and retry set the request's `spec.cancel`
//! and `spec.retry`, as a kubectl user would. Each call is authorized with
//! a SubjectAccessReview for the caller: `get` to read a request, `list`
//! to list them, `create` to create one, `patch` to cancel or retry it.

mod autocomplete;
mod create;
mod dry_run;
mod extensions;
mod form;
mod list;
mod stream;
mod task;

/// What the scaffolder routes bound across calls.
#[derive(Default)]
pub struct Shared {
    /// The task event streams open.
    streams: stream::Streams,
    /// The dry runs rendering.
    dry_runs: dry_run::DryRuns,
}

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::reply::{Reply, cluster_refused};
use super::{Call, Portal};
use crate::actions::ACTIONS;
use crate::api::{GROUP, Phase, ScaffoldRequest, Template};
use crate::tenancy::review::Permission;

/// The longest `GET /v2/tasks/:id/events` waits for an event it has not
/// told yet.
pub const LONG_POLL: Duration = Duration::from_secs(30);
/// How often it reads the request while it waits.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// The field manager of the portal's changes to a request's spec.
const FIELD_MANAGER: &str = "goldpath-portal";

/// Answers a call of `/api/scaffolder/...`.
pub async fn route(portal: &Portal, call: &Call<'_>) -> Reply {
    let segments = call.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let answer = match (call.method, segments.as_slice()) {
        (&Method::GET, ["v2", "actions"]) => Ok(Reply::ok(actions())),
        (&Method::GET, ["v2", "templating-extensions"]) => Ok(Reply::ok(extensions::list())),
        (&Method::GET, ["v2", "templates", namespace, kind, name, "parameter-schema"]) => {
            parameter_schema(portal, call, namespace, kind, name).await
        }
        (&Method::GET, ["v2", "tasks"]) => list::list(portal, call).await,
        (&Method::POST, ["v2", "tasks"]) => create::create(portal, call).await,
        (&Method::GET, ["v2", "tasks", id]) => get_task(portal, call, id).await,
        (&Method::GET, ["v2", "tasks", id, "events"]) => events(portal, call, id).await,
        (&Method::GET, ["v2", "tasks", id, "eventstream"]) => event_stream(portal, call, id).await,
        (&Method::POST, ["v2", "dry-run"]) => dry_run::dry_run(portal, call).await,
        (&Method::POST, ["v2", "tasks", id, "cancel"]) => cancel(portal, call, id).await,
        (&Method::POST, ["v2", "tasks", id, "retry"]) => retry(portal, call, id).await,
        (&Method::POST, ["v2", "autocomplete", provider, resource]) => {
            autocomplete::autocomplete(portal, call, provider, resource).await
        }
        _ => Err(Reply::not_found(format!(
            "no route {} /api/scaffolder{}",
            call.method, call.path
        ))),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// Every action goldpath knows, as Backstage lists them: its id and the
/// JSON Schemas of its input and output, from the same definitions the
/// Template check reads.
pub fn actions() -> Value {
    ACTIONS
        .iter()
        .map(|action| {
            json!({
                "id": action.name,
                "schema": {
                    "input": action.input_schema().as_value(),
                    "output": action.output_schema().as_value(),
                },
            })
        })
        .collect()
}

/// The request task `id` names, once the caller may `verb` it: its API and
/// name. Refused before looking, as the API server refuses, so whether a
/// request exists is not told to a caller who may not see it.
async fn authorized<'a>(
    portal: &Portal,
    call: &Call<'_>,
    id: &'a str,
    verb: &'static str,
) -> Result<(Api<ScaffoldRequest>, &'a str), Reply> {
    let Some((namespace, name)) = task::parse_task_id(id) else {
        return Err(Reply::not_found(format!(
            "no task {id}: goldpath's task ids are <namespace>:<ScaffoldRequest name>"
        )));
    };
    let permission = Permission {
        verb,
        group: GROUP,
        resource: "scaffoldrequests",
        namespace,
        name: Some(name),
    };
    portal.require(call.caller, &permission).await?;
    Ok((Api::namespaced(portal.client.clone(), namespace), name))
}

/// `GET /v2/templates/:namespace/:kind/:name/parameter-schema`: the
/// Template's form, for a caller who may `get` it.
async fn parameter_schema(
    portal: &Portal,
    call: &Call<'_>,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Reply, Reply> {
    if !kind.eq_ignore_ascii_case("template") {
        return Err(Reply::not_found(format!(
            "no template {kind}:{namespace}/{name}: only a Template has a parameter schema"
        )));
    }
    let permission = Permission {
        verb: "get",
        group: GROUP,
        resource: "templates",
        namespace,
        name: Some(name),
    };
    portal.require(call.caller, &permission).await?;
    match Api::<Template>::namespaced(portal.client.clone(), namespace)
        .get_opt(name)
        .await
    {
        Ok(Some(template)) => Ok(Reply::ok(form::parameter_schema(&template))),
        Ok(None) => Err(Reply::not_found(format!(
            "no template template:{namespace}/{name}"
        ))),
        Err(error) => Err(cluster_refused(
            &format!("reading Template {namespace}/{name}"),
            &error,
        )),
    }
}

/// The request `name`, or the answer that says why not.
async fn fetch(api: &Api<ScaffoldRequest>, id: &str, name: &str) -> Result<ScaffoldRequest, Reply> {
    match api.get_opt(name).await {
        Ok(Some(request)) => Ok(request),
        Ok(None) => Err(Reply::not_found(format!("no task {id}"))),
        Err(error) => Err(cluster_refused(
            &format!("reading ScaffoldRequest {name} of task {id}"),
            &error,
        )),
    }
}

/// `GET /v2/tasks/:id`.
async fn get_task(portal: &Portal, call: &Call<'_>, id: &str) -> Result<Reply, Reply> {
    let (api, name) = authorized(portal, call, id, "get").await?;
    let request = fetch(&api, id, name).await?;
    Ok(Reply::ok(task::task(&request, &request.user())))
}

/// `GET /v2/tasks/:id/events?after=N`: the events after `N`, waiting up to
/// [`LONG_POLL`] for one while the task runs.
async fn events(portal: &Portal, call: &Call<'_>, id: &str) -> Result<Reply, Reply> {
    let after = after(call.query)?;
    let (api, name) = authorized(portal, call, id, "get").await?;
    let deadline = Instant::now() + LONG_POLL;
    loop {
        let request = fetch(&api, id, name).await?;
        let found = task::events(&request, after);
        if !found.is_empty() || task::ended(&request) || Instant::now() >= deadline {
            return Ok(Reply::ok(Value::Array(found)));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `GET /v2/tasks/:id/eventstream?after=N`: the events after `N` (or
/// `Last-Event-ID`) as server-sent events, sent as the request changes,
/// until the task ends ([`stream`]).
async fn event_stream(portal: &Portal, call: &Call<'_>, id: &str) -> Result<Reply, Reply> {
    let header = call.headers.get("last-event-id").and_then(|h| h.to_str().ok());
    let after = stream::last_seen(header, after(call.query)?)?;
    let (api, name) = authorized(portal, call, id, "get").await?;
    // Told at once when the task is not there, rather than by an empty
    // stream.
    fetch(&api, id, name).await?;
    let permit = portal.scaffolder.streams.open()?;
    Ok(Reply::event_stream(stream::stream(api, name, after, permit)))
}

/// The `after` of a query: the last event id the caller has, 0 if none.
fn after(query: &str) -> Result<u64, Reply> {
    let given = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "after");
    match given {
        None => Ok(0),
        Some((_, value)) => value
            .parse()
            .map_err(|_| Reply::bad_request(format!("after: {value:?} is not an event id (a whole number)"))),
    }
}

/// Merges `spec` into the request's spec.
async fn patch_spec(api: &Api<ScaffoldRequest>, id: &str, name: &str, spec: Value) -> Result<(), Reply> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(json!({ "spec": spec })))
        .await
        .map(|_| ())
        .map_err(|error| cluster_refused(&format!("changing ScaffoldRequest {name} of task {id}"), &error))
}

/// `POST /v2/tasks/:id/cancel`: sets `spec.cancel`; the request stops
/// after the step that is running. A task that completed is not changed.
async fn cancel(portal: &Portal, call: &Call<'_>, id: &str) -> Result<Reply, Reply> {
    let (api, name) = authorized(portal, call, id, "patch").await?;
    let request = fetch(&api, id, name).await?;
    if request.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded) {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            format!("task {id} has completed; there is nothing to cancel"),
        ));
    }
    patch_spec(&api, id, name, json!({"cancel": true})).await?;
    Ok(Reply::ok(json!({"status": "cancelled"})))
}

/// `POST /v2/tasks/:id/retry`: raises `spec.retry` of a failed request
/// (and clears `spec.cancel` of a cancelled one); it resumes at the step
/// that did not finish.
async fn retry(portal: &Portal, call: &Call<'_>, id: &str) -> Result<Reply, Reply> {
    let (api, name) = authorized(portal, call, id, "patch").await?;
    let request = fetch(&api, id, name).await?;
    let phase = request.status.as_ref().and_then(|s| s.phase);
    if !matches!(phase, Some(Phase::Failed | Phase::Cancelled)) {
        return Err(Reply::error(
            StatusCode::CONFLICT,
            format!(
                "task {id} is {}; only a failed or cancelled task is retried",
                task::task_status(phase)
            ),
        ));
    }
    let spec = json!({"cancel": false, "retry": request.spec.retry.saturating_add(1)});
    patch_spec(&api, id, name, spec).await?;
    Ok(Reply::with_status(StatusCode::CREATED, json!({ "id": id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_with_its_input_and_output_schemas() {
        let listed = actions();
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), ACTIONS.len());
        let publish = listed.iter().find(|a| a["id"] == "publish:github").unwrap();
        assert_eq!(publish["schema"]["input"]["type"], "object");
        assert!(
            publish["schema"]["input"]["properties"]["repoUrl"].is_object(),
            "{publish}"
        );
        assert!(
            publish["schema"]["output"]["properties"]["remoteUrl"].is_object(),
            "{publish}"
        );
    }

    #[test]
    fn after_is_a_whole_number_or_nothing() {
        assert_eq!(after("").unwrap(), 0);
        assert_eq!(after("after=7").unwrap(), 7);
        assert_eq!(after("x=1&after=12").unwrap(), 12);
        let refused = after("after=-1").unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }
}
