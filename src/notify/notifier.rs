//! Delivering notifications: the [`Notifier`] port and what can go wrong.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::notification::Notification;

/// Where a notification goes. Each configured route has its own entries in a key's outbox, so
/// a failure on one route never repeats a delivery on another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Slack (webhook or bot), or the log when no Slack destination is configured.
    #[default]
    Slack,
    /// An SNS topic (paging, e-mail, SMS, chat integrations).
    Sns,
}

/// The metric counting Slack notifications Slack refused or that had nowhere to go.
pub const SLACK_REJECTED_METRIC: &str = "SlackRejected";
/// The metric counting notifications the SNS topic refused (deleted topic, no permission).
pub const SNS_REJECTED_METRIC: &str = "SnsRejected";

impl Route {
    /// The metric counting this route's refused notifications (an alarm watches each).
    #[must_use]
    pub fn rejected_metric(self) -> &'static str {
        match self {
            Self::Slack => SLACK_REJECTED_METRIC,
            Self::Sns => SNS_REJECTED_METRIC,
        }
    }
}

/// The Slack message a bot posted for an incident: where its later changes go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedMessage {
    /// Channel ID.
    pub channel: String,
    /// The message's `ts`.
    pub ts: String,
}

/// What became of one key's notifications delivered to its incident message.
#[derive(Debug)]
pub struct IncidentOutcome {
    /// How many of the notifications, in order, were delivered.
    pub delivered: usize,
    /// The incident's message now: posted or kept, `None` once the incident is resolved.
    pub message: Option<PostedMessage>,
    /// Why the rest were not delivered.
    pub error: Option<DeliveryError>,
}

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

    /// Whether this destination keeps one message per incident (a Slack bot): the alerter
    /// then delivers each key with [`notify_incident`](Self::notify_incident) instead of one
    /// message per load balancer, and queues live updates.
    fn keeps_incident_messages(&self) -> bool {
        false
    }

    /// Delivers one key's `notifications`, in order, to its incident `message` (`None` when
    /// none was posted yet). By default one [`notify`](Self::notify) for all of them, skipping
    /// live updates (which only an incident message can show).
    fn notify_incident(
        &self,
        load_balancer: &str,
        message: Option<PostedMessage>,
        notifications: &[Notification],
    ) -> impl Future<Output = IncidentOutcome> + Send
    where
        Self: Sync,
    {
        let posts: Vec<Notification> = notifications
            .iter()
            .filter(|n| !n.update)
            .cloned()
            .collect();
        let all = notifications.len();
        async move {
            let result = if posts.is_empty() {
                Ok(())
            } else {
                self.notify(load_balancer, &posts).await
            };
            match result {
                Ok(()) => IncidentOutcome {
                    delivered: all,
                    message,
                    error: None,
                },
                Err(e) => IncidentOutcome {
                    delivered: 0,
                    message,
                    error: Some(e),
                },
            }
        }
    }
}

/// Where an invocation gets its notifier. Building one can fail (a secret that cannot be read,
/// a malformed webhook): that is a failed delivery, retried later from the state store, never
/// a failed batch.
pub trait NotifierSource: Sync {
    /// The notifier built.
    type Notifier: Notifier + Sync;

    /// The notifier of `route`, whose posts give up at `deadline`.
    fn notifier(
        &self,
        route: Route,
        deadline: crate::retry::Deadline,
    ) -> impl Future<Output = Result<Self::Notifier, NotifierUnavailable>> + Send;

    /// The destination of `route` refused (revoked webhook, archived channel): build its
    /// notifier again next time, re-reading its secret, which may have been rotated since.
    fn invalidate(&self, _route: Route) {}
}

/// A notifier that is always there (the CLI, tests), as a [`NotifierSource`]; the deadline is
/// the notifier's own.
#[derive(Debug, Clone, Copy)]
pub struct Ready<'a, N>(pub &'a N);

impl<'a, N: Notifier + Sync> NotifierSource for Ready<'a, N> {
    type Notifier = &'a N;

    async fn notifier(
        &self,
        _route: Route,
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

    fn keeps_incident_messages(&self) -> bool {
        (**self).keeps_incident_messages()
    }

    fn notify_incident(
        &self,
        load_balancer: &str,
        message: Option<PostedMessage>,
        notifications: &[Notification],
    ) -> impl Future<Output = IncidentOutcome> + Send
    where
        Self: Sync,
    {
        (**self).notify_incident(load_balancer, message, notifications)
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
