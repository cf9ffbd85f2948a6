//! Settings of the Kafka source: the typed options of [`KafkaSourceBuilder`](crate::KafkaSourceBuilder)
//! and the serde form of the job file's `[source]` table ([`KafkaSourceConfig`]).
//!
//! # The `[source]` table
//!
//! ```toml
//! [source]
//! type = "kafka"                      # the CLI's tag; everything below is KafkaSourceConfig
//! brokers = "k1:9092,k2:9092"         # or a list: ["k1:9092", "k2:9092"]           (required)
//! topics = ["orders", "payments"]     # a list of topics, or ...
//! # topic_pattern = "orders-.*"        # ... a regex matched against whole topic names
//! group_id = "spillway-orders"        # default: "spillway-{job name}"
//! start = "earliest"                  # "earliest" (default) | "latest"
//!                                     # | { committed = "earliest" }  (fallback: "earliest" | "latest")
//!                                     # | { timestamp = "2026-11-24T00:00:00Z" }  (or ms since the epoch)
//!                                     # | { offsets = { "orders/0" = 42, "orders/1" = 7 } }
//!                                     #   (partitions not listed start at the earliest offset)
//! # stop = "latest"                   # bounded mode: "latest" (the end when the job first started)
//!                                     # | { timestamp = ... } | { offsets = { "orders/0" = 100 } }
//!                                     #   (partitions not listed stop at "latest"). Default: unbounded.
//! value_format = "json"               # "json" (default) | "text" | "bytes"
//! event_time = "kafka"                # "kafka" (the record timestamp, default) | { field = "ts" }
//! output = "value"                    # "value" (default) | "envelope"
//! discovery_interval = "5m"           # new partitions and topics; "0s" disables. Default 5 min
//! commit_offsets = true               # commit checkpointed offsets to the group (default true)
//! watermark = { out_of_orderness = "5s", idle_timeout = "1m" }  # defaults; idle_timeout "0s": never idle
//! properties = { "security.protocol" = "SASL_SSL", "sasl.mechanism" = "SCRAM-SHA-512",
//!                "sasl.username" = "spillway", "sasl.password" = "..." }  # any librdkafka property
//! ```
//!
//! `start` applies only to partitions without a position in the restored checkpoint: a restored
//! position always wins. Partitions that appear while the job runs (or after the checkpoint it was
//! restored from) are read from their earliest offset, as in Flink.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use sink_core::{Error, Result};

use crate::secret::Properties;

/// Default time between partition discovery runs (Flink's `partition.discovery.interval.ms`).
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(300);
/// Default bound on how late a record may be, for watermarks.
pub const DEFAULT_OUT_OF_ORDERNESS: Duration = Duration::from_secs(5);
/// Default time after which a partition without records stops holding the watermark back.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default timeout of a request to the brokers while starting (metadata, offsets).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default prefix of the consumer group when none is given: `spillway-{job name}`.
pub const DEFAULT_GROUP_PREFIX: &str = "spillway-";

/// Where a partition without a restored position starts (Flink's starting `OffsetsInitializer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartOffsets {
    /// The earliest offset still in the log (default).
    #[default]
    Earliest,
    /// The end of the log when the reader starts: only records produced later.
    Latest,
    /// The offsets committed by the consumer group; partitions without one start here.
    Committed(ResetTo),
    /// The first record with a timestamp at or after this time (ms since the epoch, or an RFC 3339
    /// string in the job file); partitions with no such record start at their end.
    Timestamp(#[serde(deserialize_with = "de_timestamp")] i64),
    /// Explicit offsets by split id (`"orders/0" = 42`); partitions not listed start at the
    /// earliest offset.
    Offsets(BTreeMap<String, i64>),
}

/// Where to go when there is no committed offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetTo {
    /// The earliest offset (default).
    #[default]
    Earliest,
    /// The end of the log.
    Latest,
}

/// Where a bounded source stops (Flink's stopping `OffsetsInitializer`). Each partition is finished
/// when its next offset reaches its stop offset; the stop offsets are resolved when a partition is
/// first read and kept in checkpoints, so a restarted backfill stops at the same place.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopOffsets {
    /// The end of each partition when the job started.
    Latest,
    /// The first offset with a timestamp at or after this time (exclusive), else the end.
    Timestamp(#[serde(deserialize_with = "de_timestamp")] i64),
    /// Explicit stop offsets (exclusive) by split id; partitions not listed stop at `latest`.
    Offsets(BTreeMap<String, i64>),
}

/// How record values are decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// JSON, decoded once into a `serde_json::Value`; undecodable values are bad records (default).
    #[default]
    Json,
    /// UTF-8 text; invalid UTF-8 is a bad record.
    Text,
    /// Raw bytes, never bad.
    Bytes,
}

/// Where a record's event time comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventTime {
    /// The Kafka record timestamp (create or log-append time) (default).
    #[default]
    Kafka,
    /// A field of a JSON value (dotted path): a number of ms since the epoch or an RFC 3339
    /// string. A record without it is a bad record. Needs `value_format = "json"`.
    Field(String),
}

/// What a record serialises to (JSON lines and other serde encoders).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// The value alone: the JSON value as it was, text as a JSON string, bytes as a base64 string,
    /// a null value (tombstone) as `null` (default).
    #[default]
    Value,
    /// `{"topic", "partition", "offset", "timestamp", "key", "value", "headers"}`: key and header
    /// values as text when they are UTF-8, else `{"base64": "..."}`.
    Envelope,
}

/// Watermarks: per partition, the highest event time seen minus `out_of_orderness`; the reader's
/// watermark is the minimum over its partitions, leaving out partitions idle for `idle_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatermarkConfig {
    /// How late a record may be (default 5 s).
    #[serde(default = "default_ooo", with = "sink_core::units::duration")]
    pub out_of_orderness: Duration,
    /// A partition without records for this long is idle (default 1 min; zero: never idle).
    #[serde(default = "default_idle", with = "sink_core::units::duration")]
    pub idle_timeout: Duration,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        WatermarkConfig {
            out_of_orderness: DEFAULT_OUT_OF_ORDERNESS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

fn default_ooo() -> Duration {
    DEFAULT_OUT_OF_ORDERNESS
}
fn default_idle() -> Duration {
    DEFAULT_IDLE_TIMEOUT
}
fn default_discovery() -> Duration {
    DEFAULT_DISCOVERY_INTERVAL
}
fn default_true() -> bool {
    true
}

/// The `[source]` table of a job file with `type = "kafka"` (the CLI strips `type`). See the
/// [module documentation](self) for every key with its default.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers: `"host:port,host:port"` or a list.
    #[serde(deserialize_with = "de_brokers")]
    pub brokers: Vec<String>,
    /// Topics to read (this or `topic_pattern`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regex; every topic whose whole name matches is read, including topics created later.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The consumer group offsets are committed to (default `spillway-{job name}`).
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where partitions without a restored position start (default earliest).
    #[serde(default)]
    pub start: StartOffsets,
    /// Bounded mode: where to stop (default: unbounded).
    #[serde(default)]
    pub stop: Option<StopOffsets>,
    /// How values are decoded (default json).
    #[serde(default)]
    pub value_format: ValueFormat,
    /// Where event time comes from (default the Kafka timestamp).
    #[serde(default)]
    pub event_time: EventTime,
    /// Watermark settings.
    #[serde(default)]
    pub watermark: WatermarkConfig,
    /// Time between partition discovery runs (default 5 min; zero disables; bounded mode never
    /// discovers).
    #[serde(default = "default_discovery", with = "sink_core::units::duration")]
    pub discovery_interval: Duration,
    /// Commit checkpointed offsets to the consumer group, for monitoring (default true).
    #[serde(default = "default_true")]
    pub commit_offsets: bool,
    /// librdkafka properties passed through (`security.protocol`, `sasl.*`, `ssl.*`, ...).
    #[serde(default, deserialize_with = "de_properties")]
    pub properties: Properties,
    /// What a record serialises to (default value).
    #[serde(default)]
    pub output: OutputMode,
}

/// A split id: `"{topic}/{partition}"`.
pub fn split_id(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Parses a split id `"{topic}/{partition}"`.
pub fn parse_split_id(id: &str) -> Option<(&str, i32)> {
    let (t, p) = id.rsplit_once('/')?;
    let p: i32 = p.parse().ok()?;
    (!t.is_empty() && p >= 0).then_some((t, p))
}

/// Checks explicit offsets by split id and turns them into `(topic, partition) -> offset`.
pub(crate) fn parse_offsets(
    field: &str,
    offsets: &BTreeMap<String, i64>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let mut out = BTreeMap::new();
    for (id, &off) in offsets {
        let (t, p) = parse_split_id(id).ok_or_else(|| {
            Error::config(
                field,
                format!("{id:?} is not a split id of the form \"topic/partition\""),
            )
        })?;
        if off < 0 {
            return Err(Error::config(
                field,
                format!("offset {off} of {id:?} must be at least 0"),
            ));
        }
        out.insert((t.to_string(), p), off);
    }
    Ok(out)
}

/// Parses a time as ms since the epoch: an integer, or an RFC 3339 string.
pub fn parse_timestamp(s: &str) -> std::result::Result<i64, String> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{s:?} is neither ms since the epoch nor an RFC 3339 time: {e}"))
}

fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("ms since the epoch or an RFC 3339 time such as \"2026-11-24T00:00:00Z\"")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<i64, E> {
            i64::try_from(v).map_err(E::custom)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<i64, E> {
            parse_timestamp(v).map_err(E::custom)
        }
        // A bare TOML datetime (`timestamp = 2026-11-24T00:00:00Z`) arrives as a one-entry map.
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<i64, A::Error> {
            let Some((_, v)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::custom("expected a time"));
            };
            parse_timestamp(&v).map_err(de::Error::custom)
        }
    }
    d.deserialize_any(V)
}

fn de_brokers<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|s| s.trim().to_string()).collect(),
        OneOrMany::Many(v) => v.into_iter().map(|s| s.trim().to_string()).collect(),
    };
    Ok(list)
}

fn de_properties<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Properties, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    let m = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> std::result::Result<KafkaSourceConfig, String> {
        toml::from_str(s).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_has_the_documented_defaults() {
        let c = parse("brokers = \"a:9092, b:9092\"\ntopics = [\"orders\"]").unwrap();
        assert_eq!(c.brokers, ["a:9092", "b:9092"]);
        assert_eq!(c.start, StartOffsets::Earliest);
        assert_eq!(c.stop, None);
        assert_eq!(c.value_format, ValueFormat::Json);
        assert_eq!(c.event_time, EventTime::Kafka);
        assert_eq!(c.output, OutputMode::Value);
        assert_eq!(c.discovery_interval, DEFAULT_DISCOVERY_INTERVAL);
        assert_eq!(c.watermark, WatermarkConfig::default());
        assert!(c.commit_offsets);
        assert!(c.properties.is_empty());
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            r#"
            brokers = ["a:9092"]
            topic_pattern = "orders-.*"
            group_id = "g"
            start = { timestamp = "2026-11-24T00:00:00Z" }
            stop = { offsets = { "orders-1/0" = 100 } }
            value_format = "text"
            event_time = { field = "meta.ts" }
            output = "envelope"
            discovery_interval = "30s"
            commit_offsets = false
            watermark = { out_of_orderness = "2s", idle_timeout = "0s" }
            properties = { "security.protocol" = "SASL_SSL", "fetch.max.bytes" = 1048576, "enable.ssl.certificate.verification" = false }
            "#,
        )
        .unwrap();
        assert_eq!(c.start, StartOffsets::Timestamp(1_795_478_400_000));
        assert_eq!(
            c.stop,
            Some(StopOffsets::Offsets(BTreeMap::from([(
                "orders-1/0".to_string(),
                100
            )])))
        );
        assert_eq!(c.event_time, EventTime::Field("meta.ts".into()));
        assert_eq!(c.watermark.idle_timeout, Duration::ZERO);
        assert_eq!(c.properties.get("fetch.max.bytes"), Some("1048576"));
        assert_eq!(
            c.properties.get("enable.ssl.certificate.verification"),
            Some("false")
        );
        assert_eq!(c.discovery_interval, Duration::from_secs(30));
    }

    #[test]
    fn start_variants() {
        let start = |s: &str| parse(&format!("brokers = \"a\"\ntopics = [\"t\"]\nstart = {s}"));
        assert_eq!(start("\"latest\"").unwrap().start, StartOffsets::Latest);
        assert_eq!(
            start("{ committed = \"latest\" }").unwrap().start,
            StartOffsets::Committed(ResetTo::Latest)
        );
        assert_eq!(
            start("{ timestamp = 1795478400000 }").unwrap().start,
            StartOffsets::Timestamp(1_795_478_400_000)
        );
        assert_eq!(
            start("{ timestamp = 2026-11-24T00:00:00Z }").unwrap().start,
            StartOffsets::Timestamp(1_795_478_400_000)
        );
        assert_eq!(
            start("{ offsets = { \"t/0\" = 42 } }").unwrap().start,
            StartOffsets::Offsets(BTreeMap::from([("t/0".to_string(), 42)]))
        );
        let e = start("\"newest\"").unwrap_err();
        assert!(e.contains("unknown variant `newest`"), "{e}");
        let e = start("{ timestamp = \"yesterday\" }").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
    }

    #[test]
    fn typos_are_errors() {
        let e = parse("brokers = \"a\"\ntopic = [\"t\"]").unwrap_err();
        assert!(e.contains("unknown field `topic`"), "{e}");
        let e =
            parse("brokers = \"a\"\ntopics = [\"t\"]\nwatermark = { idle = \"1s\" }").unwrap_err();
        assert!(e.contains("unknown field `idle`"), "{e}");
        let e =
            parse("brokers = \"a\"\ntopics = [\"t\"]\ndiscovery_interval = \"often\"").unwrap_err();
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn split_ids() {
        assert_eq!(parse_split_id("orders/3"), Some(("orders", 3)));
        assert_eq!(parse_split_id("a/b/12"), Some(("a/b", 12)));
        assert_eq!(parse_split_id("orders"), None);
        assert_eq!(parse_split_id("/1"), None);
        assert_eq!(parse_split_id("x/-1"), None);
        assert!(parse_offsets("f", &BTreeMap::from([("x".into(), 1)])).is_err());
        assert!(parse_offsets("f", &BTreeMap::from([("x/0".into(), -1)])).is_err());
    }
}
