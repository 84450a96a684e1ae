//! The errors of [`untar`](super::untar).

use std::{io, path::PathBuf};

/// Why an extraction stopped. Each refusal of an entry names the entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UntarError {
    /// The target exists and is not a directory (symlinks included).
    #[error("dir '{}' must be a directory", path.display())]
    NotADirectory {
        /// The target.
        path: PathBuf,
    },
    /// The input does not start like gzip data.
    #[error("requires gzip-compressed body: {reason}")]
    NotGzip {
        /// What was found instead.
        reason: String,
    },
    /// The compressed or tar stream could not be read: corrupt or truncated gzip data,
    /// entry data that ends early, or a failing reader.
    #[error("cannot read the tar stream")]
    Stream {
        /// The decoding or reading error.
        source: io::Error,
    },
    /// The tar stream breaks the format, or one of the limits that keep a hostile
    /// stream from exhausting the reader.
    #[error("malformed tar stream: {reason}")]
    Malformed {
        /// What is wrong.
        reason: TarFormatError,
    },
    /// An entry name is absolute.
    #[error("tar entry {name:?} has an absolute path")]
    AbsolutePath {
        /// The entry name.
        name: String,
    },
    /// An entry name has a `..` component.
    #[error("tar entry {name:?} contains a '..' component")]
    ParentTraversal {
        /// The entry name.
        name: String,
    },
    /// An entry name is empty, has a backslash, a NUL, a drive prefix or a component
    /// longer than [`MAX_NAME_COMPONENT_BYTES`](crate::MAX_NAME_COMPONENT_BYTES), or
    /// names a file with a trailing `/`.
    #[error("tar entry {name:?} has an invalid name: {reason}")]
    InvalidName {
        /// The entry name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symlink, refused unless [`UntarOptions::skip_symlinks`](super::UntarOptions::skip_symlinks) is set.
    #[error("tar entry {name:?} is a symlink, which is not allowed in this context")]
    Symlink {
        /// The entry name.
        name: String,
    },
    /// A hard link: never extracted, since its target could be any file.
    #[error("tar entry {name:?} is a hard link, which is not allowed")]
    Hardlink {
        /// The entry name.
        name: String,
    },
    /// A device, FIFO, sparse file or other type that is not a file or directory.
    #[error("tar entry {name:?} has unsupported type {:?}", *type_flag as char)]
    UnsupportedType {
        /// The entry name.
        name: String,
        /// The tar type flag.
        type_flag: u8,
    },
    /// The file-type bits of an entry's mode field (`0o040000` for a directory …)
    /// contradict its type flag. Go's `archive/tar` lets those bits decide, so Flux
    /// would extract such an entry as another kind than its type flag says (a
    /// directory, or a symlink it skips): refused so that no reader sees another tree.
    #[error("tar entry {name:?} has type {:?} but its mode {mode:o} names another file type", *type_flag as char)]
    TypeMismatch {
        /// The entry name.
        name: String,
        /// The tar type flag.
        type_flag: u8,
        /// The whole mode field.
        mode: i64,
    },
    /// The archive is bigger than the cap.
    #[error("tar {name:?} is bigger than max archive size of {limit} bytes")]
    TooLarge {
        /// The entry at which the cap was exceeded.
        name: String,
        /// The cap.
        limit: u64,
    },
    /// Writing into the target failed, including an entry whose path would lead out of
    /// the target through an existing symlink.
    #[error("cannot {op} {}", path.display())]
    Write {
        /// What was being done.
        op: &'static str,
        /// The path, relative to the target for entries.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// What is wrong with a malformed tar stream ([`UntarError::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TarFormatError {
    /// A header block's checksum does not match its content.
    #[error("header checksum mismatch")]
    Checksum,
    /// A numeric header field (or PAX record) is not a number.
    #[error("invalid {field} field")]
    InvalidField {
        /// The field: `size`, `mode`, `mtime`, `uid`, `gid`, `devmajor`, `devminor`,
        /// `atime`, `ctime`, `checksum`, `PAX size`, `PAX mtime`, `PAX time`,
        /// `PAX uid or gid`.
        field: &'static str,
    },
    /// A PAX record does not have the form `<length> <key>=<value>\n`.
    #[error("malformed PAX record")]
    MalformedPax,
    /// A PAX header or GNU long name is larger than the reader accepts (1 MiB, as Go).
    #[error("extension header of {size} bytes exceeds the {limit} byte limit")]
    ExtensionTooLarge {
        /// The size the header declares.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry has both a PAX `path` and a GNU long name: readers disagree on which
    /// wins (Go takes the long name, Python the first header).
    #[error("an entry has both a PAX path and a GNU long name")]
    ConflictingNames,
    /// An old-style entry (type `'\0'`) is a directory by its header's name (a
    /// trailing `/`) but not by its PAX path or GNU long name: Go reads a file there,
    /// Python a directory.
    #[error("an old-style entry is a directory by its header name only")]
    AmbiguousDirectory,
    /// A PAX global header comes between an extension header and its entry: Go drops
    /// the extension header, other readers apply it to the entry.
    #[error("a global header separates an extension header from its entry")]
    GlobalAfterExtension,
    /// A PAX header describes a GNU sparse file, which is not supported.
    #[error("GNU sparse files are not supported")]
    Sparse,
    /// The archive ends after an extension header, without the entry it describes.
    #[error("the archive ends after an extension header")]
    DanglingExtension,
    /// A zero block (the start of the end marker) is followed by a non-zero block.
    #[error("a zero block is followed by data")]
    DataAfterZeroBlock,
    /// More data than the tolerance follows the end-of-archive marker.
    #[error("more than {limit} bytes of data after the end of the archive")]
    TrailingData {
        /// The tolerance.
        limit: u64,
    },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn wrapped_causes_are_sources_not_repeated_in_messages() {
        let cause = || io::Error::other("the underlying cause");
        for error in [
            UntarError::Stream { source: cause() },
            UntarError::Write {
                op: "create",
                path: "a/b".into(),
                source: cause(),
            },
        ] {
            let source = error.source().expect("a source");
            let message = error.to_string();
            assert!(
                !message.contains(&source.to_string()),
                "{message:?} repeats its source"
            );
        }
    }
}
