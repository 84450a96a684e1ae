//! A server on 127.0.0.1:0 for each test, and a raw HTTP/1.1 client that sends
//! request lines exactly as written (hostile ones included).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, net::SocketAddr, path::Path, time::Duration};

use flux_artifact_config::Options;
use flux_artifact_server::{Error, Server};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
    task::JoinHandle,
};

/// A running server and the means to stop it.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// Signals shutdown and returns the task to await.
    pub(crate) fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A storage root holding `files` (relative path, content).
pub(crate) fn root_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    root
}

/// `len` bytes of a pattern that does not repeat at small periods.
pub(crate) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Reads until the server closes the connection (end of stream or reset) and returns
/// what arrived, or `None` if it is still open after `limit`.
pub(crate) async fn read_until_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

pub(crate) fn options(root: &Path) -> Options {
    Options {
        storage_path: root.to_path_buf(),
        storage_address: "127.0.0.1:0".into(),
        ..Options::default()
    }
}

pub(crate) async fn start(root: &Path) -> Running {
    start_with(root, |s| s).await
}

pub(crate) async fn start_with(root: &Path, configure: impl FnOnce(Server) -> Server) -> Running {
    let server = configure(Server::bind(&options(root)).await.unwrap());
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// Sends `GET <target>` (or another method) with extra header lines, reads the whole
/// response (the request says `Connection: close`).
pub(crate) async fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: artifacts\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    parse_reply(&raw, method == "HEAD")
}

pub(crate) async fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, &[]).await
}

fn parse_reply(raw: &[u8], head: bool) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {raw:?}"));
    let head_text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|v| v == "chunked") {
        body = dechunk(&body);
    }
    if head {
        assert!(body.is_empty(), "HEAD response has a body");
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Sends `raw` as is on a new connection and returns every byte the server sends until
/// it closes the connection. The request must make the server close (a
/// `Connection: close` request last, or one the server refuses).
pub(crate) async fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading everything; what it answered still counts.
    let _ = stream.write_all(raw).await;
    read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the server kept the connection open after {:?}",
                String::from_utf8_lossy(raw)
            )
        })
}

/// Splits what a connection received into responses. `methods` are the methods of the
/// requests in order (HEAD responses and 304s have no body); missing entries are GET.
/// Panics on bytes that are not a whole response.
pub(crate) fn split_responses(mut raw: &[u8], methods: &[&str]) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !raw.is_empty() {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status: u16 = status_line[9..12].parse().unwrap();
        let headers: HashMap<String, String> = lines
            .map(|l| {
                l.split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {l:?}"))
            })
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let method = methods.get(replies.len()).copied().unwrap_or("GET");
        let length: usize = if method == "HEAD" || status == 304 {
            0
        } else {
            headers
                .get("content-length")
                .unwrap_or_else(|| panic!("no content-length in {head:?}"))
                .parse()
                .unwrap()
        };
        let body_start = end + 4;
        assert!(
            raw.len() >= body_start + length,
            "short body: {} of {length} bytes after {head:?}",
            raw.len() - body_start
        );
        replies.push(Reply {
            status,
            headers,
            body: raw[body_start..body_start + length].to_vec(),
        });
        raw = &raw[body_start + length..];
    }
    replies
}
