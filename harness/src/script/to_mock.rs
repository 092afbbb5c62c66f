//! Applying script events to the mock servers' states, so that what they serve after an event is
//! what the event says (`getRepo` returns the new CAR, `listRepos` the new head and status, the
//! PLC directory the new handle). Appending the frame to the right stream is the player's job:
//! `event.frame` at `event.seq` on the relay's (or the labeler's) event log.

use super::{Change, ScriptEvent};
use crate::mock::PdsAccount;
use crate::network::mock_state::{Endpoints, MockStates};
use crate::network::{Network, NetworkError};

/// Applies `event`'s change to `states` (labels change no state).
pub fn apply_to_states(
    network: &Network,
    endpoints: &Endpoints,
    states: &mut MockStates,
    event: &ScriptEvent,
) -> Result<(), NetworkError> {
    let Some(account) = network.account_by_did(&event.did) else {
        return Ok(());
    };
    match &event.change {
        Change::Commit { repo, .. } | Change::Sync { repo, .. } => {
            if let Some(a) = find_pds_account(states, account.pds, &account.did) {
                a.car = repo.car.clone();
                a.head = repo.commit.to_string();
                a.rev = repo.rev.clone();
            }
            if let Some(r) = states
                .relay
                .accounts
                .iter_mut()
                .find(|r| r.did == account.did)
            {
                r.head = repo.commit.to_string();
                r.rev = repo.rev.clone();
            }
        }
        Change::Account { status } => {
            if let Some(a) = find_pds_account(states, account.pds, &account.did) {
                a.status = *status;
            }
            if let Some(r) = states
                .relay
                .accounts
                .iter_mut()
                .find(|r| r.did == account.did)
            {
                r.active = status.is_active();
                r.status = status.as_status().map(str::to_owned);
            }
        }
        Change::Identity { handle } => {
            let old = find_pds_account(states, account.pds, &account.did)
                .and_then(|a| a.handle.replace(handle.clone()));
            network.publish_identity(states, endpoints, account, handle, old.as_deref());
        }
        Change::Labels { .. } => {}
    }
    Ok(())
}

fn find_pds_account<'a>(
    states: &'a mut MockStates,
    pds: usize,
    did: &str,
) -> Option<&'a mut PdsAccount> {
    states
        .pds
        .get_mut(pds)?
        .accounts
        .iter_mut()
        .find(|a| a.did == did)
}
