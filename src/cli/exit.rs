//! How an `albwatch` run ends: its exit status, one name per meaning.

use std::process::ExitCode;

/// The exit status of a subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything was read and delivered (or printed).
    Success,
    /// 1: `parse --strict` found malformed lines or field warnings; `doctor` found a step that
    /// is wrong.
    Findings,
    /// 2: something failed: an input could not be read, a record or notification could not be
    /// delivered, or the configuration is invalid (the message says which).
    Failed,
}

impl Exit {
    /// Prints `error` with its causes on one line (`albwatch: outer: inner`) and returns
    /// [`Exit::Failed`].
    pub fn report(error: &anyhow::Error) -> Self {
        eprintln!("albwatch: {error:#}");
        Self::Failed
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::Success => 0,
            Exit::Findings => 1,
            Exit::Failed => 2,
        })
    }
}
