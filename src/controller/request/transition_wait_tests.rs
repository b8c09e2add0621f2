//! The rules of steps that wait, `debug:wait` and gated steps, without a
//! cluster.

use serde_json::json;

use super::*;

#[test]
fn a_wait_records_when_it_ends_requeues_for_the_time_left_and_then_succeeds() {
    let mut status = running();
    status.steps[0].action = "debug:wait".into();
    let status = start_step(status, 0, at(100)).status;
    let ran = || outcome(StepPhase::Succeeded, None, json!({}));
    let wait = Duration::from_secs(90);
    let first = end_wait_step(status, 0, ran(), wait, at(100), || Duration::ZERO);
    assert_eq!(first.next, Next::RequeueAfter(Duration::from_secs(90)));
    assert_eq!(first.effects, vec![Effect::WriteStatus]);
    let step = &first.status.steps[0];
    assert_eq!(step.phase, StepPhase::Running);
    assert_eq!(step.wait_until, Some(at(190)));
    assert!(
        step.message
            .as_deref()
            .unwrap_or_default()
            .contains("90.000s left")
    );
    assert_eq!(condition(&first.status, "Reconciling").reason, "Waiting");

    // Looked at again early (the operator restarted): the end recorded
    // stands, and only the time left is waited for.
    let early = end_wait_step(first.status, 0, ran(), wait, at(160), || Duration::ZERO);
    assert_eq!(early.next, Next::RequeueAfter(Duration::from_secs(30)));
    assert_eq!(early.status.steps[0].wait_until, Some(at(190)));

    let done = end_wait_step(early.status, 0, ran(), wait, at(190), || Duration::ZERO);
    assert_eq!(done.next, Next::Continue);
    assert_eq!(done.status.steps[0].phase, StepPhase::Succeeded);
    // Done, it is restored on a resume, not waited for again.
    assert!(matches!(
        plan_step(&done.status.steps[0], actions::reach("debug:wait")),
        StepPlan::Restore(_)
    ));

    // A wait past the maximum failed when it ran: that failure stands.
    let refused = outcome(StepPhase::Failed, Some("longer than the maximum"), json!({}));
    let failed = end_wait_step(running(), 0, refused, wait, at(100), || Duration::ZERO);
    assert_eq!(failed.status.steps[0].phase, StepPhase::Failed);
    assert_eq!(failed.status.steps[0].wait_until, None);
}

/// A gated step's answer: it waits for `what`, to be looked at again
/// after `recheck`.
fn waits_for(what: &str, recheck: Duration) -> StepOutcome {
    StepOutcome {
        waiting: true,
        retry_after: Some(recheck),
        ..outcome(StepPhase::Running, Some(what), json!({}))
    }
}

/// `running()` with its second step a gated one, started at `start`.
fn gated(start: i64) -> ScaffoldRequestStatus {
    let mut status = running();
    status.steps[0].phase = StepPhase::Succeeded;
    status.steps[1].action = "wait:argocd-application".into();
    start_step(status, 1, at(start)).status
}

#[test]
fn a_gated_step_records_what_it_waits_for_and_its_deadline_and_requeues() {
    let timeout = Duration::from_secs(600);
    let what = "Application argocd/web to be Synced and Healthy; it is OutOfSync, Progressing";
    let first = wait_step(
        gated(100),
        1,
        waits_for(what, Duration::from_secs(5)),
        timeout,
        at(100),
    );
    assert_eq!(first.next, Next::RequeueAfter(Duration::from_secs(5)));
    let step = &first.status.steps[1];
    assert_eq!(step.phase, StepPhase::Running);
    assert_eq!(step.wait_until, Some(at(700)), "the deadline is kept in status");
    assert_eq!(step.completed_at, None);
    let message = step.message.clone().unwrap_or_default();
    assert!(message.contains("step publish (wait:argocd-application) waits for Application argocd/web"));
    assert!(message.contains("times out at"), "{message}");
    let reconciling = condition(&first.status, "Reconciling");
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "Waiting")
    );
    assert_eq!(reconciling.message, message);
    assert_eq!(first.status.phase, Some(Phase::Running));
    assert_eq!(first.effects[0], Effect::WriteStatus);
    assert_eq!(
        events(&first),
        [("StepWaiting", "Step publish", message.as_str())]
    );

    // Looked at again (after a restart too: the deadline is in status),
    // still waiting for the same: nothing new is written or announced, and
    // the step is not started over.
    let restarted = start_step(first.status.clone(), 1, at(400));
    assert!(restarted.effects.is_empty());
    assert_eq!(restarted.status, first.status);
    let again = wait_step(
        restarted.status,
        1,
        waits_for(what, Duration::from_secs(5)),
        timeout,
        at(400),
    );
    assert!(again.effects.is_empty(), "{:?}", again.effects);
    assert_eq!(again.status.steps[1].wait_until, Some(at(700)));

    // Waiting for something else now: written, not announced again.
    let changed = wait_step(
        again.status,
        1,
        waits_for(
            "Application argocd/web to be Healthy; it is Progressing",
            Duration::from_secs(5),
        ),
        timeout,
        at(401),
    );
    assert_eq!(changed.effects, vec![Effect::WriteStatus]);

    // Never looked at again past the deadline, however late the action
    // asks, and never at once, however early.
    let late = wait_step(
        changed.status.clone(),
        1,
        waits_for(what, Duration::from_secs(3600)),
        timeout,
        at(690),
    );
    assert_eq!(late.next, Next::RequeueAfter(Duration::from_secs(10)));
    let eager = wait_step(
        changed.status,
        1,
        waits_for(what, Duration::ZERO),
        timeout,
        at(500),
    );
    assert_eq!(eager.next, Next::RequeueAfter(actions::gate::MIN_RECHECK));
}

#[test]
fn a_gated_step_that_stops_waiting_goes_on_or_fails_as_any_step() {
    let timeout = Duration::from_secs(600);
    let waiting = wait_step(
        gated(100),
        1,
        waits_for("x", Duration::from_secs(5)),
        timeout,
        at(100),
    )
    .status;
    let healthy = outcome(StepPhase::Succeeded, None, json!({"health": "Healthy"}));
    let done = end_step(waiting.clone(), 1, healthy, at(200), || Duration::ZERO);
    assert_eq!(done.next, Next::Continue);
    assert_eq!(done.status.steps[1].phase, StepPhase::Succeeded);
    assert_eq!(done.status.steps[1].output, Some(json!({"health": "Healthy"})));
    // Done, it is restored on a resume, not waited for again.
    assert!(matches!(
        plan_step(&done.status.steps[1], actions::reach("debug:wait")),
        StepPlan::Restore(_)
    ));

    let degraded = outcome(
        StepPhase::Failed,
        Some("Application argocd/web is Degraded: back-off"),
        json!({}),
    );
    let failed = end_step(waiting, 1, degraded, at(200), || Duration::ZERO);
    assert_eq!(failed.next, Next::AwaitChange);
    assert_eq!(failed.status.phase, Some(Phase::Failed));
    assert_eq!(condition(&failed.status, "Stalled").reason, "StepFailed");
    assert!(
        condition(&failed.status, "Stalled")
            .message
            .contains("Degraded: back-off")
    );
}

#[test]
fn a_gated_step_still_waiting_at_its_deadline_times_out_stalled_and_a_retry_waits_anew() {
    let timeout = Duration::from_secs(600);
    let what = "Application argocd/web to be Synced and Healthy; it is Synced, Progressing";
    let waiting = wait_step(
        gated(100),
        1,
        waits_for(what, Duration::from_secs(5)),
        timeout,
        at(100),
    )
    .status;
    let timed_out = wait_step(
        waiting,
        1,
        waits_for(what, Duration::from_secs(5)),
        timeout,
        at(700),
    );
    assert_eq!(timed_out.next, Next::AwaitChange);
    let status = &timed_out.status;
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(status.steps[1].phase, StepPhase::Failed);
    assert_eq!(status.steps[1].completed_at, Some(at(700)));
    let stalled = condition(status, "Stalled");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "StepTimedOut")
    );
    assert_eq!(
        stalled.message,
        format!("step publish (wait:argocd-application) timed out after 10m: still waiting for {what}")
    );
    assert_eq!(condition(status, "Ready").status, "False");
    assert_eq!(condition(status, "Reconciling").status, "False");
    assert_eq!(
        timed_out.effects,
        vec![
            Effect::WriteStatus,
            event(
                EventType::Warning,
                "StepTimedOut",
                "Step publish",
                stalled.message.clone()
            ),
            Effect::RecordOutcome,
        ]
    );

    // A retry waits again, with a new deadline from when it first waits.
    let retried = Asked { retry: 1, ..asked(2) };
    let resumed = admit(timed_out.status, retried, at(800));
    assert_eq!(resumed.next, Next::Continue);
    assert_eq!(resumed.status.steps[1].wait_until, None);
    let restarted = start_step(resumed.status, 1, at(800)).status;
    let again = wait_step(
        restarted,
        1,
        waits_for(what, Duration::from_secs(5)),
        timeout,
        at(800),
    );
    assert_eq!(again.status.steps[1].wait_until, Some(at(1400)));
    assert_eq!(again.status.phase, Some(Phase::Running));
}
