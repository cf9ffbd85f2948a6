//! Throughput of the file sink on S3 against a bare multipart upload of the same bytes, and the
//! same comparison against an in-process store with a fixed latency per part upload.
//!
//! ```sh
//! integration/services/s3.sh start && eval "$(integration/services/env.sh)"
//! cargo bench -p connector-object-store --bench s3_throughput
//! ```
//!
//! Each run writes generator events through `FileSink` + `Job` (a few event-time buckets,
//! checkpoints every second) to a fresh bucket, then uploads files of exactly the same sizes
//! twice, with the same part size: with bare `create_multipart` / `put_part` /
//! `complete_multipart` calls, one part at a time, and with object_store's `WriteMultipart`, two
//! parts in flight. The ratio is the sink's rate over the faster of the two. The sink keeps up to two
//! parts uploading while the next fills (`upload_concurrency`, default 2) and closes its files
//! concurrently at the end. It prints the rates per run, then the medians. Environment:
//! `SPILLWAY_BENCH_RUNS` (default 5), `SPILLWAY_BENCH_EVENTS` (default 1 000 000, ~105 MB of
//! JSON lines; `cargo test --benches` runs once with 40 000),
//! `SPILLWAY_BENCH_PART_SIZE` (default 8 MiB), `SPILLWAY_BENCH_UPLOAD_CONCURRENCY` (default: the
//! target's, 2).
//!
//! First, without any server: the same job into an in-process store whose part uploads each take
//! `SPILLWAY_BENCH_PART_LATENCY_MS` (default 50 ms, about 170 MB/s for 8 MiB parts), against bare
//! uploads of the same sizes one and two parts at a time. On a 2-core machine moto competes with
//! the job for the CPU (generating and encoding the events costs about 0.5 s per 100 MB), which
//! the bare uploads do not pay; this part shows the sink's pipeline without that contention. It
//! runs without `SPILLWAY_TEST_S3_ENDPOINT`; the S3 part is skipped then.
//!
//! Formats ([`BenchFormat`], sinks built in [`sink_for`]): the bench runs both, one after the
//! other, in both parts; each is compared with bare uploads of files of the sizes it produced:
//!
//! * JSON lines, a row format with the default rolling policy (128 MiB parts): the files are the
//!   same in every run, their sizes are found once with a run into memory.
//! * Parquet (`connector_parquet`, default options: zstd level 3, dictionaries, page statistics;
//!   the generator's `Event` against a six-column schema), a bulk format rolling on every
//!   checkpoint (`OnCheckpointRollingPolicy`): how many files there are and how large depends on
//!   when the checkpoints fall, so the bare uploads take the sizes of the files the sink published
//!   in the same run (in runs where the bare uploads go first, those of the previous run), and
//!   each side's rate is its own bytes over its own time. Its bytes are about a tenth of the JSON
//!   lines' (9.7 MB in 3 files for a million events), while encoding them costs about as much CPU
//!   (about 0.2 s per million events against 0.07 s to upload the files to moto): that ratio
//!   measures the encoding, which the bare upload does not do, and stays far below 0.8 (about
//!   0.2 on S3).
//!
//!   So on S3 Parquet is also compared with the same work done by hand ([`bare_arrow_upload`]):
//!   the same events built into Arrow batches, encoded by a bare `ArrowWriter` with the sink's
//!   writer properties into one file per hourly bucket, each file uploaded by `WriteMultipart`
//!   with the same part size as its row groups come out. That ratio is in rows per second, the
//!   target's measure for Parquet.

#[path = "../tests/common/mod.rs"]
mod common;

use sink_core::test_support::median;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use connector_object_store::{
    Fault, FaultOp, FaultyStore, MemoryStore, ObjectCheckpointStore, ObjectStoreTarget,
    DEFAULT_PART_SIZE,
};
use object_store::aws::AmazonS3Builder;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::ObjectStore;
use sink_core::runtime::{CheckpointStore, Event, GeneratorConfig, GeneratorSource, Job};
use sink_core::sink::{
    DateTimeBucketAssigner, DefaultRollingPolicy, FileSink, JsonLinesEncoder,
    OnCheckpointRollingPolicy,
};

/// What the sink writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BenchFormat {
    /// A row format: `JsonLinesEncoder`, the default rolling policy.
    JsonLines,
    /// A bulk format: zstd Parquet (`connector_parquet` defaults), rolling on checkpoints.
    Parquet,
}

const FORMATS: [BenchFormat; 2] = [BenchFormat::JsonLines, BenchFormat::Parquet];

impl BenchFormat {
    /// Do the files, and so their sizes, come out the same in every run?
    fn deterministic(self) -> bool {
        match self {
            BenchFormat::JsonLines => true,
            // Rolls at checkpoints, which fall every second of wall time.
            BenchFormat::Parquet => false,
        }
    }
}

fn sink_for(format: BenchFormat, target: ObjectStoreTarget) -> FileSink<Event> {
    let assigner = DateTimeBucketAssigner::new()
        .with_format("yyyy-MM-dd--HH")
        .unwrap()
        .with_event_time();
    match format {
        BenchFormat::JsonLines => {
            FileSink::for_row_format(target, JsonLinesEncoder::<Event>::new())
                .with_bucket_assigner(assigner)
                .with_rolling_policy(DefaultRollingPolicy::default())
                .build()
                .unwrap()
        }
        BenchFormat::Parquet => {
            let factory = connector_parquet::ParquetWriterFactory::<Event>::for_serde(
                connector_parquet::testing::event_schema(),
                connector_parquet::ParquetOptions::default(),
            )
            .unwrap();
            FileSink::for_bulk_format(target, factory)
                .with_bucket_assigner(assigner)
                .with_rolling_policy(OnCheckpointRollingPolicy::build())
                .build()
                .unwrap()
        }
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Run {
    /// The sizes of the files the sink published.
    published: Vec<u64>,
    sink_secs: f64,
    /// The sizes of the files the bare uploads wrote.
    bare_sizes: Vec<u64>,
    /// Bare `put_part` calls, one at a time.
    bare_secs: f64,
    /// object_store's `WriteMultipart`, two parts in flight.
    write_multipart_secs: f64,
    /// Parquet only: [`bare_arrow_upload`], and the sizes of its files.
    arrow: Option<(f64, Vec<u64>)>,
}

/// The generator of every run: events 10 ms apart in event time, 360 000 (~38 MB of JSON lines)
/// per hourly bucket, a few buckets per run (3 for a million events).
fn generator(events: u64) -> GeneratorConfig {
    GeneratorConfig {
        splits: 4,
        count: Some(events),
        rate: None,
        step: Duration::from_millis(10),
        ..GeneratorConfig::default()
    }
}

/// The Parquet baseline: what a program would do by hand. It generates the same events, builds
/// them into Arrow batches of the sink's batch size with Arrow's builders, encodes each hourly
/// bucket into one file with a bare `ArrowWriter` (the sink's writer properties), and uploads
/// each file with object_store's `WriteMultipart` (`part_size` parts, two in flight) as the
/// writer's bytes come out. One task: no encoder pool, no checkpoints, one file per bucket.
/// `dictionary` false turns dictionaries off on every column (the sink turns them off by itself
/// on the columns whose values are mostly distinct, which saves it time and bytes; the bench
/// takes the faster of both settings, so that the baseline is not the slower by that alone).
/// Returns the time and the file sizes.
async fn bare_arrow_upload(
    s3: &Arc<dyn MultipartAndObjects>,
    events: u64,
    part_size: usize,
    dictionary: bool,
) -> (f64, Vec<u64>) {
    use connector_parquet::parquet::arrow::ArrowWriter;
    use connector_parquet::testing::EventBatchBuilder;
    use object_store::ObjectStoreExt;

    let schema = connector_parquet::testing::event_schema();
    let props = connector_parquet::ParquetOptions::default()
        .with_dictionary(dictionary)
        .writer_properties(&schema)
        .unwrap();
    let gen = generator(events);
    let splits = gen.splits as usize;
    let per_split: Vec<u64> = (0..gen.splits)
        .map(|s| gen.split_count(s).unwrap())
        .collect();
    let mut next = vec![0u64; splits];
    let hour = |ts: i64| ts.div_euclid(3_600_000);
    let started = Instant::now();
    let mut open: Option<(i64, ArrowWriter<Vec<u8>>, object_store::WriteMultipart)> = None;
    let mut pending = None;
    let mut split = 0;
    let mut emitted = 0;
    while emitted < events || pending.is_some() {
        // One batch of up to DEFAULT_BATCH_SIZE events of one hour, in the generator's order
        // (round-robin over the splits); the first event of the next hour waits in `pending`.
        let mut batch = EventBatchBuilder::with_capacity(connector_parquet::DEFAULT_BATCH_SIZE);
        let mut batch_hour = None;
        while batch.len() < connector_parquet::DEFAULT_BATCH_SIZE {
            let e = match pending.take() {
                Some(e) => e,
                None if emitted < events => {
                    while next[split] >= per_split[split] {
                        split = (split + 1) % splits;
                    }
                    let e = gen.event(split as u32, next[split]);
                    next[split] += 1;
                    split = (split + 1) % splits;
                    emitted += 1;
                    e
                }
                None => break,
            };
            if *batch_hour.get_or_insert(hour(e.ts)) != hour(e.ts) {
                pending = Some(e);
                break;
            }
            batch.push(&e);
        }
        let Some(h) = batch_hour else { break };
        if open.as_ref().is_some_and(|(oh, _, _)| *oh != h) {
            let (_, w, upload) = open.take().unwrap();
            finish_file(w, upload).await;
        }
        let (_, w, upload) = match &mut open {
            Some(o) => o,
            None => {
                let key = Path::from(format!("bare-arrow/file-{h}.parquet"));
                let upload = s3.put_multipart(&key).await.unwrap();
                let w = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(props.clone()))
                    .unwrap();
                open.insert((
                    h,
                    w,
                    object_store::WriteMultipart::new_with_chunk_size(upload, part_size),
                ))
            }
        };
        w.write(&batch.finish()).unwrap();
        hand_over(w, upload).await;
    }
    if let Some((_, w, upload)) = open.take() {
        finish_file(w, upload).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let objects: Arc<dyn ObjectStore> = Arc::clone(s3) as Arc<dyn ObjectStore>;
    (secs, file_sizes(&objects, "bare-arrow").await)
}

/// Hands the bytes the writer has produced (whole row groups) to the upload.
async fn hand_over(
    w: &mut connector_parquet::parquet::arrow::ArrowWriter<Vec<u8>>,
    upload: &mut object_store::WriteMultipart,
) {
    if !w.inner().is_empty() {
        let bytes = std::mem::take(w.inner_mut());
        upload.wait_for_capacity(2).await.unwrap();
        upload.put(Bytes::from(bytes));
    }
}

/// Writes the file's footer and completes its upload.
async fn finish_file(
    mut w: connector_parquet::parquet::arrow::ArrowWriter<Vec<u8>>,
    mut upload: object_store::WriteMultipart,
) {
    w.finish().unwrap();
    hand_over(&mut w, &mut upload).await;
    upload.finish().await.unwrap();
}

/// Runs the job into `target` and returns how long it took.
async fn run_job(
    target: ObjectStoreTarget,
    ckpt: Arc<dyn CheckpointStore>,
    format: BenchFormat,
    events: u64,
) -> f64 {
    let source = GeneratorSource::new(generator(events)).unwrap();
    let started = Instant::now();
    let summary = Job::builder("bench")
        .parallelism(1)
        .checkpoint_interval(Duration::from_secs(1))
        .checkpoint_store_dyn(ckpt)
        .from_source(source)
        .sink_to(sink_for(format, target))
        .run()
        .await
        .unwrap();
    assert_eq!(summary.records_committed, events);
    started.elapsed().as_secs_f64()
}

/// Runs the job into `url` and returns how long it took.
async fn sink_phase(
    url: &str,
    ckpt_url: &str,
    o: &connector_object_store::ObjectStoreOptions,
    format: BenchFormat,
    events: u64,
) -> f64 {
    let target = ObjectStoreTarget::from_url(url, o).await.unwrap();
    let ckpt = connector_object_store::checkpoint_store_from_url(ckpt_url, o).unwrap();
    run_job(target, ckpt, format, events).await
}

/// Uploads files of `sizes` through `store`, `in_flight` parts at a time; returns the time.
async fn bare_upload(
    store: &Arc<dyn MultipartAndObjects>,
    sizes: &[u64],
    part_size: usize,
    in_flight: usize,
) -> f64 {
    use futures::{StreamExt, TryStreamExt};
    let payload: Vec<u8> = (0..part_size).map(|i| b'a' + (i % 26) as u8).collect();
    let payload = Bytes::from(payload);
    let started = Instant::now();
    for (i, size) in sizes.iter().enumerate() {
        let key = Path::from(format!("bare/file-{i}"));
        let id = store.create_multipart(&key).await.unwrap();
        let n = (*size as usize).div_ceil(part_size).max(1);
        let parts: Vec<_> = futures::stream::iter(0..n)
            .map(|idx| {
                let len = (*size as usize - idx * part_size).min(part_size);
                store.put_part(&key, &id, idx, payload.slice(..len).into())
            })
            .buffered(in_flight)
            .try_collect()
            .await
            .unwrap();
        store.complete_multipart(&key, &id, parts).await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// The same comparison against an in-process store whose part uploads each take `latency`: the
/// sink's pipeline alone, with no server competing for the two cores. The bare uploads write
/// files of the sizes the sink published. Returns those sizes and (sink, bare one at a time, bare
/// two at a time) seconds.
async fn latency_run(
    format: BenchFormat,
    events: u64,
    part_size: usize,
    latency: Duration,
) -> (Vec<u64>, f64, f64, f64) {
    let store = || {
        let mem = MemoryStore::new();
        let faulty = Arc::new(FaultyStore::new(mem.clone()));
        faulty.inject(Fault::hang(FaultOp::PutPart, latency).always());
        (mem, faulty)
    };
    let (mem, faulty) = store();
    let target = ObjectStoreTarget::builder(faulty)
        .with_root(Path::from("lake"))
        .with_part_size(part_size)
        .build()
        .unwrap();
    let ckpt: Arc<dyn CheckpointStore> = Arc::new(ObjectCheckpointStore::new(
        Arc::new(mem.clone()),
        Path::from("ckpt"),
        "memory://latency/ckpt",
    ));
    let sink = run_job(target, ckpt, format, events).await;
    let mem: Arc<dyn ObjectStore> = Arc::new(mem);
    let sizes = file_sizes(&mem, "lake").await;
    let (_, faulty) = store();
    let faulty: Arc<dyn MultipartAndObjects> = faulty;
    let one = bare_upload(&faulty, &sizes, part_size, 1).await;
    let (_, faulty) = store();
    let faulty: Arc<dyn MultipartAndObjects> = faulty;
    let two = bare_upload(&faulty, &sizes, part_size, 2).await;
    (sizes, sink, one, two)
}

/// Sizes of the published files under `prefix`.
async fn file_sizes(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<u64> {
    use futures::TryStreamExt;
    store
        .list(Some(&Path::from(prefix)))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| !m.location.as_ref().contains("/_spillway/"))
        .map(|m| m.size)
        .collect()
}

/// The file sizes the job produces, found with a run into memory (the same in every run for a
/// deterministic format; for Parquet, only a first guess).
async fn sizes_for(format: BenchFormat, events: u64, part_size: usize) -> Vec<u64> {
    let name = format!("bench-sizes-{}", uuid::Uuid::new_v4().simple());
    let o = connector_object_store::ObjectStoreOptions {
        part_size: Some(part_size),
        ..Default::default()
    };
    let url = format!("memory://{name}/lake");
    let secs = sink_phase(&url, &format!("memory://{name}/ckpt"), &o, format, events).await;
    println!("  the same job into memory:// (CPU cost of generating and encoding): {secs:.2} s");
    let store: Arc<dyn ObjectStore> = Arc::new(connector_object_store::MemoryStore::named(&name));
    file_sizes(&store, "lake").await
}

/// Uploads files of `sizes` with bare calls, one part at a time; then with `WriteMultipart`.
async fn bare_phases(
    s3: &Arc<dyn MultipartAndObjects>,
    sizes: &[u64],
    part_size: usize,
) -> (f64, f64) {
    let payload: Vec<u8> = (0..part_size).map(|i| b'a' + (i % 26) as u8).collect();
    let payload = Bytes::from(payload);
    let started = Instant::now();
    for (i, size) in sizes.iter().enumerate() {
        let key = Path::from(format!("bare/file-{i}"));
        let id = s3.create_multipart(&key).await.unwrap();
        let mut parts = Vec::new();
        let mut left = *size as usize;
        let mut idx = 0;
        while left > 0 || idx == 0 {
            let n = left.min(part_size);
            parts.push(
                s3.put_part(&key, &id, idx, payload.slice(..n).into())
                    .await
                    .unwrap(),
            );
            left -= n;
            idx += 1;
        }
        s3.complete_multipart(&key, &id, parts).await.unwrap();
    }
    let bare = started.elapsed().as_secs_f64();
    {
        use futures::{StreamExt, TryStreamExt};
        let all = s3.list(None).map_ok(|m| m.location).boxed();
        let _: Vec<Path> = s3.delete_stream(all).try_collect().await.unwrap();
    }
    let started = Instant::now();
    for (i, size) in sizes.iter().enumerate() {
        use object_store::ObjectStoreExt;
        let key = Path::from(format!("write-multipart/file-{i}"));
        let upload = s3.put_multipart(&key).await.unwrap();
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut left = *size as usize;
        while left > 0 {
            let n = left.min(part_size);
            w.wait_for_capacity(2).await.unwrap();
            w.put(payload.slice(..n));
            left -= n;
        }
        w.finish().await.unwrap();
    }
    (bare, started.elapsed().as_secs_f64())
}

trait MultipartAndObjects: ObjectStore + MultipartStore {}
impl<T: ObjectStore + MultipartStore> MultipartAndObjects for T {}

/// One run on a fresh bucket: the sink, and bare uploads of files of `sizes`, in the order
/// `sink_first` says. For a format whose files differ from run to run, the bare uploads going
/// second take the sizes of the files the sink has just published instead.
async fn one_run(
    env: &common::S3Env,
    format: BenchFormat,
    events: u64,
    part_size: usize,
    sizes: &[u64],
    sink_first: bool,
) -> Run {
    let bucket = common::fresh_bucket(env, "bench");
    let mut o = env.options();
    o.part_size = Some(part_size);
    o.upload_concurrency = std::env::var("SPILLWAY_BENCH_UPLOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok());
    let s3 = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_endpoint(&env.endpoint)
        .with_region(&env.region)
        .with_access_key_id(&env.access_key_id)
        .with_secret_access_key(&env.secret_access_key)
        .with_virtual_hosted_style_request(!env.path_style)
        .with_allow_http(true)
        .build()
        .unwrap();
    let s3: Arc<dyn MultipartAndObjects> = Arc::new(s3);
    let url = format!("s3://{bucket}/lake");
    let ckpt = format!("s3://{bucket}/checkpoints");
    let objects: Arc<dyn ObjectStore> = Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_endpoint(&env.endpoint)
            .with_region(&env.region)
            .with_access_key_id(&env.access_key_id)
            .with_secret_access_key(&env.secret_access_key)
            .with_virtual_hosted_style_request(!env.path_style)
            .with_allow_http(true)
            .build()
            .unwrap(),
    );
    // Each phase starts on an empty bucket: moto slows down as it holds more.
    let clear = || async {
        use futures::{StreamExt, TryStreamExt};
        let all = objects.list(None).map_ok(|m| m.location).boxed();
        let _: Vec<Path> = objects.delete_stream(all).try_collect().await.unwrap();
    };
    let sink = || async {
        let secs = sink_phase(&url, &ckpt, &o, format, events).await;
        let published = file_sizes(&objects, "lake").await;
        if format.deterministic() {
            assert_eq!(
                published.len(),
                sizes.len(),
                "the S3 run made the same files"
            );
        }
        clear().await;
        (secs, published)
    };
    let bare = |sizes: Vec<u64>| async {
        let secs = bare_phases(&s3, &sizes, part_size).await;
        clear().await;
        (secs, sizes)
    };
    let arrow = || async {
        if format != BenchFormat::Parquet {
            return None;
        }
        let with = bare_arrow_upload(&s3, events, part_size, true).await;
        clear().await;
        let without = bare_arrow_upload(&s3, events, part_size, false).await;
        clear().await;
        Some(if with.0 <= without.0 { with } else { without })
    };
    let arrow_first = if sink_first { None } else { arrow().await };
    let ((sink_secs, published), ((bare_secs, write_multipart_secs), bare_sizes)) = if sink_first {
        let (secs, published) = sink().await;
        let next = if format.deterministic() {
            sizes.to_vec()
        } else {
            published.clone()
        };
        ((secs, published), bare(next).await)
    } else {
        let b = bare(sizes.to_vec()).await;
        (sink().await, b)
    };
    let arrow = match arrow_first {
        Some(a) => Some(a),
        None => arrow().await,
    };
    Run {
        published,
        sink_secs,
        bare_sizes,
        bare_secs,
        write_multipart_secs,
        arrow,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs: usize = env_or("SPILLWAY_BENCH_RUNS", if quick { 1 } else { 5 });
    let events: u64 = env_or(
        "SPILLWAY_BENCH_EVENTS",
        if quick { 40_000 } else { 1_000_000 },
    );
    let part_size: usize = env_or("SPILLWAY_BENCH_PART_SIZE", DEFAULT_PART_SIZE);
    let latency = Duration::from_millis(env_or("SPILLWAY_BENCH_PART_LATENCY_MS", 50));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mb = |b: u64, s: f64| b as f64 / s / 1e6;
    let total = |sizes: &[u64]| sizes.iter().sum::<u64>();
    let mut summary = vec![];
    for format in FORMATS {
        rt.block_on(sizes_for(format, events, part_size));
        println!(
            "{format:?} to an in-process store with {latency:?} per part upload, {events} events, part size {part_size}, {runs} runs"
        );
        let (mut ratios, mut sink_rates, mut bare_rates) = (vec![], vec![], vec![]);
        for r in 0..runs {
            let (sizes, sink, one, two) =
                rt.block_on(latency_run(format, events, part_size, latency));
            let bytes = total(&sizes);
            let b = mb(bytes, one.min(two));
            let s = mb(bytes, sink);
            println!(
                "  run {r}: {:.1} MB in {} files: sink {s:.1} MB/s ({sink:.2} s); bare one part at a time {:.1} MB/s ({one:.2} s); two at a time {:.1} MB/s ({two:.2} s); ratio {:.2}",
                bytes as f64 / 1e6,
                sizes.len(),
                mb(bytes, one),
                mb(bytes, two),
                s / b
            );
            ratios.push(s / b);
            sink_rates.push(s);
            bare_rates.push(b);
        }
        let line = format!(
            "sink {:.1} MB/s, bare multipart (faster of the two) {:.1} MB/s, ratio {:.2}",
            median(&sink_rates),
            median(&bare_rates),
            median(&ratios)
        );
        println!("  median: {line}");
        summary.push(format!("{format:?}, in-process store: {line}"));
    }
    let print_summary = |summary: &[String]| {
        println!("medians of {runs} runs, {events} events:");
        for line in summary {
            println!("  {line}");
        }
    };
    let Some(env) = common::s3_env("s3_throughput bench (S3 part)") else {
        print_summary(&summary);
        return;
    };
    for format in FORMATS {
        println!(
            "{format:?} to S3 ({}), {events} events, part size {part_size}, {runs} runs",
            env.endpoint
        );
        let mut sizes = rt.block_on(sizes_for(format, events, part_size));
        let (mut sink_rates, mut seq_rates, mut wm_rates, mut bare_rates, mut ratios) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut arrow_rates, mut arrow_ratios, mut sink_row_rates) = (vec![], vec![], vec![]);
        for r in 0..runs {
            // Alternate which goes first, so that drift of the server does not favour either.
            let run = rt.block_on(one_run(&env, format, events, part_size, &sizes, r % 2 == 0));
            let (sink_bytes, bare_bytes) = (total(&run.published), total(&run.bare_sizes));
            let s = mb(sink_bytes, run.sink_secs);
            let seq = mb(bare_bytes, run.bare_secs);
            let wm = mb(bare_bytes, run.write_multipart_secs);
            // The ratio is taken against the faster of the two bare uploads.
            let b = seq.max(wm);
            let bare_files = if run.bare_sizes == run.published {
                "the same files".to_string()
            } else {
                format!(
                    "{:.1} MB in {} files",
                    bare_bytes as f64 / 1e6,
                    run.bare_sizes.len()
                )
            };
            println!(
                "  run {r}: {:.1} MB in {} files: sink {s:.1} MB/s ({:.2} s); bare ({bare_files}) put_part {seq:.1} MB/s ({:.2} s); WriteMultipart(2 in flight) {wm:.1} MB/s ({:.2} s); ratio {:.2}",
                sink_bytes as f64 / 1e6,
                run.published.len(),
                run.sink_secs,
                run.bare_secs,
                run.write_multipart_secs,
                s / b
            );
            if let Some((secs, arrow_sizes)) = &run.arrow {
                // Rows per second: the two sides cut their files differently (the sink rolls at
                // every checkpoint), so their bytes differ.
                let (sr, ar) = (events as f64 / run.sink_secs, events as f64 / secs);
                println!(
                    "         bare ArrowWriter + WriteMultipart, one file per bucket, faster of with and without dictionaries ({:.1} MB in {} files): {ar:.0} rows/s ({secs:.2} s); sink {sr:.0} rows/s; ratio {:.2}",
                    total(arrow_sizes) as f64 / 1e6,
                    arrow_sizes.len(),
                    sr / ar
                );
                arrow_rates.push(ar);
                sink_row_rates.push(sr);
                arrow_ratios.push(sr / ar);
            }
            sink_rates.push(s);
            seq_rates.push(seq);
            wm_rates.push(wm);
            bare_rates.push(b);
            ratios.push(s / b);
            if !format.deterministic() {
                sizes = run.published;
            }
        }
        let line = format!(
            "sink {:.1} MB/s, bare put_part {:.1} MB/s, WriteMultipart {:.1} MB/s, bare multipart (faster of the two) {:.1} MB/s, ratio {:.2} (target >= 0.8)",
            median(&sink_rates),
            median(&seq_rates),
            median(&wm_rates),
            median(&bare_rates),
            median(&ratios)
        );
        println!("  median: {line}");
        summary.push(format!("{format:?}, S3: {line}"));
        if !arrow_ratios.is_empty() {
            let line = format!(
                "sink {:.0} rows/s, bare ArrowWriter + WriteMultipart {:.0} rows/s, ratio {:.2} (target >= 0.8)",
                median(&sink_row_rates),
                median(&arrow_rates),
                median(&arrow_ratios)
            );
            println!("  median: {line}");
            summary.push(format!(
                "{format:?}, S3, against encoding and uploading by hand: {line}"
            ));
        }
    }
    print_summary(&summary);
}
