//! The streaming CAR reader: one verified block at a time from any `AsyncRead`.
//!
//! The reader keeps its own read-ahead buffer and hands out each block as a slice of it, so a
//! block costs no allocation of its own: one buffer of [`READ_CHUNK`] bytes serves many blocks.
//! The flip side is that a block kept alive keeps its whole chunk alive; callers that retain many
//! small blocks for long (the repo loader) copy them into their own storage.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use cid::Cid;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::block::{Parsed, parse_block, parse_header};
use super::{CarError, CarLimits};

/// Bytes asked of the underlying reader at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Reads a CAR from `R`, checking every block against its CID.
#[derive(Debug)]
pub struct CarReader<R> {
    inner: R,
    buf: BytesMut,
    /// Offset in the CAR of `buf[0]`.
    offset: u64,
    limits: CarLimits,
    roots: Vec<Cid>,
    /// Bytes of `buf` lent out by [`CarReader::next_block_ref`], dropped at the next call.
    lent: usize,
}

impl<R: AsyncRead + Unpin> CarReader<R> {
    /// Reads and checks the header (version 1, at least one root).
    pub async fn new(inner: R, limits: CarLimits) -> Result<Self, CarError> {
        let mut reader = Self {
            inner,
            buf: BytesMut::new(),
            offset: 0,
            limits,
            roots: Vec::new(),
            lent: 0,
        };
        loop {
            match parse_header(&reader.buf)? {
                Parsed::Done((roots, used)) => {
                    reader.buf.advance(used);
                    reader.offset = used as u64;
                    reader.roots = roots;
                    return Ok(reader);
                }
                Parsed::Need(need) => {
                    if !reader.fill(need).await? {
                        return Err(CarError::Truncated { offset: 0 });
                    }
                }
            }
        }
    }

    /// The header's roots (at least one; for a repository, the commit's CID).
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// Bytes of the CAR consumed so far (header and whole blocks returned).
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// The next block and its verified data, or `None` at a clean end of input.
    pub async fn next_block(&mut self) -> Result<Option<(Cid, Bytes)>, CarError> {
        let Some((cid, data)) = self.next_frame().await? else {
            return Ok(None);
        };
        let mut block = self.buf.split_to(data.end);
        block.advance(data.start);
        self.offset += data.end as u64;
        Ok(Some((cid, block.freeze())))
    }

    /// Like [`next_block`](Self::next_block), but lends the data from the read-ahead buffer
    /// until the next call: no reference counting, and the buffer is reused in place. This is the
    /// fast path for callers that copy what they keep.
    pub async fn next_block_ref(&mut self) -> Result<Option<(Cid, &[u8])>, CarError> {
        let Some((cid, data)) = self.next_frame().await? else {
            return Ok(None);
        };
        self.lent = data.end;
        self.offset += data.end as u64;
        match self.buf.get(data) {
            Some(bytes) => Ok(Some((cid, bytes))),
            None => Err(CarError::Truncated {
                offset: self.offset,
            }),
        }
    }

    /// Locates the next verified block at the start of the buffer, reading as needed.
    async fn next_frame(&mut self) -> Result<Option<(Cid, Range<usize>)>, CarError> {
        self.buf.advance(std::mem::take(&mut self.lent));
        loop {
            if self.buf.is_empty() && !self.fill(1).await? {
                return Ok(None);
            }
            match parse_block(&self.buf, self.offset, &self.limits)? {
                Parsed::Done(frame) => return Ok(Some((frame.cid, frame.data))),
                Parsed::Need(need) => {
                    if !self.fill(need).await? {
                        return Err(CarError::Truncated {
                            offset: self.offset,
                        });
                    }
                }
            }
        }
    }

    /// Reads until the buffer holds `need` bytes; `false` if the input ends first.
    async fn fill(&mut self, need: usize) -> Result<bool, CarError> {
        while self.buf.len() < need {
            self.buf.reserve((need - self.buf.len()).max(READ_CHUNK));
            let read = self
                .inner
                .read_buf(&mut self.buf)
                .await
                .map_err(|source| CarError::Io {
                    offset: self.offset + self.buf.len() as u64,
                    source,
                })?;
            if read == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
