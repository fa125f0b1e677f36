//! The whole pipeline against real LocalStack services, with the Lambdas run in process:
//! S3 bucket notification → SQS → ingest handler → Kinesis (2 shards) → `GetRecords` →
//! `KinesisEvent` → alerter handler → a real HTTP server on 127.0.0.1 standing in for the Slack
//! webhook (wiremock). Then the same data through the real `albwatch replay` and
//! `albwatch consume` binaries. A CloudWatch Logs subscription payload on the same stream must
//! reach Slack as a log-group alert. Gated by `ALBWATCH_LOCALSTACK=1` (see `localstack.rs`).
//!
//! Only what the Lambda path produces is asserted: the alerter Lambda never calls
//! `Engine::finish`, so the incident's recoveries (which need five clean final windows after the
//! last data) are not announced here, unlike `albwatch simulate`.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use albwatch::cwlogs::{decode_payload, encode_payload, is_cloudwatch_payload};
use albwatch::ingest::trigger::decode_s3_event_key;
use albwatch::ingest::{Deadline, IngestConfig, IngestHandler, S3Source};
use albwatch::kinesis::poller::read_to_tip;
use albwatch::kinesis::stream::StreamClient;
use albwatch::notify::notification::{Notification, Source, Status, TargetKind};
use albwatch::notify::notifier::Ready;
use albwatch::notify::webhook::{SlackWebhook, WebhookUrl};

use crate::alerter_slack::{alerter, fast_policy};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::localstack::{
    LocalStack, REGION, create_bucket, create_queue, create_stream, notify_queue, put_object,
    receive_until, unique_name,
};

/// The incident fixture: six 5-minute ALB log files under their real S3 layout.
const INCIDENT: &str = "fixtures/incident";
const LOAD_BALANCER: &str = "app/shop-prod/50dc6c495c0c9188";
/// The target that fails 22:42–22:48.
const FAILING: &str = "10.0.1.11:8080";
/// Targets that never cross the threshold.
const HEALTHY: [&str; 2] = ["10.0.1.10:8080", "10.0.1.12:8080"];
/// The no-target 503 burst (22:45) is keyed by the target group.
const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff";
const HOOK: &str = "/services/T000/B000/XXXXXXXX";
/// A decoded CloudWatch Logs subscription payload with four `NOTIFY` events out of ten.
const LOGS_FIXTURE: &str = "fixtures/events/cloudwatch-logs-subscription.json";
const LOG_GROUP: &str = "/aws/lambda/albwatch-prod";
const LOG_STREAM: &str = "2025/06/21/[$LATEST]4f9c2b7e1d8a4c3f9e6b0a5d2c7f1e84";
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

fn incident_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(INCIDENT)
}

/// The six logs as (S3 key, bytes), in key (= time) order.
fn incident_objects() -> Vec<(String, Vec<u8>)> {
    let root = incident_dir();
    let mut objects: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root.join("AWSLogs"))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("fixture directory"))
        .filter(|e| e.file_type().is_file() && e.path().to_string_lossy().ends_with(".log.gz"))
        .map(|e| {
            let key = e
                .path()
                .strip_prefix(&root)
                .expect("under the fixture")
                .to_string_lossy()
                .into_owned();
            (key, std::fs::read(e.path()).expect("read fixture"))
        })
        .collect();
    objects.sort();
    assert_eq!(objects.len(), 6, "the incident has six log files");
    objects
}

/// `expected.json` of the incident.
fn expected() -> Value {
    let text =
        std::fs::read_to_string(incident_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// 5xx entries of the incident (what the ingest forwards in `errors` mode).
fn expected_5xx() -> u64 {
    expected()["totals_by_target"]
        .as_object()
        .expect("totals_by_target")
        .values()
        .map(|t| t["elb_5xx"].as_u64().expect("elb_5xx"))
        .sum()
}

/// The subscription payload fixture as a subscription filter writes it to Kinesis (gzip).
fn logs_record() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(LOGS_FIXTURE);
    let json = std::fs::read(&path).expect("CloudWatch Logs fixture");
    let payload = decode_payload(&json).expect("the fixture is a subscription payload");
    let data = encode_payload(&payload);
    assert!(
        is_cloudwatch_payload(&data),
        "gzip, told apart from ALB records"
    );
    data
}

/// Puts one record, as a CloudWatch Logs subscription filter would.
async fn put_logs_record(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    kinesis
        .put_record()
        .stream_name(stream)
        .partition_key(LOG_STREAM)
        .data(aws_sdk_kinesis::primitives::Blob::new(logs_record()))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put the CloudWatch Logs payload: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(e)
            )
        });
}

/// Reads every shard from `TRIM_HORIZON` until caught up, as Lambda event records in arrival
/// order (the library's event-source-mapping reader, as `albwatch consume` reads).
async fn read_events(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<KinesisEventRecord> {
    let client = StreamClient::new(kinesis.clone(), stream, Some(REGION.to_owned()));
    tokio::time::timeout(READ_TIMEOUT, read_to_tip(client))
        .await
        .unwrap_or_else(|_| panic!("reading {stream} never caught up"))
        .unwrap_or_else(|e| panic!("reading {stream}: {e}"))
}

/// The JSON bodies the Slack stand-in received, in order.
async fn posted(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("the webhook body is JSON"))
        .collect()
}

/// The mrkdwn of every section block of `bodies` (one per notification).
fn sections(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .filter_map(|b| b["blocks"].as_array())
        .flatten()
        .filter(|block| block["type"] == "section")
        .filter_map(|block| block["text"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// Checks the Block Kit messages: the failing target fired exactly once, the no-target burst
/// fired under its target group, and the healthy targets appear nowhere.
fn assert_incident_messages(bodies: &[Value]) {
    assert!(!bodies.is_empty(), "something was posted");
    let all = sections(bodies);
    let firing = |needle: &str| {
        all.iter()
            .filter(|t| t.starts_with(":red_circle: *FIRING*") && t.contains(needle))
            .count()
    };
    assert_eq!(
        firing(&format!("target `{FAILING}`")),
        1,
        "{FAILING} fires exactly once: {all:#?}"
    );
    assert_eq!(
        firing(&format!(
            "(no target) — target group <https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#TargetGroup:targetGroupArn={TARGET_GROUP}|shop-web>"
        )),
        1,
        "the no-target 503 burst fires under its target group, linked: {all:#?}"
    );
    assert_eq!(
        firing(
            "*Incident:* since <!date^1750545720^{date_short_pretty} {time_secs}|2025-06-21T22:42:00Z>"
        ),
        1,
        "the failing target's incident began at 22:42, two windows before its worst: {all:#?}"
    );
    let text = serde_json::to_string(bodies).expect("JSON");
    for healthy in HEALTHY {
        assert!(
            !text.contains(healthy),
            "nothing about healthy {healthy}: {bodies:#?}"
        );
    }
    assert!(
        all.iter().all(|t| !t.contains("*RESOLVED*")),
        "no recovery without the end-of-input flush: {all:#?}"
    );
    assert!(
        bodies.iter().all(|b| b["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(LOAD_BALANCER))),
        "every message names the load balancer: {bodies:#?}"
    );
}

/// A bucket notifying a queue of created objects, and a 2-shard stream.
struct Pipeline {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    kinesis: aws_sdk_kinesis::Client,
    bucket: String,
    queue_url: String,
    queue_arn: String,
    stream: String,
}

impl Pipeline {
    async fn new(ls: &LocalStack) -> Self {
        let (s3, sqs, kinesis) = (ls.s3(), ls.sqs(), ls.kinesis());
        let bucket = unique_name("albwatch-e2e-logs");
        let stream = unique_name("albwatch-e2e-alerts");
        let (queue_url, queue_arn) = create_queue(&sqs, &unique_name("albwatch-e2e")).await;
        create_bucket(&s3, &bucket).await;
        notify_queue(&s3, &bucket, &queue_arn).await;
        create_stream(&kinesis, &stream, 2).await;
        Self {
            s3,
            sqs,
            kinesis,
            bucket,
            queue_url,
            queue_arn,
            stream,
        }
    }

    /// Uploads the objects and returns the SQS messages notifying them, in key order (the
    /// order S3 delivers 5-minute log files in), test events left out.
    async fn upload(&self, objects: &[(String, Vec<u8>)]) -> Vec<aws_sdk_sqs::types::Message> {
        for (key, body) in objects {
            put_object(&self.s3, &self.bucket, key, body.clone()).await;
        }
        let messages = receive_until(&self.sqs, &self.queue_url, MESSAGE_TIMEOUT, |all| {
            objects
                .iter()
                .all(|(k, _)| all.iter().any(|m| notified_key(m).as_deref() == Some(k)))
        })
        .await;
        let mut by_key: HashMap<String, aws_sdk_sqs::types::Message> = HashMap::new();
        for m in messages {
            if let Some(key) = notified_key(&m) {
                by_key.entry(key).or_insert(m);
            }
        }
        objects
            .iter()
            .map(|(k, _)| by_key.remove(k).expect("notified"))
            .collect()
    }

    /// The Lambda event SQS would deliver for these messages.
    fn sqs_event(&self, messages: &[aws_sdk_sqs::types::Message]) -> Value {
        let mut event = SqsEvent::default();
        for m in messages {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id().map(str::to_owned);
            message.receipt_handle = m.receipt_handle().map(str::to_owned);
            message.body = m.body().map(str::to_owned);
            message.md5_of_body = m.md5_of_body().map(str::to_owned);
            message.event_source = Some("aws:sqs".into());
            message.event_source_arn = Some(self.queue_arn.clone());
            message.aws_region = Some(REGION.into());
            event.records.push(message);
        }
        serde_json::to_value(event).expect("SQS event JSON")
    }
}

/// The decoded key of the S3 notification in an SQS message, if it is one.
fn notified_key(message: &aws_sdk_sqs::types::Message) -> Option<String> {
    let body: Value = serde_json::from_str(message.body()?).ok()?;
    let key = body["Records"][0]["s3"]["object"]["key"].as_str()?;
    decode_s3_event_key(key).ok()
}

/// A Slack stand-in answering `ok` to every post.
async fn slack_stand_in() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(HOOK))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn s3_notifications_to_slack_through_localstack() {
    let Some(ls) = LocalStack::connect("s3_notifications_to_slack_through_localstack").await else {
        return;
    };
    let p = Pipeline::new(&ls).await;
    let objects = incident_objects();
    let messages = p.upload(&objects).await;

    // The ingest Lambda on the SQS event.
    let ingest = IngestHandler::new(
        S3Source::new(p.s3.clone()),
        ls.kinesis_sink(&p.stream),
        IngestConfig {
            stream_name: Some(p.stream.clone()),
            ..IngestConfig::default()
        },
    );
    let response = ingest
        .handle(
            &p.sqs_event(&messages),
            Deadline::after(Duration::from_secs(120)),
        )
        .await
        .expect("ingest handler");
    assert_eq!(response, json!({"batchItemFailures": []}));

    // What the alerter's event source mapping reads. Lambda delivers one shard's batch per
    // invocation; one engine sees them all here, so the records are handed over in arrival
    // order (as `albwatch consume` does), or one shard's later windows would make the other
    // shard's data late.
    let mut records = read_events(&p.kinesis, &p.stream).await;
    let shards: std::collections::HashSet<_> = records
        .iter()
        .filter_map(|r| r.event_id.as_deref()?.split(':').next())
        .collect();
    assert_eq!(shards.len(), 2, "records on both shards");
    records.sort_by_key(|r| r.kinesis.approximate_arrival_timestamp.0);
    let mut event = KinesisEvent::default();
    event.records = records;
    // The event as Lambda serializes it, to be sure the handler reads that form.
    let event: KinesisEvent =
        serde_json::from_value(serde_json::to_value(&event).expect("event JSON"))
            .expect("Lambda's KinesisEvent form");

    let server = slack_stand_in().await;
    let url = WebhookUrl::parse(&format!("{}{HOOK}", server.uri())).expect("loopback URL");
    let webhook = SlackWebhook::with_policy(url, fast_policy()).expect("HTTP client");
    let alerter = alerter();
    let (response, summary) = alerter
        .handle_with_summary(&event, &Ready(&webhook), Deadline::none())
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    assert_eq!(summary.records, event.records.len() as u64);
    assert_eq!(
        (summary.poison, summary.duplicates, summary.late),
        (0, 0, 0)
    );
    assert_eq!(summary.entries, expected_5xx(), "every 5xx entry counted");
    assert_eq!((summary.delivered, summary.failed), (2, 0));

    let bodies = posted(&server).await;
    assert_eq!(bodies.len(), 1, "one message for the load balancer");
    assert_incident_messages(&bodies);

    // Lambda retrying the same batch: duplicates only, nothing posted again.
    let (response, summary) = alerter
        .handle_with_summary(&event, &Ready(&webhook), Deadline::none())
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(summary.duplicates, event.records.len() as u64);
    assert_eq!(summary.delivered, 0);
    assert_eq!(posted(&server).await.len(), 1, "nothing posted twice");
}

/// The messages about the log group, and the ALB ones.
fn split_logs(bodies: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
    bodies
        .into_iter()
        .partition(|b| b["text"].as_str().is_some_and(|t| t.starts_with(LOG_GROUP)))
}

/// Checks the log-group message: the stream's `NOTIFY` events fired once.
fn assert_logs_message(bodies: &[Value]) {
    assert_eq!(
        bodies.len(),
        1,
        "one message for the log group: {bodies:#?}"
    );
    let all = sections(bodies);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].starts_with(":red_circle: *FIRING*")
            && all[0].contains(&format!("log stream `{LOG_STREAM}`"))
            && all[0].contains("NOTIFY"),
        "{all:#?}"
    );
}

#[tokio::test]
async fn cloudwatch_logs_payload_on_the_stream_reaches_slack() {
    let Some(ls) = LocalStack::connect("cloudwatch_logs_payload_on_the_stream_reaches_slack").await
    else {
        return;
    };
    let kinesis = ls.kinesis();
    let stream = unique_name("albwatch-e2e-logs");
    create_stream(&kinesis, &stream, 2).await;
    put_logs_record(&kinesis, &stream).await;
    let mut event = KinesisEvent::default();
    event.records = read_events(&kinesis, &stream).await;
    assert_eq!(event.records.len(), 1);

    let server = slack_stand_in().await;
    let url = WebhookUrl::parse(&format!("{}{HOOK}", server.uri())).expect("loopback URL");
    let webhook = SlackWebhook::with_policy(url, fast_policy()).expect("HTTP client");
    let alerter = alerter();
    let (response, summary) = alerter
        .handle_with_summary(&event, &Ready(&webhook), Deadline::none())
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!((summary.records, summary.poison), (1, 0));
    assert_eq!((summary.delivered, summary.failed), (1, 0));
    let (logs, alb) = split_logs(posted(&server).await);
    assert!(alb.is_empty(), "{alb:#?}");
    assert_logs_message(&logs);

    // A redelivered payload is dropped whole: nothing posted again.
    let (_, summary) = alerter
        .handle_with_summary(&event, &Ready(&webhook), Deadline::none())
        .await;
    assert_eq!((summary.duplicates, summary.delivered), (1, 0));
    assert_eq!(posted(&server).await.len(), 1);
}

/// Runs the `albwatch` binary with test credentials and no `AWS_ENDPOINT_URL` (the commands get
/// `--endpoint-url`), killing it after `timeout`.
fn albwatch(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_albwatch"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start albwatch");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for albwatch") {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "albwatch {args:?} did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// [`albwatch`] on a blocking thread, so the test's runtime (and the Slack stand-in) keep
/// running; fails unless it exits 0.
async fn albwatch_ok(args: Vec<String>) -> (String, String) {
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = albwatch(&args, CLI_TIMEOUT);
        (args.join(" "), out)
    })
    .await
    .expect("albwatch thread");
    let (command, out) = out;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "albwatch {command} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_consume_binaries_through_localstack() {
    let Some(ls) = LocalStack::connect("replay_then_consume_binaries_through_localstack").await
    else {
        return;
    };
    let kinesis = ls.kinesis();
    let stream = unique_name("albwatch-e2e-replay");
    create_stream(&kinesis, &stream, 2).await;
    let endpoint = ls.endpoint.clone();
    let incident = incident_dir().display().to_string();

    // albwatch replay: the ingest's code path into the stream.
    let (stdout, _) = albwatch_ok(
        [
            "replay",
            "--stream",
            &stream,
            "--endpoint-url",
            &endpoint,
            "--format",
            "json",
            &incident,
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("replay prints JSON lines"))
        .collect();
    let files: Vec<&Value> = lines.iter().filter(|l| l["type"] == "file").collect();
    let total = lines
        .iter()
        .find(|l| l["type"] == "total")
        .expect("a total line");
    assert_eq!(files.len(), 6, "one line per file: {stdout}");
    assert_eq!(total["files"], 6);
    assert_eq!(total["failed"], 0);
    assert_eq!(
        total["entries"],
        expected()["lines"],
        "every line is an entry"
    );
    assert_eq!(total["forwarded"].as_u64(), Some(expected_5xx()));
    let written = total["records"].as_u64().expect("records");
    assert!(written > 0);
    assert!(total["bytes"].as_u64() > Some(0));
    assert!(total["retried_records"].is_u64());
    eprintln!(
        "replay into LocalStack: {} entries in {:.2} s = {:.0} entries/s, {written} records",
        total["entries"],
        total["seconds"].as_f64().unwrap_or_default(),
        total["entries_per_second"].as_f64().unwrap_or_default(),
    );

    // --dry-run cuts exactly the records a real replay writes, and writes none.
    let (dry, _) = albwatch_ok(
        ["replay", "--dry-run", "--format", "json", &incident]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    let dry_total: Value = dry
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("replay prints JSON lines"))
        .find(|l| l["type"] == "total")
        .expect("a total line");
    for field in ["files", "entries", "forwarded", "records", "bytes"] {
        assert_eq!(dry_total[field], total[field], "{field}: {dry}");
    }

    // A CloudWatch Logs subscription writes to the same stream.
    put_logs_record(&kinesis, &stream).await;

    // albwatch consume --once: the alerter's handler on what GetRecords returns.
    let (stdout, stderr) = albwatch_ok(
        [
            "consume",
            "--stream",
            &stream,
            "--endpoint-url",
            &endpoint,
            "--once",
            "--format",
            "json",
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    let notifications: Vec<Notification> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("consume prints notifications as JSON lines"))
        .collect();
    let count = |target: &str, status: Status| {
        notifications
            .iter()
            .filter(|n| n.target == target && n.status == status)
            .count()
    };
    assert_eq!(count(FAILING, Status::Firing), 1, "{notifications:#?}");
    assert_eq!(count(TARGET_GROUP, Status::Firing), 1, "{notifications:#?}");
    let (logs, alb): (Vec<&Notification>, Vec<&Notification>) = notifications
        .iter()
        .partition(|n| n.source == Source::CloudwatchLogs);
    for n in &alb {
        assert_eq!(n.load_balancer, LOAD_BALANCER);
        assert!(!HEALTHY.contains(&n.target.as_str()), "{n:#?}");
    }
    assert_eq!(logs.len(), 1, "one log-group alert: {notifications:#?}");
    assert_eq!(
        (logs[0].load_balancer.as_str(), logs[0].target.as_str()),
        (LOG_GROUP, LOG_STREAM)
    );
    assert_eq!((logs[0].status, logs[0].count_5xx), (Status::Firing, 4));
    let failing = notifications
        .iter()
        .find(|n| n.target == FAILING)
        .expect("failing target");
    assert_eq!(failing.target_kind, TargetKind::Target);
    assert_eq!(failing.target_group.as_deref(), Some(TARGET_GROUP));
    assert!(failing.count_5xx >= 10 && failing.error_rate > Some(0.05));
    assert!(
        stderr.contains(&format!("{} records", written + 1)) && stderr.contains("(0 late,"),
        "every record read, none of it late (records merged across shards by arrival): {stderr}"
    );

    // Again from the start, posting to a Slack stand-in: the same announcements as Block Kit.
    let server = slack_stand_in().await;
    let webhook = format!("{}{HOOK}", server.uri());
    albwatch_ok(
        [
            "consume",
            "--stream",
            &stream,
            "--endpoint-url",
            &endpoint,
            "--once",
            "--slack-webhook",
            &webhook,
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    let (logs, alb) = split_logs(posted(&server).await);
    assert_incident_messages(&alb);
    assert_logs_message(&logs);
}
