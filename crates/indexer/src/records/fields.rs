//! Reading a record's fields the way its lexicon declares them, from untrusted JSON.
//!
//! Every accessor checks presence, JSON type and format (DID, AT-URI, CID, datetime, handle,
//! language) and returns owned values ready for PostgreSQL: free text has `\u0000` removed
//! (PostgreSQL rejects it in text and jsonb), datetimes are normalised to RFC 3339 UTC with
//! milliseconds and `Z`. Errors carry the dotted path of the offending field.
//!
//! Lengths are checked in UTF-8 bytes (the lexicons' `maxLength`); `maxGraphemes` is not
//! checked, so a string within its byte limit but over its grapheme limit is accepted.

use protocol::syntax::{AtUri, Did, Handle, Language, normalize_datetime};
use serde_json::{Map, Value};

use super::error::{InvalidReason, InvalidRecord};

/// Length bounds of a string (UTF-8 bytes) or array (items).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Len {
    min: usize,
    max: usize,
}

impl Len {
    /// No bounds.
    pub(crate) const ANY: Len = Len {
        min: 0,
        max: usize::MAX,
    };

    /// At most `max`.
    pub(crate) const fn max(max: usize) -> Len {
        Len { min: 0, max }
    }

    /// Between `min` and `max`, inclusive.
    pub(crate) const fn between(min: usize, max: usize) -> Len {
        Len { min, max }
    }

    /// `len` within bounds, or an error at `path` (built only then).
    fn check(self, len: usize, path: impl FnOnce() -> String) -> Result<(), InvalidRecord> {
        let detail = if len < self.min {
            "too short"
        } else if len > self.max {
            "too long"
        } else {
            return Ok(());
        };
        Err(InvalidRecord::new(InvalidReason::BadLength, path(), detail))
    }
}

/// A `com.atproto.repo.strongRef`: a record's AT-URI and the CID of the version meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StrongRef {
    /// The AT-URI, as written (validated).
    pub(crate) uri: AtUri,
    /// The CID, as written (validated).
    pub(crate) cid: String,
}

/// A JSON object inside a record, with its path for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Object<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

/// Removes `\u0000`, which PostgreSQL cannot store in text.
pub(crate) fn clean(s: &str) -> String {
    s.replace('\0', "")
}

/// A JSON value with `\u0000` removed from every string and key in it.
pub(crate) fn clean_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.iter().map(clean_json).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (clean(k), clean_json(v))).collect())
        }
        other => other.clone(),
    }
}

/// `parent.name`, or `name` at the root.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent == "$" {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn wrong_type(path: &str, detail: &'static str) -> InvalidRecord {
    InvalidRecord::new(InvalidReason::WrongType, path, detail)
}

fn missing(path: &str) -> InvalidRecord {
    InvalidRecord::new(
        InvalidReason::MissingField,
        path,
        "required field is absent",
    )
}

fn bad_format(path: &str, detail: &'static str) -> InvalidRecord {
    InvalidRecord::new(InvalidReason::BadFormat, path, detail)
}

impl<'a> Object<'a> {
    /// `value` as an object located at `path`.
    pub(crate) fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, InvalidRecord> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            _ => Err(InvalidRecord::new(
                InvalidReason::NotAnObject,
                path,
                "expected an object",
            )),
        }
    }

    /// This object's path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The path of field `name`.
    pub(crate) fn at(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// `value`, the optional field `name`, or "missing" (its path built only then: most
    /// fields are present, and a path is an allocation).
    pub(crate) fn need<T>(&self, value: Option<T>, name: &str) -> Result<T, InvalidRecord> {
        value.ok_or_else(|| missing(&self.at(name)))
    }

    /// The raw value of field `name`, if present.
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    /// The string in field `name` exactly as written (no cleaning), if present.
    fn raw_str(&self, name: &str) -> Result<Option<&'a str>, InvalidRecord> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(&self.at(name), "expected a string")),
        }
    }

    /// Optional free text within `len`, with `\u0000` removed.
    pub(crate) fn text(&self, name: &str, len: Len) -> Result<Option<String>, InvalidRecord> {
        let Some(s) = self.raw_str(name)? else {
            return Ok(None);
        };
        len.check(s.len(), || self.at(name))?;
        Ok(Some(clean(s)))
    }

    /// Required free text within `len`, with `\u0000` removed.
    pub(crate) fn req_text(&self, name: &str, len: Len) -> Result<String, InvalidRecord> {
        self.need(self.text(name, len)?, name)
    }

    /// Optional datetime, normalised to `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub(crate) fn datetime(&self, name: &str) -> Result<Option<String>, InvalidRecord> {
        let Some(s) = self.raw_str(name)? else {
            return Ok(None);
        };
        normalize_datetime(s).map(Some).ok_or_else(|| {
            InvalidRecord::new(
                InvalidReason::BadDatetime,
                self.at(name),
                "not an atproto datetime",
            )
        })
    }

    /// Required datetime, normalised.
    pub(crate) fn req_datetime(&self, name: &str) -> Result<String, InvalidRecord> {
        self.need(self.datetime(name)?, name)
    }

    /// Required DID.
    pub(crate) fn req_did(&self, name: &str) -> Result<String, InvalidRecord> {
        let s = self.need(self.raw_str(name)?, name)?;
        s.parse::<Did>()
            .map(Did::into_string)
            .map_err(|_| bad_format(&self.at(name), "not a DID"))
    }

    /// Optional AT-URI.
    pub(crate) fn at_uri(&self, name: &str) -> Result<Option<AtUri>, InvalidRecord> {
        let Some(s) = self.raw_str(name)? else {
            return Ok(None);
        };
        s.parse::<AtUri>()
            .map(Some)
            .map_err(|_| bad_format(&self.at(name), "not an AT-URI"))
    }

    /// Required AT-URI.
    pub(crate) fn req_at_uri(&self, name: &str) -> Result<AtUri, InvalidRecord> {
        self.need(self.at_uri(name)?, name)
    }

    /// Required handle, as written.
    pub(crate) fn req_handle(&self, name: &str) -> Result<String, InvalidRecord> {
        let s = self.need(self.raw_str(name)?, name)?;
        s.parse::<Handle>()
            .map(Handle::into_string)
            .map_err(|_| bad_format(&self.at(name), "not a handle"))
    }

    /// Required CID string, as written.
    pub(crate) fn req_cid(&self, name: &str) -> Result<String, InvalidRecord> {
        let s = self.need(self.raw_str(name)?, name)?;
        check_cid(s, &self.at(name))?;
        Ok(s.to_owned())
    }

    /// Optional nested object.
    pub(crate) fn object(&self, name: &str) -> Result<Option<Object<'a>>, InvalidRecord> {
        self.map
            .get(name)
            .map(|v| Object::new(v, self.at(name)))
            .transpose()
    }

    /// Optional array within `len` items.
    pub(crate) fn array(&self, name: &str, len: Len) -> Result<Option<&'a [Value]>, InvalidRecord> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                len.check(items.len(), || self.at(name))?;
                Ok(Some(items))
            }
            Some(_) => Err(wrong_type(&self.at(name), "expected an array")),
        }
    }

    /// Optional array of strings, each within `item_len`, with `\u0000` removed.
    pub(crate) fn text_array(
        &self,
        name: &str,
        len: Len,
        item_len: Len,
    ) -> Result<Option<Vec<String>>, InvalidRecord> {
        let Some(items) = self.array(name, len)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = || format!("{}[{i}]", self.at(name));
            let Value::String(s) = item else {
                return Err(wrong_type(&path(), "expected a string"));
            };
            item_len.check(s.len(), path)?;
            out.push(clean(s));
        }
        Ok(Some(out))
    }

    /// Optional array of language tags.
    pub(crate) fn languages(
        &self,
        name: &str,
        len: Len,
    ) -> Result<Option<Vec<String>>, InvalidRecord> {
        let Some(items) = self.text_array(name, len, Len::ANY)? else {
            return Ok(None);
        };
        for (i, tag) in items.iter().enumerate() {
            if tag.parse::<Language>().is_err() {
                return Err(bad_format(
                    &format!("{}[{i}]", self.at(name)),
                    "not a language tag",
                ));
            }
        }
        Ok(Some(items))
    }

    /// Optional strong reference (`{uri, cid}`, both required inside it).
    pub(crate) fn strong_ref(&self, name: &str) -> Result<Option<StrongRef>, InvalidRecord> {
        let Some(inner) = self.object(name)? else {
            return Ok(None);
        };
        Ok(Some(StrongRef {
            uri: inner.req_at_uri("uri")?,
            cid: inner.req_cid("cid")?,
        }))
    }

    /// Required strong reference.
    pub(crate) fn req_strong_ref(&self, name: &str) -> Result<StrongRef, InvalidRecord> {
        self.need(self.strong_ref(name)?, name)
    }

    /// The CID of an optional blob, in the current form (`{"$type": "blob", "ref": {"$link"}}`)
    /// or the legacy one (`{"cid": …, "mimeType": …}`).
    pub(crate) fn blob_cid(&self, name: &str) -> Result<Option<String>, InvalidRecord> {
        let Some(blob) = self.object(name)? else {
            return Ok(None);
        };
        let cid = match blob.raw("ref") {
            Some(Value::Object(link)) => match link.get("$link") {
                Some(Value::String(cid)) => cid.as_str(),
                _ => return Err(wrong_type(&blob.at("ref"), "expected a {\"$link\": CID}")),
            },
            Some(_) => return Err(wrong_type(&blob.at("ref"), "expected a {\"$link\": CID}")),
            None => blob.need(blob.raw_str("cid")?, "ref")?,
        };
        check_cid(cid, blob.path())?;
        blob.need(blob.raw_str("mimeType")?, "mimeType")?;
        Ok(Some(cid.to_owned()))
    }

    /// The `$type` of this object, if it has one.
    pub(crate) fn type_name(&self) -> Result<Option<&'a str>, InvalidRecord> {
        self.raw_str("$type")
    }
}

/// Checks that `s` is a CID in its string form.
fn check_cid(s: &str, path: &str) -> Result<(), InvalidRecord> {
    cid::Cid::try_from(s)
        .map(|_| ())
        .map_err(|_| bad_format(path, "not a CID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

    #[test]
    fn strips_nul_from_text_and_json() {
        let v = json!({"t": "a\u{0}b", "n": {"k\u{0}": ["x\u{0}"]}});
        let o = Object::new(&v, "$").map_err(|e| e.to_string());
        assert_eq!(
            o.and_then(|o| o.req_text("t", Len::ANY).map_err(|e| e.to_string())),
            Ok("ab".to_owned())
        );
        assert_eq!(clean_json(&v), json!({"t": "ab", "n": {"k": ["x"]}}));
    }

    #[test]
    fn lengths_are_bytes() -> Result<(), InvalidRecord> {
        let v = json!({"t": "ééé"});
        let o = Object::new(&v, "$")?;
        assert!(o.text("t", Len::max(6)).is_ok());
        let err = o.text("t", Len::max(5)).err();
        assert_eq!(
            err.map(|e| (e.reason, e.path)),
            Some((InvalidReason::BadLength, "t".into()))
        );
        Ok(())
    }

    #[test]
    fn blobs_in_both_forms() -> Result<(), InvalidRecord> {
        let v = json!({
            "new": {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 3},
            "old": {"cid": CID, "mimeType": "image/png"},
            "bad": {"$type": "blob", "ref": {"$link": "nope"}, "mimeType": "image/png", "size": 3},
            "bytes": {"$type": "blob", "ref": [1, 2], "mimeType": "image/png", "size": 3},
        });
        let o = Object::new(&v, "$")?;
        assert_eq!(o.blob_cid("new")?.as_deref(), Some(CID));
        assert_eq!(o.blob_cid("old")?.as_deref(), Some(CID));
        assert_eq!(o.blob_cid("absent")?, None);
        assert_eq!(
            o.blob_cid("bad").err().map(|e| e.reason),
            Some(InvalidReason::BadFormat)
        );
        assert_eq!(
            o.blob_cid("bytes").err().map(|e| e.reason),
            Some(InvalidReason::WrongType)
        );
        Ok(())
    }

    #[test]
    fn datetimes_are_normalised_or_rejected() -> Result<(), InvalidRecord> {
        let v = json!({
            "a": "2024-01-02T03:04:05+02:00",
            "b": "2024-01-02T03:04:05.123456Z",
            "c": "yesterday",
            "d": 17,
        });
        let o = Object::new(&v, "$")?;
        assert_eq!(o.req_datetime("a")?, "2024-01-02T01:04:05.000Z");
        assert_eq!(o.req_datetime("b")?, "2024-01-02T03:04:05.123Z");
        assert_eq!(
            o.req_datetime("c").err().map(|e| e.reason),
            Some(InvalidReason::BadDatetime)
        );
        assert_eq!(
            o.req_datetime("d").err().map(|e| e.reason),
            Some(InvalidReason::WrongType)
        );
        assert_eq!(
            o.req_datetime("e").err().map(|e| e.reason),
            Some(InvalidReason::MissingField)
        );
        Ok(())
    }
}
