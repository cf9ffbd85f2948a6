//! [`ObjectStoreTarget`]: the storage contract over an object store's multipart uploads.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sink_core::fs::{
    Capabilities, Committable, InProgress, RecoverableStream, RecoverableWriter, RelPath,
    ResumeHandle,
};
use sink_core::{Error, Result};
use tokio::task::JoinHandle;

use crate::layout;
use crate::parts::PartBuffer;

/// Default part size: 8 MiB.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Smallest part size S3 accepts (for every part but the last): 5 MiB.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Largest part size S3 accepts: 5 GiB.
pub const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;
/// Default number of part uploads a stream runs in the background while it fills the next part.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 2;
/// Default bound on one call to the store, retries of the client included.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(300);

/// Format version of the target's handle and committable data.
const STATE_VERSION: u32 = 1;
/// Tail segments a handle may list before a persist writes the whole tail as one object again.
pub const MAX_TAIL_SEGMENTS: usize = 16;

/// One tail object: the next `len` bytes of the tail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TailSegment {
    /// `_spillway/tails/{id}/{name}`.
    name: String,
    len: u64,
}

/// What a resume handle or committable of this target carries in its `data`. Small: ids, the part
/// size, one ETag per uploaded part, and the names of the tail objects; never the tail's bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct UploadState {
    v: u32,
    /// Names the side objects (`_spillway/uploads/.../{id}`, `_spillway/tails/{id}/...`).
    id: String,
    /// The multipart upload id.
    upload: String,
    /// The size of every part but the last. A resumed stream keeps it, whatever the target's
    /// configured size is now, so that parts stay equal.
    part_size: u64,
    /// ETags of parts `0..n`, in order.
    parts: Vec<String>,
    /// The tail (the bytes after the last full part) as consecutive objects: each persist writes
    /// only what was appended since the previous one, and after [`MAX_TAIL_SEGMENTS`] the whole
    /// tail as one object again. Empty when the tail is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tail: Vec<TailSegment>,
}

impl UploadState {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("upload state serialises")
    }

    fn parse(path: &RelPath, data: &serde_json::Value) -> Result<Self> {
        let s: UploadState = serde_json::from_value(data.clone()).map_err(|e| {
            Error::checkpoint(
                path,
                format!("not an object-store handle ({e}); was it made by another target?"),
            )
        })?;
        if s.v != STATE_VERSION {
            return Err(Error::checkpoint(
                path,
                format!(
                    "object-store handle version {} is not understood by this release ({STATE_VERSION})",
                    s.v
                ),
            ));
        }
        layout::check_id(&s.id, path)?;
        if s.tail.len() > MAX_TAIL_SEGMENTS {
            return Err(Error::checkpoint(
                path,
                format!("object-store handle lists {} tail objects", s.tail.len()),
            ));
        }
        for t in &s.tail {
            layout::check_tail_name(&t.name, path)?;
        }
        if s.part_size == 0 || s.part_size > MAX_PART_SIZE as u64 {
            return Err(Error::checkpoint(
                path,
                format!("object-store handle has part size {}", s.part_size),
            ));
        }
        Ok(s)
    }
}

/// The marker object of an open upload.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    v: u32,
    path: RelPath,
    upload: String,
    created: String,
}

pub(crate) struct Inner {
    objects: Arc<dyn ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    name: String,
    root: Path,
    part_size: usize,
    upload_concurrency: usize,
    operation_timeout: Duration,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreTarget")
            .field("url", &self.name)
            .field("store", &self.objects.to_string())
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

pub(crate) fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// Bounds a call to the store: a call with no answer in `limit` fails (retryably).
pub(crate) async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(object_store::Error::Generic {
            store: "spillway",
            source: format!("no answer within {limit:?} (operation_timeout)").into(),
        }),
    }
}

impl Inner {
    fn err(&self, op: &'static str, key: &Path, e: object_store::Error) -> Error {
        Error::storage(&self.name, op, key, e)
    }

    async fn call<T>(
        &self,
        fut: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        bounded(self.operation_timeout, fut).await
    }

    /// The size of an object, `None` when there is none.
    async fn size_of(&self, key: &Path) -> Result<Option<u64>> {
        match self.call(self.objects.head(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.err("head", key, e)),
        }
    }

    async fn delete(&self, key: &Path) -> Result<()> {
        match self.call(self.objects.delete(key)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    /// Deletes every object under `prefix`.
    async fn delete_prefix(&self, prefix: &Path) -> Result<()> {
        let keys: Vec<Path> = self
            .call(
                self.objects
                    .list(Some(prefix))
                    .map_ok(|m| m.location)
                    .try_collect(),
            )
            .await
            .map_err(|e| self.err("list", prefix, e))?;
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }

    /// Removes an upload's side objects: its tails, then its marker (last, so that a crash in the
    /// middle leaves a marker through which the rest is found again).
    async fn delete_side_objects(&self, path: &RelPath, id: &str) -> Result<()> {
        self.delete_prefix(&layout::tails_prefix(&self.root, id))
            .await?;
        self.delete(&layout::marker_key(&self.root, path, id)).await
    }

    async fn abort(&self, key: &Path, upload: &MultipartId) -> Result<()> {
        match self.call(self.multipart.abort_multipart(key, upload)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err("abort multipart upload", key, e)),
        }
    }

    /// Starts the upload and writes its marker. Runs as its own task, so that a caller dropped in
    /// the middle (a cancelled job) still leaves a marker for every upload it started.
    async fn start_upload(self: Arc<Self>, path: RelPath, id: String) -> Result<MultipartId> {
        let key = layout::final_key(&self.root, &path);
        let upload = self
            .call(self.multipart.create_multipart(&key))
            .await
            .map_err(|e| self.err("create multipart upload", &key, e))?;
        let marker = Marker {
            v: STATE_VERSION,
            path: path.clone(),
            upload: upload.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let mkey = layout::marker_key(&self.root, &path, &id);
        let body = serde_json::to_vec(&marker).expect("marker serialises");
        if let Err(e) = self.call(self.objects.put(&mkey, body.into())).await {
            // Without a marker nobody could find the upload again: give it up now.
            let _ = self.abort(&key, &upload).await;
            return Err(self.err("put upload marker", &mkey, e));
        }
        Ok(upload)
    }
}

/// Part files as multipart uploads on an object store (S3, GCS, Azure, memory).
///
/// | step | what happens |
/// | --- | --- |
/// | open | create a multipart upload of the final key; write its marker `_spillway/uploads/{path}/{id}` |
/// | write | buffer; every full part (all the same size) is uploaded, in the background |
/// | persist | wait for the part uploads; write the bytes of the short tail appended since the last persist to `_spillway/tails/{id}/{len}-{nonce}`; the handle holds the upload id, the part ETags and the tail objects' names |
/// | resume | check the marker; read the tail objects back; continue the same upload at the next part index |
/// | close | upload the tail as the last part |
/// | commit | complete the upload; delete the tails and the marker. Already complete (the object is there with the expected size) is success |
///
/// Nothing is visible under the final key before commit: an incomplete multipart upload is not an
/// object. Bytes uploaded as parts after a handle was taken are never referenced: a resumed
/// stream uploads part `n` again, which replaces it, and a completion lists only its own parts.
///
/// Build it from a URL with [`target_from_url`](crate::target_from_url), or around any store that
/// implements both `ObjectStore` and `MultipartStore` with [`ObjectStoreTarget::builder`].
#[derive(Clone)]
pub struct ObjectStoreTarget {
    inner: Arc<Inner>,
}

impl fmt::Debug for ObjectStoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl fmt::Display for ObjectStoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.name)
    }
}

/// Builds an [`ObjectStoreTarget`].
pub struct ObjectStoreTargetBuilder {
    objects: Arc<dyn ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    name: Option<String>,
    root: Path,
    part_size: usize,
    allow_small_parts: bool,
    upload_concurrency: usize,
    operation_timeout: Duration,
}

impl ObjectStoreTarget {
    /// Starts building a target over `store`.
    pub fn builder<S: ObjectStore + MultipartStore>(store: Arc<S>) -> ObjectStoreTargetBuilder {
        ObjectStoreTargetBuilder::new(store.clone(), store)
    }

    /// The store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.objects
    }

    /// The prefix inside the store that part paths are relative to.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The part size of new uploads.
    pub fn part_size(&self) -> usize {
        self.inner.part_size
    }

    /// The key a part path is published under.
    pub fn key_of(&self, path: &RelPath) -> Path {
        layout::final_key(&self.inner.root, path)
    }
}

impl ObjectStoreTargetBuilder {
    fn new(objects: Arc<dyn ObjectStore>, multipart: Arc<dyn MultipartStore>) -> Self {
        ObjectStoreTargetBuilder {
            objects,
            multipart,
            name: None,
            root: Path::default(),
            part_size: DEFAULT_PART_SIZE,
            allow_small_parts: false,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    pub(crate) fn from_located(l: &crate::options::Located) -> Self {
        Self::new(Arc::clone(&l.objects), Arc::clone(&l.multipart.0))
            .with_name(l.url.clone())
            .with_root(l.prefix.clone())
    }

    /// The name in messages and `Display`, normally the URL (`s3://bucket/prefix`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The prefix inside the store under which everything is written (default: the store's root).
    pub fn with_root(mut self, root: Path) -> Self {
        self.root = root;
        self
    }

    /// The size of every part but the last (default 8 MiB; 5 MiB to 5 GiB).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes;
        self
    }

    /// Accepts parts below 5 MiB: for stores without S3's minimum (memory), and tests.
    pub fn allow_small_parts(mut self) -> Self {
        self.allow_small_parts = true;
        self
    }

    /// Part uploads a stream runs in the background while it fills the next part (default 2; 0
    /// uploads in the writing task). A stream holds up to `1 + concurrency` parts in memory.
    pub fn with_upload_concurrency(mut self, n: usize) -> Self {
        self.upload_concurrency = n;
        self
    }

    /// Bound on one call to the store, the client's own retries included (default 5 minutes). A
    /// call that takes longer fails with a retryable error.
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Checks the settings and builds the target.
    pub fn build(self) -> Result<ObjectStoreTarget> {
        let min = if self.allow_small_parts {
            1
        } else {
            MIN_PART_SIZE
        };
        if self.part_size < min || self.part_size > MAX_PART_SIZE {
            return Err(Error::config(
                "part_size",
                format!(
                    "{} bytes: must be between {min} and {MAX_PART_SIZE} (S3 refuses parts below 5 MiB)",
                    self.part_size
                ),
            ));
        }
        if self.operation_timeout.is_zero() {
            return Err(Error::config("operation_timeout", "must be longer than 0"));
        }
        let name = self
            .name
            .unwrap_or_else(|| format!("{}/{}", self.objects, self.root));
        Ok(ObjectStoreTarget {
            inner: Arc::new(Inner {
                objects: self.objects,
                multipart: self.multipart,
                name,
                root: self.root,
                part_size: self.part_size,
                upload_concurrency: self.upload_concurrency,
                operation_timeout: self.operation_timeout,
            }),
        })
    }
}

#[async_trait]
impl RecoverableWriter for ObjectStoreTarget {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        if path.is_root() {
            return Err(Error::InvalidPath {
                path: String::new(),
                reason: "a part file needs a name".into(),
            });
        }
        let id = layout::new_id();
        let task = tokio::spawn(Arc::clone(&self.inner).start_upload(path.clone(), id.clone()));
        let upload = task
            .await
            .map_err(|e| Error::Internal(format!("upload start task: {e}")))??;
        Ok(Box::new(ObjectStream::new(
            Arc::clone(&self.inner),
            path.clone(),
            id,
            upload,
            PartBuffer::new(self.inner.part_size, 0, Vec::new()),
            Vec::new(),
        )))
    }

    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        let inner = &self.inner;
        let path = &handle.path;
        let state = UploadState::parse(path, &handle.data)?;
        let part_size = state.part_size as usize;
        let in_parts = state.parts.len() as u64 * state.part_size;
        let listed: u64 = state.tail.iter().map(|t| t.len).sum();
        let tail_len = handle
            .len
            .checked_sub(in_parts)
            .filter(|t| *t < state.part_size && *t == listed);
        let Some(tail_len) = tail_len else {
            return Err(Error::checkpoint(
                path,
                format!(
                    "object-store handle of {} bytes does not match its {} parts of {} bytes and tail {:?}",
                    handle.len,
                    state.parts.len(),
                    state.part_size,
                    state.tail
                ),
            ));
        };
        let marker = layout::marker_key(&inner.root, path, &state.id);
        if inner.size_of(&marker).await?.is_none() {
            return Err(Error::lost(
                path,
                format!("the multipart upload's marker {marker} is gone: the in-progress part was deleted or completed, and the checkpoint needs its first {} bytes", handle.len),
            ));
        }
        let mut tail = Vec::with_capacity(tail_len as usize);
        for seg in &state.tail {
            let key = layout::tail_key(&inner.root, &state.id, &seg.name);
            let got = match inner
                .call(async { inner.objects.get(&key).await?.bytes().await })
                .await
            {
                Ok(b) => b,
                Err(e) if is_not_found(&e) => {
                    return Err(Error::lost(
                        &key,
                        format!(
                            "tail object of {path} is gone; the checkpoint needs its {} bytes",
                            seg.len
                        ),
                    ))
                }
                Err(e) => return Err(inner.err("get tail", &key, e)),
            };
            if (got.len() as u64) < seg.len {
                return Err(Error::lost(
                    &key,
                    format!(
                        "tail object has {} bytes, the checkpoint recorded {}",
                        got.len(),
                        seg.len
                    ),
                ));
            }
            tail.extend_from_slice(&got[..seg.len as usize]);
        }
        let parts = state.parts.len();
        let mut stream = ObjectStream::new(
            Arc::clone(inner),
            path.clone(),
            state.id,
            state.upload,
            PartBuffer::new(part_size, parts, tail),
            state.parts,
        );
        stream.segments = state.tail;
        stream.segments_part = parts;
        Ok(Box::new(stream))
    }

    async fn commit(&self, c: &Committable) -> Result<()> {
        let inner = &self.inner;
        let state = UploadState::parse(&c.path, &c.data)?;
        let key = layout::final_key(&inner.root, &c.path);
        let parts: Vec<PartId> = state
            .parts
            .iter()
            .map(|e| PartId {
                content_id: e.clone(),
            })
            .collect();
        let upload: MultipartId = state.upload.clone();
        let completed = inner
            .call(inner.multipart.complete_multipart(&key, &upload, parts))
            .await;
        if let Err(e) = completed {
            // Completed before (the answer was lost, or this is a restore)? Then it is there.
            match inner.size_of(&key).await? {
                Some(n) if n == c.len => {}
                Some(n) => {
                    return Err(Error::lost(
                        &key,
                        format!("already exists with {n} bytes, expected {}: another job may write here ({e})", c.len),
                    ))
                }
                None => {
                    let marker = layout::marker_key(&inner.root, &c.path, &state.id);
                    if is_not_found(&e) || inner.size_of(&marker).await?.is_none() {
                        return Err(Error::lost(
                            &key,
                            format!("neither the object nor its multipart upload {upload} exists ({e})"),
                        ));
                    }
                    return Err(inner.err("complete multipart upload", &key, e));
                }
            }
        }
        if let Err(e) = inner.delete_side_objects(&c.path, &state.id).await {
            tracing::warn!(path = %c.path, error = %e, "published, but could not delete the upload's side objects; a later recovery or the bucket's lifecycle rule removes them");
        }
        Ok(())
    }

    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        // Tail objects are shared by the handles of one upload (a later handle lists the earlier
        // segments too), so they go only when the upload is over: after its commit (which deletes
        // them itself, best effort) or its deletion. While the upload is open there is nothing
        // that belongs to this handle alone.
        let state = UploadState::parse(&handle.path, &handle.data)?;
        let inner = &self.inner;
        let marker = layout::marker_key(&inner.root, &handle.path, &state.id);
        if inner.size_of(&marker).await?.is_none() {
            inner
                .delete_prefix(&layout::tails_prefix(&inner.root, &state.id))
                .await?;
        }
        Ok(())
    }

    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        let inner = &self.inner;
        let prefix = layout::uploads_prefix(&inner.root);
        let metas: Vec<Path> = inner
            .call(
                inner
                    .objects
                    .list(Some(&prefix))
                    .map_ok(|m| m.location)
                    .try_collect(),
            )
            .await
            .map_err(|e| inner.err("list", &prefix, e))?;
        let mut found: Vec<InProgress> = metas
            .iter()
            .filter_map(|loc| layout::parse_marker(&inner.root, loc))
            .filter(|(path, _)| path.file_name().starts_with(name_prefix))
            .map(|(path, id)| InProgress {
                path,
                data: serde_json::json!({ "id": id }),
            })
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        let inner = &self.inner;
        let id = item
            .data
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Internal(format!("in-progress item without id: {item:?}")))?;
        layout::check_id(id, &item.path)?;
        let mkey = layout::marker_key(&inner.root, &item.path, id);
        let marker = match inner
            .call(async { inner.objects.get(&mkey).await?.bytes().await })
            .await
        {
            Ok(b) => Some(b),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(inner.err("get upload marker", &mkey, e)),
        };
        if let Some(bytes) = marker {
            match serde_json::from_slice::<Marker>(&bytes) {
                Ok(m) => {
                    let key = layout::final_key(&inner.root, &item.path);
                    inner.abort(&key, &m.upload).await?;
                }
                Err(e) => {
                    tracing::warn!(marker = %mkey, error = %e, "unreadable upload marker; its upload is left to the bucket's lifecycle rule")
                }
            }
        }
        inner.delete_side_objects(&item.path, id).await
    }

    fn same_in_progress(&self, item: &InProgress, data: &serde_json::Value) -> bool {
        match (item.data.get("id"), data.get("id")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            resume_in_place: true,
        }
    }
}

type PartTask = JoinHandle<object_store::Result<PartId>>;

/// One open multipart upload.
struct ObjectStream {
    inner: Arc<Inner>,
    path: RelPath,
    key: Path,
    id: String,
    upload: MultipartId,
    buf: PartBuffer,
    /// ETags of the parts uploaded so far, by index.
    etags: Vec<String>,
    in_flight: VecDeque<(usize, PartTask)>,
    /// The last handle, reused while nothing new was written.
    last: Option<ResumeHandle>,
    /// Durable tail objects of part `segments_part`, covering the first bytes of the tail.
    segments: Vec<TailSegment>,
    segments_part: usize,
    /// Set when a part upload failed: the stream cannot go on (the job restores).
    broken: Option<String>,
    ready: Vec<(usize, Bytes)>,
}

impl fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStream")
            .field("key", &self.key.as_ref())
            .field("id", &self.id)
            .field("len", &self.buf.len())
            .field("parts", &self.etags.len())
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl Drop for ObjectStream {
    fn drop(&mut self) {
        // A dropped stream (a crash, a cancelled job) uploads nothing more.
        for (_, task) in &self.in_flight {
            task.abort();
        }
    }
}

impl ObjectStream {
    fn new(
        inner: Arc<Inner>,
        path: RelPath,
        id: String,
        upload: MultipartId,
        buf: PartBuffer,
        etags: Vec<String>,
    ) -> Self {
        let key = layout::final_key(&inner.root, &path);
        ObjectStream {
            inner,
            path,
            key,
            id,
            upload,
            buf,
            etags,
            in_flight: VecDeque::new(),
            last: None,
            segments: Vec::new(),
            segments_part: 0,
            broken: None,
            ready: Vec::new(),
        }
    }

    fn check(&self) -> Result<()> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(Error::storage(
                &self.inner.name,
                "write",
                &self.key,
                format!("the stream failed before and cannot continue: {why}"),
            )),
        }
    }

    fn fail(&mut self, op: &'static str, e: object_store::Error) -> Error {
        let err = self.inner.err(op, &self.key, e);
        self.broken = Some(err.to_string());
        for (_, task) in self.in_flight.drain(..) {
            task.abort();
        }
        err
    }

    fn record(&mut self, idx: usize, part: PartId) -> Result<()> {
        if idx != self.etags.len() {
            return Err(Error::Internal(format!(
                "{}: part {idx} finished, expected part {}",
                self.key,
                self.etags.len()
            )));
        }
        self.etags.push(part.content_id);
        Ok(())
    }

    /// Waits for the oldest background upload.
    async fn wait_one(&mut self) -> Result<()> {
        let Some((idx, task)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(part)) => self.record(idx, part),
            Ok(Err(e)) => Err(self.fail("upload part", e)),
            Err(join) => {
                let e = object_store::Error::Generic {
                    store: "spillway",
                    source: Box::new(join),
                };
                Err(self.fail("upload part", e))
            }
        }
    }

    async fn wait_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        Ok(())
    }

    /// Uploads part `idx`: in the background when concurrency allows, otherwise here.
    async fn upload(&mut self, idx: usize, bytes: Bytes) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        let key = self.key.clone();
        let upload = self.upload.clone();
        let put = async move {
            bounded(
                inner.operation_timeout,
                inner
                    .multipart
                    .put_part(&key, &upload, idx, PutPayload::from(bytes)),
            )
            .await
        };
        let concurrency = self.inner.upload_concurrency;
        if concurrency == 0 {
            self.wait_all().await?;
            return match put.await {
                Ok(part) => self.record(idx, part),
                Err(e) => Err(self.fail("upload part", e)),
            };
        }
        while self.in_flight.len() >= concurrency {
            self.wait_one().await?;
        }
        self.in_flight.push_back((idx, tokio::spawn(put)));
        Ok(())
    }

    fn state(&self, tail: Vec<TailSegment>) -> UploadState {
        UploadState {
            v: STATE_VERSION,
            id: self.id.clone(),
            upload: self.upload.clone(),
            part_size: self.buf.part_size() as u64,
            parts: self.etags.clone(),
            tail,
        }
    }
}

#[async_trait]
impl RecoverableStream for ObjectStream {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.check()?;
        let mut ready = std::mem::take(&mut self.ready);
        self.buf.push(data, &mut ready);
        let mut result = Ok(());
        for (idx, bytes) in ready.drain(..) {
            if result.is_ok() {
                result = self.upload(idx, bytes).await;
            }
        }
        self.ready = ready;
        result
    }

    fn len(&self) -> u64 {
        self.buf.len()
    }

    async fn persist(&mut self) -> Result<ResumeHandle> {
        self.check()?;
        self.wait_all().await?;
        let len = self.buf.len();
        if let Some(h) = self.last.as_ref().filter(|h| h.len == len) {
            return Ok(h.clone());
        }
        // Only what was appended since the last persist goes out, as one more tail object.
        if self.segments_part != self.buf.parts() {
            self.segments.clear();
            self.segments_part = self.buf.parts();
        }
        if self.segments.len() >= MAX_TAIL_SEGMENTS {
            self.segments.clear();
        }
        let covered: u64 = self.segments.iter().map(|t| t.len).sum();
        let tail = self.buf.tail();
        if (tail.len() as u64) > covered {
            let name = layout::tail_name(len);
            let key = layout::tail_key(&self.inner.root, &self.id, &name);
            let bytes = Bytes::copy_from_slice(&tail[covered as usize..]);
            let n = bytes.len() as u64;
            self.inner
                .call(self.inner.objects.put(&key, bytes.into()))
                .await
                .map_err(|e| self.inner.err("put tail", &key, e))?;
            self.segments.push(TailSegment { name, len: n });
        }
        let tail = self.segments.clone();
        let handle = ResumeHandle {
            path: self.path.clone(),
            len,
            data: self.state(tail).to_json(),
        };
        self.last = Some(handle.clone());
        Ok(handle)
    }

    async fn close_for_commit(mut self: Box<Self>) -> Result<Committable> {
        self.check()?;
        self.wait_all().await?;
        let len = self.buf.len();
        if let Some((idx, bytes)) = self.buf.finish() {
            let put = self.inner.call(self.inner.multipart.put_part(
                &self.key,
                &self.upload,
                idx,
                PutPayload::from(bytes),
            ));
            match put.await {
                Ok(part) => self.record(idx, part)?,
                Err(e) => return Err(self.fail("upload last part", e)),
            }
        }
        Ok(Committable {
            path: self.path.clone(),
            len,
            data: self.state(Vec::new()).to_json(),
        })
    }

    async fn discard(mut self: Box<Self>) -> Result<()> {
        for (_, task) in self.in_flight.drain(..) {
            task.abort();
        }
        self.inner.abort(&self.key, &self.upload).await?;
        self.inner.delete_side_objects(&self.path, &self.id).await
    }
}

#[cfg(feature = "testing")]
#[async_trait]
impl sink_core::fs::testing::ReadBack for ObjectStoreTarget {
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>> {
        let inner = &self.inner;
        let key = layout::final_key(&inner.root, path);
        match inner
            .call(async { inner.objects.get(&key).await?.bytes().await })
            .await
        {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(inner.err("get", &key, e)),
        }
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>> {
        let inner = &self.inner;
        let prefix = layout::final_key(&inner.root, dir);
        let side = Path::from_iter(
            inner
                .root
                .parts()
                .chain(std::iter::once(layout::SIDE_PREFIX.into())),
        );
        let mut out: Vec<RelPath> = inner
            .call(
                inner
                    .objects
                    .list(Some(&prefix))
                    .map_ok(|m| m.location)
                    .try_collect::<Vec<_>>(),
            )
            .await
            .map_err(|e| inner.err("list", &prefix, e))?
            .into_iter()
            .filter(|loc| !loc.prefix_matches(&side))
            .filter_map(|loc| {
                let rel = match inner.root.as_ref() {
                    "" => loc.as_ref().to_string(),
                    r => loc.as_ref().strip_prefix(r)?.strip_prefix('/')?.to_string(),
                };
                RelPath::parse(&rel).ok()
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use sink_core::fs::testing::{conformance_with, ConformanceOptions, ReadBack};

    fn target(part: usize) -> (ObjectStoreTarget, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new().with_min_part_size(part));
        let t = ObjectStoreTarget::builder(store.clone())
            .with_name("memory://test/lake")
            .with_root(Path::from("lake"))
            .with_part_size(part)
            .allow_small_parts()
            .build()
            .unwrap();
        (t, store)
    }

    #[tokio::test]
    async fn conformance_with_small_parts() {
        // 64 KiB parts: the large case crosses dozens of part boundaries.
        let (t, store) = target(64 << 10);
        conformance_with(
            &t,
            &ConformanceOptions {
                large_bytes: 3 << 20,
            },
        )
        .await;
        let _ = store;
    }

    #[tokio::test]
    async fn part_sizes_are_checked() {
        let store = Arc::new(MemoryStore::new());
        let err = ObjectStoreTarget::builder(store.clone())
            .with_part_size(1 << 20)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("part_size"), "{err}");
        assert!(ObjectStoreTarget::builder(store)
            .with_part_size(MIN_PART_SIZE)
            .build()
            .is_ok());
    }

    #[tokio::test]
    async fn handle_is_small_and_stale_parts_are_ignored() {
        let (t, store) = target(8);
        let path = RelPath::parse("b/part-x").unwrap();
        let mut s = t.open(&path).await.unwrap();
        // The tail holds characters no id, ETag or base64 text can contain, so finding them in
        // the handle would mean the handle carries data.
        s.write(b"01234567~!~!~").await.unwrap(); // one part + tail of 5
        let h = s.persist().await.unwrap();
        assert_eq!(h.len, 13);
        let text = serde_json::to_string(&h).unwrap();
        assert!(
            !text.contains("~!~!~") && !text.contains("fiF+IX4="),
            "tail bytes must not be in the handle: {text}"
        );
        // After the handle: two more parts are uploaded, then a crash.
        s.write(b"XXXXXXXXXXXXXXXXXXXXXXX").await.unwrap();
        let _ = s.persist().await.unwrap();
        drop(s);
        let mut s = t.resume(&h).await.unwrap();
        s.write(b"def").await.unwrap(); // completes part 1 = "~!~!~def"
        let c = s.close_for_commit().await.unwrap();
        t.commit(&c).await.unwrap();
        assert_eq!(
            t.read(&path).await.unwrap().unwrap(),
            b"01234567~!~!~def".to_vec()
        );
        assert_eq!(store.open_uploads(), 0);
        let side: Vec<_> = store
            .list(Some(&Path::from("lake/_spillway")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert!(side.is_empty(), "side objects left after commit: {side:?}");
    }

    #[tokio::test]
    async fn resume_keeps_the_part_size_of_the_handle() {
        let (t8, store) = target(8);
        let t16 = ObjectStoreTarget::builder(store.clone())
            .with_root(Path::from("lake"))
            .with_part_size(16)
            .allow_small_parts()
            .build()
            .unwrap();
        let path = RelPath::parse("p").unwrap();
        let mut s = t8.open(&path).await.unwrap();
        s.write(&[1u8; 12]).await.unwrap();
        let h = s.persist().await.unwrap();
        drop(s);
        let mut s = t16.resume(&h).await.unwrap();
        s.write(&[2u8; 20]).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        t16.commit(&c).await.unwrap(); // MemoryStore checks the parts are equal
        let got = t16.read(&path).await.unwrap().unwrap();
        assert_eq!(got.len(), 32);
    }

    #[tokio::test]
    async fn persists_write_only_what_is_new() {
        let (t, store) = target(1 << 20);
        let path = RelPath::parse("slow/part-0").unwrap();
        let mut s = t.open(&path).await.unwrap();
        let mut handles = Vec::new();
        let mut written = Vec::new();
        for i in 0..100u32 {
            let chunk = vec![(i % 251) as u8; 1000];
            s.write(&chunk).await.unwrap();
            written.extend_from_slice(&chunk);
            let h = s.persist().await.unwrap();
            assert!(
                h.data["tail"].as_array().unwrap().len() <= MAX_TAIL_SEGMENTS,
                "the handle stays small"
            );
            handles.push(h);
        }
        let id = handles[0].data["id"].as_str().unwrap().to_string();
        let tails: u64 = store
            .list(Some(&layout::tails_prefix(t.root(), &id)))
            .map_ok(|m| m.size)
            .try_fold(0, |a, b| async move { Ok(a + b) })
            .await
            .unwrap();
        // Rewriting the whole tail every time would write 1000 * (1 + ... + 100) = 5 050 000 bytes.
        assert!(
            tails < 500_000,
            "{tails} tail bytes written for 100 000 bytes of data"
        );
        drop(s);
        // Any handle resumes, the newest and an old one.
        for n in [99usize, 40, 16, 15, 0] {
            let s = t.resume(&handles[n]).await.unwrap();
            assert_eq!(s.len(), 1000 * (n as u64 + 1));
            drop(s);
        }
        let mut s = t.resume(&handles[40]).await.unwrap();
        s.write(b"end").await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        t.commit(&c).await.unwrap();
        let mut want = written[..41_000].to_vec();
        want.extend_from_slice(b"end");
        assert_eq!(t.read(&path).await.unwrap().unwrap(), want);
        // Cleanup of an old handle after the commit finds nothing left.
        t.cleanup(&handles[3]).await.unwrap();
    }

    #[tokio::test]
    async fn cleanup_keeps_what_a_live_upload_needs() {
        let (t, _store) = target(1 << 20);
        let path = RelPath::parse("p").unwrap();
        let mut s = t.open(&path).await.unwrap();
        s.write(b"abc").await.unwrap();
        let h1 = s.persist().await.unwrap();
        s.write(b"def").await.unwrap();
        let h2 = s.persist().await.unwrap();
        drop(s);
        t.cleanup(&h1).await.unwrap();
        let s = t.resume(&h2).await.unwrap();
        let c = s.close_for_commit().await.unwrap();
        t.commit(&c).await.unwrap();
        assert_eq!(t.read(&path).await.unwrap().unwrap(), b"abcdef");
    }
}
