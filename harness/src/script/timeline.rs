//! [`Script`] and its generator: the network played forward, one event at a time.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use protocol::frames::{AccountFrame, CommitFrame, Frame, IdentityFrame, LabelsFrame, SyncFrame};
use protocol::syntax::{Datetime, Did, Handle, Tid, format_millis_z};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::labels::{LabelDraft, LabelKey, sign_label};
use super::live_repo::{LiveRepo, PlannedOp};
use super::{Change, EventSource, OpTruth, ScriptError, ScriptEvent, ScriptSpec};
use crate::network::model::encode;
use crate::network::records::{edited, mixed};
use crate::network::seeds::{Purpose, stream};
use crate::network::{Account, AccountStatus, Network};

/// Label values labelers hand out.
const LABEL_VALUES: &[&str] = &["spam", "rude", "porn", "graphic-media", "!warn", "!hide"];

/// Collections whose records the script edits in updates.
const EDITABLE: &[&str] = &[
    "app.bsky.feed.post",
    "app.bsky.actor.profile",
    "app.bsky.graph.list",
    "app.bsky.feed.generator",
    "app.bsky.graph.starterpack",
    "xyz.statusphere.status",
];

/// A generated live script.
#[derive(Debug, Clone)]
pub struct Script {
    spec: ScriptSpec,
    events: Vec<ScriptEvent>,
}

impl Script {
    /// Plays `network` forward for `spec.events` events.
    pub fn generate(network: &Network, spec: ScriptSpec) -> Result<Script, ScriptError> {
        spec.validate()?;
        let mut player = Player::new(network, &spec);
        let mut events = Vec::with_capacity(spec.events);
        while events.len() < spec.events {
            if let Some(event) = player.next_event()? {
                events.push(event);
            }
        }
        Ok(Script { spec, events })
    }

    /// The spec it was generated from.
    pub fn spec(&self) -> &ScriptSpec {
        &self.spec
    }

    /// Every event in timeline order.
    pub fn events(&self) -> &[ScriptEvent] {
        &self.events
    }

    /// The relay's events, in seq order.
    pub fn relay_events(&self) -> impl Iterator<Item = &ScriptEvent> {
        self.events
            .iter()
            .filter(|e| e.source == EventSource::Relay)
    }

    /// One labeler's events, in seq order.
    pub fn labeler_events<'a>(&'a self, did: &'a str) -> impl Iterator<Item = &'a ScriptEvent> {
        self.events
            .iter()
            .filter(move |e| matches!(&e.source, EventSource::Labeler { did: d, .. } if d == did))
    }
}

/// The state of the world while the script is generated.
struct Player<'a> {
    net: &'a Network,
    spec: &'a ScriptSpec,
    rng: ChaCha8Rng,
    statuses: Vec<AccountStatus>,
    handles: Vec<String>,
    handle_changes: Vec<u32>,
    live: HashMap<usize, LiveRepo>,
    /// Accounts small enough to receive commits.
    writable: Vec<usize>,
    relay_seq: i64,
    labeler_seqs: HashMap<usize, i64>,
    labels: BTreeSet<LabelKey>,
    time_ms: i64,
}

impl<'a> Player<'a> {
    fn new(net: &'a Network, spec: &'a ScriptSpec) -> Self {
        let accounts = net.accounts();
        Player {
            net,
            spec,
            rng: stream(net.spec().seed, Purpose::Script, spec.seed),
            statuses: accounts.iter().map(|a| a.status).collect(),
            handles: accounts.iter().map(|a| a.handle.clone()).collect(),
            handle_changes: vec![0; accounts.len()],
            live: HashMap::new(),
            writable: accounts
                .iter()
                .filter(|a| a.plan.records <= spec.max_repo_records)
                .map(|a| a.index)
                .collect(),
            relay_seq: spec.first_seq - 1,
            labeler_seqs: HashMap::new(),
            labels: BTreeSet::new(),
            // The script starts a second after the generated history ends.
            time_ms: net.spec().base_time_ms + 1_000,
        }
    }

    /// The next event, or `None` when the drawn kind has nothing to act on.
    fn next_event(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        self.time_ms += self.rng.gen_range(1..=(2 * self.spec.step_ms).max(1)) as i64;
        let w = self.spec.weights;
        let total = w.commit + w.identity + w.account + w.sync + w.labels;
        let mut roll = self.rng.gen_range(0..total);
        let mut kinds = [
            (w.commit, 0u8),
            (w.identity, 1),
            (w.account, 2),
            (w.sync, 3),
            (w.labels, 4),
        ]
        .into_iter();
        let kind = loop {
            match kinds.next() {
                Some((weight, kind)) if roll < weight => break kind,
                Some((weight, _)) => roll -= weight,
                None => break 0,
            }
        };
        match kind {
            0 => self.commit(),
            1 => self.identity(),
            2 => self.account_change(),
            3 => self.sync(),
            _ => self.labels(),
        }
    }

    fn time(&self) -> String {
        format_millis_z(UNIX_EPOCH + Duration::from_millis(self.time_ms.max(0) as u64))
    }

    fn datetime(&self) -> Result<Datetime, ScriptError> {
        let time = self.time();
        time.parse()
            .map_err(|e| ScriptError::syntax("datetime", &time, e))
    }

    fn next_relay_seq(&mut self) -> i64 {
        self.relay_seq += self.rng.gen_range(1..=self.spec.max_seq_gap);
        self.relay_seq
    }

    /// A writable account that is active now.
    fn pick_writable(&mut self) -> Option<usize> {
        for _ in 0..32 {
            let index = *self
                .writable
                .get(self.rng.gen_range(0..self.writable.len().max(1)))?;
            if self.statuses.get(index).is_some_and(|s| s.is_active()) {
                return Some(index);
            }
        }
        None
    }

    fn live_repo(&mut self, account: &Account) -> Result<&mut LiveRepo, ScriptError> {
        if !self.live.contains_key(&account.index) {
            let repo = self.net.build_repo(account)?;
            self.live
                .insert(account.index, LiveRepo::new(&account.did, repo)?);
        }
        self.live
            .get_mut(&account.index)
            .ok_or(ScriptError::Spec("live repository vanished".into()))
    }

    /// Plans `count` ops on `account`'s repository: creates, and updates and deletes that favour
    /// records from before the script.
    fn plan_ops(
        &mut self,
        account: &Account,
        count: usize,
        deletes: bool,
    ) -> Result<Vec<PlannedOp>, ScriptError> {
        let net = self.net;
        let base_micros = (self.time_ms.max(0) as u64) * 1_000;
        let mut rng = self.rng.clone();
        let live = self.live_repo(account)?;
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut ops = Vec::with_capacity(count);
        for k in 0..count {
            let roll: f64 = rng.r#gen();
            let initial_first = rng.gen_bool(0.6);
            let mut keys = live.keys(initial_first);
            if keys.is_empty() {
                keys = live.keys(false);
            }
            keys.retain(|key| !touched.contains(*key));
            let target = if keys.is_empty() {
                None
            } else {
                keys.get(rng.gen_range(0..keys.len()))
                    .map(|k| (*k).to_owned())
            };
            let op = match target {
                Some(key) if deletes && roll < 0.25 => {
                    let (collection, rkey) = key.split_once('/').unwrap_or((&key, ""));
                    Some(PlannedOp::Delete {
                        collection: collection.to_owned(),
                        rkey: rkey.to_owned(),
                    })
                }
                Some(key) if roll < 0.45 => update_of(live, &key, &mut rng, &account.did)?,
                _ => None,
            };
            let op = match op {
                Some(op) => op,
                None => {
                    let ctx = net.context(account, base_micros + k as u64);
                    PlannedOp::Create(encode(&account.did, mixed(&ctx, &mut rng))?)
                }
            };
            let key = match &op {
                PlannedOp::Create(r) | PlannedOp::Update(r) => r.key(),
                PlannedOp::Delete { collection, rkey } => format!("{collection}/{rkey}"),
            };
            touched.insert(key);
            ops.push(op);
        }
        self.rng = rng;
        Ok(ops)
    }

    fn commit(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        let Some(index) = self.pick_writable() else {
            return Ok(None);
        };
        let net = self.net;
        let account = net.account(index)?;
        let count = match self.rng.gen_range(0..100) {
            0..80 => 1,
            80..95 => self.rng.gen_range(2..=5),
            _ => self.rng.gen_range(6..=12),
        };
        let ops = self.plan_ops(account, count, true)?;
        let rev = self.rev(account);
        let seq = self.next_relay_seq();
        let time = self.datetime()?;
        let live = self.live_repo(account)?;
        let since = live.rev().to_owned();
        let applied = live.apply(ops, &rev, &account.key)?;
        let repo = live.snapshot(&account.key)?;
        let frame = Frame::Commit(CommitFrame {
            seq,
            rebase: false,
            too_big: false,
            repo: did(&account.did)?,
            commit: applied.commit,
            rev: tid(&rev)?,
            since: Some(tid(&since)?),
            blocks: applied.blocks,
            ops: applied.repo_ops,
            blobs: Vec::new(),
            time: time.clone(),
            prev_data: Some(applied.prev_data),
        });
        Ok(Some(relay_event(
            seq,
            time,
            &account.did,
            &frame,
            Change::Commit {
                rev,
                ops: applied.truth,
                repo,
            },
        )?))
    }

    fn sync(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        let Some(index) = self.pick_writable() else {
            return Ok(None);
        };
        let net = self.net;
        let account = net.account(index)?;
        let count = self.rng.gen_range(1..=4);
        // A reset adds and rewrites records but removes none: a re-backfill cannot see removals.
        let ops = self.plan_ops(account, count, false)?;
        let rev = self.rev(account);
        let seq = self.next_relay_seq();
        let time = self.datetime()?;
        let live = self.live_repo(account)?;
        let applied = live.apply(ops, &rev, &account.key)?;
        let repo = live.snapshot(&account.key)?;
        let frame = Frame::Sync(SyncFrame {
            seq,
            did: did(&account.did)?,
            blocks: applied.commit_only,
            rev: tid(&rev)?,
            time: time.clone(),
        });
        let ops: Vec<OpTruth> = applied.truth;
        Ok(Some(relay_event(
            seq,
            time,
            &account.did,
            &frame,
            Change::Sync { rev, ops, repo },
        )?))
    }

    fn identity(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        let net = self.net;
        let index = self.rng.gen_range(0..net.accounts().len().max(1));
        let Some(account) = net.accounts().get(index) else {
            return Ok(None);
        };
        if self.statuses.get(index) == Some(&AccountStatus::Deleted) {
            return Ok(None);
        }
        if self.rng.gen_bool(0.6) {
            let n = self.handle_changes.get(index).copied().unwrap_or(0) + 1;
            if let Some(c) = self.handle_changes.get_mut(index) {
                *c = n;
            }
            let first = account.handle.split('.').next().unwrap_or("user");
            let rest = account.handle.split_once('.').map_or("test", |(_, r)| r);
            if let Some(h) = self.handles.get_mut(index) {
                *h = format!("{first}-h{n}.{rest}");
            }
        }
        let handle = self.handles.get(index).cloned().unwrap_or_default();
        let seq = self.next_relay_seq();
        let time = self.datetime()?;
        let frame = Frame::Identity(IdentityFrame {
            seq,
            did: did(&account.did)?,
            time: time.clone(),
            handle: Some(
                handle
                    .parse::<Handle>()
                    .map_err(|e| ScriptError::syntax("handle", &handle, e))?,
            ),
        });
        Ok(Some(relay_event(
            seq,
            time,
            &account.did,
            &frame,
            Change::Identity { handle },
        )?))
    }

    fn account_change(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        let net = self.net;
        let index = self.rng.gen_range(0..net.accounts().len().max(1));
        let Some(account) = net.accounts().get(index) else {
            return Ok(None);
        };
        let Some(current) = self.statuses.get(index).copied() else {
            return Ok(None);
        };
        if account.labeler.is_some() || current == AccountStatus::Deleted {
            return Ok(None);
        }
        let roll: f64 = self.rng.r#gen();
        let next = match current {
            AccountStatus::Active if roll < 0.45 => AccountStatus::Deactivated,
            AccountStatus::Active if roll < 0.8 => AccountStatus::Takendown,
            AccountStatus::Active => AccountStatus::Deleted,
            AccountStatus::Deactivated | AccountStatus::Takendown if roll < 0.65 => {
                AccountStatus::Active
            }
            _ => AccountStatus::Deleted,
        };
        if let Some(s) = self.statuses.get_mut(index) {
            *s = next;
        }
        if next == AccountStatus::Deleted {
            self.live.remove(&index);
        }
        let seq = self.next_relay_seq();
        let time = self.datetime()?;
        let frame = Frame::Account(AccountFrame {
            seq,
            did: did(&account.did)?,
            time: time.clone(),
            active: next.is_active(),
            status: next.as_status().map(str::to_owned),
        });
        Ok(Some(relay_event(
            seq,
            time,
            &account.did,
            &frame,
            Change::Account { status: next },
        )?))
    }

    fn labels(&mut self) -> Result<Option<ScriptEvent>, ScriptError> {
        let net = self.net;
        let labelers: Vec<&Account> = net.labelers().collect();
        let Some(labeler) = labelers
            .get(self.rng.gen_range(0..labelers.len().max(1)))
            .copied()
        else {
            return Ok(None);
        };
        let Some(info) = &labeler.labeler else {
            return Ok(None);
        };
        let src = did(&labeler.did)?;
        let cts = self.time();
        let count = self.rng.gen_range(1..=3);
        let mut labels = Vec::with_capacity(count);
        let mut seen = BTreeSet::new();
        for _ in 0..count {
            let own: Vec<&LabelKey> = self
                .labels
                .iter()
                .filter(|k| k.src == labeler.did)
                .collect();
            let draft = if !own.is_empty() && self.rng.gen_bool(0.2) {
                let Some(key) = own.get(self.rng.gen_range(0..own.len())).copied() else {
                    continue;
                };
                LabelDraft {
                    src: src.clone(),
                    uri: key.uri.clone(),
                    cid: (!key.cid.is_empty()).then(|| key.cid.clone()),
                    val: key.val.clone(),
                    neg: true,
                    cts: cts.clone(),
                    exp: None,
                }
            } else {
                let val = LABEL_VALUES[self.rng.gen_range(0..LABEL_VALUES.len())].to_owned();
                let record = if self.rng.gen_bool(0.6) {
                    net.random_anchor(&mut self.rng).cloned()
                } else {
                    None
                };
                let (uri, cid) = match record {
                    Some(r) => (r.uri, Some(r.cid.to_string())),
                    None => {
                        let accounts = net.accounts();
                        let pick = self.rng.gen_range(0..accounts.len().max(1));
                        let did = accounts
                            .get(pick)
                            .map_or_else(String::new, |a| a.did.clone());
                        (did, None)
                    }
                };
                let exp = self.rng.gen_bool(0.1).then(|| {
                    let ms = self.time_ms.max(0) as u64 + 30 * 86_400_000;
                    format_millis_z(UNIX_EPOCH + Duration::from_millis(ms))
                });
                LabelDraft {
                    src: src.clone(),
                    uri,
                    cid,
                    val,
                    neg: false,
                    cts: cts.clone(),
                    exp,
                }
            };
            let label = sign_label(draft, &info.key)?;
            let key = LabelKey::of(&label);
            // One frame never both sets and negates the same row: the outcome would hinge on
            // the order a consumer applies a frame's labels in.
            if !seen.insert(key.clone()) {
                continue;
            }
            if label.neg == Some(true) {
                self.labels.remove(&key);
            } else {
                self.labels.insert(key);
            }
            labels.push(label);
        }
        if labels.is_empty() {
            return Ok(None);
        }
        let seq_slot = self.labeler_seqs.entry(labeler.index).or_insert(0);
        *seq_slot += 1;
        let seq = *seq_slot;
        let frame = Frame::Labels(LabelsFrame {
            seq,
            labels: labels.clone(),
        });
        let bytes = frame.encode().map_err(|source| ScriptError::Frame {
            seq,
            source: Box::new(source),
        })?;
        Ok(Some(ScriptEvent {
            source: EventSource::Labeler {
                did: labeler.did.clone(),
                host: info.host.clone(),
            },
            seq,
            time: cts,
            did: labeler.did.clone(),
            frame: Bytes::from(bytes),
            change: Change::Labels { labels },
        }))
    }

    /// A rev for a commit made now by `account`: after every record key written in it.
    fn rev(&self, account: &Account) -> String {
        let micros = (self.time_ms.max(0) as u64) * 1_000 + 999;
        Tid::new(micros, account.clock_id).into_string()
    }
}

/// An update of the record at `key`, if its collection is one the script edits.
fn update_of(
    live: &LiveRepo,
    key: &str,
    rng: &mut ChaCha8Rng,
    did: &str,
) -> Result<Option<PlannedOp>, ScriptError> {
    let Some(old) = live.get(key) else {
        return Ok(None);
    };
    if !EDITABLE.contains(&old.collection.as_str()) {
        return Ok(None);
    }
    let Ok(json) = protocol::data_model::cbor_to_json(&old.bytes) else {
        return Ok(None);
    };
    let Some(value) = edited(&json, rng) else {
        return Ok(None);
    };
    let draft = crate::network::records::RecordDraft {
        collection: old.collection.clone(),
        rkey: old.rkey.clone(),
        value,
    };
    let record = encode(did, draft)?;
    if record.cid == old.cid {
        return Ok(None);
    }
    Ok(Some(PlannedOp::Update(record)))
}

fn relay_event(
    seq: i64,
    time: Datetime,
    did: &str,
    frame: &Frame,
    change: Change,
) -> Result<ScriptEvent, ScriptError> {
    let bytes = frame.encode().map_err(|source| ScriptError::Frame {
        seq,
        source: Box::new(source),
    })?;
    Ok(ScriptEvent {
        source: EventSource::Relay,
        seq,
        time: time.into_string(),
        did: did.to_owned(),
        frame: Bytes::from(bytes),
        change,
    })
}

fn did(value: &str) -> Result<Did, ScriptError> {
    value
        .parse()
        .map_err(|e| ScriptError::syntax("DID", value, e))
}

fn tid(value: &str) -> Result<Tid, ScriptError> {
    value
        .parse()
        .map_err(|e| ScriptError::syntax("TID", value, e))
}
