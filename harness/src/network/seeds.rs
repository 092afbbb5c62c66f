//! Seeded random streams: one independent ChaCha stream per (seed, purpose, index), so that any one
//! account's keys or any one record can be regenerated without replaying the others.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for; part of the stream id so that purposes never share numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    /// Account-level choices: DID, handle, status, sizes, plan.
    Account = 1,
    /// Secret key bytes.
    Key = 2,
    /// One record's content (index = account << 32 | slot).
    Record = 3,
    /// The live script's choices.
    Script = 4,
    /// Label signing keys.
    LabelKey = 5,
}

/// The random stream for `purpose` and `index` under `seed`.
pub(crate) fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // ChaCha streams are independent by construction; the purpose takes the top byte.
    rng.set_stream(((purpose as u64) << 56) ^ (index & 0x00ff_ffff_ffff_ffff));
    rng
}

/// The stream index of record `slot` of account `account`.
pub(crate) fn record_index(account: usize, slot: u64) -> u64 {
    ((account as u64) << 32) | (slot & 0xffff_ffff)
}
