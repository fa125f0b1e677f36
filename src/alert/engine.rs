//! The alert engine: Kinesis records → windows in a [`StateStore`] → claimed notifications.
//! Shared by the `alerter` Lambda and the CLI (`simulate`, `consume`).
//!
//! # Use
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use albwatch::alert::{config::AlertConfig, engine::Engine, store::memory::MemoryStore};
//! # use albwatch::clock::SystemClock;
//! # async fn deliver(_: &[albwatch::alert::engine::Claim]) -> bool { true }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let records: Vec<Vec<u8>> = Vec::new();
//! let config = AlertConfig::default();
//! let store = MemoryStore::new(config.dedupe_capacity);
//! let engine = Engine::new(config, store, Arc::new(SystemClock))?;
//! let batch = engine.batch(); // this invocation's records, aggregated per key
//! for data in &records {
//!     if let Err(poison) = batch.ingest_bytes(data) {
//!         eprintln!("skipping a poison record: {poison}");
//!     }
//! }
//! let committed = engine.commit(batch).await; // counts land first, whatever Slack does
//! let evaluation = engine.evaluate_all().await; // decide, queue and claim what is due
//! let delivered = deliver(&evaluation.claims).await;
//! engine.settle(&evaluation.claims, delivered).await; // confirm, or back off
//! # Ok(()) }
//! ```
//!
//! # Semantics
//!
//! - **Counting** ([`Engine::commit`]): every record is counted into per-window deltas in a
//!   per-invocation [`Batch`] (a [`DashMap`] keyed by key), then added to the store key by key,
//!   each record atomically and at most once ([`RecordHeader::dedupe_key`]). Windows already
//!   final by the load balancer's stored watermark, or frozen by an evaluation, are dropped as
//!   late. The watermark then moves to the latest time counted.
//! - **Evaluation** ([`Engine::evaluate`]): for each key touched by the batch and each active
//!   key of the load balancer, final windows (by the *stored* watermark, so every environment
//!   agrees) are frozen and folded into the key's ledger in start order; the decision
//!   ([`KeyTrack::decide`]) is queued in the ledger's outbox and the announced state updated;
//!   due notifications are claimed; all of it in one conditional ledger write (see
//!   [`super::ledger`]). A lost race re-reads and decides again.
//! - **Delivery** is the caller's; [`Engine::settle`] confirms the delivered claims or releases
//!   them with a backoff. Nothing is ever announced twice by two evaluations, and nothing
//!   decided is lost.
//! - Announcement timings (repeat interval, staleness) run in event time, the load balancer's
//!   watermark, so replays and simulations are deterministic; retries of a failed delivery and
//!   claim leases run on the wall clock ([`Clock`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;
use futures_util::StreamExt as _;

use crate::alb::time::micros_to_datetime;
use crate::alert::config::{AlertConfig, AlertConfigError};
use crate::alert::ledger::{Ledger, Outgoing};
use crate::alert::state::{Dated, Decision, Delivered, KeyTrack, OpenView, Timing};
use crate::alert::store::{Progress, RecordCounts, StateStore, StoreError};
use crate::alert::window::{KeyId, Pending, WindowAgg};
use crate::clock::Clock;
use crate::notify::console::TargetGroupArn;
use crate::notify::investigate::athena_query;
use crate::notify::notification::{Notification, RuleSummary, Source, Status, TargetKind};
use crate::notify::notifier::{IncidentOutcome, PostedMessage, Route};
use crate::record::{KeyKind, Record, RecordError, RecordHeader, RecordParser};

/// A parser whose buffers grew larger than this is released after use.
const MAX_RETAINED_SCRATCH: usize = 4 << 20;

/// Keys whose store requests run at once (each key's own requests stay in order).
pub const STORE_CONCURRENCY: usize = 16;

/// Conditional ledger writes tried before leaving a key to the environment that keeps winning.
const SAVE_ATTEMPTS: usize = 4;

thread_local! {
    /// What [`Batch::ingest_bytes`] reuses from one record to the next on a thread.
    static PARSER: RefCell<Option<RecordParser>> = const { RefCell::new(None) };
}

/// A record that can never be processed (unparseable or another format version).
#[derive(Debug, thiserror::Error)]
#[error("poison record: {0}")]
pub struct PoisonRecord(#[from] pub RecordError);

/// What was counted, added up over records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records parsed (duplicates included, poison excluded).
    pub records: u64,
    /// Poison records.
    pub poison: u64,
    /// Duplicate records dropped.
    pub duplicates: u64,
    /// Entries counted.
    pub entries: u64,
    /// 5xx entries counted.
    pub entries_5xx: u64,
    /// Tallies counted.
    pub tallies: u64,
    /// Entries dropped as late (their window was final).
    pub late_entries: u64,
    /// Tallies dropped as late.
    pub late_tallies: u64,
    /// Entries or tallies with an invalid time.
    pub invalid_times: u64,
    /// Entries or tallies too far in the future.
    pub future: u64,
}

impl Counters {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counters) {
        self.records += other.records;
        self.poison += other.poison;
        self.duplicates += other.duplicates;
        self.entries += other.entries;
        self.entries_5xx += other.entries_5xx;
        self.tallies += other.tallies;
        self.late_entries += other.late_entries;
        self.late_tallies += other.late_tallies;
        self.invalid_times += other.invalid_times;
        self.future += other.future;
    }
}

/// One invocation's records, counted per key before they reach the store.
#[derive(Debug)]
pub struct Batch {
    keys: DashMap<KeyId, Vec<RecordCounts>>,
    window_us: i64,
    now_us: i64,
    poison: AtomicU64,
    invalid_times: AtomicU64,
    future: AtomicU64,
}

impl Batch {
    /// Parses one record with the thread's reused [`RecordParser`] and counts it; returns its
    /// key. Takes `&self`: records may be counted on several threads.
    pub fn ingest_bytes(&self, data: &[u8]) -> Result<KeyId, PoisonRecord> {
        PARSER.with(|cell| {
            let mut cell = cell.borrow_mut();
            let parser = cell.get_or_insert_with(RecordParser::default);
            // Counted while parsing into a per-record `Pending`, kept only if the whole record
            // is valid.
            let mut pending = Pending::new(self.window_us, self.now_us);
            let result = match parser.parse_into(data, &mut pending) {
                Ok(header) => Ok(self.add(&header, pending)),
                Err(e) => {
                    self.poison.fetch_add(1, Ordering::Relaxed);
                    Err(PoisonRecord(e))
                }
            };
            if parser.capacity() > MAX_RETAINED_SCRATCH {
                *cell = None;
            }
            result
        })
    }

    /// Counts a parsed record; returns its key.
    pub fn ingest(&self, record: &Record<'_>) -> KeyId {
        let mut pending = Pending::new(self.window_us, self.now_us);
        pending.add_record(record);
        self.add(&record.header, pending)
    }

    fn add(&self, header: &RecordHeader<'_>, pending: Pending) -> KeyId {
        self.invalid_times
            .fetch_add(pending.invalid_times(), Ordering::Relaxed);
        self.future.fetch_add(pending.future(), Ordering::Relaxed);
        let key = KeyId {
            load_balancer: Arc::from(&*header.elb),
            key: Arc::from(&*header.partition_key),
        };
        self.keys
            .entry(key.clone())
            .or_default()
            .push(pending.into_counts(header));
        key
    }
}

/// What [`Engine::commit`] did.
#[derive(Debug, Default)]
pub struct Committed {
    /// What was counted.
    pub counters: Counters,
    /// Every key of the batch (duplicates included), per load balancer.
    pub touched: BTreeMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Keys whose counts could not be written (their records must be retried).
    pub failed: Vec<(KeyId, StoreError)>,
}

/// What committing one key's records did.
struct KeyCommit {
    key: KeyId,
    counters: Counters,
    /// Latest entry or tally time counted.
    latest_us: Option<i64>,
    /// Start of the latest window counted.
    latest_start_us: Option<i64>,
    /// A record that was not a duplicate arrived.
    arrived: bool,
    error: Option<StoreError>,
}

/// Notifications of one key for one route this environment claimed and must now deliver,
/// then [`Engine::settle`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The key.
    pub key: KeyId,
    /// Where they go.
    pub route: Route,
    /// Its claimed notifications, in order.
    pub outgoing: Vec<Outgoing>,
    /// The key's incident message (bot destinations), as the ledger held it when claimed.
    pub message: Option<PostedMessage>,
}

impl Claim {
    /// One claim per route of `outgoing` (claimed from `id`'s ledger, whose incident message
    /// is `message`), routes in order of first appearance.
    #[must_use]
    pub fn per_route(
        id: &KeyId,
        outgoing: Vec<Outgoing>,
        message: Option<PostedMessage>,
    ) -> Vec<Claim> {
        let mut claims: Vec<Claim> = Vec::new();
        for o in outgoing {
            match claims.iter_mut().find(|c| c.route == o.route) {
                Some(c) => c.outgoing.push(o),
                None => claims.push(Claim {
                    key: id.clone(),
                    route: o.route,
                    outgoing: vec![o],
                    message: message.clone(),
                }),
            }
        }
        claims
    }

    /// Claims grouped by load balancer, keeping the order of first appearance.
    #[must_use]
    pub fn by_load_balancer(claims: Vec<Claim>) -> Vec<(String, Vec<Claim>)> {
        let mut groups: Vec<(String, Vec<Claim>)> = Vec::new();
        for claim in claims {
            let lb = &*claim.key.load_balancer;
            match groups.iter_mut().find(|(g, _)| g == lb) {
                Some((_, g)) => g.push(claim),
                None => groups.push((lb.to_owned(), vec![claim])),
            }
        }
        groups
    }

    /// The notifications.
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.outgoing.iter().map(|o| &o.notification)
    }
}

/// What an evaluation claimed, and the keys it could not evaluate.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Claimed notifications, sorted by load balancer and key.
    pub claims: Vec<Claim>,
    /// Keys whose state could not be read or written (evaluated again next time).
    pub failed: Vec<(KeyId, StoreError)>,
}

impl Evaluation {
    fn absorb(&mut self, other: Evaluation) {
        self.claims.extend(other.claims);
        self.failed.extend(other.failed);
    }
}

/// Records → stored windows → claimed notifications. See the module docs.
#[derive(Debug)]
pub struct Engine<S> {
    config: AlertConfig,
    timing: Timing,
    routes: Vec<Route>,
    store: S,
    clock: Arc<dyn Clock>,
    counters: Mutex<Counters>,
    /// End of the latest window counted per load balancer (for [`Engine::finish`]).
    latest_end: Mutex<HashMap<Arc<str>, i64>>,
}

impl<S: StateStore> Engine<S> {
    /// An engine with `config` (validated) over `store`.
    pub fn new(
        config: AlertConfig,
        store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AlertConfigError> {
        config.validate()?;
        Ok(Self {
            timing: Timing::of(&config),
            routes: vec![Route::Slack],
            config,
            store,
            clock,
            counters: Mutex::default(),
            latest_end: Mutex::default(),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Queues each notification once per route in `routes` (default: Slack only). An empty
    /// list keeps the default.
    #[must_use]
    pub fn with_routes(mut self, routes: &[Route]) -> Self {
        if !routes.is_empty() {
            self.routes = routes.to_vec();
        }
        self
    }

    /// Also decides live updates of a firing incident's message, at most one per key per
    /// `every` of event time: for a destination that keeps one message per incident.
    #[must_use]
    pub fn with_live_updates(mut self, every: std::time::Duration) -> Self {
        self.timing.update_us = Some(i64::try_from(every.as_micros()).unwrap_or(i64::MAX));
        self
    }

    /// Fills in the runbook, the S3 folder and the Athena query of an ALB notification.
    fn add_links(&self, n: &mut Notification) {
        let c = &self.config;
        n.runbook_url = c.runbook_url.as_ref().map(|t| t.fill(n));
        let arn = n.target_group.as_deref().and_then(TargetGroupArn::parse);
        n.logs_url = c
            .log_location
            .as_ref()
            .zip(arn)
            .map(|(loc, arn)| loc.day_url(&arn, &n.incident_start.unwrap_or(n.window_start)));
        n.athena_query = athena_query(n, &c.athena_table);
    }

    /// Now, by the engine's wall clock (µs).
    #[must_use]
    pub fn now_us(&self) -> i64 {
        self.clock.now_us()
    }

    /// The routes every notification is queued for.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The rule, as notifications state it.
    fn rule_summary(&self) -> RuleSummary {
        RuleSummary {
            min_5xx: self.config.min_5xx,
            min_error_rate: self.config.min_error_rate,
            window_seconds: self.config.window_seconds,
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// An empty batch for this invocation's records.
    #[must_use]
    pub fn batch(&self) -> Batch {
        Batch {
            keys: DashMap::new(),
            window_us: self.timing.window_us,
            now_us: self.clock.now_us(),
            poison: AtomicU64::new(0),
            invalid_times: AtomicU64::new(0),
            future: AtomicU64::new(0),
        }
    }

    /// Counts since start.
    #[must_use]
    pub fn counters(&self) -> Counters {
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a batch's counts to the store (each record atomically and at most once), then moves
    /// the watermarks. A key whose write fails is reported in [`Committed::failed`]; the others
    /// land.
    pub async fn commit(&self, batch: Batch) -> Committed {
        let now_us = self.clock.now_us();
        let mut out = Committed::default();
        out.counters.poison = batch.poison.into_inner();
        out.counters.invalid_times = batch.invalid_times.into_inner();
        out.counters.future = batch.future.into_inner();
        let mut keys: Vec<(KeyId, Vec<RecordCounts>)> = batch.keys.into_iter().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut progress: HashMap<Arc<str>, Result<Option<Progress>, String>> = HashMap::new();
        for (key, _) in &keys {
            out.touched
                .entry(Arc::clone(&key.load_balancer))
                .or_default()
                .insert(Arc::clone(&key.key));
            if !progress.contains_key(&key.load_balancer) {
                let p = self.store.progress(&key.load_balancer).await;
                progress.insert(Arc::clone(&key.load_balancer), p.map_err(|e| e.to_string()));
            }
        }
        let progress = &progress;
        let results: Vec<KeyCommit> = futures_util::stream::iter(keys)
            .map(|(key, records)| async move {
                let p = progress
                    .get(&key.load_balancer)
                    .cloned()
                    .unwrap_or(Ok(None));
                self.commit_key(key, records, p).await
            })
            .buffer_unordered(STORE_CONCURRENCY)
            .collect()
            .await;
        // Per load balancer: latest time counted, when any new record arrived.
        let mut advanced: BTreeMap<Arc<str>, Option<i64>> = BTreeMap::new();
        for r in results {
            out.counters.add(&r.counters);
            if let Some(e) = r.error {
                out.failed.push((r.key, e));
                continue;
            }
            if r.arrived {
                let slot = advanced
                    .entry(Arc::clone(&r.key.load_balancer))
                    .or_default();
                *slot = (*slot).max(r.latest_us);
            }
            if let Some(start) = r.latest_start_us {
                self.note_window_end(&r.key.load_balancer, start);
            }
        }
        out.failed.sort_by(|a, b| a.0.cmp(&b.0));
        for (lb, seen) in advanced {
            if let Err(e) = self.store.advance(&lb, seen, now_us).await {
                // The counts landed; the watermark moves with the next batch.
                tracing::warn!(load_balancer = %lb, error = %e, "could not move the watermark");
            }
        }
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(&out.counters);
        out
    }

    /// Adds one key's records (see [`Engine::commit`]); `progress` is its load balancer's.
    async fn commit_key(
        &self,
        key: KeyId,
        mut records: Vec<RecordCounts>,
        progress: Result<Option<Progress>, String>,
    ) -> KeyCommit {
        let mut out = KeyCommit {
            counters: Counters {
                records: records.len() as u64,
                ..Counters::default()
            },
            latest_us: None,
            latest_start_us: None,
            arrived: false,
            error: None,
            key,
        };
        let c = &mut out.counters;
        let before = records.len();
        records.sort_by_key(|r| r.id);
        records.dedup_by_key(|r| r.id);
        c.duplicates += (before - records.len()) as u64;
        let p = match progress {
            Ok(p) => p,
            Err(message) => {
                out.error = Some(StoreError::Backend {
                    op: "read progress",
                    message,
                });
                return out;
            }
        };
        // Windows already final are late: drop them before writing (counted as late below,
        // unless the record turns out to be a duplicate).
        let mut dropped: Vec<(u64, u64, u64)> = Vec::new();
        for r in &mut records {
            let (mut entries, mut tallies) = (0, 0);
            r.windows.retain(|w| {
                let late = p.is_some_and(|p| self.timing.is_final(w.start_us, p.final_us));
                if late {
                    entries += w.entries;
                    tallies += w.tallies;
                }
                !late
            });
            if entries + tallies > 0 {
                dropped.push((r.id, entries, tallies));
            }
        }
        let report = match self.store.add_counts(&out.key, &records).await {
            Ok(report) => report,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        c.duplicates += report.duplicates.len() as u64;
        for (id, entries, tallies) in dropped {
            if !report.duplicates.contains(&id) {
                c.late_entries += entries;
                c.late_tallies += tallies;
            }
        }
        for r in &records {
            if report.duplicates.contains(&r.id) {
                continue;
            }
            out.arrived = true;
            for w in &r.windows {
                if report.late.contains(&(r.id, w.start_us)) {
                    c.late_entries += w.entries;
                    c.late_tallies += w.tallies;
                    continue;
                }
                c.entries += w.entries;
                c.entries_5xx += w.entries_5xx;
                c.tallies += w.tallies;
                out.latest_us = out.latest_us.max(Some(w.max_time_us));
                out.latest_start_us = out.latest_start_us.max(Some(w.start_us));
            }
        }
        out
    }

    fn note_window_end(&self, lb: &Arc<str>, start_us: i64) {
        let end = start_us.saturating_add(self.timing.window_us);
        let mut ends = self
            .latest_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let e = ends.entry(Arc::clone(lb)).or_insert(end);
        *e = (*e).max(end);
    }

    /// Evaluates the `touched` keys and the active keys of one load balancer, whose stored
    /// `progress` the caller has just read.
    pub async fn evaluate(
        &self,
        load_balancer: &str,
        progress: Progress,
        touched: &BTreeSet<Arc<str>>,
    ) -> Evaluation {
        self.evaluate_keys(load_balancer, progress, touched, false)
            .await
    }

    /// [`Engine::evaluate`], and with `pending` also the keys with counts not yet folded
    /// (a batch whose evaluation was lost leaves them; the scheduled check picks them up).
    async fn evaluate_keys(
        &self,
        load_balancer: &str,
        progress: Progress,
        touched: &BTreeSet<Arc<str>>,
        pending: bool,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        let lb: Arc<str> = Arc::from(load_balancer);
        let fail_all = |e: StoreError, out: &mut Evaluation| {
            let key = KeyId {
                load_balancer: Arc::clone(&lb),
                key: Arc::from(""),
            };
            out.failed.push((key, e));
        };
        let mut keys = touched.clone();
        match self.store.active_keys(load_balancer).await {
            Ok(active) => keys.extend(active),
            Err(e) => fail_all(e, &mut out),
        }
        let mut unfolded = BTreeSet::new();
        if pending {
            match self.store.pending_keys(load_balancer).await {
                Ok(p) => unfolded.extend(p),
                Err(e) => fail_all(e, &mut out),
            }
            keys.extend(unfolded.iter().cloned());
        }
        let unfolded = &unfolded;
        let results: Vec<(KeyId, Result<Vec<Claim>, StoreError>)> =
            futures_util::stream::iter(keys)
                .map(|key| {
                    let id = KeyId {
                        load_balancer: Arc::clone(&lb),
                        key,
                    };
                    async move {
                        let result = match self.evaluate_key(&id, progress).await {
                            Ok((claimed, settled)) if settled && unfolded.contains(&id.key) => {
                                self.store.clear_pending(&id).await.map(|()| claimed)
                            }
                            Ok((claimed, _)) => Ok(claimed),
                            Err(e) => Err(e),
                        };
                        (id, result)
                    }
                })
                .buffer_unordered(STORE_CONCURRENCY)
                .collect()
                .await;
        for (id, result) in results {
            match result {
                Ok(claims) => out.claims.extend(claims),
                Err(e) => out.failed.push((id, e)),
            }
        }
        // In key order, whatever order the store answered in.
        out.claims.sort_by(|a, b| a.key.cmp(&b.key));
        out.failed.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Evaluates every load balancer in the store: all their active keys and the keys with
    /// counts not yet folded.
    pub async fn evaluate_all(&self) -> Evaluation {
        let mut out = Evaluation::default();
        match self.store.load_balancers().await {
            Ok(lbs) => {
                for (lb, progress) in lbs {
                    out.absorb(
                        self.evaluate_keys(&lb, progress, &BTreeSet::new(), true)
                            .await,
                    );
                }
            }
            Err(e) => out.failed.push((
                KeyId {
                    load_balancer: Arc::from(""),
                    key: Arc::from(""),
                },
                e,
            )),
        }
        out
    }

    /// Folds, decides, queues and claims for one key, in one conditional ledger write.
    /// Returns the claims and whether the key is settled: every window folded and nothing
    /// active in its ledger.
    async fn evaluate_key(
        &self,
        id: &KeyId,
        progress: Progress,
    ) -> Result<(Vec<Claim>, bool), StoreError> {
        let t = &self.timing;
        for _ in 0..SAVE_ATTEMPTS {
            let now_us = self.clock.now_us();
            let stored = self.store.ledger(id).await?;
            let version = stored.as_ref().map(|v| v.version);
            let mut ledger = stored.map_or_else(|| Ledger::new(KeyKind::Target), |v| v.value);
            let before = ledger.clone();
            let mut view = OpenView::default();
            for w in self.store.windows(id, ledger.folded_through_us).await? {
                if t.is_final(w.start_us, progress.final_us) {
                    let agg = if w.frozen {
                        w.agg
                    } else {
                        match self.store.freeze(id, w.start_us).await? {
                            Some(agg) => agg,
                            None => continue,
                        }
                    };
                    ledger.track.fold(w.start_us, agg, t);
                    ledger.folded_through_us = Some(w.start_us);
                } else {
                    ledger.track.note(&w.agg);
                    view.add(
                        Dated {
                            start_us: w.start_us,
                            end_us: w.start_us.saturating_add(t.window_us),
                            agg: w.agg,
                        },
                        &t.rule,
                    );
                }
            }
            ledger
                .track
                .close_if_stale(view.has_open, progress.seen_us, t);
            for decision in ledger.track.decide(&view, progress.seen_us, t) {
                let since = ledger.track.incident_start(&decision, &view);
                let applied = decision.delivered(since);
                let mut n = notification(id, &ledger.track, decision, since, self.rule_summary());
                self.add_links(&mut n);
                let end_us = n.window_end.timestamp_micros();
                let from_us = since.unwrap_or_else(|| n.window_start.timestamp_micros());
                n.trend = ledger.track.trend(&view, from_us, end_us, t);
                let resolved = n.status == Status::Resolved;
                let queued = if ledger.is_silenced(now_us) {
                    tracing::info!(load_balancer = %id.load_balancer, key = %id.key, status = n.status.as_str(), "silenced from Slack: not posted");
                    if resolved {
                        // The next incident gets a message of its own.
                        ledger.message = None;
                    }
                    false
                } else {
                    ledger.enqueue(n, &self.routes, now_us)
                };
                // A live update not queued shows nothing new: the next one is still due.
                if queued || !matches!(applied, Delivered::Updated { .. }) {
                    ledger.track.apply(&applied, progress.seen_us);
                }
            }
            let claimed = Claim::per_route(id, ledger.claim_due(now_us), ledger.message.clone());
            if ledger == before
                || self
                    .store
                    .save_ledger(id, &ledger, version, before.is_active())
                    .await?
            {
                return Ok((claimed, !view.has_open && !ledger.is_active()));
            }
            tracing::debug!(load_balancer = %id.load_balancer, key = %id.key, "ledger written by another environment; deciding again");
        }
        tracing::info!(load_balancer = %id.load_balancer, key = %id.key, "left to the environment that keeps writing this ledger");
        Ok((Vec::new(), false))
    }

    /// Reads a key's ledger (a new one of `kind` if none), applies `change` at the wall clock's
    /// now, and writes it back with the version check, trying again from the read when another
    /// environment wrote first. Returns what `change` returned in the attempt that was written.
    pub async fn update_ledger<T: Send>(
        &self,
        id: &KeyId,
        kind: KeyKind,
        mut change: impl FnMut(&mut Ledger, i64) -> T + Send,
    ) -> Result<T, StoreError> {
        for _ in 0..SAVE_ATTEMPTS {
            let now_us = self.clock.now_us();
            let stored = self.store.ledger(id).await?;
            let version = stored.as_ref().map(|v| v.version);
            let mut ledger = stored.map_or_else(|| Ledger::new(kind), |v| v.value);
            let before = ledger.clone();
            let result = change(&mut ledger, now_us);
            if ledger == before
                || self
                    .store
                    .save_ledger(id, &ledger, version, before.is_active())
                    .await?
            {
                return Ok(result);
            }
        }
        Err(StoreError::Backend {
            op: "save ledger",
            message: format!("the ledger of {} kept changing", id.key),
        })
    }

    /// Confirms (`delivered`) or releases with a backoff the claimed notifications.
    pub async fn settle(&self, claims: &[Claim], delivered: bool) -> Vec<(KeyId, StoreError)> {
        let mut failed = Vec::new();
        for claim in claims {
            let n = if delivered { claim.outgoing.len() } else { 0 };
            if let Err(e) = self.settle_key(claim, n, None).await {
                failed.push((claim.key.clone(), e));
            }
        }
        failed
    }

    /// Settles a claim delivered to its incident message: confirms the first
    /// `outcome.delivered` notifications, releases the rest with a backoff, and records the
    /// incident's message as it now is.
    pub async fn settle_incident(
        &self,
        claim: &Claim,
        outcome: &IncidentOutcome,
    ) -> Result<(), StoreError> {
        self.settle_key(claim, outcome.delivered, Some(outcome.message.clone()))
            .await
    }

    async fn settle_key(
        &self,
        claim: &Claim,
        delivered: usize,
        message: Option<Option<PostedMessage>>,
    ) -> Result<(), StoreError> {
        let jitter = fastrand::f64();
        let (done, rest) = claim.outgoing.split_at(delivered.min(claim.outgoing.len()));
        let confirmed: Vec<u64> = done.iter().map(|o| o.id).collect();
        let released: Vec<(u64, i64)> = rest.iter().map(|o| (o.id, o.claimed_until_us)).collect();
        self.update_ledger(&claim.key, KeyKind::Target, |ledger, now_us| {
            ledger.confirm(&confirmed);
            ledger.release(&released, now_us, jitter);
            if let Some(m) = &message {
                ledger.message.clone_from(m);
            }
        })
        .await
    }

    /// End of input: makes every window counted so far final (without moving the event-time
    /// clock used for repeat intervals), so the next evaluation can announce resolutions whose
    /// recovery windows would otherwise wait for later data.
    pub async fn finish(&self) -> Result<(), StoreError> {
        let ends: Vec<(Arc<str>, i64)> = self
            .latest_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(lb, end)| (Arc::clone(lb), *end))
            .collect();
        for (lb, end) in ends {
            self.store
                .flush(&lb, end.saturating_add(self.timing.lateness_us))
                .await?;
        }
        Ok(())
    }
}

fn target_kind(kind: KeyKind) -> TargetKind {
    match kind {
        KeyKind::Target => TargetKind::Target,
        KeyKind::TargetGroup => TargetKind::TargetGroup,
        KeyKind::LoadBalancer => TargetKind::LoadBalancer,
    }
}

/// The machine form of one decision; `incident_start_us` from [`KeyTrack::incident_start`].
fn notification(
    id: &KeyId,
    track: &KeyTrack,
    decision: Decision,
    incident_start_us: Option<i64>,
    rule: RuleSummary,
) -> Notification {
    let base = |status, start_us, end_us, agg: Option<&WindowAgg>| Notification {
        status,
        source: Source::Alb,
        load_balancer: id.load_balancer.to_string(),
        target: id.key.to_string(),
        target_kind: target_kind(agg.map_or(track.kind, |a| a.key_kind)),
        target_group: agg
            .and_then(|a| a.target_group.as_deref())
            .or(track.target_group.as_deref())
            .map(str::to_owned),
        window_start: micros_to_datetime(start_us),
        window_end: micros_to_datetime(end_us),
        count_5xx: agg.map_or(0, WindowAgg::count_5xx),
        requests: agg.and_then(WindowAgg::requests),
        error_rate: agg.and_then(WindowAgg::error_rate),
        status_codes: agg.map_or_else(BTreeMap::new, |a| {
            a.status_codes
                .iter()
                .map(|(c, n)| (c.to_string(), *n))
                .collect()
        }),
        error_reasons: agg.map_or_else(BTreeMap::new, |a| {
            a.error_reasons
                .iter()
                .map(|(r, n)| (r.to_string(), *n))
                .collect()
        }),
        first_seen: agg.and_then(|a| a.first_seen_us).map(micros_to_datetime),
        last_seen: agg.and_then(|a| a.last_seen_us).map(micros_to_datetime),
        samples: Vec::new(),
        escalation: false,
        update: false,
        incident_start: incident_start_us.map(micros_to_datetime),
        rule: Some(rule),
        target_5xx: agg.map(|a| a.target_5xx),
        paths: agg.map_or_else(BTreeMap::new, |a| {
            a.paths.iter().map(|(p, n)| (p.to_string(), *n)).collect()
        }),
        runbook_url: None,
        logs_url: None,
        athena_query: None,
        trend: Vec::new(),
    };
    match decision {
        Decision::Update { window } => Notification {
            update: true,
            ..base(
                Status::Firing,
                window.start_us,
                window.end_us,
                Some(&window.agg),
            )
        },
        Decision::Firing { window, escalation } => Notification {
            samples: window
                .agg
                .samples
                .iter()
                .map(|s| s.sample.clone())
                .collect(),
            escalation,
            ..base(
                Status::Firing,
                window.start_us,
                window.end_us,
                Some(&window.agg),
            )
        },
        Decision::Resolved {
            recovery,
            start_us,
            end_us,
        } => base(
            Status::Resolved,
            start_us,
            end_us,
            recovery.as_ref().map(|r| &r.agg),
        ),
    }
}

#[cfg(test)]
mod tests;
