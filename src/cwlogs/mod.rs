//! CloudWatch Logs subscriptions on the same bus: log events that match configured patterns
//! become deduplicated Slack alerts, like ALB 5xx.
//!
//! # Layout
//! - [`payload`]: recognise (gzip magic vs our `{`-JSON records), decode and encode subscription
//!   payloads, from a Kinesis record or a direct `awslogs` Lambda event.
//! - [`patterns`]: `ALBWATCH_LOG_PATTERNS`, the match rules (whole words or `/regex/`, optionally
//!   per log group).
//! - [`aggregate`]: per-(log group, log stream) windows, event-id dedupe and the repeat rule,
//!   producing [`Notification`](crate::notify::notification::Notification)s.
//!
//! # The machine form
//!
//! Log alerts are ordinary `Notification`s, so the Slack renderer, the webhook and the CLI treat
//! them like ALB ones. The field names are shared with ALB alerts and mean:
//!
//! | field | for CloudWatch Logs |
//! |---|---|
//! | `source` | `"cloudwatch_logs"` |
//! | `status` | always `"firing"` (a log event is a point in time; nothing resolves) |
//! | `load_balancer` | the log group |
//! | `target` | the log stream; `target_kind` is `"target"`, `target_group` is `null` |
//! | `window_start`, `window_end` | the window of the matching events |
//! | `count_5xx` | matching events in the window (the name is shared with ALB alerts) |
//! | `requests` | all events of that stream received in the window (with a subscription filter, only those the filter let through) |
//! | `error_rate` | `count_5xx / requests` |
//! | `status_codes` | matching events by the pattern that matched, as written (`"NOTIFY"`, `"/^ERROR/"`) |
//! | `error_reasons` | empty |
//! | `first_seen`, `last_seen` | first and last matching event |
//! | `samples` | the first matching events: `time` = event time, `request` = the message (without its trailing newline, at most 2 KiB), `client` = the log stream, `error_reason` = the pattern |
//! | `escalation` | the count at least doubled since the last announcement |
//!
//! # Use (the alerter)
//!
//! ```no_run
//! # use albwatch::cwlogs::{self, LogAlertConfig, LogAlerts};
//! # use albwatch::alert::config::AlertConfig;
//! # fn deliver(_: &[albwatch::notify::notification::Notification]) -> bool { true }
//! # let records: Vec<Vec<u8>> = Vec::new();
//! let alert_config = AlertConfig::from_env()?;
//! let logs = LogAlerts::new(LogAlertConfig::from_env(&alert_config)?);
//! for data in &records {
//!     if cwlogs::is_cloudwatch_payload(data) {
//!         if let Err(poison) = logs.ingest_bytes(data) {
//!             eprintln!("skipping a poison record: {poison}");
//!         }
//!     } // else: an ALB record, for the engine
//! }
//! let pending = logs.evaluate();
//! if deliver(&pending) {
//!     logs.commit(&pending);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aggregate;
mod base64;
pub mod patterns;
pub mod payload;

pub use aggregate::{LogAlertConfig, LogAlerts, LogCounters, LogIngested};
pub use base64::Base64Error;
pub use patterns::{DEFAULT_LOG_PATTERNS, LOG_PATTERNS_ENV, LogPatterns, Pattern, PatternError};
pub use payload::{
    AwsLogsData, AwsLogsEvent, CwLogsError, LogEvent, LogsPayload, MessageType,
    decode_awslogs_data, decode_awslogs_event, decode_payload, encode_payload,
    is_cloudwatch_payload,
};

#[cfg(test)]
mod tests;
