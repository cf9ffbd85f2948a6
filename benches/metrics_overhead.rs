//! The cost of metrics: the quickstart pipeline (generator -> JSON lines, event-hour buckets,
//! parallelism 2) run by the real `spillway` binary, with `--http` (Prometheus recorder, endpoint,
//! and a scrape of /metrics every second) and without, alternately, several times. Prints the
//! medians and the ratio; the target is a ratio of at least 0.97.
//!
//! `cargo bench --bench metrics_overhead` (`SPILLWAY_BENCH_EVENTS`, `SPILLWAY_BENCH_ROUNDS`).

use sink_core::test_support::median;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn job(events: u64) -> String {
    format!(
        r#"
[job]
name = "overhead"
parallelism = 2

[source]
type = "generator"
count = {events}
splits = 4
step = "{step_ms}ms"

[sink]
path = "lake"
format = "json"

[sink.bucketing]
type = "datetime"
time = "event"

[checkpoint]
dir = "checkpoints"
interval = "2s"
"#,
        step_ms = (86_400_000 / events).max(1)
    )
}

fn scrape(port: u16) -> usize {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.len()
}

/// One run of the binary; returns seconds.
fn run(events: u64, http: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), job(events)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spillway"));
    cmd.args(["run", "job.toml", "--no-progress"])
        .env("SPILLWAY_LOG", "warn")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if http {
        cmd.args(["--http", &format!("127.0.0.1:{port}")]);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let scraper = http.then(|| {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut scraped = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1000));
                scraped += usize::from(scrape(port) > 0);
            }
            scraped
        })
    });
    let status = child.wait().unwrap();
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Some(s) = scraper {
        let _ = s.join();
    }
    assert!(status.success());
    secs
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = env(
        "SPILLWAY_BENCH_EVENTS",
        if quick { 100_000 } else { 6_000_000 },
    );
    let rounds = env("SPILLWAY_BENCH_ROUNDS", if quick { 1 } else { 5 }) as usize;
    println!(
        "quickstart pipeline, {events} events, parallelism 2: metrics and HTTP endpoint on vs off"
    );
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (a, b) = if round % 2 == 1 {
            let b = run(events, false);
            (run(events, true), b)
        } else {
            let a = run(events, true);
            (a, run(events, false))
        };
        let (ra, rb) = (events as f64 / a, events as f64 / b);
        println!(
            "round {round}: with metrics {ra:>10.0} rec/s   without {rb:>10.0} rec/s   ratio {:.3}",
            ra / rb
        );
        on.push(ra);
        off.push(rb);
        ratios.push(ra / rb);
    }
    println!(
        "median: with metrics {:.0} rec/s, without {:.0} rec/s, ratio {:.3} (target >= 0.97)",
        median(&on),
        median(&off),
        median(&ratios)
    );
}
