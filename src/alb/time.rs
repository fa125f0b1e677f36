//! ALB timestamps (`2025-06-21T22:45:00.123456Z`) and tally minutes (`2025-06-21T22:45`) as
//! microseconds since the epoch, the alerter's clock.
//!
//! The ALB form is read by a byte-level fast path (the alerter reads millions per second), with
//! chrono for the calendar and for any other RFC 3339 form.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Microseconds in a second.
pub const MICROS: i64 = 1_000_000;

/// Microseconds since the epoch → `DateTime<Utc>` (clamped to chrono's range).
#[must_use]
pub fn micros_to_datetime(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(if us < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM` (the first 16 bytes) → microseconds, validated.
fn minute_prefix_us(b: &[u8]) -> Option<i64> {
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        u32::try_from(digits(&b[5..7])?).ok()?,
        u32::try_from(digits(&b[8..10])?).ok()?,
    )?;
    let hour = u32::try_from(digits(&b[11..13])?).ok()?;
    let minute = u32::try_from(digits(&b[14..16])?).ok()?;
    let t = date.and_hms_opt(hour, minute, 0)?;
    Some(t.and_utc().timestamp() * MICROS)
}

/// Parses an ALB `time` (`2025-06-21T22:45:00.123456Z`) to microseconds since the epoch.
///
/// A fast path handles the ALB form (`Z`, 0–9 fraction digits); anything else goes through
/// chrono's RFC 3339 parser. `None` when it is not a valid time.
#[must_use]
pub fn parse_time_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let fast = || -> Option<i64> {
        let minute = minute_prefix_us(b)?;
        if b.len() < 20 || b[16] != b':' || *b.last()? != b'Z' {
            return None;
        }
        let sec = digits(&b[17..19])?;
        if sec > 59 {
            return None;
        }
        let rest = &b[19..b.len() - 1];
        let frac_us = match rest {
            [] => 0,
            [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 => {
                let f = digits(frac)?;
                // Scale to microseconds: 6 digits exactly, fewer padded, more truncated.
                match frac.len() {
                    n @ 0..=6 => f * 10i64.pow(6 - n as u32),
                    n => f / 10i64.pow(n as u32 - 6),
                }
            }
            _ => return None,
        };
        Some(minute + sec * MICROS + frac_us)
    };
    fast().or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros())
    })
}

/// Parses a tally `minute` (`YYYY-MM-DDTHH:MM`, UTC) to microseconds since the epoch. Also
/// accepts a full RFC 3339 time (cut to its minute).
#[must_use]
pub fn parse_minute_us(s: &str) -> Option<i64> {
    if s.len() == 16 {
        return minute_prefix_us(s.as_bytes()).or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        });
    }
    parse_time_us(s).map(|us| us - us.rem_euclid(60 * MICROS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alb_times_fast_and_slow() {
        let base = DateTime::parse_from_rfc3339("2025-06-21T22:45:00Z")
            .unwrap()
            .timestamp_micros();
        assert_eq!(parse_time_us("2025-06-21T22:45:00Z"), Some(base));
        assert_eq!(
            parse_time_us("2025-06-21T22:45:00.123456Z"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_time_us("2025-06-21T22:45:00.1Z"),
            Some(base + 100_000)
        );
        assert_eq!(
            parse_time_us("2025-06-21T22:45:00.123456789Z"),
            Some(base + 123_456)
        );
        assert_eq!(parse_time_us("2025-06-21T23:45:00+01:00"), Some(base));
        assert_eq!(
            parse_time_us("2024-02-29T00:00:00Z"),
            Some(
                DateTime::parse_from_rfc3339("2024-02-29T00:00:00Z")
                    .unwrap()
                    .timestamp_micros()
            )
        );
        for bad in [
            "",
            "-",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-06-21T24:00:00Z",
            "2025-06-21T22:45:00.Z",
            "2025-06-21T22:45:00",
            "２０２５-06-21T22:45:00Z",
        ] {
            assert_eq!(parse_time_us(bad), None, "{bad}");
        }
        assert_eq!(parse_minute_us("2025-06-21T22:45"), Some(base));
        assert_eq!(parse_minute_us("2025-06-21T22:45:31.5Z"), Some(base));
        assert_eq!(parse_minute_us("2025-06-21T22:4x"), None);
    }

    proptest::proptest! {
        #[test]
        fn fast_time_path_agrees_with_chrono(secs in 0i64..4_000_000_000, us in 0i64..1_000_000, digits in 0usize..=6) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            let frac = format!("{us:06}");
            let s = if digits == 0 {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                format!("{}.{}Z", t.format("%Y-%m-%dT%H:%M:%S"), &frac[..digits])
            };
            proptest::prop_assert_eq!(
                parse_time_us(&s),
                DateTime::parse_from_rfc3339(&s).ok().map(|t| t.timestamp_micros())
            );
        }

        #[test]
        fn time_parser_never_panics(s in ".{0,40}") {
            let _ = parse_time_us(&s);
            let _ = parse_minute_us(&s);
        }
    }
}
