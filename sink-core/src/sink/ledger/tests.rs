//! The ledger alone, driven the way a writer drives it, on a model of a target: unit tests of its
//! states, and a property test through random writes, rolls, snapshots (some lost), completions
//! (late ones too), failing commits and crashes.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::fs::RelPath;

fn part(name: &str, records: u64) -> ClosedPart {
    ClosedPart {
        bucket: "b".into(),
        committable: Committable {
            path: RelPath::parse(name).unwrap(),
            len: records,
            data: serde_json::Value::Null,
        },
        records,
        closed_at: None,
    }
}

fn handle(name: &str, len: u64) -> ResumeHandle {
    ResumeHandle {
        path: RelPath::parse(name).unwrap(),
        len,
        data: serde_json::Value::Null,
    }
}

fn names(parts: &[&ClosedPart]) -> Vec<String> {
    parts
        .iter()
        .map(|p| p.committable.path.to_string())
        .collect()
}

#[test]
fn a_part_is_closed_then_pending_for_the_next_snapshot_then_gone_once_published() {
    let mut ledger = PartLedger::default();
    ledger.close(part("a", 1));
    assert!(ledger.stored_parts().is_empty(), "no snapshot took it yet");
    assert!(
        ledger.ready(u64::MAX).is_empty(),
        "a closed part is never ready"
    );
    ledger.tag(3);
    ledger.close(part("b", 2));
    assert_eq!(ledger.len(), 2);
    let stored = ledger.stored_parts();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].checkpoint, stored[0].closed_at), (3, 0));
    assert!(ledger.ready(2).is_empty(), "checkpoint 2 does not hold it");
    assert_eq!(names(&ledger.ready(3)), ["a"]);
    assert_eq!(names(&ledger.ready(3)), ["a"], "ready takes nothing away");
    ledger.published(3);
    assert_eq!(ledger.len(), 1);
    ledger.tag(4);
    ledger.tag(5);
    assert_eq!(
        ledger.stored_parts()[0].checkpoint,
        4,
        "a tag is never moved"
    );
    assert_eq!(names(&ledger.ready(9)), ["b"]);
}

#[test]
fn a_snapshot_stores_parts_by_checkpoint_then_in_closing_order() {
    let mut ledger = PartLedger::default();
    ledger.close(part("x", 1));
    ledger.close(part("y", 1));
    ledger.tag(7);
    ledger.close(part("z", 1));
    ledger.tag(5); // ids need not grow: the state still lists by checkpoint
    let stored: Vec<(u64, String)> = ledger
        .stored_parts()
        .into_iter()
        .map(|p| (p.checkpoint, p.committable.path.to_string()))
        .collect();
    assert_eq!(
        stored,
        [(5, "z".to_string()), (7, "x".into()), (7, "y".into())]
    );
    assert_eq!(names(&ledger.ready(6)), ["z"]);
}

#[test]
fn an_old_copy_waits_for_a_checkpoint_after_the_one_that_listed_it() {
    let mut ledger = PartLedger::default();
    ledger.supersede(handle("old", 4));
    assert!(ledger.stored_copies().is_empty());
    assert!(ledger.copies_due(u64::MAX).is_empty());
    ledger.tag(2);
    assert_eq!(ledger.stored_copies(), [handle("old", 4)]);
    assert!(ledger.copies_due(1).is_empty());
    assert_eq!(ledger.copies_due(2), [&handle("old", 4)]);
    ledger.removed(2);
    assert!(ledger.stored_copies().is_empty());
}

#[test]
fn closed_at_crosses_the_state_boundary_as_zero_for_unknown() {
    let mut p = part("a", 1);
    p.closed_at = Some(1234);
    assert_eq!(p.stored(1).closed_at, 1234);
    assert_eq!(ClosedPart::from(p.stored(1)), p);
    let mut unknown = p.stored(1);
    unknown.closed_at = 0;
    assert_eq!(ClosedPart::from(unknown).closed_at, None);
}

// ---------------------------------------------------------------------------------------------
// The property. Records are sequence numbers; a "part" is a named list of them in a model target.

#[derive(Clone, Debug)]
enum Op {
    /// Append records to a bucket's open part (opening one if needed).
    Write { bucket: u8, records: u8 },
    /// Close a bucket's open part into the ledger.
    Roll(u8),
    /// Take a snapshot; store it durably unless `lost`.
    Snapshot { lost: bool },
    /// Complete a stored checkpoint: the newest (0) or an earlier one, delivered late.
    Complete(u8),
    /// The next completion's commits fail after this many succeeded.
    FailCommit(u8),
    /// Drop everything in memory and restore from the newest stored state.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 1u8..4).prop_map(|(bucket, records)| Op::Write { bucket, records }),
        3 => (0u8..3).prop_map(Op::Roll),
        3 => prop::bool::weighted(0.3).prop_map(|lost| Op::Snapshot { lost }),
        3 => (0u8..3).prop_map(Op::Complete),
        1 => (0u8..3).prop_map(Op::FailCommit),
        2 => Just(Op::Crash),
    ]
}

/// A durable checkpoint: what the writer stored, and the source's position at it.
#[derive(Clone, Debug)]
struct Stored {
    id: u64,
    position: u64,
    open: Vec<(u8, ResumeHandle)>,
    pending: Vec<PendingPart>,
    cleanup: Vec<ResumeHandle>,
}

/// The target: unpublished files (in progress, closed, or old copies) and published ones. Local
/// disk semantics: bytes written after a persist stay in the file; a resume cuts them.
#[derive(Default)]
struct Target {
    files: BTreeMap<String, Vec<u64>>,
    published: BTreeMap<String, Vec<u64>>,
    /// Commits that succeed before one fails.
    fail_after: Option<u8>,
    next_name: u64,
}

impl Target {
    fn create(&mut self) -> String {
        self.next_name += 1;
        let name = format!("p{}", self.next_name);
        self.files.insert(name.clone(), Vec::new());
        name
    }

    /// Publishes a part; idempotent, as the storage contract says.
    fn commit(&mut self, c: &Committable) -> Result<bool, TestCaseError> {
        match self.fail_after {
            Some(0) => {
                self.fail_after = None;
                return Ok(false);
            }
            Some(n) => self.fail_after = Some(n - 1),
            None => {}
        }
        let name = c.path.to_string();
        if let Some(done) = self.published.get(&name) {
            prop_assert_eq!(
                done.len() as u64,
                c.len,
                "{} published with another length",
                name
            );
            return Ok(true);
        }
        let Some(mut records) = self.files.remove(&name) else {
            return Err(TestCaseError::fail(format!(
                "{name}: lost before its commit"
            )));
        };
        prop_assert!(
            records.len() as u64 >= c.len,
            "{} shorter than committed",
            name
        );
        records.truncate(c.len as usize);
        self.published.insert(name, records);
        Ok(true)
    }
}

/// One incarnation of a writer: the ledger under test and the open parts around it.
#[derive(Default)]
struct Writer {
    ledger: PartLedger,
    /// Open part of each bucket: its file's name.
    open: BTreeMap<u8, String>,
    /// Parts this incarnation published: the ledger must never hand them out again.
    published: BTreeSet<String>,
}

struct Run {
    target: Target,
    writer: Writer,
    stored: Vec<Stored>,
    position: u64,
    next_id: u64,
    /// Resume by copying (as on HDFS), leaving old copies for the ledger to remove.
    copying: bool,
}

impl Run {
    fn roll(&mut self, bucket: u8) {
        if let Some(name) = self.writer.open.remove(&bucket) {
            let records = self.target.files[&name].len() as u64;
            let mut p = part(&name, records);
            p.bucket = format!("b{bucket}");
            self.writer.ledger.close(p);
        }
    }

    fn snapshot(&mut self, lost: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.writer.ledger.tag(id);
        let open = self
            .writer
            .open
            .iter()
            .map(|(b, name)| (*b, handle(name, self.target.files[name].len() as u64)))
            .collect();
        let stored = Stored {
            id,
            position: self.position,
            open,
            pending: self.writer.ledger.stored_parts(),
            cleanup: self.writer.ledger.stored_copies(),
        };
        if !lost {
            self.stored.push(stored);
        }
    }

    /// What `notify_checkpoint_complete` does, on the model.
    fn complete(&mut self, back: u8) -> Result<(), TestCaseError> {
        let Some(s) = self
            .stored
            .iter()
            .rev()
            .nth(back as usize % self.stored.len().max(1))
        else {
            return Ok(());
        };
        let (id, newest) = (s.id, self.stored.last().unwrap());
        let ledger = &mut self.writer.ledger;
        let ready: Vec<ClosedPart> = ledger.ready(id).into_iter().cloned().collect();
        for p in &ready {
            let name = p.committable.path.to_string();
            prop_assert!(
                s.pending.iter().any(|q| q.committable == p.committable),
                "{} published at checkpoint {}, whose state does not hold it",
                name,
                id
            );
            prop_assert!(
                !self.writer.published.contains(&name),
                "{} handed out again",
                name
            );
        }
        for p in &ready {
            if !self.target.commit(&p.committable)? {
                return Ok(()); // the commit failed: the ledger keeps everything
            }
        }
        ledger.published(id);
        let names = ready.iter().map(|p| p.committable.path.to_string());
        self.writer.published.extend(names);
        for h in ledger.copies_due(id) {
            prop_assert!(
                newest.open.iter().all(|(_, o)| o != h),
                "{} removed while the newest checkpoint resumes from it",
                h.path
            );
            self.target.files.remove(h.path.as_str());
        }
        ledger.removed(id);
        Ok(())
    }

    /// Everything in memory is gone: what `FileSink::recover` and `FileSink::writer` do, from the
    /// newest stored state.
    fn crash(&mut self) -> Result<(), TestCaseError> {
        self.writer = Writer::default();
        let Some(s) = self.stored.last().cloned() else {
            self.target.files.clear();
            self.position = 0;
            return Ok(());
        };
        for h in &s.cleanup {
            self.target.files.remove(h.path.as_str());
        }
        let keep: BTreeSet<String> = s
            .open
            .iter()
            .map(|(_, h)| h.path.to_string())
            .chain(s.pending.iter().map(|p| p.committable.path.to_string()))
            .collect();
        self.target.files.retain(|name, _| keep.contains(name));
        for p in &s.pending {
            prop_assert!(
                self.target.commit(&p.committable)?,
                "injected faults end with a crash"
            );
        }
        for (bucket, h) in &s.open {
            let Some(records) = self.target.files.get_mut(h.path.as_str()) else {
                return Err(TestCaseError::fail(format!(
                    "{}: lost before its resume",
                    h.path
                )));
            };
            prop_assert!(records.len() as u64 >= h.len);
            records.truncate(h.len as usize);
            let name = if self.copying {
                let prefix = records.clone();
                let copy = self.target.create();
                self.target.files.insert(copy.clone(), prefix);
                self.writer.ledger.supersede(h.clone());
                copy
            } else {
                h.path.to_string()
            };
            self.writer.open.insert(*bucket, name);
        }
        self.position = s.position;
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Write { bucket, records } => {
                let name = match self.writer.open.get(&bucket) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.target.create();
                        self.writer.open.insert(bucket, name.clone());
                        name
                    }
                };
                let file = self.target.files.get_mut(&name).unwrap();
                for _ in 0..records {
                    file.push(self.position);
                    self.position += 1;
                }
            }
            Op::Roll(bucket) => self.roll(bucket),
            Op::Snapshot { lost } => self.snapshot(lost),
            Op::Complete(back) => self.complete(back)?,
            Op::FailCommit(after) => self.target.fail_after = Some(after),
            Op::Crash => {
                self.target.fail_after = None;
                self.crash()?;
            }
        }
        // Published records are unique, and all of them are covered by a durable checkpoint.
        let durable = self.stored.last().map_or(0, |s| s.position);
        let mut seen = BTreeSet::new();
        for seq in self.target.published.values().flatten() {
            prop_assert!(seen.insert(*seq), "record {} published twice", seq);
            prop_assert!(
                *seq < durable,
                "record {} published before its checkpoint",
                seq
            );
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>, copying: bool) -> Result<(), TestCaseError> {
    let mut run = Run {
        target: Target::default(),
        writer: Writer::default(),
        stored: Vec::new(),
        position: 0,
        next_id: 1,
        copying,
    };
    for op in ops {
        run.apply(op)?;
    }
    // End of input: roll everything, a last checkpoint, its completion.
    run.target.fail_after = None;
    for bucket in 0..3 {
        run.roll(bucket);
    }
    run.snapshot(false);
    run.complete(0)?;
    prop_assert_eq!(run.writer.ledger.len(), 0, "parts left in the ledger");
    let published: Vec<u64> = run.target.published.values().flatten().copied().collect();
    let mut sorted = published.clone();
    sorted.sort_unstable();
    prop_assert_eq!(
        sorted,
        (0..run.position).collect::<Vec<_>>(),
        "records lost or doubled"
    );
    prop_assert!(
        run.target.files.is_empty(),
        "left unpublished: {:?}",
        run.target.files.keys().collect::<Vec<_>>()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_part_is_published_once_after_its_checkpoint_and_none_is_lost(
        ops in prop::collection::vec(op(), 1..80),
        copying in any::<bool>(),
    ) {
        run(ops, copying)?;
    }
}
