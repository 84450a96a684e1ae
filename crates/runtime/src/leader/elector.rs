//! One replica's side of the lease: client-go's acquire, renew and release, each write
//! conditional on the `resourceVersion` last read.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::time::Instant;

use super::{LeaderElection, LossReason};
use crate::error_chain::ErrorChain;

/// Why leading stopped, from the renewal loop.
pub(super) struct Loss {
    pub(super) reason: LossReason,
    pub(super) last_error: Option<kube::Error>,
}

/// The outcome of one renewal attempt that got an answer.
enum Renewal {
    Renewed,
    Lost(LossReason),
}

/// One replica's view of the lease.
pub(super) struct Elector {
    api: Api<Lease>,
    name: String,
    namespace: String,
    pub(super) identity: String,
    lease_seconds: i32,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    /// The lease as last read or written: the `resourceVersion` of the next update.
    lease: Option<Lease>,
    /// The lease's spec as last seen and when it was first seen so, by this process's
    /// monotonic clock: a holder's lease expires a lease duration after its record
    /// stopped changing, whatever the holder's clock says.
    observed: Option<(LeaseSpec, Instant)>,
}

impl Elector {
    pub(super) fn new(client: Client, settings: &LeaderElection, identity: String) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            name: settings.lease_name.clone(),
            namespace: settings.namespace.clone(),
            identity,
            // Checked by validate().
            lease_seconds: i32::try_from(settings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            lease_duration: settings.lease_duration,
            renew_deadline: settings.renew_deadline,
            retry_period: settings.retry_period,
            lease: None,
            observed: None,
        }
    }

    pub(super) fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != spec) {
            self.observed = Some((spec, Instant::now()));
        }
    }

    /// Whether the holder recorded in `spec` (as observed) has let the lease expire.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let duration = spec
            .lease_duration_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| *seconds > 0)
            .map_or(self.lease_duration, Duration::from_secs);
        self.observed
            .as_ref()
            .is_none_or(|(_, since)| Instant::now() >= *since + duration)
    }

    /// The record this replica writes, keeping what the previous one had that is not
    /// about the holder.
    fn record(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        let mut spec = previous.cloned().unwrap_or_default();
        if holder(&spec) != Some(self.identity.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(previous.map_or(0, |p| p.lease_transitions.unwrap_or(0) + 1));
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(self.lease_seconds);
        spec.renew_time = Some(now);
        spec
    }

    /// One attempt to take the lease: `Ok(true)` if this replica holds it now.
    pub(super) async fn try_acquire(&mut self) -> Result<bool, kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.record(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    self.lease = Some(created);
                    Ok(true)
                }
                // Another replica created it first.
                Err(error) if status_code(&error) == Some(409) => Ok(false),
                Err(error) => Err(error),
            };
        };
        self.observe(&current);
        let spec = current.spec.clone().unwrap_or_default();
        if let Some(holder) = holder(&spec)
            && holder != self.identity
            && !self.expired(&spec)
        {
            tracing::debug!(lease = %self.lease_ref(), holder, "the lease is held by another replica");
            return Ok(false);
        }
        let mut next = current;
        next.spec = Some(self.record(Some(&spec)));
        match self.api.replace(&self.name, &PostParams::default(), &next).await {
            Ok(updated) => {
                self.observe(&updated);
                self.lease = Some(updated);
                Ok(true)
            }
            // Another replica wrote it since it was read.
            Err(error) if status_code(&error) == Some(409) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Renews the lease every retry period until it is lost; returns why.
    pub(super) async fn keep_leading(&mut self) -> Loss {
        let mut renewed = Instant::now();
        let mut last_error = None;
        loop {
            tokio::time::sleep(self.retry_period).await;
            let deadline = renewed + self.renew_deadline;
            if Instant::now() >= deadline {
                return self.not_renewed(last_error);
            }
            match tokio::time::timeout_at(deadline, self.renew()).await {
                Ok(Ok(Renewal::Renewed)) => {
                    renewed = Instant::now();
                    last_error = None;
                    tracing::debug!(lease = %self.lease_ref(), "renewed the lease");
                }
                Ok(Ok(Renewal::Lost(reason))) => return Loss { reason, last_error },
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.lease_ref(), error = %ErrorChain(&error), "cannot renew the lease");
                    last_error = Some(error);
                }
                Err(_elapsed) => return self.not_renewed(last_error),
            }
        }
    }

    fn not_renewed(&self, last_error: Option<kube::Error>) -> Loss {
        Loss {
            reason: LossReason::NotRenewed {
                deadline: self.renew_deadline,
            },
            last_error,
        }
    }

    /// Writes a new renew time, conditional on the lease not having changed since this
    /// replica last wrote it. If it has, reads it: still ours (someone touched its
    /// metadata) means try again, anything else means leadership is lost.
    async fn renew(&mut self) -> Result<Renewal, kube::Error> {
        loop {
            let Some(mut lease) = self.lease.clone() else {
                return Ok(Renewal::Lost(LossReason::Deleted));
            };
            let spec = lease.spec.clone().unwrap_or_default();
            lease.spec = Some(self.record(Some(&spec)));
            match self.api.replace(&self.name, &PostParams::default(), &lease).await {
                Ok(updated) => {
                    self.observe(&updated);
                    self.lease = Some(updated);
                    return Ok(Renewal::Renewed);
                }
                Err(error) if status_code(&error) == Some(404) => {
                    return Ok(Renewal::Lost(LossReason::Deleted));
                }
                Err(error) if status_code(&error) == Some(409) => {
                    let Some(current) = self.api.get_opt(&self.name).await? else {
                        return Ok(Renewal::Lost(LossReason::Deleted));
                    };
                    self.observe(&current);
                    let spec = current.spec.clone().unwrap_or_default();
                    match holder(&spec) {
                        Some(holder) if holder == self.identity => self.lease = Some(current),
                        Some(holder) => {
                            return Ok(Renewal::Lost(LossReason::TakenOver {
                                holder: holder.to_owned(),
                            }));
                        }
                        None => return Ok(Renewal::Lost(LossReason::Released)),
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Clears the holder so that the next replica need not wait for the lease to
    /// expire; a lease someone else wrote since is left alone (the update is
    /// conditional).
    pub(super) async fn release(&mut self) {
        let Some(mut lease) = self.lease.take() else {
            return;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if holder(&spec) != Some(self.identity.as_str()) {
            return;
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            // Candidates that saw the old record wait one second more, not 35.
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..spec
        });
        let params = PostParams::default();
        let request = self.api.replace(&self.name, &params, &lease);
        match tokio::time::timeout(self.retry_period, request).await {
            Ok(Ok(_)) => tracing::info!(lease = %self.lease_ref(), "released the lease"),
            Ok(Err(error)) => tracing::warn!(
                lease = %self.lease_ref(),
                error = %ErrorChain(&error),
                "cannot release the lease; it expires on its own"
            ),
            Err(_) => tracing::warn!(
                lease = %self.lease_ref(),
                "releasing the lease timed out; it expires on its own"
            ),
        }
    }
}

/// The holder recorded in a lease; `None` when nobody holds it.
fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity
        .as_deref()
        .filter(|holder| !holder.is_empty())
}

fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
