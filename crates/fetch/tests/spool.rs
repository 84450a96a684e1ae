//! What a fetch costs on disk: a download whose digest does not match writes no more
//! than its own compressed size, however much it would expand to.
//!
//! The bytes a process writes are counted by the kernel (`wchar` in `/proc/<pid>/io`,
//! every byte passed to `write(2)` and its kin, by all threads). Each fetch runs in a
//! child process (this test binary again, on [`child_fetches`]) so that nothing else
//! is counted with it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{io::Write, path::Path, process::Command};

use flate2::{Compression, write::GzEncoder};
use flux_artifact_config::Options;
use flux_artifact_digest::Algorithm;
use flux_artifact_fetch::ArchiveFetcher;
use flux_artifact_storage::Storage;
use tokio::sync::oneshot;

const URL: &str = "FLUX_ARTIFACT_FETCH_TEST_URL";
const DIGEST: &str = "FLUX_ARTIFACT_FETCH_TEST_DIGEST";
const TARGET: &str = "FLUX_ARTIFACT_FETCH_TEST_TARGET";

/// Bytes written by this process so far.
fn written_so_far() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// Not a test of its own: one fetch, in a child process, with the bytes it wrote.
#[test]
#[ignore = "helper run by the other tests in a child process"]
fn child_fetches() {
    let Ok(url) = std::env::var(URL) else {
        return;
    };
    let digest = std::env::var(DIGEST).unwrap();
    let target = std::env::var(TARGET).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetcher = ArchiveFetcher::builder().max_untar_size(None).retries(0).build();
    let before = written_so_far();
    let result = runtime.block_on(fetcher.fetch(&url, &digest, &target));
    let written = written_so_far() - before;
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{e:?}"),
    };
    println!("\nWRITTEN={written}\nOUTCOME={outcome}");
}

/// Fetches in a child process; the bytes it wrote, and `ok` or the error's `Debug`.
fn fetch_in_a_child(url: &str, digest: &str, target: &Path) -> (u64, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["child_fetches", "--exact", "--ignored", "--nocapture"])
        .env(URL, url)
        .env(DIGEST, digest)
        .env(TARGET, target)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| {
                panic!(
                    "the child printed no {name}:\n{stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
            .to_owned()
    };
    (field("WRITTEN=").parse().unwrap(), field("OUTCOME="))
}

const EXPANDED: u64 = 64 << 20;

/// A gzipped tarball of one file of 64 MiB of zeros: about 64 KiB.
fn bomb() -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..4].copy_from_slice(b"bomb");
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..124].copy_from_slice(b"0000000\x000000000\x00");
    header[124..136].copy_from_slice(format!("{EXPANDED:011o}\0").as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..265].copy_from_slice(b"ustar\x0000");
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &x)| if (148..156).contains(&i) { 32 } else { u32::from(x) })
        .sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..EXPANDED >> 20 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

/// The bomb, served by the artifact server: its URL, its digest and its size.
struct Served {
    _root: tempfile::TempDir,
    url: String,
    digest: String,
    size: u64,
    _stop: oneshot::Sender<()>,
}

async fn serve_bomb() -> Served {
    let root = tempfile::tempdir().unwrap();
    let options = Options {
        storage_path: root.path().into(),
        storage_address: "127.0.0.1:0".into(),
        ..Options::default()
    };
    let server = flux_artifact_server::Server::bind(&options).await.unwrap();
    let options = Options {
        storage_adv_address: server.local_addr().to_string(),
        ..options
    };
    let storage = Storage::new(&options).unwrap().with_fsync(false);
    let mut artifact = storage
        .new_artifact_for("Bomb", &("ns", "n"), "v1", "bomb.tar.gz")
        .unwrap();
    let bomb = bomb();
    storage.copy(&mut artifact, bomb.as_slice()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    Served {
        _root: root,
        url: artifact.url,
        digest: artifact.digest,
        size: bomb.len() as u64,
        _stop: stop,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_does_not_match_writes_no_more_than_its_compressed_size() {
    let served = serve_bomb().await;
    let out = tempfile::tempdir().unwrap();
    let wrong = Algorithm::Sha256.digest_bytes(b"something else").to_string();
    let (url, target) = (served.url.clone(), out.path().join("x"));
    let (written, outcome) = tokio::task::spawn_blocking(move || fetch_in_a_child(&url, &wrong, &target))
        .await
        .unwrap();
    assert!(outcome.starts_with("DigestMismatch"), "{outcome}");
    // The spool file, plus a request head and the test harness's own output.
    assert!(
        written <= served.size + 16 * 1024,
        "wrote {written} bytes for a {} byte download",
        served.size
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_matches_writes_its_compressed_and_extracted_size() {
    // The counterpart of the test above: the count does see extraction.
    let served = serve_bomb().await;
    let out = tempfile::tempdir().unwrap();
    let (url, digest, target) = (served.url.clone(), served.digest.clone(), out.path().join("x"));
    let (written, outcome) = tokio::task::spawn_blocking(move || fetch_in_a_child(&url, &digest, &target))
        .await
        .unwrap();
    assert_eq!(outcome, "ok");
    assert!(written >= served.size + EXPANDED, "wrote {written} bytes");
    assert!(
        written <= served.size + EXPANDED + 16 * 1024,
        "wrote {written} bytes"
    );
    assert_eq!(
        std::fs::metadata(out.path().join("x/bomb")).unwrap().len(),
        EXPANDED
    );
}
