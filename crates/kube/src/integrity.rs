//! The start-up integrity check of RFC-0012: every stored artifact that an
//! ExternalArtifact in the cluster publishes still has the digest it was published with.

use std::fmt;

use flux_artifact_storage::{Artifact, DigestMismatch, Storage, artifact_dir, artifact_path};
use kube::{Api, Client, api::ListParams};

use crate::{Error, ExternalArtifact, error::Target};

/// How many objects one list request asks for.
const PAGE_SIZE: u32 = 500;

/// Which ExternalArtifacts [`verify_stored_artifacts`] checks and what it does about
/// corrupt files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    label_selector: String,
    namespace: Option<String>,
    artifact_kind: String,
    remove_corrupt: bool,
}

impl VerifyOptions {
    /// Checks the ExternalArtifacts matching `label_selector` in all namespaces, e.g.
    /// [`Publisher::label_selector`](crate::Publisher::label_selector); corrupt files are
    /// kept.
    pub fn new(label_selector: impl Into<String>) -> Self {
        VerifyOptions {
            label_selector: label_selector.into(),
            namespace: None,
            artifact_kind: "ExternalArtifact".to_owned(),
            remove_corrupt: false,
        }
    }

    /// Checks only the ExternalArtifacts of one namespace (for a namespace-scoped
    /// controller, whose RBAC cannot list cluster-wide). An empty namespace means all
    /// of them, as in Kubernetes.
    #[must_use]
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.namespace = (!namespace.is_empty()).then_some(namespace);
        self
    }

    /// The kind the producer stores artifacts under, i.e. the `kind` it passes to
    /// [`Storage::new_artifact_for`](flux_artifact_storage::Storage::new_artifact_for)
    /// (default `ExternalArtifact`, as source-watcher does). An object is checked only if
    /// its artifact's path is in the directory that kind gives the object
    /// (`externalartifact/<namespace>/<name>/<file>`), so that whoever can create an
    /// ExternalArtifact with the producer's label cannot make the check read, or remove,
    /// another object's file.
    #[must_use]
    pub fn artifact_kind(mut self, kind: impl Into<String>) -> Self {
        self.artifact_kind = kind.into();
        self
    }

    /// Whether to remove files whose digest does not match (default `false`). The
    /// report lists them: requeue their owners so that they rebuild, since until then
    /// the ExternalArtifact still advertises the removed file and consumers get a 404
    /// (which Flux's consumers retry).
    #[must_use]
    pub fn remove_corrupt(mut self, remove: bool) -> Self {
        self.remove_corrupt = remove;
        self
    }
}

/// The outcome of checking one ExternalArtifact.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The file exists and has the published digest.
    Verified,
    /// The object publishes no artifact yet; there is nothing to check.
    NoArtifact,
    /// The file is gone (e.g. an `emptyDir` after a restart): its owner must rebuild it.
    Missing,
    /// The file's content does not have the published digest.
    Mismatched {
        /// Both digests and the file.
        mismatch: Box<DigestMismatch>,
        /// What happened to the file.
        removal: Removal,
    },
    /// The artifact's path is not in the object's own directory of the storage layout,
    /// so its file was neither read nor removed: another object's file, or a forgery.
    OutsideLayout {
        /// The directory the object's artifacts belong in.
        expected_dir: String,
    },
    /// The artifact could not be checked: no or unparsable digest, a name that cannot
    /// be a path, or a read error. The error says which.
    Unverifiable(flux_artifact_storage::Error),
}

/// What [`verify_stored_artifacts`] did with a corrupt file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Removal {
    /// Kept, because [`VerifyOptions::remove_corrupt`] was off.
    Kept,
    /// Removed.
    Removed,
    /// Removal was asked for and failed.
    Failed(flux_artifact_storage::Error),
}

/// One ExternalArtifact and the outcome of checking its file.
#[derive(Debug)]
pub struct ArtifactCheck {
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The artifact it publishes, if any.
    pub artifact: Option<Artifact>,
    /// What the check found.
    pub outcome: Outcome,
}

/// The result of [`verify_stored_artifacts`]: one entry per ExternalArtifact, in the
/// order the API server listed them.
#[derive(Debug, Default)]
#[must_use]
pub struct IntegrityReport {
    /// Every object checked.
    pub checks: Vec<ArtifactCheck>,
}

impl IntegrityReport {
    /// The objects whose outcome matches `predicate`.
    pub fn filter<'a>(
        &'a self,
        predicate: impl Fn(&Outcome) -> bool + 'a,
    ) -> impl Iterator<Item = &'a ArtifactCheck> {
        self.checks.iter().filter(move |check| predicate(&check.outcome))
    }

    /// How many files were verified.
    #[must_use]
    pub fn verified(&self) -> usize {
        self.filter(|o| matches!(o, Outcome::Verified)).count()
    }

    /// How many files are missing.
    #[must_use]
    pub fn missing(&self) -> usize {
        self.filter(|o| matches!(o, Outcome::Missing)).count()
    }

    /// How many files have the wrong content.
    #[must_use]
    pub fn mismatched(&self) -> usize {
        self.filter(|o| matches!(o, Outcome::Mismatched { .. })).count()
    }

    /// How many artifacts could not be checked, including those outside the layout.
    #[must_use]
    pub fn unverifiable(&self) -> usize {
        self.filter(|o| matches!(o, Outcome::Unverifiable(_) | Outcome::OutsideLayout { .. }))
            .count()
    }

    /// Whether every published artifact was verified.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Verified | Outcome::NoArtifact))
    }
}

impl fmt::Display for IntegrityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} verified, {} missing, {} mismatched, {} unverifiable, {} without artifact",
            self.verified(),
            self.missing(),
            self.mismatched(),
            self.unverifiable(),
            self.filter(|o| matches!(o, Outcome::NoArtifact)).count()
        )
    }
}

/// Lists the ExternalArtifacts that `options` selects and checks each published
/// artifact's file in `storage` with
/// [`Storage::verify_artifact`](flux_artifact_storage::Storage::verify_artifact),
/// optionally removing corrupt files (RFC-0012: "at startup verify every stored
/// artifact").
///
/// Run it before the controller starts writing: it does not take artifact locks. Files
/// are hashed on tokio's blocking pool, one after the other. Lists are paged 500 objects
/// at a time.
///
/// ```no_run
/// # async fn example(client: kube::Client, storage: flux_artifact_storage::Storage) -> Result<(), flux_artifact_kube::Error> {
/// use flux_artifact_kube::{Publisher, VerifyOptions, verify_stored_artifacts};
///
/// let publisher = Publisher::new(client.clone(), "my-controller");
/// let options = VerifyOptions::new(publisher.label_selector()).remove_corrupt(true);
/// let report = verify_stored_artifacts(&client, &storage, &options).await?;
/// println!("integrity check: {report}");
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// An API error if listing fails (the storage is then not checked), and
/// [`Error::VerifyTask`] if the blocking task dies. A file that fails the check is an
/// [`Outcome`], not an error.
pub async fn verify_stored_artifacts(
    client: &Client,
    storage: &Storage,
    options: &VerifyOptions,
) -> Result<IntegrityReport, Error> {
    let objects = list_all(client, options).await?;
    let storage = storage.clone();
    let options = options.clone();
    let report = tokio::task::spawn_blocking(move || IntegrityReport {
        checks: objects
            .into_iter()
            .map(|object| check(&storage, object, &options))
            .collect(),
    })
    .await
    .map_err(Error::VerifyTask)?;
    tracing::info!(%report, "verified stored artifacts");
    Ok(report)
}

async fn list_all(client: &Client, options: &VerifyOptions) -> Result<Vec<ExternalArtifact>, Error> {
    let api: Api<ExternalArtifact> = match &options.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let target = Target {
        kind: "ExternalArtifact",
        namespace: options.namespace.as_deref().unwrap_or(""),
        name: "",
    };
    let mut objects = Vec::new();
    let mut params = ListParams::default()
        .labels(&options.label_selector)
        .limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await.map_err(|e| target.error("list", e))?;
        objects.extend(page.items);
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(objects),
        }
    }
}

fn check(storage: &Storage, object: ExternalArtifact, options: &VerifyOptions) -> ArtifactCheck {
    let namespace = object.metadata.namespace.unwrap_or_default();
    let name = object.metadata.name.unwrap_or_default();
    let artifact = object.status.and_then(|s| s.artifact);
    let outcome = match &artifact {
        None => Outcome::NoArtifact,
        Some(artifact) => match in_layout(&options.artifact_kind, &namespace, &name, &artifact.path) {
            Err(e) => Outcome::Unverifiable(e),
            Ok(Some(expected_dir)) => {
                tracing::warn!(%namespace, %name, path = %artifact.path, %expected_dir, "artifact path outside the object's directory");
                Outcome::OutsideLayout { expected_dir }
            }
            Ok(None) => verify(storage, artifact, options.remove_corrupt, &namespace, &name),
        },
    };
    ArtifactCheck {
        namespace,
        name,
        artifact,
        outcome,
    }
}

/// `None` if `path` names a file directly in the object's directory, else that
/// directory.
fn in_layout(
    kind: &str,
    namespace: &str,
    name: &str,
    path: &str,
) -> Result<Option<String>, flux_artifact_storage::Error> {
    let dir = artifact_dir(kind, namespace, name)?;
    let file = path.strip_prefix(&dir).and_then(|rest| rest.strip_prefix('/'));
    // artifact_path refuses a file name that is not one plain path component.
    let inside =
        file.is_some_and(|file| !file.is_empty() && artifact_path(kind, namespace, name, file).is_ok());
    Ok((!inside).then_some(dir))
}

fn verify(
    storage: &Storage,
    artifact: &Artifact,
    remove_corrupt: bool,
    namespace: &str,
    name: &str,
) -> Outcome {
    match storage.verify_artifact(artifact) {
        Ok(()) => Outcome::Verified,
        Err(flux_artifact_storage::Error::NotFound { .. }) => Outcome::Missing,
        Err(flux_artifact_storage::Error::DigestMismatch(mismatch)) => {
            let removal = if !remove_corrupt {
                Removal::Kept
            } else {
                match storage.remove(artifact) {
                    Ok(()) => Removal::Removed,
                    Err(e) => Removal::Failed(e),
                }
            };
            tracing::warn!(%namespace, %name, %mismatch, ?removal, "stored artifact is corrupt");
            Outcome::Mismatched { mismatch, removal }
        }
        Err(e) => Outcome::Unverifiable(e),
    }
}
