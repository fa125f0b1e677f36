//! Does a bucket policy let Elastic Load Balancing deliver access logs? A pure reading of the
//! policy JSON, for [`super::bucket`]'s check.
//!
//! ALB log delivery writes with `s3:PutObject` as one of two principals: the service principal
//! [`LOG_DELIVERY_SERVICE`], or, in the regions launched before August 2022, that region's
//! ELB account ([`elb_account`], the `ElbLogDeliveryAccount` mapping of `template.yaml`). Either
//! is accepted. The object it writes is `PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/…`.
//!
//! What is evaluated: `Allow` statements whose principal is one of those (or `*`), whose
//! `Action` covers `s3:PutObject` (`s3:*`, `s3:Put*`, `*`; case-insensitive) and whose
//! `Resource` covers a log object's ARN (IAM wildcards `*` and `?`). An unconditional `Deny`
//! covering the same write wins. Conditions are not evaluated: a conditional `Allow` counts, a
//! conditional `Deny` (such as the template's `aws:SecureTransport` one, which TLS delivery
//! never meets) does not. Statements using `NotPrincipal`, `NotAction` or `NotResource` are
//! ignored.

use serde_json::Value;

use super::location::LogLocation;

/// The service principal of ALB log delivery.
pub const LOG_DELIVERY_SERVICE: &str = "logdelivery.elasticloadbalancing.amazonaws.com";
/// The action log delivery performs.
pub const PUT_OBJECT: &str = "s3:PutObject";

/// The ELB account of each region launched before August 2022, which log delivery writes as
/// there (`ElbLogDeliveryAccount` in `template.yaml`; a unit test checks they agree).
pub const ELB_ACCOUNTS: &[(&str, &str)] = &[
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-southeast-3", "589379963580"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-3", "383597477331"),
    ("ap-northeast-2", "600734575887"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-northeast-1", "582318560864"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-south-1", "635631232127"),
    ("eu-west-3", "009996457667"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-gov-west-1", "048591011584"),
    ("us-gov-east-1", "190560391635"),
    ("cn-north-1", "638102146993"),
    ("cn-northwest-1", "037604701340"),
];

/// The ELB account that delivers logs in `region`, for regions launched before August 2022.
#[must_use]
pub fn elb_account(region: &str) -> Option<&'static str> {
    ELB_ACCOUNTS
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, account)| *account)
}

/// The region whose ELB account is `account`, if it is one.
fn elb_account_region(account: &str) -> Option<&'static str> {
    ELB_ACCOUNTS
        .iter()
        .find(|(_, a)| *a == account)
        .map(|(region, _)| *region)
}

/// The bucket policy is not a JSON policy document.
#[derive(Debug, thiserror::Error)]
#[error("the bucket policy is not a JSON policy document: {0}")]
pub struct PolicyFormatError(String);

/// Who the policy lets write the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// The service principal [`LOG_DELIVERY_SERVICE`].
    Service,
    /// The region's ELB account.
    ElbAccount(&'static str),
    /// Anyone (`"Principal": "*"`).
    Anyone,
}

/// What the policy says about log delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An `Allow` statement lets log delivery write, and no unconditional `Deny` stops it.
    Allowed {
        /// The principal the allowing statement names.
        grantee: Grantee,
    },
    /// An unconditional `Deny` statement stops log delivery.
    Denied {
        /// The statement's `Sid`, or its position.
        statement: String,
    },
    /// No statement lets log delivery write there.
    NotAllowed {
        /// The nearest miss, when a statement almost allows it (wrong principal or resource).
        hint: Option<String>,
    },
}

/// Reads `policy` (the bucket policy JSON) for log delivery to `location`.
///
/// # Errors
/// The policy is not JSON, or has no `Statement`.
pub fn evaluate(policy: &str, location: &LogLocation) -> Result<Verdict, PolicyFormatError> {
    let doc: Value = serde_json::from_str(policy).map_err(|e| PolicyFormatError(e.to_string()))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(PolicyFormatError("no \"Statement\"".to_owned())),
    };
    let object_arn = location.sample_object_arn();
    let region_account = elb_account(&location.region);
    let mut allowed = None;
    let mut hint = None;
    for (index, statement) in statements.iter().enumerate() {
        if ["NotPrincipal", "NotAction", "NotResource"]
            .iter()
            .any(|k| statement.get(k).is_some())
        {
            continue;
        }
        let name = statement
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(|| format!("#{}", index + 1), |s| format!("\"{s}\""));
        let principal = principal_match(statement.get("Principal"), location, region_account);
        let action = strings(statement.get("Action"))
            .iter()
            .any(|a| glob_match(&a.to_ascii_lowercase(), &PUT_OBJECT.to_ascii_lowercase()));
        let resources = strings(statement.get("Resource"));
        let resource = resources.iter().any(|r| glob_match(r, &object_arn));
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => {
                let conditional = statement.get("Condition").is_some();
                if !conditional && principal.is_some() && action && resource {
                    return Ok(Verdict::Denied { statement: name });
                }
            }
            Some("Allow") => match principal {
                Some(grantee) if action && resource => {
                    allowed.get_or_insert(grantee);
                }
                Some(_) if action => {
                    hint.get_or_insert_with(|| {
                        format!(
                            "statement {name} allows {} only, not {}",
                            resources.join(", "),
                            location.delivery_resource()
                        )
                    });
                }
                None if action && resource => {
                    hint.get_or_insert_with(|| {
                        other_principal_hint(&name, statement.get("Principal"), location)
                    });
                }
                _ => {}
            },
            _ => {}
        }
    }
    Ok(match allowed {
        Some(grantee) => Verdict::Allowed { grantee },
        None => Verdict::NotAllowed { hint },
    })
}

/// The grantee `principal` names, if it is log delivery for this region (or anyone).
fn principal_match(
    principal: Option<&Value>,
    location: &LogLocation,
    region_account: Option<&'static str>,
) -> Option<Grantee> {
    let principal = principal?;
    if principal.as_str() == Some("*") {
        return Some(Grantee::Anyone);
    }
    if strings(principal.get("Service"))
        .iter()
        .any(|s| s == LOG_DELIVERY_SERVICE)
    {
        return Some(Grantee::Service);
    }
    let aws = strings(principal.get("AWS"));
    if aws.iter().any(|a| a == "*") {
        return Some(Grantee::Anyone);
    }
    let account = region_account?;
    let root = format!("arn:{}:iam::{account}:root", location.partition);
    aws.iter()
        .any(|a| *a == account || *a == root)
        .then_some(Grantee::ElbAccount(account))
}

/// Why a statement with the right action and resource names the wrong principal.
fn other_principal_hint(name: &str, principal: Option<&Value>, location: &LogLocation) -> String {
    let named: Vec<String> = principal
        .map(|p| {
            let mut all = strings(p.get("AWS"));
            all.extend(strings(p.get("Service")));
            all
        })
        .unwrap_or_default();
    let other_region = named.iter().find_map(|p| {
        let account = p
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(3))
            .unwrap_or(p);
        elb_account_region(account).filter(|r| *r != location.region)
    });
    let region = &location.region;
    match other_region {
        Some(other) => {
            format!("statement {name} names the ELB account of {other}, not the one of {region}")
        }
        None => format!(
            "statement {name} grants {} instead of log delivery",
            if named.is_empty() {
                "another principal".to_owned()
            } else {
                named.join(", ")
            }
        ),
    }
}

/// A policy value that is a string or a list of strings.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM wildcard matching: `*` is any run of characters (`/` included), `?` one character.
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it was tried at, to backtrack to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The statement to add, as a one-line fix.
#[must_use]
pub fn grant_fix(location: &LogLocation) -> String {
    let resource = location.delivery_resource();
    match elb_account(&location.region) {
        Some(account) => format!(
            "allow {PUT_OBJECT} on {resource} to the {} ELB account (AWS arn:{}:iam::{account}:root) \
             and to Service {LOG_DELIVERY_SERVICE}, as template.yaml's LogBucketPolicy does",
            location.region, location.partition
        ),
        None => format!(
            "allow {PUT_OBJECT} on {resource} to Service {LOG_DELIVERY_SERVICE}, as \
             template.yaml's LogBucketPolicy does"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(prefix: &str, region: &str) -> LogLocation {
        LogLocation {
            partition: "aws".to_owned(),
            bucket: "logs".to_owned(),
            prefix: prefix.to_owned(),
            account: "123456789012".to_owned(),
            region: region.to_owned(),
            load_balancer: "app/shop/50dc6c495c0c9188".to_owned(),
        }
    }

    fn policy(statements: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#)
    }

    const SERVICE: &str = r#"{"Sid": "AlbLogDelivery", "Effect": "Allow",
        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/prod/AWSLogs/123456789012/*"}"#;
    const ACCOUNT: &str = r#"{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::127311923021:root"},
        "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::logs/prod/AWSLogs/123456789012/*"]}"#;
    const SECURE_TRANSPORT: &str = r#"{"Sid": "DenyInsecureTransport", "Effect": "Deny",
        "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}"#;

    fn verdict(statements: &str, prefix: &str, region: &str) -> Verdict {
        evaluate(&policy(statements), &location(prefix, region)).expect("valid policy")
    }

    #[test]
    fn the_templates_policy_allows_delivery() {
        let both = format!("{SERVICE}, {ACCOUNT}, {SECURE_TRANSPORT}");
        assert_eq!(
            verdict(&both, "prod", "us-east-1"),
            Verdict::Allowed {
                grantee: Grantee::Service
            }
        );
        assert_eq!(
            verdict(
                &format!("{ACCOUNT}, {SECURE_TRANSPORT}"),
                "prod",
                "us-east-1"
            ),
            Verdict::Allowed {
                grantee: Grantee::ElbAccount("127311923021")
            }
        );
        // A single statement object, a bare account id, wildcards in action and resource.
        let loose = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
            "Principal": {"AWS": ["111111111111", "127311923021"]}, "Action": "S3:Put*",
            "Resource": "arn:aws:s3:::logs/*/AWSLogs/*"}}"#;
        assert_eq!(
            evaluate(loose, &location("prod", "us-east-1")).expect("valid"),
            Verdict::Allowed {
                grantee: Grantee::ElbAccount("127311923021")
            }
        );
        let anyone = r#"{"Effect": "Allow", "Principal": "*", "Action": "*",
            "Resource": "arn:aws:s3:::logs/*"}"#;
        assert_eq!(
            verdict(anyone, "prod", "us-east-1"),
            Verdict::Allowed {
                grantee: Grantee::Anyone
            }
        );
    }

    #[test]
    fn no_prefix_means_awslogs_at_the_root() {
        let root = SERVICE.replace("logs/prod/AWSLogs", "logs/AWSLogs");
        assert!(matches!(
            verdict(&root, "", "eu-west-1"),
            Verdict::Allowed { .. }
        ));
        assert!(matches!(
            verdict(&root, "prod", "eu-west-1"),
            Verdict::NotAllowed { hint: Some(_) }
        ));
    }

    #[test]
    fn wrong_principal_resource_or_action_is_not_allowed_with_a_hint() {
        // The ELB account of another region.
        let Verdict::NotAllowed { hint: Some(hint) } = verdict(ACCOUNT, "prod", "eu-west-1") else {
            panic!("other region's account must not pass");
        };
        assert!(hint.contains("ELB account of us-east-1"), "{hint}");
        assert!(hint.contains("eu-west-1"), "{hint}");
        // Another service principal (NLB's delivery).
        let nlb = SERVICE.replace(LOG_DELIVERY_SERVICE, "delivery.logs.amazonaws.com");
        let Verdict::NotAllowed { hint: Some(hint) } = verdict(&nlb, "prod", "us-east-1") else {
            panic!("another principal must not pass");
        };
        assert!(hint.contains("delivery.logs.amazonaws.com"), "{hint}");
        // The right principal on another prefix.
        let Verdict::NotAllowed { hint: Some(hint) } = verdict(SERVICE, "staging", "us-east-1")
        else {
            panic!("another prefix must not pass");
        };
        assert!(
            hint.contains("arn:aws:s3:::logs/staging/AWSLogs/123456789012/*"),
            "{hint}"
        );
        // Read-only.
        let read = SERVICE.replace("s3:PutObject", "s3:GetObject");
        assert_eq!(
            verdict(&read, "prod", "us-east-1"),
            Verdict::NotAllowed { hint: None }
        );
        // Another account's logs.
        let other = SERVICE.replace("123456789012", "999999999999");
        assert!(matches!(
            verdict(&other, "prod", "us-east-1"),
            Verdict::NotAllowed { hint: Some(_) }
        ));
        // Not* statements are not evaluated.
        let not_action = SERVICE.replace("\"Action\"", "\"NotAction\"");
        assert_eq!(
            verdict(&not_action, "prod", "us-east-1"),
            Verdict::NotAllowed { hint: None }
        );
    }

    #[test]
    fn an_unconditional_deny_wins() {
        let deny = r#"{"Sid": "NoWrites", "Effect": "Deny", "Principal": "*",
            "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/*"}"#;
        assert_eq!(
            verdict(&format!("{SERVICE}, {deny}"), "prod", "us-east-1"),
            Verdict::Denied {
                statement: "\"NoWrites\"".to_owned()
            }
        );
    }

    #[test]
    fn not_a_policy() {
        for bad in ["", "{}", "[1]", r#"{"Statement": 3}"#] {
            assert!(evaluate(bad, &location("", "us-east-1")).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match("*", ""));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("arn:aws:s3:::b/*/x", "arn:aws:s3:::b/p/q/x"));
        assert!(!glob_match("arn:aws:s3:::b/*/x", "arn:aws:s3:::b/p/q/y"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn grant_fix_names_what_the_region_needs() {
        let fix = grant_fix(&location("prod", "us-east-1"));
        assert!(fix.contains("arn:aws:iam::127311923021:root"), "{fix}");
        assert!(
            fix.contains("arn:aws:s3:::logs/prod/AWSLogs/123456789012/*"),
            "{fix}"
        );
        let fix = grant_fix(&location("", "ap-southeast-5"));
        assert!(!fix.contains("iam::"), "{fix}");
        assert!(fix.contains(LOG_DELIVERY_SERVICE), "{fix}");
    }

    /// One source of truth: the table above and `template.yaml`'s `ElbLogDeliveryAccount`.
    #[test]
    fn elb_accounts_match_the_template() {
        let template = include_str!("../../template.yaml");
        let mapping: Vec<(String, String)> = template
            .lines()
            .skip_while(|l| !l.starts_with("  ElbLogDeliveryAccount:"))
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .filter_map(|l| {
                let (region, rest) = l.trim().split_once(':')?;
                let account = rest.split('"').nth(1)?;
                Some((region.to_owned(), account.to_owned()))
            })
            .collect();
        let ours: Vec<(String, String)> = ELB_ACCOUNTS
            .iter()
            .map(|(r, a)| ((*r).to_owned(), (*a).to_owned()))
            .collect();
        assert_eq!(mapping, ours);
    }
}
