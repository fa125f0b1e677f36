//! Shared support for tests against a real LocalStack (S3, SQS, Kinesis).
//!
//! - Gate: the tests run when `ALBWATCH_LOCALSTACK=1` (set by `scripts/test.sh`, which starts
//!   LocalStack) or `CI=true`; otherwise [`LocalStack::connect`] prints a skip note and returns
//!   `None`. Once gated in, an unreachable LocalStack **fails** the test (it never silently
//!   skips in CI).
//! - Endpoint: `AWS_ENDPOINT_URL`, default [`DEFAULT_ENDPOINT`]; credentials `test`/`test`,
//!   region `us-east-1`.
//! - Every test creates its own uniquely named resources ([`unique_name`]) and waits by polling
//!   with a timeout ([`poll`]), never with a fixed sleep.

#![allow(dead_code)] // Each test module uses a different subset.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use albwatch::ingest::KinesisSink;
use albwatch::kinesis::poller::read_to_tip;
use albwatch::kinesis::stream::StreamClient;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;

/// LocalStack's default edge endpoint.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";
/// Region used by every test.
pub const REGION: &str = "us-east-1";
/// Variable that enables the LocalStack tests.
pub const GATE_ENV: &str = "ALBWATCH_LOCALSTACK";
/// How long LocalStack may take to answer its health check.
const REACH_TIMEOUT: Duration = Duration::from_secs(20);

/// A reachable LocalStack and an SDK configuration pointing at it.
#[derive(Debug, Clone)]
pub struct LocalStack {
    /// The endpoint URL.
    pub endpoint: String,
    /// Shared SDK settings (endpoint, region, test credentials).
    pub config: SdkConfig,
}

impl LocalStack {
    /// Connects, or returns `None` (after printing why) when the tests are not enabled.
    ///
    /// # Panics
    /// When enabled but LocalStack does not answer within [`REACH_TIMEOUT`].
    pub async fn connect(test: &str) -> Option<Self> {
        let gated = std::env::var(GATE_ENV).is_ok_and(|v| v == "1");
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if !gated && !ci {
            eprintln!(
                "skipping {test}: set {GATE_ENV}=1 (scripts/test.sh does) to run it against LocalStack"
            );
            return None;
        }
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        wait_until_healthy(&endpoint).await.unwrap_or_else(|why| {
            panic!(
                "{test}: LocalStack at {endpoint} is unreachable ({why}); start it with \
                 `bash scripts/localstack.sh start`, or unset {GATE_ENV} and CI to skip"
            )
        });
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "albwatch-tests",
            ))
            .load()
            .await;
        Some(Self { endpoint, config })
    }

    /// An S3 client (path-style addressing, as LocalStack needs).
    #[must_use]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.config)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A Kinesis client.
    #[must_use]
    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.config)
    }

    /// The ingest's sink for `stream`, built as the binaries build it (no SDK retries).
    #[must_use]
    pub fn kinesis_sink(&self, stream: &str) -> KinesisSink {
        KinesisSink::from_conf(&self.config, stream)
    }

    /// An SQS client.
    #[must_use]
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.config)
    }
}

async fn wait_until_healthy(endpoint: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/_localstack/health", endpoint.trim_end_matches('/'));
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < REACH_TIMEOUT {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("health check answered {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last)
}

/// A name no other test (or earlier run) uses: lowercase letters, digits and `-`, ≤ 63 chars,
/// valid for buckets, queues and streams.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    let mut name = format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()).to_ascii_lowercase();
    name.truncate(63);
    name
}

/// Calls `f` until it returns `Some`, every 100–500 ms, for at most `timeout`.
///
/// # Panics
/// On timeout, naming `what`.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        if let Some(value) = f().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Creates a bucket.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Sends the bucket's `s3:ObjectCreated:*` notifications to the queue `queue_arn`.
pub async fn notify_queue(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) {
    let queue = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(Event::S3ObjectCreated)
        .build()
        .expect("queue configuration");
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "notification of {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Uploads an object.
pub async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "put s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

/// Creates a queue; returns its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })
        .queue_url
        .unwrap_or_else(|| panic!("create queue {name}: no URL"));
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "queue attributes {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        });
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_else(|| panic!("queue {name} has no ARN"));
    (url, arn)
}

/// Receives messages until `done(&all_so_far)` holds (or panics after `timeout`). Messages are
/// not deleted.
pub async fn receive_until(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    timeout: Duration,
    mut done: impl FnMut(&[aws_sdk_sqs::types::Message]) -> bool,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    let started = Instant::now();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(300)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "receive from {url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            });
        all.extend(out.messages.unwrap_or_default());
        if done(&all) {
            return all;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for SQS messages on {url}; got {} so far: {:#?}",
            all.len(),
            all.iter()
                .map(|m| m.body().unwrap_or_default())
                .collect::<Vec<_>>()
        );
    }
}

/// Creates a stream with `shards` shards and waits until it is `ACTIVE`.
pub async fn create_stream(kinesis: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create stream {name}: {}",
                aws_sdk_kinesis::error::DisplayErrorContext(e)
            )
        });
    poll(
        &format!("stream {name} to become ACTIVE"),
        Duration::from_secs(30),
        || async {
            let out = kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .ok()?;
            let status = out.stream_description_summary()?.stream_status();
            (*status == StreamStatus::Active).then_some(())
        },
    )
    .await;
}

/// One record read back from a stream.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// Shard it was read from.
    pub shard_id: String,
    /// Partition key Kinesis stored.
    pub partition_key: String,
    /// Data blob.
    pub data: Vec<u8>,
}

/// Reads every record of every shard from `TRIM_HORIZON` until each shard is caught up (the
/// library's event-source-mapping reader).
pub async fn read_stream(kinesis: &aws_sdk_kinesis::Client, name: &str) -> Vec<StreamRecord> {
    let client = StreamClient::new(kinesis.clone(), name, Some(REGION.to_owned()));
    let records = tokio::time::timeout(Duration::from_secs(60), read_to_tip(client))
        .await
        .unwrap_or_else(|_| panic!("reading {name} never caught up"))
        .unwrap_or_else(|e| panic!("reading {name}: {e}"));
    records
        .into_iter()
        .map(|r| StreamRecord {
            shard_id: r
                .event_id
                .as_deref()
                .and_then(|id| id.split(':').next())
                .unwrap_or_default()
                .to_owned(),
            partition_key: r.kinesis.partition_key,
            data: r.kinesis.data.0,
        })
        .collect()
}

#[test]
fn unique_names_are_valid_and_distinct() {
    let a = unique_name("albwatch-logs");
    let b = unique_name("albwatch-logs");
    assert_ne!(a, b);
    for name in [&a, &b, &unique_name(&"x".repeat(80))] {
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
            "{name}"
        );
    }
}
