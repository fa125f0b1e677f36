//! The alert state in a real DynamoDB API (moto_server, started by `scripts/test.sh`): several
//! alerter "environments" (separate engines, separate memory) sharing one table, as Lambda runs
//! them, with a real HTTP server standing in for Slack.
//!
//! Gate: `ALBWATCH_DYNAMODB=1` (or `CI=true`); the endpoint comes from
//! `AWS_ENDPOINT_URL_DYNAMODB`, which the store's client takes before `AWS_ENDPOINT_URL`
//! (LocalStack's, also set by the test script), exactly as in the deployed alerter.

use std::sync::Arc;

use albwatch::alb::time::parse_time_us;
use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::handler::{Alerter, BatchSummary};
use albwatch::alert::logs::{LogAlertConfig, LogAlerts};
use albwatch::alert::silence::SilenceConfig;
use albwatch::alert::store::AnyStore;
use albwatch::clock::{Clock, ManualClock};
use albwatch::cwlogs::LogPatterns;
use albwatch::notify::bot::UPDATE_INTERVAL;
use albwatch::notify::notifier::Ready;
use albwatch::retry::Deadline;
use aws_config::BehaviorVersion;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use serde_json::Value;
use wiremock::MockServer;

use crate::alerter_slack::{
    bodies, event, incident_file_records, incident_files, mount, respond, webhook,
};
use crate::localstack::unique_name;

const GATE_ENV: &str = "ALBWATCH_DYNAMODB";

/// A table of our own in the local DynamoDB API, or `None` (with a note) when not enabled.
async fn table(test: &str) -> Option<String> {
    let gated = std::env::var(GATE_ENV).is_ok_and(|v| v == "1");
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if !gated && !ci {
        eprintln!(
            "skipping {test}: set {GATE_ENV}=1 (scripts/test.sh does) to run it against moto_server"
        );
        return None;
    }
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let name = unique_name("albwatch-state");
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key")
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{test}: cannot create a table at AWS_ENDPOINT_URL_DYNAMODB ({}); start it with \
                 `bash scripts/dynamodb.sh start`: {}",
                std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default(),
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            )
        });
    Some(name)
}

/// One alerter environment on `table`, sharing `clock`.
async fn environment(
    table: &str,
    clock: &ManualClock,
    silence: SilenceConfig,
) -> Alerter<AnyStore> {
    environment_with(table, clock, silence, false).await
}

/// [`environment`], with live updates for a bot destination if `live_updates`.
async fn environment_with(
    table: &str,
    clock: &ManualClock,
    silence: SilenceConfig,
    live_updates: bool,
) -> Alerter<AnyStore> {
    let config = AlertConfig::default();
    let clock: Arc<dyn albwatch::clock::Clock> = Arc::new(clock.clone());
    let store = AnyStore::from_table(Some(table), &config, Arc::clone(&clock)).await;
    assert!(matches!(store, AnyStore::Dynamo(_)));
    let mut engine = Engine::new(config, store, clock).expect("config");
    if live_updates {
        engine = engine.with_live_updates(UPDATE_INTERVAL);
    }
    let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
    Alerter::with_logs(engine, logs, silence)
}

fn no_silence() -> SilenceConfig {
    SilenceConfig {
        after_us: 30 * 86_400_000_000,
    }
}

fn clock() -> ManualClock {
    ManualClock::at(parse_time_us("2026-01-01T00:00:00Z").expect("time"))
}

/// `(target, FIRING|RESOLVED)` of every section posted, in order.
fn announced(bodies: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for body in bodies {
        for block in body["blocks"].as_array().into_iter().flatten() {
            let Some(text) = block["text"]["text"].as_str() else {
                continue;
            };
            let status = if text.contains("*FIRING*") {
                "FIRING"
            } else if text.contains("*RESOLVED*") {
                "RESOLVED"
            } else {
                continue;
            };
            // The no-target burst is named by its target group (a console link), a target by
            // its address in a code span.
            let target = if text.contains("(no target) — target group") {
                "no target".to_owned()
            } else {
                text.split('`').nth(1).unwrap_or_default().to_owned()
            };
            out.push((target, status.to_owned()));
        }
    }
    out
}

async fn handle(a: &Alerter<AnyStore>, ev: &KinesisEvent, server: &MockServer) -> BatchSummary {
    let (response, summary) = a
        .handle_with_summary(ev, &webhook(server), Deadline::none())
        .await;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    summary
}

fn dynamo_requests(a: &Alerter<AnyStore>) -> u64 {
    match a.engine().store() {
        AnyStore::Dynamo(d) => d.stats().requests(),
        AnyStore::Memory(_) => 0,
    }
}

/// The incident fixture, file by file, over three environments: A and B take turns, files 2
/// and 3 reach both at the same moment (a redelivery racing the first delivery), and B is
/// replaced by a fresh C mid-incident; at the end an object is ingested again. Exactly one
/// firing and one resolved per incident, and the counts equal the single-environment run's.
#[tokio::test]
async fn environments_sharing_the_table_count_once_and_announce_once() {
    let Some(table) = table("environments_sharing_the_table_count_once_and_announce_once").await
    else {
        return;
    };
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    let clock = clock();
    let a = environment(&table, &clock, no_silence()).await;
    let b = environment(&table, &clock, no_silence()).await;
    let mut totals = BatchSummary::default();
    let mut add = |s: BatchSummary| {
        totals.records += s.records;
        totals.duplicates += s.duplicates;
        totals.entries += s.entries;
        totals.late += s.late;
        totals.poison += s.poison;
    };
    let mut seq = 1;
    let mut c = None;
    let files = incident_files().len();
    assert_eq!(files, 6);
    for i in 0..files {
        let records = incident_file_records(i).await;
        let ev = event(&records, seq);
        seq += records.len() as u64;
        match i {
            2 | 3 => {
                let (x, y) = tokio::join!(handle(&a, &ev, &server), handle(&b, &ev, &server));
                add(x);
                add(y);
            }
            0 | 4 => add(handle(&a, &ev, &server).await),
            1 => add(handle(&b, &ev, &server).await),
            _ => {
                // B's environment was recycled: a fresh one, knowing nothing, takes over.
                let fresh = environment(&table, &clock, no_silence()).await;
                add(handle(&fresh, &ev, &server).await);
                c = Some(fresh);
            }
        }
        clock.advance(300_000_000);
    }
    let c = c.expect("the fresh environment ran");
    // End of input: every window final, then the scheduled check in two environments at once.
    a.engine().finish().await.expect("flush");
    c.engine().finish().await.expect("flush");
    let hook = webhook(&server);
    let (x, y) = tokio::join!(
        a.tick(&hook, Deadline::none()),
        c.tick(&hook, Deadline::none())
    );
    assert_eq!(x.store_failures + y.store_failures, 0);

    // The first object ingested again (new Kinesis records, same contents) adds nothing.
    let again = incident_file_records(0).await;
    let s = handle(&c, &event(&again, 9000), &server).await;
    assert_eq!((s.duplicates, s.entries), (again.len() as u64, 0));

    let records_2_3 =
        (incident_file_records(2).await.len() + incident_file_records(3).await.len()) as u64;
    assert_eq!(
        totals.duplicates, records_2_3,
        "the racing redeliveries added nothing: {totals:?}"
    );
    assert_eq!(
        totals.entries,
        764 + 34 + 847 + 27,
        "every 5xx entry counted once"
    );
    assert_eq!(totals.late + totals.poison, 0);

    let tg = "no target";
    let posted = bodies(&server).await;
    // The window counts read back from the table carry the cause split too.
    assert!(
        serde_json::to_string(&posted)
            .expect("JSON")
            .contains("*Cause:* 1 returned by the target, 159 generated by the load balancer"),
        "{posted:#?}"
    );
    // And the failing paths, ids folded.
    assert!(
        serde_json::to_string(&posted)
            .expect("JSON")
            .contains("/api/v1/products/{id}"),
        "{posted:#?}"
    );
    let mut got = announced(&posted);
    got.sort();
    let expect = |t: &str, s: &str| (t.to_owned(), s.to_owned());
    assert_eq!(
        got,
        [
            expect("10.0.1.11:8080", "FIRING"),
            expect("10.0.1.11:8080", "RESOLVED"),
            expect(tg, "FIRING"),
            expect(tg, "RESOLVED"),
        ],
        "one firing and one resolved per incident"
    );
    let requests = dynamo_requests(&a) + dynamo_requests(&b) + dynamo_requests(&c);
    eprintln!(
        "DynamoDB requests: {requests} for {} records, {} 5xx entries",
        totals.records, totals.entries
    );
}

/// Log delivery stops: two environments run the scheduled check at the same moment and one
/// "no access logs" notification is posted; logs resume: one "flowing again".
#[tokio::test]
async fn log_silence_is_announced_once_by_racing_environments() {
    let Some(table) = table("log_silence_is_announced_once_by_racing_environments").await else {
        return;
    };
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    let clock = clock();
    let silence = SilenceConfig {
        after_us: 1_000_000,
    };
    let a = environment(&table, &clock, silence).await;
    let b = environment(&table, &clock, silence).await;
    let first = incident_file_records(0).await;
    handle(&a, &event(&first, 1), &server).await;
    clock.advance(2_000_000);
    let hook = webhook(&server);
    let _ = tokio::join!(
        a.tick(&hook, Deadline::none()),
        b.tick(&hook, Deadline::none())
    );
    let _ = a.tick(&hook, Deadline::none()).await;
    let texts = |bodies: Vec<Value>| -> Vec<String> {
        bodies
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let posted = texts(bodies(&server).await);
    assert_eq!(
        posted
            .iter()
            .filter(|t| t.contains("NO ACCESS LOGS"))
            .count(),
        1,
        "{posted:#?}"
    );
    clock.advance(100_000);
    let second = incident_file_records(1).await;
    let ev = event(&second, 100);
    let (x, y) = tokio::join!(handle(&a, &ev, &server), handle(&b, &ev, &server));
    assert_eq!(x.duplicates + y.duplicates, second.len() as u64);
    let _ = b.tick(&hook, Deadline::none()).await;
    let posted = texts(bodies(&server).await);
    assert_eq!(
        posted
            .iter()
            .filter(|t| t.contains("flowing again"))
            .count(),
        1,
        "{posted:#?}"
    );
}

/// A count for a window that is already final by the stored watermark is refused by the table
/// itself — even when no environment has written that window yet, so no evaluation can have
/// frozen it — and reported late; a window still open lands in the same call.
#[tokio::test]
async fn the_table_refuses_windows_behind_the_stored_watermark() {
    use albwatch::alert::store::{RecordCounts, StateStore, WindowDelta};
    use albwatch::alert::window::{KeyId, WindowAgg};
    use albwatch::record::KeyKind;

    let Some(table) = table("the_table_refuses_windows_behind_the_stored_watermark").await else {
        return;
    };
    let clock = clock();
    let config = AlertConfig::default();
    let store = AnyStore::from_table(Some(&table), &config, Arc::new(clock.clone())).await;
    let lb = "app/shop/1";
    let t0 = parse_time_us("2025-06-21T22:00:00Z").expect("time");
    let minute = 60_000_000;
    // The watermark is an hour on: the window at t0 is final (end + 10 min lateness passed).
    store
        .advance(lb, Some(t0 + 60 * minute), clock.now_us())
        .await
        .expect("advance");
    let delta = |start_us: i64| {
        let mut agg = WindowAgg::new(KeyKind::Target);
        agg.entry_5xx = 3;
        WindowDelta {
            start_us,
            agg,
            entries: 3,
            entries_5xx: 3,
            tallies: 0,
            max_time_us: start_us + 1,
        }
    };
    let key = KeyId {
        load_balancer: Arc::from(lb),
        key: Arc::from("10.0.1.11:8080"),
    };
    let open = t0 + 55 * minute;
    let report = store
        .add_counts(
            &key,
            &[RecordCounts {
                id: 7,
                windows: vec![delta(t0), delta(open)],
            }],
        )
        .await
        .expect("add");
    assert_eq!(report.late, [(7, t0)]);
    assert!(report.duplicates.is_empty());
    let stored: Vec<i64> = store
        .windows(&key, None)
        .await
        .expect("windows")
        .iter()
        .map(|w| w.start_us)
        .collect();
    assert_eq!(stored, [open], "only the open window landed");
}

/// An environment that counted a batch and died before evaluating it: the key is not active
/// yet, but it is pending, and the scheduled check (any environment) announces it.
#[tokio::test]
async fn a_batch_whose_evaluation_was_lost_is_announced_by_the_scheduled_check() {
    let Some(table) =
        table("a_batch_whose_evaluation_was_lost_is_announced_by_the_scheduled_check").await
    else {
        return;
    };
    let server = MockServer::start().await;
    mount(&server, respond(200, "ok"), None, 1).await;
    let clock = clock();
    let died = environment(&table, &clock, no_silence()).await;
    let batch = died.engine().batch();
    for data in incident_file_records(2).await {
        batch.ingest_bytes(&data).expect("valid record");
    }
    let committed = died.engine().commit(batch).await;
    assert!(committed.failed.is_empty());
    assert!(committed.counters.entries_5xx > 0);
    drop(died);

    let other = environment(&table, &clock, no_silence()).await;
    let summary = other.tick(&webhook(&server), Deadline::none()).await;
    assert_eq!(summary.store_failures, 0);
    let got = announced(&bodies(&server).await);
    assert!(
        got.contains(&("10.0.1.11:8080".to_owned(), "FIRING".to_owned())),
        "{got:?}"
    );
    // Announced once: the next check has nothing to say.
    let again = other.tick(&webhook(&server), Deadline::none()).await;
    assert_eq!(again.delivered, 0);
}

/// A bot destination over the table: the first environment posts the incidents' messages; a
/// fresh environment with a fresh bot client (a cold start, knowing nothing) takes over
/// mid-incident and edits the same messages (their `ts` read from the ledgers), then resolves
/// them in their threads.
#[tokio::test]
async fn a_cold_start_mid_incident_edits_the_same_messages() {
    let Some(table) = table("a_cold_start_mid_incident_edits_the_same_messages").await else {
        return;
    };
    let api = crate::slack_api::SlackApi::start().await;
    let clock = clock();
    let first = environment_with(&table, &clock, no_silence(), true).await;
    let mut seq = 1;
    let mut env = &first;
    let fresh = environment_with(&table, &clock, no_silence(), true).await;
    for i in 0..incident_files().len() {
        if i == 4 {
            env = &fresh;
        }
        let records = incident_file_records(i).await;
        let (response, _) = env
            .handle_with_summary(&event(&records, seq), &Ready(&api.bot()), Deadline::none())
            .await;
        assert!(response.batch_item_failures.is_empty());
        seq += records.len() as u64;
        clock.advance(300_000_000);
    }
    assert_eq!(
        api.posts().len(),
        2,
        "both incidents posted before the cold start"
    );
    fresh.engine().finish().await.expect("flush");
    for _ in 0..2 {
        fresh.tick(&Ready(&api.bot()), Deadline::none()).await;
        clock.advance(60_000_000);
    }
    let posts = api.posts();
    assert_eq!(
        posts.len(),
        2,
        "no new message after the cold start: {posts:#?}"
    );
    for (ts, m) in &posts {
        assert!(
            m.blocks.to_string().contains("*RESOLVED*"),
            "{ts} edited to resolved"
        );
        let replies = api.replies(ts);
        assert_eq!(
            replies
                .iter()
                .filter(|r| r.text.contains("Resolved"))
                .count(),
            1,
            "{replies:#?}"
        );
    }
}
