//! Shared fixtures for the record-mapping unit tests.

use super::{InvalidReason, InvalidRecord, Rows, Source, map_record};

/// The author of every test record.
pub(crate) const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
/// Another account.
pub(crate) const OTHER: &str = "did:plc:44ybard66vv44zksje25o7dz";
/// A valid CID (dag-cbor, sha2-256).
pub(crate) const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
/// The `indexedAt` of every test record.
pub(crate) const INDEXED_AT: &str = "2026-11-27T10:00:00.000Z";

/// A source in `collection` at `rkey`, authored by [`DID`].
pub(crate) fn source<'a>(collection: &'a str, rkey: &'a str) -> Source<'a> {
    Source {
        did: DID,
        collection,
        rkey,
        cid: CID,
        indexed_at: INDEXED_AT,
    }
}

/// The AT-URI of a record of [`OTHER`]'s.
pub(crate) fn other_uri(collection: &str, rkey: &str) -> String {
    format!("at://{OTHER}/{collection}/{rkey}")
}

/// The `createdAt` of test records (valid, not yet in the canonical form).
pub(crate) const CREATED: &str = "2024-01-01T00:00:00Z";

/// Maps `record` as a record of [`DID`]'s in `collection` at rkey `3k2a`.
pub(crate) fn map(collection: &str, record: serde_json::Value) -> Result<Rows, InvalidRecord> {
    map_record(&source(collection, "3k2a"), &record)
}

/// Why [`map`] refuses `record`, with the offending field's path; `None` when it is accepted.
pub(crate) fn reason(
    collection: &str,
    record: serde_json::Value,
) -> Option<(InvalidReason, String)> {
    map(collection, record).err().map(|e| (e.reason, e.path))
}
