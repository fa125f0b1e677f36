//! The alert rule and the window/announcement timings, read from `ALBWATCH_*` variables.
//!
//! Every duration is in **event time** (the ALB `time` of the log entries), never wall-clock time,
//! so a replay or a simulation of old logs gives the same notifications as the live run.

use crate::notify::investigate::{
    ATHENA_TABLE_ENV, DEFAULT_ATHENA_TABLE, LOG_LOCATION_ENV, LogLocation,
};
use crate::notify::runbook::{RUNBOOK_URL_ENV, RunbookTemplate};
use crate::text::clip_chars;

/// `ALBWATCH_WINDOW_SECONDS`: tumbling window length; a multiple of 60 (tallies are per minute).
pub const WINDOW_SECONDS_ENV: &str = "ALBWATCH_WINDOW_SECONDS";
/// `ALBWATCH_ALLOWED_LATENESS_SECONDS`: how far behind the watermark data is still accepted.
pub const ALLOWED_LATENESS_ENV: &str = "ALBWATCH_ALLOWED_LATENESS_SECONDS";
/// `ALBWATCH_MIN_5XX`: fewest 5xx responses in one window for the rule to fire.
pub const MIN_5XX_ENV: &str = "ALBWATCH_MIN_5XX";
/// `ALBWATCH_MIN_ERROR_RATE`: smallest `5xx / requests` in one window for the rule to fire.
pub const MIN_ERROR_RATE_ENV: &str = "ALBWATCH_MIN_ERROR_RATE";
/// `ALBWATCH_REPEAT_INTERVAL_SECONDS`: a still-firing key is announced again after this long.
pub const REPEAT_INTERVAL_ENV: &str = "ALBWATCH_REPEAT_INTERVAL_SECONDS";
/// `ALBWATCH_RESOLVE_AFTER`: final windows in a row below the rule before a key resolves.
pub const RESOLVE_AFTER_ENV: &str = "ALBWATCH_RESOLVE_AFTER";
/// `ALBWATCH_STALE_AFTER_SECONDS`: a firing key without any traffic for this long resolves.
pub const STALE_AFTER_ENV: &str = "ALBWATCH_STALE_AFTER_SECONDS";
/// `ALBWATCH_DEDUPE_CAPACITY`: how many record ids the in-memory store remembers.
pub const DEDUPE_CAPACITY_ENV: &str = "ALBWATCH_DEDUPE_CAPACITY";

/// Windows are whole multiples of this (the tallies in the records are per minute); also the
/// shortest window.
pub const WINDOW_STEP_SECONDS: u32 = 60;
/// Longest window accepted (one day).
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// Shortest allowed lateness accepted: one ALB log file spans 5 minutes and its records reach
/// the alerter in several batches, each of which moves the watermark; less lateness than that
/// would make a file's own entries late.
pub const MIN_LATENESS_SECONDS: u32 = 300;
/// Longest allowed lateness accepted (one day).
pub const MAX_LATENESS_SECONDS: u32 = 86_400;
/// Smallest `ALBWATCH_MIN_5XX` accepted: a rule that fires on no 5xx at all is not a rule.
pub const LOWEST_MIN_5XX: u64 = 1;
/// Largest `ALBWATCH_MIN_ERROR_RATE` accepted (the smallest is 0: count only).
pub const MAX_MIN_ERROR_RATE: f64 = 1.0;
/// Smallest `ALBWATCH_RESOLVE_AFTER` accepted.
pub const LOWEST_RESOLVE_AFTER: u32 = 1;
/// `ALBWATCH_STALE_AFTER_SECONDS` when unset, unless the window and lateness need more (see
/// [`default_stale_after_seconds`]).
pub const DEFAULT_STALE_AFTER_SECONDS: u64 = 3600;
/// Most record ids the duplicate filter may remember (about 50 MB).
pub const MAX_DEDUPE_CAPACITY: usize = 2_000_000;

/// `ALBWATCH_STALE_AFTER_SECONDS` when it is unset: [`DEFAULT_STALE_AFTER_SECONDS`] when that is
/// more than `window + allowed lateness` (as it must be), else one window more than that sum.
/// Always valid, so a longer window or lateness never needs a stale time too (the deployment
/// template leaves the variable unset unless `StaleAfterSeconds` is given), and every
/// combination that was valid with the fixed default keeps it.
#[must_use]
pub fn default_stale_after_seconds(window_seconds: u32, allowed_lateness_seconds: u32) -> u64 {
    let (window, lateness) = (
        u64::from(window_seconds),
        u64::from(allowed_lateness_seconds),
    );
    if DEFAULT_STALE_AFTER_SECONDS > window + lateness {
        DEFAULT_STALE_AFTER_SECONDS
    } else {
        window + lateness + window
    }
}

/// The rule and timings of the alerter. [`Default`] holds the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// Tumbling window length in seconds (default 60; a multiple of 60).
    pub window_seconds: u32,
    /// Data is accepted while its window's end plus this is after the watermark (default 600).
    pub allowed_lateness_seconds: u32,
    /// Fewest 5xx in one window to fire (default 10, at least 1).
    pub min_5xx: u64,
    /// Smallest error rate in one window to fire (default 0.05, in `[0, 1]`); not checked when
    /// the window's request count is unknown.
    pub min_error_rate: f64,
    /// A still-firing key is announced again after this many event-time seconds (default 3600).
    pub repeat_interval_seconds: u64,
    /// Final windows in a row, with traffic and below the rule, before a key resolves (default 5).
    pub resolve_after: u32,
    /// A firing key with no traffic at all for this many event-time seconds resolves (more
    /// than window + lateness; unset: [`default_stale_after_seconds`], 3600 for the default
    /// window and lateness).
    pub stale_after_seconds: u64,
    /// Record ids remembered by the in-memory store (default 100 000, about 2.5 MB).
    pub dedupe_capacity: usize,
    /// `ALBWATCH_RUNBOOK_URL`: a runbook link in every ALB notification (none by default).
    pub runbook_url: Option<RunbookTemplate>,
    /// `ALBWATCH_LOG_LOCATION`: where the logs are, for a link to the incident's S3 folder.
    pub log_location: Option<LogLocation>,
    /// `ALBWATCH_ATHENA_TABLE`: the table the notification's Athena query reads.
    pub athena_table: String,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            window_seconds: 60,
            allowed_lateness_seconds: 600,
            min_5xx: 10,
            min_error_rate: 0.05,
            repeat_interval_seconds: 3600,
            resolve_after: 5,
            stale_after_seconds: DEFAULT_STALE_AFTER_SECONDS,
            dedupe_capacity: 100_000,
            runbook_url: None,
            log_location: None,
            athena_table: DEFAULT_ATHENA_TABLE.to_owned(),
        }
    }
}

/// Why the alert configuration is invalid. Names the variable, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertConfigError {
    /// A variable is set but cannot be parsed.
    #[error("{var}={value:?} is not a valid {expected}")]
    Parse {
        /// The variable.
        var: &'static str,
        /// Its value (truncated).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A value is out of range or inconsistent with another one.
    #[error("{var}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl AlertConfig {
    /// Reads the `ALBWATCH_*` variables (unset or empty = default) and validates the result.
    pub fn from_env() -> Result<Self, AlertConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// [`AlertConfig::from_env`] with a custom variable lookup (tests, CLI flags).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AlertConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let d = Self::default();
        let window_seconds = parse(
            WINDOW_SECONDS_ENV,
            get(WINDOW_SECONDS_ENV),
            d.window_seconds,
        )?;
        let allowed_lateness_seconds = parse(
            ALLOWED_LATENESS_ENV,
            get(ALLOWED_LATENESS_ENV),
            d.allowed_lateness_seconds,
        )?;
        let config = Self {
            window_seconds,
            allowed_lateness_seconds,
            min_5xx: parse(MIN_5XX_ENV, get(MIN_5XX_ENV), d.min_5xx)?,
            min_error_rate: parse(
                MIN_ERROR_RATE_ENV,
                get(MIN_ERROR_RATE_ENV),
                d.min_error_rate,
            )?,
            repeat_interval_seconds: parse(
                REPEAT_INTERVAL_ENV,
                get(REPEAT_INTERVAL_ENV),
                d.repeat_interval_seconds,
            )?,
            resolve_after: parse(RESOLVE_AFTER_ENV, get(RESOLVE_AFTER_ENV), d.resolve_after)?,
            stale_after_seconds: parse(
                STALE_AFTER_ENV,
                get(STALE_AFTER_ENV),
                default_stale_after_seconds(window_seconds, allowed_lateness_seconds),
            )?,
            dedupe_capacity: parse(
                DEDUPE_CAPACITY_ENV,
                get(DEDUPE_CAPACITY_ENV),
                d.dedupe_capacity,
            )?,
            runbook_url: get(RUNBOOK_URL_ENV)
                .map(|t| {
                    RunbookTemplate::parse(&t).map_err(|reason| AlertConfigError::Invalid {
                        var: RUNBOOK_URL_ENV,
                        reason,
                    })
                })
                .transpose()?,
            // Only a link: a location it cannot use costs the link, never the alerts.
            log_location: get(LOG_LOCATION_ENV).and_then(|l| {
                LogLocation::parse(&l)
                    .inspect_err(|reason| {
                        tracing::warn!(var = LOG_LOCATION_ENV, reason = %reason, "no S3 links in notifications");
                    })
                    .ok()
            }),
            athena_table: get(ATHENA_TABLE_ENV).unwrap_or(d.athena_table),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and consistency; [`AlertConfig::from_env`] calls it, and so does
    /// [`super::engine::Engine::new`].
    pub fn validate(&self) -> Result<(), AlertConfigError> {
        let invalid = |var, reason: String| Err(AlertConfigError::Invalid { var, reason });
        if self.window_seconds == 0
            || !self.window_seconds.is_multiple_of(WINDOW_STEP_SECONDS)
            || self.window_seconds > MAX_WINDOW_SECONDS
        {
            return invalid(
                WINDOW_SECONDS_ENV,
                format!(
                    "{} must be a positive multiple of {WINDOW_STEP_SECONDS} (request tallies are per minute), at most {MAX_WINDOW_SECONDS}",
                    self.window_seconds
                ),
            );
        }
        if !(MIN_LATENESS_SECONDS..=MAX_LATENESS_SECONDS).contains(&self.allowed_lateness_seconds) {
            return invalid(
                ALLOWED_LATENESS_ENV,
                format!(
                    "{} is not within {MIN_LATENESS_SECONDS}..={MAX_LATENESS_SECONDS} (an ALB log \
                     file spans 5 minutes; less would make its own entries late)",
                    self.allowed_lateness_seconds
                ),
            );
        }
        if self.min_5xx < LOWEST_MIN_5XX {
            return invalid(MIN_5XX_ENV, format!("must be at least {LOWEST_MIN_5XX}"));
        }
        if !(0.0..=MAX_MIN_ERROR_RATE).contains(&self.min_error_rate) {
            return invalid(
                MIN_ERROR_RATE_ENV,
                format!(
                    "{} is not within [0, {MAX_MIN_ERROR_RATE}]",
                    self.min_error_rate
                ),
            );
        }
        if self.resolve_after < LOWEST_RESOLVE_AFTER {
            return invalid(
                RESOLVE_AFTER_ENV,
                format!("must be at least {LOWEST_RESOLVE_AFTER}"),
            );
        }
        let min_stale = u64::from(self.window_seconds) + u64::from(self.allowed_lateness_seconds);
        if self.stale_after_seconds <= min_stale {
            return invalid(
                STALE_AFTER_ENV,
                format!(
                    "{} must be more than window + allowed lateness ({min_stale})",
                    self.stale_after_seconds
                ),
            );
        }
        if self.dedupe_capacity == 0 || self.dedupe_capacity > MAX_DEDUPE_CAPACITY {
            return invalid(
                DEDUPE_CAPACITY_ENV,
                format!(
                    "{} is not within 1..={MAX_DEDUPE_CAPACITY}",
                    self.dedupe_capacity
                ),
            );
        }
        Ok(())
    }
}

/// Parses one variable, or returns the default when it is unset.
fn parse<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, AlertConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    value.trim().parse().map_err(|_| AlertConfigError::Parse {
        var,
        value: clip_chars(&value, 40).to_owned(),
        expected: std::any::type_name::<T>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<AlertConfig, AlertConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AlertConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_unset_or_empty() {
        assert_eq!(from(&[]).unwrap(), AlertConfig::default());
        assert_eq!(
            from(&[(MIN_5XX_ENV, " "), (WINDOW_SECONDS_ENV, "")]).unwrap(),
            AlertConfig::default()
        );
        AlertConfig::default().validate().unwrap();
    }

    #[test]
    fn a_runbook_template_is_validated_at_start() {
        let c = from(&[(RUNBOOK_URL_ENV, "https://wiki/x?t={target}")]).expect("valid");
        assert!(c.runbook_url.is_some());
        let e = from(&[(RUNBOOK_URL_ENV, "wiki/x")]).expect_err("not a URL");
        assert!(e.to_string().contains(RUNBOOK_URL_ENV), "{e}");
    }

    #[test]
    fn reads_every_variable() {
        let c = from(&[
            (WINDOW_SECONDS_ENV, "300"),
            (ALLOWED_LATENESS_ENV, "420"),
            (MIN_5XX_ENV, "3"),
            (MIN_ERROR_RATE_ENV, "0.5"),
            (REPEAT_INTERVAL_ENV, "60"),
            (RESOLVE_AFTER_ENV, "2"),
            (STALE_AFTER_ENV, "7200"),
            (DEDUPE_CAPACITY_ENV, "10"),
        ])
        .unwrap();
        assert_eq!(c.window_seconds, 300);
        assert_eq!(c.allowed_lateness_seconds, 420);
        assert_eq!(c.min_5xx, 3);
        assert!((c.min_error_rate - 0.5).abs() < f64::EPSILON);
        assert_eq!(c.repeat_interval_seconds, 60);
        assert_eq!(c.resolve_after, 2);
        assert_eq!(c.stale_after_seconds, 7200);
        assert_eq!(c.dedupe_capacity, 10);
    }

    #[test]
    fn an_unset_stale_time_follows_a_long_window_and_lateness() {
        let c = from(&[(WINDOW_SECONDS_ENV, "3600")]).expect("no stale time needed");
        assert_eq!(c.stale_after_seconds, 3600 + 600 + 3600);
        let c = from(&[(WINDOW_SECONDS_ENV, "300"), (ALLOWED_LATENESS_ENV, "86400")]).unwrap();
        assert_eq!(c.stale_after_seconds, 300 + 86_400 + 300);
        for (window, lateness) in [("120", "900"), ("1800", "600"), ("60", "3480")] {
            let c = from(&[
                (WINDOW_SECONDS_ENV, window),
                (ALLOWED_LATENESS_ENV, lateness),
            ])
            .unwrap();
            assert_eq!(
                c.stale_after_seconds, DEFAULT_STALE_AFTER_SECONDS,
                "{window} {lateness}"
            );
        }
        let c = from(&[(WINDOW_SECONDS_ENV, "60"), (ALLOWED_LATENESS_ENV, "3540")]).unwrap();
        assert_eq!(c.stale_after_seconds, 60 + 3540 + 60);
        // An explicit value is still checked.
        let e = from(&[(WINDOW_SECONDS_ENV, "3600"), (STALE_AFTER_ENV, "3600")]).unwrap_err();
        assert!(e.to_string().contains("4200"), "{e}");
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        for (var, value) in [
            (WINDOW_SECONDS_ENV, "90"),
            (WINDOW_SECONDS_ENV, "0"),
            (WINDOW_SECONDS_ENV, "-60"),
            (WINDOW_SECONDS_ENV, "abc"),
            (MIN_5XX_ENV, "0"),
            (MIN_ERROR_RATE_ENV, "1.5"),
            (MIN_ERROR_RATE_ENV, "NaN"),
            (RESOLVE_AFTER_ENV, "0"),
            (STALE_AFTER_ENV, "600"),
            (DEDUPE_CAPACITY_ENV, "0"),
            (ALLOWED_LATENESS_ENV, "999999"),
        ] {
            let err = from(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={value}: {err}");
        }
    }
}
