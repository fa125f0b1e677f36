//! One parsed ALB access-log entry, borrowing from its line.
//!
//! Fields are kept as raw byte slices (quotes stripped, escapes left in place); typed values
//! are produced on demand by the accessors, so parsing allocates nothing per field.

use std::borrow::Cow;

use crate::escape::unescape;
use crate::parser::{ParseErrorKind, ParseLineError, rule_priority, validate};

/// The documented ALB access-log fields, in the order they appear on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Field {
    /// `type`: http, https, h2, grpcs, ws, wss.
    Type,
    /// `time`: when the load balancer generated the response (RFC 3339, UTC).
    Time,
    /// `elb`: the load balancer's resource id, e.g. `app/my-lb/50dc6c495c0c9188`.
    Elb,
    /// `client:port`.
    Client,
    /// `target:port` (`-` when no target served the request).
    Target,
    /// `request_processing_time` in seconds, `-1` when not dispatched.
    RequestProcessingTime,
    /// `target_processing_time` in seconds, `-1` when not dispatched or timed out.
    TargetProcessingTime,
    /// `response_processing_time` in seconds, `-1` when not dispatched.
    ResponseProcessingTime,
    /// `elb_status_code`.
    ElbStatusCode,
    /// `target_status_code`.
    TargetStatusCode,
    /// `received_bytes`.
    ReceivedBytes,
    /// `sent_bytes`.
    SentBytes,
    /// `"request"`: method, URL and protocol.
    Request,
    /// `"user_agent"`.
    UserAgent,
    /// `ssl_cipher`.
    SslCipher,
    /// `ssl_protocol`.
    SslProtocol,
    /// `target_group_arn`.
    TargetGroupArn,
    /// `"trace_id"`: the X-Amzn-Trace-Id.
    TraceId,
    /// `"domain_name"`: SNI domain.
    DomainName,
    /// `"chosen_cert_arn"`.
    ChosenCertArn,
    /// `matched_rule_priority`.
    MatchedRulePriority,
    /// `request_creation_time`.
    RequestCreationTime,
    /// `"actions_executed"`.
    ActionsExecuted,
    /// `"redirect_url"`.
    RedirectUrl,
    /// `"error_reason"`.
    ErrorReason,
    /// `"target:port_list"`.
    TargetPortList,
    /// `"target_status_code_list"`.
    TargetStatusCodeList,
    /// `"classification"` (desync mitigation).
    Classification,
    /// `"classification_reason"`.
    ClassificationReason,
    /// `conn_trace_id`.
    ConnTraceId,
    /// `"transformed_host"`.
    TransformedHost,
    /// `"transformed_uri"`.
    TransformedUri,
    /// `"request_transform_status"`.
    RequestTransformStatus,
}

/// Number of documented fields; anything after them is kept as `extra`.
pub const FIELD_COUNT: usize = 33;

impl Field {
    /// Every field in line order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Type,
        Field::Time,
        Field::Elb,
        Field::Client,
        Field::Target,
        Field::RequestProcessingTime,
        Field::TargetProcessingTime,
        Field::ResponseProcessingTime,
        Field::ElbStatusCode,
        Field::TargetStatusCode,
        Field::ReceivedBytes,
        Field::SentBytes,
        Field::Request,
        Field::UserAgent,
        Field::SslCipher,
        Field::SslProtocol,
        Field::TargetGroupArn,
        Field::TraceId,
        Field::DomainName,
        Field::ChosenCertArn,
        Field::MatchedRulePriority,
        Field::RequestCreationTime,
        Field::ActionsExecuted,
        Field::RedirectUrl,
        Field::ErrorReason,
        Field::TargetPortList,
        Field::TargetStatusCodeList,
        Field::Classification,
        Field::ClassificationReason,
        Field::ConnTraceId,
        Field::TransformedHost,
        Field::TransformedUri,
        Field::RequestTransformStatus,
    ];

    /// The AWS field name in snake_case (the NDJSON key, except for the split fields).
    pub const fn name(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::Time => "time",
            Field::Elb => "elb",
            Field::Client => "client:port",
            Field::Target => "target:port",
            Field::RequestProcessingTime => "request_processing_time",
            Field::TargetProcessingTime => "target_processing_time",
            Field::ResponseProcessingTime => "response_processing_time",
            Field::ElbStatusCode => "elb_status_code",
            Field::TargetStatusCode => "target_status_code",
            Field::ReceivedBytes => "received_bytes",
            Field::SentBytes => "sent_bytes",
            Field::Request => "request",
            Field::UserAgent => "user_agent",
            Field::SslCipher => "ssl_cipher",
            Field::SslProtocol => "ssl_protocol",
            Field::TargetGroupArn => "target_group_arn",
            Field::TraceId => "trace_id",
            Field::DomainName => "domain_name",
            Field::ChosenCertArn => "chosen_cert_arn",
            Field::MatchedRulePriority => "matched_rule_priority",
            Field::RequestCreationTime => "request_creation_time",
            Field::ActionsExecuted => "actions_executed",
            Field::RedirectUrl => "redirect_url",
            Field::ErrorReason => "error_reason",
            Field::TargetPortList => "target_port_list",
            Field::TargetStatusCodeList => "target_status_code_list",
            Field::Classification => "classification",
            Field::ClassificationReason => "classification_reason",
            Field::ConnTraceId => "conn_trace_id",
            Field::TransformedHost => "transformed_host",
            Field::TransformedUri => "transformed_uri",
            Field::RequestTransformStatus => "request_transform_status",
        }
    }

    /// Whether the alerts need this field: a line whose required field cannot be read is
    /// malformed; any other unreadable field is read as absent with a field warning.
    pub const fn is_required(self) -> bool {
        matches!(
            self,
            Field::Type
                | Field::Time
                | Field::Elb
                | Field::Client
                | Field::Target
                | Field::ElbStatusCode
        )
    }

    /// Whether ALB writes this field between double quotes.
    pub const fn is_quoted(self) -> bool {
        matches!(
            self,
            Field::Request
                | Field::UserAgent
                | Field::TraceId
                | Field::DomainName
                | Field::ChosenCertArn
                | Field::ActionsExecuted
                | Field::RedirectUrl
                | Field::ErrorReason
                | Field::TargetPortList
                | Field::TargetStatusCodeList
                | Field::Classification
                | Field::ClassificationReason
                | Field::TransformedHost
                | Field::TransformedUri
                | Field::RequestTransformStatus
        )
    }
}

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

/// An `ip:port` pair; IPv6 addresses come without brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort<'a> {
    /// Address text (brackets stripped).
    pub ip: &'a str,
    /// Port number.
    pub port: u16,
}

/// The `request` field split into method, URL and protocol (raw, still escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Up to the first space (`-` for the malformed forms ALB writes).
    pub verb: &'a [u8],
    /// What lies between the first and the last space (URLs may contain spaces).
    pub url: &'a [u8],
    /// After the last space (empty or `-` in malformed requests).
    pub proto: &'a [u8],
}

/// Whether a raw field means "absent".
pub(crate) fn is_absent(raw: &[u8]) -> bool {
    raw == b"-" || raw.is_empty()
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
            match crate::parser::closing_quote(self.rest, 1) {
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

pub(crate) fn parse_u16(raw: &[u8]) -> Option<u16> {
    if raw.is_empty() || raw.len() > 5 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    raw.iter()
        .try_fold(0u32, |acc, &b| Some(acc * 10 + u32::from(b - b'0')))
        .and_then(|v| u16::try_from(v).ok())
}

/// Splits `ip:port` on the last colon; strips `[` `]` around IPv6 addresses.
pub(crate) fn split_host_port(raw: &[u8]) -> Option<HostPort<'_>> {
    let colon = memchr::memrchr(b':', raw)?;
    let port = parse_u16(&raw[colon + 1..])?;
    let mut ip = &raw[..colon];
    if let [b'[', inner @ .., b']'] = ip {
        ip = inner;
    }
    let ip = std::str::from_utf8(ip).ok()?;
    Some(HostPort { ip, port })
}

/// Splits a raw request into verb (to the first space), protocol (after the last space, trailing
/// spaces ignored) and URL (what lies between, spaces kept).
pub(crate) fn split_request(raw: &[u8]) -> Request<'_> {
    let end = raw.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let raw = &raw[..end];
    match (memchr::memchr(b' ', raw), memchr::memrchr(b' ', raw)) {
        (Some(first), Some(last)) if first < last => Request {
            verb: &raw[..first],
            url: &raw[first + 1..last],
            proto: &raw[last + 1..],
        },
        (Some(first), Some(_)) => Request {
            verb: &raw[..first],
            url: &raw[first + 1..],
            proto: b"",
        },
        _ => Request {
            verb: raw,
            url: b"",
            proto: b"",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_on_last_colon() {
        let hp = split_host_port(b"2001:db8::1:443").unwrap();
        assert_eq!((hp.ip, hp.port), ("2001:db8::1", 443));
        let hp = split_host_port(b"[2001:db8::1]:443").unwrap();
        assert_eq!((hp.ip, hp.port), ("2001:db8::1", 443));
        let hp = split_host_port(b"192.0.2.1:80").unwrap();
        assert_eq!((hp.ip, hp.port), ("192.0.2.1", 80));
        assert!(split_host_port(b"192.0.2.1").is_none());
        assert!(split_host_port(b"192.0.2.1:70000").is_none());
    }

    #[test]
    fn request_split_keeps_spaces_in_url() {
        let r = split_request(b"GET http://a/b c d HTTP/1.1");
        assert_eq!(r.verb, b"GET");
        assert_eq!(r.url, b"http://a/b c d");
        assert_eq!(r.proto, b"HTTP/1.1");
        let r = split_request(b"- http://host:80- -");
        assert_eq!(
            (r.verb, r.url, r.proto),
            (&b"-"[..], &b"http://host:80-"[..], &b"-"[..])
        );
        let r = split_request(b"- http://host:80-/ ");
        assert_eq!(
            (r.verb, r.url, r.proto),
            (&b"-"[..], &b"http://host:80-/"[..], &b""[..])
        );
        // A stray space before the closing quote, seen in real logs.
        let r = split_request(b"GET http://host/path HTTP/1.0 ");
        assert_eq!(
            (r.verb, r.url, r.proto),
            (&b"GET"[..], &b"http://host/path"[..], &b"HTTP/1.0"[..])
        );
        let r = split_request(b"GET http://host/a b  HTTP/1.1  ");
        assert_eq!(
            (r.verb, r.url, r.proto),
            (&b"GET"[..], &b"http://host/a b "[..], &b"HTTP/1.1"[..])
        );
    }

    #[test]
    fn field_names_are_unique_and_ordered() {
        let names: std::collections::HashSet<_> = Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), FIELD_COUNT);
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }
}
