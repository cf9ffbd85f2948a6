//! Kafka through the real `spillway` binary against the real broker the project's scripts start
//! (tansu, sqlite storage): a SIGKILL crash drill, and two workers sharing a topic.
#![cfg(feature = "kafka")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Broker {
    brokers: String,
    script: String,
}

fn broker() -> Option<Broker> {
    let brokers =
        sink_core::test_support::service("SPILLWAY_TEST_KAFKA_BROKERS", "a Kafka broker")?;
    let script =
        sink_core::test_support::service("SPILLWAY_KAFKA_SH", "integration/services/kafka.sh")?;
    Some(Broker { brokers, script })
}

impl Broker {
    fn admin(&self, args: &[&str]) {
        let out = Command::new(&self.script)
            .arg("admin")
            .args(args)
            .output()
            .expect("kafka.sh runs");
        assert!(
            out.status.success(),
            "kafka.sh admin {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A new topic with `partitions` partitions and `n` JSON records spread round-robin.
    fn topic(&self, partitions: u32, n: u64) -> String {
        let name = format!("spillway-cli-{}", uuid::Uuid::new_v4().simple());
        self.admin(&["create", &name, &partitions.to_string()]);
        self.admin(&["produce", &name, &n.to_string()]);
        name
    }
}

fn job(brokers: &str, topic: &str, extra_source: &str) -> String {
    format!(
        r#"
[job]
name = "kafka-cli"
parallelism = 2

[source]
type = "kafka"
brokers = "{brokers}"
topics = ["{topic}"]
output = "envelope"
stop = "latest"
{extra_source}

[sink]
path = "lake"
format = "json"

[sink.bucketing]
type = "fields"
fields = ["partition"]

[checkpoint]
dir = "checkpoints"
interval = "200ms"
"#
    )
}

/// How often each (partition, offset) is in the finished files under `lake`.
fn read_envelopes(lake: &Path) -> (BTreeMap<(i64, i64), u32>, Vec<std::path::PathBuf>) {
    let mut seen = BTreeMap::new();
    let mut hidden = Vec::new();
    for f in files(lake) {
        if f.file_name().unwrap().to_string_lossy().starts_with('.') {
            hidden.push(f);
            continue;
        }
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = (
                v["partition"].as_i64().unwrap(),
                v["offset"].as_i64().unwrap(),
            );
            *seen.entry(key).or_default() += 1;
        }
    }
    (seen, hidden)
}

fn assert_every_offset_once(seen: &BTreeMap<(i64, i64), u32>, partitions: i64, n: i64) {
    let per_partition = n / partitions;
    for p in 0..partitions {
        for o in 0..per_partition {
            match seen.get(&(p, o)) {
                Some(1) => {}
                Some(c) => panic!("partition {p} offset {o} written {c} times"),
                None => panic!("partition {p} offset {o} missing"),
            }
        }
    }
    assert_eq!(seen.len() as i64, n, "records beyond the topic's end");
}

#[test]
fn sigkill_drill_every_partition_offset_exactly_once() {
    let Some(b) = broker() else { return };
    const PARTITIONS: i64 = 4;
    const N: i64 = 60_000;
    let topic = b.topic(PARTITIONS as u32, N as u64);
    let dir = tempfile::tempdir().unwrap();
    let job_path = dir.path().join("job.toml");
    std::fs::write(&job_path, job(&b.brokers, &topic, "")).unwrap();
    let mut rng = Rng::from_env();
    let mut kills = 0;
    let mut finished = false;
    while kills < 12 {
        let child = start(&job_path, dir.path(), &[]);
        std::thread::sleep(Duration::from_millis(rng.range(150, 1500)));
        if child_exited(&child) {
            // The backfill finished before this kill; start over from its end (nothing to do).
            finished = true;
            break;
        }
        signal(&child, libc::SIGKILL);
        wait_for(child, Duration::from_secs(10));
        kills += 1;
    }
    eprintln!(
        "{kills} kills{}",
        if finished {
            ", then the backfill finished"
        } else {
            ""
        }
    );
    let out = wait_for(start(&job_path, dir.path(), &[]), Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("input ended"), "{stdout}");
    let (seen, hidden) = read_envelopes(&dir.path().join("lake"));
    assert!(hidden.is_empty(), "in-progress files left: {hidden:?}");
    assert_every_offset_once(&seen, PARTITIONS, N);
    // Buckets by partition: every record of partition p is under partition=p.
    for p in 0..PARTITIONS {
        assert!(dir.path().join(format!("lake/partition={p}")).is_dir());
    }
}

fn child_exited(child: &std::process::Child) -> bool {
    // SAFETY: waitpid with WNOHANG|WNOWAIT on our own child only peeks at its state.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

#[test]
fn two_workers_cover_every_partition_exactly_once() {
    let Some(b) = broker() else { return };
    const PARTITIONS: i64 = 6;
    const N: i64 = 12_000;
    let topic = b.topic(PARTITIONS as u32, N as u64);
    let dir = tempfile::tempdir().unwrap();
    // One job file for both workers; each keeps its checkpoints in checkpoints/worker-{i}.
    std::fs::write(dir.path().join("job.toml"), job(&b.brokers, &topic, "")).unwrap();
    let children: Vec<_> = (0..2)
        .map(|w| {
            start(
                &dir.path().join("job.toml"),
                dir.path(),
                &["--worker", &w.to_string(), "--workers", "2"],
            )
        })
        .collect();
    let mut per_worker = Vec::new();
    for c in children {
        let out = wait_for(c, Duration::from_secs(180));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        per_worker.push(String::from_utf8_lossy(&out.stdout).to_string());
    }
    let (seen, hidden) = read_envelopes(&dir.path().join("lake"));
    assert!(hidden.is_empty());
    assert_every_offset_once(&seen, PARTITIONS, N);
    // Each worker read a share: its files carry its own subtask indexes (2 per worker).
    let mut by_subtask: HashMap<String, usize> = HashMap::new();
    for f in files(&dir.path().join("lake")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let subtask = name.split('-').nth(2).unwrap().to_string();
        *by_subtask.entry(subtask).or_default() += 1;
    }
    assert!(
        by_subtask.contains_key("0") || by_subtask.contains_key("1"),
        "{by_subtask:?}"
    );
    assert!(
        by_subtask.contains_key("2") || by_subtask.contains_key("3"),
        "{by_subtask:?}"
    );
    for w in 0..2 {
        assert!(dir
            .path()
            .join(format!("checkpoints/worker-{w}/job.json"))
            .is_file());
    }
    for out in per_worker {
        assert!(out.contains("input ended"), "{out}");
        assert!(
            !out.contains(&format!("{N} read")),
            "one worker read everything: {out}"
        );
    }
}

#[test]
fn a_typo_in_the_kafka_table_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        job("127.0.0.1:1", "t", "valeu_format = \"json\""),
    )
    .unwrap();
    let out = run(&["validate", "job.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("valeu_format"));
    std::fs::write(
        dir.path().join("job.toml"),
        job(
            "127.0.0.1:1",
            "t",
            "properties = { \"sasl.password\" = \"hunter2\", \"bogus.prop\" = \"x\" }",
        ),
    )
    .unwrap();
    let out = run(&["run", "job.toml", "--no-progress"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(!err.contains("hunter2"), "a secret leaked: {err}");
}
