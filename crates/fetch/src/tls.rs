//! [`TlsConfig`]: how the fetcher verifies `https://` servers and proves its own identity
//! (feature `tls`).
//!
//! Every configuration is built on rustls's `ring` provider, named explicitly: kube's
//! default `rustls-tls` feature compiles in `ring` too, and a process with two providers
//! has no default one (rustls panics at the first handshake that relies on it).
//! Certificate verification is always on: no setting turns it off, and no rustls
//! configuration from outside (which could carry a verifier that accepts anything) is
//! taken.

use std::{borrow::Cow, error::Error as StdError, fmt, fs, io, path::PathBuf, sync::Arc};

use rustls::{
    ClientConfig, RootCertStore,
    crypto::CryptoProvider,
    pki_types::{
        CertificateDer, PrivateKeyDer,
        pem::{PemObject, SectionKind},
    },
    sign::CertifiedKey,
};

/// The one crypto provider of every configuration: `ring`, as kube's `rustls-tls`.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Which certificate authorities a [`TlsConfig`] trusts besides the CA bundles added with
/// [`TlsConfigBuilder::add_ca_bundle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrustRoots {
    /// The operating system's trust store, through `rustls-platform-verifier` (the same
    /// crate kube's `rustls-tls` feature verifies the API server with). On Linux that is
    /// the CA file and directory OpenSSL would use (`SSL_CERT_FILE` and `SSL_CERT_DIR`
    /// override them), as Go's `crypto/x509` reads them; on macOS and Windows, the
    /// system's own verifier.
    ///
    /// The default: it is what Flux's Go controllers trust (the system pool), and it
    /// follows the trust store an operator manages in the image or on the host, corporate
    /// CAs included, without a rebuild of the controller. A container image without a CA
    /// store cannot use it: [`TlsConfigBuilder::build`] then fails with
    /// [`TlsError::PlatformRoots`] unless a CA bundle is added.
    #[default]
    Platform,
    /// Mozilla's root program, compiled in (`webpki-roots`): the same on every machine
    /// and in images without a CA store, but updated only with this crate's dependencies,
    /// and blind to CAs the operator installs.
    WebPki,
    /// None but the CA bundles added with [`TlsConfigBuilder::add_ca_bundle`]: what Flux
    /// does with the `ca.crt` of a `certSecretRef` (the bundle replaces the system pool).
    /// [`TlsConfigBuilder::build`] fails with [`TlsError::NoTrustAnchors`] if no bundle
    /// is added.
    CaBundlesOnly,
}

/// PEM input for a [`TlsConfig`]: a file, or bytes (the `ca.crt`, `tls.crt` or `tls.key`
/// of a Kubernetes Secret) with a name for error messages.
///
/// `Debug` shows the path or the name, never the bytes (they may be a private key).
#[derive(Clone)]
pub struct Pem(PemInput);

#[derive(Clone)]
enum PemInput {
    File(PathBuf),
    Bytes { name: String, bytes: Arc<[u8]> },
}

impl Pem {
    /// PEM read from the file at `path` when [`TlsConfigBuilder::build`] runs.
    pub fn file(path: impl Into<PathBuf>) -> Pem {
        Pem(PemInput::File(path.into()))
    }

    /// PEM held in memory; `name` says where it came from in errors (e.g.
    /// `"secret flux-system/upstream-tls, key ca.crt"`).
    pub fn from_bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Pem {
        Pem(PemInput::Bytes {
            name: name.into(),
            bytes: bytes.into().into(),
        })
    }

    /// The path, or the name given to [`Pem::from_bytes`].
    fn name(&self) -> String {
        match &self.0 {
            PemInput::File(path) => path.display().to_string(),
            PemInput::Bytes { name, .. } => name.clone(),
        }
    }

    fn read(&self, what: &'static str) -> Result<Cow<'_, [u8]>, TlsError> {
        match &self.0 {
            PemInput::File(path) => fs::read(path).map(Cow::Owned).map_err(|source| TlsError::Read {
                what,
                path: path.clone(),
                source,
            }),
            PemInput::Bytes { bytes, .. } => Ok(Cow::Borrowed(bytes)),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            PemInput::File(path) => f.debug_tuple("Pem::file").field(path).finish(),
            PemInput::Bytes { name, bytes } => {
                write!(f, "Pem::from_bytes({name:?}, <{} bytes>)", bytes.len())
            }
        }
    }
}

/// Why a [`TlsConfig`] could not be built (or, for the default configuration of a
/// fetcher that was given none, why an `https://` fetch could not start). Each variant
/// names the file (or the name given to [`Pem::from_bytes`]) and says what is wrong;
/// an underlying error is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read the {what} {}", path.display())]
    Read {
        /// `"CA bundle"`, `"client certificate"` or `"client key"`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The input is not well-formed PEM (a block without its end line, bad base64 …).
    #[error("the {what} {name} is not valid PEM")]
    Pem {
        /// `"CA bundle"`, `"client certificate"` or `"client key"`.
        what: &'static str,
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
        /// What the PEM parser found wrong.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A CA bundle or client certificate holds no `CERTIFICATE` block: it is empty, or
    /// something else (a key, say) was given in its place.
    #[error("the {what} {name} holds no PEM certificate ({})", describe_found(found))]
    NoCertificate {
        /// `"CA bundle"` or `"client certificate"`.
        what: &'static str,
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
        /// The labels of the PEM blocks it does hold (`"PRIVATE KEY"` …), if any.
        found: Vec<String>,
    },
    /// A `CERTIFICATE` block does not hold an X.509 certificate rustls can use.
    #[error("certificate {index} of the {what} {name} is not a valid X.509 certificate")]
    InvalidCertificate {
        /// `"CA bundle"` or `"client certificate"`.
        what: &'static str,
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
        /// Which `CERTIFICATE` block, counting from 1.
        index: usize,
        /// Why it was refused.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The client key holds no private key block (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`).
    #[error("the client key {name} holds no PEM private key ({})", describe_found(found))]
    NoPrivateKey {
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
        /// The labels of the PEM blocks it does hold, if any.
        found: Vec<String>,
    },
    /// The client key is encrypted with a passphrase, which is not supported (Flux's
    /// `tls.key` is not encrypted either).
    #[error("the client key {name} is encrypted; give the key unencrypted (as in a Kubernetes TLS secret)")]
    EncryptedKey {
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
    },
    /// The client key is a PEM private key block that rustls's `ring` provider cannot
    /// use (it supports RSA, ECDSA P-256 and P-384, and Ed25519 keys).
    #[error("the client key {name} is not a usable private key")]
    InvalidKey {
        /// The file, or the name given to [`Pem::from_bytes`].
        name: String,
        /// Why it was refused.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The client key is not the private key of the client certificate.
    #[error("the client key {key} does not belong to the client certificate {certificate}")]
    KeyMismatch {
        /// The certificate's file or name.
        certificate: String,
        /// The key's file or name.
        key: String,
    },
    /// [`TrustRoots::CaBundlesOnly`] with no CA bundle: nothing could be trusted.
    #[error("TrustRoots::CaBundlesOnly needs at least one CA bundle")]
    NoTrustAnchors,
    /// The platform's trust store could not be loaded (on Linux: it holds no usable
    /// certificate, as in an image without a CA store).
    #[error("cannot load the platform's trusted certificates")]
    PlatformRoots {
        /// Why.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// rustls refused the configuration for another reason.
    #[error("cannot build the TLS client configuration")]
    Config {
        /// Why.
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// A cause, in words, where the underlying error's own text would mislead ("invalid
/// peer certificate" for a CA bundle) or be unreadable (a marker as a list of bytes).
#[derive(Debug)]
struct Reason(String);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Reason {}

impl From<rustls::Error> for Reason {
    fn from(error: rustls::Error) -> Reason {
        Reason(match error {
            rustls::Error::General(text) => text,
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
                "its DER encoding does not parse".to_owned()
            }
            rustls::Error::InvalidCertificate(e) => e.to_string(),
            e => e.to_string(),
        })
    }
}

impl From<rustls::pki_types::pem::Error> for Reason {
    fn from(error: rustls::pki_types::pem::Error) -> Reason {
        use rustls::pki_types::pem::Error as E;
        Reason(match error {
            E::MissingSectionEnd { end_marker } => format!(
                "a block has no \"-----END {}-----\" line",
                String::from_utf8_lossy(&end_marker)
            ),
            E::IllegalSectionStart { line } => {
                format!("malformed BEGIN line {:?}", String::from_utf8_lossy(&line))
            }
            E::Base64Decode(e) => format!("bad base64 in a block: {e}"),
            e => e.to_string(),
        })
    }
}

fn describe_found(found: &[String]) -> String {
    if found.is_empty() {
        "it holds no PEM block at all".to_owned()
    } else {
        format!("it holds only: {}", found.join(", "))
    }
}

/// The labels of the PEM blocks in `bytes`, for error messages.
fn pem_labels(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut labels: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        if !labels.iter().any(|l| l == label) {
            labels.push(label.to_owned());
        }
    }
    labels
}

/// The blocks of `bytes` that rustls knows, in order.
fn pem_sections(
    bytes: &[u8],
    what: &'static str,
    pem: &Pem,
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            name: pem.name(),
            source: Box::new(Reason::from(e)),
        })
}

/// The `CERTIFICATE` blocks of `pem`: at least one.
fn certificates(pem: &Pem, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.read(what)?;
    let certificates: Vec<CertificateDer<'static>> = pem_sections(&bytes, what, pem)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            name: pem.name(),
            found: pem_labels(&bytes),
        });
    }
    Ok(certificates)
}

/// The first private key block of `pem`.
fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "client key";
    let bytes = pem.read(WHAT)?;
    let labels = pem_labels(&bytes);
    // PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy encrypted PEM (a `Proc-Type`
    // header inside an `RSA PRIVATE KEY` block, which the parser reads as bad base64).
    let encrypted = labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY")
        || String::from_utf8_lossy(&bytes).contains("Proc-Type: 4,ENCRYPTED");
    let key = match pem_sections(&bytes, WHAT, pem) {
        Ok(sections) => sections
            .into_iter()
            .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der)),
        Err(_) if encrypted => None,
        Err(e) => return Err(e),
    };
    match key {
        Some(key) => Ok(key),
        None if encrypted => Err(TlsError::EncryptedKey { name: pem.name() }),
        None => Err(TlsError::NoPrivateKey {
            name: pem.name(),
            found: labels,
        }),
    }
}

/// How the fetcher does TLS: the trusted roots, extra CA bundles, and a client
/// certificate for mTLS. Build one with [`TlsConfig::builder`] and pass it to
/// [`ArchiveFetcherBuilder::tls`](crate::ArchiveFetcherBuilder::tls).
///
/// Cheap to clone. A fetcher given no configuration builds [`TlsConfig::platform`]
/// at its first `https://` fetch.
///
/// ```no_run
/// use flux_artifact_fetch::{ArchiveFetcher, Pem, TlsConfig, TrustRoots};
///
/// # fn run() -> Result<(), flux_artifact_fetch::TlsError> {
/// // As Flux does with a certSecretRef: its ca.crt replaces the system roots, and
/// // tls.crt and tls.key are the client certificate for mTLS.
/// let tls = TlsConfig::builder()
///     .trust_roots(TrustRoots::CaBundlesOnly)
///     .add_ca_bundle(Pem::file("/etc/upstream-tls/ca.crt"))
///     .client_identity(Pem::file("/etc/upstream-tls/tls.crt"), Pem::file("/etc/upstream-tls/tls.key"))
///     .build()?;
/// let fetcher = ArchiveFetcher::builder().tls(tls).build();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    client: Arc<ClientConfig>,
    roots: TrustRoots,
    ca_certificates: usize,
    client_identity: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots)
            .field("ca_certificates", &self.ca_certificates)
            .field("client_identity", &self.client_identity)
            .finish()
    }
}

impl TlsConfig {
    /// A builder: [`TrustRoots::Platform`], no CA bundle, no client certificate.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// The platform's trusted roots only: what a fetcher uses when given no
    /// configuration.
    ///
    /// # Errors
    ///
    /// [`TlsError::PlatformRoots`] when the platform's trust store cannot be loaded.
    pub fn platform() -> Result<TlsConfig, TlsError> {
        TlsConfig::builder().build()
    }

    /// Which roots are trusted besides the CA bundles.
    #[must_use]
    pub fn trust_roots(&self) -> TrustRoots {
        self.roots
    }

    /// How many certificates the CA bundles added.
    #[must_use]
    pub fn ca_certificates(&self) -> usize {
        self.ca_certificates
    }

    /// Whether a client certificate is presented to servers that ask for one.
    #[must_use]
    pub fn has_client_identity(&self) -> bool {
        self.client_identity
    }

    pub(crate) fn client_config(&self) -> &ClientConfig {
        &self.client
    }
}

/// Settings of a [`TlsConfig`]. Nothing is read until [`build`](TlsConfigBuilder::build).
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TlsConfigBuilder {
    roots: TrustRoots,
    ca_bundles: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
}

impl TlsConfigBuilder {
    /// Which roots to trust besides the CA bundles (default [`TrustRoots::Platform`]).
    pub fn trust_roots(mut self, roots: TrustRoots) -> Self {
        self.roots = roots;
        self
    }

    /// Also trusts the certificates of a PEM CA bundle (one or more `CERTIFICATE`
    /// blocks; other blocks are ignored). May be called more than once. With
    /// [`TrustRoots::Platform`] or [`TrustRoots::WebPki`] it adds to those roots; with
    /// [`TrustRoots::CaBundlesOnly`] it is all that is trusted.
    pub fn add_ca_bundle(mut self, bundle: Pem) -> Self {
        self.ca_bundles.push(bundle);
        self
    }

    /// The client certificate (PEM: the certificate, then any intermediates) and its
    /// private key (PEM: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC
    /// PRIVATE KEY`, unencrypted), presented to servers that ask for one (mTLS).
    pub fn client_identity(mut self, certificate: Pem, key: Pem) -> Self {
        self.identity = Some((certificate, key));
        self
    }

    /// Reads and checks everything: blocking file I/O (the PEM files and, for
    /// [`TrustRoots::Platform`], the system's trust store), so call it at start-up or
    /// on tokio's blocking pool. Rebuild the configuration (and the fetcher) to pick up
    /// rotated certificates.
    ///
    /// # Errors
    ///
    /// For a CA bundle or client certificate: [`TlsError::Read`], [`TlsError::Pem`],
    /// [`TlsError::NoCertificate`] (empty, or no `CERTIFICATE` block),
    /// [`TlsError::InvalidCertificate`]. For the client key: [`TlsError::Read`],
    /// [`TlsError::Pem`], [`TlsError::NoPrivateKey`], [`TlsError::EncryptedKey`],
    /// [`TlsError::InvalidKey`], [`TlsError::KeyMismatch`] (not the certificate's
    /// key). [`TlsError::NoTrustAnchors`] for [`TrustRoots::CaBundlesOnly`] without
    /// bundles; [`TlsError::PlatformRoots`] when the platform's store cannot be loaded.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        const CA_BUNDLE: &str = "CA bundle";
        let provider = provider();
        let mut extra = RootCertStore::empty();
        let mut extra_der = Vec::new();
        for bundle in &self.ca_bundles {
            for (i, certificate) in certificates(bundle, CA_BUNDLE)?.into_iter().enumerate() {
                extra
                    .add(certificate.clone())
                    .map_err(|e| TlsError::InvalidCertificate {
                        what: CA_BUNDLE,
                        name: bundle.name(),
                        index: i + 1,
                        source: Box::new(Reason::from(e)),
                    })?;
                extra_der.push(certificate);
            }
        }
        let identity = self
            .identity
            .as_ref()
            .map(|(cert, key)| identity(cert, key, &provider))
            .transpose()?;

        let config_error = |e: rustls::Error| TlsError::Config { source: Box::new(e) };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?;
        let builder = match self.roots {
            TrustRoots::Platform => {
                let verifier = platform_verifier(extra_der.clone(), provider)?;
                // The platform verifier verifies (chain, name, validity) as
                // rustls's own does; `dangerous` is only rustls's name for plugging
                // in a verifier of one's own.
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            TrustRoots::WebPki => {
                let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                roots.roots.extend(extra.roots);
                builder.with_root_certificates(roots)
            }
            TrustRoots::CaBundlesOnly => {
                if extra.is_empty() {
                    return Err(TlsError::NoTrustAnchors);
                }
                builder.with_root_certificates(extra)
            }
        };
        let client = match identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(config_error)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConfig {
            client: Arc::new(client),
            roots: self.roots,
            ca_certificates: extra_der.len(),
            client_identity: self.identity.is_some(),
        })
    }
}

/// The client certificate chain and key, checked to belong together.
fn identity(
    certificate: &Pem,
    key: &Pem,
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    const WHAT: &str = "client certificate";
    let chain = certificates(certificate, WHAT)?;
    let key_der = private_key(key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der.clone_key())
        .map_err(|e| TlsError::InvalidKey {
            name: key.name(),
            source: Box::new(Reason::from(e)),
        })?;
    match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
        // `Unknown`: the key cannot tell its public half; the server will check.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                certificate: certificate.name(),
                key: key.name(),
            });
        }
        Err(e) => {
            return Err(TlsError::InvalidCertificate {
                what: WHAT,
                name: certificate.name(),
                index: 1,
                source: Box::new(Reason::from(e)),
            });
        }
    }
    Ok((chain, key_der))
}

#[cfg(not(target_os = "android"))]
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, TlsError> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
        .map_err(|e| TlsError::PlatformRoots { source: Box::new(e) })
}

#[cfg(target_os = "android")]
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, TlsError> {
    if !extra.is_empty() {
        return Err(TlsError::Config {
            source: "CA bundles cannot be added to the Android platform roots; use TrustRoots::WebPki or CaBundlesOnly".into(),
        });
    }
    rustls_platform_verifier::Verifier::new(provider)
        .map_err(|e| TlsError::PlatformRoots { source: Box::new(e) })
}
