//! Writer settings (`[sink.parquet]`), mapped onto parquet's [`WriterProperties`].

use std::collections::BTreeMap;

use arrow_schema::{DataType, Schema};
use parquet::basic::{BrotliLevel, Compression as ParquetCompression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use sink_core::Error;

/// Default codec: zstd, which every current reader supports and which compresses well and fast.
pub const DEFAULT_COMPRESSION: Compression = Compression::Zstd;
/// Default zstd level (zstd's own default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Default gzip level.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// Default brotli level.
pub const DEFAULT_BROTLI_LEVEL: u32 = 1;
/// Default rows per row group (parquet-rs' and pyarrow's: 1 Mi rows). A part also closes its row
/// group when the sink flushes it for memory and when the part rolls.
pub const DEFAULT_MAX_ROW_GROUP_SIZE: usize = 1024 * 1024;
/// Default target size of a data page, bytes (parquet-rs' default).
pub const DEFAULT_DATA_PAGE_SIZE: usize = 1024 * 1024;
/// Dictionary encoding is on by default.
pub const DEFAULT_DICTIONARY: bool = true;
/// Columns whose dictionary overflows stop using one in later files, by default.
pub const DEFAULT_ADAPTIVE_DICTIONARY: bool = true;
/// Default statistics: per page (with the page index), the most useful for readers.
pub const DEFAULT_STATISTICS: Statistics = Statistics::Page;
/// Default false-positive probability of bloom filters.
pub const DEFAULT_BLOOM_FILTER_FPP: f64 = 0.05;
/// Default rows a part buffers before encoding them into its row group (and the bare writer's
/// batch size in the benchmark).
pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// Default handling of record fields the schema does not name: an error.
pub const DEFAULT_UNKNOWN_FIELDS: UnknownFields = UnknownFields::Error;

/// Compression codecs. Every one is read by pyarrow, DuckDB, Spark and Trino.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// No compression.
    #[serde(alias = "uncompressed")]
    None,
    /// Snappy.
    Snappy,
    /// Gzip, `compression_level` 0 to 9 (default 6).
    Gzip,
    /// LZ4 without framing (Parquet's `LZ4_RAW`). `lz4` means the same, as in pyarrow: Parquet's
    /// older `LZ4` codec has two incompatible framings and readers disagree on it.
    #[serde(alias = "lz4")]
    Lz4Raw,
    /// Brotli, `compression_level` 0 to 11 (default 1).
    Brotli,
    /// Zstandard, `compression_level` 1 to 22 (default 3; negative levels are faster).
    Zstd,
}

/// Which statistics are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistics {
    /// None.
    None,
    /// Per column chunk (row group).
    Chunk,
    /// Per column chunk and per page (the page index).
    Page,
}

/// What happens to a record field that the schema does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// The record is a bad record, with a message naming the field (the default): data the
    /// schema would silently lose is a mistake to fix, in the schema or upstream.
    Error,
    /// The field is left out of the file.
    Ignore,
}

/// Settings of the Parquet writer (`[sink.parquet]` in a job file). Every key has a default; see
/// the crate documentation for the table.
///
/// ```
/// use connector_parquet::{Compression, ParquetOptions, Statistics};
/// let from_toml: ParquetOptions = toml::from_str(r#"
///     compression = "zstd"
///     compression_level = 6
///     bloom_filter = ["user_id"]
///     [metadata]
///     owner = "data-eng"
/// "#).unwrap();
/// let built = ParquetOptions::default()
///     .with_compression(Compression::Zstd)
///     .with_compression_level(6)
///     .with_bloom_filter(["user_id"])
///     .with_metadata("owner", "data-eng");
/// assert_eq!(from_toml, built);
/// assert_eq!(built.statistics, Statistics::Page);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetOptions {
    /// The codec.
    pub compression: Compression,
    /// The codec's level, for zstd, gzip and brotli (default: the codec's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    /// Most rows in one row group.
    pub max_row_group_size: usize,
    /// Most bytes (estimated, encoded) in one row group; none by default. A size: bytes or a
    /// string with a unit (`"64MiB"`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "sink_core::units::bytes"
    )]
    pub max_row_group_bytes: Option<usize>,
    /// Target size of a data page: bytes or a string with a unit (`"1MiB"`).
    #[serde(with = "sink_core::units::bytes")]
    pub data_page_size: usize,
    /// Dictionary encoding (falls back to plain per column chunk when the dictionary grows past
    /// the page size).
    pub dictionary: bool,
    /// Columns of mostly distinct values (ids, timestamps) are written without a dictionary,
    /// which for them only costs time and memory (it grows to its limit and falls back to plain
    /// values, in every file of a partitioned lake): a column whose values in a part's first batch
    /// are 99% distinct, or whose dictionary overflowed in an earlier row group of this sink.
    pub adaptive_dictionary: bool,
    /// Which statistics are written.
    pub statistics: Statistics,
    /// Columns that get a bloom filter, by name (`user.id` for a struct member).
    pub bloom_filter: Vec<String>,
    /// Bloom filters' false-positive probability, between 0 and 1.
    pub bloom_filter_fpp: f64,
    /// Distinct values a bloom filter is sized for before folding (default: the row group size).
    /// A filter takes about `ndv * 1.2` bytes of memory per column while its row group is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloom_filter_ndv: Option<u64>,
    /// Key/value metadata written in every file's footer.
    pub metadata: BTreeMap<String, String>,
    /// The footer's `created_by` (default parquet-rs': `parquet-rs version 60.1.0`; readers use it
    /// to work around old writers' bugs, so change it only if you must).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Top-level columns left out of the files: the Hive partition columns, whose values are in
    /// the directory names (`country=DE/`). Records may still carry them (the bucket assigner
    /// reads them); they are not checked against the schema.
    pub drop_columns: Vec<String>,
    /// Rows a part buffers before they are encoded into its row group.
    pub batch_size: usize,
    /// What happens to a record field that the schema does not name.
    pub unknown_fields: UnknownFields,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: DEFAULT_COMPRESSION,
            compression_level: None,
            max_row_group_size: DEFAULT_MAX_ROW_GROUP_SIZE,
            max_row_group_bytes: None,
            data_page_size: DEFAULT_DATA_PAGE_SIZE,
            dictionary: DEFAULT_DICTIONARY,
            adaptive_dictionary: DEFAULT_ADAPTIVE_DICTIONARY,
            statistics: DEFAULT_STATISTICS,
            bloom_filter: Vec::new(),
            bloom_filter_fpp: DEFAULT_BLOOM_FILTER_FPP,
            bloom_filter_ndv: None,
            metadata: BTreeMap::new(),
            created_by: None,
            drop_columns: Vec::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            unknown_fields: DEFAULT_UNKNOWN_FIELDS,
        }
    }
}

impl ParquetOptions {
    /// Sets the codec.
    pub fn with_compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Sets the codec's level.
    pub fn with_compression_level(mut self, level: i32) -> Self {
        self.compression_level = Some(level);
        self
    }

    /// Sets the most rows per row group.
    pub fn with_max_row_group_size(mut self, rows: usize) -> Self {
        self.max_row_group_size = rows;
        self
    }

    /// Sets the most bytes per row group.
    pub fn with_max_row_group_bytes(mut self, bytes: usize) -> Self {
        self.max_row_group_bytes = Some(bytes);
        self
    }

    /// Sets the target data page size.
    pub fn with_data_page_size(mut self, bytes: usize) -> Self {
        self.data_page_size = bytes;
        self
    }

    /// Turns dictionary encoding on or off.
    pub fn with_dictionary(mut self, on: bool) -> Self {
        self.dictionary = on;
        self
    }

    /// Turns the adaptive dictionary on or off.
    pub fn with_adaptive_dictionary(mut self, on: bool) -> Self {
        self.adaptive_dictionary = on;
        self
    }

    /// Chooses the statistics.
    pub fn with_statistics(mut self, s: Statistics) -> Self {
        self.statistics = s;
        self
    }

    /// Writes bloom filters for these columns.
    pub fn with_bloom_filter(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.bloom_filter = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the bloom filters' false-positive probability.
    pub fn with_bloom_filter_fpp(mut self, fpp: f64) -> Self {
        self.bloom_filter_fpp = fpp;
        self
    }

    /// Sets the distinct values bloom filters are sized for.
    pub fn with_bloom_filter_ndv(mut self, ndv: u64) -> Self {
        self.bloom_filter_ndv = Some(ndv);
        self
    }

    /// Adds a key/value pair to every file's footer.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the footer's `created_by`.
    pub fn with_created_by(mut self, created_by: impl Into<String>) -> Self {
        self.created_by = Some(created_by.into());
        self
    }

    /// Leaves these top-level columns out of the files (Hive partition columns).
    pub fn with_drop_columns(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.drop_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the rows buffered before encoding.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Chooses what happens to fields the schema does not name.
    pub fn with_unknown_fields(mut self, u: UnknownFields) -> Self {
        self.unknown_fields = u;
        self
    }

    /// The codec with its level, checked.
    pub fn parquet_compression(&self) -> Result<ParquetCompression, Error> {
        let level = self.compression_level;
        let field = "sink.parquet.compression_level";
        let bad = |range: &str| {
            Error::config(
                field,
                format!(
                    "{} is out of range for {:?} ({range})",
                    level.unwrap_or_default(),
                    self.compression
                ),
            )
        };
        Ok(match self.compression {
            Compression::Zstd => ParquetCompression::ZSTD(
                ZstdLevel::try_new(level.unwrap_or(DEFAULT_ZSTD_LEVEL))
                    .map_err(|_| bad("1 to 22, or negative for faster modes"))?,
            ),
            Compression::Gzip => {
                let l = level.unwrap_or(DEFAULT_GZIP_LEVEL as i32);
                let l = u32::try_from(l).map_err(|_| bad("0 to 9"))?;
                ParquetCompression::GZIP(GzipLevel::try_new(l).map_err(|_| bad("0 to 9"))?)
            }
            Compression::Brotli => {
                let l = level.unwrap_or(DEFAULT_BROTLI_LEVEL as i32);
                let l = u32::try_from(l).map_err(|_| bad("0 to 11"))?;
                ParquetCompression::BROTLI(BrotliLevel::try_new(l).map_err(|_| bad("0 to 11"))?)
            }
            other => {
                if level.is_some() {
                    return Err(Error::config(
                        field,
                        format!("{other:?} has no levels (only zstd, gzip and brotli do)"),
                    ));
                }
                match other {
                    Compression::None => ParquetCompression::UNCOMPRESSED,
                    Compression::Snappy => ParquetCompression::SNAPPY,
                    _ => ParquetCompression::LZ4_RAW,
                }
            }
        })
    }

    /// Checks the settings against the schema of the files (after `drop_columns`) and builds the
    /// writer properties.
    pub fn writer_properties(&self, file_schema: &Schema) -> Result<WriterProperties, Error> {
        if self.max_row_group_size == 0 {
            return Err(Error::config(
                "sink.parquet.max_row_group_size",
                "must be at least 1 row",
            ));
        }
        if self.max_row_group_bytes == Some(0) {
            return Err(Error::config(
                "sink.parquet.max_row_group_bytes",
                "must be at least 1 byte",
            ));
        }
        if self.data_page_size == 0 {
            return Err(Error::config(
                "sink.parquet.data_page_size",
                "must be at least 1 byte",
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::config(
                "sink.parquet.batch_size",
                "must be at least 1 row",
            ));
        }
        if !(self.bloom_filter_fpp > 0.0 && self.bloom_filter_fpp < 1.0) {
            return Err(Error::config(
                "sink.parquet.bloom_filter_fpp",
                format!("{}: must be between 0 and 1", self.bloom_filter_fpp),
            ));
        }
        if self.bloom_filter_ndv == Some(0) {
            return Err(Error::config(
                "sink.parquet.bloom_filter_ndv",
                "must be at least 1",
            ));
        }
        let mut b = WriterProperties::builder()
            .set_compression(self.parquet_compression()?)
            .set_max_row_group_row_count(Some(self.max_row_group_size))
            .set_max_row_group_bytes(self.max_row_group_bytes)
            .set_data_page_size_limit(self.data_page_size)
            .set_dictionary_page_size_limit(self.data_page_size)
            .set_dictionary_enabled(self.dictionary)
            .set_statistics_enabled(match self.statistics {
                Statistics::None => EnabledStatistics::None,
                Statistics::Chunk => EnabledStatistics::Chunk,
                Statistics::Page => EnabledStatistics::Page,
            });
        if let Some(c) = &self.created_by {
            b = b.set_created_by(c.clone());
        }
        if !self.metadata.is_empty() {
            b = b.set_key_value_metadata(Some(
                self.metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ));
        }
        for name in &self.bloom_filter {
            let leaf = leaf_path(file_schema, name)
                .map_err(|e| Error::config("sink.parquet.bloom_filter", e))?;
            b = b
                .set_column_bloom_filter_enabled(leaf.clone(), true)
                .set_column_bloom_filter_fpp(leaf.clone(), self.bloom_filter_fpp);
            if let Some(n) = self.bloom_filter_ndv {
                b = b.set_column_bloom_filter_max_ndv(leaf, n);
            }
        }
        Ok(b.build())
    }
}

/// The Parquet column path of a leaf named `a` or `a.b`, refusing lists and structs (a bloom
/// filter is per leaf column).
fn leaf_path(schema: &Schema, name: &str) -> Result<ColumnPath, String> {
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or_default();
    let mut field = schema
        .field_with_name(first)
        .map_err(|_| format!("no column {first:?} in the files' schema"))?;
    let mut path = vec![first.to_string()];
    for p in parts {
        let DataType::Struct(members) = field.data_type() else {
            return Err(format!("{name:?}: {:?} is not a struct", path.join(".")));
        };
        field = members
            .iter()
            .find(|f| f.name() == p)
            .ok_or_else(|| format!("{name:?}: no member {p:?}"))?;
        path.push(p.to_string());
    }
    match field.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) => Err(format!(
            "{name:?} is not a leaf column (lists and structs have no bloom filter)"
        )),
        _ => Ok(ColumnPath::new(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("user_id", DataType::UInt64, false),
            Field::new(
                "user",
                DataType::Struct(vec![Field::new("id", DataType::Int64, true)].into()),
                true,
            ),
            Field::new(
                "tags",
                DataType::List(std::sync::Arc::new(Field::new(
                    "item",
                    DataType::Utf8,
                    true,
                ))),
                true,
            ),
        ])
    }

    #[test]
    fn defaults_and_mapping() {
        let o = ParquetOptions::default();
        let p = o.writer_properties(&schema()).unwrap();
        let col = ColumnPath::from("user_id");
        assert_eq!(
            p.compression(&col),
            ParquetCompression::ZSTD(ZstdLevel::try_new(3).unwrap())
        );
        assert_eq!(
            p.max_row_group_row_count(),
            Some(DEFAULT_MAX_ROW_GROUP_SIZE)
        );
        assert!(p.dictionary_enabled(&col));
        assert_eq!(p.statistics_enabled(&col), EnabledStatistics::Page);
        assert!(p.bloom_filter_properties(&col).is_none());

        let o = ParquetOptions::default()
            .with_compression(Compression::Gzip)
            .with_compression_level(9)
            .with_dictionary(false)
            .with_statistics(Statistics::Chunk)
            .with_bloom_filter(["user_id", "user.id"])
            .with_bloom_filter_fpp(0.01)
            .with_bloom_filter_ndv(5000)
            .with_metadata("k", "v")
            .with_created_by("me");
        let p = o.writer_properties(&schema()).unwrap();
        assert_eq!(
            p.compression(&col),
            ParquetCompression::GZIP(GzipLevel::try_new(9).unwrap())
        );
        assert!(!p.dictionary_enabled(&col));
        assert_eq!(p.statistics_enabled(&col), EnabledStatistics::Chunk);
        let bf = p
            .bloom_filter_properties(&ColumnPath::from(vec![
                "user".to_string(),
                "id".to_string(),
            ]))
            .unwrap();
        assert_eq!((bf.fpp(), bf.ndv()), (0.01, 5000));
        assert_eq!(p.created_by(), "me");
        assert_eq!(
            p.key_value_metadata().unwrap()[0],
            KeyValue::new("k".into(), "v".to_string())
        );
    }

    #[test]
    fn codecs_and_levels() {
        let table: [(&str, Result<ParquetCompression, &str>); 9] = [
            ("compression = \"snappy\"", Ok(ParquetCompression::SNAPPY)),
            ("compression = \"lz4\"", Ok(ParquetCompression::LZ4_RAW)),
            ("compression = \"lz4_raw\"", Ok(ParquetCompression::LZ4_RAW)),
            (
                "compression = \"none\"",
                Ok(ParquetCompression::UNCOMPRESSED),
            ),
            (
                "compression = \"uncompressed\"",
                Ok(ParquetCompression::UNCOMPRESSED),
            ),
            (
                "compression = \"brotli\"",
                Ok(ParquetCompression::BROTLI(BrotliLevel::try_new(1).unwrap())),
            ),
            (
                "compression = \"zstd\"\ncompression_level = 23",
                Err("23 is out of range for Zstd (1 to 22"),
            ),
            (
                "compression = \"snappy\"\ncompression_level = 1",
                Err("Snappy has no levels"),
            ),
            (
                "compression = \"gzip\"\ncompression_level = -1",
                Err("out of range for Gzip"),
            ),
        ];
        for (src, want) in table {
            let o: ParquetOptions = toml::from_str(src).unwrap();
            match (o.parquet_compression(), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{src}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{src}: {e}"),
                (got, w) => panic!("{src}: {got:?} vs {w:?}"),
            }
        }
    }

    #[test]
    fn config_errors() {
        let table = [
            (
                "max_row_group_size = 0",
                "max_row_group_size: must be at least 1",
            ),
            ("batch_size = 0", "batch_size: must be at least 1"),
            (
                "bloom_filter_fpp = 1.5",
                "bloom_filter_fpp: 1.5: must be between 0 and 1",
            ),
            ("bloom_filter = [\"nope\"]", "no column \"nope\""),
            ("bloom_filter = [\"tags\"]", "not a leaf column"),
            ("bloom_filter = [\"user.x\"]", "no member \"x\""),
        ];
        for (src, want) in table {
            let o: ParquetOptions = toml::from_str(src).unwrap();
            let e = o.writer_properties(&schema()).unwrap_err().to_string();
            assert!(e.contains(want), "{src}: {e}");
        }
        let e = toml::from_str::<ParquetOptions>("compresion = \"zstd\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `compresion`"), "{e}");
        let e = toml::from_str::<ParquetOptions>("compression = \"lzo\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `lzo`"), "{e}");
    }
}
