//! From a job file to a running pipeline: the source, the file sink (target, bucket assigner,
//! rolling policy, format) and the checkpoint store.

use std::fmt::{self, Display};
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use sink_core::fs::{
    Committable, DynWriter, InProgress, LocalTarget, RecoverableStream, RecoverableWriter, RelPath,
    ResumeHandle,
};
use sink_core::runtime::{
    DynCheckpointStore, Event, GeneratorSource, Job, JobProgress, JobSummary, LocalCheckpointStore,
    Source,
};
use sink_core::sink::{
    BasePathBucketAssigner, BucketAssigner, BulkWriterFactory, ChainedBucketAssigner,
    CheckpointRollingPolicy, CsvEncoder, DateTimeBucketAssigner, DefaultRollingPolicy, FieldAccess,
    FieldBucketAssigner, FileSink, FileSinkBuilder, JsonLinesEncoder, OutputFileConfig, RowEncoder,
    SimpleStringEncoder, TimeSource, TimeZone,
};
use sink_core::{Error, Result};

use crate::config::{
    BucketingSection, BucketingSinkSection, FormatName, Granularity, JobFile, RollingName,
    SinkSection, SinkTable, SourceSection, TimeName,
};

/// What a record needs to go through every format and bucketing of the CLI.
pub trait CliRecord: Serialize + FieldAccess + Display + Send + Sync + 'static {
    /// The bytes of a record in a dead letter (JSON by default).
    fn dead_letter_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl CliRecord for Event {}

#[cfg(feature = "kafka")]
impl CliRecord for connector_kafka::KafkaRecord {
    /// The record's value as it came from Kafka (JSON values re-encoded).
    fn dead_letter_payload(&self) -> Vec<u8> {
        match &self.value {
            connector_kafka::Payload::Null => Vec::new(),
            connector_kafka::Payload::Bytes(b) => b.to_vec(),
            connector_kafka::Payload::Text(t) => t.as_bytes().to_vec(),
            connector_kafka::Payload::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
        }
    }
}

/// How a job is run by this process.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// This worker's index.
    pub worker: usize,
    /// Workers of the job.
    pub workers: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            worker: 0,
            workers: 1,
        }
    }
}

type AssignerFactory<T> = Arc<dyn Fn() -> Box<dyn BucketAssigner<T>> + Send + Sync>;

fn zone(field: &str, tz: &Option<String>) -> Result<TimeZone> {
    match tz {
        None => Ok(TimeZone::Utc),
        Some(s) => s.parse().map_err(|e: String| Error::config(field, e)),
    }
}

fn time_source(t: TimeName) -> TimeSource {
    match t {
        TimeName::Processing => TimeSource::Processing,
        TimeName::Event => TimeSource::Event,
    }
}

/// The bucket assigner of `[sink.bucketing]`, as a factory (one assigner per subtask), and a
/// description for `validate`.
pub fn assigner<T: FieldAccess + 'static>(
    section: &Option<BucketingSection>,
) -> Result<(AssignerFactory<T>, String)> {
    match section {
        None => {
            let a = DateTimeBucketAssigner::new();
            Ok((
                Arc::new(move || Box::new(a.clone())),
                "hourly on processing time (yyyy-MM-dd--HH, UTC)".into(),
            ))
        }
        Some(BucketingSection::Base(_)) => Ok((
            Arc::new(|| Box::new(BasePathBucketAssigner)),
            "none (base path)".into(),
        )),
        Some(BucketingSection::Datetime(d)) => {
            let format = d.format.as_deref().unwrap_or("yyyy-MM-dd--HH");
            let a = DateTimeBucketAssigner::new()
                .with_format(format)
                .map_err(|e| Error::config("sink.bucketing.format", e))?
                .with_time_zone(zone("sink.bucketing.timezone", &d.timezone)?)
                .with_time_source(time_source(d.time));
            let desc = format!("{format} on {:?} time", d.time).to_lowercase();
            Ok((Arc::new(move || Box::new(a.clone())), desc))
        }
        Some(BucketingSection::Fields(f)) => {
            let a = if f.hive {
                FieldBucketAssigner::hive(f.fields.clone())
            } else {
                FieldBucketAssigner::values(f.fields.clone())
            }
            .map_err(|e| Error::config("sink.bucketing.fields", e))?;
            let desc = format!(
                "by fields {:?}{}",
                f.fields,
                if f.hive { " (hive)" } else { "" }
            );
            Ok((Arc::new(move || Box::new(a.clone())), desc))
        }
        Some(BucketingSection::Hive(h)) => {
            let format = match h.granularity {
                Granularity::Hour => Some("'dt='yyyy-MM-dd'/hour='HH"),
                Granularity::Day => Some("'dt='yyyy-MM-dd"),
                Granularity::None => None,
            };
            let time = match format {
                Some(fmt) => Some(
                    DateTimeBucketAssigner::new()
                        .with_format(fmt)
                        .expect("built-in format")
                        .with_time_zone(zone("sink.bucketing.timezone", &h.timezone)?)
                        .with_time_source(time_source(h.time)),
                ),
                None => None,
            };
            let fields = if h.fields.is_empty() {
                None
            } else {
                Some(
                    FieldBucketAssigner::hive(h.fields.clone())
                        .map_err(|e| Error::config("sink.bucketing.fields", e))?,
                )
            };
            if time.is_none() && fields.is_none() {
                return Err(Error::config(
                    "sink.bucketing",
                    "hive bucketing with granularity = \"none\" needs fields",
                ));
            }
            let desc = format!(
                "hive {}{}",
                match h.granularity {
                    Granularity::Hour => format!("dt=/hour= on {:?} time", h.time).to_lowercase(),
                    Granularity::Day => format!("dt= on {:?} time", h.time).to_lowercase(),
                    Granularity::None => String::new(),
                },
                if h.fields.is_empty() {
                    String::new()
                } else {
                    format!(" then {:?}", h.fields)
                }
            );
            Ok((
                Arc::new(move || {
                    let mut parts: Vec<Box<dyn BucketAssigner<T>>> = Vec::new();
                    if let Some(t) = &time {
                        parts.push(Box::new(t.clone()));
                    }
                    if let Some(f) = &fields {
                        parts.push(Box::new(f.clone()));
                    }
                    Box::new(ChainedBucketAssigner::new(parts))
                }),
                desc,
            ))
        }
    }
}

/// The row encoder of `sink.format`.
pub fn row_encoder<T: CliRecord>(s: &SinkSection) -> Result<Box<dyn RowEncoder<T>>> {
    if s.csv.is_some() && s.format != FormatName::Csv {
        return Err(Error::config(
            "sink.csv",
            format!(
                "only applies to format = \"csv\", not {:?}",
                s.format.to_string()
            ),
        ));
    }
    Ok(match s.format {
        FormatName::Json => Box::new(JsonLinesEncoder::<T>::new()),
        FormatName::Lines => Box::new(SimpleStringEncoder::<T>::new()),
        #[cfg(feature = "sequencefile")]
        FormatName::SequenceFile => {
            return Err(Error::Internal(
                "sequence files are not a plain row encoder".into(),
            ))
        }
        #[cfg(feature = "parquet")]
        FormatName::Parquet => {
            return Err(Error::Internal(
                "parquet is a bulk format, not a row encoder".into(),
            ))
        }
        FormatName::Csv => {
            let csv = s.csv.as_ref().ok_or_else(|| {
                Error::config(
                    "sink.csv",
                    "format = \"csv\" needs [sink.csv] with columns = [...]",
                )
            })?;
            if csv.columns.is_empty() {
                return Err(Error::config(
                    "sink.csv.columns",
                    "name at least one column",
                ));
            }
            let mut enc = CsvEncoder::new(csv.columns.clone()).with_header(csv.header);
            if let Some(d) = &csv.delimiter {
                let b = d.as_bytes();
                if b.len() != 1 || b[0] == b'"' || b[0] == b'\n' || b[0] == b'\r' {
                    return Err(Error::config(
                        "sink.csv.delimiter",
                        format!("{d:?}: one ASCII character other than a quote or line break"),
                    ));
                }
                enc = enc.with_delimiter(b[0]);
            }
            Box::new(CsvEncoderFor::<T>(enc, std::marker::PhantomData))
        }
    })
}

struct CsvEncoderFor<T>(CsvEncoder, std::marker::PhantomData<fn(&T)>);

impl<T: FieldAccess + 'static> RowEncoder<T> for CsvEncoderFor<T> {
    fn encode(
        &self,
        r: &T,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), sink_core::sink::EncodeError> {
        RowEncoder::<T>::encode(&self.0, r, out)
    }
    fn header(&self) -> Option<&[u8]> {
        RowEncoder::<T>::header(&self.0)
    }
    fn suffix(&self) -> &str {
        RowEncoder::<T>::suffix(&self.0)
    }
}

/// The rolling policy of a row format.
pub fn row_rolling_policy(s: &SinkSection) -> Result<(RowPolicy, String)> {
    let r = &s.rolling;
    match r.policy.unwrap_or(RollingName::Default) {
        RollingName::Default => {
            let mut b = DefaultRollingPolicy::builder();
            if let Some(v) = r.max_part_size {
                if v.0 == 0 {
                    return Err(Error::config(
                        "sink.rolling.max_part_size",
                        "must be at least 1 byte",
                    ));
                }
                b = b.with_max_part_size(v.0);
            }
            if let Some(v) = r.rollover_interval {
                b = b.with_rollover_interval(v.0);
            }
            if let Some(v) = r.inactivity_interval {
                b = b.with_inactivity_interval(v.0);
            }
            let p = b.build();
            let desc = format!(
                "default: roll at {} bytes, after {:?}, or {:?} inactive",
                p.max_part_size(),
                p.rollover_interval(),
                p.inactivity_interval()
            );
            Ok((RowPolicy::Default(p), desc))
        }
        RollingName::OnCheckpoint => {
            let (p, desc) = checkpoint_policy(s)?;
            Ok((RowPolicy::OnCheckpoint(p), desc))
        }
    }
}

/// A rolling policy that rolls on every checkpoint, with the optional limits of `[sink.rolling]`.
pub fn checkpoint_policy(s: &SinkSection) -> Result<(CheckpointRollingPolicy, String)> {
    let r = &s.rolling;
    if r.policy == Some(RollingName::Default) {
        return Err(Error::config(
            "sink.rolling.policy",
            format!("format {:?} writes whole files, which roll on every checkpoint: use policy = \"on-checkpoint\"", s.format.to_string()),
        ));
    }
    let mut p = CheckpointRollingPolicy::default();
    let mut desc = "on every checkpoint".to_string();
    if let Some(v) = r.max_part_size {
        p = p.with_max_part_size(v.0);
        desc.push_str(&format!(", at {} bytes", v.0));
    }
    if let Some(v) = r.rollover_interval {
        p = p.with_rollover_interval(v.0);
        desc.push_str(&format!(", after {:?}", v.0));
    }
    if let Some(v) = r.inactivity_interval {
        p = p.with_inactivity_interval(v.0);
        desc.push_str(&format!(", {:?} inactive", v.0));
    }
    Ok((p, desc))
}

/// A row format's rolling policy.
pub enum RowPolicy {
    /// Size, age, inactivity.
    Default(DefaultRollingPolicy),
    /// Every checkpoint (and optional limits).
    OnCheckpoint(CheckpointRollingPolicy),
}

fn output_config(s: &SinkSection) -> OutputFileConfig {
    let mut o = OutputFileConfig::builder();
    if let Some(p) = &s.part_prefix {
        o = o.with_part_prefix(p.clone());
    }
    if let Some(x) = &s.part_suffix {
        o = o.with_part_suffix(x.clone());
    }
    o.build()
}

/// A description of the sink for `validate`.
#[derive(Clone, Debug, Default)]
pub struct SinkPlan {
    /// The format.
    pub format: String,
    /// The bucketing.
    pub bucketing: String,
    /// The rolling policy.
    pub rolling: String,
}

/// Builds the file sink of `[sink]` on `target`.
pub fn file_sink<T: CliRecord>(
    s: &SinkSection,
    target: DynWriter,
) -> Result<(FileSink<T>, SinkPlan)> {
    let (assigner, bucketing) = assigner::<T>(&s.bucketing)?;
    let (format, rolling) = match sink_format::<T>(s)? {
        SinkFormat::Row(encoder) => {
            let (policy, rolling) = row_rolling_policy(s)?;
            let b = common_settings(FileSink::for_row_format(target, encoder), s, assigner);
            let b = match policy {
                RowPolicy::Default(p) => b.with_rolling_policy(p),
                RowPolicy::OnCheckpoint(p) => b.with_rolling_policy(p),
            };
            (b.build(), rolling)
        }
        SinkFormat::Bulk(factory) => {
            let (policy, rolling) = checkpoint_policy(s)?;
            let b = common_settings(FileSink::for_bulk_format(target, factory), s, assigner);
            (b.with_rolling_policy(policy).build(), rolling)
        }
    };
    let sink = format.map_err(|e| match e {
        Error::Config { field, message } if !field.starts_with("sink.") => Error::Config {
            field: format!("sink.{field}"),
            message,
        },
        other => other,
    })?;
    Ok((
        sink,
        SinkPlan {
            format: s.format.to_string(),
            bucketing,
            rolling,
        },
    ))
}

/// Builds the sink of `[sink]`, in either form, on `target`.
pub fn sink<T: CliRecord>(table: &SinkTable, target: DynWriter) -> Result<(FileSink<T>, SinkPlan)> {
    match table {
        SinkTable::File(s) => file_sink(s, target),
        SinkTable::Bucketing(b) => bucketing_sink(b, target),
    }
}

/// Builds the sink of `[sink]` with `api = "bucketing"`: Flink 1.9's `BucketingSink`, as a
/// facade over the same file sink.
pub fn bucketing_sink<T: CliRecord>(
    b: &BucketingSinkSection,
    target: DynWriter,
) -> Result<(FileSink<T>, SinkPlan)> {
    use sink_core::sink::bucketing::{BucketerName, BucketingSink, StringWriter, WriterName};
    let c = &b.config;
    let legacy = c.apply(BucketingSink::<T>::with_target(target))?;
    let rolling = {
        let p = legacy.rolling_policy();
        format!(
            "BucketingSink: roll at {} bytes, {}, or {:?} inactive (checked every {:?})",
            p.batch_size,
            p.batch_rollover_interval
                .map_or("never by age".to_string(), |d| format!("after {d:?}")),
            p.inactive_bucket_threshold,
            legacy.check_interval()
        )
    };
    let (legacy, format) = match c.writer {
        WriterName::String => (
            legacy.writer(StringWriter::new()),
            "StringWriter (lines)".to_string(),
        ),
        WriterName::SequenceFile => {
            #[cfg(feature = "sequencefile")]
            {
                let cfg: connector_sequencefile::SequenceFileConfig = match &c.sequence_file {
                    None => Default::default(),
                    Some(v) => serde_json::from_value(v.clone())
                        .map_err(|e| Error::config("sink.sequence_file", e.to_string()))?,
                };
                let w = connector_sequencefile::SequenceFileWriter::<T>::from_config(&cfg)
                    .map_err(|e| prefix_field("sink.sequence_file", e.into()))?;
                let desc = format!(
                    "SequenceFileWriter ({} compression)",
                    format!("{:?}", cfg.compression).to_lowercase()
                );
                (
                    legacy.writer(
                        w.into_format()
                            .map_err(|e| prefix_field("sink.sequence_file", e.into()))?,
                    ),
                    desc,
                )
            }
            #[cfg(not(feature = "sequencefile"))]
            return Err(Error::config(
                "sink.writer",
                "\"sequence-file\" needs a build with the feature `sequencefile`",
            ));
        }
    };
    let bucketing = match c.bucketer {
        BucketerName::BasePath => "BasePathBucketer (base path)".to_string(),
        BucketerName::DateTime => format!(
            "DateTimeBucketer {} on processing time ({})",
            c.date_time_format,
            c.timezone.as_deref().unwrap_or("UTC")
        ),
    };
    let sink = legacy.build().map_err(|e| prefix_field("sink", e))?;
    Ok((
        sink,
        SinkPlan {
            format: format!("bucketing: {format}"),
            bucketing,
            rolling,
        },
    ))
}

/// A format: rows appended to open parts, or whole files from a bulk writer.
pub enum SinkFormat<T> {
    /// A row format.
    Row(Box<dyn RowEncoder<T>>),
    /// A bulk format.
    Bulk(Box<dyn BulkWriterFactory<T>>),
}

/// The format of `sink.format`.
pub fn sink_format<T: CliRecord>(s: &SinkSection) -> Result<SinkFormat<T>> {
    #[cfg(feature = "sequencefile")]
    {
        if s.sequence_file.is_some() && s.format != FormatName::SequenceFile {
            return Err(Error::config(
                "sink.sequence_file",
                format!(
                    "only applies to format = \"sequence-file\", not {:?}",
                    s.format.to_string()
                ),
            ));
        }
        if s.format == FormatName::SequenceFile {
            let cfg = s.sequence_file.clone().unwrap_or_default();
            let format = cfg
                .format::<T>()
                .map_err(|e| prefix_field("sink", sink_core::Error::from(e)))?;
            return Ok(match format {
                connector_sequencefile::SequenceFileFormat::Row(e) => SinkFormat::Row(Box::new(e)),
                connector_sequencefile::SequenceFileFormat::Bulk(f) => {
                    SinkFormat::Bulk(Box::new(f))
                }
            });
        }
    }
    #[cfg(feature = "parquet")]
    {
        for (table, given) in [
            ("sink.parquet", s.parquet.is_some()),
            ("sink.schema", s.schema.is_some()),
        ] {
            if given && s.format != FormatName::Parquet {
                return Err(Error::config(
                    table,
                    format!(
                        "only applies to format = \"parquet\", not {:?}",
                        s.format.to_string()
                    ),
                ));
            }
        }
        if s.format == FormatName::Parquet {
            let schema = s.schema.as_ref().ok_or_else(|| {
                Error::config(
                    "sink.schema",
                    "format = \"parquet\" needs the columns: [sink.schema] with fields = [{ name = \"id\", type = \"int64\" }, ...]",
                )
            })?;
            let options = s.parquet.clone().unwrap_or_default();
            let factory =
                connector_parquet::ParquetWriterFactory::<T>::for_serde_with_schema_config(
                    schema, options,
                )
                .map_err(|e| prefix_field("sink", e))?;
            return Ok(SinkFormat::Bulk(Box::new(factory)));
        }
    }
    row_encoder::<T>(s).map(SinkFormat::Row)
}

/// Names a config error's field inside `table`.
fn prefix_field(table: &str, e: Error) -> Error {
    match e {
        Error::Config { field, message } if !field.starts_with(table) => Error::Config {
            field: format!("{table}.{}", field.trim_start_matches("sink.")),
            message,
        },
        other => other,
    }
}

/// The settings every format shares.
fn common_settings<T: 'static, K>(
    mut b: FileSinkBuilder<T, K>,
    s: &SinkSection,
    assigner: AssignerFactory<T>,
) -> FileSinkBuilder<T, K> {
    b = b
        .with_bucket_assigner_factory(move || assigner())
        .with_output_file_config(output_config(s));
    if let Some(v) = s.bucket_check_interval {
        b = b.with_bucket_check_interval(v.0);
    }
    if let Some(v) = s.write_buffer_size {
        b = b.with_write_buffer_size(v.0 as usize);
    }
    if let Some(v) = s.memory_budget {
        b = b.with_memory_budget(v.0 as usize);
    }
    if let Some(d) = &s.dead_letter_bucket {
        b = b.with_dead_letter_bucket(d.clone());
    }
    b
}

/// Where a path or URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(std::path::PathBuf),
    /// An object store: `s3://`, `gs://`, `az://`, `memory://`, ...
    ObjectStore(String),
    /// HDFS: `hdfs://`, `viewfs://`.
    Hdfs(String),
    /// A URL with a scheme this build does not know.
    Unsupported(String),
}

/// URL schemes of object stores.
pub const OBJECT_STORE_SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure", "memory",
];

/// URL schemes of HDFS.
pub const HDFS_SCHEMES: &[&str] = &["hdfs", "viewfs"];

/// Splits a `sink.path` or `checkpoint.dir` into a local path or a URL.
pub fn location(s: &str) -> Location {
    if let Some(rest) = s.strip_prefix("file://") {
        return Location::Local(rest.into());
    }
    match s.find("://") {
        Some(i)
            if s[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            let scheme = s[..i].to_ascii_lowercase();
            if OBJECT_STORE_SCHEMES.contains(&scheme.as_str()) && cfg!(feature = "object-store") {
                Location::ObjectStore(s.to_string())
            } else if HDFS_SCHEMES.contains(&scheme.as_str()) && cfg!(feature = "hdfs") {
                Location::Hdfs(s.to_string())
            } else {
                Location::Unsupported(scheme)
            }
        }
        _ => Location::Local(s.into()),
    }
}

fn supported_schemes() -> String {
    let mut v = vec!["local paths", "file://"];
    if cfg!(feature = "object-store") {
        v.extend(["s3://", "memory://"]);
        if cfg!(feature = "gcp") {
            v.push("gs://");
        }
        if cfg!(feature = "azure") {
            v.push("az://");
        }
    }
    if cfg!(feature = "hdfs") {
        v.extend(["hdfs://", "viewfs://"]);
    }
    v.join(", ")
}

fn unsupported(field: &str, scheme: &str) -> Error {
    Error::config(
        field,
        format!(
            "the {scheme}:// scheme is not supported by this build (supported: {})",
            supported_schemes()
        ),
    )
}

/// Settings of the storage behind a path, from the job file.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    /// `[….object_store]`
    #[cfg(feature = "object-store")]
    pub object_store: Option<connector_object_store::ObjectStoreOptions>,
    /// `[….hdfs]`
    #[cfg(feature = "hdfs")]
    pub hdfs: Option<connector_hdfs::HdfsOptions>,
}

impl StorageOptions {
    /// The options of `[sink.*]`.
    pub fn of_sink(s: &SinkTable) -> Self {
        let _ = s;
        StorageOptions {
            #[cfg(feature = "object-store")]
            object_store: match s {
                SinkTable::File(f) => f.object_store.clone(),
                SinkTable::Bucketing(b) => b.object_store.clone(),
            },
            #[cfg(feature = "hdfs")]
            hdfs: match s {
                SinkTable::File(f) => f.hdfs.clone(),
                SinkTable::Bucketing(b) => b.hdfs.clone(),
            },
        }
    }

    /// The options of `[checkpoint.*]`.
    pub fn of_checkpoint(c: &crate::config::CheckpointSection) -> Self {
        let _ = c;
        StorageOptions {
            #[cfg(feature = "object-store")]
            object_store: c.object_store.clone(),
            #[cfg(feature = "hdfs")]
            hdfs: c.hdfs.clone(),
        }
    }

    /// Refuses settings for a kind of storage `path` does not use.
    pub fn check(&self, table: &str, path: &str) -> Result<()> {
        #[cfg(feature = "object-store")]
        if self.object_store.is_some() && !matches!(location(path), Location::ObjectStore(_)) {
            return Err(Error::config(
                format!("{table}.object_store"),
                format!(
                    "only applies to an object-store URL (s3://, memory://, ...), not {path:?}"
                ),
            ));
        }
        #[cfg(feature = "hdfs")]
        if let Some(h) = &self.hdfs {
            if !matches!(location(path), Location::Hdfs(_)) {
                return Err(Error::config(
                    format!("{table}.hdfs"),
                    format!("only applies to an hdfs:// URL, not {path:?}"),
                ));
            }
            h.validate(&format!("{table}.hdfs"))?;
        }
        let _ = (table, path);
        Ok(())
    }
}

/// Where worker `worker` of `workers` keeps its checkpoints: `dir` itself for a single worker,
/// `{dir}/worker-{i}` otherwise, so that all workers can share one job file.
pub fn worker_checkpoint_dir(dir: &str, worker: usize, workers: usize) -> String {
    if workers <= 1 {
        return dir.to_string();
    }
    format!("{}/worker-{worker}", dir.trim_end_matches('/'))
}

/// The sink's target.
pub async fn target(path: &str, options: &StorageOptions) -> Result<DynWriter> {
    let _ = options;
    match location(path) {
        Location::Local(p) => Ok(Arc::new(LocalTarget::new(p)?)),
        #[cfg(feature = "object-store")]
        Location::ObjectStore(url) => {
            let o = options.object_store.clone().unwrap_or_default();
            connector_object_store::target_from_url(&url, &o).await
        }
        #[cfg(not(feature = "object-store"))]
        Location::ObjectStore(url) => Err(unsupported("sink.path", &url)),
        #[cfg(feature = "hdfs")]
        Location::Hdfs(url) => {
            let o = options.hdfs.clone().unwrap_or_default();
            connector_hdfs::target_from_url(&url, &o).await
        }
        #[cfg(not(feature = "hdfs"))]
        Location::Hdfs(url) => Err(unsupported("sink.path", &url)),
        Location::Unsupported(s) => Err(unsupported("sink.path", &s)),
    }
}

/// The target of `[sink]`: for `api = "bucketing"` on local disk, with Flink's legacy names of
/// in-progress and pending parts (`_part-0-0.in-progress`, `_part-0-0.pending`).
pub async fn sink_target(table: &SinkTable) -> Result<DynWriter> {
    let options = StorageOptions::of_sink(table);
    match (table, location(table.path())) {
        (SinkTable::Bucketing(b), Location::Local(p)) => {
            use sink_core::fs::InProgressNaming;
            Ok(Arc::new(
                LocalTarget::new(p)?
                    .with_naming(InProgressNaming::Legacy(b.config.legacy_naming()))
                    .map_err(|e| prefix_field("sink", e))?,
            ))
        }
        _ => target(table.path(), &options).await,
    }
}

/// The checkpoint store.
pub async fn checkpoint_store(dir: &str, options: &StorageOptions) -> Result<DynCheckpointStore> {
    let _ = options;
    match location(dir) {
        Location::Local(p) => Ok(Arc::new(LocalCheckpointStore::new(p)?)),
        #[cfg(feature = "object-store")]
        Location::ObjectStore(url) => {
            let o = options.object_store.clone().unwrap_or_default();
            connector_object_store::checkpoint_store_from_url(&url, &o)
        }
        #[cfg(not(feature = "object-store"))]
        Location::ObjectStore(url) => Err(unsupported("checkpoint.dir", &url)),
        #[cfg(feature = "hdfs")]
        Location::Hdfs(url) => {
            let o = options.hdfs.clone().unwrap_or_default();
            connector_hdfs::checkpoint_store_from_url(&url, &o).await
        }
        #[cfg(not(feature = "hdfs"))]
        Location::Hdfs(url) => Err(unsupported("checkpoint.dir", &url)),
        Location::Unsupported(s) => Err(unsupported("checkpoint.dir", &s)),
    }
}

/// The checkpoint store of a directory that must exist (for `spillway checkpoints`). Object-store
/// URLs take their settings from the environment (`AWS_*`).
pub async fn existing_checkpoint_store(dir: &str) -> Result<DynCheckpointStore> {
    match location(dir) {
        Location::Local(p) => Ok(Arc::new(LocalCheckpointStore::open_existing(p)?)),
        Location::ObjectStore(_) | Location::Hdfs(_) => {
            checkpoint_store(dir, &StorageOptions::default()).await
        }
        Location::Unsupported(s) => Err(unsupported("checkpoints", &s)),
    }
}

/// A target used only to check a sink's settings; it refuses every operation.
#[derive(Debug)]
struct NoTarget;

impl Display for NoTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(validation only)")
    }
}

#[async_trait]
impl RecoverableWriter for NoTarget {
    async fn open(&self, _: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        Err(Error::Internal("validation target".into()))
    }
    async fn resume(&self, _: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        Err(Error::Internal("validation target".into()))
    }
    async fn commit(&self, _: &Committable) -> Result<()> {
        Err(Error::Internal("validation target".into()))
    }
    async fn cleanup(&self, _: &ResumeHandle) -> Result<()> {
        Ok(())
    }
    async fn list_in_progress(&self, _: &str) -> Result<Vec<InProgress>> {
        Ok(vec![])
    }
    async fn delete_in_progress(&self, _: &InProgress) -> Result<()> {
        Ok(())
    }
}

/// What `spillway validate` reports.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The job's name.
    pub job: String,
    /// The source, described.
    pub source: String,
    /// The sink.
    pub sink: SinkPlan,
    /// The output location.
    pub path: String,
    /// The checkpoint location.
    pub checkpoint_dir: String,
    /// Checkpoint interval.
    pub checkpoint_interval: std::time::Duration,
    /// Subtasks.
    pub parallelism: usize,
}

fn check_location(field: &str, s: &str) -> Result<()> {
    match location(s) {
        Location::ObjectStore(_) | Location::Hdfs(_) => Ok(()),
        Location::Local(p) => {
            // Without creating anything: an existing path must be a directory; otherwise its
            // nearest existing parent must be one.
            let mut q = p.as_path();
            loop {
                if q.as_os_str().is_empty() {
                    return Ok(());
                }
                if q.exists() {
                    return if q.is_dir() {
                        Ok(())
                    } else {
                        Err(Error::config(
                            field,
                            format!("{} is not a directory", q.display()),
                        ))
                    };
                }
                match q.parent() {
                    Some(parent) => q = parent,
                    None => return Ok(()),
                }
            }
        }
        Location::Unsupported(s) => Err(unsupported(field, &s)),
    }
}

/// Checks a job file completely without touching any data.
pub fn validate(file: &JobFile) -> Result<Plan> {
    if file.job.parallelism == 0 {
        return Err(Error::config("job.parallelism", "must be at least 1"));
    }
    if file.job.name.trim().is_empty() {
        return Err(Error::config("job.name", "must not be empty"));
    }
    let checkpoint = file.checkpoint.to_config()?;
    check_location("sink.path", file.sink.path())?;
    check_location("checkpoint.dir", &file.checkpoint.dir)?;
    StorageOptions::of_sink(&file.sink).check("sink", file.sink.path())?;
    StorageOptions::of_checkpoint(&file.checkpoint).check("checkpoint", &file.checkpoint.dir)?;
    let (source, sink) = match &file.source {
        SourceSection::Generator(g) => {
            let c = g.to_config()?;
            let (_, plan) = sink::<Event>(&file.sink, Arc::new(NoTarget))?;
            let what = match (c.count, c.rate) {
                (Some(n), _) => format!("generator: {n} events over {} splits", c.splits),
                (None, Some(r)) => format!(
                    "generator: {r} events/s over {} splits, unbounded",
                    c.splits
                ),
                (None, None) => format!(
                    "generator: unbounded, as fast as possible, {} splits",
                    c.splits
                ),
            };
            (what, plan)
        }
        #[cfg(feature = "kafka")]
        SourceSection::Kafka(k) => {
            let source = connector_kafka::KafkaSource::from_config(k)?;
            let (_, plan) = sink::<connector_kafka::KafkaRecord>(&file.sink, Arc::new(NoTarget))?;
            let topics = match &k.topic_pattern {
                Some(p) => format!("topics matching /{p}/"),
                None => format!("topics {:?}", k.topics),
            };
            let mode = if source.is_bounded() {
                "bounded"
            } else {
                "unbounded"
            };
            let what = format!(
                "kafka: {topics} from {}, {mode}, values as {:?}",
                k.brokers.join(","),
                k.value_format
            );
            (what, plan)
        }
    };
    Ok(Plan {
        job: file.job.name.clone(),
        source,
        sink,
        path: file.sink.path().to_string(),
        checkpoint_dir: file.checkpoint.dir.clone(),
        checkpoint_interval: checkpoint.interval,
        parallelism: file.job.parallelism,
    })
}

/// Runs a job file until the source ends or `stop` resolves. `on_start` gets the job's live
/// counters once the job is built (for progress bars).
pub async fn run(
    file: &JobFile,
    options: &RunOptions,
    stop: impl Future<Output = ()> + Send,
    on_start: impl FnOnce(Arc<JobProgress>),
) -> Result<JobSummary> {
    validate(file)?;
    match &file.source {
        SourceSection::Generator(g) => {
            let source = GeneratorSource::new(g.to_config()?)?;
            run_with(file, options, source, stop, on_start).await
        }
        #[cfg(feature = "kafka")]
        SourceSection::Kafka(k) => {
            let source = connector_kafka::KafkaSource::from_config(k)?;
            run_with(file, options, source, stop, on_start).await
        }
    }
}

/// Refuses to start when the checkpoint directory holds the checkpoints of the same job run with
/// one worker and now with several, or the other way round: the new layout would start afresh
/// and write everything again (each worker keeps its checkpoints in `{dir}/worker-{i}`, a single
/// worker in `{dir}`).
async fn check_worker_layout(
    dir: &str,
    options: &RunOptions,
    store: &DynCheckpointStore,
    store_options: &StorageOptions,
) -> Result<()> {
    use sink_core::runtime::JOB_META;
    let several = options.workers > 1;
    let root = if several {
        Some(checkpoint_store(dir, store_options).await?)
    } else {
        None
    };
    if store.get(JOB_META).await?.is_some() {
        // A restart in the same layout.
        if let Some(root) = &root {
            mark_several_workers(root, options.workers).await?;
        }
        return Ok(());
    }
    let (exists, what) = match &root {
        // Run with one worker before: its job.json is at the top.
        Some(root) => (root.get(JOB_META).await?.is_some(), "one worker"),
        // Run with several before: the marker any of them wrote, or (checkpoints from before the
        // marker) worker 0's job.json.
        None => (
            store.get(WORKERS_MARKER).await?.is_some()
                || match location(&worker_checkpoint_dir(dir, 0, 2)) {
                    // Without creating the directory, as opening a local store would.
                    Location::Local(p) => p.join(JOB_META).exists(),
                    _ => checkpoint_store(&worker_checkpoint_dir(dir, 0, 2), store_options)
                        .await?
                        .get(JOB_META)
                        .await?
                        .is_some(),
                },
            "several workers (--workers)",
        ),
    };
    if exists {
        return Err(Error::config(
            "checkpoint.dir",
            format!(
                "{dir} holds the checkpoints of this job run with {what}; run it as before, or give a new checkpoint directory (and output path) to start afresh"
            ),
        ));
    }
    if let Some(root) = &root {
        mark_several_workers(root, options.workers).await?;
    }
    Ok(())
}

/// The document at the top of `checkpoint.dir` that says the job runs with several workers: every
/// worker writes it when it starts, so a later run with one worker is refused even if worker 0
/// never ran.
const WORKERS_MARKER: &str = "workers.json";

async fn mark_several_workers(root: &DynCheckpointStore, workers: usize) -> Result<()> {
    root.put(
        WORKERS_MARKER,
        serde_json::to_vec(&serde_json::json!({ "workers": workers })).expect("plain JSON"),
    )
    .await
}

/// Runs a job file with a given source.
pub async fn run_with<T: CliRecord>(
    file: &JobFile,
    options: &RunOptions,
    source: impl Source<T>,
    stop: impl Future<Output = ()> + Send,
    on_start: impl FnOnce(Arc<JobProgress>),
) -> Result<JobSummary> {
    let target = sink_target(&file.sink).await?;
    let (sink, _) = sink::<T>(&file.sink, target)?;
    let store_options = StorageOptions::of_checkpoint(&file.checkpoint);
    let store = checkpoint_store(
        &worker_checkpoint_dir(&file.checkpoint.dir, options.worker, options.workers),
        &store_options,
    )
    .await?;
    check_worker_layout(&file.checkpoint.dir, options, &store, &store_options).await?;
    let mut b = Job::builder(file.job.name.clone())
        .parallelism(file.job.parallelism)
        .worker(options.worker, options.workers)
        .checkpointing(file.checkpoint.to_config()?)
        .checkpoint_store_dyn(store)
        .bad_records(file.job.on_bad_record.into());
    if let Some(n) = file.job.batch_size {
        b = b.batch_size(n);
    }
    let runner = b
        .from_source(source)
        .with_dead_letter_payload(|r: &T| r.dead_letter_payload())
        .sink_to(sink);
    on_start(runner.progress());
    runner.run_until(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(extra_sink: &str) -> JobFile {
        JobFile::parse(
            &format!(
                "[job]\nname = \"t\"\n[source]\ntype = \"generator\"\ncount = 10\n[sink]\npath = \"/tmp/x\"\nformat = \"json\"\n{extra_sink}\n[checkpoint]\ndir = \"/tmp/c\"\n"
            ),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = [
            (
                "[sink.bucketing]\ntype = \"datetime\"\nformat = \"yyyy-QQ\"",
                "sink.bucketing.format",
            ),
            (
                "[sink.bucketing]\ntype = \"datetime\"\ntimezone = \"Mars/Base\"",
                "sink.bucketing.timezone",
            ),
            (
                "[sink.bucketing]\ntype = \"fields\"\nfields = []",
                "sink.bucketing.fields",
            ),
            (
                "[sink.bucketing]\ntype = \"hive\"\ngranularity = \"none\"",
                "sink.bucketing",
            ),
            ("part_prefix = \".hidden\"", "sink.part_prefix"),
            ("dead_letter_bucket = \"../dl\"", "sink.dead_letter_bucket"),
            ("[sink.csv]\ncolumns = [\"a\"]", "sink.csv"),
            (
                "[sink.rolling]\nmax_part_size = 0",
                "sink.rolling.max_part_size",
            ),
        ];
        for (extra, field) in cases {
            let err = validate(&file(extra)).unwrap_err().to_string();
            assert!(err.starts_with(field), "{extra}: {err}");
        }
    }

    #[test]
    fn plans_describe_the_job() {
        let p = validate(&file(
            "[sink.bucketing]\ntype = \"hive\"\ntime = \"event\"\nfields = [\"behavior\"]",
        ))
        .unwrap();
        assert_eq!(
            p.sink.bucketing,
            "hive dt=/hour= on event time then [\"behavior\"]"
        );
        assert!(p.source.contains("10 events"));
    }

    #[test]
    fn each_worker_has_its_own_checkpoint_dir() {
        assert_eq!(worker_checkpoint_dir("ckpt", 0, 1), "ckpt");
        assert_eq!(worker_checkpoint_dir("ckpt/", 1, 3), "ckpt/worker-1");
        assert_eq!(worker_checkpoint_dir("s3://b/c", 2, 3), "s3://b/c/worker-2");
    }

    #[test]
    fn locations() {
        assert_eq!(location("lake"), Location::Local("lake".into()));
        assert_eq!(location("file:///tmp/x"), Location::Local("/tmp/x".into()));
        assert_eq!(
            location("s3://b/x"),
            Location::ObjectStore("s3://b/x".into())
        );
        assert_eq!(
            location("hdfs2://b/x"),
            Location::Unsupported("hdfs2".into())
        );
        assert_eq!(location("./a://b"), Location::Local("./a://b".into()));
    }

    #[test]
    fn output_path_that_is_a_file_is_refused() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut jf = file("");
        let SinkTable::File(s) = &mut jf.sink else {
            unreachable!()
        };
        s.path = f.path().join("sub").display().to_string();
        let err = validate(&jf).unwrap_err().to_string();
        assert!(
            err.starts_with("sink.path") && err.contains("not a directory"),
            "{err}"
        );
    }
}
