//! Memory with ten thousand open partitions: the sink's accounted memory stays under its budget,
//! and so does the process's peak RSS (measured in a child process), give or take a fixed overhead.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
use parquet::file::reader::{FileReader, SerializedFileReader};
use sink_core::fs::{LocalTarget, LocalTargetOptions};
use sink_core::sink::{
    Context, FieldAccess, FieldBucketAssigner, FieldValue, FileSink, WriterContext,
};

const BUDGET: usize = 64 * 1024 * 1024;
const RECORDS: u64 = 2_000_000;

#[derive(serde::Serialize)]
struct Small {
    key: u32,
    seq: u64,
    v: i64,
    tag: &'static str,
}

impl FieldAccess for Small {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        (name == "key").then_some(FieldValue::UInt(self.key as u64))
    }
}

const TAGS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

#[derive(Debug)]
struct Outcome {
    max_memory: usize,
    files: usize,
    rows: u64,
    secs: f64,
}

/// Writes `records` small records round-robin over `partitions` Hive partitions (`key=...`) with
/// the memory budget, then publishes everything.
async fn workload(partitions: u32, records: u64, dir: &Path) -> Outcome {
    let schema: SchemaConfig = toml::from_str(
        r#"fields = [
            { name = "key", type = "uint32", nullable = false },
            { name = "seq", type = "uint64", nullable = false },
            { name = "v", type = "int64" },
            { name = "tag", type = "string" },
        ]"#,
    )
    .unwrap();
    let factory = ParquetWriterFactory::<Small>::for_serde_with_schema_config(
        &schema,
        ParquetOptions::default().with_drop_columns(["key"]),
    )
    .unwrap();
    // No fsync: this is about memory, and ten thousand fsyncs at close take a while.
    let target = LocalTarget::with_options(dir, LocalTargetOptions { sync: false }).unwrap();
    let sink = FileSink::for_bulk_format(target, factory)
        .with_bucket_assigner(FieldBucketAssigner::hive(["key"]).unwrap())
        .with_memory_budget(BUDGET)
        .build()
        .unwrap();
    let mut w = sink
        .writer(WriterContext::new(0, "m"), vec![])
        .await
        .unwrap();
    let started = Instant::now();
    let mut max_memory = 0;
    let ctx = Context::default();
    for seq in 0..records {
        let r = Small {
            key: (seq % partitions as u64) as u32,
            seq,
            v: seq as i64 * 3,
            tag: TAGS[(seq % 4) as usize],
        };
        w.write(&r, &ctx).await.unwrap();
        max_memory = max_memory.max(w.memory());
    }
    w.close_all().await.unwrap();
    w.snapshot(1).await.unwrap();
    w.notify_checkpoint_complete(1).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let files = common::read_lake_paths(dir);
    let rows = files
        .iter()
        .map(|p| {
            let r = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
            r.metadata().file_metadata().num_rows() as u64
        })
        .sum();
    Outcome {
        max_memory,
        files: files.len(),
        rows,
        secs,
    }
}

/// The sink's own accounting, in this process: 10,000 partitions, 2 million records, 64 MiB.
#[tokio::test(flavor = "current_thread")]
async fn sink_memory_stays_under_budget_with_10k_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let o = workload(10_000, RECORDS, dir.path()).await;
    println!("10,000 partitions: {o:?}");
    assert_eq!(o.rows, RECORDS);
    assert!(
        o.max_memory <= BUDGET,
        "accounted memory {} > budget {BUDGET}",
        o.max_memory
    );
}

/// Runs the workload in a child process (this test binary, running `rss_child`) and returns its
/// peak RSS in bytes and what it printed.
fn child_peak_rss(partitions: u32, records: u64) -> (u64, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "rss_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPILLWAY_RSS_CHILD", format!("{partitions},{records}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb: u64 = stdout
        .lines()
        .find_map(|l| l.split_once("VmHWM_KB=").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no VmHWM in: {stdout}"))
        .trim()
        .parse()
        .unwrap();
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("outcome ").map(|(_, v)| v))
        .unwrap_or_default()
        .to_string();
    (kb * 1024, line)
}

/// Peak RSS of the whole process: a baseline run (10 partitions, 10,000 records) measures what
/// the process costs besides the sink's buffers; the run with 10,000 partitions and 2 million
/// records must stay under the budget plus that baseline plus an allowance for what the budget
/// does not count: the sink's own state per open part (its stream, names and map entries: about
/// 2.2 KiB measured in `tests/accounting.rs`, 3 KiB with the allocator's overhead) and 8 MiB
/// for the flush in progress and the allocator's slack.
#[test]
fn peak_rss_with_10k_partitions() {
    const PER_OPEN_PART: u64 = 3072;
    const ALLOWANCE: u64 = 10_000 * PER_OPEN_PART + 8 * 1024 * 1024;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (baseline, b_line) = child_peak_rss(10, 10_000);
    let (few, f_line) = child_peak_rss(10, RECORDS);
    let (many, m_line) = child_peak_rss(10_000, RECORDS);
    println!(
        "peak RSS, baseline (10 partitions, 10,000 records): {:.1} MiB; {b_line}",
        mib(baseline)
    );
    println!(
        "peak RSS, 10 partitions, 2M records: {:.1} MiB; {f_line}",
        mib(few)
    );
    println!(
        "peak RSS, 10,000 partitions, 2M records: {:.1} MiB; {m_line}",
        mib(many)
    );
    let limit = BUDGET as u64 + baseline + ALLOWANCE;
    assert!(
        many < limit,
        "peak RSS {:.1} MiB >= budget 64 MiB + baseline {:.1} MiB + allowance {:.1} MiB",
        mib(many),
        mib(baseline),
        mib(ALLOWANCE)
    );
}

/// The child's side of `peak_rss_with_10k_partitions` (does nothing when run directly).
#[test]
#[ignore = "run by peak_rss_with_10k_partitions in a child process"]
fn rss_child() {
    let Ok(spec) = std::env::var("SPILLWAY_RSS_CHILD") else {
        return;
    };
    let (p, n) = spec.split_once(',').unwrap();
    let (partitions, records): (u32, u64) = (p.parse().unwrap(), n.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let o = rt.block_on(workload(partitions, records, dir.path()));
    assert_eq!(o.rows, records);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .to_string();
    println!(
        "outcome max_memory={} files={} secs={:.1}",
        o.max_memory, o.files, o.secs
    );
    println!("VmHWM_KB={hwm}");
}
