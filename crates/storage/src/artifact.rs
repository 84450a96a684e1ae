//! [`Artifact`]: the wire type of Flux's `meta.Artifact`.

use std::{collections::BTreeMap, time::SystemTime};

use flux_artifact_digest::Digest;
use serde::{Deserialize, Serialize};

/// The output of a source reconciliation: a file in storage, where to download it, what
/// it contains and which revision it stands for.
///
/// A plain data struct with the exact JSON of Flux's `meta.Artifact` (the
/// `status.artifact` of every Flux source), like the types of `k8s-openapi`: keys
/// `digest` (omitted when empty), `path`, `url`, `revision`, `lastUpdateTime` (RFC 3339,
/// whole seconds, UTC), `size` (omitted when `None`) and `metadata` (omitted when empty).
/// Its string fields are strings because they are on the wire; [`parsed_digest`]
/// validates the digest.
///
/// [`Storage`](crate::Storage) fills in everything: [`new_artifact_for`] sets `path`,
/// `url` and `revision`; writing the file ([`archive`], [`copy`], …) sets `digest`,
/// `size` and `last_update_time`.
///
/// [`parsed_digest`]: Self::parsed_digest
/// [`new_artifact_for`]: crate::Storage::new_artifact_for
/// [`archive`]: crate::Storage::archive
/// [`copy`]: crate::Storage::copy
///
/// ```
/// use flux_artifact_storage::Artifact;
///
/// let json = r#"{"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","path":"gitrepository/default/app/source.tar.gz","url":"http://source-controller.flux-system.svc.cluster.local./gitrepository/default/app/source.tar.gz","revision":"main@sha1:4e3f8a9b","lastUpdateTime":"2026-11-24T10:15:42Z","size":4}"#;
/// let artifact: Artifact = serde_json::from_str(json)?;
/// assert!(artifact.has_revision("main@sha1:4e3f8a9b"));
/// assert_eq!(artifact.size, Some(4));
/// assert_eq!(serde_json::to_string(&artifact)?, json);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Artifact {
    /// Digest of the file, `<algorithm>:<lowercase hex>`; empty until the file is written.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Path of the file relative to the storage root, `<kind>/<namespace>/<name>/<file>`.
    pub path: String,
    /// HTTP address consumers download the file from.
    pub url: String,
    /// Human-readable identifier of the content in its origin: a Git commit, a chart
    /// version, or `latest@<digest>`.
    pub revision: String,
    /// When the file was last written; `null` on the wire when unknown.
    #[serde(with = "wire_time")]
    pub last_update_time: Option<SystemTime>,
    /// Size of the file in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Upstream information, such as OCI annotations
    /// (`org.opencontainers.image.revision`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Artifact {
    /// Whether the artifact's revision is exactly `revision` (Go: `HasRevision`).
    #[must_use]
    pub fn has_revision(&self, revision: &str) -> bool {
        self.revision == revision
    }

    /// Whether the artifact's digest is exactly `digest` (Go: `HasDigest`).
    #[must_use]
    pub fn has_digest(&self, digest: &str) -> bool {
        self.digest == digest
    }

    /// The digest as a validated [`Digest`].
    ///
    /// # Errors
    ///
    /// The [`flux_artifact_digest::Error`] of parsing [`digest`](Self::digest); an empty
    /// digest is [`InvalidFormat`](flux_artifact_digest::Error::InvalidFormat).
    pub fn parsed_digest(&self) -> Result<Digest, flux_artifact_digest::Error> {
        self.digest.parse()
    }
}

/// `metav1.Time` on the wire: RFC 3339 at whole seconds in UTC, or `null`.
mod wire_time {
    use std::time::SystemTime;

    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};

    pub(super) fn serialize<S: Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        let Some(time) = time else {
            return s.serialize_none();
        };
        let timestamp = Timestamp::try_from(*time).map_err(S::Error::custom)?;
        let whole_seconds = Timestamp::from_second(timestamp.as_second()).map_err(S::Error::custom)?;
        s.collect_str(&whole_seconds)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(d)? else {
            return Ok(None);
        };
        let timestamp: Timestamp = text
            .parse()
            .map_err(|e| D::Error::custom(format!("invalid lastUpdateTime {text:?}: {e}")))?;
        Ok(Some(SystemTime::from(timestamp)))
    }
}

/// The schema of Flux's `meta.Artifact`, as in its CRDs (`controller-gen` output): the
/// five fields Flux marks required, the digest pattern, `date-time` and `int64` formats.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Artifact {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Artifact".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Artifact represents the output of a Source reconciliation.",
            "type": "object",
            "properties": {
                "digest": {
                    "description": "Digest is the digest of the file in the form of '<algorithm>:<checksum>'.",
                    "type": "string",
                    "pattern": "^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
                },
                "lastUpdateTime": {
                    "description": "LastUpdateTime is the timestamp corresponding to the last update of the Artifact.",
                    "type": "string",
                    "format": "date-time"
                },
                "metadata": {
                    "description": "Metadata holds upstream information such as OCI annotations.",
                    "type": "object",
                    "additionalProperties": { "type": "string" }
                },
                "path": {
                    "description": "Path is the relative file path of the Artifact.",
                    "type": "string"
                },
                "revision": {
                    "description": "Revision is a human-readable identifier traceable in the origin source system.",
                    "type": "string"
                },
                "size": {
                    "description": "Size is the number of bytes in the file.",
                    "type": "integer",
                    "format": "int64"
                },
                "url": {
                    "description": "URL is the HTTP address of the Artifact as exposed by the controller managing the Source.",
                    "type": "string"
                }
            },
            "required": ["digest", "lastUpdateTime", "path", "revision", "url"]
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn an_unwritten_artifact_omits_digest_size_and_metadata() {
        let artifact = Artifact {
            path: "externalartifact/default/app/app.tar.gz".into(),
            url: "http://localhost:9090/externalartifact/default/app/app.tar.gz".into(),
            revision: "latest".into(),
            ..Artifact::default()
        };
        assert_eq!(
            serde_json::to_string(&artifact).unwrap(),
            r#"{"path":"externalartifact/default/app/app.tar.gz","url":"http://localhost:9090/externalartifact/default/app/app.tar.gz","revision":"latest","lastUpdateTime":null}"#
        );
    }

    #[test]
    fn last_update_time_is_written_at_whole_seconds_in_utc() {
        let artifact = Artifact {
            last_update_time: Some(UNIX_EPOCH + Duration::new(1_795_000_000, 987_654_321)),
            ..Artifact::default()
        };
        let json = serde_json::to_string(&artifact).unwrap();
        assert!(
            json.contains(r#""lastUpdateTime":"2026-11-18T11:06:40Z""#),
            "{json}"
        );
    }

    #[test]
    fn last_update_time_accepts_offsets_and_fractions() {
        let json = r#"{"lastUpdateTime":"2026-11-24T12:15:42.5+02:00"}"#;
        let artifact: Artifact = serde_json::from_str(json).unwrap();
        let expected = "2026-11-24T10:15:42.5Z".parse::<jiff::Timestamp>().unwrap();
        assert_eq!(artifact.last_update_time, Some(SystemTime::from(expected)));
    }

    #[test]
    fn a_bad_last_update_time_is_an_error_naming_it() {
        let err = serde_json::from_str::<Artifact>(r#"{"lastUpdateTime":"yesterday"}"#).unwrap_err();
        assert!(
            err.to_string().contains("invalid lastUpdateTime \"yesterday\""),
            "{err}"
        );
    }

    #[test]
    fn parsed_digest_validates() {
        let mut artifact = Artifact {
            digest: "sha256:abc".into(),
            ..Artifact::default()
        };
        assert!(artifact.parsed_digest().is_err());
        artifact.digest = flux_artifact_digest::Algorithm::Sha256
            .digest_bytes(b"x")
            .to_string();
        assert!(artifact.parsed_digest().is_ok());
    }
}
