//! The settings every binary shares (`CommonArgs`), and parsing with the contract's rules: every
//! setting is both an environment variable and a `--flag`, aliases are honoured, and any bad value
//! is a usage error that exits with code 2 and says which setting is wrong.

use clap::error::ErrorKind;
use clap::{Command, CommandFactory, Id, Parser, ValueEnum};

use crate::aliases::{EnvAlias, apply_env_aliases};
use crate::healthcheck;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by every binary; embed with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Redis server URL (redis://, rediss:// or unix://).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = parse_redis_url)]
    pub redis_url: String,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info,indexer=debug`).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info", value_parser = parse_log_filter)]
    pub rust_log: String,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve /metrics and /healthz on this port (0 picks a free port and logs it); off when unset.
    #[arg(long, env = "METRICS_PORT")]
    pub metrics_port: Option<u16>,
}

/// Parses the command line and environment into `T`, honouring `aliases`. Exits with code 2 and a
/// message naming the setting on any bad value (and with 0 after `--help`).
///
/// `<binary> healthcheck [PORT]` is answered here, before the binary's own settings are read
/// (see [`crate::healthcheck`]), and ends the process.
pub fn parse_args<T: Parser>(aliases: &[EnvAlias<'_>]) -> T {
    healthcheck::run_if_asked(std::env::args_os().skip(1));
    let mut command = name_values_after_env(apply_env_aliases(T::command(), aliases))
        .subcommand(healthcheck::command());
    let matches = command.clone().get_matches();
    match T::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.format(&mut command).exit(),
    }
}

/// Ends the process with a usage error (exit code 2) for a value that clap accepted but the
/// binary's own validation rejects, e.g. two settings that contradict each other.
pub fn usage_error<T: CommandFactory>(message: impl std::fmt::Display) -> ! {
    T::command()
        .error(ErrorKind::ValueValidation, message)
        .exit()
}

/// Shows each value as its environment variable (`--workers <DEMO_WORKERS>`), so that an error
/// about a value set in the environment names the variable an operator has to fix.
fn name_values_after_env(mut command: Command) -> Command {
    let renames: Vec<(Id, String)> = command
        .get_arguments()
        .filter(|arg| arg.get_action().takes_values())
        .filter_map(|arg| Some((arg.get_id().clone(), arg.get_env()?.to_str()?.to_owned())))
        .collect();
    for (id, env) in renames {
        command = command.mut_arg(id, |arg| arg.value_name(env));
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in subcommands {
        command = command.mut_subcommand(name, name_values_after_env);
    }
    command
}

fn parse_redis_url(text: &str) -> Result<String, String> {
    const SCHEMES: [&str; 4] = ["redis://", "rediss://", "unix://", "redis+unix://"];
    if SCHEMES.iter().any(|scheme| text.starts_with(scheme)) && text.len() > "redis://".len() {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a Redis URL (expected redis://host:port)"
        ))
    }
}

fn parse_log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{text:?} is not a log filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from([
            "bin",
            "--redis-url",
            "redis://10.0.0.1:6380",
            "--log",
            "debug,hyper=warn",
            "--log-format",
            "json",
            "--metrics-port",
            "9100",
        ])
        .expect("valid flags");
        assert_eq!(args.common.redis_url, "redis://10.0.0.1:6380");
        assert_eq!(args.common.rust_log, "debug,hyper=warn");
        assert_eq!(args.common.log_format, LogFormat::Json);
        assert_eq!(args.common.metrics_port, Some(9100));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            ["bin", "--redis-url", "http://x"],
            ["bin", "--log-format", "xml"],
            ["bin", "--metrics-port", "70000"],
            ["bin", "--log", "info,[[["],
        ] {
            let err = Args::try_parse_from(bad).expect_err("must be rejected");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
