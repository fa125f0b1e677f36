//! Reading one shard as Lambda's event source mapping does: iterators, `GetRecords` within the
//! shard's read limits, backoff, expired iterators, closed shards; and merging the shards'
//! records in arrival order.

use std::collections::VecDeque;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::errors::{Failure, classify, error_text};
use super::event::{cmp_sequence, event_record};
use super::stream::{ReadError, StreamClient};
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
/// Waits after throttled or failed Kinesis calls on a shard: from 500 ms doubling to 10 s.
pub const SHARD_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: MAX_CONSECUTIVE_FAILURES,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(10),
};
/// Where a shard's next iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Position {
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
pub enum Phase {
    /// A parent shard is still being read.
    WaitingForParents,
    /// Being read.
    Reading,
    /// Closed and read to its end.
    Finished,
}

/// A record read but not yet handed to the alerter.
#[derive(Debug)]
pub(crate) struct Buffered {
    record: KinesisEventRecord,
    arrival_ms: i64,
}

/// One shard's reading state.
#[derive(Debug)]
pub struct ShardReader {
    pub(crate) id: String,
    pub(crate) parents: Vec<String>,
    pub(crate) phase: Phase,
    pub(crate) position: Position,
    pub(crate) iterator: Option<String>,
    /// Read, not yet handed over; a shard is read again only once this is empty, which bounds
    /// memory to one `GetRecords` answer per shard.
    pub(crate) buffer: VecDeque<Buffered>,
    /// The last read returned nothing and `MillisBehindLatest` 0.
    pub(crate) caught_up: bool,
    /// Arrival time of the last record read (ms since the epoch).
    pub(crate) last_arrival_ms: Option<i64>,
    /// When the last read that reached the tip of the shard (`MillisBehindLatest` 0) started
    /// (ms since the epoch): every record that arrived before was read.
    pub(crate) at_tip_ms: Option<i64>,
    pub(crate) next_read: Instant,
    pub(crate) failures: u32,
}

/// What one read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Records (maybe none) were read, or the call is to be retried later.
    Read,
    /// The shard is closed and was read to its end.
    Finished,
}

impl ShardReader {
    /// A reader of `shard` starting at `start`, waiting for its parents.
    #[must_use]
    pub fn new(shard: &Shard, start: ShardIteratorType) -> Self {
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
    #[must_use]
    pub fn due(&self, now: Instant) -> bool {
        self.phase == Phase::Reading && self.buffer.is_empty() && self.next_read <= now
    }

    /// Whether nothing is left to do for `--once`.
    #[must_use]
    pub fn done(&self) -> bool {
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
    ) -> Result<ReadOutcome, ReadError> {
        self.failures += 1;
        if self.failures >= MAX_CONSECUTIVE_FAILURES {
            return Err(ReadError::Shard {
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
        kinesis: &StreamClient,
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
    ///
    /// # Errors
    /// A call failed permanently, or [`MAX_CONSECUTIVE_FAILURES`] times in a row.
    pub async fn read(&mut self, kinesis: &StreamClient) -> Result<ReadOutcome, ReadError> {
        let iterator = match self.iterator.take() {
            Some(iterator) => iterator,
            None => match self.get_iterator(kinesis).await {
                Ok(Some(iterator)) => iterator,
                Ok(None) => return Ok(self.finish()),
                Err(e) => {
                    let message = error_text(&e);
                    return match classify(&e) {
                        Failure::Permanent => Err(ReadError::Shard {
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
                    Failure::Permanent => Err(ReadError::Shard {
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
pub fn next_run(shards: &mut [ShardReader]) -> Option<(usize, Vec<KinesisEventRecord>)> {
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
}
