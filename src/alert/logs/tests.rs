//! End-to-end tests of the CloudWatch Logs path: fixtures → payload → aggregation →
//! notifications → Slack payload.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::alert::config::AlertConfig;
use crate::cwlogs::{LogEvent, LogsPayload, decode_awslogs_event, decode_payload, encode_payload};
use crate::notify::notification::{
    Notification, Source, Status, TargetKind, group_by_load_balancer,
};
use crate::notify::slack::render_payload;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events/");
const GROUP: &str = "/aws/lambda/albwatch-prod";
const STREAM: &str = "2025/06/21/[$LATEST]4f9c2b7e1d8a4c3f9e6b0a5d2c7f1e84";
/// 2025-06-21T22:50:00Z, a window start for 60 s windows.
const T0_MS: i64 = 1_750_546_200_000;
const MINUTE_MS: i64 = 60_000;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).expect("fixture")
}

fn alerts(spec: &str) -> LogAlerts {
    let patterns = LogPatterns::parse(spec).expect("valid patterns");
    LogAlerts::new(LogAlertConfig::new(&AlertConfig::default(), patterns))
}

fn payload(group: &str, stream: &str, events: &[(&str, i64, &str)]) -> LogsPayload {
    LogsPayload {
        message_type: MessageType::Data,
        owner: "123456789012".to_owned(),
        log_group: group.to_owned(),
        log_stream: stream.to_owned(),
        subscription_filters: vec!["albwatch".to_owned()],
        log_events: events
            .iter()
            .map(|&(id, timestamp, message)| LogEvent {
                id: id.to_owned(),
                timestamp,
                message: message.to_owned(),
            })
            .collect(),
    }
}

/// One NOTIFY event with a unique id at `ms`.
fn notify(stream: &str, id: &str, ms: i64) -> LogsPayload {
    payload(
        "/ecs/liberator",
        stream,
        &[(id, ms, "NOTIFY something happened\n")],
    )
}

fn deliver_all(a: &LogAlerts) -> Vec<Notification> {
    let pending = a.evaluate();
    a.commit(&pending);
    pending
}

#[test]
fn every_matching_event_of_a_payload_counts() {
    // The hackday Lambda saw one event per batch; here all three NOTIFY lines count.
    let a = alerts(r"/^NOTIFY\b/");
    let ingested = a
        .ingest_bytes(&fixture("cloudwatch-logs-subscription.json.gz"))
        .unwrap();
    assert_eq!((ingested.events, ingested.matches), (10, 3));
    assert_eq!(&*ingested.log_group, GROUP);
    assert!(!ingested.duplicate);

    let ns = a.evaluate();
    assert_eq!(ns.len(), 1);
    let n = &ns[0];
    assert_eq!(n.status, Status::Firing);
    assert_eq!(n.source, Source::CloudwatchLogs);
    assert_eq!(n.load_balancer, GROUP);
    assert_eq!(n.target, STREAM);
    assert_eq!(n.target_kind, TargetKind::Target);
    assert_eq!(n.count_5xx, 3);
    assert_eq!(n.requests, Some(10));
    assert_eq!(n.status_codes.get(r"/^NOTIFY\b/"), Some(&3));
    assert_eq!(n.samples.len(), MAX_SAMPLES);
    assert!(n.samples.iter().all(|s| {
        s.request
            .as_deref()
            .is_some_and(|m| m.starts_with("NOTIFY {") && !m.ends_with('\n'))
    }));
    assert_eq!(n.samples[0].time.timestamp_millis(), 1_750_546_208_640);
    assert!(
        n.samples[0]
            .request
            .as_deref()
            .unwrap()
            .contains("10.0.1.11:8080")
    );
    assert!(
        n.samples[1]
            .request
            .as_deref()
            .unwrap()
            .contains("\"target\":\"-\"")
    );
    assert_eq!(n.samples[0].error_reason.as_deref(), Some(r"/^NOTIFY\b/"));

    let v = serde_json::to_value(n).unwrap();
    assert_eq!(v["source"], "cloudwatch_logs");
    assert_eq!(v["window_start"], "2025-06-21T22:50:00Z");
    assert_eq!(v["window_end"], "2025-06-21T22:51:00Z");
    assert_eq!(v["first_seen"], "2025-06-21T22:50:08Z"); // whole seconds in the JSON form
    assert_eq!(v["samples"][0]["time"], "2025-06-21T22:50:08Z");
    assert_eq!(v["status_codes"], serde_json::json!({ r"/^NOTIFY\b/": 3 }));
    assert!(v["target_group"].is_null());
}

#[test]
fn default_patterns_also_count_the_decoy_word() {
    // `NOTIFY` as a whole word anywhere: the "DEBUG would NOTIFY …" line matches too.
    let a = LogAlerts::new(LogAlertConfig::default());
    let ingested =
        a.ingest(&decode_payload(&fixture("cloudwatch-logs-subscription.json")).unwrap());
    assert_eq!(ingested.matches, 4);
    let ns = a.evaluate();
    assert_eq!(ns[0].count_5xx, 4);
    assert_eq!(ns[0].status_codes.get("NOTIFY"), Some(&4));
}

#[test]
fn control_messages_are_ignored() {
    let a = LogAlerts::new(LogAlertConfig::default());
    let control = decode_payload(&fixture("cloudwatch-logs-control.json")).unwrap();
    let ingested = a.ingest(&control);
    assert_eq!(ingested.message_type, MessageType::Control);
    assert_eq!(ingested.events, 0);
    let gz = encode_payload(&control);
    a.ingest_bytes(&gz).unwrap();
    assert!(a.evaluate().is_empty());
    assert_eq!(a.stream_count(), 0);
    let c = a.counters();
    assert_eq!((c.control_messages, c.payloads, c.events), (2, 0, 0));
}

#[test]
fn gzip_json_and_awslogs_shapes_give_the_same_notifications() {
    let from_gz = alerts("NOTIFY");
    from_gz
        .ingest_bytes(&fixture("cloudwatch-logs-subscription.json.gz"))
        .unwrap();
    let from_json = alerts("NOTIFY");
    from_json
        .ingest_bytes(&fixture("cloudwatch-logs-subscription.json"))
        .unwrap();
    let direct = alerts("NOTIFY");
    direct.ingest(&decode_awslogs_event(&fixture("cloudwatch-logs-awslogs-event.json")).unwrap());
    let expected = from_gz.evaluate();
    assert_eq!(expected.len(), 1);
    assert_eq!(from_json.evaluate(), expected);
    assert_eq!(direct.evaluate(), expected);
}

#[test]
fn redelivered_payloads_and_events_are_dropped() {
    let a = alerts("NOTIFY");
    let gz = fixture("cloudwatch-logs-subscription.json.gz");
    a.ingest_bytes(&gz).unwrap();
    let again = a.ingest_bytes(&gz).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.matches, 0);

    // CloudWatch redelivers some of the events in a differently cut batch.
    let mut p = decode_payload(&gz).unwrap();
    p.log_events.drain(..4); // keep the 2nd and 3rd NOTIFY, the decoy and the rest
    p.log_events.push(LogEvent {
        id: "new-1".to_owned(),
        timestamp: 1_750_546_209_000,
        message: "NOTIFY a new one\n".to_owned(),
    });
    let partial = a.ingest(&p);
    assert!(!partial.duplicate);
    assert_eq!(partial.duplicate_events, 3);
    assert_eq!(partial.matches, 1);

    let ns = a.evaluate();
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].count_5xx, 5); // 4 of the first delivery + the new one
    let c = a.counters();
    assert_eq!(
        (c.duplicate_payloads, c.duplicate_events, c.matches),
        (1, 3, 5)
    );
}

#[test]
fn dedupe_memory_is_bounded() {
    let mut config = LogAlertConfig::new(&AlertConfig::default(), LogPatterns::default());
    config.dedupe_capacity = 4;
    let a = LogAlerts::new(config);
    for i in 0..10 {
        a.ingest(&notify("s", &format!("id-{i}"), T0_MS + i));
    }
    // Payload id + event id per payload: only the last two payloads are still remembered.
    assert!(a.ingest(&notify("s", "id-9", T0_MS + 9)).duplicate);
    assert!(!a.ingest(&notify("s", "id-0", T0_MS)).duplicate);
}

#[test]
fn repeat_interval_and_doubling() {
    let a = alerts("NOTIFY"); // window 60 s, repeat 3600 s
    a.ingest(&notify("web-1", "a1", T0_MS + 1_000));
    let first = deliver_all(&a);
    assert_eq!(first.len(), 1);
    assert!(!first[0].escalation);
    assert!(a.evaluate().is_empty(), "delivered: not again");

    // More matches soon after: counted, not announced (count 1 does not double 1→… yet).
    a.ingest(&notify("web-1", "a2", T0_MS + 2 * MINUTE_MS));
    assert!(a.evaluate().is_empty());
    // The same window reaches 2 = twice the announced count: escalation.
    a.ingest(&notify("web-1", "a3", T0_MS + 2 * MINUTE_MS + 5_000));
    let escalated = deliver_all(&a);
    assert_eq!(escalated.len(), 1);
    assert!(escalated[0].escalation);
    assert_eq!(escalated[0].count_5xx, 2);
    assert_eq!(
        escalated[0].window_start.timestamp_millis(),
        T0_MS + 2 * MINUTE_MS
    );

    // Another stream of the same group is independent.
    a.ingest(&notify("web-2", "b1", T0_MS + 3 * MINUTE_MS));
    let other = deliver_all(&a);
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].target, "web-2");

    // A single match 30 min later: suppressed (2 announced, 1 < 4).
    a.ingest(&notify("web-1", "a4", T0_MS + 30 * MINUTE_MS));
    assert!(a.evaluate().is_empty());
    // Once the repeat interval has passed in event time, a reminder (not an escalation).
    a.ingest(&notify("web-1", "a5", T0_MS + 63 * MINUTE_MS));
    let reminder = deliver_all(&a);
    assert_eq!(reminder.len(), 1, "{reminder:?}");
    assert!(!reminder[0].escalation);
    assert_eq!(reminder[0].target, "web-1");
    assert_eq!(
        reminder[0].window_start.timestamp_millis(),
        T0_MS + 63 * MINUTE_MS
    );
    assert!(a.evaluate().is_empty());
}

#[test]
fn failed_delivery_is_retried_and_kept() {
    let a = alerts("NOTIFY");
    a.ingest(&notify("s", "x1", T0_MS));
    let pending = a.evaluate();
    assert_eq!(pending.len(), 1);
    // Not committed (Slack was down). Much later traffic elsewhere moves the watermark far
    // past the window's lateness; the pending window is still kept and offered again.
    a.ingest(&payload(
        "/other",
        "o",
        &[("o1", T0_MS + 120 * MINUTE_MS, "INFO fine")],
    ));
    assert_eq!(a.evaluate(), pending);
    assert_eq!(a.evaluate(), pending);
    a.commit(&pending);
    assert!(a.evaluate().is_empty());
    // Committing notifications of other sources or unknown keys is harmless.
    let mut alb = pending[0].clone();
    alb.source = Source::Alb;
    alb.target = "unknown".to_owned();
    a.commit(&[alb]);
}

#[test]
fn old_windows_and_idle_streams_are_evicted() {
    let a = alerts("NOTIFY");
    a.ingest(&notify("s", "e1", T0_MS));
    deliver_all(&a);
    assert_eq!(a.stream_count(), 1);
    // Non-matching traffic two hours later elsewhere: the announced stream has no window left
    // and its announcement is older than the repeat interval, so it is forgotten.
    a.ingest(&payload(
        "/other",
        "o",
        &[("o1", T0_MS + 120 * MINUTE_MS, "INFO fine")],
    ));
    assert!(a.evaluate().is_empty());
    assert_eq!(a.stream_count(), 1, "only /other, until its window is old");
    assert_eq!(a.window_count(), 1);

    // A backfill across many windows keeps at most MAX_WINDOWS_PER_STREAM of them.
    let events: Vec<(String, i64)> = (0..100)
        .map(|i| (format!("b{i}"), T0_MS + 200 * MINUTE_MS + i * MINUTE_MS))
        .collect();
    let events: Vec<(&str, i64, &str)> = events
        .iter()
        .map(|(id, ms)| (id.as_str(), *ms, "INFO x"))
        .collect();
    a.ingest(&payload("/backfill", "s", &events));
    assert_eq!(
        a.counters().dropped_windows,
        100 - MAX_WINDOWS_PER_STREAM as u64
    );
}

#[test]
fn per_group_patterns_apply_per_payload() {
    let a = alerts("/ecs/liberator:NOTIFY;/aws/lambda/x:ERROR,FATAL");
    a.ingest(&payload(
        "/ecs/liberator",
        "web",
        &[("1", T0_MS, "NOTIFY a"), ("2", T0_MS + 1, "ERROR b")],
    ));
    a.ingest(&payload(
        "/aws/lambda/x",
        "fn",
        &[
            ("3", T0_MS, "FATAL c"),
            ("4", T0_MS + 1, "ERROR d"),
            ("5", T0_MS + 2, "NOTIFY e"),
        ],
    ));
    a.ingest(&payload("/aws/lambda/y", "fn", &[("6", T0_MS, "ERROR f")]));
    let ns = a.evaluate();
    let shape: Vec<(&str, u64, Option<u64>)> = ns
        .iter()
        .map(|n| (n.load_balancer.as_str(), n.count_5xx, n.requests))
        .collect();
    assert_eq!(
        shape,
        [
            ("/aws/lambda/x", 2, Some(3)),
            ("/ecs/liberator", 1, Some(2))
        ]
    );
    assert_eq!(ns[0].status_codes.get("ERROR"), Some(&1));
    assert_eq!(ns[0].status_codes.get("FATAL"), Some(&1));
}

#[test]
fn invalid_and_future_timestamps_do_not_panic_or_poison_the_clock() {
    let a = alerts("NOTIFY");
    let ingested = a.ingest(&payload(
        "/g",
        "s",
        &[
            ("1", i64::MAX, "NOTIFY x"),
            ("2", i64::MIN, "NOTIFY y"),
            ("3", T0_MS, "NOTIFY z"),
        ],
    ));
    assert_eq!((ingested.invalid_times, ingested.matches), (2, 1));
    // Year ~2200: counted, but the watermark stays at the real event.
    a.ingest(&payload(
        "/g",
        "s",
        &[("4", 7_258_118_400_000, "NOTIFY far")],
    ));
    assert_eq!(a.watermark().map(|t| t.timestamp_millis()), Some(T0_MS));
    assert_eq!(a.counters().future_times, 1);
    assert_eq!(a.evaluate().len(), 1);
}

#[test]
fn one_slack_message_per_log_group_with_escaped_messages() {
    let a = alerts("NOTIFY");
    a.ingest(&payload(
        "/ecs/<!here>",
        "web-1",
        &[
            (
                "1",
                T0_MS,
                "NOTIFY <!channel> deploy failed & <http://evil|click>\n",
            ),
            ("2", T0_MS + 1, "NOTIFY `code` again"),
        ],
    ));
    a.ingest(&payload(
        "/ecs/<!here>",
        "web-2",
        &[("3", T0_MS, "NOTIFY third")],
    ));
    a.ingest(&payload(
        "/ecs/other",
        "w",
        &[("4", T0_MS, &"NOTIFY ".repeat(5_000))],
    ));
    let groups = group_by_load_balancer(a.evaluate());
    assert_eq!(groups.len(), 2);
    let (group, ns) = &groups[0];
    assert_eq!(group, "/ecs/<!here>");
    assert_eq!(ns.len(), 2);
    let payload = render_payload(group, ns);
    let all = serde_json::to_string(&payload).unwrap();
    for raw in ["<!channel>", "<!here>", "<http://"] {
        assert!(!all.contains(raw), "{raw} leaked: {all}");
    }
    assert!(all.contains("&lt;!channel&gt;"));
    assert!(all.contains("log stream `web-1`"));
    for block in payload["blocks"].as_array().unwrap() {
        if block["type"] == "section" {
            let text = block["text"]["text"].as_str().unwrap();
            assert_eq!(text.matches('`').count() % 2, 0, "{text}");
        }
    }

    // A huge message is clipped in the machine form and again by the renderer.
    let (group, ns) = &groups[1];
    let sample = ns[0].samples[0].request.as_deref().unwrap();
    assert!(sample.len() <= MAX_SAMPLE_MESSAGE_BYTES);
    let rendered = render_payload(group, ns);
    let text: &Value = &rendered["blocks"][1]["text"]["text"];
    assert!(text.as_str().unwrap().chars().count() <= crate::notify::slack::MAX_SECTION_TEXT);
}

#[test]
fn notifications_round_trip_as_json() {
    let a = alerts("NOTIFY");
    a.ingest_bytes(&fixture("cloudwatch-logs-subscription.json.gz"))
        .unwrap();
    for n in a.evaluate() {
        let json = serde_json::to_string(&n).unwrap();
        let back: Notification = serde_json::from_str(&json).unwrap();
        assert_eq!(back.source, Source::CloudwatchLogs);
        assert_eq!(back.count_5xx, n.count_5xx);
        assert_eq!(back.status_codes, n.status_codes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ingest_and_evaluate_never_panic_and_counts_add_up(
        events in proptest::collection::vec(
            ("[a-c]{0,2}", -5i64..5, "(NOTIFY|ERROR|x| |é|<!channel>){0,6}"),
            0..40,
        ),
        streams in proptest::collection::vec("[a-b]", 1..3),
        commit in any::<bool>(),
    ) {
        let a = LogAlerts::new(LogAlertConfig::default());
        for (i, stream) in streams.iter().enumerate() {
            let evs: Vec<(&str, i64, &str)> = events
                .iter()
                .map(|(id, minute, msg)| (id.as_str(), T0_MS + minute * MINUTE_MS + i as i64, msg.as_str()))
                .collect();
            a.ingest(&payload("/g", stream, &evs));
            let ns = a.evaluate();
            for n in &ns {
                prop_assert_eq!(n.status_codes.values().sum::<u64>(), n.count_5xx);
                prop_assert!(n.count_5xx >= 1);
                prop_assert!(n.requests.is_some_and(|r| r >= n.count_5xx));
                prop_assert!(n.samples.len() <= MAX_SAMPLES);
                let _ = render_payload(&n.load_balancer, std::slice::from_ref(n));
            }
            if commit {
                a.commit(&ns);
            }
        }
    }
}
