//! Spillway's Kafka source: exactly-once Kafka-to-files ingestion over
//! [rdkafka](https://docs.rs/rdkafka) (librdkafka, built from its bundled sources), modelled on
//! Apache Flink's `KafkaSource`.
//!
//! * [`KafkaSource`] (built with [`KafkaSource::builder`] or [`KafkaSource::from_config`]) is a
//!   [`Source`](sink_core::runtime::Source) of [`KafkaRecord`]s: topic partitions are its splits,
//!   each subtask reads the partitions it owns by Flink's fixed rule, offsets live in the job's
//!   checkpoints and are committed to the consumer group when a checkpoint completes.
//! * [`KafkaSourceConfig`] is the job file's `[source]` table (`type = "kafka"`); see [`config`]
//!   for every key and its default.
//! * [`KafkaRecord`] serialises to the value alone or to an envelope ([`OutputMode`]), displays as
//!   its value, and exposes envelope and JSON fields to field bucketing and CSV
//!   ([`FieldAccess`](sink_core::sink::FieldAccess)).
//! * [`Properties`] passes any librdkafka property through (SASL, TLS) and keeps secrets out of
//!   logs, errors and `Debug` output.
//!
//! Features: `ssl` (TLS and SASL SCRAM; OpenSSL built from source) and `zstd`, both on by default.
//!
//! Code layout: `source.rs` (the source, its builder and validated settings), `reader.rs` (a
//! subtask's reader: polling, decoding, watermarks, snapshots and commits), `splits.rs` (a
//! partition's position and the blocking broker look-ups that place it), `context.rs` (the
//! client context: librdkafka's logs and commit results, closing the consumer), `record.rs`,
//! `secret.rs` and `config.rs`.
#![warn(missing_docs)]

pub mod config;
mod context;
mod reader;
mod record;
mod secret;
mod source;
mod splits;

pub use config::{
    parse_split_id, split_id, EventTime, KafkaSourceConfig, OutputMode, ResetTo, StartOffsets,
    StopOffsets, ValueFormat, WatermarkConfig, DEFAULT_DISCOVERY_INTERVAL, DEFAULT_GROUP_PREFIX,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_OUT_OF_ORDERNESS, DEFAULT_REQUEST_TIMEOUT,
};
pub use record::{KafkaRecord, Payload};
pub use secret::{is_secret, Properties, REDACTED};
pub use source::{KafkaSource, KafkaSourceBuilder};
