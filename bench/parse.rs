//! Parser and decoder throughput (MB/s of uncompressed log text).
//!
//! Input: the shipped incident fixtures (realistic 33-field lines), repeated to a few MB;
//! the gzip case re-compresses them as concatenated members like ALB writes.

use std::io::{Read, Write};
use std::ops::ControlFlow;

use albwatch::alb::parse_line;
use albwatch::decode::{DecodeOptions, LineSource};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INCIDENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/",
    "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.15_3apj8aqk.log.gz"
);
const LINES_PER_MEMBER: usize = 4_000;
const TARGET_BYTES: usize = 32 << 20;

fn realistic_text() -> Vec<u8> {
    let mut text = Vec::new();
    let gz = std::fs::read(INCIDENT).expect("incident fixture");
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut text)
        .expect("fixture decodes");
    let mut out = Vec::with_capacity(TARGET_BYTES + text.len());
    while out.len() < TARGET_BYTES {
        out.extend_from_slice(&text);
    }
    out
}

fn gzip_members(text: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut out = Vec::new();
    for member in lines.chunks(LINES_PER_MEMBER) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        for line in member {
            enc.write_all(line).expect("in-memory write");
        }
        out.extend(enc.finish().expect("in-memory gzip"));
    }
    out
}

/// Parses every line and reads the fields an alert uses, as the ingest does.
fn parse_all(text: &[u8]) -> u64 {
    let mut n5xx = 0;
    for line in text.split(|&b| b == b'\n') {
        if let Ok(e) = parse_line(line) {
            n5xx += u64::from(e.is_5xx()) + u64::from(e.target().is_some());
        }
    }
    n5xx
}

fn benches(c: &mut Criterion) {
    let text = realistic_text();
    let gz = gzip_members(&text);

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("plain_lines", |b| b.iter(|| parse_all(&text)));
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    for (name, whole_members) in [
        ("gzip_parse_libdeflate", true),
        ("gzip_parse_zlib_rs_stream", false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let options = DecodeOptions {
                    whole_members,
                    ..DecodeOptions::default()
                };
                let mut n = 0u64;
                LineSource::spawn(std::io::Cursor::new(gz.clone()), "bench", options)
                    .for_each_line(|_, line| {
                        let entry = line.ok().and_then(|l| parse_line(l).ok());
                        n += u64::from(entry.is_some_and(|e| e.is_5xx()));
                        ControlFlow::Continue(())
                    })
                    .expect("bench input decodes");
                n
            })
        });
    }
    group.bench_function("gzip_decode_only_libdeflate", |b| {
        b.iter(|| {
            LineSource::spawn(
                std::io::Cursor::new(gz.clone()),
                "bench",
                DecodeOptions::default(),
            )
            .for_each_line(|_, _| ControlFlow::Continue(()))
            .expect("bench input decodes")
        })
    });
    group.finish();
}

criterion_group!(parse_benches, benches);
criterion_main!(parse_benches);
