//! Spillway's HDFS target: exactly-once part files and checkpoints on HDFS, over
//! [hdfs-native](https://docs.rs/hdfs-native), a pure-Rust HDFS client (no JVM, no libhdfs).
//!
//! * [`HdfsTarget`]: a [`RecoverableWriter`] for `hdfs://namenode:port/dir` (or an HA
//!   nameservice, or `viewfs://`). Tested against Apache Hadoop 2.7.3.
//! * [`HdfsCheckpointStore`]: a [`CheckpointStore`] in an HDFS directory.
//! * [`target_from_url`] and [`checkpoint_store_from_url`]: what the CLI calls for
//!   `sink.path = "hdfs://..."` and `checkpoint.dir = "hdfs://..."`, with an [`HdfsOptions`] from
//!   the `[sink.hdfs]` or `[checkpoint.hdfs]` table; [`HdfsSection`] is that table as the CLI reads
//!   it, which builds both for the URLs of [`SCHEMES`] (`sink_core::wiring::StorageFactory`).
//!
//! ```no_run
//! # async fn demo() -> sink_core::Result<()> {
//! use connector_hdfs::{checkpoint_store_from_url, target_from_url, HdfsOptions};
//! use sink_core::runtime::{Event, GeneratorConfig, GeneratorSource, Job};
//! use sink_core::sink::{FileSink, JsonLinesEncoder};
//!
//! let options = HdfsOptions::default().with_user("etl");
//! let target = target_from_url("hdfs://127.0.0.1:9000/lake/events", &options).await?;
//! let checkpoints = checkpoint_store_from_url("hdfs://127.0.0.1:9000/checkpoints/events", &options).await?;
//! let sink = FileSink::for_row_format(target, JsonLinesEncoder::<Event>::new()).build()?;
//! let source = GeneratorSource::new(GeneratorConfig { count: Some(1_000_000), ..Default::default() })?;
//! Job::builder("events")
//!     .checkpoint_store_dyn(checkpoints)
//!     .from_source(source)
//!     .sink_to(sink)
//!     .run()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Configuration: `[sink.hdfs]` and `[checkpoint.hdfs]`
//!
//! Both tables take the keys of [`HdfsOptions`] (see its table for every key and default). The
//! path itself is the URL: `hdfs://host:port/dir` names one namenode; `hdfs://nameservice/dir`
//! an HA nameservice configured in `HADOOP_CONF_DIR` (`hdfs-site.xml`) or in `properties`:
//!
//! ```toml
//! [sink]
//! path = "hdfs://lake/events"
//! format = "json"
//!
//! [sink.hdfs]
//! user = "etl"
//! block_size = "256MiB"
//! [sink.hdfs.properties]
//! "dfs.nameservices" = "lake"
//! "dfs.ha.namenodes.lake" = "nn1,nn2"
//! "dfs.namenode.rpc-address.lake.nn1" = "nn1.example.com:8020"
//! "dfs.namenode.rpc-address.lake.nn2" = "nn2.example.com:8020"
//! ```
//!
//! # How a part file is written
//!
//! | step | HDFS |
//! | --- | --- |
//! | open | create `.{name}.inprogress.{uuid}` in the bucket's directory (hidden from Hive, Spark, Trino) |
//! | persist (checkpoint) | `hsync`: the datanodes of the pipeline have the bytes on disk, the namenode records the length |
//! | close for commit | `hsync`, then close the file |
//! | commit | rename to the final name without overwrite; already renamed with the expected length is success; neither file is [`Error::Lost`](sink_core::Error::Lost) |
//! | resume | recover the old file's lease, copy its first `len` bytes into a new hidden file, `hsync`, continue there |
//! | cleanup | delete the old hidden file, once a newer checkpoint no longer references it |
//!
//! ## Why resume copies
//!
//! After a crash the in-progress file may hold bytes written after the checkpoint, and they must
//! go. HDFS can truncate (since Hadoop 2.7), but hdfs-native 0.14 has no call for it (its RPC layer
//! is private), so the target copies the valid prefix into a fresh hidden file and reports
//! [`Capabilities::resume_in_place`](sink_core::fs::Capabilities) `false`: the sink keeps the old
//! file, which the restored checkpoint still references, until a newer checkpoint completes, then
//! calls `cleanup`. A crash in between restores from the old handle again; in-progress files that
//! no checkpoint references are deleted on restart. The cost is reading and writing each open part
//! once per restart (at most `max_part_size`, 128 MiB by default, per open part); normal running
//! pays nothing.
//!
//! Before copying, the old file's lease is recovered through a second client: a crashed writer
//! keeps its lease for up to an hour, and hdfs-native cannot read the unfinished last block of a
//! file that is still open. Recovery fences any writer still alive and makes the namenode close the
//! file; it takes about one datanode heartbeat (3 s by default).
//!
//! ## When HDFS goes away
//!
//! Every namenode call is retried with backoff (200 ms doubling to 5 s) for `retry_timeout`
//! (5 minutes) while the namenode is unreachable, in safe mode, or a standby. A write pipeline that
//! breaks (a datanode restarted, or the namenode did while a block was being added) is repaired
//! in place: the part's lease is recovered, the file is reopened for append at the length the
//! datanodes kept, and the bytes written since the last sync are written again. For that, the open
//! parts keep their unsynced bytes in memory, at most `replay_buffer` for all parts of a target
//! together (by default one block and 64 MiB: 192 MiB with 128 MiB blocks). A part lets go of its
//! bytes when it syncs, and when the block that holds them is finished: every datanode acknowledged
//! the block and finalized its replica, which a datanode restart keeps. The part that writes past
//! the buffer syncs on its own, which waits for the datanodes' disks; with the default, a part that
//! fills its blocks between checkpoints never has to. So a restart of HDFS makes the job wait and go on; only an outage
//! longer than `retry_timeout` fails the job, which then restarts from its last checkpoint.
//! `replay_buffer = 0` turns repairs off (less memory with very many open buckets; a broken
//! pipeline then fails the job).
//!
//! [`RecoverableWriter`]: sink_core::fs::RecoverableWriter
//! [`CheckpointStore`]: sink_core::runtime::CheckpointStore
#![warn(missing_docs)]

mod checkpoint;
mod client;
mod location;
mod options;
mod target;
mod wiring;

use std::sync::Arc;

pub use checkpoint::HdfsCheckpointStore;
pub use client::HdfsStats;
pub use location::HdfsLocation;
pub use options::{
    parse_size, HdfsOptions, ASSUMED_BLOCK_SIZE, CLIENT_DEFAULTS, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRY_TIMEOUT, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY, REPLAY_BUFFER_BEYOND_BLOCK,
};
pub use target::HdfsTarget;
pub use wiring::{HdfsSection, SCHEMES};

use sink_core::fs::RecoverableWriter;
use sink_core::runtime::CheckpointStore;
use sink_core::Result;

/// The target for `sink.path = "hdfs://..."`: connects, creates the directory and proves it
/// writable (see [`HdfsTarget::connect`]).
pub async fn target_from_url(
    url: &str,
    options: &HdfsOptions,
) -> Result<Arc<dyn RecoverableWriter>> {
    Ok(Arc::new(HdfsTarget::connect(url, options).await?))
}

/// The checkpoint store for `checkpoint.dir = "hdfs://..."` (see
/// [`HdfsCheckpointStore::connect`]).
pub async fn checkpoint_store_from_url(
    url: &str,
    options: &HdfsOptions,
) -> Result<Arc<dyn CheckpointStore>> {
    Ok(Arc::new(HdfsCheckpointStore::connect(url, options).await?))
}

/// True for the URLs this crate handles: those of [`SCHEMES`] (`hdfs://`, `viewfs://`).
pub fn is_hdfs_url(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
}
