//! Emitting a verified repo: one `create` event per record, then one `repo` event, to the output
//! stream in pipelined chunks.
//!
//! Walking the tree and converting records to JSON is CPU work on possibly spilled data, so it runs
//! on a blocking thread and hands chunks of ready payloads over a channel of two; meanwhile the async
//! side writes the previous chunk (one MULTI/EXEC each, after the producer's high-water-mark check).
//! At most three chunks of one repo exist at a time, whatever the repo's size.

use protocol::data_model::cbor_to_json;
use protocol::repo::LoadedRepo;
use streams::Producer;
use streams::payloads::{BACKFILL_SEQ, CommitMarker, RecordWrite, StreamEvent, event_time};
use tokio::sync::mpsc;

use crate::failure::RepoFailure;

/// Where and how events are written.
#[derive(Clone)]
pub struct Emitter {
    producer: Producer,
    stream: String,
    chunk: usize,
}

/// What emission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emitted {
    /// `create` events written.
    pub records: u64,
    /// Records whose bytes are not valid DAG-CBOR (logged and counted, not emitted).
    pub skipped: u64,
}

/// Why emission stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// Shutdown began while waiting for room in the output stream.
    #[error("cancelled while waiting for room in the output stream")]
    Cancelled,
    /// The repo or Redis failed.
    #[error(transparent)]
    Failed(#[from] RepoFailure),
}

impl Emitter {
    /// Writes to `stream` with `producer`, `chunk` events per MULTI/EXEC.
    pub fn new(producer: Producer, stream: impl Into<String>, chunk: usize) -> Self {
        Self {
            producer,
            stream: stream.into(),
            chunk: chunk.max(1),
        }
    }

    /// Emits every record of `repo`, then the `repo` event. `time` is the fetch moment.
    pub async fn emit(
        &self,
        repo: LoadedRepo,
        time: time::OffsetDateTime,
    ) -> Result<Emitted, EmitError> {
        let time = event_time(time);
        let commit = repo.commit_cid().to_string();
        let did = repo.commit().did.clone();
        let rev = repo.commit().rev.clone();
        let (tx, mut rx) = mpsc::channel::<Vec<String>>(2);
        let chunk = self.chunk;
        let marker = CommitMarker {
            seq: BACKFILL_SEQ,
            time: time.clone(),
            did: did.clone(),
            commit: commit.clone(),
            rev: rev.clone(),
        };
        let walker = tokio::task::spawn_blocking(move || {
            walk(&repo, &time, &did, &commit, &rev, chunk, &tx)
        });
        let mut written = 0u64;
        while let Some(payloads) = rx.recv().await {
            self.write(&payloads).await?;
            written += payloads.len() as u64;
        }
        let skipped = match walker.await {
            Ok(Ok(skipped)) => skipped,
            Ok(Err(failure)) => return Err(failure.into()),
            Err(e) => {
                return Err(RepoFailure::Transient(format!("record walk task died: {e}")).into());
            }
        };
        let end = serde_json::to_string(&StreamEvent::Repo(marker))
            .map_err(|e| RepoFailure::Transient(format!("encoding the repo event: {e}")))?;
        self.write(&[end]).await?;
        Ok(Emitted {
            records: written,
            skipped,
        })
    }

    async fn write(&self, payloads: &[String]) -> Result<(), EmitError> {
        match self
            .producer
            .write_batch(&self.stream, streams::names::FIELD_EVENT, payloads, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(streams::StreamsError::Cancelled(_)) => Err(EmitError::Cancelled),
            Err(e) => Err(RepoFailure::Transient(format!("writing events: {e}")).into()),
        }
    }
}

/// Walks the records in key order, sending chunks of event payloads; returns the records skipped.
/// Stops quietly if the receiver is gone (the writer failed and reports why).
fn walk(
    repo: &LoadedRepo,
    time: &str,
    did: &str,
    commit: &str,
    rev: &str,
    chunk: usize,
    tx: &mpsc::Sender<Vec<String>>,
) -> Result<u64, RepoFailure> {
    let mut skipped = 0u64;
    let mut batch = Vec::with_capacity(chunk);
    for record in repo.records() {
        let record = record.map_err(|e| RepoFailure::Transient(format!("corrupt CAR: {e}")))?;
        let json = match cbor_to_json(&record.bytes) {
            Ok(json) => json,
            Err(e) => {
                skipped += 1;
                metrics::counter!("backfiller_records_skipped_total").increment(1);
                tracing::warn!(did, collection = record.collection, rkey = record.rkey, error = %e, "record is not valid DAG-CBOR; not emitted");
                continue;
            }
        };
        let event = StreamEvent::Create(RecordWrite {
            seq: BACKFILL_SEQ,
            time: time.to_owned(),
            did: did.to_owned(),
            commit: commit.to_owned(),
            rev: rev.to_owned(),
            collection: record.collection,
            rkey: record.rkey,
            cid: record.cid.to_string(),
            record: json,
        });
        let payload = serde_json::to_string(&event)
            .map_err(|e| RepoFailure::Transient(format!("encoding an event: {e}")))?;
        batch.push(payload);
        if batch.len() >= chunk {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(chunk));
            if tx.blocking_send(full).is_err() {
                return Ok(skipped);
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(skipped)
}
