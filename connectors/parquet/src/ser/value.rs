//! One value into one column: scalars are appended through the column's checked `put_*`, a list
//! through its item column, a struct through its members, and a byte sequence given element by
//! element into a binary column.

use serde::ser::{self, Impossible, Serialize};

use super::members::NestedSerializer;
use super::{RowError, Rules};
use crate::columns::{Column, Data, Got};

/// Appends one value to one column.
pub(super) struct ValueSerializer<'a, 'r> {
    pub(super) col: &'a mut Column,
    pub(super) rules: Rules<'r>,
    pub(super) key: &'a mut String,
}

impl ValueSerializer<'_, '_> {
    fn fail(&self, why: String) -> RowError {
        RowError::at(&self.col.path, why)
    }

    fn refuse(&self, got: Got<'_>) -> RowError {
        self.fail(self.col.expected(got))
    }
}

impl<'a, 'r> ser::Serializer for ValueSerializer<'a, 'r> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = ListSerializer<'a, 'r>;
    type SerializeTuple = ListSerializer<'a, 'r>;
    type SerializeTupleStruct = ListSerializer<'a, 'r>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = NestedSerializer<'a, 'r>;
    type SerializeStruct = NestedSerializer<'a, 'r>;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_bool(self, v: bool) -> Result<(), RowError> {
        self.col.put_bool(v).map_err(|e| self.fail(e))
    }

    widen! {
        serialize_i8(i8) => serialize_i64(i64);
        serialize_i16(i16) => serialize_i64(i64);
        serialize_i32(i32) => serialize_i64(i64);
        serialize_u8(u8) => serialize_i64(i64);
        serialize_u16(u16) => serialize_i64(i64);
        serialize_u32(u32) => serialize_i64(i64);
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), RowError> {
        self.col.put_i64(v).map_err(|e| self.fail(e))
    }

    fn serialize_i128(self, v: i128) -> Result<(), RowError> {
        self.col.put_i128(v).map_err(|e| self.fail(e))
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), RowError> {
        self.col.put_u64(v).map_err(|e| self.fail(e))
    }

    fn serialize_u128(self, v: u128) -> Result<(), RowError> {
        match i128::try_from(v) {
            Ok(i) => self.serialize_i128(i),
            Err(_) => Err(self.fail(format!("{v} is out of range for {}", self.col.type_name()))),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<(), RowError> {
        self.col.put_f64(v as f64).map_err(|e| self.fail(e))
    }

    fn serialize_f64(self, v: f64) -> Result<(), RowError> {
        self.col.put_f64(v).map_err(|e| self.fail(e))
    }

    fn serialize_char(self, v: char) -> Result<(), RowError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), RowError> {
        self.col.put_str(v).map_err(|e| self.fail(e))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), RowError> {
        self.col.put_bytes(v).map_err(|e| self.fail(e))
    }

    fn serialize_none(self) -> Result<(), RowError> {
        self.col.push_null().map_err(|e| self.fail(e))
    }

    fn serialize_unit(self) -> Result<(), RowError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        self.serialize_none()
    }

    look_through! { serialize_some serialize_newtype_struct serialize_unit_variant }

    refuse! { serialize_newtype_variant serialize_tuple_variant serialize_struct_variant }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        match &self.col.data {
            Data::List { .. } => Ok(ListSerializer {
                col: self.col,
                rules: self.rules,
                key: self.key,
                bytes: false,
            }),
            _ if self.col.is_binary() => Ok(ListSerializer {
                col: self.col,
                rules: self.rules,
                key: self.key,
                bytes: true,
            }),
            _ => Err(self.refuse(Got::List)),
        }
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, RowError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        NestedSerializer::nested(self)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        NestedSerializer::nested(self)
    }
}

/// Appends a list's items to its item column (or a byte sequence's bytes to a binary column).
pub(super) struct ListSerializer<'a, 'r> {
    col: &'a mut Column,
    rules: Rules<'r>,
    key: &'a mut String,
    bytes: bool,
}

impl ListSerializer<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        if self.bytes {
            let b = value.serialize(ByteSerializer).map_err(|e| {
                RowError::at(
                    &self.col.path,
                    format!("expected binary, got a list with {}", e.message),
                )
            })?;
            self.col.put_byte_in_progress(b);
            return Ok(());
        }
        let Data::List { item, .. } = &mut self.col.data else {
            unreachable!("a list serializer on a list column")
        };
        value
            .serialize(ValueSerializer {
                col: item,
                rules: self.rules,
                key: self.key,
            })
            .map_err(|e| e.locate(&item.path))
    }

    fn close(self) -> Result<(), RowError> {
        if self.bytes {
            return self
                .col
                .close_bytes()
                .map_err(|e| RowError::at(&self.col.path, e));
        }
        let Data::List { offsets, item, .. } = &mut self.col.data else {
            unreachable!("a list serializer on a list column")
        };
        let Ok(end) = i32::try_from(item.len) else {
            return Err(RowError::at(
                &self.col.path,
                "the batch's lists hold more than 2^31 items",
            ));
        };
        offsets.push(end);
        self.col.valid();
        Ok(())
    }
}

/// The serde traits of a sequence, a tuple and a tuple struct, all lists here: each item is an
/// `element`, the end a `close`.
macro_rules! list_impls {
    ($($trait:ident::$method:ident),*) => {
        $(impl ser::$trait for ListSerializer<'_, '_> {
            type Ok = ();
            type Error = RowError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
                self.element(value)
            }

            fn end(self) -> Result<(), RowError> {
                self.close()
            }
        })*
    };
}

list_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// Takes one byte of a byte sequence.
struct ByteSerializer;

impl ByteSerializer {
    /// Anything but an integer is refused with what it is; the list's error names the column.
    fn refuse(&self, got: Got<'_>) -> RowError {
        let what = match got {
            Got::Bool(_) => "a boolean item",
            Got::Float(_) => "a float item",
            Got::Str(_) => "a text item",
            Got::Bytes => "a bytes item",
            Got::Null => "a null item",
            Got::List => "a list item",
            Got::Record => "a record item",
            Got::Variant => "an enum item",
            Got::Int(v) => return ser::Error::custom(format!("item {v}")),
            Got::UInt(v) => return ser::Error::custom(format!("item {v}")),
            Got::Big(v) => return ser::Error::custom(format!("item {v}")),
        };
        ser::Error::custom(what)
    }
}

impl ser::Serializer for ByteSerializer {
    scalar_only!(u8);

    fn serialize_u8(self, v: u8) -> Result<u8, RowError> {
        Ok(v)
    }

    fn serialize_u64(self, v: u64) -> Result<u8, RowError> {
        u8::try_from(v).map_err(|_| self.refuse(Got::UInt(v)))
    }

    fn serialize_i64(self, v: i64) -> Result<u8, RowError> {
        u8::try_from(v).map_err(|_| self.refuse(Got::Int(v)))
    }

    widen! {
        serialize_i8(i8) => serialize_i64(i64);
        serialize_i16(i16) => serialize_i64(i64);
        serialize_i32(i32) => serialize_i64(i64);
        serialize_u16(u16) => serialize_u64(u64);
        serialize_u32(u32) => serialize_u64(u64);
    }

    look_through! { serialize_some serialize_newtype_struct }

    refuse! {
        serialize_bool serialize_f32 serialize_f64 serialize_char serialize_str serialize_bytes
        serialize_none serialize_unit serialize_unit_struct serialize_unit_variant
        serialize_newtype_variant serialize_seq serialize_tuple serialize_tuple_struct
        serialize_tuple_variant serialize_map serialize_struct serialize_struct_variant
    }
}
