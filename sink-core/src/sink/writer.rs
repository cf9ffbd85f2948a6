//! [`FileSinkWriter`], one subtask's part of a sink: the write path, checkpoints, and memory
//! pressure.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use super::assigner::{BucketAssigner, Context};
use super::builder::{FileSink, Format, Shared};
use super::committer::{concurrently, publish, CommitReport, SinkStats};
use super::dead_letter::DeadLetter;
use super::encoder::{JsonLinesEncoder, PartStart};
use super::lane::{encode_into, flush_if_full, Core, Lane};
use super::ledger::{ClosedPart, PartLedger};
use super::memory::{MemoryAccount, MemoryShare};
use super::parts::{ClosedFile, PartFile};
use super::rolling::OnCheckpointRollingPolicy;
use super::state::{FileSinkState, OpenPartState, FILE_SINK_STATE_VERSION};
use crate::error::{Error, Result};
use crate::fs::DynWriter;

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

impl<T: Send + 'static> FileSink<T> {
    /// A writer for one subtask, continuing from `restored` (this subtask's state, several when the
    /// parallelism changed, none on a fresh start): the parts they left pending are published
    /// (idempotently) and their open parts resumed.
    pub async fn writer(
        &self,
        ctx: WriterContext,
        restored: Vec<FileSinkState>,
    ) -> Result<FileSinkWriter<T>> {
        let shared = self.shared.clone();
        let floor = self.counter_floor(ctx.subtask);
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
                ledger: PartLedger::default(),
                memory: MemoryAccount::new(shared.memory_budget),
                stats: SinkStats::default(),
                buckets_seen: HashSet::new(),
                shared,
            },
            scratch: String::new(),
        };
        // The checkpoint that stored them is complete (it is the one restored): publish at once.
        let pending: Vec<ClosedPart> = restored
            .iter()
            .flat_map(|s| s.pending.iter().cloned().map(ClosedPart::from))
            .collect();
        let pending: Vec<&ClosedPart> = pending.iter().collect();
        let core = &mut w.core;
        let backoff = core.shared.commit_backoff;
        publish(&*core.shared.target, backoff, &pending, &mut core.stats).await?;
        for state in restored {
            for open in state.open {
                w.resume_part(open).await?;
            }
        }
        Ok(w)
    }
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
            &mut self.core.memory,
            &self.shared.format,
            record,
            ctx.processing_time,
        )?;
        self.core.stats.records_written += 1;
        Ok(if part.buf.len() >= self.shared.write_buffer_size {
            Next::Flush
        } else if self.core.memory.over_budget() {
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
        if self.core.memory.over_budget() {
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
        let closes: Vec<BoxFuture<'_, Result<ClosedFile>>> =
            parts.into_iter().map(|p| p.close().boxed()).collect();
        for closed in concurrently(closes).await? {
            self.core.closed(closed);
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
        let mut open = concurrently(persists).await?;
        open.sort_by(|a, b| a.bucket.cmp(&b.bucket));

        let core = &mut self.core;
        core.ledger.tag(checkpoint_id);
        Ok(FileSinkState {
            version: FILE_SINK_STATE_VERSION,
            run: core.ctx.run.clone(),
            subtask: core.ctx.subtask,
            next_counter: core.next_counter,
            open,
            pending: core.ledger.stored_parts(),
            cleanup: core.ledger.stored_copies(),
        })
    }

    /// Publishes every part pending for checkpoints up to `checkpoint_id`, which is now durable, and
    /// removes old copies no longer referenced. On an error the parts stay pending, as they were
    /// (some may be published already: publishing them again is success), and the job is expected
    /// to fail and restore.
    pub async fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<CommitReport> {
        let core = &mut self.core;
        let target = &*core.shared.target;
        let ready = core.ledger.ready(checkpoint_id);
        let report = publish(target, core.shared.commit_backoff, &ready, &mut core.stats).await?;
        core.ledger.published(checkpoint_id);
        for h in core.ledger.copies_due(checkpoint_id) {
            target.cleanup(h).await?;
        }
        core.ledger.removed(checkpoint_id);
        Ok(report)
    }

    async fn resume_part(&mut self, open: OpenPartState) -> Result<()> {
        let shared = Arc::clone(&self.core.shared);
        let stream = shared.target.resume(&open.handle).await?;
        if !shared.target.capabilities().resume_in_place {
            self.core.ledger.supersede(open.handle.clone());
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
            mem: MemoryShare::default(),
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
        let budget = self.core.memory.budget();
        let mut order: Vec<(usize, String)> = self
            .main
            .parts
            .iter()
            .map(|p| (p.mem.bytes(), p.bucket.clone()))
            .collect();
        order.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        // First write out buffers and flush bulk writers, largest first.
        for (_, key) in &order {
            if self.core.memory.total() <= budget / 2 {
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
            part.recount(&mut self.core.memory);
        }
        // Writers that keep memory after a flush: roll the largest until the budget holds.
        for (_, key) in &order {
            if self.core.memory.total() <= budget * 3 / 4 {
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
        self.core.ledger.len()
    }

    /// Memory held by open parts, in bytes.
    pub fn memory(&self) -> usize {
        self.core.memory.total()
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
