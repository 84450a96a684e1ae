//! `artifact-generator build`: the local mode. It reads generators from a file, takes
//! their sources from the command line instead of the cluster, builds every artifact
//! into a storage directory with the controller's builder, and prints the
//! `ExternalArtifact`s the controller would apply; with `--serve` it then serves them.

pub(crate) mod args;
mod builder;
mod manifests;
mod output;
mod sources;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::PathBuf,
    time::Instant,
};

use artifact_generator::{
    ArtifactGenerator, CONTROLLER_NAME, Error, ObservedSource, expand_artifacts, external_artifact,
    set_artifact_revisions, validate,
};
use flux_artifact::{
    config::Options, fetch::ArchiveFetcher, kube::ExternalArtifact, server::Server, storage::Storage,
};
use kube::ResourceExt;

use self::{
    args::{BuildArgs, Location},
    sources::Sources,
};

/// The namespace of generators whose manifest and command line set none.
const DEFAULT_NAMESPACE: &str = "default";

/// A failure of the command, with what it was doing when it failed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// `generator apps/podinfo`, `artifact apps/podinfo`, …; empty for the command as a
    /// whole.
    pub(crate) context: String,
    pub(crate) error: Box<Error>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            context: String::new(),
            error: Box::new(error),
        }
    }
}

trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> Context<T> for Result<T, Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|error| Failure {
            context: context(),
            error: Box::new(error),
        })
    }
}

fn id(generator: &ArtifactGenerator) -> String {
    format!(
        "{}/{}",
        generator.namespace().unwrap_or_default(),
        generator.name_any()
    )
}

/// Runs `build`: everything is built before anything is printed, so a failure prints
/// no object.
pub(crate) fn run(args: &BuildArgs) -> Result<(), Failure> {
    let mut generators = manifests::read(&args.file)?;
    let namespace = args.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let mut seen = BTreeSet::new();
    for generator in &mut generators {
        if generator.namespace().is_none_or(|ns| ns.is_empty()) {
            generator.metadata.namespace = Some(namespace.to_owned());
        }
        let generator_id = id(generator);
        for warning in validate(generator).context(|| format!("generator {generator_id}"))? {
            eprintln!("warning: generator {generator_id}: {warning}");
        }
        if !seen.insert(generator_id.clone()) {
            return Err(Error::InvalidSpec {
                field: "metadata.name".into(),
                value: generator.name_any(),
                reason: format!("generator {generator_id} is in {} twice", args.file.display()),
            }
            .into());
        }
    }

    // Every alias has a source before anything is downloaded or created.
    let plan = plan_sources(args, &generators)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            op: "start the async runtime for",
            path: args.file.clone(),
            source,
        })?;
    let mut sources = Sources::new()?;
    fetch_sources(&generators, &plan, &mut sources, &runtime)?;

    std::fs::create_dir_all(&args.storage_path).map_err(|source| Error::Io {
        op: "create the storage directory",
        path: args.storage_path.clone(),
        source,
    })?;
    let mut options = Options {
        storage_path: args.storage_path.clone(),
        storage_address: args.storage_addr.clone(),
        ..Options::default()
    };
    // Bound before building, so that the URLs name the port it got.
    let server = if args.serve {
        let server = runtime
            .block_on(Server::bind(&options))
            .map_err(|e| io_failure("bind the artifact server to", &args.storage_addr, e))?;
        options.storage_adv_address = server.local_addr().to_string();
        Some(server)
    } else {
        None
    };
    let storage = Storage::new(&options)
        .map_err(|e| io_failure("open the storage", &args.storage_path.display(), e))?;
    let objects = build_all(args, &generators, &plan, &mut sources, &storage)?;
    // The extracted and downloaded sources are not needed while serving.
    drop(sources);

    let mut stdout = std::io::stdout().lock();
    output::print(&mut stdout, &objects, args.output)
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Io {
            op: "write",
            path: PathBuf::from("<stdout>"),
            source,
        })?;
    drop(stdout);

    if let Some(server) = server {
        eprintln!(
            "serving {} on http://{}",
            args.storage_path.display(),
            server.local_addr()
        );
        runtime
            .block_on(server.serve(shutdown_signal()))
            .map_err(|e| io_failure("serve on", &args.storage_addr, e))?;
    }
    Ok(())
}

fn io_failure(
    op: &'static str,
    what: &dyn std::fmt::Display,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Failure {
    Error::Io {
        op,
        path: PathBuf::from(what.to_string()),
        source: std::io::Error::other(error),
    }
    .into()
}

/// Where each generator's sources are: alias → location, per generator.
type Plan = Vec<BTreeMap<String, Location>>;

/// Matches every generator's aliases with `--source` arguments (one naming the
/// generator wins over one that does not; among equals, the last wins), and warns about
/// arguments no generator uses.
fn plan_sources(args: &BuildArgs, generators: &[ArtifactGenerator]) -> Result<Plan, Failure> {
    let mut used = vec![false; args.sources.len()];
    let mut plan = Vec::new();
    for generator in generators {
        let name = generator.name_any();
        let mut locations = BTreeMap::new();
        for reference in &generator.spec.sources {
            let alias = &reference.alias;
            let candidates = || {
                args.sources
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(_, s)| &s.alias == alias)
            };
            let found = candidates()
                .find(|(_, s)| s.generator.as_deref() == Some(name.as_str()))
                .or_else(|| candidates().find(|(_, s)| s.generator.is_none()));
            let Some((i, source)) = found else {
                return Err(Error::MissingSource {
                    generator: id(generator),
                    alias: alias.clone(),
                }
                .into());
            };
            used[i] = true;
            locations.insert(alias.clone(), source.location.clone());
        }
        plan.push(locations);
    }
    for (source, used) in args.sources.iter().zip(used) {
        if !used {
            let prefix = source
                .generator
                .as_ref()
                .map(|g| format!("{g}/"))
                .unwrap_or_default();
            eprintln!(
                "warning: --source {prefix}{}={}: no generator in {} uses it",
                source.alias,
                source.location,
                args.file.display()
            );
        }
    }
    for revision in &args.revisions {
        let used = generators.iter().any(|g| {
            revision
                .generator
                .as_ref()
                .is_none_or(|name| *name == g.name_any())
                && g.spec.sources.iter().any(|s| s.alias == revision.alias)
        });
        if !used {
            eprintln!(
                "warning: --source-revision {}: no generator in {} has source {:?}",
                revision.alias,
                args.file.display(),
                revision.alias
            );
        }
    }
    Ok(plan)
}

/// Fetches every location of the plan, each once.
fn fetch_sources(
    generators: &[ArtifactGenerator],
    plan: &Plan,
    sources: &mut Sources,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), Failure> {
    let fetcher = ArchiveFetcher::new();
    for (generator, locations) in generators.iter().zip(plan) {
        for (alias, location) in locations {
            runtime
                .block_on(sources.fetch(alias, location, &fetcher))
                .context(|| format!("generator {}", id(generator)))?;
        }
    }
    Ok(())
}

/// What `revision: @alias` and `originRevision: @alias` take from each source the
/// generator's artifacts refer to: `--source-revision`, or `latest@<digest>`.
fn observed_sources(
    args: &BuildArgs,
    generator: &ArtifactGenerator,
    locations: &BTreeMap<String, Location>,
    sources: &mut Sources,
) -> Result<BTreeMap<String, ObservedSource>, Error> {
    let referenced: BTreeSet<&str> = generator
        .spec
        .output_artifacts
        .iter()
        .flat_map(|a| [a.revision.as_str(), a.origin_revision.as_str()])
        .filter_map(|r| r.strip_prefix('@'))
        .collect();
    let name = generator.name_any();
    let mut observed = BTreeMap::new();
    for alias in referenced {
        let Some(location) = locations.get(alias) else {
            continue;
        };
        let given = args
            .revisions
            .iter()
            .rev()
            .filter(|r| r.alias == alias)
            .find(|r| r.generator.as_deref() == Some(name.as_str()))
            .or_else(|| {
                args.revisions
                    .iter()
                    .rev()
                    .find(|r| r.alias == alias && r.generator.is_none())
            });
        // A directory's digest reads every file: only when the revision needs it.
        let (digest, revision) = match given {
            Some(given) => (String::new(), given.revision.clone()),
            None => {
                let digest = sources.digest(location)?;
                let revision = format!("latest@{digest}");
                (digest, revision)
            }
        };
        observed.insert(
            alias.to_owned(),
            ObservedSource {
                digest,
                revision,
                origin_revision: String::new(),
                url: location.to_string(),
            },
        );
    }
    Ok(observed)
}

/// Builds every artifact of every generator, in order, and renders its object.
fn build_all(
    args: &BuildArgs,
    generators: &[ArtifactGenerator],
    plan: &Plan,
    sources: &mut Sources,
    storage: &Storage,
) -> Result<Vec<ExternalArtifact>, Failure> {
    let mut objects = Vec::new();
    let mut produced: BTreeMap<String, String> = BTreeMap::new();
    for (generator, locations) in generators.iter().zip(plan) {
        let generator_id = id(generator);
        let in_generator = || format!("generator {generator_id}");
        let dirs: BTreeMap<String, PathBuf> = locations
            .iter()
            .filter_map(|(alias, location)| Some((alias.clone(), sources.get(location)?.dir.clone())))
            .collect();
        let observed = observed_sources(args, generator, locations, sources).context(in_generator)?;
        let namespace = generator.namespace().unwrap_or_default();
        for request in expand_artifacts(&generator.spec, &dirs).context(in_generator)? {
            let object_id = format!("{namespace}/{}", request.artifact.name);
            if let Some(other) = produced.insert(object_id.clone(), generator_id.clone()) {
                return Err(Error::InvalidSpec {
                    field: format!("spec.artifacts[{}].name", request.index),
                    value: request.artifact.name.clone(),
                    reason: format!("generator {other} produces ExternalArtifact {object_id} too"),
                })
                .context(in_generator);
            }
            let started = Instant::now();
            let built = builder::build(storage, &namespace, &request, &dirs)
                .context(|| format!("generator {generator_id}, artifact {}", request.artifact.name))?;
            let mut artifact = built.artifact;
            set_artifact_revisions(&mut artifact, &request.artifact, &observed);
            eprintln!(
                "{}",
                output::progress(&object_id, built.files, built.bytes, &artifact, started.elapsed())
            );
            objects.push(external_artifact(generator, &request, &artifact, CONTROLLER_NAME));
        }
    }
    Ok(objects)
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    () = ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

/// Resolves on Ctrl-C; never, if that cannot be listened for (stopping at once would
/// serve nothing).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
