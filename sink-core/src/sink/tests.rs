//! Tests of the file sink against the crash-simulating in-memory target and the local disk.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use proptest::prelude::*;

use super::*;
use crate::error::{Error, Result};
use crate::fs::testing::{MemOp, MemTarget, ReadBack};
use crate::fs::{
    Capabilities, Committable, InProgress, LocalTarget, LocalTargetOptions, RecoverableStream,
    RecoverableWriter, RelPath, ResumeHandle,
};

#[derive(Clone, Debug)]
struct Rec {
    seq: u64,
    bucket: u8,
}

impl fmt::Display for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seq)
    }
}

impl FieldAccess for Rec {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match name {
            "seq" => Some(FieldValue::UInt(self.seq)),
            "bucket" => Some(FieldValue::UInt(self.bucket as u64)),
            _ => None,
        }
    }
}

fn by_bucket(r: &Rec, _: &Context, b: &mut String) -> std::result::Result<(), AssignError> {
    if r.bucket == 255 {
        return Err(AssignError("bucket 255 is refused".into()));
    }
    b.push('b');
    b.push_str(itoa::Buffer::new().format(r.bucket));
    Ok(())
}

fn ctx(now: i64) -> Context {
    Context {
        processing_time: now,
        ..Context::default()
    }
}

fn rec(seq: u64, bucket: u8) -> Rec {
    Rec { seq, bucket }
}

fn row_sink(target: impl IntoTarget, policy: impl RollingPolicy<Rec>) -> FileSink<Rec> {
    FileSink::for_row_format(target, SimpleStringEncoder::<Rec>::new())
        .with_bucket_assigner(by_bucket as fn(&Rec, &Context, &mut String) -> _)
        .with_rolling_policy(policy)
        .build()
        .unwrap()
}

/// Every published line, parsed as a sequence number, with the file it is in.
async fn published_seqs(target: &impl ReadBack) -> Vec<(u64, RelPath)> {
    let mut out = Vec::new();
    for path in target.list(&RelPath::root()).await.unwrap() {
        if path.as_str().starts_with(DEFAULT_DEAD_LETTER_BUCKET) {
            continue;
        }
        let bytes = target.read(&path).await.unwrap().unwrap();
        for line in String::from_utf8(bytes).unwrap().lines() {
            out.push((line.parse().unwrap(), path.clone()));
        }
    }
    out
}

#[tokio::test]
async fn hidden_until_checkpoint_completes_then_published_by_bucket() {
    let target = MemTarget::new();
    let sink = row_sink(target.clone(), OnCheckpointRollingPolicy::build());
    let mut w = sink
        .writer(WriterContext::new(3, "r"), vec![])
        .await
        .unwrap();
    for i in 0..10 {
        w.write(&rec(i, (i % 2) as u8), &ctx(0)).await.unwrap();
    }
    assert_eq!(w.open_parts(), 2);
    let state = w.snapshot(1).await.unwrap();
    assert_eq!(state.pending.len(), 2);
    assert!(
        state.open.is_empty(),
        "on-checkpoint policy rolls everything"
    );
    assert!(
        target.published().is_empty(),
        "nothing visible before completion"
    );
    let report = w.notify_checkpoint_complete(1).await.unwrap();
    assert_eq!(report.files, 2);
    assert_eq!(report.records, 10);
    let files: Vec<String> = target.published().keys().map(|p| p.to_string()).collect();
    assert_eq!(files, vec!["b0/part-r-3-0.txt", "b1/part-r-3-1.txt"]);
    assert_eq!(
        target.published()[&RelPath::parse("b0/part-r-3-0.txt").unwrap()],
        b"0\n2\n4\n6\n8\n"
    );
    assert_eq!(w.pending_parts(), 0);
    assert_eq!(w.buckets_seen(), 2);
}

#[tokio::test]
async fn default_policy_keeps_parts_open_across_checkpoints_and_rolls_on_size() {
    let target = MemTarget::new();
    let sink = row_sink(
        target.clone(),
        DefaultRollingPolicy::builder()
            .with_max_part_size(10)
            .build(),
    );
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(1, 0), &ctx(0)).await.unwrap();
    let s1 = w.snapshot(1).await.unwrap();
    assert_eq!(s1.open.len(), 1, "a small part stays open");
    assert_eq!(s1.open[0].handle.len, 2);
    w.notify_checkpoint_complete(1).await.unwrap();
    assert!(target.published().is_empty());
    // "1\n" + 5 * "1000\n" = 27 bytes: the part rolls once it is larger than 10 bytes.
    for _ in 0..5 {
        w.write(&rec(1000, 0), &ctx(1)).await.unwrap();
    }
    w.close_all().await.unwrap();
    w.snapshot(2).await.unwrap();
    w.notify_checkpoint_complete(2).await.unwrap();
    let sizes: Vec<usize> = target.published().values().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![12, 15],
        "rolled when size > 10 before the next record"
    );
}

#[tokio::test]
async fn time_based_rolls_fire_on_the_tick_without_records() {
    let target = MemTarget::new();
    let policy = DefaultRollingPolicy::builder()
        .with_rollover_interval(Duration::from_millis(1000))
        .with_inactivity_interval(Duration::from_millis(300))
        .build();
    let sink = row_sink(target.clone(), policy);
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(1, 0), &ctx(0)).await.unwrap();
    w.write(&rec(2, 1), &ctx(250)).await.unwrap();
    w.on_processing_time(299).await.unwrap();
    assert_eq!(w.open_parts(), 2);
    w.on_processing_time(300).await.unwrap();
    assert_eq!(
        w.open_parts(),
        1,
        "b0 inactive for 300 ms rolls on the tick"
    );
    w.write(&rec(3, 1), &ctx(800)).await.unwrap();
    w.on_processing_time(999).await.unwrap();
    assert_eq!(w.open_parts(), 1);
    w.write(&rec(4, 1), &ctx(1100)).await.unwrap();
    w.on_processing_time(1250).await.unwrap();
    assert_eq!(w.open_parts(), 0, "b1 older than 1000 ms rolls on the tick");
    w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    assert_eq!(target.published().len(), 2);
}

#[tokio::test]
async fn restore_resumes_open_parts_cuts_lost_bytes_and_never_reuses_names() {
    let target = MemTarget::new();
    let sink = row_sink(target.clone(), DefaultRollingPolicy::default());
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    for i in 0..3 {
        w.write(&rec(i, 0), &ctx(0)).await.unwrap();
    }
    let s1 = w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    for i in 3..6 {
        w.write(&rec(i, 0), &ctx(0)).await.unwrap();
        w.write(&rec(i, 1), &ctx(0)).await.unwrap(); // opens part 1 in b1 after the checkpoint
    }
    let _s2_never_stored = w.snapshot(2).await.unwrap();
    drop(w);
    target.crash();
    let report = sink.recover("r", std::slice::from_ref(&s1)).await.unwrap();
    assert_eq!(
        report.orphans_deleted, 1,
        "b1's part was opened after checkpoint 1"
    );
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![s1])
        .await
        .unwrap();
    assert_eq!(w.open_parts(), 1);
    for i in 3..5 {
        w.write(&rec(i, 0), &ctx(0)).await.unwrap();
        w.write(&rec(i, 1), &ctx(0)).await.unwrap();
    }
    w.close_all().await.unwrap();
    w.snapshot(3).await.unwrap();
    w.notify_checkpoint_complete(3).await.unwrap();
    let published = target.published();
    let names: Vec<String> = published.keys().map(|p| p.to_string()).collect();
    assert_eq!(names, vec!["b0/part-r-0-0.txt", "b1/part-r-0-1.txt"]);
    assert_eq!(published.values().next().unwrap(), b"0\n1\n2\n3\n4\n");
    assert_eq!(target.in_progress_count(), 0);
}

#[tokio::test]
async fn pending_parts_of_a_restored_checkpoint_are_published_once() {
    let target = MemTarget::new();
    let sink = row_sink(target.clone(), OnCheckpointRollingPolicy::build());
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(7, 0), &ctx(0)).await.unwrap();
    let s1 = w.snapshot(1).await.unwrap();
    drop(w); // crash after the checkpoint is stored, before notification
    target.crash();
    sink.recover("r", std::slice::from_ref(&s1)).await.unwrap();
    let w = sink
        .writer(WriterContext::new(0, "r"), vec![s1.clone()])
        .await
        .unwrap();
    assert_eq!(target.published().len(), 1);
    drop(w); // crash again right after: the restore commits again, idempotently
    sink.recover("r", std::slice::from_ref(&s1)).await.unwrap();
    let _w = sink
        .writer(WriterContext::new(0, "r"), vec![s1])
        .await
        .unwrap();
    assert_eq!(published_seqs(&target).await.len(), 1);
}

#[tokio::test]
async fn bad_records_leave_the_sink_unchanged() {
    struct Picky;
    impl RowEncoder<Rec> for Picky {
        fn encode(&self, r: &Rec, out: &mut Vec<u8>) -> std::result::Result<(), EncodeError> {
            let mark = out.len();
            out.extend_from_slice(b"partial");
            if r.seq == 13 {
                return Err(EncodeError("13 is unlucky".into()));
            }
            out.truncate(mark);
            out.extend_from_slice(format!("{}\n", r.seq).as_bytes());
            Ok(())
        }
    }
    let target = MemTarget::new();
    let sink = FileSink::for_row_format(target.clone(), Picky)
        .with_bucket_assigner(by_bucket as fn(&Rec, &Context, &mut String) -> _)
        .with_rolling_policy(OnCheckpointRollingPolicy::build())
        .build()
        .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(1, 0), &ctx(0)).await.unwrap();
    match w.write(&rec(13, 0), &ctx(0)).await {
        Err(WriteError::BadRecord(r)) => assert!(r.contains("unlucky")),
        other => panic!("expected a bad record, got {other:?}"),
    }
    match w.write(&rec(2, 255), &ctx(0)).await {
        Err(WriteError::BadRecord(r)) => assert!(r.contains("refused")),
        other => panic!("expected a bad record, got {other:?}"),
    }
    w.write_dead_letter(
        &DeadLetter::new("test/0@13", "13 is unlucky", Some(b"13"), 0),
        0,
    )
    .await
    .unwrap();
    w.write(&rec(3, 0), &ctx(0)).await.unwrap();
    w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    let p = target.published();
    assert_eq!(p[&RelPath::parse("b0/part-r-0-0").unwrap()], b"1\n3\n");
    let dl = p
        .iter()
        .find(|(k, _)| k.as_str().starts_with("_dead_letter/part-r-0-"))
        .expect("dead letter published");
    let letter: DeadLetter = serde_json::from_slice(dl.1.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(letter.origin, "test/0@13");
    assert_eq!(letter.payload.as_deref(), Some("13"));
}

#[tokio::test]
async fn csv_header_once_per_part_not_again_after_resume() {
    let target = MemTarget::new();
    let sink = FileSink::for_row_format(
        target.clone(),
        CsvEncoder::new(["seq", "bucket"]).with_header(true),
    )
    .with_bucket_assigner(BasePathBucketAssigner)
    .build()
    .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(1, 5), &ctx(0)).await.unwrap();
    let s1 = w.snapshot(1).await.unwrap();
    drop(w);
    target.crash();
    sink.recover("r", std::slice::from_ref(&s1)).await.unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![s1])
        .await
        .unwrap();
    w.write(&rec(2, 6), &ctx(0)).await.unwrap();
    w.close_all().await.unwrap();
    w.write(&rec(3, 7), &ctx(0)).await.unwrap();
    w.close_all().await.unwrap();
    w.snapshot(2).await.unwrap();
    w.notify_checkpoint_complete(2).await.unwrap();
    let files: Vec<Vec<u8>> = target.published().into_values().collect();
    assert_eq!(
        files,
        vec![
            b"seq,bucket\n1,5\n2,6\n".to_vec(),
            b"seq,bucket\n3,7\n".to_vec()
        ]
    );
}

#[tokio::test]
async fn changed_parallelism_merges_states() {
    let target = MemTarget::new();
    let sink = row_sink(target.clone(), DefaultRollingPolicy::default());
    let mut a = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    let mut b = sink
        .writer(WriterContext::new(1, "r"), vec![])
        .await
        .unwrap();
    a.write(&rec(1, 0), &ctx(0)).await.unwrap();
    b.write(&rec(2, 0), &ctx(0)).await.unwrap();
    b.write(&rec(3, 1), &ctx(0)).await.unwrap();
    let sa = a.snapshot(1).await.unwrap();
    let sb = b.snapshot(1).await.unwrap();
    drop((a, b));
    let states = vec![sa, sb];
    sink.recover("r", &states).await.unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), states)
        .await
        .unwrap();
    assert_eq!(
        w.open_parts(),
        2,
        "b0 twice: one continues, the other is published"
    );
    assert_eq!(w.pending_parts(), 1);
    w.write(&rec(4, 0), &ctx(0)).await.unwrap();
    w.close_all().await.unwrap();
    w.snapshot(2).await.unwrap();
    w.notify_checkpoint_complete(2).await.unwrap();
    let mut seqs: Vec<u64> = published_seqs(&target)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    seqs.sort();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    let names: Vec<String> = target.published().keys().map(|p| p.to_string()).collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with("-0-0.txt") || n.starts_with("b0/")),
        "{names:?}"
    );
    assert_eq!(names.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn transient_commit_failures_are_retried() {
    let target = MemTarget::new();
    let sink = row_sink(target.clone(), OnCheckpointRollingPolicy::build());
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&rec(1, 0), &ctx(0)).await.unwrap();
    w.snapshot(1).await.unwrap();
    target.fail_next(MemOp::Commit, 2);
    w.notify_checkpoint_complete(1).await.unwrap();
    assert_eq!(target.published().len(), 1);
}

/// A commit that fails for good (retries used up) leaves every part pending as it was: the next
/// snapshot stores them again, and the next completion publishes them.
#[tokio::test(start_paused = true)]
async fn a_failed_commit_leaves_the_parts_pending() {
    let target = MemTarget::new();
    let mut w = row_sink(target.clone(), OnCheckpointRollingPolicy::build())
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    for (seq, bucket) in [(1, 0), (2, 1)] {
        w.write(&rec(seq, bucket), &ctx(0)).await.unwrap();
    }
    let s1 = w.snapshot(1).await.unwrap();
    target.fail_next(MemOp::Commit, 1000);
    let e = w.notify_checkpoint_complete(1).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(w.pending_parts(), 2);
    assert!(target.published().is_empty());
    target.fail_next(MemOp::Commit, 0);
    let s2 = w.snapshot(2).await.unwrap();
    assert_eq!(s2.pending, s1.pending, "still pending for checkpoint 1");
    let report = w.notify_checkpoint_complete(2).await.unwrap();
    assert_eq!((report.files, report.records), (2, 2));
    assert_eq!(w.pending_parts(), 0);
    assert_eq!(published_seqs(&target).await.len(), 2);
}

/// A bulk format for tests: records as length-prefixed text, buffered until `flush`, and a trailer.
struct Framed {
    buffered: Vec<u8>,
    out: Vec<u8>,
    flushes: usize,
}

impl BulkWriter<Rec> for Framed {
    fn add(&mut self, r: &Rec) -> std::result::Result<(), WriteError> {
        let s = r.seq.to_string();
        self.buffered.push(s.len() as u8);
        self.buffered.extend_from_slice(s.as_bytes());
        if self.buffered.len() > 4096 {
            self.flush()?;
        }
        Ok(())
    }
    fn take_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }
    fn buffered_bytes(&self) -> usize {
        self.buffered.capacity() + self.out.len()
    }
    fn flush(&mut self) -> Result<()> {
        self.out.append(&mut self.buffered);
        self.buffered = Vec::new();
        self.flushes += 1;
        Ok(())
    }
    fn finish(mut self: Box<Self>, out: &mut Vec<u8>) -> Result<()> {
        self.flush()?;
        out.append(&mut self.out);
        out.extend_from_slice(format!("END{}", self.flushes).as_bytes());
        Ok(())
    }
}

struct FramedFactory;

impl BulkWriterFactory<Rec> for FramedFactory {
    fn create(&self, _: &RelPath) -> Result<Box<dyn BulkWriter<Rec>>> {
        Ok(Box::new(Framed {
            buffered: Vec::new(),
            out: Vec::new(),
            flushes: 0,
        }))
    }
    fn suffix(&self) -> &str {
        ".framed"
    }
}

fn unframe(bytes: &[u8]) -> Vec<u64> {
    let end = bytes
        .windows(3)
        .rposition(|w| w == b"END")
        .expect("trailer");
    let mut i = 0;
    let mut out = Vec::new();
    while i < end {
        let n = bytes[i] as usize;
        out.push(
            std::str::from_utf8(&bytes[i + 1..i + 1 + n])
                .unwrap()
                .parse()
                .unwrap(),
        );
        i += 1 + n;
    }
    out
}

#[tokio::test]
async fn bulk_parts_roll_at_every_checkpoint_and_restore_cleanly() {
    let target = MemTarget::new();
    let sink = FileSink::for_bulk_format(target.clone(), FramedFactory)
        .with_bucket_assigner(by_bucket as fn(&Rec, &Context, &mut String) -> _)
        .with_rolling_policy(OnCheckpointRollingPolicy::build().with_max_part_size(1 << 20))
        .build()
        .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    for i in 0..100 {
        w.write(&rec(i, (i % 3) as u8), &ctx(0)).await.unwrap();
    }
    let s = w.snapshot(1).await.unwrap();
    assert!(s.open.is_empty());
    assert_eq!(s.pending.len(), 3);
    for i in 100..110 {
        w.write(&rec(i, 0), &ctx(0)).await.unwrap();
    }
    drop(w);
    target.crash();
    sink.recover("r", std::slice::from_ref(&s)).await.unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![s])
        .await
        .unwrap();
    for i in 100..110 {
        w.write(&rec(i, 0), &ctx(0)).await.unwrap();
    }
    w.snapshot(2).await.unwrap();
    w.notify_checkpoint_complete(2).await.unwrap();
    let mut all: Vec<u64> = target
        .published()
        .values()
        .flat_map(|b| unframe(b))
        .collect();
    all.sort();
    assert_eq!(all, (0..110).collect::<Vec<_>>());
    assert!(target
        .published()
        .keys()
        .all(|k| k.as_str().ends_with(".framed")));
    assert_eq!(target.in_progress_count(), 0);
}

#[tokio::test]
async fn memory_budget_holds_with_many_open_buckets() {
    let target = MemTarget::new();
    let budget = 64 * 1024;
    let sink = FileSink::for_bulk_format(target.clone(), FramedFactory)
        .with_bucket_assigner(by_bucket as fn(&Rec, &Context, &mut String) -> _)
        .with_memory_budget(budget)
        .build()
        .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    let mut peak = 0;
    for i in 0..50_000u64 {
        w.write(&rec(i, (i % 250) as u8), &ctx(0)).await.unwrap();
        peak = peak.max(w.memory());
    }
    assert!(
        peak <= budget + 16 * 1024,
        "peak {peak} over budget {budget}"
    );
    w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    let mut all: Vec<u64> = target
        .published()
        .values()
        .flat_map(|b| unframe(b))
        .collect();
    all.sort();
    assert_eq!(all, (0..50_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn local_disk_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::for_row_format(
        LocalTarget::new(dir.path()).unwrap(),
        JsonLinesEncoder::<serde_json::Value>::new(),
    )
    .with_bucket_assigner(FieldBucketAssigner::hive(["country"]).unwrap())
    .build()
    .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "x"), vec![])
        .await
        .unwrap();
    for (i, c) in ["DE", "FR", "../../etc", "DE"].iter().enumerate() {
        w.write(&serde_json::json!({"i": i, "country": c}), &ctx(0))
            .await
            .unwrap();
    }
    w.close_all().await.unwrap();
    w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    let target = LocalTarget::new(dir.path()).unwrap();
    let files = target.list(&RelPath::root()).await.unwrap();
    let names: Vec<&str> = files.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "country=%2E.%2F..%2Fetc/part-x-0-2.json",
            "country=DE/part-x-0-0.json",
            "country=FR/part-x-0-1.json"
        ]
    );
    let de = std::fs::read_to_string(dir.path().join("country=DE/part-x-0-0.json")).unwrap();
    assert_eq!(
        de,
        "{\"country\":\"DE\",\"i\":0}\n{\"country\":\"DE\",\"i\":3}\n"
    );
}

#[test]
fn output_file_config_is_checked() {
    let t = MemTarget::new();
    for (prefix, suffix) in [
        ("", ""),
        (".hidden", ""),
        ("_x", ""),
        ("a/b", ""),
        ("p", "/x"),
    ] {
        let r = FileSink::for_row_format(t.clone(), SimpleStringEncoder::<String>::new())
            .with_output_file_config(
                OutputFileConfig::builder()
                    .with_part_prefix(prefix)
                    .with_part_suffix(suffix)
                    .build(),
            )
            .build();
        assert!(r.is_err(), "{prefix:?} {suffix:?}");
    }
    let r = FileSink::for_row_format(t, SimpleStringEncoder::<String>::new())
        .with_dead_letter_bucket("../dl")
        .build();
    assert!(r.is_err());
}

// ---------------------------------------------------------------------------------------------
// The property: random records, ticks, checkpoints, completions and crashes end with published
// files holding exactly the records of completed checkpoints, once each.

#[derive(Clone, Debug)]
enum Op {
    /// Write records to these buckets.
    Write(Vec<u8>),
    /// Advance processing time and tick.
    Tick(i64),
    /// Snapshot; stored durably unless `lost` (a crash between snapshot and store).
    Checkpoint { lost: bool },
    /// Deliver the completion of the newest stored checkpoint.
    Notify,
    /// Crash and restore from the newest stored checkpoint.
    Crash,
    /// A commit fails transiently on the next notification.
    FlakyCommit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(0u8..4, 1..12).prop_map(Op::Write),
        2 => (1i64..400).prop_map(Op::Tick),
        3 => prop::bool::weighted(0.25).prop_map(|lost| Op::Checkpoint { lost }),
        3 => Just(Op::Notify),
        2 => Just(Op::Crash),
        1 => Just(Op::FlakyCommit),
    ]
}

#[derive(Clone)]
struct Stored {
    id: u64,
    position: u64,
    state: FileSinkState,
}

/// A target the crash property runs on.
#[async_trait]
trait CrashTarget: RecoverableWriter + ReadBack + Clone {
    /// What a crash of the writing process does to the data (the caller drops every object).
    fn crash(&self);
    /// Makes the next `n` commits fail with a retryable error.
    fn fail_commits(&self, n: u32);
    /// In-progress files left.
    async fn in_progress(&self) -> usize;
}

#[async_trait]
impl CrashTarget for MemTarget {
    fn crash(&self) {
        MemTarget::crash(self);
    }
    fn fail_commits(&self, n: u32) {
        self.fail_next(MemOp::Commit, n);
    }
    async fn in_progress(&self) -> usize {
        self.in_progress_count()
    }
}

/// Local disk whose commits can be made to fail. A crash leaves the disk as it is: bytes written
/// after the last persist stay in the hidden file, and a resume cuts them.
#[derive(Clone, Debug)]
struct FlakyLocal {
    inner: LocalTarget,
    failing: Arc<AtomicU32>,
}

impl FlakyLocal {
    /// Without fsync: the property is about process crashes, and it runs hundreds of jobs.
    fn new(dir: &std::path::Path) -> Self {
        FlakyLocal {
            inner: LocalTarget::with_options(dir, LocalTargetOptions { sync: false }).unwrap(),
            failing: Arc::default(),
        }
    }
}

impl fmt::Display for FlakyLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flaky {}", self.inner)
    }
}

#[async_trait]
impl RecoverableWriter for FlakyLocal {
    async fn open(&self, path: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        self.inner.open(path).await
    }
    async fn resume(&self, handle: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        self.inner.resume(handle).await
    }
    async fn commit(&self, c: &Committable) -> Result<()> {
        let fail = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if fail.is_ok() {
            return Err(Error::storage(
                "flaky",
                "commit",
                &c.path,
                "failed on purpose",
            ));
        }
        self.inner.commit(c).await
    }
    async fn cleanup(&self, handle: &ResumeHandle) -> Result<()> {
        self.inner.cleanup(handle).await
    }
    async fn sync_commits(&self, committed: &[RelPath]) -> Result<()> {
        self.inner.sync_commits(committed).await
    }
    async fn list_in_progress(&self, name_prefix: &str) -> Result<Vec<InProgress>> {
        self.inner.list_in_progress(name_prefix).await
    }
    async fn delete_in_progress(&self, item: &InProgress) -> Result<()> {
        self.inner.delete_in_progress(item).await
    }
    fn same_in_progress(&self, item: &InProgress, data: &serde_json::Value) -> bool {
        self.inner.same_in_progress(item, data)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

#[async_trait]
impl ReadBack for FlakyLocal {
    async fn read(&self, path: &RelPath) -> Result<Option<Vec<u8>>> {
        self.inner.read(path).await
    }
    async fn list(&self, dir: &RelPath) -> Result<Vec<RelPath>> {
        self.inner.list(dir).await
    }
}

#[async_trait]
impl CrashTarget for FlakyLocal {
    fn crash(&self) {}
    fn fail_commits(&self, n: u32) {
        self.failing.store(n, Ordering::SeqCst);
    }
    async fn in_progress(&self) -> usize {
        self.inner.list_in_progress("").await.unwrap().len()
    }
}

async fn run_ops(
    target: impl CrashTarget,
    ops: Vec<Op>,
    policy_kind: u8,
) -> std::result::Result<(), TestCaseError> {
    let sink = match policy_kind {
        0 => row_sink(target.clone(), OnCheckpointRollingPolicy::build()),
        1 => row_sink(
            target.clone(),
            DefaultRollingPolicy::builder()
                .with_max_part_size(12)
                .with_rollover_interval(Duration::from_millis(500))
                .with_inactivity_interval(Duration::from_millis(200))
                .build(),
        ),
        _ => row_sink(
            target.clone(),
            OnCheckpointRollingPolicy::build().with_max_part_size(20),
        ),
    };
    let mut writer = sink
        .writer(WriterContext::new(0, "p"), vec![])
        .await
        .unwrap();
    let mut position = 0u64; // the next sequence number the "source" emits
    let mut now = 0i64;
    let mut next_id = 1u64;
    let mut stored: Option<Stored> = None;
    for op in ops {
        match op {
            Op::Write(buckets) => {
                for b in buckets {
                    writer.write(&rec(position, b), &ctx(now)).await.unwrap();
                    position += 1;
                }
            }
            Op::Tick(d) => {
                now += d;
                writer.on_processing_time(now).await.unwrap();
            }
            Op::Checkpoint { lost } => {
                let state = writer.snapshot(next_id).await.unwrap();
                if !lost {
                    stored = Some(Stored {
                        id: next_id,
                        position,
                        state,
                    });
                }
                next_id += 1;
            }
            Op::Notify => {
                if let Some(s) = &stored {
                    writer.notify_checkpoint_complete(s.id).await.unwrap();
                }
            }
            Op::FlakyCommit => target.fail_commits(1),
            Op::Crash => {
                drop(writer);
                target.crash();
                let states: Vec<FileSinkState> = stored.iter().map(|s| s.state.clone()).collect();
                position = stored.as_ref().map_or(0, |s| s.position);
                sink.recover("p", &states).await.unwrap();
                writer = sink
                    .writer(WriterContext::new(0, "p"), states)
                    .await
                    .unwrap();
            }
        }
        // Invariant: published records are unique and all from a durable checkpoint.
        let durable = stored.as_ref().map_or(0, |s| s.position);
        let mut seen = std::collections::HashSet::new();
        for (seq, path) in published_seqs(&target).await {
            prop_assert!(seen.insert(seq), "seq {} published twice ({})", seq, path);
            prop_assert!(
                seq < durable,
                "seq {} published before its checkpoint ({} durable)",
                seq,
                durable
            );
        }
    }
    // End of input: a final checkpoint publishes everything.
    writer.close_all().await.unwrap();
    writer.snapshot(next_id).await.unwrap();
    writer.notify_checkpoint_complete(next_id).await.unwrap();
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for (seq, _) in published_seqs(&target).await {
        *counts.entry(seq).or_default() += 1;
    }
    let want: BTreeMap<u64, usize> = (0..position).map(|s| (s, 1)).collect();
    prop_assert_eq!(counts, want);
    prop_assert_eq!(
        target.in_progress().await,
        0,
        "in-progress data left behind"
    );
    Ok(())
}

/// A runtime on tokio's paused clock: commit retries wait no real time.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn exactly_once_under_random_crashes(ops in prop::collection::vec(op(), 1..60), policy in 0u8..3) {
        paused_runtime().block_on(run_ops(MemTarget::new(), ops, policy))?;
    }
}

proptest! {
    // Fewer cases: each is a tempdir and real files.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The same on local disk, where a crash keeps the bytes written since the last persist.
    #[test]
    fn exactly_once_under_random_crashes_on_local_disk(ops in prop::collection::vec(op(), 1..60), policy in 0u8..3) {
        let dir = tempfile::tempdir().unwrap();
        paused_runtime().block_on(run_ops(FlakyLocal::new(dir.path()), ops, policy))?;
    }
}
