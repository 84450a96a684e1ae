//! Go duration parsing and formatting (`parse_duration`, `format_duration`).
//!
//! Invariants: no panic (no overflow) on any string; a parsed value is within Go's
//! range and formats to a string that parses back to the same value, and that string is
//! canonical (formatting again gives it back); only Go's duration characters are ever
//! accepted; and every duration in Go's range, formatted, parses back to itself.
#![no_main]

use std::time::Duration;

use flux_artifact_config::{DurationErrorKind, format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

const MAX_NANOS: u64 = i64::MAX as u64;

fn round_trips(duration: Duration) {
    let text = format_duration(duration);
    let back = parse_duration(&text).unwrap_or_else(|e| panic!("{duration:?} formats as {text:?}: {e}"));
    assert_eq!(back, duration, "{text:?}");
    assert_eq!(format_duration(back), text);
}

fuzz_target!(|data: &[u8]| {
    // Every duration Go can represent round-trips.
    if data.len() >= 8 {
        let nanos = u64::from_le_bytes(data[..8].try_into().unwrap()) % (MAX_NANOS + 1);
        round_trips(Duration::from_nanos(nanos));
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(text) {
        Ok(duration) => {
            assert!(
                duration.as_nanos() <= u128::from(MAX_NANOS),
                "{text:?} is out of Go's range"
            );
            assert!(
                text.chars().all(|c| "+-0123456789.nsuµμmh".contains(c)),
                "{text:?} accepted with a character Go rejects"
            );
            round_trips(duration);
            // A leading '+' changes nothing.
            if !text.starts_with(['+', '-']) {
                assert_eq!(parse_duration(&format!("+{text}")).unwrap(), duration);
            }
        }
        Err(error) => {
            assert_eq!(error.input(), text, "the error names the input");
            if *error.kind() == DurationErrorKind::Negative {
                assert!(text.starts_with('-'));
                // Without its sign, a negative duration is a valid positive one, or
                // -2^63 ns, Go's minimum, whose magnitude is one past the maximum.
                match parse_duration(&text[1..]) {
                    Ok(_) => {}
                    Err(e) => assert_eq!(*e.kind(), DurationErrorKind::OutOfRange, "{text:?}"),
                }
            }
            assert!(!error.to_string().is_empty());
        }
    }
});
