//! JSON lines on HDFS through the whole runtime (parallelism 1, one bucket, default rolling at
//! 128 MiB and replay buffer, a checkpoint every 10 s with its hsync), against hdfs-native alone
//! writing the same bytes to one file in 256 KiB writes. Four sides, all against the HDFS of
//! `SPILLWAY_TEST_HDFS_URL`:
//!
//! | side | what it does |
//! | --- | --- |
//! | spillway, text | records that arrive as JSON text, as from a Kafka topic of JSON with `value_format = "text"`: the job checks and copies each one, and writes it as a line |
//! | spillway, events | the generator's events, encoded into JSON by serde_json in the job |
//! | hdfs-native | the same bytes, ready in memory (the client's ceiling) |
//! | encode+hdfs-native | generating and encoding the events and writing them with hdfs-native in one loop: the work of "spillway, events" done by hand |
//!
//! The first ratio, text against hdfs-native, is Spillway's own cost of writing: both start from
//! the bytes in memory. The events side also pays for serde_json, which on a 2-core machine
//! competes with the datanode for the CPU; it is compared with the same work done by hand too.
//!
//! The sides run alternately, several rounds, each round in another order. After each side its
//! output is deleted, the datanode given 4 s to delete the blocks, and the page cache written out
//! (`sync`), so no side pays for the one before. The medians of the per-round ratios are printed.
//!
//! 8 M records (850 MB) by default: a run of any side ends with a file close whose `complete`
//! the namenode often answers only after hdfs-native's 500 ms retry, and on a smaller run that
//! coin flip alone moved single ratios by a third. Each round prints the "tails": the seconds each
//! side took after its last record was handed on (see [`Timed::tail`]), and the ratios are also
//! printed without them.
//!
//! `cargo bench -p connector-hdfs --bench hdfs_throughput` (`SPILLWAY_BENCH_EVENTS`,
//! `SPILLWAY_BENCH_ROUNDS` change the size; `SPILLWAY_BENCH_WORKERS` the runtime's threads, 2 by
//! default like the CLI on this 2-core machine; `SPILLWAY_BENCH_REPLAY_BUFFER` the target's
//! replay buffer). Without `SPILLWAY_TEST_HDFS_URL` it says so and exits.

use sink_core::test_support::median;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use connector_hdfs::{HdfsCheckpointStore, HdfsOptions, HdfsTarget};
use sink_core::runtime::{
    Batch, Boundedness, Event, GeneratorConfig, GeneratorSource, Job, Origin, ReadStatus,
    ReaderContext, Source, SourceReader, StreamRecord,
};
use sink_core::sink::{
    BasePathBucketAssigner, FileSink, JsonLinesEncoder, RowEncoder, SimpleStringEncoder,
};

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

/// A job of `records` records from `source` through `encoder` into one bucket on HDFS, with the
/// target's default settings (or `SPILLWAY_BENCH_REPLAY_BUFFER`).
async fn pipeline<T: Send + Sync + 'static>(
    url: &str,
    records: u64,
    source: impl Source<T>,
    encoder: impl RowEncoder<T>,
) -> Timed {
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
    let sink = FileSink::for_row_format(target, encoder)
        .with_bucket_assigner(BasePathBucketAssigner)
        .build()
        .unwrap();
    let start = Instant::now();
    let runner = Job::builder("bench")
        .parallelism(1)
        .checkpoint_interval(Duration::from_secs(10))
        .checkpoint_store(store)
        .from_source(source)
        .sink_to(sink);
    let progress = runner.progress();
    let watch = tokio::spawn(async move {
        loop {
            if progress
                .records_out
                .load(std::sync::atomic::Ordering::Relaxed)
                >= records
            {
                return start.elapsed().as_secs_f64();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let summary = runner.run().await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    let out = watch.await.unwrap();
    assert_eq!(summary.records_committed, records);
    Timed {
        secs,
        bytes: summary.bytes_committed,
        tail: secs - out,
    }
}

/// The generator's events, encoded by serde into JSON lines in the job.
async fn pipeline_events(url: &str, events: u64) -> Timed {
    let source = GeneratorSource::new(config(events)).unwrap();
    pipeline(url, events, source, JsonLinesEncoder::<Event>::new()).await
}

/// Records that arrive as JSON text, as from a Kafka topic of JSON read with
/// `value_format = "text"`, written as lines (`format = "lines"`).
async fn pipeline_text(url: &str, text: &TextSource) -> Timed {
    let n = text.ends.len() as u64;
    pipeline(url, n, text.clone(), SimpleStringEncoder::<String>::new()).await
}

/// One split of records held in memory as text, each line one record (its end found beforehand,
/// as a Kafka client gets each message's length from the protocol). Like the Kafka reader with
/// `value_format = "text"`, the reader checks every record as UTF-8 and copies it into a `String`.
#[derive(Clone)]
struct TextSource {
    text: Bytes,
    /// Where each line ends (its newline).
    ends: Arc<Vec<u32>>,
}

impl TextSource {
    fn new(chunks: &[Bytes]) -> Self {
        let text = Bytes::from(chunks.concat());
        let ends = text
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| u32::try_from(i).expect("the bench's text fits in 4 GB"))
            .collect();
        TextSource {
            text,
            ends: Arc::new(ends),
        }
    }
}

struct TextReader {
    source: TextSource,
    next: usize,
}

#[async_trait]
impl Source<String> for TextSource {
    fn name(&self) -> &str {
        "text"
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded {
            expected_records: Some(self.ends.len() as u64),
        }
    }

    async fn create_reader(
        &self,
        ctx: ReaderContext,
    ) -> sink_core::Result<Box<dyn SourceReader<String>>> {
        let next = ctx
            .restored
            .get("text")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        Ok(Box::new(TextReader {
            source: self.clone(),
            next: next as usize,
        }))
    }
}

#[async_trait]
impl SourceReader<String> for TextReader {
    async fn poll(
        &mut self,
        batch: &mut Batch<String>,
        max: usize,
    ) -> sink_core::Result<ReadStatus> {
        let ends = &self.source.ends;
        let stop = (self.next + max.max(1)).min(ends.len());
        for i in self.next..stop {
            let from = if i == 0 { 0 } else { ends[i - 1] as usize + 1 };
            let line = &self.source.text[from..ends[i] as usize];
            let line = std::str::from_utf8(line).expect("the bench's text is UTF-8");
            batch.records.push(StreamRecord {
                value: line.to_owned(),
                timestamp: None,
                origin: Origin {
                    split: 0,
                    position: i as i64,
                },
            });
        }
        self.next = stop;
        Ok(if stop == ends.len() {
            ReadStatus::Finished
        } else {
            ReadStatus::More
        })
    }

    fn snapshot(&mut self) -> sink_core::Result<Vec<(String, serde_json::Value)>> {
        Ok(vec![("text".to_string(), self.next.into())])
    }

    fn describe_origin(&self, origin: Origin) -> String {
        format!("text@{}", origin.position)
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

/// Deletes what a side wrote, gives the datanode time to delete its blocks (the namenode hands
/// deletions to it with a heartbeat, every 3 s), then writes the page cache's dirty pages out
/// (`sync`), so that no side pays for the deletions or the writeback of the one before it. The
/// first side of each round was the slowest of its kind, by up to a third, before this waited for
/// the deletions. Not timed.
async fn settle(client: &hdfs_native::Client, dir: &str, quick: bool) {
    client.delete(dir, true).await.unwrap();
    if !quick {
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    let _ = std::process::Command::new("sync").status();
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
    let chunks = encoded(events);
    let text = TextSource::new(&chunks);
    let base = format!("/spillway-bench-{}", uuid::Uuid::new_v4().simple());
    let client = rt.block_on(async {
        let target = HdfsTarget::connect(&format!("{url}{base}"), &HdfsOptions::default())
            .await
            .unwrap();
        let client = target.client().clone();
        settle(&client, &format!("{base}/none"), quick).await;
        client
    });
    if std::env::var("SPILLWAY_BENCH_ONLY").as_deref() == Ok("pipeline") {
        // For profilers and experiments: the two pipelines alone.
        rt.block_on(async {
            for round in 0..rounds {
                for (what, dir) in [("events", "e"), ("JSON text", "t")] {
                    let dir = format!("{base}/{dir}{round}");
                    let r = if what == "events" {
                        pipeline_events(&format!("{url}{dir}"), events).await
                    } else {
                        pipeline_text(&format!("{url}{dir}"), &text).await
                    };
                    settle(&client, &dir, quick).await;
                    println!(
                        "spillway ({what}) {:.0} rec/s ({:.1} MB/s), the last {:.2} s after the last record",
                        events as f64 / r.secs,
                        r.bytes as f64 / r.secs / 1e6,
                        r.tail
                    );
                }
            }
            client.delete(&base, true).await.unwrap();
        });
        return;
    }
    let total: usize = chunks.iter().map(Bytes::len).sum();
    println!(
        "JSON lines on HDFS ({url}), {events} records ({:.1} MB), one bucket, parallelism 1, checkpoint every 10 s",
        total as f64 / 1e6
    );
    println!("  spillway, text: records that arrive as JSON text (a Kafka topic of JSON, value_format = \"text\"), written as lines");
    println!("  spillway, events: the generator's events, encoded by serde_json in the job");
    println!(
        "  hdfs-native: the same bytes, ready in memory, written to one file in 256 KiB writes"
    );
    println!(
        "  encode+hdfs-native: generating and encoding the events and writing them in one loop"
    );
    // Per side: rates, and bodies (seconds without the tail).
    let mut rates: [Vec<f64>; 4] = Default::default();
    let mut bodies: [Vec<f64>; 4] = Default::default();
    let names = [
        "spillway, text",
        "spillway, events",
        "hdfs-native",
        "encode+hdfs-native",
    ];
    rt.block_on(async {
        for round in 1..=rounds {
            let mut t: [Timed; 4] = Default::default();
            for step in 0..4 {
                let side = (step + round) % 4;
                let dir = format!("{base}/r{round}-{side}");
                client.mkdirs(&dir, 0o755, true).await.unwrap();
                t[side] = match side {
                    0 => pipeline_text(&format!("{url}{dir}"), &text).await,
                    1 => pipeline_events(&format!("{url}{dir}"), events).await,
                    2 => baseline(&client, &dir, &chunks).await,
                    _ => baseline_encoding(&client, &dir, events).await,
                };
                settle(&client, &dir, quick).await;
            }
            for (side, timed) in t.iter().enumerate() {
                assert_eq!(timed.bytes, total as u64, "{} wrote other bytes", names[side]);
                rates[side].push(events as f64 / timed.secs);
                bodies[side].push(timed.secs - timed.tail);
            }
            let r = |side: usize| rates[side][round - 1];
            println!(
                "round {round}: rec/s text {:>9.0}  events {:>9.0}  hdfs-native {:>9.0} ({:>5.1} MB/s)  encode+hdfs-native {:>9.0}   ratios {:.3} {:.3} {:.3}   tails {:.2} {:.2} {:.2} {:.2} s",
                r(0),
                r(1),
                r(2),
                t[2].bytes as f64 / t[2].secs / 1e6,
                r(3),
                r(0) / r(2),
                r(1) / r(2),
                r(1) / r(3),
                t[0].tail,
                t[1].tail,
                t[2].tail,
                t[3].tail,
            );
        }
        client.delete(&base, true).await.unwrap();
    });
    let ratio = |a: usize, b: usize, of: &[Vec<f64>; 4], inverse: bool| {
        let r: Vec<f64> = of[a]
            .iter()
            .zip(&of[b])
            .map(|(x, y)| if inverse { y / x } else { x / y })
            .collect();
        median(&r)
    };
    println!(
        "median rec/s: spillway text {:.0}, spillway events {:.0}, hdfs-native (bytes ready) {:.0}, encode+hdfs-native {:.0}",
        median(&rates[0]),
        median(&rates[1]),
        median(&rates[2]),
        median(&rates[3])
    );
    println!(
        "median ratios: spillway text / hdfs-native {:.3} (target >= 0.8); spillway events / hdfs-native {:.3}; spillway events / encode+hdfs-native {:.3}",
        ratio(0, 2, &rates, false),
        ratio(1, 2, &rates, false),
        ratio(1, 3, &rates, false)
    );
    println!(
        "the same without the tails: {:.3}; {:.3}; {:.3}",
        ratio(0, 2, &bodies, true),
        ratio(1, 2, &bodies, true),
        ratio(1, 3, &bodies, true)
    );
}
