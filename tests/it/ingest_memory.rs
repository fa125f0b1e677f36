//! Peak memory of the ingest whatever the object (issue #11): `albwatch replay` (the ingest's
//! code path with a real [`KinesisSink`]) writes a generated gzip log into a local stand-in for
//! Kinesis under `/usr/bin/time -v`, and its peak RSS is checked:
//!
//! - [`LINES`] lines with as many distinct `target:port` values (the chunker's per-key state),
//!   in `errors` and `all` mode;
//! - [`LINES`] lines over [`FEW_TARGETS`] targets in `all` mode: full records and full
//!   `PutRecords` batches;
//!
//! each within [`MAX_PEAK_RSS_KIB`].
//!
//! Ignored by default (a few minutes in a debug build). To measure the shipped code, build it
//! first and point `ALBWATCH_BIN` at it:
//!
//! ```sh
//! cargo build --release --bin albwatch
//! ALBWATCH_BIN=target/release/albwatch cargo test --test it ingest_memory -- --ignored --nocapture
//! ```
//!
//! `ALBWATCH_MEMORY_DIR=DIR` keeps the generated logs in DIR (to run other commands on them).
//!
//! [`KinesisSink`]: albwatch::ingest::KinesisSink

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Lines in each generated object.
const LINES: u32 = 300_000;
/// Targets of the few-targets object.
const FEW_TARGETS: u32 = 4;
/// Every this many lines is a 502 (forwarded in `errors` mode); the rest are 200s.
const ERROR_EVERY: u32 = 10;
/// The ingest's memory goal (README "Sizing"): 64 MB.
const MAX_PEAK_RSS_KIB: u64 = 64 * 1000 * 1000 / 1024;
/// Object names (access-log names, as `replay` expects).
const MANY_TARGETS_FILE: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_manykeys.log.gz";
const FEW_TARGETS_FILE: &str = "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_fewkeys.log.gz";

/// Line number `i` of an object, for target number `t` (distinct `ip:port` for every `t` <
/// 2^24).
fn line(i: u32, t: u32) -> String {
    let status = if i.is_multiple_of(ERROR_EVERY) {
        502
    } else {
        200
    };
    let [_, a, b, c] = t.to_be_bytes();
    let second = i % 300;
    format!(
        "h2 2025-06-21T22:{:02}:{:02}.{:06}Z app/shop-prod/50dc6c495c0c9188 192.0.2.{}:{} \
         10.{a}.{b}.{c}:{} 0.001 0.012 0.000 {status} {status} 312 1840 \
         \"GET https://shop.example.com:443/api/cart/{} HTTP/2.0\" \"Mozilla/5.0 (X11; Linux x86_64)\" \
         ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 \
         arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff \
         \"Root=1-6857351c-{i:024x}\" \"shop.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/1\" \
         0 2025-06-21T22:{:02}:{:02}.{:06}Z \"forward\" \"-\" \"-\" \"10.{a}.{b}.{c}:{}\" \"{status}\" \"-\" \"-\" TID_1 \"-\" \"-\" \"-\"\n",
        45 + second / 60,
        second % 60,
        i % 1_000_000,
        i % 250,
        1024 + i % 60_000,
        8000 + t % 1000,
        i % 9973,
        45 + second / 60,
        second % 60,
        i % 1_000_000,
        8000 + t % 1000,
    )
}

/// Writes an object of [`LINES`] lines, line `i` for target `i % targets`, as one gzip member;
/// returns its size in bytes.
fn write_log(path: &Path, targets: u32) -> u64 {
    let file = std::fs::File::create(path).expect("create the log");
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        flate2::Compression::default(),
    );
    for i in 0..LINES {
        gz.write_all(line(i, i % targets).as_bytes())
            .expect("write the log");
    }
    gz.finish()
        .and_then(|mut w| w.flush())
        .expect("finish the log");
    std::fs::metadata(path).expect("log written").len()
}

/// A `PutRecords` answer accepting every record of the request.
fn accept_all(request: &Request) -> ResponseTemplate {
    let sent = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| body["Records"].as_array().map(Vec::len))
        .unwrap_or(0);
    let records: Vec<Value> = (0..sent)
        .map(|i| json!({"SequenceNumber": i.to_string(), "ShardId": "shardId-000000000000"}))
        .collect();
    ResponseTemplate::new(200).set_body_raw(
        json!({"FailedRecordCount": 0, "Records": records}).to_string(),
        "application/x-amz-json-1.1",
    )
}

/// `Maximum resident set size (kbytes): N` of `/usr/bin/time -v`.
fn peak_rss_kib(time_output: &str) -> Option<u64> {
    time_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs `albwatch replay` on `path` into `kinesis` under `/usr/bin/time -v`; returns its total
/// line and its peak RSS in KiB.
fn replay_peak_rss(binary: &str, kinesis: &str, path: &Path, forward: &str) -> (Value, u64) {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(binary)
        .args(["replay", "--stream", "memory", "--format", "json"])
        .args(["--forward", forward, "--endpoint-url", kinesis])
        .arg(path)
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("ALBWATCH_MAX_RECORD_BYTES")
        .output()
        .expect("/usr/bin/time runs albwatch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let total = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "total")
        .unwrap_or_else(|| panic!("no total line: {stdout}\n{stderr}"));
    let rss = peak_rss_kib(&stderr).unwrap_or_else(|| panic!("no peak RSS: {stderr}"));
    (total, rss)
}

#[tokio::test]
#[ignore = "slow; measures a release build (see the module docs)"]
async fn ingest_memory_is_bounded_whatever_the_object() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::var_os("ALBWATCH_MEMORY_DIR")
        .map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let many = dir.join(MANY_TARGETS_FILE);
    let few = dir.join(FEW_TARGETS_FILE);
    let sizes = [write_log(&many, LINES), write_log(&few, FEW_TARGETS)];

    let kinesis = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("POST"))
        .respond_with(accept_all)
        .mount(&kinesis)
        .await;
    let binary =
        std::env::var("ALBWATCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_albwatch").into());

    let mut over = Vec::new();
    for (path, size, forward) in [
        (&many, sizes[0], "errors"),
        (&many, sizes[0], "all"),
        (&few, sizes[1], "all"),
    ] {
        // The stand-in serves from its own thread: blocking this one is fine.
        let (total, rss) = replay_peak_rss(&binary, &kinesis.uri(), path, forward);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        println!(
            "{} ({size} bytes of gzip, {} lines), {forward}: {} records ({} bytes) in {} puts; \
             peak RSS {rss} KiB ({:.1} MB), {:.2} s",
            name.unwrap_or_default(),
            total["lines"],
            total["records"],
            total["bytes"],
            total["put_calls"],
            rss as f64 * 1024.0 / 1e6,
            total["seconds"].as_f64().unwrap_or_default(),
        );
        assert_eq!(total["lines"], u64::from(LINES));
        assert_eq!(total["failed"], 0);
        if rss > MAX_PEAK_RSS_KIB {
            over.push(format!(
                "{}, {forward}: {rss} KiB > {MAX_PEAK_RSS_KIB} KiB",
                path.display()
            ));
        }
    }
    assert!(over.is_empty(), "peak RSS over the bound: {over:?}");
}
