//! How a connector's table of a job file becomes part of a file sink: the contracts between the
//! program that reads the job file (Spillway's CLI) and the connectors that own the tables.
//!
//! A connector owns some keys of a table: a format owns keys of `[sink]` (`parquet` and `schema`
//! for `format = "parquet"`), a storage connector owns a key of `[sink]` and of `[checkpoint]`
//! (`object_store`). It gives a serde type of those keys (a *section*: `Deserialize + Default`,
//! one field per key), and the parsed section builds the connector's part through one of the
//! traits here:
//!
//! * [`FormatFactory`]: the row encoder or bulk writer factory of `format = "…"`, as a
//!   [`SinkFormat`]; [`FormatSection`] is the part of it that does not depend on the record type.
//! * [`StorageFactory`]: the URL schemes a storage connector serves, and the target and checkpoint
//!   store of such a URL.
//!
//! The program reads the sections of the connectors it was built with, refuses a section whose
//! connector is not in use (`[sink.parquet]` with `format = "json"`, `[sink.hdfs]` for an `s3://`
//! path), and builds through the one in use. Local disk is built into the program.
//!
//! # Errors
//!
//! Every config error a factory returns names its field relative to the table that holds the
//! section (`object_store.part_size`, `parquet.compression_level`, `sequence_file.level`): the
//! connector's own option types name fields relative to their table (`part_size`), and the
//! section puts its key in front with [`in_table`]. The program puts the job file's table in front
//! once (`sink.object_store.part_size`). A problem with the URL itself names the field `url`; the
//! program names it after the key the URL came from (`sink.path`).

use std::fmt;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::fs::DynWriter;
use crate::runtime::DynCheckpointStore;
use crate::sink::{BulkWriterFactory, RowEncoder};

/// What a format gives the file sink: rows appended to parts that may stay open across
/// checkpoints, or whole files from a bulk writer (parts roll at every checkpoint).
pub enum SinkFormat<T> {
    /// A row format.
    Row(Box<dyn RowEncoder<T>>),
    /// A bulk format.
    Bulk(Box<dyn BulkWriterFactory<T>>),
}

impl<T: 'static> SinkFormat<T> {
    /// A row format of `encoder`.
    pub fn row(encoder: impl RowEncoder<T>) -> Self {
        SinkFormat::Row(Box::new(encoder))
    }

    /// A bulk format of `factory`.
    pub fn bulk(factory: impl BulkWriterFactory<T>) -> Self {
        SinkFormat::Bulk(Box::new(factory))
    }

    /// True for a bulk format.
    pub fn is_bulk(&self) -> bool {
        matches!(self, SinkFormat::Bulk(_))
    }
}

impl<T> fmt::Debug for SinkFormat<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkFormat::Row(_) => "SinkFormat::Row",
            SinkFormat::Bulk(_) => "SinkFormat::Bulk",
        })
    }
}

/// The part of a parsed format section that does not depend on the record type.
pub trait FormatSection: Send + Sync + fmt::Debug {
    /// The format's name in `format = "…"` (`"parquet"`). Constant for a type.
    fn name(&self) -> &'static str;
}

/// A parsed format section, which builds the format for records of type `T`.
///
/// Guarantees asked of an implementation: [`build`](Self::build) does no I/O and is repeatable
/// (a program may build once to check a job file and again to run it); it checks everything the
/// section holds that it can check without data, so that a mistake is found before a job starts;
/// its config errors name fields as the [module](self) says.
pub trait FormatFactory<T>: FormatSection {
    /// The row encoder or bulk writer factory of the section's settings.
    fn build(&self) -> Result<SinkFormat<T>>;

    /// Flink's `BucketingSink` writer of the same name (`writer = "…"` with `api = "bucketing"`),
    /// from the table the facade keeps for it (`BucketingSinkConfig::sequence_file`, as JSON), and
    /// a description of it for `spillway validate`. `None`: the format has no such writer (the
    /// default).
    fn bucketing_writer(
        &self,
        table: Option<&serde_json::Value>,
    ) -> Option<Result<(SinkFormat<T>, String)>> {
        let _ = table;
        None
    }
}

/// A parsed storage section (`[sink.object_store]`, `[checkpoint.hdfs]`, ...), which builds targets
/// and checkpoint stores for the URL schemes its connector serves.
///
/// Guarantees asked of an implementation: the declarations ([`schemes`](Self::schemes),
/// [`listed_schemes`](Self::listed_schemes), [`urls`](Self::urls)) are constants of the type, so
/// that a default section answers for any; [`validate`](Self::validate) and
/// [`validate_for_checkpoints`](Self::validate_for_checkpoints) do no I/O; `target` and
/// `checkpoint_store` fail at once, with a clear error, when the storage cannot be reached or
/// written (rather than at the first checkpoint). Config errors name fields as the [module](self)
/// says.
#[async_trait]
pub trait StorageFactory: Send + Sync + fmt::Debug {
    /// The URL schemes served, lowercase, without `://` (`["hdfs", "viewfs"]`).
    fn schemes(&self) -> &'static [&'static str];

    /// The schemes to name where a program lists what it supports, in order (a subset of
    /// [`schemes`](Self::schemes): `["s3", "memory"]`).
    fn listed_schemes(&self) -> &'static [&'static str];

    /// What such URLs are called in "only applies to …" messages: `"an hdfs:// URL"`.
    fn urls(&self) -> &'static str;

    /// Checks the settings, without I/O. The default accepts everything.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Refuses settings that only part files use, for the section of a checkpoint store (after
    /// [`validate`](Self::validate)). The default accepts everything.
    fn validate_for_checkpoints(&self) -> Result<()> {
        Ok(())
    }

    /// The target of `url`, one of [`schemes`](Self::schemes).
    async fn target(&self, url: &str) -> Result<DynWriter>;

    /// The checkpoint store of `url`, one of [`schemes`](Self::schemes).
    async fn checkpoint_store(&self, url: &str) -> Result<DynCheckpointStore>;
}

/// Names a config error's field inside `table`: `part_size` becomes `object_store.part_size`, and
/// `object_store.part_size` becomes `sink.object_store.part_size`. `url` (see the [module](self))
/// and a field that already starts at a job file's top table (`sink.…`, `checkpoint.…`,
/// `source.…`: some connectors name whole paths) stay as they are, as does every other error.
/// An empty field (the table itself is wrong) becomes `table`.
pub fn in_table(table: &str, e: Error) -> Error {
    const TOP: &[&str] = &["job", "source", "sink", "checkpoint"];
    match e {
        Error::Config { field, message } => {
            let top = field.split('.').next().unwrap_or_default();
            let field = if field.is_empty() {
                table.to_string()
            } else if field == "url" || TOP.contains(&top) {
                field
            } else {
                format!("{table}.{field}")
            };
            Error::Config { field, message }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_inside_their_table_once() {
        let field = |e: Error| match e {
            Error::Config { field, .. } => field,
            other => panic!("{other}"),
        };
        // (table, field, named)
        for (table, given, want) in [
            ("object_store", "part_size", "object_store.part_size"),
            (
                "sink",
                "object_store.part_size",
                "sink.object_store.part_size",
            ),
            ("sink", "sink.path", "sink.path"),
            ("hdfs", "checkpoint.hdfs", "checkpoint.hdfs"),
            ("object_store", "url", "url"),
            ("sink.csv", "", "sink.csv"),
        ] {
            assert_eq!(field(in_table(table, Error::config(given, "x"))), want);
        }
        assert!(matches!(
            in_table("sink", Error::Internal("x".into())),
            Error::Internal(_)
        ));
    }
}
