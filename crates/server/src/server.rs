//! [`Server`]: binding, the accept loop and graceful shutdown.

use std::{
    future::Future,
    net::SocketAddr,
    num::NonZeroUsize,
    sync::Arc,
    time::{Duration, Instant},
};

use cap_std::{ambient_authority, fs::Dir};
use flux_artifact_config::Options;
use tokio::{
    net::{TcpListener, TcpSocket},
    sync::{Semaphore, watch},
    task::JoinSet,
};

use crate::{
    Error,
    handler::Files,
    http1::{Pressure, Shared, Timeouts, serve_connection},
    telemetry::Telemetry,
};

/// How long in-flight responses may take to finish after shutdown starts, as in Go.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to send a request's headers, from their first byte.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may go without a byte read or written before it is
/// closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new connection may take to send the first byte of its first request.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many connections are served at once.
///
/// Each connection holds a task, a 4 KiB buffer and two file descriptors while it sends
/// a file (its socket and the file): 512 connections stay within the common soft limit
/// of 1,024 descriptors with room for the rest of the process, and far above what Flux's
/// consumers open (a few per controller replica).
pub const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = match NonZeroUsize::new(512) {
    Some(limit) => limit,
    None => NonZeroUsize::MIN,
};

/// Connections the kernel completes and queues for the server while it does not accept
/// (at the connection limit): a queue longer than the 128 of `std` and Tokio, like Go's
/// listeners, which take the system's maximum. Linux caps it at
/// `net.core.somaxconn` (4096 by default). Beyond the queue, the kernel ignores new
/// connection attempts and clients retransmit them.
const LISTEN_BACKLOG: u32 = 4096;

/// How often, at most, reaching the connection limit is logged at `warn` level.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

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
    files: Files,
    timeouts: Timeouts,
    max_connections: NonZeroUsize,
    shutdown_timeout: Duration,
    telemetry: Telemetry,
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
        let listener = listen(address).map_err(|source| Error::Bind {
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
            files: Files { root },
            timeouts: Timeouts {
                first_byte: DEFAULT_FIRST_BYTE_TIMEOUT,
                header_read: DEFAULT_HEADER_READ_TIMEOUT,
                idle: DEFAULT_IDLE_TIMEOUT,
            },
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            telemetry: Telemetry::default(),
        })
    }

    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets how long a client may take to send a request's headers, counted from their
    /// first byte to the blank line that ends them (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]). It is one deadline for the whole head, not a
    /// limit per read: a client that trickles a byte at a time is disconnected when it
    /// passes, which defeats slowloris attacks. Nothing is answered; the connection is
    /// closed.
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.header_read = timeout;
        self
    }

    /// Sets how long a new connection may take to send the first byte of its first
    /// request (default [`DEFAULT_FIRST_BYTE_TIMEOUT`]); then it is closed without an
    /// answer. HTTP clients write their request as soon as the connection is open, so
    /// only idle or half-open connections wait this long: keep it shorter than the idle
    /// timeout, so that they cannot hold connection slots for as long as kept-alive
    /// clients may.
    #[must_use]
    pub fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.first_byte = timeout;
        self
    }

    /// Sets how long a connection may transfer nothing before it is closed (default
    /// [`DEFAULT_IDLE_TIMEOUT`]): kept-alive connections between requests, and clients
    /// that stop reading a response (each write must make progress within it).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = timeout;
        self
    }

    /// Sets how many connections are served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]).
    ///
    /// At the limit the server accepts one more connection and holds it, unread, until
    /// a slot frees; further connections wait in the kernel's listen queue (4,096 long,
    /// or `net.core.somaxconn` if lower), and beyond it the kernel ignores connection
    /// attempts, which clients retransmit. While a client waits, slots are freed for it:
    /// kept-alive connections between requests close, connections that have sent nothing
    /// for a second close (clients send their request at once, so these are idle or
    /// half-open), and responses say `Connection: close`.
    ///
    /// Nothing is refused with an error status. Flux's HTTP client (go-retryablehttp)
    /// waits at least 5 s before retrying a 503, and has no timeout on a response, so a
    /// client held in the queue is served sooner than one turned away; and the process
    /// never holds more than the limit (plus the one held) of descriptors, tasks and
    /// buffers, whatever the number of clients.
    #[must_use]
    pub fn with_max_connections(mut self, limit: NonZeroUsize) -> Self {
        self.max_connections = limit;
        self
    }

    /// Reports requests, bytes, connections and latency to `metrics` (feature
    /// `metrics`; the series are listed on [`ServerMetrics`](crate::ServerMetrics)).
    /// Without this call nothing is measured.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn with_metrics(mut self, metrics: crate::ServerMetrics) -> Self {
        self.telemetry.metrics = Some(metrics);
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
            local_addr,
            files,
            timeouts,
            max_connections,
            shutdown_timeout,
            telemetry,
        } = self;
        tracing::info!(address = %local_addr, max_connections, "artifact server listening");
        let shared = Arc::new(Shared {
            files,
            timeouts,
            telemetry,
        });
        let slots = Arc::new(Semaphore::new(max_connections.get().min(Semaphore::MAX_PERMITS)));
        let (pressure, pressure_signal) = watch::channel(Pressure::None);
        let mut last_limit_warning: Option<Instant> = None;
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        'accept: loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let slot = match slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    // Every slot is taken and a client waits: ask idle connections to
                    // make room, and hold this one (unread) until a slot frees. Others
                    // wait in the kernel's backlog meanwhile.
                    if last_limit_warning.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_INTERVAL) {
                        last_limit_warning = Some(Instant::now());
                        tracing::warn!(
                            max_connections,
                            "connection limit reached: new connections wait until one closes"
                        );
                    }
                    shared.telemetry.limit_reached();
                    pressure.send_replace(Pressure::ClientWaiting);
                    let slot = loop {
                        tokio::select! {
                            () = &mut shutdown => break 'accept,
                            Some(_) = connections.join_next(), if !connections.is_empty() => {}
                            slot = slots.clone().acquire_owned() => match slot {
                                Ok(slot) => break slot,
                                // The semaphore is never closed.
                                Err(_) => break 'accept,
                            },
                        }
                    };
                    pressure.send_replace(Pressure::None);
                    slot
                }
            };
            let _ = stream.set_nodelay(true);
            let (shared, pressure_signal) = (shared.clone(), pressure_signal.clone());
            connections.spawn(serve_connection(stream, peer, shared, pressure_signal, slot));
        }
        drop(listener);
        tracing::info!(address = %local_addr, "artifact server shutting down");
        // Idle connections close at once; busy ones finish their response first.
        pressure.send_replace(Pressure::ShuttingDown);
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

/// A listening socket on `address` with [`LISTEN_BACKLOG`], reusing the address as
/// `TcpListener::bind` does (so that a restarted server can bind while connections of
/// the previous one linger in TIME_WAIT).
fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Binds and serves until `shutdown` completes (Go: `server.Start`).
///
/// # Errors
///
/// The errors of [`Server::bind`] and [`Server::serve`].
pub async fn start(options: &Options, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Server::bind(options).await?.serve(shutdown).await
}
