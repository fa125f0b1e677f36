//! Decoding of the escapes found in quoted ALB fields.
//!
//! ALB writes `"` as `\x22`, `\` as `\x5C` and every non-ASCII byte as `\xHH`; other producers
//! write `\"` and `\\`. [`unescape`] decodes both, then reads the bytes as UTF-8, replacing invalid
//! sequences with U+FFFD. `albwatch parse` and the Kinesis records always carry decoded text.

use std::borrow::Cow;

/// Decodes `\xHH`, `\"` and `\\`; any other backslash is kept as written.
pub fn unescape(raw: &[u8]) -> Cow<'_, str> {
    if memchr::memchr(b'\\', raw).is_none() {
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + off]);
        i += off;
        match raw.get(i + 1) {
            Some(b'x' | b'X') => match (raw.get(i + 2).and_then(hex), raw.get(i + 3).and_then(hex))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 4;
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            Some(&c @ (b'"' | b'\\')) => {
                out.push(c);
                i += 2;
            }
            _ => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    out.extend_from_slice(&raw[i..]);
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Escapes text the way ALB does (`"`, `\`, control and non-ASCII bytes as `\xHH`), the
/// inverse of [`unescape`]; used to write log lines (fixtures, generators, tests).
pub fn escape_alb(text: &str) -> String {
    escape_bytes(text.as_bytes())
}

/// [`escape_alb`] on raw bytes: printable ASCII only, so an excerpt of any input is safe to
/// show on a terminal or in a log (no ESC, NUL or invalid UTF-8 gets through).
pub fn escape_bytes(raw: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02x}");
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Index of the quote closing a field whose content starts at `from`: a `"` preceded by an
/// even number of backslashes and followed by a space or the end of the line.
pub(crate) fn closing_quote(line: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at <= line.len() {
        let i = at + memchr::memchr(b'"', line.get(at..)?)?;
        let backslashes = line[from..i]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 && matches!(line.get(i + 1), None | Some(b' ')) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_both_escape_styles() {
        assert_eq!(unescape(br#"a\x22b\x5Cc"#), "a\"b\\c");
        assert_eq!(unescape(br#"a\"b\\c"#), "a\"b\\c");
        assert_eq!(unescape(br"caf\xC3\xA9"), "café");
        assert_eq!(unescape(br"bad\xZZ\q"), r"bad\xZZ\q");
        assert_eq!(unescape(br"trailing\"), r"trailing\");
        assert_eq!(unescape(br"\xff"), "\u{fffd}");
        assert!(matches!(unescape(b"plain"), Cow::Borrowed("plain")));
        assert_eq!(escape_bytes(b"\x1b[31mred\0\xff"), r"\x1b[31mred\x00\xff");
    }

    proptest! {
        #[test]
        fn escape_then_unescape_round_trips(s in ".*") {
            let escaped = escape_alb(&s);
            prop_assert_eq!(unescape(escaped.as_bytes()), s);
        }

        #[test]
        fn unescape_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = unescape(&bytes);
        }
    }
}
