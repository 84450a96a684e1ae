//! JSON golden tests: the types read what Flux's controllers write, and the
//! ExternalArtifact writes it back unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flux_artifact_kube::{
    Bucket, ExternalArtifact, GitRepository, HelmChart, NamespacedObjectKindReference, OCIRepository,
    conditions,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/objects/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn read<T: DeserializeOwned>(json: &Value) -> T {
    serde_json::from_value(json.clone()).unwrap()
}

fn write<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

#[test]
fn an_external_artifact_written_by_source_watcher_round_trips_unchanged() {
    let json = fixture("externalartifact.json");
    let object: ExternalArtifact = read(&json);
    assert_eq!(write(&object), json);
}

#[test]
fn an_external_artifact_reads_into_typed_fields() {
    let object: ExternalArtifact = read(&fixture("externalartifact.json"));
    assert_eq!(
        object.spec.source_ref,
        Some(NamespacedObjectKindReference {
            api_version: Some("source.extensions.fluxcd.io/v1beta1".into()),
            kind: "ArtifactGenerator".into(),
            name: "podinfo".into(),
            namespace: Some("apps".into()),
        })
    );
    let status = object.status.unwrap();
    let artifact = status.artifact.unwrap();
    assert_eq!(artifact.size, Some(18734));
    assert_eq!(artifact.parsed_digest().unwrap().to_string(), artifact.digest);
    assert_eq!(
        artifact.metadata["org.opencontainers.image.revision"],
        "6.9.2@sha1:4a0c2d7c3b6f1e9a8d5c2b7f6e1d0c9b8a7f6e5d"
    );
    let conditions = status.conditions.unwrap();
    assert!(conditions::is_true(&conditions, conditions::READY));
    assert_eq!(
        conditions::get(&conditions, conditions::READY)
            .unwrap()
            .observed_generation,
        Some(1)
    );
}

#[test]
fn an_external_artifact_without_status_or_source_ref_writes_neither() {
    let object = ExternalArtifact::new("empty", Default::default());
    assert_eq!(
        write(&object),
        serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "ExternalArtifact",
            "metadata": { "name": "empty" },
            "spec": {},
        })
    );
}

/// A source view reads the artifact and conditions, keeps the spec as it is, and drops
/// the status fields it does not model.
fn check_source_view<T: DeserializeOwned + Serialize>(file: &str, dropped_status_fields: &[&str]) {
    let json = fixture(file);
    let written = write(&read::<T>(&json));
    assert_eq!(written["spec"], json["spec"], "{file}: spec");
    assert_eq!(written["metadata"], json["metadata"], "{file}: metadata");
    let mut status = json["status"].clone();
    for field in dropped_status_fields {
        assert!(
            status.as_object_mut().unwrap().remove(*field).is_some(),
            "{file}: no status.{field}"
        );
    }
    assert_eq!(written["status"], status, "{file}: status");
}

#[test]
fn a_git_repository_written_by_source_controller_reads_its_artifact() {
    check_source_view::<GitRepository>("gitrepository.json", &[]);
    let object: GitRepository = read(&fixture("gitrepository.json"));
    let artifact = object.status.unwrap().artifact.unwrap();
    assert_eq!(
        artifact.revision,
        "master@sha1:4a0c2d7c3b6f1e9a8d5c2b7f6e1d0c9b8a7f6e5d"
    );
    assert_eq!(object.spec.fields["ref"]["branch"], "master");
}

#[test]
fn an_oci_repository_written_by_source_controller_reads_its_artifact() {
    check_source_view::<OCIRepository>("ocirepository.json", &["url"]);
    let object: OCIRepository = read(&fixture("ocirepository.json"));
    let artifact = object.status.unwrap().artifact.unwrap();
    assert_eq!(artifact.metadata.len(), 3);
}

#[test]
fn a_bucket_written_by_source_controller_reads_its_artifact() {
    check_source_view::<Bucket>("bucket.json", &["url"]);
}

#[test]
fn a_helm_chart_written_by_source_controller_reads_its_artifact() {
    check_source_view::<HelmChart>(
        "helmchart.json",
        &["url", "observedChartName", "observedSourceArtifactRevision"],
    );
    let object: HelmChart = read(&fixture("helmchart.json"));
    assert_eq!(
        object.status.unwrap().artifact.unwrap().path,
        "helmchart/flux-system/apps-podinfo/podinfo-6.9.2.tgz"
    );
}
