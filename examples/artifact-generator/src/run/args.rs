//! The command line of `artifact-generator run`: source-watcher's flags, defaults and Go
//! syntax (`--flag=false`, `1m30s`), plus the SDK's artifact options.

use std::{collections::BTreeMap, fmt, time::Duration};

use clap::{ArgAction, Args, ValueEnum};
use flux_artifact::{
    config::{Options, parse_duration, parse_go_bool},
    digest::Algorithm,
    runtime::events::FluxEventSender,
};

use super::selector;

/// The lease name without a shard suffix, as source-watcher names its own
/// (`<controller>-leader-election`).
pub(crate) const LEASE_NAME: &str = "artifact-generator-leader-election";

/// The feature gates this controller knows, and their defaults (source-watcher's).
const FEATURE_GATES: [(&str, bool); 1] = [(DIRECT_SOURCE_FETCH, false)];
/// Read source objects from the API server instead of the watch cache.
pub(crate) const DIRECT_SOURCE_FETCH: &str = "DirectSourceFetch";

/// Runs the ArtifactGenerator controller: watches ArtifactGenerators and their sources,
/// builds and serves their artifacts, and publishes them as ExternalArtifacts.
#[derive(Debug, Args)]
#[command(
    after_help = "Flags take Go's syntax as Flux's controllers do: `--flag` or `--flag=false` for booleans, durations like `750ms`, `1m30s`. RUNTIME_NAMESPACE (from the downward API in the Deployment) is the namespace of the leader election lease and, with --watch-all-namespaces=false, the only one watched.\n\nSOURCE_CONTROLLER_LOCALHOST, as in Flux's consumers, replaces the host of the source artifact URLs (for running outside the cluster).\n\nThe process leads (or runs alone without --enable-leader-election), checks the artifacts it published before, sweeps storage nobody accounts for, then runs the controller and serves artifacts until SIGTERM or Ctrl-C. Losing the lease, or an API server it cannot reach at start, exits with status 1."
)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) artifact: Options,

    /// The number of ArtifactGenerators reconciled at once.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrent: u16,

    /// The address the metrics endpoint (/metrics) binds to.
    #[arg(long, value_name = "ADDR", default_value = ":8080")]
    pub(crate) metrics_addr: String,

    /// The address the health endpoint (/healthz, /readyz) binds to.
    #[arg(long, value_name = "ADDR", default_value = ":9440")]
    pub(crate) health_addr: String,

    /// The address of the events receiver (notification-controller); empty: Kubernetes
    /// Events only.
    #[arg(long, value_name = "URL", default_value = "", value_parser = parse_events_addr)]
    pub(crate) events_addr: String,

    /// The maximum number of retries when fetching a source's artifact over HTTP fails.
    #[arg(long, value_name = "N", default_value_t = 9)]
    pub(crate) http_retry: u32,

    /// The maximum duration of one reconciliation.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = positive_duration)]
    pub(crate) reconciliation_timeout: Duration,

    /// How long to wait before looking again at a source that is not ready.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub(crate) requeue_dependency: Duration,

    /// Allow sources only in the ArtifactGenerator's own namespace.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) no_cross_namespace_refs: bool,

    /// Watch every namespace; false: only RUNTIME_NAMESPACE.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) watch_all_namespaces: bool,

    /// Reconcile only ArtifactGenerators matching this label selector, e.g.
    /// `sharding.fluxcd.io/shard=shard1` (Flux sharding).
    #[arg(long, value_name = "SELECTOR", value_parser = selector::parse)]
    pub(crate) watch_label_selector: Option<String>,

    /// The controller's namespace: the lease's, and the one watched with
    /// --watch-all-namespaces=false (default: the kubeconfig's or in-cluster namespace).
    #[arg(long, value_name = "NS", env = "RUNTIME_NAMESPACE", hide_env_values = true)]
    pub(crate) runtime_namespace: Option<String>,

    /// Run only while holding the leader election lease, so that one replica acts.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) enable_leader_election: bool,

    /// How long other replicas wait for a silent leader before taking the lease.
    #[arg(long, value_name = "DURATION", default_value = "35s", value_parser = parse_duration)]
    pub(crate) leader_election_lease_duration: Duration,

    /// How long the leader tries to renew the lease before giving up leading.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) leader_election_renew_deadline: Duration,

    /// How often replicas try to take the lease, and the leader renews it.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) leader_election_retry_period: Duration,

    /// Release the lease on shutdown, so that another replica leads at once.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) leader_election_release_on_cancel: bool,

    /// Log verbosity.
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub(crate) log_level: LogLevel,

    /// Log format: one JSON object per line, or text for people.
    #[arg(long, value_name = "ENCODING", value_enum, default_value_t = LogEncoding::Json)]
    pub(crate) log_encoding: LogEncoding,

    /// The first delay before retrying a failed reconciliation; it doubles per failure.
    #[arg(long, value_name = "DURATION", default_value = "750ms", value_parser = positive_duration)]
    pub(crate) min_retry_delay: Duration,

    /// The longest delay before retrying a failed reconciliation.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = positive_duration)]
    pub(crate) max_retry_delay: Duration,

    /// Jitter applied to the interval between reconciliations, in percent: 10 gives
    /// ±10%. Below 100.
    #[arg(long, value_name = "PERCENT", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..100))]
    pub(crate) interval_jitter_percentage: u8,

    /// Experimental features, as comma-separated NAME=BOOL pairs. Known:
    /// DirectSourceFetch (default false), accepted for source-watcher's manifests: this
    /// controller always reads sources from the API server, as that gate asks.
    #[arg(long, value_name = "NAME=BOOL,...", value_parser = parse_feature_gates, action = ArgAction::Append)]
    pub(crate) feature_gates: Vec<FeatureGates>,
}

/// `--log-level`: Flux's levels, and `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    /// Everything, including each request's details.
    Trace,
    /// Decisions and their inputs.
    Debug,
    /// What happened.
    Info,
    /// What went wrong and was handled.
    Warn,
    /// Failures only.
    Error,
}

impl From<LogLevel> for tracing::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

/// `--log-encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogEncoding {
    /// One JSON object per line, for log collectors.
    Json,
    /// Text lines, for a terminal.
    Console,
}

/// One `--feature-gates` value: gate names and their states.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FeatureGates(BTreeMap<String, bool>);

impl FeatureGates {
    /// Whether `gate` is on: as set on the command line, else its default.
    pub(crate) fn enabled(&self, gate: &str) -> bool {
        self.0.get(gate).copied().unwrap_or_else(|| {
            FEATURE_GATES
                .iter()
                .any(|(name, default)| *name == gate && *default)
        })
    }
}

impl fmt::Display for FeatureGates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, _) in FEATURE_GATES {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{name}={}", self.enabled(name))?;
        }
        Ok(())
    }
}

/// `NAME=BOOL[,NAME=BOOL...]`, with Go's booleans; an unknown name is refused as Flux
/// does (`feature-gate 'X' not supported`).
fn parse_feature_gates(value: &str) -> Result<FeatureGates, String> {
    let mut gates = BTreeMap::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, state) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not NAME=BOOL"))?;
        let name = name.trim();
        if !FEATURE_GATES.iter().any(|(known, _)| *known == name) {
            let known: Vec<&str> = FEATURE_GATES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "feature gate {name:?} is not supported (known: {})",
                known.join(", ")
            ));
        }
        let state = parse_go_bool(state.trim()).map_err(|e| format!("feature gate {name}: {e}"))?;
        gates.insert(name.to_owned(), state);
    }
    Ok(FeatureGates(gates))
}

/// Empty, or an `http://` URL notification-controller listens on.
fn parse_events_addr(value: &str) -> Result<String, String> {
    if !value.is_empty() {
        FluxEventSender::new(value).map_err(|e| e.to_string())?;
    }
    Ok(value.to_owned())
}

/// A Go duration that is not zero.
fn positive_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// A flag whose value contradicts another's: what `RunArgs::check` finds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Conflict(pub(crate) String);

impl RunArgs {
    /// Checks what single flags cannot: values that contradict each other, and the
    /// artifact options (the SDK names the flag at fault).
    pub(crate) fn check(&self) -> Result<(), Conflict> {
        self.artifact.validate().map_err(|e| Conflict(e.to_string()))?;
        if self.min_retry_delay > self.max_retry_delay {
            return Err(Conflict(format!(
                "--min-retry-delay ({:?}) is longer than --max-retry-delay ({:?})",
                self.min_retry_delay, self.max_retry_delay
            )));
        }
        if !self.watch_all_namespaces && self.runtime_namespace.as_deref().is_some_and(str::is_empty) {
            return Err(Conflict(
                "--watch-all-namespaces=false needs the namespace to watch: RUNTIME_NAMESPACE is empty"
                    .into(),
            ));
        }
        // Port 0 is a different free port each time.
        if self.metrics_addr == self.health_addr && !self.metrics_addr.ends_with(":0") {
            return Err(Conflict(format!(
                "--metrics-addr and --health-addr are both {:?}: give each its own port",
                self.metrics_addr
            )));
        }
        Ok(())
    }

    /// The feature gates of every `--feature-gates`, later ones winning.
    pub(crate) fn feature_gates(&self) -> FeatureGates {
        let mut merged = BTreeMap::new();
        for gates in &self.feature_gates {
            merged.extend(gates.0.iter().map(|(k, v)| (k.clone(), *v)));
        }
        FeatureGates(merged)
    }

    /// The leader election lease's name: with `--watch-label-selector`, suffixed with
    /// the first 8 hex digits of the selector's SHA-256, as Flux's `GenerateID` does, so
    /// that each shard elects its own leader.
    pub(crate) fn lease_name(&self) -> String {
        match self.watch_label_selector.as_deref() {
            Some(selector) if !selector.is_empty() => {
                let hex = Algorithm::Sha256.digest_bytes(selector.as_bytes()).hex();
                format!("{LEASE_NAME}-{}", &hex[..8])
            }
            _ => LEASE_NAME.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|cli| cli.run)
    }

    #[test]
    fn the_defaults_are_source_watchers() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.concurrent, 10);
        assert_eq!(args.metrics_addr, ":8080");
        assert_eq!(args.health_addr, ":9440");
        assert_eq!(args.events_addr, "");
        assert_eq!(args.http_retry, 9);
        assert_eq!(args.reconciliation_timeout, Duration::from_secs(600));
        assert_eq!(args.requeue_dependency, Duration::from_secs(5));
        assert!(!args.no_cross_namespace_refs);
        assert!(args.watch_all_namespaces);
        assert_eq!(args.watch_label_selector, None);
        assert!(!args.enable_leader_election);
        assert_eq!(args.leader_election_lease_duration, Duration::from_secs(35));
        assert_eq!(args.leader_election_renew_deadline, Duration::from_secs(30));
        assert_eq!(args.leader_election_retry_period, Duration::from_secs(5));
        assert!(args.leader_election_release_on_cancel);
        assert_eq!(args.log_level, LogLevel::Info);
        assert_eq!(args.log_encoding, LogEncoding::Json);
        assert_eq!(args.min_retry_delay, Duration::from_millis(750));
        assert_eq!(args.max_retry_delay, Duration::from_secs(900));
        assert_eq!(args.interval_jitter_percentage, 5);
        assert!(!args.feature_gates().enabled(DIRECT_SOURCE_FETCH));
        assert_eq!(args.artifact, Options::default());
        assert_eq!(args.check(), Ok(()));
    }

    #[test]
    fn booleans_take_gos_syntax() {
        let args = parse(&[
            "--watch-all-namespaces=false",
            "--no-cross-namespace-refs",
            "--enable-leader-election=true",
            "--leader-election-release-on-cancel=F",
        ])
        .unwrap();
        assert!(!args.watch_all_namespaces);
        assert!(args.no_cross_namespace_refs);
        assert!(args.enable_leader_election);
        assert!(!args.leader_election_release_on_cancel);
    }

    #[test]
    fn a_boolean_flag_takes_its_value_only_after_an_equals_sign() {
        // As with pflag: `--flag false` is the flag, then a stray argument.
        assert!(parse(&["--no-cross-namespace-refs", "false"]).is_err());
    }

    #[test]
    fn a_boolean_that_go_refuses_is_refused() {
        let error = parse(&["--watch-all-namespaces=yes"]).unwrap_err().to_string();
        assert!(error.contains("--watch-all-namespaces"), "{error}");
    }

    #[test]
    fn durations_take_gos_syntax() {
        let args = parse(&["--reconciliation-timeout=1h30m", "--min-retry-delay=1.5s"]).unwrap();
        assert_eq!(args.reconciliation_timeout, Duration::from_secs(5400));
        assert_eq!(args.min_retry_delay, Duration::from_millis(1500));
    }

    #[test]
    fn a_duration_without_a_unit_is_refused() {
        let error = parse(&["--requeue-dependency=5"]).unwrap_err().to_string();
        assert!(error.contains("--requeue-dependency"), "{error}");
    }

    #[test]
    fn a_zero_reconciliation_timeout_is_refused() {
        let error = parse(&["--reconciliation-timeout=0s"]).unwrap_err().to_string();
        assert!(error.contains("must be longer than zero"), "{error}");
    }

    #[test]
    fn zero_concurrent_reconciles_are_refused() {
        assert!(parse(&["--concurrent=0"]).is_err());
    }

    #[test]
    fn the_jitter_must_stay_below_a_hundred_percent() {
        assert!(parse(&["--interval-jitter-percentage=99"]).is_ok());
        assert!(parse(&["--interval-jitter-percentage=100"]).is_err());
    }

    #[test]
    fn the_log_encoding_is_json_or_console() {
        assert_eq!(
            parse(&["--log-encoding=console"]).unwrap().log_encoding,
            LogEncoding::Console
        );
        assert!(parse(&["--log-encoding=logfmt"]).is_err());
    }

    #[test]
    fn feature_gates_are_name_bool_pairs() {
        let args = parse(&["--feature-gates=DirectSourceFetch=true"]).unwrap();
        assert!(args.feature_gates().enabled(DIRECT_SOURCE_FETCH));
        assert_eq!(args.feature_gates().to_string(), "DirectSourceFetch=true");
    }

    #[test]
    fn a_later_feature_gate_flag_wins() {
        let args = parse(&[
            "--feature-gates=DirectSourceFetch=true",
            "--feature-gates=DirectSourceFetch=false",
        ])
        .unwrap();
        assert!(!args.feature_gates().enabled(DIRECT_SOURCE_FETCH));
    }

    #[test]
    fn an_unknown_feature_gate_is_refused() {
        let error = parse_feature_gates("DirectSourceFetch=true,Turbo=true").unwrap_err();
        assert_eq!(
            error,
            "feature gate \"Turbo\" is not supported (known: DirectSourceFetch)"
        );
    }

    #[test]
    fn a_feature_gate_without_a_go_boolean_is_refused() {
        assert!(parse_feature_gates("DirectSourceFetch").is_err());
        assert!(parse_feature_gates("DirectSourceFetch=on").is_err());
    }

    #[test]
    fn the_events_address_is_empty_or_an_http_url() {
        let args =
            parse(&["--events-addr=http://notification-controller.flux-system.svc.cluster.local./"]).unwrap();
        assert_eq!(
            args.events_addr,
            "http://notification-controller.flux-system.svc.cluster.local./"
        );
        let error = parse(&["--events-addr=notification-controller:80"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--events-addr"), "{error}");
    }

    #[test]
    fn the_artifact_options_are_the_sdks() {
        let args = parse(&[
            "--storage-path=/tmp/data",
            "--storage-addr=:9091",
            "--storage-adv-addr=artifact-generator.flux-system.svc.cluster.local.",
            "--artifact-retention-ttl=2m",
            "--artifact-retention-records=3",
        ])
        .unwrap();
        assert_eq!(args.artifact.storage_path, std::path::Path::new("/tmp/data"));
        assert_eq!(args.artifact.storage_address, ":9091");
        assert_eq!(args.artifact.artifact_retention_records, 3);
        assert_eq!(args.artifact.artifact_retention_ttl, Duration::from_secs(120));
    }

    #[test]
    fn a_min_retry_delay_above_the_max_is_a_conflict() {
        let args = parse(&["--min-retry-delay=1m", "--max-retry-delay=30s"]).unwrap();
        assert_eq!(
            args.check(),
            Err(Conflict(
                "--min-retry-delay (60s) is longer than --max-retry-delay (30s)".into()
            ))
        );
    }

    #[test]
    fn bad_artifact_options_are_a_conflict_naming_the_flag() {
        let args = parse(&["--artifact-retention-records=0"]).unwrap();
        let Conflict(message) = args.check().unwrap_err();
        assert!(message.contains("artifact-retention-records"), "{message}");
    }

    #[test]
    fn the_metrics_and_health_endpoints_need_their_own_ports() {
        let args = parse(&["--metrics-addr=:9440"]).unwrap();
        assert!(args.check().is_err());
    }

    #[test]
    fn the_lease_name_is_source_watchers_without_a_shard() {
        assert_eq!(parse(&[]).unwrap().lease_name(), LEASE_NAME);
    }

    #[test]
    fn a_shard_elects_on_a_lease_named_after_its_selector() {
        let shard1 = parse(&["--watch-label-selector=sharding.fluxcd.io/shard=shard1"]).unwrap();
        let shard2 = parse(&["--watch-label-selector=sharding.fluxcd.io/shard=shard2"]).unwrap();
        // Flux's GenerateID: the first 8 hex digits of sha256(selector), here from
        // `printf %s 'sharding.fluxcd.io/shard=shard1' | sha256sum`.
        assert_eq!(shard1.lease_name(), "artifact-generator-leader-election-0861495d");
        assert_ne!(shard1.lease_name(), shard2.lease_name());
    }
}
