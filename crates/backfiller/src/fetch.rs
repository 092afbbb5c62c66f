//! Fetching one repo: resolve the DID, take a place in its PDS host's queue, `getRepo` under the
//! host's limits, and load the CAR with every check (block hashes, commit DID, signature, MST).
//!
//! 429s never leave this module as failures: the host is parked until its reset and the request
//! waits its turn again, however long that takes (the consumer keeps the entry claimed meanwhile).

use std::sync::Arc;
use std::time::Duration;

use protocol::repo::{LoadOptions, LoadedRepo, RepoError, load_repo};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;
use xrpc::{IdentityError, IdentityResolver, ResolvedIdentity, XrpcClient, XrpcError};

use crate::failure::{self, RepoFailure};
use crate::hosts::{Cancelled, HostTicket, Hosts};

/// Wait after a 429 that names no time to come back.
const DEFAULT_PARK: Duration = Duration::from_secs(5);

/// A verified repo, ready to emit, with the slot it occupies among the repos in flight.
pub struct Fetched {
    /// The loaded, verified repo.
    pub repo: LoadedRepo,
    /// When the fetch started (the `time` of its events).
    pub fetched_at: time::OffsetDateTime,
    /// The PDS host it came from.
    pub host: String,
    /// Held until the repo is emitted.
    pub permit: InFlight,
}

/// A repo's slot among those in flight (downloading, verifying or emitting); kept in the
/// `backfiller_repos_in_flight` gauge.
pub struct InFlight {
    _permit: OwnedSemaphorePermit,
}

impl InFlight {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("backfiller_repos_in_flight").increment(1.0);
        Self { _permit: permit }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("backfiller_repos_in_flight").decrement(1.0);
    }
}

/// What came of trying to fetch a repo.
pub enum FetchOutcome {
    /// Loaded and verified.
    Loaded(Box<Fetched>),
    /// The host's queue stayed full, or the host kept answering 429 for too long: send the repo
    /// to the back of the stream.
    Overflow {
        /// The host.
        host: String,
    },
    /// It failed.
    Failed(RepoFailure),
    /// Shutdown began while it waited or downloaded.
    Cancelled,
}

/// Fetches repos; shared by every handler call.
pub struct Fetcher {
    client: XrpcClient,
    resolver: IdentityResolver,
    hosts: Hosts,
    in_flight: Arc<Semaphore>,
    /// Bounds DID lookups at once: many repos may be held, few should hit the directory together.
    resolving: Semaphore,
    load: LoadOptions,
    max_repo_bytes: u64,
    verify_signatures: bool,
    overflow_wait: Duration,
    park_hold: Duration,
}

/// How a [`Fetcher`] behaves.
pub struct FetcherOptions {
    /// Repos in flight in the process.
    pub concurrency: usize,
    /// Largest repo accepted.
    pub max_repo_bytes: u64,
    /// Record bytes per repo kept in memory before spilling.
    pub memory_budget: usize,
    /// Where spill files go.
    pub spill_dir: Option<std::path::PathBuf>,
    /// Check commit signatures.
    pub verify_signatures: bool,
    /// How long a repo waits for room in its host's queue.
    pub overflow_wait: Duration,
    /// How long a repo may wait on a host that keeps answering 429 before it goes to the back of
    /// the stream (a repo pending for ever would pin the stream's trim point).
    pub park_hold: Duration,
}

impl Fetcher {
    /// A fetcher using `client` for `getRepo` and `resolver` for DIDs, under `hosts`' limits.
    pub fn new(
        client: XrpcClient,
        resolver: IdentityResolver,
        hosts: Hosts,
        options: FetcherOptions,
    ) -> Self {
        let mut load = LoadOptions {
            memory_budget: options.memory_budget,
            // Real repos keep their nodes far below this (a million records make ~70 MiB); it
            // bounds hostile ones, per repo in flight, instead of the loader's 256 MiB default.
            node_memory_budget: options.memory_budget.saturating_mul(2).max(64 << 20),
            spill_dir: options.spill_dir,
            ..LoadOptions::default()
        };
        load.limits.max_total_bytes = options.max_repo_bytes;
        Self {
            client,
            resolver,
            hosts,
            in_flight: Arc::new(Semaphore::new(options.concurrency.max(1))),
            resolving: Semaphore::new(options.concurrency.saturating_mul(4).max(8)),
            load,
            max_repo_bytes: options.max_repo_bytes,
            verify_signatures: options.verify_signatures,
            overflow_wait: options.overflow_wait,
            park_hold: options.park_hold,
        }
    }

    /// Fetches and verifies the repo of `did`.
    pub async fn fetch(&self, did: &str, cancel: &CancellationToken) -> FetchOutcome {
        match self.try_fetch(did, cancel).await {
            Ok(outcome) => outcome,
            Err(Cancelled) => FetchOutcome::Cancelled,
        }
    }

    async fn try_fetch(
        &self,
        did: &str,
        cancel: &CancellationToken,
    ) -> Result<FetchOutcome, Cancelled> {
        let identity = match self.resolve(did, cancel).await? {
            Ok(identity) => identity,
            Err(failure) => return Ok(FetchOutcome::Failed(failure)),
        };
        let Some(host) = host_key(&identity.pds_endpoint) else {
            return Ok(FetchOutcome::Failed(RepoFailure::Permanent(format!(
                "DID document of {did} has a PDS endpoint without a host: {}",
                identity.pds_endpoint
            ))));
        };
        let Some(ticket) = self.hosts.admit(&host, self.overflow_wait, cancel).await? else {
            return Ok(FetchOutcome::Overflow { host });
        };
        self.fetch_from(&identity, &ticket, cancel).await
    }

    /// Resolves `did`, waiting out 429s from the directory.
    async fn resolve(
        &self,
        did: &str,
        cancel: &CancellationToken,
    ) -> Result<Result<ResolvedIdentity, RepoFailure>, Cancelled> {
        loop {
            let result = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                r = async {
                    let _slot = self.resolving.acquire().await;
                    self.resolver.resolve_did(did).await
                } => r,
            };
            match result {
                Ok(identity) => return Ok(Ok(identity)),
                Err(IdentityError::Fetch { source, .. }) if source.is_rate_limited() => {
                    let wait = rate_limit_wait(&source);
                    metrics::counter!("backfiller_identity_rate_limited_total").increment(1);
                    tracing::info!(
                        did,
                        wait_ms = wait.as_millis() as u64,
                        "DID directory rate limited us; waiting"
                    );
                    tokio::select! {
                        () = cancel.cancelled() => return Err(Cancelled),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => return Ok(Err(failure::from_identity(did, &e))),
            }
        }
    }

    async fn fetch_from(
        &self,
        identity: &ResolvedIdentity,
        ticket: &HostTicket,
        cancel: &CancellationToken,
    ) -> Result<FetchOutcome, Cancelled> {
        let did = identity.did.as_str();
        let host = ticket.host().to_owned();
        let admitted = Instant::now();
        loop {
            let request = ticket.request(&self.in_flight, cancel).await?;
            metrics::counter!("backfiller_host_requests_total", "host" => host.clone())
                .increment(1);
            let started = Instant::now();
            let fetched_at = time::OffsetDateTime::now_utc();
            let response = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                r = self.client.get_repo(&identity.pds_endpoint, did, None, self.max_repo_bytes) => r,
            };
            let mut body = match response {
                Ok(body) => body,
                Err(e) if e.is_rate_limited() => {
                    metrics::counter!("backfiller_host_rate_limited_total", "host" => host.clone())
                        .increment(1);
                    ticket.park(rate_limit_wait(&e));
                    if admitted.elapsed() >= self.park_hold {
                        return Ok(FetchOutcome::Overflow { host });
                    }
                    continue;
                }
                Err(e) => {
                    record_latency(&host, started);
                    return Ok(FetchOutcome::Failed(failure::from_get_repo(&e)));
                }
            };
            let limits = body.rate_limit().clone();
            if limits.is_exhausted() {
                ticket.park(limits.reset_in().unwrap_or(DEFAULT_PARK));
            }
            let key = self.verify_signatures.then_some(&identity.signing_key);
            // From here the repo occupies memory: it counts as in flight until emitted.
            let (host_slot, global) = request.split();
            let permit = InFlight::new(global);
            let loaded = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                r = load_repo(&mut body, did, key, &self.load) => r,
            };
            drop(host_slot);
            metrics::counter!("backfiller_host_bytes_total", "host" => host.clone())
                .increment(body.bytes_read());
            record_latency(&host, started);
            return Ok(match loaded {
                Ok(repo) => FetchOutcome::Loaded(Box::new(Fetched {
                    repo,
                    fetched_at,
                    host,
                    permit,
                })),
                Err(e @ RepoError::BadSignature { .. }) => {
                    FetchOutcome::Failed(self.after_bad_signature(identity, &e).await)
                }
                Err(e) => FetchOutcome::Failed(failure::from_load(&e)),
            });
        }
    }

    /// A signature that fails with a cached key may mean the account rotated its key: look again,
    /// and only call it bad if the directory still names the same key.
    async fn after_bad_signature(&self, identity: &ResolvedIdentity, e: &RepoError) -> RepoFailure {
        let did = identity.did.as_str();
        self.resolver.invalidate(did);
        match self.resolver.resolve_did(did).await {
            Ok(fresh) if fresh.signing_key != identity.signing_key => RepoFailure::Transient(
                format!("signing key of {did} changed since it was cached; retrying: {e}"),
            ),
            _ => failure::from_load(e),
        }
    }
}

fn record_latency(host: &str, started: Instant) {
    metrics::histogram!("backfiller_host_request_seconds", "host" => host.to_owned())
        .record(started.elapsed().as_secs_f64());
}

/// How long a 429 asks us to stay away: `Retry-After`, else until `RateLimit-Reset`.
fn rate_limit_wait(e: &XrpcError) -> Duration {
    match e {
        XrpcError::RateLimited {
            retry_after, reset, ..
        } => retry_after
            .or_else(|| reset.and_then(|r| r.duration_since(std::time::SystemTime::now()).ok()))
            .unwrap_or(DEFAULT_PARK),
        _ => DEFAULT_PARK,
    }
}

/// The host a PDS endpoint names: lower case, with a port only when not the scheme's default.
pub fn host_key(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?.to_ascii_lowercase();
    Some(match endpoint.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_normalised() {
        let k = |u: &str| host_key(&Url::parse(u).unwrap());
        assert_eq!(
            k("https://PDS.Example.com/"),
            Some("pds.example.com".into())
        );
        assert_eq!(
            k("https://pds.example.com:443"),
            Some("pds.example.com".into())
        );
        assert_eq!(k("http://localhost:2583"), Some("localhost:2583".into()));
    }

    #[test]
    fn rate_limit_waits() {
        let e = XrpcError::RateLimited {
            call: "x",
            origin: "o".into(),
            retry_after: Some(Duration::from_secs(7)),
            reset: None,
        };
        assert_eq!(rate_limit_wait(&e), Duration::from_secs(7));
        let e = XrpcError::RateLimited {
            call: "x",
            origin: "o".into(),
            retry_after: None,
            reset: None,
        };
        assert_eq!(rate_limit_wait(&e), DEFAULT_PARK);
    }
}
