//! The one error type of the generator, and the stable kinds the CLI prints as
//! `error[KIND]: message` and the controller uses to tell terminal failures from
//! retryable ones.

use std::{fmt, io, path::PathBuf};

/// What kind of failure an [`Error`] is: a stable, kebab-case name for scripts and docs,
/// and whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A copy operation names an alias the generator does not declare.
    UnknownAlias,
    /// A `from` is not `@alias/path`.
    InvalidFrom,
    /// A `to` is not `@artifact/path`.
    InvalidTo,
    /// A non-glob `from` names nothing in its source.
    SourceNotFound,
    /// A glob in `from` is malformed.
    InvalidGlob,
    /// A glob in `from` matches nothing in its source.
    NoGlobMatch,
    /// An `exclude` pattern is malformed.
    InvalidExclude,
    /// Every match of a glob is excluded.
    AllExcluded,
    /// A destination (or an extracted entry) would land outside the artifact root.
    PathEscape,
    /// A file where a directory must go, or the reverse.
    CopyConflict,
    /// A Merge source or destination is not valid YAML or JSON.
    MergeInvalidYaml,
    /// An Extract source is not a `.tar.gz`/`.tgz` file.
    ExtractNotTarball,
    /// An Extract source is a directory.
    ExtractDirectory,
    /// An Extract source is not a valid gzipped tarball.
    ExtractInvalidArchive,
    /// An Extract source holds an entry that is refused (a link, a device, `..`).
    ExtractUnsafeEntry,
    /// A size limit was exceeded.
    SizeLimit,
    /// `pathPattern` is not `@alias/path`.
    PathPatternInvalidFormat,
    /// `pathPattern` names an alias the generator does not declare.
    PathPatternUnknownAlias,
    /// A `{capture}` in `pathPattern` is malformed or repeated.
    PathPatternInvalidCapture,
    /// A capture name is not a valid label key.
    PathPatternInvalidLabelKey,
    /// A template uses a `{capture}` that `pathPattern` does not define.
    PathPatternUndefinedCapture,
    /// A captured value is not a valid label value.
    PathPatternInvalidLabelValue,
    /// A rendered artifact name is not a valid object name.
    PathPatternInvalidName,
    /// Two matches render to the same artifact name.
    PathPatternNameCollision,
    /// The generator's spec fails validation.
    InvalidSpec,
    /// A source alias the command line does not give (local mode).
    MissingSource,
    /// A URL source could not be downloaded or its digest does not match.
    SourceFetchFailed,
    /// A filesystem operation failed.
    Io,
}

impl ErrorKind {
    /// The stable kebab-case name, as printed in `error[KIND]`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownAlias => "unknown-alias",
            ErrorKind::InvalidFrom => "invalid-from",
            ErrorKind::InvalidTo => "invalid-to",
            ErrorKind::SourceNotFound => "source-not-found",
            ErrorKind::InvalidGlob => "invalid-glob",
            ErrorKind::NoGlobMatch => "no-glob-match",
            ErrorKind::InvalidExclude => "invalid-exclude",
            ErrorKind::AllExcluded => "all-excluded",
            ErrorKind::PathEscape => "path-escape",
            ErrorKind::CopyConflict => "copy-conflict",
            ErrorKind::MergeInvalidYaml => "merge-invalid-yaml",
            ErrorKind::ExtractNotTarball => "extract-not-tarball",
            ErrorKind::ExtractDirectory => "extract-directory",
            ErrorKind::ExtractInvalidArchive => "extract-invalid-archive",
            ErrorKind::ExtractUnsafeEntry => "extract-unsafe-entry",
            ErrorKind::SizeLimit => "size-limit",
            ErrorKind::PathPatternInvalidFormat => "pathpattern-invalid-format",
            ErrorKind::PathPatternUnknownAlias => "pathpattern-unknown-alias",
            ErrorKind::PathPatternInvalidCapture => "pathpattern-invalid-capture",
            ErrorKind::PathPatternInvalidLabelKey => "pathpattern-invalid-label-key",
            ErrorKind::PathPatternUndefinedCapture => "pathpattern-undefined-capture",
            ErrorKind::PathPatternInvalidLabelValue => "pathpattern-invalid-label-value",
            ErrorKind::PathPatternInvalidName => "pathpattern-invalid-name",
            ErrorKind::PathPatternNameCollision => "pathpattern-name-collision",
            ErrorKind::InvalidSpec => "invalid-spec",
            ErrorKind::MissingSource => "missing-source",
            ErrorKind::SourceFetchFailed => "source-fetch-failed",
            ErrorKind::Io => "io",
        }
    }

    /// Whether only a change of the spec (or the command line) can fix it, so that a
    /// controller marks the generator Stalled instead of retrying.
    ///
    /// Failures that depend on the content of the sources (a path that does not exist
    /// yet, a malformed file, a tarball that fails to extract) are retryable: the next
    /// source revision may fix them. `pathPattern` failures are terminal, as in
    /// source-watcher, even those that come from directory names.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ErrorKind::UnknownAlias
                | ErrorKind::InvalidFrom
                | ErrorKind::InvalidTo
                | ErrorKind::InvalidGlob
                | ErrorKind::InvalidExclude
                | ErrorKind::PathEscape
                | ErrorKind::PathPatternInvalidFormat
                | ErrorKind::PathPatternUnknownAlias
                | ErrorKind::PathPatternInvalidCapture
                | ErrorKind::PathPatternInvalidLabelKey
                | ErrorKind::PathPatternUndefinedCapture
                | ErrorKind::PathPatternInvalidLabelValue
                | ErrorKind::PathPatternInvalidName
                | ErrorKind::PathPatternNameCollision
                | ErrorKind::InvalidSpec
                | ErrorKind::MissingSource
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure to read, validate or build a generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
        }
    }
}
