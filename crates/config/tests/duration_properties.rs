//! Invariants of the Go duration parser and formatter, on generated inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flux_artifact_config::{format_duration, parse_duration};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Every duration Go can hold formats to text that parses back to it.
    #[test]
    fn format_then_parse_round_trips(nanos in 0..=i64::MAX as u64) {
        let duration = Duration::from_nanos(nanos);
        prop_assert_eq!(parse_duration(&format_duration(duration)).unwrap(), duration);
    }

    /// Sums of units parse to the sum, whatever their order.
    #[test]
    fn unit_sums_add_up(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
        let text = format!("{ms}ms{s}s{m}m{h}h");
        let expected = Duration::from_millis(ms) + Duration::from_secs(s + 60 * m + 3600 * h);
        prop_assert_eq!(parse_duration(&text).unwrap(), expected);
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = parse_duration(&text);
    }
}
