//! [`SequenceFileWriter`]: Flink's `SequenceFileWriter` for Spillway's `BucketingSink` facade
//! (`sink_core::sink::bucketing`).

use std::sync::Arc;

use sink_core::sink::bucketing::BucketingFormat;
use sink_core::sink::FieldAccess;

use crate::config::SequenceFileConfig;
use crate::format::CompressionType;
use crate::mapping::{KeyValueMapper, SequenceRecord, SequenceRecordMapper};
use crate::options::SequenceFileOptions;
use crate::sink::{SequenceFileEncoder, SequenceFileWriterFactory};
use crate::{Codec, Error};

/// Flink's `SequenceFileWriter<K, V>` for `BucketingSink::writer`: records (pairs of Writables as
/// Flink's `Tuple2<K, V>`, your [`SequenceRecord`]s, or anything through a [`KeyValueMapper`]) as a
/// Hadoop SequenceFile. Uncompressed by default, as Flink's.
///
/// Uncompressed and record-compressed files stay open across checkpoints and resume in place after
/// a crash, as the `BucketingSink`'s did; block-compressed files roll at every checkpoint (a block
/// buffered in memory cannot be resumed).
///
/// ```
/// use connector_sequencefile::{Codec, CompressionType, SequenceFileWriter};
/// use sink_core::sink::bucketing::{BasePathBucketer, BucketingSink};
///
/// let dir = tempfile::tempdir().unwrap();
/// let sink = BucketingSink::<(i64, String)>::new(dir.path())
///     .bucketer(BasePathBucketer)
///     .writer(SequenceFileWriter::new().with_compression(CompressionType::Block, Codec::Default).unwrap())
///     .build()
///     .unwrap();
/// assert!(sink.is_bulk());
/// ```
pub struct SequenceFileWriter<T> {
    options: SequenceFileOptions,
    mapper: Arc<dyn KeyValueMapper<T>>,
}

impl<T: SequenceRecord + 'static> SequenceFileWriter<T> {
    /// A writer of uncompressed SequenceFiles of [`SequenceRecord`]s (Flink's
    /// `new SequenceFileWriter<>()`).
    pub fn new() -> Self {
        Self::with_mapper(SequenceRecordMapper::<T>::new())
    }
}

impl<T: SequenceRecord + 'static> Default for SequenceFileWriter<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> SequenceFileWriter<T> {
    /// A writer whose keys and values `mapper` writes.
    pub fn with_mapper(mapper: impl KeyValueMapper<T>) -> Self {
        SequenceFileWriter {
            options: SequenceFileOptions::default(),
            mapper: Arc::new(mapper),
        }
    }

    /// Flink's `new SequenceFileWriter<>(compressionCodecName, compressionType)`. Fails for a codec
    /// this build lacks.
    pub fn with_compression(
        self,
        compression: CompressionType,
        codec: Codec,
    ) -> Result<Self, Error> {
        let options = self.options.clone().with_compression(compression, codec);
        self.with_options(options)
    }

    /// Every option at once (metadata, block size, ...), checked.
    pub fn with_options(mut self, options: SequenceFileOptions) -> Result<Self, Error> {
        options.validate()?;
        self.options = options;
        Ok(self)
    }

    /// The options.
    pub fn options(&self) -> &SequenceFileOptions {
        &self.options
    }
}

impl<T: FieldAccess + serde::Serialize + Send + 'static> SequenceFileWriter<T> {
    /// The writer a job file's `[sink.sequence_file]` describes.
    pub fn from_config(config: &SequenceFileConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(SequenceFileWriter {
            options: config.options(),
            mapper: Arc::new(config.mapper()?),
        })
    }
}

impl<T: Send + 'static> SequenceFileWriter<T> {
    /// The file sink format: a row format for none and record compression, a bulk format for
    /// block compression.
    pub fn into_format(self) -> Result<BucketingFormat<T>, Error> {
        Ok(if self.options.compression == CompressionType::Block {
            BucketingFormat::bulk(SequenceFileWriterFactory::with_mapper(
                self.options,
                self.mapper,
            )?)
        } else {
            BucketingFormat::row(SequenceFileEncoder::with_mapper(self.options, self.mapper)?)
        })
    }
}

/// For `BucketingSink::writer`.
impl<T: Send + 'static> From<SequenceFileWriter<T>> for BucketingFormat<T> {
    fn from(w: SequenceFileWriter<T>) -> Self {
        w.into_format()
            .expect("SequenceFileWriter's options are checked when they are set")
    }
}
