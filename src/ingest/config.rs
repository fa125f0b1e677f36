//! Ingest settings (from the environment) and the AWS limits they must respect.

use std::time::Duration;

use crate::decode::DecodeOptions;
use crate::ingest::keys::{
    ALLOWED_ACCOUNTS_ENV, AllowedAccounts, KeyFilter, LogPrefix, PREFIX_ENV, SUFFIX_ENV,
};
use crate::record::ForwardMode;
use crate::retry::RetryPolicy;

/// Environment variable naming the Kinesis stream the ingest writes to.
pub const STREAM_NAME_ENV: &str = "ALBWATCH_STREAM_NAME";
/// Environment variable selecting what is forwarded: `errors` (default) or `all`.
pub const FORWARD_ENV: &str = "ALBWATCH_FORWARD";
/// Environment variable holding the largest record to write, in bytes (data + partition key).
pub const MAX_RECORD_BYTES_ENV: &str = "ALBWATCH_MAX_RECORD_BYTES";

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Kinesis: largest record (data blob + partition key) of a stream with default settings.
pub const KINESIS_MAX_RECORD_BYTES: usize = MIB;
/// Kinesis: largest record a stream can be configured to accept (`MaxRecordSizeInKiB`).
pub const KINESIS_MAX_RECORD_BYTES_LIMIT: usize = 10 * MIB;
/// Kinesis: most records in one `PutRecords` call.
pub const KINESIS_MAX_RECORDS_PER_PUT: usize = 500;
/// Kinesis: most bytes (data + partition keys) in one `PutRecords` call. A single record
/// larger than this (streams configured for records above 5 MiB) is sent on its own.
pub const KINESIS_MAX_BYTES_PER_PUT: usize = 5 * MIB;
/// Bytes per `PutRecords` call the ingest aims for, a fifth of [`KINESIS_MAX_BYTES_PER_PUT`]:
/// one shard accepts 1 MiB/s, so a larger call for one busy target's shard is mostly throttled
/// and resent, and the SDK holds some 2.4 more copies of a call's records while it runs (a
/// 5 MiB call costs ~17 MB of memory).
pub const PUT_BATCH_BYTES: usize = MIB;
/// Kinesis: longest partition key, in Unicode scalar values.
pub const KINESIS_MAX_PARTITION_KEY: usize = 256;

/// Smallest accepted `ALBWATCH_MAX_RECORD_BYTES` (the deployment template's minimum).
pub const MIN_RECORD_BYTES: usize = KIB;
/// Default memory budget of the chunker's per-key state for one object (buffered entries,
/// tallies, keys), whatever the number of partition keys: some 8,000 keys without buffered
/// entries, where an ALB allows 1,000 targets by default, and full 1 MiB records for a few
/// busy targets in `all` mode (a smaller budget cuts them early, and the alerter then reads
/// more, smaller records).
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 2 * MIB;
/// Default number of `PutRecords` calls in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT_PUTS: usize = 4;

/// How failed `PutRecords` calls and records are retried: from 100 ms doubling to 5 s, at most
/// 30 attempts (the Lambda's deadline usually ends retrying first).
pub const PUT_RETRY: RetryPolicy = RetryPolicy {
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
    max_attempts: 30,
};

/// Everything the ingest needs to know besides the object and the clients.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Kinesis stream name (`ALBWATCH_STREAM_NAME`); required by the Lambda, not by the CLI.
    pub stream_name: Option<String>,
    /// What is forwarded (`ALBWATCH_FORWARD`).
    pub forward: ForwardMode,
    /// Largest record, data + partition key (`ALBWATCH_MAX_RECORD_BYTES`).
    pub max_record_bytes: usize,
    /// Which object keys are processed (`ALBWATCH_KEY_PREFIX`, `ALBWATCH_KEY_SUFFIX`,
    /// `ALBWATCH_ALLOWED_ACCOUNTS`).
    pub key_filter: KeyFilter,
    /// Memory budget of the chunker's per-key state (buffered entries, tallies, keys); past
    /// it the least recently seen keys are cut into records and forgotten (see
    /// [`chunker`](crate::ingest::chunker)).
    pub max_buffered_bytes: usize,
    /// `PutRecords` calls in flight at once.
    pub max_in_flight_puts: usize,
    /// Retry of throttled or failed records.
    pub retry: RetryPolicy,
    /// Decoder memory budget.
    pub decode: DecodeOptions,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            stream_name: None,
            forward: ForwardMode::Errors,
            max_record_bytes: KINESIS_MAX_RECORD_BYTES,
            key_filter: KeyFilter::default(),
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_in_flight_puts: DEFAULT_MAX_IN_FLIGHT_PUTS,
            retry: PUT_RETRY,
            decode: DecodeOptions::default(),
        }
    }
}

/// A setting has a value the ingest cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {reason}")]
pub struct IngestConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl IngestConfig {
    /// Reads the settings from the process environment (see the `*_ENV` constants and
    /// [`KeyFilter`]); unset or empty variables keep their defaults.
    ///
    /// # Errors
    /// A forward mode other than `errors`/`all`, a record size that is not an integer in
    /// [`MIN_RECORD_BYTES`]`..=`[`KINESIS_MAX_RECORD_BYTES_LIMIT`], a log prefix
    /// [`LogPrefix::parse`] refuses, or an account list [`AllowedAccounts::parse`] refuses.
    pub fn from_env() -> Result<Self, IngestConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, IngestConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let invalid = |var: &'static str, value: &str, reason: String| IngestConfigError {
            var,
            value: value.to_owned(),
            reason,
        };
        let prefix = get(PREFIX_ENV).unwrap_or_default();
        let accounts = get(ALLOWED_ACCOUNTS_ENV).unwrap_or_default();
        let key_filter = KeyFilter {
            prefix: LogPrefix::parse(&prefix)
                .map_err(|e| invalid(PREFIX_ENV, &prefix, e.to_string()))?,
            suffix: get(SUFFIX_ENV),
            accounts: AllowedAccounts::parse(&accounts)
                .map_err(|e| invalid(ALLOWED_ACCOUNTS_ENV, &accounts, e.to_string()))?,
        };
        let mut config = Self {
            stream_name: get(STREAM_NAME_ENV),
            key_filter,
            ..Self::default()
        };
        if let Some(value) = get(FORWARD_ENV) {
            config.forward = parse_forward(&value)
                .ok_or_else(|| invalid(FORWARD_ENV, &value, "expected `errors` or `all`".into()))?;
        }
        if let Some(value) = get(MAX_RECORD_BYTES_ENV) {
            config.max_record_bytes = parse_record_bytes(&value)
                .map_err(|reason| invalid(MAX_RECORD_BYTES_ENV, &value, reason))?;
        }
        Ok(config)
    }

    /// The bytes of one `PutRecords` call for this record size: [`PUT_BATCH_BYTES`], or one
    /// record when records may be larger than that.
    #[must_use]
    pub fn max_bytes_per_put(&self) -> usize {
        PUT_BATCH_BYTES.max(self.max_record_bytes)
    }
}

/// `errors` or `all`, any case.
#[must_use]
pub fn parse_forward(value: &str) -> Option<ForwardMode> {
    if value.eq_ignore_ascii_case("errors") {
        Some(ForwardMode::Errors)
    } else if value.eq_ignore_ascii_case("all") {
        Some(ForwardMode::All)
    } else {
        None
    }
}

fn parse_record_bytes(value: &str) -> Result<usize, String> {
    let bytes: usize = value
        .parse()
        .map_err(|_| "not a whole number of bytes".to_owned())?;
    if (MIN_RECORD_BYTES..=KINESIS_MAX_RECORD_BYTES_LIMIT).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!(
            "must be between {MIN_RECORD_BYTES} and {KINESIS_MAX_RECORD_BYTES_LIMIT}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<IngestConfig, IngestConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        IngestConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_when_unset_or_empty() {
        let c = from(&[(FORWARD_ENV, " "), (MAX_RECORD_BYTES_ENV, "")]).unwrap();
        assert_eq!(c.forward, ForwardMode::Errors);
        assert_eq!(c.max_record_bytes, KINESIS_MAX_RECORD_BYTES);
        assert_eq!(c.stream_name, None);
        assert_eq!(c.key_filter, KeyFilter::default());
        assert_eq!(c.max_bytes_per_put(), PUT_BATCH_BYTES);
    }

    #[test]
    fn reads_every_variable() {
        let c = from(&[
            (STREAM_NAME_ENV, "alerts"),
            (FORWARD_ENV, "ALL"),
            (MAX_RECORD_BYTES_ENV, "10485760"),
            (PREFIX_ENV, "logs"),
            (SUFFIX_ENV, ".log.gz"),
            (ALLOWED_ACCOUNTS_ENV, "123456789012,210987654321"),
        ])
        .unwrap();
        assert_eq!(c.stream_name.as_deref(), Some("alerts"));
        assert_eq!(c.forward, ForwardMode::All);
        assert_eq!(c.max_record_bytes, 10 * MIB);
        assert_eq!(c.max_bytes_per_put(), 10 * MIB);
        assert_eq!(c.key_filter.prefix.as_str(), "logs/");
        assert_eq!(c.key_filter.suffix.as_deref(), Some(".log.gz"));
        let accounts = c.key_filter.accounts.expect("accounts");
        assert!(accounts.allows("210987654321") && !accounts.allows("999999999999"));
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        let e = from(&[(FORWARD_ENV, "everything")]).unwrap_err();
        assert_eq!(e.var, FORWARD_ENV);
        for bad in ["1023", "10485761", "1MB", "-5"] {
            let e = from(&[(MAX_RECORD_BYTES_ENV, bad)]).unwrap_err();
            assert_eq!(e.var, MAX_RECORD_BYTES_ENV, "{bad}");
            assert!(e.to_string().contains(MAX_RECORD_BYTES_ENV));
        }
        let e = from(&[(PREFIX_ENV, "prod/AWSLogs/")]).unwrap_err();
        assert_eq!(e.var, PREFIX_ENV);
        assert!(e.reason.contains("AWSLogs"), "{e}");
        let e = from(&[(ALLOWED_ACCOUNTS_ENV, "123456789012 210987654321")]).unwrap_err();
        assert_eq!(e.var, ALLOWED_ACCOUNTS_ENV);
        assert!(e.to_string().contains("12-digit"), "{e}");
    }
}
