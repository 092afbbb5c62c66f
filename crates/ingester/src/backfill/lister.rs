//! One host's listing: pages of `listRepos` into `repo_backfill`, each page's entries and the
//! cursor of the page after it written in one MULTI/EXEC, `!ingester-done` at the end.
//!
//! A skipped entry (see [`super::isolate`]) is recorded in the stream `repo_backfill:skipped:{host}`
//! (field `skipped`, JSON `{"host","cursor","next_cursor","limit","error","time"}`) in the same
//! MULTI/EXEC that moves the cursor past it. To replay one, list
//! `{host}/xrpc/com.atproto.sync.listRepos?cursor={cursor}&limit=1` once the host is fixed, or set
//! the host's cursor key back to `cursor` and let the ingester list from there again.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::Serialize;
use streams::names::{FIELD_REPO, INGESTER_DONE, REPO_BACKFILL, cursor_key};
use streams::payloads::{RepoBackfillEntry, event_time};
use streams::{Producer, ServiceHost, StreamsError};
use tokio_util::sync::CancellationToken;
use xrpc::ListReposPage;

use super::BackfillOptions;
use super::isolate::{IsolateOptions, Isolator, PageSource, Step};

/// Repos listed between two progress log lines.
const PROGRESS_EVERY: u64 = 10_000;

/// Why a listing stopped with an error (the process then exits; restarting resumes at the cursor).
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// A Redis read or write failed.
    #[error(transparent)]
    Redis(#[from] StreamsError),
}

/// How a listing pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Listed to the end (or found the key already done).
    Done,
    /// Shutdown interrupted it; the cursor covers everything written.
    Cancelled,
}

/// A record of a skipped entry (the `repo_backfill:skipped:{host}` stream).
#[derive(Debug, Clone, Serialize)]
pub struct SkippedCursor {
    /// The host's https origin.
    pub host: String,
    /// The cursor whose first entry could not be listed.
    pub cursor: String,
    /// Where listing resumed.
    pub next_cursor: String,
    /// The page size of the last attempt (1).
    pub limit: u32,
    /// The last error.
    pub error: String,
    /// When it was skipped.
    pub time: String,
}

/// The stream of skip records for `host`: `repo_backfill:skipped:relay1.us-east.bsky.network`.
pub fn skipped_key(host: &ServiceHost) -> String {
    format!("{REPO_BACKFILL}:skipped:{}", host.key())
}

/// Lists one host into `repo_backfill`.
pub struct HostLister<S> {
    host: ServiceHost,
    source: S,
    conn: ConnectionManager,
    producer: Producer,
    isolate: IsolateOptions,
    skipped_max_len: u64,
    cancel: CancellationToken,
}

impl<S: PageSource> HostLister<S> {
    /// A lister of `host`'s repos, fetched from `source`.
    pub fn new(
        host: ServiceHost,
        source: S,
        conn: ConnectionManager,
        producer: Producer,
        options: &BackfillOptions,
        cancel: CancellationToken,
    ) -> Self {
        HostLister {
            host,
            source,
            conn,
            producer,
            isolate: options.isolate.clone(),
            skipped_max_len: options.skipped_max_len,
            cancel,
        }
    }

    /// The host's cursor key.
    pub fn key(&self) -> String {
        cursor_key(REPO_BACKFILL, &self.host)
    }

    /// The stored cursor: `None` (start), a cursor, or [`INGESTER_DONE`].
    pub async fn stored_cursor(&mut self) -> Result<Option<String>, ListError> {
        let key = self.key();
        self.conn.get(&key).await.map_err(|source| {
            ListError::Redis(StreamsError::Redis {
                op: "GET cursor",
                key,
                source,
            })
        })
    }

    /// Lists from the stored cursor to the end, unless the key says the host is done.
    pub async fn pass(&mut self) -> Result<Pass, ListError> {
        let stored = self.stored_cursor().await?;
        if stored.as_deref() == Some(INGESTER_DONE) {
            return Ok(Pass::Done);
        }
        let mut cursor = stored.filter(|c| !c.is_empty());
        let host = self.host.key();
        tracing::info!(%host, ?cursor, "listing repos");
        let mut isolator = Isolator::new(self.isolate.clone(), host.clone());
        let mut listed: u64 = 0;
        let mut next_progress = PROGRESS_EVERY;
        loop {
            let Some(step) = isolator
                .next(&self.source, cursor.as_deref(), &self.cancel)
                .await
            else {
                return Ok(Pass::Cancelled);
            };
            match step {
                Step::Page { page, .. } => {
                    let count = page.repos.len() as u64;
                    let next = next_cursor(&page, cursor.as_deref(), &host);
                    match self.write_page(&page, &next).await {
                        Ok(()) => {}
                        Err(StreamsError::Cancelled(_)) => return Ok(Pass::Cancelled),
                        Err(e) => return Err(e.into()),
                    }
                    listed += count;
                    metrics::counter!("ingester_backfill_repos_total", "host" => host.clone())
                        .increment(count);
                    if listed >= next_progress {
                        tracing::info!(%host, listed, cursor = %next, "listing progress");
                        next_progress = listed + PROGRESS_EVERY;
                    }
                    if next == INGESTER_DONE {
                        tracing::info!(%host, listed, "listed every repo of the host");
                        return Ok(Pass::Done);
                    }
                    cursor = Some(next);
                }
                Step::Skip {
                    cursor: at,
                    next,
                    error,
                } => {
                    self.record_skip(&at, &next, &error).await?;
                    metrics::counter!("ingester_backfill_skipped_total", "host" => host.clone())
                        .increment(1);
                    tracing::error!(%host, cursor = %at, next_cursor = %next,
                        "skipped the entry after this cursor: it fails even alone (recorded in {}): {error}",
                        skipped_key(&self.host));
                    cursor = Some(next);
                }
            }
        }
    }

    /// The page's entries and the next cursor, in one MULTI/EXEC (waiting for room first).
    async fn write_page(&self, page: &ListReposPage, next: &str) -> Result<(), StreamsError> {
        let origin = self.host.http_base();
        let entries: Vec<RepoBackfillEntry> = page
            .repos
            .iter()
            .map(|repo| {
                let active = repo.active.unwrap_or(true);
                RepoBackfillEntry {
                    did: repo.did.clone(),
                    host: origin.clone(),
                    rev: repo.rev.clone(),
                    status: if active { None } else { repo.status.clone() },
                    active,
                }
            })
            .collect();
        self.producer
            .write_json(
                REPO_BACKFILL,
                FIELD_REPO,
                &entries,
                Some((&self.key(), next)),
            )
            .await
            .map(|_| ())
    }

    /// The skip record and the stepped cursor, in one MULTI/EXEC.
    async fn record_skip(&mut self, at: &str, next: &str, error: &str) -> Result<(), ListError> {
        let record = SkippedCursor {
            host: self.host.http_base(),
            cursor: at.to_owned(),
            next_cursor: next.to_owned(),
            limit: 1,
            error: error.to_owned(),
            time: event_time(time::OffsetDateTime::now_utc()),
        };
        let json = serde_json::to_string(&record).map_err(|source| StreamsError::Encode {
            stream: skipped_key(&self.host),
            source,
        })?;
        let key = self.key();
        let skipped = skipped_key(&self.host);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&skipped)
            .arg("*")
            .arg("skipped")
            .arg(json)
            .ignore()
            .cmd("SET")
            .arg(&key)
            .arg(next)
            .ignore();
        streams::capped::push_trim(&mut pipe, &skipped, self.skipped_max_len);
        let (removed,): (u64,) = pipe.query_async(&mut self.conn).await.map_err(|source| {
            ListError::Redis(StreamsError::Redis {
                op: "MULTI XADD skipped + SET cursor",
                key,
                source,
            })
        })?;
        streams::capped::record_dropped(&skipped, removed);
        Ok(())
    }
}

/// The cursor to store after `page`: the page's cursor, or done when the list ends (no cursor, an
/// empty page, or a server that hands back the cursor it was given, which would loop forever).
fn next_cursor(page: &ListReposPage, current: Option<&str>, host: &str) -> String {
    match page.cursor.as_deref() {
        Some(next) if !page.repos.is_empty() && !next.is_empty() => {
            if Some(next) == current {
                tracing::error!(%host, cursor = next,
                    "the host returned the cursor it was asked for; ending the listing here");
                INGESTER_DONE.to_owned()
            } else {
                next.to_owned()
            }
        }
        _ => INGESTER_DONE.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xrpc::{ListedRepo, RateLimitInfo};

    fn page(cursor: Option<&str>, n: usize) -> ListReposPage {
        ListReposPage {
            cursor: cursor.map(str::to_owned),
            repos: (0..n)
                .map(|i| ListedRepo {
                    did: format!("did:plc:{i}"),
                    head: "h".into(),
                    rev: "r".into(),
                    active: None,
                    status: None,
                })
                .collect(),
            rate_limit: RateLimitInfo::default(),
        }
    }

    #[test]
    fn cursor_rules() {
        // Relay: a cursor on a full page, none at the end.
        assert_eq!(next_cursor(&page(Some("500"), 2), None, "h"), "500");
        assert_eq!(next_cursor(&page(None, 2), Some("500"), "h"), INGESTER_DONE);
        // PDS: a cursor on every non-empty page, then an empty page.
        assert_eq!(
            next_cursor(&page(Some("1::did:x"), 0), Some("1::did:x"), "h"),
            INGESTER_DONE
        );
        // A server echoing our cursor must not loop forever.
        assert_eq!(
            next_cursor(&page(Some("7"), 3), Some("7"), "h"),
            INGESTER_DONE
        );
    }
}
