//! The artifact server over real connections on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::Path, time::Duration};

use common::{get, options, pattern, request, root_with, start, start_with};
use flux_artifact_server::{Error, Server};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test]
async fn root_answers_200_and_lists_nothing() {
    let root = root_with(&[("gitrepository/ns/name/a.tar.gz", b"x")]);
    let server = start(root.path()).await;
    let reply = get(server.addr, "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"ok\n");
}

#[tokio::test]
async fn a_file_is_served_with_length_type_and_validators() {
    let content = pattern(10_000);
    let root = root_with(&[("k/ns/n/a.tar.gz", &content), ("k/ns/n/data.bin", b"raw")]);
    let server = start(root.path()).await;
    let reply = get(server.addr, "/k/ns/n/a.tar.gz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content);
    assert_eq!(reply.header("content-length"), Some("10000"));
    assert_eq!(reply.header("content-type"), Some("application/gzip"));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    let etag = reply.header("etag").unwrap();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    assert!(httpdate::parse_http_date(reply.header("last-modified").unwrap()).is_ok());
    assert_eq!(
        get(server.addr, "/k/ns/n/data.bin").await.header("content-type"),
        Some("application/octet-stream")
    );
}

#[tokio::test]
async fn tgz_files_are_gzip_too() {
    let root = root_with(&[("helmchart/ns/c/chart-1.0.0.tgz", b"x")]);
    let server = start(root.path()).await;
    assert_eq!(
        get(server.addr, "/helmchart/ns/c/chart-1.0.0.tgz")
            .await
            .header("content-type"),
        Some("application/gzip")
    );
}

#[tokio::test]
async fn head_sends_the_headers_without_the_body() {
    let root = root_with(&[("k/ns/n/a.tar.gz", &pattern(100_000))]);
    let server = start(root.path()).await;
    let reply = request(server.addr, "HEAD", "/k/ns/n/a.tar.gz", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("100000"));
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn content_encoding_is_never_set_even_when_gzip_is_accepted() {
    let root = root_with(&[("k/ns/n/a.tar.gz", &pattern(100_000))]);
    let server = start(root.path()).await;
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(reply.header("content-encoding"), None);
    assert_eq!(reply.body, pattern(100_000));
}

#[tokio::test]
async fn large_files_stream_intact() {
    let content = pattern(5 << 20);
    let root = root_with(&[("k/ns/n/big.tar.gz", &content)]);
    let server = start(root.path()).await;
    let reply = get(server.addr, "/k/ns/n/big.tar.gz").await;
    assert_eq!(reply.header("content-length"), Some("5242880"));
    assert!(reply.body == content, "body differs");
}

#[tokio::test]
async fn directories_are_never_listed() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"x")]);
    let server = start(root.path()).await;
    for target in ["/k", "/k/ns", "/k/ns/n"] {
        let reply = get(server.addr, target).await;
        assert_eq!(reply.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&reply.body).contains("a.tar.gz"));
    }
    assert_eq!(get(server.addr, "/k/ns/n/").await.status, 400);
}

#[tokio::test]
async fn missing_files_are_404() {
    let root = root_with(&[]);
    let server = start(root.path()).await;
    assert_eq!(get(server.addr, "/k/ns/n/none.tar.gz").await.status, 404);
}

#[tokio::test]
async fn lock_files_and_in_progress_writes_are_not_served() {
    let root = root_with(&[
        ("k/ns/n/a.tar.gz.lock", b"lock"),
        ("k/ns/n/.a.tar.gz.Xq3b9z.tmp", b"partial"),
    ]);
    let server = start(root.path()).await;
    assert_eq!(get(server.addr, "/k/ns/n/a.tar.gz.lock").await.status, 404);
    assert_eq!(get(server.addr, "/k/ns/n/.a.tar.gz.Xq3b9z.tmp").await.status, 404);
}

#[tokio::test]
async fn storage_symlinks_are_served() {
    let root = tempfile::tempdir().unwrap();
    let storage = flux_artifact_storage::Storage::new(&options(root.path())).unwrap();
    let mut artifact = storage
        .new_artifact_for("Kind", &("ns", "n"), "v1", "v1.tar.gz")
        .unwrap();
    storage.copy(&mut artifact, &b"version one"[..]).unwrap();
    let url = storage.symlink(&artifact, "latest.tar.gz").unwrap();
    assert!(url.ends_with("/kind/ns/n/latest.tar.gz"));
    let server = start(root.path()).await;
    let reply = get(server.addr, "/kind/ns/n/latest.tar.gz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"version one");
}

#[tokio::test]
async fn a_matching_if_none_match_is_304() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"content")]);
    let server = start(root.path()).await;
    let etag = get(server.addr, "/k/ns/n/a.tar.gz")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(reply.status, 304);
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("etag"), Some(etag.as_str()));
    let stale = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("If-None-Match", "\"stale\"")],
    )
    .await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn if_modified_since_is_304_until_the_file_changes() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"content")]);
    let server = start(root.path()).await;
    let last_modified = get(server.addr, "/k/ns/n/a.tar.gz")
        .await
        .header("last-modified")
        .unwrap()
        .to_owned();
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("If-Modified-Since", &last_modified)],
    )
    .await;
    assert_eq!(reply.status, 304);
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(root.path().join("k/ns/n/a.tar.gz"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("If-Modified-Since", &last_modified)],
    )
    .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_replaced_file_gets_a_new_etag() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"one")]);
    let server = start(root.path()).await;
    let first = get(server.addr, "/k/ns/n/a.tar.gz")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let replacement = root.path().join("k/ns/n/new");
    fs::write(&replacement, b"two").unwrap();
    fs::rename(&replacement, root.path().join("k/ns/n/a.tar.gz")).unwrap();
    assert_ne!(
        get(server.addr, "/k/ns/n/a.tar.gz").await.header("etag").unwrap(),
        first
    );
}

#[tokio::test]
async fn a_single_range_is_206() {
    let content = pattern(1000);
    let root = root_with(&[("k/ns/n/a.tar.gz", &content)]);
    let server = start(root.path()).await;
    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
    ] {
        let reply = request(server.addr, "GET", "/k/ns/n/a.tar.gz", &[("Range", range)]).await;
        assert_eq!(reply.status, 206, "{range}");
        assert_eq!(
            reply.header("content-range").unwrap(),
            format!("bytes {start}-{end}/1000")
        );
        assert_eq!(reply.body, content[start..=end]);
    }
}

#[tokio::test]
async fn ranges_of_streamed_files_are_206_too() {
    let content = pattern(1 << 20);
    let root = root_with(&[("k/ns/n/a.tar.gz", &content)]);
    let server = start(root.path()).await;
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Range", "bytes=1000-900000")],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, content[1000..=900_000]);
}

#[tokio::test]
async fn an_unsatisfiable_range_is_416() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"0123456789")]);
    let server = start(root.path()).await;
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Range", "bytes=10-20")],
    )
    .await;
    assert_eq!(reply.status, 416);
    assert_eq!(reply.header("content-range"), Some("bytes */10"));
}

#[tokio::test]
async fn a_range_with_a_stale_if_range_gets_the_whole_file() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"0123456789")]);
    let server = start(root.path()).await;
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Range", "bytes=0-1"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"0123456789");
    let etag = get(server.addr, "/k/ns/n/a.tar.gz")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Range", "bytes=0-1"), ("If-Range", &etag)],
    )
    .await;
    assert_eq!(reply.status, 206);
}

#[tokio::test]
async fn multiple_ranges_get_the_whole_file() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"0123456789")]);
    let server = start(root.path()).await;
    let reply = request(
        server.addr,
        "GET",
        "/k/ns/n/a.tar.gz",
        &[("Range", "bytes=0-1,5-6")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"0123456789");
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"x")]);
    let server = start(root.path()).await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let reply = request(
            server.addr,
            method,
            "/k/ns/n/a.tar.gz",
            &[("Content-Length", "0")],
        )
        .await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    }
    assert!(root.path().join("k/ns/n/a.tar.gz").exists());
}

#[tokio::test]
async fn many_concurrent_connections_are_served() {
    let content = pattern(300_000);
    let root = root_with(&[("k/ns/n/a.tar.gz", &content)]);
    let server = start(root.path()).await;
    let requests: Vec<_> = (0..64)
        .map(|_| tokio::spawn(get(server.addr, "/k/ns/n/a.tar.gz")))
        .collect();
    for handle in requests {
        let reply = handle.await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.body == content);
    }
}

#[tokio::test]
async fn keep_alive_connections_serve_several_requests() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"abc")]);
    let server = start(root.path()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(b"GET /k/ns/n/a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("abc"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_a_download_in_flight_finish_and_releases_the_port() {
    let content = pattern(64 << 20);
    let root = root_with(&[("k/ns/n/big.tar.gz", &content)]);
    let mut server = start(root.path()).await;
    let addr = server.addr;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /k/ns/n/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::with_capacity(content.len() + 1024);
    let mut buf = vec![0u8; 64 * 1024];
    let n = stream.read(&mut buf).await.unwrap();
    received.extend_from_slice(&buf[..n]);

    server.shutdown();
    // Read the rest slowly enough that the download is still running at shutdown.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if received.len() < 8 << 20 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let body_start = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(received.len() - body_start, content.len());
    assert!(received[body_start..] == content[..]);

    tokio::time::timeout(Duration::from_secs(10), &mut server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
    std::net::TcpListener::bind(addr).expect("port released");
}

#[tokio::test]
async fn shutdown_closes_connections_still_open_at_the_timeout() {
    let root = root_with(&[("k/ns/n/big.tar.gz", &pattern(32 << 20))]);
    let mut server = start_with(root.path(), |s| {
        s.with_shutdown_timeout(Duration::from_millis(200))
    })
    .await;
    // A client that asks and never reads.
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck
        .write_all(b"GET /k/ns/n/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown();
    let finished = tokio::time::timeout(Duration::from_secs(5), &mut server.task).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
}

#[tokio::test]
async fn start_binds_and_serves_until_shutdown() {
    let root = root_with(&[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = flux_artifact_config::Options {
        storage_address: format!("127.0.0.1:{port}"),
        ..options(root.path())
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        flux_artifact_server::start(&options, async move {
            let _ = stopped.await;
        })
        .await
    });
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut reply = None;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            reply = Some(get(addr, "/").await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reply.unwrap().status, 200);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn binding_a_port_in_use_is_a_bind_error() {
    let root = root_with(&[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let options = flux_artifact_config::Options {
        storage_address: address.clone(),
        ..options(root.path())
    };
    let err = Server::bind(&options).await.unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err}");
    assert!(
        err.to_string().contains("bind") && err.to_string().contains(&address),
        "{err}"
    );
}

#[tokio::test]
async fn an_invalid_address_is_reported_with_the_address() {
    let root = root_with(&[]);
    let options = flux_artifact_config::Options {
        storage_address: "invalid:address:format".into(),
        ..options(root.path())
    };
    let err = Server::bind(&options).await.unwrap_err();
    assert!(err.to_string().contains("invalid:address:format"), "{err}");
}

#[tokio::test]
async fn a_missing_root_is_an_error() {
    let err = Server::bind(&options(Path::new("/nonexistent/storage")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Root { .. }), "{err}");
}

#[tokio::test]
async fn special_files_are_404_without_blocking() {
    let root = root_with(&[]);
    fs::create_dir_all(root.path().join("k/ns/n")).unwrap();
    let fifo = root.path().join("k/ns/n/pipe.tar.gz");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let server = start(root.path()).await;
    let reply = tokio::time::timeout(Duration::from_secs(5), get(server.addr, "/k/ns/n/pipe.tar.gz"))
        .await
        .unwrap();
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let root = root_with(&[("a.tar.gz", b"first"), ("b.tar.gz", b"second")]);
    let server = start(root.path()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /a.tar.gz HTTP/1.1\r\nHost: x\r\n\r\nGET /b.tar.gz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    let first = text.find("first").unwrap();
    let second = text.find("second").unwrap();
    assert!(first < second, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
}

#[tokio::test]
async fn http_1_0_clients_get_their_answer_and_a_closed_connection() {
    let root = root_with(&[("a.tar.gz", b"old client")]);
    let server = start(root.path()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /a.tar.gz HTTP/1.0\r\n\r\n").await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&all).ends_with("old client"));
}

#[tokio::test]
async fn oversized_and_malformed_heads_are_refused() {
    let root = root_with(&[]);
    let server = start(root.path()).await;
    let big = "x".repeat(20_000);
    let reply = request(server.addr, "GET", "/", &[("X-Big", &big)]).await;
    assert_eq!(reply.status, 431);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"\x16\x03\x01 not http\r\n\r\n").await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 400"));
}

#[tokio::test]
async fn the_query_string_is_ignored_like_go_file_server() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"artifact")]);
    let server = start(root.path()).await;
    for target in [
        "/k/ns/n/a.tar.gz?x=1",
        "/k/ns/n/a.tar.gz?",
        "/k/ns/n/a.tar.gz?../x",
        "/k/ns/n/a.tar.gz?/../../etc/passwd",
        "/k/ns/n/a.tar.gz?a=%2e%2e&b=%00",
        "/k/ns/n/a.tar.gz??x?y",
        "http://artifacts/k/ns/n/a.tar.gz?x=1",
    ] {
        let reply = get(server.addr, target).await;
        assert_eq!(reply.status, 200, "{target}");
        assert_eq!(reply.body, b"artifact", "{target}");
    }
}

#[tokio::test]
async fn the_query_does_not_hide_traversal_in_the_path() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"artifact")]);
    let server = start(root.path()).await;
    for target in ["/../k/ns/n/a.tar.gz?x=1", "/k/%2e%2e/a.tar.gz?", "/k//a.tar.gz?x"] {
        assert_eq!(get(server.addr, target).await.status, 400, "{target}");
    }
}

#[tokio::test]
async fn an_encoded_question_mark_is_part_of_the_file_name() {
    let root = root_with(&[("k/ns/n/a?b.tar.gz", b"question"), ("k/ns/n/a", b"prefix")]);
    let server = start(root.path()).await;
    let reply = get(server.addr, "/k/ns/n/a%3Fb.tar.gz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"question");
    assert_eq!(get(server.addr, "/k/ns/n/a%3fb.tar.gz?q").await.body, b"question");
    // A raw `?` starts the query: this asks for `k/ns/n/a`.
    assert_eq!(get(server.addr, "/k/ns/n/a?b.tar.gz").await.body, b"prefix");
}

#[tokio::test]
async fn a_fragment_in_the_request_target_is_a_bad_request() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"artifact")]);
    let server = start(root.path()).await;
    assert_eq!(get(server.addr, "/k/ns/n/a.tar.gz#x").await.status, 400);
    assert_eq!(get(server.addr, "/k/ns/n/a.tar.gz?q#x").await.status, 400);
}

#[tokio::test]
async fn errors_name_the_value_and_leave_the_cause_to_source() {
    use std::error::Error as _;
    let err = Server::bind(&options(Path::new("/nonexistent/storage")))
        .await
        .unwrap_err();
    let cause = err.source().expect("the io error is the source").to_string();
    assert_eq!(err.to_string(), "cannot serve storage path /nonexistent/storage");
    assert!(!err.to_string().contains(&cause));

    let root = root_with(&[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let options = flux_artifact_config::Options {
        storage_address: taken.local_addr().unwrap().to_string(),
        ..options(root.path())
    };
    let err = Server::bind(&options).await.unwrap_err();
    let cause = err.source().expect("the io error is the source").to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
}
