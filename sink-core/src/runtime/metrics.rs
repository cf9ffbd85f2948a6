//! Metrics: Flink's four metric types (counter, gauge, histogram, meter) on the `metrics` facade,
//! scoped by labels (`job_name`, `worker`, `subtask`, `operator`; not `job`, which Prometheus
//! sets to the scrape job), and the built-in metrics of the runtime.
//!
//! Nothing is recorded unless a recorder is installed (the CLI installs the Prometheus exporter
//! when started with `--http`); without one every call is a no-op. Built-in metrics are updated
//! once per batch, tick or checkpoint, never per record.
//!
//! A user's transform registers its own metrics in [`open`](super::Operator::open) through
//! [`RuntimeContext::metrics`](super::RuntimeContext):
//!
//! ```
//! use sink_core::runtime::{BadRecord, Operator, RuntimeContext, StreamRecord};
//!
//! struct CountBig { big: Option<metrics::Counter> }
//!
//! impl Operator<u64, u64> for CountBig {
//!     fn open(&mut self, ctx: &RuntimeContext) -> sink_core::Result<()> {
//!         self.big = Some(ctx.metrics.add_group("operator", "count-big").counter("big_values"));
//!         Ok(())
//!     }
//!     fn process(&mut self, input: &mut Vec<StreamRecord<u64>>, output: &mut Vec<StreamRecord<u64>>,
//!                _: &mut Vec<BadRecord>) -> sink_core::Result<()> {
//!         let n = input.iter().filter(|r| r.value > 1000).count();
//!         if let Some(c) = &self.big { c.increment(n as u64); }
//!         output.append(input);
//!         Ok(())
//!     }
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Label};

/// The prefix of every built-in metric.
pub const PREFIX: &str = "spillway_";

/// Names of the built-in metrics (without [`PREFIX`]).
pub mod names {
    /// Counter: records read, per subtask.
    pub const RECORDS_IN: &str = "records_in_total";
    /// Counter: records handed to the sink, per subtask.
    pub const RECORDS_OUT: &str = "records_out_total";
    /// Meter: records read per second (gauge, over the last minute).
    pub const RECORDS_IN_RATE: &str = "records_in_per_second";
    /// Counter: bad records, label `policy` (`fail`, `skip`, `dead_letter`).
    pub const BAD_RECORDS: &str = "bad_records_total";
    /// Counter: bytes of published part files.
    pub const BYTES_WRITTEN: &str = "bytes_written_total";
    /// Counter: part files published.
    pub const FILES_COMMITTED: &str = "part_files_committed_total";
    /// Gauge: open part files.
    pub const OPEN_PARTS: &str = "open_parts";
    /// Gauge: part files closed and waiting for their checkpoint.
    pub const PENDING_FILES: &str = "pending_files";
    /// Gauge: distinct buckets written.
    pub const BUCKETS: &str = "buckets";
    /// Gauge: memory held by open parts, bytes.
    pub const SINK_MEMORY: &str = "sink_memory_bytes";
    /// Histogram: seconds from a part's close to its publication.
    pub const COMMIT_LAG: &str = "commit_lag_seconds";
    /// Gauge: processing time minus the subtask's watermark, seconds.
    pub const WATERMARK_LAG: &str = "watermark_lag_seconds";
    /// Gauge: records behind the end of each split (Kafka consumer lag), labels `split`.
    pub const SOURCE_LAG: &str = "source_lag_records";
    /// Histogram: checkpoint duration, seconds.
    pub const CHECKPOINT_DURATION: &str = "checkpoint_duration_seconds";
    /// Gauge: size of the last checkpoint document, bytes.
    pub const CHECKPOINT_SIZE: &str = "checkpoint_size_bytes";
    /// Counter: checkpoints, label `status` (`completed`, `failed`).
    pub const CHECKPOINTS: &str = "checkpoints_total";
    /// Gauge: id of the last completed checkpoint.
    pub const LAST_CHECKPOINT_ID: &str = "last_checkpoint_id";
    /// Gauge: seconds since the last completed checkpoint (set when scraped).
    pub const SINCE_LAST_CHECKPOINT: &str = "seconds_since_last_checkpoint";
    /// Gauge: 1 once the job restored and runs, 0 before and after.
    pub const UP: &str = "job_running";
}

/// Buckets of the built-in histograms (seconds).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// A scope of metrics: the labels every metric registered through it carries (Flink's
/// `MetricGroup`).
#[derive(Clone, Debug, Default)]
pub struct MetricGroup {
    labels: Vec<(String, String)>,
}

impl MetricGroup {
    /// A group with these labels.
    pub fn new(labels: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        MetricGroup {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A sub-group with one more label (Flink's `addGroup(key, value)`).
    pub fn add_group(&self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let mut g = self.clone();
        g.labels.push((key.into(), value.into()));
        g
    }

    /// The labels.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    fn metric_labels(&self) -> Vec<Label> {
        self.labels
            .iter()
            .map(|(k, v)| Label::new(k.clone(), v.clone()))
            .collect()
    }

    /// A counter named `name` in this scope.
    pub fn counter(&self, name: &str) -> Counter {
        metrics::counter!(name.to_string(), self.metric_labels())
    }

    /// A gauge named `name` in this scope.
    pub fn gauge(&self, name: &str) -> Gauge {
        metrics::gauge!(name.to_string(), self.metric_labels())
    }

    /// A histogram named `name` in this scope.
    pub fn histogram(&self, name: &str) -> Histogram {
        metrics::histogram!(name.to_string(), self.metric_labels())
    }

    /// A meter named `name` in this scope: a counter `{name}_total` of events and a gauge
    /// `{name}_per_second` of their rate over the last minute (Flink's `MeterView`).
    pub fn meter(&self, name: &str) -> Meter {
        Meter::new(
            self.counter(&format!("{name}_total")),
            self.gauge(&format!("{name}_per_second")),
        )
    }
}

/// Events and their rate (Flink's `Meter`). Cheap to mark; the rate gauge is updated at most once
/// a second, over a sliding minute.
#[derive(Clone, Debug)]
pub struct Meter {
    inner: Arc<MeterInner>,
}

#[derive(Debug)]
struct MeterInner {
    total: Counter,
    rate: Gauge,
    count: AtomicU64,
    window: Mutex<MeterWindow>,
}

#[derive(Debug)]
struct MeterWindow {
    samples: std::collections::VecDeque<(Instant, u64)>,
    last_update: Instant,
}

/// The time span of a meter's rate.
pub const METER_SPAN: Duration = Duration::from_secs(60);

impl Meter {
    fn new(total: Counter, rate: Gauge) -> Self {
        let now = Instant::now();
        Meter {
            inner: Arc::new(MeterInner {
                total,
                rate,
                count: AtomicU64::new(0),
                window: Mutex::new(MeterWindow {
                    samples: std::collections::VecDeque::from([(now, 0)]),
                    last_update: now,
                }),
            }),
        }
    }

    /// Records `n` events.
    pub fn mark(&self, n: u64) {
        let count = self.inner.count.fetch_add(n, Ordering::Relaxed) + n;
        self.inner.total.increment(n);
        let now = Instant::now();
        let Ok(mut w) = self.inner.window.try_lock() else {
            return;
        };
        if now.duration_since(w.last_update) < Duration::from_secs(1) {
            return;
        }
        w.last_update = now;
        w.samples.push_back((now, count));
        while w.samples.len() > 2 && now.duration_since(w.samples[0].0) > METER_SPAN {
            w.samples.pop_front();
        }
        let (t0, c0) = w.samples[0];
        let secs = now.duration_since(t0).as_secs_f64();
        if secs > 0.0 {
            self.inner.rate.set((count - c0) as f64 / secs);
        }
    }

    /// Events so far.
    pub fn count(&self) -> u64 {
        self.inner.count.load(Ordering::Relaxed)
    }
}

/// The built-in metrics of one subtask.
#[derive(Clone, Debug)]
pub(crate) struct SubtaskMetrics {
    pub records_in: Meter,
    pub records_out: Counter,
    pub bad_fail: Counter,
    pub bad_skip: Counter,
    pub bad_dead_letter: Counter,
    pub bytes_written: Counter,
    pub files_committed: Counter,
    pub open_parts: Gauge,
    pub pending_files: Gauge,
    pub buckets: Gauge,
    pub memory: Gauge,
    pub commit_lag: Histogram,
    pub watermark_lag: Gauge,
    pub group: MetricGroup,
}

fn n(name: &str) -> String {
    format!("{PREFIX}{name}")
}

impl SubtaskMetrics {
    pub(crate) fn new(group: &MetricGroup) -> Self {
        let bad = |policy: &str| {
            group
                .add_group("policy", policy)
                .counter(&n(names::BAD_RECORDS))
        };
        SubtaskMetrics {
            records_in: Meter::new(
                group.counter(&n(names::RECORDS_IN)),
                group.gauge(&n(names::RECORDS_IN_RATE)),
            ),
            records_out: group.counter(&n(names::RECORDS_OUT)),
            bad_fail: bad("fail"),
            bad_skip: bad("skip"),
            bad_dead_letter: bad("dead_letter"),
            bytes_written: group.counter(&n(names::BYTES_WRITTEN)),
            files_committed: group.counter(&n(names::FILES_COMMITTED)),
            open_parts: group.gauge(&n(names::OPEN_PARTS)),
            pending_files: group.gauge(&n(names::PENDING_FILES)),
            buckets: group.gauge(&n(names::BUCKETS)),
            memory: group.gauge(&n(names::SINK_MEMORY)),
            commit_lag: group.histogram(&n(names::COMMIT_LAG)),
            watermark_lag: group.gauge(&n(names::WATERMARK_LAG)),
            group: group.clone(),
        }
    }

    /// The lag gauge of one source split.
    pub(crate) fn source_lag(&self, split: &str) -> Gauge {
        self.group
            .add_group("split", split)
            .gauge(&n(names::SOURCE_LAG))
    }
}

/// The built-in metrics of the checkpoint coordinator.
#[derive(Clone, Debug)]
pub(crate) struct CoordinatorMetrics {
    pub duration: Histogram,
    pub size: Gauge,
    pub completed: Counter,
    pub failed: Counter,
    pub last_id: Gauge,
    pub up: Gauge,
}

impl CoordinatorMetrics {
    pub(crate) fn new(group: &MetricGroup) -> Self {
        CoordinatorMetrics {
            duration: group.histogram(&n(names::CHECKPOINT_DURATION)),
            size: group.gauge(&n(names::CHECKPOINT_SIZE)),
            completed: group
                .add_group("status", "completed")
                .counter(&n(names::CHECKPOINTS)),
            failed: group
                .add_group("status", "failed")
                .counter(&n(names::CHECKPOINTS)),
            last_id: group.gauge(&n(names::LAST_CHECKPOINT_ID)),
            up: group.gauge(&n(names::UP)),
        }
    }
}

/// The gauge of seconds since the last completed checkpoint, for exporters to set when scraped.
pub fn since_last_checkpoint_gauge(group: &MetricGroup) -> Gauge {
    group.gauge(&n(names::SINCE_LAST_CHECKPOINT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_add_labels() {
        let g = MetricGroup::new([("job", "j"), ("worker", "0")]).add_group("subtask", "3");
        assert_eq!(
            g.labels(),
            &[
                ("job".to_string(), "j".to_string()),
                ("worker".to_string(), "0".to_string()),
                ("subtask".to_string(), "3".to_string())
            ]
        );
    }

    #[test]
    fn meter_counts_without_a_recorder() {
        let m = MetricGroup::default().meter("events");
        m.mark(5);
        m.mark(7);
        assert_eq!(m.count(), 12);
    }
}
