//! The alerter: records → per-target windows → deduplicated notifications.

pub mod config;
pub mod dedupe;
pub mod engine;
pub mod handler;
pub mod logs;
pub mod state;
pub mod window;
