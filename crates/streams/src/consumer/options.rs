//! How a consumer runner reads, schedules, retries and claims.
//!
//! Defaults follow the contract (claim after 60 s idle, 5 deliveries). The backfiller uses batch size
//! 1 and a concurrency of 10; the indexer hands batches of many entries to one handler call.

use std::time::Duration;

use crate::error::{Result, StreamsError};

/// Settings of a [`crate::consumer::Consumer`].
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The consumer group (shared by every process of a stage).
    pub group: String,
    /// This consumer's name: unique per process, or consumers fight over entries.
    pub consumer: String,
    /// The streams read, all with the same group.
    pub streams: Vec<String>,
    /// Most entries handed to one handler call.
    pub batch_size: usize,
    /// Most handler calls in flight at once.
    pub concurrency: usize,
    /// Most entries asked for per XREADGROUP (split across the streams).
    pub read_count: usize,
    /// Most entries held at once (read, not yet acknowledged): bounds memory.
    pub max_buffered: usize,
    /// How long one XREADGROUP waits for new entries.
    pub block: Duration,
    /// Entries pending this long on any consumer are claimed (`*_CLAIM_IDLE_MS`).
    pub claim_idle: Duration,
    /// How often to look for claimable entries.
    pub claim_interval: Duration,
    /// How often to check the groups for being ahead of their streams, and publish lag.
    pub heal_interval: Duration,
    /// How often each stream read is trimmed to what all its groups have handled (rule 8): on a
    /// stream whose groups keep up, about this long of entries remains.
    pub trim_interval: Duration,
    /// Most entries kept in each dead-letter stream (`DLQ_MAX_LEN`); the oldest beyond it are
    /// dropped and counted.
    pub dlq_max_len: u64,
    /// Deliveries after which a failing entry is dead-lettered (`*_MAX_DELIVERIES`).
    pub max_deliveries: u64,
    /// Wait before the first retry of a failed entry; doubles per delivery.
    pub retry_delay: Duration,
    /// Longest wait before a retry.
    pub max_retry_delay: Duration,
    /// Most ids acknowledged by one round of XACKs.
    pub ack_batch: usize,
    /// With a partition, the most entries of one key handed over together in one handler call
    /// (0: one entry per key in work at a time). A run is the key's entries in stream order, so
    /// a stream holding a key's entries back to back (a repo's backfill) is handled in large
    /// calls instead of one entry per call. The handler must keep that order within a call.
    /// When an entry of a run fails, the run's later entries are handled again after it (even
    /// those that succeeded), so the last handling of each entry is in stream order.
    pub key_run: usize,
}

impl ConsumerOptions {
    /// Defaults for `group`, `consumer` and `streams`.
    pub fn new(
        group: impl Into<String>,
        consumer: impl Into<String>,
        streams: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            group: group.into(),
            consumer: consumer.into(),
            streams: streams.into_iter().map(Into::into).collect(),
            batch_size: 1,
            concurrency: 10,
            read_count: 50,
            max_buffered: 1000,
            block: Duration::from_secs(2),
            claim_idle: Duration::from_millis(60_000),
            claim_interval: Duration::from_secs(15),
            heal_interval: Duration::from_secs(60),
            trim_interval: Duration::from_secs(1),
            dlq_max_len: crate::capped::DEFAULT_MAX_LEN,
            max_deliveries: 5,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            ack_batch: 1000,
            key_run: 0,
        }
    }

    /// How often entries held by this consumer are touched so nobody claims them while in work.
    pub fn keepalive_interval(&self) -> Duration {
        (self.claim_idle / 3).max(Duration::from_millis(10))
    }

    /// The wait before the retry that follows delivery number `deliveries`.
    pub(crate) fn retry_backoff(&self, deliveries: u64) -> Duration {
        let shift = deliveries.saturating_sub(1).min(20) as u32;
        self.retry_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_retry_delay)
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        let fail = |m: &str| Err(StreamsError::Options(m.to_owned()));
        if self.group.is_empty() || self.consumer.is_empty() {
            return fail("group and consumer names must not be empty");
        }
        if self.streams.is_empty() {
            return fail("no streams to read");
        }
        if self.batch_size == 0 || self.concurrency == 0 || self.read_count == 0 {
            return fail("batch_size, concurrency and read_count must be at least 1");
        }
        if self.max_buffered < self.streams.len() {
            return fail("max_buffered must hold at least one entry per stream");
        }
        if self.max_deliveries == 0 {
            return fail("max_deliveries must be at least 1");
        }
        if self.ack_batch == 0 {
            return fail("ack_batch must be at least 1");
        }
        if self.dlq_max_len == 0 {
            return fail("dlq_max_len must be at least 1");
        }
        if self.trim_interval.is_zero() {
            return fail("trim_interval must not be zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_contract() {
        let o = ConsumerOptions::new("g", "c", ["s"]);
        o.validate().unwrap();
        assert_eq!(o.claim_idle, Duration::from_millis(60_000));
        assert_eq!(o.max_deliveries, 5);
        assert_eq!(o.retry_backoff(1), Duration::from_secs(1));
        assert_eq!(o.retry_backoff(3), Duration::from_secs(4));
        assert_eq!(o.retry_backoff(1000), Duration::from_secs(30));
    }

    #[test]
    fn refuses_impossible_settings() {
        let mut o = ConsumerOptions::new("g", "c", Vec::<String>::new());
        assert!(o.validate().is_err());
        o.streams = vec!["a".into(), "b".into()];
        o.max_buffered = 1;
        assert!(o.validate().is_err());
        o.max_buffered = 2;
        o.concurrency = 0;
        assert!(o.validate().is_err());
    }
}
