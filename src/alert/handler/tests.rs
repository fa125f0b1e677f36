use super::*;
use crate::alb::time::parse_time_us;
use crate::alert::config::AlertConfig;
use crate::alert::store::memory::MemoryStore;
use crate::alert::window::tests::{entry, record, tally};
use crate::clock::ManualClock;
use crate::notify::notifier::AttemptFailure;
use crate::notify::notifier::{NotifierUnavailable, Ready};
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;

/// A notifier that records payloads and answers from a script (then `Ok`).
#[derive(Default)]
struct FakeNotifier {
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    posted: Mutex<Vec<Value>>,
}

impl FakeNotifier {
    fn answering(script: Vec<Result<(), DeliveryError>>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            posted: Mutex::default(),
        }
    }

    fn posted(&self) -> Vec<Value> {
        self.posted.lock().expect("lock").clone()
    }
}

impl Notifier for FakeNotifier {
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        self.posted.lock().expect("lock").push(payload.clone());
        self.script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Ok(()))
    }
}

fn gave_up() -> DeliveryError {
    DeliveryError::GaveUp {
        attempts: 3,
        last: AttemptFailure::RateLimited,
    }
}

/// A firing record of `lb` (20 × 502 of 100 requests at 22:45).
fn firing(lb: &str, seq: u64) -> Vec<u8> {
    let entries = (0..20)
        .map(|i| entry(i, &format!("2025-06-21T22:45:{i:02}Z"), 502))
        .collect();
    let mut r = record(
        lb,
        "10.0.1.11:8080",
        seq,
        entries,
        vec![tally("2025-06-21T22:45", 100, 20)],
    );
    // One log object holds one load balancer's entries.
    r.header.source.key = format!("{lb}.log.gz").into();
    serde_json::to_vec(&r).expect("json")
}

fn event(records: &[(&str, Vec<u8>)]) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    for (seq, data) in records {
        let mut r = KinesisEventRecord::default();
        r.kinesis.sequence_number = (*seq).to_owned();
        r.kinesis.partition_key = "10.0.1.11:8080".to_owned();
        r.kinesis.data.extend_from_slice(data);
        event.records.push(r);
    }
    event
}

const NOW: &str = "2026-01-01T00:00:00Z";

/// An alerter on an in-memory store, with a hand-moved wall clock and the given silence check.
fn alerter_with(silence: SilenceConfig) -> (Alerter<MemoryStore>, ManualClock) {
    let clock = ManualClock::at(parse_time_us(NOW).expect("time"));
    let config = AlertConfig::default();
    let store = MemoryStore::new(config.dedupe_capacity);
    let engine = Engine::new(config, store, Arc::new(clock.clone())).expect("config");
    let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
    (Alerter::with_logs(engine, logs, silence), clock)
}

/// An alerter whose silence check stays quiet (a month) while tests move the clock by hours.
fn alerter() -> (Alerter<MemoryStore>, ManualClock) {
    alerter_with(SilenceConfig {
        after_us: 30 * 86_400_000_000,
    })
}

fn failures(r: &KinesisEventResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.as_deref())
        .collect()
}

async fn handle(
    a: &Alerter<MemoryStore>,
    ev: &KinesisEvent,
    n: &FakeNotifier,
) -> (KinesisEventResponse, BatchSummary) {
    a.handle_with_summary(ev, &Ready(n), Deadline::none()).await
}

#[tokio::test]
async fn poison_is_skipped_and_notifications_are_posted_per_load_balancer() {
    let (a, _) = alerter();
    let n = FakeNotifier::default();
    let ev = event(&[
        ("100", b"{not json".to_vec()),
        ("101", firing("app/a/1", 0)),
        ("102", firing("app/b/2", 0)),
        ("103", firing("app/a/1", 1)),
    ]);
    let (response, summary) = handle(&a, &ev, &n).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.poison, 1);
    assert_eq!(summary.delivered, 2, "one key per load balancer");
    let posted = n.posted();
    assert_eq!(posted.len(), 2, "one message per load balancer");
    assert!(
        posted[0]["text"]
            .as_str()
            .expect("text")
            .contains("app/a/1")
    );
    assert!(
        posted[1]["text"]
            .as_str()
            .expect("text")
            .contains("app/b/2")
    );
    // Delivered: not posted again.
    let (response, _) = handle(&a, &event(&[]), &n).await;
    assert!(failures(&response).is_empty());
    assert_eq!(n.posted().len(), 2);
}

/// A failed post never sends records back to Lambda: the counts landed, the notification is
/// pending in the store and retried after its backoff, by any batch of that load balancer or
/// the scheduled check, exactly once.
#[tokio::test]
async fn a_failed_delivery_is_retried_from_the_store_not_by_reporting_records() {
    let (a, clock) = alerter();
    let n = FakeNotifier::answering(vec![Ok(()), Err(gave_up())]);
    let ev = event(&[
        ("1", firing("app/a/1", 0)),
        ("2", firing("app/b/2", 0)),
        ("3", firing("app/b/2", 1)),
    ]);
    let (response, summary) = handle(&a, &ev, &n).await;
    assert!(
        failures(&response).is_empty(),
        "counting never waits for Slack"
    );
    assert_eq!((summary.delivered, summary.failed), (1, 1));
    assert_eq!(summary.entries, 60);
    // A redelivered batch changes nothing and, within the backoff, posts nothing.
    let (_, summary) = handle(&a, &ev, &n).await;
    assert_eq!((summary.duplicates, summary.delivered), (3, 0));
    assert_eq!(n.posted().len(), 2);
    clock.advance(31_000_000);
    let summary = a.tick(&Ready(&n), Deadline::none()).await;
    assert_eq!(summary.delivered, 1);
    let posted = n.posted();
    assert_eq!(posted.len(), 3);
    assert_eq!(posted[1], posted[2], "the pending message, unchanged");
    clock.advance(3_600_000_000);
    let _ = handle(&a, &ev, &n).await;
    let _ = a.tick(&Ready(&n), Deadline::none()).await;
    assert_eq!(n.posted().len(), 3, "never again");
}

/// A destination Slack refuses (revoked webhook) is loud and loses nothing: no batch failure,
/// the notification stays pending and backs off, the notifier is rebuilt (re-reading its
/// secret), and once the destination works again it is delivered, once.
#[tokio::test]
async fn rejected_stays_pending_and_the_notifier_is_rebuilt() {
    let (a, clock) = alerter();
    let n = FakeNotifier::answering(vec![Err(DeliveryError::Rejected {
        status: 404,
        body: "no_service".to_owned(),
    })]);
    let source = Counting {
        notifier: &n,
        invalidated: Mutex::new(0),
    };
    let ev = event(&[("1", firing("app/a/1", 0))]);
    let (response, summary) = a.handle_with_summary(&ev, &source, Deadline::none()).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.rejected, 1);
    assert_eq!(
        *source.invalidated.lock().expect("lock"),
        1,
        "secret re-read next time"
    );
    let _ = a.tick(&source, Deadline::none()).await;
    assert_eq!(n.posted().len(), 1, "backing off, not hammering Slack");
    clock.advance(31_000_000);
    let summary = a.tick(&source, Deadline::none()).await;
    assert_eq!(summary.delivered, 1);
    let posted = n.posted();
    assert_eq!((posted.len(), &posted[0]), (2, &posted[1]));
    clock.advance(3_600_000_000);
    let _ = a.tick(&source, Deadline::none()).await;
    assert_eq!(n.posted().len(), 2, "delivered once");
}

/// A notifier source that counts invalidations.
struct Counting<'a> {
    notifier: &'a FakeNotifier,
    invalidated: Mutex<u32>,
}

impl<'a> NotifierSource for Counting<'a> {
    type Notifier = &'a FakeNotifier;

    async fn notifier(
        &self,
        _: Route,
        _: Deadline,
    ) -> Result<&'a FakeNotifier, NotifierUnavailable> {
        Ok(self.notifier)
    }

    fn invalidate(&self, _: Route) {
        *self.invalidated.lock().expect("lock") += 1;
    }
}

/// A notifier source that fails a given number of times (a secret that cannot be read yet).
struct Flaky<'a> {
    failures: Mutex<u32>,
    notifier: &'a FakeNotifier,
}

impl<'a> NotifierSource for Flaky<'a> {
    type Notifier = &'a FakeNotifier;

    async fn notifier(
        &self,
        _: Route,
        _: Deadline,
    ) -> Result<&'a FakeNotifier, NotifierUnavailable> {
        let mut left = self.failures.lock().expect("lock");
        if *left > 0 {
            *left -= 1;
            return Err(NotifierUnavailable("AccessDeniedException".to_owned()));
        }
        Ok(self.notifier)
    }
}

#[tokio::test]
async fn a_notifier_that_cannot_be_built_never_fails_the_batch() {
    let (a, clock) = alerter();
    let n = FakeNotifier::default();
    let source = Flaky {
        failures: Mutex::new(1),
        notifier: &n,
    };
    let (response, summary) = a
        .handle_with_summary(
            &event(&[("5", firing("app/a/1", 0))]),
            &source,
            Deadline::none(),
        )
        .await;
    assert!(failures(&response).is_empty());
    assert_eq!((summary.entries, summary.failed), (20, 1));
    clock.advance(31_000_000);
    let summary = a.tick(&source, Deadline::none()).await;
    assert_eq!(summary.delivered, 1);
    assert_eq!(n.posted().len(), 1);
}

#[tokio::test]
async fn silence_is_announced_once_and_so_is_the_recovery() {
    let (a, clock) = alerter_with(SilenceConfig {
        after_us: 60_000_000,
    });
    let n = FakeNotifier::default();
    let quiet = |seq: u64| {
        let entries = vec![entry(0, "2025-06-21T22:45:00Z", 200)];
        let mut r = record(
            "app/a/1",
            "10.0.1.11:8080",
            seq,
            entries,
            vec![tally("2025-06-21T22:45", 1, 0)],
        );
        r.header.source.key = format!("o{seq}").into();
        serde_json::to_vec(&r).expect("json")
    };
    let _ = handle(&a, &event(&[("1", quiet(0))]), &n).await;
    let _ = a.tick(&Ready(&n), Deadline::none()).await;
    assert!(n.posted().is_empty(), "logs are flowing");
    clock.advance(61_000_000);
    let _ = a.tick(&Ready(&n), Deadline::none()).await;
    let _ = a.tick(&Ready(&n), Deadline::none()).await;
    let posted = n.posted();
    assert_eq!(posted.len(), 1, "once");
    let text = posted[0]["text"].as_str().expect("text");
    assert!(text.contains("NO ACCESS LOGS"), "{text}");
    clock.advance(600_000_000);
    let _ = handle(&a, &event(&[("2", quiet(1))]), &n).await;
    let _ = a.tick(&Ready(&n), Deadline::none()).await;
    let posted = n.posted();
    assert_eq!(posted.len(), 2, "the recovery, once");
    let text = posted[1]["text"].as_str().expect("text");
    assert!(text.contains("access logs flowing again"), "{text}");
}

#[tokio::test]
async fn the_aws_kinesis_event_fixture_is_a_poison_record() {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/events/kinesis-event.json"
    ))
    .expect("fixture");
    let ev: KinesisEvent = serde_json::from_str(&json).expect("a Kinesis event");
    let (a, _) = alerter();
    let (response, summary) = handle(&a, &ev, &FakeNotifier::default()).await;
    assert!(failures(&response).is_empty());
    assert_eq!((summary.records, summary.poison), (1, 1));
    let json = serde_json::to_value(&response).expect("json");
    assert_eq!(json, serde_json::json!({"batchItemFailures": []}));
}

#[test]
fn sequence_numbers_compare_numerically() {
    use std::cmp::Ordering::*;
    assert_eq!(cmp_sequence("9", "10"), Less);
    assert_eq!(cmp_sequence("0010", "9"), Greater);
    assert_eq!(cmp_sequence("10", "10"), Equal);
    assert_eq!(
        cmp_sequence(
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692540925702759324208085686386690"
        ),
        Less
    );
    assert_eq!(cmp_sequence("x", "1"), Greater);
}
