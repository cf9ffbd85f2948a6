//! The one public error type of `sink-core`.
//!
//! Every variant says what failed and where: a path, a checkpoint file, a configuration field or the
//! origin of a record (split and position). Errors are classified with [`Error::kind`] as the user's
//! (bad configuration or input), the outside world's (storage or network, often worth a retry) or
//! ours (a broken invariant: a bug).

use std::fmt;

use crate::fs::RelPath;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error from a lower layer (an I/O library, a client crate).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Who is responsible for an error, and so what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's: a configuration mistake, bad input data, a corrupt checkpoint. Retrying will not help.
    User,
    /// The outside world's: a storage or network failure. Retrying may help.
    External,
    /// Ours: an invariant of Spillway broke. Please report it.
    Internal,
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("create", "rename", "fsync", ...).
        op: &'static str,
        /// The path it was done to.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A storage target (local disk, object store, HDFS) failed.
    #[error("{target}: {op} {path}: {source}")]
    Storage {
        /// Which target ("s3://bucket/prefix", "hdfs://nn:9000/lake", ...).
        target: String,
        /// What was being done.
        op: &'static str,
        /// The path or key.
        path: String,
        /// The underlying error.
        source: BoxError,
    },

    /// Bytes the engine relies on are gone or have the wrong length: the storage lost data, or two
    /// jobs write into the same place.
    #[error("{path}: {message}")]
    Lost {
        /// The part file or object.
        path: String,
        /// What was expected and what was found.
        message: String,
    },

    /// A part file name is taken: a published file, or in-progress or pending data, already has
    /// it. Targets whose in-progress names carry no unique suffix (legacy naming) return it from
    /// `open`; the sink then picks the next name.
    #[error("{path}: name in use ({message})")]
    NameInUse {
        /// The final path that was asked for.
        path: String,
        /// What holds the name.
        message: String,
    },

    /// A path is not allowed: absolute, escaping the root, or containing forbidden characters.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// Why it is refused.
        reason: String,
    },

    /// A configuration value is wrong.
    #[error("{field}: {message}")]
    Config {
        /// The field, as the user wrote it (`sink.rolling.max_part_size`).
        field: String,
        /// What is wrong and what is accepted.
        message: String,
    },

    /// A checkpoint file cannot be read or does not make sense.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// A record could not be decoded, assigned to a bucket or encoded, and the job's bad-record
    /// policy is `fail`.
    #[error("bad record at {origin}: {reason}")]
    BadRecord {
        /// Where the record came from (`orders/3@1200`, `generator split 2 #77`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A source failed.
    #[error("source {source_name}: {message}")]
    Source {
        /// The source's name.
        source_name: String,
        /// What failed.
        message: String,
    },

    /// A file format's writer failed: parquet's `ArrowWriter` refused a batch, an encoder thread
    /// panicked, a SequenceFile block could not be compressed, or the output of a format's own
    /// writer failed. The records were not the cause (a record that does not fit is a
    /// [`BadRecord`](Error::BadRecord) and never reaches the encoder), so this is ours
    /// ([`ErrorKind::Internal`]) unless an I/O error is among its sources, which is classified as
    /// [`Error::Io`] is.
    #[error("{format} writer{}: {source}", at(.path))]
    Format {
        /// The format ("Parquet", "SequenceFile").
        format: &'static str,
        /// Where the writer was writing: the part file, or its bucket's directory ending in `/`
        /// ([`bucket_dir`]) when the writer was told only the bucket, as bulk writers are. `None`
        /// for a writer used without a sink, which does not know where its bytes go.
        path: Option<String>,
        /// The underlying error.
        source: BoxError,
    },

    /// The job was asked to stop before it could finish this operation.
    #[error("cancelled: {0}")]
    Cancelled(String),

    /// An invariant broke. This is a bug in Spillway.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_string(),
            source,
        }
    }

    /// Builds an [`Error::Config`].
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Builds an [`Error::Storage`].
    pub fn storage(
        target: impl fmt::Display,
        op: &'static str,
        path: impl fmt::Display,
        source: impl Into<BoxError>,
    ) -> Self {
        Error::Storage {
            target: target.to_string(),
            op,
            path: path.to_string(),
            source: source.into(),
        }
    }

    /// Builds an [`Error::Lost`].
    pub fn lost(path: impl fmt::Display, message: impl Into<String>) -> Self {
        Error::Lost {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// Builds an [`Error::Format`].
    pub fn format(format: &'static str, path: Option<&str>, source: impl Into<BoxError>) -> Self {
        Error::Format {
            format,
            path: path.map(str::to_owned),
            source: source.into(),
        }
    }

    /// Builds an [`Error::Checkpoint`].
    pub fn checkpoint(path: impl fmt::Display, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// Who is responsible, and so whether a retry may help.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => io_kind(source),
            // An encoder given only records checked against its schema, writing into memory, has
            // no reason to fail: a failure is a broken invariant (ours or the format library's),
            // and a retry would fail the same way. An I/O error of a writer's own output (found
            // anywhere in the chain of sources) is the outside world's or the user's.
            Error::Format { source, .. } => {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
                while let Some(c) = cause {
                    if let Some(io) = c.downcast_ref::<std::io::Error>() {
                        return io_kind(io);
                    }
                    cause = c.source();
                }
                ErrorKind::Internal
            }
            Error::Storage { .. } | Error::Source { .. } => ErrorKind::External,
            Error::Lost { .. }
            | Error::NameInUse { .. }
            | Error::InvalidPath { .. }
            | Error::Config { .. }
            | Error::Checkpoint { .. }
            | Error::BadRecord { .. } => ErrorKind::User,
            Error::Cancelled(_) => ErrorKind::External,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// True when retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::External && !matches!(self, Error::Cancelled(_))
    }
}

/// Who is responsible for an I/O error: the user for a path that is refused, missing or taken, or
/// for data that is invalid; the outside world otherwise.
fn io_kind(e: &std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied
        | std::io::ErrorKind::NotFound
        | std::io::ErrorKind::AlreadyExists
        | std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData => ErrorKind::User,
        _ => ErrorKind::External,
    }
}

/// ` at {path}` in the message of an [`Error::Format`] that knows where it was writing.
fn at(path: &Option<String>) -> String {
    path.as_ref()
        .map_or_else(String::new, |p| format!(" at {p}"))
}

/// The `path` of an [`Error::Format`] for a part of `bucket` whose writer knows only the bucket
/// (a [`BulkWriterFactory`](crate::sink::BulkWriterFactory) is given the bucket, not the part's
/// file name): the bucket's directory with a trailing `/`, as `country=DE/`, and `./` for the
/// base path, so that no error names an empty path.
pub fn bucket_dir(bucket: &RelPath) -> String {
    if bucket.is_root() {
        "./".to_string()
    } else {
        format!("{bucket}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_and_where() {
        let e = Error::io(
            "create",
            "/lake/a",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(e.to_string().starts_with("create /lake/a: "), "{e}");
        assert_eq!(e.kind(), ErrorKind::User);
        let e = Error::config("sink.rolling.max_part_size", "must be at least 1 byte");
        assert_eq!(
            e.to_string(),
            "sink.rolling.max_part_size: must be at least 1 byte"
        );
        let e = Error::BadRecord {
            origin: "orders/3@1200".into(),
            reason: "missing field `ts`".into(),
        };
        assert_eq!(
            e.to_string(),
            "bad record at orders/3@1200: missing field `ts`"
        );
        assert!(!e.is_retryable());
        let e = Error::storage(
            "s3://b",
            "put",
            "k",
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn format_errors_name_the_format_and_where() {
        let bucket = RelPath::parse("dt=2026-11-24/hour=13").unwrap();
        let e = Error::format(
            "Parquet",
            Some(&bucket_dir(&bucket)),
            "write: the batch's schema differs",
        );
        assert_eq!(
            e.to_string(),
            "Parquet writer at dt=2026-11-24/hour=13/: write: the batch's schema differs"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(!e.is_retryable());
        let e = Error::format("Parquet", Some(&bucket_dir(&RelPath::root())), "x");
        assert_eq!(e.to_string(), "Parquet writer at ./: x");
        // A writer without a sink does not know its path, and says nothing of one.
        let e = Error::format("SequenceFile", None, "compressing a block failed: panic");
        assert_eq!(
            e.to_string(),
            "SequenceFile writer: compressing a block failed: panic"
        );
        // The output's own I/O errors are classified as I/O errors are.
        let io = |k| Error::format("SequenceFile", None, std::io::Error::from(k));
        assert_eq!(
            io(std::io::ErrorKind::BrokenPipe).kind(),
            ErrorKind::External
        );
        assert!(io(std::io::ErrorKind::BrokenPipe).is_retryable());
        assert_eq!(
            io(std::io::ErrorKind::PermissionDenied).kind(),
            ErrorKind::User
        );
        let e = io(std::io::ErrorKind::BrokenPipe);
        let source = std::error::Error::source(&e).expect("the source is kept");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
