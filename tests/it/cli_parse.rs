//! `albwatch parse` run as a real process on the fixtures.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `albwatch ARGS` in the crate root with `stdin` piped in.
pub(crate) fn albwatch(args: &[&str], stdin: Option<&[u8]>) -> Output {
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
fn malformed_lines_and_field_warnings_are_reported_with_path_line_and_field() {
    let out = albwatch(&["parse", "--summary", "fixtures/logs/malformed.log"], None);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    let exp = expected("fixtures/logs/malformed.expected");
    let s = summary(&out);
    let malformed = exp
        .iter()
        .filter(|(_, f)| f.ends_with("\tmalformed"))
        .count();
    assert_eq!(s["malformed"], malformed);
    assert_eq!(s["entries"], 16 - malformed);
    for (line, field_kind) in &exp {
        let (field, kind) = field_kind.split_once('\t').unwrap();
        let prefix = format!("fixtures/logs/malformed.log:{line}: ");
        let msg = err
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no message for line {line}: {err}"));
        let prefix = match kind {
            "warning" => {
                assert_eq!(s["field_warnings"][field], 1, "{s}");
                format!("{prefix}warning: ")
            }
            _ => prefix,
        };
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

/// An edge-cases line with its `matched_rule_priority` replaced.
fn with_priority(priority: &str) -> String {
    let line = std::fs::read_to_string("fixtures/logs/aws-doc-examples.log")
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    line.replacen(
        " 1 2018-07-02T22:22:48",
        &format!(" {priority} 2018-07-02T22:22:48"),
        1,
    )
}

#[test]
fn rule_priority_minus_one_lines_are_entries_not_malformed() {
    // A quarter of the lines with priority -1 ("an error occurred during rules evaluation"),
    // 5xx among them, as seen on a realistic corpus.
    let mut text = String::new();
    for i in 0..400 {
        let line = if i % 4 == 0 {
            with_priority("-1").replace(" 200 200 ", " 502 - ")
        } else {
            with_priority(&(i % 50).to_string())
        };
        text.push_str(&line);
        text.push('\n');
    }
    let out = albwatch(
        &["parse", "--summary", "--strict", "-"],
        Some(text.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(
        (s["entries"].as_u64(), s["malformed"].as_u64()),
        (Some(400), Some(0))
    );
    assert_eq!(s["elb_5xx"], 100);
    assert_eq!(s["field_warnings"], serde_json::json!({}));
    let out = albwatch(&["parse", "-"], Some(with_priority("-1").as_bytes()));
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["matched_rule_priority"], -1);
}

#[test]
fn problems_are_rate_limited_per_field_with_a_total() {
    let mut text = String::new();
    for _ in 0..5_000 {
        text.push_str("junk \x1b[2J\0 line\n");
        text.push_str(&with_priority("99999"));
        text.push('\n');
    }
    let out = albwatch(&["parse", "--summary", "-"], Some(text.as_bytes()));
    assert_eq!(out.status.code(), Some(0));
    let s = summary(&out);
    assert_eq!(s["malformed"], 5_000);
    assert_eq!(s["entries"], 5_000);
    assert_eq!(s["field_warnings"]["matched_rule_priority"], 5_000);
    let err = stderr(&out);
    assert!(err.lines().count() <= 10, "{err}");
    assert!(
        err.contains("4997 more malformed lines and 4997 more field warnings not shown"),
        "{err}"
    );
    assert!(!err.contains('\x1b') && !err.contains('\0'), "{err:?}");
    let strict = albwatch(
        &["parse", "--summary", "--strict", "-"],
        Some(with_priority("x").as_bytes()),
    );
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn an_over_long_line_is_one_malformed_line_and_hides_nothing_after_it() {
    // 8 MiB of junk, then text that looks like a 5xx entry on the same line, then a real line.
    let mut text = "x".repeat(8 << 20);
    text.push(' ');
    text.push_str(&with_priority("1").replace(" 200 200 ", " 502 502 "));
    text.push('\n');
    text.push_str(&with_priority("1"));
    text.push('\n');
    let out = albwatch(&["parse", "--summary", "-"], Some(text.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(
        (
            s["lines"].as_u64(),
            s["entries"].as_u64(),
            s["malformed"].as_u64(),
            s["elb_5xx"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(0))
    );
    let err = stderr(&out);
    assert!(err.starts_with("-:1: line of "), "{err}");
}

#[test]
fn junk_after_the_last_gzip_member_is_a_warning_not_a_failure() {
    let mut gz = std::fs::read("fixtures/logs/multi-member.log.gz").unwrap();
    let end = gz.len();
    gz.extend(std::iter::repeat_n(0u8, 4096));
    let out = albwatch(&["parse", "--summary", "-"], Some(&gz));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary(&out)["entries"], 200);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "ignored 4096 bytes that are not gzip after the last member (compressed byte {end})"
        )),
        "{err}"
    );
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
    assert_eq!(out.status.code(), Some(1));
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
    assert_eq!(out.status.code(), Some(1));
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
