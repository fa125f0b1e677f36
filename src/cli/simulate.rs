//! `albwatch simulate`: the whole pipeline in-process on local files, no AWS needed.
//!
//! Each ALB log goes through the real ingest code path ([`ingest_reader`]) into an in-memory
//! bus; the records it produced are fed to the real alert engine (on the in-memory state
//! store), which is evaluated after each file (one file ≈ one Lambda invocation). CloudWatch Logs subscription payloads
//! (`.json`, `.json.gz`) go to the log-pattern alerts. At the end of input every window is made
//! final so recoveries are announced.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use std::sync::Arc;

use crate::alert::engine::{Claim, Engine};
use crate::alert::logs::{LogAlertConfig, LogAlerts};
use crate::alert::store::memory::MemoryStore;
use crate::cli::aws::aws_config;
use crate::cli::exit::Exit;
use crate::cli::history::{self, TimeRange};
use crate::cli::progress::Progress;
use crate::cli::rule::RuleArgs;
use crate::clock::SystemClock;
use crate::cwlogs::{CwLogsError, LogsPayload, decode_awslogs_event, decode_payload};
use crate::ingest::keys::{KeyClass, KeyFilter, classify_key};
use crate::ingest::source::s3_client;
use crate::ingest::trigger::ObjectRef;
use crate::ingest::{Deadline, IngestConfig, MemorySink, ObjectSource, S3Source, ingest_reader};
use crate::notify::bot::{API_URL_ENV, BotToken, DEFAULT_API_URL, SlackBot, UPDATE_INTERVAL};
use crate::notify::http::DeliveryPolicy;
use crate::notify::investigate::LogLocation;
use crate::notify::notification::{Notification, Status, format_time, group_by_load_balancer};
use crate::notify::notifier::{DeliveryError, Notifier};
use crate::notify::slack::{render_payload, render_text};
use crate::notify::webhook::{SlackWebhook, WebhookUrl};
use crate::record::{ForwardMode, SourceId};

use super::inputs::{Input, expand};

/// How notifications are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The Slack messages, readable in a terminal.
    Slack,
    /// The machine form, one JSON notification per line.
    Json,
    /// The Slack Block Kit payloads (what a webhook receives), one JSON message per line.
    Blocks,
}

/// Options of `albwatch simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Output form of the notifications.
    #[arg(long, value_enum, default_value = "slack")]
    pub format: OutputFormat,
    /// Post the messages to this Slack incoming webhook instead of only printing them (best
    /// given by the environment: a webhook URL is a credential).
    #[arg(
        long,
        value_name = "URL",
        env = "ALBWATCH_SLACK_WEBHOOK_URL",
        hide_env_values = true
    )]
    pub slack_webhook: Option<String>,
    /// Post as a Slack bot, one message per incident, edited as it evolves (with
    /// `--slack-channel`); best given by the environment, not on the command line.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ALBWATCH_SLACK_BOT_TOKEN",
        hide_env_values = true,
        requires = "slack_channel"
    )]
    pub slack_token: Option<String>,
    /// The channel ID the bot posts to (`C0123456789`).
    #[arg(
        long,
        value_name = "ID",
        env = "ALBWATCH_SLACK_CHANNEL",
        requires = "slack_token"
    )]
    pub slack_channel: Option<String>,
    /// What the ingest forwards (default: `ALBWATCH_FORWARD`, else `errors`).
    #[arg(long, value_enum)]
    pub forward: Option<Forward>,
    /// ALB log files, directories (walked for files named like ALB access logs and for
    /// `*.json`/`*.json.gz` CloudWatch Logs payloads), `-` for stdin, or `s3://BUCKET/PREFIX`
    /// (the prefix the load balancer writes under, or deeper) to preview your own history.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// With `s3://`: how far back from now, e.g. `90m`, `24h`, `7d` [default: 24h].
    #[arg(long, value_name = "DURATION", conflicts_with = "from")]
    pub since: Option<String>,
    /// With `s3://`: start of the time range (RFC 3339, e.g. `2025-06-21T22:00:00Z`).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// With `s3://`: end of the time range (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// With `s3://`: the S3 endpoint (e.g. LocalStack's `http://127.0.0.1:4566`); overrides
    /// `AWS_ENDPOINT_URL`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The alert rule.
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// `--forward` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Forward {
    /// 5xx entries plus per-minute tallies.
    Errors,
    /// Every entry.
    All,
}

/// Whether a file found under a directory is simulated: what the ingest Lambda would take
/// (ALB access-log names), or a CloudWatch Logs payload (other JSON files are left alone).
fn is_simulated(path: &Path) -> bool {
    if is_json_name(path) {
        return std::fs::read(path).is_ok_and(|bytes| read_logs_payload(&bytes).is_ok());
    }
    classify_key(&path.to_string_lossy(), &KeyFilter::default()) == KeyClass::AccessLog
}

fn is_json_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".json") || name.ends_with(".json.gz")
}

/// A subscription payload (gzip or plain JSON), or the `awslogs` event of a direct subscription.
fn read_logs_payload(bytes: &[u8]) -> Result<LogsPayload, CwLogsError> {
    decode_payload(bytes).or_else(|e| decode_awslogs_event(bytes).map_err(|_| e))
}

/// Totals printed on stderr at the end.
#[derive(Debug, Default)]
struct Totals {
    files: u64,
    failed: u64,
    lines: u64,
    entries: u64,
    malformed: u64,
    records: u64,
    record_bytes: u64,
    firing: u64,
    resolved: u64,
    undelivered: u64,
}

/// Where notifications go.
enum Output {
    Print(OutputFormat),
    Post(SlackWebhook),
    Bot(SlackBot),
}

/// Runs the simulation; exit status 0, 1 when an input failed, 3 when a notification could not
/// be delivered (see [`Exit`]).
pub async fn run(args: &SimulateArgs) -> Exit {
    match simulate(args).await {
        Ok(totals) if totals.undelivered > 0 => Exit::Undelivered,
        Ok(totals) if totals.failed > 0 => Exit::Failed,
        Ok(_) => Exit::Success,
        Err(error) => Exit::report(&error),
    }
}

async fn simulate(args: &SimulateArgs) -> anyhow::Result<Totals> {
    let mut ingest = IngestConfig::from_env()?;
    if let Some(forward) = args.forward {
        ingest.forward = match forward {
            Forward::Errors => ForwardMode::Errors,
            Forward::All => ForwardMode::All,
        };
    }
    let alert = args.rule.config()?;
    let logs = LogAlerts::new(LogAlertConfig::from_env(&alert)?);
    let store = MemoryStore::new(alert.dedupe_capacity);
    let mut engine = Engine::new(alert, store, Arc::new(SystemClock))?;
    let output = match (&args.slack_token, &args.slack_channel, &args.slack_webhook) {
        (Some(token), Some(channel), _) => {
            let api = std::env::var(API_URL_ENV).unwrap_or_else(|_| DEFAULT_API_URL.to_owned());
            engine = engine.with_live_updates(UPDATE_INTERVAL);
            Output::Bot(SlackBot::new(
                BotToken::parse(token)?,
                channel,
                &api,
                DeliveryPolicy::default(),
            )?)
        }
        (_, _, Some(url)) => Output::Post(WebhookUrl::parse(url).and_then(SlackWebhook::new)?),
        _ => Output::Print(args.format),
    };

    let (s3, local): (Vec<&PathBuf>, Vec<&PathBuf>) = args
        .paths
        .iter()
        .partition(|p| p.to_string_lossy().starts_with("s3://"));
    let local: Vec<PathBuf> = local.into_iter().cloned().collect();
    let (inputs, errors) = if local.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        expand(&local, is_simulated)
    };
    let mut totals = Totals::default();
    for e in &errors {
        eprintln!("albwatch: {e}");
        totals.failed += 1;
    }
    let sink = MemorySink::new();
    for input in &inputs {
        totals.files += 1;
        let ok = if matches!(input, Input::File(p) if is_json_name(p)) {
            feed_logs_payload(input, &logs)
        } else {
            feed_alb_log(input, &ingest, &sink, &engine, &mut totals).await
        };
        if let Err(message) = ok {
            eprintln!("albwatch: {message}");
            totals.failed += 1;
        }
        announce(&engine, &logs, &output, &mut totals).await;
    }
    if !s3.is_empty() {
        let range = TimeRange::of(
            args.since.as_deref(),
            args.from.as_deref(),
            args.to.as_deref(),
            chrono::Utc::now(),
        )?;
        let aws = aws_config(args.endpoint_url.as_deref()).await?;
        let client = s3_client(&aws);
        for location in s3 {
            let location = LogLocation::parse(&location.to_string_lossy())
                .map_err(|reason| anyhow::anyhow!("{reason}"))?;
            let run = S3Run {
                client: &client,
                ingest: &ingest,
                sink: &sink,
                engine: &engine,
                logs: &logs,
                output: &output,
            };
            run.simulate(&location, &range, &mut totals).await?;
        }
    }
    engine.finish().await?;
    announce(&engine, &logs, &output, &mut totals).await;

    let c = engine.counters();
    eprintln!(
        "albwatch simulate: {} files ({} failed), {} lines, {} entries, {} malformed; {} records \
         ({} bytes), {} 5xx entries aggregated ({} entries and {} tallies late, {} duplicate \
         records); {} firing and {} resolved notifications",
        totals.files,
        totals.failed,
        totals.lines,
        totals.entries,
        totals.malformed,
        totals.records,
        totals.record_bytes,
        c.entries_5xx,
        c.late_entries,
        c.late_tallies,
        c.duplicates,
        totals.firing,
        totals.resolved,
    );
    Ok(totals)
}

/// What simulating an `s3://` location needs.
struct S3Run<'a> {
    client: &'a aws_sdk_s3::Client,
    ingest: &'a IngestConfig,
    sink: &'a MemorySink,
    engine: &'a Engine<MemoryStore>,
    logs: &'a LogAlerts,
    output: &'a Output,
}

impl S3Run<'_> {
    /// Lists the objects of `range` under `location` and simulates them in time order, one
    /// evaluation per object (as the Lambda would), with a progress bar over their bytes.
    async fn simulate(
        &self,
        location: &LogLocation,
        range: &TimeRange,
        totals: &mut Totals,
    ) -> anyhow::Result<()> {
        let listed = history::list(self.client, location, range).await?;
        let prefix = &location.prefix;
        if listed.is_empty() {
            eprintln!(
                "albwatch: no access-log objects under s3://{}/{prefix} from {} to {} \
                 (expected …/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/YYYY/MM/DD/…_app.….log.gz)",
                location.bucket,
                format_time(&range.from),
                format_time(&range.to)
            );
            totals.failed += 1;
            return Ok(());
        }
        let bytes: u64 = listed.iter().map(|l| l.size).sum();
        eprintln!(
            "albwatch: {} objects ({bytes} bytes) under s3://{}/{prefix} from {} to {}",
            listed.len(),
            location.bucket,
            format_time(&range.from),
            format_time(&range.to)
        );
        let source = S3Source::new(self.client.clone());
        let progress = Progress::new(bytes);
        for l in &listed {
            progress.show(&l.key);
            totals.files += 1;
            let object = ObjectRef {
                bucket: location.bucket.clone(),
                key: l.key.clone(),
                etag: None,
                version_id: None,
                size: Some(l.size),
            };
            let fed = match source.open(&object).await {
                Ok(opened) => {
                    let id = SourceId {
                        bucket: object.bucket.clone().into(),
                        key: object.key.clone().into(),
                        etag: opened.etag.map(Into::into),
                        version_id: opened.version_id.map(Into::into),
                    };
                    feed_reader(opened.body, id, self.ingest, self.sink, self.engine, totals).await
                }
                Err(e) => Err(anyhow::anyhow!(
                    "s3://{}/{}: {e}",
                    object.bucket,
                    object.key
                )),
            };
            if let Err(message) = fed {
                progress.message(&format!("albwatch: {message:#}"));
                totals.failed += 1;
            }
            progress.input_done(l.size);
            // Printed with the bar out of the way (the announcement writes to the terminal).
            progress.suspend(|| {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(announce(
                        self.engine,
                        self.logs,
                        self.output,
                        totals,
                    ));
                });
            });
        }
        progress.finish();
        Ok(())
    }
}

/// Ingests one ALB log into the in-memory bus, then feeds its records to the engine.
async fn feed_alb_log(
    input: &Input,
    config: &IngestConfig,
    sink: &MemorySink,
    engine: &Engine<MemoryStore>,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let name = input.name();
    let reader = input.open().with_context(|| name.clone())?;
    let source = SourceId {
        bucket: "local".into(),
        key: name.into(),
        etag: None,
        version_id: None,
    };
    feed_reader(reader, source, config, sink, engine, totals).await
}

/// Ingests one log read from `reader` into the in-memory bus, then feeds its records to the
/// engine. Records written before a failure are still fed (a duplicate beats a loss; the
/// engine dedupes).
async fn feed_reader(
    reader: impl std::io::Read + Send + 'static,
    source: SourceId<'static>,
    config: &IngestConfig,
    sink: &MemorySink,
    engine: &Engine<MemoryStore>,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let name = source.key.to_string();
    let result = ingest_reader(reader, source, config, sink, Deadline::none()).await;
    let batch = engine.batch();
    for record in sink.take() {
        totals.records += 1;
        totals.record_bytes += record.data.len() as u64;
        if let Err(poison) = batch.ingest_bytes(&record.data) {
            bail!("{name}: the ingest wrote a record the engine rejects: {poison}");
        }
    }
    if let Some((_, e)) = engine.commit(batch).await.failed.into_iter().next() {
        bail!("{name}: {e}");
    }
    let report = result?;
    totals.lines += report.lines;
    totals.entries += report.entries;
    totals.malformed += report.malformed;
    Ok(())
}

fn feed_logs_payload(input: &Input, logs: &LogAlerts) -> anyhow::Result<()> {
    let name = input.name();
    let mut bytes = Vec::new();
    input
        .open()
        .and_then(|mut r| r.read_to_end(&mut bytes))
        .with_context(|| name.clone())?;
    let payload = read_logs_payload(&bytes).with_context(|| name.clone())?;
    logs.ingest(&payload);
    Ok(())
}

/// Shows (or posts) what the engines have to announce, then marks it announced (or, when a
/// post failed, pending with a backoff).
async fn announce(
    engine: &Engine<MemoryStore>,
    logs: &LogAlerts,
    output: &Output,
    totals: &mut Totals,
) {
    let claims = engine.evaluate_all().await.claims;
    if let Output::Bot(bot) = output {
        for claim in claims {
            let notifications: Vec<Notification> = claim.notifications().cloned().collect();
            let lb = &claim.key.load_balancer;
            let outcome = bot
                .notify_incident(lb, claim.message.clone(), &notifications)
                .await;
            let (done, rest) = notifications.split_at(outcome.delivered.min(notifications.len()));
            count(done, totals);
            if let Some(e) = &outcome.error {
                eprintln!("albwatch: Slack delivery for {lb} failed: {e}");
                totals.undelivered += rest.len() as u64;
            }
            // The in-memory store cannot fail.
            let _ = engine.settle_incident(&claim, &outcome).await;
        }
    } else {
        for (lb, claims) in Claim::by_load_balancer(claims) {
            let notifications: Vec<Notification> = claims
                .iter()
                .flat_map(|c| c.notifications().cloned())
                .collect();
            let delivered = show(&lb, &notifications, output, totals).await;
            // The in-memory store cannot fail.
            let _ = engine.settle(&claims, delivered).await;
        }
    }
    for (group, notifications) in group_by_load_balancer(logs.evaluate()) {
        if show(&group, &notifications, output, totals).await {
            logs.commit(&notifications);
        }
    }
}

/// Returns whether the message was delivered (printing always is).
async fn show(
    lb: &str,
    notifications: &[Notification],
    output: &Output,
    totals: &mut Totals,
) -> bool {
    let firing = notifications
        .iter()
        .filter(|n| n.status == Status::Firing)
        .count();
    let resolved = notifications.len() - firing;
    let delivered = match output {
        Output::Print(OutputFormat::Json) => {
            let mut out = std::io::stdout().lock();
            notifications
                .iter()
                .all(|n| serde_json::to_writer(&mut out, n).is_ok() && out.write_all(b"\n").is_ok())
        }
        Output::Print(OutputFormat::Slack) => {
            let mut out = std::io::stdout().lock();
            let mut text = format!("━━ {lb}: {firing} firing, {resolved} resolved\n");
            for n in notifications {
                text.push_str(&render_text(n));
                text.push('\n');
            }
            out.write_all(text.as_bytes()).is_ok()
        }
        Output::Print(OutputFormat::Blocks) => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer(&mut out, &render_payload(lb, notifications)).is_ok()
                && out.write_all(b"\n").is_ok()
        }
        Output::Post(_) | Output::Bot(_) => {
            match output.post(&render_payload(lb, notifications)).await {
                Ok(()) => {
                    eprintln!(
                        "albwatch: posted {} notifications for {lb}",
                        notifications.len()
                    );
                    true
                }
                Err(e) => {
                    eprintln!("albwatch: Slack delivery for {lb} failed: {e}");
                    totals.undelivered += notifications.len() as u64;
                    false
                }
            }
        }
    };
    if delivered {
        count(notifications, totals);
    }
    delivered
}

/// Adds delivered notifications to the totals.
fn count(delivered: &[Notification], totals: &mut Totals) {
    let firing = delivered
        .iter()
        .filter(|n| n.status == Status::Firing && !n.update)
        .count();
    totals.firing += firing as u64;
    totals.resolved += delivered
        .iter()
        .filter(|n| n.status == Status::Resolved)
        .count() as u64;
}

impl Output {
    /// Posts a group message (webhook or bot).
    async fn post(&self, payload: &serde_json::Value) -> Result<(), DeliveryError> {
        match self {
            Self::Post(webhook) => webhook.post(payload).await,
            Self::Bot(bot) => bot.post(payload).await,
            Self::Print(_) => Ok(()),
        }
    }
}
