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
use sink_core::runtime::{CheckpointManager, CheckpointStore, Event, GeneratorSource, Job};
use sink_core::sink::{BasePathBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder};

fn restart_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration/services/hdfs.sh")
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
    let (base, _, store) = target_and_store(&url, "restart").await;
    // A replay buffer far smaller than what a part writes between checkpoints: the parts sync
    // early to stay within it, and the repairs must still rewrite exactly the unsynced bytes.
    // (Dropping the oldest bytes instead of syncing fails here: after a restart the datanode kept
    // fewer bytes than it had acknowledged.)
    let target = connector_hdfs::HdfsTarget::connect(
        &format!("{base}/out"),
        &options().with_replay_buffer(64 << 10),
    )
    .await
    .expect("connect target");
    let store: Arc<dyn CheckpointStore> = Arc::new(store);
    let sink = FileSink::for_row_format(target.clone(), JsonLinesEncoder::<Event>::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .with_rolling_policy(
            DefaultRollingPolicy::builder()
                .with_max_part_size(2 << 20)
                .build(),
        )
        .build()
        .unwrap();
    let runner = Job::builder("hdfs-restart")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(500))
        .checkpoint_store_dyn(Arc::clone(&store))
        .from_source(gen(None, Some(10_000.0), Duration::from_millis(1)))
        .sink_to(sink);
    let progress = runner.progress();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let job = tokio::spawn(runner.run_until(async {
        let _ = stop_rx.await;
    }));
    let wait_for = |n: u64| {
        let progress = Arc::clone(&progress);
        async move {
            let t = Instant::now();
            while progress.checkpoints_completed.load(Ordering::Relaxed) < n {
                assert!(
                    t.elapsed() < Duration::from_secs(300),
                    "stuck before checkpoint {n}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(3).await;
    let before = progress.checkpoints_completed.load(Ordering::Relaxed);
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
    assert!(
        !job.is_finished(),
        "the job ended during the outage: {:?}",
        job.await
    );
    wait_for(before + 4).await;
    eprintln!(
        "{} checkpoints after the restart",
        progress.checkpoints_completed.load(Ordering::Relaxed) - before
    );
    let _ = stop_tx.send(());
    let summary = job.await.unwrap().expect("the job survives the restart");
    let stats = target.stats();
    eprintln!("{stats:?}");
    assert!(
        stats.repairs.load(Ordering::Relaxed) >= 1,
        "the restart broke no write pipeline: the test did not test repairs"
    );
    assert!(
        stats.extra_syncs.load(Ordering::Relaxed) > 0,
        "no part wrote past the replay buffer: the test did not test repairs after early syncs"
    );
    assert!(summary.records_committed > 0);

    let chk = CheckpointManager::new(Arc::clone(&store), 3)
        .latest()
        .await
        .unwrap()
        .unwrap();
    assert!(chk.final_checkpoint);
    let lake = read_lake_with_hadoop(&shell, &format!("{base}/out"));
    assert!(
        lake.in_progress.is_empty(),
        "left in progress: {:?}",
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
                "id {id} (split {s}, seq {seq})"
            );
        }
    }
    assert_eq!(
        lake.ids.len() as u64,
        expected,
        "no id beyond the checkpointed positions"
    );
    eprintln!(
        "{expected} events in {} files, exactly once",
        lake.visible.len()
    );
}
