//! [`OrphanSweep`]: storage directories no ExternalArtifact accounts for.

use std::{
    collections::HashSet,
    fmt, fs, io,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use flux_artifact_kube::ExternalArtifact;
use flux_artifact_storage::Storage;
use kube::{Api, Client, api::ListParams};

use super::{Error, blocking};
use crate::error_chain::ErrorChain;

/// How many objects one list request asks for.
const PAGE_SIZE: u32 = 500;

/// The default [`min_age`](OrphanSweep::with_min_age).
const DEFAULT_MIN_AGE: Duration = Duration::from_secs(60);

/// Removes the storage directories `<kind>/<namespace>/<name>` for which no
/// ExternalArtifact exists in the sweep's scope, and reports what it removed, kept and
/// failed to remove.
///
/// The scope is what the controller watches: all namespaces or a list of them, and a
/// label selector for the ExternalArtifacts it publishes, e.g.
/// [`Publisher::label_selector`](flux_artifact_kube::Publisher::label_selector). A
/// directory is an orphan when no ExternalArtifact matching the selector has its
/// namespace and name. Directories of namespaces outside the scope are not looked at;
/// entries that cannot be an object's directory (a file, a symlink, a name Kubernetes
/// would refuse) are kept and reported, never removed.
///
/// Run it at start-up, once leading, after the integrity check and before the
/// Controller (see [`leader`](crate::leader#start-up-order)).
///
/// # The race, and what narrows it
///
/// A reconcile writes an artifact's file, then publishes the ExternalArtifact: between
/// the two, its directory has no ExternalArtifact. A sweep running beside reconciles
/// could remove it. Run the sweep before the Controller starts, as above, and there is
/// nothing to race with. Otherwise:
///
/// - directories are listed before ExternalArtifacts, so a publication that lands
///   before the list counts;
/// - directories modified within [`min_age`](Self::with_min_age) (60 s by default) are
///   kept: writing an artifact modifies its directory;
/// - right before removing a directory, the sweep asks the API server again for that
///   one ExternalArtifact, and keeps the directory if it appeared.
///
/// What remains is a publication landing between that last question and the removal,
/// for a directory untouched for `min_age`: the ExternalArtifact then points at a
/// missing file, which the integrity check at the next start reports (and a reconcile
/// that checks its artifact exists rebuilds).
///
/// ```no_run
/// use flux_artifact_kube::Publisher;
/// use flux_artifact_runtime::cleanup::OrphanSweep;
///
/// # async fn example(client: kube::Client, storage: flux_artifact_storage::Storage) -> Result<(), flux_artifact_runtime::cleanup::Error> {
/// let publisher = Publisher::new(client.clone(), "podinfo-controller");
/// let report = OrphanSweep::new(publisher.label_selector())
///     .in_namespaces(["apps", "team-a"])
///     .run(&client, &storage)
///     .await?;
/// println!("orphan sweep: {report}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanSweep {
    label_selector: String,
    namespaces: Vec<String>,
    artifact_kind: String,
    min_age: Duration,
}

/// A storage directory of an object: `<kind>/<namespace>/<name>` under the storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDir {
    /// The namespace part.
    pub namespace: String,
    /// The name part.
    pub name: String,
    /// The directory.
    pub path: PathBuf,
}

/// Why a directory was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepReason {
    /// An ExternalArtifact in scope has its namespace and name.
    HasExternalArtifact,
    /// It was modified less than the minimum age ago.
    TooRecent {
        /// How long ago.
        modified: Duration,
    },
    /// Its ExternalArtifact appeared after the list, when asked again before removal.
    AppearedDuringSweep,
    /// It is a file or a symlink, not a directory.
    NotADirectory,
    /// Its name cannot be an ExternalArtifact's (not a DNS subdomain).
    NotAnObjectName,
}

/// A directory the sweep kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptDir {
    /// The directory.
    pub dir: ObjectDir,
    /// Why it was kept.
    pub reason: KeepReason,
}

/// A directory the sweep meant to remove and could not (or could not check again).
#[derive(Debug)]
pub struct FailedDir {
    /// The directory.
    pub dir: ObjectDir,
    /// What went wrong.
    pub error: Error,
}

/// What [`OrphanSweep::run`] did, in the order of the storage's directory names.
#[derive(Debug, Default)]
#[must_use]
pub struct SweepReport {
    /// Orphans removed.
    pub removed: Vec<ObjectDir>,
    /// Directories kept.
    pub kept: Vec<KeptDir>,
    /// Orphans that could not be removed.
    pub failed: Vec<FailedDir>,
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} removed, {} kept, {} failed",
            self.removed.len(),
            self.kept.len(),
            self.failed.len()
        )
    }
}

/// What the scan saw in a directory entry.
enum Entry {
    Directory { age: Duration },
    Other,
}

impl OrphanSweep {
    /// A sweep of ExternalArtifact storage in all namespaces, for the ExternalArtifacts
    /// matching `label_selector` (Kubernetes selector syntax, e.g.
    /// `app.kubernetes.io/managed-by=podinfo-controller`), keeping directories modified
    /// in the last 60 seconds.
    pub fn new(label_selector: impl Into<String>) -> Self {
        OrphanSweep {
            label_selector: label_selector.into(),
            namespaces: Vec::new(),
            artifact_kind: "ExternalArtifact".to_owned(),
            min_age: DEFAULT_MIN_AGE,
        }
    }

    /// Limits the sweep to these namespaces (for a controller that watches only its
    /// own, like Flux's with `--watch-all-namespaces=false`). Empty names are ignored;
    /// no names at all means all namespaces.
    #[must_use]
    pub fn in_namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.namespaces = namespaces
            .into_iter()
            .map(Into::into)
            .filter(|ns: &String| !ns.is_empty())
            .collect();
        self.namespaces.sort();
        self.namespaces.dedup();
        self
    }

    /// The kind the producer stores artifacts under, as passed to
    /// [`Storage::new_artifact_for`](flux_artifact_storage::Storage::new_artifact_for)
    /// (default `ExternalArtifact`); the sweep looks only under its directory.
    #[must_use]
    pub fn with_artifact_kind(mut self, kind: impl Into<String>) -> Self {
        self.artifact_kind = kind.into();
        self
    }

    /// Keeps directories modified less than `age` ago (default 60 s; zero turns the
    /// check off). See the [race](Self#the-race-and-what-narrows-it).
    #[must_use]
    pub fn with_min_age(mut self, age: Duration) -> Self {
        self.min_age = age;
        self
    }

    fn in_scope(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|ns| ns == namespace)
    }

    /// Sweeps `storage`; see the [type docs](Self).
    ///
    /// # Errors
    ///
    /// [`Error::ReadStorage`] if the storage tree cannot be read, [`Error::Kube`] if the
    /// ExternalArtifacts cannot be listed (then nothing is removed), [`Error::Task`] if
    /// the blocking task dies. A directory that cannot be checked again or removed is a
    /// [`FailedDir`] in the report, not an error.
    pub async fn run(&self, client: &Client, storage: &Storage) -> Result<SweepReport, Error> {
        let kind_dir = storage.base_path().join(self.artifact_kind.to_lowercase());
        // Directories first: see "the race".
        let entries = {
            let sweep = self.clone();
            blocking(storage, move |_| sweep.scan(&kind_dir)).await?
        };
        let published = self.published(client).await?;

        let mut report = SweepReport::default();
        for (dir, entry) in entries {
            let keep = |reason| KeptDir {
                dir: dir.clone(),
                reason,
            };
            let age = match entry {
                Entry::Other => {
                    report.kept.push(keep(KeepReason::NotADirectory));
                    continue;
                }
                Entry::Directory { age } => age,
            };
            if !is_dns_subdomain(&dir.name) {
                report.kept.push(keep(KeepReason::NotAnObjectName));
            } else if published.contains(&(dir.namespace.clone(), dir.name.clone())) {
                report.kept.push(keep(KeepReason::HasExternalArtifact));
            } else if age < self.min_age {
                report.kept.push(keep(KeepReason::TooRecent { modified: age }));
            } else {
                match self.remove_orphan(client, storage, &dir).await {
                    Ok(None) => report.removed.push(dir),
                    Ok(Some(reason)) => report.kept.push(keep(reason)),
                    Err(error) => {
                        tracing::warn!(path = %dir.path.display(), error = %ErrorChain(&error), "cannot remove orphaned storage");
                        report.failed.push(FailedDir { dir, error });
                    }
                }
            }
        }
        tracing::info!(%report, kind = %self.artifact_kind, "swept orphaned storage");
        Ok(report)
    }

    /// Removes `dir` unless its ExternalArtifact appeared meanwhile; returns why it was
    /// kept, if it was.
    async fn remove_orphan(
        &self,
        client: &Client,
        storage: &Storage,
        dir: &ObjectDir,
    ) -> Result<Option<KeepReason>, Error> {
        let api: Api<ExternalArtifact> = Api::namespaced(client.clone(), &dir.namespace);
        let params = ListParams::default()
            .labels(&self.label_selector)
            .fields(&format!("metadata.name={}", dir.name));
        let found = api.list(&params).await.map_err(|e| {
            flux_artifact_kube::Error::from_api_call("list", "ExternalArtifact", &dir.namespace, "", e)
        })?;
        if !found.items.is_empty() {
            return Ok(Some(KeepReason::AppearedDuringSweep));
        }
        let (kind, namespace, name) = (
            self.artifact_kind.clone(),
            dir.namespace.clone(),
            dir.name.clone(),
        );
        blocking(storage, move |storage| {
            Ok(storage.remove_object_storage(&kind, &(namespace.as_str(), name.as_str()))?)
        })
        .await?;
        tracing::info!(path = %dir.path.display(), "removed orphaned storage");
        Ok(None)
    }

    /// The `(namespace, name)` of every ExternalArtifact in scope.
    async fn published(&self, client: &Client) -> Result<HashSet<(String, String)>, Error> {
        let mut published = HashSet::new();
        if self.namespaces.is_empty() {
            self.list_into(Api::all(client.clone()), "", &mut published)
                .await?;
        } else {
            for namespace in &self.namespaces {
                self.list_into(
                    Api::namespaced(client.clone(), namespace),
                    namespace,
                    &mut published,
                )
                .await?;
            }
        }
        Ok(published)
    }

    async fn list_into(
        &self,
        api: Api<ExternalArtifact>,
        namespace: &str,
        published: &mut HashSet<(String, String)>,
    ) -> Result<(), Error> {
        let mut params = ListParams::default()
            .labels(&self.label_selector)
            .limit(PAGE_SIZE);
        loop {
            let page = api.list(&params).await.map_err(|e| {
                flux_artifact_kube::Error::from_api_call("list", "ExternalArtifact", namespace, "", e)
            })?;
            published.extend(
                page.items
                    .into_iter()
                    .filter_map(|object| Some((object.metadata.namespace?, object.metadata.name?))),
            );
            match page.metadata.continue_.filter(|token| !token.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(()),
            }
        }
    }

    /// The entries `<namespace>/<name>` under the kind's directory, for the namespaces
    /// in scope, sorted. Symlinks are not followed.
    fn scan(&self, kind_dir: &Path) -> Result<Vec<(ObjectDir, Entry)>, Error> {
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for (namespace, namespace_path) in sorted_entries(kind_dir)? {
            let is_dir = fs::symlink_metadata(&namespace_path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir || !is_dns_label(&namespace) || !self.in_scope(&namespace) {
                continue;
            }
            for (name, path) in sorted_entries(&namespace_path)? {
                let metadata = fs::symlink_metadata(&path).map_err(|source| Error::ReadStorage {
                    path: path.clone(),
                    source,
                })?;
                let entry = if metadata.is_dir() {
                    let modified = metadata.modified().unwrap_or(now);
                    Entry::Directory {
                        age: now.duration_since(modified).unwrap_or(Duration::ZERO),
                    }
                } else {
                    Entry::Other
                };
                entries.push((
                    ObjectDir {
                        namespace: namespace.clone(),
                        name,
                        path,
                    },
                    entry,
                ));
            }
        }
        Ok(entries)
    }
}

/// The UTF-8 names and paths in `dir`, sorted; none if it does not exist.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let read = |source| Error::ReadStorage {
        path: dir.to_owned(),
        source,
    };
    let iter = match fs::read_dir(dir) {
        Ok(iter) => iter,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read(e)),
    };
    let mut entries = Vec::new();
    for entry in iter {
        let entry = entry.map_err(read)?;
        // A name that is not UTF-8 cannot be a Kubernetes name: not ours to judge.
        if let Ok(name) = entry.file_name().into_string() {
            entries.push((name, entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// A DNS-1123 label: what a namespace name is.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A DNS-1123 subdomain: what an ExternalArtifact's name is.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_kubernetes_rules() {
        for good in ["podinfo", "a", "app-1.v2", "x.y.z", &"a".repeat(63)] {
            assert!(is_dns_subdomain(good), "{good}");
        }
        for bad in [
            "",
            "Podinfo",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a_b",
            "tmp.x~",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        assert!(is_dns_label("flux-system"));
        assert!(!is_dns_label("flux.system"));
    }

    #[test]
    fn no_namespaces_or_only_empty_ones_mean_all() {
        assert!(OrphanSweep::new("a=b").in_scope("anything"));
        assert!(OrphanSweep::new("a=b").in_namespaces([""]).in_scope("anything"));
        let sweep = OrphanSweep::new("a=b").in_namespaces(["apps", "apps", "team-a"]);
        assert!(sweep.in_scope("team-a"));
        assert!(!sweep.in_scope("flux-system"));
    }

    #[test]
    fn the_report_counts_what_it_holds() {
        let dir = ObjectDir {
            namespace: "apps".into(),
            name: "podinfo".into(),
            path: "/data/externalartifact/apps/podinfo".into(),
        };
        let report = SweepReport {
            removed: vec![dir.clone()],
            kept: vec![
                KeptDir {
                    dir: dir.clone(),
                    reason: KeepReason::HasExternalArtifact,
                },
                KeptDir {
                    dir,
                    reason: KeepReason::NotADirectory,
                },
            ],
            failed: Vec::new(),
        };
        assert_eq!(report.to_string(), "1 removed, 2 kept, 0 failed");
    }
}
