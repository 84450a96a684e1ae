//! JSON with the Go struct's keys (`config.Options` JSON tags).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flux_artifact_config::{Algorithm, Options};

/// What Go's `json.Marshal` writes for `config.Options` holding the flag defaults.
const GO_DEFAULTS: &str = r#"{"storagePath":"/data","storageAddress":":9090","storageAdvAddress":"","artifactRetentionTTL":60000000000,"artifactRetentionRecords":2,"artifactDigestAlgo":"sha256"}"#;

#[test]
fn serializes_defaults_exactly_as_go_does() {
    assert_eq!(serde_json::to_string(&Options::default()).unwrap(), GO_DEFAULTS);
}

#[test]
fn deserializes_what_go_writes() {
    let json = r#"{"storagePath":"/var/lib/artifacts","storageAddress":"0.0.0.0:9090","storageAdvAddress":"source-watcher.flux-system.svc.cluster.local.","artifactRetentionTTL":300000000000,"artifactRetentionRecords":5,"artifactDigestAlgo":"blake3"}"#;
    let options: Options = serde_json::from_str(json).unwrap();
    assert_eq!(options.storage_path.to_str(), Some("/var/lib/artifacts"));
    assert_eq!(
        options.storage_adv_address,
        "source-watcher.flux-system.svc.cluster.local."
    );
    assert_eq!(options.artifact_retention_ttl, Duration::from_secs(300));
    assert_eq!(options.artifact_retention_records, 5);
    assert_eq!(options.artifact_digest_algo, Algorithm::Blake3);
    assert_eq!(serde_json::to_string(&options).unwrap(), json);
}

#[test]
fn missing_keys_take_the_defaults() {
    let options: Options = serde_json::from_str(r#"{"artifactRetentionRecords":9}"#).unwrap();
    assert_eq!(
        options,
        Options {
            artifact_retention_records: 9,
            ..Options::default()
        }
    );
}

#[test]
fn a_go_duration_string_is_accepted_for_the_ttl() {
    let options: Options = serde_json::from_str(r#"{"artifactRetentionTTL":"1h30m"}"#).unwrap();
    assert_eq!(options.artifact_retention_ttl, Duration::from_secs(5400));
}

#[test]
fn a_negative_ttl_is_refused() {
    let err = serde_json::from_str::<Options>(r#"{"artifactRetentionTTL":-1}"#).unwrap_err();
    assert!(err.to_string().contains("negative duration"), "{err}");
    let err = serde_json::from_str::<Options>(r#"{"artifactRetentionTTL":"-1m"}"#).unwrap_err();
    assert!(err.to_string().contains("invalid duration \"-1m\""), "{err}");
}

#[test]
fn an_unknown_algorithm_is_refused_naming_it() {
    let err = serde_json::from_str::<Options>(r#"{"artifactDigestAlgo":"md5"}"#).unwrap_err();
    assert!(
        err.to_string().contains("unsupported digest algorithm: md5"),
        "{err}"
    );
}
