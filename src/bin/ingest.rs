//! The `ingest` Lambda: S3 access-log objects → Kinesis records. See [`albwatch::ingest`].

use albwatch::ingest::{IngestConfig, IngestHandler, KinesisSink, S3Source};
use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    albwatch::telemetry::init();
    let config = IngestConfig::from_env()?;
    let stream = config
        .stream_name
        .clone()
        .ok_or("ALBWATCH_STREAM_NAME is not set")?;
    // Clients are built once per cold start; AWS_ENDPOINT_URL is honoured by the SDK itself.
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let handler = IngestHandler::new(
        S3Source::from_conf(&aws),
        KinesisSink::from_conf(&aws, stream),
        config,
    );
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handler.handle_lambda(event)
    }))
    .await
}
