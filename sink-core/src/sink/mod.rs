//! The file sink: buckets, part files, assigners, rolling, encoders, the committer and its state.
//!
//! A [`FileSink`] is built once per job, with Flink's builder names:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use sink_core::fs::LocalTarget;
//! use sink_core::sink::*;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sink = FileSink::for_row_format(LocalTarget::new(dir.path()).unwrap(), SimpleStringEncoder::<String>::new())
//!     .with_bucket_assigner(BasePathBucketAssigner)
//!     .with_rolling_policy(DefaultRollingPolicy::builder().with_max_part_size(1 << 20).build())
//!     .with_output_file_config(OutputFileConfig::builder().with_part_prefix("events").build())
//!     .build()
//!     .unwrap();
//!
//! // Each subtask (or your own program) gets a writer.
//! let mut writer = sink.writer(WriterContext::new(0, "run1"), vec![]).await.unwrap();
//! writer.write(&"hello".to_string(), &Context::default()).await.unwrap();
//! writer.close_all().await.unwrap();          // end of input: roll everything
//! let state = writer.snapshot(1).await.unwrap(); // store `state` durably, then:
//! writer.notify_checkpoint_complete(1).await.unwrap();
//! assert!(state.open.is_empty());
//! assert_eq!(std::fs::read_to_string(dir.path().join("events-run1-0-0.txt")).unwrap(), "hello\n");
//! # });
//! ```
//!
//! The protocol, per subtask: [`write`](FileSinkWriter::write) records; at a checkpoint,
//! [`snapshot`](FileSinkWriter::snapshot) and store the returned [`FileSinkState`] durably; once
//! it is durable, [`notify_checkpoint_complete`](FileSinkWriter::notify_checkpoint_complete)
//! publishes the parts closed up to that checkpoint. After a restart, call
//! [`FileSink::recover`] once with every subtask's state, then [`FileSink::writer`] per subtask
//! with its states.

mod assigner;
pub mod bucketing;
mod datetime;
mod dead_letter;
mod encoder;
mod fields;
mod rolling;
mod state;

pub use assigner::{
    escape_path_value, fnv1a, AssignError, BasePathBucketAssigner, BucketAssigner,
    ChainedBucketAssigner, Context, DateTimeBucketAssigner, FieldBucketAssigner, TimeSource,
    DEFAULT_DATE_TIME_FORMAT, HIVE_DEFAULT_PARTITION,
};
pub use datetime::{java_to_strftime, CachedFormatter, DateTimeFormat, TimeZone, Unit};
pub use dead_letter::{DeadLetter, DEFAULT_DEAD_LETTER_BUCKET};
pub use encoder::{
    BulkWriter, BulkWriterFactory, CsvEncoder, EncodeError, JsonLinesEncoder, PartEncoder,
    PartStart, RowEncoder, SimpleStringEncoder,
};
pub use fields::{json_field, FieldAccess, FieldValue};
pub use rolling::{
    AnyOf, CheckpointRollingPolicy, DefaultRollingPolicy, DefaultRollingPolicyBuilder,
    OnCheckpointRollingPolicy, PartFileInfo, RollingPolicy, RollingPolicyExt, RollsOnCheckpoint,
    DEFAULT_INACTIVITY_INTERVAL, DEFAULT_MAX_PART_SIZE, DEFAULT_ROLLOVER_INTERVAL,
};
pub use state::{FileSinkState, OpenPartState, PendingPart, FILE_SINK_STATE_VERSION};

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::fs::{
    Committable, DynWriter, RecoverableStream, RecoverableWriter, RelPath, ResumeHandle,
};
use crate::retry::Backoff;

/// Flink's default bucket check interval: how often time-based rolling is checked.
pub const DEFAULT_BUCKET_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// Bytes a row-format part buffers in memory before writing to its stream.
pub const DEFAULT_WRITE_BUFFER_SIZE: usize = 256 * 1024;
/// Memory all open parts of one subtask may hold (buffers and bulk writers).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;
/// Flink's default part prefix.
pub const DEFAULT_PART_PREFIX: &str = "part";
/// Parts persisted or closed at once at a checkpoint.
const IO_CONCURRENCY: usize = 32;
/// Names a writer skips in a row, because a target says they are in use, before it gives up.
const MAX_NAME_PROBES: u32 = 1_000_000;

fn wall_clock_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs storage operations a few dozen at a time. The futures are boxed so that the compiler can
/// prove the enclosing future `Send` (closures over borrowed iterators defeat its inference).
async fn concurrently<'a, R: Send + 'a>(futs: Vec<BoxFuture<'a, Result<R>>>) -> Result<Vec<R>> {
    stream::iter(futs)
        .buffer_unordered(IO_CONCURRENCY)
        .try_collect()
        .await
}

/// Why one write failed.
#[derive(Debug)]
pub enum WriteError {
    /// The record cannot be written (unassignable, does not encode, does not fit the schema). The
    /// sink is unchanged; the job's bad-record policy decides.
    BadRecord(String),
    /// The sink cannot go on (storage failure). The job must stop and restore.
    Fatal(Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::BadRecord(r) => write!(f, "bad record: {r}"),
            WriteError::Fatal(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Fatal(e)
    }
}

/// Part file names: `{prefix}-{run}-{subtask}-{counter}{suffix}` (Flink's `OutputFileConfig`).
///
/// The prefix defaults to `part`; the suffix to the format's (`.json`, `.csv`, `.parquet`).
/// [Legacy names](OutputFileConfigBuilder::with_legacy_part_names) leave the run id out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFileConfig {
    part_prefix: String,
    part_suffix: Option<String>,
    legacy_part_names: bool,
}

impl Default for OutputFileConfig {
    fn default() -> Self {
        OutputFileConfig {
            part_prefix: DEFAULT_PART_PREFIX.into(),
            part_suffix: None,
            legacy_part_names: false,
        }
    }
}

impl OutputFileConfig {
    /// Starts from the defaults.
    pub fn builder() -> OutputFileConfigBuilder {
        OutputFileConfigBuilder(OutputFileConfig::default())
    }

    /// The prefix.
    pub fn part_prefix(&self) -> &str {
        &self.part_prefix
    }

    /// The suffix, if set (otherwise the format's).
    pub fn part_suffix(&self) -> Option<&str> {
        self.part_suffix.as_deref()
    }

    /// True when names leave the run id out (`{prefix}-{subtask}-{counter}{suffix}`).
    pub fn legacy_part_names(&self) -> bool {
        self.legacy_part_names
    }

    fn validate(&self) -> Result<()> {
        let p = &self.part_prefix;
        if p.is_empty() || p.starts_with('.') || p.starts_with('_') {
            return Err(Error::config(
                "part_prefix",
                format!("{p:?}: must be non-empty and not start with '.' or '_' (readers would skip the files)"),
            ));
        }
        for (field, v) in [
            ("part_prefix", p.as_str()),
            ("part_suffix", self.part_suffix.as_deref().unwrap_or("")),
        ] {
            if v.contains('/') || v.contains('\\') || v.chars().any(char::is_control) {
                return Err(Error::config(
                    field,
                    format!("{v:?}: no '/', '\\' or control characters"),
                ));
            }
        }
        Ok(())
    }
}

/// Builder of [`OutputFileConfig`].
#[derive(Clone, Debug)]
pub struct OutputFileConfigBuilder(OutputFileConfig);

impl OutputFileConfigBuilder {
    /// Sets the prefix.
    pub fn with_part_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.0.part_prefix = prefix.into();
        self
    }

    /// Sets the suffix (may be empty).
    pub fn with_part_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.0.part_suffix = Some(suffix.into());
        self
    }

    /// Names parts `{prefix}-{subtask}-{counter}{suffix}`, without the run id, as Flink 1.9's
    /// `BucketingSink` did (`part-0-0`).
    ///
    /// Such names can already exist in the output (a previous job, an earlier run), so:
    ///
    /// * The target's `open` must refuse a name held by a published, pending or in-progress part
    ///   with [`Error::NameInUse`] ([`LocalTarget`](crate::fs::LocalTarget) does); the writer then
    ///   takes the next counter, as Flink's `BucketingSink` skipped existing names.
    /// * On a start, [`FileSink::recover`] lists the unpublished parts named `{prefix}-{subtask}-…`
    ///   and every writer starts its counter above the highest one of its subtask, so the names a
    ///   run creates are always above anything that was there before it.
    /// * Hence, after a restore, an unpublished part of subtask `s` that the checkpoint does not
    ///   reference and whose counter is at least the checkpoint's counter of `s` was written by
    ///   this job after the checkpoint: recovery deletes exactly those. Everything else (the
    ///   leftovers of other jobs, of a run that crashed before its first checkpoint) is left alone.
    ///
    /// Two jobs must not write the same prefix into the same directories at the same time (as with
    /// Flink).
    pub fn with_legacy_part_names(mut self, legacy: bool) -> Self {
        self.0.legacy_part_names = legacy;
        self
    }

    /// The config.
    pub fn build(self) -> OutputFileConfig {
        self.0
    }
}

enum Format<R> {
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

    fn is_bulk(&self) -> bool {
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

struct Shared<T> {
    target: DynWriter,
    format: Format<T>,
    policy: Arc<dyn RollingPolicy<T>>,
    prefix: String,
    suffix: String,
    legacy_names: bool,
    /// Legacy names: the least counter of each subtask, set by `recover` from the names in use.
    counter_floors: std::sync::Mutex<BTreeMap<usize, u64>>,
    bucket_check_interval: Duration,
    write_buffer_size: usize,
    memory_budget: usize,
    dead_letter_bucket: RelPath,
    commit_backoff: Backoff,
}

/// An exactly-once file sink (Flink's `FileSink` / `StreamingFileSink`). Build it with
/// [`FileSink::for_row_format`] or [`FileSink::for_bulk_format`]; clone it freely (it is shared).
pub struct FileSink<T> {
    shared: Arc<Shared<T>>,
    assigner: AssignerFactory<T>,
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
            .field("prefix", &self.shared.prefix)
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
                prefix: self.output.part_prefix,
                suffix,
                legacy_names: self.output.legacy_part_names,
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

/// Who a writer is: its subtask index (in part names) and the job's run id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterContext {
    /// The subtask index written into part names; unique among the writers sharing a target.
    pub subtask: usize,
    /// The run id written into part names, chosen on a job's first start and kept.
    pub run: String,
}

impl WriterContext {
    /// A context.
    pub fn new(subtask: usize, run: impl Into<String>) -> Self {
        WriterContext {
            subtask,
            run: run.into(),
        }
    }
}

/// What [`FileSink::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// In-progress parts that no checkpoint referenced, deleted.
    pub orphans_deleted: usize,
    /// Old copies removed (targets that resume by copying).
    pub handles_cleaned: usize,
    /// Legacy names: unpublished parts left in place because this job did not write them.
    pub foreign_left: usize,
}

/// What one [`FileSinkWriter::notify_checkpoint_complete`] published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Part files published.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their records.
    pub records: u64,
    /// For each published part, milliseconds from its close to its publication (wall clock).
    pub commit_lags_ms: Vec<u64>,
}

impl<T: Send + 'static> FileSink<T> {
    /// The target.
    pub fn target(&self) -> &DynWriter {
        &self.shared.target
    }

    /// How often the runtime should call [`FileSinkWriter::on_processing_time`].
    pub fn bucket_check_interval(&self) -> Duration {
        self.shared.bucket_check_interval
    }

    /// True for a bulk format.
    pub fn is_bulk(&self) -> bool {
        self.shared.format.is_bulk()
    }

    /// The name prefix shared by every part of a run: `{prefix}-{run}-` (legacy names: `{prefix}-`).
    pub fn run_prefix(&self, run: &str) -> String {
        if self.shared.legacy_names {
            format!("{}-", self.shared.prefix)
        } else {
            format!("{}-{run}-", self.shared.prefix)
        }
    }

    /// Legacy names: the subtask and counter of a part named `{prefix}-{subtask}-{counter}…`.
    fn legacy_name_counter(&self, file_name: &str) -> Option<(usize, u64)> {
        let rest = file_name
            .strip_prefix(self.shared.prefix.as_str())?
            .strip_prefix('-')?;
        let (subtask, rest) = rest.split_once('-')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        Some((subtask.parse().ok()?, rest[..digits].parse().ok()?))
    }

    /// Once per restart, before any writer is created: deletes in-progress parts of this run that
    /// the restored states do not reference (written after the checkpoint, before a crash) and the
    /// old copies the states list for cleanup. `restored` must hold every subtask's state of the
    /// checkpoint (empty on a fresh start with a new run id).
    pub async fn recover(&self, run: &str, restored: &[FileSinkState]) -> Result<RecoveryReport> {
        self.recover_inner(run, restored, false).await
    }

    /// [`recover`](Self::recover) for a restart of run `run` that never completed a checkpoint:
    /// every in-progress part it left is deleted. This matters only with
    /// [legacy names](OutputFileConfigBuilder::with_legacy_part_names), which carry no run id:
    /// without a checkpoint [`recover`](Self::recover) cannot tell the run's parts from another
    /// writer's and leaves them.
    pub async fn recover_unchecked_restart(&self, run: &str) -> Result<RecoveryReport> {
        self.recover_inner(run, &[], true).await
    }

    async fn recover_inner(
        &self,
        run: &str,
        restored: &[FileSinkState],
        unchecked_restart: bool,
    ) -> Result<RecoveryReport> {
        let target = &self.shared.target;
        let mut report = RecoveryReport::default();
        for h in restored.iter().flat_map(|s| &s.cleanup) {
            target.cleanup(h).await?;
            report.handles_cleaned += 1;
        }
        let keep: Vec<&serde_json::Value> = restored
            .iter()
            .flat_map(|s| {
                s.open
                    .iter()
                    .map(|o| &o.handle.data)
                    .chain(s.pending.iter().map(|p| &p.committable.data))
            })
            .collect();
        let held_paths: std::collections::HashSet<&RelPath> = restored
            .iter()
            .flat_map(|s| {
                s.open
                    .iter()
                    .map(|o| &o.handle.path)
                    .chain(s.pending.iter().map(|p| &p.committable.path))
            })
            .collect();
        // Legacy names: the checkpoint's counter of each subtask (see `with_legacy_part_names`).
        let mut restored_next: BTreeMap<usize, u64> = BTreeMap::new();
        for st in restored {
            let c = restored_next.entry(st.subtask).or_default();
            *c = (*c).max(st.next_counter);
        }
        let mut floors: BTreeMap<usize, u64> = BTreeMap::new();
        for item in target.list_in_progress(&self.run_prefix(run)).await? {
            let referenced = keep.iter().any(|d| target.same_in_progress(&item, d));
            let ours_after_checkpoint = if !self.shared.legacy_names {
                true
            } else {
                match self.legacy_name_counter(item.path.file_name()) {
                    None => false,
                    Some((subtask, n)) => {
                        // Ours: written after the checkpoint, or another copy of a part the
                        // checkpoint holds open or pending (a resume copies a part on targets
                        // that cannot truncate; a crash can leave the copy of an earlier attempt).
                        let ours = unchecked_restart
                            || restored_next.get(&subtask).is_some_and(|c| n >= *c)
                            || held_paths.contains(&item.path);
                        if referenced || !ours {
                            let f = floors.entry(subtask).or_default();
                            *f = (*f).max(n + 1);
                        }
                        ours
                    }
                }
            };
            if !referenced && ours_after_checkpoint {
                tracing::info!(path = %item.path, "deleting in-progress part no checkpoint references");
                target.delete_in_progress(&item).await?;
                report.orphans_deleted += 1;
            } else if !referenced {
                tracing::info!(path = %item.path, "leaving an unpublished part this job did not write");
                report.foreign_left += 1;
            }
        }
        *self
            .shared
            .counter_floors
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = floors;
        Ok(report)
    }

    /// A writer for one subtask, continuing from `restored` (this subtask's state, several when the
    /// parallelism changed, none on a fresh start): the parts they left pending are published
    /// (idempotently) and their open parts resumed.
    pub async fn writer(
        &self,
        ctx: WriterContext,
        restored: Vec<FileSinkState>,
    ) -> Result<FileSinkWriter<T>> {
        let shared = self.shared.clone();
        let floor = shared
            .counter_floors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ctx.subtask)
            .copied()
            .unwrap_or(0);
        let mut w = FileSinkWriter {
            shared: Arc::clone(&shared),
            assigner: (self.assigner)(),
            main: Lane::new(Arc::clone(&shared.policy), shared.suffix.clone()),
            dead: Lane::new(Arc::new(OnCheckpointRollingPolicy::build()), ".json".into()),
            dead_format: Format::Row(Box::new(JsonLinesEncoder::<DeadLetter>::new())),
            core: Core {
                next_counter: restored
                    .iter()
                    .map(|s| s.next_counter)
                    .max()
                    .unwrap_or(0)
                    .max(floor),
                ctx,
                untagged: Vec::new(),
                pending: BTreeMap::new(),
                superseded_untagged: Vec::new(),
                superseded: BTreeMap::new(),
                memory: 0,
                stats: SinkStats::default(),
                buckets_seen: HashSet::new(),
                shared,
            },
            scratch: String::new(),
        };
        let pending: Vec<PendingPart> = restored.iter().flat_map(|s| s.pending.clone()).collect();
        w.core.commit_parts(pending).await?;
        for state in restored {
            for open in state.open {
                w.resume_part(open).await?;
            }
        }
        Ok(w)
    }
}

/// Counters of one writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records accepted.
    pub records_written: u64,
    /// Dead letters written.
    pub dead_letters: u64,
    /// Parts opened.
    pub parts_opened: u64,
    /// Parts closed for commit.
    pub parts_closed: u64,
    /// Parts published.
    pub files_committed: u64,
    /// Bytes published.
    pub bytes_committed: u64,
    /// Records published.
    pub records_committed: u64,
}

struct PartFile<R> {
    bucket: String,
    stream: Box<dyn RecoverableStream>,
    bulk: Option<Box<dyn BulkWriter<R>>>,
    /// The part's own encoder, for row formats that keep per-file state.
    row: Option<Box<dyn PartEncoder<R>>>,
    buf: Vec<u8>,
    creation_time: i64,
    last_update_time: i64,
    records: u64,
    /// Memory accounted for this part in `Core::memory`.
    mem: usize,
    /// The handle of the last persist, reused while nothing new was written.
    persisted: Option<ResumeHandle>,
}

impl<R: 'static> PartFile<R> {
    fn size(&self) -> u64 {
        self.stream.len()
            + self.buf.len() as u64
            + self.bulk.as_ref().map_or(0, |b| b.pending_size() as u64)
    }

    fn info(&self) -> PartFileInfo<'_> {
        PartFileInfo {
            bucket_id: &self.bucket,
            creation_time: self.creation_time,
            last_update_time: self.last_update_time,
            size: self.size(),
            records: self.records,
        }
    }

    fn memory(&self) -> usize {
        self.buf.capacity() + self.bulk.as_ref().map_or(0, |b| b.buffered_bytes())
    }

    async fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.stream.write(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    async fn persist(&mut self) -> Result<ResumeHandle> {
        self.flush_buf().await?;
        if let Some(h) = &self.persisted {
            if h.len == self.stream.len() {
                return Ok(h.clone());
            }
        }
        let h = self.stream.persist().await?;
        self.persisted = Some(h.clone());
        Ok(h)
    }

    async fn close(mut self) -> Result<(Committable, u64, String)> {
        if let Some(bulk) = self.bulk.take() {
            bulk.finish(&mut self.buf)?;
        }
        self.flush_buf().await?;
        let c = self.stream.close_for_commit().await?;
        Ok((c, self.records, self.bucket))
    }
}

/// The open parts of a lane, by bucket id.
///
/// Parts live in a slab indexed by a hash map (foldhash: fast on short keys, seeded per process),
/// and the slot of the last part used is remembered: consecutive records nearly always go to the
/// same bucket, and then finding the part costs one string comparison instead of a hash lookup.
struct Parts<R> {
    slots: Vec<Option<PartFile<R>>>,
    free: Vec<usize>,
    index: std::collections::HashMap<String, usize, foldhash::fast::RandomState>,
    last: usize,
}

impl<R> Default for Parts<R> {
    fn default() -> Self {
        Parts {
            slots: Vec::new(),
            free: Vec::new(),
            index: Default::default(),
            last: 0,
        }
    }
}

/// `a == b`, without `memcmp` for empty keys (the base-path bucket): glibc's AVX-512 `memcmp` loads
/// from the dangling pointer of an empty `String` with an empty mask, and the fault suppression
/// that needs cost a quarter of the time per record.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

impl<R> Parts<R> {
    fn get_mut(&mut self, key: &str) -> Option<&mut PartFile<R>> {
        let hit = matches!(self.slots.get(self.last), Some(Some(p)) if same_key(&p.bucket, key));
        if !hit {
            self.last = *self.index.get(key)?;
        }
        self.slots[self.last].as_mut()
    }

    fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    fn remove(&mut self, key: &str) -> Option<PartFile<R>> {
        let i = self.index.remove(key)?;
        self.free.push(i);
        self.slots[i].take()
    }

    /// Adds a part under its bucket id, which must not have one.
    fn insert(&mut self, part: PartFile<R>) -> &mut PartFile<R> {
        debug_assert!(!self.index.contains_key(&part.bucket));
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.index.insert(part.bucket.clone(), i);
        self.last = i;
        self.slots[i].insert(part)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn iter(&self) -> impl Iterator<Item = &PartFile<R>> {
        self.slots.iter().flatten()
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut PartFile<R>> {
        self.slots.iter_mut().flatten()
    }

    fn drain(&mut self) -> Vec<PartFile<R>> {
        self.index.clear();
        self.free.clear();
        self.slots.drain(..).flatten().collect()
    }

    /// The bucket ids of the parts that satisfy `pred`.
    fn keys_where(&self, mut pred: impl FnMut(&PartFile<R>) -> bool) -> Vec<String> {
        self.iter()
            .filter(|p| pred(p))
            .map(|p| p.bucket.clone())
            .collect()
    }
}

struct Lane<R> {
    parts: Parts<R>,
    policy: Arc<dyn RollingPolicy<R>>,
    suffix: String,
}

impl<R: Send + 'static> Lane<R> {
    fn new(policy: Arc<dyn RollingPolicy<R>>, suffix: String) -> Self {
        Lane {
            parts: Parts::default(),
            policy,
            suffix,
        }
    }

    async fn write<T>(
        &mut self,
        core: &mut Core<T>,
        format: &Format<R>,
        key: &str,
        record: &R,
        now: i64,
    ) -> std::result::Result<(), WriteError> {
        if let Some(part) = self.parts.get_mut(key) {
            if !self.policy.should_roll_on_event(&part.info(), record) {
                encode_into(part, core, format, record, now)?;
                return Ok(flush_if_full(part, core).await?);
            }
        }
        self.open_and_write(core, format, key, record, now).await
    }

    /// Rolls the bucket's open part, if any, opens a new one and writes the record to it.
    async fn open_and_write<T>(
        &mut self,
        core: &mut Core<T>,
        format: &Format<R>,
        key: &str,
        record: &R,
        now: i64,
    ) -> std::result::Result<(), WriteError> {
        let bucket = RelPath::parse(key)
            .map_err(|e| WriteError::BadRecord(format!("bucket id {key:?}: {e}")))?;
        if let Some(old) = self.parts.remove(key) {
            core.close_part(old).await?;
        }
        let part = core
            .open_part(key, &bucket, format, &self.suffix, now)
            .await?;
        let part = self.parts.insert(part);
        encode_into(part, core, format, record, now)?;
        Ok(flush_if_full(part, core).await?)
    }
}

/// Encodes a record into an open part's buffer and keeps the memory account; no I/O.
fn encode_into<T, R: 'static>(
    part: &mut PartFile<R>,
    core: &mut Core<T>,
    format: &Format<R>,
    record: &R,
    now: i64,
) -> std::result::Result<(), WriteError> {
    match (&mut part.bulk, format) {
        (None, Format::Row(enc)) => {
            let mark = part.buf.len();
            let res = match &mut part.row {
                None => enc.encode(record, &mut part.buf),
                Some(pe) => pe.encode(record, part.stream.len() + mark as u64, &mut part.buf),
            };
            if let Err(e) = res {
                part.buf.truncate(mark);
                return Err(WriteError::BadRecord(e.0));
            }
        }
        (Some(w), _) => {
            w.add(record)?;
            w.take_output(&mut part.buf);
        }
        (None, Format::Bulk(_)) => {
            return Err(WriteError::Fatal(Error::Internal(
                "row part in a bulk sink".into(),
            )))
        }
    }
    part.records += 1;
    part.last_update_time = now;
    let mem = part.memory();
    core.memory = core.memory + mem - part.mem;
    part.mem = mem;
    Ok(())
}

/// Writes a part's buffer to its stream once it is full.
async fn flush_if_full<T, R: 'static>(part: &mut PartFile<R>, core: &mut Core<T>) -> Result<()> {
    if part.buf.len() >= core.shared.write_buffer_size {
        part.flush_buf().await?;
        let mem = part.memory();
        core.memory = core.memory + mem - part.mem;
        part.mem = mem;
    }
    Ok(())
}

struct Core<T> {
    shared: Arc<Shared<T>>,
    ctx: WriterContext,
    next_counter: u64,
    untagged: Vec<PendingPart>,
    pending: BTreeMap<u64, Vec<PendingPart>>,
    superseded_untagged: Vec<ResumeHandle>,
    superseded: BTreeMap<u64, Vec<ResumeHandle>>,
    memory: usize,
    stats: SinkStats,
    buckets_seen: HashSet<String>,
}

impl<T> Core<T> {
    fn part_name(&mut self, suffix: &str) -> String {
        let n = self.next_counter;
        self.next_counter += 1;
        if self.shared.legacy_names {
            format!("{}-{}-{n}{suffix}", self.shared.prefix, self.ctx.subtask)
        } else {
            format!(
                "{}-{}-{}-{n}{suffix}",
                self.shared.prefix, self.ctx.run, self.ctx.subtask
            )
        }
    }

    /// Opens a stream under the next free name: names the target says are in use are skipped.
    async fn open_stream(
        &mut self,
        bucket: &RelPath,
        suffix: &str,
    ) -> Result<(RelPath, Box<dyn RecoverableStream>)> {
        let mut skipped = 0;
        loop {
            let path = bucket.join(&self.part_name(suffix))?;
            match self.shared.target.open(&path).await {
                Ok(stream) => return Ok((path, stream)),
                Err(Error::NameInUse { path: p, message }) if skipped < MAX_NAME_PROBES => {
                    tracing::debug!(path = %p, %message, "part name in use; taking the next");
                    skipped += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn open_part<R: 'static>(
        &mut self,
        key: &str,
        bucket: &RelPath,
        format: &Format<R>,
        suffix: &str,
        now: i64,
    ) -> Result<PartFile<R>> {
        let (path, stream) = self.open_stream(bucket, suffix).await?;
        let (bulk, row, buf) = match format {
            Format::Row(enc) => match enc.part_encoder(PartStart {
                path: &path,
                resumed_len: None,
            }) {
                Some(mut pe) => {
                    let mut buf = Vec::new();
                    pe.header(&mut buf);
                    (None, Some(pe), buf)
                }
                None => (
                    None,
                    None,
                    enc.header().map(<[u8]>::to_vec).unwrap_or_default(),
                ),
            },
            Format::Bulk(f) => match f.create(bucket) {
                Ok(w) => (Some(w), None, Vec::new()),
                Err(e) => {
                    let _ = stream.discard().await;
                    return Err(e);
                }
            },
        };
        self.stats.parts_opened += 1;
        if !self.buckets_seen.contains(key) {
            self.buckets_seen.insert(key.to_owned());
        }
        let mut part = PartFile {
            bucket: key.to_owned(),
            stream,
            bulk,
            row,
            buf,
            creation_time: now,
            last_update_time: now,
            records: 0,
            mem: 0,
            persisted: None,
        };
        part.mem = part.memory();
        self.memory += part.mem;
        Ok(part)
    }

    async fn close_part<R: 'static>(&mut self, part: PartFile<R>) -> Result<()> {
        let mem = part.mem;
        let (committable, records, bucket) = part.close().await?;
        self.memory -= mem;
        self.stats.parts_closed += 1;
        self.untagged.push(PendingPart {
            checkpoint: 0,
            bucket,
            committable,
            records,
            closed_at: wall_clock_millis(),
        });
        Ok(())
    }

    async fn commit_parts(&mut self, parts: Vec<PendingPart>) -> Result<CommitReport> {
        if parts.is_empty() {
            return Ok(CommitReport::default());
        }
        let target = &self.shared.target;
        let backoff = self.shared.commit_backoff;
        let commits: Vec<BoxFuture<'_, Result<()>>> = parts
            .iter()
            .map(|p| {
                backoff
                    .retry("commit", move || target.commit(&p.committable))
                    .boxed()
            })
            .collect();
        concurrently(commits).await?;
        let paths: Vec<RelPath> = parts.iter().map(|p| p.committable.path.clone()).collect();
        target.sync_commits(&paths).await?;
        let now = wall_clock_millis();
        let report = CommitReport {
            files: parts.len() as u64,
            bytes: parts.iter().map(|p| p.committable.len).sum(),
            records: parts.iter().map(|p| p.records).sum(),
            commit_lags_ms: parts
                .iter()
                .filter(|p| p.closed_at > 0)
                .map(|p| now.saturating_sub(p.closed_at).max(0) as u64)
                .collect(),
        };
        self.stats.files_committed += report.files;
        self.stats.bytes_committed += report.bytes;
        self.stats.records_committed += report.records;
        Ok(report)
    }
}

/// What is left of a write after [`FileSinkWriter::write_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the record is in the part's buffer.
    Done,
    /// The bucket needs a new part (none open, or the open one rolls); the record is not written.
    Open,
    /// The record is written; the part's buffer is full and must go to its stream.
    Flush,
    /// The record is written; the subtask is over its memory budget.
    Relieve,
}

/// One subtask's part of a [`FileSink`]: its buckets, open parts and pending parts.
pub struct FileSinkWriter<T> {
    shared: Arc<Shared<T>>,
    assigner: Box<dyn BucketAssigner<T>>,
    main: Lane<T>,
    dead: Lane<DeadLetter>,
    dead_format: Format<DeadLetter>,
    core: Core<T>,
    scratch: String,
}

impl<T: Send + 'static> FileSinkWriter<T> {
    /// Writes one record. A [`WriteError::BadRecord`] leaves the sink unchanged.
    pub async fn write(
        &mut self,
        record: &T,
        ctx: &Context,
    ) -> std::result::Result<(), WriteError> {
        match self.write_sync(record, ctx)? {
            Next::Done => Ok(()),
            next => self.finish_write(next, record, ctx).await,
        }
    }

    /// The part of [`write`](Self::write) that needs no I/O, which is nearly every record: the
    /// bucket has an open part that does not roll, and the part's buffer has room. Returns what is
    /// left to do, for [`finish_write`](Self::finish_write). Keeping this synchronous spares every
    /// record the cost of moving a large future.
    pub fn write_sync(
        &mut self,
        record: &T,
        ctx: &Context,
    ) -> std::result::Result<Next, WriteError> {
        self.scratch.clear();
        self.assigner
            .assign(record, ctx, &mut self.scratch)
            .map_err(|e| WriteError::BadRecord(e.0))?;
        let Some(part) = self.main.parts.get_mut(self.scratch.as_str()) else {
            return Ok(Next::Open);
        };
        if self.main.policy.should_roll_on_event(&part.info(), record) {
            return Ok(Next::Open);
        }
        encode_into(
            part,
            &mut self.core,
            &self.shared.format,
            record,
            ctx.processing_time,
        )?;
        self.core.stats.records_written += 1;
        Ok(if part.buf.len() >= self.shared.write_buffer_size {
            Next::Flush
        } else if self.core.memory > self.shared.memory_budget {
            Next::Relieve
        } else {
            Next::Done
        })
    }

    /// Does the I/O [`write_sync`](Self::write_sync) left for `record` (which must be the record
    /// just given to it).
    pub async fn finish_write(
        &mut self,
        next: Next,
        record: &T,
        ctx: &Context,
    ) -> std::result::Result<(), WriteError> {
        match next {
            Next::Done => return Ok(()),
            Next::Open => {
                self.main
                    .open_and_write(
                        &mut self.core,
                        &self.shared.format,
                        &self.scratch,
                        record,
                        ctx.processing_time,
                    )
                    .await?;
                self.core.stats.records_written += 1;
            }
            Next::Flush => {
                if let Some(part) = self.main.parts.get_mut(self.scratch.as_str()) {
                    flush_if_full(part, &mut self.core).await?;
                }
            }
            Next::Relieve => {}
        }
        if self.core.memory > self.shared.memory_budget {
            self.relieve_memory().await?;
        }
        Ok(())
    }

    /// Writes a dead letter to the dead-letter bucket, under the same exactly-once protocol.
    pub async fn write_dead_letter(&mut self, letter: &DeadLetter, now: i64) -> Result<()> {
        let key = self.core.shared.dead_letter_bucket.as_str().to_owned();
        match self
            .dead
            .write(&mut self.core, &self.dead_format, &key, letter, now)
            .await
        {
            Ok(()) => {
                self.core.stats.dead_letters += 1;
                Ok(())
            }
            Err(WriteError::Fatal(e)) => Err(e),
            Err(WriteError::BadRecord(r)) => {
                Err(Error::Internal(format!("dead letter refused: {r}")))
            }
        }
    }

    /// Rolls the parts whose policy says so at processing time `now` (ms). The runtime calls it
    /// every bucket check interval, so time-based rolls need no new record.
    pub async fn on_processing_time(&mut self, now: i64) -> Result<()> {
        let policy = Arc::clone(&self.main.policy);
        let due = self
            .main
            .parts
            .keys_where(|p| policy.should_roll_on_processing_time(&p.info(), now));
        for key in due {
            if let Some(part) = self.main.parts.remove(&key) {
                self.core.close_part(part).await?;
            }
        }
        Ok(())
    }

    /// Rolls every open part, for the end of input or a stop: after the next checkpoint completes,
    /// nothing is left in progress.
    pub async fn close_all(&mut self) -> Result<()> {
        let parts: Vec<PartFile<T>> = self.main.parts.drain();
        let dead: Vec<PartFile<DeadLetter>> = self.dead.parts.drain();
        self.close_many(parts).await?;
        self.close_many(dead).await
    }

    async fn close_many<R: 'static>(&mut self, parts: Vec<PartFile<R>>) -> Result<()> {
        let mem: usize = parts.iter().map(|p| p.mem).sum();
        let closes: Vec<BoxFuture<'_, Result<(Committable, u64, String)>>> =
            parts.into_iter().map(|p| p.close().boxed()).collect();
        let closed = concurrently(closes).await?;
        self.core.memory -= mem;
        for (committable, records, bucket) in closed {
            self.core.stats.parts_closed += 1;
            self.core.untagged.push(PendingPart {
                checkpoint: 0,
                bucket,
                committable,
                records,
                closed_at: wall_clock_millis(),
            });
        }
        Ok(())
    }

    /// Takes this subtask's part of checkpoint `checkpoint_id`: parts the policy rolls (every part
    /// of a bulk format, every dead-letter part) are closed and become pending for this checkpoint;
    /// the others are made durable and described by a resume handle. Store the returned state
    /// durably before calling [`notify_checkpoint_complete`](Self::notify_checkpoint_complete).
    pub async fn snapshot(&mut self, checkpoint_id: u64) -> Result<FileSinkState> {
        let shared = Arc::clone(&self.core.shared);
        let bulk = shared.format.is_bulk();
        let roll = self
            .main
            .parts
            .keys_where(|p| bulk || shared.policy.should_roll_on_checkpoint(&p.info()));
        let closing: Vec<PartFile<T>> = roll
            .iter()
            .filter_map(|k| self.main.parts.remove(k))
            .collect();
        self.close_many(closing).await?;
        let dead: Vec<PartFile<DeadLetter>> = self.dead.parts.drain();
        self.close_many(dead).await?;

        let persists: Vec<BoxFuture<'_, Result<OpenPartState>>> = self
            .main
            .parts
            .values_mut()
            .map(|p| {
                async move {
                    let handle = p.persist().await?;
                    Ok(OpenPartState {
                        bucket: p.bucket.clone(),
                        handle,
                        creation_time: p.creation_time,
                        last_update_time: p.last_update_time,
                        records: p.records,
                        dead_letter: false,
                    })
                }
                .boxed()
            })
            .collect();
        let open = concurrently(persists).await?;

        let core = &mut self.core;
        if !core.untagged.is_empty() {
            let mut tagged = std::mem::take(&mut core.untagged);
            for p in &mut tagged {
                p.checkpoint = checkpoint_id;
            }
            core.pending
                .entry(checkpoint_id)
                .or_default()
                .extend(tagged);
        }
        if !core.superseded_untagged.is_empty() {
            let s = std::mem::take(&mut core.superseded_untagged);
            core.superseded.entry(checkpoint_id).or_default().extend(s);
        }
        let mut open = open;
        open.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        Ok(FileSinkState {
            version: FILE_SINK_STATE_VERSION,
            run: core.ctx.run.clone(),
            subtask: core.ctx.subtask,
            next_counter: core.next_counter,
            open,
            pending: core.pending.values().flatten().cloned().collect(),
            cleanup: core.superseded.values().flatten().cloned().collect(),
        })
    }

    /// Publishes every part pending for checkpoints up to `checkpoint_id`, which is now durable, and
    /// removes old copies no longer referenced.
    pub async fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<CommitReport> {
        let core = &mut self.core;
        let later = core.pending.split_off(&(checkpoint_id + 1));
        let ready: Vec<PendingPart> = std::mem::replace(&mut core.pending, later)
            .into_values()
            .flatten()
            .collect();
        let report = core.commit_parts(ready).await?;
        let later = core.superseded.split_off(&(checkpoint_id + 1));
        let done = std::mem::replace(&mut core.superseded, later);
        for h in done.into_values().flatten() {
            core.shared.target.cleanup(&h).await?;
        }
        Ok(report)
    }

    async fn resume_part(&mut self, open: OpenPartState) -> Result<()> {
        let shared = Arc::clone(&self.core.shared);
        let stream = shared.target.resume(&open.handle).await?;
        if !shared.target.capabilities().resume_in_place {
            self.core.superseded_untagged.push(open.handle.clone());
        }
        let row = match &shared.format {
            Format::Row(enc) => enc.part_encoder(PartStart {
                path: &open.handle.path,
                resumed_len: Some(open.handle.len),
            }),
            Format::Bulk(_) => None,
        };
        let part_of = |bucket: String| PartFile {
            bucket,
            stream,
            bulk: None,
            row,
            buf: Vec::new(),
            creation_time: open.creation_time,
            last_update_time: open.last_update_time,
            records: open.records,
            mem: 0,
            persisted: None,
        };
        let part: PartFile<T> = part_of(open.bucket.clone());
        if open.dead_letter {
            return self.core.close_part(part).await;
        }
        if shared.format.is_bulk() || self.main.parts.contains_key(&open.bucket) {
            // A bulk file cannot be continued, and a bucket keeps one open part: publish this one.
            return self.core.close_part(part).await;
        }
        self.core.buckets_seen.insert(open.bucket.clone());
        self.main.parts.insert(part);
        Ok(())
    }

    async fn relieve_memory(&mut self) -> Result<()> {
        let budget = self.core.shared.memory_budget;
        let mut order: Vec<(usize, String)> = self
            .main
            .parts
            .iter()
            .map(|p| (p.mem, p.bucket.clone()))
            .collect();
        order.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        // First write out buffers and flush bulk writers, largest first.
        for (_, key) in &order {
            if self.core.memory <= budget / 2 {
                return Ok(());
            }
            let Some(part) = self.main.parts.get_mut(key) else {
                continue;
            };
            if let Some(w) = part.bulk.as_mut() {
                w.flush()?;
                w.take_output(&mut part.buf);
            }
            part.flush_buf().await?;
            part.buf = Vec::new();
            let mem = part.memory();
            self.core.memory = self.core.memory + mem - part.mem;
            part.mem = mem;
        }
        // Writers that keep memory after a flush: roll the largest until the budget holds.
        for (_, key) in &order {
            if self.core.memory <= budget * 3 / 4 {
                break;
            }
            if let Some(part) = self.main.parts.remove(key) {
                self.core.close_part(part).await?;
            }
        }
        Ok(())
    }

    /// Open parts, data and dead letters.
    pub fn open_parts(&self) -> usize {
        self.main.parts.len() + self.dead.parts.len()
    }

    /// Closed parts waiting for a checkpoint to complete.
    pub fn pending_parts(&self) -> usize {
        self.core.untagged.len() + self.core.pending.values().map(Vec::len).sum::<usize>()
    }

    /// Memory held by open parts, in bytes.
    pub fn memory(&self) -> usize {
        self.core.memory
    }

    /// Distinct buckets written by this writer.
    pub fn buckets_seen(&self) -> usize {
        self.core.buckets_seen.len()
    }

    /// The `n` open parts holding the most bytes: `(bucket, bytes, records)`.
    pub fn largest_open_parts(&self, n: usize) -> Vec<(String, u64, u64)> {
        let mut v: Vec<(String, u64, u64)> = self
            .main
            .parts
            .iter()
            .map(|p| (p.bucket.clone(), p.size(), p.records))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The ids of the buckets written by this writer.
    pub fn bucket_ids(&self) -> Vec<String> {
        self.core.buckets_seen.iter().cloned().collect()
    }

    /// Counters.
    pub fn stats(&self) -> &SinkStats {
        &self.core.stats
    }

    /// The sink's target.
    pub fn target(&self) -> &DynWriter {
        &self.core.shared.target
    }
}

#[cfg(test)]
mod tests;
