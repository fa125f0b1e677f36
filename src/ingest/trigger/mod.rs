//! The `ingest` Lambda's incoming event → the S3 objects to process.
//!
//! One function accepts every way a new-object notification can arrive:
//!
//! | invocation | payload | keys |
//! | --- | --- | --- |
//! | S3 → Lambda | `S3Event` | form-encoded |
//! | S3 → SQS → Lambda | `SqsEvent`, body = S3 notification | form-encoded |
//! | S3 → SNS → SQS → Lambda | `SqsEvent`, body = SNS envelope (or the raw notification with raw message delivery) | form-encoded |
//! | S3 → SNS → Lambda | `SnsEvent`, `Message` = S3 notification | form-encoded |
//! | S3 → EventBridge → Lambda (or → SQS) | `Object Created` event | plain |
//!
//! The `s3:TestEvent` S3 sends when a notification is configured is acknowledged and ignored in
//! every envelope.
//!
//! # Failure policy
//! Parsing is pure, so retrying can never fix what it rejects. [`parse_trigger`] returns `Err`
//! only when the event as a whole is no shape this function accepts; a record or SQS message
//! that cannot be understood lands in [`Trigger::rejected`] instead. The handler logs each
//! rejected entry (it carries the SQS `messageId` and an excerpt) and drops it as poison: it is
//! **not** reported in `batchItemFailures`, which would only make SQS redeliver it until the
//! retention period ends. An SQS message whose *object processing* fails is reported, with
//! [`sqs_batch_response`], so SQS redelivers it.

use std::collections::HashSet;
use std::fmt;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3EventRecord;
use aws_lambda_events::event::sns::{SnsMessage, SnsRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use tracing::{debug, info};

use crate::text::clip_bytes_marked;

mod s3_key;
pub use s3_key::{KeyDecodeError, decode_s3_event_key, encode_s3_event_key};

/// Longest excerpt of an offending payload kept in an error, in bytes.
const EXCERPT_MAX: usize = 200;

/// The invocation source, i.e. the outermost envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// S3 event notification invoking the function directly.
    S3,
    /// SQS batch (bodies: S3 notifications, SNS envelopes or EventBridge events).
    Sqs,
    /// SNS records whose `Message` is an S3 notification.
    Sns,
    /// EventBridge `Object Created` event invoking the function directly.
    EventBridge,
}

impl TriggerKind {
    /// Short label for structured log fields.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Sqs => "sqs",
            Self::Sns => "sns",
            Self::EventBridge => "eventbridge",
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One S3 object version to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, already decoded.
    pub key: String,
    /// `ETag` as given by the notification (S3 sends it without quotes).
    pub etag: Option<String>,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// Object size in bytes, when the notification carries it.
    pub size: Option<u64>,
}

/// An object to process and, for SQS, the message it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkItem {
    /// The object.
    pub object: ObjectRef,
    /// SQS `messageId`, to report in `batchItemFailures` if processing fails. `None` outside SQS.
    pub message_id: Option<String>,
}

/// A record or message that can never be processed: log it and drop it (see module docs).
#[derive(Debug)]
pub struct Rejected {
    /// SQS `messageId` of the message it came from, if any.
    pub message_id: Option<String>,
    /// Why it was rejected.
    pub error: TriggerError,
}

/// What one invocation asks for.
#[derive(Debug)]
pub struct Trigger {
    /// The outermost envelope.
    pub kind: TriggerKind,
    /// Objects to process, in event order.
    pub items: Vec<WorkItem>,
    /// Poison records/messages: log and drop, never retry.
    pub rejected: Vec<Rejected>,
    /// S3 test events acknowledged (already logged once by [`parse_trigger`]).
    pub test_events: usize,
    /// Notifications about something other than a created object (e.g. `ObjectRemoved:*`).
    pub ignored: usize,
}

/// Why an event, record or message could not be turned into work.
///
/// Every variant is permanent: the same input always fails the same way.
#[derive(Debug, Error)]
pub enum TriggerError {
    /// The payload is none of the accepted shapes.
    #[error("unrecognized {context}: {excerpt}")]
    Unrecognized {
        /// What was being read.
        context: &'static str,
        /// The start of the offending payload.
        excerpt: String,
    },
    /// A string payload (SQS body, SNS message) is not JSON.
    #[error("{context} is not JSON ({source}): {excerpt}")]
    NotJson {
        /// What was being read.
        context: &'static str,
        /// The start of the offending payload.
        excerpt: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The shape was recognized but its fields do not deserialize.
    #[error("malformed {context} ({source}): {excerpt}")]
    Malformed {
        /// What was being read.
        context: &'static str,
        /// The start of the offending payload.
        excerpt: String,
        /// The deserialization error.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent or empty.
    #[error("{context} has no {field}")]
    MissingField {
        /// What was being read.
        context: &'static str,
        /// The missing field's path.
        field: &'static str,
    },
    /// The notification's object key cannot be decoded.
    #[error("cannot decode object key {raw:?}: {source}")]
    KeyDecode {
        /// The key as it appeared in the notification.
        raw: String,
        /// What is wrong with it.
        #[source]
        source: KeyDecodeError,
    },
}

/// Turns the Lambda's incoming event into work items.
///
/// # Errors
/// Only when the event as a whole is not an S3, SQS, SNS, EventBridge or S3 test event; problems
/// with single records or messages are reported in [`Trigger::rejected`].
pub fn parse_trigger(value: &Value) -> Result<Trigger, TriggerError> {
    let mut out = Collector::default();
    let kind = match detect(value) {
        Shape::S3(records) => {
            for record in records {
                out.s3_record(record, None);
            }
            TriggerKind::S3
        }
        Shape::Sqs(records) => {
            for record in records {
                out.sqs_message(record);
            }
            TriggerKind::Sqs
        }
        Shape::Sns(records) => {
            for record in records {
                out.sns_record(record);
            }
            TriggerKind::Sns
        }
        Shape::EventBridge => {
            out.eventbridge(value, None);
            TriggerKind::EventBridge
        }
        Shape::S3Test => {
            out.test_events += 1;
            TriggerKind::S3
        }
        Shape::SnsEnvelope | Shape::Unknown => {
            return Err(TriggerError::Unrecognized {
                context: "Lambda event",
                excerpt: excerpt_value(value),
            });
        }
    };

    if out.test_events > 0 {
        info!(
            trigger = kind.as_str(),
            test_events = out.test_events,
            "S3 test event acknowledged and ignored"
        );
    }
    if out.ignored > 0 {
        info!(
            trigger = kind.as_str(),
            ignored = out.ignored,
            "ignored notifications that are not object creations"
        );
    }
    debug!(
        trigger = kind.as_str(),
        items = out.items.len(),
        rejected = out.rejected.len(),
        "parsed trigger"
    );
    Ok(Trigger {
        kind,
        items: out.items,
        rejected: out.rejected,
        test_events: out.test_events,
        ignored: out.ignored,
    })
}

/// Builds the SQS partial batch response from the ids of messages whose processing failed.
///
/// Ids are deduplicated (one message can hold several objects), first occurrence order kept.
/// Ids are passed through as given: Lambda treats an empty or unknown id as a failure of the
/// whole batch, which redelivers rather than loses.
#[must_use]
pub fn sqs_batch_response<I, S>(failed_message_ids: I) -> SqsBatchResponse
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut seen = HashSet::new();
    let mut response = SqsBatchResponse::default();
    response.set_failures(
        failed_message_ids
            .into_iter()
            .map(Into::into)
            .filter(|id: &String| seen.insert(id.clone())),
    );
    response
}

/// The shapes a payload can have, told apart by their distinguishing fields.
enum Shape<'a> {
    /// `{"Records": [{"eventSource": "aws:s3", ...}]}`
    S3(&'a [Value]),
    /// `{"Records": [{"eventSource": "aws:sqs", ...}]}`
    Sqs(&'a [Value]),
    /// `{"Records": [{"EventSource": "aws:sns", ...}]}`
    Sns(&'a [Value]),
    /// `{"Event": "s3:TestEvent", ...}`
    S3Test,
    /// `{"detail-type": ..., "source": ..., "detail": ...}`
    EventBridge,
    /// SNS HTTP/SQS delivery envelope: `{"Type": "Notification", "Message": "...", ...}`
    SnsEnvelope,
    /// Anything else.
    Unknown,
}

fn detect(value: &Value) -> Shape<'_> {
    let Some(obj) = value.as_object() else {
        return Shape::Unknown;
    };
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        return match source {
            Some("aws:s3") => Shape::S3(records),
            Some("aws:sqs") => Shape::Sqs(records),
            Some("aws:sns") => Shape::Sns(records),
            _ => Shape::Unknown,
        };
    }
    let str_field = |name: &str| obj.get(name).and_then(Value::as_str);
    if str_field("Event") == Some("s3:TestEvent") {
        return Shape::S3Test;
    }
    if str_field("detail-type").is_some() && str_field("source").is_some() {
        return Shape::EventBridge;
    }
    if str_field("Type") == Some("Notification") && str_field("Message").is_some() {
        return Shape::SnsEnvelope;
    }
    Shape::Unknown
}

/// The `detail` of an EventBridge `Object Created` event from S3.
///
/// `Serialize` only because `EventBridgeEvent<T>` requires it.
#[derive(Debug, Deserialize, Serialize)]
struct ObjectCreatedDetail {
    bucket: DetailBucket,
    object: DetailObject,
}

#[derive(Debug, Deserialize, Serialize)]
struct DetailBucket {
    name: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
struct DetailObject {
    key: String,
    size: Option<u64>,
    etag: Option<String>,
    version_id: Option<String>,
}

/// Accumulates the outcome of one invocation.
#[derive(Default)]
struct Collector {
    items: Vec<WorkItem>,
    rejected: Vec<Rejected>,
    test_events: usize,
    ignored: usize,
}

impl Collector {
    fn reject(&mut self, message_id: Option<&str>, error: TriggerError) {
        self.rejected.push(Rejected {
            message_id: message_id.map(str::to_owned),
            error,
        });
    }

    fn outcome(
        &mut self,
        message_id: Option<&str>,
        result: Result<Option<ObjectRef>, TriggerError>,
    ) {
        match result {
            Ok(Some(object)) => self.items.push(WorkItem {
                object,
                message_id: message_id.map(str::to_owned),
            }),
            Ok(None) => self.ignored += 1,
            Err(error) => self.reject(message_id, error),
        }
    }

    fn s3_record(&mut self, record: &Value, message_id: Option<&str>) {
        self.outcome(message_id, s3_object(record));
    }

    fn eventbridge(&mut self, event: &Value, message_id: Option<&str>) {
        self.outcome(message_id, eventbridge_object(event));
    }

    fn sqs_message(&mut self, record: &Value) {
        let message = match SqsMessage::deserialize(record) {
            Ok(message) => message,
            Err(source) => {
                let id = record.get("messageId").and_then(Value::as_str);
                self.reject(id, malformed("SQS message", record, source));
                return;
            }
        };
        let id = message.message_id.as_deref();
        match message.body.as_deref() {
            Some(body) => self.embedded(body, "SQS message body", id, true),
            None => self.reject(
                id,
                TriggerError::MissingField {
                    context: "SQS message",
                    field: "body",
                },
            ),
        }
    }

    fn sns_record(&mut self, record: &Value) {
        match SnsRecord::deserialize(record) {
            Ok(record) => self.embedded(&record.sns.message, "SNS message", None, false),
            Err(source) => self.reject(None, malformed("SNS record", record, source)),
        }
    }

    /// A JSON document carried as a string (SQS body, SNS `Message`).
    fn embedded(
        &mut self,
        text: &str,
        context: &'static str,
        message_id: Option<&str>,
        allow_sns_envelope: bool,
    ) {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(source) => {
                let excerpt = excerpt(text);
                self.reject(
                    message_id,
                    TriggerError::NotJson {
                        context,
                        excerpt,
                        source,
                    },
                );
                return;
            }
        };
        match detect(&value) {
            Shape::S3(records) => {
                for record in records {
                    self.s3_record(record, message_id);
                }
            }
            Shape::S3Test => self.test_events += 1,
            Shape::EventBridge => self.eventbridge(&value, message_id),
            Shape::SnsEnvelope if allow_sns_envelope => match SnsMessage::deserialize(&value) {
                Ok(envelope) => self.embedded(&envelope.message, "SNS message", message_id, false),
                Err(source) => self.reject(message_id, malformed("SNS envelope", &value, source)),
            },
            Shape::Sqs(_) | Shape::Sns(_) | Shape::SnsEnvelope | Shape::Unknown => {
                self.reject(
                    message_id,
                    TriggerError::Unrecognized {
                        context,
                        excerpt: excerpt(text),
                    },
                );
            }
        }
    }
}

/// One S3 notification record → the created object, `None` for other event types.
fn s3_object(record: &Value) -> Result<Option<ObjectRef>, TriggerError> {
    const CONTEXT: &str = "S3 event record";
    let record =
        S3EventRecord::deserialize(record).map_err(|source| malformed(CONTEXT, record, source))?;
    if record
        .event_name
        .as_deref()
        .is_some_and(|name| !name.starts_with("ObjectCreated:"))
    {
        return Ok(None);
    }
    let object = record.s3.object;
    let bucket = non_empty(record.s3.bucket.name).ok_or(TriggerError::MissingField {
        context: CONTEXT,
        field: "s3.bucket.name",
    })?;
    let raw_key = non_empty(object.key).ok_or(TriggerError::MissingField {
        context: CONTEXT,
        field: "s3.object.key",
    })?;
    let key = decode_s3_event_key(&raw_key).map_err(|source| TriggerError::KeyDecode {
        raw: raw_key,
        source,
    })?;
    Ok(Some(ObjectRef {
        bucket,
        key,
        etag: object.e_tag,
        version_id: object.version_id,
        size: object.size.and_then(|size| u64::try_from(size).ok()),
    }))
}

/// One EventBridge event → the created object, `None` for other S3 event types.
fn eventbridge_object(event: &Value) -> Result<Option<ObjectRef>, TriggerError> {
    const CONTEXT: &str = "EventBridge event";
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    if field("source") != Some("aws.s3") {
        return Err(TriggerError::Unrecognized {
            context: CONTEXT,
            excerpt: excerpt_value(event),
        });
    }
    if field("detail-type") != Some("Object Created") {
        return Ok(None);
    }
    let event = EventBridgeEvent::<ObjectCreatedDetail>::deserialize(event)
        .map_err(|source| malformed(CONTEXT, event, source))?;
    let DetailObject {
        key,
        size,
        etag,
        version_id,
    } = event.detail.object;
    let bucket = non_empty(Some(event.detail.bucket.name)).ok_or(TriggerError::MissingField {
        context: CONTEXT,
        field: "detail.bucket.name",
    })?;
    let key = non_empty(Some(key)).ok_or(TriggerError::MissingField {
        context: CONTEXT,
        field: "detail.object.key",
    })?;
    // EventBridge keys are not form-encoded: use them as they are.
    Ok(Some(ObjectRef {
        bucket,
        key,
        etag,
        version_id,
        size,
    }))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn malformed(context: &'static str, value: &Value, source: serde_json::Error) -> TriggerError {
    TriggerError::Malformed {
        context,
        excerpt: excerpt_value(value),
        source,
    }
}

fn excerpt_value(value: &Value) -> String {
    excerpt(&value.to_string())
}

/// The first [`EXCERPT_MAX`] bytes of `text`, cut on a char boundary, `…` appended if cut.
fn excerpt(text: &str) -> String {
    clip_bytes_marked(text, EXCERPT_MAX).into_owned()
}

#[cfg(test)]
mod tests;
