//! Timeouts and the connection limit, over real connections on 127.0.0.1.
//!
//! These are behaviour tests with deadlines: each asserts that a connection is closed (or
//! served) within a window wide enough for a loaded 2-core machine, and fails when the
//! rule it names is missing (the connection would stay open for the default 60 s, or
//! forever).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    num::NonZeroUsize,
    time::{Duration, Instant},
};

use common::{pattern, read_until_closed, root_with, start_with};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const ONE: NonZeroUsize = NonZeroUsize::MIN;

/// Reads one response that fits in one read (a small file).
async fn read_small_response(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("no response within 5 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn the_header_timeout_is_one_deadline_for_the_whole_head() {
    let root = root_with(&[]);
    let limit = Duration::from_millis(200);
    let server = start_with(root.path(), |s| s.with_header_read_timeout(limit)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // A byte every 50 ms, for up to 3 s: a per-read timeout would never fire.
    let trickle = tokio::spawn(async move {
        let head = b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for byte in head {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let closed = read_until_closed(&mut reader, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    let received = closed.expect("the trickling client was never disconnected");
    assert!(received.is_empty(), "{:?}", String::from_utf8_lossy(&received));
    assert!(
        elapsed >= limit - Duration::from_millis(10) && elapsed < Duration::from_millis(1500),
        "closed after {elapsed:?}, the limit is {limit:?}"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_first_byte_timeout() {
    let root = root_with(&[]);
    let limit = Duration::from_millis(200);
    // The idle timeout stays at its 60 s default: only the first-byte rule can close.
    let server = start_with(root.path(), |s| s.with_first_byte_timeout(limit)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let closed = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert_eq!(closed.as_deref(), Some(&b""[..]), "still open after 5 s");
    assert!(
        elapsed >= limit - Duration::from_millis(10) && elapsed < Duration::from_millis(1500),
        "closed after {elapsed:?}, the limit is {limit:?}"
    );
}

#[tokio::test]
async fn the_first_byte_timeout_does_not_cut_kept_alive_connections() {
    let root = root_with(&[("a.tar.gz", b"abc")]);
    let server = start_with(root.path(), |s| {
        s.with_first_byte_timeout(Duration::from_millis(100))
            .with_idle_timeout(Duration::from_secs(30))
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let text = read_small_response(&mut stream).await;
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("abc"),
            "{text}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    let root = root_with(&[("a.tar.gz", b"x")]);
    let limit = Duration::from_millis(200);
    let server = start_with(root.path(), |s| s.with_idle_timeout(limit)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_small_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let rest = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(rest.as_deref(), Some(&b""[..]), "the idle connection stayed open");
    assert!(started.elapsed() >= limit - Duration::from_millis(10));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_by_the_idle_rule() {
    let content = pattern(32 << 20);
    let root = root_with(&[("big.tar.gz", &content)]);
    let server = start_with(root.path(), |s| s.with_idle_timeout(Duration::from_millis(200))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Stop reading long enough for the socket buffers to fill and the server's writes to
    // stall past the idle timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the stalled download was never cut off");
    assert!(
        received.len() < content.len(),
        "the whole body arrived ({} bytes): the server waited for the stalled reader",
        received.len()
    );
}

#[tokio::test]
async fn a_request_with_a_body_is_answered_and_the_connection_closed() {
    let root = root_with(&[("a.tar.gz", b"x")]);
    let server = start_with(root.path(), |s| s).await;
    for (request, status) in [
        (
            &b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"[..],
            "400",
        ),
        (
            b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "400",
        ),
        (
            b"POST /a.tar.gz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            "405",
        ),
    ] {
        // No `Connection: close`: the server must close on its own.
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let received = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("kept open after {:?}", String::from_utf8_lossy(request)));
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    }
}

#[tokio::test]
async fn a_malformed_head_is_answered_and_the_connection_closed() {
    let root = root_with(&[]);
    let server = start_with(root.path(), |s| s).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("kept open after a malformed head");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "answered past the error: {text}"
    );
}

#[tokio::test]
async fn at_the_connection_limit_a_new_connection_waits_for_a_slot() {
    let root = root_with(&[("big.tar.gz", &pattern(32 << 20)), ("small.tar.gz", b"small")]);
    let server = start_with(root.path(), |s| s.with_max_connections(ONE)).await;
    // The only slot: a download the client does not read.
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(busy.read(&mut buf).await.unwrap() > 0);

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET /small.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");

    drop(busy);
    let text = read_small_response(&mut waiting).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("small"),
        "{text}"
    );
}

#[tokio::test]
async fn at_the_connection_limit_idle_keep_alive_connections_make_room() {
    let root = root_with(&[("a.tar.gz", b"abc")]);
    // Idle connections would otherwise hold their slot for 60 s.
    let server = start_with(root.path(), |s| s.with_max_connections(ONE)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_small_response(&mut idle).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("connection: close"), "{text}");

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_small_response(&mut waiting).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("abc"),
        "{text}"
    );
    assert_eq!(
        read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .as_deref(),
        Some(&b""[..]),
        "the idle connection was not closed"
    );
}

#[tokio::test]
async fn responses_say_connection_close_while_a_client_waits() {
    let root = root_with(&[("big.tar.gz", &pattern(32 << 20)), ("small.tar.gz", b"small")]);
    let server = start_with(root.path(), |s| s.with_max_connections(ONE)).await;
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(
        b"GET /big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\nGET /small.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let mut first = vec![0u8; 1024];
    let n = busy.read(&mut first).await.unwrap();
    assert!(!String::from_utf8_lossy(&first[..n]).contains("connection: close"));

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET /small.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = read_until_closed(&mut busy, Duration::from_secs(10))
        .await
        .expect("the busy connection stayed open");
    let last = rest
        .windows(8)
        .rposition(|w| w == b"HTTP/1.1")
        .expect("no second response");
    let second = String::from_utf8_lossy(&rest[last..]);
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(second.contains("connection: close"), "{second}");
    assert!(second.ends_with("small"), "{second}");
    let text = read_small_response(&mut waiting).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("small"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stalled_reader_gives_its_slot_back_at_the_idle_timeout() {
    let root = root_with(&[("big.tar.gz", &pattern(32 << 20)), ("small.tar.gz", b"small")]);
    let server = start_with(root.path(), |s| {
        s.with_max_connections(ONE)
            .with_idle_timeout(Duration::from_millis(300))
    })
    .await;
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"GET /big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(stalled.read(&mut buf).await.unwrap() > 0);

    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET /small.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_small_response(&mut waiting).await;
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("small"),
        "{text}"
    );
    drop(stalled);
}

#[tokio::test]
async fn at_the_connection_limit_silent_new_connections_make_room_after_a_grace() {
    let root = root_with(&[("a.tar.gz", b"abc")]);
    // Only the grace (1 s) can free the slot before the 30 s first-byte timeout.
    let server = start_with(root.path(), |s| {
        s.with_max_connections(ONE)
            .with_first_byte_timeout(Duration::from_secs(30))
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let connected = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting
        .write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_small_response(&mut waiting).await;
    let waited = connected.elapsed();
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("abc"),
        "{text}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "the silent connection lost its slot after {waited:?}"
    );
    assert_eq!(
        read_until_closed(&mut silent, Duration::from_secs(5))
            .await
            .as_deref(),
        Some(&b""[..])
    );
}
