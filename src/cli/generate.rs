//! `albwatch gen`: realistic synthetic ALB access logs, for benchmarks and for trying albwatch
//! out (see [`crate::alb::synth`]).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::alb::synth::{Synth, SynthConfig};
use crate::cli::exit::Exit;

/// Options of `albwatch gen`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  albwatch gen --mb 250 --gzip -o /tmp/alb-250mb.log.gz
  albwatch gen --lines 1000000 --targets 12 --error-rate 0.02 -o /tmp/alb-1m.log
  albwatch gen --lines 5000 --fields 29 --gzip --members-every 200 > /tmp/x.log.gz")]
pub struct GenArgs {
    /// Stop after this many lines (default 100000 unless --mb is given).
    #[arg(long, value_name = "N", conflicts_with = "mb")]
    pub lines: Option<u64>,
    /// Stop after this many MB (10^6 bytes) of uncompressed text.
    #[arg(long, value_name = "N")]
    pub mb: Option<f64>,
    /// Write concatenated gzip members, as ALB does.
    #[arg(long)]
    pub gzip: bool,
    /// Lines per gzip member (~2.6 MB of text at the default).
    #[arg(long, value_name = "N", default_value_t = 4000)]
    pub members_every: u64,
    /// gzip level.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub level: u32,
    /// Targets `10.0.1.10:8080`, `10.0.1.11:8080`, …
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub targets: usize,
    /// Fraction of load-balancer 5xx lines (500, 502, 503, 504).
    #[arg(long, value_name = "X", default_value_t = 0.003)]
    pub error_rate: f64,
    /// RFC 3339 time of the first line.
    #[arg(long, value_name = "TIME", default_value = "2025-06-21T22:30:00Z")]
    pub start: DateTime<Utc>,
    /// Mean requests per second (sets the time the lines span).
    #[arg(long, value_name = "R", default_value_t = 200.0)]
    pub rps: f64,
    /// Fields per line: 25 (the 2016 layout) to 33 (today's).
    #[arg(long, value_name = "N", default_value_t = 33, value_parser = clap::value_parser!(u64).range(25..=33))]
    pub fields: u64,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, value_name = "S", default_value_t = 20_250_621)]
    pub seed: u64,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Writes the lines; a summary goes to stderr.
pub fn run(args: &GenArgs) -> Exit {
    match generate(args) {
        Ok(()) => Exit::Success,
        Err(e) => Exit::report(&e),
    }
}

fn generate(args: &GenArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut synth = Synth::new(SynthConfig {
        seed: args.seed,
        targets: args.targets,
        error_rate: args.error_rate,
        start: args.start,
        rps: args.rps,
        fields: usize::try_from(args.fields).unwrap_or(33),
    });
    let max_lines = match (args.lines, args.mb) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 100_000,
    };
    let max_bytes = args.mb.map_or(u64::MAX, |mb| (mb * 1e6) as u64);
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    let per_member = args.members_every.max(1);
    let (mut lines, mut bytes, mut members) = (0u64, 0u64, 0u64);
    let mut chunk = String::new();
    while lines < max_lines && bytes < max_bytes {
        chunk.clear();
        let mut in_chunk = 0;
        while in_chunk < per_member && lines < max_lines && bytes + (chunk.len() as u64) < max_bytes
        {
            synth.next_line(&mut chunk);
            chunk.push('\n');
            in_chunk += 1;
            lines += 1;
        }
        bytes += chunk.len() as u64;
        if args.gzip {
            let mut gz = GzEncoder::new(Vec::new(), Compression::new(args.level));
            gz.write_all(chunk.as_bytes())?;
            out.write_all(&gz.finish()?)?;
            members += 1;
        } else {
            out.write_all(chunk.as_bytes())?;
        }
    }
    out.flush().context("write the output")?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {lines} lines, {:.1} MB uncompressed{} in {seconds:.1} s",
        bytes as f64 / 1e6,
        if args.gzip {
            format!(", {members} gzip members")
        } else {
            String::new()
        },
    );
    Ok(())
}
