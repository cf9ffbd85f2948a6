//! [`FileSink`], its builder, and the settings every writer of a sink shares.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::assigner::{BucketAssigner, DateTimeBucketAssigner};
use super::dead_letter::DEFAULT_DEAD_LETTER_BUCKET;
use super::encoder::{BulkWriterFactory, RowEncoder};
use super::output::{OutputFileConfig, PartNames};
use super::rolling::{
    DefaultRollingPolicy, OnCheckpointRollingPolicy, RollingPolicy, RollsOnCheckpoint,
};
use crate::error::{Error, Result};
use crate::fs::{DynWriter, RecoverableWriter, RelPath};
use crate::retry::Backoff;

/// Flink's default bucket check interval: how often time-based rolling is checked.
pub const DEFAULT_BUCKET_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Bytes a row-format part buffers in memory before writing to its stream.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 256 * 1024;
/// Memory all open parts of one subtask may hold (buffers and bulk writers).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;

/// How records become bytes: appended rows, or whole files from a bulk writer.
pub(super) enum Format<R> {
    Row(Box<dyn RowEncoder<R>>),
    Bulk(Box<dyn BulkWriterFactory<R>>),
}

impl<R: 'static> Format<R> {
    fn suffix(&self) -> &str {
        match self {
            Format::Row(e) => e.suffix(),
            Format::Bulk(f) => f.suffix(),
        }
    }

    pub(super) fn is_bulk(&self) -> bool {
        matches!(self, Format::Bulk(_))
    }
}

pub(crate) type AssignerFactory<T> = Arc<dyn Fn() -> Box<dyn BucketAssigner<T>> + Send + Sync>;

/// Anything that can be a sink's target: a [`RecoverableWriter`] or a shared one.
pub trait IntoTarget {
    /// The shared target.
    fn into_target(self) -> DynWriter;
}

impl<W: RecoverableWriter> IntoTarget for W {
    fn into_target(self) -> DynWriter {
        Arc::new(self)
    }
}

impl IntoTarget for DynWriter {
    fn into_target(self) -> DynWriter {
        self
    }
}

/// What every writer of one sink shares.
pub(super) struct Shared<T> {
    pub(super) target: DynWriter,
    pub(super) format: Format<T>,
    pub(super) policy: Arc<dyn RollingPolicy<T>>,
    pub(super) names: PartNames,
    /// The main lane's suffix: the config's, else the format's.
    pub(super) suffix: String,
    /// Legacy names: the least counter of each subtask, set by `recover` from the names in use.
    pub(super) counter_floors: Mutex<BTreeMap<usize, u64>>,
    pub(super) bucket_check_interval: Duration,
    pub(super) write_buffer_size: usize,
    pub(super) memory_budget: usize,
    pub(super) dead_letter_bucket: RelPath,
    pub(super) commit_backoff: Backoff,
}

/// An exactly-once file sink (Flink's `FileSink` / `StreamingFileSink`). Build it with
/// [`FileSink::for_row_format`] or [`FileSink::for_bulk_format`]; clone it freely (it is shared).
pub struct FileSink<T> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) assigner: AssignerFactory<T>,
}

impl<T> Clone for FileSink<T> {
    fn clone(&self) -> Self {
        FileSink {
            shared: self.shared.clone(),
            assigner: self.assigner.clone(),
        }
    }
}

impl<T: 'static> fmt::Debug for FileSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("target", &self.shared.target.to_string())
            .field("bulk", &self.shared.format.is_bulk())
            .field("prefix", &self.shared.names.prefix())
            .field("suffix", &self.shared.suffix)
            .finish()
    }
}

/// Marker of a row-format builder.
pub struct RowFormat;
/// Marker of a bulk-format builder.
pub struct BulkFormat;

/// Builds a [`FileSink`]. Row and bulk formats share it; bulk formats accept only policies that
/// roll on checkpoint.
pub struct FileSinkBuilder<T, K> {
    target: DynWriter,
    format: Format<T>,
    assigner: Option<AssignerFactory<T>>,
    policy: Option<Arc<dyn RollingPolicy<T>>>,
    output: OutputFileConfig,
    bucket_check_interval: Duration,
    write_buffer_size: usize,
    memory_budget: usize,
    dead_letter_bucket: String,
    _kind: PhantomData<K>,
}

impl<T: 'static> FileSink<T> {
    /// A sink of rows: each record is encoded and appended to the open part (Flink's
    /// `FileSink.forRowFormat`). Defaults: hourly processing-time buckets, the default rolling
    /// policy (128 MiB / 60 s / 60 s), prefix `part` and the encoder's suffix.
    pub fn for_row_format(
        target: impl IntoTarget,
        encoder: impl RowEncoder<T>,
    ) -> FileSinkBuilder<T, RowFormat> {
        FileSinkBuilder::new(target.into_target(), Format::Row(Box::new(encoder)))
    }

    /// A sink of whole files written by a bulk writer (Flink's `FileSink.forBulkFormat`): Parquet,
    /// SequenceFile. Parts roll at every checkpoint.
    pub fn for_bulk_format(
        target: impl IntoTarget,
        factory: impl BulkWriterFactory<T>,
    ) -> FileSinkBuilder<T, BulkFormat> {
        FileSinkBuilder::new(target.into_target(), Format::Bulk(Box::new(factory)))
    }
}

impl<T: 'static, K> FileSinkBuilder<T, K> {
    fn new(target: DynWriter, format: Format<T>) -> Self {
        FileSinkBuilder {
            target,
            format,
            assigner: None,
            policy: None,
            output: OutputFileConfig::default(),
            bucket_check_interval: DEFAULT_BUCKET_CHECK_INTERVAL,
            write_buffer_size: DEFAULT_WRITE_BUFFER_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            dead_letter_bucket: DEFAULT_DEAD_LETTER_BUCKET.into(),
            _kind: PhantomData,
        }
    }

    /// Chooses the bucket of each record. Every subtask gets its own clone.
    pub fn with_bucket_assigner<A: BucketAssigner<T> + Clone + Sync>(
        mut self,
        assigner: A,
    ) -> Self {
        self.assigner = Some(Arc::new(move || Box::new(assigner.clone())));
        self
    }

    /// Chooses the bucket with a factory called once per subtask (for assigners that are not
    /// `Clone`).
    pub fn with_bucket_assigner_factory(
        mut self,
        factory: impl Fn() -> Box<dyn BucketAssigner<T>> + Send + Sync + 'static,
    ) -> Self {
        self.assigner = Some(Arc::new(factory));
        self
    }

    /// Names part files.
    pub fn with_output_file_config(mut self, config: OutputFileConfig) -> Self {
        self.output = config;
        self
    }

    /// How often time-based rolling is checked (default 60 s, as in Flink).
    pub fn with_bucket_check_interval(mut self, interval: Duration) -> Self {
        self.bucket_check_interval = interval;
        self
    }

    /// Bytes a row part buffers before writing to its stream (default 256 KiB).
    pub fn with_write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Memory all open parts of one subtask may hold (default 256 MiB). Past it, the largest parts
    /// write out their buffers (bulk writers flush a row group) and, if that is not enough, roll.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// The bucket of dead letters (default `_dead_letter`).
    pub fn with_dead_letter_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.dead_letter_bucket = bucket.into();
        self
    }

    /// Checks the settings and builds the sink.
    pub fn build(self) -> Result<FileSink<T>> {
        self.output.validate()?;
        if self.bucket_check_interval.is_zero() {
            return Err(Error::config(
                "bucket_check_interval",
                "must be longer than 0",
            ));
        }
        if self.memory_budget == 0 {
            return Err(Error::config("memory_budget", "must be at least 1 byte"));
        }
        let dead_letter_bucket = RelPath::parse(&self.dead_letter_bucket)
            .map_err(|e| Error::config("dead_letter_bucket", e.to_string()))?;
        let bulk = self.format.is_bulk();
        let policy: Arc<dyn RollingPolicy<T>> = match self.policy {
            Some(p) => p,
            None if bulk => Arc::new(OnCheckpointRollingPolicy::build()),
            None => Arc::new(DefaultRollingPolicy::default()),
        };
        let suffix = self
            .output
            .part_suffix()
            .unwrap_or(self.format.suffix())
            .to_string();
        let assigner = self
            .assigner
            .unwrap_or_else(|| Arc::new(|| Box::new(DateTimeBucketAssigner::new())));
        Ok(FileSink {
            shared: Arc::new(Shared {
                target: self.target,
                format: self.format,
                policy,
                names: self.output.names(),
                suffix,
                counter_floors: Default::default(),
                bucket_check_interval: self.bucket_check_interval,
                write_buffer_size: self.write_buffer_size.max(1),
                memory_budget: self.memory_budget,
                dead_letter_bucket,
                commit_backoff: Backoff::default(),
            }),
            assigner,
        })
    }
}

impl<T: 'static> FileSinkBuilder<T, RowFormat> {
    /// Decides when parts roll (default: [`DefaultRollingPolicy`]).
    pub fn with_rolling_policy(mut self, policy: impl RollingPolicy<T>) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }
}

impl<T: 'static> FileSinkBuilder<T, BulkFormat> {
    /// Decides when parts roll besides every checkpoint (default: [`OnCheckpointRollingPolicy`]).
    pub fn with_rolling_policy(
        mut self,
        policy: impl RollingPolicy<T> + RollsOnCheckpoint,
    ) -> Self {
        self.policy = Some(Arc::new(policy));
        self
    }
}

impl<T: Send + 'static> FileSink<T> {
    /// The target.
    pub fn target(&self) -> &DynWriter {
        &self.shared.target
    }

    /// How often the runtime should call
    /// [`FileSinkWriter::on_processing_time`](super::FileSinkWriter::on_processing_time).
    pub fn bucket_check_interval(&self) -> Duration {
        self.shared.bucket_check_interval
    }

    /// True for a bulk format.
    pub fn is_bulk(&self) -> bool {
        self.shared.format.is_bulk()
    }

    /// The name prefix shared by every part of a run: `{prefix}-{run}-` (legacy names: `{prefix}-`).
    pub fn run_prefix(&self, run: &str) -> String {
        self.shared.names.run_prefix(run)
    }
}
