//! `GET /v2/tasks/:id/eventstream`: a task's events as server-sent events,
//! as Backstage's scaffolder sends them (`event: <type>`, `data: <event>`),
//! each with its `id:` so a client that reconnects with `Last-Event-ID`
//! (or `?after=`) gets only what it has not seen. The events are the ones
//! `/events` tells ([`task::events`]), derived from the request as a watch
//! of it delivers each change; the stream ends once the task has ended,
//! when the request is deleted, or after [`STREAM_LIFETIME`]. At most
//! [`STREAM_LIMIT`] streams are open at once, so streams cannot take every
//! connection the listener serves.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use hyper::StatusCode;
use hyper::body::Bytes;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::task;
use crate::api::ScaffoldRequest;
use crate::portal::reply::{Reply, sse_event};

/// The longest one event stream stays open; a client that still wants the
/// events opens another with the last id it has.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How many event streams are open at once.
pub const STREAM_LIMIT: usize = 256;
/// How often a stream with nothing new sends a comment, so that proxies do
/// not take a quiet connection for a dead one.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The open event streams: each holds a permit while it is open.
pub struct Streams(Arc<Semaphore>);

impl Default for Streams {
    fn default() -> Streams {
        Streams(Arc::new(Semaphore::new(STREAM_LIMIT)))
    }
}

impl Streams {
    /// A place for one more stream, or the answer that there is none.
    pub fn open(&self) -> Result<OwnedSemaphorePermit, Reply> {
        self.0.clone().try_acquire_owned().map_err(|_| {
            Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{STREAM_LIMIT} event streams are open, the most goldpath serves at once; try again, \
                     or follow the task with GET /v2/tasks/:id/events"
                ),
            )
        })
    }
}

/// What a stream knows between two changes of its request.
struct State<W> {
    changes: W,
    /// The last event id sent.
    told: u64,
    ended: bool,
    _permit: OwnedSemaphorePermit,
}

/// The bytes that tell the events of `request` after `told`, the new last
/// id, and whether the task has ended (nothing more will come).
pub fn frames(request: &ScaffoldRequest, told: u64) -> (String, u64, bool) {
    let mut text = String::new();
    let mut last = told;
    for event in task::events(request, told) {
        let id = event["id"].as_u64().unwrap_or(last);
        let type_ = event["type"].as_str().unwrap_or("log").to_string();
        text.push_str(&sse_event(id, &type_, &event));
        last = last.max(id);
    }
    let ended = task::ended(request);
    (text, last, ended)
}

/// The events of request `name` of `api` after `after`, as server-sent
/// events, for as long as the stream may stay open.
pub fn stream(
    api: Api<ScaffoldRequest>,
    name: &str,
    after: u64,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let fields = format!("metadata.name={name}");
    let changes = watcher(api, watcher::Config::default().fields(&fields))
        .default_backoff()
        .boxed();
    let state = State {
        changes,
        told: after,
        ended: false,
        _permit: permit,
    };
    let told = futures::stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        loop {
            let change = tokio::time::timeout(KEEP_ALIVE, state.changes.next()).await;
            let request = match change {
                Err(_) => return Some((Bytes::from_static(b": still running\n\n"), state)),
                // A watch ends only with the stream that drives it.
                Ok(None) => return None,
                Ok(Some(Err(_))) => continue,
                Ok(Some(Ok(watcher::Event::Apply(request) | watcher::Event::InitApply(request)))) => request,
                Ok(Some(Ok(watcher::Event::Delete(_)))) => return None,
                Ok(Some(Ok(watcher::Event::Init | watcher::Event::InitDone))) => continue,
            };
            let (text, told, ended) = frames(&request, state.told);
            state.told = told;
            state.ended = ended;
            if !text.is_empty() {
                return Some((Bytes::from(text), state));
            }
            if ended {
                return None;
            }
        }
    });
    until(told, STREAM_LIFETIME)
}

/// `stream`, cut off after `lifetime`.
fn until<S>(stream: S, lifetime: Duration) -> impl Stream<Item = Bytes> + Send + 'static
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let deadline = Box::pin(tokio::time::sleep(lifetime));
    stream.take_until(deadline)
}

/// The last event id a caller has: `Last-Event-ID` (a reconnecting
/// EventSource sends it), else `after`; 0 if neither.
pub fn last_seen(header: Option<&str>, after: u64) -> Result<u64, Reply> {
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(after),
        Some(value) => value.parse().map_err(|_| {
            Reply::bad_request(format!(
                "Last-Event-ID: {value:?} is not an event id (a whole number)"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use serde_json::Value;

    use super::*;
    use crate::api::{Phase, ScaffoldRequestSpec, ScaffoldRequestStatus, StepPhase, StepStatus};

    /// The `(id, type)` of each event in server-sent-event `text`.
    fn told(text: &str) -> Vec<(u64, String)> {
        text.split("\n\n")
            .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
            .map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                        .unwrap_or_default()
                        .to_string()
                };
                let data: Value = serde_json::from_str(&field("data")).unwrap();
                assert_eq!(data["id"].to_string(), field("id"));
                assert_eq!(data["type"].as_str().unwrap(), field("event"));
                (field("id").parse().unwrap(), field("event"))
            })
            .collect()
    }

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(1_700_000_000 + second).unwrap())
    }

    fn request(phase: Phase, done: usize) -> ScaffoldRequest {
        let mut request = ScaffoldRequest::new("orders", ScaffoldRequestSpec::default());
        request.metadata.namespace = Some("team-a".into());
        let steps = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, id)| StepStatus {
                id: (*id).into(),
                action: "debug:log".into(),
                phase: if i < done {
                    StepPhase::Succeeded
                } else {
                    StepPhase::Pending
                },
                started_at: (i < done).then(|| at(i as i64)),
                completed_at: (i < done).then(|| at(i as i64 + 1)),
                resumed_at: None,
                generation: Some(1),
                wait_until: None,
                message: None,
                output: None,
            })
            .collect();
        request.status = Some(ScaffoldRequestStatus {
            phase: Some(phase),
            steps,
            ..ScaffoldRequestStatus::default()
        });
        request
    }

    #[test]
    fn each_change_tells_only_what_is_new_and_the_end_ends_the_stream() {
        let (text, last, ended) = frames(&request(Phase::Running, 1), 0);
        assert_eq!(told(&text), [(1, "log".into()), (2, "log".into())]);
        assert_eq!((last, ended), (2, false));
        let (text, last, ended) = frames(&request(Phase::Running, 1), last);
        assert!(text.is_empty() && last == 2 && !ended, "nothing new: {text}");
        let (text, last, ended) = frames(&request(Phase::Succeeded, 2), last);
        assert_eq!(
            told(&text),
            [(3, "log".into()), (4, "log".into()), (5, "completion".into())]
        );
        assert_eq!((last, ended), (5, true));
    }

    #[test]
    fn last_event_id_is_taken_over_after() {
        assert_eq!(last_seen(None, 4).unwrap(), 4);
        assert_eq!(last_seen(Some("7"), 4).unwrap(), 7);
        assert_eq!(last_seen(Some(" "), 4).unwrap(), 4);
        assert_eq!(
            last_seen(Some("x"), 0).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn the_streams_open_at_once_are_bounded() {
        let streams = Streams::default();
        let open: Vec<_> = (0..STREAM_LIMIT).map(|_| streams.open().unwrap()).collect();
        let refused = streams.open().unwrap_err();
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        drop(open);
        assert!(streams.open().is_ok(), "a closed stream gives its place back");
    }

    #[tokio::test]
    async fn a_stream_ends_at_its_lifetime() {
        let endless = futures::stream::pending::<Bytes>();
        let mut cut = Box::pin(until(endless, Duration::from_millis(50)));
        assert!(cut.next().await.is_none(), "cut off at the deadline");
    }
}
