//! Named fields of a record, for field bucketing and CSV.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// The value of one field.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// Present but null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// Text.
    Str(Cow<'a, str>),
}

impl FieldValue<'_> {
    /// Appends the value's text form (empty for null).
    pub fn write_to(&self, out: &mut String) {
        match self {
            FieldValue::Null => {}
            FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            FieldValue::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            FieldValue::UInt(u) => out.push_str(itoa::Buffer::new().format(*u)),
            FieldValue::Float(f) => {
                let _ = write!(out, "{f}");
            }
            FieldValue::Str(s) => out.push_str(s),
        }
    }

    /// True for [`FieldValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

/// Records whose fields can be read by name: field bucketing and the CSV encoder use it.
///
/// Names may be dotted (`user.country`) to reach into nested records where the type supports it.
/// `None` means the field is missing; `Some(FieldValue::Null)` that it is present and null.
pub trait FieldAccess {
    /// The value of a field.
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;
}

impl FieldAccess for serde_json::Value {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let mut v = self;
        for part in name.split('.') {
            v = match v {
                serde_json::Value::Object(m) => m.get(part)?,
                serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(json_field(v))
    }
}

/// The field form of a JSON value: objects and arrays become their JSON text.
pub fn json_field(v: &serde_json::Value) -> FieldValue<'_> {
    match v {
        serde_json::Value::Null => FieldValue::Null,
        serde_json::Value::Bool(b) => FieldValue::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                FieldValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                FieldValue::UInt(u)
            } else {
                FieldValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => FieldValue::Str(Cow::Borrowed(s)),
        other => FieldValue::Str(Cow::Owned(other.to_string())),
    }
}

impl<V: AsRef<str>> FieldAccess for std::collections::BTreeMap<String, V> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.get(name)
            .map(|v| FieldValue::Str(Cow::Borrowed(v.as_ref())))
    }
}

impl<V: AsRef<str>> FieldAccess for std::collections::HashMap<String, V> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.get(name)
            .map(|v| FieldValue::Str(Cow::Borrowed(v.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_fields_by_dotted_name() {
        let v = json!({"a": 1, "b": {"c": "x", "d": [10, 20]}, "n": null, "f": 1.5, "t": true, "big": u64::MAX});
        assert_eq!(v.field("a"), Some(FieldValue::Int(1)));
        assert_eq!(v.field("b.c"), Some(FieldValue::Str("x".into())));
        assert_eq!(v.field("b.d.1"), Some(FieldValue::Int(20)));
        assert_eq!(v.field("n"), Some(FieldValue::Null));
        assert_eq!(v.field("missing"), None);
        assert_eq!(v.field("a.b"), None);
        assert_eq!(v.field("f").unwrap().to_string(), "1.5");
        assert_eq!(v.field("t").unwrap().to_string(), "true");
        assert_eq!(v.field("big"), Some(FieldValue::UInt(u64::MAX)));
        assert_eq!(v.field("b.d").unwrap().to_string(), "[10,20]");
    }
}
