//! `hdfs://` through the real `spillway` binary, against a real HDFS (Hadoop 2.7.3, started by
//! `integration/services/hdfs.sh`): output and checkpoints on HDFS, SIGKILL at random moments,
//! and everything read back by Hadoop's own shell (`hdfs dfs -cat`, `hdfs dfs -text`).
//!
//! 1. JSON lines with the file sink.
//! 2. Flink 1.9's BucketingSink form (`api = "bucketing"`) with its `SequenceFileWriter`,
//!    uncompressed (parts resume in place) and block-compressed (parts roll on checkpoints).
#![cfg(feature = "hdfs")]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const SPLITS: u64 = 4;

struct Hdfs {
    url: String,
    shell: String,
}

fn hdfs() -> Option<Hdfs> {
    let url = sink_core::test_support::service("SPILLWAY_TEST_HDFS_URL", "a running HDFS")?;
    let shell = sink_core::test_support::service("SPILLWAY_HADOOP_HDFS", "Hadoop's hdfs command")?;
    Some(Hdfs { url, shell })
}

impl Hdfs {
    fn dir(&self, what: &str) -> String {
        format!(
            "{}/spillway-cli/{what}-{}",
            self.url.trim_end_matches('/'),
            uuid::Uuid::new_v4().simple()
        )
    }

    fn dfs(&self, args: &[&str]) -> String {
        let out = Command::new(&self.shell)
            .arg("dfs")
            .args(args)
            .output()
            .expect("run hdfs dfs");
        assert!(
            out.status.success(),
            "hdfs dfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every file under `dir` as Hadoop lists it: (published, unpublished). Unpublished are names
    /// starting with `.` or `_` (hidden in-progress files, Flink's `_part-….in-progress` and
    /// `_part-….pending`).
    fn files(&self, dir: &str) -> (Vec<String>, Vec<String>) {
        let (mut done, mut open) = (Vec::new(), Vec::new());
        for line in self.dfs(&["-ls", "-R", dir]).lines() {
            if !line.starts_with('-') {
                continue;
            }
            let path = line.split_whitespace().last().unwrap().to_string();
            let name = path.rsplit('/').next().unwrap();
            if name.starts_with('.') || name.starts_with('_') {
                open.push(path);
            } else {
                done.push(path);
            }
        }
        (done, open)
    }
}

/// The crash drill (see `common::sigkill_drill`); returns the final checkpoint.
fn drill(job: &Path, dir: &Path, ckpt: &str, kills: usize) -> serde_json::Value {
    sigkill_drill(job, dir, kills, (200, 2500), Duration::from_millis(3000));
    let checkpoint = latest_checkpoint(Path::new(ckpt), dir);
    assert_eq!(checkpoint["final_checkpoint"], true);
    checkpoint
}

#[test]
fn json_lines_into_hdfs_survive_sigkill_and_hadoop_reads_them() {
    let Some(h) = hdfs() else {
        return;
    };
    let root = h.dir("json");
    let (lake, ckpt) = (format!("{root}/lake"), format!("{root}/checkpoints"));
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"
[job]
name = "hdfs-drill"
parallelism = 2

[source]
type = "generator"
splits = {SPLITS}
rate = 50000
step = "20ms"

[sink]
path = "{lake}"
format = "json"
bucket_check_interval = "200ms"

[sink.bucketing]
type = "datetime"
time = "event"
format = "yyyy-MM-dd--HH-mm"

[sink.rolling]
max_part_size = "1MiB"
rollover_interval = "2s"
inactivity_interval = "1s"

# Small blocks: the test HDFS has one datanode on a shared disk, and each block being written
# reserves its full size there.
[sink.hdfs]
replication = 1
block_size = "4MiB"

[checkpoint.hdfs]
block_size = "1MiB"

[checkpoint]
dir = "{ckpt}"
interval = "300ms"
"#
        ),
    )
    .unwrap();
    let checkpoint = drill(&job, dir.path(), &ckpt, 6);
    let (done, open) = h.files(&lake);
    assert!(open.is_empty(), "unpublished files left: {open:?}");
    assert!(!done.is_empty());
    let mut args = vec!["-cat"];
    args.extend(done.iter().map(String::as_str));
    let mut ids = HashMap::new();
    for (n, line) in h.dfs(&args).lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {n} is not a whole event ({e}): {line:?}"));
        *ids.entry(v["event_id"].as_u64().unwrap()).or_default() += 1;
    }
    assert_generator_exactly_once(&ids, &checkpoint, SPLITS);
    eprintln!(
        "{} events exactly once in {} HDFS files",
        ids.len(),
        done.len()
    );
}

#[cfg(feature = "sequencefile")]
#[test]
fn bucketing_sink_sequence_files_into_hdfs_survive_sigkill_and_hadoop_reads_them() {
    let Some(h) = hdfs() else {
        return;
    };
    for compression in ["none", "block"] {
        let root = h.dir(&format!("bucketing-{compression}"));
        let (lake, ckpt) = (format!("{root}/lake"), format!("{root}/checkpoints"));
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            format!(
                r#"
[job]
name = "bucketing-drill"
parallelism = 2

[source]
type = "generator"
splits = {SPLITS}
rate = 50000

[sink]
api = "bucketing"
path = "{lake}"
bucketer = "date-time"
date_time_format = "yyyy-MM-dd--HH-mm-ss"
writer = "sequence-file"
batch_size = "512KiB"
inactive_bucket_check_interval = "200ms"
inactive_bucket_threshold = "1s"

[sink.hdfs]
block_size = "4MiB"

[sink.sequence_file]
compression = "{compression}"
key = {{ type = "long", field = "event_id" }}
value = {{ type = "text" }}

[checkpoint]
dir = "{ckpt}"
interval = "300ms"

[checkpoint.hdfs]
block_size = "1MiB"
"#
            ),
        )
        .unwrap();
        let validate = run(&["validate", "job.toml"], dir.path());
        assert!(
            validate.status.success(),
            "{}",
            String::from_utf8_lossy(&validate.stderr)
        );
        assert!(
            String::from_utf8_lossy(&validate.stdout).contains("SequenceFileWriter"),
            "{}",
            String::from_utf8_lossy(&validate.stdout)
        );
        let checkpoint = drill(&job, dir.path(), &ckpt, 5);
        let (done, open) = h.files(&lake);
        assert!(
            open.is_empty(),
            "{compression}: unpublished files left: {open:?}"
        );
        assert!(!done.is_empty());
        let mut args = vec!["-text"];
        args.extend(done.iter().map(String::as_str));
        let mut ids = HashMap::new();
        for line in h.dfs(&args).lines() {
            // LongWritable key, Text value: the event as JSON.
            let (key, value) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("{compression}: not key<TAB>value: {line:?}"));
            let id: u64 = key.parse().unwrap();
            let v: serde_json::Value = serde_json::from_str(value)
                .unwrap_or_else(|e| panic!("{compression}: value is not an event ({e}): {line:?}"));
            assert_eq!(v["event_id"], id, "{line:?}");
            *ids.entry(id).or_default() += 1;
        }
        assert_generator_exactly_once(&ids, &checkpoint, SPLITS);
        eprintln!(
            "{compression}: {} events exactly once in {} SequenceFiles",
            ids.len(),
            done.len()
        );
    }
}
