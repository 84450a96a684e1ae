//! Hostile request targets and heads, sent byte for byte over a raw `TcpStream`.
//!
//! The storage root sits beside a canary file (and a directory of them) holding a marker
//! unique to the run, with symlinks inside the root pointing at them. Every exchange
//! checks the status of every answer, and that the marker (or `/etc/passwd`) never
//! appears in a single byte the server sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    os::unix::fs::symlink,
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use common::{Reply, Running, exchange, split_responses, start};

/// A server over a root with escape routes, and the marker no answer may contain.
struct Fixture {
    server: Running,
    marker: String,
    top: PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().to_path_buf();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let marker = format!("CANARY-{}-{nanos}", std::process::id());
    let root = top.join("storage");
    // Beside the root: a canary file, one whose name extends the root's, and a directory.
    fs::write(top.join("canary.txt"), &marker).unwrap();
    fs::write(top.join("storage-canary.tar.gz"), &marker).unwrap();
    fs::create_dir_all(top.join("outside")).unwrap();
    fs::write(top.join("outside/secret.tar.gz"), &marker).unwrap();
    // Inside: artifacts, a directory literally named `%2e%2e`, and links out.
    fs::create_dir_all(root.join("k/ns/n")).unwrap();
    fs::write(root.join("k/ns/n/a.tar.gz"), b"inside-a").unwrap();
    fs::write(root.join("k/ns/n/b.tar.gz"), b"inside-b").unwrap();
    fs::create_dir_all(root.join("%2e%2e")).unwrap();
    fs::write(root.join("%2e%2e/x.tar.gz"), b"inside-x").unwrap();
    symlink("../outside", root.join("escape")).unwrap();
    symlink(top.join("outside"), root.join("abs")).unwrap();
    symlink(top.join("canary.txt"), root.join("k/ns/n/latest.tar.gz")).unwrap();
    symlink("../../../../canary.txt", root.join("k/ns/n/rel.tar.gz")).unwrap();
    symlink("../storage-canary.tar.gz", root.join("prefix.tar.gz")).unwrap();
    symlink("/etc/passwd", root.join("passwd")).unwrap();
    let server = start(&root).await;
    Fixture {
        server,
        marker,
        top,
        _dir: dir,
    }
}

impl Fixture {
    /// Sends `raw`, checks that nothing from outside the root came back, and splits the
    /// answers (`methods` as for [`split_responses`]).
    async fn send(&self, raw: &[u8], methods: &[&str]) -> Vec<Reply> {
        let received = exchange(self.server.addr, raw).await;
        let text = String::from_utf8_lossy(&received);
        assert!(
            !text.contains(&self.marker),
            "{:?} leaked a canary:\n{text}",
            String::from_utf8_lossy(raw)
        );
        assert!(
            !text.contains("root:x:0:0"),
            "{:?} leaked /etc/passwd",
            String::from_utf8_lossy(raw)
        );
        split_responses(&received, methods)
    }

    /// One request for `target` with `method`; its one answer.
    async fn one(&self, method: &str, target: &str) -> Reply {
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut replies = self.send(raw.as_bytes(), &[method]).await;
        assert_eq!(replies.len(), 1, "{method} {target}");
        replies.remove(0)
    }

    /// GET and HEAD of each target answer `status`, and HEAD sends no body.
    async fn expect(&self, status: u16, targets: &[&str]) {
        for target in targets {
            for method in ["GET", "HEAD"] {
                let reply = self.one(method, target).await;
                assert_eq!(reply.status, status, "{method} {target}");
            }
        }
    }

    /// A raw head sent alone: its one answer's status.
    async fn status_of(&self, raw: &str) -> u16 {
        let replies = self.send(raw.as_bytes(), &[]).await;
        assert_eq!(replies.len(), 1, "{raw:?}: {replies:?}");
        replies[0].status
    }
}

#[tokio::test]
async fn encoded_traversal_in_every_form_is_refused() {
    let f = fixture().await;
    f.expect(
        400,
        &[
            "/../canary.txt",
            "/../../canary.txt",
            "/k/../../canary.txt",
            "/k/ns/n/a.tar.gz/../../../../../canary.txt",
            "/..",
            "/.",
            "/./canary.txt",
            "/k/./ns",
            "/%2e%2e/canary.txt",
            "/%2E%2E/canary.txt",
            "/%2E%2e/canary.txt",
            "/%2e%2E/canary.txt",
            "/.%2e/canary.txt",
            "/%2e./canary.txt",
            "/%2e/canary.txt",
            "/%2e%2e",
            "/%2E%2e%2fcanary.txt",
            "/%2e%2e%2F%2e%2e%2Fcanary.txt",
            "/k/%2e%2e/%2e%2e/%2e%2e/%2e%2e/canary.txt",
            "/..%2fcanary.txt",
            "/k%2f..%2f..%2fcanary.txt",
            "/..%2f..%2f..%2f..%2fetc%2fpasswd",
            "/k/.%2E%5c..%2fcanary.txt",
            "/k/%2e%2E/%2e./canary.txt",
            "//canary.txt",
            "/k//../canary.txt",
            "/storage/../storage-canary.tar.gz",
        ],
    )
    .await;
}

#[tokio::test]
async fn double_encoding_is_decoded_once() {
    let f = fixture().await;
    // `%252e%252e` is the name `%2e%2e`, a directory planted in the root, never `..`.
    let reply = f.one("GET", "/%252e%252e/x.tar.gz").await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"inside-x"[..]));
    f.expect(
        404,
        &[
            "/%252e%252e/canary.txt",
            "/%252e%252e%252fcanary.txt",
            "/%25252e%25252e/canary.txt",
            "/%252e%252e/%252e%252e/canary.txt",
            "/..%252fcanary.txt",
        ],
    )
    .await;
}

#[tokio::test]
async fn overlong_utf8_encodings_are_refused() {
    let f = fixture().await;
    f.expect(
        400,
        &[
            "/%c0%ae%c0%ae/canary.txt",
            "/%c0%ae./canary.txt",
            "/%C0%AE%C0%AE/canary.txt",
            "/%c0%af..%c0%afcanary.txt",
            "/..%c0%afcanary.txt",
            "/..%c1%9ccanary.txt",
            "/%e0%80%ae%e0%80%ae/canary.txt",
            "/%f0%80%80%ae%f0%80%80%ae/canary.txt",
            "/%ff%fe/canary.txt",
        ],
    )
    .await;
}

#[tokio::test]
async fn backslashes_in_any_spelling_are_refused() {
    let f = fixture().await;
    f.expect(
        400,
        &[
            "/..%5ccanary.txt",
            "/..%5Ccanary.txt",
            "/%5c..%5ccanary.txt",
            "/%2e%2e%5ccanary.txt",
            "/k%5c..%5c..%5ccanary.txt",
            "/..\\canary.txt",
            "/k\\..\\..\\canary.txt",
            "/%5ccanary.txt",
        ],
    )
    .await;
}

#[tokio::test]
async fn nul_and_control_characters_are_refused() {
    let f = fixture().await;
    f.expect(
        400,
        &[
            "/k/ns/n/a.tar.gz%00",
            "/k/ns/n/a.tar.gz%00.txt",
            "/%00/../canary.txt",
            "/..%00/canary.txt",
            "/k/ns/n/a.tar.gz%0d%0aSet-Cookie:%20x=y",
            "/k/ns/n/a.tar.gz%0a",
            "/k/ns/n/a%09.tar.gz",
            "/k/ns/n/a%7f.tar.gz",
            "/k/ns/n/a%1b.tar.gz",
        ],
    )
    .await;
    for raw in [
        "GET /k/ns/n/a.tar.gz\0 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /k/ns/n/a\0/../../../canary.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /k/ns/n/a.tar.gz\t HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nX-Esc: a\x1bb\r\n\r\n",
    ] {
        assert_eq!(f.status_of(raw).await, 400, "{raw:?}");
    }
    let reply = f.one("GET", "/k/ns/n/a.tar.gz%0d%0aSet-Cookie:%20x=y").await;
    assert!(!reply.headers.contains_key("set-cookie"));
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_not_followed() {
    let f = fixture().await;
    f.expect(
        404,
        &[
            "/escape/secret.tar.gz",
            "/abs/secret.tar.gz",
            "/k/ns/n/latest.tar.gz",
            "/k/ns/n/rel.tar.gz",
            "/prefix.tar.gz",
            "/passwd",
            "/escape",
        ],
    )
    .await;
}

#[tokio::test]
async fn names_that_only_look_like_traversal_are_plain_names() {
    let f = fixture().await;
    let canary = f.top.join("canary.txt");
    let absolute = canary.to_str().unwrap();
    f.expect(
        404,
        &[
            "/...",
            "/k/....",
            "/k/ns/n/a.tar.gz.",
            "/k/ns/n/a.tar.gz%20",
            "/%ef%bc%8e%ef%bc%8e/canary.txt",
            absolute,
        ],
    )
    .await;
    f.expect(400, &[&format!("/{absolute}")]).await;
}

#[tokio::test]
async fn absolute_form_targets_get_the_same_checks() {
    let f = fixture().await;
    f.expect(
        400,
        &[
            "http://x/../canary.txt",
            "http://x/%2e%2e/canary.txt",
            "http://x/k/..%2f..%2fcanary.txt",
            "http:///canary.txt",
            "http://user@x/k/ns/n/a.tar.gz",
            "http:/k/ns/n/a.tar.gz",
            "file:///etc/passwd",
            "ftp://x/k/ns/n/a.tar.gz",
            "//x/k/ns/n/a.tar.gz",
            "*",
            "x:80",
        ],
    )
    .await;
    f.expect(
        404,
        &["http://x/escape/secret.tar.gz", "http://x/k/ns/n/latest.tar.gz"],
    )
    .await;
    for target in [
        "http://x/k/ns/n/a.tar.gz",
        "HTTP://X:9090/k/ns/n/a.tar.gz",
        "https://x/k/ns/n/a.tar.gz?../../canary.txt",
    ] {
        let reply = f.one("GET", target).await;
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (200, &b"inside-a"[..]),
            "{target}"
        );
    }
    let reply = f.one("GET", "http://x?/../canary.txt").await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok\n"[..]));
    assert_eq!(f.one("OPTIONS", "*").await.status, 405);
}

#[tokio::test]
async fn the_query_never_reaches_the_file_system() {
    let f = fixture().await;
    for target in [
        "/k/ns/n/a.tar.gz?../../canary.txt",
        "/k/ns/n/a.tar.gz?/../../../canary.txt",
        "/k/ns/n/a.tar.gz?%2e%2e%2fcanary.txt",
        "/k/ns/n/a.tar.gz?%00",
    ] {
        let reply = f.one("GET", target).await;
        assert_eq!(
            (reply.status, reply.body.as_slice()),
            (200, &b"inside-a"[..]),
            "{target}"
        );
    }
    f.expect(
        400,
        &[
            "/..?x",
            "/%2e%2e/canary.txt?x",
            "/k/ns/n/a.tar.gz#/../../canary.txt",
        ],
    )
    .await;
}

#[tokio::test]
async fn overlong_targets_and_heads_are_refused() {
    let f = fixture().await;
    let huge = format!("/{}", "a".repeat(20_000));
    assert_eq!(f.one("GET", &huge).await.status, 431);
    // Within the head limit but beyond what a file name or path can be.
    let long_name = format!("/k/ns/n/{}.tar.gz", "a".repeat(8_000));
    let deep = "/a".repeat(5_000);
    f.expect(404, &[&long_name, &deep]).await;

    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    assert_eq!(
        f.status_of(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n"))
            .await,
        431
    );
    let big = "v".repeat(20_000);
    assert_eq!(
        f.status_of(&format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"))
            .await,
        431
    );
    // No line end at all.
    assert_eq!(f.status_of(&format!("GET /{}", "a".repeat(20_000))).await, 431);
    assert_eq!(
        f.status_of(&format!("{} / HTTP/1.1\r\n\r\n", "M".repeat(20_000)))
            .await,
        431
    );
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_a_refused_path_does_not_leak_into_the_next() {
    let f = fixture().await;
    let raw = "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /../canary.txt HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /%2e%2e/canary.txt HTTP/1.1\r\nHost: x\r\n\r\n\
               HEAD /k/ns/n/b.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /escape/secret.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n\
               GET /k/ns/n/b.tar.gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let replies = f
        .send(raw.as_bytes(), &["GET", "GET", "GET", "HEAD", "GET", "GET"])
        .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400, 400, 200, 404, 200]);
    assert_eq!(replies[0].body, b"inside-a");
    assert!(replies[3].body.is_empty());
    assert_eq!(replies[5].body, b"inside-b");
}

#[tokio::test]
async fn a_malformed_request_in_a_pipeline_ends_the_connection() {
    let f = fixture().await;
    for bad in [
        "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        "GET /k/ns/n/b.tar.gz HTTP/1.1\nHost: x\n\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    ] {
        let raw = format!(
            "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n{bad}GET /k/ns/n/b.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let replies = f.send(raw.as_bytes(), &[]).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 400], "{bad:?}");
        assert_eq!(replies[0].body, b"inside-a");
    }
}

/// A request for `a` whose extra fields announce a body; the body is a request for `b`
/// that must never be answered.
fn smuggling(fields: &str, body: &str) -> String {
    format!("GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n{fields}\r\n\r\n{body}")
}

const SMUGGLED: &str = "GET /k/ns/n/b.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn content_length_smuggling_is_refused() {
    let f = fixture().await;
    let length = SMUGGLED.len();
    for fields in [
        format!("Content-Length: {length}"),
        format!("Content-Length: 0\r\nContent-Length: {length}"),
        format!("Content-Length: {length}\r\nContent-Length: 0"),
        "Content-Length: 0\r\nContent-Length: 0".to_owned(),
        format!("Content-Length: 0, {length}"),
        format!("Content-Length: +{length}"),
        format!("Content-Length: 0{length}"),
        "Content-Length: 1e2".to_owned(),
        "Content-Length: -1".to_owned(),
        "Content-Length: 99999999999999999999999".to_owned(),
    ] {
        let replies = f.send(smuggling(&fields, SMUGGLED).as_bytes(), &[]).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [400], "{fields}");
    }
}

#[tokio::test]
async fn transfer_encoding_smuggling_is_refused() {
    let f = fixture().await;
    let chunked = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    for fields in [
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: Chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 0",
        "Content-Length: 0\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding:\tchunked",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding\r\n : chunked",
        " Transfer-Encoding: chunked",
    ] {
        let replies = f.send(smuggling(fields, &chunked).as_bytes(), &[]).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [400], "{fields:?}");
    }
    // HTTP/1.0 and other methods too.
    let raw = format!("GET /k/ns/n/a.tar.gz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}");
    assert_eq!(f.status_of(&raw).await, 400);
    let raw =
        format!("POST /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}");
    assert_eq!(f.status_of(&raw).await, 405);
    // A look-alike field is no framing at all: the body is taken for the next request,
    // which is garbage and ends the connection; the smuggled request is never answered.
    let replies = f
        .send(smuggling("Transfer_Encoding: chunked", &chunked).as_bytes(), &[])
        .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn bare_lf_and_bare_cr_are_refused() {
    let f = fixture().await;
    for raw in [
        "GET /k/ns/n/a.tar.gz HTTP/1.1\nHost: x\n\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\nConnection: close\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\rHost: x\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
        "\nGET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(f.status_of(raw).await, 400, "{raw:?}");
    }
}

#[tokio::test]
async fn obs_fold_is_refused() {
    let f = fixture().await;
    for raw in [
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\n Host: x\r\n\r\n",
        "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost:\r\n x\r\n\r\n",
    ] {
        assert_eq!(f.status_of(raw).await, 400, "{raw:?}");
    }
}

#[tokio::test]
async fn invalid_methods_are_refused() {
    let f = fixture().await;
    for raw in [
        "G@T /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET\t/k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        " GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET  /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        "/k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GE\0T /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET(x) /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(f.status_of(raw).await, 400, "{raw:?}");
    }
    // Well-formed methods other than GET and HEAD, case included, are 405.
    let long = "M".repeat(1_000);
    for method in [
        "get",
        "Head",
        "POST",
        "CONNECT",
        "TRACE",
        "PROPFIND",
        long.as_str(),
    ] {
        let reply = f.one(method, "/k/ns/n/a.tar.gz").await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.headers.get("allow").map(String::as_str), Some("GET, HEAD"));
    }
}

#[tokio::test]
async fn invalid_versions_are_refused() {
    let f = fixture().await;
    for version in [
        "HTTP/1.2",
        "HTTP/2",
        "HTTP/2.0",
        "HTTP/0.9",
        "HTTP/1.10",
        "http/1.1",
        "HTTP/1.1x",
        "HTTP/11",
        "HTTPS/1.1",
        "",
    ] {
        let raw = format!("GET /k/ns/n/a.tar.gz {version}\r\nHost: x\r\n\r\n");
        assert_eq!(f.status_of(&raw).await, 400, "{version:?}");
    }
    assert_eq!(f.status_of("GET /k/ns/n/a.tar.gz\r\n\r\n").await, 400);
    assert_eq!(f.status_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await, 400);
}

#[tokio::test]
async fn http_1_1_requests_need_exactly_one_host() {
    let f = fixture().await;
    assert_eq!(f.status_of("GET /k/ns/n/a.tar.gz HTTP/1.1\r\n\r\n").await, 400);
    assert_eq!(
        f.status_of("GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            .await,
        400
    );
    assert_eq!(f.status_of("GET /k/ns/n/a.tar.gz HTTP/1.0\r\n\r\n").await, 200);
}

#[tokio::test]
async fn one_empty_line_before_a_request_is_ignored_and_more_are_refused() {
    let f = fixture().await;
    let request = "GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(f.status_of(&format!("\r\n{request}")).await, 200);
    assert_eq!(f.status_of(&format!("\r\n\r\n{request}")).await, 400);
    let many = "\r\n".repeat(1_000);
    assert_eq!(f.status_of(&format!("{many}{request}")).await, 400);
}

#[tokio::test]
async fn error_answers_do_not_echo_the_request() {
    let f = fixture().await;
    for target in ["/%2e%2e/<script>canary", "/k/ns/n/<script>.tar.gz", "/k/%zz"] {
        let reply = f.one("GET", target).await;
        let body = String::from_utf8_lossy(&reply.body);
        assert!(
            !body.contains("<script>") && !body.contains("%zz"),
            "{target}: {body}"
        );
        assert_eq!(
            reply.headers.get("content-type").map(String::as_str),
            Some("text/plain; charset=utf-8")
        );
    }
}
