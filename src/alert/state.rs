//! Per-key alert state: what the final windows say (facts) and what was announced (firing or
//! resolved), and the pure decision of what to announce next.
//!
//! # Model (Alertmanager-like, in event time)
//!
//! - **Rule**: a window *crosses* when `count_5xx >= min_5xx` and, if its request count is
//!   known, `count_5xx / requests >= min_error_rate`.
//! - **Facts** are folded from *final* windows in start order ([`KeyTrack::fold`]): final windows
//!   never change, so folding them early or late, in one batch or many, gives the same facts.
//!   - An *episode* opens at the first final crossing window and remembers its worst window.
//!   - `streak` counts final windows with traffic below the rule since the last final crossing
//!     one; windows without traffic do not exist, so they neither count nor reset it.
//!   - When the streak reaches `resolve_after`, the episode *closes*. A key whose episode is open
//!     but which has had no traffic at all for `stale_after` (and no open window) closes too
//!     (`stale`), so a deregistered target does not stay firing forever.
//! - **Firing now** = an open episode, or an open (not yet final) window that crosses: firing is
//!   announced as soon as a window crosses, without waiting for it to close.
//! - **Announced** state changes only through [`KeyTrack::apply`], called for notifications that
//!   were delivered. [`KeyTrack::decide`] is a pure function of facts + announced state + the
//!   watermark, so a notification that could not be delivered is decided again next time, and
//!   one that was delivered is not repeated.
//!
//! [`KeyTrack::decide`], in order:
//! 1. A closed episode not yet announced as resolved: if firing was never announced (the whole
//!    episode happened between two evaluations) announce it firing first; then announce it
//!    resolved.
//! 2. Firing now: announce firing (with the episode's worst window) if not announced; else again
//!    with `escalation` when the worst window's count is at least twice the count last
//!    announced; else again (a reminder, with the latest crossing window) when
//!    `repeat_interval` of event time has passed since the last announcement.
//! 3. Not firing now but announced firing: resolved once `resolve_after` final windows in a row
//!    were below the rule (the announced window later fell below the rule), or when stale.

use std::sync::Arc;

use crate::alert::config::AlertConfig;
use crate::alert::window::WindowAgg;
use crate::record::KeyKind;

/// The firing rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Fewest 5xx in one window.
    pub min_5xx: u64,
    /// Smallest error rate in one window; skipped when requests are unknown.
    pub min_error_rate: f64,
}

impl Rule {
    /// The rule of `config`.
    #[must_use]
    pub fn of(config: &AlertConfig) -> Self {
        Self {
            min_5xx: config.min_5xx,
            min_error_rate: config.min_error_rate,
        }
    }

    /// Whether `w` crosses the rule.
    #[must_use]
    pub fn crosses(&self, w: &WindowAgg) -> bool {
        let count = w.count_5xx();
        count >= self.min_5xx
            && match w.requests() {
                Some(requests) if requests > 0 => {
                    count as f64 >= self.min_error_rate * requests as f64
                }
                Some(_) => false,
                None => true,
            }
    }
}

/// A window with its start (µs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dated {
    /// Window start (µs).
    pub start_us: i64,
    /// Window end (µs); for a merged span, the end of its last window.
    pub end_us: i64,
    /// Its counts.
    pub agg: WindowAgg,
}

impl Dated {
    /// The one with more 5xx; the earlier one on a tie.
    fn worst(a: Option<Dated>, b: Option<&Dated>) -> Option<Dated> {
        match (a, b) {
            (Some(a), Some(b)) => Some(
                if (b.agg.count_5xx(), std::cmp::Reverse(b.start_us))
                    > (a.agg.count_5xx(), std::cmp::Reverse(a.start_us))
                {
                    b.clone()
                } else {
                    a
                },
            ),
            (a, b) => a.or_else(|| b.cloned()),
        }
    }
}

/// An episode that closed (resolution decided by the facts).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Closed {
    /// Its worst final window.
    pub worst: Dated,
    /// The below-rule windows that resolved it, merged (`None` when it closed as stale).
    pub recovery: Option<Dated>,
    /// When it closed (µs): end of the last recovery window, or last traffic + `stale_after`.
    pub end_us: i64,
    /// Closed for lack of any traffic.
    pub stale: bool,
    /// Start of its first crossing window (µs).
    #[serde(default)]
    pub started_us: Option<i64>,
}

/// What was delivered for a key. Changed only by [`KeyTrack::apply`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announced {
    /// A firing notification was delivered and no resolved one since.
    pub firing: bool,
    /// `count_5xx` of the last firing notification delivered.
    pub count: u64,
    /// Watermark (`seen_us`) when the last firing notification was delivered.
    pub at_us: i64,
    /// `window_end` of the last resolved notification delivered (µs); closed episodes ending
    /// at or before it have been announced.
    pub resolved_through_us: i64,
    /// Start of the incident announced as firing (µs), until it is announced resolved.
    #[serde(default)]
    pub since_us: Option<i64>,
    /// Live updates ([`Timing::update_us`]): the window the incident's message shows now.
    #[serde(default)]
    pub shown: Option<Shown>,
}

/// What a live-updated incident message shows: its window and count, and when (watermark)
/// it was last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    /// Start of the window shown (µs).
    pub start_us: i64,
    /// Its `count_5xx`.
    pub count: u64,
    /// Watermark when the message last changed (µs).
    pub at_us: i64,
}

/// What to announce for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Firing (or still firing) with this worst window.
    Firing {
        /// The worst crossing window.
        window: Dated,
        /// Repeated early because the worst count at least doubled.
        escalation: bool,
    },
    /// Still firing, and the incident's message (bot destinations only) should show this
    /// window now: an edit, not a new announcement.
    Update {
        /// The latest crossing window.
        window: Dated,
    },
    /// Resolved.
    Resolved {
        /// The recovery windows (merged), or `None` when resolved for lack of traffic.
        recovery: Option<Dated>,
        /// Start of the span reported (µs).
        start_us: i64,
        /// End of the span reported (µs); recorded as `resolved_through` when delivered.
        end_us: i64,
    },
}

impl Decision {
    /// What delivering this decision changes in the announced state; `since_us` is the
    /// incident's start ([`KeyTrack::incident_start`]).
    #[must_use]
    pub fn delivered(&self, since_us: Option<i64>) -> Delivered {
        match self {
            Self::Firing { window, .. } => Delivered::Firing {
                count: window.agg.count_5xx(),
                since_us,
                start_us: window.start_us,
            },
            Self::Update { window } => Delivered::Updated {
                count: window.agg.count_5xx(),
                start_us: window.start_us,
            },
            Self::Resolved { end_us, .. } => Delivered::Resolved { end_us: *end_us },
        }
    }
}

/// What the open (not yet final) windows of a key show right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenView {
    /// The key has at least one open window.
    pub has_open: bool,
    /// Its worst open window that crosses the rule.
    pub worst_crossing: Option<Dated>,
    /// Its latest open window that crosses the rule.
    pub latest_crossing: Option<Dated>,
    /// Start of its earliest open window that crosses the rule (µs).
    pub earliest_crossing_start_us: Option<i64>,
    /// `(start µs, 5xx)` of every open window.
    pub counts: Vec<(i64, u64)>,
}

impl OpenView {
    /// Takes one open window into account.
    pub fn add(&mut self, window: Dated, rule: &Rule) {
        self.has_open = true;
        self.counts.push((window.start_us, window.agg.count_5xx()));
        if !rule.crosses(&window.agg) {
            return;
        }
        self.earliest_crossing_start_us = self
            .earliest_crossing_start_us
            .min(Some(window.start_us))
            .or(Some(window.start_us));
        if self
            .latest_crossing
            .as_ref()
            .is_none_or(|l| window.start_us > l.start_us)
        {
            self.latest_crossing = Some(window.clone());
        }
        self.worst_crossing = Dated::worst(self.worst_crossing.take(), Some(&window));
    }
}

/// Timings [`KeyTrack`] needs, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// The rule.
    pub rule: Rule,
    /// Window length.
    pub window_us: i64,
    /// Allowed lateness.
    pub lateness_us: i64,
    /// Final windows below the rule that resolve.
    pub resolve_after: u32,
    /// Reminder interval.
    pub repeat_us: i64,
    /// No-traffic time after which an episode closes as stale.
    pub stale_us: i64,
    /// Live updates of a firing incident's message, at most one per this much event time;
    /// `None` (the default) decides none: only a bot destination can edit a message.
    pub update_us: Option<i64>,
}

impl Timing {
    /// The timings of `config`.
    #[must_use]
    pub fn of(config: &AlertConfig) -> Self {
        let us = |s: u64| i64::try_from(s).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        Self {
            rule: Rule::of(config),
            window_us: i64::from(config.window_seconds) * 1_000_000,
            lateness_us: i64::from(config.allowed_lateness_seconds) * 1_000_000,
            resolve_after: config.resolve_after,
            repeat_us: us(config.repeat_interval_seconds),
            stale_us: us(config.stale_after_seconds),
            update_us: None,
        }
    }

    /// Whether the window starting at `start_us` is final at watermark `final_us`: its end plus
    /// the allowed lateness has passed.
    #[must_use]
    pub fn is_final(&self, start_us: i64, final_us: i64) -> bool {
        start_us
            .saturating_add(self.window_us)
            .saturating_add(self.lateness_us)
            <= final_us
    }
}

/// Facts and announced state of one key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyTrack {
    /// What the key names.
    pub kind: KeyKind,
    /// Its target group, when known (smallest ARN seen).
    pub target_group: Option<Arc<str>>,
    /// Final windows with traffic below the rule since the last final crossing one.
    pub streak: u32,
    /// The first `resolve_after` windows of the streak, merged.
    pub recovery: Option<Dated>,
    /// Worst final crossing window of the open episode.
    pub episode: Option<Dated>,
    /// Start of the open episode's first final crossing window (µs).
    #[serde(default)]
    pub episode_started_us: Option<i64>,
    /// Latest final crossing window of the open episode.
    pub episode_latest: Option<Dated>,
    /// The last closed episode.
    pub closed: Option<Closed>,
    /// End of the latest final window with traffic (µs).
    pub last_traffic_end_us: Option<i64>,
    /// What was delivered.
    pub announced: Announced,
    /// `(start µs, 5xx)` of the latest final windows with traffic, at most
    /// [`RECENT_WINDOWS`]: the trend a notification shows.
    #[serde(default)]
    pub recent: Vec<(i64, u64)>,
}

/// Windows a notification's trend covers, ending with its window.
pub const TREND_WINDOWS: usize = 15;
/// Final windows a key remembers for its trend: more than [`TREND_WINDOWS`], as a notification
/// may be decided a while after its window (several windows turning final at once); about
/// 0.7 KB of the ledger.
pub const RECENT_WINDOWS: usize = 30;

impl KeyTrack {
    /// A key seen for the first time.
    #[must_use]
    pub fn new(kind: KeyKind) -> Self {
        Self {
            kind,
            target_group: None,
            streak: 0,
            recovery: None,
            episode: None,
            episode_started_us: None,
            episode_latest: None,
            closed: None,
            last_traffic_end_us: None,
            announced: Announced::default(),
            recent: Vec::new(),
        }
    }

    /// Notes the key kind and target group of a window.
    pub fn note(&mut self, agg: &WindowAgg) {
        self.kind = agg.key_kind;
        if let Some(tg) = &agg.target_group
            && self.target_group.as_ref().is_none_or(|cur| tg < cur)
        {
            self.target_group = Some(Arc::clone(tg));
        }
    }

    /// Folds one final window; windows must come in start order.
    pub fn fold(&mut self, start_us: i64, agg: WindowAgg, t: &Timing) {
        if !agg.has_traffic() {
            return;
        }
        self.note(&agg);
        let end_us = start_us.saturating_add(t.window_us);
        self.last_traffic_end_us = self.last_traffic_end_us.max(Some(end_us));
        self.recent.push((start_us, agg.count_5xx()));
        if self.recent.len() > RECENT_WINDOWS {
            self.recent.remove(0);
        }
        let window = Dated {
            start_us,
            end_us,
            agg,
        };
        if t.rule.crosses(&window.agg) {
            if self.episode.is_none() {
                self.episode_started_us = Some(start_us);
            }
            self.streak = 0;
            self.recovery = None;
            self.episode = Dated::worst(self.episode.take(), Some(&window));
            self.episode_latest = Some(window);
            return;
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak <= t.resolve_after {
            self.recovery = Some(match self.recovery.take() {
                None => window,
                Some(mut r) => {
                    r.agg.merge(&window.agg);
                    r.end_us = window.end_us;
                    r
                }
            });
        }
        if self.streak == t.resolve_after
            && let Some(worst) = self.episode.take()
        {
            self.episode_latest = None;
            let started_us = self.episode_started_us.take();
            self.close(Closed {
                worst,
                recovery: self.recovery.clone(),
                end_us,
                stale: false,
                started_us,
            });
        }
    }

    /// Closes an open episode whose key has had no traffic for `stale_us` of event time.
    pub fn close_if_stale(&mut self, has_open: bool, seen_us: i64, t: &Timing) {
        if has_open || self.episode.is_none() {
            return;
        }
        let Some(end) = self.stale_at(t) else { return };
        if end <= seen_us
            && let Some(worst) = self.episode.take()
        {
            self.episode_latest = None;
            let started_us = self.episode_started_us.take();
            self.close(Closed {
                worst,
                recovery: None,
                end_us: end,
                stale: true,
                started_us,
            });
        }
    }

    fn stale_at(&self, t: &Timing) -> Option<i64> {
        self.last_traffic_end_us
            .map(|e| e.saturating_add(t.stale_us))
    }

    /// Records a closed episode; merges it into a previous one that was never announced
    /// resolved (keeps the worst window and the latest end).
    fn close(&mut self, c: Closed) {
        self.closed = Some(match self.closed.take() {
            Some(prev) if prev.end_us > self.announced.resolved_through_us => Closed {
                worst: Dated::worst(Some(prev.worst), Some(&c.worst)).unwrap_or(c.worst),
                started_us: prev.started_us.or(c.started_us),
                ..c
            },
            _ => c,
        });
    }

    /// Whether nothing about this key needs remembering (no open window, no episode, nothing
    /// announced or pending): it can be dropped.
    #[must_use]
    pub fn is_idle(&self, has_open: bool) -> bool {
        !has_open
            && self.episode.is_none()
            && !self.announced.firing
            && self
                .closed
                .as_ref()
                .is_none_or(|c| c.end_us <= self.announced.resolved_through_us)
    }

    /// What to announce now (pure). `seen_us` is the load balancer's event-time watermark.
    #[must_use]
    pub fn decide(&self, open: &OpenView, seen_us: i64, t: &Timing) -> Vec<Decision> {
        let mut out = Vec::new();
        let mut firing = self.announced.firing;
        if let Some(c) = &self.closed
            && c.end_us > self.announced.resolved_through_us
        {
            if !firing {
                out.push(Decision::Firing {
                    window: c.worst.clone(),
                    escalation: false,
                });
            }
            out.push(resolved(c.recovery.clone(), c.worst.end_us, c.end_us));
            firing = false;
        }
        let worst = Dated::worst(self.episode.clone(), open.worst_crossing.as_ref());
        if let Some(window) = worst {
            let count = window.agg.count_5xx();
            if !firing {
                out.push(Decision::Firing {
                    window,
                    escalation: false,
                });
            } else if self.announced.count > 0 && count >= self.announced.count.saturating_mul(2) {
                out.push(Decision::Firing {
                    window,
                    escalation: true,
                });
            } else {
                // A reminder or an update shows the current state: the latest crossing window.
                let latest = [self.episode_latest.as_ref(), open.latest_crossing.as_ref()]
                    .into_iter()
                    .flatten()
                    .max_by_key(|w| w.start_us)
                    .cloned()
                    .unwrap_or(window);
                if seen_us.saturating_sub(self.announced.at_us) >= t.repeat_us {
                    out.push(Decision::Firing {
                        window: latest,
                        escalation: false,
                    });
                } else if self.wants_update(&latest, seen_us, t) {
                    out.push(Decision::Update { window: latest });
                }
            }
        } else if firing {
            if self.streak >= t.resolve_after
                && let Some(r) = &self.recovery
            {
                out.push(resolved(Some(r.clone()), r.start_us, r.end_us));
            } else if !open.has_open
                && let Some(stale_at) = self.stale_at(t)
                && stale_at <= seen_us
            {
                let since = self.last_traffic_end_us.unwrap_or(stale_at);
                out.push(resolved(None, since, stale_at));
            }
        }
        out
    }

    /// Whether a live update should show `latest`: updates are on, the message shows another
    /// window or count, and it last changed at least [`Timing::update_us`] ago.
    fn wants_update(&self, latest: &Dated, seen_us: i64, t: &Timing) -> bool {
        let Some(every) = t.update_us else {
            return false;
        };
        let changed_at = self
            .announced
            .shown
            .map_or(self.announced.at_us, |s| s.at_us);
        let same = self
            .announced
            .shown
            .is_some_and(|s| s.start_us == latest.start_us && s.count == latest.agg.count_5xx());
        !same && seen_us.saturating_sub(changed_at) >= every
    }

    /// Records that `decision` was delivered, at event time `seen_us`.
    pub fn apply(&mut self, decision: &Delivered, seen_us: i64) {
        match *decision {
            Delivered::Firing {
                count,
                since_us,
                start_us,
            } => {
                if !self.announced.firing {
                    self.announced.since_us = since_us;
                }
                self.announced.firing = true;
                self.announced.count = count;
                self.announced.at_us = seen_us;
                self.announced.shown = Some(Shown {
                    start_us,
                    count,
                    at_us: seen_us,
                });
            }
            Delivered::Updated { count, start_us } => {
                self.announced.shown = Some(Shown {
                    start_us,
                    count,
                    at_us: seen_us,
                });
            }
            Delivered::Resolved { end_us } => {
                self.announced.firing = false;
                self.announced.since_us = None;
                self.announced.shown = None;
                self.announced.count = 0;
                self.announced.resolved_through_us = self.announced.resolved_through_us.max(end_us);
            }
        }
    }
}

impl KeyTrack {
    /// 5xx per window for the [`TREND_WINDOWS`] windows ending with the one ending at `end_us`
    /// (final ones from [`KeyTrack::recent`], open ones from `open`; a window without traffic
    /// counts 0), starting no earlier than `since_us` nor than the oldest window remembered.
    #[must_use]
    pub fn trend(&self, open: &OpenView, since_us: i64, end_us: i64, t: &Timing) -> Vec<u64> {
        let w = t.window_us.max(1);
        let count = i64::try_from(TREND_WINDOWS).unwrap_or(15);
        let oldest = self
            .recent
            .iter()
            .chain(&open.counts)
            .map(|(s, _)| *s)
            .min()
            .unwrap_or(end_us);
        let first = end_us
            .saturating_sub(count.saturating_mul(w))
            .max(since_us.saturating_sub(since_us.rem_euclid(w)))
            .max(oldest);
        let mut out = Vec::with_capacity(TREND_WINDOWS);
        let mut start = first;
        while start < end_us && out.len() < TREND_WINDOWS {
            let n = self
                .recent
                .iter()
                .chain(&open.counts)
                .filter(|(s, _)| *s == start)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            out.push(n);
            start = start.saturating_add(w);
        }
        out
    }

    /// When the incident a decision (from [`KeyTrack::decide`], before it is applied) is about
    /// began: the start of its first crossing window.
    #[must_use]
    pub fn incident_start(&self, decision: &Decision, open: &OpenView) -> Option<i64> {
        let unannounced_closed = self
            .closed
            .as_ref()
            .filter(|c| c.end_us > self.announced.resolved_through_us);
        match decision {
            Decision::Update { .. } => self.announced.since_us,
            Decision::Firing { window, .. } => match unannounced_closed {
                Some(c) if window.start_us < c.end_us && !self.announced.firing => c.started_us,
                _ if self.announced.firing => self.announced.since_us,
                _ => self.episode_started_us.or(open.earliest_crossing_start_us),
            },
            Decision::Resolved { end_us, .. } => self.announced.since_us.or_else(|| {
                unannounced_closed
                    .filter(|c| c.end_us == *end_us)
                    .and_then(|c| c.started_us)
            }),
        }
    }
}

fn resolved(recovery: Option<Dated>, fallback_start_us: i64, end_us: i64) -> Decision {
    let start_us = recovery
        .as_ref()
        .map_or(fallback_start_us, |r| r.start_us)
        .min(end_us);
    Decision::Resolved {
        recovery,
        start_us,
        end_us,
    }
}

/// A delivered notification, as [`KeyTrack::apply`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// A firing notification with this `count_5xx`.
    Firing {
        /// Its `count_5xx`.
        count: u64,
        /// Start of the incident it announced (µs).
        since_us: Option<i64>,
        /// Start of its window (µs).
        start_us: i64,
    },
    /// A live update showing this window.
    Updated {
        /// Its `count_5xx`.
        count: u64,
        /// Start of its window (µs).
        start_us: i64,
    },
    /// A resolved notification with this `window_end` (µs).
    Resolved {
        /// Its `window_end`.
        end_us: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn timing() -> Timing {
        Timing::of(&AlertConfig {
            resolve_after: 3,
            repeat_interval_seconds: 3600,
            stale_after_seconds: 7200,
            ..AlertConfig::default()
        })
    }

    fn agg(count: u64, requests: Option<u64>) -> WindowAgg {
        let mut a = WindowAgg::new(KeyKind::Target);
        a.entry_5xx = count;
        if let Some(r) = requests {
            a.requests = r;
            a.requests_known = true;
        }
        a
    }

    fn dated(minute: i64, count: u64, requests: Option<u64>) -> Dated {
        Dated {
            start_us: minute * MIN,
            end_us: (minute + 1) * MIN,
            agg: agg(count, requests),
        }
    }

    fn view(window: Dated) -> OpenView {
        let mut v = OpenView::default();
        v.add(window, &timing().rule);
        v
    }

    fn deliver(track: &mut KeyTrack, ds: &[Decision], seen_us: i64) {
        for d in ds {
            let since = match d {
                Decision::Firing { window, .. } => Some(window.start_us),
                _ => None,
            };
            track.apply(&d.delivered(since), seen_us);
        }
    }

    fn kinds(ds: &[Decision]) -> Vec<&'static str> {
        ds.iter()
            .map(|d| match d {
                Decision::Firing {
                    escalation: true, ..
                } => "escalation",
                Decision::Firing { .. } => "firing",
                Decision::Update { .. } => "update",
                Decision::Resolved { .. } => "resolved",
            })
            .collect()
    }

    #[test]
    fn rule_thresholds_including_unknown_requests() {
        let rule = Rule {
            min_5xx: 10,
            min_error_rate: 0.05,
        };
        assert!(!rule.crosses(&agg(9, None)));
        assert!(
            rule.crosses(&agg(10, None)),
            "rate check skipped when unknown"
        );
        assert!(rule.crosses(&agg(10, Some(200))), "exactly 5 %");
        assert!(!rule.crosses(&agg(10, Some(201))));
        assert!(!rule.crosses(&agg(9, Some(10))));
        // Requests never below the 5xx count: 10 of "5" is 100 %.
        assert!(rule.crosses(&agg(10, Some(5))));
        let zero = Rule {
            min_5xx: 1,
            min_error_rate: 0.0,
        };
        assert!(zero.crosses(&agg(1, Some(1_000_000))));
    }

    #[test]
    fn fires_from_an_open_window_and_does_not_repeat() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        let open = view(dated(0, 20, Some(100)));
        let ds = k.decide(&open, MIN, &t);
        assert_eq!(kinds(&ds), ["firing"]);
        assert_eq!(
            k.decide(&open, MIN, &t),
            ds,
            "pure: same answer until delivered"
        );
        deliver(&mut k, &ds, MIN);
        assert!(k.decide(&open, 2 * MIN, &t).is_empty());
    }

    #[test]
    fn escalates_at_twice_the_announced_count_and_repeats_after_the_interval() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        let open_with = |count| view(dated(0, count, None));
        let ds = k.decide(&open_with(10), 0, &t);
        deliver(&mut k, &ds, 0);
        assert!(k.decide(&open_with(19), MIN, &t).is_empty());
        let ds = k.decide(&open_with(20), MIN, &t);
        assert_eq!(kinds(&ds), ["escalation"]);
        deliver(&mut k, &ds, MIN);
        assert!(
            k.decide(&open_with(39), MIN + t.repeat_us - 1, &t)
                .is_empty()
        );
        let ds = k.decide(&open_with(39), MIN + t.repeat_us, &t);
        assert_eq!(kinds(&ds), ["firing"]);
        deliver(&mut k, &ds, MIN + t.repeat_us);
        assert_eq!(k.announced.count, 39);
    }

    #[test]
    fn live_updates_follow_the_latest_window_at_most_once_per_interval_and_only_when_on() {
        let mut t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        let ds = k.decide(&view(dated(0, 10, None)), MIN / 2, &t);
        deliver(&mut k, &ds, MIN / 2);
        // Off by default: a new crossing window changes nothing short of a reminder.
        assert!(k.decide(&view(dated(1, 12, None)), 2 * MIN, &t).is_empty());
        t.update_us = Some(MIN);
        // On: not before the interval, even though the window changed.
        assert!(k.decide(&view(dated(1, 12, None)), MIN, &t).is_empty());
        let ds = k.decide(&view(dated(1, 12, None)), 2 * MIN, &t);
        assert_eq!(kinds(&ds), ["update"]);
        deliver(&mut k, &ds, 2 * MIN);
        assert_eq!(k.announced.count, 10, "an update is not an announcement");
        assert_eq!(k.announced.at_us, MIN / 2, "nor does it move the reminder");
        // The same window and count: nothing to edit, however late.
        assert!(k.decide(&view(dated(1, 12, None)), 5 * MIN, &t).is_empty());
        // A higher count in the same window: edited again, a minute after the last edit.
        assert!(
            k.decide(&view(dated(1, 15, None)), 2 * MIN + MIN / 2, &t)
                .is_empty()
        );
        assert_eq!(
            kinds(&k.decide(&view(dated(1, 15, None)), 3 * MIN, &t)),
            ["update"]
        );
        // Escalation still wins over an update.
        assert_eq!(
            kinds(&k.decide(&view(dated(2, 20, None)), 3 * MIN, &t)),
            ["escalation"]
        );
    }

    #[test]
    fn the_trend_joins_final_and_open_windows_fills_gaps_and_stays_bounded() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        for m in 0..100 {
            // Minute 97 has no traffic at all: it is not folded, and reads as 0.
            if m != 97 {
                k.fold(
                    m * MIN,
                    agg(u64::try_from(m).expect("small"), Some(1000)),
                    &t,
                );
            }
        }
        assert_eq!(k.recent.len(), RECENT_WINDOWS);
        let open = view(dated(100, 500, None));
        let trend = k.trend(&open, 95 * MIN, 101 * MIN, &t);
        assert_eq!(trend, [95, 96, 0, 98, 99, 500]);
        let long = k.trend(&open, 0, 101 * MIN, &t);
        assert_eq!(long.len(), TREND_WINDOWS);
        assert_eq!(long.last(), Some(&500));
        // Older than anything remembered: starts at the oldest window known, no made-up zeros.
        let fresh = KeyTrack::new(KeyKind::Target);
        assert_eq!(fresh.trend(&view(dated(7, 12, None)), 0, 8 * MIN, &t), [12]);
    }

    #[test]
    fn resolves_after_n_final_windows_with_traffic_below_the_rule() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        k.fold(0, agg(50, Some(100)), &t);
        let closed_view = OpenView::default();
        let ds = k.decide(&closed_view, MIN, &t);
        deliver(&mut k, &ds, MIN);
        assert!(k.announced.firing);
        k.fold(MIN, agg(1, Some(100)), &t);
        k.fold(2 * MIN, agg(0, Some(100)), &t);
        k.fold(3 * MIN, agg(0, None), &t); // no traffic: neither counts nor resets
        assert_eq!(k.streak, 2);
        assert!(k.decide(&closed_view, 4 * MIN, &t).is_empty());
        k.fold(5 * MIN, agg(2, Some(100)), &t);
        let ds = k.decide(&closed_view, 6 * MIN, &t);
        assert_eq!(kinds(&ds), ["resolved"]);
        let Decision::Resolved {
            start_us,
            end_us,
            recovery,
        } = &ds[0]
        else {
            unreachable!()
        };
        assert_eq!((*start_us, *end_us), (MIN, 6 * MIN));
        assert_eq!(recovery.as_ref().map(|r| r.agg.count_5xx()), Some(3));
        deliver(&mut k, &ds, 6 * MIN);
        assert!(k.decide(&closed_view, 7 * MIN, &t).is_empty());
        assert!(k.is_idle(false));
    }

    #[test]
    fn a_crossing_window_resets_the_streak() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        k.fold(0, agg(50, None), &t);
        k.fold(MIN, agg(0, Some(10)), &t);
        k.fold(2 * MIN, agg(0, Some(10)), &t);
        k.fold(3 * MIN, agg(60, None), &t);
        k.fold(4 * MIN, agg(0, Some(10)), &t);
        assert_eq!(k.streak, 1);
        assert_eq!(k.episode.as_ref().map(|e| e.agg.count_5xx()), Some(60));
        assert!(k.closed.is_none());
    }

    #[test]
    fn an_episode_between_two_evaluations_is_announced_firing_then_resolved() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        k.fold(0, agg(30, None), &t);
        k.fold(MIN, agg(80, None), &t);
        for m in 2..5 {
            k.fold(m * MIN, agg(0, Some(10)), &t);
        }
        let ds = k.decide(&OpenView::default(), 5 * MIN, &t);
        assert_eq!(kinds(&ds), ["firing", "resolved"]);
        let Decision::Firing { window, .. } = &ds[0] else {
            unreachable!()
        };
        assert_eq!(window.agg.count_5xx(), 80, "the worst window");
        deliver(&mut k, &ds, 5 * MIN);
        assert!(!k.announced.firing);
        assert!(k.decide(&OpenView::default(), 6 * MIN, &t).is_empty());
        assert!(k.is_idle(false));
    }

    #[test]
    fn resolved_and_new_firing_in_one_evaluation() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        k.fold(0, agg(30, None), &t);
        let ds = k.decide(&OpenView::default(), MIN, &t);
        deliver(&mut k, &ds, MIN);
        for m in 1..4 {
            k.fold(m * MIN, agg(0, Some(10)), &t);
        }
        let open = view(dated(20, 12, None));
        let ds = k.decide(&open, 21 * MIN, &t);
        assert_eq!(kinds(&ds), ["resolved", "firing"]);
        deliver(&mut k, &ds, 21 * MIN);
        assert!(k.announced.firing);
        assert_eq!(k.announced.count, 12);
        assert!(k.decide(&open, 21 * MIN, &t).is_empty());
    }

    #[test]
    fn a_silent_firing_key_resolves_as_stale() {
        let t = Timing {
            repeat_us: i64::MAX,
            ..timing()
        };
        let mut k = KeyTrack::new(KeyKind::Target);
        k.fold(0, agg(30, None), &t);
        let ds = k.decide(&OpenView::default(), MIN, &t);
        deliver(&mut k, &ds, MIN);
        let stale_at = MIN + t.stale_us;
        k.close_if_stale(false, stale_at - 1, &t);
        assert!(k.decide(&OpenView::default(), stale_at - 1, &t).is_empty());
        k.close_if_stale(true, stale_at, &t);
        assert!(k.episode.is_some(), "an open window is traffic");
        k.close_if_stale(false, stale_at, &t);
        let ds = k.decide(&OpenView::default(), stale_at, &t);
        assert_eq!(kinds(&ds), ["resolved"]);
        assert!(
            matches!(&ds[0], Decision::Resolved { recovery: None, end_us, .. } if *end_us == stale_at)
        );
        deliver(&mut k, &ds, stale_at);
        assert!(k.is_idle(false));
    }

    #[test]
    fn an_announced_window_that_fell_below_the_rule_resolves_by_streak() {
        let t = timing();
        let mut k = KeyTrack::new(KeyKind::Target);
        let open = view(dated(0, 10, None));
        let ds = k.decide(&open, 0, &t);
        deliver(&mut k, &ds, 0);
        // Its tallies arrived later: 10 of 10 000 requests, below the rate.
        for m in 0..3 {
            k.fold(m * MIN, agg(if m == 0 { 10 } else { 0 }, Some(10_000)), &t);
        }
        assert!(k.episode.is_none());
        let ds = k.decide(&OpenView::default(), 3 * MIN, &t);
        assert_eq!(kinds(&ds), ["resolved"]);
    }
}
