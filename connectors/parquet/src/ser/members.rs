//! A record, or a struct column's value, filled member by member: each member is matched to its
//! column by name (a struct's static names by address first), appended by a `ValueSerializer`,
//! and the members a record does not give are filled with nulls.

use serde::ser::{self, Impossible, Serialize};

use super::value::ValueSerializer;
use super::{RowError, Rules};
use crate::columns::{Column, Data, Got, Members};
use crate::options::UnknownFields;

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

impl<'a, 'r> RecordSerializer<'a, 'r> {
    fn refuse(&self, got: Got<'_>) -> RowError {
        not_a_record(got)
    }

    fn members(self) -> MembersSerializer<'a, 'r, &'a mut Members> {
        MembersSerializer::new(self.members, self.row, self.rules, self.key)
    }
}

impl<'a, 'r> ser::Serializer for RecordSerializer<'a, 'r> {
    type Ok = ();
    type Error = RowError;
    type SerializeSeq = Impossible<(), RowError>;
    type SerializeTuple = Impossible<(), RowError>;
    type SerializeTupleStruct = Impossible<(), RowError>;
    type SerializeTupleVariant = Impossible<(), RowError>;
    type SerializeMap = MembersSerializer<'a, 'r, &'a mut Members>;
    type SerializeStruct = MembersSerializer<'a, 'r, &'a mut Members>;
    type SerializeStructVariant = Impossible<(), RowError>;

    refuse! {
        serialize_bool serialize_i8 serialize_i16 serialize_i32 serialize_i64 serialize_u8
        serialize_u16 serialize_u32 serialize_u64 serialize_f32 serialize_f64 serialize_char
        serialize_str serialize_bytes serialize_none serialize_unit serialize_unit_struct
        serialize_unit_variant serialize_newtype_variant serialize_seq serialize_tuple
        serialize_tuple_struct serialize_tuple_variant serialize_struct_variant
    }

    look_through! { serialize_some serialize_newtype_struct }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, RowError> {
        Ok(self.members())
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, RowError> {
        Ok(self.members())
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

/// What a [`MembersSerializer`] fills: the top-level columns, or a struct column's members.
/// (Generic rather than an enum, so that each is compiled on its own: no branch per member.)
pub(super) trait Holder {
    /// The members, and the path of the struct they are in for messages (empty at the top level).
    fn members(&mut self) -> (&mut Members, &str);

    /// The path for messages.
    fn path(&self) -> &str;

    /// Ends the value once its members are filled.
    fn close(&mut self);
}

impl Holder for &mut Members {
    #[inline]
    fn members(&mut self) -> (&mut Members, &str) {
        (self, "")
    }

    fn path(&self) -> &str {
        ""
    }

    #[inline]
    fn close(&mut self) {}
}

/// A struct column, whose value's members are filled (checked to be a struct column when made).
pub(super) struct StructColumn<'a>(&'a mut Column);

impl Holder for StructColumn<'_> {
    fn members(&mut self) -> (&mut Members, &str) {
        let Column { path, data, .. } = &mut *self.0;
        let Data::Struct { members, .. } = data else {
            unreachable!("checked in MembersSerializer::nested")
        };
        (members, path)
    }

    fn path(&self) -> &str {
        &self.0.path
    }

    /// A struct counts its row only now.
    fn close(&mut self) {
        self.0.valid();
    }
}

/// Fills members at row `row`, by name: a record's top-level columns, or (from a nested struct
/// or map) a struct column's.
pub(crate) struct MembersSerializer<'a, 'r, H> {
    holder: H,
    row: usize,
    rules: Rules<'r>,
    /// The name of a map's pending key.
    key: &'a mut String,
    hint: usize,
    /// Members that took a value.
    filled: usize,
}

/// The members of a struct column's value.
pub(super) type NestedSerializer<'a, 'r> = MembersSerializer<'a, 'r, StructColumn<'a>>;

impl<'a, 'r, H: Holder> MembersSerializer<'a, 'r, H> {
    fn new(holder: H, row: usize, rules: Rules<'r>, key: &'a mut String) -> Self {
        MembersSerializer {
            holder,
            row,
            rules,
            key,
            hint: 0,
            filled: 0,
        }
    }

    /// Appends `value` to the member `name`. `hint` is where the next member is expected.
    #[inline]
    fn member<T: Serialize + ?Sized>(&mut self, name: Key<'_>, value: &T) -> Result<(), RowError> {
        let (members, prefix) = self.holder.members();
        let found = match name {
            Key::Static(k) => members.find_static(k, self.hint),
            Key::Text(k) => members.find(k, self.hint),
        };
        let Some(i) = found else {
            // Skipped or ignored: no column took the value.
            return unknown_member(self.rules, prefix, name.text());
        };
        self.hint = i + 1;
        let col = &mut members.columns[i];
        if col.len != self.row {
            return Err(given_twice(col));
        }
        let rules = self.rules;
        match value.serialize(ValueSerializer {
            col,
            rules,
            key: self.key,
        }) {
            Ok(()) => {
                self.filled += 1;
                Ok(())
            }
            Err(e) => Err(e.locate(&members.columns[i].path)),
        }
    }

    #[inline]
    fn finish(mut self) -> Result<(), RowError> {
        let (members, _) = self.holder.members();
        fill_missing(members, self.row, self.filled)?;
        self.holder.close();
        Ok(())
    }
}

impl<'a, 'r> NestedSerializer<'a, 'r> {
    /// The members of the value of `v`'s column, which must be a struct column.
    pub(super) fn nested(v: ValueSerializer<'a, 'r>) -> Result<Self, RowError> {
        let ValueSerializer { col, rules, key } = v;
        if !matches!(col.data, Data::Struct { .. }) {
            return Err(RowError::at(&col.path, col.expected(Got::Record)));
        }
        // The members' length: a struct counts its row only at the end.
        let row = col.len;
        Ok(MembersSerializer::new(StructColumn(col), row, rules, key))
    }
}

impl<H: Holder> ser::SerializeStruct for MembersSerializer<'_, '_, H> {
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

impl<H: Holder> ser::SerializeMap for MembersSerializer<'_, '_, H> {
    type Ok = ();
    type Error = RowError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), RowError> {
        self.key.clear();
        key.serialize(KeySerializer(self.key))
            .map_err(|_| key_not_a_string(self.holder.path()))
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

impl KeySerializer<'_> {
    fn refuse(&self, _: Got<'_>) -> RowError {
        ser::Error::custom("not a string")
    }
}

impl ser::Serializer for KeySerializer<'_> {
    scalar_only!(());

    fn serialize_str(self, v: &str) -> Result<(), RowError> {
        self.0.push_str(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), RowError> {
        self.0.push(v);
        Ok(())
    }

    look_through! { serialize_newtype_struct serialize_unit_variant }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), RowError> {
        Err(ser::Error::custom("not a string"))
    }

    refuse! {
        serialize_bool serialize_i8 serialize_i16 serialize_i32 serialize_i64 serialize_u8
        serialize_u16 serialize_u32 serialize_u64 serialize_f32 serialize_f64 serialize_bytes
        serialize_none serialize_unit serialize_unit_struct serialize_newtype_variant
        serialize_seq serialize_tuple serialize_tuple_struct serialize_tuple_variant
        serialize_map serialize_struct serialize_struct_variant
    }
}
