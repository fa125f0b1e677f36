//! albwatch: Application Load Balancer access logs → timely, deduplicated 5xx alerts.
//!
//! # Layout
//! - [`entry`], [`parser`], [`escape`]: the zero-copy ALB access-log line parser;
//!   [`problems`]: counting malformed lines and field warnings, showing the first few.
//! - [`decode`]: any reader (gzip with all members, or plain text) → numbered lines, on a
//!   decoder thread so decompression and parsing overlap.
//! - [`json`]: the NDJSON form of an entry printed by `albwatch parse`.
//! - [`record`]: the versioned Kinesis record format shared by the ingest and the alerter
//!   (`record/stream.rs`: the alerter's fast reader, straight from simd-json's tape).
//! - [`ingest`]: S3 object → chunked, partitioned, loss-free Kinesis records (the `ingest` Lambda).
//! - [`alert`]: Kinesis records → per-target windows → deduplicated Slack summaries (the `alerter` Lambda).
//! - [`cli`]: the `albwatch` subcommands; `src/bin/*.rs` are thin adapters over these modules.

pub mod alb;
pub mod alert;
pub mod cli;
pub mod cwlogs;
pub mod decode;
pub mod ingest;
pub mod kinesis;
pub mod notify;
pub mod record;
pub mod retry;
pub mod telemetry;
pub mod text;
