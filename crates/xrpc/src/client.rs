//! [`XrpcClient`]: the pipeline's HTTP client for XRPC calls.
//!
//! One pooled reqwest client per process (clone it freely: clones share the pool). Redirects are
//! followed (a relay answers `getRepo` with a 302 to the account's PDS) but re-checked against the
//! private-host policy, and so are the addresses names resolve to. Timeouts are per read, not per
//! body, so a multi-gigabyte repo can stream for as long as bytes keep arriving; JSON calls also
//! get a whole-request deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use serde::de::DeserializeOwned;
use url::Url;

use crate::body::{CappedReadError, error_from_response, read_capped};
use crate::error::{PrivateDestination, XrpcError};
use crate::host_policy::{is_private_url, is_public_ip};
use crate::rate_limit::RateLimitInfo;
use crate::repo_body::RepoBody;
use crate::sync::{
    LatestCommit, ListHostsPage, ListReposPage, RepoStatus, ResolvedHandle, WithRateLimit,
};

/// Settings of an [`XrpcClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `User-Agent` sent with every request; operators of the servers we crawl read it.
    pub user_agent: String,
    /// Deadline for establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of any response (`BACKFILLER_HTTP_TIMEOUT_SECS`).
    pub read_timeout: Duration,
    /// Deadline for a whole JSON call, body included.
    pub request_timeout: Duration,
    /// Cap on JSON response bodies.
    pub max_json_bytes: usize,
    /// Redirects followed per request.
    pub max_redirects: usize,
    /// Allow private, loopback and link-local destinations (test networks only).
    pub allow_private_hosts: bool,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            user_agent: concat!("atproto-backfill/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
            max_json_bytes: 4 * 1024 * 1024,
            max_redirects: 5,
            allow_private_hosts: false,
            pool_max_idle_per_host: 8,
        }
    }
}

/// A pooled XRPC client; cheap to clone.
#[derive(Debug, Clone)]
pub struct XrpcClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl XrpcClient {
    /// Builds a client. Installs the process-wide rustls provider (aws-lc) if none is installed
    /// yet: reqwest and the websocket client must agree on one.
    pub fn new(config: ClientConfig) -> Result<Self, XrpcError> {
        // Err means a provider is already installed, which is what we want.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let allow_private = config.allow_private_hosts;
        let max_redirects = config.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                attempt.error(format!("more than {max_redirects} redirects"))
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                let url = attempt.url().to_string();
                attempt.error(format!("redirect to non-HTTP URL {url}"))
            } else if !allow_private && is_private_url(attempt.url()) {
                let url = attempt.url().to_string();
                attempt.error(PrivateDestination { url })
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .redirect(policy);
        if !allow_private {
            builder = builder.dns_resolver(PublicOnlyResolver);
        }
        let http = builder.build().map_err(XrpcError::Build)?;
        Ok(XrpcClient {
            http,
            config: Arc::new(config),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// `com.atproto.sync.listRepos`: one page of the repos a relay or PDS hosts.
    pub async fn list_repos(
        &self,
        base: &Url,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListReposPage, XrpcError> {
        let limit = limit.to_string();
        let mut params = vec![("limit", limit.as_str())];
        params.extend(cursor.map(|c| ("cursor", c)));
        self.get_json("com.atproto.sync.listRepos", base, &params)
            .await
    }

    /// `com.atproto.sync.listHosts`: one page of the PDS hosts a relay knows.
    pub async fn list_hosts(
        &self,
        base: &Url,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ListHostsPage, XrpcError> {
        let limit = limit.to_string();
        let mut params = vec![("limit", limit.as_str())];
        params.extend(cursor.map(|c| ("cursor", c)));
        self.get_json("com.atproto.sync.listHosts", base, &params)
            .await
    }

    /// `com.atproto.sync.getRepoStatus`.
    pub async fn get_repo_status(&self, base: &Url, did: &str) -> Result<RepoStatus, XrpcError> {
        self.get_json("com.atproto.sync.getRepoStatus", base, &[("did", did)])
            .await
    }

    /// `com.atproto.sync.getLatestCommit`.
    pub async fn get_latest_commit(
        &self,
        base: &Url,
        did: &str,
    ) -> Result<LatestCommit, XrpcError> {
        self.get_json("com.atproto.sync.getLatestCommit", base, &[("did", did)])
            .await
    }

    /// `com.atproto.identity.resolveHandle` at a resolver service; returns the DID text.
    pub async fn resolve_handle(&self, base: &Url, handle: &str) -> Result<String, XrpcError> {
        let answer: ResolvedHandle = self
            .get_json(
                "com.atproto.identity.resolveHandle",
                base,
                &[("handle", handle)],
            )
            .await?;
        Ok(answer.did)
    }

    /// `com.atproto.sync.getRepo`: the repo as a streamed CAR body of at most `max_bytes`.
    /// `since` asks for a diff from that revision. Errors before the body (named errors,
    /// 429, redirects to refused hosts, a `Content-Length` over the cap) are returned here;
    /// errors while streaming come from reads on the [`RepoBody`].
    pub async fn get_repo(
        &self,
        base: &Url,
        did: &str,
        since: Option<&str>,
        max_bytes: u64,
    ) -> Result<RepoBody, XrpcError> {
        const CALL: &str = "com.atproto.sync.getRepo";
        let mut params = vec![("did", did)];
        params.extend(since.map(|s| ("since", s)));
        let url = xrpc_url(CALL, base, &params)?;
        let request = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/vnd.ipld.car");
        let response = self.send(CALL, &url, request).await?;
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(XrpcError::TooLarge {
                call: CALL,
                origin: origin(response.url()),
                limit: max_bytes,
            });
        }
        Ok(RepoBody::new(response, max_bytes))
    }

    /// The underlying HTTP client, for the identity resolver's plain-HTTP fetches.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Checks the destination, sends, and turns non-success answers into errors.
    pub(crate) async fn send(
        &self,
        call: &'static str,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, XrpcError> {
        if !self.config.allow_private_hosts && is_private_url(url) {
            return Err(XrpcError::PrivateHost {
                call,
                url: url.to_string(),
            });
        }
        let response = request
            .send()
            .await
            .map_err(|e| XrpcError::from_reqwest(call, origin(url), e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(error_from_response(call, origin(response.url()), response).await)
        }
    }

    /// GETs `url` and parses its JSON body (capped), returning the rate-limit headers too.
    pub(crate) async fn fetch_json<T: DeserializeOwned>(
        &self,
        call: &'static str,
        url: &Url,
    ) -> Result<(T, RateLimitInfo), XrpcError> {
        let request = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .timeout(self.config.request_timeout);
        let mut response = self.send(call, url, request).await?;
        let rate_limit = RateLimitInfo::from_headers(response.headers());
        let origin = origin(response.url());
        let body = read_capped(&mut response, self.config.max_json_bytes)
            .await
            .map_err(|e| match e {
                CappedReadError::TooLarge => XrpcError::TooLarge {
                    call,
                    origin: origin.clone(),
                    limit: self.config.max_json_bytes as u64,
                },
                CappedReadError::Http(source) => {
                    XrpcError::from_reqwest(call, origin.clone(), source)
                }
            })?;
        let value = serde_json::from_slice(&body).map_err(|source| XrpcError::BadJson {
            call,
            origin,
            source,
        })?;
        Ok((value, rate_limit))
    }

    async fn get_json<T: DeserializeOwned + WithRateLimit>(
        &self,
        call: &'static str,
        base: &Url,
        params: &[(&str, &str)],
    ) -> Result<T, XrpcError> {
        let url = xrpc_url(call, base, params)?;
        let (mut value, rate_limit): (T, _) = self.fetch_json(call, &url).await?;
        value.set_rate_limit(rate_limit);
        Ok(value)
    }
}

/// `{base}/xrpc/{nsid}?params`, keeping any path prefix of the base.
pub(crate) fn xrpc_url(
    nsid: &'static str,
    base: &Url,
    params: &[(&str, &str)],
) -> Result<Url, XrpcError> {
    let bad = |reason| XrpcError::BadUrl {
        call: nsid,
        url: base.to_string(),
        reason,
    };
    if !matches!(base.scheme(), "http" | "https") {
        return Err(bad("scheme is not http or https"));
    }
    if base.host().is_none() {
        return Err(bad("no host"));
    }
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/xrpc/{nsid}"));
    url.set_fragment(None);
    url.set_query(None);
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok(url)
}

/// `scheme://host[:port]` of a URL, for error context.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Resolves names with the system resolver and keeps only public addresses, so that a public
/// name pointing at `127.0.0.1` or `169.254.169.254` cannot reach private services.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| is_public_ip(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(PrivateDestination { url: host }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrpc_urls_keep_prefixes_and_encode_params() {
        let base = Url::parse("https://bsky.network").expect("url");
        let url = xrpc_url(
            "com.atproto.sync.listRepos",
            &base,
            &[("cursor", "1::did:plc:x")],
        )
        .expect("url");
        assert_eq!(
            url.as_str(),
            "https://bsky.network/xrpc/com.atproto.sync.listRepos?cursor=1%3A%3Adid%3Aplc%3Ax"
        );
        let prefixed = Url::parse("http://localhost:2583/pds/?x=1#frag").expect("url");
        let url = xrpc_url("com.atproto.sync.getRepo", &prefixed, &[]).expect("url");
        assert_eq!(
            url.as_str(),
            "http://localhost:2583/pds/xrpc/com.atproto.sync.getRepo"
        );
        let ftp = Url::parse("ftp://example.com").expect("url");
        assert!(matches!(
            xrpc_url("x", &ftp, &[]),
            Err(XrpcError::BadUrl { .. })
        ));
    }
}
