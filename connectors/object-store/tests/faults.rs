//! Injected faults at each step of the object-store protocol, through a real `FileSink` run by the
//! `Job` runtime: the job retries what it can (commits, checkpoint writes) or fails with a clear,
//! retryable error (part uploads, tail writes, hung calls), and after a restart every event is in
//! the output exactly once, with no upload or side object left behind.

mod common;

use std::sync::Arc;
use std::time::Duration;

use connector_object_store::{
    Fault, FaultOp, FaultyStore, MemoryStore, ObjectCheckpointStore, ObjectStoreTarget,
};
use object_store::path::Path;
use object_store::ObjectStore;
use sink_core::runtime::Event;
use sink_core::runtime::{GeneratorConfig, GeneratorSource, Job, JobRunner, JobSummary};
use sink_core::sink::{DateTimeBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder};

/// 64 KiB parts, so a few thousand events cross many part boundaries.
const PART: usize = 64 << 10;
const EVENTS: u64 = 30_000;

struct Rig {
    faulty: Arc<FaultyStore<MemoryStore>>,
    memory: MemoryStore,
    operation_timeout: Duration,
}

impl Rig {
    fn new() -> Rig {
        let memory = MemoryStore::new().with_min_part_size(PART);
        Rig {
            faulty: Arc::new(FaultyStore::new(memory.clone())),
            memory,
            operation_timeout: Duration::from_secs(30),
        }
    }

    fn target(&self) -> ObjectStoreTarget {
        ObjectStoreTarget::builder(Arc::clone(&self.faulty))
            .with_name("memory://faults/lake")
            .with_root(Path::from("lake"))
            .with_part_size(PART)
            .allow_small_parts()
            .with_operation_timeout(self.operation_timeout)
            .build()
            .unwrap()
    }

    fn job(&self) -> JobRunner<Event, Event> {
        let sink = FileSink::for_row_format(self.target(), JsonLinesEncoder::<Event>::new())
            .with_bucket_assigner(
                DateTimeBucketAssigner::new()
                    .with_format("yyyy-MM-dd--HH")
                    .unwrap()
                    .with_event_time(),
            )
            .with_rolling_policy(DefaultRollingPolicy::default())
            .build()
            .unwrap();
        let checkpoints = ObjectCheckpointStore::new(
            self.faulty.clone(),
            Path::from("ckpt/job"),
            "memory://faults/ckpt/job",
        )
        .with_operation_timeout(self.operation_timeout);
        // 30 000 events at 100 000/s: about 15 checkpoints while parts are open and persisted.
        let source = GeneratorSource::new(GeneratorConfig {
            splits: 4,
            count: Some(EVENTS),
            rate: Some(100_000.0),
            step: Duration::from_secs(1),
            ..GeneratorConfig::default()
        })
        .unwrap();
        Job::builder("faults")
            .parallelism(2)
            .checkpoint_interval(Duration::from_millis(20))
            .checkpoint_store(checkpoints)
            .from_source(source)
            .sink_to(sink)
    }

    async fn run(&self) -> sink_core::Result<JobSummary> {
        self.job().run().await
    }

    /// Exactly once, and nothing left in progress: no open upload, no side object.
    async fn assert_clean_and_exact(&self) {
        let store: Arc<dyn ObjectStore> = Arc::new(self.memory.clone());
        let (ids, files) = common::read_events(&store, &Path::from("lake")).await;
        assert!(files > 0);
        common::assert_exactly(&ids, EVENTS);
        assert_eq!(self.memory.open_uploads(), 0, "incomplete uploads left");
        let side = common::keys(&store, &Path::from("lake/_spillway")).await;
        assert!(side.is_empty(), "side objects left: {side:?}");
    }
}

/// A fault that stops the job: the error is clear and retryable, and a restart finishes the work
/// exactly once.
async fn fails_then_restart_is_exact(faults: Vec<Fault>, op: FaultOp, what: &str) {
    let rig = Rig::new();
    for f in faults {
        rig.faulty.inject(f);
    }
    let err = rig.run().await.expect_err("the fault must stop the job");
    assert!(rig.faulty.injected(op) >= 1, "{op:?} fault never fired");
    let msg = err.to_string();
    assert!(msg.contains(what), "unclear error for {op:?}: {msg}");
    assert!(
        err.is_retryable(),
        "{op:?}: a storage fault must be retryable: {msg}"
    );
    rig.faulty.clear();
    let s = rig.run().await.expect("restart after the fault");
    assert!(
        s.restored_from.is_some(),
        "the restart restores a checkpoint"
    );
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn part_upload_fault_stops_the_job_and_restart_is_exact() {
    // The 20th part upload fails: by then checkpoints have completed with parts in flight.
    let rig_fault = Fault::fail(FaultOp::PutPart).times(1);
    let rig = Rig::new();
    // Let some parts through first, so the failure happens mid-run.
    rig.faulty
        .inject(Fault::hang(FaultOp::PutPart, Duration::ZERO).times(20));
    rig.faulty.inject(rig_fault);
    let err = rig
        .run()
        .await
        .expect_err("a failed part upload stops the job");
    assert_eq!(rig.faulty.injected(FaultOp::PutPart), 21);
    assert!(err.to_string().contains("upload part"), "{err}");
    assert!(err.is_retryable(), "{err}");
    rig.faulty.clear();
    let s = rig.run().await.unwrap();
    assert!(s.restored_from.is_some());
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn tail_write_fault_stops_the_job_and_restart_is_exact() {
    // A few persists succeed (checkpoints complete), then a tail write fails.
    let faults = vec![
        Fault::hang(FaultOp::Put, Duration::ZERO)
            .matching("_spillway/tails/")
            .times(8),
        Fault::fail(FaultOp::Put)
            .matching("_spillway/tails/")
            .times(1),
    ];
    fails_then_restart_is_exact(faults, FaultOp::Put, "put tail").await;
}

#[tokio::test]
async fn upload_start_fault_stops_the_job_and_restart_is_exact() {
    let fault = Fault::fail(FaultOp::CreateMultipart).times(1);
    // The first open fails before any checkpoint: the restart starts fresh.
    let rig = Rig::new();
    rig.faulty.inject(fault);
    let err = rig.run().await.expect_err("a failed open stops the job");
    assert!(err.to_string().contains("create multipart upload"), "{err}");
    rig.faulty.clear();
    rig.run().await.unwrap();
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn complete_faults_are_retried_by_the_sink() {
    let rig = Rig::new();
    rig.faulty
        .inject(Fault::fail(FaultOp::CompleteMultipart).times(3));
    let s = rig
        .run()
        .await
        .expect("the commit backoff absorbs 3 failures");
    assert!(s.input_ended);
    assert_eq!(rig.faulty.injected(FaultOp::CompleteMultipart), 3);
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn complete_failing_always_stops_the_job_and_restart_commits() {
    let faults = vec![Fault::fail(FaultOp::CompleteMultipart).always()];
    fails_then_restart_is_exact(
        faults,
        FaultOp::CompleteMultipart,
        "complete multipart upload",
    )
    .await;
}

#[tokio::test]
async fn checkpoint_write_faults_are_tolerated() {
    let rig = Rig::new();
    rig.faulty
        .inject(Fault::fail(FaultOp::Put).matching("chk-").times(2));
    let s = rig
        .run()
        .await
        .expect("two failed checkpoints are tolerated");
    assert!(s.input_ended);
    assert_eq!(rig.faulty.injected(FaultOp::Put), 2);
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn checkpoint_write_failing_always_stops_the_job_and_restart_is_exact() {
    let rig = Rig::new();
    // Let a few checkpoints complete first, then every write fails.
    rig.faulty.inject(
        Fault::hang(FaultOp::Put, Duration::ZERO)
            .matching("chk-")
            .times(3),
    );
    rig.faulty
        .inject(Fault::fail(FaultOp::Put).matching("chk-").always());
    let err = rig
        .run()
        .await
        .expect_err("checkpoints failing in a row stop the job");
    let msg = err.to_string();
    assert!(msg.contains("checkpoints in a row failed"), "{msg}");
    assert!(msg.contains("chk-"), "names the document: {msg}");
    rig.faulty.clear();
    let s = rig.run().await.unwrap();
    assert!(s.restored_from.is_some());
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn hung_part_upload_is_bounded_and_restart_is_exact() {
    let mut rig = Rig::new();
    rig.operation_timeout = Duration::from_millis(300);
    rig.faulty
        .inject(Fault::hang(FaultOp::PutPart, Duration::ZERO).times(10));
    rig.faulty
        .inject(Fault::hang(FaultOp::PutPart, Duration::from_secs(3600)).times(1));
    let started = std::time::Instant::now();
    let err = rig
        .run()
        .await
        .expect_err("a hung part upload stops the job");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded: {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("operation_timeout"), "{err}");
    assert!(err.is_retryable(), "{err}");
    rig.faulty.clear();
    rig.run().await.unwrap();
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn hung_complete_is_bounded_and_retried() {
    let mut rig = Rig::new();
    rig.operation_timeout = Duration::from_millis(300);
    rig.faulty
        .inject(Fault::hang(FaultOp::CompleteMultipart, Duration::from_secs(3600)).times(2));
    let s = rig.run().await.expect("two hung completions are retried");
    assert!(s.input_ended);
    rig.assert_clean_and_exact().await;
}

#[tokio::test]
async fn failed_side_object_cleanup_does_not_fail_the_commit() {
    let rig = Rig::new();
    rig.faulty.inject(
        Fault::fail(FaultOp::Delete)
            .matching("_spillway/uploads/")
            .times(2),
    );
    let s = rig.run().await.expect("best-effort cleanup");
    assert!(s.input_ended);
    let store: Arc<dyn ObjectStore> = Arc::new(rig.memory.clone());
    let (ids, _) = common::read_events(&store, &Path::from("lake")).await;
    common::assert_exactly(&ids, EVENTS);
    // Two markers stayed behind; the next start's recovery removes them.
    let markers = common::keys(&store, &Path::from("lake/_spillway/uploads")).await;
    assert_eq!(markers.len(), 2, "{markers:?}");
    rig.run().await.unwrap();
    rig.assert_clean_and_exact().await;
}

/// Drops the running job once it has completed `checkpoints` more checkpoints and `extra_ms`
/// more have passed: an in-process crash.
async fn crash_after(runner: JobRunner<Event, Event>, checkpoints: u64, extra_ms: u64) {
    let progress = runner.progress();
    let job = tokio::spawn(runner.run());
    while progress
        .checkpoints_completed
        .load(std::sync::atomic::Ordering::Relaxed)
        < checkpoints
    {
        assert!(!job.is_finished(), "the job ended before the crash point");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(extra_ms)).await;
    job.abort();
    let _ = job.await;
    // Upload starts run in their own task so that each leaves a marker; let them land.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_restarts_on_memory_are_exactly_once() {
    let rig = Rig::new();
    for (checkpoints, ms) in [(0, 40), (1, 13), (2, 0), (1, 29)] {
        crash_after(rig.job(), checkpoints, ms).await;
    }
    let s = rig.run().await.unwrap();
    assert!(s.restored_from.is_some());
    assert!(s.input_ended);
    rig.assert_clean_and_exact().await;
}
