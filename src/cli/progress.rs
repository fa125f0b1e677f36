//! A byte-based progress bar on stderr (shown only when stderr is a terminal), through which
//! every message of a long run is printed, so a message never overwrites the bar.

use std::cell::Cell;
use std::io::IsTerminal as _;

/// The bar and the bytes of the inputs finished so far.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    done: Cell<u64>,
}

impl Progress {
    /// A bar over `total` bytes (none when stderr is not a terminal).
    #[must_use]
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            done: Cell::new(0),
        }
    }

    /// `in_input` bytes of the current input are done.
    pub fn update(&self, in_input: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done.get() + in_input);
        }
    }

    /// The current input (of `size` bytes) is done.
    pub fn input_done(&self, size: u64) {
        self.done.set(self.done.get() + size);
        self.update(0);
    }

    /// Shows `what` (e.g. the input being read) beside the bar.
    pub fn show(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_owned());
        }
    }

    /// Prints one line on stderr above the bar.
    pub fn message(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Runs `f` with the bar cleared, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
