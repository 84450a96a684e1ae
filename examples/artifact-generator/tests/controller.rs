//! The controller's reconcile flows against a fake API server, each pinning the
//! requests it makes; source artifacts come from the SDK's artifact server on
//! 127.0.0.1:0. The last test checks that `deploy/rbac.yaml` grants exactly what these
//! flows ask for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod controller_support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use artifact_generator::{
    api::{FINALIZER, RECONCILE_ANNOTATION},
    controller::{ReconcileError, Settings, error_policy, run},
};
use controller_support::{
    GENERATOR, Harness, api::PERMISSIONS, artifact, condition, external_artifact_path, generator, rbac,
    unpack,
};
use flux_artifact::runtime::metrics::ReconcileMetrics;
use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;

/// What a rule grants: API group, resource and verb.
type Grant = (String, String, String);

const HOUR: Duration = Duration::from_secs(3600);

/// The delay of an `Action::requeue`, read from its `Debug` form (kube keeps the field
/// private).
fn requeue_after(action: &Action) -> Option<Duration> {
    let debug = format!("{action:?}");
    let seconds = debug.split("Some(").nth(1)?.split("s)").next()?;
    Some(Duration::from_secs_f64(seconds.parse().ok()?))
}

/// An `Action::requeue` within the 5% jitter of an hour.
fn is_hourly(action: &Action) -> bool {
    requeue_after(action).is_some_and(|after| after >= HOUR * 95 / 100 && after <= HOUR * 105 / 100)
}

/// A generator and one commit, reconciled once: the state most flows start from.
async fn built() -> Harness {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "kind: ConfigMap\n"), ("README.md", "hi\n")]);
    h.api.put(generator(json!([artifact("app", "deploy")])));
    h.reconcile().await.unwrap();
    h.api.take();
    h
}

async fn create_fetch_build_publish() {
    let mut h = Harness::new().await;
    let source = h.commit(&[("deploy/app.yaml", "kind: ConfigMap\n"), ("README.md", "hi\n")]);
    h.api.put(generator(json!([artifact("app", "deploy")])));

    let action = h.reconcile().await.unwrap();

    assert!(is_hourly(&action), "{action:?}");
    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status", // Reconciling
            "PATCH externalartifacts/app",
            "PATCH externalartifacts/app/status",
            "PATCH artifactgenerators/gen/status", // Ready, inventory
            "POST events",                         // external artifacts reconciled
        ]
    );
    let published = h.published("app");
    assert_eq!(published.revision, source.revision, "revision: @repo");
    let archives = h.archives("app");
    assert_eq!(archives.len(), 1);
    assert_eq!(
        unpack(&archives[0]),
        [("app.yaml".to_owned(), "kind: ConfigMap\n".to_owned())]
    );
    h.ctx.storage().verify_artifact(&published).await.unwrap();

    let g = h.generator();
    let status = g.status.clone().unwrap();
    assert_eq!(status.inventory.len(), 1);
    let entry = &status.inventory[0];
    assert_eq!((entry.name.as_str(), entry.namespace.as_str()), ("app", "apps"));
    assert_eq!(entry.digest, published.digest);
    assert_eq!(
        format!("externalartifact/apps/app/{}", entry.filename),
        published.path
    );
    assert!(status.observed_sources_digest.starts_with("sha256:"));
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("True".into(), "Succeeded".into()))
    );
    assert_eq!(condition(&status.conditions, "Reconciling"), None);
    let ea = h.external_artifact("app").unwrap();
    assert_eq!(
        ea.metadata.labels.unwrap()["source.extensions.fluxcd.io/generator"],
        "gen-uid"
    );
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "Normal");
    assert!(events[0].2.contains("apps/app"), "{events:?}");
}

#[tokio::test]
async fn a_new_generator_is_fetched_built_published_and_recorded() {
    create_fetch_build_publish().await;
}

async fn source_revision_change() {
    let mut h = built().await;
    let before = h.published("app");
    let source = h.commit(&[("deploy/app.yaml", "kind: Secret\n")]);

    h.reconcile().await.unwrap();

    let requests = h.api.take();
    assert_eq!(
        requests[..5],
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status",
            "PATCH externalartifacts/app",
            "PATCH externalartifacts/app/status",
            "PATCH artifactgenerators/gen/status",
        ]
    );
    assert!(requests[5].ends_with(" events"), "{requests:?}");
    let after = h.published("app");
    assert_eq!(after.revision, source.revision);
    assert_ne!(after.digest, before.digest);
    assert_eq!(h.generator().status.unwrap().inventory[0].digest, after.digest);
}

#[tokio::test]
async fn a_new_source_revision_is_rebuilt_and_published() {
    source_revision_change().await;
}

async fn no_change() {
    let h = built().await;
    let published = h.api.get(&external_artifact_path("app")).unwrap();
    let generator = h.api.get(GENERATOR).unwrap();
    let archives = h.archives("app");
    let modified = std::fs::metadata(&archives[0]).unwrap().modified().unwrap();

    let action = h.reconcile().await.unwrap();

    assert!(is_hourly(&action));
    // Reads only: the source, and the ExternalArtifacts for drift.
    assert_eq!(
        h.api.take(),
        ["GET gitrepositories/repo", "LIST externalartifacts"]
    );
    assert_eq!(h.api.get(&external_artifact_path("app")).unwrap(), published);
    assert_eq!(h.api.get(GENERATOR).unwrap(), generator);
    assert_eq!(h.archives("app"), archives);
    assert_eq!(
        std::fs::metadata(&archives[0]).unwrap().modified().unwrap(),
        modified
    );
}

#[tokio::test]
async fn an_unchanged_generator_writes_nothing() {
    no_change().await;
}

async fn requested_reconcile() {
    let h = built().await;
    h.api.edit(GENERATOR, |g| {
        g["metadata"]["annotations"] = json!({ "reconcile.fluxcd.io/requestedAt": "2026-01-01T10:00:00Z" });
    });

    h.reconcile().await.unwrap();

    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "LIST externalartifacts",
            "PATCH artifactgenerators/gen/status"
        ]
    );
    let status = h.generator().status.unwrap();
    assert_eq!(
        status.last_handled_reconcile_at.as_deref(),
        Some("2026-01-01T10:00:00Z")
    );
}

#[tokio::test]
async fn a_requested_reconcile_is_recorded_without_a_rebuild() {
    requested_reconcile().await;
}

async fn deletion() {
    let h = built().await;
    assert!(h.storage_dir("app").is_dir());
    h.api.edit(GENERATOR, |g| {
        g["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z")
    });

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.api.take(),
        [
            "LIST externalartifacts",
            "DELETE externalartifacts/app",
            "PATCH artifactgenerators/gen", // the finalizer removed
        ]
    );
    assert!(h.external_artifact("app").is_none());
    assert!(!h.storage_dir("app").exists());
    assert!(h.generator().metadata.finalizers.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn deleting_a_generator_removes_its_external_artifacts_and_storage() {
    deletion().await;
}

async fn deletion_with_failures() {
    let h = built().await;
    h.api.edit(GENERATOR, |g| {
        g["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z")
    });
    h.api
        .fail_next(Method::DELETE, &external_artifact_path("app"), 500);

    h.reconcile().await.unwrap();

    assert!(h.generator().metadata.finalizers.unwrap_or_default().is_empty());
    assert!(!h.storage_dir("app").exists(), "the storage goes even so");
}

#[tokio::test]
async fn a_failed_cleanup_does_not_block_deletion() {
    deletion_with_failures().await;
}

async fn new_generator_gets_finalizer() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["metadata"].as_object_mut().unwrap().remove("finalizers");
    h.api.put(g);

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change());
    assert_eq!(h.api.take(), ["PATCH artifactgenerators/gen"]);
    assert_eq!(h.generator().metadata.finalizers.unwrap(), [FINALIZER]);
}

#[tokio::test]
async fn a_new_generator_gets_the_finalizer_first() {
    new_generator_gets_finalizer().await;
}

async fn cross_namespace() {
    let mut h = Harness::with_settings(Settings {
        no_cross_namespace_refs: true,
        http_retry: 0,
        ..Settings::default()
    })
    .await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["spec"]["sources"][0]["namespace"] = json!("other");
    h.api.put(g);

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change(), "no retry until the spec changes");
    assert_eq!(
        h.api.take(),
        ["PATCH artifactgenerators/gen/status", "POST events"]
    );
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("False".into(), "AccessDenied".into()))
    );
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        Some(("True".into(), "AccessDenied".into()))
    );
    let events = h.events();
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("Warning", "AccessDenied")
    );
    assert!(events[0].2.contains("other/repo"), "{events:?}");
    assert!(h.external_artifact("app").is_none());
}

#[tokio::test]
async fn a_cross_namespace_source_is_refused_when_asked() {
    cross_namespace().await;
}

async fn disabled() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["metadata"]["annotations"] = json!({ RECONCILE_ANNOTATION: "Disabled" });
    h.api.put(g);

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change());
    // No source read, nothing built or published.
    assert_eq!(
        h.api.take(),
        ["PATCH artifactgenerators/gen/status", "POST events"]
    );
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("True".into(), "ReconciliationDisabled".into()))
    );
    assert!(h.external_artifact("app").is_none());

    h.reconcile().await.unwrap();
    let again = h.api.take();
    assert!(again.iter().all(|r| r.ends_with(" events")), "{again:?}");
}

#[tokio::test]
async fn a_disabled_generator_is_not_reconciled() {
    disabled().await;
}

async fn orphan() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n"), ("extra/x.yaml", "b: 2\n")]);
    h.api.put(generator(json!([
        artifact("app", "deploy"),
        artifact("extra", "extra")
    ])));
    h.reconcile().await.unwrap();
    assert!(h.storage_dir("extra").is_dir());
    h.api.take();

    h.edit_spec(|spec| spec["artifacts"] = json!([artifact("app", "deploy")]));
    h.reconcile().await.unwrap();

    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status",
            "PATCH externalartifacts/app", // unchanged: no status write
            "DELETE externalartifacts/extra",
            "PATCH artifactgenerators/gen/status",
        ]
    );
    assert!(h.external_artifact("extra").is_none());
    assert!(!h.storage_dir("extra").exists());
    let inventory = h.generator().status.unwrap().inventory;
    assert_eq!(
        inventory.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["app"]
    );
}

#[tokio::test]
async fn an_artifact_dropped_from_the_spec_is_removed() {
    orphan().await;
}

async fn source_not_ready() {
    let h = Harness::new().await;
    h.set_source(None);
    h.api.put(generator(json!([artifact("app", "deploy")])));

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status",
            "POST events"
        ]
    );
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("False".into(), "SourceFetchFailed".into()))
    );
    assert_eq!(condition(&status.conditions, "Stalled"), None);
    assert!(h.events()[0].2.contains("is not ready"), "{:?}", h.events());
}

#[tokio::test]
async fn a_source_not_ready_is_waited_for() {
    source_not_ready().await;
}

async fn source_missing() {
    let h = Harness::new().await;
    h.api.put(generator(json!([artifact("app", "deploy")])));

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("False".into(), "SourceFetchFailed".into()))
    );
}

#[tokio::test]
async fn a_missing_source_is_waited_for() {
    source_missing().await;
}

async fn source_unfetchable() {
    let mut h = Harness::new().await;
    let mut source = h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    source.digest = format!("sha256:{}", "0".repeat(64));
    h.set_source(Some(&source));
    h.api.put(generator(json!([artifact("app", "deploy")])));

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::requeue(Duration::from_secs(5)));
    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status", // Reconciling
            "PATCH artifactgenerators/gen/status", // SourceFetchFailed
            "POST events",
        ]
    );
    assert!(h.external_artifact("app").is_none());
    assert!(h.archives("app").is_empty());
}

#[tokio::test]
async fn a_source_whose_digest_does_not_match_is_not_built() {
    source_unfetchable().await;
}

async fn status_conflict() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    h.api.put(generator(json!([artifact("app", "deploy")])));
    h.api
        .fail_next(Method::PATCH, &format!("{GENERATOR}/status"), 409);

    let error = h.reconcile().await.unwrap_err();

    assert!(
        matches!(&error, ReconcileError::Api(e) if e.is_conflict()),
        "{error:?}"
    );
    let action = error_policy(Arc::new(h.generator()), &error, Arc::clone(&h.ctx));
    assert_eq!(action, Action::requeue(Duration::from_millis(750)));
    assert_eq!(
        h.api.take(),
        ["GET gitrepositories/repo", "PATCH artifactgenerators/gen/status"]
    );

    // The retry goes through.
    h.reconcile().await.unwrap();
    assert!(h.external_artifact("app").is_some());
}

#[tokio::test]
async fn a_conflict_on_the_status_is_retried_with_backoff() {
    status_conflict().await;
}

async fn corrupt_file() {
    let h = built().await;
    let published = h.api.get(&external_artifact_path("app")).unwrap();
    let archive = h.archives("app").remove(0);
    std::fs::write(&archive, b"not what was published").unwrap();

    h.reconcile().await.unwrap();

    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "PATCH artifactgenerators/gen/status", // Reconciling
            "PATCH externalartifacts/app",         // the same artifact: no status write
            "PATCH artifactgenerators/gen/status", // Ready
        ]
    );
    let artifact = h.published("app");
    h.ctx.storage().verify_artifact(&artifact).await.unwrap();
    assert_eq!(
        h.api.get(&external_artifact_path("app")).unwrap()["status"],
        published["status"]
    );
}

#[tokio::test]
async fn a_corrupt_stored_file_is_rebuilt() {
    corrupt_file().await;
}

async fn terminal_build_error() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["spec"]["artifacts"][0]["copy"][0]["from"] = json!("@repo/deploy/[a");
    h.api.put(g);

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change());
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        Some(("True".into(), "BuildFailed".into()))
    );
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("False".into(), "BuildFailed".into()))
    );
    assert_eq!(h.events()[0].0, "Warning");
}

#[tokio::test]
async fn a_terminal_build_error_stalls_the_generator() {
    terminal_build_error().await;
}

async fn retryable_build_error() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    h.api.put(generator(json!([artifact("app", "missing")])));

    let error = h.reconcile().await.unwrap_err();

    assert!(matches!(error, ReconcileError::Build { .. }), "{error:?}");
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Ready"),
        Some(("False".into(), "BuildFailed".into()))
    );
    assert_eq!(condition(&status.conditions, "Stalled"), None);
}

#[tokio::test]
async fn a_build_error_the_next_revision_may_fix_is_retried() {
    retryable_build_error().await;
}

async fn invalid_spec() {
    let h = Harness::new().await;
    let mut g = generator(json!([artifact("app", "deploy"), artifact("app", "deploy")]));
    g["spec"]["sources"][0]["alias"] = json!("repo");
    h.api.put(g);

    let action = h.reconcile().await.unwrap();

    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.api.take(),
        ["PATCH artifactgenerators/gen/status", "POST events"]
    );
    let status = h.generator().status.unwrap();
    assert_eq!(
        condition(&status.conditions, "Stalled"),
        Some(("True".into(), "ValidationFailed".into()))
    );
}

#[tokio::test]
async fn an_invalid_spec_stalls_the_generator() {
    invalid_spec().await;
}

async fn external_artifact_deleted() {
    let h = built().await;
    h.api.remove(&external_artifact_path("app"));

    h.reconcile().await.unwrap();

    assert_eq!(
        h.api.take(),
        [
            "GET gitrepositories/repo",
            "LIST externalartifacts", // one missing: drift
            "PATCH artifactgenerators/gen/status",
            "PATCH externalartifacts/app",
            "PATCH externalartifacts/app/status",
            "PATCH artifactgenerators/gen/status",
        ]
    );
    assert!(h.external_artifact("app").is_some());
}

#[tokio::test]
async fn an_external_artifact_deleted_behind_the_controllers_back_is_restored() {
    external_artifact_deleted().await;
}

async fn external_artifact_changed() {
    let h = built().await;
    let published = h.published("app");
    h.api.edit(&external_artifact_path("app"), |ea| {
        ea["status"]["artifact"]["digest"] = json!(format!("sha256:{}", "1".repeat(64)));
    });

    h.reconcile().await.unwrap();

    assert_eq!(h.published("app"), published);
}

#[tokio::test]
async fn an_external_artifact_changed_behind_the_controllers_back_is_restored() {
    external_artifact_changed().await;
}

async fn retention() {
    let mut h = built().await;
    for revision in 2..=4 {
        h.commit(&[("deploy/app.yaml", &format!("replicas: {revision}\n"))]);
        h.reconcile().await.unwrap();
    }

    // --artifact-retention-records defaults to 2: the newest and the one before.
    let kept = h.archives("app");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&h.storage_root.path().join(h.published("app").path)));
}

#[tokio::test]
async fn old_artifacts_are_garbage_collected() {
    retention().await;
}

async fn external_artifact_source() {
    let mut h = Harness::new().await;
    let upstream = h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    h.api.put(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
        "metadata": { "name": "upstream", "namespace": "apps" },
        "spec": {},
        "status": { "artifact": upstream },
    }));
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["spec"]["sources"][0] = json!({ "alias": "repo", "kind": "ExternalArtifact", "name": "upstream" });
    h.api.put(g);

    h.reconcile().await.unwrap();

    assert_eq!(h.api.take()[0], "GET externalartifacts/upstream");
    assert_eq!(h.published("app").revision, upstream.revision);
}

#[tokio::test]
async fn an_external_artifact_can_be_a_source() {
    external_artifact_source().await;
}

async fn every_source_kind() {
    let mut h = Harness::new().await;
    let commit = h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    for (kind, plural) in [
        ("OCIRepository", "ocirepositories"),
        ("Bucket", "buckets"),
        ("HelmChart", "helmcharts"),
    ] {
        h.api.put(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind,
            "metadata": { "name": plural, "namespace": "apps" },
            "spec": {},
            "status": { "artifact": commit },
        }));
        let alias = plural.trim_end_matches('s');
        g["spec"]["sources"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "alias": alias, "kind": kind, "name": plural }));
    }
    h.api.put(g);

    h.reconcile().await.unwrap();

    assert_eq!(
        h.api.take()[..4],
        [
            "GET gitrepositories/repo",
            "GET ocirepositories/ocirepositories",
            "GET buckets/buckets",
            "GET helmcharts/helmcharts",
        ]
    );
    assert!(h.external_artifact("app").is_some());
}

#[tokio::test]
async fn every_source_kind_is_read() {
    every_source_kind().await;
}

async fn controller_run() {
    let mut h = Harness::new().await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    let mut g = generator(json!([artifact("app", "deploy")]));
    g["metadata"].as_object_mut().unwrap().remove("finalizers");
    h.api.put(g);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(run(Arc::clone(&h.ctx), async move {
        let _ = stopped.await;
    }));

    let mut expected: Vec<String> = [
        "artifactgenerators",
        "gitrepositories",
        "ocirepositories",
        "buckets",
        "helmcharts",
        "externalartifacts",
    ]
    .iter()
    .flat_map(|plural| [format!("LIST {plural}"), format!("WATCH {plural}")])
    .collect();
    // The generator listed is reconciled: its finalizer comes first.
    expected.push("PATCH artifactgenerators/gen".to_owned());
    let mut seen = Vec::new();
    for _ in 0..2000 {
        seen.extend(h.api.take());
        if expected.iter().all(|e| seen.contains(e)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    let missing: Vec<&String> = expected.iter().filter(|e| !seen.contains(e)).collect();
    assert!(
        missing.is_empty(),
        "not requested: {missing:?}; requests: {seen:?}"
    );
    assert_eq!(h.generator().metadata.finalizers.unwrap(), [FINALIZER]);
}

#[tokio::test]
async fn the_controller_watches_generators_and_sources_until_shut_down() {
    controller_run().await;
}

#[tokio::test]
async fn invalid_settings_are_refused_before_anything_is_watched() {
    let h = Harness::with_settings(Settings {
        interval_jitter_percentage: 100,
        ..Settings::default()
    })
    .await;
    let error = run(Arc::clone(&h.ctx), std::future::pending()).await.unwrap_err();
    assert!(
        error.to_string().contains("--interval-jitter-percentage"),
        "{error}"
    );
    assert!(h.api.take().is_empty());
}

/// `deploy/rbac.yaml` grants what every flow above asks the API server for, with the
/// leader election's Lease requests (get, create, update) and Event patches (repeats) of
/// the process, and nothing else.
#[test]
fn the_rbac_manifest_grants_exactly_what_the_controller_asks_for() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        create_fetch_build_publish().await;
        source_revision_change().await;
        no_change().await;
        requested_reconcile().await;
        deletion().await;
        deletion_with_failures().await;
        new_generator_gets_finalizer().await;
        cross_namespace().await;
        disabled().await;
        orphan().await;
        source_not_ready().await;
        source_missing().await;
        source_unfetchable().await;
        status_conflict().await;
        corrupt_file().await;
        terminal_build_error().await;
        retryable_build_error().await;
        invalid_spec().await;
        external_artifact_source().await;
        external_artifact_deleted().await;
        external_artifact_changed().await;
        retention().await;
        timeout().await;
        every_source_kind().await;
        controller_run().await;
    });
    let triple = |g: &str, r: &str, v: &str| (g.to_owned(), r.to_owned(), v.to_owned());
    let mut cluster_wide: BTreeSet<Grant> = PERMISSIONS
        .lock()
        .unwrap()
        .iter()
        .map(|(group, resource, verb, _)| (group.clone(), resource.clone(), verb.clone()))
        .collect();
    cluster_wide.insert(triple("events.k8s.io", "events", "create"));
    cluster_wide.insert(triple("events.k8s.io", "events", "patch"));
    let leases: BTreeSet<_> = ["get", "create", "update"]
        .iter()
        .map(|verb| triple("coordination.k8s.io", "leases", verb))
        .collect();

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml")).unwrap();
    let documents: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let rbac = rbac::parse(&documents);
    assert_eq!(
        rbac.service_account,
        ("flux-system".to_owned(), "artifact-generator".to_owned())
    );
    let mut granted: BTreeMap<(String, Option<String>), BTreeSet<Grant>> = BTreeMap::new();
    for role in &rbac.roles {
        for rule in &role.rules {
            assert!(rule.resource_names.is_empty());
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    assert!(!resource.contains("secrets") && resource != "*", "{resource}");
                    for verb in &rule.verbs {
                        assert_ne!(verb, "*");
                        granted
                            .entry((role.kind.clone(), role.namespace.clone()))
                            .or_default()
                            .insert(triple(group, resource, verb));
                    }
                }
            }
        }
    }
    assert_eq!(
        granted.keys().cloned().collect::<Vec<_>>(),
        [
            ("ClusterRole".to_owned(), None),
            ("Role".to_owned(), Some("flux-system".to_owned()))
        ]
    );
    assert_eq!(
        granted[&("ClusterRole".to_owned(), None)],
        cluster_wide,
        "the ClusterRole"
    );
    assert_eq!(
        granted[&("Role".to_owned(), Some("flux-system".to_owned()))],
        leases,
        "the Role"
    );
}

async fn timeout() {
    let mut h = Harness::with_settings(Settings {
        reconciliation_timeout: Duration::from_millis(200),
        http_retry: 0,
        ..Settings::default()
    })
    .await;
    // A source server that accepts the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let mut source = h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    source.url = format!("http://{address}/gitrepository/apps/repo/source.tar.gz");
    h.set_source(Some(&source));
    h.api.put(generator(json!([artifact("app", "deploy")])));

    let error = h.reconcile().await.unwrap_err();

    assert!(
        matches!(error, ReconcileError::Timeout(limit) if limit == Duration::from_millis(200)),
        "{error:?}"
    );
    assert!(h.external_artifact("app").is_none());
}

#[tokio::test]
async fn a_reconcile_that_takes_too_long_is_cancelled() {
    timeout().await;
}

#[tokio::test]
async fn reconciles_are_measured_per_generator() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ReconcileMetrics::new(&mut registry);
    let mut h = Harness::with_context(
        Settings {
            http_retry: 0,
            ..Settings::default()
        },
        |ctx| ctx.with_metrics(metrics),
    )
    .await;
    h.commit(&[("deploy/app.yaml", "a: 1\n")]);
    h.api.put(generator(json!([artifact("app", "deploy")])));

    h.reconcile().await.unwrap();

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("gotk_reconcile_duration_seconds_count"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("name=\"gen\"") && line.contains("namespace=\"apps\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
}
