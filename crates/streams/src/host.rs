//! Service hosts as operators write them in configuration.
//!
//! `bsky.network`, `https://bsky.network/` and `HTTPS://BSKY.NETWORK:443` name the same service; stages
//! derive both the URLs they call and the Redis cursor keys they write from one parsed [`ServiceHost`],
//! so reformatting the configuration never starts a cursor over.

use std::fmt;

/// Why a configured host string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    /// The string was empty (after trimming).
    #[error("empty host")]
    Empty,
    /// A scheme other than http, https, ws or wss.
    #[error("unsupported scheme {scheme:?} in host {input:?}")]
    Scheme {
        /// The scheme found.
        scheme: String,
        /// The configured string.
        input: String,
    },
    /// A path, query, fragment or user info after the authority.
    #[error("host {input:?} has more than a scheme, host and port")]
    Extra {
        /// The configured string.
        input: String,
    },
    /// A port that is not a number in 1..=65535.
    #[error("invalid port in host {input:?}")]
    Port {
        /// The configured string.
        input: String,
    },
    /// A host name with characters a DNS name or IP literal cannot hold.
    #[error("invalid host name in {input:?}")]
    Name {
        /// The configured string.
        input: String,
    },
}

/// A configured service: host name, optional port and whether it is reached over TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceHost {
    secure: bool,
    host: String,
    port: Option<u16>,
}

impl ServiceHost {
    /// Parses `host`, `host:port`, or either with an `http(s)://` or `ws(s)://` scheme and a trailing
    /// `/`. Without a scheme the service is reached over TLS.
    pub fn parse(input: &str) -> Result<Self, HostError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(HostError::Empty);
        }
        let (secure, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => {
                let secure = match scheme.to_ascii_lowercase().as_str() {
                    "https" | "wss" => true,
                    "http" | "ws" => false,
                    _ => {
                        return Err(HostError::Scheme {
                            scheme: scheme.to_owned(),
                            input: input.to_owned(),
                        });
                    }
                };
                (secure, rest)
            }
            None => (true, trimmed),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(HostError::Empty);
        }
        if authority.contains(['/', '?', '#', '@']) {
            return Err(HostError::Extra {
                input: input.to_owned(),
            });
        }
        let (host, port) = split_port(authority, input)?;
        let host = host.to_ascii_lowercase();
        if !valid_host(&host) {
            return Err(HostError::Name {
                input: input.to_owned(),
            });
        }
        let default_port = if secure { 443 } else { 80 };
        let port = port.filter(|p| *p != default_port);
        Ok(Self { secure, host, port })
    }

    /// The bare host name, lower case, with `:port` only when the port is not the scheme's default:
    /// the `{host}` of cursor keys.
    pub fn key(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The host name alone, lower case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the service is reached over TLS (`https`/`wss`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The HTTP origin, without a trailing slash: `https://bsky.network`, `http://localhost:2583`.
    pub fn http_base(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.key())
    }

    /// The WebSocket origin, without a trailing slash: `wss://bsky.network`, `ws://localhost:2583`.
    pub fn ws_base(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}", self.key())
    }
}

impl fmt::Display for ServiceHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.http_base())
    }
}

impl std::str::FromStr for ServiceHost {
    type Err = HostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits `host[:port]` or `[v6]:port`, keeping IPv6 brackets on the host.
fn split_port<'a>(authority: &'a str, input: &str) -> Result<(&'a str, Option<u16>), HostError> {
    let port_err = || HostError::Port {
        input: input.to_owned(),
    };
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, after) = authority.split_at(end + 1);
                match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None if after.is_empty() => (host, None),
                    None => return Err(port_err()),
                }
            }
            None => {
                return Err(HostError::Name {
                    input: input.to_owned(),
                });
            }
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(port_err()),
            Ok(n) => Some(n),
        },
        None => None,
    };
    Ok((host, port))
}

/// DNS names (letters, digits, `-`, `.`, `_`) or a bracketed IPv6 literal.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    }
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_name_is_https() {
        let h = ServiceHost::parse("bsky.network").unwrap();
        assert_eq!(h.key(), "bsky.network");
        assert_eq!(h.http_base(), "https://bsky.network");
        assert_eq!(h.ws_base(), "wss://bsky.network");
    }

    #[test]
    fn spellings_of_one_host_share_a_key() {
        let forms = [
            "relay1.us-east.bsky.network",
            "https://relay1.us-east.bsky.network/",
            "HTTPS://Relay1.US-East.bsky.network:443",
            "wss://relay1.us-east.bsky.network",
            "  relay1.us-east.bsky.network/ ",
        ];
        for f in forms {
            let h = ServiceHost::parse(f).unwrap();
            assert_eq!(h.key(), "relay1.us-east.bsky.network", "{f}");
            assert_eq!(h.http_base(), "https://relay1.us-east.bsky.network", "{f}");
        }
    }

    #[test]
    fn plain_http_with_port() {
        let h = ServiceHost::parse("http://localhost:2583").unwrap();
        assert_eq!(h.key(), "localhost:2583");
        assert_eq!(h.http_base(), "http://localhost:2583");
        assert_eq!(h.ws_base(), "ws://localhost:2583");
        assert!(!h.is_secure());
        let default = ServiceHost::parse("http://LocalHost:80/").unwrap();
        assert_eq!(default.key(), "localhost");
        assert_eq!(default.ws_base(), "ws://localhost");
    }

    #[test]
    fn https_with_other_port_keeps_it() {
        let h = ServiceHost::parse("example.com:8443").unwrap();
        assert_eq!(h.key(), "example.com:8443");
        assert_eq!(h.http_base(), "https://example.com:8443");
    }

    #[test]
    fn ipv6_literal() {
        let h = ServiceHost::parse("http://[::1]:2583").unwrap();
        assert_eq!(h.key(), "[::1]:2583");
        assert_eq!(h.host(), "[::1]");
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(ServiceHost::parse(" "), Err(HostError::Empty));
        assert_eq!(ServiceHost::parse("https://"), Err(HostError::Empty));
        assert!(matches!(
            ServiceHost::parse("ftp://x"),
            Err(HostError::Scheme { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("x/path"),
            Err(HostError::Extra { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("user@x"),
            Err(HostError::Extra { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("x:0"),
            Err(HostError::Port { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("x:99999"),
            Err(HostError::Port { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("x:"),
            Err(HostError::Port { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("a b"),
            Err(HostError::Name { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("[::1"),
            Err(HostError::Name { .. })
        ));
        assert!(matches!(
            ServiceHost::parse("[::1]x"),
            Err(HostError::Port { .. })
        ));
    }
}
