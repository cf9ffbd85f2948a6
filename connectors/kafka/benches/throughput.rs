//! Throughput of Kafka -> JSON lines on local disk through `Job` + `FileSink` (checkpoints every
//! 10 s), against a bare rdkafka consumer loop that reads the same records and discards them.
//!
//! ```sh
//! integration/services/kafka.sh start && eval "$(integration/services/env.sh)"
//! cargo bench -p connector-kafka --bench throughput
//! ```
//!
//! The broker is `SPILLWAY_TEST_KAFKA_BROKERS` (tansu), else librdkafka's in-process mock cluster.
//! Settings: `SPILLWAY_BENCH_RECORDS` (default 2 000 000 records of about 100 bytes, over 4
//! partitions), `SPILLWAY_BENCH_RUNS` (default 5 of each, alternating; the medians are compared),
//! `SPILLWAY_BENCH_PARALLELISM` (subtasks of the job, default 1: one consumer, as the bare loop).

#[path = "../tests/common/mod.rs"]
mod common;

use sink_core::test_support::median;
use std::time::{Duration, Instant};

use connector_kafka::{KafkaSource, StopOffsets};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sink_core::runtime::{Job, LocalCheckpointStore};

const PARTITIONS: i32 = 4;
/// What fits in the mock cluster: 5 MiB per partition, about 40 000 records of ~115 bytes.
const MOCK_MAX_RECORDS: u64 = 150_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Reads every record of the topic with one consumer and discards it; returns the seconds taken.
fn bare_loop(brokers: &str, topic: &str, n: u64) -> f64 {
    let started = Instant::now();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "spillway-bench-bare")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let (mut count, mut bytes) = (0u64, 0usize);
    while count < n {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                count += 1;
                bytes += m.payload_len();
            }
            Some(Err(e)) => eprintln!("bare loop: {e}"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    started.elapsed().as_secs_f64()
}

/// Reads the topic through a bounded Job into JSON lines on local disk; returns the seconds taken.
async fn job(brokers: &str, topic: &str, n: u64, parallelism: usize) -> f64 {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let source = KafkaSource::builder(brokers)
        .with_topics([topic])
        .with_stop(StopOffsets::Latest)
        .with_commit_offsets(false)
        .build()
        .unwrap();
    let started = Instant::now();
    let summary = Job::builder("bench")
        .parallelism(parallelism)
        .checkpoint_interval(Duration::from_secs(10))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(source)
        .sink_to(common::json_sink(out.path()))
        .run()
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.records_committed, n, "the job wrote every record");
    secs
}

/// Polls a reader of the source alone (no job, no sink) until every record is in.
async fn reader_only(brokers: &str, topic: &str, n: u64) -> (f64, f64) {
    use sink_core::runtime::{Batch, Source};
    let source = KafkaSource::builder(brokers)
        .with_topics([topic])
        .with_stop(StopOffsets::Latest)
        .with_commit_offsets(false)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut r = source
        .create_reader(common::ctx(
            sink_core::runtime::SubtaskInfo::single(),
            Default::default(),
        ))
        .await
        .unwrap();
    let (mut got, mut polls) = (0u64, 0u64);
    let mut batch = Batch::default();
    while got < n {
        r.poll(&mut batch, 1024).await.unwrap();
        polls += 1;
        got += batch.records.len() as u64;
        batch.records.clear();
    }
    (started.elapsed().as_secs_f64(), n as f64 / polls as f64)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mut n = env_u64(
        "SPILLWAY_BENCH_RECORDS",
        if quick { 50_000 } else { 2_000_000 },
    );
    let runs = env_u64("SPILLWAY_BENCH_RUNS", if quick { 1 } else { 5 }).max(1) as usize;
    let parallelism = env_u64("SPILLWAY_BENCH_PARALLELISM", 1).max(1) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut mock = None;
    let (brokers, what) = match std::env::var("SPILLWAY_TEST_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => (b, "tansu (SPILLWAY_TEST_KAFKA_BROKERS)"),
        _ => {
            println!("SPILLWAY_TEST_KAFKA_BROKERS is not set: using librdkafka's in-process mock cluster");
            let m = rdkafka::mocking::MockCluster::new(1).unwrap();
            let b = m.bootstrap_servers();
            mock = Some(m);
            (b, "the librdkafka mock cluster")
        }
    };
    if mock.is_some() && n > MOCK_MAX_RECORDS {
        // The mock cluster keeps at most 5 MiB per partition and drops older records.
        println!("the mock cluster keeps 5 MiB per partition: {MOCK_MAX_RECORDS} records, not {n}");
        n = MOCK_MAX_RECORDS;
    }
    let topic = common::rand_topic("bench");
    println!("broker: {what} at {brokers}; topic {topic}, {PARTITIONS} partitions");
    match &mock {
        Some(m) => m.create_topic(&topic, PARTITIONS, 1).unwrap(),
        None => rt.block_on(common::create_topic(&brokers, &topic, PARTITIONS)),
    }
    let t = Instant::now();
    common::produce_json(&brokers, &topic, PARTITIONS, 0, n);
    println!(
        "produced {n} records of about 100 bytes in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Warm up both paths once (page cache, broker caches).
    bare_loop(&brokers, &topic, n);
    let (mut bare, mut piped) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let b = bare_loop(&brokers, &topic, n);
        let j = rt.block_on(job(&brokers, &topic, n, parallelism));
        println!(
            "run {}: bare consumer {:>9.0} records/s   job -> JSON lines {:>9.0} records/s   ratio {:.2}",
            run + 1,
            n as f64 / b,
            n as f64 / j,
            b / j
        );
        bare.push(b);
        piped.push(j);
    }
    let (secs, per_poll) = rt.block_on(reader_only(&brokers, &topic, n));
    println!(
        "reader alone (no job, no sink): {:.0} records/s, {per_poll:.0} records per poll",
        n as f64 / secs
    );
    let (b, j) = (median(&bare), median(&piped));
    println!(
        "median of {runs}: bare consumer {:.0} records/s, job (parallelism {parallelism}) {:.0} records/s, ratio {:.2} (target >= 0.8)",
        n as f64 / b,
        n as f64 / j,
        b / j
    );
}
