//! Helpers shared by the tests: topics with random names, a producer, reading a reader, the crash
//! helper of sink-core's runtime tests, reading back a lake, and the gate of the tansu tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_kafka::{KafkaRecord, KafkaSource};
use rand::distr::{Alphanumeric, SampleString};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sink_core::fs::LocalTarget;
use sink_core::runtime::{
    BadRecord, Batch, JobRunner, ReadStatus, ReaderContext, Source, SourceReader, SubtaskInfo,
};
use sink_core::sink::{FileSink, JsonLinesEncoder};

/// A topic name no other test uses (rust-rdkafka's `rand_test_topic`).
pub fn rand_topic(test: &str) -> String {
    format!(
        "spillway-{test}-{}",
        Alphanumeric.sample_string(&mut rand::rng(), 10)
    )
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// One record to produce.
#[derive(Clone, Debug, Default)]
pub struct Rec {
    pub partition: i32,
    pub key: Option<String>,
    pub value: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, String)>,
}

impl Rec {
    pub fn json(partition: i32, value: serde_json::Value) -> Rec {
        Rec {
            partition,
            value: Some(value.to_string().into_bytes()),
            ..Rec::default()
        }
    }
}

pub fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("log_level", "4")
        .create()
        .expect("producer")
}

/// Produces the records and waits until every one is acknowledged.
pub fn produce(brokers: &str, topic: &str, records: &[Rec]) {
    let p = producer(brokers);
    for r in records {
        let mut rec = BaseRecord::<str, [u8]>::to(topic).partition(r.partition);
        if let Some(k) = &r.key {
            rec = rec.key(k.as_str());
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v.as_slice());
        }
        if let Some(t) = r.timestamp {
            rec = rec.timestamp(t);
        }
        if !r.headers.is_empty() {
            let mut h = OwnedHeaders::new();
            for (k, v) in &r.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_str()),
                });
            }
            rec = rec.headers(h);
        }
        let mut rec = Some(rec);
        while let Some(r) = rec.take() {
            if let Err((e, r)) = p.send(r) {
                assert!(
                    matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ),
                    "produce: {e}"
                );
                p.poll(Duration::from_millis(10));
                rec = Some(r);
            }
        }
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// `n` JSON records `{"i": i, "pad": "..."}` (about 100 bytes), record `i` to partition
/// `i % partitions`, key `i`.
pub fn produce_json(brokers: &str, topic: &str, partitions: i32, from: u64, n: u64) {
    let recs: Vec<Rec> = (from..from + n)
        .map(|i| Rec {
            partition: (i % partitions as u64) as i32,
            key: Some(i.to_string()),
            value: Some(
                serde_json::json!({"i": i, "pad": "x".repeat(70)})
                    .to_string()
                    .into_bytes(),
            ),
            ..Rec::default()
        })
        .collect();
    produce(brokers, topic, &recs);
}

/// Creates a topic with the admin client (tansu does not create topics by itself).
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let res = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

pub fn ctx(subtask: SubtaskInfo, restored: BTreeMap<String, serde_json::Value>) -> ReaderContext {
    ReaderContext {
        job_name: "test".into(),
        subtask,
        restored: Arc::new(restored),
    }
}

pub async fn reader(
    source: &KafkaSource,
    restored: BTreeMap<String, serde_json::Value>,
) -> Box<dyn SourceReader<KafkaRecord>> {
    source
        .create_reader(ctx(SubtaskInfo::single(), restored))
        .await
        .expect("reader")
}

/// What a reader handed over.
#[derive(Debug, Default)]
pub struct Read {
    pub records: Vec<KafkaRecord>,
    pub timestamps: Vec<Option<i64>>,
    pub bad: Vec<BadRecord>,
    pub finished: bool,
}

/// Polls until `n` records (good and bad) arrived, the reader finished, or `timeout` passed.
pub async fn read(
    reader: &mut Box<dyn SourceReader<KafkaRecord>>,
    n: usize,
    timeout: Duration,
) -> Read {
    let mut out = Read::default();
    let deadline = Instant::now() + timeout;
    while out.records.len() + out.bad.len() < n && Instant::now() < deadline {
        let mut batch = Batch::default();
        let status = reader.poll(&mut batch, 1024).await.expect("poll");
        for r in batch.records {
            out.timestamps.push(r.timestamp);
            out.records.push(r.value);
        }
        out.bad.extend(batch.bad);
        if status == ReadStatus::Finished {
            out.finished = true;
            break;
        }
    }
    out
}

/// Polls for `d`, expecting nothing new, and returns what came anyway.
pub async fn read_for(reader: &mut Box<dyn SourceReader<KafkaRecord>>, d: Duration) -> Read {
    read(reader, usize::MAX, d).await
}

/// The group's committed offsets, read by a separate consumer.
pub fn committed(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Option<i64>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let res = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed");
    (0..partitions)
        .map(|p| {
            let o = match res.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(n)) => Some(n),
                _ => None,
            };
            (p, o)
        })
        .collect()
}

/// Commits `offset` for one partition as `group`, with a separate consumer.
pub fn commit(brokers: &str, group: &str, topic: &str, partition: i32, offset: i64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
}

/// A JSON-lines file sink into `dir`.
pub fn json_sink(dir: &Path) -> FileSink<KafkaRecord> {
    FileSink::for_row_format(
        LocalTarget::new(dir).unwrap(),
        JsonLinesEncoder::<KafkaRecord>::new(),
    )
    .build()
    .unwrap()
}

/// Runs a job and "crashes" it (drops it mid-flight) once it has completed `checkpoints`
/// checkpoints and `extra_ms` more have passed. (sink-core's `runtime/tests.rs`.)
pub async fn crash_after<S: Send + Sync + 'static, T: Send + Sync + 'static>(
    runner: JobRunner<S, T>,
    checkpoints: u64,
    extra_ms: u64,
) {
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
}

/// Envelope lines `(topic, partition, offset) -> count` of every finished file under `dir`, and
/// the number of in-progress files.
pub fn read_lake(dir: &Path) -> (HashMap<(String, i64, i64), usize>, usize) {
    let mut seen = HashMap::new();
    let mut in_progress = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if name.starts_with('.') {
                if name.contains(".inprogress.") {
                    in_progress += 1;
                }
            } else {
                for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let key = (
                        v["topic"].as_str().unwrap().to_string(),
                        v["partition"].as_i64().unwrap(),
                        v["offset"].as_i64().unwrap(),
                    );
                    *seen.entry(key).or_default() += 1;
                }
            }
        }
    }
    (seen, in_progress)
}

/// Asserts that the lake holds offsets `0..sizes[p]` of every partition exactly once.
pub fn assert_exactly_once(seen: &HashMap<(String, i64, i64), usize>, topic: &str, sizes: &[i64]) {
    let dup: Vec<_> = seen.iter().filter(|(_, c)| **c != 1).take(5).collect();
    assert!(dup.is_empty(), "written more than once: {dup:?}");
    for (p, &n) in sizes.iter().enumerate() {
        let missing: Vec<i64> = (0..n)
            .filter(|o| !seen.contains_key(&(topic.to_string(), p as i64, *o)))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "partition {p}: missing offsets {missing:?}"
        );
    }
    assert_eq!(
        seen.len() as i64,
        sizes.iter().sum::<i64>(),
        "records beyond the expected offsets"
    );
}

/// The brokers of the integration services, or `None` (the test prints SKIPPED and returns),
/// unless `SPILLWAY_REQUIRE_SERVICES=1`, which makes a missing broker a failure.
pub fn tansu_brokers(test: &str) -> Option<String> {
    match std::env::var("SPILLWAY_TEST_KAFKA_BROKERS") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            if std::env::var("SPILLWAY_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{test}: SPILLWAY_TEST_KAFKA_BROKERS is not set and SPILLWAY_REQUIRE_SERVICES=1 (start integration/services/kafka.sh, then eval \"$(integration/services/env.sh)\")");
            }
            println!("SKIPPED: {test}: SPILLWAY_TEST_KAFKA_BROKERS is not set (integration/services/kafka.sh start; eval \"$(integration/services/env.sh)\")");
            None
        }
    }
}
