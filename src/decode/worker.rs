//! The decoder thread: detects gzip by its magic bytes and decodes every member.
//!
//! Fast path: whole members are decoded by libdeflate straight into the output block, from a
//! bounded window of compressed input. A member that does not fit the window or the block, or
//! that fails to decode, switches the rest of the stream to flate2's streaming decoder (zlib-rs),
//! member by member, which also locates corruption and delivers the lines before it.
//!
//! Data after the last member that is not a gzip member (zero padding, junk appended by a copy
//! tool) is skipped and reported in [`DecodeStats::trailing`], as `gzip -d` warns and goes on;
//! if a gzip member header follows the junk, the junk is a damaged member and the input fails.

use std::io::{self, Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::GzDecoder;

use super::blocks::{BlockWriter, Disconnected};
use super::libdeflate::{GzipMemberDecoder, MemberError};
use super::{DecodeError, DecodeOptions, DecodeStats, Format, TrailingData};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A member header as gzip writes it: magic and the deflate method (RFC 1952).
const GZIP_HEADER: [u8; 3] = [0x1f, 0x8b, 0x08];
const STREAM_BUFFER_BYTES: usize = 256 * 1024;

/// Counts the bytes read from the source and remembers whether the source itself failed.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
    failed: bool,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

/// Counts bytes pulled through a reader (the compressed offset the streaming decoder reached).
struct Offset<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Offset<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Decodes `reader` into `out`; errors are delivered through `out` after the lines before them.
pub(crate) fn run<R: Read>(
    reader: R,
    name: &str,
    options: &DecodeOptions,
    out: &mut BlockWriter,
    progress: Arc<AtomicU64>,
) -> DecodeStats {
    let mut src = Counting {
        inner: reader,
        read: progress,
        failed: false,
    };
    let mut stats = DecodeStats::default();
    let mut window = Vec::new();
    let result = match fill(&mut src, &mut window, GZIP_MAGIC.len()) {
        Err(e) => Err(Some(io_error(name, &src, e))),
        Ok(_) if window.starts_with(&GZIP_MAGIC) => {
            stats.format = Format::Gzip;
            gzip(&mut src, window, name, options, out, &mut stats)
        }
        Ok(_) => {
            stats.format = Format::Plain;
            stream(Cursor::new(window).chain(&mut src), out).map_err(|e| match e {
                StreamError::Disconnected => None,
                StreamError::Io(e) => Some(io_error(name, &src, e)),
            })
        }
    };
    stats.compressed_bytes = src.read.load(Ordering::Relaxed);
    stats.bytes = out.produced;
    match result {
        Ok(()) => {
            let _ = out.finish();
        }
        Err(Some(error)) => out.fail(error),
        Err(None) => {} // consumer hung up
    }
    stats
}

/// `Err(None)`: the consumer hung up.
type Outcome = Result<(), Option<DecodeError>>;

fn gzip<R: Read>(
    src: &mut Counting<R>,
    mut window: Vec<u8>,
    name: &str,
    options: &DecodeOptions,
    out: &mut BlockWriter,
    stats: &mut DecodeStats,
) -> Outcome {
    let mut start = 0; // the current member's offset in `window`
    let mut window_offset = 0u64; // compressed offset of window[0]
    let mut eof = false;
    let mut largest_member = 0;
    let mut flushed_for_member = false;
    let decoder = options.whole_members.then(GzipMemberDecoder::new).flatten();
    if let Some(mut decoder) = decoder {
        loop {
            if start == window.len() {
                if eof {
                    return Ok(());
                }
                window_offset += start as u64;
                window.clear();
                start = 0;
                eof = fill(src, &mut window, options.input_window)
                    .map_err(|e| Some(io_error(name, src, e)))?;
                continue;
            }
            let rest = &window[start..];
            if (rest.len() >= GZIP_MAGIC.len() || eof) && !rest.starts_with(&GZIP_MAGIC) {
                let offset = window_offset + start as u64;
                stats.trailing = Some(trailing(rest, src, offset, name).map_err(Some)?);
                return Ok(());
            }
            if out.spare().len() < largest_member + largest_member / 8 && !out.is_empty() {
                out.flush_lines().map_err(|Disconnected| None)?;
            }
            match decoder.decode(&window[start..], out.spare()) {
                Ok((used, written)) => {
                    out.commit(written).map_err(|Disconnected| None)?;
                    start += used;
                    stats.members += 1;
                    largest_member = largest_member.max(written);
                    flushed_for_member = false;
                }
                Err(MemberError::OutputTooSmall) if !flushed_for_member && !out.is_empty() => {
                    out.flush_lines().map_err(|Disconnected| None)?;
                    flushed_for_member = true;
                }
                Err(MemberError::BadOrIncomplete)
                    if !eof && (start > 0 || window.len() < options.input_window) =>
                {
                    window.drain(..start);
                    window_offset += start as u64;
                    start = 0;
                    eof = fill(src, &mut window, options.input_window)
                        .map_err(|e| Some(io_error(name, src, e)))?;
                }
                Err(_) => break, // too large for the budget, or corrupt: stream the rest
            }
        }
    }
    window.drain(..start);
    stats.streamed = true;
    let base = window_offset + start as u64;
    let mut input = Offset {
        inner: Cursor::new(window).chain(&mut *src),
        at: 0,
    };
    let mut reader = io::BufReader::with_capacity(STREAM_BUFFER_BYTES, &mut input);
    let result = members(&mut reader, out);
    let reached = base + reader.get_ref().at - reader.buffer().len() as u64;
    match result {
        Ok(None) => Ok(()),
        Ok(Some(head)) => {
            let at = reached - head.len() as u64;
            stats.trailing = Some(trailing(&head, &mut reader, at, name).map_err(Some)?);
            Ok(())
        }
        Err(StreamError::Disconnected) => Err(None),
        Err(StreamError::Io(e)) => {
            let (_, src) = reader.get_ref().inner.get_ref();
            Err(Some(if src.failed {
                io_error(name, src, e)
            } else {
                DecodeError::Corrupt {
                    name: name.to_owned(),
                    offset: reached,
                    detail: e.to_string(),
                }
            }))
        }
    }
}

/// Streams gzip members one by one until the input ends (`Ok(None)`) or holds something that
/// is not a member (`Ok(Some(its first bytes))`, left in `reader` after them).
fn members(
    reader: &mut impl io::BufRead,
    out: &mut BlockWriter,
) -> Result<Option<Vec<u8>>, StreamError> {
    loop {
        let head = reader.fill_buf().map_err(StreamError::Io)?;
        if head.is_empty() {
            return Ok(None);
        }
        if head.len() >= GZIP_MAGIC.len() {
            if !head.starts_with(&GZIP_MAGIC) {
                let head = head.to_vec();
                reader.consume(head.len());
                return Ok(Some(head));
            }
            stream(GzDecoder::new(&mut *reader), out)?;
            continue;
        }
        // One byte left in the buffer: take it and look at the next one.
        let first = head[0];
        reader.consume(1);
        let next = reader.fill_buf().map_err(StreamError::Io)?;
        if next.first() != Some(&GZIP_MAGIC[1]) || first != GZIP_MAGIC[0] {
            return Ok(Some(vec![first]));
        }
        stream(
            GzDecoder::new(Cursor::new([first]).chain(&mut *reader)),
            out,
        )?;
    }
}

/// Reads the rest of the input after the last member: junk to skip, unless a gzip member
/// header follows it (then the junk is a damaged member).
fn trailing(
    head: &[u8],
    rest: &mut impl Read,
    offset: u64,
    name: &str,
) -> Result<TrailingData, DecodeError> {
    let damaged = |at: u64| DecodeError::Corrupt {
        name: name.to_owned(),
        offset,
        detail: format!("not a gzip member, and a member header follows at byte {at}"),
    };
    let find = |bytes: &[u8]| memchr::memmem::find(bytes, &GZIP_HEADER);
    if let Some(at) = find(head) {
        return Err(damaged(offset + at as u64));
    }
    let mut bytes = head.len() as u64;
    // The last bytes seen, so a header split between two reads is found too.
    let mut carry = head[head.len().saturating_sub(GZIP_HEADER.len() - 1)..].to_vec();
    let mut buf = vec![0; STREAM_BUFFER_BYTES];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(TrailingData { offset, bytes }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecodeError::Io {
                    name: name.to_owned(),
                    offset: offset + bytes,
                    source: e,
                });
            }
        };
        let seam = [carry.as_slice(), &buf[..n.min(GZIP_HEADER.len() - 1)]].concat();
        if let Some(at) = find(&seam) {
            return Err(damaged(offset + bytes - carry.len() as u64 + at as u64));
        }
        if let Some(at) = find(&buf[..n]) {
            return Err(damaged(offset + bytes + at as u64));
        }
        bytes += n as u64;
        carry = buf[n.saturating_sub(GZIP_HEADER.len() - 1)..n].to_vec();
    }
}

enum StreamError {
    Disconnected,
    Io(io::Error),
}

/// Copies a reader into line-aligned blocks.
fn stream(mut reader: impl Read, out: &mut BlockWriter) -> Result<(), StreamError> {
    loop {
        if out.spare().is_empty() {
            out.flush_lines()
                .map_err(|Disconnected| StreamError::Disconnected)?;
        }
        match reader.read(out.spare()) {
            Ok(0) => return Ok(()),
            Ok(n) => out
                .commit(n)
                .map_err(|Disconnected| StreamError::Disconnected)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Io(e)),
        }
    }
}

/// Reads until `window` holds `target` bytes or the source ends; returns whether it ended.
fn fill(src: &mut impl Read, window: &mut Vec<u8>, target: usize) -> io::Result<bool> {
    let old = window.len();
    if old >= target {
        return Ok(false);
    }
    window.resize(target, 0);
    let mut len = old;
    let eof = loop {
        match src.read(&mut window[len..]) {
            Ok(0) => break true,
            Ok(n) => {
                len += n;
                if len == target {
                    break false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                window.truncate(len);
                return Err(e);
            }
        }
    };
    window.truncate(len);
    Ok(eof)
}

fn io_error<R>(name: &str, src: &Counting<R>, source: io::Error) -> DecodeError {
    DecodeError::Io {
        name: name.to_owned(),
        offset: src.read.load(Ordering::Relaxed),
        source,
    }
}
