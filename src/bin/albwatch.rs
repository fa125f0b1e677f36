//! The `albwatch` command line (see `albwatch --help`).

use std::process::ExitCode;

use albwatch::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Parse(args) => albwatch::cli::parse::run(args),
    };
    ExitCode::from(code)
}
