//! [`KafkaSource`]: its builder, its validated settings and the [`Source`] implementation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::config::ClientConfig;
use regex::Regex;
use sink_core::runtime::{Boundedness, ReaderContext, Source, SourceReader};
use sink_core::{Error, Result};

use crate::config::{
    parse_offsets, EventTime, KafkaSourceConfig, OutputMode, StartOffsets, StopOffsets,
    ValueFormat, WatermarkConfig, DEFAULT_DISCOVERY_INTERVAL, DEFAULT_REQUEST_TIMEOUT,
};
use crate::reader::KafkaReader;
use crate::record::KafkaRecord;
use crate::secret::Properties;

/// Which topics a source reads.
#[derive(Clone, Debug)]
pub(crate) enum Topics {
    /// These, which must exist.
    List(Vec<String>),
    /// Every topic whose whole name matches (internal `__` topics never do).
    Pattern(Regex),
}

impl Topics {
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            Topics::List(l) => l.iter().any(|t| t == topic),
            Topics::Pattern(r) => !topic.starts_with("__") && r.is_match(topic),
        }
    }
}

/// Start offsets, checked.
#[derive(Clone, Debug)]
pub(crate) enum Start {
    Earliest,
    Latest,
    Committed { fallback_latest: bool },
    Timestamp(i64),
    Offsets(BTreeMap<(String, i32), i64>),
}

/// Stop offsets, checked.
#[derive(Clone, Debug)]
pub(crate) enum Stop {
    Latest,
    Timestamp(i64),
    Offsets(BTreeMap<(String, i32), i64>),
}

/// The validated settings shared by every reader of a source.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub brokers: String,
    pub topics: Topics,
    pub group_id: Option<String>,
    pub start: Start,
    pub stop: Option<Stop>,
    pub value_format: ValueFormat,
    pub event_time: EventTime,
    pub watermark: WatermarkConfig,
    pub discovery_interval: Duration,
    pub commit_offsets: bool,
    pub properties: Properties,
    pub output: OutputMode,
    pub request_timeout: Duration,
    pub name: String,
}

impl Settings {
    /// The librdkafka configuration of a reader's consumer.
    pub(crate) fn client_config(&self, job: &str, client_id: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("auto.offset.reset", "earliest");
        c.set("client.id", client_id);
        for (k, v) in self.properties.iter() {
            c.set(k, v);
        }
        c.set("bootstrap.servers", &self.brokers);
        c.set("group.id", self.group_id(job));
        // Offsets are the checkpoint's; the group only sees what checkpoint_complete commits.
        c.set("enable.auto.commit", "false");
        c.set("enable.auto.offset.store", "false");
        c.set(
            "enable.partition.eof",
            if self.stop.is_some() { "true" } else { "false" },
        );
        c
    }

    pub(crate) fn group_id(&self, job: &str) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}{job}", crate::config::DEFAULT_GROUP_PREFIX))
    }
}

/// Reads Kafka topics into [`KafkaRecord`]s, exactly once with the job's checkpoints (Flink's
/// `KafkaSource`).
///
/// * Splits are topic partitions. Each subtask reads the partitions it
///   [`owns`](sink_core::runtime::SubtaskInfo::owns) (`topic`, `partition`), assigned manually, so
///   every worker computes the same assignment without a group rebalance; the consumer group is
///   only where checkpointed offsets are committed, for monitoring.
/// * Positions are the next offset to read per split id `"{topic}/{partition}"`. A restored
///   position always wins over the configured start; partitions that appear later (discovered
///   while running, or after the restored checkpoint) start at their earliest offset.
/// * Bounded mode ([`with_stop`](KafkaSourceBuilder::with_stop)) ends each partition at its stop
///   offset; the stop offsets are kept in checkpoints (`{"offset": n, "stop": s}`).
/// * A broker outage is waited out (librdkafka reconnects; transient errors are logged); fatal
///   errors (authentication, a listed topic that disappeared) fail the job.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> sink_core::Result<()> {
/// use std::time::Duration;
/// use connector_kafka::{KafkaRecord, KafkaSource, StopOffsets};
/// use rdkafka::mocking::MockCluster;
/// use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
/// use rdkafka::ClientConfig;
/// use sink_core::fs::LocalTarget;
/// use sink_core::runtime::{Job, LocalCheckpointStore};
/// use sink_core::sink::{FileSink, JsonLinesEncoder};
///
/// // An in-process Kafka cluster with a 2-partition topic of 100 JSON records.
/// let cluster = MockCluster::new(1).unwrap();
/// cluster.create_topic("orders", 2, 1).unwrap();
/// let producer: BaseProducer = ClientConfig::new()
///     .set("bootstrap.servers", cluster.bootstrap_servers())
///     .create()
///     .unwrap();
/// for i in 0..100 {
///     let value = format!(r#"{{"id": {i}, "user": {{"country": "NZ"}}}}"#);
///     producer.send(BaseRecord::<(), _>::to("orders").partition(i % 2).payload(&value)).unwrap();
/// }
/// producer.flush(Duration::from_secs(10)).unwrap();
///
/// // A backfill: read up to the end as it is now, then stop.
/// let source = KafkaSource::builder(cluster.bootstrap_servers())
///     .with_topics(["orders"])
///     .with_stop(StopOffsets::Latest)
///     .build()?;
/// let (lake, checkpoints) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// let sink = FileSink::for_row_format(LocalTarget::new(lake.path())?, JsonLinesEncoder::<KafkaRecord>::new())
///     .build()?;
/// let summary = Job::builder("backfill")
///     .checkpoint_store(LocalCheckpointStore::new(checkpoints.path())?)
///     .from_source(source)
///     .sink_to(sink)
///     .run()
///     .await?;
/// assert!(summary.input_ended);
/// assert_eq!(summary.records_committed, 100);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct KafkaSource {
    settings: Arc<Settings>,
}

impl KafkaSource {
    /// Starts building a source that bootstraps from `brokers` (`"host:port,host:port"`).
    pub fn builder(brokers: impl Into<String>) -> KafkaSourceBuilder {
        KafkaSourceBuilder {
            brokers: brokers.into(),
            topics: Vec::new(),
            topic_pattern: None,
            group_id: None,
            start: StartOffsets::default(),
            stop: None,
            value_format: ValueFormat::default(),
            event_time: EventTime::default(),
            watermark: WatermarkConfig::default(),
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
            commit_offsets: true,
            properties: Properties::new(),
            output: OutputMode::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The source a job file's `[source]` table describes.
    pub fn from_config(config: &KafkaSourceConfig) -> Result<KafkaSource> {
        let mut b = KafkaSource::builder(config.brokers.join(","))
            .with_topics(config.topics.iter().cloned())
            .with_start(config.start.clone())
            .with_value_format(config.value_format)
            .with_event_time(config.event_time.clone())
            .with_watermark(config.watermark)
            .with_discovery_interval(config.discovery_interval)
            .with_commit_offsets(config.commit_offsets)
            .with_properties(config.properties.clone())
            .with_output(config.output);
        if let Some(p) = &config.topic_pattern {
            b = b.with_topic_pattern(p.clone());
        }
        if let Some(g) = &config.group_id {
            b = b.with_group_id(g.clone());
        }
        if let Some(s) = &config.stop {
            b = b.with_stop(s.clone());
        }
        b.build()
    }

    /// True in bounded mode.
    pub fn is_bounded(&self) -> bool {
        self.settings.stop.is_some()
    }
}

#[async_trait]
impl Source<KafkaRecord> for KafkaSource {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn boundedness(&self) -> Boundedness {
        match self.settings.stop {
            Some(_) => Boundedness::Bounded {
                expected_records: None,
            },
            None => Boundedness::Unbounded,
        }
    }

    async fn create_reader(
        &self,
        ctx: ReaderContext,
    ) -> Result<Box<dyn SourceReader<KafkaRecord>>> {
        Ok(Box::new(
            KafkaReader::create(Arc::clone(&self.settings), ctx).await?,
        ))
    }
}

/// Builds a [`KafkaSource`]; [`build`](Self::build) checks everything.
#[derive(Clone, Debug)]
#[must_use]
pub struct KafkaSourceBuilder {
    brokers: String,
    topics: Vec<String>,
    topic_pattern: Option<String>,
    group_id: Option<String>,
    start: StartOffsets,
    stop: Option<StopOffsets>,
    value_format: ValueFormat,
    event_time: EventTime,
    watermark: WatermarkConfig,
    discovery_interval: Duration,
    commit_offsets: bool,
    properties: Properties,
    output: OutputMode,
    request_timeout: Duration,
}

impl KafkaSourceBuilder {
    /// Reads these topics (adds to earlier ones). They must exist.
    pub fn with_topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Reads every topic whose whole name matches this regex, including topics created later.
    pub fn with_topic_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.topic_pattern = Some(pattern.into());
        self
    }

    /// The consumer group offsets are committed to (default `spillway-{job name}`).
    pub fn with_group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// Where partitions without a restored position start (default earliest).
    pub fn with_start(mut self, start: StartOffsets) -> Self {
        self.start = start;
        self
    }

    /// Bounded mode: stop there.
    pub fn with_stop(mut self, stop: StopOffsets) -> Self {
        self.stop = Some(stop);
        self
    }

    /// How values are decoded (default JSON).
    pub fn with_value_format(mut self, format: ValueFormat) -> Self {
        self.value_format = format;
        self
    }

    /// Where event time comes from (default the Kafka timestamp).
    pub fn with_event_time(mut self, event_time: EventTime) -> Self {
        self.event_time = event_time;
        self
    }

    /// Watermark settings.
    pub fn with_watermark(mut self, watermark: WatermarkConfig) -> Self {
        self.watermark = watermark;
        self
    }

    /// Time between partition discovery runs (default 5 min; zero disables).
    pub fn with_discovery_interval(mut self, interval: Duration) -> Self {
        self.discovery_interval = interval;
        self
    }

    /// Whether checkpointed offsets are committed to the group (default true).
    pub fn with_commit_offsets(mut self, commit: bool) -> Self {
        self.commit_offsets = commit;
        self
    }

    /// Sets a librdkafka property (`security.protocol`, `sasl.password`, ...).
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.set(name, value);
        self
    }

    /// Sets librdkafka properties.
    pub fn with_properties(mut self, properties: Properties) -> Self {
        for (k, v) in properties.iter() {
            self.properties.set(k, v);
        }
        self
    }

    /// What records serialise to (default the value alone).
    pub fn with_output(mut self, output: OutputMode) -> Self {
        self.output = output;
        self
    }

    /// Timeout of metadata and offset requests (default 30 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Checks the settings and builds the source.
    pub fn build(self) -> Result<KafkaSource> {
        let brokers: Vec<&str> = self
            .brokers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if brokers.is_empty() {
            return Err(Error::config(
                "source.brokers",
                "at least one broker address (host:port) is needed",
            ));
        }
        let topics = match (self.topics.is_empty(), &self.topic_pattern) {
            (false, Some(_)) => {
                return Err(Error::config(
                    "source.topics",
                    "set either topics or topic_pattern, not both",
                ))
            }
            (true, None) => {
                return Err(Error::config(
                    "source.topics",
                    "set topics (a list) or topic_pattern (a regex)",
                ))
            }
            (true, Some(p)) => {
                Topics::Pattern(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    Error::config("source.topic_pattern", format!("not a regex: {e}"))
                })?)
            }
            (false, None) => {
                let mut seen = std::collections::BTreeSet::new();
                for t in &self.topics {
                    if t.is_empty() || t.len() > 249 || t.contains(['/', ' ']) {
                        return Err(Error::config(
                            "source.topics",
                            format!("{t:?} is not a topic name"),
                        ));
                    }
                    if !seen.insert(t.as_str()) {
                        return Err(Error::config(
                            "source.topics",
                            format!("{t:?} is listed twice"),
                        ));
                    }
                }
                Topics::List(self.topics.clone())
            }
        };
        if self.group_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::config("source.group_id", "must not be empty"));
        }
        let start = match &self.start {
            StartOffsets::Earliest => Start::Earliest,
            StartOffsets::Latest => Start::Latest,
            StartOffsets::Committed(r) => Start::Committed {
                fallback_latest: *r == crate::config::ResetTo::Latest,
            },
            StartOffsets::Timestamp(t) => Start::Timestamp(*t),
            StartOffsets::Offsets(m) => Start::Offsets(parse_offsets("source.start.offsets", m)?),
        };
        let stop = match &self.stop {
            None => None,
            Some(StopOffsets::Latest) => Some(Stop::Latest),
            Some(StopOffsets::Timestamp(t)) => Some(Stop::Timestamp(*t)),
            Some(StopOffsets::Offsets(m)) => {
                Some(Stop::Offsets(parse_offsets("source.stop.offsets", m)?))
            }
        };
        if let Start::Timestamp(t) = start {
            if t < 0 {
                return Err(Error::config(
                    "source.start.timestamp",
                    "must be at least 0 (1970-01-01)",
                ));
            }
        }
        if let Some(Stop::Timestamp(t)) = stop {
            if t < 0 {
                return Err(Error::config(
                    "source.stop.timestamp",
                    "must be at least 0 (1970-01-01)",
                ));
            }
        }
        if let EventTime::Field(f) = &self.event_time {
            if f.is_empty() {
                return Err(Error::config(
                    "source.event_time.field",
                    "must not be empty",
                ));
            }
            if self.value_format != ValueFormat::Json {
                return Err(Error::config(
                    "source.event_time",
                    "a field as event time needs value_format = \"json\"",
                ));
            }
        }
        for (k, instead) in [
            ("bootstrap.servers", "brokers"),
            ("metadata.broker.list", "brokers"),
            ("group.id", "group_id"),
            (
                "enable.auto.commit",
                "commit_offsets (offsets are committed on checkpoints)",
            ),
            (
                "enable.auto.offset.store",
                "nothing: offsets are the checkpoint's",
            ),
        ] {
            if self.properties.get(k).is_some() {
                return Err(Error::config(
                    format!("source.properties.{k}"),
                    format!("not allowed here; use {instead}"),
                ));
            }
        }
        if self.request_timeout.is_zero() {
            return Err(Error::config(
                "source.request_timeout",
                "must be longer than 0",
            ));
        }
        let settings = Settings {
            brokers: brokers.join(","),
            topics,
            group_id: self.group_id,
            start,
            stop,
            value_format: self.value_format,
            event_time: self.event_time,
            watermark: self.watermark,
            discovery_interval: self.discovery_interval,
            commit_offsets: self.commit_offsets,
            properties: self.properties,
            output: self.output,
            request_timeout: self.request_timeout,
            name: "kafka".to_string(),
        };
        // Let librdkafka check property names and values now, not when the job starts.
        settings
            .client_config("check", "spillway-check")
            .create_native_config()
            .map_err(|e| {
                Error::config(
                    "source.properties",
                    settings.properties.redact(&e.to_string()),
                )
            })?;
        Ok(KafkaSource {
            settings: Arc::new(settings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> KafkaSourceBuilder {
        KafkaSource::builder("localhost:9092").with_topics(["t"])
    }

    #[test]
    fn build_checks_the_settings() {
        let err = |b: KafkaSourceBuilder| b.build().unwrap_err().to_string();
        assert!(b().build().is_ok());
        assert!(err(KafkaSource::builder(" , ").with_topics(["t"])).contains("source.brokers"));
        assert!(err(KafkaSource::builder("b")).contains("set topics"));
        assert!(err(b().with_topic_pattern("x")).contains("not both"));
        assert!(err(KafkaSource::builder("b").with_topic_pattern("(")).contains("not a regex"));
        assert!(err(b().with_topics(["t"])).contains("listed twice"));
        assert!(err(b()
            .with_event_time(EventTime::Field("ts".into()))
            .with_value_format(ValueFormat::Text))
        .contains("needs value_format"));
        assert!(err(b().with_property("group.id", "g")).contains("use group_id"));
        assert!(err(b().with_property("no.such.property", "1")).contains("source.properties"));
        assert!(err(b().with_start(StartOffsets::Offsets(BTreeMap::from([(
            "t".to_string(),
            1
        )]))))
        .contains("source.start.offsets"));
    }

    #[test]
    fn patterns_match_whole_names_and_skip_internal_topics() {
        let s = KafkaSource::builder("b")
            .with_topic_pattern("orders-.*")
            .build()
            .unwrap();
        let t = &s.settings.topics;
        assert!(t.matches("orders-eu"));
        assert!(!t.matches("old-orders-eu"));
        let all = KafkaSource::builder("b")
            .with_topic_pattern(".*")
            .build()
            .unwrap();
        assert!(!all.settings.topics.matches("__consumer_offsets"));
    }
}
