//! The alerter end to end: real ALB log lines → the ingest's records → a `KinesisEvent` → the
//! handler → a real HTTP server on 127.0.0.1 standing in for the Slack webhook (wiremock).

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use albwatch::alb::time::parse_time_us;
use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::handler::{Alerter, BatchSummary};
use albwatch::alert::logs::{LogAlertConfig, LogAlerts};
use albwatch::alert::silence::SilenceConfig;
use albwatch::alert::store::memory::MemoryStore;
use albwatch::clock::ManualClock;
use albwatch::cwlogs::LogPatterns;
use albwatch::ingest::{Deadline, IngestConfig, MemorySink, ingest_reader};
use albwatch::notify::http::DeliveryPolicy;
use albwatch::notify::notifier::Ready;
use albwatch::notify::webhook::{SlackWebhook, WebhookUrl};
use albwatch::record::SourceId;
use albwatch::retry::RetryPolicy;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOOK: &str = "/services/T000/B000/XXXXXXXX";
const INCIDENT: &str =
    "fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21";

/// Runs one log object (plain or gzip bytes) through the real ingest, errors mode.
pub(crate) async fn records_of(name: &str, bytes: Vec<u8>) -> Vec<Vec<u8>> {
    let sink = MemorySink::new();
    let source = SourceId {
        bucket: "shop-prod-alb-logs-123456789012".into(),
        key: name.to_owned().into(),
        etag: None,
        version_id: None,
    };
    ingest_reader(
        std::io::Cursor::new(bytes),
        source,
        &IngestConfig::default(),
        &sink,
        Deadline::none(),
    )
    .await
    .expect("ingest");
    sink.take().into_iter().map(|r| r.data).collect()
}

/// The incident's log files, in time order.
pub(crate) fn incident_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(INCIDENT);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

pub(crate) async fn incident_file_records(index: usize) -> Vec<Vec<u8>> {
    let file = &incident_files()[index];
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    records_of(&name, std::fs::read(file).expect("read")).await
}

/// A Kinesis event of `records`, with sequence numbers `first`, `first + 1`, … (as strings of
/// Kinesis length).
pub(crate) fn event(records: &[Vec<u8>], first: u64) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    for (i, data) in records.iter().enumerate() {
        let mut r = KinesisEventRecord::default();
        r.kinesis.sequence_number = format!(
            "4959033827149025660855969253836157109592157598913{:07}",
            first + i as u64
        );
        r.kinesis.partition_key = "k".to_owned();
        r.kinesis.data.extend_from_slice(data);
        r.event_source = Some("aws:kinesis".to_owned());
        event.records.push(r);
    }
    event
}

/// Millisecond backoffs, three attempts: for tests against a local Slack stand-in.
pub(crate) fn fast_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
        max_retry_after: Duration::from_secs(2),
        min_attempt_time: Duration::from_millis(10),
        default_budget: Duration::from_secs(20),
    }
}

pub(crate) fn webhook(server: &MockServer) -> SlackWebhook {
    let url = WebhookUrl::parse(&format!("{}{HOOK}", server.uri())).expect("loopback URL");
    SlackWebhook::with_policy(url, fast_policy()).expect("client")
}

/// An alerter on an in-memory store with a hand-moved wall clock (silence check off).
fn alerter_and_clock() -> (Alerter<MemoryStore>, ManualClock) {
    let clock = ManualClock::at(parse_time_us("2026-01-01T00:00:00Z").expect("time"));
    let config = AlertConfig::default();
    let store = MemoryStore::new(config.dedupe_capacity);
    let engine = Engine::new(config, store, Arc::new(clock.clone())).expect("config");
    let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
    let silence = SilenceConfig {
        after_us: 30 * 86_400_000_000,
    };
    (Alerter::with_logs(engine, logs, silence), clock)
}

/// An alerter on an in-memory store (silence check off).
pub(crate) fn alerter() -> Alerter<MemoryStore> {
    alerter_and_clock().0
}

/// One invocation without a deadline of its own.
async fn handle(
    a: &Alerter<MemoryStore>,
    ev: &KinesisEvent,
    hook: &SlackWebhook,
) -> (KinesisEventResponse, BatchSummary) {
    a.handle_with_summary(ev, &Ready(hook), Deadline::none())
        .await
}

fn failures(r: &KinesisEventResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

/// Bodies of the requests the webhook received, as JSON, with their response order.
pub(crate) async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .expect("recording")
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .collect()
}

/// The first firing burst (files 1–3: 22:30–22:45) as one event.
async fn burst_event() -> KinesisEvent {
    let mut records = Vec::new();
    for i in 0..3 {
        records.extend(incident_file_records(i).await);
    }
    event(&records, 1)
}

pub(crate) fn respond(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(body)
}

pub(crate) async fn mount(
    server: &MockServer,
    template: ResponseTemplate,
    times: Option<u64>,
    priority: u8,
) {
    let mock = Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(template)
        .with_priority(priority);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

#[tokio::test]
async fn rate_limited_with_retry_after_then_ok_delivers_one_message() {
    let server = MockServer::start().await;
    mount(
        &server,
        respond(429, "rate_limited").insert_header("Retry-After", "1"),
        Some(1),
        1,
    )
    .await;
    mount(&server, respond(200, "ok"), None, 2).await;
    let a = alerter();
    let started = std::time::Instant::now();
    let (response, summary) = handle(&a, &burst_event().await, &webhook(&server)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert!(failures(&response).is_empty());
    assert_eq!(
        (
            summary.delivered,
            summary.failed,
            summary.poison,
            summary.duplicates
        ),
        (1, 0, 0, 0)
    );
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2, "one 429, one 200");
    assert_eq!(bodies[0], bodies[1], "the same message retried");
    let text = bodies[1]["text"].as_str().expect("fallback text");
    assert!(text.contains("app/shop-prod/50dc6c495c0c9188"), "{text}");
    let blocks = bodies[1]["blocks"].to_string();
    assert!(blocks.contains("10.0.1.11:8080"), "{blocks}");
    assert!(!blocks.contains("10.0.1.10:8080") && !blocks.contains("10.0.1.12:8080"));
}

#[tokio::test]
async fn server_error_then_ok_delivers_one_message() {
    let server = MockServer::start().await;
    mount(&server, respond(500, "internal_error"), Some(1), 1).await;
    mount(&server, respond(200, "ok"), None, 2).await;
    let a = alerter();
    let (response, summary) = handle(&a, &burst_event().await, &webhook(&server)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.delivered, 1);
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn not_found_is_one_attempt_per_invocation_no_batch_failure_and_nothing_lost() {
    let server = MockServer::start().await;
    mount(&server, respond(404, "no_service"), Some(1), 1).await;
    mount(&server, respond(200, "ok"), None, 2).await;
    let (a, clock) = alerter_and_clock();
    let ev = burst_event().await;
    let (response, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert!(
        failures(&response).is_empty(),
        "never send records back for a rejected message"
    );
    assert_eq!((summary.rejected, summary.delivered), (1, 0));
    assert_eq!(bodies(&server).await.len(), 1, "one attempt");
    // The same batch again: duplicates, and the pending message is backing off.
    let (response, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.duplicates, ev.records.len() as u64);
    assert_eq!(bodies(&server).await.len(), 1);
    // The webhook works again (a new one in the secret): the message arrives, once.
    clock.advance(31_000_000);
    let (_, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert_eq!(summary.delivered, 1);
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1]);
}

/// Slack down for a whole invocation: the counts land anyway and no record is sent back to
/// Lambda; the notification waits in the store, backing off, and a later batch delivers it once.
#[tokio::test]
async fn a_slack_outage_never_fails_the_batch_and_the_pending_message_is_sent_once() {
    let server = MockServer::start().await;
    // Slack is down for the whole first invocation (3 attempts), then back.
    mount(&server, respond(503, "service_unavailable"), Some(3), 1).await;
    mount(&server, respond(200, "ok"), None, 2).await;
    let (a, clock) = alerter_and_clock();
    let ev = burst_event().await;
    let (response, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert_eq!(summary.failed, 1);
    assert!(
        failures(&response).is_empty(),
        "counting never waits for Slack"
    );
    assert!(summary.entries > 0);
    // The batch redelivered at once (Lambda retrying for another reason): all duplicates, and
    // the pending notification is backing off.
    let (_, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert_eq!(summary.duplicates, ev.records.len() as u64);
    assert_eq!(bodies(&server).await.len(), 3);
    clock.advance(31_000_000);
    let (_, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert_eq!(summary.delivered, 1);
    // And once more: nothing new to say.
    clock.advance(3_600_000_000);
    let (_, summary) = handle(&a, &ev, &webhook(&server)).await;
    assert_eq!(
        summary,
        BatchSummary {
            records: ev.records.len() as u64,
            duplicates: ev.records.len() as u64,
            ..BatchSummary::default()
        }
    );
    let bodies = bodies(&server).await;
    assert_eq!(
        bodies.len(),
        4,
        "3 failed attempts + 1 delivery, no duplicate"
    );
    assert_eq!(bodies[3], bodies[0], "the pending message, unchanged");
}

/// A Slack that hangs holds an invocation no longer than its delivery slice (here cut short by
/// the invocation's deadline), and the counts are in before delivery starts.
#[tokio::test]
async fn a_hanging_slack_is_bounded_by_the_delivery_slice() {
    let server = MockServer::start().await;
    mount(
        &server,
        respond(200, "ok").set_delay(Duration::from_secs(60)),
        None,
        1,
    )
    .await;
    let a = alerter();
    let started = std::time::Instant::now();
    let (response, summary) = a
        .handle_with_summary(
            &burst_event().await,
            &webhook(&server),
            Deadline::after(Duration::from_secs(2)),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(failures(&response).is_empty());
    assert!(summary.entries > 0);
    assert_eq!((summary.delivered, summary.failed), (0, 1));
}

#[tokio::test]
async fn the_incident_file_by_file_announces_each_firing_once() {
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    let a = alerter();
    let mut seq = 1;
    let mut delivered = Vec::new();
    for i in 0..incident_files().len() {
        let records = incident_file_records(i).await;
        let ev = event(&records, seq);
        seq += records.len() as u64;
        let (response, summary) = handle(&a, &ev, &webhook(&server)).await;
        assert!(failures(&response).is_empty());
        assert_eq!(summary.poison + summary.duplicates + summary.late, 0);
        delivered.push(summary.delivered);
    }
    // 10.0.1.11 fires with file 3 (22:40–22:45), the target group's 503s with file 4.
    // Resolutions need windows final 10 min after 22:54 / 22:51: later than the fixture's data.
    assert_eq!(delivered, [0, 0, 1, 1, 0, 0]);
    let bodies = bodies(&server).await;
    let blocks: Vec<String> = bodies.iter().map(|b| b["blocks"].to_string()).collect();
    assert!(blocks[0].contains("10.0.1.11:8080"));
    assert!(blocks[1].contains("targetgroup/shop-web/943f017f100becff"));
    assert!(
        !blocks[1].contains("10.0.1.11:8080"),
        "10.0.1.11 is not announced again"
    );
}

#[tokio::test]
async fn attacker_text_arrives_escaped() {
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    // Twelve 502s whose URL and user agent try to ping the channel and inject a link.
    let line = r#"https 2025-06-21T22:45:01.186641Z app/shop-prod/50dc6c495c0c9188 192.0.2.10:2817 10.0.1.11:8080 0.086 0.048 0.037 502 502 0 57 "GET https://shop.example.com:443/<!channel>?q=<https://evil.example|click> HTTP/1.1" "<!here> & friends" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff "Root=1-58337281-1d84f3d73c47ec4e58577259" "shop.example.com" "session-reused" 1 2025-06-21T22:45:01.100000Z "forward" "-" "-" "10.0.1.11:8080" "502" "-" "-" TID_1234abcd5678ef90 "-" "-" "-""#;
    let text: String = (0..12).map(|_| format!("{line}\n")).collect();
    let records = records_of("evil.log", text.into_bytes()).await;
    let a = alerter();
    let (response, summary) = a
        .handle_with_summary(
            &event(&records, 1),
            &Ready(&webhook(&server)),
            Deadline::none(),
        )
        .await;
    assert!(failures(&response).is_empty());
    assert_eq!((summary.entries, summary.delivered), (12, 1));
    let raw = server.received_requests().await.expect("recording")[0]
        .body
        .clone();
    let raw = String::from_utf8(raw).expect("UTF-8");
    assert!(raw.contains("&lt;!channel&gt;"), "{raw}");
    assert!(raw.contains("&lt;!here&gt; &amp; friends"), "{raw}");
    assert!(
        !raw.contains("<!channel>") && !raw.contains("<!here>"),
        "{raw}"
    );
    assert!(!raw.contains("<https://evil"), "{raw}");
}

/// The CloudWatch Logs subscription fixture, with a message that tries to ping the channel.
fn logs_payload() -> albwatch::cwlogs::LogsPayload {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/events/cloudwatch-logs-subscription.json");
    let mut payload =
        albwatch::cwlogs::decode_payload(&std::fs::read(path).expect("fixture")).expect("payload");
    if let Some(first) = payload.log_events.first_mut() {
        first.message = format!("NOTIFY <!channel> {}", first.message);
    }
    payload
}

#[tokio::test]
async fn cloudwatch_logs_payloads_share_the_stream_with_alb_records() {
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    let a = alerter();
    let payload = logs_payload();
    let matching = payload
        .log_events
        .iter()
        .filter(|e| e.message.contains("NOTIFY"))
        .count();
    assert!(
        matching >= 3,
        "the fixture has several matching events in one payload"
    );
    let data = albwatch::cwlogs::encode_payload(&payload);
    let (response, summary) = handle(
        &a,
        &event(&[data.clone(), b"{not a record".to_vec()], 1),
        &webhook(&server),
    )
    .await;
    assert!(failures(&response).is_empty());
    assert_eq!(summary.poison, 1, "{summary:?}");
    let posted = bodies(&server).await;
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let text = posted[0].to_string();
    assert!(text.contains(&payload.log_group), "{text}");
    assert!(
        text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"),
        "{text}"
    );
    // Every matching event of the one payload is counted, not just the first.
    assert!(
        text.contains(&format!("{matching} of {}", payload.log_events.len())),
        "{text}"
    );

    // The same payload again (a retried batch) announces nothing new.
    let (_, again) = a
        .handle_with_summary(
            &event(&[data], 3),
            &Ready(&webhook(&server)),
            Deadline::none(),
        )
        .await;
    assert_eq!(again.duplicates, 1);
    assert_eq!(bodies(&server).await.len(), 1);
}

#[tokio::test]
async fn direct_awslogs_subscription_is_handled_and_failed_delivery_is_an_error() {
    let server = MockServer::start().await;
    mount(&server, respond(500, "boom"), Some(3), 1).await;
    mount(&server, respond(200, "ok"), None, 2).await;
    let a = alerter();
    let event = albwatch::cwlogs::AwsLogsEvent::encode(&logs_payload());
    // The first delivery gives up after 3 attempts: the invocation fails so Lambda retries.
    let failed = a
        .handle_awslogs(&event, &Ready(&webhook(&server)), Deadline::none())
        .await;
    assert!(failed.is_err());
    // The retry delivers the pending alert once.
    let ok = a
        .handle_awslogs(&event, &Ready(&webhook(&server)), Deadline::none())
        .await
        .expect("delivered");
    assert_eq!(ok.delivered, 1);
    let posted = bodies(&server).await;
    assert_eq!(posted.len(), 4, "3 failed attempts then one delivery");
    assert!(
        a.handle_awslogs(&event, &Ready(&webhook(&server)), Deadline::none())
            .await
            .is_ok()
    );
    assert_eq!(bodies(&server).await.len(), 4, "nothing new to announce");
}
