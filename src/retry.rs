//! Retrying outside calls: one backoff policy (exponential, capped, with jitter) and one
//! deadline type, shared by `PutRecords`, Slack delivery and the shard reader.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// How a failed call is retried: at most `max_attempts`, waiting [`RetryPolicy::backoff`]
/// between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts, the first one included. A deadline usually ends retrying first; this
    /// bounds it when there is none (the CLI).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with every attempt.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based): `base × 2^(attempt-1)` capped at
    /// `max_delay`, half of it fixed and half scaled by `jitter` in `[0, 1]` ("equal jitter").
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        half + (full - half).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// [`backoff`](Self::backoff) with a random jitter.
    #[must_use]
    pub fn jittered_backoff(&self, attempt: u32) -> Duration {
        self.backoff(attempt, fastrand::f64())
    }
}

/// When work must stop (retries included) so the caller can still report the outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline (the CLI): retries are bounded by [`RetryPolicy::max_attempts`] only.
    #[must_use]
    pub const fn none() -> Self {
        Self(None)
    }

    /// Stop at `instant`.
    #[must_use]
    pub const fn at(instant: Instant) -> Self {
        Self(Some(instant))
    }

    /// Stop `duration` from now.
    #[must_use]
    pub fn after(duration: Duration) -> Self {
        Self(Instant::now().checked_add(duration))
    }

    /// A Lambda invocation's deadline (wall clock) minus `margin` to report the outcome, or
    /// minus half the remaining time when less than two margins remain; on the monotonic clock.
    #[must_use]
    pub fn from_lambda(deadline: SystemTime, margin: Duration) -> Self {
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Self::after(remaining.saturating_sub(margin.min(remaining / 2)))
    }

    /// The instant, if any.
    #[must_use]
    pub fn instant(self) -> Option<Instant> {
        self.0
    }

    /// The earlier of two deadlines.
    #[must_use]
    pub fn earliest(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (a, b) => Self(a.or(b)),
        }
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn passed(self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }

    /// Whether waiting `wait` from now still ends before the deadline.
    #[must_use]
    pub fn allows(self, wait: Duration) -> bool {
        self.0.is_none_or(|at| Instant::now() + wait < at)
    }

    /// Completes at the deadline (never, without one).
    pub async fn reached(self) {
        match self.0 {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_equal_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(u32::MAX, 0.5), Duration::from_millis(750));
        for attempt in 1..8 {
            let d = p.jittered_backoff(attempt);
            assert!(d >= p.backoff(attempt, 0.0) && d <= p.backoff(attempt, 1.0));
        }
    }

    #[test]
    fn lambda_deadline_keeps_a_margin() {
        let d = Deadline::from_lambda(
            SystemTime::now() + Duration::from_secs(60),
            Duration::from_secs(5),
        );
        let left = d.instant().unwrap() - Instant::now();
        assert!(left <= Duration::from_secs(55) && left > Duration::from_secs(50));
        let short = Deadline::from_lambda(
            SystemTime::now() + Duration::from_secs(4),
            Duration::from_secs(5),
        );
        let left = short.instant().unwrap() - Instant::now();
        assert!(left <= Duration::from_secs(2) && left > Duration::from_secs(1));
        assert!(Deadline::from_lambda(SystemTime::UNIX_EPOCH, Duration::from_secs(5)).passed());
        assert!(!Deadline::none().passed() && Deadline::none().allows(Duration::MAX));
    }
}
