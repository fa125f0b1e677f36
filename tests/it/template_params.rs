//! `template.yaml` against the code: one source of truth for the stack's parameters.
//!
//! The code's own validation (`AlertConfig`, `SilenceConfig`, `IngestConfig`) decides what is
//! valid; the template must accept exactly that, within what it deliberately narrows (listed
//! where it does). Each check feeds the functions' environment, as the template sets it from
//! parameter values, to the same `from_lookup` the Lambdas call at start-up. Pure: reads files,
//! no services.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use albwatch::alert::config::{
    ALLOWED_LATENESS_ENV, AlertConfig, LOWEST_MIN_5XX, LOWEST_RESOLVE_AFTER, MAX_LATENESS_SECONDS,
    MAX_MIN_ERROR_RATE, MAX_WINDOW_SECONDS, MIN_5XX_ENV, MIN_ERROR_RATE_ENV, MIN_LATENESS_SECONDS,
    REPEAT_INTERVAL_ENV, RESOLVE_AFTER_ENV, STALE_AFTER_ENV, WINDOW_SECONDS_ENV,
    WINDOW_STEP_SECONDS, default_stale_after_seconds,
};
use albwatch::alert::silence::{
    MAX_SILENCE_AFTER_SECONDS, MIN_SILENCE_AFTER_SECONDS, SILENCE_AFTER_ENV, SilenceConfig,
};
use albwatch::ingest::config::{
    FORWARD_ENV, IngestConfig, KINESIS_MAX_RECORD_BYTES, MAX_RECORD_BYTES_ENV, MIN_RECORD_BYTES,
    parse_forward,
};
use albwatch::notify::bot::is_channel_id;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------- reading the template

/// The template as JSON, short-form tags in their long form (`!Ref X` → `{"Ref": "X"}`,
/// `!If [...]` → `{"Fn::If": [...]}`).
fn template() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
        let text = std::fs::read_to_string(&path).expect("template.yaml is readable");
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
        to_json(yaml)
    })
}

fn to_json(y: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().expect("a number"))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("string keys").to_owned();
                    (k, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let key = match tag {
                "Ref" | "Condition" => tag.to_owned(),
                _ => format!("Fn::{tag}"),
            };
            let value = to_json(t.value);
            // `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`.
            let value = match (tag, value) {
                ("GetAtt", Value::String(s)) => {
                    let (a, b) = s.split_once('.').expect("Resource.Attribute");
                    json!([a, b])
                }
                (_, v) => v,
            };
            json!({ key: value })
        }
    }
}

fn parameters() -> &'static Map<String, Value> {
    template()["Parameters"]
        .as_object()
        .expect("a Parameters section")
}

fn param(name: &str) -> &'static Value {
    parameters()
        .get(name)
        .unwrap_or_else(|| panic!("template parameter {name} is missing"))
}

/// A scalar as CloudFormation passes it on: a string.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

fn number(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("not a number in the template: {v}"))
}

/// Every parameter at its default.
fn defaults() -> BTreeMap<String, String> {
    parameters()
        .iter()
        .map(|(name, p)| (name.clone(), scalar(&p["Default"])))
        .collect()
}

fn with(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values = defaults();
    for (name, value) in overrides {
        assert!(
            values.contains_key(*name),
            "no parameter {name} in the template"
        );
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    values
}

// ---------------------------------------------------------------- evaluating it

/// A condition of the `Conditions` section or a `Rules` expression, on parameter values.
fn truth(expr: &Value, values: &BTreeMap<String, String>) -> bool {
    let obj = expr.as_object().expect("a condition is a one-key object");
    let (f, args) = obj.iter().next().expect("one key");
    let list = || args.as_array().expect("a list of arguments");
    match f.as_str() {
        "Fn::Equals" => {
            let l = list();
            operand(&l[0], values) == operand(&l[1], values)
        }
        "Fn::Not" => !truth(&list()[0], values),
        "Fn::And" => list().iter().all(|c| truth(c, values)),
        "Fn::Or" => list().iter().any(|c| truth(c, values)),
        "Fn::Contains" => {
            let l = list();
            let needle = operand(&l[1], values);
            l[0].as_array()
                .expect("a list to look in")
                .iter()
                .any(|v| operand(v, values) == needle)
        }
        "Condition" => truth(
            &template()["Conditions"][args.as_str().expect("a condition name")],
            values,
        ),
        other => panic!("this test does not evaluate {other}"),
    }
}

fn operand(v: &Value, values: &BTreeMap<String, String>) -> String {
    match v.get("Ref").and_then(Value::as_str) {
        Some(name) => values
            .get(name)
            .unwrap_or_else(|| panic!("Ref {name}: not a parameter"))
            .clone(),
        None => scalar(v),
    }
}

/// The environment a function gets for these parameter values: the variables set from
/// parameters (`!Ref P`, or `!If [C, ..., ...]` over those); others (resource names) are left
/// out, as no check here reads them.
fn environment(function: &str, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fn resolve(v: &Value, values: &BTreeMap<String, String>) -> Option<Option<String>> {
        if let Some(name) = v.get("Ref").and_then(Value::as_str) {
            if name == "AWS::NoValue" {
                return Some(None);
            }
            return values.get(name).map(|s| Some(s.clone()));
        }
        if let Some(args) = v.get("Fn::If").and_then(Value::as_array) {
            let cond = &template()["Conditions"][args[0].as_str()?];
            return resolve(
                if truth(cond, values) {
                    &args[1]
                } else {
                    &args[2]
                },
                values,
            );
        }
        None
    }
    variables(function)
        .iter()
        .filter_map(|(var, v)| match resolve(v, values) {
            Some(Some(value)) => Some((var.clone(), value)),
            _ => None,
        })
        .collect()
}

fn variables(function: &str) -> &'static Map<String, Value> {
    template()["Resources"][function]["Properties"]["Environment"]["Variables"]
        .as_object()
        .unwrap_or_else(|| panic!("{function} has no environment variables"))
}

/// What the functions' start-up says about these parameter values: `Ok` when the alerter's and
/// the ingest's configurations load, else the first error.
fn start_up(values: &BTreeMap<String, String>) -> Result<(), String> {
    let alerter = environment("AlerterFunction", values);
    let lookup = |var: &str| alerter.get(var).cloned();
    AlertConfig::from_lookup(lookup).map_err(|e| e.to_string())?;
    SilenceConfig::from_lookup(lookup).map_err(|e| e.to_string())?;
    let ingest = environment("IngestFunction", values);
    IngestConfig::from_lookup(|var| ingest.get(var).cloned()).map_err(|e| e.to_string())?;
    Ok(())
}

/// The rules a stack with these values breaks (`Rules` section), by name.
fn broken_rules(values: &BTreeMap<String, String>) -> Vec<String> {
    let Some(rules) = template().get("Rules").and_then(Value::as_object) else {
        return Vec::new();
    };
    rules
        .iter()
        .filter(|(_, rule)| rule.get("RuleCondition").is_none_or(|c| truth(c, values)))
        .filter(|(_, rule)| {
            rule["Assertions"]
                .as_array()
                .expect("Assertions")
                .iter()
                .any(|a| !truth(&a["Assert"], values))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether the template itself accepts these values: `AllowedValues`, `MinValue`/`MaxValue`,
/// `AllowedPattern` and the `Rules`.
fn template_accepts(values: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in values {
        let p = param(name);
        if let Some(allowed) = p.get("AllowedValues").and_then(Value::as_array)
            && !allowed.iter().any(|a| scalar(a) == *value)
        {
            return Err(format!("{name}={value} is not in AllowedValues"));
        }
        if p["Type"] == "Number" {
            let Ok(n) = value.parse::<f64>() else {
                return Err(format!("{name}={value} is not a number"));
            };
            if p.get("MinValue").is_some_and(|m| n < number(m))
                || p.get("MaxValue").is_some_and(|m| n > number(m))
            {
                return Err(format!("{name}={value} is outside MinValue/MaxValue"));
            }
        }
        if let Some(pattern) = p.get("AllowedPattern").and_then(Value::as_str)
            && !full_match(pattern, value)
        {
            return Err(format!("{name}={value:?} does not match AllowedPattern"));
        }
    }
    match broken_rules(values).as_slice() {
        [] => Ok(()),
        broken => Err(format!("breaks the rules {broken:?}")),
    }
}

fn full_match(pattern: &str, value: &str) -> bool {
    // The regex crate has no look-around: a leading `^(?!.*TEXT)`, the one form the template
    // uses (LogPrefix must not hold `AWSLogs`), is checked as "does not contain TEXT".
    if let Some((text, rest)) = pattern
        .strip_prefix("^(?!.*")
        .and_then(|p| p.split_once(')'))
    {
        return !value.contains(text) && full_match(&format!("^{rest}"), value);
    }
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .unwrap_or_else(|e| panic!("AllowedPattern {pattern:?}: {e}"))
        .is_match(value)
}

// ---------------------------------------------------------------- the checks

/// The alerter's and the ingest's variables are set from the parameters named after them.
#[test]
fn each_variable_the_code_reads_is_set_from_its_parameter() {
    let alerter = variables("AlerterFunction");
    for (var, name) in [
        (WINDOW_SECONDS_ENV, "WindowSeconds"),
        (ALLOWED_LATENESS_ENV, "AllowedLatenessSeconds"),
        (MIN_5XX_ENV, "Min5xx"),
        (MIN_ERROR_RATE_ENV, "MinErrorRate"),
        (REPEAT_INTERVAL_ENV, "RepeatIntervalSeconds"),
        (RESOLVE_AFTER_ENV, "ResolveAfter"),
        (SILENCE_AFTER_ENV, "SilenceAfterSeconds"),
    ] {
        assert_eq!(alerter.get(var), Some(&json!({ "Ref": name })), "{var}");
    }
    // Left unset (derived by the alerter) while StaleAfterSeconds is 0.
    assert_eq!(
        alerter.get(STALE_AFTER_ENV),
        Some(
            &json!({"Fn::If": ["DeriveStaleAfter", {"Ref": "AWS::NoValue"}, {"Ref": "StaleAfterSeconds"}]})
        )
    );
    assert_eq!(
        template()["Conditions"]["DeriveStaleAfter"],
        json!({"Fn::Equals": [{"Ref": "StaleAfterSeconds"}, 0]})
    );
    let ingest = variables("IngestFunction");
    assert_eq!(ingest.get(FORWARD_ENV), Some(&json!({"Ref": "Forward"})));
    assert_eq!(
        ingest.get(MAX_RECORD_BYTES_ENV),
        Some(&json!({"Ref": "MaxRecordBytes"}))
    );
}

/// A stack deployed with every default runs with exactly the code's defaults.
#[test]
fn the_defaults_are_the_codes() {
    let values = defaults();
    template_accepts(&values).expect("the defaults pass the template");
    let alerter = environment("AlerterFunction", &values);
    let lookup = |var: &str| alerter.get(var).cloned();
    assert_eq!(
        AlertConfig::from_lookup(lookup).expect("defaults load"),
        AlertConfig::default()
    );
    assert_eq!(
        SilenceConfig::from_lookup(lookup).expect("defaults load"),
        SilenceConfig::default()
    );
    let ingest = environment("IngestFunction", &values);
    let got = IngestConfig::from_lookup(|var| ingest.get(var).cloned()).expect("defaults load");
    let want = IngestConfig::default();
    assert_eq!(got.forward, want.forward);
    assert_eq!(got.max_record_bytes, want.max_record_bytes);
}

/// `MinValue`/`MaxValue` are the code's bounds: the template accepts a bound and the code does
/// too; one step outside, the template refuses and so does the code (except where the
/// template narrows the code's range on purpose, listed).
#[test]
fn numeric_bounds_are_the_codes() {
    let code_bounds: [(&str, f64, Option<f64>); 8] = [
        (
            "AllowedLatenessSeconds",
            f64::from(MIN_LATENESS_SECONDS),
            Some(f64::from(MAX_LATENESS_SECONDS)),
        ),
        ("Min5xx", LOWEST_MIN_5XX as f64, None),
        ("MinErrorRate", 0.0, Some(MAX_MIN_ERROR_RATE)),
        ("ResolveAfter", f64::from(LOWEST_RESOLVE_AFTER), None),
        ("RepeatIntervalSeconds", 0.0, None),
        (
            "SilenceAfterSeconds",
            MIN_SILENCE_AFTER_SECONDS as f64,
            Some(MAX_SILENCE_AFTER_SECONDS as f64),
        ),
        // The code accepts up to 10 MiB (streams configured for larger records); the stack's
        // stream takes Kinesis's default 1 MiB.
        (
            "MaxRecordBytes",
            MIN_RECORD_BYTES as f64,
            Some(KINESIS_MAX_RECORD_BYTES as f64),
        ),
        // 0 = derived; an explicit value is checked against the window (see below).
        ("StaleAfterSeconds", 0.0, None),
    ];
    let narrowed_by_template = ["MaxRecordBytes"];
    for (name, min, max) in code_bounds {
        let p = param(name);
        assert_eq!(p["Type"], "Number", "{name}");
        assert_eq!(p.get("MinValue").map(number), Some(min), "{name} MinValue");
        assert_eq!(p.get("MaxValue").map(number), max, "{name} MaxValue");
        let step = if name == "MinErrorRate" { 0.01 } else { 1.0 };
        // (value, the template accepts it, the code accepts it)
        let mut edges = vec![(min, true, true), (min - step, false, false)];
        if let Some(max) = max {
            edges.push((max, true, true));
            edges.push((max + step, false, narrowed_by_template.contains(&name)));
        }
        for (value, template_ok, code_ok) in edges {
            let values = with(&[(name, &value.to_string())]);
            let template = template_accepts(&values);
            let code = start_up(&values);
            assert_eq!(
                template.is_ok(),
                template_ok,
                "{name}={value}: {template:?}"
            );
            assert_eq!(code.is_ok(), code_ok, "{name}={value}: {code:?}");
        }
    }
}

/// Every window the template offers is whole minutes, accepted by the alerter — with the
/// default `StaleAfterSeconds`, whatever the lateness: the combination that used to deploy an
/// alerter refusing to start (`WindowSeconds=3600` with a fixed default of 3600).
#[test]
fn every_window_and_lateness_works_with_the_default_stale_time() {
    let windows = param("WindowSeconds")["AllowedValues"]
        .as_array()
        .expect("WindowSeconds has AllowedValues");
    assert!(windows.iter().any(|w| number(w) == 60.0));
    for w in windows {
        let w = number(w);
        assert!(
            w > 0.0
                && w % f64::from(WINDOW_STEP_SECONDS) == 0.0
                && w <= f64::from(MAX_WINDOW_SECONDS),
            "WindowSeconds {w}"
        );
        for lateness in [MIN_LATENESS_SECONDS, 600, 3600, MAX_LATENESS_SECONDS] {
            let values = with(&[
                ("WindowSeconds", &w.to_string()),
                ("AllowedLatenessSeconds", &lateness.to_string()),
            ]);
            template_accepts(&values).expect("offered by the template");
            start_up(&values).unwrap_or_else(|e| panic!("window {w}, lateness {lateness}: {e}"));
            let alerter = environment("AlerterFunction", &values);
            let c = AlertConfig::from_lookup(|v| alerter.get(v).cloned()).expect("valid");
            assert_eq!(
                c.stale_after_seconds,
                default_stale_after_seconds(c.window_seconds, lateness)
            );
        }
    }
}

/// The one combination left to the alerter: an explicit `StaleAfterSeconds` not above window +
/// lateness. CloudFormation's `Rules` compare strings only (`Fn::Equals`, `Fn::Contains`), so
/// no rule can say "more than the sum"; the default derives a valid value instead, and the
/// parameter's description states the condition.
#[test]
fn an_explicit_stale_time_must_exceed_window_and_lateness() {
    let too_short = with(&[("WindowSeconds", "3600"), ("StaleAfterSeconds", "4200")]);
    assert!(template_accepts(&too_short).is_ok());
    let e = start_up(&too_short).expect_err("the alerter refuses it");
    assert!(e.contains(STALE_AFTER_ENV), "{e}");
    start_up(&with(&[
        ("WindowSeconds", "3600"),
        ("StaleAfterSeconds", "4201"),
    ]))
    .expect("one second more is enough");
    let description = param("StaleAfterSeconds")["Description"]
        .as_str()
        .expect("a description");
    assert!(
        description.contains("must exceed WindowSeconds + AllowedLatenessSeconds"),
        "{description}"
    );
}

#[test]
fn forward_modes_are_the_codes() {
    let offered: BTreeSet<String> = param("Forward")["AllowedValues"]
        .as_array()
        .expect("AllowedValues")
        .iter()
        .map(scalar)
        .collect();
    let code: BTreeSet<String> = ["errors", "all", "everything", "5xx", ""]
        .into_iter()
        .filter(|m| parse_forward(m).is_some())
        .map(str::to_owned)
        .collect();
    assert_eq!(offered, code);
}

/// Bot mode reads its token from the secret: a channel without the secret would deploy an
/// alerter that only logs. Refused by a rule.
#[test]
fn a_slack_channel_needs_the_secret() {
    let channel = "C0123456789";
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:albwatch/slack-bot-AbCdEf";
    let without = with(&[("SlackChannel", channel)]);
    assert_eq!(broken_rules(&without), ["BotNeedsSecret"]);
    let both = with(&[("SlackChannel", channel), ("SlackWebhookSecretArn", secret)]);
    template_accepts(&both).expect("bot mode");
    template_accepts(&with(&[("SlackWebhookSecretArn", secret)])).expect("webhook mode");
}

/// The channel pattern is the bot's own check (`is_channel_id`).
#[test]
fn the_channel_pattern_is_the_bots_check() {
    let pattern = param("SlackChannel")["AllowedPattern"]
        .as_str()
        .expect("SlackChannel has an AllowedPattern");
    assert!(full_match(pattern, ""), "empty = no bot");
    for id in [
        "C0123456789",
        "G01234567",
        "D0123ABCD9",
        "C012345",
        "#alerts",
        "c0123456789",
        "X0123456789",
        "C0123 456789",
        "C01234567-",
    ] {
        assert_eq!(full_match(pattern, id), is_channel_id(id), "{id:?}");
    }
}

#[test]
fn alarm_email_goes_with_the_created_topic() {
    let email = "oncall@example.com";
    let topic = "arn:aws:sns:us-east-1:123456789012:ops";
    template_accepts(&with(&[("AlarmEmail", email)])).expect("created topic + e-mail");
    template_accepts(&with(&[("AlarmTopicArn", topic)])).expect("own topic");
    assert_eq!(
        broken_rules(&with(&[("AlarmEmail", email), ("AlarmTopicArn", topic)])),
        ["AlarmEmailNeedsCreatedTopic"]
    );
    for bad in ["oncall", "on call@example.com", "a@b"] {
        assert!(
            template_accepts(&with(&[("AlarmEmail", bad)])).is_err(),
            "{bad:?}"
        );
    }
}

/// Every alarm notifies a topic: `AlarmTopicArn`, or the one the stack creates without it.
#[test]
fn every_alarm_notifies_a_topic() {
    let resources = template()["Resources"].as_object().expect("Resources");
    let target =
        json!([{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]);
    let alarms: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(name, r)| {
            assert_eq!(
                r["Properties"]["AlarmActions"], target,
                "{name} AlarmActions"
            );
            assert_eq!(r["Properties"]["OKActions"], target, "{name} OKActions");
            name
        })
        .collect();
    assert!(alarms.len() >= 8, "{alarms:?}");
    assert_eq!(
        template()["Conditions"]["CreateAlarmTopic"],
        json!({"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]})
    );
    assert_eq!(resources["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    assert_eq!(resources["AlarmTopic"]["Condition"], "CreateAlarmTopic");
    let sub = &resources["AlarmEmailSubscription"];
    assert_eq!(sub["Condition"], "HasAlarmEmail");
    assert_eq!(sub["Properties"]["Protocol"], "email");
    assert_eq!(sub["Properties"]["Endpoint"], json!({"Ref": "AlarmEmail"}));
    let with_email = with(&[("AlarmEmail", "oncall@example.com")]);
    assert!(truth(&json!({"Condition": "HasAlarmEmail"}), &with_email));
    assert!(!truth(&json!({"Condition": "HasAlarmEmail"}), &defaults()));
    assert!(template()["Outputs"]["AlarmTopicArn"].is_object());
}

/// One architecture: what `sam build` builds is what is deployed, and it is the one CI builds
/// and tests. Every function is built by cargo-lambda from a binary of this package.
#[test]
fn one_architecture_and_real_binaries() {
    assert!(parameters().get("Architecture").is_none());
    assert_eq!(
        template()["Globals"]["Function"]["Architectures"],
        json!(["x86_64"])
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let functions: Vec<_> = template()["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect();
    assert_eq!(functions.len(), 3);
    for (name, f) in functions {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names its binary"));
        assert!(
            root.join("src/bin").join(format!("{binary}.rs")).is_file(),
            "{name}: no src/bin/{binary}.rs"
        );
        assert!(f["Properties"].get("Architectures").is_none(), "{name}");
    }
    // `sam build` passes cargo-lambda no target for x86_64 (cargo-lambda then builds for the
    // host), and no panic strategy (cargo-lambda then adds `abort`): Cargo.toml sets both.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let section = |name: &str| -> Vec<String> {
        manifest
            .lines()
            .skip_while(|l| l.trim() != name)
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .map(|l| l.split('#').next().unwrap_or("").replace(' ', ""))
            .filter(|l| !l.is_empty())
            .collect()
    };
    assert!(
        section("[package.metadata.lambda.build]")
            .contains(&r#"target=["x86_64-unknown-linux-gnu"]"#.to_owned()),
        "Cargo.toml pins cargo-lambda's target"
    );
    assert!(
        section("[profile.release]").contains(&r#"panic="unwind""#.to_owned()),
        "Cargo.toml spells out panic = \"unwind\""
    );
}
