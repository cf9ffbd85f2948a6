//! Spillway's Parquet path against a bare `ArrowWriter`.
//!
//! * spillway: the generator (`Event` rows, event time spread over 24 hours) through the full job
//!   runtime (one subtask, checkpoints every 10 s) into 24 hourly Hive partitions
//!   (`dt=.../hour=...`) of zstd Parquet on local disk, records checked one by one through serde.
//! * bare: the same rows built into Arrow batches of the same size with Arrow's builders and
//!   written to one file by an `ArrowWriter` with the same properties.
//!
//! Both include generating the events. Prints rows/s and MB/s (Parquet bytes out) of each run and
//! the medians. `cargo bench -p connector-parquet --bench throughput`; `SPILLWAY_BENCH_EVENTS`
//! (default 4,000,000) and `SPILLWAY_BENCH_RUNS` (default 5) change the size.
//!
//! `SPILLWAY_BENCH_ONLY=spillway|bare|discard|noop` runs one side alone (for `perf record`):
//! `discard` is the job into a sink that drops records (the runtime and generator), `noop` the
//! job into the file sink with a bulk writer that keeps nothing (adds the sink's own cost per
//! record). `SPILLWAY_BENCH_DICTIONARY=0` turns dictionaries off on both sides;
//! `SPILLWAY_BENCH_KEEP=1` keeps the output for inspection.

use sink_core::test_support::median;
use std::time::{Duration, Instant};

use connector_parquet::testing::{event_schema, EventBatchBuilder};
use connector_parquet::{ParquetOptions, ParquetWriterFactory, DEFAULT_BATCH_SIZE};
use parquet::arrow::ArrowWriter;
use sink_core::fs::LocalTarget;
use sink_core::runtime::{Event, GeneratorConfig, GeneratorSource, Job, LocalCheckpointStore};
use sink_core::sink::{DateTimeBucketAssigner, FileSink};

/// The writer settings of both sides (`SPILLWAY_BENCH_DICTIONARY=0` turns dictionaries off).
fn options() -> ParquetOptions {
    let dictionary = std::env::var("SPILLWAY_BENCH_DICTIONARY").map_or(true, |v| v != "0");
    ParquetOptions::default().with_dictionary(dictionary)
}

fn generator(events: u64) -> GeneratorConfig {
    GeneratorConfig {
        count: Some(events),
        // Event time spans 24 hours: 24 hourly partitions.
        step: Duration::from_micros(24 * 3600 * 1_000_000 / events),
        ..GeneratorConfig::default()
    }
}

struct Run {
    secs: f64,
    rows: u64,
    bytes: u64,
}

impl Run {
    fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.secs
    }
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs
    }
}

fn dir_bytes(p: &std::path::Path) -> (u64, usize) {
    let (mut bytes, mut files) = (0, 0);
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() {
            let (b, f) = dir_bytes(&e.path());
            bytes += b;
            files += f;
        } else if name.ends_with(".parquet") && !name.starts_with('.') {
            bytes += e.metadata().unwrap().len();
            files += 1;
        }
    }
    (bytes, files)
}

fn spillway(rt: &tokio::runtime::Runtime, events: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let factory = ParquetWriterFactory::<Event>::for_serde(event_schema(), options()).unwrap();
    let sink = FileSink::for_bulk_format(LocalTarget::new(&lake).unwrap(), factory)
        .with_bucket_assigner(
            DateTimeBucketAssigner::new()
                .with_format("'dt='yyyy-MM-dd'/hour='HH")
                .unwrap()
                .with_event_time(),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let summary = rt
        .block_on(
            Job::builder("bench")
                .parallelism(1)
                .checkpoint_interval(Duration::from_secs(10))
                .checkpoint_store(LocalCheckpointStore::new(dir.path().join("ckpt")).unwrap())
                .from_source(GeneratorSource::new(generator(events)).unwrap())
                .sink_to(sink)
                .run(),
        )
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.records_committed, events);
    let (bytes, files) = dir_bytes(&lake);
    assert!(files >= 24, "{files} files");
    if std::env::var_os("SPILLWAY_BENCH_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
    }
    Run {
        secs,
        rows: events,
        bytes,
    }
}

/// The job alone, into a sink that drops records (`SPILLWAY_BENCH_ONLY=discard`), or into the
/// file sink with a bulk writer that keeps nothing (`=noop`): what the runtime and the sink cost.
fn overheads(rt: &tokio::runtime::Runtime, events: u64, noop: bool) -> Run {
    struct Noop;
    impl sink_core::sink::BulkWriter<Event> for Noop {
        fn add(&mut self, _: &Event) -> Result<(), sink_core::sink::WriteError> {
            Ok(())
        }
        fn take_output(&mut self, _: &mut Vec<u8>) {}
        fn buffered_bytes(&self) -> usize {
            0
        }
        fn flush(&mut self) -> sink_core::Result<()> {
            Ok(())
        }
        fn finish(self: Box<Self>, _: &mut Vec<u8>) -> sink_core::Result<()> {
            Ok(())
        }
    }
    struct NoopFactory;
    impl sink_core::sink::BulkWriterFactory<Event> for NoopFactory {
        fn create(
            &self,
            _: &sink_core::fs::RelPath,
        ) -> sink_core::Result<Box<dyn sink_core::sink::BulkWriter<Event>>> {
            Ok(Box::new(Noop))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let job = Job::builder("bench")
        .parallelism(1)
        .checkpoint_interval(Duration::from_secs(10))
        .checkpoint_store(LocalCheckpointStore::new(dir.path().join("ckpt")).unwrap())
        .from_source(GeneratorSource::new(generator(events)).unwrap());
    let started = Instant::now();
    if noop {
        let sink = FileSink::for_bulk_format(
            LocalTarget::new(dir.path().join("lake")).unwrap(),
            NoopFactory,
        )
        .with_bucket_assigner(
            DateTimeBucketAssigner::new()
                .with_format("'dt='yyyy-MM-dd'/hour='HH")
                .unwrap()
                .with_event_time(),
        )
        .build()
        .unwrap();
        rt.block_on(job.sink_to(sink).run()).unwrap();
    } else {
        rt.block_on(job.sink_to(sink_core::runtime::DiscardingSink).run())
            .unwrap();
    }
    Run {
        secs: started.elapsed().as_secs_f64(),
        rows: events,
        bytes: 0,
    }
}

fn bare(events: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bare.parquet");
    let schema = event_schema();
    let props = options().writer_properties(&schema).unwrap();
    let gen = generator(events);
    let started = Instant::now();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    let splits = gen.splits;
    let per_split: Vec<u64> = (0..splits).map(|s| gen.split_count(s).unwrap()).collect();
    let mut next = vec![0u64; splits as usize];
    let mut emitted = 0;
    // The generator's order: round-robin over the splits.
    let mut split = 0usize;
    while emitted < events {
        let n = DEFAULT_BATCH_SIZE.min((events - emitted) as usize);
        let mut batch = EventBatchBuilder::with_capacity(n);
        while batch.len() < n {
            if next[split] < per_split[split] {
                let e = gen.event(split as u32, next[split]);
                next[split] += 1;
                batch.push(&e);
            }
            split = (split + 1) % splits as usize;
        }
        w.write(&batch.finish()).unwrap();
        emitted += n as u64;
    }
    w.close().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).unwrap().len();
    if std::env::var_os("SPILLWAY_BENCH_KEEP").is_some() {
        println!("kept {}", dir.keep().display());
    }
    Run {
        secs,
        rows: events,
        bytes,
    }
}

fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = env(
        "SPILLWAY_BENCH_EVENTS",
        if quick { 50_000 } else { 4_000_000 },
    );
    let runs = env("SPILLWAY_BENCH_RUNS", if quick { 1 } else { 5 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("{events} events, {runs} runs each, batches of {DEFAULT_BATCH_SIZE} rows, zstd(3)");
    let (mut s_rows, mut s_mb, mut b_rows, mut b_mb) = (vec![], vec![], vec![], vec![]);
    let only = std::env::var("SPILLWAY_BENCH_ONLY").unwrap_or_default();
    if !only.is_empty() {
        // For profiling one side: `SPILLWAY_BENCH_ONLY=spillway` or `bare`.
        for _ in 0..runs {
            let r = match only.as_str() {
                "bare" => bare(events),
                "discard" => overheads(&rt, events, false),
                "noop" => overheads(&rt, events, true),
                _ => spillway(&rt, events),
            };
            println!("{only}: {:.0} rows/s, {:.2} s", r.rows_per_sec(), r.secs);
        }
        return;
    }
    for i in 0..runs {
        let s = spillway(&rt, events);
        let b = bare(events);
        println!(
            "run {i}: spillway {:>10.0} rows/s {:>6.1} MB/s ({:.2} s, {} MB) | bare {:>10.0} rows/s {:>6.1} MB/s ({:.2} s, {} MB) | ratio {:.3}",
            s.rows_per_sec(),
            s.mb_per_sec(),
            s.secs,
            s.bytes / 1_000_000,
            b.rows_per_sec(),
            b.mb_per_sec(),
            b.secs,
            b.bytes / 1_000_000,
            s.rows_per_sec() / b.rows_per_sec()
        );
        s_rows.push(s.rows_per_sec());
        s_mb.push(s.mb_per_sec());
        b_rows.push(b.rows_per_sec());
        b_mb.push(b.mb_per_sec());
    }
    let (sr, br) = (median(&s_rows), median(&b_rows));
    println!(
        "median: spillway {sr:.0} rows/s {:.1} MB/s | bare {br:.0} rows/s {:.1} MB/s | ratio {:.3} (target >= 0.85)",
        median(&s_mb),
        median(&b_mb),
        sr / br
    );
}
