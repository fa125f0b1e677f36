//! The `albwatch` command line: argument definitions and one module per subcommand.

pub mod aws;
pub mod consume;
pub mod exit;
pub mod generate;
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
    Parse(parse::ParseArgs),
    /// Run ingest and alerter in-process on local files and print (or post) the notifications.
    Simulate(simulate::SimulateArgs),
    /// Write local log files into a Kinesis stream through the ingest Lambda's code path.
    Replay(replay::ReplayArgs),
    /// Run the alerter Lambda's handler on a Kinesis stream and print (or post) the
    /// notifications.
    Consume(consume::ConsumeArgs),
    /// Write realistic synthetic ALB access logs (benchmarks, trying albwatch out).
    Gen(generate::GenArgs),
}
