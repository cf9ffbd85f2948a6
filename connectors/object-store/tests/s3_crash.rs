//! A library-level crash test against a real S3 server (moto): a job writes JSON lines to S3 with
//! its checkpoints in the same bucket, is "crashed" (its future dropped) several times at arbitrary
//! moments, restarted, and stopped cleanly. A client nobody here wrote (boto3) then reads the
//! bucket back: every event exactly once, no partial file visible, no incomplete multipart upload
//! and no side object left.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use connector_object_store::{checkpoint_store_from_url, ObjectStoreTarget, MIN_PART_SIZE};
use serde::Deserialize;
use sink_core::runtime::{
    CheckpointManager, Event, GeneratorConfig, GeneratorSource, Job, JobRunner,
};
use sink_core::sink::{DateTimeBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder};

/// Runs a job and drops it once it has completed `checkpoints` checkpoints and `extra_ms` more
/// have passed (as `crash_after` in sink-core's runtime tests).
async fn crash_after(runner: JobRunner<Event, Event>, checkpoints: u64, extra_ms: u64) {
    let progress = runner.progress();
    let job = tokio::spawn(runner.run());
    while progress.checkpoints_completed.load(Ordering::Relaxed) < checkpoints {
        assert!(
            !job.is_finished(),
            "the job ended before the crash point: {:?}",
            job.await
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(extra_ms)).await;
    job.abort();
    let _ = job.await;
    // A dropped job's upload starts finish in their own tasks (so that each leaves a marker); let
    // them land before the restart lists the markers. A killed process has no such task.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[derive(Debug, Deserialize)]
struct Report {
    /// Every event id read, with repetitions.
    ids: Vec<u64>,
    /// Published objects (side objects excluded).
    files: Vec<String>,
    /// Their sizes.
    sizes: Vec<u64>,
    /// Objects that are not whole JSON-lines files: `key: why`.
    bad: Vec<String>,
    /// Incomplete multipart uploads in the bucket.
    uploads: Vec<String>,
    /// Objects under `{prefix}/_spillway/`.
    side: Vec<String>,
}

const READER: &str = r#"
import json, sys, boto3
from botocore.config import Config
endpoint, key, secret, region, bucket, prefix = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                  region_name=region, config=Config(s3={"addressing_style": "path"}))
out = {"ids": [], "files": [], "sizes": [], "bad": [], "uploads": [], "side": []}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for o in page.get("Contents", []):
        k = o["Key"]
        if k.startswith(prefix + "/_spillway/"):
            out["side"].append(k)
            continue
        out["files"].append(k)
        out["sizes"].append(o["Size"])
        body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        if len(body) != o["Size"]:
            out["bad"].append(f"{k}: listed {o['Size']} bytes, read {len(body)}")
        if body and not body.endswith(b"\n"):
            out["bad"].append(f"{k}: does not end with a newline (partial)")
        for n, line in enumerate(body.decode().splitlines()):
            try:
                out["ids"].append(json.loads(line)["event_id"])
            except Exception as e:
                out["bad"].append(f"{k}:{n + 1}: {e}")
for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
    for u in page.get("Uploads", []):
        out["uploads"].append(u["Key"] + " " + u["UploadId"])
json.dump(out, sys.stdout)
"#;

fn read_back_with_boto3(env: &common::S3Env, bucket: &str, prefix: &str) -> Option<Report> {
    let python = sink_core::test_support::service("SPILLWAY_PYTHON", "a Python with boto3")?;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(READER)
        .args([
            &env.endpoint,
            &env.access_key_id,
            &env.secret_access_key,
            &env.region,
            bucket,
            prefix,
        ])
        .output()
        .expect("run the boto3 reader");
    assert!(
        out.status.success(),
        "boto3 reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("reader output"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_restarts_against_s3_are_exactly_once() {
    let env = require_s3!("crashes_and_restarts_against_s3_are_exactly_once");
    let bucket = common::fresh_bucket(&env, "crash");
    let lake = format!("s3://{bucket}/lake");
    let ckpt_url = format!("s3://{bucket}/checkpoints/job-a");
    let options = env.options();

    let job = || async {
        let mut o = env.options();
        o.part_size = Some(MIN_PART_SIZE);
        let target = ObjectStoreTarget::from_url(&lake, &o).await.unwrap();
        // Event time 20 ms apart at 80 000 events/s: a new hourly bucket every 2.25 s, each
        // holding 180 000 events (~18 MB over two subtasks), so part files span 5 MiB parts,
        // persists leave tails, and there are a few buckets.
        let sink = FileSink::for_row_format(target, JsonLinesEncoder::<Event>::new())
            .with_bucket_assigner(
                DateTimeBucketAssigner::new()
                    .with_format("yyyy-MM-dd--HH")
                    .unwrap()
                    .with_event_time(),
            )
            .with_rolling_policy(DefaultRollingPolicy::default())
            .build()
            .unwrap();
        let source = GeneratorSource::new(GeneratorConfig {
            splits: 4,
            count: None,
            rate: Some(80_000.0),
            step: Duration::from_millis(20),
            ..GeneratorConfig::default()
        })
        .unwrap();
        Job::builder("crash-s3")
            .parallelism(2)
            .checkpoint_interval(Duration::from_millis(250))
            .checkpoint_store_dyn(checkpoint_store_from_url(&ckpt_url, &options).unwrap())
            .from_source(source)
            .sink_to(sink)
    };

    // Four "crashes" at different moments, the first before any checkpoint completes.
    for (checkpoints, ms) in [(0, 700), (2, 137), (1, 0), (3, 411)] {
        crash_after(job().await, checkpoints, ms).await;
    }
    let summary = job()
        .await
        .run_until(tokio::time::sleep(Duration::from_millis(2500)))
        .await
        .unwrap();
    assert!(summary.restored_from.is_some());
    assert!(!summary.input_ended);

    let manager =
        CheckpointManager::new(checkpoint_store_from_url(&ckpt_url, &options).unwrap(), 3);
    let chk = manager.latest().await.unwrap().expect("a checkpoint");
    assert!(
        chk.final_checkpoint,
        "the clean stop wrote a final checkpoint"
    );

    let Some(report) = read_back_with_boto3(&env, &bucket, "lake") else {
        return;
    };
    assert!(
        report.bad.is_empty(),
        "partial or corrupt files: {:?}",
        report.bad
    );
    assert!(
        report.uploads.is_empty(),
        "incomplete multipart uploads left: {:?}",
        report.uploads
    );
    assert!(
        report.side.is_empty(),
        "side objects left: {:?}",
        report.side
    );
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for id in &report.ids {
        *counts.entry(*id).or_default() += 1;
    }
    // Split s wrote sequence numbers 0..pos(s): together, exactly these ids.
    let mut expected = 0u64;
    for s in 0..4u64 {
        let pos = chk.sources[&GeneratorSource::split_id(s as u32)]
            .as_u64()
            .unwrap();
        expected += pos;
        for seq in 0..pos {
            let id = seq * 4 + s;
            assert_eq!(
                counts.get(&id),
                Some(&1),
                "event {id} (split {s}, seq {seq})"
            );
        }
    }
    assert_eq!(
        counts.len() as u64,
        expected,
        "no event beyond the checkpointed positions"
    );
    assert_eq!(report.ids.len() as u64, expected, "no duplicates");
    assert_eq!(chk.totals.records_out, expected);
    assert!(
        expected > 100_000,
        "the runs wrote enough to cross parts: {expected}"
    );
    let multipart = report
        .sizes
        .iter()
        .filter(|s| **s > MIN_PART_SIZE as u64)
        .count();
    println!(
        "crash test: {expected} events in {} files ({multipart} over one part), restored from checkpoint {:?}",
        report.files.len(),
        summary.restored_from
    );
    assert!(report.files.len() >= 4, "a few buckets: {:?}", report.files);
    assert!(
        multipart >= 1,
        "some file spans several parts: {:?}",
        report.sizes
    );
}
