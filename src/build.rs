//! From a job file to a running pipeline: the source, the file sink (target, bucket assigner,
//! rolling policy, format) and the checkpoint store.
//!
//! Formats and storage are built by their connectors' sections, which the
//! [registry](crate::registry) lists: `sink.rs` builds the file sink around the format,
//! `storage.rs` resolves paths to local disk or to the storage that serves their scheme.

mod sink;
mod storage;

use std::fmt::{self, Display};
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use sink_core::fs::{
    Committable, InProgress, RecoverableStream, RecoverableWriter, RelPath, ResumeHandle,
};
use sink_core::runtime::{
    DynCheckpointStore, Event, GeneratorSource, Job, JobProgress, JobSummary, Source,
};
use sink_core::sink::FieldAccess;
use sink_core::{Error, Result};

use crate::config::{JobFile, SourceSection};
pub use sink::{
    assigner, bucketing_sink, checkpoint_policy, file_sink, row_rolling_policy, sink, sink_format,
    RowPolicy, SinkFormat, SinkPlan,
};
use storage::check_location;
pub use storage::{
    checkpoint_store, existing_checkpoint_store, location, sink_target, target, Location,
    StorageOptions,
};

/// What a record needs to go through every format and bucketing of the CLI.
pub trait CliRecord: Serialize + FieldAccess + Display + Send + Sync + 'static {
    /// The bytes of a record in a dead letter (JSON by default).
    fn dead_letter_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl CliRecord for Event {}

#[cfg(feature = "kafka")]
impl CliRecord for connector_kafka::KafkaRecord {
    /// The record's value as it came from Kafka (JSON values re-encoded).
    fn dead_letter_payload(&self) -> Vec<u8> {
        match &self.value {
            connector_kafka::Payload::Null => Vec::new(),
            connector_kafka::Payload::Bytes(b) => b.to_vec(),
            connector_kafka::Payload::Text(t) => t.as_bytes().to_vec(),
            connector_kafka::Payload::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
        }
    }
}

/// How a job is run by this process.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// This worker's index.
    pub worker: usize,
    /// Workers of the job.
    pub workers: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            worker: 0,
            workers: 1,
        }
    }
}

/// Where worker `worker` of `workers` keeps its checkpoints: `dir` itself for a single worker,
/// `{dir}/worker-{i}` otherwise, so that all workers can share one job file.
pub fn worker_checkpoint_dir(dir: &str, worker: usize, workers: usize) -> String {
    if workers <= 1 {
        return dir.to_string();
    }
    format!("{}/worker-{worker}", dir.trim_end_matches('/'))
}

/// A target used only to check a sink's settings; it refuses every operation.
#[derive(Debug)]
struct NoTarget;

impl Display for NoTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(validation only)")
    }
}

#[async_trait]
impl RecoverableWriter for NoTarget {
    async fn open(&self, _: &RelPath) -> Result<Box<dyn RecoverableStream>> {
        Err(Error::Internal("validation target".into()))
    }
    async fn resume(&self, _: &ResumeHandle) -> Result<Box<dyn RecoverableStream>> {
        Err(Error::Internal("validation target".into()))
    }
    async fn commit(&self, _: &Committable) -> Result<()> {
        Err(Error::Internal("validation target".into()))
    }
    async fn cleanup(&self, _: &ResumeHandle) -> Result<()> {
        Ok(())
    }
    async fn list_in_progress(&self, _: &str) -> Result<Vec<InProgress>> {
        Ok(vec![])
    }
    async fn delete_in_progress(&self, _: &InProgress) -> Result<()> {
        Ok(())
    }
}

/// What `spillway validate` reports.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The job's name.
    pub job: String,
    /// The source, described.
    pub source: String,
    /// The sink.
    pub sink: SinkPlan,
    /// The output location.
    pub path: String,
    /// The checkpoint location.
    pub checkpoint_dir: String,
    /// Checkpoint interval.
    pub checkpoint_interval: std::time::Duration,
    /// Subtasks.
    pub parallelism: usize,
}

/// Checks a job file completely without touching any data.
pub fn validate(file: &JobFile) -> Result<Plan> {
    if file.job.parallelism == 0 {
        return Err(Error::config("job.parallelism", "must be at least 1"));
    }
    if file.job.name.trim().is_empty() {
        return Err(Error::config("job.name", "must not be empty"));
    }
    let checkpoint = file.checkpoint.to_config()?;
    check_location("sink.path", file.sink.path())?;
    check_location("checkpoint.dir", &file.checkpoint.dir)?;
    StorageOptions::of_sink(&file.sink).check("sink", file.sink.path())?;
    StorageOptions::of_checkpoint(&file.checkpoint).check("checkpoint", &file.checkpoint.dir)?;
    let (source, sink) = match &file.source {
        SourceSection::Generator(g) => {
            let c = g.to_config()?;
            let (_, plan) = sink::<Event>(&file.sink, Arc::new(NoTarget))?;
            let what = match (c.count, c.rate) {
                (Some(n), _) => format!("generator: {n} events over {} splits", c.splits),
                (None, Some(r)) => format!(
                    "generator: {r} events/s over {} splits, unbounded",
                    c.splits
                ),
                (None, None) => format!(
                    "generator: unbounded, as fast as possible, {} splits",
                    c.splits
                ),
            };
            (what, plan)
        }
        #[cfg(feature = "kafka")]
        SourceSection::Kafka(k) => {
            let source = connector_kafka::KafkaSource::from_config(k)?;
            let (_, plan) = sink::<connector_kafka::KafkaRecord>(&file.sink, Arc::new(NoTarget))?;
            let topics = match &k.topic_pattern {
                Some(p) => format!("topics matching /{p}/"),
                None => format!("topics {:?}", k.topics),
            };
            let mode = if source.is_bounded() {
                "bounded"
            } else {
                "unbounded"
            };
            let what = format!(
                "kafka: {topics} from {}, {mode}, values as {:?}",
                k.brokers.join(","),
                k.value_format
            );
            (what, plan)
        }
    };
    Ok(Plan {
        job: file.job.name.clone(),
        source,
        sink,
        path: file.sink.path().to_string(),
        checkpoint_dir: file.checkpoint.dir.clone(),
        checkpoint_interval: checkpoint.interval,
        parallelism: file.job.parallelism,
    })
}

/// Runs a job file until the source ends or `stop` resolves. `on_start` gets the job's live
/// counters once the job is built (for progress bars).
pub async fn run(
    file: &JobFile,
    options: &RunOptions,
    stop: impl Future<Output = ()> + Send,
    on_start: impl FnOnce(Arc<JobProgress>),
) -> Result<JobSummary> {
    validate(file)?;
    match &file.source {
        SourceSection::Generator(g) => {
            let source = GeneratorSource::new(g.to_config()?)?;
            run_with(file, options, source, stop, on_start).await
        }
        #[cfg(feature = "kafka")]
        SourceSection::Kafka(k) => {
            let source = connector_kafka::KafkaSource::from_config(k)?;
            run_with(file, options, source, stop, on_start).await
        }
    }
}

/// Refuses to start when the checkpoint directory holds the checkpoints of the same job run with
/// one worker and now with several, or the other way round: the new layout would start afresh
/// and write everything again (each worker keeps its checkpoints in `{dir}/worker-{i}`, a single
/// worker in `{dir}`).
async fn check_worker_layout(
    dir: &str,
    options: &RunOptions,
    store: &DynCheckpointStore,
    store_options: &StorageOptions,
) -> Result<()> {
    use sink_core::runtime::JOB_META;
    let several = options.workers > 1;
    let root = if several {
        Some(checkpoint_store(dir, store_options).await?)
    } else {
        None
    };
    if store.get(JOB_META).await?.is_some() {
        // A restart in the same layout.
        if let Some(root) = &root {
            mark_several_workers(root, options.workers).await?;
        }
        return Ok(());
    }
    let (exists, what) = match &root {
        // Run with one worker before: its job.json is at the top.
        Some(root) => (root.get(JOB_META).await?.is_some(), "one worker"),
        // Run with several before: the marker any of them wrote, or (checkpoints from before the
        // marker) worker 0's job.json.
        None => (
            store.get(WORKERS_MARKER).await?.is_some()
                || match location(&worker_checkpoint_dir(dir, 0, 2)) {
                    // Without creating the directory, as opening a local store would.
                    Location::Local(p) => p.join(JOB_META).exists(),
                    _ => checkpoint_store(&worker_checkpoint_dir(dir, 0, 2), store_options)
                        .await?
                        .get(JOB_META)
                        .await?
                        .is_some(),
                },
            "several workers (--workers)",
        ),
    };
    if exists {
        return Err(Error::config(
            "checkpoint.dir",
            format!(
                "{dir} holds the checkpoints of this job run with {what}; run it as before, or give a new checkpoint directory (and output path) to start afresh"
            ),
        ));
    }
    if let Some(root) = &root {
        mark_several_workers(root, options.workers).await?;
    }
    Ok(())
}

/// The document at the top of `checkpoint.dir` that says the job runs with several workers: every
/// worker writes it when it starts, so a later run with one worker is refused even if worker 0
/// never ran.
const WORKERS_MARKER: &str = "workers.json";

async fn mark_several_workers(root: &DynCheckpointStore, workers: usize) -> Result<()> {
    root.put(
        WORKERS_MARKER,
        serde_json::to_vec(&serde_json::json!({ "workers": workers })).expect("plain JSON"),
    )
    .await
}

/// Runs a job file with a given source.
pub async fn run_with<T: CliRecord>(
    file: &JobFile,
    options: &RunOptions,
    source: impl Source<T>,
    stop: impl Future<Output = ()> + Send,
    on_start: impl FnOnce(Arc<JobProgress>),
) -> Result<JobSummary> {
    let target = sink_target(&file.sink).await?;
    let (sink, _) = sink::<T>(&file.sink, target)?;
    let store_options = StorageOptions::of_checkpoint(&file.checkpoint);
    let store = checkpoint_store(
        &worker_checkpoint_dir(&file.checkpoint.dir, options.worker, options.workers),
        &store_options,
    )
    .await?;
    check_worker_layout(&file.checkpoint.dir, options, &store, &store_options).await?;
    let mut b = Job::builder(file.job.name.clone())
        .parallelism(file.job.parallelism)
        .worker(options.worker, options.workers)
        .checkpointing(file.checkpoint.to_config()?)
        .checkpoint_store_dyn(store)
        .bad_records(file.job.on_bad_record.into());
    if let Some(n) = file.job.batch_size {
        b = b.batch_size(n);
    }
    let runner = b
        .from_source(source)
        .with_dead_letter_payload(|r: &T| r.dead_letter_payload())
        .sink_to(sink);
    on_start(runner.progress());
    runner.run_until(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SinkTable;

    fn file(extra_sink: &str) -> JobFile {
        JobFile::parse(
            &format!(
                "[job]\nname = \"t\"\n[source]\ntype = \"generator\"\ncount = 10\n[sink]\npath = \"/tmp/x\"\nformat = \"json\"\n{extra_sink}\n[checkpoint]\ndir = \"/tmp/c\"\n"
            ),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = [
            (
                "[sink.bucketing]\ntype = \"datetime\"\nformat = \"yyyy-QQ\"",
                "sink.bucketing.format",
            ),
            (
                "[sink.bucketing]\ntype = \"datetime\"\ntimezone = \"Mars/Base\"",
                "sink.bucketing.timezone",
            ),
            (
                "[sink.bucketing]\ntype = \"fields\"\nfields = []",
                "sink.bucketing.fields",
            ),
            (
                "[sink.bucketing]\ntype = \"hive\"\ngranularity = \"none\"",
                "sink.bucketing",
            ),
            ("part_prefix = \".hidden\"", "sink.part_prefix"),
            ("dead_letter_bucket = \"../dl\"", "sink.dead_letter_bucket"),
            ("[sink.csv]\ncolumns = [\"a\"]", "sink.csv"),
            (
                "[sink.rolling]\nmax_part_size = 0",
                "sink.rolling.max_part_size",
            ),
        ];
        for (extra, field) in cases {
            let err = validate(&file(extra)).unwrap_err().to_string();
            assert!(err.starts_with(field), "{extra}: {err}");
        }
    }

    /// A section is refused where its connector is not in use, whichever connector it is: the
    /// check exists once, so it also covers pairs the per-format checks missed (`[sink.csv]`
    /// with Parquet, `[sink.schema]` with SequenceFile).
    #[cfg(all(feature = "parquet", feature = "sequencefile"))]
    #[test]
    fn sections_only_apply_to_their_format() {
        let schema = "[sink.schema]\nfields = [{ name = \"event_id\", type = \"uint64\" }]";
        let with_format = |format: &str, extra: &str| {
            let mut f = file(extra);
            let SinkTable::File(s) = &mut f.sink else {
                unreachable!()
            };
            s.format = crate::config::FormatName::new(format).unwrap();
            f
        };
        for (format, extra, want) in [
            (
                "json",
                "[sink.csv]\ncolumns = [\"a\"]",
                "sink.csv: only applies to format = \"csv\", not \"json\"",
            ),
            (
                "parquet",
                &format!("{schema}\n[sink.csv]\ncolumns = [\"a\"]"),
                "sink.csv: only applies to format = \"csv\", not \"parquet\"",
            ),
            (
                "sequence-file",
                schema,
                "sink.schema: only applies to format = \"parquet\", not \"sequence-file\"",
            ),
            (
                "json",
                "[sink.sequence_file]\nlevel = 1",
                "sink.sequence_file: only applies to format = \"sequence-file\", not \"json\"",
            ),
        ] {
            let err = validate(&with_format(format, extra))
                .unwrap_err()
                .to_string();
            assert_eq!(err, want, "{format} {extra}");
        }
        validate(&with_format("parquet", schema)).unwrap();
    }

    /// Storage sections apply to the URLs their connector serves; the schemes come from the
    /// registry.
    #[cfg(all(feature = "object-store", feature = "hdfs"))]
    #[tokio::test]
    async fn storage_sections_only_apply_to_their_urls() {
        let job = |path: &str, extra: &str| {
            JobFile::parse(
                &format!("[job]\nname = \"t\"\n[source]\ntype = \"generator\"\n[sink]\npath = \"{path}\"\nformat = \"json\"\n{extra}\n[checkpoint]\ndir = \"/tmp/c\"\n"),
                "t.toml",
            )
            .unwrap()
        };
        for (path, extra, want) in [
            ("/tmp/x", "[sink.object_store]\nregion = \"eu\"", "sink.object_store: only applies to an object-store URL (s3://, memory://, ...), not \"/tmp/x\""),
            ("s3://b/x", "[sink.hdfs]\nuser = \"etl\"", "sink.hdfs: only applies to an hdfs:// URL, not \"s3://b/x\""),
            ("hdfs://n:1/x", "[sink.hdfs]\nreplication = 0", "sink.hdfs.replication: must be at least 1"),
        ] {
            let err = validate(&job(path, extra)).unwrap_err().to_string();
            assert_eq!(err, want);
        }
        let err = validate(&job("ftp://h/x", "")).unwrap_err().to_string();
        assert!(
            err.starts_with("sink.path: the ftp:// scheme is not supported by this build (supported: local paths, file://, hdfs://, viewfs://, s3://, memory://"),
            "{err}"
        );
        // Errors of the connector that builds the target name the job file's key, once.
        let small = job(
            "memory://wiring-test/x",
            "[sink.object_store]\npart_size = \"1MiB\"",
        );
        let err = sink_target(&small.sink)
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("sink.object_store.part_size: "), "{err}");
    }

    #[test]
    fn plans_describe_the_job() {
        let p = validate(&file(
            "[sink.bucketing]\ntype = \"hive\"\ntime = \"event\"\nfields = [\"behavior\"]",
        ))
        .unwrap();
        assert_eq!(
            p.sink.bucketing,
            "hive dt=/hour= on event time then [\"behavior\"]"
        );
        assert!(p.source.contains("10 events"));
    }

    #[test]
    fn each_worker_has_its_own_checkpoint_dir() {
        assert_eq!(worker_checkpoint_dir("ckpt", 0, 1), "ckpt");
        assert_eq!(worker_checkpoint_dir("ckpt/", 1, 3), "ckpt/worker-1");
        assert_eq!(worker_checkpoint_dir("s3://b/c", 2, 3), "s3://b/c/worker-2");
    }

    #[test]
    fn locations() {
        assert_eq!(location("lake"), Location::Local("lake".into()));
        assert_eq!(location("file:///tmp/x"), Location::Local("/tmp/x".into()));
        assert_eq!(
            location("s3://b/x"),
            if cfg!(feature = "object-store") {
                Location::Url {
                    scheme: "s3".into(),
                    url: "s3://b/x".into(),
                }
            } else {
                Location::Unsupported("s3".into())
            }
        );
        assert_eq!(
            location("hdfs2://b/x"),
            Location::Unsupported("hdfs2".into())
        );
        assert_eq!(location("./a://b"), Location::Local("./a://b".into()));
    }

    #[test]
    fn output_path_that_is_a_file_is_refused() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut jf = file("");
        let SinkTable::File(s) = &mut jf.sink else {
            unreachable!()
        };
        s.path = f.path().join("sub").display().to_string();
        let err = validate(&jf).unwrap_err().to_string();
        assert!(
            err.starts_with("sink.path") && err.contains("not a directory"),
            "{err}"
        );
    }
}
