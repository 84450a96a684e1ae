//! `artifact-generator run`: the controller process, as the Deployment starts it.
//!
//! In order: the flags are checked; the storage is opened and the advertised artifact
//! URL logged (with a warning when consumers in other pods could not reach it); the API
//! server must answer and serve the kinds watched ([`preflight`]); `/healthz`,
//! `/readyz` and `/metrics` start; then, once this replica leads (or at once without
//! `--enable-leader-election`), [`Leader::lead`]: the integrity check, the orphan sweep, the
//! artifact server and the controller. `/readyz` passes only from then on, so the
//! Service sends downloads to the leader alone. SIGTERM or Ctrl-C stops the controller
//! and the server gracefully and releases the lease; a lost lease exits with status 1.

mod args;
mod logging;
mod preflight;
mod selector;

use std::{process::ExitCode, sync::Arc};

use flux_artifact::{
    config::Options,
    kube::{Publisher, VerifyOptions, verify_stored_artifacts},
    runtime::{
        ErrorChain,
        cleanup::OrphanSweep,
        endpoint::{Endpoint, Readiness, ReadinessCheck},
        events::EventRecorder,
        leader::LeaderElection,
        metrics::ReconcileMetrics,
    },
    server::{Server, ServerMetrics},
    storage::{ArchiveMetrics, AsyncStorage, Storage},
};
use kube::Client;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

pub(crate) use self::args::{Conflict, RunArgs};
use artifact_generator::{
    CONTROLLER_NAME,
    controller::{self, Context, Settings, WatchScope},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the controller until it stops; logs why if it failed.
pub(crate) fn main(args: RunArgs) -> ExitCode {
    logging::init(args.log_level, args.log_encoding);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %ErrorChain(&error), "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %ErrorChain(&*error), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// Where the controller looks: from `--watch-all-namespaces`, `RUNTIME_NAMESPACE` and
/// `--watch-label-selector`.
#[derive(Debug, Clone)]
struct Scope {
    /// The controller's own namespace (the lease's).
    runtime_namespace: String,
    /// The one namespace watched, or all.
    namespace: Option<String>,
    label_selector: Option<String>,
}

async fn run(args: RunArgs) -> Result<(), BoxError> {
    let mut registry = Registry::default();
    let archive_metrics = ArchiveMetrics::default();
    archive_metrics.register(&mut registry);
    let server_metrics = ServerMetrics::new();
    server_metrics.register(&mut registry);
    let reconcile_metrics = ReconcileMetrics::new(&mut registry);

    let config = kube::Config::infer().await?;
    let api_url = config.cluster_url.to_string();
    let client = Client::try_from(config)?;
    let scope = scope(&args, &client);
    tracing::info!(
        api_server = %api_url,
        storage_path = %args.artifact.storage_path.display(),
        storage_addr = %args.artifact.storage_address,
        watch_namespace = scope.namespace.as_deref().unwrap_or("(all)"),
        runtime_namespace = %scope.runtime_namespace,
        label_selector = scope.label_selector.as_deref().unwrap_or(""),
        leader_election = args.enable_leader_election,
        concurrent = args.concurrent,
        feature_gates = %args.feature_gates(),
        "starting artifact-generator {}",
        env!("CARGO_PKG_VERSION"),
    );
    let storage = Storage::new(&args.artifact)?.with_metrics(archive_metrics);
    log_artifact_url(&storage);
    let version = preflight::check(&client, &api_url).await?;
    tracing::info!(api_server = %api_url, %version, "the API server serves ArtifactGenerators and Flux's sources");

    let shutdown = shutdown_signal()?;
    // Alive while the process runs; ready once it leads and its start-up checks passed.
    let readiness = Readiness::new();
    let leading = readiness.check("leader");
    let health = Endpoint::bind(&args.health_addr).await?.with_readiness(readiness);
    let metrics = Endpoint::bind(&args.metrics_addr)
        .await?
        .with_metrics(Arc::new(registry));
    tracing::info!(health = %health.local_addr(), metrics = %metrics.local_addr(), "probes and metrics listening");
    let endpoints = tokio::spawn(futures::future::join(
        health.serve(shutdown.clone().cancelled_owned()),
        metrics.serve(shutdown.clone().cancelled_owned()),
    ));

    let recorder = EventRecorder::new(client.clone(), CONTROLLER_NAME).with_events_addr(&args.events_addr)?;
    let work = Leader {
        client: client.clone(),
        storage,
        options: args.artifact.clone(),
        scope: scope.clone(),
        server_metrics,
        ready: leading,
    };
    let settings = settings(&args, &scope);
    let start = |stop: CancellationToken| {
        work.lead(stop, move |client, storage, stop| {
            let ctx = Context::new(client, storage, settings)
                .with_events(recorder)
                .with_metrics(reconcile_metrics);
            async move { Ok(controller::run(Arc::new(ctx), stop.cancelled_owned()).await?) }
        })
    };
    let led = if args.enable_leader_election {
        let election = LeaderElection::new(args.lease_name(), &scope.runtime_namespace)
            .with_lease_duration(args.leader_election_lease_duration)
            .with_renew_deadline(args.leader_election_renew_deadline)
            .with_retry_period(args.leader_election_retry_period)
            .with_release_on_cancel(args.leader_election_release_on_cancel);
        tracing::info!(lease = %format!("{}/{}", election.namespace(), election.lease_name()), "waiting to lead");
        election
            .run(client, shutdown.clone().cancelled_owned(), start)
            .await
            .map(|led| led.unwrap_or(Ok(())))
    } else {
        let stop = shutdown.child_token();
        Ok(start(stop).await)
    };
    // The work ended (shutdown, failure) or the lease was lost: stop the endpoints too.
    shutdown.cancel();
    endpoints.await?;
    // A lost lease: exit non-zero, and the pod restarts into a new election.
    led??;
    Ok(())
}

/// The leader's start-up and work.
struct Leader {
    client: Client,
    storage: Storage,
    options: Options,
    scope: Scope,
    server_metrics: ServerMetrics,
    ready: ReadinessCheck,
}

impl Leader {
    /// The integrity check, the orphan sweep, then the artifact server and `controller`
    /// until `stop` is cancelled. A server that fails stops the controller, and the
    /// reverse.
    async fn lead<C, F>(self, stop: CancellationToken, controller: C) -> Result<(), BoxError>
    where
        C: FnOnce(Client, AsyncStorage, CancellationToken) -> F,
        F: Future<Output = Result<(), BoxError>>,
    {
        let Leader {
            client,
            storage,
            options,
            scope,
            server_metrics,
            ready,
        } = self;
        let selector = Publisher::new(client.clone(), CONTROLLER_NAME).label_selector();
        // 1. Every artifact published before still has its digest; corrupt files are
        //    removed, and the reconciles of their generators build them again.
        let mut verify = VerifyOptions::new(&selector).remove_corrupt(true);
        if let Some(namespace) = &scope.namespace {
            verify = verify.in_namespace(namespace);
        }
        let _ = verify_stored_artifacts(&client, &storage, &verify).await?; // logs its report
        // 2. The storage of generators deleted while no controller ran. Scoped by
        //    namespace only: ExternalArtifacts do not carry their generator's labels, and
        //    a shard's storage (its own volume) holds only its generators' artifacts.
        let sweep = OrphanSweep::new(&selector).in_namespaces(scope.namespace.clone());
        let swept = sweep.run(&client, &storage).await?;
        tracing::info!(report = %swept, "swept orphaned storage");

        // 3. Only the leader serves: only its storage has the files.
        let server = Server::bind(&options).await?.with_metrics(server_metrics);
        ready.set_ready(true);
        tracing::info!(address = %server.local_addr(), "leading: serving artifacts and reconciling");
        let child = stop.child_token();
        let controller = async {
            let result = controller(client, AsyncStorage::new(storage), child.clone()).await;
            stop.cancel(); // the server stops with the controller
            result
        };
        let server = async {
            let result = server.serve(stop.clone().cancelled_owned()).await;
            child.cancel(); // and the controller with the server
            result.map_err(BoxError::from)
        };
        let (controller, server) = tokio::join!(controller, server);
        ready.set_ready(false);
        controller.and(server)
    }
}

/// The namespaces and selector watched, and the controller's own namespace.
fn scope(args: &RunArgs, client: &Client) -> Scope {
    let runtime_namespace = args
        .runtime_namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    Scope {
        namespace: (!args.watch_all_namespaces).then(|| runtime_namespace.clone()),
        runtime_namespace,
        label_selector: args.watch_label_selector.clone().filter(|s| !s.is_empty()),
    }
}

/// The controller's settings from the flags.
fn settings(args: &RunArgs, scope: &Scope) -> Settings {
    Settings {
        no_cross_namespace_refs: args.no_cross_namespace_refs,
        requeue_dependency: args.requeue_dependency,
        http_retry: args.http_retry,
        reconciliation_timeout: args.reconciliation_timeout,
        min_retry_delay: args.min_retry_delay,
        max_retry_delay: args.max_retry_delay,
        interval_jitter_percentage: args.interval_jitter_percentage,
        concurrency: args.concurrent,
        // Flux's consumers read it to reach source-controller from outside the cluster.
        source_localhost: std::env::var("SOURCE_CONTROLLER_LOCALHOST")
            .ok()
            .filter(|host| !host.is_empty()),
        scope: WatchScope {
            namespace: scope.namespace.clone(),
            label_selector: scope.label_selector.clone(),
        },
    }
}

/// Logs where consumers will download artifacts from, and warns when that is this
/// machine only (flux2 #5573: `--storage-adv-addr` left unset in a pod).
fn log_artifact_url(storage: &Storage) {
    let url = artifact_base_url(storage.hostname());
    if is_loopback(&url) {
        tracing::warn!(
            %url,
            "artifact URLs name the loopback interface: kustomize-controller and helm-controller in other pods cannot download them; set --storage-adv-addr to this controller's Service (e.g. artifact-generator.flux-system.svc.cluster.local.)"
        );
    } else {
        tracing::info!(%url, "artifact URLs start with this address");
    }
}

/// `http://<advertised address>/`, or the address itself when it is a URL.
fn artifact_base_url(hostname: &str) -> String {
    let host = hostname.trim_end_matches('/');
    if host.starts_with("http://") || host.starts_with("https://") {
        format!("{host}/")
    } else {
        format!("http://{host}/")
    }
}

/// Whether a URL's host is `localhost` or a loopback address.
fn is_loopback(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http::{Request, Response};
    use kube::client::Body;

    use super::*;

    /// An API server with no ExternalArtifacts that records the requests it gets, and
    /// the start-up step each arrived in.
    fn api_server(log: Arc<Mutex<Vec<String>>>) -> Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", request.method(), request.uri().path()));
                let list = serde_json::json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifactList",
                    "metadata": {}, "items": [],
                });
                let body = Body::from(serde_json::to_vec(&list).unwrap());
                respond.send_response(Response::builder().status(200).body(body).unwrap());
            }
        });
        Client::new(service, "flux-system")
    }

    fn leader(
        client: Client,
        storage: &std::path::Path,
        namespace: Option<&str>,
        ready: ReadinessCheck,
    ) -> Leader {
        let options = Options {
            storage_path: storage.into(),
            storage_address: "127.0.0.1:0".into(),
            ..Options::default()
        };
        Leader {
            client,
            storage: Storage::new(&options).unwrap(),
            options,
            scope: Scope {
                runtime_namespace: "flux-system".into(),
                namespace: namespace.map(str::to_owned),
                label_selector: None,
            },
            server_metrics: ServerMetrics::new(),
            ready,
        }
    }

    #[tokio::test]
    async fn the_leader_checks_and_sweeps_storage_before_it_becomes_ready_and_reconciles() {
        let storage = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let readiness = Readiness::new();
        let work = leader(
            api_server(Arc::clone(&log)),
            storage.path(),
            None,
            readiness.check("leader"),
        );
        assert!(!readiness.is_ready());

        let stop = CancellationToken::new();
        let seen = Arc::clone(&log);
        let ready_then = readiness.clone();
        let led = work
            .lead(stop.clone(), move |_, _, controller_stop| async move {
                seen.lock().unwrap().push("controller started".into());
                assert!(ready_then.is_ready(), "ready before the controller runs");
                stop.cancel(); // as SIGTERM would
                controller_stop.cancelled().await;
                Ok(())
            })
            .await;
        led.unwrap();
        let path = "GET /apis/source.toolkit.fluxcd.io/v1/externalartifacts";
        // The integrity check lists, then the sweep, then the controller starts.
        assert_eq!(*log.lock().unwrap(), [path, path, "controller started"]);
        assert!(!readiness.is_ready(), "not ready once stopped");
    }

    #[tokio::test]
    async fn a_leader_watching_one_namespace_checks_and_sweeps_only_it() {
        let storage = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let readiness = Readiness::new();
        let work = leader(
            api_server(Arc::clone(&log)),
            storage.path(),
            Some("apps"),
            readiness.check("leader"),
        );
        work.lead(CancellationToken::new(), |_, _, _| async { Ok(()) })
            .await
            .unwrap();
        let path = "GET /apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts";
        assert_eq!(*log.lock().unwrap(), [path, path]);
    }

    #[tokio::test]
    async fn a_controller_that_fails_stops_the_artifact_server_and_its_error_is_returned() {
        let storage = tempfile::tempdir().unwrap();
        let readiness = Readiness::new();
        let work = leader(
            api_server(Arc::default()),
            storage.path(),
            None,
            readiness.check("leader"),
        );
        // Nothing cancels `stop`: the server must stop because the controller did.
        let error = work
            .lead(CancellationToken::new(), |_, _, _| async {
                Err(BoxError::from("watch failed"))
            })
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "watch failed");
    }

    #[test]
    fn the_base_url_of_an_address_is_http() {
        assert_eq!(
            artifact_base_url("artifact-generator.flux-system.svc.cluster.local."),
            "http://artifact-generator.flux-system.svc.cluster.local./"
        );
        assert_eq!(
            artifact_base_url("https://cdn.example.com/"),
            "https://cdn.example.com/"
        );
    }

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://localhost:9090/",
            "http://LOCALHOST./",
            "http://127.0.0.1:9090/",
            "http://127.1.2.3/",
            "http://[::1]:9090/",
        ] {
            assert!(is_loopback(url), "{url}");
        }
    }

    #[test]
    fn service_and_pod_urls_are_not_loopback() {
        for url in [
            "http://artifact-generator.flux-system.svc.cluster.local./",
            "http://10.0.0.7:9090/",
            "http://[fd00::1]:9090/",
            "http://localhost-proxy:9090/",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
