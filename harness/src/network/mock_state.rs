//! A generated network as the mock servers' plain-data states: one [`PdsState`] per PDS host, the
//! relay's [`RelayState`], the PLC directory's [`PlcState`] and the did:web/handle [`WebState`].
//!
//! Host names become addresses here and only here: [`Endpoints`] says where each mock listens,
//! and DID documents point at those URLs.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Account, DidMethod, Network, NetworkError};
use crate::mock::{PdsAccount, PdsState, PlcState, RelayAccount, RelayHost, RelayState, WebState};

/// Where the mock servers of a network listen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Base URL of each PDS (`http://127.0.0.1:PORT`), indexed like [`Network::pds_hosts`].
    pub pds: Vec<String>,
    /// Base URL of each labeler, by labeler host name (`labeler1.test`).
    pub labelers: HashMap<String, String>,
}

impl Endpoints {
    /// The base URL of `account`'s PDS (its host name as `https://` if unmapped).
    pub fn pds_of(&self, network: &Network, account: &Account) -> String {
        self.pds
            .get(account.pds)
            .cloned()
            .unwrap_or_else(|| format!("https://{}", network.pds_host_of(account)))
    }

    /// The base URL of a labeler account's label service (empty for other accounts).
    pub fn labeler_of(&self, account: &Account) -> String {
        account
            .labeler
            .as_ref()
            .map(|l| {
                self.labelers
                    .get(&l.host)
                    .cloned()
                    .unwrap_or_else(|| format!("https://{}", l.host))
            })
            .unwrap_or_default()
    }
}

/// Every mock server's state for a network.
#[derive(Debug, Clone, Default)]
pub struct MockStates {
    /// One per PDS host, indexed like [`Network::pds_hosts`].
    pub pds: Vec<PdsState>,
    /// The relay's accounts and hosts.
    pub relay: RelayState,
    /// did:plc documents.
    pub plc: PlcState,
    /// did:web documents and every handle's DID.
    pub web: WebState,
}

impl Network {
    /// Builds every repository (on `threads` threads) and fills the mock servers' states as they
    /// are before the script. Each CAR is held once, by its PDS's state.
    pub fn mock_states(
        &self,
        endpoints: &Endpoints,
        threads: usize,
    ) -> Result<MockStates, NetworkError> {
        let accounts: Mutex<Vec<Option<PdsAccount>>> =
            Mutex::new(vec![None; self.accounts().len()]);
        self.for_each_repo(threads, |repo| -> Result<(), NetworkError> {
            let account = self.account(repo.account)?;
            let pds_account = PdsAccount {
                did: account.did.clone(),
                handle: Some(account.handle.clone()),
                created_at_ms: account.created_at_ms,
                status: account.status,
                head: repo.commit_cid().to_string(),
                rev: repo.rev.clone(),
                car: repo.car()?,
                signing_key: Some(account.key.clone()),
            };
            if let Ok(mut slots) = accounts.lock()
                && let Some(slot) = slots.get_mut(repo.account)
            {
                *slot = Some(pds_account);
            }
            Ok(())
        })?;
        let accounts = accounts
            .into_inner()
            .map_err(|_| NetworkError::WorkerPanicked)?;
        let mut states = MockStates {
            pds: vec![PdsState::default(); self.pds_hosts().len()],
            ..MockStates::default()
        };
        for (account, pds_account) in self.accounts().iter().zip(accounts) {
            let pds_account = pds_account.ok_or(NetworkError::NoAccount(account.index))?;
            states.relay.accounts.push(RelayAccount {
                id: account.index as u64 + 1,
                did: account.did.clone(),
                head: pds_account.head.clone(),
                rev: pds_account.rev.clone(),
                active: account.status.is_active(),
                status: account.status.as_status().map(str::to_owned),
                pds: endpoints.pds_of(self, account),
            });
            if let Some(state) = states.pds.get_mut(account.pds) {
                state.accounts.push(pds_account);
            }
            self.publish_identity(&mut states, endpoints, account, &account.handle, None);
        }
        for (index, host) in self.pds_hosts().iter().enumerate() {
            let hostname = endpoints
                .pds
                .get(index)
                .map(|url| bare_host(url).to_owned())
                .unwrap_or_else(|| host.clone());
            let count = states.pds.get(index).map_or(0, |s| s.accounts.len());
            states.relay.hosts.push(RelayHost {
                id: index as u64 + 1,
                hostname,
                account_count: count as u64,
                status: "active".into(),
            });
        }
        Ok(states)
    }

    /// Publishes `account`'s DID document with `handle` (PLC or did:web) and the handle's DID,
    /// retracting `old_handle` if given.
    pub fn publish_identity(
        &self,
        states: &mut MockStates,
        endpoints: &Endpoints,
        account: &Account,
        handle: &str,
        old_handle: Option<&str>,
    ) {
        let document = self.did_document_of(
            account,
            handle,
            &endpoints.pds_of(self, account),
            &endpoints.labeler_of(account),
        );
        match account.method {
            DidMethod::Plc => {
                states.plc.documents.insert(account.did.clone(), document);
            }
            DidMethod::Web => {
                let host = account.did.trim_start_matches("did:web:").to_owned();
                states.web.did_documents.insert(host, document);
            }
        }
        if let Some(old) = old_handle.filter(|old| *old != handle) {
            states.web.handles.remove(old);
        }
        states
            .web
            .handles
            .insert(handle.to_owned(), account.did.clone());
    }
}

/// `host:port` of a base URL.
fn bare_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}
