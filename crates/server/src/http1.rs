//! One HTTP/1.1 connection: read a request head, answer it, repeat while the
//! connection is kept alive.
//!
//! The server needs a small part of HTTP/1.1 (`GET` and `HEAD` without request bodies),
//! and it needs to hand files to the kernel (`sendfile`), which a general HTTP library's
//! body abstraction cannot do. Request heads are parsed by `httparse`, the parser hyper
//! uses; everything this server does not accept is answered with an error and the
//! connection closed, so the stream never has to be resynchronised.

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::{
    io::AsyncReadExt,
    net::TcpStream,
    sync::{OwnedSemaphorePermit, watch},
    time::timeout,
};

use crate::{
    body::{Body, send_file, write_all},
    handler::{Files, Reply, handle, method_not_allowed},
};

/// The largest request head accepted; larger ones get 431.
const MAX_HEAD: usize = 16 * 1024;
/// The most header fields accepted; more get 431.
const MAX_HEADERS: usize = 64;
/// Bodies this small are sent in the same write as the head.
const COALESCE_MAX: usize = 16 * 1024;

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
}

/// What the accept loop asks of connections that are between requests. Ordered by how
/// many connections it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pressure {
    /// Serve as usual.
    None,
    /// Every slot is taken and a client waits: kept-alive connections close instead of
    /// waiting for another request, and responses say `Connection: close`.
    ClientWaiting,
    /// Shutting down: every connection closes once its response is sent, and at once if
    /// it is between requests.
    ShuttingDown,
}

/// A parsed request head.
struct Head {
    method: Method,
    target: String,
    http10: bool,
    headers: HeaderMap,
    /// Bytes of the buffer the head took.
    len: usize,
}

/// Why no request head could be read.
enum HeadError {
    /// The connection closed, timed out or failed, or shutdown began while idle:
    /// nothing to answer.
    Gone,
    /// Malformed: answered 400, then closed.
    Malformed,
    /// Too long or too many fields: answered 431, then closed.
    TooLarge,
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
    let timeouts = shared.timeouts;
    let mut buffer: Vec<u8> = Vec::with_capacity(4096);
    let mut served = 0u64;
    loop {
        let wait = if served == 0 {
            Wait::FirstRequest
        } else {
            Wait::KeptAlive
        };
        let head = match read_head(&mut stream, &mut buffer, timeouts, wait, &mut pressure).await {
            Ok(head) => head,
            Err(HeadError::Gone) => return,
            Err(HeadError::Malformed) => {
                let reply = Reply::text(StatusCode::BAD_REQUEST, "bad request\n", false);
                if write_reply(&mut stream, reply, true, timeouts.idle).await.is_ok() {
                    linger_close(stream).await;
                }
                return;
            }
            Err(HeadError::TooLarge) => {
                let reply = Reply::text(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "request head too large\n",
                    false,
                );
                if write_reply(&mut stream, reply, true, timeouts.idle).await.is_ok() {
                    linger_close(stream).await;
                }
                return;
            }
        };
        served += 1;
        buffer.drain(..head.len);
        let started = Instant::now();
        let has_body = head.headers.contains_key(header::TRANSFER_ENCODING)
            || head
                .headers
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0));
        let reply = if head.method != Method::GET && head.method != Method::HEAD {
            method_not_allowed()
        } else if has_body {
            Reply::text(
                StatusCode::BAD_REQUEST,
                "bad request: GET and HEAD requests have no body\n",
                false,
            )
        } else {
            handle(&head.method, &head.target, &head.headers, &shared.files)
        };
        // Requests with bodies are not read, so the stream cannot go on after them.
        let close = has_body || !keep_alive(&head) || *pressure.borrow() != Pressure::None;
        let (status, bytes) = (reply.status, reply.content_length());
        let sent = write_reply(&mut stream, reply, close, timeouts.idle).await;
        tracing::debug!(
            peer = %peer,
            method = %head.method,
            path = head.target,
            status = status.as_u16(),
            bytes,
            elapsed_us = started.elapsed().as_micros() as u64,
            "artifact request"
        );
        if let Err(e) = sent {
            tracing::debug!(peer = %peer, error = %e, "response not completed");
            return;
        }
        if close {
            linger_close(stream).await;
            return;
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

fn keep_alive(head: &Head) -> bool {
    let connection = head
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let tokens: Vec<String> = connection
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    if head.http10 {
        tokens.iter().any(|t| t == "keep-alive")
    } else {
        !tokens.iter().any(|t| t == "close")
    }
}

/// Which wait comes before a request's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A new connection: the first-byte timeout; closed early only at shutdown.
    FirstRequest,
    /// A kept-alive connection: the idle timeout; closed early when a client waits for a
    /// slot, or at shutdown.
    KeptAlive,
}

async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    timeouts: Timeouts,
    wait: Wait,
    pressure: &mut watch::Receiver<Pressure>,
) -> Result<Head, HeadError> {
    let mut head_started: Option<Instant> = (!buffer.is_empty()).then(Instant::now);
    loop {
        if !buffer.is_empty() {
            if let Some(head) = parse_head(buffer)? {
                return Ok(head);
            }
            if buffer.len() >= MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
        }
        buffer.reserve(4096);
        let read = match head_started {
            // Before the first byte of a request. Bytes already sent are read before
            // the pressure is looked at, so a request that has arrived is answered.
            None => {
                let (limit, yield_at) = match wait {
                    Wait::FirstRequest => (timeouts.first_byte, Pressure::ShuttingDown),
                    Wait::KeptAlive => (timeouts.idle, Pressure::ClientWaiting),
                };
                tokio::select! {
                    biased;
                    read = timeout(limit, stream.read_buf(buffer)) => read,
                    _ = pressure.wait_for(|pressure| *pressure >= yield_at) => return Err(HeadError::Gone),
                }
            }
            // Inside a head: the whole head must arrive within the header timeout.
            Some(started) => {
                let left = timeouts.header_read.saturating_sub(started.elapsed());
                timeout(left, stream.read_buf(buffer)).await
            }
        };
        match read {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Err(HeadError::Gone),
            Ok(Ok(_)) => {
                head_started.get_or_insert_with(Instant::now);
            }
        }
    }
}

/// Parses a complete head at the start of `buffer`; `None` if it is incomplete.
fn parse_head(buffer: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let method = request
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .ok_or(HeadError::Malformed)?;
    let target = request.path.ok_or(HeadError::Malformed)?.to_owned();
    let http10 = request.version == Some(0);
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| HeadError::Malformed)?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        method,
        target,
        http10,
        headers,
        len,
    }))
}

/// Writes the status line, headers and body.
async fn write_reply(stream: &mut TcpStream, reply: Reply, close: bool, idle: Duration) -> io::Result<()> {
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
    if close {
        head.extend_from_slice(b"connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    match reply.body {
        Body::Empty => write_all(stream, &head, idle).await,
        Body::Bytes(bytes) if bytes.len() <= COALESCE_MAX => {
            head.extend_from_slice(&bytes);
            write_all(stream, &head, idle).await
        }
        Body::Bytes(bytes) => {
            write_all(stream, &head, idle).await?;
            write_all(stream, &bytes, idle).await
        }
        Body::File { file, offset, len } => send_file(stream, &head, &file, offset, len, idle).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Ok(Some(head)) => head,
            _ => panic!("{text:?} did not parse"),
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        assert!(keep_alive(&head("GET / HTTP/1.1\r\n\r\n")));
        assert!(!keep_alive(&head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")));
        assert!(!keep_alive(&head("GET / HTTP/1.0\r\n\r\n")));
        assert!(keep_alive(&head(
            "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        )));
    }

    #[test]
    fn incomplete_heads_wait_for_more_and_garbage_is_malformed() {
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None)));
        assert!(matches!(
            parse_head(b"\x00\x01garbage\r\n\r\n"),
            Err(HeadError::Malformed)
        ));
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(matches!(
            parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(HeadError::TooLarge)
        ));
    }
}
