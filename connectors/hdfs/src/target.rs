//! [`HdfsTarget`]: part files on HDFS.
//!
//! | step | what happens |
//! | --- | --- |
//! | open | create the hidden file `.{name}.inprogress.{uuid}` in the bucket's directory |
//! | write | append to the file's write pipeline (and keep the bytes since the last sync or the end of the last finished block; all parts together at most `replay_buffer`) |
//! | persist | `hsync`: every datanode of the pipeline has the bytes on disk, the namenode knows the length |
//! | close for commit | `hsync`, then close the file (the namenode completes its last block) |
//! | commit | rename the hidden file to its final name (no overwrite); already renamed with the right length is success |
//! | resume | recover the old file's lease, copy its first `len` bytes into a new hidden file, sync, continue there |
//! | cleanup | delete the old hidden file once no checkpoint references it |

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use futures::StreamExt;
use hdfs_native::file::FileWriter;
use hdfs_native::{Client, HdfsError};
use serde_json::json;
use sink_core::fs::{
    parse_temp_name, Capabilities, Committable, InProgress, RecoverableStream, RecoverableWriter,
    RelPath, ResumeHandle,
};
use sink_core::{Error, Result};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{
    describe, is_exists, is_not_found, is_repairable, is_transient, Hdfs, HdfsStats,
};
use crate::location::{temp_of, HdfsLocation};
use crate::options::{HdfsOptions, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY};

/// Part files in an HDFS directory, written through hdfs-native (no JVM).
///
/// A part is a hidden file `.{name}.inprogress.{uuid}` next to its final path until it is
/// committed (renamed). [`persist`](RecoverableStream::persist) syncs it to the datanodes (`hsync`).
/// HDFS has a truncate, but hdfs-native does not call it, so [`resume`](RecoverableWriter::resume)
/// copies the persisted prefix into a new hidden file and continues there
/// ([`Capabilities::resume_in_place`] is false: the sink deletes the old file once no checkpoint
/// needs it).
///
/// Calls to the namenode are retried with backoff for `retry_timeout` while it is unreachable or
/// in safe mode. A broken write pipeline (a datanode or the namenode restarted) is repaired in
/// place: the file's lease is recovered, the file reopened for append at the length the datanodes
/// kept, and the bytes written since the last sync or the end of the last finished block (kept in
/// memory, at most `replay_buffer` for all open parts of the target together) written again. So a restart of HDFS makes the job wait, not fail.
///
/// ```no_run
/// # async fn demo() -> sink_core::Result<()> {
/// use connector_hdfs::{HdfsOptions, HdfsTarget};
/// use sink_core::fs::{RecoverableWriter, RelPath};
/// let target = HdfsTarget::connect("hdfs://127.0.0.1:9000/lake", &HdfsOptions::default()).await?;
/// let mut part = target.open(&RelPath::parse("dt=2026-11-24/part-0.json")?).await?;
/// part.write(b"{\"id\":1}\n").await?;
/// let handle = part.persist().await?; // durable on the datanodes; goes into a checkpoint
/// part.write(b"{\"id\":2}\n").await?;
/// let committable = part.close_for_commit().await?;
/// target.commit(&committable).await?; // now visible as /lake/dt=2026-11-24/part-0.json
/// target.commit(&committable).await?; // idempotent
/// target.cleanup(&handle).await?; // nothing left to clean: the file was continued in place
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HdfsTarget {
    hdfs: Arc<Hdfs>,
}

impl fmt::Debug for HdfsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HdfsTarget")
            .field("hdfs", &self.hdfs)
            .finish()
    }
}

impl fmt::Display for HdfsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.hdfs.location, f)
    }
}

impl HdfsTarget {
    /// Connects to the file system of `url` (`hdfs://namenode:port/dir`), creates `dir` if
    /// missing, and proves it writable. Fails with a clear error naming the namenode when it
    /// cannot be reached within `connect_timeout`, or the directory and user when it is not
    /// writable.
    pub async fn connect(url: &str, options: &HdfsOptions) -> Result<Self> {
        let location = HdfsLocation::parse_field(url, "sink.path")?;
        let hdfs = Hdfs::new(location, options, "sink.hdfs")?;
        hdfs.probe_dir(hdfs.location.root(), options.connect_timeout())
            .await?;
        Ok(HdfsTarget { hdfs })
    }

    /// Where the parts go.
    pub fn location(&self) -> &HdfsLocation {
        &self.hdfs.location
    }

    /// Counters of retries, lease recoveries, repairs and resumes since this target was connected.
    pub fn stats(&self) -> &HdfsStats {
        &self.hdfs.stats
    }

    /// Block size of part files: `block_size` if set, else the namenode's default as found when
    /// connecting (`None` if it could not be found).
    pub fn block_size(&self) -> Option<u64> {
        self.hdfs.block_size()
    }

    /// The replay buffer in effect: `replay_buffer` if set, else the block size and
    /// [`REPLAY_BUFFER_BEYOND_BLOCK`](crate::REPLAY_BUFFER_BEYOND_BLOCK).
    pub fn replay_buffer(&self) -> u64 {
        self.hdfs.replay_buffer()
    }

    /// The hdfs-native client, to read what was written (tests, tools).
    pub fn client(&self) -> &Client {
        &self.hdfs.client
    }

    fn temp_abs(&self, path: &RelPath, data: &serde_json::Value) -> Result<String> {
        let name = temp_of(path, data)?;
        Ok(self.hdfs.location.temp_path(path, &name))
    }

    /// Creates a new hidden file for `path`; a fresh name on every attempt, so an attempt whose
    /// answer was lost leaves at most an orphan (deleted on the next restart), never a clash.
    async fn create_temp(&self, path: &RelPath) -> Result<(String, String, FileWriter)> {
        let deadline = self.hdfs.deadline();
        let mut delay = INITIAL_RETRY_DELAY;
        loop {
            let name = HdfsLocation::new_temp_name(path);
            let abs = self.hdfs.location.temp_path(path, &name);
            match self
                .hdfs
                .client
                .create(&abs, &self.hdfs.write_options)
                .await
            {
                Ok(w) => return Ok((name, abs, w)),
                Err(e)
                    if (is_transient(&e) || is_exists(&e)) && Instant::now() + delay < deadline =>
                {
                    tracing::warn!(path = %self.hdfs.location.url_of(&abs), error = %describe(&e), "HDFS create failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Err(e) => return Err(self.hdfs.error("create", &abs, e)),
            }
        }
    }

    /// A new hidden file holding the first `len` bytes of `old` (closed), synced.
    async fn copy_prefix(
        &self,
        path: &RelPath,
        old: &str,
        len: u64,
    ) -> Result<(String, String, FileWriter)> {
        let deadline = self.hdfs.deadline();
        let mut delay = INITIAL_RETRY_DELAY;
        loop {
            let (name, abs, mut w) = self.create_temp(path).await?;
            let copied: std::result::Result<(), HdfsError> = async {
                if len > 0 {
                    let reader = self.hdfs.client.read(old).await?;
                    if (reader.file_length() as u64) < len {
                        // Not closed yet: the namenode does not count an unfinished last block.
                        return Err(HdfsError::OperationFailed(format!(
                            "{old} reads {} bytes, fewer than {len}: is it still open?",
                            reader.file_length()
                        )));
                    }
                    let mut chunks = reader.read_range_stream(0, len as usize);
                    while let Some(chunk) = chunks.next().await {
                        w.write_bytes(chunk?).await?;
                    }
                    crate::client::hsync_bounded(&mut w).await?;
                }
                Ok(())
            }
            .await;
            match copied {
                Ok(()) => return Ok((name, abs, w)),
                Err(e) => {
                    drop(w);
                    let _ = self.hdfs.client.delete(&abs, false).await;
                    if is_transient(&e) && Instant::now() + delay < deadline {
                        tracing::warn!(from = %self.hdfs.location.url_of(old), error = %describe(&e), "HDFS copy of a resumed part failed; retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_RETRY_DELAY);
                        self.hdfs.recover_lease(old, deadline).await?;
                    } else {
                        return Err(self.hdfs.error("copy resumed part", old, e));
                    }
                }
            }
        }
    }
}

#[async_trait]
impl RecoverableWriter for HdfsTarget {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        if path.is_root() {
            return Err(Error::InvalidPath {
                path: String::new(),
                reason: "a part file needs a name".into(),
            });
        }
        let (temp_name, temp, writer) = self.create_temp(path).await?;
        Ok(Box::new(HdfsStream::new(
            Arc::clone(&self.hdfs),
            path.clone(),
            temp_name,
            temp,
            writer,
            0,
        )))
    }

    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        let old = self.temp_abs(&handle.path, &handle.data)?;
        let deadline = self.hdfs.deadline();
        let gone = || {
            Error::lost(
                self.hdfs.location.url_of(&old),
                format!(
                    "the in-progress file of {} is gone; the checkpoint promised {} bytes",
                    handle.path, handle.len
                ),
            )
        };
        if handle.len > 0 {
            // Fence whatever still writes to it (a crashed process holds its lease for up to an
            // hour) and let the namenode close it, so that every byte of it can be read.
            if !self.hdfs.recover_lease(&old, deadline).await? {
                return Err(gone());
            }
            match self.hdfs.stat_len(&old, deadline).await? {
                None => return Err(gone()),
                Some(n) if n < handle.len => {
                    return Err(Error::lost(
                        self.hdfs.location.url_of(&old),
                        format!("has {n} bytes, the checkpoint promised {}", handle.len),
                    ))
                }
                Some(_) => {}
            }
        } else if self.hdfs.stat_len(&old, deadline).await?.is_none() {
            return Err(gone());
        }
        let (temp_name, temp, writer) = self.copy_prefix(&handle.path, &old, handle.len).await?;
        HdfsStats::add(&self.hdfs.stats.resumes, 1);
        HdfsStats::add(&self.hdfs.stats.resumed_bytes, handle.len);
        Ok(Box::new(HdfsStream::new(
            Arc::clone(&self.hdfs),
            handle.path.clone(),
            temp_name,
            temp,
            writer,
            handle.len,
        )))
    }

    async fn commit(&self, committable: &Committable) -> Result<()> {
        let temp = self.temp_abs(&committable.path, &committable.data)?;
        let dest = self.hdfs.location.path(&committable.path);
        let want = committable.len;
        let deadline = self.hdfs.deadline();
        // A part closed by this process may still be closing: wait for it. One closed by another
        // (a crashed) process may still be open: recover its lease, which closes it at its synced
        // length (and is one cheap call for a closed file).
        let local = self.hdfs.closing.lock().unwrap().get(&temp).cloned();
        let closed = match local {
            Some(mut state) => {
                let _ = tokio::time::timeout_at(
                    deadline,
                    state.wait_for(|s| *s != CloseState::Closing),
                )
                .await;
                let state = *state.borrow();
                state == CloseState::Closed
            }
            None => false,
        };
        if !closed {
            self.hdfs.recover_lease(&temp, deadline).await?;
        }
        let result = self.rename_into_place(&temp, &dest, want, deadline).await;
        if result.is_ok() {
            self.hdfs.closing.lock().unwrap().remove(&temp);
        }
        result
    }

    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        let temp = self.temp_abs(&handle.path, &handle.data)?;
        self.hdfs.delete_file(&temp).await
    }

    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        let root = self.hdfs.location.root().to_string();
        let listed = self
            .hdfs
            .retry("list", &root, || async {
                match self.hdfs.client.list_status(&root, true).await {
                    Ok(l) => Ok(l),
                    Err(e) if is_not_found(&e) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        let mut found = Vec::new();
        for status in listed.iter().filter(|s| !s.isdir) {
            let (dir, name) = status.path.rsplit_once('/').unwrap_or(("", &status.path));
            let Some(final_name) = parse_temp_name(name) else {
                continue;
            };
            if !final_name.starts_with(name_prefix) {
                continue;
            }
            let rel_dir = if dir.is_empty() || dir == root.trim_end_matches('/') {
                Some(RelPath::root())
            } else {
                self.hdfs.location.relative(dir)
            };
            if let Some(path) = rel_dir.and_then(|d| d.join(final_name).ok()) {
                found.push(InProgress {
                    path,
                    data: json!({ "temp": name }),
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        let temp = self.temp_abs(&item.path, &item.data)?;
        self.hdfs.closing.lock().unwrap().remove(&temp);
        self.hdfs.delete_file(&temp).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            resume_in_place: false,
        }
    }
}

impl HdfsTarget {
    /// Renames a closed in-progress file to its final name, idempotently.
    async fn rename_into_place(
        &self,
        temp: &str,
        dest: &str,
        want: u64,
        deadline: Instant,
    ) -> Result<()> {
        let url = |p: &str| self.hdfs.location.url_of(p);
        loop {
            let temp_len = self.hdfs.stat_len(temp, deadline).await?;
            let dest_len = self.hdfs.stat_len(dest, deadline).await?;
            match (temp_len, dest_len) {
                (None, Some(n)) if n == want => return Ok(()), // committed before
                (None, Some(n)) => {
                    return Err(Error::lost(
                        url(dest),
                        format!("already exists with {n} bytes, expected {want}: another job may write here"),
                    ))
                }
                (None, None) => {
                    return Err(Error::lost(
                        url(dest),
                        format!("neither the part nor its in-progress file {} exists", url(temp)),
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(Error::lost(
                        url(dest),
                        "a file with this name already exists; refusing to replace it (another job may write here)",
                    ))
                }
                (Some(n), None) if n != want => {
                    return Err(Error::lost(
                        url(temp),
                        format!("in-progress file has {n} bytes, the committable recorded {want}"),
                    ))
                }
                (Some(_), None) => {}
            }
            let renamed = self
                .hdfs
                .retry_until("rename", temp, deadline, || async {
                    match self.hdfs.client.rename(temp, dest, false).await {
                        Ok(()) => Ok(true),
                        // The state changed under us (an earlier attempt whose answer was lost):
                        // look again.
                        Err(e) if is_not_found(&e) || is_exists(&e) => Ok(false),
                        Err(e) => Err(e),
                    }
                })
                .await?;
            if renamed {
                return Ok(());
            }
        }
    }
}

/// Writes queued per open part between the sink and its writer task (of the sink's write buffer
/// size each, 256 KiB by default).
const QUEUED_WRITES: usize = 4;

/// An open hidden file on HDFS: the sink's side. The hdfs-native writer lives in a task of its own
/// ([`Core`]), so that checksums and packets are made while the sink encodes the next records.
struct HdfsStream {
    hdfs: Arc<Hdfs>,
    path: RelPath,
    temp_name: String,
    temp: String,
    len: u64,
    tx: Option<mpsc::Sender<Cmd>>,
    failure: Arc<Mutex<Option<Error>>>,
    task: Option<JoinHandle<()>>,
}

enum Cmd {
    Write(Bytes),
    Sync(oneshot::Sender<Result<()>>),
    Close(oneshot::Sender<Result<()>>),
}

impl fmt::Debug for HdfsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HdfsStream")
            .field("temp", &self.hdfs.location.url_of(&self.temp))
            .field("len", &self.len)
            .field("open", &self.tx.is_some())
            .finish()
    }
}

impl HdfsStream {
    fn new(
        hdfs: Arc<Hdfs>,
        path: RelPath,
        temp_name: String,
        temp: String,
        writer: FileWriter,
        len: u64,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUED_WRITES);
        let failure = Arc::new(Mutex::new(None));
        let core = Core {
            hdfs: Arc::clone(&hdfs),
            temp: temp.clone(),
            writer: Some(writer),
            len,
            synced: len,
            replay: VecDeque::new(),
            replay_len: 0,
            block_size: hdfs.block_size().unwrap_or(0),
        };
        let task = tokio::spawn(core.run(rx, Arc::clone(&failure)));
        HdfsStream {
            hdfs,
            path,
            temp_name,
            temp,
            len,
            tx: Some(tx),
            failure,
            task: Some(task),
        }
    }

    fn data(&self) -> serde_json::Value {
        json!({ "temp": self.temp_name })
    }

    /// Why the writer task stopped.
    fn failed(&mut self, op: &'static str) -> Error {
        self.tx = None;
        self.failure.lock().unwrap().take().unwrap_or_else(|| {
            Error::storage(
                &self.hdfs.location,
                op,
                self.hdfs.location.url_of(&self.temp),
                "the part's writer failed earlier",
            )
        })
    }

    async fn send(&mut self, op: &'static str, cmd: Cmd) -> Result<()> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(self.failed(op));
        };
        if tx.send(cmd).await.is_err() {
            return Err(self.failed(op));
        }
        Ok(())
    }

    async fn call(
        &mut self,
        op: &'static str,
        make: impl FnOnce(oneshot::Sender<Result<()>>) -> Cmd,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(op, make(tx)).await?;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.failed(op)),
        }
    }
}

#[async_trait]
impl RecoverableStream for HdfsStream {
    async fn write(&mut self, buf: &[u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.send("write", Cmd::Write(Bytes::copy_from_slice(buf)))
            .await?;
        self.len += buf.len() as u64;
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    async fn persist(&mut self) -> Result<ResumeHandle> {
        self.call("sync", Cmd::Sync).await?;
        Ok(ResumeHandle {
            path: self.path.clone(),
            len: self.len,
            data: self.data(),
        })
    }

    async fn close_for_commit(mut self: Box<Self>) -> Result<Committable> {
        self.call("close", Cmd::Close).await?;
        Ok(Committable {
            path: self.path.clone(),
            len: self.len,
            data: self.data(),
        })
    }

    async fn discard(mut self: Box<Self>) -> Result<()> {
        // Stop the writer before deleting its file.
        self.tx = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.hdfs.closing.lock().unwrap().remove(&self.temp);
        self.hdfs.delete_file(&self.temp).await
    }
}

/// The writer task's side of an open part: the hdfs-native writer, and what a repair needs.
struct Core {
    hdfs: Arc<Hdfs>,
    temp: String,
    /// `None` after a failure that could not be repaired.
    writer: Option<FileWriter>,
    /// Bytes written, durable or not.
    len: u64,
    /// Bytes that are durable: synced, in finished blocks, or in the file as closed by a lease
    /// recovery.
    synced: u64,
    /// The bytes `synced..len`, when repairs are on.
    replay: VecDeque<Bytes>,
    replay_len: u64,
    /// The file's block size (0: unknown). Blocks start at its multiples, also after an append.
    block_size: u64,
}

impl Core {
    /// Serves the part until it is closed, fails, or the sink drops it (then the file stays in
    /// progress, as after a crash).
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, failure: Arc<Mutex<Option<Error>>>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Write(bytes) => {
                    if let Err(e) = self.write(bytes).await {
                        // The sink learns it at its next call.
                        *failure.lock().unwrap() = Some(e);
                        return;
                    }
                }
                Cmd::Sync(reply) => {
                    let r = self.sync().await;
                    let failed = r.is_err();
                    let _ = reply.send(r);
                    if failed {
                        return;
                    }
                }
                Cmd::Close(reply) => {
                    // Durable first; the sink may go on once the bytes are synced.
                    if let Err(e) = self.sync().await {
                        let _ = reply.send(Err(e));
                        return;
                    }
                    // Closing waits for the namenode to see the last block, often 500 ms
                    // (hdfs-native polls `complete` every 500 ms): done here, while the sink
                    // goes on; `commit` waits for it.
                    let (done, state) = watch::channel(CloseState::Closing);
                    self.hdfs
                        .closing
                        .lock()
                        .unwrap()
                        .insert(self.temp.clone(), state);
                    let _ = reply.send(Ok(()));
                    let state = match self.close().await {
                        Ok(()) => CloseState::Closed,
                        Err(e) => {
                            tracing::warn!(path = %self.hdfs.location.url_of(&self.temp), error = %e, "closing a part failed; its commit will recover it");
                            CloseState::Failed
                        }
                    };
                    let _ = done.send(state);
                    return;
                }
            }
        }
    }

    fn repairs(&self) -> bool {
        self.hdfs.replay_buffer() > 0
    }

    fn release_replay(&mut self) {
        self.replay.clear();
        self.hdfs
            .replay_in_use
            .fetch_sub(self.replay_len, std::sync::atomic::Ordering::Relaxed);
        self.replay_len = 0;
    }

    /// After a write: the bytes in blocks before the one being written are durable without a sync.
    /// hdfs-native writes a block until it is full and closes it before it starts the next one;
    /// that close waits until every datanode acknowledged the last packet, which a datanode sends
    /// after it finalized its replica. A datanode restart keeps finalized replicas whole (an
    /// unsynced replica still being written may lose acknowledged bytes), and a lease recovery
    /// keeps the file's finished blocks, so a repair never needs those bytes again.
    fn release_finished_blocks(&mut self) {
        let done = finished_blocks_end(self.len, self.block_size);
        if done <= self.synced || !self.repairs() {
            return;
        }
        let released = drop_front(&mut self.replay, done - self.synced);
        self.replay_len -= released;
        self.hdfs
            .replay_in_use
            .fetch_sub(released, std::sync::atomic::Ordering::Relaxed);
        self.synced = done;
        HdfsStats::add(&self.hdfs.stats.block_releases, 1);
    }

    fn writer(&mut self) -> std::result::Result<&mut FileWriter, HdfsError> {
        self.writer.as_mut().ok_or_else(|| {
            HdfsError::OperationFailed(
                "the part's writer broke earlier and was not repaired".into(),
            )
        })
    }

    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        if self.repairs() {
            self.replay.push_back(bytes.clone());
            self.replay_len += bytes.len() as u64;
            HdfsStats::add(&self.hdfs.replay_in_use, bytes.len() as u64);
        }
        self.len += bytes.len() as u64;
        let r = match self.writer() {
            Ok(w) => w.write_bytes(bytes).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            // The repair writes everything since the last sync, these bytes included.
            let deadline = self.hdfs.deadline();
            self.repair("write", e, deadline).await?;
        }
        self.release_finished_blocks();
        // One budget for all parts: a single busy part may use all of it; when many parts share
        // it, the one that writes past it syncs.
        if self.repairs()
            && self
                .hdfs
                .replay_in_use
                .load(std::sync::atomic::Ordering::Relaxed)
                >= self.hdfs.replay_buffer()
        {
            HdfsStats::add(&self.hdfs.stats.extra_syncs, 1);
            self.sync().await?;
        }
        Ok(())
    }

    /// hsync, repairing the pipeline if needed.
    async fn sync(&mut self) -> Result<()> {
        if self.len == self.synced && self.writer.is_some() {
            return Ok(());
        }
        let deadline = self.hdfs.deadline();
        loop {
            let r = match self.writer() {
                Ok(w) => crate::client::hsync_bounded(w).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => break,
                Err(e) => self.repair("sync", e, deadline).await?,
            }
        }
        self.synced = self.len;
        self.release_replay();
        Ok(())
    }

    /// Closes the file (after [`sync`](Self::sync): a closed block is on the datanodes, but only
    /// a sync puts it on their disks).
    async fn close(&mut self) -> Result<()> {
        let deadline = self.hdfs.deadline();
        loop {
            let r = match self.writer() {
                Ok(w) => w.close().await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => break,
                Err(e) => self.repair("close", e, deadline).await?,
            }
        }
        self.writer = None;
        self.synced = self.len;
        self.release_replay();
        Ok(())
    }

    /// After `failure` of `op`: either repair the file so that it holds exactly `len` bytes and
    /// has an open writer again, or give up with the error.
    async fn repair(
        &mut self,
        op: &'static str,
        failure: HdfsError,
        deadline: Instant,
    ) -> Result<()> {
        self.writer = None;
        if !self.repairs() || !is_repairable(&failure) || Instant::now() >= deadline {
            return Err(self.hdfs.error(op, &self.temp, failure));
        }
        tracing::warn!(
            path = %self.hdfs.location.url_of(&self.temp),
            error = %describe(&failure),
            "HDFS {op} failed; repairing the part: recover its lease, append the {} unsynced bytes again",
            self.len - self.synced
        );
        let mut delay = INITIAL_RETRY_DELAY;
        loop {
            match self.try_repair(deadline).await {
                Ok(()) => return Ok(()),
                Err(RepairError::Fatal(e)) => return Err(e),
                Err(RepairError::Retry(e)) if Instant::now() + delay < deadline => {
                    tracing::warn!(path = %self.hdfs.location.url_of(&self.temp), error = %describe(&e), "repair failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Err(RepairError::Retry(e)) => return Err(self.hdfs.error(op, &self.temp, e)),
            }
        }
    }

    async fn try_repair(&mut self, deadline: Instant) -> std::result::Result<(), RepairError> {
        let url = self.hdfs.location.url_of(&self.temp);
        if !self.hdfs.recover_lease(&self.temp, deadline).await? {
            return Err(RepairError::Fatal(Error::lost(
                &url,
                "the in-progress file vanished",
            )));
        }
        let kept = self
            .hdfs
            .stat_len(&self.temp, deadline)
            .await?
            .ok_or_else(|| {
                RepairError::Fatal(Error::lost(&url, "the in-progress file vanished"))
            })?;
        if kept < self.synced || kept > self.len {
            return Err(RepairError::Fatal(Error::lost(
                &url,
                format!(
                    "after lease recovery it has {kept} bytes; expected between {} (synced) and {} (written)",
                    self.synced, self.len
                ),
            )));
        }
        let mut w = match self.hdfs.client.append(&self.temp).await {
            Ok(w) => w,
            Err(e) if is_repairable(&e) => return Err(RepairError::Retry(e)),
            Err(e) => return Err(RepairError::Fatal(self.hdfs.error("append", &self.temp, e))),
        };
        let mut skip = (kept - self.synced) as usize;
        for chunk in &self.replay {
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            w.write_bytes(chunk.slice(skip..))
                .await
                .map_err(RepairError::Retry)?;
            skip = 0;
        }
        tracing::info!(path = %url, kept, rewritten = self.len - kept, "repaired the part");
        HdfsStats::add(&self.hdfs.stats.repairs, 1);
        self.writer = Some(w);
        Ok(())
    }
}

/// Where the finished blocks of a file of `len` bytes end, while a writer is still open: the start
/// of the block that holds byte `len - 1` (0 when `block_size` is unknown).
fn finished_blocks_end(len: u64, block_size: u64) -> u64 {
    if block_size == 0 || len == 0 {
        return 0;
    }
    (len - 1) / block_size * block_size
}

/// Drops the first `n` bytes of `chunks` (at most all of them); returns how many it dropped.
fn drop_front(chunks: &mut VecDeque<Bytes>, n: u64) -> u64 {
    let mut left = n;
    while left > 0 {
        let Some(front) = chunks.front_mut() else {
            break;
        };
        if front.len() as u64 <= left {
            left -= front.len() as u64;
            chunks.pop_front();
        } else {
            front.advance(left as usize);
            left = 0;
        }
    }
    n - left
}

impl Drop for Core {
    fn drop(&mut self) {
        self.release_replay();
    }
}

/// Where the background close of a part stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseState {
    Closing,
    Closed,
    Failed,
}

enum RepairError {
    Retry(HdfsError),
    Fatal(Error),
}

impl From<Error> for RepairError {
    fn from(e: Error) -> Self {
        // `Hdfs` helpers already retried transient errors until the deadline.
        RepairError::Fatal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_blocks_end_at_the_block_being_written() {
        let mib = 1 << 20;
        assert_eq!(finished_blocks_end(0, mib), 0);
        assert_eq!(finished_blocks_end(1, mib), 0);
        // A full block is closed only when the next byte needs a new one.
        assert_eq!(finished_blocks_end(mib, mib), 0);
        assert_eq!(finished_blocks_end(mib + 1, mib), mib);
        assert_eq!(finished_blocks_end(3 * mib, mib), 2 * mib);
        assert_eq!(finished_blocks_end(3 * mib + 7, mib), 3 * mib);
        // Unknown block size: nothing counts as finished.
        assert_eq!(finished_blocks_end(3 * mib + 7, 0), 0);
    }

    #[test]
    fn drop_front_cuts_whole_and_partial_chunks() {
        let mut chunks: VecDeque<Bytes> = ["abc", "defg", "hi"]
            .into_iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(drop_front(&mut chunks, 0), 0);
        assert_eq!(drop_front(&mut chunks, 5), 5);
        assert_eq!(
            chunks,
            [Bytes::from_static(b"fg"), Bytes::from_static(b"hi")]
        );
        assert_eq!(drop_front(&mut chunks, 2), 2);
        assert_eq!(chunks, [Bytes::from_static(b"hi")]);
        assert_eq!(drop_front(&mut chunks, 9), 2, "no more than there is");
        assert!(chunks.is_empty());
    }
}
