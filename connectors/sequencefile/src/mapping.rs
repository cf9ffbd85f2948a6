//! How a record becomes a key and a value.
//!
//! * Your own record type: implement [`SequenceRecord`] (class names and two writes), or use a pair
//!   `(K, V)` of [`Writable`]s as Flink's `SequenceFileWriter` takes a `Tuple2<K, V>`.
//! * Any record with named fields (JSON, the generator's events): [`FieldMapper`], which the job
//!   file's `key`/`value` settings build.
//! * Anything else: implement [`KeyValueMapper`], the object-safe trait the writers use.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use sink_core::sink::{EncodeError, FieldAccess, FieldValue};

use crate::writable::{
    write_bytes, write_int, write_long, write_text, write_text_with, WritableType,
    BYTES_WRITABLE_CLASS, INT_WRITABLE_CLASS, LONG_WRITABLE_CLASS, NULL_WRITABLE_CLASS, TEXT_CLASS,
};

/// Writes a record's key and value as serialised Writables, and names their classes.
pub trait KeyValueMapper<T>: Send + Sync + 'static {
    /// The Hadoop class of the keys, written into the header.
    fn key_class(&self) -> &str;
    /// The Hadoop class of the values, written into the header.
    fn value_class(&self) -> &str;
    /// Appends the serialised key. An error makes the record a bad record.
    fn write_key(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// Appends the serialised value. An error makes the record a bad record.
    fn write_value(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

impl<T, M: KeyValueMapper<T> + ?Sized> KeyValueMapper<T> for Arc<M> {
    fn key_class(&self) -> &str {
        (**self).key_class()
    }
    fn value_class(&self) -> &str {
        (**self).value_class()
    }
    fn write_key(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (**self).write_key(record, out)
    }
    fn write_value(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (**self).write_value(record, out)
    }
}

/// A Rust value with a Writable form.
pub trait Writable {
    /// Its Hadoop class.
    const CLASS: &'static str;
    /// Appends its serialised form.
    fn write(&self, out: &mut Vec<u8>);
}

impl Writable for i64 {
    const CLASS: &'static str = LONG_WRITABLE_CLASS;
    fn write(&self, out: &mut Vec<u8>) {
        write_long(out, *self)
    }
}

impl Writable for i32 {
    const CLASS: &'static str = INT_WRITABLE_CLASS;
    fn write(&self, out: &mut Vec<u8>) {
        write_int(out, *self)
    }
}

impl Writable for String {
    const CLASS: &'static str = TEXT_CLASS;
    fn write(&self, out: &mut Vec<u8>) {
        write_text(out, self)
    }
}

impl Writable for &str {
    const CLASS: &'static str = TEXT_CLASS;
    fn write(&self, out: &mut Vec<u8>) {
        write_text(out, self)
    }
}

/// `NullWritable`.
impl Writable for () {
    const CLASS: &'static str = NULL_WRITABLE_CLASS;
    fn write(&self, _out: &mut Vec<u8>) {}
}

/// `BytesWritable`: raw bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BytesWritable(pub Vec<u8>);

impl Writable for BytesWritable {
    const CLASS: &'static str = BYTES_WRITABLE_CLASS;
    fn write(&self, out: &mut Vec<u8>) {
        write_bytes(out, &self.0)
    }
}

/// A record type that knows its key and value, for [`SequenceRecordMapper`].
///
/// ```
/// use connector_sequencefile::{writable, SequenceRecord};
/// use sink_core::sink::EncodeError;
///
/// struct Click { user: i64, url: String }
///
/// impl SequenceRecord for Click {
///     const KEY_CLASS: &'static str = writable::LONG_WRITABLE_CLASS;
///     const VALUE_CLASS: &'static str = writable::TEXT_CLASS;
///     fn write_key(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
///         writable::write_long(out, self.user);
///         Ok(())
///     }
///     fn write_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
///         writable::write_text(out, &self.url);
///         Ok(())
///     }
/// }
/// ```
pub trait SequenceRecord {
    /// The Hadoop class of the keys.
    const KEY_CLASS: &'static str;
    /// The Hadoop class of the values.
    const VALUE_CLASS: &'static str;
    /// Appends the serialised key.
    fn write_key(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    /// Appends the serialised value.
    fn write_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;
}

/// A pair is a key and a value, as Flink's `SequenceFileWriter` writes a `Tuple2<K, V>`.
impl<K: Writable, V: Writable> SequenceRecord for (K, V) {
    const KEY_CLASS: &'static str = K::CLASS;
    const VALUE_CLASS: &'static str = V::CLASS;
    fn write_key(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.0.write(out);
        Ok(())
    }
    fn write_value(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.1.write(out);
        Ok(())
    }
}

/// The [`KeyValueMapper`] of [`SequenceRecord`] types.
pub struct SequenceRecordMapper<T>(PhantomData<fn(&T)>);

impl<T> SequenceRecordMapper<T> {
    /// The mapper.
    pub fn new() -> Self {
        SequenceRecordMapper(PhantomData)
    }
}

impl<T> Default for SequenceRecordMapper<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: SequenceRecord + 'static> KeyValueMapper<T> for SequenceRecordMapper<T> {
    fn key_class(&self) -> &str {
        T::KEY_CLASS
    }
    fn value_class(&self) -> &str {
        T::VALUE_CLASS
    }
    fn write_key(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        record.write_key(out)
    }
    fn write_value(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        record.write_value(out)
    }
}

/// Where a key or a value comes from, for [`FieldMapper`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritableSpec {
    /// Its Writable type.
    pub writable: WritableType,
    /// The field it holds; `None`: the whole record as JSON (`text`, `bytes`) or nothing (`null`).
    pub field: Option<String>,
}

impl WritableSpec {
    /// A field of this type.
    pub fn field(writable: WritableType, field: impl Into<String>) -> Self {
        WritableSpec {
            writable,
            field: Some(field.into()),
        }
    }

    /// The whole record as JSON text (`Text`).
    pub fn json_text() -> Self {
        WritableSpec {
            writable: WritableType::Text,
            field: None,
        }
    }

    /// `NullWritable`.
    pub fn null() -> Self {
        WritableSpec {
            writable: WritableType::Null,
            field: None,
        }
    }

    /// Checks that the type can hold what is asked; `what` names the setting in errors.
    pub fn validate(&self) -> Result<(), String> {
        match (self.writable, &self.field) {
            (WritableType::Null, Some(f)) => Err(format!(
                "type \"null\" writes nothing, so it takes no field (got {f:?})"
            )),
            (WritableType::Long | WritableType::Int, None) => Err(format!(
                "type {:?} needs a field (a number)",
                self.writable.short_name()
            )),
            (_, Some(f)) if f.is_empty() => Err("field must not be empty".into()),
            _ => Ok(()),
        }
    }
}

/// Keys and values from named fields of a record, or the whole record as JSON text.
///
/// | type | without `field` | with `field` |
/// | --- | --- | --- |
/// | `text` | the record as JSON | the field's text (numbers and booleans as written in JSON; objects as JSON); null: empty |
/// | `bytes` | the record as JSON, as bytes | the field's text, as UTF-8 bytes; null: empty |
/// | `long` | (refused) | an integer field (or a string holding one) |
/// | `int` | (refused) | an integer field in `i32` range (or a string holding one) |
/// | `null` | nothing | (refused) |
///
/// A missing field, or a field that does not fit its type, makes the record a bad record.
///
/// ```
/// use connector_sequencefile::{FieldMapper, KeyValueMapper, WritableSpec, WritableType};
/// let m = FieldMapper::new(WritableSpec::field(WritableType::Long, "id"), WritableSpec::json_text()).unwrap();
/// let rec = serde_json::json!({"id": 258, "x": "y"});
/// let (mut k, mut v) = (Vec::new(), Vec::new());
/// m.write_key(&rec, &mut k).unwrap();
/// m.write_value(&rec, &mut v).unwrap();
/// assert_eq!(k, [0, 0, 0, 0, 0, 0, 1, 2]);
/// assert_eq!(&v[1..], br#"{"id":258,"x":"y"}"#);
/// ```
#[derive(Clone, Debug)]
pub struct FieldMapper {
    key: WritableSpec,
    value: WritableSpec,
}

impl FieldMapper {
    /// A mapper; fails with a message when a spec cannot work (a `long` without a field, ...).
    pub fn new(key: WritableSpec, value: WritableSpec) -> Result<Self, String> {
        key.validate().map_err(|e| format!("key: {e}"))?;
        value.validate().map_err(|e| format!("value: {e}"))?;
        Ok(FieldMapper { key, value })
    }

    /// The key's spec.
    pub fn key(&self) -> &WritableSpec {
        &self.key
    }

    /// The value's spec.
    pub fn value(&self) -> &WritableSpec {
        &self.value
    }
}

fn write_spec<T: FieldAccess + Serialize>(
    spec: &WritableSpec,
    record: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let Some(name) = &spec.field else {
        let json = |o: &mut Vec<u8>| serde_json::to_writer(o, record);
        return match spec.writable {
            WritableType::Null => Ok(()),
            WritableType::Text => {
                let mut res = Ok(());
                write_text_with(out, |o| res = json(o));
                res.map_err(|e| EncodeError(format!("record as JSON: {e}")))
            }
            WritableType::Bytes => {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                json(out).map_err(|e| EncodeError(format!("record as JSON: {e}")))?;
                let n = (out.len() - at - 4) as u32;
                out[at..at + 4].copy_from_slice(&n.to_be_bytes());
                Ok(())
            }
            WritableType::Long | WritableType::Int => Err(EncodeError(format!(
                "a {} needs a field",
                spec.writable.class_name()
            ))),
        };
    };
    let value = record
        .field(name)
        .ok_or_else(|| EncodeError(format!("missing field {name:?}")))?;
    let integer = |v: &FieldValue<'_>| -> Result<i64, EncodeError> {
        match v {
            FieldValue::Int(i) => Ok(*i),
            FieldValue::UInt(u) => i64::try_from(*u)
                .map_err(|_| EncodeError(format!("field {name:?}: {u} is too large for a long"))),
            FieldValue::Str(s) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| EncodeError(format!("field {name:?}: {s:?} is not an integer"))),
            other => Err(EncodeError(format!(
                "field {name:?}: {other:?} is not an integer"
            ))),
        }
    };
    match spec.writable {
        WritableType::Long => write_long(out, integer(&value)?),
        WritableType::Int => {
            let i = integer(&value)?;
            let i = i32::try_from(i)
                .map_err(|_| EncodeError(format!("field {name:?}: {i} is too large for an int")))?;
            write_int(out, i)
        }
        WritableType::Text => match &value {
            FieldValue::Str(s) => write_text(out, s),
            v => write_text_with(out, |o| {
                let mut s = String::new();
                v.write_to(&mut s);
                o.extend_from_slice(s.as_bytes());
            }),
        },
        WritableType::Bytes => {
            let mut s = String::new();
            value.write_to(&mut s);
            write_bytes(out, s.as_bytes())
        }
        WritableType::Null => {}
    }
    Ok(())
}

impl<T: FieldAccess + Serialize + 'static> KeyValueMapper<T> for FieldMapper {
    fn key_class(&self) -> &str {
        self.key.writable.class_name()
    }
    fn value_class(&self) -> &str {
        self.value.writable.class_name()
    }
    fn write_key(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_spec(&self.key, record, out).map_err(|e| EncodeError(format!("key: {e}")))
    }
    fn write_value(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        write_spec(&self.value, record, out).map_err(|e| EncodeError(format!("value: {e}")))
    }
}

/// A mapper from two closures and the classes they write.
///
/// ```
/// use connector_sequencefile::{writable, FnMapper, KeyValueMapper};
/// let m = FnMapper::new(
///     writable::TEXT_CLASS, |r: &String, out: &mut Vec<u8>| { writable::write_text(out, r); Ok(()) },
///     writable::NULL_WRITABLE_CLASS, |_: &String, _: &mut Vec<u8>| Ok(()),
/// );
/// assert_eq!(m.key_class(), "org.apache.hadoop.io.Text");
/// ```
pub struct FnMapper<K, V> {
    key_class: String,
    key: K,
    value_class: String,
    value: V,
}

impl<K, V> FnMapper<K, V> {
    /// A mapper: `key` writes keys of `key_class`, `value` values of `value_class`.
    pub fn new(
        key_class: impl Into<String>,
        key: K,
        value_class: impl Into<String>,
        value: V,
    ) -> Self {
        FnMapper {
            key_class: key_class.into(),
            key,
            value_class: value_class.into(),
            value,
        }
    }
}

impl<T, K, V> KeyValueMapper<T> for FnMapper<K, V>
where
    K: Fn(&T, &mut Vec<u8>) -> Result<(), EncodeError> + Send + Sync + 'static,
    V: Fn(&T, &mut Vec<u8>) -> Result<(), EncodeError> + Send + Sync + 'static,
{
    fn key_class(&self) -> &str {
        &self.key_class
    }
    fn value_class(&self) -> &str {
        &self.value_class
    }
    fn write_key(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (self.key)(record, out)
    }
    fn write_value(&self, record: &T, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        (self.value)(record, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kv(m: &FieldMapper, rec: &serde_json::Value) -> Result<(Vec<u8>, Vec<u8>), EncodeError> {
        let (mut k, mut v) = (Vec::new(), Vec::new());
        m.write_key(rec, &mut k)?;
        m.write_value(rec, &mut v)?;
        Ok((k, v))
    }

    #[test]
    fn field_table() {
        use WritableType::*;
        let rec = json!({"n": 7, "big": u64::MAX, "s": "12", "t": "hé", "f": 1.5, "z": null, "o": {"a": 1}});
        let cases: &[(WritableSpec, Result<Vec<u8>, &str>)] = &[
            (
                WritableSpec::field(Long, "n"),
                Ok(vec![0, 0, 0, 0, 0, 0, 0, 7]),
            ),
            (
                WritableSpec::field(Long, "s"),
                Ok(vec![0, 0, 0, 0, 0, 0, 0, 12]),
            ),
            (WritableSpec::field(Long, "big"), Err("too large")),
            (WritableSpec::field(Long, "f"), Err("not an integer")),
            (WritableSpec::field(Long, "t"), Err("not an integer")),
            (WritableSpec::field(Long, "z"), Err("not an integer")),
            (WritableSpec::field(Long, "nope"), Err("missing field")),
            (WritableSpec::field(Int, "n"), Ok(vec![0, 0, 0, 7])),
            (
                WritableSpec::field(Text, "t"),
                Ok(vec![3, b'h', 0xc3, 0xa9]),
            ),
            (WritableSpec::field(Text, "n"), Ok(vec![1, b'7'])),
            (WritableSpec::field(Text, "z"), Ok(vec![0])),
            (
                WritableSpec::field(Text, "o"),
                Ok([&[7u8][..], br#"{"a":1}"#].concat()),
            ),
            (
                WritableSpec::field(Bytes, "t"),
                Ok(vec![0, 0, 0, 3, b'h', 0xc3, 0xa9]),
            ),
            (WritableSpec::null(), Ok(vec![])),
        ];
        for (spec, want) in cases {
            let m = FieldMapper::new(spec.clone(), WritableSpec::null()).unwrap();
            let got = kv(&m, &rec).map(|(k, _)| k);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{spec:?}"),
                (Err(e), Err(w)) => assert!(e.0.contains(w), "{spec:?}: {e}"),
                (g, w) => panic!("{spec:?}: got {g:?}, want {w:?}"),
            }
        }
        let m = FieldMapper::new(WritableSpec::field(Int, "big"), WritableSpec::null()).unwrap();
        assert!(kv(&m, &json!({"big": 1u64 << 40})).is_err());
    }

    #[test]
    fn whole_record_as_json() {
        let m = FieldMapper::new(WritableSpec::null(), WritableSpec::json_text()).unwrap();
        let long = "x".repeat(300);
        let rec = json!({ "s": long });
        let (k, v) = kv(&m, &rec).unwrap();
        assert!(k.is_empty());
        let mut want = Vec::new();
        write_text(&mut want, &rec.to_string());
        assert_eq!(v, want);
        let m = FieldMapper::new(
            WritableSpec::null(),
            WritableSpec {
                writable: WritableType::Bytes,
                field: None,
            },
        )
        .unwrap();
        let (_, v) = kv(&m, &json!({"a": 1})).unwrap();
        assert_eq!(v, [&[0u8, 0, 0, 7][..], br#"{"a":1}"#].concat());
    }

    #[test]
    fn specs_that_cannot_work_are_refused() {
        assert!(FieldMapper::new(
            WritableSpec {
                writable: WritableType::Long,
                field: None
            },
            WritableSpec::null()
        )
        .unwrap_err()
        .contains("key: type \"long\" needs a field"));
        assert!(FieldMapper::new(
            WritableSpec::null(),
            WritableSpec::field(WritableType::Null, "x")
        )
        .is_err());
    }

    #[test]
    fn pairs_are_records() {
        let m = SequenceRecordMapper::<(i64, String)>::new();
        assert_eq!(m.key_class(), LONG_WRITABLE_CLASS);
        assert_eq!(m.value_class(), TEXT_CLASS);
        let mut out = Vec::new();
        m.write_value(&(1, "ab".to_string()), &mut out).unwrap();
        assert_eq!(out, [2, b'a', b'b']);
    }
}
