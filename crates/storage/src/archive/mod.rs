//! Reproducible `.tar.gz` artifacts: [`Storage::archive`] (a directory, Go's call) and
//! [`Storage::archive_content_addressed`] (a directory or a list of entries, named after
//! the digest).

mod content;
mod entries;
mod gzip;
mod tar;
mod walk;

use std::{
    fs::{self, Metadata},
    io::{self, Write},
    path::Path,
    time::Instant,
};

use flux_artifact_digest::Digest;

pub use self::{
    content::{ArchiveSource, StoredArchive},
    entries::{ArchiveEntries, ArchiveEntryError},
};
use self::{gzip::GzipWriter, tar::TarWriter};
use crate::{
    Artifact, DirProblem, Error, Storage,
    sourceignore::{Matcher, Pattern, default_patterns, vcs_patterns},
    write::{ARTIFACT_FILE_MODE, HashingWriter, StagedFile, record_write},
};

/// Mode of regular files inside an archive.
pub const DEFAULT_FILE_MODE: u32 = 0o600;
/// Mode of regular files with any execute bit inside an archive.
pub const DEFAULT_EXE_FILE_MODE: u32 = 0o700;
/// Mode of directories inside an archive.
pub const DEFAULT_DIR_MODE: u32 = 0o750;
/// The gzip level of archives unless [`Storage::with_compression_level`] says otherwise.
pub const DEFAULT_COMPRESSION_LEVEL: u8 = 6;

/// Chunk size for reading files into the archive.
pub(crate) const READ_BUFFER: usize = 128 * 1024;

/// Decides which entries [`Storage::archive`] leaves out.
///
/// `path` is relative to the archived directory (`apps/base/kustomization.yaml`) and
/// `metadata` is the entry's own (symlinks are not followed). The root directory itself
/// is always archived and never passed to the filter. Excluding a directory leaves out
/// its entry only: the entries below it are still offered to the filter one by one (as
/// in the Go SDK, where an include pattern can bring back a file under an excluded
/// directory).
///
/// Any `Fn(&Path, &Metadata) -> bool` closure is a filter; [`source_ignore_filter`]
/// gives Flux's `.sourceignore` rules.
pub trait ArchiveFilter {
    /// Returns true to leave the entry out of the archive.
    fn exclude(&self, path: &Path, metadata: &Metadata) -> bool;
}

impl<F: Fn(&Path, &Metadata) -> bool> ArchiveFilter for F {
    fn exclude(&self, path: &Path, metadata: &Metadata) -> bool {
        self(path, metadata)
    }
}

/// Decides which entries of an [`ArchiveEntries`] list
/// [`Storage::archive_content_addressed`] leaves out: the counterpart of
/// [`ArchiveFilter`] for entries that need not exist on disk (bytes, implied
/// directories), so it sees whether the entry is a directory instead of its metadata.
///
/// It is asked exactly what an [`ArchiveFilter`] would be asked about the directory the
/// list describes: `path` is the entry's archive path (`apps/base/kustomization.yaml`),
/// every directory is offered, implied ones included, the root never is, and excluding
/// a directory leaves out its entry only, not the entries below it.
///
/// Any `Fn(&Path, bool) -> bool` closure is a filter; [`SourceIgnoreFilter`] is one
/// too, so [`source_ignore_filter`] gives the same result on a list as on the
/// directory it describes.
pub trait EntryFilter {
    /// Returns true to leave the entry out of the archive; `is_dir` tells a directory
    /// from a file.
    fn exclude_entry(&self, path: &Path, is_dir: bool) -> bool;
}

impl<F: Fn(&Path, bool) -> bool> EntryFilter for F {
    fn exclude_entry(&self, path: &Path, is_dir: bool) -> bool {
        self(path, is_dir)
    }
}

/// An [`ArchiveFilter`] and [`EntryFilter`] applying Flux's `.sourceignore` rules; made
/// by [`source_ignore_filter`].
#[derive(Debug, Clone)]
pub struct SourceIgnoreFilter {
    matcher: Matcher,
}

impl SourceIgnoreFilter {
    /// The matcher this filter applies.
    #[must_use]
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }
}

impl SourceIgnoreFilter {
    fn is_excluded(&self, path: &Path, is_dir: bool) -> bool {
        let parts: Vec<std::borrow::Cow<'_, str>> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        self.matcher.is_excluded(&parts, is_dir)
    }
}

impl ArchiveFilter for SourceIgnoreFilter {
    fn exclude(&self, path: &Path, metadata: &Metadata) -> bool {
        self.is_excluded(path, metadata.is_dir())
    }
}

impl EntryFilter for SourceIgnoreFilter {
    fn exclude_entry(&self, path: &Path, is_dir: bool) -> bool {
        self.is_excluded(path, is_dir)
    }
}

/// A filter with Flux's `.sourceignore` semantics (Go: `SourceIgnoreFilter`).
///
/// With no `patterns`, it excludes the VCS files and the default patterns (images,
/// archives, CI configuration, tooling: see [`sourceignore`](crate::sourceignore)).
/// With patterns, it excludes the VCS files and applies the patterns, **without** the
/// defaults, as Flux does. `domain` scopes the built-in patterns to a subdirectory of
/// the archive (empty for the whole tree); the patterns carry their own.
///
/// To honour the `.sourceignore` files of a tree, load them with
/// [`sourceignore::load_ignore_patterns`](crate::sourceignore::load_ignore_patterns).
///
/// ```
/// use flux_artifact_storage::{source_ignore_filter, sourceignore::Pattern};
///
/// let defaults = source_ignore_filter(Vec::new(), &[]);
/// let custom = source_ignore_filter(vec![Pattern::new("*.md", &[])], &[]);
/// # let _ = (defaults, custom);
/// ```
#[must_use]
pub fn source_ignore_filter(patterns: Vec<Pattern>, domain: &[&str]) -> SourceIgnoreFilter {
    let matcher = if patterns.is_empty() {
        let mut all = vcs_patterns(domain);
        all.extend(default_patterns(domain));
        Matcher::new(all)
    } else {
        let mut all = vcs_patterns(domain);
        all.extend(patterns);
        Matcher::new(all)
    };
    SourceIgnoreFilter { matcher }
}

impl Storage {
    /// Archives the directory `dir` as a gzipped tarball at the artifact's path, then
    /// sets the artifact's `digest`, `size` (compressed bytes) and `last_update_time`
    /// (Go: `Archive`).
    ///
    /// This is the Go SDK's call, kept for parity and for fixed file names. A producer
    /// should prefer [`archive_content_addressed`](Self::archive_content_addressed),
    /// which names the file after its digest (so garbage collection can keep the
    /// previous versions, and a consumer mid-download never sees its file replaced),
    /// leaves an unchanged result untouched, takes the locks it needs, and also archives
    /// lists of entries without a staging copy.
    ///
    /// The tarball is reproducible: the same tree gives the same bytes, hence the same
    /// digest, on any machine and whatever the files' owners, times or the order the
    /// filesystem lists them in. Entries come in byte order of their names, starting
    /// with the root `.`; they are directories (mode 0750) and regular files (0700 if
    /// any execute bit is set, else 0600) with uid/gid 0, no owner names and mtime 0.
    /// Symlinks and special files are skipped, since Flux's consumers would drop or
    /// refuse them. Names are relative to `dir` (the Go SDK keeps the prefix of a
    /// relative `dir`), and `filter` sees the same relative names.
    ///
    /// The archive streams in one pass, walk → tar → gzip → digest → temporary file,
    /// with memory independent of the tree's size; the temporary file is renamed into
    /// place only when complete. Take the artifact's [`lock`](Self::lock) around the
    /// call if other writers may write the same artifact.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDir`] if `dir` is missing, not a directory or empty,
    /// [`Error::UnextractableName`] for a file or directory the filter keeps whose name
    /// no consumer can extract (see [`NameProblem`](crate::NameProblem); the Go SDK
    /// writes such an artifact, and Flux refuses it),
    /// [`Error::ArchiveSource`] if an entry cannot be read (or a file changes size while
    /// being read), [`Error::Io`] for write failures, and path errors. On error the
    /// artifact and its previous file are unchanged.
    pub fn archive(
        &self,
        artifact: &mut Artifact,
        dir: impl AsRef<Path>,
        filter: Option<&dyn ArchiveFilter>,
    ) -> Result<(), Error> {
        let dir = dir.as_ref();
        check_dir(dir)?;
        let target = self.resolve(artifact)?;
        let started = Instant::now();
        let mut staged = StagedFile::create(&target)?;
        let written = self.write_archive(&mut staged, Tree::Dir { dir, filter })?;
        staged.commit(&target, ARTIFACT_FILE_MODE, self.fsync())?;
        self.record_archive(started, &written, true);
        record_write(artifact, written.digest, written.size);
        Ok(())
    }

    /// Streams the tar stream of `tree` through gzip and the digester into `staged`.
    pub(crate) fn write_archive(&self, staged: &mut StagedFile, tree: Tree<'_>) -> Result<Written, Error> {
        let temp_path = staged.path().to_path_buf();
        let write_error = || Error::io("write", &temp_path);
        let sink = HashingWriter::new(staged.file(), self.digest_algorithm().digester());
        let gzip = GzipWriter::new(sink, self.compression_level(), self.compression_threads())
            .map_err(write_error())?;
        let mut tar = TarWriter::new(CountingWriter::new(gzip));
        match tree {
            Tree::Dir { dir, filter } => walk::write_dir(dir, filter, &mut tar, &temp_path)?,
            Tree::Entries { entries, filter } => entries.write(filter, &mut tar, &temp_path)?,
        }
        let counted = tar.finish().map_err(write_error())?;
        let input = counted.count;
        let sink = counted.inner.finish().map_err(write_error())?;
        let (_, digest, size) = sink.finish();
        Ok(Written { digest, size, input })
    }

    /// Counts a finished archive in the attached metrics, if any.
    pub(crate) fn record_archive(&self, started: Instant, written: &Written, new_file: bool) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics() {
            metrics.record(started.elapsed(), written.input, written.size, new_file);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (started, written, new_file);
    }
}

/// What to put into a tar stream.
pub(crate) enum Tree<'a> {
    /// A directory walk, as [`Storage::archive`].
    Dir {
        dir: &'a Path,
        filter: Option<&'a dyn ArchiveFilter>,
    },
    /// A list of entries.
    Entries {
        entries: &'a ArchiveEntries,
        filter: Option<&'a dyn EntryFilter>,
    },
}

/// The outcome of [`Storage::write_archive`].
pub(crate) struct Written {
    pub(crate) digest: Digest,
    /// Compressed bytes: the file's size.
    pub(crate) size: u64,
    /// Uncompressed bytes: the tar stream's size.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) input: u64,
}

/// Checks the directory given to an archive call, with the reason if it cannot be one.
pub(crate) fn check_dir(dir: &Path) -> Result<(), Error> {
    let invalid = |problem| Error::InvalidDir {
        path: dir.to_path_buf(),
        problem,
    };
    if dir.as_os_str().is_empty() {
        return Err(invalid(DirProblem::EmptyPath));
    }
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(invalid(DirProblem::NotADirectory)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(invalid(DirProblem::Missing)),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(invalid(DirProblem::Missing)),
        Err(source) => Err(Error::ArchiveSource {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Passes writes through, counting the bytes.
pub(crate) struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W> CountingWriter<W> {
    fn new(inner: W) -> Self {
        CountingWriter { inner, count: 0 }
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.count += buf.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The tar name of a path relative to the archive root: `.` for the root, otherwise
/// the components joined with `/`, as bytes (names need not be UTF-8 on Unix).
pub(crate) fn entry_name(relative: &Path) -> Vec<u8> {
    if relative.as_os_str().is_empty() {
        return b".".to_vec();
    }
    let mut name = Vec::new();
    for (i, component) in relative.components().enumerate() {
        if i > 0 {
            name.push(b'/');
        }
        name.extend_from_slice(&os_bytes(component.as_os_str()));
    }
    name
}

#[cfg(unix)]
pub(crate) fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Borrowed(std::os::unix::ffi::OsStrExt::as_bytes(s))
}

#[cfg(not(unix))]
pub(crate) fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    match s.to_string_lossy() {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    }
}

/// The archive mode of a regular file: 0700 if any execute bit is set, else 0600.
#[cfg(unix)]
pub(crate) fn file_mode(metadata: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    mode_for(metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
pub(crate) fn file_mode(_metadata: &Metadata) -> u32 {
    DEFAULT_FILE_MODE
}

/// [`DEFAULT_EXE_FILE_MODE`] or [`DEFAULT_FILE_MODE`].
pub(crate) fn mode_for(executable: bool) -> u32 {
    if executable {
        DEFAULT_EXE_FILE_MODE
    } else {
        DEFAULT_FILE_MODE
    }
}
