//! CloudWatch Logs subscription data on the same bus as the ALB records: the payload format and
//! the patterns that pick the log events worth an alert (the alerts themselves are
//! `alert::logs`).
//!
//! - [`payload`]: recognise (gzip magic vs our `{`-JSON records), decode and encode subscription
//!   payloads, from a Kinesis record or a direct `awslogs` Lambda event.
//! - [`patterns`]: `ALBWATCH_LOG_PATTERNS`, the match rules (whole words or `/regex/`, optionally
//!   per log group).

pub mod patterns;
pub mod payload;

pub use patterns::{DEFAULT_LOG_PATTERNS, LOG_PATTERNS_ENV, LogPatterns, Pattern, PatternError};
pub use payload::{
    AwsLogsData, AwsLogsEvent, CwLogsError, LogEvent, LogsPayload, MessageType,
    decode_awslogs_data, decode_awslogs_event, decode_payload, encode_payload,
    is_cloudwatch_payload,
};
