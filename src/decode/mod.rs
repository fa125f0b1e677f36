//! Any reader → numbered lines, in bounded memory.
//!
//! Gzip is detected by its magic bytes and every member is decoded (ALB files are several
//! concatenated members); anything else is read as plain text. Decoding runs on its own thread
//! and hands line-aligned blocks to the caller through a bounded channel, so decompression and
//! parsing overlap on two cores. Peak memory is about `(CHANNEL_BLOCKS + 2) × block_bytes +
//! input_window`.

mod blocks;
mod libdeflate;
mod worker;

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::thread;

use blocks::Chunk;

/// Blocks queued between the decoder thread and the consumer.
const CHANNEL_BLOCKS: usize = 1;
/// Default size of a decoded block (also the largest member decoded in one call).
pub const DEFAULT_BLOCK_BYTES: usize = 4 << 20;
/// Default window of compressed input held for whole-member decoding.
pub const DEFAULT_INPUT_WINDOW: usize = 4 << 20;

/// Memory budget and strategy of the decoder.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Size of each decoded block; a gzip member larger than this is streamed instead.
    pub block_bytes: usize,
    /// Compressed bytes held at once for whole-member decoding.
    pub input_window: usize,
    /// Use libdeflate on whole members (fast); `false` streams everything through flate2.
    pub whole_members: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            block_bytes: DEFAULT_BLOCK_BYTES,
            input_window: DEFAULT_INPUT_WINDOW,
            whole_members: true,
        }
    }
}

/// What the input turned out to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// gzip, one or more members.
    Gzip,
    /// Anything without the gzip magic bytes.
    #[default]
    Plain,
}

/// Counters of one decoded input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// gzip or plain.
    pub format: Format,
    /// Bytes read from the source.
    pub compressed_bytes: u64,
    /// Decoded bytes delivered.
    pub bytes: u64,
    /// gzip members decoded whole (the streaming fallback does not count its members).
    pub members: u64,
    /// Whether part of the input went through the streaming decoder.
    pub streamed: bool,
    /// Data after the last gzip member that is not a member, skipped (the lines before it were
    /// all delivered); callers warn about it.
    pub trailing: Option<TrailingData>,
}

/// Bytes after the last gzip member that are not a gzip member (zero padding, appended junk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrailingData {
    /// Compressed offset where they start.
    pub offset: u64,
    /// How many bytes were skipped.
    pub bytes: u64,
}

/// A line longer than a decoded block: skipped up to its newline, reported once in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line of {bytes} bytes is longer than the {limit}-byte limit, skipped")]
pub struct LineTooLong {
    /// The line's length without its newline.
    pub bytes: u64,
    /// The longest line the decoder holds (its block size minus one).
    pub limit: usize,
}

/// The input could not be fully decoded; every line before the failure was delivered.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Reading the source failed.
    #[error("{name}: read failed after {offset} bytes: {source}")]
    Io {
        /// The input's name (path or bucket/key).
        name: String,
        /// Source bytes read before the failure.
        offset: u64,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The decoder thread could not start or died; lines may be missing.
    #[error("{name}: decoder thread failed: {detail}")]
    Thread {
        /// The input's name (path or bucket/key).
        name: String,
        /// What happened.
        detail: String,
    },
    /// The gzip data is corrupt or truncated.
    #[error("{name}: corrupt gzip at compressed byte {offset}: {detail}")]
    Corrupt {
        /// The input's name (path or bucket/key).
        name: String,
        /// Compressed offset the decoder reached.
        offset: u64,
        /// The decoder's description.
        detail: String,
    },
}

/// Decoded lines of one input, produced by a decoder thread.
pub struct LineSource {
    rx: mpsc::Receiver<Result<Chunk, DecodeError>>,
    pool: mpsc::Sender<Vec<u8>>,
    thread: io::Result<thread::JoinHandle<DecodeStats>>,
    progress: Arc<AtomicU64>,
    name: String,
    limit: usize,
}

impl LineSource {
    /// Starts decoding `reader` on a new thread. `name` appears in errors.
    pub fn spawn<R: Read + Send + 'static>(reader: R, name: &str, options: DecodeOptions) -> Self {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_BLOCKS);
        let (pool, pool_rx) = mpsc::channel();
        let progress = Arc::new(AtomicU64::new(0));
        let read = Arc::clone(&progress);
        let limit = options.block_bytes.saturating_sub(1);
        let thread_name = name.to_owned();
        let thread = thread::Builder::new()
            .name("albwatch-decode".into())
            .spawn(move || {
                let mut out = blocks::BlockWriter::new(tx, pool_rx, options.block_bytes);
                worker::run(reader, &thread_name, &options, &mut out, read)
            });
        Self {
            rx,
            pool,
            thread,
            progress,
            name: name.to_owned(),
            limit,
        }
    }

    /// Source bytes read so far (for progress bars).
    pub fn progress(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.progress)
    }

    /// Calls `f(line_number, line)` for every line in order (numbers start at 1; the `\n` is
    /// removed). A line longer than the block size comes as `Err` in its place. `Break` stops
    /// early. Returns the counters, or the decode error after every line before it was
    /// delivered; a decoder thread that could not start or panicked is an error too.
    pub fn for_each_line(
        mut self,
        mut f: impl FnMut(u64, Result<&[u8], LineTooLong>) -> ControlFlow<()>,
    ) -> Result<DecodeStats, DecodeError> {
        let mut line_no = 0u64;
        let mut failure = None;
        'blocks: while let Ok(message) = self.rx.recv() {
            let block = match message {
                Ok(Chunk::Lines(block)) => block,
                Ok(Chunk::TooLong(bytes)) => {
                    line_no += 1;
                    let limit = self.limit;
                    if f(line_no, Err(LineTooLong { bytes, limit })).is_break() {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            };
            let mut rest = block.bytes();
            while !rest.is_empty() {
                let (line, next) = match memchr::memchr(b'\n', rest) {
                    Some(nl) => (&rest[..nl], &rest[nl + 1..]),
                    None => (rest, &rest[rest.len()..]),
                };
                line_no += 1;
                if f(line_no, Ok(line)).is_break() {
                    break 'blocks;
                }
                rest = next;
            }
            let _ = self.pool.send(block.buf);
        }
        drop(std::mem::replace(&mut self.rx, mpsc::sync_channel(0).1));
        let name = std::mem::take(&mut self.name);
        let thread_failed = |detail: String| DecodeError::Thread { name, detail };
        let stats = match std::mem::replace(&mut self.thread, Err(io::ErrorKind::Other.into())) {
            Ok(thread) => thread
                .join()
                .map_err(|_| thread_failed("it panicked".into()))?,
            Err(e) => return Err(thread_failed(format!("it could not start: {e}"))),
        };
        failure.map_or(Ok(stats), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip_members(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            out.extend(enc.finish().unwrap());
        }
        out
    }

    type Numbered = Vec<(u64, Vec<u8>)>;

    fn collect(
        input: Vec<u8>,
        options: DecodeOptions,
    ) -> (Numbered, Result<DecodeStats, DecodeError>) {
        let mut lines = Vec::new();
        let result = LineSource::spawn(std::io::Cursor::new(input), "test", options).for_each_line(
            |n, l| {
                let l = l.map_or_else(
                    |e| format!("<{} bytes>", e.bytes).into_bytes(),
                    <[u8]>::to_vec,
                );
                lines.push((n, l));
                ControlFlow::Continue(())
            },
        );
        (lines, result)
    }

    fn small() -> DecodeOptions {
        DecodeOptions {
            block_bytes: 64,
            input_window: 48,
            whole_members: true,
        }
    }

    fn text(lines: &[(u64, Vec<u8>)]) -> Vec<String> {
        lines
            .iter()
            .map(|(n, l)| format!("{n}:{}", String::from_utf8_lossy(l)))
            .collect()
    }

    #[test]
    fn plain_text_lines_are_numbered() {
        let (lines, stats) = collect(b"a\nb\r\n\nlast".to_vec(), small());
        assert_eq!(text(&lines), ["1:a", "2:b\r", "3:", "4:last"]);
        assert_eq!(stats.unwrap().format, Format::Plain);
    }

    #[test]
    fn every_gzip_member_is_read_in_every_mode() {
        let body: Vec<String> = (0..300).map(|i| format!("line {i}\n")).collect();
        let parts: Vec<&[u8]> = body
            .chunks(7)
            .map(|c| c.concat())
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>()
            .leak()
            .iter()
            .map(Vec::as_slice)
            .collect();
        let input = gzip_members(&parts);
        let modes = [
            small(),
            DecodeOptions {
                whole_members: false,
                ..small()
            },
            DecodeOptions::default(),
            DecodeOptions {
                block_bytes: 32,
                input_window: 16,
                whole_members: true,
            },
        ];
        for options in modes {
            let (lines, stats) = collect(input.clone(), options.clone());
            let stats = stats.unwrap();
            assert_eq!(lines.len(), 300, "{options:?}");
            assert_eq!(lines[299], (300, b"line 299".to_vec()));
            assert_eq!(stats.format, Format::Gzip);
            assert_eq!(stats.bytes, body.concat().len() as u64);
            assert_eq!(stats.compressed_bytes, input.len() as u64);
        }
    }

    #[test]
    fn corrupt_member_reports_offset_after_delivering_earlier_lines() {
        let good = gzip_members(&[b"one\ntwo\n"]);
        let mut bad = gzip_members(&[&b"three\nfour\n".repeat(50)]);
        let mid = bad.len() / 2;
        bad[mid..mid + 8].copy_from_slice(b"garbage!");
        let input = [good.clone(), bad].concat();
        for options in [
            small(),
            DecodeOptions::default(),
            DecodeOptions {
                whole_members: false,
                ..small()
            },
        ] {
            let (lines, result) = collect(input.clone(), options);
            assert!(lines.len() >= 2);
            assert_eq!(text(&lines[..2]), ["1:one", "2:two"]);
            match result {
                Err(DecodeError::Corrupt { name, offset, .. }) => {
                    assert_eq!(name, "test");
                    assert!(offset >= good.len() as u64, "{offset}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let input = gzip_members(&[b"one\ntwo\n", &b"three\n".repeat(100)]);
        let (lines, result) = collect(input[..input.len() - 10].to_vec(), DecodeOptions::default());
        assert!(lines.len() >= 2);
        assert!(matches!(result, Err(DecodeError::Corrupt { .. })));
    }

    #[test]
    fn over_long_lines_are_skipped_to_their_newline_and_counted_once() {
        let long = "j".repeat(300);
        let plain = format!("a\n{long} 502 looks like an entry\nb\n{long}\nc\n{long}").into_bytes();
        let expected = [
            "1:a",
            "2:<324 bytes>",
            "3:b",
            "4:<300 bytes>",
            "5:c",
            "6:<300 bytes>",
        ];
        for input in [plain.clone(), gzip_members(&[&plain[..150], &plain[150..]])] {
            for options in [
                small(),
                DecodeOptions {
                    whole_members: false,
                    ..small()
                },
            ] {
                let (lines, stats) = collect(input.clone(), options);
                assert_eq!(text(&lines), expected);
                assert_eq!(stats.unwrap().bytes, plain.len() as u64);
            }
        }
        // A line of exactly the limit still fits.
        let fits = format!("{}\nx\n", "f".repeat(63));
        let (lines, _) = collect(fits.into_bytes(), small());
        assert_eq!(lines[0].1.len(), 63);
        assert_eq!(text(&lines[1..]), ["2:x"]);
    }

    #[test]
    fn junk_after_the_last_member_is_skipped_and_reported() {
        let good = gzip_members(&[b"one\n", b"two\n"]);
        for junk in [
            vec![0u8; 1000],
            b"appended by a copy tool\n".to_vec(),
            vec![0x1f],
        ] {
            let input = [good.clone(), junk.clone()].concat();
            for options in [
                small(),
                DecodeOptions::default(),
                DecodeOptions {
                    whole_members: false,
                    ..small()
                },
            ] {
                let (lines, stats) = collect(input.clone(), options.clone());
                assert_eq!(text(&lines), ["1:one", "2:two"], "{options:?}");
                let trailing = stats.unwrap().trailing;
                assert_eq!(
                    trailing,
                    Some(TrailingData {
                        offset: good.len() as u64,
                        bytes: junk.len() as u64
                    }),
                    "{options:?} {junk:?}"
                );
            }
        }
    }

    #[test]
    fn junk_followed_by_a_member_is_a_damaged_member() {
        let good = gzip_members(&[b"one\n"]);
        let later = gzip_members(&[b"lost\n"]);
        let input = [good.clone(), vec![0; 700], later].concat();
        for options in [small(), DecodeOptions::default()] {
            let (lines, result) = collect(input.clone(), options);
            assert_eq!(text(&lines), ["1:one"]);
            match result {
                Err(DecodeError::Corrupt { offset, detail, .. }) => {
                    assert_eq!(offset, good.len() as u64);
                    assert!(
                        detail.contains(&format!("byte {}", good.len() + 700)),
                        "{detail}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_decoder_that_dies_is_an_error() {
        struct Explodes(u8);
        impl Read for Explodes {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                assert!(self.0 < 3, "reader exploded");
                buf[..2].copy_from_slice(b"a\n");
                Ok(2)
            }
        }
        let mut seen = 0;
        let result = LineSource::spawn(Explodes(0), "boom", small()).for_each_line(|_, _| {
            seen += 1;
            ControlFlow::Continue(())
        });
        match result {
            Err(DecodeError::Thread { name, detail }) => {
                assert_eq!(name, "boom");
                assert!(detail.contains("panicked"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn early_break_stops_cleanly() {
        let input = gzip_members(&[&b"x\n".repeat(10_000)]);
        let mut seen = 0;
        let stats = LineSource::spawn(std::io::Cursor::new(input), "t", small())
            .for_each_line(|_, _| {
                seen += 1;
                if seen == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(seen, 3);
        assert_eq!(stats.format, Format::Gzip);
    }

    proptest::proptest! {
        /// Any mix of short and over-long lines, plain or in gzip members cut anywhere, in every
        /// decode mode: each line comes back whole, or (64 bytes or more) as one `TooLong` of
        /// its exact length, with its true number.
        #[test]
        fn every_line_comes_back_whole_or_as_one_too_long(
            lens in proptest::collection::vec(0usize..200, 1..40),
            cuts in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..4),
            gzip in proptest::prelude::any::<bool>(),
            whole_members in proptest::prelude::any::<bool>(),
        ) {
            let lines: Vec<String> = lens
                .iter()
                .enumerate()
                .map(|(i, &n)| char::from(b'a' + (i % 26) as u8).to_string().repeat(n))
                .collect();
            let plain = lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
            let input = if gzip {
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(plain.len() + 1)).collect();
                at.extend([0, plain.len()]);
                at.sort_unstable();
                let parts: Vec<&[u8]> = at.windows(2).map(|w| &plain[w[0]..w[1]]).collect();
                gzip_members(&parts)
            } else {
                plain.clone()
            };
            let options = DecodeOptions { whole_members, ..small() };
            let (got, stats) = collect(input, options);
            proptest::prop_assert!(stats.is_ok());
            let want: Vec<(u64, Vec<u8>)> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let l = if l.len() >= 64 { format!("<{} bytes>", l.len()) } else { l.clone() };
                    (i as u64 + 1, l.into_bytes())
                })
                .collect();
            proptest::prop_assert_eq!(text(&got), text(&want));
        }
    }
}
