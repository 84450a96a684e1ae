//! The rules for entry names inside an artifact, shared by the writer ([`Storage::archive`],
//! [`ArchiveEntries`]) and the reader ([`untar`]), so that what one writes the other
//! extracts. Flux's untar refuses a backslash anywhere in a name, and no consumer can
//! create a file whose name is longer than the filesystem allows.
//!
//! [`Storage::archive`]: crate::Storage::archive
//! [`ArchiveEntries`]: crate::ArchiveEntries
//! [`untar`]: crate::untar

/// The longest name component an artifact may hold, in bytes: `NAME_MAX` of Linux
/// filesystems (ext4, XFS, Btrfs, tmpfs), where Flux's consumers run.
pub const MAX_NAME_COMPONENT_BYTES: usize = 255;

/// Why a file name cannot be part of an artifact: no consumer would extract it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name contains a backslash. Linux allows it in file names, but Flux's untar
    /// (and [`untar`](crate::untar)) refuse the whole artifact over it, since on Windows
    /// it separates directories.
    Backslash,
    /// A component of the name is longer than [`MAX_NAME_COMPONENT_BYTES`].
    ComponentTooLong,
    /// The name is not valid Unicode, which tar names must be outside Unix.
    NotUnicode,
}

impl NameProblem {
    /// The problem as a phrase: "contains a backslash".
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NameProblem::Backslash => "contains a backslash",
            NameProblem::ComponentTooLong => "has a component longer than 255 bytes",
            NameProblem::NotUnicode => "is not valid Unicode",
        }
    }
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks one component of an entry name, as bytes (NUL, `/`, `.` and `..` are the
/// callers' to handle: a file name on disk cannot hold them).
pub(crate) fn check_component(component: &[u8]) -> Result<(), NameProblem> {
    if component.contains(&b'\\') {
        return Err(NameProblem::Backslash);
    }
    if component.len() > MAX_NAME_COMPONENT_BYTES {
        return Err(NameProblem::ComponentTooLong);
    }
    Ok(())
}

/// Checks every component of a relative path on disk, as [`check_component`], and
/// outside Unix that it is valid Unicode (tar names are bytes; a lossy conversion would
/// name another file).
pub(crate) fn check_relative_path(path: &std::path::Path) -> Result<(), NameProblem> {
    for component in path.components() {
        let os = component.as_os_str();
        #[cfg(unix)]
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(os);
        #[cfg(not(unix))]
        let bytes = os.to_str().ok_or(NameProblem::NotUnicode)?.as_bytes();
        check_component(bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backslash_or_an_overlong_component_is_refused() {
        assert_eq!(check_component(b"a\\b"), Err(NameProblem::Backslash));
        assert_eq!(
            check_component(&[b'x'; MAX_NAME_COMPONENT_BYTES + 1]),
            Err(NameProblem::ComponentTooLong)
        );
        assert_eq!(check_component(&[b'x'; MAX_NAME_COMPONENT_BYTES]), Ok(()));
        assert_eq!(check_component("ünï😀 with space".as_bytes()), Ok(()));
    }

    #[test]
    fn every_component_of_a_path_is_checked() {
        let long = "x".repeat(MAX_NAME_COMPONENT_BYTES + 1);
        assert_eq!(
            check_relative_path(std::path::Path::new(&format!("a/{long}/b"))),
            Err(NameProblem::ComponentTooLong)
        );
        #[cfg(unix)]
        assert_eq!(
            check_relative_path(std::path::Path::new("a/b\\c/d")),
            Err(NameProblem::Backslash)
        );
        assert_eq!(check_relative_path(std::path::Path::new("a/b/c")), Ok(()));
    }
}
