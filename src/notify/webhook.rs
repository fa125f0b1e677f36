//! The Slack incoming-webhook destination: its URL (a credential), where it is configured (the
//! environment or Secrets Manager), and [`SlackWebhook`], which posts with retries within a
//! deadline.
//!
//! The webhook URL is a credential: it lives in [`WebhookUrl`], whose `Debug`/`Display` are
//! redacted, and it never appears in an error or a log field.

use std::env::VarError;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::http::{self, DeliveryPolicy, Outcome};
use super::notifier::{AttemptFailure, DeliveryError, Notifier};
use crate::retry::Deadline;

/// Environment variable holding the webhook URL itself.
pub const URL_ENV: &str = "SLACK_WEBHOOK_URL";
/// Environment variable holding the ARN of a Secrets Manager secret with the webhook URL.
pub const SECRET_ARN_ENV: &str = "SLACK_WEBHOOK_SECRET_ARN";

/// Why the webhook could not be configured. Never contains the URL or the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    /// The URL is malformed or not allowed.
    #[error("invalid Slack webhook URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Secrets Manager could not return the secret.
    #[error("could not read secret {secret_id}: {message}")]
    Secret {
        /// The secret's ARN or name.
        secret_id: String,
        /// The service's error.
        message: String,
    },
    /// The secret holds neither a URL nor JSON with `url` / `webhook_url`.
    #[error(
        "secret {secret_id} holds neither a webhook URL nor JSON with \"url\" or \"webhook_url\""
    )]
    SecretFormat {
        /// The secret's ARN or name.
        secret_id: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// A validated Slack webhook URL. `Debug` and `Display` print `WebhookUrl(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Validates `url`: `https`, or `http` only for `127.0.0.1`, `[::1]` and `localhost` (tests
    /// and local rehearsal). Surrounding whitespace is ignored.
    pub fn parse(url: &str) -> Result<Self, WebhookConfigError> {
        let url = url.trim();
        let parsed = reqwest::Url::parse(url).map_err(|_| WebhookConfigError::InvalidUrl {
            reason: "not an absolute URL",
        })?;
        let host = parsed.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(WebhookConfigError::InvalidUrl { reason: "no host" });
        }
        match parsed.scheme() {
            "https" => {}
            "http" if matches!(host, "127.0.0.1" | "[::1]" | "localhost") => {}
            _ => {
                return Err(WebhookConfigError::InvalidUrl {
                    reason: "must use https (http only for 127.0.0.1 or localhost)",
                });
            }
        }
        Ok(Self(url.to_owned()))
    }

    /// The URL itself. Pass it only to the HTTP client; never log or format it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// Where secrets come from: Secrets Manager in production, a fake in tests.
pub trait SecretSource {
    /// The current `SecretString` of `secret_id` (an ARN or name).
    fn secret_string(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<String, WebhookConfigError>> + Send;
}

impl SecretSource for aws_sdk_secretsmanager::Client {
    async fn secret_string(&self, secret_id: &str) -> Result<String, WebhookConfigError> {
        let out = self
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| WebhookConfigError::Secret {
                secret_id: secret_id.to_owned(),
                message: crate::kinesis::errors::error_text(&e),
            })?;
        out.secret_string()
            .map(str::to_owned)
            .ok_or_else(|| WebhookConfigError::SecretFormat {
                secret_id: secret_id.to_owned(),
            })
    }
}

/// Reads the webhook from [`URL_ENV`], else from the secret named by [`SECRET_ARN_ENV`].
/// `Ok(None)` when neither is set (payloads are then logged, see [`LogNotifier`](super::destination::LogNotifier)).
pub async fn webhook_from_env(
    secrets: &impl SecretSource,
) -> Result<Option<WebhookUrl>, WebhookConfigError> {
    let url = match std::env::var(URL_ENV) {
        Ok(v) => Some(v),
        Err(VarError::NotPresent) => None,
        Err(VarError::NotUnicode(_)) => {
            return Err(WebhookConfigError::InvalidUrl {
                reason: "SLACK_WEBHOOK_URL is not valid Unicode",
            });
        }
    };
    let arn = std::env::var(SECRET_ARN_ENV).ok();
    webhook_from_config(url.as_deref(), arn.as_deref(), secrets).await
}

/// [`webhook_from_env`] with the two variables passed in. Empty values count as unset; the URL
/// wins when both are set.
pub async fn webhook_from_config(
    url: Option<&str>,
    secret_arn: Option<&str>,
    secrets: &impl SecretSource,
) -> Result<Option<WebhookUrl>, WebhookConfigError> {
    let url = url.filter(|s| !s.trim().is_empty());
    let secret_arn = secret_arn.map(str::trim).filter(|s| !s.is_empty());
    match (url, secret_arn) {
        (Some(url), arn) => {
            if arn.is_some() {
                warn!(
                    url_env = URL_ENV,
                    secret_env = SECRET_ARN_ENV,
                    "both set; using the URL"
                );
            }
            WebhookUrl::parse(url).map(Some)
        }
        (None, Some(arn)) => {
            let value = secrets.secret_string(arn).await?;
            url_from_secret(arn, &value).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// A secret is either the raw URL or JSON `{"url": …}` / `{"webhook_url": …}`.
pub(crate) fn url_from_secret(
    secret_id: &str,
    value: &str,
) -> Result<WebhookUrl, WebhookConfigError> {
    let value = value.trim();
    if !value.starts_with('{') {
        return WebhookUrl::parse(value);
    }
    let format_error = || WebhookConfigError::SecretFormat {
        secret_id: secret_id.to_owned(),
    };
    let json: serde_json::Map<String, Value> =
        serde_json::from_str(value).map_err(|_| format_error())?;
    let url = ["url", "webhook_url"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_str))
        .ok_or_else(format_error)?;
    WebhookUrl::parse(url)
}

/// Posts payloads to a Slack incoming webhook, retrying transient failures within a deadline.
///
/// Cheap to clone (the HTTP client is shared); build it once per process.
#[derive(Debug, Clone)]
pub struct SlackWebhook {
    client: reqwest::Client,
    url: WebhookUrl,
    policy: DeliveryPolicy,
    deadline: Option<Instant>,
}

impl SlackWebhook {
    /// A webhook with the default [`DeliveryPolicy`].
    pub fn new(url: WebhookUrl) -> Result<Self, WebhookConfigError> {
        Self::with_policy(url, DeliveryPolicy::default())
    }

    /// A webhook with a custom [`DeliveryPolicy`] (tests use millisecond backoffs).
    pub fn with_policy(
        url: WebhookUrl,
        policy: DeliveryPolicy,
    ) -> Result<Self, WebhookConfigError> {
        let client = http::client()
            .map_err(|e| WebhookConfigError::HttpClient(e.without_url().to_string()))?;
        Ok(Self {
            client,
            url,
            policy,
            deadline: None,
        })
    }

    /// A copy whose [`Notifier::post`] stops retrying at `deadline` (e.g. the Lambda's
    /// deadline minus a safety margin).
    #[must_use]
    pub fn with_deadline(&self, deadline: Deadline) -> Self {
        Self {
            deadline: deadline.instant(),
            ..self.clone()
        }
    }

    /// Posts `payload`, retrying 429 (after `Retry-After`), 5xx, 408, timeouts and connection
    /// errors with jittered exponential backoff until it succeeds, Slack rejects it, the attempts
    /// run out, or the next try would start too close to `deadline`
    /// ([`DeliveryPolicy::min_attempt_time`]). Each request's timeout ends at `deadline` at the
    /// latest.
    pub async fn post_until(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<(), DeliveryError> {
        http::retry_until(&self.policy, deadline, "webhook", |timeout| {
            self.attempt(payload, timeout)
        })
        .await?;
        debug!("posted to Slack");
        Ok(())
    }

    async fn attempt(&self, payload: &Value, timeout: Duration) -> Outcome<()> {
        let secret = self.url.expose_secret();
        let sent = self
            .client
            .post(secret)
            .timeout(timeout)
            .json(payload)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    failure: http::classify(e, secret),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered(());
        }
        let retry_after = http::retry_after(response.headers());
        let body = match http::body(response).await {
            Ok(bytes) => http::error_text(&bytes, secret),
            Err(e) => {
                return Outcome::Retry {
                    failure: http::classify(e, secret),
                    retry_after: None,
                };
            }
        };
        match status {
            StatusCode::TOO_MANY_REQUESTS => Outcome::Retry {
                failure: AttemptFailure::RateLimited,
                retry_after,
            },
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => Outcome::Retry {
                failure: AttemptFailure::Status {
                    status: s.as_u16(),
                    body,
                },
                retry_after,
            },
            s => Outcome::Rejected {
                status: s.as_u16(),
                body,
            },
        }
    }
}

/// A webhook is its own source: each invocation gets a copy bound to its deadline.
impl crate::notify::notifier::NotifierSource for SlackWebhook {
    type Notifier = SlackWebhook;

    async fn notifier(
        &self,
        _route: crate::notify::notifier::Route,
        deadline: Deadline,
    ) -> Result<SlackWebhook, crate::notify::notifier::NotifierUnavailable> {
        Ok(self.with_deadline(deadline))
    }
}

impl Notifier for SlackWebhook {
    /// Posts until the deadline set by [`SlackWebhook::with_deadline`], or until
    /// [`DeliveryPolicy::default_budget`] from now.
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + self.policy.default_budget);
        self.post_until(payload, deadline).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::destination::{AnyNotifier, LogNotifier};
    use crate::notify::http::{MAX_ERROR_BODY_CHARS, MAX_RETRY_AFTER};
    use crate::notify::notification::tests::sample_notification;
    use crate::notify::slack::render_payload;
    use crate::retry::RetryPolicy;
    use std::time::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const HOOK_PATH: &str = "/services/T0000/B0000/SeCrEtToKeN";

    fn fast_policy() -> DeliveryPolicy {
        DeliveryPolicy {
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            max_retry_after: MAX_RETRY_AFTER,
            min_attempt_time: Duration::from_millis(100),
            default_budget: Duration::from_secs(10),
        }
    }

    fn hook_url(base: &str) -> String {
        format!("{base}{HOOK_PATH}")
    }

    fn attempts(max_attempts: u32) -> DeliveryPolicy {
        let mut policy = fast_policy();
        policy.retry.max_attempts = max_attempts;
        policy
    }

    fn hook(server: &MockServer, policy: DeliveryPolicy) -> SlackWebhook {
        let url = WebhookUrl::parse(&hook_url(&server.uri())).expect("local URL is allowed");
        SlackWebhook::with_policy(url, policy).expect("client")
    }

    fn in_secs(s: f64) -> Instant {
        Instant::now() + Duration::from_secs_f64(s)
    }

    fn assert_no_secret(text: &str) {
        assert!(!text.contains("SeCrEtToKeN"), "secret leaked: {text}");
        assert!(!text.contains(HOOK_PATH), "URL leaked: {text}");
    }

    fn assert_error_has_no_url(e: &DeliveryError) {
        assert_no_secret(&e.to_string());
        assert_no_secret(&format!("{e:?}"));
    }

    async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
        server.received_requests().await.expect("recording on")
    }

    async fn mount(server: &MockServer, template: ResponseTemplate, times: Option<u64>) {
        let mock = Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(template);
        match times {
            Some(n) => mock.up_to_n_times(n).mount(server).await,
            None => mock.mount(server).await,
        }
    }

    #[tokio::test]
    async fn retry_after_429_then_ok() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            Some(1),
        )
        .await;
        mount(
            &server,
            ResponseTemplate::new(200).set_body_string("ok"),
            None,
        )
        .await;
        let started = Instant::now();
        hook(&server, fast_policy())
            .post_until(&serde_json::json!({"text": "hi"}), in_secs(10.0))
            .await
            .expect("delivered");
        assert_eq!(requests(&server).await.len(), 2);
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "Retry-After honoured"
        );
    }

    #[tokio::test]
    async fn server_error_then_ok() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(500).set_body_string("oops"),
            Some(1),
        )
        .await;
        mount(
            &server,
            ResponseTemplate::new(200).set_body_string("ok"),
            None,
        )
        .await;
        hook(&server, fast_policy())
            .post(&serde_json::json!({"text": "hi"}))
            .await
            .expect("delivered");
        assert_eq!(requests(&server).await.len(), 2);
    }

    #[tokio::test]
    async fn client_errors_are_rejected_without_retry() {
        for (status, body) in [
            (404, "no_service"),
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (410, "channel_is_archived"),
        ] {
            let server = MockServer::start().await;
            mount(
                &server,
                ResponseTemplate::new(status).set_body_string(body),
                None,
            )
            .await;
            let err = hook(&server, fast_policy())
                .post_until(&serde_json::json!({"text": "hi"}), in_secs(10.0))
                .await
                .expect_err("rejected");
            match &err {
                DeliveryError::Rejected { status: s, body: b } => {
                    assert_eq!(*s, status);
                    assert_eq!(b, body);
                }
                other => panic!("expected Rejected, got {other:?}"),
            }
            assert!(err.to_string().contains(body));
            assert_error_has_no_url(&err);
            assert_eq!(
                requests(&server).await.len(),
                1,
                "HTTP {status} must not be retried"
            );
        }
    }

    #[tokio::test]
    async fn long_error_body_is_truncated() {
        let server = MockServer::start().await;
        let body = format!("invalid_blocks\n{}", "é".repeat(10_000));
        mount(
            &server,
            ResponseTemplate::new(400).set_body_string(body),
            None,
        )
        .await;
        let err = hook(&server, fast_policy())
            .post_until(&serde_json::json!({}), in_secs(10.0))
            .await
            .expect_err("rejected");
        let DeliveryError::Rejected { body, .. } = err else {
            panic!("expected Rejected");
        };
        assert!(body.starts_with("invalid_blocks "));
        assert_eq!(body.chars().count(), MAX_ERROR_BODY_CHARS + 1);
        assert!(body.ends_with('…'));
    }

    #[tokio::test]
    async fn repeated_server_errors_give_up_at_the_deadline() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(500).set_body_string("oops"),
            None,
        )
        .await;
        let policy = attempts(1_000);
        let started = Instant::now();
        let err = hook(&server, policy)
            .post_until(&serde_json::json!({}), in_secs(0.5))
            .await
            .expect_err("gave up");
        // Stopped retrying early enough for a last attempt to have had its minimum time.
        assert!(started.elapsed() < Duration::from_millis(500));
        let DeliveryError::GaveUp { attempts, last } = &err else {
            panic!("expected GaveUp, got {err:?}");
        };
        assert!(*attempts >= 2);
        assert_eq!(
            *last,
            AttemptFailure::Status {
                status: 500,
                body: "oops".to_owned()
            }
        );
        assert_eq!(requests(&server).await.len(), *attempts as usize);
        assert_error_has_no_url(&err);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let server = MockServer::start().await;
        mount(&server, ResponseTemplate::new(503), None).await;
        let err = hook(&server, attempts(3))
            .post_until(&serde_json::json!({}), in_secs(10.0))
            .await
            .expect_err("gave up");
        assert!(
            matches!(err, DeliveryError::GaveUp { attempts: 3, .. }),
            "{err:?}"
        );
        assert_eq!(requests(&server).await.len(), 3);
    }

    #[tokio::test]
    async fn retry_after_beyond_deadline_gives_up_at_once() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
            None,
        )
        .await;
        let started = Instant::now();
        let err = hook(&server, fast_policy())
            .post_until(&serde_json::json!({}), in_secs(5.0))
            .await
            .expect_err("gave up");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(matches!(
            err,
            DeliveryError::GaveUp {
                attempts: 1,
                last: AttemptFailure::RateLimited
            }
        ));
        assert_eq!(requests(&server).await.len(), 1);
    }

    #[tokio::test]
    async fn slow_server_times_out_within_the_deadline() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
            None,
        )
        .await;
        let started = Instant::now();
        let err = hook(&server, fast_policy())
            .post_until(&serde_json::json!({}), in_secs(0.3))
            .await
            .expect_err("gave up");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            matches!(
                err,
                DeliveryError::GaveUp {
                    last: AttemptFailure::Timeout,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn deadline_already_passed_makes_no_request() {
        let server = MockServer::start().await;
        mount(&server, ResponseTemplate::new(200), None).await;
        let err = hook(&server, fast_policy())
            .post_until(&serde_json::json!({}), Instant::now())
            .await
            .expect_err("gave up");
        assert!(matches!(
            err,
            DeliveryError::GaveUp {
                attempts: 0,
                last: AttemptFailure::NotAttempted
            }
        ));
        assert!(requests(&server).await.is_empty());
    }

    #[tokio::test]
    async fn connection_errors_are_retried_and_never_show_the_url() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let url =
            WebhookUrl::parse(&hook_url(&format!("http://127.0.0.1:{port}"))).expect("local URL");
        let webhook = SlackWebhook::with_policy(url, attempts(2)).expect("client");
        assert_no_secret(&format!("{webhook:?}"));
        let err = webhook
            .post_until(&serde_json::json!({}), in_secs(5.0))
            .await
            .expect_err("gave up");
        assert!(
            matches!(
                err,
                DeliveryError::GaveUp {
                    attempts: 2,
                    last: AttemptFailure::Connect(_)
                }
            ),
            "{err:?}"
        );
        assert_error_has_no_url(&err);
    }

    #[tokio::test]
    async fn slack_receives_escaped_json() {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(200).set_body_string("ok"),
            None,
        )
        .await;
        let mut n = sample_notification("app/shop-prod/50dc6c495c0c9188", "10.0.1.11:8080");
        n.samples[0].request =
            Some("GET https://shop.example.com/<!channel>?a=1&b=<http://x|y> HTTP/1.1".to_owned());
        let payload = render_payload(&n.load_balancer, &[n.clone()]);
        let notifier = AnyNotifier::from_webhook(
            Some(WebhookUrl::parse(&hook_url(&server.uri())).expect("url")),
            fast_policy(),
        )
        .expect("client")
        .with_deadline(Deadline::at(in_secs(10.0)));
        notifier.post(&payload).await.expect("delivered");

        let received = requests(&server).await;
        assert_eq!(received.len(), 1);
        let req = &received[0];
        assert_eq!(
            req.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let body: Value = req.body_json().expect("JSON body");
        assert_eq!(body, payload);
        let raw = String::from_utf8(req.body.clone()).expect("utf-8");
        assert!(!raw.contains("<!channel>"));
        assert!(!raw.contains("<http://x|y>"));
        assert!(raw.contains("&lt;!channel&gt;?a=1&amp;b=&lt;http://x|y&gt;"));
    }

    #[tokio::test]
    async fn post_is_send_for_spawned_tasks() {
        let server = MockServer::start().await;
        mount(&server, ResponseTemplate::new(200), None).await;
        let webhook = hook(&server, fast_policy());
        let handle = tokio::spawn(async move { webhook.post(&serde_json::json!({})).await });
        handle.await.expect("joined").expect("delivered");
        let handle = tokio::spawn(async move { LogNotifier.post(&serde_json::json!({})).await });
        handle.await.expect("joined").expect("logged");
    }

    #[test]
    fn webhook_url_is_validated_and_redacted() {
        let url = "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN";
        let parsed = WebhookUrl::parse(&format!("  {url}\n")).expect("https");
        assert_eq!(parsed.expose_secret(), url);
        assert_eq!(format!("{parsed}"), "WebhookUrl(<redacted>)");
        assert_eq!(format!("{parsed:?}"), "WebhookUrl(<redacted>)");
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://[::1]:9/x",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN",
            "ftp://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN",
            "hooks.slack.com/services/T0000/B0000/SeCrEtToKeN",
            "http://127.0.0.1.evil.example/SeCrEtToKeN",
            "",
        ] {
            let err = WebhookUrl::parse(bad).expect_err(bad);
            assert!(matches!(err, WebhookConfigError::InvalidUrl { .. }));
            assert_no_secret(&err.to_string());
        }
    }

    /// A fake Secrets Manager holding one secret value (or failing).
    struct FakeSecrets(Result<&'static str, &'static str>);

    impl SecretSource for FakeSecrets {
        async fn secret_string(&self, secret_id: &str) -> Result<String, WebhookConfigError> {
            self.0
                .map(str::to_owned)
                .map_err(|m| WebhookConfigError::Secret {
                    secret_id: secret_id.to_owned(),
                    message: m.to_owned(),
                })
        }
    }

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf";
    const URL: &str = "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN";

    async fn from_secret(value: &'static str) -> Result<Option<WebhookUrl>, WebhookConfigError> {
        webhook_from_config(None, Some(ARN), &FakeSecrets(Ok(value))).await
    }

    #[tokio::test]
    async fn webhook_from_raw_and_json_secrets() {
        for value in [
            "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN\n",
            r#"{"url": "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN"}"#,
            r#" {"webhook_url": "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN", "team": "x"}"#,
        ] {
            let url = from_secret(value)
                .await
                .expect("valid")
                .expect("configured");
            assert_eq!(url.expose_secret(), URL);
        }
    }

    #[tokio::test]
    async fn bad_secrets_are_rejected_without_showing_them() {
        for value in [
            "http://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN",
            r#"{"url": "http://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN"}"#,
            r#"{"hook": "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN"}"#,
            r#"{"url": "https://hooks.slack.com/services/T0000/B0000/SeCrEtToKeN""#,
            "SeCrEtToKeN",
        ] {
            let err = from_secret(value).await.expect_err(value);
            assert!(
                matches!(
                    err,
                    WebhookConfigError::InvalidUrl { .. } | WebhookConfigError::SecretFormat { .. }
                ),
                "{err:?}"
            );
            assert_no_secret(&err.to_string());
            assert_no_secret(&format!("{err:?}"));
        }
    }

    #[tokio::test]
    async fn webhook_config_precedence() {
        let failing = FakeSecrets(Err("AccessDeniedException"));
        // Neither set (or empty): not configured.
        assert!(
            webhook_from_config(None, None, &failing)
                .await
                .expect("ok")
                .is_none()
        );
        assert!(
            webhook_from_config(Some(" "), Some(""), &failing)
                .await
                .expect("ok")
                .is_none()
        );
        // The URL wins and the secret is not read.
        let url = webhook_from_config(Some(URL), Some(ARN), &failing)
            .await
            .expect("ok")
            .expect("configured");
        assert_eq!(url.expose_secret(), URL);
        // A non-https URL in the variable is rejected.
        let err = webhook_from_config(Some("http://example.com/x"), None, &failing)
            .await
            .expect_err("http");
        assert!(matches!(err, WebhookConfigError::InvalidUrl { .. }));
        // A failing secret read surfaces with the ARN.
        let err = webhook_from_config(None, Some(ARN), &failing)
            .await
            .expect_err("denied");
        assert!(err.to_string().contains(ARN));
        assert!(err.to_string().contains("AccessDeniedException"));
    }

    #[tokio::test]
    async fn log_notifier_accepts_everything() {
        let n = sample_notification("lb", "t");
        LogNotifier.log_notifications(std::slice::from_ref(&n));
        let notifier = AnyNotifier::from_webhook(None, DeliveryPolicy::default()).expect("log");
        assert!(matches!(notifier, AnyNotifier::Log(_)));
        notifier
            .with_deadline(Deadline::at(Instant::now()))
            .post(&render_payload("lb", &[n]))
            .await
            .expect("logged");
    }
}
