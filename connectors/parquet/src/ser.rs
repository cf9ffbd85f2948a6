//! A serde `Serializer` that appends one record to column buffers, checking every value against
//! its column, so that a bad record is refused alone and named precisely.
//!
//! * `members.rs`: a record or a struct column's value, matched member by member to its columns
//!   (`RecordSerializer`; `MembersSerializer`, generic over what it fills, the top-level columns
//!   or a struct column's members; `KeySerializer` for a map's keys).
//! * `value.rs`: one value into one column (`ValueSerializer`), a list's items (`ListSerializer`)
//!   and the bytes of a byte sequence (`ByteSerializer`).
//!
//! The serializers accept a few of serde's methods each and refuse the rest. The refusals, the
//! widening of small integers and the methods that only look through a wrapper are written once,
//! by the macros below: they expand to the same code as the methods written out, with no
//! dispatch and no allocation of their own.

use std::fmt;

use serde::ser;

use crate::options::UnknownFields;

/// Why a record was refused: `field "ts": expected timestamp, got "yesterday"`.
#[derive(Debug)]
pub(crate) struct RowError {
    pub(crate) message: String,
    /// The message names its field already.
    located: bool,
}

impl RowError {
    fn at(path: &str, why: impl fmt::Display) -> Self {
        RowError {
            message: format!("field {path:?}: {why}"),
            located: true,
        }
    }

    fn record(why: impl fmt::Display) -> Self {
        RowError {
            message: why.to_string(),
            located: true,
        }
    }

    /// Names the field, unless the message already does (a `custom` error of a value's own
    /// `Serialize` does not know where it is).
    fn locate(mut self, path: &str) -> Self {
        if !self.located {
            self.message = format!("field {path:?}: {}", self.message);
            self.located = true;
        }
        self
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RowError {}

impl ser::Error for RowError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        RowError {
            message: msg.to_string(),
            located: false,
        }
    }
}

/// How members are matched, shared by the top level and nested structs.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    pub(crate) unknown: UnknownFields,
    /// Top-level names that are skipped without a check (dropped partition columns).
    pub(crate) skip: &'a [String],
}

/// Serde methods that refuse their value, written once for every serializer here. Each calls
/// the serializer's own `fn refuse(&self, got: Got<'_>) -> RowError` with what the value was, for
/// the message. Name the methods to generate: `refuse! { serialize_bool serialize_seq }`.
macro_rules! refuse {
    ($($method:ident)*) => {
        $(refuse!(@ $method);)*
    };
    (@ serialize_bool) => { refuse!(@scalar serialize_bool(v: bool) Got::Bool(v)); };
    (@ serialize_i8) => { refuse!(@scalar serialize_i8(v: i8) Got::Int(v as i64)); };
    (@ serialize_i16) => { refuse!(@scalar serialize_i16(v: i16) Got::Int(v as i64)); };
    (@ serialize_i32) => { refuse!(@scalar serialize_i32(v: i32) Got::Int(v as i64)); };
    (@ serialize_i64) => { refuse!(@scalar serialize_i64(v: i64) Got::Int(v)); };
    (@ serialize_u8) => { refuse!(@scalar serialize_u8(v: u8) Got::UInt(v as u64)); };
    (@ serialize_u16) => { refuse!(@scalar serialize_u16(v: u16) Got::UInt(v as u64)); };
    (@ serialize_u32) => { refuse!(@scalar serialize_u32(v: u32) Got::UInt(v as u64)); };
    (@ serialize_u64) => { refuse!(@scalar serialize_u64(v: u64) Got::UInt(v)); };
    (@ serialize_f32) => { refuse!(@scalar serialize_f32(v: f32) Got::Float(v as f64)); };
    (@ serialize_f64) => { refuse!(@scalar serialize_f64(v: f64) Got::Float(v)); };
    (@ serialize_char) => {
        refuse!(@scalar serialize_char(v: char) Got::Str(v.encode_utf8(&mut [0; 4])));
    };
    (@ serialize_str) => { refuse!(@scalar serialize_str(v: &str) Got::Str(v)); };
    (@ serialize_bytes) => { refuse!(@scalar serialize_bytes(_v: &[u8]) Got::Bytes); };
    (@ serialize_none) => { refuse!(@scalar serialize_none() Got::Null); };
    (@ serialize_unit) => { refuse!(@scalar serialize_unit() Got::Null); };
    (@ serialize_unit_struct) => {
        refuse!(@scalar serialize_unit_struct(_name: &'static str) Got::Null);
    };
    (@ serialize_unit_variant) => {
        refuse!(@scalar serialize_unit_variant(_name: &'static str, _index: u32, v: &'static str)
            Got::Str(v));
    };
    (@ serialize_newtype_variant) => {
        fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, RowError> {
            Err(self.refuse(Got::Variant))
        }
    };
    (@ serialize_seq) => {
        refuse!(@compound serialize_seq(_len: Option<usize>) -> SerializeSeq, Got::List);
    };
    (@ serialize_tuple) => {
        refuse!(@compound serialize_tuple(_len: usize) -> SerializeTuple, Got::List);
    };
    (@ serialize_tuple_struct) => {
        refuse!(@compound serialize_tuple_struct(_name: &'static str, _len: usize)
            -> SerializeTupleStruct, Got::List);
    };
    (@ serialize_tuple_variant) => {
        refuse!(@variant serialize_tuple_variant -> SerializeTupleVariant);
    };
    (@ serialize_map) => {
        refuse!(@compound serialize_map(_len: Option<usize>) -> SerializeMap, Got::Record);
    };
    (@ serialize_struct) => {
        refuse!(@compound serialize_struct(_name: &'static str, _len: usize)
            -> SerializeStruct, Got::Record);
    };
    (@ serialize_struct_variant) => {
        refuse!(@variant serialize_struct_variant -> SerializeStructVariant);
    };
    // A method of a scalar (or of no value at all).
    (@scalar $method:ident($($arg:ident: $ty:ty),*) $got:expr) => {
        fn $method(self, $($arg: $ty),*) -> Result<Self::Ok, RowError> {
            Err(self.refuse($got))
        }
    };
    // A method that would return the serializer of a variant's members.
    (@variant $method:ident -> $compound:ident) => {
        refuse!(@compound $method(
            _name: &'static str, _index: u32, _variant: &'static str, _len: usize
        ) -> $compound, Got::Variant);
    };
    // A method that would return a compound serializer.
    (@compound $method:ident($($arg:ident: $ty:ty),*) -> $compound:ident, $got:expr) => {
        fn $method(self, $($arg: $ty),*) -> Result<Self::$compound, RowError> {
            Err(self.refuse($got))
        }
    };
}

/// Serde methods of small integers that hand the value on, widened, to another method of the
/// same serializer: `widen! { serialize_i8(i8) => serialize_i64(i64); }`.
macro_rules! widen {
    ($($method:ident($ty:ty) => $to:ident($wide:ty);)*) => {
        $(fn $method(self, v: $ty) -> Result<Self::Ok, RowError> {
            self.$to(v as $wide)
        })*
    };
}

/// Serde methods that hand their value on to another method of the same serializer:
/// `serialize_some` and `serialize_newtype_struct` serialize what they wrap (an `Option`'s value,
/// a newtype's field) with it, `serialize_unit_variant` serializes the variant's name as a string.
/// Name the methods to generate: `look_through! { serialize_some }`.
macro_rules! look_through {
    ($($method:ident)*) => {
        $(look_through!(@ $method);)*
    };
    (@ serialize_some) => {
        fn serialize_some<T: serde::Serialize + ?Sized>(
            self,
            value: &T,
        ) -> Result<Self::Ok, RowError> {
            value.serialize(self)
        }
    };
    (@ serialize_newtype_struct) => {
        fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Self::Ok, RowError> {
            value.serialize(self)
        }
    };
    (@ serialize_unit_variant) => {
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            v: &'static str,
        ) -> Result<Self::Ok, RowError> {
            self.serialize_str(v)
        }
    };
}

/// The associated types of a serializer that takes one scalar (`Ok` is what it makes of it) and
/// refuses every compound value.
macro_rules! scalar_only {
    ($ok:ty) => {
        type Ok = $ok;
        type Error = RowError;
        type SerializeSeq = Impossible<$ok, RowError>;
        type SerializeTuple = Impossible<$ok, RowError>;
        type SerializeTupleStruct = Impossible<$ok, RowError>;
        type SerializeTupleVariant = Impossible<$ok, RowError>;
        type SerializeMap = Impossible<$ok, RowError>;
        type SerializeStruct = Impossible<$ok, RowError>;
        type SerializeStructVariant = Impossible<$ok, RowError>;
    };
}

// After the macros, which they use.
mod members;
mod value;

pub(crate) use members::append_record;
