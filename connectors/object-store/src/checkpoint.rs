//! [`ObjectCheckpointStore`]: checkpoints as objects.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sink_core::runtime::CheckpointStore;
use sink_core::{Error, Result};

use crate::target::{bounded, is_not_found, DEFAULT_OPERATION_TIMEOUT};

/// Checkpoint documents as objects under one prefix (`s3://bucket/checkpoints/job-a/chk-….json`).
///
/// A PUT is atomic on every object store: a reader sees the old document, the new one, or none,
/// never a part. `list` returns the names directly under the prefix.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use sink_core::runtime::CheckpointStore;
/// use connector_object_store::{checkpoint_store_from_url, ObjectStoreOptions};
///
/// let store = checkpoint_store_from_url("memory://doc-ckpt/jobs/a", &ObjectStoreOptions::default()).unwrap();
/// store.put("job.json", b"{}".to_vec()).await.unwrap();
/// assert_eq!(store.list().await.unwrap(), vec!["job.json".to_string()]);
/// assert_eq!(store.location("job.json"), "memory://doc-ckpt/jobs/a/job.json");
/// # });
/// ```
#[derive(Clone)]
pub struct ObjectCheckpointStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    timeout: Duration,
}

impl fmt::Debug for ObjectCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectCheckpointStore")
            .field("url", &self.url)
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl fmt::Display for ObjectCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl ObjectCheckpointStore {
    /// A store of documents under `prefix` of `store`; `url` names it in messages.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, url: impl Into<String>) -> Self {
        ObjectCheckpointStore {
            store,
            prefix,
            url: url.into().trim_end_matches('/').to_string(),
            timeout: DEFAULT_OPERATION_TIMEOUT,
        }
    }

    /// Bound on one call, the client's retries included (default 5 minutes).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn key(&self, name: &str) -> Result<Path> {
        if name.is_empty()
            || name.contains('/')
            || name.starts_with('.')
            || name.chars().any(char::is_control)
        {
            return Err(Error::Internal(format!(
                "bad checkpoint document name {name:?}"
            )));
        }
        Ok(self.prefix.clone().join(name))
    }

    fn err(&self, op: &'static str, key: &Path, e: object_store::Error) -> Error {
        Error::storage(&self.url, op, key, e)
    }
}

#[async_trait]
impl CheckpointStore for ObjectCheckpointStore {
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(name)?;
        bounded(self.timeout, self.store.put(&key, bytes.into()))
            .await
            .map(|_| ())
            .map_err(|e| self.err("put", &key, e))
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(name)?;
        match bounded(self.timeout, async {
            self.store.get(&key).await?.bytes().await
        })
        .await
        {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.err("get", &key, e)),
        }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let listed = bounded(
            self.timeout,
            self.store.list_with_delimiter(Some(&self.prefix)),
        )
        .await
        .map_err(|e| self.err("list", &self.prefix, e))?;
        let mut names: Vec<String> = listed
            .objects
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let key = self.key(name)?;
        match bounded(self.timeout, self.store.delete(&key)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.err("delete", &key, e)),
        }
    }

    fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use sink_core::runtime::{Checkpoint, CheckpointManager, CheckpointTotals, CHECKPOINT_VERSION};

    #[tokio::test]
    async fn put_get_list_delete_and_manager() {
        let mem = Arc::new(MemoryStore::new());
        let s = ObjectCheckpointStore::new(mem.clone(), Path::from("ck/job"), "memory://m/ck/job/");
        assert_eq!(s.get("job.json").await.unwrap(), None);
        s.put("job.json", b"1".to_vec()).await.unwrap();
        s.put("job.json", b"2".to_vec()).await.unwrap();
        assert_eq!(s.get("job.json").await.unwrap().unwrap(), b"2");
        // Objects deeper down or beside the prefix are not documents of this store.
        mem.put(&Path::from("ck/job/sub/x"), b"x".to_vec().into())
            .await
            .unwrap();
        mem.put(&Path::from("ck/jobber"), b"x".to_vec().into())
            .await
            .unwrap();
        assert_eq!(s.list().await.unwrap(), vec!["job.json"]);
        s.delete("job.json").await.unwrap();
        s.delete("job.json").await.unwrap();
        assert!(s.list().await.unwrap().is_empty());
        assert!(s.put("../x", vec![]).await.is_err());
        assert_eq!(s.location("chk-1.json"), "memory://m/ck/job/chk-1.json");

        let m = CheckpointManager::new(Arc::new(s), 2);
        for id in 1..=3 {
            m.save(&Checkpoint {
                version: CHECKPOINT_VERSION,
                id,
                job: "j".into(),
                run: "r".into(),
                worker: 0,
                workers: 1,
                parallelism: 1,
                timestamp: 0,
                final_checkpoint: false,
                sources: Default::default(),
                sinks: vec![],
                watermarks: vec![],
                totals: CheckpointTotals::default(),
            })
            .await
            .unwrap();
        }
        assert_eq!(m.ids().await.unwrap(), vec![2, 3]);
        assert_eq!(m.latest().await.unwrap().unwrap().id, 3);
    }
}
