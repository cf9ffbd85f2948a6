//! Job-level tests on the mock cluster: Kafka -> FileSink JSON lines, crashed and restarted, and
//! two workers sharing a topic.

mod common;

use std::time::Duration;

use common::*;
use connector_kafka::*;
use rdkafka::mocking::MockCluster;
use sink_core::runtime::{Job, LocalCheckpointStore};

fn source(brokers: &str, topic: &str, bounded: bool) -> KafkaSource {
    let b = KafkaSource::builder(brokers)
        .with_topics([topic])
        .with_output(OutputMode::Envelope);
    let b = if bounded {
        b.with_stop(StopOffsets::Latest)
    } else {
        b
    };
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_and_restarted_job_writes_every_offset_exactly_once() {
    init_logs();
    let mc = MockCluster::new(1).unwrap();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("job");
    mc.create_topic(&topic, 4, 1).unwrap();
    let n = 20_000u64;
    produce_json(&b, &topic, 4, 0, n);
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let job = |bounded: bool| {
        Job::builder("kafka-crash")
            .parallelism(2)
            .checkpoint_interval(Duration::from_millis(40))
            .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
            .batch_size(500)
            .from_source(source(&b, &topic, bounded))
            .sink_to(json_sink(out.path()))
    };
    for (i, (checkpoints, ms)) in [(1, 13), (2, 0), (1, 29), (3, 7)].into_iter().enumerate() {
        crash_after(job(false), checkpoints, ms).await;
        if i == 1 {
            // More records arrive while the job is down.
            produce_json(&b, &topic, 4, n, n / 2);
        }
    }
    // The crashed runs got somewhere: their checkpoints hold positions past the start.
    let read_before: i64 = latest_sources(ckpt.path())
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert!(read_before > 0, "the crashed runs checkpointed progress");
    // The last run reads to the end as it is now, then stops by itself.
    let summary = job(true).run().await.unwrap();
    assert!(summary.restored_from.is_some());
    assert!(summary.input_ended);
    let (seen, in_progress) = read_lake(out.path());
    assert_eq!(in_progress, 0);
    let per = (n + n / 2) as i64 / 4;
    assert_exactly_once(&seen, &topic, &[per; 4]);
    assert_eq!(summary.totals.records_out, n + n / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_cover_every_partition_once() {
    init_logs();
    let mc = MockCluster::new(1).unwrap();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("workers");
    mc.create_topic(&topic, 6, 1).unwrap();
    produce_json(&b, &topic, 6, 0, 6_000);
    let out = tempfile::tempdir().unwrap();
    let (c0, c1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let worker = |i: usize, ckpt: &std::path::Path| {
        Job::builder("kafka-workers")
            .parallelism(2)
            .worker(i, 2)
            .checkpoint_interval(Duration::from_millis(50))
            .checkpoint_store(LocalCheckpointStore::new(ckpt).unwrap())
            .from_source(source(&b, &topic, true))
            .sink_to(json_sink(out.path()))
            .run()
    };
    let (s0, s1) = tokio::join!(worker(0, c0.path()), worker(1, c1.path()));
    let (s0, s1) = (s0.unwrap(), s1.unwrap());
    assert!(s0.records_in > 0 && s1.records_in > 0, "both workers read");
    assert_eq!(s0.records_in + s1.records_in, 6_000);
    let (seen, in_progress) = read_lake(out.path());
    assert_eq!(in_progress, 0);
    assert_exactly_once(&seen, &topic, &[1_000; 6]);
    // Each worker's checkpoint names only its own partitions.
    let parts =
        |dir: &std::path::Path| -> Vec<String> { latest_sources(dir).keys().cloned().collect() };
    let (p0, p1) = (parts(c0.path()), parts(c1.path()));
    assert_eq!(p0.len() + p1.len(), 6);
    assert!(p0.iter().all(|p| !p1.contains(p)));
}

/// The source positions of the newest checkpoint in `dir`.
fn latest_sources(dir: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    let mut all = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("chk-"))
        .collect::<Vec<_>>();
    all.sort();
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(all.last().unwrap()).unwrap()).unwrap();
    v["sources"].as_object().unwrap().clone()
}
