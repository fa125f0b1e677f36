//! Kinesis Data Streams, the bus between the ingest and the alerter: which failed calls are
//! retried, and reading a stream as Lambda's event source mapping does (used by
//! `albwatch consume`, the integration tests and the rehearsal).
//!
//! - [`errors`]: one classification of failed calls (retryable, expired iterator, permanent).
//! - [`event`]: records as the Lambda event holds them; sequence-number order.
//! - [`stream`]: the stream as named (name or ARN) and the stream-level calls.
//! - [`shard`]: one shard's reader (iterators, read limits, backoff, closed shards) and the
//!   arrival-order merge across shards.
//! - [`poller`]: every shard of a stream, listed and re-listed as shards split and merge.
//!
//! # Reading
//!
//! - Each shard is read at most [`shard::READS_PER_SHARD_PER_SECOND`] times a second (Kinesis'
//!   limit, shared with other consumers), and about once every [`shard::POLL_INTERVAL`] once it
//!   is caught up. Throttling and transient errors back off; an expired iterator is replaced
//!   from the last sequence number read; closed shards are read to their end, then their
//!   children (after all of their parents) from their start.
//! - Records are handed out in `ApproximateArrivalTimestamp` order across shards: a record goes
//!   only once every shard still being read has been read past its arrival time, so one shard
//!   never runs ahead of the others through a backlog. Each batch holds consecutive records of
//!   one shard (up to one `GetRecords` answer).
//! - Records at or before the last sequence number read from a shard are dropped: kinesis-mock
//!   (LocalStack's Kinesis) hands a shard's first record out again after it. Real Kinesis never
//!   does this.

pub mod errors;
pub mod event;
pub mod poller;
pub mod shard;
pub mod stream;
