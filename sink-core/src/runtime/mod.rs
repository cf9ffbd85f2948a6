//! A minimal checkpointing runtime: sources with splits and positions, chained transforms,
//! `parallelism` subtasks on tokio, and a checkpoint coordinator that commits the sink in two
//! phases.
//!
//! One subtask is one tokio task that owns some source splits and one sink writer, chained in the
//! same loop, so a checkpoint barrier needs no alignment. Between batches the loop serves barriers
//! from the coordinator and a processing-time tick (the sink's bucket check interval).
//!
//! The coordinator triggers checkpoint `n` (at most one in flight), collects every subtask's
//! snapshot (source positions and sink state), writes the checkpoint atomically to its store, and
//! only then tells the subtasks that `n` is complete, so they publish their parts. On start, the
//! newest complete checkpoint is restored.

mod checkpoint;
mod generator;
mod job;
pub mod metrics;
mod operator;
mod sink;
mod source;
mod time;
mod watermark;

pub use checkpoint::{
    checkpoint_name, new_run_id, parse_checkpoint, Checkpoint, CheckpointManager, CheckpointStore,
    CheckpointTotals, DynCheckpointStore, JobMeta, LocalCheckpointStore, CHECKPOINT_VERSION,
    DEFAULT_RETAINED_CHECKPOINTS, JOB_META,
};
pub use generator::{Behavior, Event, GeneratorConfig, GeneratorSource, DEFAULT_START_MILLIS};
pub use job::{
    BadRecordPolicy, BucketLoad, CheckpointConfig, CheckpointInfo, Job, JobBuilder, JobInfo,
    JobProgress, JobRunner, JobSummary, Pipeline, RuntimeContext, DEFAULT_BATCH_SIZE,
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_CHECKPOINT_TIMEOUT, DEFAULT_TOLERABLE_FAILED_CHECKPOINTS,
    RECENT_CHECKPOINTS,
};
pub use operator::{Operator, OperatorFactory};
pub use sink::{DiscardingSink, Sink, SinkMetrics, SinkWriter};
pub use source::{
    assign_split, BadRecord, Batch, Boundedness, Origin, ReadStatus, ReaderContext, Source,
    SourceReader, StreamRecord, SubtaskInfo,
};
pub use time::{Clock, SystemClock, TokioClock};
pub use watermark::WatermarkTracker;

#[cfg(test)]
mod tests;
