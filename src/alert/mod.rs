//! The alerter: records → per-target windows → deduplicated notifications.

pub mod notification;
pub mod slack;
pub mod webhook;
