//! The SequenceFile formats of the file sink: [`SequenceFileEncoder`] (a row format: parts stay
//! open across checkpoints and resume in place after a crash) and [`SequenceFileWriterFactory`]
//! (a bulk format: parts roll at every checkpoint; the only way to write block compression).

use std::fmt;
use std::sync::Arc;

use sink_core::fs::RelPath;
use sink_core::sink::{
    BulkWriter, BulkWriterFactory, EncodeError, PartEncoder, PartStart, RowEncoder, WriteError,
};

use crate::codec::Compressor;
use crate::format::{
    random_sync_marker, sync_marker_for_path, AppendError, CompressionType, FileEncoder, Header,
    RecordAppender,
};
use crate::mapping::{KeyValueMapper, SequenceRecord, SequenceRecordMapper};
use crate::options::SequenceFileOptions;
use crate::Error;

/// The suffix of SequenceFile parts, unless the output file config sets one.
pub const SEQUENCE_FILE_SUFFIX: &str = ".seq";

/// SequenceFiles as a row format, uncompressed or record-compressed.
///
/// Such a file can be cut at any record boundary and still be read to its end, so a part stays open
/// across checkpoints (rolled by the rolling policy, as JSON lines are) and, after a crash, resumes
/// in place: the sink truncates it to the checkpoint's length and this encoder continues it. The
/// header is written once, when the part opens; its sync marker is a function of the part's path
/// ([`sync_marker_for_path`]), so the resumed part goes on with the same marker. After a resume the
/// next record gets a sync entry (the position of the last one is not known), which readers accept.
///
/// Block compression buffers whole blocks, which a crash would lose: use
/// [`SequenceFileWriterFactory`] for it.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use connector_sequencefile::SequenceFileEncoder;
/// use sink_core::fs::LocalTarget;
/// use sink_core::sink::{BasePathBucketAssigner, Context, FileSink, WriterContext};
///
/// let dir = tempfile::tempdir().unwrap();
/// let sink = FileSink::for_row_format(
///     LocalTarget::new(dir.path()).unwrap(),
///     SequenceFileEncoder::<(i64, String)>::new(Default::default()).unwrap(),
/// )
/// .with_bucket_assigner(BasePathBucketAssigner)
/// .build()
/// .unwrap();
/// let mut w = sink.writer(WriterContext::new(0, "r1"), vec![]).await.unwrap();
/// w.write(&(7, "seven".to_string()), &Context::default()).await.unwrap();
/// w.close_all().await.unwrap();
/// w.snapshot(1).await.unwrap();
/// w.notify_checkpoint_complete(1).await.unwrap();
/// let bytes = std::fs::read(dir.path().join("part-r1-0-0.seq")).unwrap();
/// assert_eq!(&bytes[..4], b"SEQ\x06");
/// assert!(bytes.ends_with(&[0, 0, 0, 14, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7, 5, b's', b'e', b'v', b'e', b'n']));
/// # });
/// ```
pub struct SequenceFileEncoder<T> {
    mapper: Arc<dyn KeyValueMapper<T>>,
    header: Header,
    level: u32,
}

impl<T> fmt::Debug for SequenceFileEncoder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceFileEncoder")
            .field("header", &self.header)
            .finish()
    }
}

impl<T> Clone for SequenceFileEncoder<T> {
    fn clone(&self) -> Self {
        SequenceFileEncoder {
            mapper: Arc::clone(&self.mapper),
            header: self.header.clone(),
            level: self.level,
        }
    }
}

impl<T: SequenceRecord + 'static> SequenceFileEncoder<T> {
    /// An encoder of [`SequenceRecord`]s (pairs of Writables among them).
    pub fn new(options: SequenceFileOptions) -> Result<Self, Error> {
        Self::with_mapper(options, SequenceRecordMapper::<T>::new())
    }
}

impl<T: 'static> SequenceFileEncoder<T> {
    /// An encoder whose keys and values `mapper` writes. Refuses block compression.
    pub fn with_mapper(
        options: SequenceFileOptions,
        mapper: impl KeyValueMapper<T>,
    ) -> Result<Self, Error> {
        options.validate()?;
        if options.compression == CompressionType::Block {
            return Err(Error::config(
                "compression",
                "block compression buffers whole blocks, so it cannot resume in place: use SequenceFileWriterFactory (a bulk format that rolls on every checkpoint)",
            ));
        }
        let header = options.header(mapper.key_class(), mapper.value_class());
        Ok(SequenceFileEncoder {
            mapper: Arc::new(mapper),
            header,
            level: options.level,
        })
    }

    /// The header fields of its files.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

struct SequencePart<T> {
    mapper: Arc<dyn KeyValueMapper<T>>,
    appender: RecordAppender,
    header: Option<(Header, [u8; 16])>,
}

impl<T: 'static> PartEncoder<T> for SequencePart<T> {
    fn header(&mut self, out: &mut Vec<u8>) {
        if let Some((h, sync)) = self.header.take() {
            h.write(&sync, out);
        }
    }

    fn encode(&mut self, record: &T, pos: u64, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let m = &*self.mapper;
        self.appender.append_with(
            pos,
            out,
            |o| m.write_key(record, o),
            |o| m.write_value(record, o),
        )
    }
}

impl<T: 'static> RowEncoder<T> for SequenceFileEncoder<T> {
    /// Not used: the sink encodes SequenceFile parts through [`part_encoder`](Self::part_encoder),
    /// which knows the file's sync marker and position.
    fn encode(&self, _record: &T, _out: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError(
            "SequenceFileEncoder encodes only through a part encoder (FileSink uses one)".into(),
        ))
    }

    fn suffix(&self) -> &str {
        SEQUENCE_FILE_SUFFIX
    }

    fn part_encoder(&self, part: PartStart<'_>) -> Option<Box<dyn PartEncoder<T>>> {
        let sync = sync_marker_for_path(part.path.as_str());
        let compressor = (self.header.compression == CompressionType::Record)
            .then(|| Compressor::with_level(self.header.codec, self.level));
        Some(Box::new(SequencePart {
            mapper: Arc::clone(&self.mapper),
            appender: RecordAppender::new(sync, compressor),
            header: part
                .resumed_len
                .is_none()
                .then(|| (self.header.clone(), sync)),
        }))
    }
}

/// SequenceFiles as a bulk format (Flink's `SequenceFileWriter` in a `BulkWriter.Factory`): every
/// compression type, block compression included. Each part is a whole file with a random sync
/// marker; parts roll at every checkpoint. Block compression keeps one block in memory (up to the
/// block size) and writes it out when it is full, when the sink's memory budget asks for a flush,
/// and when the part closes.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use connector_sequencefile::{Codec, CompressionType, SequenceFileOptions, SequenceFileWriterFactory};
/// use sink_core::fs::LocalTarget;
/// use sink_core::sink::{BasePathBucketAssigner, Context, FileSink, WriterContext};
///
/// let dir = tempfile::tempdir().unwrap();
/// let options = SequenceFileOptions::default().with_compression(CompressionType::Block, Codec::Default);
/// let sink = FileSink::for_bulk_format(
///     LocalTarget::new(dir.path()).unwrap(),
///     SequenceFileWriterFactory::<(i64, String)>::new(options).unwrap(),
/// )
/// .with_bucket_assigner(BasePathBucketAssigner)
/// .build()
/// .unwrap();
/// let mut w = sink.writer(WriterContext::new(0, "r1"), vec![]).await.unwrap();
/// w.write(&(7, "seven".to_string()), &Context::default()).await.unwrap();
/// w.snapshot(1).await.unwrap(); // a bulk part rolls at every checkpoint
/// w.notify_checkpoint_complete(1).await.unwrap();
/// let bytes = std::fs::read(dir.path().join("part-r1-0-0.seq")).unwrap();
/// assert_eq!(&bytes[..4], b"SEQ\x06");
/// # });
/// ```
pub struct SequenceFileWriterFactory<T> {
    mapper: Arc<dyn KeyValueMapper<T>>,
    header: Header,
    options: SequenceFileOptions,
}

impl<T> fmt::Debug for SequenceFileWriterFactory<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceFileWriterFactory")
            .field("header", &self.header)
            .field("options", &self.options)
            .finish()
    }
}

impl<T> Clone for SequenceFileWriterFactory<T> {
    fn clone(&self) -> Self {
        SequenceFileWriterFactory {
            mapper: Arc::clone(&self.mapper),
            header: self.header.clone(),
            options: self.options.clone(),
        }
    }
}

impl<T: SequenceRecord + 'static> SequenceFileWriterFactory<T> {
    /// A factory of writers of [`SequenceRecord`]s.
    pub fn new(options: SequenceFileOptions) -> Result<Self, Error> {
        Self::with_mapper(options, SequenceRecordMapper::<T>::new())
    }
}

impl<T: 'static> SequenceFileWriterFactory<T> {
    /// A factory whose writers write keys and values with `mapper`.
    pub fn with_mapper(
        options: SequenceFileOptions,
        mapper: impl KeyValueMapper<T>,
    ) -> Result<Self, Error> {
        options.validate()?;
        let header = options.header(mapper.key_class(), mapper.value_class());
        Ok(SequenceFileWriterFactory {
            mapper: Arc::new(mapper),
            header,
            options,
        })
    }

    /// The header fields of its files.
    pub fn header(&self) -> &Header {
        &self.header
    }
}

/// One part file of a [`SequenceFileWriterFactory`].
struct SequenceBulkWriter<T> {
    mapper: Arc<dyn KeyValueMapper<T>>,
    file: FileEncoder,
    out: Vec<u8>,
    /// Where the part is, for errors: its bucket's directory (a bulk writer is not told the part's
    /// file name).
    location: String,
}

impl<T> SequenceBulkWriter<T> {
    /// A block that could not be compressed (`flush` and `finish` write only what is buffered, so
    /// their errors are the codec's, never a record's).
    fn codec_error(&self, e: EncodeError) -> sink_core::Error {
        sink_core::Error::format(crate::FORMAT, Some(&self.location), e)
    }
}

impl<T: 'static> BulkWriter<T> for SequenceBulkWriter<T> {
    fn add(&mut self, record: &T) -> Result<(), WriteError> {
        let m = &*self.mapper;
        self.file
            .append_with(
                &mut self.out,
                |o| m.write_key(record, o),
                |o| m.write_value(record, o),
            )
            .map_err(|e| match e {
                AppendError::Record(e) => WriteError::BadRecord(e.0),
                // Records accepted earlier are lost to this part: never a bad record, which a
                // skip or dead-letter policy would count and go past.
                AppendError::Codec(e) => WriteError::Fatal(self.codec_error(e)),
            })
    }

    fn take_output(&mut self, out: &mut Vec<u8>) {
        // A failed compression shows again, as an error, in `flush` or `finish`.
        let _ = self.file.poll(&mut self.out);
        if out.is_empty() {
            std::mem::swap(out, &mut self.out);
        } else {
            out.append(&mut self.out);
        }
    }

    fn buffered_bytes(&self) -> usize {
        self.out.len() + self.file.buffered_bytes()
    }

    fn flush(&mut self) -> sink_core::Result<()> {
        if self.file.buffered_bytes() > 0 {
            // Writes the blocks, waiting for their compression.
            if let Err(e) = self.file.flush(&mut self.out) {
                return Err(self.codec_error(e));
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>, out: &mut Vec<u8>) -> sink_core::Result<()> {
        let SequenceBulkWriter {
            file,
            out: mut bytes,
            location,
            ..
        } = *self;
        file.finish(&mut bytes)
            .map_err(|e| sink_core::Error::format(crate::FORMAT, Some(&location), e))?;
        out.append(&mut bytes);
        Ok(())
    }
}

impl<T: Send + 'static> BulkWriterFactory<T> for SequenceFileWriterFactory<T> {
    fn create(&self, bucket: &RelPath) -> sink_core::Result<Box<dyn BulkWriter<T>>> {
        let mut out = Vec::new();
        let file = FileEncoder::new(&self.header, random_sync_marker(), &self.options, &mut out);
        Ok(Box::new(SequenceBulkWriter {
            mapper: Arc::clone(&self.mapper),
            file,
            out,
            location: sink_core::error::bucket_dir(bucket),
        }))
    }

    fn suffix(&self) -> &str {
        SEQUENCE_FILE_SUFFIX
    }
}
