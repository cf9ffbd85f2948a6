//! Helpers shared by the end-to-end tests: running the real `spillway` binary and reading a lake
//! back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `spillway` binary built for these tests.
pub fn spillway() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spillway"));
    c.env("SPILLWAY_LOG", "warn");
    c
}

/// Runs `spillway ARGS` to completion.
pub fn run(args: &[&str], dir: &Path) -> Output {
    spillway()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spillway runs")
}

/// Starts `spillway run JOB` in the background.
pub fn start(job: &Path, dir: &Path, extra: &[&str]) -> Child {
    spillway()
        .arg("run")
        .arg(job)
        .arg("--no-progress")
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spillway starts")
}

/// Sends a signal to a child.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a pid we own.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits for a child with a deadline; kills it and fails if it takes longer.
pub fn wait_for(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "spillway did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// How many times each `event_id` appears in the finished JSON-lines files under `dir`, and the
/// names of hidden (in-progress) files left.
pub fn read_json_lake(dir: &Path) -> (HashMap<u64, u32>, Vec<PathBuf>) {
    let mut ids = HashMap::new();
    let mut hidden = Vec::new();
    for f in files(dir) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            hidden.push(f);
            continue;
        }
        if f.to_string_lossy().contains("_dead_letter") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}: {line:?}", f.display(), n + 1));
            *ids.entry(v["event_id"].as_u64().expect("event_id"))
                .or_default() += 1;
        }
    }
    (ids, hidden)
}

/// The newest checkpoint of a directory, as JSON, read by the CLI.
pub fn latest_checkpoint(ckpt_dir: &Path, cwd: &Path) -> serde_json::Value {
    let out = run(
        &[
            "checkpoints",
            ckpt_dir.to_str().unwrap(),
            "--show",
            "latest",
            "--json",
        ],
        cwd,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("checkpoint JSON")
}

/// A small, seedable random number generator (xorshift), so a failing drill can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `SPILLWAY_TEST_SEED` or the clock; prints the seed.
    pub fn from_env() -> Self {
        let seed = std::env::var("SPILLWAY_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("random seed: {seed} (replay with SPILLWAY_TEST_SEED={seed})");
        Rng(seed | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// The crash drill: starts `job` in `dir` and kills it with SIGKILL `kills` times, each a random
/// time in `kill_after_ms` after its start (so from before the first checkpoint to several in),
/// then runs it once more for `last_run` and stops it with SIGTERM, which must stop it cleanly.
/// Returns that last run's output.
pub fn sigkill_drill(
    job: &Path,
    dir: &Path,
    kills: usize,
    kill_after_ms: (u64, u64),
    last_run: Duration,
) -> Output {
    let mut rng = Rng::from_env();
    for i in 0..kills {
        let child = start(job, dir, &[]);
        std::thread::sleep(Duration::from_millis(
            rng.range(kill_after_ms.0, kill_after_ms.1),
        ));
        signal(&child, libc::SIGKILL);
        let out = wait_for(child, Duration::from_secs(20));
        assert!(
            !out.status.success(),
            "kill {i}: the job ended by itself: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let child = start(job, dir, &[]);
    std::thread::sleep(last_run);
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("stopped cleanly"),
        "SIGTERM must stop cleanly: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every event of every generator split up to the split's position in `checkpoint` exactly once
/// in `ids` (how often each `event_id` was read back), and nothing beyond. Returns the count.
pub fn assert_generator_exactly_once(
    ids: &HashMap<u64, u32>,
    checkpoint: &serde_json::Value,
    splits: u64,
) -> u64 {
    let mut expected = 0;
    for split in 0..splits {
        let pos = checkpoint["sources"][format!("gen-{split}")]
            .as_u64()
            .expect("position of every split");
        assert!(pos > 0, "split {split} made progress");
        expected += pos;
        for seq in 0..pos {
            let id = seq * splits + split;
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
    expected
}
