//! One MST node as stored: `{l: CID|null, e: [{p, k, v, t}]}`, with keys prefix-compressed against
//! the previous key of the same node. [`Node`] holds full keys; the codec does the compression.

use cid::Cid;

use super::MstError;
use super::cbor::{self, Reader};
use super::key::common_prefix_len;

/// A node with its keys spelled out in full.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The subtree of keys before the first entry (`l`).
    pub left: Option<Cid>,
    /// The entries, in key order.
    pub entries: Vec<NodeEntry>,
}

/// One key of a node, with the subtree of keys between it and the next entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// The full key (`collection/rkey`).
    pub key: Vec<u8>,
    /// The record's CID (`v`).
    pub value: Cid,
    /// The subtree after this key (`t`).
    pub right: Option<Cid>,
}

/// Decodes node `cid` from `bytes`, checking its shape and its prefix compression (each `p` must be
/// exactly the prefix shared with the previous key, and the first `p` must be 0).
pub fn decode_node(cid: &Cid, bytes: &[u8]) -> Result<Node, MstError> {
    decode(bytes).map_err(|reason| MstError::Decode {
        cid: Box::new(*cid),
        reason,
    })
}

fn decode(bytes: &[u8]) -> Result<Node, &'static str> {
    let mut r = Reader::new(bytes);
    let fields = r.map_len()?;
    let mut left = None;
    let (mut seen_l, mut entries) = (false, None);
    for _ in 0..fields {
        match r.text()? {
            b"l" if !seen_l => {
                seen_l = true;
                left = r.cid_or_null()?;
            }
            b"e" if entries.is_none() => entries = Some(decode_entries(&mut r)?),
            b"l" | b"e" => return Err("repeated field in node"),
            _ => return Err("unknown field in node"),
        }
    }
    if !r.is_done() {
        return Err("trailing bytes after node");
    }
    let entries = entries.ok_or("node has no `e` field")?;
    Ok(Node { left, entries })
}

fn decode_entries(r: &mut Reader<'_>) -> Result<Vec<NodeEntry>, &'static str> {
    let count = r.array_len()?;
    // A stranger's count is not an allocation size: every entry takes at least 40 bytes.
    let mut entries = Vec::with_capacity(usize::try_from(count.min(256)).unwrap_or(256));
    let mut previous_key: Vec<u8> = Vec::new();
    for _ in 0..count {
        let fields = r.map_len()?;
        let (mut p, mut k, mut v, mut t) = (None, None, None, None);
        for _ in 0..fields {
            match r.text()? {
                b"p" if p.is_none() => p = Some(r.uint()?),
                b"k" if k.is_none() => k = Some(r.bytes()?),
                b"v" if v.is_none() => v = Some(r.cid()?),
                b"t" if t.is_none() => t = Some(r.cid_or_null()?),
                b"p" | b"k" | b"v" | b"t" => return Err("repeated field in entry"),
                _ => return Err("unknown field in entry"),
            }
        }
        let prefix = p.ok_or("entry has no `p`")?;
        let suffix = k.ok_or("entry has no `k`")?;
        let value = v.ok_or("entry has no `v`")?;
        let prefix = usize::try_from(prefix).map_err(|_| "prefix length too large")?;
        let shared = previous_key
            .get(..prefix)
            .ok_or("prefix length longer than the previous key")?;
        let mut key = Vec::with_capacity(prefix + suffix.len());
        key.extend_from_slice(shared);
        key.extend_from_slice(suffix);
        if common_prefix_len(&previous_key, &key) != prefix {
            return Err("prefix length is not the prefix shared with the previous key");
        }
        previous_key.clone_from(&key);
        entries.push(NodeEntry {
            key,
            value,
            right: t.flatten(),
        });
    }
    Ok(entries)
}

/// Encodes a node in canonical DAG-CBOR, prefix-compressing its keys.
pub fn encode_node(node: &Node) -> Vec<u8> {
    encode_parts(
        node.left.as_ref(),
        node.entries.len(),
        node.entries
            .iter()
            .map(|e| (e.key.as_slice(), &e.value, e.right.as_ref())),
    )
}

/// Encodes a node from borrowed parts: `count` entries of (full key, value, right subtree).
pub(crate) fn encode_parts<'a>(
    left: Option<&Cid>,
    count: usize,
    entries: impl Iterator<Item = (&'a [u8], &'a Cid, Option<&'a Cid>)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + count * 100);
    // Canonical DAG-CBOR orders map keys by length, then bytes: `e` before `l`, and `k p t v`.
    cbor::write_map(&mut out, 2);
    cbor::write_text(&mut out, b"e");
    cbor::write_array(&mut out, count);
    let mut previous: &[u8] = &[];
    for (key, value, right) in entries {
        let prefix = common_prefix_len(previous, key);
        cbor::write_map(&mut out, 4);
        cbor::write_text(&mut out, b"k");
        cbor::write_bytes(&mut out, key.get(prefix..).unwrap_or_default());
        cbor::write_text(&mut out, b"p");
        cbor::write_uint(&mut out, prefix as u64);
        cbor::write_text(&mut out, b"t");
        cbor::write_cid_or_null(&mut out, right);
        cbor::write_text(&mut out, b"v");
        cbor::write_cid_or_null(&mut out, Some(value));
        previous = key;
    }
    cbor::write_text(&mut out, b"l");
    cbor::write_cid_or_null(&mut out, left);
    out
}
