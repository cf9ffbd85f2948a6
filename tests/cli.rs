//! The command line: running, validating, inspecting checkpoints, and bad input (a malformed job
//! file, an unwritable output directory, a corrupt checkpoint): each a clear error, a non-zero exit
//! code, and nothing already committed touched.

mod common;

use std::path::Path;

use common::*;

fn job_file(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("job.toml");
    std::fs::write(&p, body).unwrap();
    p
}

const BOUNDED: &str = r#"
[job]
name = "cli"
parallelism = 2

[source]
type = "generator"
count = 50000
step = "1s"

[sink]
path = "lake"
format = "json"

[sink.bucketing]
type = "datetime"
time = "event"

[checkpoint]
dir = "ckpt"
interval = "100ms"
"#;

#[test]
fn run_prints_a_summary_and_writes_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "job cli: input ended, everything committed",
        "50000 read, 50000 written, 0 bad",
        "in 14 buckets under lake",
        "records/s",
        "checkpoints",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let (ids, hidden) = read_json_lake(&dir.path().join("lake"));
    assert!(hidden.is_empty());
    assert_eq!(ids.len(), 50_000);
    assert!(ids.values().all(|n| *n == 1));
    // 50 000 events one second apart: 14 event hours, named as Flink names them.
    let mut buckets: Vec<String> = std::fs::read_dir(dir.path().join("lake"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    buckets.sort();
    assert_eq!(buckets.first().unwrap(), "2026-11-24--00");
    assert_eq!(buckets.last().unwrap(), "2026-11-24--13");
    let names: Vec<String> = files(&dir.path().join("lake/2026-11-24--00"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("part-") && n.ends_with(".json")),
        "{names:?}"
    );

    // The checkpoints command lists and shows.
    let out = run(&["checkpoints", "ckpt"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("job \"cli\"") && text.contains("yes"),
        "{text}"
    );
    let out = run(&["checkpoints", "ckpt", "--show", "latest"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("source positions:") && text.contains("gen-0"),
        "{text}"
    );
    assert!(text.contains("pending  2026-11-24--"), "{text}");
}

#[test]
fn validate_reports_the_plan_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    let out = run(&["validate", "job.toml"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("job.toml: OK"), "{text}");
    assert!(text.contains("yyyy-mm-dd--hh on event time"), "{text}");
    assert!(!dir.path().join("lake").exists() && !dir.path().join("ckpt").exists());
}

#[test]
fn malformed_job_files_are_errors_that_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (BOUNDED.replace("count = 50000", "cuont = 50000"), "cuont"),
        (
            BOUNDED.replace("format = \"json\"", "format = \"jsonl\""),
            "jsonl",
        ),
        (
            BOUNDED.replace("interval = \"100ms\"", "interval = 100"),
            "has no unit",
        ),
        (
            BOUNDED.replace(
                "time = \"event\"",
                "time = \"event\"\ntimezone = \"Atlantis\"",
            ),
            "sink.bucketing.timezone",
        ),
        (
            BOUNDED.replace("parallelism = 2", "parallelism = 0"),
            "job.parallelism",
        ),
        (
            BOUNDED.replace("[checkpoint]\ndir = \"ckpt\"", "[checkpoint]"),
            "missing field `dir`",
        ),
        ("this is not toml".to_string(), "TOML parse error"),
    ];
    for (body, want) in cases {
        job_file(dir.path(), &body);
        for cmd in ["validate", "run"] {
            let out = run(
                &[cmd, "job.toml", "--no-progress"][..if cmd == "run" { 3 } else { 2 }],
                dir.path(),
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {want}: {err}");
            assert!(err.contains(want), "{cmd}: expected {want:?} in:\n{err}");
            assert!(err.starts_with("error: "), "{err}");
        }
        assert!(
            !dir.path().join("lake").exists(),
            "a bad job file wrote output"
        );
    }
    let out = run(&["run", "missing.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn unwritable_output_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the output directory should be: no permission trick needed (tests may
    // run as root).
    std::fs::write(dir.path().join("lake"), b"not a directory").unwrap();
    job_file(dir.path(), BOUNDED);
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("lake"), "{err}");
    assert!(
        err.contains("not a directory") || err.contains("create directory"),
        "{err}"
    );

    let sub = tempfile::tempdir().unwrap();
    job_file(
        sub.path(),
        &BOUNDED.replace("path = \"lake\"", "path = \"/proc/spillway-lake\""),
    );
    let out = run(&["run", "job.toml", "--no-progress"], sub.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("/proc/spillway-lake"), "{err}");
}

#[test]
fn corrupt_checkpoint_is_an_error_naming_the_file_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    assert!(out.status.success());
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = files(&dir.path().join("lake"))
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    let newest = files(&dir.path().join("ckpt"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("chk-"))
        .max()
        .unwrap();
    std::fs::write(&newest, b"{\"version\": 1, \"id\": ").unwrap();
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    let name = newest.file_name().unwrap().to_string_lossy().to_string();
    assert!(err.contains(&name) && err.contains("corrupt"), "{err}");
    let after: Vec<(std::path::PathBuf, Vec<u8>)> = files(&dir.path().join("lake"))
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    assert_eq!(before, after, "committed files were touched");
    // The listing reports the bad file instead of failing.
    let out = run(&["checkpoints", "ckpt"], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("unreadable"));
}

#[test]
fn sigterm_stops_cleanly_with_nothing_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(
        dir.path(),
        &BOUNDED
            .replace("count = 50000", "rate = 20000")
            .replace("interval = \"100ms\"", "interval = \"30s\""),
    );
    let child = start(&job, dir.path(), &[]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, std::time::Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped cleanly"), "{stdout}");
    let (ids, hidden) = read_json_lake(&dir.path().join("lake"));
    assert!(hidden.is_empty(), "{hidden:?}");
    assert!(
        ids.len() > 1000,
        "the final checkpoint published what was read: {}",
        ids.len()
    );
    assert!(ids.values().all(|n| *n == 1));
}

#[test]
fn changing_between_one_and_several_workers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&WORKER_0_OF_2, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("checkpoint.dir") && err.contains("run with one worker"),
        "{err}"
    );

    // And from several workers back to one.
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    for worker in ["0", "1"] {
        run_worker_of_two(dir.path(), worker);
    }
    assert!(dir.path().join("ckpt/worker-1/job.json").exists());
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("several workers"), "{err}");

    // Also when only a worker other than 0 ever ran.
    let dir = tempfile::tempdir().unwrap();
    job_file(dir.path(), BOUNDED);
    run_worker_of_two(dir.path(), "1");
    assert!(!dir.path().join("ckpt/worker-0").exists());
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("several workers"), "{err}");
    assert!(!dir.path().join("ckpt/worker-0").exists());
}

const WORKER_0_OF_2: [&str; 7] = [
    "run",
    "job.toml",
    "--no-progress",
    "--worker",
    "0",
    "--workers",
    "2",
];

/// Runs `job.toml` in `dir` as `worker` of two workers, to its end.
fn run_worker_of_two(dir: &Path, worker: &str) {
    let mut args = WORKER_0_OF_2;
    args[4] = worker;
    let out = run(&args, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
