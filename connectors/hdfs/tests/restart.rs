//! HDFS restarted under a running job: the job waits and goes on, and the output is still exact.
//!
//! Runs `integration/services/hdfs.sh restart` (namenode and datanode stop, then start keeping their
//! data), so it only runs against an HDFS that script started on this machine: it is alone in
//! its test binary so that no other test of this crate sees the outage.

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sink_core::runtime::{
    CheckpointManager, CheckpointStore, Event, GeneratorSource, Job, JobProgress, JobSummary,
};
use sink_core::sink::{BasePathBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder};

fn restart_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration/services/hdfs.sh")
}

/// A running job and what the test needs of it.
struct Running {
    name: &'static str,
    base: String,
    target: connector_hdfs::HdfsTarget,
    store: Arc<dyn CheckpointStore>,
    progress: Arc<JobProgress>,
    stop: tokio::sync::oneshot::Sender<()>,
    job: tokio::task::JoinHandle<sink_core::Result<JobSummary>>,
}

/// Starts a job from the generator (`rate` events/s) into a fresh directory, through a target
/// with `options`.
async fn start(
    name: &'static str,
    url: &str,
    options: connector_hdfs::HdfsOptions,
    rolling: DefaultRollingPolicy,
    parallelism: usize,
    checkpoint_interval: Duration,
    rate: f64,
) -> Running {
    let base = unique_dir(url, &format!("restart-{name}"));
    let store: Arc<dyn CheckpointStore> = Arc::new(
        connector_hdfs::HdfsCheckpointStore::connect(&format!("{base}/checkpoints"), &options)
            .await
            .expect("connect checkpoint store"),
    );
    let target = connector_hdfs::HdfsTarget::connect(&format!("{base}/out"), &options)
        .await
        .expect("connect target");
    let sink = FileSink::for_row_format(target.clone(), JsonLinesEncoder::<Event>::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(rolling)
        .build()
        .unwrap();
    let runner = Job::builder(name)
        .parallelism(parallelism)
        .checkpoint_interval(checkpoint_interval)
        .checkpoint_store_dyn(Arc::clone(&store))
        .from_source(gen(None, Some(rate), Duration::from_millis(1)))
        .sink_to(sink);
    let progress = runner.progress();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let job = tokio::spawn(runner.run_until(async {
        let _ = stop_rx.await;
    }));
    Running {
        name,
        base,
        target,
        store,
        progress,
        stop,
        job,
    }
}

/// Waits until `done` holds, failing after 5 minutes with `what`, or as soon as one of `runs`
/// ended (failed).
async fn wait_until(what: &str, runs: &[&Running], done: impl Fn() -> bool) {
    let t = Instant::now();
    while !done() {
        for run in runs {
            assert!(
                !run.job.is_finished(),
                "{}: the job ended while waiting for {what}",
                run.name
            );
        }
        assert!(t.elapsed() < Duration::from_secs(300), "stuck: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops the job (a final checkpoint) and reads its output back with Hadoop's shell: every event
/// up to the final checkpoint's positions exactly once, nothing beyond, nothing left in progress.
async fn stop_and_check(run: Running, shell: &PathBuf) -> connector_hdfs::HdfsTarget {
    let _ = run.stop.send(());
    let summary = run
        .job
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}: the job did not survive the restart: {e}", run.name));
    assert!(
        summary.records_committed > 0,
        "{}: nothing committed",
        run.name
    );
    let chk = CheckpointManager::new(Arc::clone(&run.store), 3)
        .latest()
        .await
        .unwrap()
        .unwrap();
    assert!(chk.final_checkpoint);
    let lake = read_lake_with_hadoop(shell, &format!("{}/out", run.base));
    assert!(
        lake.in_progress.is_empty(),
        "{}: left in progress: {:?}",
        run.name,
        lake.in_progress
    );
    let mut expected = 0;
    for s in 0..4u64 {
        let pos = chk.sources[&GeneratorSource::split_id(s as u32)]
            .as_u64()
            .unwrap();
        expected += pos;
        for seq in 0..pos {
            let id = seq * 4 + s;
            assert_eq!(
                lake.ids.get(&id),
                Some(&1),
                "{}: id {id} (split {s}, seq {seq})",
                run.name
            );
        }
    }
    assert_eq!(
        lake.ids.len() as u64,
        expected,
        "{}: no id beyond the checkpointed positions",
        run.name
    );
    eprintln!(
        "{}: {expected} events in {} files, exactly once; {:?}",
        run.name,
        lake.visible.len(),
        run.target.stats()
    );
    run.target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_waits_through_an_hdfs_restart_and_stays_exact() {
    let Some(url) = hdfs_url() else { return };
    let Some(shell) = hadoop_shell() else { return };
    let port = url
        .strip_prefix("hdfs://127.0.0.1:")
        .or_else(|| url.strip_prefix("hdfs://localhost:"))
        .and_then(|p| p.split('/').next())
        .map(str::to_string);
    let Some(port) = port else {
        eprintln!("SKIPPED: restart test: {url} is not an HDFS that integration/services/hdfs.sh runs here");
        return;
    };
    // Two jobs go through the same outage.
    //
    // "syncs": a replay buffer far smaller than what a part writes between checkpoints, so the
    // parts sync early to stay within it, and the repairs must still rewrite exactly the unsynced
    // bytes. (Dropping the oldest bytes instead of syncing fails here: after a restart the
    // datanode kept fewer bytes than it had acknowledged.)
    let syncs = start(
        "syncs",
        &url,
        options().with_replay_buffer(64 << 10),
        DefaultRollingPolicy::builder()
            .with_max_part_size(2 << 20)
            .build(),
        2,
        Duration::from_millis(500),
        10_000.0,
    )
    .await;
    // "blocks": 1 MiB blocks (as in all tests here), the default replay buffer, one part and no
    // checkpoint before the restart, so the part never syncs: it lets go of its replay bytes only
    // as its blocks are finished, and its repair relies on the datanode keeping every finished
    // block.
    let blocks = start(
        "blocks",
        &url,
        options(),
        DefaultRollingPolicy::builder()
            .with_max_part_size(1 << 30)
            .with_rollover_interval(Duration::from_secs(3600))
            .with_inactivity_interval(Duration::from_secs(3600))
            .build(),
        1,
        Duration::from_secs(3600),
        20_000.0,
    )
    .await;

    let both = [&syncs, &blocks];
    let completed = |run: &Running| run.progress.checkpoints_completed.load(Ordering::Relaxed);
    wait_until("3 checkpoints of the first job", &both, || {
        completed(&syncs) >= 3
    })
    .await;
    let released = || blocks.target.stats().block_releases.load(Ordering::Relaxed);
    wait_until("2 finished blocks of the second job", &both, || {
        released() >= 2
    })
    .await;
    let before = completed(&syncs);
    assert_eq!(
        completed(&blocks),
        0,
        "the second job checkpointed before the restart: its part synced"
    );
    eprintln!("restarting HDFS after {before} checkpoints");
    let t = Instant::now();
    let status = tokio::process::Command::new("bash")
        .arg(restart_script())
        .arg("restart")
        .env("SPILLWAY_HDFS_PORT", &port)
        .status()
        .await
        .expect("run hdfs.sh restart");
    assert!(status.success(), "hdfs.sh restart failed");
    eprintln!("HDFS restarted in {:?}", t.elapsed());
    for run in both {
        assert!(
            !run.job.is_finished(),
            "{}: the job ended during the outage",
            run.name
        );
    }
    wait_until(
        "4 checkpoints of the first job after the restart",
        &both,
        || completed(&syncs) >= before + 4,
    )
    .await;
    let repairs = |run: &Running| run.target.stats().repairs.load(Ordering::Relaxed);
    wait_until("a repair in the second job", &both, || {
        repairs(&blocks) >= 1
    })
    .await;
    let out = blocks.progress.records_out.load(Ordering::Relaxed);
    wait_until("the second job going on after its repair", &both, || {
        blocks.progress.records_out.load(Ordering::Relaxed) >= out + 20_000
    })
    .await;

    let target = stop_and_check(syncs, &shell).await;
    let stats = target.stats();
    assert!(
        stats.repairs.load(Ordering::Relaxed) >= 1,
        "the restart broke no write pipeline of the first job: the test did not test repairs"
    );
    assert!(
        stats.extra_syncs.load(Ordering::Relaxed) > 0,
        "no part wrote past the replay buffer: the test did not test repairs after early syncs"
    );
    let target = stop_and_check(blocks, &shell).await;
    let stats = target.stats();
    assert_eq!(
        stats.extra_syncs.load(Ordering::Relaxed),
        0,
        "finished blocks should have kept the part within the default replay buffer"
    );
    assert!(stats.block_releases.load(Ordering::Relaxed) >= 2);
}
