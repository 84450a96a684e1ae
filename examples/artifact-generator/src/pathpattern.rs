//! `pathPattern`: one set of output artifacts per directory of a source that matches
//! `@alias/apps/{app}/envs/{env}`, with the captures filled into the artifacts' names
//! and copy paths, and added to each `ExternalArtifact` as labels.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use regex::Regex;

use crate::{
    Error,
    api::{ArtifactGeneratorSpec, CopyOperation, OutputArtifact},
    names,
};

/// One artifact to build: an [`OutputArtifact`] with every `{capture}` filled in, and
/// the labels its `ExternalArtifact` gets from the captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRequest {
    /// The position of the artifact (or template) in `spec.artifacts`, for field paths
    /// in messages: `spec.artifacts[<index>]`.
    pub index: usize,
    /// The artifact, as the builder takes it.
    pub artifact: OutputArtifact,
    /// Capture name → lowercased captured value; empty without `pathPattern`.
    pub labels: BTreeMap<String, String>,
}

/// The artifacts a generator builds, given the directory each source alias was fetched
/// into.
///
/// Without `pathPattern` these are the spec's artifacts as they are. With it, every
/// directory under the pattern's source (walked in lexical order; symbolic links and
/// `.git` directories are not entered) whose path relative to the source root matches
/// the pattern gives one request per spec artifact, in spec order. A `{name}` matches
/// one path segment, or part of one. Captured values are lowercased for artifact names
/// and labels, and used as they are in `from` and `to`, so that copies find the
/// directory whatever its case. `revision`, `originRevision`, `exclude` and `strategy`
/// are kept as they are.
///
/// ```
/// use std::{collections::BTreeMap, fs};
/// use artifact_generator::{ArtifactGenerator, expand_artifacts};
///
/// let source = tempfile::tempdir()?;
/// fs::create_dir_all(source.path().join("apps/Auth/envs/prod"))?;
/// let generator: ArtifactGenerator = serde_yaml_ng::from_str(r#"
/// apiVersion: source.extensions.fluxcd.io/v1beta1
/// kind: ArtifactGenerator
/// metadata: { name: apps }
/// spec:
///   sources: [{ alias: repo, kind: GitRepository, name: monorepo }]
///   pathPattern: "@repo/apps/{app}/envs/{env}"
///   artifacts:
///     - name: "{app}-{env}"
///       copy: [{ from: "@repo/apps/{app}/envs/{env}/**", to: "@artifact/" }]
/// "#)?;
/// let sources = BTreeMap::from([("repo".to_owned(), source.path().to_owned())]);
/// let requests = expand_artifacts(&generator.spec, &sources)?;
/// assert_eq!(requests[0].artifact.name, "auth-prod");
/// assert_eq!(requests[0].artifact.copy[0].from, "@repo/apps/Auth/envs/prod/**");
/// assert_eq!(requests[0].labels["app"], "auth");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// All terminal but [`Error::Io`]: [`Error::PathPatternInvalidFormat`] (not
/// `@alias/path`), [`Error::PathPatternUnknownAlias`] (no directory for its alias),
/// [`Error::PathPatternInvalidCapture`] (an empty, misnamed, unbalanced or repeated
/// capture, in the pattern or a template), [`Error::PathPatternInvalidLabelKey`] (a
/// capture name that cannot be a label key), [`Error::PathPatternUndefinedCapture`] (a
/// template using a capture the pattern lacks), [`Error::PathPatternInvalidLabelValue`]
/// (a captured directory name that cannot be a label value),
/// [`Error::PathPatternInvalidName`] (a rendered name that is not an object name),
/// [`Error::PathPatternNameCollision`] (two matches giving one name); [`Error::Io`] if
/// the source directory cannot be walked. Templates are checked before the walk, so a
/// broken template is reported even when nothing matches (source-watcher checks them
/// per match).
pub fn expand_artifacts(
    spec: &ArtifactGeneratorSpec,
    sources: &BTreeMap<String, PathBuf>,
) -> Result<Vec<ArtifactRequest>, Error> {
    if spec.path_pattern.is_empty() {
        return Ok(spec
            .output_artifacts
            .iter()
            .enumerate()
            .map(|(index, artifact)| ArtifactRequest {
                index,
                artifact: artifact.clone(),
                labels: BTreeMap::new(),
            })
            .collect());
    }
    let pattern = PathPattern::parse(&spec.path_pattern)?;
    let root = sources
        .get(&pattern.alias)
        .ok_or_else(|| Error::PathPatternUnknownAlias {
            pattern: spec.path_pattern.clone(),
            alias: pattern.alias.clone(),
        })?;
    let templates = spec
        .output_artifacts
        .iter()
        .enumerate()
        .map(|(i, artifact)| Templates::parse(i, artifact, &pattern.captures))
        .collect::<Result<Vec<_>, _>>()?;

    let mut requests = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for directory in directories(root)? {
        let Some(captures) = pattern.matches(&directory) else {
            continue;
        };
        let mut labels = BTreeMap::new();
        for (name, raw) in &captures {
            let value = raw.to_lowercase();
            if let Some(reason) = names::label_value_problem(&value) {
                return Err(Error::PathPatternInvalidLabelValue {
                    pattern: spec.path_pattern.clone(),
                    capture: name.clone(),
                    value,
                    directory,
                    reason,
                });
            }
            labels.insert(name.clone(), value);
        }
        for (i, template) in templates.iter().enumerate() {
            let artifact = template.render(&spec.output_artifacts[i], &labels, &captures);
            if let Some(reason) = names::dns_subdomain_problem(&artifact.name) {
                return Err(Error::PathPatternInvalidName {
                    pattern: spec.path_pattern.clone(),
                    field: format!("spec.artifacts[{i}].name"),
                    name: artifact.name,
                    directory,
                    reason,
                });
            }
            if let Some(first) = seen.insert(artifact.name.clone(), directory.clone()) {
                return Err(Error::PathPatternNameCollision {
                    pattern: spec.path_pattern.clone(),
                    name: artifact.name,
                    first,
                    second: directory,
                });
            }
            requests.push(ArtifactRequest {
                index: i,
                artifact,
                labels: labels.clone(),
            });
        }
    }
    Ok(requests)
}

/// Every directory under `root`, as a `/`-separated path relative to it, in lexical
/// order of names (Go's `filepath.WalkDir` order). Symbolic links are neither matched
/// nor followed, and `.git` directories (present in local checkouts, never in Flux
/// artifacts) are skipped with their content.
fn directories(root: &Path) -> Result<Vec<String>, Error> {
    let mut found = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.file_type().is_dir() && entry.file_name() != ".git");
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            Error::Io {
                op: "walk",
                path,
                source: e.into(),
            }
        })?;
        if let Ok(relative) = entry.path().strip_prefix(root) {
            let segments: Vec<_> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect();
            found.push(segments.join("/"));
        }
    }
    Ok(found)
}

/// A parsed `pathPattern`.
#[derive(Debug)]
struct PathPattern {
    alias: String,
    captures: BTreeSet<String>,
    /// Capture names in group order.
    groups: Vec<String>,
    matcher: Regex,
}

impl PathPattern {
    fn parse(pattern: &str) -> Result<Self, Error> {
        const FIELD: &str = "spec.pathPattern";
        let (alias, path) = pattern
            .strip_prefix('@')
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| Error::PathPatternInvalidFormat {
                pattern: pattern.to_owned(),
            })?;
        let parts = parse_template(FIELD, pattern, path)?;
        let mut captures = BTreeSet::new();
        let mut groups = Vec::new();
        let mut regex = String::from("^");
        for part in &parts {
            match part {
                Part::Literal(text) => regex.push_str(&regex::escape(text)),
                Part::Capture(name) => {
                    if !captures.insert(name.clone()) {
                        return Err(Error::PathPatternInvalidCapture {
                            field: FIELD.into(),
                            template: pattern.to_owned(),
                            reason: format!("duplicate capture variable {name:?}"),
                        });
                    }
                    regex.push_str("([^/]+)");
                    groups.push(name.clone());
                }
            }
        }
        regex.push('$');
        for name in &groups {
            if let Some(reason) = names::label_key_problem(name) {
                return Err(Error::PathPatternInvalidLabelKey {
                    pattern: pattern.to_owned(),
                    capture: name.clone(),
                    reason,
                });
            }
        }
        let matcher = Regex::new(&regex).map_err(|e| Error::PathPatternInvalidCapture {
            field: FIELD.into(),
            template: pattern.to_owned(),
            reason: format!("cannot compile the pattern: {e}"),
        })?;
        Ok(PathPattern {
            alias: alias.to_owned(),
            captures,
            groups,
            matcher,
        })
    }

    /// The raw captures of `directory`, if it matches.
    fn matches(&self, directory: &str) -> Option<BTreeMap<String, String>> {
        let found = self.matcher.captures(directory)?;
        Some(
            self.groups
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let value = found.get(i + 1).map_or("", |m| m.as_str());
                    (name.clone(), value.to_owned())
                })
                .collect(),
        )
    }
}

/// A piece of a template: text, or a `{capture}`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Capture(String),
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_capture_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `template` (the value of `field`, or part of it) into text and captures.
fn parse_template(field: &str, value: &str, template: &str) -> Result<Vec<Part>, Error> {
    let invalid = |reason: String| Error::PathPatternInvalidCapture {
        field: field.to_owned(),
        template: value.to_owned(),
        reason,
    };
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    let offset = |rest: &str| template.len() - rest.len();
    while let Some(i) = rest.find(['{', '}']) {
        literal.push_str(&rest[..i]);
        if rest[i..].starts_with('}') {
            return Err(invalid(format!(
                "capture ending at offset {} is missing its opening brace",
                offset(&rest[i..])
            )));
        }
        let after = &rest[i + 1..];
        let Some(end) = after.find('}') else {
            return Err(invalid(format!(
                "capture starting at offset {} is missing its closing brace",
                offset(&rest[i..])
            )));
        };
        let name = &after[..end];
        if name.is_empty() {
            return Err(invalid("empty capture variable".into()));
        }
        if !is_capture_name(name) {
            return Err(invalid(format!(
                "capture variable {name:?} must be a valid capture name matching [A-Za-z_][A-Za-z0-9_]*"
            )));
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(Part::Capture(name.to_owned()));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

/// The parsed templates of one output artifact: its name and each copy's `from`/`to`.
#[derive(Debug)]
struct Templates {
    name: Vec<Part>,
    copy: Vec<(Vec<Part>, Vec<Part>)>,
}

impl Templates {
    fn parse(index: usize, artifact: &OutputArtifact, captures: &BTreeSet<String>) -> Result<Self, Error> {
        let field = format!("spec.artifacts[{index}]");
        let parse = |field: String, value: &str| -> Result<Vec<Part>, Error> {
            let parts = parse_template(&field, value, value)?;
            for part in &parts {
                if let Part::Capture(name) = part
                    && !captures.contains(name)
                {
                    return Err(Error::PathPatternUndefinedCapture {
                        field,
                        template: value.to_owned(),
                        capture: name.clone(),
                    });
                }
            }
            Ok(parts)
        };
        let name = parse(format!("{field}.name"), &artifact.name)?;
        let copy = artifact
            .copy
            .iter()
            .enumerate()
            .map(|(i, op)| {
                Ok((
                    parse(format!("{field}.copy[{i}].from"), &op.from)?,
                    parse(format!("{field}.copy[{i}].to"), &op.to)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Templates { name, copy })
    }

    /// `artifact` with its name rendered from the lowercased captures and its copy
    /// paths from the raw ones.
    fn render(
        &self,
        artifact: &OutputArtifact,
        lowercased: &BTreeMap<String, String>,
        raw: &BTreeMap<String, String>,
    ) -> OutputArtifact {
        OutputArtifact {
            name: render(&self.name, lowercased),
            copy: artifact
                .copy
                .iter()
                .zip(&self.copy)
                .map(|(op, (from, to))| CopyOperation {
                    from: render(from, raw),
                    to: render(to, raw),
                    exclude: op.exclude.clone(),
                    strategy: op.strategy,
                })
                .collect(),
            ..artifact.clone()
        }
    }
}

fn render(parts: &[Part], values: &BTreeMap<String, String>) -> String {
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => text.as_str(),
            // Every capture was checked against the pattern's when parsed.
            Part::Capture(name) => values.get(name).map_or("", String::as_str),
        })
        .collect()
}

#[cfg(test)]
mod tests;
