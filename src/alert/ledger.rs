//! The incident ledger of one key: its folded facts and what was announced ([`KeyTrack`]), how
//! far its windows were folded, and the **outbox** of notifications decided but not yet
//! delivered.
//!
//! # Claim, post, confirm
//!
//! A decision is written to the ledger (announced state changed, notification queued) with a
//! conditional write on the ledger's version *before* anything is posted: of two environments
//! evaluating the same key, only one write succeeds, so a transition is announced once. The
//! writer also *claims* the due notifications for a lease ([`DELIVERY_LEASE_US`]); it posts
//! them and then confirms them (removes them from the outbox), or releases them with a backoff
//! ([`Ledger::release`]) when the post failed. A claim whose environment died is retried by
//! whoever evaluates the key after the lease. A post is doubled only if the environment dies
//! (or loses the store) between Slack's answer and the confirming write: a window of one
//! store round trip, tens of milliseconds.

use serde::{Deserialize, Serialize};

use crate::alert::state::KeyTrack;
use crate::notify::notification::{Notification, Status};
use crate::notify::notifier::{PostedMessage, Route};
use crate::record::KeyKind;
use crate::retry::RetryPolicy;

/// How long a claimed notification belongs to the environment that claimed it: longer than a
/// whole alerter invocation (the template's timeout is 60 s), so a claim never expires while
/// its environment may still post it.
pub const DELIVERY_LEASE_US: i64 = 120 * 1_000_000;

/// Backoff between attempts of a pending notification (wall clock): 30 s doubling to 15 min.
pub const PENDING_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: u32::MAX,
    base_delay: std::time::Duration::from_secs(30),
    max_delay: std::time::Duration::from_secs(15 * 60),
};

/// Most notifications an outbox holds; beyond it the oldest is dropped (logged). Pending
/// firing notifications are coalesced first, so this is reached only by many episodes that
/// open and close while Slack stays unreachable.
pub const MAX_OUTBOX: usize = 8;

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Its id within the key's ledger (increasing).
    pub id: u64,
    /// What to post.
    pub notification: Notification,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not attempted before this wall-clock time (µs).
    pub next_attempt_us: i64,
    /// Claimed by an environment until this wall-clock time (µs); 0 when unclaimed.
    pub claimed_until_us: i64,
    /// Where it goes.
    #[serde(default)]
    pub route: Route,
}

impl Outgoing {
    fn unclaimed_firing(&self, route: Route, now_us: i64) -> bool {
        self.route == route
            && self.notification.status == Status::Firing
            && self.claimed_until_us <= now_us
    }
}

/// The durable state of one key (or of a load balancer's log delivery, see
/// [`crate::alert::silence`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Folded facts and announced state.
    pub track: KeyTrack,
    /// Start (µs) of the latest window folded into `track`; later windows are still to fold.
    pub folded_through_us: Option<i64>,
    /// Log delivery only: since when (µs, wall clock) the load balancer is announced silent.
    #[serde(default)]
    pub silent_since_us: Option<i64>,
    /// Decided, not yet delivered, in order.
    pub outbox: Vec<Outgoing>,
    /// The id of the next queued notification.
    pub next_id: u64,
    /// The Slack message of the current incident (bot destinations), until it is resolved.
    #[serde(default)]
    pub message: Option<PostedMessage>,
    /// Silenced from Slack: nothing is queued for the key until then.
    #[serde(default)]
    pub silenced: Option<Silence>,
}

/// A silence set from Slack's buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Until when (wall clock, µs).
    pub until_us: i64,
    /// Who set it (Slack user ID).
    pub by: String,
}

impl Ledger {
    /// An empty ledger for a key of `kind`.
    #[must_use]
    pub fn new(kind: KeyKind) -> Self {
        Self {
            track: KeyTrack::new(kind),
            folded_through_us: None,
            silent_since_us: None,
            outbox: Vec::new(),
            next_id: 0,
            message: None,
            silenced: None,
        }
    }

    /// Queues `notification` once per route in `routes`, due at `now_us`. A live update goes
    /// only to [`Route::Slack`] (only a bot's message can show it).
    ///
    /// The newer state supersedes an unclaimed firing notification waiting last on the same
    /// route: a firing one replaces it, and a live update replaces only an update (an update
    /// never hides an announcement; it is dropped instead, as the announcement will show the
    /// state).
    ///
    /// Returns whether it was queued on any route.
    pub fn enqueue(&mut self, notification: Notification, routes: &[Route], now_us: i64) -> bool {
        let mut queued = false;
        for &route in routes {
            if notification.update && route != Route::Slack {
                continue;
            }
            let mut notification = notification.clone();
            if notification.status == Status::Firing
                && let Some(i) = self.outbox.iter().rposition(|o| o.route == route)
                && self.outbox[i].unclaimed_firing(route, now_us)
            {
                if notification.update && !self.outbox[i].notification.update {
                    continue;
                }
                // An escalation still waiting stays announced as one.
                let replaced = self.outbox.remove(i);
                notification.escalation |= replaced.notification.escalation;
            }
            if self.outbox.len() >= MAX_OUTBOX {
                let dropped = self.outbox.remove(0);
                tracing::error!(
                    load_balancer = %dropped.notification.load_balancer,
                    target = %dropped.notification.target,
                    attempts = dropped.attempts,
                    "outbox full: dropping the oldest undelivered notification"
                );
            }
            self.outbox.push(Outgoing {
                id: self.next_id,
                notification,
                attempts: 0,
                next_attempt_us: now_us,
                claimed_until_us: 0,
                route,
            });
            self.next_id += 1;
            queued = true;
        }
        queued
    }

    /// Claims the notifications due at `now_us`, in order, stopping on each route at the first
    /// one that is not due or claimed by someone else (a key's notifications are delivered in
    /// order on each route).
    pub fn claim_due(&mut self, now_us: i64) -> Vec<Outgoing> {
        let mut claimed = Vec::new();
        let mut blocked: Vec<Route> = Vec::new();
        for o in &mut self.outbox {
            if blocked.contains(&o.route) {
                continue;
            }
            if o.next_attempt_us > now_us || o.claimed_until_us > now_us {
                blocked.push(o.route);
                continue;
            }
            o.claimed_until_us = now_us.saturating_add(DELIVERY_LEASE_US);
            claimed.push(o.clone());
        }
        claimed
    }

    /// Removes delivered (or permanently rejected) notifications; returns whether any was
    /// still there.
    pub fn confirm(&mut self, ids: &[u64]) -> bool {
        let before = self.outbox.len();
        self.outbox.retain(|o| !ids.contains(&o.id));
        self.outbox.len() != before
    }

    /// Gives claimed notifications back after a failed attempt at `now_us`: the next attempt
    /// waits [`PENDING_RETRY`]'s backoff. `claims` are `(id, claimed_until_us)` as claimed: a
    /// notification claimed again by someone else since (its lease ended) is left to them.
    /// Returns whether any was released.
    pub fn release(&mut self, claims: &[(u64, i64)], now_us: i64, jitter: f64) -> bool {
        let mut changed = false;
        for o in self
            .outbox
            .iter_mut()
            .filter(|o| claims.contains(&(o.id, o.claimed_until_us)))
        {
            o.attempts = o.attempts.saturating_add(1);
            let wait = PENDING_RETRY.backoff(o.attempts, jitter);
            let wait_us = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
            o.next_attempt_us = now_us.saturating_add(wait_us);
            o.claimed_until_us = 0;
            changed = true;
        }
        changed
    }

    /// A copy without sample requests (for a store whose item would otherwise be too large).
    #[must_use]
    pub fn without_samples(&self) -> Self {
        let mut l = self.clone();
        let t = &mut l.track;
        for d in [&mut t.recovery, &mut t.episode, &mut t.episode_latest]
            .into_iter()
            .flatten()
        {
            d.agg.samples.clear();
        }
        if let Some(c) = &mut t.closed {
            c.worst.agg.samples.clear();
            if let Some(r) = &mut c.recovery {
                r.agg.samples.clear();
            }
        }
        for o in &mut l.outbox {
            o.notification.samples.clear();
        }
        l
    }

    /// Whether a silence holds at `now_us` (wall clock).
    #[must_use]
    pub fn is_silenced(&self, now_us: i64) -> bool {
        self.silenced.as_ref().is_some_and(|s| s.until_us > now_us)
    }

    /// Whether the key must be evaluated even when no record touches it: an episode, a firing
    /// announcement, a closed episode not yet announced, a pending notification, or silence.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.track.is_idle(false) || !self.outbox.is_empty() || self.silent_since_us.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::tests::sample_notification;

    fn firing(target: &str) -> Notification {
        sample_notification("app/shop/1", target)
    }

    fn resolved(target: &str) -> Notification {
        Notification {
            status: crate::notify::notification::Status::Resolved,
            ..firing(target)
        }
    }

    #[test]
    fn claims_in_order_backs_off_and_confirms() {
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(firing("a"), &[Route::Slack], 0);
        l.enqueue(resolved("a"), &[Route::Slack], 0);
        let c = l.claim_due(10);
        assert_eq!(c.iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1]);
        assert!(l.claim_due(20).is_empty(), "claimed by someone");
        assert_eq!(
            l.claim_due(10 + DELIVERY_LEASE_US).len(),
            2,
            "lease expired"
        );
        let claimed: Vec<(u64, i64)> = l
            .outbox
            .iter()
            .map(|o| (o.id, o.claimed_until_us))
            .collect();
        assert!(!l.release(&[(0, 1), (1, 1)], 100, 0.0), "not our claims");
        assert!(l.release(&claimed, 100, 0.0));
        assert!(l.claim_due(100).is_empty(), "backing off");
        assert_eq!(l.outbox[0].attempts, 1);
        assert_eq!(l.outbox[0].next_attempt_us, 100 + 15_000_000);
        assert_eq!(l.claim_due(100 + 15_000_000).len(), 2);
        assert!(l.confirm(&[0]));
        assert!(!l.confirm(&[0]), "already confirmed");
        assert_eq!(l.outbox.len(), 1);
        assert!(l.is_active());
        assert!(l.confirm(&[1]));
        assert!(!l.is_active());
    }

    #[test]
    fn pending_firing_is_coalesced_and_the_outbox_is_bounded() {
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(firing("a"), &[Route::Slack], 0);
        let mut newer = firing("a");
        newer.count_5xx = 99;
        l.enqueue(newer.clone(), &[Route::Slack], 1);
        assert_eq!(l.outbox.len(), 1);
        assert_eq!(l.outbox[0].notification, newer);
        // A claimed one is being posted: not replaced.
        l.claim_due(2);
        l.enqueue(firing("a"), &[Route::Slack], 3);
        assert_eq!(l.outbox.len(), 2);
        let mut resolved = firing("a");
        resolved.status = crate::notify::notification::Status::Resolved;
        for i in 0..20 {
            l.enqueue(
                if i % 2 == 0 {
                    resolved.clone()
                } else {
                    firing("a")
                },
                &[Route::Slack],
                10,
            );
        }
        assert_eq!(l.outbox.len(), MAX_OUTBOX);
        assert!(
            l.without_samples()
                .outbox
                .iter()
                .all(|o| o.notification.samples.is_empty())
        );
    }

    #[test]
    fn a_later_notification_waits_for_an_earlier_one() {
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(firing("a"), &[Route::Slack], 50);
        l.enqueue(resolved("a"), &[Route::Slack], 0);
        assert!(l.claim_due(10).is_empty());
    }

    #[test]
    fn each_route_has_its_own_entries_order_and_coalescing() {
        let mut l = Ledger::new(KeyKind::Target);
        let both = [Route::Slack, Route::Sns];
        l.enqueue(firing("a"), &both, 0);
        let mut update = firing("a");
        update.update = true;
        // An update never hides the announcement waiting before it, and never goes to SNS.
        l.enqueue(update.clone(), &both, 0);
        assert_eq!(l.outbox.len(), 2);
        let claimed = l.claim_due(0);
        assert_eq!(
            claimed.iter().map(|o| o.route).collect::<Vec<_>>(),
            [Route::Slack, Route::Sns]
        );
        // Slack failed and backs off; SNS was delivered. A resolution then waits behind
        // Slack's firing on Slack only.
        let slack = [(claimed[0].id, claimed[0].claimed_until_us)];
        l.release(&slack, 1, 0.0);
        l.confirm(&[claimed[1].id]);
        l.enqueue(resolved("a"), &both, 1);
        let now = l.claim_due(2);
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].route, Route::Sns);
        assert_eq!(
            now[0].notification.status,
            crate::notify::notification::Status::Resolved
        );
        // Two updates in a row: the newer replaces the older.
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(update.clone(), &both, 0);
        update.count_5xx = 77;
        l.enqueue(update, &both, 0);
        assert_eq!(l.outbox.len(), 1);
        assert_eq!(l.outbox[0].notification.count_5xx, 77);
    }

    #[test]
    fn round_trips_through_json() {
        let mut l = Ledger::new(KeyKind::TargetGroup);
        l.enqueue(firing("a"), &[Route::Slack], 5);
        l.folded_through_us = Some(60_000_000);
        let back: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
    }
}
