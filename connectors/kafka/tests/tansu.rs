//! Integration tests against a real Kafka-protocol broker: tansu, started by
//! `integration/services/kafka.sh start` and found through `eval "$(integration/services/env.sh)"`
//! (`SPILLWAY_TEST_KAFKA_BROKERS`, `SPILLWAY_KAFKA_SH`, `SPILLWAY_PYTHON`). Without a broker each
//! test prints `SKIPPED: ...` and passes, unless `SPILLWAY_REQUIRE_SERVICES=1`.
//!
//! tansu does not create topics by itself (the tests create them), has no CreatePartitions and no
//! transactions; DeleteRecords breaks it, so no test calls it.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use connector_kafka::*;
use serde_json::json;
use sink_core::runtime::{Job, LocalCheckpointStore};

/// The tests in this file share one broker, and one of them restarts it: that one holds the
/// lock exclusively, the others share it, so no test talks to a broker that is going away.
static BROKER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn source(brokers: &str, topic: &str, group: &str) -> KafkaSourceBuilder {
    KafkaSource::builder(brokers)
        .with_topics([topic])
        .with_group_id(group)
        .with_output(OutputMode::Envelope)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_job_reads_a_topic_exactly_once_and_commits_offsets() {
    let Some(b) = tansu_brokers("tansu_job_reads_a_topic_exactly_once_and_commits_offsets") else {
        return;
    };
    let _shared = BROKER.read().await;
    init_logs();
    let topic = rand_topic("tansu-job");
    let group = format!("{topic}-g");
    create_topic(&b, &topic, 4).await;
    produce_json(&b, &topic, 4, 0, 10_000);
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let summary = Job::builder("tansu-job")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(200))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(
            source(&b, &topic, &group)
                .with_stop(StopOffsets::Latest)
                .build()
                .unwrap(),
        )
        .sink_to(json_sink(out.path()))
        .run()
        .await
        .unwrap();
    assert!(summary.input_ended);
    let (seen, in_progress) = read_lake(out.path());
    assert_eq!(in_progress, 0);
    assert_exactly_once(&seen, &topic, &[2_500; 4]);

    // The offsets of the last checkpoint are visible to another client: rdkafka here, and
    // confluent-kafka (Python) when the venv is there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (b2, g, t) = (b.clone(), group.clone(), topic.clone());
        let got = tokio::task::spawn_blocking(move || committed(&b2, &g, &t, 4))
            .await
            .unwrap();
        if got.values().all(|o| *o == Some(2_500)) {
            break;
        }
        assert!(Instant::now() < deadline, "committed offsets: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match std::env::var("SPILLWAY_PYTHON") {
        Ok(py) if !py.is_empty() => {
            let script = format!(
                "from confluent_kafka import Consumer, TopicPartition\n\
                 c = Consumer({{'bootstrap.servers': '{b}', 'group.id': '{group}'}})\n\
                 print(' '.join(str(tp.offset) for tp in c.committed([TopicPartition('{topic}', p) for p in range(4)], timeout=15)))\n"
            );
            let out = std::process::Command::new(py)
                .arg("-c")
                .arg(script)
                .output()
                .expect("python");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "2500 2500 2500 2500"
            );
        }
        _ => println!("SKIPPED (part): SPILLWAY_PYTHON is not set: no confluent-kafka read-back"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_broker_restart_mid_run_loses_and_doubles_nothing() {
    let Some(b) = tansu_brokers("tansu_broker_restart_mid_run_loses_and_doubles_nothing") else {
        return;
    };
    let Ok(kafka_sh) = std::env::var("SPILLWAY_KAFKA_SH") else {
        if std::env::var("SPILLWAY_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("SPILLWAY_KAFKA_SH is not set");
        }
        println!("SKIPPED: SPILLWAY_KAFKA_SH is not set: cannot restart the broker");
        return;
    };
    let _exclusive = BROKER.write().await;
    init_logs();
    let topic = rand_topic("tansu-restart");
    let group = format!("{topic}-g");
    create_topic(&b, &topic, 4).await;
    let n = 40_000u64;
    produce_json(&b, &topic, 4, 0, n);
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let runner = Job::builder("tansu-restart")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(300))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .batch_size(200)
        .from_source(source(&b, &topic, &group).build().unwrap())
        .sink_to(json_sink(out.path()));
    let progress = runner.progress();
    let p = progress.clone();
    // Stops once every record is in and a checkpoint after that completed.
    let stop = async move {
        let deadline = Instant::now() + Duration::from_secs(180);
        while p.records_out.load(Ordering::Relaxed) < n + n / 2 {
            assert!(
                Instant::now() < deadline,
                "the job did not read everything in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let job = tokio::spawn(runner.run_until(stop));
    while progress.checkpoints_completed.load(Ordering::Relaxed) < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = progress.records_out.load(Ordering::Relaxed);
    // Restart the broker (sqlite keeps the data) while the job reads.
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new(kafka_sh)
            .arg("restart")
            .status()
            .expect("kafka.sh restart")
    })
    .await
    .unwrap();
    assert!(status.success(), "kafka.sh restart failed");
    // More records after the restart.
    produce_json(&b, &topic, 4, n, n / 2);
    let summary = job.await.unwrap().unwrap();
    println!("records before the restart: {before} of {}", n + n / 2);
    assert!(
        before < n,
        "the restart happened while the first records were read"
    );
    let (seen, in_progress) = read_lake(out.path());
    assert_eq!(in_progress, 0);
    let per = (n + n / 2) as i64 / 4;
    assert_exactly_once(&seen, &topic, &[per; 4]);
    assert_eq!(summary.totals.records_out, n + n / 2);
}

#[tokio::test]
async fn tansu_start_at_a_timestamp() {
    let Some(b) = tansu_brokers("tansu_start_at_a_timestamp") else {
        return;
    };
    let _shared = BROKER.read().await;
    init_logs();
    let topic = rand_topic("tansu-ts");
    create_topic(&b, &topic, 1).await;
    let base = 1_795_478_400_000i64;
    let recs: Vec<Rec> = (0..10)
        .map(|i| Rec {
            timestamp: Some(base + i * 1_000),
            ..Rec::json(0, json!({ "i": i }))
        })
        .collect();
    produce(&b, &topic, &recs);
    let source = KafkaSource::builder(&b)
        .with_topics([&topic])
        .with_start(StartOffsets::Timestamp(base + 6_500))
        .with_stop(StopOffsets::Latest)
        .build()
        .unwrap();
    let mut r = reader(&source, BTreeMap::new()).await;
    let got = read(&mut r, usize::MAX, Duration::from_secs(20)).await;
    assert!(got.finished);
    let offsets: Vec<i64> = got.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [7, 8, 9]);
}
