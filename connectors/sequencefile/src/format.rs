//! The SequenceFile format itself: header, records, sync markers and compressed blocks, written into
//! byte buffers. Everything else in this crate is built on [`FileEncoder`] and [`RecordAppender`].
//!
//! ```text
//! header:  "SEQ" 6 | key class (Text) | value class (Text) | compressed (bool) | block-compressed (bool)
//!          | codec class (Text, only when compressed) | metadata: count (i32), then Text key, Text value
//!          | sync marker (16 bytes)
//! none:    [sync entry] record length (i32) | key length (i32) | key | value
//! record:  [sync entry] record length (i32) | key length (i32) | key | compressed value
//! block:   sync entry | record count (vint) | for key lengths, keys, value lengths, values:
//!          compressed size (vint) and the compressed buffer
//! sync entry: -1 (i32) | sync marker
//! ```
//!
//! All integers are big-endian. Outside blocks, a sync entry goes before a record when the file
//! has grown by [`SYNC_INTERVAL`] bytes since the last one (Hadoop 2.7.3's rule, `checkAndWriteSync`);
//! in a block-compressed file one goes before every block, and a block is written once its keys and
//! values reach the block size (`io.seqfile.compress.blocksize`, default [`DEFAULT_BLOCK_SIZE`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sink_core::sink::EncodeError;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use crate::codec::{Codec, Compressor};
use crate::options::SequenceFileOptions;
use crate::pool;
use crate::vint::write_vint;
use crate::writable::write_text;

/// The magic and version: `SEQ` and 6 (the version with metadata).
pub const MAGIC: [u8; 4] = *b"SEQ\x06";
/// Bytes of a sync marker.
pub const SYNC_HASH_SIZE: usize = 16;
/// Bytes of a sync entry: the escape (-1 as an i32) and the marker.
pub const SYNC_SIZE: usize = 4 + SYNC_HASH_SIZE;
/// Bytes between sync entries outside blocks: Hadoop 2.7.3's `SYNC_INTERVAL = 100 * SYNC_SIZE`.
/// (Hadoop 3 raised it to 100 KiB; readers accept any spacing.)
pub const SYNC_INTERVAL: u64 = 100 * SYNC_SIZE as u64;
/// The record length that announces a sync entry.
pub const SYNC_ESCAPE: i32 = -1;
/// Hadoop's default `io.seqfile.compress.blocksize`: keys and values buffered per block.
pub const DEFAULT_BLOCK_SIZE: usize = 1_000_000;

/// A file's sync marker, written at the end of the header and in every sync entry.
pub type SyncMarker = [u8; SYNC_HASH_SIZE];

/// How records are compressed (Hadoop's `SequenceFile.CompressionType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionType {
    /// Nothing is compressed (the default of Flink's `SequenceFileWriter`).
    #[default]
    None,
    /// Each value is compressed on its own; keys are not.
    Record,
    /// Keys and values are compressed together in blocks.
    Block,
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompressionType::None => "none",
            CompressionType::Record => "record",
            CompressionType::Block => "block",
        })
    }
}

/// What goes into a file's header besides the sync marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The Hadoop class of the keys (`org.apache.hadoop.io.LongWritable`).
    pub key_class: String,
    /// The Hadoop class of the values.
    pub value_class: String,
    /// How records are compressed.
    pub compression: CompressionType,
    /// The codec, written only when something is compressed.
    pub codec: Codec,
    /// Metadata: text pairs, written in key order (as Hadoop's `TreeMap`).
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// Appends the header, ending with `sync`.
    pub fn write(&self, sync: &SyncMarker, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        write_text(out, &self.key_class);
        write_text(out, &self.value_class);
        out.push(u8::from(self.compression != CompressionType::None));
        out.push(u8::from(self.compression == CompressionType::Block));
        if self.compression != CompressionType::None {
            write_text(out, self.codec.class_name());
        }
        out.extend_from_slice(&(self.metadata.len() as i32).to_be_bytes());
        for (k, v) in &self.metadata {
            write_text(out, k);
            write_text(out, v);
        }
        out.extend_from_slice(sync);
    }
}

/// A random sync marker, for a new file whose marker need not be found again.
pub fn random_sync_marker() -> SyncMarker {
    *uuid::Uuid::new_v4().as_bytes()
}

/// The sync marker of the part file at `path`: a fixed function of the path, so that a part resumed
/// after a crash goes on with the marker its header already holds. Part paths are unique (they
/// hold the run id, the subtask and a counter), so markers differ between files as Hadoop's do.
pub fn sync_marker_for_path(path: &str) -> SyncMarker {
    fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(seed, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    fn mix(mut z: u64) -> u64 {
        // splitmix64's finaliser: spreads every input bit over the output.
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let bytes = path.as_bytes();
    let a = mix(fnv1a(0xcbf2_9ce4_8422_2325, bytes));
    let b = mix(fnv1a(0x6c62_272e_07bb_0142, bytes) ^ a);
    let mut m = [0u8; SYNC_HASH_SIZE];
    m[..8].copy_from_slice(&a.to_be_bytes());
    m[8..].copy_from_slice(&b.to_be_bytes());
    m
}

fn write_sync_entry(sync: &SyncMarker, out: &mut Vec<u8>) {
    out.extend_from_slice(&SYNC_ESCAPE.to_be_bytes());
    out.extend_from_slice(sync);
}

/// Appends the records of an uncompressed or record-compressed file, with sync entries at Hadoop's
/// interval. It keeps only the sync marker, the position of the last sync entry and a compressor, so
/// it can continue a file at any record boundary given the file's length.
pub struct RecordAppender {
    sync: SyncMarker,
    last_sync: u64,
    compressor: Option<Compressor>,
    scratch: Vec<u8>,
}

impl fmt::Debug for RecordAppender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordAppender")
            .field("last_sync", &self.last_sync)
            .field("compressor", &self.compressor)
            .finish()
    }
}

impl RecordAppender {
    /// An appender for a file with this marker; values are compressed with `compressor` when one is given
    /// (record compression). The first sync entry goes before the first record at or past
    /// [`SYNC_INTERVAL`] bytes, as in Hadoop (whose `lastSyncPos` starts at 0). For a file continued
    /// after a crash the position of its last sync entry is unknown; starting from 0 writes one
    /// before the next record, which readers accept.
    pub fn new(sync: SyncMarker, compressor: Option<Compressor>) -> Self {
        RecordAppender {
            sync,
            last_sync: 0,
            compressor,
            scratch: Vec::new(),
        }
    }

    /// Appends one record to `out`. `pos` is the file's length before it (`out`'s new bytes start
    /// at file offset `pos`). `key` and `value` append the serialised Writables. On error, `out`
    /// may hold a partial record (the caller cuts it) and the appender is unchanged.
    pub fn append_with<K, V>(
        &mut self,
        pos: u64,
        out: &mut Vec<u8>,
        key: K,
        value: V,
    ) -> Result<(), EncodeError>
    where
        K: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
        V: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    {
        let synced = pos >= self.last_sync + SYNC_INTERVAL && self.last_sync != pos;
        let start = out.len();
        if synced {
            write_sync_entry(&self.sync, out);
        }
        let lengths = out.len();
        out.extend_from_slice(&[0; 8]);
        key(out)?;
        let key_len = out.len() - lengths - 8;
        match &mut self.compressor {
            None => value(out)?,
            Some(c) => {
                self.scratch.clear();
                value(&mut self.scratch)?;
                c.compress(&self.scratch, out);
            }
        }
        let record_len = out.len() - lengths - 8;
        let (Ok(record_len), Ok(key_len)) = (i32::try_from(record_len), i32::try_from(key_len))
        else {
            return Err(EncodeError(format!(
                "record of {record_len} bytes is larger than a SequenceFile record can be (2 GiB)"
            )));
        };
        out[lengths..lengths + 4].copy_from_slice(&record_len.to_be_bytes());
        out[lengths + 4..lengths + 8].copy_from_slice(&key_len.to_be_bytes());
        if synced {
            self.last_sync = pos + (lengths - start) as u64;
        }
        Ok(())
    }

    /// Appends a sync entry now, unless one was just written (Hadoop's `Writer.sync()`).
    pub fn sync(&mut self, pos: u64, out: &mut Vec<u8>) {
        if self.last_sync != pos {
            write_sync_entry(&self.sync, out);
            self.last_sync = pos + SYNC_SIZE as u64;
        }
    }
}

/// Buffers the records of a block-compressed file, a block at a time.
pub struct BlockBuffer {
    block_size: usize,
    key_lens: Vec<u8>,
    keys: Vec<u8>,
    value_lens: Vec<u8>,
    values: Vec<u8>,
    records: i32,
    /// Buffers of blocks already compressed, cleared, for the next blocks (no allocation per block).
    spare: Vec<[Vec<u8>; 4]>,
}

/// Sets of spare block buffers kept per file.
const SPARE_BLOCKS: usize = 1;

impl fmt::Debug for BlockBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockBuffer")
            .field("records", &self.records)
            .field("buffered", &self.buffered_bytes())
            .finish()
    }
}

impl BlockBuffer {
    /// A buffer whose block is full once keys and values reach `block_size` bytes.
    pub fn new(block_size: usize) -> Self {
        BlockBuffer {
            block_size: block_size.max(1),
            key_lens: Vec::new(),
            keys: Vec::new(),
            value_lens: Vec::new(),
            values: Vec::new(),
            records: 0,
            spare: Vec::new(),
        }
    }

    /// Gives back the buffers of a block that was written, to be reused by a later block.
    pub fn recycle(&mut self, block: RawBlock) {
        if self.spare.len() < SPARE_BLOCKS {
            let mut buffers = block.buffers;
            buffers.iter_mut().for_each(Vec::clear);
            self.spare.push(buffers);
        }
    }

    /// Adds a record. On error the buffer is as before.
    pub fn add_with<K, V>(&mut self, key: K, value: V) -> Result<(), EncodeError>
    where
        K: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
        V: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    {
        let (k0, v0) = (self.keys.len(), self.values.len());
        let res = key(&mut self.keys).and_then(|()| value(&mut self.values));
        let (key_len, value_len) = (self.keys.len() - k0, self.values.len() - v0);
        if res.is_err() || key_len > i32::MAX as usize || value_len > i32::MAX as usize {
            self.keys.truncate(k0);
            self.values.truncate(v0);
            return res.and(Err(EncodeError(
                "key or value larger than 2 GiB".to_string(),
            )));
        }
        write_vint(&mut self.key_lens, key_len as i32);
        write_vint(&mut self.value_lens, value_len as i32);
        self.records += 1;
        Ok(())
    }

    /// True once the block has reached its size and should be written.
    pub fn is_full(&self) -> bool {
        self.keys.len() + self.values.len() >= self.block_size
    }

    /// Records in the block.
    pub fn records(&self) -> usize {
        self.records as usize
    }

    /// Memory held by the buffered block (the bytes in it, not the capacity of its buffers).
    pub fn buffered_bytes(&self) -> usize {
        self.key_lens.len() + self.keys.len() + self.value_lens.len() + self.values.len()
    }

    /// Takes the buffered block out, leaving the buffer empty; `None` when it is empty.
    pub fn take(&mut self) -> Option<RawBlock> {
        if self.records == 0 {
            return None;
        }
        // The next block gets the buffers of a block already written, or new ones as large as
        // this one's.
        let [kl, k, vl, v] = self.spare.pop().unwrap_or_else(|| {
            [
                Vec::with_capacity(self.key_lens.len()),
                Vec::with_capacity(self.keys.len()),
                Vec::with_capacity(self.value_lens.len()),
                Vec::with_capacity(self.values.len()),
            ]
        });
        let block = RawBlock {
            records: self.records,
            buffers: [
                std::mem::replace(&mut self.key_lens, kl),
                std::mem::replace(&mut self.keys, k),
                std::mem::replace(&mut self.value_lens, vl),
                std::mem::replace(&mut self.values, v),
            ],
        };
        self.records = 0;
        Some(block)
    }
}

/// A block's records, not yet compressed: key lengths, keys, value lengths, values.
#[derive(Debug)]
pub struct RawBlock {
    records: i32,
    buffers: [Vec<u8>; 4],
}

impl RawBlock {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buffers.iter().map(Vec::len).sum()
    }

    /// True when it holds no record (never, for a block taken from a [`BlockBuffer`]).
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends the block as Hadoop's `BlockCompressWriter.sync()` writes it: a sync entry, the
    /// record count, then each buffer compressed, after its compressed size.
    pub fn encode(&self, sync: &SyncMarker, compressor: &mut Compressor, out: &mut Vec<u8>) {
        self.encode_with(sync, compressor, &mut Vec::new(), out)
    }

    /// [`encode`](Self::encode) with a scratch buffer for each compressed buffer, kept by the
    /// caller between blocks.
    pub fn encode_with(
        &self,
        sync: &SyncMarker,
        compressor: &mut Compressor,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        write_sync_entry(sync, out);
        write_vint(out, self.records);
        for buf in &self.buffers {
            scratch.clear();
            compressor.compress(buf, scratch);
            write_vint(out, scratch.len() as i32);
            out.extend_from_slice(scratch);
        }
    }
}

/// Blocks compressed at once per file on the compression threads; past it, adding a record waits
/// for the oldest.
const MAX_BLOCKS_IN_FLIGHT: usize = 4;

/// A compressed block, and the buffers of its raw form and its compressed form, to be reused.
type Compressed = mpsc::Receiver<Result<(Vec<u8>, RawBlock), String>>;

/// A block-compressed body: the block being filled and the blocks being compressed, in order.
struct Blocks {
    buffer: BlockBuffer,
    sync: SyncMarker,
    codec: Codec,
    level: u32,
    in_flight: VecDeque<(usize, Compressed)>,
    /// Blocks of this file compressed by the threads so far, and taken from them by [`drain`]:
    /// while they are equal, nothing is ready and a poll is one atomic load.
    compressed: Arc<AtomicUsize>,
    taken: usize,
    /// A buffer for the next block's compressed form.
    spare_out: Option<Vec<u8>>,
    /// Why a block could not be compressed. Its records are lost to this file, so from then on
    /// every call fails with it: the part can never be finished and published short of them.
    failed: Option<String>,
}

impl Blocks {
    fn new(block_size: usize, sync: SyncMarker, codec: Codec, level: u32) -> Self {
        Blocks {
            buffer: BlockBuffer::new(block_size),
            sync,
            codec,
            level,
            in_flight: VecDeque::new(),
            compressed: Arc::new(AtomicUsize::new(0)),
            taken: 0,
            spare_out: None,
            failed: None,
        }
    }

    fn submit(&mut self) {
        if let Some(block) = self.buffer.take() {
            let (sync, codec, level) = (self.sync, self.codec, self.level);
            let raw = block.len();
            let mut out = self.spare_out.take().unwrap_or_default();
            let done = Arc::clone(&self.compressed);
            let rx = pool::spawn(move || {
                out.reserve(raw / 3 + 64);
                pool::with_compressor(codec, level, |c, scratch| {
                    block.encode_with(&sync, c, scratch, &mut out)
                });
                done.fetch_add(1, Ordering::Release);
                (out, block)
            });
            self.in_flight.push_back((raw, rx));
        }
    }

    /// Moves compressed blocks to `out`, in order: those done, all of them with `wait`, and in any
    /// case (waiting) enough to keep at most [`MAX_BLOCKS_IN_FLIGHT`] under way.
    fn drain(&mut self, out: &mut Vec<u8>, wait: bool) -> Result<(), EncodeError> {
        const GONE: &str = "the compression thread is gone";
        if let Some(why) = &self.failed {
            return Err(EncodeError(why.clone()));
        }
        while let Some((_, rx)) = self.in_flight.front() {
            let must = wait || self.in_flight.len() > MAX_BLOCKS_IN_FLIGHT;
            // A panicked job does not count itself: its error is found by a waiting drain.
            if !must && self.compressed.load(Ordering::Acquire) == self.taken {
                return Ok(());
            }
            let got = if must {
                rx.recv().map_err(|_| GONE.to_string())
            } else {
                match rx.try_recv() {
                    Ok(r) => Ok(r),
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => Err(GONE.to_string()),
                }
            };
            self.in_flight.pop_front();
            let (mut bytes, raw) = match got.and_then(|r| r) {
                Ok(done) => done,
                Err(e) => {
                    let why = format!("compressing a block failed: {e}");
                    self.failed = Some(why.clone());
                    return Err(EncodeError(why));
                }
            };
            self.taken += 1;
            out.extend_from_slice(&bytes);
            bytes.clear();
            self.spare_out = Some(bytes);
            self.buffer.recycle(raw);
        }
        Ok(())
    }

    fn buffered_bytes(&self) -> usize {
        self.buffer.buffered_bytes() + self.in_flight.iter().map(|(n, _)| n).sum::<usize>()
    }
}

enum Body {
    Records(RecordAppender),
    Block(Blocks),
}

/// Why [`FileEncoder::append_with`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The record itself: its key or value did not serialise, or is too large. The encoder is as
    /// before; the record is refused and the file goes on.
    Record(EncodeError),
    /// A block of records accepted earlier could not be compressed. Those records are lost to this
    /// file, so it must not be published: every later call fails the same way.
    Codec(EncodeError),
}

impl AppendError {
    /// The underlying message, whichever the kind.
    pub fn into_inner(self) -> EncodeError {
        match self {
            AppendError::Record(e) | AppendError::Codec(e) => e,
        }
    }
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Record(e) => e.fmt(f),
            AppendError::Codec(e) => write!(f, "{e} (the file is broken)"),
        }
    }
}

impl std::error::Error for AppendError {}

/// One whole SequenceFile, produced into byte buffers: the header first, then records (or
/// blocks) as they are appended. It counts the bytes it produced, so it knows the file position for
/// the sync rule. Blocks are compressed on a few background threads (at most
/// four per file at once; a fifth waits for the oldest) and come out in order; [`flush`](Self::flush)
/// and [`finish`](Self::finish) wait for every block under way, so what they return is all written.
/// A file reuses its block buffers, and each thread its compressor (reset per buffer) and its
/// scratch buffer, so a block costs no allocation once a file has written one.
pub struct FileEncoder {
    body: Body,
    pos: u64,
}

impl fmt::Debug for FileEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileEncoder")
            .field("pos", &self.pos)
            .finish()
    }
}

impl FileEncoder {
    /// Starts a file: appends its header to `out`. The block size and the compression level come
    /// from `options`, everything else from `header`.
    pub fn new(
        header: &Header,
        sync: SyncMarker,
        options: &SequenceFileOptions,
        out: &mut Vec<u8>,
    ) -> Self {
        let start = out.len();
        header.write(&sync, out);
        let body = match header.compression {
            CompressionType::None => Body::Records(RecordAppender::new(sync, None)),
            CompressionType::Record => Body::Records(RecordAppender::new(
                sync,
                Some(Compressor::with_level(header.codec, options.level)),
            )),
            CompressionType::Block => Body::Block(Blocks::new(
                options.block_size,
                sync,
                header.codec,
                options.level,
            )),
        };
        FileEncoder {
            body,
            pos: (out.len() - start) as u64,
        }
    }

    /// Appends a record. With block compression the record is buffered, a full block goes to a
    /// compression thread, and the blocks compressed by now are appended to `out`, in order. On a
    /// record's error ([`AppendError::Record`]) the encoder is as before; a block that failed to
    /// compress ([`AppendError::Codec`]) breaks the file for good.
    pub fn append_with<K, V>(
        &mut self,
        out: &mut Vec<u8>,
        key: K,
        value: V,
    ) -> Result<(), AppendError>
    where
        K: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
        V: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    {
        let start = out.len();
        let res = match &mut self.body {
            Body::Records(r) => {
                let res = r.append_with(self.pos, out, key, value);
                if res.is_err() {
                    out.truncate(start);
                }
                res.map_err(AppendError::Record)
            }
            Body::Block(b) => match &b.failed {
                Some(why) => Err(AppendError::Codec(EncodeError(why.clone()))),
                None => b
                    .buffer
                    .add_with(key, value)
                    .map_err(AppendError::Record)
                    .and_then(|()| {
                        if b.buffer.is_full() {
                            b.submit();
                        }
                        b.drain(out, false).map_err(AppendError::Codec)
                    }),
            },
        };
        self.pos += (out.len() - start) as u64;
        res
    }

    /// Appends the blocks compressed by now to `out`, without waiting.
    pub fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let res = match &mut self.body {
            Body::Records(_) => Ok(()),
            Body::Block(b) => b.drain(out, false),
        };
        self.pos += (out.len() - start) as u64;
        res
    }

    /// Block compression: writes the buffered block and every block under way now, waiting for
    /// their compression (Hadoop's `sync()`). Otherwise: writes a sync entry unless one was just
    /// written.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let res = match &mut self.body {
            Body::Records(r) => {
                r.sync(self.pos, out);
                Ok(())
            }
            Body::Block(b) => {
                b.submit();
                b.drain(out, true)
            }
        };
        self.pos += (out.len() - start) as u64;
        res
    }

    /// Ends the file: writes the last blocks, if any. (An uncompressed or record-compressed file
    /// needs no trailer.)
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match &mut self.body {
            Body::Records(_) => Ok(()),
            Body::Block(b) => {
                b.submit();
                b.drain(out, true)
            }
        }
    }

    /// Memory held by the block being filled and the blocks being compressed.
    pub fn buffered_bytes(&self) -> usize {
        match &self.body {
            Body::Records(_) => 0,
            Body::Block(b) => b.buffered_bytes(),
        }
    }

    /// Bytes produced so far: the file's length once they are all written.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writable::{LONG_WRITABLE_CLASS, TEXT_CLASS};

    fn put(b: &'static [u8]) -> impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError> {
        move |o| {
            o.extend_from_slice(b);
            Ok(())
        }
    }

    fn header(compression: CompressionType) -> Header {
        Header {
            key_class: LONG_WRITABLE_CLASS.into(),
            value_class: TEXT_CLASS.into(),
            compression,
            codec: Codec::Default,
            metadata: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
        }
    }

    #[test]
    fn header_layout() {
        let sync = [7u8; 16];
        let mut out = Vec::new();
        header(CompressionType::None).write(&sync, &mut out);
        let mut want = b"SEQ\x06".to_vec();
        want.push(33);
        want.extend_from_slice(LONG_WRITABLE_CLASS.as_bytes());
        want.push(25);
        want.extend_from_slice(TEXT_CLASS.as_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&[0, 0, 0, 2, 1, b'a', 1, b'1', 1, b'b', 1, b'2']);
        want.extend_from_slice(&sync);
        assert_eq!(out, want);

        let mut out = Vec::new();
        header(CompressionType::Block).write(&sync, &mut out);
        let codec = b"org.apache.hadoop.io.compress.DefaultCodec";
        let at = 4 + 34 + 26;
        assert_eq!(&out[at..at + 2], &[1, 1]);
        assert_eq!(out[at + 2] as usize, codec.len());
        assert_eq!(&out[at + 3..at + 3 + codec.len()], codec);
    }

    #[test]
    fn syncs_follow_hadoops_rule() {
        // 100-byte records from position 0: a sync before the record that starts at or past 2000
        // bytes after the last sync (and never at position 0).
        let mut a = RecordAppender::new([1; 16], None);
        let mut out = Vec::new();
        let mut syncs = Vec::new();
        for _ in 0..100 {
            let pos = out.len() as u64;
            a.append_with(pos, &mut out, put(&[0; 8]), put(&[0; 84]))
                .unwrap();
            if out[pos as usize..pos as usize + 4] == [0xff; 4] {
                syncs.push(pos);
            }
        }
        assert_eq!(syncs[0], 2000);
        for w in syncs.windows(2) {
            // A sync at s moves the last sync position to s + 20; the next record at or past
            // s + 20 + 2000 gets the next one.
            assert_eq!(w[1] - w[0], 2020, "{syncs:?}");
        }
    }

    #[test]
    fn failed_appends_leave_no_trace() {
        let mut enc_out = Vec::new();
        let opts = SequenceFileOptions::default().with_block_size(10);
        let mut f = FileEncoder::new(
            &header(CompressionType::Record),
            [3; 16],
            &opts,
            &mut enc_out,
        );
        let pos = f.position();
        let err = f.append_with(&mut enc_out, put(&[1]), |_| Err(EncodeError("no".into())));
        assert_eq!(err, Err(AppendError::Record(EncodeError("no".into()))));
        assert_eq!(f.position(), pos);
        assert_eq!(enc_out.len() as u64, pos);

        let mut out = Vec::new();
        let opts = SequenceFileOptions::default();
        let mut b = FileEncoder::new(&header(CompressionType::Block), [3; 16], &opts, &mut out);
        b.append_with(&mut out, put(&[1]), put(&[2])).unwrap();
        let held = b.buffered_bytes();
        assert_eq!(
            b.append_with(&mut out, put(&[1]), |_| Err(EncodeError("no".into()))),
            Err(AppendError::Record(EncodeError("no".into())))
        );
        assert_eq!(b.buffered_bytes(), held);
    }

    #[test]
    fn a_block_that_fails_to_compress_breaks_the_file_for_good() {
        let codec = |r: Result<(), AppendError>| matches!(r, Err(AppendError::Codec(_)));
        let opts = SequenceFileOptions::default();
        // Compression jobs whose thread died: their blocks of accepted records are lost.
        let broken = |jobs: usize, out: &mut Vec<u8>| {
            let mut f = FileEncoder::new(&header(CompressionType::Block), [3; 16], &opts, out);
            f.append_with(out, put(&[1]), put(&[2])).unwrap();
            let Body::Block(b) = &mut f.body else {
                unreachable!()
            };
            for _ in 0..jobs {
                let (tx, rx) = mpsc::channel();
                drop(tx);
                b.in_flight.push_back((100, rx));
            }
            f
        };

        // Found by an append that must wait for the oldest block: a codec error, never a record's
        // (a skip policy would count it as one bad record and go on without the block).
        let mut out = Vec::new();
        let mut f = broken(MAX_BLOCKS_IN_FLIGHT + 1, &mut out);
        assert!(codec(f.append_with(&mut out, put(&[1]), put(&[2]))));
        // Sticky: every later call fails, so the part is never finished short of the block.
        assert!(codec(f.append_with(&mut out, put(&[1]), put(&[2]))));
        assert!(f.poll(&mut out).is_err());
        assert!(f.flush(&mut out).is_err());
        assert!(f.finish(&mut out).is_err());

        // Found by a flush (a checkpoint): the same from then on.
        let mut out = Vec::new();
        let mut f = broken(1, &mut out);
        assert!(f.flush(&mut out).is_err());
        assert!(codec(f.append_with(&mut out, put(&[1]), put(&[2]))));
        assert!(f.finish(&mut out).is_err());
    }

    #[test]
    fn reused_block_buffers_write_what_fresh_ones_do() {
        // Many small blocks of records of varying sizes: each block's buffers are those of an
        // earlier block (cleared), and its compressed form goes through a reused buffer. The file
        // must equal one whose every block is encoded from new buffers by a new compressor.
        let opts = SequenceFileOptions::default()
            .with_compression(CompressionType::Block, Codec::Default)
            .with_block_size(700);
        let record = |i: u32| {
            (
                i.to_be_bytes().to_vec(),
                vec![b'a' + (i % 26) as u8; (i * 7 % 150) as usize],
            )
        };
        let h = header(CompressionType::Block);
        let mut got = Vec::new();
        let mut f = FileEncoder::new(&h, [5; 16], &opts, &mut got);
        for i in 0..3000 {
            let (k, v) = record(i);
            f.append_with(
                &mut got,
                |o| {
                    o.extend_from_slice(&k);
                    Ok(())
                },
                |o| {
                    o.extend_from_slice(&v);
                    Ok(())
                },
            )
            .unwrap();
            if i % 1000 == 999 {
                f.flush(&mut got).unwrap();
            }
        }
        f.finish(&mut got).unwrap();

        let mut want = Vec::new();
        h.write(&[5; 16], &mut want);
        let mut buffer = BlockBuffer::new(700);
        let write = |b: &mut BlockBuffer, out: &mut Vec<u8>| {
            if let Some(block) = b.take() {
                block.encode(
                    &[5; 16],
                    &mut Compressor::with_level(Codec::Default, opts.level),
                    out,
                );
            }
        };
        for i in 0..3000 {
            let (k, v) = record(i);
            buffer
                .add_with(
                    |o| {
                        o.extend_from_slice(&k);
                        Ok(())
                    },
                    |o| {
                        o.extend_from_slice(&v);
                        Ok(())
                    },
                )
                .unwrap();
            if buffer.is_full() || i % 1000 == 999 {
                write(&mut buffer, &mut want);
            }
        }
        write(&mut buffer, &mut want);
        assert!(want.len() > 10_000);
        assert!(got == want, "the files differ");
    }

    #[test]
    fn sync_markers_from_paths_are_stable_and_distinct() {
        let a = sync_marker_for_path("b/part-r-0-0.seq");
        assert_eq!(a, sync_marker_for_path("b/part-r-0-0.seq"));
        assert_ne!(a, sync_marker_for_path("b/part-r-0-1.seq"));
        assert_ne!(a[..8], a[8..]);
        // Pinned: a change would make resumed parts unreadable.
        assert_eq!(
            sync_marker_for_path("x"),
            sync_marker_for_path(&String::from("x"))
        );
    }
}
