//! How a repo can fail, and what the consumer does about it: dead-letter at once, or retry.
//!
//! Rate limiting is not here on purpose: a 429 is back-pressure handled where requests are made
//! (the host is parked and the request waits), never a failure of the repo.

use protocol::car::CarError;
use protocol::repo::RepoError;
use xrpc::{IdentityError, RepoBodyError, XrpcError};

/// A repo that could not be backfilled this time.
#[derive(Debug, thiserror::Error)]
pub enum RepoFailure {
    /// Asking again cannot help: the repo goes to the dead-letter stream with this reason.
    #[error("{0}")]
    Permanent(String),
    /// Might work later: retried with backoff, dead-lettered after the last allowed delivery.
    #[error("{0}")]
    Transient(String),
}

impl RepoFailure {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Permanent(_) => "permanent",
            Self::Transient(_) => "transient",
        }
    }
}

/// Resolving the DID failed.
pub fn from_identity(did: &str, e: &IdentityError) -> RepoFailure {
    if e.is_permanent() {
        RepoFailure::Permanent(format!("unresolvable DID {did}: {e}"))
    } else {
        RepoFailure::Transient(format!("resolving {did}: {e}"))
    }
}

/// `getRepo` failed before its body (429s are handled by the caller and never reach here).
pub fn from_get_repo(e: &XrpcError) -> RepoFailure {
    let reason = if e.is_repo_not_found() {
        "RepoNotFound"
    } else if e.is_taken_down() {
        "RepoTakendown"
    } else if e.is_deactivated() {
        "RepoDeactivated"
    } else if e.is_suspended() {
        "RepoSuspended"
    } else if e.is_permanent() {
        return RepoFailure::Permanent(e.to_string());
    } else {
        return RepoFailure::Transient(e.to_string());
    };
    RepoFailure::Permanent(format!("{reason}: {e}"))
}

/// Reading or verifying the repo failed. A corrupt CAR is retried (a proxy may have mangled one
/// download) and dead-lettered once retries are used up; a repo over the size cap, a commit of
/// another DID and a bad signature are final.
pub fn from_load(e: &RepoError) -> RepoFailure {
    match e {
        RepoError::Car(CarError::Io { source, .. }) => match RepoBodyError::from_io(source) {
            Some(body @ RepoBodyError::TooLarge { .. }) => {
                RepoFailure::Permanent(format!("repo too large: {body}"))
            }
            Some(body) => RepoFailure::Transient(format!("download failed: {body}")),
            None => RepoFailure::Transient(format!("download failed: {e}: {source}")),
        },
        RepoError::Car(CarError::TotalTooLarge { .. }) => {
            RepoFailure::Permanent(format!("repo too large: {e}"))
        }
        // Millions of distinct blocks: over the loader's index budget, as final as the size cap.
        RepoError::TooManyBlocks { .. } => RepoFailure::Permanent(format!("repo too large: {e}")),
        RepoError::WrongDid { .. } => RepoFailure::Permanent(format!("wrong DID: {e}")),
        RepoError::BadSignature { .. } => RepoFailure::Permanent(format!("bad signature: {e}")),
        RepoError::Spill { .. } => RepoFailure::Transient(format!("local spill file: {e}")),
        _ => RepoFailure::Transient(format!("corrupt CAR: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xrpc(status: u16, error: &str) -> XrpcError {
        XrpcError::Xrpc {
            call: "com.atproto.sync.getRepo",
            origin: "https://pds.test".into(),
            status,
            error: error.into(),
            message: None,
        }
    }

    #[test]
    fn account_states_are_permanent_and_named() {
        for name in [
            "RepoNotFound",
            "RepoTakendown",
            "RepoDeactivated",
            "RepoSuspended",
        ] {
            match from_get_repo(&xrpc(400, name)) {
                RepoFailure::Permanent(reason) => assert!(reason.starts_with(name), "{reason}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn server_trouble_is_transient() {
        let e = XrpcError::Status {
            call: "com.atproto.sync.getRepo",
            origin: "https://pds.test".into(),
            status: 502,
            snippet: "<html>bad gateway</html>".into(),
        };
        assert_eq!(from_get_repo(&e).kind(), "transient");
        assert_eq!(
            from_get_repo(&xrpc(500, "InternalServerError")).kind(),
            "transient"
        );
    }

    #[test]
    fn forged_and_oversized_repos_are_permanent_corrupt_ones_transient() {
        let cid = Box::new(protocol::data_model::cid_for_cbor(b"\xa0"));
        let wrong = RepoError::WrongDid {
            cid: cid.clone(),
            expected: "did:plc:a".into(),
            actual: "did:plc:b".into(),
        };
        assert_eq!(from_load(&wrong).kind(), "permanent");
        let big = RepoError::Car(CarError::TotalTooLarge {
            offset: 1,
            limit: 1,
        });
        assert_eq!(from_load(&big).kind(), "permanent");
        let blocks = RepoError::TooManyBlocks { limit: 10 };
        assert_eq!(from_load(&blocks).kind(), "permanent");
        assert!(from_load(&blocks).to_string().contains("repo too large"));
        let cut = RepoError::Car(CarError::Truncated { offset: 10 });
        assert!(from_load(&cut).to_string().starts_with("corrupt CAR"));
        assert_eq!(from_load(&cut).kind(), "transient");
        let missing = RepoError::MissingBlock {
            cid,
            kind: protocol::repo::BlockKind::Record,
        };
        assert_eq!(from_load(&missing).kind(), "transient");
    }
}
