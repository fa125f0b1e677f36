//! Ingest throughput: a gzip ALB log through decode, parse, chunking and batching into a sink
//! that discards (MB/s of uncompressed log text), for both forward modes.

use std::io::{Read, Write};

use albwatch::ingest::{Deadline, DiscardSink, IngestConfig, ingest_reader};
use albwatch::record::{ForwardMode, SourceId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INCIDENT_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21"
);
const TARGET_BYTES: usize = 32 << 20;
const LINES_PER_MEMBER: usize = 4_000;

/// The six incident files (realistic lines, a 6-minute incident) repeated to ~32 MB, as
/// concatenated gzip members.
fn realistic_gzip() -> (Vec<u8>, u64) {
    let mut text = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(INCIDENT_DIR)
        .expect("incident fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        let gz = std::fs::read(path).expect("fixture");
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut text)
            .expect("fixture decodes");
    }
    let one = text.clone();
    while text.len() < TARGET_BYTES {
        text.extend_from_slice(&one);
    }
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut gz = Vec::new();
    for member in lines.chunks(LINES_PER_MEMBER) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        for line in member {
            enc.write_all(line).expect("in-memory write");
        }
        gz.extend(enc.finish().expect("in-memory gzip"));
    }
    (gz, text.len() as u64)
}

fn benches(c: &mut Criterion) {
    let (gz, bytes) = realistic_gzip();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    for (name, forward) in [
        ("errors_to_discard", ForwardMode::Errors),
        ("all_to_discard", ForwardMode::All),
    ] {
        let config = IngestConfig {
            forward,
            ..IngestConfig::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let sink = DiscardSink::new();
                let source = SourceId {
                    bucket: "bench".into(),
                    key: "bench.log.gz".into(),
                    etag: None,
                    version_id: None,
                };
                runtime
                    .block_on(ingest_reader(
                        std::io::Cursor::new(gz.clone()),
                        source,
                        &config,
                        &sink,
                        Deadline::none(),
                    ))
                    .expect("bench input ingests");
                sink.records()
            })
        });
    }
    group.finish();
}

criterion_group!(ingest_benches, benches);
criterion_main!(ingest_benches);
