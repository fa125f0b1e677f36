//! The `ingest` Lambda's logic: event → objects → records, with the failure policy.
//!
//! # Failure policy
//! - Every object of an event is attempted, in event order; one object failing does not stop
//!   the others.
//! - SQS: the messages of failed objects are returned in `batchItemFailures`, so only they are
//!   redelivered (and reach the DLQ after `maxReceiveCount`). Messages that can never be
//!   processed (not an S3 notification) are logged and dropped, see
//!   [`trigger`](crate::ingest::trigger).
//! - S3, SNS, EventBridge: if any object failed, the invocation returns an error after all
//!   objects were attempted, so Lambda's async retries and on-failure destination keep the
//!   event. Objects that succeeded are written again on retry with identical record ids, which
//!   consumers drop.
//! - Keys that are not ALB access logs (see [`keys`](crate::ingest::keys)) and objects that no
//!   longer exist are skipped with one log line, never failed.
//! - Once the deadline has passed, the remaining objects are failed without being read.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::ingest::config::IngestConfig;
use crate::ingest::keys::{KeyClass, classify_key};
use crate::ingest::pipeline::{IngestError, ObjectName, ObjectReport, ingest_reader};
use crate::ingest::put::LAMBDA_DEADLINE_MARGIN;
use crate::ingest::sink::RecordSink;
use crate::ingest::source::{ObjectSource, SourceError};
use crate::ingest::trigger::{
    ObjectRef, TriggerError, TriggerKind, WorkItem, parse_trigger, sqs_batch_response,
};
use crate::record::SourceId;
use crate::retry::Deadline;

/// What happened to one object of an invocation.
#[derive(Debug)]
pub enum ObjectOutcome {
    /// Records written.
    Ingested(ObjectReport),
    /// Not processed, on purpose (not an access log, or gone).
    Skipped {
        /// Short snake_case reason.
        reason: &'static str,
    },
    /// Not (completely) processed; must be retried.
    Failed(IngestError),
}

impl ObjectOutcome {
    /// Whether the object must be retried.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

/// What happened in one invocation.
#[derive(Debug)]
pub struct InvocationReport {
    /// The outermost envelope.
    pub kind: TriggerKind,
    /// Every work item with its outcome, in event order.
    pub objects: Vec<(WorkItem, ObjectOutcome)>,
    /// Event records or messages dropped as poison.
    pub rejected: usize,
}

impl InvocationReport {
    /// The failed items.
    pub fn failures(&self) -> impl Iterator<Item = (&WorkItem, &IngestError)> {
        self.objects
            .iter()
            .filter_map(|(item, outcome)| match outcome {
                ObjectOutcome::Failed(e) => Some((item, e)),
                _ => None,
            })
    }

    /// The SQS partial batch response: the message ids of failed objects.
    #[must_use]
    pub fn sqs_response(&self) -> SqsBatchResponse {
        sqs_batch_response(
            self.failures()
                .filter_map(|(item, _)| item.message_id.clone()),
        )
    }
}

/// Why an invocation fails as a whole.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is not one the ingest accepts (retrying cannot help).
    #[error("unrecognized event: {0}")]
    Event(#[from] TriggerError),
    /// Objects failed and cannot be reported per SQS message.
    #[error("{failed} of {total} objects failed; first: {first}")]
    ObjectsFailed {
        /// Failed objects.
        failed: usize,
        /// Objects in the event.
        total: usize,
        /// The first failure's message.
        first: String,
    },
    /// The response could not be built.
    #[error("cannot serialize the response: {0}")]
    Response(#[from] serde_json::Error),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::Event(_) => "NonRetryable.UnrecognizedEvent",
            HandlerError::ObjectsFailed { .. } => "Retryable.ObjectsFailed",
            HandlerError::Response(_) => "Retryable.Response",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

/// The ingest, generic over where objects come from and where records go.
#[derive(Debug)]
pub struct IngestHandler<S, K> {
    source: S,
    sink: K,
    config: IngestConfig,
}

impl<S: ObjectSource, K: RecordSink> IngestHandler<S, K> {
    /// A handler reading from `source` and writing to `sink`.
    #[must_use]
    pub fn new(source: S, sink: K, config: IngestConfig) -> Self {
        Self {
            source,
            sink,
            config,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// The sink (tests read in-memory sinks through it).
    #[must_use]
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The Lambda entry point: [`handle`](Self::handle) with the invocation's deadline.
    ///
    /// # Errors
    /// As [`handle`](Self::handle).
    pub async fn handle_lambda(&self, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
        let deadline = Deadline::from_lambda(event.context.deadline(), LAMBDA_DEADLINE_MARGIN);
        self.handle(&event.payload, deadline).await
    }

    /// Processes an event and builds the Lambda response: for SQS, the partial batch response;
    /// otherwise a small summary.
    ///
    /// # Errors
    /// An unrecognized event; outside SQS (or for an SQS item without a message id), any failed
    /// object, after every object was attempted.
    pub async fn handle(&self, event: &Value, deadline: Deadline) -> Result<Value, HandlerError> {
        let report = self.process(event, deadline).await?;
        let total = report.objects.len();
        let failed: Vec<_> = report.failures().collect();
        let unreportable = report.kind != TriggerKind::Sqs
            || failed.iter().any(|(item, _)| item.message_id.is_none());
        if unreportable && let Some((_, first)) = failed.first() {
            return Err(HandlerError::ObjectsFailed {
                failed: failed.len(),
                total,
                first: first.to_string(),
            });
        }
        if report.kind == TriggerKind::Sqs {
            return Ok(serde_json::to_value(report.sqs_response())?);
        }
        let skipped = report
            .objects
            .iter()
            .filter(|(_, o)| matches!(o, ObjectOutcome::Skipped { .. }))
            .count();
        Ok(json!({ "objects": total, "skipped": skipped }))
    }

    /// Processes every object of an event.
    ///
    /// # Errors
    /// Only when the event as a whole is not recognized.
    pub async fn process(
        &self,
        event: &Value,
        deadline: Deadline,
    ) -> Result<InvocationReport, TriggerError> {
        let trigger = parse_trigger(event)?;
        for rejected in &trigger.rejected {
            warn!(
                trigger = trigger.kind.as_str(),
                message_id = rejected.message_id.as_deref().unwrap_or("-"),
                error = %rejected.error,
                "dropping an event record that can never be processed"
            );
        }
        let mut done: HashMap<ObjectRef, bool> = HashMap::new();
        let mut objects = Vec::with_capacity(trigger.items.len());
        for item in trigger.items {
            // The same object twice in one event (S3 may notify twice): process it once.
            let outcome = match done.get(&item.object) {
                Some(true) => ObjectOutcome::Skipped {
                    reason: "duplicate_in_event",
                },
                Some(false) => ObjectOutcome::Failed(IngestError::Internal {
                    object: name(&item.object),
                    detail: "failed earlier in this event".into(),
                }),
                None => {
                    let outcome = self.ingest_object(&item.object, deadline).await;
                    done.insert(item.object.clone(), !outcome.is_failure());
                    outcome
                }
            };
            objects.push((item, outcome));
        }
        Ok(InvocationReport {
            kind: trigger.kind,
            objects,
            rejected: trigger.rejected.len(),
        })
    }

    /// Ingests one object, unless its key is not an access log or it no longer exists.
    pub async fn ingest_object(&self, object: &ObjectRef, deadline: Deadline) -> ObjectOutcome {
        if let KeyClass::Skip(reason) = classify_key(&object.key, &self.config.key_filter) {
            info!(
                bucket = %object.bucket,
                key = %object.key,
                reason = reason.as_str(),
                detail = %reason,
                "object skipped"
            );
            return ObjectOutcome::Skipped {
                reason: reason.as_str(),
            };
        }
        if deadline.passed() {
            let error = IngestError::Deadline {
                object: name(object),
                lines: 0,
            };
            warn!(bucket = %object.bucket, key = %object.key, error = %error, "object not started");
            return ObjectOutcome::Failed(error);
        }
        let opened = match self.source.open(object).await {
            Ok(opened) => opened,
            Err(SourceError::NotFound { code }) => {
                warn!(
                    bucket = %object.bucket,
                    key = %object.key,
                    code = %code,
                    "object skipped: it no longer exists"
                );
                return ObjectOutcome::Skipped {
                    reason: "not_found",
                };
            }
            Err(source) => {
                let error = IngestError::Source {
                    object: name(object),
                    source,
                };
                warn!(bucket = %object.bucket, key = %object.key, error = %error, "object failed");
                return ObjectOutcome::Failed(error);
            }
        };
        let source = SourceId {
            bucket: object.bucket.clone().into(),
            key: object.key.clone().into(),
            etag: opened
                .etag
                .or_else(|| object.etag.clone())
                .map(|e| e.trim_matches('"').to_owned().into()),
            version_id: opened
                .version_id
                .or_else(|| object.version_id.clone())
                .map(Into::into),
        };
        match ingest_reader(opened.body, source, &self.config, &self.sink, deadline).await {
            Ok(report) => ObjectOutcome::Ingested(report),
            Err(error) => ObjectOutcome::Failed(error),
        }
    }
}

fn name(object: &ObjectRef) -> ObjectName {
    ObjectName {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sink::MemorySink;
    use crate::ingest::source::MemorySource;
    use crate::ingest::trigger::encode_s3_event_key;

    const KEY: &str = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_35gzk084.log.gz";

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn s3_record(bucket: &str, key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2025-06-21T22:50:38.114Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "10.0.1.15"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "albwatch",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": encode_s3_event_key(key), "size": 1, "eTag": "0123456789abcdef", "sequencer": "0055AED6DCD90281E5"}}
        })
    }

    fn sqs_event(messages: &[(&str, &str)]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, key)| {
                json!({
                    "messageId": id, "receiptHandle": "h", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1",
                    "attributes": {}, "messageAttributes": {},
                    "body": json!({"Records": [s3_record("logs", key)]}).to_string(),
                })
            })
            .collect();
        json!({ "Records": records })
    }

    fn handler() -> IngestHandler<MemorySource, MemorySink> {
        let mut source = MemorySource::new();
        source.insert("logs", KEY, fixture(&format!("incident/{KEY}")));
        source.insert(
            "logs",
            &KEY.replace("35gzk084", "corrupt1"),
            fixture("logs/corrupt.log.gz"),
        );
        source.insert(
            "logs",
            &format!("my logs/{KEY}"),
            fixture(&format!("incident/{KEY}")),
        );
        source.insert(
            "logs",
            "AWSLogs/123456789012/ELBAccessLogTestFile",
            fixture("logs/ELBAccessLogTestFile"),
        );
        IngestHandler::new(source, MemorySink::new(), IngestConfig::default())
    }

    #[tokio::test]
    async fn sqs_reports_only_the_failed_message() {
        let h = handler();
        let event = sqs_event(&[
            ("good", KEY),
            ("bad", &KEY.replace("35gzk084", "corrupt1")),
            ("spaces", &format!("my logs/{KEY}")),
            ("test-file", "AWSLogs/123456789012/ELBAccessLogTestFile"),
            ("gone", &KEY.replace("35gzk084", "deleted1")),
        ]);
        let response = h.handle(&event, Deadline::none()).await.unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "bad"}]})
        );
        let report = h.process(&event, Deadline::none()).await.unwrap();
        let outcomes: Vec<_> = report
            .objects
            .iter()
            .map(|(_, o)| match o {
                ObjectOutcome::Ingested(_) => "ingested",
                ObjectOutcome::Skipped { reason } => reason,
                ObjectOutcome::Failed(_) => "failed",
            })
            .collect();
        assert_eq!(
            outcomes,
            ["ingested", "failed", "ingested", "test_file", "not_found"]
        );
        assert!(!h.sink().is_empty());
    }

    #[tokio::test]
    async fn direct_s3_invocation_errors_after_processing_the_rest() {
        let h = handler();
        let event = json!({"Records": [
            s3_record("logs", &KEY.replace("35gzk084", "corrupt1")),
            s3_record("logs", KEY),
        ]});
        let err = h.handle(&event, Deadline::none()).await.unwrap_err();
        assert!(
            matches!(
                err,
                HandlerError::ObjectsFailed {
                    failed: 1,
                    total: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("corrupt1"));
        let records = h.sink().take();
        assert!(records.iter().any(|r| r.partition_key == "10.0.1.11:8080"));
        let d = Diagnostic::from(err);
        assert!(d.error_type.starts_with("Retryable"));
    }

    #[tokio::test]
    async fn test_events_and_unknown_events() {
        let h = handler();
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-06-21T22:25:03.512Z", "Bucket": "logs"});
        assert_eq!(
            h.handle(&test, Deadline::none()).await.unwrap(),
            json!({"objects": 0, "skipped": 0})
        );
        let err = h
            .handle(&json!({"hello": 1}), Deadline::none())
            .await
            .unwrap_err();
        assert!(matches!(err, HandlerError::Event(_)));
        assert!(Diagnostic::from(err).error_type.starts_with("NonRetryable"));
    }

    #[tokio::test]
    async fn deadline_passed_fails_remaining_objects_without_reading() {
        let h = handler();
        let event = sqs_event(&[("a", KEY), ("b", &format!("my logs/{KEY}"))]);
        let response = h
            .handle(&event, Deadline::after(std::time::Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]})
        );
        assert!(h.sink().is_empty());
    }

    #[tokio::test]
    async fn duplicate_objects_in_one_event_are_ingested_once() {
        let h = handler();
        let event = sqs_event(&[("a", KEY), ("b", KEY)]);
        h.handle(&event, Deadline::none()).await.unwrap();
        let n = h.sink().take().len();
        h.handle(&sqs_event(&[("a", KEY)]), Deadline::none())
            .await
            .unwrap();
        assert_eq!(h.sink().take().len(), n);
    }
}
