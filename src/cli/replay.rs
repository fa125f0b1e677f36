//! `albwatch replay`: local ALB log files → a real Kinesis stream, exactly as the `ingest`
//! Lambda writes them.
//!
//! Each file goes through the Lambda's own code path, [`ingest_reader`] with a [`KinesisSink`]
//! (same chunking, partition keys, `PutRecords` batching and retries), one file after the other
//! as the Lambda takes the objects of an event. Records are identified by `local` + the path as
//! given, so replaying a file twice writes records the alerter drops as duplicates.
//!
//! Prints one line per file and a total: records, entries, bytes written and retries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::inputs::{Input, expand};
use super::simulate::Forward;
use anyhow::Context as _;

use crate::cli::aws::aws_config;
use crate::cli::exit::Exit;
use crate::ingest::keys::{KeyClass, KeyFilter, classify_key};
use crate::ingest::pipeline::ObjectName;
use crate::ingest::source::SourceError;
use crate::ingest::{
    Deadline, DiscardSink, IngestConfig, IngestError, KinesisSink, ObjectReport, RecordSink,
    ingest_reader,
};
use crate::record::{ForwardMode, SourceId};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One readable line per file and a total.
    Text,
    /// One JSON object per line: `{"type":"file",…}` per file, then `{"type":"total",…}`.
    Json,
}

/// Options of `albwatch replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Kinesis stream to write to (name or ARN).
    #[arg(long, value_name = "NAME", required_unless_present = "dry_run")]
    pub stream: Option<String>,
    /// Cut the records as they would be written and count them, writing nothing (no AWS
    /// needed; the whole-process measure of decode + parse + records).
    #[arg(long, conflicts_with_all = ["stream", "endpoint_url"])]
    pub dry_run: bool,
    /// AWS endpoint (e.g. LocalStack's `http://127.0.0.1:4566`); overrides `AWS_ENDPOINT_URL`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// What is forwarded (default: `ALBWATCH_FORWARD`, else `errors`).
    #[arg(long, value_enum)]
    pub forward: Option<Forward>,
    /// Output form of the report.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// ALB log files (`.gz` or plain), directories (walked for files named like ALB access
    /// logs), or `-` for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Whether a file found under a directory is replayed: what the ingest Lambda would take.
fn is_access_log(path: &Path) -> bool {
    classify_key(&path.to_string_lossy(), &KeyFilter::default()) == KeyClass::AccessLog
}

/// One file's line of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileReport {
    /// The path as given (or found under a directory); `-` for stdin.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// Lines parsed as entries.
    pub entries: u64,
    /// Non-blank lines that are not entries.
    pub malformed: u64,
    /// Entries written into records.
    pub forwarded: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (data + partition keys).
    pub bytes: u64,
    /// `PutRecords` calls, retries included.
    pub put_calls: u64,
    /// Records sent again after a throttled or failed put.
    pub retried_records: u64,
    /// Wall time.
    pub seconds: f64,
}

impl FileReport {
    fn of(path: String, r: &ObjectReport) -> Self {
        Self {
            path,
            lines: r.lines,
            entries: r.entries,
            malformed: r.malformed,
            forwarded: r.forwarded,
            records: r.records,
            bytes: r.bytes,
            put_calls: r.put_calls,
            retried_records: r.retried_records,
            seconds: r.duration.as_secs_f64(),
        }
    }
}

/// The total line of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayTotals {
    /// Files replayed completely.
    pub files: u64,
    /// Files (or PATH arguments) that failed.
    pub failed: u64,
    /// Whether records could not be written to the stream (a delivery failure).
    #[serde(skip)]
    pub undelivered: bool,
    /// Lines read.
    pub lines: u64,
    /// Entries parsed.
    pub entries: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// Entries written into records.
    pub forwarded: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (data + partition keys).
    pub bytes: u64,
    /// `PutRecords` calls, retries included.
    pub put_calls: u64,
    /// Records sent again after a throttled or failed put.
    pub retried_records: u64,
    /// Wall time of the whole replay.
    pub seconds: f64,
    /// Entries parsed per second of wall time.
    pub entries_per_second: f64,
}

impl ReplayTotals {
    fn add(&mut self, f: &FileReport) {
        self.files += 1;
        self.lines += f.lines;
        self.entries += f.entries;
        self.malformed += f.malformed;
        self.forwarded += f.forwarded;
        self.records += f.records;
        self.bytes += f.bytes;
        self.put_calls += f.put_calls;
        self.retried_records += f.retried_records;
    }

    fn finish(&mut self, elapsed: Duration) {
        self.seconds = elapsed.as_secs_f64();
        if self.seconds > 0.0 {
            self.entries_per_second = self.entries as f64 / self.seconds;
        }
    }
}

/// A line of the JSON report.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ReportLine<'a> {
    File(&'a FileReport),
    Total(&'a ReplayTotals),
}

/// Runs the replay; exit status 0, 1 when an input failed, 3 when records could not be
/// written (see [`Exit`]).
pub async fn run(args: &ReplayArgs) -> Exit {
    match replay(args).await {
        Ok(totals) if totals.undelivered => Exit::Undelivered,
        Ok(totals) if totals.failed > 0 => Exit::Failed,
        Ok(_) => Exit::Success,
        Err(error) => Exit::report(&error),
    }
}

async fn replay(args: &ReplayArgs) -> anyhow::Result<ReplayTotals> {
    let mut config = IngestConfig::from_env()?;
    if let Some(forward) = args.forward {
        config.forward = match forward {
            Forward::Errors => ForwardMode::Errors,
            Forward::All => ForwardMode::All,
        };
    }
    config.stream_name.clone_from(&args.stream);
    match &args.stream {
        Some(stream) => {
            let aws = aws_config(args.endpoint_url.as_deref()).await?;
            // One cheap call first: a wrong endpoint or a missing stream is one line now, not
            // a run of retries per file.
            aws_sdk_kinesis::Client::new(&aws)
                .describe_stream_summary()
                .stream_name(stream)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(crate::text::error_chain(&e)))
                .with_context(|| format!("cannot use stream {stream}"))?;
            replay_into(
                args,
                &config,
                &KinesisSink::from_conf(&aws, stream.clone()),
                stream,
            )
            .await
        }
        None => replay_into(args, &config, &DiscardSink::new(), "nowhere (--dry-run)").await,
    }
}

/// Replays every input of `args` into `sink`, named `destination` in messages.
async fn replay_into<S: RecordSink>(
    args: &ReplayArgs,
    config: &IngestConfig,
    sink: &S,
    destination: &str,
) -> anyhow::Result<ReplayTotals> {
    let started = Instant::now();
    let (inputs, errors) = expand(&args.paths, is_access_log);
    let mut totals = ReplayTotals::default();
    for e in &errors {
        eprintln!("albwatch: {e}");
        totals.failed += 1;
    }
    for input in &inputs {
        match replay_one(input, config, sink).await {
            Ok(file) => {
                totals.add(&file);
                print_line(args.format, &ReportLine::File(&file))?;
            }
            Err(error) => {
                eprintln!("albwatch: {error}");
                totals.failed += 1;
                if matches!(error, IngestError::Put { .. }) {
                    // Permanent (missing stream, access denied) or still failing after the
                    // ingest's retries: every other file would fail alike.
                    eprintln!("albwatch: stopping: records cannot be written to {destination}");
                    totals.undelivered = true;
                    break;
                }
            }
        }
    }
    totals.finish(started.elapsed());
    print_line(args.format, &ReportLine::Total(&totals))?;
    Ok(totals)
}

/// Writes one file's records through the ingest's code path.
async fn replay_one<S: RecordSink>(
    input: &Input,
    config: &IngestConfig,
    sink: &S,
) -> Result<FileReport, IngestError> {
    let name = input.name();
    let source = SourceId {
        bucket: "local".into(),
        key: name.clone().into(),
        etag: None,
        version_id: None,
    };
    let reader = input.open().map_err(|e| IngestError::Source {
        object: ObjectName::of(&source),
        source: SourceError::Failed {
            code: "io".into(),
            message: e.to_string(),
        },
    })?;
    let report = ingest_reader(reader, source, config, sink, Deadline::none()).await?;
    Ok(FileReport::of(name, &report))
}

fn print_line(format: ReportFormat, line: &ReportLine<'_>) -> anyhow::Result<()> {
    let text = match format {
        ReportFormat::Json => serde_json::to_string(line)?,
        ReportFormat::Text => match line {
            ReportLine::File(f) => format!(
                "{}: {} entries ({} forwarded, {} malformed) → {} records, {} bytes, {} puts, {} \
                 records retried, {:.2} s",
                f.path,
                f.entries,
                f.forwarded,
                f.malformed,
                f.records,
                f.bytes,
                f.put_calls,
                f.retried_records,
                f.seconds,
            ),
            ReportLine::Total(t) => format!(
                "total: {} files ({} failed), {} entries ({} forwarded, {} malformed) → {} \
                 records, {} bytes, {} puts, {} records retried, {:.2} s ({:.0} entries/s)",
                t.files,
                t.failed,
                t.entries,
                t.forwarded,
                t.malformed,
                t.records,
                t.bytes,
                t.put_calls,
                t.retried_records,
                t.seconds,
                t.entries_per_second,
            ),
        },
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_access_log_names_are_taken_from_directories() {
        assert!(is_access_log(Path::new(
            "fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz"
        )));
        assert!(!is_access_log(Path::new("fixtures/incident/README.md")));
        assert!(!is_access_log(Path::new("fixtures/incident/expected.json")));
    }

    #[test]
    fn totals_add_up_and_json_lines_are_tagged() {
        let file = FileReport {
            path: "a.log".into(),
            entries: 10,
            records: 2,
            bytes: 300,
            put_calls: 1,
            ..FileReport::default()
        };
        let mut totals = ReplayTotals::default();
        totals.add(&file);
        totals.add(&file);
        totals.finish(Duration::from_secs(2));
        assert_eq!((totals.files, totals.entries, totals.records), (2, 20, 4));
        assert!((totals.entries_per_second - 10.0).abs() < 1e-9);
        let json = serde_json::to_value(ReportLine::File(&file)).unwrap();
        assert_eq!(json["type"], "file");
        assert_eq!(json["path"], "a.log");
        let json = serde_json::to_value(ReportLine::Total(&totals)).unwrap();
        assert_eq!(json["type"], "total");
        assert_eq!(json["records"], 4);
    }
}
