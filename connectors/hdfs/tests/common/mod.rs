//! Shared by the tests that need a real HDFS (`SPILLWAY_TEST_HDFS_URL`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use async_trait::async_trait;
use connector_hdfs::{HdfsCheckpointStore, HdfsOptions, HdfsTarget};
use sink_core::fs::testing::ReadBack;
use sink_core::fs::{
    Capabilities, Committable, InProgress, RecoverableStream, RecoverableWriter, RelPath,
    ResumeHandle,
};
use sink_core::runtime::{Event, GeneratorConfig, GeneratorSource, JobRunner};
use sink_core::Result;

/// The HDFS URL, or `None` (and the test says it is skipped).
#[track_caller]
pub fn hdfs_url() -> Option<String> {
    sink_core::test_support::service("SPILLWAY_TEST_HDFS_URL", "HDFS")
        .map(|u| u.trim_end_matches('/').to_string())
}

/// A fresh directory URL for one test: `{url}/spillway-test-{what}-{uuid}`.
pub fn unique_dir(url: &str, what: &str) -> String {
    format!(
        "{url}/spillway-test-{what}-{}",
        uuid::Uuid::new_v4().simple()
    )
}

/// Options of the tests: 1 MiB blocks, so that parts cross block boundaries.
pub fn options() -> HdfsOptions {
    HdfsOptions::default()
        .with_block_size(1 << 20)
        .with_retry_timeout(Duration::from_secs(180))
}

/// An [`HdfsTarget`] that can also read back what it published, for the conformance suite.
#[derive(Debug, Clone)]
pub struct Checked(pub HdfsTarget);

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait]
impl RecoverableWriter for Checked {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        self.0.open(path).await
    }
    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        self.0.resume(handle).await
    }
    async fn commit(&self, committable: &Committable) -> Result<()> {
        self.0.commit(committable).await
    }
    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        self.0.cleanup(handle).await
    }
    async fn sync_commits(&self, committed: &[RelPath]) -> Result<()> {
        self.0.sync_commits(committed).await
    }
    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        self.0.list_in_progress(name_prefix).await
    }
    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        self.0.delete_in_progress(item).await
    }
    fn same_in_progress(&self, item: &InProgress, data: &serde_json::Value) -> bool {
        self.0.same_in_progress(item, data)
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
}

#[async_trait]
impl ReadBack for Checked {
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>> {
        let abs = self.0.location().path(path);
        match self.0.client().read(&abs).await {
            Ok(r) => Ok(Some(
                r.read_range(0, r.file_length())
                    .await
                    .map_err(|e| sink_core::Error::storage(&self.0, "read", &abs, e))?
                    .to_vec(),
            )),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(sink_core::Error::storage(&self.0, "read", &abs, e)),
        }
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>> {
        let abs = self.0.location().path(dir);
        let listed = match self.0.client().list_status(&abs, true).await {
            Ok(l) => l,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(sink_core::Error::storage(&self.0, "list", &abs, e)),
        };
        let mut out: Vec<RelPath> = listed
            .iter()
            .filter(|s| !s.isdir)
            .filter(|s| !s.path.rsplit('/').next().unwrap_or("").starts_with('.'))
            .filter_map(|s| self.0.location().relative(&s.path))
            .collect();
        out.sort();
        Ok(out)
    }
}

fn not_found(e: &hdfs_native::HdfsError) -> bool {
    match e {
        hdfs_native::HdfsError::FileNotFound(_) => true,
        hdfs_native::HdfsError::RPCError(c, _) => c == "java.io.FileNotFoundException",
        _ => false,
    }
}

/// Connects a target and a checkpoint store under a fresh directory.
pub async fn target_and_store(url: &str, what: &str) -> (String, HdfsTarget, HdfsCheckpointStore) {
    let base = unique_dir(url, what);
    let target = HdfsTarget::connect(&format!("{base}/out"), &options())
        .await
        .expect("connect target");
    let store = HdfsCheckpointStore::connect(&format!("{base}/checkpoints"), &options())
        .await
        .expect("connect checkpoint store");
    (base, target, store)
}

/// The generator: 4 splits, one event-time second per event.
pub fn gen(count: Option<u64>, rate: Option<f64>, step: Duration) -> GeneratorSource {
    GeneratorSource::new(GeneratorConfig {
        splits: 4,
        count,
        rate,
        step,
        ..GeneratorConfig::default()
    })
    .unwrap()
}

/// Runs a job and drops it (a crash) once `checkpoints` checkpoints completed and `extra_ms` more
/// passed. Copied from sink-core's runtime tests.
pub async fn crash_after<S: Send + Sync + 'static, T: Send + Sync + 'static>(
    runner: JobRunner<S, T>,
    checkpoints: u64,
    extra_ms: u64,
) {
    let progress = runner.progress();
    let job = tokio::spawn(runner.run());
    while progress
        .checkpoints_completed
        .load(std::sync::atomic::Ordering::Relaxed)
        < checkpoints
    {
        assert!(
            !job.is_finished(),
            "the job ended before the crash point: {:?}",
            job.await
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(extra_ms)).await;
    job.abort();
    let _ = job.await;
}

/// Hadoop's own `hdfs` command (`SPILLWAY_HADOOP_HDFS`), or `None` with a message.
pub fn hadoop_shell() -> Option<PathBuf> {
    sink_core::test_support::service("SPILLWAY_HADOOP_HDFS", "Hadoop's hdfs command")
        .map(PathBuf::from)
}

/// Runs `hdfs dfs ARGS...` and returns its standard output.
pub fn dfs(shell: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(shell)
        .arg("dfs")
        .args(args)
        .output()
        .expect("run Hadoop's hdfs dfs");
    assert!(
        out.status.success(),
        "hdfs dfs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// What Hadoop's shell sees under a directory: the visible files, the hidden in-progress files,
/// and the event ids in the visible files (read with `hdfs dfs -cat`).
pub struct Lake {
    pub visible: Vec<String>,
    pub in_progress: Vec<String>,
    pub ids: HashMap<u64, usize>,
}

pub fn read_lake_with_hadoop(shell: &PathBuf, dir_url: &str) -> Lake {
    let listing = dfs(shell, &["-ls", "-R", dir_url]);
    let mut visible = Vec::new();
    let mut in_progress = Vec::new();
    for line in listing.lines() {
        // -rw-r--r--   1 user supergroup       1234 2026-01-01 00:00 hdfs://.../name
        if !line.starts_with('-') {
            continue;
        }
        let path = line.split_whitespace().last().unwrap().to_string();
        let name = path.rsplit('/').next().unwrap();
        if name.contains(".inprogress.") {
            in_progress.push(path);
        } else if !name.starts_with('.') && !name.starts_with('_') {
            visible.push(path);
        }
    }
    let mut ids = HashMap::new();
    if !visible.is_empty() {
        let mut args = vec!["-cat"];
        args.extend(visible.iter().map(String::as_str));
        for (n, line) in dfs(shell, &args).lines().enumerate() {
            let ev: Event = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {n} is not a whole event ({e}): {line:?}"));
            *ids.entry(ev.event_id).or_default() += 1;
        }
    }
    Lake {
        visible,
        in_progress,
        ids,
    }
}
