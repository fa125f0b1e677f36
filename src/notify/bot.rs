//! The Slack bot destination (Web API, a bot token with `chat:write`): one message per
//! incident, posted once with `chat.postMessage` and edited with `chat.update` as the incident
//! evolves and when it resolves; escalations, reminders and the resolution also go as thread
//! replies, so the thread's followers are notified. The message's `ts` lives in the key's
//! ledger ([`PostedMessage`]), so any environment edits the same message.
//!
//! Rate limits: every call retries `429` after its `Retry-After` (capped) within the delivery
//! deadline; what is still undelivered stays pending in the ledger and is retried later, so a
//! storm of 429s delays messages but loses none. Live updates are coalesced in the ledger and
//! decided at most once per [`UPDATE_INTERVAL`] of event time per incident.
//!
//! The token is a credential: it lives in [`BotToken`] (redacted `Debug`/`Display`), goes only
//! in the `Authorization: Bearer` header, and is removed from any text kept from a response.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::http::{self, DeliveryPolicy, Outcome};
use super::notification::{Notification, Status};
use super::notifier::{AttemptFailure, DeliveryError, IncidentOutcome, Notifier, PostedMessage};
use super::slack::{render_incident, render_thread_reply};
use super::webhook::{
    SECRET_ARN_ENV, SecretSource, WebhookConfigError, WebhookUrl, url_from_secret,
};
use crate::retry::Deadline;

/// Environment variable holding the bot token itself (else the Slack secret's `bot_token`).
pub const BOT_TOKEN_ENV: &str = "ALBWATCH_SLACK_BOT_TOKEN";
/// Environment variable holding the channel ID the bot posts to.
pub const CHANNEL_ENV: &str = "ALBWATCH_SLACK_CHANNEL";
/// Environment variable overriding the Web API's base URL (tests).
pub const API_URL_ENV: &str = "ALBWATCH_SLACK_API_URL";
/// The Web API's base URL; the method name is appended (`…/chat.postMessage`).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Live updates of one incident's message: at most one per this much event time.
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(60);
/// The JSON key of the bot token in the Slack secret.
pub const SECRET_TOKEN_KEY: &str = "bot_token";

/// Web API errors that refuse the destination itself (token or channel): retrying cannot help
/// until an operator fixes it, so they are loud (`SlackRejected`).
pub const DESTINATION_ERRORS: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "no_permission",
    "restricted_action",
    "team_access_not_granted",
];
/// Web API errors of `chat.update` meaning the message is gone or can no longer be edited: a
/// new message is posted instead.
pub const MESSAGE_GONE: &[&str] = &[
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
];

/// Why the bot could not be configured. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum BotConfigError {
    /// The token is empty or contains whitespace.
    #[error("invalid Slack bot token (empty or containing whitespace)")]
    InvalidToken,
    /// A token without a channel.
    #[error("{CHANNEL_ENV} must be set with a bot token (a channel ID such as C0123456789)")]
    MissingChannel,
    /// Not a channel ID.
    #[error("{CHANNEL_ENV} must be a channel ID such as C0123456789, not a #name")]
    InvalidChannel,
    /// The API URL is malformed or not allowed.
    #[error("invalid {API_URL_ENV}: must be https (http only for 127.0.0.1 or localhost)")]
    InvalidApiUrl,
    /// The secret could not be read, or the HTTP client built.
    #[error(transparent)]
    Secret(#[from] WebhookConfigError),
}

/// A Slack bot token. `Debug` and `Display` print `BotToken(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Validates `token` (trimmed): non-empty, no whitespace.
    pub fn parse(token: &str) -> Result<Self, BotConfigError> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BotConfigError::InvalidToken);
        }
        Ok(Self(token.to_owned()))
    }

    fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

/// Whether `channel` looks like a channel ID (`C…`, `G…` or `D…`, upper-case letters and
/// digits), which `chat.update` requires.
#[must_use]
pub fn is_channel_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The bot's settings from [`BOT_TOKEN_ENV`] (else the `bot_token` of the secret named by
/// [`SECRET_ARN_ENV`]), [`CHANNEL_ENV`] and [`API_URL_ENV`]. `Ok(None)` without a token.
pub async fn bot_from_env(
    secrets: &impl SecretSource,
    policy: DeliveryPolicy,
) -> Result<Option<SlackBot>, BotConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let token = match var(BOT_TOKEN_ENV) {
        Some(t) => Some(t),
        None => match var(SECRET_ARN_ENV) {
            Some(arn) => token_from_secret(&secrets.secret_string(arn.trim()).await?),
            None => None,
        },
    };
    let Some(token) = token else {
        return Ok(None);
    };
    let channel = var(CHANNEL_ENV).ok_or(BotConfigError::MissingChannel)?;
    let api = var(API_URL_ENV).unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    SlackBot::new(BotToken::parse(&token)?, &channel, &api, policy).map(Some)
}

/// What the Slack secret holds, read as the alerter reads it. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackSecret {
    /// A `bot_token` (the alerter posts as the bot when a channel is set).
    BotToken(BotToken),
    /// A webhook URL, raw or as JSON `url` / `webhook_url`.
    Webhook(WebhookUrl),
}

/// Reads a Slack secret's value (`secret_id` only names it in errors): its `bot_token` if it
/// has one, else the webhook URL. Errors never contain the value.
///
/// # Errors
/// The token or URL is invalid, or the secret holds neither.
pub fn parse_slack_secret(secret_id: &str, value: &str) -> Result<SlackSecret, BotConfigError> {
    if let Some(token) = token_from_secret(value) {
        return BotToken::parse(&token).map(SlackSecret::BotToken);
    }
    Ok(SlackSecret::Webhook(url_from_secret(secret_id, value)?))
}

/// The `bot_token` of a JSON secret, if it has one.
fn token_from_secret(value: &str) -> Option<String> {
    let json: serde_json::Map<String, Value> = serde_json::from_str(value.trim()).ok()?;
    json.get(SECRET_TOKEN_KEY)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Posts and edits incident messages through the Web API. Cheap to clone; build it once.
#[derive(Debug, Clone)]
pub struct SlackBot {
    client: reqwest::Client,
    token: BotToken,
    channel: String,
    api_url: String,
    policy: DeliveryPolicy,
    deadline: Option<Instant>,
}

impl SlackBot {
    /// A bot posting to `channel` (an ID) through the Web API at `api_url`.
    pub fn new(
        token: BotToken,
        channel: &str,
        api_url: &str,
        policy: DeliveryPolicy,
    ) -> Result<Self, BotConfigError> {
        let channel = channel.trim();
        if !is_channel_id(channel) {
            return Err(BotConfigError::InvalidChannel);
        }
        let api_url = api_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(api_url).map_err(|_| BotConfigError::InvalidApiUrl)?;
        let local = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        if !(parsed.scheme() == "https" || parsed.scheme() == "http" && local) {
            return Err(BotConfigError::InvalidApiUrl);
        }
        let client = http::client()
            .map_err(|e| WebhookConfigError::HttpClient(e.without_url().to_string()))?;
        Ok(Self {
            client,
            token,
            channel: channel.to_owned(),
            api_url: api_url.to_owned(),
            policy,
            deadline: None,
        })
    }

    /// A copy whose calls stop retrying at `deadline`.
    #[must_use]
    pub fn with_deadline(&self, deadline: Deadline) -> Self {
        Self {
            deadline: deadline.instant(),
            ..self.clone()
        }
    }

    /// Posts `payload` (`text` and `blocks`) to the channel, in the thread of `thread_ts` if
    /// given; returns the message.
    pub async fn post_message(
        &self,
        payload: &Value,
        thread_ts: Option<&str>,
    ) -> Result<PostedMessage, DeliveryError> {
        let mut body = payload.clone();
        body["channel"] = json!(self.channel);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body).await?;
        let field = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_owned);
        match (field("channel"), field("ts")) {
            (Some(channel), Some(ts)) => Ok(PostedMessage { channel, ts }),
            _ => Err(DeliveryError::Rejected {
                status: 200,
                body: "chat.postMessage answered without channel and ts".to_owned(),
            }),
        }
    }

    /// Replaces `message`'s `text` and `blocks` with `payload`'s.
    pub async fn update_message(
        &self,
        message: &PostedMessage,
        payload: &Value,
    ) -> Result<(), DeliveryError> {
        let mut body = payload.clone();
        body["channel"] = json!(message.channel);
        body["ts"] = json!(message.ts);
        self.call("chat.update", &body).await.map(drop)
    }

    /// Edits the incident's message to show `n`; posts a new one when there is none or the old
    /// one is gone. Returns the message now showing it.
    async fn show(
        &self,
        load_balancer: &str,
        message: Option<PostedMessage>,
        n: &Notification,
    ) -> Result<PostedMessage, DeliveryError> {
        let payload = render_incident(load_balancer, n);
        if let Some(m) = message {
            match self.update_message(&m, &payload).await {
                Ok(()) => return Ok(m),
                Err(DeliveryError::Rejected { body, .. }) if MESSAGE_GONE.contains(&&*body) => {
                    warn!(load_balancer, error = %body, "the incident's message is gone; posting a new one");
                }
                Err(e) => return Err(e),
            }
        }
        self.post_message(&payload, None).await
    }

    /// One call of `method` with `body`, retried within the deadline; the answer when `ok`.
    ///
    /// Slack refusing the message itself (not the token or channel: `invalid_blocks`,
    /// `msg_too_long`…) is answered by sending it again as plain text without its blocks, so a
    /// message Slack dislikes never blocks the incident's later notifications.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        match self.call_once(method, body).await {
            Err(DeliveryError::Rejected { status, body: code })
                if !DESTINATION_ERRORS.contains(&code.as_str())
                    && !MESSAGE_GONE.contains(&code.as_str())
                    && body.get("blocks").is_some() =>
            {
                warn!(method, status, error = %code, "Slack refused the message's blocks; sending its text alone");
                let mut plain = body.clone();
                if let Some(fields) = plain.as_object_mut() {
                    fields.remove("blocks");
                }
                self.call_once(method, &plain).await
            }
            other => other,
        }
    }

    async fn call_once(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + self.policy.default_budget);
        let url = format!("{}/{method}", self.api_url);
        // A new message must not be posted twice: after a timeout or a server error it may
        // already be in the channel, so it is tried again only on the ledger's schedule.
        let posts = method == "chat.postMessage";
        let answer = http::retry_until(&self.policy, deadline, method, |timeout| {
            self.attempt(&url, body, timeout, posts)
        })
        .await?;
        debug!(method, "Slack Web API call done");
        Ok(answer)
    }

    async fn attempt(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
        posts: bool,
    ) -> Outcome<Value> {
        let secret = self.token.expose_secret();
        let sent = self
            .client
            .post(url)
            .bearer_auth(secret)
            .timeout(timeout)
            .json(body)
            .send()
            .await;
        // Retry, unless this posts a message and Slack may have received it.
        let maybe_landed = |failure: AttemptFailure, retry_after| {
            let surely_not_sent = matches!(failure, AttemptFailure::Connect(_));
            if posts && !surely_not_sent {
                Outcome::Stop(failure)
            } else {
                Outcome::Retry {
                    failure,
                    retry_after,
                }
            }
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => return maybe_landed(http::classify(e, secret), None),
        };
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let bytes = match http::body(response).await {
            Ok(b) => b,
            Err(e) => return maybe_landed(http::classify(e, secret), None),
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Outcome::Retry {
                failure: AttemptFailure::RateLimited,
                retry_after,
            };
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            let failure = AttemptFailure::Status {
                status: status.as_u16(),
                body: http::error_text(&bytes, secret),
            };
            return maybe_landed(failure, retry_after);
        }
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        match answer {
            Some(a) if status.is_success() && a.get("ok") == Some(&Value::Bool(true)) => {
                Outcome::Delivered(a)
            }
            Some(a) => {
                let error = a
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown_error");
                let error = http::error_text(error.as_bytes(), secret);
                if error == "ratelimited" {
                    Outcome::Retry {
                        failure: AttemptFailure::RateLimited,
                        retry_after,
                    }
                } else {
                    Outcome::Rejected {
                        status: status.as_u16(),
                        body: error,
                    }
                }
            }
            None => Outcome::Rejected {
                status: status.as_u16(),
                body: http::error_text(&bytes, secret),
            },
        }
    }
}

impl Notifier for SlackBot {
    /// Posts `payload` as a new message (log-group alerts, which have no incident message).
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        self.post_message(payload, None).await.map(drop)
    }

    fn keeps_incident_messages(&self) -> bool {
        true
    }

    /// Per notification, in order: the first firing one posts the message; later firing ones
    /// edit it (an escalation or reminder also replies in its thread); a resolution edits it
    /// and replies in its thread, and ends it. Stops at the first failure.
    async fn notify_incident(
        &self,
        load_balancer: &str,
        mut message: Option<PostedMessage>,
        notifications: &[Notification],
    ) -> IncidentOutcome {
        for (delivered, n) in notifications.iter().enumerate() {
            let failed = |message, error| IncidentOutcome {
                delivered,
                message,
                error: Some(error),
            };
            if n.update && message.is_none() {
                continue;
            }
            let had_message = message.is_some();
            match self.show(load_balancer, message.clone(), n).await {
                Ok(shown) => message = Some(shown),
                Err(e) => return failed(message, e),
            }
            if let (true, Some(text), Some(m)) = (had_message, render_thread_reply(n), &message) {
                let body = json!({ "text": text, "unfurl_links": false, "unfurl_media": false });
                if let Err(e) = self.post_message(&body, Some(&m.ts)).await {
                    return failed(message, e);
                }
            }
            if n.status == Status::Resolved {
                message = None;
            }
        }
        IncidentOutcome {
            delivered: notifications.len(),
            message,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf";

    #[test]
    fn slack_secrets_are_read_as_the_alerter_reads_them() {
        let url = "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN";
        for value in [
            url.to_owned(),
            format!(r#"{{"url": "{url}"}}"#),
            format!(r#"{{"webhook_url": "{url}"}}"#),
        ] {
            let parsed = parse_slack_secret(ARN, &value).expect("webhook");
            assert!(matches!(&parsed, SlackSecret::Webhook(u) if u.expose_secret() == url));
            assert!(!format!("{parsed:?}").contains("SeCrEtToKeN"));
        }
        let bot = parse_slack_secret(ARN, r#"{"bot_token": "xoxb-SeCrEt", "url": "nope"}"#)
            .expect("bot token first");
        assert!(matches!(&bot, SlackSecret::BotToken(t) if t.expose_secret() == "xoxb-SeCrEt"));
        assert!(!format!("{bot:?}").contains("SeCrEt"));
        for bad in [
            "SeCrEtToKeN",
            r#"{"token": "SeCrEtToKeN"}"#,
            r#"{"bot_token": "Se Cr Et"}"#,
            r#"{"url": "http://hooks.slack.com/SeCrEtToKeN"}"#,
        ] {
            let err = parse_slack_secret(ARN, bad).expect_err(bad);
            assert!(!err.to_string().contains("SeCrEt"), "{err}");
            assert!(!format!("{err:?}").contains("SeCrEt"), "{err:?}");
        }
    }
}
