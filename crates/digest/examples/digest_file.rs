//! Computes the digest of a file, or verifies a file against a digest.
//!
//! ```text
//! cargo run -p flux-artifact-digest --example digest_file -- FILE [ALGORITHM]
//! cargo run -p flux-artifact-digest --example digest_file -- FILE --verify sha256:…
//! ```
//!
//! ALGORITHM is a wire name (`sha256`, the default; `sha384`, `sha512`, `blake3`, `sha1`,
//! `sha3-256`, `sha3-512`). Verification exits with status 1 on a mismatch.

use std::{fs::File, process::ExitCode};

use flux_artifact_digest::{Algorithm, Digest};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!("usage: digest_file FILE [ALGORITHM] | digest_file FILE --verify DIGEST");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let (path, mode) = match args {
        [path] => (path, None),
        [path, algorithm] => (path, Some(Mode::Compute(algorithm))),
        [path, flag, digest] if flag == "--verify" => (path, Some(Mode::Verify(digest))),
        _ => return Err("expected a file and an optional algorithm or --verify DIGEST".into()),
    };
    let file = File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    match mode {
        None => compute(path, file, Algorithm::CANONICAL),
        Some(Mode::Compute(name)) => compute(path, file, name.parse().map_err(|e| format!("{e}"))?),
        Some(Mode::Verify(expected)) => {
            let expected: Digest = expected.parse().map_err(|e| format!("{e}"))?;
            let actual = expected
                .algorithm()
                .digest_reader(file)
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            if actual == expected {
                println!("{path}: OK ({expected})");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{path}: MISMATCH: expected {expected}, computed {actual}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

enum Mode<'a> {
    Compute(&'a str),
    Verify(&'a str),
}

fn compute(path: &str, file: File, algorithm: Algorithm) -> Result<ExitCode, String> {
    let digest = algorithm
        .digest_reader(file)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    println!("{digest}  {path}");
    if !algorithm.is_verifiable_by_flux() {
        eprintln!("note: Flux consumers cannot verify {algorithm} artifact digests");
    }
    Ok(ExitCode::SUCCESS)
}
