//! What a generator publishes for a built artifact: its revisions, and the
//! `ExternalArtifact` object. Pure functions, shared by the local mode (which prints the
//! objects) and the controller (which applies them).

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use flux_artifact::{
    kube::{
        DEFAULT_GENERATED_BY_LABEL, ExternalArtifact, ExternalArtifactSpec, ExternalArtifactStatus,
        ExtraMetadata, MANAGED_BY_LABEL, NamespacedObjectKindReference,
        conditions::{self, ConditionStatus, READY, reason},
    },
    storage::Artifact,
};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::ObjectMeta, jiff::Timestamp};
use kube::ResourceExt;

use crate::{
    ObservedSource,
    api::{API_VERSION, ArtifactGenerator, KIND, ORIGIN_REVISION_KEY, OutputArtifact},
    pathpattern::ArtifactRequest,
};

/// The field manager, and the value of the `app.kubernetes.io/managed-by` label on
/// everything the generator publishes.
pub const CONTROLLER_NAME: &str = "artifact-generator";

/// Sets what an artifact takes from its sources, as source-watcher does after a build:
/// with `revision: @alias`, the artifact's revision becomes that source's (replacing
/// `latest@<digest>`); with `originRevision: @alias`, its metadata gets
/// [`ORIGIN_REVISION_KEY`] = that source's origin revision, or its revision when it has
/// none. An alias with no observed source changes nothing.
///
/// ```
/// use std::collections::BTreeMap;
/// use artifact_generator::{ObservedSource, api::OutputArtifact, set_artifact_revisions};
/// use flux_artifact::storage::Artifact;
///
/// let mut artifact = Artifact { revision: "latest@sha256:abc".into(), ..Artifact::default() };
/// let output = OutputArtifact { revision: "@chart".into(), ..OutputArtifact::default() };
/// let sources = BTreeMap::from([("chart".to_owned(), ObservedSource { revision: "6.9.0@sha256:def".into(), ..Default::default() })]);
/// set_artifact_revisions(&mut artifact, &output, &sources);
/// assert_eq!(artifact.revision, "6.9.0@sha256:def");
/// ```
pub fn set_artifact_revisions(
    artifact: &mut Artifact,
    output: &OutputArtifact,
    sources: &BTreeMap<String, ObservedSource>,
) {
    let source = |reference: &str| reference.strip_prefix('@').and_then(|alias| sources.get(alias));
    if let Some(source) = source(&output.revision) {
        artifact.revision.clone_from(&source.revision);
    }
    if let Some(source) = source(&output.origin_revision) {
        let origin = if source.origin_revision.is_empty() {
            &source.revision
        } else {
            &source.origin_revision
        };
        artifact
            .metadata
            .insert(ORIGIN_REVISION_KEY.to_owned(), origin.clone());
    }
}

/// The labels and annotations a generator's `ExternalArtifact`s carry beside the
/// controller's own: `commonMetadata`, then the request's capture labels (which win on a
/// clash). Give them to `Publisher::apply_with_metadata`, which adds
/// `app.kubernetes.io/managed-by` and the generator label last, so those cannot be
/// overridden.
#[must_use]
pub fn extra_metadata(generator: &ArtifactGenerator, request: &ArtifactRequest) -> ExtraMetadata {
    let common = generator.spec.common_metadata.clone().unwrap_or_default();
    let mut labels = common.labels;
    labels.extend(request.labels.clone());
    ExtraMetadata {
        labels,
        annotations: common.annotations,
    }
}

/// The message of the `Ready` condition of a published `ExternalArtifact`, as the SDK's
/// `Publisher` writes it.
fn ready_message(artifact: &Artifact) -> String {
    format!("stored artifact for revision '{}'", artifact.revision)
}

/// The `ExternalArtifact` the controller applies for a built artifact: what
/// `Publisher::apply_with_metadata(generator, name, artifact, extra_metadata(..))`
/// writes with field manager `field_manager`, as one object.
///
/// - `metadata`: the request's name, the generator's namespace, the labels of
///   [`extra_metadata`] plus `app.kubernetes.io/managed-by: <field_manager>` and
///   `source.extensions.fluxcd.io/generator: <generator UID>` (left out when the
///   generator has no UID, as in the local mode), and `commonMetadata`'s annotations;
/// - `spec.sourceRef`: the generator;
/// - `status`: the artifact and `Ready=True`, reason `Succeeded`, with the artifact's
///   `lastUpdateTime` as transition time (so the output is a pure function of its
///   inputs).
///
/// The owner reference the `Publisher` adds needs the UID too, and is left out here
/// (source-watcher sets none).
#[must_use]
pub fn external_artifact(
    generator: &ArtifactGenerator,
    request: &ArtifactRequest,
    artifact: &Artifact,
    field_manager: &str,
) -> ExternalArtifact {
    let extra = extra_metadata(generator, request);
    let mut labels = extra.labels;
    labels.insert(MANAGED_BY_LABEL.to_owned(), field_manager.to_owned());
    if let Some(uid) = generator.uid().filter(|uid| !uid.is_empty()) {
        labels.insert(DEFAULT_GENERATED_BY_LABEL.to_owned(), uid);
    }
    let namespace = generator.namespace();
    let updated = artifact.last_update_time.unwrap_or(UNIX_EPOCH);
    let mut status_conditions = Vec::new();
    conditions::set_at(
        &mut status_conditions,
        READY,
        ConditionStatus::True,
        reason::SUCCEEDED,
        ready_message(artifact),
        None,
        timestamp(updated),
    );
    ExternalArtifact {
        metadata: ObjectMeta {
            name: Some(request.artifact.name.clone()),
            namespace: namespace.clone(),
            labels: Some(labels),
            annotations: (!extra.annotations.is_empty()).then_some(extra.annotations),
            ..ObjectMeta::default()
        },
        spec: ExternalArtifactSpec {
            source_ref: Some(NamespacedObjectKindReference {
                api_version: Some(API_VERSION.to_owned()),
                kind: KIND.to_owned(),
                name: generator.name_any(),
                namespace,
            }),
        },
        status: Some(ExternalArtifactStatus {
            artifact: Some(artifact.clone()),
            conditions: Some(status_conditions),
        }),
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::{ArtifactGeneratorSpec, CommonMetadata, GENERATOR_LABEL};

    fn generator() -> ArtifactGenerator {
        let mut g = ArtifactGenerator::new(
            "apps-gen",
            ArtifactGeneratorSpec {
                common_metadata: Some(CommonMetadata {
                    labels: BTreeMap::from([
                        ("team".to_owned(), "a".to_owned()),
                        ("app".to_owned(), "common".to_owned()),
                        (MANAGED_BY_LABEL.to_owned(), "someone-else".to_owned()),
                    ]),
                    annotations: BTreeMap::from([("note".to_owned(), "generated".to_owned())]),
                }),
                ..ArtifactGeneratorSpec::default()
            },
        );
        g.metadata.namespace = Some("apps".into());
        g
    }

    fn request() -> ArtifactRequest {
        ArtifactRequest {
            index: 0,
            artifact: OutputArtifact {
                name: "auth-prod".into(),
                ..OutputArtifact::default()
            },
            labels: BTreeMap::from([("app".to_owned(), "auth".to_owned())]),
        }
    }

    fn artifact() -> Artifact {
        Artifact {
            path: "externalartifact/apps/auth-prod/abc.tar.gz".into(),
            url: "http://127.0.0.1:9090/externalartifact/apps/auth-prod/abc.tar.gz".into(),
            revision: "latest@sha256:abc".into(),
            digest: "sha256:abc".into(),
            last_update_time: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            size: Some(42),
            ..Artifact::default()
        }
    }

    #[test]
    fn labels_are_common_metadata_then_captures_then_the_controllers() {
        let object = external_artifact(&generator(), &request(), &artifact(), CONTROLLER_NAME);
        let labels = object.metadata.labels.unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(labels["app"], "auth");
        assert_eq!(labels[MANAGED_BY_LABEL], CONTROLLER_NAME);
        assert!(!labels.contains_key(GENERATOR_LABEL));
        assert_eq!(object.metadata.annotations.unwrap()["note"], "generated");
    }

    #[test]
    fn the_generator_label_carries_the_uid_when_there_is_one() {
        let mut g = generator();
        g.metadata.uid = Some("0c5e-uid".into());
        let object = external_artifact(&g, &request(), &artifact(), CONTROLLER_NAME);
        assert_eq!(object.metadata.labels.unwrap()[GENERATOR_LABEL], "0c5e-uid");
        assert!(object.metadata.owner_references.is_none());
    }

    #[test]
    fn the_object_points_back_at_its_generator() {
        let object = external_artifact(&generator(), &request(), &artifact(), CONTROLLER_NAME);
        assert_eq!(object.metadata.name.as_deref(), Some("auth-prod"));
        assert_eq!(object.metadata.namespace.as_deref(), Some("apps"));
        let source = object.spec.source_ref.unwrap();
        assert_eq!(source.api_version.as_deref(), Some(API_VERSION));
        assert_eq!(source.kind, "ArtifactGenerator");
        assert_eq!(source.name, "apps-gen");
        assert_eq!(source.namespace.as_deref(), Some("apps"));
    }

    #[test]
    fn the_status_is_the_artifact_and_ready() {
        let object = external_artifact(&generator(), &request(), &artifact(), CONTROLLER_NAME);
        let status = object.status.unwrap();
        assert_eq!(status.artifact, Some(artifact()));
        let ready = &status.conditions.unwrap()[0];
        assert_eq!((ready.type_.as_str(), ready.status.as_str()), ("Ready", "True"));
        assert_eq!(ready.reason, "Succeeded");
        assert_eq!(ready.message, "stored artifact for revision 'latest@sha256:abc'");
        assert_eq!(ready.last_transition_time.0.as_second(), 1_800_000_000);
    }

    #[test]
    fn rendering_is_a_pure_function_of_its_inputs() {
        let a = external_artifact(&generator(), &request(), &artifact(), CONTROLLER_NAME);
        let b = external_artifact(&generator(), &request(), &artifact(), CONTROLLER_NAME);
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    }

    #[test]
    fn no_annotations_means_no_annotations_field() {
        let mut g = generator();
        g.spec.common_metadata = None;
        let object = external_artifact(&g, &request(), &artifact(), CONTROLLER_NAME);
        assert!(object.metadata.annotations.is_none());
    }

    fn observed(revision: &str, origin: &str) -> ObservedSource {
        ObservedSource {
            revision: revision.into(),
            origin_revision: origin.into(),
            ..ObservedSource::default()
        }
    }

    #[test]
    fn revision_takes_the_sources_revision() {
        let mut a = artifact();
        let output = OutputArtifact {
            revision: "@chart".into(),
            ..OutputArtifact::default()
        };
        set_artifact_revisions(
            &mut a,
            &output,
            &BTreeMap::from([("chart".to_owned(), observed("6.9.0", ""))]),
        );
        assert_eq!(a.revision, "6.9.0");
        assert!(a.metadata.is_empty());
    }

    #[test]
    fn origin_revision_prefers_the_sources_origin_revision() {
        let mut a = artifact();
        let output = OutputArtifact {
            origin_revision: "@git".into(),
            ..OutputArtifact::default()
        };
        let sources = BTreeMap::from([("git".to_owned(), observed("main@sha1:1", "v1@sha1:0"))]);
        set_artifact_revisions(&mut a, &output, &sources);
        assert_eq!(a.metadata[ORIGIN_REVISION_KEY], "v1@sha1:0");
        assert_eq!(a.revision, "latest@sha256:abc");
    }

    #[test]
    fn origin_revision_falls_back_to_the_sources_revision() {
        let mut a = artifact();
        let output = OutputArtifact {
            origin_revision: "@git".into(),
            ..OutputArtifact::default()
        };
        set_artifact_revisions(
            &mut a,
            &output,
            &BTreeMap::from([("git".to_owned(), observed("main@sha1:1", ""))]),
        );
        assert_eq!(a.metadata[ORIGIN_REVISION_KEY], "main@sha1:1");
    }

    #[test]
    fn an_alias_without_a_source_changes_nothing() {
        let mut a = artifact();
        let output = OutputArtifact {
            revision: "@nope".into(),
            origin_revision: "@nope".into(),
            ..OutputArtifact::default()
        };
        set_artifact_revisions(&mut a, &output, &BTreeMap::new());
        assert_eq!(a, artifact());
    }
}
