//! `Digest` parsing: any string either parses to a digest that displays back to the
//! same string, with a known algorithm and exactly its number of lowercase hex digits,
//! or fails with the error an independent classification of the string predicts.
//! Raw bytes and serde round-trip too.
#![no_main]

use flux_artifact_digest::{Algorithm, Digest, Error};
use libfuzzer_sys::fuzz_target;

/// What parsing `value` must give, derived from the documented rules alone.
#[derive(Debug, PartialEq)]
enum Want {
    Ok(Algorithm),
    Format,
    Unsupported,
    Length { expected: usize, actual: usize },
    Uppercase,
}

fn classify(value: &str) -> Want {
    let Some(colon) = value.find(':') else {
        return Want::Format;
    };
    let (name, hex) = (&value[..colon], &value[colon + 1..]);
    if name.is_empty() || hex.is_empty() {
        return Want::Format;
    }
    let Some(algorithm) = Algorithm::ALL.into_iter().find(|a| a.name() == name) else {
        return Want::Unsupported;
    };
    if hex.len() != algorithm.hex_len() {
        return Want::Length {
            expected: algorithm.hex_len(),
            actual: hex.len(),
        };
    }
    match hex.bytes().find(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        None => Want::Ok(algorithm),
        Some(b'A'..=b'F') => Want::Uppercase,
        Some(_) => Want::Format,
    }
}

fuzz_target!(|data: &[u8]| {
    // Every input is used: as a string when it is one, and as raw digest bytes.
    if let Some((&selector, bytes)) = data.split_first() {
        let algorithm = Algorithm::ALL[usize::from(selector) % Algorithm::ALL.len()];
        match Digest::from_bytes(algorithm, bytes) {
            Ok(digest) => {
                assert_eq!(bytes.len(), algorithm.size());
                assert_eq!(digest.as_bytes(), bytes);
                let text = digest.to_string();
                assert_eq!(text.parse::<Digest>().unwrap(), digest);
                assert_eq!(text, format!("{}:{}", algorithm.name(), digest.hex()));
            }
            Err(Error::InvalidLength { expected, actual, .. }) => {
                assert_ne!(bytes.len(), algorithm.size());
                assert_eq!((expected, actual), (algorithm.hex_len(), bytes.len() * 2));
            }
            Err(other) => panic!("from_bytes failed with {other:?}"),
        }
    }

    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let want = classify(value);
    match value.parse::<Digest>() {
        Ok(digest) => {
            assert_eq!(want, Want::Ok(digest.algorithm()), "{value:?} parsed");
            assert_eq!(
                digest.to_string(),
                value,
                "a parsed digest displays back to its string"
            );
            let hex = digest.hex();
            assert_eq!(hex.len(), digest.algorithm().hex_len());
            assert_eq!(digest.as_bytes().len(), digest.algorithm().size());
            assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            assert_eq!(
                Digest::from_bytes(digest.algorithm(), digest.as_bytes()).unwrap(),
                digest
            );
            let json = serde_json::to_string(&digest).unwrap();
            assert_eq!(json, format!("\"{value}\""));
            assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        }
        Err(error) => {
            let got = match &error {
                Error::InvalidFormat { value: v, .. } => {
                    assert_eq!(v, value, "the error names the input");
                    Want::Format
                }
                Error::UnsupportedAlgorithm { name } => {
                    assert_eq!(Some(name.as_str()), value.split(':').next());
                    Want::Unsupported
                }
                Error::InvalidLength {
                    value: v,
                    expected,
                    actual,
                    ..
                } => {
                    assert_eq!(v, value, "the error names the input");
                    Want::Length {
                        expected: *expected,
                        actual: *actual,
                    }
                }
                Error::UppercaseHex { value: v } => {
                    assert_eq!(v, value, "the error names the input");
                    Want::Uppercase
                }
                other => panic!("unexpected error {other:?}"),
            };
            assert_eq!(got, want, "{value:?}: {error}");
            // Serde refuses exactly what FromStr refuses.
            let json = serde_json::to_string(value).unwrap();
            assert!(serde_json::from_str::<Digest>(&json).is_err());
        }
    }
});
