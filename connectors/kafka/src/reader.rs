//! The reader of one subtask: a librdkafka consumer with manually assigned partitions.
//!
//! `poll` waits for the first message (woken by librdkafka's queue callback, no thread blocked),
//! then drains what is already buffered without waiting, up to `max` records. Every record is
//! appended and its partition's position advanced in the same synchronous step, so dropping the
//! future at any await loses nothing. Blocking librdkafka calls (metadata, offset look-ups) run on
//! tokio's blocking pool.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt as _, StreamExt as _};
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use sink_core::runtime::{
    BadRecord, Batch, Origin, ReadStatus, ReaderContext, SourceReader, StreamRecord, SubtaskInfo,
    WatermarkTracker,
};
use sink_core::sink::{FieldAccess, FieldValue};
use sink_core::Result;

use crate::config::{parse_timestamp, EventTime, ValueFormat};
use crate::context::{Consumer, ConsumerCloser, SourceContext};
use crate::record::{KafkaRecord, Payload};
use crate::source::Settings;
use crate::splits::{blocking, discover, initial_splits, is_fatal, source_error, CallError, Split};

/// How long one `poll` waits for a first record before it returns an empty batch.
const POLL_WAIT: Duration = Duration::from_millis(500);
/// A failed discovery is retried after this long (or the discovery interval, if shorter).
const DISCOVERY_RETRY: Duration = Duration::from_secs(10);
/// Transient errors are logged at most once per this period (counted in between).
const ERROR_LOG_PERIOD: Duration = Duration::from_secs(10);

pub(crate) struct KafkaReader {
    settings: Arc<Settings>,
    consumer: Arc<Consumer>,
    subtask: SubtaskInfo,
    splits: Vec<Split>,
    /// topic -> partition -> index in `splits`.
    index: HashMap<Arc<str>, Vec<Option<u32>>>,
    bounded: bool,
    tracker: WatermarkTracker,
    watermark: Option<i64>,
    discovery: Option<tokio::task::JoinHandle<std::result::Result<Vec<Split>, CallError>>>,
    next_discovery: Option<tokio::time::Instant>,
    /// Positions of the latest snapshot, committed to the group when its checkpoint completes.
    last_snapshot: Option<Vec<(Arc<str>, i32, i64)>>,
    errors: ErrorLog,
    /// Declared last, so dropped last: closes the consumer off the async runtime.
    _closer: ConsumerCloser,
}

#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    fn transient(&mut self, what: &str, message: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < ERROR_LOG_PERIOD)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            suppressed = self.suppressed,
            "kafka: {what}: {message} (transient: librdkafka retries)"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let what = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(w, _)| w);
    format!(
        "value is not valid JSON at line {} column {} ({what})",
        e.line(),
        e.column()
    )
}

fn event_time_of(field: &str, value: &Payload) -> std::result::Result<i64, String> {
    let missing = || format!("event time field `{field}` is missing");
    let Payload::Json(v) = value else {
        return Err(missing());
    };
    match v.field(field) {
        None | Some(FieldValue::Null) => Err(missing()),
        Some(FieldValue::Int(i)) => Ok(i),
        Some(FieldValue::UInt(u)) => i64::try_from(u).map_err(|_| format!("event time field `{field}` = {u} is out of range")),
        Some(FieldValue::Float(f)) if f.is_finite() => Ok(f as i64),
        Some(FieldValue::Str(s)) => parse_timestamp(&s).map_err(|e| format!("event time field `{field}`: {e}")),
        Some(other) => Err(format!(
            "event time field `{field}` = {other} is neither ms since the epoch nor an RFC 3339 time"
        )),
    }
}

impl KafkaReader {
    pub(crate) async fn create(settings: Arc<Settings>, ctx: ReaderContext) -> Result<KafkaReader> {
        let subtask = ctx.subtask;
        let client_id = format!("spillway-{}-{}", ctx.job_name, subtask.global_index());
        let group = settings.group_id(&ctx.job_name);
        let consumer: Consumer = settings
            .client_config(&ctx.job_name, &client_id)
            .create_with_context(SourceContext {
                properties: settings.properties.clone(),
                group,
            })
            .map_err(|e| source_error(&settings, format!("creating the consumer: {e}")))?;
        let consumer = Arc::new(consumer);
        let splits = {
            let (c, s, r) = (
                Arc::clone(&consumer),
                Arc::clone(&settings),
                Arc::clone(&ctx.restored),
            );
            blocking(move || initial_splits(&c, &s, subtask, &r))
                .await
                .map_err(|e| match e {
                    CallError::Fatal(e) => e,
                    CallError::Transient(m) => source_error(&settings, format!("starting: {m}")),
                })?
        };
        let wm = settings.watermark;
        let idle = (!wm.idle_timeout.is_zero()).then_some(wm.idle_timeout.as_millis() as i64);
        let mut reader = KafkaReader {
            bounded: settings.stop.is_some(),
            next_discovery: (settings.stop.is_none() && !settings.discovery_interval.is_zero())
                .then(|| tokio::time::Instant::now() + settings.discovery_interval),
            settings,
            _closer: ConsumerCloser(Some(Arc::clone(&consumer))),
            consumer,
            subtask,
            splits: Vec::new(),
            index: HashMap::new(),
            tracker: WatermarkTracker::new(0, wm.out_of_orderness.as_millis() as i64, idle),
            watermark: None,
            discovery: None,
            last_snapshot: None,
            errors: ErrorLog::default(),
        };
        reader.add_splits(splits)?;
        tracing::info!(
            subtask = subtask.global_index(),
            splits = %reader.splits.iter().map(|s| format!("{}@{}", s.id, s.next)).collect::<Vec<_>>().join(","),
            "kafka reader assigned"
        );
        Ok(reader)
    }

    /// Adds splits with resolved positions and assigns the unfinished ones to the consumer.
    fn add_splits(&mut self, new: Vec<Split>) -> Result<()> {
        let mut tpl = TopicPartitionList::with_capacity(new.len());
        for mut s in new {
            let idx = self.splits.len() as u32;
            let w = self.tracker.add_split();
            debug_assert_eq!(w, idx as usize);
            if s.stop.is_some_and(|stop| s.next >= stop) {
                s.finished = true;
                self.tracker.finish(w);
            } else {
                tpl.add_partition_offset(&s.topic, s.partition, Offset::Offset(s.next))
                    .map_err(|e| {
                        source_error(&self.settings, format!("assigning {}: {e}", s.id))
                    })?;
            }
            let slots = self.index.entry(Arc::clone(&s.topic)).or_default();
            let p = s.partition as usize;
            if slots.len() <= p {
                slots.resize(p + 1, None);
            }
            slots[p] = Some(idx);
            self.splits.push(s);
        }
        if tpl.count() > 0 {
            self.consumer
                .incremental_assign(&tpl)
                .map_err(|e| source_error(&self.settings, format!("assigning partitions: {e}")))?;
        }
        Ok(())
    }

    fn finish(&mut self, idx: usize) {
        let s = &mut self.splits[idx];
        if s.finished {
            return;
        }
        s.finished = true;
        self.tracker.finish(idx);
        tracing::debug!(split = %s.id, offset = s.next, "partition reached its stop offset");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&s.topic, s.partition);
        if let Err(e) = self.consumer.pause(&tpl) {
            tracing::debug!(split = %s.id, error = %e, "pausing a finished partition");
        }
    }

    fn all_finished(&self) -> bool {
        self.splits.iter().all(|s| s.finished)
    }

    /// Applies a finished discovery and starts the next one when due.
    fn drive_discovery(&mut self) -> Result<()> {
        if self.discovery.as_ref().is_some_and(|h| h.is_finished()) {
            let h = self.discovery.take().expect("checked");
            let result = h
                .now_or_never()
                .expect("finished")
                .unwrap_or_else(|e| Err(CallError::Transient(format!("discovery task: {e}"))));
            let interval = self.settings.discovery_interval;
            match result {
                Ok(new) => {
                    if !new.is_empty() {
                        tracing::info!(
                            splits = %new.iter().map(|s| format!("{}@{}", s.id, s.next)).collect::<Vec<_>>().join(","),
                            "kafka: new partitions discovered"
                        );
                        self.add_splits(new)?;
                    }
                    self.next_discovery = Some(tokio::time::Instant::now() + interval);
                }
                Err(CallError::Fatal(e)) => return Err(e),
                Err(CallError::Transient(m)) => {
                    self.errors.transient("partition discovery", &m);
                    self.next_discovery =
                        Some(tokio::time::Instant::now() + interval.min(DISCOVERY_RETRY));
                }
            }
        }
        if self.discovery.is_none()
            && self
                .next_discovery
                .is_some_and(|t| t <= tokio::time::Instant::now())
        {
            self.next_discovery = None;
            let known: HashSet<String> = self.splits.iter().map(|s| s.id.clone()).collect();
            let (c, s, sub) = (
                Arc::clone(&self.consumer),
                Arc::clone(&self.settings),
                self.subtask,
            );
            self.discovery = Some(tokio::task::spawn_blocking(move || {
                discover(&c, &s, sub, &known)
            }));
        }
        Ok(())
    }

    /// Handles one message or error event; true when a record (good or bad) was handed over.
    fn handle(
        &mut self,
        m: KafkaResult<BorrowedMessage<'_>>,
        batch: &mut Batch<KafkaRecord>,
        now: i64,
    ) -> Result<bool> {
        match m {
            Ok(msg) => Ok(self.on_message(&msg, batch, now)),
            Err(KafkaError::PartitionEOF(p)) => {
                self.on_eof(p);
                Ok(false)
            }
            Err(e) if is_fatal(&e) => Err(source_error(&self.settings, format!("consuming: {e}"))),
            Err(e) => {
                let msg = self.settings.properties.redact(&e.to_string());
                self.errors.transient("consuming", &msg);
                Ok(false)
            }
        }
    }

    fn on_eof(&mut self, partition: i32) {
        if !self.bounded {
            return;
        }
        // The EOF event names the partition but not the topic: act only when unambiguous.
        let mut candidates = self
            .splits
            .iter()
            .enumerate()
            .filter(|(_, s)| s.partition == partition && !s.finished);
        if let (Some((i, s)), None) = (candidates.next(), candidates.next()) {
            if s.stop_within_end {
                // Everything before the end has been delivered; what is missing before the stop
                // were control records (transaction markers) or compacted away.
                self.finish(i);
            }
        }
    }

    fn on_message(
        &mut self,
        msg: &BorrowedMessage<'_>,
        batch: &mut Batch<KafkaRecord>,
        now: i64,
    ) -> bool {
        let partition = msg.partition();
        let Some(idx) = self
            .index
            .get(msg.topic())
            .and_then(|v| v.get(partition as usize).copied().flatten())
        else {
            tracing::debug!(
                topic = msg.topic(),
                partition,
                "message of an unassigned partition"
            );
            return false;
        };
        let idx = idx as usize;
        let offset = msg.offset();
        let split = &mut self.splits[idx];
        if split.finished {
            return false;
        }
        if split.stop.is_some_and(|stop| offset >= stop) {
            self.finish(idx);
            return false;
        }
        split.next = offset + 1;
        let done = split.stop.is_some_and(|stop| split.next >= stop);
        let topic = Arc::clone(&split.topic);
        let origin = Origin {
            split: idx as u32,
            position: offset,
        };
        let raw = msg.payload();
        let decoded = match (raw, self.settings.value_format) {
            (None, _) => Ok(Payload::Null),
            (Some(b), ValueFormat::Bytes) => Ok(Payload::Bytes(Bytes::copy_from_slice(b))),
            (Some(b), ValueFormat::Text) => std::str::from_utf8(b)
                .map(|s| Payload::Text(s.to_owned()))
                .map_err(|e| format!("value is not valid UTF-8: {e}")),
            (Some(b), ValueFormat::Json) => serde_json::from_slice(b)
                .map(Payload::Json)
                .map_err(|e| json_reason(&e)),
        };
        let kafka_ts = msg.timestamp().to_millis();
        let result = decoded.and_then(|value| {
            let ts = match &self.settings.event_time {
                EventTime::Kafka => kafka_ts,
                EventTime::Field(f) => Some(event_time_of(f, &value)?),
            };
            Ok((value, ts))
        });
        match result {
            Ok((value, ts)) => {
                let headers = msg.headers().map_or_else(Vec::new, |h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(Bytes::copy_from_slice)))
                        .collect()
                });
                if let Some(ts) = ts {
                    self.tracker.on_record(idx, ts, now);
                }
                batch.records.push(StreamRecord {
                    value: KafkaRecord {
                        key: msg.key().map(Bytes::copy_from_slice),
                        value,
                        headers,
                        timestamp: kafka_ts,
                        topic,
                        partition,
                        offset,
                        output: self.settings.output,
                    },
                    timestamp: ts,
                    origin,
                });
            }
            Err(reason) => batch.bad.push(BadRecord {
                origin,
                reason,
                payload: raw.map(<[u8]>::to_vec),
            }),
        }
        if done {
            self.finish(idx);
        }
        true
    }
}

#[async_trait]
impl SourceReader<KafkaRecord> for KafkaReader {
    async fn poll(&mut self, batch: &mut Batch<KafkaRecord>, max: usize) -> Result<ReadStatus> {
        if self.bounded && self.all_finished() {
            return Ok(ReadStatus::Finished);
        }
        self.drive_discovery()?;
        let consumer = Arc::clone(&self.consumer);
        let mut stream = consumer.stream();
        let first = tokio::select! {
            m = stream.next() => m,
            _ = tokio::time::sleep(POLL_WAIT) => None,
        };
        let mut handed = 0usize;
        if let Some(m) = first {
            let now = now_millis();
            if self.handle(m, batch, now)? {
                handed += 1;
            }
            // Drain what librdkafka has buffered, without waiting.
            while handed < max {
                match stream.next().now_or_never() {
                    Some(Some(m)) => {
                        if self.handle(m, batch, now)? {
                            handed += 1;
                        }
                    }
                    _ => break,
                }
            }
        }
        self.watermark = self.tracker.watermark(now_millis());
        if self.bounded && self.all_finished() {
            return Ok(ReadStatus::Finished);
        }
        Ok(ReadStatus::More)
    }

    fn snapshot(&mut self) -> Result<Vec<(String, serde_json::Value)>> {
        self.last_snapshot = Some(
            self.splits
                .iter()
                .map(|s| (Arc::clone(&s.topic), s.partition, s.next))
                .collect(),
        );
        Ok(self
            .splits
            .iter()
            .map(|s| (s.id.clone(), s.position()))
            .collect())
    }

    async fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        // The runtime has one checkpoint in flight and delivers its completion before the next
        // barrier, so the latest snapshot is the one of `checkpoint_id`.
        let Some(positions) = self.last_snapshot.take() else {
            return Ok(());
        };
        if !self.settings.commit_offsets || positions.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::with_capacity(positions.len());
        for (t, p, next) in &positions {
            if *next >= 0 {
                tpl.add_partition_offset(t, *p, Offset::Offset(*next))
                    .map_err(|e| source_error(&self.settings, format!("committing: {e}")))?;
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        // Asynchronous: the result is logged by the context; a failure costs only monitoring.
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(checkpoint = checkpoint_id, error = %e, "could not commit offsets to the consumer group");
        }
        Ok(())
    }

    fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// Consumer lag per partition: the partition's high watermark, as librdkafka last saw it in a
    /// fetch response (no request is sent), minus the next offset to read.
    fn lags(&self) -> Vec<(String, i64)> {
        let rk = self.consumer.client().native_ptr();
        self.splits
            .iter()
            .filter(|s| !s.finished && s.next >= 0)
            .filter_map(|s| {
                let topic = std::ffi::CString::new(s.topic.as_bytes()).ok()?;
                let (mut low, mut high) = (-1i64, -1i64);
                // SAFETY: `rk` is the live handle of `self.consumer`; the topic string outlives the
                // call; librdkafka only reads its cached watermarks and writes the two integers.
                let err = unsafe {
                    rdkafka::bindings::rd_kafka_get_watermark_offsets(
                        rk,
                        topic.as_ptr(),
                        s.partition,
                        &mut low,
                        &mut high,
                    )
                };
                (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    && high >= 0)
                    .then(|| (s.id.clone(), (high - s.next).max(0)))
            })
            .collect()
    }

    fn describe_origin(&self, origin: Origin) -> String {
        match self.splits.get(origin.split as usize) {
            Some(s) => format!("{}@{}", s.id, origin.position),
            None => format!("kafka split #{}@{}", origin.split, origin.position),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_errors_say_where() {
        let e = serde_json::from_slice::<serde_json::Value>(b"{\"a\" 1}").unwrap_err();
        assert_eq!(
            json_reason(&e),
            "value is not valid JSON at line 1 column 6 (expected `:`)"
        );
    }

    #[test]
    fn event_time_from_fields() {
        let v = Payload::Json(
            json!({"ts": 1000, "s": "2026-11-24T00:00:00Z", "f": 1.5, "n": null, "b": true, "m": {"t": "2000"}}),
        );
        assert_eq!(event_time_of("ts", &v), Ok(1000));
        assert_eq!(event_time_of("s", &v), Ok(1_795_478_400_000));
        assert_eq!(event_time_of("f", &v), Ok(1));
        assert_eq!(event_time_of("m.t", &v), Ok(2000));
        assert_eq!(
            event_time_of("n", &v),
            Err("event time field `n` is missing".into())
        );
        assert_eq!(
            event_time_of("x", &v),
            Err("event time field `x` is missing".into())
        );
        assert!(event_time_of("b", &v).unwrap_err().contains("neither"));
    }
}
