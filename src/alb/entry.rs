//! One parsed ALB access-log entry, borrowing from its line.
//!
//! Fields are kept as raw byte slices (quotes stripped, escapes left in place); typed values
//! are produced on demand by the accessors, so parsing allocates nothing per field.

use std::borrow::Cow;

use crate::alb::escape::unescape;
use crate::alb::field::{
    FIELD_COUNT, Field, HostPort, ParseErrorKind, ParseLineError, Request, is_absent, parse_u16,
    rule_priority, split_host_port, split_request, validate,
};

/// A parsed entry. Every slice points into the original line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlbEntry<'a> {
    /// The whole line (line ending removed), for the offsets of field warnings.
    pub(crate) line: &'a [u8],
    /// Raw field contents (quotes stripped, escapes kept); `b"-"` for absent fields and for
    /// fields an older layout lacks.
    pub(crate) fields: [&'a [u8]; FIELD_COUNT],
    /// How many documented fields the line carried (25 to 33).
    pub(crate) present: u8,
    /// Bit `i` set: field `i` failed its check and reads as absent (a field warning).
    pub(crate) invalid: u64,
    /// The raw remainder after the last documented field (empty when there is none).
    pub(crate) extra: &'a [u8],
}

impl<'a> AlbEntry<'a> {
    /// The raw (still escaped) content of a field, or `None` when it is `-`, absent, or failed
    /// its check (a field warning).
    pub fn raw(&self, field: Field) -> Option<&'a [u8]> {
        let raw = self.fields[field as usize];
        (!is_absent(raw) && self.invalid & (1 << field as u32) == 0).then_some(raw)
    }

    /// Fields that failed their check and read as absent, in line order, each with its byte
    /// offset and reason (the same form as a malformed line's error).
    pub fn field_warnings(&self) -> impl Iterator<Item = ParseLineError> + '_ {
        Field::ALL
            .iter()
            .filter(|&&f| self.invalid & (1 << f as u32) != 0)
            .map(|&field| {
                let value = self.fields[field as usize];
                let at = (value.as_ptr() as usize).saturating_sub(self.line.as_ptr() as usize);
                let quoted = at > 0 && self.line.get(at - 1) == Some(&b'"');
                let kind = validate(field, value, quoted)
                    .err()
                    .unwrap_or(ParseErrorKind::EmptyField);
                ParseLineError {
                    field: field.name(),
                    offset: at - usize::from(quoted),
                    kind,
                }
            })
    }

    /// Whether any field failed its check (see [`field_warnings`](Self::field_warnings)).
    pub fn has_field_warnings(&self) -> bool {
        self.invalid != 0
    }

    /// A field's text with ALB escapes decoded (`\xHH`, `\"`, `\\`), or `None` when absent.
    /// Invalid UTF-8 after decoding is replaced by U+FFFD.
    pub fn text(&self, field: Field) -> Option<Cow<'a, str>> {
        self.raw(field).map(unescape)
    }

    /// How many documented fields the line carried.
    pub fn field_count(&self) -> usize {
        usize::from(self.present)
    }

    /// `time` as written (validated to be an RFC 3339 UTC timestamp).
    pub fn time(&self) -> &'a str {
        ascii(self.fields[Field::Time as usize])
    }

    /// The `YYYY-MM-DDTHH:MM` prefix of `time`, the minute the entry belongs to.
    pub fn minute(&self) -> &'a str {
        let t = self.time();
        t.get(..16).unwrap_or(t)
    }

    /// `elb`, the load balancer id.
    pub fn elb(&self) -> Cow<'a, str> {
        unescape(self.fields[Field::Elb as usize])
    }

    /// `client:port`, split on the last colon.
    pub fn client(&self) -> Option<HostPort<'a>> {
        self.raw(Field::Client).and_then(split_host_port)
    }

    /// `target:port`, or `None` when no target served the request.
    pub fn target(&self) -> Option<HostPort<'a>> {
        self.raw(Field::Target).and_then(split_host_port)
    }

    /// `elb_status_code`.
    pub fn elb_status_code(&self) -> Option<u16> {
        self.raw(Field::ElbStatusCode).and_then(parse_u16)
    }

    /// `target_status_code`.
    pub fn target_status_code(&self) -> Option<u16> {
        self.raw(Field::TargetStatusCode).and_then(parse_u16)
    }

    /// Whether the load balancer or the target answered with a 5xx.
    pub fn is_5xx(&self) -> bool {
        is_5xx_raw(self.fields[Field::ElbStatusCode as usize])
            || self.raw(Field::TargetStatusCode).is_some_and(is_5xx_raw)
    }

    /// A numeric field (timings, byte counts, rule priority) as `f64`; timings keep `-1`.
    pub fn number(&self, field: Field) -> Option<f64> {
        self.raw(field)
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .and_then(|s| s.parse().ok())
    }

    /// An unsigned integer field (`received_bytes`, `sent_bytes`).
    pub fn integer(&self, field: Field) -> Option<u64> {
        self.raw(field)
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .and_then(|s| s.parse().ok())
    }

    /// `matched_rule_priority`: `-1` when rules evaluation failed, else 0 (default rule) to 50000.
    pub fn rule_priority(&self) -> Option<i32> {
        self.raw(Field::MatchedRulePriority).and_then(rule_priority)
    }

    /// The `request` field split into verb, URL and protocol.
    pub fn request(&self) -> Option<Request<'a>> {
        self.raw(Field::Request).map(split_request)
    }

    /// Fields after the last documented one, quotes stripped, escapes kept.
    pub fn extra(&self) -> ExtraFields<'a> {
        ExtraFields { rest: self.extra }
    }
}

/// Iterator over the trailing fields AWS may append after the documented ones.
#[derive(Debug, Clone)]
pub struct ExtraFields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ExtraFields<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // Lenient: an unterminated quote runs to the end of the line.
        let (value, next) = if self.rest[0] == b'"' {
            match crate::alb::escape::closing_quote(self.rest, 1) {
                Some(end) => (&self.rest[1..end], end + 1),
                None => (&self.rest[1..], self.rest.len()),
            }
        } else {
            let end = memchr::memchr(b' ', self.rest).unwrap_or(self.rest.len());
            (&self.rest[..end], end)
        };
        let rest = &self.rest[next.min(self.rest.len())..];
        self.rest = rest.strip_prefix(b" ").unwrap_or(rest);
        Some(value)
    }
}

fn ascii(raw: &[u8]) -> &str {
    // Callers pass fields the parser validated as ASCII.
    std::str::from_utf8(raw).unwrap_or("")
}

fn is_5xx_raw(raw: &[u8]) -> bool {
    raw.len() == 3 && raw[0] == b'5'
}
