//! How the runtime drives a sink: the [`Sink`] and [`SinkWriter`] traits, implemented by the file
//! sink and by [`DiscardingSink`] (for benchmarks of the rest of a pipeline).

use std::time::Duration;

use async_trait::async_trait;

use super::job::BucketLoad;
use super::source::{StreamRecord, SubtaskInfo};
use crate::error::Result;
use crate::sink::{
    CommitReport, Context, DeadLetter, FileSink, FileSinkState, FileSinkWriter, Next, WriteError,
    WriterContext,
};

/// Gauges and counters of one sink writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkMetrics {
    /// Records accepted.
    pub records_written: u64,
    /// Dead letters written.
    pub dead_letters: u64,
    /// Part files published.
    pub files_committed: u64,
    /// Bytes published.
    pub bytes_committed: u64,
    /// Records published.
    pub records_committed: u64,
    /// Parts open now.
    pub open_parts: u64,
    /// Parts waiting for a checkpoint.
    pub pending_parts: u64,
    /// Distinct buckets written.
    pub buckets: u64,
    /// Memory held by open parts, bytes.
    pub memory: u64,
}

/// A sink the runtime can drive: created once, with one writer per subtask.
#[async_trait]
pub trait Sink<T>: Send + Sync + 'static {
    /// How often the runtime calls [`SinkWriter::on_tick`], if at all.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Once per start, before any writer: tidy up after a crash. `restored` holds every subtask's
    /// state of the restored checkpoint (empty on a fresh start); `location` names the checkpoint
    /// for error messages; `unchecked_restart` is true when run `run` was started before but
    /// never completed a checkpoint (so whatever it left in progress is its own).
    async fn recover(
        &self,
        run: &str,
        restored: &[serde_json::Value],
        location: &str,
        unchecked_restart: bool,
    ) -> Result<()>;

    /// The writer of one subtask, from its restored states.
    async fn create_writer(
        &self,
        subtask: SubtaskInfo,
        run: &str,
        restored: Vec<serde_json::Value>,
        location: &str,
    ) -> Result<Box<dyn SinkWriter<T>>>;
}

/// One subtask's writer.
#[async_trait]
pub trait SinkWriter<T>: Send {
    /// Writes a batch. Records that cannot be written are listed in `rejected` with their index and
    /// the reason; the others are written.
    async fn write_batch(
        &mut self,
        records: &[StreamRecord<T>],
        now: i64,
        watermark: Option<i64>,
        rejected: &mut Vec<(usize, String)>,
    ) -> Result<()>;

    /// Writes a dead letter.
    async fn write_dead_letter(&mut self, letter: &DeadLetter, now: i64) -> Result<()>;

    /// A processing-time tick.
    async fn on_tick(&mut self, now: i64) -> Result<()> {
        let _ = now;
        Ok(())
    }

    /// End of input or stop: roll everything, so the next checkpoint publishes it all.
    async fn close_all(&mut self) -> Result<()>;

    /// This subtask's part of a checkpoint.
    async fn snapshot(&mut self, checkpoint_id: u64) -> Result<serde_json::Value>;

    /// The checkpoint is durable: publish.
    async fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<CommitReport>;

    /// Gauges and counters.
    fn metrics(&self) -> SinkMetrics;

    /// The distinct buckets this writer wrote to (for the job's summary).
    fn bucket_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// The `n` largest open parts (for status pages).
    fn busiest_buckets(&self, n: usize) -> Vec<BucketLoad> {
        let _ = n;
        Vec::new()
    }
}

fn states(restored: &[serde_json::Value], location: &str) -> Result<Vec<FileSinkState>> {
    restored
        .iter()
        .map(|v| FileSinkState::from_json(v.clone(), location))
        .collect()
}

#[async_trait]
impl<T: Send + Sync + 'static> Sink<T> for FileSink<T> {
    fn tick_interval(&self) -> Option<Duration> {
        Some(self.bucket_check_interval())
    }

    async fn recover(
        &self,
        run: &str,
        restored: &[serde_json::Value],
        location: &str,
        unchecked_restart: bool,
    ) -> Result<()> {
        let states = states(restored, location)?;
        let report = if unchecked_restart {
            FileSink::recover_unchecked_restart(self, run).await?
        } else {
            FileSink::recover(self, run, &states).await?
        };
        if report.orphans_deleted > 0 || report.handles_cleaned > 0 {
            tracing::info!(
                orphans = report.orphans_deleted,
                old_copies = report.handles_cleaned,
                "removed in-progress data no checkpoint references"
            );
        }
        Ok(())
    }

    async fn create_writer(
        &self,
        subtask: SubtaskInfo,
        run: &str,
        restored: Vec<serde_json::Value>,
        location: &str,
    ) -> Result<Box<dyn SinkWriter<T>>> {
        let w = self
            .writer(
                WriterContext::new(subtask.global_index(), run),
                states(&restored, location)?,
            )
            .await?;
        Ok(Box::new(w))
    }
}

#[async_trait]
impl<T: Send + Sync + 'static> SinkWriter<T> for FileSinkWriter<T> {
    async fn write_batch(
        &mut self,
        records: &[StreamRecord<T>],
        now: i64,
        watermark: Option<i64>,
        rejected: &mut Vec<(usize, String)>,
    ) -> Result<()> {
        let mut ctx = Context {
            processing_time: now,
            watermark,
            timestamp: None,
        };
        for (i, r) in records.iter().enumerate() {
            ctx.timestamp = r.timestamp;
            let result = match self.write_sync(&r.value, &ctx) {
                Ok(Next::Done) => Ok(()),
                Ok(next) => self.finish_write(next, &r.value, &ctx).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(WriteError::BadRecord(reason)) => rejected.push((i, reason)),
                Err(WriteError::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write_dead_letter(&mut self, letter: &DeadLetter, now: i64) -> Result<()> {
        FileSinkWriter::write_dead_letter(self, letter, now).await
    }

    async fn on_tick(&mut self, now: i64) -> Result<()> {
        self.on_processing_time(now).await
    }

    async fn close_all(&mut self) -> Result<()> {
        FileSinkWriter::close_all(self).await
    }

    async fn snapshot(&mut self, checkpoint_id: u64) -> Result<serde_json::Value> {
        Ok(FileSinkWriter::snapshot(self, checkpoint_id)
            .await?
            .to_json())
    }

    async fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<CommitReport> {
        FileSinkWriter::notify_checkpoint_complete(self, checkpoint_id).await
    }

    fn metrics(&self) -> SinkMetrics {
        let s = self.stats();
        SinkMetrics {
            records_written: s.records_written,
            dead_letters: s.dead_letters,
            files_committed: s.files_committed,
            bytes_committed: s.bytes_committed,
            records_committed: s.records_committed,
            open_parts: self.open_parts() as u64,
            pending_parts: self.pending_parts() as u64,
            buckets: self.buckets_seen() as u64,
            memory: self.memory() as u64,
        }
    }

    fn bucket_ids(&self) -> Vec<String> {
        FileSinkWriter::bucket_ids(self)
    }

    fn busiest_buckets(&self, n: usize) -> Vec<BucketLoad> {
        self.largest_open_parts(n)
            .into_iter()
            .map(|(bucket, bytes, records)| BucketLoad {
                bucket,
                bytes,
                records,
            })
            .collect()
    }
}

/// Drops every record (Flink's `DiscardingSink`): measures a pipeline without its output.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardingSink;

struct DiscardingWriter {
    records: u64,
}

#[async_trait]
impl<T: Send + Sync + 'static> Sink<T> for DiscardingSink {
    async fn recover(&self, _: &str, _: &[serde_json::Value], _: &str, _: bool) -> Result<()> {
        Ok(())
    }

    async fn create_writer(
        &self,
        _: SubtaskInfo,
        _: &str,
        _: Vec<serde_json::Value>,
        _: &str,
    ) -> Result<Box<dyn SinkWriter<T>>> {
        Ok(Box::new(DiscardingWriter { records: 0 }))
    }
}

#[async_trait]
impl<T: Send + Sync + 'static> SinkWriter<T> for DiscardingWriter {
    async fn write_batch(
        &mut self,
        records: &[StreamRecord<T>],
        _: i64,
        _: Option<i64>,
        _: &mut Vec<(usize, String)>,
    ) -> Result<()> {
        self.records += records.len() as u64;
        Ok(())
    }

    async fn write_dead_letter(&mut self, _: &DeadLetter, _: i64) -> Result<()> {
        Ok(())
    }

    async fn close_all(&mut self) -> Result<()> {
        Ok(())
    }

    async fn snapshot(&mut self, _: u64) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }

    async fn notify_checkpoint_complete(&mut self, _: u64) -> Result<CommitReport> {
        Ok(CommitReport::default())
    }

    fn metrics(&self) -> SinkMetrics {
        SinkMetrics {
            records_written: self.records,
            ..SinkMetrics::default()
        }
    }
}
