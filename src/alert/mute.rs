//! Silences set from Slack: the "Silence 1h" / "Silence 24h" / "Unsilence" buttons of a bot's
//! incident message reach a Lambda Function URL; this handles one such request.
//!
//! (The module is `mute` to keep it apart from [`super::silence`], which watches for access
//! logs that stopped arriving.)
//!
//! A request is acted on only when Slack's signature verifies
//! ([`crate::notify::interaction::verify`]); anything else is answered 401 and changes
//! nothing. The silence (who, until when) is written to the key's ledger, which the alerter
//! reads before queueing anything for the key; then the message is edited to show it.

use std::sync::Arc;

use crate::alert::engine::Engine;
use crate::alert::ledger::Silence;
use crate::alert::store::StateStore;
use crate::alert::window::KeyId;
use crate::notify::bot::SlackBot;
use crate::notify::interaction::{self, SigningSecret, blocks_after};
use crate::notify::notifier::PostedMessage;
use crate::record::KeyKind;
use crate::retry::Deadline;

/// How long editing the message may take: Slack wants the interaction answered within 3 s.
pub const EDIT_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// What to answer Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status: 200 done, 400 not our button, 401 not from Slack, 500 state not written.
    pub status: u16,
    /// A short plain-text reason (never a secret).
    pub body: String,
}

impl Reply {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

/// Handles one interaction request: its `timestamp` and `signature` headers and raw `body`.
/// Edits the message through `bot` when there is one.
pub async fn handle<S: StateStore>(
    engine: &Engine<S>,
    secret: &SigningSecret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    bot: Option<&SlackBot>,
) -> Reply {
    let now_us = engine.now_us();
    if let Err(e) = interaction::verify(secret, timestamp, signature, body, now_us / 1_000_000) {
        tracing::warn!(error = %e, "refused an interaction request");
        return Reply::new(401, "invalid signature");
    }
    let pressed = match interaction::parse(body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "ignored an interaction");
            return Reply::new(400, e.to_string());
        }
    };
    let id = KeyId {
        load_balancer: Arc::from(pressed.load_balancer.as_str()),
        key: Arc::from(pressed.key.as_str()),
    };
    let until_us = pressed
        .silence_secs
        .map(|s| now_us.saturating_add(i64::from(s) * 1_000_000));
    let silence = until_us.map(|until_us| Silence {
        until_us,
        by: pressed.user.clone(),
    });
    let written = engine
        .update_ledger(&id, KeyKind::Target, |ledger, _| {
            ledger.silenced.clone_from(&silence);
        })
        .await;
    if let Err(e) = written {
        tracing::error!(load_balancer = %id.load_balancer, key = %id.key, error = %e, "silence not recorded");
        return Reply::new(500, "the silence could not be recorded; try again");
    }
    tracing::info!(
        load_balancer = %id.load_balancer,
        key = %id.key,
        user = %pressed.user,
        until_us = ?until_us,
        "silence set from Slack"
    );
    if let Some(bot) = bot {
        let message = PostedMessage {
            channel: pressed.channel.clone(),
            ts: pressed.message_ts.clone(),
        };
        let blocks = blocks_after(&pressed, until_us.map(|u| u / 1_000_000));
        let payload = serde_json::json!({ "blocks": blocks });
        // Slack wants the answer within 3 s: the edit gets what is left of that.
        let bot = bot.with_deadline(Deadline::after(EDIT_BUDGET));
        if let Err(e) = bot.update_message(&message, &payload).await {
            // The silence holds; only its note on the message is missing.
            tracing::warn!(error = %e, "silence recorded, but the message could not be edited");
        }
    }
    Reply::new(200, "")
}
