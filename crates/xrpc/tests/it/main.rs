//! The xrpc crate's integration tests, in one binary: identity resolution and the sync calls,
//! against small local servers and the reference PDS's real answers.

mod identity;
mod support;
mod sync_calls;
