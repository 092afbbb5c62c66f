//! The validated in-order walk of an MST read from strangers.
//!
//! The walk yields `(key, record CID)` in key order and checks, as it goes, everything that makes a
//! tree canonical: keys strictly increasing and well-formed, every key of a node at that node's
//! layer, each subtree exactly one layer down, no empty nodes except an empty tree's root, the root
//! trimmed. Layers strictly decrease downwards, so the walk's stack is at most ~130 frames deep
//! whatever the input.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;

use bytes::Bytes;
use cid::Cid;

use super::MstError;
use super::key::{key_height, validate_key};
use super::node::{NodeEntry, decode_node};

/// Where the walk finds node blocks by CID.
pub trait NodeSource {
    /// The bytes of block `cid`, or `None` if it is not there.
    fn node(&self, cid: &Cid) -> std::io::Result<Option<Cow<'_, [u8]>>>;
}

impl<H: BuildHasher> NodeSource for HashMap<Cid, Bytes, H> {
    fn node(&self, cid: &Cid) -> std::io::Result<Option<Cow<'_, [u8]>>> {
        Ok(self.get(cid).map(|bytes| Cow::Borrowed(bytes.as_ref())))
    }
}

struct Frame {
    cid: Cid,
    layer: u32,
    entries: std::vec::IntoIter<NodeEntry>,
}

/// An iterator over `(key, record CID)` of the tree under a root, in key order. It stops after the
/// first error.
pub struct MstWalk<'s, S: ?Sized> {
    source: &'s S,
    stack: Vec<Frame>,
    /// The next subtree to enter, with the layer it must be at (`None` for the root).
    descend: Option<(Cid, Option<u32>)>,
    /// The previous key in walk order (empty before the first), reused to avoid allocating.
    last_key: Vec<u8>,
    failed: bool,
}

impl<'s, S: NodeSource + ?Sized> MstWalk<'s, S> {
    /// Starts a walk of the tree whose root node is `root`.
    pub fn new(source: &'s S, root: Cid) -> Self {
        Self {
            source,
            stack: Vec::new(),
            descend: Some((root, None)),
            last_key: Vec::new(),
            failed: false,
        }
    }

    fn enter(&mut self, cid: Cid, expected: Option<u32>) -> Result<(), MstError> {
        let bytes = self
            .source
            .node(&cid)
            .map_err(|source| MstError::Source {
                cid: Box::new(cid),
                source,
            })?
            .ok_or(MstError::MissingNode { cid: Box::new(cid) })?;
        let node = decode_node(&cid, &bytes)?;
        let layer = match (node.entries.first(), expected) {
            (Some(first), _) => key_height(&first.key),
            (None, None) if node.left.is_some() => {
                return Err(MstError::BadShape {
                    cid: Box::new(cid),
                    reason: "root has no entries but a subtree (not trimmed)",
                });
            }
            (None, None) => 0,
            (None, Some(_)) if node.left.is_none() => {
                return Err(MstError::BadShape {
                    cid: Box::new(cid),
                    reason: "empty node below the root",
                });
            }
            (None, Some(expected)) => expected,
        };
        if let Some(expected) = expected
            && layer != expected
        {
            return Err(MstError::WrongLayer {
                cid: Box::new(cid),
                what: "node".to_owned(),
                actual: layer,
                expected,
            });
        }
        for entry in &node.entries {
            if let Err(reason) = validate_key(&entry.key) {
                return Err(MstError::InvalidKey {
                    cid: Box::new(cid),
                    key: String::from_utf8_lossy(&entry.key).into_owned(),
                    reason,
                });
            }
            let height = key_height(&entry.key);
            if height != layer {
                return Err(MstError::WrongLayer {
                    cid: Box::new(cid),
                    what: format!("key {:?}", String::from_utf8_lossy(&entry.key)),
                    actual: height,
                    expected: layer,
                });
            }
        }
        let has_subtree = node.left.is_some() || node.entries.iter().any(|e| e.right.is_some());
        if layer == 0 && has_subtree {
            return Err(MstError::BadShape {
                cid: Box::new(cid),
                reason: "node at layer 0 has a subtree",
            });
        }
        let below = layer.checked_sub(1);
        self.descend = node.left.map(|left| (left, below));
        self.stack.push(Frame {
            cid,
            layer,
            entries: node.entries.into_iter(),
        });
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(String, Cid)>, MstError> {
        loop {
            if let Some((cid, expected)) = self.descend.take() {
                self.enter(cid, expected)?;
                continue;
            }
            let Some(frame) = self.stack.last_mut() else {
                return Ok(None);
            };
            let Some(entry) = frame.entries.next() else {
                self.stack.pop();
                continue;
            };
            let cid = frame.cid;
            self.descend = entry.right.map(|right| (right, frame.layer.checked_sub(1)));
            // validate_key admitted only ASCII, so this conversion cannot fail.
            let key = String::from_utf8(entry.key).map_err(|e| MstError::InvalidKey {
                cid: Box::new(cid),
                key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: "not UTF-8",
            })?;
            // Every valid key is non-empty, so the empty initial value sorts before all of them.
            if key.as_bytes() <= self.last_key.as_slice() {
                return Err(MstError::Unsorted {
                    cid: Box::new(cid),
                    key,
                    previous: String::from_utf8_lossy(&self.last_key).into_owned(),
                });
            }
            self.last_key.clear();
            self.last_key.extend_from_slice(key.as_bytes());
            return Ok(Some((key, entry.value)));
        }
    }
}

impl<S: NodeSource + ?Sized> Iterator for MstWalk<'_, S> {
    type Item = Result<(String, Cid), MstError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(item) => item.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}
