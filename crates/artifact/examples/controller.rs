//! An ExternalArtifact producer on a kube-rs `Controller`: it publishes the files listed
//! in each `PodinfoSource` (`example.com/v1`, the example's own kind) as a Flux artifact
//! that kustomize-controller and helm-controller can consume.
//!
//! What it shows, in the order it runs:
//!
//! - flags: the SDK's `Options` (`--storage-path`, `--storage-addr`, …) beside Flux's
//!   `--health-addr`, `--metrics-addr`, `--events-addr` and leader election flags, in
//!   Go's syntax;
//! - `/healthz`, `/readyz` (ready once this replica leads and its start-up checks passed)
//!   and `/metrics` (reconcile and archive metrics);
//! - the leader gate: the integrity check, the orphan sweep, then the Controller and the
//!   artifact server; a lost lease exits non-zero, SIGTERM or Ctrl-C stops both gracefully
//!   and releases the lease;
//! - per object: the finalizer; the files archived from memory (no staging copy) under a
//!   content-addressed name, so that an unchanged object writes nothing; the
//!   ExternalArtifact published, with an event when it changed; old artifacts collected;
//!   Flux's conditions on the object; retries with backoff, requeues with jitter;
//! - on deletion, the finalizer removes the object's storage.
//!
//! # Running it
//!
//! Compiled and its reconciler tested against kube's mock API (`cargo test -p
//! flux-artifact --example controller --features kube,metrics`); **not run against a
//! cluster here**. It needs:
//!
//! - a cluster with Flux's ExternalArtifact CRD (Flux 2.7 or later, or `cargo run -p
//!   flux-artifact-kube --example print_crd | kubectl apply -f -`) and this example's
//!   CRD (`cargo run -p flux-artifact --example controller --features kube,metrics --
//!   --print-crd | kubectl apply -f -`);
//! - the permissions of `docs/kubernetes/rbac.yaml`, which are written for this kind,
//!   the `podinfo-controller` ServiceAccount and the `flux-system` namespace (run it as
//!   that ServiceAccount, or as yourself with more);
//! - `cargo run -p flux-artifact --example controller --features kube,metrics --
//!   --storage-path=/tmp/artifacts --storage-adv-addr=localhost:9090` with a kubeconfig
//!   for the cluster. `docs/kubernetes.md` ("The example controller") has a session on a
//!   kind cluster.

use std::{collections::BTreeMap, process::ExitCode, sync::Arc, time::Duration};

use clap::{ArgAction, Parser};
use flux_artifact::{
    config::{Options, parse_duration, parse_go_bool},
    kube::{ExternalArtifact, Publisher, VerifyOptions, conditions::reason, verify_stored_artifacts},
    runtime::{
        ErrorChain,
        backoff::{Jitter, RetryBackoff},
        cleanup::{ArtifactFinalizer, FinalizerError, OrphanSweep},
        endpoint::{Endpoint, Readiness, ReadinessCheck},
        events::{Event, EventRecorder},
        leader::LeaderElection,
        metrics::ReconcileMetrics,
        status::{ReconcileStatus, StatusWriter},
    },
    server::Server,
    storage::{ArchiveEntries, ArchiveEntryError, ArchiveMetrics, ArchiveSource, AsyncStorage, Storage},
};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, Client, CustomResource, CustomResourceExt, ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};
use prometheus_client::registry::Registry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The controller's name: field manager, `managed-by` label, event reporter, lease prefix.
const CONTROLLER: &str = "podinfo-controller";
/// The finalizer that removes an object's storage when it is deleted.
const FINALIZER: &str = "example.com/finalizer";
/// How often an unchanged object is reconciled again (e.g. to rebuild a lost file).
const INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How long one garbage collection may take.
const GC_TIMEOUT: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Files to publish as a Flux artifact: the example's own kind.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "PodinfoSource",
    namespaced,
    status = "PodinfoSourceStatus"
)]
struct PodinfoSourceSpec {
    /// The artifact's files: path in the archive, and content.
    files: BTreeMap<String, String>,
}

/// Flux's conditions, and the generation they describe.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PodinfoSourceStatus {
    #[serde(default)]
    conditions: Vec<Condition>,
    observed_generation: Option<i64>,
}

impl ReconcileStatus for PodinfoSource {
    const OBSERVED_GENERATION: bool = true;

    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |status| &status.conditions)
    }

    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref()?.observed_generation
    }
}

/// Publishes the files of PodinfoSource objects as Flux ExternalArtifacts.
#[derive(Debug, Parser)]
#[command(name = CONTROLLER)]
struct Cli {
    #[command(flatten)]
    artifact: Options,
    /// The address the metric endpoint binds to.
    #[arg(long, default_value = ":8080")]
    metrics_addr: String,
    /// The address the health endpoint binds to.
    #[arg(long, default_value = ":9440")]
    health_addr: String,
    /// The address of the events receiver (notification-controller); empty: Kubernetes
    /// Events only.
    #[arg(long, default_value = "")]
    events_addr: String,
    /// The namespace of the leader election lease: the controller's own.
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "flux-system")]
    runtime_namespace: String,
    /// How long other replicas wait for a silent leader before taking the lease.
    #[arg(long, value_name = "DURATION", default_value = "35s", value_parser = parse_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader tries to renew the lease before giving up leading.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    leader_election_renew_deadline: Duration,
    /// How often replicas try to take the lease, and the leader renews it.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    leader_election_retry_period: Duration,
    /// Release the lease on shutdown, so that another replica leads at once.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    leader_election_release_on_cancel: bool,
    /// The log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
    /// Print the PodinfoSource CustomResourceDefinition (JSON) and exit.
    #[arg(long)]
    print_crd: bool,
}

/// What every reconcile shares.
struct Context {
    storage: AsyncStorage,
    publisher: Publisher,
    finalizer: ArtifactFinalizer<PodinfoSource>,
    status: StatusWriter,
    recorder: EventRecorder,
    backoff: RetryBackoff,
    jitter: Jitter,
    metrics: ReconcileMetrics,
}

impl Context {
    fn new(client: &Client, storage: Storage, recorder: EventRecorder, metrics: ReconcileMetrics) -> Self {
        // The ExternalArtifact has the object's name; naming it here covers a foreground
        // deletion, where it is gone before the finalizer runs.
        let finalizer = ArtifactFinalizer::new(client.clone(), storage.clone(), FINALIZER)
            .with_inventory(|source: &PodinfoSource| vec![source.name_any()]);
        Context {
            storage: AsyncStorage::new(storage),
            publisher: Publisher::new(client.clone(), CONTROLLER),
            finalizer,
            status: StatusWriter::new(client.clone(), CONTROLLER),
            recorder,
            // Flux's defaults: retries after 750ms doubling up to 15m, requeues ±5%.
            backoff: RetryBackoff::default(),
            jitter: Jitter::default(),
            metrics,
        }
    }
}

/// What a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// A file the spec lists cannot be in an archive: only a spec change can fix it.
    #[error(transparent)]
    InvalidFile(#[from] ArchiveEntryError),
    #[error(transparent)]
    Storage(#[from] flux_artifact::storage::Error),
    #[error(transparent)]
    Kube(#[from] flux_artifact::kube::Error),
}

async fn reconcile(source: Arc<PodinfoSource>, ctx: Arc<Context>) -> Result<Action, FinalizerError<Error>> {
    let timer = ctx.metrics.start(&*source);
    // Adds the finalizer first; once the object is deleted, removes its storage instead.
    let result = ctx
        .finalizer
        .reconcile(Arc::clone(&source), |source| apply(source, &ctx))
        .await;
    timer.finish(&result);
    if result.is_ok() && source.metadata.deletion_timestamp.is_some() {
        ctx.metrics.forget(&*source);
        ctx.backoff.reset(&*source);
    }
    result
}

fn error_policy(source: Arc<PodinfoSource>, _: &FinalizerError<Error>, ctx: Arc<Context>) -> Action {
    // 750ms, 1.5s, 3s, … for this object; the error is logged from the Controller's stream.
    Action::requeue(ctx.backoff.next_delay(&*source))
}

/// Publishes the object's files, and records the outcome in its conditions and events.
async fn apply(source: Arc<PodinfoSource>, ctx: &Context) -> Result<Action, Error> {
    let mut source = Arc::unwrap_or_clone(source);
    // A new generation is marked as being reconciled, as in Flux; an unchanged object is
    // not, so that its reconcile writes nothing.
    if source.observed_generation() != source.metadata.generation {
        ctx.status.progressing(&mut source, "building artifact").await?;
    }
    match publish(&source, ctx).await {
        Ok(revision) => {
            let message = format!("stored artifact for revision '{revision}'");
            ctx.status.succeeded(&mut source, message).await?;
            ctx.backoff.reset(&source);
            Ok(Action::requeue(ctx.jitter.apply(INTERVAL)))
        }
        Err(error @ Error::InvalidFile(_)) => {
            // Stalled: no retry until the spec changes.
            let message = ErrorChain(&error).to_string();
            ctx.status
                .stalled(&mut source, reason::BUILD_FAILED, &message)
                .await?;
            ctx.recorder
                .record(&source, Event::warning(reason::BUILD_FAILED, message))
                .await;
            Ok(Action::await_change())
        }
        Err(error) => {
            let message = ErrorChain(&error).to_string();
            ctx.status
                .failed(&mut source, reason::ARTIFACT_FAILED, &message)
                .await?;
            ctx.recorder
                .record(&source, Event::warning(reason::ARTIFACT_FAILED, message))
                .await;
            Err(error)
        }
    }
}

/// Archives the object's files, publishes the archive as its ExternalArtifact (of the
/// same name) and collects its old archives; returns the revision.
async fn publish(source: &PodinfoSource, ctx: &Context) -> Result<String, Error> {
    let mut entries = ArchiveEntries::new();
    for (path, content) in &source.spec.files {
        entries.add_bytes(path, content.as_bytes())?;
    }
    // `<digest>.tar.gz`: an unchanged object finds its file stored and writes nothing.
    let stored = ctx
        .storage
        .archive_content_addressed(
            "ExternalArtifact",
            &source.metadata,
            ArchiveSource::entries(entries),
        )
        .await?;
    let published = ctx
        .publisher
        .apply(source, &source.name_any(), &stored.artifact)
        .await?;
    // Published: the file no longer needs protecting from garbage collection.
    let artifact = stored.into_artifact();
    if published.status_updated {
        // About the ExternalArtifact, which Flux Alerts can select (they cannot select
        // a kind of ours): Kubernetes Event, and notification-controller with --events-addr.
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        let event = Event::normal("NewArtifact", message).with_revision(&artifact.revision);
        ctx.recorder.record(&published.object, event).await;
    }
    // Keeps the newest `--artifact-retention-records` within `--artifact-retention-ttl`.
    match ctx.storage.garbage_collect(&artifact, GC_TIMEOUT).await {
        Ok(deleted) if !deleted.is_empty() => tracing::info!(?deleted, "garbage collected old artifacts"),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %ErrorChain(&error), "garbage collection failed"),
    }
    Ok(artifact.revision)
}

/// The leader's work: the start-up checks, then the artifact server and the Controller
/// until `stop` is cancelled.
async fn lead(
    stop: CancellationToken,
    client: Client,
    ctx: Arc<Context>,
    options: &Options,
    ready: ReadinessCheck,
) -> Result<(), BoxError> {
    let storage = ctx.storage.storage();
    let selector = ctx.publisher.label_selector();
    // 1. Every artifact published before still has its digest. Corrupt files are removed;
    //    the first reconcile of their objects writes them again, and missing ones too.
    let verify = VerifyOptions::new(&selector).remove_corrupt(true);
    let _ = verify_stored_artifacts(&client, storage, &verify).await?; // logs its report
    // 2. The storage of objects deleted while no controller ran.
    let _ = OrphanSweep::new(&selector).run(&client, storage).await?; // logs its report

    // 3. Only the leader serves, since only its storage has the files.
    let server = Server::bind(options).await?;
    ready.set_ready(true);
    let sources = Api::<PodinfoSource>::all(client.clone());
    let published = Api::<ExternalArtifact>::all(client);
    let controller = Controller::new(sources, watcher::Config::default())
        // Reconciles an owner again when someone changes its ExternalArtifact.
        .owns(published, watcher::Config::default().labels(&selector))
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(async |result| {
            if let Err(error) = result {
                tracing::warn!(error = %ErrorChain(&error), "controller error");
            }
        });
    // Both stop on `stop`; a server that fails stops the work at once.
    let controller = async {
        controller.await;
        Ok(())
    };
    tokio::try_join!(controller, server.serve(stop.cancelled_owned()))?;
    Ok(())
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    if cli.print_crd {
        println!("{}", serde_json::to_string_pretty(&PodinfoSource::crd())?);
        return Ok(());
    }
    let client = Client::try_default().await?;
    let shutdown = shutdown_signal()?;

    let mut registry = Registry::default();
    let archive_metrics = ArchiveMetrics::default();
    archive_metrics.register(&mut registry);
    // TODO(server metrics): once `flux_artifact::server::ServerMetrics` is on main, register
    // it here and attach it in `lead` with `Server::bind(options).await?.with_metrics(..)`.
    let storage = Storage::new(&cli.artifact)?.with_metrics(archive_metrics);
    let recorder = EventRecorder::new(client.clone(), CONTROLLER).with_events_addr(&cli.events_addr)?;
    let metrics = ReconcileMetrics::new(&mut registry);
    let ctx = Arc::new(Context::new(&client, storage, recorder, metrics));

    // Alive while the process serves; ready once it leads and the start-up checks passed.
    let readiness = Readiness::new();
    let leader = readiness.check("leader");
    let health = Endpoint::bind(&cli.health_addr).await?.with_readiness(readiness);
    let metrics = Endpoint::bind(&cli.metrics_addr)
        .await?
        .with_metrics(Arc::new(registry));
    let endpoints = tokio::spawn(futures::future::join(
        health.serve(shutdown.clone().cancelled_owned()),
        metrics.serve(shutdown.clone().cancelled_owned()),
    ));

    let election = LeaderElection::new(format!("{CONTROLLER}-leader-election"), &cli.runtime_namespace)
        .with_lease_duration(cli.leader_election_lease_duration)
        .with_renew_deadline(cli.leader_election_renew_deadline)
        .with_retry_period(cli.leader_election_retry_period)
        .with_release_on_cancel(cli.leader_election_release_on_cancel);
    let led = election
        .run(client.clone(), shutdown.clone().cancelled_owned(), |stop| {
            lead(stop, client, ctx, &cli.artifact, leader)
        })
        .await;
    // The work ended (shutdown, failure) or the lease was lost: stop the endpoints too.
    shutdown.cancel();
    endpoints.await?;
    // Err(LeadershipLost): exit non-zero, and the pod restarts into a new election.
    led?.unwrap_or(Ok(()))
}

/// A token cancelled on SIGTERM (the pod is stopping) or Ctrl-C.
fn shutdown_signal() -> std::io::Result<CancellationToken> {
    let mut terminate = signal(SignalKind::terminate())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
        cancel.cancel();
    });
    Ok(token)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt().with_max_level(cli.log_level).init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&*error), "exiting");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[path = "controller/tests.rs"]
mod tests;
