//! The crash drill: the real `spillway` binary with an unbounded generator, killed with SIGKILL at
//! random moments 24 times (restarted each time), then stopped with SIGTERM. Every sequence number
//! of every split up to its final checkpointed position must be in exactly one finished file, and
//! nothing may be left in progress.

mod common;

use std::time::Duration;

use common::*;

const SPLITS: u64 = 4;

#[test]
fn sigkill_at_random_moments_then_sigterm_is_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "drill"
parallelism = 2

[source]
type = "generator"
splits = {SPLITS}
rate = 100000
step = "20ms"

[sink]
path = "lake"
format = "json"
bucket_check_interval = "200ms"

[sink.bucketing]
type = "datetime"
time = "event"
format = "yyyy-MM-dd--HH-mm"

[sink.rolling]
max_part_size = "256KiB"
rollover_interval = "700ms"
inactivity_interval = "300ms"

[checkpoint]
dir = "checkpoints"
interval = "150ms"
"#
        ),
    )
    .unwrap();
    let kills = 24;
    sigkill_drill(
        &job,
        dir.path(),
        kills,
        (30, 1200),
        Duration::from_millis(1500),
    );

    let checkpoint = latest_checkpoint(&dir.path().join("checkpoints"), dir.path());
    assert_eq!(
        checkpoint["final_checkpoint"], true,
        "the stop takes a final checkpoint"
    );
    let (ids, hidden) = read_json_lake(&dir.path().join("lake"));
    assert!(hidden.is_empty(), "in-progress files left: {hidden:?}");
    let expected = assert_generator_exactly_once(&ids, &checkpoint, SPLITS);
    eprintln!("{expected} events exactly once after {kills} kills");
}
