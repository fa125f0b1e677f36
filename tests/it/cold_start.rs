//! The two Lambda binaries start from environment variables alone: each reaches its first
//! `GET /2018-06-01/runtime/invocation/next` against a Runtime API stub on 127.0.0.1, with no
//! other network access, and answers a harmless first event.
//!
//! A functional check, not a timing one (`cargo bench --bench cold_start` measures the time).
//! Anything the process might reach for besides the Runtime API — IMDS, or any HTTP(S) client
//! honouring the proxy variables — is pointed at the stub too, so it shows up as an unexpected
//! request.

use serde_json::{Value, json};

use crate::runtime_api::{
    Lambda, NEXT, REQUEST_ID, RuntimeApi, poison_kinesis_event, s3_test_event, scheduled_event,
};

/// Starts `binary`, answers its first poll with `event`, and returns the JSON it posts to
/// `/response`, after checking it polls again (still alive, ready for the next event).
fn first_response(binary: &str, event: Value) -> Value {
    first_response_and_logs(binary, event).0
}

/// [`first_response`] and the process's logs so far.
fn first_response_and_logs(binary: &str, event: Value) -> (Value, String) {
    let api = RuntimeApi::start(Some(event));
    let lambda = Lambda::spawn(binary, &api);
    let first = api.next_request(&lambda);
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("GET", NEXT),
        "the first request must be the Runtime API poll; logs:\n{}",
        lambda.logs()
    );
    eprintln!(
        "{binary}: first poll {:?} after the start (timed by `cargo bench --bench cold_start`)",
        first.at.duration_since(lambda.started)
    );
    let answer = api.next_request(&lambda);
    assert_eq!(
        (answer.method.as_str(), answer.path.as_str()),
        (
            "POST",
            format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/response").as_str()
        ),
        "body: {}; logs:\n{}",
        String::from_utf8_lossy(&answer.body),
        lambda.logs()
    );
    let again = api.next_request(&lambda);
    assert_eq!((again.method.as_str(), again.path.as_str()), ("GET", NEXT));
    (
        serde_json::from_slice(&answer.body).expect("the response is JSON"),
        lambda.logs(),
    )
}

#[test]
fn ingest_starts_from_env_alone_and_acknowledges_an_s3_test_event() {
    let response = first_response(env!("CARGO_BIN_EXE_ingest"), s3_test_event());
    assert_eq!(response, json!({"objects": 0, "skipped": 0}));
}

#[test]
fn alerter_starts_from_env_alone_and_skips_a_poison_record() {
    let response = first_response(env!("CARGO_BIN_EXE_alerter"), poison_kinesis_event());
    // The poison record is skipped, never reported: it must not block the shard.
    assert_eq!(response, json!({"batchItemFailures": []}));
}

#[test]
fn alerter_takes_the_scheduled_check_event() {
    // The 5-minute EventBridge rule invokes the same function: it must parse the event (not as
    // a Kinesis batch) and answer it.
    let (response, logs) =
        first_response_and_logs(env!("CARGO_BIN_EXE_alerter"), scheduled_event());
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert!(logs.contains("scheduled check done"), "{logs}");
}
