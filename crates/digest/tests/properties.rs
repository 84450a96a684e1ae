//! Invariants of parsing and hashing, checked on generated inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flux_artifact_digest::{Algorithm, Digest};
use proptest::prelude::*;

fn algorithm() -> impl Strategy<Value = Algorithm> {
    proptest::sample::select(Algorithm::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Every digest prints as a string that parses back to itself.
    #[test]
    fn display_then_parse_round_trips(algorithm in algorithm(), seed in any::<[u8; 64]>()) {
        let digest = Digest::from_bytes(algorithm, &seed[..algorithm.size()]).unwrap();
        let wire = digest.to_string();
        prop_assert_eq!(wire.parse::<Digest>().unwrap(), digest);
        prop_assert_eq!(wire.len(), algorithm.name().len() + 1 + algorithm.hex_len());
    }

    /// Parsing arbitrary text never panics, and whatever it accepts prints back unchanged.
    #[test]
    fn parse_accepts_only_canonical_strings(text in "\\PC{0,140}") {
        if let Ok(digest) = text.parse::<Digest>() {
            prop_assert_eq!(digest.to_string(), text);
        }
    }

    /// Near misses of a valid digest (any single character replaced) parse back only if
    /// they are still canonical.
    #[test]
    fn one_character_edits_parse_only_when_canonical(
        algorithm in algorithm(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        position in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let wire = algorithm.digest_bytes(&data).to_string();
        let mut chars: Vec<char> = wire.chars().collect();
        let i = position.index(chars.len());
        chars[i] = replacement;
        let edited: String = chars.into_iter().collect();
        match edited.parse::<Digest>() {
            Ok(digest) => prop_assert_eq!(digest.to_string(), edited),
            // Messages quote the offending string (escaped), or name the unknown algorithm.
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    message.contains(&format!("{edited:?}"))
                        || message.starts_with("unsupported digest algorithm: "),
                    "{}", message
                );
            }
        }
    }

    /// How data is split into writes does not change its digest.
    #[test]
    fn chunking_does_not_change_the_digest(
        algorithm in algorithm(),
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(data.len() + 1);
        let mut digester = algorithm.digester();
        digester.update(&data[..cut]);
        digester.update(&data[cut..]);
        prop_assert_eq!(digester.digest(), algorithm.digest_bytes(&data));
    }
}
