//! Known-answer tests for every algorithm, through every way of computing a digest.
//!
//! The expected values were computed outside Rust, on 2026-11-24, with:
//! - GNU coreutils 9.1 `sha1sum`, `sha256sum`, `sha384sum`, `sha512sum`;
//! - `b3sum` 1.2.0 (Debian package `b3sum`) for blake3;
//! - CPython 3.11.7 `hashlib.sha3_256` / `hashlib.sha3_512` for SHA-3.
//!
//! The inputs are the empty string, `abc`, and 1 MiB whose byte `i` is `i % 251`, written
//! to files by `python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(1<<20)))"`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use flux_artifact_digest::{Algorithm, Digest, MultiDigester};

struct Vector {
    algorithm: Algorithm,
    empty: &'static str,
    abc: &'static str,
    mebibyte: &'static str,
}

const VECTORS: [Vector; 7] = [
    Vector {
        algorithm: Algorithm::Sha1,
        empty: "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        abc: "a9993e364706816aba3e25717850c26c9cd0d89d",
        mebibyte: "c2fc4cb20f1301a6b0dd211c19e69a13925dbe40",
    },
    Vector {
        algorithm: Algorithm::Sha256,
        empty: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        abc: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        mebibyte: "631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769",
    },
    Vector {
        algorithm: Algorithm::Sha384,
        empty: "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
        abc: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        mebibyte: "c0b5633796816dc370458921d148550ed3e490ca635324e19b86a26c500577c623a37ecc5de698c222fba72e08e0ee5b",
    },
    Vector {
        algorithm: Algorithm::Sha512,
        empty: "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        abc: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        mebibyte: "67dad569eefc986a3b2424f5516d5a0284bb53d7b52d75f5ed881a6830a95765ccc82bc48752fb693422579f11dc9a400561ec1885af9eeef703dbbd312d4fd0",
    },
    Vector {
        algorithm: Algorithm::Blake3,
        empty: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        abc: "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        mebibyte: "74cb441fd087764ca9c3694da742ebe30cbeb3060a17009ca81825c7a8d10343",
    },
    Vector {
        algorithm: Algorithm::Sha3_256,
        empty: "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
        abc: "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
        mebibyte: "eec77e4d80484c04a505e6203c3822c67e13ce186fec1ea01e56961dcd7261ca",
    },
    Vector {
        algorithm: Algorithm::Sha3_512,
        empty: "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26",
        abc: "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0",
        mebibyte: "d4f59cf8ca6f21828cd4310889c984f2ad2fec66fb953c3999e8c00903c8cbbd5fd12a4779b775822ff8ef28bbc796af9af4a1d4ab49d43d1b2bdd9e86461371",
    },
];

fn mebibyte() -> Vec<u8> {
    (0..1usize << 20).map(|i| (i % 251) as u8).collect()
}

fn cases(v: &Vector) -> [(&'static str, Vec<u8>, Digest); 3] {
    let expected = |hex: &str| format!("{}:{hex}", v.algorithm).parse::<Digest>().unwrap();
    [
        ("empty", Vec::new(), expected(v.empty)),
        ("abc", b"abc".to_vec(), expected(v.abc)),
        ("1 MiB", mebibyte(), expected(v.mebibyte)),
    ]
}

#[test]
fn digest_bytes_matches_independent_tools() {
    for v in &VECTORS {
        for (name, input, expected) in cases(v) {
            assert_eq!(
                v.algorithm.digest_bytes(&input),
                expected,
                "{} of {name}",
                v.algorithm
            );
        }
    }
}

#[test]
fn digester_fed_in_uneven_chunks_matches_independent_tools() {
    for v in &VECTORS {
        for (name, input, expected) in cases(v) {
            let mut digester = v.algorithm.digester();
            // 2 KiB + 1 straddles every block size (64, 128, 136, 72 bytes, 1 KiB chunks).
            for chunk in input.chunks(2049) {
                digester.write_all(chunk).unwrap();
            }
            assert_eq!(digester.digest(), expected, "{} of {name}", v.algorithm);
        }
    }
}

#[test]
fn digest_reader_matches_independent_tools() {
    for v in &VECTORS {
        for (name, input, expected) in cases(v) {
            assert_eq!(
                v.algorithm.digest_reader(input.as_slice()).unwrap(),
                expected,
                "{} of {name}",
                v.algorithm
            );
        }
    }
}

#[test]
fn multi_digester_computes_every_algorithm_in_one_pass() {
    let input = mebibyte();
    let mut multi = MultiDigester::new(&Algorithm::ALL);
    for chunk in input.chunks(2048) {
        multi.write_all(chunk).unwrap();
    }
    for v in &VECTORS {
        let expected: Digest = format!("{}:{}", v.algorithm, v.mebibyte).parse().unwrap();
        assert_eq!(multi.digest(v.algorithm), Some(expected));
    }
}

#[test]
fn verifier_accepts_the_known_answer_and_rejects_a_flipped_byte() {
    for v in &VECTORS {
        let (_, mut input, expected) = cases(v).into_iter().nth(2).unwrap();
        let mut verifier = expected.verifier();
        verifier.write_all(&input).unwrap();
        assert!(verifier.verified(), "{}", v.algorithm);

        input[4242] ^= 1;
        let mut verifier = expected.verifier();
        verifier.write_all(&input).unwrap();
        assert!(!verifier.verified(), "{}", v.algorithm);
    }
}

/// The Go SDK's own vectors (`digest/writer_test.go`, `storage_test.go`).
#[test]
fn go_sdk_vectors_hold() {
    let mut multi = MultiDigester::new(&[Algorithm::Sha256, Algorithm::Sha512]);
    multi.write_all(b"hello").unwrap();
    multi.write_all(b" world").unwrap();
    assert_eq!(
        multi.digest(Algorithm::Sha256).unwrap().to_string(),
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(
        Algorithm::Sha256.digest_bytes(b"test").to_string(),
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}
