//! The part ledger: every part one writer has closed, from its close to its publication, and the
//! old copies it must remove once they are no longer referenced.
//!
//! A closed part goes through these states, and only these:
//!
//! ```text
//! close ──> Closed ──snapshot n──> Pending { checkpoint: n } ──complete(m), m >= n, commit ok──> (gone: published)
//!                                   │
//!                                   └── commit fails: stays Pending, unchanged
//! ```
//!
//! An old copy (a target that resumes by copying leaves the file it resumed from) goes through the
//! same steps: `AwaitingCheckpoint` until a snapshot stores it in its `cleanup` list, then
//! `Checkpoint(n)`, and it is removed once checkpoint `n` or a later one is complete: from then on
//! no restore can need it.
//!
//! The ledger does no I/O. The writer asks it what is due, does the I/O, and tells it what
//! succeeded; until then nothing leaves it, so a failed commit changes nothing and the parts are
//! still in the next snapshot.

use super::state::PendingPart;
use crate::fs::{Committable, ResumeHandle};

/// Where a closed part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PartState {
    /// Rolled since the last snapshot; the next snapshot takes it into its state.
    Closed,
    /// In the state of snapshot `checkpoint`: published once that checkpoint, or a later one, is
    /// complete.
    Pending {
        /// The checkpoint whose state holds it first.
        checkpoint: u64,
    },
}

/// Where an old copy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyState {
    /// Superseded since the last snapshot; the next snapshot lists it for cleanup.
    AwaitingCheckpoint,
    /// Listed by snapshot `n`: removed once checkpoint `n`, or a later one, is complete.
    Checkpoint(u64),
}

impl PartState {
    /// The checkpoint it waits for, once a snapshot took it.
    fn checkpoint(self) -> Option<u64> {
        match self {
            PartState::Closed => None,
            PartState::Pending { checkpoint } => Some(checkpoint),
        }
    }
}

impl CopyState {
    /// The checkpoint it waits for, once a snapshot listed it.
    fn checkpoint(self) -> Option<u64> {
        match self {
            CopyState::AwaitingCheckpoint => None,
            CopyState::Checkpoint(n) => Some(n),
        }
    }
}

/// True when an entry waiting for `checkpoint` is due at the completion of `complete`.
fn due(checkpoint: Option<u64>, complete: u64) -> bool {
    checkpoint.is_some_and(|n| n <= complete)
}

/// The entries a snapshot took, with their checkpoint: by checkpoint, then in ledger order.
fn by_checkpoint<S: Copy, T>(
    entries: &[(S, T)],
    checkpoint: impl Fn(S) -> Option<u64>,
) -> Vec<(u64, &T)> {
    let mut taken: Vec<(u64, &T)> = entries
        .iter()
        .filter_map(|(state, entry)| Some((checkpoint(*state)?, entry)))
        .collect();
    taken.sort_by_key(|(n, _)| *n); // stable: ledger order within a checkpoint
    taken
}

/// A part closed for commit, waiting to be published.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ClosedPart {
    /// Its bucket id.
    pub(super) bucket: String,
    /// What to commit.
    pub(super) committable: Committable,
    /// Records in it.
    pub(super) records: u64,
    /// When it was closed, ms since the epoch (wall clock), for the commit lag; `None` when a
    /// restored state does not say.
    pub(super) closed_at: Option<i64>,
}

impl ClosedPart {
    /// The part as stored in the state of `checkpoint`.
    fn stored(&self, checkpoint: u64) -> PendingPart {
        PendingPart {
            checkpoint,
            bucket: self.bucket.clone(),
            committable: self.committable.clone(),
            records: self.records,
            closed_at: self.closed_at.unwrap_or(0),
        }
    }
}

impl From<PendingPart> for ClosedPart {
    /// A part of a restored state. Its checkpoint is of no further use: a restored writer
    /// publishes its parts at once.
    fn from(p: PendingPart) -> Self {
        ClosedPart {
            bucket: p.bucket,
            committable: p.committable,
            records: p.records,
            closed_at: (p.closed_at > 0).then_some(p.closed_at),
        }
    }
}

/// Every closed part of one writer that is not published yet, and every old copy not removed yet,
/// each with its state. Parts keep the order they were closed in.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PartLedger {
    parts: Vec<(PartState, ClosedPart)>,
    copies: Vec<(CopyState, ResumeHandle)>,
}

impl PartLedger {
    /// A part was closed: it is [`PartState::Closed`].
    pub(super) fn close(&mut self, part: ClosedPart) {
        self.parts.push((PartState::Closed, part));
    }

    /// A part was resumed from a copy: the copy `old` is to be removed once a checkpoint after
    /// this one is complete.
    pub(super) fn supersede(&mut self, old: ResumeHandle) {
        self.copies.push((CopyState::AwaitingCheckpoint, old));
    }

    /// Snapshot `checkpoint` is taken: every closed part becomes pending for it, every awaiting
    /// copy is listed with it.
    pub(super) fn tag(&mut self, checkpoint: u64) {
        for (state, _) in &mut self.parts {
            if *state == PartState::Closed {
                *state = PartState::Pending { checkpoint };
            }
        }
        for (state, _) in &mut self.copies {
            if *state == CopyState::AwaitingCheckpoint {
                *state = CopyState::Checkpoint(checkpoint);
            }
        }
    }

    /// The pending parts, as a snapshot stores them: by checkpoint, then in the order they closed.
    pub(super) fn stored_parts(&self) -> Vec<PendingPart> {
        by_checkpoint(&self.parts, PartState::checkpoint)
            .into_iter()
            .map(|(n, part)| part.stored(n))
            .collect()
    }

    /// The listed copies, as a snapshot stores them (its `cleanup`): by checkpoint, then in the
    /// order they were superseded.
    pub(super) fn stored_copies(&self) -> Vec<ResumeHandle> {
        by_checkpoint(&self.copies, CopyState::checkpoint)
            .into_iter()
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// Checkpoint `complete` is durable: the parts to publish now (pending for it or an earlier
    /// one). They stay in the ledger until [`published`](Self::published).
    pub(super) fn ready(&self, complete: u64) -> Vec<&ClosedPart> {
        self.parts
            .iter()
            .filter(|(state, _)| due(state.checkpoint(), complete))
            .map(|(_, part)| part)
            .collect()
    }

    /// Every part [`ready`](Self::ready) listed for `complete` is published: they leave the ledger.
    pub(super) fn published(&mut self, complete: u64) {
        self.parts
            .retain(|(state, _)| !due(state.checkpoint(), complete));
    }

    /// Checkpoint `complete` is durable: the copies no restore can need any more. They stay in the
    /// ledger until [`removed`](Self::removed).
    pub(super) fn copies_due(&self, complete: u64) -> Vec<&ResumeHandle> {
        self.copies
            .iter()
            .filter(|(state, _)| due(state.checkpoint(), complete))
            .map(|(_, h)| h)
            .collect()
    }

    /// Every copy [`copies_due`](Self::copies_due) listed for `complete` is removed.
    pub(super) fn removed(&mut self, complete: u64) {
        self.copies
            .retain(|(state, _)| !due(state.checkpoint(), complete));
    }

    /// Parts waiting to be published, closed or pending.
    pub(super) fn len(&self) -> usize {
        self.parts.len()
    }
}

#[cfg(test)]
mod tests;
