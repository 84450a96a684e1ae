//! The YAML side of the Merge strategy, with source-watcher's semantics: its
//! `sigs.k8s.io/yaml` reads every document with go-yaml v2 (YAML 1.1 scalars: `yes`,
//! `on`, `0755` …), converts it to JSON (so keys become strings and numbers `float64`),
//! folds the documents of a file into one map, merges maps deeply with arrays replaced
//! (Helm's rule for values files), and writes the result with sorted keys.

mod emit;
mod number;

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    fmt,
};

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

pub(crate) use self::emit::to_yaml;
use self::number::{format_go_g, is_yaml_float, parse_float, parse_go_int, parse_go_uint};

/// Nesting deeper than this is refused: the merge and the writer recurse.
const MAX_DEPTH: usize = 256;

/// A YAML value after go-yaml v2 resolution. Numbers keep the type go-yaml gives them
/// until they are written (keys need it); as values they all behave as `float64`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(String),
    Seq(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// A map of a merged document.
pub(crate) type Map = BTreeMap<String, Value>;

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Uint(_) | Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }

    /// How many nodes the value holds, itself included.
    fn size(&self) -> usize {
        match self {
            Value::Seq(items) => 1 + items.iter().map(Value::size).sum::<usize>(),
            Value::Map(map) => 1 + map.values().map(Value::size).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Why a file cannot take part in a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    message: String,
}

impl YamlError {
    fn new(message: impl Into<String>) -> Self {
        YamlError {
            message: message.into(),
        }
    }

    fn at(line: usize, column: usize, message: impl fmt::Display) -> Self {
        YamlError::new(format!("line {line}, column {}: {message}", column + 1))
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A mapping being read, and the key whose value comes next.
enum Frame {
    Seq {
        anchor: usize,
        items: Vec<Value>,
    },
    Map {
        anchor: usize,
        map: Map,
        key: Option<Key>,
    },
}

enum Key {
    /// `<<`: the value's mappings are merged into this one.
    Merge,
    Name(String),
}

/// Reads every document of `text` and folds them into one map, later documents
/// overriding earlier ones key by key (deeply). Empty and `null` documents count as
/// empty maps.
///
/// # Errors
///
/// The text is not YAML, a document is not a mapping, a key cannot be a JSON key, a
/// value is not finite, or the text nests or aliases too much.
pub(crate) fn load(text: &str) -> Result<Map, YamlError> {
    let mut loader = Loader {
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        nodes: 0,
        events: 0,
    };
    let mut merged = Map::new();
    let mut document = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) =
            event.map_err(|e| YamlError::at(e.marker().line(), e.marker().col(), e.info()))?;
        let at = |message: String| YamlError::at(span.start.line(), span.start.col(), message);
        loader.events += 1;
        match event {
            Event::DocumentStart(_) => {
                document += 1;
                loader.root = None;
                loader.anchors.clear();
            }
            Event::DocumentEnd => match loader.root.take() {
                None | Some(Value::Null) => {}
                Some(Value::Map(map)) => merge(&mut merged, map),
                Some(other) => {
                    return Err(YamlError::new(format!(
                        "document {document} is {}, not a mapping",
                        other.kind()
                    )));
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let merge_key = style == ScalarStyle::Plain && text == "<<" && tag.is_none();
                let value = resolve(&text, style, tag.as_deref()).map_err(at)?;
                loader.complete(value, anchor, merge_key).map_err(at)?;
            }
            Event::SequenceStart(anchor, _) => {
                loader
                    .open(Frame::Seq {
                        anchor,
                        items: Vec::new(),
                    })
                    .map_err(at)?;
            }
            Event::MappingStart(anchor, _) => {
                loader
                    .open(Frame::Map {
                        anchor,
                        map: Map::new(),
                        key: None,
                    })
                    .map_err(at)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match loader.stack.pop() {
                    Some(Frame::Seq { anchor, items }) => (Value::Seq(items), anchor),
                    Some(Frame::Map { anchor, map, .. }) => (Value::Map(map), anchor),
                    None => return Err(at("unbalanced collection end".to_owned())),
                };
                loader.complete(value, anchor, false).map_err(at)?;
            }
            Event::Alias(id) => {
                let value = loader
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| at("alias to an unknown anchor".to_owned()))?;
                loader.nodes += value.size();
                if loader.nodes > 100_000 + 20 * loader.events {
                    return Err(at("the document aliases too much".to_owned()));
                }
                loader.complete(value, 0, false).map_err(at)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    Ok(merged)
}

struct Loader {
    anchors: HashMap<usize, Value>,
    stack: Vec<Frame>,
    root: Option<Value>,
    /// Nodes built, aliases counted by what they copy.
    nodes: usize,
    events: usize,
}

impl Loader {
    fn open(&mut self, frame: Frame) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Places a finished value into its parent (or as the document's root).
    fn complete(&mut self, value: Value, anchor: usize, merge_key: bool) -> Result<(), String> {
        self.nodes += 1;
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => {
                check_finite(&value)?;
                self.root = Some(value);
            }
            Some(Frame::Seq { items, .. }) => {
                check_finite(&value)?;
                items.push(value);
            }
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => {
                    *key = Some(if merge_key {
                        Key::Merge
                    } else {
                        Key::Name(key_string(&value)?)
                    });
                }
                Some(Key::Name(name)) => {
                    check_finite(&value)?;
                    map.insert(name, value);
                }
                Some(Key::Merge) => merge_key_value(map, value)?,
            },
        }
        Ok(())
    }
}

/// `<<: *base` or `<<: [*a, *b]`: the mappings' keys are set into `map` (earlier
/// mappings of a list win), overriding keys set before, as go-yaml v2 does.
fn merge_key_value(map: &mut Map, value: Value) -> Result<(), String> {
    let want_map = || "the value of a '<<' merge key must be a mapping or a list of mappings".to_owned();
    match value {
        Value::Map(merged) => {
            map.extend(merged);
            Ok(())
        }
        Value::Seq(items) => {
            for item in items.into_iter().rev() {
                let Value::Map(merged) = item else {
                    return Err(want_map());
                };
                map.extend(merged);
            }
            Ok(())
        }
        _ => Err(want_map()),
    }
}

/// JSON has no infinities or NaN: Go's encoder fails on them, and so does the merge.
fn check_finite(value: &Value) -> Result<(), String> {
    match value {
        Value::Float(f) if !f.is_finite() => {
            Err(format!("the value {} has no JSON form", format_go_g(*f, false)))
        }
        _ => Ok(()),
    }
}

/// The JSON key of a YAML key, as `sigs.k8s.io/yaml` converts them.
fn key_string(key: &Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(format_go_g(*f, true)),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("{} cannot be a mapping key", other.kind())),
    }
}

/// Deep-merges `overlay` into `base`: mappings merge key by key, anything else
/// (sequences included) replaces what was there.
pub(crate) fn merge(base: &mut Map, overlay: Map) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Map(base_map)), Value::Map(overlay_map)) => merge(base_map, overlay_map),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Resolves a scalar as go-yaml v2 does.
fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Value::String(text.to_owned())
        });
    };
    if !tag.is_yaml_core_schema() {
        // Application tags (`!foo`) decode to the plain string.
        return Ok(Value::String(text.to_owned()));
    }
    let resolved = resolve_plain(text);
    let mismatch = || format!("cannot decode '{text}' as !!{}", tag.suffix);
    match tag.suffix.as_str() {
        "str" | "timestamp" => Ok(Value::String(text.to_owned())),
        "null" if resolved == Value::Null => Ok(resolved),
        "bool" if matches!(resolved, Value::Bool(_)) => Ok(resolved),
        "int" if matches!(resolved, Value::Int(_) | Value::Uint(_)) => Ok(resolved),
        "float" => match resolved {
            Value::Float(_) => Ok(resolved),
            Value::Int(i) => Ok(Value::Float(emit::int_as_f64(i))),
            _ => Err(mismatch()),
        },
        "binary" => Err("!!binary values are not supported".to_owned()),
        "null" | "bool" | "int" | "map" | "seq" | "set" | "omap" | "pairs" | "merge" => Err(mismatch()),
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// go-yaml v2's resolution of an untagged plain scalar (YAML 1.1 booleans and nulls,
/// Go integer syntax, floats). Timestamps stay strings, as v2 decodes them into `any`.
pub(crate) fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if let Some(f) = parse_float(text).filter(|_| is_yaml_float(text)) {
            return Value::Float(f);
        }
        return Value::String(text.to_owned());
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Value::String(text.to_owned());
    }
    let plain: Cow<'_, str> = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    };
    if let Some(i) = parse_go_int(&plain) {
        return Value::Int(i);
    }
    if let Some(u) = parse_go_uint(&plain) {
        return Value::Uint(u);
    }
    if is_yaml_float(&plain)
        && let Some(f) = parse_float(&plain)
    {
        return Value::Float(f);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Map {
        load(text).unwrap()
    }

    fn get<'a>(map: &'a Map, key: &str) -> &'a Value {
        map.get(key).unwrap_or_else(|| panic!("no key {key} in {map:?}"))
    }

    #[test]
    fn yaml_1_1_scalars_resolve_as_go_yaml_v2() {
        let m = map(
            "a: yes\nb: off\nc: ~\nd: 0755\ne: 0x1F\nf: 1_000\ng: 1.5\nh: .5\ni: 2024-01-01\nj: '0755'\nk: \"yes\"\nl: 1e400\n",
        );
        assert_eq!(get(&m, "a"), &Value::Bool(true));
        assert_eq!(get(&m, "b"), &Value::Bool(false));
        assert_eq!(get(&m, "c"), &Value::Null);
        assert_eq!(get(&m, "d"), &Value::Int(493));
        assert_eq!(get(&m, "e"), &Value::Int(31));
        assert_eq!(get(&m, "f"), &Value::Int(1000));
        assert_eq!(get(&m, "g"), &Value::Float(1.5));
        assert_eq!(get(&m, "h"), &Value::Float(0.5));
        assert_eq!(get(&m, "i"), &Value::String("2024-01-01".into()));
        assert_eq!(get(&m, "j"), &Value::String("0755".into()));
        assert_eq!(get(&m, "k"), &Value::String("yes".into()));
        assert_eq!(get(&m, "l"), &Value::String("1e400".into()));
    }

    #[test]
    fn keys_become_json_strings() {
        let m = map("1: a\n1.5: b\ntrue: c\non: d\n0x10: e\ny: f\n");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["1", "1.5", "16", "true"]);
        // `y` and `on` are YAML 1.1 booleans, keys included.
        assert_eq!(get(&m, "true"), &Value::String("f".into()));
    }

    #[test]
    fn null_and_collection_keys_are_refused() {
        assert!(load("~: a\n").is_err());
        assert!(load("? [a]\n: b\n").is_err());
    }

    #[test]
    fn documents_fold_into_one_map_later_ones_winning() {
        let m = map("a: 1\nb:\n  c: 1\n---\n---\nb:\n  d: 2\na: 3\n");
        assert_eq!(get(&m, "a"), &Value::Int(3));
        let Value::Map(b) = get(&m, "b") else { panic!() };
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_refused() {
        let err = load("A=B\n").unwrap_err();
        assert_eq!(err.to_string(), "document 1 is a string, not a mapping");
        assert!(load("a: 1\n---\n- x\n").is_err());
        assert!(load("").unwrap().is_empty());
        assert!(load("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let m = map("base: &b {p: 1, q: 2, r: 2}\nother:\n  r: 0\n  <<: *b\n  q: 3\nlist: [*b]\n");
        let Value::Map(other) = get(&m, "other") else {
            panic!()
        };
        assert_eq!(other.get("p"), Some(&Value::Int(1)));
        // Keys after `<<` override it; go-yaml v2 lets `<<` override keys before it.
        assert_eq!(other.get("q"), Some(&Value::Int(3)));
        assert_eq!(other.get("r"), Some(&Value::Int(2)));
        let Value::Seq(list) = get(&m, "list") else {
            panic!()
        };
        assert_eq!(list.len(), 1);
        let m = map("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nc:\n  <<: [*a, *b]\n");
        let Value::Map(c) = get(&m, "c") else { panic!() };
        assert_eq!(c.get("k"), Some(&Value::Int(1)));
        assert_eq!(c.get("j"), Some(&Value::Int(2)));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = load(&text).unwrap_err();
        assert!(err.to_string().contains("aliases too much"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(load(&format!("a: {text}")).is_err());
    }

    #[test]
    fn infinite_values_are_refused_but_infinite_keys_are_not() {
        assert!(load("a: .inf\n").is_err());
        assert_eq!(map(".inf: a\n").keys().collect::<Vec<_>>(), [".inf"]);
    }

    #[test]
    fn explicit_tags() {
        let m = map("a: !!str 12\nb: !!float 1\nc: !custom x\nd: !!int '7'\n");
        assert_eq!(get(&m, "a"), &Value::String("12".into()));
        assert_eq!(get(&m, "b"), &Value::Float(1.0));
        assert_eq!(get(&m, "c"), &Value::String("x".into()));
        assert_eq!(get(&m, "d"), &Value::Int(7));
        assert!(load("a: !!int x\n").is_err());
    }

    #[test]
    fn deep_merge_replaces_arrays_and_scalars() {
        let mut base = map("a: {b: 1, c: [1, 2]}\nd: x\n");
        merge(&mut base, map("a: {c: [3], e: 1}\nd: {f: 1}\n"));
        assert_eq!(base, map("a: {b: 1, c: [3], e: 1}\nd: {f: 1}\n"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = load("a: [1, 2\n").unwrap_err();
        assert!(err.to_string().starts_with("line "), "{err}");
    }
}
