//! How a record gets into a part: a writer's lanes (its data and its dead letters, each with its
//! open parts and rolling policy), and what the lanes share (`Core`): part names, the ledger of
//! closed parts, the memory account and the counters.

use std::collections::HashSet;
use std::sync::Arc;

use super::builder::{Format, Shared};
use super::committer::{wall_clock_millis, SinkStats};
use super::encoder::PartStart;
use super::ledger::{ClosedPart, PartLedger};
use super::memory::{MemoryAccount, MemoryShare};
use super::parts::{ClosedFile, PartFile, Parts};
use super::rolling::RollingPolicy;
use super::writer::{WriteError, WriterContext};
use crate::error::{Error, Result};
use crate::fs::{RecoverableStream, RelPath};

/// Names a writer skips in a row, because a target says they are in use, before it gives up.
const MAX_NAME_PROBES: u32 = 1_000_000;

/// Open parts of one kind of record, with the policy that rolls them and the suffix of their names.
pub(super) struct Lane<R> {
    pub(super) parts: Parts<R>,
    pub(super) policy: Arc<dyn RollingPolicy<R>>,
    suffix: String,
}

impl<R: Send + 'static> Lane<R> {
    pub(super) fn new(policy: Arc<dyn RollingPolicy<R>>, suffix: String) -> Self {
        Lane {
            parts: Parts::default(),
            policy,
            suffix,
        }
    }

    pub(super) async fn write<T>(
        &mut self,
        core: &mut Core<T>,
        format: &Format<R>,
        key: &str,
        record: &R,
        now: i64,
    ) -> std::result::Result<(), WriteError> {
        if let Some(part) = self.parts.get_mut(key) {
            if !self.policy.should_roll_on_event(&part.info(), record) {
                encode_into(part, &mut core.memory, format, record, now)?;
                return Ok(flush_if_full(part, core).await?);
            }
        }
        self.open_and_write(core, format, key, record, now).await
    }

    /// Rolls the bucket's open part, if any, opens a new one and writes the record to it.
    pub(super) async fn open_and_write<T>(
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
        encode_into(part, &mut core.memory, format, record, now)?;
        Ok(flush_if_full(part, core).await?)
    }
}

/// Encodes a record into an open part's buffer and keeps the memory account; no I/O.
pub(super) fn encode_into<R: 'static>(
    part: &mut PartFile<R>,
    memory: &mut MemoryAccount,
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
    part.recount(memory);
    Ok(())
}

/// Writes a part's buffer to its stream once it is full.
pub(super) async fn flush_if_full<T, R: 'static>(
    part: &mut PartFile<R>,
    core: &mut Core<T>,
) -> Result<()> {
    if part.buf.len() >= core.shared.write_buffer_size {
        part.flush_buf().await?;
        part.recount(&mut core.memory);
    }
    Ok(())
}

/// What a writer's lanes share.
pub(super) struct Core<T> {
    pub(super) shared: Arc<Shared<T>>,
    pub(super) ctx: WriterContext,
    pub(super) next_counter: u64,
    /// Every closed part until it is published, and old copies until they are removed.
    pub(super) ledger: PartLedger,
    pub(super) memory: MemoryAccount,
    pub(super) stats: SinkStats,
    pub(super) buckets_seen: HashSet<String>,
}

impl<T> Core<T> {
    fn part_name(&mut self, suffix: &str) -> String {
        let n = self.next_counter;
        self.next_counter += 1;
        self.shared
            .names
            .name(&self.ctx.run, self.ctx.subtask, n, suffix)
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
            mem: MemoryShare::default(),
            persisted: None,
        };
        part.recount(&mut self.memory);
        Ok(part)
    }

    /// Closes a part for commit and enters it in the ledger.
    pub(super) async fn close_part<R: 'static>(&mut self, part: PartFile<R>) -> Result<()> {
        let closed = part.close().await?;
        self.closed(closed);
        Ok(())
    }

    /// A part is closed: its memory leaves the account and it waits in the ledger for the next
    /// snapshot.
    pub(super) fn closed(&mut self, closed: ClosedFile) {
        self.memory.release(closed.mem);
        self.stats.parts_closed += 1;
        self.ledger.close(ClosedPart {
            bucket: closed.bucket,
            committable: closed.committable,
            records: closed.records,
            closed_at: Some(wall_clock_millis()),
        });
    }
}
