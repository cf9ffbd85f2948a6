//! Dead letters: records the job could not decode, assign or encode, written with their origin and
//! the reason to a dead-letter bucket (JSON lines), under the same exactly-once protocol as the data.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The default dead-letter bucket. The leading `_` hides it from Spark, Hive, Trino and DuckDB.
pub const DEFAULT_DEAD_LETTER_BUCKET: &str = "_dead_letter";

/// One record that could not be written, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it came from: `topic/partition@offset`, `generator/3@77`.
    pub origin: String,
    /// What was wrong.
    pub reason: String,
    /// When it was rejected (processing time, RFC 3339).
    pub time: String,
    /// The record's bytes when they are UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The record's bytes in base64 when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

impl DeadLetter {
    /// A dead letter rejected at `processing_time` (ms since the epoch).
    pub fn new(
        origin: impl Into<String>,
        reason: impl Into<String>,
        payload: Option<&[u8]>,
        processing_time: i64,
    ) -> Self {
        let (payload, payload_base64) = match payload {
            None => (None, None),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => (Some(s.to_string()), None),
                Err(_) => (
                    None,
                    Some(base64::engine::general_purpose::STANDARD.encode(b)),
                ),
            },
        };
        let time = chrono::DateTime::from_timestamp_millis(processing_time)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        DeadLetter {
            origin: origin.into(),
            reason: reason.into(),
            time,
            payload,
            payload_base64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_payloads() {
        let d = DeadLetter::new("t/0@5", "bad json", Some(b"{oops"), 0);
        assert_eq!(d.payload.as_deref(), Some("{oops"));
        assert_eq!(d.time, "1970-01-01T00:00:00.000Z");
        let b = DeadLetter::new("t/0@6", "bad", Some(&[0xff, 0x00]), 0);
        assert_eq!(b.payload_base64.as_deref(), Some("/wA="));
        let j = serde_json::to_string(&b).unwrap();
        assert!(!j.contains("\"payload\""), "{j}");
    }
}
