//! The builder's parsers for the fuzz targets in `fuzz/`, re-exported as
//! `artifact_generator::fuzzing`; compiled only with `--cfg fuzzing`.

use std::{collections::BTreeMap, path::PathBuf};

use super::{doublestar, spec};
use crate::{api::CopyOperation, error::Error};

/// What the copy-spec parser made of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCopy {
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
}

/// Parses and checks one copy operation as the builder does, as
/// `spec.artifacts[0].copy[0]`, against `sources` (alias → directory, not read).
///
/// # Errors
///
/// The builder's spec errors: `invalid-from`, `invalid-to`, `unknown-alias`,
/// `invalid-exclude`, `path-escape`, `invalid-glob`.
pub fn parse_copy(op: &CopyOperation, sources: &BTreeMap<String, PathBuf>) -> Result<ParsedCopy, Error> {
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
    })
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
