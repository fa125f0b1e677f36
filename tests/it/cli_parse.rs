//! `albwatch parse` run as a real process on the fixtures.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn albwatch(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_albwatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("albwatch runs");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(data) = stdin {
        pipe.write_all(data).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("albwatch exits")
}

fn summary(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("summary is JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn expected(path: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("expected file")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[test]
fn ndjson_has_one_object_per_entry_with_documented_keys() {
    let out = albwatch(&["parse", "fixtures/logs/edge-cases.log"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect();
    let lines = std::fs::read_to_string("fixtures/logs/edge-cases.log").unwrap();
    let non_blank = lines.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(rows.len(), non_blank);
    for row in &rows {
        let o = row.as_object().unwrap();
        assert_eq!(o.len(), 38, "{row}");
        assert!(o["time"].is_string() && o["extra"].is_array());
    }
    let by_url = |needle: &str| {
        rows.iter()
            .find(|r| {
                r["request_url"]
                    .as_str()
                    .is_some_and(|u| u.contains(needle))
            })
            .unwrap_or_else(|| panic!("no row with {needle}"))
    };
    let slack = by_url("<!channel>");
    assert!(
        slack["request_url"].as_str().unwrap().contains(' '),
        "URL with spaces kept whole"
    );
    let ipv6: Vec<_> = rows
        .iter()
        .filter(|r| r["client_ip"].as_str().is_some_and(|ip| ip.contains(':')))
        .collect();
    assert!(
        ipv6.len() >= 2
            && ipv6
                .iter()
                .all(|r| !r["client_ip"].as_str().unwrap().contains('['))
    );
    assert!(
        rows.iter()
            .any(|r| r["target_processing_time"] == -1.0 && r["target_ip"].is_null())
    );
    assert!(
        rows.iter()
            .any(|r| r["user_agent"].as_str().is_some_and(|ua| ua.contains('"')))
    );
    // The malformed request forms ALB writes parse; their `-` method is null like every `-`.
    assert!(rows.iter().any(|r| {
        r["request_verb"].is_null()
            && r["request_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(":80-"))
    }));
    assert!(rows.iter().any(|r| {
        r["request_verb"].is_null()
            && r["request_url"]
                .as_str()
                .is_some_and(|u| u.ends_with(":80-/"))
    }));
    assert!(
        rows.iter()
            .any(|r| r["extra"].as_array().is_some_and(|e| e.len() == 2))
    );
    assert!(
        rows.iter()
            .any(|r| r["request_url"].as_str().is_some_and(|u| u.contains('é')))
    );
}

#[test]
fn summary_reads_every_gzip_member() {
    let exp = expected("fixtures/logs/multi-member.expected");
    let get = |k: &str| {
        exp.iter()
            .find(|(a, _)| a == k)
            .unwrap()
            .1
            .parse::<u64>()
            .unwrap()
    };
    for file in [
        "fixtures/logs/multi-member.log.gz",
        "fixtures/logs/multi-member-midline.log.gz",
    ] {
        let out = albwatch(&["parse", "--summary", file], None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let s = summary(&out);
        assert_eq!(s["files"], 1);
        assert_eq!(s["lines"], get("lines"));
        assert_eq!(s["entries"], get("lines"));
        assert_eq!(s["elb_5xx"], get("elb_5xx"));
        assert_eq!(s["malformed"], 0);
    }
}

#[test]
fn malformed_lines_are_reported_with_path_line_and_field() {
    let out = albwatch(&["parse", "--summary", "fixtures/logs/malformed.log"], None);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let exp = expected("fixtures/logs/malformed.expected");
    assert_eq!(summary(&out)["malformed"], exp.len());
    for (line, field) in &exp {
        let prefix = format!("fixtures/logs/malformed.log:{line}: ");
        let msg = err
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no error for line {line}: {err}"));
        if field == "field_count" {
            assert!(msg.contains("line ends after"), "{msg}");
        } else {
            assert!(msg.starts_with(&format!("{prefix}{field}: ")), "{msg}");
        }
        assert!(msg.contains("(byte "), "{msg}");
    }
    let strict = albwatch(
        &[
            "parse",
            "--strict",
            "--summary",
            "fixtures/logs/malformed.log",
        ],
        None,
    );
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn corrupt_gzip_fails_that_file_only_after_its_good_lines() {
    let out = albwatch(
        &[
            "parse",
            "fixtures/logs/corrupt.log.gz",
            "fixtures/logs/multi-member.log.gz",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("fixtures/logs/corrupt.log.gz: corrupt gzip at compressed byte"),
        "{err}"
    );
    let rows = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let before: usize = expected("fixtures/logs/corrupt.expected")
        .iter()
        .find(|(k, _)| k == "lines_before_corruption")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(
        rows >= before + 200,
        "{rows} rows: the good member of the corrupt file and the other file"
    );
    assert!(
        !err.contains("malformed") && !err.contains("corrupt.log.gz:1"),
        "{err}"
    );
}

#[test]
fn stdin_missing_files_and_directories() {
    let data = std::fs::read("fixtures/logs/aws-doc-examples.log").unwrap();
    let out = albwatch(&["parse", "--summary", "-"], Some(&data));
    assert_eq!(out.status.code(), Some(0));
    let lines = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(summary(&out)["entries"], lines);

    let out = albwatch(
        &[
            "parse",
            "--summary",
            "no/such/file.log",
            "fixtures/logs/aws-doc-examples.log",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such/file.log"));
    assert_eq!(summary(&out)["entries"], lines);

    let out = albwatch(&["parse", "--summary", "fixtures/incident"], None);
    let s = summary(&out);
    assert_eq!(s["files"], 6);
    assert_eq!(s["malformed"], 0);
    assert!(s["entries"].as_u64().unwrap() > 30_000);
}

#[test]
fn plain_test_file_is_not_an_entry() {
    let out = albwatch(
        &["parse", "--summary", "fixtures/logs/ELBAccessLogTestFile"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let s = summary(&out);
    assert_eq!(
        (s["entries"].as_u64(), s["malformed"].as_u64()),
        (Some(0), Some(1))
    );
}
