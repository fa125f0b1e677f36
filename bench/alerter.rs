//! Alerter throughput: Kinesis record bytes → parsed (simd-json) → aggregated into windows,
//! in entries per second on one core (`Throughput::Elements`).
//!
//! Input: the shipped incident logs run through the real ingest into ~1 MiB records:
//! - `all` mode: every entry in the full JSON form (~1 000+ entries per record);
//! - `errors` mode: the fixture's 5xx lines repeated, so records are full of compact 5xx
//!   entries (~2 000+ per record) plus tallies.
//!
//! `ingest_*` is the whole in-memory alerter path: records counted into per-invocation batches
//! of [`LAMBDA_BATCH`] records (the DashMap), committed to the in-memory store, then evaluated.
//!
//! `parse_only_*` parses with [`Record::from_slice`] (fresh simd-json buffers per record),
//! `parse_reused_*` with one [`RecordParser`] into whole records (the engine reuses a parser
//! too, but streams entries into its windows with `parse_into`).

use std::hint::black_box;
use std::ops::ControlFlow;

use albwatch::alb::parse_line;
use albwatch::alert::config::AlertConfig;
use std::sync::Arc;

use albwatch::alert::engine::Engine;
use albwatch::alert::store::memory::MemoryStore;
use albwatch::clock::SystemClock;
use albwatch::decode::{DecodeOptions, LineSource};
use albwatch::ingest::{Deadline, IngestConfig, MemorySink, OutRecord, ingest_reader};
use albwatch::record::{ForwardMode, Record, RecordParser, SourceId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
const INCIDENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21"
);
/// Records per alerter invocation (the event source mapping's default batch size).
const LAMBDA_BATCH: usize = 100;
/// How many times the fixture's 5xx lines are repeated for the errors-mode input.
const ERROR_REPEATS: usize = 12;

/// Every line of the incident fixture, in time order.
fn fixture_lines() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(INCIDENT)
        .expect("incident fixture")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for path in files {
        let file = std::fs::File::open(&path).expect("open");
        LineSource::spawn(file, &path.display().to_string(), DecodeOptions::default())
            .for_each_line(|_, line| {
                lines.push(line.expect("fixture lines are short").to_vec());
                ControlFlow::Continue(())
            })
            .expect("decodes");
    }
    lines
}

fn records(text: Vec<u8>, forward: ForwardMode) -> Vec<OutRecord> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sink = MemorySink::new();
    let config = IngestConfig {
        forward,
        ..IngestConfig::default()
    };
    let source = SourceId {
        bucket: "bench".into(),
        key: "incident.log".into(),
        etag: None,
        version_id: None,
    };
    runtime
        .block_on(ingest_reader(
            std::io::Cursor::new(text),
            source,
            &config,
            &sink,
            Deadline::none(),
        ))
        .expect("ingest");
    sink.take()
}

fn join(lines: &[&Vec<u8>]) -> Vec<u8> {
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    text
}

fn engine() -> Engine<MemoryStore> {
    let config = AlertConfig::default();
    let store = MemoryStore::new(config.dedupe_capacity);
    Engine::new(config, store, Arc::new(SystemClock)).expect("config")
}

/// Counts `records` in batches of [`LAMBDA_BATCH`], commits each, evaluates at the end;
/// returns the number of claims.
fn run(runtime: &tokio::runtime::Runtime, e: &Engine<MemoryStore>, records: &[OutRecord]) -> usize {
    runtime.block_on(async {
        for chunk in records.chunks(LAMBDA_BATCH) {
            let batch = e.batch();
            for r in chunk {
                batch.ingest_bytes(&r.data).expect("valid record");
            }
            e.commit(batch).await;
        }
        e.evaluate_all().await.claims.len()
    })
}

fn describe(name: &str, records: &[OutRecord]) -> u64 {
    let entries: u64 = records.iter().map(|r| u64::from(r.entries)).sum();
    let bytes: usize = records.iter().map(|r| r.data.len()).sum();
    let big = records.iter().filter(|r| r.data.len() > 900_000).count();
    eprintln!(
        "{name}: {} records ({big} over 900 kB), {entries} entries, {:.1} MB, {:.0} bytes/entry",
        records.len(),
        bytes as f64 / 1e6,
        bytes as f64 / entries.max(1) as f64
    );
    entries
}

fn benches(c: &mut Criterion) {
    let lines = fixture_lines();
    let all = records(join(&lines.iter().collect::<Vec<_>>()), ForwardMode::All);
    let errors_5xx: Vec<&Vec<u8>> = lines
        .iter()
        .filter(|l| parse_line(l).is_ok_and(|e| e.is_5xx()))
        .collect();
    let repeated: Vec<&Vec<u8>> = (0..ERROR_REPEATS)
        .flat_map(|_| errors_5xx.iter().copied())
        .collect();
    let errors = records(join(&repeated), ForwardMode::Errors);

    let mut group = c.benchmark_group("alerter");
    for (name, records) in [("all_mode", &all), ("errors_mode", &errors)] {
        let entries = describe(name, records);
        // Sanity: everything is counted, nothing late or poison.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let e = engine();
        run(&runtime, &e, records);
        let counters = e.counters();
        assert_eq!(counters.entries, entries);
        assert_eq!(counters.late_entries + counters.poison, 0);

        group.throughput(Throughput::Elements(entries));
        group.bench_function(format!("ingest_{name}"), |b| {
            b.iter(|| {
                let e = engine();
                black_box(run(&runtime, &e, records))
            });
        });
        group.bench_function(format!("parse_only_{name}"), |b| {
            let mut scratch = Vec::new();
            b.iter(|| {
                let mut n = 0;
                for r in records.iter() {
                    scratch.clear();
                    scratch.extend_from_slice(&r.data);
                    n += Record::from_slice(&mut scratch).map_or(0, |r| r.entries.len());
                }
                black_box(n)
            });
        });
        group.bench_function(format!("parse_reused_{name}"), |b| {
            let mut scratch = Vec::new();
            let mut parser = RecordParser::default();
            b.iter(|| {
                let mut n = 0;
                for r in records.iter() {
                    scratch.clear();
                    scratch.extend_from_slice(&r.data);
                    scratch.resize(r.data.len() + RecordParser::PADDING, b' ');
                    n += parser
                        .parse_padded(&mut scratch, r.data.len())
                        .map_or(0, |r| r.entries.len());
                }
                black_box(n)
            });
        });
    }
    group.finish();
}

criterion_group!(alerter, benches);
criterion_main!(alerter);
