//! The error type of fetching.

use std::{io, path::PathBuf, time::Duration};

use flux_artifact_digest::{Algorithm, Digest};
use flux_artifact_storage::UntarError;
use http::StatusCode;

/// Why a fetch failed. Each variant names the URL (or digest, or path) involved; the
/// underlying error, where there is one, is the [`source`](std::error::Error::source)
/// and is not repeated in the message (print the chain, e.g. with anyhow's `{:#}`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No digest was given.
    #[error("empty digest")]
    EmptyDigest,
    /// The digest does not parse.
    #[error("failed to parse digest {digest:?}")]
    InvalidDigest {
        /// The digest as given (a bare hex value is read as `sha256:<hex>`).
        digest: String,
        /// Why it does not parse.
        source: flux_artifact_digest::Error,
    },
    /// The digest's algorithm is not one Flux's consumers verify (sha256, sha384, sha512,
    /// blake3). Checked before anything is downloaded.
    #[error("unsupported digest algorithm {algorithm}: Flux verifies sha256, sha384, sha512 and blake3")]
    UnsupportedAlgorithm {
        /// The algorithm of the digest.
        algorithm: Algorithm,
    },
    /// The URL is not an absolute `http://` or `https://` URL.
    #[error("invalid artifact URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `https://` URL, but this build of the crate has no TLS (its `tls` feature, on
    /// by default, is off). Nothing was sent.
    #[error("cannot fetch {url}: https needs the `tls` feature of flux-artifact-fetch")]
    HttpsNotEnabled {
        /// The URL as given.
        url: String,
    },
    /// TLS failed: the server's certificate is not trusted, has expired or is not valid
    /// for the URL's host, the server refused our client certificate (or wanted one and
    /// got none), or the two sides share no protocol version or cipher suite. Not
    /// retried: another attempt would meet the same certificates. The source is the
    /// `rustls::Error`.
    #[error("TLS with the server of {url} failed")]
    Tls {
        /// The URL requested.
        url: String,
        /// What TLS reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The fetcher was given no [`TlsConfig`](crate::TlsConfig) and the default one
    /// (the platform's trusted roots) could not be built at the first `https://` fetch.
    /// Nothing was sent.
    #[cfg(feature = "tls")]
    #[error("cannot set up TLS to fetch {url}")]
    TlsSetup {
        /// The URL requested.
        url: String,
        /// Why.
        source: crate::TlsError,
    },
    /// The server answered 404: the artifact is not (or no longer) there. Callers
    /// usually requeue, as Flux does (Go: `ErrFileNotFound`).
    #[error("file not found: {url}")]
    FileNotFound {
        /// The URL requested.
        url: String,
    },
    /// The server answered with a status other than 200 and 404, after any retries.
    #[error("failed to download archive from {url} (status: {status})")]
    Status {
        /// The URL requested.
        url: String,
        /// The last status received.
        status: StatusCode,
    },
    /// The request could not be made, after any retries (connection refused, reset …).
    #[error("failed to download archive from {url}")]
    Request {
        /// The URL requested.
        url: String,
        /// The last error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The response body broke off, after any retries (the server went away, or sent
    /// less than it announced).
    #[error("failed to read archive from {url}")]
    Body {
        /// The URL requested.
        url: String,
        /// The last error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An attempt took longer than the request timeout.
    #[error("downloading {url} took longer than {timeout:?}")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The per-attempt timeout.
        timeout: Duration,
    },
    /// The archive is larger than the download limit.
    #[error("artifact from {url} is larger than the max download size of {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The downloaded bytes do not hash to the digest; nothing was extracted into the
    /// target directory.
    #[error(transparent)]
    DigestMismatch(Box<DigestMismatch>),
    /// The archive could not be extracted; nothing was extracted into the target
    /// directory.
    #[error("failed to extract archive from {url}")]
    Untar {
        /// The URL requested.
        url: String,
        /// Why extraction failed.
        source: UntarError,
    },
    /// A local filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// Whether the artifact was not found (HTTP 404).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::FileNotFound { .. })
    }
}

/// The details of [`Error::DigestMismatch`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("computed digest of {url} doesn't match provided '{expected}': got '{actual}'")]
pub struct DigestMismatch {
    /// The URL downloaded.
    pub url: String,
    /// The digest it should have had.
    pub expected: Digest,
    /// The digest of what was downloaded.
    pub actual: Digest,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Every variant that wraps a cause returns it from `source()` and keeps it out of
    /// its own message, so that printing the chain shows each cause once.
    #[test]
    fn wrapped_causes_are_sources_not_repeated_in_messages() {
        let cause = || io::Error::other("the underlying cause");
        let url = || "http://host/a.tar.gz".to_owned();
        let errors = [
            Error::InvalidDigest {
                digest: "sha256:x".into(),
                source: "sha256:x".parse::<Digest>().expect_err("an invalid digest"),
            },
            Error::Request {
                url: url(),
                source: Box::new(cause()),
            },
            Error::Tls {
                url: url(),
                source: Box::new(cause()),
            },
            #[cfg(feature = "tls")]
            Error::TlsSetup {
                url: url(),
                source: crate::TlsError::PlatformRoots {
                    source: Box::new(cause()),
                },
            },
            Error::Body {
                url: url(),
                source: Box::new(cause()),
            },
            Error::Untar {
                url: url(),
                source: UntarError::Stream { source: cause() },
            },
            Error::Io {
                op: "write",
                path: "/x".into(),
                source: cause(),
            },
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
}
