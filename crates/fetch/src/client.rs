//! The HTTP clients of a fetcher: how connections are made, for `http://` and, with the
//! `tls` feature, `https://`.

use bytes::Bytes;
use http::{Request, Response, uri::Authority};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::{Error, fetcher::Failure};

/// Requests carry no body.
pub(crate) type Body = Empty<Bytes>;

/// One connection pool per scheme. `http://` never touches TLS code; the `https://`
/// client is made from the fetcher's [`TlsConfig`](crate::TlsConfig), or, when it was
/// given none, from the platform's roots at the first `https://` fetch (so a fetcher
/// that only reads in-cluster artifacts never loads a trust store).
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    http: Client<HttpConnector, Body>,
    #[cfg(feature = "tls")]
    https: std::sync::Arc<tls::Https>,
}

impl Clients {
    /// `hostname_override`: where `https://` connections go instead of the URL's
    /// `host[:port]` (`http://` URLs are rewritten before they get here).
    pub(crate) fn new(
        #[cfg(feature = "tls")] config: Option<crate::TlsConfig>,
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))] hostname_override: Option<Authority>,
    ) -> Self {
        Clients {
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            #[cfg(feature = "tls")]
            https: std::sync::Arc::new(tls::Https::new(config, hostname_override)),
        }
    }

    /// Sends `request`; a failure says whether another attempt may succeed.
    pub(crate) async fn send(
        &self,
        request: Request<Body>,
        url: &str,
    ) -> Result<Response<Incoming>, Failure> {
        let result = if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            #[cfg(feature = "tls")]
            {
                self.https.client(url).await?.request(request).await
            }
            #[cfg(not(feature = "tls"))]
            {
                // `ArchiveFetcher::request_uri` refuses these first; kept so that no
                // path can send an `https://` request in the clear.
                return Err(Failure::fatal(Error::HttpsNotEnabled { url: url.to_owned() }));
            }
        } else {
            self.http.request(request).await
        };
        result.map_err(|e| {
            #[cfg(feature = "tls")]
            if let Some(cause) = tls::rustls_cause(&e) {
                // Not retried: an untrusted, expired or misnamed certificate, or a
                // server refusing our client certificate, is configuration or
                // identity, which another attempt does not change.
                return Failure::fatal(Error::Tls {
                    url: url.to_owned(),
                    source: Box::new(cause.clone()),
                });
            }
            Failure::retry(Error::Request {
                url: url.to_owned(),
                source: Box::new(e),
            })
        })
    }
}

#[cfg(feature = "tls")]
mod tls {
    use std::{
        error::Error as StdError,
        future::Future,
        io,
        pin::Pin,
        sync::OnceLock,
        task::{Context, Poll},
    };

    use http::{Uri, uri::Authority};
    use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
    use hyper_util::{
        client::legacy::{Client, connect::HttpConnector},
        rt::{TokioExecutor, TokioIo},
    };
    use tokio::net::TcpStream;
    use tower_service::Service;

    use super::Body;
    use crate::{Error, TlsConfig, TlsError, fetcher::Failure};

    type BoxError = Box<dyn StdError + Send + Sync>;
    type HttpsClient = Client<HttpsConnector<Redirect>, Body>;

    /// The `https://` client, made once.
    #[derive(Debug)]
    pub(super) struct Https {
        client: OnceLock<HttpsClient>,
        hostname_override: Option<Authority>,
    }

    impl Https {
        pub(super) fn new(config: Option<TlsConfig>, hostname_override: Option<Authority>) -> Self {
            let client = OnceLock::new();
            if let Some(config) = config {
                let _ = client.set(https_client(&config, hostname_override.clone()));
            }
            Https {
                client,
                hostname_override,
            }
        }

        pub(super) async fn client(&self, url: &str) -> Result<&HttpsClient, Failure> {
            if let Some(client) = self.client.get() {
                return Ok(client);
            }
            // Reading the trust store is blocking file I/O. Two first fetches at once
            // may both load it; one client is kept. A failure is not kept: the next
            // fetch tries again (the store may have been fixed).
            let config = tokio::task::spawn_blocking(TlsConfig::platform)
                .await
                .map_err(|e| TlsError::PlatformRoots { source: Box::new(e) })
                .and_then(|loaded| loaded)
                .map_err(|source| {
                    Failure::fatal(Error::TlsSetup {
                        url: url.to_owned(),
                        source,
                    })
                })?;
            Ok(self
                .client
                .get_or_init(|| https_client(&config, self.hostname_override.clone())))
        }
    }

    fn https_client(config: &TlsConfig, hostname_override: Option<Authority>) -> HttpsClient {
        let mut tcp = HttpConnector::new();
        // The URIs it sees are `https://`: TLS is layered on top by `HttpsConnector`.
        tcp.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config.client_config().clone())
            .https_only()
            .enable_http1()
            .wrap_connector(Redirect {
                tcp,
                to: hostname_override,
            });
        Client::builder(TokioExecutor::new()).build(connector)
    }

    /// Opens TCP connections to the hostname override, when there is one, instead of
    /// the URL's `host[:port]`. It sits under `HttpsConnector`, which takes the server
    /// name for SNI and certificate verification from the URL: the override decides
    /// where to connect, never whom to trust.
    #[derive(Debug, Clone)]
    pub(super) struct Redirect {
        tcp: HttpConnector,
        to: Option<Authority>,
    }

    impl Service<Uri> for Redirect {
        type Response = TokioIo<TcpStream>;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            self.tcp.poll_ready(cx).map_err(Into::into)
        }

        fn call(&mut self, dst: Uri) -> Self::Future {
            let dst = match &self.to {
                None => Ok(dst),
                Some(to) => {
                    let mut parts = dst.into_parts();
                    parts.authority = Some(to.clone());
                    Uri::from_parts(parts)
                }
            };
            match dst {
                Ok(dst) => {
                    let connecting = self.tcp.call(dst);
                    Box::pin(async move { connecting.await.map_err(Into::into) })
                }
                Err(e) => Box::pin(async move { Err(e.into()) }),
            }
        }
    }

    /// The rustls error behind a failed request, if TLS is what failed. hyper-rustls
    /// and tokio-rustls wrap it in `io::Error`s, whose `source()` skips the wrapped
    /// error itself, so those are opened with `get_ref`.
    pub(super) fn rustls_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
        let mut current = Some(error);
        while let Some(e) = current {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
                let inner: &(dyn StdError + 'static) = inner;
                if let Some(tls) = rustls_cause(inner) {
                    return Some(tls);
                }
            }
            current = e.source();
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_rustls_error_is_found_inside_nested_io_errors() {
            let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
            let wrapped = io::Error::other(io::Error::new(io::ErrorKind::InvalidData, tls.clone()));
            assert_eq!(rustls_cause(&wrapped), Some(&tls));
        }

        #[test]
        fn an_error_without_rustls_has_no_tls_cause() {
            let error = io::Error::other(io::Error::from(io::ErrorKind::ConnectionRefused));
            assert_eq!(rustls_cause(&error), None);
        }
    }
}
