//! Writes a merged map as YAML in the shape go-yaml v2 gives it through
//! `sigs.k8s.io/yaml`: two-space indentation, sequences not indented under their key,
//! keys in go-yaml's natural order, numbers as Go prints them, and strings quoted
//! whenever a YAML 1.1 (or 1.2) reader would take them for something else.

use std::{cmp::Ordering, fmt::Write as _};

use super::{
    Map, Value,
    number::{format_merged_number, is_yaml_float},
    resolve_plain,
};

/// Implicit keys longer than this are not portable YAML.
const MAX_KEY_LEN: usize = 1024;

/// The YAML text of a merged map.
///
/// # Errors
///
/// A key longer than 1024 bytes (YAML readers refuse such implicit keys).
pub(crate) fn to_yaml(map: &Map) -> Result<String, String> {
    if map.is_empty() {
        return Ok("{}\n".to_owned());
    }
    let mut out = String::new();
    write_map(&mut out, map, 0, false)?;
    Ok(out)
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes the entries of `map` at `level`; with `inline`, the first entry continues the
/// current line (after a sequence's `- `).
fn write_map(out: &mut String, map: &Map, level: usize, inline: bool) -> Result<(), String> {
    for (i, key) in sorted_keys(map).into_iter().enumerate() {
        if i > 0 || !inline {
            indent(out, level);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(format!(
                "a key of {} bytes is longer than the {MAX_KEY_LEN} YAML allows",
                key.len()
            ));
        }
        write_scalar_string(out, key, true);
        out.push(':');
        let value = &map[key];
        match value {
            Value::Map(child) if !child.is_empty() => {
                out.push('\n');
                write_map(out, child, level + 2, false)?;
            }
            Value::Seq(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, level, false)?;
            }
            _ => {
                out.push(' ');
                write_inline(out, value, level + 2);
            }
        }
    }
    Ok(())
}

fn write_seq(out: &mut String, items: &[Value], level: usize, inline: bool) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, level);
        }
        out.push_str("- ");
        match item {
            Value::Map(child) if !child.is_empty() => write_map(out, child, level + 2, true)?,
            Value::Seq(child) if !child.is_empty() => write_seq(out, child, level + 2, true)?,
            _ => write_inline(out, item, level + 2),
        }
    }
    Ok(())
}

/// Writes a scalar (or an empty collection) and the end of its line; a multi-line
/// string becomes a literal block indented at `block_level`.
fn write_inline(out: &mut String, value: &Value, block_level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&format_merged_number(int_as_f64(*i))),
        Value::Uint(u) => out.push_str(&format_merged_number(uint_as_f64(*u))),
        Value::Float(f) => out.push_str(&format_merged_number(*f)),
        Value::String(s) if s.contains('\n') && literal_allowed(s) => {
            write_literal(out, s, block_level);
            return;
        }
        Value::String(s) => write_scalar_string(out, s, false),
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
    out.push('\n');
}

// Every number goes through a `float64` in source-watcher (JSON), which these
// conversions reproduce, precision loss included.
#[allow(clippy::cast_precision_loss)]
pub(super) fn int_as_f64(i: i64) -> f64 {
    i as f64
}

#[allow(clippy::cast_precision_loss)]
fn uint_as_f64(u: u64) -> f64 {
    u as f64
}

fn write_literal(out: &mut String, s: &str, level: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    out.push('\n');
    for line in s
        .split('\n')
        .take(body.split('\n').count() + trailing.saturating_sub(1))
    {
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// Whether a multi-line string can be a literal block that reads back unchanged.
fn literal_allowed(s: &str) -> bool {
    let Some(first) = s.split('\n').find(|l| !l.is_empty()) else {
        return false;
    };
    !first.starts_with([' ', '\t'])
        && s.chars().all(|c| c == '\n' || c == '\t' || printable(c))
        && s.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// Characters YAML can hold unescaped.
fn printable(c: char) -> bool {
    match c {
        '\u{20}'..='\u{7e}' => true,
        '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}' => {
            !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
        }
        _ => false,
    }
}

fn write_scalar_string(out: &mut String, s: &str, key: bool) {
    if s.chars().all(printable) {
        if !resolves_as_non_string(s) && plain_allowed(s) {
            out.push_str(s);
            return;
        }
        if resolves_as_non_string(s) || key {
            write_double_quoted(out, s);
        } else {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        return;
    }
    write_double_quoted(out, s);
}

/// Whether go-yaml v2 (or a YAML 1.2 reader) would read the plain text as something
/// other than this string: go-yaml quotes those, and so do we.
fn resolves_as_non_string(s: &str) -> bool {
    if !matches!(resolve_plain(s), Value::String(_)) || s == "<<" || is_base60_float(s) {
        return true;
    }
    // Timestamps (`2001-12-14`, …): go-yaml quotes what starts like one.
    let b = s.as_bytes();
    b.len() > 4 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' || is_yaml_float(s)
}

/// YAML 1.1 sexagesimal numbers (`1:20`, `-1:30:00.5`), which go-yaml quotes.
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int_part, _) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = int_part.split(':');
    let Some(head) = parts.next() else { return false };
    let mut rest = parts.peekable();
    if rest.peek().is_none() || head.is_empty() || !head.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    if !head.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let fraction_ok = s
        .split_once('.')
        .is_none_or(|(_, f)| f.chars().all(|c| c.is_ascii_digit() || c == '_'));
    fraction_ok
        && rest.all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
}

/// Whether the string can be written plain in block context and read back as itself.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    let indicator_start = match first {
        '-' | '?' | ':' => second.is_none_or(|c| c == ' ' || c == '\t'),
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`'
        | ' ' | '\t' => true,
        _ => false,
    };
    !indicator_start
        && !s.starts_with("---")
        && !s.starts_with("...")
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\t')
        && !s.contains(['\n', '\r'])
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if printable(c) => out.push(c),
            c if u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", u32::from(c));
            }
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
}

/// The keys in go-yaml v2's order: runs of digits compare as numbers, letters after
/// other characters.
fn sorted_keys(map: &Map) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    merge_sort(&mut keys, |a, b| natural_less(a, b));
    keys
}

/// A stable merge sort that stays total even if `less` is not a strict order (go-yaml's
/// comparison is not quite one; `sort_by` may panic on such comparisons).
fn merge_sort<T: Copy>(items: &mut [T], less: impl Fn(&T, &T) -> bool + Copy) {
    if items.len() <= 1 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], less);
    merge_sort(&mut items[mid..], less);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < items.len() {
        if less(&items[j], &items[i]) {
            merged.push(items[j]);
            j += 1;
        } else {
            merged.push(items[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.copy_from_slice(&merged);
}

/// go-yaml v2's key order for two strings.
fn natural_less(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            continue;
        }
        let (a_letter, b_letter) = (a[i].is_alphabetic(), b[i].is_alphabetic());
        if a_letter && b_letter {
            return a[i] < b[i];
        }
        if a_letter || b_letter {
            return b_letter;
        }
        // Two non-letters: compare the runs of digits starting here as numbers.
        let (mut an, mut bn) = (0i64, 0i64);
        if a[i] == '0' || b[i] == '0' {
            // A zero inside a number (after a non-zero digit) counts as part of it.
            let mut j = i;
            while j > 0 && a[j - 1].is_ascii_digit() {
                j -= 1;
                if a[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < a.len() && a[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(a[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < b.len() && b[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(b[bi] as u8 - b'0'));
            bi += 1;
        }
        return match an.cmp(&bn) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal if ai != bi => ai < bi,
            Ordering::Equal => a[i] < b[i],
        };
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::yaml::load;

    fn round_trip(text: &str) -> String {
        to_yaml(&load(text).unwrap()).unwrap()
    }

    #[test]
    fn layout_matches_go_yaml_v2() {
        let out = round_trip("b: {c: [1, {d: x, e: [w]}], f: {}}\na: []\n");
        assert_eq!(
            out,
            "a: []\nb:\n  c:\n  - 1\n  - d: x\n    e:\n    - w\n  f: {}\n"
        );
    }

    #[test]
    fn keys_sort_naturally() {
        let out = round_trip("item10: 1\nitem2: 1\nItem: 1\n_x: 1\na1b: 1\n");
        assert_eq!(out, "_x: 1\nItem: 1\na1b: 1\nitem2: 1\nitem10: 1\n");
    }

    #[test]
    fn strings_that_would_read_as_other_types_are_quoted() {
        let out = round_trip(
            "a: 'yes'\nb: '0755'\nc: '1.5'\nd: '~'\ne: ''\nf: '2024-01-01'\ng: '1:20'\nh: plain text\n",
        );
        assert_eq!(
            out,
            "a: \"yes\"\nb: \"0755\"\nc: \"1.5\"\nd: \"~\"\ne: \"\"\nf: \"2024-01-01\"\ng: \"1:20\"\nh: plain text\n"
        );
    }

    #[test]
    fn strings_with_indicators_are_single_quoted() {
        let out = round_trip("a: '- x'\nb: 'k: v'\nc: '#c'\nd: 'it''s: x'\ne: '-x'\n");
        assert_eq!(out, "a: '- x'\nb: 'k: v'\nc: '#c'\nd: 'it''s: x'\ne: -x\n");
    }

    #[test]
    fn multi_line_strings_become_literal_blocks() {
        let out = round_trip("a: \"one\\ntwo\"\nb: \"one\\n\\ntwo\\n\"\nc: \"x\\n\\n\"\nd: [\"p\\nq\"]\n");
        assert_eq!(
            out,
            "a: |-\n  one\n  two\nb: |\n  one\n\n  two\nc: |+\n  x\n\nd:\n- |-\n  p\n  q\n"
        );
        assert_eq!(
            load(&out).unwrap(),
            load("a: \"one\\ntwo\"\nb: \"one\\n\\ntwo\\n\"\nc: \"x\\n\\n\"\nd: [\"p\\nq\"]\n").unwrap()
        );
    }

    #[test]
    fn awkward_multi_line_strings_are_double_quoted() {
        let out = round_trip("a: \" lead\\nx\"\nb: \"trail \\nx\"\nc: \"\\n\"\n");
        assert_eq!(out, "a: \" lead\\nx\"\nb: \"trail \\nx\"\nc: \"\\n\"\n");
    }

    #[test]
    fn numbers_go_through_float64() {
        let out = round_trip("a: 1.0\nb: 1234567.5\nc: 12345678901234567890\nd: 0x10\ne: -0\n");
        assert_eq!(
            out,
            "a: 1\nb: 1.2345675e+06\nc: 12345678901234567000\nd: 16\ne: 0\n"
        );
    }

    #[test]
    fn an_empty_map_is_braces() {
        assert_eq!(round_trip(""), "{}\n");
    }

    #[test]
    fn control_characters_are_escaped() {
        let out = round_trip("a: \"x\\ty\\u0001\"\n");
        assert_eq!(out, "a: \"x\\ty\\x01\"\n");
    }

    #[test]
    fn output_reads_back_as_the_same_map_with_go_yaml_rules() {
        let tricky = [
            "",
            " ",
            "a ",
            "-",
            "- a",
            "-a",
            "? a",
            ":",
            "a:",
            "a: b",
            "#",
            "a #b",
            "'",
            "\"",
            "\\",
            "\n",
            "a\n\nb\n\n",
            " a\nb",
            "a \nb",
            "\t",
            "%a",
            "@a",
            "!a",
            "&a",
            "*a",
            "|",
            ">",
            "[a]",
            "{a}",
            "---",
            "...",
            "yes",
            "No",
            "on",
            "y",
            "~",
            "null",
            "1",
            "-1",
            "0x1",
            "0755",
            "1e3",
            "1_0",
            ".5",
            "1:20",
            "2024-01-01",
            "<<",
            "\0",
            "\u{85}",
            "é",
            "a\rb",
            "+.5",
            "08",
        ];
        let mut map = Map::new();
        for (i, s) in tricky.iter().enumerate() {
            map.insert(format!("k{i}"), Value::String((*s).to_owned()));
            map.insert(
                (*s).to_owned(),
                Value::Seq(vec![Value::String((*s).to_owned()), Value::Null]),
            );
        }
        map.insert("nested".to_owned(), Value::Map(map.clone()));
        let text = to_yaml(&map).unwrap();
        assert_eq!(load(&text).unwrap(), map, "{text}");
    }

    #[test]
    fn natural_order_never_panics_on_odd_keys() {
        let mut keys: Vec<String> = (0..200).map(|i| format!("{}0{}a{}", i % 7, i % 3, i)).collect();
        keys.extend(["0", "00", "a0", "a00", "0a", "", "-", "~1"].map(String::from));
        let map: Map = keys.into_iter().map(|k| (k, Value::Null)).collect();
        assert_eq!(sorted_keys(&map).len(), map.len());
    }
}
