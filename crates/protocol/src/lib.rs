//! The AT Protocol's data formats, as the pipeline needs them.
//!
//! Everything here reads input from strangers: every parser is bounded, validates what it reads and
//! returns a typed error that says what went wrong and where. Nothing here does network I/O; the XRPC
//! client and identity resolution live in the `xrpc` crate.
//!
//! - [`syntax`]: identifiers (DID, handle, NSID, record key, TID, AT-URI, datetime).
//! - [`data_model`]: DAG-CBOR ⇄ the atproto JSON data model, and CIDs.
//! - [`crypto`]: k256 and p256 keys, multikeys, low-S signatures.
//! - [`car`]: streaming, hash-verifying CAR reader, and a CAR writer.
//! - [`mst`]: the Merkle Search Tree: validated walk and builder.
//! - [`repo`]: commits, the bounded-memory repo loader and the repo writer.
//! - [`frames`]: event-stream frames (`subscribeRepos`, `subscribeLabels`).

pub mod car;
pub mod crypto;
pub mod data_model;
pub mod frames;
pub mod mst;
pub mod repo;
pub mod syntax;
