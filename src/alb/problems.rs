//! Counting a file's malformed lines and field warnings, and choosing the few worth printing.
//!
//! A file with a million bad lines must not print a million messages: the first
//! [`SHOWN_PER_FIELD`] problems of each field (per file) are shown, the rest only counted, and the
//! caller prints [`LineProblems::hidden`] as one closing line. `albwatch parse` writes the shown
//! ones to stderr, the ingest Lambda logs them.

use std::collections::BTreeMap;

/// Problems shown per field and kind (malformed line or field warning) in one file.
pub const SHOWN_PER_FIELD: u64 = 3;

/// Excerpt of a malformed line shown in logs, in bytes before escaping.
pub const EXCERPT_BYTES: usize = 60;

/// The name a line too long for the decoder is counted under.
pub const TOO_LONG: &str = "line";

/// Malformed lines and field warnings of one input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineProblems {
    /// Malformed lines by the field where parsing stopped ([`TOO_LONG`] for over-long lines).
    pub malformed: BTreeMap<&'static str, u64>,
    /// Fields read as absent because they failed their check, by field name.
    pub field_warnings: BTreeMap<&'static str, u64>,
    hidden_malformed: u64,
    hidden_warnings: u64,
}

impl LineProblems {
    /// Counts a malformed line; returns whether to show it.
    pub fn malformed(&mut self, field: &'static str) -> bool {
        count(&mut self.malformed, field, &mut self.hidden_malformed)
    }

    /// Counts a field warning; returns whether to show it.
    pub fn warning(&mut self, field: &'static str) -> bool {
        count(&mut self.field_warnings, field, &mut self.hidden_warnings)
    }

    /// Malformed lines in all.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }

    /// Field warnings in all.
    pub fn warnings_total(&self) -> u64 {
        self.field_warnings.values().sum()
    }

    /// The closing line for what was counted but not shown, if anything was.
    pub fn hidden(&self) -> Option<String> {
        let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match (self.hidden_malformed, self.hidden_warnings) {
            (0, 0) => None,
            (m, w) => Some(format!(
                "{} and {} not shown (the first {SHOWN_PER_FIELD} per field are)",
                plural(m, "more malformed line"),
                plural(w, "more field warning"),
            )),
        }
    }
}

fn count(map: &mut BTreeMap<&'static str, u64>, field: &'static str, hidden: &mut u64) -> bool {
    let n = map.entry(field).or_default();
    *n += 1;
    let shown = *n <= SHOWN_PER_FIELD;
    if !shown {
        *hidden += 1;
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_first_few_per_field_and_counts_the_rest() {
        let mut p = LineProblems::default();
        let shown: Vec<bool> = (0..5).map(|_| p.malformed("time")).collect();
        assert_eq!(shown, [true, true, true, false, false]);
        assert!(p.warning("sent_bytes"));
        assert!(p.malformed(TOO_LONG));
        assert_eq!(p.malformed_total(), 6);
        assert_eq!(p.warnings_total(), 1);
        assert_eq!(
            p.hidden().unwrap(),
            "2 more malformed lines and 0 more field warnings not shown (the first 3 per field are)"
        );
        assert_eq!(LineProblems::default().hidden(), None);
    }
}
