//! The job file: TOML, every table with `deny_unknown_fields`, so a typo is an error that names the
//! key, never a silent default.
//!
//! The reference of every key is in the README ("Job file reference"). Sizes and durations have one
//! grammar in every table ([`sink_core::units`]): sizes are bytes or strings with a unit
//! (`"128MiB"`, `"64MB"`, `"1.5g"`), durations strings with a unit (`"10s"`, `"250ms"`, `"1h 30m"`).
//!
//! The keys of `[sink]` and `[checkpoint]` that connectors own (`[sink.parquet]`,
//! `[sink.object_store]`, ...) are read by the connectors' sections, which the
//! [registry] lists, before the rest of the file; errors in them point at the line
//! all the same.

pub(crate) mod tables;

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};
use serde::Deserialize;
use sink_core::runtime::{BadRecordPolicy, CheckpointConfig, GeneratorConfig};
use sink_core::{Error, Result};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// Sizes and durations, as every table takes them.
pub use sink_core::units::{ByteSize, HumanDuration};

use crate::registry::{self, Formats, Storages};
use tables::{refuse_unknown, Tables};

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
    /// The storage sections (`[sink.object_store]`, `[sink.hdfs]`).
    pub storage: Storages,
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

    /// The storage sections, in either form.
    pub fn storage(&self) -> &Storages {
        match self {
            SinkTable::File(s) => &s.storage,
            SinkTable::Bucketing(b) => &b.storage,
        }
    }
}

/// Names a config error after the job file, the one place the CLI does: a field inside the job
/// file's `table` (`object_store.part_size` of `[sink]`) gets the table in front, once
/// (`sink.object_store.part_size`); `url`, which storage connectors name, becomes the key the URL
/// came from (`sink.path`, `checkpoint.dir`). See `sink_core::wiring` for what connectors name.
pub(crate) fn job_field(table: &str, e: Error) -> Error {
    match e {
        Error::Config { field, message } if field == "url" => {
            let key = match table {
                "sink" => "sink.path",
                "checkpoint" => "checkpoint.dir",
                other => other,
            };
            Error::config(key, message)
        }
        other => sink_core::wiring::in_table(table, other),
    }
}

/// The sink APIs of `[sink] api`.
const SINK_APIS: &str =
    "\"file\" (Flink's FileSink, the default) or \"bucketing\" (Flink 1.9's BucketingSink)";

/// The table at `key` of `root`, with its place in the text.
fn table_mut<'a, 'i>(
    root: &'a mut Spanned<DeTable<'i>>,
    key: &str,
) -> Option<(&'a mut DeTable<'i>, Range<usize>)> {
    let v = root.get_mut().get_mut(key)?;
    let span = v.span();
    match v.get_mut() {
        DeValue::Table(t) => Some((t, span)),
        _ => None,
    }
}

/// The keys of `[sink]` that are read before the rest of the file: the sections of the file form,
/// or the whole table of the bucketing form.
enum SinkKeys {
    /// `api = "file"`: the connectors' sections, which the rest of `[sink]` goes without.
    File(Box<(Formats, Storages)>),
    /// `api = "bucketing"`: Flink's keys and the storage sections.
    Bucketing(Box<BucketingSinkSection>),
}

/// Reads the keys of `[sink]` that are read first. Without a `[sink]` table, the rest of the file
/// says what is wrong.
fn read_sink(
    sink: Option<(&mut DeTable<'_>, Range<usize>)>,
    text: &str,
    origin: &str,
    syntax: impl Fn(toml::de::Error) -> Error,
) -> Result<SinkKeys> {
    let Some((t, span)) = sink else {
        return Ok(SinkKeys::File(Box::default()));
    };
    let api = t.get("api").map(|a| {
        a.get_ref()
            .as_str()
            .map(str::to_string)
            .ok_or(&text[a.span()])
    });
    match api {
        None => {}
        Some(Ok(a)) if a == "file" => {
            t.remove("api");
        }
        Some(Ok(a)) if a == "bucketing" => {
            // Flink's keys are read from a table of their own: messages name the table, as they
            // always have, rather than the line.
            let mut tables = Tables::new(t, span.clone(), text);
            let storage = Storages::take(&mut tables).map_err(|e| Error::Config {
                field: format!("{origin}: [sink.{}]", e.key),
                message: e.error.message().to_string(),
            })?;
            let rest = Spanned::new(span, DeValue::Table(tables.rest().clone()));
            let config = Deserialize::deserialize(ValueDeserializer::from(rest)).map_err(
                |e: toml::de::Error| Error::Config {
                    field: format!("{origin}: [sink]"),
                    message: e.message().to_string(),
                },
            )?;
            return Ok(SinkKeys::Bucketing(Box::new(BucketingSinkSection {
                config,
                storage,
            })));
        }
        Some(Ok(a)) => {
            return Err(Error::config(
                "sink.api",
                format!("unknown API {a:?}: {SINK_APIS}"),
            ))
        }
        Some(Err(v)) => {
            return Err(Error::config(
                "sink.api",
                format!("{v}: expected {SINK_APIS}"),
            ))
        }
    }
    let mut tables = Tables::new(t, span.clone(), text);
    let formats = Formats::take(&mut tables).map_err(|e| syntax(e.error))?;
    let storage = Storages::take(&mut tables).map_err(|e| syntax(e.error))?;
    refuse_unknown(tables.rest(), span, registry::sink_keys(), text).map_err(syntax)?;
    Ok(SinkKeys::File(Box::new((formats, storage))))
}

/// Reads the storage sections of `[checkpoint]` and refuses keys it does not take.
fn read_checkpoint(
    checkpoint: Option<(&mut DeTable<'_>, Range<usize>)>,
    text: &str,
    syntax: impl Fn(toml::de::Error) -> Error,
) -> Result<Storages> {
    let Some((t, span)) = checkpoint else {
        return Ok(Storages::default());
    };
    let mut tables = Tables::new(t, span.clone(), text);
    let storage = Storages::take(&mut tables).map_err(|e| syntax(e.error))?;
    refuse_unknown(tables.rest(), span, registry::checkpoint_keys(), text).map_err(syntax)?;
    Ok(storage)
}

impl JobFile {
    /// Parses a job file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let syntax = |mut e: toml::de::Error| {
            e.set_input(Some(text));
            Error::Config {
                field: origin.to_string(),
                message: format!("\n{e}"),
            }
        };
        let mut root = DeTable::parse(text).map_err(syntax)?;
        let sink = read_sink(table_mut(&mut root, "sink"), text, origin, syntax)?;
        let storage = read_checkpoint(table_mut(&mut root, "checkpoint"), text, syntax)?;
        let de = toml::de::Deserializer::from(root);
        let (job, source, sink, mut checkpoint) = match sink {
            SinkKeys::File(sections) => {
                let raw: RawJobFile<SinkSection> = Deserialize::deserialize(de).map_err(syntax)?;
                let mut s = raw.sink;
                (s.formats, s.storage) = *sections;
                (
                    raw.job,
                    raw.source,
                    SinkTable::File(Box::new(s)),
                    raw.checkpoint,
                )
            }
            SinkKeys::Bucketing(b) => {
                // The sink table was read above; here it only has to be there.
                let raw: RawJobFile<de::IgnoredAny> =
                    Deserialize::deserialize(de).map_err(syntax)?;
                (raw.job, raw.source, SinkTable::Bucketing(b), raw.checkpoint)
            }
        };
        checkpoint.storage = storage;
        Ok(JobFile {
            job,
            source,
            sink,
            checkpoint,
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
    /// The formats' sections: `[sink.csv]`, `[sink.parquet]` and `[sink.schema]`,
    /// `[sink.sequence_file]` (see the connectors for every key). Read by the [registry], not by
    /// this type's `Deserialize`.
    #[serde(skip)]
    pub formats: Formats,
    /// The storage sections: `[sink.object_store]`, `[sink.hdfs]`, for a `path` they serve.
    #[serde(skip)]
    pub storage: Storages,
}

/// The name of a format of this build (`json`, `lines`, `csv`, `sequence-file`, `parquet`): one of
/// the [registry]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatName(&'static str);

impl FormatName {
    /// The format of this build called `name`.
    pub fn new(name: &str) -> Option<Self> {
        registry::format_names()
            .iter()
            .find(|n| **n == name)
            .map(|n| FormatName(n))
    }

    /// The name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for FormatName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Read as a unit variant would be, so that a job file's mistakes read as they did when formats
/// were an enum: ``unknown variant `jsonl`, expected one of `json`, ...``.
impl<'de> Deserialize<'de> for FormatName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FormatName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a format name")
            }
            fn visit_enum<A: EnumAccess<'de>>(
                self,
                data: A,
            ) -> std::result::Result<FormatName, A::Error> {
                let (name, variant): (String, _) = data.variant()?;
                variant.unit_variant()?;
                FormatName::new(&name)
                    .ok_or_else(|| de::Error::unknown_variant(&name, registry::format_names()))
            }
        }
        d.deserialize_enum("FormatName", registry::format_names(), V)
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
    /// The storage sections: `[checkpoint.object_store]`, `[checkpoint.hdfs]`, for a `dir` they
    /// serve. Read by the [registry], not by this type's `Deserialize`.
    #[serde(skip)]
    pub storage: Storages,
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
        for e in self.storage.all() {
            e.factory
                .validate_for_checkpoints()
                .map_err(|e| job_field("checkpoint", e))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests;
