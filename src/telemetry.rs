//! Tracing set-up shared by the binaries.
//!
//! - Filter: `RUST_LOG` if set, else the Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
//! - Format: one JSON object per line when `AWS_LAMBDA_LOG_FORMAT=JSON` (the function's
//!   `LoggingConfig.LogFormat`), fields flattened so CloudWatch Logs Insights sees them as
//!   top-level keys; human-readable text otherwise (no colours inside Lambda or when stderr is
//!   not a terminal).
//! - Output: stderr, so stdout stays free for data printed by CLI commands.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Default filter when neither `RUST_LOG` nor `AWS_LAMBDA_LOG_LEVEL` is set.
const DEFAULT_FILTER: &str = "info";

/// Default filter of the command line, whose stdout/stderr are for people: warnings only.
const CLI_DEFAULT_FILTER: &str = "warn";

/// [`CLI_DEFAULT_FILTER`] without the AWS SDK's own warnings (credential providers tried,
/// retries; multi-line `Debug` dumps), for commands that report every failure themselves.
const CLI_QUIET_SDK_FILTER: &str = "warn,aws_config=off,aws_smithy_runtime=off";

/// Installs the global tracing subscriber for a Lambda function. Calling it again (or after
/// another subscriber was installed) does nothing.
pub fn init() {
    init_with_default(DEFAULT_FILTER);
}

/// Installs the subscriber for the `albwatch` command line (`RUST_LOG` still wins).
pub fn init_cli() {
    init_with_default(CLI_DEFAULT_FILTER);
}

/// [`init_cli`] without the AWS SDK's warnings (`albwatch doctor`, which turns every failed
/// call into a line of its own). `RUST_LOG` still wins.
pub fn init_cli_quiet_sdk() {
    init_with_default(CLI_QUIET_SDK_FILTER);
}

fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .ok()
            .and_then(|l| lambda_level(&l))
            .unwrap_or(default);
        EnvFilter::new(level)
    });
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed: keep that one.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    } else {
        builder
            .with_ansi(!in_lambda && std::io::stderr().is_terminal())
            .try_init()
    };
}

/// CloudWatch namespace of the functions' own metrics.
pub const METRIC_NAMESPACE: &str = "albwatch";

/// Emits `value` of the count metric `name` (dimension `FunctionName`) in CloudWatch's embedded
/// metric format: one JSON line on stdout, which Lambda sends to CloudWatch Logs, where
/// CloudWatch extracts the metric (alarms in `template.yaml` watch it). Outside Lambda (the CLI,
/// tests) nothing is printed: the CLI's stdout is its data.
pub fn emit_count(name: &str, value: u64) {
    let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") else {
        return;
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    println!("{}", emf_line(name, value, &function, now_ms));
}

/// One embedded-metric-format line.
fn emf_line(name: &str, value: u64, function: &str, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "FunctionName": function,
        name: value,
    })
    .to_string()
}

/// A Lambda log level (`TRACE` … `FATAL`) as a tracing filter.
fn lambda_level(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_metric_lines_follow_the_specification() {
        let line = emf_line("SlackRejected", 2, "stack-alerter", 1_700_000_000_000);
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["SlackRejected"], 2);
        assert_eq!(v["FunctionName"], "stack-alerter");
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], METRIC_NAMESPACE);
        assert_eq!(m["Dimensions"][0][0], "FunctionName");
        assert_eq!(m["Metrics"][0]["Name"], "SlackRejected");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }

    #[test]
    fn lambda_levels_map_to_tracing_levels() {
        assert_eq!(lambda_level("FATAL"), Some("error"));
        assert_eq!(lambda_level("debug"), Some("debug"));
        assert_eq!(lambda_level("verbose"), None);
    }
}
