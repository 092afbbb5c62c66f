//! The protocol crate's integration tests, in one binary (one link instead of one per file):
//! interop vectors, the reference PDS's real output, and properties of repos, MSTs and CARs.

mod car_corruption;
mod crypto_interop;
mod data_model_interop;
mod frames_realpds;
mod mst_commit_proofs;
mod mst_interop;
mod mst_mutation;
mod mst_walk_invalid;
mod repo_index_bound;
mod repo_realpds;
mod repo_roundtrip;
mod syntax_interop;
