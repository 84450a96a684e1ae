//! `https://` fetches against a local TLS server on 127.0.0.1, with certificates from a
//! CA generated for each test (rcgen): which servers are trusted, mTLS, and what the
//! hostname override does to verification.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use flate2::{Compression, write::GzEncoder};
use flux_artifact_digest::Algorithm;
use flux_artifact_fetch::{ArchiveFetcher, Error, Pem, TlsConfig, TrustRoots};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::{
    CertificateError, RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, |_| {})
    }

    fn client(&self) -> Leaf {
        self.leaf(&[], ExtendedKeyUsagePurpose::ClientAuth, |p| {
            p.distinguished_name.push(DnType::CommonName, "artifact-consumer");
        })
    }

    fn leaf(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.extended_key_usages = vec![usage];
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A certificate and its key, PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Leaf {
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).unwrap()]
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

/// What the TLS server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// The SNI name of each completed handshake (`None`: the client sent none, as for
    /// an IP address).
    server_names: Mutex<Vec<Option<String>>>,
    failed_handshakes: AtomicUsize,
}

/// A TLS server on 127.0.0.1 answering every request with `body`.
async fn serve_tls(config: ServerConfig, body: Vec<u8>) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, counts, body) = (acceptor.clone(), counts.clone(), body.clone());
            tokio::spawn(async move {
                let mut stream = match acceptor.accept(tcp).await {
                    Ok(stream) => stream,
                    Err(_) => {
                        counts.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                };
                let name = stream.get_ref().1.server_name().map(str::to_owned);
                counts.server_names.lock().unwrap().push(name);
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            // TLS 1.3 finishes the client's side of the handshake
                            // before the server checks its certificate: a refused
                            // client certificate shows here.
                            counts.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

fn server_config(leaf: &Leaf) -> ServerConfig {
    ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain(), leaf.key())
        .unwrap()
}

/// A server that requires a client certificate issued by `clients`.
fn mtls_server_config(leaf: &Leaf, clients: &Ca) -> ServerConfig {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(clients.pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), ring())
        .build()
        .unwrap();
    ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(leaf.chain(), leaf.key())
        .unwrap()
}

/// A gzipped tarball holding one file.
fn tarball(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..124].copy_from_slice(b"0000000\x000000000\x00");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..265].copy_from_slice(b"ustar\x0000");
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &x)| if (148..156).contains(&i) { 32 } else { u32::from(x) })
        .sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// A served artifact: its bytes and digest.
struct Artifact {
    bytes: Vec<u8>,
    digest: String,
}

fn artifact() -> Artifact {
    let bytes = tarball("app.yaml", b"kind: ConfigMap\n");
    let digest = Algorithm::Sha256.digest_bytes(&bytes).to_string();
    Artifact { bytes, digest }
}

/// Two retries, quickly: enough to see whether a failure is retried.
fn fetcher(tls: TlsConfig) -> ArchiveFetcher {
    ArchiveFetcher::builder()
        .retries(2)
        .retry_wait(Duration::from_millis(10), Duration::from_millis(20))
        .tls(tls)
        .build()
}

fn trusting(ca: &Ca) -> TlsConfig {
    TlsConfig::builder()
        .trust_roots(TrustRoots::CaBundlesOnly)
        .add_ca_bundle(Pem::from_bytes("test CA", ca.pem.as_bytes()))
        .build()
        .unwrap()
}

/// The certificate error behind an [`Error::Tls`].
fn certificate_error(error: &Error) -> &CertificateError {
    let Error::Tls { source, .. } = error else {
        panic!("not a TLS error: {error:?}")
    };
    match source.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(e)) => e,
        other => panic!("not a certificate error: {other:?}"),
    }
}

fn assert_extracted(dir: &Path) {
    assert_eq!(fs::read(dir.join("app.yaml")).unwrap(), b"kind: ConfigMap\n");
}

#[tokio::test]
async fn a_server_whose_certificate_the_ca_bundle_signed_is_trusted() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, seen) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let summary = fetcher(trusting(&ca))
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_eq!(summary.attempts, 1);
    assert_extracted(&out.path().join("x"));
    assert_eq!(seen.failed_handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_ca_bundle_file_adds_to_the_webpki_roots() {
    let ca = Ca::new("test CA");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ca.crt"), &ca.pem).unwrap();
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::WebPki)
        .add_ca_bundle(Pem::file(dir.path().join("ca.crt")))
        .build()
        .unwrap();
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    fetcher(tls)
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            dir.path().join("x"),
        )
        .await
        .unwrap();
    assert_extracted(&dir.path().join("x"));
}

#[tokio::test]
async fn a_ca_bundle_adds_to_the_platform_roots() {
    let ca = Ca::new("test CA");
    let tls = TlsConfig::builder()
        .add_ca_bundle(Pem::from_bytes("test CA", ca.pem.as_bytes()))
        .build()
        .unwrap();
    assert_eq!(tls.trust_roots(), TrustRoots::Platform);
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    fetcher(tls)
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_extracted(&out.path().join("x"));
}

#[tokio::test]
async fn a_server_no_trusted_ca_signed_is_a_tls_error_and_is_not_retried() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, seen) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let url = format!("https://{addr}/a.tar.gz");
    let webpki_only = TlsConfig::builder()
        .trust_roots(TrustRoots::WebPki)
        .build()
        .unwrap();
    let error = fetcher(webpki_only)
        .fetch(&url, &artifact.digest, out.path().join("x"))
        .await
        .unwrap_err();
    assert_eq!(certificate_error(&error), &CertificateError::UnknownIssuer);
    assert_eq!(error.to_string(), format!("TLS with the server of {url} failed"));
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "retried");
    assert!(!out.path().join("x").exists());
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&ca.server(&["artifacts.example"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let error = fetcher(trusting(&ca))
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&error),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let ca = Ca::new("test CA");
    let expired = ca.leaf(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&expired), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let error = fetcher(trusting(&ca))
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&error),
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_accepts_ours() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let client = clients.client();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("tls.crt"), &client.cert_pem).unwrap();
    fs::write(dir.path().join("tls.key"), &client.key_pem).unwrap();
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::CaBundlesOnly)
        .add_ca_bundle(Pem::from_bytes("server CA", servers.pem.as_bytes()))
        .client_identity(
            Pem::file(dir.path().join("tls.crt")),
            Pem::file(dir.path().join("tls.key")),
        )
        .build()
        .unwrap();
    assert!(tls.has_client_identity());
    let artifact = artifact();
    let config = mtls_server_config(&servers.server(&["127.0.0.1"]), &clients);
    let (addr, seen) = serve_tls(config, artifact.bytes).await;
    fetcher(tls)
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            dir.path().join("x"),
        )
        .await
        .unwrap();
    assert_extracted(&dir.path().join("x"));
    assert_eq!(seen.failed_handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_refuses_a_fetcher_without_one() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let artifact = artifact();
    let config = mtls_server_config(&servers.server(&["127.0.0.1"]), &clients);
    let (addr, seen) = serve_tls(config, artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let error = fetcher(trusting(&servers))
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    let Error::Tls { source, .. } = &error else {
        panic!("not a TLS error: {error:?}")
    };
    assert_eq!(
        source.downcast_ref::<rustls::Error>(),
        Some(&rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired
        )),
        "{error:?}"
    );
    assert_eq!(seen.failed_handshakes.load(Ordering::SeqCst), 1);
    assert!(!out.path().join("x").exists());
}

#[tokio::test]
async fn a_client_certificate_from_a_ca_the_server_does_not_trust_is_refused() {
    let (servers, clients) = (Ca::new("server CA"), Ca::new("client CA"));
    let stranger = Ca::new("another CA").client();
    let tls = TlsConfig::builder()
        .trust_roots(TrustRoots::CaBundlesOnly)
        .add_ca_bundle(Pem::from_bytes("server CA", servers.pem.as_bytes()))
        .client_identity(
            Pem::from_bytes("tls.crt", stranger.cert_pem.as_bytes()),
            Pem::from_bytes("tls.key", stranger.key_pem.as_bytes()),
        )
        .build()
        .unwrap();
    let artifact = artifact();
    let config = mtls_server_config(&servers.server(&["127.0.0.1"]), &clients);
    let (addr, _) = serve_tls(config, artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let error = fetcher(tls)
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Tls { .. }), "{error:?}");
}

/// The override decides where the connection goes; the server there must still prove
/// to be the URL's host, which is also the SNI name sent.
#[tokio::test]
async fn the_hostname_override_connects_there_but_the_urls_host_is_verified() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, seen) = serve_tls(server_config(&ca.server(&["artifacts.example"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder()
        .retries(0)
        .hostname_override(addr.to_string())
        .tls(trusting(&ca))
        .build();
    fetcher
        .fetch(
            "https://artifacts.example/gitrepository/ns/name/a.tar.gz",
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_extracted(&out.path().join("x"));
    assert_eq!(
        *seen.server_names.lock().unwrap(),
        [Some("artifacts.example".to_owned())]
    );
}

/// A certificate valid for the override's address but not for the URL's host is
/// refused: redirecting a fetch must not change whom it trusts.
#[tokio::test]
async fn a_certificate_valid_only_for_the_hostname_override_is_refused() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder()
        .retries(0)
        .hostname_override(addr.to_string())
        .tls(trusting(&ca))
        .build();
    let error = fetcher
        .fetch(
            "https://artifacts.example/a.tar.gz",
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            certificate_error(&error),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_fetcher_with_tls_still_fetches_plain_http() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (tls_addr, _) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes.clone()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = listener.local_addr().unwrap();
    let body = artifact.bytes.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    let fetcher = fetcher(trusting(&ca));
    let out = tempfile::tempdir().unwrap();
    fetcher
        .fetch(
            &format!("http://{http_addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("plain"),
        )
        .await
        .unwrap();
    fetcher
        .fetch(
            &format!("https://{tls_addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("tls"),
        )
        .await
        .unwrap();
    assert_extracted(&out.path().join("plain"));
    assert_extracted(&out.path().join("tls"));
}

/// A fetcher given no TLS configuration verifies against the platform's roots, which do
/// not hold this test's CA (or, on a machine without a trust store, cannot set TLS up):
/// either way it does not fetch.
#[tokio::test]
async fn a_fetcher_without_tls_settings_does_not_trust_an_unknown_ca() {
    let ca = Ca::new("test CA");
    let artifact = artifact();
    let (addr, _) = serve_tls(server_config(&ca.server(&["127.0.0.1"])), artifact.bytes).await;
    let out = tempfile::tempdir().unwrap();
    let error = ArchiveFetcher::builder()
        .retries(0)
        .build()
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &artifact.digest,
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    match &error {
        Error::Tls { .. } => assert_eq!(certificate_error(&error), &CertificateError::UnknownIssuer),
        Error::TlsSetup { .. } => {}
        other => panic!("{other:?}"),
    }
}
