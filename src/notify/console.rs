//! AWS console links for what a notification names: the target group and the load balancer,
//! built from the target group's ARN (partition, region, account) and correct for every
//! partition (`aws`, `aws-cn`, `aws-us-gov`).
//!
//! The ARN comes from a log line, so it is attacker-controlled: a link is built only from an
//! ARN whose every part has the documented shape; anything else gets no link.

/// The parts of a target group ARN
/// (`arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupArn<'a> {
    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: &'a str,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// The 12-digit account.
    pub account: &'a str,
    /// The target group's name.
    pub name: &'a str,
    /// The whole ARN.
    pub arn: &'a str,
}

impl<'a> TargetGroupArn<'a> {
    /// Parses a well-formed target group ARN; `None` for anything else.
    #[must_use]
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("elasticloadbalancing"),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        let mut res = resource.split('/');
        let (Some("targetgroup"), Some(name), Some(id), None) =
            (res.next(), res.next(), res.next(), res.next())
        else {
            return None;
        };
        let region_ok = !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let name_ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        (console_host(partition).is_some() && region_ok && name_ok && id_ok && account_ok)
            .then_some(Self {
                partition,
                region,
                account,
                name,
                arn,
            })
    }

    /// The target group in the EC2 console.
    #[must_use]
    pub fn console_url(&self) -> String {
        format!(
            "{}/ec2/home?region={}#TargetGroup:targetGroupArn={}",
            console_base(self.partition, self.region),
            self.region,
            self.arn
        )
    }

    /// The load balancer `load_balancer` (`app/NAME/ID`, of the same account and region) in
    /// the EC2 console, on its monitoring tab; `None` if the id is not of that shape.
    #[must_use]
    pub fn load_balancer_url(&self, load_balancer: &str) -> Option<String> {
        is_load_balancer_id(load_balancer).then(|| {
            format!(
                "{}/ec2/home?region={}#LoadBalancer:loadBalancerArn=arn:{}:elasticloadbalancing:{}:{}:loadbalancer/{load_balancer};tab=monitoring",
                console_base(self.partition, self.region),
                self.region,
                self.partition,
                self.region,
                self.account
            )
        })
    }
}

/// The console's host for a partition.
fn console_host(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" => Some("console.aws.amazon.com"),
        "aws-cn" => Some("console.amazonaws.cn"),
        "aws-us-gov" => Some("console.amazonaws-us-gov.com"),
        _ => None,
    }
}

/// Whether `lb` is an Application Load Balancer id as the logs write it (`app/NAME/ID`).
#[must_use]
pub fn is_load_balancer_id(lb: &str) -> bool {
    let mut parts = lb.split('/');
    let (Some("app"), Some(name), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && id.len() == 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The console's base URL for a partition and region (`https://REGION.HOST`).
pub(crate) fn console_base(partition: &str, region: &str) -> String {
    format!(
        "https://{region}.{}",
        console_host(partition).unwrap_or("console.aws.amazon.com")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LB: &str = "app/shop-prod/50dc6c495c0c9188";

    #[test]
    fn links_follow_the_partition_and_region() {
        for (arn, host) in [
            (
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff",
                "https://us-east-1.console.aws.amazon.com",
            ),
            (
                "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/shop-web/943f017f100becff",
                "https://cn-north-1.console.amazonaws.cn",
            ),
            (
                "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/shop-web/943f017f100becff",
                "https://us-gov-west-1.console.amazonaws-us-gov.com",
            ),
        ] {
            let tg = TargetGroupArn::parse(arn).expect(arn);
            assert_eq!(tg.name, "shop-web");
            assert_eq!(tg.account, "123456789012");
            let url = tg.console_url();
            assert!(url.starts_with(host), "{url}");
            assert!(
                url.ends_with(&format!("#TargetGroup:targetGroupArn={arn}")),
                "{url}"
            );
            let lb = tg.load_balancer_url(LB).expect("lb url");
            assert!(lb.starts_with(host), "{lb}");
            assert!(
                lb.contains(&format!(
                    "loadBalancerArn=arn:{}:elasticloadbalancing:{}:123456789012:loadbalancer/{LB};tab=monitoring",
                    tg.partition, tg.region
                )),
                "{lb}"
            );
        }
    }

    #[test]
    fn anything_not_shaped_like_an_arn_gets_no_link() {
        for bad in [
            "",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web",
            "arn:aws:elasticloadbalancing:us-east-1:1234:targetgroup/shop-web/943f017f100becff",
            "arn:evil:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/<!channel>/943f017f100becff",
            "arn:aws:elasticloadbalancing:us-east-1|x:123456789012:targetgroup/a/943f017f100becff",
            "arn:aws:s3:us-east-1:123456789012:targetgroup/a/943f017f100becff",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a/943f017f100becff/x",
        ] {
            assert_eq!(TargetGroupArn::parse(bad), None, "{bad}");
        }
        let tg = TargetGroupArn::parse(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a/943f017f100becff",
        )
        .expect("valid");
        assert_eq!(tg.load_balancer_url("app/x>y/50dc6c495c0c9188"), None);
        assert_eq!(tg.load_balancer_url("net/x/50dc6c495c0c9188"), None);
    }
}
