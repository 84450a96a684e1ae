//! Numbers as go-yaml v2 reads them and as Go prints them.
//!
//! source-watcher's merge reads YAML into `map[string]any` through JSON, so every number
//! becomes a `float64`, and writes it back through JSON and go-yaml v2: an integral value
//! below 1e21 comes out as an integer, anything else in Go's shortest `%g` form
//! (`1.5`, `1e+21`, `1.2345675e+06`).

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)` does: an optional sign, then
/// `0x`, `0o`, `0b` or a leading `0` (octal) prefix, or decimal.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_go_magnitude(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an unsigned integer as Go's `strconv.ParseUint(s, 0, 64)` does (no sign).
pub(crate) fn parse_go_uint(s: &str) -> Option<u64> {
    parse_go_magnitude(s)
}

fn parse_go_magnitude(s: &str) -> Option<u64> {
    let (radix, digits) = if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (2, rest)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml v2's float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
pub(crate) fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A float as Go's `strconv.ParseFloat(s, 64)` reads the forms above; `None` when it
/// overflows (Go then reports an error and go-yaml keeps the text as a string).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The decimal digits and the decimal point position of the shortest representation
/// that reads back as the same value (`digits` × 10^(`point` − `digits.len()`)).
fn shortest_digits(formatted_exp: &str) -> (String, i32) {
    // `formatted_exp` is Rust's `{:e}`: `[-]d[.ddd]e[-]x`, shortest round-trip digits.
    let unsigned = formatted_exp.trim_start_matches('-');
    let (mantissa, exponent) = unsigned.split_once('e').unwrap_or((unsigned, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    (digits, exponent + 1)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, bits)`, with go-yaml's names for the
/// non-finite values.
pub(crate) fn format_go_g(f: f64, single_precision: bool) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let formatted = if single_precision {
        // Go's 32-bit formatting narrows the value first.
        let narrowed = f as f32;
        format!("{narrowed:e}")
    } else {
        format!("{f:e}")
    };
    let (digits, point) = shortest_digits(&formatted);
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    let exponent = point - 1;
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
        return out;
    }
    // Fixed notation: enough digits for the shortest representation.
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let digit = |i: i32| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.as_bytes().get(i))
            .map_or('0', |&d| char::from(d))
    };
    if point > 0 {
        for i in 0..point {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if len > point {
        out.push('.');
        for i in point..len {
            out.push(digit(i));
        }
    }
    out
}

/// How a merged number is written: the `float64` goes through Go's JSON encoding and
/// back through go-yaml v2, so integral values below 1e21 that fit 64 bits are written
/// as integers (`3`, `12345678901234567000`), everything else with [`format_go_g`].
pub(crate) fn format_merged_number(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let magnitude = f.abs();
    if f.fract() == 0.0 && (1e-6..1e21).contains(&magnitude) {
        // Rust's `Display` prints the same shortest digits as Go's `'f'` format.
        let text = format!("{f}");
        if let Some(i) = parse_go_int(&text) {
            return i.to_string();
        }
        if let Some(u) = parse_go_uint(&text) {
            return u.to_string();
        }
    }
    format_go_g(f, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integer_syntax() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-42"), Some(-42));
        assert_eq!(parse_go_int("+7"), Some(7));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("0755"), Some(493));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
        assert_eq!(parse_go_uint("9223372036854775808"), Some(1 << 63));
        assert_eq!(parse_go_int("08"), None);
        assert_eq!(parse_go_int("1.5"), None);
        assert_eq!(parse_go_int(""), None);
        assert_eq!(parse_go_int("-"), None);
        assert_eq!(parse_go_int("0x"), None);
    }

    #[test]
    fn yaml_float_syntax() {
        for yes in ["1.5", "-1.5", ".5", "1.", "1e3", "1.5E-3", "+2", "08"] {
            assert!(is_yaml_float(yes), "{yes}");
        }
        for no in ["", ".", "e3", "1e", "1.5.5", "0x1p3", "inf", "1_0"] {
            assert!(!is_yaml_float(no), "{no}");
        }
        assert_eq!(parse_float("1e400"), None);
    }

    #[test]
    fn go_shortest_g_format() {
        assert_eq!(format_go_g(1.5, false), "1.5");
        assert_eq!(format_go_g(100000.0, false), "100000");
        assert_eq!(format_go_g(1234567.5, false), "1.2345675e+06");
        assert_eq!(format_go_g(1e21, false), "1e+21");
        assert_eq!(format_go_g(1e20, false), "1e+20");
        assert_eq!(format_go_g(0.0001, false), "0.0001");
        assert_eq!(format_go_g(0.00001, false), "1e-05");
        assert_eq!(format_go_g(-2.5e-7, false), "-2.5e-07");
        assert_eq!(format_go_g(1.5e300, false), "1.5e+300");
        assert_eq!(format_go_g(0.1, true), "0.1");
        assert_eq!(format_go_g(1.234_567_891_234, true), "1.2345679");
        assert_eq!(format_go_g(f64::INFINITY, true), ".inf");
    }

    #[test]
    fn merged_numbers_print_as_go_writes_them() {
        assert_eq!(format_merged_number(3.0), "3");
        assert_eq!(format_merged_number(-0.0), "0");
        assert_eq!(format_merged_number(1.0), "1");
        assert_eq!(format_merged_number(1.5), "1.5");
        assert_eq!(format_merged_number(1e20), "1e+20");
        assert_eq!(
            format_merged_number(12_345_678_901_234_567_890.0),
            "12345678901234567000"
        );
        assert_eq!(
            format_merged_number(-9_007_199_254_740_993.0),
            "-9007199254740992"
        );
        assert_eq!(format_merged_number(1234567.0), "1234567");
        assert_eq!(format_merged_number(1234567.5), "1.2345675e+06");
        assert_eq!(format_merged_number(1e-7), "1e-07");
    }
}
