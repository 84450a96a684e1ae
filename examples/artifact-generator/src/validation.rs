//! Validation of a generator when it is read: what the API server enforces from the CRD
//! (so the local mode refuses what a cluster would), then source-watcher's own checks.

use std::{collections::BTreeMap, fmt};

use kube::ResourceExt;

use crate::{
    Error,
    api::{
        ARTIFACT_NAMES_RULE_MESSAGE, ArtifactGenerator, ArtifactGeneratorSpec, CopyOperation, OutputArtifact,
        SOURCE_KINDS, SourceReference,
    },
    names,
};

/// Something about a generator that works but is probably a mistake, reported beside a
/// successful validation (the CLI prints each on stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field path, as in `spec.artifacts[0].originRevision`.
    pub field: String,
    /// What is wrong, and what happens because of it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Checks a generator as the API server and source-watcher do, returning warnings for
/// what is accepted but ignored.
///
/// First what the CRD enforces, field by field: the patterns, lengths and item counts of
/// every field, the source kinds, and the CEL rule (without `pathPattern`, artifact
/// names are DNS subdomains). The forms of `pathPattern`, `from` and `to` are left to
/// [`expand_artifacts`](crate::expand_artifacts) and the builder, whose
/// `pathpattern-invalid-format`, `invalid-from` and `invalid-to` say more than
/// `invalid-spec`. Then source-watcher's checks: no alias twice, no artifact
/// name twice, and every `revision: @alias` names a source. An `originRevision` naming no source is
/// ignored by source-watcher; here it is a [`Warning`]. The cross-namespace policy is
/// the controller's: see [`cross_namespace_source`].
///
/// ```
/// use artifact_generator::{ArtifactGenerator, ErrorKind, validate};
///
/// let generator: ArtifactGenerator = serde_yaml_ng::from_str(r#"
/// apiVersion: source.extensions.fluxcd.io/v1beta1
/// kind: ArtifactGenerator
/// metadata: { name: app }
/// spec:
///   sources: [{ alias: repo, kind: GitRepository, name: app }]
///   artifacts:
///     - name: app
///       copy: [{ from: "@repo/deploy/", to: "@artifact/" }]
///     - name: app
///       copy: [{ from: "@repo/other/", to: "@artifact/" }]
/// "#)?;
/// let error = validate(&generator).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::InvalidSpec);
/// assert_eq!(error.to_string(), r#"invalid spec.artifacts[1].name "app": duplicate artifact name (spec.artifacts[0] has it too)"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidSpec`] for the first field at fault, naming its path and value.
pub fn validate(generator: &ArtifactGenerator) -> Result<Vec<Warning>, Error> {
    if generator.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(Error::invalid_spec("metadata.name", "", "must not be empty"));
    }
    let spec = &generator.spec;
    check_schema(spec)?;
    check_semantics(spec)
}

/// The first source (index and reference) that names a namespace other than the
/// generator's, which a controller running with `--no-cross-namespace-refs` refuses
/// with reason [`AccessDenied`](crate::api::reason::ACCESS_DENIED), or `None`.
///
/// ```
/// use artifact_generator::{ArtifactGenerator, cross_namespace_source};
///
/// let mut generator: ArtifactGenerator = serde_json::from_value(serde_json::json!({
///     "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
///     "metadata": { "name": "app", "namespace": "team-a" },
///     "spec": { "sources": [{ "alias": "repo", "kind": "GitRepository", "name": "app" }], "artifacts": [] }
/// }))?;
/// assert!(cross_namespace_source(&generator).is_none());
/// generator.spec.sources[0].namespace = "team-b".into();
/// assert_eq!(cross_namespace_source(&generator).map(|(i, _)| i), Some(0));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[must_use]
pub fn cross_namespace_source(generator: &ArtifactGenerator) -> Option<(usize, &SourceReference)> {
    let own = generator.namespace().unwrap_or_default();
    generator
        .spec
        .sources
        .iter()
        .enumerate()
        .find(|(_, source)| !source.namespace.is_empty() && source.namespace != own)
}

fn check_items<T>(field: &str, items: &[T], min: usize, max: Option<usize>) -> Result<(), Error> {
    let count = items.len();
    let reason = if count < min {
        format!("must have at least {min} item(s)")
    } else if max.is_some_and(|max| count > max) {
        format!("must have at most {} items", max.unwrap_or_default())
    } else {
        return Ok(());
    };
    Err(Error::invalid_spec(field, format!("{count} item(s)"), reason))
}

fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), Error> {
    // The API server counts characters, not bytes.
    let length = value.chars().count();
    if length < min {
        Err(Error::invalid_spec(
            field,
            value,
            format!("must be at least {min} character(s)"),
        ))
    } else if length > max {
        Err(Error::invalid_spec(
            field,
            value,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(())
    }
}

fn check_pattern(field: &str, value: &str, valid: bool, expected: &str) -> Result<(), Error> {
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_spec(field, value, format!("expected {expected}")))
    }
}

/// What the CRD's OpenAPI schema and CEL rule enforce.
fn check_schema(spec: &ArtifactGeneratorSpec) -> Result<(), Error> {
    check_items("spec.sources", &spec.sources, 1, Some(1000))?;
    for (i, source) in spec.sources.iter().enumerate() {
        check_source(&format!("spec.sources[{i}]"), source)?;
    }
    // Its `@alias/path` form is left to `expand_artifacts`, whose
    // `pathpattern-invalid-format` says more than `invalid-spec`.
    check_length("spec.pathPattern", &spec.path_pattern, 0, 1024)?;
    check_items("spec.artifacts", &spec.output_artifacts, 1, Some(1000))?;
    for (i, artifact) in spec.output_artifacts.iter().enumerate() {
        check_artifact(&format!("spec.artifacts[{i}]"), artifact)?;
    }
    if spec.path_pattern.is_empty() {
        for (i, artifact) in spec.output_artifacts.iter().enumerate() {
            if names::dns_subdomain_problem(&artifact.name).is_some() {
                return Err(Error::invalid_spec(
                    format!("spec.artifacts[{i}].name"),
                    &artifact.name,
                    ARTIFACT_NAMES_RULE_MESSAGE,
                ));
            }
        }
    }
    Ok(())
}

fn check_source(field: &str, source: &SourceReference) -> Result<(), Error> {
    let alias = format!("{field}.alias");
    check_length(&alias, &source.alias, 1, 63)?;
    check_pattern(
        &alias,
        &source.alias,
        names::is_alias(&source.alias),
        "lowercase letters, digits, '_' and '-', starting and ending with a letter or digit",
    )?;
    let name = format!("{field}.name");
    check_length(&name, &source.name, 1, 253)?;
    check_pattern(
        &name,
        &source.name,
        names::is_dns_label_syntax(&source.name),
        "lowercase letters, digits and '-', starting and ending with a letter or digit",
    )?;
    if !source.namespace.is_empty() {
        let namespace = format!("{field}.namespace");
        check_length(&namespace, &source.namespace, 1, 63)?;
        check_pattern(
            &namespace,
            &source.namespace,
            names::is_dns_label_syntax(&source.namespace),
            "a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        )?;
    }
    check_pattern(
        &format!("{field}.kind"),
        &source.kind,
        SOURCE_KINDS.contains(&source.kind.as_str()),
        "one of Bucket, GitRepository, OCIRepository, HelmChart, ExternalArtifact",
    )
}

fn check_artifact(field: &str, artifact: &OutputArtifact) -> Result<(), Error> {
    check_length(&format!("{field}.name"), &artifact.name, 1, 253)?;
    for (key, value) in [
        ("revision", &artifact.revision),
        ("originRevision", &artifact.origin_revision),
    ] {
        if !value.is_empty() {
            let field = format!("{field}.{key}");
            check_length(&field, value, 0, 64)?;
            check_pattern(&field, value, names::alias_reference(value).is_some(), "@alias")?;
        }
    }
    let copy = format!("{field}.copy");
    check_items(&copy, &artifact.copy, 1, None)?;
    for (i, operation) in artifact.copy.iter().enumerate() {
        check_copy(&format!("{copy}[{i}]"), operation)?;
    }
    Ok(())
}

fn check_copy(field: &str, operation: &CopyOperation) -> Result<(), Error> {
    // The `@alias/path` and `@artifact/path` forms are left to the builder, whose
    // `invalid-from`, `invalid-to` and `unknown-alias` say more than `invalid-spec`.
    check_length(&format!("{field}.from"), &operation.from, 1, 1024)?;
    check_length(&format!("{field}.to"), &operation.to, 1, 1024)?;
    check_items(&format!("{field}.exclude"), &operation.exclude, 0, Some(100))
}

/// source-watcher's `validateSpec`, in its order (the cross-namespace policy aside).
fn check_semantics(spec: &ArtifactGeneratorSpec) -> Result<Vec<Warning>, Error> {
    let mut aliases = BTreeMap::new();
    for (i, source) in spec.sources.iter().enumerate() {
        if let Some(first) = aliases.insert(source.alias.as_str(), i) {
            return Err(Error::invalid_spec(
                format!("spec.sources[{i}].alias"),
                &source.alias,
                format!("duplicate source alias (spec.sources[{first}] has it too)"),
            ));
        }
    }
    let mut names = BTreeMap::new();
    let mut warnings = Vec::new();
    for (i, artifact) in spec.output_artifacts.iter().enumerate() {
        let field = format!("spec.artifacts[{i}]");
        if let Some(first) = names.insert(artifact.name.as_str(), i) {
            return Err(Error::invalid_spec(
                format!("{field}.name"),
                &artifact.name,
                format!("duplicate artifact name (spec.artifacts[{first}] has it too)"),
            ));
        }
        if let Some(alias) = artifact.revision.strip_prefix('@')
            && !aliases.contains_key(alias)
        {
            return Err(Error::invalid_spec(
                format!("{field}.revision"),
                &artifact.revision,
                format!("source alias {alias:?} not found in spec.sources"),
            ));
        }
        if let Some(alias) = artifact.origin_revision.strip_prefix('@')
            && !aliases.contains_key(alias)
        {
            warnings.push(Warning {
                field: format!("{field}.originRevision"),
                message: format!(
                    "source alias {alias:?} not found in spec.sources; the artifact gets no origin revision (source-watcher ignores it too)"
                ),
            });
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn generator(yaml: &str) -> ArtifactGenerator {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    /// A valid generator with one source (`git`) and one artifact, in the shape of
    /// source-watcher's validation tests.
    fn valid() -> ArtifactGenerator {
        generator(
            r#"
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: { name: test, namespace: test }
spec:
  sources:
    - { alias: git, kind: GitRepository, name: repo }
  artifacts:
    - name: artifact
      copy:
        - { from: "@git/file.yaml", to: "@artifact/file.yaml" }
"#,
        )
    }

    fn invalid(generator: &ArtifactGenerator) -> (String, String, String) {
        match validate(generator) {
            Err(Error::InvalidSpec { field, value, reason }) => (field, value, reason),
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_generator_passes_without_warnings() {
        assert_eq!(validate(&valid()).unwrap(), Vec::new());
    }

    #[test]
    fn a_duplicate_source_alias_is_refused() {
        let mut g = valid();
        g.spec.sources.push(SourceReference {
            alias: "git".into(),
            kind: "GitRepository".into(),
            name: "different-repo".into(),
            namespace: "test".into(),
        });
        let (field, value, reason) = invalid(&g);
        assert_eq!((field.as_str(), value.as_str()), ("spec.sources[1].alias", "git"));
        assert!(reason.contains("duplicate source alias"), "{reason}");
    }

    #[test]
    fn a_duplicate_artifact_name_is_refused() {
        let mut g = valid();
        let mut second = g.spec.output_artifacts[0].clone();
        second.copy[0].from = "@git/file2.yaml".into();
        g.spec.output_artifacts.push(second);
        let (field, value, reason) = invalid(&g);
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("spec.artifacts[1].name", "artifact")
        );
        assert!(reason.contains("duplicate artifact name"), "{reason}");
    }

    #[test]
    fn an_unknown_revision_alias_is_refused() {
        let mut g = valid();
        g.spec.output_artifacts[0].revision = "@unknown".into();
        let (field, value, reason) = invalid(&g);
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("spec.artifacts[0].revision", "@unknown")
        );
        assert!(reason.contains("\"unknown\" not found"), "{reason}");
    }

    #[test]
    fn an_unknown_origin_revision_alias_is_a_warning() {
        let mut g = valid();
        g.spec.output_artifacts[0].origin_revision = "@unknown".into();
        let warnings = validate(&g).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "spec.artifacts[0].originRevision");
        assert!(warnings[0].message.contains("\"unknown\""));
    }

    #[test]
    fn a_name_that_is_not_an_object_name_is_refused_without_path_pattern() {
        let mut g = valid();
        g.spec.output_artifacts[0].name = "Invalid Name".into();
        let (field, value, reason) = invalid(&g);
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("spec.artifacts[0].name", "Invalid Name")
        );
        assert_eq!(reason, ARTIFACT_NAMES_RULE_MESSAGE);
    }

    #[test]
    fn a_templated_name_is_accepted_with_path_pattern() {
        let mut g = valid();
        g.spec.path_pattern = "@git/apps/{app}".into();
        g.spec.output_artifacts[0].name = "{app}".into();
        g.spec.output_artifacts[0].copy[0].from = "@git/apps/{app}/**".into();
        assert_eq!(validate(&g).unwrap(), Vec::new());
    }

    #[test]
    fn aliases_follow_the_crd_pattern() {
        for (alias, ok) in [
            ("git_repo-v2", true),
            ("Invalid-Alias", false),
            ("-invalid", false),
            ("invalid-", false),
            ("invalid/alias", false),
        ] {
            let mut g = valid();
            g.spec.sources[0].alias = alias.into();
            g.spec.output_artifacts[0].copy[0].from = "@git_repo-v2/test.yaml".into();
            match validate(&g) {
                Ok(_) => assert!(ok, "{alias} was accepted"),
                Err(e) => {
                    assert!(!ok, "{alias}: {e}");
                    assert!(e.to_string().starts_with("invalid spec.sources[0].alias"), "{e}");
                }
            }
        }
    }

    #[test]
    fn the_forms_of_from_and_to_are_left_to_the_builder() {
        let mut g = valid();
        g.spec.output_artifacts[0].copy[0].from = "source/file.yaml".into();
        g.spec.output_artifacts[0].copy[0].to = "@artefact/file.yaml".into();
        assert_eq!(validate(&g).unwrap(), Vec::new());
        g.spec.output_artifacts[0].copy[0].from = String::new();
        assert_eq!(invalid(&g).0, "spec.artifacts[0].copy[0].from");
    }

    #[test]
    fn an_unknown_source_kind_is_refused() {
        let mut g = valid();
        g.spec.sources[0].kind = "ConfigMap".into();
        let (field, value, _) = invalid(&g);
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("spec.sources[0].kind", "ConfigMap")
        );
    }

    #[test]
    fn a_generator_needs_sources_and_artifacts() {
        let mut g = valid();
        g.spec.sources.clear();
        assert_eq!(invalid(&g).0, "spec.sources");
        let mut g = valid();
        g.spec.output_artifacts.clear();
        assert_eq!(invalid(&g).0, "spec.artifacts");
        let mut g = valid();
        g.spec.output_artifacts[0].copy.clear();
        assert_eq!(invalid(&g).0, "spec.artifacts[0].copy");
    }

    #[test]
    fn more_than_a_hundred_excludes_are_refused() {
        let mut g = valid();
        g.spec.output_artifacts[0].copy[0].exclude = vec!["*.md".into(); 101];
        assert_eq!(invalid(&g).0, "spec.artifacts[0].copy[0].exclude");
    }

    #[test]
    fn a_revision_must_be_an_alias_reference() {
        let mut g = valid();
        g.spec.output_artifacts[0].revision = "git".into();
        let (field, value, reason) = invalid(&g);
        assert_eq!(
            (field.as_str(), value.as_str()),
            ("spec.artifacts[0].revision", "git")
        );
        assert_eq!(reason, "expected @alias");
    }

    #[test]
    fn a_source_namespace_must_be_a_dns_label() {
        let mut g = valid();
        g.spec.sources[0].namespace = "Team_A".into();
        assert_eq!(invalid(&g).0, "spec.sources[0].namespace");
    }

    #[test]
    fn the_form_of_path_pattern_is_left_to_its_expansion() {
        let mut g = valid();
        g.spec.path_pattern = "apps/{app}".into();
        assert_eq!(validate(&g).unwrap(), Vec::new());
        g.spec.path_pattern = format!("@git/{}", "a".repeat(1020));
        assert_eq!(invalid(&g).0, "spec.pathPattern");
    }

    #[test]
    fn a_generator_needs_a_name() {
        let mut g = valid();
        g.metadata.name = None;
        assert_eq!(invalid(&g).0, "metadata.name");
        assert_eq!(validate(&g).unwrap_err().kind(), ErrorKind::InvalidSpec);
    }

    #[test]
    fn an_alias_longer_than_63_characters_is_refused() {
        let mut g = valid();
        g.spec.sources[0].alias = "a".repeat(64);
        let (field, _, reason) = invalid(&g);
        assert_eq!(field, "spec.sources[0].alias");
        assert_eq!(reason, "must be at most 63 characters");
    }

    #[test]
    fn cross_namespace_sources_are_found() {
        let mut g = valid();
        assert!(cross_namespace_source(&g).is_none());
        g.spec.sources.push(SourceReference {
            alias: "other-repo".into(),
            kind: "GitRepository".into(),
            name: "different-repo".into(),
            namespace: "other-namespace".into(),
        });
        let (index, source) = cross_namespace_source(&g).unwrap();
        assert_eq!((index, source.namespace.as_str()), (1, "other-namespace"));
    }
}
