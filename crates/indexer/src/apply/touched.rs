//! What a batch touched beyond its own rows, gathered while it is written and settled once at
//! the end: aggregate keys to recount, DIDs that need an `actor` row, commits for `actor_sync`.

use std::collections::{BTreeMap, BTreeSet};

/// Keys and DIDs seen by a batch.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// `post_agg` keys (post URIs) whose counted rows may have changed.
    pub post_aggs: BTreeSet<String>,
    /// `profile_agg` keys (DIDs) whose counted rows may have changed.
    pub profile_aggs: BTreeSet<String>,
    /// DIDs seen, with the `indexedAt` of the first sighting.
    pub actors: BTreeMap<String, String>,
    /// Newest commit seen per DID (live commits and finished backfills): `(rev, commit)`.
    pub syncs: BTreeMap<String, (String, String)>,
}

impl Touched {
    /// Notes that `did` was seen at `time`.
    pub fn actor(&mut self, did: &str, time: &str) {
        if !self.actors.contains_key(did) {
            self.actors.insert(did.to_owned(), time.to_owned());
        }
    }

    /// Notes commit `commit` at `rev` of `did`, keeping the newest per DID.
    pub fn commit(&mut self, did: &str, rev: &str, commit: &str) {
        match self.syncs.get(did) {
            Some((seen, _)) if seen.as_str() >= rev => {}
            _ => {
                self.syncs
                    .insert(did.to_owned(), (rev.to_owned(), commit.to_owned()));
            }
        }
    }

    /// Notes a post aggregate key, if present.
    pub fn post(&mut self, uri: Option<&str>) {
        if let Some(uri) = uri {
            self.post_aggs.insert(uri.to_owned());
        }
    }

    /// Notes a profile aggregate key.
    pub fn profile(&mut self, did: &str) {
        self.profile_aggs.insert(did.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_keep_the_newest_rev_and_actors_the_first_time() {
        let mut t = Touched::default();
        t.commit("did:a", "3b", "c2");
        t.commit("did:a", "3a", "c1");
        t.commit("did:a", "3c", "c3");
        assert_eq!(
            t.syncs.get("did:a"),
            Some(&("3c".to_owned(), "c3".to_owned()))
        );
        t.actor("did:a", "t1");
        t.actor("did:a", "t2");
        assert_eq!(t.actors.get("did:a").map(String::as_str), Some("t1"));
    }
}
