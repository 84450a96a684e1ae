//! `source_artifact`: one `GET` of the source, its artifact or a typed error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Exchange, finish, scripted_client};
use flux_artifact_kube::{Error, SourceKind, source_artifact};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/objects/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn read_artifact(kind: SourceKind, namespace: &str, name: &str, uri: &str, file: &str) {
    let object = fixture(file);
    let (client, server) = scripted_client(vec![Exchange::get(uri).ok(object.clone())]);
    let result = source_artifact(&client, kind, namespace, name).await;
    finish(client, server).await;

    let artifact = result.unwrap();
    assert_eq!(
        serde_json::to_value(artifact).unwrap(),
        object["status"]["artifact"],
        "{kind}"
    );
}

#[tokio::test]
async fn reads_the_artifact_of_a_git_repository() {
    read_artifact(
        SourceKind::GitRepository,
        "flux-system",
        "podinfo",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/podinfo",
        "gitrepository.json",
    )
    .await;
}

#[tokio::test]
async fn reads_the_artifact_of_an_oci_repository() {
    read_artifact(
        SourceKind::OciRepository,
        "flux-system",
        "podinfo",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/ocirepositories/podinfo",
        "ocirepository.json",
    )
    .await;
}

#[tokio::test]
async fn reads_the_artifact_of_a_bucket() {
    read_artifact(
        SourceKind::Bucket,
        "infra",
        "manifests",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/infra/buckets/manifests",
        "bucket.json",
    )
    .await;
}

#[tokio::test]
async fn reads_the_artifact_of_a_helm_chart() {
    read_artifact(
        SourceKind::HelmChart,
        "flux-system",
        "apps-podinfo",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/helmcharts/apps-podinfo",
        "helmchart.json",
    )
    .await;
}

#[tokio::test]
async fn reads_the_artifact_of_an_external_artifact() {
    read_artifact(
        SourceKind::ExternalArtifact,
        "apps",
        "podinfo",
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo",
        "externalartifact.json",
    )
    .await;
}

#[tokio::test]
async fn a_source_without_an_artifact_is_not_ready() {
    let mut object = fixture("gitrepository.json");
    object["status"].as_object_mut().unwrap().remove("artifact");
    let (client, server) = scripted_client(vec![
        Exchange::get("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/podinfo")
            .ok(object),
    ]);
    let result = source_artifact(&client, SourceKind::GitRepository, "flux-system", "podinfo").await;
    finish(client, server).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::SourceNotReady { kind, .. } if kind == "GitRepository"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "source 'GitRepository/flux-system/podinfo' is not ready: it has no artifact"
    );
}

#[tokio::test]
async fn a_source_without_a_status_is_not_ready() {
    let mut object = fixture("externalartifact.json");
    object.as_object_mut().unwrap().remove("status");
    let (client, server) = scripted_client(vec![
        Exchange::get("/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo")
            .ok(object),
    ]);
    let result = source_artifact(&client, SourceKind::ExternalArtifact, "apps", "podinfo").await;
    finish(client, server).await;

    assert!(matches!(result.unwrap_err(), Error::SourceNotReady { .. }));
}

#[tokio::test]
async fn a_missing_source_is_not_found() {
    let (client, server) = scripted_client(vec![
        Exchange::get("/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/ocirepositories/nope").fail(
            404,
            "NotFound",
            "ocirepositories.source.toolkit.fluxcd.io \"nope\" not found",
        ),
    ]);
    let result = source_artifact(&client, SourceKind::OciRepository, "apps", "nope").await;
    finish(client, server).await;

    let error = result.unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(
        error.to_string(),
        "cannot get OCIRepository apps/nope: not found: ocirepositories.source.toolkit.fluxcd.io \"nope\" not found"
    );
}

#[tokio::test]
async fn a_source_the_controller_may_not_read_is_forbidden() {
    let message = "gitrepositories.source.toolkit.fluxcd.io \"podinfo\" is forbidden: User \"system:serviceaccount:flux-system:podinfo-controller\" cannot get resource \"gitrepositories\" in API group \"source.toolkit.fluxcd.io\" in the namespace \"flux-system\"";
    let (client, server) = scripted_client(vec![
        Exchange::get("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/podinfo")
            .fail(403, "Forbidden", message),
    ]);
    let result = source_artifact(&client, SourceKind::GitRepository, "flux-system", "podinfo").await;
    finish(client, server).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::Forbidden { action: "get", .. }),
        "{error:?}"
    );
    assert!(!error.is_not_found());
}
