//! The Kinesis record format (version 1), shared by the ingest (writer) and the alerter (reader).
//!
//! One record is compact JSON holding entries of **one partition key** from one log object:
//!
//! ```json
//! {"v":1,"source":{"bucket":"logs","key":"AWSLogs/…_app.shop.….log.gz","etag":"9b2c…","version_id":null},
//!  "elb":"app/shop/50dc6c495c0c9188","partition_key":"10.0.1.11:8080","key_kind":"target",
//!  "mode":"errors","seq":0,"lines":[12,3981],
//!  "entries":[{"line":12,"time":"2025-06-21T22:45:00.123456Z","elb_status_code":502,…}],
//!  "tallies":[{"minute":"2025-06-21T22:45","total":1200,"s2xx":1180,"s3xx":0,"s4xx":8,"s5xx":12}]}
//! ```
//!
//! - `partition_key` is the target `ip:port`; entries without a target use the target group ARN
//!   (`key_kind: "target_group"`), else the load balancer (`"load_balancer"`).
//! - `mode: "errors"` records carry only 5xx entries (the fields an alert needs) plus per-minute
//!   tallies of **all** requests of that key; `mode: "all"` records carry every entry in the full
//!   [`EntryJson`](crate::alb::json::EntryJson) form (plus `line`) and no tallies.
//! - `(source, partition_key, seq, lines)` identifies a record: the ingest cuts records
//!   deterministically, so a re-ingested object or a retried batch yields identical ids and
//!   consumers drop the duplicates ([`RecordHeader::dedupe_key`]).
//! - Readers ignore unknown fields; a different `v` is rejected.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

mod scan;
mod stream;

pub use stream::{RecordParser, RecordVisitor};

/// The version this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// Deserializes an optional string borrowed from the input where the format allows it (always
/// with simd-json, which unescapes in place). serde's own `Option<Cow<str>>` always allocates
/// a `String`: it borrows only a `Cow<str>` that is not wrapped. One visitor for null and
/// string keeps this hot path (about ten fields per entry) to a single call.
fn borrowed_opt<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct OptStr;
    impl<'de> serde::de::Visitor<'de> for OptStr {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }

        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
    }
    d.deserialize_any(OptStr)
}

/// Which log object a record came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceId<'a> {
    /// S3 bucket (or `local` for files read by the CLI).
    #[serde(borrow)]
    pub bucket: Cow<'a, str>,
    /// Object key (or local path).
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// The object's ETag, when known.
    #[serde(default, borrow, deserialize_with = "borrowed_opt")]
    pub etag: Option<Cow<'a, str>>,
    /// The object's version id, when the bucket is versioned.
    #[serde(default, borrow, deserialize_with = "borrowed_opt")]
    pub version_id: Option<Cow<'a, str>>,
}

/// What the ingest forwards (`ALBWATCH_FORWARD`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardMode {
    /// 5xx entries plus per-(key, minute) tallies of all requests.
    #[default]
    Errors,
    /// Every entry.
    All,
}

/// What a partition key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A target `ip:port`.
    Target,
    /// A target group ARN (entries without a target, e.g. 503 with no healthy targets).
    TargetGroup,
    /// The load balancer (entries with neither target nor target group).
    LoadBalancer,
}

/// Everything in a record except its entries and tallies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordHeader<'a> {
    /// Format version, [`RECORD_VERSION`].
    pub v: u32,
    /// The log object the entries came from.
    #[serde(borrow)]
    pub source: SourceId<'a>,
    /// The load balancer id (one log object holds one load balancer's entries).
    #[serde(borrow)]
    pub elb: Cow<'a, str>,
    /// The Kinesis partition key of the record.
    #[serde(borrow)]
    pub partition_key: Cow<'a, str>,
    /// What the partition key names.
    pub key_kind: KeyKind,
    /// Forward mode of the ingest that wrote the record.
    pub mode: ForwardMode,
    /// Sequence number of this record among the records of this key and object, from 0; it
    /// starts again at 0 when the ingest had to forget the key (memory budget), `lines` then
    /// starting after the previous records'.
    pub seq: u64,
    /// First and last line numbers (1-based, inclusive) the record covers.
    pub lines: [u64; 2],
}

/// One 5xx (or, in `all` mode, any) entry as the alerter reads it. `all`-mode records carry more
/// keys; they are ignored here. The ingest leaves out absent (`None`) fields of `errors`-mode
/// entries instead of writing `null`: readers treat a missing field as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry<'a> {
    /// Line number in the source object.
    pub line: u64,
    /// `time` as written by ALB.
    #[serde(borrow)]
    pub time: Cow<'a, str>,
    /// Client address.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_ip: Option<Cow<'a, str>>,
    /// Client port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u16>,
    /// Target address (`None` when the load balancer answered itself).
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_ip: Option<Cow<'a, str>>,
    /// Target port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    /// Target group ARN.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_arn: Option<Cow<'a, str>>,
    /// Status code the load balancer returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elb_status_code: Option<u16>,
    /// Status code the target returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_status_code: Option<u16>,
    /// Request method.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_verb: Option<Cow<'a, str>>,
    /// Request URL (attacker-controlled text).
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_url: Option<Cow<'a, str>>,
    /// Request protocol.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_proto: Option<Cow<'a, str>>,
    /// User agent (attacker-controlled text).
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_agent: Option<Cow<'a, str>>,
    /// `error_reason`.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_reason: Option<Cow<'a, str>>,
    /// Desync `classification`.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub classification: Option<Cow<'a, str>>,
    /// X-Amzn-Trace-Id.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub trace_id: Option<Cow<'a, str>>,
}

impl RecordEntry<'_> {
    /// The 5xx status this entry counts under: the load balancer's code when it is 5xx, else
    /// the target's; `None` when neither is 5xx.
    pub fn status_5xx(&self) -> Option<u16> {
        let is_5xx = |c: &Option<u16>| c.filter(|c| (500..600).contains(c));
        is_5xx(&self.elb_status_code).or_else(|| is_5xx(&self.target_status_code))
    }
}

/// Requests of one partition key in one minute, counted by class of `elb_status_code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally<'a> {
    /// `YYYY-MM-DDTHH:MM` (UTC), the prefix of the entries' `time`.
    #[serde(borrow)]
    pub minute: Cow<'a, str>,
    /// All requests.
    pub total: u64,
    /// 2xx responses.
    pub s2xx: u64,
    /// 3xx responses.
    pub s3xx: u64,
    /// 4xx responses.
    pub s4xx: u64,
    /// Requests counted as 5xx (load balancer or target answered 5xx).
    pub s5xx: u64,
}

/// A whole record as read by consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<'a> {
    /// Identity and provenance.
    #[serde(flatten, borrow)]
    pub header: RecordHeader<'a>,
    /// Entries (5xx only in `errors` mode).
    #[serde(default, borrow)]
    pub entries: Vec<RecordEntry<'a>>,
    /// Per-minute request tallies (`errors` mode only).
    #[serde(default, borrow)]
    pub tallies: Vec<Tally<'a>>,
}

/// Why a record was rejected (poison).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of the record shape.
    #[error("not a record: {0}")]
    Malformed(String),
    /// A version this build does not read.
    #[error("unsupported record version {0} (this build reads {RECORD_VERSION})")]
    Version(u32),
}

impl<'a> Record<'a> {
    /// Parses a record in place with simd-json (the buffer is used as scratch space). To parse
    /// many records, [`RecordParser`] reuses simd-json's buffers instead of allocating them for
    /// every record.
    pub fn from_slice(data: &'a mut [u8]) -> Result<Self, RecordError> {
        let record: Record<'a> = simd_json::serde::from_slice(data)
            .map_err(|e| RecordError::Malformed(e.to_string()))?;
        record.checked()
    }

    fn checked(self) -> Result<Self, RecordError> {
        if self.header.v != RECORD_VERSION {
            return Err(RecordError::Version(self.header.v));
        }
        Ok(self)
    }
}

impl RecordHeader<'_> {
    /// A stable 64-bit id of `(source, partition_key, seq, lines)` for duplicate detection.
    pub fn dedupe_key(&self) -> u64 {
        // SipHash with fixed keys: stable across processes and runs.
        #[allow(deprecated)]
        let mut h = std::hash::SipHasher::new();
        self.source.hash(&mut h);
        self.partition_key.hash(&mut h);
        self.seq.hash(&mut h);
        self.lines.hash(&mut h);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> String {
        r#"{"v":1,"source":{"bucket":"b","key":"k e\"y","etag":"e1","version_id":null},"elb":"app/shop/1","partition_key":"10.0.1.11:8080","key_kind":"target","mode":"errors","seq":3,"lines":[10,20],"entries":[{"line":12,"time":"2025-06-21T22:45:00.1Z","elb_status_code":502,"target_status_code":502,"request_url":"https://x/<!channel>","unknown":1}],"tallies":[{"minute":"2025-06-21T22:45","total":10,"s2xx":8,"s3xx":0,"s4xx":0,"s5xx":2}]}"#.to_owned()
    }

    #[test]
    fn reads_a_record_with_simd_json() {
        let mut data = sample().into_bytes();
        let r = Record::from_slice(&mut data).unwrap();
        assert_eq!(r.header.source.key, "k e\"y");
        assert_eq!(r.header.seq, 3);
        assert_eq!(r.entries[0].status_5xx(), Some(502));
        assert_eq!(
            r.entries[0].request_url.as_deref(),
            Some("https://x/<!channel>")
        );
        assert_eq!(r.tallies[0].s5xx, 2);
    }

    #[test]
    fn round_trips_and_rejects_other_versions() {
        let mut data = sample().into_bytes();
        let r = Record::from_slice(&mut data).unwrap();
        let key = r.header.dedupe_key();
        let mut again = serde_json::to_vec(&r).unwrap();
        // Absent entry fields are left out, not written as null.
        let entry = serde_json::to_string(&r.entries[0]).unwrap();
        assert!(
            entry.contains("\"request_url\":") && !entry.contains("null"),
            "{entry}"
        );
        let r2 = Record::from_slice(&mut again).unwrap();
        assert_eq!(r2.header.dedupe_key(), key);
        assert_eq!(r2.entries, r.entries);

        let mut v2 = sample().replace("\"v\":1", "\"v\":2").into_bytes();
        assert!(matches!(
            Record::from_slice(&mut v2),
            Err(RecordError::Version(2))
        ));
        let mut junk = b"{not json".to_vec();
        assert!(matches!(
            Record::from_slice(&mut junk),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn a_reused_parser_reads_records_like_from_slice() {
        let mut parser = RecordParser::default();
        for text in [sample(), sample().replace("\"seq\":3", "\"seq\":4")] {
            let mut expected_data = text.clone().into_bytes();
            let expected = Record::from_slice(&mut expected_data).unwrap();
            let mut data = text.into_bytes();
            let len = data.len();
            data.resize(len + RecordParser::PADDING, b'x');
            assert_eq!(parser.parse_padded(&mut data, len).unwrap(), expected);
            assert!(data[len..].iter().all(|&b| b == b'x'));
        }
        let mut v2 = sample().replace("\"v\":1", "\"v\":2").into_bytes();
        let len = v2.len();
        v2.resize(len + RecordParser::PADDING, b' ');
        assert!(matches!(
            parser.parse_padded(&mut v2, len),
            Err(RecordError::Version(2))
        ));
        for junk in [&b"{not json"[..], b"", b"[1,2]"] {
            let mut data = junk.to_vec();
            data.resize(junk.len() + RecordParser::PADDING, b' ');
            assert!(matches!(
                parser.parse_padded(&mut data, junk.len()),
                Err(RecordError::Malformed(_))
            ));
        }
        let mut short = sample().into_bytes();
        let len = short.len();
        assert!(parser.parse_padded(&mut short, len).is_err());
        let mut data = sample().into_bytes();
        let len = data.len();
        data.resize(len + RecordParser::PADDING, 0);
        assert_eq!(parser.parse_padded(&mut data, len).unwrap().header.seq, 3);
    }

    /// Collects what a streaming parse hands over, as JSON.
    #[derive(Default)]
    struct Collect {
        entries: Vec<String>,
        tallies: Vec<String>,
    }

    impl RecordVisitor for Collect {
        fn entry(&mut self, e: &RecordEntry<'_>) {
            self.entries.push(serde_json::to_string(e).unwrap());
        }

        fn tally(&mut self, t: &Tally<'_>) {
            self.tallies.push(serde_json::to_string(t).unwrap());
        }

        fn restart(&mut self) {
            *self = Self::default();
        }
    }

    fn to_json<T: Serialize>(items: &[T]) -> Vec<String> {
        items
            .iter()
            .map(|i| serde_json::to_string(i).unwrap())
            .collect()
    }

    #[test]
    fn a_streaming_parse_reads_what_a_whole_parse_reads() {
        let reordered = r#"{"entries":[{"line":1,"time":"t1","elb_status_code":503},{"time":"t2","line":2}],"x":{"y":[1]},"tallies":[],"lines":[1,2],"seq":9,"mode":"all","key_kind":"load_balancer","partition_key":"p","elb":"e","source":{"bucket":"b","key":"k"},"v":1}"#;
        let mut parser = RecordParser::default();
        for text in [
            sample(),
            reordered.to_owned(),
            sample().replace(",\"tallies\":[", ",\"z\":null,\"tallies\":["),
        ] {
            let mut whole = text.clone().into_bytes();
            let expected = Record::from_slice(&mut whole).unwrap();
            let mut sink = Collect::default();
            let header = parser.parse_into(text.as_bytes(), &mut sink).unwrap();
            assert_eq!(header, expected.header);
            assert_eq!(sink.entries, to_json(&expected.entries));
            assert_eq!(sink.tallies, to_json(&expected.tallies));
        }
        let rejected = [
            sample().replace("\"v\":1", "\"v\":2"),
            sample().replace("\"seq\":3,", ""),
            sample().replace("\"seq\":3,", "\"seq\":3,\"seq\":3,"),
            sample().replace("\"tallies\":", "\"tallies\":[],\"tallies\":"),
            sample().replace("\"line\":12", "\"line\":null"),
            "[1,2]".to_owned(),
            "{not json".to_owned(),
        ];
        for text in rejected {
            let mut whole = text.clone().into_bytes();
            assert!(Record::from_slice(&mut whole).is_err(), "{text}");
            let result = parser.parse_into(text.as_bytes(), &mut Collect::default());
            assert!(result.is_err(), "{text}");
        }
    }

    /// Entries the fast reader takes itself or leaves to serde: the streaming parse must accept
    /// and reject exactly what a whole parse does, with the same entries.
    #[test]
    fn a_streaming_parse_agrees_on_unusual_entries() {
        let entries = [
            r#"{"line":1,"time":"t","client_port":80,"user_agent":null,"x":{"a":[1,{"b":[]}]},"y":[]}"#,
            r#"{"li\u006ee":7,"time":"t\"q","error_reason":"a\nb"}"#,
            r#"[5,"t"]"#,
            r#"[5,"t",null,8080]"#,
            r#"{"line":-1,"time":"t"}"#,
            r#"{"line":1.5,"time":"t"}"#,
            r#"{"line":1,"time":"t","client_port":70000}"#,
            r#"{"line":1,"time":"t","client_port":-1}"#,
            r#"{"line":1,"time":"t","client_port":"80"}"#,
            r#"{"line":1,"time":null}"#,
            r#"{"line":1}"#,
            r#"{"time":"t"}"#,
            r#"{"line":1,"time":"t","user_agent":1}"#,
            r#"{"line":1,"time":"t","user_agent":{}}"#,
            r#"{"line":1,"time":"t","line":2}"#,
            r#"{"line":1,"time":"t","trace_id":"a","trace_id":"b"}"#,
            r#"{"line":1,"time":"t","elb_status_code":true}"#,
            "null",
            "1",
        ];
        let plain = r#"{"line":3,"time":"t3","elb_status_code":502}"#;
        let mut parser = RecordParser::default();
        let entries_of_sample = r#""entries":[{"line":12,"time":"2025-06-21T22:45:00.1Z","elb_status_code":502,"target_status_code":502,"request_url":"https://x/<!channel>","unknown":1}]"#;
        let with = |value: &str| sample().replace(entries_of_sample, value);
        let mut texts: Vec<String> = Vec::new();
        for e in entries {
            for list in [
                e.to_owned(),
                format!("{plain},{e}"),
                format!("{e},{plain},{plain}"),
            ] {
                texts.push(with(&format!(r#""entries":[{list}]"#)));
            }
        }
        for value in [
            r#""entries":null"#,
            r#""entries":{}"#,
            r#""entries":[]"#,
            r#""entries":[],"entries":[]"#,
            r#""x":[]"#,
        ] {
            texts.push(with(value));
        }
        assert!(texts.iter().all(|t| *t != sample()));
        let mut accepted = 0;
        for text in texts {
            let mut whole = text.clone().into_bytes();
            let expected = Record::from_slice(&mut whole);
            let mut sink = Collect::default();
            let got = parser.parse_into(text.as_bytes(), &mut sink);
            match (expected, got) {
                (Ok(expected), Ok(header)) => {
                    assert_eq!(header, expected.header, "{text}");
                    assert_eq!(sink.entries, to_json(&expected.entries), "{text}");
                    assert_eq!(sink.tallies, to_json(&expected.tallies), "{text}");
                    accepted += 1;
                }
                (Err(_), Err(_)) => {}
                (expected, got) => panic!("{text}: {expected:?} vs {got:?}"),
            }
        }
        // The nested-unknown, escaped-key and array-form entries, an empty list and none.
        assert_eq!(accepted, 4 * 3 + 2);
    }

    /// What a field of an entry holds.
    #[derive(Clone, Copy)]
    enum Kind {
        Line,
        Text,
        OptText,
        OptPort,
        Float,
        Count,
        Texts,
    }

    /// The keys of an `all`-mode entry (and a repeated one, for unusual entries).
    const FIELDS: [(&str, Kind); 20] = [
        ("line", Kind::Line),
        ("type", Kind::OptText),
        ("time", Kind::Text),
        ("elb", Kind::Text),
        ("client_ip", Kind::OptText),
        ("client_port", Kind::OptPort),
        ("target_ip", Kind::OptText),
        ("target_port", Kind::OptPort),
        ("request_processing_time", Kind::Float),
        ("elb_status_code", Kind::OptPort),
        ("target_status_code", Kind::OptPort),
        ("received_bytes", Kind::Count),
        ("request_verb", Kind::OptText),
        ("request_url", Kind::OptText),
        ("request_proto", Kind::OptText),
        ("user_agent", Kind::OptText),
        ("target_group_arn", Kind::OptText),
        ("trace_id", Kind::OptText),
        ("error_reason", Kind::OptText),
        ("extra", Kind::Texts),
    ];
    const MORE_FIELDS: [(&str, Kind); 3] = [
        ("classification", Kind::OptText),
        ("matched_rule_priority", Kind::Count),
        ("trace_id", Kind::OptText),
    ];

    /// Any JSON value, usual in entries or not.
    fn wild_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            (0u64..100_000).prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec(("[a-z_]{1,5}", inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A value of the field's kind, as the ingest writes it; `None` when the field is absent.
    fn usual_value(kind: Kind) -> BoxedStrategy<Option<serde_json::Value>> {
        use serde_json::Value;
        let text = "\\PC{0,24}";
        let value: BoxedStrategy<Value> = match kind {
            Kind::Line => return (0u64..100_000_000_000).prop_map(|n| Some(n.into())).boxed(),
            Kind::Text => return text.prop_map(|s| Some(s.into())).boxed(),
            Kind::OptText => text.prop_map(Value::from).boxed(),
            Kind::OptPort => any::<u16>().prop_map(Value::from).boxed(),
            Kind::Float => (-1000i64..10_000_000)
                .prop_map(|n| Value::from(n as f64 / 1000.0))
                .boxed(),
            Kind::Count => (0u64..1 << 40).prop_map(Value::from).boxed(),
            Kind::Texts => prop::collection::vec(text, 0..3)
                .prop_map(Value::from)
                .boxed(),
        };
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            6 => value.prop_map(Some),
        ]
        .boxed()
    }

    /// An entry's JSON text, keys in the order of [`FIELDS`] or, if `shuffled`, in any order;
    /// `wild` also gives values of any type, missing `line` or `time` and repeated keys.
    fn entry_text(wild: bool, shuffled: bool) -> impl Strategy<Value = String> {
        let mut fields: Vec<(&str, Kind)> = FIELDS.to_vec();
        if wild {
            fields.extend(MORE_FIELDS);
        }
        let values: Vec<BoxedStrategy<Option<(&str, serde_json::Value)>>> = fields
            .into_iter()
            .map(|(name, kind)| {
                let value = if wild {
                    prop_oneof![
                        9 => usual_value(kind),
                        1 => Just(None),
                        1 => wild_value().prop_map(Some),
                    ]
                    .boxed()
                } else {
                    usual_value(kind)
                };
                value.prop_map(move |v| v.map(|v| (name, v))).boxed()
            })
            .collect();
        let values = if shuffled {
            values.prop_shuffle().boxed()
        } else {
            values.boxed()
        };
        values.prop_map(|fields| {
            let fields: Vec<String> = fields
                .into_iter()
                .flatten()
                .map(|(name, value)| format!("\"{name}\":{value}"))
                .collect();
            format!("{{{}}}", fields.join(","))
        })
    }

    /// A record's JSON text with entries from [`entry_text`], in a few layouts.
    fn record_text(wild: bool) -> impl Strategy<Value = String> {
        (
            any::<bool>().prop_flat_map(move |shuffled| {
                prop::collection::vec(entry_text(wild, shuffled), 0..5)
            }),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(entries, entries_first, tallies)| {
                let header = r#""v":1,"source":{"bucket":"b","key":"k","etag":null},"elb":"app/shop/1","partition_key":"10.0.1.11:8080","key_kind":"target","mode":"all","seq":0,"lines":[1,9]"#;
                let entries = format!(r#""entries":[{}]"#, entries.join(","));
                let tallies = if tallies {
                    r#","tallies":[{"minute":"2025-06-21T22:45","total":3,"s2xx":1,"s3xx":0,"s4xx":0,"s5xx":2}]"#
                } else {
                    ""
                };
                if entries_first {
                    format!("{{{entries},{header}{tallies}}}")
                } else {
                    format!("{{{header},{entries}{tallies}}}")
                }
            })
    }

    /// Reads `text` with a streaming parse and a whole parse: both fail, or both read the same
    /// header, entries and tallies. Returns whether it was accepted.
    fn read_alike(text: &[u8]) -> Result<bool, TestCaseError> {
        let mut whole = text.to_vec();
        let expected = Record::from_slice(&mut whole);
        let mut sink = Collect::default();
        let mut parser = RecordParser::default();
        let got = parser.parse_into(text, &mut sink);
        match (expected, got) {
            (Ok(expected), Ok(header)) => {
                prop_assert_eq!(header, expected.header);
                prop_assert_eq!(sink.entries, to_json(&expected.entries));
                prop_assert_eq!(sink.tallies, to_json(&expected.tallies));
                Ok(true)
            }
            (Err(_), Err(_)) => Ok(false),
            (expected, got) => Err(TestCaseError::fail(format!("{expected:?} vs {got:?}"))),
        }
    }

    proptest! {
        #[test]
        fn usual_entries_are_scanned_like_serde_reads_them(text in record_text(false)) {
            let mut sink = Collect::default();
            prop_assert!(matches!(scan::entries(text.as_bytes(), &mut sink), Ok(Some(_))));
            prop_assert!(read_alike(text.as_bytes())?);
        }

        #[test]
        fn unusual_entries_are_read_like_serde_reads_them(text in record_text(true)) {
            read_alike(text.as_bytes())?;
        }

        #[test]
        fn damaged_records_are_read_like_serde_reads_them(
            text in record_text(false),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), 0u8..3, prop::sample::select(&b"\"\\,:{}[]0-.eEun \x01\xc3"[..])),
                1..4,
            ),
        ) {
            let mut data = text.into_bytes();
            for (at, edit, byte) in edits {
                let at = at.index(data.len() + 1);
                match edit {
                    0 => data.insert(at, byte),
                    1 if at < data.len() => data[at] = byte,
                    _ if at < data.len() => {
                        data.remove(at);
                    }
                    _ => {}
                }
            }
            read_alike(&data)?;
        }
    }

    #[test]
    fn optional_strings_borrow_from_the_input() {
        let mut data = sample().into_bytes();
        let r = Record::from_slice(&mut data).unwrap();
        assert!(matches!(r.header.source.etag, Some(Cow::Borrowed("e1"))));
        assert!(matches!(
            r.entries[0].request_url,
            Some(Cow::Borrowed("https://x/<!channel>"))
        ));
        assert_eq!(r.entries[0].user_agent, None);
        assert_eq!(r.header.source.version_id, None);
        // serde_json cannot borrow an escaped string; it still reads it.
        let json =
            r#"{"line":1,"time":"t","user_agent":"a \"b\"","trace_id":"x","error_reason":null}"#;
        let e: RecordEntry<'_> = serde_json::from_str(json).unwrap();
        assert_eq!(e.user_agent.as_deref(), Some("a \"b\""));
        assert!(matches!(e.trace_id, Some(Cow::Borrowed("x"))));
        assert_eq!(e.error_reason, None);
        for bad in [
            r#"{"line":1,"time":"t","user_agent":1}"#,
            r#"{"line":1,"time":"t","user_agent":[]}"#,
        ] {
            assert!(
                serde_json::from_str::<RecordEntry<'_>>(bad).is_err(),
                "{bad}"
            );
            let mut data = bad.as_bytes().to_vec();
            assert!(
                simd_json::serde::from_slice::<RecordEntry<'_>>(&mut data).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn status_5xx_prefers_the_load_balancer_code() {
        let mut data = sample().into_bytes();
        let mut e = Record::from_slice(&mut data).unwrap().entries.remove(0);
        e.elb_status_code = Some(200);
        e.target_status_code = Some(503);
        assert_eq!(e.status_5xx(), Some(503));
        e.target_status_code = Some(404);
        assert_eq!(e.status_5xx(), None);
    }
}
