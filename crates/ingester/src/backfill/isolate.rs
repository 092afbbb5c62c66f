//! Fetching the next `listRepos` page without ever looping forever on a bad one, and without
//! silently losing repos.
//!
//! A failing page is retried with growing, jittered delays. After `max_failures` consecutive
//! failures the page is halved, and halved again, so that the entries before the bad one still get
//! listed in small pages; once the page is one entry and that still fails, the bad entry is found.
//! A numeric (relay) cursor then steps past it (cursor + 1) and the caller records the skip; an
//! opaque cursor (a PDS's `createdAt::did`) cannot be stepped, so it is retried with capped delays
//! and an alarm (a log line per attempt and the `ingester_backfill_stuck` gauge), never spinning.
//!
//! Only answered errors (a 5xx, a 400, a body that is not the promised JSON) can point at one
//! entry. A host that cannot be reached, times out or rate-limits us is waited for, however long it
//! takes: an outage must not turn into skipped repos. Pages grow back (doubling) after a success.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use url::Url;
use xrpc::{ListReposPage, XrpcClient, XrpcError};

use crate::backoff::Backoff;

/// Where pages come from (the network in production, a script in unit tests).
pub trait PageSource {
    /// One `listRepos` page after `cursor`, at most `limit` entries.
    fn page(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<ListReposPage, XrpcError>> + Send;
}

/// `listRepos` on one host through the XRPC client.
#[derive(Debug, Clone)]
pub struct XrpcPages {
    /// The client.
    pub client: XrpcClient,
    /// The host's origin.
    pub base: Url,
}

impl PageSource for XrpcPages {
    fn page(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<ListReposPage, XrpcError>> + Send {
        self.client.list_repos(&self.base, cursor, limit)
    }
}

/// How hard to try before shrinking, stepping or alarming.
#[derive(Debug, Clone)]
pub struct IsolateOptions {
    /// Entries per page when all is well (`INGESTER_LIST_REPOS_LIMIT`).
    pub limit: u32,
    /// Consecutive failures at one page size before it is halved (or the entry stepped past).
    pub max_failures: u32,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

/// What the next fetch produced.
#[derive(Debug)]
pub enum Step {
    /// A page, fetched at `limit` entries.
    Page {
        /// The page.
        page: ListReposPage,
        /// The page size asked for.
        limit: u32,
    },
    /// The single entry after `cursor` fails every time; resume from `next`.
    Skip {
        /// The cursor whose first entry cannot be listed.
        cursor: String,
        /// The cursor to resume from (`cursor + 1`).
        next: String,
        /// The last error.
        error: String,
    },
}

/// The page-size state of one host's listing.
#[derive(Debug)]
pub struct Isolator {
    options: IsolateOptions,
    limit: u32,
    host: String,
}

impl Isolator {
    /// Starts at the full page size; `host` labels logs and metrics.
    pub fn new(options: IsolateOptions, host: String) -> Isolator {
        let limit = options.limit.clamp(1, 1000);
        Isolator {
            options,
            limit,
            host,
        }
    }

    /// The page size the next fetch will ask for.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Fetches the page after `cursor`; `None` when cancelled.
    pub async fn next<S: PageSource>(
        &mut self,
        source: &S,
        cursor: Option<&str>,
        cancel: &CancellationToken,
    ) -> Option<Step> {
        let full = self.options.limit.clamp(1, 1000);
        let mut backoff = Backoff::new(self.options.retry_base, self.options.retry_max);
        let mut failures = 0u32;
        let mut stuck = false;
        loop {
            let fetched = tokio::select! {
                () = cancel.cancelled() => return None,
                r = source.page(cursor, self.limit) => r,
            };
            let error = match fetched {
                Ok(page) => {
                    if stuck {
                        metrics::gauge!("ingester_backfill_stuck", "host" => self.host.clone())
                            .set(0.0);
                        tracing::info!(host = %self.host, ?cursor, "the stuck page lists again");
                    }
                    let limit = self.limit;
                    self.limit = (self.limit.saturating_mul(2)).min(full);
                    return Some(Step::Page { page, limit });
                }
                Err(e) => e,
            };
            failures += 1;
            metrics::counter!("ingester_backfill_page_failures_total", "host" => self.host.clone())
                .increment(1);
            let answered = points_at_entries(&error);
            if failures < self.options.max_failures || (!answered && self.limit == 1) {
                if !answered && failures >= self.options.max_failures {
                    self.alarm(
                        &mut stuck,
                        cursor,
                        &error,
                        "the host is unreachable or refusing us",
                    );
                } else {
                    tracing::warn!(host = %self.host, ?cursor, limit = self.limit, failures,
                        "listRepos failed, retrying: {error}");
                }
                if !backoff.wait(cancel).await {
                    return None;
                }
                continue;
            }
            if self.limit > 1 {
                self.limit /= 2;
                failures = 0;
                tracing::warn!(host = %self.host, ?cursor, limit = self.limit,
                    "listRepos keeps failing; shrinking the page to isolate the failing entry: {error}");
                backoff.reset();
                if !backoff.wait(cancel).await {
                    return None;
                }
                continue;
            }
            match cursor.filter(|c| is_numeric(c)) {
                Some(c) => {
                    let next = c
                        .parse::<u64>()
                        .ok()
                        .and_then(|n| n.checked_add(1))
                        .map(|n| n.to_string());
                    if let Some(next) = next {
                        if stuck {
                            metrics::gauge!("ingester_backfill_stuck", "host" => self.host.clone())
                                .set(0.0);
                        }
                        return Some(Step::Skip {
                            cursor: c.to_owned(),
                            next,
                            error: error.to_string(),
                        });
                    }
                    self.alarm(&mut stuck, cursor, &error, "the cursor cannot be stepped");
                }
                None => self.alarm(
                    &mut stuck,
                    cursor,
                    &error,
                    "the entry after an opaque cursor fails every time and cannot be stepped past",
                ),
            }
            if !backoff.wait(cancel).await {
                return None;
            }
        }
    }

    fn alarm(&self, stuck: &mut bool, cursor: Option<&str>, error: &XrpcError, why: &str) {
        if !*stuck {
            metrics::gauge!("ingester_backfill_stuck", "host" => self.host.clone()).set(1.0);
            *stuck = true;
        }
        tracing::error!(host = %self.host, ?cursor, limit = self.limit,
            "backfill listing is stuck ({why}); retrying with capped delays: {error}");
    }
}

/// Whether an error is an answer about the page's contents (worth isolating), rather than the
/// host being unreachable, slow, or asking us to slow down.
fn points_at_entries(error: &XrpcError) -> bool {
    match error {
        XrpcError::Xrpc { status, .. } | XrpcError::Status { status, .. } => *status != 429,
        XrpcError::BadJson { .. } | XrpcError::TooLarge { .. } => true,
        _ => false,
    }
}

/// A relay's cursor: a decimal account id.
fn is_numeric(cursor: &str) -> bool {
    !cursor.is_empty() && cursor.len() <= 19 && cursor.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use xrpc::{ListedRepo, RateLimitInfo};

    /// Entries `1..=total` with dense numeric ids; listing any page that would include `bad`
    /// fails with a 500, as a relay with one broken row does.
    struct Relay {
        total: u64,
        bad: Option<u64>,
        calls: Mutex<Vec<(Option<String>, u32)>>,
    }

    impl PageSource for Relay {
        async fn page(&self, cursor: Option<&str>, limit: u32) -> Result<ListReposPage, XrpcError> {
            self.calls
                .lock()
                .unwrap()
                .push((cursor.map(str::to_owned), limit));
            let after: u64 = cursor.map_or(0, |c| c.parse().unwrap());
            let ids: Vec<u64> = (after + 1..=self.total).take(limit as usize).collect();
            if self.bad.is_some_and(|b| ids.contains(&b)) {
                return Err(XrpcError::Xrpc {
                    call: "com.atproto.sync.listRepos",
                    origin: "http://relay".into(),
                    status: 500,
                    error: "DatabaseError".into(),
                    message: None,
                });
            }
            let full = ids.len() == limit as usize;
            Ok(ListReposPage {
                cursor: full.then(|| ids.last().copied().unwrap_or(after).to_string()),
                repos: ids
                    .iter()
                    .map(|id| ListedRepo {
                        did: format!("did:plc:{id}"),
                        head: "bafyhead".into(),
                        rev: "3l3qo2vutsw2b".into(),
                        active: Some(true),
                        status: None,
                    })
                    .collect(),
                rate_limit: RateLimitInfo::default(),
            })
        }
    }

    fn options() -> IsolateOptions {
        IsolateOptions {
            limit: 16,
            max_failures: 2,
            retry_base: Duration::from_millis(1),
            retry_max: Duration::from_millis(2),
        }
    }

    async fn walk(relay: &Relay) -> (Vec<u64>, Vec<(String, String)>) {
        let mut isolator = Isolator::new(options(), "relay".into());
        let cancel = CancellationToken::new();
        let mut cursor: Option<String> = None;
        let mut listed = Vec::new();
        let mut skipped = Vec::new();
        loop {
            match isolator
                .next(relay, cursor.as_deref(), &cancel)
                .await
                .unwrap()
            {
                Step::Page { page, .. } => {
                    listed.extend(
                        page.repos
                            .iter()
                            .map(|r| r.did["did:plc:".len()..].parse::<u64>().unwrap()),
                    );
                    match page.cursor {
                        Some(next) if !page.repos.is_empty() => cursor = Some(next),
                        _ => return (listed, skipped),
                    }
                }
                Step::Skip {
                    cursor: at, next, ..
                } => {
                    skipped.push((at, next.clone()));
                    cursor = Some(next);
                }
            }
        }
    }

    #[tokio::test]
    async fn one_bad_entry_is_isolated_and_only_it_is_skipped() {
        let relay = Relay {
            total: 100,
            bad: Some(37),
            calls: Mutex::new(Vec::new()),
        };
        let (listed, skipped) = walk(&relay).await;
        let expected: Vec<u64> = (1..=100).filter(|id| *id != 37).collect();
        assert_eq!(listed, expected);
        assert_eq!(skipped, vec![("36".to_owned(), "37".to_owned())]);
        // The page shrank to one entry at the bad cursor, and grew again afterwards.
        let calls = relay.calls.lock().unwrap();
        assert!(calls.contains(&(Some("36".into()), 1)));
        assert!(
            calls
                .iter()
                .any(|(c, l)| c.as_deref() == Some("37") && *l <= 2)
        );
        assert!(calls.last().is_some_and(|(_, l)| *l == 16));
    }

    #[tokio::test]
    async fn healthy_relay_lists_everything_in_full_pages() {
        let relay = Relay {
            total: 40,
            bad: None,
            calls: Mutex::new(Vec::new()),
        };
        let (listed, skipped) = walk(&relay).await;
        assert_eq!(listed, (1..=40).collect::<Vec<_>>());
        assert!(skipped.is_empty());
        assert!(relay.calls.lock().unwrap().iter().all(|(_, l)| *l == 16));
    }

    #[tokio::test]
    async fn opaque_cursor_is_never_stepped_and_cancel_ends_the_wait() {
        /// Fails every call; cancels the walk after `calls_before_cancel` calls.
        struct Broken {
            calls: Mutex<u32>,
            calls_before_cancel: u32,
            cancel: CancellationToken,
        }
        impl PageSource for Broken {
            async fn page(&self, _: Option<&str>, _: u32) -> Result<ListReposPage, XrpcError> {
                let mut calls = self.calls.lock().unwrap();
                *calls += 1;
                if *calls >= self.calls_before_cancel {
                    self.cancel.cancel();
                }
                Err(XrpcError::Status {
                    call: "com.atproto.sync.listRepos",
                    origin: "http://pds".into(),
                    status: 500,
                    snippet: "oops".into(),
                })
            }
        }
        let cancel = CancellationToken::new();
        let broken = Broken {
            calls: Mutex::new(0),
            // Enough to shrink 16 → 1 (2 failures per size) and keep failing at 1 for a while.
            calls_before_cancel: 30,
            cancel: cancel.clone(),
        };
        let mut isolator = Isolator::new(options(), "pds".into());
        let step = isolator
            .next(&broken, Some("1732000000000::did:plc:x"), &cancel)
            .await;
        assert!(
            step.is_none(),
            "an opaque cursor must not be stepped: {step:?}"
        );
        assert_eq!(isolator.limit(), 1);
        assert_eq!(*broken.calls.lock().unwrap(), 30);
    }

    #[tokio::test]
    async fn an_unreachable_host_is_waited_for_never_skipped() {
        /// Times out on every call; cancels the walk after 30 calls.
        struct Down {
            calls: Mutex<u32>,
            cancel: CancellationToken,
        }
        impl PageSource for Down {
            async fn page(&self, _: Option<&str>, _: u32) -> Result<ListReposPage, XrpcError> {
                let mut calls = self.calls.lock().unwrap();
                *calls += 1;
                if *calls >= 30 {
                    self.cancel.cancel();
                }
                Err(XrpcError::Timeout {
                    call: "com.atproto.sync.listRepos",
                    origin: "http://relay".into(),
                })
            }
        }
        let cancel = CancellationToken::new();
        let down = Down {
            calls: Mutex::new(0),
            cancel: cancel.clone(),
        };
        let mut isolator = Isolator::new(options(), "relay".into());
        // A numeric cursor could be stepped, but a timeout says nothing about the entry.
        let step = isolator.next(&down, Some("36"), &cancel).await;
        assert!(step.is_none(), "an outage must not skip entries: {step:?}");
        assert_eq!(*down.calls.lock().unwrap(), 30);
    }

    #[test]
    fn numeric_cursors() {
        assert!(is_numeric("36724"));
        assert!(!is_numeric(""));
        assert!(!is_numeric("1732000000000::did:plc:x"));
        assert!(!is_numeric("-1"));
    }
}
