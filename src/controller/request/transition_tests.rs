//! One test (at least) per rule of a request's life, without a cluster.

use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::actions;
use crate::api::OutputText;
use crate::controller::Retries;

const FINALIZER: &str = "goldpath.dev/cleanup";

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap())
}

fn condition<'a>(status: &'a ScaffoldRequestStatus, type_: &str) -> &'a crate::api::Condition {
    status.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

fn events(transition: &Transition) -> Vec<(&str, &str, &str)> {
    transition
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Event(note) => Some((note.reason.as_str(), note.action.as_str(), note.note.as_str())),
            _ => None,
        })
        .collect()
}

/// A request running its two steps, `fetch` (a workspace step) and
/// `publish`, at generation 1.
fn running() -> ScaffoldRequestStatus {
    let steps = vec![
        ("fetch".to_string(), "fetch:template".to_string()),
        ("publish".to_string(), "publish:github".to_string()),
    ];
    let admitted = admit(ScaffoldRequestStatus::default(), asked(1), at(10)).status;
    start(admitted, "abc123", steps, || "started".into()).status
}

/// A spec at `generation` that asks for nothing more.
fn asked(generation: i64) -> Asked {
    Asked {
        generation: Some(generation),
        ..Asked::default()
    }
}

fn outcome(phase: StepPhase, message: Option<&str>, output: Value) -> StepOutcome {
    StepOutcome {
        id: "publish".into(),
        action: "publish:github".into(),
        phase,
        input: None,
        output,
        message: message.map(str::to_string),
        log: Vec::new(),
        transient: false,
        retry_after: None,
        waiting: false,
    }
}

fn transient(message: &str, retry_after: Option<Duration>) -> StepOutcome {
    StepOutcome {
        transient: true,
        retry_after,
        ..outcome(StepPhase::Failed, Some(message), json!({}))
    }
}

fn finished(phase: Phase, generation: i64) -> ScaffoldRequestStatus {
    ScaffoldRequestStatus {
        phase: Some(phase),
        observed_generation: Some(generation),
        template_revision: Some("abc123".into()),
        ..running()
    }
}

#[test]
fn a_request_is_finished_only_for_the_spec_it_ran() {
    assert!(is_finished(Some(&finished(Phase::Succeeded, 1)), Some(1)));
    assert!(is_finished(Some(&finished(Phase::Failed, 1)), Some(1)));
    assert!(is_finished(Some(&finished(Phase::Cancelled, 1)), Some(1)));
    assert!(!is_finished(Some(&finished(Phase::Cancelled, 1)), Some(2)));
    assert!(!is_finished(Some(&finished(Phase::Failed, 1)), Some(2)));
    assert!(!is_finished(Some(&finished(Phase::Running, 1)), Some(1)));
    assert!(!is_finished(None, Some(1)));
}

#[test]
fn a_first_run_goes_on_for_the_current_spec_and_pins_the_revision_once() {
    let admitted = admit(ScaffoldRequestStatus::default(), asked(3), at(10));
    assert_eq!(admitted.next, Next::Continue);
    assert!(admitted.effects.is_empty());
    assert_eq!(admitted.status.observed_generation, Some(3));

    let steps = vec![("fetch".to_string(), "fetch:template".to_string())];
    let started = start(admitted.status, "abc123", steps.clone(), || "rendering t".into());
    assert_eq!(started.status.phase, Some(Phase::Running));
    assert_eq!(started.status.template_revision.as_deref(), Some("abc123"));
    assert_eq!(started.status.steps.len(), 1);
    assert_eq!(started.status.steps[0].phase, StepPhase::Pending);
    assert_eq!(events(&started), [("Started", "Started", "rendering t")]);

    // Resuming keeps the pinned revision and the steps' progress, and does
    // not announce the start again.
    let mut resumed = started.status;
    resumed.steps[0].phase = StepPhase::Succeeded;
    let again = start(resumed, "def456", steps, || unreachable!("announced once"));
    assert_eq!(again.status.template_revision.as_deref(), Some("abc123"));
    assert_eq!(again.status.steps[0].phase, StepPhase::Succeeded);
    assert!(again.effects.is_empty());
}

#[test]
fn a_spec_changed_after_success_is_reported_not_run() {
    let changed = admit(finished(Phase::Succeeded, 1), asked(2), at(10));
    assert_eq!(changed.next, Next::AwaitChange);
    assert_eq!(changed.status.phase, Some(Phase::Succeeded));
    assert_eq!(changed.status.observed_generation, Some(2));
    assert_eq!(changed.status.steps.len(), 2, "the checkpoint is kept");
    let spec_changed = condition(&changed.status, "SpecChanged");
    assert_eq!(
        (spec_changed.status.as_str(), spec_changed.reason.as_str()),
        ("True", "NotRerun")
    );
    assert!(
        spec_changed.message.contains("generation 2"),
        "{}",
        spec_changed.message
    );
    assert_eq!(changed.effects[0], Effect::WriteStatus);
    assert_eq!(events(&changed)[0].0, "SpecChanged");

    // Reported once: the next reconcile finds it settled.
    let settled = admit(changed.status, asked(2), at(10));
    assert_eq!(settled.next, Next::AwaitChange);
    assert!(settled.effects.is_empty());
}

#[test]
fn a_failed_request_stays_failed_until_its_spec_changes_then_starts_over() {
    let unchanged = admit(finished(Phase::Failed, 1), asked(1), at(10));
    assert_eq!(unchanged.next, Next::AwaitChange);
    assert!(unchanged.effects.is_empty());

    let mut failed = finished(Phase::Failed, 1);
    set_state(
        &mut failed.conditions,
        State::Stalled,
        "StepFailed",
        "no",
        Some(1),
        at(5).0,
    );
    let changed = admit(failed, asked(2), at(10));
    assert_eq!(changed.next, Next::Continue);
    assert!(changed.effects.is_empty());
    assert_eq!(changed.status.phase, None);
    assert_eq!(changed.status.observed_generation, Some(2));
    assert_eq!(changed.status.template_revision, None, "the new spec pins again");
    assert!(changed.status.steps.is_empty(), "every step runs again");
    assert_eq!(
        condition(&changed.status, "Stalled").reason,
        "StepFailed",
        "conditions kept"
    );
}

#[test]
fn a_request_rejected_before_its_steps_fails_for_good() {
    let rejected = reject(
        running(),
        "InvalidParameters",
        "spec.parameters.name: required".into(),
        at(10),
    );
    assert_eq!(rejected.status.phase, Some(Phase::Failed));
    assert_eq!(rejected.next, Next::AwaitChange);
    assert_eq!(condition(&rejected.status, "Stalled").status, "True");
    assert_eq!(
        condition(&rejected.status, "Ready").message,
        "spec.parameters.name: required"
    );
    assert_eq!(rejected.effects[0], Effect::WriteStatus);
    assert_eq!(events(&rejected)[0].0, "InvalidParameters");
    assert_eq!(rejected.effects.last(), Some(&Effect::RecordOutcome));
}

#[test]
fn a_waiting_request_writes_and_announces_only_what_is_new() {
    let admitted = admit(ScaffoldRequestStatus::default(), asked(1), at(10)).status;
    let first = wait(
        None,
        admitted,
        State::Stalled,
        "TemplateNotFound",
        "no t".into(),
        None,
        at(10),
    );
    assert_eq!(first.status.phase, Some(Phase::Pending));
    assert_eq!(first.next, Next::AwaitChange);
    assert_eq!(first.effects[0], Effect::WriteStatus);
    assert_eq!(events(&first), [("TemplateNotFound", "TemplateNotFound", "no t")]);

    let before = first.status;
    let same = wait(
        Some(&before),
        before.clone(),
        State::Stalled,
        "TemplateNotFound",
        "no t".into(),
        None,
        at(20),
    );
    assert!(same.effects.is_empty(), "{:?}", same.effects);

    let reworded = wait(
        Some(&before),
        before.clone(),
        State::Stalled,
        "TemplateNotFound",
        "no t yet".into(),
        None,
        at(20),
    );
    assert_eq!(
        reworded.effects,
        [Effect::WriteStatus],
        "same reason: no second Event"
    );

    let retry = Some(Duration::from_secs(2));
    let retried = wait(
        Some(&before),
        before.clone(),
        State::Reconciling,
        "TemplateUnavailable",
        "later".into(),
        retry,
        at(20),
    );
    assert_eq!(retried.next, Next::RequeueAfter(Duration::from_secs(2)));
    assert_eq!(condition(&retried.status, "Reconciling").status, "True");
    assert_eq!(events(&retried)[0].0, "TemplateUnavailable");
}

fn done(action: &str, output: Value) -> StepStatus {
    StepStatus {
        id: "s".into(),
        action: action.into(),
        phase: StepPhase::Succeeded,
        started_at: Some(at(10)),
        completed_at: Some(at(20)),
        resumed_at: None,
        generation: Some(1),
        wait_until: None,
        message: None,
        output: Some(output),
    }
}

#[test]
fn a_resumed_request_rebuilds_its_workspace_and_restores_what_acted_on_the_world() {
    let plan = |step: &StepStatus| plan_step(step, actions::reach(&step.action));
    // A workspace step runs again, unrecorded: it is pure.
    assert_eq!(plan(&done("fetch:template", json!({}))), StepPlan::Rebuild);
    // Publishing, a cluster effect and registering in the catalog are not
    // done twice: their recorded outputs stand in.
    let published = json!({ "remoteUrl": "https://git.example/o/r" });
    assert_eq!(
        plan(&done("publish:github", published.clone())),
        StepPlan::Restore(published)
    );
    let applied = json!({ "applications": ["team-r"] });
    assert_eq!(
        plan(&done("argocd:create-resources", applied.clone())),
        StepPlan::Restore(applied)
    );
    assert_eq!(
        plan(&done("kubernetes:apply", json!({}))),
        StepPlan::Restore(json!({}))
    );
    let registered = json!({ "entityRef": "component:team/r" });
    assert_eq!(
        plan(&done("catalog:register", registered.clone())),
        StepPlan::Restore(registered)
    );
    let skipped = StepStatus {
        phase: StepPhase::Skipped,
        output: None,
        ..done("publish:github", json!({}))
    };
    assert_eq!(plan(&skipped), StepPlan::Restore(json!({})));
    // A step that did not finish runs, whatever its action.
    for phase in [StepPhase::Pending, StepPhase::Running, StepPhase::Failed] {
        let unfinished = StepStatus {
            phase,
            ..done("publish:github", json!({}))
        };
        assert_eq!(plan(&unfinished), StepPlan::Run);
    }
}

#[test]
fn a_rebuilt_workspace_step_records_nothing_unless_it_fails() {
    let mut resumed = running();
    resumed.steps[0] = StepStatus {
        id: "fetch".into(),
        ..done("fetch:template", json!({}))
    };
    let rebuilt = end_rebuild(
        resumed.clone(),
        0,
        outcome(StepPhase::Succeeded, None, json!({})),
        at(500),
        || unreachable!(),
    );
    assert_eq!(rebuilt.next, Next::Continue);
    assert!(rebuilt.effects.is_empty());
    assert_eq!(rebuilt.status, resumed, "its first completion stands");

    let broken = end_rebuild(
        resumed,
        0,
        outcome(StepPhase::Failed, Some("gone"), json!({})),
        at(500),
        || unreachable!(),
    );
    assert_eq!(broken.status.phase, Some(Phase::Failed));
    assert_eq!(broken.status.steps[0].message.as_deref(), Some("gone"));
}

#[test]
fn a_step_start_is_written_first_and_announced_once() {
    let started = start_step(running(), 1, at(100));
    let step = &started.status.steps[1];
    assert_eq!(step.phase, StepPhase::Running);
    assert_eq!(step.started_at, Some(at(100)));
    assert_eq!(started.effects[0], Effect::WriteStatus);
    assert_eq!(
        events(&started),
        [("StepStarted", "Step publish", "step publish (publish:github)")]
    );
    assert_eq!(condition(&started.status, "Reconciling").reason, "Running");

    // A retry keeps the first start and says nothing new.
    let retried = start_step(started.status, 1, at(200));
    assert_eq!(retried.status.steps[1].started_at, Some(at(100)));
    assert_eq!(retried.effects, [Effect::WriteStatus]);
}

#[test]
fn a_step_that_succeeds_is_recorded_with_its_output_and_the_loop_goes_on() {
    let output = json!({ "remoteUrl": "https://goldpath:s3cret@git.example/o/r" });
    let ended = end_step(
        running(),
        1,
        outcome(StepPhase::Succeeded, None, output.clone()),
        at(300),
        || unreachable!("no backoff on success"),
    );
    assert_eq!(ended.next, Next::Continue);
    let step = &ended.status.steps[1];
    assert_eq!(step.phase, StepPhase::Succeeded);
    assert_eq!(step.completed_at, Some(at(300)));
    assert_eq!(step.output, Some(output));
    assert_eq!(
        ended.status.repository.as_deref(),
        Some("https://goldpath:***@git.example/o/r")
    );
    // Written when the next step starts or the request completes.
    assert_eq!(
        events(&ended),
        [(
            "StepSucceeded",
            "Step publish",
            "step publish (publish:github) succeeded"
        )]
    );

    let skipped = end_step(
        running(),
        1,
        outcome(StepPhase::Skipped, None, json!({})),
        at(300),
        || unreachable!(),
    );
    assert_eq!(skipped.status.steps[1].phase, StepPhase::Skipped);
    assert_eq!(
        skipped.status.steps[1].output, None,
        "an empty output is not kept"
    );
    assert!(events(&skipped)[0].2.ends_with("skipped"));
}

#[test]
fn a_step_message_is_bounded_in_status() {
    let long = "x".repeat(STEP_MESSAGE_LIMIT * 3);
    let ended = end_step(
        running(),
        0,
        outcome(StepPhase::Succeeded, Some(&long), json!({})),
        at(1),
        || unreachable!(),
    );
    let kept = ended.status.steps[0].message.as_ref().unwrap();
    assert!(kept.len() <= STEP_MESSAGE_LIMIT, "{}", kept.len());
}

#[test]
fn a_transient_failure_retries_with_backoff_from_one_second_doubling_to_a_minute() {
    let retries = Retries::default();
    let mut delays = Vec::new();
    let mut status = running();
    for _ in 0..8 {
        status = start_step(status, 1, at(100)).status;
        let ended = end_step(status, 1, transient("the forge is down", None), at(101), || {
            retries.next("team/r")
        });
        let Next::RequeueAfter(delay) = ended.next else {
            panic!("a transient failure requeues: {:?}", ended.next)
        };
        delays.push(delay.as_secs());
        let step = &ended.status.steps[1];
        assert_eq!(step.phase, StepPhase::Pending);
        assert_eq!(step.completed_at, None);
        let expected = format!("the forge is down; trying again in {}s", delay.as_secs());
        assert_eq!(step.message.as_deref(), Some(expected.as_str()));
        assert_eq!(ended.status.phase, Some(Phase::Running));
        assert_eq!(condition(&ended.status, "Reconciling").reason, "Retrying");
        assert_eq!(ended.effects[0], Effect::WriteStatus);
        assert_eq!(events(&ended)[0].0, "StepRetrying");
        assert!(!ended.effects.contains(&Effect::RecordOutcome));
        status = ended.status;
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);

    // A forge's rate limit says when to come back; that wins.
    let limited = end_step(
        running(),
        1,
        transient("rate limited", Some(Duration::from_secs(900))),
        at(1),
        || unreachable!("the server's delay is used"),
    );
    assert_eq!(limited.next, Next::RequeueAfter(Duration::from_secs(900)));
}

#[test]
fn a_permanent_failure_fails_the_request_for_good() {
    let ended = end_step(
        running(),
        1,
        outcome(StepPhase::Failed, None, json!({})),
        at(400),
        || unreachable!("no retry"),
    );
    assert_eq!(ended.next, Next::AwaitChange);
    assert_eq!(ended.status.phase, Some(Phase::Failed));
    let step = &ended.status.steps[1];
    assert_eq!(step.phase, StepPhase::Failed);
    assert_eq!(step.completed_at, Some(at(400)));
    assert_eq!(
        step.message.as_deref(),
        Some("step publish (publish:github) failed")
    );
    assert_eq!(condition(&ended.status, "Stalled").reason, "StepFailed");
    assert_eq!(ended.effects[0], Effect::WriteStatus);
    assert_eq!(events(&ended)[0].0, "StepFailed");
    assert_eq!(ended.effects.last(), Some(&Effect::RecordOutcome));
    // And it stays failed for that spec.
    assert!(is_finished(Some(&ended.status), Some(1)));
}

#[test]
fn a_request_whose_steps_are_done_succeeds_or_fails_on_its_output() {
    let output = RequestOutput {
        text: vec![OutputText {
            title: Some("t".into()),
            content: Some("c".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let succeeded = complete(running(), Ok(output), at(10));
    assert_eq!(succeeded.status.phase, Some(Phase::Succeeded));
    assert!(succeeded.status.output.is_some());
    assert_eq!(condition(&succeeded.status, "Ready").status, "True");
    assert_eq!(succeeded.effects.first(), Some(&Effect::WriteStatus));
    assert_eq!(succeeded.effects.last(), Some(&Effect::RecordOutcome));
    assert_eq!(succeeded.next, Next::AwaitChange);

    let empty = complete(running(), Ok(RequestOutput::default()), at(10));
    assert_eq!(empty.status.output, None, "an empty output is not kept");

    let failed = complete(running(), Err("the template's output: bad".into()), at(10));
    assert_eq!(failed.status.phase, Some(Phase::Failed));
    assert_eq!(condition(&failed.status, "Stalled").reason, "OutputFailed");
    assert_eq!(
        events(&failed),
        [("OutputFailed", "Output", "the template's output: bad")]
    );
}

#[test]
fn the_finalizer_follows_the_deletion_policy() {
    let other = "example.com/keep".to_string();
    assert_eq!(
        finalizers(std::slice::from_ref(&other), DeletionPolicy::Delete, FINALIZER),
        Some(vec![other.clone(), FINALIZER.to_string()])
    );
    assert_eq!(
        finalizers(
            &[other.clone(), FINALIZER.into()],
            DeletionPolicy::Delete,
            FINALIZER
        ),
        None
    );
    assert_eq!(
        finalizers(
            &[FINALIZER.into(), other.clone()],
            DeletionPolicy::Retain,
            FINALIZER
        ),
        Some(vec![other.clone()])
    );
    assert_eq!(finalizers(&[other], DeletionPolicy::Retain, FINALIZER), None);
}

#[test]
fn deleting_a_request_cleans_up_by_its_policy() {
    let held = [FINALIZER.to_string()];
    assert_eq!(
        cleanup(&held, DeletionPolicy::Delete, FINALIZER),
        Cleanup::DeleteCreated
    );
    // The policy changed to Retain before the finalizer was dropped: what
    // was created stays.
    assert_eq!(
        cleanup(&held, DeletionPolicy::Retain, FINALIZER),
        Cleanup::Release
    );
    assert_eq!(cleanup(&[], DeletionPolicy::Delete, FINALIZER), Cleanup::Nothing);
    assert_eq!(cleanup(&[], DeletionPolicy::Retain, FINALIZER), Cleanup::Nothing);
}

#[test]
fn a_forge_step_succeeds_only_once_a_later_reconcile_finds_the_same_result() {
    let output = json!({ "remoteUrl": "https://git.example/o/r", "commitHash": "c1" });
    let succeeded = || outcome(StepPhase::Succeeded, None, output.clone());
    let never = || -> Duration { unreachable!("no backoff on success") };

    // The first success is recorded, not yet counted: looked at again soon.
    let started = start_step(running(), 1, at(100)).status;
    let published = end_forge_step(started, 1, succeeded(), at(101), never);
    assert_eq!(published.next, Next::RequeueAfter(CONFIRM_AFTER));
    assert_eq!(published.effects, [Effect::WriteStatus]);
    let step = &published.status.steps[1];
    assert_eq!(step.phase, StepPhase::Running);
    assert_eq!(step.output, Some(output.clone()));
    assert_eq!(step.completed_at, None);
    assert_eq!(condition(&published.status, "Reconciling").reason, "Confirming");
    assert_eq!(plan_step(step, actions::reach(&step.action)), StepPlan::Run);

    // The next run finds the same result: now the step succeeded.
    let again = start_step(published.status, 1, at(102)).status;
    assert_eq!(
        again.steps[1].output,
        Some(output.clone()),
        "kept while confirming"
    );
    let confirmed = end_forge_step(again, 1, succeeded(), at(103), never);
    assert_eq!(confirmed.next, Next::Continue);
    assert_eq!(confirmed.status.steps[1].phase, StepPhase::Succeeded);
    assert_eq!(confirmed.status.steps[1].completed_at, Some(at(103)));
    assert_eq!(events(&confirmed)[0].0, "StepSucceeded");

    // A result that changed (made again after a rollback) waits for its own
    // confirmation.
    let redone = json!({ "remoteUrl": "https://git.example/o/r", "commitHash": "c2" });
    let again = start_step(
        end_forge_step(
            start_step(running(), 1, at(1)).status,
            1,
            succeeded(),
            at(2),
            never,
        )
        .status,
        1,
        at(3),
    );
    let changed = end_forge_step(
        again.status,
        1,
        outcome(StepPhase::Succeeded, None, redone.clone()),
        at(4),
        never,
    );
    assert_eq!(changed.next, Next::RequeueAfter(CONFIRM_AFTER));
    assert_eq!(changed.status.steps[1].output, Some(redone));

    // Failures are ended as any step's are.
    let failed = end_forge_step(
        running(),
        1,
        outcome(StepPhase::Failed, Some("refused"), json!({})),
        at(5),
        never,
    );
    assert_eq!(failed.status.phase, Some(Phase::Failed));
    let retried = end_forge_step(running(), 1, transient("down", None), at(5), || {
        Duration::from_secs(8)
    });
    assert_eq!(retried.next, Next::RequeueAfter(Duration::from_secs(8)));
}

#[test]
fn render_warnings_are_added_once_bounded_and_reported_by_an_event() {
    let line = |n: usize| format!("step fetch: input.name: undefined in + ({n})");
    let warned = warn(running(), vec![line(1), line(1), line(2)]);
    assert_eq!(warned.status.warnings, vec![line(1), line(2)]);
    assert_eq!(warned.effects[0], Effect::WriteStatus);
    let note = format!("{}; {}", line(1), line(2));
    assert_eq!(events(&warned), vec![("RenderWarnings", "Render", note.as_str())]);
    assert_eq!(warned.next, Next::Continue);

    // The same warnings again (a step run once more) change nothing.
    let again = warn(warned.status, vec![line(2)]);
    assert!(again.effects.is_empty());

    // Past the bound one line says more were left out, and then nothing changes.
    let many = warn(again.status, (0..500).map(line).collect());
    assert_eq!(many.status.warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(
        many.status.warnings.last().map(String::as_str),
        Some(MORE_WARNINGS)
    );
    let full = warn(many.status, vec![line(1000)]);
    assert!(full.effects.is_empty());
    assert_eq!(full.status.warnings.len(), MAX_WARNINGS + 1);
}

#[path = "transition_resume_tests.rs"]
mod resume;

#[path = "transition_wait_tests.rs"]
mod wait;
