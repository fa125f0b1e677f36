//! Telling people: the notification model, its Slack and terminal renderings, and delivery.
//!
//! - [`notification`]: the machine form of one alert (the JSON the CLI prints).
//! - [`slack`]: Block Kit payloads and plain text, with Slack's limits and mrkdwn escaping of
//!   everything taken from a log line.
//! - [`notifier`]: the [`Notifier`](notifier::Notifier) port and delivery errors.
//! - [`destination`]: what the alerter delivers to, chosen at start-up (the routes; on Slack's a
//!   bot, the webhook, or logging when none is configured).
//! - [`http`]: the HTTP client and retry loop both Slack clients share.
//! - [`webhook`]: the incoming webhook (a redacted URL, from the environment or Secrets
//!   Manager) and its retrying client.
//! - [`bot`]: the Slack bot (Web API): one message per incident, edited, with thread replies.
//! - [`sns`]: the SNS topic (subject, text, machine form, filterable attributes).
//! - [`interaction`]: Slack's signed requests for the silence buttons, and the blocks showing a
//!   silence.
//! - [`console`], [`runbook`], [`investigate`]: the links (and the Athena query) a
//!   notification carries.
//!
//! Nothing here knows about windows, records or logs: `alert` and `cwlogs` produce
//! notifications, this module delivers them.

pub mod bot;
pub mod console;
pub mod destination;
pub mod http;
pub mod interaction;
pub mod investigate;
pub mod notification;
pub mod notifier;
pub mod runbook;
pub mod slack;
pub mod sns;
pub mod webhook;
