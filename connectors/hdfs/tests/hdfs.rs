//! The HDFS target and checkpoint store against a real HDFS (`SPILLWAY_TEST_HDFS_URL`; started by
//! `integration/services/hdfs.sh start`). Every test works under its own random directory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use connector_hdfs::{
    checkpoint_store_from_url, target_from_url, HdfsCheckpointStore, HdfsOptions, HdfsTarget,
};
use sink_core::fs::testing::{conformance_with, ConformanceOptions, ReadBack};
use sink_core::fs::{RecoverableWriter, RelPath};
use sink_core::runtime::{
    CheckpointManager, CheckpointStore, Event, GeneratorSource, Job, JOB_META,
};
use sink_core::sink::{DateTimeBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder};
use sink_core::Error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_hdfs() {
    let Some(url) = hdfs_url() else { return };
    let target = HdfsTarget::connect(&unique_dir(&url, "conformance"), &options())
        .await
        .unwrap();
    // 1 MiB blocks: 5 MiB cross several block boundaries, and the resume copies across them.
    conformance_with(
        &Checked(target),
        &ConformanceOptions {
            large_bytes: 5 << 20,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_blocks_free_the_replay_buffer_without_syncs() {
    let Some(url) = hdfs_url() else { return };
    // Without `block_size`, the namenode's default (128 MiB: the test HDFS keeps Hadoop's), and
    // the replay buffer is one block more than 64 MiB.
    let target = HdfsTarget::connect(&unique_dir(&url, "defaults"), &HdfsOptions::default())
        .await
        .unwrap();
    assert_eq!(target.block_size(), Some(128 << 20));
    assert_eq!(target.replay_buffer(), 192 << 20);
    let set = HdfsOptions::default().with_replay_buffer(5 << 20);
    let target = HdfsTarget::connect(&unique_dir(&url, "defaults"), &set)
        .await
        .unwrap();
    assert_eq!(target.replay_buffer(), 5 << 20);

    // 1 MiB blocks and a replay buffer of 1.5 MiB: 5 MiB fit only because every finished block
    // lets go of its bytes.
    let o = options().with_replay_buffer(3 << 19);
    let target = Checked(
        HdfsTarget::connect(&unique_dir(&url, "blocks"), &o)
            .await
            .unwrap(),
    );
    assert_eq!(target.0.block_size(), Some(1 << 20));
    let path = RelPath::parse("part-b-0-0.txt").unwrap();
    let mut s = target.open(&path).await.unwrap();
    let mut want = Vec::new();
    for i in 0..20u8 {
        let chunk = vec![b'a' + i; 256 << 10];
        s.write(&chunk).await.unwrap();
        want.extend_from_slice(&chunk);
    }
    let c = s.close_for_commit().await.unwrap();
    target.commit(&c).await.unwrap();
    assert_eq!(target.read(&path).await.unwrap().unwrap(), want);
    let stats = target.0.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&stats.extra_syncs), 0, "{stats:?}");
    assert_eq!(load(&stats.block_releases), 4, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_cuts_bytes_written_after_persist_while_the_writer_still_holds_the_lease() {
    let Some(url) = hdfs_url() else { return };
    let target = Checked(
        HdfsTarget::connect(&unique_dir(&url, "lease"), &options())
            .await
            .unwrap(),
    );
    let path = RelPath::parse("b/part-x-0-0.txt").unwrap();
    let mut s = target.open(&path).await.unwrap();
    s.write(&vec![b'a'; 1_500_000]).await.unwrap(); // more than a block
    let h = s.persist().await.unwrap();
    s.write(b"not in the checkpoint").await.unwrap();
    // The stream stays alive (its lease is held and renewed): resume must fence it.
    let mut r = target.resume(&h).await.unwrap();
    assert_eq!(r.len(), 1_500_000);
    r.write(b"|end").await.unwrap();
    // The old stream is fenced; whatever it does now goes to the old file, never to the resumed
    // one. (It may even repair itself and go on: the old file is deleted by `cleanup`.)
    let _ = s.write(&vec![b'z'; 200_000]).await;
    let _ = s.persist().await;
    drop(s);
    let c = r.close_for_commit().await.unwrap();
    target.commit(&c).await.unwrap();
    let got = target.read(&path).await.unwrap().unwrap();
    assert_eq!(got.len(), 1_500_004);
    assert!(got.ends_with(b"a|end"));
    target.cleanup(&h).await.unwrap();
    assert!(target.list_in_progress("part-x").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_of_a_part_a_crashed_process_left_open_recovers_it_first() {
    let Some(url) = hdfs_url() else { return };
    let target = Checked(
        HdfsTarget::connect(&unique_dir(&url, "open-commit"), &options())
            .await
            .unwrap(),
    );
    // What a process that crashed after close_for_commit (synced) but before the namenode
    // completed the file leaves: a synced in-progress file, still open under its lease.
    let path = RelPath::parse("part-y-0-0.txt").unwrap();
    let temp = format!(".{}.inprogress.0123abcd", path.file_name());
    let abs = format!("{}/{temp}", target.0.location().root());
    let other = HdfsTarget::connect(&target.0.location().to_string(), &options())
        .await
        .unwrap();
    let mut w = other
        .client()
        .create(&abs, hdfs_native::WriteOptions::default())
        .await
        .unwrap();
    w.write_bytes(bytes::Bytes::from(vec![b'y'; 300_000]))
        .await
        .unwrap();
    w.hsync().await.unwrap();
    std::mem::forget(w); // never closed, lease still held and renewed
    let c = sink_core::fs::Committable {
        path: path.clone(),
        len: 300_000,
        data: serde_json::json!({ "temp": temp }),
    };
    target.commit(&c).await.unwrap();
    target.commit(&c).await.unwrap();
    assert_eq!(target.read(&path).await.unwrap().unwrap().len(), 300_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_store_is_atomic_and_lists_only_complete_documents() {
    let Some(url) = hdfs_url() else { return };
    let dir = unique_dir(&url, "ckpt");
    let store = checkpoint_store_from_url(&dir, &options()).await.unwrap();
    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(store.get(JOB_META).await.unwrap(), None);
    store.put(JOB_META, b"{\"a\":1}".to_vec()).await.unwrap();
    // Replacing a document: rename with overwrite.
    store.put(JOB_META, b"{\"a\":22}".to_vec()).await.unwrap();
    assert_eq!(store.get(JOB_META).await.unwrap().unwrap(), b"{\"a\":22}");
    store.put("chk-1.json", vec![b'x'; 3 << 20]).await.unwrap();
    // A temporary file left by a crash is not a document.
    let raw = HdfsTarget::connect(&dir, &options()).await.unwrap();
    let mut w = raw
        .client()
        .create(
            &format!("{}/.chk-2.json.tmp-dead", raw.location().root()),
            hdfs_native::WriteOptions::default(),
        )
        .await
        .unwrap();
    w.write_bytes(bytes::Bytes::from_static(b"{"))
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(store.list().await.unwrap(), vec!["chk-1.json", JOB_META]);
    // A document whose writer crashed after the rename, before the namenode completed it: still
    // open, its last block unfinished. A new store reads it whole (it recovers the lease first).
    let mut w = raw
        .client()
        .create(
            &format!("{}/.chk-3.json.tmp-x", raw.location().root()),
            hdfs_native::WriteOptions::default(),
        )
        .await
        .unwrap();
    w.write_bytes(bytes::Bytes::from(vec![b'3'; 5000]))
        .await
        .unwrap();
    w.hsync().await.unwrap();
    raw.client()
        .rename(
            &format!("{}/.chk-3.json.tmp-x", raw.location().root()),
            &format!("{}/chk-3.json", raw.location().root()),
            true,
        )
        .await
        .unwrap();
    std::mem::forget(w);
    let fresh = HdfsCheckpointStore::connect(&dir, &options())
        .await
        .unwrap();
    assert_eq!(
        fresh.get("chk-3.json").await.unwrap().unwrap(),
        vec![b'3'; 5000]
    );
    fresh.delete("chk-3.json").await.unwrap();
    assert_eq!(
        store.get("chk-1.json").await.unwrap().unwrap().len(),
        3 << 20
    );
    store.delete("chk-1.json").await.unwrap();
    store.delete("chk-1.json").await.unwrap();
    assert_eq!(store.list().await.unwrap(), vec![JOB_META]);
    assert_eq!(store.location("chk-1.json"), format!("{dir}/chk-1.json"));
    // The manager's retention works on HDFS.
    let m = CheckpointManager::new(store, 2);
    let meta = m.load_or_create_meta("j", 0, 1).await;
    assert!(meta.is_err(), "job.json here is not job metadata");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_namenode_and_unwritable_paths_are_clear_errors() {
    // Nothing listens on port 1: the error names the namenode, quickly.
    let o = HdfsOptions::default().with_connect_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let err = target_from_url("hdfs://127.0.0.1:1/lake", &o)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot reach namenode 127.0.0.1:1"), "{msg}");
    assert!(msg.contains("hdfs://127.0.0.1:1/lake"), "{msg}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Mistakes in the URL and options are configuration errors.
    let err = target_from_url("hdfs://127.0.0.1:1/a/../b", &o)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
    let err = target_from_url("hdfs://127.0.0.1:1/a", &o.clone().with_block_size(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("block_size"), "{err}");

    let Some(url) = hdfs_url() else { return };
    // A directory where a file is: not writable, naming the path.
    let dir = unique_dir(&url, "unwritable");
    let store = HdfsCheckpointStore::connect(&dir, &options())
        .await
        .unwrap();
    store.put("afile", b"x".to_vec()).await.unwrap();
    let err = target_from_url(&format!("{dir}/afile/sub"), &options())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("{dir}/afile/sub")), "{msg}");
    assert!(msg.contains("not writable"), "{msg}");
    assert!(!err.is_retryable(), "{msg}");
}

fn json_sink(target: &HdfsTarget, max_part: u64) -> FileSink<Event> {
    FileSink::for_row_format(target.clone(), JsonLinesEncoder::<Event>::new())
        .with_bucket_assigner(
            DateTimeBucketAssigner::new()
                .with_format("yyyy-MM-dd--HH")
                .unwrap()
                .with_event_time(),
        )
        .with_rolling_policy(
            DefaultRollingPolicy::builder()
                .with_max_part_size(max_part)
                .build(),
        )
        .with_write_buffer_size(64 << 10)
        .build()
        .unwrap()
}

/// A seed from the clock, printed so that a failure can be replayed with SPILLWAY_TEST_SEED.
fn seed() -> u64 {
    let s = std::env::var("SPILLWAY_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("SPILLWAY_TEST_SEED={s}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_crashed_repeatedly_writes_every_event_exactly_once_as_hadoop_reads_it() {
    let Some(url) = hdfs_url() else { return };
    let Some(shell) = hadoop_shell() else { return };
    let (base, target, store) = target_and_store(&url, "crash").await;
    let store: Arc<dyn CheckpointStore> = Arc::new(store);
    let job = || {
        Job::builder("hdfs-crash")
            .parallelism(2)
            .checkpoint_interval(Duration::from_millis(400))
            .checkpoint_store_dyn(Arc::clone(&store))
            // 2 event-time hours per ~15 s of input: some parts cross a bucket change.
            .from_source(gen(None, Some(20_000.0), Duration::from_millis(20)))
            .sink_to(json_sink(&target, 600 << 10))
    };
    let mut x = seed() | 1;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    // Crashes at random checkpoint boundaries (extra 0) and in between.
    for round in 0..5 {
        let checkpoints = 1 + next(3);
        let extra = if round % 2 == 0 { 0 } else { next(500) };
        eprintln!("round {round}: crash after {checkpoints} checkpoints + {extra} ms");
        crash_after(job(), checkpoints, extra).await;
    }
    let summary = job()
        .run_until(tokio::time::sleep(Duration::from_millis(1500)))
        .await
        .expect("a clean run after the crashes");
    assert!(summary.restored_from.is_some());
    eprintln!("{:?}", target.stats());
    assert!(
        target
            .stats()
            .resumes
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "no open part was resumed: the test did not test resumes"
    );
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
    for f in &lake.visible {
        let name = f.rsplit('/').next().unwrap();
        assert!(
            name.starts_with("part-") && name.ends_with(".json"),
            "a visible file that is not a committed part: {f}"
        );
    }
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
    assert_eq!(expected, chk.totals.records_out);
    eprintln!(
        "{} events in {} files, exactly once after 5 crashes",
        expected,
        lake.visible.len()
    );
}
