//! `albwatch consume`: the `alerter` Lambda, run locally on a real Kinesis stream.
//!
//! Reads every shard as Lambda's event source mapping would (`ListShards`, `GetShardIterator`,
//! `GetRecords` following `NextShardIterator`), turns each batch into an `aws_lambda_events`
//! [`KinesisEvent`] and hands it to the real handler, [`Alerter::handle_with_summary`], whose
//! notifications are printed (`--format`) or posted (`--slack-webhook`).
//!
//! Reading is [`crate::kinesis`]'s (every shard, in arrival order across shards). One engine
//! sees every shard, and its per-load-balancer watermark makes data behind it late, which is why
//! that order matters after a backlog (`albwatch replay`, `--from trim-horizon`).
//!
//! - The alert state is in memory, or in DynamoDB when `ALBWATCH_STATE_TABLE` is set (as the
//!   deployed alerter; several `consume` processes then share it like Lambda environments).
//! - A batch the handler reports in `batchItemFailures` (the state store failed, or a log
//!   group's message) is retried from the reported record, at most [`MAX_BATCH_RETRIES`] times,
//!   like the deployed mapping. A failed Slack post is not: it stays pending in the store and is
//!   retried with a backoff by a later batch.
//! - `--once` stops when every shard is caught up (an empty batch with `MillisBehindLatest` 0)
//!   or closed and read to its end; Ctrl-C stops at once. Both print the totals.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::Value;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::simulate::OutputFormat;
use crate::alert::engine::Engine;
use crate::alert::handler::{Alerter, BatchSummary};
use crate::alert::logs::{LogAlertConfig, LogAlerts};
use crate::alert::silence::SilenceConfig;
use crate::alert::store::AnyStore;
use crate::cli::aws::{AwsSetupError, aws_config};
use crate::cli::exit::Exit;
use crate::cli::rule::RuleArgs;
use crate::clock::{Clock, SystemClock};
use crate::kinesis::event::cmp_sequence;
use crate::kinesis::poller::ShardPoller;
use crate::kinesis::stream::{ReadError, StreamClient};
use crate::notify::notification::{Notification, Status};
use crate::notify::notifier::{AttemptFailure, DeliveryError, Notifier, Ready};
use crate::notify::slack::{render_payload, render_text};
use crate::notify::webhook::{SlackWebhook, WebhookUrl};
use crate::retry::{Deadline, RetryPolicy};

/// Retries of a batch whose delivery failed: the deployed event source mapping's
/// `MaximumRetryAttempts`.
pub const MAX_BATCH_RETRIES: u32 = 5;
/// Waits between retries of a reported batch: from 1 s doubling to 10 s.
pub const BATCH_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: MAX_BATCH_RETRIES + 1,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(10),
};

/// Where reading starts in the shards that exist when `consume` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
}

/// Options of `albwatch consume`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    /// Kinesis stream to read (name or ARN).
    #[arg(long, value_name = "NAME")]
    pub stream: String,
    /// AWS endpoint (e.g. LocalStack's `http://127.0.0.1:4566`); overrides `AWS_ENDPOINT_URL`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Where to start in the shards open at start-up (shards created later are read from their
    /// start).
    #[arg(long, value_enum, default_value = "trim-horizon")]
    pub from: StartFrom,
    /// Output form of the notifications.
    #[arg(long, value_enum, default_value = "slack")]
    pub format: OutputFormat,
    /// Post the messages to this Slack incoming webhook instead of printing them (best given
    /// by the environment: a webhook URL is a credential).
    #[arg(
        long,
        value_name = "URL",
        env = "ALBWATCH_SLACK_WEBHOOK_URL",
        hide_env_values = true
    )]
    pub slack_webhook: Option<String>,
    /// Stop once every shard is caught up (for tests and one-off runs).
    #[arg(long)]
    pub once: bool,
    /// The alert rule.
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// Why `consume` stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The alert settings or the webhook are invalid.
    #[error("{0}")]
    Config(String),
    /// No usable AWS configuration (region, credentials).
    #[error(transparent)]
    Aws(#[from] AwsSetupError),
    /// Reading the stream failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Printing a notification failed (stdout closed).
    #[error("cannot write to stdout: {0}")]
    Output(String),
}

/// Runs the consumer; exit status 0, 1 on an error, 2 on a configuration error, 3 when
/// notifications were left undelivered or were rejected by Slack (see [`Exit`]).
pub async fn run(args: &ConsumeArgs) -> Exit {
    let stop = stop_on_ctrl_c();
    let mut consumer = match Consumer::new(args).await {
        Ok(consumer) => consumer,
        Err(e) => return Exit::report(&e.into()),
    };
    let result = consumer.run(stop).await;
    consumer.print_totals();
    match result {
        Ok(()) if consumer.totals.undelivered > 0 || consumer.totals.rejected > 0 => {
            Exit::Undelivered
        }
        Ok(()) => Exit::Success,
        Err(e) => Exit::report(&e.into()),
    }
}

/// A receiver that turns `true` on Ctrl-C. The sender stays alive, so waiting on it never
/// fails.
fn stop_on_ctrl_c() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        match tokio::signal::ctrl_c().await {
            Ok(()) => {
                info!("Ctrl-C: stopping");
                let _ = tx.send(true);
            }
            Err(e) => warn!(error = %e, "cannot listen for Ctrl-C"),
        }
        std::future::pending::<()>().await;
    });
    rx
}

/// Resolves once `stop` is `true`.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Totals printed at the end.
#[derive(Debug, Default)]
struct Totals {
    records: u64,
    batches: u64,
    entries: u64,
    late: u64,
    poison: u64,
    duplicates: u64,
    delivered: u64,
    rejected: u64,
    undelivered: u64,
}

impl Totals {
    /// Adds one handler call; records of a retried batch are counted once.
    fn add(&mut self, s: &BatchSummary, first_attempt: bool) {
        if first_attempt {
            self.batches += 1;
            self.records += s.records;
            self.entries += s.entries;
            self.late += s.late + s.bad_times;
            self.poison += s.poison;
            self.duplicates += s.duplicates;
        }
        self.delivered += s.delivered;
        self.rejected += s.rejected;
    }
}

/// The reader of every shard and the alerter.
struct Consumer {
    poller: ShardPoller,
    once: bool,
    alerter: Alerter<AnyStore>,
    notifier: ConsumeNotifier,
    totals: Totals,
}

impl Consumer {
    async fn new(args: &ConsumeArgs) -> Result<Self, ConsumeError> {
        // As the alerter Lambda builds it: `ALBWATCH_*` rule and timings, log patterns.
        let config = args
            .rule
            .config()
            .map_err(|e| ConsumeError::Config(e.to_string()))?;
        let logs = LogAlerts::new(
            LogAlertConfig::from_env(&config).map_err(|e| ConsumeError::Config(e.to_string()))?,
        );
        let silence = SilenceConfig::from_env().map_err(|e| ConsumeError::Config(e.to_string()))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = AnyStore::from_env(&config, Arc::clone(&clock)).await;
        info!(store = %store.describe(), "alert state");
        let engine =
            Engine::new(config, store, clock).map_err(|e| ConsumeError::Config(e.to_string()))?;
        let sink = match &args.slack_webhook {
            Some(url) => Sink::Post(
                WebhookUrl::parse(url)
                    .and_then(SlackWebhook::new)
                    .map_err(|e| ConsumeError::Config(e.to_string()))?,
            ),
            None => Sink::Print(args.format),
        };
        let aws = aws_config(args.endpoint_url.as_deref())
            .await
            .map_err(ConsumeError::Aws)?;
        let stream = StreamClient::new(
            aws_sdk_kinesis::Client::new(&aws),
            &args.stream,
            aws.region().map(ToString::to_string),
        );
        let start = match args.from {
            StartFrom::TrimHorizon => ShardIteratorType::TrimHorizon,
            StartFrom::Latest => ShardIteratorType::Latest,
        };
        Ok(Self {
            poller: ShardPoller::new(stream, start).await?,
            once: args.once,
            alerter: Alerter::with_logs(engine, logs, silence),
            notifier: ConsumeNotifier::new(sink),
            totals: Totals::default(),
        })
    }

    /// Reads and handles until Ctrl-C, or with `--once` until every shard is caught up.
    async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<(), ConsumeError> {
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return Ok(()),
                read = self.poller.read_due() => read?,
            }
            while let Some((shard, records)) = self.poller.next_batch() {
                self.handle(&shard, records, &mut stop).await?;
                if *stop.borrow() {
                    return Ok(());
                }
            }
            if self.once && self.poller.caught_up() {
                return Ok(());
            }
            let wake = self.poller.wake_at();
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return Ok(()),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Hands one run of records to the alerter as one `KinesisEvent`, retrying from the
    /// reported record, like the deployed event source mapping.
    async fn handle(
        &mut self,
        shard: &str,
        records: Vec<KinesisEventRecord>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ConsumeError> {
        let mut event = KinesisEvent::default();
        event.records = records;
        let mut attempt = 0;
        loop {
            // Ctrl-C also interrupts a delivery that is still retrying; what was claimed is retried
            // when its lease ends.
            let notifier = Ready(&self.notifier);
            let (response, summary) = tokio::select! {
                biased;
                () = stopped(stop) => return Ok(()),
                handled = self.alerter.handle_with_summary(&event, &notifier, Deadline::none()) => handled,
            };
            self.totals.add(&summary, attempt == 0);
            if let Some(message) = self.notifier.output_error() {
                return Err(ConsumeError::Output(message));
            }
            let failed_from = response
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .min_by(|a, b| cmp_sequence(a, b))
                .map(str::to_owned);
            let Some(sequence) = failed_from else {
                return Ok(());
            };
            if attempt >= MAX_BATCH_RETRIES {
                error!(
                    shard = %shard,
                    sequence_number = %sequence,
                    attempts = attempt + 1,
                    undelivered = summary.failed,
                    "batch still reported for retry (state store or log-group delivery failing); \
                     moving on"
                );
                self.totals.undelivered += summary.failed;
                return Ok(());
            }
            attempt += 1;
            let delay = BATCH_RETRY.jittered_backoff(attempt);
            warn!(
                shard = %shard,
                sequence_number = %sequence,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "batch reported for retry; retrying from this record"
            );
            let from = event
                .records
                .iter()
                .position(|r| r.kinesis.sequence_number == sequence)
                .unwrap_or(0);
            event.records.drain(..from);
            tokio::select! {
                biased;
                () = stopped(stop) => {
                    self.totals.undelivered += summary.failed;
                    return Ok(());
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn print_totals(&self) {
        let t = &self.totals;
        let firing = self.notifier.firing.load(Ordering::Relaxed);
        let resolved = self.notifier.resolved.load(Ordering::Relaxed);
        eprintln!(
            "albwatch consume: {} shards, {} records in {} batches, {} entries ({} late, {} \
             poison records, {} duplicates); {} notifications delivered ({firing} firing, \
             {resolved} resolved), {} rejected by Slack, {} undelivered",
            self.poller.shard_count(),
            t.records,
            t.batches,
            t.entries,
            t.late,
            t.poison,
            t.duplicates,
            t.delivered,
            t.rejected,
            t.undelivered,
        );
        if let AnyStore::Dynamo(d) = self.alerter.engine().store() {
            let s = d.stats();
            eprintln!(
                "albwatch consume: state in DynamoDB table {}: {} requests ({} reads, {} updates, \
                 {} transactions of {} items; {} write units for items up to 1 KB)",
                d.table(),
                s.requests(),
                s.reads,
                s.updates,
                s.transactions,
                s.transaction_items,
                s.write_units(),
            );
        }
    }
}

/// Where notifications go.
#[derive(Debug)]
enum Sink {
    Print(OutputFormat),
    Post(SlackWebhook),
}

/// The notifier handed to the alerter: prints the machine form (`--format json`), readable
/// text (`--format slack`), or posts the Block Kit message (`--slack-webhook`).
#[derive(Debug)]
struct ConsumeNotifier {
    sink: Sink,
    firing: AtomicU64,
    resolved: AtomicU64,
    output_error: Mutex<Option<String>>,
}

impl ConsumeNotifier {
    fn new(sink: Sink) -> Self {
        Self {
            sink,
            firing: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            output_error: Mutex::new(None),
        }
    }

    fn output_error(&self) -> Option<String> {
        self.output_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Prints `text`; a failure is remembered (the consumer stops) and reported as undelivered.
    fn print(&self, text: &str) -> Result<(), DeliveryError> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| {
                let message = e.to_string();
                *self
                    .output_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message.clone());
                DeliveryError::GaveUp {
                    attempts: 1,
                    last: AttemptFailure::Request(format!("cannot write to stdout: {message}")),
                }
            })
    }
}

impl Notifier for ConsumeNotifier {
    /// A payload handed over without its notifications: posted, or printed as it is.
    async fn post(&self, payload: &Value) -> Result<(), DeliveryError> {
        match &self.sink {
            Sink::Post(webhook) => webhook.post(payload).await,
            Sink::Print(OutputFormat::Json | OutputFormat::Blocks) => {
                self.print(&format!("{payload}\n"))
            }
            Sink::Print(OutputFormat::Slack) => {
                let text = payload["text"].as_str().unwrap_or_default();
                self.print(&format!("{text}\n"))
            }
        }
    }

    async fn notify(
        &self,
        load_balancer: &str,
        notifications: &[Notification],
    ) -> Result<(), DeliveryError> {
        let firing = notifications
            .iter()
            .filter(|n| n.status == Status::Firing)
            .count() as u64;
        let resolved = notifications.len() as u64 - firing;
        let result = match &self.sink {
            Sink::Post(webhook) => {
                webhook
                    .post(&render_payload(load_balancer, notifications))
                    .await
            }
            Sink::Print(OutputFormat::Json) => {
                let mut text = String::new();
                for n in notifications {
                    match serde_json::to_string(n) {
                        Ok(json) => {
                            text.push_str(&json);
                            text.push('\n');
                        }
                        Err(e) => warn!(error = %e, "cannot serialize a notification"),
                    }
                }
                self.print(&text)
            }
            Sink::Print(OutputFormat::Blocks) => self.print(&format!(
                "{}\n",
                render_payload(load_balancer, notifications)
            )),
            Sink::Print(OutputFormat::Slack) => {
                let mut text =
                    format!("━━ {load_balancer}: {firing} firing, {resolved} resolved\n");
                for n in notifications {
                    text.push_str(&render_text(n));
                    text.push('\n');
                }
                self.print(&text)
            }
        };
        if result.is_ok() {
            self.firing.fetch_add(firing, Ordering::Relaxed);
            self.resolved.fetch_add(resolved, Ordering::Relaxed);
        }
        result
    }
}
