//! Where to look next: the S3 folder holding the incident's log objects, and an Athena query
//! that selects exactly the failing lines.
//!
//! Built only from values of a checked shape (a load balancer id, a target `ip:port`, a
//! target group ARN parsed by [`TargetGroupArn`]), so nothing from a log line can break out of
//! the link or the SQL string literals.

use std::net::SocketAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::console::{TargetGroupArn, console_base, is_load_balancer_id};
use super::notification::{Notification, Source, TargetKind};

/// Environment variable naming where the load balancers write their logs:
/// `s3://BUCKET/PREFIX` (the prefix as given to the ALB, may be empty).
pub const LOG_LOCATION_ENV: &str = "ALBWATCH_LOG_LOCATION";
/// Environment variable naming the Athena table of the access logs.
pub const ATHENA_TABLE_ENV: &str = "ALBWATCH_ATHENA_TABLE";
/// The table name of AWS's "Querying Application Load Balancer logs" guide (its DDL with
/// partition projection has the `day` column the query uses).
pub const DEFAULT_ATHENA_TABLE: &str = "alb_access_logs";

/// Where access logs are written: a bucket and the prefix given to the load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLocation {
    /// The bucket.
    pub bucket: String,
    /// The prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl LogLocation {
    /// Parses `s3://BUCKET[/PREFIX]`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?} does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!("{bucket:?} is not an S3 bucket name"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.chars().any(char::is_control) {
            return Err(format!("prefix {prefix:?} has control characters"));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The S3 console folder of the day `day` of the load balancers of `arn`'s account and
    /// region.
    #[must_use]
    pub fn day_url(&self, arn: &TargetGroupArn<'_>, day: &DateTime<Utc>) -> String {
        // Any other character of the prefix is percent-encoded; `/` stays.
        let prefix: String = self
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| format!("{}/", utf8_percent_encode(s, NON_ALPHANUMERIC)))
            .collect();
        format!(
            "{}/s3/buckets/{}?region={}&prefix={prefix}AWSLogs/{}/elasticloadbalancing/{}/{}/",
            console_base(arn.partition, arn.region),
            self.bucket,
            arn.region,
            arn.account,
            arn.region,
            day.format("%Y/%m/%d")
        )
    }
}

/// An Athena query over `table` (AWS's documented DDL) selecting the notification's 5xx lines
/// from the incident's start (or the window's) to the window's end; `None` for what is not an
/// ALB notification or has a value of an unexpected shape.
#[must_use]
pub fn athena_query(n: &Notification, table: &str) -> Option<String> {
    let table_ok = !table.is_empty()
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if n.source != Source::Alb || !table_ok || !is_load_balancer_id(&n.load_balancer) {
        return None;
    }
    let key = match n.target_kind {
        TargetKind::Target => {
            let addr: SocketAddr = n.target.parse().ok()?;
            format!(
                " AND target_ip = '{}' AND target_port = {}",
                addr.ip(),
                addr.port()
            )
        }
        TargetKind::TargetGroup => {
            let arn = TargetGroupArn::parse(&n.target)?;
            format!(" AND target_group_arn = '{}'", arn.arn)
        }
        TargetKind::LoadBalancer => String::new(),
    };
    let from = n
        .incident_start
        .unwrap_or(n.window_start)
        .min(n.window_start);
    let to = n.window_end;
    let iso = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let day = |t: &DateTime<Utc>| t.format("%Y/%m/%d").to_string();
    Some(format!(
        "SELECT time, client_ip, request_verb, request_url, elb_status_code, target_status_code, \
         error_reason, trace_id FROM {table} WHERE day BETWEEN '{}' AND '{}' AND elb = '{}'{key} \
         AND elb_status_code >= 500 AND from_iso8601_timestamp(time) BETWEEN \
         from_iso8601_timestamp('{}') AND from_iso8601_timestamp('{}') ORDER BY time",
        day(&from),
        day(&to),
        n.load_balancer,
        iso(&from),
        iso(&to)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::tests::sample_notification;

    const ARN: &str = "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/shop-web/943f017f100becff";

    #[test]
    fn the_day_folder_follows_the_partition_prefix_and_date() {
        let arn = TargetGroupArn::parse(ARN).expect("arn");
        let day = "2025-06-21T23:59:00Z".parse().expect("time");
        let loc = LogLocation::parse("s3://shop-logs/prod/alb/").expect("location");
        assert_eq!(
            loc.day_url(&arn, &day),
            "https://cn-north-1.console.amazonaws.cn/s3/buckets/shop-logs?region=cn-north-1&prefix=prod/alb/AWSLogs/123456789012/elasticloadbalancing/cn-north-1/2025/06/21/"
        );
        let bare = LogLocation::parse("s3://shop-logs").expect("location");
        assert!(
            bare.day_url(&arn, &day)
                .contains("&prefix=AWSLogs/123456789012/")
        );
        let odd = LogLocation::parse("s3://shop-logs/a b/<x>=").expect("any printable prefix");
        assert!(
            odd.day_url(&arn, &day)
                .contains("&prefix=a%20b/%3Cx%3E%3D/AWSLogs/")
        );
        for bad in [
            "shop-logs/prod",
            "s3://Shop_Logs/x",
            "s3://ab",
            "s3://logs/a\nb",
        ] {
            assert!(LogLocation::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_query_selects_exactly_the_key_and_the_incident() {
        let n = sample_notification("app/shop-prod/50dc6c495c0c9188", "10.0.1.11:8080");
        let q = athena_query(&n, DEFAULT_ATHENA_TABLE).expect("query");
        assert!(q.contains("FROM alb_access_logs WHERE day BETWEEN"), "{q}");
        assert!(q.contains("elb = 'app/shop-prod/50dc6c495c0c9188'"), "{q}");
        assert!(
            q.contains("target_ip = '10.0.1.11' AND target_port = 8080"),
            "{q}"
        );
        assert!(q.contains("elb_status_code >= 500"), "{q}");
        let tg = Notification {
            target: ARN.to_owned(),
            target_kind: TargetKind::TargetGroup,
            ..n.clone()
        };
        assert!(
            athena_query(&tg, "logs.alb")
                .expect("query")
                .contains(&format!("target_group_arn = '{ARN}'"))
        );
        // Anything of an unexpected shape gets no query rather than a broken one.
        for bad in [
            Notification {
                target: "10.0.1.11:8080' OR 1=1 --".to_owned(),
                ..n.clone()
            },
            Notification {
                load_balancer: "app/x'/50dc6c495c0c9188".to_owned(),
                ..n.clone()
            },
            Notification {
                source: Source::CloudwatchLogs,
                ..n.clone()
            },
        ] {
            assert_eq!(athena_query(&bad, DEFAULT_ATHENA_TABLE), None);
        }
        assert_eq!(athena_query(&n, "t; DROP"), None);
    }
}
