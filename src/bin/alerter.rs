//! The `alerter` Lambda: Kinesis records → 5xx windows in the state store → Slack. See
//! [`albwatch::alert::handler`].
//!
//! The state lives in DynamoDB when `ALBWATCH_STATE_TABLE` names a table (the deployed stack),
//! so every environment shares it; in process memory otherwise. The Slack destination is
//! resolved on first use: a bot when a token (`ALBWATCH_SLACK_BOT_TOKEN`, or the Slack secret's
//! `bot_token`) and `ALBWATCH_SLACK_CHANNEL` are set, else the webhook (`SLACK_WEBHOOK_URL` or
//! the secret named by `SLACK_WEBHOOK_SECRET_ARN`); a failure is a pending delivery, retried
//! later, never a failed batch; without any, notifications are logged as JSON (and alarmed).
//! `ALBWATCH_SNS_TOPIC_ARN` adds the SNS route. The function takes Kinesis batches
//! (ALB records and CloudWatch Logs payloads), the scheduled EventBridge event of the log-silence
//! check, and the `awslogs` event of a log group subscribed to it directly.

use std::sync::Arc;

use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::handler::{Alerter, DEADLINE_MARGIN};
use albwatch::alert::logs::{LogAlertConfig, LogAlerts};
use albwatch::alert::silence::SilenceConfig;
use albwatch::alert::store::AnyStore;
use albwatch::clock::{Clock, SystemClock};
use albwatch::cwlogs::AwsLogsEvent;
use albwatch::notify::bot::UPDATE_INTERVAL;
use albwatch::notify::destination::{AnyNotifier, Plan, slack_from_env};
use albwatch::notify::http::DeliveryPolicy;
use albwatch::notify::notifier::{NotifierSource, NotifierUnavailable, Route};
use albwatch::notify::sns::SnsTopic;
use albwatch::notify::webhook::{SecretSource, WebhookConfigError};
use albwatch::retry::Deadline;
use aws_config::BehaviorVersion;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tokio::sync::Mutex;

/// Builds the Secrets Manager client only if a secret is actually read.
struct LazySecretsManager;

impl SecretSource for LazySecretsManager {
    async fn secret_string(&self, secret_id: &str) -> Result<String, WebhookConfigError> {
        let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
        aws_sdk_secretsmanager::Client::new(&aws)
            .secret_string(secret_id)
            .await
    }
}

/// The notifiers: Slack's built on first use (a failure is tried again on the next delivery,
/// and a destination Slack refused is built again, re-reading the secret, which may have
/// rotated); the SNS topic's at start-up.
struct Notifiers {
    slack: Mutex<Option<AnyNotifier>>,
    sns: Option<SnsTopic>,
}

impl NotifierSource for Notifiers {
    type Notifier = AnyNotifier;

    async fn notifier(
        &self,
        route: Route,
        deadline: Deadline,
    ) -> Result<AnyNotifier, NotifierUnavailable> {
        if route == Route::Sns {
            return self.sns.clone().map(AnyNotifier::Sns).ok_or_else(|| {
                NotifierUnavailable("queued for SNS, but no topic is configured".into())
            });
        }
        let mut cell = self.slack.lock().await;
        if cell.is_none() {
            let built = slack_from_env(&LazySecretsManager, DeliveryPolicy::default()).await?;
            tracing::info!(destination = built.describe(), "Slack destination");
            *cell = Some(built);
        }
        let notifier = cell
            .as_ref()
            .ok_or_else(|| NotifierUnavailable("unset".into()))?;
        Ok(notifier.with_deadline(deadline))
    }

    fn invalidate(&self, route: Route) {
        if route == Route::Slack
            && let Ok(mut cell) = self.slack.try_lock()
        {
            *cell = None;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    albwatch::telemetry::init();
    let config = AlertConfig::from_env()?;
    let logs = LogAlerts::new(LogAlertConfig::from_env(&config)?);
    let silence = SilenceConfig::from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = AnyStore::from_env(&config, Arc::clone(&clock)).await;
    tracing::info!(store = %store.describe(), "alert state");
    let plan = Plan::from_env();
    let mut engine = Engine::new(config, store, clock)?.with_routes(&plan.routes);
    if plan.incident_messages {
        engine = engine.with_live_updates(UPDATE_INTERVAL);
    }
    let sns = match SnsTopic::topic_from_env() {
        Some(arn) => {
            let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
            Some(SnsTopic::new(aws_sdk_sns::Client::new(&aws), &arn))
        }
        None => None,
    };
    tracing::info!(routes = ?plan.routes, incident_messages = plan.incident_messages, "destinations");
    let alerter = Alerter::with_logs(engine, logs, silence);
    let notifiers = Notifiers {
        slack: Mutex::new(None),
        sns,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<AlerterEvent>| {
        handle(&alerter, &notifiers, event)
    }))
    .await
}

/// The scheduled EventBridge event (only its shape matters).
#[derive(serde::Deserialize)]
struct ScheduledEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
}

/// The events this function is invoked with (`awslogs` and the schedule first: a Kinesis event
/// has neither key).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum AlerterEvent {
    Logs(AwsLogsEvent),
    Scheduled(ScheduledEvent),
    Kinesis(KinesisEvent),
}

async fn handle(
    alerter: &Alerter<AnyStore>,
    notifiers: &Notifiers,
    event: LambdaEvent<AlerterEvent>,
) -> Result<KinesisEventResponse, Error> {
    let deadline = Deadline::from_lambda(event.context.deadline(), DEADLINE_MARGIN);
    match &event.payload {
        AlerterEvent::Kinesis(batch) => Ok(alerter.handle(batch, notifiers, deadline).await),
        AlerterEvent::Scheduled(s) => {
            tracing::debug!(detail_type = %s.detail_type, "scheduled check");
            alerter.tick(notifiers, deadline).await;
            Ok(KinesisEventResponse::default())
        }
        AlerterEvent::Logs(logs) => {
            alerter.handle_awslogs(logs, notifiers, deadline).await?;
            Ok(KinesisEventResponse::default())
        }
    }
}
