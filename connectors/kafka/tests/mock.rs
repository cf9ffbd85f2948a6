//! Component tests of the reader on librdkafka's in-process mock cluster, one topic per test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use connector_kafka::*;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde_json::json;
use sink_core::runtime::{Origin, Source, SubtaskInfo};

const T: Duration = Duration::from_secs(20);

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    init_logs();
    MockCluster::new(1).expect("mock cluster")
}

fn src(brokers: &str, topic: &str) -> KafkaSourceBuilder {
    KafkaSource::builder(brokers).with_topics([topic])
}

fn positions(
    r: &mut Box<dyn sink_core::runtime::SourceReader<KafkaRecord>>,
) -> BTreeMap<String, serde_json::Value> {
    r.snapshot().unwrap().into_iter().collect()
}

#[tokio::test]
async fn reads_every_record_once_with_its_envelope() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("all");
    mc.create_topic(&topic, 3, 1).unwrap();
    produce_json(&b, &topic, 3, 0, 300);
    produce(
        &b,
        &topic,
        &[Rec {
            partition: 1,
            key: Some("k".into()),
            value: Some(b"{\"x\":1}".to_vec()),
            timestamp: Some(1_700_000_000_123),
            headers: vec![("h".into(), "v".into())],
        }],
    );
    let source = src(&b, &topic).build().unwrap();
    let mut r = reader(&source, BTreeMap::new()).await;
    let got = read(&mut r, 301, T).await;
    assert_eq!(got.records.len(), 301);
    let offsets: BTreeSet<(i32, i64)> = got
        .records
        .iter()
        .map(|r| (r.partition, r.offset))
        .collect();
    assert_eq!(offsets.len(), 301, "no duplicates");
    let is: BTreeSet<u64> = got
        .records
        .iter()
        .filter_map(|r| r.value.as_json().unwrap().get("i").and_then(|i| i.as_u64()))
        .collect();
    assert_eq!(is, (0..300).collect());
    let last = got
        .records
        .iter()
        .find(|r| r.key.as_deref() == Some(b"k"))
        .unwrap();
    assert_eq!(last.timestamp, Some(1_700_000_000_123));
    assert_eq!(last.header("h"), Some(Some(&b"v"[..])));
    assert_eq!(&*last.topic, topic.as_str());
    assert_eq!(last.offset, 100);
    // Positions: the next offset of each partition.
    let pos = positions(&mut r);
    assert_eq!(pos[&format!("{topic}/0")], json!(100));
    assert_eq!(pos[&format!("{topic}/1")], json!(101));
    assert_eq!(pos[&format!("{topic}/2")], json!(100));
    assert_eq!(
        r.describe_origin(Origin {
            split: 1,
            position: 7
        }),
        format!("{topic}/1@7")
    );
    // Nothing more, and no error, when the topic is quiet.
    assert!(read_for(&mut r, Duration::from_millis(700))
        .await
        .records
        .is_empty());
}

#[tokio::test]
async fn start_positions() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("start");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce_json(&b, &topic, 2, 0, 20); // 10 per partition

    // Earliest (the default).
    let mut r = reader(&src(&b, &topic).build().unwrap(), BTreeMap::new()).await;
    assert_eq!(read(&mut r, 20, T).await.records.len(), 20);

    // Latest: only what is produced after the reader started.
    let mut r = reader(
        &src(&b, &topic)
            .with_start(StartOffsets::Latest)
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    assert_eq!(positions(&mut r)[&format!("{topic}/0")], json!(10));
    produce_json(&b, &topic, 2, 20, 4);
    let got = read(&mut r, 4, T).await;
    let is: BTreeSet<u64> = got
        .records
        .iter()
        .map(|r| r.value.as_json().unwrap()["i"].as_u64().unwrap())
        .collect();
    assert_eq!(is, (20..24).collect());

    // Explicit offsets; partitions not listed start at the earliest offset.
    let mut r = reader(
        &src(&b, &topic)
            .with_start(StartOffsets::Offsets(BTreeMap::from([(
                format!("{topic}/0"),
                8,
            )])))
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    let got = read(&mut r, 12 - 8 + 12, T).await;
    assert_eq!(got.records.iter().filter(|r| r.partition == 0).count(), 4);
    assert_eq!(got.records.iter().filter(|r| r.partition == 1).count(), 12);
    assert_eq!(
        got.records
            .iter()
            .filter(|r| r.partition == 0)
            .map(|r| r.offset)
            .min(),
        Some(8)
    );

    // Committed offsets of the group, with the fallback for partitions without one.
    let group = format!("{topic}-g");
    {
        let (b, g, t) = (b.clone(), group.clone(), topic.clone());
        tokio::task::spawn_blocking(move || commit(&b, &g, &t, 0, 9))
            .await
            .unwrap();
    }
    wait_committed(&b, &group, &topic, 0, 9).await;
    for (fallback, p1_first) in [(ResetTo::Earliest, Some(0)), (ResetTo::Latest, None)] {
        let mut r = reader(
            &src(&b, &topic)
                .with_group_id(&group)
                .with_start(StartOffsets::Committed(fallback))
                .build()
                .unwrap(),
            BTreeMap::new(),
        )
        .await;
        let pos = positions(&mut r);
        assert_eq!(pos[&format!("{topic}/0")], json!(9), "{fallback:?}");
        let got = read_for(&mut r, Duration::from_secs(2)).await;
        assert_eq!(
            got.records
                .iter()
                .filter(|r| r.partition == 0)
                .map(|r| r.offset)
                .min(),
            Some(9)
        );
        assert_eq!(
            got.records
                .iter()
                .filter(|r| r.partition == 1)
                .map(|r| r.offset)
                .min(),
            p1_first,
            "{fallback:?}"
        );
    }

    // A timestamp: the mock cluster answers every timestamp look-up with "none", so this starts
    // at the end (the real broker test covers the look-up itself).
    let mut r = reader(
        &src(&b, &topic)
            .with_start(StartOffsets::Timestamp(1))
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    assert_eq!(positions(&mut r)[&format!("{topic}/1")], json!(12));
}

async fn wait_committed(b: &str, group: &str, topic: &str, partition: i32, want: i64) {
    let deadline = std::time::Instant::now() + T;
    loop {
        let (b2, g, t) = (b.to_string(), group.to_string(), topic.to_string());
        let got = tokio::task::spawn_blocking(move || committed(&b2, &g, &t, partition + 1))
            .await
            .unwrap();
        if got[&partition] == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "committed {got:?}, want {want} on {partition}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn restored_positions_win_over_the_start() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("restored");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce_json(&b, &topic, 2, 0, 20);
    let source = src(&b, &topic)
        .with_start(StartOffsets::Latest)
        .build()
        .unwrap();
    // p0 restored at 6; p1 is not in the checkpoint, so it appeared after it: earliest.
    let mut r = reader(&source, BTreeMap::from([(format!("{topic}/0"), json!(6))])).await;
    let got = read(&mut r, 4 + 10, T).await;
    let p0: Vec<i64> = got
        .records
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(p0, (6..10).collect::<Vec<_>>());
    assert_eq!(got.records.iter().filter(|r| r.partition == 1).count(), 10);
    // A corrupt position is a clear error.
    let err = source
        .create_reader(ctx(
            SubtaskInfo::single(),
            BTreeMap::from([(format!("{topic}/0"), json!("x"))]),
        ))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&format!("{topic}/0")), "{err}");
}

#[tokio::test]
async fn bounded_reading_stops_at_the_end_it_saw() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("bounded");
    mc.create_topic(&topic, 3, 1).unwrap();
    produce_json(&b, &topic, 3, 0, 60); // 20 per partition; one partition left short below
    let source = src(&b, &topic)
        .with_stop(StopOffsets::Latest)
        .build()
        .unwrap();
    assert!(source.is_bounded());
    let mut r = reader(&source, BTreeMap::new()).await;
    produce_json(&b, &topic, 3, 60, 30); // after the start: not read
    let got = read(&mut r, usize::MAX, T).await;
    assert!(got.finished, "the reader finishes");
    assert_eq!(got.records.len(), 60);
    assert!(got.records.iter().all(|r| r.offset < 20));
    let pos = positions(&mut r);
    assert_eq!(
        pos[&format!("{topic}/0")],
        json!({"offset": 20, "stop": 20})
    );

    // A restored bounded reader keeps its stop offsets.
    let mut r = reader(
        &source,
        BTreeMap::from([(format!("{topic}/0"), json!({"offset": 15, "stop": 18}))]),
    )
    .await;
    let got = read(&mut r, usize::MAX, T).await;
    assert!(got.finished);
    let p0: Vec<i64> = got
        .records
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(p0, vec![15, 16, 17]);

    // Explicit stops; an empty range is finished at once.
    let source = src(&b, &topic)
        .with_stop(StopOffsets::Offsets(BTreeMap::from([
            (format!("{topic}/0"), 5),
            (format!("{topic}/1"), 0),
        ])))
        .build()
        .unwrap();
    let mut r = reader(&source, BTreeMap::new()).await;
    let got = read(&mut r, usize::MAX, T).await;
    assert!(got.finished);
    assert_eq!(got.records.iter().filter(|r| r.partition == 0).count(), 5);
    assert_eq!(got.records.iter().filter(|r| r.partition == 1).count(), 0);
    assert_eq!(
        got.records.iter().filter(|r| r.partition == 2).count(),
        30,
        "latest at start"
    );

    // A subtask that owns no partition is finished at once.
    let one = rand_topic("bounded1");
    mc.create_topic(&one, 1, 1).unwrap();
    let source = src(&b, &one)
        .with_stop(StopOffsets::Latest)
        .build()
        .unwrap();
    for index in 0..2 {
        let sub = SubtaskInfo {
            index,
            parallelism: 2,
            worker: 0,
            workers: 1,
        };
        let mut r = source
            .create_reader(ctx(sub, BTreeMap::new()))
            .await
            .unwrap();
        let got = read(&mut r, usize::MAX, T).await;
        assert!(got.finished);
    }
}

#[tokio::test]
async fn new_partitions_and_topics_are_discovered_from_the_earliest_offset() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let prefix = rand_topic("disc");
    let first = format!("{prefix}-a");
    mc.create_topic(&first, 2, 1).unwrap();
    produce_json(&b, &first, 2, 0, 10);
    let source = KafkaSource::builder(&b)
        .with_topic_pattern(format!("{}-.*", regex_escape(&prefix)))
        .with_discovery_interval(Duration::from_millis(200))
        .with_start(StartOffsets::Latest)
        .build()
        .unwrap();
    let mut r = reader(&source, BTreeMap::new()).await;
    assert_eq!(positions(&mut r).len(), 2);
    // The mock cluster cannot add partitions to a topic: a new matching topic brings new
    // partitions the same way. They are read from their earliest offset, not "latest".
    let second = format!("{prefix}-b");
    mc.create_topic(&second, 3, 1).unwrap();
    produce_json(&b, &second, 3, 0, 9);
    let got = read(&mut r, 9, T).await;
    assert_eq!(got.records.len(), 9);
    assert!(got.records.iter().all(|r| &*r.topic == second.as_str()));
    assert_eq!(positions(&mut r).len(), 5);
    // Records of the first topic, produced now, come too.
    produce_json(&b, &first, 2, 10, 2);
    assert_eq!(read(&mut r, 2, T).await.records.len(), 2);

    // An explicit list with a missing topic fails at the start, naming it.
    let err = src(&b, &format!("{prefix}-missing"))
        .build()
        .unwrap()
        .create_reader(ctx(SubtaskInfo::single(), BTreeMap::new()))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("does not exist") && err.contains("-missing"),
        "{err}"
    );
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[tokio::test]
async fn bad_values_are_bad_records_with_their_bytes() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("bad");
    mc.create_topic(&topic, 1, 1).unwrap();
    produce(
        &b,
        &topic,
        &[
            Rec::json(0, json!({"ok": 1})),
            Rec {
                partition: 0,
                value: Some(b"{\"a\": nope}".to_vec()),
                ..Rec::default()
            },
            Rec {
                partition: 0,
                value: Some(vec![0xff, 0xfe]),
                ..Rec::default()
            },
            Rec {
                partition: 0,
                value: None,
                ..Rec::default()
            },
        ],
    );
    let mut r = reader(&src(&b, &topic).build().unwrap(), BTreeMap::new()).await;
    let got = read(&mut r, 4, T).await;
    assert_eq!(got.records.len(), 2, "the good one and the tombstone");
    assert_eq!(got.records[1].value, Payload::Null);
    assert_eq!(got.bad.len(), 2);
    assert_eq!(got.bad[0].payload.as_deref(), Some(&b"{\"a\": nope}"[..]));
    assert!(
        got.bad[0]
            .reason
            .starts_with("value is not valid JSON at line 1 column 8"),
        "{}",
        got.bad[0].reason
    );
    assert_eq!(
        got.bad[0].origin,
        Origin {
            split: 0,
            position: 1
        }
    );
    assert_eq!(r.describe_origin(got.bad[0].origin), format!("{topic}/0@1"));
    assert_eq!(
        positions(&mut r)[&format!("{topic}/0")],
        json!(4),
        "bad records are consumed"
    );

    // Text: invalid UTF-8 is bad; bytes: nothing is.
    let mut r = reader(
        &src(&b, &topic)
            .with_value_format(ValueFormat::Text)
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    let got = read(&mut r, 4, T).await;
    assert_eq!(got.bad.len(), 1);
    assert!(got.bad[0].reason.contains("UTF-8"));
    assert_eq!(got.records[1].value, Payload::Text("{\"a\": nope}".into()));
    let mut r = reader(
        &src(&b, &topic)
            .with_value_format(ValueFormat::Bytes)
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    let got = read(&mut r, 4, T).await;
    assert_eq!((got.records.len(), got.bad.len()), (4, 0));
    assert_eq!(got.records[2].value.as_bytes(), Some(&[0xff, 0xfe][..]));
}

#[tokio::test]
async fn event_time_and_watermarks() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("time");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce(
        &b,
        &topic,
        &[
            Rec {
                timestamp: Some(10_000),
                ..Rec::json(0, json!({"ts": 1_000}))
            },
            Rec {
                timestamp: Some(20_000),
                ..Rec::json(0, json!({"ts": "1970-01-01T00:00:02Z"}))
            },
            Rec {
                timestamp: Some(30_000),
                ..Rec::json(1, json!({"ts": 5_000}))
            },
            Rec {
                timestamp: Some(40_000),
                ..Rec::json(1, json!({"no_ts": 1}))
            },
        ],
    );
    let wm = WatermarkConfig {
        out_of_orderness: Duration::from_millis(100),
        idle_timeout: Duration::ZERO,
    };
    // Kafka timestamps (the default).
    let mut r = reader(
        &src(&b, &topic).with_watermark(wm).build().unwrap(),
        BTreeMap::new(),
    )
    .await;
    let got = read(&mut r, 4, T).await;
    let mut ts: Vec<i64> = got.timestamps.iter().map(|t| t.unwrap()).collect();
    ts.sort();
    assert_eq!(ts, [10_000, 20_000, 30_000, 40_000]);
    assert_eq!(r.watermark(), Some(20_000 - 100 - 1), "min over partitions");
    // A JSON field; a record without it is bad.
    let mut r = reader(
        &src(&b, &topic)
            .with_watermark(wm)
            .with_event_time(EventTime::Field("ts".into()))
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    let got = read(&mut r, 4, T).await;
    let mut ts: Vec<i64> = got.timestamps.iter().map(|t| t.unwrap()).collect();
    ts.sort();
    assert_eq!(ts, [1_000, 2_000, 5_000]);
    assert_eq!(got.bad.len(), 1);
    assert_eq!(got.bad[0].reason, "event time field `ts` is missing");
    assert_eq!(got.bad[0].payload.as_deref(), Some(&b"{\"no_ts\":1}"[..]));
    assert_eq!(r.watermark(), Some(2_000 - 100 - 1));
    // With an idle timeout, a quiet partition stops holding the watermark back.
    let idle = WatermarkConfig {
        out_of_orderness: Duration::ZERO,
        idle_timeout: Duration::from_millis(300),
    };
    let quiet = rand_topic("idle");
    mc.create_topic(&quiet, 2, 1).unwrap();
    let mut r = reader(
        &src(&b, &quiet).with_watermark(idle).build().unwrap(),
        BTreeMap::new(),
    )
    .await;
    read_for(&mut r, Duration::from_millis(500)).await;
    assert_eq!(r.watermark(), None, "no records yet");
    // Partition 1 has been quiet for longer than the idle timeout; partition 0 gets a record.
    produce(
        &b,
        &quiet,
        &[Rec {
            timestamp: Some(50_000),
            ..Rec::json(0, json!({}))
        }],
    );
    read(&mut r, 1, T).await;
    read_for(&mut r, Duration::from_millis(800)).await;
    assert_eq!(r.watermark(), Some(49_999));
}

#[tokio::test]
async fn checkpointed_offsets_are_committed_to_the_group() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("commit");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce_json(&b, &topic, 2, 0, 30);
    let group = format!("{topic}-group");
    let mut r = reader(
        &src(&b, &topic).with_group_id(&group).build().unwrap(),
        BTreeMap::new(),
    )
    .await;
    read(&mut r, 30, T).await;
    // Nothing is committed before a checkpoint completes.
    let none = {
        let (b, g, t) = (b.clone(), group.clone(), topic.clone());
        tokio::task::spawn_blocking(move || committed(&b, &g, &t, 2))
            .await
            .unwrap()
    };
    assert_eq!(none.values().copied().collect::<Vec<_>>(), [None, None]);
    r.snapshot().unwrap();
    r.checkpoint_complete(1).await.unwrap();
    wait_committed(&b, &group, &topic, 0, 15).await;
    wait_committed(&b, &group, &topic, 1, 15).await;
    // Without commit_offsets, nothing is committed.
    let g2 = format!("{topic}-nocommit");
    let mut r = reader(
        &src(&b, &topic)
            .with_group_id(&g2)
            .with_commit_offsets(false)
            .build()
            .unwrap(),
        BTreeMap::new(),
    )
    .await;
    read(&mut r, 30, T).await;
    r.snapshot().unwrap();
    r.checkpoint_complete(1).await.unwrap();
    read_for(&mut r, Duration::from_millis(500)).await;
    let (b2, t2) = (b.clone(), topic.clone());
    let got = tokio::task::spawn_blocking(move || committed(&b2, &g2, &t2, 2))
        .await
        .unwrap();
    assert_eq!(got.values().copied().collect::<Vec<_>>(), [None, None]);
}

#[tokio::test]
async fn secrets_never_show() {
    let secret = "hunter2-very-secret";
    let config: KafkaSourceConfig = toml::from_str(&format!(
        r#"
        brokers = "localhost:1"
        topics = ["t"]
        properties = {{ "sasl.password" = "{secret}", "sasl.username" = "alice", "ssl.key.password" = "{secret}", "ssl.keystore.password" = "{secret}" }}
        "#
    ))
    .unwrap();
    for shown in [format!("{config:?}"), format!("{:?}", config.properties)] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("alice"));
    }
    let source = KafkaSource::from_config(&config).unwrap();
    assert!(!format!("{source:?}").contains(secret));
    // librdkafka quotes bad values in its errors: the secret is scrubbed from them.
    let err = KafkaSource::builder("localhost:1")
        .with_topics(["t"])
        .with_property("sasl.password", secret)
        .with_property("security.protocol", secret)
        .build()
        .unwrap_err();
    for shown in [format!("{err}"), format!("{err:?}")] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("security.protocol"), "{shown}");
    }
    // And from errors at run time (no broker listens on port 1).
    let source = KafkaSource::builder("127.0.0.1:1")
        .with_topics(["t"])
        .with_property("sasl.password", secret)
        .with_request_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = source
        .create_reader(ctx(SubtaskInfo::single(), BTreeMap::new()))
        .await
        .err()
        .unwrap();
    assert!(!format!("{err} {err:?}").contains(secret));
}

#[tokio::test]
async fn broker_errors_and_outages_are_waited_out() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("outage");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce_json(&b, &topic, 2, 0, 100);
    let mut r = reader(&src(&b, &topic).build().unwrap(), BTreeMap::new()).await;
    // Failing fetches: retried by librdkafka, logged by the reader, nothing lost.
    mc.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        ],
    );
    let mut got = read(&mut r, 100, T).await.records;
    assert_eq!(got.len(), 100);
    // The broker goes away: polls return nothing (and no error) until it is back.
    mc.broker_down(1).unwrap();
    let during = read_for(&mut r, Duration::from_secs(2)).await;
    assert!(during.records.is_empty());
    mc.broker_up(1).unwrap();
    produce_json(&b, &topic, 2, 100, 50);
    got.extend(read(&mut r, 50, T).await.records);
    let offsets: BTreeSet<(i32, i64)> = got.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(
        (got.len(), offsets.len()),
        (150, 150),
        "nothing lost, nothing doubled"
    );
}

/// The reader reports consumer lag per partition from librdkafka's cached high watermarks: the
/// records between its position and the end of each partition.
#[tokio::test]
async fn consumer_lag_per_partition() {
    let mc = cluster();
    let b = mc.bootstrap_servers();
    let topic = rand_topic("lag");
    mc.create_topic(&topic, 2, 1).unwrap();
    produce_json(&b, &topic, 2, 0, 400);
    let source = src(&b, &topic).build().unwrap();
    let mut r = reader(&source, BTreeMap::new()).await;
    assert_eq!(read(&mut r, 400, T).await.records.len(), 400);
    let lags: BTreeMap<String, i64> = r.lags().into_iter().collect();
    assert_eq!(lags.len(), 2, "both partitions fetched: {lags:?}");
    assert!(lags.values().all(|l| *l == 0), "caught up: {lags:?}");
    // New records: librdkafka fetches them in the background, so the high watermarks move while
    // the reader's positions stay: the lag is what was produced.
    produce_json(&b, &topic, 2, 400, 150);
    let deadline = std::time::Instant::now() + T;
    let lags = loop {
        let lags: BTreeMap<String, i64> = r.lags().into_iter().collect();
        if lags.values().sum::<i64>() == 150 || std::time::Instant::now() > deadline {
            break lags;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lags[&split_id(&topic, 0)], 75, "{lags:?}");
    assert_eq!(lags[&split_id(&topic, 1)], 75, "{lags:?}");
    read(&mut r, 150, T).await;
    assert!(r.lags().iter().all(|(_, l)| *l == 0));
}
