//! Component tests of the runtime with the generator, the file sink and the local disk.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::fs::LocalTarget;
use crate::sink::*;

fn json_sink(dir: &Path, policy: DefaultRollingPolicy) -> FileSink<Event> {
    FileSink::for_row_format(
        LocalTarget::new(dir).unwrap(),
        JsonLinesEncoder::<Event>::new(),
    )
    .with_bucket_assigner(
        DateTimeBucketAssigner::new()
            .with_format("yyyy-MM-dd--HH")
            .unwrap()
            .with_event_time(),
    )
    .with_rolling_policy(policy)
    .build()
    .unwrap()
}

/// Event ids in every finished file under `dir`, and the number of in-progress files.
fn read_lake(dir: &Path) -> (HashMap<u64, usize>, usize) {
    let mut ids = HashMap::new();
    let mut in_progress = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if name.starts_with('.') {
                if name.contains(".inprogress.") {
                    in_progress += 1;
                }
            } else if !e.path().to_string_lossy().contains("_dead_letter") {
                for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                    let ev: Event = serde_json::from_str(line).unwrap();
                    *ids.entry(ev.event_id).or_default() += 1;
                }
            }
        }
    }
    (ids, in_progress)
}

fn gen(count: Option<u64>, rate: Option<f64>) -> GeneratorSource {
    GeneratorSource::new(GeneratorConfig {
        splits: 4,
        count,
        rate,
        step: Duration::from_secs(1),
        ..GeneratorConfig::default()
    })
    .unwrap()
}

/// Runs a job and "crashes" it (drops it mid-flight) once it has completed `checkpoints`
/// checkpoints and `extra_ms` more have passed.
async fn crash_after<S: Send + Sync + 'static, T: Send + Sync + 'static>(
    runner: JobRunner<S, T>,
    checkpoints: u64,
    extra_ms: u64,
) {
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

fn assert_exactly(ids: &HashMap<u64, usize>, n: u64) {
    let dup: Vec<_> = ids.iter().filter(|(_, c)| **c != 1).take(5).collect();
    assert!(dup.is_empty(), "ids written more than once: {dup:?}");
    let missing: Vec<_> = (0..n).filter(|i| !ids.contains_key(i)).take(5).collect();
    assert!(missing.is_empty(), "missing ids: {missing:?}");
    assert_eq!(ids.len() as u64, n, "extra ids beyond {n}");
}

#[tokio::test]
async fn bounded_job_commits_everything_exactly_once() {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let runner = Job::builder("t")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(50))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(gen(Some(20_000), None))
        .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()));
    let progress = runner.progress();
    let summary = runner.run().await.unwrap();
    assert!(summary.input_ended);
    assert_eq!(summary.records_in, 20_000);
    assert_eq!(summary.records_out, 20_000);
    assert_eq!(summary.records_committed, 20_000);
    assert!(summary.checkpoints >= 1);
    // 20 000 events one second apart span 6 event hours.
    assert_eq!(summary.buckets, 6, "6 event hours");
    let (ids, in_progress) = read_lake(out.path());
    assert_exactly(&ids, 20_000);
    assert_eq!(in_progress, 0);
    assert!(progress.finished.load(std::sync::atomic::Ordering::Relaxed));
    // A finished bounded job restarted does nothing more.
    let again = Job::builder("t")
        .parallelism(2)
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(gen(Some(20_000), None))
        .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()))
        .run()
        .await
        .unwrap();
    assert_eq!(again.records_in, 0);
    assert_eq!(again.totals.records_out, 20_000);
    assert_exactly(&read_lake(out.path()).0, 20_000);
}

#[tokio::test]
async fn cancelled_runs_resume_exactly_once_and_stop_cleanly() {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let job = |rate: f64| {
        Job::builder("t")
            .parallelism(2)
            .checkpoint_interval(Duration::from_millis(30))
            .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
            .from_source(gen(None, Some(rate)))
            .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()))
    };
    // Three "crashes": the job's future is dropped at an arbitrary moment.
    for (checkpoints, ms) in [(1, 13), (2, 0), (1, 29)] {
        crash_after(job(50_000.0), checkpoints, ms).await;
    }
    // Then a clean stop.
    let summary = job(50_000.0)
        .run_until(tokio::time::sleep(Duration::from_millis(150)))
        .await
        .unwrap();
    assert!(!summary.input_ended);
    assert!(summary.restored_from.is_some());
    let total = summary.totals.records_out;
    assert!(total > 0);
    let (ids, in_progress) = read_lake(out.path());
    assert_eq!(in_progress, 0, "a clean stop leaves nothing in progress");
    // Split s has written sequence numbers 0..pos(s): together every id below the minimum is there.
    let chk = CheckpointManager::new(
        std::sync::Arc::new(LocalCheckpointStore::new(ckpt.path()).unwrap()),
        3,
    )
    .latest()
    .await
    .unwrap()
    .unwrap();
    assert!(chk.final_checkpoint);
    let mut expected = 0;
    for s in 0..4u64 {
        let pos = chk.sources[&GeneratorSource::split_id(s as u32)]
            .as_u64()
            .unwrap();
        expected += pos;
        for seq in 0..pos {
            let id = seq * 4 + s;
            assert_eq!(ids.get(&id), Some(&1), "id {id} (split {s}, seq {seq})");
        }
    }
    assert_eq!(
        ids.len() as u64,
        expected,
        "no id beyond the checkpointed positions"
    );
    assert_eq!(expected, total);
}

#[tokio::test]
async fn bad_record_policies() {
    let run = |policy: BadRecordPolicy, out: &Path, ckpt: &Path| {
        Job::builder("t")
            .checkpoint_interval(Duration::from_millis(50))
            .bad_records(policy)
            .checkpoint_store(LocalCheckpointStore::new(ckpt).unwrap())
            .from_source(gen(Some(1_000), None))
            .try_map(|e: Event| {
                if e.event_id % 100 == 7 {
                    Err(format!("event {} is cursed", e.event_id))
                } else {
                    Ok(e)
                }
            })
            .sink_to(json_sink(out, DefaultRollingPolicy::default()))
            .run()
    };
    let (o, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let err = run(BadRecordPolicy::Fail, o.path(), c.path())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bad record at generator/") && msg.contains("is cursed"),
        "{msg}"
    );

    let (o, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = run(BadRecordPolicy::Skip, o.path(), c.path())
        .await
        .unwrap();
    assert_eq!(s.bad_records, 10);
    assert_eq!(read_lake(o.path()).0.len(), 990);

    let (o, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = run(BadRecordPolicy::DeadLetter, o.path(), c.path())
        .await
        .unwrap();
    assert_eq!(s.bad_records, 10);
    let dl_dir = o.path().join("_dead_letter");
    let letters: Vec<DeadLetter> = std::fs::read_dir(&dl_dir)
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(letters.len(), 10);
    assert!(letters
        .iter()
        .all(|l| l.reason.ends_with("is cursed") && l.origin.starts_with("generator/")));
}

#[tokio::test]
async fn corrupt_checkpoint_stops_the_job_and_touches_nothing() {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let job = || {
        Job::builder("t")
            .checkpoint_interval(Duration::from_millis(20))
            .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
            .from_source(gen(Some(5_000), None))
            .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()))
    };
    job().run().await.unwrap();
    let before = read_lake(out.path()).0;
    let newest = std::fs::read_dir(ckpt.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("chk-"))
        .max()
        .unwrap();
    std::fs::write(&newest, b"{ garbage").unwrap();
    let err = job().run().await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&newest.file_name().unwrap().to_string_lossy().to_string()),
        "{err}"
    );
    assert_eq!(read_lake(out.path()).0, before);
}

#[tokio::test]
async fn inactive_parts_roll_on_the_tick_while_the_job_runs() {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    // 5 events, then nothing: an unbounded source that goes quiet.
    let src = GeneratorSource::new(GeneratorConfig {
        splits: 1,
        rate: Some(1000.0),
        ..GeneratorConfig::default()
    })
    .unwrap();
    let sink = FileSink::for_row_format(
        LocalTarget::new(out.path()).unwrap(),
        JsonLinesEncoder::<Event>::new(),
    )
    .with_bucket_assigner(BasePathBucketAssigner)
    .with_rolling_policy(
        DefaultRollingPolicy::builder()
            .with_inactivity_interval(Duration::from_millis(100))
            .with_rollover_interval(Duration::from_secs(3600))
            .build(),
    )
    .with_bucket_check_interval(Duration::from_millis(20))
    .build()
    .unwrap();
    let runner = Job::builder("t")
        .checkpoint_interval(Duration::from_millis(50))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(src)
        .filter(|e: &Event| e.event_id < 5)
        .sink_to(sink);
    let progress = runner.progress();
    let job = tokio::spawn(runner.run_until(tokio::time::sleep(Duration::from_millis(1500))));
    // Well before the stop, the quiet part must have rolled and been published.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (ids, _) = read_lake(out.path());
    assert_eq!(
        ids.len(),
        5,
        "rolled on inactivity and committed while running"
    );
    assert!(!progress.finished.load(std::sync::atomic::Ordering::Relaxed));
    job.await.unwrap().unwrap();
}

#[tokio::test]
async fn parallelism_change_keeps_exactly_once() {
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let job = |p: usize| {
        Job::builder("t")
            .parallelism(p)
            .checkpoint_interval(Duration::from_millis(25))
            .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
            .from_source(gen(Some(200_000), Some(400_000.0)))
            .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()))
    };
    crash_after(job(3), 2, 7).await;
    let s = job(2).run().await.unwrap();
    assert!(s.restored_from.is_some());
    let (ids, in_progress) = read_lake(out.path());
    assert_exactly(&ids, 200_000);
    assert_eq!(in_progress, 0);
}

/// A user's transform registers its own metric in `open`, scoped like the built-in ones, and the
/// runtime's metrics count what the job did.
#[tokio::test]
async fn user_and_built_in_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    struct CountBuys(Option<::metrics::Counter>);
    impl Operator<Event, Event> for CountBuys {
        fn open(&mut self, ctx: &RuntimeContext) -> crate::Result<()> {
            assert_eq!(ctx.job_name, "metrics-test");
            self.0 = Some(
                ctx.metrics
                    .add_group("operator", "count-buys")
                    .counter("buys_total"),
            );
            Ok(())
        }
        fn process(
            &mut self,
            input: &mut Vec<StreamRecord<Event>>,
            output: &mut Vec<StreamRecord<Event>>,
            _: &mut Vec<BadRecord>,
        ) -> crate::Result<()> {
            let buys = input
                .iter()
                .filter(|r| r.value.behavior == Behavior::Buy)
                .count();
            self.0.as_ref().unwrap().increment(buys as u64);
            output.append(input);
            Ok(())
        }
    }

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let src = gen(Some(10_000), None);
    let expected_buys = (0..10_000u64)
        .filter(|id| {
            GeneratorConfig {
                splits: 4,
                step: Duration::from_secs(1),
                ..GeneratorConfig::default()
            }
            .event((id % 4) as u32, id / 4)
            .behavior
                == Behavior::Buy
        })
        .count() as u64;
    let summary = Job::builder("metrics-test")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(50))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(src)
        .transform(|| Box::new(CountBuys(None)))
        .sink_to(json_sink(out.path(), DefaultRollingPolicy::default()))
        .run()
        .await
        .unwrap();

    let mut counters: HashMap<String, u64> = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let k = key.key();
        if !k
            .labels()
            .any(|l| l.key() == "job_name" && l.value() == "metrics-test")
        {
            continue;
        }
        if let DebugValue::Counter(v) = value {
            let mut labels: Vec<String> = k
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            *counters.entry(k.name().to_string()).or_default() += v;
            counters.insert(format!("{}{{{}}}", k.name(), labels.join(",")), v);
        }
    }
    assert_eq!(counters["buys_total"], expected_buys);
    assert!(
        counters.contains_key(
            "buys_total{job_name=metrics-test,operator=count-buys,subtask=0,worker=0}"
        ),
        "{counters:?}"
    );
    assert_eq!(counters["spillway_records_in_total"], 10_000);
    assert_eq!(counters["spillway_records_out_total"], 10_000);
    assert_eq!(
        counters["spillway_part_files_committed_total"],
        summary.files_committed
    );
    assert_eq!(
        counters["spillway_bytes_written_total"],
        summary.bytes_committed
    );
    assert_eq!(counters["spillway_checkpoints_total"], summary.checkpoints);
}
