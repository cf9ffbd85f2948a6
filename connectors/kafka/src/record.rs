//! The record the Kafka source emits: the decoded value with its Kafka envelope.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use sink_core::sink::{json_field, FieldAccess, FieldValue};

use crate::config::OutputMode;

/// A record's value, decoded as the source's `value_format` says.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// No value (a tombstone), in every format.
    Null,
    /// Raw bytes (`value_format = "bytes"`).
    Bytes(Bytes),
    /// UTF-8 text (`value_format = "text"`).
    Text(String),
    /// A decoded JSON value (`value_format = "json"`).
    Json(serde_json::Value),
}

impl Payload {
    /// The value as bytes, if it is bytes or text.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Bytes(b) => Some(b),
            Payload::Text(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The JSON value, if it is one.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Payload::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Payload::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl Serialize for Payload {
    /// JSON values as they are, text as a string, bytes as a base64 string, a tombstone as null.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Null => s.serialize_none(),
            Payload::Bytes(b) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
            }
            Payload::Text(t) => s.serialize_str(t),
            Payload::Json(v) => v.serialize(s),
        }
    }
}

impl fmt::Display for Payload {
    /// JSON as compact JSON text, text as it is, bytes as lossy UTF-8, a tombstone as nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Null => Ok(()),
            Payload::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Payload::Text(t) => f.write_str(t),
            Payload::Json(v) => write!(f, "{v}"),
        }
    }
}

/// One Kafka record: the decoded value and its envelope.
///
/// The topic name is shared (`Arc<str>`, one per partition, cloned per record), the key and header
/// values are copied once out of librdkafka's buffers, and a JSON value is decoded once.
///
/// * `Serialize` (JSON lines, ...) follows [`output`](Self::output): the value alone
///   ([`OutputMode::Value`]), or the envelope `{topic, partition, offset, timestamp, key, value,
///   headers}` ([`OutputMode::Envelope`]).
/// * `Display` is the value as text ([`Payload`]'s `Display`).
/// * [`FieldAccess`] reaches the envelope fields `topic`, `partition`, `offset`, `timestamp`, `key`,
///   `headers.NAME` (the first header of that name, as text), the whole `value`, and fields of a
///   JSON value as `value.user.id`; a name that is none of those is looked up in the JSON value too
///   (`user.id`).
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaRecord {
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The decoded value.
    pub value: Payload,
    /// Headers in order, possibly repeated; a header may have no value.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The Kafka timestamp, ms since the epoch, if the record has one.
    pub timestamp: Option<i64>,
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// What `Serialize` writes.
    pub output: OutputMode,
}

impl KafkaRecord {
    /// The split id of the record's partition, `"{topic}/{partition}"`.
    pub fn split_id(&self) -> String {
        crate::config::split_id(&self.topic, self.partition)
    }

    /// The first header with this name, if any (its value may be absent).
    pub fn header(&self, name: &str) -> Option<Option<&[u8]>> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }
}

/// Key and header bytes: text when they are UTF-8, else `{"base64": "..."}`.
struct BytesField<'a>(&'a [u8]);

impl Serialize for BytesField<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(t) => s.serialize_str(t),
            Err(_) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "base64",
                    &base64::engine::general_purpose::STANDARD.encode(self.0),
                )?;
                m.end()
            }
        }
    }
}

struct Headers<'a>(&'a [(String, Option<Bytes>)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (k, v) in self.0 {
            seq.serialize_element(&HeaderEntry(k, v.as_deref()))?;
        }
        seq.end()
    }
}

struct HeaderEntry<'a>(&'a str, Option<&'a [u8]>);

impl Serialize for HeaderEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("key", self.0)?;
        m.serialize_entry("value", &self.1.map(BytesField))?;
        m.end()
    }
}

impl Serialize for KafkaRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.output {
            OutputMode::Value => self.value.serialize(s),
            OutputMode::Envelope => {
                let mut m = s.serialize_map(Some(7))?;
                m.serialize_entry("topic", &*self.topic)?;
                m.serialize_entry("partition", &self.partition)?;
                m.serialize_entry("offset", &self.offset)?;
                m.serialize_entry("timestamp", &self.timestamp)?;
                m.serialize_entry("key", &self.key.as_deref().map(BytesField))?;
                m.serialize_entry("value", &self.value)?;
                m.serialize_entry("headers", &Headers(&self.headers))?;
                m.end()
            }
        }
    }
}

impl fmt::Display for KafkaRecord {
    /// The value as text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

fn bytes_field(b: &[u8]) -> FieldValue<'_> {
    FieldValue::Str(String::from_utf8_lossy(b))
}

fn payload_field(p: &Payload) -> FieldValue<'_> {
    match p {
        Payload::Null => FieldValue::Null,
        Payload::Bytes(b) => bytes_field(b),
        Payload::Text(t) => FieldValue::Str(Cow::Borrowed(t)),
        Payload::Json(v) => json_field(v),
    }
}

impl FieldAccess for KafkaRecord {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match name {
            "topic" => FieldValue::Str(Cow::Borrowed(&self.topic)),
            "partition" => FieldValue::Int(self.partition.into()),
            "offset" => FieldValue::Int(self.offset),
            "timestamp" => self.timestamp.map_or(FieldValue::Null, FieldValue::Int),
            "key" => self.key.as_deref().map_or(FieldValue::Null, bytes_field),
            "value" => payload_field(&self.value),
            _ => {
                if let Some(h) = name.strip_prefix("headers.") {
                    return self
                        .header(h)
                        .map(|v| v.map_or(FieldValue::Null, bytes_field));
                }
                let path = name.strip_prefix("value.").unwrap_or(name);
                return match &self.value {
                    Payload::Json(v) => v.field(path),
                    _ => None,
                };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(value: Payload, output: OutputMode) -> KafkaRecord {
        KafkaRecord {
            key: Some(Bytes::from_static(b"k1")),
            value,
            headers: vec![
                ("trace".into(), Some(Bytes::from_static(b"abc"))),
                ("bin".into(), Some(Bytes::from_static(&[0xff, 0x00]))),
                ("empty".into(), None),
            ],
            timestamp: Some(1_000),
            topic: Arc::from("orders"),
            partition: 3,
            offset: 42,
            output,
        }
    }

    #[test]
    fn value_output_writes_the_value_itself() {
        let j = rec(Payload::Json(json!({"a": 1})), OutputMode::Value);
        assert_eq!(serde_json::to_string(&j).unwrap(), r#"{"a":1}"#);
        let t = rec(Payload::Text("hé \"x\"".into()), OutputMode::Value);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""hé \"x\"""#);
        let b = rec(
            Payload::Bytes(Bytes::from_static(b"\x00\x01")),
            OutputMode::Value,
        );
        assert_eq!(serde_json::to_string(&b).unwrap(), r#""AAE=""#);
        let n = rec(Payload::Null, OutputMode::Value);
        assert_eq!(serde_json::to_string(&n).unwrap(), "null");
    }

    #[test]
    fn envelope_output_has_every_field() {
        let r = rec(Payload::Json(json!({"a": 1})), OutputMode::Envelope);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({
                "topic": "orders", "partition": 3, "offset": 42, "timestamp": 1000, "key": "k1",
                "value": {"a": 1},
                "headers": [
                    {"key": "trace", "value": "abc"},
                    {"key": "bin", "value": {"base64": "/wA="}},
                    {"key": "empty", "value": null}
                ]
            })
        );
    }

    #[test]
    fn display_is_the_value_as_text() {
        assert_eq!(
            rec(Payload::Json(json!({"a": [1, 2]})), OutputMode::Value).to_string(),
            r#"{"a":[1,2]}"#
        );
        assert_eq!(
            rec(Payload::Text("plain".into()), OutputMode::Value).to_string(),
            "plain"
        );
        assert_eq!(rec(Payload::Null, OutputMode::Value).to_string(), "");
    }

    #[test]
    fn fields_reach_envelope_and_value() {
        let r = rec(
            Payload::Json(json!({"user": {"id": 7, "country": "NZ"}, "topic": "inner"})),
            OutputMode::Value,
        );
        assert_eq!(r.field("topic"), Some(FieldValue::Str("orders".into())));
        assert_eq!(r.field("partition"), Some(FieldValue::Int(3)));
        assert_eq!(r.field("offset"), Some(FieldValue::Int(42)));
        assert_eq!(r.field("timestamp"), Some(FieldValue::Int(1000)));
        assert_eq!(r.field("key"), Some(FieldValue::Str("k1".into())));
        assert_eq!(r.field("value.user.id"), Some(FieldValue::Int(7)));
        assert_eq!(r.field("user.country"), Some(FieldValue::Str("NZ".into())));
        assert_eq!(
            r.field("value.topic"),
            Some(FieldValue::Str("inner".into()))
        );
        assert_eq!(
            r.field("headers.trace"),
            Some(FieldValue::Str("abc".into()))
        );
        assert_eq!(r.field("headers.empty"), Some(FieldValue::Null));
        assert_eq!(r.field("headers.none"), None);
        assert_eq!(r.field("value.missing"), None);
        let t = rec(Payload::Text("x".into()), OutputMode::Value);
        assert_eq!(t.field("value"), Some(FieldValue::Str("x".into())));
        assert_eq!(t.field("value.a"), None);
    }
}
