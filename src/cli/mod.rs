//! The `albwatch` command line: argument definitions and one module per subcommand.

pub mod inputs;
pub mod parse;

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
}
