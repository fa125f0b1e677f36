//! Delivering notifications: the [`Notifier`] port and what can go wrong.

use std::future::Future;

use serde_json::Value;

use super::notification::Notification;

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
