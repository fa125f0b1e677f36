//! The destinations chosen at start-up: on the Slack route a bot (token and channel), else
//! the incoming webhook, else [`LogNotifier`], which logs what would have been posted; an SNS
//! topic on its own route.

use serde_json::Value;
use tracing::{info, warn};

use super::bot::{BOT_TOKEN_ENV, CHANNEL_ENV, SlackBot, bot_from_env};
use super::http::DeliveryPolicy;
use super::notification::Notification;
use super::notifier::{
    DeliveryError, IncidentOutcome, Notifier, NotifierUnavailable, PostedMessage, Route,
    SLACK_REJECTED_METRIC,
};
use super::sns::{SnsTopic, TOPIC_ARN_ENV};
use super::webhook::{
    SECRET_ARN_ENV, SecretSource, SlackWebhook, URL_ENV, WebhookConfigError, WebhookUrl,
    webhook_from_env,
};
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

/// The routes the environment configures, and whether the Slack route keeps one message per
/// incident (a bot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every notification is queued once per route.
    pub routes: Vec<Route>,
    /// A channel is set: the Slack route is a bot, which wants live updates.
    pub incident_messages: bool,
}

impl Plan {
    /// From the process environment.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|v| std::env::var(v).ok())
    }

    /// From `lookup` (a variable's value, if set): SNS when [`TOPIC_ARN_ENV`] is set; Slack when
    /// any Slack variable is set, or when nothing else is (it is then logged, and alarmed).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        let sns = set(TOPIC_ARN_ENV);
        let slack = [BOT_TOKEN_ENV, CHANNEL_ENV, URL_ENV, SECRET_ARN_ENV]
            .into_iter()
            .any(set);
        let mut routes = Vec::new();
        if slack || !sns {
            routes.push(Route::Slack);
        }
        if sns {
            routes.push(Route::Sns);
        }
        Self {
            routes,
            incident_messages: set(CHANNEL_ENV),
        }
    }
}

/// The Slack route's notifier from the environment: a bot when a token (from
/// [`BOT_TOKEN_ENV`] or the Slack secret's `bot_token`) and a channel are set, else the
/// webhook, else [`LogNotifier`] (logged as an error: nobody will hear of these alerts).
pub async fn slack_from_env(
    secrets: &impl SecretSource,
    policy: DeliveryPolicy,
) -> Result<AnyNotifier, NotifierUnavailable> {
    let unavailable = |e: &dyn std::fmt::Display| NotifierUnavailable(e.to_string());
    if let Some(bot) = bot_from_env(secrets, policy.clone())
        .await
        .map_err(|e| unavailable(&e))?
    {
        return Ok(AnyNotifier::Bot(bot));
    }
    let url = webhook_from_env(secrets)
        .await
        .map_err(|e| unavailable(&e))?;
    if url.is_none() {
        tracing::error!("no Slack destination configured: notifications are only logged");
    }
    AnyNotifier::from_webhook(url, policy).map_err(|e| unavailable(&e))
}

/// Any notifier, chosen at start-up ([`Notifier`] is not object-safe, so use this instead of
/// `dyn Notifier`).
#[derive(Debug, Clone)]
pub enum AnyNotifier {
    /// Post to a Slack incoming webhook.
    Slack(SlackWebhook),
    /// One message per incident through the Slack Web API.
    Bot(SlackBot),
    /// Publish to an SNS topic.
    Sns(SnsTopic),
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
            Self::Bot(b) => Self::Bot(b.with_deadline(deadline)),
            Self::Sns(t) => Self::Sns(t.clone()),
            Self::Log(l) => Self::Log(*l),
        }
    }

    /// What it is, for logs (never a secret).
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Slack(_) => "Slack incoming webhook",
            Self::Bot(_) => "Slack bot (one message per incident)",
            Self::Sns(_) => "SNS topic",
            Self::Log(_) => "log only (no Slack destination)",
        }
    }
}

impl Notifier for AnyNotifier {
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        match self {
            Self::Slack(s) => s.post(payload).await,
            Self::Bot(b) => b.post(payload).await,
            Self::Sns(t) => t.post(payload).await,
            Self::Log(l) => l.post(payload).await,
        }
    }

    async fn notify(
        &self,
        load_balancer: &str,
        notifications: &[Notification],
    ) -> Result<(), DeliveryError> {
        match self {
            Self::Sns(t) => t.notify(load_balancer, notifications).await,
            other => {
                let payload = super::slack::render_payload(load_balancer, notifications);
                other.post(&payload).await
            }
        }
    }

    fn keeps_incident_messages(&self) -> bool {
        matches!(self, Self::Bot(_))
    }

    async fn notify_incident(
        &self,
        load_balancer: &str,
        message: Option<PostedMessage>,
        notifications: &[Notification],
    ) -> IncidentOutcome {
        match self {
            Self::Bot(b) => {
                b.notify_incident(load_balancer, message, notifications)
                    .await
            }
            Self::Slack(s) => {
                s.notify_incident(load_balancer, message, notifications)
                    .await
            }
            Self::Sns(t) => {
                t.notify_incident(load_balancer, message, notifications)
                    .await
            }
            Self::Log(l) => {
                l.notify_incident(load_balancer, message, notifications)
                    .await
            }
        }
    }
}
