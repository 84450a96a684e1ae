//! Reading `ArtifactGenerator` documents from a file or stdin.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use artifact_generator::{
    ArtifactGenerator, Error,
    api::{API_VERSION, KIND},
};
use serde::Deserialize;

/// Reads the generators in `file` (`-`: stdin), in document order. Empty documents are
/// skipped.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read; [`Error::InvalidManifest`] for a document that
/// is not valid YAML or not an `ArtifactGenerator` (with the YAML error, which names
/// the line and field, as the cause); [`Error::InvalidSpec`] if it holds no generator.
pub(crate) fn read(file: &Path) -> Result<Vec<ArtifactGenerator>, Error> {
    let (origin, text) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                op: "read",
                path: PathBuf::from("<stdin>"),
                source,
            })?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
            op: "read",
            path: file.to_owned(),
            source,
        })?;
        (file.display().to_string(), text)
    };
    parse(&origin, &text)
}

/// The generators in `text`, a YAML stream read from `origin`.
pub(crate) fn parse(origin: &str, text: &str) -> Result<Vec<ArtifactGenerator>, Error> {
    let mut generators = Vec::new();
    // Each document is read twice: as a value to check its kind (and skip it if
    // empty), then as a generator straight from the text, so that an error names the
    // field and line (going through the value would lose both).
    let documents =
        serde_yaml_ng::Deserializer::from_str(text).zip(serde_yaml_ng::Deserializer::from_str(text));
    for (i, (document, typed)) in documents.enumerate() {
        let invalid = |source: Box<dyn std::error::Error + Send + Sync>| Error::InvalidManifest {
            origin: origin.to_owned(),
            document: i + 1,
            source,
        };
        let value = serde_yaml_ng::Value::deserialize(document).map_err(|e| invalid(e.into()))?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(serde_yaml_ng::Value::as_str);
        let api_version = value.get("apiVersion").and_then(serde_yaml_ng::Value::as_str);
        if kind != Some(KIND) || api_version != Some(API_VERSION) {
            return Err(invalid(
                format!(
                    "expected apiVersion {API_VERSION} and kind {KIND}, found apiVersion {} and kind {}",
                    api_version.unwrap_or("(none)"),
                    kind.unwrap_or("(none)")
                )
                .into(),
            ));
        }
        let generator = ArtifactGenerator::deserialize(typed).map_err(|e| invalid(e.into()))?;
        generators.push(generator);
    }
    if generators.is_empty() {
        return Err(Error::InvalidSpec {
            field: "-f".into(),
            value: origin.to_owned(),
            reason: "holds no ArtifactGenerator".into(),
        });
    }
    Ok(generators)
}

#[cfg(test)]
mod tests {
    use artifact_generator::ErrorKind;

    use super::*;

    const GENERATOR: &str = r#"
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: { name: one }
spec:
  sources: [{ alias: repo, kind: GitRepository, name: repo }]
  artifacts: [{ name: one, copy: [{ from: "@repo/", to: "@artifact/" }] }]
"#;

    #[test]
    fn every_document_is_read_in_order() {
        let text = format!("{GENERATOR}---\n{}", GENERATOR.replace("one", "two"));
        let generators = parse("f.yaml", &text).unwrap();
        let names: Vec<_> = generators
            .iter()
            .map(|g| g.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["one", "two"]);
    }

    #[test]
    fn empty_documents_are_skipped() {
        let text = format!("---\n---\n{GENERATOR}---\n");
        assert_eq!(parse("f.yaml", &text).unwrap().len(), 1);
    }

    #[test]
    fn another_kind_is_refused_with_its_document_number() {
        let text = format!("{GENERATOR}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{ name: x }}\n");
        let error = parse("f.yaml", &text).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidSpec);
        assert_eq!(
            error.to_string(),
            "cannot read an ArtifactGenerator from f.yaml (document 2)"
        );
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(
            cause.contains("found apiVersion v1 and kind ConfigMap"),
            "{cause}"
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused_with_the_yaml_error() {
        let text = GENERATOR.replace("copy: [{ from: \"@repo/\", to: \"@artifact/\" }]", "copy: nope");
        let error = parse("f.yaml", &text).unwrap_err();
        assert!(
            matches!(error, Error::InvalidManifest { document: 1, .. }),
            "{error:?}"
        );
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("spec.artifacts[0].copy"), "{cause}");
        assert!(cause.contains("line 7"), "{cause}");
    }

    #[test]
    fn an_unknown_strategy_is_refused() {
        let text = GENERATOR.replace("to: \"@artifact/\" }", "to: \"@artifact/\", strategy: Append }");
        let error = parse("f.yaml", &text).unwrap_err();
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("Append"), "{cause}");
    }

    #[test]
    fn a_file_without_generators_is_refused() {
        let error = parse("f.yaml", "---\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"invalid -f "f.yaml": holds no ArtifactGenerator"#
        );
    }

    #[test]
    fn invalid_yaml_is_refused() {
        let error = parse("f.yaml", "kind: [").unwrap_err();
        assert!(matches!(error, Error::InvalidManifest { .. }), "{error:?}");
    }
}
