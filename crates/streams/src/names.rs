//! The names every stage agrees on: streams, entry fields, cursor keys, groups.
//!
//! They are wire-compatible with the deployments this pipeline replaces (see the contract's "Redis
//! streams", "Redis keys" and "Consumer groups"), so they live in one place and nowhere else.

use crate::host::ServiceHost;

/// Repos listed by the backfill ingester, consumed by the backfiller.
pub const REPO_BACKFILL: &str = "repo_backfill";
/// Live firehose events written by the ingester.
pub const FIREHOSE_LIVE: &str = "firehose_live";
/// Backfill events (`seq` -1) written by the backfiller.
pub const FIREHOSE_BACKFILL: &str = "firehose_backfill";
/// Labeler `#labels` frames written by the ingester.
pub const LABEL_LIVE: &str = "label_live";

/// Field holding a `repo_backfill` payload.
pub const FIELD_REPO: &str = "repo";
/// Field holding a stream event in `firehose_live` and `firehose_backfill`.
pub const FIELD_EVENT: &str = "event";
/// Field holding a labels frame in `label_live`.
pub const FIELD_LABELS: &str = "labels";

/// Dead-letter field: why the entry was given up on.
pub const FIELD_REASON: &str = "reason";
/// Dead-letter field: how many deliveries it had.
pub const FIELD_ATTEMPTS: &str = "attempts";
/// Dead-letter field: the entry's id in its source stream.
pub const FIELD_SOURCE_ID: &str = "source_id";

/// Suffix of a stream's dead-letter stream.
pub const DLQ_SUFFIX: &str = "_dlq";

/// Value of a `repo_backfill` cursor key once the host has been listed to the end.
pub const INGESTER_DONE: &str = "!ingester-done";

/// Default consumer group of the backfiller.
pub const BACKFILLER_GROUP: &str = "repo_backfill_group";
/// Default consumer group of the indexer.
pub const INDEXER_GROUP: &str = "firehose_group";

/// The cursor key of `stream` for `host`: `firehose_live:cursor:relay1.us-east.bsky.network`.
pub fn cursor_key(stream: &str, host: &ServiceHost) -> String {
    format!("{stream}:cursor:{}", host.key())
}

/// The dead-letter stream of `stream`: `firehose_live_dlq`.
pub fn dlq_stream(stream: &str) -> String {
    format!("{stream}{DLQ_SUFFIX}")
}

/// The payload field of one of the contract's streams (or of its dead-letter stream), also
/// when the name carries a Redis Cluster hash tag: `{firehose_backfill}`, `firehose_live{3}`.
pub fn field_for_stream(stream: &str) -> Option<&'static str> {
    let stream = stream.strip_suffix(DLQ_SUFFIX).unwrap_or(stream);
    let known = |name: &str| match name {
        REPO_BACKFILL => Some(FIELD_REPO),
        FIREHOSE_LIVE | FIREHOSE_BACKFILL => Some(FIELD_EVENT),
        LABEL_LIVE => Some(FIELD_LABELS),
        _ => None,
    };
    known(stream).or_else(|| {
        // A hash tag is the first `{…}` with something inside: the name around it, or else the
        // tag itself, is the stream's.
        let open = stream.find('{')?;
        let close = open + stream[open..].find('}')?;
        let around = format!("{}{}", &stream[..open], &stream[close + 1..]);
        known(&around).or_else(|| known(&stream[open + 1..close]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_keys_use_normalised_hosts() {
        let a = ServiceHost::parse("https://Relay1.us-east.bsky.network/").unwrap();
        assert_eq!(
            cursor_key(FIREHOSE_LIVE, &a),
            "firehose_live:cursor:relay1.us-east.bsky.network"
        );
        let b = ServiceHost::parse("http://localhost:2583").unwrap();
        assert_eq!(
            cursor_key(LABEL_LIVE, &b),
            "label_live:cursor:localhost:2583"
        );
        assert_eq!(
            cursor_key(REPO_BACKFILL, &b),
            "repo_backfill:cursor:localhost:2583"
        );
    }

    #[test]
    fn dlq_and_fields() {
        assert_eq!(dlq_stream(FIREHOSE_LIVE), "firehose_live_dlq");
        assert_eq!(field_for_stream(REPO_BACKFILL), Some("repo"));
        assert_eq!(field_for_stream(FIREHOSE_BACKFILL), Some("event"));
        assert_eq!(field_for_stream("label_live_dlq"), Some("labels"));
        assert_eq!(field_for_stream("other"), None);
        assert_eq!(field_for_stream("{firehose_backfill}"), Some("event"));
        assert_eq!(field_for_stream("{firehose_backfill}_dlq"), Some("event"));
        assert_eq!(field_for_stream("firehose_live{3}"), Some("event"));
        assert_eq!(field_for_stream("{repo_backfill}"), Some("repo"));
        assert_eq!(field_for_stream("{other}"), None);
    }
}
