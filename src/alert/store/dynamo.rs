//! [`StateStore`] on one DynamoDB table (on-demand, TTL attribute `ttl`), shared by every Lambda
//! environment of the alerter.
//!
//! # Items (`pk`, `sk`: strings)
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | window | `K#<lb>#<key>` | `W#<start µs, 20 digits>` | `e5` `x5` `t5` `rq` `rk` (`ADD`), `c<code>`, `r:<reason>` and `p:<path>` (`ADD`), `ts` (number set: first/last 5xx times), `kk` `tg` `smp` (first writer), `fz` (frozen), `ttl` |
//! | ledger | `K#<lb>#<key>` | `L` | `st` (the [`Ledger`] as JSON), `v` (version), `ttl` (only when idle) |
//! | record id | `R#<lb>#<id hex>` | `R` | `ttl` |
//! | progress | `LBS` | `<lb>` | `seen`, `fin`, `arr`, `ttl` |
//! | active key | `A#<lb>` | `<key>` | — |
//! | pending key | `P#<lb>` | `<key>` | `ttl` (counts not yet folded: the scheduled check evaluates it) |
//!
//! # Requests
//!
//! - [`StateStore::add_counts`]: one `TransactWriteItems` per key and batch (more only past
//!   [`MAX_TRANSACT_ITEMS`]): a conditional `Put` of each record id, one `ADD` update per
//!   touched window (summed over the records, refused if the window is frozen), and a
//!   `ConditionCheck` that none of those windows is final by the stored watermark (so no
//!   window appears behind an evaluation that already folded past it). So requests grow with touched (key, window)
//!   pairs, never with entries, and a record lands with all its windows or not at all. A
//!   cancelled transaction names the items that failed: records already counted are dropped as
//!   duplicates, frozen windows as late, and the rest is written again.
//! - A ledger write is a conditional `Put` (on `v`); when the key enters or leaves the active
//!   set, a transaction of that `Put` and the active-set item, so the active set never
//!   disagrees with the ledgers.
//! - Reads are strongly consistent.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update,
};

use super::{AddReport, Progress, RecordCounts, StateStore, StoreError, StoredWindow, Versioned};
use crate::alert::ledger::Ledger;
use crate::alert::window::{KeyId, SampleSlot, WindowAgg, add_code, add_reason};
use crate::record::KeyKind;
use crate::retry::RetryPolicy;
use crate::text::clip_bytes_marked;

/// `ALBWATCH_STATE_TABLE`: the table's name; the alerter uses DynamoDB when it is set.
pub const STATE_TABLE_ENV: &str = "ALBWATCH_STATE_TABLE";
/// Most items in one `TransactWriteItems` call (DynamoDB's limit).
pub const MAX_TRANSACT_ITEMS: usize = 100;
/// Longest sample field kept in a window item, in bytes (item size stays far below 400 KB).
pub const MAX_STORED_SAMPLE_FIELD_BYTES: usize = 512;
/// Windows are kept this long past their end plus the allowed lateness (then TTL deletes them;
/// an evaluated key has folded them long before).
pub const WINDOW_RETENTION_US: i64 = 24 * 3600 * 1_000_000;
/// Record ids are remembered this long past the allowed lateness: redelivery and re-ingestion
/// happen within Kinesis retention (24 h by default).
pub const RECORD_ID_RETENTION_US: i64 = 48 * 3600 * 1_000_000;
/// An idle ledger (nothing firing or pending) is deleted by TTL this long after its last write.
pub const IDLE_LEDGER_RETENTION_US: i64 = 30 * 24 * 3600 * 1_000_000;
/// Retries of a transaction cancelled by a conflicting concurrent transaction.
pub const CONFLICT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay: std::time::Duration::from_millis(20),
    max_delay: std::time::Duration::from_millis(500),
};

/// A ledger larger than this is written without its sample requests (an item holds 400 KB).
pub const MAX_LEDGER_JSON_BYTES: usize = 300 * 1024;

const PROGRESS_PK: &str = "LBS";

/// The DynamoDB store. See the module docs.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    /// Window length and allowed lateness (µs), for the items' TTL.
    window_us: i64,
    lateness_us: i64,
    clock: Arc<dyn crate::clock::Clock>,
    /// Requests sent, by kind (for the cost figures).
    stats: Arc<Counters>,
}

/// Requests sent, by kind.
#[derive(Debug, Default)]
struct Counters {
    reads: std::sync::atomic::AtomicU64,
    updates: std::sync::atomic::AtomicU64,
    transactions: std::sync::atomic::AtomicU64,
    transaction_items: std::sync::atomic::AtomicU64,
}

/// What a [`DynamoStore`] sent so far (SDK retries not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// `GetItem` and `Query` pages (strongly consistent).
    pub reads: u64,
    /// Single-item writes (`UpdateItem`, `PutItem`).
    pub updates: u64,
    /// `TransactWriteItems` calls.
    pub transactions: u64,
    /// Items written by them (each billed as two writes).
    pub transaction_items: u64,
}

impl RequestStats {
    /// Requests sent.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.reads + self.updates + self.transactions
    }

    /// Write request units, for items up to 1 KB: one per update, two per transaction item.
    #[must_use]
    pub fn write_units(&self) -> u64 {
        self.updates + 2 * self.transaction_items
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_pk(key: &KeyId) -> String {
    format!("K#{}#{}", key.load_balancer, key.key)
}

fn window_sk(start_us: i64) -> String {
    format!("W#{start_us:020}")
}

fn item_key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn backend<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug + 'static>(
    op: &'static str,
    e: SdkError<E, R>,
) -> StoreError {
    StoreError::Backend {
        op,
        message: crate::text::error_chain(&e),
    }
}

fn build_error(op: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        op,
        message: e.to_string(),
    }
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Why a transaction was cancelled, per item (`None`: not cancelled for a reason we act on).
enum Cancelled {
    /// Condition failures at these item positions.
    Conditions(Vec<usize>),
    /// Another transaction held an item: try again.
    Conflict,
}

fn cancelled(e: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> Option<Cancelled> {
    let TransactWriteItemsError::TransactionCanceledException(c) = e.as_service_error()? else {
        return None;
    };
    let reasons = c.cancellation_reasons();
    let failed: Vec<usize> = reasons
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    if !failed.is_empty() {
        return Some(Cancelled::Conditions(failed));
    }
    reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
        .then_some(Cancelled::Conflict)
}

/// A window's summed counts as one `ADD` update, refused if the window is frozen.
fn window_update(
    table: &str,
    key: &KeyId,
    start_us: i64,
    agg: &WindowAgg,
    ttl_s: i64,
) -> Result<Update, StoreError> {
    let mut names: Vec<(String, String)> =
        vec![("#ttl".into(), "ttl".into()), ("#kk".into(), "kk".into())];
    let mut values: Vec<(String, AttributeValue)> = vec![
        (":e5".into(), n(agg.entry_5xx)),
        (":x5".into(), n(agg.target_5xx)),
        (":t5".into(), n(agg.tally_5xx)),
        (":rq".into(), n(agg.requests)),
        (":rk".into(), n(u8::from(agg.requests_known))),
        (":ttl".into(), n(ttl_s)),
        (":kk".into(), s(key_kind_name(agg.key_kind))),
    ];
    let mut add = vec![
        "e5 :e5".to_owned(),
        "x5 :x5".to_owned(),
        "t5 :t5".to_owned(),
        "rq :rq".to_owned(),
        "rk :rk".to_owned(),
    ];
    let mut set = vec![
        "#ttl = :ttl".to_owned(),
        "#kk = if_not_exists(#kk, :kk)".to_owned(),
    ];
    for (i, (code, count)) in agg.status_codes.iter().enumerate() {
        names.push((format!("#c{i}"), format!("c{code}")));
        values.push((format!(":c{i}"), n(count)));
        add.push(format!("#c{i} :c{i}"));
    }
    for (i, (path, count)) in agg.paths.iter().enumerate() {
        names.push((format!("#p{i}"), format!("p:{path}")));
        values.push((format!(":p{i}"), n(count)));
        add.push(format!("#p{i} :p{i}"));
    }
    for (i, (reason, count)) in agg.error_reasons.iter().enumerate() {
        names.push((format!("#r{i}"), format!("r:{reason}")));
        values.push((format!(":r{i}"), n(count)));
        add.push(format!("#r{i} :r{i}"));
    }
    let times: Vec<String> = [agg.first_seen_us, agg.last_seen_us]
        .into_iter()
        .flatten()
        .map(|t| t.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !times.is_empty() {
        values.push((":ts".into(), AttributeValue::Ns(times)));
        add.push("ts :ts".to_owned());
    }
    if let Some(tg) = &agg.target_group {
        values.push((":tg".into(), s(&**tg)));
        set.push("tg = if_not_exists(tg, :tg)".to_owned());
    }
    if !agg.samples.is_empty() {
        let samples: Vec<SampleSlot> = agg.samples.iter().map(stored_sample).collect();
        let json = serde_json::to_string(&samples).map_err(|e| build_error("encode samples", e))?;
        values.push((":smp".into(), s(json)));
        set.push("smp = if_not_exists(smp, :smp)".to_owned());
    }
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(key_pk(key), window_sk(start_us))))
        .update_expression(format!("SET {} ADD {}", set.join(", "), add.join(", ")))
        .condition_expression("attribute_not_exists(fz)");
    for (k, v) in names {
        u = u.expression_attribute_names(k, v);
    }
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    u.build().map_err(|e| build_error("build window update", e))
}

fn stored_sample(slot: &SampleSlot) -> SampleSlot {
    let clip = |v: &Option<String>| {
        v.as_deref()
            .map(|t| clip_bytes_marked(t, MAX_STORED_SAMPLE_FIELD_BYTES).into_owned())
    };
    let mut out = slot.clone();
    let sm = &mut out.sample;
    sm.client = clip_bytes_marked(&sm.client, MAX_STORED_SAMPLE_FIELD_BYTES).into_owned();
    sm.target = clip(&sm.target);
    sm.request = clip(&sm.request);
    sm.user_agent = clip(&sm.user_agent);
    sm.error_reason = clip(&sm.error_reason);
    sm.trace_id = clip(&sm.trace_id);
    out
}

fn key_kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Target => "target",
        KeyKind::TargetGroup => "target_group",
        KeyKind::LoadBalancer => "load_balancer",
    }
}

fn key_kind_of(name: &str) -> KeyKind {
    match name {
        "target_group" => KeyKind::TargetGroup,
        "load_balancer" => KeyKind::LoadBalancer,
        _ => KeyKind::Target,
    }
}

/// A window item back into a [`StoredWindow`].
fn window_of(item: &HashMap<String, AttributeValue>) -> Option<StoredWindow> {
    let start_us = item
        .get("sk")?
        .as_s()
        .ok()?
        .strip_prefix("W#")?
        .parse()
        .ok()?;
    let kind = item
        .get("kk")
        .and_then(|v| v.as_s().ok())
        .map_or(KeyKind::Target, |k| key_kind_of(k));
    let mut agg = WindowAgg::new(kind);
    agg.entry_5xx = get_n(item, "e5").unwrap_or(0);
    agg.target_5xx = get_n(item, "x5").unwrap_or(0);
    agg.tally_5xx = get_n(item, "t5").unwrap_or(0);
    agg.requests = get_n(item, "rq").unwrap_or(0);
    agg.requests_known = get_n::<u64>(item, "rk").unwrap_or(0) > 0;
    for (name, value) in item {
        let Some(count) = value.as_n().ok().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        if let Some(reason) = name.strip_prefix("r:") {
            add_reason(&mut agg.error_reasons, reason, count);
        } else if let Some(path) = name.strip_prefix("p:") {
            add_reason(&mut agg.paths, path, count);
        } else if let Some(code) = name.strip_prefix('c').and_then(|c| c.parse::<u16>().ok()) {
            add_code(&mut agg.status_codes, code, count);
        }
    }
    if let Some(Ok(ts)) = item.get("ts").map(AttributeValue::as_ns) {
        let times: Vec<i64> = ts.iter().filter_map(|t| t.parse().ok()).collect();
        agg.first_seen_us = times.iter().min().copied();
        agg.last_seen_us = times.iter().max().copied();
    }
    agg.target_group = item
        .get("tg")
        .and_then(|v| v.as_s().ok())
        .map(|t| Arc::from(t.as_str()));
    agg.samples = item
        .get("smp")
        .and_then(|v| v.as_s().ok())
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    Some(StoredWindow {
        start_us,
        agg,
        frozen: item.get("fz").is_some(),
    })
}

impl DynamoStore {
    /// A store on `table` through `client`; `window_seconds` and `allowed_lateness_seconds`
    /// set the items' TTL, `clock` their reference.
    #[must_use]
    pub fn new(
        client: Client,
        table: &str,
        window_seconds: u32,
        allowed_lateness_seconds: u32,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        Self {
            client,
            table: Arc::from(table),
            window_us: i64::from(window_seconds) * 1_000_000,
            lateness_us: i64::from(allowed_lateness_seconds) * 1_000_000,
            clock,
            stats: Arc::default(),
        }
    }

    /// What was sent so far.
    #[must_use]
    pub fn stats(&self) -> RequestStats {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        RequestStats {
            reads: get(&self.stats.reads),
            updates: get(&self.stats.updates),
            transactions: get(&self.stats.transactions),
            transaction_items: get(&self.stats.transaction_items),
        }
    }

    fn count_read(&self) {
        self.stats
            .reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn count_update(&self) {
        self.stats
            .updates
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn count_transaction(&self, items: usize) {
        self.stats
            .transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .transaction_items
            .fetch_add(items as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    fn ttl_s(&self, at_us: i64) -> i64 {
        at_us / 1_000_000
    }

    /// Writes one transaction of records (ids + summed windows); on a cancellation, drops what
    /// failed into `report` and writes the rest again.
    async fn add_group(
        &self,
        key: &KeyId,
        mut records: Vec<RecordCounts>,
        report: &mut AddReport,
    ) -> Result<(), StoreError> {
        let mut conflicts = 0;
        loop {
            if records.is_empty() {
                return Ok(());
            }
            let now_us = self.clock.now_us();
            let mut items = Vec::new();
            for r in &records {
                let mut item = item_key(
                    format!("R#{}#{:016x}", key.load_balancer, r.id),
                    "R".to_owned(),
                );
                item.insert(
                    "ttl".to_owned(),
                    n(self.ttl_s(now_us + self.lateness_us + RECORD_ID_RETENTION_US)),
                );
                let put = Put::builder()
                    .table_name(&*self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| build_error("build record put", e))?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            let mut sums: std::collections::BTreeMap<i64, WindowAgg> = Default::default();
            for r in &records {
                for w in &r.windows {
                    sums.entry(w.start_us)
                        .and_modify(|a| a.merge(&w.agg))
                        .or_insert_with(|| w.agg.clone());
                }
            }
            let starts: Vec<i64> = sums.keys().copied().collect();
            for (start, agg) in &sums {
                let ttl =
                    self.ttl_s(start + self.window_us + self.lateness_us + WINDOW_RETENTION_US);
                let u = window_update(&self.table, key, *start, agg, ttl)?;
                items.push(TransactWriteItem::builder().update(u).build());
            }
            // None of these windows may be final by the stored watermark when they land:
            // otherwise an evaluation may already have folded past a window created now.
            if let Some(&first) = starts.first() {
                let limit = first
                    .saturating_add(self.window_us)
                    .saturating_add(self.lateness_us);
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(item_key(
                        PROGRESS_PK.to_owned(),
                        key.load_balancer.to_string(),
                    )))
                    .condition_expression("attribute_not_exists(fin) OR fin < :limit")
                    .expression_attribute_values(":limit", n(limit))
                    .build()
                    .map_err(|e| build_error("build watermark check", e))?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
                // Mark the key pending (unfolded counts), last: it has no condition.
                let mut marker = item_key(format!("P#{}", key.load_balancer), key.key.to_string());
                marker.insert(
                    "ttl".to_owned(),
                    n(
                        self.ttl_s(
                            now_us + self.window_us + self.lateness_us + WINDOW_RETENTION_US,
                        ),
                    ),
                );
                let put = Put::builder()
                    .table_name(&*self.table)
                    .set_item(Some(marker))
                    .build()
                    .map_err(|e| build_error("build pending put", e))?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            self.count_transaction(items.len());
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match cancelled(&e) {
                Some(Cancelled::Conditions(failed)) => {
                    for i in failed {
                        let late_from = if let Some(r) = records.get(i) {
                            report.duplicates.push(r.id);
                            continue;
                        } else if let Some(&start) = starts.get(i - records.len()) {
                            // That window is frozen.
                            Some(start..=start)
                        } else {
                            // The watermark moved on: every window now final is late.
                            let fin = self
                                .progress(&key.load_balancer)
                                .await?
                                .map_or(i64::MIN, |p| p.final_us);
                            let last_final = fin - self.window_us - self.lateness_us;
                            Some(i64::MIN..=last_final)
                        };
                        if let Some(late) = late_from {
                            for r in &mut records {
                                for w in r.windows.iter().filter(|w| late.contains(&w.start_us)) {
                                    report.late.push((r.id, w.start_us));
                                }
                                r.windows.retain(|w| !late.contains(&w.start_us));
                            }
                        }
                    }
                    records.retain(|r| !report.duplicates.contains(&r.id));
                }
                Some(Cancelled::Conflict) if conflicts + 1 < CONFLICT_RETRY.max_attempts => {
                    conflicts += 1;
                    tokio::time::sleep(CONFLICT_RETRY.jittered_backoff(conflicts)).await;
                }
                _ => return Err(backend("add counts", e)),
            }
        }
    }

    async fn query_all(
        &self,
        op: &'static str,
        pk: String,
        range: Option<(String, String)>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&*self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match &range {
                Some((from, to)) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", s(from.clone()))
                    .expression_attribute_values(":to", s(to.clone())),
                None => q.key_condition_expression("pk = :pk"),
            };
            self.count_read();
            let page = q.send().await.map_err(|e| backend(op, e))?;
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// The sort keys of a set partition (`A#<lb>`, `P#<lb>`): the keys it holds.
    async fn list_keys(&self, op: &'static str, pk: String) -> Result<Vec<Arc<str>>, StoreError> {
        let items = self.query_all(op, pk, None).await?;
        Ok(items
            .iter()
            .filter_map(|item| Some(Arc::from(item.get("sk")?.as_s().ok()?.as_str())))
            .collect())
    }

    /// A conditional update of a load balancer's progress item; a failed condition is not an
    /// error (the stored value was already further along).
    async fn update_progress(
        &self,
        op: &'static str,
        load_balancer: &str,
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut u = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(item_key(
                PROGRESS_PK.to_owned(),
                load_balancer.to_owned(),
            )))
            .update_expression(expression)
            .condition_expression(condition);
        for (k, v) in names {
            u = u.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            u = u.expression_attribute_values(k, v);
        }
        self.count_update();
        match u.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend(op, e)),
        }
    }
}

fn progress_of(item: &HashMap<String, AttributeValue>) -> Progress {
    Progress {
        seen_us: get_n(item, "seen").unwrap_or(0),
        final_us: get_n(item, "fin").unwrap_or(0),
        arrived_us: get_n(item, "arr").unwrap_or(0),
    }
}

impl StateStore for DynamoStore {
    async fn progress(&self, load_balancer: &str) -> Result<Option<Progress>, StoreError> {
        self.count_read();
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(item_key(
                PROGRESS_PK.to_owned(),
                load_balancer.to_owned(),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("read progress", e))?;
        Ok(out.item().map(progress_of))
    }

    async fn load_balancers(&self) -> Result<Vec<(Arc<str>, Progress)>, StoreError> {
        let items = self
            .query_all("list load balancers", PROGRESS_PK.to_owned(), None)
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let lb = item.get("sk")?.as_s().ok()?;
                Some((Arc::from(lb.as_str()), progress_of(item)))
            })
            .collect())
    }

    async fn add_counts(
        &self,
        key: &KeyId,
        records: &[RecordCounts],
    ) -> Result<AddReport, StoreError> {
        let mut report = AddReport::default();
        // Pack records (each with all its windows) into transactions of at most
        // MAX_TRANSACT_ITEMS items: one per record id, one per distinct window, the watermark
        // check and the pending marker.
        let mut group: Vec<RecordCounts> = Vec::new();
        let mut starts = std::collections::BTreeSet::new();
        for r in records {
            let new_starts = r
                .windows
                .iter()
                .filter(|w| !starts.contains(&w.start_us))
                .count();
            if !group.is_empty()
                && group.len() + 1 + starts.len() + new_starts + 2 > MAX_TRANSACT_ITEMS
            {
                self.add_group(key, std::mem::take(&mut group), &mut report)
                    .await?;
                starts.clear();
            }
            starts.extend(r.windows.iter().map(|w| w.start_us));
            group.push(r.clone());
        }
        self.add_group(key, group, &mut report).await?;
        Ok(report)
    }

    async fn advance(
        &self,
        load_balancer: &str,
        seen_us: Option<i64>,
        arrived_us: i64,
    ) -> Result<(), StoreError> {
        let ttl = n(self.ttl_s(arrived_us + IDLE_LEDGER_RETENTION_US));
        self.update_progress(
            "record arrival",
            load_balancer,
            "SET arr = :a, #ttl = :ttl",
            "attribute_not_exists(arr) OR arr < :a",
            &[("#ttl", "ttl")],
            vec![(":a", n(arrived_us)), (":ttl", ttl)],
        )
        .await?;
        if let Some(seen) = seen_us {
            self.update_progress(
                "move watermark",
                load_balancer,
                "SET seen = :s, fin = :s",
                "(attribute_not_exists(seen) OR seen < :s) AND (attribute_not_exists(fin) OR fin < :s)",
                &[],
                vec![(":s", n(seen))],
            )
            .await?;
        }
        Ok(())
    }

    async fn flush(&self, load_balancer: &str, final_us: i64) -> Result<(), StoreError> {
        self.update_progress(
            "flush",
            load_balancer,
            "SET fin = :f",
            "attribute_exists(fin) AND fin < :f",
            &[],
            vec![(":f", n(final_us))],
        )
        .await
    }

    async fn ledger(&self, key: &KeyId) -> Result<Option<Versioned<Ledger>>, StoreError> {
        self.count_read();
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(item_key(key_pk(key), "L".to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("read ledger", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let corrupt = |message: String| StoreError::Corrupt {
            item: format!("{}/L", key_pk(key)),
            message,
        };
        let json = item
            .get("st")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| corrupt("no st attribute".into()))?;
        let value: Ledger = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
        let version = get_n(item, "v").ok_or_else(|| corrupt("no version".into()))?;
        Ok(Some(Versioned { value, version }))
    }

    async fn windows(
        &self,
        key: &KeyId,
        after_us: Option<i64>,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        let from = after_us.map_or_else(|| "W#".to_owned(), |a| window_sk(a.saturating_add(1)));
        let items = self
            .query_all("read windows", key_pk(key), Some((from, "W#~".to_owned())))
            .await?;
        Ok(items.iter().filter_map(window_of).collect())
    }

    async fn freeze(&self, key: &KeyId, start_us: i64) -> Result<Option<WindowAgg>, StoreError> {
        self.count_update();
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(item_key(key_pk(key), window_sk(start_us))))
            .update_expression("SET fz = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes().and_then(window_of).map(|w| w.agg)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(backend("freeze window", e)),
        }
    }

    async fn save_ledger(
        &self,
        key: &KeyId,
        ledger: &Ledger,
        expected: Option<u64>,
        was_active: bool,
    ) -> Result<bool, StoreError> {
        let mut json =
            serde_json::to_string(ledger).map_err(|e| build_error("encode ledger", e))?;
        if json.len() > MAX_LEDGER_JSON_BYTES {
            tracing::warn!(load_balancer = %key.load_balancer, key = %key.key, bytes = json.len(), "ledger too large for one item: its sample requests are dropped");
            json = serde_json::to_string(&ledger.without_samples())
                .map_err(|e| build_error("encode ledger", e))?;
        }
        let version = expected.map_or(1, |v| v + 1);
        let active = ledger.is_active();
        let mut item = item_key(key_pk(key), "L".to_owned());
        item.insert("st".to_owned(), s(json));
        item.insert("v".to_owned(), n(version));
        if !active {
            let ttl = self.ttl_s(self.clock.now_us() + IDLE_LEDGER_RETENTION_US);
            item.insert("ttl".to_owned(), n(ttl));
        }
        let (condition, values) = match expected {
            None => ("attribute_not_exists(pk)", None),
            Some(v) => ("v = :v", Some(n(v))),
        };
        if active == was_active {
            // The active set is unchanged: one conditional write.
            self.count_update();
            let result = self
                .client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values(
                    values.map(|v| HashMap::from([(":v".to_owned(), v)])),
                )
                .send()
                .await;
            return match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(backend("save ledger", e)),
            };
        }
        let mut conflicts = 0;
        loop {
            let put = Put::builder()
                .table_name(&*self.table)
                .set_item(Some(item.clone()))
                .condition_expression(condition)
                .set_expression_attribute_values(
                    values
                        .clone()
                        .map(|v| HashMap::from([(":v".to_owned(), v)])),
                )
                .build()
                .map_err(|e| build_error("build ledger put", e))?;
            let member = item_key(format!("A#{}", key.load_balancer), key.key.to_string());
            let membership = if active {
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&*self.table)
                            .set_item(Some(member))
                            .build()
                            .map_err(|e| build_error("build active put", e))?,
                    )
                    .build()
            } else {
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&*self.table)
                            .set_key(Some(member))
                            .build()
                            .map_err(|e| build_error("build active delete", e))?,
                    )
                    .build()
            };
            self.count_transaction(2);
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(membership)
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            match cancelled(&e) {
                Some(Cancelled::Conditions(_)) => return Ok(false),
                Some(Cancelled::Conflict) if conflicts + 1 < CONFLICT_RETRY.max_attempts => {
                    conflicts += 1;
                    tokio::time::sleep(CONFLICT_RETRY.jittered_backoff(conflicts)).await;
                }
                // A conflict that lasts: someone else is writing this ledger; decide again.
                Some(Cancelled::Conflict) => return Ok(false),
                None => return Err(backend("save ledger", e)),
            }
        }
    }

    async fn active_keys(&self, load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        self.list_keys("list active keys", format!("A#{load_balancer}"))
            .await
    }

    async fn pending_keys(&self, load_balancer: &str) -> Result<Vec<Arc<str>>, StoreError> {
        self.list_keys("list pending keys", format!("P#{load_balancer}"))
            .await
    }

    async fn clear_pending(&self, key: &KeyId) -> Result<(), StoreError> {
        self.count_update();
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(item_key(
                format!("P#{}", key.load_balancer),
                key.key.to_string(),
            )))
            .send()
            .await
            .map_err(|e| backend("clear pending key", e))?;
        Ok(())
    }
}
