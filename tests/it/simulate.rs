//! `albwatch simulate` scenarios, run as a real process.

use std::io::Write;
use std::path::Path;
use std::process::Command;

const LB: &str = "app/shop-prod/50dc6c495c0c9188";
const FAILING: &str = "10.0.1.11:8080";

fn simulate_json(paths: &[&Path]) -> (Vec<serde_json::Value>, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_albwatch"))
        .arg("simulate")
        .args(["--format", "json"])
        .args(paths)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SLACK_WEBHOOK_URL")
        .env_remove("ALBWATCH_SLACK_BOT_TOKEN")
        .env_remove("ALBWATCH_SLACK_CHANNEL")
        .output()
        .expect("albwatch runs");
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON notification per line"))
        .collect();
    (
        rows,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn incident_fires_once_and_resolves_once_per_failing_key() {
    let (rows, err, code) = simulate_json(&[Path::new("fixtures/incident")]);
    assert_eq!(code, Some(0), "{err}");
    let about = |target: &str, status: &str| {
        rows.iter()
            .filter(|n| n["target"] == target && n["status"] == status)
            .count()
    };
    assert_eq!(about(FAILING, "firing"), 1, "{rows:#?}");
    assert_eq!(about(FAILING, "resolved"), 1, "{rows:#?}");
    let firing = rows
        .iter()
        .find(|n| n["target"] == FAILING && n["status"] == "firing")
        .unwrap();
    assert_eq!(firing["load_balancer"], LB);
    assert_eq!(firing["target_kind"], "target");
    assert!(firing["count_5xx"].as_u64().unwrap() >= 10);
    assert!(firing["error_rate"].as_f64().unwrap() >= 0.05);
    assert!(!firing["samples"].as_array().unwrap().is_empty());
    // The 503 burst with no healthy target is reported as load-balancer-generated.
    let lb_generated: Vec<_> = rows
        .iter()
        .filter(|n| n["target_kind"] != "target")
        .collect();
    assert_eq!(lb_generated.len(), 2, "{lb_generated:#?}");
    assert_eq!(lb_generated[0]["status_codes"]["503"], 764);
    // Healthy targets never appear.
    for healthy in ["10.0.1.10:8080", "10.0.1.12:8080"] {
        assert!(
            rows.iter().all(|n| n["target"] != healthy),
            "{healthy} notified"
        );
    }
    assert_eq!(rows.len(), 4);
    // Firing comes before resolved.
    let pos = |status: &str| {
        rows.iter()
            .position(|n| n["target"] == FAILING && n["status"] == status)
    };
    assert!(pos("firing") < pos("resolved"));
}

/// A line from the incident fixture rewritten with another time, target and status.
fn line(template: &str, time: &str, target: &str, status: u16) -> String {
    let mut fields: Vec<String> = Vec::new();
    let mut rest = template;
    // The first 12 fields are bare tokens.
    for _ in 0..12 {
        let (field, tail) = rest.split_once(' ').expect("bare fields");
        fields.push(field.to_owned());
        rest = tail;
    }
    fields[1] = time.to_owned();
    fields[4] = target.to_owned();
    fields[8] = status.to_string();
    fields[9] = status.to_string();
    format!("{} {rest}", fields.join(" "))
}

#[test]
fn background_error_rate_of_0_3_percent_stays_silent() {
    let template = {
        let data = std::fs::read("fixtures/logs/aws-doc-examples.log").unwrap();
        String::from_utf8(data)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    let mut n = 0u64;
    for minute in 0..30 {
        for second in 0..60 {
            for (i, target) in ["10.0.2.1:80", "10.0.2.2:80"].iter().enumerate() {
                for k in 0..5 {
                    n += 1;
                    // 3 in 1000 requests fail: 0.3 %.
                    let status = if n % 1000 < 3 { 502 } else { 200 };
                    let time = format!("2025-07-01T10:{minute:02}:{second:02}.{i}{k}0000Z");
                    text.push_str(&line(&template, &time, target, status));
                    text.push('\n');
                }
            }
        }
    }
    let path = dir.path().join(
        "123456789012_elasticloadbalancing_us-east-1_app.quiet.1_20250701T1030Z_10.0.0.1_x.log.gz",
    );
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();

    let (rows, err, code) = simulate_json(&[&path]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("{n} entries")), "{err}");
    assert!(rows.is_empty(), "{rows:#?}");
}

#[test]
fn a_directory_of_renamed_logs_is_an_error_not_a_quiet_success() {
    // A user who renamed the ALB's files: nothing matches the access-log name pattern.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/incident");
    let first = walkdir::WalkDir::new(&src)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "gz"))
        .expect("an incident file");
    std::fs::copy(first.path(), dir.path().join("alb-2245.log.gz")).expect("copy");
    let (rows, err, code) = simulate_json(&[dir.path()]);
    assert!(rows.is_empty());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no files this command reads"), "{err}");
    // Named on the command line, the same file is read whatever its name.
    let (_, err, code) = simulate_json(&[&dir.path().join("alb-2245.log.gz")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1 files (0 failed)"), "{err}");
}
