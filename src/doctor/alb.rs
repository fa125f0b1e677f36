//! Check 1: the load balancer writes access logs (`access_logs.s3.enabled`), and where
//! (`access_logs.s3.bucket`, `access_logs.s3.prefix`).

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;

use super::Check;
use super::location::{LoadBalancerArn, LogLocation};
use crate::kinesis::errors::error_text;

/// The attribute turning access logs on.
pub const ENABLED_KEY: &str = "access_logs.s3.enabled";
/// The attribute naming the bucket.
pub const BUCKET_KEY: &str = "access_logs.s3.bucket";
/// The attribute naming the prefix.
pub const PREFIX_KEY: &str = "access_logs.s3.prefix";

/// A load balancer's access-log attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogs {
    /// `access_logs.s3.enabled` is `true`.
    pub enabled: bool,
    /// `access_logs.s3.bucket`, when set.
    pub bucket: Option<String>,
    /// `access_logs.s3.prefix` (empty for none).
    pub prefix: String,
}

impl AccessLogs {
    /// From `DescribeLoadBalancerAttributes`' key/value pairs (absent keys read as off/empty).
    pub fn from_attributes<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut logs = Self::default();
        for (key, value) in pairs {
            match key {
                ENABLED_KEY => logs.enabled = value.eq_ignore_ascii_case("true"),
                BUCKET_KEY => {
                    logs.bucket = Some(value.trim().to_owned()).filter(|b| !b.is_empty());
                }
                PREFIX_KEY => value.trim().trim_matches('/').clone_into(&mut logs.prefix),
                _ => {}
            }
        }
        logs
    }
}

/// What the load balancer check found: its line, and where the logs go (when known).
#[derive(Debug)]
pub struct Found {
    /// The check's line.
    pub check: Check,
    /// The log location for the bucket checks: the load balancer's bucket, else the one the
    /// stack watches (`--bucket`); `None` when neither is known or the load balancer is not.
    pub location: Option<LogLocation>,
}

/// Describes the load balancer `given` (ARN or name) and reads its access-log attributes.
pub async fn check(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    given: &str,
    expected_bucket: Option<&str>,
) -> Found {
    let (arn, kind) = match describe(elb, given).await {
        Ok(found) => found,
        Err(check) => {
            return Found {
                check,
                location: None,
            };
        }
    };
    let attributes = match elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&arn.arn)
        .send()
        .await
    {
        Ok(out) => AccessLogs::from_attributes(
            out.attributes()
                .iter()
                .filter_map(|a| Some((a.key()?, a.value().unwrap_or_default()))),
        ),
        Err(e) => {
            return Found {
                check: Check::fail(
                    format!(
                        "cannot read the attributes of load balancer {}: {}",
                        arn.name,
                        error_text(&e)
                    ),
                    "these credentials need elasticloadbalancing:DescribeLoadBalancerAttributes",
                ),
                location: None,
            };
        }
    };
    evaluate(&arn, kind.as_ref(), &attributes, expected_bucket)
}

/// The name to look `given` up by: `NAME` of `app/NAME/ID` (the form log lines and
/// notifications show), else `given` itself.
#[must_use]
pub fn lookup_name(given: &str) -> &str {
    match given.split('/').collect::<Vec<_>>().as_slice() {
        ["app", name, id] if !name.is_empty() && !id.is_empty() => name,
        _ => given,
    }
}

/// The load balancer's ARN and type, by ARN, name or `app/NAME/ID`.
async fn describe(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    given: &str,
) -> Result<(LoadBalancerArn, Option<LoadBalancerTypeEnum>), Check> {
    let request = elb.describe_load_balancers();
    let request = if given.starts_with("arn:") {
        request.load_balancer_arns(given)
    } else {
        request.names(lookup_name(given))
    };
    let out = request.send().await.map_err(|e| {
        Check::fail(
            format!("cannot find load balancer {given}: {}", error_text(&e)),
            "pass its ARN or name with --load-balancer, with credentials and a region \
             (AWS_REGION) of its account",
        )
    })?;
    let Some(lb) = out.load_balancers().first() else {
        return Err(Check::fail(
            format!("load balancer {given} not found"),
            "pass its ARN or name with --load-balancer, in its region (AWS_REGION)",
        ));
    };
    let arn = LoadBalancerArn::parse(lb.load_balancer_arn().unwrap_or_default()).map_err(|e| {
        Check::fail(
            format!("load balancer {given}: {e}"),
            "pass an Application Load Balancer",
        )
    })?;
    if lookup_name(given) != given && arn.name != given {
        return Err(Check::fail(
            format!(
                "load balancer {given} not found: {} is {}",
                lookup_name(given),
                arn.name
            ),
            "pass its ARN or name with --load-balancer",
        ));
    }
    Ok((arn, lb.r#type().cloned()))
}

/// The load balancer check's line and the log location, from what was read.
#[must_use]
pub fn evaluate(
    arn: &LoadBalancerArn,
    kind: Option<&LoadBalancerTypeEnum>,
    logs: &AccessLogs,
    expected_bucket: Option<&str>,
) -> Found {
    let bucket = logs.bucket.as_deref().or(expected_bucket);
    let location = bucket.map(|bucket| LogLocation {
        partition: arn.partition.clone(),
        bucket: bucket.to_owned(),
        prefix: logs.prefix.clone(),
        account: arn.account.clone(),
        region: arn.region.clone(),
        load_balancer: arn.name.clone(),
    });
    let name = &arn.name;
    let check = if let Some(kind) = kind.filter(|k| **k != LoadBalancerTypeEnum::Application) {
        Check::fail(
            format!(
                "load balancer {name} is of type {}, not an Application Load Balancer",
                kind.as_str()
            ),
            "albwatch reads ALB access logs: pass an Application Load Balancer",
        )
    } else if !logs.enabled || logs.bucket.is_none() {
        let target = location.as_ref().map_or_else(
            || {
                "Key=access_logs.s3.bucket,Value=BUCKET (the stack's LogBucketName output)"
                    .to_owned()
            },
            |l| format!("Key={BUCKET_KEY},Value={}", l.bucket),
        );
        Check::fail(
            format!("load balancer {name} does not write access logs ({ENABLED_KEY} is not true)"),
            format!(
                "aws elbv2 modify-load-balancer-attributes --load-balancer-arn {} --attributes \
                 Key={ENABLED_KEY},Value=true {target} Key={PREFIX_KEY},Value={}",
                arn.arn, logs.prefix
            ),
        )
    } else if let (Some(actual), Some(expected)) = (&logs.bucket, expected_bucket)
        && actual != expected
    {
        Check::fail(
            format!(
                "load balancer {name} writes its access logs to bucket {actual}, but --bucket \
                 is {expected}"
            ),
            format!(
                "set {BUCKET_KEY} to {expected}, or deploy the stack on {actual} \
                 (ExistingLogBucket={actual})"
            ),
        )
    } else {
        let url = location.as_ref().map(LogLocation::url).unwrap_or_default();
        Check::pass(format!(
            "load balancer {name} writes access logs to {url} ({ENABLED_KEY} = true)"
        ))
    };
    Found { check, location }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn() -> LoadBalancerArn {
        LoadBalancerArn::parse(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188",
        )
        .expect("valid")
    }

    fn logs(enabled: &str, bucket: &str, prefix: &str) -> AccessLogs {
        AccessLogs::from_attributes([
            (ENABLED_KEY, enabled),
            (BUCKET_KEY, bucket),
            (PREFIX_KEY, prefix),
            ("deletion_protection.enabled", "true"),
        ])
    }

    #[test]
    fn names_to_look_up() {
        assert_eq!(lookup_name("app/shop-prod/50dc6c495c0c9188"), "shop-prod");
        assert_eq!(lookup_name("shop-prod"), "shop-prod");
        assert_eq!(lookup_name("net/shop/1"), "net/shop/1");
        assert_eq!(lookup_name("app//1"), "app//1");
    }

    #[test]
    fn attributes() {
        assert_eq!(AccessLogs::from_attributes([]), AccessLogs::default());
        assert_eq!(
            logs("true", "logs", "prod"),
            AccessLogs {
                enabled: true,
                bucket: Some("logs".to_owned()),
                prefix: "prod".to_owned()
            }
        );
        assert_eq!(logs("TRUE", "", "/prod/").bucket, None);
        assert_eq!(logs("false", "", "/prod/").prefix, "prod");
    }

    #[test]
    fn logging_to_the_stacks_bucket_passes() {
        let found = evaluate(&arn(), None, &logs("true", "logs", "prod"), Some("logs"));
        assert!(found.check.ok, "{found:?}");
        assert!(found.check.what.contains("s3://logs/prod/"), "{found:?}");
        let location = found.location.expect("location");
        assert_eq!(
            location.logs_folder(),
            "prod/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
        );
        assert_eq!(location.load_balancer, "app/shop/50dc6c495c0c9188");
    }

    #[test]
    fn logging_off_fails_with_the_command() {
        let found = evaluate(&arn(), None, &logs("false", "", ""), None);
        assert!(!found.check.ok);
        assert!(found.location.is_none());
        let fix = found.check.fix.expect("fix");
        assert!(fix.contains("modify-load-balancer-attributes"), "{fix}");
        assert!(fix.contains("LogBucketName"), "{fix}");
        // Off, but the bucket is known (from the attribute or --bucket): checks go on there.
        let found = evaluate(&arn(), None, &logs("false", "", ""), Some("logs"));
        assert!(!found.check.ok);
        assert_eq!(found.location.expect("location").bucket, "logs");
        let found = evaluate(&arn(), None, &logs("false", "old", "p"), None);
        assert!(found.check.fix.expect("fix").contains("Value=old"));
    }

    #[test]
    fn another_bucket_or_type_fails() {
        let found = evaluate(&arn(), None, &logs("true", "other", ""), Some("logs"));
        assert!(!found.check.ok);
        assert!(found.check.what.contains("bucket other"), "{found:?}");
        let found = evaluate(
            &arn(),
            Some(&LoadBalancerTypeEnum::Network),
            &logs("true", "logs", ""),
            None,
        );
        assert!(!found.check.ok);
        assert!(found.check.what.contains("network"), "{found:?}");
    }
}
