//! What every controller's reconcile goes through: leadership (a replica
//! that does not lead waits), a tracing span naming the object, and the
//! time it took; and the traits that let each controller's object, context
//! and answer take part.

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;

use super::{Leadership, key};
use crate::telemetry::Metrics;

/// Runs `reconcile` in a `reconcile` span naming the controller and the
/// object, and records how long it took, when this replica leads. A
/// replica that does not waits until it does and then asks for the object
/// again, so it acts on the newest version rather than the one it was
/// handed while it waited.
pub(super) async fn instrumented<K, C, F, Fut, A, E>(
    controller: &'static str,
    object: Arc<K>,
    context: Arc<C>,
    reconcile: F,
) -> Result<A, E>
where
    K: Named,
    C: Shared,
    F: FnOnce(Arc<K>, Arc<C>) -> Fut,
    Fut: std::future::Future<Output = Result<A, E>>,
    A: LookAgain,
{
    use tracing::Instrument;
    if !context.leadership().is_leader() {
        return Ok(if context.leadership().wait().await {
            A::after(Duration::from_millis(10))
        } else {
            // Stopping before ever leading: nothing to finish.
            A::on_change()
        });
    }
    let span = tracing::info_span!("reconcile", controller, object = %object.named());
    let started = std::time::Instant::now();
    let result = reconcile(object, context.clone()).instrument(span).await;
    context.metrics().reconcile_took(controller, started.elapsed());
    result
}

/// How an object is named in logs: `Kind namespace/name`.
pub(super) trait Named {
    fn named(&self) -> String;
}

impl<K: Resource<DynamicType = ()>> Named for K {
    fn named(&self) -> String {
        key(self)
    }
}

impl Named for crate::catalog::cached::CachedEntity {
    fn named(&self) -> String {
        format!("CatalogEntity {}", self.key())
    }
}

/// What a reconcile returns: when to look at the object again.
pub(super) trait LookAgain {
    /// After `wait`.
    fn after(wait: Duration) -> Self;
    /// When it changes.
    fn on_change() -> Self;
}

impl LookAgain for Action {
    fn after(wait: Duration) -> Action {
        Action::requeue(wait)
    }

    fn on_change() -> Action {
        Action::await_change()
    }
}

impl LookAgain for Option<Duration> {
    fn after(wait: Duration) -> Option<Duration> {
        Some(wait)
    }

    fn on_change() -> Option<Duration> {
        None
    }
}

/// What [`instrumented`] needs of a controller's context: whether this
/// replica leads, and where to count.
pub(super) trait Shared {
    fn leadership(&self) -> &Leadership;
    fn metrics(&self) -> &Metrics;
}
