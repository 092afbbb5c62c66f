//! Generates a network and all its repository CARs, and reports how long it took.
//!
//! ```text
//! cargo run --release -p harness --example gen_network -- [--accounts N] [--seed S]
//!     [--threads T] [--giant RECORDS] [--out DIR]
//! ```
//!
//! Each CAR is streamed, never held whole: without `--out` its bytes are only counted; with it
//! each is written to `DIR/<did with ':' as '_'>.car`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use harness::network::{Network, NetworkError, NetworkSpec};

fn main() -> anyhow::Result<()> {
    let mut spec = NetworkSpec {
        accounts: 10_000,
        ..NetworkSpec::default()
    };
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--accounts" => spec.accounts = value()?.parse()?,
            "--seed" => spec.seed = value()?.parse()?,
            "--threads" => threads = value()?.parse()?,
            "--giant" => spec.giant_records = Some(value()?.parse()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            other => bail!("unknown flag {other}"),
        }
    }
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let start = Instant::now();
    let network = Network::generate(spec)?;
    let planned = start.elapsed();
    let records = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let largest = AtomicU64::new(0);
    network.for_each_repo(threads, |repo| -> Result<(), NetworkError> {
        let did = &repo.built.commit().did;
        let file = match &out {
            Some(dir) => {
                let path = dir.join(format!("{}.car", did.replace(':', "_")));
                let file = File::create(&path).map_err(|source| NetworkError::Car {
                    did: did.clone(),
                    source,
                })?;
                Some(BufWriter::new(file))
            }
            None => None,
        };
        let mut counted = repo.write_car(Counting {
            inner: file,
            bytes: 0,
        })?;
        counted.flush().map_err(|source| NetworkError::Car {
            did: did.clone(),
            source,
        })?;
        records.fetch_add(repo.records.len() as u64, Ordering::Relaxed);
        bytes.fetch_add(counted.bytes, Ordering::Relaxed);
        largest.fetch_max(repo.records.len() as u64, Ordering::Relaxed);
        Ok(())
    })?;
    let total = start.elapsed();
    println!(
        "{} repos, {} records, {:.1} MB of CARs, largest repo {} records; \
         plan+anchors {:.2}s, total {:.2}s on {threads} threads",
        network.accounts().len(),
        records.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed) as f64 / 1e6,
        largest.load(Ordering::Relaxed),
        planned.as_secs_f64(),
        total.as_secs_f64(),
    );
    Ok(())
}

/// Counts what passes through, to a file or nowhere.
struct Counting {
    inner: Option<BufWriter<File>>,
    bytes: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = match &mut self.inner {
            Some(file) => file.write(buf)?,
            None => buf.len(),
        };
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}
