//! This process's identity among its peers: the default consumer name in a Redis consumer group.
//!
//! Two consumers with the same name fight over each other's pending entries, so the default must
//! be unique per process: the host name (unique per pod or machine) plus the pid (unique on it).

/// The contract's default consumer name: `<host name>-<pid>`.
pub fn default_consumer_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_with_our_pid() {
        let name = default_consumer_name();
        let suffix = format!("-{}", std::process::id());
        assert!(name.ends_with(&suffix), "{name}");
        assert!(name.len() > suffix.len(), "{name} has a host part");
    }
}
