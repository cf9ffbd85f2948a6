//! The operations endpoint (`spillway run --http 127.0.0.1:9249`):
//!
//! | path | what |
//! | --- | --- |
//! | `/metrics` | every metric in Prometheus text format |
//! | `/healthz` | 200 while the process is alive and the job has not failed, 500 after a failure |
//! | `/readyz` | 200 once the newest checkpoint is restored and the job runs; 503 before, while stopping, and after |
//! | `/api/status` | the status as JSON |
//! | `/` | a status page: plain HTML, no outside assets, refreshed every 5 s |

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use sink_core::runtime::metrics::{since_last_checkpoint_gauge, MetricGroup, SECONDS_BUCKETS};
use sink_core::runtime::JobProgress;
use sink_core::{Error, Result};

use crate::report::human_bytes;

/// Samples kept for the throughput chart (every 2 s: ten minutes).
const HISTORY: usize = 300;
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// What the endpoint serves; the job's counters arrive once the job is built.
pub struct HttpState {
    prometheus: PrometheusHandle,
    progress: OnceLock<Arc<JobProgress>>,
    history: Mutex<VecDeque<(i64, u64, u64)>>,
}

impl HttpState {
    /// Hands the running job's counters to the endpoint.
    pub fn attach(&self, progress: Arc<JobProgress>) {
        let _ = self.progress.set(progress);
    }
}

/// Installs the Prometheus recorder (once per process) and serves the endpoint on `addr`.
/// Returns the state to attach the job to and the bound address (useful with port 0).
pub async fn serve(addr: SocketAddr) -> Result<(Arc<HttpState>, SocketAddr)> {
    let prometheus = PrometheusBuilder::new()
        .set_buckets(SECONDS_BUCKETS)
        .map_err(|e| Error::Internal(format!("prometheus buckets: {e}")))?
        .install_recorder()
        .map_err(|e| Error::Internal(format!("cannot install the metrics recorder: {e}")))?;
    let state = Arc::new(HttpState {
        prometheus,
        progress: OnceLock::new(),
        history: Mutex::new(VecDeque::with_capacity(HISTORY)),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io("listen on", addr, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io("listen on", addr, e))?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/status", get(status_json))
        .route("/", get(status_page))
        .with_state(Arc::clone(&state));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the HTTP endpoint stopped");
        }
    });
    let sampler = Arc::clone(&state);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        loop {
            every.tick().await;
            if let Some(p) = sampler.progress.get() {
                let now = chrono::Utc::now().timestamp_millis();
                let sample = (
                    now,
                    p.records_in.load(Ordering::Relaxed),
                    p.bytes_committed.load(Ordering::Relaxed),
                );
                if let Ok(mut h) = sampler.history.lock() {
                    h.push_back(sample);
                    while h.len() > HISTORY {
                        h.pop_front();
                    }
                }
            }
        }
    });
    tracing::info!("serving /metrics, /healthz, /readyz and the status page on http://{bound}/");
    Ok((state, bound))
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    if let Some(p) = s.progress.get() {
        let last = p.last_checkpoint_time.load(Ordering::Relaxed) as i64;
        if last > 0 {
            let info = p.info.lock().map(|i| i.clone()).unwrap_or_default();
            let group =
                MetricGroup::new([("job_name", info.name), ("worker", info.worker.to_string())]);
            let since = (chrono::Utc::now().timestamp_millis() - last).max(0) as f64 / 1000.0;
            since_last_checkpoint_gauge(&group).set(since);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.prometheus.render(),
    )
        .into_response()
}

fn failure(s: &HttpState) -> Option<String> {
    s.progress
        .get()
        .and_then(|p| p.failure.lock().ok().and_then(|f| f.clone()))
}

async fn healthz(State(s): State<Arc<HttpState>>) -> Response {
    match failure(&s) {
        Some(f) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed: {f}\n")).into_response(),
        None => (StatusCode::OK, "ok\n").into_response(),
    }
}

/// The job's state in one word.
fn state_of(s: &HttpState) -> &'static str {
    match s.progress.get() {
        None => "starting",
        Some(p) => {
            if failure(s).is_some() {
                "failed"
            } else if p.finished.load(Ordering::Acquire) {
                "finished"
            } else if p.stopping.load(Ordering::Relaxed) {
                "stopping"
            } else if p.ready.load(Ordering::Acquire) {
                "running"
            } else {
                "restoring"
            }
        }
    }
}

async fn readyz(State(s): State<Arc<HttpState>>) -> Response {
    match state_of(&s) {
        "running" => (StatusCode::OK, "ready\n").into_response(),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {other}\n"),
        )
            .into_response(),
    }
}

/// The status, as `/api/status` serves it.
#[derive(Serialize, Default)]
pub struct Status {
    /// `starting`, `restoring`, `running`, `stopping`, `finished` or `failed`.
    pub state: String,
    /// The job.
    pub job: String,
    /// Its run id.
    pub run: String,
    /// This worker and the number of workers.
    pub worker: usize,
    /// Workers.
    pub workers: usize,
    /// Subtasks.
    pub parallelism: usize,
    /// The checkpoint it restored.
    pub restored_from: Option<u64>,
    /// Seconds since the job started.
    pub uptime_seconds: f64,
    /// Records read.
    pub records_in: u64,
    /// Records written.
    pub records_out: u64,
    /// Bad records.
    pub bad_records: u64,
    /// Part files published.
    pub files_committed: u64,
    /// Bytes published.
    pub bytes_committed: u64,
    /// Records per second over the last minute.
    pub records_per_second: f64,
    /// Throughput samples: `[ms, records_in, bytes]`.
    pub history: Vec<(i64, u64, u64)>,
    /// The last checkpoints.
    pub checkpoints: Vec<CheckpointRow>,
    /// The busiest open parts.
    pub busiest_buckets: Vec<BucketRow>,
    /// Source lag per split.
    pub lags: Vec<(String, i64)>,
    /// Watermark lag per subtask, seconds.
    pub watermark_lag_seconds: Vec<Option<f64>>,
    /// Why it failed.
    pub failure: Option<String>,
}

/// A checkpoint row.
#[derive(Serialize)]
pub struct CheckpointRow {
    /// Id.
    pub id: u64,
    /// RFC 3339.
    pub time: String,
    /// Milliseconds.
    pub duration_ms: u64,
    /// Bytes.
    pub size: u64,
    /// Final?
    pub final_checkpoint: bool,
    /// Failure, if any.
    pub failure: Option<String>,
}

/// A busy bucket.
#[derive(Serialize)]
pub struct BucketRow {
    /// The bucket.
    pub bucket: String,
    /// Bytes open.
    pub bytes: u64,
    /// Records open.
    pub records: u64,
}

fn status(s: &HttpState) -> Status {
    let mut st = Status {
        state: state_of(s).to_string(),
        history: s
            .history
            .lock()
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default(),
        failure: failure(s),
        ..Status::default()
    };
    let Some(p) = s.progress.get() else {
        return st;
    };
    let now = chrono::Utc::now().timestamp_millis();
    if let Ok(info) = p.info.lock() {
        st.job = info.name.clone();
        st.run = info.run.clone();
        st.worker = info.worker;
        st.workers = info.workers;
        st.parallelism = info.parallelism;
        st.restored_from = info.restored_from;
        if info.started_at > 0 {
            st.uptime_seconds = (now - info.started_at).max(0) as f64 / 1000.0;
        }
    }
    st.records_in = p.records_in.load(Ordering::Relaxed);
    st.records_out = p.records_out.load(Ordering::Relaxed);
    st.bad_records = p.bad_records.load(Ordering::Relaxed);
    st.files_committed = p.files_committed.load(Ordering::Relaxed);
    st.bytes_committed = p.bytes_committed.load(Ordering::Relaxed);
    // Rate over the last minute of samples.
    if let (Some(first), Some(last)) = (
        st.history
            .iter()
            .rev()
            .find(|h| st.history.last().is_some_and(|l| l.0 - h.0 >= 60_000))
            .or(st.history.first()),
        st.history.last(),
    ) {
        let secs = (last.0 - first.0) as f64 / 1000.0;
        if secs > 0.0 {
            st.records_per_second = (last.1 - first.1) as f64 / secs;
        }
    }
    st.checkpoints = p
        .checkpoints()
        .into_iter()
        .rev()
        .take(10)
        .map(|c| CheckpointRow {
            id: c.id,
            time: chrono::DateTime::from_timestamp_millis(c.timestamp)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            duration_ms: c.duration_ms,
            size: c.size,
            final_checkpoint: c.final_checkpoint,
            failure: c.failure,
        })
        .collect();
    st.busiest_buckets = p
        .busiest(10)
        .into_iter()
        .map(|b| BucketRow {
            bucket: b.bucket,
            bytes: b.bytes,
            records: b.records,
        })
        .collect();
    st.lags = p
        .source_lags
        .lock()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    st.watermark_lag_seconds = p
        .watermarks
        .lock()
        .map(|w| {
            w.iter()
                .map(|w| w.map(|w| (now - w) as f64 / 1000.0))
                .collect()
        })
        .unwrap_or_default();
    st
}

async fn status_json(State(s): State<Arc<HttpState>>) -> Json<Status> {
    Json(status(&s))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn sparkline(history: &[(i64, u64, u64)]) -> String {
    // Records per second between consecutive samples.
    let rates: Vec<f64> = history
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).max(1) as f64 / 1000.0;
            (w[1].1.saturating_sub(w[0].1)) as f64 / dt
        })
        .collect();
    let (w, h) = (600.0, 80.0);
    // One sample draws a flat line rather than nothing.
    let rates = if rates.len() == 1 {
        vec![rates[0], rates[0]]
    } else {
        rates
    };
    if rates.is_empty() {
        return format!(
            "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"throughput\"><text x=\"8\" y=\"44\" fill=\"#888\">collecting samples…</text></svg>"
        );
    }
    let max = rates.iter().cloned().fold(1.0, f64::max);
    let step = w / (HISTORY as f64 - 1.0);
    let mut points = String::new();
    for (i, r) in rates.iter().enumerate() {
        let x = w - (rates.len() - 1 - i) as f64 * step;
        let y = h - 4.0 - (r / max) * (h - 8.0);
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    format!(
        "<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"throughput over the last minutes\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#f6f8fa\"/>\
         <polyline points=\"{points}\" fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2\"/>\
         <text x=\"6\" y=\"14\" font-size=\"11\" fill=\"#555\">peak {max:.0} records/s</text></svg>"
    )
}

async fn status_page(State(s): State<Arc<HttpState>>) -> Html<String> {
    let st = status(&s);
    let mut html = String::new();
    let state_color = match st.state.as_str() {
        "running" => "#15803d",
        "failed" => "#b91c1c",
        "finished" => "#475569",
        _ => "#b45309",
    };
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Spillway: {job}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 24px 0 8px; }}
.state {{ display: inline-block; padding: 2px 8px; border-radius: 4px; color: white; background: {state_color}; }}
.figures {{ display: flex; gap: 28px; flex-wrap: wrap; margin-top: 12px; }}
.figure b {{ display: block; font-size: 22px; }} .figure span {{ color: #555; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 10px; border-bottom: 1px solid #e5e7eb; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} .muted {{ color: #666; }}
</style></head><body>
<h1>Spillway · <span id="job">{job}</span> <span class="state" id="state">{state}</span></h1>
<div class="muted">run {run} · worker {worker} of {workers} · parallelism {par} · up {uptime:.0} s{restored}</div>
<div class="figures">
<div class="figure"><b id="records-in">{rin}</b><span>records read</span></div>
<div class="figure"><b id="records-out">{rout}</b><span>records written</span></div>
<div class="figure"><b id="rate">{rate:.0}</b><span>records/s (last minute)</span></div>
<div class="figure"><b id="files">{files}</b><span>files published ({bytes})</span></div>
<div class="figure"><b id="bad">{bad}</b><span>bad records</span></div>
</div>
<h2>Throughput, last minutes</h2>{spark}
"#,
        job = esc(&st.job),
        state = st.state,
        run = esc(&st.run),
        worker = st.worker,
        workers = st.workers,
        par = st.parallelism,
        uptime = st.uptime_seconds,
        restored = st
            .restored_from
            .map(|id| format!(" · restored from checkpoint {id}"))
            .unwrap_or_default(),
        rin = st.records_in,
        rout = st.records_out,
        rate = st.records_per_second,
        files = st.files_committed,
        bytes = human_bytes(st.bytes_committed),
        bad = st.bad_records,
        spark = sparkline(&st.history),
    );
    if let Some(f) = &st.failure {
        let _ = write!(html, "<h2>Failure</h2><pre>{}</pre>", esc(f));
    }
    html.push_str("<h2>Last checkpoints</h2><table id=\"checkpoints\"><tr><th>id</th><th>taken</th><th>took</th><th>size</th><th></th></tr>");
    for c in &st.checkpoints {
        let _ = write!(
            html,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{} ms</td><td class=\"n\">{}</td><td>{}</td></tr>",
            c.id,
            c.time,
            c.duration_ms,
            human_bytes(c.size),
            match (&c.failure, c.final_checkpoint) {
                (Some(f), _) => format!("failed: {}", esc(f)),
                (None, true) => "final".into(),
                (None, false) => String::new(),
            }
        );
    }
    if st.checkpoints.is_empty() {
        html.push_str("<tr><td colspan=\"5\" class=\"muted\">none yet</td></tr>");
    }
    html.push_str("</table><h2>Busiest buckets (open parts)</h2><table id=\"buckets\"><tr><th>bucket</th><th>bytes</th><th>records</th></tr>");
    for b in &st.busiest_buckets {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&b.bucket),
            human_bytes(b.bytes),
            b.records
        );
    }
    if st.busiest_buckets.is_empty() {
        html.push_str("<tr><td colspan=\"3\" class=\"muted\">no open part</td></tr>");
    }
    html.push_str("</table><h2>Lag</h2><table id=\"lag\"><tr><th>source split</th><th>records behind</th></tr>");
    for (split, lag) in &st.lags {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"n\">{lag}</td></tr>",
            esc(split)
        );
    }
    for (i, w) in st.watermark_lag_seconds.iter().enumerate() {
        if let Some(w) = w {
            let _ = write!(
                html,
                "<tr><td>watermark of subtask {i}</td><td class=\"n\">{w:.1} s behind</td></tr>"
            );
        }
    }
    html.push_str("</table><p class=\"muted\">Metrics: <a href=\"/metrics\">/metrics</a> · <a href=\"/api/status\">/api/status</a> · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></p></body></html>");
    Html(html)
}
