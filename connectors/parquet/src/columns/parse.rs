//! Values given as text (or as a float, for decimals) read into a column's type: time zones,
//! timestamps, dates, decimals and base64.

use arrow_array::OffsetSizeTrait;
use arrow_schema::TimeUnit;
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone as _};

use super::{ByteValues, Got, Misfit};

/// The time zone of a timestamp column, for strings without an offset.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Zone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses an Arrow time zone: `UTC`, `+02:00`, `-0530` or an IANA name.
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Utc);
        }
        if s.starts_with('+') || s.starts_with('-') {
            let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
                let h: i32 = digits[..2].parse().unwrap_or(99);
                let m: i32 = digits[2..].parse().unwrap_or(99);
                let secs = (h * 3600 + m * 60) * if s.starts_with('-') { -1 } else { 1 };
                if h < 24 && m < 60 {
                    if let Some(o) = FixedOffset::east_opt(secs) {
                        return Ok(Zone::Fixed(o));
                    }
                }
            }
        } else if let Ok(tz) = s.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        Err(format!(
            "time zone {s:?} is not UTC, an offset (+02:00) or an IANA name (Europe/Paris)"
        ))
    }

    fn local_to_instant(self, t: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        match self {
            Zone::Utc => Some(t.and_utc().fixed_offset()),
            Zone::Fixed(o) => o.from_local_datetime(&t).single(),
            Zone::Named(tz) => tz
                .from_local_datetime(&t)
                .earliest()
                .map(|d| d.fixed_offset()),
        }
    }
}

/// Parses an RFC 3339 / ISO 8601 date-time (`2026-11-24T13:05:00Z`, `2026-11-24 13:05:00.5+01:00`)
/// or a date-time or date without offset, which is read in `zone` (UTC if none).
pub(crate) fn parse_timestamp(s: &str, unit: TimeUnit, zone: Option<Zone>) -> Option<i64> {
    let s = s.trim();
    let t = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()
        .or_else(|| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })?;
            zone.unwrap_or(Zone::Utc).local_to_instant(naive)
        })?;
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

const UNIX_EPOCH_DAY: i32 = 719_163; // days from 0001-01-01 (CE day 1) to 1970-01-01

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    use chrono::Datelike as _;
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(d.num_days_from_ce() - UNIX_EPOCH_DAY)
}

/// Parses a decimal number (`-12.5`, `1e3`, `.25`) into an integer scaled by `10^scale`. With
/// `round`, extra fraction digits are rounded half away from zero; without, they must be zeros.
pub(crate) fn parse_decimal(
    s: &str,
    precision: u8,
    scale: i8,
    round: bool,
) -> Result<i128, Misfit> {
    let bad = || format!("{:?} is not a decimal number", s);
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    // digits as a whole number, and where the point is: value = digits * 10^-(point)
    let mut digits: Vec<u8> = Vec::with_capacity(int.len() + frac.len());
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        digits.push(b - b'0');
    }
    let point = frac.len() as i64 - exp as i64; // digits after the point
    let scale = scale as i64;
    // Keep the digits up to `scale` after the point.
    let keep = digits.len() as i64 - (point - scale);
    let too_big = || format!("{s} does not fit decimal128({precision}, {scale})");
    let mut v: i128 = 0;
    let mut round_up = false;
    for (i, d) in digits.iter().enumerate() {
        let i = i as i64;
        if i < keep {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(*d as i128))
                .ok_or_else(too_big)?;
        } else if i == keep {
            if *d != 0 && !round {
                return Err(format!("{s} has more than {scale} digits after the point"));
            }
            round_up = *d >= 5;
        } else if *d != 0 && !round {
            return Err(format!("{s} has more than {scale} digits after the point"));
        }
    }
    // Digits missing up to the scale: multiply.
    if keep > digits.len() as i64 {
        let missing = (keep - digits.len() as i64) as u32;
        v = 10i128
            .checked_pow(missing)
            .and_then(|m| v.checked_mul(m))
            .ok_or_else(too_big)?;
    }
    if round_up {
        v += 1;
    }
    if v >= 10i128.pow(precision as u32) {
        return Err(too_big());
    }
    Ok(if neg { -v } else { v })
}

pub(super) fn scale_int(v: i128, precision: u8, scale: i8) -> Result<i128, Misfit> {
    let scaled = 10i128
        .checked_pow(scale as u32)
        .and_then(|m| v.checked_mul(m))
        .filter(|s| s.unsigned_abs() < 10u128.pow(precision as u32));
    scaled.ok_or_else(|| format!("{v} does not fit decimal128({precision}, {scale})"))
}

pub(super) fn decode_base64<O: OffsetSizeTrait>(
    s: &str,
    b: &mut ByteValues<O>,
) -> Result<(), Misfit> {
    let start = b.data.len();
    if base64::engine::general_purpose::STANDARD
        .decode_vec(s, &mut b.data)
        .is_err()
    {
        b.data.truncate(start);
        return Err(format!("expected binary (base64), got {}", Got::Str(s)));
    }
    b.close_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let ok = [
            ("12.34", 10, 2, false, 1234),
            ("-12.3", 10, 2, false, -1230),
            ("+7", 5, 2, false, 700),
            (".5", 5, 2, false, 50),
            ("1.5e2", 10, 2, false, 15000),
            ("125e-2", 10, 2, false, 125),
            ("12.3400", 10, 2, false, 1234),
            ("0.005", 10, 2, true, 1),
            ("-0.004", 10, 2, true, 0),
            ("2.675", 10, 2, true, 268),
            ("99999999.99", 10, 2, false, 9_999_999_999),
            ("12", 2, 0, false, 12),
        ];
        for (s, p, sc, round, want) in ok {
            assert_eq!(parse_decimal(s, p, sc, round), Ok(want), "{s}");
        }
        let bad = [
            ("12.345", 10, 2, "has more than 2 digits after the point"),
            ("100000000.00", 10, 2, "does not fit decimal128(10, 2)"),
            ("123", 2, 0, "does not fit"),
            ("1.2.3", 10, 2, "is not a decimal number"),
            ("", 10, 2, "is not a decimal number"),
            ("abc", 10, 2, "is not a decimal number"),
            ("1e99999999999", 10, 2, "is not a decimal number"),
        ];
        for (s, p, sc, want) in bad {
            let e = parse_decimal(s, p, sc, false).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
        assert_eq!(scale_int(12, 10, 2), Ok(1200));
        assert!(scale_int(10i128.pow(9), 10, 2).is_err());
    }

    #[test]
    fn timestamps_and_dates() {
        let ms = TimeUnit::Millisecond;
        let base = 1_795_525_500_000; // 2026-11-24T13:05:00Z
        let table: [(&str, Option<&str>, Option<i64>); 10] = [
            ("2026-11-24T13:05:00Z", None, Some(base)),
            ("2026-11-24T14:05:00+01:00", None, Some(base)),
            ("2026-11-24 14:05:00+01:00", None, Some(base)),
            ("2026-11-24T13:05:00.250Z", None, Some(base + 250)),
            ("2026-11-24T13:05:00", None, Some(base)),
            ("2026-11-24 14:05:00", Some("Europe/Paris"), Some(base)),
            ("2026-11-24 15:05", Some("+02:00"), Some(base)),
            ("2026-11-24", None, Some(base - (13 * 3600 + 5 * 60) * 1000)),
            ("yesterday", None, None),
            ("2026-13-01T00:00:00Z", None, None),
        ];
        for (s, zone, want) in table {
            let zone = zone.map(|z| Zone::parse(z).unwrap());
            assert_eq!(parse_timestamp(s, ms, zone), want, "{s}");
        }
        assert_eq!(
            parse_timestamp("2026-11-24T13:05:00Z", TimeUnit::Nanosecond, None),
            Some(base * 1_000_000)
        );
        assert_eq!(
            parse_timestamp("2500-01-01T00:00:00Z", TimeUnit::Nanosecond, None),
            None
        );
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2026-11-24"), Some(20_781));
        assert_eq!(parse_date("24/11/2026"), None);
        for z in [
            "UTC",
            "utc",
            "+02:00",
            "-0530",
            "Europe/Paris",
            "Asia/Tokyo",
        ] {
            assert!(Zone::parse(z).is_ok(), "{z}");
        }
        for z in ["Mars/Olympus", "+25:00", "+2", ""] {
            assert!(Zone::parse(z).is_err(), "{z}");
        }
    }
}
