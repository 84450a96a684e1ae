//! [`Server`]: binding, the accept loop and graceful shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use cap_std::{ambient_authority, fs::Dir};
use flux_artifact_config::Options;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use crate::{
    Error,
    handler::Files,
    http1::{Timeouts, serve_connection},
};

/// How long in-flight responses may take to finish after shutdown starts, as in Go.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send a request's headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may go without a byte read or written before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The artifact server: an HTTP/1.1 file server over the storage root.
///
/// The counterpart of Go's `server.Start`, split in two so that the listening address
/// is known before serving: [`bind`](Self::bind) then [`serve`](Self::serve) (or
/// [`start`](crate::start) for both). What it serves, and refuses, is listed in the
/// [crate documentation](crate).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    files: Arc<Files>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    shutdown_timeout: Duration,
}

impl Server {
    /// Binds [`Options::bind_address`] and opens [`Options::storage_path`] as the root.
    ///
    /// Port 0 binds an ephemeral port; [`local_addr`](Self::local_addr) tells which.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid storage address, [`Error::Root`] if the storage
    /// path cannot be opened as a directory, and [`Error::Bind`] (its message contains
    /// "bind" and the address) if the address cannot be bound, e.g. when it is in use.
    pub async fn bind(options: &Options) -> Result<Server, Error> {
        let address = options.bind_address()?;
        let root_error = |source| Error::Root {
            path: options.storage_path.clone(),
            source,
        };
        let root = Dir::open_ambient_dir(&options.storage_path, ambient_authority()).map_err(root_error)?;
        let listener = TcpListener::bind(address).await.map_err(|source| Error::Bind {
            address: options.storage_address.clone(),
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            address: options.storage_address.clone(),
            source,
        })?;
        Ok(Server {
            listener,
            local_addr,
            files: Arc::new(Files { root }),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        })
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets how long a client may take to send a request's headers (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]); slower clients are disconnected, which defeats
    /// slowloris attacks.
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets how long a connection may transfer nothing before it is closed (default
    /// [`DEFAULT_IDLE_TIMEOUT`]): idle keep-alive connections, and clients that stop
    /// reading a response.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how long in-flight responses may run after shutdown starts (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`], 5 s as in Go); connections still open then are
    /// closed.
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops accepting
    /// (the port is released at once), lets in-flight responses finish for up to the
    /// shutdown timeout, closes what remains and returns.
    ///
    /// Connections are served concurrently on the current Tokio runtime. Failures to
    /// accept a connection (such as running out of file descriptors) are logged and
    /// retried after a short pause rather than ending the server.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for fatal errors of future transports.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            listener,
            files,
            header_read_timeout,
            idle_timeout,
            shutdown_timeout,
            local_addr,
        } = self;
        tracing::info!(address = %local_addr, "artifact server listening");
        let timeouts = Timeouts {
            header_read: header_read_timeout,
            idle: idle_timeout,
        };
        let (stopping, stop_signal) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let (files, stop_signal) = (files.clone(), stop_signal.clone());
                        connections.spawn(serve_connection(stream, peer, files, timeouts, stop_signal));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        tracing::info!(address = %local_addr, "artifact server shutting down");
        // Idle connections close at once; busy ones finish their response first.
        let _ = stopping.send(true);
        let drained = tokio::time::timeout(shutdown_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?shutdown_timeout, "graceful shutdown timed out, closing connections");
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes (Go: `server.Start`).
///
/// # Errors
///
/// The errors of [`Server::bind`] and [`Server::serve`].
pub async fn start(options: &Options, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Server::bind(options).await?.serve(shutdown).await
}
