//! Column buffers that records are appended to one value at a time, checked against the column's
//! type, and cut back to a row boundary when a record turns out bad. A full batch becomes Arrow
//! arrays without copying the values.

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
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone as _};

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

/// The time zone of a timestamp column, for strings without an offset.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Zone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses an Arrow time zone: `UTC`, `+02:00`, `-0530` or an IANA name.
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Utc);
        }
        if s.starts_with('+') || s.starts_with('-') {
            let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
                let h: i32 = digits[..2].parse().unwrap_or(99);
                let m: i32 = digits[2..].parse().unwrap_or(99);
                let secs = (h * 3600 + m * 60) * if s.starts_with('-') { -1 } else { 1 };
                if h < 24 && m < 60 {
                    if let Some(o) = FixedOffset::east_opt(secs) {
                        return Ok(Zone::Fixed(o));
                    }
                }
            }
        } else if let Ok(tz) = s.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Named(tz));
        }
        Err(format!(
            "time zone {s:?} is not UTC, an offset (+02:00) or an IANA name (Europe/Paris)"
        ))
    }

    fn local_to_instant(self, t: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        match self {
            Zone::Utc => Some(t.and_utc().fixed_offset()),
            Zone::Fixed(o) => o.from_local_datetime(&t).single(),
            Zone::Named(tz) => tz
                .from_local_datetime(&t)
                .earliest()
                .map(|d| d.fixed_offset()),
        }
    }
}

/// Parses an RFC 3339 / ISO 8601 date-time (`2026-11-24T13:05:00Z`, `2026-11-24 13:05:00.5+01:00`)
/// or a date-time or date without offset, which is read in `zone` (UTC if none).
pub(crate) fn parse_timestamp(s: &str, unit: TimeUnit, zone: Option<Zone>) -> Option<i64> {
    let s = s.trim();
    let t = DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()
        .or_else(|| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })?;
            zone.unwrap_or(Zone::Utc).local_to_instant(naive)
        })?;
    match unit {
        TimeUnit::Second => Some(t.timestamp()),
        TimeUnit::Millisecond => Some(t.timestamp_millis()),
        TimeUnit::Microsecond => Some(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt(),
    }
}

const UNIX_EPOCH_DAY: i32 = 719_163; // days from 0001-01-01 (CE day 1) to 1970-01-01

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    use chrono::Datelike as _;
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    Some(d.num_days_from_ce() - UNIX_EPOCH_DAY)
}

/// Parses a decimal number (`-12.5`, `1e3`, `.25`) into an integer scaled by `10^scale`. With
/// `round`, extra fraction digits are rounded half away from zero; without, they must be zeros.
pub(crate) fn parse_decimal(
    s: &str,
    precision: u8,
    scale: i8,
    round: bool,
) -> Result<i128, Misfit> {
    let bad = || format!("{:?} is not a decimal number", s);
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (t, 0),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    // digits as a whole number, and where the point is: value = digits * 10^-(point)
    let mut digits: Vec<u8> = Vec::with_capacity(int.len() + frac.len());
    for b in int.bytes().chain(frac.bytes()) {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        digits.push(b - b'0');
    }
    let point = frac.len() as i64 - exp as i64; // digits after the point
    let scale = scale as i64;
    // Keep the digits up to `scale` after the point.
    let keep = digits.len() as i64 - (point - scale);
    let too_big = || format!("{s} does not fit decimal128({precision}, {scale})");
    let mut v: i128 = 0;
    let mut round_up = false;
    for (i, d) in digits.iter().enumerate() {
        let i = i as i64;
        if i < keep {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(*d as i128))
                .ok_or_else(too_big)?;
        } else if i == keep {
            if *d != 0 && !round {
                return Err(format!("{s} has more than {scale} digits after the point"));
            }
            round_up = *d >= 5;
        } else if *d != 0 && !round {
            return Err(format!("{s} has more than {scale} digits after the point"));
        }
    }
    // Digits missing up to the scale: multiply.
    if keep > digits.len() as i64 {
        let missing = (keep - digits.len() as i64) as u32;
        v = 10i128
            .checked_pow(missing)
            .and_then(|m| v.checked_mul(m))
            .ok_or_else(too_big)?;
    }
    if round_up {
        v += 1;
    }
    if v >= 10i128.pow(precision as u32) {
        return Err(too_big());
    }
    Ok(if neg { -v } else { v })
}

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
            c.leaf_distinct(out);
        }
    }

    /// Columns, nested ones included.
    pub(crate) fn count_columns(&self) -> usize {
        self.columns.iter().map(Column::count_columns).sum()
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

    fn leaf_distinct(&self, out: &mut Vec<Option<f64>>) {
        match &self.data {
            Data::List { item, .. } => item.leaf_distinct_nested(out),
            Data::Struct { members, .. } => {
                for c in &members.columns {
                    c.leaf_distinct_nested(out);
                }
            }
            Data::Bool(_) => out.push(None),
            _ => out.push(Some(self.distinct_ratio())),
        }
    }

    fn leaf_distinct_nested(&self, out: &mut Vec<Option<f64>>) {
        match &self.data {
            Data::List { item, .. } => item.leaf_distinct_nested(out),
            Data::Struct { members, .. } => {
                for c in &members.columns {
                    c.leaf_distinct_nested(out);
                }
            }
            _ => out.push(None),
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
        match &mut self.data {
            Data::I8(v) => v.reserve(rows),
            Data::I16(v) => v.reserve(rows),
            Data::I32(v) | Data::Date32(v) => v.reserve(rows),
            Data::I64(v) | Data::Timestamp { values: v, .. } => v.reserve(rows),
            Data::U8(v) => v.reserve(rows),
            Data::U16(v) => v.reserve(rows),
            Data::U32(v) => v.reserve(rows),
            Data::U64(v) => v.reserve(rows),
            Data::F32(v) => v.reserve(rows),
            Data::F64(v) => v.reserve(rows),
            Data::Decimal { values, .. } => values.reserve(rows),
            Data::Utf8(b) | Data::Binary(b) => {
                b.offsets.reserve(rows);
                b.data.reserve(bytes);
            }
            Data::LargeUtf8(b) | Data::LargeBinary(b) => {
                b.offsets.reserve(rows);
                b.data.reserve(bytes);
            }
            // Nested and boolean columns grow as they go.
            Data::Bool(_) | Data::List { .. } | Data::Struct { .. } => {}
        }
    }

    /// Bytes of variable-width values (0 for other columns).
    pub(crate) fn value_bytes(&self) -> usize {
        match &self.data {
            Data::Utf8(b) | Data::Binary(b) => b.data.len(),
            Data::LargeUtf8(b) | Data::LargeBinary(b) => b.data.len(),
            _ => 0,
        }
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
        match &mut self.data {
            Data::Bool(b) => b.append(false),
            Data::I8(v) => v.push(0),
            Data::I16(v) => v.push(0),
            Data::I32(v) | Data::Date32(v) => v.push(0),
            Data::I64(v) | Data::Timestamp { values: v, .. } => v.push(0),
            Data::U8(v) => v.push(0),
            Data::U16(v) => v.push(0),
            Data::U32(v) => v.push(0),
            Data::U64(v) => v.push(0),
            Data::F32(v) => v.push(0.0),
            Data::F64(v) => v.push(0.0),
            Data::Utf8(b) | Data::Binary(b) => b.offsets.push(*b.offsets.last().unwrap_or(&0)),
            Data::LargeUtf8(b) | Data::LargeBinary(b) => {
                b.offsets.push(*b.offsets.last().unwrap_or(&0))
            }
            Data::Decimal { values, .. } => values.push(0),
            Data::List { offsets, .. } => offsets.push(*offsets.last().unwrap_or(&0)),
            Data::Struct { members, .. } => {
                for c in &mut members.columns {
                    c.push_filler();
                }
            }
        }
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
        match &mut self.data {
            Data::Bool(b) => b.truncate(len),
            Data::I8(v) => v.truncate(len),
            Data::I16(v) => v.truncate(len),
            Data::I32(v) | Data::Date32(v) => v.truncate(len),
            Data::I64(v) | Data::Timestamp { values: v, .. } => v.truncate(len),
            Data::U8(v) => v.truncate(len),
            Data::U16(v) => v.truncate(len),
            Data::U32(v) => v.truncate(len),
            Data::U64(v) => v.truncate(len),
            Data::F32(v) => v.truncate(len),
            Data::F64(v) => v.truncate(len),
            Data::Utf8(b) | Data::Binary(b) => b.truncate(len),
            Data::LargeUtf8(b) | Data::LargeBinary(b) => b.truncate(len),
            Data::Decimal { values, .. } => values.truncate(len),
            Data::List { offsets, item, .. } => {
                offsets.truncate(len + 1);
                item.truncate(offsets[len] as usize);
            }
            Data::Struct { members, .. } => members.truncate(len),
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
            + match &self.data {
                Data::Bool(b) => b.capacity() / 8,
                Data::I8(v) => v.capacity(),
                Data::I16(v) => v.capacity() * 2,
                Data::I32(v) | Data::Date32(v) => v.capacity() * 4,
                Data::I64(v) | Data::Timestamp { values: v, .. } => v.capacity() * 8,
                Data::U8(v) => v.capacity(),
                Data::U16(v) => v.capacity() * 2,
                Data::U32(v) => v.capacity() * 4,
                Data::U64(v) => v.capacity() * 8,
                Data::F32(v) => v.capacity() * 4,
                Data::F64(v) => v.capacity() * 8,
                Data::Utf8(b) | Data::Binary(b) => b.memory(),
                Data::LargeUtf8(b) | Data::LargeBinary(b) => b.memory(),
                Data::Decimal { values, .. } => values.capacity() * 16,
                Data::List { offsets, item, .. } => offsets.capacity() * 4 + item.memory(),
                Data::Struct { members, .. } => members.memory(),
            }
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

    // --- Appending values. Each returns why the value does not fit, and appends nothing then.

    pub(crate) fn put_bool(&mut self, v: bool) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Bool(b) => b.append(v),
            _ => return Err(self.expected(Got::Bool(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_i64(&mut self, v: i64) -> Result<(), Misfit> {
        if let Data::I64(x) | Data::Timestamp { values: x, .. } = &mut self.data {
            x.push(v);
            self.valid();
            return Ok(());
        }
        self.put_i64_converted(v)
    }

    /// [`put_i64`](Self::put_i64) into a column of another type.
    fn put_i64_converted(&mut self, v: i64) -> Result<(), Misfit> {
        fn fit<T: TryFrom<i64>>(v: i64, col: &str) -> Result<T, Misfit> {
            T::try_from(v).map_err(|_| format!("{v} is out of range for {col}"))
        }
        match &mut self.data {
            Data::I64(x) => x.push(v),
            Data::I32(x) => x.push(fit(v, "int32")?),
            Data::I16(x) => x.push(fit(v, "int16")?),
            Data::I8(x) => x.push(fit(v, "int8")?),
            Data::U64(x) => x.push(fit(v, "uint64")?),
            Data::U32(x) => x.push(fit(v, "uint32")?),
            Data::U16(x) => x.push(fit(v, "uint16")?),
            Data::U8(x) => x.push(fit(v, "uint8")?),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::Timestamp { values, .. } => values.push(v),
            Data::Date32(x) => x.push(fit(v, "date32")?),
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v as i128, *precision, *scale)?),
            _ => return Err(self.expected(Got::Int(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_u64(&mut self, v: u64) -> Result<(), Misfit> {
        if let Data::U64(x) = &mut self.data {
            x.push(v);
            self.valid();
            return Ok(());
        }
        if let Ok(i) = i64::try_from(v) {
            return self.put_i64(i);
        }
        match &mut self.data {
            Data::U64(x) => x.push(v),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v as i128, *precision, *scale)?),
            Data::I64(_)
            | Data::I32(_)
            | Data::I16(_)
            | Data::I8(_)
            | Data::U32(_)
            | Data::U16(_)
            | Data::U8(_)
            | Data::Timestamp { .. }
            | Data::Date32(_) => {
                return Err(format!("{v} is out of range for {}", self.type_name()))
            }
            _ => return Err(self.expected(Got::UInt(v))),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_i128(&mut self, v: i128) -> Result<(), Misfit> {
        if let Ok(i) = i64::try_from(v) {
            return self.put_i64(i);
        }
        if let Ok(u) = u64::try_from(v) {
            return self.put_u64(u);
        }
        match &mut self.data {
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(scale_int(v, *precision, *scale)?),
            Data::F64(x) => x.push(v as f64),
            Data::F32(x) => x.push(v as f32),
            Data::List { .. } | Data::Struct { .. } | Data::Bool(_) => {
                return Err(self.expected(Got::Big(v)))
            }
            Data::Utf8(_) | Data::LargeUtf8(_) | Data::Binary(_) | Data::LargeBinary(_) => {
                return Err(self.expected(Got::Big(v)))
            }
            _ => return Err(format!("{v} is out of range for {}", self.type_name())),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_f64(&mut self, v: f64) -> Result<(), Misfit> {
        match &mut self.data {
            Data::F64(x) => x.push(v),
            Data::F32(x) => x.push(v as f32),
            Data::Decimal {
                precision,
                scale,
                values,
            } => {
                if !v.is_finite() {
                    return Err(format!("{v} does not fit decimal128({precision}, {scale})"));
                }
                values.push(parse_decimal(&format!("{v}"), *precision, *scale, true)?)
            }
            _ => return Err(self.expected(Got::Float(v))),
        }
        self.valid();
        Ok(())
    }

    #[inline]
    pub(crate) fn put_str(&mut self, s: &str) -> Result<(), Misfit> {
        if let Data::Utf8(b) = &mut self.data {
            b.push(s.as_bytes())?;
            self.valid();
            return Ok(());
        }
        self.put_str_converted(s)
    }

    /// [`put_str`](Self::put_str) into a column of another type.
    fn put_str_converted(&mut self, s: &str) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Utf8(b) => b.push(s.as_bytes())?,
            Data::LargeUtf8(b) => b.push(s.as_bytes())?,
            Data::Timestamp {
                unit, zone, values, ..
            } => match parse_timestamp(s, *unit, *zone) {
                Some(t) => values.push(t),
                None => return Err(self.expected(Got::Str(s))),
            },
            Data::Date32(x) => match parse_date(s) {
                Some(d) => x.push(d),
                None => return Err(self.expected(Got::Str(s))),
            },
            Data::Decimal {
                precision,
                scale,
                values,
            } => values.push(parse_decimal(s, *precision, *scale, false)?),
            Data::Binary(b) => decode_base64(s, b)?,
            Data::LargeBinary(b) => decode_base64(s, b)?,
            _ => return Err(self.expected(Got::Str(s))),
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn put_bytes(&mut self, v: &[u8]) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Binary(b) => b.push(v)?,
            Data::LargeBinary(b) => b.push(v)?,
            _ => return Err(self.expected(Got::Bytes)),
        }
        self.valid();
        Ok(())
    }

    /// For a byte sequence given element by element (a `Vec<u8>` through serde).
    pub(crate) fn put_byte_in_progress(&mut self, v: u8) {
        match &mut self.data {
            Data::Binary(b) => b.data.push(v),
            Data::LargeBinary(b) => b.data.push(v),
            _ => {}
        }
    }

    /// Ends a byte sequence given element by element.
    pub(crate) fn close_bytes(&mut self) -> Result<(), Misfit> {
        match &mut self.data {
            Data::Binary(b) => b.close_value()?,
            Data::LargeBinary(b) => b.close_value()?,
            _ => {}
        }
        self.valid();
        Ok(())
    }

    pub(crate) fn is_binary(&self) -> bool {
        matches!(self.data, Data::Binary(_) | Data::LargeBinary(_))
    }
}

fn scale_int(v: i128, precision: u8, scale: i8) -> Result<i128, Misfit> {
    let scaled = 10i128
        .checked_pow(scale as u32)
        .and_then(|m| v.checked_mul(m))
        .filter(|s| s.unsigned_abs() < 10u128.pow(precision as u32));
    scaled.ok_or_else(|| format!("{v} does not fit decimal128({precision}, {scale})"))
}

fn decode_base64<O: OffsetSizeTrait>(s: &str, b: &mut ByteValues<O>) -> Result<(), Misfit> {
    let start = b.data.len();
    if base64::engine::general_purpose::STANDARD
        .decode_vec(s, &mut b.data)
        .is_err()
    {
        b.data.truncate(start);
        return Err(format!("expected binary (base64), got {}", Got::Str(s)));
    }
    b.close_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let ok = [
            ("12.34", 10, 2, false, 1234),
            ("-12.3", 10, 2, false, -1230),
            ("+7", 5, 2, false, 700),
            (".5", 5, 2, false, 50),
            ("1.5e2", 10, 2, false, 15000),
            ("125e-2", 10, 2, false, 125),
            ("12.3400", 10, 2, false, 1234),
            ("0.005", 10, 2, true, 1),
            ("-0.004", 10, 2, true, 0),
            ("2.675", 10, 2, true, 268),
            ("99999999.99", 10, 2, false, 9_999_999_999),
            ("12", 2, 0, false, 12),
        ];
        for (s, p, sc, round, want) in ok {
            assert_eq!(parse_decimal(s, p, sc, round), Ok(want), "{s}");
        }
        let bad = [
            ("12.345", 10, 2, "has more than 2 digits after the point"),
            ("100000000.00", 10, 2, "does not fit decimal128(10, 2)"),
            ("123", 2, 0, "does not fit"),
            ("1.2.3", 10, 2, "is not a decimal number"),
            ("", 10, 2, "is not a decimal number"),
            ("abc", 10, 2, "is not a decimal number"),
            ("1e99999999999", 10, 2, "is not a decimal number"),
        ];
        for (s, p, sc, want) in bad {
            let e = parse_decimal(s, p, sc, false).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
        assert_eq!(scale_int(12, 10, 2), Ok(1200));
        assert!(scale_int(10i128.pow(9), 10, 2).is_err());
    }

    #[test]
    fn timestamps_and_dates() {
        let ms = TimeUnit::Millisecond;
        let base = 1_795_525_500_000; // 2026-11-24T13:05:00Z
        let table: [(&str, Option<&str>, Option<i64>); 10] = [
            ("2026-11-24T13:05:00Z", None, Some(base)),
            ("2026-11-24T14:05:00+01:00", None, Some(base)),
            ("2026-11-24 14:05:00+01:00", None, Some(base)),
            ("2026-11-24T13:05:00.250Z", None, Some(base + 250)),
            ("2026-11-24T13:05:00", None, Some(base)),
            ("2026-11-24 14:05:00", Some("Europe/Paris"), Some(base)),
            ("2026-11-24 15:05", Some("+02:00"), Some(base)),
            ("2026-11-24", None, Some(base - (13 * 3600 + 5 * 60) * 1000)),
            ("yesterday", None, None),
            ("2026-13-01T00:00:00Z", None, None),
        ];
        for (s, zone, want) in table {
            let zone = zone.map(|z| Zone::parse(z).unwrap());
            assert_eq!(parse_timestamp(s, ms, zone), want, "{s}");
        }
        assert_eq!(
            parse_timestamp("2026-11-24T13:05:00Z", TimeUnit::Nanosecond, None),
            Some(base * 1_000_000)
        );
        assert_eq!(
            parse_timestamp("2500-01-01T00:00:00Z", TimeUnit::Nanosecond, None),
            None
        );
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2026-11-24"), Some(20_781));
        assert_eq!(parse_date("24/11/2026"), None);
        for z in [
            "UTC",
            "utc",
            "+02:00",
            "-0530",
            "Europe/Paris",
            "Asia/Tokyo",
        ] {
            assert!(Zone::parse(z).is_ok(), "{z}");
        }
        for z in ["Mars/Olympus", "+25:00", "+2", ""] {
            assert!(Zone::parse(z).is_err(), "{z}");
        }
    }

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
