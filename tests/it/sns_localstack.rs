//! The SNS route against LocalStack's SNS, read back through an SQS subscription, next to a
//! Slack webhook stand-in: each notification is published once with its subject, machine form
//! and filterable attributes; a topic that refuses keeps SNS's copies pending without
//! repeating Slack's.

use std::time::Duration;

use albwatch::alert::handler::{Alerter, BatchSummary};
use albwatch::alert::store::memory::MemoryStore;
use albwatch::clock::ManualClock;
use albwatch::ingest::Deadline;
use albwatch::notify::destination::AnyNotifier;
use albwatch::notify::notification::{Notification, Status};
use albwatch::notify::notifier::{NotifierSource, NotifierUnavailable, Route};
use albwatch::notify::sns::SnsTopic;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use wiremock::MockServer;

use crate::alerter_slack::{
    bodies, event, incident_file_records, incident_files, mount, respond, webhook,
};
use crate::localstack::{LocalStack, poll, unique_name};
use crate::slack_bot::alerter_with;

/// The webhook on the Slack route, a topic on the SNS route.
struct TwoRoutes {
    slack: AnyNotifier,
    sns: AnyNotifier,
}

impl NotifierSource for TwoRoutes {
    type Notifier = AnyNotifier;

    async fn notifier(
        &self,
        route: Route,
        _: Deadline,
    ) -> Result<AnyNotifier, NotifierUnavailable> {
        Ok(match route {
            Route::Slack => self.slack.clone(),
            Route::Sns => self.sns.clone(),
        })
    }
}

async fn queue_subscribed_to(ls: &LocalStack, topic_arn: &str) -> String {
    let sqs = ls.sqs();
    let url = sqs
        .create_queue()
        .queue_name(unique_name("albwatch-sns"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue ARN");
    aws_sdk_sns::Client::new(&ls.config)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .expect("subscribe");
    url
}

/// Every SNS envelope the queue has received, after at least `want` arrived and a pause in
/// which nothing more came.
async fn envelopes(ls: &LocalStack, url: &str, want: usize) -> Vec<Value> {
    let sqs = ls.sqs();
    let got = std::sync::Mutex::new(Vec::<Value>::new());
    let receive = || async {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let mut got = got.lock().expect("lock");
        for m in out.messages.unwrap_or_default() {
            got.push(serde_json::from_str(m.body.as_deref().unwrap_or("{}")).expect("envelope"));
        }
        got.len()
    };
    poll(
        "SNS messages in the queue",
        Duration::from_secs(20),
        || async { (receive().await >= want).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    receive().await;
    got.into_inner().expect("lock")
}

async fn run(
    a: &Alerter<MemoryStore>,
    clock: &ManualClock,
    files: std::ops::Range<usize>,
    seq: &mut u64,
    routes: &TwoRoutes,
) -> BatchSummary {
    let mut total = BatchSummary::default();
    for i in files {
        let records = incident_file_records(i).await;
        let (response, s) = a
            .handle_with_summary(&event(&records, *seq), routes, Deadline::none())
            .await;
        *seq += records.len() as u64;
        assert!(response.batch_item_failures.is_empty());
        total.delivered += s.delivered;
        total.rejected += s.rejected;
        clock.advance(300_000_000);
    }
    total
}

#[tokio::test]
async fn each_notification_reaches_sns_once_and_a_refusing_topic_never_repeats_slack() {
    let Some(ls) = LocalStack::connect("each_notification_reaches_sns_once").await else {
        return;
    };
    let sns = aws_sdk_sns::Client::new(&ls.config);
    let topic = sns
        .create_topic()
        .name(unique_name("albwatch-alerts"))
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("ARN");
    let queue = queue_subscribed_to(&ls, &topic).await;
    let hook = MockServer::start().await;
    mount(&hook, respond(200, "ok"), None, 1).await;
    let slack = AnyNotifier::Slack(webhook(&hook));
    let missing = format!("{}-deleted", topic);
    let refusing = TwoRoutes {
        slack: slack.clone(),
        sns: AnyNotifier::Sns(SnsTopic::new(sns.clone(), &missing)),
    };
    let working = TwoRoutes {
        slack,
        sns: AnyNotifier::Sns(SnsTopic::new(sns.clone(), &topic)),
    };

    let (a, clock) = alerter_with(&[Route::Slack, Route::Sns], false);
    let mut seq = 1;
    // The firings happen while the topic refuses (a deleted topic: NotFound).
    let first = run(&a, &clock, 0..4, &mut seq, &refusing).await;
    assert!(first.rejected >= 2, "{first:?}");
    let slack_posts = bodies(&hook).await.len();
    assert_eq!(slack_posts, 2, "Slack got both firings at once");
    // Fixed: the rest of the incident, the end of input and the scheduled checks.
    run(&a, &clock, 4..incident_files().len(), &mut seq, &working).await;
    a.engine().finish().await.expect("flush");
    for _ in 0..4 {
        clock.advance(120_000_000);
        a.tick(&working, Deadline::none()).await;
    }
    let posted = serde_json::to_string(&bodies(&hook).await).expect("JSON");
    assert_eq!(
        (
            posted.matches("*FIRING*").count(),
            posted.matches("*RESOLVED*").count()
        ),
        (2, 2),
        "two firings and two resolutions on Slack, never repeated: {posted}"
    );

    let got = envelopes(&ls, &queue, 4).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    let mut seen: Vec<(String, Status)> = Vec::new();
    for envelope in &got {
        let subject = envelope["Subject"].as_str().expect("subject");
        assert!(subject.len() < 100 && subject.is_ascii(), "{subject}");
        let n: Notification = serde_json::from_str(envelope["Message"].as_str().expect("message"))
            .expect("the machine form");
        let attrs = &envelope["MessageAttributes"];
        assert_eq!(attrs["status"]["Value"], n.status.as_str());
        assert_eq!(attrs["load_balancer"]["Value"], n.load_balancer.as_str());
        assert_eq!(attrs["source"]["Value"], "alb");
        assert!(
            subject.starts_with(match n.status {
                Status::Firing => "[FIRING]",
                Status::Resolved => "[RESOLVED]",
            }),
            "{subject}"
        );
        seen.push((n.target.clone(), n.status));
    }
    seen.sort_by(|a, b| {
        (a.0.as_str(), a.1 == Status::Resolved).cmp(&(b.0.as_str(), b.1 == Status::Resolved))
    });
    seen.dedup();
    assert_eq!(seen.len(), 4, "each notification once: {seen:?}");
}
