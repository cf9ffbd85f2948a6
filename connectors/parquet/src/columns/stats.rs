//! What the writer measures of its column buffers: their memory, the bytes per row of each leaf
//! column (for page sizes and the hidden memory of an open row group) and the share of distinct
//! values (for adaptive dictionaries), and the room reserved for the next batch.

use arrow_array::OffsetSizeTrait;

use super::{ByteValues, Column, Data, Members};

impl Members {
    /// Reserves room for `rows` more rows in every column (the next batch of a busy part).
    pub(crate) fn reserve(&mut self, rows: usize, like: &[usize]) {
        for (c, bytes) in self
            .columns
            .iter_mut()
            .zip(like.iter().chain(std::iter::repeat(&0)))
        {
            c.reserve(rows, *bytes);
        }
    }

    pub(crate) fn memory(&self) -> usize {
        self.columns.iter().map(Column::memory).sum()
    }

    /// Appends the bytes of values each leaf column holds, in Parquet's leaf order.
    pub(crate) fn leaf_bytes(&self, out: &mut Vec<usize>) {
        for c in &self.columns {
            c.leaf_bytes(out);
        }
    }

    /// Appends, per leaf column, the share of distinct values among its buffered values, or
    /// `None` where not measured (nested and boolean leaves).
    pub(crate) fn leaf_distinct(&self, out: &mut Vec<Option<f64>>) {
        for c in &self.columns {
            c.leaf_distinct(out, false);
        }
    }

    /// Columns, nested ones included.
    pub(crate) fn count_columns(&self) -> usize {
        self.columns.iter().map(Column::count_columns).sum()
    }
}

impl Column {
    /// Appends the share of distinct values of each leaf column in this one, `None` for booleans
    /// and for leaves `nested` in a list or a struct (not measured).
    fn leaf_distinct(&self, out: &mut Vec<Option<f64>>, nested: bool) {
        match &self.data {
            Data::List { item, .. } => item.leaf_distinct(out, true),
            Data::Struct { members, .. } => {
                for c in &members.columns {
                    c.leaf_distinct(out, true);
                }
            }
            Data::Bool(_) => out.push(None),
            _ if nested => out.push(None),
            _ => out.push(Some(self.distinct_ratio())),
        }
    }

    /// Distinct values over values (nulls count as values), 0 for booleans and empty columns.
    fn distinct_ratio(&self) -> f64 {
        use std::hash::Hash;
        // Counted exactly, in a set of the values with a fast hash (done for every column of
        // every part's first batch).
        fn ratio<T: Hash + Eq>(values: impl ExactSizeIterator<Item = T>) -> f64 {
            let n = values.len();
            if n == 0 {
                return 0.0;
            }
            let mut seen = std::collections::HashSet::with_capacity_and_hasher(
                n,
                foldhash::fast::FixedState::default(),
            );
            for v in values {
                seen.insert(v);
            }
            seen.len() as f64 / n as f64
        }
        fn bytes<O: OffsetSizeTrait>(b: &ByteValues<O>) -> f64 {
            ratio(
                b.offsets
                    .windows(2)
                    .map(|w| &b.data[w[0].as_usize()..w[1].as_usize()]),
            )
        }
        match &self.data {
            Data::Bool(_) | Data::List { .. } | Data::Struct { .. } => 0.0,
            Data::I8(v) => ratio(v.iter()),
            Data::I16(v) => ratio(v.iter()),
            Data::I32(v) | Data::Date32(v) => ratio(v.iter()),
            Data::I64(v) | Data::Timestamp { values: v, .. } => ratio(v.iter()),
            Data::U8(v) => ratio(v.iter()),
            Data::U16(v) => ratio(v.iter()),
            Data::U32(v) => ratio(v.iter()),
            Data::U64(v) => ratio(v.iter()),
            Data::F32(v) => ratio(v.iter().map(|f| f.to_bits())),
            Data::F64(v) => ratio(v.iter().map(|f| f.to_bits())),
            Data::Decimal { values, .. } => ratio(values.iter()),
            Data::Utf8(b) | Data::Binary(b) => bytes(b),
            Data::LargeUtf8(b) | Data::LargeBinary(b) => bytes(b),
        }
    }

    /// Reserves room for `rows` values (and `bytes` bytes of variable-width values).
    fn reserve(&mut self, rows: usize, bytes: usize) {
        match_values!(&mut self.data,
            |v| v.reserve(rows),
            |b| {
                b.offsets.reserve(rows);
                b.data.reserve(bytes);
            },
            // Nested and boolean columns grow as they go.
            Data::Bool(_) | Data::List { .. } | Data::Struct { .. } => {},
        );
    }

    /// Bytes of variable-width values (0 for other columns).
    pub(crate) fn value_bytes(&self) -> usize {
        match &self.data {
            Data::Utf8(b) | Data::Binary(b) => b.data.len(),
            Data::LargeUtf8(b) | Data::LargeBinary(b) => b.data.len(),
            _ => 0,
        }
    }

    fn leaf_bytes(&self, out: &mut Vec<usize>) {
        let n = self.len;
        out.push(match &self.data {
            Data::List { item, .. } => return item.leaf_bytes(out),
            Data::Struct { members, .. } => return members.leaf_bytes(out),
            Data::Bool(_) => n.div_ceil(8),
            Data::I8(_) | Data::U8(_) => n,
            Data::I16(_) | Data::U16(_) => n * 2,
            Data::I32(_) | Data::U32(_) | Data::F32(_) | Data::Date32(_) => n * 4,
            Data::I64(_) | Data::U64(_) | Data::F64(_) | Data::Timestamp { .. } => n * 8,
            Data::Decimal { .. } => n * 16,
            // Parquet's plain encoding: a 4-byte length before each value.
            Data::Utf8(b) | Data::Binary(b) => b.data.len() + n * 4,
            Data::LargeUtf8(b) | Data::LargeBinary(b) => b.data.len() + n * 4,
        });
    }

    fn count_columns(&self) -> usize {
        1 + match &self.data {
            Data::List { item, .. } => item.count_columns(),
            Data::Struct { members, .. } => members.count_columns(),
            _ => 0,
        }
    }

    /// Bytes allocated for this column's buffers.
    pub(crate) fn memory(&self) -> usize {
        let nulls = self.nulls.as_ref().map_or(0, |n| n.capacity() / 8);
        nulls
            + match_values!(&self.data,
                |v| capacity_bytes(v),
                |b| b.memory(),
                Data::Bool(b) => b.capacity() / 8,
                Data::List { offsets, item, .. } => capacity_bytes(offsets) + item.memory(),
                Data::Struct { members, .. } => members.memory(),
            )
    }
}

/// Bytes allocated for a vector's values.
fn capacity_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}
