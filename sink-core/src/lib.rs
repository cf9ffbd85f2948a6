//! Spillway's engine: an exactly-once file sink in the model of Apache Flink's `FileSink`, the
//! storage contract its targets implement, and a small checkpointing runtime that drives it.
//!
//! * [`fs`]: the [`RecoverableWriter`](fs::RecoverableWriter) contract, the local-disk target and
//!   (feature `testing`) the conformance suite every target passes.
//! * [`sink`]: [`FileSink`](sink::FileSink): bucket assigners, rolling policies, row encoders, bulk
//!   writers, two-phase commit and its versioned state.
//! * [`runtime`]: sources, transforms, subtasks, the checkpoint coordinator and checkpoint storage.
//! * [`units`]: sizes and durations, one grammar for every key of a job file.
//! * [`wiring`]: the contracts by which connectors build formats and storage from their tables.
#![warn(missing_docs)]

pub mod error;
pub mod fs;
pub mod retry;
pub mod runtime;
pub mod sink;
#[cfg(any(test, feature = "testing"))]
pub mod test_support;
pub mod units;
pub mod wiring;

pub use error::{Error, ErrorKind, Result};
