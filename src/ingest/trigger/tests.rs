use super::*;
use proptest::prelude::*;
use serde_json::json;

const BUCKET: &str = "alb-logs-123456789012";
const LOG_KEY: &str = "prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// A real-shaped S3 notification record (event version 2.1).
fn s3_record(encoded_key: &str, event_name: &str) -> Value {
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-06-21T22:35:14.123Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "10.0.1.15"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "alb-logs-created",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": "arn:aws:s3:::alb-logs-123456789012"
            },
            "object": {
                "key": encoded_key,
                "size": 48213,
                "eTag": "0123456789abcdef0123456789abcdef",
                "sequencer": "0055AED6DCD90281E5"
            }
        }
    })
}

fn s3_event(encoded_keys: &[&str]) -> Value {
    let records: Vec<Value> = encoded_keys
        .iter()
        .map(|k| s3_record(k, "ObjectCreated:Put"))
        .collect();
    json!({ "Records": records })
}

fn test_event() -> Value {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2025-06-21T22:30:02.089Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    })
}

/// The body SNS delivers to SQS (or HTTP) without raw message delivery.
fn sns_envelope(message: &Value) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:alb-logs-created",
        "Subject": "Amazon S3 Notification",
        "Message": message.to_string(),
        "Timestamp": "2025-06-21T22:35:14.456Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:alb-logs-created:c9135db0"
    })
}

fn sqs_event(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1750545314456",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1750545314460"
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:alb-logs-created",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn sns_event(message: &Value) -> Value {
    let mut sns = sns_envelope(message);
    sns["MessageAttributes"] = json!({});
    json!({
        "Records": [{
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alb-logs-created:c9135db0",
            "EventSource": "aws:sns",
            "Sns": sns
        }]
    })
}

fn eventbridge(detail_type: &str, key: &str) -> Value {
    json!({
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2025-06-21T22:35:14Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::alb-logs-123456789012"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {
                "key": key,
                "size": 5,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
                "sequencer": "617f08299329d189"
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject"
        }
    })
}

fn parse(value: &Value) -> Trigger {
    parse_trigger(value).expect("recognized event")
}

fn keys(trigger: &Trigger) -> Vec<&str> {
    trigger
        .items
        .iter()
        .map(|i| i.object.key.as_str())
        .collect()
}

// ---- fixtures of the shapes the shared set lacks ----

#[test]
fn fixture_sqs_batch_raw_sns_test_and_garbage() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/sqs-batch-raw-sns-test-and-garbage.json"
    )));
    assert_eq!(t.kind, TriggerKind::Sqs);
    let got: Vec<(&str, Option<&str>)> = t
        .items
        .iter()
        .map(|i| (i.object.key.as_str(), i.message_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (LOG_KEY, Some("059f36b4-87a3-44ab-83d2-661975830a7d")),
            (LOG_KEY, Some("2e1424d4-f796-459a-8184-9c92662be6da")),
        ]
    );
    assert_eq!(t.test_events, 1);
    assert_eq!(t.rejected.len(), 1);
    let rejected = &t.rejected[0];
    assert_eq!(
        rejected.message_id.as_deref(),
        Some("4d7e9f10-1111-4c2b-8d3e-5f6a7b8c9d0e")
    );
    assert!(
        matches!(&rejected.error, TriggerError::NotJson { context: "SQS message body", excerpt, .. } if excerpt == "this is not json"),
        "{:?}",
        rejected.error
    );
}

#[test]
fn fixture_eventbridge_key_is_not_decoded() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/eventbridge-s3-unencoded-key.json"
    )));
    assert_eq!(t.kind, TriggerKind::EventBridge);
    let object = &t.items[0].object;
    assert_eq!(
        object.key,
        "prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/café a+b.log.gz"
    );
    assert_eq!(object.bucket, BUCKET);
    assert_eq!(
        object.etag.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        object.version_id.as_deref(),
        Some("096fKKXTRTtl3on89fVO.nfljtsv6qko")
    );
    assert_eq!(object.size, Some(48213));
}

// ---- shared fixtures (fixtures/events) ----

const SHOP_BUCKET: &str = "shop-prod-alb-logs-123456789012";
const SHOP_DIR: &str = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T";

/// Every shared fixture's object is an ALB access log once decoded.
fn assert_access_logs(t: &Trigger) {
    let filter = crate::ingest::keys::KeyFilter::default();
    for item in &t.items {
        assert_eq!(item.object.bucket, SHOP_BUCKET);
        assert!(
            crate::ingest::keys::classify_key(&item.object.key, &filter).is_access_log(),
            "{}",
            item.object.key
        );
    }
}

#[test]
fn shared_fixture_s3_put_decodes_plus_and_percent_2b() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/s3-put.json"
    )));
    assert_eq!(t.kind, TriggerKind::S3);
    assert_eq!(
        keys(&t),
        vec![format!("shop prod+logs/{SHOP_DIR}2245Z_10.0.1.15_3apj8aqk.log.gz").as_str()]
    );
    let object = &t.items[0].object;
    assert_eq!(object.size, Some(457_582));
    assert_eq!(
        object.etag.as_deref(),
        Some("253d7cd570de2fa8f549eafaea49a060")
    );
    assert_eq!(object.version_id, None);
    assert_access_logs(&t);
}

#[test]
fn shared_fixture_s3_test_event() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/s3-test-event.json"
    )));
    assert_eq!(
        (t.kind, t.test_events, t.items.len()),
        (TriggerKind::S3, 1, 0)
    );
}

#[test]
fn shared_fixture_sqs() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/sqs-s3.json"
    )));
    assert_eq!(t.kind, TriggerKind::Sqs);
    assert!(t.rejected.is_empty());
    let got: Vec<(String, Option<&str>)> = t
        .items
        .iter()
        .map(|i| (i.object.key.clone(), i.message_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                format!("{SHOP_DIR}2250Z_10.0.1.15_35gzk084.log.gz"),
                Some("5f0c8a1e-3b7d-4f26-9a4c-1d2e3f4a5b6c")
            ),
            (
                format!("{SHOP_DIR}2255Z_10.0.1.15_dp1loxpk.log.gz"),
                Some("9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
            ),
        ]
    );
    assert_access_logs(&t);
}

#[test]
fn shared_fixture_sns() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/sns-s3.json"
    )));
    assert_eq!(t.kind, TriggerKind::Sns);
    assert!(t.rejected.is_empty());
    assert_eq!(
        keys(&t),
        vec![format!("{SHOP_DIR}2235Z_10.0.1.15_2xkv1s9d.log.gz").as_str()]
    );
    assert_access_logs(&t);
}

#[test]
fn shared_fixture_eventbridge() {
    let t = parse(&fixture(include_str!(
        "../../../fixtures/events/eventbridge-s3-object-created.json"
    )));
    assert_eq!(t.kind, TriggerKind::EventBridge);
    assert_eq!(
        keys(&t),
        vec![format!("{SHOP_DIR}2300Z_10.0.1.15_b350mjun.log.gz").as_str()]
    );
    assert_eq!(t.items[0].object.size, Some(454_756));
    assert_access_logs(&t);
}

// ---- key decoding through every encoded envelope ----

const TRICKY_ENCODED: &str = "AWSLogs/my+folder/a%2Bb/caf%C3%A9+%25+x.log.gz";
const TRICKY_DECODED: &str = "AWSLogs/my folder/a+b/café % x.log.gz";

#[test]
fn form_encoded_key_in_direct_sqs_and_sns() {
    let s3 = s3_event(&[TRICKY_ENCODED]);
    let direct = parse(&s3);
    let via_sqs = parse(&sqs_event(&[("m1", s3.to_string())]));
    let via_sns_sqs = parse(&sqs_event(&[("m1", sns_envelope(&s3).to_string())]));
    let sns_direct = parse(&sns_event(&s3));
    for t in [&direct, &via_sqs, &via_sns_sqs, &sns_direct] {
        assert_eq!(keys(t), vec![TRICKY_DECODED], "{:?}", t.kind);
        assert!(t.rejected.is_empty());
    }
    assert_eq!(via_sns_sqs.items[0].message_id.as_deref(), Some("m1"));
}

#[test]
fn aws_fixture_key_with_percent_20() {
    // The aws-lambda-events fixture encodes a space as %20; both forms decode.
    assert_eq!(
        decode_s3_event_key("Happy%20Face.jpg").as_deref(),
        Ok("Happy Face.jpg")
    );
    assert_eq!(
        decode_s3_event_key("Happy+Face.jpg").as_deref(),
        Ok("Happy Face.jpg")
    );
}

#[test]
fn invalid_key_rejects_only_that_record() {
    let t = parse(&s3_event(&[
        "bad%C3%28.log.gz",
        "ok.log.gz",
        "trailing%4",
        "x%zz",
    ]));
    assert_eq!(keys(&t), vec!["ok.log.gz"]);
    let errors: Vec<_> = t
        .rejected
        .iter()
        .map(|r| match &r.error {
            TriggerError::KeyDecode { raw, source } => (raw.as_str(), *source),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                "bad%C3%28.log.gz",
                KeyDecodeError::InvalidUtf8 { valid_up_to: 3 }
            ),
            ("trailing%4", KeyDecodeError::MalformedEscape { offset: 8 }),
            ("x%zz", KeyDecodeError::MalformedEscape { offset: 1 }),
        ]
    );
}

// ---- the S3 test event in every envelope ----

#[test]
fn test_event_in_every_envelope() {
    let test = test_event();
    let cases = [
        (parse(&test), TriggerKind::S3),
        (
            parse(&sqs_event(&[("m1", test.to_string())])),
            TriggerKind::Sqs,
        ),
        (
            parse(&sqs_event(&[("m1", sns_envelope(&test).to_string())])),
            TriggerKind::Sqs,
        ),
        (parse(&sns_event(&test)), TriggerKind::Sns),
    ];
    for (t, kind) in cases {
        assert_eq!(t.kind, kind);
        assert_eq!(t.test_events, 1, "{kind}");
        assert!(t.items.is_empty() && t.rejected.is_empty(), "{kind}");
    }
}

// ---- SQS specifics ----

#[test]
fn sqs_poison_messages_keep_their_ids() {
    let no_body = json!({"Records": [{"messageId": "m3", "eventSource": "aws:sqs"}]});
    let t = parse(&no_body);
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::MissingField {
            context: "SQS message",
            field: "body"
        }
    ));
    assert_eq!(t.rejected[0].message_id.as_deref(), Some("m3"));

    let t = parse(&sqs_event(&[
        ("m1", "{\"hello\": \"world\"}".into()),
        ("m2", sns_envelope(&json!("not an object")).to_string()),
        ("m3", String::new()),
        (
            "m4",
            json!({"Type": "Notification", "Message": "{}"}).to_string(),
        ),
        (
            "m5",
            sqs_event(&[("inner", s3_event(&["k"]).to_string())]).to_string(),
        ),
    ]));
    let rejected: Vec<(&str, &TriggerError)> = t
        .rejected
        .iter()
        .map(|r| (r.message_id.as_deref().unwrap_or("-"), &r.error))
        .collect();
    assert_eq!(rejected.len(), 5, "{rejected:?}");
    assert!(matches!(
        rejected[0],
        (
            "m1",
            TriggerError::Unrecognized {
                context: "SQS message body",
                ..
            }
        )
    ));
    assert!(matches!(
        rejected[1],
        (
            "m2",
            TriggerError::Unrecognized {
                context: "SNS message",
                ..
            }
        )
    ));
    assert!(matches!(rejected[2], ("m3", TriggerError::NotJson { .. })));
    // Looks like an SNS envelope but lacks its required fields.
    assert!(matches!(
        rejected[3],
        (
            "m4",
            TriggerError::Malformed {
                context: "SNS envelope",
                ..
            }
        )
    ));
    // A whole SQS event inside a body is not something SQS delivers.
    assert!(matches!(
        rejected[4],
        ("m5", TriggerError::Unrecognized { .. })
    ));
    assert!(t.items.is_empty());
}

#[test]
fn sns_envelope_inside_sns_message_is_not_unwrapped_twice() {
    let double = sns_envelope(&sns_envelope(&s3_event(&["k"])));
    let t = parse(&sqs_event(&[("m1", double.to_string())]));
    assert!(t.items.is_empty());
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::Unrecognized {
            context: "SNS message",
            ..
        }
    ));
}

#[test]
fn sqs_message_with_several_records_yields_several_items() {
    let t = parse(&sqs_event(&[("m1", s3_event(&["a", "b"]).to_string())]));
    let ids: Vec<_> = t.items.iter().map(|i| i.message_id.as_deref()).collect();
    assert_eq!(keys(&t), vec!["a", "b"]);
    assert_eq!(ids, vec![Some("m1"), Some("m1")]);
}

#[test]
fn eventbridge_via_sqs_carries_message_id() {
    let t = parse(&sqs_event(&[(
        "m9",
        eventbridge("Object Created", "a+b c").to_string(),
    )]));
    assert_eq!(keys(&t), vec!["a+b c"]);
    assert_eq!(t.items[0].message_id.as_deref(), Some("m9"));
}

// ---- non-creation events and malformed records ----

#[test]
fn non_creation_events_are_ignored() {
    let s3 = json!({"Records": [
        s3_record("gone.log.gz", "ObjectRemoved:Delete"),
        s3_record("new.log.gz", "ObjectCreated:CompleteMultipartUpload"),
    ]});
    let t = parse(&s3);
    assert_eq!(keys(&t), vec!["new.log.gz"]);
    assert_eq!(t.ignored, 1);

    let t = parse(&eventbridge("Object Deleted", "k"));
    assert!(t.items.is_empty() && t.rejected.is_empty());
    assert_eq!(t.ignored, 1);
}

#[test]
fn eventbridge_from_another_source_is_rejected() {
    let mut event = eventbridge("Scheduled Event", "k");
    event["source"] = json!("aws.events");
    let t = parse(&event);
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::Unrecognized {
            context: "EventBridge event",
            ..
        }
    ));
}

#[test]
fn eventbridge_missing_key_is_rejected() {
    let mut event = eventbridge("Object Created", "k");
    event["detail"]["object"] = json!({"size": 1});
    let t = parse(&event);
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::Malformed { .. }
    ));
    event["detail"]["object"] = json!({"key": ""});
    let t = parse(&event);
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::MissingField {
            field: "detail.object.key",
            ..
        }
    ));
}

#[test]
fn malformed_s3_records() {
    let mut no_bucket = s3_record("k", "ObjectCreated:Put");
    no_bucket["s3"]["bucket"] = json!({});
    let mut no_time = s3_record("k", "ObjectCreated:Put");
    no_time.as_object_mut().unwrap().remove("eventTime");
    let mut negative_size = s3_record("k", "ObjectCreated:Put");
    negative_size["s3"]["object"]["size"] = json!(-1);

    let t = parse(&json!({"Records": [no_bucket, no_time, negative_size]}));
    assert_eq!(t.items.len(), 1);
    assert_eq!(t.items[0].object.size, None);
    assert!(matches!(
        t.rejected[0].error,
        TriggerError::MissingField {
            field: "s3.bucket.name",
            ..
        }
    ));
    assert!(matches!(
        t.rejected[1].error,
        TriggerError::Malformed {
            context: "S3 event record",
            ..
        }
    ));
}

#[test]
fn unrecognized_events_are_errors() {
    for value in [
        json!(null),
        json!("s3"),
        json!([]),
        json!({}),
        json!({"Records": []}),
        json!({"Records": [{"eventSource": "aws:kinesis"}]}),
        json!({"Records": "nope"}),
        // An SNS envelope is an SQS body, never a Lambda event.
        sns_envelope(&s3_event(&["k"])),
    ] {
        let err = parse_trigger(&value).expect_err(&value.to_string());
        assert!(
            matches!(
                err,
                TriggerError::Unrecognized {
                    context: "Lambda event",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn excerpts_are_bounded_and_char_safe() {
    let long = "é".repeat(500);
    let t = parse(&sqs_event(&[("m1", long)]));
    let TriggerError::NotJson { excerpt, .. } = &t.rejected[0].error else {
        panic!("{:?}", t.rejected[0].error);
    };
    assert!(excerpt.len() <= EXCERPT_MAX + '…'.len_utf8());
    assert!(excerpt.ends_with('…'));
}

#[test]
fn error_messages_name_the_problem() {
    let err = TriggerError::KeyDecode {
        raw: "a%zz".into(),
        source: KeyDecodeError::MalformedEscape { offset: 1 },
    };
    assert_eq!(
        err.to_string(),
        "cannot decode object key \"a%zz\": malformed percent escape at byte 1"
    );
    let err = TriggerError::MissingField {
        context: "SQS message",
        field: "body",
    };
    assert_eq!(err.to_string(), "SQS message has no body");
}

// ---- partial batch response ----

#[test]
fn batch_response_dedupes_and_keeps_order() {
    let response = sqs_batch_response(["m2", "m1", "m2", "m3", "m1"]);
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [
            {"itemIdentifier": "m2"},
            {"itemIdentifier": "m1"},
            {"itemIdentifier": "m3"}
        ]})
    );
    let empty = sqs_batch_response(Vec::<String>::new());
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({"batchItemFailures": []})
    );
}

#[test]
fn batch_response_from_failed_work_items() {
    let t = parse(&sqs_event(&[
        ("m1", s3_event(&["a", "b"]).to_string()),
        ("m2", s3_event(&["c"]).to_string()),
    ]));
    let failed = t
        .items
        .iter()
        .filter(|i| i.object.key != "c")
        .filter_map(|i| i.message_id.clone());
    let response = sqs_batch_response(failed);
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["m1"]);
}

// ---- properties ----

proptest! {
    #[test]
    fn decode_never_panics(raw in any::<String>()) {
        let _ = decode_s3_event_key(&raw);
    }

    #[test]
    fn decode_never_panics_on_escape_soup(raw in "[%+0-9a-fA-FzZ\u{e9}]{0,24}") {
        let _ = decode_s3_event_key(&raw);
    }

    #[test]
    fn encode_then_decode_round_trips(key in any::<String>()) {
        let encoded = encode_s3_event_key(&key);
        prop_assert!(!encoded.contains(' '));
        prop_assert_eq!(decode_s3_event_key(&encoded), Ok(key));
    }

    #[test]
    fn plain_keys_decode_to_themselves(key in "[^%+]{0,64}") {
        prop_assert_eq!(decode_s3_event_key(&key), Ok(key.clone()));
    }

    #[test]
    fn any_key_in_a_notification_yields_item_or_rejection(raw in any::<String>()) {
        let t = parse(&sqs_event(&[("m1", s3_event(&[raw.as_str()]).to_string())]));
        prop_assert_eq!(t.items.len() + t.rejected.len(), 1);
    }

    #[test]
    fn any_sqs_body_is_handled(body in any::<String>()) {
        let t = parse(&sqs_event(&[("m1", body)]));
        prop_assert_eq!(t.kind, TriggerKind::Sqs);
    }
}
