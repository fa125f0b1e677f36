//! The `alerter` Lambda: Kinesis records → 5xx windows → Slack. See [`albwatch::alert::handler`].
//!
//! One engine lives for the whole container (its windows and announcement state are in memory;
//! a cold start forgets them, which can repeat a still-firing alert but never lose one). The
//! Slack webhook is resolved once, on the first invocation, from `SLACK_WEBHOOK_URL` or the
//! Secrets Manager secret named by `SLACK_WEBHOOK_SECRET_ARN`; without either, notifications are
//! logged as JSON. The function takes Kinesis batches (ALB records and CloudWatch Logs payloads)
//! and also the `awslogs` event of a log group subscribed to it directly.

use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::handler::{Alerter, DEADLINE_MARGIN};
use albwatch::alert::logs::{LogAlertConfig, LogAlerts};
use albwatch::cwlogs::AwsLogsEvent;
use albwatch::notify::destination::AnyNotifier;
use albwatch::notify::webhook::{
    DeliveryPolicy, SecretSource, WebhookConfigError, webhook_from_env,
};
use albwatch::retry::Deadline;
use aws_config::BehaviorVersion;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tokio::sync::OnceCell;

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

#[tokio::main]
async fn main() -> Result<(), Error> {
    albwatch::telemetry::init();
    let config = AlertConfig::from_env()?;
    let logs = LogAlerts::new(LogAlertConfig::from_env(&config)?);
    let alerter = Alerter::with_logs(Engine::new(config)?, logs);
    let notifier: OnceCell<AnyNotifier> = OnceCell::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<AlerterEvent>| {
        handle(&alerter, &notifier, event)
    }))
    .await
}

/// The events this function is invoked with (`awslogs` first: a Kinesis event has no such key).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum AlerterEvent {
    Logs(AwsLogsEvent),
    Kinesis(KinesisEvent),
}

async fn handle(
    alerter: &Alerter,
    notifier: &OnceCell<AnyNotifier>,
    event: LambdaEvent<AlerterEvent>,
) -> Result<KinesisEventResponse, Error> {
    // A configuration error fails the invocation (Lambda retries the batch; nothing is lost)
    // and is retried on the next one, since the cell stays empty.
    let notifier = notifier
        .get_or_try_init(|| async {
            let url = webhook_from_env(&LazySecretsManager).await?;
            if url.is_none() {
                tracing::warn!("no Slack webhook configured; notifications are only logged");
            }
            AnyNotifier::from_webhook(url, DeliveryPolicy::default())
        })
        .await?;
    let notifier = notifier.with_deadline(Deadline::from_lambda(
        event.context.deadline(),
        DEADLINE_MARGIN,
    ));
    match &event.payload {
        AlerterEvent::Kinesis(batch) => Ok(alerter.handle(batch, &notifier).await),
        AlerterEvent::Logs(logs) => {
            alerter.handle_awslogs(logs, &notifier).await?;
            Ok(KinesisEventResponse::default())
        }
    }
}
