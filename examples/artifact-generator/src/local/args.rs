//! The command line of `artifact-generator build`.

use std::{fmt, path::PathBuf};

use clap::{Args, ValueEnum};
use flux_artifact::config::Options;

/// Where `build` stores artifacts unless told otherwise: a directory under the current
/// one (this repository's `.gitignore` lists it).
pub(crate) const DEFAULT_STORAGE_PATH: &str = "artifact-storage";
/// The address artifact URLs name, and `--serve` listens on, unless told otherwise:
/// loopback only.
pub(crate) const DEFAULT_STORAGE_ADDR: &str = "127.0.0.1:9090";

/// Builds the artifacts of ArtifactGenerators from local directories, tarballs or
/// artifact URLs, without a cluster, and prints the ExternalArtifacts the controller
/// would apply.
#[derive(Debug, Args)]
#[command(
    after_help = "Sources are matched to a generator's aliases: `--source repo=./repo` gives alias `repo` to every generator in the file, `--source gen/repo=./repo` to generator `gen` only (it wins over the former). Each is a directory (used as it is; `.git/` and symlinks are left out), a gzipped tarball such as a Flux artifact (extracted safely, at most 100 MiB), or `http://…#DIGEST`, downloaded and checked against DIGEST like Flux's controllers do.\n\nThe objects go to stdout as a YAML stream (or one JSON `List` with `-o json`), progress and warnings to stderr. A failure prints `error[KIND]: message` and exits with status 1, printing no object."
)]
pub(crate) struct BuildArgs {
    /// A file holding one or more ArtifactGenerator documents, or `-` for stdin.
    #[arg(short = 'f', long = "file", value_name = "GENERATOR.yaml")]
    pub(crate) file: PathBuf,

    /// The directory, tarball or `URL#DIGEST` of a source alias, as
    /// `[GENERATOR/]ALIAS=PATH_OR_URL`. Repeat for each source.
    #[arg(long = "source", value_name = "[GENERATOR/]ALIAS=PATH_OR_URL", value_parser = parse_source)]
    pub(crate) sources: Vec<SourceArg>,

    /// The namespace of generators whose manifest sets none (default `default`).
    #[arg(long, value_name = "NS", value_parser = parse_namespace)]
    pub(crate) namespace: Option<String>,

    /// The revision a source stands for, as `[GENERATOR/]ALIAS=REV`: what
    /// `revision: "@ALIAS"` and `originRevision: "@ALIAS"` give an artifact (default
    /// `latest@<digest of the source>`).
    #[arg(long = "source-revision", value_name = "[GENERATOR/]ALIAS=REV", value_parser = parse_revision)]
    pub(crate) revisions: Vec<RevisionArg>,

    /// The storage root, created if missing.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STORAGE_PATH)]
    pub(crate) storage_path: PathBuf,

    /// The address in artifact URLs, and the one `--serve` listens on (port 0: any free
    /// port, which the URLs then name).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_STORAGE_ADDR, value_parser = parse_address)]
    pub(crate) storage_addr: String,

    /// After printing the objects, serve the storage over HTTP until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub(crate) serve: bool,

    /// How to print the objects.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub(crate) output: Format,
}

/// How the objects are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A YAML stream, one document per object.
    Yaml,
    /// One JSON `List` object holding them.
    Json,
}

/// `--source [GENERATOR/]ALIAS=PATH_OR_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceArg {
    /// The generator it is for; every generator when `None`.
    pub(crate) generator: Option<String>,
    pub(crate) alias: String,
    pub(crate) location: Location,
}

/// Where a source's files are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Location {
    /// A directory, or a gzipped tarball.
    Path(PathBuf),
    /// An artifact to download, and its digest.
    Url { url: String, digest: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path(path) => write!(f, "{}", path.display()),
            Location::Url { url, digest } => write!(f, "{url}#{digest}"),
        }
    }
}

/// `--source-revision [GENERATOR/]ALIAS=REV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RevisionArg {
    pub(crate) generator: Option<String>,
    pub(crate) alias: String,
    pub(crate) revision: String,
}

/// Splits `[GENERATOR/]ALIAS=VALUE`.
fn split_assignment(value: &str) -> Result<(Option<String>, String, String), String> {
    let (key, rest) = value
        .split_once('=')
        .ok_or_else(|| "expected [GENERATOR/]ALIAS=VALUE".to_owned())?;
    let (generator, alias) = match key.split_once('/') {
        Some((generator, alias)) => (Some(generator), alias),
        None => (None, key),
    };
    if generator.is_some_and(str::is_empty) {
        return Err("the generator name before '/' is empty".into());
    }
    if alias.is_empty() || alias.contains('/') {
        return Err(format!("{key:?} is not [GENERATOR/]ALIAS"));
    }
    if rest.is_empty() {
        return Err(format!("nothing after '=' for {key:?}"));
    }
    Ok((generator.map(str::to_owned), alias.to_owned(), rest.to_owned()))
}

fn parse_source(value: &str) -> Result<SourceArg, String> {
    let (generator, alias, location) = split_assignment(value)?;
    let location = if location.starts_with("http://") || location.starts_with("https://") {
        match location.rsplit_once('#') {
            Some((url, digest)) if !digest.is_empty() => Location::Url {
                url: url.to_owned(),
                digest: digest.to_owned(),
            },
            _ => {
                return Err(format!(
                    "the URL {location:?} needs the artifact's digest: URL#sha256:HEX"
                ));
            }
        }
    } else {
        Location::Path(PathBuf::from(location))
    };
    Ok(SourceArg {
        generator,
        alias,
        location,
    })
}

fn parse_revision(value: &str) -> Result<RevisionArg, String> {
    let (generator, alias, revision) = split_assignment(value)?;
    Ok(RevisionArg {
        generator,
        alias,
        revision,
    })
}

fn parse_namespace(value: &str) -> Result<String, String> {
    let label = value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if label {
        Ok(value.to_owned())
    } else {
        Err("a namespace is a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit".into())
    }
}

fn parse_address(value: &str) -> Result<String, String> {
    let options = Options {
        storage_address: value.to_owned(),
        ..Options::default()
    };
    options.bind_address().map_err(|e| e.to_string())?;
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_without_a_generator_applies_to_all() {
        let source = parse_source("repo=./repo").unwrap();
        assert_eq!(source.generator, None);
        assert_eq!(source.alias, "repo");
        assert_eq!(source.location, Location::Path("./repo".into()));
    }

    #[test]
    fn a_source_can_name_its_generator() {
        let source = parse_source("apps/repo=/tmp/a=b").unwrap();
        assert_eq!(source.generator.as_deref(), Some("apps"));
        assert_eq!(source.location, Location::Path("/tmp/a=b".into()));
    }

    #[test]
    fn a_url_source_carries_its_digest() {
        let source = parse_source("chart=http://127.0.0.1:9090/chart.tar.gz#sha256:abc").unwrap();
        assert_eq!(
            source.location,
            Location::Url {
                url: "http://127.0.0.1:9090/chart.tar.gz".into(),
                digest: "sha256:abc".into()
            }
        );
    }

    #[test]
    fn a_url_source_without_a_digest_is_refused() {
        let error = parse_source("chart=http://example.com/chart.tar.gz").unwrap_err();
        assert!(error.contains("needs the artifact's digest"), "{error}");
    }

    #[test]
    fn malformed_assignments_are_refused() {
        for bad in ["repo", "=./x", "/repo=./x", "a/b/c=./x", "repo="] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revisions_parse_like_sources() {
        let revision = parse_revision("gen/chart=6.9.0@sha256:abc").unwrap();
        assert_eq!(revision.generator.as_deref(), Some("gen"));
        assert_eq!(revision.alias, "chart");
        assert_eq!(revision.revision, "6.9.0@sha256:abc");
    }

    #[test]
    fn a_bad_storage_address_is_a_usage_error() {
        assert!(parse_address("127.0.0.1:0").is_ok());
        assert!(parse_address("no-port").is_err());
    }

    #[test]
    fn a_namespace_must_be_a_dns_label() {
        assert!(parse_namespace("team-a").is_ok());
        assert!(parse_namespace("Team_A").is_err());
    }
}
