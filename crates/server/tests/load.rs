//! Load tests, bounded in count and time, on 127.0.0.1 only. Not part of the default
//! test run (each is `#[ignore]`d): run them one at a time, in release mode, with
//!
//! ```text
//! cargo test --release -p flux-artifact-server --test load -- --ignored --test-threads=1 --nocapture
//! ```
//!
//! `FLUX_LOAD_SECS` shortens or lengthens the keep-alive run (default 60). The server
//! runs on a runtime of its own (two workers), the clients on another, in this process:
//! the server's tasks are counted on its runtime, descriptors and memory for the whole
//! process (clients included). Each test prints a `LOAD` line with its figures and the
//! load average around it; docs/performance.md records them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use flux_artifact_config::Options;
use flux_artifact_server::Server;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
    sync::oneshot,
};

const SMALL: usize = 10 * 1024;
const LARGE: usize = 1 << 20;
const HUGE: usize = 64 << 20;

/// A server on its own runtime over a root with a 10 KiB, a 1 MiB and a 64 MiB artifact.
struct Harness {
    runtime: Runtime,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    _root: tempfile::TempDir,
}

impl Harness {
    fn start(configure: impl FnOnce(Server) -> Server + Send + 'static) -> Harness {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("k/ns/n");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("small.tar.gz"), vec![7u8; SMALL]).unwrap();
        fs::write(dir.join("large.tar.gz"), vec![8u8; LARGE]).unwrap();
        // Written in blocks, so that the process's peak memory is the run's, not this.
        let mut huge = fs::File::create(dir.join("huge.tar.gz")).unwrap();
        let block = vec![9u8; LARGE];
        for _ in 0..HUGE / LARGE {
            std::io::Write::write_all(&mut huge, &block).unwrap();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("server")
            .enable_all()
            .build()
            .unwrap();
        let options = Options {
            storage_path: root.path().to_path_buf(),
            storage_address: "127.0.0.1:0".into(),
            ..Options::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = runtime.block_on(async move {
            let server = configure(Server::bind(&options).await.unwrap());
            let addr = server.local_addr();
            tokio::spawn(server.serve(async move {
                let _ = stopped.await;
            }));
            addr
        });
        Harness {
            runtime,
            addr,
            stop: Some(stop),
            _root: root,
        }
    }

    /// Tasks alive on the server's runtime: the accept loop plus one per connection.
    fn tasks(&self) -> usize {
        self.runtime.metrics().num_alive_tasks()
    }

    /// Waits (up to 10 s) for the server to be back to `tasks` tasks and `fds`
    /// descriptors; how long it took.
    fn settle(&self, tasks: usize, fds: usize) -> Duration {
        let started = Instant::now();
        while (self.tasks(), open_fds()) != (tasks, fds) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "left behind: {} tasks (expected {tasks}), {} descriptors (expected {fds})",
                self.tasks(),
                open_fds()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        started.elapsed()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("client")
        .enable_all()
        .build()
        .unwrap()
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// (current, peak) resident memory of the process, KiB.
fn rss_kib() -> (u64, u64) {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Peak descriptors, server tasks and resident memory seen while `work` runs.
#[derive(Debug, Default)]
struct Peaks {
    fds: AtomicUsize,
    tasks: AtomicUsize,
    rss_kib: AtomicU64,
}

fn sampled<T>(harness: &Harness, client: &Runtime, work: impl Future<Output = T>) -> (T, Peaks) {
    let peaks = Arc::new(Peaks::default());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peaks, done) = (peaks.clone(), done.clone());
        let metrics = harness.runtime.metrics();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peaks.fds.fetch_max(open_fds(), Ordering::Relaxed);
                peaks
                    .tasks
                    .fetch_max(metrics.num_alive_tasks(), Ordering::Relaxed);
                peaks.rss_kib.fetch_max(rss_kib().0, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let out = client.block_on(work);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peaks = Arc::try_unwrap(peaks).unwrap();
    (out, peaks)
}

/// Reads one response with a `Content-Length` body; returns (status, body length).
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, usize)> {
    buf.clear();
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut remaining = length - (buf.len() - end).min(length);
    let mut sink = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let want = remaining.min(sink.len());
        let n = stream.read(&mut sink[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        remaining -= n;
    }
    Ok((status, length))
}

/// One keep-alive client: requests until `deadline`; (requests, bytes, errors, slowest).
async fn keep_alive_client(addr: SocketAddr, deadline: Instant, id: usize) -> (u64, u64, u64, Duration) {
    let (mut requests, mut bytes, mut errors, mut slowest) = (0u64, 0u64, 0u64, Duration::ZERO);
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return (0, 0, 1, slowest);
    };
    let mut buf = Vec::with_capacity(8192);
    while Instant::now() < deadline {
        let (path, expected) = if (requests + id as u64).is_multiple_of(16) {
            ("/k/ns/n/large.tar.gz", LARGE)
        } else {
            ("/k/ns/n/small.tar.gz", SMALL)
        };
        let started = Instant::now();
        let request = format!("GET {path} HTTP/1.1\r\nHost: load\r\n\r\n");
        let result = match stream.write_all(request.as_bytes()).await {
            Ok(()) => read_response(&mut stream, &mut buf).await,
            Err(e) => Err(e),
        };
        slowest = slowest.max(started.elapsed());
        match result {
            Ok((200, length)) if length == expected => {
                requests += 1;
                bytes += length as u64;
            }
            other => {
                errors += 1;
                eprintln!("client {id}: {other:?}");
                return (requests, bytes, errors, slowest);
            }
        }
    }
    (requests, bytes, errors, slowest)
}

#[test]
#[ignore = "load test: run with --ignored (see docs/performance.md)"]
fn load_256_keep_alive_connections() {
    let seconds: u64 = std::env::var("FLUX_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let load_before = load_average();
    let harness = Harness::start(|s| s);
    let (base_tasks, base_fds) = (harness.tasks(), open_fds());
    let client = client_runtime();
    let runtime_fds = open_fds() - base_fds;
    let addr = harness.addr;
    let started = Instant::now();
    let (results, peaks) = sampled(&harness, &client, async move {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let clients: Vec<_> = (0..256)
            .map(|id| tokio::spawn(keep_alive_client(addr, deadline, id)))
            .collect();
        let mut results = Vec::new();
        for c in clients {
            results.push(c.await.unwrap());
        }
        results
    });
    let elapsed = started.elapsed();
    let requests: u64 = results.iter().map(|r| r.0).sum();
    let bytes: u64 = results.iter().map(|r| r.1).sum();
    let errors: u64 = results.iter().map(|r| r.2).sum();
    let slowest = results.iter().map(|r| r.3).max().unwrap_or_default();
    drop(client);
    let settled = harness.settle(base_tasks, base_fds);
    let peak_fds = peaks.fds.load(Ordering::Relaxed);
    let peak_tasks = peaks.tasks.load(Ordering::Relaxed);
    let peak_rss = peaks.rss_kib.load(Ordering::Relaxed);
    println!(
        "LOAD keep-alive: 256 connections, {:.1} s, {requests} requests ({:.0}/s), {:.1} MiB/s, {errors} errors, \
         slowest {:.1} ms; peak {peak_fds} fds (baseline {base_fds}), {peak_tasks} server tasks (baseline \
         {base_tasks}), RSS {:.1} MiB (process peak {:.1} MiB); back to baseline {:.0} ms after; load {load_before} -> {}",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        bytes as f64 / elapsed.as_secs_f64() / f64::from(1 << 20),
        slowest.as_secs_f64() * 1e3,
        peak_rss as f64 / 1024.0,
        rss_kib().1 as f64 / 1024.0,
        settled.as_secs_f64() * 1e3,
        load_average(),
    );
    assert_eq!(errors, 0);
    assert!(requests > 0);
    // Per connection: the client's socket, the server's, and a file while it is sent;
    // plus the client runtime's own (epoll and wake-up descriptors).
    assert!(
        peak_fds <= base_fds + runtime_fds + 3 * 256,
        "{peak_fds} descriptors"
    );
    assert!(peak_tasks <= base_tasks + 256, "{peak_tasks} server tasks");
    assert!(peak_rss < 256 * 1024, "{peak_rss} KiB resident");
}

#[test]
#[ignore = "load test: run with --ignored (see docs/performance.md)"]
fn load_slowloris_is_closed_by_the_header_timeout_while_others_are_served() {
    const SLOW: usize = 300;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let load_before = load_average();
    let harness = Harness::start(|s| s.with_header_read_timeout(HEADER_TIMEOUT));
    let (base_tasks, base_fds) = (harness.tasks(), open_fds());
    let client = client_runtime();
    let addr = harness.addr;
    let ((closed_after, served), peaks) = sampled(&harness, &client, async move {
        // Each slow client sends its head a byte every 100 ms and records when the server
        // closed the connection, counted from its first byte.
        let slow: Vec<_> = (0..SLOW)
            .map(|_| {
                tokio::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let (mut reader, mut writer) = stream.into_split();
                    let first_byte = Instant::now();
                    let trickle = tokio::spawn(async move {
                        for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
                            .iter()
                            .chain([b'a'; 200].iter())
                        {
                            if writer.write_all(&[*byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    });
                    let mut buf = [0u8; 64];
                    let closed = tokio::time::timeout(Duration::from_secs(15), reader.read(&mut buf)).await;
                    trickle.abort();
                    match closed {
                        Ok(Ok(0) | Err(_)) => Some(first_byte.elapsed()),
                        _ => None,
                    }
                })
            })
            .collect();
        // Meanwhile, 16 ordinary clients for 6 s.
        let deadline = Instant::now() + Duration::from_secs(6);
        let normal: Vec<_> = (0..16)
            .map(|id| tokio::spawn(keep_alive_client(addr, deadline, id)))
            .collect();
        let mut closed_after = Vec::new();
        for s in slow {
            closed_after.push(s.await.unwrap());
        }
        let mut served = Vec::new();
        for n in normal {
            served.push(n.await.unwrap());
        }
        (closed_after, served)
    });
    let never_closed = closed_after.iter().filter(|c| c.is_none()).count();
    let times: Vec<Duration> = closed_after.iter().flatten().copied().collect();
    let earliest = times.iter().min().copied().unwrap_or_default();
    let latest = times.iter().max().copied().unwrap_or_default();
    let requests: u64 = served.iter().map(|r| r.0).sum();
    let errors: u64 = served.iter().map(|r| r.2).sum();
    let slowest = served.iter().map(|r| r.3).max().unwrap_or_default();
    drop(client);
    let settled = harness.settle(base_tasks, base_fds);
    println!(
        "LOAD slowloris: {SLOW} clients trickling a byte per 100 ms against a {} s header timeout, closed after \
         {:.2}-{:.2} s ({never_closed} never); 16 ordinary clients meanwhile: {requests} requests, {errors} errors, \
         slowest {:.1} ms; peak {} fds, {} server tasks, RSS {:.1} MiB; back to baseline {:.0} ms after; load \
         {load_before} -> {}",
        HEADER_TIMEOUT.as_secs(),
        earliest.as_secs_f64(),
        latest.as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        peaks.fds.load(Ordering::Relaxed),
        peaks.tasks.load(Ordering::Relaxed),
        peaks.rss_kib.load(Ordering::Relaxed) as f64 / 1024.0,
        settled.as_secs_f64() * 1e3,
        load_average(),
    );
    assert_eq!(never_closed, 0);
    assert!(
        earliest >= HEADER_TIMEOUT - Duration::from_millis(50),
        "{earliest:?}"
    );
    assert!(latest < HEADER_TIMEOUT + Duration::from_secs(3), "{latest:?}");
    assert_eq!(errors, 0);
    assert!(requests > 0);
}

#[test]
#[ignore = "load test: run with --ignored (see docs/performance.md)"]
fn load_1000_half_open_connections() {
    const HALF_OPEN: usize = 1000;
    let load_before = load_average();
    // Defaults: 512 connections, 5 s first-byte timeout.
    let harness = Harness::start(|s| s);
    let (base_tasks, base_fds) = (harness.tasks(), open_fds());
    let client = client_runtime();
    let addr = harness.addr;
    let ((closed_after, ordinary), peaks) = sampled(&harness, &client, async move {
        let started = Instant::now();
        let flood = tokio::spawn(async move {
            let mut idle = Vec::with_capacity(HALF_OPEN);
            for _ in 0..HALF_OPEN {
                idle.push(TcpStream::connect(addr).await.unwrap());
            }
            idle
        });
        // An ordinary request while they arrive, queued behind most of them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ordinary = tokio::spawn(async move {
            let asked = Instant::now();
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"GET /k/ns/n/small.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = Vec::new();
            let answer = read_response(&mut stream, &mut buf).await;
            (answer.ok(), asked.elapsed())
        });
        let idle = flood.await.unwrap();
        let waits: Vec<_> = idle
            .into_iter()
            .map(|mut stream| {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
                        Ok(Ok(0) | Err(_)) => Some(started.elapsed()),
                        _ => None,
                    }
                })
            })
            .collect();
        let mut closed_after = Vec::new();
        for w in waits {
            closed_after.push(w.await.unwrap());
        }
        (closed_after, ordinary.await.unwrap())
    });
    let never_closed = closed_after.iter().filter(|c| c.is_none()).count();
    let latest = closed_after.iter().flatten().max().copied().unwrap_or_default();
    let mut by_second = std::collections::BTreeMap::<u64, usize>::new();
    for c in closed_after.iter().flatten() {
        *by_second.entry(c.as_secs()).or_default() += 1;
    }

    drop(client);
    let settled = harness.settle(base_tasks, base_fds);
    let peak_tasks = peaks.tasks.load(Ordering::Relaxed);
    println!(
        "LOAD half-open: {HALF_OPEN} connections that send nothing, closed by the server after (s: count) \
         {by_second:?}, all by {:.1} s ({never_closed} never); an ordinary request among them answered {:?} after {:.2} s; peak {} fds (baseline {base_fds}, {HALF_OPEN} \
         of them the clients'), {peak_tasks} server tasks (baseline {base_tasks}), RSS {:.1} MiB; back to baseline \
         {:.0} ms after; load {load_before} -> {}",
        latest.as_secs_f64(),
        ordinary.0,
        ordinary.1.as_secs_f64(),
        peaks.fds.load(Ordering::Relaxed),
        peaks.rss_kib.load(Ordering::Relaxed) as f64 / 1024.0,
        settled.as_secs_f64() * 1e3,
        load_average(),
    );
    assert_eq!(never_closed, 0);
    assert_eq!(ordinary.0, Some((200, SMALL)));
    // The limit (512) plus the one connection held while waiting for a slot.
    assert!(peak_tasks <= base_tasks + 513, "{peak_tasks} server tasks");
}

#[test]
#[ignore = "load test: run with --ignored (see docs/performance.md)"]
fn load_aborted_downloads_leave_no_task_or_descriptor_behind() {
    const ABORTS: usize = 400;
    let load_before = load_average();
    let harness = Harness::start(|s| s);
    let (base_tasks, base_fds) = (harness.tasks(), open_fds());
    let client = client_runtime();
    let addr = harness.addr;
    let (received, peaks) = sampled(&harness, &client, async move {
        let mut received = 0u64;
        // Waves of 100: each client reads part of a 64 MiB download and drops the
        // connection (with unread data, so the kernel resets it), or half-closes it.
        for wave in 0..ABORTS / 100 {
            let clients: Vec<_> = (0..100)
                .map(|i| {
                    tokio::spawn(async move {
                        let mut stream = TcpStream::connect(addr).await.unwrap();
                        stream
                            .write_all(b"GET /k/ns/n/huge.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
                            .await
                            .unwrap();
                        let mut buf = vec![0u8; 64 * 1024];
                        let mut got = 0u64;
                        let want = ((wave * 100 + i) % 16 + 1) as u64 * 64 * 1024;
                        while got < want {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => got += n as u64,
                            }
                        }
                        if i % 2 == 0 {
                            let _ = stream.shutdown().await;
                        }
                        got
                    })
                })
                .collect();
            for c in clients {
                received += c.await.unwrap();
            }
        }
        received
    });
    drop(client);
    let during = (
        peaks.tasks.load(Ordering::Relaxed),
        peaks.fds.load(Ordering::Relaxed),
    );
    let settled = harness.settle(base_tasks, base_fds);
    println!(
        "LOAD aborted downloads: {ABORTS} clients dropped 64 MiB downloads after 64 KiB-1 MiB ({:.0} MiB received); \
         peak {} server tasks, {} fds; back to the baseline of {base_tasks} tasks and {base_fds} fds {:.0} ms after \
         the last client; load {load_before} -> {}",
        received as f64 / f64::from(1 << 20),
        during.0,
        during.1,
        settled.as_secs_f64() * 1e3,
        load_average(),
    );
}
