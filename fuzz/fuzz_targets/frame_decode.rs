//! Fuzzes the event-stream frame decoder, including op resolution of `#commit` frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::frames::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame::Commit(commit)) = Frame::decode(data) {
        let _ = commit.resolve_ops();
    }
});
