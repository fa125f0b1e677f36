//! Which log events count as matches: `ALBWATCH_LOG_PATTERNS`.
//!
//! # Syntax
//!
//! ```text
//! spec     = rule *( ";" rule )                    blank rules are ignored
//! rule     = [ selector ":" ] pattern *( "," pattern )
//! selector = "*"                                   every log group (same as no selector)
//!          | GROUP                                 exactly this log group
//!          | GROUP "*"                             every log group starting with GROUP
//! pattern  = "/" REGEX "/"                         a regular expression (Rust `regex` syntax)
//!          | WORD                                  a word or phrase
//! ```
//!
//! - `GROUP` is a log group name: letters, digits and `_ - / . #` (the characters CloudWatch
//!   allows). A rule starts with a selector when the text before its first `:` is `*` or
//!   consists only of those characters (optionally followed by `*`).
//! - A `WORD` is any text up to the next `,` or `;`, trimmed. It matches **case-sensitively,
//!   as a whole word**: the match must not be preceded or followed by a letter, digit or `_`.
//!   So `NOTIFY` matches `NOTIFY {…}`, `[NOTIFY]` and `"level":"NOTIFY"`, but not `NOTIFYING`,
//!   `PRENOTIFY` or `NOTIFY_X`. A phrase such as `out of memory` works the same way.
//! - A `REGEX` runs from a `/` to the first `/` that is not escaped by `\` and is followed by
//!   `,`, `;` or the end (spaces allowed in between). So it may contain `,`, `;`, `:` and, written
//!   `\/`, a slash. It is searched anywhere in the message (`/^NOTIFY\b/` anchors it at the start;
//!   `/(?i)error/` ignores case).
//! - Messages are matched without their trailing newline.
//! - Which patterns apply to a log group: those of the exact selector, else of the longest
//!   matching prefix selector, else of the `*` (or selector-less) rule, else none, and events of
//!   that group are not alerted on. Each selector may appear once.
//! - An event counts once, under the **first** of its group's patterns that matches, in the
//!   order written; that pattern's label (the text as written, `/…/` included) is its
//!   "status code" in notifications.
//!
//! Unset or blank: [`DEFAULT_LOG_PATTERNS`] (`NOTIFY,ERROR` for every log group).
//!
//! Examples:
//!
//! ```text
//! NOTIFY,ERROR                                  both words, every log group
//! /ecs/liberator:NOTIFY;/aws/lambda/x:ERROR,FATAL
//!                                               NOTIFY in /ecs/liberator, ERROR or FATAL in
//!                                               /aws/lambda/x, nothing anywhere else
//! /aws/lambda/*:/^\[ERROR\]/;*:NOTIFY           an anchored regex for every Lambda log group,
//!                                               NOTIFY everywhere else
//! *:/code: 5\d\d/                               a global regex containing ':' after only
//!                                               log-group characters needs the "*:" selector
//! ```

use std::sync::Arc;

use regex::{Regex, RegexBuilder};

/// The environment variable holding the match rules.
pub const LOG_PATTERNS_ENV: &str = "ALBWATCH_LOG_PATTERNS";
/// The rules used when [`LOG_PATTERNS_ENV`] is unset or blank: the hackday's `NOTIFY` level
/// plus `ERROR`, as whole words, in every log group.
pub const DEFAULT_LOG_PATTERNS: &str = "NOTIFY,ERROR";
/// Most patterns accepted in total.
pub const MAX_PATTERNS: usize = 256;
/// Largest compiled size of one regex, in bytes (keeps a configuration typo from eating memory).
pub const MAX_REGEX_SIZE: usize = 1 << 20;
/// Longest log group name CloudWatch allows.
pub const MAX_LOG_GROUP_LEN: usize = 512;

/// Why `ALBWATCH_LOG_PATTERNS` is invalid. Positions are byte offsets into the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// An empty pattern (`A,,B`, a trailing `,`, or `//`).
    #[error("{LOG_PATTERNS_ENV}: empty pattern at byte {at}")]
    Empty {
        /// Where.
        at: usize,
    },
    /// A `/` that starts a regex has no closing `/` followed by `,`, `;` or the end.
    #[error(
        "{LOG_PATTERNS_ENV}: regex at byte {at} has no closing '/' followed by ',', ';' or the end (a global regex containing ':' must follow \"*:\")"
    )]
    UnterminatedRegex {
        /// Where the regex starts.
        at: usize,
    },
    /// A regex does not compile.
    #[error("{LOG_PATTERNS_ENV}: invalid regex {pattern}: {reason}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// A word pattern ends with `/`: probably a regex misread after a selector.
    #[error(
        "{LOG_PATTERNS_ENV}: word pattern {word:?} ends with '/'; write a regex as /…/, and a global rule containing ':' after \"*:\""
    )]
    AmbiguousWord {
        /// The word.
        word: String,
    },
    /// A selector with no patterns (`/ecs/x:` or `ERROR:`).
    #[error("{LOG_PATTERNS_ENV}: log group selector {selector:?} has no patterns")]
    NoPatterns {
        /// The selector as written.
        selector: String,
    },
    /// The same selector twice.
    #[error("{LOG_PATTERNS_ENV}: log group selector {selector:?} appears twice")]
    DuplicateSelector {
        /// The selector as written.
        selector: String,
    },
    /// A selector longer than a log group name can be.
    #[error(
        "{LOG_PATTERNS_ENV}: log group selector at byte {at} is longer than {MAX_LOG_GROUP_LEN}"
    )]
    SelectorTooLong {
        /// Where it starts.
        at: usize,
    },
    /// More than [`MAX_PATTERNS`] patterns.
    #[error("{LOG_PATTERNS_ENV}: more than {MAX_PATTERNS} patterns")]
    TooMany,
}

/// One match pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    label: Arc<str>,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Word(String),
    Regex(Regex),
}

impl Pattern {
    /// A whole-word pattern (see the module docs). `None` for an empty word.
    #[must_use]
    pub fn word(word: &str) -> Option<Self> {
        (!word.is_empty()).then(|| Self {
            label: Arc::from(word),
            matcher: Matcher::Word(word.to_owned()),
        })
    }

    /// A regex pattern; its label is `/regex/`.
    pub fn regex(regex: &str) -> Result<Self, PatternError> {
        let label = format!("/{regex}/");
        let compiled = RegexBuilder::new(regex)
            .size_limit(MAX_REGEX_SIZE)
            .build()
            .map_err(|e| PatternError::Regex {
                pattern: label.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            label: Arc::from(label),
            matcher: Matcher::Regex(compiled),
        })
    }

    /// The pattern as written (`NOTIFY`, `/^NOTIFY\b/`): how matches are counted and shown.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The label, shared.
    #[must_use]
    pub fn label_arc(&self) -> &Arc<str> {
        &self.label
    }

    /// Whether `message` matches (no newline trimming here; see [`trim_message`]).
    #[must_use]
    pub fn is_match(&self, message: &str) -> bool {
        match &self.matcher {
            Matcher::Word(word) => contains_word(message, word),
            Matcher::Regex(regex) => regex.is_match(message),
        }
    }
}

/// A log message as matched and shown: without its trailing line terminators.
#[must_use]
pub fn trim_message(message: &str) -> &str {
    message.trim_end_matches(['\n', '\r'])
}

/// Which log groups a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    All,
    Group(String),
    Prefix(String),
}

impl Selector {
    /// How specific a match is (higher wins), or `None` if `log_group` is not selected.
    fn rank(&self, log_group: &str) -> Option<(u8, usize)> {
        match self {
            Self::All => Some((0, 0)),
            Self::Prefix(p) => log_group.starts_with(p.as_str()).then_some((1, p.len())),
            Self::Group(g) => (g == log_group).then_some((2, g.len())),
        }
    }

    fn written(&self) -> String {
        match self {
            Self::All => "*".to_owned(),
            Self::Group(g) => g.clone(),
            Self::Prefix(p) => format!("{p}*"),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    selector: Selector,
    patterns: Vec<Pattern>,
}

/// The parsed match rules. See the module docs for the syntax and semantics.
#[derive(Debug, Clone)]
pub struct LogPatterns {
    rules: Vec<Rule>,
}

impl Default for LogPatterns {
    /// [`DEFAULT_LOG_PATTERNS`].
    fn default() -> Self {
        let patterns = DEFAULT_LOG_PATTERNS
            .split(',')
            .filter_map(Pattern::word)
            .collect();
        Self {
            rules: vec![Rule {
                selector: Selector::All,
                patterns,
            }],
        }
    }
}

impl LogPatterns {
    /// Reads [`LOG_PATTERNS_ENV`]; unset or blank gives [`LogPatterns::default`].
    pub fn from_env() -> Result<Self, PatternError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// [`LogPatterns::from_env`] with a custom variable lookup (tests, CLI flags).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PatternError> {
        match lookup(LOG_PATTERNS_ENV) {
            Some(spec) if !spec.trim().is_empty() => Self::parse(&spec),
            _ => Ok(Self::default()),
        }
    }

    /// Parses a rule list (module docs). A blank spec gives no rules at all (nothing matches).
    pub fn parse(spec: &str) -> Result<Self, PatternError> {
        Parser {
            spec,
            bytes: spec.as_bytes(),
        }
        .rules()
        .map(|rules| Self { rules })
    }

    /// The patterns that apply to `log_group` (empty when no rule selects it).
    #[must_use]
    pub fn for_group(&self, log_group: &str) -> &[Pattern] {
        self.rules
            .iter()
            .filter_map(|r| r.selector.rank(log_group).map(|rank| (rank, r)))
            .max_by_key(|(rank, _)| *rank)
            .map_or(&[], |(_, r)| r.patterns.as_slice())
    }

    /// The first pattern of `log_group` that matches `message` (trailing newlines ignored).
    #[must_use]
    pub fn first_match(&self, log_group: &str, message: &str) -> Option<&Pattern> {
        let message = trim_message(message);
        self.for_group(log_group)
            .iter()
            .find(|p| p.is_match(message))
    }

    /// The rules in a canonical written form (`selector:label,label;…`), for logs and tests.
    #[must_use]
    pub fn describe(&self) -> String {
        self.rules
            .iter()
            .map(|r| {
                let labels: Vec<&str> = r.patterns.iter().map(Pattern::label).collect();
                format!("{}:{}", r.selector.written(), labels.join(","))
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Whether `c` continues a word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `hay` neither preceded nor followed by a word character.
fn contains_word(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = hay.get(from..).and_then(|rest| rest.find(word)) {
        let start = from + i;
        let end = start + word.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
            return true;
        }
        // Overlapping occurrences: retry one character further.
        from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Whether `b` may appear in a log group name.
fn is_group_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/' | b'.' | b'#')
}

struct Parser<'a> {
    spec: &'a str,
    bytes: &'a [u8],
}

impl Parser<'_> {
    fn skip_ws(&self, mut pos: usize) -> usize {
        while self.bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
            pos += 1;
        }
        pos
    }

    /// Whether a pattern or rule ends at `pos` (after spaces): `,`, `;` or the end.
    fn at_separator(&self, pos: usize) -> bool {
        matches!(self.bytes.get(self.skip_ws(pos)), None | Some(b',' | b';'))
    }

    fn rules(&self) -> Result<Vec<Rule>, PatternError> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut total = 0usize;
        let mut pos = 0;
        loop {
            pos = self.skip_ws(pos);
            match self.bytes.get(pos) {
                None => break,
                Some(b';') => {
                    pos += 1;
                    continue;
                }
                Some(_) => {}
            }
            let (selector, explicit, next) = self.selector(pos)?;
            let (patterns, next) = self.patterns(next)?;
            if patterns.is_empty() {
                if explicit {
                    return Err(PatternError::NoPatterns {
                        selector: selector.written(),
                    });
                }
                return Err(PatternError::Empty { at: next });
            }
            if rules.iter().any(|r| r.selector == selector) {
                return Err(PatternError::DuplicateSelector {
                    selector: selector.written(),
                });
            }
            total += patterns.len();
            if total > MAX_PATTERNS {
                return Err(PatternError::TooMany);
            }
            rules.push(Rule { selector, patterns });
            pos = next;
        }
        Ok(rules)
    }

    /// The selector at `pos`, whether one was written, and where the patterns start.
    fn selector(&self, pos: usize) -> Result<(Selector, bool, usize), PatternError> {
        let mut end = pos;
        while self.bytes.get(end).copied().is_some_and(is_group_byte) {
            end += 1;
        }
        let star = self.bytes.get(end) == Some(&b'*');
        let colon = end + usize::from(star);
        if self.bytes.get(colon) != Some(&b':') || (end == pos && !star) {
            return Ok((Selector::All, false, pos));
        }
        if end - pos > MAX_LOG_GROUP_LEN {
            return Err(PatternError::SelectorTooLong { at: pos });
        }
        let name = &self.spec[pos..end];
        let selector = match (name.is_empty(), star) {
            (true, _) => Selector::All,
            (false, true) => Selector::Prefix(name.to_owned()),
            (false, false) => Selector::Group(name.to_owned()),
        };
        Ok((selector, true, colon + 1))
    }

    /// The comma-separated patterns from `pos` to the end of the rule, and where the next rule
    /// starts.
    fn patterns(&self, mut pos: usize) -> Result<(Vec<Pattern>, usize), PatternError> {
        let mut patterns = Vec::new();
        loop {
            pos = self.skip_ws(pos);
            match self.bytes.get(pos) {
                None | Some(b';') if patterns.is_empty() => {
                    return Ok((patterns, (pos + 1).min(self.bytes.len())));
                }
                None | Some(b',' | b';') => return Err(PatternError::Empty { at: pos }),
                Some(_) => {}
            }
            let (pattern, next) = if self.bytes[pos] == b'/' {
                self.regex(pos)?
            } else {
                self.word(pos)?
            };
            patterns.push(pattern);
            pos = self.skip_ws(next);
            match self.bytes.get(pos) {
                None => return Ok((patterns, pos)),
                Some(b';') => return Ok((patterns, pos + 1)),
                Some(b',') => pos += 1,
                // Unreachable by construction of `regex` and `word`; reported, not panicked.
                Some(_) => return Err(PatternError::Empty { at: pos }),
            }
        }
    }

    /// The `/regex/` starting at `pos` (a `/`), and the position after its closing `/`.
    fn regex(&self, pos: usize) -> Result<(Pattern, usize), PatternError> {
        let mut i = pos + 1;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'/' if self.at_separator(i + 1) => {
                    if i == pos + 1 {
                        return Err(PatternError::Empty { at: pos });
                    }
                    return Ok((Pattern::regex(&self.spec[pos + 1..i])?, i + 1));
                }
                _ => i += 1,
            }
        }
        Err(PatternError::UnterminatedRegex { at: pos })
    }

    /// The word starting at `pos`, and the position of the `,`/`;`/end after it.
    fn word(&self, pos: usize) -> Result<(Pattern, usize), PatternError> {
        let end = self.bytes[pos..]
            .iter()
            .position(|b| matches!(b, b',' | b';'))
            .map_or(self.bytes.len(), |n| pos + n);
        let word = self.spec[pos..end].trim();
        if word.ends_with('/') {
            return Err(PatternError::AmbiguousWord {
                word: word.to_owned(),
            });
        }
        Pattern::word(word)
            .map(|p| (p, end))
            .ok_or(PatternError::Empty { at: pos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(p: &LogPatterns, group: &str) -> Vec<String> {
        p.for_group(group)
            .iter()
            .map(|p| p.label().to_owned())
            .collect()
    }

    fn matched<'a>(p: &'a LogPatterns, group: &str, message: &str) -> Option<&'a str> {
        p.first_match(group, message).map(Pattern::label)
    }

    #[test]
    fn default_is_notify_and_error_everywhere() {
        let d = LogPatterns::default();
        assert_eq!(d.describe(), "*:NOTIFY,ERROR");
        assert_eq!(
            LogPatterns::parse(DEFAULT_LOG_PATTERNS).unwrap().describe(),
            d.describe()
        );
        for unset in [None, Some(String::new()), Some("  ".to_owned())] {
            let p = LogPatterns::from_lookup(|_| unset.clone()).unwrap();
            assert_eq!(p.describe(), "*:NOTIFY,ERROR");
        }
        let p = LogPatterns::from_lookup(|v| (v == LOG_PATTERNS_ENV).then(|| "FATAL".to_owned()))
            .unwrap();
        assert_eq!(p.describe(), "*:FATAL");
    }

    #[test]
    fn words_match_whole_words_case_sensitively() {
        let p = LogPatterns::default();
        let g = "/any";
        for yes in [
            "NOTIFY {\"state\":\"firing\"}\n",
            "[NOTIFY] x",
            "{\"level\":\"NOTIFY\"}",
            "DEBUG would NOTIFY target=10.0.1.11:8080",
            "NOTIFY",
            "x.NOTIFY.y",
            "é NOTIFY é",
            "ERROR: disk full",
            "NOTIFYING NOTIFY", // a later occurrence counts
        ] {
            assert!(p.first_match(g, yes).is_some(), "{yes:?}");
        }
        for no in [
            "NOTIFYING the team",
            "PRENOTIFY",
            "NOTIFY_X",
            "éNOTIFY",
            "NOTIFY2",
            "notify",
            "error: lowercase",
            "ERRORS: 0",
            "",
        ] {
            assert!(p.first_match(g, no).is_none(), "{no:?}");
        }
    }

    #[test]
    fn phrases_and_punctuation_words() {
        let p = LogPatterns::parse("out of memory,[FATAL]").unwrap();
        assert_eq!(
            matched(&p, "g", "java: out of memory!"),
            Some("out of memory")
        );
        assert_eq!(matched(&p, "g", "xout of memory"), None);
        assert_eq!(matched(&p, "g", "2025 [FATAL] boom"), Some("[FATAL]"));
        assert_eq!(matched(&p, "g", "a[FATAL]"), None);
    }

    #[test]
    fn regexes_are_slash_delimited() {
        let p = LogPatterns::parse(r"/^NOTIFY\b/, /(?i)timed? out/ ,/a{1,3};b\/c/").unwrap();
        assert_eq!(
            labels(&p, "g"),
            [r"/^NOTIFY\b/", "/(?i)timed? out/", r"/a{1,3};b\/c/"]
        );
        assert_eq!(matched(&p, "g", "NOTIFY {}\n"), Some(r"/^NOTIFY\b/"));
        assert_eq!(matched(&p, "g", "DEBUG would NOTIFY x"), None);
        assert_eq!(
            matched(&p, "g", "Request TIMED OUT"),
            Some("/(?i)timed? out/")
        );
        assert_eq!(matched(&p, "g", "xaa;b/c"), Some(r"/a{1,3};b\/c/"));
        // Trailing newlines are trimmed before matching, so `$` works.
        let p = LogPatterns::parse("/done$/").unwrap();
        assert_eq!(matched(&p, "g", "done\r\n"), Some("/done$/"));
    }

    #[test]
    fn per_group_rules_exact_prefix_and_global() {
        let p = LogPatterns::parse("/ecs/liberator:NOTIFY;/aws/lambda/x:ERROR,FATAL").unwrap();
        assert_eq!(
            p.describe(),
            "/ecs/liberator:NOTIFY;/aws/lambda/x:ERROR,FATAL"
        );
        assert_eq!(labels(&p, "/ecs/liberator"), ["NOTIFY"]);
        assert_eq!(labels(&p, "/aws/lambda/x"), ["ERROR", "FATAL"]);
        assert!(labels(&p, "/aws/lambda/y").is_empty());
        assert!(labels(&p, "/ecs/liberator2").is_empty());
        assert_eq!(matched(&p, "/aws/lambda/x", "FATAL ERROR"), Some("ERROR"));
        assert_eq!(matched(&p, "/ecs/liberator", "ERROR"), None);

        let p = LogPatterns::parse(
            r" /aws/lambda/*:/^\[ERROR\]/ ; *:NOTIFY ; /aws/lambda/special: PANIC ;",
        )
        .unwrap();
        assert_eq!(labels(&p, "/aws/lambda/a"), [r"/^\[ERROR\]/"]);
        assert_eq!(labels(&p, "/aws/lambda/special"), ["PANIC"]);
        assert_eq!(labels(&p, "/ecs/web"), ["NOTIFY"]);

        // The longest prefix wins.
        let p = LogPatterns::parse("/a*:A;/a/b*:B").unwrap();
        assert_eq!(labels(&p, "/a/b/c"), ["B"]);
        assert_eq!(labels(&p, "/a/c"), ["A"]);

        // A selector-less rule is the global one.
        let p = LogPatterns::parse("NOTIFY;/g:X").unwrap();
        assert_eq!(p.describe(), "*:NOTIFY;/g:X");
        assert_eq!(labels(&p, "/other"), ["NOTIFY"]);
    }

    #[test]
    fn colons_in_global_patterns() {
        // Text before ':' that is not a log group name: a global pattern.
        let p = LogPatterns::parse("/(?i:error)/,code=5").unwrap();
        assert_eq!(p.describe(), "*:/(?i:error)/,code=5");
        // Ambiguous forms are errors, never silently misread…
        assert!(matches!(
            LogPatterns::parse("/ERROR: x/"),
            Err(PatternError::AmbiguousWord { .. })
        ));
        assert!(matches!(
            LogPatterns::parse("/ERROR:/"),
            Err(PatternError::UnterminatedRegex { .. })
        ));
        assert!(matches!(
            LogPatterns::parse("ERROR:"),
            Err(PatternError::NoPatterns { .. })
        ));
        // …and "*:" makes them explicit.
        let p = LogPatterns::parse("*:/ERROR: x/,ERROR:").unwrap();
        assert_eq!(labels(&p, "g"), ["/ERROR: x/", "ERROR:"]);
        assert_eq!(matched(&p, "g", "ERROR: x"), Some("/ERROR: x/"));
    }

    #[test]
    fn rejects_bad_specs_naming_the_variable() {
        for (spec, check) in [
            ("NOTIFY,,ERROR", PatternError::Empty { at: 7 }),
            ("NOTIFY,", PatternError::Empty { at: 7 }),
            ("//", PatternError::Empty { at: 0 }),
            (
                "/g:;X",
                PatternError::NoPatterns {
                    selector: "/g".to_owned(),
                },
            ),
            (
                "/g:A;/g:B",
                PatternError::DuplicateSelector {
                    selector: "/g".to_owned(),
                },
            ),
            (
                "A;*:B",
                PatternError::DuplicateSelector {
                    selector: "*".to_owned(),
                },
            ),
            ("/abc", PatternError::UnterminatedRegex { at: 0 }),
        ] {
            let err = LogPatterns::parse(spec).unwrap_err();
            assert_eq!(err, check, "{spec}");
            assert!(err.to_string().starts_with(LOG_PATTERNS_ENV), "{err}");
        }
        assert!(matches!(
            LogPatterns::parse("/(unclosed/"),
            Err(PatternError::Regex { .. })
        ));
        assert!(matches!(
            LogPatterns::parse(&format!("{}:A", "a".repeat(MAX_LOG_GROUP_LEN + 1))),
            Err(PatternError::SelectorTooLong { at: 0 })
        ));
        let many = vec!["W"; MAX_PATTERNS + 1].join(",");
        assert_eq!(
            LogPatterns::parse(&many).unwrap_err(),
            PatternError::TooMany
        );
        assert!(matches!(
            LogPatterns::parse(r"/\w{100000}{100000}/"),
            Err(PatternError::Regex { .. })
        ));
        // Blank: no rules, nothing matches.
        assert!(LogPatterns::parse(" ; ").unwrap().for_group("g").is_empty());
    }

    proptest! {
        #[test]
        fn parse_never_panics(spec in any::<String>()) {
            let _ = LogPatterns::parse(&spec);
        }

        #[test]
        fn parse_never_panics_on_syntax_heavy_specs(spec in "[/:;,*\\\\ a-z^$()\\[\\]{}é]{0,40}") {
            if let Ok(p) = LogPatterns::parse(&spec) {
                let _ = p.first_match("/a/b", &spec);
            }
        }

        #[test]
        fn words_agree_with_regex_half_boundaries(
            hay in "[ a-cA-C_.é0-9\\[\\]]{0,30}",
            word in "[a-cA-C_.\\[\\]]{1,3}",
        ) {
            let re = Regex::new(&format!(r"\b{{start-half}}{}\b{{end-half}}", regex::escape(&word)))
                .expect("valid");
            prop_assert_eq!(contains_word(&hay, &word), re.is_match(&hay), "{:?} in {:?}", word, hay);
        }
    }
}
