//! [`RepoPlan`]: which slot of a repository holds which kind of record.
//!
//! A repository of `n` records has slots `0..n`, written oldest first. The first few slots hold the
//! "structural" records an account makes once (profile, its anchor posts, a list, a feed
//! generator, …); every later slot is [`Slot::Mixed`], whose collection is drawn from the
//! network-wide mix (likes most, then posts, follows, reposts). A slot's content is a function of
//! `(seed, account, slot)`, so any one record can be regenerated alone.

use rand::Rng;

/// The most anchor posts an account has (other accounts' likes, replies and quotes point at them).
const MAX_ANCHORS: u32 = 8;

/// What one slot of a repository holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `app.bsky.actor.profile/self`.
    Profile,
    /// `chat.bsky.actor.declaration/self`.
    Declaration,
    /// `app.bsky.labeler.service/self` (labelers only).
    LabelerService,
    /// The account's anchor post number `j`: plain posts, odd ones replying to anchor 0.
    Anchor(u32),
    /// An `app.bsky.graph.list`.
    List,
    /// An `app.bsky.feed.generator`.
    Generator,
    /// An `app.bsky.graph.starterpack` over the account's list.
    StarterPack,
    /// An `app.bsky.feed.threadgate` on anchor 0 (same rkey).
    Threadgate,
    /// An `app.bsky.feed.postgate` on anchor 0 (same rkey).
    Postgate,
    /// An `app.bsky.graph.listblock` of another account's list.
    ListBlock,
    /// A record drawn from the network-wide mix of collections.
    Mixed,
}

/// The layout of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPlan {
    /// How many records the repository holds before the script.
    pub records: u32,
    /// How many anchor posts it holds.
    pub anchors: u32,
    /// The structural slots, in slot order; the rest are [`Slot::Mixed`].
    structural: Vec<Slot>,
}

impl RepoPlan {
    /// Draws the structural part of a repository of `records` records.
    pub(crate) fn sample(rng: &mut impl Rng, records: u32, labeler: bool) -> RepoPlan {
        let mut slots = Vec::new();
        if labeler || rng.gen_bool(0.95) {
            slots.push(Slot::Profile);
        }
        if rng.gen_bool(0.4) {
            slots.push(Slot::Declaration);
        }
        if labeler {
            slots.push(Slot::LabelerService);
        }
        let anchors = (records / 25).clamp(1, MAX_ANCHORS);
        slots.extend((0..anchors).map(Slot::Anchor));
        let list = records >= 30 && rng.gen_bool(0.3);
        if list {
            slots.push(Slot::List);
        }
        if records >= 40 && rng.gen_bool(0.05) {
            slots.push(Slot::Generator);
        }
        if list && rng.gen_bool(0.3) {
            slots.push(Slot::StarterPack);
        }
        if rng.gen_bool(0.1) {
            slots.push(Slot::Threadgate);
        }
        if rng.gen_bool(0.05) {
            slots.push(Slot::Postgate);
        }
        if records >= 20 && rng.gen_bool(0.05) {
            slots.push(Slot::ListBlock);
        }
        // A small repository keeps only the first of these; gates and packs come after what they
        // point at, so truncation never leaves one dangling.
        slots.truncate(records as usize);
        let anchors = slots
            .iter()
            .filter(|s| matches!(s, Slot::Anchor(_)))
            .count() as u32;
        RepoPlan {
            records,
            anchors,
            structural: slots,
        }
    }

    /// What slot `s` holds.
    pub fn slot(&self, s: u32) -> Slot {
        self.structural
            .get(s as usize)
            .copied()
            .unwrap_or(Slot::Mixed)
    }

    /// The slot of anchor post `j`.
    pub fn anchor_slot(&self, j: u32) -> Option<u32> {
        self.find(Slot::Anchor(j))
    }

    /// The slot of the account's list, if it has one.
    pub fn list_slot(&self) -> Option<u32> {
        self.find(Slot::List)
    }

    /// The slot of the account's feed generator, if it has one.
    pub fn generator_slot(&self) -> Option<u32> {
        self.find(Slot::Generator)
    }

    fn find(&self, slot: Slot) -> Option<u32> {
        self.structural
            .iter()
            .position(|s| *s == slot)
            .map(|p| p as u32)
    }
}
