//! The `albwatch` command line (see `albwatch --help`).

use std::process::ExitCode;

use albwatch::cli::exit::Exit;
use albwatch::cli::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    albwatch::telemetry::init_cli(cli.log_filter(), cli.color.enabled());
    let exit = match &cli.command {
        Command::Parse(args) => albwatch::cli::parse::run(args),
        Command::Simulate(args) => block_on(albwatch::cli::simulate::run(args)),
        Command::Replay(args) => block_on(albwatch::cli::replay::run(args)),
        Command::Consume(args) => block_on(albwatch::cli::consume::run(args)),
        Command::Gen(args) => albwatch::cli::generate::run(args),
        Command::Doctor(args) => block_on(albwatch::cli::doctor::run(args)),
    };
    exit.into()
}

/// Runs an async subcommand on a multi-threaded runtime (the ingest parses on a blocking thread).
fn block_on(command: impl Future<Output = Exit>) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command),
        Err(e) => {
            eprintln!("albwatch: cannot start the async runtime: {e}");
            Exit::Failed
        }
    }
}
