//! Go's duration syntax (`time.ParseDuration` and `Duration.String`), for flag parity.
//!
//! `--artifact-retention-ttl` takes a Go duration in the Go SDK, so a manifest written for
//! a Go controller (`--artifact-retention-ttl=1h30m`) must mean the same here. General
//! purpose parsers differ at the edges (`humantime` accepts `1d` and `1h 30m`, which Go
//! rejects), hence this small exact port of the grammar:
//! `[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+`, or a bare `0`.
//!
//! One deliberate difference: [`std::time::Duration`] cannot be negative, so a negative
//! value (which Go accepts) is [`DurationErrorKind::Negative`]; `-0s` is still zero.

use std::{fmt, time::Duration};

/// Go durations are `int64` nanoseconds; intermediate sums may reach `2^63` (the magnitude
/// of the most negative value) before the final range check.
const LIMIT: u64 = 1 << 63;

/// Parses a Go duration string such as `1m`, `90s`, `1h30m`, `250ms`, `1.5h` or `0`.
///
/// # Errors
///
/// A [`ParseDurationError`] naming the input and what is wrong with it: empty, not a
/// duration, a number without unit, an unknown unit, out of Go's range (about 292
/// years), or negative.
///
/// ```
/// use std::time::Duration;
/// use flux_artifact_config::parse_duration;
///
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert!(parse_duration("1 minute").is_err());
/// assert!(parse_duration("1d").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let fail = |kind| ParseDurationError {
        input: input.to_owned(),
        kind,
    };
    let mut rest = input.as_bytes();
    let mut negative = false;
    if let Some((&sign @ (b'-' | b'+'), tail)) = rest.split_first() {
        negative = sign == b'-';
        rest = tail;
    }
    if rest == b"0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail(DurationErrorKind::Empty));
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !(rest[0] == b'.' || rest[0].is_ascii_digit()) {
            return Err(fail(DurationErrorKind::Invalid));
        }
        let (whole, after_int) = leading_int(rest).ok_or_else(|| fail(DurationErrorKind::OutOfRange))?;
        let has_int = after_int.len() != rest.len();
        rest = after_int;

        let (mut fraction, mut scale, mut has_fraction) = (0u64, 1f64, false);
        if let Some((b'.', tail)) = rest.split_first() {
            let (f, s, after_fraction) = leading_fraction(tail);
            (fraction, scale, has_fraction) = (f, s, after_fraction.len() != tail.len());
            rest = after_fraction;
        }
        if !has_int && !has_fraction {
            return Err(fail(DurationErrorKind::Invalid));
        }

        let unit_len = rest
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(fail(DurationErrorKind::MissingUnit));
        }
        let (unit, tail) = rest.split_at(unit_len);
        rest = tail;
        let nanos_per_unit = unit_nanos(unit).ok_or_else(|| {
            fail(DurationErrorKind::UnknownUnit(
                String::from_utf8_lossy(unit).into_owned(),
            ))
        })?;

        if whole > LIMIT / nanos_per_unit {
            return Err(fail(DurationErrorKind::OutOfRange));
        }
        let mut value = whole * nanos_per_unit;
        if fraction > 0 {
            // Floating point keeps fractions of hours exact to the nanosecond, as in Go;
            // the product is at most 3.6e12 (one hour in nanoseconds).
            value += (fraction as f64 * (nanos_per_unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(fail(DurationErrorKind::OutOfRange));
            }
        }
        total = match total.checked_add(value) {
            Some(sum) if sum <= LIMIT => sum,
            _ => return Err(fail(DurationErrorKind::OutOfRange)),
        };
    }
    if negative && total != 0 {
        return Err(fail(DurationErrorKind::Negative));
    }
    if total > LIMIT - 1 {
        return Err(fail(DurationErrorKind::OutOfRange));
    }
    Ok(Duration::from_nanos(total))
}

/// Consumes leading ASCII digits; `None` if their value exceeds `2^63`.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut value: u64 = 0;
    for &c in &s[..digits] {
        if value > LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(c - b'0');
        if value > LIMIT {
            return None;
        }
    }
    Some((value, &s[digits..]))
}

/// Consumes the digits after a decimal point, returning their value and `10^n` for the
/// `n` digits kept; digits past the precision of `u64` are consumed and ignored.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (mut value, mut scale, mut saturated) = (0u64, 1f64, false);
    for &c in &s[..digits] {
        if saturated {
            continue;
        }
        if value > (LIMIT - 1) / 10 {
            saturated = true;
            continue;
        }
        let next = value * 10 + u64::from(c - b'0');
        if next > LIMIT {
            saturated = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &s[digits..])
}

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // "us", and "µs" with the micro sign U+00B5 or the Greek small letter mu U+03BC
        // (UTF-8 bytes), as Go accepts.
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60 * 1_000_000_000,
        b"h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Formats a duration as Go's `Duration.String` does: `1m0s`, `1h30m0s`, `1.5s`,
/// `250ms`, `0s`.
///
/// The output parses back with [`parse_duration`] to the same value for every duration
/// Go can represent.
///
/// ```
/// use std::time::Duration;
/// use flux_artifact_config::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(60)), "1m0s");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(format_duration(Duration::from_micros(250)), "250µs");
/// ```
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    const SECOND: u128 = 1_000_000_000;
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < SECOND {
        let (unit, precision) = match nanos {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let divisor = 10u128.pow(precision);
        return format!(
            "{}{}{unit}",
            nanos / divisor,
            fraction(nanos % divisor, precision)
        );
    }
    let seconds = nanos / SECOND;
    let (hours, minutes, secs) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let secs = format!("{secs}{}s", fraction(nanos % SECOND, 9));
    match (hours, seconds >= 60) {
        (0, false) => secs,
        (0, true) => format!("{minutes}m{secs}"),
        _ => format!("{hours}h{minutes}m{secs}"),
    }
}

/// `.ddd` for `value / 10^precision` with trailing zeros trimmed, or nothing for zero.
fn fraction(value: u128, precision: u32) -> String {
    if value == 0 {
        return String::new();
    }
    let digits = format!("{value:0width$}", width = precision as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

/// A string that is not a valid Go duration, or one [`Duration`] cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {kind}")]
pub struct ParseDurationError {
    input: String,
    kind: DurationErrorKind,
}

impl ParseDurationError {
    /// The string that failed to parse.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    #[must_use]
    pub fn kind(&self) -> &DurationErrorKind {
        &self.kind
    }
}

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationErrorKind {
    /// Nothing (or only a sign) was given.
    Empty,
    /// A character where a number must start, or a unit with no number before it.
    Invalid,
    /// A number with no unit after it (only a bare `0` may omit it).
    MissingUnit,
    /// A unit other than `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    UnknownUnit(String),
    /// More than Go's largest duration, 2^63-1 nanoseconds (about 292 years).
    OutOfRange,
    /// Below zero: a retention time or timeout cannot be negative.
    Negative,
}

impl fmt::Display for DurationErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationErrorKind::Empty => f.write_str("empty; expected a number and a unit such as 1m or 90s"),
            DurationErrorKind::Invalid => {
                f.write_str("expected a sequence of numbers with units, such as 1h30m or 1.5s")
            }
            DurationErrorKind::MissingUnit => f.write_str("missing unit; use ns, us, ms, s, m or h"),
            DurationErrorKind::UnknownUnit(unit) => {
                write!(f, "unknown unit {unit:?}; use ns, us, ms, s, m or h")
            }
            DurationErrorKind::OutOfRange => {
                f.write_str("out of range; the maximum is 2562047h47m16.854775807s")
            }
            DurationErrorKind::Negative => f.write_str("negative durations are not allowed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> DurationErrorKind {
        parse_duration(input).unwrap_err().kind
    }

    #[test]
    fn parses_the_documented_examples() {
        for (input, expected) in [
            ("1m", Duration::from_secs(60)),
            ("90s", Duration::from_secs(90)),
            ("1h30m", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("0s", Duration::ZERO),
            ("0", Duration::ZERO),
            ("+5m", Duration::from_secs(300)),
            ("-0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn fractions_are_exact_to_the_nanosecond() {
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.s").unwrap(), Duration::from_secs(1));
        assert_eq!(
            parse_duration("2h45m0.5s").unwrap(),
            Duration::from_millis(9_900_500)
        );
        assert_eq!(parse_duration("0.000000001s").unwrap(), Duration::from_nanos(1));
        assert_eq!(
            parse_duration("1.0000000000000000000001s").unwrap(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn all_microsecond_spellings_are_accepted() {
        for input in ["7us", "7µs", "7μs"] {
            assert_eq!(
                parse_duration(input).unwrap(),
                Duration::from_micros(7),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(kind(""), DurationErrorKind::Empty);
        assert_eq!(kind("-"), DurationErrorKind::Empty);
        assert_eq!(kind("1 minute"), DurationErrorKind::UnknownUnit(" minute".into()));
        assert_eq!(kind("1d"), DurationErrorKind::UnknownUnit("d".into()));
        assert_eq!(kind("1h 30m"), DurationErrorKind::UnknownUnit("h ".into()));
        assert_eq!(kind("10"), DurationErrorKind::MissingUnit);
        assert_eq!(kind("1m5"), DurationErrorKind::MissingUnit);
        assert_eq!(kind(".s"), DurationErrorKind::Invalid);
        assert_eq!(kind("m"), DurationErrorKind::Invalid);
        assert_eq!(kind("1m "), DurationErrorKind::UnknownUnit("m ".into()));
        assert_eq!(kind(" 1m"), DurationErrorKind::Invalid);
    }

    #[test]
    fn negative_durations_are_refused_with_their_own_error() {
        let err = parse_duration("-1m").unwrap_err();
        assert_eq!(err.kind, DurationErrorKind::Negative);
        assert_eq!(
            err.to_string(),
            "invalid duration \"-1m\": negative durations are not allowed"
        );
    }

    #[test]
    fn go_range_limits_hold() {
        assert_eq!(
            parse_duration("2562047h47m16.854775807s").unwrap(),
            Duration::from_nanos(i64::MAX as u64)
        );
        assert_eq!(kind("2562047h47m16.854775808s"), DurationErrorKind::OutOfRange);
        assert_eq!(kind("9223372036854775808ns"), DurationErrorKind::OutOfRange);
        assert_eq!(kind("99999999999999999999h"), DurationErrorKind::OutOfRange);
        assert_eq!(kind("3000000h"), DurationErrorKind::OutOfRange);
    }

    #[test]
    fn errors_name_the_input() {
        let err = parse_duration("1 minute").unwrap_err();
        assert_eq!(err.input(), "1 minute");
        assert!(
            err.to_string()
                .starts_with("invalid duration \"1 minute\": unknown unit \" minute\"")
        );
    }

    #[test]
    fn formats_like_go() {
        for (nanos, expected) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (4_000_000_000_000, "1h6m40s"),
            (5_400_000_000_000, "1h30m0s"),
            (i64::MAX as u64, "2562047h47m16.854775807s"),
        ] {
            assert_eq!(format_duration(Duration::from_nanos(nanos)), expected, "{nanos}");
        }
    }
}
