//! The ways an MST can be wrong or a mutation can be refused, each naming the node or key.
//!
//! CIDs are boxed in errors: a CID is ~100 bytes, and every `Result` in the hot path would carry it.

use cid::Cid;

/// An invalid tree, a missing node, or a refused mutation.
#[derive(Debug, thiserror::Error)]
pub enum MstError {
    /// A node the tree points at is not available.
    #[error("MST node {cid} is missing")]
    MissingNode {
        /// The missing node.
        cid: Box<Cid>,
    },
    /// A node's bytes are not a well-formed `{l, e}` node.
    #[error("MST node {cid} is malformed: {reason}")]
    Decode {
        /// The node.
        cid: Box<Cid>,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key is not a valid `collection/rkey`.
    #[error("MST node {cid} holds invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The node holding it.
        cid: Box<Cid>,
        /// The key, lossily as text.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Keys are not strictly increasing in walk order.
    #[error("MST node {cid}: key {key:?} does not sort after {previous:?}")]
    Unsorted {
        /// The node holding the out-of-order key.
        cid: Box<Cid>,
        /// The key.
        key: String,
        /// The key before it in walk order.
        previous: String,
    },
    /// A key or node sits at the wrong layer.
    #[error("MST node {cid}: {what} is at layer {actual}, expected {expected}")]
    WrongLayer {
        /// The node.
        cid: Box<Cid>,
        /// Which key or node.
        what: String,
        /// The layer found.
        actual: u32,
        /// The layer its place in the tree requires.
        expected: u32,
    },
    /// A node's structure breaks a tree rule (empty node, untrimmed root, subtree under layer 0).
    #[error("MST node {cid}: {reason}")]
    BadShape {
        /// The node.
        cid: Box<Cid>,
        /// Which rule.
        reason: &'static str,
    },
    /// Reading a node from its store failed.
    #[error("reading MST node {cid}")]
    Source {
        /// The node being read.
        cid: Box<Cid>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key given to a mutation is not a valid `collection/rkey`.
    #[error("invalid MST key {key:?}: {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A create for a key that is already present.
    #[error("MST key {key:?} already exists")]
    KeyExists {
        /// The key.
        key: String,
    },
    /// An update or delete of a key that is absent.
    #[error("MST key {key:?} does not exist")]
    KeyNotFound {
        /// The key.
        key: String,
    },
    /// Keys given to the bulk builder are not strictly increasing.
    #[error("MST keys given out of order: {key:?} after {previous:?}")]
    UnsortedInput {
        /// The key.
        key: String,
        /// The key given before it.
        previous: String,
    },
}
