//! What a generator observed of its sources, and the digest of it the controller keeps
//! in `status.observedSourcesDigest` to tell whether anything changed.

use std::collections::BTreeMap;

use flux_artifact::digest::Algorithm;

/// The state of one source's artifact when a generator was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedSource {
    /// The digest of the source's artifact.
    pub digest: String,
    /// The revision of the source's artifact (`main@sha1:…`, `latest@sha256:…`).
    pub revision: String,
    /// The revision the source's content came from, from its artifact's
    /// `org.opencontainers.image.revision` metadata; empty when it has none.
    pub origin_revision: String,
    /// The URL the source's artifact is downloaded from.
    pub url: String,
}

/// The digest of a generator's observed sources (alias → source), as source-watcher's
/// `HashObservedSources` computes it, so that a controller taking over from
/// source-watcher sees no change: `sha256:<hex>` of the sorted strings
/// `<alias>=[digest=<digest>,revision=<revision>,url=<url>]` joined with `|`.
///
/// The URL is part of it (a source moving to another host rebuilds); the origin
/// revision is not.
///
/// ```
/// use std::collections::BTreeMap;
/// use artifact_generator::{ObservedSource, hash_observed_sources};
///
/// let sources = BTreeMap::from([(
///     "repo".to_owned(),
///     ObservedSource { digest: "sha256:abc".into(), revision: "main@sha1:123".into(), url: "http://x/repo.tar.gz".into(), ..Default::default() },
/// )]);
/// assert!(hash_observed_sources(&sources).starts_with("sha256:"));
/// ```
#[must_use]
pub fn hash_observed_sources(sources: &BTreeMap<String, ObservedSource>) -> String {
    let mut parts: Vec<String> = sources
        .iter()
        .map(|(alias, source)| {
            format!(
                "{alias}=[digest={},revision={},url={}]",
                source.digest, source.revision, source.url
            )
        })
        .collect();
    // Sorting the formatted strings, not the aliases, is what Go does; the two orders
    // differ when one alias is a prefix of another ("a" vs "a-b": '=' sorts after '-').
    parts.sort();
    Algorithm::Sha256
        .digest_bytes(parts.join("|").as_bytes())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(digest: &str, revision: &str, url: &str) -> ObservedSource {
        ObservedSource {
            digest: digest.into(),
            revision: revision.into(),
            origin_revision: String::new(),
            url: url.into(),
        }
    }

    /// source-watcher's own test vector (`TestHashObservedSources`).
    #[test]
    fn the_digest_equals_source_watchers() {
        let sources = BTreeMap::from([
            (
                "source1".to_owned(),
                source(
                    "sha256:1b1452058f747245f79b4d45d589ad5693c516987e678d13231ddfdf26979208",
                    "main@sha1:28deef923f4da39062d2902cb640011a36d52e19",
                    "https://example.com/repo1.git",
                ),
            ),
            (
                "source2".to_owned(),
                source(
                    "sha256:966a0b26898be9448d927312d81f9221edac224e383f131a6451f22b918bd66d",
                    "main@sha1:4b94f17f5ceb13341bdfe15d4d9249bb0a3a011e",
                    "https://example.com/repo2.git",
                ),
            ),
        ]);
        assert_eq!(
            hash_observed_sources(&sources),
            "sha256:0dd16ff06ef2efe7bbc5b6a356eb9f3b59467d76617969eb7bb34e094abbd58e"
        );
    }

    #[test]
    fn the_origin_revision_does_not_change_the_digest() {
        let plain = BTreeMap::from([("repo".to_owned(), source("sha256:a", "v1", "http://h/a"))]);
        let mut with_origin = plain.clone();
        if let Some(s) = with_origin.get_mut("repo") {
            s.origin_revision = "main@sha1:abc".into();
        }
        assert_eq!(hash_observed_sources(&plain), hash_observed_sources(&with_origin));
    }

    #[test]
    fn a_new_url_changes_the_digest() {
        let before = BTreeMap::from([("repo".to_owned(), source("sha256:a", "v1", "http://h1/a"))]);
        let after = BTreeMap::from([("repo".to_owned(), source("sha256:a", "v1", "http://h2/a"))]);
        assert_ne!(hash_observed_sources(&before), hash_observed_sources(&after));
    }

    /// Sorting the joined strings, not the aliases: `a-b=[…]` sorts before `a=[…]`.
    #[test]
    fn parts_are_sorted_as_formatted_strings() {
        let sources = BTreeMap::from([
            ("a".to_owned(), source("d1", "r1", "u1")),
            ("a-b".to_owned(), source("d2", "r2", "u2")),
        ]);
        let expected = Algorithm::Sha256
            .digest_bytes(b"a-b=[digest=d2,revision=r2,url=u2]|a=[digest=d1,revision=r1,url=u1]")
            .to_string();
        assert_eq!(hash_observed_sources(&sources), expected);
    }
}
