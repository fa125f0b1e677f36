//! Kinesis records as a Lambda function receives them, and the order of sequence numbers.

use std::cmp::Ordering;

use aws_lambda_events::event::kinesis::{KinesisEncryptionType, KinesisEventRecord, KinesisRecord};
use aws_sdk_kinesis::types::{EncryptionType, Record};
use chrono::{DateTime, Utc};

/// The Lambda event record for `record`, read from `shard_id`, as the Kinesis event source
/// mapping builds it (`eventID` = `shardId:sequenceNumber`). Records without an arrival time get
/// `fallback_arrival`.
#[must_use]
pub fn event_record(
    record: Record,
    shard_id: &str,
    stream_arn: Option<&str>,
    region: Option<&str>,
    fallback_arrival: DateTime<Utc>,
) -> KinesisEventRecord {
    let arrival = record
        .approximate_arrival_timestamp
        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(fallback_arrival);
    let mut kinesis = KinesisRecord::default();
    kinesis.approximate_arrival_timestamp.0 = arrival;
    kinesis.encryption_type = match record.encryption_type {
        Some(EncryptionType::Kms) => KinesisEncryptionType::Kms,
        _ => KinesisEncryptionType::None,
    };
    kinesis.data.0 = record.data.into_inner();
    kinesis.partition_key = record.partition_key.unwrap_or_default();
    kinesis.kinesis_schema_version = Some("1.0".to_owned());
    let mut out = KinesisEventRecord::default();
    out.event_id = Some(format!("{shard_id}:{}", record.sequence_number));
    kinesis.sequence_number = record.sequence_number;
    out.kinesis = kinesis;
    out.aws_region = region.map(str::to_owned);
    out.event_name = Some("aws:kinesis:record".to_owned());
    out.event_source = Some("aws:kinesis".to_owned());
    out.event_source_arn = stream_arn.map(str::to_owned);
    out.event_version = Some("1.0".to_owned());
    out
}

/// Orders Kinesis sequence numbers (decimal strings of up to 128 digits) numerically; strings
/// that are not plain digits compare after them, lexicographically.
#[must_use]
pub fn cmp_sequence(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (digits(a), digits(b)) {
        (true, true) => {
            let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_records_look_like_the_lambda_event() {
        let record = Record::builder()
            .sequence_number("49590338271490256608559692538361571095921575989136588898")
            .partition_key("10.0.1.11:8080")
            .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
            .approximate_arrival_timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                1_750_546_208_640,
            ))
            .build()
            .expect("record");
        let r = event_record(
            record,
            "shardId-000000000001",
            Some("arn:aws:kinesis:us-east-1:000000000000:stream/s"),
            Some("us-east-1"),
            Utc::now(),
        );
        let json = serde_json::to_value(&r).expect("JSON");
        assert_eq!(json["eventSource"], "aws:kinesis");
        assert_eq!(
            json["eventID"],
            "shardId-000000000001:49590338271490256608559692538361571095921575989136588898"
        );
        assert_eq!(json["kinesis"]["partitionKey"], "10.0.1.11:8080");
        assert_eq!(json["kinesis"]["data"], "e30=");
        assert_eq!(
            r.kinesis.approximate_arrival_timestamp.0.timestamp_millis(),
            1_750_546_208_640
        );
    }
}
