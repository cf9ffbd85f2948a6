//! The one public error type of `sink-core`.
//!
//! Every variant says what failed and where: a path, a checkpoint file, a configuration field or the
//! origin of a record (split and position). Errors are classified with [`Error::kind`] as the user's
//! (bad configuration or input), the outside world's (storage or network, often worth a retry) or
//! ours (a broken invariant: a bug).

use std::fmt;

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
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::AlreadyExists
                | std::io::ErrorKind::InvalidInput
                | std::io::ErrorKind::InvalidData => ErrorKind::User,
                _ => ErrorKind::External,
            },
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
}
