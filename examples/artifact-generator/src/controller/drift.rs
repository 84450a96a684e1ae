//! Drift detection: whether a generator must be rebuilt, or its last build still
//! stands (then the reconcile writes nothing).

use std::fmt;

use flux_artifact::{
    kube::{
        ExternalArtifact,
        conditions::{self, READY},
    },
    runtime::ErrorChain,
    storage::{Artifact, artifact_path},
};
use kube::{Api, ResourceExt, api::ListParams};

use crate::{ArtifactGenerator, api::ExternalArtifactReference, api::GENERATOR_LABEL};

use super::Context;

/// The kind generated artifacts are stored under.
pub(super) const STORAGE_KIND: &str = "ExternalArtifact";

/// Why a generator is rebuilt: the first of these checks that fails, in this order
/// (source-watcher's `detectDrift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drift {
    /// The last reconcile failed (`Ready=False`).
    NotReady,
    /// The spec changed since the last build (`Ready`'s `observedGeneration`).
    GenerationChanged,
    /// A source has a new artifact (digest, revision or URL).
    SourcesChanged,
    /// The inventory does not have one entry per artifact (without `pathPattern`).
    ArtifactsChanged,
    /// A stored file of the inventory is missing.
    ArtifactMissing,
    /// A stored file of the inventory does not match its digest; it was removed.
    ArtifactCorrupted,
    /// The generator's ExternalArtifacts could not be listed.
    ExternalArtifactsNotFound,
    /// An ExternalArtifact was deleted, or publishes something else than recorded.
    ExternalArtifactsChanged,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Drift::NotReady => "NotReady",
            Drift::GenerationChanged => "GenerationChanged",
            Drift::SourcesChanged => "SourcesChanged",
            Drift::ArtifactsChanged => "ArtifactsChanged",
            Drift::ArtifactMissing => "ArtifactMissing",
            Drift::ArtifactCorrupted => "ArtifactCorrupted",
            Drift::ExternalArtifactsNotFound => "ExternalArtifactsNotFound",
            Drift::ExternalArtifactsChanged => "ExternalArtifactsChanged",
        })
    }
}

/// The checks that need no I/O: status against spec and the sources' digest.
pub(super) fn detect_in_status(generator: &ArtifactGenerator, sources_digest: &str) -> Option<Drift> {
    let status = generator.status.clone().unwrap_or_default();
    let ready = conditions::get(&status.conditions, READY);
    if ready.is_some_and(|c| c.status == "False") {
        return Some(Drift::NotReady);
    }
    if ready.and_then(|c| c.observed_generation) != generator.metadata.generation {
        return Some(Drift::GenerationChanged);
    }
    if status.observed_sources_digest != sources_digest {
        return Some(Drift::SourcesChanged);
    }
    if generator.spec.path_pattern.is_empty()
        && status.inventory.len() != generator.spec.output_artifacts.len()
    {
        return Some(Drift::ArtifactsChanged);
    }
    None
}

/// Whether `generator` must be rebuilt, and why; `None` when its last build stands.
/// A stored file that fails its digest is removed here, so that the rebuild writes it
/// again.
pub(super) async fn detect(
    ctx: &Context,
    generator: &ArtifactGenerator,
    sources_digest: &str,
) -> Option<Drift> {
    if let Some(drift) = detect_in_status(generator, sources_digest) {
        return Some(drift);
    }
    let inventory = generator
        .status
        .as_ref()
        .map(|s| s.inventory.as_slice())
        .unwrap_or_default();
    for reference in inventory {
        if let Some(drift) = check_stored(ctx, reference).await {
            return Some(drift);
        }
    }
    let namespace = generator.namespace().unwrap_or_default();
    let uid = generator.uid().unwrap_or_default();
    let api: Api<ExternalArtifact> = Api::namespaced(ctx.client.clone(), &namespace);
    let published = match api
        .list(&ListParams::default().labels(&format!("{GENERATOR_LABEL}={uid}")))
        .await
    {
        Ok(list) => list.items,
        Err(error) => {
            tracing::warn!(%namespace, name = %generator.name_any(), error = %ErrorChain(&error), "cannot list the generator's ExternalArtifacts");
            return Some(Drift::ExternalArtifactsNotFound);
        }
    };
    let recorded = |object: &ExternalArtifact| {
        let digest = object
            .status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .map(|a| a.digest.as_str());
        digest
            .is_some_and(|digest| generator.has_artifact_in_inventory(&object.name_any(), &namespace, digest))
    };
    if published.len() != inventory.len() || !published.iter().all(recorded) {
        return Some(Drift::ExternalArtifactsChanged);
    }
    None
}

/// Checks the stored file of one inventory entry: present, and matching its digest
/// (a corrupt one is removed).
async fn check_stored(ctx: &Context, reference: &ExternalArtifactReference) -> Option<Drift> {
    let Ok(path) = artifact_path(
        STORAGE_KIND,
        &reference.namespace,
        &reference.name,
        &reference.filename,
    ) else {
        return Some(Drift::ArtifactMissing);
    };
    let artifact = Artifact {
        path,
        digest: reference.digest.clone(),
        ..Artifact::default()
    };
    if !ctx.storage.artifact_exist(&artifact).await.unwrap_or(false) {
        return Some(Drift::ArtifactMissing);
    }
    if let Err(error) = ctx.storage.verify_artifact(&artifact).await {
        tracing::warn!(path = %artifact.path, error = %ErrorChain(&error), "stored artifact fails verification; removing it");
        if let Err(error) = ctx.storage.remove(&artifact).await {
            tracing::warn!(path = %artifact.path, error = %ErrorChain(&error), "cannot remove the corrupt artifact");
        }
        return Some(Drift::ArtifactCorrupted);
    }
    None
}

#[cfg(test)]
mod tests {
    use flux_artifact::kube::conditions::{ConditionStatus, reason};

    use super::*;
    use crate::api::{ArtifactGeneratorSpec, ArtifactGeneratorStatus, OutputArtifact};

    fn generator(ready: Option<(ConditionStatus, i64)>, digest: &str, inventory: usize) -> ArtifactGenerator {
        let mut g = ArtifactGenerator::new(
            "gen",
            ArtifactGeneratorSpec {
                output_artifacts: vec![OutputArtifact::default()],
                ..ArtifactGeneratorSpec::default()
            },
        );
        g.metadata.generation = Some(2);
        let mut status = ArtifactGeneratorStatus {
            observed_sources_digest: digest.into(),
            inventory: vec![ExternalArtifactReference::default(); inventory],
            ..ArtifactGeneratorStatus::default()
        };
        if let Some((state, generation)) = ready {
            conditions::set(
                &mut status.conditions,
                READY,
                state,
                reason::SUCCEEDED,
                "",
                Some(generation),
            );
        }
        g.status = Some(status);
        g
    }

    #[test]
    fn a_generator_built_as_it_is_has_no_drift_in_its_status() {
        let g = generator(Some((ConditionStatus::True, 2)), "sha256:a", 1);
        assert_eq!(detect_in_status(&g, "sha256:a"), None);
    }

    #[test]
    fn drift_reasons_are_checked_in_source_watchers_order() {
        let g = generator(Some((ConditionStatus::False, 1)), "sha256:b", 0);
        assert_eq!(detect_in_status(&g, "sha256:a"), Some(Drift::NotReady));
        let g = generator(Some((ConditionStatus::True, 1)), "sha256:b", 0);
        assert_eq!(detect_in_status(&g, "sha256:a"), Some(Drift::GenerationChanged));
        let g = generator(None, "sha256:a", 1);
        assert_eq!(detect_in_status(&g, "sha256:a"), Some(Drift::GenerationChanged));
        let g = generator(Some((ConditionStatus::True, 2)), "sha256:b", 0);
        assert_eq!(detect_in_status(&g, "sha256:a"), Some(Drift::SourcesChanged));
        let g = generator(Some((ConditionStatus::True, 2)), "sha256:a", 0);
        assert_eq!(detect_in_status(&g, "sha256:a"), Some(Drift::ArtifactsChanged));
    }

    #[test]
    fn with_a_path_pattern_the_inventory_size_is_not_checked() {
        let mut g = generator(Some((ConditionStatus::True, 2)), "sha256:a", 3);
        g.spec.path_pattern = "@repo/apps/{app}".into();
        assert_eq!(detect_in_status(&g, "sha256:a"), None);
    }
}
