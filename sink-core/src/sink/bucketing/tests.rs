use super::*;

/// Every default against Flink 1.9's constant in `BucketingSink.java` (and `DateTimeBucketer`).
#[test]
fn defaults_are_flink_1_9s() {
    let b = BucketingSink::<String>::new("/tmp/x");
    let p = b.rolling_policy();
    let n = b.legacy_naming();
    let ms = |d: Duration| d.as_millis() as i64;
    // (name in Flink, Flink's value, ours)
    let table: &[(&str, String, String)] = &[
        (
            "DEFAULT_BATCH_SIZE = 1024L * 1024L * 384L",
            (1024i64 * 1024 * 384).to_string(),
            p.batch_size.to_string(),
        ),
        (
            "DEFAULT_INACTIVE_BUCKET_CHECK_INTERVAL_MS = 60 * 1000L",
            (60 * 1000i64).to_string(),
            ms(b.check_interval()).to_string(),
        ),
        (
            "DEFAULT_INACTIVE_BUCKET_THRESHOLD_MS = 60 * 1000L",
            (60 * 1000i64).to_string(),
            ms(p.inactive_bucket_threshold).to_string(),
        ),
        (
            "DEFAULT_BATCH_ROLLOVER_INTERVAL = Long.MAX_VALUE",
            "never".into(),
            p.batch_rollover_interval
                .map_or("never".into(), |d| ms(d).to_string()),
        ),
        (
            "DEFAULT_IN_PROGRESS_SUFFIX",
            ".in-progress".into(),
            n.in_progress_suffix.clone(),
        ),
        (
            "DEFAULT_IN_PROGRESS_PREFIX",
            "_".into(),
            n.in_progress_prefix.clone(),
        ),
        (
            "DEFAULT_PENDING_SUFFIX",
            ".pending".into(),
            n.pending_suffix.clone(),
        ),
        (
            "DEFAULT_PENDING_PREFIX",
            "_".into(),
            n.pending_prefix.clone(),
        ),
        (
            "DEFAULT_VALID_SUFFIX",
            ".valid-length".into(),
            b.valid_length_names().1.into(),
        ),
        (
            "DEFAULT_VALID_PREFIX",
            "_".into(),
            b.valid_length_names().0.into(),
        ),
        (
            "DEFAULT_PART_PREFIX",
            "part".into(),
            b.part_names().0.into(),
        ),
        (
            "DEFAULT_PART_SUFFIX = null",
            "null".into(),
            b.part_names().1.unwrap_or("null").into(),
        ),
        (
            "DEFAULT_ASYNC_TIMEOUT_MS = 60 * 1000",
            (60 * 1000i64).to_string(),
            ms(b.async_timeout_value()).to_string(),
        ),
        (
            "DateTimeBucketer DEFAULT_FORMAT_STRING",
            "yyyy-MM-dd--HH".into(),
            DEFAULT_DATE_TIME_FORMAT.into(),
        ),
    ];
    for (name, flink, ours) in table {
        assert_eq!(ours, flink, "{name}");
    }
    // The job-file form has the same defaults.
    let c: BucketingSinkConfig =
        serde_json::from_value(serde_json::json!({"path": "/tmp/x"})).unwrap();
    assert_eq!(c, BucketingSinkConfig::new("/tmp/x"));
    let from_config = c.apply(BucketingSink::<String>::new("/tmp/x")).unwrap();
    assert_eq!(from_config.rolling_policy(), p);
    assert_eq!(from_config.legacy_naming(), n);
    assert_eq!(from_config.part_names(), b.part_names());
    assert_eq!(from_config.check_interval(), b.check_interval());
    assert_eq!(from_config.valid_length_names(), b.valid_length_names());
    assert_eq!(from_config.async_timeout_value(), b.async_timeout_value());
}

#[test]
fn rolling_rules_are_the_bucketing_sinks() {
    let p = BucketingRollingPolicy {
        batch_size: 100,
        batch_rollover_interval: Some(Duration::from_secs(10)),
        inactive_bucket_threshold: Duration::from_secs(5),
    };
    let part = |size, creation_time, last_update_time| PartFileInfo {
        bucket_id: "b",
        creation_time,
        last_update_time,
        size,
        records: 1,
    };
    let ev = |i: &PartFileInfo<'_>| RollingPolicy::<()>::should_roll_on_event(&p, i, &());
    let tick =
        |i: &PartFileInfo<'_>, now| RollingPolicy::<()>::should_roll_on_processing_time(&p, i, now);
    assert!(
        !ev(&part(100, 0, 0)),
        "writePosition > batchSize: 100 is not above 100"
    );
    assert!(ev(&part(101, 0, 0)));
    assert!(
        !tick(&part(1, 0, 5_000), 10_000),
        "creationTime < now - interval: equal is not older"
    );
    assert!(tick(&part(1, 0, 9_000), 10_001));
    assert!(
        !tick(&part(1, 9_000, 5_000), 10_000),
        "lastWrittenToTime < now - threshold: equal is not inactive"
    );
    assert!(tick(&part(1, 9_000, 4_999), 10_000));
    assert!(!RollingPolicy::<()>::should_roll_on_checkpoint(
        &p,
        &part(1 << 40, 0, 0)
    ));
    let never = BucketingRollingPolicy::default();
    assert!(!RollingPolicy::<()>::should_roll_on_processing_time(
        &never,
        &part(1, 0, i64::MAX / 2),
        i64::MAX / 2
    ));
}

#[test]
fn config_keys_and_mistakes() {
    let c: BucketingSinkConfig = serde_json::from_value(serde_json::json!({
        "api": "bucketing",
        "path": "file:///tmp/lake",
        "bucketer": "base-path",
        "writer": "sequence-file",
        "sequence_file": {"compression": "block"},
        "batch_size": "64MiB",
        "batch_rollover_interval": 1_200_000,
        "inactive_bucket_check_interval": "1s",
        "inactive_bucket_threshold": "5m",
        "part_prefix": "events",
        "part_suffix": ".seq",
        "in_progress_prefix": ".",
        "in_progress_suffix": ".writing",
        "pending_prefix": "_",
        "pending_suffix": ".ready",
        "valid_length_prefix": "_",
        "valid_length_suffix": ".len",
        "async_timeout": 30000,
    }))
    .unwrap();
    assert_eq!(c.batch_size.0, 64 << 20);
    assert_eq!(c.batch_rollover_interval.0, Some(Duration::from_secs(1200)));
    let b = c.apply(BucketingSink::<String>::new("/tmp/lake")).unwrap();
    assert_eq!(b.part_names(), ("events", Some(".seq")));
    assert_eq!(b.legacy_naming().pending_suffix, ".ready");
    assert_eq!(
        b.rolling_policy().inactive_bucket_threshold,
        Duration::from_secs(300)
    );
    let never: BucketingSinkConfig = serde_json::from_value(serde_json::json!({
        "path": "x", "batch_rollover_interval": i64::MAX
    }))
    .unwrap();
    assert_eq!(never.batch_rollover_interval.0, None);

    for (json, want) in [
        (
            serde_json::json!({"path": "x", "batch_sise": 1}),
            "unknown field",
        ),
        (
            serde_json::json!({"path": "x", "bucketer": "daily"}),
            "unknown variant",
        ),
        (
            serde_json::json!({"path": "x", "batch_size": "12 parsecs"}),
            "unknown unit",
        ),
        (
            serde_json::json!({"path": "x", "inactive_bucket_threshold": "soon"}),
            "duration",
        ),
        (
            serde_json::json!({"api": "streaming", "path": "x"}),
            "unknown variant",
        ),
    ] {
        let err = serde_json::from_value::<BucketingSinkConfig>(json.clone()).unwrap_err();
        assert!(err.to_string().contains(want), "{json}: {err}");
    }
    // Fields are named relative to the table; the CLI puts `sink.` in front
    // (tests/bucketing_cli.rs checks `sink.date_time_format` and the others).
    for (json, want) in [
        (
            serde_json::json!({"path": "x", "sequence_file": {}}),
            "sequence_file",
        ),
        (
            serde_json::json!({"path": "x", "date_time_format": "%Q"}),
            "date_time_format",
        ),
        (
            serde_json::json!({"path": "x", "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            serde_json::json!({"path": "x", "inactive_bucket_check_interval": "never"}),
            "inactive_bucket_check_interval",
        ),
    ] {
        let c: BucketingSinkConfig = serde_json::from_value(json.clone()).unwrap();
        let err = c
            .apply(BucketingSink::<String>::new("/tmp/x"))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config { field, .. } if field == want),
            "{json}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let err = BucketingSink::<String>::new(dir.path())
        .writer(StringWriter::new())
        .pending_suffix(".in-progress")
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("pending names must differ"),
        "{err}"
    );
    let err = BucketingSink::<String>::new(dir.path())
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("no writer set"), "{err}");
}

// ---- legacy names on local disk -------------------------------------------------------------

use std::collections::BTreeMap;
use std::path::Path;

use crate::sink::{Context, FileSinkState, WriterContext};

/// Every file under `dir`, relative, with its content.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn names(dir: &Path) -> Vec<String> {
    files(dir).into_keys().collect()
}

fn legacy_sink(dir: &Path, batch_size: u64) -> FileSink<String> {
    BucketingSink::<String>::new(dir)
        .bucketer(BasePathBucketer)
        .writer(StringWriter::new())
        .batch_size(batch_size)
        .build()
        .unwrap()
}

#[tokio::test]
async fn in_progress_pending_and_final_names() {
    let dir = tempfile::tempdir().unwrap();
    let sink = legacy_sink(dir.path(), 10);
    let ctx = Context::default();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&"0123456789a".to_string(), &ctx).await.unwrap();
    assert_eq!(names(dir.path()), ["_part-0-0.in-progress"]);
    // 12 bytes > batch size 10: the next record rolls the part.
    w.write(&"b".to_string(), &ctx).await.unwrap();
    assert_eq!(
        names(dir.path()),
        ["_part-0-0.pending", "_part-0-1.in-progress"]
    );
    let state = w.snapshot(1).await.unwrap();
    assert_eq!(
        state.open.len(),
        1,
        "the open part stays open across the checkpoint"
    );
    assert_eq!(state.pending.len(), 1);
    w.notify_checkpoint_complete(1).await.unwrap();
    assert_eq!(names(dir.path()), ["_part-0-1.in-progress", "part-0-0"]);
    w.close_all().await.unwrap();
    w.snapshot(2).await.unwrap();
    assert_eq!(names(dir.path()), ["_part-0-1.pending", "part-0-0"]);
    w.notify_checkpoint_complete(2).await.unwrap();
    assert_eq!(
        files(dir.path()),
        BTreeMap::from([
            ("part-0-0".to_string(), "0123456789a\n".to_string()),
            ("part-0-1".to_string(), "b\n".to_string()),
        ])
    );
}

/// A fresh job in a directory that already holds another job's files: it skips their names, and
/// after a crash it deletes exactly what it wrote after its checkpoint.
#[tokio::test]
async fn names_in_use_are_skipped_and_cleanup_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = [
        ("part-0-0", "old final\n"),
        ("_part-0-1.pending", "old pending\n"),
        ("_part-0-4.in-progress", "old in-progress\n"),
        ("part-1-0", "old final of subtask 1\n"),
        ("other-0-9", "another prefix\n"),
    ];
    for (n, c) in foreign {
        std::fs::write(dir.path().join(n), c).unwrap();
    }
    let sink = legacy_sink(dir.path(), 6);
    let report = sink.recover("r", &[]).await.unwrap();
    assert_eq!(report.orphans_deleted, 0, "a fresh start deletes nothing");
    let ctx = Context::default();
    let mut w0 = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    let mut w1 = sink
        .writer(WriterContext::new(1, "r"), vec![])
        .await
        .unwrap();
    w0.write(&"kept".to_string(), &ctx).await.unwrap();
    w1.write(&"one".to_string(), &ctx).await.unwrap();
    let listing = names(dir.path());
    assert!(
        listing.contains(&"_part-0-5.in-progress".to_string()),
        "subtask 0 starts above the unpublished names it found: {listing:?}"
    );
    assert!(
        listing.contains(&"_part-1-1.in-progress".to_string()),
        "subtask 1 skips the published part-1-0: {listing:?}"
    );
    let s0: FileSinkState = w0.snapshot(1).await.unwrap();
    let s1: FileSinkState = w1.snapshot(1).await.unwrap();
    w0.notify_checkpoint_complete(1).await.unwrap();
    w1.notify_checkpoint_complete(1).await.unwrap();
    // After the checkpoint: part 5 grows past the batch size and rolls (pending), part 6 opens.
    w0.write(&"lost!".to_string(), &ctx).await.unwrap();
    w0.write(&"lost too".to_string(), &ctx).await.unwrap();
    let listing = names(dir.path());
    assert!(
        listing.contains(&"_part-0-5.pending".to_string()),
        "{listing:?}"
    );
    assert!(
        listing.contains(&"_part-0-6.in-progress".to_string()),
        "{listing:?}"
    );
    drop(w0);
    drop(w1); // crash

    let states = vec![s0.clone(), s1.clone()];
    let report = sink.recover("r", &states).await.unwrap();
    assert_eq!(
        report.orphans_deleted, 1,
        "only _part-0-6.in-progress was ours and unreferenced"
    );
    assert_eq!(
        report.foreign_left, 2,
        "the old pending and in-progress files stay"
    );
    let mut w0 = sink
        .writer(WriterContext::new(0, "r"), vec![s0])
        .await
        .unwrap();
    let mut w1 = sink
        .writer(WriterContext::new(1, "r"), vec![s1])
        .await
        .unwrap();
    w0.write(&"more".to_string(), &ctx).await.unwrap();
    for w in [&mut w0, &mut w1] {
        w.close_all().await.unwrap();
        w.snapshot(2).await.unwrap();
        w.notify_checkpoint_complete(2).await.unwrap();
    }
    let got = files(dir.path());
    for (n, c) in foreign {
        assert_eq!(got.get(n).map(String::as_str), Some(c), "{n} untouched");
    }
    assert_eq!(
        got.get("part-0-5").map(String::as_str),
        Some("kept\nmore\n")
    );
    assert_eq!(got.get("part-1-1").map(String::as_str), Some("one\n"));
    assert_eq!(got.len(), foreign.len() + 2, "{got:?}");
}

/// A run killed before its first checkpoint and started again: legacy names carry no run id, so
/// only the restart (`recover_unchecked_restart`, chosen by the runtime when `job.json` exists
/// but no checkpoint does) may claim what it left; a plain fresh start leaves it.
#[tokio::test]
async fn a_restart_before_the_first_checkpoint_deletes_what_the_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let sink = legacy_sink(dir.path(), 4);
    let ctx = Context::default();
    let mut w = sink
        .writer(WriterContext::new(0, "r"), vec![])
        .await
        .unwrap();
    w.write(&"lost!".to_string(), &ctx).await.unwrap();
    w.write(&"lost too".to_string(), &ctx).await.unwrap();
    assert_eq!(
        names(dir.path()),
        ["_part-0-0.pending", "_part-0-1.in-progress"]
    );
    drop(w); // crash, no checkpoint

    let fresh = sink.recover("r", &[]).await.unwrap();
    assert_eq!(
        fresh.orphans_deleted, 0,
        "a fresh start cannot tell they are ours"
    );
    assert_eq!(names(dir.path()).len(), 2);
    let restart = sink.recover_unchecked_restart("r").await.unwrap();
    assert_eq!(restart.orphans_deleted, 2, "{:?}", names(dir.path()));
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

/// A whole job on the runtime: generator, checkpoints, parts rolling by size; names seen during
/// the run, and at the end only final names, every event exactly once.
#[tokio::test]
async fn legacy_names_in_a_real_job() {
    use crate::runtime::{Event, GeneratorConfig, GeneratorSource, Job, LocalCheckpointStore};
    let out = tempfile::tempdir().unwrap();
    let ckpt = tempfile::tempdir().unwrap();
    let sink = BucketingSink::<Event>::new(out.path())
        .bucketer(DateTimeBucketer::new().with_event_time())
        .writer(StringWriter::new())
        .batch_size(8 * 1024)
        .build()
        .unwrap();
    let source = GeneratorSource::new(GeneratorConfig {
        splits: 4,
        count: Some(40_000),
        rate: Some(40_000.0),
        step: Duration::from_secs(1),
        ..GeneratorConfig::default()
    })
    .unwrap();
    let job = Job::builder("legacy")
        .parallelism(2)
        .checkpoint_interval(Duration::from_millis(100))
        .checkpoint_store(LocalCheckpointStore::new(ckpt.path()).unwrap())
        .from_source(source)
        .sink_to(sink);
    let seen = std::sync::Arc::new(std::sync::Mutex::new((false, false)));
    let watch = {
        let seen = seen.clone();
        let dir = out.path().to_path_buf();
        tokio::spawn(async move {
            loop {
                for n in names(&dir) {
                    let file = n.rsplit('/').next().unwrap_or(&n).to_string();
                    let mut s = seen.lock().unwrap();
                    s.0 |= file.starts_with("_part-") && file.ends_with(".in-progress");
                    s.1 |= file.starts_with("_part-") && file.ends_with(".pending");
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let summary = job.run().await.unwrap();
    watch.abort();
    assert_eq!(summary.records_committed, 40_000);
    assert_eq!(
        *seen.lock().unwrap(),
        (true, true),
        "in-progress and pending names seen"
    );
    let mut count = BTreeMap::<u64, u32>::new();
    for (path, content) in files(out.path()) {
        let file = path.rsplit('/').next().unwrap();
        let (subtask, counter) = file
            .strip_prefix("part-")
            .and_then(|r| r.split_once('-'))
            .unwrap_or_else(|| panic!("not a final legacy name: {path}"));
        assert!(subtask == "0" || subtask == "1", "{path}");
        assert!(counter.parse::<u64>().is_ok(), "{path}");
        for line in content.lines() {
            let id: u64 = line.split(',').next().unwrap().parse().unwrap();
            *count.entry(id).or_default() += 1;
        }
    }
    assert_eq!(count.len(), 40_000);
    assert!(count.values().all(|c| *c == 1), "every event exactly once");
}
