//! [`SequenceFileOptions`]: compression, codec, metadata and block size.

use std::collections::BTreeMap;

use crate::codec::{self, Codec};
use crate::format::{CompressionType, Header, DEFAULT_BLOCK_SIZE};
use crate::Error;

/// How files are written, apart from what their keys and values are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceFileOptions {
    /// How records are compressed. Default: none (as Flink's `SequenceFileWriter`).
    pub compression: CompressionType,
    /// The codec when something is compressed. Default: zlib (`DefaultCodec`).
    pub codec: Codec,
    /// Metadata written into every header.
    pub metadata: BTreeMap<String, String>,
    /// Block compression: bytes of keys and values per block (Hadoop's
    /// `io.seqfile.compress.blocksize`, default 1,000,000).
    pub block_size: usize,
    /// The deflate level of zlib and gzip, 0 to 9. Default 1 ([`codec::DEFAULT_LEVEL`], the
    /// fastest; Hadoop's zlib default, 6, compresses about 20% smaller at a quarter of the speed).
    pub level: u32,
}

impl Default for SequenceFileOptions {
    fn default() -> Self {
        SequenceFileOptions {
            compression: CompressionType::None,
            codec: Codec::Default,
            metadata: BTreeMap::new(),
            block_size: DEFAULT_BLOCK_SIZE,
            level: codec::DEFAULT_LEVEL,
        }
    }
}

impl SequenceFileOptions {
    /// Uncompressed records.
    pub fn uncompressed() -> Self {
        Self::default()
    }

    /// Compresses with this type and codec.
    pub fn with_compression(mut self, compression: CompressionType, codec: Codec) -> Self {
        self.compression = compression;
        self.codec = codec;
        self
    }

    /// Adds a metadata pair.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the block size of block compression.
    pub fn with_block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }

    /// Sets the deflate level (0 to 9) of zlib and gzip.
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Checks the options.
    pub fn validate(&self) -> Result<(), Error> {
        if self.level > 9 {
            return Err(Error::config(
                "level",
                format!("{}: a deflate level is 0 to 9", self.level),
            ));
        }
        if !self.codec.is_available() {
            return Err(Error::config(
                "codec",
                format!("{} needs the `bzip2` feature", self.codec),
            ));
        }
        if self.block_size == 0 || self.block_size > i32::MAX as usize / 2 {
            return Err(Error::config(
                "block_size",
                format!("{}: must be between 1 byte and 1 GiB", self.block_size),
            ));
        }
        if self.metadata.len() > i32::MAX as usize {
            return Err(Error::config("metadata", "too many entries"));
        }
        Ok(())
    }

    /// The header of files with these key and value classes.
    pub fn header(&self, key_class: &str, value_class: &str) -> Header {
        Header {
            key_class: key_class.to_string(),
            value_class: value_class.to_string(),
            compression: self.compression,
            codec: self.codec,
            metadata: self.metadata.clone(),
        }
    }
}
