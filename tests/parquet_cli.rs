//! `format = "parquet"` through the real `spillway` binary: the quickstart's Hive-partitioned lake
//! read by DuckDB, and a SIGKILL drill read back by pyarrow. Neither reader was written here.
#![cfg(feature = "parquet")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SPLITS: u64 = 4;

/// Runs a Python script (argument: the lake) and parses the JSON it prints.
fn python(python: &str, script: &str, dir: &Path) -> serde_json::Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.join("lake"))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

fn hidden_files(lake: &Path) -> Vec<std::path::PathBuf> {
    files(lake)
        .into_iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

#[test]
fn the_quickstart_lake_is_read_by_duckdb_with_hive_partitions() {
    let Some(py) = sink_core::test_support::service("SPILLWAY_PYTHON", "Python with duckdb") else {
        return;
    };
    let quickstart = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.toml"),
    )
    .unwrap();
    // The same job, smaller and unthrottled.
    let job = quickstart
        .replace("count = 2_000_000", "count = 60_000")
        .replace("rate = 200_000", "")
        .replace("interval = \"5s\"", "interval = \"300ms\"");
    assert_ne!(
        job, quickstart,
        "the quickstart's count and rate lines moved"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), &job).unwrap();
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lake = dir.path().join("lake");
    assert!(hidden_files(&lake).is_empty());
    for f in files(&lake) {
        let rel = f
            .strip_prefix(&lake)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 3, "{rel}");
        assert!(
            parts[0].starts_with("dt=2026-11-2") && parts[1].starts_with("hour="),
            "{rel}"
        );
        assert!(
            parts[2].starts_with("part-") && parts[2].ends_with(".parquet"),
            "{rel}"
        );
    }
    let r = python(
        &py,
        r#"
import duckdb, json, sys
lake = sys.argv[1]
con = duckdb.connect()
q = f"select * from read_parquet('{lake}/**/*.parquet', hive_partitioning = true)"
rows, ids, lo, hi = con.execute(f"select count(*), count(distinct event_id), min(event_id), max(event_id) from ({q})").fetchall()[0]
# The partition values in the paths agree with the event time in the rows.
wrong = con.execute(f"select count(*) from ({q}) where strftime(timezone('UTC', ts), '%Y-%m-%d') != cast(dt as varchar) or strftime(timezone('UTC', ts), '%H') != cast(hour as varchar)").fetchall()[0][0]
rel = con.sql(q)
types = {n: str(t) for n, t in zip(rel.columns, rel.types)}
behaviors = sorted(r[0] for r in con.sql(f"select distinct behavior from ({q})").fetchall())
print(json.dumps({"rows": rows, "ids": ids, "lo": lo, "hi": hi, "wrong": wrong, "types": types, "behaviors": behaviors}))
"#,
        dir.path(),
    );
    assert_eq!(r["rows"], 60_000, "{r}");
    assert_eq!(r["ids"], 60_000, "{r}");
    assert_eq!(r["lo"], 0, "{r}");
    assert_eq!(r["hi"], 59_999, "{r}");
    assert_eq!(r["wrong"], 0, "rows in the wrong partition: {r}");
    assert_eq!(r["types"]["event_id"], "UBIGINT", "{r}");
    assert_eq!(r["types"]["ts"], "TIMESTAMP WITH TIME ZONE", "{r}");
    assert_eq!(r["types"]["behavior"], "VARCHAR", "{r}");
    assert_eq!(r["types"]["dt"], "DATE", "{r}");
    assert_eq!(
        r["behaviors"],
        serde_json::json!(["buy", "cart", "fav", "pv"]),
        "{r}"
    );
}

#[test]
fn parquet_sigkill_at_random_moments_then_sigterm_is_exactly_once() {
    let Some(py) = sink_core::test_support::service("SPILLWAY_PYTHON", "Python with pyarrow")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "parquet-drill"
parallelism = 2

[source]
type = "generator"
splits = {SPLITS}
rate = 100000
step = "20ms"

[sink]
path = "lake"
format = "parquet"

[sink.bucketing]
type = "datetime"
time = "event"
format = "'dt='yyyy-MM-dd'/hour='HH'/minute='mm"

[sink.schema]
fields = [
  {{ name = "event_id", type = "uint64", nullable = false }},
  {{ name = "user_id", type = "int64" }},
  {{ name = "behavior", type = "string" }},
  {{ name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" }},
]

[sink.parquet]
unknown_fields = "ignore"
compression = "snappy"
batch_size = 1000

[checkpoint]
dir = "checkpoints"
interval = "150ms"
"#
        ),
    )
    .unwrap();
    let kills = 12;
    sigkill_drill(
        &job,
        dir.path(),
        kills,
        (30, 1200),
        Duration::from_millis(1500),
    );
    let checkpoint = latest_checkpoint(&dir.path().join("checkpoints"), dir.path());
    assert_eq!(checkpoint["final_checkpoint"], true);
    assert!(hidden_files(&dir.path().join("lake")).is_empty());

    // Per split (event_id mod 4): rows, distinct ids, smallest and largest id.
    let r = python(
        &py,
        r#"
import json, sys
import pyarrow.compute as pc
import pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").to_table(columns=["event_id", "dt", "hour", "minute"])
ids = t.column("event_id")
out = {}
for split in range(4):
    s = pc.filter(ids, pc.equal(pc.bit_wise_and(ids, 3), split))
    out[str(split)] = {"rows": len(s), "distinct": pc.count_distinct(s).as_py(),
                       "min": pc.min(s).as_py(), "max": pc.max(s).as_py()}
print(json.dumps(out))
"#,
        dir.path(),
    );
    let mut total = 0;
    for split in 0..SPLITS {
        let pos = checkpoint["sources"][format!("gen-{split}")]
            .as_u64()
            .expect("position of every split");
        assert!(pos > 0, "split {split} made progress");
        total += pos;
        let s = &r[split.to_string()];
        // pos rows, all distinct, from the first id of the split to the last checkpointed one:
        // exactly the ids 0..pos of the split, each once.
        assert_eq!(s["rows"], pos, "split {split}: {s}");
        assert_eq!(s["distinct"], pos, "split {split} has duplicates: {s}");
        assert_eq!(s["min"], split, "split {split}: {s}");
        assert_eq!(s["max"], (pos - 1) * SPLITS + split, "split {split}: {s}");
    }
    eprintln!("{total} events exactly once in Parquet after {kills} kills");
}

#[test]
fn parquet_job_file_mistakes_are_errors_that_name_the_field() {
    let base = r#"
[job]
name = "pq"

[source]
type = "generator"
count = 1000

[sink]
path = "lake"
format = "parquet"

[sink.schema]
fields = [{ name = "event_id", type = "uint64" }]

[sink.parquet]
unknown_fields = "ignore"

[checkpoint]
dir = "ckpt"
"#;
    let cases = [
        (
            base.replace(
                "[sink.schema]\nfields = [{ name = \"event_id\", type = \"uint64\" }]",
                "",
            ),
            "sink.schema",
        ),
        (base.replace("\"uint64\"", "\"uint46\""), "uint46"),
        (
            base.replace("unknown_fields = \"ignore\"", "compresion = \"zstd\""),
            "compresion",
        ),
        (
            base.replace("unknown_fields = \"ignore\"", "compression = \"zip\""),
            "zip",
        ),
        (
            base.replace("format = \"parquet\"", "format = \"json\""),
            "sink.parquet: only applies to format = \"parquet\"",
        ),
        (
            base.replace(
                "[checkpoint]",
                "[sink.rolling]\npolicy = \"default\"\n[checkpoint]",
            ),
            "sink.rolling.policy",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (body, want) in cases {
        std::fs::write(dir.path().join("job.toml"), &body).unwrap();
        let out = run(&["validate", "job.toml"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "expected {want:?} in:\n{err}");
    }
    // And the valid file validates, naming the format.
    std::fs::write(dir.path().join("job.toml"), base).unwrap();
    let out = run(&["validate", "job.toml"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("parquet"));
    assert!(!dir.path().join("lake").exists());
}

#[test]
fn records_that_do_not_fit_the_schema_follow_the_bad_record_policy() {
    let dir = tempfile::tempdir().unwrap();
    // `behavior` is a string in the events; declaring it an integer makes every record bad.
    let job = r#"
[job]
name = "pq-bad"
on_bad_record = "dead-letter"

[source]
type = "generator"
count = 500

[sink]
path = "lake"
format = "parquet"
bucketing = { type = "base" }

[sink.schema]
fields = [{ name = "event_id", type = "uint64" }, { name = "behavior", type = "int32" }]

[sink.parquet]
unknown_fields = "ignore"

[checkpoint]
dir = "ckpt"
"#;
    std::fs::write(dir.path().join("job.toml"), job).unwrap();
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("500 bad"), "{stdout}");
    let letters: Vec<_> = files(&dir.path().join("lake/_dead_letter"));
    assert!(!letters.is_empty(), "no dead letters");
    let text: String = letters
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert_eq!(text.lines().count(), 500);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let reason = first.to_string();
    assert!(reason.contains("field \\\"behavior\\\""), "{reason}");
    assert_eq!(first["origin"], "generator/0#0", "origin named: {reason}");

    // With the default policy the job stops, naming the field and the record.
    std::fs::write(
        dir.path().join("job.toml"),
        job.replace("on_bad_record = \"dead-letter\"", "")
            .replace("lake", "lake2")
            .replace("ckpt", "ckpt2"),
    )
    .unwrap();
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("field \"behavior\""), "{err}");
}
