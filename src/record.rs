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
//!   [`EntryJson`](crate::json::EntryJson) form (plus `line`) and no tallies.
//! - `(source, partition_key, seq, lines)` identifies a record: the ingest cuts records
//!   deterministically, so a re-ingested object or a retried batch yields identical ids and
//!   consumers drop the duplicates ([`Record::dedupe_key`]).
//! - Readers ignore unknown fields; a different `v` is rejected.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

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
    /// Sequence number of this record among the records of this key and object.
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

/// Receives a record's entries and tallies one at a time, as [`RecordParser::parse_padded_into`]
/// reads them (no `Vec` of entries is built).
pub trait RecordSink {
    /// One entry, in record order.
    fn entry(&mut self, entry: &RecordEntry<'_>);
    /// One tally, in record order.
    fn tally(&mut self, tally: &Tally<'_>);
    /// Forgets everything received so far: the parser reads the record again from the start.
    fn restart(&mut self);
}

/// The top-level keys of a record.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RecordField {
    V,
    Source,
    Elb,
    PartitionKey,
    KeyKind,
    Mode,
    Seq,
    Lines,
    Entries,
    Tallies,
    #[serde(other)]
    Other,
}

/// Reads a record's top-level object into its header, handing entries and tallies to a sink.
/// Accepts exactly what `Record`'s derived `Deserialize` accepts (keys in any order, unknown
/// keys ignored, duplicates rejected).
struct Streamed<'s, S>(&'s mut S);

/// Reads the `entries` array into a sink.
struct SinkEntries<'s, S>(&'s mut S);

/// Reads the `tallies` array into a sink.
struct SinkTallies<'s, S>(&'s mut S);

impl<'de, S: RecordSink> serde::de::DeserializeSeed<'de> for Streamed<'_, S> {
    type Value = RecordHeader<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: RecordSink> serde::de::Visitor<'de> for Streamed<'_, S> {
    type Value = RecordHeader<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        fn set<T, E: Error>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
            if slot.is_some() {
                return Err(E::duplicate_field(name));
            }
            *slot = Some(v);
            Ok(())
        }
        fn need<T, E: Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
            slot.ok_or_else(|| E::missing_field(name))
        }
        let (mut v, mut source, mut elb, mut partition_key) = (None, None, None, None);
        let (mut key_kind, mut mode, mut seq, mut lines) = (None, None, None, None);
        let (mut entries, mut tallies) = (false, false);
        while let Some(field) = map.next_key::<RecordField>()? {
            match field {
                RecordField::V => set(&mut v, "v", map.next_value()?)?,
                RecordField::Source => set(&mut source, "source", map.next_value()?)?,
                RecordField::Elb => set(&mut elb, "elb", map.next_value()?)?,
                RecordField::PartitionKey => {
                    set(&mut partition_key, "partition_key", map.next_value()?)?;
                }
                RecordField::KeyKind => set(&mut key_kind, "key_kind", map.next_value()?)?,
                RecordField::Mode => set(&mut mode, "mode", map.next_value()?)?,
                RecordField::Seq => set(&mut seq, "seq", map.next_value()?)?,
                RecordField::Lines => set(&mut lines, "lines", map.next_value()?)?,
                RecordField::Entries => {
                    if std::mem::replace(&mut entries, true) {
                        return Err(A::Error::duplicate_field("entries"));
                    }
                    map.next_value_seed(SinkEntries(&mut *self.0))?;
                }
                RecordField::Tallies => {
                    if std::mem::replace(&mut tallies, true) {
                        return Err(A::Error::duplicate_field("tallies"));
                    }
                    map.next_value_seed(SinkTallies(&mut *self.0))?;
                }
                RecordField::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(RecordHeader {
            v: need(v, "v")?,
            source: need(source, "source")?,
            elb: need(elb, "elb")?,
            partition_key: need(partition_key, "partition_key")?,
            key_kind: need(key_kind, "key_kind")?,
            mode: need(mode, "mode")?,
            seq: need(seq, "seq")?,
            lines: need(lines, "lines")?,
        })
    }
}

impl<'de, S: RecordSink> serde::de::DeserializeSeed<'de> for SinkEntries<'_, S> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: RecordSink> serde::de::Visitor<'de> for SinkEntries<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of entries")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(e) = seq.next_element::<RecordEntry<'de>>()? {
            self.0.entry(&e);
        }
        Ok(())
    }
}

impl<'de, S: RecordSink> serde::de::DeserializeSeed<'de> for SinkTallies<'_, S> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: RecordSink> serde::de::Visitor<'de> for SinkTallies<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of tallies")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(t) = seq.next_element::<Tally<'de>>()? {
            self.0.tally(&t);
        }
        Ok(())
    }
}

/// The tape index just past the value starting at `i`.
fn skip_value(nodes: &[simd_json::Node<'_>], i: usize) -> usize {
    match nodes.get(i) {
        Some(simd_json::Node::Object { count, .. } | simd_json::Node::Array { count, .. }) => {
            i + 1 + count
        }
        _ => i + 1,
    }
}

/// Reads a plain entry object (the ingest's form) straight from simd-json's tape into `e`:
/// `line` an unsigned integer, `time` a string, optional strings string or null, optional
/// ports and codes in `u16` range or null, no duplicate keys. Anything else gives `None`
/// (leaving `e` partly written), and serde decides (it may still accept it, e.g. an entry
/// written as an array, or reject it): this only ever accepts what `RecordEntry`'s
/// `Deserialize` accepts, with the same result.
fn tape_entry<'a>(nodes: &[simd_json::Node<'a>], at: usize, e: &mut RecordEntry<'a>) -> Option<()> {
    use simd_json::{Node, StaticNode};
    fn opt_str<'a>(v: Node<'a>) -> Option<Option<Cow<'a, str>>> {
        match v {
            Node::String(s) => Some(Some(Cow::Borrowed(s))),
            Node::Static(StaticNode::Null) => Some(None),
            _ => None,
        }
    }
    fn opt_u16(v: Node<'_>) -> Option<Option<u16>> {
        match v {
            Node::Static(StaticNode::U64(n)) => u16::try_from(n).ok().map(Some),
            Node::Static(StaticNode::Null) => Some(None),
            _ => None,
        }
    }
    let Some(&Node::Object { len, .. }) = nodes.get(at) else {
        return None;
    };
    // Reset field by field: `e` is reused from entry to entry, so no entry is moved.
    e.line = 0;
    e.time = Cow::Borrowed("");
    e.client_ip = None;
    e.client_port = None;
    e.target_ip = None;
    e.target_port = None;
    e.target_group_arn = None;
    e.elb_status_code = None;
    e.target_status_code = None;
    e.request_verb = None;
    e.request_url = None;
    e.request_proto = None;
    e.user_agent = None;
    e.error_reason = None;
    e.classification = None;
    e.trace_id = None;
    let mut seen = 0u32;
    let mut mark = |bit: u32| {
        let fresh = seen & (1 << bit) == 0;
        seen |= 1 << bit;
        fresh.then_some(())
    };
    let mut i = at + 1;
    for _ in 0..len {
        let Some(&Node::String(key)) = nodes.get(i) else {
            return None;
        };
        let v = *nodes.get(i + 1)?;
        match key {
            "line" => {
                mark(0)?;
                let Node::Static(StaticNode::U64(n)) = v else {
                    return None;
                };
                e.line = n;
            }
            "time" => {
                mark(1)?;
                let Node::String(t) = v else {
                    return None;
                };
                e.time = Cow::Borrowed(t);
            }
            "client_ip" => (mark(2)?, e.client_ip = opt_str(v)?).1,
            "client_port" => (mark(3)?, e.client_port = opt_u16(v)?).1,
            "target_ip" => (mark(4)?, e.target_ip = opt_str(v)?).1,
            "target_port" => (mark(5)?, e.target_port = opt_u16(v)?).1,
            "target_group_arn" => (mark(6)?, e.target_group_arn = opt_str(v)?).1,
            "elb_status_code" => (mark(7)?, e.elb_status_code = opt_u16(v)?).1,
            "target_status_code" => (mark(8)?, e.target_status_code = opt_u16(v)?).1,
            "request_verb" => (mark(9)?, e.request_verb = opt_str(v)?).1,
            "request_url" => (mark(10)?, e.request_url = opt_str(v)?).1,
            "request_proto" => (mark(11)?, e.request_proto = opt_str(v)?).1,
            "user_agent" => (mark(12)?, e.user_agent = opt_str(v)?).1,
            "error_reason" => (mark(13)?, e.error_reason = opt_str(v)?).1,
            "classification" => (mark(14)?, e.classification = opt_str(v)?).1,
            "trace_id" => (mark(15)?, e.trace_id = opt_str(v)?).1,
            _ => {}
        }
        i = skip_value(nodes, i + 1);
    }
    (seen & 3 == 3).then_some(())
}

/// Hands the entries of a record's tape to `sink` with [`tape_entry`] and returns the tape
/// range of the `entries` array, or `None` (having perhaps fed some entries) when the record
/// or an entry is not of the plain shape: then serde reads the whole record.
fn tape_entries<S: RecordSink>(
    nodes: &[simd_json::Node<'_>],
    sink: &mut S,
) -> Option<std::ops::Range<usize>> {
    use simd_json::Node;
    let Some(&Node::Object { len, .. }) = nodes.first() else {
        return None;
    };
    let mut found = None;
    let mut i = 1;
    for _ in 0..len {
        let Some(&Node::String(key)) = nodes.get(i) else {
            return None;
        };
        if key == "entries" {
            let Some(&Node::Array { len, count }) = nodes.get(i + 1) else {
                return None;
            };
            if found.is_some() {
                return None;
            }
            let mut j = i + 2;
            let mut entry = RecordEntry::default();
            for _ in 0..len {
                tape_entry(nodes, j, &mut entry)?;
                sink.entry(&entry);
                j = skip_value(nodes, j);
            }
            found = Some(i + 1..i + 2 + count);
        }
        i = skip_value(nodes, i + 1);
    }
    found
}

/// Parses records one after another, reusing simd-json's scratch buffers and tape (a ~1 MB
/// record otherwise allocates and grows several buffers of its size).
pub struct RecordParser {
    buffers: simd_json::Buffers,
    /// Always empty between calls; kept for its allocation.
    tape: simd_json::Tape<'static>,
    /// The tape without the entries [`RecordParser::parse_padded_into`] read itself; always
    /// empty between calls.
    rest: simd_json::Tape<'static>,
}

impl Default for RecordParser {
    fn default() -> Self {
        Self {
            buffers: simd_json::Buffers::default(),
            tape: simd_json::Tape(Vec::new()),
            rest: simd_json::Tape(Vec::new()),
        }
    }
}

impl std::fmt::Debug for RecordParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordParser")
            .field("tape_capacity", &self.tape.0.capacity())
            .finish_non_exhaustive()
    }
}

impl RecordParser {
    /// Bytes [`RecordParser::parse_padded`] needs after the record.
    pub const PADDING: usize = simd_json::INPUT_PADDING;

    /// Parses the record `data[..len]` in place, like [`Record::from_slice`]; `data[len..]` is
    /// padding of at least [`RecordParser::PADDING`] bytes (any content, left unchanged), which
    /// spares simd-json a copy of the record.
    pub fn parse_padded<'a>(
        &mut self,
        data: &'a mut [u8],
        len: usize,
    ) -> Result<Record<'a>, RecordError> {
        let malformed = |e: simd_json::Error| RecordError::Malformed(e.to_string());
        let mut tape: simd_json::Tape<'a> =
            std::mem::replace(&mut self.tape, simd_json::Tape(Vec::new())).reset();
        if let Err(e) = simd_json::fill_tape_padded(data, len, &mut self.buffers, &mut tape) {
            self.tape = tape.reset();
            return Err(malformed(e));
        }
        let mut de = simd_json::Deserializer::from_tape(tape);
        let record = Record::deserialize(&mut de);
        self.tape = de.into_tape().reset();
        record.map_err(malformed)?.checked()
    }

    /// Like [`RecordParser::parse_padded`], but hands each entry and tally to `sink` as it is
    /// read and returns only the header. Entries of the ingest's plain form are read straight
    /// from simd-json's tape; if one is not, the sink is restarted ([`RecordSink::restart`])
    /// and serde reads the whole record. On error the sink has seen part of the record: discard
    /// what it collected.
    pub fn parse_padded_into<'a, S: RecordSink>(
        &mut self,
        data: &'a mut [u8],
        len: usize,
        sink: &mut S,
    ) -> Result<RecordHeader<'a>, RecordError> {
        use serde::de::DeserializeSeed;
        let malformed = |e: simd_json::Error| RecordError::Malformed(e.to_string());
        let mut tape: simd_json::Tape<'a> =
            std::mem::replace(&mut self.tape, simd_json::Tape(Vec::new())).reset();
        if let Err(e) = simd_json::fill_tape_padded(data, len, &mut self.buffers, &mut tape) {
            self.tape = tape.reset();
            return Err(malformed(e));
        }
        // Plain entries are read straight from the tape; serde reads the rest (header,
        // tallies) from a copy of the tape without them, or the whole record if an entry is
        // not plain.
        let header = if let Some(entries) = tape_entries(&tape.0, sink) {
            let mut rest: simd_json::Tape<'a> =
                std::mem::replace(&mut self.rest, simd_json::Tape(Vec::new())).reset();
            rest.0.extend_from_slice(&tape.0[..entries.start]);
            rest.0.push(simd_json::Node::Array { len: 0, count: 0 });
            rest.0.extend_from_slice(&tape.0[entries.end..]);
            if let simd_json::Node::Object { count, .. } = &mut rest.0[0] {
                *count -= entries.len() - 1;
            }
            self.tape = tape.reset();
            let mut de = simd_json::Deserializer::from_tape(rest);
            let header = Streamed(sink).deserialize(&mut de);
            self.rest = de.into_tape().reset();
            header
        } else {
            sink.restart();
            let mut de = simd_json::Deserializer::from_tape(tape);
            let header = Streamed(sink).deserialize(&mut de);
            self.tape = de.into_tape().reset();
            header
        };
        let header = header.map_err(malformed)?;
        if header.v != RECORD_VERSION {
            return Err(RecordError::Version(header.v));
        }
        Ok(header)
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

    impl RecordSink for Collect {
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
            let mut data = text.into_bytes();
            let len = data.len();
            data.resize(len + RecordParser::PADDING, b' ');
            let mut sink = Collect::default();
            let header = parser.parse_padded_into(&mut data, len, &mut sink).unwrap();
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
            let mut data = text.clone().into_bytes();
            let len = data.len();
            data.resize(len + RecordParser::PADDING, b' ');
            let result = parser.parse_padded_into(&mut data, len, &mut Collect::default());
            assert!(result.is_err(), "{text}");
        }
    }

    /// Entries the tape reader takes itself or leaves to serde: the streaming parse must accept
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
            let mut data = text.clone().into_bytes();
            let len = data.len();
            data.resize(len + RecordParser::PADDING, b' ');
            let mut sink = Collect::default();
            let got = parser.parse_padded_into(&mut data, len, &mut sink);
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
