//! Leader election on a `coordination.k8s.io/v1` Lease: run the leader's work only while
//! this replica holds the lease, as Flux's controllers do with `--enable-leader-election`.
//!
//! [`LeaderElection`] waits for the lease, runs the work it is given, renews the lease
//! while the work runs, and:
//!
//! - on shutdown, cancels the work's [`CancellationToken`], keeps renewing until the work
//!   returns, then releases the lease (unless
//!   [`with_release_on_cancel(false)`](LeaderElection::with_release_on_cancel)), so the
//!   next replica takes over at once instead of after the lease duration;
//! - on losing the lease (another holder took it, or it could not be renewed within the
//!   renew deadline), cancels the token, drops the work and returns
//!   [`Error::LeadershipLost`]. Exit non-zero then and let Kubernetes restart the pod, as
//!   Flux's controllers do: a kube-rs `Controller` stream cannot be resumed, and a fresh
//!   process starts from a clean state.
//!
//! # The algorithm, and why it is not a dependency
//!
//! It is client-go's, which Flux's controllers use through controller-runtime, with the
//! same three settings and defaults as Flux's flags: `--leader-election-lease-duration`
//! (35 s), `--leader-election-renew-deadline` (30 s), `--leader-election-retry-period`
//! (5 s). A candidate reads the lease every retry period; it takes the lease when nobody
//! holds it, or when the holder's record has not changed for a whole lease duration *as
//! measured by the candidate's own clock* (so clock skew between nodes does not matter).
//! Every write is an update conditional on the `resourceVersion` just read, so of two
//! candidates only one wins. The leader renews every retry period and gives up when it
//! has not renewed for the renew deadline, which is shorter than the lease duration: it
//! stops before anyone else may start.
//!
//! `kube-lease-manager`, the one maintained crate on kube 5, was read and not used: it
//! renews with unconditional patches and takes an expired lease by force-clearing it and
//! then applying, so two candidates can both believe they lead for a renewal period; it
//! judges expiry by the holder's `renewTime` against the local wall clock; and it has no
//! renew deadline (its `watch` mode keeps reporting leadership while the API server is
//! unreachable). The other crates are on older kube releases.
//!
//! # Start-up order
//!
//! Everything that writes belongs in the work, in this order: the integrity check
//! ([`verify_stored_artifacts`](flux_artifact_kube::verify_stored_artifacts)), then the
//! [orphan sweep](crate::cleanup::OrphanSweep), then the `Controller` and the artifact
//! server together. Only the leader builds artifacts, so only the leader's storage has
//! them: start the server inside the work, and point readiness at it, so the Service
//! routes consumers to the leader.
//!
//! ```no_run
//! use flux_artifact_runtime::leader::LeaderElection;
//!
//! # async fn example(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let election = LeaderElection::new("podinfo-controller-leader-election", "flux-system");
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! let outcome = election
//!     .run(client, shutdown, |stop| async move {
//!         // Integrity check, orphan sweep, then the Controller and the artifact server,
//!         // all stopping when `stop` is cancelled.
//!         stop.cancelled().await;
//!     })
//!     .await?; // Err(LeadershipLost): exit non-zero and let the pod restart.
//! if outcome.is_none() {
//!     println!("shut down before becoming the leader");
//! }
//! # Ok(()) }
//! ```
//!
//! # Permissions
//!
//! `get`, `create` and `update` on `leases` (`coordination.k8s.io`) in the lease's
//! namespace: a Role, not a ClusterRole (see `docs/kubernetes/rbac.yaml`).

mod elector;

use std::{fmt, future::Future, pin::pin, time::Duration};

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::error_chain::ErrorChain;
use elector::{Elector, Loss};

/// Flux's default `--leader-election-lease-duration`: how long others wait, after the
/// holder's last renewal they saw, before taking the lease.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(35);
/// Flux's default `--leader-election-renew-deadline`: how long the leader keeps trying
/// to renew before it gives up leading.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(30);
/// Flux's default `--leader-election-retry-period`: how often candidates try to take
/// the lease and the leader renews it.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(5);

/// The settings of a leader election, and [`run`](Self::run) to take part in one.
///
/// Defaults are Flux's: lease duration 35 s, renew deadline 30 s, retry period 5 s,
/// release on cancel, and the host name (in a pod, the pod's name) as the identity.
/// Replicas of one controller use the same lease name and namespace and different
/// identities.
///
/// ```
/// use std::time::Duration;
/// use flux_artifact_runtime::leader::LeaderElection;
///
/// let election = LeaderElection::new("podinfo-controller-leader-election", "flux-system")
///     .with_identity("podinfo-controller-7d4b9c-x2x5q")
///     .with_lease_duration(Duration::from_secs(60))
///     .with_renew_deadline(Duration::from_secs(40))
///     .with_release_on_cancel(false);
/// assert_eq!(election.identity()?, "podinfo-controller-7d4b9c-x2x5q");
/// assert_eq!(election.retry_period(), Duration::from_secs(5));
/// # Ok::<(), flux_artifact_runtime::leader::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    lease_name: String,
    namespace: String,
    identity: Option<String>,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    release_on_cancel: bool,
}

impl LeaderElection {
    /// An election on the Lease `lease_name` in `namespace` (usually the controller's
    /// own, e.g. `$RUNTIME_NAMESPACE`), with Flux's defaults. Flux names the lease
    /// `<controller>-leader-election`; controllers sharded by label selector need one
    /// lease per shard.
    pub fn new(lease_name: impl Into<String>, namespace: impl Into<String>) -> Self {
        LeaderElection {
            lease_name: lease_name.into(),
            namespace: namespace.into(),
            identity: None,
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            release_on_cancel: true,
        }
    }

    /// Sets this replica's identity, written as the lease's `holderIdentity` (default:
    /// the host name). It must differ between replicas.
    #[must_use]
    pub fn with_identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// Sets the lease duration (`--leader-election-lease-duration`). The lease records
    /// whole seconds, so it must be at least one; fractions are dropped.
    #[must_use]
    pub fn with_lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration;
        self
    }

    /// Sets the renew deadline (`--leader-election-renew-deadline`); it must be shorter
    /// than the lease duration.
    #[must_use]
    pub fn with_renew_deadline(mut self, deadline: Duration) -> Self {
        self.renew_deadline = deadline;
        self
    }

    /// Sets the retry period (`--leader-election-retry-period`); it must be shorter
    /// than the renew deadline.
    #[must_use]
    pub fn with_retry_period(mut self, period: Duration) -> Self {
        self.retry_period = period;
        self
    }

    /// Whether to release the lease when the work ends (`--leader-election-release-on-cancel`,
    /// default `true`), so that another replica takes over at once. Without it, the
    /// lease stays until it expires.
    #[must_use]
    pub fn with_release_on_cancel(mut self, release: bool) -> Self {
        self.release_on_cancel = release;
        self
    }

    /// The lease's name.
    #[must_use]
    pub fn lease_name(&self) -> &str {
        &self.lease_name
    }

    /// The lease's namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lease duration.
    #[must_use]
    pub fn lease_duration(&self) -> Duration {
        self.lease_duration
    }

    /// The renew deadline.
    #[must_use]
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// The retry period.
    #[must_use]
    pub fn retry_period(&self) -> Duration {
        self.retry_period
    }

    /// Whether the lease is released when the work ends.
    #[must_use]
    pub fn release_on_cancel(&self) -> bool {
        self.release_on_cancel
    }

    /// This replica's identity: the one set, else the host name.
    ///
    /// # Errors
    ///
    /// [`Error::NoIdentity`] if none was set and the host name is empty or not UTF-8,
    /// or an empty one was set.
    pub fn identity(&self) -> Result<String, Error> {
        let identity = match &self.identity {
            Some(identity) => identity.clone(),
            None => gethostname::gethostname()
                .into_string()
                .map_err(|name| Error::NoIdentity {
                    reason: format!("the host name {name:?} is not UTF-8"),
                })?,
        };
        if identity.is_empty() {
            return Err(Error::NoIdentity {
                reason: match self.identity {
                    Some(_) => "the identity given is empty".to_owned(),
                    None => "the host name is empty".to_owned(),
                },
            });
        }
        Ok(identity)
    }

    /// Checks the settings as client-go does, before any request.
    fn validate(&self) -> Result<(), Error> {
        let invalid = |setting: &'static str, value: String, reason: &str| {
            Err(Error::InvalidSetting {
                setting,
                value,
                reason: reason.to_owned(),
            })
        };
        if self.lease_name.is_empty() {
            return invalid("lease name", String::new(), "must not be empty");
        }
        if self.namespace.is_empty() {
            return invalid("lease namespace", String::new(), "must not be empty");
        }
        let seconds = self.lease_duration.as_secs();
        if seconds == 0 || i32::try_from(seconds).is_err() {
            return invalid(
                "lease duration",
                format!("{:?}", self.lease_duration),
                "must be at least 1s and fit the lease's 32-bit count of seconds",
            );
        }
        if self.renew_deadline.is_zero() || self.renew_deadline >= self.lease_duration {
            return invalid(
                "renew deadline",
                format!("{:?}", self.renew_deadline),
                &format!(
                    "must be above zero and shorter than the lease duration ({:?}), so that the \
                     leader stops before another replica may take the lease",
                    self.lease_duration
                ),
            );
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return invalid(
                "retry period",
                format!("{:?}", self.retry_period),
                &format!(
                    "must be above zero and shorter than the renew deadline ({:?}), so that the \
                     leader tries to renew at least once before giving up",
                    self.renew_deadline
                ),
            );
        }
        Ok(())
    }

    /// Takes part in the election and runs `work` while this replica leads.
    ///
    /// Until the lease is acquired, tries every retry period (API errors are logged and
    /// retried, as in Flux: a missing RBAC rule shows in the log, not as an exit). Once
    /// it is, calls `work` with a [`CancellationToken`] and renews the lease while the
    /// work's future runs. Then:
    ///
    /// - the work returns: releases the lease (if
    ///   [`release_on_cancel`](Self::with_release_on_cancel)) and returns
    ///   `Ok(Some(output))`;
    /// - `shutdown` completes: cancels the token and goes on renewing until the work
    ///   returns, then as above. Pass the token to whatever must stop, e.g. the
    ///   Controller's `graceful_shutdown_on(stop.cancelled_owned())` and the artifact
    ///   server's shutdown future;
    /// - the lease is lost: cancels the token, drops the work's future at once (another
    ///   replica may start leading within `lease duration - renew deadline`) and returns
    ///   [`Error::LeadershipLost`].
    ///
    /// If `shutdown` completes before the lease is acquired, returns `Ok(None)` without
    /// calling `work`.
    ///
    /// Dropping the work's future does not stop tasks it spawned: tie them to the token,
    /// or do not spawn. Releasing waits at most one retry period; a failed release is
    /// logged (the lease then expires on its own).
    ///
    /// # Errors
    ///
    /// Before any request: [`Error::InvalidSetting`] and [`Error::NoIdentity`]. While
    /// leading: [`Error::LeadershipLost`].
    pub async fn run<W, F>(
        &self,
        client: Client,
        shutdown: impl Future<Output = ()>,
        work: W,
    ) -> Result<Option<F::Output>, Error>
    where
        W: FnOnce(CancellationToken) -> F,
        F: Future,
    {
        self.validate()?;
        let mut elector = Elector::new(client, self, self.identity()?);
        let mut shutdown = pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    tracing::info!(lease = %elector.lease_ref(), "shutdown before acquiring the lease");
                    return Ok(None);
                }
                acquired = elector.try_acquire() => match acquired {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => tracing::warn!(
                        lease = %elector.lease_ref(),
                        error = %ErrorChain(&error),
                        "cannot acquire the lease; retrying"
                    ),
                },
            }
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    tracing::info!(lease = %elector.lease_ref(), "shutdown before acquiring the lease");
                    return Ok(None);
                }
                () = tokio::time::sleep(self.retry_period) => {}
            }
        }
        tracing::info!(lease = %elector.lease_ref(), identity = %elector.identity, "acquired the lease: leading");

        let stop = CancellationToken::new();
        let ended = {
            let mut work = pin!(work(stop.clone()));
            let mut keeper = pin!(elector.keep_leading());
            let mut stopping = false;
            loop {
                tokio::select! {
                    biased;
                    lost = &mut keeper => break Err(lost),
                    output = &mut work => break Ok(output),
                    () = &mut shutdown, if !stopping => {
                        stopping = true;
                        tracing::info!("shutting down: stopping the leader's work");
                        stop.cancel();
                    }
                }
            }
        };
        stop.cancel();
        match ended {
            Ok(output) => {
                if self.release_on_cancel {
                    elector.release().await;
                }
                Ok(Some(output))
            }
            Err(Loss { reason, last_error }) => {
                tracing::error!(lease = %elector.lease_ref(), %reason, "lost the lease: the leader's work was cancelled");
                Err(Error::LeadershipLost {
                    namespace: self.namespace.clone(),
                    name: self.lease_name.clone(),
                    identity: elector.identity,
                    reason,
                    last_error: last_error.map(Box::new),
                })
            }
        }
    }
}

/// Why leadership ended without being given up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// Another replica holds the lease now.
    TakenOver {
        /// Its identity.
        holder: String,
    },
    /// The lease's holder was cleared by someone else.
    Released,
    /// The lease was deleted.
    Deleted,
    /// No renewal succeeded within the renew deadline (the API server was unreachable
    /// or kept failing).
    NotRenewed {
        /// The renew deadline.
        deadline: Duration,
    },
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossReason::TakenOver { holder } => write!(f, "the lease is now held by {holder:?}"),
            LossReason::Released => f.write_str("the lease was released by someone else"),
            LossReason::Deleted => f.write_str("the lease was deleted"),
            LossReason::NotRenewed { deadline } => {
                write!(
                    f,
                    "it could not be renewed within the renew deadline of {deadline:?}"
                )
            }
        }
    }
}

/// What can go wrong with a leader election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range; nothing was sent.
    #[error("invalid leader election {setting} {value:?}: {reason}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No identity was set and none could be derived; nothing was sent.
    #[error("no leader election identity: {reason}; set one with LeaderElection::with_identity")]
    NoIdentity {
        /// Why.
        reason: String,
    },
    /// This replica led and lost the lease; its work was cancelled. Exit non-zero so the
    /// pod restarts and takes part in the election again. When a renewal failed, the
    /// last client error is the [`source`](std::error::Error::source).
    #[error("lost the lease {namespace}/{name} held as {identity:?}: {reason}")]
    LeadershipLost {
        /// The lease's namespace.
        namespace: String,
        /// The lease's name.
        name: String,
        /// This replica's identity.
        identity: String,
        /// Why.
        reason: LossReason,
        /// The error of the last failed renewal, if any.
        #[source]
        last_error: Option<Box<kube::Error>>,
    },
}

impl Error {
    /// Whether this is [`Error::LeadershipLost`].
    #[must_use]
    pub fn is_leadership_lost(&self) -> bool {
        matches!(self, Error::LeadershipLost { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election() -> LeaderElection {
        LeaderElection::new("lease", "flux-system").with_identity("me")
    }

    #[test]
    fn the_defaults_are_fluxs() {
        let election = LeaderElection::new("lease", "flux-system");
        assert_eq!(election.lease_duration(), Duration::from_secs(35));
        assert_eq!(election.renew_deadline(), Duration::from_secs(30));
        assert_eq!(election.retry_period(), Duration::from_secs(5));
        assert!(election.release_on_cancel());
        assert!(election.validate().is_ok());
    }

    #[test]
    fn the_identity_defaults_to_the_host_name() {
        let host = gethostname::gethostname().into_string().unwrap();
        assert_eq!(LeaderElection::new("lease", "ns").identity().unwrap(), host);
    }

    #[test]
    fn an_empty_identity_is_refused() {
        let error = election().with_identity("").identity().unwrap_err();
        assert_eq!(
            error.to_string(),
            "no leader election identity: the identity given is empty; set one with LeaderElection::with_identity"
        );
    }

    #[test]
    fn settings_that_could_give_two_leaders_are_refused() {
        let cases = [
            (
                election().with_renew_deadline(Duration::from_secs(35)),
                "renew deadline",
            ),
            (election().with_renew_deadline(Duration::ZERO), "renew deadline"),
            (
                election().with_retry_period(Duration::from_secs(30)),
                "retry period",
            ),
            (election().with_retry_period(Duration::ZERO), "retry period"),
            (
                election().with_lease_duration(Duration::from_millis(900)),
                "lease duration",
            ),
            (LeaderElection::new("", "ns"), "lease name"),
            (LeaderElection::new("lease", ""), "lease namespace"),
        ];
        for (election, expected) in cases {
            match election.validate() {
                Err(Error::InvalidSetting { setting, .. }) => assert_eq!(setting, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_invalid_setting_names_the_value_and_the_reason() {
        let error = election()
            .with_renew_deadline(Duration::from_secs(40))
            .validate()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid leader election renew deadline \"40s\": must be above zero and shorter than the lease \
             duration (35s), so that the leader stops before another replica may take the lease"
        );
    }

    #[test]
    fn a_loss_after_failed_renewals_has_the_last_error_as_its_source_only() {
        let status =
            kube::core::Status::failure("etcdserver: request timed out", "InternalError").with_code(500);
        let error = Error::LeadershipLost {
            namespace: "flux-system".into(),
            name: "lease".into(),
            identity: "me".into(),
            reason: LossReason::NotRenewed {
                deadline: Duration::from_secs(30),
            },
            last_error: Some(Box::new(kube::Error::Api(status.boxed()))),
        };
        assert_eq!(
            error.to_string(),
            "lost the lease flux-system/lease held as \"me\": it could not be renewed within the renew deadline of 30s"
        );
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("etcdserver"), "{cause}");
        assert!(!error.to_string().contains(&cause));
    }
}
