//! The `alerter` Lambda: Kinesis records → 5xx windows in the state store → Slack. See
//! [`albwatch::alert::handler`].
//!
//! The state lives in DynamoDB when `ALBWATCH_STATE_TABLE` names a table (the deployed stack),
//! so every environment shares it; in process memory otherwise. The Slack webhook is resolved
//! on first use, from `SLACK_WEBHOOK_URL` or the Secrets Manager secret named by
//! `SLACK_WEBHOOK_SECRET_ARN`; a failure is a pending delivery, retried later, never a failed
//! batch; without either, notifications are logged as JSON. The function takes Kinesis batches
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
use albwatch::notify::destination::AnyNotifier;
use albwatch::notify::notifier::{NotifierSource, NotifierUnavailable};
use albwatch::notify::webhook::{
    DeliveryPolicy, SecretSource, WebhookConfigError, webhook_from_env,
};
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

/// The notifier, built on first use; a failure is tried again on the next delivery, and a
/// destination Slack refused is built again (re-reading the secret, which may have rotated).
#[derive(Default)]
struct LazyNotifier(Mutex<Option<AnyNotifier>>);

impl NotifierSource for LazyNotifier {
    type Notifier = AnyNotifier;

    async fn notifier(&self, deadline: Deadline) -> Result<AnyNotifier, NotifierUnavailable> {
        let mut cell = self.0.lock().await;
        if cell.is_none() {
            let built = async {
                let url = webhook_from_env(&LazySecretsManager).await?;
                if url.is_none() {
                    tracing::error!("no Slack webhook configured: notifications are only logged");
                }
                AnyNotifier::from_webhook(url, DeliveryPolicy::default())
            }
            .await
            .map_err(|e: WebhookConfigError| NotifierUnavailable(e.to_string()))?;
            *cell = Some(built);
        }
        let notifier = cell
            .as_ref()
            .ok_or_else(|| NotifierUnavailable("unset".into()))?;
        Ok(notifier.with_deadline(deadline))
    }

    fn invalidate(&self) {
        if let Ok(mut cell) = self.0.try_lock() {
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
    let alerter = Alerter::with_logs(Engine::new(config, store, clock)?, logs, silence);
    let notifiers = LazyNotifier::default();
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
    notifiers: &LazyNotifier,
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
