//! `verify_stored_artifacts`: the list requests it sends (selector, namespace, paging),
//! the outcome for each stored file, and removal of corrupt files only when asked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Exchange, finish, scripted_client};
use flux_artifact_config::Options;
use flux_artifact_kube::{Error, Outcome, Removal, VerifyOptions, verify_stored_artifacts};
use flux_artifact_storage::{Artifact, Storage};
use serde_json::{Value, json};

const SELECTOR: &str = "app.kubernetes.io/managed-by=podinfo-controller";
const LIST_URI: &str = "/apis/source.toolkit.fluxcd.io/v1/externalartifacts?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpodinfo-controller&limit=500";

struct Fixture {
    _dir: tempfile::TempDir,
    storage: Storage,
}

fn storage() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage_path: dir.path().into(),
        ..Options::default()
    };
    let storage = Storage::new(&options).unwrap().with_fsync(false);
    Fixture { _dir: dir, storage }
}

/// Stores `content` as the artifact of `apps/<name>`.
fn store(storage: &Storage, name: &str, content: &[u8]) -> Artifact {
    let mut artifact = storage
        .new_artifact_for("ExternalArtifact", &("apps", name), "v1", "a.tar.gz")
        .unwrap();
    storage.copy(&mut artifact, content).unwrap();
    artifact
}

fn object(name: &str, artifact: Option<&Artifact>) -> Value {
    let mut object = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": { "name": name, "namespace": "apps", "labels": { "app.kubernetes.io/managed-by": "podinfo-controller" } },
        "spec": {},
    });
    if let Some(artifact) = artifact {
        object["status"] = json!({ "artifact": artifact });
    }
    object
}

fn list(items: Vec<Value>, continue_token: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifactList",
        "metadata": { "resourceVersion": "1000", "continue": continue_token },
        "items": items,
    })
}

fn outcome_of<'a>(report: &'a flux_artifact_kube::IntegrityReport, name: &str) -> &'a Outcome {
    &report.checks.iter().find(|c| c.name == name).unwrap().outcome
}

#[tokio::test]
async fn each_published_artifact_gets_its_outcome() {
    let fixture = storage();
    let storage = &fixture.storage;
    let good = store(storage, "good", b"good content");
    let corrupt = store(storage, "corrupt", b"original content");
    std::fs::write(storage.local_path(&corrupt).unwrap(), b"tampered content").unwrap();
    let mut missing = store(storage, "missing", b"gone");
    storage.remove(&missing).unwrap();
    missing.revision = "v2".into();
    let mut undigested = store(storage, "undigested", b"x");
    undigested.digest.clear();
    let items = vec![
        object("good", Some(&good)),
        object("corrupt", Some(&corrupt)),
        object("missing", Some(&missing)),
        object("new", None),
        object("undigested", Some(&undigested)),
    ];
    let (client, server) = scripted_client(vec![Exchange::get(LIST_URI).ok(list(items, ""))]);
    let result = verify_stored_artifacts(&client, storage, &VerifyOptions::new(SELECTOR)).await;
    finish(client, server).await;

    let report = result.unwrap();
    assert_eq!(report.checks.len(), 5);
    assert!(matches!(outcome_of(&report, "good"), Outcome::Verified));
    assert!(matches!(outcome_of(&report, "missing"), Outcome::Missing));
    assert!(matches!(outcome_of(&report, "new"), Outcome::NoArtifact));
    assert!(matches!(
        outcome_of(&report, "undigested"),
        Outcome::Unverifiable(flux_artifact_storage::Error::NoDigest { .. })
    ));
    match outcome_of(&report, "corrupt") {
        Outcome::Mismatched {
            mismatch,
            removal: Removal::Kept,
        } => {
            assert_eq!(mismatch.expected.to_string(), corrupt.digest);
        }
        other => panic!("corrupt: {other:?}"),
    }
    assert!(!report.is_clean());
    assert_eq!(
        report.to_string(),
        "1 verified, 1 missing, 1 mismatched, 1 unverifiable, 1 without artifact"
    );
    // Without removal asked for, the corrupt file stays.
    assert!(storage.artifact_exist(&corrupt));
}

#[tokio::test]
async fn corrupt_files_are_removed_when_asked_and_good_ones_stay() {
    let fixture = storage();
    let storage = &fixture.storage;
    let good = store(storage, "good", b"good content");
    let corrupt = store(storage, "corrupt", b"original content");
    std::fs::write(storage.local_path(&corrupt).unwrap(), b"tampered").unwrap();
    let items = vec![object("good", Some(&good)), object("corrupt", Some(&corrupt))];
    let (client, server) = scripted_client(vec![Exchange::get(LIST_URI).ok(list(items, ""))]);
    let options = VerifyOptions::new(SELECTOR).remove_corrupt(true);
    let result = verify_stored_artifacts(&client, storage, &options).await;
    finish(client, server).await;

    let report = result.unwrap();
    assert!(matches!(
        outcome_of(&report, "corrupt"),
        Outcome::Mismatched {
            removal: Removal::Removed,
            ..
        }
    ));
    assert!(!storage.artifact_exist(&corrupt));
    assert!(storage.artifact_exist(&good));
    storage.verify_artifact(&good).unwrap();
}

#[tokio::test]
async fn a_clean_storage_gives_a_clean_report() {
    let fixture = storage();
    let storage = &fixture.storage;
    let a = store(storage, "a", b"a");
    let (client, server) = scripted_client(vec![
        Exchange::get(LIST_URI).ok(list(vec![object("a", Some(&a)), object("b", None)], "")),
    ]);
    let result = verify_stored_artifacts(&client, storage, &VerifyOptions::new(SELECTOR)).await;
    finish(client, server).await;

    let report = result.unwrap();
    assert!(report.is_clean());
    assert_eq!(report.verified(), 1);
}

#[tokio::test]
async fn lists_are_followed_page_by_page() {
    let fixture = storage();
    let storage = &fixture.storage;
    let a = store(storage, "a", b"a");
    let b = store(storage, "b", b"b");
    let (client, server) = scripted_client(vec![
        Exchange::get(LIST_URI).ok(list(
            vec![object("a", Some(&a))],
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwMH0",
        )),
        Exchange::get(&format!(
            "{LIST_URI}&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwMH0"
        ))
        .ok(list(vec![object("b", Some(&b))], "")),
    ]);
    let result = verify_stored_artifacts(&client, storage, &VerifyOptions::new(SELECTOR)).await;
    finish(client, server).await;

    let report = result.unwrap();
    let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(report.verified(), 2);
}

#[tokio::test]
async fn a_namespaced_check_lists_one_namespace() {
    let fixture = storage();
    let (client, server) = scripted_client(vec![
        Exchange::get("/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpodinfo-controller&limit=500")
            .ok(list(vec![], "")),
    ]);
    let options = VerifyOptions::new(SELECTOR).in_namespace("apps");
    let result = verify_stored_artifacts(&client, &fixture.storage, &options).await;
    finish(client, server).await;

    assert!(result.unwrap().checks.is_empty());
}

#[tokio::test]
async fn a_forbidden_list_is_an_error_and_touches_no_file() {
    // A corrupt file, listed on the first page: with removal on, it would go if the
    // check acted on a partial list. The second page is forbidden.
    let fixture = storage();
    let storage = &fixture.storage;
    let good = store(storage, "good", b"good content");
    let corrupt = store(storage, "corrupt", b"original content");
    let corrupt_path = storage.local_path(&corrupt).unwrap();
    std::fs::write(&corrupt_path, b"tampered").unwrap();
    let token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwMH0";
    let message = "externalartifacts.source.toolkit.fluxcd.io is forbidden: User \"system:serviceaccount:apps:podinfo\" cannot list resource \"externalartifacts\" in API group \"source.toolkit.fluxcd.io\" at the cluster scope";
    let (client, server) = scripted_client(vec![
        Exchange::get(LIST_URI).ok(list(
            vec![object("good", Some(&good)), object("corrupt", Some(&corrupt))],
            token,
        )),
        Exchange::get(&format!("{LIST_URI}&continue={token}")).fail(403, "Forbidden", message),
    ]);
    let result = verify_stored_artifacts(
        &client,
        storage,
        &VerifyOptions::new(SELECTOR).remove_corrupt(true),
    )
    .await;
    finish(client, server).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::Forbidden { action: "list", .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("forbidden to list ExternalArtifacts in all namespaces: {message}")
    );
    assert_eq!(std::fs::read(&corrupt_path).unwrap(), b"tampered");
    storage.verify_artifact(&good).unwrap();
}

/// Runs the check over `items` (one page) with `options`.
async fn check(
    storage: &Storage,
    items: Vec<Value>,
    options: VerifyOptions,
) -> flux_artifact_kube::IntegrityReport {
    let (client, server) = scripted_client(vec![Exchange::get(LIST_URI).ok(list(items, ""))]);
    let result = verify_stored_artifacts(&client, storage, &options).await;
    finish(client, server).await;
    result.unwrap()
}

#[tokio::test]
async fn a_path_escaping_the_storage_is_outside_the_layout_and_never_touched() {
    let fixture = storage();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), b"not an artifact").unwrap();
    let hostile = Artifact {
        path: format!("../../../../../..{}", outside.path().display()),
        digest: flux_artifact_digest::Algorithm::Sha256
            .digest_bytes(b"something else")
            .to_string(),
        ..Artifact::default()
    };
    let report = check(
        &fixture.storage,
        vec![object("x", Some(&hostile))],
        VerifyOptions::new(SELECTOR).remove_corrupt(true),
    )
    .await;

    match outcome_of(&report, "x") {
        Outcome::OutsideLayout { expected_dir } => assert_eq!(expected_dir, "externalartifact/apps/x"),
        other => panic!("{other:?}"),
    }
    assert_eq!(report.unverifiable(), 1);
    assert_eq!(std::fs::read(outside.path()).unwrap(), b"not an artifact");
}

#[tokio::test]
async fn a_forged_object_pointing_at_another_objects_file_cannot_get_it_removed() {
    let fixture = storage();
    let storage = &fixture.storage;
    let victim = store(storage, "victim", b"good content");
    // Same label, the victim's path, a digest that does not match.
    let mut forged = victim.clone();
    forged.digest = flux_artifact_digest::Algorithm::Sha256
        .digest_bytes(b"other")
        .to_string();
    let report = check(
        storage,
        vec![object("forged", Some(&forged))],
        VerifyOptions::new(SELECTOR).remove_corrupt(true),
    )
    .await;

    assert!(matches!(
        outcome_of(&report, "forged"),
        Outcome::OutsideLayout { .. }
    ));
    storage.verify_artifact(&victim).unwrap();
}

#[tokio::test]
async fn a_path_in_a_subdirectory_of_the_objects_directory_is_outside_the_layout() {
    let fixture = storage();
    let mut nested = store(&fixture.storage, "a", b"a");
    nested.path = "externalartifact/apps/a/sub/a.tar.gz".into();
    let report = check(
        &fixture.storage,
        vec![object("a", Some(&nested))],
        VerifyOptions::new(SELECTOR),
    )
    .await;

    assert!(matches!(outcome_of(&report, "a"), Outcome::OutsideLayout { .. }));
}

#[tokio::test]
async fn the_layout_follows_the_configured_artifact_kind() {
    let fixture = storage();
    let storage = &fixture.storage;
    let mut artifact = storage
        .new_artifact_for("PodinfoSource", &("apps", "a"), "v1", "a.tar.gz")
        .unwrap();
    storage.copy(&mut artifact, &b"a"[..]).unwrap();
    let items = vec![object("a", Some(&artifact))];
    let default_kind = check(storage, items.clone(), VerifyOptions::new(SELECTOR)).await;
    let own_kind = check(
        storage,
        items,
        VerifyOptions::new(SELECTOR).artifact_kind("PodinfoSource"),
    )
    .await;

    assert!(matches!(
        outcome_of(&default_kind, "a"),
        Outcome::OutsideLayout { .. }
    ));
    assert!(matches!(outcome_of(&own_kind, "a"), Outcome::Verified));
}

#[tokio::test]
async fn an_unparsable_digest_is_unverifiable() {
    let fixture = storage();
    let mut artifact = store(&fixture.storage, "a", b"a");
    artifact.digest = "sha256:NOTHEX".into();
    let report = check(
        &fixture.storage,
        vec![object("a", Some(&artifact))],
        VerifyOptions::new(SELECTOR),
    )
    .await;

    assert!(matches!(
        outcome_of(&report, "a"),
        Outcome::Unverifiable(flux_artifact_storage::Error::InvalidDigest { .. })
    ));
}

#[tokio::test]
async fn an_expired_continue_token_is_an_error() {
    let fixture = storage();
    let token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwMH0";
    let (client, server) = scripted_client(vec![
        Exchange::get(LIST_URI).ok(list(vec![], token)),
        Exchange::get(&format!("{LIST_URI}&continue={token}")).fail(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result.",
        ),
    ]);
    let result = verify_stored_artifacts(&client, &fixture.storage, &VerifyOptions::new(SELECTOR)).await;
    finish(client, server).await;

    let error = result.unwrap_err();
    assert!(matches!(&error, Error::Api { action: "list", .. }), "{error:?}");
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("too old"), "{cause}");
}

#[tokio::test]
async fn an_empty_namespace_checks_all_namespaces() {
    let fixture = storage();
    let report = check(
        &fixture.storage,
        vec![],
        VerifyOptions::new(SELECTOR).in_namespace(""),
    )
    .await;
    assert!(report.checks.is_empty());
}
