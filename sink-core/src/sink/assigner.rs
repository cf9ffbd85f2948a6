//! Bucket assigners: which directory under the output root a record goes to.
//!
//! | Flink | Spillway |
//! | --- | --- |
//! | `BasePathBucketAssigner` | [`BasePathBucketAssigner`] |
//! | `DateTimeBucketAssigner` | [`DateTimeBucketAssigner`] (processing or event time, any zone) |
//! | (custom, per field) | [`FieldBucketAssigner`] (plain values or Hive `key=value`) |
//! | (custom, combined) | [`ChainedBucketAssigner`] (`dt=.../country=...`) |

use std::fmt;

use super::datetime::{CachedFormatter, DateTimeFormat, TimeZone};
use super::fields::{FieldAccess, FieldValue};

/// What an assigner knows besides the record (Flink's `BucketAssigner.Context`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The current processing time, milliseconds since the epoch.
    pub processing_time: i64,
    /// The current watermark of this subtask, if the source has one.
    pub watermark: Option<i64>,
    /// The record's event timestamp, if it has one.
    pub timestamp: Option<i64>,
}

/// Why a record could not be given a bucket. It is a bad record, handled by the job's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignError(pub String);

impl fmt::Display for AssignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AssignError {}

/// Chooses the bucket (a directory relative to the output root) of each record.
///
/// The sink creates one assigner per subtask by cloning, so an assigner may keep caches in
/// `&mut self`. It appends the bucket id to `bucket` (cleared by the caller). The id is checked by
/// the sink: `..`, absolute paths and control characters are refused as bad records. Values taken
/// from data should be escaped with [`escape_path_value`].
pub trait BucketAssigner<T>: Send + 'static {
    /// Appends the bucket id of `record` to `bucket`.
    fn assign(&mut self, record: &T, ctx: &Context, bucket: &mut String)
        -> Result<(), AssignError>;
}

impl<T, F> BucketAssigner<T> for F
where
    F: FnMut(&T, &Context, &mut String) -> Result<(), AssignError> + Send + 'static,
{
    fn assign(
        &mut self,
        record: &T,
        ctx: &Context,
        bucket: &mut String,
    ) -> Result<(), AssignError> {
        self(record, ctx, bucket)
    }
}

/// Every record in the base directory itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct BasePathBucketAssigner;

impl<T> BucketAssigner<T> for BasePathBucketAssigner {
    fn assign(&mut self, _: &T, _: &Context, _: &mut String) -> Result<(), AssignError> {
        Ok(())
    }
}

/// Which clock a [`DateTimeBucketAssigner`] reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeSource {
    /// The wall clock when the record is written (Flink's default).
    #[default]
    Processing,
    /// The record's event timestamp.
    Event,
}

/// The default format, as in Flink: one bucket per hour.
pub const DEFAULT_DATE_TIME_FORMAT: &str = "yyyy-MM-dd--HH";

/// Buckets by a date-time: processing time (default, as in Flink) or the record's event time,
/// formatted with a Java/Flink pattern (default `yyyy-MM-dd--HH`) or strftime, in a time zone
/// (default UTC; Flink uses the machine's zone, which makes output depend on where a job runs:
/// choose [`TimeZone::Local`] for that).
///
/// ```
/// use sink_core::sink::{BucketAssigner, Context, DateTimeBucketAssigner};
/// let mut a = DateTimeBucketAssigner::new()
///     .with_format("'dt='yyyy-MM-dd'/hour='HH").unwrap()
///     .with_time_zone("Asia/Tokyo".parse().unwrap())
///     .with_event_time();
/// let ctx = Context { timestamp: Some(1_764_000_000_000), ..Context::default() };
/// let mut bucket = String::new();
/// a.assign(&(), &ctx, &mut bucket).unwrap();
/// assert_eq!(bucket, "dt=2025-11-25/hour=01");
/// ```
#[derive(Clone, Debug)]
pub struct DateTimeBucketAssigner {
    formatter: CachedFormatter,
    time: TimeSource,
}

impl Default for DateTimeBucketAssigner {
    fn default() -> Self {
        Self::new()
    }
}

impl DateTimeBucketAssigner {
    /// Hourly buckets `yyyy-MM-dd--HH` on processing time in UTC.
    pub fn new() -> Self {
        DateTimeBucketAssigner {
            formatter: CachedFormatter::new(
                DateTimeFormat::parse(DEFAULT_DATE_TIME_FORMAT).expect("default format"),
                TimeZone::Utc,
            ),
            time: TimeSource::Processing,
        }
    }

    /// Uses another format: a Java/Flink pattern or strftime (anything with a `%`).
    pub fn with_format(self, format: &str) -> Result<Self, String> {
        let f = DateTimeFormat::parse(format)?;
        check_static_text(&f)?;
        Ok(DateTimeBucketAssigner {
            formatter: CachedFormatter::new(f, self.formatter.zone()),
            ..self
        })
    }

    /// Formats in another zone.
    pub fn with_time_zone(self, zone: TimeZone) -> Self {
        DateTimeBucketAssigner {
            formatter: CachedFormatter::new(self.formatter.format().clone(), zone),
            ..self
        }
    }

    /// Buckets by the record's event timestamp; a record without one is a bad record.
    pub fn with_event_time(self) -> Self {
        self.with_time_source(TimeSource::Event)
    }

    /// Chooses the clock.
    pub fn with_time_source(self, time: TimeSource) -> Self {
        DateTimeBucketAssigner { time, ..self }
    }

    /// The clock in use.
    pub fn time_source(&self) -> TimeSource {
        self.time
    }

    /// The format in use.
    pub fn format(&self) -> &DateTimeFormat {
        self.formatter.format()
    }
}

/// A format's literal text must not make a bucket leave the root: try it on one instant.
fn check_static_text(f: &DateTimeFormat) -> Result<(), String> {
    let mut s = String::new();
    f.write(0, TimeZone::Utc, &mut s);
    if s.is_empty() {
        return Ok(());
    }
    crate::fs::RelPath::parse(&s)
        .map(|_| ())
        .map_err(|e| format!("format {:?} makes invalid bucket ids: {e}", f.source()))
}

impl<T> BucketAssigner<T> for DateTimeBucketAssigner {
    fn assign(&mut self, _: &T, ctx: &Context, bucket: &mut String) -> Result<(), AssignError> {
        let ts = match self.time {
            TimeSource::Processing => ctx.processing_time,
            TimeSource::Event => ctx.timestamp.ok_or_else(|| {
                AssignError("record has no event timestamp for the date-time bucket".into())
            })?,
        };
        if self.formatter.write(ts, bucket) {
            Ok(())
        } else {
            Err(AssignError(format!(
                "timestamp {ts} is out of the range of dates"
            )))
        }
    }
}

/// The value Hive, Spark and Trino use for a null or empty partition value.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Buckets by the values of fields, as `v1/v2` or Hive-style `k1=v1/k2=v2`.
///
/// Values are escaped as Hive escapes partition values ([`escape_path_value`]), so any data gives a
/// safe, readable directory. A null or empty value goes to `__HIVE_DEFAULT_PARTITION__`; a missing
/// field makes the record a bad record.
#[derive(Clone, Debug)]
pub struct FieldBucketAssigner {
    fields: Vec<String>,
    hive: bool,
}

impl FieldBucketAssigner {
    /// Buckets by these fields, Hive style (`name=value`).
    pub fn hive(fields: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, String> {
        Self::build(fields, true)
    }

    /// Buckets by these fields' plain values (`value1/value2`).
    pub fn values(fields: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, String> {
        Self::build(fields, false)
    }

    fn build(
        fields: impl IntoIterator<Item = impl Into<String>>,
        hive: bool,
    ) -> Result<Self, String> {
        let fields: Vec<String> = fields.into_iter().map(Into::into).collect();
        if fields.is_empty() {
            return Err("field bucketing needs at least one field".into());
        }
        for f in &fields {
            if f.is_empty() || f.contains('/') || f.contains('=') || f.chars().any(char::is_control)
            {
                return Err(format!("field name {f:?} cannot name a directory"));
            }
        }
        Ok(FieldBucketAssigner { fields, hive })
    }

    /// The fields.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

impl<T: FieldAccess> BucketAssigner<T> for FieldBucketAssigner {
    fn assign(&mut self, record: &T, _: &Context, bucket: &mut String) -> Result<(), AssignError> {
        for (i, name) in self.fields.iter().enumerate() {
            if i > 0 {
                bucket.push('/');
            }
            if self.hive {
                escape_path_value(name, bucket);
                bucket.push('=');
            }
            let value = record
                .field(name)
                .ok_or_else(|| AssignError(format!("missing field `{name}` for bucketing")))?;
            write_partition_value(&value, bucket);
        }
        Ok(())
    }
}

fn write_partition_value(value: &FieldValue<'_>, out: &mut String) {
    match value {
        FieldValue::Str(s) if !s.is_empty() => escape_path_value(s, out),
        FieldValue::Null | FieldValue::Str(_) => out.push_str(HIVE_DEFAULT_PARTITION),
        other => {
            let mut s = String::new();
            other.write_to(&mut s);
            escape_path_value(&s, out);
        }
    }
}

/// Appends `value` escaped as Hive escapes partition values: `%XX` for control characters and
/// `"#%'*/:=?\{[]^` and DEL. A leading `.` is escaped too, so no value makes a hidden, `.` or `..`
/// directory. Values longer than 200 bytes are cut (on a character boundary) and end with `~`
/// followed by a hash of the whole value, keeping directory names within file-system limits.
pub fn escape_path_value(value: &str, out: &mut String) {
    const MAX: usize = 200;
    let start = out.len();
    for (i, c) in value.char_indices() {
        let escape = matches!(
            c,
            '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
        ) || c.is_control()
            || (i == 0 && c == '.');
        if escape {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push('%');
                out.push(
                    char::from_digit((b >> 4) as u32, 16)
                        .unwrap()
                        .to_ascii_uppercase(),
                );
                out.push(
                    char::from_digit((b & 15) as u32, 16)
                        .unwrap()
                        .to_ascii_uppercase(),
                );
            }
        } else {
            out.push(c);
        }
    }
    if out.len() - start > MAX {
        let mut cut = start + MAX - 17;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let h = fnv1a(value.as_bytes());
        out.push('~');
        out.push_str(&format!("{h:016x}"));
    }
}

/// FNV-1a, 64 bits: a stable hash that does not change between releases or machines.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Several assigners, their ids joined with `/` (for example a date then a field:
/// `dt=2026-11-24/country=DE`). Empty ids are skipped.
pub struct ChainedBucketAssigner<T> {
    parts: Vec<Box<dyn BucketAssigner<T>>>,
}

impl<T> ChainedBucketAssigner<T> {
    /// Joins these assigners, in order.
    pub fn new(parts: Vec<Box<dyn BucketAssigner<T>>>) -> Self {
        ChainedBucketAssigner { parts }
    }
}

impl<T: 'static> BucketAssigner<T> for ChainedBucketAssigner<T> {
    fn assign(
        &mut self,
        record: &T,
        ctx: &Context,
        bucket: &mut String,
    ) -> Result<(), AssignError> {
        for part in &mut self.parts {
            let before = bucket.len();
            if before > 0 {
                bucket.push('/');
            }
            let mark = bucket.len();
            part.assign(record, ctx, bucket)?;
            if bucket.len() == mark {
                bucket.truncate(before);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RelPath;
    use serde_json::json;

    fn assign<T, A: BucketAssigner<T>>(
        a: &mut A,
        r: &T,
        ctx: &Context,
    ) -> Result<String, AssignError> {
        let mut s = String::new();
        a.assign(r, ctx, &mut s).map(|_| s)
    }

    #[test]
    fn date_time_defaults_are_flinks() {
        let mut a = DateTimeBucketAssigner::new();
        assert_eq!(a.time_source(), TimeSource::Processing);
        assert_eq!(a.format().source(), "yyyy-MM-dd--HH");
        let ctx = Context {
            processing_time: 1_764_000_000_000, // 2025-11-24T16:00:00Z
            timestamp: Some(0),
            watermark: None,
        };
        assert_eq!(assign(&mut a, &(), &ctx).unwrap(), "2025-11-24--16");
        let mut e = DateTimeBucketAssigner::new().with_event_time();
        assert_eq!(assign(&mut e, &(), &ctx).unwrap(), "1970-01-01--00");
        let no_ts = Context {
            timestamp: None,
            ..ctx
        };
        assert!(assign(&mut e, &(), &no_ts)
            .unwrap_err()
            .0
            .contains("no event timestamp"));
    }

    #[test]
    fn date_time_formats_and_zones() {
        let ts = 1_764_000_000_000; // 2025-11-24T16:00:00Z
        let table = [
            ("yyyy-MM-dd--HH", "UTC", "2025-11-24--16"),
            ("yyyy-MM-dd--HH", "America/Los_Angeles", "2025-11-24--08"),
            ("%Y/%m/%d/%H", "Asia/Kolkata", "2025/11/24/21"),
            (
                "'dt='yyyy-MM-dd'/hour='HH",
                "+14:00",
                "dt=2025-11-25/hour=06",
            ),
            ("yyyyMMdd", "-12:00", "20251124"),
        ];
        for (fmt, zone, want) in table {
            let mut a = DateTimeBucketAssigner::new()
                .with_format(fmt)
                .unwrap()
                .with_time_zone(zone.parse().unwrap())
                .with_event_time();
            let ctx = Context {
                timestamp: Some(ts),
                ..Context::default()
            };
            assert_eq!(assign(&mut a, &(), &ctx).unwrap(), want, "{fmt} {zone}");
        }
        assert!(DateTimeBucketAssigner::new()
            .with_format("'../'yyyy")
            .is_err());
        assert!(DateTimeBucketAssigner::new()
            .with_format("'/abs/'yyyy")
            .is_err());
    }

    #[test]
    fn field_assigner_escapes_hostile_values() {
        let mut hive = FieldBucketAssigner::hive(["country", "n"]).unwrap();
        let mut plain = FieldBucketAssigner::values(["country"]).unwrap();
        let ctx = Context::default();
        let table = [
            (json!({"country": "DE", "n": 5}), "country=DE/n=5", "DE"),
            (
                json!({"country": "../../etc", "n": 1}),
                "country=%2E.%2F..%2Fetc/n=1",
                "%2E.%2F..%2Fetc",
            ),
            (
                json!({"country": "/abs", "n": 1}),
                "country=%2Fabs/n=1",
                "%2Fabs",
            ),
            (json!({"country": "..", "n": 1}), "country=%2E./n=1", "%2E."),
            (json!({"country": ".", "n": 1}), "country=%2E/n=1", "%2E"),
            (
                json!({"country": "a=b/c", "n": -2}),
                "country=a%3Db%2Fc/n=-2",
                "a%3Db%2Fc",
            ),
            (
                json!({"country": "x\ny\u{0}", "n": 1.5}),
                "country=x%0Ay%00/n=1.5",
                "x%0Ay%00",
            ),
            (
                json!({"country": null, "n": true}),
                "country=__HIVE_DEFAULT_PARTITION__/n=true",
                "__HIVE_DEFAULT_PARTITION__",
            ),
            (
                json!({"country": "", "n": 0}),
                "country=__HIVE_DEFAULT_PARTITION__/n=0",
                "__HIVE_DEFAULT_PARTITION__",
            ),
            (
                json!({"country": "Zürich", "n": 0}),
                "country=Zürich/n=0",
                "Zürich",
            ),
        ];
        for (rec, want_hive, want_plain) in table {
            let h = assign(&mut hive, &rec, &ctx).unwrap();
            assert_eq!(h, want_hive, "{rec}");
            assert!(RelPath::parse(&h).is_ok(), "{h}");
            let p = assign(&mut plain, &rec, &ctx).unwrap();
            assert_eq!(p, want_plain, "{rec}");
            assert!(RelPath::parse(&p).is_ok(), "{p}");
        }
        let err = assign(&mut hive, &json!({"n": 1}), &ctx).unwrap_err();
        assert!(err.0.contains("missing field `country`"), "{err}");
        assert!(FieldBucketAssigner::hive(Vec::<String>::new()).is_err());
        assert!(FieldBucketAssigner::hive(["a/b"]).is_err());
    }

    #[test]
    fn long_values_are_cut_with_a_hash() {
        let long = "é".repeat(300);
        let mut out = String::new();
        escape_path_value(&long, &mut out);
        assert!(out.len() <= 200, "{}", out.len());
        assert!(RelPath::parse(&out).is_ok());
        let mut other = String::new();
        escape_path_value(&format!("{long}x"), &mut other);
        assert_ne!(out, other, "distinct long values stay distinct");
    }

    #[test]
    fn chained_assigner_joins_and_skips_empty() {
        let mut a: ChainedBucketAssigner<serde_json::Value> = ChainedBucketAssigner::new(vec![
            Box::new(
                DateTimeBucketAssigner::new()
                    .with_format("'dt='yyyy-MM-dd")
                    .unwrap()
                    .with_event_time(),
            ),
            Box::new(BasePathBucketAssigner),
            Box::new(FieldBucketAssigner::hive(["c"]).unwrap()),
        ]);
        let ctx = Context {
            timestamp: Some(0),
            ..Context::default()
        };
        assert_eq!(
            assign(&mut a, &json!({"c": "x"}), &ctx).unwrap(),
            "dt=1970-01-01/c=x"
        );
    }

    #[test]
    fn closures_are_assigners() {
        let mut a = |r: &u32, _: &Context, b: &mut String| -> Result<(), AssignError> {
            b.push_str(if r % 2 == 0 { "even" } else { "odd" });
            Ok(())
        };
        assert_eq!(assign(&mut a, &3, &Context::default()).unwrap(), "odd");
    }
}
