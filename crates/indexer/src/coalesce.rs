//! Group commit: concurrent handler calls share transactions.
//!
//! The consumer hands the indexer many small batches at once (one per handler slot). Each
//! transaction costs a fixed number of round trips whatever its size, so writing them one
//! transaction each wastes most of the time on round trips. Instead every call queues its
//! changes; a call that gets one of the writer slots takes whatever is queued (up to a cap) and
//! writes it as one batch, then answers every call it took. A call whose changes were taken by
//! another writer just waits for that answer.
//!
//! Merging is safe because the consumer keeps one entry per DID in work at a time: calls in
//! flight together never hold two events of one DID, so no order between them is lost.

use std::collections::VecDeque;
use std::sync::Mutex;

use sqlx::PgPool;
use tokio::sync::{Semaphore, oneshot};

use crate::apply::{Change, Verdict, apply_isolated};

/// One call's changes, and where its verdicts go.
struct Job {
    changes: Vec<Change>,
    reply: oneshot::Sender<Vec<Verdict>>,
}

/// Writes queued changes in shared transactions.
pub struct Coalescer {
    pool: PgPool,
    queue: Mutex<VecDeque<Job>>,
    writers: Semaphore,
    max_changes: usize,
}

impl Coalescer {
    /// Writes to `pool` with at most `writers` transactions at once, each of at most
    /// `max_changes` changes (a single call larger than that is still written whole).
    pub fn new(pool: PgPool, writers: usize, max_changes: usize) -> Self {
        Self {
            pool,
            queue: Mutex::new(VecDeque::new()),
            writers: Semaphore::new(writers.max(1)),
            max_changes: max_changes.max(1),
        }
    }

    /// Writes `changes` (possibly together with other calls'); one verdict per change, in order.
    pub async fn write(&self, changes: Vec<Change>) -> Vec<Verdict> {
        let len = changes.len();
        if len == 0 {
            return Vec::new();
        }
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push_back(Job { changes, reply });
        loop {
            tokio::select! {
                biased;
                verdicts = &mut answer => return verdicts.unwrap_or_else(|_| lost(len)),
                permit = self.writers.acquire() => {
                    let jobs = self.take();
                    if jobs.is_empty() {
                        // Another writer holds this call's changes: its answer will come.
                        drop(permit);
                        return answer.await.unwrap_or_else(|_| lost(len));
                    }
                    self.write_jobs(jobs).await;
                }
            }
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        // The queue holds plain data: a panic elsewhere cannot leave it half-updated.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queued jobs, oldest first, up to `max_changes` (at least one job).
    fn take(&self) -> Vec<Job> {
        let mut queue = self.lock_queue();
        let mut jobs = Vec::new();
        let mut total = 0;
        while let Some(job) = queue.front() {
            if !jobs.is_empty() && total + job.changes.len() > self.max_changes {
                break;
            }
            total += job.changes.len();
            if let Some(job) = queue.pop_front() {
                jobs.push(job);
            }
        }
        jobs
    }

    async fn write_jobs(&self, jobs: Vec<Job>) {
        // Moved, not copied: a change holds its whole record, and copying every record of a
        // transaction cost the indexer a tenth of its CPU.
        let mut replies = Vec::with_capacity(jobs.len());
        let mut merged: Vec<Change> = Vec::new();
        for job in jobs {
            replies.push((job.changes.len(), job.reply));
            merged.extend(job.changes);
        }
        metrics::histogram!("indexer_transaction_changes").record(merged.len() as f64);
        let mut verdicts = apply_isolated(&self.pool, &merged).await.into_iter();
        for (len, reply) in replies {
            let mine: Vec<Verdict> = verdicts.by_ref().take(len).collect();
            let mine = if mine.len() == len { mine } else { lost(len) };
            // The caller may be gone (shutdown); its entries stay pending and are redelivered.
            let _ = reply.send(mine);
        }
    }
}

/// Verdicts for changes whose writer went away before answering.
fn lost(len: usize) -> Vec<Verdict> {
    (0..len)
        .map(|_| Verdict::Failed {
            transient: true,
            reason: "the transaction writing this change was abandoned".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgPoolOptions;
    use streams::payloads::LabelsEntry;

    fn changes(n: usize) -> Vec<Change> {
        (0..n)
            .map(|i| {
                Change::Labels(LabelsEntry {
                    seq: i as i64,
                    labels: Vec::new(),
                })
            })
            .collect()
    }

    fn queue(c: &Coalescer, sizes: &[usize]) -> Vec<oneshot::Receiver<Vec<Verdict>>> {
        sizes
            .iter()
            .map(|&n| {
                let (reply, answer) = oneshot::channel();
                c.lock_queue().push_back(Job {
                    changes: changes(n),
                    reply,
                });
                answer
            })
            .collect()
    }

    #[tokio::test]
    async fn takes_queued_jobs_in_order_up_to_the_cap_but_always_one() -> Result<(), sqlx::Error> {
        // Never connects: only the queue is exercised.
        let pool = PgPoolOptions::new().connect_lazy("postgres://127.0.0.1:1/none")?;
        let c = Coalescer::new(pool, 2, 100);
        let _answers = queue(&c, &[40, 50, 20, 300, 10]);
        let sizes = |jobs: Vec<Job>| jobs.iter().map(|j| j.changes.len()).collect::<Vec<_>>();
        assert_eq!(sizes(c.take()), vec![40, 50]);
        assert_eq!(sizes(c.take()), vec![20]);
        assert_eq!(sizes(c.take()), vec![300]);
        assert_eq!(sizes(c.take()), vec![10]);
        assert!(c.take().is_empty());
        Ok(())
    }
}
