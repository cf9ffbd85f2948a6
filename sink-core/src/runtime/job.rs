//! A job: a source, chained transforms and a sink, run by `parallelism` subtasks with a checkpoint
//! coordinator.
//!
//! ```no_run
//! # async fn demo() -> sink_core::Result<()> {
//! use std::time::Duration;
//! use sink_core::fs::LocalTarget;
//! use sink_core::runtime::*;
//! use sink_core::sink::*;
//!
//! let sink = FileSink::for_row_format(LocalTarget::new("lake")?, JsonLinesEncoder::<Event>::new())
//!     .with_bucket_assigner(DateTimeBucketAssigner::new().with_event_time())
//!     .build()?;
//! let summary = Job::builder("demo")
//!     .parallelism(2)
//!     .checkpoint_interval(Duration::from_secs(5))
//!     .checkpoint_store(LocalCheckpointStore::new("checkpoints")?)
//!     .from_source(GeneratorSource::new(GeneratorConfig { count: Some(1_000_000), ..Default::default() })?)
//!     .filter(|e: &Event| e.behavior != Behavior::Pv)
//!     .sink_to(sink)
//!     .run()
//!     .await?;
//! println!("{} records in {} files", summary.records_out, summary.files_committed);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::checkpoint::{
    checkpoint_name, Checkpoint, CheckpointManager, CheckpointStore, CheckpointTotals,
    DynCheckpointStore, CHECKPOINT_VERSION, DEFAULT_RETAINED_CHECKPOINTS,
};
use super::metrics::{CoordinatorMetrics, MetricGroup, SubtaskMetrics};
use super::operator::{
    AssignTimestamps, Filter, FlatMap, Identity, Map, Operator, OperatorFactory, Then, TryMap,
};
use super::sink::{Sink, SinkMetrics, SinkWriter};
use super::source::{
    BadRecord, Batch, Boundedness, ReadStatus, ReaderContext, Source, SourceReader, StreamRecord,
    SubtaskInfo,
};
use super::time::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::sink::DeadLetter;

/// What happens to a record that cannot be decoded, transformed, assigned or encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRecordPolicy {
    /// Stop the job with a message naming the record's origin. Nothing past the last checkpoint is
    /// published; a restart meets the same record again.
    #[default]
    Fail,
    /// Count it and go on.
    Skip,
    /// Write it with its origin and the reason to the dead-letter bucket, count it, go on.
    DeadLetter,
}

/// Default checkpoint interval.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// Default checkpoint timeout (Flink's: 10 minutes).
pub const DEFAULT_CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default number of consecutive failed checkpoints tolerated before the job fails.
pub const DEFAULT_TOLERABLE_FAILED_CHECKPOINTS: u32 = 3;
/// Default records per batch.
pub const DEFAULT_BATCH_SIZE: usize = 1024;

/// Checkpointing settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Time between checkpoint triggers.
    pub interval: Duration,
    /// A checkpoint not complete after this long is abandoned (and counts as failed).
    pub timeout: Duration,
    /// Least time between the end of one checkpoint and the start of the next.
    pub min_pause: Duration,
    /// Complete checkpoints kept (at least 1).
    pub retain: usize,
    /// Consecutive failed checkpoints tolerated before the job fails.
    pub tolerable_failures: u32,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            timeout: DEFAULT_CHECKPOINT_TIMEOUT,
            min_pause: Duration::ZERO,
            retain: DEFAULT_RETAINED_CHECKPOINTS,
            tolerable_failures: DEFAULT_TOLERABLE_FAILED_CHECKPOINTS,
        }
    }
}

/// What a transform's `open` gets (Flink's `RuntimeContext`).
#[derive(Clone, Debug)]
pub struct RuntimeContext {
    /// The job's name.
    pub job_name: String,
    /// This subtask.
    pub subtask: SubtaskInfo,
    /// The subtask's metric scope (labels `job_name`, `worker`, `subtask`): register your own
    /// counters, gauges, histograms and meters here.
    pub metrics: MetricGroup,
}

/// Live counters of a running job, shared with progress bars and metric exporters.
#[derive(Debug, Default)]
pub struct JobProgress {
    /// Records read by all subtasks.
    pub records_in: AtomicU64,
    /// Records handed to the sink.
    pub records_out: AtomicU64,
    /// Bad records, all policies.
    pub bad_records: AtomicU64,
    /// Bad records skipped.
    pub bad_skipped: AtomicU64,
    /// Bad records written as dead letters.
    pub dead_letters: AtomicU64,
    /// Part files published.
    pub files_committed: AtomicU64,
    /// Bytes published.
    pub bytes_committed: AtomicU64,
    /// Records published.
    pub records_committed: AtomicU64,
    /// Checkpoints completed in this run.
    pub checkpoints_completed: AtomicU64,
    /// Checkpoints that failed or timed out in this run.
    pub checkpoints_failed: AtomicU64,
    /// Id of the last completed checkpoint.
    pub last_checkpoint_id: AtomicU64,
    /// When the last checkpoint completed, ms since the epoch (0: none yet).
    pub last_checkpoint_time: AtomicU64,
    /// How long the last checkpoint took, ms.
    pub last_checkpoint_duration_ms: AtomicU64,
    /// Size of the last checkpoint document, bytes.
    pub last_checkpoint_size: AtomicU64,
    /// Records expected in all, for bounded sources.
    pub expected_records: AtomicU64,
    /// True once the restore is done and subtasks run.
    pub ready: AtomicBool,
    /// True once the job has ended.
    pub finished: AtomicBool,
    /// True while stopping.
    pub stopping: AtomicBool,
    /// What the job is, set when it starts.
    pub info: Mutex<JobInfo>,
    /// The last checkpoints, newest last (at most [`RECENT_CHECKPOINTS`]).
    pub recent_checkpoints: Mutex<VecDeque<CheckpointInfo>>,
    /// The largest open parts of each subtask, refreshed on ticks and checkpoints.
    pub busiest_buckets: Mutex<Vec<Vec<BucketLoad>>>,
    /// Records behind the end of each source split (Kafka consumer lag), by split id.
    pub source_lags: Mutex<BTreeMap<String, i64>>,
    /// Watermark of each subtask, ms.
    pub watermarks: Mutex<Vec<Option<i64>>>,
    /// Why the job failed, if it did.
    pub failure: Mutex<Option<String>>,
}

/// Checkpoints kept in [`JobProgress::recent_checkpoints`].
pub const RECENT_CHECKPOINTS: usize = 20;

/// What a running job is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobInfo {
    /// Its name.
    pub name: String,
    /// Its run id.
    pub run: String,
    /// This worker.
    pub worker: usize,
    /// Workers of the job.
    pub workers: usize,
    /// Subtasks in this process.
    pub parallelism: usize,
    /// The checkpoint it restored, if any.
    pub restored_from: Option<u64>,
    /// When it started, ms since the epoch.
    pub started_at: i64,
}

/// One checkpoint, for status pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Its id.
    pub id: u64,
    /// When it was triggered, ms since the epoch.
    pub timestamp: i64,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// Size of the checkpoint document, bytes (0 when it failed).
    pub size: u64,
    /// True for a final checkpoint.
    pub final_checkpoint: bool,
    /// `None` when completed; why it failed otherwise.
    pub failure: Option<String>,
}

/// How much an open part holds, for "busiest buckets".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketLoad {
    /// The bucket id.
    pub bucket: String,
    /// Bytes in its open part.
    pub bytes: u64,
    /// Records in its open part.
    pub records: u64,
}

impl JobProgress {
    /// Recent checkpoints, oldest first.
    pub fn checkpoints(&self) -> Vec<CheckpointInfo> {
        self.recent_checkpoints
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The `n` largest open parts over all subtasks.
    pub fn busiest(&self, n: usize) -> Vec<BucketLoad> {
        let mut all: Vec<BucketLoad> = self
            .busiest_buckets
            .lock()
            .map(|b| b.iter().flatten().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.bucket.cmp(&b.bucket)));
        all.truncate(n);
        all
    }

    fn push_checkpoint(&self, info: CheckpointInfo) {
        if let Ok(mut c) = self.recent_checkpoints.lock() {
            c.push_back(info);
            while c.len() > RECENT_CHECKPOINTS {
                c.pop_front();
            }
        }
    }
}

impl JobProgress {
    fn add(&self, c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// What a finished job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobSummary {
    /// Records read in this run.
    pub records_in: u64,
    /// Records handed to the sink in this run.
    pub records_out: u64,
    /// Bad records in this run.
    pub bad_records: u64,
    /// Part files published in this run.
    pub files_committed: u64,
    /// Bytes published in this run.
    pub bytes_committed: u64,
    /// Records published in this run.
    pub records_committed: u64,
    /// Distinct buckets written in this run.
    pub buckets: u64,
    /// Checkpoints completed in this run.
    pub checkpoints: u64,
    /// The checkpoint this run started from.
    pub restored_from: Option<u64>,
    /// The last checkpoint completed.
    pub last_checkpoint: Option<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Totals over all runs, from the last checkpoint.
    pub totals: CheckpointTotals,
    /// True when the source ended (rather than the job being stopped).
    pub input_ended: bool,
}

#[derive(Clone)]
struct JobSettings {
    name: String,
    parallelism: usize,
    worker: usize,
    workers: usize,
    checkpoint: CheckpointConfig,
    store: Option<DynCheckpointStore>,
    bad_records: BadRecordPolicy,
    batch_size: usize,
    clock: Arc<dyn Clock>,
}

/// Entry point: `Job::builder("name")`.
pub struct Job;

impl Job {
    /// Starts building a job.
    pub fn builder(name: impl Into<String>) -> JobBuilder {
        JobBuilder {
            settings: JobSettings {
                name: name.into(),
                parallelism: 1,
                worker: 0,
                workers: 1,
                checkpoint: CheckpointConfig::default(),
                store: None,
                bad_records: BadRecordPolicy::default(),
                batch_size: DEFAULT_BATCH_SIZE,
                clock: Arc::new(SystemClock),
            },
        }
    }
}

/// Job settings, then the source.
pub struct JobBuilder {
    settings: JobSettings,
}

impl JobBuilder {
    /// Subtasks in this process (default 1).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.settings.parallelism = n;
        self
    }

    /// This process is worker `index` of `count` (default 0 of 1).
    pub fn worker(mut self, index: usize, count: usize) -> Self {
        self.settings.worker = index;
        self.settings.workers = count;
        self
    }

    /// All checkpoint settings.
    pub fn checkpointing(mut self, config: CheckpointConfig) -> Self {
        self.settings.checkpoint = config;
        self
    }

    /// Time between checkpoints (default 10 s).
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.settings.checkpoint.interval = interval;
        self
    }

    /// Where checkpoints are kept (required).
    pub fn checkpoint_store(mut self, store: impl CheckpointStore) -> Self {
        self.settings.store = Some(Arc::new(store));
        self
    }

    /// Where checkpoints are kept, shared.
    pub fn checkpoint_store_dyn(mut self, store: DynCheckpointStore) -> Self {
        self.settings.store = Some(store);
        self
    }

    /// What to do with bad records (default: fail).
    pub fn bad_records(mut self, policy: BadRecordPolicy) -> Self {
        self.settings.bad_records = policy;
        self
    }

    /// Records per batch (default 1024).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n.max(1);
        self
    }

    /// The processing-time clock (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// Reads from `source`.
    pub fn from_source<S: Send + Sync + 'static>(self, source: impl Source<S>) -> Pipeline<S, S> {
        Pipeline {
            settings: self.settings,
            source: Arc::new(source),
            chain: Arc::new(|| Box::new(Identity)),
            payload: None,
            _t: PhantomData,
        }
    }
}

type PayloadFn<T> = Arc<dyn Fn(&T) -> Vec<u8> + Send + Sync>;

/// A source and its transforms, waiting for a sink.
pub struct Pipeline<S, T> {
    settings: JobSettings,
    source: Arc<dyn Source<S>>,
    chain: OperatorFactory<S, T>,
    payload: Option<PayloadFn<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<S: Send + Sync + 'static, T: Send + Sync + 'static> Pipeline<S, T> {
    /// Appends an operator, created once per subtask by `factory`.
    pub fn transform<U: Send + Sync + 'static>(
        self,
        factory: impl Fn() -> Box<dyn Operator<T, U>> + Send + Sync + 'static,
    ) -> Pipeline<S, U> {
        let prev = self.chain;
        Pipeline {
            settings: self.settings,
            source: self.source,
            chain: Arc::new(move || {
                Box::new(Then {
                    first: prev(),
                    second: factory(),
                    mid: Vec::new(),
                })
            }),
            payload: None,
            _t: PhantomData,
        }
    }

    /// Transforms each record.
    pub fn map<U: Send + Sync + 'static>(
        self,
        f: impl Fn(T) -> U + Clone + Send + Sync + 'static,
    ) -> Pipeline<S, U> {
        self.transform(move || Box::new(Map(f.clone(), PhantomData)))
    }

    /// Keeps the records for which `f` is true.
    pub fn filter(self, f: impl Fn(&T) -> bool + Clone + Send + Sync + 'static) -> Pipeline<S, T> {
        let payload = self.payload.clone();
        let mut p = self.transform(move || Box::new(Filter(f.clone())));
        p.payload = payload;
        p
    }

    /// Turns each record into zero or more.
    pub fn flat_map<U: Send + Sync + 'static, I: IntoIterator<Item = U> + 'static>(
        self,
        f: impl Fn(T) -> I + Clone + Send + Sync + 'static,
    ) -> Pipeline<S, U> {
        self.transform(move || Box::new(FlatMap(f.clone(), PhantomData)))
    }

    /// Transforms each record; an `Err` makes it a bad record (the job's policy decides).
    pub fn try_map<U: Send + Sync + 'static, E: std::fmt::Display + 'static>(
        self,
        f: impl Fn(T) -> std::result::Result<U, E> + Clone + Send + Sync + 'static,
    ) -> Pipeline<S, U> {
        self.transform(move || Box::new(TryMap(f.clone(), PhantomData)))
    }

    /// Sets each record's event timestamp (ms) from the record.
    pub fn assign_timestamps(
        self,
        f: impl Fn(&T) -> Option<i64> + Clone + Send + Sync + 'static,
    ) -> Pipeline<S, T> {
        let payload = self.payload.clone();
        let mut p = self.transform(move || Box::new(AssignTimestamps(f.clone())));
        p.payload = payload;
        p
    }

    /// How a record that the sink refused is written into a dead letter's payload.
    pub fn with_dead_letter_payload(
        mut self,
        f: impl Fn(&T) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        self.payload = Some(Arc::new(f));
        self
    }

    /// Writes into `sink`.
    pub fn sink_to(self, sink: impl Sink<T>) -> JobRunner<S, T> {
        self.sink_to_dyn(Arc::new(sink))
    }

    /// Writes into a shared sink.
    pub fn sink_to_dyn(self, sink: Arc<dyn Sink<T>>) -> JobRunner<S, T> {
        let progress = JobProgress::default();
        if let Boundedness::Bounded {
            expected_records: Some(n),
        } = self.source.boundedness()
        {
            progress.expected_records.store(n, Ordering::Relaxed);
        }
        JobRunner {
            pipeline: self,
            sink,
            progress: Arc::new(progress),
        }
    }
}

/// A complete job, ready to run.
pub struct JobRunner<S, T> {
    pipeline: Pipeline<S, T>,
    sink: Arc<dyn Sink<T>>,
    progress: Arc<JobProgress>,
}

enum Control {
    Barrier { id: u64, close_all: bool },
    Complete { id: u64 },
    StopReading,
    Stop,
}

enum Event {
    Snapshot {
        subtask: usize,
        id: u64,
        positions: Vec<(String, serde_json::Value)>,
        sink: serde_json::Value,
        watermark: Option<i64>,
        counts: Counts,
    },
    Committed {
        subtask: usize,
        metrics: SinkMetrics,
    },
    Finished {
        subtask: usize,
    },
    Exited {
        buckets: Vec<String>,
    },
    Failed {
        subtask: usize,
        error: Error,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    records_in: u64,
    records_out: u64,
    bad: u64,
}

impl<S: Send + Sync + 'static, T: Send + Sync + 'static> JobRunner<S, T> {
    /// Live counters, for progress bars and metrics. Take it before `run`.
    pub fn progress(&self) -> Arc<JobProgress> {
        Arc::clone(&self.progress)
    }

    /// Runs until the source ends (bounded) or forever (unbounded).
    pub async fn run(self) -> Result<JobSummary> {
        self.run_until(std::future::pending()).await
    }

    /// Runs until the source ends or `stop` resolves. On `stop`, the subtasks stop reading, every
    /// open part is rolled, and a final checkpoint publishes them: nothing is left in progress.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send) -> Result<JobSummary> {
        let started = Instant::now();
        let JobRunner {
            pipeline,
            sink,
            progress,
        } = self;
        let _finished = FinishedOnDrop(Arc::clone(&progress));
        let settings = pipeline.settings.clone();
        if settings.parallelism == 0 {
            return Err(Error::config("parallelism", "must be at least 1"));
        }
        if settings.workers == 0 || settings.worker >= settings.workers {
            return Err(Error::config(
                "worker",
                format!(
                    "worker {} of {} does not exist",
                    settings.worker, settings.workers
                ),
            ));
        }
        if settings.checkpoint.interval.is_zero() {
            return Err(Error::config(
                "checkpoint.interval",
                "must be longer than 0",
            ));
        }
        let store = settings
            .store
            .clone()
            .ok_or_else(|| Error::config("checkpoint.dir", "a job needs a checkpoint store"))?;
        let manager = CheckpointManager::new(store, settings.checkpoint.retain);
        let run_existed = manager.has_meta().await?;
        let meta = manager
            .load_or_create_meta_with(
                &settings.name,
                settings.worker,
                settings.workers,
                Some(settings.parallelism),
            )
            .await?;
        let restored = manager.latest().await;
        if let Err(e) = &restored {
            if let Ok(mut f) = progress.failure.lock() {
                *f = Some(e.to_string());
            }
        }
        let restored = restored?;
        let location = restored
            .as_ref()
            .map(|c| manager.store().location(&checkpoint_name(c.id)))
            .unwrap_or_default();
        if let Some(c) = &restored {
            tracing::info!(checkpoint = c.id, %location, "restoring");
        }
        if let Boundedness::Bounded {
            expected_records: Some(n),
        } = pipeline.source.boundedness()
        {
            progress.expected_records.store(n, Ordering::Relaxed);
        }
        let sink_states: Vec<serde_json::Value> = restored
            .as_ref()
            .map(|c| c.sinks.clone())
            .unwrap_or_default();
        // A run that was started before but never completed a checkpoint: everything it left in
        // progress is its own.
        let unchecked_restart = run_existed && restored.is_none();
        sink.recover(&meta.run, &sink_states, &location, unchecked_restart)
            .await?;

        let p = settings.parallelism;
        if let Ok(mut info) = progress.info.lock() {
            *info = JobInfo {
                name: settings.name.clone(),
                run: meta.run.clone(),
                worker: settings.worker,
                workers: settings.workers,
                parallelism: p,
                restored_from: restored.as_ref().map(|c| c.id),
                started_at: settings.clock.now_millis(),
            };
        }
        if let Ok(mut b) = progress.busiest_buckets.lock() {
            *b = vec![Vec::new(); p];
        }
        if let Ok(mut w) = progress.watermarks.lock() {
            *w = vec![None; p];
        }
        let job_group = MetricGroup::new([
            ("job_name", settings.name.clone()),
            ("worker", settings.worker.to_string()),
        ]);
        let positions = Arc::new(
            restored
                .as_ref()
                .map(|c| c.sources.clone())
                .unwrap_or_default(),
        );
        let mut controls = Vec::with_capacity(p);
        let (event_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let mut handles = TaskGuard(Vec::with_capacity(p));
        for index in 0..p {
            let info = SubtaskInfo {
                index,
                parallelism: p,
                worker: settings.worker,
                workers: settings.workers,
            };
            let reader = pipeline
                .source
                .create_reader(ReaderContext {
                    job_name: settings.name.clone(),
                    subtask: info,
                    restored: Arc::clone(&positions),
                })
                .await?;
            // Sink states of the old subtasks go round-robin to the new ones.
            let mine: Vec<serde_json::Value> = sink_states
                .iter()
                .enumerate()
                .filter(|(i, _)| i % p == index)
                .map(|(_, s)| s.clone())
                .collect();
            let writer = sink.create_writer(info, &meta.run, mine, &location).await?;
            let subtask_group = job_group.add_group("subtask", info.global_index().to_string());
            let mut op = (pipeline.chain)();
            op.open(&RuntimeContext {
                job_name: settings.name.clone(),
                subtask: info,
                metrics: subtask_group.clone(),
            })?;
            let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
            controls.push(ctl_tx);
            let subtask = Subtask {
                index,
                reader,
                op,
                writer,
                payload: pipeline.payload.clone(),
                policy: settings.bad_records,
                batch_size: settings.batch_size,
                clock: Arc::clone(&settings.clock),
                progress: Arc::clone(&progress),
                batch: Batch::default(),
                out: Vec::new(),
                rejected: Vec::new(),
                counts: Counts::default(),
                bad_logged: 0,
                metrics: SubtaskMetrics::new(&subtask_group),
                lag_gauges: BTreeMap::new(),
            };
            let tx = event_tx.clone();
            let tick = sink.tick_interval();
            handles.0.push(tokio::spawn(async move {
                if let Err(error) = subtask.run(ctl_rx, tx.clone(), tick).await {
                    let _ = tx.send(Event::Failed {
                        subtask: index,
                        error,
                    });
                }
            }));
        }
        drop(event_tx);
        progress.ready.store(true, Ordering::Release);

        let coordinator_metrics = CoordinatorMetrics::new(&job_group);
        coordinator_metrics.up.set(1.0);
        let mut coord = Coordinator {
            metrics: coordinator_metrics.clone(),
            settings: &settings,
            manager: &manager,
            run: meta.run.clone(),
            controls,
            progress: &progress,
            next_id: restored.as_ref().map_or(1, |c| c.id + 1),
            in_flight: None,
            finished: vec![false; p],
            totals: restored
                .as_ref()
                .map(|c| c.totals.clone())
                .unwrap_or_default(),
            base_totals: restored
                .as_ref()
                .map(|c| c.totals.clone())
                .unwrap_or_default(),
            sink_metrics: vec![SinkMetrics::default(); p],
            consecutive_failures: 0,
            last_completed: None,
            completed: 0,
        };
        let mut outcome = coord.run(&mut events, stop).await;
        for c in &coord.controls {
            let _ = c.send(Control::Stop);
        }
        if outcome.is_err() {
            for h in &handles.0 {
                h.abort();
            }
        }
        for h in std::mem::take(&mut handles.0) {
            let _ = h.await;
        }
        // The subtasks published the final checkpoint's parts before they exited: collect what
        // they reported, and fail if publishing failed.
        let mut buckets = std::collections::HashSet::new();
        while let Ok(ev) = events.try_recv() {
            match ev {
                Event::Committed { subtask, metrics } => coord.sink_metrics[subtask] = metrics,
                Event::Exited { buckets: b } => buckets.extend(b),
                Event::Failed { error, .. } if outcome.is_ok() => outcome = Err(error),
                _ => {}
            }
        }
        coordinator_metrics.up.set(0.0);
        if let Err(e) = &outcome {
            if let Ok(mut f) = progress.failure.lock() {
                *f = Some(e.to_string());
            }
        }
        progress.finished.store(true, Ordering::Release);
        let input_ended = outcome?;
        let m = coord
            .sink_metrics
            .iter()
            .fold(SinkMetrics::default(), |mut a, m| {
                a.files_committed += m.files_committed;
                a.bytes_committed += m.bytes_committed;
                a.records_committed += m.records_committed;
                a.buckets += m.buckets;
                a
            });
        Ok(JobSummary {
            records_in: coord.totals.records_in - coord.base_totals.records_in,
            records_out: coord.totals.records_out - coord.base_totals.records_out,
            bad_records: coord.totals.bad_records - coord.base_totals.bad_records,
            files_committed: m.files_committed,
            bytes_committed: m.bytes_committed,
            records_committed: m.records_committed,
            buckets: buckets.len() as u64,
            checkpoints: coord.completed,
            restored_from: restored.map(|c| c.id),
            last_checkpoint: coord.last_completed,
            elapsed: started.elapsed(),
            totals: coord.totals.clone(),
            input_ended,
        })
    }
}

/// Marks the job finished however `run_until` ends (success, error or cancellation), so that
/// progress reporters stop.
struct FinishedOnDrop(Arc<JobProgress>);

impl Drop for FinishedOnDrop {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Release);
    }
}

/// Aborts the subtasks when the job's future is dropped, so a cancelled job stops writing.
struct TaskGuard(Vec<tokio::task::JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

struct InFlight {
    id: u64,
    started: Instant,
    deadline: tokio::time::Instant,
    close_all: bool,
    timestamp: i64,
    snapshots: Vec<Option<SubtaskSnapshot>>,
}

struct SubtaskSnapshot {
    positions: Vec<(String, serde_json::Value)>,
    sink: serde_json::Value,
    watermark: Option<i64>,
    counts: Counts,
}

struct Coordinator<'a> {
    metrics: CoordinatorMetrics,
    settings: &'a JobSettings,
    manager: &'a CheckpointManager,
    run: String,
    controls: Vec<mpsc::UnboundedSender<Control>>,
    progress: &'a JobProgress,
    next_id: u64,
    in_flight: Option<InFlight>,
    finished: Vec<bool>,
    totals: CheckpointTotals,
    base_totals: CheckpointTotals,
    sink_metrics: Vec<SinkMetrics>,
    consecutive_failures: u32,
    last_completed: Option<u64>,
    completed: u64,
}

impl Coordinator<'_> {
    fn broadcast(&self, make: impl Fn() -> Control) {
        for c in &self.controls {
            let _ = c.send(make());
        }
    }

    fn trigger(&mut self, close_all: bool) {
        let id = self.next_id;
        self.next_id += 1;
        tracing::debug!(checkpoint = id, close_all, "triggering checkpoint");
        self.in_flight = Some(InFlight {
            id,
            started: Instant::now(),
            deadline: tokio::time::Instant::now() + self.settings.checkpoint.timeout,
            close_all,
            timestamp: self.settings.clock.now_millis(),
            snapshots: (0..self.controls.len()).map(|_| None).collect(),
        });
        self.broadcast(|| Control::Barrier { id, close_all });
    }

    fn fail_checkpoint(&mut self, why: &Error) -> Result<()> {
        self.consecutive_failures += 1;
        self.progress.add(&self.progress.checkpoints_failed, 1);
        self.metrics.failed.increment(1);
        tracing::warn!(error = %why, failures = self.consecutive_failures, "checkpoint failed");
        if self.consecutive_failures > self.settings.checkpoint.tolerable_failures {
            return Err(Error::checkpoint(
                self.manager.store().to_string(),
                format!(
                    "{} checkpoints in a row failed (tolerated: {}); last: {why}",
                    self.consecutive_failures, self.settings.checkpoint.tolerable_failures
                ),
            ));
        }
        Ok(())
    }

    /// Returns `Ok(true)` when the input ended, `Ok(false)` when stopped.
    async fn run(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<bool> {
        tokio::pin!(stop);
        let interval = self.settings.checkpoint.interval;
        let mut next_trigger = tokio::time::Instant::now() + interval;
        let mut stopping = false;
        let mut want_final = false;
        let mut final_started = false;
        loop {
            if want_final && !final_started && self.in_flight.is_none() {
                final_started = true;
                self.trigger(true);
            }
            let deadline = self.in_flight.as_ref().map(|f| f.deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(next_trigger), if self.in_flight.is_none() && !final_started => {
                    self.trigger(false);
                }
                _ = sleep_opt(deadline) => {
                    let f = self.in_flight.take().expect("in flight");
                    let err = Error::checkpoint(
                        checkpoint_name(f.id),
                        format!("not complete after {:?}", self.settings.checkpoint.timeout),
                    );
                    self.progress.push_checkpoint(CheckpointInfo {
                        id: f.id,
                        timestamp: f.timestamp,
                        duration_ms: f.started.elapsed().as_millis() as u64,
                        size: 0,
                        final_checkpoint: f.close_all,
                        failure: Some(err.to_string()),
                    });
                    if f.close_all {
                        return Err(err);
                    }
                    self.fail_checkpoint(&err)?;
                    next_trigger = tokio::time::Instant::now() + self.settings.checkpoint.min_pause.max(interval / 2);
                }
                _ = &mut stop, if !stopping => {
                    tracing::info!("stopping: final checkpoint, then exit");
                    stopping = true;
                    want_final = true;
                    self.progress.stopping.store(true, Ordering::Relaxed);
                    self.broadcast(|| Control::StopReading);
                }
                ev = events.recv() => {
                    let Some(ev) = ev else {
                        return Err(Error::Internal("every subtask exited unexpectedly".into()));
                    };
                    match ev {
                        Event::Failed { subtask, error } => {
                            tracing::error!(subtask, %error, "subtask failed");
                            return Err(error);
                        }
                        Event::Finished { subtask } => {
                            self.finished[subtask] = true;
                            if self.finished.iter().all(|f| *f) {
                                want_final = true;
                            }
                        }
                        Event::Committed { subtask, metrics } => {
                            self.sink_metrics[subtask] = metrics;
                        }
                        Event::Exited { .. } => {}
                        Event::Snapshot { subtask, id, positions, sink, watermark, counts } => {
                            let Some(f) = self.in_flight.as_mut().filter(|f| f.id == id) else {
                                tracing::debug!(checkpoint = id, subtask, "late snapshot of an abandoned checkpoint");
                                continue;
                            };
                            f.snapshots[subtask] = Some(SubtaskSnapshot { positions, sink, watermark, counts });
                            if f.snapshots.iter().all(Option::is_some) {
                                let f = self.in_flight.take().expect("in flight");
                                let close_all = f.close_all;
                                match self.complete(f).await {
                                    Ok(()) => {
                                        if close_all {
                                            // Every part is published once subtasks handle Complete.
                                            return Ok(!stopping);
                                        }
                                    }
                                    Err(e) if close_all => return Err(e),
                                    Err(e) => self.fail_checkpoint(&e)?,
                                }
                                let pause = self.settings.checkpoint.min_pause;
                                next_trigger = (next_trigger + interval).max(tokio::time::Instant::now() + pause);
                            }
                        }
                    }
                }
            }
        }
    }

    async fn complete(&mut self, f: InFlight) -> Result<()> {
        let mut sources = BTreeMap::new();
        let mut sinks = Vec::with_capacity(f.snapshots.len());
        let mut watermarks = Vec::with_capacity(f.snapshots.len());
        let mut counts = Counts::default();
        for s in f.snapshots.into_iter().flatten() {
            sources.extend(s.positions);
            sinks.push(s.sink);
            watermarks.push(s.watermark);
            counts.records_in += s.counts.records_in;
            counts.records_out += s.counts.records_out;
            counts.bad += s.counts.bad;
        }
        let totals = CheckpointTotals {
            records_in: self.base_totals.records_in + counts.records_in,
            records_out: self.base_totals.records_out + counts.records_out,
            bad_records: self.base_totals.bad_records + counts.bad,
        };
        let checkpoint = Checkpoint {
            version: CHECKPOINT_VERSION,
            id: f.id,
            job: self.settings.name.clone(),
            run: self.run.clone(),
            worker: self.settings.worker,
            workers: self.settings.workers,
            parallelism: self.controls.len(),
            timestamp: f.timestamp,
            final_checkpoint: f.close_all,
            sources,
            sinks,
            watermarks,
            totals: totals.clone(),
        };
        let size = match self.manager.save(&checkpoint).await {
            Ok(size) => size,
            Err(e) => {
                self.progress.push_checkpoint(CheckpointInfo {
                    id: f.id,
                    timestamp: f.timestamp,
                    duration_ms: f.started.elapsed().as_millis() as u64,
                    size: 0,
                    final_checkpoint: f.close_all,
                    failure: Some(e.to_string()),
                });
                return Err(e);
            }
        };
        // Durable: now, and only now, the subtasks may publish.
        let id = f.id;
        self.broadcast(|| Control::Complete { id });
        self.totals = totals;
        self.consecutive_failures = 0;
        self.completed += 1;
        self.last_completed = Some(id);
        let p = self.progress;
        p.add(&p.checkpoints_completed, 1);
        p.last_checkpoint_id.store(id, Ordering::Relaxed);
        p.last_checkpoint_time.store(
            self.settings.clock.now_millis().max(0) as u64,
            Ordering::Relaxed,
        );
        p.last_checkpoint_duration_ms
            .store(f.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        p.last_checkpoint_size.store(size as u64, Ordering::Relaxed);
        let took = f.started.elapsed();
        self.metrics.duration.record(took.as_secs_f64());
        self.metrics.size.set(size as f64);
        self.metrics.completed.increment(1);
        self.metrics.last_id.set(id as f64);
        p.push_checkpoint(CheckpointInfo {
            id,
            timestamp: f.timestamp,
            duration_ms: took.as_millis() as u64,
            size: size as u64,
            final_checkpoint: f.close_all,
            failure: None,
        });
        tracing::debug!(checkpoint = id, bytes = size, took = ?f.started.elapsed(), "checkpoint complete");
        Ok(())
    }
}

async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

struct Subtask<S, T> {
    index: usize,
    reader: Box<dyn SourceReader<S>>,
    op: Box<dyn Operator<S, T>>,
    writer: Box<dyn SinkWriter<T>>,
    payload: Option<PayloadFn<T>>,
    policy: BadRecordPolicy,
    batch_size: usize,
    clock: Arc<dyn Clock>,
    progress: Arc<JobProgress>,
    batch: Batch<S>,
    out: Vec<StreamRecord<T>>,
    rejected: Vec<(usize, String)>,
    counts: Counts,
    bad_logged: u64,
    metrics: SubtaskMetrics,
    lag_gauges: BTreeMap<String, metrics::Gauge>,
}

/// Open parts listed per subtask in the status.
const BUSIEST_PER_SUBTASK: usize = 10;

impl<S: Send + 'static, T: Send + 'static> Subtask<S, T> {
    /// Refreshes gauges and the shared status: on ticks and checkpoints, not per batch.
    fn publish_status(&mut self) {
        let m = self.writer.metrics();
        self.metrics.open_parts.set(m.open_parts as f64);
        self.metrics.pending_files.set(m.pending_parts as f64);
        self.metrics.buckets.set(m.buckets as f64);
        self.metrics.memory.set(m.memory as f64);
        let now = self.clock.now_millis();
        let wm = self.reader.watermark();
        if let Some(w) = wm {
            self.metrics.watermark_lag.set((now - w) as f64 / 1000.0);
        }
        if let Ok(mut w) = self.progress.watermarks.lock() {
            if let Some(slot) = w.get_mut(self.index) {
                *slot = wm;
            }
        }
        let busiest = self.writer.busiest_buckets(BUSIEST_PER_SUBTASK);
        if let Ok(mut b) = self.progress.busiest_buckets.lock() {
            if let Some(slot) = b.get_mut(self.index) {
                *slot = busiest;
            }
        }
        let lags = self.reader.lags();
        if !lags.is_empty() {
            if let Ok(mut all) = self.progress.source_lags.lock() {
                for (split, lag) in &lags {
                    all.insert(split.clone(), *lag);
                }
            }
            for (split, lag) in lags {
                let metrics = &self.metrics;
                self.lag_gauges
                    .entry(split)
                    .or_insert_with_key(|k| metrics.source_lag(k))
                    .set(lag as f64);
            }
        }
    }

    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        events: mpsc::UnboundedSender<Event>,
        tick_every: Option<Duration>,
    ) -> Result<()> {
        let mut reading = true;
        let mut ticker = tick_every.map(|d| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            tokio::select! {
                biased;
                msg = control.recv() => {
                    self.process().await?;
                    match msg {
                        None | Some(Control::Stop) => {
                            let _ = events.send(Event::Exited { buckets: self.writer.bucket_ids() });
                            return Ok(());
                        }
                        Some(Control::StopReading) => reading = false,
                        Some(Control::Barrier { id, close_all }) => {
                            if close_all {
                                reading = false;
                                self.writer.close_all().await?;
                            }
                            let positions = self.reader.snapshot()?;
                            let sink = self.writer.snapshot(id).await?;
                            let _ = events.send(Event::Snapshot {
                                subtask: self.index,
                                id,
                                positions,
                                sink,
                                watermark: self.reader.watermark(),
                                counts: self.counts,
                            });
                        }
                        Some(Control::Complete { id }) => {
                            let report = self.writer.notify_checkpoint_complete(id).await?;
                            let p = &self.progress;
                            p.add(&p.files_committed, report.files);
                            p.add(&p.bytes_committed, report.bytes);
                            p.add(&p.records_committed, report.records);
                            self.metrics.files_committed.increment(report.files);
                            self.metrics.bytes_written.increment(report.bytes);
                            for lag in &report.commit_lags_ms {
                                self.metrics.commit_lag.record(*lag as f64 / 1000.0);
                            }
                            self.publish_status();
                            if let Err(e) = self.reader.checkpoint_complete(id).await {
                                tracing::warn!(error = %e, "source could not acknowledge checkpoint {id}");
                            }
                            let _ = events.send(Event::Committed { subtask: self.index, metrics: self.writer.metrics() });
                        }
                    }
                }
                _ = tick(&mut ticker) => {
                    self.process().await?;
                    self.writer.on_tick(self.clock.now_millis()).await?;
                    self.publish_status();
                }
                status = self.reader.poll(&mut self.batch, self.batch_size), if reading => {
                    let status = status?;
                    self.process().await?;
                    if status == ReadStatus::Finished {
                        reading = false;
                        let _ = events.send(Event::Finished { subtask: self.index });
                    }
                }
            }
        }
    }

    /// Moves what the reader handed over through the operators into the sink.
    async fn process(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n_in = self.batch.records.len() as u64;
        self.op
            .process(&mut self.batch.records, &mut self.out, &mut self.batch.bad)?;
        let now = self.clock.now_millis();
        self.rejected.clear();
        self.writer
            .write_batch(&self.out, now, self.reader.watermark(), &mut self.rejected)
            .await?;
        let n_out = (self.out.len() - self.rejected.len()) as u64;
        for (i, reason) in self.rejected.drain(..) {
            let r = &self.out[i];
            self.batch.bad.push(BadRecord {
                origin: r.origin,
                reason,
                payload: self.payload.as_ref().map(|f| f(&r.value)),
            });
        }
        self.out.clear();
        let bad = std::mem::take(&mut self.batch.bad);
        let n_bad = bad.len() as u64;
        for b in bad {
            self.handle_bad(b, now).await?;
        }
        self.counts.records_in += n_in;
        self.counts.records_out += n_out;
        self.counts.bad += n_bad;
        let p = &self.progress;
        p.add(&p.records_in, n_in);
        p.add(&p.records_out, n_out);
        p.add(&p.bad_records, n_bad);
        self.metrics.records_in.mark(n_in);
        self.metrics.records_out.increment(n_out);
        Ok(())
    }

    async fn handle_bad(&mut self, b: BadRecord, now: i64) -> Result<()> {
        let origin = self.reader.describe_origin(b.origin);
        match self.policy {
            BadRecordPolicy::Fail => {
                self.metrics.bad_fail.increment(1);
                Err(Error::BadRecord {
                    origin,
                    reason: b.reason,
                })
            }
            BadRecordPolicy::Skip => {
                self.metrics.bad_skip.increment(1);
                if self.bad_logged < 10 {
                    self.bad_logged += 1;
                    tracing::warn!(%origin, reason = %b.reason, "skipping bad record");
                }
                self.progress.add(&self.progress.bad_skipped, 1);
                Ok(())
            }
            BadRecordPolicy::DeadLetter => {
                self.metrics.bad_dead_letter.increment(1);
                let letter = DeadLetter::new(origin, b.reason, b.payload.as_deref(), now);
                self.writer.write_dead_letter(&letter, now).await?;
                self.progress.add(&self.progress.dead_letters, 1);
                Ok(())
            }
        }
    }
}
