//! Docker-backed Redis and PostgreSQL (feature `testcontainers`, `HARNESS_BACKEND=containers`), for
//! machines that have Docker but not the server binaries. Containers are removed on drop.
//!
//! Docker may map a container's port to a new host port when it restarts, so the URL is read again
//! after every restart.

use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::redis::{REDIS_PORT, Redis};

use super::redis_server::RedisOptions;

const POSTGRES_PORT: u16 = 5432;

/// True when `HARNESS_BACKEND=containers`.
pub(crate) fn enabled() -> bool {
    std::env::var("HARNESS_BACKEND").is_ok_and(|backend| backend == "containers")
}

/// A Redis container.
pub(crate) struct ContainerRedis {
    container: ContainerAsync<Redis>,
    url: String,
}

impl ContainerRedis {
    /// Starts a container configured like the local server would be.
    pub(crate) async fn start(options: &RedisOptions) -> anyhow::Result<ContainerRedis> {
        let mut cmd = vec!["redis-server".to_owned(), "--save".into(), String::new()];
        if options.appendonly {
            cmd.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
        }
        if let Some(bytes) = options.maxmemory {
            cmd.extend([
                "--maxmemory".to_owned(),
                bytes.to_string(),
                "--maxmemory-policy".into(),
                "noeviction".into(),
            ]);
        }
        let container =
            Redis::default().with_cmd(cmd).start().await.map_err(|e| {
                anyhow::anyhow!("starting a Redis container (is Docker running?): {e}")
            })?;
        let url = redis_url(&container).await?;
        Ok(ContainerRedis { container, url })
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops and starts the container (its data volume stays).
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.container.stop().await?;
        self.container.start().await?;
        self.url = redis_url(&self.container).await?;
        Ok(())
    }
}

async fn redis_url(container: &ContainerAsync<Redis>) -> anyhow::Result<String> {
    let host = container.get_host().await?;
    let port = container
        .get_host_port_ipv4(ContainerPort::Tcp(REDIS_PORT))
        .await?;
    Ok(format!("redis://{host}:{port}"))
}

/// A PostgreSQL container.
pub(crate) struct ContainerPostgres {
    container: ContainerAsync<Postgres>,
    base: String,
}

impl ContainerPostgres {
    /// Starts a container with trust authentication as user `postgres`.
    pub(crate) async fn start() -> anyhow::Result<ContainerPostgres> {
        let container = Postgres::default()
            .with_host_auth()
            .start()
            .await
            .map_err(|e| {
                anyhow::anyhow!("starting a PostgreSQL container (is Docker running?): {e}")
            })?;
        let base = postgres_base(&container).await?;
        Ok(ContainerPostgres { container, base })
    }

    /// The URL of `database` on this server.
    pub(crate) fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base)
    }

    /// Stops and starts the container (its data volume stays).
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.container.stop().await?;
        self.container.start().await?;
        self.base = postgres_base(&self.container).await?;
        Ok(())
    }
}

async fn postgres_base(container: &ContainerAsync<Postgres>) -> anyhow::Result<String> {
    let host = container.get_host().await?;
    let port = container
        .get_host_port_ipv4(ContainerPort::Tcp(POSTGRES_PORT))
        .await?;
    Ok(format!("postgres://postgres:postgres@{host}:{port}"))
}
