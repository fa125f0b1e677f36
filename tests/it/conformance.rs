//! Conformance corpus (`fixtures/conformance/`): every line of every `.log` file there has an
//! entry in `expected.json` with the values the AWS documentation gives its fields, and
//! `albwatch parse` must produce them (or, for the forms albwatch does not accept, the
//! `malformed` reason it must give). Each line is parsed by its own `albwatch parse -`, so a
//! line the parser rejects cannot shift the others; all mismatches are reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cli_parse::albwatch;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance")
}

/// The lines of each `.log` file in the corpus, by file name (no line terminators).
fn corpus_lines() -> BTreeMap<String, Vec<String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("fixtures/conformance exists") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, text.lines().map(str::to_owned).collect());
        }
    }
    files
}

/// `albwatch parse -` on one line: the NDJSON objects printed, and stderr.
fn parse_one(line: &str) -> (Vec<Value>, String) {
    let out = albwatch(&["parse", "-"], Some(format!("{line}\n").as_bytes()));
    let rows = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("stdout is NDJSON"))
        .collect();
    (rows, String::from_utf8_lossy(&out.stderr).trim().to_owned())
}

/// Equal as JSON values, except that numbers compare by value (`-1` equals `-1.0`).
fn same(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => expected == got,
    }
}

#[test]
fn corpus_matches_documented_field_values() {
    let files = corpus_lines();
    assert!(!files.is_empty(), "no .log files in fixtures/conformance");
    let expected: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(corpus_dir().join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is a JSON array");

    // Every corpus line has exactly one entry, and every entry names a corpus line.
    let total_lines: usize = files.values().map(Vec::len).sum();
    assert_eq!(
        expected.len(),
        total_lines,
        "expected.json has {} entries for {} lines in {:?}",
        expected.len(),
        total_lines,
        files.keys().collect::<Vec<_>>()
    );
    let mut seen = BTreeSet::new();
    for e in &expected {
        let file = e["file"].as_str().expect("entry has a file");
        let line = e["line"].as_u64().expect("entry has a line number");
        let count = files.get(file).map_or(0, Vec::len) as u64;
        assert!(
            (1..=count).contains(&line),
            "expected.json names {file}:{line}, which does not exist"
        );
        assert!(
            seen.insert((file.to_owned(), line)),
            "expected.json has {file}:{line} twice"
        );
    }

    let mut failures = Vec::new();
    let mut keys_checked = 0;
    for e in &expected {
        let file = e["file"].as_str().unwrap();
        let line_no = e["line"].as_u64().unwrap();
        let text = &files[file][line_no as usize - 1];
        let at = format!("{file}:{line_no} ({})", e["source"].as_str().unwrap_or("?"));
        let (rows, stderr) = parse_one(text);
        if let Some(reason) = e["malformed"].as_str() {
            keys_checked += 1;
            if !rows.is_empty() || !stderr.contains(reason) {
                failures.push(format!(
                    "{at}: expected malformed ({reason}), got {rows:?} {stderr}"
                ));
            }
            continue;
        }
        let want = e["expect"]
            .as_object()
            .expect("entry has an expect or a malformed key");
        let got = match rows.as_slice() {
            [row] => row,
            [] => {
                failures.push(format!("{at}: not parsed: {stderr}"));
                continue;
            }
            _ => {
                failures.push(format!("{at}: {} objects for one line", rows.len()));
                continue;
            }
        };
        for (key, want) in want {
            keys_checked += 1;
            match got.get(key) {
                Some(got) if same(want, got) => {}
                Some(got) => failures.push(format!("{at} {key}: expected {want}, got {got}")),
                None => failures.push(format!("{at} {key}: expected {want}, key missing")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches ({} entries, {keys_checked} keys checked):\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}
