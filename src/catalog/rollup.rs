//! The status roll-up: each object that rolls up into a CatalogEntity is
//! normalized to kstatus (`Current | InProgress | Failed | Unknown`, plus
//! `NotFound` for an annotated object that does not exist), one
//! [`SourceStatus`] row per object; the rows are aggregated into the entity's
//! [`Health`], and into its `Ready`/`Reconciling`/`Stalled` conditions.
//!
//! The normalizers for Argo CD, ACK and KubeVela objects are in [`sources`]
//! and re-exported here. Everything is pure; `now` is always passed in.
//!
//! Decisions where the rule in DESIGN.md is open:
//! - `NotFound` counts as `InProgress` in the aggregate: right after a
//!   request registers an entity its Application may not exist yet. A
//!   source that stays `NotFound` (or `InProgress`) past the progress
//!   deadline makes the entity Stalled.
//! - An entity with no sources is `Current`: there is nothing to wait for.
//! - A row's `lastTransitionTime` changes only when its normalized status
//!   does, so a resync that finds nothing new writes the same rows.

pub mod sources;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::conditions::{ConditionState, ConditionStatus, Earlier, State, kstatus};
use crate::api::{Condition, Health, SourceHealth, SourceStatus};

pub use sources::{ack, argocd, kubevela, normalize};

/// One object's status, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The kstatus the object is in.
    pub status: SourceHealth,
    /// Why, as a metav1 reason (already sanitized).
    pub reason: Option<String>,
    /// Why, in words.
    pub message: Option<String>,
    /// The raw fields the normalization read, e.g. Argo CD `sync` and `health`.
    pub details: BTreeMap<String, String>,
}

impl Normalized {
    /// A normalized status with a reason and a message and no details.
    pub fn new(status: SourceHealth, reason: &str, message: impl Into<String>) -> Normalized {
        let message = message.into();
        Normalized {
            status,
            reason: Some(sanitize_reason(reason)),
            message: Some(clip(&message, MESSAGE_LIMIT)).filter(|m| !m.is_empty()),
            details: BTreeMap::new(),
        }
    }
}

/// Longest message a row keeps; other controllers' messages (an Argo CD
/// comparison error, say) can run to many kilobytes.
pub const MESSAGE_LIMIT: usize = 1024;

/// Longest metav1 condition reason.
pub const REASON_LIMIT: usize = 1024;

/// `text` cut to at most `limit` bytes on a character boundary, with `…`
/// marking the cut.
pub fn clip(text: &str, limit: usize) -> String {
    let text = text.trim();
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn is_valid_reason(text: &str) -> bool {
    let bytes = text.as_bytes();
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b',' | b':');
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            text.len() <= REASON_LIMIT
                && first.is_ascii_alphabetic()
                && (last.is_ascii_alphanumeric() || *last == b'_')
                && bytes.iter().all(allowed)
        }
        _ => false,
    }
}

/// Maps any text to a metav1 condition reason
/// (`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, at most 1024 characters).
///
/// A reason that is valid already is kept, with its first letter made a
/// capital (`generatingPolicy` -> `GeneratingPolicy`). Otherwise every ASCII
/// character other than a letter, digit or `_` separates words, each word
/// starts with a capital (`out of sync` -> `OutOfSync`, `ACK.Terminal` ->
/// `ACKTerminal`), non-ASCII characters are dropped, and leading digits and
/// underscores are dropped so the reason starts with a letter. Nothing usable
/// left gives `Unknown`.
pub fn sanitize_reason(text: &str) -> String {
    if is_valid_reason(text) {
        let mut reason = text.to_string();
        reason[..1].make_ascii_uppercase();
        return reason;
    }
    let mut out = String::new();
    let mut word_start = true;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if out.is_empty() && !c.is_ascii_alphabetic() {
                continue;
            }
            out.push(if word_start { c.to_ascii_uppercase() } else { c });
            word_start = false;
            if out.len() == REASON_LIMIT {
                break;
            }
        } else if c.is_ascii() {
            word_start = true;
        }
    }
    if out.is_empty() {
        "Unknown".to_string()
    } else {
        out
    }
}

/// Aggregates sources into an entity's health: any `Failed` -> `Failed`;
/// else any `Unknown` -> `Unknown`; else all `Current` -> `Current`; else
/// `InProgress`. `NotFound` counts as `InProgress`; no sources at all is
/// `Current`.
pub fn aggregate(statuses: impl IntoIterator<Item = SourceHealth>) -> Health {
    let (mut failed, mut unknown, mut in_progress) = (false, false, false);
    for status in statuses {
        match status {
            SourceHealth::Failed => failed = true,
            SourceHealth::Unknown => unknown = true,
            SourceHealth::InProgress | SourceHealth::NotFound => in_progress = true,
            SourceHealth::Current => {}
        }
    }
    if failed {
        Health::Failed
    } else if unknown {
        Health::Unknown
    } else if in_progress {
        Health::InProgress
    } else {
        Health::Current
    }
}

/// Whether a row has been `InProgress` or `NotFound` for longer than
/// `deadline`, by its `lastTransitionTime`. A row without one cannot be
/// judged and is not stalled.
pub fn stalled(row: &SourceStatus, now: Timestamp, deadline: Duration) -> bool {
    if !matches!(row.status, SourceHealth::InProgress | SourceHealth::NotFound) {
        return false;
    }
    let Some(since) = &row.last_transition_time else {
        return false;
    };
    Duration::try_from(now.duration_since(since.0)).is_ok_and(|elapsed| elapsed > deadline)
}

/// Which object a row is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceRef {
    /// apiVersion, e.g. `argoproj.io/v1alpha1`.
    pub api_version: String,
    /// Kind, e.g. `Application`.
    pub kind: String,
    /// Namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl SourceRef {
    /// A reference to a namespaced object.
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> SourceRef {
        SourceRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// The object a row is about.
    pub fn of(row: &SourceStatus) -> SourceRef {
        SourceRef {
            api_version: row.api_version.clone(),
            kind: row.kind.clone(),
            namespace: row.namespace.clone(),
            name: row.name.clone(),
        }
    }

    /// Whether `row` is about this object.
    pub fn is(&self, row: &SourceStatus) -> bool {
        self.api_version == row.api_version
            && self.kind == row.kind
            && self.namespace == row.namespace
            && self.name == row.name
    }
}

impl std::fmt::Display for SourceRef {
    /// `Kind namespace/name`, or `Kind name` for a cluster-scoped object.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The status of an annotated object that does not exist.
pub fn not_found(source: &SourceRef) -> Normalized {
    Normalized::new(
        SourceHealth::NotFound,
        "NotFound",
        format!("{source} does not exist"),
    )
}

/// When a row's status last changed: the previous row's time when the status
/// is the same (and it had one), `now` otherwise.
pub fn transition_time(previous: Option<&SourceStatus>, status: SourceHealth, now: Timestamp) -> Time {
    previous
        .filter(|row| row.status == status)
        .and_then(|row| row.last_transition_time.clone())
        .unwrap_or(Time(now))
}

/// The row for `source`, keeping the `lastTransitionTime` of its row in
/// `previous` when the status did not change.
pub fn row(
    source: &SourceRef,
    normalized: Normalized,
    previous: &[SourceStatus],
    now: Timestamp,
) -> SourceStatus {
    let before = previous.iter().find(|row| source.is(row));
    SourceStatus {
        api_version: source.api_version.clone(),
        kind: source.kind.clone(),
        namespace: source.namespace.clone(),
        name: source.name.clone(),
        status: normalized.status,
        reason: normalized.reason,
        message: normalized.message,
        details: normalized.details,
        last_transition_time: Some(transition_time(before, normalized.status, now)),
    }
}

/// Every row, from what was observed now and the rows written before, sorted
/// by kind, namespace, name and apiVersion so the same observations always
/// give the same list.
pub fn rows(
    observed: impl IntoIterator<Item = (SourceRef, Normalized)>,
    previous: &[SourceStatus],
    now: Timestamp,
) -> Vec<SourceStatus> {
    let mut sorted: BTreeMap<(String, Option<String>, String, String), SourceStatus> = BTreeMap::new();
    for (source, normalized) in observed {
        let key = (
            source.kind.clone(),
            source.namespace.clone(),
            source.name.clone(),
            source.api_version.clone(),
        );
        sorted.insert(key, row(&source, normalized, previous, now));
    }
    sorted.into_values().collect()
}

/// The kstatus conditions of an entity. All three are always present, the
/// abnormal-true ones (`Reconciling`, `Stalled`) as `False` when they do not
/// hold, so a server-side apply of them is complete. `Reconciling` and
/// `Stalled` are never both `True`: kstatus reads `Reconciling` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityConditions {
    /// `Ready`: `True` only when every source is current.
    pub ready: ConditionState,
    /// `Reconciling`: `True` while sources are in progress within the deadline.
    pub reconciling: ConditionState,
    /// `Stalled`: `True` when a source failed or is past the deadline.
    pub stalled: ConditionState,
}

impl EntityConditions {
    fn of(state: State, reason: &str, message: &str) -> EntityConditions {
        let [ready, reconciling, stalled] = kstatus(state, reason, message);
        EntityConditions {
            ready,
            reconciling,
            stalled,
        }
    }

    /// `Ready`, `Reconciling`, `Stalled`, as full conditions (see
    /// [`ConditionState::to_condition`]).
    pub fn to_conditions(
        &self,
        previous: &(impl Earlier + ?Sized),
        now: Timestamp,
        observed_generation: Option<i64>,
    ) -> Vec<Condition> {
        [&self.ready, &self.reconciling, &self.stalled]
            .into_iter()
            .map(|state| state.to_condition(previous, now, observed_generation))
            .collect()
    }
}

/// How many sources a condition message names before it says how many more.
const LISTED: usize = 5;

fn describe(rows: &[&SourceStatus]) -> String {
    let mut parts: Vec<String> = rows
        .iter()
        .take(LISTED)
        .map(|row| {
            let what = row
                .message
                .as_deref()
                .or(row.reason.as_deref())
                .map(str::to_string)
                .unwrap_or_else(|| format!("{:?}", row.status));
            format!("{}: {what}", SourceRef::of(row))
        })
        .collect();
    if rows.len() > LISTED {
        parts.push(format!("and {} more", rows.len() - LISTED));
    }
    parts.join("; ")
}

/// The `Ready`/`Reconciling`/`Stalled` conditions for an entity whose sources
/// are `rows` and whose aggregate is `health`, per kstatus:
/// - `Stalled=True` when a source failed (reason `SourceFailed`) or one has
///   been in progress or missing past `deadline` (reason
///   `ProgressDeadlineExceeded`); the message names each such source as
///   `Kind namespace/name: message`. `Ready` is then `False` with the same
///   reason and message, `Reconciling` is `False`.
/// - Otherwise `Reconciling=True` while `health` is `InProgress`, `Ready` is
///   `True` when `Current`, and `Unknown` (reason `SourceStatusUnknown`) when
///   a source's status cannot be read.
pub fn conditions(
    rows: &[SourceStatus],
    health: Health,
    now: Timestamp,
    deadline: Duration,
) -> EntityConditions {
    let failed: Vec<&SourceStatus> = rows.iter().filter(|r| r.status == SourceHealth::Failed).collect();
    let late: Vec<&SourceStatus> = rows.iter().filter(|r| stalled(r, now, deadline)).collect();
    if health == Health::Failed || !late.is_empty() {
        let reason = if health == Health::Failed || !failed.is_empty() {
            "SourceFailed"
        } else {
            "ProgressDeadlineExceeded"
        };
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!("failed: {}", describe(&failed)));
        }
        if !late.is_empty() {
            parts.push(format!(
                "no progress for more than {}s: {}",
                deadline.as_secs(),
                describe(&late)
            ));
        }
        if parts.is_empty() {
            parts.push("a source failed".to_string());
        }
        return EntityConditions::of(State::Stalled, reason, &parts.join("; "));
    }
    let having = |wanted: &[SourceHealth]| -> Vec<&SourceStatus> {
        rows.iter().filter(|r| wanted.contains(&r.status)).collect()
    };
    match health {
        Health::Current => {
            let message = match rows.len() {
                0 => "no sources roll up into this entity".to_string(),
                1 => "the only source is current".to_string(),
                n => format!("all {n} sources are current"),
            };
            EntityConditions::of(State::Ready, "Current", &message)
        }
        Health::Unknown => {
            // kstatus has no state for this: Ready is Unknown, and the
            // object is neither progressing nor stuck.
            let reason = "SourceStatusUnknown";
            let message = format!("status unknown: {}", describe(&having(&[SourceHealth::Unknown])));
            let mut conditions = EntityConditions::of(State::Ready, reason, &message);
            conditions.ready.status = ConditionStatus::Unknown;
            conditions
        }
        Health::InProgress | Health::Failed => {
            let waiting = having(&[SourceHealth::InProgress, SourceHealth::NotFound]);
            let message = format!("waiting for {}", describe(&waiting));
            EntityConditions::of(State::Reconciling, "Progressing", &message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    fn app(name: &str) -> SourceRef {
        SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", name)
    }

    fn source_row(name: &str, status: SourceHealth, message: &str, since: i64) -> SourceStatus {
        let mut normalized = Normalized::new(status, &format!("{status:?}"), message);
        normalized.details.insert("k".into(), "v".into());
        row(&app(name), normalized, &[], at(since))
    }

    #[test]
    fn valid_reasons_are_kept() {
        for reason in ["Ready", "OutOfSync", "Foo_bar", "Comma,Sep:Colon_", "X1"] {
            assert_eq!(sanitize_reason(reason), reason);
        }
        assert_eq!(sanitize_reason("a"), "A");
    }

    #[test]
    fn reasons_are_camel_cased_from_words() {
        assert_eq!(sanitize_reason("out of sync"), "OutOfSync");
        assert_eq!(sanitize_reason("ACK.Terminal"), "ACKTerminal");
        assert_eq!(sanitize_reason("workflow-failed"), "WorkflowFailed");
        assert_eq!(sanitize_reason("generatingPolicy"), "GeneratingPolicy");
        assert_eq!(sanitize_reason("running workflow"), "RunningWorkflow");
        assert_eq!(
            sanitize_reason("rpc error: code = Unavailable"),
            "RpcErrorCodeUnavailable"
        );
    }

    #[test]
    fn odd_reasons_are_made_valid() {
        assert_eq!(sanitize_reason(""), "Unknown");
        assert_eq!(sanitize_reason("   "), "Unknown");
        assert_eq!(sanitize_reason("!!!"), "Unknown");
        assert_eq!(sanitize_reason("42"), "Unknown");
        assert_eq!(sanitize_reason("404 not found"), "NotFound");
        assert_eq!(sanitize_reason("_private"), "Private");
        assert_eq!(sanitize_reason("Failed."), "Failed");
        assert_eq!(sanitize_reason("Failed:"), "Failed");
        assert_eq!(sanitize_reason("héllo wörld"), "HlloWrld");
        assert_eq!(sanitize_reason("日本語"), "Unknown");
        assert_eq!(sanitize_reason("ok ✓ done"), "OkDone");
    }

    #[test]
    fn long_reasons_are_cut_to_the_limit() {
        let long = "word ".repeat(500);
        let reason = sanitize_reason(&long);
        assert_eq!(reason.len(), REASON_LIMIT);
        assert!(is_valid_reason(&reason));
        let valid_but_long = "A".repeat(2000);
        assert_eq!(sanitize_reason(&valid_but_long).len(), REASON_LIMIT);
    }

    #[test]
    fn every_sanitized_reason_matches_the_pattern() {
        for text in ["", "a.b", "1a", "-x-", "a,", "ünï", "A:B:", "x y z 9", "__", "Ok"] {
            let reason = sanitize_reason(text);
            assert!(is_valid_reason(&reason), "{text:?} -> {reason:?}");
        }
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_on_a_char_boundary() {
        assert_eq!(clip("  short  ", 10), "short");
        let cut = clip(&"é".repeat(100), 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(cut, "éééé…");
    }

    #[test]
    fn aggregate_follows_the_roll_up_rule() {
        use SourceHealth::*;
        assert_eq!(aggregate([Current, InProgress, Failed, Unknown]), Health::Failed);
        assert_eq!(aggregate([Current, InProgress, Unknown]), Health::Unknown);
        assert_eq!(aggregate([Current, Current]), Health::Current);
        assert_eq!(aggregate([Current, InProgress]), Health::InProgress);
        assert_eq!(aggregate([Current, NotFound]), Health::InProgress);
        assert_eq!(aggregate([NotFound, Unknown]), Health::Unknown);
        assert_eq!(aggregate([]), Health::Current);
    }

    #[test]
    fn stalled_after_the_deadline_only_while_progressing_or_missing() {
        let deadline = Duration::from_secs(600);
        let progressing = source_row("web", SourceHealth::InProgress, "OutOfSync", 0);
        assert!(!stalled(&progressing, at(600), deadline));
        assert!(stalled(&progressing, at(601), deadline));
        let missing = source_row("web", SourceHealth::NotFound, "gone", 0);
        assert!(stalled(&missing, at(601), deadline));
        for status in [SourceHealth::Current, SourceHealth::Failed, SourceHealth::Unknown] {
            assert!(!stalled(&source_row("web", status, "", 0), at(10_000), deadline));
        }
        let mut untimed = progressing.clone();
        untimed.last_transition_time = None;
        assert!(!stalled(&untimed, at(10_000), deadline));
        // A clock that went backwards is not a stall.
        assert!(!stalled(&progressing, at(-5000), deadline));
    }

    #[test]
    fn not_found_names_the_object() {
        let normalized = not_found(&app("web"));
        assert_eq!(normalized.status, SourceHealth::NotFound);
        assert_eq!(normalized.reason.as_deref(), Some("NotFound"));
        assert_eq!(
            normalized.message.as_deref(),
            Some("Application argocd/web does not exist")
        );
        let cluster_scoped = SourceRef {
            namespace: None,
            ..SourceRef::new("s3.services.k8s.aws/v1alpha1", "Bucket", "", "logs")
        };
        assert_eq!(cluster_scoped.to_string(), "Bucket logs");
    }

    #[test]
    fn rows_keep_the_transition_time_while_the_status_holds() {
        let first = rows(
            [(
                app("web"),
                Normalized::new(SourceHealth::InProgress, "OutOfSync", "a"),
            )],
            &[],
            at(0),
        );
        assert_eq!(first[0].last_transition_time, Some(Time(at(0))));

        // Same status, new message: the time stays, so a resync writes the same row.
        let second = rows(
            [(
                app("web"),
                Normalized::new(SourceHealth::InProgress, "Progressing", "b"),
            )],
            &first,
            at(30),
        );
        assert_eq!(second[0].last_transition_time, Some(Time(at(0))));
        assert_eq!(second[0].reason.as_deref(), Some("Progressing"));

        let again = rows(
            [(
                app("web"),
                Normalized::new(SourceHealth::InProgress, "Progressing", "b"),
            )],
            &second,
            at(60),
        );
        assert_eq!(again, second);

        // New status: the time moves.
        let third = rows(
            [(app("web"), Normalized::new(SourceHealth::Current, "Healthy", ""))],
            &second,
            at(90),
        );
        assert_eq!(third[0].last_transition_time, Some(Time(at(90))));
        assert_eq!(third[0].message, None);
    }

    #[test]
    fn rows_only_match_the_same_object() {
        let before = rows([(app("web"), not_found(&app("web")))], &[], at(0));
        let other = SourceRef::new("argoproj.io/v1alpha1", "Application", "other", "web");
        let after = rows(
            [(other, Normalized::new(SourceHealth::NotFound, "NotFound", ""))],
            &before,
            at(50),
        );
        assert_eq!(after[0].last_transition_time, Some(Time(at(50))));
    }

    #[test]
    fn rows_are_sorted_deterministically() {
        let bucket = SourceRef::new("s3.services.k8s.aws/v1alpha1", "Bucket", "infra", "logs");
        let normalized = || Normalized::new(SourceHealth::Current, "Ready", "");
        let a = rows(
            [
                (app("b"), normalized()),
                (bucket.clone(), normalized()),
                (app("a"), normalized()),
            ],
            &[],
            at(0),
        );
        let b = rows(
            [
                (app("a"), normalized()),
                (app("b"), normalized()),
                (bucket, normalized()),
            ],
            &[],
            at(0),
        );
        assert_eq!(a, b);
        let names: Vec<&str> = a.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "logs"]);
    }

    #[test]
    fn transition_time_without_a_previous_time_is_now() {
        let mut previous = source_row("web", SourceHealth::Current, "", 0);
        previous.last_transition_time = None;
        assert_eq!(
            transition_time(Some(&previous), SourceHealth::Current, at(5)),
            Time(at(5))
        );
        assert_eq!(transition_time(None, SourceHealth::Current, at(7)), Time(at(7)));
    }

    const DEADLINE: Duration = Duration::from_secs(600);

    #[test]
    fn current_entity_is_ready() {
        let rows = [source_row("web", SourceHealth::Current, "healthy", 0)];
        let c = conditions(&rows, Health::Current, at(10_000), DEADLINE);
        assert_eq!(c.ready.status, ConditionStatus::True);
        assert_eq!(c.ready.reason, "Current");
        assert_eq!(c.reconciling.status, ConditionStatus::False);
        assert_eq!(c.stalled.status, ConditionStatus::False);
        let none = conditions(&[], aggregate([]), at(0), DEADLINE);
        assert_eq!(none.ready.status, ConditionStatus::True);
        assert_eq!(none.ready.message, "no sources roll up into this entity");
    }

    #[test]
    fn progressing_entity_is_reconciling_within_the_deadline() {
        let rows = [
            source_row("api", SourceHealth::Current, "healthy", 0),
            source_row("web", SourceHealth::InProgress, "OutOfSync", 0),
        ];
        let c = conditions(&rows, Health::InProgress, at(100), DEADLINE);
        assert_eq!(c.ready.status, ConditionStatus::False);
        assert_eq!(c.reconciling.status, ConditionStatus::True);
        assert_eq!(c.reconciling.reason, "Progressing");
        assert_eq!(
            c.reconciling.message,
            "waiting for Application argocd/web: OutOfSync"
        );
        assert_eq!(c.stalled.status, ConditionStatus::False);
    }

    #[test]
    fn progressing_past_the_deadline_is_stalled() {
        let rows = [source_row(
            "web",
            SourceHealth::NotFound,
            "Application argocd/web does not exist",
            0,
        )];
        let c = conditions(&rows, Health::InProgress, at(601), DEADLINE);
        assert_eq!(c.stalled.status, ConditionStatus::True);
        assert_eq!(c.stalled.reason, "ProgressDeadlineExceeded");
        assert_eq!(
            c.stalled.message,
            "no progress for more than 600s: Application argocd/web: Application argocd/web does not exist"
        );
        assert_eq!(c.reconciling.status, ConditionStatus::False);
        assert_eq!(c.ready.status, ConditionStatus::False);
        assert_eq!(c.ready.reason, "ProgressDeadlineExceeded");
    }

    #[test]
    fn failed_source_stalls_the_entity_and_is_named() {
        let rows = [
            source_row("web", SourceHealth::Failed, "ComparisonError: repo not found", 0),
            source_row("api", SourceHealth::InProgress, "Progressing", 0),
        ];
        let c = conditions(&rows, aggregate(rows.iter().map(|r| r.status)), at(1), DEADLINE);
        assert_eq!(c.stalled.status, ConditionStatus::True);
        assert_eq!(c.stalled.reason, "SourceFailed");
        assert_eq!(
            c.stalled.message,
            "failed: Application argocd/web: ComparisonError: repo not found"
        );
        assert_eq!(c.ready.status, ConditionStatus::False);
        assert_eq!(c.reconciling.status, ConditionStatus::False);
    }

    #[test]
    fn unknown_source_makes_ready_unknown() {
        let rows = [source_row("web", SourceHealth::Unknown, "health Unknown", 0)];
        let c = conditions(&rows, Health::Unknown, at(1), DEADLINE);
        assert_eq!(c.ready.status, ConditionStatus::Unknown);
        assert_eq!(c.ready.reason, "SourceStatusUnknown");
        assert_eq!(
            c.ready.message,
            "status unknown: Application argocd/web: health Unknown"
        );
        assert_eq!(c.reconciling.status, ConditionStatus::False);
        assert_eq!(c.stalled.status, ConditionStatus::False);
    }

    #[test]
    fn long_lists_of_sources_are_summarized() {
        let rows: Vec<SourceStatus> = (0..8)
            .map(|i| source_row(&format!("app{i}"), SourceHealth::Failed, "Degraded", 0))
            .collect();
        let c = conditions(&rows, Health::Failed, at(1), DEADLINE);
        assert!(
            c.stalled.message.ends_with("; and 3 more"),
            "{}",
            c.stalled.message
        );
        assert!(c.stalled.message.contains("Application argocd/app4: Degraded"));
        assert!(!c.stalled.message.contains("app5"));
    }

    #[test]
    fn condition_reasons_are_valid_metav1_reasons() {
        let cases = [
            (Health::Current, SourceHealth::Current),
            (Health::InProgress, SourceHealth::InProgress),
            (Health::Failed, SourceHealth::Failed),
            (Health::Unknown, SourceHealth::Unknown),
        ];
        for (health, status) in cases {
            let rows = [source_row("web", status, "m", 0)];
            let c = conditions(&rows, health, at(1), DEADLINE);
            for state in [&c.ready, &c.reconciling, &c.stalled] {
                assert!(is_valid_reason(&state.reason), "{:?}", state);
            }
            assert!(
                !(c.reconciling.status == ConditionStatus::True && c.stalled.status == ConditionStatus::True)
            );
        }
    }

    #[test]
    fn to_conditions_keeps_transition_times_while_status_holds() {
        let rows = [source_row("web", SourceHealth::InProgress, "OutOfSync", 0)];
        let first = conditions(&rows, Health::InProgress, at(10), DEADLINE).to_conditions(
            &Vec::new(),
            at(10),
            Some(3),
        );
        assert_eq!(
            first
                .iter()
                .map(|c| (c.type_.as_str(), c.status.as_str()))
                .collect::<Vec<_>>(),
            vec![("Ready", "False"), ("Reconciling", "True"), ("Stalled", "False")]
        );
        assert!(first.iter().all(|c| c.observed_generation == Some(3)));

        let second =
            conditions(&rows, Health::InProgress, at(20), DEADLINE).to_conditions(&first, at(20), Some(3));
        assert_eq!(second, first, "nothing changed, nothing to write");

        let later =
            conditions(&rows, Health::InProgress, at(700), DEADLINE).to_conditions(&second, at(700), Some(3));
        let by_type = |t: &str| later.iter().find(|c| c.type_ == t).unwrap().clone();
        assert_eq!(by_type("Stalled").status, "True");
        assert_eq!(by_type("Stalled").last_transition_time, Time(at(700)));
        assert_eq!(by_type("Reconciling").last_transition_time, Time(at(700)));
        assert_eq!(by_type("Ready").last_transition_time, Time(at(10)));
        assert_eq!(by_type("Ready").reason, "ProgressDeadlineExceeded");
    }
}
