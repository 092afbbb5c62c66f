//! The process-wide rustls crypto provider.
//!
//! reqwest, tokio-tungstenite and sqlx all use rustls; if two providers end up compiled in (say
//! aws-lc and ring), rustls cannot pick one and the first TLS handshake panics. Installing aws-lc
//! explicitly at start makes the choice independent of the dependency graph.

/// Installs rustls' aws-lc-rs provider as the process default; later calls do nothing.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is exactly the state we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_stays_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
