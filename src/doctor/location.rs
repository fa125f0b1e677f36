//! Where a load balancer's access logs land: its ARN's parts and the log objects' keys.

use chrono::NaiveDate;

/// The parts of a load balancer ARN,
/// `arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerArn {
    /// The whole ARN.
    pub arn: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The region, which names the log objects' folder.
    pub region: String,
    /// The account, which names the log objects' folder (`AWSLogs/ACCOUNT/`).
    pub account: String,
    /// `app/NAME/ID`, the form log lines and notifications use.
    pub name: String,
}

/// Not a load balancer ARN.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a load balancer ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID): {0}"
)]
pub struct ArnError(String);

impl LoadBalancerArn {
    /// Parses `arn`.
    ///
    /// # Errors
    /// `arn` is not a load balancer ARN.
    pub fn parse(arn: &str) -> Result<Self, ArnError> {
        let bad = || ArnError(arn.to_owned());
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("elasticloadbalancing"), Some(region)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (Some(account), Some(resource)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let name = resource.strip_prefix("loadbalancer/").ok_or_else(bad)?;
        let valid = !partition.is_empty()
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && name.split('/').count() == 3
            && name.split('/').all(|p| !p.is_empty());
        if !valid {
            return Err(bad());
        }
        Ok(Self {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Where a load balancer writes its access logs: bucket, prefix and the folder below them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLocation {
    /// The partition (for ARNs).
    pub partition: String,
    /// The bucket (`access_logs.s3.bucket`).
    pub bucket: String,
    /// The prefix (`access_logs.s3.prefix`), without a trailing `/`; empty for none.
    pub prefix: String,
    /// The load balancer's account.
    pub account: String,
    /// The load balancer's region.
    pub region: String,
    /// The load balancer, `app/NAME/ID`.
    pub load_balancer: String,
}

impl LogLocation {
    /// `PREFIX/AWSLogs/` (or `AWSLogs/` without a prefix): what an S3 notification filters on.
    #[must_use]
    pub fn awslogs_prefix(&self) -> String {
        if self.prefix.is_empty() {
            "AWSLogs/".to_owned()
        } else {
            format!("{}/AWSLogs/", self.prefix)
        }
    }

    /// The folder of this account and region's logs,
    /// `PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/`.
    #[must_use]
    pub fn logs_folder(&self) -> String {
        format!(
            "{}{}/elasticloadbalancing/{}/",
            self.awslogs_prefix(),
            self.account,
            self.region
        )
    }

    /// The key prefix of this load balancer's objects of one day,
    /// `…/REGION/YYYY/MM/DD/ACCOUNT_elasticloadbalancing_REGION_app.NAME.ID_`.
    #[must_use]
    pub fn day_prefix(&self, day: NaiveDate) -> String {
        format!(
            "{}{}/{}_elasticloadbalancing_{}_{}_",
            self.logs_folder(),
            day.format("%Y/%m/%d"),
            self.account,
            self.region,
            self.load_balancer.replace('/', ".")
        )
    }

    /// The resource log delivery must be allowed to write,
    /// `arn:PARTITION:s3:::BUCKET/PREFIX/AWSLogs/ACCOUNT/*`.
    #[must_use]
    pub fn delivery_resource(&self) -> String {
        format!(
            "arn:{}:s3:::{}/{}{}/*",
            self.partition,
            self.bucket,
            self.awslogs_prefix(),
            self.account
        )
    }

    /// The ARN of a typical log object, to test policy resources against.
    #[must_use]
    pub fn sample_object_arn(&self) -> String {
        let day = NaiveDate::from_ymd_opt(2025, 6, 21).unwrap_or_default();
        format!(
            "arn:{}:s3:::{}/{}20250621T2245Z_10.0.1.15_3apj8aqk.log.gz",
            self.partition,
            self.bucket,
            self.day_prefix(day)
        )
    }

    /// `s3://BUCKET/PREFIX/` (or `s3://BUCKET/`).
    #[must_use]
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{}/", self.bucket, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop-prod/50dc6c495c0c9188";

    #[test]
    fn load_balancer_arns() {
        let arn = LoadBalancerArn::parse(ARN).expect("valid");
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.region, "us-east-1");
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.name, "app/shop-prod/50dc6c495c0c9188");
        for bad in [
            "shop-prod",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/943f017f100becff",
            "arn:aws:s3:::bucket",
            "arn:aws:elasticloadbalancing:us-east-1:1234:loadbalancer/app/shop/1",
            "arn:aws:elasticloadbalancing::123456789012:loadbalancer/app/shop/1",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop",
        ] {
            assert!(LoadBalancerArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_follow_the_fixtures() {
        let arn = LoadBalancerArn::parse(ARN).expect("valid");
        let mut location = LogLocation {
            partition: arn.partition,
            bucket: "logs".to_owned(),
            prefix: String::new(),
            account: arn.account,
            region: arn.region,
            load_balancer: arn.name,
        };
        let day = NaiveDate::from_ymd_opt(2025, 6, 21).expect("date");
        // The shipped fixture's key.
        let key = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.15_3apj8aqk.log.gz";
        assert!(key.starts_with(&location.day_prefix(day)));
        assert_eq!(
            location.sample_object_arn(),
            format!("arn:aws:s3:::logs/{key}")
        );
        assert_eq!(location.url(), "s3://logs/");
        assert_eq!(
            location.delivery_resource(),
            "arn:aws:s3:::logs/AWSLogs/123456789012/*"
        );
        location.prefix = "prod".to_owned();
        assert_eq!(location.awslogs_prefix(), "prod/AWSLogs/");
        assert_eq!(location.url(), "s3://logs/prod/");
        assert_eq!(
            location.delivery_resource(),
            "arn:aws:s3:::logs/prod/AWSLogs/123456789012/*"
        );
    }
}
