//! The `albwatch` command line: argument definitions and one module per subcommand.

pub mod aws;
pub mod consume;
pub mod doctor;
pub mod exit;
pub mod generate;
pub mod history;
pub mod inputs;
pub mod parse;
pub mod progress;
pub mod replay;
pub mod rule;
pub mod simulate;

use std::io::IsTerminal as _;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

/// ALB access logs → timely, deduplicated 5xx alerts.
#[derive(Debug, Parser)]
#[command(name = "albwatch", version, about, after_help = exit::EXIT_STATUS_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Also show the library's log on stderr: warnings (-v), progress (-vv), debugging (-vvv).
    /// `RUST_LOG` overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Colours on stderr: auto (a terminal, and `NO_COLOR` unset or empty), always, never.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: Color,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether stderr gets colours.
    #[must_use]
    pub fn enabled(self) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }
}

impl Cli {
    /// The log filter of `--verbose` (used when `RUST_LOG` is unset): nothing by default, as
    /// every subcommand prints its own one-line errors.
    #[must_use]
    pub fn log_filter(&self) -> &'static str {
        match self.verbose {
            0 => "off",
            1 => "warn",
            2 => "info",
            _ => "debug",
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse ALB access logs into NDJSON (or a summary with --summary).
    #[command(after_help = PARSE_EXAMPLES)]
    Parse(parse::ParseArgs),
    /// Run ingest and alerter in-process on local files and print (or post) the notifications.
    #[command(after_help = SIMULATE_EXAMPLES)]
    Simulate(simulate::SimulateArgs),
    /// Write local log files into a Kinesis stream through the ingest Lambda's code path.
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(replay::ReplayArgs),
    /// Run the alerter Lambda's handler on a Kinesis stream and print (or post) the
    /// notifications.
    #[command(after_help = CONSUME_EXAMPLES)]
    Consume(consume::ConsumeArgs),
    /// Write realistic synthetic ALB access logs (benchmarks, trying albwatch out).
    #[command(after_help = GEN_EXAMPLES)]
    Gen(generate::GenArgs),
    /// Check a deployment end to end (load balancer, bucket, stream, alerter, Slack secret)
    /// and print ✔ or ✘ with the fix for each step.
    Doctor(doctor::DoctorArgs),
}

const PARSE_EXAMPLES: &str = "Examples:
  albwatch parse fixtures/logs/aws-doc-examples.log          # NDJSON, one entry per line
  albwatch parse --summary --strict logs/                    # counts; exit 1 on malformed lines
  aws s3 cp s3://BUCKET/KEY.log.gz - | albwatch parse -      # from stdin

Exit status: 0 ok; 1 an input could not be read (or --strict found problems); 2 bad arguments.";

const SIMULATE_EXAMPLES: &str = "Examples:
  albwatch simulate fixtures/                                # the shipped incident, as Slack would show it
  albwatch simulate --min-5xx 20 --min-error-rate 0.1 logs/  # try a stricter rule on your own logs
  albwatch simulate --format blocks fixtures/incident        # the Block Kit payloads
  ALBWATCH_SLACK_WEBHOOK_URL=https://hooks.slack.com/... albwatch simulate fixtures/incident

Exit status: 0 ok; 1 an input could not be read; 2 bad arguments or configuration; 3 a notification
could not be delivered.";

const REPLAY_EXAMPLES: &str = "Examples:
  albwatch replay --dry-run fixtures/incident                # records built, nothing sent
  albwatch replay --stream albwatch-alerts logs/             # into a real stream (your credentials)
  albwatch replay --endpoint-url http://127.0.0.1:4566 --stream s fixtures/incident   # LocalStack

Exit status: 0 ok; 1 an input could not be read; 2 bad arguments, no region or credentials;
3 records could not be written.";

const CONSUME_EXAMPLES: &str = "Examples:
  albwatch consume --stream albwatch-alerts --once           # read to the tip, print, stop
  ALBWATCH_STATE_TABLE=albwatch-state albwatch consume --stream albwatch-alerts --from latest

Exit status: 0 ok; 1 the stream could not be read; 2 bad arguments, no region or credentials;
3 a notification could not be delivered.";

const GEN_EXAMPLES: &str = "Examples:
  albwatch gen --lines 1000000 --gzip -o big.log.gz          # a busy node's file, gzip members as ALB writes
  albwatch gen --error-rate 0.05 --targets 12 | albwatch simulate -";
