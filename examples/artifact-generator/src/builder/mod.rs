//! The builder: where one [`OutputArtifact`] and the source trees it copies from become
//! the content of an artifact. The local mode and the controller both use it.
//!
//! ```
//! use std::{collections::BTreeMap, fs, path::PathBuf};
//! use artifact_generator::{
//!     api::{CopyOperation, OutputArtifact},
//!     builder::{ArchiveEntry, ArtifactBuilder},
//! };
//!
//! # let repo = tempfile::tempdir()?;
//! # fs::create_dir_all(repo.path().join("deploy/base"))?;
//! # fs::write(repo.path().join("deploy/base/app.yaml"), "kind: Deployment\n")?;
//! # fs::write(repo.path().join("deploy/README.md"), "docs\n")?;
//! let artifact = OutputArtifact {
//!     name: "app".into(),
//!     copy: vec![CopyOperation {
//!         from: "@repo/deploy/**".into(),
//!         to: "@artifact/".into(),
//!         exclude: vec!["*.md".into()],
//!         ..CopyOperation::default()
//!     }],
//!     ..OutputArtifact::default()
//! };
//! let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_path_buf())]);
//! let content = ArtifactBuilder::new(&artifact, &sources)
//!     .field_path("spec.artifacts[0]")
//!     .build()?;
//! let paths: Vec<_> = content.entries().iter().map(ArchiveEntry::path).collect();
//! assert_eq!(paths, [PathBuf::from("base"), PathBuf::from("base/app.yaml")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! Those of source-watcher's builder, operation by operation, later operations
//! overwriting earlier ones:
//!
//! - `from: "@alias/path"` without glob characters (`*?[]`) names a file or a
//!   directory. A file goes to `to` (or into `to` when `to` ends with `/` or is a
//!   directory already); a directory `dir` is copied recursively to `to/dir`, and
//!   `@alias/` copies the source's root into `to`.
//! - A glob uses Go's `fs.Glob`: `*`, `?` and `[...]` match within one path segment
//!   and `**` is a `*`, so `dir/**` matches the entries of `dir`; matched directories
//!   are copied recursively. Each match keeps its whole path under `to`, except that
//!   `dir/**` strips the `dir/` prefix.
//! - `exclude` patterns are doublestar globs (`**` spans directories), matched against
//!   the path from the source root and from the non-glob prefix of `from`; a pattern
//!   without `/` also matches a file name at any depth.
//! - `Merge` deep-merges YAML or JSON into a file already at the destination (Helm's
//!   rules: maps merge, arrays are replaced), writing it back with sorted keys; with
//!   nothing there it is a plain copy. Only files named or matched by `from` merge:
//!   the files of a copied directory overwrite.
//! - `Extract` unpacks `.tar.gz`/`.tgz` files into `to` with the SDK's safe
//!   [`untar`](flux_artifact::storage::untar); its glob is a doublestar glob, and
//!   matches that are not tarballs are skipped.
//! - **Flux's default `.sourceignore` rules apply to every artifact, whatever the copy
//!   operations say**: the archive leaves out `.git/`, `*.tar.gz`, `*.zip`, images,
//!   `.github/`, … as source-watcher's archive does, so a copied `chart.tar.gz` is not
//!   in the artifact (extract it instead). The filter is applied once, over the whole
//!   tree, when `build` lists the entries; [`ArtifactContent::entries`] lists what it
//!   keeps, and that list is what the archive holds.
//!
//! Safer than source-watcher: `..` in `from` or `to` is refused (`path-escape`) for
//! every strategy, symlinks in source trees are skipped as Flux's fetcher drops them
//! from real artifacts (and never followed out of a source), and Extract writes only
//! into its own scratch directory.
//!
//! # Output
//!
//! [`ArtifactContent::store`] (or [`store_async`](ArtifactContent::store_async)) archives
//! the content into the SDK's storage as the artifact of an `ExternalArtifact`, named
//! after its digest: the one call from a built artifact to the artifact to publish.
//! Plain copies stream straight from the source trees into the archive; only Merge
//! results (bytes in memory) and Extract results (files in the build's scratch
//! directory) are materialised. [`ArtifactContent::archive_source`] is the entry list
//! it archives, for a caller that makes the archive call itself.
//!
//! [`ArtifactContent::entries`] lists the artifact in archive order, each file pointing
//! at its content: what the archive holds, for counts, reports and tests.
//! [`ArtifactContent::materialise`] writes the tree into a directory instead, as
//! source-watcher's staging directory would hold it; archiving that directory with
//! Flux's default filter gives the same bytes as `store`.
//!
//! ```
//! # use std::{collections::BTreeMap, fs};
//! # use artifact_generator::{api::{CopyOperation, OutputArtifact}, builder::ArtifactBuilder};
//! use flux_artifact::{config::Options, storage::Storage};
//!
//! # let repo = tempfile::tempdir()?;
//! # fs::write(repo.path().join("app.yaml"), "kind: Deployment\n")?;
//! # let artifact = OutputArtifact {
//! #     name: "app".into(),
//! #     copy: vec![CopyOperation { from: "@repo/app.yaml".into(), to: "@artifact/".into(), ..CopyOperation::default() }],
//! #     ..OutputArtifact::default()
//! # };
//! # let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_path_buf())]);
//! # let root = tempfile::tempdir()?;
//! let storage = Storage::new(&Options { storage_path: root.path().into(), ..Options::default() })?;
//! let content = ArtifactBuilder::new(&artifact, &sources).build()?;
//! let stored = content.store(&storage, "flux-system", &artifact.name)?;
//! println!("{} files, {} bytes: {}", content.file_count(), content.content_size(), stored.artifact.url);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod doublestar;
#[cfg(fuzzing)]
pub(crate) mod fuzzing;
mod goglob;
mod ops;
mod source;
mod spec;
mod store;
mod tree;
mod yaml;

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use flux_artifact::storage::DEFAULT_MAX_UNTAR_SIZE;
use tempfile::TempDir;

use crate::{api::OutputArtifact, error::Error};

/// The default cap on what one artifact's Extract operations write in total: 100 MiB,
/// what source-watcher allows each tarball.
pub const DEFAULT_MAX_EXTRACT_SIZE: u64 = DEFAULT_MAX_UNTAR_SIZE;

/// The default cap on the size of a file read by a Merge: 16 MiB.
pub const DEFAULT_MAX_MERGE_SIZE: u64 = 16 << 20;

/// Builds the content of one output artifact from its sources.
///
/// `sources` maps each alias to the directory its source was fetched into. The
/// artifact's `name`, `revision` and `originRevision` are the caller's business; the
/// builder applies its `copy` operations.
#[must_use = "a builder does nothing until `build` is called"]
pub struct ArtifactBuilder<'a> {
    artifact: &'a OutputArtifact,
    sources: &'a BTreeMap<String, PathBuf>,
    field_path: String,
    max_extract_size: Option<u64>,
    max_merge_size: u64,
    cancel: Option<&'a dyn Fn() -> bool>,
    scratch_parent: Option<PathBuf>,
}

impl fmt::Debug for ArtifactBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactBuilder")
            .field("artifact", &self.artifact.name)
            .field("sources", &self.sources)
            .field("field_path", &self.field_path)
            .field("max_extract_size", &self.max_extract_size)
            .field("max_merge_size", &self.max_merge_size)
            .field("cancel", &self.cancel.map(|_| "<fn>"))
            .field("scratch_parent", &self.scratch_parent)
            .finish()
    }
}

impl<'a> ArtifactBuilder<'a> {
    /// A builder for `artifact` (its `pathPattern` placeholders already rendered),
    /// copying from the directories in `sources`, keyed by alias.
    pub fn new(artifact: &'a OutputArtifact, sources: &'a BTreeMap<String, PathBuf>) -> Self {
        ArtifactBuilder {
            artifact,
            sources,
            field_path: "spec.artifacts[0]".to_owned(),
            max_extract_size: Some(DEFAULT_MAX_EXTRACT_SIZE),
            max_merge_size: DEFAULT_MAX_MERGE_SIZE,
            cancel: None,
            scratch_parent: None,
        }
    }

    /// The field path of the artifact in its generator (default `spec.artifacts[0]`),
    /// which error messages extend: `spec.artifacts[1].copy[0].from`.
    pub fn field_path(mut self, path: impl Into<String>) -> Self {
        self.field_path = path.into();
        self
    }

    /// Caps the bytes the artifact's Extract operations write, all tarballs together
    /// (default [`DEFAULT_MAX_EXTRACT_SIZE`]; `None`: no cap).
    pub fn max_extract_size(mut self, limit: Option<u64>) -> Self {
        self.max_extract_size = limit;
        self
    }

    /// Caps the size of each file a Merge reads (default [`DEFAULT_MAX_MERGE_SIZE`]).
    pub fn max_merge_size(mut self, limit: u64) -> Self {
        self.max_merge_size = limit;
        self
    }

    /// Asks `cancelled` between operations (and between the matches and directories of
    /// one), and stops with [`Error::Cancelled`] when it returns true.
    pub fn cancel_when(mut self, cancelled: &'a dyn Fn() -> bool) -> Self {
        self.cancel = Some(cancelled);
        self
    }

    /// Where the build's scratch directory (extracted tarballs) is created; the system's
    /// temporary directory by default.
    pub fn scratch_dir(mut self, parent: impl Into<PathBuf>) -> Self {
        self.scratch_parent = Some(parent.into());
        self
    }

    /// Applies the copy operations in order and returns the artifact's content.
    ///
    /// Every operation is checked before any is applied, so a malformed spec fails the
    /// same way whatever the sources hold.
    ///
    /// # Errors
    ///
    /// The first failure, as an [`Error`] whose [`kind`](Error::kind) is one of
    /// `unknown-alias`, `invalid-from`, `invalid-to`, `invalid-glob`, `invalid-exclude`,
    /// `path-escape` (the spec), `source-not-found`, `no-glob-match`, `all-excluded`,
    /// `copy-conflict`, `merge-invalid-yaml`, `extract-not-tarball`,
    /// `extract-directory`, `extract-invalid-archive`, `extract-unsafe-entry`,
    /// `size-limit` (the sources) or `io`. Each names the field (`…copy[2].from`) and
    /// its value.
    pub fn build(self) -> Result<ArtifactContent, Error> {
        let operations = self
            .artifact
            .copy
            .iter()
            .enumerate()
            .map(|(i, op)| spec::parse(format!("{}.copy[{i}]", self.field_path), op, self.sources))
            .collect::<Result<Vec<_>, _>>()?;
        let parent = self.scratch_parent.clone().unwrap_or_else(std::env::temp_dir);
        let scratch = tempfile::Builder::new()
            .prefix(".artifact-generator-")
            .tempdir_in(&parent)
            .map_err(|source| Error::Io {
                op: "create a scratch directory in",
                path: parent.clone(),
                source,
            })?;
        let mut state = ops::State {
            tree: tree::Tree::default(),
            scratch: scratch.path(),
            artifact_field: &self.field_path,
            max_extract_size: self.max_extract_size,
            max_merge_size: self.max_merge_size,
            cancel: self.cancel,
            extracted: 0,
            extractions: 0,
        };
        for operation in &operations {
            state.check_cancel()?;
            ops::apply(&mut state, operation)?;
        }
        let listing = state.tree.entries(store::default_filter().matcher());
        Ok(ArtifactContent {
            entries: listing.entries,
            entries_need_filter: listing.kept_below_excluded,
            tree: state.tree,
            scratch,
        })
    }
}

/// Where the bytes of a file in the artifact come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// A file on disk: in a source tree, or in the build's scratch directory.
    Path(PathBuf),
    /// Bytes in memory (the result of a merge).
    Bytes(Arc<[u8]>),
}

/// One entry of an artifact's archive. Paths are relative to the artifact's root,
/// whose own entry is implicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveEntry {
    /// A directory.
    Directory {
        /// Its path in the artifact.
        path: PathBuf,
    },
    /// A regular file.
    File {
        /// Its path in the artifact.
        path: PathBuf,
        /// Where its bytes are.
        content: FileContent,
        /// Whether it is executable (the archive keeps only this of the mode).
        executable: bool,
        /// Its size in bytes, when the build saw it.
        size: u64,
    },
}

impl ArchiveEntry {
    /// The entry's path in the artifact.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            ArchiveEntry::Directory { path } | ArchiveEntry::File { path, .. } => path,
        }
    }
}

/// The content of a built artifact. It owns the scratch directory that extracted files
/// live in, which is removed when it is dropped: archive (or
/// [`materialise`](Self::materialise)) before then.
#[derive(Debug)]
#[must_use = "the content is lost unless archived or materialised"]
pub struct ArtifactContent {
    entries: Vec<ArchiveEntry>,
    /// Whether archiving `entries` needs the default filter again to give the filtered
    /// tree's archive (see [`tree::Listing`]); false for every tree Flux's default rules
    /// filter.
    entries_need_filter: bool,
    /// Everything the operations produced, before the `.sourceignore` rules.
    tree: tree::Tree,
    scratch: TempDir,
}

impl ArtifactContent {
    /// The archive's entries, in archive order: a directory before what it holds,
    /// names in byte order, what Flux's default `.sourceignore` rules exclude left out
    /// (the root's own entry is implicit). This is what [`store`](Self::store) archives.
    #[must_use]
    pub fn entries(&self) -> &[ArchiveEntry] {
        &self.entries
    }

    /// How many regular files the artifact holds.
    #[must_use]
    pub fn file_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, ArchiveEntry::File { .. }))
            .count()
    }

    /// The total size of the artifact's files, before compression.
    #[must_use]
    pub fn content_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e {
                ArchiveEntry::File { size, .. } => *size,
                ArchiveEntry::Directory { .. } => 0,
            })
            .sum()
    }

    /// The build's scratch directory, where extracted files are.
    #[must_use]
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Writes everything the copy operations produced into `dir` (created if missing;
    /// it must be empty), as source-watcher's staging directory holds it: including
    /// what the default `.sourceignore` rules leave out of the archive. Directories are
    /// 0755, files 0644, or 0755 when executable.
    ///
    /// Archiving `dir` with Flux's default filter
    /// ([`source_ignore_filter`](flux_artifact::storage::source_ignore_filter) with no
    /// patterns) gives the same archive, byte for byte, as
    /// [`archive_source`](Self::archive_source).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `dir` is not empty or cannot be written, or a source file
    /// cannot be read.
    pub fn materialise(&self, dir: &Path) -> Result<(), Error> {
        let everything = self
            .tree
            .entries(&flux_artifact::storage::sourceignore::Matcher::default())
            .entries;
        tree::materialise(&everything, dir).map_err(|source| Error::Io {
            op: "materialise the artifact in",
            path: dir.to_path_buf(),
            source,
        })
    }
}
