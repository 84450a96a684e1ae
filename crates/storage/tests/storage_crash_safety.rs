//! Crash safety and concurrency of writes, with real processes: writers SIGKILLed at
//! random points, writers racing on one artifact under its lock, and garbage
//! collection running while a write is in progress.
//!
//! The writers are this test binary run again on [`child_process`], told what to do by
//! environment variables, so that a kill ends a whole process as a crash would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant, SystemTime},
};

use common::{TestStorage, set_age, write_tree};
use flux_artifact_config::Options;
use flux_artifact_digest::{Algorithm, Digest};
use flux_artifact_storage::{Artifact, Storage, UntarOptions, is_temp_file_name, untar};

const ROLE: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_ROLE";
const ROOT: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_ROOT";
const PATH: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_PATH";
const SOURCE: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_SOURCE";
const PAUSE_AT: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_PAUSE_AT";
const LOG: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_LOG";
const ID: &str = "FLUX_ARTIFACT_STORAGE_TEST_CHILD_ID";

const ARTIFACT: &str = "k/ns/n/app.tar.gz";
/// Chunks of the content the `write` child writes.
const CHUNKS: usize = 32;
const CHUNK: usize = 64 * 1024;

/// The content the `write` child writes: [`CHUNKS`] distinct chunks.
fn new_content() -> Vec<u8> {
    (0..CHUNKS)
        .flat_map(|i| std::iter::repeat_n((i as u8) ^ 0x5a, CHUNK))
        .collect()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap()
}

fn child_storage() -> Storage {
    let options = Options {
        storage_path: env(ROOT).into(),
        ..Options::default()
    };
    Storage::new(&options).unwrap().with_fsync(false)
}

/// Feeds [`new_content`] chunk by chunk, announcing each on stdout, and stops for good
/// before chunk `pause_at` (to be killed there).
struct AnnouncingReader {
    next: usize,
    pause_at: usize,
    offset: usize,
    content: Vec<u8>,
}

impl Read for AnnouncingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset == self.content.len() {
            return Ok(0);
        }
        if self.offset.is_multiple_of(CHUNK) {
            if self.next == self.pause_at {
                println!("PAUSED {}", self.next);
                std::io::stdout().flush()?;
                loop {
                    std::thread::park();
                }
            }
            println!("CHUNK {}", self.next);
            std::io::stdout().flush()?;
            self.next += 1;
        }
        let end = (self.offset / CHUNK + 1) * CHUNK;
        let n = buf.len().min(end - self.offset);
        buf[..n].copy_from_slice(&self.content[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

/// Not a test of its own: the body of the writer processes the tests start.
#[test]
#[ignore = "helper run by the other tests in a child process"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let storage = child_storage();
    let mut artifact = Artifact {
        path: env(PATH),
        ..Artifact::default()
    };
    match role.as_str() {
        "write" => {
            let reader = AnnouncingReader {
                next: 0,
                pause_at: env(PAUSE_AT).parse().unwrap(),
                offset: 0,
                content: new_content(),
            };
            storage.atomic_write_file(&mut artifact, reader, 0o600).unwrap();
        }
        "archive" => {
            println!("ARCHIVING");
            std::io::stdout().flush().unwrap();
            storage
                .archive(&mut artifact, Path::new(&env(SOURCE)), None)
                .unwrap();
        }
        "archive-locked" => {
            let id = env(ID);
            let _guard = storage.lock(&artifact).unwrap();
            append(&env(LOG), &format!("start {id}\n"));
            storage
                .archive(&mut artifact, Path::new(&env(SOURCE)), None)
                .unwrap();
            append(&env(LOG), &format!("end {id} {}\n", artifact.digest));
        }
        other => panic!("unknown role {other}"),
    }
    println!("DONE {}", artifact.digest);
}

fn append(log: &str, line: &str) {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    file.write_all(line.as_bytes()).unwrap();
}

/// Starts this binary on [`child_process`] with `role` and more variables.
fn spawn(role: &str, root: &Path, vars: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(ROOT, root)
        .env(PATH, ARTIFACT)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in vars {
        command.env(name, value);
    }
    command.spawn().unwrap()
}

/// Reads the child's stdout until a line holds `marker`, and returns the line from
/// there (`None` if the child exits first).
fn wait_for(lines: &mut impl BufRead, marker: &str) -> Option<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        // libtest may print its own "test child_process ... " before the first line.
        if let Some(at) = line.find(marker) {
            return Some(line[at..].trim_end().to_owned());
        }
    }
}

/// A small xorshift generator: the tests need random points, not good randomness. The
/// seed is printed, and `FLUX_ARTIFACT_STORAGE_TEST_SEED` replays a run.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("FLUX_ARTIFACT_STORAGE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
                    .into()
            })
            | 1;
        println!("seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

fn digest_of_file(path: &Path) -> Digest {
    Algorithm::Sha256
        .digest_reader(fs::File::open(path).unwrap())
        .unwrap()
}

/// The temporary files in `dir`.
fn temp_files(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| is_temp_file_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

/// Backdates the leftovers of crashed writers past GC's grace period, collects, and
/// checks every one of them was reclaimed and nothing else was touched.
fn gc_reclaims(t: &TestStorage, leftovers: &BTreeSet<PathBuf>) {
    let dir = t.base().join("k/ns/n");
    let before = digest_of_file(&dir.join("app.tar.gz"));
    for path in leftovers {
        set_age(path, Duration::from_secs(120));
    }
    let deleted: BTreeSet<PathBuf> = t
        .storage
        .garbage_collect(&t.artifact(ARTIFACT), Duration::from_secs(30))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(&deleted, leftovers);
    assert!(temp_files(&dir).is_empty());
    assert_eq!(digest_of_file(&dir.join("app.tar.gz")), before);
}

#[test]
fn a_writer_killed_at_any_point_leaves_the_old_file_or_the_new_one() {
    let t = TestStorage::new();
    let old = b"the old artifact".to_vec();
    let old_digest = Algorithm::Sha256.digest_bytes(&old);
    let new_digest = Algorithm::Sha256.digest_bytes(&new_content());
    let final_path = t.base().join(ARTIFACT);
    let dir = final_path.parent().unwrap().to_path_buf();
    let mut rng = Rng::new();
    let mut leftovers = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0..24 {
        if Instant::now() > deadline {
            println!("stopped after {round} rounds: time budget spent");
            break;
        }
        t.storage.copy(&mut t.artifact(ARTIFACT), &old[..]).unwrap();
        // Even rounds stop the writer at a chosen chunk and kill it there; odd rounds
        // kill it after a random delay, wherever it is (starting, writing, renaming,
        // or done).
        let pause_at = if round % 2 == 0 {
            rng.below(CHUNKS as u64) as usize
        } else {
            usize::MAX
        };
        let mut child = spawn("write", &t.base(), &[(PAUSE_AT, pause_at.to_string())]);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        if pause_at == usize::MAX {
            wait_for(&mut stdout, "CHUNK 0").unwrap();
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        } else {
            assert!(wait_for(&mut stdout, "PAUSED").is_some(), "round {round}");
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let found = digest_of_file(&final_path);
        assert!(
            found == old_digest || found == new_digest,
            "round {round}: the artifact is neither the old nor the new file"
        );
        if pause_at != usize::MAX {
            assert_eq!(
                found, old_digest,
                "round {round}: killed mid-write at chunk {pause_at}"
            );
            assert!(
                !temp_files(&dir).is_empty(),
                "round {round}: a crashed write leaves its temp file"
            );
        }
        leftovers.extend(temp_files(&dir));
    }
    gc_reclaims(&t, &leftovers);
}

#[test]
fn an_archive_killed_at_any_point_leaves_the_old_file_or_the_new_one() {
    let t = TestStorage::new();
    let source = tempfile::tempdir().unwrap();
    // Some MiB of poorly compressible content, so that archiving takes a while.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..8 {
        let data: Vec<u8> = (0..(1usize << 20))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        write_tree(source.path(), &[(&format!("dir{}/f{i}.bin", i % 3), "")]);
        fs::write(source.path().join(format!("dir{}/f{i}.bin", i % 3)), data).unwrap();
    }
    let old_source = tempfile::tempdir().unwrap();
    write_tree(old_source.path(), &[("old.yaml", "old")]);

    // A writer that runs to the end gives the new artifact's digest (archives are
    // reproducible) and the time an archive takes, which sets the range of kill delays.
    let reference = "k/ns/n/reference.tar.gz";
    let mut child = spawn(
        "archive",
        &t.base(),
        &[
            (SOURCE, source.path().display().to_string()),
            (PATH, reference.to_owned()),
        ],
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    wait_for(&mut stdout, "ARCHIVING").unwrap();
    let started = Instant::now();
    let done = wait_for(&mut stdout, "DONE").unwrap();
    let archive_time = started.elapsed();
    assert!(child.wait().unwrap().success());
    let new_digest: Digest = done.trim_start_matches("DONE ").parse().unwrap();
    t.storage.remove(&t.artifact(reference)).unwrap();

    let final_path = t.base().join(ARTIFACT);
    let dir = final_path.parent().unwrap().to_path_buf();
    let mut rng = Rng::new();
    let mut leftovers = BTreeSet::new();
    let mut outcomes = [0usize; 2];
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0..12 {
        if Instant::now() > deadline {
            println!("stopped after {round} rounds: time budget spent");
            break;
        }
        let mut old = t.artifact(ARTIFACT);
        t.storage.archive(&mut old, old_source.path(), None).unwrap();
        let old: Digest = old.digest.parse().unwrap();
        let mut child = spawn(
            "archive",
            &t.base(),
            &[(SOURCE, source.path().display().to_string())],
        );
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        wait_for(&mut stdout, "ARCHIVING").unwrap();
        let delay = rng.below(archive_time.as_micros() as u64 * 3 / 2);
        std::thread::sleep(Duration::from_micros(delay));
        child.kill().unwrap();
        child.wait().unwrap();

        let found = digest_of_file(&final_path);
        assert!(
            found == old || found == new_digest,
            "round {round}: the artifact is neither the old nor the new archive"
        );
        outcomes[usize::from(found == new_digest)] += 1;
        leftovers.extend(temp_files(&dir));
    }
    println!(
        "archive {archive_time:?}; old kept {} times, new {} times; {} temp files left by kills",
        outcomes[0],
        outcomes[1],
        leftovers.len()
    );
    gc_reclaims(&t, &leftovers);
}

#[test]
fn writers_in_many_processes_take_turns_under_the_lock_and_one_wins() {
    let t = TestStorage::new();
    let log = t.root.path().join("turns.log");
    let sources: Vec<tempfile::TempDir> = (0..6)
        .map(|i| {
            let dir = tempfile::tempdir().unwrap();
            let big: String = format!("writer {i}\n").repeat(20_000);
            write_tree(dir.path(), &[("id.txt", &i.to_string()), ("big.txt", &big)]);
            dir
        })
        .collect();
    let children: Vec<Child> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            spawn(
                "archive-locked",
                &t.base(),
                &[
                    (SOURCE, source.path().display().to_string()),
                    (LOG, log.display().to_string()),
                    (ID, i.to_string()),
                ],
            )
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }

    // Each writer's turn ends before the next one starts.
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 12, "{text}");
    let mut digests = Vec::new();
    for turn in lines.chunks(2) {
        assert_eq!(turn[0][0], "start", "{text}");
        assert_eq!(turn[1][0], "end", "{text}");
        assert_eq!(turn[0][1], turn[1][1], "turns interleave:\n{text}");
        digests.push((turn[1][1].to_owned(), turn[1][2].to_owned()));
    }
    // The last one wins: the file is exactly its archive, complete and verifiable.
    let (winner, digest) = digests.last().unwrap().clone();
    let artifact = Artifact {
        digest,
        ..t.artifact(ARTIFACT)
    };
    t.storage.verify_artifact(&artifact).unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = fs::File::open(t.base().join(ARTIFACT)).unwrap();
    untar(file, out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(fs::read_to_string(out.path().join("id.txt")).unwrap(), winner);
    assert!(temp_files(&t.base().join("k/ns/n")).is_empty());
}

/// Yields what it is sent, after telling that it was first asked for data: by then the
/// write has created (and locked) its temporary file.
struct BlockingReader {
    started: Option<mpsc::Sender<()>>,
    chunks: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
}

impl Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(started) = self.started.take() {
            started.send(()).unwrap();
        }
        if self.current.is_empty() {
            match self.chunks.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.drain(..n);
        Ok(n)
    }
}

#[test]
fn garbage_collection_during_a_write_leaves_its_temporary_file_alone() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = Duration::from_secs(1);
        o.artifact_retention_records = 1;
    });
    let (started_tx, started) = mpsc::channel();
    let (chunks_tx, chunks) = mpsc::channel();
    let reader = BlockingReader {
        started: Some(started_tx),
        chunks,
        current: Vec::new(),
    };
    let storage = t.storage.clone();
    let mut artifact = t.artifact(ARTIFACT);
    let writer = std::thread::spawn(move || storage.copy(&mut artifact, reader).map(|()| artifact));
    started.recv().unwrap();

    let dir = t.base().join("k/ns/n");
    let temps = temp_files(&dir);
    assert_eq!(temps.len(), 1);
    let temp = temps.into_iter().next().unwrap();
    // Old enough to pass for the leftover of a crash: only its lock says otherwise.
    set_age(&temp, Duration::from_secs(3600));
    let deleted = t
        .storage
        .garbage_collect(&t.artifact(ARTIFACT), Duration::from_secs(10))
        .unwrap();
    assert!(deleted.is_empty(), "{deleted:?}");
    assert!(temp.exists());

    chunks_tx.send(b"first half, ".to_vec()).unwrap();
    chunks_tx.send(b"second half".to_vec()).unwrap();
    drop(chunks_tx);
    let artifact = writer.join().unwrap().unwrap();
    assert_eq!(
        fs::read(t.base().join(ARTIFACT)).unwrap(),
        b"first half, second half"
    );
    t.storage.verify_artifact(&artifact).unwrap();
    assert!(temp_files(&dir).is_empty());
}
