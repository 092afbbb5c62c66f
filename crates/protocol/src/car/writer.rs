//! Writing CARs: the harness serves repositories and frames from them, the repo writer builds them.
//!
//! Blocks are written exactly in the order given, so callers control the layout (tree order, the
//! reference PDS's order, or a seeded shuffle) and identical inputs give identical bytes.

use std::io::{self, Write};

use bytes::Bytes;
use cid::Cid;
use serde::Serialize;

use super::block::write_varint;

#[derive(Serialize)]
struct Header<'a> {
    roots: &'a [Cid],
    version: u64,
}

/// Writes a CAR block by block to any `std::io::Write` (a `Vec<u8>`, a file, a buffered socket).
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    inner: W,
    scratch: Vec<u8>,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header `{roots, version: 1}` and returns a writer ready for blocks.
    pub fn new(mut inner: W, roots: &[Cid]) -> io::Result<Self> {
        let header = serde_ipld_dagcbor::to_vec(&Header { roots, version: 1 })
            .map_err(|e| io::Error::other(format!("encoding the CAR header: {e}")))?;
        let mut scratch = Vec::with_capacity(64);
        write_varint(&mut scratch, header.len() as u64);
        inner.write_all(&scratch)?;
        inner.write_all(&header)?;
        Ok(Self { inner, scratch })
    }

    /// Appends one block. The caller is trusted to pass the CID of `data`.
    pub fn write_block(&mut self, cid: &Cid, data: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        let cid_len = cid.encoded_len();
        write_varint(&mut self.scratch, (cid_len + data.len()) as u64);
        cid.write_bytes(&mut self.scratch)
            .map_err(|e| io::Error::other(format!("encoding CID {cid}: {e}")))?;
        self.inner.write_all(&self.scratch)?;
        self.inner.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Writes a whole CAR: the header with `roots`, then `blocks` in the order given.
pub fn write_car<'a, W, I>(roots: &[Cid], blocks: I, writer: W) -> io::Result<W>
where
    W: Write,
    I: IntoIterator<Item = (&'a Cid, &'a Bytes)>,
{
    let mut car = CarWriter::new(writer, roots)?;
    for (cid, data) in blocks {
        car.write_block(cid, data)?;
    }
    car.finish()
}

/// Encodes a whole CAR into memory.
pub fn encode_car<'a, I>(roots: &[Cid], blocks: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a Cid, &'a Bytes)>,
{
    // Writing into a Vec cannot fail and CIDs always encode, so an error here is impossible; an
    // empty CAR (which every reader rejects) is the safe answer if it ever happened.
    write_car(roots, blocks, Vec::new()).unwrap_or_default()
}
