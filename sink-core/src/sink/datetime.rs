//! Date-time bucket formats: Flink/Java patterns (`yyyy-MM-dd--HH`) or strftime (`%Y-%m-%d--%H`),
//! time zones, and a formatter that caches the text of the current hour (or minute, day, ...), so a
//! stream of records pays for one format call per bucket rather than per record.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{FixedOffset, Offset, TimeZone as _, Utc};

/// A time zone for bucket formats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeZone {
    /// UTC, the default.
    Utc,
    /// A fixed offset such as `+05:30`.
    Fixed(FixedOffset),
    /// A zone of the IANA database such as `Europe/Berlin`, with its daylight-saving rules.
    Named(chrono_tz::Tz),
    /// The machine's zone (Flink's default). Output then depends on where the job runs.
    Local,
}

impl FromStr for TimeZone {
    type Err = String;

    /// `UTC`, `Z`, `local`, an offset (`+05:30`, `-0800`, `+01`) or an IANA name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(TimeZone::Utc);
        }
        if t.eq_ignore_ascii_case("local") {
            return Ok(TimeZone::Local);
        }
        if let Some(rest) = t.strip_prefix('+').or_else(|| t.strip_prefix('-')) {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            let digits: String = rest.chars().filter(|c| *c != ':').collect();
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i32>().ok(), Some(0)),
                4 => (digits[..2].parse().ok(), digits[2..].parse().ok()),
                _ => (None, None),
            };
            if let (Some(h), Some(m)) = (h, m) {
                if h <= 18 && m < 60 {
                    if let Some(off) = FixedOffset::east_opt(sign * (h * 3600 + m * 60)) {
                        return Ok(TimeZone::Fixed(off));
                    }
                }
            }
            return Err(format!("bad UTC offset {s:?}: use +HH:MM, -HHMM or +HH"));
        }
        chrono_tz::Tz::from_str(t).map(TimeZone::Named).map_err(|_| {
            format!(
                "unknown time zone {s:?}: use UTC, local, an offset like +05:30, or an IANA name like Europe/Berlin"
            )
        })
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeZone::Utc => f.write_str("UTC"),
            TimeZone::Fixed(o) => write!(f, "{o}"),
            TimeZone::Named(tz) => f.write_str(tz.name()),
            TimeZone::Local => f.write_str("local"),
        }
    }
}

/// The finest calendar unit a format prints: how long its text stays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    /// Sub-second fields: nothing worth caching.
    SubSecond,
    /// Seconds.
    Second,
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days (and weeks, weekdays).
    Day,
    /// Months.
    Month,
    /// Years, or a format with no time field at all.
    Year,
}

impl Unit {
    fn cache_millis(self) -> Option<i64> {
        match self {
            Unit::SubSecond => None,
            Unit::Second => Some(1_000),
            Unit::Minute => Some(60_000),
            Unit::Hour => Some(3_600_000),
            // Coarser units keep their text at least a whole local day.
            Unit::Day | Unit::Month | Unit::Year => Some(86_400_000),
        }
    }
}

/// A compiled date-time format.
#[derive(Clone, Debug)]
pub struct DateTimeFormat {
    source: String,
    strftime: String,
    items: Vec<Item<'static>>,
    unit: Unit,
}

impl DateTimeFormat {
    /// Compiles a format. A format containing `%` is strftime; anything else is a Java/Flink pattern
    /// (`yyyy-MM-dd--HH`, `'dt='yyyy-MM-dd'/hour='HH`), translated to strftime.
    pub fn parse(format: &str) -> Result<Self, String> {
        let (strftime, unit) = if format.contains('%') {
            (format.to_string(), strftime_unit(format)?)
        } else {
            java_to_strftime(format)?
        };
        let items = StrftimeItems::new(&strftime)
            .parse_to_owned()
            .map_err(|e| format!("bad date-time format {format:?}: {e}"))?;
        Ok(DateTimeFormat {
            source: format.to_string(),
            strftime,
            items,
            unit,
        })
    }

    /// The format as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The strftime equivalent.
    pub fn strftime(&self) -> &str {
        &self.strftime
    }

    /// The finest unit the format prints.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// Appends the text of `ts_millis` in `zone`. Returns the UTC offset used, in milliseconds, or
    /// `None` when the instant is out of range.
    pub fn write(&self, ts_millis: i64, zone: TimeZone, out: &mut String) -> Option<i64> {
        let utc = Utc.timestamp_millis_opt(ts_millis).single()?;
        let items = self.items.iter();
        let offset = match zone {
            TimeZone::Utc => {
                let _ = write!(out, "{}", utc.format_with_items(items));
                0
            }
            TimeZone::Fixed(o) => {
                let d = utc.with_timezone(&o);
                let _ = write!(out, "{}", d.format_with_items(items));
                o.local_minus_utc()
            }
            TimeZone::Named(tz) => {
                let d = utc.with_timezone(&tz);
                let _ = write!(out, "{}", d.format_with_items(items));
                d.offset().fix().local_minus_utc()
            }
            TimeZone::Local => {
                let d = utc.with_timezone(&chrono::Local);
                let _ = write!(out, "{}", d.format_with_items(items));
                d.offset().fix().local_minus_utc()
            }
        };
        Some(offset as i64 * 1000)
    }
}

fn offset_millis(ts_millis: i64, zone: TimeZone) -> Option<i64> {
    let utc = Utc.timestamp_millis_opt(ts_millis).single()?;
    let secs = match zone {
        TimeZone::Utc => 0,
        TimeZone::Fixed(o) => o.local_minus_utc(),
        TimeZone::Named(tz) => utc.with_timezone(&tz).offset().fix().local_minus_utc(),
        TimeZone::Local => utc
            .with_timezone(&chrono::Local)
            .offset()
            .fix()
            .local_minus_utc(),
    };
    Some(secs as i64 * 1000)
}

/// Formats instants with a one-entry cache: the text of the last unit (hour, day, ...) and the
/// instants it covers. The cache is only used when the UTC offset is the same at both ends of the
/// unit, so daylight-saving transitions are always formatted exactly.
#[derive(Clone, Debug)]
pub struct CachedFormatter {
    format: DateTimeFormat,
    zone: TimeZone,
    cache: Option<(i64, i64, String)>,
}

impl CachedFormatter {
    /// A formatter of `format` in `zone`.
    pub fn new(format: DateTimeFormat, zone: TimeZone) -> Self {
        CachedFormatter {
            format,
            zone,
            cache: None,
        }
    }

    /// The format.
    pub fn format(&self) -> &DateTimeFormat {
        &self.format
    }

    /// The zone.
    pub fn zone(&self) -> TimeZone {
        self.zone
    }

    /// Appends the text of `ts_millis`; `false` when the instant is out of range.
    pub fn write(&mut self, ts_millis: i64, out: &mut String) -> bool {
        if let Some((lo, hi, text)) = &self.cache {
            if ts_millis >= *lo && ts_millis < *hi {
                out.push_str(text);
                return true;
            }
        }
        let start = out.len();
        let Some(offset) = self.format.write(ts_millis, self.zone, out) else {
            return false;
        };
        if let Some(unit) = self.format.unit.cache_millis() {
            let local = ts_millis + offset;
            let lo = local.div_euclid(unit) * unit - offset;
            let hi = lo + unit;
            if offset_millis(lo, self.zone) == Some(offset)
                && offset_millis(hi - 1, self.zone) == Some(offset)
            {
                self.cache = Some((lo, hi, out[start..].to_string()));
            }
        }
        true
    }
}

fn strftime_unit(fmt: &str) -> Result<Unit, String> {
    let mut unit = Unit::Year;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        // skip padding/width modifiers
        while let Some(&m) = chars.peek() {
            if m == '-' || m == '_' || m == '0' || m == '.' || m == ':' || m.is_ascii_digit() {
                chars.next();
            } else {
                break;
            }
        }
        let Some(spec) = chars.next() else {
            return Err(format!("format {fmt:?} ends with a lone '%'"));
        };
        let u = match spec {
            'f' | 'N' => Unit::SubSecond,
            'S' | 's' | 'T' | 'X' | 'c' | '+' | 'r' => Unit::Second,
            'M' | 'R' => Unit::Minute,
            'H' | 'I' | 'k' | 'l' | 'p' | 'P' => Unit::Hour,
            'd' | 'e' | 'j' | 'a' | 'A' | 'u' | 'w' | 'F' | 'D' | 'x' | 'U' | 'W' | 'V' | 'G'
            | 'g' => Unit::Day,
            'm' | 'b' | 'B' | 'h' => Unit::Month,
            'Y' | 'y' | 'C' => Unit::Year,
            '%' | 'n' | 't' | 'z' | 'Z' => continue,
            other => return Err(format!("unknown strftime field %{other} in {fmt:?}")),
        };
        unit = unit.min(u);
    }
    Ok(unit)
}

/// Translates a Java `DateTimeFormatter` pattern, as Flink's `DateTimeBucketAssigner` takes, to
/// strftime, and finds its finest unit.
pub fn java_to_strftime(pattern: &str) -> Result<(String, Unit), String> {
    let mut out = String::new();
    let mut unit = Unit::Year;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // quoted literal; '' is a single quote
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unclosed quote in pattern {pattern:?}")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('%') => {
                        out.push_str("%%");
                        i += 1;
                    }
                    Some(&ch) => {
                        out.push(ch);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let (spec, u): (&str, Unit) = match (c, n) {
            ('y' | 'u', 2) => ("%y", Unit::Year),
            ('y' | 'u', _) => ("%Y", Unit::Year),
            ('Y', 2) => ("%g", Unit::Day),
            ('Y', _) => ("%G", Unit::Day),
            ('M' | 'L', 1) => ("%-m", Unit::Month),
            ('M' | 'L', 2) => ("%m", Unit::Month),
            ('M' | 'L', 3) => ("%b", Unit::Month),
            ('M' | 'L', 4) => ("%B", Unit::Month),
            ('d', 1) => ("%-d", Unit::Day),
            ('d', 2) => ("%d", Unit::Day),
            ('D', 1..=3) => ("%j", Unit::Day),
            ('E', 1..=3) => ("%a", Unit::Day),
            ('E', 4) => ("%A", Unit::Day),
            ('e' | 'c', 1) => ("%u", Unit::Day),
            ('w', 1 | 2) => ("%V", Unit::Day),
            ('a', 1) => ("%p", Unit::Hour),
            ('H', 1) => ("%-H", Unit::Hour),
            ('H', 2) => ("%H", Unit::Hour),
            ('h', 1) => ("%-I", Unit::Hour),
            ('h', 2) => ("%I", Unit::Hour),
            ('m', 1) => ("%-M", Unit::Minute),
            ('m', 2) => ("%M", Unit::Minute),
            ('s', 1) => ("%-S", Unit::Second),
            ('s', 2) => ("%S", Unit::Second),
            ('S', 3) => ("%3f", Unit::SubSecond),
            ('S', 6) => ("%6f", Unit::SubSecond),
            ('S', 9) => ("%9f", Unit::SubSecond),
            ('Z', 1..=3) => ("%z", Unit::Year),
            ('X' | 'x', 1..=3) => ("%:z", Unit::Year),
            ('z', 1..=3) => ("%Z", Unit::Year),
            _ => {
                return Err(format!(
                    "pattern letter {:?} (x{n}) in {pattern:?} is not supported; quote literal text ('dt=') or use strftime (%Y-%m-%d)",
                    c
                ))
            }
        };
        out.push_str(spec);
        unit = unit.min(u);
        i += n;
    }
    Ok((out, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn java_patterns_translate() {
        let table = [
            ("yyyy-MM-dd--HH", "%Y-%m-%d--%H", Unit::Hour),
            ("yyyy-MM-dd", "%Y-%m-%d", Unit::Day),
            (
                "'dt='yyyy-MM-dd'/hour='HH",
                "dt=%Y-%m-%d/hour=%H",
                Unit::Hour,
            ),
            ("yyyyMMddHHmm", "%Y%m%d%H%M", Unit::Minute),
            ("yy/M/d H:m:s", "%y/%-m/%-d %-H:%-M:%-S", Unit::Second),
            (
                "yyyy-MM-dd'T'HH:mm:ss.SSS",
                "%Y-%m-%dT%H:%M:%S.%3f",
                Unit::SubSecond,
            ),
            ("'it''s' yyyy", "it's %Y", Unit::Year),
            ("MMM", "%b", Unit::Month),
            ("100%", "100%%", Unit::Year),
        ];
        for (java, strf, unit) in table {
            assert_eq!(
                java_to_strftime(java).unwrap(),
                (strf.to_string(), unit),
                "{java}"
            );
        }
        assert!(java_to_strftime("yyyy-QQ").is_err());
        assert!(java_to_strftime("'open").is_err());
    }

    #[test]
    fn strftime_units() {
        assert_eq!(strftime_unit("%Y-%m-%d--%H").unwrap(), Unit::Hour);
        assert_eq!(strftime_unit("dt=%F").unwrap(), Unit::Day);
        assert_eq!(strftime_unit("%Y/%-m").unwrap(), Unit::Month);
        assert_eq!(strftime_unit("%H%M%S%.3f").unwrap(), Unit::SubSecond);
        assert!(strftime_unit("%Q").is_err());
        assert!(strftime_unit("%").is_err());
    }

    #[test]
    fn zones_parse() {
        assert_eq!("UTC".parse::<TimeZone>().unwrap(), TimeZone::Utc);
        assert_eq!(
            "+05:30".parse::<TimeZone>().unwrap(),
            TimeZone::Fixed(FixedOffset::east_opt(19800).unwrap())
        );
        assert_eq!(
            "-0800".parse::<TimeZone>().unwrap(),
            TimeZone::Fixed(FixedOffset::west_opt(28800).unwrap())
        );
        assert_eq!(
            "Europe/Berlin".parse::<TimeZone>().unwrap(),
            TimeZone::Named(chrono_tz::Europe::Berlin)
        );
        assert!("Mars/Olympus".parse::<TimeZone>().is_err());
        assert!("+25:00".parse::<TimeZone>().is_err());
    }

    /// Instants around daylight-saving transitions, formatted through the cache in order (as a
    /// stream would be) and each also formatted fresh: both must agree with chrono.
    #[test]
    fn cache_is_exact_across_dst() {
        /// (zone, format, what, [(instant, expected text)])
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
        );
        let table: &[Case] = &[
            (
                "Europe/Berlin",
                "yyyy-MM-dd--HH",
                "spring forward 2026-03-29 02:00 -> 03:00",
                &[
                    ("2026-03-29T00:59:59.999Z", "2026-03-29--01"),
                    ("2026-03-29T01:00:00Z", "2026-03-29--03"),
                    ("2026-03-29T01:30:00Z", "2026-03-29--03"),
                    ("2026-03-29T02:00:00Z", "2026-03-29--04"),
                ],
            ),
            (
                "Europe/Berlin",
                "yyyy-MM-dd--HH",
                "fall back 2026-10-25 03:00 -> 02:00: hour 02 happens twice",
                &[
                    ("2026-10-24T23:59:00Z", "2026-10-25--01"),
                    ("2026-10-25T00:00:00Z", "2026-10-25--02"),
                    ("2026-10-25T00:59:59.999Z", "2026-10-25--02"),
                    ("2026-10-25T01:00:00Z", "2026-10-25--02"),
                    ("2026-10-25T01:59:59Z", "2026-10-25--02"),
                    ("2026-10-25T02:00:00Z", "2026-10-25--03"),
                ],
            ),
            (
                "America/New_York",
                "yyyy-MM-dd",
                "a day that is 23 hours long",
                &[
                    ("2026-03-08T04:59:59Z", "2026-03-07"),
                    ("2026-03-08T05:00:00Z", "2026-03-08"),
                    ("2026-03-09T03:59:59Z", "2026-03-08"),
                    ("2026-03-09T04:00:00Z", "2026-03-09"),
                ],
            ),
            (
                "+05:30",
                "'dt='yyyy-MM-dd'/hour='HH",
                "half-hour offset",
                &[
                    ("2026-01-01T18:29:59Z", "dt=2026-01-01/hour=23"),
                    ("2026-01-01T18:30:00Z", "dt=2026-01-02/hour=00"),
                    ("2026-01-01T19:29:59Z", "dt=2026-01-02/hour=00"),
                    ("2026-01-01T19:30:00Z", "dt=2026-01-02/hour=01"),
                ],
            ),
            (
                "UTC",
                "%Y-%m-%d--%H",
                "before 1970",
                &[
                    ("1969-12-31T23:59:59.999Z", "1969-12-31--23"),
                    ("1970-01-01T00:00:00Z", "1970-01-01--00"),
                ],
            ),
        ];
        for (zone, fmt, what, cases) in table {
            let zone: TimeZone = zone.parse().unwrap();
            let format = DateTimeFormat::parse(fmt).unwrap();
            let mut cached = CachedFormatter::new(format.clone(), zone);
            for (instant, want) in *cases {
                let t = ms(instant);
                let mut a = String::new();
                assert!(cached.write(t, &mut a));
                let mut b = String::new();
                format.write(t, zone, &mut b).unwrap();
                assert_eq!(a, *want, "{what}: cached {instant}");
                assert_eq!(b, *want, "{what}: fresh {instant}");
            }
        }
    }

    #[test]
    fn cache_agrees_with_fresh_over_a_year_of_hours() {
        let zone: TimeZone = "Australia/Lord_Howe".parse().unwrap(); // 30-minute DST shift
        let format = DateTimeFormat::parse("yyyy-MM-dd--HH").unwrap();
        let mut cached = CachedFormatter::new(format.clone(), zone);
        let start = ms("2026-01-01T00:00:00Z");
        let mut t = start;
        while t < start + 366 * 86_400_000 {
            let mut a = String::new();
            let mut b = String::new();
            cached.write(t, &mut a);
            format.write(t, zone, &mut b);
            assert_eq!(a, b, "at {t}");
            t += 7 * 60_000 + 13_000; // every 7m13s
        }
    }

    #[test]
    fn out_of_range_instant() {
        let mut f = CachedFormatter::new(DateTimeFormat::parse("yyyy").unwrap(), TimeZone::Utc);
        assert!(!f.write(i64::MAX, &mut String::new()));
    }
}
