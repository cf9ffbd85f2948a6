//! A serde `Serializer` that appends one record to column buffers, checking every value against
//! its column, so that a bad record is refused alone and named precisely.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use crate::columns::{Column, Data, Got, Members};
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

/// Appends one record to the top-level columns. The caller cuts the columns back on error.
pub(crate) fn append_record<T: Serialize + ?Sized>(
    members: &mut Members,
    row: usize,
    record: &T,
    rules: Rules<'_>,
    key: &mut String,
) -> Result<(), RowError> {
    record.serialize(RecordSerializer {
        members,
        row,
        rules,
        key,
    })
}

/// Serializes a record (a struct or a map) into a set of members at row `row`.
struct RecordSerializer<'a, 'r> {
    members: &'a mut Members,
    row: usize,
    rules: Rules<'r>,
    key: &'a mut String,
}

fn not_a_record(got: Got<'_>) -> RowError {
    RowError::record(format!("expected a record (a struct or a map), got {got}"))
}

macro_rules! refuse_scalars {
    ($($method:ident($ty:ty) => $got:expr;)*) => {
        $(fn $method(self, v: $ty) -> Result<(), RowError> {
            #[allow(clippy::redundant_closure_call)]
            Err(not_a_record(($got)(v)))
        })*
    };
}

impl<'a, 'r> ser::Serializer for RecordSerializer<'a, 'r> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = MembersSerializer<'a, 'r>;
    type SerializeStruct = MembersSerializer<'a, 'r>;
    type SerializeStructVariant = Impossible<(), RowError>;

    refuse_scalars! {
        serialize_bool(bool) => Got::Bool;
        serialize_i8(i8) => |v| Got::Int(v as i64);
        serialize_i16(i16) => |v| Got::Int(v as i64);
        serialize_i32(i32) => |v| Got::Int(v as i64);
        serialize_i64(i64) => Got::Int;
        serialize_u8(u8) => |v| Got::UInt(v as u64);
        serialize_u16(u16) => |v| Got::UInt(v as u64);
        serialize_u32(u32) => |v| Got::UInt(v as u64);
        serialize_u64(u64) => Got::UInt;
        serialize_f32(f32) => |v| Got::Float(v as f64);
        serialize_f64(f64) => Got::Float;
        serialize_str(&str) => Got::Str;
        serialize_bytes(&[u8]) => |_| Got::Bytes;
    }

    fn serialize_char(self, v: char) -> Result<(), RowError> {
        Err(not_a_record(Got::Str(v.encode_utf8(&mut [0; 4]))))
    }

    fn serialize_none(self) -> Result<(), RowError> {
        Err(not_a_record(Got::Null))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), RowError> {
        Err(not_a_record(Got::Null))
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        Err(not_a_record(Got::Null))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<(), RowError> {
        Err(not_a_record(Got::Str(v)))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        Err(not_a_record(Got::Variant))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        Err(not_a_record(Got::List))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        Err(not_a_record(Got::List))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        Err(not_a_record(Got::List))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        Err(not_a_record(Got::Variant))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        Ok(MembersSerializer::new(
            self.members,
            self.row,
            self.rules,
            self.key,
        ))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        Ok(MembersSerializer::new(
            self.members,
            self.row,
            self.rules,
            self.key,
        ))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        Err(not_a_record(Got::Variant))
    }
}

/// A member's name: a struct's `&'static str` or a map key's text.
#[derive(Clone, Copy)]
enum Key<'a> {
    Static(&'static str),
    Text(&'a str),
}

impl<'a> Key<'a> {
    fn text(self) -> &'a str {
        match self {
            Key::Static(k) => k,
            Key::Text(k) => k,
        }
    }
}

/// Appends `value` to the member `name` at row `row`. `prefix` is the struct's path (empty at the
/// top level); `hint` where the next member is expected. Returns whether a column took the value
/// (not when the member is skipped or ignored).
#[allow(clippy::too_many_arguments)]
#[inline]
fn put_member<T: Serialize + ?Sized>(
    members: &mut Members,
    row: usize,
    rules: Rules<'_>,
    key: &mut String,
    prefix: &str,
    hint: &mut usize,
    name: Key<'_>,
    value: &T,
) -> Result<bool, RowError> {
    let found = match name {
        Key::Static(k) => members.find_static(k, *hint),
        Key::Text(k) => members.find(k, *hint),
    };
    let Some(i) = found else {
        return unknown_member(rules, prefix, name.text()).map(|()| false);
    };
    *hint = i + 1;
    let col = &mut members.columns[i];
    if col.len != row {
        return Err(given_twice(col));
    }
    match value.serialize(ValueSerializer { col, rules, key }) {
        Ok(()) => Ok(true),
        Err(e) => Err(e.locate(&members.columns[i].path)),
    }
}

/// A member the schema does not name: skipped (a dropped column), ignored, or an error.
#[cold]
#[inline(never)]
fn unknown_member(rules: Rules<'_>, prefix: &str, name: &str) -> Result<(), RowError> {
    if prefix.is_empty() && rules.skip.iter().any(|s| s == name) {
        return Ok(());
    }
    match rules.unknown {
        UnknownFields::Ignore => Ok(()),
        UnknownFields::Error => {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            Err(RowError::at(
                &path,
                "not in the schema (set unknown_fields = \"ignore\" to drop such fields)",
            ))
        }
    }
}

#[cold]
#[inline(never)]
fn given_twice(col: &Column) -> RowError {
    RowError::at(&col.path, "given twice")
}

/// Fills the members a record did not give: null, or an error if they may not be. `filled`
/// members took a value: a column takes at most one per row (a second is refused as given
/// twice), so when every column did, there is nothing to fill.
#[inline]
fn fill_missing(members: &mut Members, row: usize, filled: usize) -> Result<(), RowError> {
    if filled == members.columns.len() {
        return Ok(());
    }
    for c in &mut members.columns {
        if c.len == row {
            if !c.nullable {
                return Err(RowError::at(&c.path, "missing (the field is not nullable)"));
            }
            c.push_filler();
        }
    }
    Ok(())
}

fn key_not_a_string(at: &str) -> RowError {
    let at = if at.is_empty() {
        "a record".to_string()
    } else {
        format!("field {at:?}")
    };
    RowError::record(format!("{at} has a member name that is not a string"))
}

/// Fills the top-level columns at row `row`, by name.
pub(crate) struct MembersSerializer<'a, 'r> {
    members: &'a mut Members,
    row: usize,
    rules: Rules<'r>,
    /// The name of a map's pending key.
    key: &'a mut String,
    hint: usize,
    /// Members that took a value.
    filled: usize,
}

impl<'a, 'r> MembersSerializer<'a, 'r> {
    fn new(members: &'a mut Members, row: usize, rules: Rules<'r>, key: &'a mut String) -> Self {
        MembersSerializer {
            members,
            row,
            rules,
            key,
            hint: 0,
            filled: 0,
        }
    }

    #[inline]
    fn member<T: Serialize + ?Sized>(&mut self, name: Key<'_>, value: &T) -> Result<(), RowError> {
        let took = put_member(
            self.members,
            self.row,
            self.rules,
            self.key,
            "",
            &mut self.hint,
            name,
            value,
        )?;
        self.filled += usize::from(took);
        Ok(())
    }

    #[inline]
    fn finish(self) -> Result<(), RowError> {
        fill_missing(self.members, self.row, self.filled)
    }
}

impl ser::SerializeStruct for MembersSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.member(Key::Static(key), value)
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}

impl ser::SerializeMap for MembersSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), RowError> {
        self.key.clear();
        key.serialize(KeySerializer(self.key))
            .map_err(|_| key_not_a_string(""))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        let name = std::mem::take(self.key);
        let r = self.member(Key::Text(&name), value);
        *self.key = name;
        r
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}

/// Takes a map key that is a string.
struct KeySerializer<'a>(&'a mut String);

macro_rules! key_refuses {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method(self, _: $ty) -> Result<(), RowError> {
            Err(ser::Error::custom("not a string"))
        })*
    };
}

impl ser::Serializer for KeySerializer<'_> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = Impossible<(), RowError>;
    type SerializeStruct = Impossible<(), RowError>;
    type SerializeStructVariant = Impossible<(), RowError>;

    fn serialize_str(self, v: &str) -> Result<(), RowError> {
        self.0.push_str(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), RowError> {
        self.0.push(v);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<(), RowError> {
        self.0.push_str(v);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    key_refuses! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_f32(f32); serialize_f64(f64); serialize_bytes(&[u8]);
    }

    fn serialize_none(self) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_unit(self) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        Err(ser::Error::custom("not a string"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        Err(ser::Error::custom("not a string"))
    }
}

/// Appends one value to one column.
struct ValueSerializer<'a, 'r> {
    col: &'a mut Column,
    rules: Rules<'r>,
    key: &'a mut String,
}

impl ValueSerializer<'_, '_> {
    fn fail(&self, why: String) -> RowError {
        RowError::at(&self.col.path, why)
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

    fn serialize_i8(self, v: i8) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_i16(self, v: i16) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_i32(self, v: i32) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), RowError> {
        self.col.put_i64(v).map_err(|e| self.fail(e))
    }

    fn serialize_i128(self, v: i128) -> Result<(), RowError> {
        self.col.put_i128(v).map_err(|e| self.fail(e))
    }

    fn serialize_u8(self, v: u8) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_u16(self, v: u16) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_u32(self, v: u32) -> Result<(), RowError> {
        self.serialize_i64(v as i64)
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

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), RowError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), RowError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), RowError> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<(), RowError> {
        self.serialize_str(v)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), RowError> {
        Err(self.fail(self.col.expected(Got::Variant)))
    }

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
            _ => Err(self.fail(self.col.expected(Got::List))),
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

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        Err(self.fail(self.col.expected(Got::Variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        NestedSerializer::new(self)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        NestedSerializer::new(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        Err(self.fail(self.col.expected(Got::Variant)))
    }
}

/// Appends a list's items to its item column (or a byte sequence's bytes to a binary column).
pub(crate) struct ListSerializer<'a, 'r> {
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

impl ser::SerializeSeq for ListSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.element(value)
    }

    fn end(self) -> Result<(), RowError> {
        self.close()
    }
}

impl ser::SerializeTuple for ListSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.element(value)
    }

    fn end(self) -> Result<(), RowError> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for ListSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        self.element(value)
    }

    fn end(self) -> Result<(), RowError> {
        self.close()
    }
}

/// Takes one byte of a byte sequence.
struct ByteSerializer;

impl ser::Serializer for ByteSerializer {
    type Ok = u8;
    type Error = RowError;
    type SerializeSeq = Impossible<u8, RowError>;
    type SerializeTuple = Impossible<u8, RowError>;
    type SerializeTupleStruct = Impossible<u8, RowError>;
    type SerializeTupleVariant = Impossible<u8, RowError>;
    type SerializeMap = Impossible<u8, RowError>;
    type SerializeStruct = Impossible<u8, RowError>;
    type SerializeStructVariant = Impossible<u8, RowError>;

    fn serialize_u8(self, v: u8) -> Result<u8, RowError> {
        Ok(v)
    }

    fn serialize_u64(self, v: u64) -> Result<u8, RowError> {
        u8::try_from(v).map_err(|_| ser::Error::custom(format!("item {v}")))
    }

    fn serialize_i64(self, v: i64) -> Result<u8, RowError> {
        u8::try_from(v).map_err(|_| ser::Error::custom(format!("item {v}")))
    }

    fn serialize_bool(self, _: bool) -> Result<u8, RowError> {
        Err(ser::Error::custom("a boolean item"))
    }

    fn serialize_i8(self, v: i8) -> Result<u8, RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_i16(self, v: i16) -> Result<u8, RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_i32(self, v: i32) -> Result<u8, RowError> {
        self.serialize_i64(v as i64)
    }

    fn serialize_u16(self, v: u16) -> Result<u8, RowError> {
        self.serialize_u64(v as u64)
    }

    fn serialize_u32(self, v: u32) -> Result<u8, RowError> {
        self.serialize_u64(v as u64)
    }

    fn serialize_f32(self, _: f32) -> Result<u8, RowError> {
        Err(ser::Error::custom("a float item"))
    }

    fn serialize_f64(self, _: f64) -> Result<u8, RowError> {
        Err(ser::Error::custom("a float item"))
    }

    fn serialize_char(self, _: char) -> Result<u8, RowError> {
        Err(ser::Error::custom("a text item"))
    }

    fn serialize_str(self, _: &str) -> Result<u8, RowError> {
        Err(ser::Error::custom("a text item"))
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<u8, RowError> {
        Err(ser::Error::custom("a bytes item"))
    }

    fn serialize_none(self) -> Result<u8, RowError> {
        Err(ser::Error::custom("a null item"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<u8, RowError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<u8, RowError> {
        Err(ser::Error::custom("a null item"))
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<u8, RowError> {
        Err(ser::Error::custom("a null item"))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<u8, RowError> {
        Err(ser::Error::custom("a text item"))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<u8, RowError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<u8, RowError> {
        Err(ser::Error::custom("an enum item"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, RowError> {
        Err(ser::Error::custom("a list item"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, RowError> {
        Err(ser::Error::custom("a list item"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, RowError> {
        Err(ser::Error::custom("a list item"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, RowError> {
        Err(ser::Error::custom("an enum item"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        Err(ser::Error::custom("a record item"))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        Err(ser::Error::custom("a record item"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, RowError> {
        Err(ser::Error::custom("an enum item"))
    }
}

/// Fills a struct column's members from a nested struct or map.
pub(crate) struct NestedSerializer<'a, 'r> {
    col: &'a mut Column,
    row: usize,
    rules: Rules<'r>,
    key: &'a mut String,
    hint: usize,
    /// Members that took a value.
    filled: usize,
}

impl<'a, 'r> NestedSerializer<'a, 'r> {
    fn new(v: ValueSerializer<'a, 'r>) -> Result<Self, RowError> {
        let ValueSerializer { col, rules, key } = v;
        if !matches!(col.data, Data::Struct { .. }) {
            return Err(RowError::at(&col.path, col.expected(Got::Record)));
        }
        // The members' length: a struct counts its row only at the end.
        let row = col.len;
        Ok(NestedSerializer {
            col,
            row,
            rules,
            key,
            hint: 0,
            filled: 0,
        })
    }

    fn member<T: Serialize + ?Sized>(&mut self, name: Key<'_>, value: &T) -> Result<(), RowError> {
        let Column { path, data, .. } = &mut *self.col;
        let Data::Struct { members, .. } = data else {
            unreachable!("checked in new")
        };
        let took = put_member(
            members,
            self.row,
            self.rules,
            self.key,
            path,
            &mut self.hint,
            name,
            value,
        )?;
        self.filled += usize::from(took);
        Ok(())
    }

    fn finish(self) -> Result<(), RowError> {
        let Data::Struct { members, .. } = &mut self.col.data else {
            unreachable!("checked in new")
        };
        fill_missing(members, self.row, self.filled)?;
        self.col.valid();
        Ok(())
    }
}

impl ser::SerializeStruct for NestedSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), RowError> {
        self.member(Key::Static(key), value)
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}

impl ser::SerializeMap for NestedSerializer<'_, '_> {
    type Ok = ();
    type Error = RowError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), RowError> {
        self.key.clear();
        key.serialize(KeySerializer(self.key))
            .map_err(|_| key_not_a_string(&self.col.path))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), RowError> {
        let name = std::mem::take(self.key);
        let r = self.member(Key::Text(&name), value);
        *self.key = name;
        r
    }

    fn end(self) -> Result<(), RowError> {
        self.finish()
    }
}
