//! The maintenance task: keeps held entries from looking idle, trims, heals groups, publishes lag.
//!
//! An entry in work for longer than `claim_idle` (a huge repo in the backfiller) would otherwise be
//! claimed by another consumer while this one still works on it; touching it (`XCLAIM … JUSTID`,
//! which does not count a delivery) every third of `claim_idle` prevents that. Every stream read is
//! trimmed below what all of its groups still need every `trim_interval` (contract rule 8: every
//! consumer trims what it reads, so a stream whose groups keep up stays short whatever the volume).
//! Groups are checked for being ahead of their streams every `heal_interval` (contract rule 2).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::commands;
use super::group;
use super::held::Held;
use super::options::ConsumerOptions;
use crate::trim;

/// Most ids in one touch command.
const TOUCH_CHUNK: usize = 500;

pub(crate) async fn run_maintenance(
    mut conn: ConnectionManager,
    options: Arc<ConsumerOptions>,
    held: Arc<Held>,
    stop: CancellationToken,
) {
    let keepalive = options.keepalive_interval();
    let tick = (keepalive / 2)
        .min(options.heal_interval)
        .min(options.trim_interval)
        .max(Duration::from_millis(5));
    let mut next_heal = Instant::now() + options.heal_interval;
    let mut next_trim = Instant::now() + options.trim_interval;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        for (stream, ids) in held.due_for_touch(keepalive) {
            for chunk in ids.chunks(TOUCH_CHUNK) {
                let ids: Vec<&str> = chunk.iter().map(|id| &**id).collect();
                let touched =
                    commands::touch(&mut conn, &stream, &options.group, &options.consumer, &ids)
                        .await;
                if let Err(e) = touched {
                    tracing::warn!(stream = &*stream, error = %e, "keep-alive of held entries failed");
                }
            }
        }
        if Instant::now() >= next_trim {
            next_trim = Instant::now() + options.trim_interval;
            for stream in &options.streams {
                // Trimming late loses nothing: a failure is logged and tried again next time.
                match trim::trim_stream(&mut conn, stream, false).await {
                    Ok(report) => tracing::debug!(stream, ?report, "trimmed"),
                    Err(e) => tracing::warn!(stream, error = %e, "trim failed"),
                }
            }
        }
        if Instant::now() >= next_heal {
            next_heal = Instant::now() + options.heal_interval;
            for stream in &options.streams {
                if let Err(e) = group::heal_group_if_ahead(&mut conn, stream, &options.group).await
                {
                    tracing::warn!(stream, error = %e, "group check failed");
                }
                if let Err(e) = group::publish_lag(&mut conn, stream, &options.group).await {
                    tracing::debug!(stream, error = %e, "lag check failed");
                }
            }
        }
    }
}
