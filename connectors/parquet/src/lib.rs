//! Parquet files for Spillway's [`FileSink`](sink_core::sink::FileSink): a bulk format over the
//! `parquet` crate's `ArrowWriter`, for records checked one by one against a schema, and
//! partitioned (Hive-style) lakes that DuckDB, pyarrow, Spark and Trino read.
//!
//! * [`ParquetWriterFactory`]: the [`BulkWriterFactory`](sink_core::sink::BulkWriterFactory) to
//!   give to [`FileSink::for_bulk_format`](sink_core::sink::FileSink::for_bulk_format). Records
//!   are any `T: Serialize` (structs, maps, `serde_json::Value`).
//! * [`SchemaConfig`]: the columns, from a job file's `[sink.schema]` (or give an Arrow schema).
//! * [`ParquetOptions`]: the writer's settings, from `[sink.parquet]`.
//! * [`ParquetSection`]: both tables as the CLI reads them, which builds the format
//!   (`sink_core::wiring::FormatFactory`).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use connector_parquet::{ParquetOptions, ParquetWriterFactory, SchemaConfig};
//! use sink_core::fs::LocalTarget;
//! use sink_core::sink::{Context, FieldBucketAssigner, FileSink, WriteError, WriterContext};
//!
//! let schema: SchemaConfig = toml::from_str(r#"
//!     fields = [
//!       { name = "id", type = "uint64", nullable = false },
//!       { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
//!       { name = "country", type = "string" },
//!     ]
//! "#).unwrap();
//! let options = ParquetOptions::default().with_drop_columns(["country"]);
//! let factory = ParquetWriterFactory::<serde_json::Value>::for_serde_with_schema_config(&schema, options).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let sink = FileSink::for_bulk_format(LocalTarget::new(dir.path()).unwrap(), factory)
//!     .with_bucket_assigner(FieldBucketAssigner::hive(["country"]).unwrap())
//!     .build()
//!     .unwrap();
//! let mut w = sink.writer(WriterContext::new(0, "r1"), vec![]).await.unwrap();
//! let ctx = Context::default();
//! w.write(&serde_json::json!({"id": 1, "ts": "2026-11-24T13:05:00Z", "country": "DE"}), &ctx).await.unwrap();
//! // A record that does not fit is refused, naming the field; the sink goes on.
//! let bad = w.write(&serde_json::json!({"id": 2, "ts": "yesterday", "country": "DE"}), &ctx).await;
//! match bad {
//!     Err(WriteError::BadRecord(why)) => assert_eq!(why, r#"field "ts": expected timestamp, got "yesterday""#),
//!     other => panic!("{other:?}"),
//! }
//! w.snapshot(1).await.unwrap();
//! w.notify_checkpoint_complete(1).await.unwrap();
//! assert!(dir.path().join("country=DE/part-r1-0-0.parquet").exists());
//! # });
//! ```
//!
//! # Job file reference
//!
//! `[sink.parquet]` ([`ParquetOptions`]; every key is optional, unknown keys are errors):
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `compression` | `"zstd"` | `"zstd"`, `"snappy"`, `"gzip"`, `"lz4"` (= `"lz4_raw"`, as in pyarrow), `"brotli"`, `"none"` |
//! | `compression_level` | codec's | zstd 1 to 22 (default 3), gzip 0 to 9 (6), brotli 0 to 11 (1); other codecs have none |
//! | `max_row_group_size` | `1048576` | most rows per row group |
//! | `max_row_group_bytes` | none | most encoded bytes (estimated) per row group: a size, `"64MiB"` |
//! | `data_page_size` | `1048576` | target bytes per data page (and dictionary page limit): a size, `"1MiB"` |
//! | `dictionary` | `true` | dictionary encoding |
//! | `adaptive_dictionary` | `true` | no dictionary for columns of mostly distinct values (ids, timestamps), which gain nothing from one: a column 99% distinct in a part's first batch, or whose dictionary overflowed in an earlier row group |
//! | `statistics` | `"page"` | `"none"`, `"chunk"` (per row group) or `"page"` (also the page index) |
//! | `bloom_filter` | `[]` | columns with a bloom filter: `["user_id", "user.country"]` |
//! | `bloom_filter_fpp` | `0.05` | their false-positive probability |
//! | `bloom_filter_ndv` | row group size | distinct values they are sized for (memory: about 1.2 bytes each per column while a row group is open) |
//! | `created_by` | `parquet-rs version 60.1.0` | the footer's writer name |
//! | `drop_columns` | `[]` | top-level columns not written: Hive partition columns, whose values are in the directory names |
//! | `batch_size` | `8192` | rows a part buffers before encoding them |
//! | `unknown_fields` | `"error"` | a record field not in the schema: `"error"` (a bad record naming the field) or `"ignore"` |
//! | `[sink.parquet.metadata]` | none | key/value pairs written in every footer |
//!
//! Sizes are bytes or strings with a unit (`"1MiB"`, `"1.5 GB"`): the grammar of every job file
//! key (`sink_core::units`).
//!
//! `[sink.schema]` ([`SchemaConfig`]): `fields = [ {...}, ... ]`, each field a table of:
//!
//! | key | applies to | meaning |
//! | --- | --- | --- |
//! | `name` | all (optional for a list's `item`) | the column's name |
//! | `type` | all | `boolean` (`bool`), `int8`, `int16`, `int32`, `int64`, `uint8`, `uint16`, `uint32`, `uint64`, `float32`, `float64`, `string` (`utf8`), `large_string` (`large_utf8`), `binary`, `large_binary`, `timestamp`, `date32` (`date`), `decimal128` (`decimal`), `list`, `struct` |
//! | `nullable` | all | may the value be null or missing (default `true`) |
//! | `unit` | `timestamp` | `s`, `ms` (default), `us`, `ns` |
//! | `timezone` | `timestamp` | `UTC`, `+02:00` or an IANA name; none: a local date-time (no zone) |
//! | `precision`, `scale` | `decimal128` | digits in all (1 to 38, required) and after the point (default 0) |
//! | `item` | `list` | the item's field: `item = { type = "string", nullable = false }` |
//! | `fields` | `struct` | the members, as `fields = [ { name = "id", type = "int64" } ]` |
//!
//! ```toml
//! [sink.schema]
//! fields = [
//!   { name = "event_id", type = "uint64", nullable = false },
//!   { name = "behavior", type = "string" },
//!   { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
//!   { name = "price", type = "decimal128", precision = 10, scale = 2 },
//!   { name = "tags", type = "list", item = { type = "string" } },
//!   { name = "user", type = "struct", fields = [ { name = "id", type = "int64" } ] },
//! ]
//! ```
//!
//! # How values are read
//!
//! Each record must be a struct or a map (a JSON object). Its members are matched to the columns
//! by name; a member the schema lacks is an error unless `unknown_fields = "ignore"`, a missing
//! member is null (an error if the column is not nullable), and a member given twice is an error.
//!
//! | column | accepts |
//! | --- | --- |
//! | integers | integers in range (`300` into `uint8` is an error); no floats, no strings |
//! | floats | floats and integers |
//! | `boolean` | booleans |
//! | strings | strings and enum variant names |
//! | `binary` | bytes, sequences of integers 0 to 255, or base64 strings (standard alphabet, padded) |
//! | `timestamp` | integers in the column's unit, or RFC 3339 / ISO 8601 strings (`2026-11-24T13:05:00Z`, `2026-11-24 14:05:00+01:00`); a string without an offset (`2026-11-24 13:05:00`, `2026-11-24`) is read in the column's zone, UTC if it has none |
//! | `date32` | `YYYY-MM-DD` strings or integers (days since 1970-01-01) |
//! | `decimal128` | integers; strings (`"12.34"`, `"1e3"`) with at most `scale` digits after the point; floats, rounded half away from zero to `scale` digits |
//! | `list` | sequences |
//! | `struct` | structs and maps, with the same rules as a record |
//!
//! A record that does not fit is refused with [`WriteError::BadRecord`](sink_core::sink::WriteError),
//! whose message names the field (`field "user.id": expected int64, got "x"`), and the writer
//! keeps nothing of it: the job's bad-record policy (fail, skip, dead letter) decides what happens.
//!
//! # Partitioned lakes
//!
//! Give the sink a Hive-style assigner: `DateTimeBucketAssigner` with the format
//! `'dt='yyyy-MM-dd'/hour='HH` or `FieldBucketAssigner::hive(["country"])`. Columns whose values
//! are in the directory names can be left out of the files with `drop_columns`; DuckDB
//! (`read_parquet('lake/**/*.parquet', hive_partitioning = true)`) and pyarrow
//! (`pyarrow.dataset.dataset('lake', partitioning = 'hive')`) read them back from the paths.
//!
//! # Memory
//!
//! A part buffers up to `batch_size` rows in column buffers, then hands them as a record batch to
//! an encoder thread, which encodes them into the part's open row group (compressed pages in
//! memory until the row group closes). The encoder threads are shared by all parts of the process
//! (one fewer than the cores, at least one); a part has at most two batches in flight (one being
//! encoded, one waiting) and waits for room beyond that, and flushing or finishing a part waits
//! for its batches (and returns their encoding error, if any). [`BulkWriter::buffered_bytes`]
//! reports the buffers' allocated size, the batches in flight (their arrays, and what they will
//! add to the row group at the bytes per row seen so far), parquet's own estimate of the open
//! row group as of the last batch encoded, the open
//! writer's fixed cost (about 10 KiB plus 0.5 KiB per column) and the footer being built (about
//! 1 KiB per column and row group), and what parquet does not count: zstd's contexts (a
//! decompression context of 94 KiB per column of an open row group, and a compression context,
//! 1.2 MiB per column at level 3 with 1 MiB pages) and a dictionary that overflowed (about 1.6
//! times its limit until the row group closes). `tests/accounting.rs` checks the sum against the
//! C allocator's counters (within -20% and +60% in every state measured, mostly within 10%),
//! once the batches in flight are encoded ([`ParquetWriter::wait_encoded`]): while a batch is
//! encoded, the codec's working memory (zstd's or zlib's state, up to about 1 MiB) is not
//! counted, as it was not when encoding blocked the pipeline. The pending size for rolling on
//! size counts the rows in flight at the bytes per row seen so far.
//! The sink keeps the sum of its parts under its memory budget
//! by flushing the largest (closing their row groups) and rolling them if that is not enough; a
//! part that has not opened its Parquet writer yet and holds less than that writer would cost is
//! rolled rather than flushed.
//!
//! # Errors
//!
//! A record that does not fit is a bad record (above). A failure of parquet's writer itself, kept
//! by an encoder thread or met while opening or finishing a file, is
//! [`Error::Format`](sink_core::Error::Format) with the format `"Parquet"`, what was being done
//! (`write: ...`) and the part's bucket directory (`country=DE/`), or no path for a writer made
//! with [`ParquetWriterFactory::writer`], which does not know where its bytes go.
//!
//! # Code layout
//!
//! `writer.rs` has the factory and the writer; `plan.rs` what a factory prepares once for its
//! writers (schemas, properties, the empty buffers, what the writers learn) and the memory model's
//! figures; `encode.rs` the encoder threads; `ser.rs`, `ser/members.rs` and `ser/value.rs` the serde
//! serializers that append a record; `columns.rs` the column buffers, with `columns/put.rs`
//! (appending a value), `columns/parse.rs` (values given as text) and `columns/stats.rs` (what the
//! writer measures); `schema.rs` and `options.rs` the job file's tables; `error.rs` the writer's
//! failures.
//!
//! [`BulkWriter::buffered_bytes`]: sink_core::sink::BulkWriter::buffered_bytes
#![warn(missing_docs)]

mod columns;
mod encode;
mod error;
mod options;
mod plan;
mod schema;
mod ser;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod wiring;
mod writer;

pub use options::{
    Compression, ParquetOptions, Statistics, UnknownFields, DEFAULT_ADAPTIVE_DICTIONARY,
    DEFAULT_BATCH_SIZE, DEFAULT_BLOOM_FILTER_FPP, DEFAULT_BROTLI_LEVEL, DEFAULT_COMPRESSION,
    DEFAULT_DATA_PAGE_SIZE, DEFAULT_DICTIONARY, DEFAULT_GZIP_LEVEL, DEFAULT_MAX_ROW_GROUP_SIZE,
    DEFAULT_STATISTICS, DEFAULT_UNKNOWN_FIELDS, DEFAULT_ZSTD_LEVEL,
};
pub use schema::{
    FieldConfig, SchemaConfig, TimestampUnit, TypeName, DEFAULT_LIST_ITEM_NAME,
    DEFAULT_TIMESTAMP_UNIT, MAX_DECIMAL128_PRECISION,
};
pub use wiring::ParquetSection;
pub use writer::{ParquetWriter, ParquetWriterFactory, PARQUET_SUFFIX};

/// The Arrow schema types, re-exported for building schemas by hand.
pub use arrow_schema;
/// The parquet crate, re-exported for reading files back.
pub use parquet;
