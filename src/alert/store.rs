//! The alerter's durable state, behind one small port ([`StateStore`]) with two
//! implementations: [`memory::MemoryStore`] (one process: `simulate`, `consume`, tests, and the
//! alerter when no table is configured) and [`dynamo::DynamoStore`] (one DynamoDB table shared
//! by every Lambda environment).
//!
//! # What is stored
//!
//! - **Windows**: per key and window start, the counts of [`WindowAgg`]. Records add into them
//!   ([`StateStore::add_counts`]): each record together with its id, all its windows or none,
//!   and never twice (the id is remembered). A window is *frozen* when it is folded into its
//!   key's ledger ([`StateStore::freeze`]); adding to a frozen window fails, and that part of a
//!   record counts as late, so a count that lands is a count the alert uses.
//! - **Progress** per load balancer: the event-time watermark and when records last arrived
//!   (wall clock).
//! - **Ledgers** per key ([`Ledger`]), written only with a version check
//!   ([`StateStore::save_ledger`]), and the set of *active* keys per load balancer (those whose
//!   ledger [`Ledger::is_active`]), so keys nobody touches are still evaluated.

pub mod dynamo;
pub mod memory;

use std::future::Future;
use std::sync::Arc;

use crate::alert::ledger::Ledger;
use crate::alert::window::{KeyId, WindowAgg};

/// One window of one record's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDelta {
    /// Window start (µs).
    pub start_us: i64,
    /// The counts.
    pub agg: WindowAgg,
    /// Entries counted.
    pub entries: u64,
    /// 5xx entries counted.
    pub entries_5xx: u64,
    /// Tallies counted.
    pub tallies: u64,
    /// Latest entry or tally time (µs).
    pub max_time_us: i64,
}

/// One record's contribution: its id and its windows.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordCounts {
    /// [`crate::record::RecordHeader::dedupe_key`].
    pub id: u64,
    /// Its windows, at most one per start.
    pub windows: Vec<WindowDelta>,
}

/// What [`StateStore::add_counts`] did not add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddReport {
    /// Records already counted (nothing of them was added).
    pub duplicates: Vec<u64>,
    /// `(record id, window start)` of windows that were frozen (that part was not added).
    pub late: Vec<(u64, i64)>,
}

/// A load balancer's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Latest entry or tally time counted (µs): the event-time clock of announcements.
    pub seen_us: i64,
    /// The time windows are judged final against (µs): `seen_us`, or later after
    /// [`StateStore::flush`].
    pub final_us: i64,
    /// When records last arrived (µs, wall clock).
    pub arrived_us: i64,
}

/// A stored window.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWindow {
    /// Window start (µs).
    pub start_us: i64,
    /// Its counts.
    pub agg: WindowAgg,
    /// Folded: nothing can be added any more.
    pub frozen: bool,
}

/// A value with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version (incremented by every write).
    pub version: u64,
}

/// A store call that failed. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (after the SDK's own retries): throttling, network, permissions.
    #[error("state store {op} failed: {message}")]
    Backend {
        /// The operation.
        op: &'static str,
        /// What the backend said.
        message: String,
    },
    /// A stored item cannot be read back.
    #[error("state item {item} is unreadable: {message}")]
    Corrupt {
        /// The item's key.
        item: String,
        /// Why.
        message: String,
    },
}

/// The durable state of the alerter. See the module docs.
pub trait StateStore: Send + Sync {
    /// A load balancer's progress, `None` before its first record.
    fn progress(
        &self,
        load_balancer: &str,
    ) -> impl Future<Output = Result<Option<Progress>, StoreError>> + Send;

    /// Every load balancer with its progress.
    fn load_balancers(
        &self,
    ) -> impl Future<Output = Result<Vec<(Arc<str>, Progress)>, StoreError>> + Send;

    /// Adds the records' counts into `key`'s windows: each record atomically (all its windows
    /// or none) together with its id, skipping records already added and windows already
    /// frozen.
    fn add_counts(
        &self,
        key: &KeyId,
        records: &[RecordCounts],
    ) -> impl Future<Output = Result<AddReport, StoreError>> + Send;

    /// Moves the load balancer's watermark forward to `seen_us` (never back; `None` when the
    /// records counted nothing) and records that records arrived at `arrived_us`.
    fn advance(
        &self,
        load_balancer: &str,
        seen_us: Option<i64>,
        arrived_us: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves only the finality time forward to `final_us` (end of input: every window ending
    /// before it becomes final without moving the event-time clock).
    fn flush(
        &self,
        load_balancer: &str,
        final_us: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The key's ledger, `None` if it has none.
    fn ledger(
        &self,
        key: &KeyId,
    ) -> impl Future<Output = Result<Option<Versioned<Ledger>>, StoreError>> + Send;

    /// The key's windows starting after `after_us` (all with `None`), in start order.
    fn windows(
        &self,
        key: &KeyId,
        after_us: Option<i64>,
    ) -> impl Future<Output = Result<Vec<StoredWindow>, StoreError>> + Send;

    /// Freezes a window and returns its final counts (`None` if it does not exist).
    fn freeze(
        &self,
        key: &KeyId,
        start_us: i64,
    ) -> impl Future<Output = Result<Option<WindowAgg>, StoreError>> + Send;

    /// Writes the ledger if its stored version is still `expected` (`None`: no ledger yet), and
    /// updates the active set when [`Ledger::is_active`] differs from `was_active`;
    /// `Ok(false)` when someone else wrote it first.
    fn save_ledger(
        &self,
        key: &KeyId,
        ledger: &Ledger,
        expected: Option<u64>,
        was_active: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keys of the load balancer that may need evaluation without being touched: those whose
    /// ledger is active (a store may return more).
    fn active_keys(
        &self,
        load_balancer: &str,
    ) -> impl Future<Output = Result<Vec<Arc<str>>, StoreError>> + Send;

    /// Keys of the load balancer with counts added since they were last found settled (every
    /// window folded, ledger idle): what the scheduled check evaluates besides the active keys.
    fn pending_keys(
        &self,
        load_balancer: &str,
    ) -> impl Future<Output = Result<Vec<Arc<str>>, StoreError>> + Send;

    /// Notes that `key` is settled (see [`StateStore::pending_keys`]).
    fn clear_pending(&self, key: &KeyId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The store the alerter and `albwatch consume` run on: DynamoDB when
/// [`dynamo::STATE_TABLE_ENV`] names a table, process memory otherwise.
#[derive(Debug)]
pub enum AnyStore {
    /// In memory.
    Memory(memory::MemoryStore),
    /// On DynamoDB.
    Dynamo(dynamo::DynamoStore),
}

impl AnyStore {
    /// Chooses from the environment. The DynamoDB client takes its endpoint from
    /// `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else AWS.
    pub async fn from_env(
        config: &crate::alert::config::AlertConfig,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        let table = std::env::var(dynamo::STATE_TABLE_ENV).ok();
        Self::from_table(table.as_deref(), config, clock).await
    }

    /// DynamoDB on `table` (with the SDK's configuration from the environment) when it is
    /// given and not blank, memory otherwise.
    pub async fn from_table(
        table: Option<&str>,
        config: &crate::alert::config::AlertConfig,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        match table.map(str::trim) {
            Some(table) if !table.is_empty() => {
                let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                Self::Dynamo(dynamo::DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&aws),
                    table,
                    config.window_seconds,
                    config.allowed_lateness_seconds,
                    clock,
                ))
            }
            _ => Self::Memory(memory::MemoryStore::new(config.dedupe_capacity)),
        }
    }

    /// What it is, for logs: `memory` or `dynamodb:<table>`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Memory(_) => "memory".to_owned(),
            Self::Dynamo(d) => format!("dynamodb:{}", d.table()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Memory($s) => $call.await,
            AnyStore::Dynamo($s) => $call.await,
        }
    };
}

impl StateStore for AnyStore {
    async fn progress(&self, load_balancer: &str) -> Result<Option<Progress>, StoreError> {
        delegate!(self, s => s.progress(load_balancer))
    }

    async fn load_balancers(&self) -> Result<Vec<(Arc<str>, Progress)>, StoreError> {
        delegate!(self, s => s.load_balancers())
    }

    async fn add_counts(
        &self,
        key: &KeyId,
        records: &[RecordCounts],
    ) -> Result<AddReport, StoreError> {
        delegate!(self, s => s.add_counts(key, records))
    }

    async fn advance(
        &self,
        load_balancer: &str,
        seen_us: Option<i64>,
        arrived_us: i64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.advance(load_balancer, seen_us, arrived_us))
    }

    async fn flush(&self, load_balancer: &str, final_us: i64) -> Result<(), StoreError> {
        delegate!(self, s => s.flush(load_balancer, final_us))
    }

    async fn ledger(&self, key: &KeyId) -> Result<Option<Versioned<Ledger>>, StoreError> {
        delegate!(self, s => s.ledger(key))
    }

    async fn windows(
        &self,
        key: &KeyId,
        after_us: Option<i64>,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        delegate!(self, s => s.windows(key, after_us))
    }

    async fn freeze(&self, key: &KeyId, start_us: i64) -> Result<Option<WindowAgg>, StoreError> {
        delegate!(self, s => s.freeze(key, start_us))
    }

    async fn save_ledger(
        &self,
        key: &KeyId,
        ledger: &Ledger,
        expected: Option<u64>,
        was_active: bool,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.save_ledger(key, ledger, expected, was_active))
    }

    async fn active_keys(&self, load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        delegate!(self, s => s.active_keys(load_balancer))
    }

    async fn pending_keys(&self, load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        delegate!(self, s => s.pending_keys(load_balancer))
    }

    async fn clear_pending(&self, key: &KeyId) -> Result<(), StoreError> {
        delegate!(self, s => s.clear_pending(key))
    }
}
