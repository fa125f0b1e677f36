//! `albwatch doctor`: arguments and output of [`crate::doctor`]'s checks: one line per check,
//! `✔ what is fine` or `✘ what is wrong — the fix`; exit status 1 when any check failed, 2 when
//! the checks could not start (no region or credentials).

use std::io::Write as _;

use super::aws::aws_config;
use crate::cli::exit::Exit;
use crate::doctor::{self, Check, Clients, Target};

/// The mark of a check that passed.
pub const PASS: &str = "✔";
/// The mark of a check that failed.
pub const FAIL: &str = "✘";

/// Options of `albwatch doctor`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Example (the names are the stack's outputs and parameters):
  albwatch doctor --load-balancer app/shop-prod/50dc6c495c0c9188 \\
    --bucket my-alb-logs --stream albwatch-AlertStream-abc --function albwatch-AlerterFunction-xyz \\
    --secret-arn arn:aws:secretsmanager:us-east-1:123456789012:secret:albwatch/slack-AbCdEf

  ✔ load balancer app/shop-prod/50dc6c495c0c9188 writes access logs to s3://my-alb-logs/ (access_logs.s3.enabled = true)
  ✘ bucket my-alb-logs notifies nothing of new objects under AWSLogs/ … — deploy the stack with …
  …

Uses the usual AWS settings (AWS_PROFILE, AWS_REGION, …; AWS_ENDPOINT_URL and per-service
AWS_ENDPOINT_URL_<SERVICE> for local stand-ins). Never prints the secret's value.
Exit status: 0 every check passed, 1 a check failed, 2 the checks could not start.")]
pub struct DoctorArgs {
    /// The load balancer: its ARN, its name, or `app/NAME/ID` (names in the configured region).
    #[arg(long, value_name = "ARN|NAME")]
    pub load_balancer: String,
    /// The bucket the stack watches (output LogBucketName): the load balancer must log there.
    /// Default: the bucket the load balancer names.
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// The Kinesis stream (output StreamName), by name or ARN.
    #[arg(long, value_name = "NAME|ARN")]
    pub stream: String,
    /// The alerter Lambda function (output AlerterFunctionName).
    #[arg(long, value_name = "NAME")]
    pub function: String,
    /// The Slack secret (parameter SlackWebhookSecretArn); not checked when absent.
    #[arg(long, value_name = "ARN")]
    pub secret_arn: Option<String>,
}

/// Runs the checks and prints one line each.
pub async fn run(args: &DoctorArgs) -> Exit {
    let config = match aws_config(None).await {
        Ok(config) => doctor::bounded(&config),
        Err(e) => return Exit::report(&anyhow::Error::new(e)),
    };
    let target = Target {
        load_balancer: args.load_balancer.clone(),
        bucket: args.bucket.clone(),
        stream: args.stream.clone(),
        function: args.function.clone(),
        secret_arn: args.secret_arn.clone(),
    };
    let clients = Clients::from_conf(&config);
    let mut out = std::io::stdout().lock();
    let failed = doctor::run(&clients, &target, chrono::Utc::now(), |check| {
        // A closed stdout (`| head`) only loses lines; the exit status still tells.
        let _ = writeln!(out, "{}", line(check));
    })
    .await;
    if failed == 0 {
        Exit::Success
    } else {
        Exit::Failed
    }
}

/// A check's line: `✔ what` or `✘ what — fix`.
#[must_use]
pub fn line(check: &Check) -> String {
    match (&check.fix, check.ok) {
        (_, true) => format!("{PASS} {}", check.what),
        (Some(fix), false) => format!("{FAIL} {} — {fix}", check.what),
        (None, false) => format!("{FAIL} {}", check.what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(line(&Check::pass("fine")), "✔ fine");
        assert_eq!(
            line(&Check::fail("broken", "mend it")),
            "✘ broken — mend it"
        );
    }
}
