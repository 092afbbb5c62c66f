//! Alternative environment variable names, such as rsky's `RELAY_HOSTS` for the contract's
//! `INGESTER_RELAY_HOSTS`.
//!
//! clap gives an argument one `env` name. Rather than copying aliases into the primary variables
//! (`std::env::set_var` is unsafe once threads exist), an alias's value becomes the argument's
//! default: the command line beats the primary variable, which beats the alias, which beats the
//! built-in default. Conflicts are reported once logging is up (see `take_pending_warnings`).

use std::ffi::OsStr;
use std::sync::Mutex;

use clap::{Arg, Command};

/// A pair `(primary, alias)` of environment variable names; the primary wins when both are set.
pub type EnvAlias<'a> = (&'a str, &'a str);

/// Warnings found while parsing, before logging existed.
static PENDING_WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Makes each alias feed the argument whose `env` is its primary name, in `command` and all its
/// subcommands, and mentions the alias in `--help`.
pub fn apply_env_aliases(command: Command, aliases: &[EnvAlias<'_>]) -> Command {
    let mut command = command;
    for &(primary, alias) in aliases {
        let primary_value = std::env::var_os(primary);
        let alias_value = std::env::var_os(alias);
        if let (Some(p), Some(a)) = (&primary_value, &alias_value)
            && p != a
        {
            warn_later(format!(
                "both {primary} and its alias {alias} are set and differ; using {primary}={}",
                p.to_string_lossy()
            ));
        }
        let fallback = match (primary_value, alias_value) {
            (None, Some(value)) => Some(value),
            _ => None,
        };
        let (updated, found) = alias_in(command, primary, alias, fallback.as_deref());
        command = updated;
        if !found {
            warn_later(format!("env alias {alias}: no argument reads {primary}"));
        }
    }
    command
}

/// Applies one alias to `command` and its subcommands; reports whether any argument matched.
fn alias_in(
    mut command: Command,
    primary: &str,
    alias: &str,
    value: Option<&OsStr>,
) -> (Command, bool) {
    let ids: Vec<_> = command
        .get_arguments()
        .filter(|arg| arg.get_env() == Some(OsStr::new(primary)))
        .map(|arg| arg.get_id().clone())
        .collect();
    let mut found = !ids.is_empty();
    for id in ids {
        command = command.mut_arg(id, |arg| with_alias(arg, alias, value));
    }
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in subcommands {
        let mut found_here = false;
        command = command.mut_subcommand(name, |sub| {
            let (sub, matched) = alias_in(sub, primary, alias, value);
            found_here = matched;
            sub
        });
        found |= found_here;
    }
    (command, found)
}

fn with_alias(arg: Arg, alias: &str, value: Option<&OsStr>) -> Arg {
    let help = match arg.get_help() {
        Some(help) => format!("{help} [env alias: {alias}]"),
        None => format!("[env alias: {alias}]"),
    };
    let arg = arg.help(help);
    let Some(value) = value else {
        return arg;
    };
    // A list argument splits its environment value on the delimiter; do the same for the alias.
    match arg.get_value_delimiter() {
        Some(delimiter) => {
            let parts: Vec<String> = value
                .to_string_lossy()
                .split(delimiter)
                .map(str::to_owned)
                .collect();
            arg.default_values(parts)
        }
        None => arg.default_value(value.to_string_lossy().into_owned()),
    }
}

fn warn_later(message: String) {
    if let Ok(mut pending) = PENDING_WARNINGS.lock() {
        pending.push(message);
    }
}

/// Takes the warnings collected while parsing, for logging once a subscriber exists.
pub(crate) fn take_pending_warnings() -> Vec<String> {
    PENDING_WARNINGS
        .lock()
        .map(|mut pending| std::mem::take(&mut *pending))
        .unwrap_or_default()
}
