//! Free TCP ports on the loopback interface.
//!
//! The kernel hands out an ephemeral port that nobody listens on; the port is released before the
//! service binds it, so another process may race us to it. Launchers therefore retry with a new
//! port when a service reports "address already in use".

use std::net::{Ipv4Addr, TcpListener};

/// How many times a launcher tries a new port before it gives up.
pub(crate) const PORT_ATTEMPTS: usize = 8;

/// Asks the kernel for a port on 127.0.0.1 that is free at this moment.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| anyhow::anyhow!("cannot bind an ephemeral port on 127.0.0.1: {e}"))?;
    Ok(listener.local_addr()?.port())
}
