//! `albwatch doctor` against real services: a deployment that is right, and the same with one
//! thing broken at a time, each giving its own ✘ and a non-zero exit.
//!
//! - S3, SQS, Kinesis and Secrets Manager are LocalStack's; ELBv2 and Lambda (event source
//!   mappings), which LocalStack 4.9.2's community services here lack, are moto_server's
//!   (`scripts/dynamodb.sh`, endpoint `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`, default
//!   [`DEFAULT_MOTO`]). moto's IAM role and subnet are made with its query API (no SDK crate
//!   for two calls).
//! - Both services must agree on the account that owns the stream (the event source mapping
//!   names its ARN) and the load balancer (the log objects' folder): every client here uses
//!   the access key [`ACCOUNT`], which LocalStack takes as the account id and which is moto's
//!   default account.
//! - Gate: `ALBWATCH_LOCALSTACK=1` and `ALBWATCH_DYNAMODB=1` (moto), or `CI=true`; the
//!   no-credentials test needs neither.

use std::process::{Command, Output};

use albwatch::doctor::location::LogLocation;
use albwatch::doctor::{self, Check, Clients, Target};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::localstack::{
    LocalStack, REGION, create_bucket, create_queue, create_stream, put_object, unique_name,
};

/// The account of every resource: LocalStack's account for a 12-digit access key, moto's
/// default account.
const ACCOUNT: &str = "123456789012";
/// moto_server's endpoint when `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2` is not set.
const DEFAULT_MOTO: &str = "http://127.0.0.1:4568";
/// The variable pointing ELBv2 at moto (set by `scripts/dynamodb.sh env`).
const ELB_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2";
/// Variable that enables the moto tests.
const MOTO_GATE_ENV: &str = "ALBWATCH_DYNAMODB";
/// The ALB's access-log prefix.
const PREFIX: &str = "prod";
/// The secret's path part, which must never be printed.
const SECRET_PART: &str = "DoctorSeCrEtPaRt";
/// Lines of a complete run: load balancer, policy, notification, objects, stream, mapping,
/// secret.
const CHECKS: usize = 7;

/// LocalStack and moto, with clients acting as [`ACCOUNT`].
struct Services {
    localstack: String,
    moto: String,
    aws: SdkConfig,
}

impl Services {
    async fn connect(test: &str) -> Option<Self> {
        let localstack = LocalStack::connect(test).await?;
        let gated = std::env::var(MOTO_GATE_ENV).is_ok_and(|v| v == "1")
            || std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if !gated {
            eprintln!(
                "skipping {test}: set {MOTO_GATE_ENV}=1 (scripts/test.sh does) for moto_server"
            );
            return None;
        }
        let moto = std::env::var(ELB_ENDPOINT_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_MOTO.to_owned());
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&localstack.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCOUNT,
                "test",
                None,
                None,
                "doctor-tests",
            ))
            .load()
            .await;
        Some(Self {
            localstack: localstack.endpoint,
            moto,
            aws,
        })
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.aws)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    fn moto_config(&self) -> SdkConfig {
        self.aws.to_builder().endpoint_url(&self.moto).build()
    }

    /// The clients `albwatch doctor` builds, pointed at the two services.
    fn clients(&self) -> Clients {
        let moto = self.moto_config();
        Clients {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&moto),
            s3: self.s3(),
            kinesis: aws_sdk_kinesis::Client::new(&self.aws),
            lambda: aws_sdk_lambda::Client::new(&moto),
            secrets: aws_sdk_secretsmanager::Client::new(&self.aws),
        }
    }

    /// One call of moto's query API (IAM, EC2); returns the XML answer.
    async fn moto_query(&self, service: &str, params: &[(&str, &str)]) -> String {
        let body = params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        // moto reads the service and region from the credential scope; it checks no signature.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={ACCOUNT}/20250101/{REGION}/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let response = reqwest::Client::new()
            .post(format!("{}/", self.moto))
            .header("Authorization", authorization)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto {service} at {}: {e}", self.moto));
        let status = response.status();
        let text = response.text().await.expect("moto answer");
        assert!(
            status.is_success(),
            "moto {service} {params:?}: {status} {text}"
        );
        text
    }
}

/// The text between the first `<tag>` and `</tag>` of `xml`.
fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..]
        .find(&format!("</{tag}>"))
        .expect("closing tag")
        + start;
    xml[start..end].to_owned()
}

/// A whole deployment as the stack and an ALB make it.
struct Deployment {
    lb_arn: String,
    lb_name: String,
    bucket: String,
    stream: String,
    function: String,
    secret_arn: String,
    mapping: String,
    location: LogLocation,
}

impl Deployment {
    async fn create(services: &Services) -> Self {
        let name = unique_name("doctor");
        let s3 = services.s3();
        // The log bucket with the template's policy and its notification to the ingest's queue.
        create_bucket(&s3, &name).await;
        put_policy(&s3, &name, &template_policy(&name)).await;
        let sqs = aws_sdk_sqs::Client::new(&services.aws);
        let (_, queue_arn) = create_queue(&sqs, &name).await;
        let rule = |kind: FilterRuleName, value: &str| {
            FilterRule::builder().name(kind).value(value).build()
        };
        let queue = QueueConfiguration::builder()
            .queue_arn(queue_arn)
            .events(Event::S3ObjectCreated)
            .filter(
                NotificationConfigurationFilter::builder()
                    .key(
                        S3KeyFilter::builder()
                            .filter_rules(rule(
                                FilterRuleName::Prefix,
                                &format!("{PREFIX}/AWSLogs/"),
                            ))
                            .filter_rules(rule(FilterRuleName::Suffix, ".log.gz"))
                            .build(),
                    )
                    .build(),
            )
            .build()
            .expect("queue configuration");
        s3.put_bucket_notification_configuration()
            .bucket(&name)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(queue)
                    .build(),
            )
            .send()
            .await
            .expect("notification");

        // The stream (LocalStack) and the Slack secret.
        let kinesis = aws_sdk_kinesis::Client::new(&services.aws);
        create_stream(&kinesis, &name, 1).await;
        let secret_arn = aws_sdk_secretsmanager::Client::new(&services.aws)
            .create_secret()
            .name(&name)
            .secret_string(format!(
                r#"{{"url": "https://hooks.slack.com/services/T0000/B0000/{SECRET_PART}"}}"#
            ))
            .send()
            .await
            .expect("secret")
            .arn
            .expect("secret ARN");

        // moto: the load balancer logging to the bucket, the alerter and its mapping.
        let moto = services.moto_config();
        let subnets = services
            .moto_query(
                "ec2",
                &[
                    ("Action", "DescribeSubnets"),
                    ("Version", "2016-11-15"),
                    ("Filter.1.Name", "default-for-az"),
                    ("Filter.1.Value.1", "true"),
                ],
            )
            .await;
        let subnet = xml_value(&subnets, "subnetId");
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&moto);
        let lb = elb
            .create_load_balancer()
            // ELB names: at most 32 characters, no trailing hyphen.
            .name(name[..name.len().min(32)].trim_end_matches('-'))
            .subnets(subnet)
            .send()
            .await
            .expect("load balancer");
        let lb = lb.load_balancers()[0].clone();
        let lb_arn = lb.load_balancer_arn().expect("ARN").to_owned();
        let lb_name = lb.load_balancer_name().expect("name").to_owned();
        set_access_logs(&elb, &lb_arn, true, &name).await;

        let role = services
            .moto_query(
                "iam",
                &[
                    ("Action", "CreateRole"),
                    ("Version", "2010-05-08"),
                    ("RoleName", &name),
                    ("AssumeRolePolicyDocument", "{}"),
                ],
            )
            .await;
        let lambda = aws_sdk_lambda::Client::new(&moto);
        lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role(xml_value(&role, "Arn"))
            .code(
                FunctionCode::builder()
                    // An empty zip archive: moto stores it and never runs it.
                    .zip_file(Blob::new([b"PK\x05\x06".as_slice(), &[0; 18]].concat()))
                    .build(),
            )
            .send()
            .await
            .expect("function");
        // moto's mapping needs the stream in its own Kinesis; same account, region and name,
        // so the same ARN as LocalStack's.
        let moto_kinesis = aws_sdk_kinesis::Client::new(&moto);
        create_stream(&moto_kinesis, &name, 1).await;
        let stream_arn = format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}");
        let mapping = lambda
            .create_event_source_mapping()
            .function_name(&name)
            .event_source_arn(&stream_arn)
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
            .send()
            .await
            .expect("event source mapping")
            .uuid
            .expect("uuid");

        let location = LogLocation {
            partition: "aws".to_owned(),
            bucket: name.clone(),
            prefix: PREFIX.to_owned(),
            account: ACCOUNT.to_owned(),
            region: REGION.to_owned(),
            load_balancer: lb_arn
                .split_once(":loadbalancer/")
                .expect("load balancer ARN")
                .1
                .to_owned(),
        };
        let deployment = Self {
            lb_arn,
            lb_name,
            bucket: name.clone(),
            stream: name.clone(),
            function: name,
            secret_arn,
            mapping,
            location,
        };
        deployment
            .upload_log(&s3, chrono::Utc::now().date_naive())
            .await;
        deployment
    }

    /// Uploads a log object as the load balancer writes it, in the folder of `day`.
    async fn upload_log(&self, s3: &aws_sdk_s3::Client, day: chrono::NaiveDate) {
        let key = format!(
            "{}{}T2245Z_10.0.1.15_3apj8aqk.log.gz",
            self.location.day_prefix(day),
            day.format("%Y%m%d")
        );
        let fixture = std::fs::read(format!(
            "{}/fixtures/incident/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/06/21/123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20250621T2245Z_10.0.1.15_3apj8aqk.log.gz",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        put_object(s3, &self.bucket, &key, fixture).await;
    }

    fn target(&self) -> Target {
        Target {
            load_balancer: self.lb_arn.clone(),
            bucket: Some(self.bucket.clone()),
            stream: self.stream.clone(),
            function: self.function.clone(),
            secret_arn: Some(self.secret_arn.clone()),
        }
    }

    /// Runs the checks in-process: every line and the number that failed.
    async fn doctor(&self, services: &Services) -> (Vec<Check>, usize) {
        let mut lines = Vec::new();
        let failed = doctor::run(
            &services.clients(),
            &self.target(),
            chrono::Utc::now(),
            |c| lines.push(c.clone()),
        )
        .await;
        (lines, failed)
    }

    /// Runs `albwatch doctor` as a process, with only the environment a user would set, on
    /// the load balancer named `load_balancer` (name, ARN or `app/NAME/ID`).
    fn albwatch(&self, services: &Services, load_balancer: &str) -> Output {
        let home = tempfile::tempdir().expect("home");
        Command::new(env!("CARGO_BIN_EXE_albwatch"))
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_ACCESS_KEY_ID", ACCOUNT)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &services.localstack)
            .env(ELB_ENDPOINT_ENV, &services.moto)
            .env("AWS_ENDPOINT_URL_LAMBDA", &services.moto)
            .args([
                "doctor",
                "--load-balancer",
                load_balancer,
                "--bucket",
                &self.bucket,
                "--stream",
                &self.stream,
                "--function",
                &self.function,
                "--secret-arn",
                &self.secret_arn,
            ])
            .output()
            .expect("albwatch runs")
    }
}

/// The policy `template.yaml` gives the bucket it creates, for [`PREFIX`] and [`ACCOUNT`].
fn template_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AlbLogDelivery", "Effect": "Allow",
             "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
             "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{bucket}/{PREFIX}/AWSLogs/{ACCOUNT}/*")},
            {"Sid": "AlbLogDeliveryLegacyAccount", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::127311923021:root"},
             "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{bucket}/{PREFIX}/AWSLogs/{ACCOUNT}/*")},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        ]
    })
    .to_string()
}

async fn put_policy(s3: &aws_sdk_s3::Client, bucket: &str, policy: &str) {
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "policy of {bucket}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
}

async fn set_access_logs(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    enabled: bool,
    bucket: &str,
) {
    let attribute = |key: &str, value: &str| {
        LoadBalancerAttribute::builder()
            .key(key)
            .value(value)
            .build()
    };
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(attribute("access_logs.s3.enabled", &enabled.to_string()))
        .attributes(attribute("access_logs.s3.bucket", bucket))
        .attributes(attribute("access_logs.s3.prefix", PREFIX))
        .send()
        .await
        .expect("load balancer attributes");
}

/// The one failed line of `lines`, which must contain `needle`; every other line passed.
fn only_failure<'a>(lines: &'a [Check], failed: usize, needle: &str) -> &'a Check {
    let failures: Vec<&Check> = lines.iter().filter(|c| !c.ok).collect();
    assert_eq!(failed, failures.len(), "{lines:#?}");
    assert_eq!(failures.len(), 1, "exactly one ✘ expected: {lines:#?}");
    let failure = failures[0];
    assert!(
        failure.what.contains(needle),
        "{needle:?} not in {failure:#?}"
    );
    assert!(
        failure.fix.as_deref().is_some_and(|f| !f.is_empty()),
        "{failure:#?}"
    );
    failure
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn doctor_good_setup_passes_every_check() {
    let Some(services) = Services::connect("doctor_good_setup_passes_every_check").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    let out = deployment.albwatch(&services, &deployment.lb_name);
    let text = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("albwatch doctor (good setup):\n{text}{stderr}");
    assert_eq!(out.status.code(), Some(0), "{text}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), CHECKS, "{text}");
    assert!(lines.iter().all(|l| l.starts_with("✔ ")), "{text}");
    let lb = &deployment.location.load_balancer;
    let bucket = &deployment.bucket;
    for expected in [
        format!("load balancer {lb} writes access logs to s3://{bucket}/{PREFIX}/"),
        format!(
            "bucket policy lets log delivery (logdelivery.elasticloadbalancing.amazonaws.com) \
             write under s3://{bucket}/{PREFIX}/AWSLogs/{ACCOUNT}/"
        ),
        format!("bucket {bucket} notifies SQS queue"),
        format!("newest log object of {lb} is under a minute old"),
        format!("stream {} is ACTIVE", deployment.stream),
        format!(
            "function {} reads stream {} (event source mapping {} is Enabled)",
            deployment.function, deployment.stream, deployment.mapping
        ),
        "holds a webhook URL (not shown)".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in\n{text}");
    }
    assert!(
        !text.contains(SECRET_PART),
        "the secret was printed:\n{text}"
    );
}

#[tokio::test]
async fn doctor_access_logs_disabled() {
    let Some(services) = Services::connect("doctor_access_logs_disabled").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&services.moto_config());
    set_access_logs(&elb, &deployment.lb_arn, false, &deployment.bucket).await;

    let (lines, failed) = deployment.doctor(&services).await;
    let failure = only_failure(&lines, failed, "does not write access logs");
    assert!(
        failure
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("Key=access_logs.s3.enabled,Value=true")),
        "{failure:#?}"
    );

    // The same as printed by the binary, with its exit status.
    let out = deployment.albwatch(&services, &deployment.location.load_balancer);
    let text = stdout(&out);
    eprintln!("albwatch doctor (access logs disabled):\n{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), CHECKS, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "✘ load balancer {} does not write access logs (access_logs.s3.enabled is not true) — aws elbv2 modify-load-balancer-attributes --load-balancer-arn {}",
            deployment.location.load_balancer, deployment.lb_arn
        )),
        "{text}"
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("✔ ")), "{text}");
}

#[tokio::test]
async fn doctor_bucket_policy_missing_or_for_another_principal() {
    let Some(services) = Services::connect("doctor_bucket_policy_missing").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    let s3 = services.s3();
    s3.delete_bucket_policy()
        .bucket(&deployment.bucket)
        .send()
        .await
        .expect("delete policy");
    let (lines, failed) = deployment.doctor(&services).await;
    let failure = only_failure(&lines, failed, "has no bucket policy");
    assert!(
        failure
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("arn:aws:iam::127311923021:root")),
        "{failure:#?}"
    );

    // Only the legacy account's statement, with eu-west-1's ELB account instead of us-east-1's.
    let mut wrong: serde_json::Value =
        serde_json::from_str(&template_policy(&deployment.bucket)).expect("policy");
    let statements = wrong["Statement"].as_array_mut().expect("statements");
    statements.retain(|s| s["Sid"] != "AlbLogDelivery");
    statements[0]["Principal"]["AWS"] = "arn:aws:iam::156460612806:root".into();
    put_policy(&s3, &deployment.bucket, &wrong.to_string()).await;
    let (lines, failed) = deployment.doctor(&services).await;
    only_failure(
        &lines,
        failed,
        "names the ELB account of eu-west-1, not the one of us-east-1",
    );
}

#[tokio::test]
async fn doctor_no_notification() {
    let Some(services) = Services::connect("doctor_no_notification").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    services
        .s3()
        .put_bucket_notification_configuration()
        .bucket(&deployment.bucket)
        .notification_configuration(NotificationConfiguration::builder().build())
        .send()
        .await
        .expect("notification removed");
    let (lines, failed) = deployment.doctor(&services).await;
    let failure = only_failure(
        &lines,
        failed,
        "notifies nothing of new objects under prod/AWSLogs/",
    );
    assert!(
        failure
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("EventBridgeConfiguration")),
        "{failure:#?}"
    );

    // EventBridge on instead: fine.
    services
        .s3()
        .put_bucket_notification_configuration()
        .bucket(&deployment.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(
                    aws_sdk_s3::types::EventBridgeConfiguration::builder().build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("EventBridge on");
    let (lines, failed) = deployment.doctor(&services).await;
    assert_eq!(failed, 0, "{lines:#?}");
    assert!(lines[2].what.contains("EventBridge"), "{lines:#?}");
}

#[tokio::test]
async fn doctor_no_recent_log_objects() {
    let Some(services) = Services::connect("doctor_no_recent_log_objects").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    let s3 = services.s3();
    // Only objects of an old day (and another load balancer's today) remain.
    let listed = s3
        .list_objects_v2()
        .bucket(&deployment.bucket)
        .send()
        .await
        .expect("list");
    for object in listed.contents() {
        s3.delete_object()
            .bucket(&deployment.bucket)
            .key(object.key().expect("key"))
            .send()
            .await
            .expect("delete");
    }
    let old = chrono::NaiveDate::from_ymd_opt(2025, 6, 21).expect("date");
    deployment.upload_log(&s3, old).await;
    let mut other = deployment.location.clone();
    other.load_balancer = "app/other/0123456789abcdef".to_owned();
    let today = chrono::Utc::now().date_naive();
    put_object(
        &s3,
        &deployment.bucket,
        &format!(
            "{}{}T2245Z_10.0.1.15_x.log.gz",
            other.day_prefix(today),
            today.format("%Y%m%d")
        ),
        b"not ours".to_vec(),
    )
    .await;

    let (lines, failed) = deployment.doctor(&services).await;
    only_failure(
        &lines,
        failed,
        &format!(
            "no log object of {} since",
            deployment.location.load_balancer
        ),
    );
}

#[tokio::test]
async fn doctor_stream_missing_or_mapping_disabled() {
    let Some(services) = Services::connect("doctor_stream_missing").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    let lambda = aws_sdk_lambda::Client::new(&services.moto_config());
    lambda
        .update_event_source_mapping()
        .uuid(&deployment.mapping)
        .enabled(false)
        .send()
        .await
        .expect("disable mapping");
    let (lines, failed) = deployment.doctor(&services).await;
    let failure = only_failure(&lines, failed, "is Disabled");
    assert!(
        failure
            .fix
            .as_deref()
            .is_some_and(|f| f.contains(&format!("--uuid {} --enabled", deployment.mapping))),
        "{failure:#?}"
    );
    lambda
        .update_event_source_mapping()
        .uuid(&deployment.mapping)
        .enabled(true)
        .send()
        .await
        .expect("enable mapping");

    aws_sdk_kinesis::Client::new(&services.aws)
        .delete_stream()
        .stream_name(&deployment.stream)
        .send()
        .await
        .expect("delete stream");
    let (lines, failed) = deployment.doctor(&services).await;
    only_failure(
        &lines,
        failed,
        &format!(
            "cannot find stream {}: ResourceNotFoundException",
            deployment.stream
        ),
    );
}

#[tokio::test]
async fn doctor_secret_unparseable() {
    let Some(services) = Services::connect("doctor_secret_unparseable").await else {
        return;
    };
    let deployment = Deployment::create(&services).await;
    aws_sdk_secretsmanager::Client::new(&services.aws)
        .put_secret_value()
        .secret_id(&deployment.secret_arn)
        .secret_string(format!("{{\"token\": \"{SECRET_PART}\"}}"))
        .send()
        .await
        .expect("new secret value");
    let (lines, failed) = deployment.doctor(&services).await;
    let failure = only_failure(&lines, failed, "holds neither a webhook URL");
    let line = format!("{failure:?}");
    assert!(!line.contains(SECRET_PART), "{line}");
}

/// No credentials anywhere: one line on stderr within seconds, exit status 2.
#[test]
fn doctor_without_credentials_fails_fast() {
    let home = tempfile::tempdir().expect("home");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_albwatch"))
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "doctor",
            "--load-balancer",
            "lb",
            "--stream",
            "s",
            "--function",
            "f",
        ])
        .output()
        .expect("albwatch runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        started.elapsed() < albwatch::cli::aws::CREDENTIALS_TIMEOUT * 2,
        "{:?}",
        started.elapsed()
    );
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("albwatch: no AWS credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains("{ "), "a Debug dump: {stderr}");
}
