//! `INGESTER_LIST_HOSTS`: enumerating a relay's PDS hosts with `com.atproto.sync.listHosts`, so
//! that each PDS's repos are listed directly (a relay's own `listRepos` misses accounts).
//!
//! Host names come from the relay, i.e. from strangers: each must parse as a bare host name (no
//! scheme, path or user info), and banned hosts are left out. They are reached over https, except
//! loopback names when private hosts are allowed (test networks serve plain http on `localhost`).

use std::time::Duration;

use streams::ServiceHost;
use tokio_util::sync::CancellationToken;
use url::Url;
use xrpc::XrpcClient;

use crate::backoff::Backoff;

/// Hosts asked for per `listHosts` page.
const PAGE_LIMIT: u32 = 1000;
/// Most hosts accepted from one relay (the network has about 16 thousand).
const MAX_HOSTS: usize = 1_000_000;

/// Every listable PDS the relay at `relay` knows; `None` when cancelled. Failing pages are retried
/// with capped, jittered delays.
pub async fn list_hosts(
    client: &XrpcClient,
    relay: &ServiceHost,
    allow_private: bool,
    retry: (Duration, Duration),
    cancel: &CancellationToken,
) -> Option<Vec<ServiceHost>> {
    let base = Url::parse(&relay.http_base()).ok()?;
    let mut hosts = Vec::new();
    let mut cursor: Option<String> = None;
    let mut backoff = Backoff::new(retry.0, retry.1);
    loop {
        let fetched = tokio::select! {
            () = cancel.cancelled() => return None,
            r = client.list_hosts(&base, cursor.as_deref(), PAGE_LIMIT) => r,
        };
        let page = match fetched {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(relay = %relay.key(), ?cursor, "listHosts failed, retrying: {e}");
                if !backoff.wait(cancel).await {
                    return None;
                }
                continue;
            }
        };
        backoff.reset();
        for listed in &page.hosts {
            if listed.status.as_deref() == Some("banned") {
                continue;
            }
            match pds_host(&listed.hostname, allow_private) {
                Some(host) => hosts.push(host),
                None => tracing::warn!(relay = %relay.key(), hostname = %listed.hostname,
                    "ignoring a listed host that is not a bare host name"),
            }
        }
        match page.cursor {
            Some(next) if !page.hosts.is_empty() && Some(&next) != cursor.as_ref() => {
                cursor = Some(next)
            }
            _ => break,
        }
        if hosts.len() >= MAX_HOSTS {
            tracing::warn!(relay = %relay.key(), "listHosts returned over {MAX_HOSTS} hosts; stopping there");
            break;
        }
    }
    hosts.sort_by_key(ServiceHost::key);
    hosts.dedup();
    tracing::info!(relay = %relay.key(), hosts = hosts.len(), "enumerated PDS hosts");
    Some(hosts)
}

/// The service a listed host name stands for, or `None` if it is not a bare host name.
pub fn pds_host(hostname: &str, allow_private: bool) -> Option<ServiceHost> {
    if hostname.contains("://") {
        return None;
    }
    let host = ServiceHost::parse(hostname).ok()?;
    let loopback = matches!(host.host(), "localhost" | "[::1]") || host.host().starts_with("127.");
    if allow_private && loopback {
        ServiceHost::parse(&format!("http://{hostname}")).ok()
    } else {
        Some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names() {
        let pds = pds_host("PDS.Example.com", false).unwrap();
        assert_eq!(pds.http_base(), "https://pds.example.com");
        assert!(pds_host("https://x.example", false).is_none());
        assert!(pds_host("x.example/path", false).is_none());
        assert_eq!(
            pds_host("localhost:2583", true).unwrap().http_base(),
            "http://localhost:2583"
        );
        assert_eq!(
            pds_host("localhost:2583", false).unwrap().http_base(),
            "https://localhost:2583"
        );
    }
}
