//! The ArtifactGenerator's copy-spec parser (`examples/artifact-generator`): any `from`,
//! `to`, `exclude` and strategy, against sources named `src` and one arbitrary alias.
//! Beyond "does not panic":
//!
//! - the outcome is the one an independent reading of the spec predicts: the first
//!   failing check in the builder's documented order (NUL, `@alias/path`,
//!   `@artifact/path`, the alias, each exclude, `..` in `from` then in `to`, the glob),
//!   or success; every error has its stable kind, is terminal, and names its field and
//!   the value at fault (and the alias, for `unknown-alias`);
//! - an accepted spec names a known alias in `@alias/...` and a destination in
//!   `@artifact/...`; its `from` and `to` paths are the input's segments without `.` and
//!   empty ones, with no `..`, and the destination is a relative path of plain
//!   components that stays inside the artifact root;
//! - a non-Extract glob selects what Go's `fs.Glob` does: component by component, each
//!   segment as an independent model of `path.Match` (`fuzz/src/go_match.rs`) says, a
//!   segment without meta characters naming exactly itself, and `**` one component;
//! - excludes leave out exactly what source-watcher's rules say (a pattern matches the
//!   path from the source root or from the selection root, one without `/` the last
//!   name); a doublestar pattern without meta characters matches only itself, `**`
//!   every path, and a match below a directory is never pruned (`may_match_below`).
#![no_main]

use std::{collections::BTreeMap, path::PathBuf};

use arbitrary::Arbitrary;
use artifact_generator::{
    ErrorKind,
    api::{CopyOperation, CopyStrategy},
    fuzzing::{GoSegment, Pattern, parse_copy},
};
use flux_artifact_fuzz::go_match;
use libfuzzer_sys::fuzz_target;

const FIELD: &str = "spec.artifacts[0].copy[0]";

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: `from` as is; 1: `@src/` + it; 2: `@<alias>/` + it.
    from_form: u8,
    from: String,
    /// 0: `to` as is; 1: `@artifact/` + it; 2: `@artifact` + it.
    to_form: u8,
    to: String,
    exclude: Vec<String>,
    strategy: Option<u8>,
    alias: String,
    /// Source paths to ask the parsed operation about, beside its own pattern.
    paths: Vec<Vec<String>>,
    /// A selection root for the exclude rules: how many leading components of a path.
    base_len: u8,
}

/// What the parser must make of the spec.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Ok,
    Err {
        kind: ErrorKind,
        /// `from`, `to` or `exclude[i]`.
        field: String,
        value: String,
    },
}

fn err(kind: ErrorKind, field: impl Into<String>, value: &str) -> Expected {
    Expected::Err {
        kind,
        field: field.into(),
        value: value.to_owned(),
    }
}

/// A path's segments without empty ones and `.`, or `None` if one is `..`.
fn segments(path: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    (!parts.contains(&"..")).then(|| parts.into_iter().map(str::to_owned).collect())
}

/// The builder's checks, in its documented order, written from the spec's rules.
fn expected(op: &CopyOperation, sources: &BTreeMap<String, PathBuf>) -> Expected {
    use ErrorKind::*;
    if op.from.contains('\0') {
        return err(InvalidFrom, "from", &op.from);
    }
    if op.to.contains('\0') {
        return err(InvalidTo, "to", &op.to);
    }
    let Some((alias, raw_from)) = op.from.strip_prefix('@').and_then(|r| r.split_once('/')) else {
        return err(InvalidFrom, "from", &op.from);
    };
    if alias.is_empty() {
        return err(InvalidFrom, "from", &op.from);
    }
    let Some(raw_to) = op.to.strip_prefix("@artifact/") else {
        return err(InvalidTo, "to", &op.to);
    };
    if !sources.contains_key(alias) {
        return err(UnknownAlias, "from", &op.from);
    }
    for (i, pattern) in op.exclude.iter().enumerate() {
        if Pattern::new(pattern).is_err() {
            return err(InvalidExclude, format!("exclude[{i}]"), pattern);
        }
    }
    let Some(from) = segments(raw_from) else {
        return err(PathEscape, "from", &op.from);
    };
    if segments(raw_to).is_none() {
        return err(PathEscape, "to", &op.to);
    }
    if raw_from.contains(['*', '?', '[', ']']) {
        let valid = if op.strategy == Some(CopyStrategy::Extract) {
            Pattern::new(&from.join("/")).is_ok()
        } else {
            from.iter().all(|s| go_match::parse(s).is_some())
        };
        if !valid {
            return err(InvalidGlob, "from", &op.from);
        }
    }
    Expected::Ok
}

/// No character doublestar gives a meaning to.
fn doublestar_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// The exclude rules of source-watcher, over the crate's own doublestar matcher.
fn model_excludes(excludes: &[Pattern], raw: &[String], path: &[&str], base: &[&str]) -> bool {
    let Some(last) = path.last() else {
        return false;
    };
    let rule = |p: &Pattern, raw: &str, rel: &[&str]| {
        p.matches(&rel.join("/")) || (!raw.contains('/') && p.matches(last))
    };
    excludes.iter().zip(raw).any(|(p, raw)| {
        rule(p, raw, path)
            || (!base.is_empty()
                && path.len() > base.len()
                && path.starts_with(base)
                && rule(p, raw, &path[base.len()..]))
    })
}

fuzz_target!(|input: Input| {
    let alias = input.alias.clone();
    let from = match input.from_form % 3 {
        0 => input.from.clone(),
        1 => format!("@src/{}", input.from),
        _ => format!("@{alias}/{}", input.from),
    };
    let to = match input.to_form % 3 {
        0 => input.to.clone(),
        1 => format!("@artifact/{}", input.to),
        _ => format!("@artifact{}", input.to),
    };
    let strategy = input.strategy.map(|s| match s % 3 {
        0 => CopyStrategy::Overwrite,
        1 => CopyStrategy::Merge,
        _ => CopyStrategy::Extract,
    });
    let op = CopyOperation {
        from,
        to,
        exclude: input.exclude.iter().take(4).cloned().collect(),
        strategy,
    };
    let sources = BTreeMap::from([
        ("src".to_owned(), PathBuf::from("/nonexistent/src")),
        (alias, PathBuf::from("/nonexistent/alias")),
    ]);

    let want = expected(&op, &sources);
    let parsed = match parse_copy(&op, &sources) {
        Err(e) => {
            let Expected::Err { kind, field, value } = &want else {
                panic!("{op:?}: refused with {e} ({}), expected to parse", e.kind());
            };
            assert_eq!(e.kind(), *kind, "{op:?}: {e}");
            assert!(e.is_terminal(), "{op:?}: a spec error must be terminal: {e}");
            let message = e.to_string();
            let named = format!("{FIELD}.{field} '{value}'");
            assert!(
                message.starts_with(&named),
                "{op:?}: {message:?} does not name {named:?}"
            );
            if e.kind() == ErrorKind::UnknownAlias {
                let alias = op.from[1..].split_once('/').map_or("", |(a, _)| a);
                assert!(
                    message.contains(&format!("'{alias}'")),
                    "{message:?} does not name the alias"
                );
            }
            return;
        }
        Ok(parsed) => {
            assert_eq!(want, Expected::Ok, "{op:?}: parsed, expected a refusal");
            parsed
        }
    };

    // Accepted: known forms, and paths that stay inside their roots.
    let (alias, raw_from) = op.from[1..].split_once('/').unwrap();
    assert_eq!(parsed.alias, alias);
    assert!(sources.contains_key(&parsed.alias));
    let raw_to = op.to.strip_prefix("@artifact/").unwrap();
    assert_eq!(Some(&parsed.pattern), segments(raw_from).as_ref());
    assert_eq!(Some(&parsed.dest), segments(raw_to).as_ref());
    assert_eq!(parsed.dest_is_dir, op.to.ends_with('/'));
    let dest = PathBuf::from(parsed.dest.join("/"));
    assert!(dest.is_relative(), "{op:?}: destination {dest:?}");
    assert!(
        dest.components().count() == parsed.dest.len()
            && dest
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
        "{op:?}: destination {dest:?} is not a path of plain components"
    );
    assert_eq!(parsed.is_glob, raw_from.contains(['*', '?', '[', ']']));

    // The paths to ask about: the pattern's own segments, and the fuzzer's, as names a
    // directory listing can hold.
    let real_name = |n: &&str| !n.is_empty() && *n != "." && *n != ".." && !n.contains(['/', '\0']);
    let own: Vec<&str> = parsed.pattern.iter().map(String::as_str).collect();
    let mut paths: Vec<Vec<&str>> = vec![own.clone()];
    for path in input.paths.iter().take(4) {
        let names: Vec<&str> = path.iter().take(6).map(String::as_str).collect();
        if names.iter().all(real_name) {
            paths.push(names);
        }
    }
    if own.iter().all(real_name) && !own.is_empty() {
        let mut deeper = own.clone();
        deeper.push("x");
        paths.push(deeper);
        paths.push(own[..own.len() - 1].to_vec());
    }
    paths.retain(|p| p.iter().all(real_name));

    // What `from` selects.
    let extract = op.strategy == Some(CopyStrategy::Extract);
    for path in &paths {
        let selected = parsed.selects(path);
        if !parsed.is_glob {
            assert_eq!(selected, *path == own, "{op:?}: plain path on {path:?}");
        } else if !extract {
            let model = path.len() == own.len()
                && own.iter().zip(path).all(|(segment, name)| {
                    let tokens = go_match::parse(segment).unwrap();
                    go_match::matches(&tokens, name)
                });
            assert_eq!(selected, model, "{op:?}: Go glob on {path:?}");
            if own.contains(&"**") && path.len() != own.len() {
                assert!(!selected, "{op:?}: `**` took more than one component of {path:?}");
            }
        } else {
            let pattern = Pattern::new(&own.join("/")).unwrap();
            assert_eq!(selected, !path.is_empty() && pattern.matches(&path.join("/")));
            if selected {
                for depth in 1..path.len() {
                    assert!(
                        pattern.may_match_below(&path[..depth]),
                        "{op:?}: {path:?} matches but the walk would not enter {:?}",
                        &path[..depth]
                    );
                }
            }
        }
    }

    // Each Go segment alone: the crate's matcher against the model, and a segment
    // without meta characters names exactly itself.
    if parsed.is_glob && !extract {
        for segment in &own {
            let ours = GoSegment::new(segment).unwrap();
            let tokens = go_match::parse(segment).unwrap();
            let meta = segment.contains(['*', '?', '[', '\\']);
            assert_eq!(ours.literal(), (!meta).then_some(*segment));
            for name in paths.iter().flatten().chain([segment]) {
                assert_eq!(
                    ours.matches(name),
                    go_match::matches(&tokens, name),
                    "Go glob segment {segment:?} on {name:?}"
                );
                if !meta {
                    assert_eq!(
                        ours.matches(name),
                        name == segment,
                        "literal segment {segment:?} on {name:?}"
                    );
                }
            }
        }
    }

    // Excludes. The builder asks about entries only, never the root of a source.
    let compiled: Vec<Pattern> = op.exclude.iter().map(|e| Pattern::new(e).unwrap()).collect();
    for path in paths.iter().filter(|p| !p.is_empty()) {
        let base = &path[..usize::from(input.base_len).min(path.len())];
        assert_eq!(
            parsed.excludes(path, base),
            model_excludes(&compiled, &op.exclude, path, base),
            "{op:?}: excludes on {path:?} from {base:?}"
        );
        let joined = path.join("/");
        for (raw, pattern) in op.exclude.iter().zip(&compiled) {
            if doublestar_literal(raw) {
                assert_eq!(
                    pattern.matches(&joined),
                    *raw == joined,
                    "literal exclude {raw:?} on {joined:?}"
                );
                assert!(pattern.matches(raw), "literal exclude {raw:?} on itself");
            }
            if raw == "**" {
                assert!(pattern.matches(&joined), "`**` on {joined:?}");
            }
            if pattern.matches(&joined) {
                for depth in 1..path.len() {
                    assert!(
                        pattern.may_match_below(&path[..depth]),
                        "{raw:?} matches {joined:?} but prunes {:?}",
                        &path[..depth]
                    );
                }
            }
        }
    }
});
