//! The `albwatch` command line (see `albwatch --help`).

use std::process::ExitCode;

use albwatch::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    albwatch::telemetry::init_cli();
    let code = match &cli.command {
        Command::Parse(args) => albwatch::cli::parse::run(args),
        Command::Simulate(args) => block_on(albwatch::cli::simulate::run(args)),
        Command::Replay(args) => block_on(albwatch::cli::replay::run(args)),
        Command::Consume(args) => block_on(albwatch::cli::consume::run(args)),
    };
    ExitCode::from(code)
}

/// Runs an async subcommand on a multi-threaded runtime (the ingest parses on a blocking thread).
fn block_on(command: impl Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("albwatch: cannot start the async runtime: {e}");
            2
        }
    }
}
