//! What every reconcile shares: the settings (the flags of `artifact-generator run`),
//! the API client, the storage, the fetcher, and the optional events and metrics.

use std::{fmt, time::Duration};

use flux_artifact::{
    fetch::ArchiveFetcher,
    kube::Publisher,
    runtime::{
        backoff::{Jitter, RetryBackoff},
        cleanup::ArtifactFinalizer,
        events::{Event, EventRecorder, FluxEventSender},
        metrics::ReconcileMetrics,
    },
    storage::AsyncStorage,
};
use kube::{Client, ResourceExt};

use crate::{
    ArtifactGenerator, CONTROLLER_NAME,
    api::{FINALIZER, GENERATOR_LABEL},
};

/// How the controller behaves: source-watcher's flags, with its defaults
/// ([`Settings::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Refuse sources in another namespace than the generator's (`AccessDenied`,
    /// Stalled). Default `false`.
    pub no_cross_namespace_refs: bool,
    /// How long to wait before trying again when a source is missing, not ready or
    /// cannot be fetched (`--requeue-dependency`). Default 5s.
    pub requeue_dependency: Duration,
    /// How many times a source download is retried (`--http-retry`). Default 9.
    pub http_retry: u32,
    /// The longest one reconcile may take (`--reconciliation-timeout`); a reconcile
    /// that takes longer is cancelled and retried with backoff. Zero means no limit
    /// (`ArtifactGenerator` has no `spec.timeout` of its own). Default 10m, as
    /// source-watcher's flag.
    pub reconciliation_timeout: Duration,
    /// The first retry delay after a failed reconcile (`--min-retry-delay`). Default
    /// 750ms.
    pub min_retry_delay: Duration,
    /// The longest retry delay after failed reconciles (`--max-retry-delay`). Default
    /// 15m.
    pub max_retry_delay: Duration,
    /// The jitter on the periodic reconcile interval, in percent, from 0 to 99
    /// (`--interval-jitter-percentage`). Default 5.
    pub interval_jitter_percentage: u8,
    /// How many generators are reconciled at once (`--concurrent`). Default 4 (a
    /// generator's build is I/O and CPU bound; source-watcher's default is 10).
    pub concurrency: u16,
    /// Fetch every source artifact from this `host[:port]` instead of the one in its
    /// URL (`SOURCE_CONTROLLER_LOCALHOST`, as Flux's consumers read it), e.g. for a
    /// controller outside the cluster reaching source-controller through a
    /// port-forward. Default none.
    pub source_localhost: Option<String>,
    /// Which generators this instance reconciles.
    pub scope: WatchScope,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            no_cross_namespace_refs: false,
            requeue_dependency: Duration::from_secs(5),
            http_retry: 9,
            reconciliation_timeout: Duration::from_secs(10 * 60),
            min_retry_delay: Duration::from_millis(750),
            max_retry_delay: Duration::from_secs(15 * 60),
            interval_jitter_percentage: 5,
            concurrency: 4,
            source_localhost: None,
            scope: WatchScope::default(),
        }
    }
}

/// The generators an instance watches: all namespaces or one (`--watch-all-namespaces`
/// / `RUNTIME_NAMESPACE`), and those matching a label selector (`--watch-label-selector`,
/// Flux's sharding). Sources are watched in the same namespaces, without the selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// The one namespace watched; `None` watches all.
    pub namespace: Option<String>,
    /// A label selector generators must match (e.g. `sharding.fluxcd.io/key=shard1`);
    /// `None` selects all.
    pub label_selector: Option<String>,
}

/// What every reconcile shares; build it once, wrap it in an `Arc`, and hand it to
/// [`run`](super::run) (or to [`reconcile`](super::reconcile) in tests).
///
/// It holds the API client, the storage the artifacts go to, the [`Settings`], the
/// fetcher of source artifacts (digest verified, [`Settings::http_retry`] retries,
/// [`Settings::source_localhost`] applied), the retry backoff, and optionally an event
/// recorder and reconcile metrics. Without [`with_events`](Self::with_events) no event
/// is recorded; without [`with_metrics`](Self::with_metrics) nothing is measured.
pub struct Context {
    pub(super) client: Client,
    pub(super) storage: AsyncStorage,
    pub(super) settings: Settings,
    pub(super) fetcher: ArchiveFetcher,
    pub(super) publisher: Publisher,
    pub(super) finalizer: ArtifactFinalizer<ArtifactGenerator>,
    pub(super) backoff: RetryBackoff,
    pub(super) jitter: Jitter,
    events: Option<EventRecorder>,
    pub(super) metrics: Option<ReconcileMetrics>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("storage", &self.storage.storage().base_path())
            .field("events", &self.events)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context reconciling through `client` into `storage`, as `settings` say.
    ///
    /// A [`Settings::interval_jitter_percentage`] of 100 or more is replaced by the
    /// default (5%) here; [`run`](super::run) refuses such settings outright.
    #[must_use]
    pub fn new(client: Client, storage: AsyncStorage, settings: Settings) -> Self {
        let mut fetcher = ArchiveFetcher::builder()
            .retries(settings.http_retry)
            // As source-watcher: a source is as large as its producer made it.
            .max_download_size(None)
            .max_untar_size(None);
        if let Some(host) = &settings.source_localhost {
            fetcher = fetcher.hostname_override(host.clone());
        }
        let jitter = Jitter::percent(settings.interval_jitter_percentage).unwrap_or_default();
        // The inventory names ExternalArtifacts deleted behind the controller's back, whose
        // storage must go too; the label finds those published but not yet recorded.
        let finalizer = ArtifactFinalizer::new(client.clone(), storage.storage().clone(), FINALIZER)
            .with_generated_by_label(GENERATOR_LABEL)
            .delete_external_artifacts(true)
            .with_inventory(|generator: &ArtifactGenerator| {
                let namespace = generator.namespace().unwrap_or_default();
                generator
                    .status
                    .iter()
                    .flat_map(|status| &status.inventory)
                    .filter(|reference| reference.namespace == namespace)
                    .map(|reference| reference.name.clone())
                    .collect()
            });
        Context {
            publisher: Publisher::new(client.clone(), CONTROLLER_NAME)
                .with_generated_by_label(GENERATOR_LABEL),
            // Exact delays, as controller-runtime's rate limiter in Flux's controllers.
            backoff: RetryBackoff::new(settings.min_retry_delay, settings.max_retry_delay)
                .with_jitter(Jitter::NONE),
            fetcher: fetcher.build(),
            client,
            storage,
            finalizer,
            jitter,
            settings,
            events: None,
            metrics: None,
        }
    }

    /// Records Kubernetes Events (and Flux events, if the recorder has an events
    /// address) about generators: failures as Warning, new artifacts as Normal.
    #[must_use]
    pub fn with_events(mut self, events: EventRecorder) -> Self {
        self.events = Some(events);
        self
    }

    /// Sends Normal and Warning events to notification-controller through `sender`
    /// (`--events-addr`) too; records Kubernetes Events as [`CONTROLLER_NAME`] if
    /// [`with_events`](Self::with_events) gave no recorder. Call it after
    /// `with_events`, or give that recorder the sender itself.
    #[must_use]
    pub fn with_flux_events(mut self, sender: FluxEventSender) -> Self {
        let recorder = self
            .events
            .take()
            .unwrap_or_else(|| EventRecorder::new(self.client.clone(), CONTROLLER_NAME));
        self.events = Some(recorder.with_flux_sender(sender));
        self
    }

    /// Counts reconciles and measures their duration per result
    /// (`gotk_reconcile_duration_seconds`, as Flux's controllers).
    #[must_use]
    pub fn with_metrics(mut self, metrics: ReconcileMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Fetches source artifacts with `fetcher` instead of the one built from the
    /// settings (e.g. one with a TLS configuration for an `https://` source-controller).
    /// Its retries and hostname override replace [`Settings::http_retry`] and
    /// [`Settings::source_localhost`].
    #[must_use]
    pub fn with_fetcher(mut self, fetcher: ArchiveFetcher) -> Self {
        self.fetcher = fetcher;
        self
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The storage the artifacts are written to.
    #[must_use]
    pub fn storage(&self) -> &AsyncStorage {
        &self.storage
    }

    /// The API client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Records `event` about `generator`, if events are on; best-effort.
    pub(super) async fn record(&self, generator: &ArtifactGenerator, event: Event) {
        if let Some(events) = &self.events {
            events.record(generator, event).await;
        }
    }
}
