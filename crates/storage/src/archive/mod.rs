//! [`Storage::archive`]: a directory tree into a reproducible `.tar.gz` artifact.

mod gzip;
mod tar;

use std::{
    fs::{self, File, Metadata},
    io::Write,
    path::Path,
};

use walkdir::WalkDir;

use self::{
    gzip::GzipWriter,
    tar::{ContentError, EntryType, TarWriter},
};
use crate::{
    Artifact, Error, Storage,
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
const READ_BUFFER: usize = 128 * 1024;

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

/// An [`ArchiveFilter`] applying Flux's `.sourceignore` rules; made by
/// [`source_ignore_filter`].
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

impl ArchiveFilter for SourceIgnoreFilter {
    fn exclude(&self, path: &Path, metadata: &Metadata) -> bool {
        let parts: Vec<std::borrow::Cow<'_, str>> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        let parts: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
        self.matcher.is_excluded(&parts, metadata.is_dir())
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
    /// place only when complete.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDir`] if `dir` is missing or not a directory,
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
        if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Err(Error::InvalidDir {
                path: dir.to_path_buf(),
            });
        }
        let target = self.resolve(artifact)?;
        let mut staged = StagedFile::create(&target)?;
        let temp_path = staged.path().to_path_buf();
        let sink = HashingWriter::new(staged.file(), self.digest_algorithm().digester());
        let write_error = Error::io("write", &temp_path);
        let gzip = GzipWriter::new(sink, self.compression_level(), self.compression_threads())
            .map_err(Error::io("write", &temp_path))?;
        let gzip = write_tree(dir, filter, gzip, &temp_path)?;
        let sink = gzip.finish().map_err(write_error)?;
        let (_, digest, size) = sink.finish();
        staged.commit(ARTIFACT_FILE_MODE, self.fsync())?;
        record_write(artifact, digest, size);
        Ok(())
    }
}

/// Writes the tar stream of `dir` into `out` and returns `out`.
pub(crate) fn write_tree<W: Write>(
    dir: &Path,
    filter: Option<&dyn ArchiveFilter>,
    out: W,
    out_path: &Path,
) -> Result<W, Error> {
    let mut tar = TarWriter::new(out);
    let mut buf = vec![0u8; READ_BUFFER];
    let write_error = |e| Error::Io {
        op: "write",
        path: out_path.to_path_buf(),
        source: e,
    };
    for entry in WalkDir::new(dir)
        .follow_links(false)
        .follow_root_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            Error::ArchiveSource {
                path,
                source: e.into(),
            }
        })?;
        let kind = entry.file_type();
        if !kind.is_file() && !kind.is_dir() {
            continue;
        }
        let source_error = |source| Error::ArchiveSource {
            path: entry.path().to_path_buf(),
            source,
        };
        let metadata = entry.metadata().map_err(|e| source_error(e.into()))?;
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if entry.depth() > 0 && filter.is_some_and(|f| f.exclude(relative, &metadata)) {
            continue;
        }
        let name = entry_name(relative);
        if kind.is_dir() {
            tar.write_header(&name, EntryType::Dir, DEFAULT_DIR_MODE, 0)
                .map_err(write_error)?;
            continue;
        }
        let mut file = File::open(entry.path()).map_err(source_error)?;
        let size = metadata.len();
        tar.write_header(&name, EntryType::File, file_mode(&metadata), size)
            .map_err(write_error)?;
        tar.write_content(&mut file, size, &mut buf)
            .map_err(|e| match e {
                ContentError::Read(e) => source_error(e),
                ContentError::Write(e) => write_error(e),
            })?;
    }
    tar.finish().map_err(write_error)
}

/// The tar name of a path relative to the archive root: `.` for the root, otherwise
/// the components joined with `/`, as bytes (names need not be UTF-8 on Unix).
fn entry_name(relative: &Path) -> Vec<u8> {
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
fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Borrowed(std::os::unix::ffi::OsStrExt::as_bytes(s))
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> std::borrow::Cow<'_, [u8]> {
    match s.to_string_lossy() {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    }
}

#[cfg(unix)]
fn file_mode(metadata: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if metadata.permissions().mode() & 0o111 != 0 {
        DEFAULT_EXE_FILE_MODE
    } else {
        DEFAULT_FILE_MODE
    }
}

#[cfg(not(unix))]
fn file_mode(_metadata: &Metadata) -> u32 {
    DEFAULT_FILE_MODE
}
