//! Cutting text to a size without splitting a character, the one way every module does it; and
//! an error with its causes as one line.

use std::borrow::Cow;

/// Appended where text was cut.
pub const ELLIPSIS: char = '…';

/// At most `max` bytes of `s`, cut on a character boundary.
#[must_use]
pub fn clip_bytes(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

/// At most `max` bytes of `s` (cut on a character boundary), with [`ELLIPSIS`] appended when cut.
#[must_use]
pub fn clip_bytes_marked(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut out = clip_bytes(s, max).to_owned();
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

/// At most `max` characters of `s`.
#[must_use]
pub fn clip_chars(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

/// `s` made safe to show: control and bidi-override characters become spaces, and at most `max`
/// characters are kept, the last one being [`ELLIPSIS`] when cut.
#[must_use]
pub fn printable(s: &str, max: usize) -> Cow<'_, str> {
    let is_bad =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let too_long = s.char_indices().nth(max).is_some();
    if !too_long && !s.contains(is_bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max * 4 + 4));
    for (i, c) in s.chars().enumerate() {
        if too_long && i + 1 >= max {
            out.push(ELLIPSIS);
            break;
        }
        out.push(if is_bad(c) { ' ' } else { c });
    }
    Cow::Owned(out)
}

/// `error` and its causes on one line (`outer: inner: innermost`), each by its `Display`,
/// a cause that repeats the text before it left out, a message of several lines joined. Unlike the AWS SDK's
/// `DisplayErrorContext`, never appends a `Debug` dump.
#[must_use]
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = one_line(&error.to_string());
    let mut source = error.source();
    while let Some(e) = source {
        let text = one_line(&e.to_string());
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// `text`'s non-blank lines, trimmed, joined by `; ` (by a space after a line ending in `:`):
/// a message of several lines (the credentials chain lists every provider it tried) on one.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for part in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_is_one_line_of_displays() {
        #[derive(Debug, thiserror::Error)]
        #[error("dispatch failure")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error",
        ));
        assert_eq!(error_chain(&e), "dispatch failure: tcp connect error");
    }
    use proptest::prelude::*;

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(clip_bytes("héllo", 2), "h");
        assert_eq!(clip_bytes("héllo", 3), "hé");
        assert_eq!(clip_bytes("hi", 10), "hi");
        assert_eq!(clip_bytes_marked("héllo", 2), "h…");
        assert_eq!(clip_bytes_marked("hi", 2), "hi");
        assert_eq!(clip_chars("héllo", 2), "hé");
        assert_eq!(clip_chars("hé", 5), "hé");
        assert_eq!(printable("a\u{1b}[31mb\u{202E}c", 20), "a [31mb c");
        assert_eq!(printable("abcdef", 4), "abc…");
        assert_eq!(printable("abcd", 4), "abcd");
    }

    proptest! {
        #[test]
        fn clips_are_prefixes_within_bounds(s in ".{0,40}", max in 0usize..50) {
            prop_assert!(s.starts_with(clip_bytes(&s, max)) && clip_bytes(&s, max).len() <= max);
            prop_assert!(clip_chars(&s, max).chars().count() <= max);
            prop_assert!(printable(&s, max.max(1)).chars().count() <= max.max(1));
        }
    }
}
