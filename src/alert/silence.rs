//! Log delivery stopped (a dead-man's switch): when a load balancer that was delivering access
//! logs delivers none for [`SilenceConfig::after_us`] of wall-clock time, one notification says
//! so; when its records arrive again, one says they are flowing again.
//!
//! The state lives in the store like a key's: a ledger under the pseudo-key
//! [`LOG_DELIVERY_KEY`] of the load balancer, with `silent_since_us` and the outbox, written
//! with the same version check, so whichever environment runs the check (the scheduled rule
//! every 5 minutes, or the end of a batch of that load balancer) announces each change once.

use std::sync::Arc;

use crate::alb::time::micros_to_datetime;
use crate::alert::config::AlertConfigError;
use crate::alert::engine::{Claim, Engine, Evaluation};
use crate::alert::ledger::Ledger;
use crate::alert::store::{Progress, StateStore};
use crate::alert::window::KeyId;
use crate::notify::notification::{Notification, Source, Status, TargetKind};
use crate::notify::notifier::Route;
use crate::record::KeyKind;

/// `ALBWATCH_SILENCE_AFTER_SECONDS`: how long without records before a load balancer is
/// announced silent.
pub const SILENCE_AFTER_ENV: &str = "ALBWATCH_SILENCE_AFTER_SECONDS";
/// Default: 20 minutes (ALB writes a file every 5 minutes per node).
pub const DEFAULT_SILENCE_AFTER_SECONDS: u64 = 20 * 60;
/// Shortest `ALBWATCH_SILENCE_AFTER_SECONDS` accepted.
pub const MIN_SILENCE_AFTER_SECONDS: u64 = 1;
/// Longest `ALBWATCH_SILENCE_AFTER_SECONDS` accepted (30 days).
pub const MAX_SILENCE_AFTER_SECONDS: u64 = 30 * 86_400;
/// The pseudo-key holding a load balancer's log-delivery ledger (never a target `ip:port`, a
/// target group ARN or a load balancer id).
pub const LOG_DELIVERY_KEY: &str = "(access-log delivery)";

/// What [`SilenceConfig::from_lookup`] names in its error (a `&'static str`, so spelled out;
/// a unit test checks it against the bounds).
const SILENCE_AFTER_EXPECTED: &str = "number of seconds from 1 to 2592000";

/// When a load balancer counts as silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceConfig {
    /// Wall-clock time without records (µs).
    pub after_us: i64,
}

impl SilenceConfig {
    /// Reads [`SILENCE_AFTER_ENV`] (unset or empty: the default; [`MIN_SILENCE_AFTER_SECONDS`] to
    /// [`MAX_SILENCE_AFTER_SECONDS`] accepted).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AlertConfigError> {
        let seconds = match lookup(SILENCE_AFTER_ENV).filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_SILENCE_AFTER_SECONDS,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if (MIN_SILENCE_AFTER_SECONDS..=MAX_SILENCE_AFTER_SECONDS).contains(&s) => s,
                _ => {
                    return Err(AlertConfigError::Parse {
                        var: SILENCE_AFTER_ENV,
                        value: crate::text::clip_chars(&v, 40).to_owned(),
                        expected: SILENCE_AFTER_EXPECTED,
                    });
                }
            },
        };
        Ok(Self {
            after_us: i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000) * 1_000_000,
        })
    }

    /// [`SilenceConfig::from_lookup`] on the process environment.
    pub fn from_env() -> Result<Self, AlertConfigError> {
        Self::from_lookup(|v| std::env::var(v).ok())
    }
}

impl Default for SilenceConfig {
    fn default() -> Self {
        Self {
            after_us: i64::try_from(DEFAULT_SILENCE_AFTER_SECONDS).unwrap_or(0) * 1_000_000,
        }
    }
}

/// Checks the load balancers in `only`, with the progress the caller just read (every load
/// balancer in the store when `None`): queues and claims a "stopped" or "flowing again"
/// notification where the state changed, and claims due retries of earlier ones.
pub async fn check<S: StateStore>(
    engine: &Engine<S>,
    config: SilenceConfig,
    only: Option<&[(Arc<str>, Progress)]>,
) -> Evaluation {
    let mut out = Evaluation::default();
    let lbs = match only {
        Some(only) => only.to_vec(),
        None => match engine.store().load_balancers().await {
            Ok(lbs) => lbs,
            Err(e) => {
                out.failed.push((key(Arc::from("")), e));
                return out;
            }
        },
    };
    for (lb, progress) in lbs {
        let id = key(lb);
        let result = engine
            .update_ledger(&id, KeyKind::LoadBalancer, |ledger, now_us| {
                decide(ledger, &id, progress, now_us, config, engine.routes());
                Claim::per_route(&id, ledger.claim_due(now_us), ledger.message.clone())
            })
            .await;
        match result {
            Ok(claims) => out.claims.extend(claims),
            Err(e) => out.failed.push((id, e)),
        }
    }
    out
}

fn key(load_balancer: Arc<str>) -> KeyId {
    KeyId {
        load_balancer,
        key: Arc::from(LOG_DELIVERY_KEY),
    }
}

/// Flips the silence state when the arrivals say so, queueing one notification per flip.
fn decide(
    ledger: &mut Ledger,
    id: &KeyId,
    p: Progress,
    now_us: i64,
    config: SilenceConfig,
    routes: &[Route],
) {
    let silent = now_us.saturating_sub(p.arrived_us) >= config.after_us;
    match (ledger.silent_since_us, silent) {
        (None, true) => {
            ledger.silent_since_us = Some(p.arrived_us);
            ledger.enqueue(
                notification(id, Status::Firing, p.arrived_us, now_us),
                routes,
                now_us,
            );
        }
        (Some(since), false) => {
            ledger.silent_since_us = None;
            ledger.enqueue(
                notification(id, Status::Resolved, since, p.arrived_us),
                routes,
                now_us,
            );
        }
        _ => {}
    }
}

/// Firing: no records from `from_us` (the last arrival) to `to_us` (when noticed). Resolved:
/// none from `from_us` until they arrived again at `to_us`.
fn notification(id: &KeyId, status: Status, from_us: i64, to_us: i64) -> Notification {
    Notification {
        status,
        source: Source::LogDelivery,
        load_balancer: id.load_balancer.to_string(),
        target: id.load_balancer.to_string(),
        target_kind: TargetKind::LoadBalancer,
        target_group: None,
        window_start: micros_to_datetime(from_us),
        window_end: micros_to_datetime(to_us.max(from_us)),
        count_5xx: 0,
        requests: None,
        error_rate: None,
        status_codes: std::collections::BTreeMap::new(),
        error_reasons: std::collections::BTreeMap::new(),
        first_seen: None,
        last_seen: None,
        samples: Vec::new(),
        escalation: false,
        update: false,
        incident_start: Some(micros_to_datetime(from_us)),
        rule: None,
        target_5xx: None,
        paths: std::collections::BTreeMap::new(),
        runbook_url: None,
        logs_url: None,
        athena_query: None,
        trend: Vec::new(),
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    fn from(value: &str) -> Result<SilenceConfig, AlertConfigError> {
        SilenceConfig::from_lookup(|v| (v == SILENCE_AFTER_ENV).then(|| value.to_owned()))
    }

    #[test]
    fn accepts_exactly_its_bounds_and_says_them() {
        assert_eq!(from("").unwrap(), SilenceConfig::default());
        assert_eq!(from("1").unwrap().after_us, 1_000_000);
        for ok in [MIN_SILENCE_AFTER_SECONDS, MAX_SILENCE_AFTER_SECONDS] {
            assert!(from(&ok.to_string()).is_ok(), "{ok}");
        }
        for bad in [MIN_SILENCE_AFTER_SECONDS - 1, MAX_SILENCE_AFTER_SECONDS + 1] {
            let e = from(&bad.to_string()).unwrap_err().to_string();
            assert!(e.contains(SILENCE_AFTER_ENV), "{e}");
            assert!(
                e.contains(&format!(
                    "from {MIN_SILENCE_AFTER_SECONDS} to {MAX_SILENCE_AFTER_SECONDS}"
                )),
                "{e}"
            );
        }
    }
}
