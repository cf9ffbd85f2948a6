//! The part ledger: every part one writer has closed, from its close to its publication, and the
//! old copies it must remove once they are no longer referenced.
//!
//! A closed part goes through these states, and only these:
//!
//! ```text
//! close ──> Closed ──snapshot n──> Pending { checkpoint: n } ──complete(m), m >= n, commits ok──> gone (published)
//!                                   │
//!                                   └── a commit fails: stays Pending, unchanged
//! ```
//!
//! An old copy (a target that resumes by copying leaves the file it resumed from) goes through the
//! same steps: `AwaitingCheckpoint` until a snapshot lists it in its `cleanup`, then
//! `Checkpoint(n)`, and it is removed once checkpoint `n` or a later one is complete: from then on
//! no restore can need it.
//!
//! The ledger does no I/O. The writer asks it what is due, does the I/O, and tells it what
//! succeeded; until then nothing leaves it, so a failed commit changes nothing and the parts are
//! in the next snapshot again.

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
        /// The first checkpoint whose state holds it.
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

/// What the two kinds of entries have in common: a snapshot tags them once, with its checkpoint.
trait Stage: Copy {
    /// The checkpoint it waits for, once a snapshot tagged it.
    fn checkpoint(self) -> Option<u64>;
    /// The state after snapshot `n`: untagged takes `n`, tagged keeps its own.
    fn tagged(self, n: u64) -> Self;
}

impl Stage for PartState {
    fn checkpoint(self) -> Option<u64> {
        match self {
            PartState::Closed => None,
            PartState::Pending { checkpoint } => Some(checkpoint),
        }
    }

    fn tagged(self, n: u64) -> Self {
        match self {
            PartState::Closed => PartState::Pending { checkpoint: n },
            pending => pending,
        }
    }
}

impl Stage for CopyState {
    fn checkpoint(self) -> Option<u64> {
        match self {
            CopyState::AwaitingCheckpoint => None,
            CopyState::Checkpoint(n) => Some(n),
        }
    }

    fn tagged(self, n: u64) -> Self {
        match self {
            CopyState::AwaitingCheckpoint => CopyState::Checkpoint(n),
            listed => listed,
        }
    }
}

/// Entries with their states, in the order they came.
#[derive(Clone, Debug, PartialEq)]
struct Entries<S, T>(Vec<(S, T)>);

impl<S, T> Default for Entries<S, T> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<S: Stage, T> Entries<S, T> {
    fn tag(&mut self, n: u64) {
        for (state, _) in &mut self.0 {
            *state = state.tagged(n);
        }
    }

    /// The tagged entries with their checkpoint, as a snapshot stores them: by checkpoint, then in
    /// the order they came.
    fn tagged(&self) -> Vec<(u64, &T)> {
        let mut tagged: Vec<(u64, &T)> = self
            .0
            .iter()
            .filter_map(|(state, entry)| Some((state.checkpoint()?, entry)))
            .collect();
        tagged.sort_by_key(|(n, _)| *n); // stable
        tagged
    }

    /// The entries due once checkpoint `complete` is: tagged with it or an earlier one.
    fn due(&self, complete: u64) -> Vec<&T> {
        self.0
            .iter()
            .filter(|(state, _)| is_due(*state, complete))
            .map(|(_, entry)| entry)
            .collect()
    }

    /// Drops the entries [`due`](Self::due) lists for `complete`.
    fn drop_due(&mut self, complete: u64) {
        self.0.retain(|(state, _)| !is_due(*state, complete));
    }
}

fn is_due(state: impl Stage, complete: u64) -> bool {
    state.checkpoint().is_some_and(|n| n <= complete)
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
    parts: Entries<PartState, ClosedPart>,
    copies: Entries<CopyState, ResumeHandle>,
}

impl PartLedger {
    /// A part was closed: it is [`PartState::Closed`].
    pub(super) fn close(&mut self, part: ClosedPart) {
        self.parts.0.push((PartState::Closed, part));
    }

    /// A part was resumed from a copy: the copy `old` is to be removed once a checkpoint after
    /// this one is complete.
    pub(super) fn supersede(&mut self, old: ResumeHandle) {
        self.copies.0.push((CopyState::AwaitingCheckpoint, old));
    }

    /// Snapshot `checkpoint` is taken: every closed part becomes pending for it, every awaiting
    /// copy is listed with it.
    pub(super) fn tag(&mut self, checkpoint: u64) {
        self.parts.tag(checkpoint);
        self.copies.tag(checkpoint);
    }

    /// The pending parts, as a snapshot stores them: by checkpoint, then in the order they closed.
    pub(super) fn stored_parts(&self) -> Vec<PendingPart> {
        let tagged = self.parts.tagged().into_iter();
        tagged.map(|(n, part)| part.stored(n)).collect()
    }

    /// The listed copies, as a snapshot stores them (its `cleanup`): by checkpoint, then in the
    /// order they were superseded.
    pub(super) fn stored_copies(&self) -> Vec<ResumeHandle> {
        let tagged = self.copies.tagged().into_iter();
        tagged.map(|(_, h)| h.clone()).collect()
    }

    /// Checkpoint `complete` is durable: the parts to publish now (pending for it or an earlier
    /// one). They stay in the ledger until [`published`](Self::published).
    pub(super) fn ready(&self, complete: u64) -> Vec<&ClosedPart> {
        self.parts.due(complete)
    }

    /// Every part [`ready`](Self::ready) listed for `complete` is published: they leave the ledger.
    pub(super) fn published(&mut self, complete: u64) {
        self.parts.drop_due(complete);
    }

    /// Checkpoint `complete` is durable: the copies no restore can need any more. They stay in the
    /// ledger until [`removed`](Self::removed).
    pub(super) fn copies_due(&self, complete: u64) -> Vec<&ResumeHandle> {
        self.copies.due(complete)
    }

    /// Every copy [`copies_due`](Self::copies_due) listed for `complete` is removed.
    pub(super) fn removed(&mut self, complete: u64) {
        self.copies.drop_due(complete);
    }

    /// Parts waiting to be published, closed or pending.
    pub(super) fn len(&self) -> usize {
        self.parts.0.len()
    }
}

#[cfg(test)]
mod tests;
