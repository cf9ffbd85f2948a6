//! Generator -> JSON lines on local disk, through the whole runtime (parallelism 1, 24 event-hour
//! buckets, a checkpoint every second), against a bare loop that generates and encodes the same
//! records and appends them to one file. Both run in the same process, alternately, several times;
//! the medians and their ratio are printed.
//!
//! `cargo bench --bench json_lines` (set `SPILLWAY_BENCH_EVENTS` and `SPILLWAY_BENCH_ROUNDS` to
//! change the size; `SPILLWAY_BENCH_DIR` to write somewhere other than the system temp dir).

use sink_core::test_support::median;
use std::io::Write;
use std::time::{Duration, Instant};

use spillway::fs::LocalTarget;
use spillway::runtime::{Event, GeneratorConfig, GeneratorSource, Job, LocalCheckpointStore};
use spillway::sink::{DateTimeBucketAssigner, FileSink, JsonLinesEncoder, RowEncoder};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(events: u64) -> GeneratorConfig {
    GeneratorConfig {
        splits: 4,
        count: Some(events),
        rate: None,
        // `events` events spread over exactly 24 hours of event time.
        step: Duration::from_nanos(86_400_000_000_000 / events),
        ..GeneratorConfig::default()
    }
}

fn temp_dir() -> tempfile::TempDir {
    match std::env::var("SPILLWAY_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    }
}

/// The pipeline: returns (seconds, bytes written).
fn pipeline(rt: &tokio::runtime::Runtime, events: u64) -> (f64, u64) {
    let out = temp_dir();
    let ckpt = temp_dir();
    let sink = FileSink::for_row_format(
        LocalTarget::new(out.path()).unwrap(),
        JsonLinesEncoder::<Event>::new(),
    )
    .with_bucket_assigner(DateTimeBucketAssigner::new().with_event_time())
    .build()
    .unwrap();
    let start = Instant::now();
    let summary = rt
        .block_on(
            Job::builder("bench")
                .parallelism(1)
                .checkpoint_interval(Duration::from_secs(1))
                .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
                .from_source(GeneratorSource::new(config(events)).unwrap())
                .sink_to(sink)
                .run(),
        )
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(summary.records_committed, events);
    assert_eq!(summary.buckets, 24);
    (secs, summary.bytes_committed)
}

/// The baseline: the same events, the same encoder, appended to one file in 256 KiB writes, with an
/// fsync at the end. Returns (seconds, bytes written).
fn baseline(events: u64) -> (f64, u64) {
    let out = temp_dir();
    let c = config(events);
    let enc = JsonLinesEncoder::<Event>::new();
    let start = Instant::now();
    let mut f = std::fs::File::create(out.path().join("baseline.json")).unwrap();
    let mut buf = Vec::with_capacity(256 * 1024 + 1024);
    let mut bytes = 0u64;
    let per_split = events / c.splits as u64;
    for seq in 0..per_split {
        for split in 0..c.splits {
            let e = c.event(split, seq);
            enc.encode(&e, &mut buf).unwrap();
            if buf.len() >= 256 * 1024 {
                f.write_all(&buf).unwrap();
                bytes += buf.len() as u64;
                buf.clear();
            }
        }
    }
    f.write_all(&buf).unwrap();
    bytes += buf.len() as u64;
    f.sync_data().unwrap();
    (start.elapsed().as_secs_f64(), bytes)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = env(
        "SPILLWAY_BENCH_EVENTS",
        if quick { 40_000 } else { 8_000_000 },
    );
    let events = events - events % 4;
    let rounds = env("SPILLWAY_BENCH_ROUNDS", if quick { 1 } else { 5 }) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!("generator -> JSON lines, {events} events, 24 event-hour buckets, parallelism 1, checkpoint every 1 s");
    if std::env::var("SPILLWAY_BENCH_ONLY").as_deref() == Ok("pipeline") {
        // For profilers: the pipeline alone.
        let (s, _) = pipeline(&rt, events);
        println!("spillway {:.0} rec/s", events as f64 / s);
        return;
    }
    if std::env::var("SPILLWAY_BENCH_ONLY").as_deref() == Ok("baseline") {
        let (s, _) = baseline(events);
        println!("baseline {:.0} rec/s", events as f64 / s);
        return;
    }
    let (mut p_rates, mut b_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (bs, bbytes) = baseline(events);
        let (ps, pbytes) = pipeline(&rt, events);
        assert_eq!(bbytes, pbytes, "both write the same bytes");
        let (p, b) = (events as f64 / ps, events as f64 / bs);
        println!(
            "round {round}: spillway {:>10.0} rec/s ({:>6.1} MB/s)   baseline {:>10.0} rec/s ({:>6.1} MB/s)   ratio {:.3}",
            p,
            pbytes as f64 / ps / 1e6,
            b,
            bbytes as f64 / bs / 1e6,
            p / b
        );
        p_rates.push(p);
        b_rates.push(b);
        ratios.push(p / b);
    }
    println!(
        "median: spillway {:.0} rec/s, baseline {:.0} rec/s, ratio {:.3} (target >= 0.8; >= 1.5M rec/s per core)",
        median(&p_rates),
        median(&b_rates),
        median(&ratios)
    );
}
