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

use std::fmt;

use tracing::warn;

/// Environment variable holding the required key prefix (empty or unset: no filter).
pub const PREFIX_ENV: &str = "ALBWATCH_KEY_PREFIX";
/// Environment variable holding the required key suffix (empty or unset: no filter).
pub const SUFFIX_ENV: &str = "ALBWATCH_KEY_SUFFIX";

/// File name of the object ELB writes when access logging is enabled.
const TEST_FILE_NAME: &str = "ELBAccessLogTestFile";

/// Operator-configured restriction on which keys are processed.
///
/// Matching is a plain byte-wise `starts_with` / `ends_with` on the decoded key, the same
/// semantics as S3 event notification filter rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Keys must start with this, if set.
    pub prefix: Option<String>,
    /// Keys must end with this, if set.
    pub suffix: Option<String>,
}

impl KeyFilter {
    /// Builds a filter; an empty string means "no filter" for that side.
    #[must_use]
    pub fn new(prefix: Option<String>, suffix: Option<String>) -> Self {
        Self {
            prefix: prefix.filter(|p| !p.is_empty()),
            suffix: suffix.filter(|s| !s.is_empty()),
        }
    }

    /// Reads [`PREFIX_ENV`] and [`SUFFIX_ENV`]; unset or empty means no filter.
    ///
    /// A value that is not valid UTF-8 can never match a key, so it is ignored with a warning
    /// rather than silently filtering out every object.
    #[must_use]
    pub fn from_env() -> Self {
        Self::new(env_string(PREFIX_ENV), env_string(SUFFIX_ENV))
    }
}

fn env_string(name: &'static str) -> Option<String> {
    let value = std::env::var_os(name)?;
    match value.into_string() {
        Ok(s) => Some(s),
        Err(raw) => {
            warn!(
                var = name,
                value = %raw.to_string_lossy(),
                "key filter variable is not valid UTF-8; ignoring it"
            );
            None
        }
    }
}

/// Why a key is not processed as an ALB access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Key does not start with the configured prefix.
    PrefixMismatch,
    /// Key does not end with the configured suffix.
    SuffixMismatch,
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
/// Checks run in this order and the first match wins: operator filter (prefix, then suffix),
/// test file, connection log, health check log, NLB, not `_app.`, not `.log.gz`.
#[must_use]
pub fn classify_key(key: &str, filter: &KeyFilter) -> KeyClass {
    if let Some(prefix) = &filter.prefix
        && !key.starts_with(prefix.as_str())
    {
        return KeyClass::Skip(SkipReason::PrefixMismatch);
    }
    if let Some(suffix) = &filter.suffix
        && !key.ends_with(suffix.as_str())
    {
        return KeyClass::Skip(SkipReason::SuffixMismatch);
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

    #[test]
    fn prefix_and_suffix_filters() {
        let key = format!("prod/{DIR}{ACCESS}");
        let prefix = KeyFilter::new(Some("prod/".into()), None);
        assert_eq!(classify_key(&key, &prefix), KeyClass::AccessLog);
        let other = KeyFilter::new(Some("staging/".into()), None);
        assert_eq!(classify_key(&key, &other), skip(SkipReason::PrefixMismatch));

        let suffix = KeyFilter::new(None, Some(".log.gz".into()));
        assert_eq!(classify_key(&key, &suffix), KeyClass::AccessLog);
        let wrong = KeyFilter::new(None, Some(".json".into()));
        assert_eq!(classify_key(&key, &wrong), skip(SkipReason::SuffixMismatch));

        // The operator filter is checked before the file-name rules.
        assert_eq!(
            classify_key("AWSLogs/1/ELBAccessLogTestFile", &other),
            skip(SkipReason::PrefixMismatch)
        );
    }

    #[test]
    fn empty_filter_values_mean_none() {
        let f = KeyFilter::new(Some(String::new()), Some(String::new()));
        assert_eq!(f, KeyFilter::default());
    }

    #[test]
    fn reasons_have_distinct_labels_and_messages() {
        let all = [
            SkipReason::PrefixMismatch,
            SkipReason::SuffixMismatch,
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
        fn classify_never_panics(key in any::<String>(), p in any::<String>(), s in any::<String>()) {
            let _ = classify_key(&key, &KeyFilter::new(Some(p), Some(s)));
        }

        #[test]
        fn prefix_filter_rejects_exactly_non_matching(key in "[a-z_./]{0,40}", p in "[a-z_./]{1,5}") {
            let class = classify_key(&key, &KeyFilter::new(Some(p.clone()), None));
            prop_assert_eq!(
                class == KeyClass::Skip(SkipReason::PrefixMismatch),
                !key.starts_with(&p)
            );
        }
    }
}
