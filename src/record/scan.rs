//! The alerter's fast path: reads a record's `entries` straight from its bytes, without
//! building simd-json's tape for them. It takes only the ingest's usual form (compact JSON,
//! entries as objects with plain keys, short numbers, simple escapes) and reads it exactly as
//! simd-json and [`RecordEntry`]'s `Deserialize` would; anything else is [`Unusual`], and the
//! caller reads the record the general way, which decides what is accepted.
//!
//! Every byte of the entries is checked (grammar, UTF-8, no raw control characters), but only
//! what the sink asks for is decoded ([`RecordVisitor::needs_all`]). Entries of one record mostly
//! have the same keys in the same order: each key is first compared with the key at the same
//! place in the entry before.

use std::borrow::Cow;
use std::ops::Range;

use super::{RecordEntry, RecordVisitor};

/// The record is not of the usual form (perhaps not valid at all): read it the general way.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unusual;

type Scan<T> = Result<T, Unusual>;

/// Deepest nesting of values skipped inside an entry or the header; deeper is [`Unusual`].
const MAX_DEPTH: u32 = 16;
/// Most digits of a number; simd-json reads up to 17 digits without any special case.
const MAX_DIGITS: usize = 17;

/// Hands the entries of the record `text` to `sink` and returns the byte range of the top-level
/// `entries` array's contents (between its brackets), or `None` when there is no such key.
/// The rest of the record (the header, anything after the array) is only walked, not checked:
/// the caller has simd-json and serde read it without the entries.
pub(super) fn entries<S: RecordVisitor>(text: &[u8], sink: &mut S) -> Scan<Option<Range<usize>>> {
    let mut c = Cursor {
        s: text,
        i: 0,
        escaped: false,
        keys: Vec::new(),
    };
    c.eat(b'{')?;
    if c.peek() == Some(b'}') {
        return Ok(None);
    }
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        if c.escaped {
            return Err(Unusual);
        }
        if key == b"entries" {
            c.eat(b'[')?;
            let start = c.i;
            let mut raw = RawEntry::default();
            let mut e = RecordEntry::default();
            if c.peek() != Some(b']') {
                loop {
                    c.entry(&mut raw)?;
                    raw.decode(&mut e, sink)?;
                    sink.entry(&e);
                    if c.peek() != Some(b',') {
                        break;
                    }
                    c.i += 1;
                }
            }
            let end = c.i;
            c.eat(b']')?;
            return Ok(Some(start..end));
        }
        c.skip_value(1)?;
        match c.next()? {
            b',' => {}
            b'}' => return Ok(None),
            _ => return Err(Unusual),
        }
    }
}

/// The keys of [`RecordEntry`], and any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Line,
    ClientPort,
    TargetPort,
    ElbStatusCode,
    TargetStatusCode,
    Time,
    ClientIp,
    TargetIp,
    TargetGroupArn,
    RequestVerb,
    RequestUrl,
    RequestProto,
    UserAgent,
    ErrorReason,
    Classification,
    TraceId,
    Other,
}

/// The first of the fields read into [`RawEntry::texts`].
const FIRST_TEXT: usize = Field::Time as usize;

impl Field {
    fn of(key: &[u8]) -> Self {
        match key {
            b"line" => Self::Line,
            b"time" => Self::Time,
            b"client_port" => Self::ClientPort,
            b"target_port" => Self::TargetPort,
            b"elb_status_code" => Self::ElbStatusCode,
            b"target_status_code" => Self::TargetStatusCode,
            b"client_ip" => Self::ClientIp,
            b"target_ip" => Self::TargetIp,
            b"target_group_arn" => Self::TargetGroupArn,
            b"request_verb" => Self::RequestVerb,
            b"request_url" => Self::RequestUrl,
            b"request_proto" => Self::RequestProto,
            b"user_agent" => Self::UserAgent,
            b"error_reason" => Self::ErrorReason,
            b"classification" => Self::Classification,
            b"trace_id" => Self::TraceId,
            _ => Self::Other,
        }
    }
}

/// The value of a string written as `bytes` (valid UTF-8, with simple escapes if `escaped`);
/// allocated only when it holds escapes.
#[inline]
fn decode(bytes: &[u8], escaped: bool) -> Scan<Cow<'_, str>> {
    let text = std::str::from_utf8(bytes).or(Err(Unusual))?;
    Ok(if escaped {
        Cow::Owned(unescape(text))
    } else {
        Cow::Borrowed(text)
    })
}

/// `text` with the simple escapes [`Cursor::string`] lets through decoded.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        out.push(match chars.next() {
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some(other) => other,
            None => break,
        });
    }
    out
}

/// An entry as read, its strings not yet decoded.
#[derive(Debug, Default)]
struct RawEntry<'a> {
    line: u64,
    /// `client_port`, `target_port`, `elb_status_code`, `target_status_code`.
    numbers: [Option<u16>; 4],
    /// `time` and the optional strings as written, in [`Field`] order from [`FIRST_TEXT`] on.
    texts: [Option<&'a [u8]>; 11],
    /// Bit `k` set when `texts[k]` holds escapes.
    escaped: u16,
}

impl<'a> RawEntry<'a> {
    /// Fills `e`; its strings other than `time` only if `sink` needs the entry whole.
    fn decode<S: RecordVisitor>(&self, e: &mut RecordEntry<'a>, sink: &S) -> Scan<()> {
        let text = |k: usize| {
            let bytes = self.texts.get(k).copied().flatten();
            bytes
                .map(|b| decode(b, self.escaped & 1 << k != 0))
                .transpose()
        };
        e.line = self.line;
        e.time = text(0)?.ok_or(Unusual)?;
        [
            e.client_port,
            e.target_port,
            e.elb_status_code,
            e.target_status_code,
        ] = self.numbers;
        for slot in texts(e) {
            *slot = None;
        }
        if sink.needs_all(e) {
            for (k, slot) in texts(e).into_iter().enumerate() {
                *slot = text(k + 1)?;
            }
        }
        Ok(())
    }
}

/// The optional strings of `e`, in [`Field`] order.
fn texts<'e, 'a>(e: &'e mut RecordEntry<'a>) -> [&'e mut Option<Cow<'a, str>>; 10] {
    [
        &mut e.client_ip,
        &mut e.target_ip,
        &mut e.target_group_arn,
        &mut e.request_verb,
        &mut e.request_url,
        &mut e.request_proto,
        &mut e.user_agent,
        &mut e.error_reason,
        &mut e.classification,
        &mut e.trace_id,
    ]
}

/// Bytes [`special_bytes`] looks at.
const CHUNK: usize = 16;

/// The bytes at `i` (spaces past the end).
fn chunk_at(bytes: &[u8], i: usize) -> [u8; CHUNK] {
    let rest = bytes.get(i..).unwrap_or_default();
    rest.first_chunk().copied().unwrap_or_else(|| {
        let mut chunk = [b' '; CHUNK];
        chunk[..rest.len()].copy_from_slice(rest);
        chunk
    })
}

/// Bit `k` set when byte `k` of `chunk` is `"`, `\`, a control character or not ASCII; only
/// the lowest set bit is sure (the portable version may set some above it wrongly).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn special_bytes(chunk: &[u8; CHUNK]) -> u32 {
    #[target_feature(enable = "sse2")]
    fn sse2(chunk: &[u8; CHUNK]) -> u32 {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
            _mm_set1_epi8,
        };
        let (lo, hi) = chunk.split_at(8);
        let half = |h: &[u8]| h.first_chunk().copied().map_or(0, i64::from_le_bytes);
        let v = _mm_set_epi64x(half(hi), half(lo));
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        // The byte's own high bit marks non-ASCII.
        let special = _mm_or_si128(_mm_or_si128(quote, backslash), _mm_or_si128(control, v));
        _mm_movemask_epi8(special) as u32
    }
    // SAFETY: SSE2 is enabled for this target (the `cfg` above).
    unsafe { sse2(chunk) }
}

/// Bit `k` set when byte `k` of `chunk` is `"`, `\`, a control character or not ASCII; only
/// the lowest set bit is sure (the portable version may set some above it wrongly).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn special_bytes(chunk: &[u8; CHUNK]) -> u32 {
    special_bytes_swar(chunk)
}

/// [`special_bytes`] eight bytes at a time in plain integers.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn special_bytes_swar(chunk: &[u8; CHUNK]) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit of each flagged byte; exact up to the lowest one (borrows only run upwards).
    let flags = |x: u64| {
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS)
            | (x & HIGHS)
    };
    let (lo, hi) = chunk.split_at(8);
    let half = |h: &[u8]| h.first_chunk().copied().map_or(0, u64::from_le_bytes);
    let (lo, hi) = (flags(half(lo)), flags(half(hi)));
    // One bit per byte, from the high bit of each byte.
    let bits = |f: u64| ((f >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32;
    bits(lo) | bits(hi) << 8
}

/// A key as written (quotes and colon included), compared in place without a call.
#[derive(Debug)]
struct Key {
    field: Field,
    len: usize,
    /// The key's bytes (up to [`KEY_BYTES`]), then zeros.
    bytes: [u128; 2],
    /// Ones over the key's bytes.
    mask: [u128; 2],
}

/// Longest key (as written) that [`Key::is_at`] finds.
const KEY_BYTES: usize = 32;

/// The 32 bytes at `i` (zeros past the end), as two integers.
fn halves_at(s: &[u8], i: usize) -> [u128; 2] {
    let rest = s.get(i..).unwrap_or_default();
    let bytes = rest.first_chunk().copied().unwrap_or_else(|| {
        let mut bytes = [0; KEY_BYTES];
        bytes[..rest.len()].copy_from_slice(rest);
        bytes
    });
    let (lo, hi) = bytes.split_at(KEY_BYTES / 2);
    let half = |h: &[u8]| h.first_chunk().copied().map_or(0, u128::from_le_bytes);
    [half(lo), half(hi)]
}

impl Key {
    fn new(written: &[u8], field: Field) -> Self {
        let len = written.len();
        let mut ones = [0; KEY_BYTES];
        ones.iter_mut().take(len).for_each(|b| *b = 0xff);
        let mask = halves_at(&ones, 0);
        let bytes = halves_at(written, 0);
        Self {
            field,
            len,
            bytes: [bytes[0] & mask[0], bytes[1] & mask[1]],
            mask,
        }
    }

    /// Whether `s` holds this key at `i` (never for keys longer than [`KEY_BYTES`]).
    fn is_at(&self, s: &[u8], i: usize) -> bool {
        // No key holds a zero byte: the zeros past the end of `s` never match.
        let [lo, hi] = halves_at(s, i);
        self.len <= KEY_BYTES
            && (lo ^ self.bytes[0]) & self.mask[0] | (hi ^ self.bytes[1]) & self.mask[1] == 0
    }
}

/// A position in the record's text.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
    /// Whether the last string read holds escapes.
    escaped: bool,
    /// The keys of the last entry, in order.
    keys: Vec<Key>,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// The bytes from the cursor on.
    fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn next(&mut self) -> Scan<u8> {
        let b = self.peek().ok_or(Unusual)?;
        self.i += 1;
        Ok(b)
    }

    fn eat(&mut self, b: u8) -> Scan<()> {
        if self.next()? == b {
            Ok(())
        } else {
            Err(Unusual)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if !self.rest().starts_with(word) {
            return Err(Unusual);
        }
        self.i += word.len();
        Ok(())
    }

    /// A string: invalid UTF-8, unescaped control characters (which simd-json rejects) and
    /// escapes other than `\" \\ \/ \b \f \n \r \t` are [`Unusual`].
    #[inline]
    fn string(&mut self) -> Scan<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let mut i = start;
        let (mut escaped, mut ascii) = (false, true);
        loop {
            let flags = special_bytes(&chunk_at(self.s, i));
            if flags == 0 {
                i += CHUNK;
                if i >= self.s.len() {
                    return Err(Unusual);
                }
                continue;
            }
            i += flags.trailing_zeros() as usize;
            match self.s.get(i) {
                Some(b'"') => break,
                Some(b'\\') => match self.s.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        escaped = true;
                        i += 2;
                    }
                    _ => return Err(Unusual),
                },
                Some(0x80..) => {
                    ascii = false;
                    i += 1;
                }
                _ => return Err(Unusual),
            }
        }
        self.i = i + 1;
        let bytes = self.s.get(start..i).ok_or(Unusual)?;
        if !ascii && std::str::from_utf8(bytes).is_err() {
            return Err(Unusual);
        }
        self.escaped = escaped;
        Ok(bytes)
    }

    /// Digits of a number (no leading zero), as their value.
    fn digits(&mut self) -> Scan<u64> {
        let digits = self.rest();
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > MAX_DIGITS || (n > 1 && digits.first() == Some(&b'0')) {
            return Err(Unusual);
        }
        self.i += n;
        Ok(digits
            .iter()
            .take(n)
            .fold(0, |v, &d| v * 10 + u64::from(d - b'0')))
    }

    /// An unsigned integer (what `line`, ports and status codes hold).
    fn unsigned(&mut self) -> Scan<u64> {
        let n = self.digits()?;
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(Unusual);
        }
        Ok(n)
    }

    /// Any number with at most [`MAX_DIGITS`] digits and no exponent.
    fn number(&mut self) -> Scan<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let start = self.i;
        self.digits()?;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let n = self
                .rest()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if n == 0 || self.i - 1 - start + n > MAX_DIGITS {
                return Err(Unusual);
            }
            self.i += n;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return Err(Unusual);
        }
        Ok(())
    }

    /// `null` (as `None`) or what `read` reads.
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Scan<T>) -> Scan<Option<T>> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(None);
        }
        read(self).map(Some)
    }

    /// Any value, nested at most [`MAX_DEPTH`] deep.
    fn skip_value(&mut self, depth: u32) -> Scan<()> {
        match self.peek().ok_or(Unusual)? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            open @ (b'[' | b'{') if depth < MAX_DEPTH => {
                let close = if open == b'[' { b']' } else { b'}' };
                self.i += 1;
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.eat(b':')?;
                    }
                    self.skip_value(depth + 1)?;
                    match self.next()? {
                        b',' => {}
                        b if b == close => return Ok(()),
                        _ => return Err(Unusual),
                    }
                }
            }
            _ => Err(Unusual),
        }
    }

    /// The `k`-th key of an entry and its colon: the same as in the entry before, or read.
    fn key(&mut self, k: usize) -> Scan<Field> {
        if let Some(key) = self.keys.get(k)
            && key.is_at(self.s, self.i)
        {
            self.i += key.len;
            return Ok(key.field);
        }
        let start = self.i;
        let name = self.string()?;
        self.eat(b':')?;
        if self.escaped {
            return Err(Unusual);
        }
        let key = Key::new(self.s.get(start..self.i).ok_or(Unusual)?, Field::of(name));
        let field = key.field;
        match self.keys.get_mut(k) {
            Some(slot) => *slot = key,
            None => self.keys.push(key),
        }
        Ok(field)
    }

    /// An entry object: `line` and `time` present, every known key at most once and of its
    /// type; unknown keys are skipped.
    fn entry(&mut self, e: &mut RawEntry<'a>) -> Scan<()> {
        self.eat(b'{')?;
        *e = RawEntry::default();
        let mut seen = 0u32;
        for k in 0.. {
            let field = self.key(k)?;
            if field != Field::Other {
                let bit = 1 << field as u32;
                if seen & bit != 0 {
                    return Err(Unusual);
                }
                seen |= bit;
            }
            match field {
                Field::Line => e.line = self.unsigned()?,
                Field::ClientPort
                | Field::TargetPort
                | Field::ElbStatusCode
                | Field::TargetStatusCode => {
                    let n = self.or_null(|c| c.unsigned())?;
                    let n = n.map(u16::try_from).transpose().or(Err(Unusual))?;
                    *e.numbers
                        .get_mut(field as usize - Field::ClientPort as usize)
                        .ok_or(Unusual)? = n;
                }
                Field::Other => self.skip_value(2)?,
                text => {
                    let at = text as usize - FIRST_TEXT;
                    let bytes = self.or_null(Self::string)?;
                    e.escaped |= u16::from(bytes.is_some() && self.escaped) << at;
                    *e.texts.get_mut(at).ok_or(Unusual)? = bytes;
                }
            }
            match self.next()? {
                b',' => {}
                b'}' => break,
                _ => return Err(Unusual),
            }
        }
        let needed = 1 << Field::Line as u32 | 1 << Field::Time as u32;
        if seen & needed == needed {
            Ok(())
        } else {
            Err(Unusual)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Counts the entries it receives.
    #[derive(Default)]
    struct Count(usize);

    impl RecordVisitor for Count {
        fn entry(&mut self, _: &RecordEntry<'_>) {
            self.0 += 1;
        }

        fn tally(&mut self, _: &super::super::Tally<'_>) {}

        fn restart(&mut self) {
            self.0 = 0;
        }
    }

    fn scan(text: &str) -> Scan<Option<Range<usize>>> {
        entries(text.as_bytes(), &mut Count::default())
    }

    #[test]
    fn finds_the_entries_array_and_only_at_the_top_level() {
        let text = r#"{"v":1,"x":{"entries":[1]},"s":"\"entries\":[","entries":[{"line":1,"time":"t"}],"y":2}"#;
        let at = scan(text).unwrap().unwrap();
        assert_eq!(&text[at], r#"{"line":1,"time":"t"}"#);
        assert_eq!(scan(r#"{"v":1}"#), Ok(None));
        assert_eq!(scan("{}"), Ok(None));
        assert_eq!(scan(r#"{"entries":[]}"#), Ok(Some(12..12)));
        let invalid_utf8 = b"{\"entries\":[{\"line\":1,\"time\":\"\xff\"}]}";
        assert_eq!(entries(invalid_utf8, &mut Count::default()), Err(Unusual));
        for unusual in [
            r#"{"entries":null}"#,
            r#"{ "entries":[]}"#,
            r#"{"entri\u0065s":[]}"#,
            r#"{"v":1 ,"entries":[]}"#,
            r#"{"entries":[{"line":1,"time":"t"},]}"#,
            "[]",
            "",
        ] {
            assert_eq!(scan(unusual), Err(Unusual), "{unusual}");
        }
    }

    #[test]
    fn keys_unlike_the_entry_before_are_read_again() {
        let entries_of = |list: &str| {
            let mut sink = Keep {
                all: true,
                entries: Vec::new(),
            };
            let text = format!(r#"{{"entries":[{list}]}}"#);
            entries(text.as_bytes(), &mut sink).map(|_| sink.entries)
        };
        let list = r#"{"line":1,"time":"a","x":1},{"line":2,"time":"b","xy":2},{"time":"c","line":3},{"line":4,"lines":5,"time":"d"}"#;
        let expected: Vec<String> = [(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')]
            .iter()
            .map(|(line, time)| format!(r#"{{"line":{line},"time":"{time}"}}"#))
            .collect();
        assert_eq!(entries_of(list), Ok(expected));
        let repeated = format!(r#"{list},{{"line":4,"time":"d","line":5}}"#);
        assert_eq!(entries_of(&repeated), Err(Unusual));
        let missing = format!(r#"{list},{{"line":4,"lines":5}}"#);
        assert_eq!(entries_of(&missing), Err(Unusual));
    }

    #[test]
    fn keys_are_found_in_place_only_whole() {
        let key = Key::new(br#""time":"#, Field::Time);
        assert!(key.is_at(br#"x"time":"t""#, 1));
        assert!(key.is_at(br#""time":"#, 0));
        assert!(!key.is_at(br#"x"time"t""#, 1));
        assert!(!key.is_at(br#""tim"#, 0));
        assert!(!key.is_at(b"", 3));
        let long = format!(r#""{}":"#, "k".repeat(40));
        assert!(!Key::new(long.as_bytes(), Field::Other).is_at(long.as_bytes(), 0));
    }

    #[test]
    fn takes_only_what_simd_json_reads_without_question() {
        let with = |value: &str| format!(r#"{{"entries":[{{"line":1,"time":"t","x":{value}}}]}}"#);
        for usual in [
            "0",
            "-1",
            "-1.0",
            "0.001",
            "12345678901234567",
            "1234567890123456.7",
            "true",
            "false",
            "null",
            r#""a\"\\\/\b\f\n\r\tb""#,
            r#""é😀""#,
            r#"[[],{},[1,{"a":[null]}]]"#,
        ] {
            assert!(scan(&with(usual)).is_ok(), "{usual}");
        }
        let deep = format!("{}{}", "[".repeat(15), "]".repeat(15));
        for unusual in [
            "01",
            "1.",
            ".5",
            "1e5",
            "1E5",
            "1.5e-3",
            "123456789012345678",
            "1234567890123456.78",
            "-",
            "+1",
            "nul",
            "True",
            r#""\u0041""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "\"a\tb\"",
            "[1 ]",
            r#"{"a" :1}"#,
            &deep,
        ] {
            assert_eq!(scan(&with(unusual)), Err(Unusual), "{unusual}");
        }
    }

    /// Keeps the entries it receives as JSON; needs entries whole if `all`.
    struct Keep {
        all: bool,
        entries: Vec<String>,
    }

    impl RecordVisitor for Keep {
        fn entry(&mut self, e: &RecordEntry<'_>) {
            self.entries.push(serde_json::to_string(e).unwrap());
        }

        fn needs_all(&self, e: &RecordEntry<'_>) -> bool {
            assert_eq!(e.user_agent, None);
            self.all
        }

        fn tally(&mut self, _: &super::super::Tally<'_>) {}

        fn restart(&mut self) {
            self.entries.clear();
        }
    }

    #[test]
    fn reads_known_fields_strictly_and_decodes_what_the_sink_needs() {
        let entry = |fields: &str| format!(r#"{{"entries":[{{{fields}}}]}}"#);
        let usual = entry(
            r#""line":7,"time":"t\/1","client_port":65535,"user_agent":null,"trace_id":"a\"b""#,
        );
        for all in [true, false] {
            let mut sink = Keep {
                all,
                entries: Vec::new(),
            };
            entries(usual.as_bytes(), &mut sink).unwrap();
            let trace = if all { r#","trace_id":"a\"b""# } else { "" };
            let expected = format!(r#"{{"line":7,"time":"t/1","client_port":65535{trace}}}"#);
            assert_eq!(sink.entries, [expected]);
        }
        for unusual in [
            r#""time":"t""#,
            r#""line":1"#,
            r#""line":1,"time":null"#,
            r#""line":-1,"time":"t""#,
            r#""line":1.0,"time":"t""#,
            r#""line":1,"time":"t","line":1"#,
            r#""line":1,"time":"t","client_port":65536"#,
            r#""line":1,"time":"t","client_port":"80""#,
            r#""line":1,"time":"t","user_agent":1"#,
            r#""l\u0069ne":1,"time":"t""#,
        ] {
            assert_eq!(scan(&entry(unusual)), Err(Unusual), "{unusual}");
        }
    }

    proptest! {
        #[test]
        fn special_bytes_flags_the_first_quote_backslash_control_or_non_ascii_byte(
            chunk in any::<[u8; CHUNK]>(),
            plain in prop::collection::vec(0x20u8..0x80, CHUNK),
            at in 0..=CHUNK,
        ) {
            // Mostly plain bytes, with a special one from `at` on.
            let mut chunk = chunk;
            chunk[..at].copy_from_slice(&plain[..at]);
            let first = chunk
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
            for flags in [special_bytes(&chunk), special_bytes_swar(&chunk)] {
                prop_assert_eq!(first, (flags != 0).then(|| flags.trailing_zeros() as usize));
            }
        }

        #[test]
        fn strings_read_as_serde_json_reads_them(s in ".{0,40}") {
            let json = serde_json::to_string(&s).unwrap();
            let mut c = Cursor { s: json.as_bytes(), i: 0, escaped: false, keys: Vec::new() };
            match c.string() {
                Ok(raw) => {
                    prop_assert_eq!(decode(raw, c.escaped), Ok(Cow::Borrowed(s.as_str())));
                    prop_assert_eq!(c.i, json.len());
                }
                // serde_json writes other control characters as `\u00XX`.
                Err(Unusual) => {
                    let other_control = |c: char| c < ' ' && !"\u{8}\u{c}\n\r\t".contains(c);
                    prop_assert!(s.chars().any(other_control));
                }
            }
        }
    }
}
