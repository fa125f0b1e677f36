//! Line-aligned blocks of decoded bytes, handed from the decoder thread to the consumer.

use std::sync::mpsc::{Receiver, SyncSender};

use super::DecodeError;

/// A run of whole lines (the last block of a stream may end without a newline).
#[derive(Debug)]
pub(crate) struct Block {
    /// Backing buffer (kept at full length so it can be reused without re-zeroing).
    pub(crate) buf: Vec<u8>,
    /// How many bytes of `buf` hold data.
    pub(crate) len: usize,
}

impl Block {
    /// The decoded bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What the decoder thread sends, in line order.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Whole lines.
    Lines(Block),
    /// One line longer than a block, skipped up to its newline: its length without the newline.
    TooLong(u64),
}

/// Fills fixed-size buffers, cuts them at the last newline, and sends them downstream; the
/// partial line after the cut moves to the next buffer. A line that fills a whole buffer is
/// skipped up to its newline and sent as [`Chunk::TooLong`], so memory stays bounded and the
/// text after the cut never passes for a line of its own. Buffers come back through `pool`.
pub(crate) struct BlockWriter {
    tx: SyncSender<Result<Chunk, DecodeError>>,
    pool: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    len: usize,
    block_bytes: usize,
    /// `Some(n)`: inside an over-long line, `n` bytes of it skipped so far (`len` stays 0).
    skipping: Option<u64>,
    /// Uncompressed bytes produced so far.
    pub(crate) produced: u64,
}

/// The consumer hung up; the decoder should stop.
#[derive(Debug)]
pub(crate) struct Disconnected;

impl BlockWriter {
    pub(crate) fn new(
        tx: SyncSender<Result<Chunk, DecodeError>>,
        pool: Receiver<Vec<u8>>,
        block_bytes: usize,
    ) -> Self {
        Self {
            tx,
            pool,
            buf: vec![0; block_bytes],
            len: 0,
            block_bytes,
            skipping: None,
            produced: 0,
        }
    }

    /// Free space at the end of the current buffer (empty when full).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// Whether the current buffer holds no data.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records that `n` bytes were written into [`spare`](Self::spare). Inside an over-long line
    /// they are skipped up to its newline.
    pub(crate) fn commit(&mut self, n: usize) -> Result<(), Disconnected> {
        self.produced += n as u64;
        let Some(skipped) = self.skipping else {
            self.len += n;
            return Ok(());
        };
        let new = self.len..self.len + n;
        match memchr::memchr(b'\n', &self.buf[new.clone()]) {
            None => {
                self.skipping = Some(skipped + n as u64);
                Ok(())
            }
            Some(nl) => {
                self.skipping = None;
                self.buf.copy_within(new.start + nl + 1..new.end, self.len);
                self.len += n - nl - 1;
                self.send(Ok(Chunk::TooLong(skipped + nl as u64)))
            }
        }
    }

    /// Sends the whole lines held so far and keeps the trailing partial line. A buffer holding
    /// nothing but part of one line starts skipping that line.
    pub(crate) fn flush_lines(&mut self) -> Result<(), Disconnected> {
        let data = &self.buf[..self.len];
        let cut = match memchr::memrchr(b'\n', data) {
            Some(nl) => nl + 1,
            None if self.len == self.buf.len() => {
                self.skipping = Some(self.skipping.unwrap_or(0) + self.len as u64);
                self.len = 0;
                return Ok(());
            }
            None => return Ok(()),
        };
        let mut next = self.fresh_buffer();
        let tail = self.len - cut;
        next[..tail].copy_from_slice(&self.buf[cut..self.len]);
        let full = std::mem::replace(&mut self.buf, next);
        self.len = tail;
        self.send(Ok(Chunk::Lines(Block {
            buf: full,
            len: cut,
        })))
    }

    /// Sends everything left, including a last line without a newline.
    pub(crate) fn finish(&mut self) -> Result<(), Disconnected> {
        if let Some(skipped) = self.skipping.take() {
            return self.send(Ok(Chunk::TooLong(skipped)));
        }
        if self.len == 0 {
            return Ok(());
        }
        let full = std::mem::take(&mut self.buf);
        let len = std::mem::take(&mut self.len);
        self.send(Ok(Chunk::Lines(Block { buf: full, len })))
    }

    /// Sends the whole lines decoded so far (a partial line cut by the failure is dropped; an
    /// over-long one is reported), then the error.
    pub(crate) fn fail(&mut self, error: DecodeError) {
        let flushed = self
            .flush_lines()
            .and_then(|()| match self.skipping.take() {
                Some(skipped) => self.send(Ok(Chunk::TooLong(skipped))),
                None => Ok(()),
            });
        if flushed.is_ok() {
            let _ = self.tx.send(Err(error));
        }
    }

    fn send(&self, chunk: Result<Chunk, DecodeError>) -> Result<(), Disconnected> {
        self.tx.send(chunk).map_err(|_| Disconnected)
    }

    fn fresh_buffer(&self) -> Vec<u8> {
        match self.pool.try_recv() {
            Ok(buf) if buf.len() == self.block_bytes => buf,
            _ => vec![0; self.block_bytes],
        }
    }
}
