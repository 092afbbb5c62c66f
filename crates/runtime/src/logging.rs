//! Logging: tracing-subscriber writing to stderr (stdout stays free for a binary's real output),
//! as text or JSON, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::aliases::take_pending_warnings;
use crate::config::{CommonArgs, LogFormat};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` is not a valid filter.
    #[error("RUST_LOG={filter:?} is not a valid log filter: {source}")]
    Filter {
        /// The rejected filter text.
        filter: String,
        /// The parser's complaint.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed in this process.
    #[error("logging was already initialised: {0}")]
    AlreadyInitialised(String),
}

/// Installs the global subscriber described by `args`, then logs warnings found while parsing the
/// configuration (e.g. conflicting env aliases).
pub fn init_logging(args: &CommonArgs) -> Result<(), LoggingError> {
    let filter = EnvFilter::builder()
        .parse(&args.rust_log)
        .map_err(|source| LoggingError::Filter {
            filter: args.rust_log.clone(),
            source,
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help a person at a terminal; in files they break grepping.
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    installed.map_err(|e| LoggingError::AlreadyInitialised(e.to_string()))?;
    for warning in take_pending_warnings() {
        tracing::warn!("{warning}");
    }
    Ok(())
}
