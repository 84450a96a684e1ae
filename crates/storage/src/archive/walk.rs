//! The tar stream of a directory walk: what [`Storage::archive`](crate::Storage::archive)
//! writes.

use std::{fs::File, io::Write, path::Path};

use walkdir::WalkDir;

use super::{
    ArchiveFilter, DEFAULT_DIR_MODE, READ_BUFFER, entry_name, file_mode,
    tar::{ContentError, EntryType, TarWriter},
};
use crate::{Error, names::check_relative_path};

/// Writes the entries of `dir` into `tar`: the root `.`, then every directory and
/// regular file in byte order of names, level by level (walkdir's `sort_by_file_name`),
/// skipping symlinks, special files and what `filter` excludes, and refusing an entry
/// whose name no consumer can extract.
pub(super) fn write_dir<W: Write>(
    dir: &Path,
    filter: Option<&dyn ArchiveFilter>,
    tar: &mut TarWriter<W>,
    out_path: &Path,
) -> Result<(), Error> {
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
        if let Err(problem) = check_relative_path(relative) {
            return Err(Error::UnextractableName {
                path: entry.path().to_path_buf(),
                problem,
            });
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
    Ok(())
}
