//! A reader's splits (one per partition it owns) and the broker look-ups that place them: listing
//! the topics' partitions, restoring positions from a checkpoint, resolving start and stop offsets
//! (earliest, latest, a timestamp, given offsets, the group's committed offsets) and discovering
//! partitions that appear later. The look-ups block; the reader runs them on tokio's blocking
//! pool ([`blocking`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rdkafka::consumer::Consumer as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use sink_core::runtime::SubtaskInfo;
use sink_core::{Error, Result};

use crate::config::split_id;
use crate::context::Consumer;
use crate::source::{Settings, Start, Stop, Topics};

/// One partition of the reader.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) id: String,
    /// The next offset to read.
    pub(crate) next: i64,
    /// Bounded mode: the offset to stop at (exclusive).
    pub(crate) stop: Option<i64>,
    /// The stop is at or before the end of the log as it was when it was resolved, so reaching the
    /// end (partition EOF) means reaching the stop.
    pub(crate) stop_within_end: bool,
    pub(crate) finished: bool,
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

    pub(crate) fn position(&self) -> serde_json::Value {
        match self.stop {
            None => json!(self.next),
            Some(stop) => json!({ "offset": self.next, "stop": stop }),
        }
    }
}

/// Errors of a blocking broker call.
pub(crate) enum CallError {
    /// Worth another try later (broker down, timeout).
    Transient(String),
    /// The job must stop.
    Fatal(Error),
}

pub(crate) fn source_error(settings: &Settings, message: impl AsRef<str>) -> Error {
    Error::Source {
        source_name: settings.name.clone(),
        message: settings.properties.redact(message.as_ref()),
    }
}

/// Whether a consumer error must stop the job.
pub(crate) fn is_fatal(e: &KafkaError) -> bool {
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
pub(crate) async fn blocking<T: Send + 'static>(
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
pub(crate) fn initial_splits(
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
pub(crate) fn discover(
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
