//! How an `albwatch` run ends: its exit status, one name per meaning (documented in
//! `albwatch --help` and the README).
//!
//! | status | meaning |
//! |---|---|
//! | 0 | everything was read and delivered (or printed) |
//! | 1 | an input could not be read or processed, `parse --strict` found problems, or `doctor` found a step that is wrong |
//! | 2 | usage: bad arguments or configuration (clap uses 2 for its own usage errors too) |
//! | 3 | delivery failed: records or notifications could not be delivered |

use std::process::ExitCode;

use crate::alert::config::AlertConfigError;
use crate::cli::aws::AwsSetupError;
use crate::cli::consume::ConsumeError;
use crate::cli::history::HistoryError;
use crate::cwlogs::patterns::PatternError;
use crate::ingest::config::IngestConfigError;
use crate::notify::bot::BotConfigError;
use crate::notify::webhook::WebhookConfigError;

/// The exit status of a subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything was read and delivered (or printed).
    Success,
    /// 1: an input could not be read or processed, `parse --strict` found problems, or `doctor`
    /// found a step that is wrong.
    Failed,
    /// 2: bad arguments or configuration.
    Usage,
    /// 3: records or notifications could not be delivered.
    Undelivered,
}

/// The exit statuses, for `--help`.
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 ok; 1 an input could not be read or processed \
(or parse --strict found problems); 2 bad arguments or configuration; 3 delivery failed \
(Kinesis, Slack or SNS).";

impl Exit {
    /// Prints `error` with its causes on one line (`albwatch: outer: inner`) and returns its
    /// status: [`Exit::Usage`] for a configuration error, [`Exit::Failed`] otherwise.
    pub fn report(error: &anyhow::Error) -> Self {
        eprintln!("albwatch: {error:#}");
        if is_usage(error) {
            Self::Usage
        } else {
            Self::Failed
        }
    }
}

/// Whether `error` is a configuration (usage) error: a setting that cannot work.
fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.is::<AlertConfigError>()
            || e.is::<PatternError>()
            || e.is::<IngestConfigError>()
            || e.is::<BotConfigError>()
            || e.is::<AwsSetupError>()
            || matches!(
                e.downcast_ref::<HistoryError>(),
                Some(HistoryError::Range(_))
            )
            || matches!(
                e.downcast_ref::<ConsumeError>(),
                Some(ConsumeError::Config(_) | ConsumeError::Aws(_))
            )
            || matches!(
                e.downcast_ref::<WebhookConfigError>(),
                Some(WebhookConfigError::InvalidUrl { .. })
            )
    })
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Undelivered => 3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_are_usage_and_the_rest_failures() {
        let config = anyhow::Error::new(AlertConfigError::Invalid {
            var: "ALBWATCH_MIN_5XX",
            reason: "must be at least 1".to_owned(),
        })
        .context("simulate");
        assert_eq!(Exit::report(&config), Exit::Usage);
        let io = anyhow::Error::new(std::io::Error::other("gone")).context("reading x.log");
        assert_eq!(Exit::report(&io), Exit::Failed);
        assert_eq!(ExitCode::from(Exit::Undelivered), ExitCode::from(3));
    }
}
