//! CloudWatch Logs subscription payloads: detection, decoding and encoding.
//!
//! A subscription filter delivers batches of log events as **gzip-compressed JSON**:
//!
//! ```json
//! {"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/ecs/liberator",
//!  "logStream":"web/1f0c…","subscriptionFilters":["albwatch"],
//!  "logEvents":[{"id":"3871…","timestamp":1750546208640,"message":"NOTIFY …"}]}
//! ```
//!
//! - On a Kinesis stream the record data is that gzip ([`decode_payload`]). Our own ALB records
//!   are JSON and start with `{`, so the gzip magic bytes tell the two apart
//!   ([`is_cloudwatch_payload`]).
//! - A Lambda subscribed directly receives `{"awslogs":{"data":"<base64 of the gzip>"}}`
//!   ([`AwsLogsEvent`], [`decode_awslogs_event`]).
//! - `CONTROL_MESSAGE` payloads are the health checks CloudWatch sends when a destination is
//!   set up; they carry no log events worth reading.
//!
//! Decoding never panics: corrupt gzip, a decompression bomb (more than
//! [`MAX_DECODED_BYTES`]), bad base64 and JSON of another shape are all [`CwLogsError`]s, and
//! every one of them is permanent (the same bytes fail the same way again).

use std::borrow::Cow;
use std::io::Read;

use aws_lambda_events::event::cloudwatch_logs::{LogData, LogEntry, LogsEvent};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// Standard base64 (RFC 4648 §4) as in `awslogs.data`, `=` padding optional when decoding.
const AWSLOGS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The first bytes of every gzip stream (magic `1f 8b`, method 8 = deflate).
pub const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
/// Largest decompressed payload accepted. CloudWatch Logs batches hold at most 1 MiB of log
/// events; JSON escaping can grow that several times, and anything beyond this is not a real
/// subscription payload but a decompression bomb.
pub const MAX_DECODED_BYTES: usize = 8 << 20;

/// `messageType` of a subscription payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageType {
    /// Log events matched by the subscription filter.
    #[serde(rename = "DATA_MESSAGE")]
    Data,
    /// A health check from CloudWatch Logs (ignored).
    #[serde(rename = "CONTROL_MESSAGE")]
    Control,
    /// Any other value (ignored; written back as `UNKNOWN`).
    #[serde(rename = "UNKNOWN", other)]
    Unknown,
}

/// One log event of a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// CloudWatch's unique event id (a decimal string); used to drop redelivered events.
    /// Empty when absent (such events are never treated as duplicates).
    #[serde(default)]
    pub id: String,
    /// When the event happened, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The log line (often with a trailing newline).
    pub message: String,
}

/// A decoded CloudWatch Logs subscription payload. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsPayload {
    /// Data or control message.
    pub message_type: MessageType,
    /// The AWS account that owns the log group (`CloudwatchLogs` for control messages).
    #[serde(default)]
    pub owner: String,
    /// The log group the events come from (empty in control messages).
    #[serde(default)]
    pub log_group: String,
    /// The log stream the events come from (empty in control messages).
    #[serde(default)]
    pub log_stream: String,
    /// Names of the subscription filters that matched.
    #[serde(default)]
    pub subscription_filters: Vec<String>,
    /// The events, in the order CloudWatch delivered them.
    #[serde(default)]
    pub log_events: Vec<LogEvent>,
}

/// Why bytes are not a usable CloudWatch Logs payload. Every variant is permanent: retrying the
/// same bytes cannot succeed, so callers treat the record as poison.
#[derive(Debug, thiserror::Error)]
pub enum CwLogsError {
    /// Neither gzip nor a JSON object.
    #[error("not a CloudWatch Logs payload (neither gzip nor a JSON object)")]
    NotAPayload,
    /// The gzip stream is corrupt or truncated.
    #[error("corrupt or truncated gzip in a CloudWatch Logs payload")]
    Gzip(#[source] std::io::Error),
    /// The payload decompresses to more than [`MAX_DECODED_BYTES`].
    #[error("CloudWatch Logs payload decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The decompressed JSON is not a subscription payload.
    #[error("CloudWatch Logs payload is not subscription JSON")]
    Json(#[source] serde_json::Error),
    /// The Lambda event is not of the `{"awslogs":{"data":…}}` shape.
    #[error("not an awslogs Lambda event")]
    Event(#[source] serde_json::Error),
    /// `awslogs.data` is not base64.
    #[error("awslogs data is not base64")]
    Base64(#[source] base64::DecodeError),
}

/// Whether Kinesis record data is a CloudWatch Logs subscription payload (gzip) rather than one
/// of our own JSON records (which start with `{`).
#[must_use]
pub fn is_cloudwatch_payload(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Decodes a subscription payload: gzip (every member, at most [`MAX_DECODED_BYTES`]) of the
/// payload JSON, or the JSON itself (handy for fixtures and the CLI).
pub fn decode_payload(data: &[u8]) -> Result<LogsPayload, CwLogsError> {
    if is_cloudwatch_payload(data) {
        let json = gunzip(data)?;
        return serde_json::from_slice(&json).map_err(CwLogsError::Json);
    }
    if data.trim_ascii_start().starts_with(b"{") {
        return serde_json::from_slice(data).map_err(CwLogsError::Json);
    }
    Err(CwLogsError::NotAPayload)
}

/// Encodes a payload the way CloudWatch Logs puts it on a Kinesis stream: compact JSON, gzip.
/// For tests and the LocalStack end-to-end checks.
///
/// # Panics
///
/// Never: it only writes to memory, which cannot fail.
#[must_use]
pub fn encode_payload(payload: &LogsPayload) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    serde_json::to_writer(&mut gz, payload).expect("writing JSON to memory cannot fail");
    gz.finish().expect("writing gzip to memory cannot fail")
}

/// The Lambda event of a direct subscription: `{"awslogs":{"data":"<base64 of the gzip>"}}`.
///
/// Deserialize it (e.g. as one arm of an untagged event enum, before the Kinesis arm) and call
/// [`AwsLogsEvent::decode`]. Unlike [`LogsEvent`], it defers decompression, so a bad payload is
/// an error of its own rather than a failure of the whole event's deserialization, and
/// decompression is bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsLogsEvent {
    /// The `awslogs` object.
    pub awslogs: AwsLogsData,
}

/// The `awslogs` object of [`AwsLogsEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsLogsData {
    /// Base64 of the gzip-compressed payload JSON.
    pub data: String,
}

impl AwsLogsEvent {
    /// Decodes the base64 and the payload within.
    pub fn decode(&self) -> Result<LogsPayload, CwLogsError> {
        decode_awslogs_data(&self.awslogs.data)
    }

    /// The event a direct subscription would deliver for `payload`.
    #[must_use]
    pub fn encode(payload: &LogsPayload) -> Self {
        Self {
            awslogs: AwsLogsData {
                data: STANDARD.encode(encode_payload(payload)),
            },
        }
    }
}

/// Decodes a whole `{"awslogs":{"data":…}}` Lambda event given as JSON bytes.
pub fn decode_awslogs_event(json: &[u8]) -> Result<LogsPayload, CwLogsError> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        awslogs: Data<'a>,
    }
    #[derive(Deserialize)]
    struct Data<'a> {
        #[serde(borrow)]
        data: Cow<'a, str>,
    }
    let event: Event<'_> = serde_json::from_slice(json).map_err(CwLogsError::Event)?;
    decode_awslogs_data(&event.awslogs.data)
}

/// Decodes the `awslogs.data` string of a direct subscription event: base64 of the gzip.
pub fn decode_awslogs_data(data: &str) -> Result<LogsPayload, CwLogsError> {
    let bytes = AWSLOGS_BASE64
        .decode(data.trim())
        .map_err(CwLogsError::Base64)?;
    decode_payload(&bytes)
}

impl From<LogData> for LogsPayload {
    /// Converts an already decoded [`LogsEvent`] payload from `aws_lambda_events`.
    fn from(data: LogData) -> Self {
        let message_type = match data.message_type.as_str() {
            "DATA_MESSAGE" => MessageType::Data,
            "CONTROL_MESSAGE" => MessageType::Control,
            _ => MessageType::Unknown,
        };
        Self {
            message_type,
            owner: data.owner,
            log_group: data.log_group,
            log_stream: data.log_stream,
            subscription_filters: data.subscription_filters,
            log_events: data.log_events.into_iter().map(LogEvent::from).collect(),
        }
    }
}

impl From<LogsEvent> for LogsPayload {
    fn from(event: LogsEvent) -> Self {
        event.aws_logs.data.into()
    }
}

impl From<LogEntry> for LogEvent {
    fn from(entry: LogEntry) -> Self {
        Self {
            id: entry.id,
            timestamp: entry.timestamp,
            message: entry.message,
        }
    }
}

/// Decompresses every gzip member, refusing more than [`MAX_DECODED_BYTES`].
fn gunzip(data: &[u8]) -> Result<Vec<u8>, CwLogsError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(8).min(MAX_DECODED_BYTES));
    let limit = u64::try_from(MAX_DECODED_BYTES).unwrap_or(u64::MAX);
    MultiGzDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(CwLogsError::Gzip)?;
    if out.len() > MAX_DECODED_BYTES {
        return Err(CwLogsError::TooLarge {
            limit: MAX_DECODED_BYTES,
        });
    }
    Ok(out)
}

/// Gzip of arbitrary bytes (tests: payloads that are gzip but not JSON, or too large).
#[cfg(test)]
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).expect("in memory");
    gz.finish().expect("in memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}{name}")).expect("fixture")
    }

    #[test]
    fn decodes_the_gzip_fixture_like_the_json_one() {
        let gz = fixture("cloudwatch-logs-subscription.json.gz");
        assert!(is_cloudwatch_payload(&gz));
        let from_gz = decode_payload(&gz).unwrap();
        let from_json = decode_payload(&fixture("cloudwatch-logs-subscription.json")).unwrap();
        assert_eq!(from_gz, from_json);
        assert_eq!(from_gz.message_type, MessageType::Data);
        assert_eq!(from_gz.owner, "123456789012");
        assert_eq!(from_gz.log_group, "/aws/lambda/albwatch-prod");
        assert_eq!(
            from_gz.log_stream,
            "2025/06/21/[$LATEST]4f9c2b7e1d8a4c3f9e6b0a5d2c7f1e84"
        );
        assert_eq!(from_gz.subscription_filters, ["albwatch-notify"]);
        assert_eq!(from_gz.log_events.len(), 10);
        assert_eq!(from_gz.log_events[3].timestamp, 1_750_546_208_640);
        assert!(from_gz.log_events[3].message.starts_with("NOTIFY {"));
    }

    #[test]
    fn our_json_records_are_not_cloudwatch_payloads() {
        assert!(!is_cloudwatch_payload(br#"{"v":1,"source":{}}"#));
        assert!(!is_cloudwatch_payload(b""));
        assert!(!is_cloudwatch_payload(&[0x1f]));
        assert!(!is_cloudwatch_payload(&[0x1f, 0x8b]));
    }

    #[test]
    fn decodes_the_awslogs_event_fixture() {
        let json = fixture("cloudwatch-logs-awslogs-event.json");
        let payload = decode_awslogs_event(&json).unwrap();
        let expected = decode_payload(&fixture("cloudwatch-logs-subscription.json")).unwrap();
        assert_eq!(payload, expected);

        let typed: AwsLogsEvent = serde_json::from_slice(&json).unwrap();
        assert_eq!(typed.decode().unwrap(), expected);
        // aws_lambda_events' own type decodes it to the same payload.
        let theirs: LogsEvent = serde_json::from_slice(&json).unwrap();
        assert_eq!(LogsPayload::from(theirs), expected);
    }

    #[test]
    fn control_message_is_recognised() {
        let payload = decode_payload(&fixture("cloudwatch-logs-control.json")).unwrap();
        assert_eq!(payload.message_type, MessageType::Control);
        let gz = encode_payload(&payload);
        assert_eq!(
            decode_payload(&gz).unwrap().message_type,
            MessageType::Control
        );
    }

    #[test]
    fn encoding_round_trips_through_both_shapes() {
        let payload = decode_payload(&fixture("cloudwatch-logs-subscription.json")).unwrap();
        let gz = encode_payload(&payload);
        assert!(is_cloudwatch_payload(&gz));
        assert_eq!(decode_payload(&gz).unwrap(), payload);

        let event = AwsLogsEvent::encode(&payload);
        let json = serde_json::to_vec(&event).unwrap();
        assert_eq!(decode_awslogs_event(&json).unwrap(), payload);
    }

    #[test]
    fn unknown_message_types_and_keys_are_tolerated() {
        let payload =
            decode_payload(br#"{"messageType":"NEW_KIND","logEvents":[],"extra":1}"#).unwrap();
        assert_eq!(payload.message_type, MessageType::Unknown);
        assert!(payload.log_group.is_empty());
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let json = String::from_utf8(fixture("cloudwatch-logs-subscription.json")).unwrap();
        let (a, b) = json.split_at(json.len() / 2);
        let mut data = gzip(a.as_bytes());
        data.extend(gzip(b.as_bytes()));
        assert_eq!(decode_payload(&data).unwrap().log_events.len(), 10);
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            decode_payload(b"hello"),
            Err(CwLogsError::NotAPayload)
        ));
        assert!(matches!(decode_payload(b""), Err(CwLogsError::NotAPayload)));
        assert!(matches!(
            decode_payload(b"{\"v\":1}"),
            Err(CwLogsError::Json(_))
        ));
        assert!(matches!(
            decode_payload(&gzip(b"not json")),
            Err(CwLogsError::Json(_))
        ));
        let mut truncated =
            encode_payload(&decode_payload(&fixture("cloudwatch-logs-control.json")).unwrap());
        truncated.truncate(truncated.len() - 5);
        assert!(matches!(
            decode_payload(&truncated),
            Err(CwLogsError::Gzip(_))
        ));
        assert!(matches!(
            decode_awslogs_event(br#"{"awslogs":{"data":"!!"}}"#),
            Err(CwLogsError::Base64(_))
        ));
        assert!(matches!(
            decode_awslogs_event(br#"{"Records":[]}"#),
            Err(CwLogsError::Event(_))
        ));
    }

    #[test]
    fn decompression_bombs_are_refused() {
        let bomb = gzip(&vec![b' '; MAX_DECODED_BYTES + 1]);
        assert!(bomb.len() < MAX_DECODED_BYTES / 100);
        assert!(matches!(
            decode_payload(&bomb),
            Err(CwLogsError::TooLarge {
                limit: MAX_DECODED_BYTES
            })
        ));
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_payload(&data);
            let mut gz = GZIP_MAGIC.to_vec();
            gz.extend_from_slice(&data);
            let _ = decode_payload(&gz);
        }

        #[test]
        fn decode_never_panics_on_gzip_of_arbitrary_text(text in "[{}\\[\\]\":,a-zA-Z0-9_ ]{0,300}") {
            let _ = decode_payload(&gzip(text.as_bytes()));
            let _ = decode_awslogs_data(&STANDARD.encode(gzip(text.as_bytes())));
        }

        #[test]
        fn decode_never_panics_on_corrupted_real_payloads(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut data = std::fs::read(format!("{FIXTURES}cloudwatch-logs-subscription.json.gz")).expect("fixture");
            for (i, b) in flips {
                let i = i.index(data.len());
                data[i] ^= b;
            }
            let _ = decode_payload(&data);
        }

        #[test]
        fn awslogs_decode_never_panics(s in any::<String>()) {
            let _ = decode_awslogs_data(&s);
            let _ = decode_awslogs_event(s.as_bytes());
        }
    }
}
