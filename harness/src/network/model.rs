//! [`Network`]: the generated accounts and hosts, and the on-demand construction of repositories.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use cid::Cid;
use protocol::crypto::{KeyKind, Keypair};
use protocol::data_model::{cid_for_cbor, json_to_cbor};
use protocol::repo::RepoBuilder;
use protocol::syntax::Tid;
use rand::Rng;
use serde_json::{Value, json};

use super::account::LabelerInfo;
use super::identity::{account_name, plc_did, web_host};
use super::records::{Context, RecordDraft, slot_record};
use super::seeds::{Purpose, record_index, stream};
use super::spec::RecordRange;
use super::{
    Account, AccountStatus, DidMethod, GeneratedRecord, GeneratedRepo, NetworkError, NetworkSpec,
    RepoPlan, did_document,
};

/// Microseconds in a day.
const DAY_MICROS: u64 = 86_400_000_000;

/// A strong reference to a record: `{uri, cid}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrongRef {
    /// The record's AT-URI.
    pub uri: String,
    /// The record's CID.
    pub cid: Cid,
}

impl StrongRef {
    /// `{"uri": …, "cid": …}` as records embed it.
    pub fn to_json(&self) -> Value {
        json!({"uri": self.uri, "cid": self.cid.to_string()})
    }
}

/// A generated network: hosts, accounts, and what their repositories hold.
#[derive(Debug)]
pub struct Network {
    spec: NetworkSpec,
    pds_hosts: Vec<String>,
    accounts: Vec<Account>,
    by_did: HashMap<String, usize>,
    /// Anchor posts per account.
    anchors: Vec<Vec<StrongRef>>,
    /// Every anchor as (account, j), for uniform picks.
    anchor_index: Vec<(usize, usize)>,
    /// Accounts that own a list.
    list_owners: Vec<usize>,
}

impl Network {
    /// Generates the accounts, identities, keys and repository plans of `spec`, and the anchor
    /// posts. Repositories themselves are built on demand.
    pub fn generate(spec: NetworkSpec) -> Result<Network, NetworkError> {
        spec.validate()?;
        let pds_hosts: Vec<String> = (1..=spec.pds_hosts)
            .map(|i| format!("pds{i}.test"))
            .collect();
        let total = spec.accounts + spec.labelers;
        let accounts = (0..total)
            .map(|index| make_account(&spec, &pds_hosts, index))
            .collect::<Result<Vec<_>, _>>()?;
        let by_did = accounts.iter().map(|a| (a.did.clone(), a.index)).collect();
        let list_owners = accounts
            .iter()
            .filter(|a| a.plan.list_slot().is_some())
            .map(|a| a.index)
            .collect();
        let mut network = Network {
            spec,
            pds_hosts,
            accounts,
            by_did,
            anchors: Vec::new(),
            anchor_index: Vec::new(),
            list_owners,
        };
        // Anchors point at nothing outside their own account, so the half-built network suffices.
        let mut anchors = Vec::with_capacity(network.accounts.len());
        for account in &network.accounts {
            let mut own: Vec<StrongRef> = Vec::new();
            for j in 0..account.plan.anchors {
                let Some(slot) = account.plan.anchor_slot(j) else {
                    continue;
                };
                let record = network.record(account, slot, own.first())?;
                own.push(StrongRef {
                    uri: record.uri(&account.did),
                    cid: record.cid,
                });
            }
            anchors.push(own);
        }
        network.anchor_index = anchors
            .iter()
            .enumerate()
            .flat_map(|(a, own)| (0..own.len()).map(move |j| (a, j)))
            .collect();
        network.anchors = anchors;
        Ok(network)
    }

    /// The spec this network was generated from.
    pub fn spec(&self) -> &NetworkSpec {
        &self.spec
    }

    /// The PDS host names (`pds1.test`, …), indexed by [`Account::pds`].
    pub fn pds_hosts(&self) -> &[String] {
        &self.pds_hosts
    }

    /// Every account, labelers last.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The account with index `index`.
    pub fn account(&self, index: usize) -> Result<&Account, NetworkError> {
        self.accounts
            .get(index)
            .ok_or(NetworkError::NoAccount(index))
    }

    /// The account with this DID.
    pub fn account_by_did(&self, did: &str) -> Option<&Account> {
        self.by_did.get(did).and_then(|i| self.accounts.get(*i))
    }

    /// The labeler accounts.
    pub fn labelers(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter().filter(|a| a.labeler.is_some())
    }

    /// The host of account `index`'s PDS.
    pub fn pds_host_of(&self, account: &Account) -> &str {
        self.pds_hosts
            .get(account.pds)
            .map_or("pds1.test", String::as_str)
    }

    /// Account `index`'s anchor posts (what other accounts like, repost, quote and reply to).
    pub fn anchors(&self, index: usize) -> &[StrongRef] {
        self.anchors.get(index).map_or(&[], Vec::as_slice)
    }

    /// The DID document of `account` with `handle`, its PDS at `pds_endpoint` and (labelers) its
    /// label service at `labeler_endpoint`.
    pub fn did_document_of(
        &self,
        account: &Account,
        handle: &str,
        pds_endpoint: &str,
        labeler_endpoint: &str,
    ) -> Value {
        let key = account.key.public_key();
        let label_key = account.labeler.as_ref().map(|l| l.key.public_key());
        did_document(
            &account.did,
            handle,
            &key,
            pds_endpoint,
            label_key.as_ref().map(|k| (k, labeler_endpoint)),
        )
    }

    /// The rev of account `index`'s repository before the script: after every record's TID.
    pub fn initial_rev(&self, account: &Account) -> String {
        let micros = self.slot_micros(account, account.plan.records);
        Tid::new(micros, account.clock_id).into_string()
    }

    /// The records of `account`'s repository before the script, oldest first.
    pub fn records(&self, account: &Account) -> Result<Vec<GeneratedRecord>, NetworkError> {
        let anchor0 = self.anchors(account.index).first();
        (0..account.plan.records)
            .map(|slot| self.record(account, slot, anchor0))
            .collect()
    }

    /// Builds and signs `account`'s repository as it is before the script.
    pub fn build_repo(&self, account: &Account) -> Result<GeneratedRepo, NetworkError> {
        let records = self.records(account)?;
        let rev = self.initial_rev(account);
        let mut builder = RepoBuilder::new(account.did.clone(), rev.clone());
        for record in &records {
            builder.add(&record.collection, &record.rkey, record.bytes.clone());
        }
        let built = builder
            .build(&account.key)
            .map_err(|source| NetworkError::Repo {
                did: account.did.clone(),
                source: Box::new(source),
            })?;
        Ok(GeneratedRepo::new(account.index, rev, built, records))
    }

    /// Builds every repository on `threads` threads and hands each to `f` (in no particular
    /// order). Stops at the first error, which it returns.
    pub fn for_each_repo<E, F>(&self, threads: usize, f: F) -> Result<(), E>
    where
        F: Fn(GeneratedRepo) -> Result<(), E> + Sync,
        E: From<NetworkError> + Send,
    {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let failure: Mutex<Option<E>> = Mutex::new(None);
        let work = || {
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(account) = self.accounts.get(index) else {
                    return;
                };
                let result = self.build_repo(account).map_err(E::from).and_then(&f);
                if let Err(error) = result {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(error);
                    }
                }
            }
        };
        let panicked = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().is_err())
                .fold(false, |a, b| a | b)
        });
        if panicked {
            return Err(E::from(NetworkError::WorkerPanicked));
        }
        match failure.into_inner() {
            Ok(Some(error)) => Err(error),
            Ok(None) => Ok(()),
            Err(_) => Err(E::from(NetworkError::WorkerPanicked)),
        }
    }

    /// The AT-URI of `account`'s list, if it has one.
    pub fn list_uri(&self, index: usize) -> Option<String> {
        let account = self.accounts.get(index)?;
        let slot = account.plan.list_slot()?;
        Some(format!(
            "at://{}/app.bsky.graph.list/{}",
            account.did,
            self.slot_tid(account, slot)
        ))
    }

    /// The AT-URI of `account`'s feed generator, if it has one.
    pub fn generator_uri(&self, index: usize) -> Option<String> {
        let account = self.accounts.get(index)?;
        let slot = account.plan.generator_slot()?;
        Some(format!(
            "at://{}/app.bsky.feed.generator/{}",
            account.did,
            self.slot_tid(account, slot)
        ))
    }

    /// A record-writing context for `account` at `micros`, for the script's new records.
    pub(crate) fn context<'a>(&'a self, account: &'a Account, micros: u64) -> Context<'a> {
        Context {
            net: self,
            account,
            micros,
            anchor0: self.anchors(account.index).first(),
        }
    }

    /// A uniformly chosen anchor post of any account.
    pub(crate) fn random_anchor(&self, rng: &mut impl Rng) -> Option<&StrongRef> {
        if self.anchor_index.is_empty() {
            return None;
        }
        let (a, j) = self
            .anchor_index
            .get(rng.gen_range(0..self.anchor_index.len()))?;
        self.anchors.get(*a)?.get(*j)
    }

    /// A `(root, parent)` pair to reply to: an anchor and its thread's root.
    pub(crate) fn random_thread(&self, rng: &mut impl Rng) -> Option<(StrongRef, StrongRef)> {
        let (a, j) = *self
            .anchor_index
            .get(rng.gen_range(0..self.anchor_index.len().max(1)))?;
        let own = self.anchors.get(a)?;
        let parent = own.get(j)?.clone();
        // Odd anchors reply to anchor 0, which is therefore their thread's root.
        let root = if j % 2 == 1 {
            own.first()?.clone()
        } else {
            parent.clone()
        };
        Some((root, parent))
    }

    /// A uniformly chosen list of any account.
    pub(crate) fn random_list_uri(&self, rng: &mut impl Rng) -> Option<String> {
        if self.list_owners.is_empty() {
            return None;
        }
        let owner = *self
            .list_owners
            .get(rng.gen_range(0..self.list_owners.len()))?;
        self.list_uri(owner)
    }

    /// When slot `slot` of `account` was written, Unix microseconds: evenly spread between the
    /// account's creation and the script's start, strictly increasing with the slot.
    pub(crate) fn slot_micros(&self, account: &Account, slot: u32) -> u64 {
        let created = (account.created_at_ms.max(0) as u64) * 1_000;
        let base = (self.spec.base_time_ms.max(0) as u64) * 1_000;
        let span = base.saturating_sub(created);
        let step = (span / (u64::from(account.plan.records) + 1)).max(1);
        created + step * (u64::from(slot) + 1)
    }

    fn slot_tid(&self, account: &Account, slot: u32) -> String {
        Tid::new(self.slot_micros(account, slot), account.clock_id).into_string()
    }

    /// Generates and encodes slot `slot` of `account`.
    fn record(
        &self,
        account: &Account,
        slot: u32,
        anchor0: Option<&StrongRef>,
    ) -> Result<GeneratedRecord, NetworkError> {
        let mut rng = stream(
            self.spec.seed,
            Purpose::Record,
            record_index(account.index, u64::from(slot)),
        );
        let ctx = Context {
            net: self,
            account,
            micros: self.slot_micros(account, slot),
            anchor0,
        };
        let draft = slot_record(&ctx, account.plan.slot(slot), &mut rng);
        encode(&account.did, draft)
    }
}

/// Encodes a draft as DAG-CBOR and computes its CID.
pub(crate) fn encode(did: &str, draft: RecordDraft) -> Result<GeneratedRecord, NetworkError> {
    let bytes = json_to_cbor(&draft.value).map_err(|source| NetworkError::Record {
        uri: format!("at://{did}/{}/{}", draft.collection, draft.rkey),
        source: Box::new(source),
    })?;
    Ok(GeneratedRecord {
        collection: draft.collection,
        rkey: draft.rkey,
        cid: cid_for_cbor(&bytes),
        bytes: Bytes::from(bytes),
    })
}

/// Draws account `index`: identity, host, status, age, size, plan and keys.
fn make_account(
    spec: &NetworkSpec,
    pds_hosts: &[String],
    index: usize,
) -> Result<Account, NetworkError> {
    let mut rng = stream(spec.seed, Purpose::Account, index as u64);
    let labeler_number = index.checked_sub(spec.accounts).map(|n| n + 1);
    let web = labeler_number.is_none() && rng.gen_bool(spec.did_web_fraction);
    let name = account_name(&mut rng, index);
    let pds = rng.gen_range(0..pds_hosts.len());
    let pds_host = pds_hosts.get(pds).map_or("pds1.test", String::as_str);
    let (did, handle, method) = if web {
        let host = web_host(&name);
        (format!("did:web:{host}"), host, DidMethod::Web)
    } else {
        (
            plc_did(&mut rng),
            format!("{name}.{pds_host}"),
            DidMethod::Plc,
        )
    };
    let roll: f64 = rng.r#gen();
    let status = if labeler_number.is_some() {
        AccountStatus::Active
    } else if roll < spec.deactivated_fraction {
        AccountStatus::Deactivated
    } else if roll < spec.deactivated_fraction + spec.takendown_fraction {
        AccountStatus::Takendown
    } else if roll < spec.deactivated_fraction + spec.takendown_fraction + spec.deleted_fraction {
        AccountStatus::Deleted
    } else {
        AccountStatus::Active
    };
    let history = u64::from(spec.history_days) * DAY_MICROS;
    let age_micros = rng.gen_range(DAY_MICROS..=history.max(DAY_MICROS));
    let created_at_ms = spec.base_time_ms - (age_micros / 1_000) as i64;
    let clock_id = rng.gen_range(0..1024u16);
    let records = match (index, spec.giant_records) {
        (0, Some(giant)) => giant,
        _ if rng.gen_bool(spec.empty_fraction) => 0,
        _ if rng.gen_bool(spec.heavy_fraction) => log_uniform(&mut rng, spec.heavy_records),
        _ => log_uniform(&mut rng, spec.typical_records),
    };
    let labeler = labeler_number.is_some();
    // A labeler's repository must hold its service record, whatever the draw.
    let records = if labeler { records.max(3) } else { records };
    let plan = RepoPlan::sample(&mut rng, records, labeler);
    let kind = if rng.gen_bool(spec.p256_fraction) {
        KeyKind::P256
    } else {
        KeyKind::K256
    };
    let key = seeded_key(spec.seed, Purpose::Key, index, kind)?;
    let labeler = match labeler_number {
        Some(n) => Some(LabelerInfo {
            host: format!("labeler{n}.test"),
            key: seeded_key(spec.seed, Purpose::LabelKey, index, KeyKind::K256)?,
        }),
        None => None,
    };
    Ok(Account {
        index,
        did,
        method,
        handle,
        pds,
        key,
        status,
        created_at_ms,
        clock_id,
        plan,
        labeler,
    })
}

/// A key from seeded bytes; redraws in the (astronomically unlikely) case of an invalid scalar.
fn seeded_key(
    seed: u64,
    purpose: Purpose,
    index: usize,
    kind: KeyKind,
) -> Result<Keypair, NetworkError> {
    let mut rng = stream(seed, purpose, index as u64);
    let mut last = None;
    for _ in 0..8 {
        let bytes: [u8; 32] = rng.r#gen();
        match Keypair::from_secret_bytes(kind, &bytes) {
            Ok(key) => return Ok(key),
            Err(error) => last = Some(error),
        }
    }
    match last {
        Some(source) => Err(NetworkError::Key {
            index,
            source: Box::new(source),
        }),
        None => Err(NetworkError::Spec("no key attempts".into())),
    }
}

/// A record count drawn about log-uniformly from `range`: many small repositories, a long tail.
///
/// Integer-only (an octave uniformly, then a value uniformly within it) so that no platform's
/// `ln`/`exp` rounding can change a network.
fn log_uniform(rng: &mut impl Rng, range: RecordRange) -> u32 {
    let low = range.min.max(1);
    let high = range.max.max(low);
    for _ in 0..64 {
        let octave = rng.gen_range(low.ilog2()..=high.ilog2());
        let start = 1u64 << octave;
        let value = rng.gen_range(start..start * 2);
        if (u64::from(low)..=u64::from(high)).contains(&value) {
            return value as u32;
        }
    }
    low
}
