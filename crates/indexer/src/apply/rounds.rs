//! Splits a batch into rounds that can each be written with one bulk statement per table.
//!
//! Bulk statements apply a round's rows all at once, so a round must not hold two changes whose
//! order matters: two writes of the same record path, or a DID's account, identity or commit
//! marker event together with anything else of that DID. Walking the batch in order and starting
//! a new round at the first conflict keeps every DID's events in stream order. A consumer that
//! partitions by DID hands over at most one event per DID per batch: one round.

use std::collections::HashSet;

use streams::payloads::StreamEvent;

use super::Change;

/// What one change occupies in a round.
enum Claim<'a> {
    /// A record write or delete: its path (`did`, `collection/rkey`).
    Path(&'a str, String),
    /// Any other event of a DID: the whole DID.
    Did(&'a str),
    /// Labels: nothing a repo event touches; they are collapsed per label key when written.
    Labels,
}

fn claim(change: &Change) -> Claim<'_> {
    match change {
        Change::Event(StreamEvent::Create(w) | StreamEvent::Update(w)) => {
            Claim::Path(&w.did, format!("{}/{}", w.collection, w.rkey))
        }
        Change::Event(StreamEvent::Delete(d)) => {
            Claim::Path(&d.did, format!("{}/{}", d.collection, d.rkey))
        }
        Change::Event(other) => Claim::Did(other.did()),
        Change::Handle(h) => Claim::Did(&h.did),
        Change::Labels(_) => Claim::Labels,
    }
}

/// The indexes of `changes` (those for which `include` holds), grouped into rounds in order.
pub(crate) fn rounds(changes: &[Change], include: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
    let mut rounds = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut paths: HashSet<(&str, String)> = HashSet::new();
    let mut dids_with_paths: HashSet<&str> = HashSet::new();
    let mut whole_dids: HashSet<&str> = HashSet::new();
    for (i, change) in changes.iter().enumerate().filter(|(i, _)| include(*i)) {
        let claim = claim(change);
        let conflicts = match &claim {
            Claim::Path(did, path) => {
                whole_dids.contains(did) || paths.contains(&(*did, path.clone()))
            }
            Claim::Did(did) => whole_dids.contains(did) || dids_with_paths.contains(did),
            Claim::Labels => false,
        };
        if conflicts {
            rounds.push(std::mem::take(&mut current));
            paths.clear();
            dids_with_paths.clear();
            whole_dids.clear();
        }
        match claim {
            Claim::Path(did, path) => {
                dids_with_paths.insert(did);
                paths.insert((did, path));
            }
            Claim::Did(did) => {
                whole_dids.insert(did);
            }
            Claim::Labels => {}
        }
        current.push(i);
    }
    if !current.is_empty() {
        rounds.push(current);
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams::payloads::{AccountEvent, RecordDelete};

    fn delete(did: &str, rkey: &str) -> Change {
        Change::Event(StreamEvent::Delete(RecordDelete {
            seq: 1,
            time: String::new(),
            did: did.into(),
            commit: String::new(),
            rev: String::new(),
            collection: "app.bsky.feed.like".into(),
            rkey: rkey.into(),
        }))
    }

    fn account(did: &str) -> Change {
        Change::Event(StreamEvent::Account(AccountEvent {
            seq: 1,
            time: String::new(),
            did: did.into(),
            active: true,
            status: None,
        }))
    }

    #[test]
    fn distinct_paths_share_a_round() {
        let changes = [delete("a", "1"), delete("a", "2"), delete("b", "1")];
        assert_eq!(rounds(&changes, |_| true), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn same_path_or_did_event_starts_a_new_round() {
        let changes = [
            delete("a", "1"),
            delete("b", "1"),
            delete("a", "1"),
            account("b"),
            delete("c", "1"),
            account("c"),
            account("d"),
        ];
        assert_eq!(
            rounds(&changes, |_| true),
            vec![vec![0, 1], vec![2, 3, 4], vec![5, 6]]
        );
    }

    #[test]
    fn excluded_changes_are_left_out() {
        let changes = [delete("a", "1"), delete("a", "1")];
        assert_eq!(rounds(&changes, |i| i == 1), vec![vec![1]]);
    }
}
