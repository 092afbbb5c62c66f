//! Fuzzes the streaming CAR reader: any bytes give blocks or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::car::{CarLimits, CarReader, parse_slice};

fuzz_target!(|data: &[u8]| {
    let limits = CarLimits::default();
    let _ = parse_slice(data, &limits);
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        if let Ok(mut reader) = CarReader::new(data, limits).await {
            while let Ok(Some(_)) = reader.next_block().await {}
        }
    });
});
