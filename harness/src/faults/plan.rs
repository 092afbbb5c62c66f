//! The data of a fault plan: which requests or frames a rule aims at, and what it does to them.
//!
//! Everything here is serde-friendly plain data; a plan reads the same in JSON or TOML:
//!
//! ```json
//! {"rules": [
//!   {"when": {"endpoint": "com.atproto.sync.listRepos", "cursor": "7"},
//!    "fault": {"kind": "status", "status": 500}},
//!   {"when": {"did": "did:plc:abc"}, "times": 2,
//!    "fault": {"kind": "rate_limited", "retry_after_secs": 1}},
//!   {"when": {"endpoint": "com.atproto.sync.subscribeRepos", "frame": 3},
//!    "fault": {"kind": "drop_stream"}}
//! ]}
//! ```

use serde::{Deserialize, Serialize};

use super::FaultError;
use super::repo_defect::RepoDefect;

/// A list of rules; every rule whose matcher accepts a request (or frame) fires on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// The rules, in the order they are applied.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// One fault, where it applies, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Which requests or frames it aims at (all of them when empty).
    #[serde(default)]
    pub when: Matcher,
    /// What it does.
    pub fault: Fault,
    /// Fires on the first `n` matching requests or frames only; `None` is persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// Aims a rule. Every field that is set must match; an empty matcher matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// The `Host` the client asked for (`localhost:2583`); a value without a port matches any port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The XRPC method (`com.atproto.sync.getRepo`), or the path for non-XRPC routes
    /// (`/.well-known/did.json`, `/{did}` on the PLC directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The DID the request is about (`did` parameter, or the PLC path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// The `cursor` parameter, exactly as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The 0-based number of the frame about to be sent on a stream connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answers with this status and an XRPC error body named after it (`InternalServerError`).
    Status {
        /// 500, 502, 503, …
        status: u16,
    },
    /// Answers 429 with `Retry-After` and exhausted `RateLimit-*` headers.
    RateLimited {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Answers with a named XRPC error, e.g. 400 `RepoTakendown`.
    XrpcError {
        /// The HTTP status.
        status: u16,
        /// The error name.
        error: String,
        /// The message, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Waits this long before answering.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Sends the body a few bytes at a time.
    Trickle {
        /// Bytes per piece (at least 1).
        chunk_bytes: usize,
        /// Pause between pieces, in milliseconds.
        interval_ms: u64,
    },
    /// Ends the body cleanly after this many bytes (no `Content-Length`, so the cut is silent).
    Truncate {
        /// Bytes of the body that are sent.
        at_byte: u64,
    },
    /// Resets the TCP connection (RST) instead of answering.
    Reset,
    /// Answers with this status and an HTML page, as a proxy in front of the server would.
    HtmlError {
        /// The HTTP status.
        status: u16,
    },
    /// Serves the repository (`getRepo`) with one defect.
    BrokenRepo {
        /// The defect.
        defect: RepoDefect,
    },
    /// Drops the WebSocket (no close frame) instead of sending the matched frame.
    DropStream,
    /// Sends nothing for a while before the matched frame, keeping the connection open.
    Stall {
        /// Milliseconds.
        ms: u64,
    },
}

/// Where the servers consult the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// When an HTTP request (including a WebSocket upgrade) arrives.
    Request,
    /// Before each frame a stream connection sends.
    Frame,
}

/// What a request or frame is, as matchers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The `Host` header, lower case.
    pub host: String,
    /// The XRPC method or the path.
    pub endpoint: String,
    /// The DID the request is about.
    pub did: Option<String>,
    /// The `cursor` parameter.
    pub cursor: Option<String>,
    /// The frame number, at [`Checkpoint::Frame`].
    pub frame: Option<u64>,
}

impl Fault {
    /// Where this fault is consulted.
    pub fn checkpoint(&self) -> Checkpoint {
        match self {
            Fault::DropStream | Fault::Stall { .. } => Checkpoint::Frame,
            _ => Checkpoint::Request,
        }
    }

    /// Whether the fault replaces the answer (or ends the stream): only the first such rule
    /// that matches a request or frame fires; later ones wait for the next.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Fault::Status { .. }
                | Fault::RateLimited { .. }
                | Fault::XrpcError { .. }
                | Fault::Reset
                | Fault::HtmlError { .. }
                | Fault::DropStream
        )
    }

    /// Whether the fault can act on a request to `endpoint` (a broken repo needs a repo).
    pub fn applies_to(&self, endpoint: &str) -> bool {
        match self {
            Fault::BrokenRepo { .. } => endpoint == "com.atproto.sync.getRepo",
            _ => true,
        }
    }

    fn validate(&self) -> Result<(), FaultError> {
        let status_ok = |status: u16| (100..=999).contains(&status);
        match self {
            Fault::Status { status }
            | Fault::HtmlError { status }
            | Fault::XrpcError { status, .. }
                if !status_ok(*status) =>
            {
                Err(FaultError::InvalidRule {
                    reason: format!("status {status} is not an HTTP status"),
                })
            }
            Fault::Trickle { chunk_bytes: 0, .. } => Err(FaultError::InvalidRule {
                reason: "trickle needs chunk_bytes of at least 1".into(),
            }),
            _ => Ok(()),
        }
    }
}

impl Matcher {
    /// Whether `target` is aimed at.
    pub fn matches(&self, target: &Target) -> bool {
        let host_ok = self.host.as_deref().is_none_or(|want| {
            let want = want.to_ascii_lowercase();
            target.host == want || host_without_port(&target.host) == want
        });
        let endpoint_ok = self
            .endpoint
            .as_deref()
            .is_none_or(|want| target.endpoint == want);
        let did_ok = self.did.is_none() || self.did == target.did;
        let cursor_ok = self.cursor.is_none() || self.cursor == target.cursor;
        let frame_ok = self.frame.is_none() || self.frame == target.frame;
        host_ok && endpoint_ok && did_ok && cursor_ok && frame_ok
    }
}

impl FaultPlan {
    /// A plan with no rules.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a rule (builder style).
    pub fn with(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Refuses rules that cannot act (a status outside 100..=999, an empty trickle).
    pub fn validate(&self) -> Result<(), FaultError> {
        self.rules.iter().try_for_each(|rule| rule.fault.validate())
    }
}

impl FaultRule {
    /// A persistent rule.
    pub fn always(when: Matcher, fault: Fault) -> Self {
        Self {
            when,
            fault,
            times: None,
        }
    }

    /// A rule that fires on the first `n` matches only.
    pub fn first(n: u32, when: Matcher, fault: Fault) -> Self {
        Self {
            when,
            fault,
            times: Some(n),
        }
    }
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
fn host_without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            host: "localhost:2583".into(),
            endpoint: "com.atproto.sync.getRepo".into(),
            did: Some("did:plc:abc".into()),
            cursor: None,
            frame: None,
        }
    }

    #[test]
    fn empty_matcher_matches_everything_and_fields_narrow_it() {
        assert!(Matcher::default().matches(&target()));
        let by_host = Matcher {
            host: Some("LOCALHOST".into()),
            ..Matcher::default()
        };
        assert!(by_host.matches(&target()));
        let other_port = Matcher {
            host: Some("localhost:1".into()),
            ..Matcher::default()
        };
        assert!(!other_port.matches(&target()));
        let other_did = Matcher {
            did: Some("did:plc:zzz".into()),
            ..Matcher::default()
        };
        assert!(!other_did.matches(&target()));
        let frame = Matcher {
            frame: Some(0),
            ..Matcher::default()
        };
        assert!(!frame.matches(&target()), "frame matchers skip requests");
    }

    #[test]
    fn plans_round_trip_through_json() {
        let text = r#"{"rules": [
            {"when": {"endpoint": "com.atproto.sync.listRepos", "cursor": "7"},
             "fault": {"kind": "status", "status": 500}},
            {"when": {"did": "did:plc:abc"}, "times": 2,
             "fault": {"kind": "broken_repo", "defect": {"type": "other_did", "did": "did:plc:x"}}},
            {"fault": {"kind": "stall", "ms": 10}}
        ]}"#;
        let plan: FaultPlan = serde_json::from_str(text).unwrap();
        assert_eq!(plan.rules.len(), 3);
        assert_eq!(plan.rules[1].times, Some(2));
        assert_eq!(
            plan.rules[1].fault,
            Fault::BrokenRepo {
                defect: RepoDefect::OtherDid {
                    did: "did:plc:x".into()
                }
            }
        );
        let again: FaultPlan =
            serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(again, plan);
        assert!(
            serde_json::from_str::<FaultPlan>(r#"{"rules": [{"fault": {"kind": "nope"}}]}"#)
                .is_err()
        );
    }

    #[test]
    fn validation_refuses_rules_that_cannot_act() {
        let bad = FaultPlan::none().with(FaultRule::always(
            Matcher::default(),
            Fault::Trickle {
                chunk_bytes: 0,
                interval_ms: 1,
            },
        ));
        assert!(bad.validate().is_err());
        let bad = FaultPlan::none().with(FaultRule::always(
            Matcher::default(),
            Fault::Status { status: 42 },
        ));
        assert!(bad.validate().is_err());
    }
}
