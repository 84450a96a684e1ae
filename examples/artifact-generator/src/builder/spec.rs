//! A copy operation, checked and parsed: `@alias/path` sources, `@artifact/path`
//! destinations, exclude patterns and the strategy.

use std::{collections::BTreeMap, ffi::OsString, path::PathBuf};

use super::{
    doublestar,
    goglob::GoGlob,
    source::{SourceTree, slash_path},
};
use crate::{
    api::{CopyOperation, CopyStrategy},
    error::{Error, SpecField},
};

/// The glob characters that make a `from` a glob (source-watcher's test; `{` and `\`
/// alone do not).
pub(crate) fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '[', ']'])
}

/// How the `from` of an operation selects files.
#[derive(Debug, Clone)]
pub(crate) enum Selector {
    /// A path without glob characters.
    Path,
    /// Go `fs.Glob` (Overwrite and Merge).
    Glob(GoGlob),
    /// doublestar (Extract).
    Doublestar(doublestar::Pattern),
}

/// A parsed copy operation.
#[derive(Debug)]
pub(crate) struct Operation<'a> {
    /// `spec.artifacts[i].copy[j]`.
    pub(crate) field: String,
    pub(crate) op: &'a CopyOperation,
    pub(crate) source: SourceTree<'a>,
    /// The `from` path inside the source, without `.` and empty segments.
    pub(crate) pattern: Vec<String>,
    pub(crate) selector: Selector,
    /// The `to` path inside the artifact, without `.` and empty segments.
    pub(crate) dest: Vec<OsString>,
    /// `to` ends with `/`.
    pub(crate) dest_is_dir: bool,
    pub(crate) strategy: CopyStrategy,
    pub(crate) excludes: Excludes,
}

impl Operation<'_> {
    pub(crate) fn source_field(&self) -> SpecField {
        SpecField::new(format!("{}.from", self.field), &self.op.from)
    }

    pub(crate) fn dest_field(&self) -> SpecField {
        SpecField::new(format!("{}.to", self.field), &self.op.to)
    }

    /// The `from` path as matched, relative to the source root.
    pub(crate) fn pattern_display(&self) -> String {
        if self.pattern.is_empty() {
            ".".to_owned()
        } else {
            self.pattern.join("/")
        }
    }
}

/// Parses and checks one copy operation; `field` is its field path
/// (`spec.artifacts[0].copy[2]`).
///
/// # Errors
///
/// `invalid-from`, `invalid-to`, `unknown-alias`, `invalid-exclude`, `path-escape` or
/// `invalid-glob`.
pub(crate) fn parse<'a>(
    field: String,
    op: &'a CopyOperation,
    sources: &'a BTreeMap<String, PathBuf>,
) -> Result<Operation<'a>, Error> {
    let source_field = || SpecField::new(format!("{field}.from"), &op.from);
    let dest_field = || SpecField::new(format!("{field}.to"), &op.to);

    // A NUL cannot be in a file name, nor in an archive path.
    if op.from.contains('\0') {
        return Err(Error::InvalidFrom {
            field: source_field(),
            reason: "must not contain a NUL character",
        });
    }
    if op.to.contains('\0') {
        return Err(Error::InvalidTo {
            field: dest_field(),
            reason: "must not contain a NUL character",
        });
    }
    let Some(rest) = op.from.strip_prefix('@') else {
        return Err(Error::InvalidFrom {
            field: source_field(),
            reason: "must start with '@' and have the form '@alias/path'",
        });
    };
    let Some((alias, raw_pattern)) = rest.split_once('/') else {
        return Err(Error::InvalidFrom {
            field: source_field(),
            reason: "must have the form '@alias/path'",
        });
    };
    if alias.is_empty() {
        return Err(Error::InvalidFrom {
            field: source_field(),
            reason: "names no alias: it must have the form '@alias/path'",
        });
    }
    let Some(raw_dest) = op.to.strip_prefix("@artifact/") else {
        return Err(Error::InvalidTo {
            field: dest_field(),
            reason: "must start with '@artifact/'",
        });
    };
    let Some((alias, root)) = sources.get_key_value(alias) else {
        return Err(Error::UnknownAlias {
            field: source_field(),
            alias: alias.to_owned(),
        });
    };
    let mut excludes = Vec::new();
    for (i, pattern) in op.exclude.iter().enumerate() {
        let compiled = doublestar::Pattern::new(pattern).map_err(|reason| Error::InvalidExclude {
            field: SpecField::new(format!("{field}.exclude[{i}]"), pattern),
            reason,
        })?;
        excludes.push((compiled, pattern.contains('/')));
    }
    let pattern = clean(raw_pattern).ok_or_else(|| Error::PathEscape {
        field: source_field(),
        reason: "'..' is not allowed: a source path stays inside its source",
    })?;
    let dest = clean(raw_dest).ok_or_else(|| Error::PathEscape {
        field: dest_field(),
        reason: "'..' is not allowed: a destination stays inside the artifact",
    })?;
    let strategy = op.strategy.unwrap_or_default();
    let selector = if !has_glob_chars(raw_pattern) {
        Selector::Path
    } else if strategy == CopyStrategy::Extract {
        Selector::Doublestar(doublestar::Pattern::new(&pattern.join("/")).map_err(|reason| {
            Error::InvalidGlob {
                field: source_field(),
                reason,
            }
        })?)
    } else {
        Selector::Glob(GoGlob::new(&pattern).map_err(|reason| Error::InvalidGlob {
            field: source_field(),
            reason,
        })?)
    };
    Ok(Operation {
        field,
        op,
        source: SourceTree { alias, root },
        pattern,
        selector,
        dest: dest.into_iter().map(OsString::from).collect(),
        dest_is_dir: op.to.ends_with('/'),
        strategy,
        excludes: Excludes { patterns: excludes },
    })
}

/// The segments of a relative path without `.` and empty ones; `None` if one is `..`.
fn clean(path: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part.to_owned()),
        }
    }
    Some(parts)
}

/// The exclude patterns of an operation (doublestar), with source-watcher's rules.
#[derive(Debug, Default)]
pub(crate) struct Excludes {
    /// Each pattern, and whether it contains a `/`.
    patterns: Vec<(doublestar::Pattern, bool)>,
}

impl Excludes {
    fn matches(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.patterns
            .iter()
            .any(|(pattern, has_slash)| pattern.matches(path) || (!has_slash && pattern.matches(name)))
    }

    /// Whether `path` (relative to the source root) is excluded: a pattern matches the
    /// path, or the path relative to `base` (the non-glob prefix of `from`), or a
    /// pattern without `/` matches its last component.
    pub(crate) fn excludes(&self, path: &[OsString], base: &[OsString]) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        if self.matches(&slash_path(path)) {
            return true;
        }
        match path.strip_prefix(base) {
            Some(rel) if !base.is_empty() && !rel.is_empty() => self.matches(&slash_path(rel)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(from: &str, to: &str) -> CopyOperation {
        CopyOperation {
            from: from.to_owned(),
            to: to.to_owned(),
            ..CopyOperation::default()
        }
    }

    fn sources() -> BTreeMap<String, PathBuf> {
        BTreeMap::from([("src".to_owned(), PathBuf::from("/nonexistent"))])
    }

    fn parse_err(from: &str, to: &str) -> Error {
        parse("spec.artifacts[0].copy[0]".into(), &op(from, to), &sources()).unwrap_err()
    }

    #[test]
    fn from_must_be_at_alias_slash_path() {
        assert!(matches!(
            parse_err("src/a", "@artifact/"),
            Error::InvalidFrom { .. }
        ));
        assert!(matches!(
            parse_err("@src", "@artifact/"),
            Error::InvalidFrom { .. }
        ));
        assert!(matches!(
            parse_err("@/a", "@artifact/"),
            Error::InvalidFrom { .. }
        ));
    }

    #[test]
    fn nul_characters_are_refused() {
        assert!(matches!(
            parse_err("@src/a\0b", "@artifact/"),
            Error::InvalidFrom { .. }
        ));
        assert!(matches!(
            parse_err("@src/a", "@artifact/a\0b"),
            Error::InvalidTo { .. }
        ));
    }

    #[test]
    fn to_must_start_with_at_artifact_slash() {
        assert!(matches!(
            parse_err("@src/a", "@artifact"),
            Error::InvalidTo { .. }
        ));
        assert!(matches!(
            parse_err("@src/a", "artifact/a"),
            Error::InvalidTo { .. }
        ));
    }

    #[test]
    fn unknown_alias_names_the_alias() {
        let err = parse_err("@other/a", "@artifact/");
        assert_eq!(
            err.to_string(),
            "spec.artifacts[0].copy[0].from '@other/a': no source has the alias 'other'"
        );
    }

    #[test]
    fn dot_dot_is_a_path_escape_in_from_and_to() {
        let err = parse_err("@src/../etc/passwd", "@artifact/");
        assert!(matches!(&err, Error::PathEscape { field, .. } if field.path.ends_with(".from")));
        let err = parse_err("@src/a", "@artifact/../x");
        assert!(matches!(&err, Error::PathEscape { field, .. } if field.path.ends_with(".to")));
        let err = parse_err("@src/a/../b", "@artifact/");
        assert!(matches!(err, Error::PathEscape { .. }));
    }

    #[test]
    fn dot_and_empty_segments_are_dropped() {
        let op = op("@src/./a//b/", "@artifact//x/./");
        let sources = sources();
        let parsed = parse("f".into(), &op, &sources).unwrap();
        assert_eq!(parsed.pattern, ["a", "b"]);
        assert_eq!(parsed.dest, [OsString::from("x")]);
        assert!(parsed.dest_is_dir);
    }

    #[test]
    fn malformed_globs_and_excludes_are_refused() {
        assert!(matches!(
            parse_err("@src/[", "@artifact/"),
            Error::InvalidGlob { .. }
        ));
        let mut bad = op("@src/*.md", "@artifact/");
        bad.exclude = vec!["ok".into(), "[*.md".into()];
        let err = parse("spec.artifacts[0].copy[0]".into(), &bad, &sources()).unwrap_err();
        assert!(matches!(&err, Error::InvalidExclude { field, .. } if field.path.ends_with(".exclude[1]")));
    }

    #[test]
    fn braces_alone_do_not_make_a_glob() {
        let (op, sources) = (op("@src/{a,b}.yaml", "@artifact/"), sources());
        let parsed = parse("f".into(), &op, &sources).unwrap();
        assert!(matches!(parsed.selector, Selector::Path));
    }

    fn rel(path: &str) -> Vec<OsString> {
        path.split('/')
            .filter(|p| !p.is_empty())
            .map(OsString::from)
            .collect()
    }

    fn excludes(patterns: &[&str]) -> Excludes {
        Excludes {
            patterns: patterns
                .iter()
                .map(|p| (doublestar::Pattern::new(p).unwrap(), p.contains('/')))
                .collect(),
        }
    }

    #[test]
    fn patterns_without_a_slash_match_names_at_any_depth() {
        let ex = excludes(&["*.md"]);
        assert!(ex.excludes(&rel("docs/deep/guide.md"), &[]));
        assert!(!ex.excludes(&rel("docs/guide.txt"), &[]));
    }

    #[test]
    fn patterns_match_from_the_source_root_and_from_the_selection_root() {
        let ex = excludes(&["infrastructure/controllers/descheduler/**", "configs/secret.yaml"]);
        let base = rel("infrastructure");
        assert!(ex.excludes(&rel("infrastructure/controllers/descheduler"), &base));
        assert!(ex.excludes(&rel("infrastructure/configs/secret.yaml"), &base));
        assert!(!ex.excludes(&rel("infrastructure/configs/app.yaml"), &base));
        assert!(!ex.excludes(&rel("other/configs/secret.yaml"), &base));
    }

    #[test]
    fn the_selection_root_itself_is_not_matched_relative_to_itself() {
        let ex = excludes(&["**"]);
        // `**` matches everything from the source root anyway.
        assert!(ex.excludes(&rel("a"), &rel("a")));
        let ex = excludes(&["b/**"]);
        assert!(!ex.excludes(&rel("a"), &rel("a")));
        assert!(ex.excludes(&rel("a/b"), &rel("a")));
    }
}
