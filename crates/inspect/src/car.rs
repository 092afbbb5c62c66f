//! `inspect car`: every record of a repo CAR as a JSON line, then a summary line.
//!
//! The CAR is read twice when no `--did` is given: once to learn which DID its commit claims, once
//! to load it against that DID. Records are streamed out in key order; memory stays bounded because
//! the loader spills record blocks to a temporary file past its budget.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use protocol::car::{CarLimits, CarReader};
use protocol::crypto::PublicKey;
use protocol::data_model::cbor_to_json;
use protocol::repo::{Commit, LoadOptions, load_repo};
use serde_json::json;
use tokio::fs::File;
use tokio::io::BufReader;

use crate::signing_key;

/// Arguments of `inspect car`.
#[derive(Debug, Args)]
pub struct CarArgs {
    /// The CAR file (as `com.atproto.sync.getRepo` returns it).
    file: PathBuf,
    /// The DID the repo must belong to (default: the DID its commit claims).
    #[arg(long)]
    did: Option<String>,
    /// Verify the commit's signature with the key the PLC directory publishes for the DID.
    #[arg(long, value_name = "URL", conflicts_with = "did_doc")]
    plc: Option<String>,
    /// Verify the signature with the key in this DID document file (one document, or an object
    /// mapping DIDs to documents or to captured PLC answers).
    #[arg(long, value_name = "FILE")]
    did_doc: Option<PathBuf>,
    /// Let `--plc` reach hosts on private networks (local test networks).
    #[arg(long)]
    allow_private_hosts: bool,
    /// Print only the summary line.
    #[arg(long)]
    summary_only: bool,
}

/// Runs `inspect car`.
pub async fn run(args: CarArgs) -> Result<()> {
    let did = match &args.did {
        Some(did) => did.clone(),
        None => claimed_did(&args.file).await?,
    };
    let key: Option<PublicKey> = match (&args.did_doc, &args.plc) {
        (Some(path), _) => Some(signing_key::from_document_file(path, &did)?),
        (None, Some(plc)) => {
            Some(signing_key::from_directory(plc, &did, args.allow_private_hosts).await?)
        }
        (None, None) => None,
    };

    let file = open(&args.file).await?;
    let repo = load_repo(file, &did, key.as_ref(), &LoadOptions::default())
        .await
        .with_context(|| format!("loading {}", args.file.display()))?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut collections: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = 0u64;
    for record in repo.records() {
        let record = record.with_context(|| format!("walking {}", args.file.display()))?;
        *collections.entry(record.collection.clone()).or_default() += 1;
        records += 1;
        if args.summary_only {
            continue;
        }
        let path = format!("{}/{}", record.collection, record.rkey);
        let value =
            cbor_to_json(&record.bytes).with_context(|| format!("decoding record {path}"))?;
        let line = json!({
            "collection": record.collection,
            "rkey": record.rkey,
            "cid": record.cid.to_string(),
            "record": value,
        });
        writeln!(out, "{line}")?;
    }

    let commit = repo.commit();
    let signature = match &key {
        Some(key) => format!("verified ({:?})", key.kind()).to_lowercase(),
        None => "not checked (pass --did-doc or --plc)".to_owned(),
    };
    let summary = json!({
        "summary": {
            "did": commit.did,
            "commit": repo.commit_cid().to_string(),
            "rev": commit.rev,
            "records": records,
            "collections": collections,
            "blocks": repo.block_count(),
            "car_bytes": repo.car_bytes(),
            "verification": {
                "block_hashes": "verified",
                "mst": "verified",
                "signature": signature,
            },
        }
    });
    writeln!(out, "{summary}")?;
    out.flush()?;
    Ok(())
}

async fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::new(file))
}

/// The DID that the CAR's commit (its first root) claims.
async fn claimed_did(path: &Path) -> Result<String> {
    let mut car = CarReader::new(open(path).await?, CarLimits::default())
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    let Some(root) = car.roots().first().copied() else {
        bail!("{} has no root", path.display());
    };
    while let Some((cid, bytes)) = car
        .next_block()
        .await
        .with_context(|| format!("reading {}", path.display()))?
    {
        if cid == root {
            let commit = Commit::decode(&cid, &bytes)
                .with_context(|| format!("decoding the commit of {}", path.display()))?;
            return Ok(commit.did);
        }
    }
    bail!(
        "{} does not hold its root block {root} (the commit)",
        path.display()
    )
}
