//! One account of the network: identity, key, hosting, status and repository plan.

use protocol::crypto::Keypair;
use serde::{Deserialize, Serialize};

use super::RepoPlan;
pub use crate::mock::AccountStatus;

/// How an account's DID resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DidMethod {
    /// `did:plc:…`, resolved through the PLC directory.
    Plc,
    /// `did:web:<host>`, resolved through `https://<host>/.well-known/did.json`.
    Web,
}

/// One account as generated (its state before the live script).
#[derive(Debug, Clone)]
pub struct Account {
    /// Position in [`Network::accounts`](super::Network::accounts).
    pub index: usize,
    /// The DID.
    pub did: String,
    /// How the DID resolves.
    pub method: DidMethod,
    /// The handle (without `at://`).
    pub handle: String,
    /// Index of the PDS host in [`Network::pds_hosts`](super::Network::pds_hosts).
    pub pds: usize,
    /// The repository signing key (the DID document's `#atproto` key).
    pub key: Keypair,
    /// Status before the script.
    pub status: AccountStatus,
    /// When the account was created, Unix milliseconds (the PDS's `listRepos` order and cursor).
    pub created_at_ms: i64,
    /// The TID clock id of this account's PDS writes.
    pub clock_id: u16,
    /// What its repository holds.
    pub plan: RepoPlan,
    /// For labeler accounts: the host of their label stream and the label signing key
    /// (the DID document's `#atproto_label` key).
    pub labeler: Option<LabelerInfo>,
}

/// What makes an account a labeler.
#[derive(Debug, Clone)]
pub struct LabelerInfo {
    /// The labeler service's host name, e.g. `labeler1.test`.
    pub host: String,
    /// The key that signs its labels.
    pub key: Keypair,
}
