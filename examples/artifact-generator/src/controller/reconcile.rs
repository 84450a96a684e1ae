//! One reconcile of one generator, in source-watcher's order: finalizer, pause,
//! validation, sources observed, drift, sources fetched, artifacts built, stored and
//! published, orphans and old files removed, status written.

use std::{
    collections::BTreeMap,
    io,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use flux_artifact::{
    kube::{Error as KubeError, ExternalArtifact, conditions::reason as flux_reason},
    runtime::{
        ErrorChain,
        cleanup::{self, FinalizerError},
        events::Event,
        status::ReconcileState,
    },
    storage::{Storage, StoredArchive},
};
use kube::{Api, ResourceExt, api::DeleteParams, runtime::controller::Action};
use tracing::Instrument;

use super::{
    Context,
    drift::{self, STORAGE_KIND},
    sources::{self, SourceError},
    status::{self, MSG_IN_PROGRESS, set_initialized_suspended, set_state},
};
use crate::{
    ArtifactGenerator, Error, ObservedSource,
    api::{ArtifactGeneratorSpec, ExternalArtifactReference, is_reconcile_disabled, reason},
    builder::ArtifactBuilder,
    cross_namespace_source, expand_artifacts, extra_metadata, hash_observed_sources,
    pathpattern::ArtifactRequest,
    set_artifact_revisions, store_artifact, validate,
};

/// How often an up-to-date generator is checked again (jittered): source-watcher's
/// fixed interval, since `ArtifactGenerator` has no `spec.interval`.
const INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How long the garbage collection of one ExternalArtifact's old files may take.
const GC_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The reason of the events about a generator's outcome, as source-watcher's.
const READY_EVENT_REASON: &str = "Ready";

/// What a reconcile can fail with; every one is retried by [`error_policy`] with
/// backoff. Failures that a retry cannot fix (an invalid spec, a terminal build error)
/// and failures of sources (requeued after
/// [`Settings::requeue_dependency`](super::Settings::requeue_dependency)) are not
/// errors: they are in the generator's conditions and events, and the reconcile
/// returns `Ok`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// A request to the API server failed: a status write (a 409 when the generator
    /// changed meanwhile), or adding or removing the finalizer.
    #[error(transparent)]
    Api(#[from] KubeError),
    /// `pathPattern` could not be expanded over the sources, for a reason the next
    /// source revision may fix (a directory that cannot be read).
    #[error("failed to expand path pattern")]
    Expand(#[source] Error),
    /// An artifact could not be built or stored, for a reason the next source revision
    /// may fix (a path missing from a source, a malformed file, an I/O error).
    #[error("{artifact} build failed")]
    Build {
        /// The artifact's name.
        artifact: String,
        /// The cause.
        #[source]
        source: Error,
    },
    /// An artifact was built but its `ExternalArtifact` could not be applied.
    #[error("{artifact} reconcile failed")]
    Publish {
        /// The artifact's name.
        artifact: String,
        /// The cause.
        #[source]
        source: KubeError,
    },
    /// The cleanup of a deleted generator failed in a way that keeps it (not with the
    /// default finalizer, which never blocks deletion).
    #[error("cleanup of the deleted generator failed")]
    Cleanup(#[source] cleanup::Error),
    /// The finalizer could not be handled: the object was not read from the API server.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The build's temporary directory could not be created.
    #[error("cannot create a temporary build directory")]
    TempDir(#[source] io::Error),
    /// The blocking task that builds the artifacts died.
    #[error("the build task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The reconcile took longer than
    /// [`Settings::reconciliation_timeout`](super::Settings::reconciliation_timeout)
    /// and was cancelled.
    #[error("reconciliation timed out after {0:?}")]
    Timeout(Duration),
}

/// Reconciles one generator (see the [module docs](super) for what that does), bounded
/// by [`Settings::reconciliation_timeout`](super::Settings::reconciliation_timeout), and
/// measured when the context has metrics.
///
/// Returns when to reconcile again: after about an hour (jittered by
/// [`Settings::interval_jitter_percentage`](super::Settings::interval_jitter_percentage))
/// when the generator is up to date, after
/// [`Settings::requeue_dependency`](super::Settings::requeue_dependency) when a source is
/// not ready or cannot be fetched, and only on a change when it is paused, stalled or
/// deleted.
///
/// # Errors
///
/// [`ReconcileError`]: an API request, a retryable build or an `ExternalArtifact` apply
/// failed, or the reconcile timed out. The generator's conditions and events say so
/// too, except for a failed status write.
pub async fn reconcile(
    generator: Arc<ArtifactGenerator>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let span = tracing::info_span!(
        "reconcile",
        namespace = %generator.namespace().unwrap_or_default(),
        name = %generator.name_any(),
    );
    let timer = ctx.metrics.as_ref().map(|metrics| metrics.start(&*generator));
    let work = with_finalizer(Arc::clone(&generator), &ctx);
    let limit = ctx.settings.reconciliation_timeout;
    let result = async {
        if limit.is_zero() {
            work.await
        } else {
            tokio::time::timeout(limit, work)
                .await
                .unwrap_or(Err(ReconcileError::Timeout(limit)))
        }
    }
    .instrument(span)
    .await;
    if let Some(timer) = timer {
        timer.finish(&result);
    }
    if result.is_ok() {
        ctx.backoff.reset(&*generator);
        if generator.metadata.deletion_timestamp.is_some()
            && let Some(metrics) = &ctx.metrics
        {
            metrics.forget(&*generator);
        }
    }
    result
}

/// What to do after a failed reconcile: try again after the generator's next backoff
/// delay, from [`Settings::min_retry_delay`](super::Settings::min_retry_delay) doubling
/// up to [`Settings::max_retry_delay`](super::Settings::max_retry_delay) (reset by a
/// success). The error itself is logged by [`run`](super::run).
pub fn error_policy(generator: Arc<ArtifactGenerator>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next_delay(&*generator);
    tracing::debug!(
        namespace = %generator.namespace().unwrap_or_default(),
        name = %generator.name_any(),
        error = %ErrorChain(error),
        ?delay,
        "reconcile failed; retrying"
    );
    Action::requeue(delay)
}

/// The finalizer first: added to a new generator, and on deletion every
/// `ExternalArtifact` of the inventory deleted with its storage, never blocking the
/// deletion.
async fn with_finalizer(generator: Arc<ArtifactGenerator>, ctx: &Context) -> Result<Action, ReconcileError> {
    ctx.finalizer
        .reconcile(generator, |generator| apply(generator, ctx))
        .await
        .map_err(|error| match error {
            FinalizerError::Apply(error) => error,
            FinalizerError::Finalizer(error) => ReconcileError::Api(error),
            FinalizerError::Cleanup(error) => ReconcileError::Cleanup(error),
            other => ReconcileError::Finalizer(other.to_string()),
        })
}

/// A generator that lives and carries the finalizer.
async fn apply(generator: Arc<ArtifactGenerator>, ctx: &Context) -> Result<Action, ReconcileError> {
    let mut generator = Arc::unwrap_or_clone(generator);
    let generation = generator.metadata.generation;

    if is_reconcile_disabled(&generator) {
        tracing::info!("reconciliation is disabled");
        status::write(ctx, &mut generator, |s| set_initialized_suspended(s, generation)).await?;
        let event = Event::trace(reason::RECONCILIATION_DISABLED, "Reconciliation is disabled");
        ctx.record(&generator, event).await;
        return Ok(Action::await_change());
    }

    match validate(&generator) {
        Ok(warnings) => {
            for warning in warnings {
                tracing::warn!(%warning, "generator spec");
            }
        }
        Err(error) => {
            let message = ErrorChain(&error).to_string();
            return stall(ctx, &mut generator, reason::VALIDATION_FAILED, message).await;
        }
    }
    if ctx.settings.no_cross_namespace_refs
        && let Some((index, source)) = cross_namespace_source(&generator)
    {
        let message = format!(
            "spec.sources[{index}]: cannot access {} {}/{}: cross-namespace references are not allowed",
            source.kind, source.namespace, source.name
        );
        return stall(ctx, &mut generator, reason::ACCESS_DENIED, message).await;
    }

    let observed = match sources::observe(ctx, &generator).await {
        Ok(observed) => observed,
        Err(error) => return dependency_failed(ctx, &mut generator, &error).await,
    };
    let sources_digest = hash_observed_sources(&observed);
    let Some(drift) = drift::detect(ctx, &generator, &sources_digest).await else {
        let count = generator.status.as_ref().map_or(0, |s| s.inventory.len());
        tracing::info!("no drift detected, {count} artifact(s) up to date");
        // Records a new `requestedAt`, and nothing else.
        status::write(ctx, &mut generator, |_| {}).await?;
        return Ok(Action::requeue(ctx.jitter.apply(INTERVAL)));
    };
    tracing::info!(reason = %drift, "drift detected; rebuilding");
    status::write(ctx, &mut generator, |s| {
        set_state(s, &ReconcileState::progressing(MSG_IN_PROGRESS), generation);
    })
    .await?;
    rebuild(ctx, &mut generator, &observed, sources_digest).await
}

/// Fetches the sources, builds and publishes every artifact, removes what is no
/// longer produced and records the result.
async fn rebuild(
    ctx: &Context,
    generator: &mut ArtifactGenerator,
    observed: &BTreeMap<String, ObservedSource>,
    sources_digest: String,
) -> Result<Action, ReconcileError> {
    let generation = generator.metadata.generation;
    let namespace = generator.namespace().unwrap_or_default();
    let previous = generator.status.clone().unwrap_or_default().inventory;
    let workdir = tempfile::Builder::new()
        .prefix("ag-")
        .tempdir()
        .map_err(ReconcileError::TempDir)?;
    let trees = match sources::fetch(ctx, observed, workdir.path()).await {
        Ok(trees) => trees,
        Err(error) => return dependency_failed(ctx, generator, &error).await,
    };

    let built = {
        // Stops the blocking build between operations once this reconcile is dropped
        // (timed out, or the controller shutting down).
        let cancel = CancelOnDrop::default();
        let cancelled = Arc::clone(&cancel.0);
        let storage = ctx.storage.storage().clone();
        let spec = generator.spec.clone();
        let (namespace, scratch) = (namespace.clone(), workdir.path().to_owned());
        tokio::task::spawn_blocking(move || {
            build_all(&storage, &spec, &trees, &namespace, &scratch, &cancelled)
        })
        .await
        .map_err(ReconcileError::Task)?
    };
    let built = match built {
        Ok(built) => built,
        Err(BuildFailure::Expand(error)) => {
            let message = format!("failed to expand path pattern: {}", ErrorChain(&error));
            if error.kind().is_terminal() {
                return stall(ctx, generator, flux_reason::BUILD_FAILED, message).await;
            }
            fail(ctx, generator, flux_reason::BUILD_FAILED, message).await?;
            return Err(ReconcileError::Expand(*error));
        }
        Err(BuildFailure::Build { artifact, error }) => {
            let message = format!("{artifact} build failed: {}", ErrorChain(&error));
            if error.kind().is_terminal() {
                return stall(ctx, generator, flux_reason::BUILD_FAILED, message).await;
            }
            fail(ctx, generator, flux_reason::BUILD_FAILED, message).await?;
            return Err(ReconcileError::Build {
                artifact,
                source: *error,
            });
        }
    };

    let mut inventory = Vec::with_capacity(built.len());
    let mut published = Vec::with_capacity(built.len());
    for (request, stored) in built {
        let name = request.artifact.name.clone();
        let mut artifact = stored.artifact.clone();
        set_artifact_revisions(&mut artifact, &request.artifact, observed);
        let extra = extra_metadata(generator, &request);
        if let Err(error) = ctx
            .publisher
            .apply_with_metadata(&*generator, &name, &artifact, &extra)
            .await
        {
            let message = format!("{name} reconcile failed: {}", ErrorChain(&error));
            fail(ctx, generator, flux_reason::RECONCILIATION_FAILED, message).await?;
            return Err(ReconcileError::Publish {
                artifact: name,
                source: error,
            });
        }
        // Published: the file no longer needs protecting from garbage collection.
        drop(stored);
        inventory.push(ExternalArtifactReference {
            name,
            namespace: namespace.clone(),
            digest: artifact.digest.clone(),
            filename: artifact.path.rsplit('/').next().unwrap_or_default().to_owned(),
        });
        published.push(artifact);
    }

    remove_orphans(ctx, &previous, &inventory).await;
    for artifact in &published {
        match ctx.storage.garbage_collect(artifact, GC_TIMEOUT).await {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(path = %artifact.path, ?deleted, "garbage collected {} old artifact(s)", deleted.len());
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(path = %artifact.path, error = %ErrorChain(&error), "garbage collection failed")
            }
        }
    }

    let message = format!(
        "reconciliation succeeded, generated {} artifact(s)",
        inventory.len()
    );
    tracing::info!("{message}");
    let changed: Vec<String> = inventory
        .iter()
        .filter(|r| !previous.contains(r))
        .map(|r| format!("{}/{} ({})", r.namespace, r.name, r.digest))
        .collect();
    status::write(ctx, generator, |s| {
        s.inventory = inventory;
        s.observed_sources_digest = sources_digest;
        set_state(s, &ReconcileState::succeeded(message), generation);
    })
    .await?;
    if !changed.is_empty() {
        let message = format!("external artifacts reconciled: {}", changed.join("\n"));
        ctx.record(generator, Event::normal(READY_EVENT_REASON, message))
            .await;
    }
    Ok(Action::requeue(ctx.jitter.apply(INTERVAL)))
}

/// Marks the generator Stalled (`Ready=False` with `reason`), records a Warning event,
/// and waits for a change of its spec.
async fn stall(
    ctx: &Context,
    generator: &mut ArtifactGenerator,
    reason: &str,
    message: String,
) -> Result<Action, ReconcileError> {
    tracing::error!(reason, %message, "reconciliation stalled");
    let generation = generator.metadata.generation;
    status::write(ctx, generator, |s| {
        set_state(s, &ReconcileState::stalled(reason, &message), generation);
    })
    .await?;
    ctx.record(generator, Event::warning(reason, message)).await;
    Ok(Action::await_change())
}

/// Marks the generator failed (`Ready=False` with `reason`, retrying) and records a
/// Warning event; the caller returns the error.
async fn fail(
    ctx: &Context,
    generator: &mut ArtifactGenerator,
    reason: &str,
    message: String,
) -> Result<(), ReconcileError> {
    tracing::error!(reason, %message, "reconciliation failed");
    let generation = generator.metadata.generation;
    status::write(ctx, generator, |s| {
        set_state(s, &ReconcileState::failed(reason, &message), generation);
    })
    .await?;
    ctx.record(generator, Event::warning(reason, message)).await;
    Ok(())
}

/// A source is missing, not ready or cannot be fetched: `SourceFetchFailed`, a
/// Warning event, and another try after the dependency interval (without backoff).
async fn dependency_failed(
    ctx: &Context,
    generator: &mut ArtifactGenerator,
    error: &SourceError,
) -> Result<Action, ReconcileError> {
    let message = ErrorChain(error).to_string();
    fail(ctx, generator, reason::SOURCE_FETCH_FAILED, message).await?;
    Ok(Action::requeue(ctx.settings.requeue_dependency))
}

/// Deletes the `ExternalArtifact`s of `previous` that `current` no longer has, and
/// their storage. Failures are logged: the generator's reconcile goes on, and the
/// orphan sweep at the next start removes storage left behind.
async fn remove_orphans(
    ctx: &Context,
    previous: &[ExternalArtifactReference],
    current: &[ExternalArtifactReference],
) {
    let orphans = previous.iter().filter(|old| {
        !current
            .iter()
            .any(|new| new.name == old.name && new.namespace == old.namespace)
    });
    for orphan in orphans {
        let api: Api<ExternalArtifact> = Api::namespaced(ctx.client.clone(), &orphan.namespace);
        match api.delete(&orphan.name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(artifact = %orphan.name, "deleted orphaned ExternalArtifact"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                tracing::warn!(artifact = %orphan.name, error = %ErrorChain(&error), "cannot delete orphaned ExternalArtifact");
            }
        }
        let key = (orphan.namespace.as_str(), orphan.name.as_str());
        if let Err(error) = ctx.storage.remove_object_storage(STORAGE_KIND, &key).await {
            tracing::warn!(artifact = %orphan.name, error = %ErrorChain(&error), "cannot remove the storage of an orphaned ExternalArtifact");
        }
    }
}

/// Why the blocking build failed.
enum BuildFailure {
    Expand(Box<Error>),
    Build { artifact: String, error: Box<Error> },
}

/// Expands `pathPattern` and builds and stores every artifact: the blocking part of a
/// rebuild. The stored archives stay protected from garbage collection until dropped.
fn build_all(
    storage: &Storage,
    spec: &ArtifactGeneratorSpec,
    trees: &BTreeMap<String, PathBuf>,
    namespace: &str,
    scratch: &std::path::Path,
    cancelled: &AtomicBool,
) -> Result<Vec<(ArtifactRequest, StoredArchive)>, BuildFailure> {
    let requests = expand_artifacts(spec, trees).map_err(|e| BuildFailure::Expand(Box::new(e)))?;
    let is_cancelled = || cancelled.load(Ordering::Relaxed);
    let mut built = Vec::with_capacity(requests.len());
    for request in requests {
        let name = &request.artifact.name;
        let stored = ArtifactBuilder::new(&request.artifact, trees)
            .field_path(format!("spec.artifacts[{}]", request.index))
            .scratch_dir(scratch)
            .cancel_when(&is_cancelled)
            .build()
            .and_then(|content| store_artifact(storage, namespace, name, &content))
            .map_err(|error| BuildFailure::Build {
                artifact: name.clone(),
                error: Box::new(error),
            })?;
        tracing::debug!(artifact = %name, digest = %stored.artifact.digest, written = stored.written, "built artifact");
        built.push((request, stored));
    }
    Ok(built)
}

/// Sets its flag when dropped: tells a blocking task that its reconcile is gone.
#[derive(Default)]
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
