//! Status conditions in the Flux style: `Ready`, `Reconciling` and `Stalled`, with
//! Flux's reasons, `observedGeneration`, and transition times that move only when a
//! condition's status changes.
//!
//! ```
//! use flux_artifact_kube::conditions::{self, ConditionStatus, READY, reason};
//!
//! let mut list = Vec::new();
//! conditions::set(&mut list, READY, ConditionStatus::True, reason::SUCCEEDED, "stored artifact for revision 'v1'", Some(1));
//! let first = list[0].last_transition_time.clone();
//! // Same status, new message: the transition time stays.
//! conditions::set(&mut list, READY, ConditionStatus::True, reason::SUCCEEDED, "stored artifact for revision 'v2'", Some(2));
//! assert_eq!(list[0].last_transition_time, first);
//! assert!(conditions::is_true(&list, READY));
//! ```

use std::fmt;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

/// The condition that says whether the object's artifact can be consumed.
pub const READY: &str = "Ready";
/// The condition present while a reconciliation is in progress.
pub const RECONCILING: &str = "Reconciling";
/// The condition present when reconciliation cannot go on without a spec change.
pub const STALLED: &str = "Stalled";

/// Flux's condition reasons (`fluxcd/pkg/apis/meta` and the controllers).
pub mod reason {
    /// The reconciliation succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The reconciliation failed.
    pub const FAILED: &str = "Failed";
    /// A reconciliation is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// A reconciliation is being retried after a failure.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// Building the artifact failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Applying or storing the result failed.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// Reading or verifying an artifact failed.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// A dependency (such as a source) is not ready.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// A referenced object may not be accessed (e.g. cross-namespace).
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// Reconciliation is suspended.
    pub const RECONCILIATION_DISABLED: &str = "ReconciliationDisabled";
}

/// The status of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// The wire value: `True`, `False` or `Unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets a condition (adding it if absent) at the current time; see [`set_at`].
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) -> bool {
    set_at(
        conditions,
        type_,
        status,
        reason,
        message,
        observed_generation,
        Timestamp::now(),
    )
}

/// Sets a condition, returning whether anything changed.
///
/// `lastTransitionTime` becomes `now` (at whole seconds, as on the wire) only when the
/// condition is new or its status changes; a new reason, message or generation keeps
/// the old time, so a rebuild that changes nothing does not look like a transition.
pub fn set_at(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let message = message.into();
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let before = existing.clone();
            if existing.status != status.as_str() {
                existing.status = status.as_str().to_owned();
                existing.last_transition_time = now;
            }
            existing.reason = reason.to_owned();
            existing.message = message;
            existing.observed_generation = observed_generation;
            *existing != before
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_owned(),
                status: status.as_str().to_owned(),
                reason: reason.to_owned(),
                message,
                observed_generation,
                last_transition_time: now,
            });
            true
        }
    }
}

/// The condition of a type, if present.
#[must_use]
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of a type is present with status `True`.
#[must_use]
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True.as_str())
}

/// Removes the condition of a type, returning whether it was present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    /// Sets `Ready` at `seconds`.
    fn ready(
        list: &mut Vec<Condition>,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        seconds: i64,
    ) -> bool {
        set_at(list, READY, status, reason, message, Some(1), at(seconds))
    }

    #[test]
    fn a_new_condition_gets_the_time() {
        let mut list = Vec::new();
        assert!(set_at(
            &mut list,
            READY,
            ConditionStatus::Unknown,
            reason::PROGRESSING,
            "building",
            Some(3),
            at(100)
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "Unknown");
        assert_eq!(list[0].observed_generation, Some(3));
        assert_eq!(list[0].last_transition_time, Time(at(100)));
    }

    #[test]
    fn the_time_moves_only_when_the_status_changes() {
        let mut list = Vec::new();
        ready(
            &mut list,
            ConditionStatus::False,
            reason::BUILD_FAILED,
            "boom",
            100,
        );
        assert!(ready(
            &mut list,
            ConditionStatus::False,
            reason::BUILD_FAILED,
            "boom again",
            200
        ));
        assert_eq!(list[0].last_transition_time, Time(at(100)));
        assert!(ready(
            &mut list,
            ConditionStatus::True,
            reason::SUCCEEDED,
            "ok",
            300
        ));
        assert_eq!(list[0].last_transition_time, Time(at(300)));
    }

    #[test]
    fn a_new_generation_is_a_change_but_not_a_transition() {
        let mut list = Vec::new();
        set_at(
            &mut list,
            READY,
            ConditionStatus::True,
            reason::SUCCEEDED,
            "ok",
            Some(1),
            at(100),
        );
        assert!(set_at(
            &mut list,
            READY,
            ConditionStatus::True,
            reason::SUCCEEDED,
            "ok",
            Some(2),
            at(200)
        ));
        assert_eq!(list[0].observed_generation, Some(2));
        assert_eq!(list[0].last_transition_time, Time(at(100)));
    }

    #[test]
    fn setting_the_same_condition_again_changes_nothing() {
        let mut list = Vec::new();
        ready(&mut list, ConditionStatus::True, reason::SUCCEEDED, "ok", 100);
        assert!(!ready(
            &mut list,
            ConditionStatus::True,
            reason::SUCCEEDED,
            "ok",
            500
        ));
        assert_eq!(list[0].last_transition_time, Time(at(100)));
    }

    #[test]
    fn times_are_kept_at_whole_seconds() {
        let mut list = Vec::new();
        let now: Timestamp = "2026-11-24T10:00:00.987Z".parse().unwrap();
        set_at(
            &mut list,
            STALLED,
            ConditionStatus::True,
            reason::FAILED,
            "",
            None,
            now,
        );
        assert_eq!(list[0].last_transition_time.0.to_string(), "2026-11-24T10:00:00Z");
    }

    #[test]
    fn get_is_true_and_remove() {
        let mut list = Vec::new();
        ready(&mut list, ConditionStatus::True, reason::SUCCEEDED, "ok", 1);
        set_at(
            &mut list,
            RECONCILING,
            ConditionStatus::True,
            reason::PROGRESSING,
            "",
            None,
            at(1),
        );
        assert!(is_true(&list, READY));
        assert!(!is_true(&list, STALLED));
        assert!(remove(&mut list, RECONCILING));
        assert!(!remove(&mut list, RECONCILING));
        assert!(get(&list, RECONCILING).is_none());
    }
}
