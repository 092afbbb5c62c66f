//! `inspect frames`: a capture of event-stream frames as JSON lines.
//!
//! The capture format is the one `fixtures/realpds/firehose.frames` uses: each frame is a 4-byte
//! big-endian length, then the frame's bytes. Each line is `{"index", "header", "body"}` in the
//! atproto JSON data model; a `#commit`'s CAR slice is replaced by its size and its ops are listed
//! with their records, each checked against its CID. A frame that does not decode becomes an
//! `{"index", "offset", "error"}` line, the rest still print, and the exit code is 1.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use protocol::data_model::{DecodeLimits, cbor_to_json, decode_prefix};
use protocol::frames::{Frame, MAX_FRAME_BYTES};
use serde_json::{Value, json};

/// Runs `inspect frames`.
pub fn run(path: &Path) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut failures = 0usize;
    let mut offset = 0usize;
    let mut index = 0usize;
    while offset < data.len() {
        let Some(frame) = next_frame(&data, offset) else {
            out.flush()?;
            bail!(
                "{}: truncated at byte {offset}: frame {index} claims more bytes than remain",
                path.display()
            );
        };
        let line = match describe(frame) {
            Ok(line) => json!({"index": index, "header": line.0, "body": line.1}),
            Err(error) => {
                failures += 1;
                json!({"index": index, "offset": offset, "error": format!("{error:#}")})
            }
        };
        writeln!(out, "{line}")?;
        offset += 4 + frame.len();
        index += 1;
    }
    out.flush()?;
    if failures > 0 {
        bail!(
            "{failures} of {index} frames in {} did not decode",
            path.display()
        );
    }
    Ok(())
}

/// The frame starting at `offset`, or `None` when the capture is cut short.
fn next_frame(data: &[u8], offset: usize) -> Option<&[u8]> {
    let prefix: [u8; 4] = data.get(offset..offset + 4)?.try_into().ok()?;
    let len = u32::from_be_bytes(prefix) as usize;
    data.get(offset + 4..offset + 4 + len)
}

/// The frame's header and body as JSON, with a commit's blocks replaced by its resolved ops.
fn describe(bytes: &[u8]) -> Result<(Value, Value)> {
    // The typed decode validates the frame (bounds, shapes, op CIDs); the generic one keeps every
    // field, including ones this code does not model.
    let frame = Frame::decode(bytes).context("decoding frame")?;
    let limits = DecodeLimits {
        max_bytes: MAX_FRAME_BYTES,
        ..DecodeLimits::default()
    };
    let (header, used) = decode_prefix(bytes, &limits).context("decoding header")?;
    let rest = bytes.get(used..).unwrap_or_default();
    let (mut body, _) = decode_prefix(rest, &limits).context("decoding body")?;
    if let Frame::Commit(commit) = &frame {
        let mut ops = Vec::new();
        for op in commit.resolve_ops().context("resolving ops")? {
            let record = match &op.record {
                Some(bytes) => cbor_to_json(bytes).context("decoding a record")?,
                None => Value::Null,
            };
            ops.push(json!({
                "action": op.action.as_str(),
                "collection": op.collection.as_str(),
                "rkey": op.rkey.as_str(),
                "cid": op.cid.map(|c| c.to_string()),
                "record": record,
            }));
        }
        if let Some(object) = body.as_object_mut() {
            object.insert("blocks".into(), json!({"bytes": commit.blocks.len()}));
            object.insert("ops".into(), Value::Array(ops));
        }
    }
    Ok((header, body))
}
