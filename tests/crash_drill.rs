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
    let mut rng = Rng::from_env();
    let kills = 24;
    for i in 0..kills {
        let child = start(&job, dir.path(), &[]);
        // Anywhere from before the first checkpoint to several checkpoints in.
        let ms = rng.range(30, 1200);
        std::thread::sleep(Duration::from_millis(ms));
        signal(&child, libc::SIGKILL);
        let out = wait_for(child, Duration::from_secs(10));
        assert!(
            !out.status.success(),
            "kill {i}: the job ended by itself: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let child = start(&job, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SIGTERM must stop cleanly: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped cleanly"), "{stdout}");

    let checkpoint = latest_checkpoint(&dir.path().join("checkpoints"), dir.path());
    assert_eq!(
        checkpoint["final_checkpoint"], true,
        "the stop takes a final checkpoint"
    );
    let (ids, hidden) = read_json_lake(&dir.path().join("lake"));
    assert!(hidden.is_empty(), "in-progress files left: {hidden:?}");
    let mut expected = 0u64;
    for split in 0..SPLITS {
        let pos = checkpoint["sources"][format!("gen-{split}")]
            .as_u64()
            .expect("position of every split");
        assert!(pos > 0, "split {split} made progress");
        expected += pos;
        for seq in 0..pos {
            let id = seq * SPLITS + split;
            match ids.get(&id) {
                Some(1) => {}
                Some(n) => panic!("split {split} seq {seq} (event {id}) written {n} times"),
                None => panic!("split {split} seq {seq} (event {id}) is missing"),
            }
        }
    }
    assert_eq!(
        ids.len() as u64,
        expected,
        "events beyond the checkpointed positions were published"
    );
    eprintln!("{expected} events exactly once after {kills} kills");
}
