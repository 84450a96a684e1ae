//! [`ArtifactFinalizer`]: kube-runtime's finalizer with the cleanup a producer owes.

use std::{collections::BTreeSet, fmt, future::Future, path::PathBuf, sync::Arc};

use flux_artifact_kube::{DEFAULT_GENERATED_BY_LABEL, ExternalArtifact};
use flux_artifact_storage::Storage;
use k8s_openapi::NamespaceResourceScope;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Preconditions},
    runtime::{controller::Action, finalizer},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{Error, blocking};
use crate::error_chain::ErrorChain;

type Inventory<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// A finalizer for a producer's own custom resource `K` that cleans up its artifacts
/// when it is deleted: kube-runtime's [`finalizer`](finalizer::finalizer) with the
/// cleanup branch written.
///
/// On deletion, for each ExternalArtifact of the object (those in its namespace that
/// carry the generated-by label with its UID, as [`Publisher`](flux_artifact_kube::Publisher)
/// labels them, plus any names the [inventory](Self::with_inventory) gives):
///
/// 1. if [`delete_external_artifacts`](Self::delete_external_artifacts) is on and the
///    ExternalArtifact carries the object's label, deletes it (with a UID precondition,
///    so a namesake created since is left alone; already gone is fine). Off by
///    default: the owner reference lets Kubernetes' garbage collector delete it;
/// 2. removes its storage directory,
///    [`Storage::remove_object_storage`](flux_artifact_storage::Storage::remove_object_storage)`(artifact
///    kind, (namespace, name))`.
///
/// # Failures do not block deletion
///
/// A failed step is logged (warning) and the object is deleted anyway, as
/// source-watcher does. A finalizer that fails keeps the object, and its namespace, from
/// being deleted until someone removes the finalizer by hand, while a directory left
/// behind only costs disk space until the [`OrphanSweep`](super::OrphanSweep) at the next
/// start removes it. No Kubernetes Event is recorded for these failures: the object is
/// being deleted, and its events with it. Turn
/// [`block_deletion_on_failure`](Self::block_deletion_on_failure) on to keep the object
/// until the cleanup succeeds instead.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use flux_artifact_runtime::cleanup::{ArtifactFinalizer, FinalizerError};
/// use kube::runtime::controller::Action;
/// # #[derive(kube::CustomResource, serde::Deserialize, serde::Serialize, Clone, Debug, schemars::JsonSchema)]
/// # #[kube(group = "example.com", version = "v1", kind = "PodinfoSource", namespaced)]
/// # struct PodinfoSourceSpec {}
/// # #[derive(Debug, thiserror::Error)] #[error("build failed")] struct BuildError;
/// # async fn build_and_publish(_: Arc<PodinfoSource>) -> Result<Action, BuildError> { Ok(Action::await_change()) }
///
/// async fn reconcile(
///     source: Arc<PodinfoSource>,
///     finalizer: Arc<ArtifactFinalizer<PodinfoSource>>,
/// ) -> Result<Action, FinalizerError<BuildError>> {
///     // Adds the finalizer first; on deletion, cleans up instead of calling the closure.
///     finalizer.reconcile(source, build_and_publish).await
/// }
/// # async fn setup(client: kube::Client, storage: flux_artifact_storage::Storage) {
/// let finalizer = Arc::new(ArtifactFinalizer::<PodinfoSource>::new(client, storage, "example.com/artifacts"));
/// # }
/// ```
pub struct ArtifactFinalizer<K> {
    client: Client,
    storage: Storage,
    name: String,
    artifact_kind: String,
    generated_by_label: String,
    delete_external_artifacts: bool,
    block_deletion_on_failure: bool,
    inventory: Option<Inventory<K>>,
}

impl<K> fmt::Debug for ArtifactFinalizer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactFinalizer")
            .field("name", &self.name)
            .field("artifact_kind", &self.artifact_kind)
            .field("generated_by_label", &self.generated_by_label)
            .field("delete_external_artifacts", &self.delete_external_artifacts)
            .field("block_deletion_on_failure", &self.block_deletion_on_failure)
            .field("inventory", &self.inventory.is_some())
            .finish_non_exhaustive()
    }
}

/// What a cleanup did.
#[derive(Debug, Default)]
#[must_use]
pub struct CleanupReport {
    /// The ExternalArtifacts deleted, by name.
    pub deleted: Vec<String>,
    /// The storage directories removed (those that existed).
    pub removed: Vec<PathBuf>,
    /// What failed.
    pub failures: Vec<CleanupFailure>,
}

impl CleanupReport {
    /// Whether nothing failed.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One step of a cleanup that failed.
#[derive(Debug)]
pub struct CleanupFailure {
    /// The ExternalArtifact it was for; empty for the listing of them.
    pub name: String,
    /// What went wrong.
    pub error: Error,
}

/// What [`ArtifactFinalizer::reconcile`] can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizerError<E>
where
    E: std::error::Error + 'static,
{
    /// The reconciler's own work failed: its error, as it returned it.
    #[error(transparent)]
    Apply(E),
    /// The cleanup failed, with
    /// [`block_deletion_on_failure`](ArtifactFinalizer::block_deletion_on_failure) on:
    /// the object stays until a retry succeeds.
    #[error(transparent)]
    Cleanup(Error),
    /// Adding the finalizer to the object, or removing it, failed: requeue.
    #[error(transparent)]
    Finalizer(flux_artifact_kube::Error),
    /// The object has no name (it was not read from the API server).
    #[error("the object has no name; read it from the API server")]
    UnnamedObject,
    /// The finalizer's name cannot be a JSON pointer path segment.
    #[error("invalid finalizer name {0:?}")]
    InvalidFinalizer(String),
}

/// The cleanup branch's error beside the reconciler's, as kube-runtime's finalizer
/// wants one error type for both.
#[derive(Debug)]
enum Branch<E> {
    Apply(E),
    Cleanup(Error),
}

impl<E: fmt::Display> fmt::Display for Branch<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Branch::Apply(error) => error.fmt(f),
            Branch::Cleanup(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error> std::error::Error for Branch<E> {}

impl<K> ArtifactFinalizer<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + fmt::Debug,
{
    /// A finalizer named `name` (a qualified name of your controller's, e.g.
    /// `example.com/artifacts`; source-watcher uses `source.extensions.fluxcd.io/finalizer`)
    /// that cleans up the storage of `ExternalArtifact` objects in `storage`, finds them
    /// by [`DEFAULT_GENERATED_BY_LABEL`], deletes none and never blocks deletion.
    pub fn new(client: Client, storage: Storage, name: impl Into<String>) -> Self {
        ArtifactFinalizer {
            client,
            storage,
            name: name.into(),
            artifact_kind: "ExternalArtifact".to_owned(),
            generated_by_label: DEFAULT_GENERATED_BY_LABEL.to_owned(),
            delete_external_artifacts: false,
            block_deletion_on_failure: false,
            inventory: None,
        }
    }

    /// The key of the label that carries the owner's UID: the publisher's
    /// [`generated_by_label`](flux_artifact_kube::Publisher::generated_by_label).
    #[must_use]
    pub fn with_generated_by_label(mut self, key: impl Into<String>) -> Self {
        self.generated_by_label = key.into();
        self
    }

    /// The kind the producer stores artifacts under, as passed to
    /// [`Storage::new_artifact_for`](flux_artifact_storage::Storage::new_artifact_for)
    /// (default `ExternalArtifact`).
    #[must_use]
    pub fn with_artifact_kind(mut self, kind: impl Into<String>) -> Self {
        self.artifact_kind = kind.into();
        self
    }

    /// Whether to delete the object's ExternalArtifacts too (default `false`; needs
    /// `delete` on `externalartifacts`). Only those carrying the object's label are
    /// deleted.
    #[must_use]
    pub fn delete_external_artifacts(mut self, delete: bool) -> Self {
        self.delete_external_artifacts = delete;
        self
    }

    /// Whether a failed cleanup keeps the object from being deleted until a retry
    /// succeeds (default `false`: see the [type docs](Self#failures-do-not-block-deletion)).
    #[must_use]
    pub fn block_deletion_on_failure(mut self, block: bool) -> Self {
        self.block_deletion_on_failure = block;
        self
    }

    /// Names of ExternalArtifacts, in the object's namespace, to clean up besides those
    /// found by label: e.g. an inventory in the object's status, which still names an
    /// ExternalArtifact deleted behind the controller's back.
    #[must_use]
    pub fn with_inventory(mut self, inventory: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.inventory = Some(Arc::new(inventory));
        self
    }

    /// The finalizer's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reconciles `object` through kube-runtime's finalizer: adds the finalizer if
    /// missing (and returns, since that change triggers another reconcile), calls `apply`
    /// while the object lives, and [cleans up](Self::cleanup) and removes the finalizer
    /// once it is being deleted.
    ///
    /// # Errors
    ///
    /// [`FinalizerError::Apply`] with `apply`'s error; [`FinalizerError::Finalizer`] if
    /// adding or removing the finalizer fails (a 409 when the object changed
    /// meanwhile: requeue); [`FinalizerError::Cleanup`] only with
    /// [`block_deletion_on_failure`](Self::block_deletion_on_failure).
    pub async fn reconcile<F, Fut, E>(&self, object: Arc<K>, apply: F) -> Result<Action, FinalizerError<E>>
    where
        F: FnOnce(Arc<K>) -> Fut,
        Fut: Future<Output = Result<Action, E>>,
        E: std::error::Error + 'static,
    {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let result = finalizer::finalizer(&api, &self.name, object, async |event| match event {
            finalizer::Event::Apply(object) => apply(object).await.map_err(Branch::Apply),
            finalizer::Event::Cleanup(object) => {
                let report = self.cleanup(&object).await.map_err(Branch::Cleanup)?;
                if self.block_deletion_on_failure
                    && let Some(failure) = report.failures.into_iter().next()
                {
                    return Err(Branch::Cleanup(failure.error));
                }
                Ok(Action::await_change())
            }
        })
        .await;
        let kind = K::kind(&());
        result.map_err(|error| match error {
            finalizer::Error::ApplyFailed(branch) | finalizer::Error::CleanupFailed(branch) => match branch {
                Branch::Apply(e) => FinalizerError::Apply(e),
                Branch::Cleanup(e) => FinalizerError::Cleanup(e),
            },
            finalizer::Error::AddFinalizer(e) => FinalizerError::Finalizer(
                flux_artifact_kube::Error::from_api_call("add the finalizer to", &kind, &namespace, &name, e),
            ),
            finalizer::Error::RemoveFinalizer(e) => {
                FinalizerError::Finalizer(flux_artifact_kube::Error::from_api_call(
                    "remove the finalizer from",
                    &kind,
                    &namespace,
                    &name,
                    e,
                ))
            }
            finalizer::Error::UnnamedObject => FinalizerError::UnnamedObject,
            finalizer::Error::InvalidFinalizer => FinalizerError::InvalidFinalizer(self.name.clone()),
        })
    }

    /// Cleans up after `object` now, whatever its state: the deletion branch of
    /// [`reconcile`](Self::reconcile), for controllers that manage the finalizer
    /// themselves. Failures of single steps are in the report, and logged.
    ///
    /// # Errors
    ///
    /// [`Error::IncompleteObject`] if the object has no name, namespace or UID (it was
    /// not read from the API server); nothing is removed then.
    pub async fn cleanup(&self, object: &K) -> Result<CleanupReport, Error> {
        let kind = K::kind(&()).into_owned();
        let incomplete = |field| Error::IncompleteObject {
            kind: kind.clone(),
            name: object.meta().name.clone().unwrap_or_default(),
            field,
        };
        let name = object
            .meta()
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| incomplete("name"))?;
        let namespace = object
            .meta()
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| incomplete("namespace"))?;
        let uid = object
            .meta()
            .uid
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| incomplete("uid"))?;

        let mut report = CleanupReport::default();
        let api: Api<ExternalArtifact> = Api::namespaced(self.client.clone(), &namespace);
        // Published for this object: name -> UID, for the delete precondition.
        let mut labelled = Vec::new();
        let selector = format!("{}={uid}", self.generated_by_label);
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => {
                for artifact in list.items {
                    if let (Some(name), Some(uid)) = (artifact.metadata.name, artifact.metadata.uid) {
                        labelled.push((name, uid));
                    }
                }
            }
            Err(e) => report.failures.push(CleanupFailure {
                name: String::new(),
                error: flux_artifact_kube::Error::from_api_call(
                    "list",
                    "ExternalArtifact",
                    &namespace,
                    "",
                    e,
                )
                .into(),
            }),
        }
        let mut names: BTreeSet<String> = labelled.iter().map(|(name, _)| name.clone()).collect();
        if let Some(inventory) = &self.inventory {
            names.extend(inventory(object).into_iter().filter(|n| !n.is_empty()));
        }

        for artifact in names {
            let uid = labelled
                .iter()
                .find(|(n, _)| *n == artifact)
                .map(|(_, uid)| uid.clone());
            if self.delete_external_artifacts
                && let Some(uid) = uid
            {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&artifact, &params).await {
                    Ok(_) => report.deleted.push(artifact.clone()),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => report.failures.push(CleanupFailure {
                        name: artifact.clone(),
                        error: flux_artifact_kube::Error::from_api_call(
                            "delete",
                            "ExternalArtifact",
                            &namespace,
                            &artifact,
                            e,
                        )
                        .into(),
                    }),
                }
            }
            let (kind, ns, n) = (self.artifact_kind.clone(), namespace.clone(), artifact.clone());
            let removed = blocking(&self.storage, move |storage| {
                Ok(storage.remove_object_storage(&kind, &(ns.as_str(), n.as_str()))?)
            })
            .await;
            match removed {
                Ok(Some(dir)) => report.removed.push(dir),
                Ok(None) => {}
                Err(error) => report.failures.push(CleanupFailure {
                    name: artifact,
                    error,
                }),
            }
        }

        for failure in &report.failures {
            tracing::warn!(
                kind = %kind, %namespace, %name, artifact = %failure.name,
                error = %ErrorChain(&failure.error),
                "cleanup step failed{}",
                if self.block_deletion_on_failure { "; deletion waits for a retry" } else { "; deletion goes on" }
            );
        }
        tracing::info!(
            kind = %kind, %namespace, %name,
            deleted = report.deleted.len(), removed = report.removed.len(), failed = report.failures.len(),
            "cleaned up artifacts"
        );
        Ok(report)
    }
}
