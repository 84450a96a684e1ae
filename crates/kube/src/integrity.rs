//! The start-up integrity check of RFC-0012: every stored artifact that an
//! ExternalArtifact in the cluster publishes still has the digest it was published with.

use std::fmt;

use flux_artifact_storage::{Artifact, DigestMismatch, Storage};
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
            remove_corrupt: false,
        }
    }

    /// Checks only the ExternalArtifacts of one namespace (for a namespace-scoped
    /// controller, whose RBAC cannot list cluster-wide).
    #[must_use]
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Whether to remove files whose digest does not match, so that their owners see a
    /// missing artifact and rebuild it (default `false`).
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
    /// The artifact could not be checked: no or unparsable digest, a path outside the
    /// layout, or a read error. The error says which.
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

    /// How many artifacts could not be checked.
    #[must_use]
    pub fn unverifiable(&self) -> usize {
        self.filter(|o| matches!(o, Outcome::Unverifiable(_))).count()
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
    let remove_corrupt = options.remove_corrupt;
    let report = tokio::task::spawn_blocking(move || IntegrityReport {
        checks: objects
            .into_iter()
            .map(|object| check(&storage, object, remove_corrupt))
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

fn check(storage: &Storage, object: ExternalArtifact, remove_corrupt: bool) -> ArtifactCheck {
    let namespace = object.metadata.namespace.unwrap_or_default();
    let name = object.metadata.name.unwrap_or_default();
    let artifact = object.status.and_then(|s| s.artifact);
    let outcome = match &artifact {
        None => Outcome::NoArtifact,
        Some(artifact) => match storage.verify_artifact(artifact) {
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
        },
    };
    ArtifactCheck {
        namespace,
        name,
        artifact,
        outcome,
    }
}
