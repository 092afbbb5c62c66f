//! `<binary> healthcheck [PORT]`, shared by every binary: asks the running process's `/healthz`
//! on 127.0.0.1 (at `PORT`, else `METRICS_PORT`) and exits 0 when it answers 200, 1 otherwise.
//! Container health checks run it directly: the image has no HTTP client, and `/bin/sh` (dash)
//! has no `/dev/tcp`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use clap::{Arg, Command};

/// The subcommand's name.
pub const SUBCOMMAND: &str = "healthcheck";

/// Bound on connecting, writing and reading: a hung process is unhealthy.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why `healthcheck` failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// Neither an argument nor `METRICS_PORT` gives the port.
    #[error("no port: pass one or set METRICS_PORT")]
    NoPort,
    /// The port is not a number from 1 to 65535.
    #[error("{0:?} is not a port")]
    BadPort(String),
    /// Nothing answered, or not in time.
    #[error("asking 127.0.0.1:{port}/healthz: {source}")]
    Io {
        /// The port asked.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It answered, but not 200.
    #[error("127.0.0.1:{port}/healthz answered {answer:?}")]
    Unhealthy {
        /// The port asked.
        port: u16,
        /// The status line and body.
        answer: String,
    },
}

/// The subcommand as `--help` lists it (it is run before the binary's own parsing).
pub(crate) fn command() -> Command {
    Command::new(SUBCOMMAND)
        .about(
            "Exit 0 when the running process's /healthz answers 200 (for container health checks)",
        )
        .arg(
            Arg::new("port")
                .value_name("PORT")
                .help("Its metrics port; METRICS_PORT when omitted"),
        )
}

/// Runs `healthcheck` and exits when `args` (without the program name) ask for it; returns
/// otherwise.
pub(crate) fn run_if_asked(mut args: impl Iterator<Item = OsString>) {
    if args.next().is_none_or(|first| first != SUBCOMMAND) {
        return;
    }
    let port = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .or_else(|| std::env::var("METRICS_PORT").ok());
    if port.as_deref().is_some_and(|p| p == "--help" || p == "-h") {
        print!("{}", command().render_help());
        std::process::exit(0)
    }
    match port
        .ok_or(HealthcheckError::NoPort)
        .and_then(|p| probe_text(&p))
    {
        Ok(()) => {
            println!("healthy");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            std::process::exit(1)
        }
    }
}

fn probe_text(port: &str) -> Result<(), HealthcheckError> {
    match port.trim().parse::<u16>() {
        Ok(port) if port > 0 => probe(port),
        _ => Err(HealthcheckError::BadPort(port.to_owned())),
    }
}

/// Asks `127.0.0.1:port/healthz`; `Ok` when it answers 200.
pub fn probe(port: u16) -> Result<(), HealthcheckError> {
    let io = |source| HealthcheckError::Io { port, source };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    // HTTP/1.0: the server closes the connection after its answer, which ends the read.
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(io)?;
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer).map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        return Ok(());
    }
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    Err(HealthcheckError::Unhealthy {
        port,
        answer: format!("{status} {body}").trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Health, MetricsServer};
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn answers_follow_the_process_health() {
        let health = Health::new();
        let server = MetricsServer::bind(0, health.clone()).await.expect("bind");
        let port = server.local_addr().expect("addr").port();
        let stop = CancellationToken::new();
        let serving = tokio::spawn(server.serve(stop.clone()));
        let check = move || tokio::task::spawn_blocking(move || probe(port));

        assert!(check().await.expect("join").is_ok());
        health.set_unhealthy("task indexer died");
        let err = check().await.expect("join").expect_err("unhealthy");
        assert!(
            matches!(&err, HealthcheckError::Unhealthy { answer, .. } if answer.contains("503")),
            "{err}"
        );
        stop.cancel();
        serving.await.expect("join").expect("served");
        let closed = check().await.expect("join").expect_err("nothing listens");
        assert!(matches!(closed, HealthcheckError::Io { .. }), "{closed}");
    }

    #[test]
    fn a_port_must_be_a_port() {
        for bad in ["", "0", "http", "70000"] {
            assert!(
                matches!(probe_text(bad), Err(HealthcheckError::BadPort(_))),
                "{bad}"
            );
        }
    }
}
