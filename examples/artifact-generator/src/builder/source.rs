//! Reading a source tree without ever leaving it: every path is looked up one component
//! at a time with `lstat`, and symlinks are never followed (Flux's fetcher drops them
//! from real source artifacts, so a local tree behaves like the artifact would).

use std::{
    ffi::{OsStr, OsString},
    fs, io,
    path::{Path, PathBuf},
};

/// What a path in a source tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Nothing is there (or a component on the way is not a directory).
    Missing,
    /// A symlink, at the path or on the way to it.
    Symlink,
    /// A FIFO, socket or device.
    Special,
    /// A directory.
    Dir,
    /// A regular file.
    File { executable: bool, size: u64 },
}

impl Found {
    fn of(metadata: &fs::Metadata) -> Found {
        let kind = metadata.file_type();
        if kind.is_symlink() {
            Found::Symlink
        } else if kind.is_dir() {
            Found::Dir
        } else if kind.is_file() {
            Found::File {
                executable: is_executable(metadata),
                size: metadata.len(),
            }
        } else {
            Found::Special
        }
    }

    /// Whether it can be copied: a directory or a regular file.
    pub(crate) fn is_usable(self) -> bool {
        matches!(self, Found::Dir | Found::File { .. })
    }

    /// The reason a path that is not usable cannot be copied, for error messages.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Found::Symlink => "is (or lies under) a symlink, which artifacts cannot hold",
            Found::Special => "is not a regular file or directory",
            _ => "does not exist",
        }
    }
}

#[cfg(unix)]
pub(crate) fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
pub(crate) fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}

/// A path relative to a source root, as its components.
pub(crate) type RelPath = Vec<OsString>;

/// The `/`-joined form of a relative path, for matching and messages (`.` for the root).
pub(crate) fn slash_path(rel: &[OsString]) -> String {
    if rel.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::new();
    for (i, part) in rel.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&part.to_string_lossy());
    }
    out
}

/// One source: its alias and the root directory it was fetched into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceTree<'a> {
    pub(crate) alias: &'a str,
    pub(crate) root: &'a Path,
}

impl SourceTree<'_> {
    /// The path on disk of `rel`.
    pub(crate) fn path(&self, rel: &[OsString]) -> PathBuf {
        let mut path = self.root.to_path_buf();
        path.extend(rel);
        path
    }

    /// `@alias/rel`, as messages name source paths.
    pub(crate) fn display(&self, rel: &[OsString]) -> String {
        if rel.is_empty() {
            format!("@{}/", self.alias)
        } else {
            format!("@{}/{}", self.alias, slash_path(rel))
        }
    }

    /// What `rel` is, looked up one component at a time without following symlinks.
    /// Returns the found kind and how many components were resolved before it (all of
    /// them unless a symlink or a non-directory was met on the way).
    pub(crate) fn lookup(&self, rel: &[OsString]) -> io::Result<(Found, usize)> {
        let root = fs::metadata(self.root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "the source root is not a directory",
            ));
        }
        if rel.is_empty() {
            return Ok((Found::Dir, 0));
        }
        let mut path = self.root.to_path_buf();
        for (i, part) in rel.iter().enumerate() {
            path.push(part);
            let found = match fs::symlink_metadata(&path) {
                Ok(metadata) => Found::of(&metadata),
                Err(e) if is_missing(&e) => Found::Missing,
                Err(e) => return Err(e),
            };
            let last = i + 1 == rel.len();
            match found {
                Found::Dir if !last => {}
                Found::Missing | Found::Symlink => return Ok((found, i + 1)),
                _ if !last => return Ok((Found::Missing, i + 1)),
                _ => return Ok((found, i + 1)),
            }
        }
        Ok((Found::Missing, rel.len()))
    }

    /// What the child `name` of the directory `dir` (already known to be a directory
    /// reached without symlinks) is.
    pub(crate) fn child(&self, dir: &[OsString], name: &OsStr) -> io::Result<Found> {
        let mut path = self.path(dir);
        path.push(name);
        match fs::symlink_metadata(&path) {
            Ok(metadata) => Ok(Found::of(&metadata)),
            Err(e) if is_missing(&e) => Ok(Found::Missing),
            Err(e) => Err(e),
        }
    }

    /// The entries of the directory `dir`, sorted by name (byte order), each with what
    /// it is. Symlinks and special files are listed too, for the caller to skip.
    pub(crate) fn list(&self, dir: &[OsString]) -> io::Result<Vec<(OsString, Found)>> {
        Self::list_dir(&self.path(dir))
    }

    /// [`list`](Self::list) of the directory at `path` on disk.
    pub(crate) fn list_dir(path: &Path) -> io::Result<Vec<(OsString, Found)>> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            entries.push((entry.file_name(), Found::of(&metadata)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }
}

/// Whether an error means "nothing there": missing, or a file where a directory was
/// expected on the way.
pub(crate) fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> SourceTree<'_> {
        SourceTree {
            alias: "src",
            root: dir,
        }
    }

    fn rel(path: &str) -> RelPath {
        path.split('/').map(OsString::from).collect()
    }

    #[test]
    fn lookup_finds_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/c.yaml"), "x: 1").unwrap();
        let src = tree(dir.path());
        assert_eq!(src.lookup(&rel("a/b")).unwrap().0, Found::Dir);
        assert_eq!(
            src.lookup(&rel("a/b/c.yaml")).unwrap().0,
            Found::File {
                executable: false,
                size: 4
            }
        );
        assert_eq!(src.lookup(&rel("a/x")).unwrap().0, Found::Missing);
        assert_eq!(src.lookup(&rel("a/b/c.yaml/d")).unwrap().0, Found::Missing);
        assert_eq!(src.lookup(&[]).unwrap().0, Found::Dir);
    }

    #[cfg(unix)]
    #[test]
    fn lookup_does_not_follow_a_symlink_on_the_way() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let src = tree(dir.path());
        assert_eq!(src.lookup(&rel("link/secret")).unwrap(), (Found::Symlink, 1));
        assert_eq!(src.lookup(&rel("link")).unwrap(), (Found::Symlink, 1));
    }

    #[test]
    fn list_is_sorted_by_name_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "a-c", "a", "B"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<_> = tree(dir.path())
            .list(&[])
            .unwrap()
            .into_iter()
            .map(|(n, _)| n.into_string().unwrap())
            .collect();
        assert_eq!(names, ["B", "a", "a-c", "b"]);
    }

    #[test]
    fn slash_path_of_the_root_is_dot() {
        assert_eq!(slash_path(&[]), ".");
        assert_eq!(slash_path(&rel("a/b")), "a/b");
    }
}
