//! A local stand-in for Slack's Web API (a real HTTP server on 127.0.0.1): `chat.postMessage`
//! (threads included) and `chat.update`, the bearer-token and channel checks, `429` with
//! `Retry-After` on demand, and a record of every message as Slack would hold it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use albwatch::notify::bot::{BotToken, SlackBot};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::alerter_slack::fast_policy;

/// The token the stand-in accepts.
pub(crate) const TOKEN: &str = "xoxb-0000-test-SeCrEt";
/// The channel the stand-in knows.
pub(crate) const CHANNEL: &str = "C0ALBWATCH1";

/// One message as Slack holds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Message {
    /// The `ts` of its thread's parent, for a reply.
    pub thread_ts: Option<String>,
    /// Its current `text` and `blocks`.
    pub text: String,
    pub blocks: Value,
    /// How many times `chat.update` changed it.
    pub updates: u32,
}

#[derive(Debug, Default)]
struct State {
    next_ts: u64,
    messages: BTreeMap<String, Message>,
    calls: BTreeMap<String, u32>,
    rate_limit_next: u32,
    fail_next_with: Option<u16>,
    refuse_blocks: bool,
}

#[derive(Clone)]
struct Api(Arc<Mutex<State>>);

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn error(code: &str) -> ResponseTemplate {
    ok(json!({ "ok": false, "error": code }))
}

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().expect("lock");
        let method = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        *s.calls.entry(method.clone()).or_default() += 1;
        if s.rate_limit_next > 0 {
            s.rate_limit_next -= 1;
            return ResponseTemplate::new(429).insert_header("Retry-After", "1");
        }
        if let Some(status) = s.fail_next_with.take() {
            return ResponseTemplate::new(status).set_body_string("upstream_error");
        }
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TOKEN}")) {
            return error("invalid_auth");
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return error("invalid_json");
        };
        if s.refuse_blocks && body.get("blocks").is_some() {
            return error("invalid_blocks");
        }
        let channel = body["channel"].as_str().unwrap_or_default();
        if channel != CHANNEL {
            return error("channel_not_found");
        }
        let text = body["text"].as_str().unwrap_or_default().to_owned();
        let blocks = body.get("blocks").cloned().unwrap_or(Value::Null);
        match method.as_str() {
            "chat.postMessage" => {
                let thread_ts = body["thread_ts"].as_str().map(str::to_owned);
                if let Some(parent) = &thread_ts
                    && !s.messages.contains_key(parent)
                {
                    return error("thread_not_found");
                }
                s.next_ts += 1;
                let ts = format!("1750545600.{:06}", s.next_ts);
                s.messages.insert(
                    ts.clone(),
                    Message {
                        thread_ts,
                        text,
                        blocks,
                        updates: 0,
                    },
                );
                ok(json!({ "ok": true, "channel": CHANNEL, "ts": ts }))
            }
            "chat.update" => {
                let ts = body["ts"].as_str().unwrap_or_default().to_owned();
                match s.messages.get_mut(&ts) {
                    Some(m) => {
                        m.text = text;
                        m.blocks = blocks;
                        m.updates += 1;
                        ok(json!({ "ok": true, "channel": CHANNEL, "ts": ts }))
                    }
                    None => error("message_not_found"),
                }
            }
            _ => error("unknown_method"),
        }
    }
}

/// The running stand-in.
pub(crate) struct SlackApi {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl SlackApi {
    pub(crate) async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        Mock::given(method("POST"))
            .respond_with(Api(Arc::clone(&state)))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The base URL (`ALBWATCH_SLACK_API_URL`).
    pub(crate) fn url(&self) -> String {
        format!("{}/api", self.server.uri())
    }

    /// A bot on this stand-in with `token`, fast retries.
    pub(crate) fn bot_with(&self, token: &str) -> SlackBot {
        SlackBot::new(
            BotToken::parse(token).expect("token"),
            CHANNEL,
            &self.url(),
            fast_policy(),
        )
        .expect("bot")
    }

    /// A bot with the right token.
    pub(crate) fn bot(&self) -> SlackBot {
        self.bot_with(TOKEN)
    }

    /// Answers the next `n` calls with `429 Retry-After: 1`.
    pub(crate) fn rate_limit_next(&self, n: u32) {
        self.state.lock().expect("lock").rate_limit_next = n;
    }

    /// Answers the next call with HTTP `status` (a server error).
    pub(crate) fn fail_next_with(&self, status: u16) {
        self.state.lock().expect("lock").fail_next_with = Some(status);
    }

    /// Refuses every message with blocks (`invalid_blocks`), as Slack does with blocks it
    /// cannot render.
    pub(crate) fn refuse_blocks(&self) {
        self.state.lock().expect("lock").refuse_blocks = true;
    }

    /// Calls of `method` received (including refused ones).
    pub(crate) fn calls(&self, method: &str) -> u32 {
        self.state
            .lock()
            .expect("lock")
            .calls
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Top-level messages, by `ts`.
    pub(crate) fn posts(&self) -> Vec<(String, Message)> {
        self.messages(|m| m.thread_ts.is_none())
    }

    /// Replies in the thread of `ts`.
    pub(crate) fn replies(&self, ts: &str) -> Vec<Message> {
        self.messages(|m| m.thread_ts.as_deref() == Some(ts))
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    fn messages(&self, keep: impl Fn(&Message) -> bool) -> Vec<(String, Message)> {
        self.state
            .lock()
            .expect("lock")
            .messages
            .iter()
            .filter(|(_, m)| keep(m))
            .map(|(ts, m)| (ts.clone(), m.clone()))
            .collect()
    }

    /// Every request body received, as text (to check no secret was sent in one).
    pub(crate) async fn bodies_text(&self) -> String {
        self.server
            .received_requests()
            .await
            .expect("recording")
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}
