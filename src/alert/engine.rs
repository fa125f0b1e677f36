//! The alert engine: Kinesis records → windows → notifications. Shared by the `alerter` Lambda
//! and the CLI (`simulate`, `consume`).
//!
//! # Use
//!
//! ```no_run
//! # use albwatch::alert::{config::AlertConfig, engine::Engine};
//! # fn deliver(_: &[albwatch::notify::notification::Notification]) -> bool { true }
//! # let records: Vec<Vec<u8>> = Vec::new();
//! let engine = Engine::new(AlertConfig::default())?;
//! for data in &records {
//!     if let Err(poison) = engine.ingest_bytes(data) {
//!         eprintln!("skipping a poison record: {poison}");
//!     }
//! }
//! let pending = engine.evaluate(); // what should be announced now
//! if deliver(&pending) {
//!     engine.commit(&pending); // mark as announced; only after delivery
//! }
//! engine.finish(); // end of input (simulate): every window becomes final
//! let last = engine.evaluate();
//! # Ok::<(), albwatch::alert::config::AlertConfigError>(())
//! ```
//!
//! # Semantics
//!
//! - Records are dropped as duplicates by [`RecordHeader::dedupe_key`] (a bounded
//!   [`DedupeSet`]); poison records (unparseable, other version) are counted and returned as
//!   errors, never panicking.
//! - Windows, lateness and watermarks: see [`super::window`]. Firing, escalation, repeat and
//!   resolution: see [`super::state`].
//! - [`Engine::evaluate`] folds the final windows, evicts them, and returns the pending
//!   announcements; it does not change what counts as announced, so calling it again gives the
//!   same answer. [`Engine::commit`] records delivered notifications. A failed delivery is thus
//!   retried by the next `evaluate`, whichever records arrive in between, and a delivered one is
//!   never sent twice.
//! - All timings (repeat interval, staleness) are measured in event time, the load balancer's
//!   watermark, so replays and simulations are deterministic.
//! - State lives in process memory. A Lambda cold start forgets it: a target that is still
//!   firing may be announced again (a duplicate, never a loss).
//!
//! The engine is `Send + Sync`: ingestion takes `&self` and may run on several threads;
//! `evaluate` and `finish` briefly exclude ingestion.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use chrono::Utc;

use crate::alb::time::micros_to_datetime;
use crate::alert::config::{AlertConfig, AlertConfigError};
use crate::alert::dedupe::DedupeSet;
use crate::alert::state::{Dated, Decision, Delivered, KeyTrack, OpenView, Timing};
use crate::alert::window::{AddOutcome, KeyId, Pending, WindowAgg, WindowKey, Windows};
use crate::notify::notification::{Notification, Source, Status, TargetKind};
use crate::record::{KeyKind, Record, RecordError, RecordHeader, RecordParser};

/// A parser whose buffers grew larger than this is released after use.
const MAX_RETAINED_SCRATCH: usize = 4 << 20;

thread_local! {
    /// What [`Engine::ingest_bytes`] reuses from one record to the next on a thread.
    static PARSER: RefCell<Option<RecordParser>> = const { RefCell::new(None) };
}

/// A record that can never be processed (unparseable or another format version).
#[derive(Debug, thiserror::Error)]
#[error("poison record: {0}")]
pub struct PoisonRecord(#[from] pub RecordError);

/// What ingesting one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The record's load balancer.
    pub load_balancer: Arc<str>,
    /// The record was seen before and ignored.
    pub duplicate: bool,
    /// What was counted (all zero for a duplicate).
    pub added: AddOutcome,
}

/// Engine-wide counters since start.
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

#[derive(Debug, Default)]
struct AtomicCounters {
    records: AtomicU64,
    poison: AtomicU64,
    duplicates: AtomicU64,
    entries: AtomicU64,
    entries_5xx: AtomicU64,
    tallies: AtomicU64,
    late_entries: AtomicU64,
    late_tallies: AtomicU64,
    invalid_times: AtomicU64,
    future: AtomicU64,
}

impl AtomicCounters {
    fn add(&self, a: &AddOutcome) {
        let add = |c: &AtomicU64, n: u64| {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.entries, a.entries);
        add(&self.entries_5xx, a.entries_5xx);
        add(&self.tallies, a.tallies);
        add(&self.late_entries, a.late_entries);
        add(&self.late_tallies, a.late_tallies);
        add(&self.invalid_times, a.invalid_times);
        add(&self.future, a.future);
    }

    fn snapshot(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            records: get(&self.records),
            poison: get(&self.poison),
            duplicates: get(&self.duplicates),
            entries: get(&self.entries),
            entries_5xx: get(&self.entries_5xx),
            tallies: get(&self.tallies),
            late_entries: get(&self.late_entries),
            late_tallies: get(&self.late_tallies),
            invalid_times: get(&self.invalid_times),
            future: get(&self.future),
        }
    }
}

/// Records → windows → pending notifications, with announcement state. See the module docs.
#[derive(Debug)]
pub struct Engine {
    config: AlertConfig,
    timing: Timing,
    windows: Windows,
    dedupe: Mutex<DedupeSet>,
    keys: Mutex<HashMap<KeyId, KeyTrack>>,
    /// Ingestion holds it shared; folding final windows holds it exclusively, so a window is
    /// never written while it is being folded.
    gate: RwLock<()>,
    counters: AtomicCounters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// An engine with `config` (validated).
    pub fn new(config: AlertConfig) -> Result<Self, AlertConfigError> {
        config.validate()?;
        Ok(Self {
            timing: Timing::of(&config),
            windows: Windows::new(config.window_seconds, config.allowed_lateness_seconds),
            dedupe: Mutex::new(DedupeSet::new(config.dedupe_capacity)),
            keys: Mutex::new(HashMap::new()),
            gate: RwLock::new(()),
            counters: AtomicCounters::default(),
            config,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Parses and ingests one record with the thread's reused [`RecordParser`] (which copies
    /// only the part of the record that simd-json reads).
    pub fn ingest_bytes(&self, data: &[u8]) -> Result<Ingested, PoisonRecord> {
        PARSER.with(|cell| {
            let mut cell = cell.borrow_mut();
            let parser = cell.get_or_insert_with(RecordParser::default);
            // Counted while parsing into a per-record `Pending`, merged only if the whole
            // record is valid and not a duplicate.
            let mut pending = self.windows.pending(Utc::now().timestamp_micros());
            let result = match parser.parse_into(data, &mut pending) {
                Ok(header) => Ok(self.ingest_pending(&header, pending)),
                Err(e) => Err(self.poison(e)),
            };
            if parser.capacity() > MAX_RETAINED_SCRATCH {
                *cell = None;
            }
            result
        })
    }

    /// Parses (in place: `data` is overwritten) and ingests one record.
    pub fn ingest_slice(&self, data: &mut [u8]) -> Result<Ingested, PoisonRecord> {
        match Record::from_slice(data) {
            Ok(record) => Ok(self.ingest(&record)),
            Err(e) => Err(self.poison(e)),
        }
    }

    fn poison(&self, e: RecordError) -> PoisonRecord {
        self.counters.poison.fetch_add(1, Ordering::Relaxed);
        PoisonRecord(e)
    }

    /// Ingests a parsed record: drops it if it is a duplicate, else counts it into windows.
    pub fn ingest(&self, record: &Record<'_>) -> Ingested {
        let mut pending = self.windows.pending(Utc::now().timestamp_micros());
        pending.add_record(record);
        self.ingest_pending(&record.header, pending)
    }

    /// Drops a record if it is a duplicate, else merges its counts into the windows.
    fn ingest_pending(&self, header: &RecordHeader<'_>, pending: Pending) -> Ingested {
        self.counters.records.fetch_add(1, Ordering::Relaxed);
        let load_balancer: Arc<str> = Arc::from(&*header.elb);
        if !lock(&self.dedupe).insert(header.dedupe_key()) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ingested {
                load_balancer,
                duplicate: true,
                added: AddOutcome::default(),
            };
        }
        let added = {
            let _shared = self.gate.read().unwrap_or_else(PoisonError::into_inner);
            self.windows.commit(header, pending)
        };
        self.counters.add(&added);
        Ingested {
            load_balancer,
            duplicate: false,
            added,
        }
    }

    /// Whether a record with this header was already ingested (and is still remembered).
    #[must_use]
    pub fn is_duplicate(&self, header: &RecordHeader<'_>) -> bool {
        lock(&self.dedupe).contains(header.dedupe_key())
    }

    /// Folds final windows, evicts them and idle keys, and returns what should be announced
    /// now, sorted by load balancer and key. Does not mark anything as announced: deliver the
    /// notifications, then [`Engine::commit`] those that were delivered.
    pub fn evaluate(&self) -> Vec<Notification> {
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let mut keys = lock(&self.keys);
        let views = self.advance(&mut keys);
        let mut ids: Vec<&KeyId> = keys.keys().collect();
        ids.sort();
        let empty = OpenView::default();
        let mut out = Vec::new();
        for id in ids {
            let track = &keys[id];
            let Some(wm) = self.windows.watermark(&id.load_balancer) else {
                continue;
            };
            let view = views.get(id).unwrap_or(&empty);
            for decision in track.decide(view, wm.seen_us, &self.timing) {
                out.push(notification(id, track, decision));
            }
        }
        out
    }

    /// Records that `delivered` notifications (from [`Engine::evaluate`]) reached their
    /// audience: firing ones start or refresh the key's firing state (count, event time),
    /// resolved ones end it. Call it only after successful delivery.
    pub fn commit(&self, delivered: &[Notification]) {
        let mut keys = lock(&self.keys);
        for n in delivered {
            let id = KeyId {
                load_balancer: Arc::from(n.load_balancer.as_str()),
                key: Arc::from(n.target.as_str()),
            };
            let Some(track) = keys.get_mut(&id) else {
                tracing::debug!(load_balancer = %n.load_balancer, target = %n.target, "commit for an unknown key ignored");
                continue;
            };
            let seen_us = self
                .windows
                .watermark(&id.load_balancer)
                .map_or(0, |wm| wm.seen_us);
            let d = match n.status {
                Status::Firing => Delivered::Firing { count: n.count_5xx },
                Status::Resolved => Delivered::Resolved {
                    end_us: n.window_end.timestamp_micros(),
                },
            };
            track.apply(&d, seen_us);
        }
    }

    /// End of input: makes every window final (without moving the event-time clock used for
    /// repeat intervals), so the next [`Engine::evaluate`] can announce resolutions whose
    /// recovery windows would otherwise wait for later data. Data arriving afterwards for those
    /// windows is late.
    pub fn finish(&self) {
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        for (lb, end) in self.windows.latest_window_ends() {
            self.windows.flush(&lb, end);
        }
    }

    /// Counters since start.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    /// Open windows held (memory is proportional to this plus [`Engine::key_count`]).
    #[must_use]
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Keys with remembered state (open windows, an episode, or a firing announcement).
    #[must_use]
    pub fn key_count(&self) -> usize {
        lock(&self.keys).len()
    }

    /// A load balancer's event-time watermark (latest accepted entry or tally time).
    #[must_use]
    pub fn watermark(&self, load_balancer: &str) -> Option<chrono::DateTime<Utc>> {
        self.windows
            .watermark(load_balancer)
            .map(|wm| micros_to_datetime(wm.seen_us))
    }

    /// A copy of every open window, sorted by key and start (for tests and debugging).
    #[must_use]
    pub fn windows_snapshot(&self) -> Vec<(WindowKey, WindowAgg)> {
        let mut out = Vec::with_capacity(self.windows.len());
        self.windows
            .for_each(|k, w| out.push((k.clone(), w.clone())));
        out.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id).then(a.start_us.cmp(&b.start_us)));
        out
    }

    /// Folds final windows into their keys (in start order), closes stale episodes, drops idle
    /// keys, and returns what the remaining open windows show per key.
    fn advance(&self, keys: &mut HashMap<KeyId, KeyTrack>) -> HashMap<KeyId, OpenView> {
        let t = &self.timing;
        for (wk, agg) in self.windows.take_final() {
            keys.entry(wk.id)
                .or_insert_with(|| KeyTrack::new(agg.key_kind))
                .fold(wk.start_us, agg, t);
        }
        let mut views: HashMap<KeyId, OpenView> = HashMap::new();
        self.windows.for_each(|wk, agg| {
            keys.entry(wk.id.clone())
                .or_insert_with(|| KeyTrack::new(agg.key_kind))
                .note(agg);
            let view = views.entry(wk.id.clone()).or_default();
            // Clone only windows that may be kept (crossing ones are few).
            let window = |agg: &WindowAgg| Dated {
                start_us: wk.start_us,
                end_us: wk.start_us.saturating_add(t.window_us),
                agg: agg.clone(),
            };
            if t.rule.crosses(agg) {
                view.add(window(agg), &t.rule);
            } else {
                view.has_open = true;
            }
        });
        keys.retain(|id, track| {
            let has_open = views.contains_key(id);
            if let Some(wm) = self.windows.watermark(&id.load_balancer) {
                track.close_if_stale(has_open, wm.seen_us, t);
            }
            !track.is_idle(has_open)
        });
        views
    }
}

fn target_kind(kind: KeyKind) -> TargetKind {
    match kind {
        KeyKind::Target => TargetKind::Target,
        KeyKind::TargetGroup => TargetKind::TargetGroup,
        KeyKind::LoadBalancer => TargetKind::LoadBalancer,
    }
}

/// The machine form of one decision.
fn notification(id: &KeyId, track: &KeyTrack, decision: Decision) -> Notification {
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
    };
    match decision {
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
