//! Just enough DAG-CBOR to read and write MST nodes quickly: maps with text keys, arrays, unsigned
//! integers, byte strings, null and CID links (tag 42). Walking a large repository decodes hundreds
//! of thousands of nodes, and a general-purpose decoder allocates for every map entry.

use cid::Cid;

use crate::car::CODEC_RAW;
use crate::car::{CODEC_DAG_CBOR, cid_for};

const MAJOR_UINT: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const NULL: u8 = 0xf6;
const TAG_CID: u64 = 42;

/// A cursor over untrusted DAG-CBOR bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// True once every byte has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        let byte = *self.buf.get(self.pos).ok_or("unexpected end of node")?;
        self.pos += 1;
        Ok(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], &'static str> {
        let len = usize::try_from(len).map_err(|_| "length too large")?;
        let end = self.pos.checked_add(len).ok_or("length too large")?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or("unexpected end of node")?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads an item head: major type and argument. Indefinite lengths are not DAG-CBOR.
    fn head(&mut self) -> Result<(u8, u64), &'static str> {
        let first = self.byte()?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(take_array(self.take(2)?)?)),
            26 => u64::from(u32::from_be_bytes(take_array(self.take(4)?)?)),
            27 => u64::from_be_bytes(take_array(self.take(8)?)?),
            _ => return Err("indefinite length or reserved item"),
        };
        Ok((major, arg))
    }

    fn expect(&mut self, major: u8, what: &'static str) -> Result<u64, &'static str> {
        match self.head()? {
            (m, arg) if m == major => Ok(arg),
            _ => Err(what),
        }
    }

    /// A map header; returns the number of entries.
    pub(crate) fn map_len(&mut self) -> Result<u64, &'static str> {
        self.expect(MAJOR_MAP, "expected a map")
    }

    /// An array header; returns the number of items.
    pub(crate) fn array_len(&mut self) -> Result<u64, &'static str> {
        self.expect(MAJOR_ARRAY, "expected an array")
    }

    /// A text string (its raw bytes).
    pub(crate) fn text(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.expect(MAJOR_TEXT, "expected a text string")?;
        self.take(len)
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.expect(MAJOR_BYTES, "expected a byte string")?;
        self.take(len)
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Result<u64, &'static str> {
        self.expect(MAJOR_UINT, "expected an unsigned integer")
    }

    /// A CID link, or `None` for null.
    pub(crate) fn cid_or_null(&mut self) -> Result<Option<Cid>, &'static str> {
        if self.peek() == Some(NULL) {
            self.pos += 1;
            return Ok(None);
        }
        self.cid().map(Some)
    }

    /// A CID link: tag 42 over a byte string holding 0x00 then the binary CID.
    pub(crate) fn cid(&mut self) -> Result<Cid, &'static str> {
        if self.expect(MAJOR_TAG, "expected a CID link")? != TAG_CID {
            return Err("expected a CID link (tag 42)");
        }
        match self.bytes()? {
            [0x00, rest @ ..] => parse_cid(rest),
            _ => Err("CID link lacks its 0x00 prefix"),
        }
    }
}

fn take_array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], &'static str> {
    bytes.try_into().map_err(|_| "unexpected end of node")
}

/// Parses a binary CID, quickly for the CIDv1 sha2-256 form atproto uses.
fn parse_cid(bytes: &[u8]) -> Result<Cid, &'static str> {
    if let [0x01, codec @ (0x71 | 0x55), 0x12, 0x20, digest @ ..] = bytes
        && let Ok(digest) = <&[u8; 32]>::try_from(digest)
    {
        let codec = if *codec == 0x71 {
            CODEC_DAG_CBOR
        } else {
            CODEC_RAW
        };
        return Ok(crate::car::cid_from_digest(codec, digest));
    }
    Cid::try_from(bytes).map_err(|_| "malformed CID")
}

/// Appends an item head with the shortest argument encoding, as DAG-CBOR requires.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends a map header.
pub(crate) fn write_map(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_MAP, len as u64);
}

/// Appends an array header.
pub(crate) fn write_array(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_ARRAY, len as u64);
}

/// Appends a text string.
pub(crate) fn write_text(out: &mut Vec<u8>, text: &[u8]) {
    write_head(out, MAJOR_TEXT, text.len() as u64);
    out.extend_from_slice(text);
}

/// Appends a byte string.
pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, MAJOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends an unsigned integer.
pub(crate) fn write_uint(out: &mut Vec<u8>, value: u64) {
    write_head(out, MAJOR_UINT, value);
}

/// Appends a CID link, or null.
pub(crate) fn write_cid_or_null(out: &mut Vec<u8>, cid: Option<&Cid>) {
    match cid {
        None => out.push(NULL),
        Some(cid) => {
            let bytes = cid.to_bytes();
            write_head(out, MAJOR_TAG, TAG_CID);
            write_head(out, MAJOR_BYTES, bytes.len() as u64 + 1);
            out.push(0x00);
            out.extend_from_slice(&bytes);
        }
    }
}

/// The CID of a DAG-CBOR block.
pub(crate) fn dag_cbor_cid(bytes: &[u8]) -> Cid {
    cid_for(CODEC_DAG_CBOR, bytes)
}
