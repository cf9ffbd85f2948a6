//! The bulk writer: records -> column buffers -> record batches -> parquet's `ArrowWriter`, which
//! writes into a `Vec<u8>` that the sink drains.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::SchemaDescriptor;
use serde::Serialize;
use sink_core::fs::RelPath;
use sink_core::sink::{BulkWriter, BulkWriterFactory, WriteError};
use sink_core::Error;

use crate::columns::Members;
use crate::options::{ParquetOptions, UnknownFields};
use crate::schema::{check_supported, SchemaConfig};
use crate::ser::{append_record, Rules};

/// The file suffix.
pub const PARQUET_SUFFIX: &str = ".parquet";

/// Memory an open Parquet writer keeps between row groups besides what parquet reports: its
/// 8 KiB output buffer, the schema, the properties and the footer it is building. Measured with a
/// counting allocator (see `tests/memory.rs`): a writer of 3 columns keeps about 14 KiB.
const WRITER_BASE_MEMORY: usize = 12 * 1024;
/// The same, per leaf column.
const WRITER_COLUMN_MEMORY: usize = 1024;
/// Footer metadata kept per written row group and leaf column (chunk metadata, statistics, page
/// index), until the file is finished.
const ROW_GROUP_COLUMN_MEMORY: usize = 512;

/// Everything a factory prepares once and its writers share.
struct Plan {
    schema: SchemaRef,
    props: WriterProperties,
    descr: SchemaDescriptor,
    batch_size: usize,
    unknown: UnknownFields,
    drop: Vec<String>,
    /// Leaf columns of the file schema.
    leaves: usize,
}

impl Plan {
    fn new(schema: SchemaRef, options: &ParquetOptions) -> Result<Plan, Error> {
        check_supported(&schema)?;
        let mut fields = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            if !options.drop_columns.iter().any(|d| d == f.name()) {
                fields.push(f.clone());
            }
        }
        if fields.is_empty() {
            return Err(Error::config(
                "sink.parquet.drop_columns",
                "drops every column of the schema",
            ));
        }
        let file_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let mut props = options.writer_properties(&file_schema)?;
        // Done once here rather than by every ArrowWriter: the Parquet schema and the encoded Arrow
        // schema in the footer (which keeps types Parquet lacks, such as a timestamp's zone).
        let descr = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&file_schema)
            .map_err(|e| Error::config("sink.schema", e.to_string()))?;
        add_encoded_arrow_schema_to_metadata(&file_schema, &mut props);
        // Make sure the columns can be built before any record arrives.
        Members::new(file_schema.fields(), "")
            .map_err(|e| Error::config("sink.schema", e.to_string()))?;
        Ok(Plan {
            leaves: descr.num_columns(),
            schema: file_schema,
            props,
            descr,
            batch_size: options.batch_size,
            unknown: options.unknown_fields,
            drop: options.drop_columns.clone(),
        })
    }

    fn open_writer(&self) -> Result<ArrowWriter<Vec<u8>>, Error> {
        let options = ArrowWriterOptions::new()
            .with_properties(self.props.clone())
            .with_parquet_schema(self.descr.clone())
            .with_skip_arrow_metadata(true);
        ArrowWriter::try_new_with_options(Vec::new(), self.schema.clone(), options)
            .map_err(|e| parquet_error("open", e))
    }
}

fn parquet_error(op: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("parquet writer ({op}): {e}"))
}

/// Makes a [`ParquetWriter`] for every part file: the Parquet bulk format of a
/// [`FileSink`](sink_core::sink::FileSink), with the suffix `.parquet`.
///
/// Records are any `T: Serialize` (a struct, a map, a `serde_json::Value`) checked against an
/// Arrow schema, given as an Arrow [`Schema`] or as a [`SchemaConfig`] from a job file.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use connector_parquet::{ParquetOptions, ParquetWriterFactory};
/// use sink_core::fs::LocalTarget;
/// use sink_core::sink::{BasePathBucketAssigner, Context, FileSink, WriterContext};
///
/// #[derive(serde::Serialize)]
/// struct Click { user: u64, page: String }
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("user", DataType::UInt64, false),
///     Field::new("page", DataType::Utf8, true),
/// ]));
/// let factory = ParquetWriterFactory::<Click>::for_serde(schema, ParquetOptions::default()).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let sink = FileSink::for_bulk_format(LocalTarget::new(dir.path()).unwrap(), factory)
///     .with_bucket_assigner(BasePathBucketAssigner)
///     .build()
///     .unwrap();
/// let mut writer = sink.writer(WriterContext::new(0, "run1"), vec![]).await.unwrap();
/// writer.write(&Click { user: 7, page: "/home".into() }, &Context::default()).await.unwrap();
/// writer.snapshot(1).await.unwrap(); // bulk parts roll at every checkpoint
/// writer.notify_checkpoint_complete(1).await.unwrap();
///
/// // Read it back with the parquet crate.
/// let file = std::fs::File::open(dir.path().join("part-run1-0-0.parquet")).unwrap();
/// let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
/// let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
/// assert_eq!(batches[0].num_rows(), 1);
/// # });
/// ```
pub struct ParquetWriterFactory<T> {
    plan: Arc<Plan>,
    _t: PhantomData<fn(&T)>,
}

impl<T> Clone for ParquetWriterFactory<T> {
    fn clone(&self) -> Self {
        ParquetWriterFactory {
            plan: Arc::clone(&self.plan),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ParquetWriterFactory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriterFactory")
            .field("schema", &self.plan.schema)
            .field("batch_size", &self.plan.batch_size)
            .finish()
    }
}

impl<T: Serialize + Send + 'static> ParquetWriterFactory<T> {
    /// Writes records of type `T`, serialized with serde and checked against `schema` (records
    /// are structs or maps whose members are the schema's columns).
    pub fn for_serde(schema: SchemaRef, options: ParquetOptions) -> Result<Self, Error> {
        Ok(ParquetWriterFactory {
            plan: Arc::new(Plan::new(schema, &options)?),
            _t: PhantomData,
        })
    }

    /// Writes records of type `T` against a schema from a job file (`[sink.schema]`).
    pub fn for_serde_with_schema_config(
        schema: &SchemaConfig,
        options: ParquetOptions,
    ) -> Result<Self, Error> {
        Self::for_serde(schema.to_arrow()?, options)
    }

    /// The schema of the written files (without the dropped columns).
    pub fn file_schema(&self) -> &SchemaRef {
        &self.plan.schema
    }

    /// A writer of one file, for use without a sink: add records, take the bytes.
    pub fn writer(&self) -> ParquetWriter<T> {
        ParquetWriter {
            plan: Arc::clone(&self.plan),
            rows: Members::new(self.plan.schema.fields(), "").expect("checked in Plan::new"),
            len: 0,
            key: String::new(),
            writer: None,
            rows_memory: 0,
            writer_memory: 0,
            _t: PhantomData,
        }
    }
}

impl ParquetWriterFactory<serde_json::Value> {
    /// Writes JSON values (objects) against `schema`: the CLI's path for Kafka messages.
    pub fn for_json(schema: SchemaRef, options: ParquetOptions) -> Result<Self, Error> {
        Self::for_serde(schema, options)
    }
}

impl<T: Serialize + Send + 'static> BulkWriterFactory<T> for ParquetWriterFactory<T> {
    fn create(&self, _bucket: &RelPath) -> sink_core::Result<Box<dyn BulkWriter<T>>> {
        Ok(Box::new(self.writer()))
    }

    fn suffix(&self) -> &str {
        PARQUET_SUFFIX
    }
}

/// Writes one Parquet file: records are checked and appended to column buffers one by one, every
/// `batch_size` rows they are encoded into the open row group, and closed row groups become bytes
/// to [`take`](BulkWriter::take_output).
///
/// The Parquet writer itself is opened with the first batch (or flush), so a part that holds a few
/// rows costs only those rows.
pub struct ParquetWriter<T> {
    plan: Arc<Plan>,
    rows: Members,
    len: usize,
    key: String,
    writer: Option<ArrowWriter<Vec<u8>>>,
    rows_memory: usize,
    writer_memory: usize,
    _t: PhantomData<fn(&T)>,
}

impl<T> std::fmt::Debug for ParquetWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("buffered_rows", &self.len)
            .field("open", &self.writer.is_some())
            .field("memory", &(self.rows_memory + self.writer_memory))
            .finish()
    }
}

impl<T: Serialize> ParquetWriter<T> {
    /// Adds a record; a record that does not fit the schema is refused with a message naming the
    /// field, and nothing of it is kept.
    pub fn append(&mut self, record: &T) -> Result<(), String> {
        let rules = Rules {
            unknown: self.plan.unknown,
            skip: &self.plan.drop,
        };
        if let Err(e) = append_record(&mut self.rows, self.len, record, rules, &mut self.key) {
            self.rows.truncate(self.len);
            return Err(e.message);
        }
        self.len += 1;
        Ok(())
    }

    /// Rows buffered and not yet encoded.
    pub fn buffered_rows(&self) -> usize {
        self.len
    }

    /// Encodes the buffered rows into the open row group.
    fn encode_rows(&mut self) -> Result<(), Error> {
        if self.len == 0 {
            return Ok(());
        }
        let arrays = self
            .rows
            .finish()
            .map_err(|e| parquet_error("build batch", e))?;
        let batch = RecordBatch::try_new_with_options(
            self.plan.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(self.len)),
        )
        .map_err(|e| parquet_error("build batch", e))?;
        self.len = 0;
        if self.writer.is_none() {
            self.writer = Some(self.plan.open_writer()?);
        }
        let w = self.writer.as_mut().expect("opened above");
        w.write(&batch).map_err(|e| parquet_error("write", e))?;
        // A row group may have closed: move its bytes out of the writer's buffer.
        w.sync().map_err(|e| parquet_error("write", e))?;
        self.update_memory();
        Ok(())
    }

    fn update_memory(&mut self) {
        self.rows_memory = self.rows.memory();
        self.writer_memory = match &self.writer {
            None => 0,
            Some(w) => {
                let groups = w.flushed_row_groups().len();
                WRITER_BASE_MEMORY
                    + self.plan.leaves * (WRITER_COLUMN_MEMORY + groups * ROW_GROUP_COLUMN_MEMORY)
                    + w.memory_size()
                    + w.inner().capacity()
            }
        };
    }
}

impl<T: Serialize + Send + 'static> BulkWriter<T> for ParquetWriter<T> {
    fn add(&mut self, record: &T) -> Result<(), WriteError> {
        self.append(record).map_err(WriteError::BadRecord)?;
        if self.len >= self.plan.batch_size {
            self.encode_rows()?;
        } else {
            self.rows_memory = self.rows.memory();
        }
        Ok(())
    }

    fn take_output(&mut self, out: &mut Vec<u8>) {
        let Some(w) = &mut self.writer else {
            return;
        };
        let buf = w.inner_mut();
        if buf.is_empty() {
            return;
        }
        // Taking the bytes is safe: the writer counts what it wrote itself and never reads its
        // sink back, so offsets in the footer stay right (tested by reading files back).
        let bytes = std::mem::take(buf);
        if out.is_empty() {
            *out = bytes;
        } else {
            out.extend_from_slice(&bytes);
        }
        self.update_memory();
    }

    fn buffered_bytes(&self) -> usize {
        self.rows_memory + self.writer_memory
    }

    /// Closes a row group with the buffered rows, unless the part has no Parquet writer yet and its
    /// rows take less memory than opening one would: then the rows stay and the sink, still over
    /// its budget, rolls the part instead (a small file rather than a larger resident writer).
    fn flush(&mut self) -> sink_core::Result<()> {
        if self.writer.is_none() {
            let open_cost = WRITER_BASE_MEMORY + self.plan.leaves * WRITER_COLUMN_MEMORY;
            if self.rows_memory < open_cost {
                return Ok(());
            }
        }
        self.encode_rows()?;
        if let Some(w) = &mut self.writer {
            w.flush().map_err(|e| parquet_error("flush", e))?;
            w.sync().map_err(|e| parquet_error("flush", e))?;
        }
        self.update_memory();
        Ok(())
    }

    fn finish(mut self: Box<Self>, out: &mut Vec<u8>) -> sink_core::Result<()> {
        self.encode_rows()?;
        let w = match self.writer.take() {
            Some(w) => w,
            None => self.plan.open_writer()?,
        };
        let bytes = w.into_inner().map_err(|e| parquet_error("finish", e))?;
        if out.is_empty() {
            *out = bytes;
        } else {
            out.extend_from_slice(&bytes);
        }
        Ok(())
    }
}
