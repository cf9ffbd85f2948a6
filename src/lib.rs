//! # Spillway
//!
//! Kafka streams into files, exactly once: a command-line program that runs an ingestion job from
//! a TOML file, and the crates it is built from, for pipelines that embed the sink.
//!
//! This crate is the facade: the engine is [`core`] (re-exported as [`fs`], [`sink`] and
//! [`runtime`]); connectors are re-exported by cargo feature. [`config`] and [`build`] are the CLI's
//! job file and its wiring, public so that programs can run job files too; [`registry`] lists the
//! formats and storage this build was compiled with, [`formats`] the row formats built in.
#![warn(missing_docs)]

pub use sink_core as core;
pub use sink_core::{fs, runtime, sink, Error, ErrorKind, Result};

/// HDFS targets and checkpoint stores (feature `hdfs`).
#[cfg(feature = "hdfs")]
pub use connector_hdfs as hdfs;
/// The Kafka source (feature `kafka`).
#[cfg(feature = "kafka")]
pub use connector_kafka as kafka;
/// Object-store targets and checkpoint stores (feature `object-store`).
#[cfg(feature = "object-store")]
pub use connector_object_store as object_store;
/// Apache Parquet output (feature `parquet`).
#[cfg(feature = "parquet")]
pub use connector_parquet as parquet;
/// Hadoop SequenceFile output (feature `sequencefile`).
#[cfg(feature = "sequencefile")]
pub use connector_sequencefile as sequencefile;

pub mod build;
pub mod config;
pub mod formats;
pub mod http;
pub mod registry;
pub mod report;
