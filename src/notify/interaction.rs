//! Slack's side of the silence buttons: verifying that a request comes from Slack (its signing
//! secret), reading the button pressed, and the blocks that show the silence on the message.
//!
//! # Signature
//!
//! Slack signs each request: `X-Slack-Signature: v0=` + hex HMAC-SHA256, keyed with the app's
//! signing secret, of `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request is accepted only
//! when its timestamp is within [`MAX_REQUEST_AGE_SECS`] of now (no replays) and the
//! signature matches, compared in constant time.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::slack::{SILENCE_ACTIONS, SILENCE_BLOCK_ID, UNSILENCE_ACTION, silence_value};
use super::webhook::{SECRET_ARN_ENV, SecretSource, WebhookConfigError};

/// Oldest (or furthest in the future) request timestamp accepted, in seconds.
pub const MAX_REQUEST_AGE_SECS: i64 = 5 * 60;
/// Header carrying the request timestamp.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Environment variable holding the signing secret itself (else the Slack secret's
/// `signing_secret`).
pub const SIGNING_SECRET_ENV: &str = "ALBWATCH_SLACK_SIGNING_SECRET";
/// The JSON key of the signing secret in the Slack secret.
pub const SECRET_SIGNING_KEY: &str = "signing_secret";

/// A Slack app's signing secret. `Debug` and `Display` are redacted.
#[derive(Clone)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// `secret`, trimmed; `None` when empty.
    #[must_use]
    pub fn new(secret: &str) -> Option<Self> {
        let s = secret.trim();
        (!s.is_empty()).then(|| Self(s.to_owned()))
    }

    /// The `signing_secret` of a JSON secret, if it has one.
    #[must_use]
    pub fn from_secret_json(value: &str) -> Option<Self> {
        let json: serde_json::Map<String, Value> = serde_json::from_str(value.trim()).ok()?;
        json.get(SECRET_SIGNING_KEY)
            .and_then(Value::as_str)
            .and_then(Self::new)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The signing secret from [`SIGNING_SECRET_ENV`], else the `signing_secret` of the Slack
/// secret (named by [`SECRET_ARN_ENV`]); `Ok(None)` when neither has one.
pub async fn signing_secret_from_env(
    secrets: &impl SecretSource,
) -> Result<Option<SigningSecret>, WebhookConfigError> {
    if let Some(s) = std::env::var(SIGNING_SECRET_ENV)
        .ok()
        .and_then(|v| SigningSecret::new(&v))
    {
        return Ok(Some(s));
    }
    match std::env::var(SECRET_ARN_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(arn) => Ok(SigningSecret::from_secret_json(
            &secrets.secret_string(arn.trim()).await?,
        )),
        None => Ok(None),
    }
}

/// Why a request was refused (answered 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing or malformed.
    #[error("missing or malformed {0} header")]
    Header(&'static str),
    /// The timestamp is too far from now.
    #[error("request timestamp is {age_secs} s from now (more than {MAX_REQUEST_AGE_SECS} s)")]
    Stale {
        /// Now minus the timestamp.
        age_secs: i64,
    },
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// Verifies a request's `timestamp` and `signature` headers over its raw `body` at `now_secs`.
pub fn verify(
    secret: &SigningSecret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp
        .map(str::trim)
        .ok_or(SignatureError::Header(TIMESTAMP_HEADER))?;
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::Header(TIMESTAMP_HEADER))?;
    let age_secs = now_secs.saturating_sub(ts);
    if age_secs.abs() > MAX_REQUEST_AGE_SECS {
        return Err(SignatureError::Stale { age_secs });
    }
    let given = signature
        .map(str::trim)
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(decode_hex)
        .ok_or(SignatureError::Header(SIGNATURE_HEADER))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
        .map_err(|_| SignatureError::Mismatch)?;
    mac.update(b"v0:");
    mac.update(ts_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A button pressed on an incident message.
#[derive(Debug, Clone, PartialEq)]
pub struct Pressed {
    /// Silence for this many seconds, or end the silence (`None`).
    pub silence_secs: Option<u32>,
    /// The key's load balancer and key, from the button's value.
    pub load_balancer: String,
    /// The key.
    pub key: String,
    /// Who pressed it (Slack user ID).
    pub user: String,
    /// The message: its channel, `ts` and current blocks.
    pub channel: String,
    /// The message's `ts`.
    pub message_ts: String,
    /// The message's blocks as Slack sent them.
    pub blocks: Vec<Value>,
}

/// Why an interaction payload is not a button of ours (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an albwatch button press: {0}")]
pub struct NotOurs(pub &'static str);

/// Reads the form-encoded body (`payload=<JSON>`) of an interaction request.
pub fn parse(body: &[u8]) -> Result<Pressed, NotOurs> {
    let payload = form_value(body, "payload").ok_or(NotOurs("no payload field"))?;
    let v: Value = serde_json::from_str(&payload).map_err(|_| NotOurs("payload is not JSON"))?;
    if v["type"] != "block_actions" {
        return Err(NotOurs("not a block_actions payload"));
    }
    let action = v["actions"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or(NotOurs("no action"))?;
    let id = action["action_id"].as_str().unwrap_or_default();
    let silence_secs = if id == UNSILENCE_ACTION {
        None
    } else {
        let (_, _, secs) = SILENCE_ACTIONS
            .iter()
            .find(|(a, _, _)| *a == id)
            .ok_or(NotOurs("unknown action_id"))?;
        Some(*secs)
    };
    let value = action["value"].as_str().ok_or(NotOurs("no button value"))?;
    let (load_balancer, key) = value.split_once('\n').ok_or(NotOurs("malformed value"))?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(Pressed {
        silence_secs,
        load_balancer: load_balancer.to_owned(),
        key: key.to_owned(),
        user: text(&v["user"]["id"]).ok_or(NotOurs("no user"))?,
        channel: text(&v["channel"]["id"])
            .or_else(|| text(&v["container"]["channel_id"]))
            .ok_or(NotOurs("no channel"))?,
        message_ts: text(&v["message"]["ts"])
            .or_else(|| text(&v["container"]["message_ts"]))
            .ok_or(NotOurs("no message"))?,
        blocks: v["message"]["blocks"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    })
}

/// The value of `name` in a form-encoded body (`+` is a space, `%XX` escapes decoded).
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The message's blocks with the silence buttons replaced: by a note of who silenced it until
/// when and an "Unsilence" button (`until_secs` set), or by the silence buttons again with a
/// note of who ended it.
#[must_use]
pub fn blocks_after(pressed: &Pressed, until_secs: Option<i64>) -> Vec<Value> {
    let mut blocks: Vec<Value> = pressed
        .blocks
        .iter()
        .filter(|b| b["block_id"] != SILENCE_BLOCK_ID && b["block_id"] != NOTE_BLOCK_ID)
        .cloned()
        .collect();
    let user = format!("<@{}>", pressed.user.replace(['<', '>', '|', '&'], ""));
    let note = match until_secs {
        Some(until) => format!(
            ":no_bell: Silenced by {user} until <!date^{until}^{{date_short_pretty}} {{time}}|{until}>: no posts for this target until then"
        ),
        None => format!(":bell: Silence ended by {user}"),
    };
    blocks.push(json!({
        "type": "context",
        "block_id": NOTE_BLOCK_ID,
        "elements": [{ "type": "mrkdwn", "text": note }],
    }));
    let Some(value) = silence_value(&pressed.load_balancer, &pressed.key) else {
        return blocks;
    };
    let buttons: Vec<Value> = if until_secs.is_some() {
        vec![button(UNSILENCE_ACTION, "Unsilence", &value)]
    } else {
        SILENCE_ACTIONS
            .iter()
            .map(|(id, label, _)| button(id, label, &value))
            .collect()
    };
    blocks.push(json!({ "type": "actions", "block_id": SILENCE_BLOCK_ID, "elements": buttons }));
    blocks
}

/// The `block_id` of the note saying who silenced the message.
pub const NOTE_BLOCK_ID: &str = "albwatch_silence_note";

fn button(id: &str, label: &str, value: &str) -> Value {
    json!({
        "type": "button",
        "action_id": id,
        "text": { "type": "plain_text", "text": label },
        "value": value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: &str = "1531420618";
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secret() -> SigningSecret {
        SigningSecret::new(DOC_SECRET).expect("secret")
    }

    #[test]
    fn slacks_documented_example_verifies() {
        let now = 1_531_420_618 + 60;
        assert_eq!(
            verify(
                &secret(),
                Some(DOC_TIMESTAMP),
                Some(DOC_SIGNATURE),
                DOC_BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let now = 1_531_420_618;
        let body = DOC_BODY.as_bytes();
        let check = |ts: Option<&str>, sig: Option<&str>, body: &[u8], now: i64| {
            verify(&secret(), ts, sig, body, now)
        };
        let mut tampered = DOC_BODY.to_owned();
        tampered.push('x');
        assert_eq!(
            check(
                Some(DOC_TIMESTAMP),
                Some(DOC_SIGNATURE),
                tampered.as_bytes(),
                now
            ),
            Err(SignatureError::Mismatch)
        );
        let other = SigningSecret::new("another-secret").expect("secret");
        assert_eq!(
            verify(&other, Some(DOC_TIMESTAMP), Some(DOC_SIGNATURE), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some(DOC_TIMESTAMP), Some(DOC_SIGNATURE), body, now + 301),
            Err(SignatureError::Stale { age_secs: 301 })
        );
        assert_eq!(
            check(Some(DOC_TIMESTAMP), Some(DOC_SIGNATURE), body, now - 301),
            Err(SignatureError::Stale { age_secs: -301 })
        );
        assert!(matches!(
            check(None, Some(DOC_SIGNATURE), body, now),
            Err(SignatureError::Header(_))
        ));
        assert!(matches!(
            check(Some(DOC_TIMESTAMP), None, body, now),
            Err(SignatureError::Header(_))
        ));
        assert!(matches!(
            check(Some(DOC_TIMESTAMP), Some("v1=abcd"), body, now),
            Err(SignatureError::Header(_))
        ));
        assert!(matches!(
            check(Some(DOC_TIMESTAMP), Some("v0=zz"), body, now),
            Err(SignatureError::Header(_))
        ));
        // The timestamp is part of what is signed: moving it breaks the signature.
        assert_eq!(
            check(Some("1531420619"), Some(DOC_SIGNATURE), body, now),
            Err(SignatureError::Mismatch)
        );
    }

    fn press(action: &str) -> Vec<u8> {
        let payload = json!({
            "type": "block_actions",
            "user": { "id": "U2CERLKJA" },
            "channel": { "id": "C0ALBWATCH1" },
            "message": { "ts": "1750545600.000001", "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "x" } },
                { "type": "actions", "block_id": SILENCE_BLOCK_ID, "elements": [] },
            ] },
            "actions": [{ "action_id": action, "value": "app/shop/1\n10.0.1.11:8080" }],
        });
        let encoded: String = percent_encoding::utf8_percent_encode(
            &payload.to_string(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        format!("payload={encoded}").into_bytes()
    }

    #[test]
    fn reads_the_button_and_rewrites_the_blocks() {
        let p = parse(&press("silence_1h")).expect("ours");
        assert_eq!(p.silence_secs, Some(3600));
        assert_eq!(
            (p.load_balancer.as_str(), p.key.as_str()),
            ("app/shop/1", "10.0.1.11:8080")
        );
        assert_eq!(
            (p.user.as_str(), p.channel.as_str()),
            ("U2CERLKJA", "C0ALBWATCH1")
        );
        let after = blocks_after(&p, Some(1_750_549_200));
        assert_eq!(after.len(), 3, "header, note, unsilence");
        assert!(after[1].to_string().contains("Silenced by <@U2CERLKJA>"));
        assert_eq!(after[2]["elements"][0]["action_id"], UNSILENCE_ACTION);
        let p = parse(&press(UNSILENCE_ACTION)).expect("ours");
        assert_eq!(p.silence_secs, None);
        let after = blocks_after(&Pressed { blocks: after, ..p }, None);
        assert_eq!(after.len(), 3);
        assert!(after[1].to_string().contains("Silence ended"));
        assert_eq!(after[2]["elements"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            parse(&press("delete_everything")),
            Err(NotOurs("unknown action_id"))
        );
        assert_eq!(parse(b"nonsense"), Err(NotOurs("no payload field")));
    }
}
