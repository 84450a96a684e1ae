//! `OrphanSweep` against a scripted API server and a real storage directory: what is
//! removed, what is kept and why, and that nothing outside the scope is touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Exchange, TempStorage, external_artifact, external_artifacts, finish, scripted_client};
use flux_artifact_runtime::cleanup::{Error, KeepReason, OrphanSweep, SweepReport};

const SELECTOR: &str = "app.kubernetes.io/managed-by=podinfo-controller";
const ENCODED_SELECTOR: &str = "app.kubernetes.io%2Fmanaged-by%3Dpodinfo-controller";

fn list_all() -> String {
    format!("/apis/source.toolkit.fluxcd.io/v1/externalartifacts?&labelSelector={ENCODED_SELECTOR}&limit=500")
}

fn list_in(namespace: &str) -> String {
    format!(
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/externalartifacts?&labelSelector={ENCODED_SELECTOR}&limit=500"
    )
}

/// The question asked again right before removing `namespace/name`.
fn recheck(namespace: &str, name: &str) -> Exchange {
    Exchange::get(&format!(
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/externalartifacts?&fieldSelector=metadata.name%3D{name}&labelSelector={ENCODED_SELECTOR}"
    ))
}

fn none() -> serde_json::Value {
    external_artifacts(vec![], "")
}

async fn sweep(
    sweep: OrphanSweep,
    storage: &TempStorage,
    script: Vec<Exchange>,
) -> Result<SweepReport, Error> {
    let (client, server) = scripted_client(script);
    let result = sweep.run(&client, &storage.storage).await;
    finish(client, server).await;
    result
}

fn now() -> OrphanSweep {
    OrphanSweep::new(SELECTOR).with_min_age(Duration::ZERO)
}

fn names(dirs: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    dirs.into_iter()
        .map(|(ns, name)| format!("{ns}/{name}"))
        .collect()
}

fn kept(report: &SweepReport) -> Vec<(String, KeepReason)> {
    report
        .kept
        .iter()
        .map(|k| (format!("{}/{}", k.dir.namespace, k.dir.name), k.reason.clone()))
        .collect()
}

#[tokio::test]
async fn directories_without_an_external_artifact_are_removed_and_reported() {
    let storage = TempStorage::new();
    let podinfo = storage.store("ExternalArtifact", "apps", "podinfo");
    let stale = storage.store("ExternalArtifact", "apps", "stale");
    let old = storage.store("ExternalArtifact", "team-a", "old");
    // Another kind's storage is outside the sweep.
    let git = storage.store("GitRepository", "apps", "stale");
    let script = vec![
        Exchange::get(&list_all()).ok(external_artifacts(
            vec![external_artifact("apps", "podinfo", "u1")],
            "",
        )),
        recheck("apps", "stale").ok(none()),
        recheck("team-a", "old").ok(none()),
    ];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert_eq!(
        names(
            report
                .removed
                .iter()
                .map(|d| (d.namespace.clone(), d.name.clone()))
        ),
        ["apps/stale", "team-a/old"]
    );
    assert_eq!(report.removed[0].path, stale);
    assert_eq!(
        kept(&report),
        [("apps/podinfo".to_owned(), KeepReason::HasExternalArtifact)]
    );
    assert!(report.failed.is_empty());
    assert_eq!(report.to_string(), "2 removed, 1 kept, 0 failed");
    assert!(podinfo.exists());
    assert!(!stale.exists() && !old.exists());
    assert!(git.exists());
}

#[tokio::test]
async fn only_the_namespaces_in_scope_are_listed_and_swept() {
    let storage = TempStorage::new();
    let stale = storage.store("ExternalArtifact", "apps", "stale");
    let elsewhere = storage.store("ExternalArtifact", "team-a", "old");
    let script = vec![
        Exchange::get(&list_in("apps")).ok(none()),
        recheck("apps", "stale").ok(none()),
    ];

    let report = sweep(now().in_namespaces(["apps"]), &storage, script)
        .await
        .unwrap();

    assert_eq!(report.removed.len(), 1);
    assert!(
        report.kept.is_empty(),
        "out-of-scope directories are not reported"
    );
    assert!(!stale.exists());
    assert!(elsewhere.exists());
}

#[tokio::test]
async fn a_directory_whose_external_artifact_appears_before_removal_is_kept() {
    let storage = TempStorage::new();
    let late = storage.store("ExternalArtifact", "apps", "late");
    let script = vec![
        Exchange::get(&list_all()).ok(none()),
        recheck("apps", "late").ok(external_artifacts(
            vec![external_artifact("apps", "late", "u2")],
            "",
        )),
    ];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert_eq!(
        kept(&report),
        [("apps/late".to_owned(), KeepReason::AppearedDuringSweep)]
    );
    assert!(late.exists());
}

#[tokio::test]
async fn recently_modified_directories_are_kept_without_asking_again() {
    let storage = TempStorage::new();
    let fresh = storage.store("ExternalArtifact", "apps", "fresh");
    let script = vec![Exchange::get(&list_all()).ok(none())];

    let report = sweep(OrphanSweep::new(SELECTOR), &storage, script).await.unwrap();

    assert!(matches!(
        &report.kept[..],
        [k] if matches!(k.reason, KeepReason::TooRecent { modified } if modified < Duration::from_secs(60))
    ));
    assert!(fresh.exists());
}

#[cfg(unix)]
#[tokio::test]
async fn entries_that_cannot_be_object_directories_are_kept_and_never_followed() {
    let storage = TempStorage::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), "keep me").unwrap();
    storage.store("ExternalArtifact", "apps", "podinfo");
    let apps = storage.path("externalartifact/apps");
    std::fs::write(apps.join("notes.txt"), "a file").unwrap();
    std::os::unix::fs::symlink(outside.path(), apps.join("link")).unwrap();
    std::fs::create_dir(apps.join("Not_A_Name")).unwrap();
    // Not a namespace name, and a file where a namespace would be: not looked at.
    std::fs::create_dir_all(storage.path("externalartifact/UPPER/podinfo")).unwrap();
    std::fs::write(storage.path("externalartifact/loose-file"), "x").unwrap();
    let script = vec![
        Exchange::get(&list_all()).ok(none()),
        recheck("apps", "podinfo").ok(none()),
    ];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert_eq!(
        kept(&report),
        [
            ("apps/Not_A_Name".to_owned(), KeepReason::NotAnObjectName),
            ("apps/link".to_owned(), KeepReason::NotADirectory),
            ("apps/notes.txt".to_owned(), KeepReason::NotADirectory),
        ]
    );
    assert_eq!(report.removed.len(), 1);
    assert!(outside.path().join("precious").exists());
    assert!(
        apps.join("link").exists() && apps.join("notes.txt").exists() && apps.join("Not_A_Name").exists()
    );
    assert!(storage.path("externalartifact/UPPER/podinfo").exists());
}

#[tokio::test]
async fn a_failed_list_removes_nothing() {
    let storage = TempStorage::new();
    let stale = storage.store("ExternalArtifact", "apps", "stale");
    let script = vec![Exchange::get(&list_all()).fail(
        403,
        "Forbidden",
        "externalartifacts.source.toolkit.fluxcd.io is forbidden: User \"system:serviceaccount:flux-system:podinfo\" cannot list resource \"externalartifacts\" at the cluster scope",
    )];

    let error = sweep(now(), &storage, script).await.unwrap_err();

    assert!(
        matches!(
            &error,
            Error::Kube(flux_artifact_kube::Error::Forbidden { action: "list", .. })
        ),
        "{error:?}"
    );
    assert!(stale.exists());
}

#[tokio::test]
async fn a_failed_second_question_is_reported_and_the_directory_kept() {
    let storage = TempStorage::new();
    let stale = storage.store("ExternalArtifact", "apps", "stale");
    let script = vec![
        Exchange::get(&list_all()).ok(none()),
        recheck("apps", "stale").fail(500, "InternalError", "etcdserver: leader changed"),
    ];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].dir.name, "stale");
    assert!(stale.exists());
}

#[tokio::test]
async fn lists_are_followed_page_by_page() {
    let storage = TempStorage::new();
    let a = storage.store("ExternalArtifact", "apps", "a");
    let b = storage.store("ExternalArtifact", "apps", "b");
    let token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwMH0";
    let script = vec![
        Exchange::get(&list_all()).ok(external_artifacts(
            vec![external_artifact("apps", "a", "u1")],
            token,
        )),
        Exchange::get(&format!("{}&continue={token}", list_all()))
            .ok(external_artifacts(vec![external_artifact("apps", "b", "u2")], "")),
    ];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert!(report.removed.is_empty());
    assert_eq!(report.kept.len(), 2);
    assert!(a.exists() && b.exists());
}

#[tokio::test]
async fn a_storage_without_the_kinds_directory_has_nothing_to_sweep() {
    let storage = TempStorage::new();
    let script = vec![Exchange::get(&list_all()).ok(none())];

    let report = sweep(now(), &storage, script).await.unwrap();

    assert_eq!(report.to_string(), "0 removed, 0 kept, 0 failed");
}

#[tokio::test]
async fn another_artifact_kind_is_swept_under_its_own_directory() {
    let storage = TempStorage::new();
    let mine = storage.store("PodinfoArtifact", "apps", "stale");
    let external = storage.store("ExternalArtifact", "apps", "stale");
    let script = vec![
        Exchange::get(&list_all()).ok(none()),
        recheck("apps", "stale").ok(none()),
    ];

    let report = sweep(now().with_artifact_kind("PodinfoArtifact"), &storage, script)
        .await
        .unwrap();

    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].path, mine);
    assert!(!mine.exists());
    assert!(external.exists());
}
