//! Generates a large synthetic repository CAR, or loads one and walks every record, to measure
//! throughput and (under `/usr/bin/time -v`) peak memory of the bounded-memory loader.
//!
//! ```text
//! cargo run --release -p protocol --example big_repo -- generate /tmp/big.car 1000000 [tree|reference|shuffled]
//! /usr/bin/time -v target/release/examples/big_repo load /tmp/big.car
//! /usr/bin/time target/release/examples/big_repo repeat /tmp/big.car 20   # CPU seconds per load
//! ```

mod synthetic;

use std::time::Instant;

use protocol::repo::{BlockOrder, LoadOptions, load_repo};

// As in the binaries that load repositories: mimalloc keeps and reuses freed memory where glibc
// returns it and faults it back in on the next repository.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn usage() -> ! {
    eprintln!(
        "usage: big_repo generate PATH COUNT [tree|reference|shuffled] | big_repo load PATH | big_repo repeat PATH TIMES"
    );
    std::process::exit(2)
}

fn generate(path: &str, count: u64, order: BlockOrder) -> std::io::Result<()> {
    let started = Instant::now();
    let repo = synthetic::build(count);
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    repo.write_car(order, file)?;
    let size = std::fs::metadata(path)?.len();
    println!(
        "wrote {count} records, {:.1} MiB, in {:.1?}",
        size as f64 / 1048576.0,
        started.elapsed()
    );
    Ok(())
}

async fn load(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let file = tokio::fs::File::open(path).await?;
    let key = synthetic::keypair().public_key();
    let repo = load_repo(file, synthetic::DID, Some(&key), &LoadOptions::default()).await?;
    let read = started.elapsed();
    let mut count = 0u64;
    let mut bytes = 0u64;
    for record in repo.records() {
        let record = record?;
        count += 1;
        bytes += record.bytes.len() as u64;
    }
    let total = started.elapsed();
    let mib = repo.car_bytes() as f64 / 1048576.0;
    println!(
        "{count} records ({:.1} MiB of records) from a {mib:.1} MiB CAR: read+verify {read:.2?}, total {total:.2?}, {:.0} MiB/s, {:.0} records/s, spilled {:.1} MiB",
        bytes as f64 / 1048576.0,
        mib / total.as_secs_f64(),
        count as f64 / total.as_secs_f64(),
        repo.spilled_bytes() as f64 / 1048576.0,
    );
    Ok(())
}

/// Loads an in-memory copy `times` times: with `time`'s CPU seconds this gives per-core throughput
/// on a busy machine, where wall time would not.
async fn repeat(path: &str, times: u32) -> Result<(), Box<dyn std::error::Error>> {
    let car = std::fs::read(path)?;
    let key = synthetic::keypair().public_key();
    let started = Instant::now();
    let mut count = 0u64;
    for _ in 0..times {
        let repo = load_repo(
            &car[..],
            synthetic::DID,
            Some(&key),
            &LoadOptions::default(),
        )
        .await?;
        for record in repo.records() {
            record?;
            count += 1;
        }
    }
    let wall = started.elapsed();
    println!(
        "{times} loads of {:.1} MiB, {count} records, wall {wall:.2?}",
        car.len() as f64 / 1048576.0
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate", path, count, rest @ ..] => {
            let count = count.parse().unwrap_or_else(|_| usage());
            let order = match rest.first().copied().unwrap_or("tree") {
                "tree" => BlockOrder::Tree,
                "reference" => BlockOrder::ReferencePds,
                "shuffled" => BlockOrder::Shuffled(42),
                _ => usage(),
            };
            generate(path, count, order)?;
        }
        ["repeat", path, times] => {
            let times = times.parse().unwrap_or_else(|_| usage());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(repeat(path, times))?;
        }
        ["load", path] => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(load(path))?;
        }
        _ => usage(),
    }
    Ok(())
}
