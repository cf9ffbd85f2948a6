//! Hadoop SequenceFiles from Spillway: a writer of the format (version 6, as Hadoop 2.x and 3.x
//! write it) with the Writables `Text`, `BytesWritable`, `LongWritable`, `IntWritable` and
//! `NullWritable`, no compression, record compression or block compression, and the codecs Hadoop's
//! Java reader decodes without native libraries: zlib (`DefaultCodec`), gzip (`GzipCodec`) and
//! bzip2 (`BZip2Codec`, feature `bzip2`). Every combination is read back by Hadoop's own reader
//! (`hadoop fs -text`) in the tests.
//!
//! | use | type |
//! | --- | --- |
//! | a row format of the file sink (none/record compression; parts resume in place after a crash) | [`SequenceFileEncoder`] |
//! | a bulk format of the file sink (any compression; parts roll at each checkpoint) | [`SequenceFileWriterFactory`] |
//! | one file on any `std::io::Write` | [`Writer`] |
//! | the `[sink.sequence_file]` table of a job file | [`SequenceFileConfig`]; [`SequenceFileSection`] builds the format from it for the CLI |
//! | Flink's `SequenceFileWriter` for the `BucketingSink` facade (`sink_core::sink::bucketing`) | [`SequenceFileWriter`] |
//!
//! Records become keys and values through a [`KeyValueMapper`]: a pair of [`Writable`]s, your own
//! [`SequenceRecord`], named fields ([`FieldMapper`]) or closures ([`FnMapper`]).
//!
//! # Speed
//!
//! `cargo bench -p connector-sequencefile --bench sequencefile` writes the same 2,000,000
//! generator events as JSON lines and as SequenceFiles and prints each rate, its ratio to JSON
//! lines against the rule (uncompressed and block-compressed at least 0.5 x JSON lines) and the
//! CPU time of all threads. Measured on a shared 2-core VM (medians of three runs of three rounds):
//!
//! | format | rate / JSON lines | CPU time / JSON lines |
//! | --- | --- | --- |
//! | uncompressed | 0.85 to 0.9 | 1.15 |
//! | block, zlib or gzip (level 1, 1,000,000-byte blocks) | 0.4 to 0.95, median about 0.5 | 3.0 |
//! | record, zlib (not under the rule) | 0.05 | 25 |
//!
//! Block compression costs about three times the CPU of JSON lines (deflate of every byte at about
//! 300 MB/s), and the blocks are deflated on background threads while the sink's task encodes
//! the next ones: with a free second core the rate is about 0.6 to 0.95 x JSON lines; with the
//! other core busy it falls towards 1/3. Record compression deflates every value as a stream of its
//! own, and zlib-rs clears its hash tables for every one; use block compression.

#![warn(missing_docs)]

mod bucketing;
pub mod codec;
mod config;
pub mod format;
pub mod hadoop;
mod mapping;
mod options;
mod pool;
mod sink;
pub mod vint;
mod wiring;
pub mod writable;
mod writer;

pub use bucketing::SequenceFileWriter;
pub use codec::Codec;
pub use config::{SequenceFileConfig, SequenceFileFormat, WritableConfig};
pub use format::{CompressionType, Header, SyncMarker, DEFAULT_BLOCK_SIZE, SYNC_INTERVAL};
pub use mapping::{
    BytesWritable, FieldMapper, FnMapper, KeyValueMapper, SequenceRecord, SequenceRecordMapper,
    Writable, WritableSpec,
};
pub use options::SequenceFileOptions;
pub use sink::{SequenceFileEncoder, SequenceFileWriterFactory, SEQUENCE_FILE_SUFFIX};
pub use wiring::SequenceFileSection;
pub use writable::WritableType;
pub use writer::Writer;

use sink_core::sink::EncodeError;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong.
    #[error("{field}: {message}")]
    Config {
        /// The setting (`compression`, `key`, `block_size`, ...).
        field: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// A record cannot be written.
    #[error("record: {0}")]
    Record(EncodeError),
    /// Writing to the inner writer failed.
    #[error("write: {0}")]
    Io(#[source] std::io::Error),
    /// A block could not be compressed: its compression thread panicked or is gone
    /// ([`Writer::sync`], [`Writer::finish`]).
    #[error("{0}")]
    Compression(#[source] EncodeError),
    /// The writer was used after [`Writer::finish`].
    #[error("the file is finished")]
    Finished,
}

impl Error {
    fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The format's name in [`sink_core::Error::Format`].
const FORMAT: &str = "SequenceFile";

/// Config errors keep their field, named inside the `[sink.sequence_file]` table (`block_size`);
/// [`SequenceFileSection`] puts the table in front for the CLI. A [`Writer`]'s I/O and compression
/// errors become [`sink_core::Error::Format`] without a path: the writer does not know where its
/// inner writer's bytes go (an I/O error keeps its classification: the kind looks through to it).
impl From<Error> for sink_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { field, message } => sink_core::Error::config(field, message),
            e @ (Error::Io(_) | Error::Compression(_)) => sink_core::Error::format(FORMAT, None, e),
            other => sink_core::Error::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink_core::ErrorKind;

    #[test]
    fn writer_errors_become_format_errors_without_an_empty_path() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let e = sink_core::Error::from(Error::Io(io));
        assert!(
            matches!(
                &e,
                sink_core::Error::Format {
                    format: "SequenceFile",
                    path: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "SequenceFile writer: write: broken pipe");
        // The I/O error inside keeps its classification.
        assert_eq!(e.kind(), ErrorKind::External);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            sink_core::Error::from(Error::Io(denied)).kind(),
            ErrorKind::User
        );
        let e = sink_core::Error::from(Error::Compression(EncodeError(
            "compressing a block failed: compression panicked".into(),
        )));
        assert_eq!(
            e.to_string(),
            "SequenceFile writer: compressing a block failed: compression panicked"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
        // Named inside its table: the CLI's section puts `sink.sequence_file.` in front.
        let e = sink_core::Error::from(Error::config("block_size", "must be at least 1"));
        assert_eq!(e.to_string(), "block_size: must be at least 1");
    }
}
