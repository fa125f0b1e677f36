//! The ingest against real LocalStack services: S3 bucket notification → SQS → ingest handler
//! (in process) → Kinesis → GetRecords from every shard, checked against the fixtures parsed
//! directly with the crate's parser. Gated by `ALBWATCH_LOCALSTACK=1` (see `localstack.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::time::Duration;

use albwatch::alb::parse_line;
use albwatch::ingest::partition::partition_key;
use albwatch::ingest::trigger::decode_s3_event_key;
use albwatch::ingest::{Deadline, IngestConfig, IngestHandler, KinesisSink, S3Source};
use albwatch::record::{KeyKind, Record};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};

use crate::localstack::{
    LocalStack, StreamRecord, create_bucket, create_queue, create_stream, notify_queue, put_object,
    read_stream, receive_until, unique_name,
};

const DIR: &str = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/";
const FILE_2245: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.15_3apj8aqk.log.gz";
const FILE_2250: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_35gzk084.log.gz";
/// An access-log-shaped name for the corrupt fixture.
const FILE_CORRUPT: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2305Z_10.0.1.15_c0rrupt0.log.gz";
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn incident(file: &str) -> Vec<u8> {
    fixture(&format!("incident/{DIR}{file}"))
}

/// Bucket with S3 → SQS notifications for created objects, a queue, and a 2-shard stream.
struct Setup {
    ls: LocalStack,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    kinesis: aws_sdk_kinesis::Client,
    bucket: String,
    queue_url: String,
    queue_arn: String,
    stream: String,
}

impl Setup {
    async fn new(test: &str) -> Option<Self> {
        let ls = LocalStack::connect(test).await?;
        let (s3, sqs, kinesis) = (ls.s3(), ls.sqs(), ls.kinesis());
        let bucket = unique_name("albwatch-logs");
        let stream = unique_name("albwatch-alerts");
        let (queue_url, queue_arn) = create_queue(&sqs, &unique_name("albwatch-ingest")).await;
        create_bucket(&s3, &bucket).await;
        notify_queue(&s3, &bucket, &queue_arn).await;
        create_stream(&kinesis, &stream, 2).await;
        Some(Self {
            ls,
            s3,
            sqs,
            kinesis,
            bucket,
            queue_url,
            queue_arn,
            stream,
        })
    }

    fn handler(&self) -> IngestHandler<S3Source, KinesisSink> {
        let config = IngestConfig {
            stream_name: Some(self.stream.clone()),
            ..IngestConfig::default()
        };
        IngestHandler::new(
            S3Source::new(self.s3.clone()),
            self.ls.kinesis_sink(&self.stream),
            config,
        )
    }

    /// Uploads the objects, then waits for the notification of each one. Returns the real SQS
    /// messages (an `s3:TestEvent` may be among them) and, per key, the id of its message.
    async fn upload(
        &self,
        objects: &[(&str, Vec<u8>)],
    ) -> (Vec<aws_sdk_sqs::types::Message>, HashMap<String, String>) {
        for (key, body) in objects {
            put_object(&self.s3, &self.bucket, key, body.clone()).await;
        }
        let decoded = |m: &aws_sdk_sqs::types::Message| decode_s3_event_key(&notified_key(m)?).ok();
        let messages = receive_until(&self.sqs, &self.queue_url, MESSAGE_TIMEOUT, |all| {
            objects
                .iter()
                .all(|(k, _)| all.iter().any(|m| decoded(m).as_deref() == Some(*k)))
        })
        .await;
        let ids = messages
            .iter()
            .filter_map(|m| Some((decoded(m)?, m.message_id()?.to_owned())))
            .collect();
        (messages, ids)
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
            message.aws_region = Some(crate::localstack::REGION.into());
            event.records.push(message);
        }
        serde_json::to_value(event).expect("SQS event JSON")
    }

    async fn records(&self) -> Vec<StreamRecord> {
        read_stream(&self.kinesis, &self.stream).await
    }
}

/// The (still encoded) key of the S3 notification in an SQS message, if it is one.
fn notified_key(message: &aws_sdk_sqs::types::Message) -> Option<String> {
    let body: Value = serde_json::from_str(message.body()?).ok()?;
    body["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .map(str::to_owned)
}

/// What the records of one object must contain, computed from the file with the parser.
struct Expected {
    last_line: u64,
    /// 5xx line → partition key.
    errors: BTreeMap<u64, String>,
    /// (partition key, minute) → [total, 2xx, 3xx, 4xx, 5xx].
    tallies: BTreeMap<(String, String), [u64; 5]>,
}

fn expected(gz: &[u8]) -> Expected {
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut text)
        .expect("fixture decompresses");
    let mut out = Expected {
        last_line: 0,
        errors: BTreeMap::new(),
        tallies: BTreeMap::new(),
    };
    let mut key = String::new();
    for (i, line) in text
        .strip_suffix(b"\n")
        .unwrap_or(&text)
        .split(|&b| b == b'\n')
        .enumerate()
    {
        let n = i as u64 + 1;
        out.last_line = n;
        let Ok(e) = parse_line(line) else { continue };
        partition_key(&e, &mut key);
        let t = out
            .tallies
            .entry((key.clone(), e.minute().to_owned()))
            .or_default();
        t[0] += 1;
        if e.is_5xx() {
            t[4] += 1;
            out.errors.insert(n, key.clone());
        } else {
            match e.elb_status_code() {
                Some(200..=299) => t[1] += 1,
                Some(300..=399) => t[2] += 1,
                Some(400..=499) => t[3] += 1,
                _ => {}
            }
        }
    }
    out
}

/// Checks the records of object `key` against the fixture; returns how many records it had.
fn verify_object(records: &[StreamRecord], key: &str, gz: &[u8]) -> usize {
    let want = expected(gz);
    let mut errors: BTreeMap<u64, String> = BTreeMap::new();
    let mut tallies: BTreeMap<(String, String), [u64; 5]> = BTreeMap::new();
    let mut ranges: BTreeMap<String, Vec<(u64, [u64; 2], usize)>> = BTreeMap::new();
    let mut ids = HashSet::new();
    let mut count = 0;
    for r in records {
        let mut data = r.data.clone();
        let rec = Record::from_slice(&mut data).expect("every record parses");
        if rec.header.source.key != key {
            continue;
        }
        count += 1;
        let h = &rec.header;
        assert_eq!(
            r.partition_key, h.partition_key,
            "Kinesis key == record key"
        );
        assert!(
            ids.insert(h.dedupe_key()),
            "record id seen twice: {} seq {}",
            h.partition_key,
            h.seq
        );
        assert!(h.source.etag.is_some(), "etag recorded");
        assert_eq!(h.elb, "app/shop-prod/50dc6c495c0c9188");
        for e in &rec.entries {
            assert!(
                h.lines[0] <= e.line && e.line <= h.lines[1],
                "entry inside the record's range"
            );
            match h.key_kind {
                KeyKind::Target => {
                    let target = format!(
                        "{}:{}",
                        e.target_ip.as_deref().unwrap_or("?"),
                        e.target_port.unwrap_or(0)
                    );
                    assert_eq!(target, h.partition_key, "entry target == partition key");
                }
                KeyKind::TargetGroup => {
                    assert!(e.target_ip.is_none());
                    assert_eq!(e.target_group_arn.as_deref(), Some(&*h.partition_key));
                }
                KeyKind::LoadBalancer => {
                    assert!(e.target_ip.is_none() && e.target_group_arn.is_none());
                }
            }
            let previous = errors.insert(e.line, h.partition_key.to_string());
            assert!(previous.is_none(), "line {} forwarded twice", e.line);
        }
        for t in &rec.tallies {
            let slot = (h.partition_key.to_string(), t.minute.to_string());
            let previous = tallies.insert(slot.clone(), [t.total, t.s2xx, t.s3xx, t.s4xx, t.s5xx]);
            assert!(previous.is_none(), "tally {slot:?} present twice");
        }
        ranges
            .entry(h.partition_key.to_string())
            .or_default()
            .push((h.seq, h.lines, rec.entries.len()));
    }
    assert_eq!(
        errors, want.errors,
        "every 5xx entry exactly once, under its partition key"
    );
    assert_eq!(tallies, want.tallies, "every tally exactly once");
    for (pk, mut list) in ranges {
        list.sort_by_key(|(seq, _, _)| *seq);
        let mut next = 1;
        for (i, (seq, [a, b], _)) in list.iter().enumerate() {
            assert_eq!(*seq, i as u64, "{pk}: seq without gaps");
            assert_eq!(*a, next, "{pk}: ranges tile the file");
            assert!(a <= b);
            next = b + 1;
        }
        assert_eq!(
            next,
            want.last_line + 1,
            "{pk}: last range ends at the last line"
        );
    }
    count
}

#[tokio::test]
async fn sqs_notifications_to_kinesis_records() {
    let Some(s) = Setup::new("sqs_notifications_to_kinesis_records").await else {
        return;
    };
    let objects = [
        (format!("{DIR}{FILE_2245}"), incident(FILE_2245)),
        (format!("{DIR}{FILE_2250}"), incident(FILE_2250)),
    ];
    let refs: Vec<(&str, Vec<u8>)> = objects
        .iter()
        .map(|(k, b)| (k.as_str(), b.clone()))
        .collect();
    let (messages, _) = s.upload(&refs).await;
    let event = s.sqs_event(&messages);

    let response = s
        .handler()
        .handle(&event, Deadline::after(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));

    let records = s.records().await;
    let shards: HashSet<_> = records.iter().map(|r| r.shard_id.as_str()).collect();
    assert!(
        shards.len() >= 2,
        "records spread over the shards: {shards:?}"
    );
    let mut total = 0;
    for (key, body) in &objects {
        total += verify_object(&records, key, body);
    }
    assert_eq!(total, records.len(), "no stray records");
    // The 503 burst of 22:45 has no target: its entries are keyed by the target group.
    assert!(
        records
            .iter()
            .any(|r| r.partition_key.starts_with("arn:aws:elasticloadbalancing:"))
    );

    // Re-processing the same event writes records with the same ids (consumers dedupe).
    s.handler()
        .handle(&event, Deadline::after(Duration::from_secs(120)))
        .await
        .unwrap();
    let again = s.records().await;
    assert_eq!(again.len(), 2 * records.len());
    let ids = |rs: &[StreamRecord]| -> HashSet<u64> {
        rs.iter()
            .map(|r| {
                let mut d = r.data.clone();
                Record::from_slice(&mut d).unwrap().header.dedupe_key()
            })
            .collect()
    };
    assert_eq!(ids(&again), ids(&records));
    let _ = &s.ls;
}

#[tokio::test]
async fn corrupt_object_fails_only_its_message() {
    let Some(s) = Setup::new("corrupt_object_fails_only_its_message").await else {
        return;
    };
    let good = format!("{DIR}{FILE_2250}");
    let corrupt = format!("{DIR}{FILE_CORRUPT}");
    let (messages, ids) = s
        .upload(&[
            (good.as_str(), incident(FILE_2250)),
            (corrupt.as_str(), fixture("logs/corrupt.log.gz")),
        ])
        .await;
    let event = s.sqs_event(&messages);
    let response = s
        .handler()
        .handle(&event, Deadline::after(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": ids[&corrupt]}]}),
        "only the corrupt object's message is retried"
    );
    let records = s.records().await;
    verify_object(&records, &good, &incident(FILE_2250));
}

#[tokio::test]
async fn key_with_spaces_is_ingested_and_test_file_is_skipped() {
    let Some(s) = Setup::new("key_with_spaces_is_ingested_and_test_file_is_skipped").await else {
        return;
    };
    let spaced = format!("my logs/{DIR}{FILE_2250}");
    let test_file = "my logs/AWSLogs/123456789012/ELBAccessLogTestFile".to_owned();
    let (messages, _) = s
        .upload(&[
            (spaced.as_str(), incident(FILE_2250)),
            (test_file.as_str(), fixture("logs/ELBAccessLogTestFile")),
        ])
        .await;
    // S3 form-encodes the space as `+`; LocalStack 4.9 writes `%20`. Either way it is encoded,
    // and the handler must decode it to find the object.
    assert!(
        messages
            .iter()
            .filter_map(notified_key)
            .any(|k| k.starts_with("my+logs/") || k.starts_with("my%20logs/")),
        "the notification carries the key encoded"
    );
    let event = s.sqs_event(&messages);
    let response = s
        .handler()
        .handle(&event, Deadline::after(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    let records = s.records().await;
    let n = verify_object(&records, &spaced, &incident(FILE_2250));
    assert_eq!(n, records.len(), "the test file produced no records");
}
