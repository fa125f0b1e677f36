//! albwatch: Application Load Balancer access logs → timely, deduplicated 5xx alerts.
//!
//! # Layout
//!
//! In the order the data flows (`ARCHITECTURE.md` has the invariants and the boundaries):
//!
//! - [`alb`]: the access-log format: fields and their grammar, escapes, the zero-copy line
//!   parser, the entry, its JSON form, ALB times, malformed-line reporting.
//! - [`decode`]: any reader (gzip with all its members, or plain text) → numbered lines, on a
//!   decoder thread so decompression and parsing overlap.
//! - [`record`]: the versioned Kinesis record format shared by the ingest (writer) and the
//!   alerter (reader, with its fast paths).
//! - [`ingest`]: S3 event → objects → chunked, partitioned records → `PutRecords` (the `ingest`
//!   Lambda).
//! - [`kinesis`]: the bus: one classification of failed calls, and reading a stream as Lambda's
//!   event source mapping does (`albwatch consume`, tests).
//! - [`cwlogs`]: CloudWatch Logs subscription payloads and the patterns that pick log events.
//! - [`alert`]: records → per-target windows in a state store (memory or DynamoDB) → the
//!   alert rule and each key's ledger → claimed notifications (the `alerter` Lambda); log
//!   silence; silences set from Slack (the `interact` Lambda); CloudWatch Logs alerts.
//! - [`notify`]: the notification model, its Slack, terminal and SNS renderings, and delivery
//!   (webhook, bot, SNS; Slack's request signatures).
//! - [`retry`], [`clock`], [`text`], [`telemetry`]: one backoff policy and deadline; the wall
//!   clock; cutting text; tracing.
//! - [`doctor`]: `albwatch doctor`'s checks of a deployment, load balancer to Slack secret.
//! - [`cli`]: the `albwatch` subcommands (arguments and output). `src/bin/*.rs` are thin
//!   adapters: tracing, clients built once, `run(service_fn(...))`.

pub mod alb;
pub mod alert;
pub mod cli;
pub mod clock;
pub mod cwlogs;
pub mod decode;
pub mod doctor;
pub mod ingest;
pub mod kinesis;
pub mod notify;
pub mod record;
pub mod retry;
pub mod telemetry;
pub mod text;
