//! Where records go: the [`RecordSink`] trait, Kinesis, and in-memory sinks.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::kinesis::errors::{self, error_code};

/// One record ready to be written: compact JSON of the [`record`](crate::record) format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Kinesis partition key (equals the record's `partition_key`).
    pub partition_key: String,
    /// The record JSON.
    pub data: Vec<u8>,
    /// The record's `seq` (copied from the JSON, for reports and tests).
    pub seq: u64,
    /// The record's `lines` range.
    pub lines: [u64; 2],
    /// Entries in the record.
    pub entries: u32,
}

impl OutRecord {
    /// Size as Kinesis counts it: data plus partition key bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// One record of a put that was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// Index of the record in the slice passed to [`RecordSink::put_records`].
    pub index: usize,
    /// Error code, e.g. `ProvisionedThroughputExceededException`.
    pub code: String,
    /// Error message.
    pub message: String,
}

/// Answer of a put call that reached the service: the records that were **not** written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// Failed records, by index; empty when every record was written.
    pub failed: Vec<RecordFailure>,
}

/// A put call failed as a whole (no record is known to be written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// Error code or kind, e.g. `ResourceNotFoundException` or `dispatch`.
    pub code: String,
    /// What happened, with the error chain.
    pub message: String,
    /// Whether trying again can help (throttling, timeouts, 5xx).
    pub retryable: bool,
}

/// Writes batches of records; implemented by Kinesis and by in-memory sinks.
///
/// Batches respect the `PutRecords` limits (see [`batch`](crate::ingest::batch)).
pub trait RecordSink: Sync {
    /// Writes `records`, reporting which ones failed.
    fn put_records(
        &self,
        records: &[OutRecord],
    ) -> impl Future<Output = Result<PutOutcome, SinkError>> + Send;
}

/// Kinesis Data Streams through `PutRecords`.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl KinesisSink {
    /// A sink writing to `stream_name` (a name or an ARN) through `client`.
    #[must_use]
    pub fn new(client: aws_sdk_kinesis::Client, stream_name: impl Into<String>) -> Self {
        Self {
            client,
            stream_name: stream_name.into(),
        }
    }

    /// The ingest's sink (Lambda and `albwatch replay`): a client built from shared AWS
    /// settings with the SDK's retries **off**, so that one `PutRecords` attempt of
    /// [`put_with_retry`](crate::ingest::put::put_with_retry) is one HTTP call. That loop is the
    /// single retry layer: it knows the deadline and resends only the failed records.
    #[must_use]
    pub fn from_conf(config: &aws_config::SdkConfig, stream_name: impl Into<String>) -> Self {
        let kinesis = aws_sdk_kinesis::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .build();
        Self::new(aws_sdk_kinesis::Client::from_conf(kinesis), stream_name)
    }
}

impl RecordSink for KinesisSink {
    async fn put_records(&self, records: &[OutRecord]) -> Result<PutOutcome, SinkError> {
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(record.partition_key.clone())
                .data(Blob::new(record.data.clone()))
                .build()
                .map_err(|e| SinkError {
                    code: "construction".into(),
                    message: e.to_string(),
                    retryable: false,
                })?;
            entries.push(entry);
        }
        let request = self.client.put_records().set_records(Some(entries));
        let request = if self.stream_name.starts_with("arn:") {
            request.stream_arn(&self.stream_name)
        } else {
            request.stream_name(&self.stream_name)
        };
        match request.send().await {
            Ok(output) => Ok(PutOutcome {
                failed: failed_records(&output, records.len()),
            }),
            Err(error) => Err(classify(&error)),
        }
    }
}

/// The records of a `PutRecords` answer that were not written, by index in the request.
///
/// A result entry with an `ErrorCode` failed. Entries missing from the answer (fewer results
/// than records sent, which the API never does on purpose) count as failed, so they are retried
/// rather than lost; results beyond `sent` are ignored.
#[must_use]
pub fn failed_records(output: &PutRecordsOutput, sent: usize) -> Vec<RecordFailure> {
    let results = output.records();
    let mut failed: Vec<RecordFailure> = results
        .iter()
        .take(sent)
        .enumerate()
        .filter_map(|(index, entry)| {
            entry.error_code().map(|code| RecordFailure {
                index,
                code: code.to_owned(),
                message: entry.error_message().unwrap_or_default().to_owned(),
            })
        })
        .collect();
    failed.extend((results.len()..sent).map(|index| RecordFailure {
        index,
        code: "MissingResult".into(),
        message: "no result entry for this record".into(),
    }));
    failed
}

/// Whether a failed `PutRecords` call is retried, by the one Kinesis classification
/// ([`crate::kinesis::errors`]); the SDK does not retry (see [`KinesisSink::from_conf`]).
fn classify(error: &SdkError<PutRecordsError>) -> SinkError {
    SinkError {
        code: error_code(error),
        message: crate::text::error_chain(error),
        retryable: errors::classify(error).is_retryable(),
    }
}

/// Keeps every record in memory (tests and `albwatch simulate`).
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<OutRecord>>,
}

impl MemorySink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns the records written so far, in write order.
    pub fn take(&self) -> Vec<OutRecord> {
        std::mem::take(&mut *self.lock())
    }

    /// A copy of the records written so far.
    #[must_use]
    pub fn records(&self) -> Vec<OutRecord> {
        self.lock().clone()
    }

    /// How many records were written.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was written.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OutRecord>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RecordSink for MemorySink {
    async fn put_records(&self, records: &[OutRecord]) -> Result<PutOutcome, SinkError> {
        self.lock().extend_from_slice(records);
        Ok(PutOutcome::default())
    }
}

/// Counts records and drops them (benchmarks).
#[derive(Debug, Default)]
pub struct DiscardSink {
    records: AtomicU64,
    bytes: AtomicU64,
    calls: AtomicU64,
}

impl DiscardSink {
    /// A sink that keeps nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records received.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Bytes received (data + partition keys).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Put calls received.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl RecordSink for DiscardSink {
    async fn put_records(&self, records: &[OutRecord]) -> Result<PutOutcome, SinkError> {
        let bytes: usize = records.iter().map(OutRecord::size).sum();
        self.records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(PutOutcome::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::put::{PutFailure, StopReason, put_with_retry};
    use crate::retry::{Deadline, RetryPolicy};
    use aws_config::{BehaviorVersion, Region};
    use aws_sdk_kinesis::config::Credentials;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;
    use serde_json::json;
    use std::time::Duration;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// Shared AWS settings as the binaries load them, with a test endpoint and credentials.
    async fn aws_at(endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .load()
            .await
    }

    /// Puts one record with a policy of `attempts` quick attempts through a sink built from
    /// `aws` as the binaries build it; every attempt is expected to fail.
    async fn put_one(aws: &aws_config::SdkConfig, attempts: u32) -> PutFailure {
        let sink = KinesisSink::from_conf(aws, "alerts");
        let record = OutRecord {
            partition_key: "10.0.1.11:8080".into(),
            data: b"{}".to_vec(),
            seq: 0,
            lines: [1, 1],
            entries: 0,
        };
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_attempts: attempts,
        };
        put_with_retry(&sink, vec![record], &policy, Deadline::none())
            .await
            .expect_err("every call fails")
    }

    /// [`put_one`] against a server answering every call with `answer`; also returns the HTTP
    /// calls the server saw.
    async fn put_against(answer: ResponseTemplate, attempts: u32) -> (PutFailure, usize) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let aws = aws_at(&server.uri()).await;
        // The loaded settings retry (standard mode): `from_conf` must turn that off.
        assert!(aws.retry_config().is_some_and(|r| r.max_attempts() > 1));
        let failure = put_one(&aws, attempts).await;
        let calls = server.received_requests().await.map_or(0, |r| r.len());
        (failure, calls)
    }

    fn error(status: u16, code: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(
            json!({"__type": code, "message": "injected"}).to_string(),
            "application/x-amz-json-1.1",
        )
    }

    #[tokio::test]
    async fn one_retry_layer_one_http_call_per_attempt() {
        let (failure, calls) = put_against(error(500, "InternalFailure"), 5).await;
        assert_eq!((failure.stop, failure.attempts), (StopReason::Attempts, 5));
        assert_eq!(calls, 5, "the SDK does not retry underneath");
    }

    #[tokio::test]
    async fn throttling_and_5xx_are_retried_client_errors_are_not() {
        for (answer, retried) in [
            (error(400, "ProvisionedThroughputExceededException"), true),
            (error(400, "ThrottlingException"), true),
            (error(400, "RequestTimeoutException"), true),
            (error(429, "TooManyRequests"), true),
            (error(503, "ServiceUnavailable"), true),
            (
                ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
                true,
            ),
            (error(400, "ResourceNotFoundException"), false),
            (error(400, "AccessDeniedException"), false),
            (error(400, "ValidationException"), false),
        ] {
            let (failure, calls) = put_against(answer.clone(), 3).await;
            let want = if retried {
                (StopReason::Attempts, 3)
            } else {
                (StopReason::Permanent, 1)
            };
            assert_eq!((failure.stop, calls), want, "{answer:?}: {failure:?}");
        }
    }

    #[tokio::test]
    async fn connection_errors_are_retried() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let aws = aws_at(&format!("http://127.0.0.1:{port}")).await;
        let failure = put_one(&aws, 2).await;
        assert_eq!(
            (failure.stop, failure.code.as_str()),
            (StopReason::Attempts, "dispatch"),
            "{failure:?}"
        );
    }

    fn ok(seq: &str) -> PutRecordsResultEntry {
        PutRecordsResultEntry::builder()
            .sequence_number(seq)
            .shard_id("shardId-000000000000")
            .build()
    }

    fn throttled() -> PutRecordsResultEntry {
        PutRecordsResultEntry::builder()
            .error_code("ProvisionedThroughputExceededException")
            .error_message("Rate exceeded for shard shardId-000000000001")
            .build()
    }

    #[test]
    fn no_failures_when_every_entry_has_a_sequence_number() {
        let out = PutRecordsOutput::builder()
            .failed_record_count(0)
            .records(ok("1"))
            .records(ok("2"))
            .build()
            .unwrap();
        assert!(failed_records(&out, 2).is_empty());
    }

    #[test]
    fn failed_entries_are_found_by_index() {
        let out = PutRecordsOutput::builder()
            .failed_record_count(2)
            .records(throttled())
            .records(ok("2"))
            .records(ok("3"))
            .records(
                PutRecordsResultEntry::builder()
                    .error_code("InternalFailure")
                    .build(),
            )
            .build()
            .unwrap();
        let failed = failed_records(&out, 4);
        let idx: Vec<_> = failed.iter().map(|f| f.index).collect();
        assert_eq!(idx, [0, 3]);
        assert_eq!(failed[0].code, "ProvisionedThroughputExceededException");
        assert!(failed[0].message.contains("shardId-000000000001"));
        assert_eq!(failed[1].message, "");
    }

    #[test]
    fn missing_results_count_as_failed_and_extra_ones_are_ignored() {
        let out = PutRecordsOutput::builder()
            .failed_record_count(0)
            .records(ok("1"))
            .build()
            .unwrap();
        let idx: Vec<_> = failed_records(&out, 3).iter().map(|f| f.index).collect();
        assert_eq!(idx, [1, 2]);
        let out = PutRecordsOutput::builder()
            .records(ok("1"))
            .records(throttled())
            .build()
            .unwrap();
        assert!(failed_records(&out, 1).is_empty());
    }

    #[tokio::test]
    async fn memory_and_discard_sinks_account_for_records() {
        let r = OutRecord {
            partition_key: "k".into(),
            data: b"{}".to_vec(),
            seq: 0,
            lines: [1, 1],
            entries: 0,
        };
        let mem = MemorySink::new();
        mem.put_records(&[r.clone(), r.clone()]).await.unwrap();
        assert_eq!(mem.len(), 2);
        assert_eq!(mem.take().len(), 2);
        assert!(mem.is_empty());
        let discard = DiscardSink::new();
        discard.put_records(std::slice::from_ref(&r)).await.unwrap();
        assert_eq!(
            (discard.records(), discard.bytes(), discard.calls()),
            (1, 3, 1)
        );
    }
}
