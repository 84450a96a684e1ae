//! The sources of a local build: directories used as they are, tarballs extracted, and
//! artifact URLs downloaded and verified, each once however many generators use it.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use artifact_generator::Error;
use flux_artifact::{
    digest::Algorithm,
    fetch::ArchiveFetcher,
    storage::{UntarOptions, untar},
};
use tempfile::TempDir;

use super::args::Location;

/// A source ready for the builder.
#[derive(Debug)]
pub(crate) struct Source {
    /// The directory holding its files.
    pub(crate) dir: PathBuf,
    /// The digest of its artifact: known for URLs and tarballs, computed from the tree
    /// for directories when first asked for.
    digest: Option<String>,
}

/// Every source of a build, and the temporary directory holding the extracted and
/// downloaded ones, removed on drop.
#[derive(Debug)]
pub(crate) struct Sources {
    scratch: TempDir,
    fetched: BTreeMap<Location, Source>,
}

impl Sources {
    pub(crate) fn new() -> Result<Self, Error> {
        let scratch = tempfile::Builder::new()
            .prefix(".artifact-generator-sources-")
            .tempdir()
            .map_err(|source| Error::Io {
                op: "create a temporary directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        Ok(Sources {
            scratch,
            fetched: BTreeMap::new(),
        })
    }

    /// Makes `location` available as a directory, the first time it is asked for.
    /// `alias` names it in errors.
    ///
    /// # Errors
    ///
    /// [`Error::SourceFetchFailed`] if the path is neither a directory nor a readable
    /// gzipped tarball, or the download fails or does not match its digest.
    pub(crate) async fn fetch(
        &mut self,
        alias: &str,
        location: &Location,
        fetcher: &ArchiveFetcher,
    ) -> Result<&Source, Error> {
        if !self.fetched.contains_key(location) {
            let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::SourceFetchFailed {
                alias: alias.to_owned(),
                location: location.to_string(),
                source,
            };
            let target = self.scratch.path().join(self.fetched.len().to_string());
            let source = match location {
                Location::Path(path) => local(path, &target).map_err(failed)?,
                Location::Url { url, digest } => {
                    fetcher
                        .fetch(url, digest, &target)
                        .await
                        .map_err(|e| failed(e.into()))?;
                    Source {
                        dir: target,
                        digest: Some(normalise_digest(digest)),
                    }
                }
            };
            self.fetched.insert(location.clone(), source);
        }
        self.get(location).ok_or_else(|| Error::Io {
            op: "find the fetched source",
            path: PathBuf::from(location.to_string()),
            source: io::ErrorKind::NotFound.into(),
        })
    }

    pub(crate) fn get(&self, location: &Location) -> Option<&Source> {
        self.fetched.get(location)
    }

    /// The digest of a fetched source: that of its artifact, or for a directory the
    /// [`tree_digest`], computed once.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a directory cannot be read.
    pub(crate) fn digest(&mut self, location: &Location) -> Result<String, Error> {
        let Some(source) = self.fetched.get_mut(location) else {
            return Err(Error::Io {
                op: "find the fetched source",
                path: PathBuf::from(location.to_string()),
                source: io::ErrorKind::NotFound.into(),
            });
        };
        if let Some(digest) = &source.digest {
            return Ok(digest.clone());
        }
        let digest = tree_digest(&source.dir)?;
        source.digest = Some(digest.clone());
        Ok(digest)
    }
}

/// A directory is used in place; a file is read as a gzipped tarball and extracted
/// into `target` (symlinks skipped as Flux's fetcher does, 100 MiB at most).
fn local(path: &Path, target: &Path) -> Result<Source, Box<dyn std::error::Error + Send + Sync>> {
    let metadata = fs::metadata(path)?;
    if metadata.is_dir() {
        return Ok(Source {
            dir: path.to_owned(),
            digest: None,
        });
    }
    if !metadata.is_file() {
        return Err("neither a directory nor a file".into());
    }
    let digest = Algorithm::Sha256.digest_reader(fs::File::open(path)?)?;
    untar(
        fs::File::open(path)?,
        target,
        &UntarOptions::default().skip_symlinks(true),
    )?;
    Ok(Source {
        dir: target.to_owned(),
        digest: Some(digest.to_string()),
    })
}

/// Flux accepts a bare hex digest as sha256.
fn normalise_digest(digest: &str) -> String {
    if digest.contains(':') {
        digest.to_owned()
    } else {
        format!("sha256:{digest}")
    }
}

/// The digest standing for a directory source: sha256 over its regular files and
/// directories in lexical order (`.git` directories and symlinks left out, as in the
/// build), each as its `/`-separated path, a NUL, then for a file `x` or `-` for the
/// executable bit, its length in decimal, a NUL and its bytes. It changes when a
/// file's path, content or executable bit does.
pub(crate) fn tree_digest(root: &Path) -> Result<String, Error> {
    let io_error = |path: &Path, source: io::Error| Error::Io {
        op: "read",
        path: path.to_owned(),
        source,
    };
    let mut digester = Algorithm::Sha256.digester();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && e.file_name() == ".git"));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            io_error(&path, e.into())
        })?;
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let name: Vec<_> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        let file_type = entry.file_type();
        if file_type.is_dir() {
            digester.update(format!("{}/\0", name.join("/")).as_bytes());
        } else if file_type.is_file() {
            let metadata = entry.metadata().map_err(|e| io_error(entry.path(), e.into()))?;
            let executable = if is_executable(&metadata) { "x" } else { "-" };
            digester.update(format!("{}\0{executable}{}\0", name.join("/"), metadata.len()).as_bytes());
            let mut file = fs::File::open(entry.path()).map_err(|e| io_error(entry.path(), e))?;
            io::copy(&mut file, &mut digester).map_err(|e| io_error(entry.path(), e))?;
        }
    }
    Ok(digester.digest().to_string())
}

#[cfg(unix)]
fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("deploy")).unwrap();
        fs::write(dir.path().join("deploy/app.yaml"), "kind: Deployment\n").unwrap();
        dir
    }

    #[test]
    fn the_tree_digest_is_stable() {
        let (a, b) = (tree(), tree());
        assert_eq!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
        assert!(tree_digest(a.path()).unwrap().starts_with("sha256:"));
    }

    #[test]
    fn the_tree_digest_changes_with_content() {
        let (a, b) = (tree(), tree());
        fs::write(b.path().join("deploy/app.yaml"), "kind: Service\n").unwrap();
        assert_ne!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }

    #[test]
    fn the_tree_digest_changes_with_a_rename() {
        let (a, b) = (tree(), tree());
        fs::rename(b.path().join("deploy/app.yaml"), b.path().join("deploy/web.yaml")).unwrap();
        assert_ne!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }

    #[test]
    fn the_tree_digest_ignores_git_directories() {
        let (a, b) = (tree(), tree());
        fs::create_dir_all(b.path().join(".git/objects")).unwrap();
        fs::write(b.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn the_tree_digest_changes_with_the_executable_bit() {
        use std::os::unix::fs::PermissionsExt;
        let (a, b) = (tree(), tree());
        fs::set_permissions(
            b.path().join("deploy/app.yaml"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(tree_digest(a.path()).unwrap(), tree_digest(b.path()).unwrap());
    }

    #[test]
    fn bare_hex_digests_are_sha256() {
        assert_eq!(normalise_digest("abc"), "sha256:abc");
        assert_eq!(normalise_digest("sha512:abc"), "sha512:abc");
    }

    #[tokio::test]
    async fn a_missing_path_is_a_fetch_failure() {
        let mut sources = Sources::new().unwrap();
        let missing = Location::Path("/nonexistent/source".into());
        let error = sources
            .fetch("repo", &missing, &ArchiveFetcher::new())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), artifact_generator::ErrorKind::SourceFetchFailed);
        assert_eq!(
            error.to_string(),
            "cannot fetch source \"repo\" from /nonexistent/source"
        );
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_tarball_is_a_fetch_failure() {
        let dir = tree();
        let mut sources = Sources::new().unwrap();
        let file = Location::Path(dir.path().join("deploy/app.yaml"));
        let error = sources
            .fetch("repo", &file, &ArchiveFetcher::new())
            .await
            .unwrap_err();
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("gzip"), "{cause}");
    }

    #[tokio::test]
    async fn a_directory_is_used_in_place() {
        let dir = tree();
        let mut sources = Sources::new().unwrap();
        let location = Location::Path(dir.path().to_owned());
        let source = sources
            .fetch("repo", &location, &ArchiveFetcher::new())
            .await
            .unwrap();
        assert_eq!(source.dir, dir.path());
    }
}
