//! The ingest: S3 log object → chunked, partitioned Kinesis records.

pub mod keys;
pub mod trigger;
