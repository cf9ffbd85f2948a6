//! Open part files, and the slab that finds a bucket's open part on every record.

use super::encoder::{BulkWriter, PartEncoder};
use super::memory::{MemoryAccount, MemoryShare};
use super::rolling::PartFileInfo;
use crate::error::Result;
use crate::fs::{Committable, RecoverableStream, ResumeHandle};

/// One open part: its stream, the encoder or bulk writer that fills it, and the bytes not yet
/// handed to the stream.
pub(super) struct PartFile<R> {
    pub(super) bucket: String,
    pub(super) stream: Box<dyn RecoverableStream>,
    pub(super) bulk: Option<Box<dyn BulkWriter<R>>>,
    /// The part's own encoder, for row formats that keep per-file state.
    pub(super) row: Option<Box<dyn PartEncoder<R>>>,
    pub(super) buf: Vec<u8>,
    pub(super) creation_time: i64,
    pub(super) last_update_time: i64,
    pub(super) records: u64,
    /// What the writer's memory account counts for this part.
    pub(super) mem: MemoryShare,
    /// The handle of the last persist, reused while nothing new was written.
    pub(super) persisted: Option<ResumeHandle>,
}

/// What is left of a part once closed for commit.
pub(super) struct ClosedFile {
    pub(super) bucket: String,
    pub(super) committable: Committable,
    pub(super) records: u64,
    /// The part's memory share, to release from the account.
    pub(super) mem: MemoryShare,
}

impl<R: 'static> PartFile<R> {
    /// Bytes in the part: written to the stream, buffered, and pending in a bulk writer.
    pub(super) fn size(&self) -> u64 {
        self.stream.len()
            + self.buf.len() as u64
            + self.bulk.as_ref().map_or(0, |b| b.pending_size() as u64)
    }

    pub(super) fn info(&self) -> PartFileInfo<'_> {
        PartFileInfo {
            bucket_id: &self.bucket,
            creation_time: self.creation_time,
            last_update_time: self.last_update_time,
            size: self.size(),
            records: self.records,
        }
    }

    /// Memory the part holds now: its buffer's capacity and what its bulk writer buffers.
    pub(super) fn memory(&self) -> usize {
        self.buf.capacity() + self.bulk.as_ref().map_or(0, |b| b.buffered_bytes())
    }

    /// Brings the account up to date with what the part holds now.
    #[inline]
    pub(super) fn recount(&mut self, account: &mut MemoryAccount) {
        let bytes = self.memory();
        account.set(&mut self.mem, bytes);
    }

    pub(super) async fn flush_buf(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.stream.write(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    pub(super) async fn persist(&mut self) -> Result<ResumeHandle> {
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

    /// Finishes the part (a bulk writer writes its footer) and closes its stream for commit.
    pub(super) async fn close(mut self) -> Result<ClosedFile> {
        if let Some(bulk) = self.bulk.take() {
            bulk.finish(&mut self.buf)?;
        }
        self.flush_buf().await?;
        let committable = self.stream.close_for_commit().await?;
        Ok(ClosedFile {
            bucket: self.bucket,
            committable,
            records: self.records,
            mem: self.mem,
        })
    }
}

/// The open parts of a lane, by bucket id.
///
/// Parts live in a slab indexed by a hash map (foldhash: fast on short keys, seeded per process),
/// and the slot of the last part used is remembered: consecutive records nearly always go to the
/// same bucket, and then finding the part costs one string comparison instead of a hash lookup.
pub(super) struct Parts<R> {
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
    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut PartFile<R>> {
        let hit = matches!(self.slots.get(self.last), Some(Some(p)) if same_key(&p.bucket, key));
        if !hit {
            self.last = *self.index.get(key)?;
        }
        self.slots[self.last].as_mut()
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<PartFile<R>> {
        let i = self.index.remove(key)?;
        self.free.push(i);
        self.slots[i].take()
    }

    /// Adds a part under its bucket id, which must not have one.
    pub(super) fn insert(&mut self, part: PartFile<R>) -> &mut PartFile<R> {
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

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &PartFile<R>> {
        self.slots.iter().flatten()
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut PartFile<R>> {
        self.slots.iter_mut().flatten()
    }

    pub(super) fn drain(&mut self) -> Vec<PartFile<R>> {
        self.index.clear();
        self.free.clear();
        self.slots.drain(..).flatten().collect()
    }

    /// The bucket ids of the parts that satisfy `pred`.
    pub(super) fn keys_where(&self, mut pred: impl FnMut(&PartFile<R>) -> bool) -> Vec<String> {
        self.iter()
            .filter(|p| pred(p))
            .map(|p| p.bucket.clone())
            .collect()
    }
}
