//! The alerter's fast record reader: [`RecordParser`] parses with reused buffers and hands
//! entries and tallies to a [`RecordVisitor`] one at a time (no `Vec` of entries), reading entries
//! of the ingest's usual form straight from the record's bytes and anything else through serde,
//! so it accepts and rejects exactly what [`Record`]'s `Deserialize` does.

use std::marker::PhantomData;

use serde::Deserialize;

use super::{RECORD_VERSION, Record, RecordEntry, RecordError, RecordHeader, Tally, scan};

/// Receives a record's entries and tallies one at a time, as [`RecordParser::parse_into`]
/// reads them (no `Vec` of entries is built).
pub trait RecordVisitor {
    /// One entry, in record order.
    fn entry(&mut self, entry: &RecordEntry<'_>);
    /// Whether [`RecordVisitor::entry`] needs this entry whole: `entry` holds only its `line`,
    /// `time`, ports and status codes so far, and the parser may leave the other fields `None`
    /// if not (it does not have to). Every entry is needed whole unless a sink says otherwise.
    fn needs_all(&self, entry: &RecordEntry<'_>) -> bool {
        let _ = entry;
        true
    }
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
struct VisitSeq<'s, S, T>(&'s mut S, PhantomData<T>);

/// An item of a record's arrays: how it reaches a [`RecordVisitor`].
trait VisitItem<'de>: Deserialize<'de> {
    /// What the array holds, for error messages.
    const EXPECTING: &'static str;
    /// Hands the item to the sink.
    fn give<S: RecordVisitor>(&self, sink: &mut S);
}

impl<'de> VisitItem<'de> for RecordEntry<'de> {
    const EXPECTING: &'static str = "an array of entries";
    fn give<S: RecordVisitor>(&self, sink: &mut S) {
        sink.entry(self);
    }
}

impl<'de> VisitItem<'de> for Tally<'de> {
    const EXPECTING: &'static str = "an array of tallies";
    fn give<S: RecordVisitor>(&self, sink: &mut S) {
        sink.tally(self);
    }
}

impl<'de, S: RecordVisitor> serde::de::DeserializeSeed<'de> for Streamed<'_, S> {
    type Value = RecordHeader<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: RecordVisitor> serde::de::Visitor<'de> for Streamed<'_, S> {
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
                    map.next_value_seed(VisitSeq::<_, RecordEntry<'de>>(
                        &mut *self.0,
                        PhantomData,
                    ))?;
                }
                RecordField::Tallies => {
                    if std::mem::replace(&mut tallies, true) {
                        return Err(A::Error::duplicate_field("tallies"));
                    }
                    map.next_value_seed(VisitSeq::<_, Tally<'de>>(&mut *self.0, PhantomData))?;
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

impl<'de, S: RecordVisitor, T: VisitItem<'de>> serde::de::DeserializeSeed<'de>
    for VisitSeq<'_, S, T>
{
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: RecordVisitor, T: VisitItem<'de>> serde::de::Visitor<'de> for VisitSeq<'_, S, T> {
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

/// Parses records one after another, reusing simd-json's scratch buffers and tape (a ~1 MB
/// record otherwise allocates and grows several buffers of its size).
pub struct RecordParser {
    buffers: simd_json::Buffers,
    /// Always empty between calls; kept for its allocation.
    tape: simd_json::Tape<'static>,
    /// What [`RecordParser::parse_into`] has simd-json read: the record without the entries it
    /// read itself, plus padding.
    rest: Vec<u8>,
}

impl Default for RecordParser {
    fn default() -> Self {
        Self {
            buffers: simd_json::Buffers::default(),
            tape: simd_json::Tape(Vec::new()),
            rest: Vec::new(),
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

    /// Parses the record `data` like [`RecordParser::parse_padded`], but hands each entry and
    /// tally to `sink` as it is read and returns only the header (borrowed from the parser).
    /// `data` is left as it is: entries of the ingest's usual form are read straight from it,
    /// decoding only what the sink needs ([`RecordVisitor::needs_all`]), and only the rest of the
    /// record is copied for simd-json and serde; a record not of that form is copied and read
    /// whole by serde, after restarting the sink ([`RecordVisitor::restart`]). On error the sink
    /// has seen part of the record: discard what it collected (the error's position may refer
    /// to the record without its entries).
    pub fn parse_into<S: RecordVisitor>(
        &mut self,
        data: &[u8],
        sink: &mut S,
    ) -> Result<RecordHeader<'_>, RecordError> {
        use serde::de::DeserializeSeed;
        // simd-json refuses records of 4 GiB and more: cut none out of those.
        let scanned = u32::try_from(data.len())
            .is_ok()
            .then(|| scan::entries(data, sink));
        let cut = match scanned {
            Some(Ok(Some(entries))) => entries,
            Some(Err(scan::Unusual)) => {
                sink.restart();
                data.len()..data.len()
            }
            Some(Ok(None)) | None => data.len()..data.len(),
        };
        let Self {
            buffers,
            tape,
            rest,
        } = self;
        rest.clear();
        rest.extend_from_slice(data.get(..cut.start).unwrap_or_default());
        rest.extend_from_slice(data.get(cut.end..).unwrap_or_default());
        let len = rest.len();
        rest.resize(len + Self::PADDING, b' ');
        let malformed = |e: simd_json::Error| RecordError::Malformed(e.to_string());
        let mut filled = std::mem::replace(tape, simd_json::Tape(Vec::new())).reset();
        if let Err(e) = simd_json::fill_tape_padded(rest, len, buffers, &mut filled) {
            *tape = filled.reset();
            return Err(malformed(e));
        }
        let mut de = simd_json::Deserializer::from_tape(filled);
        let header = Streamed(sink).deserialize(&mut de);
        *tape = de.into_tape().reset();
        let header = header.map_err(malformed)?;
        if header.v != RECORD_VERSION {
            return Err(RecordError::Version(header.v));
        }
        Ok(header)
    }

    /// Bytes of record text the parser keeps allocated.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.rest.capacity()
    }
}
