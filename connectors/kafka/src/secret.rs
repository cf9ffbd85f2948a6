//! librdkafka properties with their secrets kept out of logs, errors and `Debug` output.

use std::collections::BTreeMap;
use std::fmt;

/// What replaces a secret wherever a property could be shown.
pub const REDACTED: &str = "***";

/// True for a property whose value is a secret: its name contains `password`, `secret`,
/// `sasl.jaas`, `ssl.key` (the PEM key, its password), `sasl.oauthbearer.config` or `token`.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "sasl.jaas",
        "ssl.key",
        "sasl.oauthbearer.config",
        "token",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// librdkafka properties (`security.protocol`, `sasl.password`, ...), passed through as given.
///
/// `Debug` shows secret values (see [`is_secret`]) as `***`; [`Properties::redact`] scrubs them
/// from any text, such as an error message of librdkafka that quotes a value.
///
/// ```
/// use connector_kafka::Properties;
/// let mut p = Properties::new();
/// p.set("security.protocol", "SASL_SSL");
/// p.set("sasl.password", "hunter2");
/// let shown = format!("{p:?}");
/// assert!(shown.contains("SASL_SSL") && !shown.contains("hunter2"));
/// assert_eq!(p.redact("bad value hunter2"), "bad value ***");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Properties::default()
    }

    /// Sets a property.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// A property's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every property, secrets included: only for handing them to librdkafka.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.0 {
            // Very short values would scrub random letters; they are not worth protecting anyway.
            if is_secret(k) && v.len() >= 3 && out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, if is_secret(k) { REDACTED } else { v.as_str() })),
            )
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Properties(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised() {
        for k in [
            "sasl.password",
            "ssl.key.password",
            "ssl.key.pem",
            "ssl.keystore.password",
            "sasl.jaas.config",
            "sasl.oauthbearer.client.secret",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret(k), "{k}");
        }
        for k in [
            "security.protocol",
            "sasl.username",
            "sasl.mechanism",
            "ssl.ca.location",
        ] {
            assert!(!is_secret(k), "{k}");
        }
    }

    #[test]
    fn debug_and_redact_hide_secrets() {
        let p: Properties = [
            ("sasl.username", "alice"),
            ("sasl.password", "s3cr3t-pw"),
            ("ssl.key.pem", "-----BEGIN KEY-----abc"),
        ]
        .into_iter()
        .collect();
        let d = format!("{p:?}");
        assert!(d.contains("alice"));
        assert!(!d.contains("s3cr3t") && !d.contains("BEGIN KEY"), "{d}");
        assert_eq!(
            p.redact("Invalid value \"s3cr3t-pw\" for sasl.password"),
            "Invalid value \"***\" for sasl.password"
        );
    }
}
