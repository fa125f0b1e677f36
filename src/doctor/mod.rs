//! `albwatch doctor`: checks, with the user's AWS credentials, the whole path from the load
//! balancer to Slack, and says for each step what is fine or what is wrong and its fix.
//!
//! The checks, in the order the data flows, each one [`Check`]:
//!
//! 1. [`alb`]: the load balancer's `access_logs.s3.enabled`, bucket and prefix.
//! 2. [`bucket::check_policy`]: the bucket exists and its policy lets log delivery write
//!    under `PREFIX/AWSLogs/ACCOUNT/` ([`policy`] reads the policy, a pure function). When the
//!    bucket does not exist, that one line says so and checks 3 and 4 are left out.
//! 3. [`bucket::check_notifications`]: new log objects reach the ingest (an S3 notification
//!    to a Lambda function, SQS queue or SNS topic, or EventBridge).
//! 4. [`bucket::check_recent`]: the load balancer's newest log object is recent.
//! 5. [`stream`]: the Kinesis stream is `ACTIVE` and the alerter's event source mapping on it
//!    `Enabled`.
//! 6. [`secret`]: the Slack secret resolves and parses (its value is never shown).
//!
//! Each check fetches with an SDK client and decides in a pure `evaluate…` function (unit
//! tested); a failed call is a failed check whose line carries the service's error code, never
//! a reason to stop. Before anything, the command line's `cli::aws::aws_config` fails fast when the region or the
//! credentials are missing, and [`bounded`] keeps every call within a few seconds.

pub mod alb;
pub mod bucket;
pub mod location;
pub mod policy;
pub mod secret;
pub mod stream;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::{DateTime, Utc};

/// One step of the path, checked: what is fine, or what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Whether this step is fine.
    pub ok: bool,
    /// What was found (one line).
    pub what: String,
    /// How to fix it (a failed check always has one).
    pub fix: Option<String>,
}

impl Check {
    /// A step that is fine.
    #[must_use]
    pub fn pass(what: impl Into<String>) -> Self {
        Self {
            ok: true,
            what: what.into(),
            fix: None,
        }
    }

    /// A step that is wrong, and its fix.
    #[must_use]
    pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            ok: false,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What to check: the deployment's names (the stack's outputs and parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The load balancer, by ARN or name.
    pub load_balancer: String,
    /// The bucket the stack watches (`LogBucketName`), when given: the load balancer must log
    /// there, and it is checked even when the load balancer names no bucket.
    pub bucket: Option<String>,
    /// The Kinesis stream (`StreamName`), by name or ARN.
    pub stream: String,
    /// The alerter function (`AlerterFunctionName`).
    pub function: String,
    /// The Slack secret (`SlackWebhookSecretArn`); not checked when `None`.
    pub secret_arn: Option<String>,
}

/// One attempt of an AWS call gives up after this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// An AWS call, its retry included, gives up after this long.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// Connecting to an AWS endpoint gives up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per AWS call (one retry of a throttled or transient failure).
pub const MAX_ATTEMPTS: u32 = 2;
/// `config` with short timeouts and one retry, so that a wrong endpoint or a network problem
/// shows within seconds.
#[must_use]
pub fn bounded(config: &SdkConfig) -> SdkConfig {
    config
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build()
}

/// The SDK clients the checks use, built once.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Elastic Load Balancing v2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// S3 (path-style when `AWS_ENDPOINT_URL` is set, as the ingest's).
    pub s3: aws_sdk_s3::Client,
    /// Kinesis.
    pub kinesis: aws_sdk_kinesis::Client,
    /// Lambda (event source mappings).
    pub lambda: aws_sdk_lambda::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Every client from `config` (pass it through [`bounded`] first).
    #[must_use]
    pub fn from_conf(config: &SdkConfig) -> Self {
        Self {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            s3: crate::ingest::source::s3_client(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// Runs every check in order, handing each line to `emit` as soon as it is known; returns
/// how many failed. `now` dates the log objects.
pub async fn run(
    clients: &Clients,
    target: &Target,
    now: DateTime<Utc>,
    mut emit: impl FnMut(&Check),
) -> usize {
    let mut failed = 0;
    let mut report = |check: Check| {
        failed += usize::from(!check.ok);
        emit(&check);
    };
    let found = alb::check(
        &clients.elb,
        &target.load_balancer,
        target.bucket.as_deref(),
    )
    .await;
    report(found.check);
    match &found.location {
        Some(location) => {
            let policy = bucket::check_policy(&clients.s3, location).await;
            report(policy.check);
            if policy.bucket_exists {
                report(bucket::check_notifications(&clients.s3, location).await);
                report(bucket::check_recent(&clients.s3, location, now).await);
            }
        }
        None => report(Check::fail(
            "log bucket not checked (policy, notification, recent objects): no bucket known",
            "fix the load balancer above, or pass the stack's LogBucketName with --bucket",
        )),
    }
    let stream = stream::check_stream(&clients.kinesis, &target.stream).await;
    report(stream.check);
    report(
        stream::check_mapping(
            &clients.lambda,
            &target.function,
            &target.stream,
            stream.arn.as_deref(),
        )
        .await,
    );
    if let Some(secret_arn) = &target.secret_arn {
        report(secret::check(&clients.secrets, secret_arn).await);
    }
    failed
}
