//! `albwatch simulate s3://…`: a preview on the user's own history, against LocalStack's S3,
//! run as a real process.

use std::path::Path;
use std::process::Output;

use crate::localstack::{LocalStack, unique_name};

const INCIDENT: &str = "fixtures/incident";

/// A bucket holding the incident fixture under `prod/` (its ALB layout kept).
async fn bucket_with_history(ls: &LocalStack) -> String {
    let s3 = ls.s3();
    let bucket = unique_name("albwatch-history");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(INCIDENT);
    for entry in walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(&root).expect("under root");
        let key = format!("prod/{}", rel.to_string_lossy());
        let body = std::fs::read(entry.path()).expect("read");
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put");
    }
    bucket
}

async fn simulate(ls: &LocalStack, args: Vec<String>) -> Output {
    let endpoint = ls.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_albwatch"))
            .arg("simulate")
            .args(&args)
            .args(["--endpoint-url", &endpoint])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("SLACK_WEBHOOK_URL")
            .env_remove("ALBWATCH_SLACK_WEBHOOK_URL")
            .env_remove("ALBWATCH_SLACK_BOT_TOKEN")
            .env_remove("ALBWATCH_SLACK_CHANNEL")
            .output()
            .expect("albwatch runs")
    })
    .await
    .expect("joined")
}

#[tokio::test]
async fn a_time_range_of_the_bucket_announces_what_the_live_run_would() {
    let Some(ls) = LocalStack::connect("a_time_range_of_the_bucket_announces").await else {
        return;
    };
    let bucket = bucket_with_history(&ls).await;
    let range = [
        "--from",
        "2025-06-21T22:00:00Z",
        "--to",
        "2025-06-21T23:30:00Z",
    ]
    .map(String::from);
    for prefix in [
        "prod",
        "prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1",
        "prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21",
    ] {
        let mut args = vec![format!("s3://{bucket}/{prefix}")];
        args.extend(range.iter().cloned());
        let out = simulate(&ls, args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{prefix}: {stderr}");
        assert!(stderr.contains("albwatch: 6 objects"), "{prefix}: {stderr}");
        assert!(
            stderr.contains("2 firing and 2 resolved notifications"),
            "{prefix}: {stderr}"
        );
        assert!(stdout.contains("FIRING target 10.0.1.11:8080"), "{stdout}");
        assert!(
            stdout.contains("RESOLVED target 10.0.1.11:8080"),
            "{stdout}"
        );
    }
    // Half the range: only the objects of 22:30–22:40 are read, and nothing fires yet.
    let out = simulate(
        &ls,
        vec![
            format!("s3://{bucket}/prod"),
            "--from".into(),
            "2025-06-21T22:30:00Z".into(),
            "--to".into(),
            "2025-06-21T22:39:00Z".into(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("albwatch: 2 objects"), "{stderr}");
    assert!(stderr.contains("0 firing and 0 resolved"), "{stderr}");
}

#[tokio::test]
async fn an_empty_range_says_what_it_looked_for_and_fails() {
    let Some(ls) = LocalStack::connect("an_empty_range_says_what_it_looked_for").await else {
        return;
    };
    let bucket = bucket_with_history(&ls).await;
    let out = simulate(
        &ls,
        vec![format!("s3://{bucket}/prod"), "--since".into(), "2h".into()],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no access-log objects under s3://"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AWSLogs/ACCOUNT/elasticloadbalancing/REGION"),
        "{stderr}"
    );
    let bad = simulate(
        &ls,
        vec![
            format!("s3://{bucket}/prod"),
            "--since".into(),
            "2 days".into(),
        ],
    )
    .await;
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}
