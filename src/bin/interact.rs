//! The `interact` Lambda (a Function URL Slack calls): the silence buttons of a bot's incident
//! messages. See [`albwatch::alert::mute`]: the request must carry Slack's signature, the
//! silence is written to the alert state table, and the message is edited to show it.

use std::sync::Arc;

use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::mute;
use albwatch::alert::store::AnyStore;
use albwatch::clock::{Clock, SystemClock};
use albwatch::notify::bot::bot_from_env;
use albwatch::notify::http::DeliveryPolicy;
use albwatch::notify::interaction::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signing_secret_from_env};
use aws_config::BehaviorVersion;
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine as _;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    albwatch::telemetry::init();
    let config = AlertConfig::from_env()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = AnyStore::from_env(&config, Arc::clone(&clock)).await;
    let engine = Engine::new(config, store, clock)?;
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = signing_secret_from_env(&secrets).await?.ok_or(
        "no Slack signing secret: set ALBWATCH_SLACK_SIGNING_SECRET or add signing_secret to the Slack secret",
    )?;
    let bot = bot_from_env(&secrets, DeliveryPolicy::default()).await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let (engine, secret, bot) = (&engine, &secret, bot.as_ref());
            async move {
                let request = event.payload;
                let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
                let raw = request.body.as_deref().unwrap_or_default();
                let body = if request.is_base64_encoded {
                    base64::engine::general_purpose::STANDARD.decode(raw)?
                } else {
                    raw.as_bytes().to_vec()
                };
                let reply = mute::handle(
                    engine,
                    secret,
                    header(TIMESTAMP_HEADER),
                    header(SIGNATURE_HEADER),
                    &body,
                    bot,
                )
                .await;
                let mut response = LambdaFunctionUrlResponse::default();
                response.status_code = i64::from(reply.status);
                response.body = Some(reply.body);
                Ok::<_, Error>(response)
            }
        },
    ))
    .await
}
