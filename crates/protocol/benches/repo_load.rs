//! Throughput of the repository loader: CAR read, block verification, commit signature and the
//! validated MST walk over a synthetic repository of 100,000 records in the reference PDS's block
//! order. Criterion reports MiB/s of CAR; records/s is 100,000 divided by the time per iteration.

#[path = "../examples/big_repo/synthetic.rs"]
mod synthetic;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use protocol::repo::{BlockOrder, LoadOptions, load_repo};

// The allocator of the binaries that load repositories, so the numbers are theirs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: u64 = 100_000;

fn repo_load(c: &mut Criterion) {
    let car = synthetic::build(RECORDS)
        .to_car(BlockOrder::ReferencePds)
        .unwrap_or_else(|e| panic!("{e}"));
    let key = synthetic::keypair().public_key();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("repo_load");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(car.len() as u64));
    for (name, budget) in [("in_memory", 64 << 20), ("spill_all", 0)] {
        let options = LoadOptions {
            memory_budget: budget,
            ..LoadOptions::default()
        };
        group.bench_function(format!("{RECORDS}_records_{name}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let repo = load_repo(&car[..], synthetic::DID, Some(&key), &options)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let count = repo
                    .records()
                    .map(|r| r.map(|_| 1u64))
                    .sum::<Result<u64, _>>();
                assert_eq!(count.ok(), Some(RECORDS));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, repo_load);
criterion_main!(benches);
