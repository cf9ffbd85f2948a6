//! `format = "sequence-file"` through the real `spillway` binary, read back by Hadoop's own Java
//! reader (`hdfs dfs -text`).
#![cfg(feature = "sequencefile")]

mod common;

use std::collections::HashMap;

use common::*;

fn job(compression: &str, codec: &str) -> String {
    format!(
        r#"
[job]
name = "seq"
parallelism = 2

[source]
type = "generator"
count = 20000
step = "1s"

[sink]
path = "lake"
format = "sequence-file"

[sink.bucketing]
type = "datetime"
time = "event"

[sink.sequence_file]
compression = "{compression}"
codec = "{codec}"
key = {{ type = "long", field = "event_id" }}
value = {{ type = "text" }}

[checkpoint]
dir = "ckpt"
interval = "200ms"
"#
    )
}

#[test]
fn sequence_files_from_the_cli_read_by_hadoop() {
    let Some(hdfs) = sink_core::test_support::service("SPILLWAY_HADOOP_HDFS", "Hadoop's shell")
    else {
        return;
    };
    for (compression, codec) in [
        ("none", "default"),
        ("record", "gzip"),
        ("block", "default"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("job.toml"), job(compression, codec)).unwrap();
        let out = run(&["run", "job.toml", "--no-progress"], dir.path());
        assert!(
            out.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files: Vec<String> = files(&dir.path().join("lake"))
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    !name.starts_with('.'),
                    "{compression}: in-progress file left: {name}"
                );
                assert!(name.ends_with(".seq"), "{name}");
                format!("file://{}", p.display())
            })
            .collect();
        let text = std::process::Command::new(&hdfs)
            .args(["dfs", "-text"])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            text.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&text.stderr)
        );
        let mut seen: HashMap<u64, u32> = HashMap::new();
        for line in String::from_utf8_lossy(&text.stdout).lines() {
            let (key, value) = line.split_once('\t').expect("key<TAB>value");
            let id: u64 = key.parse().unwrap();
            let event: serde_json::Value = serde_json::from_str(value).unwrap();
            assert_eq!(
                event["event_id"].as_u64(),
                Some(id),
                "the key is the value's event_id"
            );
            *seen.entry(id).or_default() += 1;
        }
        assert_eq!(seen.len(), 20_000, "{compression}/{codec}");
        assert!(
            seen.values().all(|n| *n == 1),
            "{compression}/{codec}: duplicates"
        );
    }
}
