use super::*;
use crate::alb::time::parse_time_us;
use crate::alert::store::StoredWindow;
use crate::alert::store::memory::MemoryStore;
use crate::alert::window::tests::{entry, record, tally};
use crate::clock::ManualClock;
use crate::notify::notification;
use crate::record::{ForwardMode, RecordEntry, Tally};
use proptest::prelude::*;

const LB: &str = "app/shop/1";
const T1: &str = "10.0.1.11:8080";

/// An engine on an in-memory store, driven synchronously (the memory store never waits), with
/// a wall clock that moves only when told to.
struct Harness {
    e: Engine<MemoryStore>,
    clock: ManualClock,
    rt: tokio::runtime::Runtime,
}

fn engine() -> Harness {
    with_config(AlertConfig::default())
}

fn with_config(config: AlertConfig) -> Harness {
    let clock = ManualClock::at(parse_time_us("2026-01-01T00:00:00Z").expect("time"));
    let store = MemoryStore::new(config.dedupe_capacity);
    Harness {
        e: Engine::new(config, store, Arc::new(clock.clone())).expect("valid config"),
        clock,
        rt: tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime"),
    }
}

impl Harness {
    /// One record as one batch; what it counted.
    fn ingest(&self, r: &Record<'_>) -> Counters {
        let batch = self.e.batch();
        batch.ingest(r);
        self.commit(batch)
    }

    /// One record's bytes as one batch (poison included in the counters).
    fn ingest_bytes(&self, data: &[u8]) -> Result<Counters, PoisonRecord> {
        let batch = self.e.batch();
        let result = batch.ingest_bytes(data);
        let c = self.commit(batch);
        result.map(|_| c)
    }

    fn commit(&self, batch: Batch) -> Counters {
        let committed = self.rt.block_on(self.e.commit(batch));
        assert!(committed.failed.is_empty());
        committed.counters
    }

    fn claim(&self) -> Vec<Claim> {
        let evaluation = self.rt.block_on(self.e.evaluate_all());
        assert!(evaluation.failed.is_empty());
        evaluation.claims
    }

    /// What is due now, claimed and then released as if its delivery failed.
    fn evaluate(&self) -> Vec<Notification> {
        let claims = self.claim();
        assert!(self.rt.block_on(self.e.settle(&claims, false)).is_empty());
        claims
            .iter()
            .flat_map(|c| c.notifications().cloned())
            .collect()
    }

    /// What is due now, claimed and confirmed as delivered.
    fn deliver(&self) -> Vec<Notification> {
        let claims = self.claim();
        assert!(self.rt.block_on(self.e.settle(&claims, true)).is_empty());
        claims
            .iter()
            .flat_map(|c| c.notifications().cloned())
            .collect()
    }

    fn finish(&self) {
        self.rt.block_on(self.e.finish()).expect("memory store");
    }

    fn counters(&self) -> Counters {
        self.e.counters()
    }

    fn config(&self) -> &AlertConfig {
        self.e.config()
    }

    fn window_count(&self) -> usize {
        self.e.store().window_count()
    }

    fn key_count(&self) -> usize {
        self.e.store().ledger_count()
    }

    fn windows_snapshot(&self) -> Vec<(KeyId, StoredWindow)> {
        self.e.store().windows_snapshot()
    }

    /// The load balancer's event-time watermark.
    fn watermark(&self, lb: &str) -> Option<String> {
        self.rt
            .block_on(self.e.store().progress(lb))
            .expect("memory store")
            .map(|p| notification::format_time(&micros_to_datetime(p.seen_us)))
    }
}

fn minute(m: u32) -> String {
    // 22:00 + m minutes on 2025-06-21 (m may run past midnight).
    let t = parse_time_us("2025-06-21T22:00:00Z").expect("time") + i64::from(m) * 60_000_000;
    micros_to_datetime(t).format("%Y-%m-%dT%H:%M").to_string()
}

/// A record of `key` for minute `m`: `errors` 5xx entries plus a tally of `requests`.
fn minute_record(
    key: &str,
    seq: u64,
    m: u32,
    errors: u64,
    requests: Option<u64>,
) -> Record<'static> {
    let entries = (0..errors)
        .map(|i| entry(i, &format!("{}:{:02}.{:06}Z", minute(m), i % 60, i), 502))
        .collect();
    let tallies = requests
        .map(|r| vec![tally(&minute(m), r.max(errors), errors)])
        .unwrap_or_default();
    record(LB, key, seq, entries, tallies)
}

fn statuses(ns: &[Notification]) -> Vec<(String, Status, bool)> {
    ns.iter()
        .map(|n| (n.target.clone(), n.status, n.escalation))
        .collect()
}

/// Evaluates and confirms everything (a notifier that always succeeds).
fn deliver(e: &Harness) -> Vec<Notification> {
    e.deliver()
}

#[test]
fn fires_as_soon_as_a_window_crosses_then_resolves_after_five_final_windows() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 5, Some(1000)));
    assert!(deliver(&e).is_empty(), "5 < min_5xx");
    let mut seq = 1;
    e.ingest(&minute_record(T1, seq, 1, 40, Some(400)));
    let ns = deliver(&e);
    assert_eq!(statuses(&ns), [(T1.to_owned(), Status::Firing, false)]);
    let n = &ns[0];
    assert_eq!(n.load_balancer, LB);
    assert_eq!(n.target_kind, TargetKind::Target);
    assert_eq!(n.count_5xx, 40);
    assert_eq!(n.requests, Some(400));
    assert_eq!(n.error_rate, Some(0.1));
    assert_eq!(n.status_codes.get("502"), Some(&40));
    assert_eq!(n.samples.len(), 3);
    assert_eq!(n.target_group.as_deref(), Some("arn:tg/shop"));
    assert_eq!(
        notification::format_time(&n.window_start),
        "2025-06-21T22:01:00Z"
    );
    assert_eq!(
        notification::format_time(&n.window_end),
        "2025-06-21T22:02:00Z"
    );
    assert_eq!(
        n.first_seen
            .map(|t| notification::format_time(&t))
            .as_deref(),
        Some("2025-06-21T22:01:00Z")
    );

    // Healthy minutes 2..: each window becomes final 10 minutes after its end.
    let mut resolved_at = None;
    for m in 2..40 {
        seq += 1;
        e.ingest(&minute_record(T1, seq, m, 1, Some(500)));
        let ns = deliver(&e);
        if !ns.is_empty() {
            assert_eq!(statuses(&ns), [(T1.to_owned(), Status::Resolved, false)]);
            let n = &ns[0];
            // Recovery windows 22:02..22:07, final once 22:07 + 10 min <= watermark.
            assert_eq!(
                notification::format_time(&n.window_start),
                "2025-06-21T22:02:00Z"
            );
            assert_eq!(
                notification::format_time(&n.window_end),
                "2025-06-21T22:07:00Z"
            );
            assert_eq!(n.count_5xx, 5);
            assert_eq!(n.requests, Some(2500));
            assert!(n.samples.is_empty());
            assert!(resolved_at.is_none(), "resolved once");
            resolved_at = Some(m);
        }
    }
    assert_eq!(resolved_at, Some(17));
    assert_eq!(e.key_count(), 1, "only the open windows' key remains");
}

#[test]
fn unknown_request_counts_skip_the_rate_check_and_are_null() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 10, None));
    let ns = e.evaluate();
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].requests, None);
    assert_eq!(ns[0].error_rate, None);
    let json = serde_json::to_value(&ns[0]).expect("json");
    assert!(json["requests"].is_null() && json["error_rate"].is_null());

    // Same count with a known, large request count: below 5 %.
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 10, Some(201)));
    assert!(e.evaluate().is_empty());
}

#[test]
fn repeat_interval_and_escalation_run_in_event_time() {
    let config = AlertConfig {
        repeat_interval_seconds: 1800,
        ..AlertConfig::default()
    };
    let e = with_config(config);
    e.ingest(&minute_record(T1, 0, 0, 20, Some(100)));
    assert_eq!(
        statuses(&deliver(&e)),
        [(T1.to_owned(), Status::Firing, false)]
    );
    // Still firing at a similar level: nothing for 30 minutes of event time.
    let mut seq = 1;
    for m in 1..30 {
        e.ingest(&minute_record(T1, seq, m, 25, Some(100)));
        seq += 1;
        assert!(deliver(&e).is_empty(), "minute {m}");
    }
    // 40 >= 2 × 20: escalation, at once.
    e.ingest(&minute_record(T1, seq, 30, 40, Some(100)));
    seq += 1;
    let ns = deliver(&e);
    assert_eq!(statuses(&ns), [(T1.to_owned(), Status::Firing, true)]);
    assert_eq!(ns[0].count_5xx, 40);
    // Repeat 1800 s of event time after the escalation (watermark 22:30:39.000039 then),
    // showing the latest crossing window.
    let mut repeated = Vec::new();
    for m in 31..70 {
        e.ingest(&minute_record(T1, seq, m, 25, Some(100)));
        seq += 1;
        for n in deliver(&e) {
            assert_eq!(
                (n.status, n.escalation, n.count_5xx),
                (Status::Firing, false, 25)
            );
            assert_eq!(n.window_start.format("%H:%M").to_string(), "23:01");
            repeated.push(m);
        }
    }
    assert_eq!(repeated, [61]);
}

#[test]
fn late_data_is_dropped_counted_and_does_not_reopen_windows() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 30, 1, Some(100)));
    let before = e.window_count();
    // 22:19 ends 22:20; + 10 min = 22:30 <= watermark 22:30:00: final, so late.
    let late = e.ingest(&minute_record(T1, 1, 19, 50, Some(60)));
    assert_eq!(late.late_entries, 50);
    assert_eq!(late.late_tallies, 1);
    assert_eq!(e.window_count(), before);
    // 22:20 is still open.
    let ok = e.ingest(&minute_record(T1, 2, 20, 50, Some(60)));
    assert_eq!(ok.entries, 50);
    assert_eq!(e.counters().late_entries, 50);
    assert_eq!(e.counters().late_tallies, 1);
    assert_eq!(
        statuses(&e.evaluate()),
        [(T1.to_owned(), Status::Firing, false)]
    );
}

#[test]
fn load_balancer_generated_errors_are_labelled() {
    let e = engine();
    let arn = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop/1";
    let mut r = minute_record(arn, 0, 0, 30, Some(40));
    r.header.key_kind = KeyKind::TargetGroup;
    for en in &mut r.entries {
        en.target_ip = None;
        en.target_port = None;
        en.elb_status_code = Some(503);
    }
    e.ingest(&r);
    let mut r = minute_record(LB, 1, 0, 12, Some(12));
    r.header.key_kind = KeyKind::LoadBalancer;
    e.ingest(&r);
    let ns = e.evaluate();
    let kinds: Vec<(&str, TargetKind)> = ns
        .iter()
        .map(|n| (n.target.as_str(), n.target_kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (LB, TargetKind::LoadBalancer),
            (arn, TargetKind::TargetGroup)
        ]
    );
    assert_eq!(ns[1].status_codes.get("503"), Some(&30));
    assert_eq!(ns[1].samples[0].target, None);
}

#[test]
fn a_failed_delivery_backs_off_is_retried_and_is_never_sent_twice() {
    let e = engine();
    let records: Vec<Vec<u8>> = (0..3)
        .map(|i| serde_json::to_vec(&minute_record(T1, i, i as u32, 20, Some(100))).expect("json"))
        .collect();
    for r in &records {
        e.ingest_bytes(r).expect("valid");
    }
    let first = e.evaluate();
    assert_eq!(first.len(), 1);
    assert!(e.evaluate().is_empty(), "pending, backing off");
    // The retried batch: all duplicates, nothing counted twice.
    for r in &records {
        assert_eq!(e.ingest_bytes(r).expect("valid").duplicates, 1);
    }
    assert_eq!(e.counters().duplicates, 3);
    assert!(e.evaluate().is_empty(), "still backing off");
    e.clock.advance(31_000_000);
    assert_eq!(e.evaluate(), first, "retried after the backoff, unchanged");
    assert!(e.evaluate().is_empty(), "backing off longer");
    e.clock.advance(61_000_000);
    assert_eq!(e.deliver(), first);
    e.clock.advance(3_600_000_000);
    assert!(e.evaluate().is_empty(), "delivered: never sent twice");
    for r in &records {
        e.ingest_bytes(r).expect("valid");
    }
    assert!(e.evaluate().is_empty());
}

/// A claim whose environment died before confirming is retried once its lease ends, and only
/// then.
#[test]
fn an_unconfirmed_claim_is_retried_after_its_lease() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 20, Some(100)));
    let claimed = e.claim();
    assert_eq!(claimed.len(), 1);
    assert!(e.claim().is_empty(), "claimed by the first environment");
    e.clock.advance(crate::alert::ledger::DELIVERY_LEASE_US);
    let again = e.claim();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].notifications().collect::<Vec<_>>(),
        claimed[0].notifications().collect::<Vec<_>>()
    );
}

#[test]
fn an_incident_inside_one_batch_is_announced_firing_and_resolved() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 50, Some(100)));
    for m in 1..20 {
        e.ingest(&minute_record(T1, u64::from(m), m, 0, Some(100)));
    }
    let ns = e.deliver();
    assert_eq!(
        statuses(&ns),
        [
            (T1.to_owned(), Status::Firing, false),
            (T1.to_owned(), Status::Resolved, false)
        ]
    );
    e.clock.advance(3_600_000_000);
    assert!(e.evaluate().is_empty(), "delivered once");
}

#[test]
fn finish_makes_windows_final_so_the_resolution_is_announced() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 50, Some(100)));
    assert_eq!(deliver(&e).len(), 1);
    for m in 1..7 {
        e.ingest(&minute_record(T1, u64::from(m), m, 0, Some(100)));
    }
    assert!(deliver(&e).is_empty(), "recovery windows not final yet");
    e.finish();
    let ns = deliver(&e);
    assert_eq!(statuses(&ns), [(T1.to_owned(), Status::Resolved, false)]);
    assert_eq!(e.window_count(), 0);
    // Finishing did not move the event-time clock.
    assert_eq!(e.watermark(LB).as_deref(), Some("2025-06-21T22:06:00Z"));
}

#[test]
fn poison_records_are_errors_and_counted() {
    let e = engine();
    assert!(e.ingest_bytes(b"").is_err());
    assert!(e.ingest_bytes(b"{not json").is_err());
    assert!(e.ingest_bytes(b"[1,2,3]").is_err());
    let mut v2 = serde_json::to_value(minute_record(T1, 0, 0, 1, None)).expect("json");
    v2["v"] = 2.into();
    let err = e
        .ingest_bytes(&serde_json::to_vec(&v2).expect("json"))
        .expect_err("v2");
    assert!(err.to_string().contains("version 2"), "{err}");
    assert_eq!(e.counters().poison, 4);
    assert_eq!(e.counters().records, 0);
}

proptest! {
    #[test]
    fn poison_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let e = engine();
        let _ = e.ingest_bytes(&data);
        let _ = e.evaluate();
    }
}

#[test]
fn memory_is_bounded_by_active_keys_times_open_windows() {
    let e = engine();
    let config = e.config().clone();
    let per_key =
        (config.window_seconds + config.allowed_lateness_seconds) / config.window_seconds + 1;
    let mut seq = 0;
    let mut max_windows = 0;
    let mut max_keys = 0;
    let mut announced = 0;
    // 24 hours; every hour a new set of 10 targets (240 in all). Target 0 of each hour fails
    // for its first 10 minutes; all targets vanish when their hour ends.
    for m in 0..(24 * 60) {
        let hour = m / 60;
        for t in 0..10 {
            let key = format!("10.{hour}.0.{t}:8080");
            let errors = if t == 0 && m % 60 < 10 { 30 } else { 0 };
            e.ingest(&minute_record(&key, seq, m, errors, Some(300)));
            seq += 1;
        }
        if m % 5 == 4 {
            announced += deliver(&e).len();
            max_windows = max_windows.max(e.window_count());
            max_keys = max_keys.max(e.key_count());
        }
    }
    // Two hours' targets overlap at most while the old ones' windows finalize.
    assert!(
        max_windows <= 20 * per_key as usize,
        "{max_windows} windows"
    );
    assert!(max_keys <= 20, "{max_keys} keys");
    e.finish();
    announced += deliver(&e).len();
    // 24 firing + 24 resolved; nothing else.
    assert_eq!(announced, 48);
    assert_eq!(e.window_count(), 0);
    assert!(e.key_count() <= 10, "{} keys", e.key_count());
    assert!(e.evaluate().is_empty());
}

#[test]
fn a_firing_target_that_vanishes_resolves_as_stale() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 0, 50, Some(100)));
    assert_eq!(deliver(&e).len(), 1);
    let mut resolved = None;
    for m in 1..100 {
        // Only another target keeps the load balancer's clock going.
        e.ingest(&minute_record(
            "10.0.1.12:8080",
            u64::from(m),
            m,
            0,
            Some(100),
        ));
        let ns = deliver(&e);
        if !ns.is_empty() {
            assert_eq!(statuses(&ns), [(T1.to_owned(), Status::Resolved, false)]);
            assert_eq!(ns[0].requests, None);
            resolved.get_or_insert(m);
        }
    }
    // Last traffic ended 22:01; stale after 3600 s: 23:01.
    assert_eq!(resolved, Some(61));
}

#[test]
fn concurrent_ingestion_counts_like_sequential() {
    let records: Vec<Record<'static>> = (0..200)
        .map(|i| {
            minute_record(
                &format!("10.0.0.{}:80", i % 7),
                i,
                (i % 9) as u32,
                i % 13,
                Some(100 + i),
            )
        })
        .collect();
    let sequential = engine();
    for r in &records {
        sequential.ingest(r);
    }
    // One batch counted on four threads at once (the per-invocation DashMap).
    let parallel = engine();
    let batch = parallel.e.batch();
    std::thread::scope(|s| {
        for chunk in records.chunks(50) {
            let batch = &batch;
            s.spawn(move || {
                for r in chunk {
                    batch.ingest(r);
                }
            });
        }
    });
    parallel.commit(batch);
    assert_eq!(parallel.windows_snapshot(), sequential.windows_snapshot());
    assert_eq!(parallel.counters(), sequential.counters());
}

/// (minute offset, millisecond in minute, status, error reason)
type EntrySpec = (u32, u32, u16, Option<&'static str>);
/// (load balancer, key, all mode, entries, tallies as (minute offset, total))
type RecordSpec = (usize, usize, bool, Vec<EntrySpec>, Vec<(u32, u64)>);

fn arb_entry() -> impl Strategy<Value = EntrySpec> {
    (
        0u32..5,
        0u32..60_000,
        prop_oneof![
            Just(200u16),
            Just(404),
            Just(500),
            Just(502),
            Just(503),
            Just(504)
        ],
        prop_oneof![
            Just(None),
            Just(Some("TargetTimeout")),
            Just(Some("LambdaInvalidResponse"))
        ],
    )
}

fn arb_record() -> impl Strategy<Value = RecordSpec> {
    (
        0usize..2,
        0usize..3,
        any::<bool>(),
        proptest::collection::vec(arb_entry(), 0..12),
        proptest::collection::vec((0u32..5, 0u64..500), 0..3),
    )
}

fn build(seq: u64, (lb, key, all, entries, tallies): &RecordSpec) -> Record<'static> {
    let entries: Vec<RecordEntry<'static>> = entries
        .iter()
        .enumerate()
        .map(|(i, &(m, ms, code, reason))| {
            let mut en = entry(
                seq * 100 + i as u64,
                &format!("{}:{:02}.{:03}Z", minute(40 + m), ms / 1000, ms % 1000),
                code,
            );
            en.error_reason = reason.map(Into::into);
            en
        })
        .collect();
    let tallies: Vec<Tally<'static>> = if *all {
        Vec::new()
    } else {
        tallies
            .iter()
            .map(|&(m, total)| tally(&minute(40 + m), total, total / 10))
            .collect()
    };
    let mut r = record(
        &format!("lb{lb}"),
        &format!("10.0.0.{key}:80"),
        seq,
        entries,
        tallies,
    );
    if *all {
        r.header.mode = ForwardMode::All;
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Counting is commutative: any order, any batching (with evaluations between batches),
    /// any duplicates give the same windows. (All times lie within the allowed lateness, so
    /// nothing is late.)
    #[test]
    fn counts_do_not_depend_on_order_batching_or_duplicates(
        specs in proptest::collection::vec(arb_record(), 1..25),
        order in any::<u64>(),
        cuts in proptest::collection::vec(any::<bool>(), 50),
        dups in proptest::collection::vec(any::<bool>(), 50),
    ) {
        let records: Vec<Record<'static>> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| build(i as u64, s))
            .collect();
        let reference = engine();
        for r in &records {
            reference.ingest(r);
        }

        let mut shuffled: Vec<&Record<'static>> = records.iter().collect();
        // Deterministic Fisher-Yates from the generated seed.
        let mut state = order | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let other = engine();
        let mut extra = 0;
        for (i, r) in shuffled.iter().enumerate() {
            other.ingest(r);
            if dups[i % dups.len()] {
                prop_assert_eq!(other.ingest(r).duplicates, 1);
                extra += 1;
            }
            if cuts[i % cuts.len()] {
                let _ = other.evaluate();
            }
        }
        let _ = other.evaluate();
        prop_assert_eq!(other.windows_snapshot(), reference.windows_snapshot());
        let (a, b) = (other.counters(), reference.counters());
        prop_assert_eq!(a.duplicates, extra);
        prop_assert_eq!(a.entries, b.entries);
        prop_assert_eq!(a.tallies, b.tallies);
        prop_assert_eq!(a.late_entries + a.late_tallies, 0);
    }
}

#[test]
fn windows_snapshot_is_keyed_by_load_balancer_key_and_start() {
    let e = engine();
    e.ingest(&minute_record(T1, 0, 3, 2, Some(10)));
    let snap = e.windows_snapshot();
    assert_eq!(snap.len(), 1);
    let (id, w) = &snap[0];
    assert_eq!((&*id.load_balancer, &*id.key), (LB, T1));
    assert_eq!(Some(w.start_us), parse_time_us("2025-06-21T22:03:00Z"));
    assert_eq!(w.agg.requests(), Some(10));
}

/// The `fixtures/incident` logs, run through the real ingest (errors mode) into records, one
/// evaluation per log file, then the end of input.
#[test]
fn incident_fixture_fires_and_resolves_the_right_keys_once() {
    let records = incident_records();
    let e = engine();
    let mut all = Vec::new();
    for file in &records {
        for data in file {
            e.ingest_bytes(data).expect("valid record");
        }
        all.extend(deliver(&e));
    }
    e.finish();
    all.extend(deliver(&e));
    let c = e.counters();
    assert_eq!(c.poison + c.duplicates + c.late_entries + c.late_tallies, 0);
    assert_eq!(c.entries_5xx, 764 + 34 + 847 + 27);

    let tg =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff";
    let got: Vec<(&str, Status, String)> = all
        .iter()
        .map(|n| {
            (
                n.target.as_str(),
                n.status,
                notification::format_time(&n.window_start),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "10.0.1.11:8080",
                Status::Firing,
                "2025-06-21T22:44:00Z".to_owned()
            ),
            (tg, Status::Firing, "2025-06-21T22:45:00Z".to_owned()),
            (
                "10.0.1.11:8080",
                Status::Resolved,
                "2025-06-21T22:49:00Z".to_owned()
            ),
            (tg, Status::Resolved, "2025-06-21T22:46:00Z".to_owned()),
        ],
        "{all:#?}"
    );
    let fire = &all[0];
    assert_eq!((fire.count_5xx, fire.requests), (160, Some(394)));
    assert_eq!(fire.status_codes.values().sum::<u64>(), 160);
    assert_eq!(all[1].target_kind, TargetKind::TargetGroup);
    // The README's 805 requests without a target include redirects and WAF blocks, which have
    // no target group either: they count under the load balancer's own key.
    assert_eq!((all[1].count_5xx, all[1].requests), (764, Some(768)));
}

/// Records of each incident log file, in file (time) order.
pub(crate) fn incident_records() -> Vec<Vec<Vec<u8>>> {
    use crate::ingest::{Deadline, IngestConfig, MemorySink, ingest_reader};
    use crate::record::SourceId;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    files
        .iter()
        .map(|path| {
            let sink = MemorySink::new();
            let source = SourceId {
                bucket: "local".into(),
                key: path.display().to_string().into(),
                etag: None,
                version_id: None,
            };
            let file = std::fs::File::open(path).expect("open");
            runtime
                .block_on(ingest_reader(
                    file,
                    source,
                    &IngestConfig::default(),
                    &sink,
                    Deadline::none(),
                ))
                .expect("ingest");
            sink.take().into_iter().map(|r| r.data).collect()
        })
        .collect()
}

/// What an engine holds after ingesting: windows, counters and the watermark.
fn engine_state(e: &Harness) -> (Vec<(KeyId, StoredWindow)>, Counters, Option<String>) {
    (e.windows_snapshot(), e.counters(), e.watermark("lb0"))
}

impl Harness {
    /// Parses the whole [`Record`] first, then counts it as one batch.
    fn ingest_slice(&self, data: &mut [u8]) -> Result<Counters, PoisonRecord> {
        match Record::from_slice(data) {
            Ok(r) => Ok(self.ingest(&r)),
            Err(e) => {
                let batch = self.e.batch();
                batch.poison.fetch_add(1, Ordering::Relaxed);
                self.commit(batch);
                Err(PoisonRecord(e))
            }
        }
    }
}

/// An entry spec with a time that may be invalid (`kind` 0) or far in the future (`kind` 1).
type TimedEntry = (u32, u32, u16, u8);
/// A record spec: log object, entries, tallies `(minute, total)`, `all` mode.
type TimedRecord = (u64, Vec<TimedEntry>, Vec<(u32, u64)>, bool);

fn arb_timed_records() -> impl Strategy<Value = Vec<TimedRecord>> {
    let entry = (
        0u32..40,
        0u32..60_000,
        prop_oneof![Just(200u16), Just(502), Just(504)],
        0u8..12,
    );
    proptest::collection::vec(
        (
            0u64..4, // object: records of one object share a lateness reference
            proptest::collection::vec(entry, 0..8),
            proptest::collection::vec((0u32..40, 0u64..100), 0..3),
            any::<bool>(), // all mode
        ),
        1..10,
    )
}

fn timed_record(
    seq: u64,
    object: u64,
    entries: &[TimedEntry],
    tallies: &[(u32, u64)],
    all: bool,
) -> Record<'static> {
    let time = |m: u32, ms: u32, kind: u8| match kind {
        0 => "not a time".to_owned(),
        1 => "2999-01-01T00:00:00Z".to_owned(),
        _ => format!("{}:{:02}.{:03}Z", minute(m * 3), ms / 1000, ms % 1000),
    };
    let entries = entries
        .iter()
        .enumerate()
        .map(|(i, &(m, ms, code, kind))| {
            let mut en = entry(seq * 100 + i as u64, &time(m, ms, kind), code);
            if kind % 3 == 0 {
                en.error_reason = Some("TargetTimeout".into());
                en.client_ip = None;
            }
            en
        })
        .collect();
    let tallies = tallies
        .iter()
        .map(|&(m, total)| tally(&minute(m * 3), total, total / 4))
        .collect();
    let mut r = record("lb0", T1, seq, entries, tallies);
    r.header.source.key = format!("k{object}").into();
    if all {
        r.header.mode = ForwardMode::All;
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `ingest_bytes` counts while parsing; it must count exactly like parsing a whole
    /// [`Record`] first (`Harness::ingest_slice`), late, invalid and future times included, and treat
    /// damaged bytes the same way: a record both reject leaves no counts behind.
    #[test]
    fn streaming_ingest_counts_like_parsing_the_record_first(
        specs in arb_timed_records(),
        damage in proptest::collection::vec((any::<bool>(), any::<prop::sample::Index>(), any::<u8>()), 10),
    ) {
        let whole = engine();
        let streamed = engine();
        for (i, (object, entries, tallies, all)) in specs.iter().enumerate() {
            let r = timed_record(i as u64, *object, entries, tallies, *all);
            let mut data = serde_json::to_vec(&r).expect("json");
            let (cut, at, byte) = damage[i % damage.len()];
            if cut {
                let at = at.index(data.len() + 1);
                data.truncate(at);
            } else if i % 3 == 0 {
                let at = at.index(data.len());
                data[at] = byte;
            }
            let a = whole.ingest_slice(&mut data.clone());
            let b = streamed.ingest_bytes(&data);
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{:?} vs {:?}", a, b);
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a, b);
            }
            prop_assert_eq!(engine_state(&streamed), engine_state(&whole));
        }
        let _ = (whole.evaluate(), streamed.evaluate());
        prop_assert_eq!(engine_state(&streamed), engine_state(&whole));
    }
}

/// A record that turns out malformed after some entries were read counts as poison only: no
/// entries, windows, watermark or dedupe key are left behind, and the intact record is then
/// ingested normally.
#[test]
fn a_record_malformed_halfway_leaves_no_counts() {
    let good = serde_json::to_string(&minute_record(T1, 0, 0, 5, Some(100))).expect("json");
    let bad_entry = good.replacen("\"line\":4,", "\"line\":\"four\",", 1);
    let bad_tally = good.replacen("\"total\":100", "\"total\":-1", 1);
    let duplicate_entries = good.replacen("\"entries\":", "\"entries\":[],\"entries\":", 1);
    let missing_header = good.replacen("\"seq\":0,", "", 1);
    for bad in [&bad_entry, &bad_tally, &duplicate_entries, &missing_header] {
        assert_ne!(bad, &good);
        let e = engine();
        assert!(e.ingest_bytes(bad.as_bytes()).is_err(), "{bad}");
        let c = e.counters();
        assert_eq!((c.poison, c.records, c.entries, c.tallies), (1, 0, 0, 0));
        assert_eq!(e.window_count(), 0);
        assert_eq!(e.watermark(LB), None);
        let ok = e.ingest_bytes(good.as_bytes()).expect("valid");
        assert_eq!(ok.duplicates, 0);
        assert_eq!((ok.entries, ok.tallies), (5, 1));
    }
}

/// Entries the fast reader leaves to serde (here one written as an array, after a plain one
/// it already counted) are counted once, like a whole parse counts them.
#[test]
fn entries_read_by_serde_after_a_fallback_are_counted_once() {
    let good = serde_json::to_string(&minute_record(T1, 0, 0, 2, Some(100))).expect("json");
    let at = good.find("],\"tallies\":").expect("entries end");
    let mixed = format!(
        "{},[7,\"{}:30Z\",null,null,null,null,null,503]{}",
        &good[..at],
        minute(0),
        &good[at..]
    );
    let whole = engine();
    let streamed = engine();
    let a = whole
        .ingest_slice(&mut mixed.clone().into_bytes())
        .expect("valid");
    let b = streamed.ingest_bytes(mixed.as_bytes()).expect("valid");
    assert_eq!((a.entries, a.entries_5xx), (3, 3));
    assert_eq!(a, b);
    assert_eq!(engine_state(&streamed), engine_state(&whole));
}
