//! The adoption paths of the README against LocalStack: an existing bucket's notifications
//! merged with EventBridge by `scripts/enable-eventbridge.sh` (its SQS notification survives
//! and still delivers), and one stack watching several load balancers' prefixes and only some
//! accounts of a central bucket (the others skipped, never failed). Gated by
//! `ALBWATCH_LOCALSTACK=1` (see `localstack.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use albwatch::ingest::config::STREAM_NAME_ENV;
use albwatch::ingest::keys::{ALLOWED_ACCOUNTS_ENV, PREFIX_ENV};
use albwatch::ingest::trigger::decode_s3_event_key;
use albwatch::ingest::{Deadline, IngestConfig, IngestHandler, ObjectOutcome, S3Source};
use albwatch::record::Record;
use aws_sdk_s3::types::Event;
use serde_json::{Value, json};

use crate::localstack::{
    LocalStack, REGION, create_bucket, create_queue, create_stream, notify_queue, put_object,
    read_stream, receive_until, unique_name,
};

const ACCOUNT: &str = "123456789012";
const DAY: &str = "elasticloadbalancing/us-east-1/2025/06/21/";
const FILE_2245: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.15_3apj8aqk.log.gz";
const FILE_2250: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_35gzk084.log.gz";
const TIMEOUT: Duration = Duration::from_secs(30);

fn incident(file: &str) -> Vec<u8> {
    let full = format!(
        "{}/fixtures/incident/AWSLogs/{ACCOUNT}/{DAY}{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The bucket's notification configuration, as S3 returns it.
async fn notifications(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput
{
    s3.get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "notification configuration of {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })
}

/// Runs `scripts/enable-eventbridge.sh ARGS` against LocalStack with `stdin` as the answer.
///
/// The AWS CLI is the one `scripts/localstack.sh` installs with LocalStack (its venv), or any
/// `aws` on `PATH`.
fn enable_eventbridge(ls: &LocalStack, args: &[&str], stdin: &str) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv_bin = root.join(".venv/localstack/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&path).collect::<Vec<PathBuf>>()),
    )
    .expect("PATH");
    let mut child = Command::new(root.join("scripts/enable-eventbridge.sh"))
        .args(args)
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", &ls.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scripts/enable-eventbridge.sh runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("answer written");
    let out = child.wait_with_output().expect("script output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("AWS CLI (aws) is not on PATH"),
        "the AWS CLI is needed: `scripts/localstack.sh install` puts one in .venv/localstack"
    );
    out
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test]
async fn adopt_existing_bucket_keeps_its_queue_notification() {
    let Some(ls) = LocalStack::connect("adopt_existing_bucket_keeps_its_queue_notification").await
    else {
        return;
    };
    let (s3, sqs) = (ls.s3(), ls.sqs());
    let bucket = unique_name("albwatch-existing");
    let (queue_url, queue_arn) = create_queue(&sqs, &unique_name("albwatch-existing")).await;
    create_bucket(&s3, &bucket).await;
    notify_queue(&s3, &bucket, &queue_arn).await;
    let queue_config = notifications(&s3, &bucket).await.queue_configurations;
    assert_eq!(queue_config.as_ref().map(Vec::len), Some(1));

    // Declined: the diff is shown, nothing is written.
    let out = enable_eventbridge(&ls, &[&bucket], "n\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("+    \"EventBridgeConfiguration\": {}"),
        "the change is shown: {stdout}"
    );
    assert!(
        notifications(&s3, &bucket)
            .await
            .event_bridge_configuration
            .is_none()
    );

    // Accepted: EventBridge on, the queue's entry exactly as it was.
    let out = enable_eventbridge(&ls, &[&bucket], "y\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = notifications(&s3, &bucket).await;
    assert!(after.event_bridge_configuration.is_some(), "EventBridge on");
    assert_eq!(after.queue_configurations, queue_config, "queue kept");
    let queue = &after.queue_configurations.as_deref().expect("queue")[0];
    assert_eq!(queue.queue_arn(), queue_arn);
    assert_eq!(queue.events(), [Event::S3ObjectCreated]);

    // Again: nothing to do.
    let out = enable_eventbridge(&ls, &["--yes", &bucket], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already"),
        "{}",
        text(&out.stdout)
    );

    // The queue still hears of new objects.
    let key = format!("AWSLogs/{ACCOUNT}/{DAY}{FILE_2250}");
    put_object(&s3, &bucket, &key, incident(FILE_2250)).await;
    receive_until(&sqs, &queue_url, TIMEOUT, |messages| {
        messages.iter().any(|m| {
            let body: Value =
                serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
            body["Records"][0]["s3"]["object"]["key"]
                .as_str()
                .and_then(|k| decode_s3_event_key(k).ok())
                .is_some_and(|k| k == key)
        })
    })
    .await;
}

/// The EventBridge event S3 sends for a created object (`fixtures/events`).
fn object_created(bucket: &str, key: &str, size: usize) -> Value {
    json!({
        "version": "0",
        "id": unique_name("event"),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2025-06-21T23:00:39Z",
        "region": REGION,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size},
            "reason": "PutObject"
        }
    })
}

#[tokio::test]
async fn adopt_several_prefixes_and_allowed_accounts() {
    let Some(ls) = LocalStack::connect("adopt_several_prefixes_and_allowed_accounts").await else {
        return;
    };
    let (s3, kinesis) = (ls.s3(), ls.kinesis());
    let bucket = unique_name("albwatch-central");
    let stream = unique_name("albwatch-central");
    create_bucket(&s3, &bucket).await;
    create_stream(&kinesis, &stream, 1).await;

    // Two load balancers under logs/ (given without its "/"), two allowed accounts.
    let vars = BTreeMap::from([
        (STREAM_NAME_ENV, stream.clone()),
        (PREFIX_ENV, "logs".to_owned()),
        (ALLOWED_ACCOUNTS_ENV, format!("{ACCOUNT},111122223333")),
    ]);
    let config = IngestConfig::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let handler = IngestHandler::new(S3Source::new(s3.clone()), ls.kinesis_sink(&stream), config);

    let other_account = FILE_2245.replace(ACCOUNT, "999999999999");
    let objects = [
        (format!("logs/web/AWSLogs/{ACCOUNT}/{DAY}{FILE_2245}"), None),
        (format!("logs/api/AWSLogs/{ACCOUNT}/{DAY}{FILE_2250}"), None),
        (
            format!("logs/web/AWSLogs/999999999999/{DAY}{other_account}"),
            Some("account_not_allowed"),
        ),
        (
            format!("logsarchive/AWSLogs/{ACCOUNT}/{DAY}{FILE_2245}"),
            Some("prefix_mismatch"),
        ),
    ];
    let mut expected_skips = BTreeMap::new();
    let mut sizes = BTreeMap::new();
    for (key, skip) in &objects {
        let body = if key.contains("2250Z") {
            incident(FILE_2250)
        } else {
            incident(FILE_2245)
        };
        sizes.insert(key.clone(), body.len());
        put_object(&s3, &bucket, key, body).await;
        expected_skips.insert(key.clone(), *skip);
    }

    let mut skips = BTreeMap::new();
    for (key, _) in &objects {
        let event = object_created(&bucket, key, sizes[key]);
        let report = handler
            .process(&event, Deadline::after(Duration::from_secs(120)))
            .await
            .expect("an EventBridge event");
        let [(_, outcome)] = report.objects.as_slice() else {
            panic!("one object per event: {:?}", report.objects);
        };
        let skip = match outcome {
            ObjectOutcome::Ingested(_) => None,
            ObjectOutcome::Skipped { reason } => Some(*reason),
            ObjectOutcome::Failed(e) => panic!("{key} failed: {e}"),
        };
        skips.insert(key.clone(), skip);
    }
    assert_eq!(skips, expected_skips);

    let written: BTreeSet<String> = read_stream(&kinesis, &stream)
        .await
        .into_iter()
        .map(|r| {
            let mut data = r.data;
            Record::from_slice(&mut data)
                .expect("record parses")
                .header
                .source
                .key
                .to_string()
        })
        .collect();
    let ingested: BTreeSet<String> = objects
        .iter()
        .filter(|(_, skip)| skip.is_none())
        .map(|(key, _)| key.clone())
        .collect();
    assert_eq!(written, ingested, "only the allowed objects reach Kinesis");
}
