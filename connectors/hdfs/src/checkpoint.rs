//! [`HdfsCheckpointStore`]: checkpoint documents in an HDFS directory.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hdfs_native::HdfsError;
use sink_core::runtime::CheckpointStore;
use sink_core::{Error, Result};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{describe, is_not_found, is_transient, Hdfs};
use crate::location::{checkpoint_temp_name, HdfsLocation};
use crate::options::{HdfsOptions, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY};
use crate::target::CloseState;

/// Checkpoints (`job.json`, `chk-….json`) in an HDFS directory.
///
/// A [`put`](CheckpointStore::put) writes a hidden temporary file `.{name}.tmp-{uuid}`, syncs it
/// (`hsync`), then renames it over `name` with HDFS's atomic rename-with-overwrite (`rename2`
/// with `OVERWRITE`): readers see the old document or the new one, never a part, and a crash at
/// any point leaves the last complete document in place. Temporary files are hidden from
/// [`list`](CheckpointStore::list). The file is closed after the rename, in the background
/// (closing waits for the namenode, often 500 ms); [`get`](CheckpointStore::get) of a document
/// still open (its writer crashed) recovers its lease first.
///
/// ```no_run
/// # async fn demo() -> sink_core::Result<()> {
/// use connector_hdfs::{HdfsCheckpointStore, HdfsOptions};
/// use sink_core::runtime::CheckpointStore;
/// let store =
///     HdfsCheckpointStore::connect("hdfs://127.0.0.1:9000/checkpoints/job-1", &HdfsOptions::default())
///         .await?;
/// store.put("job.json", b"{}".to_vec()).await?;
/// assert_eq!(store.get("job.json").await?.as_deref(), Some(&b"{}"[..]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HdfsCheckpointStore {
    hdfs: Arc<Hdfs>,
}

impl fmt::Debug for HdfsCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HdfsCheckpointStore")
            .field("hdfs", &self.hdfs)
            .finish()
    }
}

impl fmt::Display for HdfsCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.hdfs.location, f)
    }
}

impl HdfsCheckpointStore {
    /// Connects, creates the directory if missing and proves it writable (see
    /// [`HdfsTarget::connect`](crate::HdfsTarget::connect) for the errors).
    pub async fn connect(url: &str, options: &HdfsOptions) -> Result<Self> {
        let location = HdfsLocation::parse_field(url, "checkpoint.dir")?;
        let hdfs = Hdfs::new(location, options, "checkpoint.hdfs")?;
        hdfs.probe_dir(hdfs.location.root(), options.connect_timeout())
            .await?;
        Ok(HdfsCheckpointStore { hdfs })
    }

    /// Counters of retries since this store was connected.
    pub fn stats(&self) -> &crate::HdfsStats {
        &self.hdfs.stats
    }

    fn path(&self, name: &str) -> Result<String> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(Error::Internal(format!(
                "bad checkpoint document name {name:?}"
            )));
        }
        Ok(self.join(name))
    }

    fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.hdfs.location.root().trim_end_matches('/'))
    }

    async fn try_put(
        &self,
        tmp: &str,
        dest: &str,
        bytes: Bytes,
    ) -> std::result::Result<(), HdfsError> {
        let client = &self.hdfs.client;
        let mut w = client.create(tmp, &self.hdfs.write_options).await?;
        let written = async {
            w.write_bytes(bytes.clone()).await?;
            crate::client::hsync_bounded(&mut w).await
        }
        .await;
        if let Err(e) = written {
            drop(w);
            let _ = client.delete(tmp, false).await;
            return Err(e);
        }
        // The document is durable (synced): publish it now, still open, and let the namenode
        // complete it afterwards. Closing first would often wait 500 ms (hdfs-native polls
        // `complete` every 500 ms until the namenode has heard from the datanode); the namenode
        // finds a renamed open file by its id. `get` waits for, or recovers, an open document.
        let renamed = match client.rename(tmp, dest, true).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // The answer of a rename that happened may have been lost: then the temporary file
                // is gone and the document has our length.
                match (
                    client.get_file_info(tmp).await,
                    client.get_file_info(dest).await,
                ) {
                    (Err(t), Ok(d)) if is_not_found(&t) && d.length == bytes.len() => Ok(()),
                    _ => Err(e),
                }
            }
        };
        if let Err(e) = renamed {
            drop(w);
            let _ = client.delete(tmp, false).await;
            return Err(e);
        }
        let (done, state) = watch::channel(CloseState::Closing);
        self.hdfs
            .closing
            .lock()
            .unwrap()
            .insert(dest.to_string(), state);
        let hdfs = Arc::clone(&self.hdfs);
        let dest = dest.to_string();
        tokio::spawn(async move {
            let state = match w.close().await {
                Ok(()) => CloseState::Closed,
                Err(e) => {
                    tracing::warn!(path = %hdfs.location.url_of(&dest), error = %describe(&e), "closing a checkpoint document failed; it is recovered when read");
                    CloseState::Failed
                }
            };
            let _ = done.send(state);
            if state == CloseState::Closed {
                // Forget it, unless a newer put of the same name took its place.
                let mut closing = hdfs.closing.lock().unwrap();
                if closing
                    .get(&dest)
                    .is_some_and(|r| r.same_channel(&done.subscribe()))
                {
                    closing.remove(&dest);
                }
            }
        });
        Ok(())
    }

    /// Makes sure `abs` is closed before it is read: hdfs-native cannot read the unfinished last
    /// block of an open file. Waits for this process's own close, or recovers the lease of a
    /// document a crashed process left open (one cheap call for a closed file).
    async fn ensure_closed(&self, abs: &str) -> Result<()> {
        let deadline = self.hdfs.deadline();
        let local = self.hdfs.closing.lock().unwrap().get(abs).cloned();
        if let Some(mut state) = local {
            let _ =
                tokio::time::timeout_at(deadline, state.wait_for(|s| *s != CloseState::Closing))
                    .await;
            let state = *state.borrow();
            if state == CloseState::Closed {
                return Ok(());
            }
        }
        self.hdfs.recover_lease(abs, deadline).await.map(|_| ())
    }
}

#[async_trait]
impl CheckpointStore for HdfsCheckpointStore {
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let dest = self.path(name)?;
        let bytes = Bytes::from(bytes);
        let deadline = self.hdfs.deadline();
        let mut delay = INITIAL_RETRY_DELAY;
        loop {
            let tmp = self.join(&checkpoint_temp_name(name));
            match self.try_put(&tmp, &dest, bytes.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if is_transient(&e) && Instant::now() + delay < deadline => {
                    tracing::warn!(path = %self.location(name), error = %describe(&e), "HDFS checkpoint write failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
                Err(e) => return Err(self.hdfs.error("write checkpoint", &dest, e)),
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(name)?;
        self.ensure_closed(&p).await?;
        self.hdfs
            .retry("read", &p, || async {
                let reader = match self.hdfs.client.read(&p).await {
                    Ok(r) => r,
                    Err(e) if is_not_found(&e) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let bytes = reader.read_range(0, reader.file_length()).await?;
                Ok(Some(bytes.to_vec()))
            })
            .await
    }

    async fn list(&self) -> Result<Vec<String>> {
        let dir = self.hdfs.location.root().to_string();
        let listed = self
            .hdfs
            .retry("list", &dir, || async {
                match self.hdfs.client.list_status(&dir, false).await {
                    Ok(l) => Ok(l),
                    Err(e) if is_not_found(&e) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            })
            .await?;
        let mut out: Vec<String> = listed
            .iter()
            .filter(|s| !s.isdir)
            .filter_map(|s| s.path.rsplit('/').next())
            .filter(|n| !n.is_empty() && !n.starts_with('.'))
            .map(str::to_string)
            .collect();
        out.sort();
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        let p = self.path(name)?;
        self.hdfs.closing.lock().unwrap().remove(&p);
        self.hdfs.delete_file(&p).await
    }

    fn location(&self, name: &str) -> String {
        format!(
            "{}/{name}",
            self.hdfs.location.to_string().trim_end_matches('/')
        )
    }
}
