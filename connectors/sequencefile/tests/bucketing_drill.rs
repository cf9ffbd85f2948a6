//! The crash drill of the `BucketingSink` facade: a job on the runtime writes Flink-style legacy
//! names through the facade, is killed (its future dropped) three times at arbitrary moments, then
//! stopped cleanly; every event the final checkpoint covers is published exactly once, nothing else
//! is, and no in-progress or pending file is left.
//!
//! Writers: `StringWriter` (read back as text), and `SequenceFileWriter` uncompressed, record- and
//! block-compressed (read back with Hadoop's `hdfs dfs -text`; needs `SPILLWAY_HADOOP_HDFS`).
//!
//! The drill runs against a [`DrillTarget`]: local disk here. Pointing it at HDFS needs a second
//! implementation (a target with `InProgressNaming::Legacy`, its listing, `hdfs://` URLs for
//! `-text`) and one more `#[tokio::test]` per writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_sequencefile::hadoop::{file_url, Hadoop};
use connector_sequencefile::{
    Codec, CompressionType, FieldMapper, SequenceFileWriter, WritableSpec, WritableType,
};
use sink_core::fs::{DynWriter, InProgressNaming, LegacyNaming, LocalTarget};
use sink_core::runtime::{
    CheckpointManager, Event, GeneratorConfig, GeneratorSource, Job, JobRunner,
    LocalCheckpointStore,
};
use sink_core::sink::bucketing::{BucketingFormat, BucketingSink, DateTimeBucketer, StringWriter};
use sink_core::test_support::service;

const SPLITS: u32 = 4;

/// Where the drill writes, and how it finds what was published.
trait DrillTarget {
    /// A target with Flink's legacy in-progress and pending names.
    fn target(&self) -> DynWriter;
    /// Every published part file: (file name, URL for Hadoop's shell, local path if any).
    fn published(&self) -> Vec<(String, String, Option<PathBuf>)>;
    /// Names of in-progress or pending files left.
    fn unpublished(&self) -> Vec<String>;
}

struct LocalDrill {
    dir: tempfile::TempDir,
}

impl LocalDrill {
    fn new() -> Self {
        LocalDrill {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn walk(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out.sort();
        out
    }
}

impl DrillTarget for LocalDrill {
    fn target(&self) -> DynWriter {
        Arc::new(
            LocalTarget::new(self.dir.path())
                .unwrap()
                .with_naming(InProgressNaming::Legacy(LegacyNaming::default()))
                .unwrap(),
        )
    }

    fn published(&self) -> Vec<(String, String, Option<PathBuf>)> {
        self.walk()
            .into_iter()
            .filter(|p| !name_of(p).starts_with(['_', '.']))
            .map(|p| (name_of(&p), file_url(&p), Some(p)))
            .collect()
    }

    fn unpublished(&self) -> Vec<String> {
        self.walk()
            .iter()
            .map(|p| name_of(p))
            .filter(|n| n.starts_with('_'))
            .collect()
    }
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[derive(Clone, Copy, Debug)]
enum Writer {
    String,
    Sequence(CompressionType, Codec),
}

fn format(w: Writer) -> BucketingFormat<Event> {
    match w {
        Writer::String => StringWriter::new().into(),
        Writer::Sequence(c, codec) => {
            let mapper = FieldMapper::new(
                WritableSpec::field(WritableType::Long, "event_id"),
                WritableSpec::json_text(),
            )
            .unwrap();
            SequenceFileWriter::with_mapper(mapper)
                .with_compression(c, codec)
                .unwrap()
                .into()
        }
    }
}

fn job(t: &dyn DrillTarget, w: Writer, ckpt: &Path) -> JobRunner<Event, Event> {
    let sink = BucketingSink::<Event>::with_target(t.target())
        .bucketer(DateTimeBucketer::new().with_event_time())
        .writer(format(w))
        .batch_size(48 * 1024)
        .inactive_bucket_check_interval(Duration::from_millis(20))
        .inactive_bucket_threshold(Duration::from_millis(40))
        .build()
        .unwrap();
    let source = GeneratorSource::new(GeneratorConfig {
        splits: SPLITS,
        count: None,
        rate: Some(20_000.0),
        step: Duration::from_secs(1),
        ..GeneratorConfig::default()
    })
    .unwrap();
    Job::builder("drill")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(30))
        .checkpoint_store(LocalCheckpointStore::new(ckpt).unwrap())
        .from_source(source)
        .sink_to(sink)
}

/// Drops the running job once it has completed `checkpoints` checkpoints and `extra_ms` more have
/// passed: a crash at an arbitrary moment.
async fn crash_after(runner: JobRunner<Event, Event>, checkpoints: u64, extra_ms: u64) {
    let progress = runner.progress();
    let job = tokio::spawn(runner.run());
    while progress
        .checkpoints_completed
        .load(std::sync::atomic::Ordering::Relaxed)
        < checkpoints
    {
        assert!(!job.is_finished(), "the job ended before the crash point");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(extra_ms)).await;
    job.abort();
    let _ = job.await;
}

/// Event ids in the published files, read back by Hadoop for SequenceFiles.
fn read_ids(t: &dyn DrillTarget, w: Writer, hadoop: Option<&Hadoop>) -> HashMap<u64, usize> {
    let files = t.published();
    let mut ids = HashMap::new();
    let mut add = |id: u64| *ids.entry(id).or_insert(0) += 1;
    match w {
        Writer::String => {
            for (_, _, path) in &files {
                let text = std::fs::read_to_string(path.as_ref().unwrap()).unwrap();
                for line in text.lines() {
                    add(line.split(',').next().unwrap().parse().unwrap());
                }
            }
        }
        Writer::Sequence(..) => {
            let urls: Vec<String> = files.iter().map(|(_, u, _)| u.clone()).collect();
            for chunk in urls.chunks(200) {
                let text = hadoop.unwrap().text(chunk).expect("hdfs dfs -text");
                for line in text.lines() {
                    let (key, value) = line.split_once('\t').expect("key<TAB>value");
                    let id: u64 = key.parse().unwrap();
                    let event: Event = serde_json::from_str(value).unwrap();
                    assert_eq!(event.event_id, id, "key and value of one record");
                    add(id);
                }
            }
        }
    }
    ids
}

async fn drill(t: &dyn DrillTarget, w: Writer, hadoop: Option<&Hadoop>) {
    let ckpt = tempfile::tempdir().unwrap();
    for (checkpoints, ms) in [(1, 13), (2, 0), (1, 29)] {
        crash_after(job(t, w, ckpt.path()), checkpoints, ms).await;
    }
    let summary = job(t, w, ckpt.path())
        .run_until(tokio::time::sleep(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(summary.restored_from.is_some());
    assert_eq!(
        t.unpublished(),
        Vec::<String>::new(),
        "a clean stop leaves nothing unpublished"
    );
    for (name, _, _) in t.published() {
        let rest = name.strip_prefix("part-").expect("legacy final name");
        let (subtask, counter) = rest.split_once('-').expect("part-{subtask}-{counter}");
        assert!(
            ["0", "1"].contains(&subtask) && counter.parse::<u64>().is_ok(),
            "{name}"
        );
    }
    let ids = read_ids(t, w, hadoop);
    let chk = CheckpointManager::new(Arc::new(LocalCheckpointStore::new(ckpt.path()).unwrap()), 3)
        .latest()
        .await
        .unwrap()
        .unwrap();
    assert!(chk.final_checkpoint);
    let mut expected = 0;
    for s in 0..SPLITS as u64 {
        let pos = chk.sources[&GeneratorSource::split_id(s as u32)]
            .as_u64()
            .unwrap();
        expected += pos;
        for seq in 0..pos {
            let id = seq * SPLITS as u64 + s;
            assert_eq!(
                ids.get(&id),
                Some(&1),
                "{w:?}: id {id} (split {s}, seq {seq})"
            );
        }
    }
    assert!(
        expected > 1000,
        "{w:?}: only {expected} events: the drill wrote too little"
    );
    assert_eq!(
        ids.len() as u64,
        expected,
        "{w:?}: no id beyond the checkpointed positions"
    );
}

fn hadoop() -> Option<Hadoop> {
    let hdfs = service("SPILLWAY_HADOOP_HDFS", "Hadoop's shell")?;
    Some(Hadoop::new(hdfs).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_string_writer_local() {
    drill(&LocalDrill::new(), Writer::String, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_sequence_file_uncompressed_local() {
    let Some(h) = hadoop() else { return };
    let w = Writer::Sequence(CompressionType::None, Codec::Default);
    drill(&LocalDrill::new(), w, Some(&h)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_sequence_file_record_gzip_local() {
    let Some(h) = hadoop() else { return };
    let w = Writer::Sequence(CompressionType::Record, Codec::Gzip);
    drill(&LocalDrill::new(), w, Some(&h)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_sequence_file_block_zlib_local() {
    let Some(h) = hadoop() else { return };
    let w = Writer::Sequence(CompressionType::Block, Codec::Default);
    drill(&LocalDrill::new(), w, Some(&h)).await;
}
