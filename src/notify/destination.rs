//! The destination chosen at start-up: the Slack webhook when one is configured, else
//! [`LogNotifier`], which logs what would have been posted.

use serde_json::Value;
use tracing::{info, warn};

use super::notification::Notification;
use super::notifier::{DeliveryError, Notifier};
use super::webhook::{DeliveryPolicy, SlackWebhook, WebhookConfigError, WebhookUrl};
use crate::retry::Deadline;

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
    /// Logs the payload, and counts it as rejected (`SlackRejected`): a stack without a Slack
    /// destination raises the same alarm as a revoked one.
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        tracing::error!(payload = %payload, "no Slack destination configured: this notification is only logged");
        crate::telemetry::emit_count(SLACK_REJECTED_METRIC, 1);
        Ok(())
    }
}

/// The metric counting notifications Slack refused or that had nowhere to go.
pub const SLACK_REJECTED_METRIC: &str = "SlackRejected";

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
    ) -> Result<Self, WebhookConfigError> {
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
