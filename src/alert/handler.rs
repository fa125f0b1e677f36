//! The alerter Lambda's logic: a `KinesisEvent` → [`Engine`] → one Slack message per load
//! balancer → a partial batch response.
//!
//! # Failure policy
//!
//! - **Poison records** (unparseable, unknown version) are counted, logged with their sequence
//!   number and skipped; they never block the shard and are never reported as failures.
//! - **Delivered**: the load balancer's notifications are committed (not announced again).
//! - **Rejected by Slack** (400/403/404/410: `invalid_payload`, `no_service`,
//!   `channel_is_archived`, …): retrying cannot succeed. One error is logged with the
//!   notifications' JSON (so nothing is silently lost) and they are committed, so the batch is
//!   not retried forever and the next invocation does not post them again.
//! - **Gave up** (429/5xx/timeouts until the deadline): nothing is committed, and the lowest
//!   sequence number among this batch's records of that load balancer is reported in
//!   `batchItemFailures`, so Lambda retries from there. The retried records are duplicates and
//!   change nothing; the announcement is re-produced from the engine's pending state, which is
//!   evaluated every invocation whatever records arrive. Delivered load balancers are committed,
//!   so the retry does not post them twice.
//!
//! Invocations are serialized around evaluate → deliver → commit, so concurrent invocations
//! (if the runtime ever runs them) cannot announce the same thing twice.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::alert::engine::Engine;
use crate::alert::notification::{Notification, Status, group_by_load_balancer};
use crate::alert::webhook::{DeliveryError, Notifier};

/// Time kept free before the Lambda deadline to return the response.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// The instant deliveries must stop: the Lambda deadline minus `margin`, measured on the
/// monotonic clock (at least "now").
#[must_use]
pub fn delivery_deadline(lambda_deadline: SystemTime, margin: Duration) -> Instant {
    let remaining = lambda_deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + remaining.saturating_sub(margin)
}

/// What one invocation did (also logged as one summary line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Kinesis records in the event.
    pub records: u64,
    /// Poison records skipped.
    pub poison: u64,
    /// Duplicate records dropped.
    pub duplicates: u64,
    /// Entries counted.
    pub entries: u64,
    /// Entries and tallies dropped as late.
    pub late: u64,
    /// Entries and tallies dropped for an invalid or far-future time.
    pub bad_times: u64,
    /// Notifications delivered (and committed).
    pub delivered: u64,
    /// Notifications Slack rejected (logged, committed, not retried).
    pub rejected: u64,
    /// Notifications not delivered (retried).
    pub failed: u64,
    /// Load balancers whose message could not be delivered.
    pub failed_load_balancers: Vec<String>,
}

/// The alerter: an [`Engine`] shared by all invocations of a container.
#[derive(Debug)]
pub struct Alerter {
    engine: Engine,
    delivery: tokio::sync::Mutex<()>,
}

impl Alerter {
    /// An alerter around `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            delivery: tokio::sync::Mutex::new(()),
        }
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Handles one Kinesis event, posting through `notifier` (which carries the deadline).
    pub async fn handle<N: Notifier + Sync>(
        &self,
        event: &KinesisEvent,
        notifier: &N,
    ) -> KinesisEventResponse {
        self.handle_with_summary(event, notifier).await.0
    }

    /// [`Alerter::handle`], also returning what happened.
    pub async fn handle_with_summary<N: Notifier + Sync>(
        &self,
        event: &KinesisEvent,
        notifier: &N,
    ) -> (KinesisEventResponse, BatchSummary) {
        let mut summary = BatchSummary::default();
        // Lowest sequence number per load balancer, duplicates included: a retried batch
        // consists of duplicates and must still point at the right record.
        let mut lowest: HashMap<Arc<str>, &str> = HashMap::new();
        for record in &event.records {
            summary.records += 1;
            let seq = record.kinesis.sequence_number.as_str();
            match self.engine.ingest_bytes(&record.kinesis.data.0) {
                Ok(ingested) => {
                    summary.duplicates += u64::from(ingested.duplicate);
                    let a = ingested.added;
                    summary.entries += a.entries;
                    summary.late += a.late_entries + a.late_tallies;
                    summary.bad_times += a.invalid_times + a.future;
                    lowest
                        .entry(ingested.load_balancer)
                        .and_modify(|s| {
                            if cmp_sequence(seq, s) == Ordering::Less {
                                *s = seq;
                            }
                        })
                        .or_insert(seq);
                }
                Err(poison) => {
                    summary.poison += 1;
                    warn!(
                        sequence_number = seq,
                        partition_key = %record.kinesis.partition_key,
                        bytes = record.kinesis.data.0.len(),
                        error = %poison,
                        "skipping a poison record"
                    );
                }
            }
        }

        let mut failures: Vec<&str> = Vec::new();
        {
            let _serial = self.delivery.lock().await;
            let pending = self.engine.evaluate();
            for (lb, group) in group_by_load_balancer(pending) {
                let n = group.len() as u64;
                match notifier.notify(&lb, &group).await {
                    Ok(()) => {
                        self.engine.commit(&group);
                        summary.delivered += n;
                        info!(
                            load_balancer = %lb,
                            firing = count(&group, Status::Firing),
                            resolved = count(&group, Status::Resolved),
                            escalations = group.iter().filter(|n| n.escalation).count(),
                            notifications = %as_json(&group),
                            "notified"
                        );
                    }
                    Err(DeliveryError::Rejected { status, body }) => {
                        self.engine.commit(&group);
                        summary.rejected += n;
                        error!(
                            load_balancer = %lb,
                            status,
                            body = %body,
                            notifications = %as_json(&group),
                            "Slack rejected the message; dropping it (retrying cannot succeed): check the webhook"
                        );
                    }
                    Err(e @ DeliveryError::GaveUp { .. }) => {
                        summary.failed += n;
                        summary.failed_load_balancers.push(lb.to_string());
                        match lowest.get(lb.as_str()) {
                            Some(seq) => {
                                warn!(load_balancer = %lb, error = %e, sequence_number = *seq, "Slack delivery failed; reporting the batch from this record for retry");
                                failures.push(seq);
                            }
                            None => warn!(
                                load_balancer = %lb,
                                error = %e,
                                "Slack delivery failed; no record of this load balancer in the batch, so it is retried on the next invocation"
                            ),
                        }
                    }
                }
            }
        }
        failures.sort_by(|a, b| cmp_sequence(a, b));
        failures.dedup();

        let c = self.engine.counters();
        info!(
            records = summary.records,
            poison = summary.poison,
            duplicates = summary.duplicates,
            entries = summary.entries,
            late = summary.late,
            bad_times = summary.bad_times,
            delivered = summary.delivered,
            rejected = summary.rejected,
            failed = summary.failed,
            batch_item_failures = failures.len(),
            open_windows = self.engine.window_count(),
            keys = self.engine.key_count(),
            total_late = c.late_entries + c.late_tallies,
            "batch processed"
        );
        let mut response = KinesisEventResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|seq| {
                let mut f = KinesisBatchItemFailure::default();
                f.item_identifier = Some(seq.to_owned());
                f
            })
            .collect();
        (response, summary)
    }
}

fn count(group: &[Notification], status: Status) -> usize {
    group.iter().filter(|n| n.status == status).count()
}

fn as_json(group: &[Notification]) -> String {
    serde_json::to_string(group).unwrap_or_else(|e| format!("<unserializable: {e}>"))
}

/// Orders Kinesis sequence numbers (decimal strings of up to 128 digits) numerically; strings
/// that are not plain digits compare after them, lexicographically.
#[must_use]
pub fn cmp_sequence(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (digits(a), digits(b)) {
        (true, true) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests;
