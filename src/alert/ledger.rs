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
use crate::notify::notification::Notification;
use crate::record::KeyKind;
use crate::retry::RetryPolicy;

/// How long a claimed notification belongs to the environment that claimed it: longer than
/// the delivery slice of an invocation ([`crate::alert::handler::DELIVERY_SLICE`]) plus the
/// confirming write.
pub const DELIVERY_LEASE_US: i64 = 60 * 1_000_000;

/// Backoff between attempts of a pending notification (wall clock): 30 s doubling to 15 min.
pub const PENDING_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: u32::MAX,
    base_delay: std::time::Duration::from_secs(30),
    max_delay: std::time::Duration::from_secs(15 * 60),
};

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
        }
    }

    /// Queues `notification`, due at `now_us`.
    pub fn enqueue(&mut self, notification: Notification, now_us: i64) {
        self.outbox.push(Outgoing {
            id: self.next_id,
            notification,
            attempts: 0,
            next_attempt_us: now_us,
            claimed_until_us: 0,
        });
        self.next_id += 1;
    }

    /// Claims the notifications due at `now_us`, in order, stopping at the first one that is
    /// not due or claimed by someone else (a key's notifications are posted in order).
    pub fn claim_due(&mut self, now_us: i64) -> Vec<Outgoing> {
        let mut claimed = Vec::new();
        for o in &mut self.outbox {
            if o.next_attempt_us > now_us || o.claimed_until_us > now_us {
                break;
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
    /// waits [`PENDING_RETRY`]'s backoff. Returns whether any was still there.
    pub fn release(&mut self, ids: &[u64], now_us: i64, jitter: f64) -> bool {
        let mut changed = false;
        for o in self.outbox.iter_mut().filter(|o| ids.contains(&o.id)) {
            o.attempts = o.attempts.saturating_add(1);
            let wait = PENDING_RETRY.backoff(o.attempts, jitter);
            let wait_us = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
            o.next_attempt_us = now_us.saturating_add(wait_us);
            o.claimed_until_us = 0;
            changed = true;
        }
        changed
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

    #[test]
    fn claims_in_order_backs_off_and_confirms() {
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(firing("a"), 0);
        l.enqueue(firing("b"), 0);
        let c = l.claim_due(10);
        assert_eq!(c.iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1]);
        assert!(l.claim_due(20).is_empty(), "claimed by someone");
        assert_eq!(
            l.claim_due(10 + DELIVERY_LEASE_US).len(),
            2,
            "lease expired"
        );
        assert!(l.release(&[0, 1], 100, 0.0));
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
    fn a_later_notification_waits_for_an_earlier_one() {
        let mut l = Ledger::new(KeyKind::Target);
        l.enqueue(firing("a"), 50);
        l.enqueue(firing("b"), 0);
        assert!(l.claim_due(10).is_empty());
    }

    #[test]
    fn round_trips_through_json() {
        let mut l = Ledger::new(KeyKind::TargetGroup);
        l.enqueue(firing("a"), 5);
        l.folded_through_us = Some(60_000_000);
        let back: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
    }
}
