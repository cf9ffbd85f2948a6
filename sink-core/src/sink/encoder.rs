//! Row encoders: record -> bytes appended to the open part (Flink's `Encoder`), and bulk writers:
//! records -> a whole file (Flink's `BulkWriter`).

use std::fmt::{self, Display};
use std::io::Write as _;
use std::marker::PhantomData;

use serde::Serialize;

use super::fields::{FieldAccess, FieldValue};
use super::WriteError;
use crate::fs::RelPath;

/// Why one record could not be encoded. It is a bad record, handled by the job's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Encodes one record as bytes appended to a row-format part file.
///
/// On error the encoder may have appended a partial record; the sink cuts it away.
pub trait RowEncoder<T>: Send + Sync + 'static {
    /// Appends the encoded record (with its line terminator, if any).
    fn encode(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Bytes written once at the start of every part file (a CSV header).
    fn header(&self) -> Option<&[u8]> {
        None
    }

    /// The file suffix this format suggests (`.json`), used when the output file config sets none.
    fn suffix(&self) -> &str {
        ""
    }

    /// A per-part encoder, for formats whose bytes depend on the part file they go into (a
    /// SequenceFile's header names a sync marker of its own, repeated every few kilobytes of that
    /// file). The sink calls it when it opens a part and when it resumes one after a restart; when
    /// it returns `Some`, that part's header and records go through the returned [`PartEncoder`]
    /// instead of [`header`](Self::header) and [`encode`](Self::encode). Default: `None`.
    ///
    /// A resumed part gets a new part encoder that must continue the file consistently from what
    /// [`PartStart`] says (its path and length), because nothing else survives a crash: derive
    /// per-file values (a sync marker) from the path, not from a random source.
    fn part_encoder(&self, part: PartStart<'_>) -> Option<Box<dyn PartEncoder<T>>> {
        let _ = part;
        None
    }
}

/// Forwards everything, so that a boxed encoder (chosen at run time) is an encoder.
impl<T: 'static> RowEncoder<T> for Box<dyn RowEncoder<T>> {
    fn encode(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (**self).encode(record, out)
    }

    fn header(&self) -> Option<&[u8]> {
        (**self).header()
    }

    fn suffix(&self) -> &str {
        (**self).suffix()
    }

    fn part_encoder(&self, part: PartStart<'_>) -> Option<Box<dyn PartEncoder<T>>> {
        (**self).part_encoder(part)
    }
}

/// The part a [`RowEncoder::part_encoder`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartStart<'a> {
    /// The part's final path, relative to the target's root (its name is unique: it holds the run
    /// id, the subtask and a counter).
    pub path: &'a RelPath,
    /// `None` for a new, empty part; `Some(len)` for a part resumed after a restart, which already
    /// holds `len` bytes (its header among them).
    pub resumed_len: Option<u64>,
}

/// Encodes the records of one part file, keeping state across them (see
/// [`RowEncoder::part_encoder`]).
pub trait PartEncoder<T>: Send {
    /// Appends the bytes that start a new part (a file header). Not called for a resumed part.
    fn header(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Appends one record. `pos` is the length of the part file before this record (bytes
    /// already written plus those buffered), so `pos + k` is the file offset of `out[len + k]`
    /// where `len` is `out`'s length on entry. On error the encoder must leave its own state as
    /// before the call; the sink cuts away what it appended.
    fn encode(&mut self, record: &T, pos: u64, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

/// The record's `Display` text and a newline (Flink's `SimpleStringEncoder`). Suffix `.txt`.
pub struct SimpleStringEncoder<T>(PhantomData<fn(&T)>);

impl<T> SimpleStringEncoder<T> {
    /// The encoder.
    pub fn new() -> Self {
        SimpleStringEncoder(PhantomData)
    }
}

impl<T> Default for SimpleStringEncoder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for SimpleStringEncoder<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: Display + 'static> RowEncoder<T> for SimpleStringEncoder<T> {
    fn encode(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write!(out, "{record}").map_err(|e| EncodeError(e.to_string()))?;
        out.push(b'\n');
        Ok(())
    }

    fn suffix(&self) -> &str {
        ".txt"
    }
}

/// One JSON object per line (JSON Lines) through serde. Suffix `.json`.
pub struct JsonLinesEncoder<T>(PhantomData<fn(&T)>);

impl<T> JsonLinesEncoder<T> {
    /// The encoder.
    pub fn new() -> Self {
        JsonLinesEncoder(PhantomData)
    }
}

impl<T> Default for JsonLinesEncoder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonLinesEncoder<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: Serialize + 'static> RowEncoder<T> for JsonLinesEncoder<T> {
    fn encode(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        serde_json::to_writer(&mut *out, record).map_err(|e| EncodeError(e.to_string()))?;
        out.push(b'\n');
        Ok(())
    }

    fn suffix(&self) -> &str {
        ".json"
    }
}

/// Comma-separated values (RFC 4180) of named fields, with an optional header line in every part.
/// Suffix `.csv`. Missing and null fields are empty cells; a cell is quoted when it holds the
/// delimiter, a quote or a line break.
///
/// ```
/// use sink_core::sink::{CsvEncoder, RowEncoder};
/// let enc = CsvEncoder::new(["id", "name"]).with_header(true);
/// let mut out = Vec::new();
/// enc.encode(&serde_json::json!({"id": 7, "name": "a,b"}), &mut out).unwrap();
/// assert_eq!(out, b"7,\"a,b\"\n");
/// assert_eq!(RowEncoder::<serde_json::Value>::header(&enc).unwrap(), b"id,name\n");
/// ```
#[derive(Clone, Debug)]
pub struct CsvEncoder {
    columns: Vec<String>,
    header: Option<Vec<u8>>,
    delimiter: u8,
}

impl CsvEncoder {
    /// CSV of these columns, comma-separated, no header.
    pub fn new(columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        CsvEncoder {
            columns: columns.into_iter().map(Into::into).collect(),
            header: None,
            delimiter: b',',
        }
    }

    /// Writes a header line at the start of every part file.
    pub fn with_header(mut self, header: bool) -> Self {
        self.header = header.then(|| {
            let mut h = Vec::new();
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    h.push(self.delimiter);
                }
                write_cell(c, self.delimiter, &mut h);
            }
            h.push(b'\n');
            h
        });
        self
    }

    /// Uses another single-byte delimiter (`;`, `\t`, `|`).
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        let had_header = self.header.is_some();
        self.delimiter = delimiter;
        self.with_header(had_header)
    }

    /// The columns.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

fn write_cell(s: &str, delimiter: u8, out: &mut Vec<u8>) {
    let needs_quotes = s
        .bytes()
        .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
    if needs_quotes {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

impl<T: FieldAccess + 'static> RowEncoder<T> for CsvEncoder {
    fn encode(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut cell = String::new();
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            match record.field(c) {
                None | Some(FieldValue::Null) => {}
                Some(FieldValue::Str(s)) => write_cell(&s, self.delimiter, out),
                Some(v) => {
                    cell.clear();
                    v.write_to(&mut cell);
                    write_cell(&cell, self.delimiter, out);
                }
            }
        }
        out.push(b'\n');
        Ok(())
    }

    fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn suffix(&self) -> &str {
        ".csv"
    }
}

/// Writes records into one whole file (Flink's `BulkWriter`): Parquet, SequenceFile.
///
/// A bulk writer buffers in memory and produces bytes in chunks (row groups, blocks). The sink
/// moves the produced bytes to the part's stream with [`take_output`](Self::take_output), asks for
/// the memory held with [`buffered_bytes`](Self::buffered_bytes) to keep the job's memory budget,
/// and forces a chunk out with [`flush`](Self::flush) when the budget is exceeded. Bulk parts roll at
/// every checkpoint, so a bulk writer never needs to resume.
pub trait BulkWriter<T>: Send {
    /// Adds a record. A record that does not fit (wrong type, missing field) is refused with
    /// [`WriteError::BadRecord`] and leaves the writer as it was.
    fn add(&mut self, record: &T) -> Result<(), WriteError>;

    /// Moves the bytes produced so far to the end of `out`.
    fn take_output(&mut self, out: &mut Vec<u8>);

    /// Memory held by buffered records and produced bytes not yet taken.
    fn buffered_bytes(&self) -> usize;

    /// Bytes that what was added and not yet taken will still add to the file, estimated: the
    /// part's size for rolling policies is the bytes taken so far plus this. Defaults to
    /// [`buffered_bytes`](Self::buffered_bytes); a format whose buffers are much larger (or
    /// smaller) than their encoded form, such as Parquet's, estimates better.
    fn pending_size(&self) -> usize {
        self.buffered_bytes()
    }

    /// Turns buffered records into output bytes now (closes a row group).
    fn flush(&mut self) -> crate::Result<()>;

    /// Writes everything that is left, including the file's trailer, to `out`.
    fn finish(self: Box<Self>, out: &mut Vec<u8>) -> crate::Result<()>;
}

/// Creates a [`BulkWriter`] for each new part file (Flink's `BulkWriter.Factory`).
pub trait BulkWriterFactory<T>: Send + Sync + 'static {
    /// A writer for a new part file in `bucket`.
    fn create(&self, bucket: &RelPath) -> crate::Result<Box<dyn BulkWriter<T>>>;

    /// The file suffix this format suggests (`.parquet`).
    fn suffix(&self) -> &str {
        ""
    }
}

impl<T: 'static> BulkWriterFactory<T> for Box<dyn BulkWriterFactory<T>> {
    fn create(&self, bucket: &RelPath) -> crate::Result<Box<dyn BulkWriter<T>>> {
        (**self).create(bucket)
    }

    fn suffix(&self) -> &str {
        (**self).suffix()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_string_and_json_lines() {
        let mut out = Vec::new();
        SimpleStringEncoder::new()
            .encode(&"héllo", &mut out)
            .unwrap();
        SimpleStringEncoder::new().encode(&42, &mut out).unwrap();
        assert_eq!(out, "héllo\n42\n".as_bytes());
        let mut out = Vec::new();
        #[derive(Serialize)]
        struct E {
            id: u64,
            s: &'static str,
        }
        JsonLinesEncoder::new()
            .encode(&E { id: 1, s: "a\"b\n" }, &mut out)
            .unwrap();
        assert_eq!(out, b"{\"id\":1,\"s\":\"a\\\"b\\n\"}\n");
        let bad = std::collections::HashMap::from([((1, 2), 3)]);
        assert!(JsonLinesEncoder::new()
            .encode(&bad, &mut Vec::new())
            .is_err());
    }

    #[test]
    fn csv_quoting_table() {
        let enc = CsvEncoder::new(["a", "b"]);
        let table = [
            (json!({"a": "x", "b": 1}), "x,1\n"),
            (json!({"a": "x,y", "b": null}), "\"x,y\",\n"),
            (
                json!({"a": "say \"hi\"", "b": 2.5}),
                "\"say \"\"hi\"\"\",2.5\n",
            ),
            (json!({"a": "l1\nl2", "b": true}), "\"l1\nl2\",true\n"),
            (json!({"b": "only b"}), ",only b\n"),
            (json!({"a": {"n": 1}, "b": [1]}), "\"{\"\"n\"\":1}\",[1]\n"),
        ];
        for (rec, want) in table {
            let mut out = Vec::new();
            enc.encode(&rec, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{rec}");
        }
        let tsv = CsvEncoder::new(["a", "b"])
            .with_header(true)
            .with_delimiter(b'\t');
        assert_eq!(
            RowEncoder::<serde_json::Value>::header(&tsv).unwrap(),
            b"a\tb\n"
        );
        let mut out = Vec::new();
        tsv.encode(&json!({"a": "x,y", "b": "t\tab"}), &mut out)
            .unwrap();
        assert_eq!(out, b"x,y\t\"t\tab\"\n");
    }
}
