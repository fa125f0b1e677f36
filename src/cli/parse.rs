//! `albwatch parse`: ALB logs → NDJSON (or a summary), malformed lines and field warnings
//! reported on stderr (buffered, the first few per field and file, then a count).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::inputs::{Input, expand, is_log_file_name};
use super::progress::Progress;
use crate::alb::escape::escape_bytes;
use crate::alb::json::EntryJson;
use crate::alb::problems::{LineProblems, TOO_LONG};
use crate::alb::{is_blank, parse_line};
use crate::cli::exit::Exit;
use crate::decode::{DecodeOptions, LineSource};

/// Options of `albwatch parse`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParseArgs {
    /// Print one summary object instead of one object per entry.
    #[arg(long)]
    pub summary: bool,
    /// Exit 1 when any line is malformed or any field warning was counted.
    #[arg(long)]
    pub strict: bool,
    /// Files (`.gz` or plain), directories (walked for `*.log` and `*.log.gz`), or `-` for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// The `--summary` object.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ParseSummary {
    /// Inputs read.
    pub files: u64,
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Lines that parsed as entries.
    pub entries: u64,
    /// Non-blank lines that did not parse.
    pub malformed: u64,
    /// Fields read as absent because they failed their check, by field name (the entries
    /// still count).
    pub field_warnings: BTreeMap<&'static str, u64>,
    /// Entries whose `elb_status_code` is 5xx.
    pub elb_5xx: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
}

/// Exit status: 0 ok, 1 an input could not be read, or malformed lines or field warnings under
/// `--strict`.
pub fn run(args: &ParseArgs) -> Exit {
    let (inputs, errors) = expand(&args.paths, is_log_file_name);
    let mut failed = !errors.is_empty();
    let progress = Progress::new(inputs.iter().filter_map(Input::size).sum());
    for e in &errors {
        progress.message(&format!("albwatch: {e}"));
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut summary = ParseSummary::default();
    for input in &inputs {
        let result = parse_input(input, args.summary, &mut out, &mut summary, &progress);
        match result {
            Ok(()) => {}
            Err(InputFailure::Output(e)) => return output_failed(&e),
            Err(InputFailure::Input(message)) => {
                progress.message(&format!("albwatch: {message}"));
                failed = true;
            }
        }
    }
    progress.finish();
    if args.summary {
        let written = serde_json::to_writer(&mut out, &summary).map_err(io::Error::from);
        if let Err(e) = written.and_then(|()| out.write_all(b"\n")) {
            return output_failed(&e);
        }
    }
    if let Err(e) = out.flush() {
        return output_failed(&e);
    }
    if failed || args.strict && (summary.malformed > 0 || !summary.field_warnings.is_empty()) {
        Exit::Failed
    } else {
        Exit::Success
    }
}

enum InputFailure {
    /// stdout failed (e.g. the reader of a pipe went away): stop everything.
    Output(io::Error),
    /// This input could not be read or decoded; the others go on.
    Input(String),
}

fn parse_input(
    input: &Input,
    summary_only: bool,
    out: &mut impl Write,
    summary: &mut ParseSummary,
    progress: &Progress,
) -> Result<(), InputFailure> {
    let name = escape_bytes(input.name().as_bytes());
    let reader = input
        .open()
        .map_err(|e| InputFailure::Input(format!("{name}: {e}")))?;
    let source = LineSource::spawn(reader, &name, DecodeOptions::default());
    let read = source.progress();
    let mut output_error = None;
    let mut problems = LineProblems::default();
    summary.files += 1;
    let result = source.for_each_line(|line_no, line| {
        summary.lines += 1;
        if line_no % 16_384 == 0 {
            progress.update(read.load(Ordering::Relaxed));
        }
        let line = match line {
            Ok(line) => line,
            Err(too_long) => {
                if problems.malformed(TOO_LONG) {
                    progress.message(&format!("{name}:{line_no}: {too_long}"));
                }
                return ControlFlow::Continue(());
            }
        };
        if is_blank(line) {
            return ControlFlow::Continue(());
        }
        match parse_line(line) {
            Ok(entry) => {
                summary.entries += 1;
                if entry.has_field_warnings() {
                    for w in entry.field_warnings() {
                        if problems.warning(w.field) {
                            progress.message(&format!("{name}:{line_no}: warning: {w}"));
                        }
                    }
                }
                if entry
                    .elb_status_code()
                    .is_some_and(|c| (500..600).contains(&c))
                {
                    summary.elb_5xx += 1;
                }
                if !summary_only {
                    let written = serde_json::to_writer(&mut *out, &EntryJson::new(&entry))
                        .map_err(io::Error::from)
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = written {
                        output_error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            Err(e) => {
                if problems.malformed(e.field) {
                    progress.message(&format!("{name}:{line_no}: {e}"));
                }
            }
        }
        ControlFlow::Continue(())
    });
    progress.input_done(input.size().unwrap_or(0));
    if let Some(hidden) = problems.hidden() {
        progress.message(&format!("{name}: {hidden}"));
    }
    summary.malformed += problems.malformed_total();
    for (field, n) in problems.field_warnings {
        *summary.field_warnings.entry(field).or_default() += n;
    }
    if let Some(e) = output_error {
        return Err(InputFailure::Output(e));
    }
    match result {
        Ok(stats) => {
            summary.bytes += stats.bytes;
            if let Some(t) = stats.trailing {
                progress.message(&format!("{name}: warning: ignored {} bytes that are not gzip after the last member (compressed byte {})",
                    t.bytes, t.offset
                ));
            }
            Ok(())
        }
        Err(e) => Err(InputFailure::Input(e.to_string())),
    }
}

fn output_failed(e: &io::Error) -> Exit {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Exit::Success // `albwatch parse … | head`: the reader has what it wanted
    } else {
        eprintln!("albwatch: writing output: {e}");
        Exit::Failed
    }
}
