//! The rules of upgrades, as pure functions: given a Succeeded request's
//! status and what its repository should follow now (the Template's
//! current revision and the spec's parameters), what is done next, and
//! what the status becomes once it is done. Nothing here reads the cluster,
//! a forge or the clock.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use serde_json::Value;

use crate::api::{PullRequestRef, ScaffoldRequestStatus, UpgradeState, UpgradeStatus};
use crate::forge::{ForgeError, PullRequestState};

/// Most upgrades a status lists; the oldest finished ones make room.
pub const MAX_UPGRADES: usize = 20;

/// Most conflicting paths an upgrade lists.
pub const MAX_CONFLICTS: usize = 100;

/// What the repository should follow: the Template's revision and the
/// spec's parameters (checked, defaults applied) at a generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The Template's current revision.
    pub revision: String,
    /// The spec's parameters, as validated.
    pub parameters: Value,
    /// The request's `metadata.generation`.
    pub generation: i64,
    /// The Template keeps its files inline, and goldpath keeps no earlier
    /// revision of them: a change of revision cannot be proposed.
    pub inline: bool,
}

/// What to do next for a request that follows its Template.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The repository follows the target: nothing to propose.
    UpToDate,
    /// Ask the forge what became of the open pull request of upgrade
    /// `index`.
    Observe(usize),
    /// The open pull request already proposes the target: look again later.
    Wait(usize),
    /// The target was proposed and its pull request closed: it is not
    /// proposed again.
    Declined(usize),
    /// The status does not record what the repository was rendered from,
    /// so there is no base to merge against.
    NoBase,
    /// The Template's inline files changed since the repository was
    /// rendered: there is no base to merge against.
    InlineChanged,
    /// Render `from` and the target, merge into the default branch, push
    /// and open a pull request, or update that of upgrade `update`.
    Propose {
        /// The revision the repository was rendered from.
        from_revision: String,
        /// The parameters it was rendered with.
        from_parameters: Value,
        /// The open upgrade this one replaces, keeping its branch and pull
        /// request.
        update: Option<usize>,
    },
}

/// What to do next. `observed` says the open pull request (if any) was
/// already asked about in this reconcile and is still open.
pub fn decide(status: &ScaffoldRequestStatus, target: &Target, observed: bool) -> Decision {
    let open = status.upgrades.iter().position(|u| u.state == UpgradeState::Open);
    let base = status
        .template_revision
        .clone()
        .zip(status.applied_parameters.clone());
    if let Some(index) = open {
        let upgrade = &status.upgrades[index];
        if upgrade.pull_request.is_some() && !observed {
            return Decision::Observe(index);
        }
    }
    // Only after the open pull request was looked at: its merge is
    // recorded even while the inline files differ.
    if target.inline && status.template_revision.as_deref() != Some(target.revision.as_str()) {
        return Decision::InlineChanged;
    }
    if let Some(index) = open {
        let upgrade = &status.upgrades[index];
        if proposes(upgrade, target) && upgrade.pull_request.is_some() {
            return Decision::Wait(index);
        }
        return match base {
            Some((from_revision, from_parameters)) => Decision::Propose {
                from_revision,
                from_parameters,
                update: Some(index),
            },
            None => Decision::NoBase,
        };
    }
    let Some((from_revision, from_parameters)) = base else {
        return Decision::NoBase;
    };
    if from_revision == target.revision && from_parameters == target.parameters {
        return Decision::UpToDate;
    }
    if let Some(index) = status.upgrades.iter().rposition(|u| {
        u.state == UpgradeState::Closed && u.to == target.revision && u.generation == target.generation
    }) {
        return Decision::Declined(index);
    }
    Decision::Propose {
        from_revision,
        from_parameters,
        update: None,
    }
}

/// What a rendering of the target depends on, as a digest: the Template's
/// revision, the parameters and the secrets it is rendered with. Kept in
/// memory only, to tell whether a remembered rendering still holds.
pub fn fingerprint(target: &Target, secrets: &BTreeMap<String, String>) -> u64 {
    let mut hasher = DefaultHasher::new();
    target.revision.hash(&mut hasher);
    target.parameters.to_string().hash(&mut hasher);
    secrets.hash(&mut hasher);
    hasher.finish()
}

/// How an open pull request's state is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Through the forge remembered from the last rendering of the same
    /// target: nothing is rendered.
    Remembered,
    /// Render the target to learn where its repository is and with which
    /// token it is reached.
    Render,
}

/// How to reach the forge to observe an open pull request, given the
/// fingerprint of the rendering remembered for the request (if any) and of
/// the target now. Rendering runs the template's steps; a pull request that
/// only waits for review is observed without it.
pub fn reach(remembered: Option<u64>, now: u64) -> Reach {
    if remembered == Some(now) {
        Reach::Remembered
    } else {
        Reach::Render
    }
}

/// The first wait before an open pull request is looked at again, and
/// after every change (a proposal, a merge or a close).
pub const FIRST_POLL: Duration = Duration::from_secs(15);

/// The wait before the next look at an open pull request that did not
/// change since the last look, which waited `previous` (none: it just
/// changed): doubling from [`FIRST_POLL`] to `max` (`upgradePollMaxSeconds`),
/// so a merge or a close is seen within `max`.
pub fn next_poll(previous: Option<Duration>, max: Duration) -> Duration {
    let max = max.max(FIRST_POLL);
    match previous {
        None => FIRST_POLL,
        Some(wait) => wait.saturating_mul(2).clamp(FIRST_POLL, max),
    }
}

/// What the forge's answer about an open pull request means. One that
/// does not exist any more (deleted, a 404) counts as closed: it is not
/// proposed again for its revision and generation, and later ones go on,
/// where asking again would never get another answer.
pub fn answered(answer: Result<PullRequestState, ForgeError>) -> Result<PullRequestState, ForgeError> {
    match answer {
        Err(ForgeError::NotFound(_)) => Ok(PullRequestState::Closed),
        other => other,
    }
}

/// Whether `upgrade` proposes exactly `target`.
fn proposes(upgrade: &UpgradeStatus, target: &Target) -> bool {
    upgrade.to == target.revision && upgrade.parameters.as_ref() == Some(&target.parameters)
}

/// What became of upgrade `index`'s pull request. Merged: the repository
/// now follows what it proposed, so `templateRevision` and
/// `appliedParameters` advance to it. Closed: it stays closed. The
/// returned text says what changed, when something did.
pub fn observed(status: &mut ScaffoldRequestStatus, index: usize, state: PullRequestState) -> Option<String> {
    let upgrade = status.upgrades.get_mut(index)?;
    let number = upgrade.pull_request.as_ref().map_or(0, |p| p.number);
    match state {
        PullRequestState::Open => None,
        PullRequestState::Merged => {
            upgrade.state = UpgradeState::Merged;
            let to = upgrade.to.clone();
            let parameters = upgrade.parameters.take();
            status.template_revision = Some(to.clone());
            if let Some(parameters) = parameters {
                status.applied_parameters = Some(parameters);
            }
            Some(format!(
                "pull request #{number} was merged: the repository follows revision {to}"
            ))
        }
        PullRequestState::Closed => {
            upgrade.state = UpgradeState::Closed;
            upgrade.parameters = None;
            Some(format!(
                "pull request #{number} was closed without merging: revision {} is not proposed again for \
                 generation {}",
                upgrade.to, upgrade.generation
            ))
        }
    }
}

/// Whether upgrade `upgrade`'s pull request is in `repository`, the one
/// the target publishes to now. A pull request is only looked at in the
/// repository it was opened in: its number means nothing elsewhere. An
/// upgrade recorded before repositories were is taken to be there.
pub fn in_repository(upgrade: &UpgradeStatus, repository: &str) -> bool {
    upgrade.repository.as_deref().is_none_or(|at| at == repository)
}

/// What a proposal made: its branch, pull request and conflicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// The branch pushed.
    pub branch: String,
    /// The repository pushed to, as [`UpgradeStatus::repository`] records it.
    pub repository: String,
    /// The pull request opened or updated.
    pub pull_request: PullRequestRef,
    /// Every conflicting path, sorted.
    pub conflicts: Vec<String>,
}

/// Records a proposal of `target` over `from_revision`: a new upgrade, or
/// upgrade `update` brought up to the target (its branch and pull request
/// kept). Returns the index of the upgrade.
pub fn proposed(
    status: &mut ScaffoldRequestStatus,
    target: &Target,
    from_revision: &str,
    update: Option<usize>,
    proposal: Proposal,
) -> usize {
    let omitted = proposal.conflicts.len().saturating_sub(MAX_CONFLICTS);
    let mut conflicts = proposal.conflicts;
    conflicts.truncate(MAX_CONFLICTS);
    let upgrade = UpgradeStatus {
        from: from_revision.to_string(),
        to: target.revision.clone(),
        generation: target.generation,
        branch: proposal.branch,
        repository: Some(proposal.repository),
        pull_request: Some(proposal.pull_request),
        state: UpgradeState::Open,
        conflicts,
        conflicts_omitted: i64::try_from(omitted).unwrap_or(i64::MAX),
        message: None,
        parameters: Some(target.parameters.clone()),
    };
    match update.filter(|index| *index < status.upgrades.len()) {
        Some(index) => {
            status.upgrades[index] = upgrade;
            index
        }
        None => {
            status.upgrades.push(upgrade);
            make_room(&mut status.upgrades)
        }
    }
}

/// Drops the oldest finished upgrades past [`MAX_UPGRADES`]; returns the
/// index the last one has then. An open one is never dropped (there is at
/// most one).
fn make_room(upgrades: &mut Vec<UpgradeStatus>) -> usize {
    while upgrades.len() > MAX_UPGRADES {
        match upgrades.iter().position(|u| u.state != UpgradeState::Open) {
            Some(oldest) => {
                upgrades.remove(oldest);
            }
            None => break,
        }
    }
    upgrades.len().saturating_sub(1)
}

/// The repository already holds the target (the merge changed nothing):
/// it follows it without a pull request.
pub fn already_applied(status: &mut ScaffoldRequestStatus, target: &Target) {
    status.template_revision = Some(target.revision.clone());
    status.applied_parameters = Some(target.parameters.clone());
}

/// The title of the pull request proposing `target` over `from_revision`.
pub fn title(template: &str, from_revision: &str, target: &Target) -> String {
    if from_revision == target.revision {
        format!(
            "Apply the changed parameters of generation {} (template {template})",
            target.generation
        )
    } else {
        format!(
            "Upgrade to template {template} revision {}",
            short(&target.revision)
        )
    }
}

/// The body of that pull request: what it proposes and the conflicts to
/// resolve, at most [`MAX_CONFLICTS`] named.
pub fn body(request: &str, from_revision: &str, target: &Target, conflicts: &[String]) -> String {
    let mut body = format!(
        "goldpath proposes this change for ScaffoldRequest {request}: the template rendered at revision \
         {from_revision} with its recorded parameters, against revision {} with the parameters of \
         generation {}, three-way merged into the default branch.\n",
        target.revision, target.generation
    );
    if conflicts.is_empty() {
        body.push_str("\nThe merge is clean.\n");
    } else {
        body.push_str(&format!(
            "\n{} paths conflict (text files hold conflict markers; others keep the repository's version):\n",
            conflicts.len()
        ));
        for path in conflicts.iter().take(MAX_CONFLICTS) {
            body.push_str(&format!("- `{path}`\n"));
        }
        if conflicts.len() > MAX_CONFLICTS {
            body.push_str(&format!("- and {} more\n", conflicts.len() - MAX_CONFLICTS));
        }
    }
    body
}

/// The branch a proposal is pushed to: that of the open upgrade `update`
/// it brings up to date, else the request's own branch.
pub fn branch(request: &str, status: &ScaffoldRequestStatus, update: Option<usize>) -> String {
    update
        .and_then(|index| status.upgrades.get(index))
        .map(|upgrade| upgrade.branch.clone())
        .unwrap_or_else(|| format!("goldpath/upgrade-{request}"))
}

/// The branch of a new proposal of `target` when the request's own branch
/// holds commits goldpath did not make (a reviewer's, on a pull request
/// since merged or closed): one for this revision and generation, so the
/// reviewer's branch is left alone and the proposal still goes on.
pub fn fresh_branch(request: &str, target: &Target) -> String {
    let revision: String = short(&target.revision)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("goldpath/upgrade-{request}-{revision}-{}", target.generation)
}

/// The first 12 characters of a revision, as a branch or title shows it.
pub fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
