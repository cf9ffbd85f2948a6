//! What the CLI shows: a progress bar (or periodic log lines when not on a terminal), the summary
//! at the end, and the contents of checkpoints.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sink_core::runtime::{
    Checkpoint, CheckpointManager, DynCheckpointStore, JobProgress, JobSummary, JOB_META,
};
use sink_core::sink::FileSinkState;
use sink_core::Result;

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Log output that goes around the progress bar, if one is shown.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_finished() => {
                bar.suspend(|| std::io::stderr().write_all(buf))?;
                Ok(buf.len())
            }
            _ => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

/// Byte counts as `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Shows progress until the job finishes: a bar on a terminal, a log line every 10 s otherwise.
pub fn spawn_progress(progress: Arc<JobProgress>, show_bar: bool) -> tokio::task::JoinHandle<()> {
    let interactive = show_bar && std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let started = Instant::now();
        let expected = progress.expected_records.load(Ordering::Relaxed);
        let bar = if interactive {
            let bar = if expected > 0 {
                let b = ProgressBar::new(expected);
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {human_pos}/{human_len} records (eta {eta}) {msg}",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                b
            } else {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {human_pos} records ({per_sec}) {msg}",
                    )
                    .expect("template"),
                );
                b
            };
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
            let _ = BAR.set(bar.clone());
            Some(bar)
        } else {
            None
        };
        let mut last_log = Instant::now();
        loop {
            let done = progress.finished.load(Ordering::Acquire);
            let records = progress.records_in.load(Ordering::Relaxed);
            let rate = records as f64 / started.elapsed().as_secs_f64().max(0.001);
            let msg = format!(
                "· {:.0} records/s · {} files · {} · {} checkpoints{}",
                rate,
                progress.files_committed.load(Ordering::Relaxed),
                human_bytes(progress.bytes_committed.load(Ordering::Relaxed)),
                progress.checkpoints_completed.load(Ordering::Relaxed),
                if progress.stopping.load(Ordering::Relaxed) {
                    " · stopping"
                } else {
                    ""
                }
            );
            if let Some(b) = &bar {
                b.set_position(records);
                b.set_message(msg);
                if done {
                    b.finish_and_clear();
                    return;
                }
            } else {
                if done {
                    return;
                }
                if last_log.elapsed() >= Duration::from_secs(10) {
                    last_log = Instant::now();
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    tracing::info!(
                        records,
                        records_per_s = (records as f64 / secs) as u64,
                        "progress {msg}"
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// The summary printed when a job ends.
pub fn summary(job: &str, s: &JobSummary, path: &str) -> String {
    let secs = s.elapsed.as_secs_f64().max(0.000_001);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "job {job}: {} after {:.2} s",
        if s.input_ended {
            "input ended, everything committed"
        } else {
            "stopped cleanly, everything committed"
        },
        secs
    );
    let _ = writeln!(
        out,
        "  records      {} read, {} written, {} bad",
        s.records_in, s.records_out, s.bad_records
    );
    let _ = writeln!(
        out,
        "  output       {} files, {} in {} buckets under {path}",
        s.files_committed,
        human_bytes(s.bytes_committed),
        s.buckets
    );
    let _ = writeln!(
        out,
        "  throughput   {:.0} records/s",
        s.records_out as f64 / secs
    );
    let restored = match s.restored_from {
        Some(id) => format!(", restored from #{id}"),
        None => String::new(),
    };
    let last = match s.last_checkpoint {
        Some(id) => format!(" (last #{id})"),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "  checkpoints  {} taken{last}{restored}",
        s.checkpoints
    );
    if s.restored_from.is_some() {
        let _ = writeln!(
            out,
            "  all runs     {} read, {} written, {} bad",
            s.totals.records_in, s.totals.records_out, s.totals.bad_records
        );
    }
    out
}

fn sink_states(c: &Checkpoint) -> Vec<Option<FileSinkState>> {
    c.sinks
        .iter()
        .map(|v| FileSinkState::from_json(v.clone(), "").ok())
        .collect()
}

/// `spillway checkpoints DIR`: a table of the complete checkpoints.
pub async fn list_checkpoints(store: DynCheckpointStore) -> Result<String> {
    let m = CheckpointManager::new(store.clone(), usize::MAX);
    let mut out = String::new();
    match store.get(JOB_META).await? {
        Some(meta) => {
            let v: serde_json::Value = serde_json::from_slice(&meta).unwrap_or_default();
            let _ = writeln!(
                out,
                "checkpoints in {store}: job {}, run {}, worker {} of {}, created {}",
                v["job"], v["run"], v["worker"], v["workers"], v["created"]
            );
        }
        None => {
            let _ = writeln!(out, "checkpoints in {store} (no job.json)");
        }
    }
    let ids = m.ids().await?;
    if ids.is_empty() {
        out.push_str("  no complete checkpoint\n");
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "  {:>8}  {:<24}  {:<5}  {:>4}  {:>6}  {:>10}  {:>8}  {:>10}",
        "id", "taken", "final", "par", "splits", "open parts", "pending", "records"
    );
    for id in ids {
        match m.read(id).await {
            Ok(c) => {
                let states = sink_states(&c);
                let open: usize = states.iter().flatten().map(|s| s.open.len()).sum();
                let pending: usize = states.iter().flatten().map(|s| s.pending.len()).sum();
                let taken = chrono::DateTime::from_timestamp_millis(c.timestamp)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:>8}  {:<24}  {:<5}  {:>4}  {:>6}  {:>10}  {:>8}  {:>10}",
                    c.id,
                    taken,
                    if c.final_checkpoint { "yes" } else { "no" },
                    c.parallelism,
                    c.sources.len(),
                    open,
                    pending,
                    c.totals.records_out
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  {id:>8}  unreadable: {e}");
            }
        }
    }
    Ok(out)
}

/// `spillway checkpoints DIR --show ID|latest`: what one checkpoint holds.
pub async fn show_checkpoint(
    store: DynCheckpointStore,
    id: Option<u64>,
    json: bool,
) -> Result<String> {
    let m = CheckpointManager::new(store, usize::MAX);
    let c = match id {
        Some(id) => m.read(id).await?,
        None => m.latest().await?.ok_or_else(|| {
            sink_core::Error::checkpoint(m.store().to_string(), "holds no complete checkpoint")
        })?,
    };
    if json {
        return Ok(serde_json::to_string_pretty(&c).expect("serialises") + "\n");
    }
    let mut out = String::new();
    let taken = chrono::DateTime::from_timestamp_millis(c.timestamp)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "checkpoint {} of job {} (run {}, worker {} of {}), taken {taken}{}",
        c.id,
        c.job,
        c.run,
        c.worker,
        c.workers,
        if c.final_checkpoint { ", final" } else { "" }
    );
    let _ = writeln!(
        out,
        "totals: {} records read, {} written, {} bad",
        c.totals.records_in, c.totals.records_out, c.totals.bad_records
    );
    let _ = writeln!(out, "source positions:");
    for (split, pos) in &c.sources {
        let _ = writeln!(out, "  {split:<30} {pos}");
    }
    for (i, s) in sink_states(&c).iter().enumerate() {
        let wm = c
            .watermarks
            .get(i)
            .copied()
            .flatten()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| "-".into());
        match s {
            None => {
                let _ = writeln!(out, "subtask {i}: state of another sink: {}", c.sinks[i]);
            }
            Some(s) => {
                let _ = writeln!(
                    out,
                    "subtask {i}: next part counter {}, watermark {wm}, {} open parts, {} pending",
                    s.next_counter,
                    s.open.len(),
                    s.pending.len()
                );
                for o in &s.open {
                    let _ = writeln!(
                        out,
                        "  open     {}  ({} bytes, {} records)",
                        o.handle.path, o.handle.len, o.records
                    );
                }
                for p in &s.pending {
                    let _ = writeln!(
                        out,
                        "  pending  {}  ({} bytes, {} records, publishes with checkpoint {})",
                        p.committable.path, p.committable.len, p.records, p.checkpoint
                    );
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 * 1024 * 1024), "150.0 MiB");
    }

    #[test]
    fn summary_names_the_figures() {
        let s = JobSummary {
            records_in: 10,
            records_out: 9,
            bad_records: 1,
            files_committed: 2,
            bytes_committed: 2048,
            buckets: 2,
            checkpoints: 3,
            restored_from: Some(4),
            last_checkpoint: Some(7),
            elapsed: Duration::from_secs(2),
            input_ended: true,
            ..JobSummary::default()
        };
        let text = summary("q", &s, "./lake");
        assert!(text.contains("10 read, 9 written, 1 bad"), "{text}");
        assert!(
            text.contains("2 files, 2.0 KiB in 2 buckets under ./lake"),
            "{text}"
        );
        assert!(
            text.contains("4 records/s") || text.contains("5 records/s"),
            "{text}"
        );
        assert!(
            text.contains("3 taken (last #7), restored from #4"),
            "{text}"
        );
    }
}
