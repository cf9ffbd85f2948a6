//! The schema of the written files, declared in a job file (`[sink.schema]`) or given as an Arrow
//! [`Schema`].

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use sink_core::Error;

/// The unit of a timestamp when none is given: milliseconds, like Kafka's timestamps.
pub const DEFAULT_TIMESTAMP_UNIT: TimestampUnit = TimestampUnit::Ms;
/// The name of a list's item field when none is given (Arrow's and Parquet's convention).
pub const DEFAULT_LIST_ITEM_NAME: &str = "item";
/// Largest precision of a `decimal128`.
pub const MAX_DECIMAL128_PRECISION: u8 = 38;

/// The columns of the written files, in order (`[sink.schema]`).
///
/// ```
/// use connector_parquet::SchemaConfig;
/// let config: SchemaConfig = toml::from_str(r#"
///     fields = [
///       { name = "event_id", type = "uint64", nullable = false },
///       { name = "ts", type = "timestamp", unit = "ms", timezone = "UTC" },
///       { name = "price", type = "decimal128", precision = 10, scale = 2 },
///       { name = "tags", type = "list", item = { type = "string" } },
///     ]
/// "#).unwrap();
/// let schema = config.to_arrow().unwrap();
/// assert_eq!(schema.fields().len(), 4);
/// assert_eq!(schema.field(0).data_type(), &arrow_schema::DataType::UInt64);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// The columns.
    pub fields: Vec<FieldConfig>,
}

/// One column (or a list's item, or a struct's member).
///
/// Which keys apply depends on `type`: `unit` and `timezone` to timestamps, `precision` and
/// `scale` to decimals, `item` to lists, `fields` to structs. A key given to a type that does not
/// use it is an error, so a typo does not pass silently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// The column's name. Required, except for a list's `item` (default `item`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The type.
    #[serde(rename = "type")]
    pub data_type: TypeName,
    /// May the value be null or missing? Default `true`.
    #[serde(default = "yes")]
    pub nullable: bool,
    /// Timestamps: `s`, `ms` (default), `us` or `ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<TimestampUnit>,
    /// Timestamps: the zone, `UTC`, `+02:00` or an IANA name (`Europe/Paris`). Without it the
    /// timestamp is a local date-time with no zone (Parquet's `isAdjustedToUTC = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Decimals: total digits, 1 to 38.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u8>,
    /// Decimals: digits after the point, 0 to `precision` (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i8>,
    /// Lists: the item's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<FieldConfig>>,
    /// Structs: the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldConfig>>,
}

fn yes() -> bool {
    true
}

impl FieldConfig {
    /// A nullable column of a simple type (no unit, precision, item or members).
    pub fn new(name: impl Into<String>, data_type: TypeName) -> Self {
        FieldConfig {
            name: Some(name.into()),
            data_type,
            nullable: true,
            unit: None,
            timezone: None,
            precision: None,
            scale: None,
            item: None,
            fields: None,
        }
    }
}

/// The types a column can have, by their names in a job file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum TypeName {
    #[serde(alias = "bool")]
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
    /// UTF-8 text with 32-bit offsets (Arrow `Utf8`).
    #[serde(alias = "utf8")]
    String,
    /// UTF-8 text with 64-bit offsets (Arrow `LargeUtf8`).
    #[serde(alias = "large_utf8")]
    LargeString,
    /// Bytes. From JSON text, base64 (standard alphabet, padded).
    Binary,
    /// Bytes with 64-bit offsets.
    LargeBinary,
    /// An instant or local date-time: `unit`, `timezone`.
    Timestamp,
    /// Days since 1970-01-01.
    #[serde(alias = "date")]
    Date32,
    /// A decimal number: `precision`, `scale`.
    #[serde(alias = "decimal")]
    Decimal128,
    /// A list: `item`.
    List,
    /// A nested record: `fields`.
    Struct,
}

/// The unit of a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl From<TimestampUnit> for TimeUnit {
    fn from(u: TimestampUnit) -> Self {
        match u {
            TimestampUnit::S => TimeUnit::Second,
            TimestampUnit::Ms => TimeUnit::Millisecond,
            TimestampUnit::Us => TimeUnit::Microsecond,
            TimestampUnit::Ns => TimeUnit::Nanosecond,
        }
    }
}

/// Where a config error is: `sink.schema.fields[2] ("ts")`, `...fields[2].item`.
fn locate(base: &str, f: &FieldConfig) -> String {
    match &f.name {
        Some(n) => format!("{base} ({n:?})"),
        None => base.to_string(),
    }
}

impl SchemaConfig {
    /// The Arrow schema. Errors name the field as `sink.schema.fields[i] ("name")`.
    pub fn to_arrow(&self) -> Result<SchemaRef, Error> {
        if self.fields.is_empty() {
            return Err(Error::config(
                "sink.schema.fields",
                "needs at least one field",
            ));
        }
        let fields = convert_fields(&self.fields, "sink.schema.fields")?;
        Ok(Arc::new(Schema::new(fields)))
    }
}

fn convert_fields(fields: &[FieldConfig], base: &str) -> Result<Fields, Error> {
    let mut out = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let at = format!("{base}[{i}]");
        let Some(name) = &f.name else {
            return Err(Error::config(at, "needs a `name`"));
        };
        if name.is_empty() {
            return Err(Error::config(at, "the name is empty"));
        }
        if fields[..i].iter().any(|o| o.name.as_deref() == Some(name)) {
            return Err(Error::config(locate(&at, f), "two fields have this name"));
        }
        out.push(convert_field(f, name, &at)?);
    }
    Ok(out.into())
}

fn convert_field(f: &FieldConfig, name: &str, at: &str) -> Result<Field, Error> {
    let here = || locate(at, f);
    let t = f.data_type;
    let unused = |key: &str, given: bool, applies: bool| -> Result<(), Error> {
        if given && !applies {
            return Err(Error::config(
                here(),
                format!("`{key}` does not apply to type {t:?}"),
            ));
        }
        Ok(())
    };
    unused("unit", f.unit.is_some(), t == TypeName::Timestamp)?;
    unused("timezone", f.timezone.is_some(), t == TypeName::Timestamp)?;
    unused(
        "precision",
        f.precision.is_some(),
        t == TypeName::Decimal128,
    )?;
    unused("scale", f.scale.is_some(), t == TypeName::Decimal128)?;
    unused("item", f.item.is_some(), t == TypeName::List)?;
    unused("fields", f.fields.is_some(), t == TypeName::Struct)?;
    let data_type = match t {
        TypeName::Boolean => DataType::Boolean,
        TypeName::Int8 => DataType::Int8,
        TypeName::Int16 => DataType::Int16,
        TypeName::Int32 => DataType::Int32,
        TypeName::Int64 => DataType::Int64,
        TypeName::Uint8 => DataType::UInt8,
        TypeName::Uint16 => DataType::UInt16,
        TypeName::Uint32 => DataType::UInt32,
        TypeName::Uint64 => DataType::UInt64,
        TypeName::Float32 => DataType::Float32,
        TypeName::Float64 => DataType::Float64,
        TypeName::String => DataType::Utf8,
        TypeName::LargeString => DataType::LargeUtf8,
        TypeName::Binary => DataType::Binary,
        TypeName::LargeBinary => DataType::LargeBinary,
        TypeName::Date32 => DataType::Date32,
        TypeName::Timestamp => {
            let unit = f.unit.unwrap_or(DEFAULT_TIMESTAMP_UNIT).into();
            let tz = match &f.timezone {
                None => None,
                Some(z) => {
                    crate::columns::Zone::parse(z).map_err(|e| Error::config(here(), e))?;
                    Some(Arc::from(z.as_str()))
                }
            };
            DataType::Timestamp(unit, tz)
        }
        TypeName::Decimal128 => {
            let Some(p) = f.precision else {
                return Err(Error::config(
                    here(),
                    "a decimal128 needs a `precision` (1 to 38)",
                ));
            };
            let s = f.scale.unwrap_or(0);
            if !(1..=MAX_DECIMAL128_PRECISION).contains(&p) {
                return Err(Error::config(
                    here(),
                    format!("precision {p}: must be 1 to 38"),
                ));
            }
            if s < 0 || s as u8 > p {
                return Err(Error::config(
                    here(),
                    format!("scale {s}: must be 0 to the precision ({p})"),
                ));
            }
            DataType::Decimal128(p, s)
        }
        TypeName::List => {
            let Some(item) = &f.item else {
                return Err(Error::config(
                    here(),
                    "a list needs an `item`, as `item = { type = \"string\" }`",
                ));
            };
            let item_at = format!("{at}.item");
            let item_name = item.name.as_deref().unwrap_or(DEFAULT_LIST_ITEM_NAME);
            DataType::List(Arc::new(convert_field(item, item_name, &item_at)?))
        }
        TypeName::Struct => {
            let fields = f.fields.as_deref().unwrap_or_default();
            if fields.is_empty() {
                return Err(Error::config(here(), "a struct needs `fields`"));
            }
            DataType::Struct(convert_fields(fields, &format!("{at}.fields"))?)
        }
    };
    Ok(Field::new(name, data_type, f.nullable))
}

/// Checks that every type of an Arrow schema can be written from records (the types of
/// [`TypeName`]); `what` names the schema in errors.
pub(crate) fn check_supported(schema: &Schema) -> Result<(), Error> {
    fn check(field: &Field, path: &str) -> Result<(), Error> {
        let ok = match field.data_type() {
            DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::Date32 => true,
            DataType::Timestamp(_, tz) => {
                if let Some(z) = tz {
                    crate::columns::Zone::parse(z)
                        .map_err(|e| Error::config(format!("schema field {path:?}"), e))?;
                }
                true
            }
            DataType::Decimal128(p, s) => {
                (1..=MAX_DECIMAL128_PRECISION).contains(p) && *s >= 0 && *s as u8 <= *p
            }
            DataType::List(item) => {
                check(item, &format!("{path}[]"))?;
                true
            }
            DataType::Struct(fields) => {
                if fields.is_empty() {
                    return Err(Error::config(
                        format!("schema field {path:?}"),
                        "a struct needs members",
                    ));
                }
                for f in fields {
                    check(f, &format!("{path}.{}", f.name()))?;
                }
                true
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::config(
                format!("schema field {path:?}"),
                format!(
                    "type {} is not supported (supported: booleans, integers, floats, strings, \
                     binary, timestamps, date32, decimal128, lists and structs of them)",
                    field.data_type()
                ),
            ))
        }
    }
    for f in schema.fields() {
        check(f, f.name())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SchemaRef, String> {
        let c: SchemaConfig = toml::from_str(s).map_err(|e| e.to_string())?;
        c.to_arrow().map_err(|e| e.to_string())
    }

    #[test]
    fn every_type_from_toml() {
        let schema = parse(
            r#"
            fields = [
              { name = "b", type = "boolean" },
              { name = "b2", type = "bool", nullable = false },
              { name = "i8", type = "int8" }, { name = "i16", type = "int16" },
              { name = "i32", type = "int32" }, { name = "i64", type = "int64" },
              { name = "u8", type = "uint8" }, { name = "u16", type = "uint16" },
              { name = "u32", type = "uint32" }, { name = "u64", type = "uint64" },
              { name = "f32", type = "float32" }, { name = "f64", type = "float64" },
              { name = "s", type = "string" }, { name = "s2", type = "utf8" },
              { name = "ls", type = "large_utf8" }, { name = "bin", type = "binary" },
              { name = "ts", type = "timestamp", unit = "us", timezone = "Europe/Paris" },
              { name = "ts0", type = "timestamp" },
              { name = "d", type = "date32" },
              { name = "dec", type = "decimal128", precision = 10, scale = 2 },
              { name = "tags", type = "list", item = { type = "string", nullable = false } },
              { name = "user", type = "struct", fields = [ { name = "id", type = "int64" } ] },
            ]
            "#,
        )
        .unwrap();
        let t = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
        assert_eq!(t("b"), DataType::Boolean);
        assert!(!schema.field_with_name("b2").unwrap().is_nullable());
        assert_eq!(t("u64"), DataType::UInt64);
        assert_eq!(t("s2"), DataType::Utf8);
        assert_eq!(t("ls"), DataType::LargeUtf8);
        assert_eq!(
            t("ts"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Paris".into()))
        );
        assert_eq!(t("ts0"), DataType::Timestamp(TimeUnit::Millisecond, None));
        assert_eq!(t("dec"), DataType::Decimal128(10, 2));
        assert_eq!(
            t("tags"),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, false)))
        );
        assert_eq!(
            t("user"),
            DataType::Struct(vec![Field::new("id", DataType::Int64, true)].into())
        );
        check_supported(&schema).unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let table = [
            (
                r#"fields = []"#,
                "sink.schema.fields: needs at least one field",
            ),
            (
                r#"fields = [{ type = "int8" }]"#,
                "sink.schema.fields[0]: needs a `name`",
            ),
            (
                r#"fields = [{ name = "a", type = "int8" }, { name = "a", type = "int8" }]"#,
                "sink.schema.fields[1] (\"a\"): two fields have this name",
            ),
            (
                r#"fields = [{ name = "p", type = "decimal128" }]"#,
                "sink.schema.fields[0] (\"p\"): a decimal128 needs a `precision`",
            ),
            (
                r#"fields = [{ name = "p", type = "decimal128", precision = 40 }]"#,
                "precision 40: must be 1 to 38",
            ),
            (
                r#"fields = [{ name = "p", type = "decimal128", precision = 4, scale = 5 }]"#,
                "scale 5: must be 0 to the precision (4)",
            ),
            (
                r#"fields = [{ name = "x", type = "int64", unit = "ms" }]"#,
                "sink.schema.fields[0] (\"x\"): `unit` does not apply to type Int64",
            ),
            (
                r#"fields = [{ name = "t", type = "timestamp", timezone = "Mars/Olympus" }]"#,
                "sink.schema.fields[0] (\"t\"): time zone \"Mars/Olympus\"",
            ),
            (
                r#"fields = [{ name = "l", type = "list" }]"#,
                "a list needs an `item`",
            ),
            (
                r#"fields = [{ name = "l", type = "list", item = { type = "struct", fields = [{ type = "int8" }] } }]"#,
                "sink.schema.fields[0].item.fields[0]: needs a `name`",
            ),
            (
                r#"fields = [{ name = "s", type = "struct" }]"#,
                "a struct needs `fields`",
            ),
            (
                r#"fields = [{ name = "x", type = "int" }]"#,
                "unknown variant `int`",
            ),
            (
                r#"fields = [{ name = "x", type = "int8", nulable = false }]"#,
                "unknown field `nulable`",
            ),
        ];
        for (src, want) in table {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
        }
    }

    #[test]
    fn unsupported_arrow_types_are_refused() {
        let s = Schema::new(vec![Field::new("f", DataType::Float16, true)]);
        let e = check_supported(&s).unwrap_err().to_string();
        assert!(e.contains("\"f\"") && e.contains("not supported"), "{e}");
        let s = Schema::new(vec![Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Null, true))),
            true,
        )]);
        assert!(check_supported(&s).unwrap_err().to_string().contains("l[]"));
    }
}
