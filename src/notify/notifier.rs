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

/// Where an invocation gets its notifier. Building one can fail (a secret that cannot be read,
/// a malformed webhook): that is a failed delivery, retried later from the state store, never
/// a failed batch.
pub trait NotifierSource: Sync {
    /// The notifier built.
    type Notifier: Notifier + Sync;

    /// A notifier whose posts give up at `deadline`.
    fn notifier(
        &self,
        deadline: crate::retry::Deadline,
    ) -> impl Future<Output = Result<Self::Notifier, NotifierUnavailable>> + Send;

    /// Slack refused the destination (revoked webhook, archived channel): build the notifier
    /// again next time, re-reading its secret, which may have been rotated since.
    fn invalidate(&self) {}
}

/// A notifier that is always there (the CLI, tests), as a [`NotifierSource`]; the deadline is
/// the notifier's own.
#[derive(Debug, Clone, Copy)]
pub struct Ready<'a, N>(pub &'a N);

impl<'a, N: Notifier + Sync> NotifierSource for Ready<'a, N> {
    type Notifier = &'a N;

    async fn notifier(
        &self,
        _deadline: crate::retry::Deadline,
    ) -> Result<&'a N, NotifierUnavailable> {
        Ok(self.0)
    }
}

impl<T: Notifier + Sync> Notifier for &T {
    fn post(&self, payload: &Value) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).post(payload)
    }

    fn notify(
        &self,
        load_balancer: &str,
        notifications: &[Notification],
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send
    where
        Self: Sync,
    {
        (**self).notify(load_balancer, notifications)
    }
}

/// No notifier could be built. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[error("no notifier: {0}")]
pub struct NotifierUnavailable(pub String);

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
