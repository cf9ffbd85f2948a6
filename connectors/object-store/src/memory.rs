//! [`MemoryStore`]: an in-memory object store whose multipart uploads behave like S3's.
//!
//! `object_store::memory::InMemory` completes an upload from every part ever uploaded, whatever
//! part list it is given, and reports unknown uploads as generic errors. The storage contract
//! relies on S3's rules (only the listed parts, with their ETags, make the object; an unknown
//! upload is "not found"), so `memory://` targets use this store: objects live in an `InMemory`,
//! multipart uploads are kept here until completed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartId, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result,
};

/// S3's smallest part, except the last.
pub const S3_MIN_PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Debug)]
struct Upload {
    path: Path,
    parts: BTreeMap<usize, (String, Bytes)>,
}

/// An in-memory object store with strict multipart uploads: S3's rules, checked.
///
/// * A completed object is made of exactly the listed parts; each [`PartId`] must be the ETag of
///   the latest upload of its index (a stale ETag fails, as S3's `InvalidPart`).
/// * Every part but the last must be at least [`min_part_size`](Self::with_min_part_size) (S3's
///   5 MiB by default) and all of them the same size (R2's rule).
/// * Completing or aborting an unknown upload fails with `object_store::Error::NotFound`, as S3's
///   `NoSuchUpload`.
/// * Nothing of an upload is visible (`list`, `head`, `get`) before it completes.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use object_store::{multipart::MultipartStore, path::Path, ObjectStoreExt};
/// use connector_object_store::MemoryStore;
///
/// let store = MemoryStore::new().with_min_part_size(4);
/// let key = Path::from("a/b");
/// let id = store.create_multipart(&key).await.unwrap();
/// let p0 = store.put_part(&key, &id, 0, b"abcd".to_vec().into()).await.unwrap();
/// let p1 = store.put_part(&key, &id, 1, b"ef".to_vec().into()).await.unwrap();
/// assert!(store.head(&key).await.is_err()); // invisible until completed
/// store.complete_multipart(&key, &id, vec![p0, p1]).await.unwrap();
/// let got = store.get(&key).await.unwrap().bytes().await.unwrap();
/// assert_eq!(&got[..], b"abcdef");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<InMemory>,
    uploads: Arc<Mutex<HashMap<String, Upload>>>,
    next: Arc<AtomicU64>,
    min_part_size: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            inner: Arc::new(InMemory::new()),
            uploads: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            min_part_size: S3_MIN_PART_SIZE,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store of `memory://{name}` URLs in this process: the same name gives the same store, so
    /// a job's target and checkpoints, and a restart in the same process, see the same objects.
    pub fn named(name: &str) -> MemoryStore {
        static STORES: OnceLock<Mutex<HashMap<String, MemoryStore>>> = OnceLock::new();
        STORES
            .get_or_init(Default::default)
            .lock()
            .expect("memory store registry")
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Sets the smallest size of every part but the last (default 5 MiB, as S3). Tests use small
    /// parts to cross many part boundaries quickly.
    pub fn with_min_part_size(mut self, bytes: usize) -> Self {
        self.min_part_size = bytes;
        self
    }

    /// Multipart uploads neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.uploads.lock().expect("uploads").len()
    }

    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

fn not_found(path: &Path, what: String) -> object_store::Error {
    object_store::Error::NotFound {
        path: path.to_string(),
        source: what.into(),
    }
}

fn generic(what: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "MemoryStore",
        source: what.into(),
    }
}

impl fmt::Display for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryStore")
    }
}

#[async_trait]
impl MultipartStore for MemoryStore {
    async fn create_multipart(&self, path: &Path) -> Result<MultipartId> {
        let id = format!("mem-upload-{}", self.next_id());
        self.uploads.lock().expect("uploads").insert(
            id.clone(),
            Upload {
                path: path.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> Result<PartId> {
        let etag = format!("\"etag-{}\"", self.next_id());
        let bytes: Bytes = data.into();
        let mut uploads = self.uploads.lock().expect("uploads");
        let upload = uploads
            .get_mut(id)
            .filter(|u| &u.path == path)
            .ok_or_else(|| not_found(path, format!("no upload {id}")))?;
        upload.parts.insert(part_idx, (etag.clone(), bytes));
        Ok(PartId { content_id: etag })
    }

    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> Result<PutResult> {
        let object = {
            let mut uploads = self.uploads.lock().expect("uploads");
            let upload = uploads
                .get(id)
                .filter(|u| &u.path == path)
                .ok_or_else(|| not_found(path, format!("no upload {id}")))?;
            let mut object = Vec::new();
            let mut first_len = None;
            for (i, want) in parts.iter().enumerate() {
                let (etag, bytes) = upload
                    .parts
                    .get(&i)
                    .ok_or_else(|| generic(format!("InvalidPart: part {i} of {id} missing")))?;
                if etag != &want.content_id {
                    return Err(generic(format!(
                        "InvalidPart: part {i} of {id} has ETag {etag}, not {}",
                        want.content_id
                    )));
                }
                let last = i + 1 == parts.len();
                if !last {
                    if bytes.len() < self.min_part_size {
                        return Err(generic(format!(
                            "EntityTooSmall: part {i} is {} bytes, below {}",
                            bytes.len(),
                            self.min_part_size
                        )));
                    }
                    if *first_len.get_or_insert(bytes.len()) != bytes.len() {
                        return Err(generic(format!(
                            "parts of unequal size: part {i} is {} bytes, part 0 {}",
                            bytes.len(),
                            first_len.unwrap_or_default()
                        )));
                    }
                } else if first_len.is_some_and(|f| bytes.len() > f) {
                    return Err(generic(format!(
                        "last part {i} is larger than the others ({} bytes)",
                        bytes.len()
                    )));
                }
                object.extend_from_slice(bytes);
            }
            uploads.remove(id);
            object
        };
        self.inner.put(path, object.into()).await
    }

    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> Result<()> {
        let mut uploads = self.uploads.lock().expect("uploads");
        match uploads.get(id) {
            Some(u) if &u.path == path => {
                uploads.remove(id);
                Ok(())
            }
            _ => Err(not_found(path, format!("no upload {id}"))),
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for MemoryStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn strict_multipart_rules() {
        let s = MemoryStore::new().with_min_part_size(3);
        let k = Path::from("k");
        let id = s.create_multipart(&k).await.unwrap();
        let a = s
            .put_part(&k, &id, 0, b"aaa".to_vec().into())
            .await
            .unwrap();
        let stale = s
            .put_part(&k, &id, 1, b"bbb".to_vec().into())
            .await
            .unwrap();
        let b = s.put_part(&k, &id, 1, b"BB".to_vec().into()).await.unwrap();
        let _extra = s
            .put_part(&k, &id, 2, b"zzz".to_vec().into())
            .await
            .unwrap();
        let err = s
            .complete_multipart(&k, &id, vec![a.clone(), stale])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("InvalidPart"), "{err}");
        s.complete_multipart(&k, &id, vec![a, b]).await.unwrap();
        let got = s.get(&k).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"aaaBB", "only the listed parts");
        let err = s.complete_multipart(&k, &id, vec![]).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
        let err = s.abort_multipart(&k, &id).await.unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");

        let id = s.create_multipart(&k).await.unwrap();
        let a = s.put_part(&k, &id, 0, b"aa".to_vec().into()).await.unwrap();
        let b = s.put_part(&k, &id, 1, b"b".to_vec().into()).await.unwrap();
        let err = s.complete_multipart(&k, &id, vec![a, b]).await.unwrap_err();
        assert!(err.to_string().contains("EntityTooSmall"), "{err}");
        assert_eq!(s.open_uploads(), 1, "a failed completion keeps the upload");
        s.abort_multipart(&k, &id).await.unwrap();
        assert_eq!(s.open_uploads(), 0);
    }

    #[test]
    fn named_stores_are_shared() {
        let a = MemoryStore::named("shared-test");
        let b = MemoryStore::named("shared-test");
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(!Arc::ptr_eq(&a.inner, &MemoryStore::named("other").inner));
    }
}
