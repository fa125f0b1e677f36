//! The alerter's fast record reader: [`RecordParser`] parses with reused simd-json buffers and
//! hands entries and tallies to a [`RecordSink`] one at a time (no `Vec` of entries), reading
//! entries of the ingest's usual form straight from simd-json's tape and anything else through
//! serde, so it accepts and rejects exactly what [`Record`]'s `Deserialize` does.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::Deserialize;

use super::{RECORD_VERSION, Record, RecordEntry, RecordError, RecordHeader, Tally};

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

/// Reads the `entries` or `tallies` array into a sink, one item at a time.
struct SinkSeq<'s, S, T>(&'s mut S, PhantomData<T>);

/// An item of a record's arrays: how it reaches a [`RecordSink`].
trait SinkItem<'de>: Deserialize<'de> {
    /// What the array holds, for error messages.
    const EXPECTING: &'static str;
    /// Hands the item to the sink.
    fn give<S: RecordSink>(&self, sink: &mut S);
}

impl<'de> SinkItem<'de> for RecordEntry<'de> {
    const EXPECTING: &'static str = "an array of entries";
    fn give<S: RecordSink>(&self, sink: &mut S) {
        sink.entry(self);
    }
}

impl<'de> SinkItem<'de> for Tally<'de> {
    const EXPECTING: &'static str = "an array of tallies";
    fn give<S: RecordSink>(&self, sink: &mut S) {
        sink.tally(self);
    }
}

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
                    map.next_value_seed(SinkSeq::<_, RecordEntry<'de>>(&mut *self.0, PhantomData))?;
                }
                RecordField::Tallies => {
                    if std::mem::replace(&mut tallies, true) {
                        return Err(A::Error::duplicate_field("tallies"));
                    }
                    map.next_value_seed(SinkSeq::<_, Tally<'de>>(&mut *self.0, PhantomData))?;
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

impl<'de, S: RecordSink, T: SinkItem<'de>> serde::de::DeserializeSeed<'de> for SinkSeq<'_, S, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: RecordSink, T: SinkItem<'de>> serde::de::Visitor<'de> for SinkSeq<'_, S, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            item.give(self.0);
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
