//! [`BucketingSinkConfig`]: the `[sink]` table of a job file with `api = "bucketing"`, Flink 1.9
//! `BucketingSink`'s keys under their names, and [`LegacyDuration`], its durations.

use std::fmt;
use std::fmt::Display;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{
    BasePathBucketer, BucketingSink, DateTimeBucketer, StringWriter,
    DEFAULT_BATCH_ROLLOVER_INTERVAL, DEFAULT_BATCH_SIZE, DEFAULT_DATE_TIME_FORMAT,
    DEFAULT_IN_PROGRESS_SUFFIX, DEFAULT_PART_PREFIX, DEFAULT_PENDING_SUFFIX,
    DEFAULT_VALID_LENGTH_SUFFIX,
};
use crate::error::{Error, Result};
use crate::fs::LegacyNaming;
use crate::sink::TimeZone;
use crate::units::{ByteSize, HumanDuration};

/// `api = "bucketing"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketingApi {
    /// Flink 1.9's `BucketingSink`.
    Bucketing,
}

/// Flink's bucketers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketerName {
    /// `DateTimeBucketer`.
    #[default]
    DateTime,
    /// `BasePathBucketer`.
    BasePath,
}

/// Flink's writers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriterName {
    /// `StringWriter`.
    #[default]
    String,
    /// `SequenceFileWriter` (connector-sequencefile; its settings in `sequence_file`).
    SequenceFile,
}

/// A duration of a `BucketingSink` key: a [`HumanDuration`] (`"60s"`, `"20m"`), or a number of
/// milliseconds, as Flink's setters take them; `"never"` (and `Long.MAX_VALUE` milliseconds, Flink's
/// "never") is `None`, which only `batch_rollover_interval` accepts in the end. Serialised as a
/// duration string or `"never"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegacyDuration(pub Option<Duration>);

impl LegacyDuration {
    fn millis(m: u64) -> Self {
        // Long.MAX_VALUE, Flink's "never", and anything as large.
        if m >= i64::MAX as u64 {
            LegacyDuration(None)
        } else {
            LegacyDuration(Some(Duration::from_millis(m)))
        }
    }
}

impl<'de> Deserialize<'de> for LegacyDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LegacyDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"60s\", a number of milliseconds, or \"never\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<LegacyDuration, E> {
                if s.trim() == "never" {
                    return Ok(LegacyDuration(None));
                }
                HumanDuration::parse(s)
                    .map(|d| LegacyDuration(Some(d.0)))
                    .map_err(|e| {
                        E::custom(format!("{e}; or a number of milliseconds, or \"never\""))
                    })
            }
            fn visit_u64<E: de::Error>(self, m: u64) -> std::result::Result<LegacyDuration, E> {
                Ok(LegacyDuration::millis(m))
            }
            fn visit_i64<E: de::Error>(self, m: i64) -> std::result::Result<LegacyDuration, E> {
                u64::try_from(m).map(LegacyDuration::millis).map_err(|_| {
                    E::custom(format!(
                        "{m} is not a duration: milliseconds cannot be negative"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for LegacyDuration {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_str("never"),
            Some(d) => s.collect_str(&HumanDuration(d)),
        }
    }
}

/// The size of a `BucketingSink` key (`batch_size`): the same [`ByteSize`] as every other size.
pub type LegacySize = ByteSize;

/// The `[sink]` table of a job file with `api = "bucketing"`: Flink 1.9 `BucketingSink`'s settings
/// under their names. Every key but `path` is optional and defaults to Flink's value.
///
/// | key | default | |
/// | --- | --- | --- |
/// | `api` | | `"bucketing"` |
/// | `path` | required | the base directory |
/// | `bucketer` | `"date-time"` | `"date-time"` (`DateTimeBucketer`) or `"base-path"` (`BasePathBucketer`) |
/// | `date_time_format` | `"yyyy-MM-dd--HH"` | of `"date-time"`: a Java pattern or strftime |
/// | `timezone` | `"UTC"` | of `"date-time"`: `"UTC"`, `"local"` (Flink's choice), `"+05:30"`, `"Europe/Berlin"` |
/// | `writer` | `"string"` | `"string"` (`StringWriter`: the record's text and a newline) or `"sequence-file"` (`SequenceFileWriter`, set up by `[sink.sequence_file]`) |
/// | `sequence_file` | | the `[sink.sequence_file]` table, for `writer = "sequence-file"` (connector-sequencefile's `SequenceFileConfig`) |
/// | `batch_size` | `"384MiB"` | a part larger than this rolls |
/// | `batch_rollover_interval` | `"never"` | a part older than this rolls |
/// | `inactive_bucket_check_interval` | `"60s"` | how often age and inactivity are checked |
/// | `inactive_bucket_threshold` | `"60s"` | a part without a record for this long rolls |
/// | `part_prefix` | `"part"` | |
/// | `part_suffix` | none | |
/// | `in_progress_prefix`, `in_progress_suffix` | `"_"`, `".in-progress"` | |
/// | `pending_prefix`, `pending_suffix` | `"_"`, `".pending"` | |
/// | `valid_length_prefix`, `valid_length_suffix` | `"_"`, `".valid-length"` | accepted; never written (Spillway truncates) |
/// | `async_timeout` | `"60s"` | accepted; storage calls are retried with backoff instead |
///
/// Sizes and durations take the grammar of every job file key (`crate::units`); durations also
/// take numbers of milliseconds ([`LegacyDuration`]). Config errors name the key relative to the
/// table (`date_time_format`); a program reading a job file puts `sink.` in front.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketingSinkConfig {
    /// `"bucketing"` (optional when the caller already chose this form by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<BucketingApi>,
    /// The base directory.
    pub path: String,
    /// The bucketer.
    #[serde(default)]
    pub bucketer: BucketerName,
    /// The format of `"date-time"`.
    #[serde(default = "default_date_time_format")]
    pub date_time_format: String,
    /// The zone of `"date-time"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The writer.
    #[serde(default)]
    pub writer: WriterName,
    /// The `[sink.sequence_file]` table, read by connector-sequencefile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_file: Option<serde_json::Value>,
    /// Flink's `batchSize`.
    #[serde(default = "default_batch_size")]
    pub batch_size: ByteSize,
    /// Flink's `batchRolloverInterval`.
    #[serde(default = "never")]
    pub batch_rollover_interval: LegacyDuration,
    /// Flink's `inactiveBucketCheckInterval`.
    #[serde(default = "sixty_seconds")]
    pub inactive_bucket_check_interval: LegacyDuration,
    /// Flink's `inactiveBucketThreshold`.
    #[serde(default = "sixty_seconds")]
    pub inactive_bucket_threshold: LegacyDuration,
    /// Flink's `partPrefix`.
    #[serde(default = "default_part_prefix")]
    pub part_prefix: String,
    /// Flink's `partSuffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_suffix: Option<String>,
    /// Flink's `inProgressPrefix`.
    #[serde(default = "underscore")]
    pub in_progress_prefix: String,
    /// Flink's `inProgressSuffix`.
    #[serde(default = "in_progress_suffix")]
    pub in_progress_suffix: String,
    /// Flink's `pendingPrefix`.
    #[serde(default = "underscore")]
    pub pending_prefix: String,
    /// Flink's `pendingSuffix`.
    #[serde(default = "pending_suffix")]
    pub pending_suffix: String,
    /// Flink's `validLengthPrefix` (unused).
    #[serde(default = "underscore")]
    pub valid_length_prefix: String,
    /// Flink's `validLengthSuffix` (unused).
    #[serde(default = "valid_length_suffix")]
    pub valid_length_suffix: String,
    /// Flink's `asyncTimeout` (unused).
    #[serde(default = "sixty_seconds")]
    pub async_timeout: LegacyDuration,
}

fn default_date_time_format() -> String {
    DEFAULT_DATE_TIME_FORMAT.into()
}
fn default_batch_size() -> ByteSize {
    ByteSize(DEFAULT_BATCH_SIZE)
}
fn never() -> LegacyDuration {
    LegacyDuration(DEFAULT_BATCH_ROLLOVER_INTERVAL)
}
fn sixty_seconds() -> LegacyDuration {
    LegacyDuration(Some(Duration::from_secs(60)))
}
fn default_part_prefix() -> String {
    DEFAULT_PART_PREFIX.into()
}
fn underscore() -> String {
    "_".into()
}
fn in_progress_suffix() -> String {
    DEFAULT_IN_PROGRESS_SUFFIX.into()
}
fn pending_suffix() -> String {
    DEFAULT_PENDING_SUFFIX.into()
}
fn valid_length_suffix() -> String {
    DEFAULT_VALID_LENGTH_SUFFIX.into()
}

impl BucketingSinkConfig {
    /// A config with every default and this base directory.
    pub fn new(path: impl Into<String>) -> Self {
        BucketingSinkConfig {
            api: None,
            path: path.into(),
            bucketer: BucketerName::default(),
            date_time_format: default_date_time_format(),
            timezone: None,
            writer: WriterName::default(),
            sequence_file: None,
            batch_size: default_batch_size(),
            batch_rollover_interval: never(),
            inactive_bucket_check_interval: sixty_seconds(),
            inactive_bucket_threshold: sixty_seconds(),
            part_prefix: default_part_prefix(),
            part_suffix: None,
            in_progress_prefix: underscore(),
            in_progress_suffix: in_progress_suffix(),
            pending_prefix: underscore(),
            pending_suffix: pending_suffix(),
            valid_length_prefix: underscore(),
            valid_length_suffix: valid_length_suffix(),
            async_timeout: sixty_seconds(),
        }
    }

    /// The builder with every setting of this config, writing under `path` on local disk. With
    /// `writer = "string"` the writer is a [`StringWriter`]; with `"sequence-file"` none is set:
    /// set connector-sequencefile's `SequenceFileWriter` (built from `sequence_file`) on it.
    pub fn builder<T: Display + Send + 'static>(&self) -> Result<BucketingSink<T>> {
        let path = self.path.strip_prefix("file://").unwrap_or(&self.path);
        let sink = self.apply(BucketingSink::new(path))?;
        Ok(match self.writer {
            WriterName::String => sink.writer(StringWriter::new()),
            WriterName::SequenceFile => sink,
        })
    }

    /// The names of unpublished parts: `in_progress_*` and `pending_*`.
    pub fn legacy_naming(&self) -> LegacyNaming {
        LegacyNaming {
            in_progress_prefix: self.in_progress_prefix.clone(),
            in_progress_suffix: self.in_progress_suffix.clone(),
            pending_prefix: self.pending_prefix.clone(),
            pending_suffix: self.pending_suffix.clone(),
        }
    }

    /// Applies every setting but the target and the writer to `sink`.
    pub fn apply<T: Send + 'static>(&self, sink: BucketingSink<T>) -> Result<BucketingSink<T>> {
        if self.sequence_file.is_some() && self.writer != WriterName::SequenceFile {
            return Err(Error::config(
                "sequence_file",
                "only applies to writer = \"sequence-file\"",
            ));
        }
        let check = self.inactive_bucket_check_interval.0.ok_or_else(|| {
            Error::config(
                "inactive_bucket_check_interval",
                "must be a duration, not \"never\"",
            )
        })?;
        if check.is_zero() {
            return Err(Error::config(
                "inactive_bucket_check_interval",
                "must be longer than 0",
            ));
        }
        let threshold = self.inactive_bucket_threshold.0.ok_or_else(|| {
            Error::config(
                "inactive_bucket_threshold",
                "must be a duration, not \"never\"",
            )
        })?;
        let mut sink = match self.bucketer {
            BucketerName::BasePath => sink.bucketer(BasePathBucketer),
            BucketerName::DateTime => {
                let mut b = DateTimeBucketer::new()
                    .with_format(&self.date_time_format)
                    .map_err(|e| Error::config("date_time_format", e))?;
                if let Some(z) = &self.timezone {
                    let zone: TimeZone = z
                        .parse()
                        .map_err(|e: String| Error::config("timezone", e))?;
                    b = b.with_time_zone(zone);
                }
                sink.bucketer(b)
            }
        };
        if self.timezone.is_some() && self.bucketer != BucketerName::DateTime {
            return Err(Error::config(
                "timezone",
                "only applies to bucketer = \"date-time\"",
            ));
        }
        sink = sink
            .batch_size(self.batch_size.0)
            .inactive_bucket_check_interval(check)
            .inactive_bucket_threshold(threshold)
            .part_prefix(&self.part_prefix)
            .in_progress_prefix(&self.in_progress_prefix)
            .in_progress_suffix(&self.in_progress_suffix)
            .pending_prefix(&self.pending_prefix)
            .pending_suffix(&self.pending_suffix)
            .valid_length_prefix(&self.valid_length_prefix)
            .valid_length_suffix(&self.valid_length_suffix);
        if let Some(r) = self.batch_rollover_interval.0 {
            sink = sink.batch_rollover_interval(r);
        }
        if let Some(s) = &self.part_suffix {
            sink = sink.part_suffix(s);
        }
        if let Some(t) = self.async_timeout.0 {
            sink = sink.async_timeout(t);
        }
        Ok(sink)
    }
}
