//! The artifact server, fed raw bytes on a real connection: request heads and targets
//! of any shape, pipelined requests, bodies, garbage.
//!
//! The server runs once per process on 127.0.0.1 (port 0) over a storage root planted
//! with escape routes: symlinks to a secret file beside the root (relative and
//! absolute), to `/etc/passwd`, a lock file and an in-progress temporary file (never
//! served), a FIFO (must not hang), a directory (never listed). Each input is written
//! on a fresh connection whose write side is then closed, and everything the server
//! answers is read back until it closes.
//!
//! Invariants: no panic and no hang (the server closes within the read timeout);
//! every response is well formed, with a status in the expected class (200, 206,
//! 304, or 4xx; never 5xx but 501/505 for what it does not implement), a
//! `Content-Length` its body matches, and nothing after a `connection: close`; a
//! successful body is the readiness probe's `ok` or bytes of a file inside the root; no
//! response ever contains a byte sequence of the secret, the lock file, the temporary
//! file or `/etc/passwd`.
#![no_main]

use std::{
    fs,
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    path::Path,
    sync::OnceLock,
    time::Duration,
};

use flux_artifact_config::Options;
use flux_artifact_server::Server;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    addr: SocketAddr,
    /// Contents that may be served (files inside the root).
    served: Vec<Vec<u8>>,
    /// Contents that must never be served.
    forbidden: Vec<Vec<u8>>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = flux_artifact_fuzz::tempdir();
        let root = dir.path().join("storage");
        let outside = dir.path().join("outside");
        let art = root.join("k/ns/n");
        fs::create_dir_all(&art).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let pid = std::process::id();
        let secret = format!("SECRET-{pid}-OUTSIDE-THE-ROOT").into_bytes();
        let lock = format!("LOCK-{pid}-NEVER-SERVED").into_bytes();
        let temp = format!("TEMP-{pid}-IN-PROGRESS").into_bytes();
        let inside = format!("INSIDE-{pid}-artifact-bytes-0123456789").into_bytes();
        let other = format!("OTHER-{pid}-unicode").into_bytes();
        fs::write(outside.join("secret.txt"), &secret).unwrap();
        fs::write(art.join("a.tar.gz"), &inside).unwrap();
        fs::write(art.join("a.tar.gz.lock"), &lock).unwrap();
        fs::write(art.join(".a.tar.gz.Xq3b9z.tmp"), &temp).unwrap();
        fs::write(root.join("ü.txt"), &other).unwrap();
        fs::write(root.join("empty"), b"").unwrap();
        fs::create_dir(root.join("dir")).unwrap();
        let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
        link(Path::new("a.tar.gz"), "k/ns/n/latest.tar.gz");
        link(Path::new("../outside"), "escape");
        link(&outside, "abs");
        link(&outside.join("secret.txt"), "k/ns/n/secret.tar.gz");
        link(Path::new("../../../../outside/secret.txt"), "k/ns/n/rel.tar.gz");
        link(Path::new("/etc/passwd"), "passwd");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &root.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let options = Options {
                    storage_path: root,
                    storage_address: "127.0.0.1:0".into(),
                    ..Options::default()
                };
                let server = Server::bind(&options)
                    .await
                    .unwrap()
                    .with_header_read_timeout(Duration::from_secs(2))
                    .with_idle_timeout(Duration::from_secs(2));
                tx.send(server.local_addr()).unwrap();
                server.serve(std::future::pending()).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        let mut forbidden = vec![secret, lock, temp];
        if let Ok(passwd) = fs::read("/etc/passwd")
            && passwd.len() >= 8
        {
            forbidden.push(passwd[..passwd.len().min(24)].to_vec());
        }
        Fixture {
            addr,
            served: vec![inside, other, Vec::new()],
            forbidden,
            _dir: dir,
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Checks one response at the start of `stream`; returns the rest and whether it
/// announced the end of the connection.
fn check_response<'a>(stream: &'a [u8], fixture: &Fixture) -> (&'a [u8], bool) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(stream) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "malformed response head ({other:?}): {:?}",
            String::from_utf8_lossy(stream)
        ),
    };
    let status = response.code.unwrap();
    assert!(
        matches!(status, 200 | 206 | 304 | 400..=499 | 501 | 505),
        "status {status} is not in the expected class"
    );
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    assert!(
        header("content-encoding").is_none(),
        "a Content-Encoding was sent"
    );
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let length: usize = match header("content-length") {
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Content-Length {v:?}")),
        None => {
            assert_eq!(status, 304, "a {status} without Content-Length");
            0
        }
    };
    let rest = &stream[head_len..];
    // A HEAD response announces a length but sends no body: the next bytes are then the
    // next response, or nothing.
    let has_body = length > 0 && !rest.is_empty() && !rest.starts_with(b"HTTP/1.");
    if !has_body {
        return (rest, close);
    }
    assert!(
        rest.len() >= length,
        "body shorter than its Content-Length {length}"
    );
    let (body, rest) = rest.split_at(length);
    if matches!(status, 200 | 206) {
        let probe = body == b"ok\n";
        let from_a_file = fixture.served.iter().any(|file| match status {
            200 => file == body,
            _ => contains(file, body),
        });
        assert!(
            probe || from_a_file,
            "{status} with a body from no file of the root: {body:?}"
        );
        if status == 206 {
            assert!(header("content-range").is_some(), "206 without Content-Range");
        }
    }
    (rest, close)
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if data.len() > 64 * 1024 || fixture.forbidden.iter().any(|f| contains(data, f)) {
        return;
    }
    let mut stream = TcpStream::connect(fixture.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before reading everything: a failed write is
    // fine, what it answered is still read.
    let _ = stream.write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => break,
            Err(e) => panic!(
                "the server did not close the connection ({e}); it answered {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
    for forbidden in &fixture.forbidden {
        assert!(
            !contains(&answer, forbidden),
            "the answer contains forbidden bytes {forbidden:?}"
        );
    }
    let mut rest = answer.as_slice();
    while !rest.is_empty() {
        let (next, close) = check_response(rest, fixture);
        rest = next;
        assert!(
            !close || rest.is_empty(),
            "bytes after a response that closed the connection"
        );
    }
});
