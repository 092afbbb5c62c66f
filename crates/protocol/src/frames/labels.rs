//! `#labels` frames from `com.atproto.label.subscribeLabels`.
//!
//! Label fields are kept close to the wire (strings, not validated identifiers, except `src`): the
//! indexer decides what to do with an odd label, and one bad label must not make a whole frame of
//! good ones undecodable.
//!
//! The serde impls are for DAG-CBOR. `serde_json` would write `sig` as an array of integers, so
//! JSON for the streams comes from [`LabelsFrame::to_atproto_json`] (`sig` as `{"$bytes": …}`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FrameError;
use crate::data_model::cbor_to_json;
use crate::syntax::Did;

/// The body of a `#labels` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsFrame {
    /// The labeler stream's sequence number.
    pub seq: i64,
    /// The labels of this event.
    pub labels: Vec<Label>,
}

/// One label (`com.atproto.label.defs#label`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The label format version (1 for signed labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    /// The labeler's DID.
    pub src: Did,
    /// The subject: an AT-URI, or a bare DID for an account-level label.
    pub uri: String,
    /// The subject record's CID, pinning the label to one version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The label's value, e.g. `porn` or `!hide`.
    pub val: String,
    /// True if this negates an earlier label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg: Option<bool>,
    /// When the label was created.
    pub cts: String,
    /// When the label expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The labeler's signature over the label without `sig`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub sig: Option<Vec<u8>>,
}

impl LabelsFrame {
    /// The frame body in the atproto JSON data model (`{"seq", "labels": [...]}`, `sig` as
    /// `{"$bytes": …}`), the `label_live` stream's payload.
    pub fn to_atproto_json(&self) -> Result<Value, FrameError> {
        let cbor = serde_ipld_dagcbor::to_vec(self).map_err(|e| FrameError::Encode {
            reason: e.to_string(),
        })?;
        cbor_to_json(&cbor).map_err(|source| FrameError::Body {
            t: "#labels".into(),
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_has_bytes_not_integer_arrays() {
        let frame = LabelsFrame {
            seq: 3,
            labels: vec![Label {
                ver: Some(1),
                src: "did:plc:labeler".parse().unwrap(),
                uri: "did:plc:abc".into(),
                cid: None,
                val: "spam".into(),
                neg: None,
                cts: "2026-11-27T12:34:56.789Z".into(),
                exp: None,
                sig: Some(vec![0xff, 0x00, 0x10]),
            }],
        };
        assert_eq!(
            frame.to_atproto_json().unwrap(),
            json!({"seq": 3, "labels": [{
                "ver": 1, "src": "did:plc:labeler", "uri": "did:plc:abc", "val": "spam",
                "cts": "2026-11-27T12:34:56.789Z", "sig": {"$bytes": "/wAQ"}
            }]})
        );
    }
}
