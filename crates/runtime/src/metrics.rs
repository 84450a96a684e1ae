//! Reconcile metrics with the names Flux's controllers expose, so that Flux's Grafana
//! dashboards and alerts work for a Rust producer unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use flux_artifact_runtime::metrics::ReconcileMetrics;
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::runtime::controller::Action;
//! use prometheus_client::registry::Registry;
//!
//! let mut registry = Registry::default();
//! let metrics = ReconcileMetrics::new(&mut registry);
//! // … the artifact server's and the archive's metrics register here too …
//! let registry = Arc::new(registry); // for `Endpoint::with_metrics`
//!
//! // In the reconciler:
//! let object = ConfigMap::default();
//! let timer = metrics.start(&object);
//! let result: Result<Action, std::io::Error> = Ok(Action::await_change());
//! timer.finish(&result);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry)?;
//! assert!(text.contains(r#"controller_runtime_reconcile_total{controller="configmap",result="success"} 1"#));
//! # Ok::<(), std::fmt::Error>(())
//! ```
//!
//! | metric | type | labels | |
//! |---|---|---|---|
//! | `controller_runtime_reconcile_total` | counter | `controller`, `result` | every reconcile; `result` is `success`, `requeue_after` or `error` |
//! | `controller_runtime_reconcile_errors_total` | counter | `controller` | reconciles that returned an error |
//! | `controller_runtime_reconcile_time_seconds` | histogram | `controller` | reconcile durations, controller-runtime's buckets (5ms … 60s) |
//! | `gotk_reconcile_duration_seconds` | histogram | `kind`, `name`, `namespace` | per-object durations, Flux's buckets (10ms … 30m) |
//!
//! The first three are what controller-runtime records for every Flux controller (the
//! `controller` label is the lowercase kind, as controller-runtime names controllers);
//! the last is fluxcd/pkg's `runtime/metrics` histogram. `gotk_reconcile_condition`,
//! deprecated by Flux, is left out; status conditions are on the objects.

use std::time::{Duration, Instant};

use kube::{Resource, runtime::controller::Action};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets_range},
    },
    registry::Registry,
};

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets.
const CONTROLLER_RUNTIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
    1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0,
    50.0, 60.0,
];

/// How a reconcile ended, as controller-runtime's `result` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconcileResult {
    /// `success`: done, nothing scheduled (kube-rs `Action::await_change()`).
    Success,
    /// `requeue_after`: done, next run scheduled (kube-rs `Action::requeue(..)`; a Flux
    /// controller's usual success).
    RequeueAfter,
    /// `error`: the reconciler returned an error.
    Error,
}

impl ReconcileResult {
    /// The label value: `success`, `requeue_after` or `error`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::RequeueAfter => "requeue_after",
            ReconcileResult::Error => "error",
        }
    }

    /// The result of a kube-rs reconciler's return value.
    #[must_use]
    pub fn of<E>(result: &Result<Action, E>) -> Self {
        match result {
            Err(_) => ReconcileResult::Error,
            Ok(action) if *action == Action::await_change() => ReconcileResult::Success,
            Ok(_) => ReconcileResult::RequeueAfter,
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.as_str().encode(encoder)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    controller: String,
    result: ReconcileResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    name: String,
    namespace: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Counts and times reconciles (see the [module docs](self) for the metrics). Register
/// it once per registry, share it between controllers (cloning shares the metrics),
/// and [`start`](Self::start) a timer at the top of each reconcile.
#[derive(Clone, Debug)]
pub struct ReconcileMetrics {
    total: Family<ResultLabels, Counter>,
    errors: Family<ControllerLabels, Counter>,
    time: HistogramFamily<ControllerLabels>,
    duration: HistogramFamily<ObjectLabels>,
}

impl ReconcileMetrics {
    /// The metrics, registered in `registry`. Register them once per registry: a second
    /// registration would expose every metric twice.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = ReconcileMetrics {
            total: Family::default(),
            errors: Family::default(),
            time: Family::new_with_constructor(|| Histogram::new(CONTROLLER_RUNTIME_BUCKETS)),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets_range(0.01, 1800.0, 10))
            }),
        };
        // prometheus-client appends `_total` to counter names.
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            metrics.total.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            metrics.errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            metrics.time.clone(),
        );
        registry.register(
            "gotk_reconcile_duration_seconds",
            "The duration in seconds of a GitOps Toolkit resource reconciliation",
            metrics.duration.clone(),
        );
        metrics
    }

    /// Starts timing a reconcile of `object`; [`ReconcileTimer::finish`] records it.
    pub fn start<K>(&self, object: &K) -> ReconcileTimer
    where
        K: Resource,
        K::DynamicType: Default,
    {
        ReconcileTimer {
            metrics: self.clone(),
            object: ObjectLabels::of(object),
            started: Instant::now(),
        }
    }

    /// Records a reconcile of `object` that took `duration` and ended with `result`.
    pub fn observe<K>(&self, object: &K, result: ReconcileResult, duration: Duration)
    where
        K: Resource,
        K::DynamicType: Default,
    {
        self.observe_labels(&ObjectLabels::of(object), result, duration);
    }

    /// Drops `object`'s `gotk_reconcile_duration_seconds` series, as Flux does when an
    /// object is deleted, so that deleted objects do not linger in the exposition.
    pub fn forget<K>(&self, object: &K)
    where
        K: Resource,
        K::DynamicType: Default,
    {
        self.duration.remove(&ObjectLabels::of(object));
    }

    fn observe_labels(&self, object: &ObjectLabels, result: ReconcileResult, duration: Duration) {
        let controller = ControllerLabels {
            controller: object.kind.to_lowercase(),
        };
        let seconds = duration.as_secs_f64();
        self.total
            .get_or_create(&ResultLabels {
                controller: controller.controller.clone(),
                result,
            })
            .inc();
        if result == ReconcileResult::Error {
            self.errors.get_or_create(&controller).inc();
        }
        self.time.get_or_create(&controller).observe(seconds);
        self.duration.get_or_create(object).observe(seconds);
    }
}

impl ObjectLabels {
    fn of<K>(object: &K) -> Self
    where
        K: Resource,
        K::DynamicType: Default,
    {
        let meta = object.meta();
        ObjectLabels {
            kind: K::kind(&K::DynamicType::default()).into_owned(),
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
        }
    }
}

/// A reconcile being timed. [`finish`](Self::finish) records it; a timer dropped
/// without finishing (a reconcile cancelled at shutdown) records nothing.
#[derive(Debug)]
#[must_use = "a reconcile is recorded only when its timer is finished"]
pub struct ReconcileTimer {
    metrics: ReconcileMetrics,
    object: ObjectLabels,
    started: Instant,
}

impl ReconcileTimer {
    /// Records the reconcile with the time elapsed since [`ReconcileMetrics::start`] and
    /// the result `result` stands for.
    pub fn finish<E>(self, result: &Result<Action, E>) {
        self.finish_as(ReconcileResult::of(result));
    }

    /// Records the reconcile as ending with `result`.
    pub fn finish_as(self, result: ReconcileResult) {
        self.metrics
            .observe_labels(&self.object, result, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use prometheus_client::encoding::text::encode;

    fn object(name: &str) -> ConfigMap {
        let mut object = ConfigMap::default();
        object.metadata.namespace = Some("apps".into());
        object.metadata.name = Some(name.into());
        object
    }

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn the_duration_help_is_fluxs_word_for_word() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        // A family is exposed once it has a series.
        metrics.observe(
            &object("podinfo"),
            ReconcileResult::Success,
            Duration::from_millis(20),
        );
        let text = exposition(&registry);
        assert!(
            text.contains(
                "# HELP gotk_reconcile_duration_seconds The duration in seconds of a GitOps Toolkit resource reconciliation.\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn results_follow_the_action() {
        let ok = |action| Ok::<_, ()>(action);
        assert_eq!(
            ReconcileResult::of(&ok(Action::await_change())),
            ReconcileResult::Success
        );
        assert_eq!(
            ReconcileResult::of(&ok(Action::requeue(Duration::from_secs(60)))),
            ReconcileResult::RequeueAfter
        );
        assert_eq!(ReconcileResult::of(&Err::<Action, _>(())), ReconcileResult::Error);
    }

    #[test]
    fn each_reconcile_counts_under_its_result() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        let podinfo = object("podinfo");
        metrics.observe(&podinfo, ReconcileResult::RequeueAfter, Duration::from_millis(20));
        metrics.observe(&podinfo, ReconcileResult::RequeueAfter, Duration::from_millis(20));
        metrics.observe(&podinfo, ReconcileResult::Error, Duration::from_millis(20));
        let text = exposition(&registry);
        assert!(
            text.contains(
                r#"controller_runtime_reconcile_total{controller="configmap",result="requeue_after"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"controller_runtime_reconcile_total{controller="configmap",result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"controller_runtime_reconcile_errors_total{controller="configmap"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn successes_do_not_count_as_errors() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        metrics.observe(
            &object("podinfo"),
            ReconcileResult::Success,
            Duration::from_millis(20),
        );
        assert!(!exposition(&registry).contains("controller_runtime_reconcile_errors_total{"));
    }

    #[test]
    fn durations_land_in_flux_buckets_per_object() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        metrics.observe(
            &object("podinfo"),
            ReconcileResult::RequeueAfter,
            Duration::from_millis(1500),
        );
        let text = exposition(&registry);
        let buckets: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with("gotk_reconcile_duration_seconds_bucket{"))
            .filter(|line| line.contains(r#"kind="ConfigMap",name="podinfo",namespace="apps""#))
            .collect();
        assert_eq!(buckets.len(), 11, "Flux's 10 buckets and +Inf:\n{text}");
        assert!(
            buckets[0].contains(r#"le="0.01""#) && buckets[0].ends_with(" 0"),
            "{}",
            buckets[0]
        );
        assert!(buckets[8].ends_with(" 1") && buckets[9].ends_with(" 1"), "{text}");
        assert!(buckets[10].contains(r#"le="+Inf""#), "{}", buckets[10]);
        assert!(text.contains(
            r#"gotk_reconcile_duration_seconds_sum{kind="ConfigMap",name="podinfo",namespace="apps"} 1.5"#
        ));
        assert!(
            text.contains(
                r#"controller_runtime_reconcile_time_seconds_bucket{le="1.25",controller="configmap"} 0"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"controller_runtime_reconcile_time_seconds_bucket{le="1.5",controller="configmap"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn forget_drops_the_objects_duration_series() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        let podinfo = object("podinfo");
        metrics.observe(&podinfo, ReconcileResult::RequeueAfter, Duration::from_millis(20));
        metrics.forget(&podinfo);
        let text = exposition(&registry);
        assert!(!text.contains(r#"name="podinfo""#), "{text}");
        assert!(text.contains(
            r#"controller_runtime_reconcile_total{controller="configmap",result="requeue_after"} 1"#
        ));
    }

    #[test]
    fn a_finished_timer_records_one_reconcile() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        let timer = metrics.start(&object("podinfo"));
        timer.finish(&Err::<Action, _>("source not ready"));
        let text = exposition(&registry);
        assert!(
            text.contains(r#"controller_runtime_reconcile_total{controller="configmap",result="error"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"gotk_reconcile_duration_seconds_count{kind="ConfigMap",name="podinfo",namespace="apps"} 1"#
        ));
    }

    #[test]
    fn a_dropped_timer_records_nothing() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        drop(metrics.start(&object("podinfo")));
        assert!(!exposition(&registry).contains("controller_runtime_reconcile_total{"));
    }
}
