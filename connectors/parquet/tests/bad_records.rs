//! Records that do not fit the schema are refused one by one, with a message naming the field; the
//! writer goes on; through a job, dead letters carry the message and the record's origin.

mod common;

use std::time::Duration;

use arrow_array::Array;
use bytes::Bytes;
use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig, UnknownFields};
use serde_json::{json, Value};
use sink_core::fs::LocalTarget;
use sink_core::runtime::{
    BadRecordPolicy, Event, GeneratorConfig, GeneratorSource, Job, LocalCheckpointStore,
};
use sink_core::sink::{BasePathBucketAssigner, BulkWriter, FileSink, WriteError};

const SCHEMA: &str = r#"
fields = [
  { name = "id", type = "uint64", nullable = false },
  { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
  { name = "price", type = "decimal128", precision = 6, scale = 2 },
  { name = "tags", type = "list", item = { type = "string", nullable = false } },
  { name = "user", type = "struct", fields = [ { name = "id", type = "int64", nullable = false } ] },
  { name = "country", type = "string" },
]
"#;

fn factory(options: ParquetOptions) -> ParquetWriterFactory<Value> {
    let schema: SchemaConfig = toml::from_str(SCHEMA).unwrap();
    ParquetWriterFactory::for_serde_with_schema_config(&schema, options).unwrap()
}

#[test]
fn bad_records_name_the_field_and_the_writer_goes_on() {
    let table = [
        (
            json!({"id": "seven"}),
            r#"field "id": expected uint64, got "seven""#,
        ),
        (
            json!({"id": -1}),
            r#"field "id": -1 is out of range for uint64"#,
        ),
        (
            json!({"id": 1.5}),
            r#"field "id": expected uint64, got 1.5"#,
        ),
        (
            json!({"ts": 1}),
            r#"field "id": missing (the field is not nullable)"#,
        ),
        (
            json!({"id": null}),
            r#"field "id": null in a non-nullable field"#,
        ),
        (
            json!({"id": 1, "ts": "yesterday"}),
            r#"field "ts": expected timestamp, got "yesterday""#,
        ),
        (
            json!({"id": 1, "ts": true}),
            r#"field "ts": expected timestamp, got true"#,
        ),
        (
            json!({"id": 1, "price": "12.345"}),
            r#"field "price": 12.345 has more than 2 digits after the point"#,
        ),
        (
            json!({"id": 1, "price": 12345}),
            r#"field "price": 12345 does not fit decimal128(6, 2)"#,
        ),
        (
            json!({"id": 1, "tags": "a"}),
            r#"field "tags": expected list, got "a""#,
        ),
        (
            json!({"id": 1, "tags": ["a", 5]}),
            r#"field "tags[]": expected string, got 5"#,
        ),
        (
            json!({"id": 1, "tags": ["a", null]}),
            r#"field "tags[]": null in a non-nullable field"#,
        ),
        (
            json!({"id": 1, "user": {"id": "x"}}),
            r#"field "user.id": expected int64, got "x""#,
        ),
        (
            json!({"id": 1, "user": {}}),
            r#"field "user.id": missing (the field is not nullable)"#,
        ),
        (
            json!({"id": 1, "user": {"id": 1, "age": 3}}),
            r#"field "user.age": not in the schema"#,
        ),
        (
            json!({"id": 1, "user": [1]}),
            r#"field "user": expected struct, got a list"#,
        ),
        (
            json!({"id": 1, "extra": 1}),
            r#"field "extra": not in the schema"#,
        ),
        (
            json!([1, 2]),
            "expected a record (a struct or a map), got a list",
        ),
        (
            json!("text"),
            r#"expected a record (a struct or a map), got "text""#,
        ),
    ];
    let f = factory(ParquetOptions::default().with_batch_size(3));
    let mut w: Box<dyn BulkWriter<Value>> = Box::new(f.writer());
    let mut out = Vec::new();
    let mut good = 0u64;
    for (record, want) in &table {
        match w.add(record) {
            Err(WriteError::BadRecord(msg)) => assert!(msg.starts_with(want), "{record}: {msg}"),
            other => panic!("{record}: {other:?}"),
        }
        // The next record works, and the bad one left nothing behind.
        w.add(&json!({"id": good, "tags": ["ok"], "user": {"id": 5}}))
            .unwrap();
        good += 1;
        w.take_output(&mut out);
    }
    w.finish(&mut out).unwrap();
    let batches = common::read_bytes(Bytes::from(out));
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as u64, good);
    for b in &batches {
        let tags = b.column_by_name("tags").unwrap();
        let tags = tags
            .as_any()
            .downcast_ref::<arrow_array::ListArray>()
            .unwrap();
        for i in 0..tags.len() {
            assert_eq!(tags.value(i).len(), 1, "a bad record's items were kept");
        }
    }
}

#[test]
fn unknown_fields_can_be_ignored_and_dropped_columns_are_skipped() {
    let f = factory(
        ParquetOptions::default()
            .with_unknown_fields(UnknownFields::Ignore)
            .with_drop_columns(["country"]),
    );
    let mut w: Box<dyn BulkWriter<Value>> = Box::new(f.writer());
    w.add(&json!({"id": 1, "extra": {"deep": [1]}, "country": 5, "user": {"id": 1, "x": 2}}))
        .unwrap();
    let mut out = Vec::new();
    w.finish(&mut out).unwrap();
    let b = &common::read_bytes(Bytes::from(out))[0];
    assert_eq!(b.num_rows(), 1);
    assert!(b.column_by_name("country").is_none());
    assert!(b.column_by_name("extra").is_none());

    // With errors on unknown fields, a dropped column is still accepted without a check.
    let f = factory(ParquetOptions::default().with_drop_columns(["country"]));
    let mut w = f.writer();
    w.append(&json!({"id": 1, "country": {"any": "thing"}}))
        .unwrap();
    let e = w.append(&json!({"id": 1, "other": 1})).unwrap_err();
    assert!(e.starts_with(r#"field "other": not in the schema"#), "{e}");
}

#[test]
fn duplicate_members_are_refused() {
    #[derive(serde::Serialize)]
    struct Twice {
        id: u64,
        #[serde(rename = "id")]
        again: u64,
    }
    let schema: SchemaConfig =
        toml::from_str(r#"fields = [{ name = "id", type = "uint64" }]"#).unwrap();
    let f = ParquetWriterFactory::<Twice>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default(),
    )
    .unwrap();
    let mut w = f.writer();
    let e = w.append(&Twice { id: 1, again: 2 }).unwrap_err();
    assert_eq!(e, r#"field "id": given twice"#);
    assert_eq!(w.buffered_rows(), 0);
}

/// Through a real job: every 97th generated event gets a timestamp that does not parse. With the
/// dead-letter policy, those land in `_dead_letter/` naming the field and their origin, and the
/// others in the Parquet files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_name_the_field_and_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema: SchemaConfig = toml::from_str(
        r#"fields = [
            { name = "event_id", type = "uint64", nullable = false },
            { name = "behavior", type = "string" },
            { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
        ]"#,
    )
    .unwrap();
    let factory = ParquetWriterFactory::<Value>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default(),
    )
    .unwrap();
    let sink = FileSink::for_bulk_format(LocalTarget::new(&lake).unwrap(), factory)
        .with_bucket_assigner(BasePathBucketAssigner)
        .build()
        .unwrap();
    let count = 5_000u64;
    let summary = Job::builder("dead-letters")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(200))
        .checkpoint_store(LocalCheckpointStore::new(dir.path().join("ckpt")).unwrap())
        .bad_records(BadRecordPolicy::DeadLetter)
        .from_source(
            GeneratorSource::new(GeneratorConfig {
                count: Some(count),
                ..GeneratorConfig::default()
            })
            .unwrap(),
        )
        .map(|e: Event| {
            let ts = if e.event_id % 97 == 0 {
                json!("yesterday")
            } else {
                json!(e.ts)
            };
            json!({"event_id": e.event_id, "behavior": e.behavior.as_str(), "ts": ts})
        })
        .with_dead_letter_payload(|v: &Value| serde_json::to_vec(v).unwrap())
        .sink_to(sink)
        .run()
        .await
        .unwrap();
    let bad = count.div_ceil(97);
    assert_eq!(summary.bad_records, bad);

    let mut ids = Vec::new();
    for (_, batches) in common::read_lake(&lake) {
        for b in batches {
            let col = b.column_by_name("event_id").unwrap();
            let col = col
                .as_any()
                .downcast_ref::<arrow_array::UInt64Array>()
                .unwrap();
            ids.extend(col.values().iter().copied());
        }
    }
    ids.sort_unstable();
    let want: Vec<u64> = (0..count).filter(|i| i % 97 != 0).collect();
    assert_eq!(ids, want);

    let mut letters = Vec::new();
    for e in std::fs::read_dir(lake.join("_dead_letter")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with('.') {
            continue;
        }
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            letters.push(serde_json::from_str::<Value>(line).unwrap());
        }
    }
    assert_eq!(letters.len() as u64, bad);
    for l in &letters {
        assert_eq!(
            l["reason"],
            json!(r#"field "ts": expected timestamp, got "yesterday""#)
        );
        let payload: Value = serde_json::from_str(l["payload"].as_str().unwrap()).unwrap();
        let id = payload["event_id"].as_u64().unwrap();
        // The generator's split s emits ids seq * 4 + s at position seq.
        let origin = format!("generator/{}#{}", id % 4, id / 4);
        assert_eq!(l["origin"], json!(origin), "{l}");
    }
}
