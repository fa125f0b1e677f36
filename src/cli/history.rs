//! `albwatch simulate s3://BUCKET/PREFIX`: the log objects of a time range in the user's own
//! bucket, found without listing the whole bucket.
//!
//! ALB writes `PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/YYYY/MM/DD/` folders, and
//! names each file after the end of its 5-minute interval (`…_20250621T2245Z_…`). So the
//! listing walks the account and region folders with a delimiter (a few small calls), then
//! lists only the day folders of the range, and keeps the access logs whose time falls in it.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

use crate::ingest::keys::{KeyClass, KeyFilter, classify_key};
use crate::notify::investigate::LogLocation;

/// How much later than the range's end a file may be named: a file is named after the end of
/// its 5-minute interval.
pub const FILE_SPAN: Duration = Duration::minutes(5);
/// Longest time range `--since` accepts.
pub const MAX_SINCE_DAYS: i64 = 90;

/// Why the history could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// `--since`, `--from` or `--to` is malformed.
    #[error("{0}")]
    Range(String),
    /// An S3 call failed.
    #[error("listing s3://{bucket}/{prefix}: {message}")]
    List {
        /// The bucket.
        bucket: String,
        /// The prefix listed.
        prefix: String,
        /// The error chain.
        message: String,
    },
}

/// A time range, end inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
}

impl TimeRange {
    /// From `--since` (a duration back from `now`) or `--from`/`--to` (RFC 3339; `--to`
    /// defaults to `now`); `--since 24h` when none is given.
    pub fn of(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, HistoryError> {
        let time = |flag: &str, v: &str| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    HistoryError::Range(format!(
                        "--{flag} {v:?} is not an RFC 3339 time such as 2025-06-21T22:00:00Z"
                    ))
                })
        };
        let to = to.map(|v| time("to", v)).transpose()?.unwrap_or(now);
        let from = match (since, from) {
            (Some(_), Some(_)) => {
                return Err(HistoryError::Range(
                    "give --since or --from, not both".to_owned(),
                ));
            }
            (_, Some(v)) => time("from", v)?,
            (since, None) => to - parse_since(since.unwrap_or("24h"))?,
        };
        if from >= to {
            return Err(HistoryError::Range(format!(
                "the range is empty: {from} is not before {to}"
            )));
        }
        Ok(Self { from, to })
    }

    /// Whether a file named after `end` holds lines of the range.
    #[must_use]
    pub fn holds_file_ending(&self, end: DateTime<Utc>) -> bool {
        end > self.from && end <= self.to + FILE_SPAN
    }

    /// The day folders (`YYYY/MM/DD`) the range's files can be in.
    #[must_use]
    pub fn days(&self) -> Vec<String> {
        let first = (self.from - FILE_SPAN).date_naive();
        let last = (self.to + FILE_SPAN).date_naive();
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d: NaiveDate| d.format("%Y/%m/%d").to_string())
            .collect()
    }
}

/// `24h`, `90m`, `7d`, `3600s` as a duration (at most [`MAX_SINCE_DAYS`]).
pub fn parse_since(s: &str) -> Result<Duration, HistoryError> {
    let bad = || {
        HistoryError::Range(format!(
            "--since {s:?}: give a number and a unit: 90m, 24h, 7d (at most {MAX_SINCE_DAYS}d)"
        ))
    };
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if d <= Duration::zero() || d > Duration::days(MAX_SINCE_DAYS) {
        return Err(bad());
    }
    Ok(d)
}

/// The end time in an ALB log file name (`…_20250621T2245Z_…`), if the key has one.
#[must_use]
pub fn file_end_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        (part.len() == 14 && part.ends_with('Z'))
            .then(|| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ").ok())
            .flatten()
            .map(|t| t.and_utc())
    })
}

/// One log object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The end of its interval, from its name.
    pub end: DateTime<Utc>,
}

/// The access-log objects under `location` holding lines of `range`, in time order.
pub async fn list(
    s3: &aws_sdk_s3::Client,
    location: &LogLocation,
    range: &TimeRange,
) -> Result<Vec<Listed>, HistoryError> {
    let bucket = &location.bucket;
    let (base, rest) = split_at_aws_logs(&location.prefix);
    let mut folders = Vec::new();
    if rest.len() >= 4 {
        // Already down to a year, month or day: list that.
        folders.push(format!("{}/", location.prefix));
    } else {
        let accounts = match rest.first() {
            Some(a) => vec![(*a).to_owned()],
            None => sub_folders(s3, bucket, &base).await?,
        };
        for account in accounts {
            let elb = format!("{base}{account}/elasticloadbalancing/");
            let regions = match rest.get(2) {
                Some(r) => vec![(*r).to_owned()],
                None => sub_folders(s3, bucket, &elb).await?,
            };
            for region in regions {
                for day in range.days() {
                    folders.push(format!("{elb}{region}/{day}/"));
                }
            }
        }
    }
    let mut out = Vec::new();
    for folder in folders {
        for (key, size) in keys(s3, bucket, &folder).await? {
            let Some(end) = file_end_time(&key) else {
                continue;
            };
            if range.holds_file_ending(end)
                && classify_key(&key, &KeyFilter::default()) == KeyClass::AccessLog
            {
                out.push(Listed { key, size, end });
            }
        }
    }
    out.sort_by(|a, b| (a.end, &a.key).cmp(&(b.end, &b.key)));
    Ok(out)
}

/// The prefix up to and including `AWSLogs/`, and the path segments after it.
fn split_at_aws_logs(prefix: &str) -> (String, Vec<&str>) {
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().position(|s| *s == "AWSLogs") {
        Some(i) => (
            format!("{}/", segments[..=i].join("/")),
            segments[i + 1..].to_vec(),
        ),
        None if segments.is_empty() => ("AWSLogs/".to_owned(), Vec::new()),
        None => (format!("{}/AWSLogs/", segments.join("/")), Vec::new()),
    }
}

/// The names of the folders directly under `prefix`.
async fn sub_folders(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, HistoryError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .delimiter("/")
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_error(bucket, prefix, &e))?;
        for p in page.common_prefixes() {
            if let Some(name) = p
                .prefix()
                .and_then(|p| p.strip_prefix(prefix))
                .map(|p| p.trim_end_matches('/'))
                .filter(|p| !p.is_empty())
            {
                out.push(name.to_owned());
            }
        }
    }
    Ok(out)
}

/// Every key (and size) under `prefix`.
async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, u64)>, HistoryError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_error(bucket, prefix, &e))?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                out.push((key.to_owned(), size));
            }
        }
    }
    Ok(out)
}

fn list_error(bucket: &str, prefix: &str, e: &(dyn std::error::Error + 'static)) -> HistoryError {
    HistoryError::List {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        message: crate::text::error_chain(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn ranges_from_since_or_from_to() {
        let now = t("2025-06-22T12:00:00Z");
        let r = TimeRange::of(None, None, None, now).expect("default");
        assert_eq!((r.from, r.to), (t("2025-06-21T12:00:00Z"), now));
        let r = TimeRange::of(Some("90m"), None, None, now).expect("since");
        assert_eq!(r.from, t("2025-06-22T10:30:00Z"));
        let r = TimeRange::of(
            None,
            Some("2025-06-21T22:00:00Z"),
            Some("2025-06-21T23:30:00+01:00"),
            now,
        )
        .expect("from/to");
        assert_eq!(
            (r.from, r.to),
            (t("2025-06-21T22:00:00Z"), t("2025-06-21T22:30:00Z"))
        );
        for bad in [
            TimeRange::of(Some("24"), None, None, now),
            TimeRange::of(Some("1y"), None, None, now),
            TimeRange::of(Some("91d"), None, None, now),
            TimeRange::of(Some("-5m"), None, None, now),
            TimeRange::of(Some("1h"), Some("2025-06-21T22:00:00Z"), None, now),
            TimeRange::of(None, Some("yesterday"), None, now),
            TimeRange::of(None, Some("2025-06-23T00:00:00Z"), None, now),
        ] {
            assert!(bad.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_times_days_and_membership() {
        let key = "p/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/\
                   123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.5_2kt2pr0g.log.gz";
        assert_eq!(file_end_time(key), Some(t("2025-06-21T22:45:00Z")));
        assert_eq!(file_end_time("p/notes.txt"), None);
        let r = TimeRange {
            from: t("2025-06-21T22:40:00Z"),
            to: t("2025-06-22T00:02:00Z"),
        };
        assert!(
            !r.holds_file_ending(t("2025-06-21T22:40:00Z")),
            "ends at the start"
        );
        assert!(r.holds_file_ending(t("2025-06-21T22:45:00Z")));
        assert!(
            r.holds_file_ending(t("2025-06-22T00:05:00Z")),
            "holds the range's end"
        );
        assert!(!r.holds_file_ending(t("2025-06-22T00:10:00Z")));
        assert_eq!(r.days(), ["2025/06/21", "2025/06/22"]);
    }

    #[test]
    fn the_prefix_is_split_where_alb_starts_its_layout() {
        assert_eq!(split_at_aws_logs(""), ("AWSLogs/".to_owned(), vec![]));
        assert_eq!(
            split_at_aws_logs("prod/alb"),
            ("prod/alb/AWSLogs/".to_owned(), vec![])
        );
        assert_eq!(
            split_at_aws_logs("prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1"),
            (
                "prod/AWSLogs/".to_owned(),
                vec!["123456789012", "elasticloadbalancing", "us-east-1"]
            )
        );
    }
}
