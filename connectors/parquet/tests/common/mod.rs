//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The python with pyarrow and duckdb, from `SPILLWAY_PYTHON`. Without it the test is skipped
/// (prints `SKIPPED: ...`), unless `SPILLWAY_REQUIRE_SERVICES=1`, which makes it fail.
pub fn python_or_skip(test: &str) -> Option<PathBuf> {
    match std::env::var_os("SPILLWAY_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            let why = "SPILLWAY_PYTHON is not set (a python with pyarrow and duckdb, such as ~/.cache/spillway/venv/bin/python)";
            if std::env::var("SPILLWAY_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{test}: {why}, and SPILLWAY_REQUIRE_SERVICES=1");
            }
            println!("SKIPPED: {test}: {why}");
            None
        }
    }
}

/// Runs `script` with `args` and parses what it prints as JSON.
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every published Parquet file under `root` (readers skip names starting with `.` or `_`), as
/// (path relative to root, batches).
pub fn read_lake(root: &Path) -> Vec<(String, Vec<RecordBatch>)> {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|rel| {
            let batches = read_file(&root.join(&rel));
            (rel, batches)
        })
        .collect()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if name.ends_with(".parquet") {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().to_string());
        }
    }
}

/// The batches of one file, read with the parquet crate.
pub fn read_file(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    read_bytes(f)
}

/// The batches of a file's bytes.
pub fn read_bytes<R: parquet::file::reader::ChunkReader + 'static>(r: R) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(r)
        .unwrap()
        .with_batch_size(64 * 1024)
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Files under `root` whose name marks them in progress.
pub fn in_progress_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().contains(".inprogress.") {
                out.push(p);
            }
        }
    }
    walk(root, &mut out);
    out
}

/// Paths of every published Parquet file under `root`.
pub fn read_lake_paths(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    files.into_iter().map(|rel| root.join(rel)).collect()
}
