//! Compression codecs that Hadoop's Java reader decodes without native libraries.
//!
//! | codec | class | each compressed buffer is |
//! | --- | --- | --- |
//! | [`Default`](Codec::Default) | `org.apache.hadoop.io.compress.DefaultCodec` | a zlib stream (RFC 1950) |
//! | [`Gzip`](Codec::Gzip) | `org.apache.hadoop.io.compress.GzipCodec` | one gzip member (RFC 1952) |
//! | [`Bzip2`](Codec::Bzip2) (feature `bzip2`) | `org.apache.hadoop.io.compress.BZip2Codec` | a bzip2 stream |
//!
//! Hadoop resets its decompressor before every compressed value (record compression) and every
//! buffer of a block (block compression), so each is one complete stream of its own.
//!
//! Hadoop's Java *writer* refuses `GzipCodec` without its native library; its reader falls back to
//! a pure-Java gzip decompressor, which reads what Spillway writes (tested against Hadoop 2.7.3).

use std::fmt;
use std::str::FromStr;

use flate2::{Compress, Compression as Level, FlushCompress, Status};
use serde::{Deserialize, Serialize};

/// A compression codec of SequenceFiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Codec {
    /// zlib (`DefaultCodec`), Hadoop's default.
    #[default]
    Default,
    /// gzip (`GzipCodec`).
    Gzip,
    /// bzip2 (`BZip2Codec`), with the `bzip2` feature.
    Bzip2,
}

impl Codec {
    /// Every codec.
    pub const ALL: [Codec; 3] = [Codec::Default, Codec::Gzip, Codec::Bzip2];

    /// The Hadoop class name written into the file header.
    pub fn class_name(self) -> &'static str {
        match self {
            Codec::Default => "org.apache.hadoop.io.compress.DefaultCodec",
            Codec::Gzip => "org.apache.hadoop.io.compress.GzipCodec",
            Codec::Bzip2 => "org.apache.hadoop.io.compress.BZip2Codec",
        }
    }

    /// The name used in job files.
    pub fn short_name(self) -> &'static str {
        match self {
            Codec::Default => "default",
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bzip2",
        }
    }

    /// True when this build can write it.
    pub fn is_available(self) -> bool {
        self != Codec::Bzip2 || cfg!(feature = "bzip2")
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl FromStr for Codec {
    type Err = String;

    /// Accepts `default` (or `zlib`, `deflate`), `gzip`, `bzip2` and the Hadoop class names.
    fn from_str(s: &str) -> Result<Self, String> {
        let c = match s {
            "zlib" | "deflate" => Some(Codec::Default),
            _ => Codec::ALL
                .into_iter()
                .find(|c| s == c.short_name() || s == c.class_name()),
        };
        match c {
            Some(c) if c.is_available() => Ok(c),
            Some(c) => Err(format!(
                "codec {c} needs the `bzip2` feature of connector-sequencefile"
            )),
            None => Err(format!(
                "unknown codec {s:?}: expected \"default\" (zlib), \"gzip\" or \"bzip2\", or a Hadoop class name (org.apache.hadoop.io.compress.DefaultCodec, ...)"
            )),
        }
    }
}

impl TryFrom<String> for Codec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Codec> for String {
    fn from(c: Codec) -> String {
        c.short_name().to_string()
    }
}

/// Compresses buffers into complete streams of one codec, reusing its state between buffers.
pub struct Compressor {
    codec: Codec,
    deflate: Compress,
}

impl fmt::Debug for Compressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compressor")
            .field("codec", &self.codec)
            .finish()
    }
}

/// The gzip header Spillway writes: no name, no time, unknown OS (as Java's `GZIPOutputStream`).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The deflate level Spillway uses unless told otherwise: 1, the fastest. Hadoop's zlib default
/// is 6, which compresses JSON about 20% smaller at a quarter of the speed; any level reads the same.
pub const DEFAULT_LEVEL: u32 = 1;

impl Compressor {
    /// A compressor at [`DEFAULT_LEVEL`].
    pub fn new(codec: Codec) -> Self {
        Self::with_level(codec, DEFAULT_LEVEL)
    }

    /// A compressor at a deflate level, 0 (stored) to 9 (smallest), for zlib and gzip; bzip2 always
    /// uses 900 kB blocks (level 9, as Hadoop's `BZip2Codec`).
    pub fn with_level(codec: Codec, level: u32) -> Self {
        Compressor {
            codec,
            // zlib framing for DefaultCodec, raw deflate inside our own gzip framing.
            deflate: Compress::new(Level::new(level.min(9)), codec == Codec::Default),
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Appends `input`, compressed into one complete stream, to `out`.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self.codec {
            Codec::Default => self.deflate_all(input, out),
            Codec::Gzip => {
                out.extend_from_slice(&GZIP_HEADER);
                self.deflate_all(input, out);
                let mut crc = flate2::Crc::new();
                crc.update(input);
                out.extend_from_slice(&crc.sum().to_le_bytes());
                out.extend_from_slice(&(input.len() as u32).to_le_bytes());
            }
            Codec::Bzip2 => bzip2_all(input, out),
        }
    }

    fn deflate_all(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.deflate.reset();
        out.reserve(input.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() == out.len() {
                out.reserve(out.len().max(64));
            }
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(&input[consumed..], out, FlushCompress::Finish)
                .expect("deflate of an in-memory buffer cannot fail");
            consumed += (self.deflate.total_in() - before) as usize;
            if status == Status::StreamEnd {
                return;
            }
        }
    }
}

#[cfg(feature = "bzip2")]
fn bzip2_all(input: &[u8], out: &mut Vec<u8>) {
    use std::io::Write;
    let mut enc = bzip2::write::BzEncoder::new(std::mem::take(out), bzip2::Compression::best());
    enc.write_all(input).expect("bzip2 into memory cannot fail");
    *out = enc.finish().expect("bzip2 into memory cannot fail");
}

#[cfg(not(feature = "bzip2"))]
fn bzip2_all(_input: &[u8], _out: &mut Vec<u8>) {
    unreachable!("Codec::Bzip2 cannot be chosen without the `bzip2` feature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| format!("{i},{}\n", i % 7).into_bytes())
            .collect()
    }

    #[test]
    fn default_is_zlib_and_resets_between_buffers() {
        let mut c = Compressor::new(Codec::Default);
        for input in [sample(), Vec::new(), b"x".to_vec(), sample()] {
            let mut out = vec![7];
            c.compress(&input, &mut out);
            let mut back = Vec::new();
            flate2::read::ZlibDecoder::new(&out[1..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, input);
        }
    }

    #[test]
    fn gzip_is_one_member() {
        let mut c = Compressor::new(Codec::Gzip);
        for input in [sample(), Vec::new()] {
            let mut out = Vec::new();
            c.compress(&input, &mut out);
            let mut d = flate2::read::GzDecoder::new(&out[..]);
            let mut back = Vec::new();
            d.read_to_end(&mut back).unwrap();
            assert_eq!(back, input);
        }
    }

    #[cfg(feature = "bzip2")]
    #[test]
    fn bzip2_round_trips() {
        let mut c = Compressor::new(Codec::Bzip2);
        let input = sample();
        let mut out = Vec::new();
        c.compress(&input, &mut out);
        assert_eq!(&out[..3], b"BZh");
        let mut back = Vec::new();
        bzip2::read::BzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, input);
    }

    #[test]
    fn names() {
        for c in Codec::ALL.into_iter().filter(|c| c.is_available()) {
            assert_eq!(c.short_name().parse::<Codec>().unwrap(), c);
            assert_eq!(c.class_name().parse::<Codec>().unwrap(), c);
        }
        assert!("snappy".parse::<Codec>().is_err());
    }
}
