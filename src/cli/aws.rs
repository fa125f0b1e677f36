//! The AWS configuration of the subcommands that call AWS (`replay`, `consume`): the user's
//! credentials and region, checked up front, so a missing one is one clear line within a few
//! seconds instead of a minute of SDK retries.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kinesis::config::ProvideCredentials as _;

/// How long resolving credentials may take (a profile's SSO or an instance role included).
pub const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of every AWS call made by the command line.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What is missing from the user's AWS set-up (a usage error: exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsSetupError {
    /// No region configured.
    #[error("no AWS region: set AWS_REGION (or AWS_PROFILE with a region)")]
    NoRegion,
    /// No credentials found (environment, profile, web identity, container, instance role).
    #[error(
        "no AWS credentials found (environment, profile, web identity, container, instance \
         role): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (LocalStack \
         accepts test/test)"
    )]
    NoCredentials,
}

/// Loads the configuration (`endpoint_url` overrides `AWS_ENDPOINT_URL`) and checks that a
/// region and credentials are there.
pub async fn aws_config(endpoint_url: Option<&str>) -> Result<SdkConfig, AwsSetupError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build(),
    );
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(AwsSetupError::NoRegion);
    }
    let provider = config
        .credentials_provider()
        .ok_or(AwsSetupError::NoCredentials)?;
    match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(config),
        Ok(Err(_)) | Err(_) => Err(AwsSetupError::NoCredentials),
    }
}
