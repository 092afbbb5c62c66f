//! Signed labels, and the key that identifies a label row.
//!
//! A label's signature covers the DAG-CBOR of the label without `sig` (`ver` included), made with
//! the labeler's `#atproto_label` key.

use protocol::crypto::Keypair;
use protocol::data_model::json_to_cbor;
use protocol::frames::Label;
use protocol::syntax::Did;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ScriptError;

/// What identifies a label row in the AppView's `label` table: `(src, uri, cid, val)`, with `cid`
/// empty for account-level labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelKey {
    /// The labeler's DID.
    pub src: String,
    /// The subject: an AT-URI or a bare DID.
    pub uri: String,
    /// The subject record's CID, or `""`.
    pub cid: String,
    /// The label's value.
    pub val: String,
}

impl LabelKey {
    /// The row a label creates or (with `neg`) removes.
    pub fn of(label: &Label) -> Self {
        Self {
            src: label.src.as_str().to_owned(),
            uri: label.uri.clone(),
            cid: label.cid.clone().unwrap_or_default(),
            val: label.val.clone(),
        }
    }
}

/// What a new label says.
pub(crate) struct LabelDraft {
    /// The labeler.
    pub src: Did,
    /// The subject.
    pub uri: String,
    /// The subject record's CID, for record labels.
    pub cid: Option<String>,
    /// The value.
    pub val: String,
    /// True to negate.
    pub neg: bool,
    /// When made, canonical RFC 3339.
    pub cts: String,
    /// When it expires.
    pub exp: Option<String>,
}

/// Builds and signs a version-1 label.
pub(crate) fn sign_label(draft: LabelDraft, key: &Keypair) -> Result<Label, ScriptError> {
    let mut label = Label {
        ver: Some(1),
        src: draft.src,
        uri: draft.uri,
        cid: draft.cid,
        val: draft.val,
        neg: draft.neg.then_some(true),
        cts: draft.cts,
        exp: draft.exp,
        sig: None,
    };
    let bytes =
        json_to_cbor(&unsigned_json(&label)).map_err(|e| ScriptError::Label(Box::new(e)))?;
    label.sig = Some(key.sign(&bytes).to_vec());
    Ok(label)
}

/// The label without `sig`, as the atproto JSON the signature covers.
fn unsigned_json(label: &Label) -> Value {
    let mut map = Map::new();
    if let Some(ver) = label.ver {
        map.insert("ver".into(), Value::from(ver));
    }
    map.insert("src".into(), Value::from(label.src.as_str()));
    map.insert("uri".into(), Value::from(label.uri.as_str()));
    if let Some(cid) = &label.cid {
        map.insert("cid".into(), Value::from(cid.as_str()));
    }
    map.insert("val".into(), Value::from(label.val.as_str()));
    if let Some(neg) = label.neg {
        map.insert("neg".into(), Value::from(neg));
    }
    map.insert("cts".into(), Value::from(label.cts.as_str()));
    if let Some(exp) = &label.exp {
        map.insert("exp".into(), Value::from(exp.as_str()));
    }
    Value::Object(map)
}

/// Checks a label's signature against the labeler's key (for tests and mock clients).
pub fn verify_label(label: &Label, key: &protocol::crypto::PublicKey) -> bool {
    let Some(sig) = &label.sig else {
        return false;
    };
    json_to_cbor(&unsigned_json(label))
        .map(|bytes| key.verify(&bytes, sig).is_ok())
        .unwrap_or(false)
}
