//! The leader gate against a scripted API server, on tokio's paused clock (sleeps take
//! no real time): acquire, renew, lose, release, and the requests each makes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{Exchange, finish, now_as_placeholder, scripted_client_waiting};
use flux_artifact_runtime::leader::{Error, LeaderElection, LossReason};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/flux-system/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/podinfo-leader-election";
/// A time the tests' leases were acquired, long before now.
const EARLIER: &str = "2026-11-24T09:00:00.000000Z";

fn election() -> LeaderElection {
    LeaderElection::new("podinfo-leader-election", "flux-system").with_identity("podinfo-7d4b9c-x2x5q")
}

/// The lease as the API server returns it.
fn lease(resource_version: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": "podinfo-leader-election",
            "namespace": "flux-system",
            "uid": "5b1e0c9a-0d6f-4f43-9a57-1b2c3d4e5f60",
            "resourceVersion": resource_version,
        },
        "spec": spec,
    })
}

/// A record of `holder`, renewed `renewed`.
fn held_by(holder: &str, transitions: i64, renewed: &str) -> Value {
    json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": 35,
        "acquireTime": EARLIER,
        "renewTime": renewed,
        "leaseTransitions": transitions,
    })
}

/// This replica's record as it writes it: acquired and renewed now.
fn acquired_now(transitions: i64) -> Value {
    json!({
        "holderIdentity": "podinfo-7d4b9c-x2x5q",
        "leaseDurationSeconds": 35,
        "acquireTime": "NOW",
        "renewTime": "NOW",
        "leaseTransitions": transitions,
    })
}

/// This replica's record renewed now, acquired `EARLIER`.
fn renewed_now(transitions: i64) -> Value {
    let mut spec = held_by("podinfo-7d4b9c-x2x5q", transitions, "NOW");
    spec["acquireTime"] = json!(EARLIER);
    spec
}

fn not_found() -> impl FnOnce(Exchange) -> Exchange {
    |e| {
        e.fail(
            404,
            "NotFound",
            "leases.coordination.k8s.io \"podinfo-leader-election\" not found",
        )
    }
}

/// The first acquisition of a lease that does not exist yet; the lease is then at
/// resource version 1.
fn create() -> Vec<Exchange> {
    vec![
        not_found()(Exchange::get(LEASE)),
        Exchange::post(
            &format!("{LEASES}?"),
            json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": { "name": "podinfo-leader-election", "namespace": "flux-system" },
                "spec": acquired_now(0),
            }),
        )
        .normalize(now_as_placeholder)
        .ok(lease("1", held_by("podinfo-7d4b9c-x2x5q", 0, EARLIER))),
    ]
}

/// A renewal of the lease at `version`, answered with `version + 1`.
fn renew(version: u32) -> Exchange {
    Exchange::put(&format!("{LEASE}?"), lease(&version.to_string(), renewed_now(0)))
        .normalize(now_as_placeholder)
        .ok(lease(
            &(version + 1).to_string(),
            held_by("podinfo-7d4b9c-x2x5q", 0, EARLIER),
        ))
}

/// The release of the lease at `version`: no holder, one second left.
fn release(version: u32) -> Exchange {
    let mut spec = held_by("podinfo-7d4b9c-x2x5q", 0, "NOW");
    spec.as_object_mut().unwrap().remove("holderIdentity");
    spec["leaseDurationSeconds"] = json!(1);
    Exchange::put(&format!("{LEASE}?"), lease(&version.to_string(), spec))
        .normalize(now_as_placeholder)
        .ok(lease(
            &(version + 1).to_string(),
            json!({ "leaseDurationSeconds": 1 }),
        ))
}

/// Runs `election` against `script` until it returns, checking the script was followed.
async fn run<T, F: Future<Output = T>>(
    election: LeaderElection,
    script: Vec<Exchange>,
    shutdown: impl Future<Output = ()>,
    work: impl FnOnce(CancellationToken) -> F,
) -> Result<Option<T>, Error> {
    // Virtual time: a day passes in no time if a request never comes.
    let (client, mut server) = scripted_client_waiting(script, Duration::from_secs(86_400));
    // An election retries failed requests forever: stop at the script's first failure.
    let result = tokio::select! {
        result = election.run(client.clone(), shutdown, work) => result,
        ended = &mut server => match ended {
            Err(panic) => std::panic::resume_unwind(panic.into_panic()),
            Ok(()) => panic!("the script ended and the election goes on"),
        },
    };
    finish(client, server).await;
    result
}

fn never() -> impl Future<Output = ()> {
    std::future::pending()
}

#[tokio::test(start_paused = true)]
async fn a_missing_lease_is_created_held_by_this_replica_and_the_work_runs() {
    let mut script = create();
    script.push(release(1));

    let result = run(election(), script, never(), async |_| 42).await;

    assert_eq!(result.unwrap(), Some(42));
}

#[tokio::test(start_paused = true)]
async fn the_leader_renews_every_retry_period_while_the_work_runs() {
    let mut script = create();
    script.extend([renew(1), renew(2)]);
    script.push(release(3));
    let start = Instant::now();

    let result = run(election(), script, never(), async |_| {
        sleep(Duration::from_secs(12)).await;
        start.elapsed()
    })
    .await;

    assert_eq!(result.unwrap(), Some(Duration::from_secs(12)));
}

/// Work that never ends by itself, keeping its token where the test can see it (as a
/// task it spawned would) and recording that its future was dropped.
struct Watched {
    token: Arc<Mutex<Option<CancellationToken>>>,
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Watched {
    fn new() -> Self {
        Watched {
            token: Arc::default(),
            dropped: Arc::default(),
        }
    }

    fn work(&self, stop: CancellationToken) -> impl Future<Output = ()> + use<> {
        *self.token.lock().unwrap() = Some(stop);
        let dropped = self.dropped.clone();
        async move {
            let _guard = SetOnDrop(dropped);
            never().await;
        }
    }

    fn cancelled(&self) -> bool {
        self.token.lock().unwrap().as_ref().unwrap().is_cancelled()
    }

    fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn a_lease_taken_by_another_replica_cancels_the_work_and_is_leadership_lost() {
    let mut script = create();
    script.extend([
        renew(1),
        renew(2).fail(
            409,
            "Conflict",
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"podinfo-leader-election\": the object has been modified",
        ),
        Exchange::get(LEASE).ok(lease("7", held_by("podinfo-7d4b9c-zz9kq", 1, EARLIER))),
        // No release: the lease is someone else's.
    ]);
    let watched = Watched::new();

    let result = run(election(), script, never(), |stop| watched.work(stop)).await;

    let error = result.unwrap_err();
    assert!(error.is_leadership_lost());
    match &error {
        Error::LeadershipLost { reason, identity, .. } => {
            assert_eq!(
                reason,
                &LossReason::TakenOver {
                    holder: "podinfo-7d4b9c-zz9kq".into()
                }
            );
            assert_eq!(identity, "podinfo-7d4b9c-x2x5q");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "lost the lease flux-system/podinfo-leader-election held as \"podinfo-7d4b9c-x2x5q\": \
         the lease is now held by \"podinfo-7d4b9c-zz9kq\""
    );
    assert!(watched.cancelled(), "the work's token was not cancelled");
    assert!(watched.dropped(), "the work was not dropped");
}

#[tokio::test(start_paused = true)]
async fn renewals_failing_until_the_renew_deadline_are_leadership_lost() {
    let mut script = create();
    // Attempts at 5, 10, 15, 20 and 25 s; at 30 s the deadline has passed.
    for _ in 0..5 {
        script.push(renew(1).fail(500, "InternalError", "etcdserver: request timed out"));
    }
    let watched = Watched::new();
    let start = Instant::now();

    let result = run(election(), script, never(), |stop| watched.work(stop)).await;

    let error = result.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert!(
        matches!(&error, Error::LeadershipLost { reason: LossReason::NotRenewed { deadline }, .. } if *deadline == Duration::from_secs(30)),
        "{error:?}"
    );
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("etcdserver: request timed out"), "{cause}");
    assert!(watched.cancelled());
    assert!(watched.dropped());
}

#[tokio::test(start_paused = true)]
async fn a_deleted_lease_is_leadership_lost() {
    let mut script = create();
    script.push(renew(1).fail(
        404,
        "NotFound",
        "leases.coordination.k8s.io \"podinfo-leader-election\" not found",
    ));

    let result = run(election(), script, never(), async |_| never().await).await;

    assert!(matches!(
        result.unwrap_err(),
        Error::LeadershipLost {
            reason: LossReason::Deleted,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_the_work_then_releases_the_lease_once_the_work_returns() {
    let mut script = create();
    script.push(renew(1));
    // The work takes 4 s to wind down after the shutdown at 7 s: one more renewal.
    script.push(renew(2));
    script.push(release(3));
    let start = Instant::now();

    let result = run(election(), script, sleep(Duration::from_secs(7)), async |stop| {
        stop.cancelled().await;
        let cancelled_at = start.elapsed();
        sleep(Duration::from_secs(4)).await;
        cancelled_at
    })
    .await;

    assert_eq!(result.unwrap(), Some(Duration::from_secs(7)));
}

#[tokio::test(start_paused = true)]
async fn without_release_on_cancel_the_lease_is_left_to_expire() {
    let script = create();

    let result = run(
        election().with_release_on_cancel(false),
        script,
        sleep(Duration::from_secs(1)),
        async |stop| stop.cancelled().await,
    )
    .await;

    assert_eq!(result.unwrap(), Some(()));
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_by_another_replica_is_taken_a_lease_duration_after_its_record_last_changed() {
    let other = |version: &str, renewed: &str| {
        Exchange::get(LEASE).ok(lease(version, held_by("podinfo-7d4b9c-zz9kq", 3, renewed)))
    };
    let mut script = vec![other("5", EARLIER), other("5", EARLIER)];
    // The holder renews at 10 s, then stops: its lease expires at 45 s by our clock,
    // whatever its renewTime says.
    for _ in 0..8 {
        script.push(other("6", "2026-11-24T09:00:10.000000Z"));
    }
    script.push(
        Exchange::put(&format!("{LEASE}?"), lease("6", acquired_now(4)))
            .normalize(now_as_placeholder)
            .ok(lease("8", held_by("podinfo-7d4b9c-x2x5q", 4, EARLIER))),
    );
    script.push(release(8).normalize(|body| {
        now_as_placeholder(body);
        // The release keeps the transitions count the takeover wrote.
        assert_eq!(body["spec"]["leaseTransitions"], 4);
        body["spec"]["leaseTransitions"] = json!(0);
    }));
    let start = Instant::now();

    let result = run(election(), script, never(), async |_| start.elapsed()).await;

    assert_eq!(result.unwrap(), Some(Duration::from_secs(45)));
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_taken_at_once() {
    let script = vec![
        Exchange::get(LEASE).ok(lease(
            "9",
            json!({ "leaseDurationSeconds": 1, "renewTime": EARLIER, "acquireTime": EARLIER, "leaseTransitions": 2 }),
        )),
        Exchange::put(&format!("{LEASE}?"), lease("9", acquired_now(3)))
            .normalize(now_as_placeholder)
            .ok(lease("10", held_by("podinfo-7d4b9c-x2x5q", 3, EARLIER))),
    ];

    let result = run(
        election().with_release_on_cancel(false),
        script,
        never(),
        async |_| (),
    )
    .await;

    assert_eq!(result.unwrap(), Some(()));
}

#[tokio::test(start_paused = true)]
async fn a_lease_this_replica_held_before_a_restart_is_renewed_at_once() {
    let script = vec![
        Exchange::get(LEASE).ok(lease("12", held_by("podinfo-7d4b9c-x2x5q", 0, EARLIER))),
        // Same holder: the acquire time and the transitions count stay.
        Exchange::put(&format!("{LEASE}?"), lease("12", renewed_now(0)))
            .normalize(now_as_placeholder)
            .ok(lease("13", held_by("podinfo-7d4b9c-x2x5q", 0, EARLIER))),
        release(13),
    ];

    let result = run(election(), script, never(), async |_| ()).await;

    assert_eq!(result.unwrap(), Some(()));
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_the_lease_is_acquired_runs_no_work() {
    let held = || Exchange::get(LEASE).ok(lease("5", held_by("podinfo-7d4b9c-zz9kq", 3, EARLIER)));
    let called = AtomicBool::new(false);

    let result = run(
        election(),
        vec![held(), held()],
        sleep(Duration::from_secs(7)),
        async |_| called.store(true, Ordering::SeqCst),
    )
    .await;

    assert_eq!(result.unwrap(), None);
    assert!(!called.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn losing_the_race_to_create_the_lease_waits_for_the_winner() {
    let mut script = create();
    script[1] = std::mem::replace(&mut script[1], Exchange::get(LEASE)).fail(
        409,
        "AlreadyExists",
        "leases.coordination.k8s.io \"podinfo-leader-election\" already exists",
    );
    script.push(Exchange::get(LEASE).ok(lease("2", held_by("podinfo-7d4b9c-zz9kq", 0, EARLIER))));

    let result = run(election(), script, sleep(Duration::from_secs(6)), async |_| ()).await;

    assert_eq!(result.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn api_errors_while_acquiring_are_retried() {
    let mut script = vec![Exchange::get(LEASE).fail(
        403,
        "Forbidden",
        "leases.coordination.k8s.io \"podinfo-leader-election\" is forbidden",
    )];
    script.extend(create());
    script.push(release(1));
    let start = Instant::now();

    let result = run(election(), script, never(), async |_| start.elapsed()).await;

    assert_eq!(result.unwrap(), Some(Duration::from_secs(5)));
}

#[tokio::test]
async fn invalid_settings_are_refused_before_any_request() {
    let result = run(
        election().with_retry_period(Duration::from_secs(30)),
        vec![],
        never(),
        async |_| (),
    )
    .await;

    assert!(matches!(
        result.unwrap_err(),
        Error::InvalidSetting {
            setting: "retry period",
            ..
        }
    ));
}
