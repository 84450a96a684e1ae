//! `ArtifactFinalizer`: the finalizer requests, and the cleanup on deletion against a
//! real storage directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use common::{
    Exchange, PodinfoSource, TempStorage, external_artifact, external_artifacts, finish, podinfo_source,
    rbac, scripted_client,
};
use flux_artifact_runtime::cleanup::{ArtifactFinalizer, Error, FinalizerError};
use kube::runtime::controller::Action;
use serde_json::json;

const FINALIZER: &str = "example.com/artifacts";
const OWNER_URI: &str = "/apis/example.com/v1/namespaces/apps/podinfosources/podinfo?";
const OWNED_URI: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts?&labelSelector=source.extensions.fluxcd.io%2Fgenerator%3D4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";
const EA_URI: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts";

#[derive(Debug, thiserror::Error)]
#[error("building podinfo failed: no such tag 6.9.9")]
struct BuildError;

/// The owner, with the finalizer, being deleted.
fn deleting() -> PodinfoSource {
    let mut owner = podinfo_source();
    owner.metadata.finalizers = Some(vec![FINALIZER.into()]);
    owner.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-24T10:00:00Z".parse().unwrap(),
    ));
    owner
}

fn remove_finalizer() -> Exchange {
    Exchange::json_patch(
        OWNER_URI,
        json!([
            { "op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER },
            { "op": "remove", "path": "/metadata/finalizers/0" },
        ]),
    )
    .ok(serde_json::to_value(podinfo_source()).unwrap())
}

/// Two ExternalArtifacts published for the owner.
fn owned() -> Exchange {
    Exchange::get(OWNED_URI).ok(external_artifacts(
        vec![
            external_artifact("apps", "podinfo", "ea-uid-1"),
            external_artifact("apps", "podinfo-chart", "ea-uid-2"),
        ],
        "",
    ))
}

/// Reconciles `owner` with `finalizer` (built on the scripted client) against `script`;
/// returns the result and whether the apply branch ran.
async fn reconcile(
    script: Vec<Exchange>,
    owner: PodinfoSource,
    configure: impl FnOnce(ArtifactFinalizer<PodinfoSource>) -> ArtifactFinalizer<PodinfoSource>,
    storage: &TempStorage,
    apply: Result<Action, BuildError>,
) -> (Result<Action, FinalizerError<BuildError>>, bool) {
    let (client, server) = scripted_client(script);
    let finalizer = configure(ArtifactFinalizer::new(
        client.clone(),
        storage.storage.clone(),
        FINALIZER,
    ));
    let applied = AtomicBool::new(false);
    let result = finalizer
        .reconcile(Arc::new(owner), async |_| {
            applied.store(true, Ordering::SeqCst);
            apply
        })
        .await;
    finish((client, finalizer), server).await;
    (result, applied.load(Ordering::SeqCst))
}

#[tokio::test]
async fn an_object_without_the_finalizer_gets_it_before_any_work() {
    let storage = TempStorage::new();
    let script = vec![
        Exchange::json_patch(
            OWNER_URI,
            json!([
                { "op": "test", "path": "/metadata/finalizers", "value": null },
                { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
            ]),
        )
        .ok(serde_json::to_value(deleting()).unwrap()),
    ];

    let (result, applied) = reconcile(
        script,
        podinfo_source(),
        |f| f,
        &storage,
        Ok(Action::await_change()),
    )
    .await;

    assert_eq!(result.unwrap(), Action::await_change());
    assert!(!applied);
}

#[tokio::test]
async fn a_live_object_with_the_finalizer_is_reconciled_by_the_apply_closure() {
    let storage = TempStorage::new();
    let mut owner = podinfo_source();
    owner.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let requeue = Action::requeue(std::time::Duration::from_secs(3600));

    let (result, applied) = reconcile(vec![], owner, |f| f, &storage, Ok(requeue.clone())).await;

    assert_eq!(result.unwrap(), requeue);
    assert!(applied);
}

#[tokio::test]
async fn the_apply_closures_error_is_returned_as_it_is() {
    let storage = TempStorage::new();
    let mut owner = podinfo_source();
    owner.metadata.finalizers = Some(vec![FINALIZER.into()]);

    let (result, _) = reconcile(vec![], owner, |f| f, &storage, Err(BuildError)).await;

    let error = result.unwrap_err();
    assert!(matches!(error, FinalizerError::Apply(BuildError)));
    assert_eq!(error.to_string(), "building podinfo failed: no such tag 6.9.9");
}

#[tokio::test]
async fn deletion_removes_the_storage_of_the_objects_external_artifacts_then_the_finalizer() {
    let storage = TempStorage::new();
    let podinfo = storage.store("ExternalArtifact", "apps", "podinfo");
    let chart = storage.store("ExternalArtifact", "apps", "podinfo-chart");
    let other = storage.store("ExternalArtifact", "apps", "someone-else");
    let script = vec![owned(), remove_finalizer()];

    let (result, applied) = reconcile(script, deleting(), |f| f, &storage, Ok(Action::await_change())).await;

    assert_eq!(result.unwrap(), Action::await_change());
    assert!(!applied);
    assert!(!podinfo.exists());
    assert!(!chart.exists());
    assert!(other.exists(), "another object's storage was removed");
}

#[tokio::test]
async fn deletion_deletes_the_labelled_external_artifacts_when_asked_and_cleans_the_inventory() {
    let storage = TempStorage::new();
    let podinfo = storage.store("ExternalArtifact", "apps", "podinfo");
    let chart = storage.store("ExternalArtifact", "apps", "podinfo-chart");
    // In the inventory, its ExternalArtifact already gone: only the storage is left.
    let stale = storage.store("ExternalArtifact", "apps", "podinfo-stale");
    let delete = |name: &str, uid: &str| {
        Exchange::delete(
            &format!("{EA_URI}/{name}?"),
            json!({ "preconditions": { "uid": uid } }),
        )
        .granted_by(rbac::sample_with_delete_addendum())
    };
    let script = vec![
        owned(),
        delete("podinfo", "ea-uid-1").ok(external_artifact("apps", "podinfo", "ea-uid-1")),
        // Deleted by the garbage collector meanwhile: fine.
        delete("podinfo-chart", "ea-uid-2").fail(
            404,
            "NotFound",
            "externalartifacts \"podinfo-chart\" not found",
        ),
        remove_finalizer(),
    ];

    let mut owner = deleting();
    owner.status = Some(common::PodinfoSourceStatus {
        inventory: vec!["podinfo".into(), "podinfo-stale".into()],
        ..Default::default()
    });
    let (result, _) = reconcile(
        script,
        owner,
        |f| {
            f.delete_external_artifacts(true)
                .with_inventory(|owner: &PodinfoSource| owner.status.clone().unwrap_or_default().inventory)
        },
        &storage,
        Ok(Action::await_change()),
    )
    .await;

    result.unwrap();
    assert!(!podinfo.exists() && !chart.exists() && !stale.exists());
}

#[tokio::test]
async fn cleanup_reports_what_it_deleted_removed_and_failed() {
    let storage = TempStorage::new();
    let podinfo = storage.store("ExternalArtifact", "apps", "podinfo");
    let (client, server) = scripted_client(vec![
        owned(),
        Exchange::delete(
            &format!("{EA_URI}/podinfo?"),
            json!({ "preconditions": { "uid": "ea-uid-1" } }),
        )
        .granted_by(rbac::sample_with_delete_addendum())
        .ok(external_artifact("apps", "podinfo", "ea-uid-1")),
        Exchange::delete(
            &format!("{EA_URI}/podinfo-chart?"),
            json!({ "preconditions": { "uid": "ea-uid-2" } }),
        )
        .granted_by(rbac::sample_with_delete_addendum())
        .fail(
            403,
            "Forbidden",
            "externalartifacts \"podinfo-chart\" is forbidden",
        ),
    ]);
    let finalizer =
        ArtifactFinalizer::<PodinfoSource>::new(client.clone(), storage.storage.clone(), FINALIZER)
            .delete_external_artifacts(true);

    let report = finalizer.cleanup(&deleting()).await;
    finish((client, finalizer), server).await;

    let report = report.unwrap();
    assert_eq!(report.deleted, ["podinfo"]);
    assert_eq!(report.removed, [podinfo]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].name, "podinfo-chart");
    assert!(matches!(
        &report.failures[0].error,
        Error::Kube(flux_artifact_kube::Error::Forbidden { action: "delete", .. })
    ));
    assert!(!report.is_clean());
}

/// Makes removing `apps/podinfo`'s storage fail: its namespace directory is a file.
fn break_storage(storage: &TempStorage) {
    std::fs::create_dir_all(storage.path("externalartifact")).unwrap();
    std::fs::write(storage.path("externalartifact/apps"), "not a directory").unwrap();
}

#[tokio::test]
async fn a_storage_failure_is_logged_and_does_not_block_deletion() {
    let storage = TempStorage::new();
    break_storage(&storage);
    let script = vec![owned(), remove_finalizer()];

    let (result, _) = reconcile(script, deleting(), |f| f, &storage, Ok(Action::await_change())).await;

    assert_eq!(result.unwrap(), Action::await_change());
}

#[tokio::test]
async fn with_block_deletion_on_failure_a_storage_failure_keeps_the_finalizer() {
    let storage = TempStorage::new();
    break_storage(&storage);
    // No finalizer removal.
    let script = vec![owned()];

    let (result, _) = reconcile(
        script,
        deleting(),
        |f| f.block_deletion_on_failure(true),
        &storage,
        Ok(Action::await_change()),
    )
    .await;

    let error = result.unwrap_err();
    assert!(
        matches!(error, FinalizerError::Cleanup(Error::Storage(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failed_list_still_cleans_up_the_inventory() {
    let storage = TempStorage::new();
    let podinfo = storage.store("ExternalArtifact", "apps", "podinfo");
    let script = vec![
        Exchange::get(OWNED_URI).fail(
            403,
            "Forbidden",
            "externalartifacts.source.toolkit.fluxcd.io is forbidden: User \"system:serviceaccount:flux-system:podinfo\" cannot list",
        ),
        remove_finalizer(),
    ];

    let (result, _) = reconcile(
        script,
        deleting(),
        |f| f.with_inventory(|_| vec!["podinfo".to_owned()]),
        &storage,
        Ok(Action::await_change()),
    )
    .await;

    result.unwrap();
    assert!(!podinfo.exists());
}

#[tokio::test]
async fn an_inventory_name_that_cannot_be_a_path_removes_nothing_elsewhere() {
    let storage = TempStorage::new();
    let neighbour = storage.store("ExternalArtifact", "apps", "podinfo");
    let (client, server) = scripted_client(vec![Exchange::get(OWNED_URI).ok(external_artifacts(vec![], ""))]);
    let finalizer =
        ArtifactFinalizer::<PodinfoSource>::new(client.clone(), storage.storage.clone(), FINALIZER)
            .with_inventory(|_| vec!["..".to_owned(), "podinfo/..".to_owned()]);

    let report = finalizer.cleanup(&deleting()).await;
    finish((client, finalizer), server).await;

    let report = report.unwrap();
    assert_eq!(report.failures.len(), 2);
    assert!(report.removed.is_empty());
    assert!(neighbour.exists());
    assert!(storage.path("externalartifact/apps").exists());
}

#[tokio::test]
async fn an_object_without_a_uid_is_refused_before_any_request() {
    let storage = TempStorage::new();
    let (client, server) = scripted_client(vec![]);
    let finalizer =
        ArtifactFinalizer::<PodinfoSource>::new(client.clone(), storage.storage.clone(), FINALIZER);
    let mut owner = deleting();
    owner.metadata.uid = None;

    let result = finalizer.cleanup(&owner).await;
    finish((client, finalizer), server).await;

    let error = result.unwrap_err();
    assert!(matches!(error, Error::IncompleteObject { field: "uid", .. }));
    assert_eq!(
        error.to_string(),
        "cannot clean up after PodinfoSource \"podinfo\": it has no uid"
    );
}
