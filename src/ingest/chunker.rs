//! Parsed entries → [`record`](crate::record) JSON, one stream of records per partition key.
//!
//! # Cutting rules (deterministic: the same object and settings give the same records)
//! - Each key accumulates serialized entries. Before an entry is added, if the record would
//!   then exceed `max_record_bytes` (data + partition key, with the header sized for the
//!   largest `seq` and line numbers), the buffer is cut into a record covering the lines up
//!   to the previous one.
//! - **Memory budget.** The state held per key (the key and its load balancer name, buffered
//!   entries, tallies, and a fixed cost per key for its map slot) is accounted in bytes
//!   computed from the input alone, never from timing or the allocator. After a line is added,
//!   if the total exceeds `max_buffered_bytes`, the least recently seen keys (by the line of
//!   their latest entry, so this line's key goes last) are cut into records ending at this line
//!   and forgotten, until the total is at most 3/4 of the budget. A key seen again starts
//!   afresh: `seq` from 0, first record starting after the line of the latest eviction. Memory
//!   is thus bounded whatever the number of keys, while an object whose state fits the budget
//!   is cut exactly as without one.
//! - At the end of the object every key still held gets a final record covering up to the
//!   last line; [`Chunker::finish`] makes them one key at a time, least recently seen first.
//! - In `errors` mode every record carries the key's per-minute [`Tally`]s of the lines it
//!   covers (every request, not only the 5xx it forwards), spilling into further tally-only
//!   records with the same `lines` when they do not fit in one. A record's 5xx entries thus
//!   always arrive with their request counts, whichever Kinesis batch they land in.
//! - A key's records therefore cover increasing, disjoint line ranges that hold every line of
//!   that key (tally spill records repeat a range with the next `seq`). The first starts at
//!   line 1, or after the latest eviction for a key state created after one; each next record
//!   of the same state starts right after the previous one ends; the last ends at the object's
//!   last line unless the key was evicted and not seen again. `seq` counts the records of one
//!   key state from 0, so `(partition_key, seq, lines)` identifies a record of the object.
//! - An entry too large for a record on its own has its longest text fields (URL and user
//!   agent first) cut and marked with [`TRUNCATION_MARK`]; it is never dropped. If even that
//!   does not fit (a record limit of about 1 KiB in `all` mode, whose entries carry 38 keys),
//!   the record is written larger than the configured limit (still far below Kinesis' 1 MiB)
//!   and counted in [`ChunkStats::oversized`].
//!
//! Call [`Chunker::push`] with increasing line numbers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::mem::size_of;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::alb::escape::unescape;
use crate::alb::json::EntryJson;
use crate::alb::{AlbEntry, Field, is_absent};
use crate::ingest::config::IngestConfig;
use crate::ingest::partition::partition_key;
use crate::ingest::sink::OutRecord;
use crate::record::{
    ForwardMode, KeyKind, RECORD_VERSION, RecordEntry, RecordHeader, SourceId, Tally,
};
use crate::text::clip_chars;

/// Appended to a text field cut to make an entry fit in a record.
pub const TRUNCATION_MARK: &str = "…";
/// Longest `elb` kept in record headers, in characters.
pub const MAX_ELB_CHARS: usize = 256;
/// Fields cut first when an entry is too large.
const SHRINK_FIRST: [&str; 2] = ["request_url", "user_agent"];
/// Bound on shrink rounds (each round cuts one field).
const MAX_SHRINK_ROUNDS: usize = 128;
/// Accounted bytes of a key besides its text, entries and tallies: its hash-map slot (key
/// `String` and state, one control byte, the table's 1/8 spare room).
const KEY_BYTES: usize = (size_of::<String>() + size_of::<KeyState>() + 1) * 8 / 7;
/// Accounted bytes of one per-minute tally besides its minute text.
const TALLY_BYTES: usize = size_of::<(Box<str>, Counts)>();

const ENTRIES_OPEN: &[u8] = b",\"entries\":[";
const TALLIES_OPEN: &[u8] = b",\"tallies\":[";
const ARRAY_CLOSE: &[u8] = b"]";
const OBJECT_CLOSE: &[u8] = b"}";

/// Counters of one object's chunking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkStats {
    /// Entries written into records.
    pub forwarded: u64,
    /// Entries whose text fields were cut to fit a record.
    pub truncated: u64,
    /// Entries still larger than a record after cutting every text field (written anyway).
    pub oversized: u64,
    /// Records produced.
    pub records: u64,
    /// Bytes produced (data + partition keys).
    pub bytes: u64,
    /// Key states created: the distinct partition keys, plus one each time an evicted key
    /// comes back.
    pub keys: u64,
    /// Key states cut into records and forgotten to stay within the memory budget.
    pub evicted: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    total: u64,
    s2xx: u64,
    s3xx: u64,
    s4xx: u64,
    s5xx: u64,
}

impl Counts {
    fn add(&mut self, entry: &AlbEntry<'_>) {
        self.total += 1;
        if entry.is_5xx() {
            self.s5xx += 1;
            return;
        }
        match entry.elb_status_code() {
            Some(200..=299) => self.s2xx += 1,
            Some(300..=399) => self.s3xx += 1,
            Some(400..=499) => self.s4xx += 1,
            _ => {}
        }
    }
}

/// One partition key's state (the key itself is its map key).
#[derive(Debug)]
struct KeyState {
    kind: KeyKind,
    /// Shared by the keys of one load balancer (normally all of an object's).
    elb: Arc<str>,
    /// Upper bound of everything in a record but entries and tallies, partition key included.
    overhead: usize,
    /// `seq` of the next record.
    seq: u64,
    /// First line of the next record.
    start: u64,
    /// Line of the key's latest entry: eviction takes the smallest first.
    last_seen: u64,
    /// Serialized entries, comma-separated.
    entries: Vec<u8>,
    count: u32,
    /// Per-minute counts, sorted by minute.
    tallies: Vec<(Box<str>, Counts)>,
}

/// Everything of a [`Chunker`] but its keys, so that a key's state can be borrowed from the
/// map while records are written.
#[derive(Debug)]
struct Writer {
    source: SourceId<'static>,
    mode: ForwardMode,
    max_record: usize,
    /// Accounted bytes of every key state held (see the module docs).
    held: usize,
    /// First line of a key state created now: 1, or the line after the latest eviction.
    floor: u64,
    /// The `elb` of the latest key created.
    elb: Option<Arc<str>>,
    entry: Vec<u8>,
    ready: Vec<OutRecord>,
    stats: ChunkStats,
}

/// Turns one object's entries into records (see the module docs for the rules).
#[derive(Debug)]
pub struct Chunker {
    out: Writer,
    budget: usize,
    keys: HashMap<String, KeyState>,
    key_scratch: String,
}

impl Chunker {
    /// A chunker for the object `source` with the record size, memory budget and forward mode
    /// of `config`.
    #[must_use]
    pub fn new(source: SourceId<'static>, config: &IngestConfig) -> Self {
        Self {
            out: Writer {
                source,
                mode: config.forward,
                max_record: config.max_record_bytes,
                held: 0,
                floor: 1,
                elb: None,
                entry: Vec::new(),
                ready: Vec::new(),
                stats: ChunkStats::default(),
            },
            budget: config.max_buffered_bytes,
            keys: HashMap::new(),
            key_scratch: String::new(),
        }
    }

    /// Adds the entry parsed from line `line` (1-based, increasing between calls).
    pub fn push(&mut self, line: u64, entry: &AlbEntry<'_>) {
        let kind = partition_key(entry, &mut self.key_scratch);
        let key = self.key_scratch.as_str();
        let out = &mut self.out;
        let state = match self.keys.get_mut(key) {
            Some(state) => state,
            None => {
                let state = out.new_state(key, kind, entry);
                out.held += state.bytes(key);
                out.stats.keys += 1;
                self.keys.entry(key.to_owned()).or_insert(state)
            }
        };
        state.last_seen = line;
        let forward = match out.mode {
            ForwardMode::Errors => entry.is_5xx(),
            ForwardMode::All => true,
        };
        if forward {
            out.serialize(line, entry);
            out.append(key, state, line);
        }
        // After `append`: a record it cuts ends at the previous line, so its tallies must not
        // count this one.
        if out.mode == ForwardMode::Errors {
            out.held += state.tally(entry);
        }
        if out.held > self.budget {
            self.evict(line);
        }
    }

    /// Ends the object, whose last line is `last_line`: the records not taken yet, then every
    /// key's final record(s), made one key at a time as the iterator is consumed.
    pub fn finish(&mut self, last_line: u64) -> FinalRecords<'_> {
        let mut keys: Vec<(String, KeyState)> =
            std::mem::take(&mut self.keys).into_iter().collect();
        keys.sort_unstable_by_key(|(_, state)| std::cmp::Reverse(state.last_seen));
        FinalRecords {
            current: std::mem::take(&mut self.out.ready).into_iter(),
            out: &mut self.out,
            keys,
            last_line,
        }
    }

    /// Whether records are waiting to be taken.
    #[must_use]
    pub fn has_ready(&self) -> bool {
        !self.out.ready.is_empty()
    }

    /// Takes the records produced so far, in production order.
    pub fn take_ready(&mut self) -> Vec<OutRecord> {
        std::mem::take(&mut self.out.ready)
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> ChunkStats {
        self.out.stats
    }

    /// Accounted bytes of the per-key state held now; at most `max_buffered_bytes` between
    /// calls to [`push`](Self::push).
    #[must_use]
    pub fn buffered_bytes(&self) -> usize {
        self.out.held
    }

    /// Cuts the least recently seen keys into records ending at `line` and forgets them, until
    /// at most 3/4 of the budget is held.
    fn evict(&mut self, line: u64) {
        let keep = self.budget - self.budget / 4;
        let mut order: Vec<(u64, usize)> = self
            .keys
            .iter()
            .map(|(key, state)| (state.last_seen, state.bytes(key)))
            .collect();
        order.sort_unstable();
        let mut held = self.out.held;
        let mut newest_evicted = None;
        for (last_seen, bytes) in order {
            if held <= keep {
                break;
            }
            held = held.saturating_sub(bytes);
            newest_evicted = Some(last_seen);
        }
        let Some(newest) = newest_evicted else {
            return;
        };
        let mut victims: Vec<(String, KeyState)> = self
            .keys
            .extract_if(|_, state| state.last_seen <= newest)
            .collect();
        victims.sort_unstable_by_key(|(_, state)| state.last_seen);
        for (key, mut state) in victims {
            self.out.release(&key, &mut state, line);
            self.out.stats.evicted += 1;
        }
        self.out.floor = line + 1;
    }
}

/// The final records of an object, from [`Chunker::finish`].
#[derive(Debug)]
pub struct FinalRecords<'a> {
    out: &'a mut Writer,
    /// Keys not cut yet, the next one last.
    keys: Vec<(String, KeyState)>,
    last_line: u64,
    current: std::vec::IntoIter<OutRecord>,
}

impl Iterator for FinalRecords<'_> {
    type Item = OutRecord;

    fn next(&mut self) -> Option<OutRecord> {
        loop {
            if let Some(record) = self.current.next() {
                return Some(record);
            }
            let (key, mut state) = self.keys.pop()?;
            self.out.release(&key, &mut state, self.last_line);
            self.current = std::mem::take(&mut self.out.ready).into_iter();
        }
    }
}

impl Writer {
    /// A new state for `key`, whose first entry is `entry`.
    fn new_state(&mut self, key: &str, kind: KeyKind, entry: &AlbEntry<'_>) -> KeyState {
        let elb = entry.elb();
        let elb = clip_chars(&elb, MAX_ELB_CHARS);
        let elb = match &self.elb {
            Some(shared) if **shared == *elb => Arc::clone(shared),
            _ => Arc::clone(self.elb.insert(Arc::from(elb))),
        };
        let mut state = KeyState {
            kind,
            elb,
            overhead: 0,
            seq: 0,
            start: self.floor,
            last_seen: 0,
            entries: Vec::new(),
            count: 0,
            tallies: Vec::new(),
        };
        let mut header = Vec::new();
        write_header(
            &mut header,
            &self.source,
            key,
            &state,
            self.mode,
            u64::MAX,
            [u64::MAX; 2],
        );
        let tallies = match self.mode {
            ForwardMode::Errors => TALLIES_OPEN.len() + ARRAY_CLOSE.len(),
            ForwardMode::All => 0,
        };
        state.overhead = header.len()
            + ENTRIES_OPEN.len()
            + ARRAY_CLOSE.len()
            + tallies
            + OBJECT_CLOSE.len()
            + key.len();
        state
    }

    /// Serializes the entry into `self.entry`.
    fn serialize(&mut self, line: u64, entry: &AlbEntry<'_>) {
        self.entry.clear();
        let written = match self.mode {
            ForwardMode::Errors => {
                serde_json::to_writer(&mut self.entry, &record_entry(line, entry))
            }
            ForwardMode::All => {
                let _ = write!(ByteWriter(&mut self.entry), "{{\"line\":{line},");
                let brace = self.entry.len();
                let result = serde_json::to_writer(&mut self.entry, &EntryJson::new(entry));
                if result.is_ok() && self.entry.get(brace) == Some(&b'{') {
                    self.entry.remove(brace);
                }
                result
            }
        };
        if written.is_err() {
            // Serializing strings and numbers into a Vec does not fail; keep the line anyway.
            self.entry.clear();
            let _ = write!(
                ByteWriter(&mut self.entry),
                "{{\"line\":{line},\"time\":\"\"}}"
            );
        }
    }

    /// Adds `self.entry` (from line `line`) to `key`'s buffer, cutting a record first when it
    /// would not fit.
    fn append(&mut self, key: &str, state: &mut KeyState, line: u64) {
        let room = self.max_record.saturating_sub(state.overhead);
        if self.entry.len() > room {
            self.stats.truncated += 1;
            if !shrink_entry(&mut self.entry, room) {
                self.stats.oversized += 1;
            }
        }
        if state.count > 0
            && state.overhead + state.entries.len() + 1 + self.entry.len() > self.max_record
        {
            self.cut(key, state, line.saturating_sub(1));
        }
        if state.count > 0 {
            state.entries.push(b',');
            self.held += 1;
        }
        state.entries.extend_from_slice(&self.entry);
        state.count += 1;
        self.held += self.entry.len();
        self.stats.forwarded += 1;
    }

    /// Cuts `key`'s last record(s), ending at `end`, and drops its state.
    fn release(&mut self, key: &str, state: &mut KeyState, end: u64) {
        self.cut(key, state, end);
        self.held = self.held.saturating_sub(state.bytes(key));
    }

    /// Emits `key`'s buffered entries as a record covering lines `start..=end`, with
    /// (`errors` mode) the tallies of those lines; tallies that do not fit spill into further
    /// tally-only records with the same `lines`.
    fn cut(&mut self, key: &str, state: &mut KeyState, end: u64) {
        let end = end.max(state.start);
        self.held = self
            .held
            .saturating_sub(state.entries.len() + state.tally_bytes());
        let tallies: Vec<Vec<u8>> = std::mem::take(&mut state.tallies)
            .iter()
            .filter_map(|(minute, c)| {
                serde_json::to_vec(&Tally {
                    minute: Cow::Borrowed(minute),
                    total: c.total,
                    s2xx: c.s2xx,
                    s3xx: c.s3xx,
                    s4xx: c.s4xx,
                    s5xx: c.s5xx,
                })
                .ok()
            })
            .collect();
        let mut pending = tallies.iter().peekable();
        loop {
            let mut data = Vec::with_capacity(state.overhead + state.entries.len());
            write_header(
                &mut data,
                &self.source,
                key,
                state,
                self.mode,
                state.seq,
                [state.start, end],
            );
            data.extend_from_slice(ENTRIES_OPEN);
            data.extend_from_slice(&state.entries);
            data.extend_from_slice(ARRAY_CLOSE);
            let mut items = state.count as usize;
            if self.mode == ForwardMode::Errors {
                data.extend_from_slice(TALLIES_OPEN);
                let mut first = true;
                while let Some(tally) = pending.peek() {
                    let size = data.len()
                        + usize::from(!first)
                        + tally.len()
                        + ARRAY_CLOSE.len()
                        + OBJECT_CLOSE.len()
                        + key.len();
                    if size > self.max_record && items > 0 {
                        break;
                    }
                    if !first {
                        data.push(b',');
                    }
                    data.extend_from_slice(tally);
                    first = false;
                    items += 1;
                    pending.next();
                }
                data.extend_from_slice(ARRAY_CLOSE);
            }
            data.extend_from_slice(OBJECT_CLOSE);
            self.emit(OutRecord {
                partition_key: key.to_owned(),
                data,
                seq: state.seq,
                lines: [state.start, end],
                entries: state.count,
            });
            state.seq += 1;
            state.entries.clear();
            state.count = 0;
            if pending.peek().is_none() {
                break;
            }
        }
        // A cut buffer keeps no capacity: the budget accounts for lengths only.
        state.entries = Vec::new();
        state.start = end + 1;
    }

    fn emit(&mut self, record: OutRecord) {
        self.stats.records += 1;
        self.stats.bytes += record.size() as u64;
        self.ready.push(record);
    }
}

impl KeyState {
    /// Accounted bytes of this state, `key` being its key (see the module docs).
    fn bytes(&self, key: &str) -> usize {
        KEY_BYTES + key.len() + self.elb.len() + self.entries.len() + self.tally_bytes()
    }

    fn tally_bytes(&self) -> usize {
        self.tallies
            .iter()
            .map(|(minute, _)| TALLY_BYTES + minute.len())
            .sum()
    }

    /// Counts `entry` in its minute; returns the accounted bytes added.
    fn tally(&mut self, entry: &AlbEntry<'_>) -> usize {
        let minute = entry.minute();
        if let Some((last, counts)) = self.tallies.last_mut()
            && **last == *minute
        {
            counts.add(entry);
            return 0;
        }
        match self.tallies.binary_search_by(|(m, _)| (**m).cmp(minute)) {
            Ok(i) => {
                self.tallies[i].1.add(entry);
                0
            }
            Err(i) => {
                let mut counts = Counts::default();
                counts.add(entry);
                // Most keys see one or two minutes: no spare room.
                self.tallies.reserve_exact(1);
                self.tallies.insert(i, (minute.into(), counts));
                TALLY_BYTES + minute.len()
            }
        }
    }
}

/// `io::Write` → `fmt::Write` adapter for formatting small numbers into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes the record header JSON **without** its closing brace.
fn write_header(
    out: &mut Vec<u8>,
    source: &SourceId<'_>,
    key: &str,
    state: &KeyState,
    mode: ForwardMode,
    seq: u64,
    lines: [u64; 2],
) {
    let header = RecordHeader {
        v: RECORD_VERSION,
        source: SourceId {
            bucket: Cow::Borrowed(&source.bucket),
            key: Cow::Borrowed(&source.key),
            etag: source.etag.as_deref().map(Cow::Borrowed),
            version_id: source.version_id.as_deref().map(Cow::Borrowed),
        },
        elb: Cow::Borrowed(&state.elb),
        partition_key: Cow::Borrowed(key),
        key_kind: state.kind,
        mode,
        seq,
        lines,
    };
    let start = out.len();
    if serde_json::to_writer(&mut *out, &header).is_ok() && out.last() == Some(&b'}') {
        out.pop();
    } else {
        // Unreachable for these field types; keep the output well-formed regardless.
        out.truncate(start);
        let _ = write!(ByteWriter(out), "{{\"v\":{RECORD_VERSION}");
    }
}

/// The alert fields of an entry.
fn record_entry<'a>(line: u64, e: &AlbEntry<'a>) -> RecordEntry<'a> {
    let part = |raw: &'a [u8]| (!is_absent(raw)).then(|| unescape(raw));
    let client = e.client();
    let target = e.target();
    let request = e.request();
    RecordEntry {
        line,
        time: Cow::Borrowed(e.time()),
        client_ip: client.map(|c| Cow::Borrowed(c.ip)),
        client_port: client.map(|c| c.port),
        target_ip: target.map(|t| Cow::Borrowed(t.ip)),
        target_port: target.map(|t| t.port),
        target_group_arn: e.text(Field::TargetGroupArn),
        elb_status_code: e.elb_status_code(),
        target_status_code: e.target_status_code(),
        request_verb: request.and_then(|r| part(r.verb)),
        request_url: request.and_then(|r| part(r.url)),
        request_proto: request.and_then(|r| part(r.proto)),
        user_agent: e.text(Field::UserAgent),
        error_reason: e.text(Field::ErrorReason),
        classification: e.text(Field::Classification),
        trace_id: e.text(Field::TraceId),
    }
}

/// Cuts the text fields of the serialized entry in `buf` until it is at most `budget` bytes:
/// URL and user agent first, then the longest string, then arrays are emptied. Returns whether
/// it fits. Deterministic.
fn shrink_entry(buf: &mut Vec<u8>, budget: usize) -> bool {
    let Ok(mut map) = serde_json::from_slice::<Map<String, Value>>(buf) else {
        return buf.len() <= budget;
    };
    let mut done: Vec<String> = Vec::new();
    for _ in 0..MAX_SHRINK_ROUNDS {
        if buf.len() <= budget {
            return true;
        }
        let excess = buf.len() - budget;
        let text_len = |name: &str| map.get(name).and_then(Value::as_str).map_or(0, str::len);
        let cuttable =
            |name: &str| text_len(name) > TRUNCATION_MARK.len() && !done.iter().any(|d| d == name);
        let pick = SHRINK_FIRST
            .iter()
            .map(|s| (*s).to_owned())
            .find(|name| cuttable(name))
            .or_else(|| {
                map.iter()
                    .filter(|(name, _)| cuttable(name))
                    .max_by(|a, b| text_len(a.0).cmp(&text_len(b.0)).then_with(|| b.0.cmp(a.0)))
                    .map(|(name, _)| name.clone())
            });
        if let Some(name) = pick {
            if let Some(Value::String(text)) = map.get_mut(&name) {
                let keep = text
                    .floor_char_boundary(text.len().saturating_sub(excess + TRUNCATION_MARK.len()));
                text.truncate(keep);
                text.push_str(TRUNCATION_MARK);
                if keep == 0 {
                    done.push(name);
                }
            }
        } else if let Some(array) = map
            .values_mut()
            .filter_map(Value::as_array_mut)
            .find(|a| !a.is_empty())
        {
            array.clear();
        } else {
            break;
        }
        buf.clear();
        if serde_json::to_writer(&mut *buf, &map).is_err() {
            return false;
        }
    }
    buf.len() <= budget
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alb::parse_line;
    use crate::record::Record;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    const OK: &str = r#"h2 2025-06-21T22:45:00.123456Z app/shop/50dc 192.0.2.1:5000 10.0.1.11:8080 0.001 0.002 0.000 200 200 1 2 "GET https://shop.example.com:443/a HTTP/2.0" "Mozilla/5.0" ECDHE TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/9 "Root=1-a" "shop.example.com" "-" 0 2025-06-21T22:45:00.100000Z "forward" "-" "-" "10.0.1.11:8080" "200" "-" "-" TID_1 "-" "-" "-""#;

    fn line(target: &str, status: &str, minute: u32, url: &str) -> String {
        OK.replace("10.0.1.11:8080 0.001", &format!("{target} 0.001"))
            .replace(" 200 200 ", &format!(" {status} {status} "))
            .replace("22:45:00.123456Z", &format!("22:{minute:02}:00.123456Z"))
            .replace("/a HTTP", &format!("/{url} HTTP"))
    }

    /// Target number `i`, distinct for every `i` < 2^24.
    fn target(i: usize) -> String {
        let [_, _, a, b] = u32::try_from(i).unwrap().to_be_bytes();
        format!("10.{}.{a}.{b}:80", i >> 16)
    }

    fn source() -> SourceId<'static> {
        SourceId {
            bucket: "logs".into(),
            key: "AWSLogs/1/elasticloadbalancing/x_app.shop.1_y.log.gz".into(),
            etag: Some("abc".into()),
            version_id: None,
        }
    }

    fn config(mode: ForwardMode, max_record: usize, max_buffered: usize) -> IngestConfig {
        IngestConfig {
            forward: mode,
            max_record_bytes: max_record,
            max_buffered_bytes: max_buffered,
            ..IngestConfig::default()
        }
    }

    impl Chunker {
        /// The accounted bytes of the keys held, recomputed.
        fn accounted(&self) -> usize {
            self.keys.iter().map(|(key, state)| state.bytes(key)).sum()
        }
    }

    fn run(lines: &[String], config: &IngestConfig) -> (Vec<OutRecord>, ChunkStats) {
        let mut c = Chunker::new(source(), config);
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            c.push(i as u64 + 1, &parse_line(l.as_bytes()).unwrap());
            out.extend(c.take_ready());
            assert_eq!(c.buffered_bytes(), c.accounted());
            assert!(c.buffered_bytes() <= config.max_buffered_bytes);
        }
        out.extend(c.finish(lines.len() as u64));
        assert_eq!(c.buffered_bytes(), 0);
        (out, c.stats())
    }

    fn parsed(r: &OutRecord) -> Record<'static> {
        // Leaked so the record can borrow from it; tests only.
        let data: &'static mut [u8] = Box::leak(r.data.clone().into_boxed_slice());
        Record::from_slice(data).unwrap()
    }

    fn of_key(records: &[OutRecord], key: &str) -> Vec<Record<'static>> {
        records
            .iter()
            .filter(|r| r.partition_key == key)
            .map(parsed)
            .collect()
    }

    /// Checks the invariants every output of `lines` must satisfy (see the module docs) and
    /// returns the forwarded line numbers, sorted.
    fn check(records: &[OutRecord], config: &IngestConfig, lines: &[String]) -> Vec<u64> {
        let last_line = lines.len() as u64;
        let mut lines_of: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (i, l) in lines.iter().enumerate() {
            let mut key = String::new();
            partition_key(&parse_line(l.as_bytes()).unwrap(), &mut key);
            lines_of.entry(key).or_default().push(i as u64 + 1);
        }
        let in_range = |key: &str, [a, b]: [u64; 2]| {
            let of = &lines_of[key];
            (of.partition_point(|&l| l <= b) - of.partition_point(|&l| l < a)) as u64
        };
        let mut by_key: BTreeMap<String, Vec<Record<'static>>> = BTreeMap::new();
        let mut ids = HashSet::new();
        for r in records {
            assert!(
                r.size() <= config.max_record_bytes,
                "record of {} bytes",
                r.size()
            );
            let rec = parsed(r);
            assert_eq!(rec.header.partition_key, r.partition_key);
            assert_eq!(rec.header.seq, r.seq);
            assert_eq!(rec.header.lines, r.lines);
            assert_eq!(rec.header.mode, config.forward);
            assert_eq!(rec.entries.len(), r.entries as usize);
            assert!(ids.insert(rec.header.dedupe_key()), "ids are unique");
            for e in &rec.entries {
                assert!(r.lines[0] <= e.line && e.line <= r.lines[1]);
                assert!(lines_of[&r.partition_key].binary_search(&e.line).is_ok());
            }
            by_key.entry(r.partition_key.clone()).or_default().push(rec);
        }
        assert_eq!(
            by_key.keys().collect::<Vec<_>>(),
            lines_of.keys().collect::<Vec<_>>(),
            "every key has records"
        );
        let mut forwarded = Vec::new();
        for (key, mut recs) in by_key {
            recs.sort_by_key(|r| (r.header.lines, r.header.seq));
            let mut prev: Option<&Record<'_>> = None;
            for r in &recs {
                let [a, b] = r.header.lines;
                assert!(1 <= a && a <= b && b <= last_line, "{key}: {a}..={b}");
                match prev.map(|p| &p.header) {
                    None => assert_eq!(r.header.seq, 0, "{key}"),
                    Some(p) if p.lines == r.header.lines => {
                        assert!(r.entries.is_empty(), "{key}: only tallies spill");
                        assert_eq!(r.header.seq, p.seq + 1, "{key}");
                    }
                    // A new state of an evicted key: starts after the previous one ended.
                    Some(p) if r.header.seq == 0 => assert!(a > p.lines[1], "{key}"),
                    Some(p) => {
                        assert_eq!(r.header.seq, p.seq + 1, "{key}");
                        assert_eq!(a, p.lines[1] + 1, "{key}: one state's records tile");
                    }
                }
                prev = Some(r);
            }
            // Every line of the key lies in one of its ranges, and (`errors` mode) each range's
            // tallies count exactly the key's lines in it.
            let mut ranges: BTreeMap<[u64; 2], (u64, u64, u64)> = BTreeMap::new();
            for r in &recs {
                let e = ranges.entry(r.header.lines).or_default();
                e.0 += r.tallies.iter().map(|t| t.total).sum::<u64>();
                e.1 += r.tallies.iter().map(|t| t.s5xx).sum::<u64>();
                e.2 += r.entries.len() as u64;
                forwarded.extend(r.entries.iter().map(|e| e.line));
            }
            let covered: u64 = ranges.keys().map(|&range| in_range(&key, range)).sum();
            assert_eq!(covered, lines_of[&key].len() as u64, "{key}: lines covered");
            if config.forward == ForwardMode::Errors {
                for (range, (total, s5xx, entries)) in ranges {
                    assert_eq!(total, in_range(&key, range), "{key}: {range:?}");
                    assert_eq!(s5xx, entries, "{key}: {range:?}");
                }
            }
        }
        forwarded.sort_unstable();
        forwarded
    }

    /// The lines `check` should find forwarded.
    fn want_forwarded(lines: &[String], mode: ForwardMode) -> Vec<u64> {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| mode == ForwardMode::All || parse_line(l.as_bytes()).unwrap().is_5xx())
            .map(|(i, _)| i as u64 + 1)
            .collect()
    }

    #[test]
    fn errors_mode_forwards_5xx_and_tallies_everything() {
        let lines = vec![
            line("10.0.1.11:8080", "200", 45, "a"),
            line("10.0.1.11:8080", "502", 45, "b"),
            line("10.0.1.12:8080", "404", 45, "c"),
            line("-", "503", 46, "d"),
            line("10.0.1.11:8080", "301", 46, "e"),
        ];
        let config = config(ForwardMode::Errors, 1 << 20, 8 << 20);
        let (records, stats) = run(&lines, &config);
        assert_eq!(check(&records, &config, &lines), vec![2, 4]);
        assert_eq!(records.len(), 3);
        assert_eq!(stats.forwarded, 2);
        let r11 = &of_key(&records, "10.0.1.11:8080")[0];
        assert_eq!(r11.header.elb, "app/shop/50dc");
        assert_eq!(r11.header.source.etag.as_deref(), Some("abc"));
        assert_eq!(r11.header.lines, [1, 5]);
        assert_eq!(
            r11.entries[0].request_url.as_deref(),
            Some("https://shop.example.com:443/b")
        );
        let t: Vec<_> = r11
            .tallies
            .iter()
            .map(|t| (t.minute.to_string(), t.total, t.s2xx, t.s3xx, t.s5xx))
            .collect();
        assert_eq!(
            t,
            vec![
                ("2025-06-21T22:45".into(), 2, 1, 0, 1),
                ("2025-06-21T22:46".into(), 1, 0, 1, 0)
            ]
        );
        let r12 = &of_key(&records, "10.0.1.12:8080")[0];
        assert_eq!(r12.tallies[0].s4xx, 1);
        let tg = parsed(
            records
                .iter()
                .find(|r| r.partition_key.contains("targetgroup"))
                .unwrap(),
        );
        assert_eq!(tg.header.key_kind, KeyKind::TargetGroup);
        assert_eq!(tg.tallies[0].s5xx, 1);
    }

    #[test]
    fn all_mode_carries_every_entry_in_full_form() {
        let lines: Vec<_> = (0..4)
            .map(|i| line("10.0.1.10:8080", "200", 45, &i.to_string()))
            .collect();
        let config = config(ForwardMode::All, 1 << 20, 8 << 20);
        let (records, _) = run(&lines, &config);
        assert_eq!(check(&records, &config, &lines), vec![1, 2, 3, 4]);
        let v: serde_json::Value = serde_json::from_slice(&records[0].data).unwrap();
        assert_eq!(v["mode"], "all");
        assert!(v.get("tallies").is_none());
        assert_eq!(v["entries"][0]["line"], 1);
        assert_eq!(v["entries"][0]["ssl_cipher"], "ECDHE");
        assert_eq!(
            v["entries"][3]["request_url"],
            "https://shop.example.com:443/3"
        );
    }

    #[test]
    fn records_are_cut_at_the_size_limit_deterministically() {
        let lines: Vec<_> = (0..200)
            .map(|i| line("10.0.1.11:8080", "500", 45, &"x".repeat(i % 50)))
            .collect();
        let config = config(ForwardMode::Errors, 4096, 8 << 20);
        let (a, _) = run(&lines, &config);
        let (b, _) = run(&lines, &config);
        assert_eq!(a, b);
        assert!(a.len() > 10);
        assert_eq!(check(&a, &config, &lines), (1..=200).collect::<Vec<_>>());
    }

    #[test]
    fn the_budget_evicts_the_least_recently_seen_keys() {
        // One busy target (200s: only its tallies are held) on every other line, a new failing
        // target on the others.
        let lines: Vec<_> = (0..600)
            .map(|i| match i % 2 {
                0 => line("10.0.0.1:80", "200", 45, "h"),
                _ => line(&target(1000 + i), "503", 45, "c"),
            })
            .collect();
        let config = config(ForwardMode::Errors, 1 << 20, 8192);
        let (records, stats) = run(&lines, &config);
        assert!(stats.evicted > 250, "{stats:?}");
        assert_eq!(stats.keys, 301, "every key seen once but the busy one");
        let busy = of_key(&records, "10.0.0.1:80");
        assert_eq!(busy.len(), 1, "the busy key is never evicted");
        assert_eq!(busy[0].header.lines, [1, 600]);
        assert_eq!(busy[0].tallies[0].total, 300);
        assert_eq!(
            check(&records, &config, &lines),
            want_forwarded(&lines, config.forward)
        );
        // In `all` mode the busy key's entries alone exceed the budget: it is evicted too.
        let config = IngestConfig {
            forward: ForwardMode::All,
            ..config
        };
        let (records, stats) = run(&lines, &config);
        assert!(stats.keys > 301, "{stats:?}");
        assert_eq!(
            check(&records, &config, &lines),
            want_forwarded(&lines, config.forward)
        );
    }

    #[test]
    fn evicted_keys_come_back_with_a_new_state() {
        // Three targets in turn, a budget holding about two of them: each is evicted before it
        // comes back.
        let lines: Vec<_> = (0..60)
            .map(|i| line(&target(i % 3), "500", 45, "r"))
            .collect();
        let config = config(ForwardMode::Errors, 1 << 20, 1500);
        let (records, stats) = run(&lines, &config);
        assert!(stats.evicted > 10, "{stats:?}");
        assert!(stats.keys > 10, "{stats:?}");
        assert_eq!(
            check(&records, &config, &lines),
            want_forwarded(&lines, config.forward)
        );
        let (again, _) = run(&lines, &config);
        assert_eq!(records, again);
    }

    #[test]
    fn many_distinct_keys_stay_within_a_small_budget() {
        const KEYS: usize = 4_000;
        let lines: Vec<_> = (0..KEYS)
            .map(|i| {
                line(
                    &target(i),
                    if i % 7 == 0 { "502" } else { "200" },
                    45 + (i % 3) as u32,
                    "m",
                )
            })
            .collect();
        for mode in [ForwardMode::Errors, ForwardMode::All] {
            // `run` checks the bound after every line.
            let config = config(mode, 4096, 16 << 10);
            let (records, stats) = run(&lines, &config);
            assert_eq!(stats.keys, KEYS as u64);
            assert!(stats.evicted > KEYS as u64 / 2, "{mode:?}: {stats:?}");
            assert_eq!(records.len(), KEYS, "{mode:?}: one record per key");
            assert_eq!(
                check(&records, &config, &lines),
                want_forwarded(&lines, mode),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn final_records_are_made_one_key_at_a_time() {
        let lines: Vec<_> = (0..1000)
            .map(|i| line(&target(i), "200", 45, "f"))
            .collect();
        let config = config(ForwardMode::Errors, 1 << 20, 8 << 20);
        let mut c = Chunker::new(source(), &config);
        for (i, l) in lines.iter().enumerate() {
            c.push(i as u64 + 1, &parse_line(l.as_bytes()).unwrap());
        }
        assert!(!c.has_ready());
        let mut rest = c.finish(1000);
        let first = rest.next().unwrap();
        assert_eq!(first.partition_key, target(0), "least recently seen first");
        assert_eq!(rest.keys.len(), 999, "the other keys are not cut yet");
        assert_eq!(rest.current.len(), 0);
        assert_eq!(rest.count(), 999);
    }

    #[test]
    fn oversized_entries_are_cut_not_dropped() {
        let huge = "p".repeat(5000);
        let ua = format!("\"{}\"", "u\\x22".repeat(2000));
        let l = line("10.0.1.11:8080", "502", 45, &huge).replace("\"Mozilla/5.0\"", &ua);
        let lines = vec![
            line("10.0.1.11:8080", "200", 45, "ok"),
            l,
            line("10.0.1.11:8080", "503", 45, "z"),
        ];
        for mode in [ForwardMode::Errors, ForwardMode::All] {
            let config = config(mode, 2048, 8 << 20);
            let (records, stats) = run(&lines, &config);
            assert_eq!(stats.truncated, 1);
            assert_eq!(stats.oversized, 0);
            let fwd = check(&records, &config, &lines);
            assert!(fwd.contains(&2) && fwd.contains(&3));
            let cut = records
                .iter()
                .map(parsed)
                .flat_map(|r| r.entries)
                .find(|e| e.line == 2)
                .unwrap();
            assert!(cut.request_url.unwrap().ends_with(TRUNCATION_MARK));
        }
    }

    #[test]
    fn every_record_carries_the_tallies_of_its_own_lines() {
        // One target, a 5xx every third line over three minutes, small records or a small
        // budget: the object is cut many times, and each range's tallies must count exactly its
        // lines (`check` verifies it).
        let lines: Vec<_> = (0..300)
            .map(|i| {
                let status = if i % 3 == 0 { "502" } else { "200" };
                line("10.0.1.11:8080", status, 45 + i / 100, "p")
            })
            .collect();
        for (max_record, max_buffered) in [(2048, 8 << 20), (1 << 20, 4096)] {
            let config = config(ForwardMode::Errors, max_record, max_buffered);
            let (records, _) = run(&lines, &config);
            check(&records, &config, &lines);
            let ranges: HashSet<_> = records.iter().map(|r| r.lines).collect();
            assert!(ranges.len() > 3, "{max_record}/{max_buffered}: {ranges:?}");
        }
    }

    #[test]
    fn tallies_spill_into_extra_records_when_they_do_not_fit() {
        let lines: Vec<_> = (0..60)
            .map(|m| line("10.0.1.11:8080", "200", m, "a"))
            .collect();
        let config = config(ForwardMode::Errors, 1024, 8 << 20);
        let (records, _) = run(&lines, &config);
        assert!(records.len() > 2);
        check(&records, &config, &lines);
        let minutes: u64 = records
            .iter()
            .map(parsed)
            .map(|r| r.tallies.iter().map(|t| t.total).sum::<u64>())
            .sum();
        assert_eq!(minutes, 60);
    }

    #[test]
    fn shrink_prefers_url_and_user_agent() {
        let mut buf = serde_json::to_vec(&serde_json::json!({
            "line": 1, "request_url": "u".repeat(100), "user_agent": "a".repeat(100), "trace_id": "t".repeat(50)
        }))
        .unwrap();
        assert!(shrink_entry(&mut buf, 200));
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["trace_id"].as_str().unwrap().len(), 50);
        assert!(
            v["request_url"]
                .as_str()
                .unwrap()
                .ends_with(TRUNCATION_MARK)
        );
        let mut tiny = buf.clone();
        assert!(!shrink_entry(&mut tiny, 5));
    }

    /// A line for one of `keys` targets (the last one means no target), with a random status,
    /// minute and URL length.
    fn arb_line(keys: usize) -> impl Strategy<Value = String> {
        (
            0..keys,
            prop_oneof![
                Just("200"),
                Just("404"),
                Just("500"),
                Just("502"),
                Just("503")
            ],
            40u32..50,
            0usize..400,
        )
            .prop_map(move |(t, s, m, len)| {
                let name = if t + 1 == keys {
                    "-".to_owned()
                } else {
                    target(t)
                };
                line(&name, s, m, &"q".repeat(len))
            })
    }

    fn arb_lines() -> impl Strategy<Value = Vec<String>> {
        prop_oneof![2usize..8, 8usize..300]
            .prop_flat_map(|keys| proptest::collection::vec(arb_line(keys), 1..160))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn every_entry_and_tally_exactly_once_within_limits(
            lines in arb_lines(),
            max_record in 1024usize..6000,
            max_buffered in prop_oneof![256usize..2048, 2048usize..40_000],
            all in any::<bool>(),
        ) {
            let mode = if all { ForwardMode::All } else { ForwardMode::Errors };
            // A full `all`-mode entry (38 keys) plus header needs about 1.2 KiB even with every
            // text field cut; below that records come out oversized (see `ChunkStats::oversized`).
            let max_record = if all { max_record.max(2048) } else { max_record };
            let config = config(mode, max_record, max_buffered);
            let (records, _) = run(&lines, &config);
            let got = check(&records, &config, &lines);
            prop_assert_eq!(got, want_forwarded(&lines, mode));
            let (again, _) = run(&lines, &config);
            prop_assert_eq!(records, again);
        }
    }
}
