//! Lowercase hex, the only encoding digests use on the wire.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the lowercase hex of `bytes` into `out` (which must hold `2 * bytes.len()`)
/// and returns it as a string slice.
pub(crate) fn encode<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    let out = &mut out[..bytes.len() * 2];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    // Every byte written is an ASCII hex digit, so this cannot fail; an empty string
    // stands in for the impossible case instead of a panic.
    std::str::from_utf8(out).unwrap_or_default()
}

/// Why a hex string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// An `A`–`F` digit: valid hex elsewhere, not in a digest.
    Uppercase,
    /// A character that is not a hex digit at all.
    NotHex,
}

/// Decodes lowercase hex `digits` (even length, checked by the caller) into `out`.
pub(crate) fn decode_lowercase(digits: &[u8], out: &mut [u8]) -> Result<(), DecodeError> {
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(())
}

fn nibble(digit: u8) -> Result<u8, DecodeError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Err(DecodeError::Uppercase),
        _ => Err(DecodeError::NotHex),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_byte_value_as_two_lowercase_digits() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut out = [0u8; 512];
        let text = encode(&bytes, &mut out);
        assert!(text.starts_with("000102"));
        assert!(text.ends_with("fdfeff"));
        let mut back = [0u8; 256];
        decode_lowercase(text.as_bytes(), &mut back).unwrap();
        assert_eq!(back.as_slice(), bytes.as_slice());
    }

    #[test]
    fn uppercase_and_non_hex_digits_are_told_apart() {
        let mut out = [0u8; 1];
        assert_eq!(decode_lowercase(b"aF", &mut out), Err(DecodeError::Uppercase));
        assert_eq!(decode_lowercase(b"ag", &mut out), Err(DecodeError::NotHex));
    }
}
