use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
[job]
name = "t"
[source]
type = "generator"
[sink]
path = "lake"
format = "json"
[checkpoint]
dir = "ckpt"
"#;

#[test]
fn minimal_file_and_defaults() {
    let f = JobFile::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(f.job.parallelism, 1);
    assert_eq!(f.job.on_bad_record, OnBadRecord::Fail);
    assert!(f.sink.file().unwrap().bucketing.is_none());
    let c = f.checkpoint.to_config().unwrap();
    assert_eq!(c.interval, Duration::from_secs(10));
    assert_eq!(c.retain, 3);
}

#[cfg(all(feature = "object-store", feature = "hdfs"))]
#[test]
fn part_file_keys_in_checkpoint_tables_are_errors() {
    for (table, key) in [
        ("object_store", "part_size = 8388608"),
        ("object_store", "upload_concurrency = 4"),
        ("hdfs", "replay_buffer = \"1MiB\""),
    ] {
        let text = format!("{MINIMAL}[checkpoint.{table}]\n{key}\n");
        let f = JobFile::parse(&text, "t.toml").unwrap();
        let e = f.checkpoint.to_config().unwrap_err().to_string();
        let name = key.split(' ').next().unwrap();
        assert!(
            e.contains(&format!("checkpoint.{table}.{name}")) && e.contains("[sink."),
            "{e}"
        );
    }
    let ok = format!("{MINIMAL}[checkpoint.object_store]\nregion = \"eu-west-1\"\n");
    JobFile::parse(&ok, "t.toml")
        .unwrap()
        .checkpoint
        .to_config()
        .unwrap();
}

#[test]
fn typos_are_errors_naming_the_key() {
    let cases = [
        ("[job]\nname = \"t\"\nparalelism = 2\n", "paralelism"),
        ("[source]\ntype = \"generator\"\ncuont = 5\n", "cuont"),
        ("[source]\ntype = \"genrator\"\n", "genrator"),
        ("[sink]\npath = \"x\"\nformat = \"jsn\"\n", "jsn"),
        (
            "[sink.rolling]\nmax_part_sise = \"1MiB\"\n",
            "max_part_sise",
        ),
        (
            "[sink.bucketing]\ntype = \"datetime\"\nfromat = \"x\"\n",
            "fromat",
        ),
        (
            "[checkpoint]\ndir = \"c\"\nintervall = \"1s\"\n",
            "intervall",
        ),
        ("[extra]\n", "extra"),
    ];
    for (snippet, key) in cases {
        // Put the snippet in place of its section in the minimal file.
        let section = snippet.lines().next().unwrap();
        let base: String = if MINIMAL.contains(section) {
            let start = MINIMAL.find(section).unwrap();
            let rest = &MINIMAL[start + section.len()..];
            let end = rest
                .find("\n[")
                .map_or(MINIMAL.len(), |e| start + section.len() + e + 1);
            format!("{}{}{}", &MINIMAL[..start], snippet, &MINIMAL[end..])
        } else {
            format!("{MINIMAL}{snippet}")
        };
        let err = JobFile::parse(&base, "job.toml").unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
        assert!(err.starts_with("job.toml"), "{err}");
    }
}

#[test]
fn sizes_and_durations() {
    let table = [
        ("128MiB", 128 << 20),
        ("64 MB", 64_000_000),
        ("512KiB", 512 << 10),
        ("1g", 1 << 30),
        ("4096", 4096),
        ("1.5MiB", 1_572_864),
    ];
    for (s, want) in table {
        assert_eq!(ByteSize::parse(s).unwrap().0, want, "{s}");
    }
    assert!(ByteSize::parse("12 parsecs").is_err());
    assert!(ByteSize::parse("lots").is_err());
    let d: HumanDuration = toml::from_str::<toml::Value>("d = \"1m 30s\"").unwrap()["d"]
        .clone()
        .try_into()
        .unwrap();
    assert_eq!(d.0, Duration::from_secs(90));
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct S {
        d: HumanDuration,
    }
    let e = toml::from_str::<S>("d = 60").unwrap_err().to_string();
    assert!(e.contains("has no unit"), "{e}");
}

#[test]
fn generator_settings() {
    let g = GeneratorSection {
        start: Some("2026-01-01T00:00:00Z".into()),
        step: Some(HumanDuration(Duration::from_millis(5))),
        count: Some(10),
        ..GeneratorSection::default()
    };
    let c = g.to_config().unwrap();
    assert_eq!(c.start_millis, 1_767_225_600_000);
    assert_eq!(c.count, Some(10));
    let bad = GeneratorSection {
        start: Some("yesterday".into()),
        ..GeneratorSection::default()
    };
    assert!(bad
        .to_config()
        .unwrap_err()
        .to_string()
        .starts_with("source.start"));
    let zero = GeneratorSection {
        splits: Some(0),
        ..GeneratorSection::default()
    };
    assert!(zero
        .to_config()
        .unwrap_err()
        .to_string()
        .starts_with("source.splits"));
}

// ---- one grammar for sizes and durations, in every table -------------------------------------

/// A job file with `key = {value}` in `table`, and the rest minimal. `[sink]` is replaced when the
/// key is one of it (`[sink.*]` tables are added after it).
fn job_with(table: &str, key: &str, value: &str) -> String {
    let head = "[job]\nname = \"t\"\n";
    let generator = "[source]\ntype = \"generator\"\n";
    let sink = "[sink]\npath = \"lake\"\nformat = \"json\"\n";
    let checkpoint = "[checkpoint]\ndir = \"ckpt\"\n";
    let line = format!("{key} = {value}\n");
    match table {
        "source" => format!("{head}{generator}{line}{sink}{checkpoint}"),
        "kafka" => format!(
            "{head}[source]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopics = [\"t\"]\n{line}{sink}{checkpoint}"
        ),
        "sink" => format!("{head}{generator}{sink}{line}{checkpoint}"),
        "bucketing" => format!(
            "{head}{generator}[sink]\napi = \"bucketing\"\npath = \"lake\"\n{line}{checkpoint}"
        ),
        "checkpoint" => format!("{head}{generator}{sink}{checkpoint}{line}"),
        t if t.starts_with("sink.") => format!("{head}{generator}{sink}[{t}]\n{line}{checkpoint}"),
        t => format!("{head}{generator}{sink}{checkpoint}[{t}]\n{line}"),
    }
}

/// A key of the job file and how to read its value back from the parsed file.
struct Key<T> {
    table: &'static str,
    key: &'static str,
    read: fn(&JobFile) -> T,
    /// A Flink `BucketingSink` duration: bare integers are milliseconds and "never" is `None`.
    flink: bool,
}

fn file(f: &JobFile) -> &SinkSection {
    f.sink.file().expect("the file form")
}

fn bucketing(f: &JobFile) -> &sink_core::sink::bucketing::BucketingSinkConfig {
    match &f.sink {
        SinkTable::Bucketing(b) => &b.config,
        SinkTable::File(_) => panic!("the bucketing form"),
    }
}

/// The object-store options of `[sink]` (`sink`) or `[checkpoint]`.
#[cfg(feature = "object-store")]
fn object_store(f: &JobFile, sink: bool) -> Option<&connector_object_store::ObjectStoreOptions> {
    let storage = if sink {
        f.sink.storage()
    } else {
        &f.checkpoint.storage
    };
    storage.object_store.value.object_store.as_ref()
}

/// The HDFS options of `[sink]` (`sink`) or `[checkpoint]`.
#[cfg(feature = "hdfs")]
fn hdfs(f: &JobFile, sink: bool) -> Option<&connector_hdfs::HdfsOptions> {
    let storage = if sink {
        f.sink.storage()
    } else {
        &f.checkpoint.storage
    };
    storage.hdfs.value.hdfs.as_ref()
}

/// Every table that takes a size.
fn size_keys() -> Vec<Key<Option<u64>>> {
    let key = |table, key, read| Key {
        table,
        key,
        read,
        flink: false,
    };
    vec![
        key("sink", "write_buffer_size", |f| {
            file(f).write_buffer_size.map(|b| b.0)
        }),
        key("sink", "memory_budget", |f| {
            file(f).memory_budget.map(|b| b.0)
        }),
        key("sink.rolling", "max_part_size", |f| {
            file(f).rolling.max_part_size.map(|b| b.0)
        }),
        key("bucketing", "batch_size", |f| {
            Some(bucketing(f).batch_size.0)
        }),
        #[cfg(feature = "object-store")]
        key("sink.object_store", "part_size", |f| {
            object_store(f, true)
                .and_then(|o| o.part_size)
                .map(|b| b as u64)
        }),
        #[cfg(feature = "object-store")]
        key("checkpoint.object_store", "part_size", |f| {
            object_store(f, false)
                .and_then(|o| o.part_size)
                .map(|b| b as u64)
        }),
        #[cfg(feature = "hdfs")]
        key("sink.hdfs", "block_size", |f| {
            hdfs(f, true).and_then(|h| h.block_size)
        }),
        #[cfg(feature = "hdfs")]
        key("sink.hdfs", "replay_buffer", |f| {
            hdfs(f, true).and_then(|h| h.replay_buffer)
        }),
        #[cfg(feature = "hdfs")]
        key("checkpoint.hdfs", "block_size", |f| {
            hdfs(f, false).and_then(|h| h.block_size)
        }),
        #[cfg(feature = "parquet")]
        key("sink.parquet", "data_page_size", |f| {
            let p = file(f).formats.parquet.value.parquet.as_ref();
            p.map(|p| p.data_page_size as u64)
        }),
        #[cfg(feature = "parquet")]
        key("sink.parquet", "max_row_group_bytes", |f| {
            let p = file(f).formats.parquet.value.parquet.as_ref();
            p.and_then(|p| p.max_row_group_bytes).map(|b| b as u64)
        }),
        #[cfg(feature = "sequencefile")]
        key("sink.sequence_file", "block_size", |f| {
            let s = file(f).formats.sequence_file.value.sequence_file.as_ref();
            s.map(|s| s.block_size as u64)
        }),
    ]
}

/// Every table that takes a duration.
fn duration_keys() -> Vec<Key<Option<Duration>>> {
    let key = |table, key, read| Key {
        table,
        key,
        read,
        flink: false,
    };
    let flink = |key, read| Key {
        table: "bucketing",
        key,
        read,
        flink: true,
    };
    vec![
        key("source", "step", |f| match &f.source {
            SourceSection::Generator(g) => g.step.map(|d| d.0),
            #[cfg(feature = "kafka")]
            SourceSection::Kafka(_) => panic!("the generator"),
        }),
        key("sink", "bucket_check_interval", |f| {
            file(f).bucket_check_interval.map(|d| d.0)
        }),
        key("sink.rolling", "rollover_interval", |f| {
            file(f).rolling.rollover_interval.map(|d| d.0)
        }),
        key("sink.rolling", "inactivity_interval", |f| {
            file(f).rolling.inactivity_interval.map(|d| d.0)
        }),
        key("checkpoint", "interval", |f| {
            f.checkpoint.interval.map(|d| d.0)
        }),
        key("checkpoint", "timeout", |f| {
            f.checkpoint.timeout.map(|d| d.0)
        }),
        key("checkpoint", "min_pause", |f| {
            f.checkpoint.min_pause.map(|d| d.0)
        }),
        flink("batch_rollover_interval", |f| {
            bucketing(f).batch_rollover_interval.0
        }),
        flink("inactive_bucket_check_interval", |f| {
            bucketing(f).inactive_bucket_check_interval.0
        }),
        flink("inactive_bucket_threshold", |f| {
            bucketing(f).inactive_bucket_threshold.0
        }),
        flink("async_timeout", |f| bucketing(f).async_timeout.0),
        #[cfg(feature = "object-store")]
        key("sink.object_store", "request_timeout", |f| {
            object_store(f, true).and_then(|o| o.request_timeout)
        }),
        #[cfg(feature = "object-store")]
        key("sink.object_store", "connect_timeout", |f| {
            object_store(f, true).and_then(|o| o.connect_timeout)
        }),
        #[cfg(feature = "object-store")]
        key("sink.object_store", "retry_timeout", |f| {
            object_store(f, true).and_then(|o| o.retry_timeout)
        }),
        #[cfg(feature = "object-store")]
        key("checkpoint.object_store", "operation_timeout", |f| {
            object_store(f, false).and_then(|o| o.operation_timeout)
        }),
        #[cfg(feature = "hdfs")]
        key("sink.hdfs", "retry_timeout", |f| {
            hdfs(f, true).and_then(|h| h.retry_timeout)
        }),
        #[cfg(feature = "hdfs")]
        key("checkpoint.hdfs", "connect_timeout", |f| {
            hdfs(f, false).and_then(|h| h.connect_timeout)
        }),
        #[cfg(feature = "kafka")]
        key("kafka", "discovery_interval", |f| match &f.source {
            SourceSection::Kafka(k) => Some(k.discovery_interval),
            SourceSection::Generator(_) => panic!("kafka"),
        }),
        #[cfg(feature = "kafka")]
        key("kafka", "watermark.out_of_orderness", |f| match &f.source {
            SourceSection::Kafka(k) => Some(k.watermark.out_of_orderness),
            SourceSection::Generator(_) => panic!("kafka"),
        }),
    ]
}

/// What a key gives for a value: the value, or the error's text.
fn read<T: Clone>(k: &Key<T>, value: &str) -> std::result::Result<T, String> {
    let (key, value) = match k.key.split_once('.') {
        // A key of an inline table: `watermark = { out_of_orderness = … }`.
        Some((table, inner)) => (table.to_string(), format!("{{ {inner} = {value} }}")),
        None => (k.key.to_string(), value.to_string()),
    };
    JobFile::parse(&job_with(k.table, &key, &value), "job.toml")
        .map(|f| (k.read)(&f))
        .map_err(|e| e.to_string())
}

/// Feeds every value of `table` (a TOML value, and what it reads as: `None` for refused) to every
/// key, and asserts the same verdict and value everywhere; a refusal must quote what was given
/// and say what `kind` of value is wanted.
fn same_everywhere<T: Clone + PartialEq + std::fmt::Debug>(
    keys: &[Key<Option<T>>],
    table: &[(&str, Option<T>)],
    kind: &str,
) {
    for (value, want) in table {
        for k in keys {
            let got = read(k, value);
            match (want, &got) {
                (Some(w), Ok(g)) => {
                    assert_eq!(g.as_ref(), Some(w), "{}.{} = {value}", k.table, k.key)
                }
                (None, Err(e)) => assert!(
                    e.contains(value.trim_matches('"'))
                        && (e.contains(kind) || e.contains("out of range")),
                    "{}.{} = {value}: the error says what was given and what is a {kind}: {e}",
                    k.table,
                    k.key
                ),
                _ => panic!(
                    "{}.{} = {value}: got {got:?}, want {want:?}",
                    k.table, k.key
                ),
            }
        }
    }
}

#[test]
fn every_size_takes_the_same_grammar() {
    // (TOML value, bytes or None for refused)
    let table: &[(&str, Option<u64>)] = &[
        ("4096", Some(4096)),
        ("0", Some(0)),
        ("\"4096\"", Some(4096)),
        ("\"128MiB\"", Some(128 << 20)),
        ("\"128mib\"", Some(128 << 20)),
        ("\"64 MB\"", Some(64_000_000)),
        ("\"64mb\"", Some(64_000_000)),
        ("\"64kB\"", Some(64_000)),
        ("\"1.5MiB\"", Some(1_572_864)),
        ("\"1.5 GB\"", Some(1_500_000_000)),
        ("\".5KiB\"", Some(512)),
        ("\"1g\"", Some(1 << 30)),
        ("\"1G\"", Some(1 << 30)),
        ("\"512k\"", Some(512 << 10)),
        ("\"8M\"", Some(8 << 20)),
        ("\"1t\"", Some(1 << 40)),
        ("\"1TiB\"", Some(1 << 40)),
        ("\"1TB\"", Some(1_000_000_000_000)),
        ("\"1_048_576\"", Some(1 << 20)),
        ("\" 8 MiB \"", Some(8 << 20)),
        ("\"10b\"", Some(10)),
        ("\"lots\"", None),
        ("\"12 parsecs\"", None),
        ("\"1e3\"", None),
        ("\"1 048 576\"", None),
        ("\"99999999999999TiB\"", None),
        ("\"\"", None),
        ("-1", None),
        ("1.5", None),
        ("true", None),
    ];
    same_everywhere(&size_keys(), table, "size");
}

#[test]
fn every_duration_takes_the_same_grammar() {
    let s = Duration::from_secs;
    // (TOML value, the duration or None for refused)
    let table: &[(&str, Option<Duration>)] = &[
        ("\"250ms\"", Some(Duration::from_millis(250))),
        ("\"10s\"", Some(s(10))),
        ("\" 10s \"", Some(s(10))),
        ("\"1.5s\"", Some(Duration::from_millis(1500))),
        ("\"5m\"", Some(s(300))),
        ("\"1h 30m\"", Some(s(5400))),
        ("\"1m 30s\"", Some(s(90))),
        ("\"2 days\"", Some(s(2 * 86_400))),
        ("\"0s\"", Some(s(0))),
        ("\"soon\"", None),
        ("\"10\"", None),
        ("\"-1s\"", None),
        ("\"\"", None),
        ("true", None),
        ("1.5", None),
    ];
    let keys = duration_keys();
    same_everywhere(&keys, table, "duration");
    // The one exception, Flink's BucketingSink keys: bare integers are milliseconds (as Flink's
    // setters take them) and "never" is never; everywhere else both are refused.
    for k in &keys {
        let (int, never) = (read(k, "60"), read(k, "\"never\""));
        if k.flink {
            assert_eq!(int, Ok(Some(Duration::from_millis(60))), "{}", k.key);
            assert_eq!(never, Ok(None), "{}", k.key);
        } else {
            let int = int.unwrap_err();
            assert!(
                int.contains("60 has no unit"),
                "{}.{}: {int}",
                k.table,
                k.key
            );
            let never = never.unwrap_err();
            assert!(
                never.contains("\"never\" is not a duration"),
                "{}.{}: {never}",
                k.table,
                k.key
            );
        }
    }
}
