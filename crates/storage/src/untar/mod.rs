//! [`untar`]: safe extraction of (gzipped) tarballs, with the rules of Flux's
//! `fluxcd/pkg/tar` and stricter checks where those are lax.

mod error;
mod reader;

use std::{
    collections::HashSet,
    fmt,
    fs::{self, FileTimes},
    io::{self, BufRead, BufReader, Read, Write},
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use cap_std::{ambient_authority, fs::Dir};

pub use self::error::{TarFormatError, UntarError};
use self::reader::{EntryHeader, TarReader};
use crate::names::{NameProblem, check_component};

/// Default cap on the bytes an extraction writes: 100 MiB, as Flux's
/// `tar.DefaultMaxUntarSize`.
pub const DEFAULT_MAX_UNTAR_SIZE: u64 = 100 << 20;

/// The kind of a tar entry, as shown to an [`UntarOptions::filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A hard link.
    Hardlink,
    /// A device, FIFO or other special entry.
    Other,
}

type EntryFilter = dyn Fn(&Path, EntryKind) -> bool + Send + Sync;

/// How [`untar`] extracts.
///
/// The default matches Flux's `tar.Untar`: gzip expected, at most
/// [`DEFAULT_MAX_UNTAR_SIZE`] bytes, symlinks refused, no filter.
#[derive(Clone)]
pub struct UntarOptions {
    max_size: Option<u64>,
    skip_symlinks: bool,
    gzip: bool,
    filter: Option<Arc<EntryFilter>>,
}

impl Default for UntarOptions {
    fn default() -> Self {
        UntarOptions {
            max_size: Some(DEFAULT_MAX_UNTAR_SIZE),
            skip_symlinks: false,
            gzip: true,
            filter: None,
        }
    }
}

impl fmt::Debug for UntarOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntarOptions")
            .field("max_size", &self.max_size)
            .field("skip_symlinks", &self.skip_symlinks)
            .field("gzip", &self.gzip)
            .field("filter", &self.filter.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl UntarOptions {
    /// Caps the bytes extracted (`None`: no cap, Flux's `UnlimitedUntarSize`). The cap
    /// counts the sizes the headers declare, checked before anything is written, and
    /// the bytes actually written.
    #[must_use]
    pub fn max_size(mut self, max_size: Option<u64>) -> Self {
        self.max_size = max_size;
        self
    }

    /// Skips symlinks silently instead of failing on them (Flux's fetcher does this).
    #[must_use]
    pub fn skip_symlinks(mut self, skip: bool) -> Self {
        self.skip_symlinks = skip;
        self
    }

    /// Whether the input is gzip-compressed (default) or a plain tar stream.
    #[must_use]
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Skips every entry for which `filter` returns true. It sees the entry's cleaned
    /// relative path and kind, after the name checks and before the type checks, so it
    /// can also skip entries that would otherwise be refused.
    #[must_use]
    pub fn filter(mut self, filter: impl Fn(&Path, EntryKind) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UntarSummary {
    /// Regular files written.
    pub files: u64,
    /// Directory entries processed.
    pub directories: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Extracts a tarball read from `reader` into `dir`, which is created if missing.
///
/// Only regular files and directories are written. Refused, each with its own
/// [`UntarError`]: absolute names, names with a `..` component (or `../` anywhere, as
/// Flux refuses), a backslash, NUL or drive prefix, or a component longer than
/// [`MAX_NAME_COMPONENT_BYTES`](crate::MAX_NAME_COMPONENT_BYTES) (no filesystem of
/// Flux's consumers could create it; [`Storage::archive`](crate::Storage::archive)
/// refuses to write what this refuses to read); symlinks (unless skipped); hard links;
/// devices, FIFOs and other types; entries whose mode field names another file type
/// than their type flag; extension headers over 1 MiB; and anything beyond the size
/// cap. Directories are created with
/// their permission bits plus owner `rwx`, files with theirs plus owner `rw`, so that
/// an archive cannot make its own output unreadable or undeletable; setuid, setgid and
/// sticky bits are dropped, as Flux does. File mtimes come from the archive, capped at
/// the current time.
///
/// The stream is read as Go's `archive/tar` reads it, so that this extracts the tree
/// Flux extracts from the same bytes: hard links, symlinks, devices, directories and
/// FIFOs carry no data whatever their size field says (their declared size still counts
/// towards the cap, as in Flux), and a PAX `size` overrides the header's. What Go
/// refuses is refused ([`UntarError::Malformed`]): a checksum that is not octal, a
/// number that does not parse in any header field or PAX record, a malformed global
/// header. So is what readers disagree on: a PAX path and a GNU long name on one entry,
/// an old-style entry that is a directory by its header's name only, a global header
/// between an extension header and its entry. An archive this extracts is one Flux
/// extracts, to the same tree, but for PAX global headers: Go hands each to Flux as an
/// entry, and Flux writes an empty file named after it (so it also fails where that
/// name is invalid or taken); this skips them.
///
/// All writes go through a handle on `dir` that resolves paths beneath it only
/// (`openat2(RESOLVE_BENEATH)` on Linux, via `cap-std`), so nothing is written outside
/// `dir` even if it already holds symlinks pointing elsewhere.
///
/// Extraction stops at the first error, leaving what was written so far; extract into
/// a fresh directory and move it into place for all-or-nothing results (as
/// [`Storage::copy_to_path`](crate::Storage::copy_to_path) does).
///
/// # Errors
///
/// See [`UntarError`].
pub fn untar(reader: impl Read, dir: &Path, options: &UntarOptions) -> Result<UntarSummary, UntarError> {
    let root = open_target(dir)?;
    if options.gzip {
        let mut buffered = BufReader::new(reader);
        let head = buffered
            .fill_buf()
            .map_err(|source| UntarError::Stream { source })?;
        if head.len() < 2 || head[..2] != [0x1f, 0x8b] {
            let reason = if head.is_empty() {
                "empty input".to_owned()
            } else {
                "no gzip magic number".to_owned()
            };
            return Err(UntarError::NotGzip { reason });
        }
        extract(flate2::bufread::MultiGzDecoder::new(buffered), &root, options)
    } else {
        extract(reader, &root, options)
    }
}

fn open_target(dir: &Path) -> Result<Dir, UntarError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(UntarError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o750);
            builder.create(dir).map_err(|source| UntarError::Write {
                op: "create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Err(source) => {
            return Err(UntarError::Write {
                op: "inspect",
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    Dir::open_ambient_dir(dir, ambient_authority()).map_err(|source| UntarError::Write {
        op: "open",
        path: dir.to_path_buf(),
        source,
    })
}

/// Bytes tolerated after the end-of-archive marker (GNU tar pads to 10 KiB records).
const MAX_TRAILING_DATA: u64 = 1 << 20;

fn extract(input: impl Read, root: &Dir, options: &UntarOptions) -> Result<UntarSummary, UntarError> {
    let mut tar = TarReader::new(input);
    let mut extractor = Extractor {
        root,
        options,
        summary: UntarSummary::default(),
        declared: 0,
        made_dirs: HashSet::new(),
        buf: vec![0u8; 64 * 1024],
        now: SystemTime::now(),
    };
    while let Some(header) = tar.next_header().map_err(stream_error)? {
        extractor.entry(&header, &mut tar)?;
    }
    // Read what follows the end marker, so that a corrupt or truncated gzip stream is
    // caught by its checksum.
    let mut rest = tar.into_inner();
    let allowance = if options.max_size.is_some() {
        MAX_TRAILING_DATA + 1
    } else {
        u64::MAX
    };
    let trailing = io::copy(&mut (&mut rest).take(allowance), &mut io::sink()).map_err(stream_error)?;
    if trailing == allowance {
        return Err(UntarError::Malformed {
            reason: TarFormatError::TrailingData {
                limit: MAX_TRAILING_DATA,
            },
        });
    }
    Ok(extractor.summary)
}

/// A read error as an [`UntarError`]: the reader's format errors are typed.
fn stream_error(source: io::Error) -> UntarError {
    match source
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TarFormatError>())
    {
        Some(reason) => UntarError::Malformed {
            reason: reason.clone(),
        },
        None => UntarError::Stream { source },
    }
}

/// The state of one extraction.
struct Extractor<'a> {
    root: &'a Dir,
    options: &'a UntarOptions,
    summary: UntarSummary,
    /// Sum of the sizes declared by the headers so far.
    declared: u64,
    made_dirs: HashSet<PathBuf>,
    buf: Vec<u8>,
    now: SystemTime,
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, header: &EntryHeader, tar: &mut TarReader<R>) -> Result<(), UntarError> {
        let name = String::from_utf8_lossy(&header.name).into_owned();
        self.declared = self.declared.saturating_add(header.size);
        if let Some(limit) = self.options.max_size
            && self.declared > limit
        {
            return Err(UntarError::TooLarge { name, limit });
        }
        let path = clean_entry_path(&header.name, &name)?;
        let kind = entry_kind(header.type_flag);
        if self.options.filter.as_ref().is_some_and(|skip| skip(&path, kind)) {
            return Ok(());
        }
        if mode_contradicts(kind, header.mode) {
            return Err(UntarError::TypeMismatch {
                name,
                type_flag: header.type_flag,
                mode: header.mode,
            });
        }
        match kind {
            EntryKind::Directory => {
                self.summary.directories += 1;
                if !path.as_os_str().is_empty() {
                    self.create_dirs(&path, permissions(header.mode) | 0o700)?;
                }
            }
            EntryKind::File => {
                if path.as_os_str().is_empty() {
                    return Err(UntarError::InvalidName {
                        name,
                        reason: "a file cannot be the root",
                    });
                }
                if header.name.ends_with(b"/") {
                    return Err(UntarError::InvalidName {
                        name,
                        reason: "a file name cannot end with '/'",
                    });
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    self.create_dirs(parent, 0o750)?;
                }
                let written = self.write_file(&path, header, tar, &name)?;
                self.summary.files += 1;
                self.summary.bytes += written;
            }
            EntryKind::Symlink if self.options.skip_symlinks => {}
            EntryKind::Symlink => return Err(UntarError::Symlink { name }),
            EntryKind::Hardlink => return Err(UntarError::Hardlink { name }),
            EntryKind::Other => {
                return Err(UntarError::UnsupportedType {
                    name,
                    type_flag: header.type_flag,
                });
            }
        }
        Ok(())
    }

    fn create_dirs(&mut self, path: &Path, mode: u32) -> Result<(), UntarError> {
        if self.made_dirs.contains(path) {
            return Ok(());
        }
        let mut builder = cap_std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        cap_std::fs::DirBuilderExt::mode(&mut builder, mode);
        #[cfg(not(unix))]
        let _ = mode;
        self.root
            .create_dir_with(path, &builder)
            .map_err(|source| UntarError::Write {
                op: "create the directory",
                path: path.to_path_buf(),
                source,
            })?;
        self.made_dirs.insert(path.to_path_buf());
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        path: &Path,
        header: &EntryHeader,
        tar: &mut TarReader<R>,
        name: &str,
    ) -> Result<u64, UntarError> {
        let write_error = |op, source| UntarError::Write {
            op,
            path: path.to_path_buf(),
            source,
        };
        let mut open = cap_std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            cap_std::fs::OpenOptionsExt::mode(&mut open, permissions(header.mode) | 0o600);
            // A FIFO planted at the entry's path would block a plain open for writing
            // until some reader came along; non-blocking, the open fails (or succeeds,
            // and the type check below refuses it). Regular files ignore the flag.
            cap_std::fs::OpenOptionsExt::custom_flags(&mut open, non_blocking_flag());
        }
        let not_a_file = || io::Error::new(io::ErrorKind::InvalidInput, "exists and is not a regular file");
        let file = self.root.open_with(path, &open).map_err(|e| {
            #[cfg(unix)]
            if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) {
                return write_error("create", not_a_file());
            }
            write_error("create", e)
        })?;
        let is_file = file.metadata().map_err(|e| write_error("inspect", e))?.is_file();
        if !is_file {
            return Err(write_error("create", not_a_file()));
        }
        let mut file = file.into_std();
        let mut written: u64 = 0;
        loop {
            let n = tar.read(&mut self.buf).map_err(stream_error)?;
            if n == 0 {
                break;
            }
            written += n as u64;
            // Headers cannot understate their data here (the reader stops at the declared
            // size), but the cap is enforced on actual bytes all the same.
            if let Some(limit) = self.options.max_size
                && written > limit
            {
                return Err(UntarError::TooLarge {
                    name: name.to_owned(),
                    limit,
                });
            }
            file.write_all(&self.buf[..n])
                .map_err(|e| write_error("write", e))?;
        }
        let mtime = UNIX_EPOCH + Duration::from_secs(u64::try_from(header.mtime).unwrap_or(0));
        let mtime = mtime.min(self.now);
        file.set_times(FileTimes::new().set_accessed(mtime).set_modified(mtime))
            .map_err(|e| write_error("set the times of", e))?;
        Ok(written)
    }
}

#[cfg(unix)]
fn non_blocking_flag() -> i32 {
    i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0)
}

/// The permission bits of a mode field: no setuid, setgid or sticky bit (Flux keeps
/// `mode.Perm()` only), so an archive cannot plant a setuid file.
fn permissions(mode: i64) -> u32 {
    u32::try_from(mode & 0o777).unwrap_or(0)
}

/// Whether the file-type bits of a mode field make Go's `archive/tar` see another kind
/// than the type flag says. Flux's `untar` switches on `FileInfo().Mode()`, where a
/// `0o040000` makes a regular-file entry a directory and a `0o120000` a symlink, while
/// a directory flag wins over any bits. Bits that name no type (or a regular file) are
/// ignored, as in Go.
fn mode_contradicts(kind: EntryKind, mode: i64) -> bool {
    const DIR: i64 = 0o040000;
    const SPECIAL: [i64; 5] = [0o010000, 0o020000, 0o060000, 0o120000, 0o140000];
    let bits = mode & !0o7777;
    match kind {
        EntryKind::File => bits == DIR || SPECIAL.contains(&bits),
        EntryKind::Symlink => bits == DIR,
        EntryKind::Directory | EntryKind::Hardlink | EntryKind::Other => false,
    }
}

fn entry_kind(type_flag: u8) -> EntryKind {
    match type_flag {
        // Contiguous files are regular files to Go, hence to Flux.
        b'0' | b'7' => EntryKind::File,
        b'5' => EntryKind::Directory,
        b'2' => EntryKind::Symlink,
        b'1' => EntryKind::Hardlink,
        _ => EntryKind::Other,
    }
}

/// Validates an entry name and returns it as a relative path without `.` components
/// (empty for the root).
fn clean_entry_path(raw: &[u8], name: &str) -> Result<PathBuf, UntarError> {
    let invalid = |reason| UntarError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if raw.is_empty() {
        return Err(invalid("empty name"));
    }
    if raw.contains(&0) {
        return Err(invalid("contains NUL"));
    }
    if raw.contains(&b'\\') {
        return Err(invalid(NameProblem::Backslash.as_str()));
    }
    if raw[0] == b'/' {
        return Err(UntarError::AbsolutePath {
            name: name.to_owned(),
        });
    }
    let mut path = PathBuf::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(UntarError::ParentTraversal {
                    name: name.to_owned(),
                });
            }
            part => {
                check_component(part).map_err(|problem| invalid(problem.as_str()))?;
                let part = os_str(part).ok_or_else(|| invalid("not valid UTF-8 on this platform"))?;
                // A single component must stay one: no drive prefixes or roots.
                let mut components = Path::new(&part).components();
                match (components.next(), components.next()) {
                    (Some(Component::Normal(_)), None) => path.push(part),
                    _ => return Err(invalid("contains a drive or root prefix")),
                }
            }
        }
    }
    // Flux's `validRelPath` refuses `../` anywhere, `a../b` included.
    if raw.windows(3).any(|w| w == b"../") {
        return Err(invalid("contains '../', which Flux refuses"));
    }
    Ok(path)
}

#[cfg(unix)]
fn os_str(bytes: &[u8]) -> Option<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    Some(std::ffi::OsStr::from_bytes(bytes).to_os_string())
}

#[cfg(not(unix))]
fn os_str(bytes: &[u8]) -> Option<std::ffi::OsString> {
    std::str::from_utf8(bytes).ok().map(std::ffi::OsString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_cleaned_and_checked() {
        let clean = |raw: &str| clean_entry_path(raw.as_bytes(), raw);
        assert_eq!(clean("./a/./b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(clean(".").unwrap(), PathBuf::new());
        assert!(matches!(
            clean("/etc/passwd"),
            Err(UntarError::AbsolutePath { .. })
        ));
        assert!(matches!(
            clean("a/../../b"),
            Err(UntarError::ParentTraversal { .. })
        ));
        assert!(matches!(clean(".."), Err(UntarError::ParentTraversal { .. })));
        assert!(matches!(clean("a/.."), Err(UntarError::ParentTraversal { .. })));
        assert!(matches!(clean("a\\b"), Err(UntarError::InvalidName { .. })));
        assert!(matches!(
            clean(&format!("a/{}", "x".repeat(256))),
            Err(UntarError::InvalidName { .. })
        ));
        assert!(clean(&format!("a/{}", "x".repeat(255))).is_ok());
        assert!(matches!(clean(""), Err(UntarError::InvalidName { .. })));
    }
}
