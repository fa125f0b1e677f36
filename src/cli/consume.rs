//! `albwatch consume`: the `alerter` Lambda, run locally on a real Kinesis stream.
//!
//! Reads every shard as Lambda's event source mapping would (`ListShards`, `GetShardIterator`,
//! `GetRecords` following `NextShardIterator`), turns each batch into an `aws_lambda_events`
//! [`KinesisEvent`] and hands it to the real handler, [`Alerter::handle_with_summary`], whose
//! notifications are printed (`--format`) or posted (`--slack-webhook`).
//!
//! # Reading
//!
//! - Each shard is read at most [`READS_PER_SHARD_PER_SECOND`] times a second (Kinesis' limit,
//!   shared with other consumers), and about once every [`POLL_INTERVAL`] once it is caught up.
//!   Throttling and transient errors back off; an expired iterator is replaced from the last
//!   sequence number read; closed shards are read to their end, then their children (after all
//!   of their parents) from their start.
//! - One engine sees every shard, and its per-load-balancer watermark makes data behind it late.
//!   So that a backlog (after `albwatch replay`, or with `--from trim-horizon`) does not let one
//!   shard run ahead of the others, records reach the handler in `ApproximateArrivalTimestamp`
//!   order across shards: a record is handed over only once every shard still being read has
//!   been read past its arrival time. Each event holds consecutive records of one shard (up to
//!   one `GetRecords` answer, not the deployed mapping's `BatchSize`).
//! - A batch whose delivery failed (the handler's `batchItemFailures`) is retried from the
//!   reported record, at most [`MAX_BATCH_RETRIES`] times, like the deployed mapping; the
//!   notifications stay pending in the engine either way.
//! - Records at or before the last sequence number read from a shard are dropped: kinesis-mock
//!   (LocalStack's Kinesis) hands a shard's first record out again after it, and a consumer
//!   must never see a record twice from its own reading. Real Kinesis never does this.
//! - `--once` stops when every shard is caught up (an empty batch with `MillisBehindLatest` 0)
//!   or closed and read to its end; Ctrl-C stops at once. Both print the totals.

use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::event::kinesis::{
    KinesisEncryptionType, KinesisEvent, KinesisEventRecord, KinesisRecord,
};
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::{EncryptionType, Record, Shard, ShardIteratorType};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::replay::load_aws_config;
use super::simulate::OutputFormat;
use crate::alert::config::AlertConfig;
use crate::alert::engine::Engine;
use crate::alert::handler::{Alerter, BatchSummary, cmp_sequence};
use crate::alert::logs::{LogAlertConfig, LogAlerts};
use crate::cli::exit::Exit;
use crate::notify::notification::{Notification, Status};
use crate::notify::notifier::{AttemptFailure, DeliveryError, Notifier};
use crate::notify::slack::{render_payload, render_text};
use crate::notify::webhook::{SlackWebhook, WebhookUrl};
use crate::retry::RetryPolicy;

/// Records asked for per `GetRecords` call (the API's maximum).
pub const GET_RECORDS_LIMIT: i32 = 10_000;
/// `GetRecords` calls Kinesis allows per shard and second, shared by all consumers of a shard.
pub const READS_PER_SHARD_PER_SECOND: u32 = 5;
/// Shortest time between two reads of one shard, so that this consumer alone stays within
/// [`READS_PER_SHARD_PER_SECOND`].
pub const MIN_READ_INTERVAL: Duration =
    Duration::from_millis(1000 / READS_PER_SHARD_PER_SECOND as u64);
/// Time between reads of a caught-up shard (Lambda's event source mapping also polls each shard
/// about once a second), leaving most of the read budget to other consumers.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Failed Kinesis calls in a row on one shard before `consume` gives up (about 3 minutes).
pub const MAX_CONSECUTIVE_FAILURES: u32 = 20;
/// Retries of a batch whose delivery failed: the deployed event source mapping's
/// `MaximumRetryAttempts`.
pub const MAX_BATCH_RETRIES: u32 = 5;
/// Waits after throttled or failed Kinesis calls on a shard: from 500 ms doubling to 10 s.
pub const SHARD_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: MAX_CONSECUTIVE_FAILURES,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(10),
};
/// Waits between retries of a batch whose delivery failed: from 1 s doubling to 10 s.
pub const BATCH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: MAX_BATCH_RETRIES + 1,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(10),
};

/// Error codes worth retrying after a pause.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
];

/// Where reading starts in the shards that exist when `consume` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
}

/// Options of `albwatch consume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    /// Kinesis stream to read (name or ARN).
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    /// AWS endpoint (e.g. LocalStack's `http://127.0.0.1:4566`); overrides `AWS_ENDPOINT_URL`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Where to start in the shards open at start-up (shards created later are read from their
    /// start).
    #[arg(long, value_enum, default_value = "trim-horizon")]
    pub from: StartFrom,
    /// Output form of the notifications.
    #[arg(long, value_enum, default_value = "slack")]
    pub format: OutputFormat,
    /// Post the messages to this Slack incoming webhook instead of printing them.
    #[arg(long, value_name = "URL")]
    pub slack_webhook: Option<String>,
    /// Stop once every shard is caught up (for tests and one-off runs).
    #[arg(long)]
    pub once: bool,
}

/// Why `consume` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The alert settings or the webhook are invalid.
    #[error("{0}")]
    Config(String),
    /// A stream-level call failed and retrying cannot help.
    #[error("stream {stream}: {operation} failed: {message}")]
    Stream {
        /// The stream as given.
        stream: String,
        /// The API call.
        operation: &'static str,
        /// The error chain.
        message: String,
    },
    /// A shard-level call failed permanently, or too many times in a row.
    #[error("shard {shard}: {operation} failed: {message}")]
    Shard {
        /// The shard id.
        shard: String,
        /// The API call.
        operation: &'static str,
        /// The error chain.
        message: String,
    },
    /// Printing a notification failed (stdout closed).
    #[error("cannot write to stdout: {0}")]
    Output(String),
}

/// Runs the consumer; exit status 0, or 2 on an error or when notifications were left
/// undelivered or were rejected by Slack.
pub async fn run(args: &ConsumeArgs) -> Exit {
    let stop = stop_on_ctrl_c();
    let mut consumer = match Consumer::new(args).await {
        Ok(consumer) => consumer,
        Err(e) => return Exit::report(&e.into()),
    };
    let result = consumer.run(stop).await;
    consumer.print_totals();
    match result {
        Ok(()) if consumer.totals.undelivered > 0 || consumer.totals.rejected > 0 => Exit::Failed,
        Ok(()) => Exit::Success,
        Err(e) => Exit::report(&e.into()),
    }
}

/// A receiver that turns `true` on Ctrl-C. The sender stays alive, so waiting on it never
/// fails.
fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        match tokio::signal::ctrl_c().await {
            Ok(()) => {
                info!("Ctrl-C: stopping");
                let _ = tx.send(true);
            }
            Err(e) => warn!(error = %e, "cannot listen for Ctrl-C"),
        }
        std::future::pending::<()>().await;
    });
    rx
}

/// Resolves once `stop` is `true`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The Lambda event record for `record`, read from `shard_id`, as the Kinesis event source
/// mapping builds it (`eventID` = `shardId:sequenceNumber`). Records without an arrival time get
/// `fallback_arrival`.
#[must_use]
pub fn event_record(
    record: Record,
    shard_id: &str,
    stream_arn: Option<&str>,
    region: Option<&str>,
    fallback_arrival: DateTime<Utc>,
) -> KinesisEventRecord {
    let arrival = record
        .approximate_arrival_timestamp
        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(fallback_arrival);
    let mut kinesis = KinesisRecord::default();
    kinesis.approximate_arrival_timestamp.0 = arrival;
    kinesis.encryption_type = match record.encryption_type {
        Some(EncryptionType::Kms) => KinesisEncryptionType::Kms,
        _ => KinesisEncryptionType::None,
    };
    kinesis.data.0 = record.data.into_inner();
    kinesis.partition_key = record.partition_key.unwrap_or_default();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    let mut out = KinesisEventRecord::default();
    out.event_id = Some(format!("{shard_id}:{}", record.sequence_number));
    kinesis.sequence_number = record.sequence_number;
    out.kinesis = kinesis;
    out.aws_region = region.map(str::to_owned);
    out.event_name = Some("aws:kinesis:record".to_owned());
    out.event_source = Some("aws:kinesis".to_owned());
    out.event_source_arn = stream_arn.map(str::to_owned);
    out.event_version = Some("1.0".to_owned());
    out
}

/// How a failed Kinesis call is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The shard iterator expired: get a new one from the last record read.
    Expired,
    /// Throttling, 5xx, timeouts, connection errors: try again after a pause.
    Retryable,
    /// Anything else (missing stream, access denied, bad argument).
    Permanent,
}

fn classify<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Failure {
    match error {
        SdkError::ServiceError(service) => {
            classify_service(service.err().code(), service.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Retryable
        }
        _ => Failure::Permanent,
    }
}

/// [`classify`] for an answer of the service: its error code and HTTP status.
fn classify_service(code: Option<&str>, status: u16) -> Failure {
    let code = code.unwrap_or_default();
    if code == "ExpiredIteratorException" {
        Failure::Expired
    } else if RETRYABLE_CODES.contains(&code)
        || code.contains("Throttl")
        || status >= 500
        || status == 429
    {
        Failure::Retryable
    } else {
        Failure::Permanent
    }
}

/// A short description of a failed call: `Code: message` for service errors, the error chain
/// otherwise.
fn error_text<E>(error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let SdkError::ServiceError(service) = error {
        let err = service.err();
        if let Some(code) = err.code() {
            return match err.message() {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            };
        }
    }
    DisplayErrorContext(error).to_string()
}

/// The stream as given: a name or an ARN.
#[derive(Debug, Clone)]
struct StreamRef {
    given: String,
}

impl StreamRef {
    fn name(&self) -> Option<String> {
        (!self.given.starts_with("arn:")).then(|| self.given.clone())
    }

    fn arn(&self) -> Option<String> {
        self.given.starts_with("arn:").then(|| self.given.clone())
    }
}

/// The Kinesis client with what every call needs.
#[derive(Debug)]
struct Kinesis {
    client: aws_sdk_kinesis::Client,
    stream: StreamRef,
    /// The stream's ARN (for `eventSourceARN`), from `DescribeStreamSummary`.
    arn: Option<String>,
    region: Option<String>,
}

impl Kinesis {
    fn stream_error<E>(&self, operation: &'static str, e: &SdkError<E>) -> ConsumeError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        ConsumeError::Stream {
            stream: self.stream.given.clone(),
            operation,
            message: error_text(e),
        }
    }

    /// Checks that the stream exists and learns its ARN.
    async fn describe(&mut self) -> Result<(), ConsumeError> {
        let out = self
            .client
            .describe_stream_summary()
            .set_stream_name(self.stream.name())
            .set_stream_arn(self.stream.arn())
            .send()
            .await
            .map_err(|e| self.stream_error("DescribeStreamSummary", &e))?;
        self.arn = out
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned());
        Ok(())
    }

    /// Every shard of the stream, open or closed (still within the retention period).
    async fn list_shards(&self) -> Result<Vec<Shard>, ConsumeError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = match token.take() {
                // With a token, the stream must not be named again.
                Some(t) => self.client.list_shards().next_token(t),
                None => self
                    .client
                    .list_shards()
                    .set_stream_name(self.stream.name())
                    .set_stream_arn(self.stream.arn()),
            };
            let out = request
                .send()
                .await
                .map_err(|e| self.stream_error("ListShards", &e))?;
            shards.extend(out.shards.unwrap_or_default());
            match out.next_token {
                Some(t) => token = Some(t),
                None => return Ok(shards),
            }
        }
    }
}

/// Where a shard's next iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// `TRIM_HORIZON` or `LATEST`.
    Start(ShardIteratorType),
    /// `AT_TIMESTAMP`: replaces `LATEST` once an iterator was taken, so that an expired
    /// iterator does not skip what arrived meanwhile.
    At(DateTime<Utc>),
    /// `AFTER_SEQUENCE_NUMBER`: the last record read.
    After(String),
}

/// Where a shard is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A parent shard is still being read.
    WaitingForParents,
    /// Being read.
    Reading,
    /// Closed and read to its end.
    Finished,
}

/// A record read but not yet handed to the alerter.
#[derive(Debug)]
struct Buffered {
    record: KinesisEventRecord,
    arrival_ms: i64,
}

/// One shard's reading state.
#[derive(Debug)]
struct ShardReader {
    id: String,
    parents: Vec<String>,
    phase: Phase,
    position: Position,
    iterator: Option<String>,
    /// Read, not yet handed over; a shard is read again only once this is empty, which bounds
    /// memory to one `GetRecords` answer per shard.
    buffer: VecDeque<Buffered>,
    /// The last read returned nothing and `MillisBehindLatest` 0.
    caught_up: bool,
    /// Arrival time of the last record read (ms since the epoch).
    last_arrival_ms: Option<i64>,
    /// When the last read that reached the tip of the shard (`MillisBehindLatest` 0) started
    /// (ms since the epoch): every record that arrived before was read.
    at_tip_ms: Option<i64>,
    next_read: Instant,
    failures: u32,
}

/// What one read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOutcome {
    /// Records (maybe none) were read, or the call is to be retried later.
    Read,
    /// The shard is closed and was read to its end.
    Finished,
}

impl ShardReader {
    fn new(shard: &Shard, start: ShardIteratorType) -> Self {
        Self {
            id: shard.shard_id().to_owned(),
            parents: [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect(),
            phase: Phase::WaitingForParents,
            position: Position::Start(start),
            iterator: None,
            buffer: VecDeque::new(),
            caught_up: false,
            last_arrival_ms: None,
            at_tip_ms: None,
            next_read: Instant::now(),
            failures: 0,
        }
    }

    /// Whether the shard may be read now.
    fn due(&self, now: Instant) -> bool {
        self.phase == Phase::Reading && self.buffer.is_empty() && self.next_read <= now
    }

    /// Whether nothing is left to do for `--once`.
    fn done(&self) -> bool {
        self.buffer.is_empty()
            && (self.phase == Phase::Finished || (self.phase == Phase::Reading && self.caught_up))
    }

    /// Up to which arrival time (ms) every record of this shard has been read: the start of
    /// the last read that reached the tip, or the last record read, whichever is later; `None`
    /// when no bound applies (finished, or waiting for its parents, whose records all come
    /// first). Records that arrived later are not known yet, so nothing of another shard after
    /// this time may be handed over.
    fn known_until(&self) -> Option<i64> {
        (self.phase == Phase::Reading)
            .then(|| self.last_arrival_ms.max(self.at_tip_ms).unwrap_or(i64::MIN))
    }

    /// Counts a failed call: waits longer each time, gives up after
    /// [`MAX_CONSECUTIVE_FAILURES`].
    fn retry_later(
        &mut self,
        operation: &'static str,
        message: String,
    ) -> Result<ReadOutcome, ConsumeError> {
        self.failures += 1;
        if self.failures >= MAX_CONSECUTIVE_FAILURES {
            return Err(ConsumeError::Shard {
                shard: self.id.clone(),
                operation,
                message: format!("{} failures in a row; last: {message}", self.failures),
            });
        }
        let delay = SHARD_RETRY.jittered_backoff(self.failures);
        warn!(
            shard = %self.id,
            operation,
            attempt = self.failures,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %message,
            "Kinesis call failed; retrying"
        );
        self.next_read = Instant::now() + delay;
        Ok(ReadOutcome::Read)
    }

    async fn get_iterator(
        &mut self,
        kinesis: &Kinesis,
    ) -> Result<
        Option<String>,
        SdkError<aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError>,
    > {
        let request = kinesis
            .client
            .get_shard_iterator()
            .set_stream_name(kinesis.stream.name())
            .set_stream_arn(kinesis.stream.arn())
            .shard_id(&self.id);
        let request = match &self.position {
            Position::Start(kind) => request.shard_iterator_type(kind.clone()),
            Position::At(time) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                    time.timestamp_millis(),
                )),
            Position::After(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence),
        };
        let taken_at = Utc::now();
        let out = request.send().await?;
        if self.position == Position::Start(ShardIteratorType::Latest) {
            self.position = Position::At(taken_at);
        }
        Ok(out.shard_iterator)
    }

    /// One `GetRecords` call (after `GetShardIterator` when needed); records go to the buffer.
    async fn read(&mut self, kinesis: &Kinesis) -> Result<ReadOutcome, ConsumeError> {
        let iterator = match self.iterator.take() {
            Some(iterator) => iterator,
            None => match self.get_iterator(kinesis).await {
                Ok(Some(iterator)) => iterator,
                Ok(None) => return Ok(self.finish()),
                Err(e) => {
                    let message = error_text(&e);
                    return match classify(&e) {
                        Failure::Permanent => Err(ConsumeError::Shard {
                            shard: self.id.clone(),
                            operation: "GetShardIterator",
                            message,
                        }),
                        Failure::Expired | Failure::Retryable => {
                            self.retry_later("GetShardIterator", message)
                        }
                    };
                }
            },
        };
        let started_at = Utc::now();
        let sent = kinesis
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(GET_RECORDS_LIMIT)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => {
                let message = error_text(&e);
                return match classify(&e) {
                    Failure::Expired => {
                        // Kinesis iterators live 5 minutes; start again after the last record.
                        info!(shard = %self.id, "shard iterator expired; getting a new one");
                        self.next_read = Instant::now();
                        Ok(ReadOutcome::Read)
                    }
                    Failure::Retryable => {
                        self.iterator = Some(iterator);
                        self.retry_later("GetRecords", message)
                    }
                    Failure::Permanent => Err(ConsumeError::Shard {
                        shard: self.id.clone(),
                        operation: "GetRecords",
                        message,
                    }),
                };
            }
        };
        self.failures = 0;
        let read_at = Utc::now();
        if out.millis_behind_latest.unwrap_or(0) == 0 {
            self.at_tip_ms = Some(started_at.timestamp_millis());
        }
        let mut count = 0;
        let mut repeated = 0;
        for record in out.records {
            if let Position::After(last) = &self.position
                && cmp_sequence(&record.sequence_number, last) != std::cmp::Ordering::Greater
            {
                repeated += 1;
                continue;
            }
            count += 1;
            self.position = Position::After(record.sequence_number.clone());
            let record = event_record(
                record,
                &self.id,
                kinesis.arn.as_deref(),
                kinesis.region.as_deref(),
                read_at,
            );
            let arrival_ms = record
                .kinesis
                .approximate_arrival_timestamp
                .0
                .timestamp_millis();
            self.last_arrival_ms = Some(arrival_ms);
            self.buffer.push_back(Buffered { record, arrival_ms });
        }
        if repeated > 0 {
            debug!(shard = %self.id, repeated, "dropped records read before");
        }
        let behind = out.millis_behind_latest.unwrap_or(0);
        self.caught_up = count == 0 && behind == 0;
        self.next_read = Instant::now()
            + if self.caught_up {
                POLL_INTERVAL
            } else {
                MIN_READ_INTERVAL
            };
        match out.next_shard_iterator {
            Some(next) => {
                self.iterator = Some(next);
                Ok(ReadOutcome::Read)
            }
            None => Ok(self.finish()),
        }
    }

    fn finish(&mut self) -> ReadOutcome {
        info!(shard = %self.id, "shard closed and read to its end");
        self.phase = Phase::Finished;
        self.iterator = None;
        ReadOutcome::Finished
    }
}

/// The next records to hand to the alerter: consecutive records of one shard, in arrival order
/// across shards, none after the arrival time up to which every shard being read is known.
/// `None` when nothing can be handed over yet.
fn next_run(shards: &mut [ShardReader]) -> Option<(usize, Vec<KinesisEventRecord>)> {
    let horizon = shards.iter().filter_map(ShardReader::known_until).min();
    let mut fronts: Vec<(i64, usize)> = shards
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.buffer.front().map(|b| (b.arrival_ms, i)))
        .collect();
    fronts.sort_unstable();
    let &(first, index) = fronts.first()?;
    if horizon.is_some_and(|h| first > h) {
        return None;
    }
    let other = fronts.get(1).copied();
    let shard = &mut shards[index];
    let mut run = Vec::new();
    while let Some(front) = shard.buffer.front() {
        let key = (front.arrival_ms, index);
        if horizon.is_some_and(|h| front.arrival_ms > h) || other.is_some_and(|o| key > o) {
            break;
        }
        if let Some(b) = shard.buffer.pop_front() {
            run.push(b.record);
        }
    }
    Some((index, run))
}

/// Totals printed at the end.
#[derive(Debug, Default)]
struct Totals {
    records: u64,
    batches: u64,
    entries: u64,
    late: u64,
    poison: u64,
    duplicates: u64,
    delivered: u64,
    rejected: u64,
    undelivered: u64,
}

impl Totals {
    /// Adds one handler call; records of a retried batch are counted once.
    fn add(&mut self, s: &BatchSummary, first_attempt: bool) {
        if first_attempt {
            self.batches += 1;
            self.records += s.records;
            self.entries += s.entries;
            self.late += s.late + s.bad_times;
            self.poison += s.poison;
            self.duplicates += s.duplicates;
        }
        self.delivered += s.delivered;
        self.rejected += s.rejected;
    }
}

/// The reader of every shard and the alerter.
struct Consumer {
    kinesis: Kinesis,
    start: ShardIteratorType,
    once: bool,
    shards: Vec<ShardReader>,
    relist: bool,
    alerter: Alerter,
    notifier: ConsumeNotifier,
    totals: Totals,
}

impl Consumer {
    async fn new(args: &ConsumeArgs) -> Result<Self, ConsumeError> {
        // As the alerter Lambda builds it: `ALBWATCH_*` rule and timings, log patterns.
        let config = AlertConfig::from_env().map_err(|e| ConsumeError::Config(e.to_string()))?;
        let logs = LogAlerts::new(
            LogAlertConfig::from_env(&config).map_err(|e| ConsumeError::Config(e.to_string()))?,
        );
        let engine = Engine::new(config).map_err(|e| ConsumeError::Config(e.to_string()))?;
        let sink = match &args.slack_webhook {
            Some(url) => Sink::Post(
                WebhookUrl::parse(url)
                    .and_then(SlackWebhook::new)
                    .map_err(|e| ConsumeError::Config(e.to_string()))?,
            ),
            None => Sink::Print(args.format),
        };
        let aws = load_aws_config(args.endpoint_url.as_deref()).await;
        let mut kinesis = Kinesis {
            client: aws_sdk_kinesis::Client::new(&aws),
            stream: StreamRef {
                given: args.stream.clone(),
            },
            arn: None,
            region: aws.region().map(ToString::to_string),
        };
        kinesis.describe().await?;
        Ok(Self {
            kinesis,
            start: match args.from {
                StartFrom::TrimHorizon => ShardIteratorType::TrimHorizon,
                StartFrom::Latest => ShardIteratorType::Latest,
            },
            once: args.once,
            shards: Vec::new(),
            relist: true,
            alerter: Alerter::with_logs(engine, logs),
            notifier: ConsumeNotifier::new(sink),
            totals: Totals::default(),
        })
    }

    /// Reads and handles until Ctrl-C, or with `--once` until every shard is caught up.
    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), ConsumeError> {
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if self.relist {
                self.refresh_shards().await?;
            }
            let now = Instant::now();
            let kinesis = &self.kinesis;
            let reads = futures_util::future::join_all(
                self.shards
                    .iter_mut()
                    .filter(|s| s.due(now))
                    .map(|s| s.read(kinesis)),
            );
            let outcomes = tokio::select! {
                biased;
                () = stopped(&mut stop) => return Ok(()),
                outcomes = reads => outcomes,
            };
            for outcome in outcomes {
                if outcome? == ReadOutcome::Finished {
                    // Its children may be listed (and readable) now.
                    self.relist = true;
                }
            }
            while let Some((index, records)) = next_run(&mut self.shards) {
                self.handle(index, records, &mut stop).await?;
                if *stop.borrow() {
                    return Ok(());
                }
            }
            if self.once && self.shards.iter().all(ShardReader::done) {
                return Ok(());
            }
            let wake = self
                .shards
                .iter()
                .filter(|s| s.phase == Phase::Reading && s.buffer.is_empty())
                .map(|s| s.next_read)
                .min()
                .unwrap_or_else(|| Instant::now() + POLL_INTERVAL);
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return Ok(()),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Learns new shards (all of them at start; children after a shard closed) and starts
    /// reading those whose parents are done.
    async fn refresh_shards(&mut self) -> Result<(), ConsumeError> {
        let listed = self.kinesis.list_shards().await?;
        // Shards present at start-up begin at `--from`; shards created later at their start.
        let start = if self.shards.is_empty() {
            self.start.clone()
        } else {
            ShardIteratorType::TrimHorizon
        };
        let known: HashSet<String> = self.shards.iter().map(|s| s.id.clone()).collect();
        for shard in &listed {
            if !known.contains(shard.shard_id()) {
                self.shards.push(ShardReader::new(shard, start.clone()));
            }
        }
        // A parent no longer listed has expired: nothing of it is left to read.
        let finished: HashSet<String> = self
            .shards
            .iter()
            .filter(|s| s.phase == Phase::Finished)
            .map(|s| s.id.clone())
            .collect();
        let listed_ids: HashSet<&str> = listed.iter().map(Shard::shard_id).collect();
        for shard in &mut self.shards {
            let ready = shard
                .parents
                .iter()
                .all(|p| finished.contains(p) || !listed_ids.contains(p.as_str()));
            if shard.phase == Phase::WaitingForParents && ready {
                shard.phase = Phase::Reading;
                shard.next_read = Instant::now();
            }
        }
        self.relist = false;
        Ok(())
    }

    /// Hands one run of records to the alerter as one `KinesisEvent`, retrying from the
    /// reported record while delivery fails, like the deployed event source mapping.
    async fn handle(
        &mut self,
        index: usize,
        records: Vec<KinesisEventRecord>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ConsumeError> {
        let mut event = KinesisEvent::default();
        event.records = records;
        let mut attempt = 0;
        loop {
            // Ctrl-C also interrupts a delivery that is still retrying; nothing is committed.
            let (response, summary) = tokio::select! {
                biased;
                () = stopped(stop) => return Ok(()),
                handled = self.alerter.handle_with_summary(&event, &self.notifier) => handled,
            };
            self.totals.add(&summary, attempt == 0);
            if let Some(message) = self.notifier.output_error() {
                return Err(ConsumeError::Output(message));
            }
            let failed_from = response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .min_by(|a, b| cmp_sequence(a, b))
                .map(str::to_owned);
            let Some(sequence) = failed_from else {
                return Ok(());
            };
            let shard = &self.shards[index].id;
            if attempt >= MAX_BATCH_RETRIES {
                error!(
                    shard = %shard,
                    sequence_number = %sequence,
                    attempts = attempt + 1,
                    undelivered = summary.failed,
                    "delivery still failing; moving on (the notifications stay pending and are \
                     tried again with the next batch)"
                );
                self.totals.undelivered += summary.failed;
                return Ok(());
            }
            attempt += 1;
            let delay = BATCH_RETRY.jittered_backoff(attempt);
            warn!(
                shard = %shard,
                sequence_number = %sequence,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "delivery failed; retrying the batch from this record"
            );
            let from = event
                .records
                .iter()
                .position(|r| r.kinesis.sequence_number == sequence)
                .unwrap_or(0);
            event.records.drain(..from);
            tokio::select! {
                biased;
                () = stopped(stop) => {
                    self.totals.undelivered += summary.failed;
                    return Ok(());
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn print_totals(&self) {
        let t = &self.totals;
        let firing = self.notifier.firing.load(Ordering::Relaxed);
        let resolved = self.notifier.resolved.load(Ordering::Relaxed);
        eprintln!(
            "albwatch consume: {} shards, {} records in {} batches, {} entries ({} late, {} \
             poison records, {} duplicates); {} notifications delivered ({firing} firing, \
             {resolved} resolved), {} rejected by Slack, {} undelivered",
            self.shards.len(),
            t.records,
            t.batches,
            t.entries,
            t.late,
            t.poison,
            t.duplicates,
            t.delivered,
            t.rejected,
            t.undelivered,
        );
    }
}

/// Where notifications go.
#[derive(Debug)]
enum Sink {
    Print(OutputFormat),
    Post(SlackWebhook),
}

/// The notifier handed to the alerter: prints the machine form (`--format json`), readable
/// text (`--format slack`), or posts the Block Kit message (`--slack-webhook`).
#[derive(Debug)]
struct ConsumeNotifier {
    sink: Sink,
    firing: AtomicU64,
    resolved: AtomicU64,
    output_error: Mutex<Option<String>>,
}

impl ConsumeNotifier {
    fn new(sink: Sink) -> Self {
        Self {
            sink,
            firing: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            output_error: Mutex::new(None),
        }
    }

    fn output_error(&self) -> Option<String> {
        self.output_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Prints `text`; a failure is remembered (the consumer stops) and reported as undelivered.
    fn print(&self, text: &str) -> Result<(), DeliveryError> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                let message = e.to_string();
                *self
                    .output_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message.clone());
                DeliveryError::GaveUp {
                    attempts: 1,
                    last: AttemptFailure::Request(format!("cannot write to stdout: {message}")),
                }
            })
    }
}

impl Notifier for ConsumeNotifier {
    /// A payload handed over without its notifications: posted, or printed as it is.
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        match &self.sink {
            Sink::Post(webhook) => webhook.post(payload).await,
            Sink::Print(OutputFormat::Json) => self.print(&format!("{payload}\n")),
            Sink::Print(OutputFormat::Slack) => {
                let text = payload["text"].as_str().unwrap_or_default();
                self.print(&format!("{text}\n"))
            }
        }
    }

    async fn notify(
        &self,
        load_balancer: &str,
        notifications: &[Notification],
    ) -> Result<(), DeliveryError> {
        let firing = notifications
            .iter()
            .filter(|n| n.status == Status::Firing)
            .count() as u64;
        let resolved = notifications.len() as u64 - firing;
        let result = match &self.sink {
            Sink::Post(webhook) => {
                webhook
                    .post(&render_payload(load_balancer, notifications))
                    .await
            }
            Sink::Print(OutputFormat::Json) => {
                let mut text = String::new();
                for n in notifications {
                    match serde_json::to_string(n) {
                        Ok(json) => {
                            text.push_str(&json);
                            text.push('\n');
                        }
                        Err(e) => warn!(error = %e, "cannot serialize a notification"),
                    }
                }
                self.print(&text)
            }
            Sink::Print(OutputFormat::Slack) => {
                let mut text =
                    format!("━━ {load_balancer}: {firing} firing, {resolved} resolved\n");
                for n in notifications {
                    text.push_str(&render_text(n));
                    text.push('\n');
                }
                self.print(&text)
            }
        };
        if result.is_ok() {
            self.firing.fetch_add(firing, Ordering::Relaxed);
            self.resolved.fetch_add(resolved, Ordering::Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(id: &str) -> ShardReader {
        let shard = Shard::builder().shard_id(id).build().expect("shard");
        let mut r = ShardReader::new(&shard, ShardIteratorType::TrimHorizon);
        r.phase = Phase::Reading;
        r
    }

    fn push(shard: &mut ShardReader, seq: &str, arrival_ms: i64) {
        let mut record = KinesisEventRecord::default();
        record.kinesis.sequence_number = seq.to_owned();
        shard.buffer.push_back(Buffered { record, arrival_ms });
        shard.last_arrival_ms = Some(arrival_ms);
    }

    fn runs(shards: &mut [ShardReader]) -> Vec<(usize, Vec<String>)> {
        std::iter::from_fn(|| next_run(shards))
            .map(|(i, rs)| {
                (
                    i,
                    rs.into_iter().map(|r| r.kinesis.sequence_number).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn records_are_merged_by_arrival_across_shards() {
        let mut shards = vec![reader("a"), reader("b")];
        for (seq, t) in [("a1", 10), ("a2", 10), ("a3", 30), ("a4", 40)] {
            push(&mut shards[0], seq, t);
        }
        for (seq, t) in [("b1", 10), ("b2", 20), ("b3", 40)] {
            push(&mut shards[1], seq, t);
        }
        // Neither shard is caught up: everything up to 40 ms is known on both.
        assert_eq!(
            runs(&mut shards),
            [
                (0, vec!["a1".to_owned(), "a2".to_owned()]),
                (1, vec!["b1".to_owned(), "b2".to_owned()]),
                (0, vec!["a3".to_owned(), "a4".to_owned()]),
                (1, vec!["b3".to_owned()]),
            ]
        );
    }

    #[test]
    fn a_shard_that_may_have_earlier_records_holds_the_others_back() {
        let mut shards = vec![reader("a"), reader("b")];
        push(&mut shards[0], "a1", 10);
        push(&mut shards[1], "b1", 50);
        // Shard a was read up to 10 ms and is not caught up: b1 must wait.
        assert_eq!(runs(&mut shards), [(0, vec!["a1".to_owned()])]);
        assert_eq!(shards[1].buffer.len(), 1);
        // A read of a at the tip that started at 40 ms: b1 (50 ms) still waits, since records
        // may have reached a since.
        shards[0].at_tip_ms = Some(40);
        assert!(next_run(&mut shards).is_none());
        // A later read at the tip: b1 goes.
        shards[0].at_tip_ms = Some(60);
        assert_eq!(runs(&mut shards), [(1, vec!["b1".to_owned()])]);
        // Finished shards and shards waiting for their parents hold nothing back.
        push(&mut shards[1], "b2", 70);
        shards[0].phase = Phase::Finished;
        assert_eq!(runs(&mut shards), [(1, vec!["b2".to_owned()])]);
        // A shard not read yet holds everything back.
        let mut shards = vec![reader("a"), reader("b")];
        push(&mut shards[1], "b1", 50);
        assert!(next_run(&mut shards).is_none());
    }

    #[test]
    fn once_is_done_only_when_caught_up_or_finished_and_drained() {
        let mut r = reader("a");
        assert!(!r.done());
        r.caught_up = true;
        assert!(r.done());
        push(&mut r, "a1", 1);
        assert!(!r.done());
        r.buffer.clear();
        r.caught_up = false;
        r.phase = Phase::Finished;
        assert!(r.done());
        r.phase = Phase::WaitingForParents;
        assert!(!r.done());
    }

    #[test]
    fn failed_calls_are_classified() {
        assert_eq!(
            classify_service(Some("ExpiredIteratorException"), 400),
            Failure::Expired
        );
        for code in [
            "ProvisionedThroughputExceededException",
            "KMSThrottlingException",
        ] {
            assert_eq!(
                classify_service(Some(code), 400),
                Failure::Retryable,
                "{code}"
            );
        }
        assert_eq!(classify_service(None, 503), Failure::Retryable);
        assert_eq!(classify_service(Some("Whatever"), 429), Failure::Retryable);
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "InvalidArgumentException",
        ] {
            assert_eq!(
                classify_service(Some(code), 400),
                Failure::Permanent,
                "{code}"
            );
        }
    }

    #[test]
    fn event_records_look_like_the_lambda_event() {
        let record = Record::builder()
            .sequence_number("49590338271490256608559692538361571095921575989136588898")
            .partition_key("10.0.1.11:8080")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
            .approximate_arrival_timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                1_750_546_208_640,
            ))
            .build()
            .expect("record");
        let r = event_record(
            record,
            "shardId-000000000001",
            Some("arn:aws:kinesis:us-east-1:000000000000:stream/s"),
            Some("us-east-1"),
            Utc::now(),
        );
        let json = serde_json::to_value(&r).expect("JSON");
        assert_eq!(json["eventSource"], "aws:kinesis");
        assert_eq!(
            json["eventID"],
            "shardId-000000000001:49590338271490256608559692538361571095921575989136588898"
        );
        assert_eq!(json["kinesis"]["partitionKey"], "10.0.1.11:8080");
        assert_eq!(json["kinesis"]["data"], "e30=");
        assert_eq!(
            r.kinesis.approximate_arrival_timestamp.0.timestamp_millis(),
            1_750_546_208_640
        );
    }
}
