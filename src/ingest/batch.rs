//! `PutRecords` batching and failed-record selection: pure functions, no I/O.

use std::ops::Range;

use crate::ingest::config::{IngestConfig, KINESIS_MAX_BYTES_PER_PUT, KINESIS_MAX_RECORDS_PER_PUT};
use crate::ingest::sink::{OutRecord, RecordFailure};

/// Limits of one put call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records per call.
    pub max_records: usize,
    /// Most bytes (data + partition keys) per call; a single larger record goes alone.
    pub max_bytes: usize,
}

impl BatchLimits {
    /// The Kinesis `PutRecords` limits (500 records, 5 MiB).
    pub const KINESIS: Self = Self {
        max_records: KINESIS_MAX_RECORDS_PER_PUT,
        max_bytes: KINESIS_MAX_BYTES_PER_PUT,
    };

    /// The limits for records of `config.max_record_bytes`.
    #[must_use]
    pub fn for_config(config: &IngestConfig) -> Self {
        Self {
            max_records: KINESIS_MAX_RECORDS_PER_PUT,
            max_bytes: config.max_bytes_per_put(),
        }
    }
}

/// Records collected for one put call.
#[derive(Debug)]
pub struct Batch {
    records: Vec<OutRecord>,
    bytes: usize,
    limits: BatchLimits,
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub fn new(limits: BatchLimits) -> Self {
        Self {
            records: Vec::new(),
            bytes: 0,
            limits,
        }
    }

    /// Whether a record of `size` bytes can join: always into an empty batch, else only
    /// while both limits hold.
    #[must_use]
    pub fn fits(&self, size: usize) -> bool {
        self.records.is_empty()
            || (self.records.len() < self.limits.max_records
                && self.bytes.saturating_add(size) <= self.limits.max_bytes)
    }

    /// Adds a record (the caller checked [`fits`](Self::fits)).
    pub fn push(&mut self, record: OutRecord) {
        self.bytes += record.size();
        self.records.push(record);
    }

    /// Whether no record could join any more.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.records.len() >= self.limits.max_records || self.bytes >= self.limits.max_bytes
    }

    /// Whether the batch is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes in the batch.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Empties the batch, returning its records.
    pub fn take(&mut self) -> Vec<OutRecord> {
        self.bytes = 0;
        std::mem::take(&mut self.records)
    }
}

/// Cuts records of the given sizes, in order, into consecutive put calls, each as full as the
/// limits allow. Every index appears in exactly one range; no range is empty.
#[must_use]
pub fn plan_batches(sizes: &[usize], limits: BatchLimits) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut count = 0;
    let mut bytes = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        let fits = count == 0
            || (count < limits.max_records && bytes.saturating_add(size) <= limits.max_bytes);
        if !fits {
            out.push(start..i);
            start = i;
            count = 0;
            bytes = 0;
        }
        count += 1;
        bytes = bytes.saturating_add(size);
    }
    if count > 0 {
        out.push(start..sizes.len());
    }
    out
}

/// Keeps the records named by `failed` (indices into `records`; duplicates and out-of-range
/// indices are ignored), in their original order.
#[must_use]
pub fn select_failed(records: Vec<OutRecord>, failed: &[RecordFailure]) -> Vec<OutRecord> {
    let mut keep = vec![false; records.len()];
    for f in failed {
        if let Some(k) = keep.get_mut(f.index) {
            *k = true;
        }
    }
    records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(i: usize, size: usize) -> OutRecord {
        OutRecord {
            partition_key: "k".into(),
            data: vec![b'x'; size.saturating_sub(1)],
            seq: i as u64,
            lines: [1, 1],
            entries: 0,
        }
    }

    fn fail(index: usize) -> RecordFailure {
        RecordFailure {
            index,
            code: "X".into(),
            message: String::new(),
        }
    }

    #[test]
    fn kinesis_limits_are_named_constants() {
        assert_eq!(BatchLimits::KINESIS.max_records, 500);
        assert_eq!(BatchLimits::KINESIS.max_bytes, 5 * 1024 * 1024);
    }

    #[test]
    fn cuts_on_count_and_on_bytes() {
        let limits = BatchLimits {
            max_records: 3,
            max_bytes: 10,
        };
        assert_eq!(plan_batches(&[1; 7], limits), vec![0..3, 3..6, 6..7]);
        assert_eq!(
            plan_batches(&[4, 4, 4, 10, 1], limits),
            vec![0..2, 2..3, 3..4, 4..5]
        );
        assert_eq!(plan_batches(&[25, 1], limits), vec![0..1, 1..2]);
        assert!(plan_batches(&[], limits).is_empty());
    }

    #[test]
    fn full_kinesis_batch() {
        let sizes = vec![10_000; 1200];
        let plan = plan_batches(&sizes, BatchLimits::KINESIS);
        assert_eq!(plan, vec![0..500, 500..1000, 1000..1200]);
        let big = vec![1 << 20; 11];
        let plan = plan_batches(&big, BatchLimits::KINESIS);
        assert_eq!(plan, vec![0..5, 5..10, 10..11]);
    }

    #[test]
    fn select_failed_keeps_order_and_ignores_junk() {
        let records: Vec<_> = (0..5).map(|i| rec(i, 2)).collect();
        let kept = select_failed(records, &[fail(3), fail(1), fail(3), fail(99)]);
        let seqs: Vec<_> = kept.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 3]);
    }

    proptest! {
        #[test]
        fn plan_respects_limits_and_keeps_every_record_once(
            sizes in proptest::collection::vec(1usize..3000, 0..400),
            max_records in 1usize..40,
            max_bytes in 1usize..20_000,
        ) {
            let limits = BatchLimits { max_records, max_bytes };
            let plan = plan_batches(&sizes, limits);
            let mut next = 0;
            for range in &plan {
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start);
                next = range.end;
                let n = range.len();
                let bytes: usize = sizes[range.clone()].iter().sum();
                prop_assert!(n <= max_records);
                // Only a lone oversized record may exceed the byte limit.
                prop_assert!(bytes <= max_bytes || n == 1);
            }
            prop_assert_eq!(next, sizes.len());
            // Greedy: the next batch's first record would not have fitted.
            for w in plan.windows(2) {
                let (a, b) = (&w[0], &w[1]);
                let bytes: usize = sizes[a.clone()].iter().sum();
                prop_assert!(a.len() == max_records || bytes + sizes[b.start] > max_bytes);
            }
        }

        #[test]
        fn streaming_batch_agrees_with_plan(
            sizes in proptest::collection::vec(1usize..3000, 0..300),
            max_records in 1usize..40,
            max_bytes in 1usize..20_000,
        ) {
            let limits = BatchLimits { max_records, max_bytes };
            let mut batch = Batch::new(limits);
            let mut cuts = Vec::new();
            let mut seen = 0;
            for (i, &size) in sizes.iter().enumerate() {
                let r = rec(i, size);
                if !batch.fits(r.size()) {
                    let taken = batch.take();
                    cuts.push(seen..seen + taken.len());
                    seen += taken.len();
                }
                batch.push(r);
            }
            if !batch.is_empty() {
                let n = batch.take().len();
                cuts.push(seen..seen + n);
            }
            prop_assert_eq!(cuts, plan_batches(&sizes, limits));
        }

        #[test]
        fn select_failed_returns_exactly_the_failed(
            n in 0usize..100,
            picks in proptest::collection::vec(0usize..120, 0..50),
        ) {
            let records: Vec<_> = (0..n).map(|i| rec(i, 1)).collect();
            let failed: Vec<_> = picks.iter().map(|&i| fail(i)).collect();
            let kept: Vec<u64> = select_failed(records, &failed).iter().map(|r| r.seq).collect();
            let mut want: Vec<u64> = picks.iter().filter(|&&i| i < n).map(|&i| i as u64).collect();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(kept, want);
        }
    }
}
