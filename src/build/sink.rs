//! Building the file sink of `[sink]`: bucket assigner, rolling policy, output names, and the
//! format, which the format's section builds (`sink_core::wiring::FormatFactory`).

use std::sync::Arc;

use sink_core::fs::DynWriter;
use sink_core::sink::bucketing::{BucketerName, BucketingSink, StringWriter, WriterName};
use sink_core::sink::{
    BasePathBucketAssigner, BucketAssigner, ChainedBucketAssigner, CheckpointRollingPolicy,
    DateTimeBucketAssigner, DefaultRollingPolicy, FieldAccess, FieldBucketAssigner, FileSink,
    FileSinkBuilder, OutputFileConfig, TimeSource, TimeZone,
};
pub use sink_core::wiring::SinkFormat;
use sink_core::{Error, Result};

use super::CliRecord;
use crate::config::{
    job_field, BucketingSection, BucketingSinkSection, Granularity, RollingName, SinkSection,
    SinkTable, TimeName,
};
use crate::registry::Formats;

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
    let sink = format.map_err(|e| job_field("sink", e))?;
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
    let c = &b.config;
    let legacy = c
        .apply(BucketingSink::<T>::with_target(target))
        .map_err(|e| job_field("sink", e))?;
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
            let (format, description) = bucketing_writer::<T>("sequence-file", "sequencefile", c)?;
            (legacy.writer(format), description)
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
    let sink = legacy.build().map_err(|e| job_field("sink", e))?;
    Ok((
        sink,
        SinkPlan {
            format: format!("bucketing: {format}"),
            bucketing,
            rolling,
        },
    ))
}

/// The `BucketingSink` writer `name`, which the format of the same name offers, set up by the
/// table the facade keeps for it; `feature` is the cargo feature that registers it.
fn bucketing_writer<T: CliRecord>(
    name: &str,
    feature: &str,
    c: &sink_core::sink::bucketing::BucketingSinkConfig,
) -> Result<(SinkFormat<T>, String)> {
    let formats = Formats::default();
    let built = formats
        .factories::<T>()
        .into_iter()
        .find(|e| e.factory.name() == name)
        .and_then(|e| e.factory.bucketing_writer(c.sequence_file.as_ref()));
    match built {
        Some(built) => built.map_err(|e| job_field("sink", e)),
        None => Err(Error::config(
            "sink.writer",
            format!("{name:?} needs a build with the feature `{feature}`"),
        )),
    }
}

/// The format of `sink.format`, built by its section. A section given for another format is an
/// error: it would be ignored without a word.
pub fn sink_format<T: CliRecord>(s: &SinkSection) -> Result<SinkFormat<T>> {
    let formats = s.formats.factories::<T>();
    for e in &formats {
        if let (Some(key), false) = (e.given.first(), e.factory.name() == s.format.as_str()) {
            return Err(Error::config(
                format!("sink.{key}"),
                format!(
                    "only applies to format = \"{}\", not {:?}",
                    e.factory.name(),
                    s.format.as_str()
                ),
            ));
        }
    }
    match formats
        .iter()
        .find(|e| e.factory.name() == s.format.as_str())
    {
        Some(e) => e.factory.build().map_err(|e| job_field("sink", e)),
        None => Err(Error::config(
            "sink.format",
            format!("{:?} is not a format of this build", s.format.as_str()),
        )),
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
