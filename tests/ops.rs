//! Operations: the HTTP endpoint of a real `spillway run --http`: metrics checked against what the
//! run did and parsed by an independent Prometheus parser, the status page rendered by a real
//! headless browser, and readiness that waits for the restore.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET a path; `None` when nothing listens yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Samples of a Prometheus text exposition: `name{labels}` -> value. Checks the line syntax too.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "unclosed labels in {line:?}");
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        out.insert(key.to_string(), v);
    }
    out
}

/// The sum of a metric over all its label sets (optionally only those containing `with`).
fn sum(samples: &BTreeMap<String, f64>, name: &str, with: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| {
            (k.starts_with(&format!("{name}{{")) || k.as_str() == name) && k.contains(with)
        })
        .map(|(_, v)| v)
        .sum()
}

const JOB: &str = r#"
[job]
name = "ops"
parallelism = 2

[source]
type = "generator"
count = 60000
rate = 40000
step = "1s"

[sink]
path = "lake"
format = "json"

[sink.bucketing]
type = "datetime"
time = "event"

[checkpoint]
dir = "ckpt"
interval = "300ms"
"#;

fn wait_for_state(port: u16, want: &str, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Some((200, body)) = get(port, "/api/status") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["state"] == want {
                return v;
            }
        }
        assert!(
            start.elapsed() < limit,
            "state {want:?} not reached in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finished_files(lake: &Path) -> (u64, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for f in files(lake) {
        if !f.file_name().unwrap().to_string_lossy().starts_with('.') {
            n += 1;
            bytes += std::fs::metadata(&f).unwrap().len();
        }
    }
    (n, bytes)
}

#[test]
fn metrics_match_what_the_run_did_and_parse_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), JOB).unwrap();
    let port = free_port();
    let child = start(
        &dir.path().join("job.toml"),
        dir.path(),
        &[
            "--http",
            &format!("127.0.0.1:{port}"),
            "--http-linger",
            "60s",
        ],
    );
    // Mid-run: the counters move.
    let running = wait_for_state(port, "running", Duration::from_secs(30));
    assert_eq!(running["job"], "ops");
    std::thread::sleep(Duration::from_millis(500));
    let (status, mid) = get(port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let mid = parse_prometheus(&mid);
    let mid_in = sum(&mid, "spillway_records_in_total", "");
    assert!(
        mid_in > 0.0 && mid_in < 60_000.0,
        "mid-run records_in {mid_in}"
    );

    // After the end: the final figures.
    wait_for_state(port, "finished", Duration::from_secs(60));
    let (_, text) = get(port, "/metrics").expect("metrics");
    let m = parse_prometheus(&text);
    assert_eq!(sum(&m, "spillway_records_in_total", ""), 60_000.0);
    assert_eq!(sum(&m, "spillway_records_out_total", ""), 60_000.0);
    assert_eq!(sum(&m, "spillway_bad_records_total", ""), 0.0);
    let (files, bytes) = finished_files(&dir.path().join("lake"));
    assert_eq!(
        sum(&m, "spillway_part_files_committed_total", "") as u64,
        files
    );
    assert_eq!(sum(&m, "spillway_bytes_written_total", "") as u64, bytes);
    let newest = files_in(&dir.path().join("ckpt"))
        .iter()
        .filter_map(|n| {
            n.strip_prefix("chk-")?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap();
    assert_eq!(sum(&m, "spillway_last_checkpoint_id", "") as u64, newest);
    assert_eq!(
        sum(&m, "spillway_checkpoints_total", "status=\"completed\"") as u64,
        newest
    );
    assert_eq!(
        sum(&m, "spillway_checkpoints_total", "status=\"failed\""),
        0.0
    );
    assert_eq!(
        sum(&m, "spillway_open_parts", ""),
        0.0,
        "everything published"
    );
    assert_eq!(sum(&m, "spillway_job_running", ""), 0.0);
    assert!(m
        .keys()
        .any(|k| k.starts_with("spillway_checkpoint_duration_seconds_bucket{")));
    assert!(m
        .keys()
        .any(|k| k.starts_with("spillway_commit_lag_seconds_count{")));
    assert!(sum(&m, "spillway_seconds_since_last_checkpoint", "") >= 0.0);
    for key in m
        .keys()
        .filter(|k| k.starts_with("spillway_records_in_total{"))
    {
        assert!(
            key.contains("job_name=\"ops\"")
                && key.contains("worker=\"0\"")
                && key.contains("subtask=\""),
            "{key}"
        );
    }

    // An independent parser: the Python Prometheus client's.
    if let Some(python) =
        sink_core::test_support::service("SPILLWAY_PYTHON", "Python with prometheus_client")
    {
        let mut p = std::process::Command::new(python)
            .args([
                "-c",
                "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as parse\n\
                 fams = {f.name: f for f in parse(sys.stdin.read())}\n\
                 total = sum(s.value for s in fams['spillway_records_in'].samples if s.name == 'spillway_records_in_total')\n\
                 print(len(fams), int(total))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client could not parse /metrics: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        let mut it = said.split_whitespace();
        let families: usize = it.next().unwrap().parse().unwrap();
        assert!(families >= 15, "{said}");
        assert_eq!(it.next(), Some("60000"), "{said}");
    }
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn status_page_renders_in_a_headless_browser() {
    let Some(chromium) = sink_core::test_support::service("SPILLWAY_CHROMIUM", "Chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), JOB).unwrap();
    let port = free_port();
    let child = start(
        &dir.path().join("job.toml"),
        dir.path(),
        &[
            "--http",
            &format!("127.0.0.1:{port}"),
            "--http-linger",
            "60s",
        ],
    );
    let status = wait_for_state(port, "finished", Duration::from_secs(60));
    let url = format!("http://127.0.0.1:{port}/");
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.path().join("status.png");
    let browser = |extra: &[&str]| {
        std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs")
    };
    let dom = browser(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let files = status["files_committed"].as_u64().unwrap();
    for want in [
        "<span id=\"job\">ops</span>".to_string(),
        "<span class=\"state\" id=\"state\">finished</span>".to_string(),
        "<b id=\"records-in\">60000</b>".to_string(),
        "<b id=\"records-out\">60000</b>".to_string(),
        format!("<b id=\"files\">{files}</b>"),
        "Last checkpoints".to_string(),
        "final".to_string(),
    ] {
        assert!(
            dom.contains(&want),
            "the rendered page lacks {want:?}:\n{dom}"
        );
    }
    let out = browser(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,900",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 900));
    // A blank page of this size compresses to a few KiB; text, tables and a chart do not.
    assert!(
        png.len() > 20_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("SPILLWAY_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    signal(&child, libc::SIGTERM);
    wait_for(child, Duration::from_secs(20));
}

#[test]
fn readiness_waits_for_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let job = JOB.replace("count = 60000\n", "");
    std::fs::write(dir.path().join("job.toml"), &job).unwrap();
    // A first run fixes the run id; then make the restore slow: in-progress files of this run that
    // no checkpoint references, which the restore must delete before the job may be ready.
    let first = start(&dir.path().join("job.toml"), dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(800));
    signal(&first, libc::SIGTERM);
    assert!(wait_for(first, Duration::from_secs(20)).status.success());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ckpt/job.json")).unwrap()).unwrap();
    let run = meta["run"].as_str().unwrap();
    let orphans = dir.path().join("lake/orphans");
    std::fs::create_dir_all(&orphans).unwrap();
    for i in 0..40_000 {
        std::fs::write(
            orphans.join(format!(
                ".part-{run}-0-{}.json.inprogress.x{i}",
                100_000 + i
            )),
            b"x",
        )
        .unwrap();
    }
    let port = free_port();
    let child = start(
        &dir.path().join("job.toml"),
        dir.path(),
        &["--http", &format!("127.0.0.1:{port}")],
    );
    let start_t = Instant::now();
    let mut seen = Vec::new();
    loop {
        match get(port, "/readyz") {
            None => {}
            Some((code, body)) => {
                if seen.last().map(|(c, _): &(u16, String)| *c) != Some(code) {
                    seen.push((code, body.trim().to_string()));
                }
                if code == 200 {
                    break;
                }
                if code == 503 {
                    let (h, _) = get(port, "/healthz").unwrap();
                    assert_eq!(h, 200, "alive while restoring");
                }
            }
        }
        assert!(
            start_t.elapsed() < Duration::from_secs(60),
            "never ready: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        seen.first()
            .is_some_and(|(c, b)| *c == 503 && b.starts_with("not ready")),
        "not ready first, then ready: {seen:?}"
    );
    assert_eq!(seen.last().unwrap().0, 200);
    let left = files_in(&orphans).len();
    assert_eq!(left, 0, "ready only after the orphans are gone");
    signal(&child, libc::SIGTERM);
    let out = wait_for(child, Duration::from_secs(20));
    assert!(out.status.success());
    // Once stopped, it no longer answers ready.
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        JOB.replace("rate = 40000\n", ""),
    )
    .unwrap();
    for _ in 0..2 {
        let out = spillway()
            .env("SPILLWAY_LOG", "info")
            .args([
                "--log-format",
                "json",
                "run",
                "job.toml",
                "--no-progress",
                "--http",
                "127.0.0.1:0",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(!lines.is_empty(), "expected log lines");
        for line in lines {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(
                v["level"].is_string() && v["fields"].is_object() && v["timestamp"].is_string(),
                "{line}"
            );
        }
        assert!(stderr.contains("serving /metrics"), "{stderr}");
    }
}

#[test]
fn bounded_runs_show_a_progress_bar_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), JOB).unwrap();
    // `script` gives the command a pseudo-terminal, as a user's shell would.
    let cmd = format!("{} run job.toml", env!("CARGO_BIN_EXE_spillway"));
    let out = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("SPILLWAY_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("/60,000 records") || text.contains("/60000 records"),
        "no progress bar:\n{text}"
    );
    assert!(text.contains("eta"), "{text}");
    assert!(text.contains("job ops: input ended"), "{text}");
    // Without a terminal: no bar.
    let plain = run(&["run", "job.toml"], dir.path());
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("eta"));
}
