//! Fuzzes the repo loader: CAR + commit + MST walk over any bytes, with a tiny memory budget so the
//! spill path is exercised too. Never a panic; every failure is a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::car::{CarLimits, parse_slice};
use protocol::repo::{Commit, LoadOptions, load_repo};

/// The DID the input's own commit claims, so the fuzzer reaches the MST walk instead of stopping
/// at the DID check.
fn claimed_did(data: &[u8]) -> String {
    let fallback = || "did:plc:fuzz".to_string();
    let Ok(slice) = parse_slice(data, &CarLimits::default()) else { return fallback() };
    let Some(root) = slice.roots.first() else { return fallback() };
    let Some(bytes) = slice.blocks.get(root) else { return fallback() };
    Commit::decode(root, bytes).map(|c| c.did).unwrap_or_else(|_| fallback())
}

fuzz_target!(|data: &[u8]| {
    let did = claimed_did(data);
    let options = LoadOptions { memory_budget: 256, ..LoadOptions::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        if let Ok(repo) = load_repo(data, &did, None, &options).await {
            for record in repo.records() {
                if record.is_err() {
                    break;
                }
            }
        }
    });
});
