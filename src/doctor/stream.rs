//! Check 5: the Kinesis stream is `ACTIVE`, and the alerter's event source mapping on it is
//! `Enabled`.

use aws_sdk_kinesis::types::{StreamMode, StreamStatus};

use super::Check;
use crate::kinesis::errors::{error_code, error_text};
use crate::kinesis::stream::StreamRef;

/// The state of an event source mapping that reads.
pub const ENABLED: &str = "Enabled";
/// How `LastProcessingResult` starts when the last batch failed.
pub const PROBLEM: &str = "PROBLEM";

/// The stream's line, and its ARN when it exists.
#[derive(Debug)]
pub struct StreamFound {
    /// The check's line.
    pub check: Check,
    /// The stream's ARN, from `DescribeStreamSummary`.
    pub arn: Option<String>,
}

/// Describes `stream` (a name or an ARN).
pub async fn check_stream(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> StreamFound {
    let given = StreamRef {
        given: stream.to_owned(),
    };
    let out = match kinesis
        .describe_stream_summary()
        .set_stream_name(given.name())
        .set_stream_arn(given.arn())
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let fix = if error_code(&e) == "ResourceNotFoundException" {
                "pass the stack's StreamName output with --stream (in the stack's region), or \
                 deploy the stack"
            } else {
                "these credentials need kinesis:DescribeStreamSummary on it"
            };
            return StreamFound {
                check: Check::fail(
                    format!("cannot find stream {stream}: {}", error_text(&e)),
                    fix,
                ),
                arn: None,
            };
        }
    };
    let Some(summary) = out.stream_description_summary() else {
        return StreamFound {
            check: Check::fail(
                format!("stream {stream}: DescribeStreamSummary answered no summary"),
                "run doctor again",
            ),
            arn: None,
        };
    };
    let mode = match summary.stream_mode_details().map(|m| m.stream_mode()) {
        Some(StreamMode::OnDemand) => "on-demand, ",
        Some(StreamMode::Provisioned) => "provisioned, ",
        _ => "",
    };
    let shards = summary.open_shard_count();
    let status = summary.stream_status();
    let check = if *status == StreamStatus::Active {
        Check::pass(format!(
            "stream {stream} is ACTIVE ({mode}{shards} open shard{})",
            if shards == 1 { "" } else { "s" }
        ))
    } else {
        Check::fail(
            format!("stream {stream} is {}, not ACTIVE", status.as_str()),
            if *status == StreamStatus::Deleting {
                "deploy the stack again (its stream is being deleted)"
            } else {
                "wait until it is ACTIVE (aws kinesis describe-stream-summary), then run doctor again"
            },
        )
    };
    StreamFound {
        check,
        arn: Some(summary.stream_arn().to_owned()),
    }
}

/// One event source mapping of the function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Its id.
    pub uuid: String,
    /// The stream (or queue…) it reads.
    pub source_arn: String,
    /// `Enabled`, `Disabled`, `Creating`, `Enabling`, …
    pub state: String,
    /// `OK`, `No records processed` or `PROBLEM: …`.
    pub last_result: Option<String>,
}

/// Lists the event source mappings of `function` and checks the one on the stream.
/// `stream_arn` is the stream's ARN when it could be described; otherwise mappings are matched
/// on the stream as given (an ARN, or a name against the ARN's `stream/NAME`).
pub async fn check_mapping(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    stream: &str,
    stream_arn: Option<&str>,
) -> Check {
    let mut pages = lambda
        .list_event_source_mappings()
        .function_name(function)
        .into_paginator()
        .send();
    let mut mappings = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                return Check::fail(
                    format!(
                        "cannot list the event source mappings of function {function}: {}",
                        error_text(&e)
                    ),
                    "pass the stack's AlerterFunctionName output with --function; these \
                     credentials need lambda:ListEventSourceMappings",
                );
            }
        };
        mappings.extend(page.event_source_mappings().iter().map(|m| Mapping {
            uuid: m.uuid().unwrap_or_default().to_owned(),
            source_arn: m.event_source_arn().unwrap_or_default().to_owned(),
            state: m.state().unwrap_or_default().to_owned(),
            last_result: m.last_processing_result().map(str::to_owned),
        }));
    }
    evaluate_mappings(&mappings, function, stream, stream_arn)
}

/// Check 5's mapping line, from the function's mappings.
#[must_use]
pub fn evaluate_mappings(
    mappings: &[Mapping],
    function: &str,
    stream: &str,
    stream_arn: Option<&str>,
) -> Check {
    let on_stream = |m: &&Mapping| match stream_arn {
        Some(arn) => m.source_arn == arn,
        None if stream.starts_with("arn:") => m.source_arn == stream,
        None => m.source_arn.ends_with(&format!(":stream/{stream}")),
    };
    let Some(mapping) = mappings.iter().find(on_stream) else {
        let others = match mappings.first() {
            Some(m) => format!(" (it reads {})", m.source_arn),
            None => String::new(),
        };
        let source = stream_arn
            .or_else(|| stream.starts_with("arn:").then_some(stream))
            .unwrap_or("STREAM_ARN");
        return Check::fail(
            format!("function {function} has no event source mapping on stream {stream}{others}"),
            format!(
                "deploy the stack (the alerter's Kinesis event), or aws lambda \
                 create-event-source-mapping --function-name {function} --event-source-arn \
                 {source} --starting-position LATEST"
            ),
        );
    };
    let uuid = &mapping.uuid;
    if mapping.state != ENABLED {
        let fix = if mapping.state == "Disabled" {
            format!("aws lambda update-event-source-mapping --uuid {uuid} --enabled")
        } else {
            format!("wait until it is {ENABLED}, then run doctor again")
        };
        return Check::fail(
            format!(
                "event source mapping {uuid} of function {function} on stream {stream} is {}",
                if mapping.state.is_empty() {
                    "in no state"
                } else {
                    &mapping.state
                }
            ),
            fix,
        );
    }
    if let Some(problem) = mapping
        .last_result
        .as_deref()
        .filter(|r| r.starts_with(PROBLEM))
    {
        return Check::fail(
            format!(
                "event source mapping {uuid} of function {function} is {ENABLED}, but its last \
                 batch failed: {problem}"
            ),
            "see the alerter's log group and the AlerterDlq queue",
        );
    }
    Check::pass(format!(
        "function {function} reads stream {stream} (event source mapping {uuid} is {ENABLED})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/albwatch";

    fn mapping(source: &str, state: &str, last: Option<&str>) -> Mapping {
        Mapping {
            uuid: "91eaeb7e-c976-4c9b-8b4c-4d7f1b9e4f11".to_owned(),
            source_arn: source.to_owned(),
            state: state.to_owned(),
            last_result: last.map(str::to_owned),
        }
    }

    #[test]
    fn an_enabled_mapping_on_the_stream_passes() {
        let ok = [mapping(ARN, "Enabled", Some("OK"))];
        for (stream, arn) in [("albwatch", Some(ARN)), ("albwatch", None), (ARN, None)] {
            let check = evaluate_mappings(&ok, "alerter", stream, arn);
            assert!(check.ok, "{stream} {arn:?}: {check:?}");
        }
    }

    #[test]
    fn missing_disabled_or_failing_mappings_fail() {
        let check = evaluate_mappings(&[], "alerter", "albwatch", Some(ARN));
        assert!(!check.ok);
        assert!(
            check.fix.as_deref().is_some_and(|f| f.contains(ARN)),
            "{check:?}"
        );
        let other = [mapping(
            "arn:aws:kinesis:us-east-1:123456789012:stream/other",
            "Enabled",
            None,
        )];
        let check = evaluate_mappings(&other, "alerter", "albwatch", None);
        assert!(!check.ok);
        assert!(
            check
                .what
                .contains("it reads arn:aws:kinesis:us-east-1:123456789012:stream/other")
        );
        let check = evaluate_mappings(
            &[mapping(ARN, "Disabled", None)],
            "alerter",
            "albwatch",
            Some(ARN),
        );
        assert!(!check.ok);
        assert!(check.what.ends_with("is Disabled"), "{check:?}");
        assert!(
            check
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("--enabled"))
        );
        let check = evaluate_mappings(
            &[mapping(ARN, "Creating", None)],
            "alerter",
            "albwatch",
            Some(ARN),
        );
        assert!(!check.ok);
        let failing = [mapping(
            ARN,
            "Enabled",
            Some("PROBLEM: Function call failed"),
        )];
        let check = evaluate_mappings(&failing, "alerter", "albwatch", Some(ARN));
        assert!(!check.ok);
        assert!(check.what.contains("PROBLEM: Function call failed"));
    }
}
