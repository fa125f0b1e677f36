//! The alerter Lambda's logic: a `KinesisEvent` → counts in the state store → evaluation →
//! delivery within a bounded slice → a partial batch response. Also the scheduled check (log
//! silence, pending retries, keys nobody touches) and direct `awslogs` events.
//!
//! # Failure policy
//!
//! - **Counting never waits for Slack.** A batch's counts are committed to the store first.
//!   Only a store failure (after the SDK's retries) while counting, or while evaluating a key
//!   of this batch, reports records in `batchItemFailures` (the lowest sequence number of that
//!   load balancer's records in the batch, so Lambda retries from there; the retried records
//!   that did land are duplicates and add nothing). A corrupt item, or a failure on a key the
//!   batch did not touch, is logged and left to the scheduled check.
//! - **Poison records** (unparseable, unknown version) are counted, logged with their sequence
//!   number and skipped; they never block the shard.
//! - **Delivery** gets at most [`DELIVERY_SLICE`] of the invocation. Delivered notifications
//!   are confirmed in their ledgers. Gave up (429/5xx/timeouts), or no notifier could be built:
//!   released with a backoff, retried by whichever invocation evaluates the key next (at the
//!   latest the scheduled check) — never by reporting records. **Rejected** by Slack
//!   (400/403/404/410: a revoked webhook, an archived channel) is loud, never silent: one error
//!   with the notifications' JSON, the `SlackRejected` metric (an alarm watches it), the
//!   notifier is rebuilt next time (re-reading a rotated secret), and the notifications stay
//!   pending, backing off, until a destination takes them.
//!
//! CloudWatch Logs subscription payloads on the same stream (gzip, told apart from ALB records
//! by their magic bytes) go to [`LogAlerts`], whose state is in memory; a failed delivery of
//! theirs reports the log group's lowest sequence number for retry, as before.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use tracing::{error, info, warn};

use crate::alert::engine::{Claim, Engine, Evaluation};
use crate::alert::logs::{LogAlertConfig, LogAlerts};
use crate::alert::silence::{self, SilenceConfig};
use crate::alert::store::{StateStore, StoreError};
use crate::cwlogs::{AwsLogsEvent, LogPatterns, is_cloudwatch_payload};
use crate::kinesis::event::cmp_sequence;
use crate::notify::notification::{Notification, Status, group_by_load_balancer};
use crate::notify::notifier::{DeliveryError, Notifier, NotifierSource, Route};
use crate::retry::Deadline;

/// Time kept free before the Lambda deadline to return the response.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// The most an invocation spends delivering notifications.
pub const DELIVERY_SLICE: Duration = Duration::from_secs(10);

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
    /// Keys whose state could not be written or read (reported for retry).
    pub store_failures: u64,
    /// Notifications delivered (and confirmed).
    pub delivered: u64,
    /// Notifications Slack rejected (logged, counted in `SlackRejected`, kept pending).
    pub rejected: u64,
    /// Notifications not delivered (retried later).
    pub failed: u64,
    /// Load balancers (or log groups) whose message could not be delivered.
    pub failed_load_balancers: Vec<String>,
}

/// The alerter: an [`Engine`] over a store (ALB records), [`LogAlerts`] (CloudWatch Logs
/// payloads) and the log-silence check.
#[derive(Debug)]
pub struct Alerter<S> {
    engine: Engine<S>,
    logs: LogAlerts,
    silence: SilenceConfig,
}

impl<S: StateStore> Alerter<S> {
    /// An alerter around `engine`, with the default log patterns and silence check.
    #[must_use]
    pub fn new(engine: Engine<S>) -> Self {
        let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
        Self::with_logs(engine, logs, SilenceConfig::default())
    }

    /// An alerter around `engine`, `logs` and `silence`.
    #[must_use]
    pub fn with_logs(engine: Engine<S>, logs: LogAlerts, silence: SilenceConfig) -> Self {
        Self {
            engine,
            logs,
            silence,
        }
    }

    /// The CloudWatch Logs aggregation.
    #[must_use]
    pub fn logs(&self) -> &LogAlerts {
        &self.logs
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// Handles one Kinesis event; `deadline` is the invocation's.
    pub async fn handle<P: NotifierSource>(
        &self,
        event: &KinesisEvent,
        notifiers: &P,
        deadline: Deadline,
    ) -> KinesisEventResponse {
        self.handle_with_summary(event, notifiers, deadline).await.0
    }

    /// [`Alerter::handle`], also returning what happened.
    pub async fn handle_with_summary<P: NotifierSource>(
        &self,
        event: &KinesisEvent,
        notifiers: &P,
        deadline: Deadline,
    ) -> (KinesisEventResponse, BatchSummary) {
        let mut summary = BatchSummary::default();
        // Lowest sequence number per load balancer / log group, duplicates included: a retried
        // batch consists of duplicates and must still point at the right record.
        let mut lowest: HashMap<Arc<str>, &str> = HashMap::new();
        let mut lowest_logs: HashMap<Arc<str>, &str> = HashMap::new();
        let batch = self.engine.batch();
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
            match batch.ingest_bytes(data) {
                Ok(key) => note_lowest(&mut lowest, key.load_balancer, seq),
                Err(poison) => {
                    warn!(
                        sequence_number = seq,
                        partition_key = %record.kinesis.partition_key,
                        bytes = data.len(),
                        error = %poison,
                        "skipping a poison record"
                    );
                }
            }
        }

        // 1. Counts land first.
        let committed = self.engine.commit(batch).await;
        let c = committed.counters;
        summary.poison += c.poison;
        summary.duplicates += c.duplicates;
        summary.entries += c.entries;
        summary.late += c.late_entries + c.late_tallies;
        summary.bad_times += c.invalid_times + c.future;
        let mut failures: Vec<&str> = Vec::new();
        let mut retry_lb = |lb: &str, e: &StoreError, summary: &mut BatchSummary| {
            summary.store_failures += 1;
            error!(load_balancer = %lb, error = %e, "state store failed; reporting the load balancer's records for retry");
            if let Some(seq) = lowest.get(lb) {
                failures.push(*seq);
            }
        };
        for (key, e) in &committed.failed {
            retry_lb(&key.load_balancer, e, &mut summary);
        }

        // 2. Evaluate what the batch touched (and the active keys of its load balancers).
        // Each load balancer's progress is read once, after the batch moved it, for both the
        // evaluation and the silence check.
        let mut evaluation = Evaluation::default();
        let mut progressed = Vec::with_capacity(committed.touched.len());
        for (lb, keys) in &committed.touched {
            let progress = match self.engine.store().progress(lb).await {
                Ok(p) => p,
                Err(e) => {
                    retry_lb(lb, &e, &mut summary);
                    continue;
                }
            };
            if let Some(p) = progress {
                progressed.push((Arc::clone(lb), p));
            }
            let e = self
                .engine
                .evaluate(lb, progress.unwrap_or_default(), keys)
                .await;
            evaluation.claims.extend(e.claims);
            evaluation.failed.extend(e.failed);
        }
        let s = silence::check(&self.engine, self.silence, Some(&progressed)).await;
        evaluation.claims.extend(s.claims);
        evaluation.failed.extend(s.failed);
        for (key, e) in &evaluation.failed {
            // Only a key of this batch is worth the batch's retry (its records make it
            // evaluated again); a corrupt item cannot be fixed by retrying, and the scheduled
            // check evaluates the active keys again anyway.
            let touched = committed
                .touched
                .get(&key.load_balancer)
                .is_some_and(|keys| keys.contains(&key.key));
            if touched && matches!(e, StoreError::Backend { .. }) {
                retry_lb(&key.load_balancer, e, &mut summary);
            } else {
                summary.store_failures += 1;
                error!(load_balancer = %key.load_balancer, key = %key.key, error = %e, "could not evaluate a key; the scheduled check tries again");
            }
        }

        // 3. Deliver within the slice.
        let failed_groups = self
            .deliver(
                evaluation.claims,
                self.logs.evaluate(),
                notifiers,
                deadline,
                &mut summary,
            )
            .await;
        for group in failed_groups {
            match lowest_logs.get(group.as_str()) {
                Some(seq) => failures.push(*seq),
                None => {
                    warn!(log_group = %group, "no record of this log group in the batch, so it is retried on the next invocation")
                }
            }
        }
        failures.sort_by(|a, b| cmp_sequence(a, b));
        failures.dedup();

        info!(
            records = summary.records,
            poison = summary.poison,
            duplicates = summary.duplicates,
            entries = summary.entries,
            late = summary.late,
            bad_times = summary.bad_times,
            store_failures = summary.store_failures,
            delivered = summary.delivered,
            rejected = summary.rejected,
            failed = summary.failed,
            batch_item_failures = failures.len(),
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

    /// The scheduled check: log silence of every load balancer, then every active key (pending
    /// retries, resolutions and staleness of keys no record touches), then delivery.
    pub async fn tick<P: NotifierSource>(&self, notifiers: &P, deadline: Deadline) -> BatchSummary {
        let mut summary = BatchSummary::default();
        let mut evaluation = silence::check(&self.engine, self.silence, None).await;
        let all = self.engine.evaluate_all().await;
        evaluation.claims.extend(all.claims);
        evaluation.failed.extend(all.failed);
        for (key, e) in &evaluation.failed {
            summary.store_failures += 1;
            error!(load_balancer = %key.load_balancer, key = %key.key, error = %e, "state store failed during the scheduled check");
        }
        self.deliver(
            evaluation.claims,
            Vec::new(),
            notifiers,
            deadline,
            &mut summary,
        )
        .await;
        info!(
            store_failures = summary.store_failures,
            delivered = summary.delivered,
            rejected = summary.rejected,
            failed = summary.failed,
            "scheduled check done"
        );
        summary
    }

    /// Handles a CloudWatch Logs payload delivered directly (the `awslogs` event of a
    /// subscription filter whose destination is this function). An undecodable payload is
    /// logged and dropped (a retry cannot fix it); an `Err` means a delivery failed and Lambda
    /// should retry the event (its events are then duplicates; the pending alert is re-sent).
    pub async fn handle_awslogs<P: NotifierSource>(
        &self,
        event: &AwsLogsEvent,
        notifiers: &P,
        deadline: Deadline,
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
        let failed = self
            .deliver(
                Vec::new(),
                self.logs.evaluate(),
                notifiers,
                deadline,
                &mut summary,
            )
            .await;
        if !failed.is_empty() {
            return Err(DeliveryFailed { groups: failed });
        }
        Ok(summary)
    }

    /// Delivers claimed notifications route by route, within [`DELIVERY_SLICE`]: ALB ones are
    /// confirmed or released in the store, one message per load balancer (or per incident,
    /// for a destination that keeps incident messages); log-group ones (Slack only) are
    /// committed in memory when delivered. Returns the log groups whose delivery must be
    /// retried.
    async fn deliver<P: NotifierSource>(
        &self,
        claims: Vec<Claim>,
        logs: Vec<Notification>,
        notifiers: &P,
        deadline: Deadline,
        summary: &mut BatchSummary,
    ) -> Vec<String> {
        let slice = deadline.earliest(Deadline::after(DELIVERY_SLICE));
        let mut routes: Vec<Route> = Vec::new();
        if !logs.is_empty() {
            routes.push(Route::Slack);
        }
        for c in &claims {
            if !routes.contains(&c.route) {
                routes.push(c.route);
            }
        }
        let mut logs = Some(logs).filter(|l| !l.is_empty());
        let mut failed_logs = Vec::new();
        for route in routes {
            let here: Vec<Claim> = claims
                .iter()
                .filter(|c| c.route == route)
                .cloned()
                .collect();
            let log_groups = if route == Route::Slack {
                logs.take().map(group_by_load_balancer).unwrap_or_default()
            } else {
                Vec::new()
            };
            let notifier = match notifiers.notifier(route, slice).await {
                Ok(n) => n,
                Err(e) => {
                    let n = here.iter().map(|c| c.outgoing.len()).sum::<usize>()
                        + log_groups.iter().map(|(_, g)| g.len()).sum::<usize>();
                    error!(?route, error = %e, pending = n, "cannot deliver: no notifier; notifications stay pending and are retried");
                    summary.failed += n as u64;
                    self.release(&here).await;
                    let groups = log_groups.into_iter().map(|(g, _)| g);
                    summary.failed_load_balancers.extend(groups.clone());
                    failed_logs.extend(groups);
                    continue;
                }
            };
            if notifier.keeps_incident_messages() {
                self.deliver_incidents(&notifier, route, here, notifiers, summary)
                    .await;
            } else {
                self.deliver_grouped(&notifier, route, here, notifiers, summary)
                    .await;
            }
            for (group_name, group) in log_groups {
                match send(&notifier, route, &group_name, &group, summary).await {
                    Sent::Done => self.logs.commit(&group),
                    Sent::Retry => failed_logs.push(group_name),
                    // Pending in memory, announced again by the next evaluation; retrying the
                    // records cannot help.
                    Sent::Rejected => notifiers.invalidate(route),
                }
            }
        }
        failed_logs
    }

    /// One message per load balancer (webhook, log), or per key (SNS): live updates, which only
    /// an incident message can show, are confirmed without a post.
    async fn deliver_grouped<P: NotifierSource>(
        &self,
        notifier: &P::Notifier,
        route: Route,
        claims: Vec<Claim>,
        notifiers: &P,
        summary: &mut BatchSummary,
    ) {
        // SNS publishes each notification on its own: one key at a time, so a failure never
        // publishes another key's notifications again.
        let groups = if route == Route::Sns {
            claims
                .into_iter()
                .map(|c| (c.key.load_balancer.to_string(), vec![c]))
                .collect()
        } else {
            Claim::by_load_balancer(claims)
        };
        for (lb, group) in groups {
            let notifications: Vec<Notification> = group
                .iter()
                .flat_map(|c| c.notifications().filter(|n| !n.update).cloned())
                .collect();
            let sent = if notifications.is_empty() {
                Sent::Done
            } else {
                send(notifier, route, &lb, &notifications, summary).await
            };
            match sent {
                Sent::Done => {
                    for (key, e) in self.engine.settle(&group, true).await {
                        // The post stays claimed until the lease ends, then may be repeated.
                        error!(load_balancer = %key.load_balancer, key = %key.key, error = %e, "delivered but not confirmed in the state store");
                    }
                }
                Sent::Retry => self.release(&group).await,
                Sent::Rejected => {
                    notifiers.invalidate(route);
                    self.release(&group).await;
                }
            }
        }
    }

    /// One message per incident (a Slack bot): each key's notifications go to its message,
    /// and the message's `ts` is recorded in the key's ledger.
    async fn deliver_incidents<P: NotifierSource>(
        &self,
        notifier: &P::Notifier,
        route: Route,
        claims: Vec<Claim>,
        notifiers: &P,
        summary: &mut BatchSummary,
    ) {
        for claim in claims {
            let lb = &*claim.key.load_balancer;
            let notifications: Vec<Notification> = claim.notifications().cloned().collect();
            let outcome = notifier
                .notify_incident(lb, claim.message.clone(), &notifications)
                .await;
            let (done, rest) = notifications.split_at(outcome.delivered.min(notifications.len()));
            if !done.is_empty() {
                account(route, lb, done, Ok(()), summary);
            }
            if let Some(e) = &outcome.error
                && matches!(account(route, lb, rest, Err(e), summary), Sent::Rejected)
            {
                notifiers.invalidate(route);
            }
            if let Err(e) = self.engine.settle_incident(&claim, &outcome).await {
                error!(load_balancer = %lb, key = %claim.key.key, error = %e, "incident message not recorded in the state store");
            }
        }
    }

    async fn release(&self, claims: &[Claim]) {
        for (key, e) in self.engine.settle(claims, false).await {
            // Not released: retried when the claim's lease ends.
            warn!(load_balancer = %key.load_balancer, key = %key.key, error = %e, "could not release a claimed notification");
        }
    }
}

enum Sent {
    /// Delivered: never post again.
    Done,
    /// Retry later.
    Retry,
    /// The destination refused: keep it pending, rebuild the notifier.
    Rejected,
}

/// Posts one group's message and accounts for the outcome.
async fn send<N: Notifier + Sync>(
    notifier: &N,
    route: Route,
    name: &str,
    group: &[Notification],
    summary: &mut BatchSummary,
) -> Sent {
    let result = notifier.notify(name, group).await;
    account(route, name, group, result.as_ref().map(|_| ()), summary)
}

/// Counts and logs what became of `group` on `route`.
fn account(
    route: Route,
    name: &str,
    group: &[Notification],
    result: Result<(), &DeliveryError>,
    summary: &mut BatchSummary,
) -> Sent {
    let n = group.len() as u64;
    match result {
        Ok(()) => {
            summary.delivered += n;
            info!(
                ?route,
                load_balancer = %name,
                firing = count(group, Status::Firing),
                resolved = count(group, Status::Resolved),
                escalations = group.iter().filter(|n| n.escalation).count(),
                notifications = %as_json(group),
                "notified"
            );
            Sent::Done
        }
        Err(DeliveryError::Rejected { status, body }) => {
            summary.rejected += n;
            summary.failed_load_balancers.push(name.to_owned());
            crate::telemetry::emit_count(route.rejected_metric(), n);
            error!(
                ?route,
                load_balancer = %name,
                status,
                body = %body,
                notifications = %as_json(group),
                "the destination rejected the message (revoked webhook or token, archived channel, deleted topic?): it stays pending and is retried; fix the destination or its secret"
            );
            Sent::Rejected
        }
        Err(e @ DeliveryError::GaveUp { .. }) => {
            summary.failed += n;
            summary.failed_load_balancers.push(name.to_owned());
            warn!(?route, load_balancer = %name, error = %e, "delivery failed; retried later");
            Sent::Retry
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
