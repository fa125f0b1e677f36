//! S3 object keys in event notifications: S3 form-encodes them (`+` for a space, `%XX` for other
//! bytes); EventBridge does not.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use thiserror::Error;

/// Why a form-encoded S3 notification key could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyDecodeError {
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape at byte {offset}")]
    MalformedEscape {
        /// Byte offset of the `%` in the encoded key.
        offset: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("decoded key is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid UTF-8 prefix of the decoded bytes.
        valid_up_to: usize,
    },
}

/// Decodes a key from an S3 event notification: `+` is a space, `%XX` a byte, UTF-8 strict.
///
/// # Errors
/// A `%` not followed by two hex digits, or decoded bytes that are not UTF-8.
pub fn decode_s3_event_key(raw: &str) -> Result<String, KeyDecodeError> {
    if !raw.bytes().any(|b| b == b'+' || b == b'%') {
        return Ok(raw.to_owned());
    }
    // percent_decode leaves a malformed escape as written; a notification never has one.
    let bytes = raw.as_bytes();
    if let Some((offset, _)) = raw.match_indices('%').find(|&(i, _)| {
        !bytes
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    }) {
        return Err(KeyDecodeError::MalformedEscape { offset });
    }
    let decoded: Vec<u8> = percent_decode_str(&raw.replace('+', " ")).collect();
    String::from_utf8(decoded).map_err(|e| KeyDecodeError::InvalidUtf8 {
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

/// Characters S3 leaves unescaped in notification keys (besides ASCII alphanumerics).
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Encodes a key the way S3 notifications do; the inverse of [`decode_s3_event_key`].
///
/// For tests and tools that synthesize notifications.
#[must_use]
pub fn encode_s3_event_key(key: &str) -> String {
    // Only a space encodes to `%20` (a literal `%` becomes `%25`), so this replace is exact.
    utf8_percent_encode(key, KEY_ENCODE_SET)
        .to_string()
        .replace("%20", "+")
}
