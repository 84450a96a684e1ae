//! `ArchiveFetcher` against the artifact server and against scripted misbehaving
//! servers, all on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use flate2::{Compression, write::GzEncoder};
use flux_artifact_config::Options;
use flux_artifact_digest::Algorithm;
use flux_artifact_fetch::{ArchiveFetcher, Error};
use flux_artifact_storage::{Artifact, Storage, UntarError};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::oneshot,
};

/// Every file and directory under `root` with file contents, for comparing trees.
fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let name = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, e.file_type().is_file().then(|| fs::read(e.path()).unwrap()))
        })
        .collect()
}

fn quick() -> ArchiveFetcher {
    ArchiveFetcher::builder()
        .retries(2)
        .retry_wait(Duration::from_millis(10), Duration::from_millis(40))
        .build()
}

/// A storage with an archived tree, served by the artifact server.
struct Served {
    _storage_dir: tempfile::TempDir,
    source: tempfile::TempDir,
    artifact: Artifact,
    url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_tree(files: &[(&str, &[u8])]) -> Served {
    let storage_dir = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = source.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    let options = Options {
        storage_path: storage_dir.path().into(),
        storage_address: "127.0.0.1:0".into(),
        ..Options::default()
    };
    let server = flux_artifact_server::Server::bind(&options).await.unwrap();
    let addr = server.local_addr();
    let options = Options {
        storage_adv_address: addr.to_string(),
        ..options
    };
    let storage = Storage::new(&options).unwrap().with_fsync(false);
    let mut artifact = storage
        .new_artifact_for("GitRepository", &("ns", "repo"), "main@sha1:abc", "a.tar.gz")
        .unwrap();
    storage.archive(&mut artifact, source.path(), None).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let url = artifact.url.clone();
    Served {
        _storage_dir: storage_dir,
        source,
        artifact,
        url,
        stop: Some(stop),
    }
}

/// What a scripted server answers to the n-th request.
#[derive(Clone)]
enum Reply {
    Status(u16),
    Body(Vec<u8>),
    /// Announces the whole body, sends the first `cut` bytes, and closes.
    Truncated(Vec<u8>, usize),
    /// Sends the body without `Content-Length`, ending it by closing the connection.
    Unannounced(Vec<u8>),
    /// Never answers.
    Hang,
    /// Announces `Content-Length`, then sends nothing and keeps the connection open.
    HeadOnly(usize),
    /// Announces the whole body, sends the first `cut` bytes, and sends the rest once
    /// the receiver fires.
    Stalled(Vec<u8>, usize, Arc<tokio::sync::Notify>),
}

/// A server answering requests in turn from `script` (the last reply repeats), and
/// counting them.
async fn scripted(script: Vec<Reply>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let reply = script[n.min(script.len() - 1)].clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => request.extend_from_slice(&buf[..k]),
                    }
                }
                let head = |status: u16, len: usize| {
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                        .into_bytes()
                };
                match reply {
                    Reply::Status(status) => {
                        let _ = stream.write_all(&head(status, 0)).await;
                    }
                    Reply::Body(body) => {
                        let _ = stream.write_all(&head(200, body.len())).await;
                        let _ = stream.write_all(&body).await;
                    }
                    Reply::Unannounced(body) => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                            .await;
                        let _ = stream.write_all(&body).await;
                    }
                    Reply::Truncated(body, cut) => {
                        let _ = stream.write_all(&head(200, body.len())).await;
                        let _ = stream.write_all(&body[..cut]).await;
                    }
                    Reply::Hang => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Reply::HeadOnly(len) => {
                        let _ = stream.write_all(&head(200, len)).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Reply::Stalled(body, cut, resume) => {
                        let _ = stream.write_all(&head(200, body.len())).await;
                        let _ = stream.write_all(&body[..cut]).await;
                        resume.notified().await;
                        let _ = stream.write_all(&body[cut..]).await;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, count)
}

/// A gzipped tarball of (name, type, content) entries, from raw headers.
fn tarball(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, type_flag, content) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..124].copy_from_slice(b"0000000\x000000000\x00");
        h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = *type_flag;
        h[257..265].copy_from_slice(b"ustar\x0000");
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &x)| if (148..156).contains(&i) { 32 } else { u32::from(x) })
            .sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(content);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn digest_of(data: &[u8]) -> String {
    Algorithm::Sha256.digest_bytes(data).to_string()
}

#[tokio::test]
async fn an_archive_made_by_storage_and_served_by_the_server_comes_back_byte_for_byte() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let served = serve_tree(&[
        ("deploy/app.yaml", b"kind: Deployment\n"),
        ("deploy/blob.bin", &big),
        ("README.md", b"# hi\n"),
    ])
    .await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("source");
    let summary = quick()
        .fetch(&served.url, &served.artifact.digest, &target)
        .await
        .unwrap();
    assert_eq!(snapshot(&target), snapshot(served.source.path()));
    assert_eq!(summary.downloaded, served.artifact.size.unwrap() as u64);
    assert_eq!(summary.attempts, 1);
    assert_eq!(summary.extracted.files, 3);
}

#[tokio::test]
async fn a_bare_hex_digest_is_read_as_sha256() {
    let served = serve_tree(&[("a.yaml", b"a")]).await;
    let hex = served.artifact.digest.trim_start_matches("sha256:");
    let out = tempfile::tempdir().unwrap();
    quick()
        .fetch(&served.url, hex, out.path().join("x"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_digest_leaves_nothing_in_the_target() {
    let served = serve_tree(&[("a.yaml", b"a")]).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("source");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep.txt"), "untouched").unwrap();
    let wrong = digest_of(b"something else");
    let err = quick().fetch(&served.url, &wrong, &target).await.unwrap_err();
    let Error::DigestMismatch(mismatch) = &err else {
        panic!("{err}")
    };
    assert_eq!(mismatch.expected.to_string(), wrong);
    assert_eq!(mismatch.actual.to_string(), served.artifact.digest);
    assert_eq!(
        snapshot(&target),
        [("keep.txt".to_owned(), Some(b"untouched".to_vec()))]
    );
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        1,
        "no staging directory is left behind"
    );
}

#[tokio::test]
async fn a_404_is_file_not_found_and_not_retried() {
    let (addr, count) = scripted(vec![Reply::Status(404)]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://{addr}/k/ns/n/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_artifact_on_the_real_server_is_file_not_found() {
    let served = serve_tree(&[]).await;
    let url = served.url.replace("a.tar.gz", "gone.tar.gz");
    let out = tempfile::tempdir().unwrap();
    assert!(
        quick()
            .fetch(&url, &served.artifact.digest, out.path().join("x"))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn a_transient_503_is_retried() {
    let body = tarball(&[("a.yaml", b'0', b"after retry")]);
    let (addr, count) = scripted(vec![Reply::Status(503), Reply::Body(body.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    let summary = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(&body),
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_eq!(summary.attempts, 2);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(fs::read(out.path().join("x/a.yaml")).unwrap(), b"after retry");
}

#[tokio::test]
async fn persistent_5xx_gives_the_status_after_the_retries() {
    let (addr, count) = scripted(vec![Reply::Status(502)]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Status { status, .. } if status == 502),
        "{err}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_4xx_other_than_404_is_not_retried() {
    let (addr, count) = scripted(vec![Reply::Status(403)]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Status { status, .. } if status == 403),
        "{err}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_cut_short_is_retried_then_reported_and_leaves_nothing() {
    let body = tarball(&[("a.bin", b'0', &vec![7u8; 200_000])]);
    let (addr, count) = scripted(vec![Reply::Truncated(body.clone(), body.len() / 2)]).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x");
    let err = quick()
        .fetch(&format!("http://{addr}/a.tar.gz"), &digest_of(&body), &target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Body { .. }), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(!target.exists());
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_truncated_body_then_a_good_one_succeeds() {
    let body = tarball(&[("a.bin", b'0', &vec![7u8; 200_000])]);
    let (addr, _) = scripted(vec![
        Reply::Truncated(body.clone(), 1000),
        Reply::Body(body.clone()),
    ])
    .await;
    let out = tempfile::tempdir().unwrap();
    let summary = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(&body),
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_eq!(summary.attempts, 2);
    assert_eq!(fs::read(out.path().join("x/a.bin")).unwrap().len(), 200_000);
}

#[tokio::test]
async fn the_server_shutting_down_mid_download_is_a_body_error() {
    let body = tarball(&[(
        "big.bin",
        b'0',
        &(0..8_000_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>(),
    )]);
    let (addr, _) = scripted(vec![Reply::Truncated(body.clone(), body.len() - 10)]).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder().retries(0).build();
    let err = fetcher
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(&body),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Body { .. }), "{err}");
}

#[tokio::test]
async fn downloads_over_the_size_cap_are_refused() {
    let served = serve_tree(&[("a.bin", &[1u8; 50_000])]).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder().max_download_size(Some(100)).build();
    let err = fetcher
        .fetch(&served.url, &served.artifact.digest, out.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100, .. }), "{err}");
    assert!(!out.path().join("x").exists());
}

#[tokio::test]
async fn a_body_without_content_length_is_capped_by_the_bytes_received() {
    let body = tarball(&[(
        "a.bin",
        b'0',
        &(0..300_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    )]);
    let (addr, _) = scripted(vec![Reply::Unannounced(body.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/a.tar.gz");
    let fetcher = ArchiveFetcher::builder()
        .max_download_size(Some(body.len() as u64 - 1))
        .retries(0)
        .build();
    let err = fetcher
        .fetch(&url, &digest_of(&body), out.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    // The same body within the cap is fine.
    let fetcher = ArchiveFetcher::builder()
        .max_download_size(Some(body.len() as u64))
        .retries(0)
        .build();
    fetcher
        .fetch(&url, &digest_of(&body), out.path().join("y"))
        .await
        .unwrap();
}

#[tokio::test]
async fn extraction_over_the_untar_cap_is_refused() {
    let served = serve_tree(&[("a.bin", &[1u8; 50_000])]).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder().max_untar_size(Some(1000)).build();
    let err = fetcher
        .fetch(&served.url, &served.artifact.digest, out.path().join("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Untar {
                source: UntarError::TooLarge { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!out.path().join("x").exists());
}

#[tokio::test]
async fn symlinks_in_the_tarball_are_skipped_like_flux_does() {
    let body = tarball(&[("link", b'2', b""), ("real.yaml", b'0', b"real")]);
    let (addr, _) = scripted(vec![Reply::Body(body.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(&body),
            out.path().join("x"),
        )
        .await
        .unwrap();
    assert_eq!(
        snapshot(&out.path().join("x")),
        [("real.yaml".to_owned(), Some(b"real".to_vec()))]
    );
}

#[tokio::test]
async fn a_hostile_tarball_with_a_matching_digest_is_still_refused() {
    let body = tarball(&[("../escape.txt", b'0', b"x")]);
    let (addr, _) = scripted(vec![Reply::Body(body.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(&body),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Untar {
                source: UntarError::ParentTraversal { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_tampered_and_broken_tarball_is_reported_as_a_digest_mismatch() {
    let body = b"this is not gzip".to_vec();
    let (addr, _) = scripted(vec![Reply::Body(body)]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(b"expected"),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch(_)), "{err}");
}

#[tokio::test]
async fn an_unsupported_algorithm_is_refused_before_any_request() {
    let (addr, count) = scripted(vec![Reply::Status(200)]).await;
    let out = tempfile::tempdir().unwrap();
    let sha1 = format!("sha1:{}", "a".repeat(40));
    let err = quick()
        .fetch(&format!("http://{addr}/a.tar.gz"), &sha1, out.path().join("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedAlgorithm {
                algorithm: Algorithm::Sha1
            }
        ),
        "{err}"
    );
    for bad in ["", "sha256:ABC", &"F".repeat(64)] {
        assert!(
            quick()
                .fetch(&format!("http://{addr}/a.tar.gz"), bad, out.path().join("x"))
                .await
                .is_err()
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_hostname_override_redirects_requests() {
    let served = serve_tree(&[("a.yaml", b"a")]).await;
    let addr = served
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let cluster_url = served
        .url
        .replace(&addr, "source-controller.flux-system.svc.cluster.local.");
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder().hostname_override(addr).build();
    fetcher
        .fetch(&cluster_url, &served.artifact.digest, out.path().join("x"))
        .await
        .unwrap();
    assert_eq!(fs::read(out.path().join("x/a.yaml")).unwrap(), b"a");
}

#[tokio::test]
async fn urls_of_other_schemes_are_refused() {
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch("ftp://127.0.0.1/a.tar.gz", &digest_of(b""), out.path().join("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
}

/// Built without the `tls` feature (`cargo test -p flux-artifact-fetch
/// --no-default-features`), an `https://` URL is refused up front with its own error,
/// not sent in the clear nor reported as a failed connection.
#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn https_urls_without_the_tls_feature_are_refused_before_any_request() {
    let (addr, count) = scripted(vec![Reply::Status(200)]).await;
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("https://{addr}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HttpsNotEnabled { .. }), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (addr, _) = scripted(vec![Reply::Hang]).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder()
        .retries(0)
        .request_timeout(Duration::from_millis(200))
        .build();
    let err = fetcher
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_refused_connection_is_a_request_error_after_the_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(
            &format!("http://127.0.0.1:{port}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Request { .. }), "{err}");
}

#[tokio::test]
async fn an_existing_target_keeps_other_entries_and_gets_the_new_ones() {
    let served = serve_tree(&[("a.yaml", b"new a"), ("dir/b.yaml", b"new b")]).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x");
    fs::create_dir_all(target.join("dir")).unwrap();
    fs::write(target.join("a.yaml"), "old a").unwrap();
    fs::write(target.join("dir/stale.yaml"), "stale").unwrap();
    fs::write(target.join("other.txt"), "other").unwrap();
    quick()
        .fetch(&served.url, &served.artifact.digest, &target)
        .await
        .unwrap();
    assert_eq!(
        snapshot(&target),
        [
            ("a.yaml".to_owned(), Some(b"new a".to_vec())),
            ("dir".to_owned(), None),
            ("dir/b.yaml".to_owned(), Some(b"new b".to_vec())),
            ("other.txt".to_owned(), Some(b"other".to_vec())),
        ]
    );
}

#[tokio::test]
async fn a_wrong_bare_hex_digest_is_a_mismatch() {
    let served = serve_tree(&[("a.yaml", b"a")]).await;
    let wrong = Algorithm::Sha256.digest_bytes(b"other").to_string();
    let bare = wrong.trim_start_matches("sha256:");
    let out = tempfile::tempdir().unwrap();
    let err = quick()
        .fetch(&served.url, bare, out.path().join("x"))
        .await
        .unwrap_err();
    let Error::DigestMismatch(mismatch) = &err else {
        panic!("{err}")
    };
    assert_eq!(mismatch.expected.to_string(), wrong);
    assert_eq!(mismatch.actual.to_string(), served.artifact.digest);
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_extraction_error_leaves_an_existing_target_as_it_was() {
    // The digest matches; the second entry is refused after the first was extracted.
    let body = tarball(&[("a.yaml", b'0', b"new a"), ("../escape.yaml", b'0', b"x")]);
    let (addr, _) = scripted(vec![Reply::Body(body.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("a.yaml"), "old a").unwrap();
    fs::write(target.join("keep.yaml"), "keep").unwrap();
    let before = snapshot(&target);
    let err = quick()
        .fetch(&format!("http://{addr}/a.tar.gz"), &digest_of(&body), &target)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Untar {
                source: UntarError::ParentTraversal { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(&target), before);
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        1,
        "no staging directory or download is left beside the target"
    );
}

#[tokio::test]
async fn an_announced_length_over_the_cap_fails_before_the_body_is_read() {
    // The server announces a large body and sends none of it: reading the body would
    // wait for the request timeout; the announced length alone must end the fetch.
    let (addr, count) = scripted(vec![Reply::HeadOnly(1 << 30)]).await;
    let out = tempfile::tempdir().unwrap();
    let fetcher = ArchiveFetcher::builder()
        .max_download_size(Some(1 << 20))
        .request_timeout(Duration::from_secs(20))
        .retries(0)
        .build();
    let err = fetcher
        .fetch(
            &format!("http://{addr}/a.tar.gz"),
            &digest_of(b""),
            out.path().join("x"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == 1 << 20),
        "{err}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn the_download_is_spooled_beside_the_target_and_extracted_only_once_complete() {
    let body = tarball(&[(
        "a.bin",
        b'0',
        &(0..400_000u32).map(|i| (i * 31 % 251) as u8).collect::<Vec<_>>(),
    )]);
    let cut = body.len() / 2;
    let resume = Arc::new(tokio::sync::Notify::new());
    let (addr, _) = scripted(vec![Reply::Stalled(body.clone(), cut, resume.clone())]).await;
    let out = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/a.tar.gz");
    let digest = digest_of(&body);
    let target = out.path().join("x");
    let fetch = tokio::spawn({
        let target = target.clone();
        async move { quick().fetch(&url, &digest, &target).await }
    });

    // While the body is half sent, the parent holds one file, the spool, with what
    // has arrived, and nothing extracted.
    let mut spooled = Vec::new();
    for _ in 0..1000 {
        spooled = fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.file_name().into_string().unwrap(), e.metadata().unwrap()))
            .collect();
        if spooled.len() == 1 && spooled[0].1.len() == cut as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    let (name, meta) = &spooled[0];
    assert!(
        name.starts_with(".fetch-") && name.ends_with(".download"),
        "{name}"
    );
    assert!(meta.is_file());
    assert_eq!(meta.len(), cut as u64);

    resume.notify_one();
    let summary = fetch.await.unwrap().unwrap();
    assert_eq!(summary.extracted.files, 1);
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        1,
        "only the target remains"
    );
    assert_eq!(fs::read(target.join("a.bin")).unwrap().len(), 400_000);
}
