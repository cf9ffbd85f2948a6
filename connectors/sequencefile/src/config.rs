//! [`SequenceFileConfig`]: the `[sink.sequence_file]` table of a job file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sink_core::sink::FieldAccess;

use crate::codec::Codec;
use crate::format::{CompressionType, DEFAULT_BLOCK_SIZE};
use crate::mapping::{FieldMapper, WritableSpec};
use crate::options::SequenceFileOptions;
use crate::sink::{SequenceFileEncoder, SequenceFileWriterFactory};
use crate::writable::WritableType;
use crate::Error;

/// A key or a value in a job file: `{ type = "long", field = "event_id" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritableConfig {
    /// `"text"`, `"bytes"`, `"long"`, `"int"`, `"null"`, or a Hadoop class name of one of them
    /// (`"org.apache.hadoop.io.LongWritable"`).
    #[serde(rename = "type")]
    pub writable: WritableType,
    /// The record's field; without it, `text` and `bytes` hold the whole record as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl From<&WritableConfig> for WritableSpec {
    fn from(c: &WritableConfig) -> Self {
        WritableSpec {
            writable: c.writable,
            field: c.field.clone(),
        }
    }
}

/// The SequenceFile settings of a job file (`[sink.sequence_file]`). Every key is optional.
///
/// | key | default | |
/// | --- | --- | --- |
/// | `compression` | `"none"` | `"none"`, `"record"` (each value compressed) or `"block"` (keys and values compressed in blocks) |
/// | `codec` | `"default"` | `"default"` (zlib, Hadoop's `DefaultCodec`), `"gzip"` (`GzipCodec`), `"bzip2"` (`BZip2Codec`), or the Hadoop class name; only used when compressed |
/// | `key` | `{ type = "null" }` | the key: `type` (`"text"`, `"bytes"`, `"long"`, `"int"`, `"null"`, or a Hadoop class name of one) and `field` |
/// | `value` | `{ type = "text" }` | the value, the same way; without a `field`, `text` and `bytes` hold the whole record as JSON |
/// | `metadata` | `{}` | text pairs written into every file's header |
/// | `block_size` | `1000000` | block compression: bytes of keys and values per block (Hadoop's `io.seqfile.compress.blocksize`), a size (`"1MB"`) |
/// | `level` | `1` | the deflate level of `"default"` and `"gzip"`, 0 to 9 (1: fastest; Hadoop's zlib default is 6: about 20% smaller, four times slower) |
///
/// `"none"` and `"record"` are row formats: a part stays open across checkpoints, rolls by the
/// rolling policy, and resumes in place after a crash. `"block"` is a bulk format: parts roll at
/// every checkpoint.
///
/// ```
/// use connector_sequencefile::SequenceFileConfig;
/// let c: SequenceFileConfig = toml::from_str(r#"
///     compression = "block"
///     codec = "gzip"
///     key = { type = "long", field = "event_id" }
///     metadata = { source = "spillway" }
/// "#).unwrap();
/// assert!(!c.is_row_format());
/// assert!(toml::from_str::<SequenceFileConfig>("compresion = \"block\"").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceFileConfig {
    /// How records are compressed.
    #[serde(default)]
    pub compression: CompressionType,
    /// The codec.
    #[serde(default)]
    pub codec: Codec,
    /// The key.
    #[serde(default = "default_key")]
    pub key: WritableConfig,
    /// The value.
    #[serde(default = "default_value")]
    pub value: WritableConfig,
    /// Header metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Block size of block compression: bytes or a string with a unit (`"1MB"`).
    #[serde(default = "default_block_size", with = "sink_core::units::bytes")]
    pub block_size: usize,
    /// Deflate level.
    #[serde(default = "default_level")]
    pub level: u32,
}

fn default_key() -> WritableConfig {
    WritableConfig {
        writable: WritableType::Null,
        field: None,
    }
}

fn default_value() -> WritableConfig {
    WritableConfig {
        writable: WritableType::Text,
        field: None,
    }
}

fn default_block_size() -> usize {
    DEFAULT_BLOCK_SIZE
}

fn default_level() -> u32 {
    crate::codec::DEFAULT_LEVEL
}

impl Default for SequenceFileConfig {
    fn default() -> Self {
        SequenceFileConfig {
            compression: CompressionType::None,
            codec: Codec::Default,
            key: default_key(),
            value: default_value(),
            metadata: BTreeMap::new(),
            block_size: DEFAULT_BLOCK_SIZE,
            level: default_level(),
        }
    }
}

/// The format a [`SequenceFileConfig`] asks for.
pub enum SequenceFileFormat<T> {
    /// Uncompressed or record-compressed: a row format.
    Row(SequenceFileEncoder<T>),
    /// Block-compressed: a bulk format.
    Bulk(SequenceFileWriterFactory<T>),
}

impl SequenceFileConfig {
    /// True for `"none"` and `"record"` compression (a row format, resumed in place).
    pub fn is_row_format(&self) -> bool {
        self.compression != CompressionType::Block
    }

    /// The options.
    pub fn options(&self) -> SequenceFileOptions {
        SequenceFileOptions {
            compression: self.compression,
            codec: self.codec,
            metadata: self.metadata.clone(),
            block_size: self.block_size,
            level: self.level,
        }
    }

    /// The key and value mapper. Errors name the key (`key`, `value`).
    pub fn mapper(&self) -> Result<FieldMapper, Error> {
        let key = WritableSpec::from(&self.key);
        key.validate().map_err(|e| Error::config("key", e))?;
        let value = WritableSpec::from(&self.value);
        value.validate().map_err(|e| Error::config("value", e))?;
        FieldMapper::new(key, value).map_err(|e| Error::config("key", e))
    }

    /// Checks everything without building a format.
    pub fn validate(&self) -> Result<(), Error> {
        self.options().validate()?;
        self.mapper().map(|_| ())
    }

    /// The row or bulk format these settings describe.
    pub fn format<T: FieldAccess + serde::Serialize + Send + 'static>(
        &self,
    ) -> Result<SequenceFileFormat<T>, Error> {
        let mapper = self.mapper()?;
        Ok(if self.is_row_format() {
            SequenceFileFormat::Row(SequenceFileEncoder::with_mapper(self.options(), mapper)?)
        } else {
            SequenceFileFormat::Bulk(SequenceFileWriterFactory::with_mapper(
                self.options(),
                mapper,
            )?)
        })
    }

    /// A bulk writer factory for any compression (for sinks that roll on every checkpoint).
    pub fn bulk_factory<T: FieldAccess + serde::Serialize + Send + 'static>(
        &self,
    ) -> Result<SequenceFileWriterFactory<T>, Error> {
        SequenceFileWriterFactory::with_mapper(self.options(), self.mapper()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_key() {
        let c: SequenceFileConfig = toml::from_str("").unwrap();
        assert_eq!(c, SequenceFileConfig::default());
        assert!(c.is_row_format());
        let c: SequenceFileConfig = toml::from_str(
            r#"
            compression = "record"
            codec = "org.apache.hadoop.io.compress.GzipCodec"
            key = { type = "org.apache.hadoop.io.LongWritable", field = "event_id" }
            value = { type = "bytes" }
            metadata = { a = "1" }
            block_size = 4096
            "#,
        )
        .unwrap();
        assert_eq!(c.codec, Codec::Gzip);
        assert_eq!(c.key.writable, WritableType::Long);
        assert_eq!(c.block_size, 4096);
        c.validate().unwrap();
    }

    #[test]
    fn mistakes_are_errors_naming_the_key() {
        for (text, want) in [
            ("compression = \"blok\"", "unknown variant"),
            ("codec = \"snappy\"", "unknown codec"),
            (
                "key = { type = \"long\" }",
                "key: type \"long\" needs a field",
            ),
            (
                "value = { type = \"null\", field = \"x\" }",
                "value: type \"null\"",
            ),
            ("key = { type = \"text\", feild = \"x\" }", "unknown field"),
            ("block_size = 0", "block_size"),
            ("level = 10", "level"),
        ] {
            let err = toml::from_str::<SequenceFileConfig>(text)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate().map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
