//! Telling people: the notification model, its Slack and terminal renderings, and delivery.
//!
//! - [`notification`]: the machine form of one alert (the JSON the CLI prints).
//! - [`slack`]: Block Kit payloads and plain text, with Slack's limits and mrkdwn escaping of
//!   everything taken from a log line.
//! - [`notifier`]: the [`Notifier`](notifier::Notifier) port and delivery errors.
//! - [`destination`]: what the alerter delivers to, chosen at start-up (the webhook, or logging
//!   when none is configured).
//! - [`webhook`]: the incoming webhook (a redacted URL, from the environment or Secrets
//!   Manager) and its retrying client.
//!
//! Nothing here knows about windows, records or logs: `alert` and `cwlogs` produce
//! notifications, this module delivers them.

pub mod bot;
pub mod console;
pub mod destination;
pub mod http;
pub mod interaction;
pub mod notification;
pub mod notifier;
pub mod runbook;
pub mod slack;
pub mod sns;
pub mod webhook;
