//! Every shard of a stream read as Lambda's event source mapping reads them: shards listed at
//! start and when one closes (children after all of their parents), each read by a
//! [`ShardReader`], and their records handed out in arrival order across shards
//! ([`next_run`]).

use std::collections::HashSet;

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use tokio::time::Instant;

use super::shard::{POLL_INTERVAL, Phase, ReadOutcome, ShardReader, next_run};
use super::stream::{ReadError, StreamClient};

/// The readers of every shard of one stream.
#[derive(Debug)]
pub struct ShardPoller {
    stream: StreamClient,
    start: ShardIteratorType,
    shards: Vec<ShardReader>,
    relist: bool,
}

impl ShardPoller {
    /// Checks that the stream exists; shards open now are read from `start`, shards created
    /// later from their beginning.
    ///
    /// # Errors
    /// The stream cannot be described.
    pub async fn new(
        mut stream: StreamClient,
        start: ShardIteratorType,
    ) -> Result<Self, ReadError> {
        stream.describe().await?;
        Ok(Self {
            stream,
            start,
            shards: Vec::new(),
            relist: true,
        })
    }

    /// Shards known so far.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Lists the shards when needed, then reads every shard that is due (concurrently).
    ///
    /// # Errors
    /// A call failed permanently, or too many times in a row on one shard.
    pub async fn read_due(&mut self) -> Result<(), ReadError> {
        if self.relist {
            self.refresh_shards().await?;
        }
        let now = Instant::now();
        let stream = &self.stream;
        let outcomes = futures_util::future::join_all(
            self.shards
                .iter_mut()
                .filter(|s| s.due(now))
                .map(|s| s.read(stream)),
        )
        .await;
        for outcome in outcomes {
            if outcome? == ReadOutcome::Finished {
                // Its children may be listed (and readable) now.
                self.relist = true;
            }
        }
        Ok(())
    }

    /// The next records to hand over: consecutive records of one shard (its id given), in
    /// arrival order across shards; `None` when nothing can be handed over yet.
    pub fn next_batch(&mut self) -> Option<(String, Vec<KinesisEventRecord>)> {
        next_run(&mut self.shards).map(|(index, records)| (self.shards[index].id.clone(), records))
    }

    /// Whether every shard is caught up or closed and read to its end, with nothing left to
    /// hand over.
    #[must_use]
    pub fn caught_up(&self) -> bool {
        !self.relist && self.shards.iter().all(ShardReader::done)
    }

    /// When the next shard is due to be read.
    #[must_use]
    pub fn wake_at(&self) -> Instant {
        self.shards
            .iter()
            .filter(|s| s.phase == Phase::Reading && s.buffer.is_empty())
            .map(|s| s.next_read)
            .min()
            .unwrap_or_else(|| Instant::now() + POLL_INTERVAL)
    }

    /// Learns new shards (all of them at start; children after a shard closed) and starts
    /// reading those whose parents are done.
    async fn refresh_shards(&mut self) -> Result<(), ReadError> {
        let listed = self.stream.list_shards().await?;
        // Shards present at start-up begin at `start`; shards created later at their start.
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
}

/// Reads every record of every shard from `TRIM_HORIZON` until each shard is caught up, as the
/// Lambda event records the mapping would deliver, in arrival order (tests, one-off reads).
///
/// # Errors
/// As [`ShardPoller::read_due`].
pub async fn read_to_tip(stream: StreamClient) -> Result<Vec<KinesisEventRecord>, ReadError> {
    let mut poller = ShardPoller::new(stream, ShardIteratorType::TrimHorizon).await?;
    let mut records = Vec::new();
    loop {
        poller.read_due().await?;
        while let Some((_, batch)) = poller.next_batch() {
            records.extend(batch);
        }
        if poller.caught_up() {
            return Ok(records);
        }
        tokio::time::sleep_until(poller.wake_at()).await;
    }
}
