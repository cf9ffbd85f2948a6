//! Spillway's object-store targets: exactly-once part files on S3 (and S3-compatible stores), Google
//! Cloud Storage, Azure Blob Storage and memory, over the [`object_store`] crate.
//!
//! * [`target_from_url`] gives a [`RecoverableWriter`] for the file sink: each part file is one
//!   multipart upload, published by completing it ([`ObjectStoreTarget`]).
//! * [`checkpoint_store_from_url`] gives a [`CheckpointStore`] that keeps checkpoints as objects
//!   ([`ObjectCheckpointStore`]).
//! * [`MemoryStore`] (`memory://`) is an in-memory store with S3's multipart rules, for tests and
//!   trials; feature `testing` adds [`FaultyStore`], which fails or delays chosen calls.
//! * [`ObjectStoreSection`] is the `object_store` key of a job file's `[sink]` and `[checkpoint]`,
//!   which builds both for the URLs of [`SCHEMES`] (`sink_core::wiring::StorageFactory`).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use connector_object_store::{target_from_url, ObjectStoreOptions};
//! use sink_core::fs::RelPath;
//!
//! let target = target_from_url("memory://demo/lake", &ObjectStoreOptions::default()).await.unwrap();
//! let path = RelPath::parse("dt=2026-11-24/part-0.json").unwrap();
//! let mut part = target.open(&path).await.unwrap();
//! part.write(b"{\"a\":1}\n").await.unwrap();
//! let handle = part.persist().await.unwrap();   // durable; goes into the checkpoint
//! part.write(b"{\"a\":2}\n").await.unwrap();
//! drop(part);                                   // a crash
//! let mut part = target.resume(&handle).await.unwrap(); // back at exactly the handle's length
//! part.write(b"{\"a\":3}\n").await.unwrap();
//! let committable = part.close_for_commit().await.unwrap();
//! target.commit(&committable).await.unwrap();
//! target.commit(&committable).await.unwrap(); // idempotent
//!
//! // Read it back with the plain object_store API.
//! use object_store::ObjectStoreExt;
//! let store = connector_object_store::MemoryStore::named("demo");
//! let key = object_store::path::Path::from("lake/dt=2026-11-24/part-0.json");
//! let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
//! assert_eq!(&bytes[..], b"{\"a\":1}\n{\"a\":3}\n");
//! # });
//! ```
//!
//! # URLs
//!
//! | URL | store | feature |
//! | --- | --- | --- |
//! | `s3://bucket/prefix`, `s3a://…` | Amazon S3 and S3-compatible stores | `aws` (default) |
//! | `gs://bucket/prefix` | Google Cloud Storage | `gcp` |
//! | `az://container/prefix`, `abfss://container@account.dfs.core.windows.net/prefix`, … | Azure Blob Storage | `azure` |
//! | `memory://name/prefix` | [`MemoryStore::named`]: one store per name in the process | always |
//!
//! Credentials and settings come, in this order of precedence, from the explicit
//! [`ObjectStoreOptions`], then the provider's environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
//! …; `GOOGLE_SERVICE_ACCOUNT`, …; `AZURE_STORAGE_ACCOUNT_NAME`, …) unless `from_env = false`, then
//! the provider's credential chain (instance profile, web identity, …).
//!
//! # Options (`[sink.object_store]`, `[checkpoint.object_store]` in job files)
//!
//! | key | type | default | meaning |
//! | --- | --- | --- | --- |
//! | `endpoint` | string | AWS | endpoint of an S3-compatible store (MinIO, R2, Ceph, moto) |
//! | `region` | string | env, else `us-east-1` | S3 region |
//! | `path_style` | bool | `true` with `endpoint`, else `false` | path-style requests (`host/bucket/key`) instead of virtual-hosted (`bucket.host/key`) |
//! | `allow_http` | bool | `false` | allow `http://` endpoints |
//! | `access_key_id` | string | env / credential chain | S3 access key id |
//! | `secret_access_key` | string | env / credential chain | S3 secret key; never logged |
//! | `session_token` | string | env | S3 session token; never logged |
//! | `from_env` | bool | `true` | read the provider's environment variables |
//! | `part_size` | size | 8 MiB | size of every part but the last; 5 MiB to 5 GiB (sink only) |
//! | `upload_concurrency` | integer | 2 | part uploads per part file running in the background while the next part fills (sink only) |
//! | `request_timeout` | duration | `"30s"` | one HTTP request |
//! | `connect_timeout` | duration | `"5s"` | connecting |
//! | `max_retries` | integer | 10 | client retries of transient errors (5xx, throttling, connection resets) |
//! | `retry_timeout` | duration | `"3m"` | the client stops retrying after this |
//! | `operation_timeout` | duration | `"5m"` | bound on one storage call, retries included; then a retryable error |
//! | `config` | table of strings | | any other `object_store` key of the provider (`aws_sse_kms_key_id`, `google_service_account`, `azure_storage_account_key`, …); values never logged |
//!
//! A size is bytes or a string with a unit (`"8MiB"`, `"1.5 GB"`), a duration a string with a unit
//! (`"30s"`, `"1m 30s"`): the grammar of every job file key (`sink_core::units`).
//!
//! Errors from the store reach the sink as [`Error::Storage`], which is
//! retryable: the sink's commit backoff and the job's restart apply. Bad URLs, options and keys
//! are [`Error::Config`].
//!
//! # What is written where
//!
//! For a target at `s3://bucket/lake`:
//!
//! ```text
//! lake/{bucket}/{part}                            a published part file (after commit)
//! lake/_spillway/uploads/{bucket}/{part}/{id}     marker of an open multipart upload: its key and upload id
//! lake/_spillway/tails/{id}/{len}-{nonce}         a piece of the short tail (< part size), from one persist
//! ```
//!
//! * `open` starts a multipart upload of the final key and writes its marker. Object stores cannot
//!   list multipart uploads through `object_store`, so the marker is how recovery finds uploads
//!   that no checkpoint references (written after the last checkpoint, before a crash) and aborts
//!   them.
//! * `persist` uploads the full parts (every one exactly `part_size` bytes: R2 and some
//!   S3-compatible stores refuse unequal parts) and makes the short tail durable as small
//!   objects, so the checkpoint holds only ids, ETags and object names, never data. A persist
//!   writes only the bytes appended since the previous one, as one more object (a slow stream
//!   does not rewrite up to a whole part at every checkpoint); after 16 pieces it writes the whole
//!   tail as one object again, which bounds the handle. Objects are never overwritten, so an older
//!   handle stays valid until the part is published.
//! * `resume` continues the same upload at the next part index with the tail read back; parts
//!   uploaded after the handle was taken are replaced or simply not listed at completion.
//! * `commit` completes the upload, then deletes the tails and the marker. When the upload is gone
//!   but the object exists with the expected size, the commit happened before: success. When both
//!   are gone, [`Error::Lost`].
//!
//! The side objects sit under one hidden prefix at the target's root rather than beside each part:
//! readers skip `_` names either way, but one prefix is one lifecycle rule and one LIST at
//! recovery, and partition directories hold only data.
//!
//! # Bucket lifecycle rules to add
//!
//! Two things can outlive a crash without being found by recovery: a multipart upload whose
//! process died between creating it and writing its marker (one request's time), and the side
//! objects of a job that is never restarted. Add to the bucket:
//!
//! * **AbortIncompleteMultipartUpload** after N days (7 is usual), and
//! * **Expiration** of objects under `{prefix}/_spillway/` after the same N days,
//!
//! with N longer than any part file stays open (the rolling policy's rollover interval, 60 s by
//! default) plus the longest time a stopped job may wait before it is restarted: a job restored
//! after its uploads were aborted by the rule fails with `Error::Lost`.
//!
//! Memory: a part file buffers up to one part (`part_size`) plus `upload_concurrency` parts in
//! flight. The sink's memory budget does not see these buffers; with many open buckets choose a
//! smaller `part_size` (5 MiB) or fewer buckets.

#![warn(missing_docs)]

mod checkpoint;
#[cfg(feature = "testing")]
mod faulty;
mod layout;
mod memory;
mod options;
mod parts;
mod target;
mod wiring;

use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use sink_core::fs::RecoverableWriter;
use sink_core::runtime::CheckpointStore;
use sink_core::{Error, Result};

pub use checkpoint::ObjectCheckpointStore;
#[cfg(feature = "testing")]
pub use faulty::{Fault, FaultAction, FaultOp, FaultyStore};
pub use layout::SIDE_PREFIX;
pub use memory::{MemoryStore, S3_MIN_PART_SIZE};
pub use options::{ObjectStoreOptions, Secret};
pub use target::{
    ObjectStoreTarget, ObjectStoreTargetBuilder, DEFAULT_OPERATION_TIMEOUT, DEFAULT_PART_SIZE,
    DEFAULT_UPLOAD_CONCURRENCY, MAX_PART_SIZE, MAX_TAIL_SEGMENTS, MIN_PART_SIZE,
};
pub use wiring::{ObjectStoreSection, SCHEMES};

/// Builds the target of a URL (`s3://bucket/prefix`, `gs://…`, `az://…`, `memory://name/prefix`)
/// with `options`, and checks it can list the bucket, so that a wrong bucket, endpoint or
/// credential fails at start rather than at the first checkpoint.
pub async fn target_from_url(
    url: &str,
    options: &ObjectStoreOptions,
) -> Result<Arc<dyn RecoverableWriter>> {
    Ok(Arc::new(ObjectStoreTarget::from_url(url, options).await?))
}

impl ObjectStoreTarget {
    /// The concrete target of a URL; see [`target_from_url`].
    pub async fn from_url(url: &str, options: &ObjectStoreOptions) -> Result<ObjectStoreTarget> {
        let located = options::locate(url, options)?;
        let mut b = ObjectStoreTargetBuilder::from_located(&located)
            .with_part_size(options.part_size.unwrap_or(DEFAULT_PART_SIZE));
        if let Some(n) = options.upload_concurrency {
            b = b.with_upload_concurrency(n);
        }
        if let Some(t) = options.operation_timeout {
            b = b.with_operation_timeout(t);
        }
        let target = b.build()?;
        probe(&located.objects, &located.prefix, &located.url).await?;
        Ok(target)
    }
}

async fn probe(
    store: &Arc<dyn ObjectStore>,
    prefix: &object_store::path::Path,
    url: &str,
) -> Result<()> {
    let side = prefix.clone().join(SIDE_PREFIX);
    match store.list(Some(&side)).next().await {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(Error::storage(url, "list (checking access)", &side, e)),
    }
}

/// Builds the checkpoint store of a URL: documents are objects under the URL's prefix.
pub fn checkpoint_store_from_url(
    url: &str,
    options: &ObjectStoreOptions,
) -> Result<Arc<dyn CheckpointStore>> {
    let located = options::locate(url, options)?;
    let mut store = ObjectCheckpointStore::new(located.objects, located.prefix, located.url);
    if let Some(t) = options.operation_timeout {
        store = store.with_operation_timeout(t);
    }
    Ok(Arc::new(store))
}
