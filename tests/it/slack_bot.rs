//! The bot destination through the real alerter handler, against the local Web API stand-in
//! ([`crate::slack_api`]): one message per incident, edited as it evolves and when it
//! resolves, with thread replies for what followers must hear; 429 storms; refused tokens.

use std::sync::Arc;

use albwatch::alb::time::parse_time_us;
use albwatch::alert::config::AlertConfig;
use albwatch::alert::engine::Engine;
use albwatch::alert::handler::{Alerter, BatchSummary};
use albwatch::alert::logs::{LogAlertConfig, LogAlerts};
use albwatch::alert::silence::SilenceConfig;
use albwatch::alert::store::memory::MemoryStore;
use albwatch::clock::ManualClock;
use albwatch::cwlogs::LogPatterns;
use albwatch::ingest::Deadline;
use albwatch::notify::bot::{SlackBot, UPDATE_INTERVAL};
use albwatch::notify::notifier::{Ready, Route};

use crate::alerter_slack::{event, incident_file_records, incident_files, records_of};
use crate::slack_api::{Message, SlackApi, TOKEN};

/// An alerter for a bot destination (live updates on), in memory, with a hand-moved clock.
fn bot_alerter() -> (Alerter<MemoryStore>, ManualClock) {
    alerter_with(&[Route::Slack], true)
}

/// An alerter queueing for `routes`, with live updates if `live`, in memory, with a
/// hand-moved clock (silence check off).
pub(crate) fn alerter_with(routes: &[Route], live: bool) -> (Alerter<MemoryStore>, ManualClock) {
    let clock = ManualClock::at(parse_time_us("2026-01-01T00:00:00Z").expect("time"));
    let config = AlertConfig::default();
    let store = MemoryStore::new(config.dedupe_capacity);
    let mut engine = Engine::new(config, store, Arc::new(clock.clone()))
        .expect("config")
        .with_routes(routes);
    if live {
        engine = engine.with_live_updates(UPDATE_INTERVAL);
    }
    let logs = LogAlerts::new(LogAlertConfig::new(engine.config(), LogPatterns::default()));
    let silence = SilenceConfig {
        after_us: 30 * 86_400_000_000,
    };
    (Alerter::with_logs(engine, logs, silence), clock)
}

async fn handle(
    a: &Alerter<MemoryStore>,
    records: &[Vec<u8>],
    seq: &mut u64,
    bot: &SlackBot,
) -> BatchSummary {
    let (response, summary) = a
        .handle_with_summary(&event(records, *seq), &Ready(bot), Deadline::none())
        .await;
    *seq += records.len() as u64;
    assert!(response.batch_item_failures.is_empty(), "{summary:?}");
    summary
}

/// The incident fixture file by file, five minutes of wall clock apart, then the end of input
/// and a scheduled check (the resolutions need windows after the fixture's data). `before`
/// runs before each file.
async fn run_incident(
    a: &Alerter<MemoryStore>,
    clock: &ManualClock,
    bot: &SlackBot,
    mut before: impl FnMut(usize),
) -> BatchSummary {
    let mut seq = 1;
    let mut total = BatchSummary::default();
    for i in 0..incident_files().len() {
        before(i);
        let records = incident_file_records(i).await;
        let s = handle(a, &records, &mut seq, bot).await;
        total.delivered += s.delivered;
        total.failed += s.failed;
        clock.advance(300_000_000);
    }
    a.engine().finish().await.expect("flush");
    // Retries of anything a storm left pending are due after their backoff (≤ 60 s here).
    for _ in 0..3 {
        let s = a.tick(&Ready(bot), Deadline::none()).await;
        total.delivered += s.delivered;
        total.failed += s.failed;
        clock.advance(60_000_000);
    }
    total
}

fn replies_with<'a>(replies: &'a [Message], word: &str) -> Vec<&'a Message> {
    replies.iter().filter(|m| m.text.contains(word)).collect()
}

/// Each incident: one message, now showing RESOLVED with how long it lasted, and exactly one
/// "Resolved" reply in its thread.
fn assert_two_incidents_each_one_message_resolved_once(api: &SlackApi) -> Vec<(String, Message)> {
    let posts = api.posts();
    assert_eq!(posts.len(), 2, "one message per incident: {posts:#?}");
    let all = serde_json::to_string(&posts.iter().map(|(_, m)| &m.blocks).collect::<Vec<_>>())
        .expect("JSON");
    assert!(all.contains("10.0.1.11:8080"), "{all}");
    assert!(all.contains("shop-web"), "{all}");
    for (ts, m) in &posts {
        let blocks = m.blocks.to_string();
        assert!(blocks.contains("*RESOLVED*"), "{ts}: {blocks}");
        assert!(blocks.contains("lasted"), "{ts}: {blocks}");
        assert!(
            !blocks.contains("\"actions\""),
            "no silence buttons once resolved: {blocks}"
        );
        assert!(m.updates >= 1, "{ts} was never edited");
        let replies = api.replies(ts);
        assert_eq!(
            replies_with(&replies, "Resolved").len(),
            1,
            "{ts}: {replies:#?}"
        );
    }
    posts
}

#[tokio::test]
async fn one_incident_is_one_message_updated_then_resolved_in_its_thread() {
    let api = SlackApi::start().await;
    let bot = api.bot();
    let (a, clock) = bot_alerter();
    let total = run_incident(&a, &clock, &bot, |_| {}).await;
    assert_eq!(total.failed, 0);
    let posts = assert_two_incidents_each_one_message_resolved_once(&api);
    let updates: u32 = posts.iter().map(|(_, m)| m.updates).sum();
    let replies: usize = posts.iter().map(|(ts, _)| api.replies(ts).len()).sum();
    let (post_calls, update_calls) = (api.calls("chat.postMessage"), api.calls("chat.update"));
    assert_eq!(post_calls as usize, posts.len() + replies);
    assert_eq!(update_calls, updates);
    eprintln!(
        "Web API calls for the fixture's 2 incidents: {post_calls} chat.postMessage \
         ({replies} thread replies), {update_calls} chat.update"
    );
    let sent = api.bodies_text().await;
    assert!(!sent.contains(TOKEN), "the token only goes in the header");
}

#[tokio::test]
async fn a_429_storm_delays_but_loses_and_doubles_nothing() {
    let api = SlackApi::start().await;
    let bot = api.bot();
    let (a, clock) = bot_alerter();
    // Every call of files 3 and 4 (the firings) meets more 429s than one delivery retries.
    let total = run_incident(&a, &clock, &bot, |i| {
        if i == 2 || i == 3 {
            api.rate_limit_next(4);
        }
    })
    .await;
    assert!(total.failed > 0, "the storm did fail deliveries: {total:?}");
    assert_two_incidents_each_one_message_resolved_once(&api);
}

#[tokio::test]
async fn a_refused_token_keeps_everything_pending_until_it_is_replaced() {
    let api = SlackApi::start().await;
    let (a, clock) = bot_alerter();
    let revoked = api.bot_with("xoxb-revoked");
    let mut seq = 1;
    for i in 0..3 {
        let records = incident_file_records(i).await;
        let s = handle(&a, &records, &mut seq, &revoked).await;
        assert_eq!(s.delivered, 0);
        clock.advance(300_000_000);
    }
    assert!(api.posts().is_empty());
    // The secret is rotated: the pending firing goes out, once, on the next check.
    clock.advance(900_000_000);
    let s = a.tick(&Ready(&api.bot()), Deadline::none()).await;
    assert_eq!((s.delivered, s.rejected), (1, 0), "{s:?}");
    assert_eq!(api.posts().len(), 1);
}

/// `n` 502s from `target` in the minute starting at `minute` (`HH:MM` on 2025-06-21), as a
/// log object's bytes.
fn lines(target: &str, minute: &str, n: usize) -> Vec<u8> {
    lines_with(target, minute, n, 502)
}

/// `n` requests answered `status` by `target` in the minute starting at `minute`.
fn lines_with(target: &str, minute: &str, n: usize, status: u16) -> Vec<u8> {
    (0..n)
        .map(|i| {
            format!(
                "https 2025-06-21T{minute}:{:02}.186641Z app/shop-prod/50dc6c495c0c9188 192.0.2.10:2817 {target} 0.086 0.048 0.037 {status} {status} 0 57 \"GET https://shop.example.com:443/api/v1/cart HTTP/1.1\" \"curl/8\" - - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/943f017f100becff \"Root=1-58337281-1d84f3d73c47ec4e5857725{}\" \"shop.example.com\" \"-\" 1 2025-06-21T{minute}:00.100000Z \"forward\" \"-\" \"-\" \"{target}\" \"{status}\" \"-\" \"-\" TID_1 \"-\" \"-\" \"-\"\n",
                i % 60,
                i % 10
            )
        })
        .collect::<String>()
        .into_bytes()
}

#[tokio::test]
async fn escalation_edits_the_message_and_replies_in_its_thread() {
    let api = SlackApi::start().await;
    let bot = api.bot();
    let (a, _clock) = bot_alerter();
    let mut seq = 1;
    let target = "10.0.1.11:8080";
    handle(
        &a,
        &records_of("a", lines(target, "22:45", 12)).await,
        &mut seq,
        &bot,
    )
    .await;
    let posts = api.posts();
    assert_eq!(posts.len(), 1);
    let ts = posts[0].0.clone();
    assert!(
        posts[0].1.blocks.to_string().contains("\"actions\""),
        "a firing message carries the silence buttons"
    );
    handle(
        &a,
        &records_of("b", lines(target, "22:46", 30)).await,
        &mut seq,
        &bot,
    )
    .await;
    let posts = api.posts();
    assert_eq!(posts.len(), 1, "still one message");
    let blocks = posts[0].1.blocks.to_string();
    assert!(blocks.contains("escalated"), "{blocks}");
    assert!(
        blocks.contains("30 (rate unknown") || blocks.contains("*5xx:* 30"),
        "{blocks}"
    );
    let replies = api.replies(&ts);
    assert_eq!(replies_with(&replies, "Escalated").len(), 1, "{replies:#?}");
    // A minute later, a new crossing window: edited in place (a live update), no reply.
    handle(
        &a,
        &records_of("c", lines(target, "22:48", 14)).await,
        &mut seq,
        &bot,
    )
    .await;
    assert_eq!(api.posts().len(), 1);
    assert_eq!(api.replies(&ts).len(), 1, "an update notifies nobody");
    assert_eq!(api.posts()[0].1.updates, 2, "escalation, then the update");
}

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A Slack interaction request pressing `action` on message `ts` (whose blocks are `blocks`),
/// signed with `secret` at `timestamp`: (timestamp, signature, body).
fn press(
    action: &str,
    ts: &str,
    blocks: &serde_json::Value,
    secret: &str,
    timestamp: i64,
) -> (String, String, Vec<u8>) {
    use hmac::{Hmac, KeyInit, Mac};
    let value = blocks
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
        .map(|b| b["elements"][0]["value"].clone())
        .expect("the message has buttons");
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": { "id": "U0ONCALL01" },
        "channel": { "id": crate::slack_api::CHANNEL },
        "message": { "ts": ts, "blocks": blocks },
        "actions": [{ "action_id": action, "value": value }],
    });
    let body = format!(
        "payload={}",
        percent_encoding::utf8_percent_encode(
            &payload.to_string(),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        timestamp.to_string(),
        format!("v0={signature}"),
        body.into_bytes(),
    )
}

/// A bot alerter that has just posted one firing message, for `target` at 22:45.
struct Firing {
    api: SlackApi,
    bot: SlackBot,
    a: Alerter<MemoryStore>,
    clock: ManualClock,
    seq: u64,
    /// The message's `ts` and what Slack holds.
    ts: String,
    message: Message,
}

async fn one_firing_message(target: &str) -> Firing {
    let api = SlackApi::start().await;
    let bot = api.bot();
    let (a, clock) = bot_alerter();
    let mut seq = 1;
    let burst = records_of("a", lines(target, "22:45", 12)).await;
    handle(&a, &burst, &mut seq, &bot).await;
    let (ts, message) = api.posts().remove(0);
    Firing {
        api,
        bot,
        a,
        clock,
        seq,
        ts,
        message,
    }
}

#[tokio::test]
async fn a_silenced_target_posts_nothing_until_the_silence_ends_and_only_slack_can_set_it() {
    use albwatch::alert::mute;
    use albwatch::notify::interaction::SigningSecret;
    let target = "10.0.1.11:8080";
    let Firing {
        api,
        bot,
        a,
        clock,
        mut seq,
        ts,
        message,
    } = one_firing_message(target).await;
    let secret = SigningSecret::new(SIGNING_SECRET).expect("secret");
    let now = || a.engine().now_us() / 1_000_000;
    let call = |(t, s, b): (String, String, Vec<u8>)| {
        let (secret, bot) = (&secret, &bot);
        let a = &a;
        async move { mute::handle(a.engine(), secret, Some(&t), Some(&s), &b, Some(bot)).await }
    };

    // Forged, stale or unsigned requests: 401, nothing changes.
    let forged = press("silence_24h", &ts, &message.blocks, "not-the-secret", now());
    assert_eq!(call(forged).await.status, 401);
    let stale = press(
        "silence_24h",
        &ts,
        &message.blocks,
        SIGNING_SECRET,
        now() - 301,
    );
    assert_eq!(call(stale).await.status, 401);
    let (t, _, b) = press("silence_24h", &ts, &message.blocks, SIGNING_SECRET, now());
    assert_eq!(
        mute::handle(a.engine(), &secret, Some(&t), None, &b, Some(&bot))
            .await
            .status,
        401
    );
    assert_eq!(api.posts()[0].1.updates, 0, "the message is untouched");

    // Signed: silenced for an hour; the message says so and offers "Unsilence".
    let reply = call(press(
        "silence_1h",
        &ts,
        &message.blocks,
        SIGNING_SECRET,
        now(),
    ))
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let shown = api.posts()[0].1.blocks.to_string();
    assert!(shown.contains("Silenced by <@U0ONCALL01>"), "{shown}");
    assert!(shown.contains("\"unsilence\""), "{shown}");

    // An escalation during the silence: no edit, no reply.
    handle(
        &a,
        &records_of("b", lines(target, "22:46", 30)).await,
        &mut seq,
        &bot,
    )
    .await;
    assert_eq!(api.posts().len(), 1);
    assert_eq!(api.posts()[0].1.updates, 1, "only the silence's own edit");
    assert!(api.replies(&ts).is_empty());

    // An hour later the silence has ended: the next escalation is posted in the thread.
    clock.advance(3_601_000_000);
    handle(
        &a,
        &records_of("c", lines(target, "22:50", 70)).await,
        &mut seq,
        &bot,
    )
    .await;
    let replies = api.replies(&ts);
    assert_eq!(replies_with(&replies, "Escalated").len(), 1, "{replies:#?}");
    assert_eq!(api.posts().len(), 1, "still one message");
}

#[tokio::test]
async fn simulate_posts_as_the_bot_what_the_lambda_would() {
    let api = SlackApi::start().await;
    let url = api.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_albwatch"))
            .args(["simulate", "fixtures/incident"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("SLACK_WEBHOOK_URL")
            .env("ALBWATCH_SLACK_BOT_TOKEN", TOKEN)
            .env("ALBWATCH_SLACK_CHANNEL", crate::slack_api::CHANNEL)
            .env("ALBWATCH_SLACK_API_URL", url)
            .output()
            .expect("albwatch runs")
    })
    .await
    .expect("joined");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is never printed");
    assert_two_incidents_each_one_message_resolved_once(&api);
}

#[tokio::test]
async fn an_incident_resolved_during_a_silence_leaves_the_next_one_a_message_of_its_own() {
    use albwatch::alert::mute;
    use albwatch::notify::interaction::SigningSecret;
    let target = "10.0.1.11:8080";
    let Firing {
        api,
        bot,
        a,
        clock,
        mut seq,
        ts,
        message,
    } = one_firing_message(target).await;
    let secret = SigningSecret::new(SIGNING_SECRET).expect("secret");
    let now = a.engine().now_us() / 1_000_000;
    let (t, sig, body) = press("silence_1h", &ts, &message.blocks, SIGNING_SECRET, now);
    let reply = mute::handle(a.engine(), &secret, Some(&t), Some(&sig), &body, Some(&bot)).await;
    assert_eq!(reply.status, 200);
    // Healthy traffic until the incident resolves, silently.
    for minute in [
        "22:46", "22:47", "22:48", "22:49", "22:50", "22:51", "23:05",
    ] {
        let ok = lines_with(target, minute, 40, 200);
        handle(&a, &records_of(minute, ok).await, &mut seq, &bot).await;
    }
    assert_eq!(api.posts().len(), 1);
    assert!(api.replies(&ts).is_empty(), "nothing posted while silenced");
    // The silence ends; a new incident.
    clock.advance(3_601_000_000);
    handle(
        &a,
        &records_of("b", lines(target, "23:10", 12)).await,
        &mut seq,
        &bot,
    )
    .await;
    let posts = api.posts();
    assert_eq!(
        posts.len(),
        2,
        "a new message for the new incident: {posts:#?}"
    );
    assert!(api.replies(&ts).is_empty(), "the old thread is left alone");
}

#[tokio::test]
async fn a_new_message_is_not_posted_twice_and_refused_blocks_fall_back_to_text() {
    let api = SlackApi::start().await;
    let bot = api.bot();
    let (a, clock) = bot_alerter();
    let mut seq = 1;
    // A server error on chat.postMessage: the message may have landed, so no second attempt
    // in this invocation; it stays pending and goes out once on the next check.
    api.fail_next_with(500);
    let s = handle(
        &a,
        &records_of("a", lines("10.0.1.11:8080", "22:45", 12)).await,
        &mut seq,
        &bot,
    )
    .await;
    assert_eq!((s.delivered, s.failed), (0, 1), "{s:?}");
    assert_eq!(api.calls("chat.postMessage"), 1);
    clock.advance(60_000_000);
    let s = a.tick(&Ready(&bot), Deadline::none()).await;
    assert_eq!(s.delivered, 1, "{s:?}");
    assert_eq!(api.posts().len(), 1);
    // Slack refuses the blocks of a message: it goes out as text rather than never.
    api.refuse_blocks();
    handle(
        &a,
        &records_of("b", lines("10.0.1.12:8080", "22:46", 12)).await,
        &mut seq,
        &bot,
    )
    .await;
    let posts = api.posts();
    assert_eq!(posts.len(), 2, "{posts:#?}");
    assert!(
        posts
            .iter()
            .any(|(_, m)| m.blocks.is_null() && m.text.contains("10.0.1.12:8080"))
    );
}
