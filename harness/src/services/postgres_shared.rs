//! Fresh databases on a shared PostgreSQL server (`HARNESS_DATABASE_URL`).
//!
//! Each `create_database` makes a uniquely named database; all of them are dropped (`WITH (FORCE)`,
//! so open pools do not block it) when the `TestPostgres` is dropped.

use std::sync::Mutex;

use sqlx::Connection;
use url::Url;

use super::postgres_server::create_database;

/// The shared server and the databases this test created on it.
pub(crate) struct SharedPostgres {
    admin_url: String,
    created: Mutex<Vec<String>>,
}

impl SharedPostgres {
    /// Checks that the server at `url` answers.
    pub(crate) async fn connect(url: &str) -> anyhow::Result<SharedPostgres> {
        Url::parse(url)
            .map_err(|e| anyhow::anyhow!("HARNESS_DATABASE_URL {url:?} is not a URL: {e}"))?;
        let con = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to HARNESS_DATABASE_URL: {e}"))?;
        con.close().await?;
        Ok(SharedPostgres {
            admin_url: url.to_owned(),
            created: Mutex::new(Vec::new()),
        })
    }

    /// Creates database `name` and returns its URL.
    pub(crate) async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        create_database(&self.admin_url, name).await?;
        if let Ok(mut created) = self.created.lock() {
            created.push(name.to_owned());
        }
        let mut url = Url::parse(&self.admin_url)?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }
}

impl Drop for SharedPostgres {
    fn drop(&mut self) {
        let names = match self.created.get_mut() {
            Ok(names) => std::mem::take(names),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        if names.is_empty() {
            return;
        }
        let admin_url = self.admin_url.clone();
        // Drop cannot await, and may run inside a runtime: use a private runtime on its own thread.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut con = sqlx::PgConnection::connect(&admin_url).await?;
                for name in names {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut con)
                    .await?;
                }
                con.close().await?;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not drop test databases: {e}"),
            Err(_) => tracing::warn!("dropping test databases panicked"),
        }
    }
}
