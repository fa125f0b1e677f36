//! What the two Slack clients (the incoming webhook and the bot's Web API) share: the HTTP
//! client and its timeouts, one attempt's outcome, and the loop that retries attempts within a
//! deadline, honouring `Retry-After`.
//!
//! Every text kept from a response or a transport error goes through `redact`, so a secret
//! (the webhook URL, the bot token) never reaches an error or a log line.

use std::future::Future;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;
use tracing::warn;

use super::notifier::{AttemptFailure, DeliveryError};
use crate::retry::RetryPolicy;
use crate::text::printable;

/// TCP/TLS connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Timeout of one request, including reading the response (shortened near the deadline).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `Retry-After` we honour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Longest part of a Slack error body kept in an error, in characters.
pub const MAX_ERROR_BODY_CHARS: usize = 200;
/// Most bytes of a response body read from the connection.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Default Slack retries: 5 attempts, from 500 ms doubling to 8 s.
pub const SLACK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(8),
};

/// How a Slack client retries and how long it may take.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts and backoff between them.
    pub retry: RetryPolicy,
    /// Longest `Retry-After` honoured (at most [`MAX_RETRY_AFTER`] is sensible).
    pub max_retry_after: Duration,
    /// A retry is only started if at least this much time would be left for it before the
    /// deadline (after its backoff).
    pub min_attempt_time: Duration,
    /// Time budget of a call made without a deadline.
    pub default_budget: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            retry: SLACK_RETRY,
            max_retry_after: MAX_RETRY_AFTER,
            min_attempt_time: Duration::from_millis(500),
            default_budget: Duration::from_secs(60),
        }
    }
}

/// The HTTP client both Slack clients use: short connect timeout, no redirects (a redirect
/// could carry a secret elsewhere).
pub(crate) fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// The result of one attempt.
pub(crate) enum Outcome<T> {
    /// Done, with what the call returned.
    Delivered(T),
    /// Refused; retrying cannot help.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Slack's error text.
        body: String,
    },
    /// Worth another attempt, after `retry_after` if Slack said so.
    Retry {
        failure: AttemptFailure,
        retry_after: Option<Duration>,
    },
    /// Failed in a way another attempt now could double (the call may have taken effect):
    /// give up, and leave the retry to the caller's own schedule.
    Stop(AttemptFailure),
}

/// Runs `attempt` (given the time it may take) until it delivers, is rejected, the attempts
/// run out, or the next one would start too close to `deadline`
/// ([`DeliveryPolicy::min_attempt_time`]). Waits `Retry-After` (capped) or a jittered backoff
/// between attempts.
pub(crate) async fn retry_until<T, F, Fut>(
    policy: &DeliveryPolicy,
    deadline: Instant,
    what: &str,
    mut attempt: F,
) -> Result<T, DeliveryError>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Outcome<T>>,
{
    let mut attempts = 0;
    let mut last = AttemptFailure::NotAttempted;
    loop {
        let now = Instant::now();
        if attempts >= policy.retry.max_attempts || now >= deadline {
            return Err(give_up(what, attempts, last));
        }
        attempts += 1;
        let timeout = deadline.saturating_duration_since(now).min(REQUEST_TIMEOUT);
        let retry_after = match attempt(timeout).await {
            Outcome::Delivered(value) => return Ok(value),
            Outcome::Rejected { status, body } => {
                warn!(status, body = %body, attempts, call = what, "Slack rejected the call");
                return Err(DeliveryError::Rejected { status, body });
            }
            Outcome::Retry {
                failure,
                retry_after,
            } => {
                last = failure;
                retry_after
            }
            Outcome::Stop(failure) => return Err(give_up(what, attempts, failure)),
        };
        if attempts >= policy.retry.max_attempts {
            return Err(give_up(what, attempts, last));
        }
        let delay = retry_after.map_or_else(
            || policy.retry.jittered_backoff(attempts),
            |d| d.min(policy.max_retry_after),
        );
        if Instant::now() + delay + policy.min_attempt_time > deadline {
            return Err(give_up(what, attempts, last));
        }
        warn!(
            attempt = attempts,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %last,
            call = what,
            "Slack call failed; retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

fn give_up(what: &str, attempts: u32, last: AttemptFailure) -> DeliveryError {
    warn!(attempts, error = %last, call = what, "giving up on the Slack call");
    DeliveryError::GaveUp { attempts, last }
}

/// The `Retry-After` header in seconds, if any.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The body, at most [`MAX_RESPONSE_BYTES`] of it.
pub(crate) async fn body(mut response: reqwest::Response) -> reqwest::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await? {
            Some(chunk) => bytes.extend_from_slice(&chunk),
            None => break,
        }
    }
    Ok(bytes)
}

/// A body as short, printable text with `secret` removed (before cutting, so no part of it
/// survives a cut).
pub(crate) fn error_text(bytes: &[u8], secret: &str) -> String {
    let text = redact(String::from_utf8_lossy(bytes).into_owned(), secret);
    // One more than the limit: the last character kept is the ellipsis when cut.
    printable(text.trim(), MAX_ERROR_BODY_CHARS + 1).into_owned()
}

/// What a transport error says (with its causes), `secret` removed, as an attempt failure.
pub(crate) fn classify(e: reqwest::Error, secret: &str) -> AttemptFailure {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let message = redact(message, secret);
    if e.is_timeout() {
        AttemptFailure::Timeout
    } else if e.is_connect() {
        AttemptFailure::Connect(message)
    } else {
        AttemptFailure::Request(message)
    }
}

/// Belt and braces: removes `secret`, should any text ever echo it.
pub(crate) fn redact(text: String, secret: &str) -> String {
    if !secret.is_empty() && text.contains(secret) {
        text.replace(secret, "<redacted>")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_every_copy_and_ignores_an_empty_secret() {
        assert_eq!(
            redact("a xoxb-1 b xoxb-1".into(), "xoxb-1"),
            "a <redacted> b <redacted>"
        );
        assert_eq!(redact("unchanged".into(), ""), "unchanged");
    }

    #[test]
    fn retry_after_reads_whole_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, " 7 ".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_text_is_printable_cut_and_redacted() {
        let long = format!("token xoxb-SECRET {}\u{7}", "x".repeat(500));
        let t = error_text(long.as_bytes(), "xoxb-SECRET");
        assert!(!t.contains("xoxb-SECRET"));
        assert!(t.chars().count() <= MAX_ERROR_BODY_CHARS + 1 + "<redacted>".len());
        assert!(!t.contains('\u{7}'));
    }
}
