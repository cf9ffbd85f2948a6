//! Flink 1.9's `BucketingSink` API, with the same knobs, names and defaults, running on Spillway's
//! exactly-once [`FileSink`]: [`BucketingSink`] is a builder of a `FileSink`, not a second sink.
//!
//! | Flink 1.9 | here | default |
//! | --- | --- | --- |
//! | `new BucketingSink<>(basePath)` | [`BucketingSink::new`] (local disk) or [`BucketingSink::with_target`] (HDFS, ...) | |
//! | `setBucketer(new DateTimeBucketer<>(fmt))` | [`bucketer`](BucketingSink::bucketer)`(`[`DateTimeBucketer`]`::new().with_format(fmt)?)` | `DateTimeBucketer`, `yyyy-MM-dd--HH` on processing time (zone UTC; Flink: the JVM's) |
//! | `setBucketer(new BasePathBucketer<>())` | [`bucketer`](BucketingSink::bucketer)`(`[`BasePathBucketer`]`)` | |
//! | your own `Bucketer` | any [`BucketAssigner`] | |
//! | `setWriter(new StringWriter<>())` | [`writer`](BucketingSink::writer)`(`[`StringWriter`]`::new())` | `StringWriter` |
//! | `setWriter(new SequenceFileWriter<>(..))` | `writer(connector_sequencefile::SequenceFileWriter::..)` | |
//! | your own `Writer` | [`BucketingFormat::row`] (a [`RowEncoder`]) or [`BucketingFormat::bulk`] (a [`BulkWriterFactory`]) | |
//! | `setBatchSize` | [`batch_size`](BucketingSink::batch_size) | 384 MiB ([`DEFAULT_BATCH_SIZE`]) |
//! | `setBatchRolloverInterval` | [`batch_rollover_interval`](BucketingSink::batch_rollover_interval) | never (`Long.MAX_VALUE`) |
//! | `setInactiveBucketCheckInterval` | [`inactive_bucket_check_interval`](BucketingSink::inactive_bucket_check_interval) | 60 s |
//! | `setInactiveBucketThreshold` | [`inactive_bucket_threshold`](BucketingSink::inactive_bucket_threshold) | 60 s |
//! | `setPartPrefix`, `setPartSuffix` | [`part_prefix`](BucketingSink::part_prefix), [`part_suffix`](BucketingSink::part_suffix) | `part`, none |
//! | `setInProgressPrefix/Suffix` | [`in_progress_prefix`](BucketingSink::in_progress_prefix), [`in_progress_suffix`](BucketingSink::in_progress_suffix) | `_`, `.in-progress` |
//! | `setPendingPrefix/Suffix` | [`pending_prefix`](BucketingSink::pending_prefix), [`pending_suffix`](BucketingSink::pending_suffix) | `_`, `.pending` |
//! | `setValidLengthPrefix/Suffix` | [`valid_length_prefix`](BucketingSink::valid_length_prefix), [`valid_length_suffix`](BucketingSink::valid_length_suffix) | `_`, `.valid-length` (never written: Spillway truncates) |
//! | `setAsyncTimeout` | [`async_timeout`](BucketingSink::async_timeout) | 60 s (kept; storage calls are retried with backoff instead) |
//!
//! Files are named as the `BucketingSink` named them: `part-{subtask}-{counter}` in the bucket's
//! directory, `_part-{subtask}-{counter}.in-progress` while open and `_part-…​.pending` once closed,
//! renamed to the final name when the checkpoint that closed them completes. As in Flink, a part
//! rolls when it is larger than the batch size (checked before each record), older than the
//! rollover interval, or has had no record for the inactivity threshold (checked every check
//! interval); a part that is open at a checkpoint stays open and is resumed after a crash
//! (truncated to the checkpoint's length). Unlike Flink, records are exactly once in the published
//! files, and in-progress and pending files a crash leaves behind are removed on restart when this
//! job wrote them (see [`OutputFileConfigBuilder::with_legacy_part_names`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use sink_core::sink::bucketing::{BasePathBucketer, BucketingSink, StringWriter};
//! use sink_core::sink::{Context, WriterContext};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sink = BucketingSink::<String>::new(dir.path())
//!     .bucketer(BasePathBucketer)
//!     .writer(StringWriter::new())
//!     .batch_size(1024 * 1024 * 400)
//!     .batch_rollover_interval(Duration::from_secs(20 * 60))
//!     .build()
//!     .unwrap();
//! let mut w = sink.writer(WriterContext::new(0, "run"), vec![]).await.unwrap();
//! w.write(&"hello".to_string(), &Context::default()).await.unwrap();
//! assert!(dir.path().join("_part-0-0.in-progress").exists());
//! w.close_all().await.unwrap();
//! w.snapshot(1).await.unwrap();
//! assert!(dir.path().join("_part-0-0.pending").exists());
//! w.notify_checkpoint_complete(1).await.unwrap();
//! assert_eq!(std::fs::read_to_string(dir.path().join("part-0-0")).unwrap(), "hello\n");
//! # });
//! ```

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(doc)]
use super::OutputFileConfigBuilder;
use super::{
    AnyOf, BucketAssigner, FileSink, OnCheckpointRollingPolicy, OutputFileConfig, PartFileInfo,
    RollingPolicy, SimpleStringEncoder,
};
#[cfg(doc)]
use super::{BulkWriterFactory, RowEncoder};
use crate::error::{Error, Result};
use crate::fs::{DynWriter, InProgressNaming, LegacyNaming, LocalTarget};

/// Flink's `DEFAULT_BATCH_SIZE`: 384 MiB (`1024L * 1024L * 384L`).
pub const DEFAULT_BATCH_SIZE: u64 = 1024 * 1024 * 384;
/// Flink's `DEFAULT_INACTIVE_BUCKET_CHECK_INTERVAL_MS`: 60 s.
pub const DEFAULT_INACTIVE_BUCKET_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Flink's `DEFAULT_INACTIVE_BUCKET_THRESHOLD_MS`: 60 s.
pub const DEFAULT_INACTIVE_BUCKET_THRESHOLD: Duration = Duration::from_secs(60);
/// Flink's `DEFAULT_BATCH_ROLLOVER_INTERVAL` (`Long.MAX_VALUE`): never.
pub const DEFAULT_BATCH_ROLLOVER_INTERVAL: Option<Duration> = None;
/// Flink's `DEFAULT_PART_PREFIX`.
pub const DEFAULT_PART_PREFIX: &str = "part";
/// Flink's `DEFAULT_PART_SUFFIX` (`null`): none.
pub const DEFAULT_PART_SUFFIX: Option<&str> = None;
/// Flink's `DEFAULT_VALID_PREFIX`.
pub const DEFAULT_VALID_LENGTH_PREFIX: &str = "_";
/// Flink's `DEFAULT_VALID_SUFFIX`.
pub const DEFAULT_VALID_LENGTH_SUFFIX: &str = ".valid-length";
/// Flink's `DEFAULT_ASYNC_TIMEOUT_MS`: 60 s.
pub const DEFAULT_ASYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// `DateTimeBucketer`'s default format.
pub const DEFAULT_DATE_TIME_FORMAT: &str = "yyyy-MM-dd--HH";
pub use crate::fs::{
    DEFAULT_IN_PROGRESS_PREFIX, DEFAULT_IN_PROGRESS_SUFFIX, DEFAULT_PENDING_PREFIX,
    DEFAULT_PENDING_SUFFIX,
};

/// Flink's `BasePathBucketer`: every record in the base directory.
pub use super::BasePathBucketAssigner as BasePathBucketer;

/// Flink's `DateTimeBucketer`: a directory per `yyyy-MM-dd--HH` of processing time
/// (`DateTimeBucketer::new().with_format("yyyy-MM-dd--HHmm")` for another format).
pub use super::DateTimeBucketAssigner as DateTimeBucketer;

mod config;

pub use config::{
    BucketerName, BucketingApi, BucketingSinkConfig, LegacyDuration, LegacySize, WriterName,
};

/// What a `BucketingSink` writer becomes: a row format or a bulk format of the file sink
/// ([`BucketingFormat::row`] for your own [`RowEncoder`], [`BucketingFormat::bulk`] for your own
/// [`BulkWriterFactory`]). The same type as every format of the file sink.
pub type BucketingFormat<T> = crate::wiring::SinkFormat<T>;

/// Flink's `StringWriter`: each record's text (`Display`) and a newline, UTF-8.
pub struct StringWriter<T>(std::marker::PhantomData<fn(&T)>);

impl<T> StringWriter<T> {
    /// The writer.
    pub fn new() -> Self {
        StringWriter(std::marker::PhantomData)
    }
}

impl<T> Default for StringWriter<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Display + 'static> From<StringWriter<T>> for BucketingFormat<T> {
    fn from(_: StringWriter<T>) -> Self {
        BucketingFormat::row(SimpleStringEncoder::<T>::new())
    }
}

/// `BucketingSink`'s rolling rules: a part rolls before a record when it is larger than the batch
/// size, and on the timer when it had no record for the inactivity threshold or is older than the
/// rollover interval (age is checked only on the timer, within one check interval). It never rolls because of a
/// checkpoint (a bulk format does, whatever the policy says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketingRollingPolicy {
    /// Bytes (`writePosition > batchSize` rolls).
    pub batch_size: u64,
    /// Age; `None`: never.
    pub batch_rollover_interval: Option<Duration>,
    /// Time without a record.
    pub inactive_bucket_threshold: Duration,
}

impl Default for BucketingRollingPolicy {
    fn default() -> Self {
        BucketingRollingPolicy {
            batch_size: DEFAULT_BATCH_SIZE,
            batch_rollover_interval: DEFAULT_BATCH_ROLLOVER_INTERVAL,
            inactive_bucket_threshold: DEFAULT_INACTIVE_BUCKET_THRESHOLD,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl BucketingRollingPolicy {
    fn too_old(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        self.batch_rollover_interval
            .is_some_and(|r| now.saturating_sub(part.creation_time) > ms(r))
    }
}

impl<T> RollingPolicy<T> for BucketingRollingPolicy {
    fn should_roll_on_checkpoint(&self, _: &PartFileInfo<'_>) -> bool {
        false
    }

    fn should_roll_on_event(&self, part: &PartFileInfo<'_>, _: &T) -> bool {
        // Flink compares with the clock here too; the timer below covers age within one check
        // interval, and the record's own time is not known to the policy.
        part.size > self.batch_size
    }

    fn should_roll_on_processing_time(&self, part: &PartFileInfo<'_>, now: i64) -> bool {
        part.last_update_time < now.saturating_sub(ms(self.inactive_bucket_threshold))
            || self.too_old(part, now)
    }
}

enum Target {
    Local(PathBuf),
    Given(DynWriter),
}

/// Builds a [`FileSink`] with Flink 1.9 `BucketingSink`'s knobs and defaults (see the
/// [module](self)).
pub struct BucketingSink<T> {
    target: Target,
    assigner: Option<super::AssignerFactory<T>>,
    format: Option<BucketingFormat<T>>,
    policy: BucketingRollingPolicy,
    inactive_bucket_check_interval: Duration,
    part_prefix: String,
    part_suffix: Option<String>,
    naming: LegacyNaming,
    valid_length_prefix: String,
    valid_length_suffix: String,
    async_timeout: Duration,
}

impl<T: Send + 'static> BucketingSink<T> {
    /// A sink writing under `base_path` on local disk (Flink's `new BucketingSink<>(basePath)`).
    pub fn new(base_path: impl Into<PathBuf>) -> Self {
        Self::with(Target::Local(base_path.into()))
    }

    /// A sink writing to a target (HDFS, ...). The target names unpublished parts its own way:
    /// configure it with [`InProgressNaming::Legacy`] for Flink's names; the prefixes and suffixes
    /// set here are then ignored.
    pub fn with_target(target: DynWriter) -> Self {
        Self::with(Target::Given(target))
    }

    fn with(target: Target) -> Self {
        BucketingSink {
            target,
            assigner: None,
            format: None,
            policy: BucketingRollingPolicy::default(),
            inactive_bucket_check_interval: DEFAULT_INACTIVE_BUCKET_CHECK_INTERVAL,
            part_prefix: DEFAULT_PART_PREFIX.into(),
            part_suffix: DEFAULT_PART_SUFFIX.map(Into::into),
            naming: LegacyNaming::default(),
            valid_length_prefix: DEFAULT_VALID_LENGTH_PREFIX.into(),
            valid_length_suffix: DEFAULT_VALID_LENGTH_SUFFIX.into(),
            async_timeout: DEFAULT_ASYNC_TIMEOUT,
        }
    }

    /// Flink's `setBucketer`: [`BasePathBucketer`], [`DateTimeBucketer`] or your own assigner.
    pub fn bucketer<A: BucketAssigner<T> + Clone + Sync>(mut self, bucketer: A) -> Self {
        self.assigner = Some(Arc::new(move || Box::new(bucketer.clone())));
        self
    }

    /// Flink's `setWriter`: [`StringWriter`], `connector_sequencefile::SequenceFileWriter`, or your
    /// own as a [`BucketingFormat`].
    pub fn writer(mut self, writer: impl Into<BucketingFormat<T>>) -> Self {
        self.format = Some(writer.into());
        self
    }

    /// Flink's `setBatchSize`: a part larger than this rolls before the next record.
    pub fn batch_size(mut self, bytes: u64) -> Self {
        self.policy.batch_size = bytes;
        self
    }

    /// Flink's `setBatchRolloverInterval`: a part older than this rolls.
    pub fn batch_rollover_interval(mut self, interval: Duration) -> Self {
        self.policy.batch_rollover_interval = Some(interval);
        self
    }

    /// Flink's `setInactiveBucketCheckInterval`: how often age and inactivity are checked.
    pub fn inactive_bucket_check_interval(mut self, interval: Duration) -> Self {
        self.inactive_bucket_check_interval = interval;
        self
    }

    /// Flink's `setInactiveBucketThreshold`: a part without a record for this long rolls.
    pub fn inactive_bucket_threshold(mut self, threshold: Duration) -> Self {
        self.policy.inactive_bucket_threshold = threshold;
        self
    }

    /// Flink's `setPartPrefix`.
    pub fn part_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.part_prefix = prefix.into();
        self
    }

    /// Flink's `setPartSuffix`.
    pub fn part_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.part_suffix = Some(suffix.into());
        self
    }

    /// Flink's `setInProgressPrefix`.
    pub fn in_progress_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.naming.in_progress_prefix = prefix.into();
        self
    }

    /// Flink's `setInProgressSuffix`.
    pub fn in_progress_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.naming.in_progress_suffix = suffix.into();
        self
    }

    /// Flink's `setPendingPrefix`.
    pub fn pending_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.naming.pending_prefix = prefix.into();
        self
    }

    /// Flink's `setPendingSuffix`.
    pub fn pending_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.naming.pending_suffix = suffix.into();
        self
    }

    /// Flink's `setValidLengthPrefix`. Kept so that settings carry over; Spillway truncates a part
    /// on resume and never writes valid-length files.
    pub fn valid_length_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.valid_length_prefix = prefix.into();
        self
    }

    /// Flink's `setValidLengthSuffix`. Kept, unused (see
    /// [`valid_length_prefix`](Self::valid_length_prefix)).
    pub fn valid_length_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.valid_length_suffix = suffix.into();
        self
    }

    /// Flink's `setAsyncTimeout` (for HDFS lease recovery and truncate). Kept so that settings
    /// carry over; Spillway's storage calls are retried with backoff instead.
    pub fn async_timeout(mut self, timeout: Duration) -> Self {
        self.async_timeout = timeout;
        self
    }

    /// The rolling rules.
    pub fn rolling_policy(&self) -> BucketingRollingPolicy {
        self.policy
    }

    /// The naming of in-progress and pending files.
    pub fn legacy_naming(&self) -> &LegacyNaming {
        &self.naming
    }

    /// The part prefix and suffix.
    pub fn part_names(&self) -> (&str, Option<&str>) {
        (&self.part_prefix, self.part_suffix.as_deref())
    }

    /// The check interval.
    pub fn check_interval(&self) -> Duration {
        self.inactive_bucket_check_interval
    }

    /// The valid-length prefix and suffix (unused).
    pub fn valid_length_names(&self) -> (&str, &str) {
        (&self.valid_length_prefix, &self.valid_length_suffix)
    }

    /// The async timeout (unused).
    pub fn async_timeout_value(&self) -> Duration {
        self.async_timeout
    }

    /// Checks the settings and builds the [`FileSink`]. A writer must be set (Flink's default,
    /// [`StringWriter`], needs records that implement `Display`: `.writer(StringWriter::new())`).
    pub fn build(self) -> Result<FileSink<T>> {
        let Some(format) = self.format else {
            return Err(Error::config(
                "writer",
                "no writer set: .writer(StringWriter::new()) writes each record's text and a newline, as Flink's default",
            ));
        };
        if self.policy.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1 byte"));
        }
        if self.policy.inactive_bucket_threshold.is_zero() {
            return Err(Error::config(
                "inactive_bucket_threshold",
                "must be longer than 0",
            ));
        }
        self.naming.validate()?;
        let target: DynWriter = match self.target {
            Target::Local(root) => Arc::new(
                LocalTarget::new(root)?.with_naming(InProgressNaming::Legacy(self.naming))?,
            ),
            Target::Given(t) => t,
        };
        let output = OutputFileConfig::builder()
            .with_part_prefix(self.part_prefix)
            .with_part_suffix(self.part_suffix.unwrap_or_default())
            .with_legacy_part_names(true)
            .build();
        let assigner = self
            .assigner
            .unwrap_or_else(|| Arc::new(|| Box::new(DateTimeBucketer::new())));
        let sink = match format {
            BucketingFormat::Row(enc) => FileSink::for_row_format(target, enc)
                .with_bucket_assigner_factory(move || assigner())
                .with_rolling_policy(self.policy)
                .with_output_file_config(output)
                .with_bucket_check_interval(self.inactive_bucket_check_interval)
                .build()?,
            BucketingFormat::Bulk(factory) => FileSink::for_bulk_format(target, factory)
                .with_bucket_assigner_factory(move || assigner())
                .with_rolling_policy(AnyOf(OnCheckpointRollingPolicy::build(), self.policy))
                .with_output_file_config(output)
                .with_bucket_check_interval(self.inactive_bucket_check_interval)
                .build()?,
        };
        Ok(sink)
    }
}

#[cfg(test)]
mod tests;
