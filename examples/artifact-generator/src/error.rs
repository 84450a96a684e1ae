//! The one error type of the generator, and the stable kinds the CLI prints as
//! `error[KIND]: message` and the controller uses to tell terminal failures from
//! retryable ones.

use std::{fmt, io, path::PathBuf};

use flux_artifact::storage::UntarError;

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
///
/// Each variant names the field path or file and the value at fault; a wrapped cause
/// is returned by [`source`](std::error::Error::source), not repeated in the message,
/// so print the chain to show everything (the CLI does).
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
    /// A document is not a readable `ArtifactGenerator` (YAML syntax, a wrong `kind`,
    /// a field of the wrong type).
    #[error("cannot read an ArtifactGenerator from {origin} (document {document})")]
    InvalidManifest {
        /// The file, or `<stdin>`.
        origin: String,
        /// The document's position in the stream, from 1.
        document: usize,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A field fails the CRD's validation or source-watcher's checks.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidSpec {
        /// The field path, as in `spec.artifacts[1].copy[0].from`.
        field: String,
        /// The value at fault.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `pathPattern` is not `@alias/path`.
    #[error("invalid spec.pathPattern {pattern:?}: expected @alias/path")]
    PathPatternInvalidFormat {
        /// The pattern.
        pattern: String,
    },
    /// `pathPattern` names an alias that has no source.
    #[error("spec.pathPattern {pattern:?}: source alias {alias:?} not found")]
    PathPatternUnknownAlias {
        /// The pattern.
        pattern: String,
        /// The alias.
        alias: String,
    },
    /// A `{capture}` is malformed: empty, not `[A-Za-z_][A-Za-z0-9_]*`, an unbalanced
    /// brace, or a name used twice in `pathPattern`.
    #[error("invalid capture in {field} {template:?}: {reason}")]
    PathPatternInvalidCapture {
        /// The field: `spec.pathPattern`, or the artifact field that holds a template.
        field: String,
        /// The field's value.
        template: String,
        /// What is wrong.
        reason: String,
    },
    /// A capture name cannot be a label key.
    #[error(
        "spec.pathPattern {pattern:?}: capture variable {capture:?} is not a valid Kubernetes label key: {reason}"
    )]
    PathPatternInvalidLabelKey {
        /// The pattern.
        pattern: String,
        /// The capture name.
        capture: String,
        /// Why.
        reason: &'static str,
    },
    /// A template uses a `{capture}` that `pathPattern` does not define.
    #[error("{field} {template:?}: capture variable {capture:?} is not defined by pathPattern")]
    PathPatternUndefinedCapture {
        /// The artifact field that holds the template.
        field: String,
        /// The field's value.
        template: String,
        /// The capture name.
        capture: String,
    },
    /// A captured directory name (lowercased) cannot be a label value.
    #[error(
        "spec.pathPattern {pattern:?}: captured value {value:?} for variable {capture:?} (directory {directory:?}) is not a valid Kubernetes label value: {reason}"
    )]
    PathPatternInvalidLabelValue {
        /// The pattern.
        pattern: String,
        /// The capture name.
        capture: String,
        /// The lowercased value.
        value: String,
        /// The matched directory, relative to the source root.
        directory: String,
        /// Why.
        reason: &'static str,
    },
    /// A rendered artifact name is not a valid object name.
    #[error(
        "spec.pathPattern {pattern:?}: artifact name {name:?} rendered from {field} for directory {directory:?} is not a valid Kubernetes object name: {reason}"
    )]
    PathPatternInvalidName {
        /// The pattern.
        pattern: String,
        /// The template's field (`spec.artifacts[0].name`).
        field: String,
        /// The rendered name.
        name: String,
        /// The matched directory.
        directory: String,
        /// Why.
        reason: &'static str,
    },
    /// Two matches (or two templates) render to the same artifact name.
    #[error(
        "spec.pathPattern {pattern:?}: directories {first:?} and {second:?} both resolve to artifact name {name:?}"
    )]
    PathPatternNameCollision {
        /// The pattern.
        pattern: String,
        /// The name.
        name: String,
        /// The directory that rendered it first.
        first: String,
        /// The directory that rendered it again.
        second: String,
    },
    /// A generator uses a source alias the command line does not give (local mode).
    #[error(
        "generator {generator} uses source {alias:?}, which no --source gives (add --source {alias}=PATH_OR_URL)"
    )]
    MissingSource {
        /// The generator, `namespace/name`.
        generator: String,
        /// The alias.
        alias: String,
    },
    /// A source given on the command line could not be read: a download, its digest,
    /// or the extraction of a tarball failed (local mode).
    #[error("cannot fetch source {alias:?} from {location}")]
    SourceFetchFailed {
        /// The alias.
        alias: String,
        /// The URL or path.
        location: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    // Builder failures (`crate::builder`). Each names the spec field and its value
    // ([`SpecField`]), then what is wrong.
    /// A copy operation's `from` names an alias that no source has.
    #[error("{field}: no source has the alias '{alias}'")]
    UnknownAlias {
        /// The `from` field.
        field: SpecField,
        /// The alias.
        alias: String,
    },
    /// A `from` is not `@alias/path`.
    #[error("{field}: {reason}")]
    InvalidFrom {
        /// The `from` field.
        field: SpecField,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `to` is not `@artifact/path`.
    #[error("{field}: {reason}")]
    InvalidTo {
        /// The `to` field.
        field: SpecField,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `from` without glob characters names nothing that can be copied.
    #[error("{field}: '{path}' {reason} in source '{alias}'")]
    SourceNotFound {
        /// The `from` field.
        field: SpecField,
        /// The source alias.
        alias: String,
        /// The path inside the source that is missing (or the symlink on the way to it).
        path: String,
        /// `does not exist`, or why what is there cannot be copied.
        reason: &'static str,
    },
    /// A glob in `from` is malformed.
    #[error("{field}: invalid glob pattern: {reason}")]
    InvalidGlob {
        /// The `from` field.
        field: SpecField,
        /// What is wrong with it.
        reason: String,
    },
    /// A glob in `from` matches nothing in its source.
    #[error("{field}: no files match '{pattern}' in source '{alias}'")]
    NoGlobMatch {
        /// The `from` field.
        field: SpecField,
        /// The source alias.
        alias: String,
        /// The glob, as matched (relative to the source root).
        pattern: String,
    },
    /// An `exclude` pattern is malformed.
    #[error("{field}: invalid exclude pattern: {reason}")]
    InvalidExclude {
        /// The `exclude[i]` field.
        field: SpecField,
        /// What is wrong with it.
        reason: String,
    },
    /// Every match of a glob is excluded.
    #[error("{field}: every match of '{pattern}' in source '{alias}' is excluded")]
    AllExcluded {
        /// The `from` field.
        field: SpecField,
        /// The source alias.
        alias: String,
        /// The glob, as matched.
        pattern: String,
    },
    /// A `from` or `to` would lead out of its root.
    #[error("{field}: {reason}")]
    PathEscape {
        /// The `from` or `to` field.
        field: SpecField,
        /// Why the path is refused.
        reason: &'static str,
    },
    /// A file where a directory must go in the artifact, or the reverse.
    #[error("{field}: cannot write '{path}' into the artifact: {reason}")]
    CopyConflict {
        /// The `to` field.
        field: SpecField,
        /// The artifact path that could not be written.
        path: String,
        /// What is in the way.
        reason: String,
    },
    /// A Merge source or destination is not a YAML (or JSON) mapping.
    #[error("{field}: cannot merge '{file}': {reason}")]
    MergeInvalidYaml {
        /// The `from` field.
        field: SpecField,
        /// The file that does not parse: `@alias/path` or `@artifact/path`.
        file: String,
        /// Why, with the line and column where known.
        reason: String,
    },
    /// An Extract source file does not end in `.tar.gz` or `.tgz`.
    #[error("{field}: '{path}' is not a .tar.gz or .tgz file")]
    ExtractNotTarball {
        /// The `from` field.
        field: SpecField,
        /// The file, as `@alias/path`.
        path: String,
    },
    /// An Extract source is a directory.
    #[error("{field}: '{path}' is a directory; Extract takes .tar.gz or .tgz files")]
    ExtractDirectory {
        /// The `from` field.
        field: SpecField,
        /// The directory, as `@alias/path`.
        path: String,
    },
    /// An Extract source is not a valid gzipped tarball.
    #[error("{field}: '{path}' is not a valid gzipped tarball")]
    ExtractInvalidArchive {
        /// The `from` field.
        field: SpecField,
        /// The tarball, as `@alias/path`.
        path: String,
        /// What the extraction found.
        #[source]
        source: Box<UntarError>,
    },
    /// An Extract source holds an entry that is refused: a link, a device, an absolute
    /// name or one with `..`.
    #[error("{field}: '{path}' holds an entry that cannot be extracted safely")]
    ExtractUnsafeEntry {
        /// The `from` field.
        field: SpecField,
        /// The tarball, as `@alias/path`.
        path: String,
        /// The refused entry.
        #[source]
        source: Box<UntarError>,
    },
    /// A size limit of the build was exceeded.
    #[error("{field}: {what} exceeds the limit of {limit} bytes")]
    SizeLimit {
        /// The `from` field.
        field: SpecField,
        /// What grew too large.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The caller's cancellation check asked the build to stop.
    #[error("building {artifact} was cancelled")]
    Cancelled {
        /// The artifact's field path (`spec.artifacts[0]`).
        artifact: String,
    },
    /// A built artifact could not be stored: a file it copies could not be read (or
    /// changed while it was archived), or the storage could not be written. The SDK's
    /// error is the [`source`](std::error::Error::source).
    #[error("cannot store the artifact of ExternalArtifact {object}")]
    Store {
        /// The `ExternalArtifact`, `namespace/name`.
        object: String,
        /// What the storage reported.
        #[source]
        source: flux_artifact::storage::Error,
    },
}

/// A field of a generator's spec and its value, as error messages show them:
/// `spec.artifacts[1].copy[0].from '@chart/values.yaml'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecField {
    /// The field path, e.g. `spec.artifacts[1].copy[0].from`.
    pub path: String,
    /// The field's value.
    pub value: String,
}

impl SpecField {
    /// The field at `path` holding `value`.
    #[must_use]
    pub fn new(path: impl Into<String>, value: impl Into<String>) -> Self {
        SpecField {
            path: path.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for SpecField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.path, self.value)
    }
}

impl Error {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::Cancelled { .. } | Error::Store { .. } => ErrorKind::Io,
            Error::UnknownAlias { .. } => ErrorKind::UnknownAlias,
            Error::InvalidFrom { .. } => ErrorKind::InvalidFrom,
            Error::InvalidTo { .. } => ErrorKind::InvalidTo,
            Error::SourceNotFound { .. } => ErrorKind::SourceNotFound,
            Error::InvalidGlob { .. } => ErrorKind::InvalidGlob,
            Error::NoGlobMatch { .. } => ErrorKind::NoGlobMatch,
            Error::InvalidExclude { .. } => ErrorKind::InvalidExclude,
            Error::AllExcluded { .. } => ErrorKind::AllExcluded,
            Error::PathEscape { .. } => ErrorKind::PathEscape,
            Error::CopyConflict { .. } => ErrorKind::CopyConflict,
            Error::MergeInvalidYaml { .. } => ErrorKind::MergeInvalidYaml,
            Error::ExtractNotTarball { .. } => ErrorKind::ExtractNotTarball,
            Error::ExtractDirectory { .. } => ErrorKind::ExtractDirectory,
            Error::ExtractInvalidArchive { .. } => ErrorKind::ExtractInvalidArchive,
            Error::ExtractUnsafeEntry { .. } => ErrorKind::ExtractUnsafeEntry,
            Error::SizeLimit { .. } => ErrorKind::SizeLimit,
            Error::InvalidManifest { .. } | Error::InvalidSpec { .. } => ErrorKind::InvalidSpec,
            Error::PathPatternInvalidFormat { .. } => ErrorKind::PathPatternInvalidFormat,
            Error::PathPatternUnknownAlias { .. } => ErrorKind::PathPatternUnknownAlias,
            Error::PathPatternInvalidCapture { .. } => ErrorKind::PathPatternInvalidCapture,
            Error::PathPatternInvalidLabelKey { .. } => ErrorKind::PathPatternInvalidLabelKey,
            Error::PathPatternUndefinedCapture { .. } => ErrorKind::PathPatternUndefinedCapture,
            Error::PathPatternInvalidLabelValue { .. } => ErrorKind::PathPatternInvalidLabelValue,
            Error::PathPatternInvalidName { .. } => ErrorKind::PathPatternInvalidName,
            Error::PathPatternNameCollision { .. } => ErrorKind::PathPatternNameCollision,
            Error::MissingSource { .. } => ErrorKind::MissingSource,
            Error::SourceFetchFailed { .. } => ErrorKind::SourceFetchFailed,
        }
    }

    /// Whether only a change of the spec (or command line) can fix it; see
    /// [`ErrorKind::is_terminal`].
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        self.kind().is_terminal()
    }

    pub(crate) fn invalid_spec(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidSpec {
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}
