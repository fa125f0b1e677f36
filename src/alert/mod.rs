//! The alerter: records → per-target windows in a state store → claimed, deduplicated
//! notifications.

pub mod config;
pub mod dedupe;
pub mod engine;
pub mod handler;
pub mod ledger;
pub mod logs;
pub mod mute;
pub mod silence;
pub mod state;
pub mod store;
pub mod window;
