//! Response types of the `com.atproto.sync.*` calls the pipeline makes.
//!
//! Field names follow the lexicons. Each page or answer also carries the [`RateLimitInfo`] of the
//! response it came from, so a caller paces itself without a second channel.

use serde::Deserialize;

use crate::rate_limit::RateLimitInfo;

/// One page of `com.atproto.sync.listRepos`.
#[derive(Debug, Clone, Deserialize)]
pub struct ListReposPage {
    /// Cursor of the next page. A relay sends one only on a full page; a PDS on every non-empty
    /// page. The listing ends when it is absent or the page is empty.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The repos on this page.
    pub repos: Vec<ListedRepo>,
    /// Rate-limit headers of the response.
    #[serde(skip)]
    pub rate_limit: RateLimitInfo,
}

/// One repo in a `listRepos` page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedRepo {
    /// The account's DID.
    pub did: String,
    /// CID of the current commit.
    pub head: String,
    /// Revision (TID) of the current commit.
    pub rev: String,
    /// Whether the account is active (absent from older servers).
    #[serde(default)]
    pub active: Option<bool>,
    /// Why it is not active: `takendown`, `suspended`, `deactivated`, …
    #[serde(default)]
    pub status: Option<String>,
}

/// One page of `com.atproto.sync.listHosts` (relays only).
#[derive(Debug, Clone, Deserialize)]
pub struct ListHostsPage {
    /// Cursor of the next page, if any.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The hosts on this page.
    pub hosts: Vec<ListedHost>,
    /// Rate-limit headers of the response.
    #[serde(skip)]
    pub rate_limit: RateLimitInfo,
}

/// One host (PDS) known to a relay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedHost {
    /// The host name, without scheme.
    pub hostname: String,
    /// The relay's latest sequence number from this host.
    #[serde(default)]
    pub seq: Option<i64>,
    /// Accounts the relay knows on this host.
    #[serde(default)]
    pub account_count: Option<u64>,
    /// `active`, `idle`, `offline`, `throttled`, `banned`.
    #[serde(default)]
    pub status: Option<String>,
}

/// Answer of `com.atproto.sync.getRepoStatus`.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoStatus {
    /// The account's DID.
    pub did: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active.
    #[serde(default)]
    pub status: Option<String>,
    /// Current revision, when active.
    #[serde(default)]
    pub rev: Option<String>,
    /// Rate-limit headers of the response.
    #[serde(skip)]
    pub rate_limit: RateLimitInfo,
}

/// Answer of `com.atproto.sync.getLatestCommit`.
#[derive(Debug, Clone, Deserialize)]
pub struct LatestCommit {
    /// CID of the current commit.
    pub cid: String,
    /// Revision of the current commit.
    pub rev: String,
    /// Rate-limit headers of the response.
    #[serde(skip)]
    pub rate_limit: RateLimitInfo,
}

/// Answer of `com.atproto.identity.resolveHandle`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ResolvedHandle {
    /// The DID the handle points to.
    pub(crate) did: String,
}

/// Sets the rate-limit field on any response type that carries one.
pub(crate) trait WithRateLimit {
    /// Stores the response's rate-limit headers.
    fn set_rate_limit(&mut self, info: RateLimitInfo);
}

macro_rules! with_rate_limit {
    ($($ty:ty),*) => {$(
        impl WithRateLimit for $ty {
            fn set_rate_limit(&mut self, info: RateLimitInfo) {
                self.rate_limit = info;
            }
        }
    )*};
}
with_rate_limit!(ListReposPage, ListHostsPage, RepoStatus, LatestCommit);

impl WithRateLimit for ResolvedHandle {
    fn set_rate_limit(&mut self, _info: RateLimitInfo) {}
}
