//! Check 6: the Slack secret resolves and holds what the alerter can use, read with the
//! alerter's own parsing ([`parse_slack_secret`]). Its value is never printed: only what kind
//! of value it is.

use super::Check;
use crate::notify::bot::{SlackSecret, parse_slack_secret};
use crate::notify::webhook::{SecretSource, WebhookConfigError};

/// Reads `secret_id` from `secrets` and checks it parses.
pub async fn check(secrets: &impl SecretSource, secret_id: &str) -> Check {
    let read = secrets.secret_string(secret_id).await;
    evaluate(secret_id, read.as_deref())
}

/// Check 6's line, from what reading the secret gave.
#[must_use]
pub fn evaluate(secret_id: &str, read: Result<&str, &WebhookConfigError>) -> Check {
    const FORMAT_FIX: &str = "store the webhook URL, or JSON with \"url\", \"webhook_url\" or \
         \"bot_token\", without echoing it (README: Slack setup): aws secretsmanager \
         put-secret-value --secret-id ARN --secret-string file://slack.json";
    let value = match read {
        Ok(value) => value,
        Err(e @ WebhookConfigError::SecretFormat { .. }) => {
            return Check::fail(format!("{e}"), FORMAT_FIX);
        }
        Err(e) => {
            return Check::fail(
                format!("Slack secret: {e}"),
                "pass the stack's SlackWebhookSecretArn with --secret-arn; these credentials \
                 need secretsmanager:GetSecretValue on it (and kms:Decrypt on its key)",
            );
        }
    };
    match parse_slack_secret(secret_id, value) {
        Ok(SlackSecret::Webhook(_)) => Check::pass(format!(
            "Slack secret {secret_id} holds a webhook URL (not shown)"
        )),
        Ok(SlackSecret::BotToken(_)) => Check::pass(format!(
            "Slack secret {secret_id} holds a bot token (not shown; the bot posts to the \
             stack's SlackChannel)"
        )),
        Err(e) => Check::fail(format!("Slack secret {secret_id}: {e}"), FORMAT_FIX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf";

    #[test]
    fn lines_never_show_the_secret() {
        let url = "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN";
        let check = evaluate(ARN, Ok(url));
        assert!(check.ok);
        assert!(check.what.contains("webhook URL"), "{check:?}");
        let check = evaluate(ARN, Ok(r#"{"bot_token": "xoxb-SeCrEtToKeN"}"#));
        assert!(check.ok);
        assert!(check.what.contains("bot token"), "{check:?}");
        for bad in [
            "SeCrEtToKeN",
            r#"{"token": "SeCrEtToKeN"}"#,
            "http://example.com/SeCrEtToKeN",
        ] {
            let check = evaluate(ARN, Ok(bad));
            assert!(!check.ok, "{bad}");
            let line = format!("{} {}", check.what, check.fix.unwrap_or_default());
            assert!(!line.contains("SeCrEt"), "{line}");
        }
        let denied = WebhookConfigError::Secret {
            secret_id: ARN.to_owned(),
            message: "AccessDeniedException".to_owned(),
        };
        let check = evaluate(ARN, Err(&denied));
        assert!(!check.ok);
        assert!(check.what.contains("AccessDeniedException"), "{check:?}");
    }
}
