#![allow(unreachable_pub)]

//! What the controller's tests share: a fake API server, a real artifact server on
//! 127.0.0.1:0 serving the source artifacts, the controller's storage, and the
//! fixtures of one generator reading one GitRepository.

pub mod api;
#[path = "../../../../test-support/kube_api/rbac.rs"]
#[allow(dead_code)]
pub mod rbac;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

use artifact_generator::{
    ArtifactGenerator, CONTROLLER_NAME,
    api::FINALIZER,
    controller::{Context, ReconcileError, Settings, reconcile},
};
use flux_artifact::{
    config::Options,
    kube::{ExternalArtifact, conditions},
    runtime::events::EventRecorder,
    server::Server,
    storage::{ArchiveSource, Artifact, AsyncStorage, Storage},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use tempfile::TempDir;

pub use self::api::FakeApi;

/// The generator's namespace.
pub const NS: &str = "apps";
/// The generator's path on the API server.
pub const GENERATOR: &str =
    "/apis/source.extensions.fluxcd.io/v1beta1/namespaces/apps/artifactgenerators/gen";
/// The source's path on the API server.
pub const REPO: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/gitrepositories/repo";

/// The path of the ExternalArtifact `name` in the generator's namespace.
pub fn external_artifact_path(name: &str) -> String {
    format!("/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/{name}")
}

/// A controller with its fake API server, its storage and a source server.
pub struct Harness {
    pub api: FakeApi,
    pub ctx: Arc<Context>,
    pub storage_root: TempDir,
    source_storage: Storage,
    _source_root: TempDir,
    commits: u32,
}

impl Harness {
    /// With the default settings, but two download retries (not nine: a test of a
    /// failing download would wait minutes).
    pub async fn new() -> Harness {
        Harness::with_settings(Settings {
            http_retry: 2,
            ..Settings::default()
        })
        .await
    }

    pub async fn with_settings(settings: Settings) -> Harness {
        Harness::with_context(settings, |ctx| ctx).await
    }

    /// With `settings`, and the context changed by `customise`.
    pub async fn with_context(settings: Settings, customise: impl FnOnce(Context) -> Context) -> Harness {
        let (api, client) = FakeApi::start();

        let source_root = tempfile::tempdir().unwrap();
        let mut options = Options {
            storage_path: source_root.path().into(),
            storage_address: "127.0.0.1:0".into(),
            ..Options::default()
        };
        let server = Server::bind(&options).await.unwrap();
        options.storage_adv_address = server.local_addr().to_string();
        let source_storage = Storage::new(&options).unwrap();
        tokio::spawn(server.serve(std::future::pending()));

        let storage_root = tempfile::tempdir().unwrap();
        let storage = Storage::new(&Options {
            storage_path: storage_root.path().into(),
            storage_adv_address: "artifact-generator.flux-system.svc.cluster.local.".into(),
            ..Options::default()
        })
        .unwrap();
        let events = EventRecorder::with_instance(client.clone(), CONTROLLER_NAME, "artifact-generator-0");
        let ctx = Context::new(client, AsyncStorage::new(storage), settings).with_events(events);
        Harness {
            api,
            ctx: Arc::new(customise(ctx)),
            storage_root,
            source_storage,
            _source_root: source_root,
            commits: 0,
        }
    }

    /// Publishes `files` as the next revision of the GitRepository `apps/repo`, served
    /// by the source server; returns its artifact.
    pub fn commit(&mut self, files: &[(&str, &str)]) -> Artifact {
        self.commits += 1;
        let tree = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = tree.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        let mut artifact = self
            .source_storage
            .archive_content_addressed("GitRepository", &(NS, "repo"), ArchiveSource::dir(tree.path()))
            .unwrap()
            .into_artifact();
        artifact.revision = format!("main@sha1:{:040}", self.commits);
        self.set_source(Some(&artifact));
        artifact
    }

    /// Puts the GitRepository `apps/repo` with `artifact` in its status (none: not ready).
    pub fn set_source(&self, artifact: Option<&Artifact>) {
        let mut source = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": { "name": "repo", "namespace": NS },
            "spec": { "url": "https://example.com/repo.git" },
            "status": {},
        });
        if let Some(artifact) = artifact {
            source["status"]["artifact"] = serde_json::to_value(artifact).unwrap();
        }
        match self.api.get(REPO) {
            Some(_) => self
                .api
                .edit(REPO, |object| object["status"] = source["status"].clone()),
            None => self.api.put(source),
        }
    }

    /// The generator as the API server has it now.
    pub fn generator(&self) -> ArtifactGenerator {
        serde_json::from_value(self.api.get(GENERATOR).unwrap()).unwrap()
    }

    /// Changes the generator's spec, as `kubectl apply` would (its generation goes up).
    pub fn edit_spec(&self, edit: impl FnOnce(&mut Value)) {
        self.api.edit(GENERATOR, |object| {
            edit(&mut object["spec"]);
            let generation = object["metadata"]["generation"].as_i64().unwrap() + 1;
            object["metadata"]["generation"] = json!(generation);
        });
    }

    /// Reconciles the generator as the API server has it now.
    pub async fn reconcile(&self) -> Result<Action, ReconcileError> {
        reconcile(Arc::new(self.generator()), Arc::clone(&self.ctx)).await
    }

    /// The ExternalArtifact `name`, if it exists.
    pub fn external_artifact(&self, name: &str) -> Option<ExternalArtifact> {
        self.api
            .get(&external_artifact_path(name))
            .map(|object| serde_json::from_value(object).unwrap())
    }

    /// The artifact the ExternalArtifact `name` publishes.
    pub fn published(&self, name: &str) -> Artifact {
        self.external_artifact(name)
            .and_then(|ea| ea.status?.artifact)
            .unwrap_or_else(|| {
                panic!(
                    "nothing published as {name}; the generator: {:?}",
                    self.generator().status
                )
            })
    }

    /// The directory the artifacts of the ExternalArtifact `name` are stored in.
    pub fn storage_dir(&self, name: &str) -> PathBuf {
        self.storage_root
            .path()
            .join("externalartifact")
            .join(NS)
            .join(name)
    }

    /// The archives stored for the ExternalArtifact `name`.
    pub fn archives(&self, name: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.storage_dir(name)) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().ends_with(".tar.gz"))
            .collect();
        files.sort();
        files
    }

    /// The Kubernetes Events recorded, as (type, reason, note).
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.api
            .list("/apis/events.k8s.io/v1/namespaces/apps/events")
            .iter()
            .map(|e| {
                let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
                (text("type"), text("reason"), text("note"))
            })
            .collect()
    }
}

/// The generator `apps/gen` reading the GitRepository `apps/repo` as `@repo`, with the
/// finalizer already added and these `artifacts`.
pub fn generator(artifacts: Value) -> Value {
    json!({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {
            "name": "gen", "namespace": NS, "uid": "gen-uid", "generation": 1,
            "finalizers": [FINALIZER],
        },
        "spec": {
            "sources": [{ "alias": "repo", "kind": "GitRepository", "name": "repo" }],
            "artifacts": artifacts,
        },
    })
}

/// An artifact copying a directory of the repository, with its revision.
pub fn artifact(name: &str, dir: &str) -> Value {
    json!({ "name": name, "revision": "@repo", "copy": [{ "from": format!("@repo/{dir}/**"), "to": "@artifact/" }] })
}

/// `(status, reason)` of a condition.
pub fn condition(conditions_list: &[Condition], type_: &str) -> Option<(String, String)> {
    conditions::get(conditions_list, type_).map(|c| (c.status.clone(), c.reason.clone()))
}

/// The files of an archive, unpacked.
pub fn unpack(archive: &Path) -> Vec<(String, String)> {
    let out = tempfile::tempdir().unwrap();
    let file = fs::File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.unpack(out.path()).unwrap();
    let mut files: Vec<(String, String)> = walkdir::WalkDir::new(out.path())
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(out.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}
