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
mod builder;
mod committer;
mod datetime;
mod dead_letter;
mod encoder;
mod fields;
mod lane;
mod ledger;
mod memory;
mod output;
mod parts;
mod recovery;
mod rolling;
mod state;
mod writer;

pub use assigner::{
    escape_path_value, fnv1a, AssignError, BasePathBucketAssigner, BucketAssigner,
    ChainedBucketAssigner, Context, DateTimeBucketAssigner, FieldBucketAssigner, TimeSource,
    DEFAULT_DATE_TIME_FORMAT, HIVE_DEFAULT_PARTITION,
};
pub(crate) use builder::AssignerFactory;
pub use builder::{
    BulkFormat, FileSink, FileSinkBuilder, IntoTarget, RowFormat, DEFAULT_BUCKET_CHECK_INTERVAL,
    DEFAULT_MEMORY_BUDGET, DEFAULT_WRITE_BUFFER_SIZE,
};
pub use committer::{CommitReport, SinkStats};
pub use datetime::{java_to_strftime, CachedFormatter, DateTimeFormat, TimeZone, Unit};
pub use dead_letter::{DeadLetter, DEFAULT_DEAD_LETTER_BUCKET};
pub use encoder::{
    BulkWriter, BulkWriterFactory, CsvEncoder, EncodeError, JsonLinesEncoder, PartEncoder,
    PartStart, RowEncoder, SimpleStringEncoder,
};
pub use fields::{json_field, FieldAccess, FieldValue};
pub use output::{OutputFileConfig, OutputFileConfigBuilder, DEFAULT_PART_PREFIX};
pub use recovery::RecoveryReport;
pub use rolling::{
    AnyOf, CheckpointRollingPolicy, DefaultRollingPolicy, DefaultRollingPolicyBuilder,
    OnCheckpointRollingPolicy, PartFileInfo, RollingPolicy, RollingPolicyExt, RollsOnCheckpoint,
    DEFAULT_INACTIVITY_INTERVAL, DEFAULT_MAX_PART_SIZE, DEFAULT_ROLLOVER_INTERVAL,
};
pub use state::{FileSinkState, OpenPartState, PendingPart, FILE_SINK_STATE_VERSION};
pub use writer::{FileSinkWriter, Next, WriteError, WriterContext};

#[cfg(test)]
mod tests;
