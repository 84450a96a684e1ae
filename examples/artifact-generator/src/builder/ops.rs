//! What each copy operation does to the artifact tree, with source-watcher's cp-like
//! semantics.

use std::{
    ffi::OsString,
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use flux_artifact::storage::{UntarError, UntarOptions, untar};
use walkdir::WalkDir;

use super::{
    FileContent, doublestar,
    source::{Found, RelPath, SourceTree, is_executable, slash_path},
    spec::{Operation, Selector, has_glob_chars},
    tree::{self, Conflict, FileNode, Stat, Tree},
    yaml,
};
use crate::{api::CopyStrategy, error::Error};

/// The state of one artifact's build.
pub(crate) struct State<'a> {
    pub(crate) tree: Tree,
    pub(crate) scratch: &'a Path,
    pub(crate) artifact_field: &'a str,
    pub(crate) max_extract_size: Option<u64>,
    pub(crate) max_merge_size: u64,
    pub(crate) cancel: Option<&'a dyn Fn() -> bool>,
    /// Bytes written by the Extract operations so far.
    pub(crate) extracted: u64,
    /// Tarballs extracted so far (each gets its own scratch directory).
    pub(crate) extractions: usize,
}

impl State<'_> {
    pub(crate) fn check_cancel(&self) -> Result<(), Error> {
        if self.cancel.is_some_and(|cancelled| cancelled()) {
            return Err(Error::Cancelled {
                artifact: self.artifact_field.to_owned(),
            });
        }
        Ok(())
    }
}

fn io_error(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}

fn conflict(op: &Operation<'_>, path: &[OsString], conflict: &Conflict) -> Error {
    Error::CopyConflict {
        field: op.dest_field(),
        path: tree::display(path),
        reason: conflict.reason(),
    }
}

fn join(base: &[OsString], rest: &[OsString]) -> Vec<OsString> {
    base.iter().chain(rest).cloned().collect()
}

/// Whether a name ends in `.tar.gz` or `.tgz`, in any case.
fn is_tarball(path: &[OsString]) -> bool {
    let name = path
        .last()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Applies one operation.
pub(crate) fn apply(state: &mut State<'_>, op: &Operation<'_>) -> Result<(), Error> {
    let root = op.source.root;
    let matches = match &op.selector {
        Selector::Path => return apply_path(state, op),
        Selector::Glob(glob) => glob.expand(&op.source),
        Selector::Doublestar(pattern) => doublestar::glob(&op.source, pattern),
    }
    .map_err(io_error("read the source directory", root))?;
    if matches.is_empty() {
        return Err(Error::NoGlobMatch {
            field: op.source_field(),
            alias: op.source.alias.to_owned(),
            pattern: op.pattern_display(),
        });
    }
    let base: RelPath = op
        .pattern
        .iter()
        .take_while(|s| !has_glob_chars(s))
        .map(OsString::from)
        .collect();
    let kept: Vec<(RelPath, Found)> = matches
        .into_iter()
        .filter(|(path, _)| !op.excludes.excludes(path, &base))
        .collect();
    if kept.is_empty() {
        return Err(Error::AllExcluded {
            field: op.source_field(),
            alias: op.source.alias.to_owned(),
            pattern: op.pattern_display(),
        });
    }
    for (path, found) in kept {
        state.check_cancel()?;
        if op.strategy == CopyStrategy::Extract {
            // Directories and files that are not tarballs are skipped, as in source-watcher.
            if matches!(found, Found::File { .. }) && is_tarball(&path) {
                extract(state, op, &path)?;
            }
            continue;
        }
        let dest = glob_destination(op, &path);
        match found {
            Found::Dir => copy_dir(state, op, &path, &dest, &base)?,
            Found::File { executable, size } => copy_file(state, op, &path, executable, size, &dest)?,
            _ => {}
        }
    }
    Ok(())
}

/// Where a glob match goes: `dir/**` copies what is under `dir` into `to`; any other
/// glob keeps the match's whole path under `to`.
fn glob_destination(op: &Operation<'_>, path: &[OsString]) -> Vec<OsString> {
    if let Some((last, prefix)) = op.pattern.split_last()
        && last == "**"
        && !prefix.is_empty()
        && path.len() > prefix.len()
        && path
            .iter()
            .zip(prefix)
            .all(|(p, q)| p.to_str() == Some(q.as_str()))
    {
        return join(&op.dest, &path[prefix.len()..]);
    }
    join(&op.dest, path)
}

/// A `from` without glob characters: a file or a directory.
fn apply_path(state: &mut State<'_>, op: &Operation<'_>) -> Result<(), Error> {
    let path: RelPath = op.pattern.iter().map(OsString::from).collect();
    let (found, depth) = op
        .source
        .lookup(&path)
        .map_err(io_error("read", op.source.path(&path)))?;
    let not_found = |shown: &[OsString]| Error::SourceNotFound {
        field: op.source_field(),
        alias: op.source.alias.to_owned(),
        path: slash_path(shown),
        reason: found.reason(),
    };
    match found {
        Found::Missing | Found::Special => Err(not_found(&path)),
        Found::Symlink => Err(not_found(&path[..depth])),
        Found::Dir => {
            if op.strategy == CopyStrategy::Extract {
                return Err(Error::ExtractDirectory {
                    field: op.source_field(),
                    path: op.source.display(&path),
                });
            }
            // `cp -r dir dest` always makes `dest/dir` (the root's contents go to `dest`).
            let dest = join(
                &op.dest,
                path.last().map(std::slice::from_ref).unwrap_or_default(),
            );
            copy_dir(state, op, &path, &dest, &path)
        }
        Found::File { executable, size } => {
            if op.excludes.excludes(&path, &[]) {
                return Ok(());
            }
            if op.strategy == CopyStrategy::Extract {
                if !is_tarball(&path) {
                    return Err(Error::ExtractNotTarball {
                        field: op.source_field(),
                        path: op.source.display(&path),
                    });
                }
                return extract(state, op, &path);
            }
            let into_dir = op.dest_is_dir || matches!(state.tree.stat(&op.dest), Stat::Dir);
            let dest = if into_dir {
                join(
                    &op.dest,
                    path.last().map(std::slice::from_ref).unwrap_or_default(),
                )
            } else {
                op.dest.clone()
            };
            copy_file(state, op, &path, executable, size, &dest)
        }
    }
}

/// Copies the directory `src` to `dest` recursively, leaving out what the excludes
/// match (relative to the source root or to `base`). Every file is copied as is,
/// whatever the strategy: source-watcher merges only files that a `from` names or
/// matches directly.
fn copy_dir(
    state: &mut State<'_>,
    op: &Operation<'_>,
    src: &[OsString],
    dest: &[OsString],
    base: &[OsString],
) -> Result<(), Error> {
    state.tree.mkdir_all(dest).map_err(|c| conflict(op, dest, &c))?;
    let list = |dir: &Path| SourceTree::list_dir(dir).map_err(io_error("read the directory", dir));
    // The walk keeps the current directory's path in the source (`full`), in the
    // artifact (`target`) and on disk, extending and truncating them as it goes rather
    // than building each entry's paths afresh.
    let mut full: RelPath = src.to_vec();
    let mut target: RelPath = dest.to_vec();
    let root = op.source.path(src);
    let mut stack = vec![(list(&root)?.into_iter(), root)];
    while let Some((entries, dir)) = stack.last_mut() {
        let Some((name, found)) = entries.next() else {
            stack.pop();
            if !stack.is_empty() {
                full.pop();
                target.pop();
            }
            continue;
        };
        if !found.is_usable() {
            continue;
        }
        let disk = child_path(dir, &name);
        full.push(name);
        if op.excludes.excludes(&full, base) {
            full.pop();
            continue;
        }
        target.extend(full.last().cloned());
        match found {
            Found::File { executable, size } => {
                let file = FileNode {
                    content: FileContent::Path(disk),
                    executable,
                    size,
                };
                state
                    .tree
                    .put_file(&target, file)
                    .map_err(|c| conflict(op, &target, &c))?;
                full.pop();
                target.pop();
            }
            Found::Dir => {
                state.check_cancel()?;
                state
                    .tree
                    .mkdir_all(&target)
                    .map_err(|c| conflict(op, &target, &c))?;
                let entries = list(&disk)?.into_iter();
                stack.push((entries, disk));
            }
            Found::Missing | Found::Symlink | Found::Special => {
                full.pop();
                target.pop();
            }
        }
    }
    Ok(())
}

/// `dir/name`, allocated once.
fn child_path(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut path = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
    path.push(dir);
    path.push(name);
    path
}

/// Copies one file to `dest`, or merges it into `dest` with the Merge strategy when
/// something is already there.
fn copy_file(
    state: &mut State<'_>,
    op: &Operation<'_>,
    src: &[OsString],
    executable: bool,
    size: u64,
    dest: &[OsString],
) -> Result<(), Error> {
    if op.strategy == CopyStrategy::Merge && !matches!(state.tree.stat(dest), Stat::Missing) {
        return merge_file(state, op, src, dest);
    }
    let file = FileNode {
        content: FileContent::Path(op.source.path(src)),
        executable,
        size,
    };
    state
        .tree
        .put_file(dest, file)
        .map_err(|c| conflict(op, dest, &c))
}

fn merge_file(
    state: &mut State<'_>,
    op: &Operation<'_>,
    src: &[OsString],
    dest: &[OsString],
) -> Result<(), Error> {
    let src_name = op.source.display(src);
    let dest_name = format!("@artifact/{}", tree::display(dest));
    let invalid = |file: &str, reason: String| Error::MergeInvalidYaml {
        field: op.source_field(),
        file: file.to_owned(),
        reason,
    };
    let src_bytes = read_limited(state, op, &op.source.path(src), &src_name)?;
    let overlay = yaml::load(&text(&src_bytes).map_err(|r| invalid(&src_name, r))?)
        .map_err(|e| invalid(&src_name, e.to_string()))?;
    let (dest_bytes, executable) = match state.tree.stat(dest) {
        Stat::File(file) => match &file.content {
            FileContent::Path(path) => (read_limited(state, op, path, &dest_name)?, file.executable),
            FileContent::Bytes(bytes) => (bytes.to_vec(), file.executable),
        },
        Stat::Dir => {
            return Err(conflict(
                op,
                dest,
                &Conflict::DirectoryInTheWay(tree::display(dest)),
            ));
        }
        Stat::Missing => (Vec::new(), false),
    };
    let mut merged = yaml::load(&text(&dest_bytes).map_err(|r| invalid(&dest_name, r))?)
        .map_err(|e| invalid(&dest_name, e.to_string()))?;
    yaml::merge(&mut merged, overlay);
    let out = yaml::to_yaml(&merged).map_err(|r| invalid(&dest_name, r))?;
    state
        .tree
        .put_file(dest, tree::bytes_file(out.into_bytes(), executable))
        .map_err(|c| conflict(op, dest, &c))
}

/// The text of a YAML file: UTF-8, without a byte-order mark.
fn text(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 text ({e})"))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text).to_owned())
}

/// Reads a file to merge, refusing files over the merge size limit.
fn read_limited(state: &State<'_>, op: &Operation<'_>, path: &Path, name: &str) -> Result<Vec<u8>, Error> {
    let file = File::open(path).map_err(io_error("open", path))?;
    let mut bytes = Vec::new();
    file.take(state.max_merge_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    if bytes.len() as u64 > state.max_merge_size {
        return Err(Error::SizeLimit {
            field: op.source_field(),
            what: format!("merging '{name}'"),
            limit: state.max_merge_size,
        });
    }
    Ok(bytes)
}

/// Extracts the tarball `src` into a scratch directory of its own, then lays what it
/// holds over the artifact at `to`.
fn extract(state: &mut State<'_>, op: &Operation<'_>, src: &[OsString]) -> Result<(), Error> {
    let name = op.source.display(src);
    let path = op.source.path(src);
    state.extractions += 1;
    let target = state.scratch.join(format!("extract-{}", state.extractions));
    let file = File::open(&path).map_err(io_error("open", &path))?;
    let remaining = state
        .max_extract_size
        .map(|limit| limit.saturating_sub(state.extracted));
    let options = UntarOptions::default().max_size(remaining);
    let summary = untar(file, &target, &options).map_err(|e| untar_error(state, op, &name, &target, e))?;
    state.extracted += summary.bytes;

    state
        .tree
        .mkdir_all(&op.dest)
        .map_err(|c| conflict(op, &op.dest, &c))?;
    for entry in WalkDir::new(&target).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Io {
            op: "read the extracted files in",
            path: target.clone(),
            source: e.into(),
        })?;
        let rel: Vec<OsString> = entry
            .path()
            .strip_prefix(&target)
            .unwrap_or(entry.path())
            .iter()
            .map(OsString::from)
            .collect();
        let dest = join(&op.dest, &rel);
        if entry.file_type().is_dir() {
            state.tree.mkdir_all(&dest).map_err(|c| conflict(op, &dest, &c))?;
        } else if entry.file_type().is_file() {
            let metadata = entry.metadata().map_err(|e| Error::Io {
                op: "read the extracted file",
                path: entry.path().to_path_buf(),
                source: e.into(),
            })?;
            let file = FileNode {
                content: FileContent::Path(entry.path().to_path_buf()),
                executable: is_executable(&metadata),
                size: metadata.len(),
            };
            state
                .tree
                .put_file(&dest, file)
                .map_err(|c| conflict(op, &dest, &c))?;
        }
    }
    Ok(())
}

fn untar_error(state: &State<'_>, op: &Operation<'_>, name: &str, target: &Path, e: UntarError) -> Error {
    let field = op.source_field();
    let path = name.to_owned();
    match e {
        UntarError::TooLarge { .. } => Error::SizeLimit {
            field,
            what: if state.extracted > 0 {
                format!("extracting '{name}' after the artifact's earlier extractions")
            } else {
                format!("extracting '{name}'")
            },
            limit: state.max_extract_size.unwrap_or(u64::MAX),
        },
        UntarError::AbsolutePath { .. }
        | UntarError::ParentTraversal { .. }
        | UntarError::InvalidName { .. }
        | UntarError::Symlink { .. }
        | UntarError::Hardlink { .. }
        | UntarError::UnsupportedType { .. } => Error::ExtractUnsafeEntry {
            field,
            path,
            source: Box::new(e),
        },
        // Writing into a fresh directory fails on a full disk, or when the archive's own
        // entries collide (a file and a directory of the same name).
        UntarError::Write { source, .. }
            if !matches!(
                source.kind(),
                io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory | io::ErrorKind::AlreadyExists
            ) =>
        {
            Error::Io {
                op: "extract into",
                path: target.to_path_buf(),
                source,
            }
        }
        e => Error::ExtractInvalidArchive {
            field,
            path,
            source: Box::new(e),
        },
    }
}
