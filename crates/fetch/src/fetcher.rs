//! [`ArchiveFetcher`]: download to a spool file while hashing, verify, extract, move
//! into place.

use std::{
    fs, io,
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use flux_artifact_digest::{Algorithm, Digest, Digester};
use flux_artifact_storage::{UntarError, UntarOptions, UntarSummary, untar};
use http::{Request, StatusCode, Uri, header, uri::Authority};
use http_body_util::{BodyExt, Empty};
use tokio::sync::mpsc;

use crate::{DigestMismatch, Error, client::Clients};

/// Retries after the first attempt, unless [`ArchiveFetcherBuilder::retries`] says
/// otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The first wait between attempts; it doubles per retry up to [`DEFAULT_RETRY_WAIT_MAX`].
pub const DEFAULT_RETRY_WAIT_MIN: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
pub const DEFAULT_RETRY_WAIT_MAX: Duration = Duration::from_secs(30);
/// How long one attempt (connect, response and the whole body) may take.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The default cap on extracted bytes, as in Flux's `tar.Untar`.
pub use flux_artifact_storage::DEFAULT_MAX_UNTAR_SIZE;

/// Chunks in flight between the download and the thread writing the spool file.
const CHANNEL_DEPTH: usize = 8;

/// Downloads artifacts, verifies their digests and extracts them: what Flux's consumers
/// do with `status.artifact` (Go: `fluxcd/pkg/http/fetch.ArchiveFetcher`).
///
/// Cheap to clone: clones share the connection pools. Build one per controller with
/// [`ArchiveFetcher::builder`] and reuse it.
#[derive(Debug, Clone)]
pub struct ArchiveFetcher {
    clients: Clients,
    settings: ArchiveFetcherBuilder,
}

/// Settings of an [`ArchiveFetcher`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ArchiveFetcherBuilder {
    retries: u32,
    retry_wait_min: Duration,
    retry_wait_max: Duration,
    max_download_size: Option<u64>,
    max_untar_size: Option<u64>,
    hostname_override: Option<String>,
    request_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: Option<crate::TlsConfig>,
}

impl Default for ArchiveFetcherBuilder {
    fn default() -> Self {
        ArchiveFetcherBuilder {
            retries: DEFAULT_RETRIES,
            retry_wait_min: DEFAULT_RETRY_WAIT_MIN,
            retry_wait_max: DEFAULT_RETRY_WAIT_MAX,
            max_download_size: None,
            max_untar_size: Some(DEFAULT_MAX_UNTAR_SIZE),
            hostname_override: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ArchiveFetcherBuilder {
    /// How many times to retry after the first attempt (default [`DEFAULT_RETRIES`]).
    /// Connection failures, 5xx (except 501) and 429 responses, broken-off bodies and
    /// timeouts are retried; 404, other statuses, digest mismatches and extraction
    /// errors are not.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before the first retry, doubled for each further one up to `max`.
    pub fn retry_wait(mut self, min: Duration, max: Duration) -> Self {
        self.retry_wait_min = min;
        self.retry_wait_max = max.max(min);
        self
    }

    /// Caps the size of the downloaded archive (default: no cap, like
    /// kustomize-controller). The cap counts the bytes received; a larger
    /// `Content-Length` fails at once.
    pub fn max_download_size(mut self, limit: Option<u64>) -> Self {
        self.max_download_size = limit;
        self
    }

    /// Caps the bytes extracted (default [`DEFAULT_MAX_UNTAR_SIZE`], 100 MiB; `None`:
    /// no cap).
    pub fn max_untar_size(mut self, limit: Option<u64>) -> Self {
        self.max_untar_size = limit;
        self
    }

    /// Sends every request to `host[:port]` instead of the URL's, as Flux's consumers do
    /// with `SOURCE_CONTROLLER_LOCALHOST` (for a controller running outside the
    /// cluster, e.g. through `kubectl port-forward`). An empty value means none.
    ///
    /// For `http://` URLs it replaces the URL's `host[:port]`, `Host` header included,
    /// as Go's fetcher does. For `https://` URLs it only changes where the connection
    /// goes: the SNI name, the name the certificate must be valid for, and the `Host`
    /// header stay the URL's host. Whatever listens at the override must prove to be
    /// the server the URL names, so the override can redirect a fetch but never
    /// weaken whom it trusts (a port-forward to the real server passes; another server
    /// with a certificate of its own does not). An override that is not a valid
    /// `host[:port]` fails every fetch with [`Error::InvalidUrl`].
    pub fn hostname_override(mut self, host: impl Into<String>) -> Self {
        self.hostname_override = Some(host.into()).filter(|h| !h.is_empty());
        self
    }

    /// How long one attempt's download may take, body included (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]). Extraction, which starts once the download is
    /// complete and verified, is not timed.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How `https://` servers are verified and, for mTLS, how the fetcher proves its
    /// own identity (default: the platform's trusted roots, loaded at the first
    /// `https://` fetch; see [`TrustRoots`](crate::TrustRoots) for why). `http://`
    /// URLs are unaffected.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The fetcher. Reads no file: a [`TlsConfig`](crate::TlsConfig) was read when it
    /// was built, and the default one is loaded at the first `https://` fetch.
    pub fn build(self) -> ArchiveFetcher {
        // An invalid override fails every fetch in `request_uri`, before any
        // connection, so the connector never needs it.
        let hostname_override = self
            .hostname_override
            .as_deref()
            .and_then(|host| host.parse::<Authority>().ok());
        ArchiveFetcher {
            clients: Clients::new(
                #[cfg(feature = "tls")]
                self.tls.clone(),
                hostname_override,
            ),
            settings: self,
        }
    }
}

impl Default for ArchiveFetcher {
    fn default() -> Self {
        ArchiveFetcher::builder().build()
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchSummary {
    /// Bytes downloaded (the compressed archive).
    pub downloaded: u64,
    /// What was extracted.
    pub extracted: UntarSummary,
    /// Attempts made, 1 if the first succeeded.
    pub attempts: u32,
}

/// Why one attempt failed, and whether another may succeed.
pub(crate) struct Failure {
    error: Error,
    retryable: bool,
}

impl Failure {
    pub(crate) fn retry(error: Error) -> Self {
        Failure {
            error,
            retryable: true,
        }
    }

    pub(crate) fn fatal(error: Error) -> Self {
        Failure {
            error,
            retryable: false,
        }
    }
}

impl ArchiveFetcher {
    /// A fetcher with the default settings.
    #[must_use]
    pub fn new() -> Self {
        ArchiveFetcher::default()
    }

    /// Settings to build a fetcher from.
    pub fn builder() -> ArchiveFetcherBuilder {
        ArchiveFetcherBuilder::default()
    }

    /// Downloads the gzipped tarball at `url`, verifies it against `digest` and extracts
    /// it into `dir` (Go: `Fetch`).
    ///
    /// `digest` is `<algorithm>:<hex>`, or bare hex for sha256, as Flux accepts. It is
    /// checked before anything is downloaded: only sha256, sha384, sha512 and blake3 are
    /// accepted.
    ///
    /// The download is hashed as it is written to a temporary file beside `dir` (in its
    /// parent directory, so on the caller's volume, not in `$TMPDIR`). Only once the
    /// download is complete and its digest matches is it extracted, into a temporary
    /// directory beside `dir` whose entries then move into `dir` (created if missing;
    /// entries of the same name there are replaced). So a download that does not match
    /// never costs more disk than its own compressed size, and a failure, a mismatch
    /// included, leaves `dir` as it was. A fetch that succeeds uses at most the
    /// compressed size plus the extracted size beside `dir` while it extracts; the
    /// temporary file is deleted as soon as extraction ends.
    ///
    /// Extraction follows Flux's fetcher: symlinks are skipped, and the rules and cap
    /// of [`untar`] apply.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyDigest`], [`Error::InvalidDigest`] or
    /// [`Error::UnsupportedAlgorithm`] for the digest; [`Error::InvalidUrl`] for a URL
    /// that is not absolute `http://`; [`Error::FileNotFound`] for a 404 (callers
    /// usually requeue); [`Error::Status`], [`Error::Request`], [`Error::Body`] or
    /// [`Error::Timeout`] when the retries are spent; [`Error::TooLarge`];
    /// [`Error::DigestMismatch`]; [`Error::Untar`]; [`Error::Io`] for local failures.
    pub async fn fetch(&self, url: &str, digest: &str, dir: impl AsRef<Path>) -> Result<FetchSummary, Error> {
        let expected = parse_flux_digest(digest)?;
        let uri = self.request_uri(url)?;
        let dir = dir.as_ref();
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_error("create", &parent))?;
        let mut attempts = 0u32;
        let (downloaded, spool) = loop {
            attempts += 1;
            match self.attempt(&uri, url, expected, &parent).await {
                Ok(verified) => break verified,
                Err(failure) if failure.retryable && attempts <= self.settings.retries => {
                    let wait = self.backoff(attempts - 1);
                    let error = with_causes(&failure.error);
                    tracing::debug!(
                        url,
                        attempt = attempts,
                        error,
                        ?wait,
                        "retrying artifact download"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(failure) => return Err(failure.error),
            }
        };
        let options = UntarOptions::default()
            .max_size(self.settings.max_untar_size)
            .skip_symlinks(true);
        let staging_parent = parent.clone();
        let extraction = tokio::task::spawn_blocking(move || extract(spool, &staging_parent, &options));
        let (staging, extracted) = extraction
            .await
            .map_err(|e| Error::Io {
                op: "extract into",
                path: parent.clone(),
                source: io::Error::other(e),
            })?
            .map_err(|e| match e {
                Extraction::Io(error) => error,
                Extraction::Untar(source) => Error::Untar {
                    url: url.to_owned(),
                    source,
                },
            })?;
        move_into_place(staging, dir)?;
        Ok(FetchSummary {
            downloaded,
            extracted,
            attempts,
        })
    }

    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry);
        self.settings
            .retry_wait_min
            .saturating_mul(factor)
            .min(self.settings.retry_wait_max)
    }

    /// The URL to request: absolute `http://` or `https://`, the host of an `http://`
    /// URL replaced if asked (an `https://` URL keeps it: see
    /// [`ArchiveFetcherBuilder::hostname_override`]).
    fn request_uri(&self, url: &str) -> Result<Uri, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        let https = check_scheme(url, uri.scheme_str(), cfg!(feature = "tls"))?;
        if uri.authority().is_none() {
            return Err(invalid("missing host".into()));
        }
        let Some(host) = &self.settings.hostname_override else {
            return Ok(uri);
        };
        let authority: Authority = host.parse().map_err(|e: http::uri::InvalidUri| {
            invalid(format!("invalid hostname override {host:?}: {e}"))
        })?;
        if https {
            return Ok(uri);
        }
        let mut parts = uri.into_parts();
        parts.authority = Some(authority);
        Uri::from_parts(parts).map_err(|e| invalid(e.to_string()))
    }

    /// One download into a new spool file in `parent`, hashed on the way: the file if
    /// it is complete and matches `expected`.
    async fn attempt(
        &self,
        uri: &Uri,
        url: &str,
        expected: Digest,
        parent: &Path,
    ) -> Result<(u64, tempfile::NamedTempFile), Failure> {
        let spool = tempfile::Builder::new()
            .prefix(".fetch-")
            .suffix(".download")
            .tempfile_in(parent)
            .map_err(|e| Failure::fatal(io_error("create a temporary file in", parent)(e)))?;
        let file = spool
            .reopen()
            .map_err(|e| Failure::fatal(io_error("open", spool.path())(e)))?;
        let (sender, receiver) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let digester = expected.algorithm().digester();
        let writer = tokio::task::spawn_blocking(move || write_spool(receiver, file, digester));
        let timeout = self.settings.request_timeout;
        let download = tokio::time::timeout(timeout, self.download(uri, url, sender)).await;
        let written = writer.await.map_err(|e| {
            Failure::fatal(Error::Io {
                op: "write",
                path: spool.path().to_path_buf(),
                source: io::Error::other(e),
            })
        })?;
        let downloaded = match download {
            Err(_) => {
                return Err(Failure::retry(Error::Timeout {
                    url: url.to_owned(),
                    timeout,
                }));
            }
            Ok(result) => result?,
        };
        let actual = written.map_err(|e| Failure::fatal(io_error("write", spool.path())(e)))?;
        if actual != expected {
            return Err(Failure::fatal(Error::DigestMismatch(Box::new(DigestMismatch {
                url: url.to_owned(),
                expected,
                actual,
            }))));
        }
        Ok((downloaded, spool))
    }

    /// Sends the response body down `sender`; returns the number of bytes received.
    async fn download(&self, uri: &Uri, url: &str, sender: mpsc::Sender<Bytes>) -> Result<u64, Failure> {
        let request = Request::get(uri.clone())
            .header(
                header::USER_AGENT,
                concat!("flux-artifact-fetch/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| {
                Failure::fatal(Error::InvalidUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })
            })?;
        let response = self.clients.send(request, url).await?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(Failure::fatal(Error::FileNotFound { url: url.to_owned() })),
            s if (s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED)
                || s == StatusCode::TOO_MANY_REQUESTS =>
            {
                return Err(Failure::retry(Error::Status {
                    url: url.to_owned(),
                    status,
                }));
            }
            _ => {
                return Err(Failure::fatal(Error::Status {
                    url: url.to_owned(),
                    status,
                }));
            }
        }
        let too_large = |limit| {
            Failure::fatal(Error::TooLarge {
                url: url.to_owned(),
                limit,
            })
        };
        if let Some(limit) = self.settings.max_download_size {
            let announced = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if announced.is_some_and(|len| len > limit) {
                return Err(too_large(limit));
            }
        }
        let mut body = response.into_body();
        let mut received = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Failure::retry(Error::Body {
                    url: url.to_owned(),
                    source: Box::new(e),
                })
            })?;
            let Ok(data) = frame.into_data() else { continue };
            received += data.len() as u64;
            if let Some(limit) = self.settings.max_download_size
                && received > limit
            {
                return Err(too_large(limit));
            }
            // A send fails only if the writing thread is gone (a write failed); its
            // result says why.
            if sender.send(data).await.is_err() {
                break;
            }
        }
        Ok(received)
    }
}

/// Whether a URL with this scheme is fetched over TLS; an error for schemes the fetcher
/// does not speak, and for `https` when `tls` (the `tls` feature) is off.
fn check_scheme(url: &str, scheme: Option<&str>, tls: bool) -> Result<bool, Error> {
    let supported = if tls { "only http and https" } else { "only http" };
    match scheme {
        Some("http") => Ok(false),
        Some("https") if tls => Ok(true),
        Some("https") => Err(Error::HttpsNotEnabled { url: url.to_owned() }),
        Some(other) => Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: format!("scheme {other:?} is not supported, {supported}"),
        }),
        None => Err(Error::InvalidUrl {
            url: url.to_owned(),
            reason: "not an absolute URL".into(),
        }),
    }
}

/// An error's message followed by those of its sources, for a log line.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Writes the chunks received from the download to the spool file, hashing them; the
/// digest of everything received once the download ends.
fn write_spool(
    mut receiver: mpsc::Receiver<Bytes>,
    mut file: fs::File,
    mut digester: Digester,
) -> io::Result<Digest> {
    // The body arrives in chunks of up to hundreds of KiB: written as they come, with
    // no buffer of our own.
    while let Some(chunk) = receiver.blocking_recv() {
        digester.update(&chunk);
        file.write_all(&chunk)?;
    }
    Ok(digester.digest())
}

/// Why extraction failed.
enum Extraction {
    Io(Error),
    Untar(UntarError),
}

/// Extracts the verified spool file into a new temporary directory in `parent`, and
/// deletes the spool file.
fn extract(
    spool: tempfile::NamedTempFile,
    parent: &Path,
    options: &UntarOptions,
) -> Result<(tempfile::TempDir, UntarSummary), Extraction> {
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(|e| Extraction::Io(io_error("create a temporary directory in", parent)(e)))?;
    let file = spool
        .reopen()
        .map_err(|e| Extraction::Io(io_error("open", spool.path())(e)))?;
    let extracted = untar(
        io::BufReader::with_capacity(256 * 1024, file),
        staging.path(),
        options,
    );
    drop(spool);
    Ok((staging, extracted.map_err(Extraction::Untar)?))
}

/// A digest as Flux's fetcher reads it: bare hex is sha256, and only the algorithms
/// Flux's consumers register are accepted.
fn parse_flux_digest(digest: &str) -> Result<Digest, Error> {
    if digest.is_empty() {
        return Err(Error::EmptyDigest);
    }
    let full = if digest.contains(':') {
        digest.to_owned()
    } else {
        format!("sha256:{digest}")
    };
    let parsed: Digest = full.parse().map_err(|source| Error::InvalidDigest {
        digest: full.clone(),
        source,
    })?;
    let algorithm = parsed.algorithm();
    if !algorithm.is_verifiable_by_flux() {
        return Err(Error::UnsupportedAlgorithm { algorithm });
    }
    Ok(parsed)
}

/// Moves the extracted tree into `dir`: a rename of the whole staging directory when
/// `dir` does not exist, else entry by entry.
fn move_into_place(staging: tempfile::TempDir, dir: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let kept = staging.keep();
            return fs::rename(&kept, dir).map_err(io_error("move the extracted files to", dir));
        }
        Err(e) => return Err(io_error("inspect", dir)(e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Io {
                op: "extract into",
                path: dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Ok(_) => {}
    }
    let entries = fs::read_dir(staging.path()).map_err(io_error("read", staging.path()))?;
    for entry in entries {
        let entry = entry.map_err(io_error("read", staging.path()))?;
        let target = dir.join(entry.file_name());
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&target).map_err(io_error("replace", &target))?,
            Ok(_) => fs::remove_file(&target).map_err(io_error("replace", &target))?,
            Err(_) => {}
        }
        fs::rename(entry.path(), &target).map_err(io_error("move the extracted files to", &target))?;
    }
    Ok(())
}

fn io_error(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

/// The algorithms [`ArchiveFetcher::fetch`] accepts.
pub fn supported_algorithms() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL.into_iter().filter(|a| a.is_verifiable_by_flux())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hex_is_sha256() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            parse_flux_digest(hex).unwrap().to_string(),
            format!("sha256:{hex}")
        );
    }

    #[test]
    fn flux_rejects_what_it_cannot_verify() {
        assert!(matches!(parse_flux_digest(""), Err(Error::EmptyDigest)));
        let sha1 = format!("sha1:{}", "a".repeat(40));
        assert!(matches!(
            parse_flux_digest(&sha1),
            Err(Error::UnsupportedAlgorithm {
                algorithm: Algorithm::Sha1
            })
        ));
        assert!(matches!(
            parse_flux_digest(&"A".repeat(64)),
            Err(Error::InvalidDigest { .. })
        ));
        assert!(matches!(
            parse_flux_digest("md5:abc"),
            Err(Error::InvalidDigest { .. })
        ));
    }

    #[test]
    fn log_lines_show_the_causes_the_message_leaves_out() {
        let error = Error::Request {
            url: "http://host/a.tar.gz".into(),
            source: Box::new(io::Error::other("connection refused")),
        };
        assert_eq!(
            with_causes(&error),
            "failed to download archive from http://host/a.tar.gz: connection refused"
        );
    }

    #[test]
    fn supported_algorithms_are_the_four_flux_verifies() {
        let names: Vec<_> = supported_algorithms().map(Algorithm::name).collect();
        assert_eq!(names, ["sha256", "sha384", "sha512", "blake3"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let fetcher = ArchiveFetcher::builder()
            .retry_wait(Duration::from_millis(100), Duration::from_millis(500))
            .build();
        let waits: Vec<_> = (0..5).map(|r| fetcher.backoff(r).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn the_hostname_override_replaces_host_and_port() {
        let fetcher = ArchiveFetcher::builder()
            .hostname_override("localhost:9090")
            .build();
        let uri = fetcher
            .request_uri(
                "http://source-controller.flux-system.svc.cluster.local./gitrepository/ns/n/a.tar.gz?x=1",
            )
            .unwrap();
        assert_eq!(
            uri.to_string(),
            "http://localhost:9090/gitrepository/ns/n/a.tar.gz?x=1"
        );
    }

    #[test]
    fn only_absolute_http_and_https_urls_are_accepted() {
        let fetcher = ArchiveFetcher::new();
        for url in ["/relative/a.tar.gz", "ftp://x/a", "not a url", "http:///a.tar.gz"] {
            assert!(
                matches!(fetcher.request_uri(url), Err(Error::InvalidUrl { .. })),
                "{url}"
            );
        }
        assert!(fetcher.request_uri("http://example.com/a.tar.gz").is_ok());
    }

    #[test]
    fn https_without_tls_is_its_own_error_not_a_connection_failure() {
        let url = "https://example.com/a.tar.gz";
        let error = check_scheme(url, Some("https"), false).unwrap_err();
        assert!(matches!(&error, Error::HttpsNotEnabled { url: u } if u == url));
        assert_eq!(
            error.to_string(),
            "cannot fetch https://example.com/a.tar.gz: https needs the `tls` feature of flux-artifact-fetch"
        );
        assert!(check_scheme(url, Some("https"), true).unwrap());
        assert!(!check_scheme(url, Some("http"), false).unwrap());
    }

    /// What this build does with an `https://` URL, whichever way the feature is set.
    #[test]
    fn an_https_url_is_accepted_exactly_when_the_tls_feature_is_on() {
        let result = ArchiveFetcher::new().request_uri("https://example.com/a.tar.gz");
        if cfg!(feature = "tls") {
            assert_eq!(result.unwrap().to_string(), "https://example.com/a.tar.gz");
        } else {
            assert!(matches!(result, Err(Error::HttpsNotEnabled { .. })));
        }
    }

    #[test]
    fn the_hostname_override_keeps_the_host_of_an_https_url() {
        let fetcher = ArchiveFetcher::builder()
            .hostname_override("localhost:9090")
            .build();
        let result = fetcher.request_uri("https://artifacts.example/a.tar.gz");
        if cfg!(feature = "tls") {
            assert_eq!(result.unwrap().to_string(), "https://artifacts.example/a.tar.gz");
        } else {
            assert!(matches!(result, Err(Error::HttpsNotEnabled { .. })));
        }
    }

    #[test]
    fn an_invalid_hostname_override_fails_every_fetch_before_connecting() {
        let fetcher = ArchiveFetcher::builder().hostname_override("not a host").build();
        for url in ["http://a.example/a.tar.gz", "https://a.example/a.tar.gz"] {
            let error = fetcher.request_uri(url).unwrap_err();
            let expected = matches!(&error, Error::InvalidUrl { reason, .. } if reason.contains("hostname override"))
                || (!cfg!(feature = "tls") && matches!(error, Error::HttpsNotEnabled { .. }));
            assert!(expected, "{url}: {error}");
        }
    }
}
