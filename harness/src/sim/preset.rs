//! The `default` fault preset: a few faults of each kind on every layer, aimed at accounts the
//! live script leaves alone so that the oracle knows exactly which repositories must end in the
//! dead-letter stream, and why.
//!
//! | layer | faults | expected outcome |
//! |---|---|---|
//! | relay | two 500s on a `listRepos` page; the firehose dropped once | retried, nothing lost |
//! | PDS | 429 bursts, 503s, a connection reset, a response slower than the client's timeout, a trickled body, a truncated CAR | retried, nothing lost |
//! | PDS | a corrupt CAR, a bad signature, a commit of another DID (every time) | that repo dead-lettered |
//! | PLC | transient 500s | retried |
//! | labelers | each label stream dropped once | resumed from its cursor |
//!
//! Taken-down, deactivated and deleted accounts come from the network itself (and from the
//! script's `#account` events); the oracle handles those.

use std::collections::HashSet;

use crate::faults::{Fault, FaultPlan, FaultRule, Matcher, RepoDefect};
use crate::network::{Account, Network};
use crate::oracle::RepoBreak;
use crate::script::Script;

use super::spec::FaultPreset;

/// `listRepos` page size the pipeline is run with, so the preset can aim at the second page.
pub const LIST_REPOS_LIMIT: usize = 500;

/// The `getRepo` read timeout (seconds) the pipeline is run with; the slow-response fault waits
/// longer than this.
pub const HTTP_TIMEOUT_SECS: u64 = 3;

/// The DID a wrong-DID repository's commit names (no account of a generated network has it).
const OTHER_DID: &str = "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz";

const GET_REPO: &str = "com.atproto.sync.getRepo";
const LIST_REPOS: &str = "com.atproto.sync.listRepos";

/// Every server's fault plan, and the repositories broken for good.
#[derive(Debug, Clone, Default)]
pub struct SimFaults {
    /// The relay's plan.
    pub relay: FaultPlan,
    /// Each PDS's plan, indexed like [`Network::pds_hosts`].
    pub pds: Vec<FaultPlan>,
    /// The PLC directory's plan.
    pub plc: FaultPlan,
    /// Every labeler's plan.
    pub labeler: FaultPlan,
    /// Repositories whose backfill must be dead-lettered, with the reason.
    pub breaks: Vec<RepoBreak>,
}

impl SimFaults {
    /// The plans of `preset` for `network` under `script`.
    pub fn build(preset: FaultPreset, network: &Network, script: &Script) -> SimFaults {
        let mut faults = SimFaults {
            pds: vec![FaultPlan::none(); network.pds_hosts().len()],
            ..SimFaults::default()
        };
        if preset == FaultPreset::None {
            return faults;
        }
        let touched: HashSet<&str> = script.events().iter().map(|e| e.did.as_str()).collect();
        // Active, non-empty repositories no live event touches: their fate is the fault's alone.
        let mut victims = network.accounts().iter().filter(|a| {
            a.status.is_active()
                && a.labeler.is_none()
                && a.plan.records > 0
                && !touched.contains(a.did.as_str())
        });
        let mut broken = |faults: &mut SimFaults, defect: RepoDefect, reason: &str| {
            if let Some(victim) = victims.next() {
                faults.pds_rule(
                    victim,
                    FaultRule::always(on_repo(victim), broken_repo(defect)),
                );
                faults.breaks.push(RepoBreak {
                    did: victim.did.clone(),
                    reason: reason.to_owned(),
                });
            }
        };
        broken(&mut faults, RepoDefect::BadSignature, "bad signature");
        let other = OTHER_DID.to_owned();
        broken(
            &mut faults,
            RepoDefect::OtherDid { did: other },
            "wrong DID",
        );
        broken(&mut faults, RepoDefect::BadBlockHash, "corrupt CAR");
        let transient = [
            Fault::Truncate { at_byte: 200 },
            Fault::Trickle {
                chunk_bytes: 2048,
                interval_ms: 2,
            },
            Fault::Delay {
                ms: (HTTP_TIMEOUT_SECS + 3) * 1000,
            },
            Fault::Reset,
        ];
        for fault in transient {
            if let Some(victim) = victims.next() {
                faults.pds_rule(victim, FaultRule::first(1, on_repo(victim), fault));
            }
        }
        for (index, plan) in faults.pds.iter_mut().enumerate() {
            let get_repo = Matcher {
                endpoint: Some(GET_REPO.into()),
                ..Matcher::default()
            };
            let fault = match index % 2 {
                0 => Fault::RateLimited {
                    retry_after_secs: 1,
                },
                _ => Fault::Status { status: 503 },
            };
            plan.rules.push(FaultRule::first(3, get_repo, fault));
        }
        let second_page =
            (network.accounts().len() > LIST_REPOS_LIMIT).then(|| LIST_REPOS_LIMIT.to_string());
        faults.relay.rules.push(FaultRule::first(
            2,
            Matcher {
                endpoint: Some(LIST_REPOS.into()),
                cursor: second_page,
                ..Matcher::default()
            },
            Fault::Status { status: 500 },
        ));
        faults.relay.rules.push(FaultRule::first(
            1,
            Matcher {
                endpoint: Some("com.atproto.sync.subscribeRepos".into()),
                frame: Some(5),
                ..Matcher::default()
            },
            Fault::DropStream,
        ));
        faults.plc.rules.push(FaultRule::first(
            3,
            Matcher::default(),
            Fault::Status { status: 500 },
        ));
        faults.labeler.rules.push(FaultRule::first(
            1,
            Matcher {
                endpoint: Some("com.atproto.label.subscribeLabels".into()),
                frame: Some(2),
                ..Matcher::default()
            },
            Fault::DropStream,
        ));
        faults
    }

    fn pds_rule(&mut self, account: &Account, rule: FaultRule) {
        if let Some(plan) = self.pds.get_mut(account.pds) {
            plan.rules.push(rule);
        }
    }
}

fn on_repo(account: &Account) -> Matcher {
    Matcher {
        endpoint: Some(GET_REPO.into()),
        did: Some(account.did.clone()),
        ..Matcher::default()
    }
}

fn broken_repo(defect: RepoDefect) -> Fault {
    Fault::BrokenRepo { defect }
}
