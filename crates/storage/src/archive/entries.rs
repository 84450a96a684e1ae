//! [`ArchiveEntries`]: the content of an archive given as a list of entries rather than
//! a directory, so a build needs no staging copy.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use super::{
    DEFAULT_DIR_MODE, EntryFilter, READ_BUFFER, file_mode, mode_for,
    tar::{ContentError, EntryType, TarWriter},
};
use crate::{Error, names::check_component};

/// The content of an archive as a list of entries: archive paths mapped to files on
/// disk, to bytes, or to directories. Archive it with
/// [`Storage::archive_content_addressed`](crate::Storage::archive_content_addressed) and
/// [`ArchiveSource::entries`](crate::ArchiveSource::entries).
///
/// A list describes a directory tree, and archiving it gives **exactly the bytes** that
/// archiving that tree (materialised on disk) with
/// [`Storage::archive`](crate::Storage::archive) would: the root `.` first, then every
/// entry in byte order of names level by level, directories with mode 0750, files with
/// 0700 if executable and 0600 if not, the same headers. So a build can assemble its
/// output from several source trees and generated files without copying anything: file
/// contents are streamed from disk when the archive is written, never held in memory.
///
/// The rules, as for writes into a directory:
///
/// - archive paths are relative and `/`-separated, without empty, `.` or `..`
///   components, NUL bytes or backslashes, with components of at most
///   [`MAX_NAME_COMPONENT_BYTES`](crate::MAX_NAME_COMPONENT_BYTES) bytes: what every
///   consumer extracts ([`ArchiveEntryError::InvalidPath`] says which rule a path
///   breaks);
/// - the parents of an entry are implied: adding `a/b/c.yaml` adds the directories `a`
///   and `a/b`; [`add_dir`](Self::add_dir) is for empty directories;
/// - adding a file at a path that holds a file replaces it (the last copy wins), and
///   adding a directory that exists changes nothing;
/// - a file where a directory is, or a directory (or a parent of one) where a file is,
///   is a conflict ([`ArchiveEntryError::FileOverDirectory`],
///   [`ArchiveEntryError::DirectoryOverFile`]) and leaves the list unchanged.
///
/// The order of additions matters only for replacements: the archive's order is always
/// the canonical one.
///
/// A file on disk is read when the archive is written: its mode (executable or not) and
/// size are taken then, symlinks to it are followed, and it must be a regular file. A
/// file that changes size while it is archived fails the archive, as with
/// [`Storage::archive`](crate::Storage::archive).
///
/// ```
/// use flux_artifact_storage::ArchiveEntries;
///
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("deployment.yaml"), "kind: Deployment\n")?;
/// let mut entries = ArchiveEntries::new();
/// entries
///     .add_file("apps/podinfo/deployment.yaml", dir.path().join("deployment.yaml"))?
///     .add_bytes("apps/podinfo/kustomization.yaml", b"resources: [deployment.yaml]\n".to_vec())?
///     .add_dir("apps/empty")?;
/// assert_eq!(entries.len(), 5); // apps, apps/empty, apps/podinfo and the two files
/// assert!(entries.add_file("apps/podinfo", "/dev/null").is_err()); // a directory is there
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ArchiveEntries {
    /// Keyed by archive path with each `/` replaced by NUL. NUL is smaller than every
    /// byte a name may hold, so the byte order of keys is the walk's order: per level by
    /// name bytes, each directory right before its content.
    entries: BTreeMap<Vec<u8>, Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(PathBuf),
    Bytes { data: Arc<[u8]>, executable: bool },
}

/// Why an entry could not be added to an [`ArchiveEntries`]. Nothing was added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveEntryError {
    /// The archive path breaks a rule: absolute, empty, with an empty, `.` or `..`
    /// component, with NUL, or with a name no consumer can extract (a backslash, a
    /// component over [`MAX_NAME_COMPONENT_BYTES`](crate::MAX_NAME_COMPONENT_BYTES)
    /// bytes, or outside Unix, not Unicode).
    #[error("invalid archive path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A file was added where the list has a directory (added, or implied by an entry
    /// below it).
    #[error("cannot add file {path:?}: it is a directory in the archive")]
    FileOverDirectory {
        /// The file's archive path.
        path: PathBuf,
    },
    /// A directory was added, or implied by an entry added below it, where the list has
    /// a file.
    #[error("cannot add {path:?}: {file:?} is a file in the archive, not a directory")]
    DirectoryOverFile {
        /// The archive path given.
        path: PathBuf,
        /// The file in the way: `path` itself or one of its parents.
        file: PathBuf,
    },
}

impl ArchiveEntries {
    /// An empty list: archived, just the root directory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the file at `source` on disk as `path` in the archive, replacing a file
    /// added there before. The file is read when the archive is written.
    ///
    /// # Errors
    ///
    /// [`ArchiveEntryError`] if `path` is invalid or conflicts with a directory or file
    /// in the list.
    pub fn add_file(
        &mut self,
        path: impl AsRef<Path>,
        source: impl Into<PathBuf>,
    ) -> Result<&mut Self, ArchiveEntryError> {
        self.add(path.as_ref(), Node::File(source.into()))
    }

    /// Adds `data` as the file `path` (mode 0600), replacing a file added there before.
    ///
    /// # Errors
    ///
    /// As [`add_file`](Self::add_file).
    pub fn add_bytes(
        &mut self,
        path: impl AsRef<Path>,
        data: impl Into<Arc<[u8]>>,
    ) -> Result<&mut Self, ArchiveEntryError> {
        self.add(
            path.as_ref(),
            Node::Bytes {
                data: data.into(),
                executable: false,
            },
        )
    }

    /// Adds `data` as the executable file `path` (mode 0700), replacing a file added
    /// there before.
    ///
    /// # Errors
    ///
    /// As [`add_file`](Self::add_file).
    pub fn add_executable_bytes(
        &mut self,
        path: impl AsRef<Path>,
        data: impl Into<Arc<[u8]>>,
    ) -> Result<&mut Self, ArchiveEntryError> {
        self.add(
            path.as_ref(),
            Node::Bytes {
                data: data.into(),
                executable: true,
            },
        )
    }

    /// Adds the directory `path` (and its parents), which is needed only for a directory
    /// that stays empty; adding one that exists changes nothing.
    ///
    /// # Errors
    ///
    /// As [`add_file`](Self::add_file).
    pub fn add_dir(&mut self, path: impl AsRef<Path>) -> Result<&mut Self, ArchiveEntryError> {
        self.add(path.as_ref(), Node::Dir)
    }

    /// How many entries the archive will have besides its root: files and directories,
    /// implied ones included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty, so that its archive holds only the root directory.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn add(&mut self, path: &Path, node: Node) -> Result<&mut Self, ArchiveEntryError> {
        let key = parse_path(path)?;
        // Every entry's parents are directories in the list (adding implies them, and a
        // conflict adds nothing), so the parents are checked from the deepest up and the
        // first directory found ends the check: usually the immediate parent.
        let mut implied = Vec::new();
        for (i, _) in key.iter().enumerate().rev().filter(|(_, b)| **b == 0) {
            let parent = &key[..i];
            match self.entries.get(parent) {
                Some(Node::Dir) => break,
                Some(_) => {
                    return Err(ArchiveEntryError::DirectoryOverFile {
                        path: path.to_path_buf(),
                        file: key_to_path(parent),
                    });
                }
                None => implied.push(parent.to_vec()),
            }
        }
        match (self.entries.get(&key), &node) {
            (Some(Node::Dir), Node::Dir) => {}
            (Some(Node::Dir), _) => {
                return Err(ArchiveEntryError::FileOverDirectory {
                    path: path.to_path_buf(),
                });
            }
            (Some(_), Node::Dir) => {
                return Err(ArchiveEntryError::DirectoryOverFile {
                    path: path.to_path_buf(),
                    file: path.to_path_buf(),
                });
            }
            _ => {
                self.entries.insert(key, node);
            }
        }
        for parent in implied {
            self.entries.insert(parent, Node::Dir);
        }
        Ok(self)
    }

    /// Writes the entries into `tar`, the root `.` first, leaving out what `filter`
    /// excludes (an excluded directory loses its own entry only, as in a walk).
    pub(super) fn write<W: Write>(
        &self,
        filter: Option<&dyn EntryFilter>,
        tar: &mut TarWriter<W>,
        out_path: &Path,
    ) -> Result<(), Error> {
        let write_error = |source| Error::Io {
            op: "write",
            path: out_path.to_path_buf(),
            source,
        };
        tar.write_header(b".", EntryType::Dir, DEFAULT_DIR_MODE, 0)
            .map_err(write_error)?;
        let mut buf = vec![0u8; READ_BUFFER];
        let mut name = Vec::new();
        for (key, node) in &self.entries {
            name.clear();
            name.extend(key.iter().map(|&b| if b == 0 { b'/' } else { b }));
            if let Some(filter) = filter
                && filter.exclude_entry(&key_to_path(key), matches!(node, Node::Dir))
            {
                continue;
            }
            match node {
                Node::Dir => tar
                    .write_header(&name, EntryType::Dir, DEFAULT_DIR_MODE, 0)
                    .map_err(write_error)?,
                Node::Bytes { data, executable } => {
                    let size = data.len() as u64;
                    tar.write_header(&name, EntryType::File, mode_for(*executable), size)
                        .map_err(write_error)?;
                    tar.write_content(&mut &data[..], size, &mut buf)
                        .map_err(|e| match e {
                            ContentError::Read(e) | ContentError::Write(e) => write_error(e),
                        })?;
                }
                Node::File(source) => {
                    let source_error = |e| Error::ArchiveSource {
                        path: source.clone(),
                        source: e,
                    };
                    // Checked before opening, which would block on a FIFO. As in the
                    // walk, the size is taken here and a file that changes afterwards
                    // fails the copy below.
                    let metadata = fs::metadata(source).map_err(source_error)?;
                    if !metadata.is_file() {
                        return Err(source_error(not_a_regular_file()));
                    }
                    let mut file = File::open(source).map_err(source_error)?;
                    let size = metadata.len();
                    tar.write_header(&name, EntryType::File, file_mode(&metadata), size)
                        .map_err(write_error)?;
                    tar.write_content(&mut file, size, &mut buf)
                        .map_err(|e| match e {
                            ContentError::Read(e) => source_error(e),
                            ContentError::Write(e) => write_error(e),
                        })?;
                }
            }
        }
        Ok(())
    }
}

fn not_a_regular_file() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// Validates an archive path and turns it into a key (`/` replaced by NUL).
fn parse_path(path: &Path) -> Result<Vec<u8>, ArchiveEntryError> {
    let invalid = |reason| ArchiveEntryError::InvalidPath {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = path_bytes(path).ok_or_else(|| invalid("not valid Unicode"))?;
    if bytes.is_empty() {
        return Err(invalid("empty path"));
    }
    if bytes[0] == b'/' {
        return Err(invalid(
            "absolute; archive paths are relative to the archive root",
        ));
    }
    if bytes.contains(&0) {
        return Err(invalid("contains NUL"));
    }
    for component in bytes.split(|&b| b == b'/') {
        match component {
            b"" => return Err(invalid("empty component ('//' or a trailing '/')")),
            b"." => return Err(invalid("contains a '.' component")),
            b".." => return Err(invalid("contains a '..' component")),
            component => check_component(component).map_err(|problem| invalid(problem.as_str()))?,
        }
    }
    Ok(bytes.iter().map(|&b| if b == b'/' { 0 } else { b }).collect())
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Option<&[u8]> {
    Some(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Option<&[u8]> {
    path.to_str().map(str::as_bytes)
}

/// The path a key stands for, `/`-separated.
fn key_to_path(key: &[u8]) -> PathBuf {
    let bytes: Vec<u8> = key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect();
    #[cfg(unix)]
    {
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
            bytes,
        ))
    }
    #[cfg(not(unix))]
    {
        // Keys of non-Unix lists come from valid Unicode paths.
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(entries: &ArchiveEntries) -> Vec<String> {
        entries
            .entries
            .keys()
            .map(|k| key_to_path(k).to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn parents_are_implied_and_entries_come_in_walk_order() {
        let mut entries = ArchiveEntries::new();
        entries.add_bytes("a-c", b"x".to_vec()).unwrap();
        entries.add_bytes("a/b", b"y".to_vec()).unwrap();
        entries.add_bytes("B", b"z".to_vec()).unwrap();
        // Per level: "B" < "a" < "a-c" by bytes, and a's content right after it.
        assert_eq!(keys(&entries), ["B", "a", "a/b", "a-c"]);
    }

    #[test]
    fn invalid_paths_are_refused_with_the_rule_they_break() {
        for (path, reason) in [
            ("", "empty path"),
            ("/etc/passwd", "absolute"),
            ("a//b", "empty component"),
            ("a/", "empty component"),
            ("./a", "'.' component"),
            ("a/../b", "'..' component"),
            ("..", "'..' component"),
            ("a\0b", "NUL"),
            ("a\\b", "backslash"),
            (&"x".repeat(256), "longer than 255 bytes"),
        ] {
            let err = ArchiveEntries::new().add_dir(path).unwrap_err();
            match &err {
                ArchiveEntryError::InvalidPath { path: p, reason: r } => {
                    assert_eq!(p, Path::new(path));
                    assert!(r.contains(reason), "{path:?}: {r}");
                }
                other => panic!("{path:?}: {other}"),
            }
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
        }
    }

    #[test]
    fn a_later_file_replaces_an_earlier_one() {
        let mut entries = ArchiveEntries::new();
        entries.add_file("a", "/first").unwrap();
        entries.add_bytes("a", b"second".to_vec()).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(matches!(entries.entries.get(&b"a"[..]), Some(Node::Bytes { .. })));
    }

    #[test]
    fn a_file_over_a_directory_is_a_conflict_that_changes_nothing() {
        let mut entries = ArchiveEntries::new();
        entries.add_bytes("a/b", b"x".to_vec()).unwrap();
        let err = entries.add_bytes("a", b"y".to_vec()).unwrap_err();
        assert_eq!(err, ArchiveEntryError::FileOverDirectory { path: "a".into() });
        assert_eq!(keys(&entries), ["a", "a/b"]);
    }

    #[test]
    fn a_directory_over_a_file_is_a_conflict_naming_the_file() {
        let mut entries = ArchiveEntries::new();
        entries.add_bytes("a", b"x".to_vec()).unwrap();
        let err = entries.add_bytes("a/b/c", b"y".to_vec()).unwrap_err();
        assert_eq!(
            err,
            ArchiveEntryError::DirectoryOverFile {
                path: "a/b/c".into(),
                file: "a".into()
            }
        );
        let err = entries.add_dir("a").unwrap_err();
        assert!(
            matches!(err, ArchiveEntryError::DirectoryOverFile { .. }),
            "{err}"
        );
        assert_eq!(keys(&entries), ["a"]);
    }

    #[test]
    fn adding_an_existing_directory_changes_nothing() {
        let mut entries = ArchiveEntries::new();
        entries.add_bytes("a/b", b"x".to_vec()).unwrap();
        entries.add_dir("a").unwrap();
        assert_eq!(keys(&entries), ["a", "a/b"]);
    }
}
