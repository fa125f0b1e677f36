//! The async side of the pipeline: records → batches → bounded concurrent puts, with retry of
//! exactly the failed records until a deadline.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ingest::batch::{Batch, BatchLimits, select_failed};
use crate::ingest::config::IngestConfig;
use crate::ingest::sink::{OutRecord, RecordSink};
use crate::retry::{Deadline, RetryPolicy};

/// How long a partly filled batch may wait for more records before it is sent anyway.
pub const BATCH_LINGER: Duration = Duration::from_millis(500);
/// Time kept back from the Lambda deadline to report failures before the function times out.
pub const LAMBDA_DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// A new `PutRecords` call starts only while fewer record bytes than this are in flight, so at
/// most this plus one batch is in flight: small batches still go
/// [`IngestConfig::max_in_flight_puts`] at a time, full batches
/// ([`PUT_BATCH_BYTES`](crate::ingest::config::PUT_BATCH_BYTES)) one or two at a time (the SDK
/// holds some 2.4 more copies of a call's records while it runs).
pub const IN_FLIGHT_BYTES_TO_START: usize = 1 << 20;

/// Counters of the put side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutStats {
    /// Records written.
    pub records: u64,
    /// Bytes written (data + partition keys).
    pub bytes: u64,
    /// Put calls made, retries included.
    pub calls: u64,
    /// Records sent again after a failure (counted once per retry).
    pub retried_records: u64,
}

impl PutStats {
    fn add(&mut self, other: Self) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.calls += other.calls;
        self.retried_records += other.retried_records;
    }
}

/// Records that could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutFailure {
    /// Records not written.
    pub records: usize,
    /// Attempts made for them.
    pub attempts: u32,
    /// Last error code.
    pub code: String,
    /// Last error message.
    pub message: String,
    /// Why retrying stopped.
    pub stop: StopReason,
}

/// Why the put side gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The error cannot be fixed by retrying (missing stream, access denied, bad request).
    Permanent,
    /// [`RetryPolicy::max_attempts`] reached.
    Attempts,
    /// Another attempt would end after the deadline.
    Deadline,
}

/// Writes `records` through `sink`, retrying only the failed ones with backoff, until all are
/// written, the error is permanent, attempts run out, or the next attempt would miss the deadline.
///
/// # Errors
/// The records still not written and why retrying stopped.
pub async fn put_with_retry<S: RecordSink>(
    sink: &S,
    records: Vec<OutRecord>,
    policy: &RetryPolicy,
    deadline: Deadline,
) -> Result<PutStats, PutFailure> {
    let mut stats = PutStats {
        records: records.len() as u64,
        bytes: records.iter().map(|r| r.size() as u64).sum(),
        ..PutStats::default()
    };
    let mut pending = records;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        stats.calls += 1;
        let (code, message, retryable) = match sink.put_records(&pending).await {
            Ok(outcome) if outcome.failed.is_empty() => return Ok(stats),
            Ok(outcome) => {
                let (code, message) = outcome
                    .failed
                    .first()
                    .map(|f| (f.code.clone(), f.message.clone()))
                    .unwrap_or_default();
                pending = select_failed(pending, &outcome.failed);
                if pending.is_empty() {
                    return Ok(stats);
                }
                (code, message, true)
            }
            Err(error) => (error.code, error.message, error.retryable),
        };
        let fail = |stop| PutFailure {
            records: pending.len(),
            attempts: attempt,
            code: code.clone(),
            message: message.clone(),
            stop,
        };
        if !retryable {
            return Err(fail(StopReason::Permanent));
        }
        if attempt >= policy.max_attempts {
            return Err(fail(StopReason::Attempts));
        }
        let delay = policy.jittered_backoff(attempt);
        if !deadline.allows(delay) {
            return Err(fail(StopReason::Deadline));
        }
        stats.retried_records += pending.len() as u64;
        tokio::time::sleep(delay).await;
    }
}

/// Why the put side stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutSideError {
    /// Records could not be written.
    Failed(PutFailure),
    /// The deadline passed while waiting for records or puts.
    Deadline,
}

/// Drains `rx` into batches and writes them with at most `config.max_in_flight_puts` calls in
/// flight, a new one starting only below [`IN_FLIGHT_BYTES_TO_START`]. Receives only while a
/// call slot is free, so memory stays bounded (backpressure reaches the parse side through the
/// bounded channel). Returns when the channel is closed and everything is written, or at the
/// first failure.
///
/// # Errors
/// The first batch that could not be written, or the deadline.
pub async fn put_stream<S: RecordSink>(
    rx: &mut mpsc::Receiver<OutRecord>,
    sink: &S,
    config: &IngestConfig,
    deadline: Deadline,
) -> Result<PutStats, PutSideError> {
    let limits = BatchLimits::for_config(config);
    put_stream_with(
        rx,
        sink,
        limits,
        config.max_in_flight_puts,
        IN_FLIGHT_BYTES_TO_START,
        &config.retry,
        deadline,
    )
    .await
}

/// [`put_stream`] with explicit limits: calls in flight, and the record bytes in flight below
/// which a call may start.
async fn put_stream_with<S: RecordSink>(
    rx: &mut mpsc::Receiver<OutRecord>,
    sink: &S,
    limits: BatchLimits,
    max_in_flight: usize,
    bytes_to_start: usize,
    retry: &RetryPolicy,
    deadline: Deadline,
) -> Result<PutStats, PutSideError> {
    let max_in_flight = max_in_flight.max(1);
    let mut batch = Batch::new(limits);
    let mut batch_since: Option<Instant> = None;
    let mut in_flight = FuturesUnordered::new();
    let mut in_flight_bytes = 0usize;
    let mut stats = PutStats::default();
    let mut open = true;
    loop {
        if !open && batch.is_empty() && in_flight.is_empty() {
            return Ok(stats);
        }
        // Checked before waiting: a busy channel must not starve the deadline branch below.
        if deadline.passed() {
            return Err(PutSideError::Deadline);
        }
        let slot = in_flight.len() < max_in_flight && in_flight_bytes < bytes_to_start;
        if slot && !batch.is_empty() && (batch.is_full() || !open) {
            in_flight_bytes += batch.bytes();
            in_flight.push(put_with_retry(sink, batch.take(), retry, deadline));
            batch_since = None;
            continue;
        }
        let linger = batch_since.map(|since| since + BATCH_LINGER);
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let done = done.map_err(PutSideError::Failed)?;
                in_flight_bytes = in_flight_bytes.saturating_sub(done.bytes as usize);
                stats.add(done);
            }
            message = rx.recv(), if open && slot => match message {
                Some(record) => {
                    if !batch.fits(record.size()) {
                        in_flight_bytes += batch.bytes();
                        in_flight.push(put_with_retry(sink, batch.take(), retry, deadline));
                        batch_since = None;
                    }
                    batch.push(record);
                    batch_since.get_or_insert_with(Instant::now);
                }
                None => open = false,
            },
            () = sleep_until_opt(linger), if slot && linger.is_some() => {
                in_flight_bytes += batch.bytes();
                in_flight.push(put_with_retry(sink, batch.take(), retry, deadline));
                batch_since = None;
            }
            () = deadline.reached() => return Err(PutSideError::Deadline),
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sink::{PutOutcome, RecordFailure, SinkError};
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rec(i: u64, size: usize) -> OutRecord {
        OutRecord {
            partition_key: format!("k{}", i % 7),
            data: vec![b'x'; size],
            seq: i,
            lines: [i, i],
            entries: 1,
        }
    }

    /// Fails each record of a call with probability `fail_rate` (deterministic per seed), and
    /// whole calls now and then; records every written `seq`.
    struct FlakySink {
        rng: Mutex<fastrand::Rng>,
        fail_rate: f64,
        call_fail_rate: f64,
        written: Mutex<HashMap<u64, usize>>,
        calls: Mutex<Vec<usize>>,
        active: AtomicUsize,
        peak: AtomicUsize,
        active_bytes: AtomicUsize,
        peak_bytes: AtomicUsize,
        max_records: usize,
        max_bytes: usize,
    }

    impl FlakySink {
        fn new(seed: u64, fail_rate: f64, call_fail_rate: f64) -> Self {
            Self {
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
                fail_rate,
                call_fail_rate,
                written: Mutex::default(),
                calls: Mutex::default(),
                active: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                active_bytes: AtomicUsize::new(0),
                peak_bytes: AtomicUsize::new(0),
                max_records: usize::MAX,
                max_bytes: usize::MAX,
            }
        }
    }

    impl RecordSink for FlakySink {
        async fn put_records(&self, records: &[OutRecord]) -> Result<PutOutcome, SinkError> {
            let bytes: usize = records.iter().map(OutRecord::size).sum();
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let now_bytes = self.active_bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
            self.peak_bytes.fetch_max(now_bytes, Ordering::SeqCst);
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            self.active.fetch_sub(1, Ordering::SeqCst);
            self.active_bytes.fetch_sub(bytes, Ordering::SeqCst);
            self.calls.lock().unwrap().push(records.len());
            assert!(
                records.len() <= self.max_records
                    && (bytes <= self.max_bytes || records.len() == 1)
            );
            let mut rng = self.rng.lock().unwrap();
            if rng.f64() < self.call_fail_rate {
                return Err(SinkError {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: "slow down".into(),
                    retryable: true,
                });
            }
            let mut failed = Vec::new();
            let mut written = self.written.lock().unwrap();
            for (index, r) in records.iter().enumerate() {
                if rng.f64() < self.fail_rate {
                    failed.push(RecordFailure {
                        index,
                        code: "ProvisionedThroughputExceededException".into(),
                        message: String::new(),
                    });
                } else {
                    *written.entry(r.seq).or_default() += 1;
                }
            }
            Ok(PutOutcome { failed })
        }
    }

    fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_attempts: 200,
        }
    }

    #[tokio::test]
    async fn only_failed_records_are_retried() {
        let sink = FlakySink::new(7, 0.5, 0.0);
        let records: Vec<_> = (0..50).map(|i| rec(i, 10)).collect();
        let stats = put_with_retry(&sink, records, &fast_retry(), Deadline::none())
            .await
            .unwrap();
        let written = sink.written.lock().unwrap();
        assert_eq!(written.len(), 50);
        assert!(
            written.values().all(|&n| n == 1),
            "each record written once"
        );
        let calls = sink.calls.lock().unwrap();
        assert_eq!(calls[0], 50);
        assert!(calls.windows(2).all(|w| w[1] < w[0] || w[0] == 0));
        assert_eq!(
            stats.retried_records,
            calls[1..].iter().sum::<usize>() as u64
        );
    }

    #[tokio::test]
    async fn permanent_errors_stop_at_once() {
        struct Missing;
        impl RecordSink for Missing {
            async fn put_records(&self, _: &[OutRecord]) -> Result<PutOutcome, SinkError> {
                Err(SinkError {
                    code: "ResourceNotFoundException".into(),
                    message: "Stream x not found".into(),
                    retryable: false,
                })
            }
        }
        let err = put_with_retry(&Missing, vec![rec(1, 1)], &fast_retry(), Deadline::none())
            .await
            .unwrap_err();
        assert_eq!(
            (err.stop, err.attempts, err.records),
            (StopReason::Permanent, 1, 1)
        );
        assert_eq!(err.code, "ResourceNotFoundException");
    }

    #[tokio::test]
    async fn retries_stop_before_the_deadline() {
        let sink = FlakySink::new(1, 1.0, 0.0);
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
            max_attempts: 1000,
        };
        let started = Instant::now();
        let err = put_with_retry(
            &sink,
            vec![rec(1, 1), rec(2, 1)],
            &policy,
            Deadline::after(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
        assert_eq!(err.stop, StopReason::Deadline);
        assert_eq!(err.records, 2);
        assert!(started.elapsed() < Duration::from_millis(400));
        let err = put_with_retry(
            &sink,
            vec![rec(1, 1)],
            &RetryPolicy {
                max_attempts: 3,
                ..fast_retry()
            },
            Deadline::none(),
        )
        .await
        .unwrap_err();
        assert_eq!((err.stop, err.attempts), (StopReason::Attempts, 3));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn nothing_is_dropped_when_the_sink_throttles_at_random(
            sizes in proptest::collection::vec(1usize..5000, 0..300),
            seed in any::<u64>(),
            fail_rate in 0.0f64..0.7,
            call_fail_rate in 0.0f64..0.3,
            max_in_flight in 1usize..6,
            bytes_to_start in 1usize..60_000,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let mut sink = FlakySink::new(seed, fail_rate, call_fail_rate);
            // Smaller put limits than Kinesis so batching is exercised.
            let limits = BatchLimits { max_records: 40, max_bytes: 20_000 };
            sink.max_records = limits.max_records;
            sink.max_bytes = limits.max_bytes;
            let records: Vec<_> = sizes.iter().enumerate().map(|(i, &s)| rec(i as u64, s)).collect();
            let stats = rt.block_on(async {
                let (tx, mut rx) = mpsc::channel(4);
                let feed = async move {
                    for r in records {
                        tx.send(r).await.unwrap();
                    }
                };
                let retry = fast_retry();
                let put = put_stream_with(
                    &mut rx, &sink, limits, max_in_flight, bytes_to_start, &retry, Deadline::none(),
                );
                let ((), result) = tokio::join!(feed, put);
                result
            }).unwrap();
            let written = sink.written.lock().unwrap();
            prop_assert_eq!(written.len(), sizes.len());
            prop_assert!(written.values().all(|&n| n == 1));
            prop_assert_eq!(stats.records, sizes.len() as u64);
            prop_assert!(sink.peak.load(Ordering::Relaxed) <= max_in_flight);
            // Below the threshold, plus the one batch that started there.
            prop_assert!(
                sink.peak_bytes.load(Ordering::Relaxed) < bytes_to_start + limits.max_bytes
            );
        }
    }

    #[tokio::test]
    async fn put_stream_reports_the_deadline() {
        let sink = FlakySink::new(3, 0.0, 0.0);
        let (_tx, mut rx) = mpsc::channel::<OutRecord>(1);
        let err = put_stream(
            &mut rx,
            &sink,
            &IngestConfig::default(),
            Deadline::after(Duration::from_millis(20)),
        )
        .await
        .unwrap_err();
        assert_eq!(err, PutSideError::Deadline);
    }

    #[tokio::test]
    async fn partial_batches_are_sent_after_the_linger() {
        let sink = FlakySink::new(3, 0.0, 0.0);
        let (tx, mut rx) = mpsc::channel::<OutRecord>(1);
        tx.send(rec(1, 10)).await.unwrap();
        let config = IngestConfig::default();
        let put = put_stream(&mut rx, &sink, &config, Deadline::none());
        let check = async {
            tokio::time::sleep(BATCH_LINGER * 3).await;
            assert_eq!(
                sink.written.lock().unwrap().len(),
                1,
                "sent before the channel closed"
            );
            drop(tx);
        };
        let (stats, ()) = tokio::join!(put, check);
        assert_eq!(stats.unwrap().records, 1);
    }
}
