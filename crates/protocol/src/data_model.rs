//! DAG-CBOR ⇄ the atproto JSON data model, and CIDs.
//!
//! Records travel as DAG-CBOR blocks and leave this system as JSON (`$link` for CID links,
//! `$bytes` for byte strings, blobs as their `{"$type": "blob", …}` objects; never arrays of
//! integers). [`cbor_to_json`] is the hot path of the backfiller, so it transcodes CBOR straight
//! into `serde_json::Value` with a small hand-written reader instead of going through an `Ipld`
//! tree; it is strict about what the data model forbids and bounded in depth and size.
//! [`json_to_cbor`] is the way back, producing canonical DAG-CBOR (the harness makes its records
//! with it). [`cid_for_cbor`], [`cid_for_raw`] and [`verify_cid`] tie blocks to their CIDs.

mod decode;
mod encode;
mod error;
mod hashing;

pub use decode::{
    DecodeLimits, cbor_to_json, cbor_to_json_with_limits, check_prefix, decode_prefix,
};
pub use encode::{json_to_cbor, json_value_to_cbor};
pub use error::DataModelError;
pub use hashing::{CODEC_DAG_CBOR, CODEC_RAW, SHA2_256, cid_for_cbor, cid_for_raw, verify_cid};
