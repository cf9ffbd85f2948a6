//! What a sink does once per restart, before any writer: delete what no checkpoint references.

use std::collections::{BTreeMap, HashSet};

use super::builder::FileSink;
use super::state::FileSinkState;
use crate::error::Result;
use crate::fs::RelPath;

/// What [`FileSink::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// In-progress parts that no checkpoint referenced, deleted.
    pub orphans_deleted: usize,
    /// Old copies removed (targets that resume by copying).
    pub handles_cleaned: usize,
    /// Legacy names: unpublished parts left in place because this job did not write them.
    pub foreign_left: usize,
}

impl<T: Send + 'static> FileSink<T> {
    /// Once per restart, before any writer is created: deletes in-progress parts of this run that
    /// the restored states do not reference (written after the checkpoint, before a crash) and the
    /// old copies the states list for cleanup. `restored` must hold every subtask's state of the
    /// checkpoint (empty on a fresh start with a new run id).
    pub async fn recover(&self, run: &str, restored: &[FileSinkState]) -> Result<RecoveryReport> {
        self.recover_inner(run, restored, false).await
    }

    /// [`recover`](Self::recover) for a restart of run `run` that never completed a checkpoint:
    /// every in-progress part it left is deleted. This matters only with
    /// [legacy names](super::OutputFileConfigBuilder::with_legacy_part_names), which carry no run
    /// id: without a checkpoint [`recover`](Self::recover) cannot tell the run's parts from another
    /// writer's and leaves them.
    pub async fn recover_unchecked_restart(&self, run: &str) -> Result<RecoveryReport> {
        self.recover_inner(run, &[], true).await
    }

    async fn recover_inner(
        &self,
        run: &str,
        restored: &[FileSinkState],
        unchecked_restart: bool,
    ) -> Result<RecoveryReport> {
        let target = &self.shared.target;
        let names = &self.shared.names;
        let mut report = RecoveryReport::default();
        for h in restored.iter().flat_map(|s| &s.cleanup) {
            target.cleanup(h).await?;
            report.handles_cleaned += 1;
        }
        // What the states hold open or pending: its path and the target's data.
        let held: Vec<(&RelPath, &serde_json::Value)> = restored
            .iter()
            .flat_map(|s| {
                s.open
                    .iter()
                    .map(|o| (&o.handle.path, &o.handle.data))
                    .chain(
                        s.pending
                            .iter()
                            .map(|p| (&p.committable.path, &p.committable.data)),
                    )
            })
            .collect();
        let held_paths: HashSet<&RelPath> = held.iter().map(|(path, _)| *path).collect();
        // Legacy names: the checkpoint's counter of each subtask (see `with_legacy_part_names`).
        let mut restored_next: BTreeMap<usize, u64> = BTreeMap::new();
        for st in restored {
            let c = restored_next.entry(st.subtask).or_default();
            *c = (*c).max(st.next_counter);
        }
        let mut floors: BTreeMap<usize, u64> = BTreeMap::new();
        for item in target.list_in_progress(&names.run_prefix(run)).await? {
            let referenced = held.iter().any(|(_, d)| target.same_in_progress(&item, d));
            let ours_after_checkpoint = if !names.legacy() {
                true
            } else {
                match names.legacy_counter(item.path.file_name()) {
                    None => false,
                    Some((subtask, n)) => {
                        // Ours: written after the checkpoint, or another copy of a part the
                        // checkpoint holds open or pending (a resume copies a part on targets
                        // that cannot truncate; a crash can leave the copy of an earlier attempt).
                        let ours = unchecked_restart
                            || restored_next.get(&subtask).is_some_and(|c| n >= *c)
                            || held_paths.contains(&item.path);
                        if referenced || !ours {
                            let f = floors.entry(subtask).or_default();
                            *f = (*f).max(n + 1);
                        }
                        ours
                    }
                }
            };
            if !referenced && ours_after_checkpoint {
                tracing::info!(path = %item.path, "deleting in-progress part no checkpoint references");
                target.delete_in_progress(&item).await?;
                report.orphans_deleted += 1;
            } else if !referenced {
                tracing::info!(path = %item.path, "leaving an unpublished part this job did not write");
                report.foreign_left += 1;
            }
        }
        *self
            .shared
            .counter_floors
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = floors;
        Ok(report)
    }

    /// Legacy names: the least counter a new writer of `subtask` may use, as [`recover`] found
    /// the names in use (0 when it found none, or did not run).
    ///
    /// [`recover`]: Self::recover
    pub(super) fn counter_floor(&self, subtask: usize) -> u64 {
        self.shared
            .counter_floors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&subtask)
            .copied()
            .unwrap_or(0)
    }
}
