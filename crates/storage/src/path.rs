//! Artifact paths: how they are built from object names, and how a path string is
//! confined to the storage root.

use std::{
    ffi::OsString,
    fs, io,
    path::{Component, Path, PathBuf},
};

use crate::Error;

/// The namespace and name of the object an artifact belongs to.
///
/// Implemented for `(namespace, name)` tuples of string slices, for [`ClusterScoped`]
/// and, with the `k8s-openapi` feature, for Kubernetes' `ObjectMeta`.
///
/// Storage methods that take an `ObjectKey` refuse an empty namespace
/// ([`Error::MissingNamespace`]) unless the key says it names a cluster-scoped object,
/// as only [`ClusterScoped`] does: a namespaced object whose metadata lacks its
/// namespace (not read from the API server, say) would otherwise land silently in the
/// cluster-scoped layout `<kind>/<name>`, which is also the directory of the namespace
/// of that name.
pub trait ObjectKey {
    /// The object's namespace; empty for cluster-scoped objects.
    fn namespace(&self) -> &str;
    /// The object's name.
    fn name(&self) -> &str;
    /// Whether the object is cluster-scoped, so that its artifacts go to
    /// `<kind>/<name>`. False unless overridden; [`ClusterScoped`] says true.
    fn is_cluster_scoped(&self) -> bool {
        false
    }
}

impl ObjectKey for (&str, &str) {
    fn namespace(&self) -> &str {
        self.0
    }

    fn name(&self) -> &str {
        self.1
    }
}

/// The key of a cluster-scoped object: its name, no namespace. Its artifacts go to
/// `<lowercase kind>/<name>`, the Go SDK's layout for objects without a namespace.
///
/// That directory is also the one in which the objects of the namespace `<name>` have
/// their directories, which is why the layout must be asked for by name:
/// [`Storage::remove_object_storage`](crate::Storage::remove_object_storage) refuses
/// it.
///
/// ```
/// # use flux_artifact_storage::{ClusterScoped, Storage};
/// # let dir = tempfile::tempdir()?;
/// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
/// let storage = Storage::new(&options)?;
/// let artifact = storage.new_artifact_for("ClusterPolicy", &ClusterScoped("baseline"), "v1", "a.tar.gz")?;
/// assert_eq!(artifact.path, "clusterpolicy/baseline/a.tar.gz");
/// assert!(storage.new_artifact_for("ClusterPolicy", &("", "baseline"), "v1", "a.tar.gz").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterScoped<'a>(pub &'a str);

impl ObjectKey for ClusterScoped<'_> {
    fn namespace(&self) -> &str {
        ""
    }

    fn name(&self) -> &str {
        self.0
    }

    fn is_cluster_scoped(&self) -> bool {
        true
    }
}

/// The metadata of a Kubernetes object: its namespace and name. Metadata without a
/// namespace is refused by the storage methods (see [`ObjectKey`]); use
/// [`ClusterScoped`] for a cluster-scoped object.
#[cfg(feature = "k8s-openapi")]
impl ObjectKey for k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

impl<T: ObjectKey + ?Sized> ObjectKey for &T {
    fn namespace(&self) -> &str {
        (**self).namespace()
    }

    fn name(&self) -> &str {
        (**self).name()
    }

    fn is_cluster_scoped(&self) -> bool {
        (**self).is_cluster_scoped()
    }
}

/// The directory of an object's artifacts, relative to the storage root, with the
/// namespace rule of [`ObjectKey`]: an empty namespace only for a cluster-scoped key.
pub(crate) fn object_dir(kind: &str, object: &(impl ObjectKey + ?Sized)) -> Result<String, Error> {
    check_segment("kind", kind)?;
    check_segment("name", object.name())?;
    if object.is_cluster_scoped() {
        if !object.namespace().is_empty() {
            return Err(Error::InvalidPathSegment {
                segment: "namespace",
                value: object.namespace().to_owned(),
                reason: "must be empty for a cluster-scoped object",
            });
        }
    } else if object.namespace().is_empty() {
        return Err(Error::MissingNamespace {
            kind: kind.to_owned(),
            name: object.name().to_owned(),
        });
    }
    artifact_dir(kind, object.namespace(), object.name())
}

/// The directory of an object's artifacts, relative to the storage root:
/// `<lowercase kind>/<namespace>/<name>` (Go: `ArtifactDir`).
///
/// Only the kind is lowercased, as in Go. An empty namespace (a cluster-scoped object)
/// is left out: `<kind>/<name>`. (The [`Storage`](crate::Storage) methods taking an
/// [`ObjectKey`] ask for that layout to be explicit: see [`ClusterScoped`].)
///
/// # Errors
///
/// [`Error::InvalidPathSegment`] if the kind or name is empty, or any part is `.`, `..`
/// or contains `/`, `\` or NUL: such a part would address another object's directory
/// (Go joins them unchecked).
///
/// ```
/// use flux_artifact_storage::artifact_dir;
///
/// assert_eq!(artifact_dir("MixedCaseKind", "test-ns", "test-obj")?, "mixedcasekind/test-ns/test-obj");
/// assert!(artifact_dir("GitRepository", "default", "../other").is_err());
/// # Ok::<(), flux_artifact_storage::Error>(())
/// ```
pub fn artifact_dir(kind: &str, namespace: &str, name: &str) -> Result<String, Error> {
    check_segment("kind", kind)?;
    check_segment("name", name)?;
    let kind = kind.to_lowercase();
    if namespace.is_empty() {
        return Ok(format!("{kind}/{name}"));
    }
    check_segment("namespace", namespace)?;
    Ok(format!("{kind}/{namespace}/{name}"))
}

/// The path of an artifact file relative to the storage root:
/// `<lowercase kind>/<namespace>/<name>/<file_name>` (Go: `ArtifactPath`).
///
/// An empty `file_name` gives the directory, as in Go.
///
/// # Errors
///
/// [`Error::InvalidPathSegment`] as for [`artifact_dir`], and for a file name that is
/// `.`, `..` or contains `/`, `\` or NUL.
///
/// ```
/// use flux_artifact_storage::artifact_path;
///
/// assert_eq!(
///     artifact_path("GitRepository", "default", "test-repo", "source.tar.gz")?,
///     "gitrepository/default/test-repo/source.tar.gz"
/// );
/// assert!(artifact_path("GitRepository", "default", "test-repo", "../../x").is_err());
/// # Ok::<(), flux_artifact_storage::Error>(())
/// ```
pub fn artifact_path(kind: &str, namespace: &str, name: &str, file_name: &str) -> Result<String, Error> {
    let dir = artifact_dir(kind, namespace, name)?;
    if file_name.is_empty() {
        return Ok(dir);
    }
    check_segment("file name", file_name)?;
    Ok(format!("{dir}/{file_name}"))
}

/// Checks that `value` is one plain path component.
pub(crate) fn check_segment(segment: &'static str, value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value == "." || value == ".." {
        "must not be '.' or '..'"
    } else if value.contains(['/', '\\']) {
        "must not contain '/' or '\\'"
    } else if value.contains('\0') {
        "must not contain NUL"
    } else {
        return Ok(());
    };
    Err(Error::InvalidPathSegment {
        segment,
        value: value.to_owned(),
        reason,
    })
}

/// How many symlinks one resolution may follow before it is called a loop (Linux's
/// `MAXSYMLINKS` is 40; securejoin allows 255).
const MAX_SYMLINKS: usize = 255;

/// Joins `unsafe_path` to `root` so that the result stays inside `root`, resolving
/// symlinks on the way as if `root` were `/`.
///
/// The semantics of Go's `securejoin.SecureJoin`, which the Go SDK's `LocalPath` uses:
/// `..` stops at the root (`../../etc/passwd` → `<root>/etc/passwd`), an absolute path is
/// re-rooted, a symlink's target (absolute or relative) is resolved inside the root, and
/// components that do not exist are appended as they are.
///
/// The result is correct at the time of the call; a concurrent writer inside the root
/// could swap a component for a symlink afterwards. Storage directories are written only
/// by their controller, so this is enough there; extraction of untrusted archives uses
/// descriptor-relative I/O instead (see [`untar`](crate::untar)).
pub(crate) fn secure_join(root: &Path, unsafe_path: &Path) -> io::Result<PathBuf> {
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, unsafe_path);
    let mut resolved = root.to_path_buf();
    let mut depth = 0usize;
    let mut links = 0usize;
    while let Some(part) = pending.pop() {
        if part == ".." {
            if depth > 0 {
                resolved.pop();
                depth -= 1;
            }
            continue;
        }
        let candidate = resolved.join(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links at {}",
                        candidate.display()
                    )));
                }
                let target = fs::read_link(&candidate)?;
                if target.has_root() {
                    resolved = root.to_path_buf();
                    depth = 0;
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => {
                resolved = candidate;
                depth += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                resolved = candidate;
                depth += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(resolved)
}

/// Pushes the parts of `path` onto a stack so that popping yields them in order; root
/// and prefix components are dropped (re-rooting), `.` is dropped, `..` is kept.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::Prefix(_) | Component::CurDir => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

/// Lexically joins `unsafe_path` under `root`: `..` stops at the root and absolute paths
/// are re-rooted. For paths inside trees this crate created itself, which hold no
/// symlinks.
pub(crate) fn lexical_join(root: &Path, unsafe_path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in unsafe_path.components() {
        match component {
            Component::Normal(name) => parts.push(name),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
        }
    }
    parts
        .iter()
        .fold(root.to_path_buf(), |path, part| path.join(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "k8s-openapi")]
    #[test]
    fn object_metadata_gives_the_artifact_path_its_namespace_and_name() {
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("podinfo".into()),
            namespace: Some("apps".into()),
            ..Default::default()
        };
        assert_eq!(
            artifact_path("ExternalArtifact", meta.namespace(), meta.name(), "a.tar.gz").unwrap(),
            "externalartifact/apps/podinfo/a.tar.gz"
        );
    }

    #[cfg(feature = "k8s-openapi")]
    #[test]
    fn object_metadata_without_a_namespace_is_refused_naming_the_object() {
        let meta = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("global".into()),
            ..Default::default()
        };
        let err = object_dir("ExternalArtifact", &meta).unwrap_err();
        assert!(
            matches!(&err, Error::MissingNamespace { kind, name } if kind == "ExternalArtifact" && name == "global"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_namespace_is_refused_unless_the_key_is_cluster_scoped() {
        assert!(matches!(
            object_dir("Kind", &("", "x")),
            Err(Error::MissingNamespace { .. })
        ));
        assert_eq!(object_dir("Kind", &ClusterScoped("x")).unwrap(), "kind/x");
        assert_eq!(object_dir("Kind", &("ns", "x")).unwrap(), "kind/ns/x");
    }

    #[test]
    fn artifact_dir_lowercases_only_the_kind() {
        assert_eq!(
            artifact_dir("MixedCaseKind", "Test-NS", "Obj").unwrap(),
            "mixedcasekind/Test-NS/Obj"
        );
    }

    #[test]
    fn artifact_dir_of_a_cluster_scoped_object_has_no_namespace() {
        assert_eq!(artifact_dir("ClusterThing", "", "x").unwrap(), "clusterthing/x");
    }

    #[test]
    fn artifact_path_with_an_empty_file_name_is_the_directory() {
        assert_eq!(
            artifact_path("GitRepository", "default", "r", "").unwrap(),
            "gitrepository/default/r"
        );
    }

    #[test]
    fn artifact_path_matches_go() {
        assert_eq!(
            artifact_path("GitRepository", "default", "test-repo", "source.tar.gz").unwrap(),
            "gitrepository/default/test-repo/source.tar.gz"
        );
    }

    #[test]
    fn every_part_rejects_traversal_and_separators() {
        for bad in ["..", ".", "a/b", "a\\b", "a\0b"] {
            for (kind, ns, name, file) in [
                (bad, "ns", "n", "f"),
                ("K", bad, "n", "f"),
                ("K", "ns", bad, "f"),
                ("K", "ns", "n", bad),
            ] {
                let err = artifact_path(kind, ns, name, file).unwrap_err();
                assert!(
                    matches!(err, Error::InvalidPathSegment { ref value, .. } if value == bad),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn empty_kind_or_name_is_rejected() {
        assert!(artifact_dir("", "ns", "n").is_err());
        assert!(artifact_dir("K", "ns", "").is_err());
    }

    #[test]
    fn lexical_join_clamps_parent_dirs_at_the_root() {
        let root = Path::new("/base");
        assert_eq!(
            lexical_join(root, Path::new("../../etc/passwd")),
            Path::new("/base/etc/passwd")
        );
        assert_eq!(lexical_join(root, Path::new("/abs/x")), Path::new("/base/abs/x"));
        assert_eq!(
            lexical_join(root, Path::new("a/./b/../c")),
            Path::new("/base/a/c")
        );
        assert_eq!(lexical_join(root, Path::new("")), Path::new("/base"));
    }
}
