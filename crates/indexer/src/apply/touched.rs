//! What a batch touched beyond its own rows, gathered while it is written and settled once at
//! the end: aggregate deltas, DIDs that need an `actor` row, commits for `actor_sync`.

use std::collections::BTreeMap;

/// A counted column of `post_agg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostCount {
    /// `likeCount`: `like` rows with this subject.
    Like = 0,
    /// `replyCount`: `post` rows with this `replyParent`.
    Reply = 1,
    /// `repostCount`: `repost` rows with this subject.
    Repost = 2,
    /// `quoteCount`: `quote` rows with this subject.
    Quote = 3,
}

/// A counted column of `profile_agg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProfileCount {
    /// `followersCount`: `follow` rows with this `subjectDid`.
    Followers = 0,
    /// `followsCount`: `follow` rows by this creator.
    Follows = 1,
    /// `postsCount`: `post` rows by this creator.
    Posts = 2,
}

/// Keys and DIDs seen by a batch.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// Net change of each `post_agg` key's counts (indexed by [`PostCount`]), from the counted
    /// rows that really went in or out.
    pub post_aggs: BTreeMap<String, [i64; 4]>,
    /// Net change of each `profile_agg` key's counts (indexed by [`ProfileCount`]).
    pub profile_aggs: BTreeMap<String, [i64; 3]>,
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

    /// Counts `delta` counted rows for post `uri`, if present.
    pub fn post(&mut self, uri: Option<&str>, count: PostCount, delta: i64) {
        if let Some(uri) = uri {
            add(&mut self.post_aggs, uri, count as usize, delta);
        }
    }

    /// Counts `delta` counted rows for profile `did`.
    pub fn profile(&mut self, did: &str, count: ProfileCount, delta: i64) {
        add(&mut self.profile_aggs, did, count as usize, delta);
    }
}

/// Adds `delta` to count `i` of `key` (all counts start at zero).
fn add<const N: usize>(counts: &mut BTreeMap<String, [i64; N]>, key: &str, i: usize, delta: i64) {
    // Most keys repeat within a batch: look up before allocating the owned key.
    if !counts.contains_key(key) {
        counts.insert(key.to_owned(), [0; N]);
    }
    if let Some(c) = counts.get_mut(key).and_then(|c| c.get_mut(i)) {
        *c += delta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_keep_the_newest_rev_actors_the_first_time_and_deltas_add_up() {
        let mut t = Touched::default();
        t.commit("did:a", "3b", "c2");
        t.commit("did:a", "3a", "c1");
        t.commit("did:a", "3c", "c3");
        assert_eq!(
            t.syncs.get("did:a"),
            Some(&("3c".to_owned(), "c3".to_owned()))
        );
        t.post(Some("at://p"), PostCount::Like, 1);
        t.post(Some("at://p"), PostCount::Like, -1);
        t.post(Some("at://p"), PostCount::Quote, 1);
        t.post(None, PostCount::Reply, 1);
        t.profile("did:a", ProfileCount::Posts, 1);
        assert_eq!(t.post_aggs.get("at://p"), Some(&[0, 0, 0, 1]));
        assert_eq!(t.post_aggs.len(), 1);
        assert_eq!(t.profile_aggs.get("did:a"), Some(&[0, 0, 1]));
        t.actor("did:a", "t1");
        t.actor("did:a", "t2");
        assert_eq!(t.actors.get("did:a").map(String::as_str), Some("t1"));
    }
}
