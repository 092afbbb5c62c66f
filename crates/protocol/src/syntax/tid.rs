//! Timestamp identifiers: 13 characters of base32-sortable that encode microseconds since the
//! Unix epoch (53 bits) and a 10-bit clock id. Revisions and most record keys are TIDs; they sort
//! as strings in time order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SyntaxKind, string_type};

/// The base32-sortable alphabet, in ascending order.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// The number of characters in a TID.
const LEN: usize = 13;

/// The bits of the clock id.
const CLOCK_BITS: u32 = 10;

/// The largest timestamp a TID holds (53 bits).
const MAX_MICROS: u64 = (1 << 53) - 1;

/// A syntactically valid TID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(String);

string_type!(Tid, SyntaxKind::Tid, validate);

impl Tid {
    /// The TID for `micros` since the Unix epoch (kept to 53 bits) and `clock_id` (kept to 10 bits).
    pub fn new(micros: u64, clock_id: u16) -> Tid {
        let value = ((micros & MAX_MICROS) << CLOCK_BITS) | u64::from(clock_id & 0x3ff);
        let mut text = String::with_capacity(LEN);
        for i in (0..LEN).rev() {
            let digit = (value >> (5 * i)) & 0x1f;
            text.push(char::from(ALPHABET[digit as usize]));
        }
        Tid(text)
    }

    /// The 64-bit value this TID encodes.
    pub fn value(&self) -> u64 {
        self.0.bytes().fold(0u64, |acc, b| {
            (acc << 5) | u64::from(digit_of(b).unwrap_or(0))
        })
    }

    /// Microseconds since the Unix epoch.
    pub fn timestamp_micros(&self) -> u64 {
        self.value() >> CLOCK_BITS
    }

    /// The clock id (0 to 1023).
    pub fn clock_id(&self) -> u16 {
        (self.value() & 0x3ff) as u16
    }
}

/// The value of one base32-sortable character.
fn digit_of(b: u8) -> Option<u8> {
    match b {
        b'2'..=b'7' => Some(b - b'2'),
        b'a'..=b'z' => Some(b - b'a' + 6),
        _ => None,
    }
}

/// Checks the TID syntax; the error says which rule broke.
pub(crate) fn validate(s: &str) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    if bytes.len() != LEN {
        return Err("not 13 characters");
    }
    if !bytes.iter().all(|b| digit_of(*b).is_some()) {
        return Err("not base32-sortable (lower-case a-z and 2-7)");
    }
    // 13 characters carry 65 bits; the first may only use its low four.
    if bytes
        .first()
        .and_then(|b| digit_of(*b))
        .is_some_and(|d| d >= 16)
    {
        return Err("first character out of range");
    }
    Ok(())
}

/// A monotonic TID source for a writer: every call gives a TID greater than the one before, even
/// when the wall clock stands still or steps back. Safe to share between threads.
#[derive(Debug)]
pub struct TidClock {
    clock_id: u16,
    last_micros: AtomicU64,
}

impl TidClock {
    /// A clock that stamps `clock_id` (kept to 10 bits) into every TID.
    pub fn new(clock_id: u16) -> TidClock {
        TidClock {
            clock_id: clock_id & 0x3ff,
            last_micros: AtomicU64::new(0),
        }
    }

    /// The next TID: now, or one microsecond after the previous one if that is later.
    pub fn next_tid(&self) -> Tid {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS))
            .unwrap_or(0)
            .min(MAX_MICROS);
        self.next_at(now)
    }

    /// The next TID given the wall clock reads `now_micros`; exposed so tests can drive the clock.
    pub fn next_at(&self, now_micros: u64) -> Tid {
        let mut last = self.last_micros.load(Ordering::Relaxed);
        loop {
            let next = now_micros.max(last.saturating_add(1)).min(MAX_MICROS);
            match self.last_micros.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Tid::new(next, self.clock_id),
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_micros_and_clock() {
        let tid = Tid::new(1_700_000_000_123_456, 42);
        assert_eq!(tid.as_str().len(), 13);
        assert_eq!(tid.timestamp_micros(), 1_700_000_000_123_456);
        assert_eq!(tid.clock_id(), 42);
        assert!(tid.as_str().parse::<Tid>().is_ok());
    }

    #[test]
    fn known_value() {
        // Zero is all '2's; the value sorts with the text.
        assert_eq!(Tid::new(0, 0).as_str(), "2222222222222");
        assert!(Tid::new(5, 0) > Tid::new(4, 1023));
    }

    #[test]
    fn clock_is_monotonic_when_time_stands_still_or_steps_back() {
        let clock = TidClock::new(7);
        let a = clock.next_at(1_000);
        let b = clock.next_at(1_000);
        let c = clock.next_at(500);
        assert!(a < b && b < c);
        assert_eq!(c.timestamp_micros(), 1_002);
        let d = clock.next_tid();
        assert!(d > c);
    }
}
