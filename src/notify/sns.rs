//! The SNS destination (`ALBWATCH_SNS_TOPIC_ARN`): the paging route — e-mail and SMS
//! subscribers, AWS Chatbot, PagerDuty's and Opsgenie's SNS integrations.
//!
//! Each notification is published once (live updates never) with `MessageStructure=json`:
//! e-mail and the default get the plain text of [`render_text`], SMS a single line, and the
//! protocols that parse (SQS, Lambda, HTTP/S, Firehose) the machine-form JSON of
//! [`Notification`]. A short ASCII `Subject` and the message attributes `status`,
//! `load_balancer` and `source` let subscriptions filter.

use aws_sdk_sns::error::ProvideErrorMetadata as _;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::{Value, json};

use super::notification::{Notification, Source, Status};
use super::notifier::{AttemptFailure, DeliveryError, Notifier};
use super::slack::render_text;

/// Environment variable holding the topic's ARN.
pub const TOPIC_ARN_ENV: &str = "ALBWATCH_SNS_TOPIC_ARN";
/// SNS `Subject` limit: fewer than 100 printable ASCII characters, no line break.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// Longest SMS text we send (one segment of 7-bit text).
pub const MAX_SMS_CHARS: usize = 160;
/// SNS message size limit (all protocols' texts and the attributes together).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Error codes that refuse the destination: retrying cannot help until an operator fixes it.
pub const DESTINATION_ERRORS: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "KMSDisabled",
    "KMSAccessDenied",
    "KMSNotFound",
    "KMSInvalidState",
    "InvalidSecurity",
];

/// One publication: what [`SnsTopic`] sends for a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    /// The `Subject` (e-mail subject line).
    pub subject: String,
    /// The `Message` (a `MessageStructure=json` document).
    pub message: String,
    /// Message attributes (`status`, `load_balancer`, `source`), all strings.
    pub attributes: Vec<(&'static str, String)>,
}

/// The publication of `n`.
#[must_use]
pub fn render_sns(n: &Notification) -> SnsMessage {
    let status = match n.status {
        Status::Firing if n.escalation => "ESCALATED",
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    let source = match n.source {
        Source::Alb => "alb",
        Source::CloudwatchLogs => "cloudwatch_logs",
        Source::LogDelivery => "log_delivery",
    };
    let what = match n.source {
        Source::LogDelivery if n.status == Status::Firing => "no access logs".to_owned(),
        Source::LogDelivery => "access logs flowing again".to_owned(),
        Source::CloudwatchLogs => format!("{} matching events", n.count_5xx),
        Source::Alb => format!("{} 5xx", n.count_5xx),
    };
    let subject = ascii_line(
        &format!("[{status}] {} on {}: {what}", n.target, n.load_balancer),
        MAX_SUBJECT_CHARS,
    );
    let text = render_text(n);
    let mut text = cut_bytes(&text, MAX_MESSAGE_BYTES / 4).to_owned();
    if text.is_empty() {
        text.push_str(&subject);
    }
    let machine = serde_json::to_string(n).unwrap_or_else(|_| "{}".to_owned());
    let machine = if machine.len() > MAX_MESSAGE_BYTES / 2 {
        // Samples are what grows; without them the machine form is small.
        let mut lean = n.clone();
        lean.samples.clear();
        serde_json::to_string(&lean).unwrap_or_else(|_| "{}".to_owned())
    } else {
        machine
    };
    let document = json!({
        "default": text,
        "email": text,
        "sms": ascii_line(&subject, MAX_SMS_CHARS),
        "sqs": machine,
        "lambda": machine,
        "http": machine,
        "https": machine,
        "firehose": machine,
    });
    SnsMessage {
        subject,
        message: document.to_string(),
        attributes: vec![
            ("status", n.status.as_str().to_owned()),
            ("load_balancer", ascii_line(&n.load_balancer, 256)),
            ("source", source.to_owned()),
        ],
    }
}

/// `s` as one line of printable ASCII (anything else becomes `?`), cut to `max` characters.
fn ascii_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(max)
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes, on a character boundary.
fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Publishes notifications to one topic. Cheap to clone; build it once per process.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTopic {
    /// A publisher to `topic_arn` through `client`.
    #[must_use]
    pub fn new(client: aws_sdk_sns::Client, topic_arn: &str) -> Self {
        Self {
            client,
            topic_arn: topic_arn.trim().to_owned(),
        }
    }

    /// The topic, from [`TOPIC_ARN_ENV`] (`None` when unset or empty).
    #[must_use]
    pub fn topic_from_env() -> Option<String> {
        std::env::var(TOPIC_ARN_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
    }

    /// Publishes one message; the SDK retries throttling and transient errors itself.
    pub async fn publish(&self, m: &SnsMessage) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&m.subject)
            .message(&m.message)
            .message_structure("json");
        for (name, value) in &m.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| DeliveryError::Rejected {
                    status: 400,
                    body: e.to_string(),
                })?;
            request = request.message_attributes(*name, attribute);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map_or(0, |r| r.status().as_u16());
                let code = e.code().unwrap_or("").to_owned();
                let text = crate::text::error_chain(&e);
                if DESTINATION_ERRORS.contains(&code.as_str()) {
                    Err(DeliveryError::Rejected {
                        status,
                        body: format!("{code}: {}", e.message().unwrap_or("")),
                    })
                } else {
                    Err(DeliveryError::GaveUp {
                        attempts: 1,
                        last: AttemptFailure::Request(text),
                    })
                }
            }
        }
    }
}

impl Notifier for SnsTopic {
    /// A raw payload (only a Slack payload reaches here by mistake): published as its text.
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        let text = payload
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("albwatch notification");
        let m = SnsMessage {
            subject: ascii_line(text, MAX_SUBJECT_CHARS),
            message: json!({ "default": text }).to_string(),
            attributes: Vec::new(),
        };
        self.publish(&m).await
    }

    /// Publishes each notification on its own, skipping live updates.
    async fn notify(
        &self,
        _load_balancer: &str,
        notifications: &[Notification],
    ) -> Result<(), DeliveryError> {
        for n in notifications.iter().filter(|n| !n.update) {
            self.publish(&render_sns(n)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::tests::sample_notification;

    #[test]
    fn subject_is_short_ascii_on_one_line_and_the_document_has_every_protocol() {
        let mut n = sample_notification("app/shop/1", "10.0.1.11:8080");
        n.target = format!("10.0.1.11:8080\n<é>{}", "x".repeat(300));
        let m = render_sns(&n);
        assert!(m.subject.len() <= MAX_SUBJECT_CHARS);
        assert!(m.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
        assert!(m.subject.starts_with("[FIRING] 10.0.1.11:8080?<?>"));
        let doc: Value = serde_json::from_str(&m.message).expect("a JSON document");
        for protocol in ["default", "email", "sms", "sqs", "lambda", "http", "https"] {
            assert!(doc[protocol].is_string(), "{protocol}");
        }
        let machine: Notification =
            serde_json::from_str(doc["sqs"].as_str().expect("string")).expect("machine form");
        assert_eq!(machine, n);
        assert!(doc["email"].as_str().expect("text").contains("FIRING"));
        assert!(doc["sms"].as_str().expect("text").len() <= MAX_SMS_CHARS);
        assert_eq!(
            m.attributes,
            [
                ("status", "firing".to_owned()),
                ("load_balancer", "app/shop/1".to_owned()),
                ("source", "alb".to_owned()),
            ]
        );
    }

    #[test]
    fn huge_samples_stay_under_the_size_limit() {
        let mut n = sample_notification("app/shop/1", "10.0.1.11:8080");
        let sample = n.samples[0].clone();
        n.samples = vec![sample; 2000];
        for s in &mut n.samples {
            s.request = Some("x".repeat(500));
        }
        let m = render_sns(&n);
        assert!(m.message.len() < MAX_MESSAGE_BYTES, "{}", m.message.len());
        n.status = Status::Resolved;
        assert!(render_sns(&n).subject.starts_with("[RESOLVED]"));
    }
}
