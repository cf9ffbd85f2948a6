//! The bulk writer: records -> column buffers -> record batches -> parquet's `ArrowWriter`, which
//! writes into a `Vec<u8>` that the sink drains.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use serde::Serialize;
use sink_core::fs::RelPath;
use sink_core::sink::{BulkWriter, BulkWriterFactory, WriteError};
use sink_core::Error;

use crate::columns::Members;
use crate::encode::{Part, View};
use crate::error::{format_error, WriteFailure};
use crate::options::ParquetOptions;
use crate::plan::{
    estimate_cardinality, zstd_cctx_memory, Plan, FOOTER_COLUMN_CHUNK_BYTES, MIN_DISTINCT_SAMPLE,
    MOSTLY_DISTINCT, ROW_GROUP_COLUMN_MEMORY, WRITER_BASE_MEMORY, WRITER_COLUMN_MEMORY,
    ZSTD_DCTX_MEMORY,
};
use crate::schema::SchemaConfig;
use crate::ser::{append_record, Rules};

/// The file suffix.
pub const PARQUET_SUFFIX: &str = ".parquet";

/// Makes a [`ParquetWriter`] for every part file: the Parquet bulk format of a
/// [`FileSink`](sink_core::sink::FileSink), with the suffix `.parquet`.
///
/// Records are any `T: Serialize` (a struct, a map, a `serde_json::Value`) checked against an
/// Arrow schema, given as an Arrow [`Schema`](arrow_schema::Schema) or as a [`SchemaConfig`]
/// from a job file.
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
        self.writer_at(None)
    }

    /// A writer whose errors name `location` (its part's bucket directory).
    fn writer_at(&self, location: Option<Arc<str>>) -> ParquetWriter<T> {
        ParquetWriter {
            plan: Arc::clone(&self.plan),
            rows: self.plan.template.empty_like(),
            len: 0,
            key: String::new(),
            location,
            writer: None,
            view: Mutex::new(View::default()),
            seen: AtomicU64::new(0),
            rows_memory: self.plan.rows_fixed,
            writer_memory: AtomicUsize::new(0),
            pending_base: AtomicUsize::new(self.plan.footer_base),
            file_bytes_per_row_milli: AtomicU64::new(0),
            value_sizes: Vec::new(),
            dictionary_off: Vec::new(),
            cardinality: Vec::new(),
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
    fn create(&self, bucket: &RelPath) -> sink_core::Result<Box<dyn BulkWriter<T>>> {
        let location = sink_core::error::bucket_dir(bucket);
        Ok(Box::new(self.writer_at(Some(location.into()))))
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
///
/// A `ParquetWriter` is `Send` and `Sync`: the figures the sink reads through `&self` while the
/// encoder threads work are atomics, and the view they come from sits behind a mutex that is
/// taken only when the encoders changed something.
pub struct ParquetWriter<T> {
    plan: Arc<Plan>,
    rows: Members,
    len: usize,
    key: String,
    /// Where the part is, for errors: its bucket's directory (a bulk writer is not told its file
    /// name); none for a writer used without a sink.
    location: Option<Arc<str>>,
    /// The open Parquet writer, encoding in the background.
    writer: Option<Arc<Part>>,
    /// The background state as last seen, and its generation. Read when the sink asks for the
    /// memory or size, through `&self`, while the encoders change the state at any time: `seen`
    /// is compared first (an atomic load, as the part's own generation), and only a changed state
    /// is copied in under the lock.
    view: Mutex<View>,
    seen: AtomicU64,
    rows_memory: usize,
    /// The figures derived from `view` that the sink reads, atomics for `&self`. Relaxed loads and
    /// stores compile to plain ones: a writer is used by one task at a time, so at worst two
    /// concurrent readers would mix figures of two consecutive views, both estimates.
    writer_memory: AtomicUsize,
    /// The file's pending size without the rows buffered (rows in flight included).
    pending_base: AtomicUsize,
    /// This file's encoded bytes per row as of `view`, in thousandths (0: none encoded yet).
    file_bytes_per_row_milli: AtomicU64,
    /// Per leaf column: its dictionary is off in this file (it overflowed in an earlier one).
    dictionary_off: Vec<bool>,
    /// Per leaf column: distinct values it draws from, estimated from the first batch (infinite
    /// when unknown or all distinct).
    cardinality: Vec<f64>,
    /// The most bytes per row seen of each leaf column (with zstd or dictionaries).
    value_sizes: Vec<usize>,
    _t: PhantomData<fn(&T)>,
}

impl<T: Serialize> std::fmt::Debug for ParquetWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("buffered_rows", &self.len)
            .field("open", &self.writer.is_some())
            .field("memory", &{
                self.refresh();
                self.rows_memory + self.writer_memory.load(Ordering::Relaxed)
            })
            .field("background", &self.view())
            .field(
                "uncounted_by_parquet",
                &self.hidden_memory(
                    self.view().snapshot.in_progress_rows + self.view().in_flight_rows,
                ),
            )
            .field("dictionary_off", &self.dictionary_off)
            .field("cardinality", &self.cardinality)
            .field("value_sizes", &self.value_sizes)
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

    /// Waits until the batches handed to the encoder threads are encoded, and returns an encoding
    /// error if there was one. Not needed for writing (flushing and finishing wait by
    /// themselves); for measurements: [`BulkWriter::buffered_bytes`] counts a batch in flight at
    /// an estimate, and the memory it takes changes while it is encoded.
    pub fn wait_encoded(&mut self) -> Result<(), Error> {
        if let Some(part) = &self.writer {
            part.wait_idle()?;
        }
        self.update_memory();
        Ok(())
    }

    /// Encodes the buffered rows into the open row group.
    fn encode_rows(&mut self) -> Result<(), Error> {
        if self.len == 0 {
            return Ok(());
        }
        if self.plan.zstd_level.is_some() || self.plan.dictionary {
            self.note_value_sizes();
        }
        // A full batch: the part is busy, so the next batch gets its room at once.
        let full = self.len >= self.plan.batch_size;
        // Opening the file with its first batch in hand: a column whose values in it are nearly
        // all distinct gets no dictionary (it could only grow past its limit and fall back).
        let mut distinct = Vec::new();
        if self.writer.is_none()
            && self.plan.dictionary
            && self.len >= MIN_DISTINCT_SAMPLE.min(self.plan.batch_size)
        {
            let mut shares = Vec::with_capacity(self.plan.leaves);
            self.rows.leaf_distinct(&mut shares);
            let n = self.len as f64;
            self.cardinality = shares
                .iter()
                .map(|s| s.map_or(f64::INFINITY, |s| estimate_cardinality(n, s * n)))
                .collect();
            if !self.plan.overflowed.is_empty() {
                distinct = shares
                    .iter()
                    .map(|s| s.is_some_and(|s| s >= MOSTLY_DISTINCT))
                    .collect();
            }
        }
        let bytes: Vec<usize> = if full {
            self.rows.columns.iter().map(|c| c.value_bytes()).collect()
        } else {
            Vec::new()
        };
        let arrays = self
            .rows
            .finish()
            .map_err(|e| self.fail(WriteFailure::new("build batch", e)))?;
        if full {
            self.rows.reserve(self.plan.batch_size, &bytes);
        }
        let batch = RecordBatch::try_new_with_options(
            self.plan.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(self.len)),
        )
        .map_err(|e| self.fail(WriteFailure::new("build batch", e)))?;
        self.len = 0;
        if self.writer.is_none() {
            let (w, off) = self.plan.open_writer(&distinct).map_err(|e| self.fail(e))?;
            self.writer = Some(Part::new(Arc::clone(&self.plan), w, self.location.clone()));
            self.dictionary_off = off;
        }
        // Encoded by the pool's threads, in order; waits while the part has enough in flight.
        let part = self.writer.as_ref().expect("opened above");
        let res = part.submit(batch);
        self.update_memory();
        res
    }

    /// Notes the bytes per row of each leaf column, for the size of its pages.
    fn note_value_sizes(&mut self) {
        let mut bytes = Vec::with_capacity(self.plan.leaves);
        self.rows.leaf_bytes(&mut bytes);
        if self.value_sizes.len() != bytes.len() {
            self.value_sizes = vec![0; bytes.len()];
        }
        for (v, b) in self.value_sizes.iter_mut().zip(bytes) {
            *v = (*v).max((b / self.len).max(1));
        }
    }

    /// Memory of an open row group of `rows` rows that parquet does not count.
    ///
    /// * zstd: a decompression context per column from the start, and a compression context once
    ///   the column's first page is compressed, sized by the largest page.
    /// * A dictionary that outgrew its limit (`data_page_size`) and fell back to plain values:
    ///   parquet stops counting it, but its page, allocated at its uncompressed size, stays until
    ///   the row group closes (measured: about 1.6 times the limit). Whether it fell back is not
    ///   visible, so a column counts once its values in the row group could fill the dictionary
    ///   (an over-estimate for columns with few distinct values).
    fn hidden_memory(&self, rows: usize) -> usize {
        if rows == 0 {
            return 0;
        }
        let (page_rows, page_bytes) = (self.plan.page_rows, self.plan.page_bytes);
        let mut total = match self.plan.zstd_level {
            Some(_) => self.plan.leaves * ZSTD_DCTX_MEMORY,
            None => 0,
        };
        for (i, &per_row) in self.value_sizes.iter().enumerate() {
            let dictionary =
                self.plan.dictionary && !self.dictionary_off.get(i).copied().unwrap_or(false);
            // Distinct values expected in `rows` rows, from the first batch's count.
            let k = self.cardinality.get(i).copied().unwrap_or(f64::INFINITY);
            let distinct = if k.is_finite() {
                k * (1.0 - (-(rows as f64) / k).exp())
            } else {
                rows as f64
            };
            let fell_back = dictionary && distinct * per_row as f64 > page_bytes as f64;
            if fell_back {
                total += page_bytes * self.plan.fallback_tenths / 10;
            }
            let Some(level) = self.plan.zstd_level else {
                continue;
            };
            // Dictionary-encoded pages hold small indices.
            let (fill_rows, page) = if dictionary && !fell_back {
                (page_rows, page_rows.min(rows) * 3)
            } else if fell_back {
                (0, page_bytes)
            } else {
                (
                    page_rows.min(page_bytes / per_row).max(1),
                    page_bytes.min(page_rows * per_row),
                )
            };
            if rows >= fill_rows {
                total += zstd_cctx_memory(level, page);
            }
        }
        total
    }

    /// A failure as the sink's error, naming the part's bucket.
    fn fail(&self, failure: WriteFailure) -> Error {
        format_error(self.location.as_deref(), failure)
    }

    /// Encoded bytes per row: this file's so far, or other files' before it has any.
    fn bytes_per_row_milli(&self) -> u64 {
        match self.file_bytes_per_row_milli.load(Ordering::Relaxed) {
            0 => self.plan.bytes_per_row_milli.load(Ordering::Relaxed),
            b => b,
        }
    }

    /// The background state as last seen.
    fn view(&self) -> View {
        *self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the background state if it changed.
    fn refresh(&self) {
        let Some(part) = &self.writer else {
            return;
        };
        if let Some(view) = part.view_if_changed(&self.seen) {
            *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
            self.update_writer_memory(&view);
        }
    }

    fn update_memory(&mut self) {
        self.rows_memory = self.plan.rows_fixed + self.rows.memory();
        self.refresh();
        let view = *self.view.get_mut().unwrap_or_else(|e| e.into_inner());
        self.update_writer_memory(&view);
    }

    /// The writer's memory and pending bytes from the background state `v` (as last seen).
    /// Batches in flight count with their arrays and with what they will add to the row group (at
    /// the bytes per row seen so far), and the row group's hidden memory with their rows.
    fn update_writer_memory(&self, v: &View) {
        self.file_bytes_per_row_milli
            .store(v.snapshot.bytes_per_row_milli, Ordering::Relaxed);
        let (memory, pending) = match &self.writer {
            None => (0, 0),
            Some(_) => {
                let s = &v.snapshot;
                let groups = s.groups;
                let coming = (v.in_flight_rows as u64 * self.bytes_per_row_milli() / 1000) as usize;
                // Before any row is encoded, rows in flight count for the file at their arrays'
                // size (as buffered rows do at their buffers').
                let coming_bytes = match self.bytes_per_row_milli() {
                    0 => v.in_flight_memory,
                    _ => coming,
                };
                let memory = WRITER_BASE_MEMORY
                    + crate::encode::PART_MEMORY
                    + self.plan.leaves * (WRITER_COLUMN_MEMORY + groups * ROW_GROUP_COLUMN_MEMORY)
                    + self.hidden_memory(s.in_progress_rows + v.in_flight_rows)
                    + s.memory_size
                    + s.inner_capacity
                    + v.out_capacity
                    + v.in_flight_memory
                    + coming;
                // The footer grows by each row group's metadata and page index.
                let pending = v.out_len
                    + s.in_progress_size
                    + coming_bytes
                    + self.plan.leaves * (groups + 1) * FOOTER_COLUMN_CHUNK_BYTES;
                (memory, pending)
            }
        };
        self.writer_memory.store(memory, Ordering::Relaxed);
        self.pending_base
            .store(self.plan.footer_base + pending, Ordering::Relaxed);
    }
}

impl<T: Serialize + Send + 'static> BulkWriter<T> for ParquetWriter<T> {
    fn add(&mut self, record: &T) -> Result<(), WriteError> {
        self.append(record).map_err(WriteError::BadRecord)?;
        if self.len >= self.plan.batch_size {
            self.encode_rows()?;
        } else if self.len % 64 == 0 || self.len.is_power_of_two() {
            // Buffers grow at powers of two; between, the last 64 rows at most are not counted.
            self.rows_memory = self.plan.rows_fixed + self.rows.memory();
        }
        Ok(())
    }

    /// Also brings the memory figures up to date with the encoders' progress.
    fn take_output(&mut self, out: &mut Vec<u8>) {
        let Some(part) = &self.writer else {
            return;
        };
        part.take_output(out);
    }

    fn buffered_bytes(&self) -> usize {
        self.refresh();
        self.rows_memory + self.writer_memory.load(Ordering::Relaxed)
    }

    /// The open row group as parquet estimates it encoded, the rows not yet encoded at the bytes
    /// per row seen so far (their buffers' size before any row is encoded), and the footer.
    fn pending_size(&self) -> usize {
        self.refresh();
        let rows = match self.bytes_per_row_milli() {
            0 => self.rows_memory - self.plan.rows_fixed,
            milli => (self.len as u64 * milli / 1000) as usize,
        };
        self.pending_base.load(Ordering::Relaxed) + rows
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
        if let Some(part) = &self.writer {
            // After the batches in flight, on an encoder thread too (the row group's structures
            // were allocated there).
            let res = part.flush();
            self.update_memory();
            return res;
        }
        self.update_memory();
        Ok(())
    }

    fn finish(mut self: Box<Self>, out: &mut Vec<u8>) -> sink_core::Result<()> {
        self.encode_rows()?;
        let mut w = match &self.writer {
            Some(part) => {
                part.finish()?;
                part.take_output(out);
                return Ok(());
            }
            None => self.plan.open_writer(&[]).map_err(|e| self.fail(e))?.0,
        };
        let groups = w.flushed_row_groups().len();
        w.flush()
            .map_err(|e| self.fail(WriteFailure::new("finish", e)))?;
        self.plan.note_row_groups(&w.flushed_row_groups()[groups..]);
        let bytes = w
            .into_inner()
            .map_err(|e| self.fail(WriteFailure::new("finish", e)))?;
        if out.is_empty() {
            *out = bytes;
        } else {
            out.extend_from_slice(&bytes);
        }
        Ok(())
    }
}

impl<T> Drop for ParquetWriter<T> {
    fn drop(&mut self) {
        // Batches not yet encoded are of no use any more.
        if let Some(part) = &self.writer {
            part.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only for a `Sync` type.
    fn assert_sync<T: Sync>() {}

    /// Compiles only for a `Send` type.
    fn assert_send<T: Send>() {}

    /// A writer may be held across an `.await` of a future that must be `Send` through a shared
    /// reference (which needs `Sync`): the encoders' figures must not be in `Cell`s.
    #[test]
    fn writers_and_factories_are_send_and_sync() {
        assert_sync::<ParquetWriter<serde_json::Value>>();
        assert_send::<ParquetWriter<serde_json::Value>>();
        assert_sync::<ParquetWriterFactory<serde_json::Value>>();
        assert_send::<ParquetWriterFactory<serde_json::Value>>();
    }
}
