use serde_json::json;

use super::*;

fn target(revision: &str, name: &str, generation: i64) -> Target {
    Target {
        revision: revision.into(),
        parameters: json!({ "name": name }),
        generation,
        inline: false,
    }
}

/// A request that succeeded at revision `a` with name `orders`.
fn succeeded() -> ScaffoldRequestStatus {
    ScaffoldRequestStatus {
        template_revision: Some("a".into()),
        applied_parameters: Some(json!({ "name": "orders" })),
        ..ScaffoldRequestStatus::default()
    }
}

fn proposal(number: i64, conflicts: &[&str]) -> Proposal {
    Proposal {
        branch: "goldpath/upgrade-orders".into(),
        repository: "https://forge.test/acme/orders.git".into(),
        pull_request: PullRequestRef {
            url: format!("https://forge.test/acme/orders/pulls/{number}"),
            number,
        },
        conflicts: conflicts.iter().map(|c| c.to_string()).collect(),
    }
}

fn propose(status: &ScaffoldRequestStatus, target: &Target, observed: bool) -> (String, Option<usize>) {
    match decide(status, target, observed) {
        Decision::Propose {
            from_revision,
            from_parameters,
            update,
        } => {
            assert_eq!(status.applied_parameters.as_ref(), Some(&from_parameters));
            (from_revision, update)
        }
        other => panic!("expected a proposal, got {other:?}"),
    }
}

#[test]
fn a_repository_that_follows_its_template_and_parameters_is_up_to_date() {
    assert_eq!(
        decide(&succeeded(), &target("a", "orders", 1), false),
        Decision::UpToDate
    );
    // Without the parameters it was rendered with there is no base.
    let mut unknown = succeeded();
    unknown.applied_parameters = None;
    assert_eq!(
        decide(&unknown, &target("b", "orders", 1), false),
        Decision::NoBase
    );
}

#[test]
fn a_new_revision_or_new_parameters_are_proposed_from_what_the_repository_follows() {
    let status = succeeded();
    assert_eq!(
        propose(&status, &target("b", "orders", 1), false),
        ("a".into(), None)
    );
    // Same revision, other parameters: a parameter change.
    assert_eq!(
        propose(&status, &target("a", "billing", 2), false),
        ("a".into(), None)
    );
}

#[test]
fn an_open_pull_request_is_observed_then_waited_on_or_updated_never_doubled() {
    let mut status = succeeded();
    let b = target("b", "orders", 1);
    let index = proposed(&mut status, &b, "a", None, proposal(7, &[]));
    assert_eq!(index, 0);
    assert_eq!(status.upgrades[0].state, UpgradeState::Open);
    assert_eq!(
        status.template_revision.as_deref(),
        Some("a"),
        "not advanced before a merge"
    );
    assert_eq!(decide(&status, &b, false), Decision::Observe(0));
    assert_eq!(decide(&status, &b, true), Decision::Wait(0));
    // A newer revision while it is open: the same upgrade is updated.
    let c = target("c", "orders", 1);
    assert_eq!(decide(&status, &c, false), Decision::Observe(0));
    assert_eq!(propose(&status, &c, true), ("a".into(), Some(0)));
    let index = proposed(&mut status, &c, "a", Some(0), proposal(7, &["README.md"]));
    assert_eq!(index, 0);
    assert_eq!(status.upgrades.len(), 1, "one pull request per request");
    let upgrade = &status.upgrades[0];
    assert_eq!((upgrade.from.as_str(), upgrade.to.as_str()), ("a", "c"));
    assert_eq!(upgrade.conflicts, ["README.md"]);
    assert_eq!(upgrade.pull_request.as_ref().map(|p| p.number), Some(7));
}

#[test]
fn a_merged_pull_request_advances_the_revision_and_parameters() {
    let mut status = succeeded();
    let b = target("b", "billing", 2);
    proposed(&mut status, &b, "a", None, proposal(7, &[]));
    assert_eq!(observed(&mut status, 0, PullRequestState::Open), None);
    assert_eq!(status.upgrades[0].state, UpgradeState::Open);
    let note = observed(&mut status, 0, PullRequestState::Merged).unwrap();
    assert!(note.contains("#7") && note.contains("revision b"), "{note}");
    assert_eq!(status.upgrades[0].state, UpgradeState::Merged);
    assert_eq!(status.upgrades[0].parameters, None, "kept only while open");
    assert_eq!(status.template_revision.as_deref(), Some("b"));
    assert_eq!(status.applied_parameters, Some(json!({ "name": "billing" })));
    assert_eq!(decide(&status, &b, false), Decision::UpToDate);
    // The next revision is proposed from the merged one.
    assert_eq!(
        propose(&status, &target("c", "billing", 2), false),
        ("b".into(), None)
    );
}

#[test]
fn a_closed_pull_request_is_not_proposed_again_for_its_revision_and_generation() {
    let mut status = succeeded();
    let b = target("b", "orders", 1);
    proposed(&mut status, &b, "a", None, proposal(7, &[]));
    let note = observed(&mut status, 0, PullRequestState::Closed).unwrap();
    assert!(note.contains("not proposed again"), "{note}");
    assert_eq!(status.template_revision.as_deref(), Some("a"));
    assert_eq!(decide(&status, &b, false), Decision::Declined(0));
    // A newer revision, or changed parameters, is a new proposal.
    assert_eq!(
        propose(&status, &target("c", "orders", 1), false),
        ("a".into(), None)
    );
    assert_eq!(
        propose(&status, &target("b", "orders", 2), false),
        ("a".into(), None)
    );
}

#[test]
fn the_list_of_upgrades_and_of_conflicts_is_bounded() {
    let mut status = succeeded();
    for round in 0..(MAX_UPGRADES + 5) {
        let to = target(&format!("r{round}"), "orders", 1);
        let index = proposed(&mut status, &to, "a", None, proposal(round as i64, &[]));
        observed(&mut status, index, PullRequestState::Closed);
    }
    assert_eq!(status.upgrades.len(), MAX_UPGRADES);
    assert_eq!(status.upgrades[0].to, "r5", "the oldest made room");
    let many: Vec<String> = (0..MAX_CONFLICTS + 3).map(|i| format!("f{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let to = target("z", "orders", 1);
    let index = proposed(&mut status, &to, "a", None, proposal(99, &refs));
    assert_eq!(status.upgrades.len(), MAX_UPGRADES);
    let upgrade = &status.upgrades[index];
    assert_eq!(
        (upgrade.conflicts.len(), upgrade.conflicts_omitted),
        (MAX_CONFLICTS, 3)
    );
    let text = body("team/orders", "a", &to, &many);
    assert!(text.contains("- and 3 more"), "{text}");
    assert_eq!(text.matches("- `f").count(), MAX_CONFLICTS);
}

#[test]
fn titles_say_whether_the_revision_or_the_parameters_changed() {
    let upgrade = title("team/service", "a", &target("0123456789abcdef", "orders", 1));
    assert_eq!(upgrade, "Upgrade to template team/service revision 0123456789ab");
    let parameters = title("team/service", "a", &target("a", "billing", 3));
    assert!(parameters.contains("generation 3"), "{parameters}");
    assert!(body("team/orders", "a", &target("b", "o", 1), &[]).contains("The merge is clean."));
}

fn opened(target: &Target) -> ScaffoldRequestStatus {
    let mut status = succeeded();
    proposed(&mut status, target, "a", None, proposal(7, &[]));
    status
}

#[test]
fn an_unchanged_open_pull_request_is_only_observed_not_rendered_again() {
    let secrets = BTreeMap::from([("token".to_string(), "s3cret".to_string())]);
    let wanted = target("b", "orders", 1);
    let status = opened(&wanted);
    // Reconcile after reconcile the same target: its pull request is
    // observed through the forge remembered from the proposal.
    let remembered = fingerprint(&wanted, &secrets);
    assert_eq!(decide(&status, &wanted, false), Decision::Observe(0));
    assert_eq!(
        reach(Some(remembered), fingerprint(&wanted, &secrets)),
        Reach::Remembered
    );
    assert_eq!(decide(&status, &wanted, true), Decision::Wait(0));
    // The generation alone does not change the rendering.
    let same = target("b", "orders", 2);
    assert_eq!(
        reach(Some(remembered), fingerprint(&same, &secrets)),
        Reach::Remembered
    );
    // A new revision, other parameters or other secrets render again;
    // so does a request nothing is remembered for (after a restart).
    let rotated = BTreeMap::from([("token".to_string(), "n3w".to_string())]);
    for (changed, secrets) in [
        (target("c", "orders", 1), &secrets),
        (target("b", "payments", 2), &secrets),
        (target("b", "orders", 1), &rotated),
    ] {
        assert_eq!(
            reach(Some(remembered), fingerprint(&changed, secrets)),
            Reach::Render
        );
    }
    assert_eq!(reach(None, remembered), Reach::Render);
}

#[test]
fn the_wait_between_looks_at_an_unchanged_pull_request_doubles_to_ten_minutes() {
    let max = Duration::from_secs(600);
    let mut wait = None;
    let mut waits = Vec::new();
    for _ in 0..10 {
        let next = next_poll(wait, max);
        waits.push(next.as_secs());
        wait = Some(next);
    }
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 600, 600, 600, 600]);
    // After a change the first wait is 15 s again.
    assert_eq!(next_poll(None, max), FIRST_POLL);
    assert_eq!(next_poll(Some(Duration::MAX), max), max);
    // upgradePollMaxSeconds bounds it; below the first wait it is the first.
    let minute = Duration::from_secs(60);
    assert_eq!(next_poll(Some(minute), minute), minute);
    assert_eq!(next_poll(Some(minute), Duration::ZERO), FIRST_POLL);
}

#[test]
fn an_open_pull_request_is_observed_before_changed_inline_files_stop_upgrades() {
    let mut wanted = target("a", "payments", 2);
    wanted.inline = true;
    let mut status = opened(&wanted);
    // The inline files change while the pull request is open.
    let mut changed = wanted.clone();
    changed.revision = "b".into();
    assert_eq!(decide(&status, &changed, false), Decision::Observe(0));
    // Still open: nothing is proposed over changed inline files.
    assert_eq!(decide(&status, &changed, true), Decision::InlineChanged);
    // Merged: recorded although the files differ.
    assert!(observed(&mut status, 0, PullRequestState::Merged).is_some());
    assert_eq!(status.upgrades[0].state, UpgradeState::Merged);
    assert_eq!(status.applied_parameters, Some(json!({ "name": "payments" })));
    assert_eq!(decide(&status, &changed, false), Decision::InlineChanged);
    // Once the files match again, the request is up to date.
    assert_eq!(decide(&status, &wanted, false), Decision::UpToDate);
}

#[test]
fn an_open_pull_request_is_only_looked_at_in_the_repository_it_was_opened_in() {
    let mut status = succeeded();
    let b = target("b", "orders", 1);
    let index = proposed(&mut status, &b, "a", None, proposal(7, &[]));
    let upgrade = &status.upgrades[index];
    assert_eq!(
        upgrade.repository.as_deref(),
        Some("https://forge.test/acme/orders.git")
    );
    assert!(in_repository(upgrade, "https://forge.test/acme/orders.git"));
    // A parameter change moved the target to another repository: pull
    // request #7 there is another one.
    assert!(!in_repository(upgrade, "https://forge.test/acme/billing.git"));
    assert!(!in_repository(upgrade, "https://other.test/acme/orders.git"));
    // An upgrade recorded without its repository is looked at where the
    // target is.
    let mut older = upgrade.clone();
    older.repository = None;
    assert!(in_repository(&older, "https://forge.test/acme/billing.git"));
}

#[test]
fn a_deleted_pull_request_counts_as_closed_and_later_revisions_go_on() {
    let mut status = succeeded();
    let b = target("b", "orders", 1);
    let index = proposed(&mut status, &b, "a", None, proposal(7, &[]));
    assert_eq!(decide(&status, &b, false), Decision::Observe(index));
    let gone = answered(Err(ForgeError::NotFound("pull request 7 does not exist".into())));
    assert_eq!(gone, Ok(PullRequestState::Closed));
    assert!(observed(&mut status, index, PullRequestState::Closed).is_some());
    // Not observed again, nor proposed again for that revision.
    assert_eq!(decide(&status, &b, false), Decision::Declined(index));
    assert_eq!(
        propose(&status, &target("c", "orders", 1), false),
        ("a".into(), None)
    );
    // Other failures stay failures, tried again when transient.
    let unavailable = ForgeError::Unavailable {
        host: "forge.test".into(),
        call: "read pull request 7".into(),
        detail: "503".into(),
    };
    assert_eq!(answered(Err(unavailable.clone())), Err(unavailable));
    assert_eq!(
        answered(Ok(PullRequestState::Merged)),
        Ok(PullRequestState::Merged)
    );
}

#[test]
fn a_new_proposal_goes_on_a_branch_of_its_own_when_the_request_branch_was_edited() {
    let mut status = succeeded();
    let b = target("0123456789abcdef", "orders", 3);
    // A new proposal goes on the request's branch first.
    assert_eq!(branch("orders", &status, None), "goldpath/upgrade-orders");
    // That branch holds a reviewer's commits: one for this target.
    let fresh = fresh_branch("orders", &b);
    assert_eq!(fresh, "goldpath/upgrade-orders-0123456789ab-3");
    assert_ne!(
        fresh,
        fresh_branch("orders", &target("fedcba9876543210", "orders", 3))
    );
    assert_ne!(
        fresh,
        fresh_branch("orders", &target("0123456789abcdef", "orders", 4))
    );
    // Characters a branch name cannot hold are left out.
    assert_eq!(
        fresh_branch("orders", &target("sha256:ab/c..d", "orders", 1)),
        "goldpath/upgrade-orders-sha256abc-1"
    );
    // An open upgrade is brought up to date on the branch it was proposed on.
    let mut on_fresh = proposal(9, &[]);
    on_fresh.branch = fresh.clone();
    let index = proposed(&mut status, &b, "a", None, on_fresh);
    assert_eq!(branch("orders", &status, Some(index)), fresh);
}
