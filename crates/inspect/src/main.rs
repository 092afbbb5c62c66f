//! `inspect`: shows an operator what a PDS or relay sent, decoded and verified.
//!
//! - `inspect car FILE` prints each record of a repo CAR as a JSON line, then a summary line.
//! - `inspect frames FILE` prints each frame of an event-stream capture as a JSON line.
//!
//! Input is untrusted: a bad file gets a message naming what is wrong and exit code 1, never a panic.

mod car;
mod frames;
mod signing_key;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Decode and verify repo CARs and event-stream frame captures.
#[derive(Debug, Parser)]
#[command(name = "inspect", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print each record of a repo CAR as a JSON line (`collection`, `rkey`, `cid`, `record`), then
    /// a summary line (counts per collection, commit, rev, verification).
    Car(car::CarArgs),
    /// Decode a capture of event-stream frames (each a 4-byte big-endian length, then the frame)
    /// to JSON lines.
    Frames {
        /// The capture file.
        file: PathBuf,
    },
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Car(args) => car::run(args).await,
        Command::Frames { file } => frames::run(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inspect: {error:#}");
            ExitCode::from(1)
        }
    }
}
