//! The acker task: acknowledges finished entries in pipelined batches and writes dead letters.
//!
//! A dead letter is the original fields plus `reason`, `attempts` and `source_id`, XADDed to
//! `<stream>_dlq` in the same MULTI/EXEC as the XACK of the entry, so an entry is never acknowledged
//! without its trace; the same MULTI/EXEC trims each dead-letter stream it wrote to its cap
//! ([`crate::capped`]). Plain acknowledgements go as one `XACK` with many ids per stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::held::Held;
use crate::error::{Result, StreamsError};
use crate::names;

/// Failed flushes in a row after which the acker gives up (and the runner stops).
const MAX_FLUSH_FAILURES: u32 = 20;

/// An entry the scheduler is done with.
pub(crate) struct Finish {
    pub stream: Arc<str>,
    pub id: Arc<str>,
    pub dead_letter: Option<DeadLetter>,
}

/// Why, and with what, an entry goes to the dead-letter stream.
pub(crate) struct DeadLetter {
    pub reason: String,
    pub attempts: u64,
    pub fields: Arc<[(String, Vec<u8>)]>,
}

/// Acknowledges what arrives on `rx` until it closes, then returns (everything received is flushed).
pub(crate) async fn run_acker(
    mut conn: ConnectionManager,
    group: String,
    ack_batch: usize,
    dlq_max_len: u64,
    held: Arc<Held>,
    mut rx: mpsc::Receiver<Finish>,
) -> Result<()> {
    let mut batch = Vec::with_capacity(ack_batch);
    loop {
        batch.clear();
        match rx.recv().await {
            Some(f) => batch.push(f),
            None => return Ok(()),
        }
        while batch.len() < ack_batch {
            match rx.try_recv() {
                Ok(f) => batch.push(f),
                Err(_) => break,
            }
        }
        let mut failures = 0;
        while let Err(e) = flush(&mut conn, &group, dlq_max_len, &batch).await {
            failures += 1;
            if failures >= MAX_FLUSH_FAILURES {
                return Err(e);
            }
            tracing::warn!(error = %e, failures, "acknowledging failed; retrying");
            let backoff = Duration::from_millis(100)
                .saturating_mul(1 << failures.min(6))
                .min(Duration::from_secs(5));
            tokio::time::sleep(backoff).await;
        }
        for f in &batch {
            held.release(&f.stream, &f.id);
        }
    }
}

async fn flush(
    conn: &mut ConnectionManager,
    group: &str,
    dlq_max_len: u64,
    batch: &[Finish],
) -> Result<()> {
    let dead: Vec<&Finish> = batch.iter().filter(|f| f.dead_letter.is_some()).collect();
    if !dead.is_empty() {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for f in &dead {
            let Some(dl) = &f.dead_letter else { continue };
            let cmd = pipe.cmd("XADD").arg(names::dlq_stream(&f.stream)).arg("*");
            for (k, v) in dl.fields.iter() {
                cmd.arg(k).arg(v.as_slice());
            }
            cmd.arg(names::FIELD_REASON)
                .arg(&dl.reason)
                .arg(names::FIELD_ATTEMPTS)
                .arg(dl.attempts)
                .arg(names::FIELD_SOURCE_ID)
                .arg(&*f.id)
                .ignore();
            pipe.cmd("XACK")
                .arg(&*f.stream)
                .arg(group)
                .arg(&*f.id)
                .ignore();
        }
        let mut dlqs: Vec<String> = dead.iter().map(|f| names::dlq_stream(&f.stream)).collect();
        dlqs.sort_unstable();
        dlqs.dedup();
        for dlq in &dlqs {
            crate::capped::push_trim(&mut pipe, dlq, dlq_max_len);
        }
        let dropped: Vec<u64> = pipe.query_async(conn).await.map_err(StreamsError::redis(
            "MULTI XADD dead letter + XACK + XTRIM",
            dlqs.join(","),
        ))?;
        for (dlq, removed) in dlqs.iter().zip(dropped) {
            crate::capped::record_dropped(dlq, removed);
        }
        for f in &dead {
            if let Some(dl) = &f.dead_letter {
                tracing::warn!(
                    stream = &*f.stream,
                    id = &*f.id,
                    attempts = dl.attempts,
                    reason = dl.reason,
                    "entry dead-lettered"
                );
            }
            metrics::counter!("streams_entries_dead_lettered_total", "stream" => f.stream.to_string())
                .increment(1);
        }
    }
    let mut by_stream: HashMap<&str, Vec<&str>> = HashMap::new();
    for f in batch.iter().filter(|f| f.dead_letter.is_none()) {
        by_stream.entry(&f.stream).or_default().push(&f.id);
    }
    if by_stream.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for (stream, ids) in &by_stream {
        pipe.cmd("XACK")
            .arg(*stream)
            .arg(group)
            .arg(ids.as_slice())
            .ignore();
    }
    let key = by_stream
        .keys()
        .next()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let () = pipe
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XACK", key))?;
    for (stream, ids) in by_stream {
        metrics::counter!("streams_entries_acked_total", "stream" => stream.to_owned())
            .increment(ids.len() as u64);
    }
    Ok(())
}
