//! The Merkle Search Tree: the sorted, content-addressed map from `collection/rkey` to record CID
//! that a repository commit points at.
//!
//! A key's layer is the number of leading zero bits of SHA-256(key), halved. A node holds the keys
//! of one layer in order, with subtrees of the layer below between and around them, so the shape of
//! the tree, and therefore its root CID, depends only on the set of keys and values.
//!
//! - [`key`]: key layers, prefix lengths and key syntax.
//! - [`node`]: the DAG-CBOR node `{l, e: [{p, k, v, t}]}`, decoded and encoded by hand (hot path).
//! - [`walk`]: the validated in-order walk of an untrusted tree.
//! - [`tree`]: an in-memory tree that is built from sorted pairs or mutated one key at a time, and
//!   reports the node blocks each change created.

pub mod key;
pub mod node;
pub mod tree;
pub mod walk;

mod cbor;
mod error;

pub use error::MstError;
pub use key::{common_prefix_len, key_height, validate_key};
pub use node::{Node, NodeEntry, decode_node, encode_node};
pub use tree::{Mst, NewBlocks};
pub use walk::{MstWalk, NodeSource};
