//! Rendering notifications for people: Slack Block Kit webhook payloads and a plain-text
//! terminal form.
//!
//! Everything taken from a log line is attacker-controlled (URLs, user agents, even targets
//! from a spoofed log), so every such string goes through [`escape_mrkdwn`] before it lands
//! in mrkdwn, and through control-character scrubbing before it lands on a terminal.
//! Slack's limits are named constants below; a payload never exceeds them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use chrono::{DateTime, Utc};

use super::console::TargetGroupArn;
use super::notification::{
    MAX_SAMPLES, Notification, Sample, Source, Status, TargetKind, format_time,
};
use crate::text::printable;

/// Maximum number of blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Maximum length of a section block's text.
pub const MAX_SECTION_TEXT: usize = 3000;
/// Maximum length of a header block's `plain_text`.
pub const MAX_HEADER_TEXT: usize = 150;
/// Slack truncates a message's top-level `text` beyond this length.
pub const MAX_MESSAGE_TEXT: usize = 40_000;
/// Our own, much smaller cap for the fallback `text` (shown in notifications only).
pub const FALLBACK_TEXT_CAP: usize = 1_000;
/// Status codes and error reasons listed per target (the most frequent ones).
pub const TOP_COUNTS: usize = 3;
/// Longest request line or target shown, in characters, before escaping.
pub const MAX_FIELD_CHARS: usize = 300;
/// Longest Athena query shown, in characters (the queries built are about 450).
pub const MAX_QUERY_CHARS: usize = 1_000;
/// Longest user agent shown, in characters, before escaping.
pub const MAX_USER_AGENT_CHARS: usize = 120;

const _: () = assert!(FALLBACK_TEXT_CAP <= MAX_MESSAGE_TEXT);

/// Stands in for a backtick inside inline code so log text cannot close the code span.
const BACKTICK_STAND_IN: &str = "\u{02CB}"; // ˋ MODIFIER LETTER GRAVE ACCENT
/// Marks a cut.
const ELLIPSIS: char = '…';

/// Escapes the three characters Slack mrkdwn treats as control characters:
/// `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`. Borrows when nothing needs escaping.
///
/// This keeps `<!channel>` from pinging anyone and `<http://x|y>` from becoming a link.
#[must_use]
pub fn escape_mrkdwn(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Length as Slack limits count it. Counted in UTF-16 code units, which is never less than the
/// number of characters, so a text within this length is within the limit either way.
#[must_use]
pub fn slack_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Cuts already-escaped mrkdwn to at most `max` ([`slack_len`]) and marks the cut with `…`.
///
/// Never splits a character or an `&amp;`/`&lt;`/`&gt;` entity, and closes an inline code span
/// the cut left open. Borrows when the text already fits.
#[must_use]
pub fn truncate_mrkdwn(s: &str, max: usize) -> Cow<'_, str> {
    if slack_len(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let open_code = |kept: &str| kept.matches('`').count() % 2 == 1;
    // Room for the ellipsis; and for a closing backtick only if the cut opens a code span.
    let mut kept = entity_safe_prefix(s, max - 1);
    if open_code(kept) {
        kept = entity_safe_prefix(s, max.saturating_sub(2));
        if open_code(kept) && kept.ends_with('`') {
            kept = &kept[..kept.len() - 1];
        }
    }
    let mut out = String::with_capacity(kept.len() + 4);
    out.push_str(kept);
    out.push(ELLIPSIS);
    if open_code(kept) {
        out.push('`');
    }
    Cow::Owned(out)
}

/// The longest prefix of escaped `s` within `budget` ([`slack_len`]) that ends on a character
/// boundary and outside an entity.
fn entity_safe_prefix(s: &str, budget: usize) -> &str {
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        cut = i + c.len_utf8();
    }
    let kept = &s[..cut];
    // In escaped text every `&` starts an entity; one without its `;` was cut in half.
    match kept.rfind('&') {
        Some(amp) if !kept[amp..].contains(';') => &kept[..amp],
        _ => kept,
    }
}

/// Renders one load balancer's notifications as a Slack webhook payload:
/// `{"text": fallback, "blocks": [header, one section per target, …]}`.
///
/// Firing and escalated targets come first, then by 5xx count. When there are more targets than
/// [`MAX_BLOCKS`] allows, the last block says how many were left out.
#[must_use]
pub fn render_payload(load_balancer: &str, notifications: &[Notification]) -> Value {
    let mut ordered: Vec<&Notification> = notifications.iter().collect();
    ordered.sort_by_key(|n| {
        (
            n.status != Status::Firing,
            !n.escalation,
            std::cmp::Reverse(n.count_5xx),
        )
    });

    let counts = Counts::of(notifications);
    let any_escalation = notifications
        .iter()
        .any(|n| n.escalation && n.status == Status::Firing);
    let lb = Style::Mrkdwn.lit(load_balancer, MAX_FIELD_CHARS);
    let emoji = if counts.alarming() {
        ":rotating_light:"
    } else {
        ":white_check_mark:"
    };
    let escalated = if any_escalation { " (escalated)" } else { "" };
    let header = format!("{emoji} {lb} — {}{escalated}", counts.summary());

    let mut blocks = Vec::with_capacity(MAX_BLOCKS);
    blocks.push(json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate_mrkdwn(&header, MAX_HEADER_TEXT),
            "emoji": true,
        },
    }));

    let n = ordered.len();
    let room = MAX_BLOCKS - blocks.len();
    let (shown, dividers) = if 2 * n <= room + 1 {
        (n, true)
    } else if n <= room {
        (n, false)
    } else {
        (room - 1, false)
    };
    for (i, notification) in ordered.iter().take(shown).enumerate() {
        if dividers && i > 0 {
            blocks.push(json!({ "type": "divider" }));
        }
        blocks.push(section(&section_text(notification)));
    }
    if shown < n {
        let rest = Counts::of(ordered[shown..].iter().copied());
        blocks.push(section(&format!(
            "…and {} more targets ({})",
            n - shown,
            rest.summary_short()
        )));
    }

    json!({
        "text": fallback_text(&lb, &counts, &ordered),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// The `action_id`s of the silence buttons on a bot's incident message; the button's `value`
/// is the key they silence ([`silence_value`]).
pub const SILENCE_ACTIONS: [(&str, &str, u32); 2] = [
    ("silence_1h", "Silence 1h", 3600),
    ("silence_24h", "Silence 24h", 24 * 3600),
];
/// The `action_id` of the button that ends a silence.
pub const UNSILENCE_ACTION: &str = "unsilence";
/// Longest button `value` Slack accepts.
pub const MAX_BUTTON_VALUE: usize = 2000;
/// The `block_id` of the silence buttons (and of the silence note that replaces them).
pub const SILENCE_BLOCK_ID: &str = "albwatch_silence";

/// The button value naming a key: `load_balancer` and `key` joined by a newline (neither can
/// contain one), or `None` when it would not fit in a button.
#[must_use]
pub fn silence_value(load_balancer: &str, key: &str) -> Option<String> {
    let v = format!("{load_balancer}\n{key}");
    (v.len() <= MAX_BUTTON_VALUE && !load_balancer.contains('\n') && !key.contains('\n'))
        .then_some(v)
}

/// A bot's message for one incident: [`render_payload`] of its latest notification, with the
/// silence buttons while an ALB key fires (when the key fits in a button value).
#[must_use]
pub fn render_incident(load_balancer: &str, notification: &Notification) -> Value {
    let mut payload = render_payload(load_balancer, std::slice::from_ref(notification));
    // Only an ALB key's ledger is named by its load balancer and target.
    let value = silence_value(load_balancer, &notification.target)
        .filter(|_| notification.source == Source::Alb);
    if notification.status == Status::Firing
        && let Some(value) = value
        && let Some(blocks) = payload.get_mut("blocks").and_then(Value::as_array_mut)
        && blocks.len() < MAX_BLOCKS
    {
        let buttons: Vec<Value> = SILENCE_ACTIONS
            .iter()
            .map(|(id, label, _)| {
                json!({
                    "type": "button",
                    "action_id": id,
                    "text": { "type": "plain_text", "text": label },
                    "value": value,
                })
            })
            .collect();
        blocks
            .push(json!({ "type": "actions", "block_id": SILENCE_BLOCK_ID, "elements": buttons }));
    }
    payload
}

/// The thread reply a bot posts under an incident's message for an announcement that
/// followers must hear of (an edit alone notifies nobody): an escalation, a reminder, the
/// resolution. `None` for a live update.
#[must_use]
pub fn render_thread_reply(n: &Notification) -> Option<String> {
    if n.update {
        return None;
    }
    let style = Style::Mrkdwn;
    let rate = n
        .effective_error_rate()
        .map(|r| format!(" ({:.2}%)", r * 100.0))
        .unwrap_or_default();
    let noun = if n.source == Source::CloudwatchLogs {
        "matching events"
    } else {
        "5xx"
    };
    let window = format!(
        "{} – {}",
        style.time(&n.window_start),
        style.time(&n.window_end)
    );
    Some(match (n.status, n.source) {
        (Status::Resolved, Source::LogDelivery) => {
            format!(":large_green_circle: *Access logs flowing again* (gap {window})")
        }
        (Status::Firing, Source::LogDelivery) => {
            format!(
                ":warning: *Still no access logs* (since {})",
                style.time(&n.window_start)
            )
        }
        (Status::Resolved, _) => {
            let lasted = n
                .incident_start
                .map(|s| format!(" after {} min", (n.window_end - s).num_minutes().max(0)))
                .unwrap_or_default();
            format!(
                ":large_green_circle: *Resolved*{lasted} (recovered by {})",
                style.time(&n.window_end)
            )
        }
        (Status::Firing, _) if n.escalation => format!(
            ":arrow_double_up: *Escalated*: {} {noun}{rate} in {window}",
            n.count_5xx
        ),
        (Status::Firing, _) => format!(
            ":repeat: *Still firing*: {} {noun}{rate} in {window}",
            n.count_5xx
        ),
    })
}

/// Renders one notification for a terminal: no markup, control characters neutralised.
#[must_use]
pub fn render_text(notification: &Notification) -> String {
    let parts = Parts::of(notification, Style::Text);
    let lb = Style::Text.lit(&notification.load_balancer, MAX_FIELD_CHARS);
    let place = match notification.source {
        Source::Alb => "load balancer",
        Source::CloudwatchLogs => "log group",
        Source::LogDelivery => "load balancer",
    };
    let mut out = format!("{} on {place} {lb}\n", parts.title);
    for line in parts.details.iter().chain(&parts.samples) {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    if parts.more_samples > 0 {
        let _ = writeln!(out, "  …and {} more samples", parts.more_samples);
    }
    out
}

fn section(text: &str) -> Value {
    json!({
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": truncate_mrkdwn(text, MAX_SECTION_TEXT),
            "verbatim": true,
        },
    })
}

/// The mrkdwn of one target's section: title and details always, then as many samples as fit.
fn section_text(n: &Notification) -> String {
    let parts = Parts::of(n, Style::Mrkdwn);
    let mut text = parts.title;
    for line in &parts.details {
        text.push('\n');
        text.push_str(line);
    }
    let mut omitted = parts.more_samples;
    for (i, line) in parts.samples.iter().enumerate() {
        // Keep room for a "…and N more samples" line.
        if slack_len(&text) + 1 + slack_len(line) + 40 > MAX_SECTION_TEXT {
            omitted += parts.samples.len() - i;
            break;
        }
        text.push('\n');
        text.push_str(line);
    }
    if omitted > 0 {
        let _ = write!(text, "\n…and {omitted} more samples");
    }
    text
}

fn fallback_text(lb: &str, counts: &Counts, ordered: &[&Notification]) -> String {
    let mut text = format!("{lb} — {}", counts.summary());
    let mut sep = ": ";
    for n in ordered {
        let status = n.status.as_str();
        let item = match (n.source, n.status) {
            (Source::LogDelivery, Status::Firing) => {
                format!("{sep}NO ACCESS LOGS since {}", format_time(&n.window_start))
            }
            (Source::LogDelivery, Status::Resolved) => format!(
                "{sep}access logs flowing again since {}",
                format_time(&n.window_end)
            ),
            (Source::CloudwatchLogs, _) => format!(
                "{sep}{} {status} ({} matching events)",
                Style::Mrkdwn.lit(&n.target, MAX_FIELD_CHARS),
                n.count_5xx
            ),
            _ => format!(
                "{sep}{} {status} ({} 5xx)",
                Style::Mrkdwn.lit(&n.target, MAX_FIELD_CHARS),
                n.count_5xx
            ),
        };
        if slack_len(&text) + slack_len(&item) + 2 > FALLBACK_TEXT_CAP {
            text.push_str(", …");
            break;
        }
        text.push_str(&item);
        sep = ", ";
    }
    truncate_mrkdwn(&text, FALLBACK_TEXT_CAP).into_owned()
}

#[derive(Default)]
struct Counts {
    firing: usize,
    resolved: usize,
    /// Log delivery stopped (firing) or flows again (resolved).
    logs_stopped: usize,
    logs_flowing: usize,
    /// Only CloudWatch Logs matches: the nouns are log streams, not targets.
    log_streams: bool,
}

impl Counts {
    fn of<'a>(ns: impl IntoIterator<Item = &'a Notification>) -> Self {
        let mut c = Self::default();
        let mut any = false;
        let mut all_logs = true;
        for n in ns {
            any = true;
            all_logs &= n.source == Source::CloudwatchLogs;
            match (n.source == Source::LogDelivery, n.status) {
                (false, Status::Firing) => c.firing += 1,
                (false, Status::Resolved) => c.resolved += 1,
                (true, Status::Firing) => c.logs_stopped += 1,
                (true, Status::Resolved) => c.logs_flowing += 1,
            }
        }
        c.log_streams = any && all_logs;
        c
    }

    /// Anything alarming in the message.
    fn alarming(&self) -> bool {
        self.firing + self.logs_stopped > 0
    }

    /// "2 targets firing, 1 resolved" (and the log delivery, if it changed).
    fn summary(&self) -> String {
        let plural = |k: usize| match (self.log_streams, k) {
            (true, 1) => "log stream",
            (true, _) => "log streams",
            (false, 1) => "target",
            (false, _) => "targets",
        };
        let mut parts = Vec::new();
        if self.logs_stopped > 0 {
            parts.push("access logs stopped".to_owned());
        }
        if self.logs_flowing > 0 {
            parts.push("access logs flowing again".to_owned());
        }
        match (self.firing, self.resolved) {
            (0, 0) if parts.is_empty() => parts.push("nothing to report".to_owned()),
            (0, 0) => {}
            (f, 0) => parts.push(format!("{f} {} firing", plural(f))),
            (0, r) => parts.push(format!("{r} {} resolved", plural(r))),
            (f, r) => parts.push(format!("{f} {} firing, {r} resolved", plural(f))),
        }
        parts.join(", ")
    }

    /// "30 firing, 2 resolved".
    fn summary_short(&self) -> String {
        format!("{} firing, {} resolved", self.firing, self.resolved)
    }
}

/// Output flavour shared by the Slack and terminal renderers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Mrkdwn,
    Text,
}

impl Style {
    /// A log-derived value as ordinary text: scrubbed, clipped to `max` chars, escaped.
    /// In mrkdwn, backticks become [`BACKTICK_STAND_IN`] so that the only backticks in a
    /// message are our own code-span delimiters.
    fn lit(self, s: &str, max: usize) -> String {
        let clipped = printable(s, max);
        match self {
            Self::Mrkdwn if clipped.contains('`') => {
                let neutral = clipped.replace('`', BACKTICK_STAND_IN);
                escape_mrkdwn(&neutral).into_owned()
            }
            Self::Mrkdwn => escape_mrkdwn(&clipped).into_owned(),
            Self::Text => clipped.into_owned(),
        }
    }

    /// A log-derived value as inline code; backticks inside cannot close the span.
    fn code(self, s: &str, max: usize) -> String {
        let inner = self.lit(s, max);
        match self {
            Self::Mrkdwn if inner.is_empty() => "(empty)".to_owned(),
            Self::Mrkdwn => format!("`{inner}`"),
            Self::Text => inner,
        }
    }

    /// A time: a Slack date token (each reader sees it in their own time zone, with the UTC
    /// time as the fallback) in mrkdwn, RFC 3339 UTC in text.
    fn time(self, t: &DateTime<Utc>) -> String {
        match self {
            Self::Mrkdwn => format!(
                "<!date^{}^{{date_short_pretty}} {{time_secs}}|{}>",
                t.timestamp(),
                format_time(t)
            ),
            Self::Text => format_time(t),
        }
    }

    /// A link to `url` (built by [`super::console`], never from raw log text) labelled `label`.
    fn link(self, url: &str, label: &str) -> String {
        match self {
            Self::Mrkdwn => format!(
                "<{}|{}>",
                escape_mrkdwn(url),
                self.lit(label, MAX_FIELD_CHARS)
            ),
            Self::Text => format!("{} ({url})", self.lit(label, MAX_FIELD_CHARS)),
        }
    }

    /// A fixed label in bold.
    fn bold(self, label: &str) -> String {
        match self {
            Self::Mrkdwn => format!("*{label}*"),
            Self::Text => label.to_owned(),
        }
    }
}

/// The pieces of one notification's rendering, in either style.
struct Parts {
    title: String,
    details: Vec<String>,
    samples: Vec<String>,
    more_samples: usize,
}

impl Parts {
    /// Access logs stopped, or flow again.
    fn log_delivery(n: &Notification, style: Style) -> Self {
        let lb = style.code(&n.load_balancer, MAX_FIELD_CHARS);
        let (title, details) = match n.status {
            Status::Firing => (
                format!(
                    "{}{} from load balancer {lb} since {}",
                    if style == Style::Mrkdwn {
                        ":warning: "
                    } else {
                        ""
                    },
                    style.bold("NO ACCESS LOGS"),
                    format_time(&n.window_start)
                ),
                vec![
                    format!(
                        "{} no records between {} and {}: 5xx alerts for this load balancer are blind.",
                        style.bold("Silent:"),
                        format_time(&n.window_start),
                        format_time(&n.window_end)
                    ),
                    format!(
                        "{} a bucket policy change (log delivery denied), the load balancer's \
                         access_logs.s3.enabled attribute turned off, a moved prefix, or the \
                         ingest function failing; check \
                         `aws elbv2 describe-load-balancer-attributes`.",
                        style.bold("Usual causes:")
                    ),
                ],
            ),
            Status::Resolved => (
                format!(
                    "{}{} for load balancer {lb}",
                    if style == Style::Mrkdwn {
                        ":large_green_circle: "
                    } else {
                        ""
                    },
                    style.bold("ACCESS LOGS FLOWING AGAIN")
                ),
                vec![format!(
                    "{} none from {} until {}.",
                    style.bold("Gap:"),
                    format_time(&n.window_start),
                    format_time(&n.window_end)
                )],
            ),
        };
        Self {
            title,
            details,
            samples: Vec::new(),
            more_samples: 0,
        }
    }

    fn of(n: &Notification, style: Style) -> Self {
        if n.source == Source::LogDelivery {
            return Self::log_delivery(n, style);
        }
        let (marker, status) = match (style, n.status) {
            (Style::Mrkdwn, Status::Firing) => (":red_circle: ", "FIRING"),
            (Style::Mrkdwn, Status::Resolved) => (":large_green_circle: ", "RESOLVED"),
            (Style::Text, Status::Firing) => ("", "FIRING"),
            (Style::Text, Status::Resolved) => ("", "RESOLVED"),
        };
        let tg_arn = n.target_group.as_deref().and_then(TargetGroupArn::parse);
        // The target group by name, linked to the console, when its ARN is well formed.
        let group = |raw: &str| match TargetGroupArn::parse(raw) {
            Some(arn) => format!("target group {}", style.link(&arn.console_url(), arn.name)),
            None => format!("target group {}", style.code(raw, MAX_FIELD_CHARS)),
        };
        let subject = match (n.target_kind, n.source) {
            (TargetKind::Target, Source::Alb) => {
                let mut s = format!("target {}", style.code(&n.target, MAX_FIELD_CHARS));
                if let Some(tg) = &n.target_group {
                    let _ = write!(s, " in {}", group(tg));
                }
                s
            }
            (TargetKind::Target, Source::CloudwatchLogs | Source::LogDelivery) => {
                format!("log stream {}", style.code(&n.target, MAX_FIELD_CHARS))
            }
            (TargetKind::TargetGroup, _) => format!(
                "load-balancer-generated errors (no target) — {}",
                group(&n.target)
            ),
            (TargetKind::LoadBalancer, _) => format!(
                "load-balancer-generated errors (no target) — load balancer {}",
                style.code(&n.target, MAX_FIELD_CHARS)
            ),
        };
        let escalation = if n.escalation {
            match style {
                Style::Mrkdwn => " :arrow_double_up: *escalated*",
                Style::Text => " (escalated)",
            }
        } else {
            ""
        };
        let title = format!("{marker}{} {subject}{escalation}", style.bold(status));

        let mut details = Vec::with_capacity(5);
        let logs = n.source == Source::CloudwatchLogs;
        let (label, unit, codes_label) = if logs {
            ("Matches:", "events", "Patterns:")
        } else {
            ("5xx:", "requests", "Status codes:")
        };
        let volume = match (n.requests, n.effective_error_rate()) {
            (Some(r), Some(rate)) => {
                format!("{} of {r} {unit} ({:.2}%)", n.count_5xx, rate * 100.0)
            }
            (Some(r), None) => format!("{} of {r} {unit}", n.count_5xx),
            (None, _) => format!("{} (rate unknown: no request counts)", n.count_5xx),
        };
        details.push(format!("{} {volume}", style.bold(label)));
        if let Some(start) = &n.incident_start {
            let minutes = (n.window_end - *start).num_minutes().max(0);
            details.push(match n.status {
                Status::Firing => format!(
                    "{} since {} ({minutes} min so far)",
                    style.bold("Incident:"),
                    style.time(start)
                ),
                Status::Resolved => format!(
                    "{} {} – {} (lasted {minutes} min)",
                    style.bold("Incident:"),
                    style.time(start),
                    style.time(&n.window_end)
                ),
            });
        }
        details.push(format!(
            "{} {} – {}",
            style.bold("Window:"),
            style.time(&n.window_start),
            style.time(&n.window_end)
        ));
        if let Some(rule) = &n.rule {
            details.push(format!(
                "{} ≥ {} 5xx and ≥ {}% of requests in a {}-minute window",
                style.bold("Rule:"),
                rule.min_5xx,
                rule.min_error_rate * 100.0,
                rule.window_seconds / 60
            ));
        }
        if let Some(url) = &n.runbook_url {
            details.push(format!(
                "{} {}",
                style.bold("Runbook:"),
                style.link(url, "open the runbook")
            ));
        }
        if let Some(arn) = &tg_arn {
            let mut place = format!("{} · account {}", arn.region, arn.account);
            if let Some(url) = arn.load_balancer_url(&n.load_balancer) {
                let _ = write!(place, " · {}", style.link(&url, "load balancer monitoring"));
            }
            if let Some(url) = &n.logs_url {
                let _ = write!(
                    place,
                    " · {}",
                    style.link(url, "the day's log objects in S3")
                );
            }
            details.push(format!("{} {place}", style.bold("Where:")));
        }
        if n.trend.len() > 1
            && let Some(rule) = &n.rule
        {
            details.push(format!(
                "{} {} ({} 5xx per {}-minute window, oldest first; peak {})",
                style.bold("Trend:"),
                sparkline(&n.trend),
                n.trend.len(),
                rule.window_seconds / 60,
                n.trend.iter().max().copied().unwrap_or(0)
            ));
        }
        if let Some(top) = top_counts(&n.status_codes, style) {
            details.push(format!("{} {top}", style.bold(codes_label)));
        }
        let entries: u64 = n.status_codes.values().sum();
        if let Some(from_target) = n.target_5xx.filter(|_| entries > 0) {
            let from_lb = entries.saturating_sub(from_target);
            details.push(format!(
                "{} {from_target} returned by the target, {from_lb} generated by the load balancer \
                 (the target never answered: refused, reset or timed out, logged with processing \
                 time -1; or no healthy target)",
                style.bold("Cause:")
            ));
        }
        if let Some(top) = top_counts(&n.error_reasons, style) {
            details.push(format!("{} {top}", style.bold("Error reasons:")));
        }
        if let Some(top) = top_counts(&n.paths, style) {
            details.push(format!("{} {top}", style.bold("Paths:")));
        }
        if n.first_seen.is_some() || n.last_seen.is_some() {
            let seen = |t: &Option<DateTime<Utc>>| {
                t.as_ref()
                    .map_or_else(|| "n/a".to_owned(), |t| style.time(t))
            };
            details.push(format!(
                "{} {} · {} {}",
                style.bold("First seen:"),
                seen(&n.first_seen),
                style.bold("Last seen:"),
                seen(&n.last_seen)
            ));
        }
        if let Some(query) = &n.athena_query {
            details.push(format!(
                "{} {}",
                style.bold("Athena:"),
                style.code(query, MAX_QUERY_CHARS)
            ));
        }

        let samples = n
            .samples
            .iter()
            .take(MAX_SAMPLES)
            .map(|s| {
                if logs {
                    log_sample_line(s, style)
                } else {
                    sample_line(s, style)
                }
            })
            .collect();
        Self {
            title,
            details,
            samples,
            more_samples: n.samples.len().saturating_sub(MAX_SAMPLES),
        }
    }
}

/// Counts as a text sparkline (`▁▂▃▄▅▆▇█`, scaled to the largest; zero is `▁`, anything
/// else at least `▂`).
#[must_use]
pub fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                BARS[0]
            } else {
                // 1..=7, by the share of the maximum (rounded up).
                let level = (u128::from(c) * 7).div_ceil(u128::from(max)).clamp(1, 7);
                BARS[usize::try_from(level).unwrap_or(7)]
            }
        })
        .collect()
}

/// "503 error detected for client 192.0.2.1:51234 at 2025-06-21T22:45:00Z — `GET … HTTP/2.0` →
/// 10.0.1.11:8080 (TargetTimeout)".
fn sample_line(s: &Sample, style: Style) -> String {
    let code = s
        .elb_status_code
        .or(s.target_status_code)
        .map_or_else(|| "5xx".to_owned(), |c| c.to_string());
    let mut line = format!(
        "{}{code} error detected for client {} at {}",
        match style {
            Style::Mrkdwn => "• ",
            Style::Text => "",
        },
        style.lit(&s.client, MAX_FIELD_CHARS),
        format_time(&s.time)
    );
    if let Some(request) = &s.request {
        let _ = write!(line, " — {}", style.code(request, MAX_FIELD_CHARS));
    }
    if let Some(target) = &s.target {
        let _ = write!(line, " → {}", style.lit(target, MAX_FIELD_CHARS));
    }
    if let Some(reason) = &s.error_reason {
        let _ = write!(line, " ({})", style.lit(reason, MAX_FIELD_CHARS));
    }
    if let Some(ua) = &s.user_agent {
        let _ = write!(line, " UA {}", style.code(ua, MAX_USER_AGENT_CHARS));
    }
    if let (Style::Text, Some(trace)) = (style, &s.trace_id) {
        let _ = write!(line, " trace {}", style.lit(trace, MAX_FIELD_CHARS));
    }
    line
}

/// A matched log event: "• 2025-06-21T22:50:08Z — `NOTIFY …` (NOTIFY)" (the message is in
/// `request`, the pattern in `error_reason`).
fn log_sample_line(s: &Sample, style: Style) -> String {
    let mut line = format!(
        "{}{}",
        match style {
            Style::Mrkdwn => "• ",
            Style::Text => "",
        },
        format_time(&s.time)
    );
    if let Some(message) = &s.request {
        let _ = write!(line, " — {}", style.code(message, MAX_FIELD_CHARS));
    }
    if let Some(pattern) = &s.error_reason {
        let _ = write!(line, " ({})", style.lit(pattern, MAX_FIELD_CHARS));
    }
    line
}

/// "502: 30, 503: 12, 504: 1 (+2 more)", most frequent first; `None` when empty.
fn top_counts(map: &BTreeMap<String, u64>, style: Style) -> Option<String> {
    if map.is_empty() {
        return None;
    }
    let mut entries: Vec<(&String, &u64)> = map.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1)); // stable: ties stay in key order
    let mut out = entries
        .iter()
        .take(TOP_COUNTS)
        .map(|(k, v)| format!("{}: {v}", style.lit(k, MAX_FIELD_CHARS)))
        .collect::<Vec<_>>()
        .join(", ");
    if entries.len() > TOP_COUNTS {
        let _ = write!(out, " (+{} more)", entries.len() - TOP_COUNTS);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::tests::sample_notification;
    use proptest::prelude::*;

    const LB: &str = "app/shop-prod/50dc6c495c0c9188";

    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    fn blocks(payload: &Value) -> &Vec<Value> {
        payload["blocks"].as_array().expect("blocks array")
    }

    /// `t` without the markup the renderer itself writes: Slack date tokens and links to the
    /// AWS console (the only `<…>` allowed; everything log-derived must be escaped).
    fn without_own_markup(t: &str) -> String {
        let own = regex::Regex::new(
            r"<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[0-9T:Z-]+>|<https://[a-z0-9-]+\.console\.(aws\.amazon\.com|amazonaws\.cn|amazonaws-us-gov\.com)/ec2/home\?region=[a-z0-9-]+#[A-Za-z]+:[A-Za-z]+=arn:[a-z-]+:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:[a-z]+/[A-Za-z0-9/-]+(;tab=monitoring)?\|[A-Za-z0-9 -]+>",
        )
        .expect("regex");
        own.replace_all(t, "").into_owned()
    }

    fn section_texts(payload: &Value) -> Vec<&str> {
        blocks(payload)
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().expect("text"))
            .collect()
    }

    /// Every string Slack will parse as mrkdwn or show as text, with its limit.
    fn assert_within_limits(payload: &Value) {
        let blocks = blocks(payload);
        assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
        for b in blocks {
            match b["type"].as_str() {
                Some("header") => {
                    let t = b["text"]["text"].as_str().expect("text");
                    assert!(t.chars().count() <= MAX_HEADER_TEXT);
                    assert!(slack_len(t) <= MAX_HEADER_TEXT);
                }
                Some("section") => {
                    let t = b["text"]["text"].as_str().expect("text");
                    assert!(t.chars().count() <= MAX_SECTION_TEXT);
                    assert!(slack_len(t) <= MAX_SECTION_TEXT);
                }
                Some("divider") => {}
                other => panic!("unexpected block {other:?}"),
            }
        }
        let text = payload["text"].as_str().expect("text");
        assert!(slack_len(text) <= FALLBACK_TEXT_CAP);
    }

    #[test]
    fn escapes_mentions_links_and_ampersands() {
        assert_eq!(escape_mrkdwn("<!channel>"), "&lt;!channel&gt;");
        assert_eq!(escape_mrkdwn("<http://x|y>"), "&lt;http://x|y&gt;");
        assert_eq!(escape_mrkdwn("a & b"), "a &amp; b");
        assert_eq!(escape_mrkdwn("&amp;"), "&amp;amp;");
        assert_eq!(escape_mrkdwn("&lt;!here&gt;"), "&amp;lt;!here&amp;gt;");
        assert!(matches!(escape_mrkdwn("plain text"), Cow::Borrowed(_)));
        assert_eq!(unescape(&escape_mrkdwn("&lt;<&>")), "&lt;<&>");
    }

    #[test]
    fn code_spans_cannot_be_broken_out_of() {
        let code = Style::Mrkdwn.code("GET /`<!channel>`/x HTTP/1.1", MAX_FIELD_CHARS);
        assert_eq!(code.matches('`').count(), 2);
        assert!(code.starts_with('`') && code.ends_with('`'));
        assert!(code.contains("ˋ&lt;!channel&gt;ˋ"));
        assert_eq!(Style::Mrkdwn.code("", 10), "(empty)");
    }

    #[test]
    fn renders_header_sections_and_seed_wording() {
        let mut a = sample_notification(LB, "10.0.1.11:8080");
        a.status_codes.insert("504".to_owned(), 7);
        a.status_codes.insert("500".to_owned(), 1);
        let b = sample_notification(LB, "10.0.1.12:8080");
        let mut c = sample_notification(LB, "10.0.1.13:8080");
        c.status = Status::Resolved;
        let payload = render_payload(LB, &[c, a, b]);
        assert_within_limits(&payload);

        let blocks = blocks(&payload);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            ":rotating_light: app/shop-prod/50dc6c495c0c9188 — 2 targets firing, 1 resolved"
        );
        // header, section, divider, section, divider, section
        assert_eq!(blocks.len(), 6);
        assert_eq!(blocks[2]["type"], "divider");

        let texts = section_texts(&payload);
        assert!(texts[0].starts_with(":red_circle: *FIRING* target `10.0.1.11:8080` in target group `targetgroup/shop-web/73e2d6bc24d8a067`"), "{}", texts[0]);
        assert!(texts[0].contains("*5xx:* 42 of 1000 requests (4.20%)"));
        // Times as Slack date tokens: each reader sees local time; UTC is the fallback.
        let token = |unix: i64, utc: &str| {
            format!("<!date^{unix}^{{date_short_pretty}} {{time_secs}}|{utc}>")
        };
        assert!(texts[0].contains(&format!(
            "*Window:* {} – {}",
            token(1_750_545_600, "2025-06-21T22:40:00Z"),
            token(1_750_545_900, "2025-06-21T22:45:00Z")
        )));
        assert!(texts[0].contains(&format!(
            "*Incident:* since {} (7 min so far)",
            token(1_750_545_480, "2025-06-21T22:38:00Z")
        )));
        assert!(texts[0].contains("*Rule:* ≥ 10 5xx and ≥ 5% of requests in a 1-minute window"));
        assert!(texts[0].contains("*Status codes:* 502: 30, 503: 12, 504: 7 (+1 more)"));
        assert!(texts[0].contains("*Error reasons:* TargetTimeout: 30"));
        assert!(texts[0].contains(&format!(
            "*First seen:* {} · *Last seen:* {}",
            token(1_750_545_612, "2025-06-21T22:40:12Z"),
            token(1_750_545_899, "2025-06-21T22:44:59Z")
        )));
        assert!(texts[0].contains(
            "503 error detected for client 192.0.2.1:51234 at 2025-06-21T22:45:00Z — `GET https://shop.example.com:443/cart HTTP/2.0` → 10.0.1.11:8080 (TargetTimeout)"
        ));
        assert!(texts[2].starts_with(":large_green_circle: *RESOLVED*"));
        assert_eq!(
            payload["text"],
            "app/shop-prod/50dc6c495c0c9188 — 2 targets firing, 1 resolved: 10.0.1.11:8080 firing (42 5xx), 10.0.1.12:8080 firing (42 5xx), 10.0.1.13:8080 resolved (42 5xx)"
        );
    }

    /// A well-formed target group ARN becomes its name linked to the console, plus the region,
    /// the account and the load balancer's monitoring tab; resolved says how long it lasted.
    #[test]
    fn target_group_arns_become_console_links() {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff";
        let mut n = sample_notification(LB, "10.0.1.11:8080");
        n.target_group = Some(arn.to_owned());
        n.status = Status::Resolved;
        let text = &section_texts(&render_payload(LB, &[n.clone()]))[0].to_owned();
        assert!(text.contains(&format!(
            "in target group <https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#TargetGroup:targetGroupArn={arn}|shop-web>"
        )), "{text}");
        assert!(text.contains("*Where:* us-east-1 · account 123456789012 · <https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#LoadBalancer:loadBalancerArn=arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop-prod/50dc6c495c0c9188;tab=monitoring|load balancer monitoring>"), "{text}");
        assert!(text.contains("(lasted 7 min)"), "{text}");
        assert!(!without_own_markup(text).contains(['<', '>']));
        let plain = render_text(&n);
        assert!(
            plain.contains("in target group shop-web (https://us-east-1.console.aws.amazon.com/"),
            "{plain}"
        );
    }

    #[test]
    fn the_runbook_link_is_escaped_markup() {
        let mut n = sample_notification(LB, "10.0.1.11:8080");
        n.runbook_url = Some("https://wiki.example.com/alb?lb=app%2Fshop&s=firing".to_owned());
        let text = &section_texts(&render_payload(LB, &[n]))[0].to_owned();
        assert!(
            text.contains(
                "*Runbook:* <https://wiki.example.com/alb?lb=app%2Fshop&amp;s=firing|open the runbook>"
            ),
            "{text}"
        );
    }

    #[test]
    fn log_pattern_alerts_speak_of_matching_events() {
        let mut n = sample_notification("/aws/lambda/shop", "2025/06/21/[$LATEST]abc");
        n.source = Source::CloudwatchLogs;
        n.rule = None;
        let payload = render_payload("/aws/lambda/shop", &[n]);
        let text = payload["text"].as_str().expect("fallback");
        assert!(text.contains("1 log stream firing"), "{text}");
        assert!(text.contains("(42 matching events)"), "{text}");
        assert!(!text.contains("5xx"), "{text}");
    }

    #[test]
    fn unknown_rate_and_lb_generated_errors_are_labelled() {
        let mut n = sample_notification(LB, "targetgroup/shop-web/73e2d6bc24d8a067");
        n.target_kind = TargetKind::TargetGroup;
        n.requests = None;
        n.error_rate = None;
        n.escalation = true;
        let payload = render_payload(LB, &[n]);
        let texts = section_texts(&payload);
        assert!(texts[0].contains("load-balancer-generated errors (no target)"));
        assert!(texts[0].contains("*5xx:* 42 (rate unknown: no request counts)"));
        assert!(texts[0].contains("escalated"));
        assert!(
            blocks(&payload)[0]["text"]["text"]
                .as_str()
                .expect("text")
                .ends_with("1 target firing (escalated)")
        );
    }

    #[test]
    fn attacker_strings_are_escaped_everywhere() {
        let mut n = sample_notification("app/<!channel>/1", "10.0.1.11:8080");
        n.target = "<http://evil.example|click me>".to_owned();
        n.error_reasons = BTreeMap::from([("<!here>".to_owned(), 1)]);
        let s = &mut n.samples[0];
        s.request = Some(
            "GET https://shop.example.com/<!channel>?a=1&b=`x`<http://x|y> HTTP/1.1".to_owned(),
        );
        s.user_agent = Some("Mozilla <!everyone> & `friends`".to_owned());
        s.error_reason = Some("<@U123>".to_owned());
        s.client = "<!subteam^S1>:1".to_owned();
        let payload = render_payload("app/<!channel>/1", &[n]);
        let all = serde_json::to_string(&payload).expect("json");
        for raw in [
            "<!channel>",
            "<http://",
            "<!here>",
            "<!everyone>",
            "<@U123>",
            "<!subteam",
        ] {
            assert!(!all.contains(raw), "{raw} leaked");
        }
        for t in section_texts(&payload) {
            assert!(!without_own_markup(t).contains(['<', '>']), "{t}");
            // Backticks only as balanced code delimiters.
            assert_eq!(t.matches('`').count() % 2, 0);
        }
        assert!(all.contains("&lt;!channel&gt;"));
        assert!(all.contains("a=1&amp;b=ˋxˋ&lt;http://x|y&gt;"));
    }

    #[test]
    fn eighty_targets_fit_in_fifty_blocks() {
        let ns: Vec<Notification> = (0..80)
            .map(|i| {
                let mut n = sample_notification(LB, &format!("10.0.{}.{}:8080", i / 250, i % 250));
                n.count_5xx = 1000 - i;
                if i >= 70 {
                    n.status = Status::Resolved;
                }
                n
            })
            .collect();
        let payload = render_payload(LB, &ns);
        assert_within_limits(&payload);
        let blocks = blocks(&payload);
        assert_eq!(blocks.len(), MAX_BLOCKS);
        let texts = section_texts(&payload);
        assert_eq!(texts.len(), MAX_BLOCKS - 1);
        let shown = MAX_BLOCKS - 2;
        assert_eq!(
            texts.last().copied(),
            Some(format!("…and {} more targets (22 firing, 10 resolved)", 80 - shown).as_str())
        );
        // Highest counts first.
        assert!(texts[0].contains("`10.0.0.0:8080`"));
    }

    #[test]
    fn exactly_fitting_targets_drop_dividers_instead_of_targets() {
        for n in [25, 26, 49, 50] {
            let ns: Vec<Notification> = (0..n)
                .map(|i| sample_notification(LB, &format!("10.0.0.{i}:80")))
                .collect();
            let payload = render_payload(LB, &ns);
            assert_within_limits(&payload);
            let texts = section_texts(&payload);
            let more = texts.iter().any(|t| t.starts_with("…and"));
            assert_eq!(more, n > MAX_BLOCKS - 1, "n={n}");
        }
    }

    #[test]
    fn huge_url_is_truncated_safely() {
        let mut n = sample_notification(LB, "10.0.1.11:8080");
        let url = format!(
            "GET https://shop.example.com/{} HTTP/1.1",
            "&<é😀`".repeat(2_000)
        );
        for s in 0..5 {
            let mut sample = n.samples[0].clone();
            sample.request = Some(format!("{url}{s}"));
            sample.user_agent = Some("ü".repeat(10_000));
            n.samples.push(sample);
        }
        n.target = "x".repeat(10_000);
        let payload = render_payload(LB, &[n.clone()]);
        assert_within_limits(&payload);
        let text = section_texts(&payload)[0];
        assert!(text.contains('…'));
        assert!(text.contains("more samples"));
        assert_eq!(text.matches('`').count() % 2, 0);
        assert!(!without_own_markup(text).contains(['<', '>']));
        // Every `&` still starts a whole entity.
        for (i, _) in text.match_indices('&') {
            let rest = &text[i..];
            assert!(
                rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;")
            );
        }

        let terminal = render_text(&n);
        assert!(terminal.chars().count() < 5_000);
    }

    #[test]
    fn truncation_respects_chars_entities_and_code() {
        assert_eq!(truncate_mrkdwn("short", 10), "short");
        // Multi-byte characters at the cut.
        let s = "é".repeat(20);
        let t = truncate_mrkdwn(&s, 10);
        assert_eq!(t, format!("{}…", "é".repeat(9)));
        let s = "😀".repeat(20); // two UTF-16 units each
        let t = truncate_mrkdwn(&s, 10);
        assert!(slack_len(&t) <= 10);
        assert!(t.ends_with('…'));
        // An entity is never cut in half.
        let t = truncate_mrkdwn("abcdef&amp;ghij", 10);
        assert_eq!(t, "abcdef…");
        let t = truncate_mrkdwn("abc&lt;defghij", 10);
        assert_eq!(t, "abc&lt;de…");
        // An open code span is closed.
        let t = truncate_mrkdwn("see `GET /very/long/path`", 15);
        assert_eq!(t, "see `GET /ver…`");
        assert!(slack_len(&t) <= 15);
        let t = truncate_mrkdwn("abcdefghijklm `x`", 16);
        assert_eq!(t.matches('`').count() % 2, 0);
    }

    #[test]
    fn only_a_firing_alb_key_gets_silence_buttons() {
        let has_buttons = |n: &Notification| {
            blocks(&render_incident("app/shop/1", n))
                .iter()
                .any(|b| b["type"] == "actions")
        };
        let n = sample_notification("app/shop/1", "10.0.1.11:8080");
        assert!(has_buttons(&n));
        let resolved = Notification {
            status: Status::Resolved,
            ..n.clone()
        };
        assert!(!has_buttons(&resolved));
        let silent_logs = Notification {
            source: Source::LogDelivery,
            ..n
        };
        assert!(
            !has_buttons(&silent_logs),
            "its ledger key is not its target"
        );
    }

    #[test]
    fn sparklines_scale_to_the_peak_and_keep_zero_apart() {
        assert_eq!(sparkline(&[0, 1, 80, 160, 40]), "▁▂▅█▃");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
        assert_eq!(sparkline(&[u64::MAX, 1]), "█▂");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn render_text_is_plain_and_scrubbed() {
        let mut n = sample_notification(LB, "10.0.1.11:8080");
        n.samples[0].user_agent = Some("evil\x1b[2J\r\nFIRING fake\u{202E}".to_owned());
        let text = render_text(&n);
        assert!(text.starts_with(
            "FIRING target 10.0.1.11:8080 in target group targetgroup/shop-web/73e2d6bc24d8a067 on load balancer app/shop-prod/50dc6c495c0c9188\n"
        ));
        assert!(text.contains("  5xx: 42 of 1000 requests (4.20%)\n"));
        assert!(text.contains(
            "  503 error detected for client 192.0.2.1:51234 at 2025-06-21T22:45:00Z — GET https://shop.example.com:443/cart HTTP/2.0 → 10.0.1.11:8080 (TargetTimeout)"
        ));
        assert!(text.contains("  Incident: since 2025-06-21T22:38:00Z (7 min so far)\n"));
        assert!(text.contains("  Rule: ≥ 10 5xx and ≥ 5% of requests in a 1-minute window\n"));
        assert!(
            text.contains("  Cause: 12 returned by the target, 30 generated by the load balancer")
        );
        assert!(text.contains("  Paths: /cart: 30, /api/v1/items/{id}: 12\n"));
        assert!(!text.contains(['\x1b', '\r', '\u{202E}', '`', '*']));
        assert_eq!(text.lines().count(), 11);
    }

    proptest! {
        #[test]
        fn escape_never_leaves_angle_brackets_and_round_trips(s in any::<String>()) {
            let e = escape_mrkdwn(&s);
            prop_assert!(!e.contains('<') && !e.contains('>'));
            prop_assert_eq!(unescape(&e), s);
        }

        #[test]
        fn escape_round_trips_markup_heavy_text(s in "[<>&a-z;!|`]{0,60}") {
            let e = escape_mrkdwn(&s);
            prop_assert!(!e.contains('<') && !e.contains('>'));
            prop_assert_eq!(unescape(&e), s);
        }

        #[test]
        fn truncation_is_bounded_and_keeps_entities(s in "[<>&a-zé😀`]{0,200}", max in 2usize..120) {
            let e = escape_mrkdwn(&s);
            let t = truncate_mrkdwn(&e, max);
            prop_assert!(slack_len(&t) <= max);
            for (i, _) in t.match_indices('&') {
                let rest = &t[i..];
                prop_assert!(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"));
            }
            let body = t.trim_end_matches(['…', '`']);
            prop_assert!(e.starts_with(body));
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_notification_renders_within_limits(
            targets in proptest::collection::vec("[ -~é😀]{0,400}", 0..70),
            url in "[ -~é😀]{0,5000}",
        ) {
            let ns: Vec<Notification> = targets.iter().map(|t| {
                let mut n = sample_notification(LB, t);
                n.samples[0].request = Some(url.clone());
                n
            }).collect();
            let payload = render_payload(LB, &ns);
            assert_within_limits(&payload);
            for t in section_texts(&payload) {
                prop_assert!(!without_own_markup(t).contains(['<', '>']));
                prop_assert_eq!(t.matches('`').count() % 2, 0);
            }
        }
    }
}
