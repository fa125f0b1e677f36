//! The `albwatch` command line: argument definitions and one module per subcommand.

pub mod consume;
pub mod doctor;
pub mod exit;
pub mod generate;
pub mod inputs;
pub mod parse;
pub mod replay;
pub mod simulate;

use clap::{Parser, Subcommand};

/// ALB access logs → timely, deduplicated 5xx alerts.
#[derive(Debug, Parser)]
#[command(name = "albwatch", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    /// Check a deployment end to end (load balancer, bucket, stream, alerter, Slack secret)
    /// and print ✔ or ✘ with the fix for each step.
    Doctor(doctor::DoctorArgs),
}
