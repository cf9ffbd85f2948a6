//! Generator -> JSON lines on HDFS through the whole runtime (parallelism 1, one bucket, default
//! rolling at 128 MiB, a checkpoint every 10 s with its hsync), against hdfs-native alone writing
//! the same bytes to one file in 256 KiB writes, twice: with the bytes encoded beforehand (the
//! client's ceiling), and generating and encoding them in the loop as the pipeline must (like the
//! workspace's `json_lines` benchmark). All run against the HDFS of `SPILLWAY_TEST_HDFS_URL`,
//! alternately, several times, each round in another order (what runs first pays for the
//! datanode's writeback of the round before); the medians and the ratios are printed.
//!
//! 8 M events (850 MB) by default: a run of either side ends with a file close whose `complete`
//! the namenode often answers only after hdfs-native's 500 ms retry, and on a smaller run that
//! coin flip alone moved single ratios by a third. Each round prints the three "tails": the
//! seconds each side took after its last record was handed on (see [`Timed::tail`]).
//!
//! `cargo bench -p connector-hdfs --bench hdfs_throughput` (`SPILLWAY_BENCH_EVENTS`,
//! `SPILLWAY_BENCH_ROUNDS` change the size; `SPILLWAY_BENCH_WORKERS` the runtime's threads, 2 by
//! default like the CLI on this 2-core machine). Without `SPILLWAY_TEST_HDFS_URL` it says so and exits.

use sink_core::test_support::median;
use std::time::{Duration, Instant};

use bytes::Bytes;
use connector_hdfs::{HdfsCheckpointStore, HdfsOptions, HdfsTarget};
use sink_core::runtime::{Event, GeneratorConfig, GeneratorSource, Job};
use sink_core::sink::{BasePathBucketAssigner, FileSink, JsonLinesEncoder, RowEncoder};

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
        step: Duration::from_millis(1),
        ..GeneratorConfig::default()
    }
}

/// One side's run.
#[derive(Default)]
struct Timed {
    secs: f64,
    bytes: u64,
    /// Seconds after the last byte was handed on: the bare writers' `close`; the job's final
    /// checkpoint, its `hsync`s, closes and commits. Mostly the namenode's `complete`, which
    /// hdfs-native retries after 500 ms when the datanode has not yet reported the last block.
    tail: f64,
}

/// The pipeline.
async fn pipeline(url: &str, events: u64) -> Timed {
    let mut o = HdfsOptions::default();
    if let Ok(v) = std::env::var("SPILLWAY_BENCH_REPLAY_BUFFER") {
        o = o.with_replay_buffer(connector_hdfs::parse_size(&v).unwrap());
    }
    let target = HdfsTarget::connect(&format!("{url}/out"), &o)
        .await
        .unwrap();
    let store = HdfsCheckpointStore::connect(&format!("{url}/ckpt"), &o)
        .await
        .unwrap();
    let sink = FileSink::for_row_format(target, JsonLinesEncoder::<Event>::new())
        .with_bucket_assigner(BasePathBucketAssigner)
        .build()
        .unwrap();
    let start = Instant::now();
    let runner = Job::builder("bench")
        .parallelism(1)
        .checkpoint_interval(Duration::from_secs(10))
        .checkpoint_store(store)
        .from_source(GeneratorSource::new(config(events)).unwrap())
        .sink_to(sink);
    let progress = runner.progress();
    let watch = tokio::spawn(async move {
        loop {
            if progress
                .records_out
                .load(std::sync::atomic::Ordering::Relaxed)
                >= events
            {
                return start.elapsed().as_secs_f64();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let summary = runner.run().await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    let out = watch.await.unwrap();
    assert_eq!(summary.records_committed, events);
    Timed {
        secs,
        bytes: summary.bytes_committed,
        tail: secs - out,
    }
}

/// The same events encoded the same way, in 256 KiB chunks.
fn encoded(events: u64) -> Vec<Bytes> {
    let c = config(events);
    let enc = JsonLinesEncoder::<Event>::new();
    let mut chunks = Vec::new();
    let mut buf = Vec::with_capacity(256 * 1024 + 1024);
    for seq in 0..events / c.splits as u64 {
        for split in 0..c.splits {
            enc.encode(&c.event(split, seq), &mut buf).unwrap();
            if buf.len() >= 256 * 1024 {
                chunks.push(Bytes::from(std::mem::take(&mut buf)));
                buf.reserve(256 * 1024 + 1024);
            }
        }
    }
    chunks.push(Bytes::from(buf));
    chunks
}

/// The second baseline: generate, encode and write with hdfs-native in one loop.
async fn baseline_encoding(client: &hdfs_native::Client, dir: &str, events: u64) -> Timed {
    let c = config(events);
    let enc = JsonLinesEncoder::<Event>::new();
    let start = Instant::now();
    let mut w = client
        .create(
            &format!("{dir}/baseline-enc.json"),
            hdfs_native::WriteOptions::default(),
        )
        .await
        .unwrap();
    let mut buf = Vec::with_capacity(256 * 1024 + 1024);
    let mut bytes = 0;
    for seq in 0..events / c.splits as u64 {
        for split in 0..c.splits {
            enc.encode(&c.event(split, seq), &mut buf).unwrap();
            if buf.len() >= 256 * 1024 {
                bytes += w.write_bytes(Bytes::copy_from_slice(&buf)).await.unwrap() as u64;
                buf.clear();
            }
        }
    }
    bytes += w.write_bytes(Bytes::from(buf)).await.unwrap() as u64;
    let closing = Instant::now();
    w.close().await.unwrap();
    Timed {
        secs: start.elapsed().as_secs_f64(),
        bytes,
        tail: closing.elapsed().as_secs_f64(),
    }
}

/// The baseline: hdfs-native writes `chunks` to one file and closes it.
async fn baseline(client: &hdfs_native::Client, dir: &str, chunks: &[Bytes]) -> Timed {
    let start = Instant::now();
    let mut w = client
        .create(
            &format!("{dir}/baseline.json"),
            hdfs_native::WriteOptions::default(),
        )
        .await
        .unwrap();
    let mut bytes = 0;
    for c in chunks {
        bytes += w.write_bytes(c.clone()).await.unwrap() as u64;
    }
    let closing = Instant::now();
    w.close().await.unwrap();
    Timed {
        secs: start.elapsed().as_secs_f64(),
        bytes,
        tail: closing.elapsed().as_secs_f64(),
    }
}

fn main() {
    let Ok(url) = std::env::var("SPILLWAY_TEST_HDFS_URL") else {
        println!("hdfs_throughput: SPILLWAY_TEST_HDFS_URL is not set (integration/services/hdfs.sh start); nothing to measure");
        return;
    };
    let url = url.trim_end_matches('/').to_string();
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = env(
        "SPILLWAY_BENCH_EVENTS",
        if quick { 20_000 } else { 8_000_000 },
    );
    let events = events - events % 4;
    let rounds = env("SPILLWAY_BENCH_ROUNDS", if quick { 1 } else { 9 }) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env("SPILLWAY_BENCH_WORKERS", 2) as usize)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("SPILLWAY_BENCH_ONLY").as_deref() == Ok("pipeline") {
        // For profilers and experiments: the pipeline alone.
        rt.block_on(async {
            let base = format!("{url}/spillway-bench-{}", uuid::Uuid::new_v4().simple());
            for round in 0..rounds {
                let t = pipeline(&format!("{base}/{round}"), events).await;
                println!(
                    "spillway {:.0} rec/s ({:.1} MB/s), the last {:.2} s after the last record",
                    events as f64 / t.secs,
                    t.bytes as f64 / t.secs / 1e6,
                    t.tail
                );
            }
            let t = HdfsTarget::connect(&base, &HdfsOptions::default())
                .await
                .unwrap();
            t.client().delete(t.location().root(), true).await.unwrap();
        });
        return;
    }
    let chunks = encoded(events);
    let total: usize = chunks.iter().map(Bytes::len).sum();
    println!(
        "generator -> JSON lines on HDFS ({url}), {events} events ({:.1} MB), one bucket, parallelism 1, checkpoint every 10 s",
        total as f64 / 1e6
    );
    let (mut p_rates, mut b_rates, mut e_rates, mut ratios, mut e_ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut body_ratios, mut body_e_ratios) = (Vec::new(), Vec::new());
    rt.block_on(async {
        let base = format!("/spillway-bench-{}", uuid::Uuid::new_v4().simple());
        let target = HdfsTarget::connect(&format!("{url}{base}"), &HdfsOptions::default())
            .await
            .unwrap();
        let client = target.client().clone();
        for round in 1..=rounds {
            let dir = format!("{base}/b{round}");
            client.mkdirs(&dir, 0o755, true).await.unwrap();
            let (mut pt, mut bt, mut et) = (Timed::default(), Timed::default(), Timed::default());
            for step in 0..3 {
                match (step + round) % 3 {
                    0 => bt = baseline(&client, &dir, &chunks).await,
                    1 => pt = pipeline(&format!("{url}{base}/p{round}"), events).await,
                    _ => et = baseline_encoding(&client, &dir, events).await,
                }
            }
            assert_eq!(bt.bytes, pt.bytes, "both write the same bytes");
            assert_eq!(et.bytes, pt.bytes, "both write the same bytes");
            let rate = |t: &Timed| events as f64 / t.secs;
            let (p, b, e) = (rate(&pt), rate(&bt), rate(&et));
            println!(
                "round {round}: spillway {:>9.0} rec/s ({:>6.1} MB/s)   hdfs-native {:>9.0} rec/s ({:>6.1} MB/s)   encode+hdfs-native {:>9.0} rec/s   ratios {:.3} {:.3}   tails {:.2} {:.2} {:.2} s",
                p,
                pt.bytes as f64 / pt.secs / 1e6,
                b,
                bt.bytes as f64 / bt.secs / 1e6,
                e,
                p / b,
                p / e,
                pt.tail,
                bt.tail,
                et.tail
            );
            p_rates.push(p);
            b_rates.push(b);
            e_rates.push(e);
            ratios.push(p / b);
            e_ratios.push(p / e);
            // The same without the tails, which are one `complete` retry or none on either side.
            let body = |t: &Timed| t.secs - t.tail;
            body_ratios.push(body(&bt) / body(&pt));
            body_e_ratios.push(body(&et) / body(&pt));
            client.delete(&dir, true).await.unwrap();
            client.delete(&format!("{base}/p{round}"), true).await.unwrap();
        }
        client.delete(&base, true).await.unwrap();
    });
    println!(
        "median: spillway {:.0} rec/s, hdfs-native (bytes ready) {:.0} rec/s, ratio {:.3}; generate+encode+hdfs-native {:.0} rec/s, ratio {:.3} (target >= 0.8)",
        median(&p_rates),
        median(&b_rates),
        median(&ratios),
        median(&e_rates),
        median(&e_ratios)
    );
    println!(
        "median without the tails: ratio {:.3} against hdfs-native with the bytes ready, {:.3} against generate+encode+hdfs-native",
        median(&body_ratios),
        median(&body_e_ratios)
    );
}
