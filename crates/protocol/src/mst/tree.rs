//! An in-memory MST that can be built from sorted pairs in one pass or changed one key at a time
//! (the simulated PDS applies each commit's creates, updates and deletes this way).
//!
//! Each node caches its CID; a change clears the cache on the path from the root to the changed
//! node, so computing the new root re-encodes only that path. Nodes encoded since the last
//! [`Mst::take_new_blocks`] keep their bytes until then: those are the blocks a `#commit` frame
//! must carry. A node that is fresh has only fresh ancestors (its ancestors were dirty when it was
//! encoded), so collecting them visits only the fresh part of the tree.

use bytes::Bytes;
use cid::Cid;

use super::MstError;
use super::cbor::dag_cbor_cid;
use super::key::{key_height, validate_key};
use super::node::encode_parts;

/// A sorted map from `collection/rkey` to record CID, kept in canonical MST shape. Cloning gives
/// an independent snapshot (the simulated network keeps one per published commit).
#[derive(Debug, Default, Clone)]
pub struct Mst {
    root: Option<Box<TreeNode>>,
    len: usize,
}

/// The root after a batch of changes, and the node blocks encoded since the previous batch.
#[derive(Debug, Clone)]
pub struct NewBlocks {
    /// The CID of the root node.
    pub root: Cid,
    /// Node blocks that the previous root did not need, root first (pre-order).
    pub blocks: Vec<(Cid, Bytes)>,
}

#[derive(Debug, Clone)]
struct TreeNode {
    layer: u32,
    left: Option<Box<TreeNode>>,
    entries: Vec<Leaf>,
    cid: Option<Cid>,
    fresh: Option<Bytes>,
}

#[derive(Debug, Clone)]
struct Leaf {
    key: String,
    value: Cid,
    right: Option<Box<TreeNode>>,
}

type Subtree = Option<Box<TreeNode>>;

impl TreeNode {
    fn new(layer: u32) -> Self {
        Self {
            layer,
            left: None,
            entries: Vec::new(),
            cid: None,
            fresh: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.left.is_none()
    }

    fn touch(&mut self) {
        self.cid = None;
        self.fresh = None;
    }

    /// The subtree just before entry `index` (`l` for 0, else the previous entry's `t`).
    fn gap_mut(&mut self, index: usize) -> &mut Subtree {
        match index.checked_sub(1).and_then(|i| self.entries.get_mut(i)) {
            Some(leaf) => &mut leaf.right,
            None => &mut self.left,
        }
    }

    fn gap(&self, index: usize) -> Option<&TreeNode> {
        match index.checked_sub(1) {
            Some(i) => self.entries.get(i).and_then(|leaf| leaf.right.as_deref()),
            None => self.left.as_deref(),
        }
    }

    fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|leaf| leaf.key.as_str().cmp(key))
    }
}

fn check_key(key: &str) -> Result<(), MstError> {
    validate_key(key.as_bytes()).map_err(|reason| MstError::BadKey {
        key: key.to_owned(),
        reason,
    })
}

impl Mst {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from pairs in strictly increasing key order, in one pass per layer.
    pub fn from_sorted<I>(pairs: I) -> Result<Self, MstError>
    where
        I: IntoIterator<Item = (String, Cid)>,
    {
        let mut items: Vec<(String, Cid, u32)> = Vec::new();
        for (key, value) in pairs {
            check_key(&key)?;
            if let Some((previous, _, _)) = items.last()
                && previous.as_str() >= key.as_str()
            {
                return Err(MstError::UnsortedInput {
                    key,
                    previous: previous.clone(),
                });
            }
            let height = key_height(key.as_bytes());
            items.push((key, value, height));
        }
        let len = items.len();
        let top = items.iter().map(|(_, _, h)| *h).max().unwrap_or(0);
        let root = build(&mut items, top);
        Ok(Self { root, len })
    }

    /// How many keys the tree holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tree holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record CID stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Cid> {
        let mut node = self.root.as_deref()?;
        loop {
            match node.search(key) {
                Ok(i) => return node.entries.get(i).map(|leaf| &leaf.value),
                Err(i) => node = node.gap(i)?,
            }
        }
    }

    /// Adds `key` (a create); refuses a key that is already present.
    pub fn insert(&mut self, key: &str, value: Cid) -> Result<(), MstError> {
        check_key(key)?;
        if self.get(key).is_some() {
            return Err(MstError::KeyExists {
                key: key.to_owned(),
            });
        }
        let height = key_height(key.as_bytes());
        let mut root = self
            .root
            .take()
            .unwrap_or_else(|| Box::new(TreeNode::new(height)));
        while root.layer < height {
            let mut parent = TreeNode::new(root.layer + 1);
            parent.left = Some(root);
            root = Box::new(parent);
        }
        insert_into(&mut root, key.to_owned(), height, value);
        self.root = Some(root);
        self.len += 1;
        Ok(())
    }

    /// Replaces the value of `key` (an update); returns the previous value.
    pub fn update(&mut self, key: &str, value: Cid) -> Result<Cid, MstError> {
        let missing = || MstError::KeyNotFound {
            key: key.to_owned(),
        };
        if self.get(key).is_none() {
            return Err(missing());
        }
        let mut node = self.root.as_deref_mut().ok_or_else(missing)?;
        loop {
            node.touch();
            match node.search(key) {
                Ok(i) => {
                    let leaf = node.entries.get_mut(i).ok_or_else(missing)?;
                    return Ok(std::mem::replace(&mut leaf.value, value));
                }
                Err(i) => node = node.gap_mut(i).as_deref_mut().ok_or_else(missing)?,
            }
        }
    }

    /// Removes `key` (a delete); returns its value.
    pub fn delete(&mut self, key: &str) -> Result<Cid, MstError> {
        let missing = || MstError::KeyNotFound {
            key: key.to_owned(),
        };
        if self.get(key).is_none() {
            return Err(missing());
        }
        let mut root = self.root.take().ok_or_else(missing)?;
        let removed = remove_from(&mut root, key);
        // Trim the top: a root without entries is replaced by its only subtree.
        let mut root = Some(root);
        while let Some(node) = root.take() {
            if node.entries.is_empty() {
                root = node.left;
            } else {
                root = Some(node);
                break;
            }
        }
        self.root = root;
        let removed = removed.ok_or_else(missing)?;
        self.len -= 1;
        Ok(removed)
    }

    /// The CID of the root node, encoding whatever changed since it was last computed.
    pub fn root_cid(&mut self) -> Cid {
        match self.root.as_deref_mut() {
            Some(root) => ensure_cid(root),
            None => dag_cbor_cid(&empty_node()),
        }
    }

    /// The current root and the node blocks encoded since the previous call (all of them the
    /// first time). An empty tree's single empty node is always included.
    pub fn take_new_blocks(&mut self) -> NewBlocks {
        let root = self.root_cid();
        let mut blocks = Vec::new();
        match self.root.as_deref_mut() {
            Some(node) => collect_fresh(node, &mut blocks),
            None => blocks.push((root, Bytes::from(empty_node()))),
        }
        NewBlocks { root, blocks }
    }

    /// Every node block of the tree, root first (pre-order); re-encodes nodes as needed.
    pub fn all_blocks(&mut self) -> Vec<(Cid, Bytes)> {
        let root = self.root_cid();
        let mut blocks = Vec::new();
        match self.root.as_deref() {
            Some(node) => collect_all(node, &mut blocks),
            None => blocks.push((root, Bytes::from(empty_node()))),
        }
        blocks
    }

    /// The pairs in key order.
    pub fn iter(&self) -> Iter<'_> {
        let mut iter = Iter { stack: Vec::new() };
        if let Some(root) = self.root.as_deref() {
            iter.push_left(root);
        }
        iter
    }
}

/// In-order iterator over an [`Mst`]'s `(key, value)` pairs.
#[derive(Debug)]
pub struct Iter<'a> {
    /// Nodes being visited and the index of their next entry.
    stack: Vec<(&'a TreeNode, usize)>,
}

impl<'a> Iter<'a> {
    fn push_left(&mut self, mut node: &'a TreeNode) {
        loop {
            self.stack.push((node, 0));
            match node.left.as_deref() {
                Some(left) => node = left,
                None => return,
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a Cid);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (node, index) = self.stack.last_mut()?;
            let node: &'a TreeNode = node;
            let Some(leaf) = node.entries.get(*index) else {
                self.stack.pop();
                continue;
            };
            *index += 1;
            if let Some(right) = leaf.right.as_deref() {
                self.push_left(right);
            }
            return Some((leaf.key.as_str(), &leaf.value));
        }
    }
}

fn empty_node() -> Vec<u8> {
    encode_parts(None, 0, std::iter::empty())
}

/// Builds the subtree at `layer` holding `items` (all of height ≤ `layer`).
fn build(items: &mut [(String, Cid, u32)], layer: u32) -> Subtree {
    if items.is_empty() {
        return None;
    }
    let mut node = TreeNode::new(layer);
    let below = layer.saturating_sub(1);
    let mut rest = items;
    loop {
        let split = rest.iter().position(|(_, _, h)| *h == layer);
        let (before, after) = match split {
            Some(at) => rest.split_at_mut(at),
            None => (rest, &mut [][..]),
        };
        // Layer 0 holds every remaining item itself, so `before` is empty there.
        let subtree = if layer == 0 {
            None
        } else {
            build(before, below)
        };
        *node.gap_mut(node.entries.len()) = subtree;
        let Some(((key, value, _), tail)) = after.split_first_mut() else {
            break;
        };
        node.entries.push(Leaf {
            key: std::mem::take(key),
            value: *value,
            right: None,
        });
        rest = tail;
    }
    Some(Box::new(node))
}

fn insert_into(node: &mut TreeNode, key: String, height: u32, value: Cid) {
    node.touch();
    let Err(index) = node.search(&key) else {
        return;
    };
    if height == node.layer {
        let straddling = node.gap_mut(index).take();
        let (low, high) = split(straddling, &key);
        *node.gap_mut(index) = low;
        node.entries.insert(
            index,
            Leaf {
                key,
                value,
                right: high,
            },
        );
    } else {
        let below = node.layer.saturating_sub(1);
        let child = node
            .gap_mut(index)
            .get_or_insert_with(|| Box::new(TreeNode::new(below)));
        insert_into(child, key, height, value);
    }
}

/// Splits a subtree into the keys below and above `key`.
fn split(subtree: Subtree, key: &str) -> (Subtree, Subtree) {
    let Some(mut low) = subtree else {
        return (None, None);
    };
    low.touch();
    let index = match low.search(key) {
        Ok(i) | Err(i) => i,
    };
    let mut high = Box::new(TreeNode::new(low.layer));
    high.entries = low.entries.split_off(index);
    let straddling = low.gap_mut(index).take();
    let (a, b) = split(straddling, key);
    *low.gap_mut(index) = a;
    high.left = b;
    (non_empty(low), non_empty(high))
}

fn non_empty(node: Box<TreeNode>) -> Subtree {
    if node.is_empty() { None } else { Some(node) }
}

fn remove_from(node: &mut TreeNode, key: &str) -> Option<Cid> {
    node.touch();
    match node.search(key) {
        Ok(index) => {
            let leaf = node.entries.remove(index);
            let before = node.gap_mut(index).take();
            *node.gap_mut(index) = merge(before, leaf.right);
            Some(leaf.value)
        }
        Err(index) => {
            let slot = node.gap_mut(index);
            let child = slot.as_deref_mut()?;
            let removed = remove_from(child, key);
            if child.is_empty() {
                *slot = None;
            }
            removed
        }
    }
}

/// Joins two adjacent subtrees of the same layer (every key of `low` sorts before `high`'s).
fn merge(low: Subtree, high: Subtree) -> Subtree {
    match (low, high) {
        (None, other) | (other, None) => other,
        (Some(mut low), Some(mut high)) => {
            low.touch();
            let end = low.entries.len();
            let seam = merge(low.gap_mut(end).take(), high.left.take());
            *low.gap_mut(end) = seam;
            low.entries.append(&mut high.entries);
            Some(low)
        }
    }
}

fn ensure_cid(node: &mut TreeNode) -> Cid {
    if let Some(cid) = node.cid {
        return cid;
    }
    let left = node.left.as_deref_mut().map(ensure_cid);
    let rights: Vec<Option<Cid>> = node
        .entries
        .iter_mut()
        .map(|leaf| leaf.right.as_deref_mut().map(ensure_cid))
        .collect();
    let bytes = encode_parts(
        left.as_ref(),
        node.entries.len(),
        node.entries
            .iter()
            .zip(&rights)
            .map(|(leaf, right)| (leaf.key.as_bytes(), &leaf.value, right.as_ref())),
    );
    let cid = dag_cbor_cid(&bytes);
    node.cid = Some(cid);
    node.fresh = Some(Bytes::from(bytes));
    cid
}

fn collect_fresh(node: &mut TreeNode, out: &mut Vec<(Cid, Bytes)>) {
    let (Some(cid), Some(bytes)) = (node.cid, node.fresh.take()) else {
        return;
    };
    out.push((cid, bytes));
    if let Some(left) = node.left.as_deref_mut() {
        collect_fresh(left, out);
    }
    for leaf in &mut node.entries {
        if let Some(right) = leaf.right.as_deref_mut() {
            collect_fresh(right, out);
        }
    }
}

fn collect_all(node: &TreeNode, out: &mut Vec<(Cid, Bytes)>) {
    let left = node.left.as_deref();
    let rights = node.entries.iter().map(|leaf| leaf.right.as_deref());
    let child_cids: Vec<Option<Cid>> = std::iter::once(left)
        .chain(rights)
        .map(|child| child.and_then(|c| c.cid))
        .collect();
    let mut cids = child_cids.iter();
    let left_cid = cids.next().copied().flatten();
    let bytes = encode_parts(
        left_cid.as_ref(),
        node.entries.len(),
        node.entries
            .iter()
            .zip(cids)
            .map(|(leaf, right)| (leaf.key.as_bytes(), &leaf.value, right.as_ref())),
    );
    out.push((dag_cbor_cid(&bytes), Bytes::from(bytes)));
    if let Some(left) = left {
        collect_all(left, out);
    }
    for leaf in &node.entries {
        if let Some(right) = leaf.right.as_deref() {
            collect_all(right, out);
        }
    }
}
