//! Checks 2–4, on the log bucket: its policy lets log delivery write, new objects reach the
//! ingest (an S3 notification or EventBridge), and the load balancer's objects are recent.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{FilterRuleName, NotificationConfigurationFilter};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::Check;
use super::location::LogLocation;
use super::policy::{self, Grantee, Verdict};
use crate::kinesis::errors::{error_code, error_text};

/// Newer than this, the load balancer's newest log object counts as recent. An ALB writes
/// one object per node every 5 minutes while it serves requests.
pub const RECENT: Duration = Duration::hours(1);
/// The suffix of every ALB access-log object.
pub const LOG_SUFFIX: &str = ".log.gz";
/// The S3 event types a `PutObject` of a log object raises that a notification may name.
pub const CREATED_EVENTS: &[&str] = &["s3:ObjectCreated:*", "s3:ObjectCreated:Put"];

/// S3's error code for a bucket that does not exist.
const NO_SUCH_BUCKET: &str = "NoSuchBucket";

/// How to send a bucket's events to EventBridge without losing its other notifications.
const EVENTBRIDGE_FIX: &str = "deploy the stack with a bucket of its own (it sets the \
     notification), or turn on EventBridge for this bucket by adding \
     \"EventBridgeConfiguration\": {} to its current notification configuration \
     (aws s3api get-bucket-notification-configuration, then put-bucket-notification-configuration \
     with both: put replaces the whole configuration)";

/// Check 2's line, and whether the bucket exists (when it does not, that line says so and
/// the other bucket checks have nothing to add).
#[derive(Debug)]
pub struct PolicyFound {
    /// The check's line.
    pub check: Check,
    /// S3 did not answer `NoSuchBucket`.
    pub bucket_exists: bool,
}

/// Check 2: the bucket policy lets log delivery write under `PREFIX/AWSLogs/ACCOUNT/`.
pub async fn check_policy(s3: &aws_sdk_s3::Client, location: &LogLocation) -> PolicyFound {
    let check = match s3.get_bucket_policy().bucket(&location.bucket).send().await {
        Ok(out) => evaluate_policy(out.policy().unwrap_or_default(), location),
        Err(e) if error_code(&e) == "NoSuchBucketPolicy" => Check::fail(
            format!(
                "bucket {} has no bucket policy, so log delivery cannot write to it",
                location.bucket
            ),
            policy::grant_fix(location),
        ),
        Err(e) => {
            return PolicyFound {
                check: bucket_error(location, "read the policy of", &e),
                bucket_exists: error_code(&e) != NO_SUCH_BUCKET,
            };
        }
    };
    PolicyFound {
        check,
        bucket_exists: true,
    }
}

/// Check 2's line, from the policy JSON.
#[must_use]
pub fn evaluate_policy(policy: &str, location: &LogLocation) -> Check {
    let folder = format!(
        "s3://{}/{}{}/",
        location.bucket,
        location.awslogs_prefix(),
        location.account
    );
    match policy::evaluate(policy, location) {
        Ok(Verdict::Allowed { grantee }) => {
            let who = match grantee {
                Grantee::Service => format!("log delivery ({})", policy::LOG_DELIVERY_SERVICE),
                Grantee::ElbAccount(account) => {
                    format!("the {} ELB account ({account})", location.region)
                }
                Grantee::Anyone => "anyone (Principal \"*\": consider narrowing it)".to_owned(),
            };
            Check::pass(format!("bucket policy lets {who} write under {folder}"))
        }
        Ok(Verdict::Denied { statement }) => Check::fail(
            format!("bucket policy statement {statement} denies log delivery under {folder}"),
            "remove that Deny statement or exclude the log delivery principal from it",
        ),
        Ok(Verdict::NotAllowed { hint }) => Check::fail(
            format!(
                "bucket policy does not let log delivery write under {folder}{}",
                hint.map(|h| format!(" ({h})")).unwrap_or_default()
            ),
            policy::grant_fix(location),
        ),
        Err(e) => Check::fail(
            format!("bucket {}: {e}", location.bucket),
            policy::grant_fix(location),
        ),
    }
}

/// One notification of the bucket: where it goes, on which events, for which keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `Lambda function`, `SQS queue` or `SNS topic`.
    pub kind: &'static str,
    /// Its ARN.
    pub arn: String,
    /// The event types, as S3 names them (`s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// The key prefix filter (empty for none).
    pub prefix: String,
    /// The key suffix filter (empty for none).
    pub suffix: String,
}

impl Target {
    fn new(
        kind: &'static str,
        arn: &str,
        events: &[aws_sdk_s3::types::Event],
        filter: Option<&NotificationConfigurationFilter>,
    ) -> Self {
        let mut target = Self {
            kind,
            arn: arn.to_owned(),
            events: events.iter().map(|e| e.as_str().to_owned()).collect(),
            ..Self::default()
        };
        let rules = filter
            .and_then(NotificationConfigurationFilter::key)
            .map(aws_sdk_s3::types::S3KeyFilter::filter_rules)
            .unwrap_or_default();
        for rule in rules {
            let value = rule.value().unwrap_or_default().to_owned();
            match rule.name() {
                Some(FilterRuleName::Prefix) => target.prefix = value,
                Some(FilterRuleName::Suffix) => target.suffix = value,
                _ => {}
            }
        }
        target
    }

    /// Whether it fires for every new log object of `location`.
    fn covers(&self, location: &LogLocation) -> bool {
        self.events
            .iter()
            .any(|e| CREATED_EVENTS.contains(&e.as_str()))
            && location.logs_folder().starts_with(&self.prefix)
            && LOG_SUFFIX.ends_with(&self.suffix)
    }
}

/// The bucket's notification configuration, as far as the ingest is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    /// Events also go to EventBridge (`EventBridgeConfiguration`).
    pub event_bridge: bool,
    /// Lambda, SQS and SNS notifications.
    pub targets: Vec<Target>,
}

/// Check 3: new log objects reach the ingest.
pub async fn check_notifications(s3: &aws_sdk_s3::Client, location: &LogLocation) -> Check {
    let out = match s3
        .get_bucket_notification_configuration()
        .bucket(&location.bucket)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => return bucket_error(location, "read the notification configuration of", &e),
    };
    let mut found = Notifications {
        event_bridge: out.event_bridge_configuration().is_some(),
        targets: Vec::new(),
    };
    for c in out.lambda_function_configurations() {
        let arn = c.lambda_function_arn();
        found
            .targets
            .push(Target::new("Lambda function", arn, c.events(), c.filter()));
    }
    for c in out.queue_configurations() {
        let arn = c.queue_arn();
        found
            .targets
            .push(Target::new("SQS queue", arn, c.events(), c.filter()));
    }
    for c in out.topic_configurations() {
        let arn = c.topic_arn();
        found
            .targets
            .push(Target::new("SNS topic", arn, c.events(), c.filter()));
    }
    evaluate_notifications(&found, location)
}

/// Check 3's line, from the notification configuration.
#[must_use]
pub fn evaluate_notifications(found: &Notifications, location: &LogLocation) -> Check {
    let bucket = &location.bucket;
    let keys = location.awslogs_prefix();
    if let Some(target) = found.targets.iter().find(|t| t.covers(location)) {
        return Check::pass(format!(
            "bucket {bucket} notifies {} {} of new objects under {keys}",
            target.kind, target.arn
        ));
    }
    if found.event_bridge {
        return Check::pass(format!(
            "bucket {bucket} sends its object events to EventBridge (the stack's \
             IngestObjectCreatedRule takes those under {keys})"
        ));
    }
    let others = match found.targets.as_slice() {
        [] => String::new(),
        [one] => format!(
            "; its one notification ({} on {}) is for prefix \"{}\", suffix \"{}\"",
            one.kind,
            one.events.join(" "),
            one.prefix,
            one.suffix
        ),
        many => format!("; none of its {} notifications covers them", many.len()),
    };
    Check::fail(
        format!(
            "bucket {bucket} notifies nothing of new objects under {keys} (s3:ObjectCreated, \
             {LOG_SUFFIX}) and does not send events to EventBridge{others}"
        ),
        EVENTBRIDGE_FIX,
    )
}

/// The newest log object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newest {
    /// Its key.
    pub key: String,
    /// When S3 received it.
    pub modified: DateTime<Utc>,
}

/// Check 4: the load balancer's newest log object (of today and yesterday, UTC) is recent.
pub async fn check_recent(
    s3: &aws_sdk_s3::Client,
    location: &LogLocation,
    now: DateTime<Utc>,
) -> Check {
    let today = now.date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let mut newest: Option<Newest> = None;
    for day in [yesterday, today] {
        match newest_of_day(s3, location, day).await {
            Ok(Some(found)) if newest.as_ref().is_none_or(|n| found.modified > n.modified) => {
                newest = Some(found);
            }
            Ok(_) => {}
            Err(e) => return bucket_error(location, "list the log objects in", &e),
        }
    }
    evaluate_recent(newest.as_ref(), location, yesterday, now)
}

/// The newest object under the load balancer's key prefix of `day`.
async fn newest_of_day(
    s3: &aws_sdk_s3::Client,
    location: &LogLocation,
    day: NaiveDate,
) -> Result<Option<Newest>, SdkError<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error>> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(&location.bucket)
        .prefix(location.day_prefix(day))
        .into_paginator()
        .send();
    let mut newest: Option<Newest> = None;
    while let Some(page) = pages.next().await {
        for object in page?.contents() {
            let (Some(key), Some(modified)) = (object.key(), object.last_modified()) else {
                continue;
            };
            let Some(modified) = DateTime::from_timestamp(modified.secs(), modified.subsec_nanos())
            else {
                continue;
            };
            if newest.as_ref().is_none_or(|n| modified > n.modified) {
                newest = Some(Newest {
                    key: key.to_owned(),
                    modified,
                });
            }
        }
    }
    Ok(newest)
}

/// Check 4's line, from the newest log object found since `since`.
#[must_use]
pub fn evaluate_recent(
    newest: Option<&Newest>,
    location: &LogLocation,
    since: NaiveDate,
    now: DateTime<Utc>,
) -> Check {
    const FIX: &str = "an ALB writes a log object per node every 5 minutes while it serves \
         requests: fix the checks above, send it traffic, and run doctor again in 5 minutes";
    let lb = &location.load_balancer;
    match newest {
        None => Check::fail(
            format!(
                "no log object of {lb} since {since} under s3://{}/{}",
                location.bucket,
                location.logs_folder()
            ),
            FIX,
        ),
        Some(n) => {
            let age = now.signed_duration_since(n.modified);
            let what = format!(
                "newest log object of {lb} is {} old (s3://{}/{})",
                format_age(age),
                location.bucket,
                n.key
            );
            if age <= RECENT {
                Check::pass(what)
            } else {
                Check::fail(what, FIX)
            }
        }
    }
}

/// A duration for people: `under a minute`, `12 min`, `3 h 5 min`, `2 days`.
#[must_use]
pub fn format_age(age: Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        0 => "under a minute".to_owned(),
        1..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// A bucket call that failed: the service's answer, and what usually fixes it.
fn bucket_error<E>(location: &LogLocation, action: &str, e: &SdkError<E>) -> Check
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let fix = if error_code(e) == NO_SUCH_BUCKET {
        format!(
            "create bucket {} (the stack makes one: its LogBucketName output), or point \
             access_logs.s3.bucket at the bucket that exists",
            location.bucket
        )
    } else {
        format!(
            "these credentials need s3 read access to bucket {}",
            location.bucket
        )
    };
    Check::fail(
        format!(
            "cannot {action} bucket {}: {}",
            location.bucket,
            error_text(e)
        ),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> LogLocation {
        LogLocation {
            partition: "aws".to_owned(),
            bucket: "logs".to_owned(),
            prefix: "prod".to_owned(),
            account: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
            load_balancer: "app/shop/50dc6c495c0c9188".to_owned(),
        }
    }

    fn queue(events: &[&str], prefix: &str, suffix: &str) -> Target {
        Target {
            kind: "SQS queue",
            arn: "arn:aws:sqs:us-east-1:123456789012:ingest".to_owned(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    fn notifications(event_bridge: bool, targets: Vec<Target>) -> Check {
        evaluate_notifications(
            &Notifications {
                event_bridge,
                targets,
            },
            &location(),
        )
    }

    #[test]
    fn a_covering_notification_or_eventbridge_passes() {
        for target in [
            queue(&["s3:ObjectCreated:*"], "prod/AWSLogs/", ".log.gz"),
            queue(&["s3:ObjectCreated:Put"], "", ""),
            queue(&["s3:ObjectRemoved:*", "s3:ObjectCreated:*"], "prod/", "gz"),
        ] {
            let check = notifications(false, vec![target.clone()]);
            assert!(check.ok, "{target:?}: {check:?}");
            assert!(check.what.contains("SQS queue arn:aws:sqs"), "{check:?}");
        }
        let check = notifications(true, vec![]);
        assert!(check.ok);
        assert!(check.what.contains("EventBridge"), "{check:?}");
    }

    #[test]
    fn no_covering_notification_fails_with_the_merge_advice() {
        let check = notifications(false, vec![]);
        assert!(!check.ok);
        assert!(
            check
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("EventBridgeConfiguration"))
        );
        for target in [
            queue(&["s3:ObjectRemoved:*"], "prod/AWSLogs/", ""),
            queue(&["s3:ObjectCreated:*"], "staging/AWSLogs/", ""),
            queue(&["s3:ObjectCreated:*"], "prod/AWSLogs/", ".json"),
            queue(&["s3:ObjectCreated:CompleteMultipartUpload"], "", ""),
        ] {
            let check = notifications(false, vec![target.clone()]);
            assert!(!check.ok, "{target:?}");
            assert!(check.what.contains("its one notification"), "{check:?}");
        }
    }

    #[test]
    fn recency() {
        let now = DateTime::parse_from_rfc3339("2025-06-21T23:00:00Z")
            .expect("time")
            .to_utc();
        let since = now.date_naive().pred_opt().expect("day");
        let newest = |minutes: i64| Newest {
            key: "prod/AWSLogs/x.log.gz".to_owned(),
            modified: now - Duration::minutes(minutes),
        };
        let check = evaluate_recent(Some(&newest(7)), &location(), since, now);
        assert!(check.ok, "{check:?}");
        assert!(
            check
                .what
                .contains("is 7 min old (s3://logs/prod/AWSLogs/x.log.gz)"),
            "{check:?}"
        );
        let check = evaluate_recent(Some(&newest(61)), &location(), since, now);
        assert!(!check.ok);
        assert!(check.what.contains("1 h 1 min old"), "{check:?}");
        let check = evaluate_recent(None, &location(), since, now);
        assert!(!check.ok);
        assert!(check.what.contains("since 2025-06-20 under s3://logs/prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"), "{check:?}");
    }

    #[test]
    fn ages() {
        assert_eq!(format_age(Duration::seconds(-5)), "under a minute");
        assert_eq!(format_age(Duration::seconds(59)), "under a minute");
        assert_eq!(format_age(Duration::minutes(59)), "59 min");
        assert_eq!(format_age(Duration::minutes(125)), "2 h 5 min");
        assert_eq!(format_age(Duration::days(3)), "3 days");
    }

    #[test]
    fn policy_lines() {
        let check = evaluate_policy("not json", &location());
        assert!(!check.ok);
        assert!(
            check.what.contains("not a JSON policy document"),
            "{check:?}"
        );
        let allow = r#"{"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/prod/AWSLogs/123456789012/*"}]}"#;
        let check = evaluate_policy(allow, &location());
        assert!(check.ok, "{check:?}");
        assert_eq!(
            check.what,
            "bucket policy lets log delivery (logdelivery.elasticloadbalancing.amazonaws.com) \
             write under s3://logs/prod/AWSLogs/123456789012/"
        );
    }
}
