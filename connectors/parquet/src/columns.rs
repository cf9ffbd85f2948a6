//! Column buffers that records are appended to one value at a time, checked against the column's
//! type, and cut back to a row boundary when a record turns out bad. A full batch becomes Arrow
//! arrays without copying the values.
//!
//! This file holds the buffers (`Members`, `Column`, `Data`) and their life: building them from a
//! schema, nulls, cutting back and turning a batch into arrays. Beside it:
//!
//! * `put.rs`: appending a value, converted to the column's type or refused;
//! * `parse.rs`: reading values given as text (time zones, timestamps, dates, decimals, base64);
//! * `stats.rs`: what the writer measures of the buffers (memory, bytes per row, distinct
//!   values) and the room it reserves for the next batch.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BooleanArray, GenericBinaryArray, GenericListArray,
    GenericStringArray, OffsetSizeTrait, PrimitiveArray, StructArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, TimeUnit};

/// Matches a column's values for code that is the same for every type: `|v|` binds the `Vec` of a
/// fixed-width column's values, `|b|` the [`ByteValues`] of a variable-width one, and the arms
/// after them match the other columns (boolean, list, struct). Each arm is compiled for its own
/// type, as if written out: no dispatch.
macro_rules! match_values {
    ($data:expr, |$v:ident| $fixed:expr, |$b:ident| $bytes:expr, $($other:pat => $e:expr),+ $(,)?) => {
        match $data {
            Data::I8($v) => $fixed,
            Data::I16($v) => $fixed,
            Data::I32($v) | Data::Date32($v) => $fixed,
            Data::I64($v) | Data::Timestamp { values: $v, .. } => $fixed,
            Data::U8($v) => $fixed,
            Data::U16($v) => $fixed,
            Data::U32($v) => $fixed,
            Data::U64($v) => $fixed,
            Data::F32($v) => $fixed,
            Data::F64($v) => $fixed,
            Data::Decimal { values: $v, .. } => $fixed,
            Data::Utf8($b) | Data::Binary($b) => $bytes,
            Data::LargeUtf8($b) | Data::LargeBinary($b) => $bytes,
            $($other => $e),+
        }
    };
}

// After the macro, which they use.
mod parse;
mod put;
mod stats;

pub(crate) use parse::Zone;

/// A value as it arrived, for error messages: `got "yesterday"`, `got 5`, `got a list`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Got<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Big(i128),
    Float(f64),
    Str(&'a str),
    Bytes,
    Null,
    List,
    Record,
    Variant,
}

impl fmt::Display for Got<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Got::Bool(b) => write!(f, "{b}"),
            Got::Int(v) => write!(f, "{v}"),
            Got::UInt(v) => write!(f, "{v}"),
            Got::Big(v) => write!(f, "{v}"),
            Got::Float(v) => write!(f, "{v}"),
            Got::Str(s) => {
                const MAX: usize = 60;
                if s.len() <= MAX {
                    write!(f, "{s:?}")
                } else {
                    let mut cut = MAX;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    write!(f, "{:?}...", &s[..cut])
                }
            }
            Got::Bytes => f.write_str("bytes"),
            Got::Null => f.write_str("null"),
            Got::List => f.write_str("a list"),
            Got::Record => f.write_str("a record"),
            Got::Variant => f.write_str("an enum variant with data"),
        }
    }
}

/// Why a value does not fit; the caller adds the field.
pub(crate) type Misfit = String;

/// Values of a variable-width column (strings or bytes).
#[derive(Debug)]
pub(crate) struct ByteValues<O> {
    offsets: Vec<O>,
    data: Vec<u8>,
}

impl<O: OffsetSizeTrait> ByteValues<O> {
    fn new() -> Self {
        ByteValues {
            offsets: vec![O::zero()],
            data: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, b: &[u8]) -> Result<(), Misfit> {
        self.data.extend_from_slice(b);
        self.close_value()
    }

    /// Ends the value whose bytes were appended to `data`.
    fn close_value(&mut self) -> Result<(), Misfit> {
        match O::from_usize(self.data.len()) {
            Some(o) => {
                self.offsets.push(o);
                Ok(())
            }
            None => {
                let end = self.offsets.last().map_or(0, |o| o.as_usize());
                self.data.truncate(end);
                Err("the batch's values are too long for 32-bit offsets (use a large_ type)".into())
            }
        }
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        self.data.truncate(self.offsets[len].as_usize());
    }

    fn memory(&self) -> usize {
        self.offsets.capacity() * O::get_byte_width() + self.data.capacity()
    }

    fn take(&mut self) -> (OffsetBuffer<O>, Buffer) {
        let offsets = std::mem::replace(&mut self.offsets, vec![O::zero()]);
        let data = std::mem::take(&mut self.data);
        (
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(data),
        )
    }
}

/// The values of one column, by type.
#[derive(Debug)]
pub(crate) enum Data {
    Bool(BooleanBufferBuilder),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Utf8(ByteValues<i32>),
    LargeUtf8(ByteValues<i64>),
    Binary(ByteValues<i32>),
    LargeBinary(ByteValues<i64>),
    Timestamp {
        unit: TimeUnit,
        tz: Option<Arc<str>>,
        zone: Option<Zone>,
        values: Vec<i64>,
    },
    Date32(Vec<i32>),
    Decimal {
        precision: u8,
        scale: i8,
        values: Vec<i128>,
    },
    List {
        field: FieldRef,
        offsets: Vec<i32>,
        item: Box<Column>,
    },
    Struct {
        fields: Fields,
        members: Members,
    },
}

/// Named columns: a record's top level or a struct's members.
#[derive(Debug)]
pub(crate) struct Members {
    pub(crate) columns: Vec<Column>,
    names: Arc<Names>,
    /// Per member, the address and length of the `&'static str` key (a struct's field name from
    /// serde) that last matched it: the same static name matches again without comparing text.
    static_keys: Vec<(usize, usize)>,
}

/// Member names, shared by every writer of a schema.
#[derive(Debug)]
struct Names {
    names: Vec<Box<str>>,
    index: Option<HashMap<Box<str>, usize>>,
}

/// Above this many members, names are looked up in a hash map rather than by a scan.
const SCAN_LIMIT: usize = 12;

impl Members {
    pub(crate) fn new(fields: &Fields, prefix: &str) -> Result<Members, ArrowError> {
        let columns = fields
            .iter()
            .map(|f| Column::new(f, &format!("{prefix}{}", f.name())))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<Box<str>> = fields.iter().map(|f| f.name().as_str().into()).collect();
        let index = (names.len() > SCAN_LIMIT).then(|| {
            names
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, n)| (n, i))
                .collect()
        });
        Ok(Members {
            static_keys: vec![(0, 0); columns.len()],
            columns,
            names: Arc::new(Names { names, index }),
        })
    }

    /// Empty buffers of the same columns, sharing names and types.
    pub(crate) fn empty_like(&self) -> Members {
        Members {
            columns: self.columns.iter().map(Column::empty_like).collect(),
            names: Arc::clone(&self.names),
            static_keys: vec![(0, 0); self.columns.len()],
        }
    }

    /// The member named by a `&'static str` (a struct's field name): static text never changes,
    /// so an address that matched before matches again.
    #[inline]
    pub(crate) fn find_static(&mut self, key: &'static str, hint: usize) -> Option<usize> {
        let k = (key.as_ptr() as usize, key.len());
        if self.static_keys.get(hint) == Some(&k) {
            return Some(hint);
        }
        let i = self.find(key, hint)?;
        self.static_keys[i] = k;
        Some(i)
    }

    /// The member named `key`; `hint` is where it is expected (records usually name fields in
    /// schema order).
    #[inline]
    pub(crate) fn find(&self, key: &str, hint: usize) -> Option<usize> {
        let names = &*self.names;
        if let Some(n) = names.names.get(hint) {
            if &**n == key {
                return Some(hint);
            }
        }
        match &names.index {
            Some(m) => m.get(key).copied(),
            None => names.names.iter().position(|n| &**n == key),
        }
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        for c in &mut self.columns {
            c.truncate(len);
        }
    }

    pub(crate) fn finish(&mut self) -> Result<Vec<ArrayRef>, ArrowError> {
        self.columns.iter_mut().map(Column::finish).collect()
    }
}

/// One column's buffer: its values, its validity, its name for messages.
#[derive(Debug)]
pub(crate) struct Column {
    /// The dotted path for messages: `user.id`, `tags[]`.
    pub(crate) path: Arc<str>,
    pub(crate) nullable: bool,
    /// Validity, made on the first null of a batch (all valid until then).
    nulls: Option<BooleanBufferBuilder>,
    pub(crate) len: usize,
    pub(crate) data: Data,
}

impl Column {
    pub(crate) fn new(field: &Field, path: &str) -> Result<Column, ArrowError> {
        let data = match field.data_type() {
            DataType::Boolean => Data::Bool(BooleanBufferBuilder::new(0)),
            DataType::Int8 => Data::I8(Vec::new()),
            DataType::Int16 => Data::I16(Vec::new()),
            DataType::Int32 => Data::I32(Vec::new()),
            DataType::Int64 => Data::I64(Vec::new()),
            DataType::UInt8 => Data::U8(Vec::new()),
            DataType::UInt16 => Data::U16(Vec::new()),
            DataType::UInt32 => Data::U32(Vec::new()),
            DataType::UInt64 => Data::U64(Vec::new()),
            DataType::Float32 => Data::F32(Vec::new()),
            DataType::Float64 => Data::F64(Vec::new()),
            DataType::Utf8 => Data::Utf8(ByteValues::new()),
            DataType::LargeUtf8 => Data::LargeUtf8(ByteValues::new()),
            DataType::Binary => Data::Binary(ByteValues::new()),
            DataType::LargeBinary => Data::LargeBinary(ByteValues::new()),
            DataType::Date32 => Data::Date32(Vec::new()),
            DataType::Timestamp(unit, tz) => Data::Timestamp {
                unit: *unit,
                zone: tz
                    .as_deref()
                    .map(Zone::parse)
                    .transpose()
                    .map_err(ArrowError::InvalidArgumentError)?,
                tz: tz.clone(),
                values: Vec::new(),
            },
            DataType::Decimal128(p, s) => Data::Decimal {
                precision: *p,
                scale: *s,
                values: Vec::new(),
            },
            DataType::List(item) => Data::List {
                field: item.clone(),
                offsets: vec![0],
                item: Box::new(Column::new(item, &format!("{path}[]"))?),
            },
            DataType::Struct(fields) => Data::Struct {
                fields: fields.clone(),
                members: Members::new(fields, &format!("{path}."))?,
            },
            other => {
                return Err(ArrowError::NotYetImplemented(format!(
                    "column {path}: type {other}"
                )))
            }
        };
        Ok(Column {
            path: path.into(),
            nullable: field.is_nullable(),
            nulls: None,
            len: 0,
            data,
        })
    }

    /// An empty column of the same type.
    fn empty_like(&self) -> Column {
        let data = match &self.data {
            Data::Bool(_) => Data::Bool(BooleanBufferBuilder::new(0)),
            Data::I8(_) => Data::I8(Vec::new()),
            Data::I16(_) => Data::I16(Vec::new()),
            Data::I32(_) => Data::I32(Vec::new()),
            Data::I64(_) => Data::I64(Vec::new()),
            Data::U8(_) => Data::U8(Vec::new()),
            Data::U16(_) => Data::U16(Vec::new()),
            Data::U32(_) => Data::U32(Vec::new()),
            Data::U64(_) => Data::U64(Vec::new()),
            Data::F32(_) => Data::F32(Vec::new()),
            Data::F64(_) => Data::F64(Vec::new()),
            Data::Utf8(_) => Data::Utf8(ByteValues::new()),
            Data::LargeUtf8(_) => Data::LargeUtf8(ByteValues::new()),
            Data::Binary(_) => Data::Binary(ByteValues::new()),
            Data::LargeBinary(_) => Data::LargeBinary(ByteValues::new()),
            Data::Date32(_) => Data::Date32(Vec::new()),
            Data::Timestamp { unit, tz, zone, .. } => Data::Timestamp {
                unit: *unit,
                tz: tz.clone(),
                zone: *zone,
                values: Vec::new(),
            },
            Data::Decimal {
                precision, scale, ..
            } => Data::Decimal {
                precision: *precision,
                scale: *scale,
                values: Vec::new(),
            },
            Data::List { field, item, .. } => Data::List {
                field: field.clone(),
                offsets: vec![0],
                item: Box::new(item.empty_like()),
            },
            Data::Struct { fields, members } => Data::Struct {
                fields: fields.clone(),
                members: members.empty_like(),
            },
        };
        Column {
            path: Arc::clone(&self.path),
            nullable: self.nullable,
            nulls: None,
            len: 0,
            data,
        }
    }

    /// The type, for messages.
    pub(crate) fn type_name(&self) -> String {
        match &self.data {
            Data::Bool(_) => "boolean".into(),
            Data::I8(_) => "int8".into(),
            Data::I16(_) => "int16".into(),
            Data::I32(_) => "int32".into(),
            Data::I64(_) => "int64".into(),
            Data::U8(_) => "uint8".into(),
            Data::U16(_) => "uint16".into(),
            Data::U32(_) => "uint32".into(),
            Data::U64(_) => "uint64".into(),
            Data::F32(_) => "float32".into(),
            Data::F64(_) => "float64".into(),
            Data::Utf8(_) | Data::LargeUtf8(_) => "string".into(),
            Data::Binary(_) | Data::LargeBinary(_) => "binary".into(),
            Data::Timestamp { .. } => "timestamp".into(),
            Data::Date32(_) => "date32".into(),
            Data::Decimal {
                precision, scale, ..
            } => format!("decimal128({precision}, {scale})"),
            Data::List { .. } => "list".into(),
            Data::Struct { .. } => "struct".into(),
        }
    }

    pub(crate) fn expected(&self, got: Got<'_>) -> Misfit {
        format!("expected {}, got {got}", self.type_name())
    }

    /// Counts the value just appended to the data as valid.
    #[inline]
    pub(crate) fn valid(&mut self) {
        if let Some(n) = &mut self.nulls {
            n.append(true);
        }
        self.len += 1;
    }

    fn invalid(&mut self) {
        let n = self.nulls.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(self.len + 1);
            b.append_n(self.len, true);
            b
        });
        n.append(false);
        self.len += 1;
    }

    /// Appends a null, or refuses it if the column is not nullable.
    pub(crate) fn push_null(&mut self) -> Result<(), Misfit> {
        if !self.nullable {
            return Err("null in a non-nullable field".into());
        }
        self.push_filler();
        Ok(())
    }

    /// Appends a placeholder under a null parent: null where allowed, else a default value.
    pub(crate) fn push_filler(&mut self) {
        // Zero for numbers, an empty value for strings, bytes and lists.
        match_values!(&mut self.data,
            |v| v.push(Default::default()),
            |b| b.offsets.push(*b.offsets.last().unwrap_or(&0)),
            Data::Bool(b) => b.append(false),
            Data::List { offsets, .. } => offsets.push(*offsets.last().unwrap_or(&0)),
            Data::Struct { members, .. } => {
                for c in &mut members.columns {
                    c.push_filler();
                }
            },
        );
        if self.nullable {
            self.invalid();
        } else {
            self.valid();
        }
    }

    /// Cuts the column back to `len` values, with whatever a value in progress left in nested
    /// columns.
    pub(crate) fn truncate(&mut self, len: usize) {
        debug_assert!(len <= self.len);
        self.len = len;
        if let Some(n) = &mut self.nulls {
            n.truncate(len);
        }
        match_values!(&mut self.data,
            |v| v.truncate(len),
            |b| b.truncate(len),
            Data::Bool(b) => b.truncate(len),
            Data::List { offsets, item, .. } => {
                offsets.truncate(len + 1);
                item.truncate(offsets[len] as usize);
            },
            Data::Struct { members, .. } => members.truncate(len),
        );
    }

    /// Turns the buffered values into an Arrow array and starts an empty batch.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let nulls = self.nulls.take().map(|mut n| NullBuffer::new(n.finish()));
        self.len = 0;
        fn prim<T: ArrowPrimitiveType>(
            v: &mut Vec<T::Native>,
            nulls: Option<NullBuffer>,
        ) -> PrimitiveArray<T> {
            PrimitiveArray::<T>::new(ScalarBuffer::from(std::mem::take(v)), nulls)
        }
        let array: ArrayRef = match &mut self.data {
            Data::Bool(b) => Arc::new(BooleanArray::new(b.finish(), nulls)),
            Data::I8(v) => Arc::new(prim::<Int8Type>(v, nulls)),
            Data::I16(v) => Arc::new(prim::<Int16Type>(v, nulls)),
            Data::I32(v) => Arc::new(prim::<Int32Type>(v, nulls)),
            Data::I64(v) => Arc::new(prim::<Int64Type>(v, nulls)),
            Data::U8(v) => Arc::new(prim::<UInt8Type>(v, nulls)),
            Data::U16(v) => Arc::new(prim::<UInt16Type>(v, nulls)),
            Data::U32(v) => Arc::new(prim::<UInt32Type>(v, nulls)),
            Data::U64(v) => Arc::new(prim::<UInt64Type>(v, nulls)),
            Data::F32(v) => Arc::new(prim::<Float32Type>(v, nulls)),
            Data::F64(v) => Arc::new(prim::<Float64Type>(v, nulls)),
            Data::Date32(v) => Arc::new(prim::<Date32Type>(v, nulls)),
            Data::Timestamp {
                unit, tz, values, ..
            } => match unit {
                TimeUnit::Second => Arc::new(
                    prim::<TimestampSecondType>(values, nulls).with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Millisecond => Arc::new(
                    prim::<TimestampMillisecondType>(values, nulls).with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Microsecond => Arc::new(
                    prim::<TimestampMicrosecondType>(values, nulls).with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Nanosecond => Arc::new(
                    prim::<TimestampNanosecondType>(values, nulls).with_timezone_opt(tz.clone()),
                ),
            },
            Data::Decimal {
                precision,
                scale,
                values,
            } => Arc::new(
                prim::<Decimal128Type>(values, nulls)
                    .with_precision_and_scale(*precision, *scale)?,
            ),
            Data::Utf8(b) => {
                let (o, d) = b.take();
                Arc::new(GenericStringArray::<i32>::try_new(o, d, nulls)?)
            }
            Data::LargeUtf8(b) => {
                let (o, d) = b.take();
                Arc::new(GenericStringArray::<i64>::try_new(o, d, nulls)?)
            }
            Data::Binary(b) => {
                let (o, d) = b.take();
                Arc::new(GenericBinaryArray::<i32>::try_new(o, d, nulls)?)
            }
            Data::LargeBinary(b) => {
                let (o, d) = b.take();
                Arc::new(GenericBinaryArray::<i64>::try_new(o, d, nulls)?)
            }
            Data::List {
                field,
                offsets,
                item,
            } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let values = item.finish()?;
                Arc::new(GenericListArray::<i32>::try_new(
                    field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    nulls,
                )?)
            }
            Data::Struct { fields, members } => {
                let arrays = members.finish()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, nulls)?)
            }
        };
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_nested_columns_back() {
        let f = Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        );
        let mut c = Column::new(&f, "l").unwrap();
        let Data::List { offsets, item, .. } = &mut c.data else {
            unreachable!()
        };
        item.put_str("a").unwrap();
        item.put_str("b").unwrap();
        offsets.push(2);
        c.valid();
        let Data::List { item, .. } = &mut c.data else {
            unreachable!()
        };
        item.put_str("c").unwrap();
        item.push_null().unwrap();
        c.truncate(1);
        c.truncate(1);
        let Data::List { offsets, item, .. } = &c.data else {
            unreachable!()
        };
        assert_eq!((offsets.as_slice(), item.len), (&[0, 2][..], 2));
        let a = c.finish().unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a.null_count(), 0);
    }
}
