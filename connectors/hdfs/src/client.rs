//! The connection shared by a target and a checkpoint store: two hdfs-native clients, the error
//! mapping, and retries with backoff while the namenode is unreachable or in safe mode.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};
use sink_core::{Error, Result};
use tokio::time::Instant;

use crate::location::HdfsLocation;
use crate::options::{
    replay_buffer_for, HdfsOptions, ASSUMED_BLOCK_SIZE, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY,
};

/// Java exceptions that say "not now, try again".
const TRANSIENT_EXCEPTIONS: &[&str] = &[
    "org.apache.hadoop.hdfs.server.namenode.SafeModeException",
    "org.apache.hadoop.ipc.RetriableException",
    "org.apache.hadoop.ipc.StandbyException",
    "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException",
    "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException",
    "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
    "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException",
    "org.apache.hadoop.ipc.RpcServerException",
    "java.net.ConnectException",
    "java.io.EOFException",
];

const PERMISSION_EXCEPTIONS: &[&str] = &[
    "org.apache.hadoop.security.AccessControlException",
    "org.apache.hadoop.security.authorize.AuthorizationException",
];

const NOT_A_DIRECTORY: &str = "org.apache.hadoop.fs.ParentNotDirectoryException";
const QUOTA_EXCEPTIONS: &[&str] = &[
    "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException",
    "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
    "org.apache.hadoop.hdfs.protocol.QuotaExceededException",
];

fn rpc_class(e: &HdfsError) -> Option<&str> {
    match e {
        HdfsError::RPCError(class, _) | HdfsError::FatalRPCError(class, _) => Some(class),
        _ => None,
    }
}

/// An error in one line: Java exceptions without their server-side stack trace.
pub(crate) fn describe(e: &HdfsError) -> String {
    match e {
        HdfsError::RPCError(class, msg) | HdfsError::FatalRPCError(class, msg) => {
            let short = class.rsplit('.').next().unwrap_or(class);
            let first = msg.lines().next().unwrap_or("").trim();
            format!("{short}: {first}")
        }
        e => e.to_string(),
    }
}

/// The path does not exist (a missing file, or a missing source of a rename).
pub(crate) fn is_not_found(e: &HdfsError) -> bool {
    matches!(e, HdfsError::FileNotFound(_)) || rpc_class(e) == Some("java.io.FileNotFoundException")
}

/// The path exists already (create or rename without overwrite).
pub(crate) fn is_exists(e: &HdfsError) -> bool {
    matches!(e, HdfsError::AlreadyExists(_))
        || rpc_class(e) == Some("org.apache.hadoop.fs.FileAlreadyExistsException")
}

fn is_permission(e: &HdfsError) -> bool {
    rpc_class(e).is_some_and(|c| PERMISSION_EXCEPTIONS.contains(&c))
}

/// How long an `hsync` may wait for its acknowledgement: as long as hdfs-native waits for any ack.
pub(crate) const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// `w.hsync()`, bounded by [`SYNC_TIMEOUT`]. hdfs-native 0.14 can wait forever in an `hsync`
/// whose datanode went away while the pipeline had no packet left to send: it waits for its
/// packet-sender task, which waits for packets that never come. Found by the HDFS restart test
/// when parts synced often. A timeout is reported as a broken pipeline (`DataTransferError`):
/// retried or repaired like one. Dropping the future drops the pipeline, and its tasks end.
pub(crate) async fn hsync_bounded(
    w: &mut hdfs_native::file::FileWriter,
) -> std::result::Result<(), HdfsError> {
    match tokio::time::timeout(SYNC_TIMEOUT, w.hsync()).await {
        Ok(r) => r,
        Err(_) => Err(HdfsError::DataTransferError(format!(
            "hsync not acknowledged within {}s",
            SYNC_TIMEOUT.as_secs()
        ))),
    }
}

/// Worth another attempt: the namenode or a datanode is unreachable, restarting, in safe mode, or
/// still recovering a block.
pub(crate) fn is_transient(e: &HdfsError) -> bool {
    match e {
        HdfsError::IOError(_)
        | HdfsError::DataTransferError(_)
        | HdfsError::ChecksumError
        | HdfsError::BlocksNotFound(_)
        | HdfsError::OperationFailed(_)
        | HdfsError::InvalidRPCResponse(_) => true,
        HdfsError::RPCError(class, _) => TRANSIENT_EXCEPTIONS.contains(&class.as_str()),
        _ => false,
    }
}

/// A write pipeline that failed this way can be repaired by recovering the file's lease and
/// appending again. Permission, quota and authentication failures cannot.
pub(crate) fn is_repairable(e: &HdfsError) -> bool {
    match e {
        HdfsError::RPCError(class, _) => {
            !PERMISSION_EXCEPTIONS.contains(&class.as_str())
                && !QUOTA_EXCEPTIONS.contains(&class.as_str())
                && class != NOT_A_DIRECTORY
        }
        HdfsError::FatalRPCError(..)
        | HdfsError::SASLError(_)
        | HdfsError::GSSAPIError(..)
        | HdfsError::NoSASLMechanism
        | HdfsError::UnsupportedFeature(_)
        | HdfsError::UnsupportedErasureCodingPolicy(_)
        | HdfsError::InvalidArgument(_)
        | HdfsError::InvalidPath(_)
        | HdfsError::UrlParseError(_) => false,
        _ => true,
    }
}

/// Counters of the exceptional paths, for tests and monitoring.
#[derive(Debug, Default)]
pub struct HdfsStats {
    /// Namenode calls retried after a transient failure.
    pub retries: std::sync::atomic::AtomicU64,
    /// Leases recovered (resumes, repairs).
    pub lease_recoveries: std::sync::atomic::AtomicU64,
    /// Broken write pipelines repaired in place.
    pub repairs: std::sync::atomic::AtomicU64,
    /// Parts resumed by copying their persisted prefix.
    pub resumes: std::sync::atomic::AtomicU64,
    /// Bytes copied by resumes.
    pub resumed_bytes: std::sync::atomic::AtomicU64,
    /// Syncs of open parts beyond the checkpoints' (to free the replay buffer).
    pub extra_syncs: std::sync::atomic::AtomicU64,
    /// Times a part let go of replay bytes without a sync, because the blocks holding them were
    /// finished (acknowledged and finalized by every datanode of the pipeline).
    pub block_releases: std::sync::atomic::AtomicU64,
}

impl HdfsStats {
    pub(crate) fn add(counter: &std::sync::atomic::AtomicU64, n: u64) {
        counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A connection to one HDFS file system, shared by a target's streams and a checkpoint store.
pub(crate) struct Hdfs {
    /// Does all the work.
    pub client: Client,
    /// A second client, with its own client name, used only to recover leases: the namenode
    /// refuses to recover a file's lease for the client that holds it, and the main client may
    /// still hold the lease of a file whose writer broke.
    recovery: Client,
    pub location: HdfsLocation,
    pub user: String,
    pub retry_timeout: Duration,
    /// `replay_buffer` as configured; `None`: the default for [`block_size`](Self::block_size).
    replay_buffer: Option<u64>,
    /// Block size of part files: `block_size`, else the namenode's as [`probe_dir`](Self::probe_dir)
    /// found it; 0 while unknown.
    pub block_size: std::sync::atomic::AtomicU64,
    pub write_options: WriteOptions,
    pub stats: HdfsStats,
    /// Unsynced bytes all open parts keep for repairs, against `replay_buffer`.
    pub replay_in_use: std::sync::atomic::AtomicU64,
    /// Parts closed by this process and not yet committed: where their background close stands.
    pub closing: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::watch::Receiver<crate::target::CloseState>>,
    >,
}

impl fmt::Debug for Hdfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hdfs")
            .field("location", &self.location.to_string())
            .field("user", &self.user)
            .field("retry_timeout", &self.retry_timeout)
            .field("replay_buffer", &self.replay_buffer())
            .finish_non_exhaustive()
    }
}

impl Hdfs {
    /// Builds the clients. No network traffic yet.
    pub fn new(location: HdfsLocation, options: &HdfsOptions, table: &str) -> Result<Arc<Hdfs>> {
        options.validate(table)?;
        let build = || {
            let mut b = ClientBuilder::new()
                .with_url(location.client_url())
                .with_config(options.client_properties());
            if let Some(dir) = &options.config_dir {
                b = b.with_config_dir(dir.clone());
            }
            if let Some(user) = &options.user {
                b = b.with_user(user.clone());
            }
            if let Some(p) = &options.kerberos_principal {
                b = b.with_kerberos_principal(p.clone());
            }
            if let Some(k) = &options.kerberos_keytab {
                b = b.with_kerberos_keytab(k.clone());
            }
            b.build().map_err(|e| {
                let hint = match &e {
                    HdfsError::InvalidArgument(m) if m.contains("No NameNode hosts") => format!(
                        "; {} is not configured: add a port (hdfs://host:8020/...) or set dfs.ha.namenodes.* in `properties` or HADOOP_CONF_DIR",
                        location.namenode()
                    ),
                    _ => String::new(),
                };
                Error::config(
                    table.to_string(),
                    format!("cannot set up an HDFS client for {location}: {e}{hint}"),
                )
            })
        };
        let client = build()?;
        let recovery = build()?;
        let user = options
            .user
            .clone()
            .or_else(|| std::env::var("HADOOP_USER_NAME").ok())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "(the OS user)".to_string());
        let write_options = WriteOptions {
            block_size: options.block_size,
            replication: options.replication,
            overwrite: false,
            create_parent: true,
            ..WriteOptions::default()
        };
        Ok(Arc::new(Hdfs {
            client,
            recovery,
            location,
            user,
            retry_timeout: options.retry_timeout(),
            replay_buffer: options.replay_buffer,
            block_size: options.block_size.unwrap_or(0).into(),
            write_options,
            stats: HdfsStats::default(),
            replay_in_use: Default::default(),
            closing: Default::default(),
        }))
    }

    /// Block size of part files, once known.
    pub fn block_size(&self) -> Option<u64> {
        match self.block_size.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            b => Some(b),
        }
    }

    /// Unsynced bytes all open parts may keep for repairs (0: no repairs).
    pub fn replay_buffer(&self) -> u64 {
        let block = self.block_size().unwrap_or(ASSUMED_BLOCK_SIZE);
        replay_buffer_for(self.replay_buffer, block)
    }

    /// Maps an hdfs-native error of `op` on the absolute path `abs` to the engine's error, naming
    /// the URL (and the user for permission problems).
    pub fn error(&self, op: &'static str, abs: &str, e: HdfsError) -> Error {
        let url = self.location.url_of(abs);
        if is_permission(&e) {
            return Error::io(
                op,
                url,
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "not writable by HDFS user {:?}: {}",
                        self.user,
                        describe(&e)
                    ),
                ),
            );
        }
        if rpc_class(&e) == Some(NOT_A_DIRECTORY) || is_exists(&e) && op == "create directory" {
            return Error::io(
                op,
                url,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "not writable: a parent is a file, not a directory: {}",
                        describe(&e)
                    ),
                ),
            );
        }
        if rpc_class(&e).is_some_and(|c| QUOTA_EXCEPTIONS.contains(&c)) {
            return Error::io(
                op,
                url,
                io::Error::new(io::ErrorKind::QuotaExceeded, describe(&e)),
            );
        }
        if let HdfsError::IOError(io) = &e {
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::AddrNotAvailable
                    | io::ErrorKind::TimedOut
            ) {
                return Error::storage(
                    &self.location,
                    op,
                    url,
                    format!(
                        "cannot reach {} (or a datanode): {e}",
                        self.location.namenode()
                    ),
                );
            }
        }
        Error::storage(&self.location, op, url, describe(&e))
    }

    /// Runs `f` until it succeeds, fails with an error that is not transient, or `deadline`
    /// passes; pauses between attempts grow from 200 ms to 5 s.
    pub async fn retry_until<T, F, Fut>(
        &self,
        op: &'static str,
        abs: &str,
        deadline: Instant,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, HdfsError>>,
    {
        let mut delay = INITIAL_RETRY_DELAY;
        let mut attempt = 1u32;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && Instant::now() + delay < deadline => {
                    tracing::warn!(
                        attempt,
                        path = %self.location.url_of(abs),
                        error = %describe(&e),
                        "HDFS {op} failed; retrying in {delay:?}"
                    );
                    HdfsStats::add(&self.stats.retries, 1);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                    attempt += 1;
                }
                Err(e) => return Err(self.error(op, abs, e)),
            }
        }
    }

    /// [`retry_until`](Self::retry_until) with the configured `retry_timeout`.
    pub async fn retry<T, F, Fut>(&self, op: &'static str, abs: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, HdfsError>>,
    {
        self.retry_until(op, abs, self.deadline(), f).await
    }

    /// Now plus `retry_timeout`.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.retry_timeout
    }

    /// The length of a file, `None` when there is none.
    pub async fn stat_len(&self, abs: &str, deadline: Instant) -> Result<Option<u64>> {
        self.retry_until("stat", abs, deadline, || async {
            match self.client.get_file_info(abs).await {
                Ok(s) if s.isdir => Err(HdfsError::IsADirectoryError(abs.to_string())),
                Ok(s) => Ok(Some(s.length as u64)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Deletes a file; a missing file is fine.
    pub async fn delete_file(&self, abs: &str) -> Result<()> {
        self.retry("delete", abs, || async {
            match self.client.delete(abs, false).await {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Ends the write lease on a file, fencing any writer that still holds it (a crashed process,
    /// or this process's broken pipeline), and waits until the namenode has closed the file at
    /// the length its datanodes agree on. `false` when the file does not exist.
    ///
    /// The namenode closes a file whose last block is complete at once; otherwise a datanode
    /// recovers the block on its next heartbeat. Asking again restarts that recovery, so the pauses
    /// between asks double from 1 s to 8 s.
    pub async fn recover_lease(&self, abs: &str, deadline: Instant) -> Result<bool> {
        let mut pause = Duration::from_secs(1);
        HdfsStats::add(&self.stats.lease_recoveries, 1);
        loop {
            let r = self
                .retry_until("recover lease", abs, deadline, || async {
                    match self.recovery.recover_lease(abs).await {
                        Ok(closed) => Ok(Some(closed)),
                        Err(e) if is_not_found(&e) => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await?;
            match r {
                None => return Ok(false),
                Some(true) => return Ok(true),
                Some(false) if Instant::now() + pause < deadline => {
                    tracing::debug!(path = %self.location.url_of(abs), "waiting for lease recovery");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                Some(false) => {
                    return Err(Error::storage(
                        &self.location,
                        "recover lease",
                        self.location.url_of(abs),
                        format!(
                            "the namenode did not close the file within {:?} (is a datanode holding its last block down?)",
                            self.retry_timeout
                        ),
                    ))
                }
            }
        }
    }

    /// Creates a directory (and its parents); proves the namenode is reachable and the directory
    /// writable within `timeout`, with a clear error otherwise.
    pub async fn probe_dir(&self, abs: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let unreachable = |e: Error| match e {
            Error::Storage { source, .. } => Error::storage(
                &self.location,
                "connect",
                self.location.url_of(abs),
                format!(
                    "cannot reach {} within {timeout:?}: {source}",
                    self.location.namenode()
                ),
            ),
            e => e,
        };
        self.retry_until("create directory", abs, deadline, || async {
            match self.client.mkdirs(abs, 0o755, true).await {
                Ok(()) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(unreachable)?;
        let probe = format!(
            "{}/.spillway-probe-{}",
            abs.trim_end_matches('/'),
            uuid::Uuid::new_v4().simple()
        );
        let mut w = self
            .retry_until("write to output directory", abs, deadline, || async {
                self.client.create(&probe, &self.write_options).await
            })
            .await
            .map_err(unreachable)?;
        if self.block_size.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            // The namenode's default block size, which the parts get too (see `Core`).
            if let Ok(Some(b)) = self
                .client
                .get_file_info(&probe)
                .await
                .map(|status| status.blocksize)
            {
                self.block_size
                    .store(b, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let closed = w.close().await;
        let _ = self.client.delete(&probe, false).await;
        closed.map_err(|e| self.error("write to output directory", abs, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(class: &str) -> HdfsError {
        HdfsError::RPCError(class.to_string(), "msg".to_string())
    }

    #[test]
    fn classifies_errors() {
        // (error, transient, repairable, not found, exists)
        let table: Vec<(HdfsError, bool, bool, bool, bool)> = vec![
            (
                HdfsError::IOError(io::Error::from(io::ErrorKind::ConnectionRefused)),
                true,
                true,
                false,
                false,
            ),
            (
                HdfsError::DataTransferError("x".into()),
                true,
                true,
                false,
                false,
            ),
            (
                rpc("org.apache.hadoop.hdfs.server.namenode.SafeModeException"),
                true,
                true,
                false,
                false,
            ),
            (
                rpc("org.apache.hadoop.ipc.StandbyException"),
                true,
                true,
                false,
                false,
            ),
            (
                rpc("org.apache.hadoop.security.AccessControlException"),
                false,
                false,
                false,
                false,
            ),
            (
                rpc("org.apache.hadoop.hdfs.protocol.DSQuotaExceededException"),
                false,
                false,
                false,
                false,
            ),
            (
                rpc("java.io.FileNotFoundException"),
                false,
                true,
                true,
                false,
            ),
            (
                HdfsError::FileNotFound("/x".into()),
                false,
                true,
                true,
                false,
            ),
            (
                HdfsError::AlreadyExists("/x".into()),
                false,
                true,
                false,
                true,
            ),
            (
                rpc("org.apache.hadoop.fs.FileAlreadyExistsException"),
                false,
                true,
                false,
                true,
            ),
            (
                HdfsError::FatalRPCError("javax.security.sasl.SaslException".into(), "m".into()),
                false,
                false,
                false,
                false,
            ),
        ];
        for (e, transient, repairable, not_found, exists) in table {
            assert_eq!(is_transient(&e), transient, "{e}");
            assert_eq!(is_repairable(&e), repairable, "{e}");
            assert_eq!(is_not_found(&e), not_found, "{e}");
            assert_eq!(is_exists(&e), exists, "{e}");
        }
    }

    #[tokio::test]
    async fn errors_name_the_url_the_user_and_the_namenode() {
        let loc = HdfsLocation::parse("hdfs://127.0.0.1:1/lake").unwrap();
        let h = Hdfs::new(loc, &HdfsOptions::default().with_user("etl"), "sink.hdfs").unwrap();
        let e = h.error(
            "create",
            "/lake/a",
            rpc("org.apache.hadoop.security.AccessControlException"),
        );
        let m = e.to_string();
        assert!(
            m.contains("hdfs://127.0.0.1:1/lake/a") && m.contains("\"etl\""),
            "{m}"
        );
        assert!(!e.is_retryable());
        let e = h.error(
            "create",
            "/lake/a",
            HdfsError::IOError(io::Error::from(io::ErrorKind::ConnectionRefused)),
        );
        assert!(
            e.to_string().contains("cannot reach namenode 127.0.0.1:1"),
            "{e}"
        );
        assert!(e.is_retryable());
    }
}
