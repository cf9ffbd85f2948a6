//! Checkpoints: what they hold, and where they are kept.
//!
//! A checkpoint is one JSON document `chk-{id:020}.json` written atomically to a
//! [`CheckpointStore`]: it is either complete or absent. Next to them, `job.json` holds what is
//! fixed on a job's first start (its run id). A store is a directory on local disk
//! ([`LocalCheckpointStore`]); the object-store and HDFS connectors add their own.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The checkpoint format this release writes.
pub const CHECKPOINT_VERSION: u32 = 1;
/// Checkpoints kept by default (the newest and two before it).
pub const DEFAULT_RETAINED_CHECKPOINTS: usize = 3;
/// The job metadata document.
pub const JOB_META: &str = "job.json";

/// A place that stores small documents atomically: each [`put`](Self::put) is seen whole or not at
/// all, even when the process dies in the middle.
#[async_trait]
pub trait CheckpointStore: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Writes `bytes` under `name`, atomically, replacing what was there.
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()>;
    /// Reads a document, `None` when absent.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Names of the complete documents.
    async fn list(&self) -> Result<Vec<String>>;
    /// Deletes a document; absent is fine.
    async fn delete(&self, name: &str) -> Result<()>;
    /// Where a document lives, for messages (`/var/ckpt/chk-…json`, `s3://b/ckpt/…`).
    fn location(&self, name: &str) -> String;
}

/// A shared store.
pub type DynCheckpointStore = Arc<dyn CheckpointStore>;

/// Checkpoints in a local directory: write to a hidden temporary file, fsync, rename, fsync the
/// directory.
#[derive(Debug, Clone)]
pub struct LocalCheckpointStore {
    dir: PathBuf,
}

impl LocalCheckpointStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("create checkpoint directory", dir.display(), e))?;
        let probe = dir.join(format!(".probe-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&probe, b"").map_err(|e| {
            Error::io(
                "write to checkpoint directory",
                dir.display(),
                std::io::Error::new(e.kind(), format!("not writable: {e}")),
            )
        })?;
        let _ = std::fs::remove_file(probe);
        Ok(LocalCheckpointStore { dir })
    }

    /// Opens an existing directory for reading (the CLI's `checkpoints` command).
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::io(
                "open checkpoint directory",
                dir.display(),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        Ok(LocalCheckpointStore { dir })
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::Internal(format!(
                "bad checkpoint document name {name:?}"
            )));
        }
        Ok(self.dir.join(name))
    }
}

impl fmt::Display for LocalCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dir.display())
    }
}

#[async_trait]
impl CheckpointStore for LocalCheckpointStore {
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let dest = self.path(name)?;
        let dir = self.dir.clone();
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| Error::io("create", tmp.display(), e))?;
            f.write_all(&bytes)
                .map_err(|e| Error::io("write", tmp.display(), e))?;
            f.sync_all()
                .map_err(|e| Error::io("fsync", tmp.display(), e))?;
            drop(f);
            std::fs::rename(&tmp, &dest).map_err(|e| Error::io("rename", dest.display(), e))?;
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("fsync directory", dir.display(), e))
        })
        .await
        .map_err(|e| Error::Internal(format!("checkpoint write task: {e}")))?
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(name)?;
        match tokio::fs::read(&p).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p.display(), e)),
        }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| Error::io("list", self.dir.display(), e))?;
        while let Some(e) = rd
            .next_entry()
            .await
            .map_err(|e| Error::io("list", self.dir.display(), e))?
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let p = self.path(name)?;
        match tokio::fs::remove_file(&p).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", p.display(), e)),
        }
    }

    fn location(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// What is fixed on a job's first start, in `job.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMeta {
    /// Format version.
    pub version: u32,
    /// The job's name when it was created.
    pub job: String,
    /// The run id in part file names.
    pub run: String,
    /// This worker's index.
    pub worker: usize,
    /// Workers of the job.
    pub workers: usize,
    /// Subtasks per worker, kept when there are several workers (their split assignment depends
    /// on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<usize>,
    /// When the job was first started, RFC 3339.
    pub created: String,
}

/// Counters carried from checkpoint to checkpoint, so totals survive restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointTotals {
    /// Records read.
    #[serde(default)]
    pub records_in: u64,
    /// Records handed to the sink.
    #[serde(default)]
    pub records_out: u64,
    /// Bad records (all policies).
    #[serde(default)]
    pub bad_records: u64,
}

/// One complete checkpoint of one worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`CHECKPOINT_VERSION`] when written by this release).
    pub version: u32,
    /// Checkpoint id, increasing.
    pub id: u64,
    /// The job's name.
    pub job: String,
    /// The run id in part file names.
    pub run: String,
    /// This worker's index.
    pub worker: usize,
    /// Workers of the job.
    pub workers: usize,
    /// Subtasks of this worker when it was taken.
    pub parallelism: usize,
    /// When it was triggered, ms since the epoch.
    pub timestamp: i64,
    /// True for the last checkpoint of a job that ended or stopped: every part was published.
    #[serde(default)]
    pub final_checkpoint: bool,
    /// Position of every split, by split id.
    pub sources: BTreeMap<String, serde_json::Value>,
    /// The sink state of each subtask, by subtask index.
    pub sinks: Vec<serde_json::Value>,
    /// Watermark of each subtask, if any.
    #[serde(default)]
    pub watermarks: Vec<Option<i64>>,
    /// Totals up to this checkpoint.
    #[serde(default)]
    pub totals: CheckpointTotals,
}

/// The document name of checkpoint `id`.
pub fn checkpoint_name(id: u64) -> String {
    format!("chk-{id:020}.json")
}

fn parse_checkpoint_name(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// Reads and writes checkpoints in a store, with retention.
#[derive(Debug, Clone)]
pub struct CheckpointManager {
    store: DynCheckpointStore,
    retain: usize,
}

impl CheckpointManager {
    /// A manager keeping the newest `retain` checkpoints (at least 1).
    pub fn new(store: DynCheckpointStore, retain: usize) -> Self {
        CheckpointManager {
            store,
            retain: retain.max(1),
        }
    }

    /// The store.
    pub fn store(&self) -> &DynCheckpointStore {
        &self.store
    }

    /// Whether the job's metadata exists: it was started here before.
    pub async fn has_meta(&self) -> Result<bool> {
        Ok(self.store.get(JOB_META).await?.is_some())
    }

    /// Reads `job.json`, or writes it with a new run id on a first start. A checkpoint directory
    /// that belongs to another worker is an error.
    pub async fn load_or_create_meta(
        &self,
        job: &str,
        worker: usize,
        workers: usize,
    ) -> Result<JobMeta> {
        self.load_or_create_meta_with(job, worker, workers, None)
            .await
    }

    /// [`load_or_create_meta`](Self::load_or_create_meta), also keeping the job's parallelism
    /// when it has several workers: their split assignment depends on it, so a change would
    /// move splits to workers that have no position for them. A change is then an error.
    pub async fn load_or_create_meta_with(
        &self,
        job: &str,
        worker: usize,
        workers: usize,
        parallelism: Option<usize>,
    ) -> Result<JobMeta> {
        let parallelism = parallelism.filter(|_| workers > 1);
        if let Some(bytes) = self.store.get(JOB_META).await? {
            let loc = self.store.location(JOB_META);
            let meta: JobMeta = serde_json::from_slice(&bytes)
                .map_err(|e| Error::checkpoint(&loc, format!("unreadable job metadata: {e}")))?;
            if meta.worker != worker || meta.workers != workers {
                return Err(Error::checkpoint(
                    &loc,
                    format!(
                        "belongs to worker {} of {}, but this is worker {worker} of {workers}; give each worker its own checkpoint directory, and keep the number of workers",
                        meta.worker, meta.workers
                    ),
                ));
            }
            if let (Some(was), Some(now)) = (meta.parallelism, parallelism) {
                if was != now {
                    return Err(Error::checkpoint(
                        &loc,
                        format!(
                            "the job ran with parallelism {was} on each of {workers} workers, now {now}: with several workers the splits are assigned by workers x parallelism, so keep it (or start afresh with a new checkpoint directory and output path)"
                        ),
                    ));
                }
            }
            if meta.job != job {
                tracing::warn!(was = %meta.job, now = %job, "the job was renamed; continuing from its checkpoints");
            }
            return Ok(meta);
        }
        let meta = JobMeta {
            version: 1,
            job: job.to_string(),
            run: new_run_id(),
            worker,
            workers,
            parallelism,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        self.store
            .put(
                JOB_META,
                serde_json::to_vec_pretty(&meta).expect("meta serialises"),
            )
            .await?;
        Ok(meta)
    }

    /// Ids of the complete checkpoints, oldest first.
    pub async fn ids(&self) -> Result<Vec<u64>> {
        let mut ids: Vec<u64> = self
            .store
            .list()
            .await?
            .iter()
            .filter_map(|n| parse_checkpoint_name(n))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads one checkpoint. A document that cannot be parsed is an error naming it.
    pub async fn read(&self, id: u64) -> Result<Checkpoint> {
        let name = checkpoint_name(id);
        let loc = self.store.location(&name);
        let bytes = self
            .store
            .get(&name)
            .await?
            .ok_or_else(|| Error::checkpoint(&loc, "is gone"))?;
        parse_checkpoint(&bytes, &loc)
    }

    /// The newest complete checkpoint, `None` on a fresh start. If it is corrupt, that is an error
    /// naming the file: never a silent fresh start.
    pub async fn latest(&self) -> Result<Option<Checkpoint>> {
        match self.ids().await?.last() {
            Some(id) => self.read(*id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Writes a checkpoint atomically, then deletes the oldest beyond the retention.
    pub async fn save(&self, checkpoint: &Checkpoint) -> Result<usize> {
        let bytes = serde_json::to_vec(checkpoint).expect("checkpoint serialises");
        let size = bytes.len();
        self.store
            .put(&checkpoint_name(checkpoint.id), bytes)
            .await?;
        let ids = self.ids().await?;
        if ids.len() > self.retain {
            for old in &ids[..ids.len() - self.retain] {
                if *old != checkpoint.id {
                    self.store.delete(&checkpoint_name(*old)).await?;
                }
            }
        }
        Ok(size)
    }
}

/// Parses a checkpoint document, migrating older versions.
pub fn parse_checkpoint(bytes: &[u8], location: &str) -> Result<Checkpoint> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::checkpoint(
            location,
            format!(
                "corrupt (not valid JSON: {e}); delete it to restore from the previous checkpoint"
            ),
        )
    })?;
    let version = value
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| Error::checkpoint(location, "corrupt: no `version` field"))?;
    match version {
        1 => serde_json::from_value(value).map_err(|e| Error::checkpoint(location, format!("corrupt: {e}"))),
        v => Err(Error::checkpoint(
            location,
            format!("version {v} is newer than this release understands ({CHECKPOINT_VERSION}); upgrade Spillway"),
        )),
    }
}

/// A new run id: 8 hex digits, random.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(id: u64) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            id,
            job: "j".into(),
            run: "r".into(),
            worker: 0,
            workers: 1,
            parallelism: 1,
            timestamp: 0,
            final_checkpoint: false,
            sources: BTreeMap::from([("s".to_string(), serde_json::json!(id * 10))]),
            sinks: vec![serde_json::json!({})],
            watermarks: vec![None],
            totals: CheckpointTotals::default(),
        }
    }

    #[tokio::test]
    async fn save_list_retain_and_latest() {
        let dir = tempfile::tempdir().unwrap();
        let m = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(dir.path()).unwrap()), 3);
        assert!(m.latest().await.unwrap().is_none());
        for id in 1..=5 {
            m.save(&checkpoint(id)).await.unwrap();
        }
        assert_eq!(m.ids().await.unwrap(), vec![3, 4, 5]);
        assert_eq!(m.latest().await.unwrap().unwrap(), checkpoint(5));
        // A temporary file of an interrupted write is not a checkpoint.
        std::fs::write(
            dir.path().join(".chk-00000000000000000006.json.x.tmp"),
            b"{",
        )
        .unwrap();
        assert_eq!(m.latest().await.unwrap().unwrap().id, 5);
    }

    #[tokio::test]
    async fn corrupt_checkpoint_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let m = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(dir.path()).unwrap()), 3);
        m.save(&checkpoint(1)).await.unwrap();
        let name = checkpoint_name(2);
        std::fs::write(dir.path().join(&name), b"{\"version\":1,\"id\":").unwrap();
        let err = m.latest().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&name) && msg.contains("corrupt"), "{msg}");
        std::fs::write(dir.path().join(&name), b"{\"version\":7}").unwrap();
        assert!(m.latest().await.unwrap_err().to_string().contains("newer"));
    }

    #[tokio::test]
    async fn meta_is_created_once_and_guards_the_worker() {
        let dir = tempfile::tempdir().unwrap();
        let m = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(dir.path()).unwrap()), 3);
        let a = m.load_or_create_meta("j", 0, 2).await.unwrap();
        let b = m.load_or_create_meta("j", 0, 2).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.run.len(), 8);
        let err = m.load_or_create_meta("j", 1, 2).await.unwrap_err();
        assert!(err.to_string().contains("worker 0 of 2"), "{err}");
    }

    #[tokio::test]
    async fn meta_guards_the_parallelism_of_several_workers_only() {
        let dir = tempfile::tempdir().unwrap();
        let m = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(dir.path()).unwrap()), 3);
        m.load_or_create_meta_with("j", 0, 2, Some(2))
            .await
            .unwrap();
        m.load_or_create_meta_with("j", 0, 2, Some(2))
            .await
            .unwrap();
        let err = m
            .load_or_create_meta_with("j", 0, 2, Some(3))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("parallelism 2"), "{err}");
        // One worker: any parallelism (positions are restored whatever the subtasks).
        let one = tempfile::tempdir().unwrap();
        let m = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(one.path()).unwrap()), 3);
        let meta = m
            .load_or_create_meta_with("j", 0, 1, Some(2))
            .await
            .unwrap();
        assert_eq!(meta.parallelism, None);
        m.load_or_create_meta_with("j", 0, 1, Some(5))
            .await
            .unwrap();
    }

    #[test]
    fn version_1_fixture_parses() {
        let doc = r#"{"version":1,"id":7,"job":"q","run":"ab12cd34","worker":0,"workers":1,
            "parallelism":2,"timestamp":1,"sources":{"gen-0":5},"sinks":[{},{}]}"#;
        let c = parse_checkpoint(doc.as_bytes(), "f").unwrap();
        assert_eq!(c.id, 7);
        assert!(!c.final_checkpoint);
        assert_eq!(c.totals, CheckpointTotals::default());
    }
}
