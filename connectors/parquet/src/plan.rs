//! What a factory prepares once and its writers share ([`Plan`]: the file schema and properties,
//! the empty column buffers, and what the writers learn as they go: bytes per row, and which
//! columns' dictionaries overflowed), and the figures of the memory model that the writers
//! account with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression as ParquetCompression, Encoding, PageType};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::SchemaDescriptor;
use sink_core::Error;

use crate::columns::Members;
use crate::error::WriteFailure;
use crate::options::{ParquetOptions, UnknownFields};
use crate::schema::check_supported;

// What a writer holds besides its buffers' contents, measured with a counting allocator
// (`tests/accounting.rs` checks the sum against real allocations).
/// The column buffers' own structures, per column (nested ones included).
pub(crate) const ROWS_COLUMN_MEMORY: usize = 160;
/// An open Parquet writer between row groups, besides what parquet reports: its 8 KiB output
/// buffer, the schema, the properties.
pub(crate) const WRITER_BASE_MEMORY: usize = 10 * 1024;
/// The same, per leaf column.
pub(crate) const WRITER_COLUMN_MEMORY: usize = 512;
/// The number of equally likely values that `n` draws would show `d` distinct of:
/// `d = k (1 - e^(-n/k))`, solved by bisection; infinite when all are distinct.
pub(crate) fn estimate_cardinality(n: f64, d: f64) -> f64 {
    if d >= n - 0.5 {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (d.max(1.0), 1e12);
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if mid * (1.0 - (-n / mid).exp()) < d {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Rows a part's first batch needs to judge whether a column's values are mostly distinct.
pub(crate) const MIN_DISTINCT_SAMPLE: usize = 1024;
/// Share of distinct values in the first batch above which a column gets no dictionary: ids and
/// timestamps (1.0), or values drawn from a million (0.996 of 8192), not a hundred thousand
/// (0.96), whose dictionary fits and pays.
pub(crate) const MOSTLY_DISTINCT: f64 = 0.99;

/// A zstd decompression context, which parquet makes for every column of an open row group
/// (though a writer never decompresses).
pub(crate) const ZSTD_DCTX_MEMORY: usize = 96_000;

/// A zstd compression context's memory in KiB (zstd 1.5.7, one-shot compression as parquet does
/// it), by level (1 to 22) and the size of the pages compressed (up to 64 KiB, 256 KiB, 1 MiB,
/// 4 MiB). Parquet keeps one per column of an open row group once a page is compressed: at the
/// default level 3 and 1 MiB pages, 1.2 MiB per column.
const ZSTD_CCTX_KIB: [[u32; 4]; 22] = [
    [292, 564, 564, 564],
    [388, 628, 756, 756],
    [644, 1012, 1268, 1268],
    [1028, 1140, 2548, 2548],
    [900, 1780, 3060, 3060],
    [900, 3060, 3060, 3060],
    [900, 3060, 5620, 5620],
    [900, 3060, 5620, 5620],
    [900, 3060, 10740, 10740],
    [900, 3060, 10740, 20980],
    [1284, 3572, 10740, 20980],
    [1284, 4596, 10740, 41460],
    [1430, 3718, 16884, 33268],
    [1745, 4347, 16884, 49652],
    [1745, 4347, 16884, 66036],
    [1745, 5371, 17030, 33416],
    [1745, 5371, 17030, 49800],
    [1745, 5371, 17659, 50428],
    [1745, 5371, 17659, 50428],
    [1745, 5371, 17659, 66812],
    [1745, 5371, 17659, 66812],
    [1745, 5371, 17659, 66812],
];

/// Memory of a zstd compression context that compressed pages of up to `page` bytes.
pub(crate) fn zstd_cctx_memory(level: i32, page: usize) -> usize {
    let level = level.clamp(1, 22) as usize;
    let bucket = if page <= 64 * 1024 {
        0
    } else if page <= 256 * 1024 {
        1
    } else if page <= 1024 * 1024 {
        2
    } else {
        3
    };
    ZSTD_CCTX_KIB[level - 1][bucket] as usize * 1024
}

/// Footer bytes per row group and leaf column (chunk metadata, statistics, page index), an upper
/// estimate for the size-based rolling.
pub(crate) const FOOTER_COLUMN_CHUNK_BYTES: usize = 160;
/// Footer metadata kept per written row group and leaf column (chunk metadata, statistics, page
/// index) until the file is finished.
pub(crate) const ROW_GROUP_COLUMN_MEMORY: usize = 1024;

/// Everything a factory prepares once and its writers share.
pub(crate) struct Plan {
    pub(crate) schema: SchemaRef,
    props: WriterProperties,
    descr: SchemaDescriptor,
    pub(crate) batch_size: usize,
    pub(crate) max_row_group_size: usize,
    pub(crate) unknown: UnknownFields,
    pub(crate) drop: Vec<String>,
    /// Leaf columns of the file schema.
    pub(crate) leaves: usize,
    /// Memory of an empty set of column buffers.
    pub(crate) rows_fixed: usize,
    /// Empty column buffers, copied for every writer.
    pub(crate) template: Members,
    /// Encoded bytes per row seen so far by any writer, in thousandths (0: none seen yet).
    pub(crate) bytes_per_row_milli: AtomicU64,
    /// Footer bytes besides the row groups' metadata: schema, Arrow schema, key/value pairs.
    pub(crate) footer_base: usize,
    /// The zstd level, if zstd compresses (its contexts are the one codec memory that lasts).
    pub(crate) zstd_level: Option<i32>,
    /// Rows and bytes (per column) at which parquet closes a page.
    pub(crate) page_rows: usize,
    pub(crate) page_bytes: usize,
    pub(crate) dictionary: bool,
    /// Memory left by a dictionary that fell back, in tenths of its limit.
    pub(crate) fallback_tenths: usize,
    /// Per leaf column, with `adaptive_dictionary`: its dictionary overflowed in a row group.
    pub(crate) overflowed: Vec<std::sync::atomic::AtomicBool>,
    /// The properties with some columns' dictionaries off, by which.
    props_cache: std::sync::Mutex<std::collections::HashMap<Vec<bool>, WriterProperties>>,
}

impl Plan {
    pub(crate) fn new(schema: SchemaRef, options: &ParquetOptions) -> Result<Plan, Error> {
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
        let footer_base = 512
            + descr.num_columns() * 64
            + props.key_value_metadata().map_or(0, |kv| {
                kv.iter()
                    .map(|e| e.key.len() + e.value.as_ref().map_or(0, String::len))
                    .sum()
            });
        // Make sure the columns can be built before any record arrives.
        let template = Members::new(file_schema.fields(), "")
            .map_err(|e| Error::config("sink.schema", e.to_string()))?;
        Ok(Plan {
            rows_fixed: template.count_columns() * ROWS_COLUMN_MEMORY,
            template,
            bytes_per_row_milli: AtomicU64::new(0),
            footer_base,
            zstd_level: match options.parquet_compression()? {
                ParquetCompression::ZSTD(l) => Some(l.compression_level()),
                _ => None,
            },
            page_rows: props.data_page_row_count_limit(),
            page_bytes: options.data_page_size,
            dictionary: options.dictionary,
            overflowed: if options.dictionary && options.adaptive_dictionary {
                (0..descr.num_columns())
                    .map(|_| std::sync::atomic::AtomicBool::new(false))
                    .collect()
            } else {
                Vec::new()
            },
            props_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
            fallback_tenths: match options.compression {
                crate::options::Compression::Gzip => 8,
                _ => 16,
            },
            leaves: descr.num_columns(),
            schema: file_schema,
            props,
            descr,
            batch_size: options.batch_size,
            max_row_group_size: options.max_row_group_size,
            unknown: options.unknown_fields,
            drop: options.drop_columns.clone(),
        })
    }

    /// The properties of a new file: the configured ones, with dictionaries off for the columns
    /// whose dictionary overflowed in an earlier row group.
    fn file_props(&self, distinct: &[bool]) -> (WriterProperties, Vec<bool>) {
        let off: Vec<bool> = self
            .overflowed
            .iter()
            .enumerate()
            .map(|(i, o)| o.load(Ordering::Relaxed) || distinct.get(i).copied().unwrap_or(false))
            .collect();
        if !off.iter().any(|o| *o) {
            return (self.props.clone(), off);
        }
        let mut cache = self.props_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(props) = cache.get(&off) {
            return (props.clone(), off);
        }
        let mut b = self.props.clone().into_builder();
        for (i, o) in off.iter().enumerate() {
            if *o {
                b = b.set_column_dictionary_enabled(self.descr.column(i).path().clone(), false);
            }
        }
        let props = b.build();
        cache.insert(off.clone(), props.clone());
        (props, off)
    }

    /// Learns from closed row groups which columns' dictionaries overflowed (fell back to plain
    /// pages): their values are mostly distinct, so later files write them without one.
    pub(crate) fn note_row_groups(&self, groups: &[parquet::file::metadata::RowGroupMetaData]) {
        if self.overflowed.is_empty() {
            return;
        }
        for g in groups {
            for (i, c) in g.columns().iter().enumerate() {
                let plain_data = c.page_encoding_stats().is_some_and(|stats| {
                    stats.iter().any(|s| {
                        matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2)
                            && s.encoding == Encoding::PLAIN
                    })
                });
                if plain_data && c.dictionary_page_offset().is_some() {
                    if let Some(o) = self.overflowed.get(i) {
                        o.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// A Parquet writer of a new file, in memory.
    pub(crate) fn open_writer(
        &self,
        distinct: &[bool],
    ) -> Result<(ArrowWriter<Vec<u8>>, Vec<bool>), WriteFailure> {
        let (props, off) = self.file_props(distinct);
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_parquet_schema(self.descr.clone())
            .with_skip_arrow_metadata(true);
        let w = ArrowWriter::try_new_with_options(Vec::new(), self.schema.clone(), options)
            .map_err(|e| WriteFailure::new("open", e))?;
        Ok((w, off))
    }
}

/// Makes room in the output for the row group about to close, so that the bytes are written
/// once into a buffer of the right size: growing it by doubling would hold up to three times the
/// row group at once while its pages are still in memory.
pub(crate) fn reserve_for_row_group(w: &mut ArrowWriter<Vec<u8>>) {
    let need = w.in_progress_size() + w.in_progress_size() / 16 + 4096;
    w.inner_mut().reserve(need);
}
