//! The reader of one subtask: a librdkafka consumer with manually assigned partitions.
//!
//! `poll` waits for the first message (woken by librdkafka's queue callback, no thread blocked),
//! then drains what is already buffered without waiting, up to `max` records. Every record is
//! appended and its partition's position advanced in the same synchronous step, so dropping the
//! future at any await loses nothing. Blocking librdkafka calls (metadata, offset look-ups) run on
//! tokio's blocking pool.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt as _, StreamExt as _};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{CommitMode, Consumer as _, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use sink_core::runtime::{
    BadRecord, Batch, Origin, ReadStatus, ReaderContext, SourceReader, StreamRecord, SubtaskInfo,
    WatermarkTracker,
};
use sink_core::sink::{FieldAccess, FieldValue};
use sink_core::{Error, Result};

use crate::config::{parse_timestamp, split_id, EventTime, ValueFormat};
use crate::record::{KafkaRecord, Payload};
use crate::secret::Properties;
use crate::source::{Settings, Start, Stop, Topics};

/// How long one `poll` waits for a first record before it returns an empty batch.
const POLL_WAIT: Duration = Duration::from_millis(500);
/// A failed discovery is retried after this long (or the discovery interval, if shorter).
const DISCOVERY_RETRY: Duration = Duration::from_secs(10);
/// Transient errors are logged at most once per this period (counted in between).
const ERROR_LOG_PERIOD: Duration = Duration::from_secs(10);

pub(crate) type Consumer = StreamConsumer<SourceContext>;

/// Sends librdkafka's logs to `tracing` with secrets scrubbed, and logs commit results.
pub(crate) struct SourceContext {
    properties: Properties,
    group: String,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = self.properties.redact(message);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac} {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = self.properties.redact(reason);
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for SourceContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                tracing::debug!(group = %self.group, partitions = offsets.count(), "offsets committed")
            }
            // The checkpoint holds the truth; the group's offsets only serve monitoring.
            Err(e) => {
                tracing::warn!(group = %self.group, error = %e, "committing offsets to the consumer group failed")
            }
        }
    }
}

/// One partition of the reader.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    topic: Arc<str>,
    partition: i32,
    id: String,
    /// The next offset to read.
    next: i64,
    /// Bounded mode: the offset to stop at (exclusive).
    stop: Option<i64>,
    /// The stop is at or before the end of the log as it was when it was resolved, so reaching the
    /// end (partition EOF) means reaching the stop.
    stop_within_end: bool,
    finished: bool,
}

impl Split {
    fn new(topic: &Arc<str>, partition: i32) -> Split {
        Split {
            topic: Arc::clone(topic),
            partition,
            id: split_id(topic, partition),
            next: -1,
            stop: None,
            stop_within_end: true,
            finished: false,
        }
    }

    fn position(&self) -> serde_json::Value {
        match self.stop {
            None => json!(self.next),
            Some(stop) => json!({ "offset": self.next, "stop": stop }),
        }
    }
}

/// Errors of a blocking broker call.
enum CallError {
    /// Worth another try later (broker down, timeout).
    Transient(String),
    /// The job must stop.
    Fatal(Error),
}

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

/// Drops the last reference to a consumer on a thread of its own. rdkafka's consumer waits in its
/// `Drop` until the group has acknowledged the close, with no time limit; a broker that never
/// answers (or librdkafka's mock cluster, now and then) would block the runtime thread that
/// drops a reader, for instance when a job is cancelled.
struct ConsumerCloser(Option<Arc<Consumer>>);

impl Drop for ConsumerCloser {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let spawned = std::thread::Builder::new()
                .name("kafka-close".into())
                .spawn(move || drop(c));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "closing the Kafka consumer in place");
            }
        }
    }
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

fn source_error(settings: &Settings, message: impl AsRef<str>) -> Error {
    Error::Source {
        source_name: settings.name.clone(),
        message: settings.properties.redact(message.as_ref()),
    }
}

/// Whether a consumer error must stop the job.
fn is_fatal(e: &KafkaError) -> bool {
    if matches!(e, KafkaError::MessageConsumptionFatal(_)) {
        return true;
    }
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::AutoOffsetReset
        )
    )
}

fn call_error(settings: &Settings, what: &str, e: KafkaError) -> CallError {
    let message = format!("{what}: {e}");
    if is_fatal(&e) {
        CallError::Fatal(source_error(settings, message))
    } else {
        CallError::Transient(settings.properties.redact(&message))
    }
}

/// Runs a blocking librdkafka call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, CallError> + Send + 'static,
) -> std::result::Result<T, CallError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(CallError::Fatal(Error::Internal(format!(
            "kafka lookup task: {e}"
        ))))
    })
}

/// A topic and its partition numbers.
type TopicPartitions = (Arc<str>, Vec<i32>);

/// The partitions of every topic the source reads, by name. A listed topic that does not exist
/// is fatal.
fn list_partitions(
    consumer: &Consumer,
    settings: &Settings,
    starting: bool,
) -> std::result::Result<Vec<TopicPartitions>, CallError> {
    let md = consumer
        .fetch_metadata(None, settings.request_timeout)
        .map_err(|e| call_error(settings, "fetching metadata", e))?;
    let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut unknown = HashSet::new();
    for t in md.topics() {
        if !settings.topics.matches(t.name()) {
            continue;
        }
        match t.error() {
            None => {
                let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                ps.sort_unstable();
                found.insert(t.name().to_string(), ps);
            }
            Some(e) => {
                let code = RDKafkaErrorCode::from(e);
                if code == RDKafkaErrorCode::UnknownTopicOrPartition
                    || code == RDKafkaErrorCode::UnknownTopic
                {
                    unknown.insert(t.name().to_string());
                } else {
                    return Err(CallError::Transient(format!(
                        "metadata of topic {}: {code}",
                        t.name()
                    )));
                }
            }
        }
    }
    if let Topics::List(list) = &settings.topics {
        let missing: Vec<&String> = list.iter().filter(|t| !found.contains_key(*t)).collect();
        if !missing.is_empty() {
            let names = missing
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CallError::Fatal(if starting {
                Error::config(
                    "source.topics",
                    format!(
                        "topic {names} does not exist on {} (topics are not created by the source)",
                        settings.brokers
                    ),
                )
            } else {
                source_error(settings, format!("topic {names} no longer exists"))
            }));
        }
    }
    let _ = unknown;
    Ok(found
        .into_iter()
        .map(|(t, ps)| (Arc::<str>::from(t), ps))
        .collect())
}

/// ListOffsets: for each `(topic, partition, query)` with query -2 (earliest), -1 (latest) or a
/// timestamp, the offset found (`None`: no record at or after the timestamp).
fn list_offsets(
    consumer: &Consumer,
    settings: &Settings,
    queries: &[(Arc<str>, i32, i64)],
) -> std::result::Result<Vec<Option<i64>>, CallError> {
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::with_capacity(queries.len());
    for (t, p, q) in queries {
        tpl.add_partition_offset(t, *p, Offset::from_raw(*q))
            .map_err(|e| call_error(settings, "listing offsets", e))?;
    }
    let res = consumer
        .offsets_for_times(tpl, settings.request_timeout)
        .map_err(|e| call_error(settings, "listing offsets", e))?;
    queries
        .iter()
        .map(|(t, p, _)| {
            let el = res.find_partition(t, *p).ok_or_else(|| {
                CallError::Transient(format!("no offset for {t}/{p} in the answer"))
            })?;
            el.error()
                .map_err(|e| call_error(settings, &format!("listing offsets of {t}/{p}"), e))?;
            Ok(match el.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            })
        })
        .collect()
}

/// Resolves `queries` to offsets, those without an answer (a timestamp after the last record) to
/// the end of the log.
fn resolve_offsets(
    consumer: &Consumer,
    settings: &Settings,
    queries: &[(Arc<str>, i32, i64)],
) -> std::result::Result<Vec<i64>, CallError> {
    let first = list_offsets(consumer, settings, queries)?;
    let missing: Vec<usize> = (0..queries.len()).filter(|i| first[*i].is_none()).collect();
    let again: Vec<(Arc<str>, i32, i64)> = missing
        .iter()
        .map(|i| (Arc::clone(&queries[*i].0), queries[*i].1, -1))
        .collect();
    let ends = list_offsets(consumer, settings, &again)?;
    let mut out: Vec<i64> = first.iter().map(|o| o.unwrap_or(-1)).collect();
    for (i, end) in missing.into_iter().zip(ends) {
        out[i] = end.ok_or_else(|| {
            CallError::Transient(format!(
                "no end offset for {}/{}",
                queries[i].0, queries[i].1
            ))
        })?;
    }
    Ok(out)
}

/// The group's committed offsets (`None`: nothing committed).
fn committed_offsets(
    consumer: &Consumer,
    settings: &Settings,
    splits: &[(Arc<str>, i32)],
) -> std::result::Result<Vec<Option<i64>>, CallError> {
    if splits.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::with_capacity(splits.len());
    for (t, p) in splits {
        tpl.add_partition(t, *p);
    }
    let res = consumer
        .committed_offsets(tpl, settings.request_timeout)
        .map_err(|e| call_error(settings, "fetching committed offsets", e))?;
    Ok(splits
        .iter()
        .map(
            |(t, p)| match res.find_partition(t, *p).map(|e| e.offset()) {
                Some(Offset::Offset(n)) => Some(n),
                _ => None,
            },
        )
        .collect())
}

/// Reads a restored position: a number, or `{"offset": n, "stop": s}` in bounded mode.
fn parse_position(id: &str, v: &serde_json::Value) -> Result<(i64, Option<i64>)> {
    let bad = || {
        Error::checkpoint(
            id,
            format!("kafka position {v} is neither an offset nor {{\"offset\": n, \"stop\": s}}"),
        )
    };
    match v {
        serde_json::Value::Number(n) => Ok((n.as_i64().ok_or_else(bad)?, None)),
        serde_json::Value::Object(m) => {
            let offset = m.get("offset").and_then(|o| o.as_i64()).ok_or_else(bad)?;
            let stop = match m.get("stop") {
                None | Some(serde_json::Value::Null) => None,
                Some(s) => Some(s.as_i64().ok_or_else(bad)?),
            };
            Ok((offset, stop))
        }
        _ => Err(bad()),
    }
}

/// Resolves the start (and, bounded, stop) offsets of new splits. `configured` says whether the
/// configured start applies (a fresh job) or the earliest offset (a partition that appeared later).
fn resolve_new_splits(
    consumer: &Consumer,
    settings: &Settings,
    splits: &mut [Split],
    configured: bool,
) -> std::result::Result<(), CallError> {
    // Starts.
    let keys: Vec<(Arc<str>, i32)> = splits
        .iter()
        .map(|s| (Arc::clone(&s.topic), s.partition))
        .collect();
    let todo: Vec<usize> = (0..splits.len()).filter(|i| splits[*i].next < 0).collect();
    let mut queries = Vec::new();
    let mut targets = Vec::new();
    let start = if configured {
        settings.start.clone()
    } else {
        Start::Earliest
    };
    let query = match &start {
        Start::Earliest => Some(-2),
        Start::Latest => Some(-1),
        Start::Timestamp(t) => Some(*t),
        _ => None,
    };
    match &start {
        Start::Committed { fallback_latest } => {
            let wanted: Vec<(Arc<str>, i32)> = todo.iter().map(|&i| keys[i].clone()).collect();
            let committed = committed_offsets(consumer, settings, &wanted)?;
            for (&i, c) in todo.iter().zip(committed) {
                match c {
                    Some(n) => splits[i].next = n,
                    None => {
                        let (t, p) = keys[i].clone();
                        queries.push((t, p, if *fallback_latest { -1 } else { -2 }));
                        targets.push(i);
                    }
                }
            }
        }
        Start::Offsets(map) => {
            for &i in &todo {
                let (t, p) = keys[i].clone();
                match map.get(&(t.to_string(), p)) {
                    Some(&n) => splits[i].next = n,
                    None => {
                        queries.push((t, p, -2));
                        targets.push(i);
                    }
                }
            }
        }
        _ => {
            let q = query.expect("earliest, latest or a timestamp");
            for &i in &todo {
                let (t, p) = keys[i].clone();
                queries.push((t, p, q));
                targets.push(i);
            }
        }
    }
    for (i, off) in targets
        .into_iter()
        .zip(resolve_offsets(consumer, settings, &queries)?)
    {
        splits[i].next = off;
    }
    // Stops.
    let Some(stop) = &settings.stop else {
        return Ok(());
    };
    let mut queries = Vec::new();
    let mut targets = Vec::new();
    for i in 0..splits.len() {
        if splits[i].stop.is_some() {
            continue;
        }
        let (t, p) = keys[i].clone();
        let q = match stop {
            Stop::Latest => -1,
            Stop::Timestamp(ts) => *ts,
            Stop::Offsets(map) => match map.get(&(t.to_string(), p)) {
                Some(&n) => {
                    splits[i].stop = Some(n);
                    splits[i].stop_within_end = false;
                    continue;
                }
                None => -1,
            },
        };
        queries.push((t, p, q));
        targets.push(i);
    }
    for (i, off) in targets
        .into_iter()
        .zip(resolve_offsets(consumer, settings, &queries)?)
    {
        splits[i].stop = Some(off);
    }
    Ok(())
}

/// The splits of a fresh reader, with their positions.
fn initial_splits(
    consumer: &Consumer,
    settings: &Settings,
    subtask: SubtaskInfo,
    restored: &BTreeMap<String, serde_json::Value>,
) -> std::result::Result<Vec<Split>, CallError> {
    let topics = list_partitions(consumer, settings, true)?;
    let mut restored_splits = Vec::new();
    let mut new_splits = Vec::new();
    for (topic, partitions) in &topics {
        for &p in partitions {
            if !subtask.owns(topic, p as u64) {
                continue;
            }
            let mut s = Split::new(topic, p);
            match restored.get(&s.id) {
                Some(v) => {
                    let (next, stop) = parse_position(&s.id, v).map_err(CallError::Fatal)?;
                    s.next = next;
                    s.stop = stop;
                    if let (Some(Stop::Offsets(map)), Some(_)) = (&settings.stop, stop) {
                        s.stop_within_end = !map.contains_key(&(topic.to_string(), p));
                    }
                    restored_splits.push(s);
                }
                None => new_splits.push(s),
            }
        }
    }
    // Restored splits of a bounded job restored from an unbounded checkpoint get their stops now.
    resolve_new_splits(consumer, settings, &mut restored_splits, false)?;
    // With a checkpoint, partitions that are not in it appeared after it: earliest (as Flink).
    resolve_new_splits(consumer, settings, &mut new_splits, restored.is_empty())?;
    let mut all = restored_splits;
    all.extend(new_splits);
    all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(all)
}

/// Splits this subtask owns that it does not have yet, starting at their earliest offsets.
fn discover(
    consumer: &Consumer,
    settings: &Settings,
    subtask: SubtaskInfo,
    known: &HashSet<String>,
) -> std::result::Result<Vec<Split>, CallError> {
    let topics = list_partitions(consumer, settings, false)?;
    let mut new = Vec::new();
    for (topic, partitions) in &topics {
        for &p in partitions {
            if subtask.owns(topic, p as u64) && !known.contains(&split_id(topic, p)) {
                new.push(Split::new(topic, p));
            }
        }
    }
    resolve_new_splits(consumer, settings, &mut new, false)?;
    Ok(new)
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
    fn positions_round_trip() {
        assert_eq!(parse_position("t/0", &json!(42)).unwrap(), (42, None));
        assert_eq!(
            parse_position("t/0", &json!({"offset": 5, "stop": 9})).unwrap(),
            (5, Some(9))
        );
        let e = parse_position("t/0", &json!("x")).unwrap_err().to_string();
        assert!(e.contains("t/0"), "{e}");
    }

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

    #[test]
    fn fatal_errors_are_told_apart() {
        assert!(is_fatal(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::SaslAuthenticationFailed
        )));
        assert!(is_fatal(&KafkaError::MessageConsumptionFatal(
            RDKafkaErrorCode::Fatal
        )));
        assert!(!is_fatal(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::AllBrokersDown
        )));
        assert!(!is_fatal(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
    }
}
