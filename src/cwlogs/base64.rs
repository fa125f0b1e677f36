//! Standard base64 (RFC 4648 §4), just enough for the Lambda `awslogs` event: decoding with or
//! without `=` padding, and padded encoding.

/// The standard alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Marks a byte that is not in [`ALPHABET`] in [`DECODE`].
const INVALID: u8 = 0xff;
/// Padding character.
const PAD: u8 = b'=';

/// Byte → 6-bit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a string is not base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// A byte outside the standard alphabet (whitespace included) at this offset.
    #[error("invalid base64 byte at offset {0}")]
    InvalidByte(usize),
    /// The length (without padding) leaves a single dangling character.
    #[error("invalid base64 length {0}")]
    InvalidLength(usize),
}

/// Decodes standard base64; trailing `=` padding is optional. Never panics.
pub fn decode(input: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = input.as_bytes();
    let padding = bytes
        .iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == PAD)
        .count();
    let body = &bytes[..bytes.len() - padding];
    if body.len() % 4 == 1 || (padding > 0 && !bytes.len().is_multiple_of(4)) {
        return Err(Base64Error::InvalidLength(bytes.len()));
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for (chunk_index, chunk) in body.chunks(4).enumerate() {
        let mut acc: u32 = 0;
        for (i, &b) in chunk.iter().enumerate() {
            let v = DECODE[usize::from(b)];
            if v == INVALID {
                return Err(Base64Error::InvalidByte(chunk_index * 4 + i));
            }
            acc |= u32::from(v) << (18 - 6 * i);
        }
        let [_, b0, b1, b2] = acc.to_be_bytes();
        // 4 chars → 3 bytes, 3 → 2, 2 → 1 (a 1-char chunk was rejected above).
        out.extend_from_slice(&[b0, b1, b2][..chunk.len() - 1]);
    }
    Ok(out)
}

/// Encodes as standard base64 with `=` padding.
#[must_use]
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut buf = [0u8; 3];
        buf[..chunk.len()].copy_from_slice(chunk);
        let acc = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (acc >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push(char::from(PAD));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
            assert_eq!(
                decode(encoded.trim_end_matches('=')).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decode("Zm9v Yg"), Err(Base64Error::InvalidByte(4)));
        assert_eq!(decode("Zm9v Yg=="), Err(Base64Error::InvalidLength(9)));
        assert_eq!(decode("Zm9vY"), Err(Base64Error::InvalidLength(5)));
        assert_eq!(decode("Zg="), Err(Base64Error::InvalidLength(3)));
        assert_eq!(decode("Z-=="), Err(Base64Error::InvalidByte(1)));
        assert_eq!(decode("===="), Err(Base64Error::InvalidByte(0)));
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let e = encode(&data);
            prop_assert_eq!(decode(&e).unwrap(), data.clone());
            prop_assert_eq!(decode(e.trim_end_matches('=')).unwrap(), data);
        }

        #[test]
        fn decode_never_panics(s in any::<String>()) {
            let _ = decode(&s);
        }
    }
}
