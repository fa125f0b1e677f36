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
//!
//! CloudWatch Logs subscription payloads on the same stream (gzip, told apart from ALB records
//! by their magic bytes) go to [`LogAlerts`] and are delivered under the same policy, one
//! message per log group.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use tracing::{error, info, warn};

use crate::alert::engine::Engine;
use crate::alert::logs::{LogAlertConfig, LogAlerts};
use crate::cwlogs::{AwsLogsEvent, LogPatterns, is_cloudwatch_payload};
use crate::kinesis::event::cmp_sequence;
use crate::notify::notification::{Notification, Status, group_by_load_balancer};
use crate::notify::notifier::{DeliveryError, Notifier};

/// Time kept free before the Lambda deadline to return the response.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

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

/// The alerter: an [`Engine`] (ALB records) and [`LogAlerts`] (CloudWatch Logs payloads)
/// shared by all invocations of a container.
#[derive(Debug)]
pub struct Alerter {
    engine: Engine,
    logs: LogAlerts,
    delivery: tokio::sync::Mutex<()>,
}

/// Which aggregation a group of notifications came from (decides what to commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Alb,
    Logs,
}

impl Alerter {
    /// An alerter around `engine`, with the default log patterns for CloudWatch Logs payloads.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
        Self::with_logs(engine, logs)
    }

    /// An alerter around `engine` and `logs`.
    #[must_use]
    pub fn with_logs(engine: Engine, logs: LogAlerts) -> Self {
        Self {
            engine,
            logs,
            delivery: tokio::sync::Mutex::new(()),
        }
    }

    /// The CloudWatch Logs aggregation.
    #[must_use]
    pub fn logs(&self) -> &LogAlerts {
        &self.logs
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
        let mut lowest_logs: HashMap<Arc<str>, &str> = HashMap::new();
        for record in &event.records {
            summary.records += 1;
            let seq = record.kinesis.sequence_number.as_str();
            let data = &record.kinesis.data.0;
            if is_cloudwatch_payload(data) {
                match self.logs.ingest_bytes(data) {
                    Ok(ingested) => {
                        summary.duplicates += u64::from(ingested.duplicate);
                        summary.entries += ingested.events;
                        note_lowest(&mut lowest_logs, ingested.log_group, seq);
                    }
                    Err(poison) => {
                        summary.poison += 1;
                        warn!(
                            sequence_number = seq,
                            partition_key = %record.kinesis.partition_key,
                            bytes = data.len(),
                            error = %poison,
                            "skipping a poison CloudWatch Logs record"
                        );
                    }
                }
                continue;
            }
            match self.engine.ingest_bytes(data) {
                Ok(ingested) => {
                    summary.duplicates += u64::from(ingested.duplicate);
                    let a = ingested.added;
                    summary.entries += a.entries;
                    summary.late += a.late_entries + a.late_tallies;
                    summary.bad_times += a.invalid_times + a.future;
                    note_lowest(&mut lowest, ingested.load_balancer, seq);
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

        let mut failures = self
            .deliver_pending(notifier, &lowest, &lowest_logs, &mut summary)
            .await;
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

impl Alerter {
    /// Handles a CloudWatch Logs payload delivered directly (the `awslogs` event of a
    /// subscription filter whose destination is this function). An undecodable payload is
    /// logged and dropped (a retry cannot fix it); an `Err` means a delivery failed and Lambda
    /// should retry the event (its events are then duplicates; the pending alert is re-sent).
    pub async fn handle_awslogs<N: Notifier + Sync>(
        &self,
        event: &AwsLogsEvent,
        notifier: &N,
    ) -> Result<BatchSummary, DeliveryFailed> {
        let mut summary = BatchSummary {
            records: 1,
            ..BatchSummary::default()
        };
        match event.decode() {
            Ok(payload) => {
                let ingested = self.logs.ingest(&payload);
                summary.duplicates += u64::from(ingested.duplicate);
                summary.entries += ingested.events;
            }
            Err(poison) => {
                summary.poison += 1;
                warn!(error = %poison, "skipping an undecodable awslogs event");
            }
        }
        let none = HashMap::new();
        self.deliver_pending(notifier, &none, &none, &mut summary)
            .await;
        if summary.failed > 0 {
            return Err(DeliveryFailed {
                groups: summary.failed_load_balancers,
            });
        }
        Ok(summary)
    }

    /// Evaluates, delivers and commits every pending notification (ALB, then log groups), and
    /// returns the sequence numbers to report for groups whose delivery must be retried.
    async fn deliver_pending<'a, N: Notifier + Sync>(
        &self,
        notifier: &N,
        lowest: &HashMap<Arc<str>, &'a str>,
        lowest_logs: &HashMap<Arc<str>, &'a str>,
        summary: &mut BatchSummary,
    ) -> Vec<&'a str> {
        let mut failures = Vec::new();
        let _serial = self.delivery.lock().await;
        for (origin, pending, lowest) in [
            (Origin::Alb, self.engine.evaluate(), lowest),
            (Origin::Logs, self.logs.evaluate(), lowest_logs),
        ] {
            for (group_name, group) in group_by_load_balancer(pending) {
                if !self
                    .deliver(origin, &group_name, &group, notifier, summary)
                    .await
                {
                    continue;
                }
                match lowest.get(group_name.as_str()) {
                    Some(seq) => {
                        warn!(load_balancer = %group_name, sequence_number = *seq, "reporting the batch from this record for retry");
                        failures.push(*seq);
                    }
                    None => warn!(
                        load_balancer = %group_name,
                        "no record of this group in the batch, so it is retried on the next invocation"
                    ),
                }
            }
        }
        failures
    }

    /// Posts one group's message and commits what must not be posted again; returns whether
    /// delivery failed in a way a retry can fix.
    async fn deliver<N: Notifier + Sync>(
        &self,
        origin: Origin,
        name: &str,
        group: &[Notification],
        notifier: &N,
        summary: &mut BatchSummary,
    ) -> bool {
        let commit = |group: &[Notification]| match origin {
            Origin::Alb => self.engine.commit(group),
            Origin::Logs => self.logs.commit(group),
        };
        let n = group.len() as u64;
        match notifier.notify(name, group).await {
            Ok(()) => {
                commit(group);
                summary.delivered += n;
                info!(
                    load_balancer = %name,
                    firing = count(group, Status::Firing),
                    resolved = count(group, Status::Resolved),
                    escalations = group.iter().filter(|n| n.escalation).count(),
                    notifications = %as_json(group),
                    "notified"
                );
                false
            }
            Err(DeliveryError::Rejected { status, body }) => {
                commit(group);
                summary.rejected += n;
                error!(
                    load_balancer = %name,
                    status,
                    body = %body,
                    notifications = %as_json(group),
                    "Slack rejected the message; dropping it (retrying cannot succeed): check the webhook"
                );
                false
            }
            Err(e @ DeliveryError::GaveUp { .. }) => {
                summary.failed += n;
                summary.failed_load_balancers.push(name.to_owned());
                warn!(load_balancer = %name, error = %e, "Slack delivery failed");
                true
            }
        }
    }
}

/// A direct (`awslogs`) invocation whose notifications could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("Slack delivery failed for {groups:?}; the event will be retried")]
pub struct DeliveryFailed {
    /// The log groups whose message was not delivered.
    pub groups: Vec<String>,
}

/// Keeps the lowest sequence number seen per group.
fn note_lowest<'a>(lowest: &mut HashMap<Arc<str>, &'a str>, group: Arc<str>, seq: &'a str) {
    lowest
        .entry(group)
        .and_modify(|s| {
            if cmp_sequence(seq, s) == Ordering::Less {
                *s = seq;
            }
        })
        .or_insert(seq);
}

fn count(group: &[Notification], status: Status) -> usize {
    group.iter().filter(|n| n.status == status).count()
}

fn as_json(group: &[Notification]) -> String {
    serde_json::to_string(group).unwrap_or_else(|e| format!("<unserializable: {e}>"))
}

#[cfg(test)]
mod tests;
