//! Publishing closed parts (the second phase of the commit), what it reports, and the writer's
//! counters.

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::ledger::ClosedPart;
use crate::error::Result;
use crate::fs::{RecoverableWriter, RelPath};
use crate::retry::Backoff;

/// Storage operations run at once: parts persisted or closed at a checkpoint, parts committed.
const IO_CONCURRENCY: usize = 32;

/// Milliseconds since the epoch, for the commit lag.
pub(super) fn wall_clock_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs storage operations a few dozen at a time. The futures are boxed so that the compiler can
/// prove the enclosing future `Send` (closures over borrowed iterators defeat its inference).
pub(super) async fn concurrently<'a, R: Send + 'a>(
    futs: Vec<BoxFuture<'a, Result<R>>>,
) -> Result<Vec<R>> {
    stream::iter(futs)
        .buffer_unordered(IO_CONCURRENCY)
        .try_collect()
        .await
}

/// What one [`FileSinkWriter::notify_checkpoint_complete`](super::FileSinkWriter::notify_checkpoint_complete)
/// published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Part files published.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their records.
    pub records: u64,
    /// For each published part, milliseconds from its close to its publication (wall clock).
    pub commit_lags_ms: Vec<u64>,
}

/// Counters of one writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Records accepted.
    pub records_written: u64,
    /// Dead letters written.
    pub dead_letters: u64,
    /// Parts opened.
    pub parts_opened: u64,
    /// Parts closed for commit.
    pub parts_closed: u64,
    /// Parts published.
    pub files_committed: u64,
    /// Bytes published.
    pub bytes_committed: u64,
    /// Records published.
    pub records_committed: u64,
}

impl SinkStats {
    fn add(&mut self, report: &CommitReport) {
        self.files_committed += report.files;
        self.bytes_committed += report.bytes;
        self.records_committed += report.records;
    }
}

/// Publishes `parts` under their final names: every commit retried with `backoff` while it fails
/// for a retryable reason, then one [`sync_commits`](RecoverableWriter::sync_commits) for all.
/// Commit is idempotent, so parts already published (by an earlier attempt, before a crash) are
/// success. On an error some parts may be published and others not; publishing them all again is
/// safe. Counts what it published in `stats`.
pub(super) async fn publish(
    target: &dyn RecoverableWriter,
    backoff: Backoff,
    parts: &[&ClosedPart],
    stats: &mut SinkStats,
) -> Result<CommitReport> {
    if parts.is_empty() {
        return Ok(CommitReport::default());
    }
    let commits: Vec<BoxFuture<'_, Result<()>>> = parts
        .iter()
        .map(|p| {
            backoff
                .retry("commit", move || target.commit(&p.committable))
                .boxed()
        })
        .collect();
    concurrently(commits).await?;
    let paths: Vec<RelPath> = parts.iter().map(|p| p.committable.path.clone()).collect();
    target.sync_commits(&paths).await?;
    let now = wall_clock_millis();
    let report = CommitReport {
        files: parts.len() as u64,
        bytes: parts.iter().map(|p| p.committable.len).sum(),
        records: parts.iter().map(|p| p.records).sum(),
        commit_lags_ms: parts
            .iter()
            .filter_map(|p| p.closed_at)
            .map(|closed_at| now.saturating_sub(closed_at).max(0) as u64)
            .collect(),
    };
    stats.add(&report);
    Ok(report)
}
