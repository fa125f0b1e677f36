//! The ALB access-log fields: their names and positions, and the grammar of their values.
//!
//! `validate` decides whether a value is in its documented domain; the value types
//! ([`HostPort`], [`Request`]) and their splitters are shared by the parser and the entry's
//! accessors.

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

/// Fields of the oldest documented layout (2016): a line with fewer is not an entry.
pub const MIN_FIELD_COUNT: usize = 25;

/// Highest `matched_rule_priority` AWS allows for a listener rule.
pub const MAX_RULE_PRIORITY: u32 = 50_000;

/// Why a line (or one of its fields) is not what ALB writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The line is empty (callers normally skip blank lines before parsing).
    #[error("empty line")]
    Empty,
    /// A quoted field has no closing quote.
    #[error("unterminated quoted field")]
    UnterminatedQuote,
    /// Two spaces in a row or an empty bare field.
    #[error("empty field")]
    EmptyField,
    /// The line ended before the oldest layout's last field; `found` fields were read.
    #[error("line ends after {found} fields, fewer than the 25 of the oldest layout")]
    FieldCount {
        /// How many fields the line had.
        found: usize,
    },
    /// Not a number where one is required.
    #[error("not a number")]
    BadNumber,
    /// Not `-`, `-1` or a priority from 0 to 50000.
    #[error("not a rule priority (-1, 0..50000)")]
    BadPriority,
    /// Not a three-digit status code.
    #[error("not a status code")]
    BadStatusCode,
    /// Not an `ip:port` pair.
    #[error("not an ip:port pair")]
    BadHostPort,
    /// Not an RFC 3339 UTC timestamp.
    #[error("not an RFC 3339 UTC timestamp")]
    BadTime,
    /// The `type` field is not a lowercase word such as `https`.
    #[error("not a request type")]
    BadType,
}

/// A line that is not an ALB entry, or a field read as absent: which field, where, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {kind} (byte {offset})")]
pub struct ParseLineError {
    /// The AWS name of the field where parsing stopped (the first missing one for short lines).
    pub field: &'static str,
    /// Byte offset in the line (after removing the line ending).
    pub offset: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
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

/// Why a field's value is not in its documented domain (`-` is valid everywhere but in `type`
/// and `time`).
pub(crate) fn validate(field: Field, value: &[u8], quoted: bool) -> Result<(), ParseErrorKind> {
    if value.is_empty() && !quoted {
        return Err(ParseErrorKind::EmptyField);
    }
    let absent = value == b"-";
    match field {
        Field::Type
            if !value
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Err(ParseErrorKind::BadType)
        }
        Field::Time if !is_timestamp(value) => Err(ParseErrorKind::BadTime),
        Field::RequestCreationTime if !absent && !is_timestamp(value) => {
            Err(ParseErrorKind::BadTime)
        }
        Field::Client | Field::Target if !absent && split_host_port(value).is_none() => {
            Err(ParseErrorKind::BadHostPort)
        }
        Field::RequestProcessingTime
        | Field::TargetProcessingTime
        | Field::ResponseProcessingTime
            if !absent && !is_decimal(value) =>
        {
            Err(ParseErrorKind::BadNumber)
        }
        Field::ElbStatusCode | Field::TargetStatusCode if !absent && !is_status_code(value) => {
            Err(ParseErrorKind::BadStatusCode)
        }
        Field::ReceivedBytes | Field::SentBytes if !absent && !is_unsigned(value) => {
            Err(ParseErrorKind::BadNumber)
        }
        Field::MatchedRulePriority if !absent && rule_priority(value).is_none() => {
            Err(ParseErrorKind::BadPriority)
        }
        _ => Ok(()),
    }
}

/// `-1` (AWS: "an error occurred during rules evaluation") or a priority from 0 (the default
/// rule) to [`MAX_RULE_PRIORITY`].
pub(crate) fn rule_priority(v: &[u8]) -> Option<i32> {
    if v == b"-1" {
        return Some(-1);
    }
    if v.is_empty() || v.len() > 5 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = v
        .iter()
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'));
    (n <= MAX_RULE_PRIORITY).then_some(n as i32)
}

fn is_status_code(v: &[u8]) -> bool {
    v.len() == 3 && v.iter().all(u8::is_ascii_digit)
}

fn is_unsigned(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit)
}

/// `-?digits(.digits)?`, a valid JSON number, so it can be emitted as written.
pub(crate) fn is_decimal(v: &[u8]) -> bool {
    let v = v.strip_prefix(b"-").unwrap_or(v);
    let (int, frac) = match memchr::memchr(b'.', v) {
        Some(dot) => (&v[..dot], Some(&v[dot + 1..])),
        None => (v, None),
    };
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    digits(int) && (int.len() == 1 || int[0] != b'0') && frac.is_none_or(digits)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with plausible ranges.
fn is_timestamp(v: &[u8]) -> bool {
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    if v.len() < 20 || v[v.len() - 1] != b'Z' {
        return false;
    }
    let shape_ok = SHAPE.iter().zip(v).all(|(&s, &b)| {
        if s == b'd' {
            b.is_ascii_digit()
        } else {
            s == b
        }
    });
    if !shape_ok {
        return false;
    }
    let two = |i: usize| u32::from(v[i] - b'0') * 10 + u32::from(v[i + 1] - b'0');
    let ranges_ok = (1..=12).contains(&two(5))
        && (1..=31).contains(&two(8))
        && two(11) < 24
        && two(14) < 60
        && two(17) < 61;
    let rest = &v[19..v.len() - 1];
    let fraction_ok = match rest {
        [] => true,
        [b'.', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    ranges_ok && fraction_ok
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

    #[test]
    fn decimal_grammar_matches_json_numbers() {
        for ok in ["0", "-1", "0.000", "12.5", "-0.25"] {
            assert!(is_decimal(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", ".5", "1.", "01", "1e5", "+1", "1.2.3"] {
            assert!(!is_decimal(bad.as_bytes()), "{bad}");
        }
    }
}
