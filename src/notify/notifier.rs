//! Delivering notifications: the [`Notifier`] port, what can go wrong, and the destinations
//! chosen at start-up ([`AnyNotifier`]: the Slack webhook, or logging when none is configured).

use std::future::Future;

use crate::retry::Deadline;
use serde_json::Value;
use tracing::{info, warn};

use super::notification::Notification;
use super::webhook::{ConfigError, DeliveryPolicy, SlackWebhook, WebhookUrl};

/// Something that delivers one rendered Slack payload.
pub trait Notifier {
    /// Delivers `payload` (a webhook body such as [`super::slack::render_payload`] returns).
    fn post(&self, payload: &Value) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Delivers one load balancer's `notifications` as one message: what the alerter calls.
    ///
    /// By default renders them with [`super::slack::render_payload`] and [`post`](Self::post)s
    /// the payload. A notifier that wants the machine form instead (the CLI printing JSON)
    /// overrides it.
    fn notify(
        &self,
        load_balancer: &str,
        notifications: &[Notification],
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send
    where
        Self: Sync,
    {
        let payload = super::slack::render_payload(load_balancer, notifications);
        async move { self.post(&payload).await }
    }
}

/// Why a payload was not delivered. Never contains the webhook URL.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Slack refused the payload or the webhook (400/403/404/410, …); retrying cannot help.
    #[error("Slack rejected the payload (HTTP {status}): {body}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Slack's error text (e.g. `invalid_payload`, `no_service`), truncated.
        body: String,
    },
    /// Retries ran out of attempts or time.
    #[error("gave up posting to Slack after {attempts} attempt(s); last failure: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What went wrong in the last attempt.
        last: AttemptFailure,
    },
}

/// What went wrong in one retryable attempt. Never contains the webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptFailure {
    /// The deadline had passed before the first attempt.
    #[error("not attempted: the deadline had already passed")]
    NotAttempted,
    /// HTTP 429.
    #[error("rate limited (HTTP 429)")]
    RateLimited,
    /// A retryable HTTP status (5xx, 408).
    #[error("HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Response body, truncated.
        body: String,
    },
    /// The request timed out.
    #[error("request timed out")]
    Timeout,
    /// The connection could not be established.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Any other transport error.
    #[error("request failed: {0}")]
    Request(String),
}

/// Logs payloads and notifications as JSON (tracing, INFO) instead of posting them; used when
/// no webhook is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl LogNotifier {
    /// Logs each notification as one JSON line.
    pub fn log_notifications(&self, notifications: &[Notification]) {
        for n in notifications {
            match serde_json::to_string(n) {
                Ok(json) => info!(
                    load_balancer = %n.load_balancer,
                    target = %n.target,
                    notification = %json,
                    "notification (no Slack webhook configured)"
                ),
                Err(e) => warn!(error = %e, "could not serialize a notification"),
            }
        }
    }
}

impl Notifier for LogNotifier {
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        info!(payload = %payload, "Slack payload (no Slack webhook configured)");
        Ok(())
    }
}

/// Either notifier, chosen at start-up ([`Notifier`] is not object-safe, so use this instead of
/// `dyn Notifier`).
#[derive(Debug, Clone)]
pub enum AnyNotifier {
    /// Post to Slack.
    Slack(SlackWebhook),
    /// Log instead.
    Log(LogNotifier),
}

impl AnyNotifier {
    /// Slack when a webhook is configured, logging otherwise.
    pub fn from_webhook(
        url: Option<WebhookUrl>,
        policy: DeliveryPolicy,
    ) -> Result<Self, ConfigError> {
        match url {
            Some(url) => SlackWebhook::with_policy(url, policy).map(Self::Slack),
            None => Ok(Self::Log(LogNotifier)),
        }
    }

    /// A copy whose posts stop retrying at `deadline` (no effect when logging).
    #[must_use]
    pub fn with_deadline(&self, deadline: Deadline) -> Self {
        match self {
            Self::Slack(s) => Self::Slack(s.with_deadline(deadline)),
            Self::Log(l) => Self::Log(*l),
        }
    }
}

impl Notifier for AnyNotifier {
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        match self {
            Self::Slack(s) => s.post(payload).await,
            Self::Log(l) => l.post(payload).await,
        }
    }
}
