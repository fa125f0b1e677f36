//! The alerter: records → per-target windows → deduplicated notifications.

pub mod config;
pub mod dedupe;
pub mod engine;
pub mod handler;
pub mod notification;
pub mod slack;
pub mod state;
pub mod webhook;
pub mod window;
