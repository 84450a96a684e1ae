//! The kube-rs `Controller`: what triggers a reconcile.
//!
//! - A generator, when its generation changes (a spec edit, or the deletion mark), when
//!   `reconcile.fluxcd.io/requestedAt` or the pause annotation changes, and when the
//!   finalizer is added (so that the first build follows at once). Status writes do not
//!   trigger one.
//! - A source of the five kinds, when its artifact appears or changes (revision, digest
//!   or URL): every generator using it, found in the Controller's cache of generators
//!   (source-watcher uses a field index `<Kind>/<namespace>/<name>` for the same).

use std::{
    fmt,
    future::Future,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
};

use flux_artifact::{
    kube::{Bucket, ExternalArtifact, GitRepository, HelmChart, OCIRepository},
    runtime::{ErrorChain, backoff::Jitter, status::RECONCILE_REQUEST_ANNOTATION},
    storage::Artifact,
};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use super::{Context, error_policy, reconcile};
use crate::{
    ArtifactGenerator,
    api::{FINALIZER, RECONCILE_ANNOTATION},
};

/// Settings [`run`] refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// A setting is out of range.
    #[error("invalid setting {setting}: {reason}")]
    InvalidSettings {
        /// The setting (its flag).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Runs the kube-rs `Controller` over the generators of
/// [`Settings::scope`](super::Settings::scope) and the five Flux source kinds (see the
/// [module docs](super) for what triggers a reconcile), [`Settings::concurrency`](super::Settings::concurrency)
/// reconciles at a time, until `shutdown` resolves. Then no new reconcile starts and
/// those in flight finish (each is bounded by
/// [`Settings::reconciliation_timeout`](super::Settings::reconciliation_timeout)).
///
/// Watch errors (the API server unreachable, a CRD missing, a permission denied) are
/// logged and retried with backoff, as are failed reconciles: they do not end the run.
/// Run it under the leader gate: two instances reconciling the same generators would
/// fight over their storage.
///
/// # Errors
///
/// [`ControllerError::InvalidSettings`] before anything is watched, for an
/// [`interval_jitter_percentage`](super::Settings::interval_jitter_percentage) of 100
/// or more, or a [`min_retry_delay`](super::Settings::min_retry_delay) above the
/// [`max_retry_delay`](super::Settings::max_retry_delay).
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControllerError> {
    check_settings(&ctx)?;
    let client = ctx.client.clone();
    let scope = ctx.settings.scope.clone();
    let namespace = scope.namespace.as_deref();

    let (generators, writer) = reflector::store();
    let mut config = watcher::Config::default();
    if let Some(selector) = &scope.label_selector {
        config = config.labels(selector);
    }
    let triggers = watcher(api::<ArtifactGenerator>(&client, namespace), config)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(generator_trigger, Default::default());
    let controller = Controller::for_stream(triggers, generators.clone())
        .with_config(Config::default().concurrency(ctx.settings.concurrency));
    let controller = watch_source::<GitRepository>(controller, &client, namespace, &generators);
    let controller = watch_source::<OCIRepository>(controller, &client, namespace, &generators);
    let controller = watch_source::<Bucket>(controller, &client, namespace, &generators);
    let controller = watch_source::<HelmChart>(controller, &client, namespace, &generators);
    let controller = watch_source::<ExternalArtifact>(controller, &client, namespace, &generators);

    // The Controller wants a `Sync` trigger; the caller's need not be.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(());
    });
    tracing::info!(
        namespace = namespace.unwrap_or("<all>"),
        label_selector = scope.label_selector.as_deref().unwrap_or_default(),
        concurrency = ctx.settings.concurrency,
        "starting the ArtifactGenerator controller"
    );
    controller
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(async |result| match result {
            Ok((object, _)) => tracing::debug!(%object, "reconciled"),
            Err(error) => tracing::warn!(error = %ErrorChain(&error), "reconcile failed"),
        })
        .await;
    signal.abort();
    tracing::info!("the ArtifactGenerator controller stopped");
    Ok(())
}

fn check_settings(ctx: &Context) -> Result<(), ControllerError> {
    let settings = &ctx.settings;
    if let Err(error) = Jitter::percent(settings.interval_jitter_percentage) {
        return Err(ControllerError::InvalidSettings {
            setting: "--interval-jitter-percentage",
            reason: error.to_string(),
        });
    }
    if settings.min_retry_delay > settings.max_retry_delay {
        return Err(ControllerError::InvalidSettings {
            setting: "--min-retry-delay",
            reason: format!(
                "{:?} is longer than --max-retry-delay {:?}",
                settings.min_retry_delay, settings.max_retry_delay
            ),
        });
    }
    Ok(())
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// What of a generator triggers a reconcile when it changes.
fn generator_trigger(generator: &ArtifactGenerator) -> Option<u64> {
    let annotations = generator.annotations();
    let mut hasher = DefaultHasher::new();
    generator.metadata.generation.hash(&mut hasher);
    annotations.get(RECONCILE_REQUEST_ANNOTATION).hash(&mut hasher);
    annotations.get(RECONCILE_ANNOTATION).hash(&mut hasher);
    generator
        .finalizers()
        .iter()
        .any(|f| f == FINALIZER)
        .hash(&mut hasher);
    generator.metadata.deletion_timestamp.is_some().hash(&mut hasher);
    Some(hasher.finish())
}

/// A Flux source kind: where its artifact is.
trait WatchedSource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn artifact(&self) -> Option<&Artifact>;
}

macro_rules! watched_source {
    ($($kind:ty),*) => {$(
        impl WatchedSource for $kind {
            fn artifact(&self) -> Option<&Artifact> {
                self.status.as_ref()?.artifact.as_ref()
            }
        }
    )*};
}

watched_source!(GitRepository, OCIRepository, Bucket, HelmChart, ExternalArtifact);

/// What of a source triggers its generators when it changes: its artifact's
/// revision, digest and URL (what the observed sources digest covers), or whether it
/// has one.
fn source_trigger<S: WatchedSource>(source: &S) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    source
        .artifact()
        .map(|a| (&a.revision, &a.digest, &a.url))
        .hash(&mut hasher);
    Some(hasher.finish())
}

/// Adds a watch of the source kind `S` that triggers the generators using a source
/// whose artifact changed.
fn watch_source<S: WatchedSource>(
    controller: Controller<ArtifactGenerator>,
    client: &Client,
    namespace: Option<&str>,
    generators: &Store<ArtifactGenerator>,
) -> Controller<ArtifactGenerator> {
    let changes = watcher(api::<S>(client, namespace), watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .predicate_filter(source_trigger::<S>, Default::default());
    let generators = generators.clone();
    controller.watches_stream(changes, move |source: S| {
        generators_using(
            &generators.state(),
            &S::kind(&()),
            &source.namespace().unwrap_or_default(),
            &source.name_any(),
        )
    })
}

/// The generators among `generators` with a source of `kind` `namespace/name` (a
/// source without a namespace is in its generator's).
pub(super) fn generators_using(
    generators: &[Arc<ArtifactGenerator>],
    kind: &str,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<ArtifactGenerator>> {
    generators
        .iter()
        .filter(|generator| {
            let own = generator.namespace().unwrap_or_default();
            generator.spec.sources.iter().any(|source| {
                let source_namespace = if source.namespace.is_empty() {
                    own.as_str()
                } else {
                    source.namespace.as_str()
                };
                source.kind == kind && source.name == name && source_namespace == namespace
            })
        })
        .map(|generator| ObjectRef::from_obj(&**generator))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ArtifactGeneratorSpec, SourceReference};

    fn generator(namespace: &str, name: &str, sources: &[(&str, &str, &str)]) -> Arc<ArtifactGenerator> {
        let mut g = ArtifactGenerator::new(
            name,
            ArtifactGeneratorSpec {
                sources: sources
                    .iter()
                    .map(|(kind, ns, name)| SourceReference {
                        alias: (*name).into(),
                        name: (*name).into(),
                        namespace: (*ns).into(),
                        kind: (*kind).into(),
                    })
                    .collect(),
                ..ArtifactGeneratorSpec::default()
            },
        );
        g.metadata.namespace = Some(namespace.into());
        Arc::new(g)
    }

    fn names(refs: Vec<ObjectRef<ArtifactGenerator>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn a_source_triggers_the_generators_that_use_it() {
        let generators = [
            generator("apps", "a", &[("GitRepository", "", "repo")]),
            generator("apps", "b", &[("OCIRepository", "", "repo")]),
            generator("other", "c", &[("GitRepository", "", "repo")]),
            generator("other", "d", &[("GitRepository", "apps", "repo")]),
        ];
        assert_eq!(
            names(generators_using(&generators, "GitRepository", "apps", "repo")),
            ["a", "d"]
        );
        assert_eq!(
            names(generators_using(&generators, "OCIRepository", "apps", "repo")),
            ["b"]
        );
        assert!(generators_using(&generators, "GitRepository", "apps", "other").is_empty());
    }

    #[test]
    fn a_status_write_does_not_trigger_a_generator() {
        let mut g = Arc::unwrap_or_clone(generator("apps", "a", &[]));
        g.metadata.generation = Some(1);
        let before = generator_trigger(&g);
        g.status = Some(Default::default());
        g.metadata.resource_version = Some("2".into());
        assert_eq!(generator_trigger(&g), before);
        g.metadata.finalizers = Some(vec![FINALIZER.into()]);
        assert_ne!(
            generator_trigger(&g),
            before,
            "adding the finalizer triggers the first build"
        );
    }

    #[test]
    fn a_new_source_revision_triggers_but_a_condition_change_does_not() {
        let mut source = GitRepository::new("repo", Default::default());
        let unready = source_trigger(&source);
        source.status = Some(flux_artifact::kube::SourceStatus {
            artifact: Some(Artifact {
                revision: "main@sha1:1".into(),
                ..Artifact::default()
            }),
            ..Default::default()
        });
        let ready = source_trigger(&source);
        assert_ne!(ready, unready);
        source.status.as_mut().unwrap().conditions = Some(Vec::new());
        assert_eq!(source_trigger(&source), ready);
        source
            .status
            .as_mut()
            .unwrap()
            .artifact
            .as_mut()
            .unwrap()
            .revision = "main@sha1:2".into();
        assert_ne!(source_trigger(&source), ready);
    }
}
