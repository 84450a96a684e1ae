//! The builder's parsers for the fuzz targets in `fuzz/`, re-exported as
//! `artifact_generator::fuzzing`; compiled only with `--cfg fuzzing`.

use std::{collections::BTreeMap, ffi::OsString, path::PathBuf};

use super::{doublestar, goglob, spec};
use crate::{api::CopyOperation, error::Error};

/// What the copy-spec parser made of one operation.
#[derive(Debug)]
pub struct ParsedCopy<'a> {
    /// The source alias of `from`.
    pub alias: String,
    /// The `from` path inside the source, without `.` and empty segments; never `..`.
    pub pattern: Vec<String>,
    /// The `to` path inside the artifact, without `.` and empty segments; never `..`.
    pub dest: Vec<String>,
    /// `to` ends with `/`.
    pub dest_is_dir: bool,
    /// `from` is a glob (Go `fs.Glob`, or doublestar for Extract).
    pub is_glob: bool,
    operation: spec::Operation<'a>,
}

impl ParsedCopy<'_> {
    /// Whether `from` selects the source entry at `path` (its components, relative to
    /// the source root), by the rules the builder applies: a plain path names one entry;
    /// a Go glob matches component by component, looking a segment without meta
    /// characters up by name as `fs.Glob` does; a doublestar glob matches the
    /// `/`-joined path and never the root.
    #[must_use]
    pub fn selects(&self, path: &[&str]) -> bool {
        match &self.operation.selector {
            spec::Selector::Path => self.pattern.iter().eq(path.iter().copied()),
            spec::Selector::Glob(glob) => {
                let segments = glob.segments();
                segments.len() == path.len()
                    && segments
                        .iter()
                        .zip(path)
                        .all(|(segment, name)| match segment.literal() {
                            Some(literal) => literal == *name,
                            None => segment.matches(name),
                        })
            }
            spec::Selector::Doublestar(pattern) => !path.is_empty() && pattern.matches(&path.join("/")),
        }
    }

    /// Whether the operation's excludes leave out the source entry at `path`, with
    /// `base` the selection root (the non-glob prefix of `from` for a glob, the
    /// directory for a plain path; empty for none).
    #[must_use]
    pub fn excludes(&self, path: &[&str], base: &[&str]) -> bool {
        let os = |p: &[&str]| p.iter().map(OsString::from).collect::<Vec<_>>();
        self.operation.excludes.excludes(&os(path), &os(base))
    }
}

/// Parses and checks one copy operation as the builder does, as
/// `spec.artifacts[0].copy[0]`, against `sources` (alias → directory, not read).
///
/// # Errors
///
/// The builder's spec errors: `invalid-from`, `invalid-to`, `unknown-alias`,
/// `invalid-exclude`, `path-escape`, `invalid-glob`.
pub fn parse_copy<'a>(
    op: &'a CopyOperation,
    sources: &'a BTreeMap<String, PathBuf>,
) -> Result<ParsedCopy<'a>, Error> {
    let parsed = spec::parse("spec.artifacts[0].copy[0]".to_owned(), op, sources)?;
    Ok(ParsedCopy {
        alias: parsed.source.alias.to_owned(),
        pattern: parsed.pattern.clone(),
        dest: parsed
            .dest
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect(),
        dest_is_dir: parsed.dest_is_dir,
        is_glob: !matches!(parsed.selector, spec::Selector::Path),
        operation: parsed,
    })
}

/// One segment of a Go glob (`path.Match` syntax), as a non-Extract `from` compiles it.
#[derive(Debug, Clone)]
pub struct GoSegment(goglob::Segment);

impl GoSegment {
    /// Compiles one `/`-free segment.
    ///
    /// # Errors
    ///
    /// Why it is malformed (Go's `path.ErrBadPattern` cases).
    pub fn new(segment: &str) -> Result<GoSegment, String> {
        goglob::Segment::new(segment).map(GoSegment)
    }

    /// Whether the path component `name` matches.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        self.0.matches(name)
    }

    /// The name the segment is looked up as, when it has no meta character.
    #[must_use]
    pub fn literal(&self) -> Option<&str> {
        self.0.literal()
    }
}

/// A doublestar pattern, as excludes and Extract globs compile it.
#[derive(Debug, Clone)]
pub struct Pattern(doublestar::Pattern);

impl Pattern {
    /// Compiles `pattern`.
    ///
    /// # Errors
    ///
    /// Why it is malformed.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        doublestar::Pattern::new(pattern).map(Pattern)
    }

    /// Whether the `/`-separated relative `path` matches.
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        self.0.matches(path)
    }

    /// Whether some path below the directory `dir` (its components) could match: false
    /// only if no path below `dir` matches.
    #[must_use]
    pub fn may_match_below(&self, dir: &[&str]) -> bool {
        self.0.may_match_below(dir)
    }
}
