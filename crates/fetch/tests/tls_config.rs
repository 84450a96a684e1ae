//! `TlsConfig::builder().build()`: what it refuses, and that each refusal names the file
//! (or the name given to `Pem::from_bytes`) and the reason.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{error::Error as _, fs};

use flux_artifact_fetch::{Pem, TlsConfig, TlsError, TrustRoots};
use rcgen::{CertifiedKey, generate_simple_self_signed};

fn self_signed() -> CertifiedKey<rcgen::KeyPair> {
    generate_simple_self_signed(vec!["artifacts.example".to_owned()]).unwrap()
}

fn with_ca(pem: Pem) -> Result<TlsConfig, TlsError> {
    TlsConfig::builder()
        .trust_roots(TrustRoots::CaBundlesOnly)
        .add_ca_bundle(pem)
        .build()
}

fn with_identity(cert: &str, key: &str) -> Result<TlsConfig, TlsError> {
    TlsConfig::builder()
        .trust_roots(TrustRoots::WebPki)
        .client_identity(
            Pem::from_bytes("tls.crt", cert.as_bytes()),
            Pem::from_bytes("tls.key", key.as_bytes()),
        )
        .build()
}

/// A certificate block whose content is not a certificate (valid base64 of zeros).
const NOT_A_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n";

#[test]
fn a_missing_ca_bundle_file_is_a_read_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.crt");
    let error = with_ca(Pem::file(&path)).unwrap_err();
    assert!(matches!(&error, TlsError::Read { what: "CA bundle", path: p, .. } if *p == path));
    assert_eq!(
        error.to_string(),
        format!("cannot read the CA bundle {}", path.display())
    );
    assert!(error.source().is_some());
}

#[test]
fn an_empty_ca_bundle_holds_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.crt");
    fs::write(&path, "").unwrap();
    let error = with_ca(Pem::file(&path)).unwrap_err();
    assert!(matches!(&error, TlsError::NoCertificate { found, .. } if found.is_empty()));
    assert_eq!(
        error.to_string(),
        format!(
            "the CA bundle {} holds no PEM certificate (it holds no PEM block at all)",
            path.display()
        )
    );
}

#[test]
fn a_key_given_as_the_ca_bundle_is_refused_saying_what_it_holds() {
    let key = self_signed().signing_key.serialize_pem();
    let error = with_ca(Pem::from_bytes("secret ns/certs, key ca.crt", key)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the CA bundle secret ns/certs, key ca.crt holds no PEM certificate (it holds only: PRIVATE KEY)"
    );
}

#[test]
fn a_certificate_block_that_holds_no_certificate_is_refused_with_its_position() {
    let good = self_signed().cert.pem();
    let error = with_ca(Pem::from_bytes("ca.crt", format!("{good}{NOT_A_CERTIFICATE}"))).unwrap_err();
    assert!(
        matches!(error, TlsError::InvalidCertificate { index: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "certificate 2 of the CA bundle ca.crt is not a valid X.509 certificate"
    );
    assert!(error.source().is_some());
}

#[test]
fn malformed_pem_is_refused() {
    let error = with_ca(Pem::from_bytes("ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n")).unwrap_err();
    assert!(
        matches!(
            error,
            TlsError::Pem {
                what: "CA bundle",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "the CA bundle ca.crt is not valid PEM");
}

#[test]
fn ca_bundles_only_without_a_bundle_trusts_nothing_and_is_refused() {
    let error = TlsConfig::builder()
        .trust_roots(TrustRoots::CaBundlesOnly)
        .build()
        .unwrap_err();
    assert!(matches!(error, TlsError::NoTrustAnchors));
}

#[test]
fn a_configuration_says_what_it_holds() {
    let ca = self_signed().cert.pem();
    let client = self_signed();
    let config = TlsConfig::builder()
        .trust_roots(TrustRoots::WebPki)
        .add_ca_bundle(Pem::from_bytes("a", ca.clone()))
        .add_ca_bundle(Pem::from_bytes("b", format!("{ca}{ca}")))
        .client_identity(
            Pem::from_bytes("tls.crt", client.cert.pem()),
            Pem::from_bytes("tls.key", client.signing_key.serialize_pem()),
        )
        .build()
        .unwrap();
    assert_eq!(config.trust_roots(), TrustRoots::WebPki);
    assert_eq!(config.ca_certificates(), 3);
    assert!(config.has_client_identity());
}

#[test]
fn a_client_key_that_is_not_the_certificates_is_refused_naming_both() {
    let (cert, other) = (self_signed(), self_signed());
    let error = with_identity(&cert.cert.pem(), &other.signing_key.serialize_pem()).unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the client key tls.key does not belong to the client certificate tls.crt"
    );
}

#[test]
fn a_certificate_given_as_the_client_key_is_refused_saying_what_it_holds() {
    let cert = self_signed().cert.pem();
    let error = with_identity(&cert, &cert).unwrap_err();
    assert!(matches!(&error, TlsError::NoPrivateKey { found, .. } if found == &["CERTIFICATE"]));
    assert_eq!(
        error.to_string(),
        "the client key tls.key holds no PEM private key (it holds only: CERTIFICATE)"
    );
}

#[test]
fn a_key_given_as_the_client_certificate_is_refused() {
    let key = self_signed().signing_key.serialize_pem();
    let error = with_identity(&key, &key).unwrap_err();
    assert!(
        matches!(
            error,
            TlsError::NoCertificate {
                what: "client certificate",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_client_certificate_that_is_not_a_certificate_is_refused() {
    let key = self_signed().signing_key.serialize_pem();
    let error = with_identity(NOT_A_CERTIFICATE, &key).unwrap_err();
    assert!(
        matches!(
            error,
            TlsError::InvalidCertificate {
                what: "client certificate",
                index: 1,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn an_encrypted_client_key_is_refused_with_the_reason() {
    let cert = self_signed().cert.pem();
    let pkcs8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAAAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    for key in [pkcs8, legacy] {
        let error = with_identity(&cert, key).unwrap_err();
        assert!(matches!(error, TlsError::EncryptedKey { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the client key tls.key is encrypted; give the key unencrypted (as in a Kubernetes TLS secret)"
        );
    }
}

#[test]
fn a_private_key_block_that_holds_no_key_is_refused() {
    let cert = self_signed().cert.pem();
    let key = "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n";
    let error = with_identity(&cert, key).unwrap_err();
    assert!(matches!(error, TlsError::InvalidKey { .. }), "{error:?}");
}

#[test]
fn a_missing_client_key_file_is_a_read_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed().cert.pem();
    let key = dir.path().join("tls.key");
    let error = TlsConfig::builder()
        .client_identity(Pem::from_bytes("tls.crt", cert), Pem::file(&key))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("cannot read the client key {}", key.display())
    );
}

#[test]
fn debug_output_never_shows_pem_bytes() {
    let key = self_signed().signing_key.serialize_pem();
    let pem = Pem::from_bytes("tls.key", key.clone());
    let shown = format!("{pem:?}");
    assert_eq!(
        shown,
        format!("Pem::from_bytes(\"tls.key\", <{} bytes>)", key.len())
    );
    let builder = TlsConfig::builder().client_identity(pem.clone(), pem);
    assert!(!format!("{builder:?}").contains("PRIVATE"));
}

/// Each error that wraps a cause returns it from `source()` and keeps it out of its
/// message, so that printing the chain shows each cause once.
#[test]
fn wrapped_causes_are_sources_not_repeated_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let key = self_signed().signing_key.serialize_pem();
    let errors = [
        with_ca(Pem::file(dir.path().join("missing.crt"))).unwrap_err(),
        with_ca(Pem::from_bytes("ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n")).unwrap_err(),
        with_ca(Pem::from_bytes("ca.crt", NOT_A_CERTIFICATE)).unwrap_err(),
        with_identity(
            &self_signed().cert.pem(),
            "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err(),
        with_identity(NOT_A_CERTIFICATE, &key).unwrap_err(),
    ];
    for error in errors {
        let source = error.source().expect("a source");
        let message = error.to_string();
        assert!(
            !message.contains(&source.to_string()),
            "{message:?} repeats its source {source}"
        );
    }
}
