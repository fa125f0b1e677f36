//! Which S3 object keys are Application Load Balancer access logs.
//!
//! An ALB writes several kinds of objects under the same
//! `[prefix/]AWSLogs/{account}/elasticloadbalancing/{region}/yyyy/mm/dd/` folder:
//!
//! | object | file name |
//! | --- | --- |
//! | access log | `{account}_elasticloadbalancing_{region}_app.{lb-name}.{lb-id}_{end-time}_{ip}_{random}.log.gz` |
//! | connection log | `conn_log_{account}_…_app.…log.gz` (the AWS docs write `conn_log.`; S3 shows `conn_log_`) |
//! | health check log | `health_check_log_{account}_…_app.…log.gz` |
//! | NLB access log | `{account}_elasticloadbalancing_{region}_net.{lb-name}.{lb-id}_{end-time}_{random}.log.gz` |
//! | Classic LB access log | `{account}_elasticloadbalancing_{region}_{lb-name}_{end-time}_{ip}_{random}.log` |
//! | test file | `[prefix/]AWSLogs/{account}/ELBAccessLogTestFile` (written once when logging is enabled) |
//!
//! Only the file name (the part after the last `/`) is inspected, so a bucket prefix such as
//! `team_app.logs/` cannot change the answer.
//!
//! # What the operator restricts
//! A [`KeyFilter`] narrows the keys further, with the rules the deployment template's
//! `LogPrefix` and `AllowedAccounts` parameters validate the same way:
//!
//! - **Log prefix** ([`LogPrefix`], `ALBWATCH_KEY_PREFIX`): the ALB's `access_logs.s3.prefix`,
//!   or a folder above the prefixes of several load balancers (`logs` covers `logs/web` and
//!   `logs/api`). It is a folder: a trailing `/` is optional (`prod` and `prod/` both mean keys
//!   under `prod/`, never `production/`). It must not start with `/`, contain `//` or contain
//!   `AWSLogs` (the load balancer appends `AWSLogs/{account}/…` itself).
//! - **Allowed accounts** ([`AllowedAccounts`], `ALBWATCH_ALLOWED_ACCOUNTS`): for a central
//!   bucket receiving several accounts' logs, the accounts whose `AWSLogs/{account}/` folders
//!   are processed; the others are skipped (logged, never failed).

use std::collections::BTreeSet;
use std::fmt;

/// Environment variable holding the log prefix (see [`LogPrefix`]; empty or unset: the whole
/// bucket).
pub const PREFIX_ENV: &str = "ALBWATCH_KEY_PREFIX";
/// Environment variable holding the required key suffix (empty or unset: no filter).
pub const SUFFIX_ENV: &str = "ALBWATCH_KEY_SUFFIX";
/// Environment variable holding the allowed accounts (see [`AllowedAccounts`]; empty or
/// unset: any account).
pub const ALLOWED_ACCOUNTS_ENV: &str = "ALBWATCH_ALLOWED_ACCOUNTS";

/// The folder a load balancer writes under, after its prefix: `AWSLogs/{account}/…`. A log
/// prefix cannot contain it (Elastic Load Balancing refuses such a prefix).
pub const AWS_LOGS_FOLDER: &str = "AWSLogs";
/// Digits of an AWS account id.
pub const ACCOUNT_ID_DIGITS: usize = 12;
/// Most accounts [`AllowedAccounts`] holds: the deployment template's bucket policy has this
/// many slots for log-delivery paths.
pub const MAX_ALLOWED_ACCOUNTS: usize = 10;

/// File name of the object ELB writes when access logging is enabled.
const TEST_FILE_NAME: &str = "ELBAccessLogTestFile";

/// Why a log prefix is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogPrefixError {
    /// It starts with `/`.
    #[error("must not start with \"/\" (S3 keys written by a load balancer never do)")]
    LeadingSlash,
    /// It has an empty folder name.
    #[error("must not contain \"//\"")]
    EmptyFolder,
    /// It names the folder the load balancer appends.
    #[error(
        "must not contain \"AWSLogs\": give the load balancer's own prefix (the part before \
         /AWSLogs/), or a folder above it; to select accounts use ALBWATCH_ALLOWED_ACCOUNTS"
    )]
    ContainsAwsLogs,
}

/// Where the access logs are: the ALB's `access_logs.s3.prefix` or a folder above several
/// load balancers' prefixes, kept as a folder (empty, or ending in `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPrefix(String);

impl LogPrefix {
    /// Validates a prefix given with or without its trailing `/`; empty means the whole bucket.
    ///
    /// # Errors
    /// A prefix starting with `/`, containing `//` or containing [`AWS_LOGS_FOLDER`].
    pub fn parse(raw: &str) -> Result<Self, LogPrefixError> {
        if raw.starts_with('/') {
            return Err(LogPrefixError::LeadingSlash);
        }
        if raw.contains("//") {
            return Err(LogPrefixError::EmptyFolder);
        }
        if raw.contains(AWS_LOGS_FOLDER) {
            return Err(LogPrefixError::ContainsAwsLogs);
        }
        if raw.is_empty() || raw.ends_with('/') {
            Ok(Self(raw.to_owned()))
        } else {
            Ok(Self(format!("{raw}/")))
        }
    }

    /// The prefix as a folder: empty, or ending in `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if `key` lies under this folder.
    #[must_use]
    pub fn covers(&self, key: &str) -> bool {
        key.starts_with(self.0.as_str())
    }
}

impl fmt::Display for LogPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a list of allowed accounts is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedAccountsError {
    /// An item is not twelve digits.
    #[error(
        "{0:?} is not a 12-digit AWS account id (give ids separated by commas, no spaces: \
         111111111111,222222222222)"
    )]
    NotAnAccount(String),
    /// More ids than the template's bucket policy has slots for.
    #[error("{0} accounts given; at most {MAX_ALLOWED_ACCOUNTS}")]
    TooMany(usize),
}

/// The accounts whose logs are processed, for a bucket receiving several accounts'
/// `AWSLogs/{account}/` folders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedAccounts(BTreeSet<String>);

impl AllowedAccounts {
    /// Parses comma-separated 12-digit account ids (no spaces), at most
    /// [`MAX_ALLOWED_ACCOUNTS`]; `None` for an empty value (any account).
    ///
    /// # Errors
    /// An item that is not [`ACCOUNT_ID_DIGITS`] digits, or too many items.
    pub fn parse(raw: &str) -> Result<Option<Self>, AllowedAccountsError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let items: Vec<&str> = raw.split(',').collect();
        if let Some(bad) = items.iter().find(|item| !is_account_id(item)) {
            return Err(AllowedAccountsError::NotAnAccount((*bad).to_owned()));
        }
        if items.len() > MAX_ALLOWED_ACCOUNTS {
            return Err(AllowedAccountsError::TooMany(items.len()));
        }
        Ok(Some(Self(items.into_iter().map(str::to_owned).collect())))
    }

    /// True if `account` is one of them.
    #[must_use]
    pub fn allows(&self, account: &str) -> bool {
        self.0.contains(account)
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == ACCOUNT_ID_DIGITS && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account of a log object: the folder after the first `AWSLogs/` folder of `key`.
///
/// `None` when the key has no such folder.
#[must_use]
pub fn log_account(key: &str) -> Option<&str> {
    let mut folders = key.split('/');
    folders.find(|folder| *folder == AWS_LOGS_FOLDER)?;
    let account = folders.next()?;
    // The account folder is followed by more of the path, never the file name itself.
    folders.next().map(|_| account)
}

/// Operator-configured restriction on which keys are processed.
///
/// The suffix is a plain byte-wise `ends_with` on the decoded key (the semantics of S3 event
/// notification filter rules); the prefix is a folder (see [`LogPrefix`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Keys must lie under this folder (empty: any key).
    pub prefix: LogPrefix,
    /// Keys must end with this, if set.
    pub suffix: Option<String>,
    /// Keys must be in the `AWSLogs/{account}/` folder of one of these, if set.
    pub accounts: Option<AllowedAccounts>,
}

/// Why a key is not processed as an ALB access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Key does not start with the configured prefix.
    PrefixMismatch,
    /// Key does not end with the configured suffix.
    SuffixMismatch,
    /// Key is not in the `AWSLogs/{account}/` folder of an allowed account.
    AccountNotAllowed,
    /// The `ELBAccessLogTestFile` written when logging is enabled.
    TestFile,
    /// An ALB connection log (`conn_log_…`).
    ConnectionLog,
    /// An ALB health check log (`health_check_log_…`).
    HealthCheckLog,
    /// A Network Load Balancer log (`_net.`).
    NetworkLoadBalancer,
    /// Not an Application Load Balancer log (no `_app.`): Classic LB or an unrelated object.
    ClassicOrOther,
    /// An ALB object that is not a `.log.gz` file.
    NotGzipLog,
}

impl SkipReason {
    /// Short `snake_case` label for structured log fields and metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PrefixMismatch => "prefix_mismatch",
            Self::SuffixMismatch => "suffix_mismatch",
            Self::AccountNotAllowed => "account_not_allowed",
            Self::TestFile => "test_file",
            Self::ConnectionLog => "connection_log",
            Self::HealthCheckLog => "health_check_log",
            Self::NetworkLoadBalancer => "network_load_balancer",
            Self::ClassicOrOther => "classic_or_other",
            Self::NotGzipLog => "not_gzip_log",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PrefixMismatch => "key does not start with the configured prefix",
            Self::SuffixMismatch => "key does not end with the configured suffix",
            Self::AccountNotAllowed => {
                "log of an account that is not in the allowed accounts (ALBWATCH_ALLOWED_ACCOUNTS)"
            }
            Self::TestFile => "ELB access-log test file",
            Self::ConnectionLog => "ALB connection log, not an access log",
            Self::HealthCheckLog => "ALB health check log, not an access log",
            Self::NetworkLoadBalancer => "Network Load Balancer log",
            Self::ClassicOrOther => {
                "not an Application Load Balancer log (Classic LB or other object)"
            }
            Self::NotGzipLog => "not a .log.gz file",
        })
    }
}

/// What [`classify_key`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// An ALB access log: process it.
    AccessLog,
    /// Anything else: acknowledge and skip, logging the reason once.
    Skip(SkipReason),
}

impl KeyClass {
    /// True for [`KeyClass::AccessLog`].
    #[must_use]
    pub const fn is_access_log(self) -> bool {
        matches!(self, Self::AccessLog)
    }
}

/// Classifies a decoded object key.
///
/// Checks run in this order and the first match wins: operator filter (prefix, suffix, then
/// account), test file, connection log, health check log, NLB, not `_app.`, not `.log.gz`.
#[must_use]
pub fn classify_key(key: &str, filter: &KeyFilter) -> KeyClass {
    if !filter.prefix.covers(key) {
        return KeyClass::Skip(SkipReason::PrefixMismatch);
    }
    if let Some(suffix) = &filter.suffix
        && !key.ends_with(suffix.as_str())
    {
        return KeyClass::Skip(SkipReason::SuffixMismatch);
    }
    if let Some(accounts) = &filter.accounts {
        let under_prefix = &key[filter.prefix.as_str().len()..];
        if !log_account(under_prefix).is_some_and(|account| accounts.allows(account)) {
            return KeyClass::Skip(SkipReason::AccountNotAllowed);
        }
    }

    let name = key.rsplit('/').next().unwrap_or(key);
    let reason = if name == TEST_FILE_NAME {
        SkipReason::TestFile
    } else if is_kind(name, "conn_log") {
        SkipReason::ConnectionLog
    } else if is_kind(name, "health_check_log") {
        SkipReason::HealthCheckLog
    } else if name.contains("_net.") {
        SkipReason::NetworkLoadBalancer
    } else if !name.contains("_app.") {
        SkipReason::ClassicOrOther
    } else if !name.ends_with(".log.gz") {
        SkipReason::NotGzipLog
    } else {
        return KeyClass::AccessLog;
    };
    KeyClass::Skip(reason)
}

/// True if `name` starts with `{tag}_` or `{tag}.`, or contains `_{tag}_`.
fn is_kind(name: &str, tag: &str) -> bool {
    if let Some(rest) = name.strip_prefix(tag)
        && (rest.starts_with('_') || rest.starts_with('.'))
    {
        return true;
    }
    name.match_indices(tag)
        .any(|(at, _)| name[..at].ends_with('_') && name[at + tag.len()..].starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DIR: &str = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/";
    const ACCESS: &str = "123456789012_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz";

    fn none() -> KeyFilter {
        KeyFilter::default()
    }

    fn skip(reason: SkipReason) -> KeyClass {
        KeyClass::Skip(reason)
    }

    #[test]
    fn access_log_without_and_with_prefix() {
        assert_eq!(
            classify_key(&format!("{DIR}{ACCESS}"), &none()),
            KeyClass::AccessLog
        );
        assert_eq!(
            classify_key(&format!("prod/alb/{DIR}{ACCESS}"), &none()),
            KeyClass::AccessLog
        );
        assert!(classify_key(ACCESS, &none()).is_access_log());
    }

    #[test]
    fn test_file() {
        assert_eq!(
            classify_key("AWSLogs/123456789012/ELBAccessLogTestFile", &none()),
            skip(SkipReason::TestFile)
        );
        assert_eq!(
            classify_key("prefix/AWSLogs/123456789012/ELBAccessLogTestFile", &none()),
            skip(SkipReason::TestFile)
        );
    }

    #[test]
    fn connection_logs_in_all_spellings() {
        for name in [
            // What S3 actually shows.
            "conn_log_123456789012_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz",
            // What the AWS docs write.
            "conn_log.123456789012_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz",
            // Tag in the middle of the name.
            "123456789012_conn_log_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz",
        ] {
            assert_eq!(
                classify_key(&format!("{DIR}{name}"), &none()),
                skip(SkipReason::ConnectionLog),
                "{name}"
            );
        }
    }

    #[test]
    fn health_check_log() {
        let key = format!(
            "{DIR}health_check_log_123456789012_elasticloadbalancing_us-east-1_app.my-lb.50dc6c495c0c9188_20250621T2235Z_10.0.1.15_2xkv1s9d.log.gz"
        );
        assert_eq!(
            classify_key(&key, &none()),
            skip(SkipReason::HealthCheckLog)
        );
    }

    #[test]
    fn network_load_balancer() {
        let key = format!(
            "{DIR}123456789012_elasticloadbalancing_us-east-1_net.my-nlb.1234567890abcdef_20250621T2235Z_fe1b1e1b.log.gz"
        );
        assert_eq!(
            classify_key(&key, &none()),
            skip(SkipReason::NetworkLoadBalancer)
        );
    }

    #[test]
    fn classic_or_other() {
        let classic = format!(
            "{DIR}123456789012_elasticloadbalancing_us-east-1_my-clb_20250621T2235Z_192.0.2.1_2xkv1s9d.log"
        );
        assert_eq!(
            classify_key(&classic, &none()),
            skip(SkipReason::ClassicOrOther)
        );
        assert_eq!(
            classify_key("notes/readme.txt", &none()),
            skip(SkipReason::ClassicOrOther)
        );
        assert_eq!(classify_key("", &none()), skip(SkipReason::ClassicOrOther));
        assert_eq!(
            classify_key("dir/", &none()),
            skip(SkipReason::ClassicOrOther)
        );
        // `_app.` in a folder name does not make the object an ALB log.
        assert_eq!(
            classify_key("team_app.logs/readme.log.gz", &none()),
            skip(SkipReason::ClassicOrOther)
        );
    }

    #[test]
    fn not_gzip_log() {
        let plain = format!("{DIR}{}", ACCESS.trim_end_matches(".gz"));
        assert_eq!(classify_key(&plain, &none()), skip(SkipReason::NotGzipLog));
        let partial = format!("{DIR}{ACCESS}.tmp");
        assert_eq!(
            classify_key(&partial, &none()),
            skip(SkipReason::NotGzipLog)
        );
    }

    fn under(prefix: &str) -> KeyFilter {
        KeyFilter {
            prefix: LogPrefix::parse(prefix).expect("valid prefix"),
            ..KeyFilter::default()
        }
    }

    fn accounts(list: &str) -> KeyFilter {
        KeyFilter {
            accounts: AllowedAccounts::parse(list).expect("valid accounts"),
            ..KeyFilter::default()
        }
    }

    #[test]
    fn prefix_and_suffix_filters() {
        let key = format!("prod/{DIR}{ACCESS}");
        assert_eq!(classify_key(&key, &under("prod/")), KeyClass::AccessLog);
        assert_eq!(
            classify_key(&key, &under("staging/")),
            skip(SkipReason::PrefixMismatch)
        );

        let suffix = |s: &str| KeyFilter {
            suffix: Some(s.to_owned()),
            ..KeyFilter::default()
        };
        assert_eq!(classify_key(&key, &suffix(".log.gz")), KeyClass::AccessLog);
        assert_eq!(
            classify_key(&key, &suffix(".json")),
            skip(SkipReason::SuffixMismatch)
        );

        // The operator filter is checked before the file-name rules.
        assert_eq!(
            classify_key("AWSLogs/1/ELBAccessLogTestFile", &under("staging")),
            skip(SkipReason::PrefixMismatch)
        );
    }

    #[test]
    fn a_prefix_is_a_folder_with_or_without_its_slash() {
        let key = format!("prod/{DIR}{ACCESS}");
        for given in ["prod", "prod/"] {
            let filter = under(given);
            assert_eq!(filter.prefix.as_str(), "prod/", "{given}");
            assert_eq!(classify_key(&key, &filter), KeyClass::AccessLog, "{given}");
            // `prod` never covers a sibling folder that merely starts the same way.
            assert_eq!(
                classify_key(&format!("production/{DIR}{ACCESS}"), &filter),
                skip(SkipReason::PrefixMismatch),
                "{given}"
            );
        }
        assert_eq!(under("").prefix, LogPrefix::default());
        assert_eq!(under("a/b").prefix.as_str(), "a/b/");
    }

    #[test]
    fn a_parent_folder_covers_several_load_balancers() {
        let filter = under("logs");
        for alb in ["logs/web", "logs/api", "logs/eu/shop", "logs"] {
            assert_eq!(
                classify_key(&format!("{alb}/{DIR}{ACCESS}"), &filter),
                KeyClass::AccessLog,
                "{alb}"
            );
        }
        assert_eq!(
            classify_key(&format!("other/{DIR}{ACCESS}"), &filter),
            skip(SkipReason::PrefixMismatch)
        );
        assert_eq!(
            classify_key(&format!("{DIR}{ACCESS}"), &filter),
            skip(SkipReason::PrefixMismatch)
        );
    }

    #[test]
    fn prefixes_that_cannot_be_a_load_balancers_are_refused() {
        assert_eq!(LogPrefix::parse("/prod"), Err(LogPrefixError::LeadingSlash));
        assert_eq!(
            LogPrefix::parse("prod//web"),
            Err(LogPrefixError::EmptyFolder)
        );
        for with_aws_logs in ["prod/AWSLogs/", "AWSLogs", "prod/AWSLogs/123456789012"] {
            assert_eq!(
                LogPrefix::parse(with_aws_logs),
                Err(LogPrefixError::ContainsAwsLogs),
                "{with_aws_logs}"
            );
        }
        let message = LogPrefixError::ContainsAwsLogs.to_string();
        assert!(message.contains("ALBWATCH_ALLOWED_ACCOUNTS"), "{message}");
    }

    #[test]
    fn accounts_are_read_from_the_key_folder() {
        assert_eq!(log_account(&format!("{DIR}{ACCESS}")), Some("123456789012"));
        assert_eq!(
            log_account(&format!("logs/web/{DIR}{ACCESS}")),
            Some("123456789012")
        );
        assert_eq!(
            log_account("AWSLogs/123456789012/ELBAccessLogTestFile"),
            Some("123456789012")
        );
        assert_eq!(log_account(ACCESS), None);
        assert_eq!(log_account("AWSLogs/123456789012"), None);
        assert_eq!(log_account("myAWSLogs/123456789012/x"), None);
    }

    #[test]
    fn only_allowed_accounts_pass() {
        let filter = accounts("123456789012,210987654321");
        let other = DIR.replace("123456789012", "999999999999");
        assert_eq!(
            classify_key(&format!("{DIR}{ACCESS}"), &filter),
            KeyClass::AccessLog
        );
        assert_eq!(
            classify_key(&format!("central/{other}{ACCESS}"), &filter),
            skip(SkipReason::AccountNotAllowed)
        );
        // A key outside any AWSLogs/{account}/ folder has no account to allow.
        assert_eq!(
            classify_key(ACCESS, &filter),
            skip(SkipReason::AccountNotAllowed)
        );
        // Only the folder after the log prefix counts.
        let both = KeyFilter {
            prefix: LogPrefix::parse("logs").unwrap(),
            ..filter
        };
        assert_eq!(
            classify_key(&format!("logs/web/{DIR}{ACCESS}"), &both),
            KeyClass::AccessLog
        );
        // Without a list, any account passes.
        assert_eq!(
            classify_key(&format!("{other}{ACCESS}"), &none()),
            KeyClass::AccessLog
        );
    }

    #[test]
    fn account_lists_are_strict() {
        assert_eq!(AllowedAccounts::parse(""), Ok(None));
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "123456789012,",
            "123456789012, 210987654321",
            ",123456789012",
        ] {
            assert!(
                matches!(
                    AllowedAccounts::parse(bad),
                    Err(AllowedAccountsError::NotAnAccount(_))
                ),
                "{bad}"
            );
        }
        let eleven = ["123456789012"; MAX_ALLOWED_ACCOUNTS + 1].join(",");
        assert_eq!(
            AllowedAccounts::parse(&eleven),
            Err(AllowedAccountsError::TooMany(MAX_ALLOWED_ACCOUNTS + 1))
        );
    }

    /// The `AllowedPattern` of the deployment template's parameter `name`.
    fn template_pattern(name: &str) -> String {
        let template = include_str!("../../template.yaml");
        let (_, block) = template
            .split_once(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("template.yaml has no parameter {name}"));
        block
            .lines()
            .take_while(|line| line.starts_with("    "))
            .find_map(|line| line.trim().strip_prefix("AllowedPattern: "))
            .unwrap_or_else(|| panic!("parameter {name} has no AllowedPattern"))
            .trim_matches('\'')
            .to_owned()
    }

    /// The template's `LogPrefix` rule: its `AWSLogs` lookahead (which the `regex` crate does
    /// not support) checked as a substring test, the rest as a regex.
    fn template_accepts_prefix(prefix: &str) -> bool {
        static FOLDERS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            let pattern = template_pattern("LogPrefix");
            let lookahead = format!("^(?!.*{AWS_LOGS_FOLDER})");
            let rest = pattern
                .strip_prefix(&lookahead)
                .unwrap_or_else(|| panic!("LogPrefix's pattern starts with {lookahead}"));
            regex::Regex::new(&format!("^{rest}")).expect("LogPrefix's pattern compiles")
        });
        !prefix.contains(AWS_LOGS_FOLDER) && FOLDERS.is_match(prefix)
    }

    fn template_accepts_accounts(list: &str) -> bool {
        static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(&template_pattern("AllowedAccounts"))
                .expect("AllowedAccounts' pattern compiles")
        });
        PATTERN.is_match(list)
    }

    #[test]
    fn the_template_validates_as_the_ingest_does() {
        for prefix in [
            "",
            "prod",
            "prod/",
            "a/b",
            "a/b/",
            "my logs",
            "/prod",
            "prod//",
            "a//b",
            "/",
            "AWSLogs",
            "x/AWSLogs/",
            "xAWSLogsy",
        ] {
            assert_eq!(
                template_accepts_prefix(prefix),
                LogPrefix::parse(prefix).is_ok(),
                "{prefix:?}"
            );
        }
        let ids = |n: usize| vec!["123456789012"; n].join(",");
        for list in [
            String::new(),
            ids(1),
            ids(MAX_ALLOWED_ACCOUNTS),
            ids(MAX_ALLOWED_ACCOUNTS + 1),
            "123456789012, 210987654321".to_owned(),
            "123456789012,".to_owned(),
            "1234".to_owned(),
        ] {
            assert_eq!(
                template_accepts_accounts(&list),
                AllowedAccounts::parse(&list).is_ok(),
                "{list:?}"
            );
        }
    }

    #[test]
    fn reasons_have_distinct_labels_and_messages() {
        let all = [
            SkipReason::PrefixMismatch,
            SkipReason::SuffixMismatch,
            SkipReason::AccountNotAllowed,
            SkipReason::TestFile,
            SkipReason::ConnectionLog,
            SkipReason::HealthCheckLog,
            SkipReason::NetworkLoadBalancer,
            SkipReason::ClassicOrOther,
            SkipReason::NotGzipLog,
        ];
        let labels: std::collections::HashSet<_> = all.iter().map(|r| r.as_str()).collect();
        let messages: std::collections::HashSet<_> = all.iter().map(ToString::to_string).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(messages.len(), all.len());
        assert_eq!(SkipReason::TestFile.to_string(), "ELB access-log test file");
    }

    proptest! {
        #[test]
        fn classify_never_panics(key in any::<String>(), p in any::<String>(), s in any::<String>(), a in any::<String>()) {
            let filter = KeyFilter {
                prefix: LogPrefix::parse(&p).unwrap_or_default(),
                suffix: Some(s),
                accounts: AllowedAccounts::parse(&a).unwrap_or(None),
            };
            let _ = classify_key(&key, &filter);
        }

        #[test]
        fn prefix_filter_rejects_exactly_keys_outside_the_folder(key in "[a-z_./]{0,40}", p in "[a-z_.]{1,3}(/[a-z_.]{1,3})?/?") {
            let class = classify_key(&key, &under(&p));
            let folder = format!("{}/", p.trim_end_matches('/'));
            prop_assert_eq!(
                class == KeyClass::Skip(SkipReason::PrefixMismatch),
                !key.starts_with(&folder)
            );
        }

        #[test]
        fn template_and_ingest_agree_on_prefixes(p in prop_oneof!["[ab/ ]{0,8}", "[ab/]{0,4}AWSLogs[ab/]{0,4}"]) {
            prop_assert_eq!(template_accepts_prefix(&p), LogPrefix::parse(&p).is_ok());
        }

        #[test]
        fn template_and_ingest_agree_on_accounts(
            list in prop_oneof![
                "[0-9, a]{0,30}",
                proptest::collection::vec("[0-9]{11,13}", 0..13).prop_map(|ids| ids.join(",")),
            ]
        ) {
            prop_assert_eq!(template_accepts_accounts(&list), AllowedAccounts::parse(&list).is_ok());
        }
    }
}
