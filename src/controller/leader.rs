//! Leader election on a `coordination.k8s.io` Lease, so several replicas
//! are safe: every replica watches and serves the catalog, only the leader
//! reconciles.
//!
//! The leader renews the Lease every `duration / 5`. Another replica takes
//! the Lease when it has not seen it change for a whole `duration` (judged by
//! its own clock, as client-go does, so clock skew between nodes does not
//! matter), or at once when the holder released it on shutdown. A leader
//! that cannot renew for `duration * 2 / 3` stops being one, and the
//! process exits so that nothing it started keeps going without the Lease.
//! Every update carries the Lease's resourceVersion, so two replicas can
//! never both win it.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{info, warn};

/// Which Lease, and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace (the operator's).
    pub namespace: String,
    /// This replica's identity, e.g. its pod name.
    pub identity: String,
    /// How long a Lease that is not renewed stays held.
    pub duration: Duration,
}

/// A future every waiter can share: the process is stopping.
pub type Stopping = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// Whether this replica may reconcile.
#[derive(Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    stopping: Stopping,
}

impl Leadership {
    /// Always the leader: one replica without election.
    pub fn always(stopping: Stopping) -> Leadership {
        let (sender, leading) = watch::channel(true);
        // A receiver whose sender is gone keeps its last value.
        drop(sender);
        Leadership { leading, stopping }
    }

    /// Waits until this replica leads (`true`), or the process is stopping
    /// first (`false`), so a replica that never led stops at once.
    pub async fn wait(&self) -> bool {
        let mut leading = self.leading.clone();
        tokio::select! {
            // Err only when the election ended; then the process is stopping.
            led = leading.wait_for(|leading| *leading) => led.is_ok(),
            () = self.stopping.clone() => false,
        }
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Takes part in the election until `release` resolves; then releases the
/// Lease if held. Returns the leadership to wait on (which gives up when
/// `stopping` resolves) and the election, which ends with an error when
/// leadership is lost. Each call to the API server is given at most a third
/// of the Lease's duration, so a server that does not answer cannot keep
/// this replica leading after another one may have taken over.
pub fn elect(
    client: Client,
    options: LeaseOptions,
    stopping: Stopping,
    release: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    Leadership,
    impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    let (sender, receiver) = watch::channel(false);
    let election = async move {
        let api: Api<Lease> = Api::namespaced(client, &options.namespace);
        let mut state = Election {
            api,
            options,
            seen: None,
            renewed: None,
        };
        let retry = state.options.duration / 5;
        let patience = state.options.duration / 3;
        tokio::pin!(release);
        loop {
            let leading = match tokio::time::timeout(patience, state.round()).await {
                Ok(leading) => leading,
                Err(_) => {
                    warn!("the API server did not answer about the leader Lease in time");
                    false
                }
            };
            if *sender.borrow() && !leading {
                let lost = state
                    .renewed
                    .is_none_or(|at| at.elapsed() > state.options.duration * 2 / 3);
                if lost {
                    sender.send_replace(false);
                    anyhow::bail!(
                        "lost the lease {}/{}",
                        state.options.namespace,
                        state.options.name
                    );
                }
            } else if leading && !*sender.borrow() {
                info!(lease = %state.options.name, identity = %state.options.identity, "leading");
                sender.send_replace(true);
            }
            tokio::select! {
                () = &mut release => break,
                () = tokio::time::sleep(retry) => {}
            }
        }
        if *sender.borrow() && tokio::time::timeout(patience, state.release()).await.is_err() {
            warn!("the API server did not answer in time; the Lease expires by itself");
        }
        Ok(())
    };
    (
        Leadership {
            leading: receiver,
            stopping,
        },
        election,
    )
}

struct Election {
    api: Api<Lease>,
    options: LeaseOptions,
    /// The Lease's resourceVersion as last seen, and when it was first seen.
    seen: Option<(String, Instant)>,
    /// When this replica last renewed the Lease.
    renewed: Option<Instant>,
}

impl Election {
    /// One attempt to take or renew the Lease; whether this replica holds it.
    async fn round(&mut self) -> bool {
        let current = match self.api.get_opt(&self.options.name).await {
            Ok(current) => current,
            Err(error) => {
                warn!(%error, "cannot read the leader Lease");
                return false;
            }
        };
        let Some(lease) = current else {
            return self.create().await;
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.options.identity.as_str());
        if !mine && holder.is_some() {
            // Someone else holds it: whatever this replica held is gone.
            self.renewed = None;
            let since = match &self.seen {
                Some((seen, at)) if *seen == version => *at,
                _ => {
                    self.seen = Some((version, Instant::now()));
                    return false;
                }
            };
            if since.elapsed() < self.options.duration {
                return false;
            }
            info!(
                holder = holder.unwrap_or_default(),
                "the leader Lease expired; taking it"
            );
        }
        let now = MicroTime(Timestamp::now());
        let mut spec = LeaseSpec {
            holder_identity: Some(self.options.identity.clone()),
            lease_duration_seconds: Some(self.options.duration.as_secs().try_into().unwrap_or(i32::MAX)),
            renew_time: Some(now.clone()),
            ..spec
        };
        if !mine {
            spec.acquire_time = Some(now);
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        let updated = Lease {
            metadata: lease.metadata,
            spec: Some(spec),
        };
        // Counted from before the request: the Lease may be taken over a
        // duration after the server stored it, not after the answer came.
        let attempt = Instant::now();
        match self
            .api
            .replace(&self.options.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {
                self.renewed = Some(attempt);
                true
            }
            Err(error) => {
                warn!(%error, "could not take or renew the leader Lease");
                false
            }
        }
    }

    async fn create(&mut self) -> bool {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.options.name.clone()),
                namespace: Some(self.options.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.options.identity.clone()),
                lease_duration_seconds: Some(self.options.duration.as_secs().try_into().unwrap_or(i32::MAX)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let attempt = Instant::now();
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => {
                self.renewed = Some(attempt);
                true
            }
            Err(error) => {
                warn!(%error, "could not create the leader Lease");
                false
            }
        }
    }

    /// Gives the Lease up so another replica takes it at once.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.options.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.options.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        match self
            .api
            .replace(&self.options.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!("released the leader Lease"),
            Err(error) => warn!(%error, "could not release the leader Lease"),
        }
    }
}
