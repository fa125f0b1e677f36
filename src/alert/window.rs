//! Per-key tumbling windows in event time: what one window holds ([`WindowAgg`]) and how one
//! record is counted into windows ([`Pending`]).
//!
//! A *key* is `(load balancer, partition key)`: a target `ip:port`, or the target group / load
//! balancer for errors the load balancer generated itself. Each window `[start, start + W)`
//! counts 5xx entries (by status code and `error_reason`, first/last seen, up to
//! [`MAX_SAMPLES`] samples) and requests: from the per-minute tallies of `errors`-mode records,
//! or one per entry of `all`-mode records.
//!
//! A record is counted into a [`Pending`] without touching shared state, then added to the
//! store as one unit ([`crate::alert::store::StateStore::add_counts`]). Counting is commutative:
//! the same set of records gives the same windows in any order and any batching.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::alb::time::{micros_to_datetime, parse_minute_us, parse_time_us};
use crate::alert::store::{RecordCounts, WindowDelta};
use crate::notify::notification::{MAX_SAMPLES, Sample};
use crate::record::{
    ForwardMode, KeyKind, Record, RecordEntry, RecordHeader, RecordVisitor, Tally,
};
use crate::text::clip_bytes_marked;

/// Distinct `error_reason` values counted per window; further ones count as [`OTHER_REASON`].
pub const MAX_ERROR_REASONS: usize = 16;
/// The bucket for `error_reason` values beyond [`MAX_ERROR_REASONS`].
pub const OTHER_REASON: &str = "(other)";
/// Longest text kept in a sample field, in bytes (cut on a character boundary).
pub const MAX_SAMPLE_FIELD_BYTES: usize = 2048;
/// Entries and tallies more than this far ahead of the wall clock are dropped (a garbled time
/// must not move the watermark into the future and make all real data late).
pub const MAX_FUTURE_SKEW_US: i64 = 3600 * 1_000_000;

/// A key: one load balancer's target, target group or itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    /// The load balancer id (`app/name/id`).
    pub load_balancer: Arc<str>,
    /// The partition key: target `ip:port`, target group ARN or load balancer id.
    pub key: Arc<str>,
}

/// One sample request with the order used to pick the kept ones (earliest first).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleSlot {
    /// Entry time in microseconds.
    pub time_us: i64,
    /// Line number in the source object.
    pub line: u64,
    /// The sample itself.
    pub sample: Sample,
}

impl SampleSlot {
    fn order(&self, other: &Self) -> Ordering {
        (self.time_us, self.line)
            .cmp(&(other.time_us, other.line))
            .then_with(|| self.sample.trace_id.cmp(&other.sample.trace_id))
            .then_with(|| self.sample.client.cmp(&other.sample.client))
            .then_with(|| self.sample.request.cmp(&other.sample.request))
    }
}

/// What one window of one key holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowAgg {
    /// What the key names.
    pub key_kind: KeyKind,
    /// Target group ARN of the key's entries, when seen.
    pub target_group: Option<Arc<str>>,
    /// 5xx entries counted.
    pub entry_5xx: u64,
    /// Of those, the entries whose target itself answered with a 5xx (the rest the load
    /// balancer generated: no healthy target, connection failed, timed out).
    #[serde(default)]
    pub target_5xx: u64,
    /// 5xx requests according to tallies.
    pub tally_5xx: u64,
    /// Requests: tally totals plus `all`-mode entries.
    pub requests: u64,
    /// Whether any tally or `all`-mode entry contributed to `requests`.
    pub requests_known: bool,
    /// 5xx entries per status code, sorted by code.
    pub status_codes: Vec<(u16, u64)>,
    /// 5xx entries per `error_reason`, sorted, at most [`MAX_ERROR_REASONS`] + 1 values.
    pub error_reasons: Vec<(Box<str>, u64)>,
    /// 5xx entries per request path (normalised by [`normalise_path`]), sorted, at most
    /// [`MAX_ERROR_REASONS`] + 1 values.
    #[serde(default)]
    pub paths: Vec<(Box<str>, u64)>,
    /// Time of the earliest 5xx entry (µs).
    pub first_seen_us: Option<i64>,
    /// Time of the latest 5xx entry (µs).
    pub last_seen_us: Option<i64>,
    /// The earliest 5xx entries, at most [`MAX_SAMPLES`], earliest first.
    pub samples: Vec<SampleSlot>,
}

impl WindowAgg {
    /// An empty window for a key of `key_kind`.
    #[must_use]
    pub fn new(key_kind: KeyKind) -> Self {
        Self {
            key_kind,
            target_group: None,
            entry_5xx: 0,
            target_5xx: 0,
            tally_5xx: 0,
            requests: 0,
            requests_known: false,
            status_codes: Vec::new(),
            error_reasons: Vec::new(),
            paths: Vec::new(),
            first_seen_us: None,
            last_seen_us: None,
            samples: Vec::new(),
        }
    }

    /// 5xx responses: the entries counted, or the tallies' count when that is larger (the
    /// tallies count every request even if entries were left out).
    #[must_use]
    pub fn count_5xx(&self) -> u64 {
        self.entry_5xx.max(self.tally_5xx)
    }

    /// Requests in the window, `None` when no record said (errors-mode entries without tallies).
    /// Never less than [`WindowAgg::count_5xx`]: every 5xx is a request.
    #[must_use]
    pub fn requests(&self) -> Option<u64> {
        self.requests_known
            .then(|| self.requests.max(self.count_5xx()))
    }

    /// `count_5xx / requests`, when requests are known and non-zero.
    #[must_use]
    pub fn error_rate(&self) -> Option<f64> {
        match self.requests() {
            Some(r) if r > 0 => Some(self.count_5xx() as f64 / r as f64),
            _ => None,
        }
    }

    /// Whether anything was counted (a window without traffic neither resolves nor fires).
    #[must_use]
    pub fn has_traffic(&self) -> bool {
        self.count_5xx() > 0 || self.requests > 0
    }

    /// Adds `other` into `self` (commutative and associative, so order does not matter).
    pub fn merge(&mut self, other: &WindowAgg) {
        if let Some(tg) = &other.target_group {
            self.note_target_group(tg);
        }
        self.entry_5xx += other.entry_5xx;
        self.target_5xx += other.target_5xx;
        self.tally_5xx += other.tally_5xx;
        self.requests += other.requests;
        self.requests_known |= other.requests_known;
        for &(code, n) in &other.status_codes {
            add_code(&mut self.status_codes, code, n);
        }
        for (path, n) in &other.paths {
            add_reason(&mut self.paths, path, *n);
        }
        for (reason, n) in &other.error_reasons {
            add_reason(&mut self.error_reasons, reason, *n);
        }
        self.first_seen_us = min_opt(self.first_seen_us, other.first_seen_us);
        self.last_seen_us = self.last_seen_us.max(other.last_seen_us);
        for s in &other.samples {
            if self.wants_sample(s.time_us, s.line) {
                self.insert_sample(s.clone());
            }
        }
    }

    /// Keeps the smallest target group ARN seen, so the result does not depend on the order
    /// (a target registered in two target groups has entries with both).
    fn note_target_group(&mut self, tg: &str) {
        match self.target_group.as_deref() {
            Some(current) if current <= tg => {}
            _ => self.target_group = Some(Arc::from(tg)),
        }
    }

    /// Whether an entry at `(time_us, line)` could enter the kept samples (cheap pre-check).
    fn wants_sample(&self, time_us: i64, line: u64) -> bool {
        self.samples.len() < MAX_SAMPLES
            || self
                .samples
                .last()
                .is_some_and(|worst| (time_us, line) <= (worst.time_us, worst.line))
    }

    fn insert_sample(&mut self, slot: SampleSlot) {
        if self
            .samples
            .iter()
            .any(|s| s.order(&slot) == Ordering::Equal && s.sample == slot.sample)
        {
            return;
        }
        let at = self
            .samples
            .iter()
            .position(|s| slot.order(s) == Ordering::Less)
            .unwrap_or(self.samples.len());
        if at >= MAX_SAMPLES {
            return;
        }
        self.samples.insert(at, slot);
        self.samples.truncate(MAX_SAMPLES);
    }

    /// Counts one 5xx entry.
    fn add_5xx(&mut self, e: &RecordEntry<'_>, code: u16, time_us: i64) {
        self.entry_5xx += 1;
        if e.target_status_code
            .is_some_and(|c| (500..600).contains(&c))
        {
            self.target_5xx += 1;
        }
        add_code(&mut self.status_codes, code, 1);
        if let Some(reason) = e.error_reason.as_deref() {
            add_reason(&mut self.error_reasons, reason, 1);
        }
        if let Some(url) = e.request_url.as_deref() {
            add_reason(&mut self.paths, &normalise_path(url), 1);
        }
        self.first_seen_us = min_opt(self.first_seen_us, Some(time_us));
        self.last_seen_us = self.last_seen_us.max(Some(time_us));
        if let Some(tg) = e.target_group_arn.as_deref() {
            self.note_target_group(tg);
        }
        if self.wants_sample(time_us, e.line) {
            self.insert_sample(SampleSlot {
                time_us,
                line: e.line,
                sample: sample_of(e, time_us),
            });
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Adds `n` to `code`'s count (sorted by code).
pub(crate) fn add_code(codes: &mut Vec<(u16, u64)>, code: u16, n: u64) {
    match codes.binary_search_by_key(&code, |&(c, _)| c) {
        Ok(i) => codes[i].1 += n,
        Err(i) => codes.insert(i, (code, n)),
    }
}

/// Adds `n` to `reason`'s count, folding reasons beyond [`MAX_ERROR_REASONS`] into
/// [`OTHER_REASON`].
pub(crate) fn add_reason(reasons: &mut Vec<(Box<str>, u64)>, reason: &str, n: u64) {
    let find = |reasons: &Vec<(Box<str>, u64)>, reason: &str| {
        reasons.binary_search_by(|(r, _)| (**r).cmp(reason))
    };
    let i = match find(reasons, reason) {
        Ok(i) => i,
        Err(i) => {
            let has_other = find(reasons, OTHER_REASON).is_ok();
            if reasons.len() - usize::from(has_other) < MAX_ERROR_REASONS {
                reasons.insert(i, (reason.into(), 0));
                i
            } else {
                match find(reasons, OTHER_REASON) {
                    Ok(o) => o,
                    Err(o) => {
                        reasons.insert(o, (OTHER_REASON.into(), 0));
                        o
                    }
                }
            }
        }
    };
    reasons[i].1 += n;
}

/// Longest normalised path kept, in characters.
pub const MAX_PATH_CHARS: usize = 120;

/// A request URL's path with what varies per request folded away, so one failing endpoint is
/// one line: scheme, host and port dropped, query and fragment dropped, and every segment that
/// looks like an id (digits, a UUID, 16+ hex digits) replaced by `{id}`.
#[must_use]
pub fn normalise_path(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match without_scheme.find('/') {
        Some(i) if url.contains("://") => &without_scheme[i..],
        Some(_) => without_scheme,
        None if url.contains("://") => "/",
        None => without_scheme,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let is_id = |seg: &str| {
        let hex = seg.chars().filter(char::is_ascii_hexdigit).count();
        !seg.is_empty()
            && (seg.chars().all(|c| c.is_ascii_digit())
                || (seg.len() == 36
                    && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                    && hex == 32)
                || (seg.len() >= 16 && hex == seg.len()))
    };
    let folded: Vec<&str> = path
        .split('/')
        .map(|seg| if is_id(seg) { "{id}" } else { seg })
        .collect();
    let joined = folded.join("/");
    let joined = if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    };
    crate::text::clip_chars(&joined, MAX_PATH_CHARS).to_owned()
}

/// Cuts `s` to at most [`MAX_SAMPLE_FIELD_BYTES`] on a character boundary.
fn capped(s: &str) -> String {
    clip_bytes_marked(s, MAX_SAMPLE_FIELD_BYTES).into_owned()
}

fn host_port(ip: &str, port: Option<u16>) -> String {
    match (ip.contains(':'), port) {
        (true, Some(p)) => format!("[{ip}]:{p}"),
        (false, Some(p)) => format!("{ip}:{p}"),
        (_, None) => ip.to_owned(),
    }
}

fn sample_of(e: &RecordEntry<'_>, time_us: i64) -> Sample {
    let request = {
        let parts: Vec<&str> = [&e.request_verb, &e.request_url, &e.request_proto]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        (!parts.is_empty()).then(|| capped(&parts.join(" ")))
    };
    Sample {
        time: micros_to_datetime(time_us),
        client: e.client_ip.as_deref().map_or_else(
            || "-".to_owned(),
            |ip| capped(&host_port(ip, e.client_port)),
        ),
        target: e
            .target_ip
            .as_deref()
            .map(|ip| capped(&host_port(ip, e.target_port))),
        elb_status_code: e.elb_status_code,
        target_status_code: e.target_status_code,
        request,
        user_agent: e.user_agent.as_deref().map(capped),
        error_reason: e.error_reason.as_deref().map(capped),
        trace_id: e.trace_id.as_deref().map(capped),
    }
}

/// One record's counts, per window, before they are added to the store as one unit: built entry by entry (as a [`RecordVisitor`] while the record is parsed,
/// or from a parsed [`Record`]) without touching shared state, so a record that turns out
/// malformed halfway leaves nothing behind. Lateness depends only on a window's start, so it
/// is judged per window when committing. Records span few windows.
#[derive(Debug)]
pub struct Pending {
    slots: Vec<WindowDelta>,
    last: usize,
    window_us: i64,
    future_limit_us: i64,
    invalid_times: u64,
    future: u64,
}

impl Pending {
    /// The slot of the window holding `t` (created empty, if needed), or `None` after counting
    /// why the time is not acceptable.
    fn slot(&mut self, t: Option<i64>) -> Option<(&mut WindowDelta, i64)> {
        let Some(t) = t else {
            self.invalid_times += 1;
            return None;
        };
        if t > self.future_limit_us {
            self.future += 1;
            return None;
        }
        let start = t - t.rem_euclid(self.window_us);
        if self
            .slots
            .get(self.last)
            .is_none_or(|s| s.start_us != start)
        {
            self.last = match self.slots.iter().position(|s| s.start_us == start) {
                Some(i) => i,
                None => {
                    self.slots.push(WindowDelta {
                        start_us: start,
                        // The key kind is set from the header when committing.
                        agg: WindowAgg::new(KeyKind::Target),
                        entries: 0,
                        entries_5xx: 0,
                        tallies: 0,
                        max_time_us: t,
                    });
                    self.slots.len() - 1
                }
            };
        }
        let slot = &mut self.slots[self.last];
        slot.max_time_us = slot.max_time_us.max(t);
        Some((slot, t))
    }

    /// Counts a parsed record's entries and tallies.
    pub fn add_record(&mut self, record: &Record<'_>) {
        for e in &record.entries {
            self.entry(e);
        }
        for t in &record.tallies {
            self.tally(t);
        }
    }
}

impl RecordVisitor for Pending {
    /// Only 5xx entries are looked at beyond their time and status codes.
    fn needs_all(&self, e: &RecordEntry<'_>) -> bool {
        e.status_5xx().is_some()
    }

    fn entry(&mut self, e: &RecordEntry<'_>) {
        let Some((slot, t)) = self.slot(parse_time_us(&e.time)) else {
            return;
        };
        slot.entries += 1;
        if let Some(code) = e.status_5xx() {
            slot.entries_5xx += 1;
            slot.agg.add_5xx(e, code, t);
        }
    }

    fn restart(&mut self) {
        self.slots.clear();
        self.last = 0;
        self.invalid_times = 0;
        self.future = 0;
    }

    fn tally(&mut self, tally: &Tally<'_>) {
        let Some((slot, _)) = self.slot(parse_minute_us(&tally.minute)) else {
            return;
        };
        slot.tallies += 1;
        let w = &mut slot.agg;
        w.requests = w.requests.saturating_add(tally.total);
        w.requests_known = true;
        w.tally_5xx = w.tally_5xx.saturating_add(tally.s5xx);
    }
}

impl Pending {
    /// Empty counts for one record in windows of `window_us`; `now_us` is the wall clock, used
    /// only to drop times from the far future.
    #[must_use]
    pub fn new(window_us: i64, now_us: i64) -> Self {
        Self {
            slots: Vec::new(),
            last: 0,
            window_us: window_us.max(1),
            future_limit_us: now_us.saturating_add(MAX_FUTURE_SKEW_US),
            invalid_times: 0,
            future: 0,
        }
    }

    /// Entries or tallies dropped for a time that is not a valid time.
    #[must_use]
    pub fn invalid_times(&self) -> u64 {
        self.invalid_times
    }

    /// Entries or tallies dropped for a time too far in the future.
    #[must_use]
    pub fn future(&self) -> u64 {
        self.future
    }

    /// The record's contribution: its windows, labelled with the header's key kind, and in
    /// `all` mode every entry counted as a request.
    #[must_use]
    pub fn into_counts(self, h: &RecordHeader<'_>) -> RecordCounts {
        let count_requests = h.mode == ForwardMode::All;
        let windows = self
            .slots
            .into_iter()
            .map(|mut slot| {
                slot.agg.key_kind = h.key_kind;
                if count_requests && slot.entries > 0 {
                    slot.agg.requests = slot.agg.requests.saturating_add(slot.entries);
                    slot.agg.requests_known = true;
                }
                slot
            })
            .collect();
        RecordCounts {
            id: h.dedupe_key(),
            windows,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{RecordHeader, SourceId, Tally};
    use std::borrow::Cow;

    pub(crate) fn entry(line: u64, time: &str, code: u16) -> RecordEntry<'static> {
        RecordEntry {
            line,
            time: Cow::Owned(time.to_owned()),
            client_ip: Some("192.0.2.1".into()),
            client_port: Some(51234),
            target_ip: Some("10.0.1.11".into()),
            target_port: Some(8080),
            target_group_arn: Some("arn:tg/shop".into()),
            elb_status_code: Some(code),
            target_status_code: None,
            request_verb: Some("GET".into()),
            request_url: Some("https://shop.example.com:443/cart".into()),
            request_proto: Some("HTTP/2.0".into()),
            user_agent: Some("curl/8".into()),
            error_reason: None,
            classification: None,
            trace_id: Some(format!("Root=1-{line}").into()),
        }
    }

    pub(crate) fn record(
        lb: &str,
        key: &str,
        seq: u64,
        entries: Vec<RecordEntry<'static>>,
        tallies: Vec<Tally<'static>>,
    ) -> Record<'static> {
        Record {
            header: RecordHeader {
                v: 1,
                // One log object per record, as if each came from its own file.
                source: SourceId {
                    bucket: "b".into(),
                    key: format!("k{seq}").into(),
                    etag: None,
                    version_id: None,
                },
                elb: lb.to_owned().into(),
                partition_key: key.to_owned().into(),
                key_kind: KeyKind::Target,
                mode: ForwardMode::Errors,
                seq,
                lines: [seq * 10 + 1, seq * 10 + 10],
            },
            entries,
            tallies,
        }
    }

    pub(crate) fn tally(minute: &str, total: u64, s5xx: u64) -> Tally<'static> {
        Tally {
            minute: minute.to_owned().into(),
            total,
            s2xx: total - s5xx,
            s3xx: 0,
            s4xx: 0,
            s5xx,
        }
    }

    const NOW: i64 = 4_000_000_000 * crate::alb::time::MICROS; // 2096: every test time is past
    const MINUTE: i64 = 60_000_000;

    /// One record's counts in one-minute windows.
    fn counts(r: &Record<'_>, now_us: i64) -> (RecordCounts, u64, u64) {
        let mut p = Pending::new(MINUTE, now_us);
        p.add_record(r);
        let (invalid, future) = (p.invalid_times(), p.future());
        (p.into_counts(&r.header), invalid, future)
    }

    #[test]
    fn counts_entries_tallies_codes_and_samples() {
        let mut entries: Vec<_> = (0..5)
            .map(|i| entry(i, &format!("2025-06-21T22:45:0{i}.5Z"), 502))
            .collect();
        entries[4].elb_status_code = Some(504);
        entries[3].error_reason = Some("TargetTimeout".into());
        entries.push(entry(9, "2025-06-21T22:46:10Z", 200)); // not 5xx: ignored in errors mode
        let r = record(
            "lb",
            "10.0.1.11:8080",
            0,
            entries,
            vec![
                tally("2025-06-21T22:45", 100, 5),
                tally("2025-06-21T22:46", 50, 0),
            ],
        );
        let (c, _, _) = counts(&r, NOW);
        assert_eq!(c.id, r.header.dedupe_key());
        assert_eq!(c.windows.len(), 2);
        assert_eq!(c.windows.iter().map(|w| w.entries).sum::<u64>(), 6);
        assert_eq!(c.windows.iter().map(|w| w.entries_5xx).sum::<u64>(), 5);
        assert_eq!(c.windows.iter().map(|w| w.tallies).sum::<u64>(), 2);
        let start = parse_time_us("2025-06-21T22:45:00Z").unwrap();
        let w = c.windows.iter().find(|w| w.start_us == start).unwrap();
        assert_eq!(w.max_time_us, start + 4_500_000);
        let agg = &w.agg;
        assert_eq!(agg.count_5xx(), 5);
        assert_eq!(agg.requests(), Some(100));
        assert_eq!(agg.status_codes, vec![(502, 4), (504, 1)]);
        assert_eq!(agg.error_reasons, vec![("TargetTimeout".into(), 1)]);
        assert_eq!(agg.samples.len(), MAX_SAMPLES);
        assert_eq!(agg.samples[0].line, 0);
        assert_eq!(agg.samples[0].sample.client, "192.0.2.1:51234");
        assert_eq!(
            agg.samples[0].sample.request.as_deref(),
            Some("GET https://shop.example.com:443/cart HTTP/2.0")
        );
        assert_eq!(agg.first_seen_us, Some(start + 500_000));
        assert_eq!(agg.last_seen_us, Some(start + 4_500_000));
        assert_eq!(agg.target_group.as_deref(), Some("arn:tg/shop"));
    }

    #[test]
    fn all_mode_counts_every_entry_as_a_request() {
        let mut r = record(
            "lb",
            "t",
            0,
            vec![
                entry(1, "2025-06-21T22:45:01Z", 200),
                entry(2, "2025-06-21T22:45:02Z", 503),
                entry(3, "2025-06-21T22:45:03Z", 404),
            ],
            vec![],
        );
        r.header.mode = ForwardMode::All;
        let (c, _, _) = counts(&r, NOW);
        let seen: Vec<_> = c
            .windows
            .iter()
            .map(|w| (w.agg.count_5xx(), w.agg.requests()))
            .collect();
        assert_eq!(seen, vec![(1, Some(3))]);
    }

    #[test]
    fn future_and_invalid_times_are_dropped_and_counted() {
        let r = record(
            "lb",
            "t",
            1,
            vec![
                entry(3, "2025-06-21T22:50:00Z", 502),
                entry(4, "garbage", 502),
                entry(5, "2099-01-01T00:00:00Z", 502),
            ],
            vec![tally("2025-06-21T22:40", 10, 0)],
        );
        let (c, invalid, future) = counts(&r, parse_time_us("2030-01-01T00:00:00Z").unwrap());
        assert_eq!((invalid, future), (1, 1));
        assert_eq!(c.windows.len(), 2);
        assert_eq!(c.windows.iter().map(|w| w.entries).sum::<u64>(), 1);
    }

    #[test]
    fn paths_are_normalised_so_one_endpoint_is_one_line() {
        for (url, path) in [
            (
                "https://shop.example.com:443/api/v1/products/97366",
                "/api/v1/products/{id}",
            ),
            (
                "https://shop.example.com:443/c/electronics?page=4&utm=x",
                "/c/electronics",
            ),
            (
                "https://x/orders/3f2b8a1c-9d4e-4f6a-8b7c-1d2e3f4a5b6c/items",
                "/orders/{id}/items",
            ),
            ("https://x/blob/0123456789abcdef0123", "/blob/{id}"),
            ("https://x", "/"),
            ("/relative/7?x", "/relative/{id}"),
            ("https://x/cart#frag", "/cart"),
        ] {
            assert_eq!(normalise_path(url), path, "{url}");
        }
        assert!(
            normalise_path(&format!("https://x/{}", "a".repeat(500)))
                .chars()
                .count()
                <= MAX_PATH_CHARS
        );
    }

    #[test]
    fn error_reasons_are_bounded() {
        let mut agg = WindowAgg::new(KeyKind::Target);
        for i in 0..100 {
            add_reason(&mut agg.error_reasons, &format!("r{i}"), 1);
        }
        assert_eq!(agg.error_reasons.len(), MAX_ERROR_REASONS + 1);
        assert_eq!(
            agg.error_reasons
                .iter()
                .find(|(r, _)| &**r == OTHER_REASON)
                .map(|(_, n)| *n),
            Some(100 - MAX_ERROR_REASONS as u64)
        );
        assert_eq!(agg.error_reasons.iter().map(|(_, n)| n).sum::<u64>(), 100);
    }

    #[test]
    fn sample_fields_are_capped() {
        let mut e = entry(1, "2025-06-21T22:45:00Z", 502);
        e.user_agent = Some("é".repeat(5000).into());
        e.client_ip = Some("2001:db8::1".into());
        let s = sample_of(&e, 0);
        assert!(s.user_agent.unwrap().len() <= MAX_SAMPLE_FIELD_BYTES + 3);
        assert_eq!(s.client, "[2001:db8::1]:51234");
    }
}
