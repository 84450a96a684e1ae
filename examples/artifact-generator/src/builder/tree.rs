//! The artifact being assembled: a tree in memory whose files point at their content
//! (a file in a source tree, an extracted file in the scratch directory, or the bytes of
//! a Merge result), so that nothing is copied until the archive is written.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    ffi::{OsStr, OsString},
    fs, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use flux_artifact::storage::sourceignore::Matcher;

use super::{ArchiveEntry, FileContent};

/// A file of the artifact.
#[derive(Debug, Clone)]
pub(crate) struct FileNode {
    pub(crate) content: FileContent,
    pub(crate) executable: bool,
    pub(crate) size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    Dir(BTreeMap<OsString, Node>),
    File(FileNode),
}

/// What is at a path of the artifact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stat<'a> {
    Missing,
    Dir,
    File(&'a FileNode),
}

/// Something in the way of a write: the path where it is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// A file where a directory is needed.
    FileInTheWay(String),
    /// A directory where a file is needed.
    DirectoryInTheWay(String),
}

impl Conflict {
    /// The reason, for a `copy-conflict` message.
    pub(crate) fn reason(&self) -> String {
        match self {
            Conflict::FileInTheWay(at) => format!("'{at}' is a file, and a directory must go there"),
            Conflict::DirectoryInTheWay(at) => {
                format!("'{at}' is a directory, and a file must go there")
            }
        }
    }
}

/// The `/`-joined form of artifact path components.
pub(crate) fn display(path: &[OsString]) -> String {
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    parts.join("/")
}

/// The tree of an artifact, rooted at the artifact's root directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    root: BTreeMap<OsString, Node>,
}

impl Tree {
    /// What is at `path` (the root for an empty path).
    pub(crate) fn stat(&self, path: &[OsString]) -> Stat<'_> {
        let mut dir = &self.root;
        for (i, part) in path.iter().enumerate() {
            match dir.get(part) {
                None => return Stat::Missing,
                Some(Node::Dir(children)) => dir = children,
                Some(Node::File(file)) if i + 1 == path.len() => return Stat::File(file),
                Some(Node::File(_)) => return Stat::Missing,
            }
        }
        Stat::Dir
    }

    /// Creates `path` and its parents as directories (like `mkdir -p`).
    pub(crate) fn mkdir_all(&mut self, path: &[OsString]) -> Result<(), Conflict> {
        self.dir_mut(path).map(|_| ())
    }

    fn dir_mut(&mut self, path: &[OsString]) -> Result<&mut BTreeMap<OsString, Node>, Conflict> {
        let mut dir = &mut self.root;
        for (i, part) in path.iter().enumerate() {
            // Look up before inserting, so that existing directories cost no allocation.
            if !dir.contains_key(part) {
                dir.insert(part.clone(), Node::Dir(BTreeMap::new()));
            }
            match dir.get_mut(part) {
                Some(Node::Dir(children)) => dir = children,
                _ => return Err(Conflict::FileInTheWay(display(&path[..=i]))),
            }
        }
        Ok(dir)
    }

    /// Writes the file `path` (creating its parent directories), replacing a file that
    /// is there.
    pub(crate) fn put_file(&mut self, path: &[OsString], file: FileNode) -> Result<(), Conflict> {
        let Some((name, parent)) = path.split_last() else {
            return Err(Conflict::DirectoryInTheWay(".".to_owned()));
        };
        let dir = self.dir_mut(parent)?;
        if let Some(Node::Dir(_)) = dir.get(name) {
            return Err(Conflict::DirectoryInTheWay(display(path)));
        }
        dir.insert(name.clone(), Node::File(file));
        Ok(())
    }

    /// The archive entries, in archive order (a directory, then what it holds, names in
    /// byte order; the root is implicit), leaving out what `matcher` excludes. As in the
    /// SDK's archive, an excluded directory loses its own entry only.
    pub(crate) fn entries(&self, matcher: &Matcher) -> Listing {
        let mut listing = Listing::default();
        // Per open directory: its children, and whether it or a parent was excluded.
        let mut stack: Vec<(std::collections::btree_map::Iter<'_, OsString, Node>, bool)> =
            vec![(self.root.iter(), false)];
        // The path of the current entry, as the matcher reads it (names are borrowed
        // unless they are not UTF-8) and as the tree holds it.
        let mut parts: Vec<Cow<'_, str>> = Vec::new();
        let mut path: Vec<&OsStr> = Vec::new();
        while let Some((iter, below_excluded)) = stack.last_mut() {
            let below_excluded = *below_excluded;
            let Some((name, node)) = iter.next() else {
                stack.pop();
                parts.pop();
                path.pop();
                continue;
            };
            parts.push(name.to_string_lossy());
            path.push(name);
            let is_dir = matches!(node, Node::Dir(_));
            let excluded = matcher.is_excluded(&parts, is_dir);
            listing.kept_below_excluded |= below_excluded && !excluded;
            match node {
                Node::Dir(children) => {
                    if !excluded {
                        listing.entries.push(ArchiveEntry::Directory {
                            path: relative(&path),
                        });
                    }
                    stack.push((children.iter(), below_excluded || excluded));
                }
                Node::File(file) => {
                    if !excluded {
                        listing.entries.push(ArchiveEntry::File {
                            path: relative(&path),
                            content: file.content.clone(),
                            executable: file.executable,
                            size: file.size,
                        });
                    }
                    parts.pop();
                    path.pop();
                }
            }
        }
        listing
    }
}

/// The relative path of `components`, allocated once.
fn relative(components: &[&OsStr]) -> PathBuf {
    let len = components.iter().map(|c| c.len() + 1).sum();
    let mut path = PathBuf::with_capacity(len);
    path.extend(components);
    path
}

/// What [`Tree::entries`] keeps of a tree.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// The entries kept, in archive order.
    pub(crate) entries: Vec<ArchiveEntry>,
    /// Whether an entry was kept below a directory that was left out. Then a list of
    /// the kept entries implies that directory (as its parent), and only the filter can
    /// leave it out again. Flux's default rules never do this: they exclude only, and
    /// what excludes a directory excludes everything below it.
    pub(crate) kept_below_excluded: bool,
}

/// Writes `entries` under `dir`, which must be missing or empty: directories 0755,
/// files 0755 when executable, else 0644.
pub(crate) fn materialise(entries: &[ArchiveEntry], dir: &Path) -> io::Result<()> {
    let io_error = |op: &str, path: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("cannot {op} {}: {e}", path.display()))
    };
    fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    if fs::read_dir(dir)
        .map_err(|e| io_error("read", dir, e))?
        .next()
        .is_some()
    {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not empty", dir.display()),
        ));
    }
    for entry in entries {
        match entry {
            ArchiveEntry::Directory { path } => {
                let target = dir.join(path);
                fs::create_dir_all(&target).map_err(|e| io_error("create", &target, e))?;
            }
            ArchiveEntry::File {
                path,
                content,
                executable,
                ..
            } => {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
                }
                match content {
                    FileContent::Path(source) => {
                        fs::copy(source, &target).map_err(|e| io_error("copy", source, e))?;
                    }
                    FileContent::Bytes(bytes) => {
                        fs::write(&target, bytes).map_err(|e| io_error("write", &target, e))?;
                    }
                }
                set_mode(&target, *executable).map_err(|e| io_error("chmod", &target, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, executable: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _executable: bool) -> io::Result<()> {
    Ok(())
}

/// A file whose content is `bytes`.
pub(crate) fn bytes_file(bytes: Vec<u8>, executable: bool) -> FileNode {
    let size = bytes.len() as u64;
    FileNode {
        content: FileContent::Bytes(Arc::from(bytes)),
        executable,
        size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Vec<OsString> {
        path.split('/').map(OsString::from).collect()
    }

    fn names(entries: &[ArchiveEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                ArchiveEntry::Directory { path } => format!("{}/", path.display()),
                ArchiveEntry::File { path, .. } => path.display().to_string(),
            })
            .collect()
    }

    #[test]
    fn entries_come_depth_first_with_names_in_byte_order() {
        let mut tree = Tree::default();
        for path in ["a-c", "a/b", "B", "a/a/z"] {
            tree.put_file(&p(path), bytes_file(Vec::new(), false)).unwrap();
        }
        tree.mkdir_all(&p("empty")).unwrap();
        let entries = tree.entries(&Matcher::default()).entries;
        assert_eq!(
            names(&entries),
            ["B", "a/", "a/a/", "a/a/z", "a/b", "a-c", "empty/"]
        );
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_a_conflict() {
        let mut tree = Tree::default();
        tree.put_file(&p("a"), bytes_file(Vec::new(), false)).unwrap();
        assert_eq!(
            tree.put_file(&p("a/b"), bytes_file(Vec::new(), false)),
            Err(Conflict::FileInTheWay("a".into()))
        );
        assert_eq!(tree.mkdir_all(&p("a/b")), Err(Conflict::FileInTheWay("a".into())));
    }

    #[test]
    fn a_directory_in_the_way_of_a_file_is_a_conflict() {
        let mut tree = Tree::default();
        tree.mkdir_all(&p("a/b")).unwrap();
        assert_eq!(
            tree.put_file(&p("a/b"), bytes_file(Vec::new(), false)),
            Err(Conflict::DirectoryInTheWay("a/b".into()))
        );
    }

    #[test]
    fn a_later_file_replaces_an_earlier_one() {
        let mut tree = Tree::default();
        tree.put_file(&p("a"), bytes_file(b"one".to_vec(), true)).unwrap();
        tree.put_file(&p("a"), bytes_file(b"two".to_vec(), false))
            .unwrap();
        let Stat::File(file) = tree.stat(&p("a")) else {
            panic!()
        };
        assert!(!file.executable);
        assert_eq!(file.size, 3);
        assert!(matches!(tree.stat(&[]), Stat::Dir));
        assert!(matches!(tree.stat(&p("a/x")), Stat::Missing));
    }

    #[test]
    fn excluded_directories_lose_their_entry_only() {
        let mut tree = Tree::default();
        tree.put_file(&p(".github/workflows/ci.yml"), bytes_file(Vec::new(), false))
            .unwrap();
        tree.put_file(&p("charts/app.tar.gz"), bytes_file(Vec::new(), false))
            .unwrap();
        tree.put_file(&p("app.yaml"), bytes_file(Vec::new(), false))
            .unwrap();
        let matcher = Matcher::with_defaults(Vec::new(), &[]);
        let listing = tree.entries(&matcher);
        assert_eq!(names(&listing.entries), ["app.yaml", "charts/"]);
        assert!(!listing.kept_below_excluded);
    }

    #[test]
    fn an_entry_kept_below_an_excluded_directory_is_reported() {
        let mut tree = Tree::default();
        tree.put_file(&p("build/keep.txt"), bytes_file(Vec::new(), false))
            .unwrap();
        tree.put_file(&p("build/drop.txt"), bytes_file(Vec::new(), false))
            .unwrap();
        let matcher = Matcher::new(vec![
            flux_artifact::storage::sourceignore::Pattern::new("build/", &[]),
            flux_artifact::storage::sourceignore::Pattern::new("!build/keep.txt", &[]),
        ]);
        let listing = tree.entries(&matcher);
        assert_eq!(names(&listing.entries), ["build/keep.txt"]);
        assert!(listing.kept_below_excluded);
    }
}
