//! The job file: TOML, every table with `deny_unknown_fields`, so a typo is an error that names the
//! key, never a silent default.
//!
//! The reference of every key is in the README ("Job file reference"). Durations are strings with a
//! unit (`"10s"`, `"250ms"`, `"5m"`); sizes are bytes or strings with a unit (`"128MiB"`, `"64MB"`).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use sink_core::runtime::{BadRecordPolicy, CheckpointConfig, GeneratorConfig};
use sink_core::{Error, Result};

/// A whole job file.
#[derive(Clone, Debug)]
pub struct JobFile {
    /// `[job]`
    pub job: JobSection,
    /// `[source]`
    pub source: SourceSection,
    /// `[sink]`
    pub sink: SinkTable,
    /// `[checkpoint]`
    pub checkpoint: CheckpointSection,
}

/// The tables of a job file, with `[sink]` as `S`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobFile<S> {
    job: JobSection,
    source: SourceSection,
    sink: S,
    checkpoint: CheckpointSection,
}

/// `[sink]`, in one of its two forms, chosen by `api`.
#[derive(Clone, Debug)]
pub enum SinkTable {
    /// `api = "file"` (the default): Flink's `FileSink`.
    File(Box<SinkSection>),
    /// `api = "bucketing"`: Flink 1.9's `BucketingSink`, its settings under their names.
    Bucketing(Box<BucketingSinkSection>),
}

/// `[sink]` with `api = "bucketing"`: Flink 1.9 `BucketingSink`'s keys (see
/// `sink_core::sink::bucketing::BucketingSinkConfig`), plus the storage tables of `path`.
#[derive(Clone, Debug)]
pub struct BucketingSinkSection {
    /// Every key of the legacy sink.
    pub config: sink_core::sink::bucketing::BucketingSinkConfig,
    /// `[sink.object_store]`.
    #[cfg(feature = "object-store")]
    pub object_store: Option<connector_object_store::ObjectStoreOptions>,
    /// `[sink.hdfs]`.
    #[cfg(feature = "hdfs")]
    pub hdfs: Option<connector_hdfs::HdfsOptions>,
}

impl SinkTable {
    /// The output directory (or URL).
    pub fn path(&self) -> &str {
        match self {
            SinkTable::File(s) => &s.path,
            SinkTable::Bucketing(b) => &b.config.path,
        }
    }

    /// The file-sink form, if it is that.
    pub fn file(&self) -> Option<&SinkSection> {
        match self {
            SinkTable::File(s) => Some(s.as_ref()),
            SinkTable::Bucketing(_) => None,
        }
    }
}

/// Removes `[sink.{key}]` from the sink table and reads it.
#[allow(dead_code)] // unused in builds without the storage features
fn take_table<T: serde::de::DeserializeOwned>(
    sink: &mut toml::Table,
    key: &str,
    origin: &str,
) -> Result<Option<T>> {
    sink.remove(key)
        .map(|v| {
            v.try_into().map_err(|e: toml::de::Error| Error::Config {
                field: format!("{origin}: [sink.{key}]"),
                message: e.message().to_string(),
            })
        })
        .transpose()
}

/// The sink APIs of `[sink] api`.
const SINK_APIS: &str =
    "\"file\" (Flink's FileSink, the default) or \"bucketing\" (Flink 1.9's BucketingSink)";

impl JobFile {
    /// Parses a job file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let syntax = |e: toml::de::Error| Error::Config {
            field: origin.to_string(),
            message: format!("\n{e}"),
        };
        let doc: toml::Table = toml::from_str(text).map_err(syntax)?;
        let api = doc
            .get("sink")
            .and_then(|s| s.get("api"))
            .map(|a| a.as_str().map(str::to_string).ok_or(a.clone()));
        match api {
            None => Self::parse_file_form(text, origin, false),
            Some(Ok(a)) if a == "file" => Self::parse_file_form(text, origin, true),
            Some(Ok(a)) if a == "bucketing" => {
                let raw: RawJobFile<toml::Table> = toml::from_str(text).map_err(syntax)?;
                let mut t = raw.sink;
                let in_sink = |e: toml::de::Error| Error::Config {
                    field: format!("{origin}: [sink]"),
                    message: e.message().to_string(),
                };
                #[cfg(feature = "object-store")]
                let object_store = take_table(&mut t, "object_store", origin)?;
                #[cfg(feature = "hdfs")]
                let hdfs = take_table(&mut t, "hdfs", origin)?;
                let config = toml::Value::Table(t).try_into().map_err(in_sink)?;
                Ok(JobFile {
                    job: raw.job,
                    source: raw.source,
                    sink: SinkTable::Bucketing(Box::new(BucketingSinkSection {
                        config,
                        #[cfg(feature = "object-store")]
                        object_store,
                        #[cfg(feature = "hdfs")]
                        hdfs,
                    })),
                    checkpoint: raw.checkpoint,
                })
            }
            Some(Ok(a)) => Err(Error::config(
                "sink.api",
                format!("unknown API {a:?}: {SINK_APIS}"),
            )),
            Some(Err(v)) => Err(Error::config(
                "sink.api",
                format!("{v}: expected {SINK_APIS}"),
            )),
        }
    }

    fn parse_file_form(text: &str, origin: &str, drop_api: bool) -> Result<Self> {
        let syntax = |e: toml::de::Error| Error::Config {
            field: origin.to_string(),
            message: format!("\n{e}"),
        };
        let raw: RawJobFile<SinkSection> = if drop_api {
            let mut doc: toml::Table = toml::from_str(text).map_err(syntax)?;
            if let Some(toml::Value::Table(s)) = doc.get_mut("sink") {
                s.remove("api");
            }
            toml::Value::Table(doc).try_into().map_err(syntax)?
        } else {
            toml::from_str(text).map_err(syntax)?
        };
        Ok(JobFile {
            job: raw.job,
            source: raw.source,
            sink: SinkTable::File(Box::new(raw.sink)),
            checkpoint: raw.checkpoint,
        })
    }

    /// Reads and parses a job file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("read job file", path.display(), e))?;
        Self::parse(&text, &path.display().to_string())
    }
}

/// `[job]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    /// The job's name (in logs, metrics and checkpoints).
    pub name: String,
    /// Subtasks in this process. Default 1.
    #[serde(default = "one")]
    pub parallelism: usize,
    /// `fail` (default), `skip` or `dead-letter`.
    #[serde(default)]
    pub on_bad_record: OnBadRecord,
    /// Records per batch between source and sink. Default 1024.
    #[serde(default)]
    pub batch_size: Option<usize>,
}

fn one() -> usize {
    1
}

/// The bad-record policy as written in job files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnBadRecord {
    /// Stop with a message naming the record.
    #[default]
    Fail,
    /// Count and go on.
    Skip,
    /// Write to the dead-letter bucket, count and go on.
    DeadLetter,
}

impl From<OnBadRecord> for BadRecordPolicy {
    fn from(p: OnBadRecord) -> Self {
        match p {
            OnBadRecord::Fail => BadRecordPolicy::Fail,
            OnBadRecord::Skip => BadRecordPolicy::Skip,
            OnBadRecord::DeadLetter => BadRecordPolicy::DeadLetter,
        }
    }
}

/// `[source]`, chosen by `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceSection {
    /// `type = "generator"`: deterministic e-commerce events.
    Generator(GeneratorSection),
    /// `type = "kafka"`: topics of a Kafka cluster (see `connector_kafka::config` for every key).
    #[cfg(feature = "kafka")]
    Kafka(connector_kafka::KafkaSourceConfig),
}

/// `[source]` with `type = "generator"`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSection {
    /// Independent sequences. Default 4. Keep it fixed for the life of a job.
    pub splits: Option<u32>,
    /// Events in all; omit to run until stopped.
    pub count: Option<u64>,
    /// Events per second over all splits; omit for as fast as possible.
    pub rate: Option<f64>,
    /// Event time of the first event: RFC 3339. Default 2026-11-24T00:00:00Z.
    pub start: Option<String>,
    /// Event time between consecutive events. Default "100ms".
    pub step: Option<HumanDuration>,
    /// Distinct users. Default 100000.
    pub users: Option<u64>,
    /// Distinct items. Default 1000000.
    pub items: Option<u64>,
    /// Distinct categories. Default 1000.
    pub categories: Option<u64>,
}

impl GeneratorSection {
    /// The generator's settings.
    pub fn to_config(&self) -> Result<GeneratorConfig> {
        let d = GeneratorConfig::default();
        let start_millis = match &self.start {
            None => d.start_millis,
            Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    Error::config(
                        "source.start",
                        format!("{s:?} is not an RFC 3339 time like 2026-11-24T00:00:00Z: {e}"),
                    )
                })?
                .timestamp_millis(),
        };
        let c = GeneratorConfig {
            splits: self.splits.unwrap_or(d.splits),
            count: self.count,
            rate: self.rate,
            start_millis,
            step: self.step.map_or(d.step, |s| s.0),
            users: self.users.unwrap_or(d.users),
            items: self.items.unwrap_or(d.items),
            categories: self.categories.unwrap_or(d.categories),
        };
        c.validate()?;
        Ok(c)
    }
}

/// `[sink]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// The output directory (or URL of a target).
    pub path: String,
    /// `json` (JSON lines), `lines` (text), `csv`, `parquet` or `sequence-file`.
    pub format: FormatName,
    /// Part file name prefix. Default `part`.
    pub part_prefix: Option<String>,
    /// Part file name suffix. Default: the format's (`.json`, `.txt`, `.csv`, `.parquet`, `.seq`).
    pub part_suffix: Option<String>,
    /// How often time-based rolling is checked. Default "60s".
    pub bucket_check_interval: Option<HumanDuration>,
    /// Bytes a row part buffers before writing. Default "256KiB".
    pub write_buffer_size: Option<ByteSize>,
    /// Memory all open parts of a subtask may hold. Default "256MiB".
    pub memory_budget: Option<ByteSize>,
    /// Bucket of dead letters. Default `_dead_letter`.
    pub dead_letter_bucket: Option<String>,
    /// `[sink.bucketing]`. Default: hourly buckets on processing time, as in Flink.
    #[serde(default)]
    pub bucketing: Option<BucketingSection>,
    /// `[sink.rolling]`.
    #[serde(default)]
    pub rolling: RollingSection,
    /// `[sink.csv]`, for `format = "csv"`.
    #[serde(default)]
    pub csv: Option<CsvSection>,
    /// `[sink.sequence_file]`, for `format = "sequence-file"` (see `connector_sequencefile` for
    /// every key).
    #[cfg(feature = "sequencefile")]
    #[serde(default)]
    pub sequence_file: Option<connector_sequencefile::SequenceFileConfig>,
    /// `[sink.parquet]`, for `format = "parquet"`: compression, row groups, dictionary,
    /// statistics, bloom filters, dropped partition columns (see `connector_parquet`).
    #[cfg(feature = "parquet")]
    #[serde(default)]
    pub parquet: Option<connector_parquet::ParquetOptions>,
    /// `[sink.schema]`, the columns of a Parquet file: `fields = [{ name, type, ... }]`.
    #[cfg(feature = "parquet")]
    #[serde(default)]
    pub schema: Option<connector_parquet::SchemaConfig>,
    /// `[sink.hdfs]`: user, HA and other Hadoop properties, block size... for an `hdfs://` `path`
    /// (see `connector_hdfs` for every key).
    #[cfg(feature = "hdfs")]
    #[serde(default)]
    pub hdfs: Option<connector_hdfs::HdfsOptions>,
    /// `[sink.object_store]`: endpoint, region, credentials, part size... for an object-store
    /// `path` (see `connector_object_store` for every key).
    #[cfg(feature = "object-store")]
    #[serde(default)]
    pub object_store: Option<connector_object_store::ObjectStoreOptions>,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatName {
    /// One JSON object per line.
    Json,
    /// The record's text, one per line.
    Lines,
    /// Comma-separated values of named fields.
    Csv,
    /// Hadoop SequenceFile (`[sink.sequence_file]`).
    #[cfg(feature = "sequencefile")]
    SequenceFile,
    /// Apache Parquet (`[sink.schema]`, `[sink.parquet]`).
    #[cfg(feature = "parquet")]
    Parquet,
}

impl fmt::Display for FormatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatName::Json => "json",
            FormatName::Lines => "lines",
            FormatName::Csv => "csv",
            #[cfg(feature = "sequencefile")]
            FormatName::SequenceFile => "sequence-file",
            #[cfg(feature = "parquet")]
            FormatName::Parquet => "parquet",
        })
    }
}

/// Which clock date-time buckets read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeName {
    /// Wall clock at writing (Flink's default).
    #[default]
    Processing,
    /// The record's event time.
    Event,
}

/// `[sink.bucketing]`, chosen by `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum BucketingSection {
    /// Everything in the base directory.
    Base(EmptySection),
    /// A directory per formatted date-time (Flink's DateTimeBucketAssigner).
    Datetime(DatetimeBucketing),
    /// A directory per field value.
    Fields(FieldsBucketing),
    /// Hive partitions: `dt=YYYY-MM-DD/hour=HH` from time, then `key=value` from fields.
    Hive(HiveBucketing),
}

/// A table with no keys.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptySection {}

/// `type = "datetime"`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatetimeBucketing {
    /// Java/Flink pattern or strftime. Default `yyyy-MM-dd--HH`.
    pub format: Option<String>,
    /// `processing` (default) or `event`.
    #[serde(default)]
    pub time: TimeName,
    /// `UTC` (default), `local`, an offset or an IANA zone.
    pub timezone: Option<String>,
}

/// `type = "fields"`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsBucketing {
    /// Fields, in directory order.
    pub fields: Vec<String>,
    /// `name=value` directories. Default true.
    #[serde(default = "yes")]
    pub hive: bool,
}

fn yes() -> bool {
    true
}

/// `type = "hive"`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HiveBucketing {
    /// `processing` (default) or `event`.
    #[serde(default)]
    pub time: TimeName,
    /// `UTC` (default), `local`, an offset or an IANA zone.
    pub timezone: Option<String>,
    /// `hour` (default: `dt=…/hour=…`), `day` (`dt=…`) or `none` (fields only).
    #[serde(default)]
    pub granularity: Granularity,
    /// Fields after the time partitions.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// Time partitions of Hive bucketing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    /// `dt=…/hour=…`
    #[default]
    Hour,
    /// `dt=…`
    Day,
    /// No time partitions.
    None,
}

/// `[sink.rolling]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollingSection {
    /// `default` (row formats' default: size/age/inactivity) or `on-checkpoint`.
    pub policy: Option<RollingName>,
    /// Roll parts larger than this. Default "128MiB" (policy `default`).
    pub max_part_size: Option<ByteSize>,
    /// Roll parts older than this. Default "60s" (policy `default`).
    pub rollover_interval: Option<HumanDuration>,
    /// Roll parts without a record for this long. Default "60s" (policy `default`).
    pub inactivity_interval: Option<HumanDuration>,
}

/// Rolling policies by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollingName {
    /// Flink's DefaultRollingPolicy.
    Default,
    /// Flink's OnCheckpointRollingPolicy (plus optional limits).
    OnCheckpoint,
}

/// `[sink.csv]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSection {
    /// Columns (field names), in order.
    pub columns: Vec<String>,
    /// A header line in every part. Default false.
    #[serde(default)]
    pub header: bool,
    /// One character. Default ",".
    pub delimiter: Option<String>,
}

/// `[checkpoint]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Where checkpoints are kept (a directory or URL). One per worker.
    pub dir: String,
    /// Time between checkpoints. Default "10s".
    pub interval: Option<HumanDuration>,
    /// A checkpoint not complete after this long fails. Default "10m".
    pub timeout: Option<HumanDuration>,
    /// Least time between checkpoints. Default "0s".
    pub min_pause: Option<HumanDuration>,
    /// Complete checkpoints kept. Default 3.
    pub retain: Option<usize>,
    /// Consecutive failed checkpoints tolerated. Default 3.
    pub tolerable_failures: Option<u32>,
    /// `[checkpoint.hdfs]`: user, HA and other Hadoop properties, block size... for an `hdfs://` `dir`
    /// (see `connector_hdfs` for every key).
    #[cfg(feature = "hdfs")]
    #[serde(default)]
    pub hdfs: Option<connector_hdfs::HdfsOptions>,
    /// `[checkpoint.object_store]`: settings for an object-store `dir`.
    #[cfg(feature = "object-store")]
    #[serde(default)]
    pub object_store: Option<connector_object_store::ObjectStoreOptions>,
}

impl CheckpointSection {
    /// The runtime's settings.
    pub fn to_config(&self) -> Result<CheckpointConfig> {
        let d = CheckpointConfig::default();
        let c = CheckpointConfig {
            interval: self.interval.map_or(d.interval, |x| x.0),
            timeout: self.timeout.map_or(d.timeout, |x| x.0),
            min_pause: self.min_pause.map_or(d.min_pause, |x| x.0),
            retain: self.retain.unwrap_or(d.retain),
            tolerable_failures: self.tolerable_failures.unwrap_or(d.tolerable_failures),
        };
        if c.interval.is_zero() {
            return Err(Error::config(
                "checkpoint.interval",
                "must be longer than 0",
            ));
        }
        if c.timeout.is_zero() {
            return Err(Error::config("checkpoint.timeout", "must be longer than 0"));
        }
        if c.retain == 0 {
            return Err(Error::config(
                "checkpoint.retain",
                "must keep at least 1 checkpoint",
            ));
        }
        // Keys that only part files use: accepted here, they would be ignored without a word.
        #[cfg(feature = "object-store")]
        if let Some(o) = &self.object_store {
            for (key, set) in [
                ("part_size", o.part_size.is_some()),
                ("upload_concurrency", o.upload_concurrency.is_some()),
            ] {
                if set {
                    return Err(Error::config(
                        format!("checkpoint.object_store.{key}"),
                        "applies to part files only (checkpoints are single small objects): set it in [sink.object_store]",
                    ));
                }
            }
        }
        #[cfg(feature = "hdfs")]
        if self
            .hdfs
            .as_ref()
            .is_some_and(|h| h.replay_buffer.is_some())
        {
            return Err(Error::config(
                "checkpoint.hdfs.replay_buffer",
                "applies to part files only (checkpoints are written whole and synced): set it in [sink.hdfs]",
            ));
        }
        Ok(c)
    }
}

/// A duration written with a unit: `"10s"`, `"250ms"`, `"1h 30m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, like \"10s\", \"250ms\" or \"5m\"")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                s: &str,
            ) -> std::result::Result<Self::Value, E> {
                humantime::parse_duration(s.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "{s:?} is not a duration ({e}); write it with a unit, like \"10s\""
                        ))
                    })
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<Self::Value, E> {
                Err(E::custom(format!(
                    "{n} has no unit; write \"{n}s\" or \"{n}ms\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: an integer, or a string with a unit (`"128MiB"`, `"64MB"`, `"512KiB"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"128MiB"`, `"64 MB"`, `"1g"`, `"4096"`.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: f64 = num
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{s:?} is not a size like \"128MiB\""))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "k" | "kib" => 1024.0,
            "m" | "mib" => 1024.0 * 1024.0,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tib" => 1024.0f64.powi(4),
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {s:?}; use B, KiB, MiB, GiB, KB, MB or GB"
                ))
            }
        };
        let bytes = num * mult;
        if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
            return Err(format!("{s:?} is out of range"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: bytes, or a string like \"128MiB\"")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                s: &str,
            ) -> std::result::Result<Self::Value, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<Self::Value, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[job]
name = "t"
[source]
type = "generator"
[sink]
path = "lake"
format = "json"
[checkpoint]
dir = "ckpt"
"#;

    #[test]
    fn minimal_file_and_defaults() {
        let f = JobFile::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(f.job.parallelism, 1);
        assert_eq!(f.job.on_bad_record, OnBadRecord::Fail);
        assert!(f.sink.file().unwrap().bucketing.is_none());
        let c = f.checkpoint.to_config().unwrap();
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.retain, 3);
    }

    #[cfg(all(feature = "object-store", feature = "hdfs"))]
    #[test]
    fn part_file_keys_in_checkpoint_tables_are_errors() {
        for (table, key) in [
            ("object_store", "part_size = 8388608"),
            ("object_store", "upload_concurrency = 4"),
            ("hdfs", "replay_buffer = \"1MiB\""),
        ] {
            let text = format!("{MINIMAL}[checkpoint.{table}]\n{key}\n");
            let f = JobFile::parse(&text, "t.toml").unwrap();
            let e = f.checkpoint.to_config().unwrap_err().to_string();
            let name = key.split(' ').next().unwrap();
            assert!(
                e.contains(&format!("checkpoint.{table}.{name}")) && e.contains("[sink."),
                "{e}"
            );
        }
        let ok = format!("{MINIMAL}[checkpoint.object_store]\nregion = \"eu-west-1\"\n");
        JobFile::parse(&ok, "t.toml")
            .unwrap()
            .checkpoint
            .to_config()
            .unwrap();
    }

    #[test]
    fn typos_are_errors_naming_the_key() {
        let cases = [
            ("[job]\nname = \"t\"\nparalelism = 2\n", "paralelism"),
            ("[source]\ntype = \"generator\"\ncuont = 5\n", "cuont"),
            ("[source]\ntype = \"genrator\"\n", "genrator"),
            ("[sink]\npath = \"x\"\nformat = \"jsn\"\n", "jsn"),
            (
                "[sink.rolling]\nmax_part_sise = \"1MiB\"\n",
                "max_part_sise",
            ),
            (
                "[sink.bucketing]\ntype = \"datetime\"\nfromat = \"x\"\n",
                "fromat",
            ),
            (
                "[checkpoint]\ndir = \"c\"\nintervall = \"1s\"\n",
                "intervall",
            ),
            ("[extra]\n", "extra"),
        ];
        for (snippet, key) in cases {
            // Put the snippet in place of its section in the minimal file.
            let section = snippet.lines().next().unwrap();
            let base: String = if MINIMAL.contains(section) {
                let start = MINIMAL.find(section).unwrap();
                let rest = &MINIMAL[start + section.len()..];
                let end = rest
                    .find("\n[")
                    .map_or(MINIMAL.len(), |e| start + section.len() + e + 1);
                format!("{}{}{}", &MINIMAL[..start], snippet, &MINIMAL[end..])
            } else {
                format!("{MINIMAL}{snippet}")
            };
            let err = JobFile::parse(&base, "job.toml").unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
            assert!(err.starts_with("job.toml"), "{err}");
        }
    }

    #[test]
    fn sizes_and_durations() {
        let table = [
            ("128MiB", 128 << 20),
            ("64 MB", 64_000_000),
            ("512KiB", 512 << 10),
            ("1g", 1 << 30),
            ("4096", 4096),
            ("1.5MiB", 1_572_864),
        ];
        for (s, want) in table {
            assert_eq!(ByteSize::parse(s).unwrap().0, want, "{s}");
        }
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert!(ByteSize::parse("lots").is_err());
        let d: HumanDuration = toml::from_str::<toml::Value>("d = \"1m 30s\"").unwrap()["d"]
            .clone()
            .try_into()
            .unwrap();
        assert_eq!(d.0, Duration::from_secs(90));
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            d: HumanDuration,
        }
        let e = toml::from_str::<S>("d = 60").unwrap_err().to_string();
        assert!(e.contains("has no unit"), "{e}");
    }

    #[test]
    fn generator_settings() {
        let g = GeneratorSection {
            start: Some("2026-01-01T00:00:00Z".into()),
            step: Some(HumanDuration(Duration::from_millis(5))),
            count: Some(10),
            ..GeneratorSection::default()
        };
        let c = g.to_config().unwrap();
        assert_eq!(c.start_millis, 1_767_225_600_000);
        assert_eq!(c.count, Some(10));
        let bad = GeneratorSection {
            start: Some("yesterday".into()),
            ..GeneratorSection::default()
        };
        assert!(bad
            .to_config()
            .unwrap_err()
            .to_string()
            .starts_with("source.start"));
        let zero = GeneratorSection {
            splits: Some(0),
            ..GeneratorSection::default()
        };
        assert!(zero
            .to_config()
            .unwrap_err()
            .to_string()
            .starts_with("source.splits"));
    }
}
