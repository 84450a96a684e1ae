//! `Artifact` against JSON as Flux writes it (`meta.Artifact`'s JSON tags): each fixture
//! deserializes and serializes back byte for byte.
//!
//! The fixtures were written by hand from the Go type: fields in declaration order
//! (digest, path, url, revision, lastUpdateTime, size, metadata), `omitempty` on digest,
//! size and metadata, `metav1.Time` as RFC 3339 seconds in UTC, map keys sorted (as
//! `encoding/json` sorts them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use flux_artifact_storage::Artifact;

/// A GitRepository's artifact from source-controller.
const GIT_REPOSITORY: &str = r#"{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","path":"gitrepository/flux-system/flux-system/1c8b9f3e2a1d.tar.gz","url":"http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/1c8b9f3e2a1d.tar.gz","revision":"main@sha1:1c8b9f3e2a1d4b6c8e0f2a4c6e8a0b2c4d6e8f0a","lastUpdateTime":"2026-10-02T08:30:12Z","size":48213}"#;

/// An OCIRepository's artifact with OCI annotations as metadata.
const OCI_REPOSITORY: &str = r#"{"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","path":"ocirepository/apps/podinfo/sha256:3f8a.tar.gz","url":"http://source-controller.flux-system.svc.cluster.local./ocirepository/apps/podinfo/sha256:3f8a.tar.gz","revision":"6.7.0@sha256:3f8a1c0b2d4e6f8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a","lastUpdateTime":"2026-11-20T23:59:59Z","size":6211,"metadata":{"org.opencontainers.image.created":"2026-11-20T12:00:00Z","org.opencontainers.image.revision":"6.7.0@sha1:5b1c2d3e","org.opencontainers.image.source":"https://github.com/stefanprodan/podinfo"}}"#;

/// An ExternalArtifact's artifact from source-watcher, with a blake3 digest.
const EXTERNAL_ARTIFACT: &str = r#"{"digest":"blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","path":"externalartifact/apps/podinfo-config/3127489112.tar.gz","url":"http://source-watcher.flux-system.svc.cluster.local./externalartifact/apps/podinfo-config/3127489112.tar.gz","revision":"latest@blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","lastUpdateTime":"2026-11-24T10:15:42Z","size":1024}"#;

/// An artifact before its file was written: no digest, size or metadata.
const UNWRITTEN: &str = r#"{"path":"helmchart/default/podinfo/podinfo-6.7.0.tgz","url":"http://localhost:9090/helmchart/default/podinfo/podinfo-6.7.0.tgz","revision":"6.7.0","lastUpdateTime":null}"#;

#[test]
fn flux_json_round_trips_byte_for_byte() {
    for fixture in [GIT_REPOSITORY, OCI_REPOSITORY, EXTERNAL_ARTIFACT, UNWRITTEN] {
        let artifact: Artifact = serde_json::from_str(fixture).unwrap();
        assert_eq!(serde_json::to_string(&artifact).unwrap(), fixture);
    }
}

#[test]
fn fields_are_read_from_flux_json() {
    let artifact: Artifact = serde_json::from_str(OCI_REPOSITORY).unwrap();
    assert_eq!(artifact.path, "ocirepository/apps/podinfo/sha256:3f8a.tar.gz");
    assert!(
        artifact
            .has_revision("6.7.0@sha256:3f8a1c0b2d4e6f8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a")
    );
    assert!(artifact.has_digest("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    assert_eq!(artifact.size, Some(6211));
    assert_eq!(
        artifact
            .metadata
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some("6.7.0@sha1:5b1c2d3e")
    );
    let time = jiff::Timestamp::try_from(artifact.last_update_time.unwrap()).unwrap();
    assert_eq!(time.to_string(), "2026-11-20T23:59:59Z");
}

#[test]
fn metadata_keys_are_written_sorted() {
    let artifact = Artifact {
        metadata: BTreeMap::from([("z".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())]),
        ..Artifact::default()
    };
    assert!(
        serde_json::to_string(&artifact)
            .unwrap()
            .ends_with(r#""metadata":{"a":"2","z":"1"}}"#)
    );
}

#[test]
fn missing_optional_fields_read_as_empty() {
    let artifact: Artifact = serde_json::from_str(r#"{"path":"a/b/c/d.tar.gz"}"#).unwrap();
    assert_eq!(
        artifact,
        Artifact {
            path: "a/b/c/d.tar.gz".into(),
            ..Artifact::default()
        }
    );
}
