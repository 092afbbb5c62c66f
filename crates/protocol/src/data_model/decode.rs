//! DAG-CBOR → atproto JSON, directly, without an intermediate `Ipld` tree.
//!
//! The reader is strict about the data model (no floats, no non-string keys, no duplicate keys,
//! no indefinite lengths, no tags but 42, no `undefined`, integers within i64) and bounded: input
//! size and nesting depth are capped, and no allocation is sized from a declared length larger
//! than the bytes that remain. It does not insist on canonical key order or minimal integer
//! encodings: blocks are hash-verified against their CIDs anyway, and refusing a record the
//! network accepted would silently lose it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use cid::Cid;
use serde_json::{Map, Value};

use super::DataModelError;

/// CBOR tag of a CID link.
const TAG_CID: u64 = 42;

/// Bounds for decoding untrusted DAG-CBOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest input accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of arrays and maps accepted.
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    /// Records are at most 1 MB and a `#commit`'s blocks at most 2 MB; 128 levels is far beyond any
    /// Lexicon and far below what would threaten the stack.
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 2 * 1024 * 1024,
            max_depth: 128,
        }
    }
}

/// Decodes one DAG-CBOR value (a whole block, nothing after it) into atproto JSON, with the
/// default limits.
pub fn cbor_to_json(bytes: &[u8]) -> Result<Value, DataModelError> {
    cbor_to_json_with_limits(bytes, &DecodeLimits::default())
}

/// Decodes one DAG-CBOR value (a whole block, nothing after it) into atproto JSON.
pub fn cbor_to_json_with_limits(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Value, DataModelError> {
    let (value, used) = decode_prefix(bytes, limits)?;
    if used != bytes.len() {
        return Err(DataModelError::TrailingBytes {
            offset: used,
            count: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Decodes the first DAG-CBOR value in `bytes` and says how many bytes it took; what follows is
/// left alone (event-stream frames are two values back to back).
pub fn decode_prefix(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(Value, usize), DataModelError> {
    if bytes.len() > limits.max_bytes {
        return Err(DataModelError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut reader = Reader {
        buf: bytes,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let value = reader.value(0)?;
    Ok((value, reader.pos))
}

/// Checks the first DAG-CBOR value in `bytes` against the same rules and limits as
/// [`decode_prefix`] without building it, and says how many bytes it takes. Cheap (byte strings are
/// skipped, not copied): use it to bound untrusted input before handing it to a serde decoder that
/// has no depth limit of its own.
pub fn check_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<usize, DataModelError> {
    if bytes.len() > limits.max_bytes {
        return Err(DataModelError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut reader = Reader {
        buf: bytes,
        pos: 0,
        max_depth: limits.max_depth,
    };
    reader.skip(0)?;
    Ok(reader.pos)
}

/// A cursor over the input.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

/// An item's head: major type, additional info, and its argument.
struct Head {
    major: u8,
    info: u8,
    arg: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DataModelError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        match end {
            Some(end) => {
                let out = &self.buf[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(DataModelError::Truncated { offset: self.pos }),
        }
    }

    fn head(&mut self) -> Result<Head, DataModelError> {
        let start = self.pos;
        let first = *self
            .take(1)?
            .first()
            .ok_or(DataModelError::Truncated { offset: start })?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?.first().copied().unwrap_or_default()),
            25 => u64::from(u16::from_be_bytes(self.array::<2>()?)),
            26 => u64::from(u32::from_be_bytes(self.array::<4>()?)),
            27 => u64::from_be_bytes(self.array::<8>()?),
            31 => {
                return Err(DataModelError::Unsupported {
                    what: "indefinite length or break",
                    offset: start,
                });
            }
            _ => {
                return Err(DataModelError::Unsupported {
                    what: "reserved additional information",
                    offset: start,
                });
            }
        };
        Ok(Head { major, info, arg })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DataModelError> {
        let offset = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| DataModelError::Truncated { offset })
    }

    /// A declared length, refused if more than the remaining input could hold.
    fn length(&self, arg: u64, offset: usize) -> Result<usize, DataModelError> {
        usize::try_from(arg)
            .ok()
            .filter(|&n| n <= self.buf.len() - self.pos)
            .ok_or(DataModelError::Truncated { offset })
    }

    fn value(&mut self, depth: usize) -> Result<Value, DataModelError> {
        let start = self.pos;
        let head = self.head()?;
        match head.major {
            4 | 5 => self.container(head, start, depth),
            _ => self.value_at(head, start),
        }
    }

    /// A scalar, byte string, text string, link or simple value whose head has been read.
    fn value_at(&mut self, head: Head, start: usize) -> Result<Value, DataModelError> {
        match head.major {
            0 => i64::try_from(head.arg)
                .map(Value::from)
                .map_err(|_| DataModelError::IntegerRange { offset: start }),
            1 => i64::try_from(head.arg)
                .map(|n| Value::from(-1 - n))
                .map_err(|_| DataModelError::IntegerRange { offset: start }),
            2 => {
                let len = self.length(head.arg, start)?;
                let bytes = self.take(len)?;
                let mut map = Map::with_capacity(1);
                map.insert(
                    "$bytes".into(),
                    Value::String(STANDARD_NO_PAD.encode(bytes)),
                );
                Ok(Value::Object(map))
            }
            3 => self.text(head.arg, start).map(Value::String),
            4 | 5 => Err(DataModelError::Unsupported {
                what: "container where a scalar was expected",
                offset: start,
            }),
            6 if head.arg == TAG_CID => self.link(start),
            6 => Err(DataModelError::Unsupported {
                what: "CBOR tag other than 42",
                offset: start,
            }),
            _ => match head.info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Null),
                25..=27 => Err(DataModelError::Float { offset: start }),
                _ => Err(DataModelError::Unsupported {
                    what: "simple value other than false, true and null",
                    offset: start,
                }),
            },
        }
    }

    /// An array or a map whose head has been read.
    fn container(
        &mut self,
        head: Head,
        start: usize,
        depth: usize,
    ) -> Result<Value, DataModelError> {
        match head.major {
            4 => {
                let depth = self.deeper(depth, start)?;
                let len = self.length(head.arg, start)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.value(depth)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                let depth = self.deeper(depth, start)?;
                // Each entry takes at least two bytes.
                let len = self.length(head.arg, start)?;
                let mut map = Map::with_capacity(len.min((self.buf.len() - self.pos) / 2));
                for _ in 0..len {
                    let key_at = self.pos;
                    let key_head = self.head()?;
                    if key_head.major != 3 {
                        return Err(DataModelError::NonStringKey { offset: key_at });
                    }
                    let key = self.text(key_head.arg, key_at)?;
                    let value = self.value(depth)?;
                    if let Some(key) = insert_new(&mut map, key, value) {
                        return Err(DataModelError::DuplicateKey {
                            key: truncated(&key),
                            offset: key_at,
                        });
                    }
                }
                Ok(Value::Object(map))
            }
            _ => self.value_at(head, start),
        }
    }

    /// Walks one value with the checks of [`Reader::value`], building nothing.
    fn skip(&mut self, depth: usize) -> Result<(), DataModelError> {
        let start = self.pos;
        let head = self.head()?;
        match head.major {
            0 | 1 => i64::try_from(head.arg)
                .map(|_| ())
                .map_err(|_| DataModelError::IntegerRange { offset: start }),
            2 => {
                let len = self.length(head.arg, start)?;
                self.take(len).map(|_| ())
            }
            3 => {
                let len = self.length(head.arg, start)?;
                let bytes = self.take(len)?;
                std::str::from_utf8(bytes)
                    .map(|_| ())
                    .map_err(|_| DataModelError::Utf8 { offset: start })
            }
            4 => {
                let depth = self.deeper(depth, start)?;
                let len = self.length(head.arg, start)?;
                (0..len).try_for_each(|_| self.skip(depth))
            }
            5 => {
                let depth = self.deeper(depth, start)?;
                let len = self.length(head.arg, start)?;
                let mut seen = std::collections::HashSet::with_capacity(len.min(64));
                for _ in 0..len {
                    let key_at = self.pos;
                    let key_head = self.head()?;
                    if key_head.major != 3 {
                        return Err(DataModelError::NonStringKey { offset: key_at });
                    }
                    let key_len = self.length(key_head.arg, key_at)?;
                    let key = self.take(key_len)?;
                    if !seen.insert(key) {
                        return Err(DataModelError::DuplicateKey {
                            key: truncated(&String::from_utf8_lossy(key)),
                            offset: key_at,
                        });
                    }
                    self.skip(depth)?;
                }
                Ok(())
            }
            6 if head.arg == TAG_CID => self.link(start).map(|_| ()),
            _ => self.value_at(head, start).map(|_| ()),
        }
    }

    fn deeper(&self, depth: usize, offset: usize) -> Result<usize, DataModelError> {
        if depth >= self.max_depth {
            return Err(DataModelError::TooDeep {
                max: self.max_depth,
                offset,
            });
        }
        Ok(depth + 1)
    }

    fn text(&mut self, arg: u64, start: usize) -> Result<String, DataModelError> {
        let len = self.length(arg, start)?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DataModelError::Utf8 { offset: start })
    }

    /// The payload of tag 42: a byte string holding 0x00 and a binary CID.
    fn link(&mut self, start: usize) -> Result<Value, DataModelError> {
        let bad = |reason: &str| DataModelError::BadLink {
            offset: start,
            reason: reason.to_owned(),
        };
        let head = self.head()?;
        if head.major != 2 {
            return Err(bad("tag 42 does not hold a byte string"));
        }
        let len = self.length(head.arg, start)?;
        let payload = self.take(len)?;
        let cid_bytes = match payload.split_first() {
            Some((0, rest)) => rest,
            _ => return Err(bad("missing the 0x00 multibase prefix")),
        };
        let mut cursor = cid_bytes;
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| bad(&e.to_string()))?;
        if !cursor.is_empty() {
            return Err(bad("bytes after the CID"));
        }
        let mut map = Map::with_capacity(1);
        map.insert("$link".into(), Value::String(cid.to_string()));
        Ok(Value::Object(map))
    }
}

/// Inserts `key` unless present; gives the key back if it was already there.
fn insert_new(map: &mut Map<String, Value>, key: String, value: Value) -> Option<String> {
    use serde_json::map::Entry;
    match map.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(value);
            None
        }
        Entry::Occupied(slot) => Some(slot.key().clone()),
    }
}

/// At most 64 bytes of `s` (cut at a character boundary), for error messages.
fn truncated(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_bytes_and_links() {
        // {"a": 1, "b": -2, "c": h'0102', "d": [true, false, null]}
        let bytes = [
            0xa4, 0x61, b'a', 0x01, 0x61, b'b', 0x21, 0x61, b'c', 0x42, 0x01, 0x02, 0x61, b'd',
            0x83, 0xf5, 0xf4, 0xf6,
        ];
        let value = cbor_to_json(&bytes).unwrap();
        assert_eq!(
            value,
            json!({"a": 1, "b": -2, "c": {"$bytes": "AQI"}, "d": [true, false, null]})
        );
    }

    #[test]
    fn rejects_what_the_data_model_forbids() {
        type Case<'a> = (&'a [u8], fn(&DataModelError) -> bool);
        let cases: &[Case] = &[
            (&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0], |e| {
                matches!(e, DataModelError::Float { .. })
            }),
            (&[0xa1, 0x01, 0x01], |e| {
                matches!(e, DataModelError::NonStringKey { .. })
            }),
            (&[0xa2, 0x61, b'a', 1, 0x61, b'a', 2], |e| {
                matches!(e, DataModelError::DuplicateKey { .. })
            }),
            (&[0x01, 0x02], |e| {
                matches!(e, DataModelError::TrailingBytes { .. })
            }),
            (&[0x9f, 0xff], |e| {
                matches!(e, DataModelError::Unsupported { .. })
            }),
            (&[0xc1, 0x01], |e| {
                matches!(e, DataModelError::Unsupported { .. })
            }),
            (&[0xf7], |e| matches!(e, DataModelError::Unsupported { .. })),
            (&[0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0], |e| {
                matches!(e, DataModelError::IntegerRange { .. })
            }),
            (&[0x62, 0xff, 0xfe], |e| {
                matches!(e, DataModelError::Utf8 { .. })
            }),
            (
                &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                |e| matches!(e, DataModelError::Truncated { .. }),
            ),
            (&[0xd8, 0x2a, 0x42, 0x01, 0x02], |e| {
                matches!(e, DataModelError::BadLink { .. })
            }),
        ];
        for (bytes, expected) in cases {
            let err = cbor_to_json(bytes).unwrap_err();
            assert!(expected(&err), "{bytes:02x?} gave {err:?}");
            // The non-building walk applies the same rules (trailing bytes aside: it reads a prefix).
            if !matches!(err, DataModelError::TrailingBytes { .. }) {
                let walked = check_prefix(bytes, &DecodeLimits::default()).unwrap_err();
                assert_eq!(walked, err, "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = vec![0x81u8; 10_000];
        deep.push(0x01);
        assert!(matches!(
            cbor_to_json(&deep),
            Err(DataModelError::TooDeep { max: 128, .. })
        ));
        assert!(matches!(
            check_prefix(&deep, &DecodeLimits::default()),
            Err(DataModelError::TooDeep { max: 128, .. })
        ));
    }

    #[test]
    fn size_is_bounded() {
        let limits = DecodeLimits {
            max_bytes: 4,
            max_depth: 8,
        };
        assert!(matches!(
            cbor_to_json_with_limits(&[0x85, 1, 2, 3, 4, 5], &limits),
            Err(DataModelError::TooLarge { len: 6, max: 4 })
        ));
    }
}
