//! One object, end to end: reader → decoder → parser → chunker → batches → sink.
//!
//! ```text
//!  blocking thread (spawn_blocking)                     async task
//!  ┌───────────────────────────────────────────┐        ┌────────────────────────────┐
//!  │ LineSource (own thread: gunzip) → lines   │ bounded│ batches ≤ 500 rec / 5 MiB   │
//!  │ parse_line → Chunker → records ───────────┼─mpsc──▶│ ≤ N PutRecords in flight    │
//!  └───────────────────────────────────────────┘        │ retry failed records only   │
//!                                                       └────────────────────────────┘
//! ```
//!
//! Memory is bounded by the decoder's blocks, the chunker's memory budget, the channel and the
//! puts in flight, never by the object's size or its number of partition keys.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::alb::escape::escape_bytes;
use crate::alb::problems::{EXCERPT_BYTES, LineProblems, TOO_LONG};
use crate::alb::{is_blank, parse_line};
use crate::decode::{DecodeError, DecodeStats, Format, LineSource};
use crate::ingest::chunker::{ChunkStats, Chunker};
use crate::ingest::config::IngestConfig;
use crate::ingest::put::{PutFailure, PutSideError, PutStats, StopReason, put_stream};
use crate::ingest::sink::{OutRecord, RecordSink};
use crate::ingest::source::SourceError;
use crate::record::SourceId;
use crate::retry::Deadline;

/// Lines between checks that the put side is still listening (when no record was sent).
const CLOSED_CHECK_LINES: u64 = 4096;
/// Bytes of records queued between the parse side and the put side: two full `PutRecords`
/// batches ([`PUT_BATCH_BYTES`](crate::ingest::config::PUT_BATCH_BYTES)).
const CHANNEL_BYTES: usize = 2 << 20;
/// How long a failed object waits for its parse side to stop before leaving it behind.
const PARSE_STOP_GRACE: Duration = Duration::from_secs(2);

/// Names an object in messages: `s3://bucket/key`, or the key alone for local files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    /// Bucket (`local` or empty for local files).
    pub bucket: String,
    /// Key or path.
    pub key: String,
}

impl ObjectName {
    /// The name of `source`.
    #[must_use]
    pub fn of(source: &SourceId<'_>) -> Self {
        Self {
            bucket: source.bucket.to_string(),
            key: source.key.to_string(),
        }
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bucket.is_empty() || self.bucket == "local" {
            write!(f, "{}", self.key)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// Why an object was not (completely) ingested. Records already written stay valid: a retry
/// writes identical records, which consumers drop as duplicates.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The object could not be opened.
    #[error("{object}: cannot read the object: {source}")]
    Source {
        /// The object.
        object: ObjectName,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// Reading or decompressing failed part-way (corrupt or truncated gzip, broken connection).
    #[error("{source}")]
    Decode {
        /// The object.
        object: ObjectName,
        /// The decoder's error (names the object and the offset).
        #[source]
        source: DecodeError,
    },
    /// Not gzip, and not one line parses as an access-log entry.
    #[error(
        "{object}: not gzip and no line is an ALB access-log entry ({malformed} malformed lines)"
    )]
    NotAccessLog {
        /// The object.
        object: ObjectName,
        /// Malformed lines seen.
        malformed: u64,
    },
    /// Records could not be written.
    #[error(
        "{object}: {} records not written after {} attempts ({}): {}: {}",
        failure.records, failure.attempts, stop_text(failure.stop), failure.code, failure.message
    )]
    Put {
        /// The object.
        object: ObjectName,
        /// What failed.
        failure: PutFailure,
    },
    /// The deadline came before the object was done; it must be processed again.
    #[error("{object}: deadline reached after {lines} lines; the object must be processed again")]
    Deadline {
        /// The object.
        object: ObjectName,
        /// Lines read when it stopped.
        lines: u64,
    },
    /// A bug: the parse side stopped unexpectedly.
    #[error("{object}: internal error: {detail}")]
    Internal {
        /// The object.
        object: ObjectName,
        /// What happened.
        detail: String,
    },
}

fn stop_text(stop: StopReason) -> &'static str {
    match stop {
        StopReason::Permanent => "permanent error",
        StopReason::Attempts => "retries exhausted",
        StopReason::Deadline => "no time left to retry",
    }
}

impl IngestError {
    /// The object the error is about.
    #[must_use]
    pub fn object(&self) -> &ObjectName {
        match self {
            Self::Source { object, .. }
            | Self::Decode { object, .. }
            | Self::NotAccessLog { object, .. }
            | Self::Put { object, .. }
            | Self::Deadline { object, .. }
            | Self::Internal { object, .. } => object,
        }
    }

    /// Short snake_case label for log fields.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Source { .. } => "source",
            Self::Decode { .. } => "decode",
            Self::NotAccessLog { .. } => "not_access_log",
            Self::Put { .. } => "put",
            Self::Deadline { .. } => "deadline",
            Self::Internal { .. } => "internal",
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectReport {
    /// The object.
    pub bucket: String,
    /// The object.
    pub key: String,
    /// Lines read (blank and malformed included).
    pub lines: u64,
    /// Lines parsed as entries.
    pub entries: u64,
    /// Non-blank lines that are not entries.
    pub malformed: u64,
    /// Fields of entries read as absent because they failed their check.
    pub field_warnings: u64,
    /// Bytes after the last gzip member that are not gzip, skipped.
    pub trailing_bytes: u64,
    /// Blank lines.
    pub blank: u64,
    /// Entries whose `elb_status_code` is 5xx.
    pub elb_5xx: u64,
    /// Entries written into records (5xx ones in `errors` mode, all in `all` mode).
    pub forwarded: u64,
    /// Entries whose text fields were cut to fit a record.
    pub truncated: u64,
    /// Records larger than `max_record_bytes` because an entry could not be cut enough.
    pub oversized: u64,
    /// Partition-key states: distinct keys, plus one each time a key evicted to stay within
    /// the chunker's memory budget comes back.
    pub keys: u64,
    /// Keys cut into records early and forgotten to stay within the chunker's memory budget.
    pub evicted_keys: u64,
    /// Records written.
    pub records: u64,
    /// Bytes written (data + partition keys).
    pub bytes: u64,
    /// Put calls, retries included.
    pub put_calls: u64,
    /// Records sent again after a failure.
    pub retried_records: u64,
    /// gzip or plain.
    pub format: Format,
    /// Bytes read from the source.
    pub compressed_bytes: u64,
    /// Decoded bytes.
    pub decoded_bytes: u64,
    /// Wall time.
    pub duration: Duration,
}

/// Counters of the parse side.
#[derive(Debug, Clone, Copy, Default)]
struct ParseCounts {
    lines: u64,
    blank: u64,
    entries: u64,
    malformed: u64,
    field_warnings: u64,
    elb_5xx: u64,
}

struct ParseOutcome {
    counts: ParseCounts,
    chunk: ChunkStats,
    result: Result<DecodeStats, IngestError>,
}

/// Ingests one object read from `reader` (gzip or plain text) and writes its records to `sink`.
///
/// This is the code path of the Lambda and of `albwatch simulate`: decoding and parsing run on
/// a blocking thread, records cross a bounded channel to the put side, which batches them and
/// keeps up to `config.max_in_flight_puts` calls in flight. Logs one summary line (or one error
/// line) for the object. To measure throughput, pass a
/// [`DiscardSink`](crate::ingest::sink::DiscardSink) and [`Deadline::none`].
///
/// # Errors
/// See [`IngestError`]. Records written before the error are identical to those a retry writes.
pub async fn ingest_reader<R, S>(
    reader: R,
    source: SourceId<'static>,
    config: &IngestConfig,
    sink: &S,
    deadline: Deadline,
) -> Result<ObjectReport, IngestError>
where
    R: Read + Send + 'static,
    S: RecordSink,
{
    let started = std::time::Instant::now();
    let object = ObjectName::of(&source);
    let capacity = (CHANNEL_BYTES / config.max_record_bytes.max(1)).clamp(2, 16);
    let (tx, mut rx) = mpsc::channel(capacity);
    let parse_config = config.clone();
    let mut parse =
        tokio::task::spawn_blocking(move || parse_object(reader, source, &parse_config, &tx));

    let put = put_stream(&mut rx, sink, config, deadline).await;
    // Closing the channel stops a parse side that is still running.
    drop(rx);
    let joined = if put.is_ok() {
        Some((&mut parse).await)
    } else {
        tokio::time::timeout(PARSE_STOP_GRACE, &mut parse)
            .await
            .ok()
    };
    let outcome = match joined {
        Some(Ok(outcome)) => outcome,
        Some(Err(join)) => ParseOutcome {
            counts: ParseCounts::default(),
            chunk: ChunkStats::default(),
            result: Err(IngestError::Internal {
                object: object.clone(),
                detail: format!("parse task failed: {join}"),
            }),
        },
        None => ParseOutcome {
            counts: ParseCounts::default(),
            chunk: ChunkStats::default(),
            result: Err(IngestError::Internal {
                object: object.clone(),
                detail: "parse side still running".into(),
            }),
        },
    };

    let put_stats = put.as_ref().copied().unwrap_or_default();
    let report = report(&object, &outcome, put_stats, started.elapsed());
    let result = match (put, outcome.result) {
        (Err(PutSideError::Failed(failure)), _) => Err(IngestError::Put {
            object: object.clone(),
            failure,
        }),
        (Err(PutSideError::Deadline), _) => Err(IngestError::Deadline {
            object: object.clone(),
            lines: outcome.counts.lines,
        }),
        (Ok(_), Err(error)) => Err(error),
        (Ok(_), Ok(_)) => Ok(report.clone()),
    };
    log_summary(&report, result.as_ref().err());
    result
}

fn report(
    object: &ObjectName,
    outcome: &ParseOutcome,
    put: PutStats,
    duration: Duration,
) -> ObjectReport {
    let decode = outcome.result.as_ref().ok().copied().unwrap_or_default();
    let c = outcome.counts;
    ObjectReport {
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        lines: c.lines,
        entries: c.entries,
        malformed: c.malformed,
        field_warnings: c.field_warnings,
        trailing_bytes: decode.trailing.map_or(0, |t| t.bytes),
        blank: c.blank,
        elb_5xx: c.elb_5xx,
        forwarded: outcome.chunk.forwarded,
        truncated: outcome.chunk.truncated,
        oversized: outcome.chunk.oversized,
        keys: outcome.chunk.keys,
        evicted_keys: outcome.chunk.evicted,
        records: put.records,
        bytes: put.bytes,
        put_calls: put.calls,
        retried_records: put.retried_records,
        format: decode.format,
        compressed_bytes: decode.compressed_bytes,
        decoded_bytes: decode.bytes,
        duration,
    }
}

fn log_summary(r: &ObjectReport, failure: Option<&IngestError>) {
    let format = match r.format {
        Format::Gzip => "gzip",
        Format::Plain => "plain",
    };
    let duration_ms = u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX);
    match failure {
        None => info!(
            bucket = %r.bucket,
            key = %r.key,
            lines = r.lines,
            entries = r.entries,
            malformed = r.malformed,
            field_warnings = r.field_warnings,
            trailing_bytes = r.trailing_bytes,
            elb_5xx = r.elb_5xx,
            forwarded = r.forwarded,
            truncated = r.truncated,
            oversized = r.oversized,
            keys = r.keys,
            evicted_keys = r.evicted_keys,
            records = r.records,
            bytes = r.bytes,
            put_calls = r.put_calls,
            retried_records = r.retried_records,
            format,
            compressed_bytes = r.compressed_bytes,
            duration_ms,
            "object ingested"
        ),
        Some(e) => error!(
            bucket = %r.bucket,
            key = %r.key,
            error_kind = e.kind(),
            error = %e,
            lines = r.lines,
            entries = r.entries,
            malformed = r.malformed,
            records = r.records,
            put_calls = r.put_calls,
            retried_records = r.retried_records,
            duration_ms,
            "object failed"
        ),
    }
}

/// The blocking side: decode, parse, chunk, hand records to the put side.
fn parse_object<R: Read + Send + 'static>(
    reader: R,
    source: SourceId<'static>,
    config: &IngestConfig,
    tx: &mpsc::Sender<OutRecord>,
) -> ParseOutcome {
    let object = ObjectName::of(&source);
    let lines = LineSource::spawn(reader, &object.to_string(), config.decode.clone());
    let mut chunker = Chunker::new(source, config);
    let mut counts = ParseCounts::default();
    let mut problems = LineProblems::default();
    let mut closed = false;

    let decoded = lines.for_each_line(|n, line| {
        counts.lines = n;
        match line {
            Err(too_long) => {
                counts.malformed += 1;
                if problems.malformed(TOO_LONG) {
                    warn!(bucket = %object.bucket, key = %object.key, line = n, error = %too_long, "malformed line");
                }
            }
            Ok(line) if is_blank(line) => counts.blank += 1,
            Ok(line) => match parse_line(line) {
                Ok(entry) => {
                    counts.entries += 1;
                    for w in entry.field_warnings() {
                        counts.field_warnings += 1;
                        if problems.warning(w.field) {
                            warn!(bucket = %object.bucket, key = %object.key, line = n, warning = %w, "field read as absent");
                        }
                    }
                    if entry
                        .elb_status_code()
                        .is_some_and(|c| (500..600).contains(&c))
                    {
                        counts.elb_5xx += 1;
                    }
                    chunker.push(n, &entry);
                }
                Err(err) => {
                    counts.malformed += 1;
                    if problems.malformed(err.field) {
                        let end = line.len().min(EXCERPT_BYTES);
                        warn!(
                            bucket = %object.bucket,
                            key = %object.key,
                            line = n,
                            error = %err,
                            excerpt = %escape_bytes(&line[..end]),
                            "malformed line"
                        );
                    }
                }
            },
        }
        if chunker.has_ready() {
            for record in chunker.take_ready() {
                if tx.blocking_send(record).is_err() {
                    closed = true;
                    return ControlFlow::Break(());
                }
            }
        } else if n % CLOSED_CHECK_LINES == 0 && tx.is_closed() {
            closed = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });

    let result = finish(decoded, closed, &object, counts, &mut chunker, tx);
    ParseOutcome {
        counts,
        chunk: chunker.stats(),
        result,
    }
}

fn finish(
    decoded: Result<DecodeStats, DecodeError>,
    closed: bool,
    object: &ObjectName,
    counts: ParseCounts,
    chunker: &mut Chunker,
    tx: &mpsc::Sender<OutRecord>,
) -> Result<DecodeStats, IngestError> {
    let stopped = || IngestError::Internal {
        object: object.clone(),
        detail: "the put side stopped".into(),
    };
    let stats = decoded.map_err(|source| IngestError::Decode {
        object: object.clone(),
        source,
    })?;
    if closed {
        return Err(stopped());
    }
    if let Some(t) = stats.trailing {
        warn!(
            bucket = %object.bucket,
            key = %object.key,
            offset = t.offset,
            bytes = t.bytes,
            "ignored bytes that are not gzip after the last member"
        );
    }
    if stats.format == Format::Plain && counts.entries == 0 && counts.malformed > 0 {
        return Err(IngestError::NotAccessLog {
            object: object.clone(),
            malformed: counts.malformed,
        });
    }
    for record in chunker.finish(counts.lines) {
        tx.blocking_send(record).map_err(|_| stopped())?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sink::{DiscardSink, MemorySink};
    use crate::record::{ForwardMode, Record};
    use std::io::{Cursor, Write};

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn source(key: &str) -> SourceId<'static> {
        SourceId {
            bucket: "b".into(),
            key: key.to_owned().into(),
            etag: Some("e".into()),
            version_id: None,
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// 5xx lines of a file, by the crate's own parser.
    fn count_5xx(text: &[u8]) -> (u64, u64) {
        let mut entries = 0;
        let mut errors = 0;
        for line in text.split(|&b| b == b'\n') {
            if let Ok(e) = parse_line(line) {
                entries += 1;
                errors += u64::from(e.is_5xx());
            }
        }
        (entries, errors)
    }

    #[tokio::test]
    async fn edge_cases_file_end_to_end() {
        let text = fixture("logs/edge-cases.log");
        let sink = MemorySink::new();
        let report = ingest_reader(
            Cursor::new(text.clone()),
            source("edge"),
            &IngestConfig::default(),
            &sink,
            Deadline::none(),
        )
        .await
        .unwrap();
        let (entries, errors) = count_5xx(&text);
        assert_eq!(report.entries, entries);
        assert_eq!(report.malformed, 0);
        assert_eq!(report.blank, 1);
        assert_eq!(report.forwarded, errors);
        assert_eq!(report.format, Format::Plain);
        let records = sink.take();
        assert_eq!(records.len() as u64, report.records);
        let mut forwarded = 0;
        for r in &records {
            let mut data = r.data.clone();
            let rec = Record::from_slice(&mut data).unwrap();
            forwarded += rec.entries.len() as u64;
            assert!(rec.entries.iter().all(|e| e.status_5xx().is_some()));
        }
        assert_eq!(forwarded, errors);
    }

    #[tokio::test]
    async fn malformed_lines_are_counted_not_fatal() {
        let text = fixture("logs/malformed.log");
        let report = ingest_reader(
            Cursor::new(text),
            source("m"),
            &IngestConfig::default(),
            &DiscardSink::new(),
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(
            (
                report.lines,
                report.entries,
                report.malformed,
                report.field_warnings
            ),
            (16, 7, 9, 1)
        );
    }

    #[tokio::test]
    async fn multi_member_gzip_is_read_whole() {
        let sink = DiscardSink::new();
        let report = ingest_reader(
            Cursor::new(fixture("logs/multi-member.log.gz")),
            source("mm"),
            &IngestConfig::default(),
            &sink,
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(report.entries, 200);
        assert_eq!(report.elb_5xx, 11);
        assert_eq!(report.format, Format::Gzip);
        assert_eq!(sink.records(), report.records);
    }

    #[tokio::test]
    async fn corrupt_gzip_fails_naming_the_object() {
        let err = ingest_reader(
            Cursor::new(fixture("logs/corrupt.log.gz")),
            source("AWSLogs/x.log.gz"),
            &IngestConfig::default(),
            &MemorySink::new(),
            Deadline::none(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::Decode { .. }), "{err}");
        assert!(err.to_string().contains("s3://b/AWSLogs/x.log.gz"), "{err}");
    }

    #[tokio::test]
    async fn plain_junk_is_not_an_access_log_but_plain_logs_are_fine() {
        let err = ingest_reader(
            Cursor::new(b"hello\nworld\n".to_vec()),
            source("k"),
            &IngestConfig::default(),
            &MemorySink::new(),
            Deadline::none(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, IngestError::NotAccessLog { malformed: 2, .. }),
            "{err}"
        );
        let ok = ingest_reader(
            Cursor::new(fixture("logs/aws-doc-examples.log")),
            source("k"),
            &IngestConfig::default(),
            &MemorySink::new(),
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(ok.entries, 7);
        let empty = ingest_reader(
            Cursor::new(gzip(b"")),
            source("k"),
            &IngestConfig::default(),
            &MemorySink::new(),
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!((empty.lines, empty.records), (0, 0));
    }

    #[tokio::test]
    async fn reingesting_gives_identical_records() {
        let data = fixture(
            "incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2250Z_10.0.1.15_35gzk084.log.gz",
        );
        let config = IngestConfig {
            max_record_bytes: 16 << 10,
            ..IngestConfig::default()
        };
        let a = MemorySink::new();
        let b = MemorySink::new();
        ingest_reader(
            Cursor::new(data.clone()),
            source("k"),
            &config,
            &a,
            Deadline::none(),
        )
        .await
        .unwrap();
        ingest_reader(
            Cursor::new(data),
            source("k"),
            &config,
            &b,
            Deadline::none(),
        )
        .await
        .unwrap();
        let sorted = |s: &MemorySink| {
            let mut v = s.take();
            v.sort_by(|x, y| (&x.partition_key, x.seq).cmp(&(&y.partition_key, y.seq)));
            v
        };
        let (a, b) = (sorted(&a), sorted(&b));
        assert!(a.len() > 3);
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn all_mode_forwards_every_entry() {
        let text = fixture("logs/aws-doc-examples.log");
        let config = IngestConfig {
            forward: ForwardMode::All,
            ..IngestConfig::default()
        };
        let report = ingest_reader(
            Cursor::new(gzip(&text)),
            source("k"),
            &config,
            &MemorySink::new(),
            Deadline::none(),
        )
        .await
        .unwrap();
        assert_eq!(report.forwarded, 7);
    }

    #[tokio::test]
    async fn a_passed_deadline_fails_the_object() {
        let data = gzip(&fixture("logs/edge-cases.log").repeat(200));
        let err = ingest_reader(
            Cursor::new(data),
            source("k"),
            &IngestConfig::default(),
            &MemorySink::new(),
            Deadline::after(Duration::ZERO),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::Deadline { .. }), "{err}");
    }
}
