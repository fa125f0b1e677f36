//! Matching log events → per-(log group, log stream) windows → deduplicated announcements, as
//! [`Notification`]s with `source: "cloudwatch_logs"`.
//!
//! # The machine form
//!
//! Log alerts are ordinary `Notification`s, so the Slack renderer, the webhook and the CLI treat
//! them like ALB ones. The field names are shared with ALB alerts and mean:
//!
//! | field | for CloudWatch Logs |
//! |---|---|
//! | `source` | `"cloudwatch_logs"` |
//! | `status` | always `"firing"` (a log event is a point in time; nothing resolves) |
//! | `load_balancer` | the log group |
//! | `target` | the log stream; `target_kind` is `"target"`, `target_group` is `null` |
//! | `window_start`, `window_end` | the window of the matching events |
//! | `count_5xx` | matching events in the window (the name is shared with ALB alerts) |
//! | `requests` | all events of that stream received in the window (with a subscription filter, only those the filter let through) |
//! | `error_rate` | `count_5xx / requests` |
//! | `status_codes` | matching events by the pattern that matched, as written (`"NOTIFY"`, `"/^ERROR/"`) |
//! | `error_reasons` | empty |
//! | `first_seen`, `last_seen` | first and last matching event |
//! | `samples` | the first matching events: `time` = event time, `request` = the message (without its trailing newline, at most 2 KiB), `client` = the log stream, `error_reason` = the pattern |
//! | `escalation` | the count at least doubled since the last announcement |
//!
//! # Semantics
//!
//! - **Every** event of a `DATA_MESSAGE` is considered, in order; control and unknown messages
//!   are counted and ignored. An event counts once, under the first pattern of its log group
//!   that matches ([`crate::cwlogs::patterns`]).
//! - **Windows**: tumbling, `window_seconds` long, in event time (the events' `timestamp`), per
//!   key = (log group, log stream). A window counts the events seen (`requests`) and the
//!   matching ones (`count_5xx`), by pattern (`status_codes`), with first/last match time and the
//!   first [`MAX_SAMPLES`] matching messages.
//! - **Duplicates**: a redelivered payload (same log group, stream, event count, first and last
//!   event id) is dropped whole; a matching event whose `(log group, id)` was seen before is
//!   dropped on its own. Both kinds of id share one bounded FIFO set of `dedupe_capacity` ids
//!   ([`DedupeSet`]), so memory stays bounded. A partially overlapping redelivery may count its
//!   non-matching events twice in `requests`, never a match.
//! - **Announcing** ([`LogAlerts::evaluate`]), per key: the window with the most unannounced
//!   matches (the latest on a tie) is announced if the key was never announced; or with
//!   `escalation` when its count is at least twice the count last announced; or as a reminder
//!   once `repeat_interval_seconds` of event time have passed since the last announcement
//!   (the same rule as ALB targets). Matches in between are counted but not announced.
//!   Log alerts never resolve: a log event is a point in time, not a state.
//! - **Delivery**: `evaluate` does not change what counts as announced, so calling it again
//!   returns the same notifications; [`LogAlerts::commit`] records the delivered ones. A failed
//!   delivery is retried by the next `evaluate`, and the window it reports is kept until then.
//! - **Clock**: the watermark is the latest event time accepted (events more than
//!   [`MAX_FUTURE_SKEW_US`] ahead of the wall clock are counted but do not move it). Windows
//!   whose end is `allowed_lateness_seconds` behind it are evicted at `evaluate` (unless being
//!   announced), and keys without windows whose last announcement is older than the repeat
//!   interval are forgotten. At most [`MAX_WINDOWS_PER_STREAM`] windows per key and
//!   [`MAX_STREAMS`] keys are kept; beyond that the oldest go first.
//! - State lives in process memory: a cold start forgets it, so a key may be announced again
//!   (a duplicate, never a loss).
//!
//! `LogAlerts` is `Send + Sync`; matching happens outside the state lock.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::alert::config::AlertConfig;
use crate::alert::dedupe::DedupeSet;
use crate::cwlogs::patterns::{LogPatterns, Pattern, PatternError, trim_message};
use crate::cwlogs::payload::{CwLogsError, LogsPayload, MessageType, decode_payload};
use crate::notify::notification::{MAX_SAMPLES, Notification, Sample, Source, Status, TargetKind};

/// Longest message kept in a sample, in bytes (cut on a character boundary).
pub const MAX_SAMPLE_MESSAGE_BYTES: usize = 2048;
/// Events more than this far ahead of the wall clock do not move the watermark (CloudWatch
/// itself refuses events more than two hours ahead).
pub const MAX_FUTURE_SKEW_US: i64 = 2 * 3600 * MICROS;
/// Most windows kept per (log group, log stream); the oldest is dropped beyond it.
pub const MAX_WINDOWS_PER_STREAM: usize = 64;
/// Most (log group, log stream) keys kept; the least recently active are dropped beyond it.
pub const MAX_STREAMS: usize = 10_000;

use crate::alb::time::MICROS;
use crate::text::clip_bytes;
const MICROS_PER_MILLI: i64 = 1_000;

/// Configuration of [`LogAlerts`].
#[derive(Debug, Clone)]
pub struct LogAlertConfig {
    /// Which events match.
    pub patterns: LogPatterns,
    /// Window length in seconds (at least 1).
    pub window_seconds: u32,
    /// Windows ending this far behind the watermark are evicted.
    pub allowed_lateness_seconds: u32,
    /// A key announced is announced again after this many event-time seconds (or on doubling).
    pub repeat_interval_seconds: u64,
    /// Payload and event ids remembered to drop redeliveries.
    pub dedupe_capacity: usize,
}

impl Default for LogAlertConfig {
    fn default() -> Self {
        Self::new(&AlertConfig::default(), LogPatterns::default())
    }
}

impl LogAlertConfig {
    /// The timings of the ALB alerter (`ALBWATCH_WINDOW_SECONDS`,
    /// `ALBWATCH_ALLOWED_LATENESS_SECONDS`, `ALBWATCH_REPEAT_INTERVAL_SECONDS`,
    /// `ALBWATCH_DEDUPE_CAPACITY`) with `patterns`.
    #[must_use]
    pub fn new(alert: &AlertConfig, patterns: LogPatterns) -> Self {
        Self {
            patterns,
            window_seconds: alert.window_seconds,
            allowed_lateness_seconds: alert.allowed_lateness_seconds,
            repeat_interval_seconds: alert.repeat_interval_seconds,
            dedupe_capacity: alert.dedupe_capacity,
        }
    }

    /// [`LogAlertConfig::new`] with the patterns of `ALBWATCH_LOG_PATTERNS`.
    pub fn from_env(alert: &AlertConfig) -> Result<Self, PatternError> {
        Ok(Self::new(alert, LogPatterns::from_env()?))
    }
}

/// What ingesting one payload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIngested {
    /// The payload's log group (empty for control messages): the key the handler uses to find
    /// the records to retry when this group's message cannot be delivered.
    pub log_group: Arc<str>,
    /// The payload's message type (only `Data` payloads are counted).
    pub message_type: MessageType,
    /// The whole payload was a redelivery and was dropped.
    pub duplicate: bool,
    /// Events counted (matching or not).
    pub events: u64,
    /// Matching events counted.
    pub matches: u64,
    /// Matching events dropped as redelivered.
    pub duplicate_events: u64,
    /// Events whose timestamp is out of range (dropped).
    pub invalid_times: u64,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// `DATA_MESSAGE` payloads ingested (duplicates included).
    pub payloads: u64,
    /// `CONTROL_MESSAGE` payloads ignored.
    pub control_messages: u64,
    /// Payloads of another message type ignored.
    pub unknown_messages: u64,
    /// Payloads dropped as redelivered.
    pub duplicate_payloads: u64,
    /// Events counted.
    pub events: u64,
    /// Events of log groups no rule selects (not counted in windows).
    pub unmatched_group_events: u64,
    /// Matching events counted.
    pub matches: u64,
    /// Matching events dropped as redelivered.
    pub duplicate_events: u64,
    /// Events with an out-of-range timestamp.
    pub invalid_times: u64,
    /// Events too far ahead of the wall clock to move the watermark (still counted).
    pub future_times: u64,
    /// Windows dropped by [`MAX_WINDOWS_PER_STREAM`].
    pub dropped_windows: u64,
    /// Keys dropped by [`MAX_STREAMS`].
    pub dropped_streams: u64,
}

/// (log group, log stream).
type StreamKey = (Arc<str>, Arc<str>);

#[derive(Debug, Clone, Default)]
struct Window {
    events: u64,
    matches: u64,
    by_pattern: BTreeMap<Arc<str>, u64>,
    first_us: Option<i64>,
    last_us: Option<i64>,
    samples: Vec<Sample>,
    /// `count_5xx` of the last delivered notification for this window.
    reported: u64,
}

#[derive(Debug, Clone, Copy)]
struct Announced {
    count: u64,
    at_us: i64,
}

#[derive(Debug, Default)]
struct Stream {
    /// By window start (µs).
    windows: BTreeMap<i64, Window>,
    announced: Option<Announced>,
    /// Latest event time seen (µs), for choosing which keys to drop first.
    last_us: i64,
}

#[derive(Debug)]
struct State {
    streams: HashMap<StreamKey, Stream>,
    dedupe: DedupeSet,
    watermark_us: Option<i64>,
    counters: LogCounters,
}

/// One event after matching, before it is counted.
struct Matched<'a> {
    ts_us: i64,
    id: &'a str,
    message: &'a str,
    pattern: Option<&'a Arc<str>>,
}

/// CloudWatch Logs payloads → pending [`Notification`]s with announcement state. See the module
/// docs; the calls mirror [`crate::alert::engine::Engine`].
#[derive(Debug)]
pub struct LogAlerts {
    config: LogAlertConfig,
    window_us: i64,
    lateness_us: i64,
    repeat_us: i64,
    state: Mutex<State>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds → µs, saturating.
fn secs_to_us(s: u64) -> i64 {
    i64::try_from(s).map_or(i64::MAX, |s| s.saturating_mul(MICROS))
}

/// µs → time, clamped to chrono's range.
fn to_datetime(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(if us < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// A stable-within-the-process id of a string tuple.
fn id_of(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl LogAlerts {
    /// An aggregator with `config` (a zero window length counts as one second).
    #[must_use]
    pub fn new(config: LogAlertConfig) -> Self {
        Self {
            window_us: secs_to_us(u64::from(config.window_seconds.max(1))),
            lateness_us: secs_to_us(u64::from(config.allowed_lateness_seconds)),
            repeat_us: secs_to_us(config.repeat_interval_seconds),
            state: Mutex::new(State {
                streams: HashMap::new(),
                dedupe: DedupeSet::new(config.dedupe_capacity),
                watermark_us: None,
                counters: LogCounters::default(),
            }),
            config,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LogAlertConfig {
        &self.config
    }

    /// Decodes ([`decode_payload`]) and ingests one Kinesis record's data. An error is
    /// permanent: report the record as poison, do not retry it.
    pub fn ingest_bytes(&self, data: &[u8]) -> Result<LogIngested, CwLogsError> {
        let payload = decode_payload(data)?;
        Ok(self.ingest(&payload))
    }

    /// Counts every event of a `DATA_MESSAGE` payload into its key's windows; ignores other
    /// message types. Redelivered payloads and events are dropped (module docs).
    pub fn ingest(&self, payload: &LogsPayload) -> LogIngested {
        let mut out = LogIngested {
            log_group: Arc::from(payload.log_group.as_str()),
            message_type: payload.message_type,
            duplicate: false,
            events: 0,
            matches: 0,
            duplicate_events: 0,
            invalid_times: 0,
        };
        if payload.message_type != MessageType::Data {
            let mut state = lock(&self.state);
            match payload.message_type {
                MessageType::Control => state.counters.control_messages += 1,
                _ => state.counters.unknown_messages += 1,
            }
            tracing::trace!(message_type = ?payload.message_type, log_group = %payload.log_group, "cloudwatch logs payload ignored");
            return out;
        }

        // Match outside the lock: this is the expensive part.
        let patterns = self.config.patterns.for_group(&payload.log_group);
        if patterns.is_empty() {
            // No rule selects this log group: nothing can match, so nothing is kept.
            let mut state = lock(&self.state);
            state.counters.payloads += 1;
            state.counters.unmatched_group_events += payload.log_events.len() as u64;
            tracing::trace!(log_group = %payload.log_group, "no patterns for this log group");
            return out;
        }
        let matched = match_events(patterns, payload, &mut out.invalid_times);
        let now_us = Utc::now().timestamp_micros();
        let group: &str = &payload.log_group;
        let mut state = lock(&self.state);
        let state = &mut *state;
        state.counters.payloads += 1;
        if let (Some(first), Some(last)) = (payload.log_events.first(), payload.log_events.last()) {
            let count = payload.log_events.len().to_string();
            let payload_id = id_of(&[
                "payload",
                group,
                &payload.log_stream,
                &count,
                &first.id,
                &last.id,
            ]);
            if !state.dedupe.insert(payload_id) {
                state.counters.duplicate_payloads += 1;
                out.duplicate = true;
                out.invalid_times = 0;
                tracing::trace!(log_group = %group, log_stream = %payload.log_stream, "redelivered cloudwatch logs payload dropped");
                return out;
            }
        }
        state.counters.invalid_times += out.invalid_times;
        if matched.is_empty() {
            return out;
        }

        self.count(state, payload, matched, now_us, &mut out);
        state.counters.events += out.events;
        state.counters.matches += out.matches;
        state.counters.duplicate_events += out.duplicate_events;
        tracing::trace!(log_group = %group, log_stream = %payload.log_stream, events = out.events, matches = out.matches, duplicate_events = out.duplicate_events, "cloudwatch logs payload ingested");
        out
    }

    /// Counts matched events of one (non-duplicate) payload into its key's windows.
    fn count(
        &self,
        state: &mut State,
        payload: &LogsPayload,
        matched: Vec<Matched<'_>>,
        now_us: i64,
        out: &mut LogIngested,
    ) {
        let group: &str = &payload.log_group;
        let key: StreamKey = (Arc::from(group), Arc::from(payload.log_stream.as_str()));
        let stream = state.streams.entry(key).or_default();
        for m in matched {
            if m.pattern.is_some()
                && !m.id.is_empty()
                && !state.dedupe.insert(id_of(&["event", group, m.id]))
            {
                out.duplicate_events += 1;
                continue;
            }
            let start_us = m.ts_us.div_euclid(self.window_us) * self.window_us;
            let window = stream.windows.entry(start_us).or_default();
            window.events += 1;
            out.events += 1;
            if let Some(label) = m.pattern {
                out.matches += 1;
                window.add_match(&payload.log_stream, label, m.ts_us, m.message);
            }
            stream.last_us = stream.last_us.max(m.ts_us);
            if m.ts_us <= now_us.saturating_add(MAX_FUTURE_SKEW_US) {
                state.watermark_us = Some(state.watermark_us.map_or(m.ts_us, |w| w.max(m.ts_us)));
            } else {
                state.counters.future_times += 1;
            }
        }
        while stream.windows.len() > MAX_WINDOWS_PER_STREAM {
            stream.windows.pop_first();
            state.counters.dropped_windows += 1;
        }
    }

    /// What should be announced now, one notification per (log group, log stream) at most,
    /// sorted by log group and stream. Evicts old windows and idle keys but does not mark
    /// anything as announced: deliver, then [`LogAlerts::commit`] what was delivered.
    pub fn evaluate(&self) -> Vec<Notification> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let watermark = state.watermark_us;
        let mut out = Vec::new();
        for ((group, stream_name), stream) in &mut state.streams {
            let chosen = self.decide(stream, watermark);
            if let Some((start_us, escalation)) = chosen
                && let Some(window) = stream.windows.get(&start_us)
            {
                out.push(self.notification(group, stream_name, start_us, window, escalation));
            }
            if let Some(wm) = watermark {
                let horizon = wm.saturating_sub(self.lateness_us);
                stream.windows.retain(|&start, _| {
                    Some(start) == chosen.map(|(s, _)| s)
                        || start.saturating_add(self.window_us) > horizon
                });
            }
        }
        let repeat_us = self.repeat_us;
        state.streams.retain(|_, s| {
            !s.windows.is_empty()
                || s.announced.is_some_and(|a| {
                    watermark.is_some_and(|wm| wm.saturating_sub(a.at_us) < repeat_us)
                })
        });
        if state.streams.len() > MAX_STREAMS {
            let mut by_age: Vec<(i64, StreamKey)> = state
                .streams
                .iter()
                .map(|(k, s)| (s.last_us, k.clone()))
                .collect();
            by_age.sort_unstable();
            let excess = state.streams.len() - MAX_STREAMS;
            for (_, key) in by_age.into_iter().take(excess) {
                state.streams.remove(&key);
                state.counters.dropped_streams += 1;
            }
        }
        out.sort_by(|a, b| (&a.load_balancer, &a.target).cmp(&(&b.load_balancer, &b.target)));
        if !out.is_empty() {
            tracing::debug!(
                notifications = out.len(),
                streams = state.streams.len(),
                "cloudwatch logs alerts pending"
            );
        }
        out
    }

    /// Records that `delivered` notifications (from [`LogAlerts::evaluate`]) reached their
    /// audience. Notifications of other sources, resolved ones and unknown keys are ignored.
    pub fn commit(&self, delivered: &[Notification]) {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let at_us = state.watermark_us.unwrap_or(i64::MIN);
        for n in delivered {
            if n.source != Source::CloudwatchLogs || n.status != Status::Firing {
                continue;
            }
            let key: StreamKey = (
                Arc::from(n.load_balancer.as_str()),
                Arc::from(n.target.as_str()),
            );
            let Some(stream) = state.streams.get_mut(&key) else {
                tracing::debug!(log_group = %n.load_balancer, log_stream = %n.target, "commit for an unknown log stream ignored");
                continue;
            };
            stream.announced = Some(Announced {
                count: n.count_5xx,
                at_us,
            });
            if let Some(w) = stream.windows.get_mut(&n.window_start.timestamp_micros()) {
                w.reported = w.reported.max(n.count_5xx);
            }
        }
    }

    /// Counters since start.
    #[must_use]
    pub fn counters(&self) -> LogCounters {
        lock(&self.state).counters
    }

    /// (log group, log stream) keys remembered.
    #[must_use]
    pub fn stream_count(&self) -> usize {
        lock(&self.state).streams.len()
    }

    /// Windows held.
    #[must_use]
    pub fn window_count(&self) -> usize {
        lock(&self.state)
            .streams
            .values()
            .map(|s| s.windows.len())
            .sum()
    }

    /// The latest accepted event time.
    #[must_use]
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        lock(&self.state).watermark_us.map(to_datetime)
    }

    /// The window to announce for a key (start µs, escalation), if any.
    fn decide(&self, stream: &Stream, watermark: Option<i64>) -> Option<(i64, bool)> {
        let (&start, best) = stream
            .windows
            .iter()
            .filter(|(_, w)| w.matches > w.reported)
            .max_by_key(|(start, w)| (w.matches, **start))?;
        match stream.announced {
            None => Some((start, false)),
            Some(a) if best.matches >= a.count.saturating_mul(2) => Some((start, true)),
            Some(a) if watermark.is_some_and(|wm| wm.saturating_sub(a.at_us) >= self.repeat_us) => {
                Some((start, false))
            }
            Some(_) => None,
        }
    }

    fn notification(
        &self,
        group: &str,
        stream: &str,
        start_us: i64,
        w: &Window,
        escalation: bool,
    ) -> Notification {
        Notification {
            status: Status::Firing,
            source: Source::CloudwatchLogs,
            load_balancer: group.to_owned(),
            target: stream.to_owned(),
            target_kind: TargetKind::Target,
            target_group: None,
            window_start: to_datetime(start_us),
            window_end: to_datetime(start_us.saturating_add(self.window_us)),
            count_5xx: w.matches,
            requests: Some(w.events),
            error_rate: (w.events > 0).then(|| w.matches as f64 / w.events as f64),
            status_codes: w
                .by_pattern
                .iter()
                .map(|(label, n)| (label.to_string(), *n))
                .collect(),
            error_reasons: BTreeMap::new(),
            first_seen: w.first_us.map(to_datetime),
            last_seen: w.last_us.map(to_datetime),
            samples: w.samples.clone(),
            escalation,
            update: false,
            incident_start: None,
            rule: None,
            target_5xx: None,
            paths: BTreeMap::new(),
            runbook_url: None,
            logs_url: None,
            athena_query: None,
            trend: Vec::new(),
        }
    }
}

impl Window {
    /// Counts one matching event.
    fn add_match(&mut self, stream: &str, label: &Arc<str>, ts_us: i64, message: &str) {
        self.matches += 1;
        *self.by_pattern.entry(Arc::clone(label)).or_default() += 1;
        self.first_us = Some(self.first_us.map_or(ts_us, |t| t.min(ts_us)));
        self.last_us = Some(self.last_us.map_or(ts_us, |t| t.max(ts_us)));
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(sample(stream, label, ts_us, message));
        }
    }
}

/// Each event of `payload` with its time (µs) and the first of `patterns` it matches, in order;
/// events with an out-of-range time are left out and counted in `invalid_times`.
fn match_events<'a>(
    patterns: &'a [Pattern],
    payload: &'a LogsPayload,
    invalid_times: &mut u64,
) -> Vec<Matched<'a>> {
    let mut matched = Vec::with_capacity(payload.log_events.len());
    for event in &payload.log_events {
        let ts_us = event
            .timestamp
            .checked_mul(MICROS_PER_MILLI)
            .filter(|&us| DateTime::from_timestamp_micros(us).is_some());
        let Some(ts_us) = ts_us else {
            *invalid_times += 1;
            continue;
        };
        let message = trim_message(&event.message);
        let pattern = patterns
            .iter()
            .find(|p| p.is_match(message))
            .map(Pattern::label_arc);
        matched.push(Matched {
            ts_us,
            id: &event.id,
            message,
            pattern,
        });
    }
    matched
}

/// A matching event as a [`Sample`]: `request` = the message (clipped), `time` = the event time,
/// `client` = the log stream, `error_reason` = the pattern that matched.
fn sample(stream: &str, pattern: &str, ts_us: i64, message: &str) -> Sample {
    Sample {
        time: to_datetime(ts_us),
        client: clip_bytes(stream, MAX_SAMPLE_MESSAGE_BYTES).to_owned(),
        target: None,
        elb_status_code: None,
        target_status_code: None,
        request: Some(clip_bytes(message, MAX_SAMPLE_MESSAGE_BYTES).to_owned()),
        user_agent: None,
        error_reason: Some(pattern.to_owned()),
        trace_id: None,
    }
}

#[cfg(test)]
mod tests;
