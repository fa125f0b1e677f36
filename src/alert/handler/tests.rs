use super::*;
use crate::alert::config::AlertConfig;
use crate::alert::window::tests::{entry, record, tally};
use crate::notify::notifier::AttemptFailure;
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

fn alerter() -> Alerter {
    Alerter::new(Engine::new(AlertConfig::default()).expect("config"))
}

fn failures(r: &KinesisEventResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.as_deref())
        .collect()
}

#[tokio::test]
async fn poison_is_skipped_and_notifications_are_posted_per_load_balancer() {
    let a = alerter();
    let n = FakeNotifier::default();
    let ev = event(&[
        ("100", b"{not json".to_vec()),
        ("101", firing("app/a/1", 0)),
        ("102", firing("app/b/2", 0)),
        ("103", firing("app/a/1", 1)),
    ]);
    let (response, summary) = a.handle_with_summary(&ev, &n).await;
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
    let (response, _) = a.handle_with_summary(&event(&[]), &n).await;
    assert!(failures(&response).is_empty());
    assert_eq!(n.posted().len(), 2);
}

#[tokio::test]
async fn gave_up_reports_the_lowest_sequence_of_that_load_balancer_and_the_retry_delivers_once() {
    let a = alerter();
    let n = FakeNotifier::answering(vec![Ok(()), Err(gave_up())]);
    let ev = event(&[
        (
            "49590338271490256608559692538361571095921575989136588802",
            firing("app/a/1", 0),
        ),
        (
            "49590338271490256608559692538361571095921575989136588898",
            firing("app/b/2", 0),
        ),
        (
            "49590338271490256608559692538361571095921575989136588899",
            firing("app/b/2", 1),
        ),
        (
            "49590338271490256608559692540925702759324208085686386690",
            firing("app/a/1", 1),
        ),
    ]);
    let response = a.handle(&ev, &n).await;
    assert_eq!(
        failures(&response),
        ["49590338271490256608559692538361571095921575989136588898"]
    );
    // Lambda retries from that record: the same records again (all duplicates now).
    let retry = event(
        &ev.records[1..]
            .iter()
            .map(|r| (r.kinesis.sequence_number.as_str(), r.kinesis.data.0.clone()))
            .collect::<Vec<_>>(),
    );
    let (response, summary) = a.handle_with_summary(&retry, &n).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.duplicates, 3);
    assert_eq!(summary.delivered, 1);
    let posted = n.posted();
    assert_eq!(posted.len(), 3);
    assert_eq!(
        posted[1], posted[2],
        "the same message, re-produced from pending state"
    );
    // And never again.
    let _ = a.handle(&retry, &n).await;
    assert_eq!(n.posted().len(), 3);
}

#[tokio::test]
async fn rejected_is_dropped_without_a_retry_loop() {
    let a = alerter();
    let n = FakeNotifier::answering(vec![Err(DeliveryError::Rejected {
        status: 404,
        body: "no_service".to_owned(),
    })]);
    let ev = event(&[("1", firing("app/a/1", 0))]);
    let (response, summary) = a.handle_with_summary(&ev, &n).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.rejected, 1);
    let _ = a.handle(&ev, &n).await;
    assert_eq!(n.posted().len(), 1, "not posted again");
}

#[tokio::test]
async fn a_failure_without_records_of_that_load_balancer_is_retried_next_time() {
    let a = alerter();
    let n = FakeNotifier::answering(vec![Err(gave_up()), Err(gave_up())]);
    let response = a.handle(&event(&[("5", firing("app/a/1", 0))]), &n).await;
    assert_eq!(failures(&response), ["5"]);
    // A later batch without app/a/1 records: still pending, nothing to point at.
    let response = a.handle(&event(&[("9", b"[]".to_vec())]), &n).await;
    assert!(failures(&response).is_empty());
    let _ = a.handle(&event(&[]), &n).await;
    assert_eq!(n.posted().len(), 3);
    let _ = a.handle(&event(&[]), &n).await;
    assert_eq!(n.posted().len(), 3, "delivered on the third try, then done");
}

#[tokio::test]
async fn the_aws_kinesis_event_fixture_is_a_poison_record() {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/events/kinesis-event.json"
    ))
    .expect("fixture");
    let ev: KinesisEvent = serde_json::from_str(&json).expect("a Kinesis event");
    let a = alerter();
    let (response, summary) = a.handle_with_summary(&ev, &FakeNotifier::default()).await;
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
