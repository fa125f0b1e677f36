//! The machine form of one alert notification: one target (or target group / load
//! balancer) that started or stopped returning 5xx responses within a window.
//!
//! Serialized as JSON with exactly the keys documented on [`Notification`]; timestamps are
//! RFC 3339 in UTC with whole seconds and a `Z` suffix (`2025-06-21T22:45:00Z`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Sample requests (or log messages) a notification carries, and a Slack section shows.
pub const MAX_SAMPLES: usize = 3;

/// Whether the alert condition started (`firing`) or ended (`resolved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// 5xx responses crossed the threshold in this window.
    Firing,
    /// A previously firing target is back under the threshold.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`, as in the JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

/// Where the notification's log lines came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// ALB access logs; `load_balancer` is the ALB id and `target` the target `ip:port`.
    Alb,
    /// CloudWatch Logs; `load_balancer` holds the log group and `target` the log stream.
    CloudwatchLogs,
    /// The access-log delivery of `load_balancer` (the alerter's log-silence check): firing when
    /// no records arrived from `window_start` (the last arrival) to `window_end`; resolved when
    /// they arrive again (`window_end`). `target` repeats the load balancer.
    LogDelivery,
}

/// What the `target` field names.
///
/// Anything other than [`TargetKind::Target`] means the load balancer generated the errors
/// itself (e.g. 503 with no healthy targets), so they are aggregated under the target group
/// or the load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A registered target (`ip:port`, instance or Lambda).
    Target,
    /// Load-balancer-generated errors attributed to a target group.
    TargetGroup,
    /// Load-balancer-generated errors with no target group (e.g. no matching rule).
    LoadBalancer,
}

/// One sample request that produced a 5xx, as shown in the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When the request was logged.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// Client `ip:port`.
    pub client: String,
    /// Target `ip:port`, if a target was chosen.
    #[serde(default)]
    pub target: Option<String>,
    /// Status code returned by the load balancer.
    #[serde(default)]
    pub elb_status_code: Option<u16>,
    /// Status code returned by the target, if it answered.
    #[serde(default)]
    pub target_status_code: Option<u16>,
    /// Request line: `METHOD url protocol`.
    #[serde(default)]
    pub request: Option<String>,
    /// Client user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// ALB `error_reason` (e.g. `TargetTimeout`).
    #[serde(default)]
    pub error_reason: Option<String>,
    /// `X-Amzn-Trace-Id` of the request.
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// One notification: a target's 5xx activity over one window.
///
/// JSON keys: `status`, `source`, `load_balancer`, `target`, `target_kind`, `target_group`,
/// `window_start`, `window_end`, `count_5xx`, `requests`, `error_rate`, `status_codes`,
/// `error_reasons`, `first_seen`, `last_seen`, `samples`, `escalation`, `update`,
/// `incident_start`, `rule`, `target_5xx`, `paths`, `runbook_url`, `logs_url`,
/// `athena_query`, `trend`. Optional values are written as `null`, never omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Firing or resolved.
    pub status: Status,
    /// Log source kind.
    pub source: Source,
    /// Load balancer id (`app/name/id`), or the log group for CloudWatch Logs.
    pub load_balancer: String,
    /// Target `ip:port`, target group, load balancer, or log stream (see `target_kind`).
    pub target: String,
    /// What `target` names.
    pub target_kind: TargetKind,
    /// Target group ARN or name, when known.
    #[serde(default)]
    pub target_group: Option<String>,
    /// Start of the window (inclusive).
    #[serde(with = "rfc3339")]
    pub window_start: DateTime<Utc>,
    /// End of the window (exclusive).
    #[serde(with = "rfc3339")]
    pub window_end: DateTime<Utc>,
    /// Number of 5xx responses in the window.
    pub count_5xx: u64,
    /// Total requests in the window, when the source counts them.
    #[serde(default)]
    pub requests: Option<u64>,
    /// `count_5xx / requests` as a fraction in `[0, 1]`, when `requests` is known.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// 5xx count per status code (`"502"` → n).
    #[serde(default)]
    pub status_codes: BTreeMap<String, u64>,
    /// 5xx count per ALB error reason (`"TargetTimeout"` → n).
    #[serde(default)]
    pub error_reasons: BTreeMap<String, u64>,
    /// First 5xx seen in the window.
    #[serde(default, with = "rfc3339_opt")]
    pub first_seen: Option<DateTime<Utc>>,
    /// Last 5xx seen in the window.
    #[serde(default, with = "rfc3339_opt")]
    pub last_seen: Option<DateTime<Utc>>,
    /// A few sample failing requests.
    #[serde(default)]
    pub samples: Vec<Sample>,
    /// True when this repeats a still-firing alert at a higher severity or after a quiet period.
    #[serde(default)]
    pub escalation: bool,
    /// True for a live update of a still-firing incident: an edit of the incident's message
    /// (bot destinations), never a post of its own.
    #[serde(default)]
    pub update: bool,
    /// When the incident began: the start of its first window over the rule.
    #[serde(default, with = "rfc3339_opt")]
    pub incident_start: Option<DateTime<Utc>>,
    /// The rule that fired (ALB notifications).
    #[serde(default)]
    pub rule: Option<RuleSummary>,
    /// Of the 5xx entries counted, those the target itself returned (ALB notifications); the
    /// others the load balancer generated (no healthy target, connection refused, timeout).
    #[serde(default)]
    pub target_5xx: Option<u64>,
    /// 5xx count per request path, ids and queries folded (`"/api/v1/products/{id}"` → n).
    #[serde(default)]
    pub paths: BTreeMap<String, u64>,
    /// The team's runbook for it (`ALBWATCH_RUNBOOK_URL`, filled in).
    #[serde(default)]
    pub runbook_url: Option<String>,
    /// The S3 console folder holding the day's log objects (with `ALBWATCH_LOG_LOCATION`).
    #[serde(default)]
    pub logs_url: Option<String>,
    /// An Athena query selecting exactly these failing lines.
    #[serde(default)]
    pub athena_query: Option<String>,
    /// 5xx per window (of `rule.window_seconds`) up to `window_end`, oldest first, from the
    /// incident's start at most 15 windows back (ALB firing notifications).
    #[serde(default)]
    pub trend: Vec<u64>,
}

/// The alert rule, as a notification states it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    /// Fewest 5xx in one window.
    pub min_5xx: u64,
    /// Smallest 5xx ÷ requests in that window (skipped when requests are unknown).
    pub min_error_rate: f64,
    /// The window's length in seconds.
    pub window_seconds: u32,
}

impl Notification {
    /// The error rate: `error_rate` if set, else `count_5xx / requests` when requests are known
    /// and non-zero.
    #[must_use]
    pub fn effective_error_rate(&self) -> Option<f64> {
        self.error_rate.or_else(|| match self.requests {
            Some(r) if r > 0 => Some(self.count_5xx as f64 / r as f64),
            _ => None,
        })
    }
}

/// Formats a timestamp the way every notification does: RFC 3339, whole seconds, `Z`.
#[must_use]
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Groups notifications by `load_balancer`, keeping the order in which each load balancer first
/// appears and the original order within each group.
#[must_use]
pub fn group_by_load_balancer(
    notifications: Vec<Notification>,
) -> Vec<(String, Vec<Notification>)> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(String, Vec<Notification>)> = Vec::new();
    for n in notifications {
        match index.get(&n.load_balancer) {
            Some(&i) => groups[i].1.push(n),
            None => {
                index.insert(n.load_balancer.clone(), groups.len());
                groups.push((n.load_balancer.clone(), vec![n]));
            }
        }
    }
    groups
}

/// Serde adapter: `DateTime<Utc>` as RFC 3339 with whole seconds and `Z`.
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde adapter: `Option<DateTime<Utc>>` as RFC 3339 or `null`.
mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_time(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A firing notification for `target` on `lb`, with one sample.
    pub(crate) fn sample_notification(lb: &str, target: &str) -> Notification {
        let t = |m: u32, s: u32| {
            Utc.with_ymd_and_hms(2025, 6, 21, 22, m, s)
                .single()
                .expect("valid time")
        };
        Notification {
            status: Status::Firing,
            source: Source::Alb,
            load_balancer: lb.to_owned(),
            target: target.to_owned(),
            target_kind: TargetKind::Target,
            target_group: Some("targetgroup/shop-web/73e2d6bc24d8a067".to_owned()),
            window_start: t(40, 0),
            window_end: t(45, 0),
            count_5xx: 42,
            requests: Some(1000),
            error_rate: Some(0.042),
            status_codes: BTreeMap::from([("502".to_owned(), 30), ("503".to_owned(), 12)]),
            error_reasons: BTreeMap::from([("TargetTimeout".to_owned(), 30)]),
            first_seen: Some(t(40, 12)),
            last_seen: Some(t(44, 59)),
            samples: vec![Sample {
                time: t(45, 0),
                client: "192.0.2.1:51234".to_owned(),
                target: Some(target.to_owned()),
                elb_status_code: Some(503),
                target_status_code: None,
                request: Some("GET https://shop.example.com:443/cart HTTP/2.0".to_owned()),
                user_agent: Some("curl/8.5.0".to_owned()),
                error_reason: Some("TargetTimeout".to_owned()),
                trace_id: Some("Root=1-67891233-abcdef012345678912345678".to_owned()),
            }],
            escalation: false,
            update: false,
            incident_start: Some(t(38, 0)),
            rule: Some(RuleSummary {
                min_5xx: 10,
                min_error_rate: 0.05,
                window_seconds: 60,
            }),
            target_5xx: Some(12),
            paths: BTreeMap::from([
                ("/cart".to_owned(), 30),
                ("/api/v1/items/{id}".to_owned(), 12),
            ]),
            runbook_url: None,
            logs_url: None,
            athena_query: None,
            trend: Vec::new(),
        }
    }

    #[test]
    fn serializes_with_exact_keys_and_formats() {
        let mut n = sample_notification("app/shop-prod/50dc6c495c0c9188", "10.0.1.11:8080");
        n.requests = None;
        n.error_rate = None;
        n.last_seen = None;
        let v = serde_json::to_value(&n).expect("serializable");
        let obj = v.as_object().expect("object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "athena_query",
                "count_5xx",
                "error_rate",
                "error_reasons",
                "escalation",
                "first_seen",
                "incident_start",
                "last_seen",
                "load_balancer",
                "logs_url",
                "paths",
                "requests",
                "rule",
                "runbook_url",
                "samples",
                "source",
                "status",
                "status_codes",
                "target",
                "target_5xx",
                "target_group",
                "target_kind",
                "trend",
                "update",
                "window_end",
                "window_start",
            ]
        );
        assert_eq!(v["status"], "firing");
        assert_eq!(v["source"], "alb");
        assert_eq!(v["target_kind"], "target");
        assert_eq!(v["window_start"], "2025-06-21T22:40:00Z");
        assert_eq!(v["first_seen"], "2025-06-21T22:40:12Z");
        assert!(v["last_seen"].is_null());
        assert!(v["requests"].is_null());
        assert!(v["error_rate"].is_null());
        assert_eq!(v["status_codes"]["502"], 30);
        assert_eq!(v["samples"][0]["time"], "2025-06-21T22:45:00Z");
        assert_eq!(v["samples"][0]["elb_status_code"], 503);
        assert!(v["samples"][0]["target_status_code"].is_null());
        let sample_keys: Vec<&str> = v["samples"][0]
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(sample_keys.len(), 9);
    }

    #[test]
    fn round_trips_and_parses_other_rfc3339_forms() {
        let n = sample_notification("app/shop-prod/50dc6c495c0c9188", "10.0.1.11:8080");
        let json = serde_json::to_string(&n).expect("serializable");
        let back: Notification = serde_json::from_str(&json).expect("deserializable");
        assert_eq!(back, n);

        let mut v = serde_json::to_value(&n).expect("serializable");
        v["window_start"] = "2025-06-21T23:40:00.5+01:00".into();
        v["target_kind"] = "target_group".into();
        v["status"] = "resolved".into();
        v["source"] = "cloudwatch_logs".into();
        let back: Notification = serde_json::from_value(v).expect("deserializable");
        assert_eq!(format_time(&back.window_start), "2025-06-21T22:40:00Z");
        assert_eq!(back.target_kind, TargetKind::TargetGroup);
        assert_eq!(back.status, Status::Resolved);
        assert_eq!(back.source, Source::CloudwatchLogs);
    }

    #[test]
    fn rejects_bad_enum_and_time() {
        let n = sample_notification("lb", "t");
        let mut v = serde_json::to_value(&n).expect("serializable");
        v["status"] = "Firing".into();
        assert!(serde_json::from_value::<Notification>(v).is_err());
        let mut v = serde_json::to_value(&n).expect("serializable");
        v["window_end"] = "yesterday".into();
        assert!(serde_json::from_value::<Notification>(v).is_err());
    }

    #[test]
    fn effective_error_rate_falls_back_to_counts() {
        let mut n = sample_notification("lb", "t");
        n.error_rate = None;
        assert_eq!(n.effective_error_rate(), Some(0.042));
        n.requests = Some(0);
        assert_eq!(n.effective_error_rate(), None);
        n.requests = None;
        assert_eq!(n.effective_error_rate(), None);
    }

    #[test]
    fn groups_by_load_balancer_in_stable_order() {
        let ns = vec![
            sample_notification("b", "1"),
            sample_notification("a", "2"),
            sample_notification("b", "3"),
            sample_notification("c", "4"),
            sample_notification("a", "5"),
        ];
        let groups = group_by_load_balancer(ns);
        let shape: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(lb, ns)| (lb.as_str(), ns.iter().map(|n| n.target.as_str()).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                ("b", vec!["1", "3"]),
                ("a", vec!["2", "5"]),
                ("c", vec!["4"])
            ]
        );
        assert!(group_by_load_balancer(Vec::new()).is_empty());
    }
}
