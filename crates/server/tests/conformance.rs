//! HTTP/1.1 conformance over raw connections: what RFC 9110 and 9112 ask of a file
//! server for HEAD, ranges, conditional requests and connection management. Requests
//! are pipelined on one connection where that proves the framing: a stray body byte
//! would corrupt the next response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Reply, exchange, read_until_closed, root_with, split_responses, start};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const CONTENT: &[u8] = b"0123456789";

/// A request line and headers, HTTP/1.1 with a Host.
fn req(method: &str, target: &str, fields: &[&str]) -> String {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n");
    for field in fields {
        text.push_str(field);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

/// The last request of a pipeline: makes the server close after answering.
fn last(method: &str, target: &str, fields: &[&str]) -> String {
    let mut with_close = fields.to_vec();
    with_close.push("Connection: close");
    req(method, target, &with_close)
}

async fn pipeline(addr: std::net::SocketAddr, requests: &[String], methods: &[&str]) -> Vec<Reply> {
    let raw = exchange(addr, requests.concat().as_bytes()).await;
    let replies = split_responses(&raw, methods);
    assert_eq!(replies.len(), requests.len(), "{replies:?}");
    replies
}

async fn etag_of(addr: std::net::SocketAddr, target: &str) -> (String, String) {
    let replies = pipeline(addr, &[last("HEAD", target, &[])], &["HEAD"]).await;
    (
        replies[0].headers["etag"].clone(),
        replies[0].headers["last-modified"].clone(),
    )
}

#[tokio::test]
async fn head_responses_have_no_body_whatever_the_status() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    let (etag, _) = etag_of(server.addr, "/k/a.tar.gz").await;
    let inm = format!("If-None-Match: {etag}");
    let requests = [
        req("HEAD", "/k/a.tar.gz", &[]),
        req("HEAD", "/k/a.tar.gz", &["Range: bytes=2-4"]),
        req("HEAD", "/k/a.tar.gz", &["Range: bytes=50-"]),
        req("HEAD", "/k/a.tar.gz", &[&inm]),
        req("HEAD", "/k/missing.tar.gz", &[]),
        req("HEAD", "/../x", &[]),
        req("HEAD", "/", &[]),
        last("GET", "/k/a.tar.gz", &[]),
    ];
    let methods = ["HEAD", "HEAD", "HEAD", "HEAD", "HEAD", "HEAD", "HEAD", "GET"];
    let replies = pipeline(server.addr, &requests, &methods).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 206, 416, 304, 404, 400, 200, 200]);
    // Lengths are those a GET would have, and the final GET's body is intact: no HEAD
    // answer sent a byte of body.
    assert_eq!(replies[0].headers["content-length"], "10");
    assert_eq!(replies[1].headers["content-length"], "3");
    assert_eq!(replies[1].headers["content-range"], "bytes 2-4/10");
    assert_eq!(replies[7].body, CONTENT);
}

#[tokio::test]
async fn range_edge_cases() {
    let root = root_with(&[("k/a.tar.gz", CONTENT), ("k/empty.tar.gz", b"")]);
    let server = start(root.path()).await;
    // (range, status, content-range, body)
    let cases: &[(&str, u16, Option<&str>, &[u8])] = &[
        ("bytes=0-0", 206, Some("bytes 0-0/10"), b"0"),
        ("bytes=9-9", 206, Some("bytes 9-9/10"), b"9"),
        ("bytes=-1", 206, Some("bytes 9-9/10"), b"9"),
        ("bytes=0-", 206, Some("bytes 0-9/10"), CONTENT),
        ("bytes=-10", 206, Some("bytes 0-9/10"), CONTENT),
        ("bytes=-100", 206, Some("bytes 0-9/10"), CONTENT),
        ("bytes=5-1000", 206, Some("bytes 5-9/10"), b"56789"),
        ("bytes=10-", 416, Some("bytes */10"), b""),
        ("bytes=10-20", 416, Some("bytes */10"), b""),
        ("bytes=-0", 416, Some("bytes */10"), b""),
        // Syntactically invalid, multiple or foreign ranges are ignored: the whole file.
        ("bytes=5-4", 200, None, CONTENT),
        ("bytes=0-1,3-4", 200, None, CONTENT),
        ("bytes=a-", 200, None, CONTENT),
        ("bytes=1-2-3", 200, None, CONTENT),
        ("bytes=-", 200, None, CONTENT),
        ("bytes=+1-2", 200, None, CONTENT),
        ("bytes=0-99999999999999999999999", 200, None, CONTENT),
        ("lines=0-1", 200, None, CONTENT),
        ("bytes 0-1", 200, None, CONTENT),
    ];
    let mut requests: Vec<String> = cases
        .iter()
        .map(|(range, ..)| req("GET", "/k/a.tar.gz", &[&format!("Range: {range}")]))
        .collect();
    requests.push(req("GET", "/k/empty.tar.gz", &["Range: bytes=0-"]));
    requests.push(last("GET", "/k/empty.tar.gz", &[]));
    let replies = pipeline(server.addr, &requests, &[]).await;
    for ((range, status, content_range, body), reply) in cases.iter().zip(&replies) {
        assert_eq!(reply.status, *status, "{range}");
        assert_eq!(
            reply.headers.get("content-range").map(String::as_str),
            *content_range,
            "{range}"
        );
        assert_eq!(reply.body, *body, "{range}");
        assert_eq!(reply.headers["content-length"], body.len().to_string(), "{range}");
    }
    let n = cases.len();
    assert_eq!(replies[n].status, 416, "a range of an empty file");
    assert_eq!(replies[n].headers["content-range"], "bytes */0");
    assert_eq!((replies[n + 1].status, replies[n + 1].body.len()), (200, 0));
}

#[tokio::test]
async fn if_range_decides_between_the_range_and_the_whole_file() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    let (etag, modified) = etag_of(server.addr, "/k/a.tar.gz").await;
    let weak = format!("If-Range: W/{etag}");
    let requests = [
        req(
            "GET",
            "/k/a.tar.gz",
            &["Range: bytes=0-1", &format!("If-Range: {etag}")],
        ),
        req(
            "GET",
            "/k/a.tar.gz",
            &["Range: bytes=0-1", &format!("If-Range: {modified}")],
        ),
        req("GET", "/k/a.tar.gz", &["Range: bytes=0-1", &weak]),
        req("GET", "/k/a.tar.gz", &["Range: bytes=0-1", "If-Range: \"other\""]),
        last(
            "GET",
            "/k/a.tar.gz",
            &["Range: bytes=0-1", "If-Range: Mon, 01 Jan 1990 00:00:00 GMT"],
        ),
    ];
    let statuses: Vec<u16> = pipeline(server.addr, &requests, &[])
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    // A weak tag never validates a range (RFC 9110 §13.1.5).
    assert_eq!(statuses, [206, 206, 200, 200, 200]);
}

#[tokio::test]
async fn not_modified_rules() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    let (etag, modified) = etag_of(server.addr, "/k/a.tar.gz").await;
    let inm = format!("If-None-Match: {etag}");
    let ims = format!("If-Modified-Since: {modified}");
    let requests = [
        req("GET", "/k/a.tar.gz", &[&inm]),
        req(
            "GET",
            "/k/a.tar.gz",
            &[&format!("If-None-Match: \"x\", W/{etag}")],
        ),
        req("GET", "/k/a.tar.gz", &["If-None-Match: *"]),
        req("GET", "/k/a.tar.gz", &[&ims]),
        // If-None-Match present: If-Modified-Since is not looked at.
        req("GET", "/k/a.tar.gz", &["If-None-Match: \"stale\"", &ims]),
        req("GET", "/k/a.tar.gz", &["If-Modified-Since: yesterday"]),
        req(
            "GET",
            "/k/a.tar.gz",
            &["If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT"],
        ),
        // The precondition comes before the range.
        req("GET", "/k/a.tar.gz", &[&inm, "Range: bytes=0-1"]),
        last("GET", "/k/a.tar.gz", &[]),
    ];
    let replies = pipeline(server.addr, &requests, &[]).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [304, 304, 304, 304, 200, 200, 200, 304, 200]);
    for reply in replies.iter().filter(|r| r.status == 304) {
        assert!(reply.body.is_empty());
        assert_eq!(reply.headers["etag"], etag);
        assert_eq!(reply.headers["last-modified"], modified);
        assert!(!reply.headers.contains_key("content-type"), "{reply:?}");
        assert!(!reply.headers.contains_key("content-range"), "{reply:?}");
    }
    assert_eq!(replies[8].body, CONTENT);
}

#[tokio::test]
async fn connection_close_is_honoured_in_any_spelling() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    for value in ["close", "CLOSE", "Close", "keep-alive, close", "foo,close"] {
        // A second request behind it must not be answered.
        let raw = format!(
            "{}{}",
            req("GET", "/k/a.tar.gz", &[&format!("Connection: {value}")]),
            req("GET", "/k/a.tar.gz", &[])
        );
        let replies = split_responses(&exchange(server.addr, raw.as_bytes()).await, &[]);
        assert_eq!(replies.len(), 1, "{value}");
        assert_eq!(replies[0].headers["connection"], "close", "{value}");
        assert_eq!(replies[0].body, CONTENT);
    }
}

#[tokio::test]
async fn http_1_1_connections_stay_open_without_connection_close() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(req("GET", "/k/a.tar.gz", &[]).as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        let replies = split_responses(&buf[..n], &[]);
        assert_eq!(replies[0].body, CONTENT);
        assert!(!replies[0].headers.contains_key("connection"));
    }
}

#[tokio::test]
async fn http_1_0_closes_unless_keep_alive_is_asked_and_then_says_so() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    // Without keep-alive: one answer, then the connection closes.
    let raw = "GET /k/a.tar.gz HTTP/1.0\r\n\r\nGET /k/a.tar.gz HTTP/1.0\r\n\r\n";
    let replies = split_responses(&exchange(server.addr, raw.as_bytes()).await, &[]);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].headers["connection"], "close");

    // With keep-alive: the answer says so, and the connection serves the next request.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /k/a.tar.gz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        let replies = split_responses(&buf[..n], &[]);
        assert_eq!(replies[0].status, 200);
        assert_eq!(replies[0].headers["connection"], "keep-alive");
        assert_eq!(replies[0].body, CONTENT);
    }
    stream
        .write_all(b"GET /k/a.tar.gz HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let rest = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(split_responses(&rest, &[])[0].headers["connection"], "close");
}

#[tokio::test]
async fn every_answer_is_http_1_1_with_a_date_and_a_length() {
    let root = root_with(&[("k/a.tar.gz", CONTENT)]);
    let server = start(root.path()).await;
    let requests = [
        req("GET", "/", &[]),
        req("GET", "/k/a.tar.gz", &[]),
        req("GET", "/k/missing", &[]),
        req("GET", "/%zz", &[]),
        req("DELETE", "/k/a.tar.gz", &[]),
        last("GET", "/k/a.tar.gz", &["Range: bytes=99-"]),
    ];
    for reply in pipeline(server.addr, &requests, &[]).await {
        assert!(
            httpdate::parse_http_date(&reply.headers["date"]).is_ok(),
            "{reply:?}"
        );
        assert_eq!(reply.headers["content-length"], reply.body.len().to_string());
        assert!(!reply.headers.contains_key("content-encoding"));
        assert!(!reply.headers.contains_key("transfer-encoding"));
    }
}
