//! The Writables Spillway writes: their Hadoop class names and their serialised forms.
//!
//! | type | class | bytes | `hadoop fs -text` prints |
//! | --- | --- | --- | --- |
//! | [`Text`](WritableType::Text) | `org.apache.hadoop.io.Text` | vint length, UTF-8 | the text |
//! | [`Bytes`](WritableType::Bytes) | `org.apache.hadoop.io.BytesWritable` | 4-byte big-endian length, bytes | hex bytes separated by spaces |
//! | [`Long`](WritableType::Long) | `org.apache.hadoop.io.LongWritable` | 8 bytes big-endian | the number |
//! | [`Int`](WritableType::Int) | `org.apache.hadoop.io.IntWritable` | 4 bytes big-endian | the number |
//! | [`Null`](WritableType::Null) | `org.apache.hadoop.io.NullWritable` | nothing | `(null)` |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::vint::write_vint;

/// `org.apache.hadoop.io.Text`.
pub const TEXT_CLASS: &str = "org.apache.hadoop.io.Text";
/// `org.apache.hadoop.io.BytesWritable`.
pub const BYTES_WRITABLE_CLASS: &str = "org.apache.hadoop.io.BytesWritable";
/// `org.apache.hadoop.io.LongWritable`.
pub const LONG_WRITABLE_CLASS: &str = "org.apache.hadoop.io.LongWritable";
/// `org.apache.hadoop.io.IntWritable`.
pub const INT_WRITABLE_CLASS: &str = "org.apache.hadoop.io.IntWritable";
/// `org.apache.hadoop.io.NullWritable`.
pub const NULL_WRITABLE_CLASS: &str = "org.apache.hadoop.io.NullWritable";

/// A Writable type Spillway can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum WritableType {
    /// `Text`: UTF-8 with a vint length.
    Text,
    /// `BytesWritable`: bytes with a 4-byte length.
    Bytes,
    /// `LongWritable`: a signed 64-bit integer.
    Long,
    /// `IntWritable`: a signed 32-bit integer.
    Int,
    /// `NullWritable`: no bytes at all.
    Null,
}

impl WritableType {
    /// Every type, in the order of the table above.
    pub const ALL: [WritableType; 5] = [
        WritableType::Text,
        WritableType::Bytes,
        WritableType::Long,
        WritableType::Int,
        WritableType::Null,
    ];

    /// The Hadoop class name written into the file header.
    pub fn class_name(self) -> &'static str {
        match self {
            WritableType::Text => TEXT_CLASS,
            WritableType::Bytes => BYTES_WRITABLE_CLASS,
            WritableType::Long => LONG_WRITABLE_CLASS,
            WritableType::Int => INT_WRITABLE_CLASS,
            WritableType::Null => NULL_WRITABLE_CLASS,
        }
    }

    /// The short name used in job files.
    pub fn short_name(self) -> &'static str {
        match self {
            WritableType::Text => "text",
            WritableType::Bytes => "bytes",
            WritableType::Long => "long",
            WritableType::Int => "int",
            WritableType::Null => "null",
        }
    }
}

impl fmt::Display for WritableType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl FromStr for WritableType {
    type Err = String;

    /// Accepts the short names (`text`, `bytes`, `long`, `int`, `null`) and the Hadoop class names.
    fn from_str(s: &str) -> Result<Self, String> {
        WritableType::ALL
            .into_iter()
            .find(|t| s == t.short_name() || s == t.class_name())
            .ok_or_else(|| {
                format!(
                    "unknown Writable {s:?}: expected \"text\", \"bytes\", \"long\", \"int\", \"null\" or their Hadoop class names (org.apache.hadoop.io.Text, ...)"
                )
            })
    }
}

impl TryFrom<String> for WritableType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<WritableType> for String {
    fn from(t: WritableType) -> String {
        t.short_name().to_string()
    }
}

/// Appends a `Text`: the UTF-8 length as a vint, then the bytes.
#[inline]
pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_vint(out, s.len() as i32);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a `BytesWritable`: the length as a 4-byte big-endian int, then the bytes.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// Appends a `LongWritable`: 8 bytes, big-endian.
#[inline]
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends an `IntWritable`: 4 bytes, big-endian.
#[inline]
pub fn write_int(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a `Text` whose bytes `fill` appends: the text is written after room for its length
/// prefix, which is then filled in (moving the text only when the length needs more than one byte).
pub fn write_text_with(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.push(0);
    fill(out);
    let len = out.len() - at - 1;
    if len <= 127 {
        out[at] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(5);
    write_vint(&mut prefix, len as i32);
    out.splice(at..=at, prefix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_both_ways() {
        for t in WritableType::ALL {
            assert_eq!(t.short_name().parse::<WritableType>().unwrap(), t);
            assert_eq!(t.class_name().parse::<WritableType>().unwrap(), t);
        }
        assert!("Text".parse::<WritableType>().is_err());
    }

    #[test]
    fn serialised_forms() {
        let mut out = Vec::new();
        write_text(&mut out, "hé");
        assert_eq!(out, [3, b'h', 0xc3, 0xa9]);
        out.clear();
        write_bytes(&mut out, &[1, 2]);
        assert_eq!(out, [0, 0, 0, 2, 1, 2]);
        out.clear();
        write_long(&mut out, -2);
        assert_eq!(
            out,
            [0xff; 8][..7]
                .iter()
                .copied()
                .chain([0xfe])
                .collect::<Vec<_>>()
        );
        out.clear();
        write_int(&mut out, 258);
        assert_eq!(out, [0, 0, 1, 2]);
    }

    #[test]
    fn text_with_fills_the_prefix() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let s = "x".repeat(len);
            let mut want = vec![9u8];
            write_text(&mut want, &s);
            let mut got = vec![9u8];
            write_text_with(&mut got, |o| o.extend_from_slice(s.as_bytes()));
            assert_eq!(got, want, "length {len}");
        }
    }
}
