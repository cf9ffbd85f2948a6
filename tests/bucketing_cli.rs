//! `[sink] api = "bucketing"`: Flink 1.9's BucketingSink keys in a job file, through the real
//! binary: its defaults, its mistakes, and a SIGKILL drill with `StringWriter` and Flink's legacy
//! names (`_part-0-0.in-progress`, `_part-0-0.pending`) on local disk.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

const SPLITS: u64 = 4;

fn job(sink: &str) -> String {
    format!(
        r#"
[job]
name = "legacy"
parallelism = 2

[source]
type = "generator"
splits = {SPLITS}
rate = 50000

[sink]
api = "bucketing"
path = "lake"
{sink}

[checkpoint]
dir = "ckpt"
interval = "200ms"
"#
    )
}

#[test]
fn the_legacy_defaults_are_flinks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), job("")).unwrap();
    let out = run(&["validate", "job.toml"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // DateTimeBucketer("yyyy-MM-dd--HH"), StringWriter, batch size 384 MiB, no rollover
    // interval, 60 s inactivity checked every 60 s.
    assert!(stdout.contains("bucketing: StringWriter"), "{stdout}");
    assert!(
        stdout.contains("DateTimeBucketer yyyy-MM-dd--HH on processing time"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("roll at 402653184 bytes, never by age, or 60s inactive (checked every 60s)"),
        "{stdout}"
    );
}

#[test]
fn legacy_job_file_mistakes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            job("").replace("api = \"bucketing\"", "api = \"buckets\""),
            "sink.api",
        ),
        (job("batchsize = \"1MiB\""), "batchsize"),
        (job("batch_size = \"1 parsec\""), "parsec"),
        (job("bucketer = \"hourly\""), "hourly"),
        (job("writer = \"avro\""), "avro"),
        (job("date_time_format = \"%Q\""), "sink.date_time_format"),
        (
            job("inactive_bucket_check_interval = \"never\""),
            "sink.inactive_bucket_check_interval",
        ),
        (
            job("[sink.sequence_file]\ncompression = \"block\""),
            "sink.sequence_file",
        ),
        (job("format = \"json\""), "format"),
    ];
    for (body, want) in cases {
        std::fs::write(dir.path().join("job.toml"), &body).unwrap();
        let out = run(&["validate", "job.toml"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "expected {want:?} in:\n{err}");
    }
    assert!(!dir.path().join("lake").exists());
}

#[test]
fn string_writer_with_legacy_names_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let jobfile = dir.path().join("job.toml");
    std::fs::write(
        &jobfile,
        job(r#"bucketer = "base-path"
batch_size = "256KiB"
batch_rollover_interval = 700
inactive_bucket_check_interval = "100ms"
inactive_bucket_threshold = "300ms""#),
    )
    .unwrap();
    let mut rng = Rng::from_env();
    let mut saw_legacy_names = false;
    for i in 0..10 {
        let child = start(&jobfile, dir.path(), &[]);
        std::thread::sleep(Duration::from_millis(rng.range(50, 1200)));
        // While it runs, unpublished parts carry Flink's names.
        saw_legacy_names |= files(&dir.path().join("lake")).iter().any(|f| {
            let n = f.file_name().unwrap().to_string_lossy();
            n.starts_with("_part-") && (n.ends_with(".in-progress") || n.ends_with(".pending"))
        });
        signal(&child, libc::SIGKILL);
        let out = wait_for(child, Duration::from_secs(10));
        assert!(!out.status.success(), "kill {i}: ended by itself");
    }
    assert!(
        saw_legacy_names,
        "no _part-….in-progress file seen while running"
    );
    let child = start(&jobfile, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checkpoint = latest_checkpoint(&dir.path().join("ckpt"), dir.path());

    let mut ids: HashMap<u64, u32> = HashMap::new();
    for f in files(&dir.path().join("lake")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.starts_with('_') && !name.starts_with('.'),
            "left: {name}"
        );
        // Flink's legacy part names: part-<subtask>-<counter>, no run id, no suffix.
        let rest = name.strip_prefix("part-").expect("part file");
        assert!(rest.split('-').all(|n| n.parse::<u64>().is_ok()), "{name}");
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            // StringWriter: the record's text (the event as CSV) and a newline.
            let id: u64 = line.split(',').next().unwrap().parse().unwrap();
            *ids.entry(id).or_default() += 1;
        }
    }
    assert_generator_exactly_once(&ids, &checkpoint, SPLITS);
}
