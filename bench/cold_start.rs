//! Cold start of the Lambda binaries: process start → first poll of the Runtime API, i.e.
//! everything `main` does before it asks for work (tracing, configuration, AWS clients built
//! once; no network call happens before the first event).
//!
//! Each run gets a fresh Runtime API stub on a fresh port (`tests/it/runtime_api.rs`, shared
//! with the functional test) and a binary started with the environment Lambda gives and nothing
//! else. At the first poll, /proc gives the process's CPU time (the sum of its threads'
//! schedstat run time, which hardly moves with machine load, unlike the wall clock) and its
//! peak RSS (VmHWM). With `--invoke` the poll is answered with a harmless event (an S3
//! `s3:TestEvent` for `ingest`, a poison Kinesis record for `alerter`) and the time to its
//! `/response` is reported too. Binaries run round-robin, so machine load affects them alike.
//!
//! ```sh
//! cargo build --release --bin ingest --bin alerter
//! cargo bench --bench cold_start -- --runs 40 target/release/ingest target/release/alerter
//! cargo bench --bench cold_start -- --invoke target/release/alerter
//! ```
//!
//! Linux only (/proc).

#[path = "../tests/it/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use runtime_api::{Lambda, NEXT, RuntimeApi, poison_kinesis_event, s3_test_event};

/// What one run measured.
struct Run {
    first_poll: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    response: Option<Duration>,
}

fn main() {
    let mut runs = 20usize;
    let mut invoke = false;
    let mut binaries = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            "--invoke" => invoke = true,
            "--bench" => {} // added by `cargo bench`
            other => binaries.push(other.to_owned()),
        }
    }
    if binaries.is_empty() {
        binaries = ["ingest", "alerter"]
            .map(|b| format!("{}/target/release/{b}", env!("CARGO_MANIFEST_DIR")))
            .to_vec();
    }
    let mut results: Vec<Vec<Run>> = binaries.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for (binary, results) in binaries.iter().zip(&mut results) {
            results.push(measure(binary, invoke));
        }
    }
    println!("{runs} runs each, round-robin; min / median");
    for (binary, results) in binaries.iter().zip(&results) {
        let ms = |d: Vec<Duration>| {
            let (min, median) = min_median(d);
            format!(
                "{:.1} / {:.1} ms",
                min.as_secs_f64() * 1e3,
                median.as_secs_f64() * 1e3
            )
        };
        let polls = ms(results.iter().map(|r| r.first_poll).collect());
        let cpu = ms(results.iter().map(|r| r.cpu).collect());
        let rss = results.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        print!(
            "{binary}: first poll {polls}, CPU {cpu}, peak RSS {:.1} MB",
            rss as f64 / 1024.0
        );
        let responses: Vec<Duration> = results.iter().filter_map(|r| r.response).collect();
        if !responses.is_empty() {
            print!(", first response {}", ms(responses));
        }
        println!();
    }
}

/// One start of `binary`, up to its first poll (and its first response with `invoke`).
fn measure(binary: &str, invoke: bool) -> Run {
    let event = invoke.then(|| {
        if binary.contains("alerter") {
            poison_kinesis_event()
        } else {
            s3_test_event()
        }
    });
    let api = RuntimeApi::start(event);
    let lambda = Lambda::spawn(binary, &api);
    let first = api.next_request(&lambda);
    assert_eq!(first.path, NEXT, "logs:\n{}", lambda.logs());
    let pid = lambda.child.id();
    let cpu = cpu_time(pid);
    let peak_rss_kib = peak_rss_kib(pid);
    let response = invoke.then(|| {
        let answer = api.next_request(&lambda);
        assert!(
            answer.path.ends_with("/response"),
            "logs:\n{}",
            lambda.logs()
        );
        assert!(
            serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok(),
            "the response is JSON"
        );
        answer.at.duration_since(first.at)
    });
    Run {
        first_poll: first.at.duration_since(lambda.started),
        cpu,
        peak_rss_kib,
        response,
    }
}

/// CPU time of every thread of `pid` so far (`/proc/PID/task/*/schedstat`, nanoseconds).
fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc");
    let nanos = tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// `VmHWM` of `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn min_median(mut values: Vec<Duration>) -> (Duration, Duration) {
    values.sort_unstable();
    (
        values.first().copied().unwrap_or_default(),
        values.get(values.len() / 2).copied().unwrap_or_default(),
    )
}
