//! The long-running backfill tasks: list, wait `recheck`, list again when an operator resets a key.

use futures::StreamExt;
use redis::aio::ConnectionManager;
use streams::{Producer, ProducerOptions, ServiceHost};
use tokio_util::sync::CancellationToken;
use url::Url;
use xrpc::XrpcClient;

use super::BackfillOptions;
use super::hosts::list_hosts;
use super::isolate::XrpcPages;
use super::lister::{HostLister, ListError, Pass};

/// PDS hosts listed at once in `INGESTER_LIST_HOSTS` mode.
const HOSTS_IN_FLIGHT: usize = 4;

/// What a backfill task needs besides its host.
#[derive(Clone)]
pub struct BackfillContext {
    /// Redis, for the stream and the cursor keys.
    pub redis: redis::Client,
    /// The client for `listRepos` and `listHosts`.
    pub xrpc: XrpcClient,
    /// Pacing, retries, page sizes.
    pub options: BackfillOptions,
    /// The high-water mark of `repo_backfill`.
    pub producer: ProducerOptions,
    /// Shutdown.
    pub cancel: CancellationToken,
}

impl BackfillContext {
    /// A connection shared by the listers of one task.
    async fn connection(&self) -> Result<ConnectionManager, ListError> {
        Ok(streams::connection::command_connection(&self.redis).await?)
    }

    fn lister(
        &self,
        host: ServiceHost,
        conn: ConnectionManager,
    ) -> Result<HostLister<XrpcPages>, ListError> {
        let producer = Producer::new(conn.clone(), self.producer.clone(), self.cancel.clone());
        let base = Url::parse(&host.http_base()).map_err(|e| {
            ListError::Redis(streams::StreamsError::Options(format!(
                "host {} has no usable URL: {e}",
                host.key()
            )))
        })?;
        let source = XrpcPages {
            client: self.xrpc.clone(),
            base,
        };
        Ok(HostLister::new(
            host,
            source,
            conn,
            producer,
            &self.options,
            self.cancel.clone(),
        ))
    }

    /// Waits `recheck`; false when cancelled first.
    async fn wait_recheck(&self) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = tokio::time::sleep(self.options.recheck) => true,
        }
    }
}

/// Lists `host`'s repos, then re-reads its key every `recheck` and lists again when it is reset.
pub async fn run_host(ctx: BackfillContext, host: ServiceHost) -> Result<(), ListError> {
    let conn = ctx.connection().await?;
    let mut lister = ctx.lister(host, conn)?;
    loop {
        if lister.pass().await? == Pass::Cancelled || !ctx.wait_recheck().await {
            return Ok(());
        }
    }
}

/// Enumerates `relay`'s PDS hosts and lists each one's repos directly (`pds` reaches them), a few
/// at a time; repeats every `recheck`, so new hosts and reset keys are picked up.
pub async fn run_hosts_of(
    ctx: BackfillContext,
    relay: ServiceHost,
    pds: XrpcClient,
    allow_private: bool,
) -> Result<(), ListError> {
    let retry = (
        ctx.options.isolate.retry_base,
        ctx.options.isolate.retry_max,
    );
    let conn = ctx.connection().await?;
    loop {
        let Some(hosts) = list_hosts(&ctx.xrpc, &relay, allow_private, retry, &ctx.cancel).await
        else {
            return Ok(());
        };
        let pds_ctx = BackfillContext {
            xrpc: pds.clone(),
            ..ctx.clone()
        };
        let mut passes = futures::stream::iter(hosts)
            .map(|host| {
                let lister = pds_ctx.lister(host, conn.clone());
                async move { lister?.pass().await }
            })
            .buffer_unordered(HOSTS_IN_FLIGHT);
        while let Some(pass) = passes.next().await {
            if pass? == Pass::Cancelled {
                return Ok(());
            }
        }
        drop(passes);
        if !ctx.wait_recheck().await {
            return Ok(());
        }
    }
}
