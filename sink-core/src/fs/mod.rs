//! The storage contract: how the file sink writes part files so that a crash loses and doubles
//! nothing.
//!
//! A target (local disk, an object store, HDFS) implements [`RecoverableWriter`]. The sink opens a
//! [`RecoverableStream`] per part file, appends bytes, and at each checkpoint either
//! [`persist`s](RecoverableStream::persist) it (the part stays open; the returned [`ResumeHandle`]
//! goes into the checkpoint) or [closes it for commit](RecoverableStream::close_for_commit) (the
//! returned [`Committable`] goes into the checkpoint). Once the checkpoint is durable, the sink
//! [`commit`s](RecoverableWriter::commit) the committables: only then does a part file appear under
//! its final name. After a crash the sink [`resume`s](RecoverableWriter::resume) each open part from
//! its handle, which cuts away whatever was written after the checkpoint, and commits the
//! committables of the restored checkpoint again: commit is idempotent.
//!
//! Handles and committables are plain serde data, so they can be stored in a checkpoint and read by
//! a later release. Their `data` field is owned by the target that made them.
//!
//! Every target must pass the conformance suite in `testing` (feature `testing`), as
//! [`local::LocalTarget`] does.

mod local;
mod naming;
mod path;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use local::{parse_temp_name, temp_name, LocalTarget, LocalTargetOptions, IN_PROGRESS_MARKER};
pub use naming::{
    InProgressNaming, LegacyNaming, LegacyState, DEFAULT_IN_PROGRESS_PREFIX,
    DEFAULT_IN_PROGRESS_SUFFIX, DEFAULT_PENDING_PREFIX, DEFAULT_PENDING_SUFFIX,
};
pub use path::{RelPath, MAX_SEGMENT_BYTES};

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Describes a part file that is still open, durable up to `len` bytes.
///
/// Returned by [`RecoverableStream::persist`] and stored in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResumeHandle {
    /// The final path of the part file, relative to the target's root.
    pub path: RelPath,
    /// How many bytes are durable. [`RecoverableWriter::resume`] reopens the stream at exactly this
    /// length.
    pub len: u64,
    /// Target-specific data (the hidden file's name, an upload id and its parts, ...).
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Describes a part file that is finished and durable but not yet visible under its final name.
///
/// Returned by [`RecoverableStream::close_for_commit`] and stored in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Committable {
    /// The final path of the part file, relative to the target's root.
    pub path: RelPath,
    /// The file's final length in bytes.
    pub len: u64,
    /// Target-specific data.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// Something a target wrote for a part file that is not finished: a hidden in-progress file, an
/// incomplete multipart upload, a side object.
///
/// [`RecoverableWriter::list_in_progress`] lists them so that the sink can delete those no
/// checkpoint references (left behind by a crash between checkpoints).
#[derive(Clone, Debug, PartialEq)]
pub struct InProgress {
    /// The final path the part file would have had.
    pub path: RelPath,
    /// A target-specific description, handed back to [`RecoverableWriter::delete_in_progress`] and
    /// compared with the `data` of the handles and committables to keep.
    pub data: serde_json::Value,
}

/// What a target can do, so the sink can choose its strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `resume` continues the same file (local disk, object stores). When false, `resume` copies the
    /// valid prefix into a new file, and the sink must [`cleanup`](RecoverableWriter::cleanup) the
    /// old handle once a newer checkpoint no longer references it (HDFS).
    pub resume_in_place: bool,
}

/// A storage target that writes part files in two phases.
///
/// # Contract
///
/// * Nothing a stream writes is visible under the final path before [`commit`](Self::commit). An
///   in-progress part is hidden from readers that skip names starting with `.` or `_` (Spark, Hive,
///   Trino, DuckDB) or is not a visible object at all (object stores).
/// * [`RecoverableStream::persist`] and [`RecoverableStream::close_for_commit`] return only once
///   every byte written so far is durable: it survives a crash of this process (and, on local disk,
///   of the machine).
/// * [`resume`](Self::resume) reopens a persisted stream at exactly [`ResumeHandle::len`], cutting
///   away anything written after the handle was taken. It may be called again with the same handle
///   after another crash.
/// * [`commit`](Self::commit) publishes atomically: readers see either nothing or the whole file.
///   It is idempotent: when the file is already published with the expected length it succeeds.
///   When neither the in-progress file nor the published file exists, it fails with
///   [`Error::Lost`](crate::Error::Lost): data the checkpoint promised is gone.
/// * Dropping a stream without closing it leaves its bytes in progress; the sink removes them later
///   through [`cleanup`](Self::cleanup) or [`delete_in_progress`](Self::delete_in_progress).
/// * All paths are relative to the target's root and are [`RelPath`]s, so no path outside the root
///   can be named.
#[async_trait]
pub trait RecoverableWriter: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Opens a new in-progress part that [`commit`](Self::commit) will publish at `path`.
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>>;

    /// Reopens a persisted part at exactly the handle's length.
    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>>;

    /// Publishes a closed part under its final path. Idempotent.
    async fn commit(&self, committable: &Committable) -> Result<()>;

    /// Removes what a handle that is no longer needed left behind (for targets whose `resume` does
    /// not continue in place). Succeeds when there is nothing to remove.
    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()>;

    /// Makes the commits done so far durable, for targets where publishing is not durable by
    /// itself (a rename needs an fsync of the directory on local disk). Called once after a batch of
    /// commits.
    async fn sync_commits(&self, committed: &[RelPath]) -> Result<()> {
        let _ = committed;
        Ok(())
    }

    /// Lists the in-progress parts under the root whose final file name starts with
    /// `name_prefix`.
    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>>;

    /// Deletes one in-progress part found by [`list_in_progress`](Self::list_in_progress).
    async fn delete_in_progress(&self, item: &InProgress) -> Result<()>;

    /// True when `item` is the in-progress data of this handle or committable's `data`.
    fn same_in_progress(&self, item: &InProgress, data: &serde_json::Value) -> bool {
        &item.data == data
    }

    /// What this target can do.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            resume_in_place: true,
        }
    }
}

/// An open part file.
///
/// Appending is cheap; durability is only promised by [`persist`](Self::persist) and
/// [`close_for_commit`](Self::close_for_commit).
#[async_trait]
pub trait RecoverableStream: fmt::Debug + Send {
    /// Appends bytes.
    async fn write(&mut self, buf: &[u8]) -> Result<()>;

    /// Bytes written so far, durable or not.
    fn len(&self) -> u64;

    /// True when nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes everything written so far durable and describes how to resume at this length.
    async fn persist(&mut self) -> Result<ResumeHandle>;

    /// Finishes the part: every byte is durable, nothing more can be written.
    async fn close_for_commit(self: Box<Self>) -> Result<Committable>;

    /// Abandons the part and removes what it wrote, best effort.
    async fn discard(self: Box<Self>) -> Result<()>;
}

/// A shared, type-erased target.
pub type DynWriter = Arc<dyn RecoverableWriter>;
