//! One HTTP/1.1 connection: read a request head, answer it, repeat while the
//! connection is kept alive.
//!
//! The server needs a small part of HTTP/1.1 (`GET` and `HEAD` without request bodies),
//! and it needs to hand files to the kernel (`sendfile`), which a general HTTP library's
//! body abstraction cannot do. Request heads are parsed in [`crate::head`]; everything
//! this server does not accept is answered with an error and the connection closed, so
//! the stream never has to be resynchronised.

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use http::{Method, StatusCode};
use tokio::{
    io::AsyncReadExt,
    net::TcpStream,
    sync::{OwnedSemaphorePermit, watch},
    time::timeout,
};

use crate::{
    body::{Body, send_file, write_all},
    handler::{Files, Reply, handle, method_not_allowed},
    head::{Head, HeadError, MAX_HEAD, may_end_head, parse_head},
    telemetry::{RequestGuard, Telemetry},
};

/// Bodies this small are sent in the same write as the head.
const COALESCE_MAX: usize = 16 * 1024;
/// How long a new connection that has sent nothing keeps its slot while a client waits
/// for one. Clients send their request as soon as they connect, so a connection still
/// silent after this is most likely half-open; without the grace, a burst of them would
/// hold every slot for the whole first-byte timeout.
const FIRST_BYTE_GRACE: Duration = Duration::from_secs(1);

/// Connection timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From accepting a connection to the first byte of its first request.
    pub(crate) first_byte: Duration,
    /// From the first byte of a request head to its end.
    pub(crate) header_read: Duration,
    /// Without a byte read or written (between requests, and while writing).
    pub(crate) idle: Duration,
}

/// What every connection of a server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) files: Files,
    pub(crate) timeouts: Timeouts,
    pub(crate) telemetry: Telemetry,
}

/// What the accept loop asks of connections that are between requests. Ordered by how
/// many connections it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pressure {
    /// Serve as usual.
    None,
    /// Every slot is taken and a client waits: kept-alive connections close instead of
    /// waiting for another request, new connections too once they have been silent for
    /// [`FIRST_BYTE_GRACE`], and responses say `Connection: close`.
    ClientWaiting,
    /// Shutting down: every connection closes once its response is sent, and at once if
    /// it is between requests.
    ShuttingDown,
}

/// What a response says about its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persistence {
    /// Kept, and HTTP/1.1 needs no header to say so.
    KeepAlive,
    /// Kept for an HTTP/1.0 client, which must be told (`Connection: keep-alive`).
    KeepAliveHttp10,
    /// Closed after this response (`Connection: close`).
    Close,
}

/// Serves requests on `stream` until the client closes, a timeout passes, an error
/// occurs, or the accept loop's `pressure` asks the connection to close while it is
/// between requests. `_slot` is this connection's place under the connection limit,
/// given back when it ends (or is aborted).
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut pressure: watch::Receiver<Pressure>,
    _slot: OwnedSemaphorePermit,
) {
    let _connection = shared.telemetry.connection();
    let timeouts = shared.timeouts;
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut wait = Wait::FirstRequest {
        accepted: tokio::time::Instant::now(),
    };
    loop {
        let read = read_head(&mut stream, &mut buffer, timeouts, wait, &mut pressure).await;
        wait = Wait::KeptAlive;
        let started = Instant::now();
        let head = match read {
            Ok(head) => head,
            Err(refused) => {
                // Nothing to answer when the client went away or timed out.
                let Some(status) = refused.status() else { return };
                let request = shared.telemetry.request();
                let text = match refused {
                    HeadError::TooLarge => "request head too large\n",
                    _ => "bad request\n",
                };
                let exchange = Exchange {
                    peer,
                    method: None,
                    target: "-",
                    started,
                };
                let reply = Reply::text(status, text, false);
                let sent = respond(
                    &mut stream,
                    exchange,
                    reply,
                    Persistence::Close,
                    timeouts.idle,
                    &request,
                )
                .await;
                drop(request);
                if sent {
                    linger_close(stream).await;
                }
                return;
            }
        };
        let request = shared.telemetry.request();
        buffer.drain(..head.len);
        let refusal = head.framing_error();
        let reply = if head.method != Method::GET && head.method != Method::HEAD {
            method_not_allowed()
        } else if let Some(reason) = refusal {
            Reply::text(
                StatusCode::BAD_REQUEST,
                &format!("bad request: {reason}\n"),
                false,
            )
        } else {
            handle(&head.method, &head.target, &head.headers, &shared.files)
        };
        let persistence = persistence(&head, refusal.is_some(), *pressure.borrow());
        let exchange = Exchange {
            peer,
            method: Some(&head.method),
            target: &head.target,
            started,
        };
        let sent = respond(&mut stream, exchange, reply, persistence, timeouts.idle, &request).await;
        drop(request);
        if !sent {
            return;
        }
        if persistence == Persistence::Close {
            linger_close(stream).await;
            return;
        }
    }
}

/// Whether the connection goes on after answering `head`. A request whose framing was
/// refused left bytes on the stream that cannot be told apart from the next request.
fn persistence(head: &Head, refused: bool, pressure: Pressure) -> Persistence {
    if refused || !head.keep_alive() || pressure != Pressure::None {
        Persistence::Close
    } else if head.http10 {
        Persistence::KeepAliveHttp10
    } else {
        Persistence::KeepAlive
    }
}

/// A request as logged.
struct Exchange<'a> {
    peer: SocketAddr,
    /// `None` for a head that could not be parsed.
    method: Option<&'a Method>,
    target: &'a str,
    started: Instant,
}

/// Sends `reply`, then logs and counts it; whether the connection can go on.
async fn respond(
    stream: &mut TcpStream,
    exchange: Exchange<'_>,
    reply: Reply,
    persistence: Persistence,
    idle: Duration,
    request: &RequestGuard<'_>,
) -> bool {
    let status = reply.status;
    let mut sent = 0;
    let result = write_reply(stream, reply, persistence, idle, &mut sent).await;
    let elapsed = exchange.started.elapsed();
    request.response(exchange.method, status, sent, elapsed);
    tracing::debug!(
        peer = %exchange.peer,
        method = exchange.method.map_or("-", Method::as_str),
        target = exchange.target,
        status = status.as_u16(),
        bytes = sent,
        elapsed_us = elapsed.as_micros() as u64,
        "artifact request"
    );
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(peer = %exchange.peer, error = %e, "response not completed");
            false
        }
    }
}

/// Bytes read and dropped, at most, while closing.
const LINGER_BYTES: usize = 256 * 1024;
/// How long a close waits for the client's unread input, at most.
const LINGER_TIME: Duration = Duration::from_secs(1);

/// Closes after sending a FIN and reading (briefly) what the client still sends, so that
/// unread input does not make the kernel reset the connection before the client has
/// read the response.
async fn linger_close(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Which wait comes before a request's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A new connection, accepted at `accepted`: the first-byte timeout; closed early at
    /// shutdown, or when a client waits for a slot and [`FIRST_BYTE_GRACE`] has passed.
    FirstRequest { accepted: tokio::time::Instant },
    /// A kept-alive connection: the idle timeout; closed early when a client waits for a
    /// slot, or at shutdown.
    KeptAlive,
}

impl Wait {
    fn limit(self, timeouts: Timeouts) -> Duration {
        match self {
            Wait::FirstRequest { .. } => timeouts.first_byte,
            Wait::KeptAlive => timeouts.idle,
        }
    }

    /// Completes when the accept loop's pressure asks this waiting connection to close.
    async fn give_way(self, pressure: &mut watch::Receiver<Pressure>) {
        let grace_end = match self {
            Wait::KeptAlive => {
                let _ = pressure.wait_for(|p| *p >= Pressure::ClientWaiting).await;
                return;
            }
            Wait::FirstRequest { accepted } => accepted + FIRST_BYTE_GRACE,
        };
        loop {
            let now = match pressure.wait_for(|p| *p != Pressure::None).await {
                Ok(pressure) => *pressure,
                Err(_) => return,
            };
            if now == Pressure::ShuttingDown || tokio::time::Instant::now() >= grace_end {
                return;
            }
            // A client waits, but the grace runs: look again when it ends, unless
            // shutdown comes first.
            tokio::select! {
                () = tokio::time::sleep_until(grace_end) => {}
                _ = pressure.wait_for(|p| *p == Pressure::ShuttingDown) => return,
            }
        }
    }
}

/// Reads until `buffer` starts with a complete head (bytes of pipelined requests after
/// it stay in the buffer for the next call).
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    timeouts: Timeouts,
    wait: Wait,
    pressure: &mut watch::Receiver<Pressure>,
) -> Result<Head, HeadError> {
    let mut head_started: Option<Instant> = (!buffer.is_empty()).then(Instant::now);
    // Parse what is buffered (a pipelined request, or the first bytes of one, which may
    // be garbage to refuse at once); after that only when a read brings a possible end
    // of the head, so that a head trickled a byte at a time costs one parse, not one
    // per byte.
    let mut worth_parsing = true;
    loop {
        if worth_parsing
            && !buffer.is_empty()
            && let Some(head) = parse_head(buffer)?
        {
            return Ok(head);
        }
        if buffer.len() >= MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        buffer.reserve(4096);
        let before = buffer.len();
        let read = match head_started {
            // Before the first byte of a request. Bytes already sent are read before
            // the pressure is looked at, so a request that has arrived is answered.
            None => {
                tokio::select! {
                    biased;
                    read = timeout(wait.limit(timeouts), stream.read_buf(buffer)) => read,
                    () = wait.give_way(pressure) => return Err(HeadError::Gone),
                }
            }
            // Inside a head: the whole head must arrive within the header timeout,
            // however the client spreads it over reads.
            Some(started) => {
                let left = timeouts.header_read.saturating_sub(started.elapsed());
                timeout(left, stream.read_buf(buffer)).await
            }
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(HeadError::Gone),
            Ok(Ok(_)) => {
                head_started.get_or_insert_with(Instant::now);
                worth_parsing = before == 0 || may_end_head(buffer, before);
            }
        }
    }
}

/// Writes the status line, headers and body; `sent` counts the body bytes written, also
/// when writing fails part way.
async fn write_reply(
    stream: &mut TcpStream,
    reply: Reply,
    persistence: Persistence,
    idle: Duration,
    sent: &mut u64,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(reply.status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(reply.status.canonical_reason().unwrap_or("Unknown").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in &reply.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"date: ");
    head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\n");
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => head.extend_from_slice(b"connection: keep-alive\r\n"),
        Persistence::Close => head.extend_from_slice(b"connection: close\r\n"),
    }
    head.extend_from_slice(b"\r\n");
    match reply.body {
        Body::Empty => write_all(stream, &head, idle).await,
        Body::Bytes(bytes) if bytes.len() <= COALESCE_MAX => {
            head.extend_from_slice(&bytes);
            write_all(stream, &head, idle).await?;
            *sent = bytes.len() as u64;
            Ok(())
        }
        Body::Bytes(bytes) => {
            write_all(stream, &head, idle).await?;
            write_all(stream, &bytes, idle).await?;
            *sent = bytes.len() as u64;
            Ok(())
        }
        Body::File { file, offset, len } => send_file(stream, &head, &file, offset, len, idle, sent).await,
    }
}
