//! atproto datetimes, and the one timestamp format the pipeline writes.
//!
//! Input may be any RFC 3339 datetime that is also ISO 8601 (upper-case `T`, a `Z` or `±HH:MM`
//! offset, any number of fractional digits). Output is always [`format_millis_z`]'s form:
//! UTC, exactly three fractional digits, `Z` (`2026-11-27T12:34:56.789Z`), so that timestamps
//! sort as strings in the database.

use std::fmt::Write as _;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::{SyntaxError, SyntaxKind, string_type};

/// The longest datetime accepted (a generous bound on fractional digits).
const MAX_LEN: usize = 64;

/// A valid atproto datetime, kept as given. [`Datetime::normalized`] gives the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Datetime(String);

string_type!(Datetime, SyntaxKind::Datetime, validate);

impl Datetime {
    /// The instant this datetime names.
    pub fn to_offset_datetime(&self) -> OffsetDateTime {
        // Validated on construction; the fallback is unreachable.
        parse(&self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The canonical form: UTC, milliseconds, `Z`.
    pub fn normalized(&self) -> String {
        format_millis_z(self.to_offset_datetime())
    }

    /// The datetime for an instant, in canonical form.
    pub fn from_time(t: impl Into<OffsetDateTime>) -> Datetime {
        Datetime(format_millis_z(t))
    }

    /// Now, in canonical form.
    pub fn now() -> Datetime {
        Datetime::from_time(OffsetDateTime::now_utc())
    }
}

/// Formats an instant as RFC 3339 UTC with exactly three fractional digits and `Z`.
///
/// Sub-millisecond digits are truncated, not rounded, so that a formatted time never lies in the
/// future of the instant. Instants before year 0 or after year 9999 (which atproto cannot express)
/// are clamped to the first or last millisecond of that range.
pub fn format_millis_z(t: impl Into<OffsetDateTime>) -> String {
    let t = t.into().to_offset(UtcOffset::UTC);
    let (year, month, day, hour, minute, second, millis) = if t.year() < 0 {
        (0, 1, 1, 0, 0, 0, 0)
    } else if t.year() > 9999 {
        (9999, 12, 31, 23, 59, 59, 999)
    } else {
        (
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
        )
    };
    let mut out = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
    );
    out
}

/// The canonical form ([`format_millis_z`]) of any valid atproto datetime, or `None` if `s` is not
/// one (bad syntax, an impossible date, or an instant outside years 0 to 9999 once in UTC).
pub fn normalize_datetime(s: &str) -> Option<String> {
    let t = parse(s).ok()?;
    // Most datetimes seen are canonical already: `YYYY-MM-DDTHH:MM:SS.mmmZ` that parses is its
    // own canonical form, and formatting it again was a tenth of the indexer's CPU.
    let b = s.as_bytes();
    if b.len() == 24 && b[19] == b'.' && b[23] == b'Z' {
        return Some(s.to_owned());
    }
    Some(format_millis_z(t))
}

/// Checks the datetime syntax and meaning; the error says which rule broke.
fn validate(s: &str) -> Result<(), &'static str> {
    parse(s).map(|_| ())
}

/// Parses a datetime strictly, by position.
fn parse(s: &str) -> Result<OffsetDateTime, &'static str> {
    let b = s.as_bytes();
    if b.len() > MAX_LEN {
        return Err("longer than 64 characters");
    }
    if b.len() < 20 {
        return Err("too short for YYYY-MM-DDTHH:MM:SS and a time zone");
    }
    let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punct.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return Err("not of the form YYYY-MM-DDTHH:MM:SS");
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;

    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return Err("no digits after the decimal point");
        }
        if count < 9 {
            nanos *= 10u32.pow((9 - count) as u32);
        }
    }
    let offset = match b.get(i..) {
        Some(b"Z") => UtcOffset::UTC,
        Some([sign @ (b'+' | b'-'), rest @ ..]) if rest.len() == 5 && rest[2] == b':' => {
            let hours = digits(rest, 0, 2)?;
            let minutes = digits(rest, 3, 2)?;
            if hours > 23 || minutes > 59 {
                return Err("time zone offset out of range");
            }
            if *sign == b'-' && hours == 0 && minutes == 0 {
                return Err("-00:00 is not ISO 8601");
            }
            let (h, m) = (hours as i8, minutes as i8);
            let (h, m) = if *sign == b'-' { (-h, -m) } else { (h, m) };
            UtcOffset::from_hms(h, m, 0).map_err(|_| "time zone offset out of range")?
        }
        _ => return Err("time zone must be Z or ±HH:MM"),
    };

    let month = Month::try_from(month as u8).map_err(|_| "month out of range")?;
    let date =
        Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| "no such day")?;
    let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos)
        .map_err(|_| "time of day out of range")?;
    let utc = PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)
        .ok_or("instant out of range")?;
    if !(0..=9999).contains(&utc.year()) {
        return Err("instant outside years 0 to 9999 in UTC");
    }
    Ok(utc)
}

/// The decimal number in `b[at..at + len]`, which must be all ASCII digits.
fn digits(b: &[u8], at: usize, len: usize) -> Result<u32, &'static str> {
    let field = b.get(at..at + len).ok_or("truncated")?;
    field.iter().try_fold(0u32, |acc, d| {
        if d.is_ascii_digit() {
            Ok(acc * 10 + u32::from(d - b'0'))
        } else {
            Err("expected a digit")
        }
    })
}

impl TryFrom<OffsetDateTime> for Datetime {
    type Error = SyntaxError;

    /// The canonical datetime of an instant; fails outside years 0 to 9999.
    fn try_from(t: OffsetDateTime) -> Result<Self, Self::Error> {
        let utc = t.to_offset(UtcOffset::UTC);
        if !(0..=9999).contains(&utc.year()) {
            return Err(SyntaxError::new(
                SyntaxKind::Datetime,
                &utc.to_string(),
                "instant outside years 0 to 9999",
            ));
        }
        Ok(Datetime(format_millis_z(utc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_with_millis_and_z() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_782_896_789_999);
        assert_eq!(format_millis_z(t), "2026-11-27T12:34:56.789Z");
        assert_eq!(format_millis_z(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn normalizes_offsets_and_precision() {
        let cases = [
            ("1985-04-12T23:20:50.123Z", "1985-04-12T23:20:50.123Z"),
            ("1985-04-12T23:20:50Z", "1985-04-12T23:20:50.000Z"),
            ("1985-04-12T23:20:50.1Z", "1985-04-12T23:20:50.100Z"),
            (
                "1985-04-12T23:20:50.123999999999Z",
                "1985-04-12T23:20:50.123Z",
            ),
            ("1985-04-12T23:20:50.123-07:00", "1985-04-13T06:20:50.123Z"),
            ("1985-04-12T23:20:50.123+01:45", "1985-04-12T21:35:50.123Z"),
            ("0000-01-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_datetime(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(normalize_datetime("0000-01-01T00:00:00+01:00"), None);
        assert_eq!(normalize_datetime("1985-02-29T00:00:00Z"), None);
        assert_eq!(normalize_datetime("1985-04-12T23:20:50.123-00:00"), None);
        // Canonical in shape is not enough: the instant must exist.
        assert_eq!(normalize_datetime("1985-02-29T00:00:00.000Z"), None);
        assert_eq!(normalize_datetime("1985-04-12T24:00:00.000Z"), None);
        assert_eq!(normalize_datetime("1985-04-12T23:20:60.000Z"), None);
    }

    #[test]
    fn datetime_type_keeps_input_and_normalizes() {
        let dt: Datetime = "1985-04-12T23:20:50.123+00:00".parse().unwrap();
        assert_eq!(dt.as_str(), "1985-04-12T23:20:50.123+00:00");
        assert_eq!(dt.normalized(), "1985-04-12T23:20:50.123Z");
    }
}
