//! A ScaffoldRequest as Backstage's scaffolder sees a task: its id, its
//! `SerializedTask` and its events. All of it is derived from the request
//! and its `status.steps` alone, with event ids given by each event's place
//! in the step list, so every replica, before and after a restart, tells
//! the same story with the same ids.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use crate::api::conditions::{self, ConditionType};
use crate::api::{Phase, ScaffoldRequest, StepPhase, StepStatus};

/// The `apiVersion` of a task's spec, as Backstage writes it.
const TASK_API_VERSION: &str = "scaffolder.backstage.io/v1beta3";

/// The task id of request `name` in `namespace`: `<namespace>:<name>`.
/// Neither can hold `:`, so the id names one request and is the same on
/// every replica.
pub fn task_id(namespace: &str, name: &str) -> String {
    format!("{namespace}:{name}")
}

/// The namespace and name task `id` names, or `None` when it names none.
pub fn parse_task_id(id: &str) -> Option<(&str, &str)> {
    let (namespace, name) = id.split_once(':')?;
    let valid = |part: &str| !part.is_empty() && !part.contains(':');
    (valid(namespace) && valid(name)).then_some((namespace, name))
}

/// The phase of `request`'s task: its status's, except that an end the
/// spec has moved past since (a retry, or a cancel cleared, that the
/// controller has not taken up yet) is no end: the task is open again, as
/// Backstage's retry reopens a task and takes back its end.
pub fn phase(request: &ScaffoldRequest) -> Option<Phase> {
    let status = request.status.as_ref()?;
    let superseded = matches!(
        (status.observed_generation, request.metadata.generation),
        (Some(observed), Some(current)) if observed < current
    );
    match status.phase {
        Some(Phase::Succeeded | Phase::Failed | Phase::Cancelled) if superseded => Some(Phase::Pending),
        phase => phase,
    }
}

/// Backstage's status of a task whose request is in `phase`.
pub fn task_status(phase: Option<Phase>) -> &'static str {
    match phase {
        None | Some(Phase::Pending) => "open",
        Some(Phase::Running) => "processing",
        Some(Phase::Succeeded) => "completed",
        Some(Phase::Failed) => "failed",
        Some(Phase::Cancelled) => "cancelled",
    }
}

/// Backstage's status of a step in `phase`.
fn step_status(phase: StepPhase) -> &'static str {
    match phase {
        StepPhase::Pending => "open",
        StepPhase::Running => "processing",
        StepPhase::Succeeded => "completed",
        StepPhase::Failed => "failed",
        StepPhase::Skipped => "skipped",
    }
}

fn timestamp(time: &Time) -> String {
    time.0.to_string()
}

/// `request` as Backstage's `SerializedTask`. `user` is `${{ user }}` of
/// the request (its verified requester); its `ref` is the task's
/// `createdBy`.
pub fn task(request: &ScaffoldRequest, user: &Value) -> Value {
    let namespace = request.metadata.namespace.as_deref().unwrap_or_default();
    let name = request.metadata.name.as_deref().unwrap_or_default();
    let status = request.status.clone().unwrap_or_default();
    let template = &request.spec.template_ref;
    let template_namespace = template.namespace.as_deref().unwrap_or(namespace);
    let steps: Vec<Value> = status
        .steps
        .iter()
        .map(|s| json!({"id": s.id, "name": s.id, "action": s.action}))
        .collect();
    let mut task = json!({
        "id": task_id(namespace, name),
        "spec": {
            "apiVersion": TASK_API_VERSION,
            "templateInfo": {"entityRef": format!("template:{template_namespace}/{}", template.name)},
            "parameters": request.spec.parameters,
            "steps": steps,
            "output": status.output.as_ref().map(|o| json!({"links": o.links, "text": o.text})).unwrap_or(json!({})),
        },
        "status": task_status(phase(request)),
        "createdAt": request.metadata.creation_timestamp.as_ref().map(timestamp).unwrap_or_default(),
    });
    if let Some(heartbeat) = last_activity(&status.steps) {
        task["lastHeartbeatAt"] = Value::String(timestamp(heartbeat));
    }
    if let Some(reference) = user.get("ref").and_then(Value::as_str) {
        task["createdBy"] = Value::String(reference.to_string());
        task["spec"]["user"] = json!({"ref": reference});
    }
    task
}

/// When a step last started or finished.
fn last_activity(steps: &[StepStatus]) -> Option<&Time> {
    steps
        .iter()
        .flat_map(|s| [s.started_at.as_ref(), s.completed_at.as_ref()])
        .flatten()
        .max_by_key(|t| t.0)
}

/// How far apart the event ids of two runs of a request are: more than the
/// `2n + 1` ids of a run of the at most 100 steps a Template holds.
const RUN_SPAN: u64 = 1000;

/// The first event id of the run at `generation` (`metadata.generation`,
/// from 1): 0 for the first run, [`RUN_SPAN`] further for each later one.
fn run_base(generation: Option<i64>) -> u64 {
    let generation = u64::try_from(generation.unwrap_or(1)).unwrap_or(0);
    generation.saturating_sub(1).saturating_mul(RUN_SPAN)
}

/// The events of `request`'s task with an id above `after`, in id order.
/// Step `i` (from 0) begins with event `b + 2i + 1` and ends with
/// `b + 2i + 2`, where `b` is the base of the generation the step last ran
/// at ([`run_base`]); the run's end is `b + 2n + 1` for `n` steps, with `b`
/// the generation status reflects (a cancelled run adds its `completion`
/// at `b + 2n + 2`). A step run again (a retry, a resume
/// after a cancel) tells its new start and end under new, higher ids, so a
/// caller who has seen every earlier id (`after`) still gets them.
pub fn events(request: &ScaffoldRequest, after: u64) -> Vec<Value> {
    let namespace = request.metadata.namespace.as_deref().unwrap_or_default();
    let name = request.metadata.name.as_deref().unwrap_or_default();
    let id = task_id(namespace, name);
    let status = request.status.clone().unwrap_or_default();
    let event = |number: u64, type_: &str, body: Value, at: Option<&Time>| {
        json!({
            "id": number,
            "taskId": id,
            "type": type_,
            "body": body,
            "createdAt": at.map(timestamp).unwrap_or_default(),
        })
    };
    let mut all = Vec::new();
    for (index, step) in status.steps.iter().enumerate() {
        let base = run_base(step.generation) + 2 * index as u64;
        if let Some(started) = &step.started_at {
            let body = json!({
                "message": format!("Beginning step {}", step.id),
                "stepId": step.id,
                "status": "processing",
            });
            all.push(event(base + 1, "log", body, Some(started)));
        }
        let ended = matches!(
            step.phase,
            StepPhase::Succeeded | StepPhase::Failed | StepPhase::Skipped
        );
        if ended {
            let message = step
                .message
                .clone()
                .unwrap_or_else(|| format!("Finished step {}", step.id));
            let body = json!({"message": message, "stepId": step.id, "status": step_status(step.phase)});
            all.push(event(base + 2, "log", body, step.completed_at.as_ref()));
        }
    }
    let last = run_base(status.observed_generation) + 2 * status.steps.len() as u64 + 1;
    let ready = conditions::find(&status.conditions, ConditionType::Ready);
    let when = ready.map(|c| &c.last_transition_time);
    let reason = ready.map(|c| c.message.clone()).unwrap_or_default();
    let end = match phase(request) {
        Some(Phase::Succeeded) => {
            let output = status
                .output
                .as_ref()
                .map(|o| json!({"links": o.links, "text": o.text}))
                .unwrap_or(json!({}));
            let body = json!({"message": "Run completed with status: completed", "status": "completed", "output": output});
            vec![event(last, "completion", body, when)]
        }
        Some(Phase::Failed) => {
            let body = json!({
                "message": "Run completed with status: failed",
                "status": "failed",
                "error": {"name": "Error", "message": reason},
            });
            vec![event(last, "completion", body, when)]
        }
        // Backstage tells a cancel, then completes the run: its client
        // stops following a task at a `completion`.
        Some(Phase::Cancelled) => {
            let body = json!({"message": reason, "status": "cancelled"});
            let completion =
                json!({"message": "Run completed with status: cancelled", "status": "cancelled"});
            vec![
                event(last, "cancelled", body, when),
                event(last + 1, "completion", completion, when),
            ]
        }
        _ => Vec::new(),
    };
    all.extend(end);
    all.retain(|e| e["id"].as_u64().is_some_and(|n| n > after));
    all.sort_by_key(|e| e["id"].as_u64());
    all
}

/// Whether a task in `status` has ended: its events are all there.
pub fn ended(request: &ScaffoldRequest) -> bool {
    matches!(
        phase(request),
        Some(Phase::Succeeded | Phase::Failed | Phase::Cancelled)
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::api::conditions::{State, set_state};
    use crate::api::{OutputLink, RequestOutput, ScaffoldRequestSpec, ScaffoldRequestStatus, TemplateRef};

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(1_700_000_000 + second).unwrap())
    }

    fn step(id: &str, phase: StepPhase, started: Option<i64>, completed: Option<i64>) -> StepStatus {
        StepStatus {
            id: id.into(),
            action: "debug:log".into(),
            phase,
            started_at: started.map(at),
            completed_at: completed.map(at),
            resumed_at: None,
            generation: started.map(|_| 1),
            message: None,
            output: None,
            wait_until: None,
        }
    }

    fn request(phase: Phase, steps: Vec<StepStatus>) -> ScaffoldRequest {
        let mut request = ScaffoldRequest::new(
            "orders",
            ScaffoldRequestSpec {
                template_ref: TemplateRef {
                    name: "service".into(),
                    namespace: None,
                },
                parameters: json!({"name": "orders"}),
                ..ScaffoldRequestSpec::default()
            },
        );
        request.metadata.namespace = Some("team-a".into());
        request.metadata.creation_timestamp = Some(at(0));
        let mut status = ScaffoldRequestStatus {
            phase: Some(phase),
            steps,
            ..ScaffoldRequestStatus::default()
        };
        let (state, reason, message) = match phase {
            Phase::Succeeded => (State::Ready, "Succeeded", "every step succeeded"),
            Phase::Failed => (State::Stalled, "StepFailed", "step b (debug:log) failed: no"),
            Phase::Cancelled => (
                State::Stopped,
                "Cancelled",
                "cancelled by spec.cancel after step a",
            ),
            _ => (State::Reconciling, "Running", "step b"),
        };
        set_state(&mut status.conditions, state, reason, message, Some(1), at(50).0);
        request.status = Some(status);
        request
    }

    fn summary(events: &[Value]) -> Vec<(u64, String, String)> {
        events
            .iter()
            .map(|e| {
                let status = e["body"]["status"].as_str().unwrap_or_default();
                (
                    e["id"].as_u64().unwrap(),
                    e["type"].as_str().unwrap().to_string(),
                    status.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_task_id_names_one_request_and_nothing_else() {
        assert_eq!(task_id("team-a", "orders"), "team-a:orders");
        assert_eq!(parse_task_id("team-a:orders"), Some(("team-a", "orders")));
        for bad in ["orders", ":orders", "team-a:", "a:b:c", ""] {
            assert_eq!(parse_task_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_phase_is_a_backstage_task_status() {
        let statuses: Vec<&str> = [
            None,
            Some(Phase::Pending),
            Some(Phase::Running),
            Some(Phase::Succeeded),
            Some(Phase::Failed),
            Some(Phase::Cancelled),
        ]
        .into_iter()
        .map(task_status)
        .collect();
        assert_eq!(
            statuses,
            ["open", "open", "processing", "completed", "failed", "cancelled"]
        );
    }

    #[test]
    fn a_task_carries_the_template_the_parameters_and_who_asked() {
        let running = request(
            Phase::Running,
            vec![
                step("a", StepPhase::Succeeded, Some(1), Some(2)),
                step("b", StepPhase::Running, Some(3), None),
            ],
        );
        let user = json!({"ref": "user:default/jane"});
        let task = task(&running, &user);
        assert_eq!(task["id"], "team-a:orders");
        assert_eq!(task["status"], "processing");
        assert_eq!(task["createdBy"], "user:default/jane");
        assert_eq!(
            task["spec"]["templateInfo"]["entityRef"],
            "template:team-a/service"
        );
        assert_eq!(task["spec"]["parameters"]["name"], "orders");
        assert_eq!(
            task["spec"]["steps"][1],
            json!({"id": "b", "name": "b", "action": "debug:log"})
        );
        assert_eq!(task["createdAt"], at(0).0.to_string());
        assert_eq!(task["lastHeartbeatAt"], at(3).0.to_string());
        let anonymous = super::task(&running, &Value::Null);
        assert!(anonymous.get("createdBy").is_none());
    }

    #[test]
    fn events_follow_the_steps_with_ids_that_do_not_move_as_the_run_goes_on() {
        let early = request(
            Phase::Running,
            vec![
                step("a", StepPhase::Succeeded, Some(1), Some(2)),
                step("b", StepPhase::Running, Some(3), None),
            ],
        );
        let mut done = request(
            Phase::Succeeded,
            vec![
                step("a", StepPhase::Succeeded, Some(1), Some(2)),
                step("b", StepPhase::Succeeded, Some(3), Some(4)),
            ],
        );
        if let Some(status) = done.status.as_mut() {
            status.output = Some(RequestOutput {
                links: vec![OutputLink {
                    title: Some("Repository".into()),
                    url: Some("https://git.example/o/r".into()),
                    ..OutputLink::default()
                }],
                text: Vec::new(),
            });
        }
        let before = events(&early, 0);
        let after = events(&done, 0);
        assert_eq!(
            summary(&before),
            [
                (1, "log".into(), "processing".into()),
                (2, "log".into(), "completed".into()),
                (3, "log".into(), "processing".into()),
            ]
        );
        assert_eq!(after[..3], before[..], "what was told stays as it was");
        assert_eq!(
            summary(&after[3..]),
            [
                (4, "log".into(), "completed".into()),
                (5, "completion".into(), "completed".into())
            ]
        );
        assert_eq!(
            after[4]["body"]["output"]["links"][0]["url"],
            "https://git.example/o/r"
        );
        assert_eq!(after[0]["taskId"], "team-a:orders");
        assert_eq!(after[0]["body"]["stepId"], "a");
        // `after` leaves out what the caller has seen.
        assert_eq!(summary(&events(&done, 3)), summary(&after[3..]));
        assert!(events(&done, 5).is_empty());
    }

    #[test]
    fn a_retried_step_is_told_again_under_ids_above_everything_told_before() {
        let mut failing = step("b", StepPhase::Failed, Some(3), Some(4));
        failing.message = Some("step b (debug:log) failed: no".into());
        let mut failed = request(
            Phase::Failed,
            vec![step("a", StepPhase::Succeeded, Some(1), Some(2)), failing],
        );
        failed.status.as_mut().unwrap().observed_generation = Some(1);
        let before = events(&failed, 0);
        let told = before.last().unwrap()["id"].as_u64().unwrap();
        assert_eq!(told, 5);

        // Retried (generation 2): b runs again, then the run succeeds.
        let mut retried = failed.clone();
        let status = retried.status.as_mut().unwrap();
        status.phase = Some(Phase::Running);
        status.observed_generation = Some(2);
        status.steps[1] = step("b", StepPhase::Running, Some(3), None);
        status.steps[1].generation = Some(2);
        let running = events(&retried, told);
        assert_eq!(summary(&running), [(1003, "log".into(), "processing".into())]);
        let status = retried.status.as_mut().unwrap();
        status.phase = Some(Phase::Succeeded);
        status.steps[1] = step("b", StepPhase::Succeeded, Some(3), Some(9));
        status.steps[1].generation = Some(2);
        let all = events(&retried, 0);
        let ids: Vec<u64> = all.iter().map(|e| e["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 1003, 1004, 1005], "unique and in order");
        assert_eq!(
            summary(&events(&retried, told)),
            [
                (1003, "log".into(), "processing".into()),
                (1004, "log".into(), "completed".into()),
                (1005, "completion".into(), "completed".into()),
            ]
        );
        // The finished step keeps what was told of it.
        assert_eq!(all[..2], before[..2]);
    }

    #[test]
    fn a_failed_or_cancelled_run_ends_with_its_reason() {
        let mut failing = step("b", StepPhase::Failed, Some(3), Some(4));
        failing.message = Some("step b (debug:log) failed: no".into());
        let failed = request(
            Phase::Failed,
            vec![step("a", StepPhase::Succeeded, Some(1), Some(2)), failing],
        );
        let all = events(&failed, 0);
        assert_eq!(all[3]["body"]["message"], "step b (debug:log) failed: no");
        assert_eq!(all[3]["body"]["status"], "failed");
        assert_eq!(all[4]["type"], "completion");
        assert_eq!(
            all[4]["body"]["error"]["message"],
            "step b (debug:log) failed: no"
        );

        let cancelled = request(
            Phase::Cancelled,
            vec![
                step("a", StepPhase::Succeeded, Some(1), Some(2)),
                step("b", StepPhase::Pending, None, None),
            ],
        );
        let all = events(&cancelled, 0);
        assert_eq!(
            summary(&all)[2..],
            [
                (5, "cancelled".into(), "cancelled".into()),
                (6, "completion".into(), "cancelled".into()),
            ]
        );
        assert_eq!(all[2]["body"]["message"], "cancelled by spec.cancel after step a");
        assert!(ended(&cancelled));
        assert!(!ended(&request(Phase::Running, Vec::new())));

        // Retried: until the controller takes up the new generation, the
        // old end is no end, and nothing ends the task's events.
        let mut retried = cancelled.clone();
        retried.metadata.generation = Some(3);
        retried.status.as_mut().unwrap().observed_generation = Some(2);
        assert!(!ended(&retried));
        assert_eq!(task(&retried, &Value::Null)["status"], "open");
        assert!(
            events(&retried, 0).iter().all(|e| e["type"] == "log"),
            "a superseded end is not told"
        );
    }
}
