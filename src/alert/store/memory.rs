//! [`StateStore`] in process memory: the embedded default (`simulate`, `consume`, tests, and the
//! alerter without `ALBWATCH_STATE_TABLE`). A Lambda cold start forgets it.
//!
//! Memory stays bounded: record ids are remembered in a [`DedupeSet`] of fixed capacity, a
//! ledger save drops the windows it folded, and an idle ledger with no window left is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{AddReport, Progress, RecordCounts, StateStore, StoreError, StoredWindow, Versioned};
use crate::alert::dedupe::DedupeSet;
use crate::alert::ledger::Ledger;
use crate::alert::window::{KeyId, WindowAgg};

#[derive(Debug)]
struct Inner {
    ids: DedupeSet,
    windows: HashMap<KeyId, BTreeMap<i64, StoredWindow>>,
    progress: HashMap<Arc<str>, Progress>,
    ledgers: HashMap<KeyId, Versioned<Ledger>>,
}

/// The in-memory store. See the module docs.
#[derive(Debug)]
pub struct MemoryStore(Mutex<Inner>);

impl MemoryStore {
    /// An empty store remembering at most `dedupe_capacity` record ids.
    #[must_use]
    pub fn new(dedupe_capacity: usize) -> Self {
        Self(Mutex::new(Inner {
            ids: DedupeSet::new(dedupe_capacity),
            windows: HashMap::new(),
            progress: HashMap::new(),
            ledgers: HashMap::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Windows held (memory is proportional to this plus [`MemoryStore::ledger_count`]).
    #[must_use]
    pub fn window_count(&self) -> usize {
        self.lock().windows.values().map(BTreeMap::len).sum()
    }

    /// Ledgers held.
    #[must_use]
    pub fn ledger_count(&self) -> usize {
        self.lock().ledgers.len()
    }

    /// Every window held, sorted by key and start (tests and debugging).
    #[must_use]
    pub fn windows_snapshot(&self) -> Vec<(KeyId, StoredWindow)> {
        let inner = self.lock();
        let mut out: Vec<(KeyId, StoredWindow)> = inner
            .windows
            .iter()
            .flat_map(|(k, ws)| ws.values().map(|w| (k.clone(), w.clone())))
            .collect();
        out.sort_by(|(a, x), (b, y)| a.cmp(b).then(x.start_us.cmp(&y.start_us)));
        out
    }
}

impl StateStore for MemoryStore {
    async fn progress(&self, load_balancer: &str) -> Result<Option<Progress>, StoreError> {
        Ok(self.lock().progress.get(load_balancer).copied())
    }

    async fn load_balancers(&self) -> Result<Vec<(Arc<str>, Progress)>, StoreError> {
        let mut out: Vec<(Arc<str>, Progress)> = self
            .lock()
            .progress
            .iter()
            .map(|(lb, p)| (Arc::clone(lb), *p))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn add_counts(
        &self,
        key: &KeyId,
        records: &[RecordCounts],
    ) -> Result<AddReport, StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut report = AddReport::default();
        for record in records {
            if !inner.ids.insert(record.id) {
                report.duplicates.push(record.id);
                continue;
            }
            let windows = inner.windows.entry(key.clone()).or_default();
            for w in &record.windows {
                match windows.get_mut(&w.start_us) {
                    Some(stored) if stored.frozen => report.late.push((record.id, w.start_us)),
                    Some(stored) => stored.agg.merge(&w.agg),
                    None => {
                        windows.insert(
                            w.start_us,
                            StoredWindow {
                                start_us: w.start_us,
                                agg: w.agg.clone(),
                                frozen: false,
                            },
                        );
                    }
                }
            }
            if windows.is_empty() {
                inner.windows.remove(key);
            }
        }
        Ok(report)
    }

    async fn advance(
        &self,
        load_balancer: &str,
        seen_us: Option<i64>,
        arrived_us: i64,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let p = inner
            .progress
            .entry(Arc::from(load_balancer))
            .or_insert(Progress {
                seen_us: seen_us.unwrap_or_default(),
                final_us: seen_us.unwrap_or_default(),
                arrived_us,
            });
        if let Some(seen_us) = seen_us {
            p.seen_us = p.seen_us.max(seen_us);
            p.final_us = p.final_us.max(seen_us);
        }
        p.arrived_us = p.arrived_us.max(arrived_us);
        Ok(())
    }

    async fn flush(&self, load_balancer: &str, final_us: i64) -> Result<(), StoreError> {
        if let Some(p) = self.lock().progress.get_mut(load_balancer) {
            p.final_us = p.final_us.max(final_us);
        }
        Ok(())
    }

    async fn ledger(&self, key: &KeyId) -> Result<Option<Versioned<Ledger>>, StoreError> {
        Ok(self.lock().ledgers.get(key).cloned())
    }

    async fn windows(
        &self,
        key: &KeyId,
        after_us: Option<i64>,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        let inner = self.lock();
        Ok(inner.windows.get(key).map_or_else(Vec::new, |ws| {
            ws.values()
                .filter(|w| after_us.is_none_or(|a| w.start_us > a))
                .cloned()
                .collect()
        }))
    }

    async fn freeze(&self, key: &KeyId, start_us: i64) -> Result<Option<WindowAgg>, StoreError> {
        let mut inner = self.lock();
        Ok(inner
            .windows
            .get_mut(key)
            .and_then(|ws| ws.get_mut(&start_us))
            .map(|w| {
                w.frozen = true;
                w.agg.clone()
            }))
    }

    async fn save_ledger(
        &self,
        key: &KeyId,
        ledger: &Ledger,
        expected: Option<u64>,
        _was_active: bool,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let current = inner.ledgers.get(key).map(|l| l.version);
        if current != expected {
            return Ok(false);
        }
        let mut windows_left = false;
        if let Some(ws) = inner.windows.get_mut(key) {
            if let Some(through) = ledger.folded_through_us {
                ws.retain(|&start, w| !(w.frozen && start <= through));
            }
            windows_left = !ws.is_empty();
            if !windows_left {
                inner.windows.remove(key);
            }
        }
        // A silence is kept too: it may be set on a key with nothing else to remember.
        if ledger.is_active() || windows_left || ledger.silenced.is_some() {
            inner.ledgers.insert(
                key.clone(),
                Versioned {
                    value: ledger.clone(),
                    version: expected.map_or(1, |v| v + 1),
                },
            );
        } else {
            inner.ledgers.remove(key);
        }
        Ok(true)
    }

    async fn active_keys(&self, load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        let inner = self.lock();
        let mut keys: Vec<Arc<str>> = inner
            .windows
            .keys()
            .chain(inner.ledgers.keys())
            .filter(|k| &*k.load_balancer == load_balancer)
            .map(|k| Arc::clone(&k.key))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Every key with windows is already among [`MemoryStore`]'s active keys.
    async fn pending_keys(&self, _load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        Ok(Vec::new())
    }

    async fn clear_pending(&self, _key: &KeyId) -> Result<(), StoreError> {
        Ok(())
    }
}
