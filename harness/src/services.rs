//! Real services for tests: a private `redis-server`, a private PostgreSQL cluster, and our own
//! binaries as child processes.
//!
//! Each service is hermetic (its own port, its own temporary directory) so that nextest can run many
//! test processes at once, and each is torn down on `Drop`, also when a test panics. Environment
//! variables switch the backends for machines that already run the services:
//!
//! | variable | effect |
//! |---|---|
//! | `HARNESS_REDIS_URL` | use that Redis server; each `TestRedis` claims a free DB index (1..=15) |
//! | `HARNESS_DATABASE_URL` | use that PostgreSQL server; each `create_database` makes a fresh database |
//! | `HARNESS_BACKEND=containers` | with the `testcontainers` feature, start services in Docker |
//! | `HARNESS_PG_BIN` | directory holding `initdb` and `pg_ctl` (default: newest `/usr/lib/postgresql/*/bin`) |
//! | `HARNESS_REDIS_SERVER` | the `redis-server` executable (default: found on `PATH`) |

mod binary;
mod child;
#[cfg(feature = "testcontainers")]
mod containers;
mod port;
mod postgres_server;
mod postgres_shared;
mod postgres_template;
mod proc_stats;
mod redis_server;
mod redis_shared;
mod signal;
mod sweep;
mod wait;

pub use binary::{locate_binary, target_profile_dir};
pub use child::{ChildProcess, ChildSpec};
pub use postgres_server::TestPostgres;
pub use proc_stats::{cpu_seconds, machine_cpu_seconds, peak_rss_kib};
pub use redis_server::{RedisOptions, TestRedis};
pub use signal::{Signal, send_signal};
pub use wait::wait_until;
