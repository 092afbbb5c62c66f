//! Wiring the parts into supervised tasks: per relay a firehose reader and writer and a backfill
//! lister, per labeler a reader and writer, as the mode says. The supervisor turns any task's
//! death into the process's non-zero exit, and SIGTERM into a drain that writes cursors.
//!
//! This is the binary's edge: the supervisor takes `anyhow` results, so errors are converted here.

use runtime::Supervisor;
use xrpc::{ClientConfig, XrpcClient, XrpcError};

use crate::backfill::{BackfillContext, run_host, run_hosts_of};
use crate::config::Settings;
use crate::live::{Feed, LiveError, Subscription};

/// Why the tasks could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `REDIS_URL` is not usable.
    #[error("REDIS_URL: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// A subscription could not read its cursor.
    #[error("starting the {feed} subscription of {host}: {source}")]
    Subscription {
        /// Which feed.
        feed: &'static str,
        /// Which host.
        host: String,
        /// Why.
        #[source]
        source: LiveError,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] XrpcError),
}

/// Spawns every task `settings` asks for on `supervisor`.
pub async fn spawn_tasks(
    settings: &Settings,
    supervisor: &mut Supervisor,
) -> Result<(), StartError> {
    let redis = redis::Client::open(settings.redis_url.as_str()).map_err(StartError::RedisUrl)?;
    let token = supervisor.token();
    let mut feeds = Vec::new();
    if settings.mode.firehose() {
        let feed = Feed::Repos {
            filter: settings.filter.clone(),
        };
        feeds.extend(settings.relays.iter().map(|h| (feed.clone(), h.clone())));
    }
    if settings.mode.labeler() {
        feeds.extend(settings.labelers.iter().map(|h| (Feed::Labels, h.clone())));
    }
    for (feed, host) in feeds {
        let name = feed.name();
        let key = host.key();
        let sub = Subscription::open(feed, host, settings.live.clone(), &redis, token.clone())
            .await
            .map_err(|source| StartError::Subscription {
                feed: name,
                host: key.clone(),
                source,
            })?;
        let (reader, writer) = (sub.reader, sub.writer);
        supervisor.spawn(format!("{name}-reader:{key}"), async move {
            reader.run().await.map_err(anyhow::Error::from)
        });
        supervisor.spawn(format!("{name}-writer:{key}"), async move {
            writer.run().await.map_err(anyhow::Error::from)
        });
    }
    if settings.mode.backfill() {
        let config = ClientConfig {
            read_timeout: settings.http_timeout,
            request_timeout: settings.http_timeout * 2,
            // Configured relays are the operator's choice, test networks included.
            allow_private_hosts: true,
            ..ClientConfig::default()
        };
        let relay_client = XrpcClient::new(config.clone())?;
        let ctx = BackfillContext {
            redis: redis.clone(),
            xrpc: relay_client,
            options: settings.backfill.clone(),
            producer: settings.producer.clone(),
            cancel: token.clone(),
        };
        if settings.list_hosts {
            let pds_client = XrpcClient::new(ClientConfig {
                allow_private_hosts: settings.allow_private_hosts,
                ..config
            })?;
            for relay in &settings.relays {
                let (ctx, relay, pds) = (ctx.clone(), relay.clone(), pds_client.clone());
                let allow = settings.allow_private_hosts;
                supervisor.spawn(format!("backfill-hosts:{}", relay.key()), async move {
                    run_hosts_of(ctx, relay, pds, allow)
                        .await
                        .map_err(anyhow::Error::from)
                });
            }
        } else {
            for relay in &settings.relays {
                let (ctx, relay) = (ctx.clone(), relay.clone());
                supervisor.spawn(format!("backfill:{}", relay.key()), async move {
                    run_host(ctx, relay).await.map_err(anyhow::Error::from)
                });
            }
        }
    }
    Ok(())
}
