//! Lakes written by Spillway read back with the parquet crate, and with two independent readers,
//! pyarrow and DuckDB: same rows, same types, same Hive partition values.

mod common;

use connector_parquet::testing::event_schema;
use std::collections::BTreeMap;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt64Type};
use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
use serde_json::{json, Value};
use sink_core::fs::LocalTarget;
use sink_core::runtime::{Event, GeneratorConfig, GeneratorSource, Job, LocalCheckpointStore};
use sink_core::sink::{
    BucketAssigner, ChainedBucketAssigner, Context, DateTimeBucketAssigner, FieldBucketAssigner,
    FileSink, WriterContext,
};

const HOUR_FORMAT: &str = "'dt='yyyy-MM-dd'/hour='HH";

/// The generator through the full job runtime (2 subtasks, checkpoints) into 24 hourly Hive
/// partitions of Parquet, read back with the parquet crate: every event once, in the right hour,
/// with the declared types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_writes_hourly_lake_read_back_with_parquet_crate() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let count = 48_000u64;
    let gen = GeneratorConfig {
        count: Some(count),
        step: Duration::from_millis(24 * 3600 * 1000 / count),
        ..GeneratorConfig::default()
    };
    let factory = ParquetWriterFactory::<Event>::for_serde(
        event_schema(),
        ParquetOptions::default().with_batch_size(1000),
    )
    .unwrap();
    let sink = FileSink::for_bulk_format(LocalTarget::new(&lake).unwrap(), factory)
        .with_bucket_assigner(
            DateTimeBucketAssigner::new()
                .with_format(HOUR_FORMAT)
                .unwrap()
                .with_event_time(),
        )
        .build()
        .unwrap();
    let summary = Job::builder("round-trip")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(100))
        .checkpoint_store(LocalCheckpointStore::new(dir.path().join("ckpt")).unwrap())
        .from_source(GeneratorSource::new(gen.clone()).unwrap())
        .sink_to(sink)
        .run()
        .await
        .unwrap();
    assert_eq!(summary.records_committed, count);
    assert!(common::in_progress_files(&lake).is_empty());

    let mut seen = vec![false; count as usize];
    let mut hours = std::collections::BTreeSet::new();
    for (path, batches) in common::read_lake(&lake) {
        let bucket = path.rsplit_once('/').unwrap().0.to_string();
        hours.insert(bucket.clone());
        for b in batches {
            assert_eq!(b.schema().fields(), event_schema().fields(), "{path}");
            let ids = b.column(0).as_primitive::<UInt64Type>();
            let users = b.column(1).as_primitive::<UInt64Type>();
            let items = b.column(2).as_primitive::<UInt64Type>();
            let cats = b.column(3).as_primitive::<UInt64Type>();
            let behaviors = b.column(4).as_string::<i32>();
            let ts = b.column(5).as_primitive::<TimestampMillisecondType>();
            for i in 0..b.num_rows() {
                let id = ids.value(i);
                let want = gen.event((id % 4) as u32, id / 4);
                assert!(
                    !std::mem::replace(&mut seen[id as usize], true),
                    "{id} twice"
                );
                assert_eq!(
                    (
                        users.value(i),
                        items.value(i),
                        cats.value(i),
                        behaviors.value(i),
                        ts.value(i)
                    ),
                    (
                        want.user_id,
                        want.item_id,
                        want.category_id,
                        want.behavior.as_str(),
                        want.ts
                    )
                );
                let t = chrono::DateTime::from_timestamp_millis(want.ts).unwrap();
                assert_eq!(bucket, t.format("dt=%Y-%m-%d/hour=%H").to_string());
            }
        }
    }
    assert!(seen.iter().all(|s| *s), "events missing");
    assert_eq!(hours.len(), 24, "{hours:?}");
}

const LAKE_SCHEMA: &str = r#"
fields = [
  { name = "id", type = "uint64", nullable = false },
  { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
  { name = "price", type = "decimal128", precision = 10, scale = 2 },
  { name = "tags", type = "list", item = { type = "string" } },
  { name = "user", type = "struct", fields = [ { name = "id", type = "int64" }, { name = "name", type = "string" } ] },
  { name = "score", type = "float64" },
  { name = "ok", type = "boolean" },
  { name = "day", type = "date32" },
  { name = "blob", type = "binary" },
  { name = "small", type = "int16" },
  { name = "country", type = "string" },
]
"#;

const COUNTRIES: [&str; 3] = ["DE", "FR", "US"];
const T0: i64 = 1_795_478_400_000; // 2026-11-24T00:00:00Z

fn lake_record(i: u64) -> Value {
    json!({
        "id": i,
        "ts": T0 + (i as i64) * 60_000,
        "price": format!("{}.{:02}", i, i % 100),
        "tags": (0..i % 3).map(|k| format!("t{k}")).collect::<Vec<_>>(),
        "user": {"id": i as i64 * 10, "name": format!("u{i}")},
        "score": i as f64 / 4.0,
        "ok": i % 2 == 0,
        "day": "2026-11-24",
        "blob": [i as u8, 1],
        "small": -(i as i64),
        "country": COUNTRIES[(i % 3) as usize],
    })
}

/// A lake partitioned by event hour and country, with `country` dropped from the files, read by
/// pyarrow (`partitioning = "hive"`) and DuckDB (`hive_partitioning = true`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_and_duckdb_read_the_lake_with_hive_partitions() {
    let Some(python) =
        common::python_or_skip("pyarrow_and_duckdb_read_the_lake_with_hive_partitions")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let schema: SchemaConfig = toml::from_str(LAKE_SCHEMA).unwrap();
    let factory = ParquetWriterFactory::<Value>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default().with_drop_columns(["country"]),
    )
    .unwrap();
    let assigner = || -> Box<dyn BucketAssigner<Value>> {
        Box::new(ChainedBucketAssigner::new(vec![
            Box::new(
                DateTimeBucketAssigner::new()
                    .with_format(HOUR_FORMAT)
                    .unwrap()
                    .with_event_time(),
            ),
            Box::new(FieldBucketAssigner::hive(["country"]).unwrap()),
        ]))
    };
    let sink = FileSink::for_bulk_format(LocalTarget::new(&lake).unwrap(), factory)
        .with_bucket_assigner_factory(assigner)
        .build()
        .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    let n = 300u64;
    for i in 0..n {
        let ctx = Context {
            timestamp: Some(T0 + i as i64 * 60_000),
            ..Context::default()
        };
        w.write(&lake_record(i), &ctx).await.unwrap();
        if i == n / 2 {
            w.snapshot(1).await.unwrap();
            w.notify_checkpoint_complete(1).await.unwrap();
        }
    }
    w.close_all().await.unwrap();
    w.snapshot(2).await.unwrap();
    w.notify_checkpoint_complete(2).await.unwrap();

    let got = common::run_python(&python, PY_READ, &[lake.to_str().unwrap()]);

    // The files keep the declared Arrow types (pyarrow reads the Arrow schema in the footer).
    let file_types = json!({
        "id": "uint64", "ts": "timestamp[ms, tz=UTC]", "price": "decimal128(10, 2)",
        "tags": "list<item: string>", "user": "struct<id: int64, name: string>",
        "score": "double", "ok": "bool", "day": "date32[day]", "blob": "binary", "small": "int16",
    });
    assert_eq!(got["file_types"], file_types);
    assert_eq!(got["file_nullable"]["id"], json!(false));

    let mut dataset_types = file_types.as_object().unwrap().clone();
    dataset_types.insert("dt".into(), json!("string"));
    dataset_types.insert("hour".into(), json!("int32"));
    dataset_types.insert("country".into(), json!("string"));
    assert_eq!(got["pyarrow"]["types"], Value::Object(dataset_types));

    let duck_types: BTreeMap<String, String> =
        serde_json::from_value(got["duckdb"]["types"].clone()).unwrap();
    let want_duck = [
        ("id", "UBIGINT"),
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("price", "DECIMAL(10,2)"),
        ("tags", "VARCHAR[]"),
        ("score", "DOUBLE"),
        ("ok", "BOOLEAN"),
        ("day", "DATE"),
        ("blob", "BLOB"),
        ("small", "SMALLINT"),
        ("dt", "DATE"),
        // DuckDB keeps zero-padded values ("07") as text.
        ("hour", "VARCHAR"),
        ("country", "VARCHAR"),
    ];
    for (col, t) in want_duck {
        assert_eq!(
            duck_types.get(col).map(String::as_str),
            Some(t),
            "{col}: {duck_types:?}"
        );
    }
    assert!(
        duck_types["user"].starts_with("STRUCT(id BIGINT"),
        "{duck_types:?}"
    );

    for reader in ["pyarrow", "duckdb"] {
        let rows = got[reader]["rows"].as_array().unwrap();
        assert_eq!(rows.len() as u64, n, "{reader}");
        for (i, row) in rows.iter().enumerate() {
            let i = i as u64;
            let r = lake_record(i);
            let ts = T0 + i as i64 * 60_000;
            let hour = (ts - T0) / 3_600_000;
            let want = json!({
                "id": i,
                "ts": ts,
                "price": r["price"],
                "tags": r["tags"],
                "user": r["user"],
                "score": r["score"],
                "ok": r["ok"],
                "day": "2026-11-24",
                "blob": format!("{:02x}01", i as u8),
                "small": r["small"],
                "dt": "2026-11-24",
                "hour": hour,
                "country": r["country"],
            });
            assert_eq!(row, &want, "{reader} row {i}");
        }
    }
}

/// Reads a lake with pyarrow and DuckDB; prints types and rows (sorted by id) as JSON.
const PY_READ: &str = r#"
import sys, json, glob, os
import pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as ds, pyarrow.parquet as pq
import duckdb

root = sys.argv[1]
files = sorted(glob.glob(os.path.join(root, "**", "*.parquet"), recursive=True))
fs = pq.read_schema(files[0])
out = {
    "file_types": {f.name: str(f.type) for f in fs},
    "file_nullable": {f.name: f.nullable for f in fs},
}

def conv(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list):
        return [conv(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)

t = ds.dataset(root, format="parquet", partitioning="hive").to_table()
types = {f.name: str(f.type) for f in t.schema}
t = t.set_column(t.schema.get_field_index("ts"), "ts", pc.cast(t["ts"], pa.int64()))
rows = sorted((conv(r) for r in t.to_pylist()), key=lambda r: r["id"])
out["pyarrow"] = {"types": types, "rows": rows}

con = duckdb.connect()
src = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
desc = con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()
q = con.sql(f"""SELECT id, epoch_ms(ts) AS ts, CAST(price AS VARCHAR) AS price, tags, "user", score,
    ok, CAST(day AS VARCHAR) AS day, lower(hex(blob)) AS blob, small, CAST(dt AS VARCHAR) AS dt,
    CAST(hour AS INTEGER) AS hour, country FROM {src} ORDER BY id""")
cols = [d[0] for d in q.description]
rows = [conv(dict(zip(cols, r))) for r in q.fetchall()]
out["duckdb"] = {"types": {d[0]: d[1] for d in desc}, "rows": rows}
print(json.dumps(out))
"#;
