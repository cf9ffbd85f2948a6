//! [`Writer`]: a SequenceFile on any [`std::io::Write`], without the file sink.

use std::io::Write;

use sink_core::sink::EncodeError;

use crate::format::{random_sync_marker, AppendError, FileEncoder, SyncMarker};
use crate::mapping::{SequenceRecord, Writable};
use crate::options::SequenceFileOptions;
use crate::Error;

/// Bytes collected before they are written to the inner writer.
const BUFFER: usize = 64 * 1024;

/// Writes one SequenceFile to a [`Write`] (Hadoop's `SequenceFile.Writer`).
///
/// ```
/// use connector_sequencefile::{writable, SequenceFileOptions, Writer};
/// let mut w = Writer::new(Vec::new(), writable::LONG_WRITABLE_CLASS, writable::TEXT_CLASS,
///     &SequenceFileOptions::default()).unwrap();
/// w.append(&1i64, &"one").unwrap();
/// w.append(&2i64, &"two").unwrap();
/// let file = w.finish().unwrap();
/// assert_eq!(&file[..4], b"SEQ\x06");
/// ```
pub struct Writer<W: Write> {
    inner: W,
    file: Option<FileEncoder>,
    buf: Vec<u8>,
    key_class: String,
    value_class: String,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("key_class", &self.key_class)
            .field("value_class", &self.value_class)
            .field("file", &self.file)
            .finish()
    }
}

impl<W: Write> Writer<W> {
    /// Starts a file of these key and value classes with a random sync marker.
    pub fn new(
        inner: W,
        key_class: &str,
        value_class: &str,
        options: &SequenceFileOptions,
    ) -> Result<Self, Error> {
        Self::with_sync_marker(inner, key_class, value_class, options, random_sync_marker())
    }

    /// Starts a file with a given sync marker (for reproducible output).
    pub fn with_sync_marker(
        inner: W,
        key_class: &str,
        value_class: &str,
        options: &SequenceFileOptions,
        sync: SyncMarker,
    ) -> Result<Self, Error> {
        options.validate()?;
        let mut buf = Vec::with_capacity(BUFFER);
        let file = FileEncoder::new(
            &options.header(key_class, value_class),
            sync,
            options,
            &mut buf,
        );
        Ok(Writer {
            inner,
            file: Some(file),
            buf,
            key_class: key_class.to_string(),
            value_class: value_class.to_string(),
        })
    }

    /// Appends a key and a value. Their classes must be the file's (checked).
    pub fn append<K: Writable, V: Writable>(&mut self, key: &K, value: &V) -> Result<(), Error> {
        if K::CLASS != self.key_class || V::CLASS != self.value_class {
            return Err(Error::Record(EncodeError(format!(
                "wrong classes {} / {}: this file holds {} / {}",
                K::CLASS,
                V::CLASS,
                self.key_class,
                self.value_class
            ))));
        }
        self.append_with(
            |o| {
                key.write(o);
                Ok(())
            },
            |o| {
                value.write(o);
                Ok(())
            },
        )
    }

    /// Appends a [`SequenceRecord`] of the file's classes.
    pub fn append_record<T: SequenceRecord>(&mut self, record: &T) -> Result<(), Error> {
        if T::KEY_CLASS != self.key_class || T::VALUE_CLASS != self.value_class {
            return Err(Error::Record(EncodeError(format!(
                "wrong classes {} / {}: this file holds {} / {}",
                T::KEY_CLASS,
                T::VALUE_CLASS,
                self.key_class,
                self.value_class
            ))));
        }
        self.append_with(|o| record.write_key(o), |o| record.write_value(o))
    }

    /// Appends a record whose serialised key and value the closures append (unchecked: they must
    /// be of the file's classes).
    pub fn append_with<K, V>(&mut self, key: K, value: V) -> Result<(), Error>
    where
        K: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
        V: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    {
        let file = self.file.as_mut().ok_or(Error::Finished)?;
        file.append_with(&mut self.buf, key, value)
            .map_err(|e| match e {
                AppendError::Record(e) => Error::Record(e),
                AppendError::Codec(e) => Error::Compression(e),
            })?;
        if self.buf.len() >= BUFFER {
            self.inner.write_all(&self.buf).map_err(Error::Io)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Block compression: writes the buffered block now. Otherwise: writes a sync entry.
    pub fn sync(&mut self) -> Result<(), Error> {
        let file = self.file.as_mut().ok_or(Error::Finished)?;
        file.flush(&mut self.buf).map_err(Error::Compression)
    }

    /// Bytes of the file so far (what [`finish`](Self::finish) will have written, less a buffered
    /// block).
    pub fn position(&self) -> u64 {
        self.file.as_ref().map_or(0, FileEncoder::position)
    }

    /// Writes the rest (the last block) and returns the inner writer, flushed.
    pub fn finish(mut self) -> Result<W, Error> {
        if let Some(file) = self.file.take() {
            file.finish(&mut self.buf).map_err(Error::Compression)?;
        }
        self.inner.write_all(&self.buf).map_err(Error::Io)?;
        self.inner.flush().map_err(Error::Io)?;
        Ok(self.inner)
    }
}
