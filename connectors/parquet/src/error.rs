//! The Parquet writer's failures: what it was doing when parquet (or building a batch for it)
//! failed, returned to the sink as [`sink_core::Error::Format`].

use std::fmt;

use sink_core::error::BoxError;
use sink_core::Error;

/// The format's name in [`Error::Format`].
pub(crate) const FORMAT: &str = "Parquet";

/// A failure of parquet's `ArrowWriter` or of the batch built for it, with what was being done:
/// `open`, `build batch`, `write`, `flush`, `finish`. An encoder thread keeps it (shared, as every
/// later call of the part returns it again).
#[derive(Debug)]
pub(crate) struct WriteFailure {
    op: &'static str,
    source: BoxError,
}

impl WriteFailure {
    pub(crate) fn new(op: &'static str, source: impl Into<BoxError>) -> Self {
        WriteFailure {
            op,
            source: source.into(),
        }
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.source)
    }
}

impl std::error::Error for WriteFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// A failure as the sink's error. `location` is the part's bucket directory
/// ([`sink_core::error::bucket_dir`]); none for a writer used without a sink.
pub(crate) fn format_error(location: Option<&str>, failure: impl Into<BoxError>) -> Error {
    Error::format(FORMAT, location, failure)
}
