//! Capped side streams: dead letters (`<stream>_dlq`) and skip records (`<stream>:skipped:<host>`).
//!
//! Nothing consumes them through a group, so no trim by acknowledgement applies: they keep their
//! newest `max_len` entries (contract rule 8). Each write appends, in its own MULTI/EXEC, an exact
//! `XTRIM … MAXLEN = max_len` whose reply is the number of entries it dropped; that number is
//! counted (`streams_capped_dropped_total`) and logged, so a cap that bites is seen, and `verify`
//! warns as a stream nears its cap. These streams are written rarely, so the exact trim costs little
//! and the cap holds to the entry.

/// The default cap of a dead-letter or skip-record stream, in entries.
pub const DEFAULT_MAX_LEN: u64 = 100_000;

/// The share of its cap at which a capped stream is reported as nearly full (by `verify`).
pub const NEAR_CAP: f64 = 0.8;

/// Appends `XTRIM key MAXLEN = max_len` to `pipe`. Its reply is not ignored: it is the number of
/// entries removed, to hand to [`record_dropped`].
pub fn push_trim(pipe: &mut redis::Pipeline, key: &str, max_len: u64) {
    pipe.cmd("XTRIM")
        .arg(key)
        .arg("MAXLEN")
        .arg("=")
        .arg(max_len);
}

/// Counts and logs the entries that a cap removed from `key`.
pub fn record_dropped(key: &str, removed: u64) {
    if removed == 0 {
        return;
    }
    metrics::counter!("streams_capped_dropped_total", "stream" => metric_label(key).to_owned())
        .increment(removed);
    tracing::warn!(
        stream = key,
        removed,
        "capped stream full: dropped its oldest entries (raise the cap, or replay and clear it)"
    );
}

/// The metric label of a capped stream: the key itself for a dead-letter stream, and the key
/// without its host for skip records (`repo_backfill:skipped`), since hosts learnt from
/// `listHosts` are unbounded and untrusted.
pub fn metric_label(key: &str) -> &str {
    match key.find(":skipped:") {
        Some(at) => &key[..at + ":skipped".len()],
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_the_host_of_skip_streams() {
        assert_eq!(metric_label("firehose_live_dlq"), "firehose_live_dlq");
        assert_eq!(
            metric_label("repo_backfill:skipped:pds.example.com"),
            "repo_backfill:skipped"
        );
        assert_eq!(
            metric_label("label_live:skipped:localhost:2583"),
            "label_live:skipped"
        );
    }
}
