//! The ALB access-log format: everything that knows what a line looks like.
//!
//! - [`field`]: the documented fields (names, positions, which are required) and the grammar of
//!   their values.
//! - [`escape`]: ALB's quoting and `\xHH` escapes.
//! - [`parse`]: one line → an [`AlbEntry`] (zero-copy, never panics, liberal in what it accepts).
//! - [`entry`]: the parsed entry and its typed accessors.
//! - [`json`]: an entry as NDJSON (`albwatch parse`, `all`-mode records).
//! - [`problems`]: per-file tallies of malformed lines and field warnings, for capped reports.
//! - [`synth`]: realistic synthetic lines (`albwatch gen`).
//! - [`time`]: ALB timestamps and tally minutes as microseconds since the epoch.
//!
//! Nothing here knows about S3, Kinesis or alerts.

pub mod entry;
pub mod escape;
pub mod field;
pub mod json;
pub mod parse;
pub mod problems;
pub mod synth;
pub mod time;

pub use entry::{AlbEntry, ExtraFields};
pub(crate) use field::is_absent;
pub use field::{
    FIELD_COUNT, Field, HostPort, MAX_RULE_PRIORITY, MIN_FIELD_COUNT, ParseErrorKind,
    ParseLineError, Request,
};
pub use parse::{is_blank, parse_line};
