//! The rules of cancel, resume and retry, without a cluster.

use serde_json::json;

use super::*;

/// `running()` with `fetch` done and `publish` in `publish_phase`, started.
fn halfway(publish_phase: StepPhase, message: &str) -> ScaffoldRequestStatus {
    let mut status = running();
    status.steps[0] = StepStatus {
        id: "fetch".into(),
        ..done("fetch:template", json!({}))
    };
    status.steps[1].phase = publish_phase;
    status.steps[1].started_at = Some(at(30));
    status.steps[1].message = Some(message.into());
    status
}

fn kstatus_of(status: &ScaffoldRequestStatus) -> Vec<(String, String, String)> {
    ["Ready", "Reconciling", "Stalled"]
        .into_iter()
        .map(|t| {
            let c = condition(status, t);
            (c.type_.clone(), c.status.clone(), c.reason.clone())
        })
        .collect()
}

#[test]
fn a_cancelled_request_stops_neither_ready_nor_reconciling_nor_stalled_keeping_its_steps() {
    let retrying = halfway(StepPhase::Pending, "connection refused; trying again in 8s");
    let cancel = Asked {
        cancel: true,
        ..asked(2)
    };
    let cancelled = admit(retrying, cancel, at(40));
    assert_eq!(cancelled.next, Next::AwaitChange);
    assert_eq!(cancelled.status.phase, Some(Phase::Cancelled));
    assert_eq!(cancelled.status.observed_generation, Some(2));
    assert_eq!(
        kstatus_of(&cancelled.status),
        [
            ("Ready".into(), "False".into(), "Cancelled".into()),
            ("Reconciling".into(), "False".into(), "Cancelled".into()),
            ("Stalled".into(), "False".into(), "Cancelled".into()),
        ]
    );
    let message = &condition(&cancelled.status, "Ready").message;
    assert!(
        message.contains("after step fetch: 1 of 2 steps finished") && message.contains("nothing"),
        "{message}"
    );
    // The finished step's record stays; the interrupted one says why it stopped.
    assert_eq!(cancelled.status.steps[0].phase, StepPhase::Succeeded);
    assert_eq!(cancelled.status.steps[1].phase, StepPhase::Pending);
    assert_eq!(
        cancelled.status.steps[1].message.as_deref(),
        Some("cancelled before this step finished")
    );
    assert_eq!(cancelled.effects[0], Effect::WriteStatus);
    assert_eq!(events(&cancelled)[0].0, "Cancelled");
    assert_eq!(cancelled.effects.last(), Some(&Effect::RecordOutcome));
    assert!(is_finished(Some(&cancelled.status), Some(2)));

    // It stays cancelled: the same spec again does nothing, a newer one
    // that still cancels is only noted.
    let again = admit(cancelled.status.clone(), cancel, at(50));
    assert_eq!(again.next, Next::AwaitChange);
    assert!(again.effects.is_empty());
    let newer = admit(
        cancelled.status,
        Asked {
            cancel: true,
            ..asked(3)
        },
        at(50),
    );
    assert_eq!(newer.effects, [Effect::WriteStatus]);
    assert_eq!(newer.status.observed_generation, Some(3));
    assert_eq!(newer.status.phase, Some(Phase::Cancelled));
}

#[test]
fn a_request_cancelled_before_any_step_finished_says_so_and_a_succeeded_one_ignores_cancel() {
    let pending = admit(ScaffoldRequestStatus::default(), asked(1), at(10)).status;
    let cancelled = cancel(
        pending,
        Asked {
            cancel: true,
            ..asked(1)
        },
        at(20),
    );
    assert_eq!(cancelled.status.phase, Some(Phase::Cancelled));
    assert_eq!(
        condition(&cancelled.status, "Ready").message,
        "cancelled by spec.cancel before any step finished"
    );

    let succeeded = admit(
        finished(Phase::Succeeded, 1),
        Asked {
            cancel: true,
            ..asked(2)
        },
        at(10),
    );
    assert_eq!(succeeded.status.phase, Some(Phase::Succeeded));
    assert_eq!(condition(&succeeded.status, "SpecChanged").reason, "NotRerun");

    let failed = admit(
        finished(Phase::Failed, 1),
        Asked {
            cancel: true,
            ..asked(2)
        },
        at(10),
    );
    assert_eq!(
        failed.status.phase,
        Some(Phase::Cancelled),
        "a failed request is not retried once cancelled"
    );
}

#[test]
fn clearing_cancel_resumes_where_the_request_stopped() {
    let cancelled = admit(
        halfway(StepPhase::Pending, "trying again in 8s"),
        Asked {
            cancel: true,
            ..asked(2)
        },
        at(40),
    )
    .status;
    let resumed = admit(cancelled, asked(3), at(60));
    assert_eq!(resumed.next, Next::Continue);
    assert_eq!(resumed.status.phase, Some(Phase::Running));
    assert_eq!(resumed.status.template_revision.as_deref(), Some("abc123"));
    assert_eq!(resumed.status.steps[0].phase, StepPhase::Succeeded);
    assert_eq!(resumed.status.steps[1].message, None);
    assert_eq!(
        resumed.status.steps[1].resumed_at, None,
        "a step that had not failed goes on with its attempt"
    );
    assert_eq!(condition(&resumed.status, "Reconciling").reason, "Resuming");
    assert_eq!(
        events(&resumed),
        [(
            "Resumed",
            "Resumed",
            "spec.cancel was cleared: resuming at step publish, keeping the 1 finished steps"
        )]
    );
}

#[test]
fn a_retry_resumes_a_failed_request_at_its_failed_step_keeping_every_checkpoint() {
    let mut failed = halfway(StepPhase::Failed, "the repository holds other content");
    failed.steps[1].completed_at = Some(at(35));
    failed.phase = Some(Phase::Failed);
    failed.repository = Some("https://git.example/o/r".into());
    set_state(
        &mut failed.conditions,
        State::Stalled,
        "StepFailed",
        "no",
        Some(1),
        at(35).0,
    );
    let fetch = failed.steps[0].clone();
    let retry = Asked { retry: 1, ..asked(2) };
    let resumed = admit(failed, retry, at(60));
    assert_eq!(resumed.next, Next::Continue);
    let status = &resumed.status;
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!((status.observed_generation, status.observed_retry), (Some(2), 1));
    assert_eq!(
        status.template_revision.as_deref(),
        Some("abc123"),
        "the pin stays"
    );
    assert_eq!(status.repository.as_deref(), Some("https://git.example/o/r"));
    assert_eq!(status.steps[0], fetch, "the finished step's record is untouched");
    let publish = &status.steps[1];
    assert_eq!(publish.phase, StepPhase::Pending);
    assert_eq!(
        (publish.completed_at.clone(), publish.message.clone()),
        (None, None)
    );
    assert_eq!(publish.started_at, Some(at(30)), "when it first started stays");
    assert_eq!(
        publish.resumed_at,
        Some(at(60)),
        "its new attempt began now: a wait:approval step counts approvals from then"
    );
    assert_eq!(
        kstatus_of(status)
            .into_iter()
            .map(|(_, s, _)| s)
            .collect::<Vec<_>>(),
        ["False", "True", "False"]
    );
    assert_eq!(resumed.effects[0], Effect::WriteStatus);
    assert_eq!(
        events(&resumed)[0].2,
        "retry 1: resuming at step publish, keeping the 1 finished steps"
    );
    // The step loop then rebuilds the workspace and runs the failed step.
    let plans: Vec<StepPlan> = status
        .steps
        .iter()
        .map(|s| plan_step(s, actions::reach(&s.action)))
        .collect();
    assert_eq!(plans, [StepPlan::Rebuild, StepPlan::Run]);

    // Failing again, the same retry count is not a retry: another spec
    // change starts over, a higher count resumes again.
    let mut again = resumed.status;
    again.phase = Some(Phase::Failed);
    let unchanged = admit(again.clone(), retry, at(70));
    assert!(unchanged.effects.is_empty());
    assert_eq!(unchanged.next, Next::AwaitChange);
    let restarted = admit(again.clone(), Asked { retry: 1, ..asked(3) }, at(70));
    assert!(
        restarted.status.steps.is_empty(),
        "a plain spec change starts over"
    );
    assert_eq!(restarted.status.observed_retry, 1);
    let retried = admit(again, Asked { retry: 2, ..asked(3) }, at(70));
    assert_eq!(retried.status.steps[0].phase, StepPhase::Succeeded);
    assert_eq!(retried.status.observed_retry, 2);
}
