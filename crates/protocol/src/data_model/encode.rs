//! atproto JSON → canonical DAG-CBOR.
//!
//! Validates the JSON data model on the way (the interop `data-model-invalid.json` cases): no
//! floats but integral ones, `$link` and `$bytes` objects with exactly one string field, a `$type`
//! that is a non-empty string, blobs with a `ref` link, a `mimeType` and an integer `size`. Map keys
//! are written in DAG-CBOR's canonical order (shorter first, then bytewise) and every length and
//! integer in its shortest form, so the output hashes to the same CID as any other implementation's.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use cid::Cid;
use serde_json::{Map, Number, Value};

use super::DataModelError;

/// Deepest nesting written; matches the decoder's default.
const MAX_DEPTH: usize = 128;

/// 2^63 as a float: the first integral float outside i64.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// Standard base64 that accepts input with or without padding.
const BASE64_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes a record (a JSON object) as canonical DAG-CBOR.
pub fn json_to_cbor(value: &Value) -> Result<Vec<u8>, DataModelError> {
    if !value.is_object() {
        return Err(DataModelError::json("top level is not an object"));
    }
    json_value_to_cbor(value)
}

/// Encodes any atproto JSON value (not only an object) as canonical DAG-CBOR.
pub fn json_value_to_cbor(value: &Value) -> Result<Vec<u8>, DataModelError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value, 0)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), DataModelError> {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Number(n) => write_int(out, integer(n)?),
        Value::String(s) => {
            write_head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(DataModelError::json("nested too deeply"));
            }
            write_head(out, 4, items.len() as u64);
            for (i, item) in items.iter().enumerate() {
                write_value(out, item, depth + 1).map_err(|e| e.under(&i.to_string()))?;
            }
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(DataModelError::json("nested too deeply"));
            }
            write_object(out, map, depth)?;
        }
    }
    Ok(())
}

fn write_object(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    depth: usize,
) -> Result<(), DataModelError> {
    if let Some(link) = map.get("$link") {
        if map.len() != 1 {
            return Err(DataModelError::json("$link object has other fields"));
        }
        let cid = parse_link(link).map_err(|e| e.under("$link"))?;
        let bytes = cid.to_bytes();
        out.extend_from_slice(&[0xd8, 0x2a]);
        write_head(out, 2, bytes.len() as u64 + 1);
        out.push(0x00);
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    if let Some(b64) = map.get("$bytes") {
        if map.len() != 1 {
            return Err(DataModelError::json("$bytes object has other fields"));
        }
        let text = b64
            .as_str()
            .ok_or_else(|| DataModelError::json("$bytes is not a string").under("$bytes"))?;
        let bytes = BASE64_ANY_PAD
            .decode(text)
            .map_err(|_| DataModelError::json("$bytes is not base64").under("$bytes"))?;
        write_head(out, 2, bytes.len() as u64);
        out.extend_from_slice(&bytes);
        return Ok(());
    }
    if let Some(kind) = map.get("$type") {
        match kind.as_str() {
            Some("") => return Err(DataModelError::json("$type is empty").under("$type")),
            Some("blob") => check_blob(map)?,
            Some(_) => {}
            None => return Err(DataModelError::json("$type is not a string").under("$type")),
        }
    }
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    write_head(out, 5, entries.len() as u64);
    for (key, value) in entries {
        write_head(out, 3, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        write_value(out, value, depth + 1).map_err(|e| e.under(key))?;
    }
    Ok(())
}

/// Checks a `{"$type": "blob", ref, mimeType, size}` object.
fn check_blob(map: &Map<String, Value>) -> Result<(), DataModelError> {
    match map.get("ref") {
        Some(Value::Object(r)) if r.len() == 1 => {
            let link = r
                .get("$link")
                .ok_or_else(|| DataModelError::json("blob ref is not a $link").under("ref"))?;
            parse_link(link).map_err(|e| e.under("$link").under("ref"))?;
        }
        _ => return Err(DataModelError::json("blob without a $link ref")),
    }
    if !map.get("mimeType").is_some_and(Value::is_string) {
        return Err(DataModelError::json(
            "blob mimeType is missing or not a string",
        ));
    }
    match map.get("size").and_then(Value::as_i64) {
        Some(size) if size >= 0 => Ok(()),
        _ => Err(DataModelError::json(
            "blob size is missing or not a non-negative integer",
        )),
    }
}

fn parse_link(link: &Value) -> Result<Cid, DataModelError> {
    let text = link
        .as_str()
        .ok_or_else(|| DataModelError::json("link is not a string"))?;
    text.parse::<Cid>()
        .map_err(|_| DataModelError::json("link is not a CID"))
}

/// The integer a JSON number stands for; floats are allowed only when integral (`123.0`).
fn integer(n: &Number) -> Result<i64, DataModelError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(DataModelError::json(
            "integer above the signed 64-bit range",
        ));
    }
    match n.as_f64() {
        // ±2^63 are exactly representable; an integral float in [-2^63, 2^63) converts without loss.
        Some(f) if f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f) => Ok(f as i64),
        _ => Err(DataModelError::json("floats are not allowed")),
    }
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        write_head(out, 0, n as u64);
    } else {
        // -1 - n is the CBOR argument of a negative integer; it cannot overflow for any i64 < 0.
        write_head(out, 1, (-1 - n) as u64);
    }
}

/// Writes a CBOR head in its shortest form.
fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 24 {
        out.push(major | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[major | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_model::cbor_to_json;
    use serde_json::json;

    #[test]
    fn canonical_key_order_and_minimal_heads() {
        let bytes = json_to_cbor(&json!({"bb": 1, "a": 500, "c": -25})).unwrap();
        assert_eq!(
            bytes,
            [
                0xa3, 0x61, b'a', 0x19, 0x01, 0xf4, 0x61, b'c', 0x38, 0x18, 0x62, b'b', b'b', 0x01
            ]
        );
    }

    #[test]
    fn errors_carry_a_json_path() {
        let err = json_to_cbor(&json!({"a": [1, {"b": 1.5}]})).unwrap_err();
        assert_eq!(
            err,
            DataModelError::Json {
                path: "/a/1/b".into(),
                reason: "floats are not allowed"
            }
        );
    }

    #[test]
    fn extreme_integers_round_trip() {
        let value = json!({"min": i64::MIN, "max": i64::MAX});
        let bytes = json_to_cbor(&value).unwrap();
        assert_eq!(cbor_to_json(&bytes).unwrap(), value);
        assert!(json_to_cbor(&json!({"big": u64::MAX})).is_err());
    }
}
