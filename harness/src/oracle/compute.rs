//! [`Oracle`]: the generated state of every repository, replayed forward over a script prefix
//! into a [`Manifest`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use cid::Cid;
use protocol::frames::OpAction;
use serde::{Deserialize, Serialize};

use super::OracleError;
use super::manifest::{
    AbsentRecord, ActorExpectation, DeadLetterExpectation, LabelExpectation, MANIFEST_FORMAT,
    Manifest, RecordExpectation,
};
use crate::network::{AccountStatus, Network, NetworkError};
use crate::script::{Change, EventSource, LabelKey, Script};

/// The dead-letter stream of the backfill queue.
const BACKFILL_DLQ: &str = "repo_backfill_dlq";

/// A planned fault that breaks a repository for good: its backfill must be dead-lettered with a
/// reason containing `reason` (e.g. `bad signature`, `RepoNotFound`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBreak {
    /// The repository's DID.
    pub did: String,
    /// What the dead letter's reason must contain.
    pub reason: String,
}

/// One repository as generated: its head and records.
#[derive(Debug, Clone)]
struct InitialRepo {
    head: Cid,
    rev: String,
    records: Vec<(String, Cid)>,
}

/// How a record's current content can reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Only by backfilling the generated repository.
    Backfill,
    /// By a `#commit` on the firehose.
    Live,
    /// Only by the re-backfill a `#sync` triggers.
    Sync,
}

/// A record's current content and how it got there.
#[derive(Debug, Clone)]
struct Current {
    cid: Cid,
    rev: String,
    via: Via,
}

/// One account replayed forward.
#[derive(Debug)]
struct ActorState {
    handle: String,
    handle_from_event: bool,
    status: AccountStatus,
    status_from_event: bool,
    /// Whether the repository stayed servable through the whole prefix.
    always_active: bool,
    /// Whether it was servable at some point of the prefix.
    ever_active: bool,
    head: Cid,
    rev: String,
    head_from_event: bool,
    records: BTreeMap<String, Current>,
    deleted: BTreeMap<String, String>,
    /// Every key the repository ever held (for deleted accounts: everything must be gone).
    ever: Vec<String>,
}

/// The generated state of a network, ready to be replayed over any script prefix.
#[derive(Debug)]
pub struct Oracle<'a> {
    network: &'a Network,
    initial: Vec<InitialRepo>,
}

impl<'a> Oracle<'a> {
    /// Builds every repository of `network` (on all cores) and keeps its head and records.
    pub fn new(network: &'a Network) -> Result<Self, OracleError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots: Mutex<Vec<Option<InitialRepo>>> =
            Mutex::new(vec![None; network.accounts().len()]);
        network.for_each_repo(threads, |repo| -> Result<(), NetworkError> {
            let initial = InitialRepo {
                head: repo.commit_cid(),
                rev: repo.rev.clone(),
                records: repo.records.iter().map(|r| (r.key(), r.cid)).collect(),
            };
            if let Ok(mut slots) = slots.lock()
                && let Some(slot) = slots.get_mut(repo.account)
            {
                *slot = Some(initial);
            }
            Ok(())
        })?;
        let slots = slots
            .into_inner()
            .map_err(|_| NetworkError::WorkerPanicked)?;
        let initial = slots
            .into_iter()
            .enumerate()
            .map(|(i, slot)| slot.ok_or(NetworkError::NoAccount(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Oracle { network, initial })
    }

    /// The expectations after the first `applied` events of `script` (none without a script),
    /// with `breaks` planned.
    pub fn manifest(
        &self,
        script: Option<&Script>,
        applied: usize,
        breaks: &[RepoBreak],
    ) -> Result<Manifest, OracleError> {
        let events = script.map_or(&[][..], |s| s.events());
        let events = events.get(..applied).ok_or(OracleError::TooManyEvents {
            asked: applied,
            available: events.len(),
        })?;
        let mut actors = self.initial_states();
        let mut labels: BTreeMap<LabelKey, Option<String>> = BTreeMap::new();
        let mut relay_seq = None;
        let mut labeler_seqs = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            match &event.source {
                EventSource::Relay => relay_seq = Some(event.seq),
                EventSource::Labeler { did, .. } => {
                    labeler_seqs.insert(did.clone(), event.seq);
                }
            }
            if let Change::Labels { labels: batch } = &event.change {
                for label in batch {
                    let key = LabelKey::of(label);
                    if label.neg == Some(true) {
                        labels.remove(&key);
                    } else {
                        labels.insert(key, label.exp.clone());
                    }
                }
                continue;
            }
            let account =
                self.network
                    .account_by_did(&event.did)
                    .ok_or_else(|| OracleError::UnknownDid {
                        index,
                        did: event.did.clone(),
                    })?;
            let Some(actor) = actors.get_mut(account.index) else {
                continue;
            };
            apply(actor, &event.change);
        }
        let breaks: HashMap<&str, &str> = breaks
            .iter()
            .map(|b| (b.did.as_str(), b.reason.as_str()))
            .collect();
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            network_seed: self.network.spec().seed,
            script_seed: script.map(|s| s.spec().seed),
            events_applied: applied,
            relay_seq,
            labeler_seqs,
            actors: Vec::with_capacity(actors.len()),
            records: Vec::new(),
            absent: Vec::new(),
            labels: labels
                .into_iter()
                .map(|(key, exp)| LabelExpectation {
                    src: key.src,
                    uri: key.uri,
                    cid: key.cid,
                    val: key.val,
                    exp,
                })
                .collect(),
            dead_letters: Vec::new(),
        };
        for (account, actor) in self.network.accounts().iter().zip(&actors) {
            let broken = breaks.get(account.did.as_str()).copied();
            expect(&mut manifest, &account.did, actor, broken);
            manifest.actors.push(ActorExpectation {
                did: account.did.clone(),
                pds: self.network.pds_host_of(account).to_owned(),
                handle: actor.handle.clone(),
                handle_from_event: actor.handle_from_event,
                status: actor.status.as_status().map(str::to_owned),
                status_from_event: actor.status_from_event,
                head: (actor.status != AccountStatus::Deleted).then(|| actor.head.to_string()),
                rev: (actor.status != AccountStatus::Deleted).then(|| actor.rev.clone()),
                head_from_event: actor.head_from_event,
            });
        }
        manifest.actors.sort_by(|a, b| a.did.cmp(&b.did));
        manifest.records.sort_by(|a, b| a.uri.cmp(&b.uri));
        manifest.absent.sort_by(|a, b| a.uri.cmp(&b.uri));
        manifest.dead_letters.sort_by(|a, b| a.did.cmp(&b.did));
        Ok(manifest)
    }

    fn initial_states(&self) -> Vec<ActorState> {
        self.network
            .accounts()
            .iter()
            .zip(&self.initial)
            .map(|(account, repo)| ActorState {
                handle: account.handle.clone(),
                handle_from_event: false,
                status: account.status,
                status_from_event: false,
                always_active: account.status.is_active(),
                ever_active: account.status.is_active(),
                head: repo.head,
                rev: repo.rev.clone(),
                head_from_event: false,
                records: repo
                    .records
                    .iter()
                    .map(|(key, cid)| {
                        let current = Current {
                            cid: *cid,
                            rev: repo.rev.clone(),
                            via: Via::Backfill,
                        };
                        (key.clone(), current)
                    })
                    .collect(),
                deleted: BTreeMap::new(),
                ever: repo.records.iter().map(|(k, _)| k.clone()).collect(),
            })
            .collect()
    }
}

/// Replays one relay event on its account.
fn apply(actor: &mut ActorState, change: &Change) {
    match change {
        Change::Commit { rev, ops, repo } | Change::Sync { rev, ops, repo } => {
            let via = if matches!(change, Change::Commit { .. }) {
                Via::Live
            } else {
                Via::Sync
            };
            for op in ops {
                let key = op.key();
                match (op.action, op.cid) {
                    (OpAction::Delete, _) | (_, None) => {
                        actor.records.remove(&key);
                        actor.deleted.insert(key, rev.clone());
                    }
                    (_, Some(cid)) => {
                        actor.deleted.remove(&key);
                        if !actor.records.contains_key(&key) {
                            actor.ever.push(key.clone());
                        }
                        let rev = rev.clone();
                        actor.records.insert(key, Current { cid, rev, via });
                    }
                }
            }
            actor.head = repo.commit;
            actor.rev = rev.clone();
            actor.head_from_event = true;
        }
        Change::Identity { handle } => {
            actor.handle = handle.clone();
            actor.handle_from_event = true;
        }
        Change::Account { status } => {
            actor.status = *status;
            actor.status_from_event = true;
            actor.always_active &= status.is_active();
            actor.ever_active |= status.is_active();
        }
        Change::Labels { .. } => {}
    }
}

/// Adds one account's records, absences and dead letters to the manifest.
fn expect(manifest: &mut Manifest, did: &str, actor: &ActorState, broken: Option<&str>) {
    let uri = |key: &str| format!("at://{did}/{key}");
    if actor.status == AccountStatus::Deleted {
        // A deleted account leaves nothing behind, whatever reached the database before.
        for key in &actor.ever {
            manifest.absent.push(AbsentRecord {
                uri: uri(key),
                rev: actor.deleted.get(key).cloned(),
            });
        }
    } else {
        for (key, current) in &actor.records {
            // Content a backfill must bring: only if the repository could be fetched all along.
            let fetchable = broken.is_none() && actor.always_active;
            let possible = broken.is_none() && actor.ever_active;
            let required = match current.via {
                Via::Live => true,
                Via::Backfill | Via::Sync => fetchable,
            };
            if required || possible {
                manifest.records.push(RecordExpectation {
                    uri: uri(key),
                    cid: current.cid.to_string(),
                    rev: current.rev.clone(),
                    required,
                });
            } else {
                manifest.absent.push(AbsentRecord {
                    uri: uri(key),
                    rev: None,
                });
            }
        }
        for (key, rev) in &actor.deleted {
            manifest.absent.push(AbsentRecord {
                uri: uri(key),
                rev: Some(rev.clone()),
            });
        }
    }
    let dead_letter = |reason: &str, required: bool| DeadLetterExpectation {
        did: did.to_owned(),
        stream: BACKFILL_DLQ.to_owned(),
        reason: reason.to_owned(),
        required,
    };
    if let Some(reason) = broken {
        // Required only if nothing else (a status change) could have failed the fetch first.
        manifest
            .dead_letters
            .push(dead_letter(reason, actor.always_active));
    } else if let Some(error) = actor.status.get_repo_error() {
        manifest.dead_letters.push(dead_letter(error, false));
    } else if !actor.always_active {
        // Reactivated: a fetch while it was inactive may have been dead-lettered.
        manifest.dead_letters.push(dead_letter("Repo", false));
    }
}
