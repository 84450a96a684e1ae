//! A generator's sources: their artifacts read from the API server, then downloaded,
//! verified against their digests and extracted for the builder.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use flux_artifact::{
    fetch,
    kube::{Error as KubeError, SourceKind, UnknownSourceKind, source_artifact},
};
use kube::ResourceExt;

use crate::{ArtifactGenerator, ObservedSource, api::ORIGIN_REVISION_KEY};

use super::Context;

/// Why a generator's sources cannot be used now; retried after
/// [`Settings::requeue_dependency`](super::Settings::requeue_dependency).
#[derive(Debug, thiserror::Error)]
pub(super) enum SourceError {
    /// A source's kind is none of Flux's (the CRD's enum makes this unlikely).
    #[error("source {alias:?}")]
    UnknownKind {
        alias: String,
        #[source]
        source: UnknownSourceKind,
    },
    /// The source could not be read, does not exist, or has no artifact yet.
    #[error("get sources failed")]
    Get(#[source] KubeError),
    /// The source's artifact could not be downloaded, verified or extracted.
    #[error("fetch sources failed: source {alias:?} from {url}")]
    Fetch {
        alias: String,
        url: String,
        #[source]
        source: fetch::Error,
    },
}

/// The artifact of each of `generator`'s sources, by alias, as the API server has it
/// now (not from a cache: a source that just changed is read as it is).
pub(super) async fn observe(
    ctx: &Context,
    generator: &ArtifactGenerator,
) -> Result<BTreeMap<String, ObservedSource>, SourceError> {
    let own_namespace = generator.namespace().unwrap_or_default();
    let mut observed = BTreeMap::new();
    for source in &generator.spec.sources {
        let kind: SourceKind = source.kind.parse().map_err(|e| SourceError::UnknownKind {
            alias: source.alias.clone(),
            source: e,
        })?;
        let namespace = if source.namespace.is_empty() {
            &own_namespace
        } else {
            &source.namespace
        };
        let artifact = source_artifact(&ctx.client, kind, namespace, &source.name)
            .await
            .map_err(SourceError::Get)?;
        observed.insert(
            source.alias.clone(),
            ObservedSource {
                origin_revision: artifact
                    .metadata
                    .get(ORIGIN_REVISION_KEY)
                    .cloned()
                    .unwrap_or_default(),
                digest: artifact.digest,
                revision: artifact.revision,
                url: artifact.url,
            },
        );
    }
    Ok(observed)
}

/// Downloads each observed source into `<dir>/<alias>`, verifying its digest, and
/// returns the directories by alias, as the builder takes them.
pub(super) async fn fetch(
    ctx: &Context,
    observed: &BTreeMap<String, ObservedSource>,
    dir: &Path,
) -> Result<BTreeMap<String, PathBuf>, SourceError> {
    let mut trees = BTreeMap::new();
    for (alias, source) in observed {
        let tree = dir.join(alias);
        let summary = ctx
            .fetcher
            .fetch(&source.url, &source.digest, &tree)
            .await
            .map_err(|e| SourceError::Fetch {
                alias: alias.clone(),
                url: source.url.clone(),
                source: e,
            })?;
        tracing::debug!(alias, url = %source.url, bytes = summary.downloaded, attempts = summary.attempts, "fetched source");
        trees.insert(alias.clone(), tree);
    }
    Ok(trees)
}
