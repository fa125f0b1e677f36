//! The ingest: S3 log object → chunked, partitioned Kinesis records.
//!
//! - [`trigger`], [`keys`]: the Lambda event → objects to read; which keys are access logs.
//! - [`handler`]: the Lambda's logic and failure policy, generic over [`ObjectSource`] and
//!   [`RecordSink`].
//! - [`pipeline`]: one object end to end ([`ingest_reader`], also used by the CLI).
//! - [`chunker`], [`partition`]: entries → per-partition-key records of the
//!   [`record`](crate::record) format.
//! - [`batch`], [`put`], [`sink`]: `PutRecords` batching, retries, Kinesis and in-memory sinks.
//! - [`source`]: S3 and in-memory objects; [`config`]: settings and AWS limits.

pub mod batch;
pub mod chunker;
pub mod config;
pub mod handler;
pub mod keys;
pub mod partition;
pub mod pipeline;
pub mod put;
pub mod sink;
pub mod source;
pub mod trigger;

pub use crate::retry::Deadline;
pub use config::IngestConfig;
pub use handler::{HandlerError, IngestHandler, InvocationReport, ObjectOutcome};
pub use pipeline::{IngestError, ObjectReport, ingest_reader};
pub use sink::{DiscardSink, KinesisSink, MemorySink, OutRecord, RecordSink};
pub use source::{MemorySource, ObjectSource, S3Source};
