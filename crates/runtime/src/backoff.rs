//! When to reconcile again: per-object exponential backoff after errors, and jitter for
//! the periodic requeue after a success.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use flux_artifact_runtime::backoff::{Jitter, RetryBackoff};
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::runtime::controller::Action;
//!
//! struct Context {
//!     backoff: RetryBackoff,
//!     jitter: Jitter,
//! }
//!
//! // The Controller's error policy: 750ms, 1.5s, 3s, … up to 15m for this object.
//! fn error_policy(object: Arc<ConfigMap>, _error: &std::io::Error, ctx: Arc<Context>) -> Action {
//!     Action::requeue(ctx.backoff.next_delay(&*object))
//! }
//!
//! // At the end of a successful reconcile: forget the failures, requeue at the
//! // object's interval ±5%.
//! fn succeeded(object: &ConfigMap, interval: Duration, ctx: &Context) -> Action {
//!     ctx.backoff.reset(object);
//!     Action::requeue(ctx.jitter.apply(interval))
//! }
//!
//! // Without the default ±5% of jitter here, so that the example can show exact delays.
//! let backoff = RetryBackoff::default().with_jitter(Jitter::NONE);
//! let ctx = Arc::new(Context { backoff, jitter: Jitter::default() });
//! let object = Arc::new(ConfigMap::default());
//! let error = std::io::Error::other("source not ready");
//! assert_eq!(error_policy(object.clone(), &error, ctx.clone()), Action::requeue(Duration::from_millis(750)));
//! assert_eq!(ctx.backoff.failures(&*object), 1);
//! let _ = succeeded(&object, Duration::from_secs(600), &ctx);
//! assert_eq!(ctx.backoff.failures(&*object), 0);
//! ```
//!
//! Flux's controllers retry a failed object after `--min-retry-delay` (750ms), doubling
//! up to `--max-retry-delay` (15m), and add `--interval-jitter-percentage` (5) of jitter
//! to the requeue after a success. [`RetryBackoff`] is the first, for a kube-rs
//! `Controller`'s `error_policy`, with the same defaults and a little jitter of its own
//! so that objects that failed together (an API server outage) do not retry in step;
//! [`Jitter`] is the second.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use kube::Resource;

/// Flux's `--min-retry-delay` default: the wait after an object's first failure.
pub const DEFAULT_MIN_RETRY_DELAY: Duration = Duration::from_millis(750);
/// Flux's `--max-retry-delay` default: the longest wait between retries.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);

/// A jitter of ±N% applied to durations, with N below 100 (Flux's
/// `--interval-jitter-percentage`).
///
/// ```
/// use std::time::Duration;
/// use flux_artifact_runtime::backoff::Jitter;
///
/// let jitter = Jitter::percent(10)?;
/// let requeue = jitter.apply(Duration::from_secs(60));
/// assert!(requeue >= Duration::from_secs(54) && requeue <= Duration::from_secs(66));
///
/// // The same, with the random draw made explicit (0.0 ..= 1.0; 0.5 is no change).
/// assert_eq!(jitter.apply_with(Duration::from_secs(60), 0.0), Duration::from_secs(54));
/// assert_eq!(jitter.apply_with(Duration::from_secs(60), 1.0), Duration::from_secs(66));
/// # Ok::<(), flux_artifact_runtime::backoff::InvalidJitter>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Jitter {
    percentage: u8,
}

/// A jitter percentage of 100 or more (it could make a duration zero or negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid interval jitter percentage {percentage}: it must be less than 100")]
pub struct InvalidJitter {
    /// The percentage given.
    pub percentage: u8,
}

impl Jitter {
    /// No jitter: durations are returned unchanged.
    pub const NONE: Jitter = Jitter { percentage: 0 };

    /// Flux's default `--interval-jitter-percentage`: ±5%.
    pub const DEFAULT_PERCENTAGE: u8 = 5;

    /// A jitter of ±`percentage`%.
    ///
    /// # Errors
    ///
    /// [`InvalidJitter`] for 100 or more, as Flux refuses.
    pub fn percent(percentage: u8) -> Result<Jitter, InvalidJitter> {
        if percentage >= 100 {
            return Err(InvalidJitter { percentage });
        }
        Ok(Jitter { percentage })
    }

    /// The percentage.
    #[must_use]
    pub fn percentage(self) -> u8 {
        self.percentage
    }

    /// `duration` moved by a random amount within ±percentage% (uniformly; a
    /// thread-local generator seeded by the OS).
    #[must_use]
    pub fn apply(self, duration: Duration) -> Duration {
        if self.percentage == 0 {
            return duration;
        }
        self.apply_with(duration, fastrand::f64())
    }

    /// `duration` moved by the jitter for the draw `unit` in `0.0 ..= 1.0`: `0.0` is
    /// −percentage%, `0.5` no change, `1.0` +percentage%. Values outside the range are
    /// clamped into it; a NaN draw leaves the duration unchanged. [`apply`](Self::apply)
    /// is this with a random draw; this form makes the arithmetic testable.
    #[must_use]
    pub fn apply_with(self, duration: Duration, unit: f64) -> Duration {
        if self.percentage == 0 || unit.is_nan() {
            return duration;
        }
        let spread = f64::from(self.percentage) / 100.0;
        let offset = spread * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        // Whole nanoseconds, rounded, so that round numbers stay round; float-to-int
        // casts saturate, and so do the additions.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let (shift, later) = {
            let delta = (duration.as_nanos() as f64 * offset).round();
            (Duration::from_nanos(delta.abs() as u64), delta >= 0.0)
        };
        if later {
            duration.saturating_add(shift)
        } else {
            duration.saturating_sub(shift)
        }
    }
}

impl Default for Jitter {
    /// ±5%, Flux's default.
    fn default() -> Self {
        Jitter {
            percentage: Jitter::DEFAULT_PERCENTAGE,
        }
    }
}

/// Per-object exponential backoff for reconcile errors: the `n`th consecutive failure of
/// an object waits `min × 2^(n-1)`, at most `max`, with [`Jitter`] inside those bounds;
/// [`reset`](Self::reset) after a success starts the object over. Objects are told apart
/// by namespace, name and UID, so a re-created object starts over too.
///
/// Flux's controllers do the same through controller-runtime's per-item exponential rate
/// limiter (without jitter). Share one `RetryBackoff` between the `error_policy` and the
/// reconciler (e.g. in the Controller's context); it is internally synchronized.
///
/// An object deleted while failing is never reset; its entry is dropped once it has
/// not failed for twice `max`, checked as the map grows, so memory stays bounded by
/// the objects that fail.
///
/// ```
/// use std::time::Duration;
/// use flux_artifact_runtime::backoff::{Jitter, RetryBackoff};
/// use k8s_openapi::api::core::v1::ConfigMap;
///
/// let backoff = RetryBackoff::new(Duration::from_secs(1), Duration::from_secs(10)).with_jitter(Jitter::NONE);
/// let object = ConfigMap::default();
/// let delays: Vec<u64> = (0..6).map(|_| backoff.next_delay(&object).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
/// ```
#[derive(Debug)]
pub struct RetryBackoff {
    min: Duration,
    max: Duration,
    jitter: Jitter,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    objects: HashMap<ObjectKey, Failures>,
    rng: fastrand::Rng,
    prune_at: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ObjectKey {
    namespace: Option<String>,
    name: Option<String>,
    uid: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The map is scanned for stale entries when it reaches this size, then at twice the
/// size that remains.
const PRUNE_FLOOR: usize = 1024;

impl RetryBackoff {
    /// Waits from `min` doubling up to `max` (a `max` below `min` counts as `min`), with
    /// the default ±5% [`Jitter`].
    #[must_use]
    pub fn new(min: Duration, max: Duration) -> Self {
        RetryBackoff {
            min,
            max: max.max(min),
            jitter: Jitter::default(),
            state: Mutex::new(State {
                objects: HashMap::new(),
                rng: fastrand::Rng::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    /// Replaces the jitter (`Jitter::NONE` for Flux's exact delays).
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the jitter's random generator, so that a test gets the same delays on
    /// every run.
    #[must_use]
    pub fn with_seed(self, seed: u64) -> Self {
        self.lock().rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The smallest delay.
    #[must_use]
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The largest delay.
    #[must_use]
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Counts a failure of `object` and returns how long to wait before retrying it:
    /// `min × 2^(failures-1)` capped at `max`, jittered, and never outside
    /// `min ..= max`.
    pub fn next_delay<K: Resource>(&self, object: &K) -> Duration {
        self.next_delay_at(ObjectKey::of(object), Instant::now())
    }

    /// Forgets the failures of `object` (call it when a reconcile succeeds, and when the
    /// object is cleaned up).
    pub fn reset<K: Resource>(&self, object: &K) {
        self.lock().objects.remove(&ObjectKey::of(object));
    }

    /// The consecutive failures counted for `object`.
    #[must_use]
    pub fn failures<K: Resource>(&self, object: &K) -> u32 {
        self.lock()
            .objects
            .get(&ObjectKey::of(object))
            .map_or(0, |failures| failures.count)
    }

    fn next_delay_at(&self, key: ObjectKey, now: Instant) -> Duration {
        let mut state = self.lock();
        if state.objects.len() >= state.prune_at {
            state.prune(now, self.max.saturating_mul(2));
        }
        let failures = state
            .objects
            .entry(key)
            .or_insert(Failures { count: 0, last: now });
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        let exponent = failures.count - 1;
        let base = self
            .min
            .saturating_mul(1u32.checked_shl(exponent).unwrap_or(u32::MAX))
            .min(self.max);
        let draw = state.rng.f64();
        self.jitter.apply_with(base, draw).clamp(self.min, self.max)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a map of counters: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RetryBackoff {
    /// Flux's defaults: 750ms to 15m, ±5% jitter.
    fn default() -> Self {
        RetryBackoff::new(DEFAULT_MIN_RETRY_DELAY, DEFAULT_MAX_RETRY_DELAY)
    }
}

impl State {
    fn prune(&mut self, now: Instant, stale_after: Duration) {
        self.objects
            .retain(|_, failures| now.saturating_duration_since(failures.last) < stale_after);
        self.prune_at = (self.objects.len() * 2).max(PRUNE_FLOOR);
    }
}

impl ObjectKey {
    fn of<K: Resource>(object: &K) -> Self {
        let meta = object.meta();
        ObjectKey {
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn object(name: &str, uid: &str) -> ConfigMap {
        let mut object = ConfigMap::default();
        object.metadata.namespace = Some("apps".into());
        object.metadata.name = Some(name.into());
        object.metadata.uid = Some(uid.into());
        object
    }

    fn exact(min_ms: u64, max_ms: u64) -> RetryBackoff {
        RetryBackoff::new(Duration::from_millis(min_ms), Duration::from_millis(max_ms))
            .with_jitter(Jitter::NONE)
    }

    #[test]
    fn delays_double_from_min_to_max_like_flux() {
        let backoff = RetryBackoff::default().with_jitter(Jitter::NONE);
        let object = object("podinfo", "1");
        let delays: Vec<Duration> = (0..13).map(|_| backoff.next_delay(&object)).collect();
        assert_eq!(delays[0], Duration::from_millis(750));
        assert_eq!(delays[1], Duration::from_millis(1500));
        assert_eq!(delays[10], Duration::from_millis(750 * 1024));
        assert_eq!(delays[11], DEFAULT_MAX_RETRY_DELAY);
        assert_eq!(delays[12], DEFAULT_MAX_RETRY_DELAY);
    }

    #[test]
    fn objects_back_off_independently() {
        let backoff = exact(100, 10_000);
        let failing = object("failing", "1");
        let other = object("other", "2");
        for _ in 0..3 {
            let _ = backoff.next_delay(&failing);
        }
        assert_eq!(backoff.next_delay(&other), Duration::from_millis(100));
        assert_eq!(backoff.next_delay(&failing), Duration::from_millis(800));
    }

    #[test]
    fn reset_starts_the_object_over() {
        let backoff = exact(100, 10_000);
        let object = object("podinfo", "1");
        let _ = backoff.next_delay(&object);
        let _ = backoff.next_delay(&object);
        backoff.reset(&object);
        assert_eq!(backoff.failures(&object), 0);
        assert_eq!(backoff.next_delay(&object), Duration::from_millis(100));
    }

    #[test]
    fn a_recreated_object_starts_over() {
        let backoff = exact(100, 10_000);
        let _ = backoff.next_delay(&object("podinfo", "old"));
        assert_eq!(
            backoff.next_delay(&object("podinfo", "new")),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn many_failures_saturate_at_max() {
        let backoff = exact(1, 60_000);
        let key = ObjectKey::of(&object("podinfo", "1"));
        let now = Instant::now();
        for _ in 0..100 {
            let _ = backoff.next_delay_at(key.clone(), now);
        }
        assert_eq!(backoff.next_delay_at(key, now), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_spread_and_the_bounds() {
        let backoff = RetryBackoff::new(Duration::from_secs(1), Duration::from_secs(100))
            .with_jitter(Jitter::percent(20).unwrap())
            .with_seed(7);
        let mut seen = Vec::new();
        for index in 0..200 {
            let object = object(&format!("o{index}"), "1");
            let _ = backoff.next_delay(&object);
            let second = backoff.next_delay(&object);
            assert!(
                second >= Duration::from_millis(1600) && second <= Duration::from_millis(2400),
                "{second:?}"
            );
            seen.push(second);
        }
        seen.sort();
        seen.dedup();
        assert!(
            seen.len() > 100,
            "the jitter varies the delays: {} distinct",
            seen.len()
        );
    }

    #[test]
    fn jitter_never_goes_below_min_or_above_max() {
        let backoff = RetryBackoff::new(Duration::from_secs(1), Duration::from_secs(2))
            .with_jitter(Jitter::percent(50).unwrap())
            .with_seed(1);
        for index in 0..100 {
            let object = object(&format!("o{index}"), "1");
            for _ in 0..3 {
                let delay = backoff.next_delay(&object);
                assert!(
                    delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2),
                    "{delay:?}"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let delays = |seed| {
            let backoff = RetryBackoff::default().with_seed(seed);
            let object = object("podinfo", "1");
            (0..5).map(|_| backoff.next_delay(&object)).collect::<Vec<_>>()
        };
        assert_eq!(delays(42), delays(42));
        assert_ne!(delays(42), delays(43));
    }

    fn fill(backoff: &RetryBackoff, count: usize, at: Instant) {
        for index in 0..count {
            let _ = backoff.next_delay_at(ObjectKey::of(&object(&format!("o{index}"), "1")), at);
        }
    }

    #[test]
    fn stale_entries_are_dropped_when_the_map_reaches_the_threshold() {
        let backoff = exact(100, 1000);
        let start = Instant::now();
        fill(&backoff, PRUNE_FLOOR, start);
        let _ = backoff.next_delay_at(
            ObjectKey::of(&object("recent", "1")),
            start + Duration::from_millis(2001),
        );
        let state = backoff.lock();
        assert_eq!(
            state.objects.len(),
            1,
            "entries that have not failed for twice max are dropped"
        );
        assert_eq!(state.prune_at, PRUNE_FLOOR);
    }

    #[test]
    fn entries_that_failed_recently_survive_a_prune() {
        let backoff = exact(100, 1000);
        let start = Instant::now();
        fill(&backoff, PRUNE_FLOOR, start);
        let _ = backoff.next_delay_at(
            ObjectKey::of(&object("recent", "1")),
            start + Duration::from_millis(1999),
        );
        let state = backoff.lock();
        assert_eq!(state.objects.len(), PRUNE_FLOOR + 1);
        assert_eq!(
            state.prune_at,
            2 * PRUNE_FLOOR,
            "the next scan waits until the map doubles"
        );
    }

    #[test]
    fn max_below_min_counts_as_min() {
        let backoff = exact(500, 100);
        assert_eq!(backoff.max(), Duration::from_millis(500));
        assert_eq!(
            backoff.next_delay(&object("podinfo", "1")),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn jitter_percentages_of_100_or_more_are_refused() {
        assert_eq!(Jitter::percent(100), Err(InvalidJitter { percentage: 100 }));
        assert_eq!(Jitter::percent(99).unwrap().percentage(), 99);
        assert_eq!(
            InvalidJitter { percentage: 150 }.to_string(),
            "invalid interval jitter percentage 150: it must be less than 100"
        );
    }

    #[test]
    fn jitter_draws_map_linearly_onto_the_spread() {
        let jitter = Jitter::percent(5).unwrap();
        let minute = Duration::from_secs(60);
        assert_eq!(jitter.apply_with(minute, 0.0), Duration::from_secs(57));
        assert_eq!(jitter.apply_with(minute, 0.5), minute);
        assert_eq!(jitter.apply_with(minute, 1.0), Duration::from_secs(63));
        assert_eq!(jitter.apply_with(minute, 0.75), Duration::from_millis(61_500));
        assert_eq!(jitter.apply_with(minute, 7.0), Duration::from_secs(63), "clamped");
        assert_eq!(jitter.apply_with(minute, f64::NAN), minute);
    }

    #[test]
    fn no_jitter_leaves_durations_unchanged() {
        let minute = Duration::from_secs(60);
        assert_eq!(Jitter::NONE.apply(minute), minute);
        assert_eq!(Jitter::NONE.apply_with(minute, 0.0), minute);
    }

    #[test]
    fn jitter_of_huge_durations_does_not_overflow() {
        let jitter = Jitter::percent(50).unwrap();
        assert_eq!(jitter.apply_with(Duration::MAX, 1.0), Duration::MAX);
    }

    #[test]
    fn applied_jitter_stays_in_range() {
        let jitter = Jitter::default();
        for _ in 0..1000 {
            let d = jitter.apply(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(95) && d <= Duration::from_secs(105),
                "{d:?}"
            );
        }
    }
}
