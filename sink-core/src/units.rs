//! Sizes and durations as job files and option tables write them: one grammar for every key.
//!
//! **Sizes** ([`ByteSize`]) are a non-negative integer, in bytes, or a string: a number, optional
//! spaces, and a unit in any case.
//!
//! * The number has digits, optionally `_` between them (`"1_048_576"`) and a fraction
//!   (`"1.5MiB"`); the result is rounded to the nearest byte.
//! * Units: none or `B` (bytes); `KB`, `MB`, `GB`, `TB` (powers of 1000); `KiB`, `MiB`, `GiB`,
//!   `TiB` (powers of 1024), and their short forms `k`, `m`, `g`, `t`, which are binary too, as
//!   Java's `-Xmx512m` and Hadoop's `128m` are.
//!
//! **Durations** ([`HumanDuration`]) are strings with a unit, as the `humantime` crate reads them:
//! `"250ms"`, `"10s"`, `"5m"`, `"1h 30m"` (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d` and their long
//! names). A bare number is refused, since nobody can tell whether `60` meant seconds or
//! milliseconds. (Flink's `BucketingSink` keys are the one exception: they take milliseconds, as
//! Flink's setters do; see `sink::bucketing::LegacyDuration`.)
//!
//! Errors say what was given and what is accepted. Fields that keep a plain type (`u64`,
//! `Option<std::time::Duration>`, ...) take the same grammar through [`bytes`] and [`duration`]:
//!
//! ```
//! use std::time::Duration;
//! use serde::Deserialize;
//! use sink_core::units::{ByteSize, HumanDuration};
//!
//! #[derive(Debug, Deserialize)]
//! struct Options {
//!     budget: ByteSize,
//!     #[serde(default, with = "sink_core::units::bytes")]
//!     part_size: Option<usize>,
//!     #[serde(with = "sink_core::units::duration")]
//!     timeout: Duration,
//!     interval: HumanDuration,
//! }
//! let o: Options = serde_json::from_str(
//!     r#"{"budget": "1.5 MiB", "part_size": "8m", "timeout": "1m 30s", "interval": "250ms"}"#,
//! ).unwrap();
//! assert_eq!(o.budget, ByteSize(1_572_864));
//! assert_eq!(o.part_size, Some(8 << 20));
//! assert_eq!(o.timeout, Duration::from_secs(90));
//! assert_eq!(o.interval.0, Duration::from_millis(250));
//! let e = serde_json::from_str::<Options>(r#"{"budget": "12 parsecs", "timeout": "1s", "interval": "1s"}"#)
//!     .unwrap_err();
//! assert!(e.to_string().contains("unknown unit \"parsecs\""), "{e}");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What a size may be, for messages.
const SIZES_ACCEPTED: &str = "write bytes, or a number and a unit: B, KB, MB, GB, TB (powers of \
     1000), KiB, MiB, GiB, TiB or k, m, g, t (powers of 1024), like 4096, \"128MiB\" or \"1.5 GB\"";

/// A size in bytes, as a job file writes it: `4096`, `"128MiB"`, `"64 MB"`, `"1.5g"` (see the
/// [module](self) for the grammar). Serialised as an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n << 10)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n << 20)
    }

    /// `n` GiB.
    pub const fn gib(n: u64) -> Self {
        ByteSize(n << 30)
    }

    /// The bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses the string form: `"128MiB"`, `"64 MB"`, `"1.5g"`, `"4096"`. The error says what was
    /// given and what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(end);
        let number = number.replace('_', "");
        let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
        let not_a_size = || format!("{s:?} is not a size: {SIZES_ACCEPTED}");
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(not_a_size());
        }
        let factor: u128 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "{s:?} is not a size: unknown unit {:?}; {SIZES_ACCEPTED}",
                    unit.trim()
                ))
            }
        };
        let too_large = || {
            format!(
                "{s:?} is out of range: a size is at most {} bytes",
                u64::MAX
            )
        };
        // Exact arithmetic: whole * factor, plus the fraction's share rounded half up. Fractions
        // finer than a billionth of the unit cannot change the result and are cut.
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let digits = &fraction[..fraction.len().min(9)];
        let scale = 10u128.pow(digits.len() as u32);
        let numerator: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| not_a_size())?
        };
        let bytes = whole
            .checked_mul(factor)
            .and_then(|b| b.checked_add((numerator * factor + scale / 2) / scale))
            .and_then(|b| u64::try_from(b).ok())
            .ok_or_else(too_large)?;
        Ok(ByteSize(bytes))
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ByteSize::parse(s)
    }
}

impl From<u64> for ByteSize {
    fn from(bytes: u64) -> Self {
        ByteSize(bytes)
    }
}

impl From<ByteSize> for u64 {
    fn from(s: ByteSize) -> u64 {
        s.0
    }
}

/// The largest binary unit that divides the size (`128MiB`), else bytes (`1000`): a form that
/// parses back to the same size.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if self.0 != 0 && self.0 % (1 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: bytes, or a string with a unit like \"128MiB\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{n} is not a size: a size cannot be negative")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration, as a job file writes it: a string with a unit, `"250ms"`, `"10s"`, `"1h 30m"` (see
/// the [module](self)). Serialised as such a string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `"250ms"`, `"10s"`, `"1h 30m"`. The error says what was given and what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| {
                format!(
                    "{s:?} is not a duration ({e}); write it with a unit, like \"10s\", \"250ms\", \"5m\" or \"1h 30m\""
                )
            })
    }

    /// What a bare number is told.
    fn no_unit(n: impl fmt::Display) -> String {
        format!("{n} has no unit; write \"{n}s\" or \"{n}ms\"")
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        HumanDuration::parse(s)
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        HumanDuration(d)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

/// `humantime`'s form (`1m 30s`), which parses back to the same duration.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&humantime::format_duration(self.0), f)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, like \"10s\", \"250ms\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(s).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<HumanDuration, E> {
                Err(E::custom(HumanDuration::no_unit(n)))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<HumanDuration, E> {
                Err(E::custom(HumanDuration::no_unit(n)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A field type that holds a size: `u64`, `usize`, or an `Option` of one (for [`bytes`]).
pub trait SizeField: Sized {
    /// The field's value of a size; an error when it does not fit.
    fn from_size(size: ByteSize) -> Result<Self, String>;
    /// The size the field holds, if any.
    fn to_size(&self) -> Option<ByteSize>;
    /// Reads the field: a [`ByteSize`] (an `Option` also takes a null).
    fn deserialize_field<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_size(ByteSize::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl SizeField for u64 {
    fn from_size(size: ByteSize) -> Result<Self, String> {
        Ok(size.0)
    }
    fn to_size(&self) -> Option<ByteSize> {
        Some(ByteSize(*self))
    }
}

impl SizeField for usize {
    fn from_size(size: ByteSize) -> Result<Self, String> {
        usize::try_from(size.0).map_err(|_| format!("{} bytes is too large", size.0))
    }
    fn to_size(&self) -> Option<ByteSize> {
        Some(ByteSize(*self as u64))
    }
}

impl<T: SizeField> SizeField for Option<T> {
    fn from_size(size: ByteSize) -> Result<Self, String> {
        T::from_size(size).map(Some)
    }
    fn to_size(&self) -> Option<ByteSize> {
        self.as_ref().and_then(T::to_size)
    }
    fn deserialize_field<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<ByteSize>::deserialize(d)?
            .map(T::from_size)
            .transpose()
            .map_err(de::Error::custom)
    }
}

/// `#[serde(with = "sink_core::units::bytes")]`: a `u64`, `usize` or `Option` of one that takes a
/// [`ByteSize`] (`"8MiB"` or bytes) and serialises as an integer. An `Option` field also needs
/// `#[serde(default)]` (or a container default), so that leaving it out gives `None`.
pub mod bytes {
    use serde::{Deserializer, Serializer};

    use super::SizeField;

    /// Reads a [`ByteSize`](super::ByteSize) into the field.
    pub fn deserialize<'de, D: Deserializer<'de>, T: SizeField>(d: D) -> Result<T, D::Error> {
        T::deserialize_field(d)
    }

    /// Writes the field as bytes (an integer), or none.
    pub fn serialize<S: Serializer, T: SizeField>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        match v.to_size() {
            Some(b) => s.serialize_u64(b.0),
            None => s.serialize_none(),
        }
    }
}

/// A field type that holds a duration: `std::time::Duration` or an `Option` of one (for
/// [`duration`]).
pub trait DurationField: Sized {
    /// The field's value of a duration.
    fn from_duration(d: HumanDuration) -> Self;
    /// The duration the field holds, if any.
    fn to_duration(&self) -> Option<HumanDuration>;
    /// Reads the field: a [`HumanDuration`] (an `Option` also takes a null).
    fn deserialize_field<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HumanDuration::deserialize(d).map(Self::from_duration)
    }
}

impl DurationField for Duration {
    fn from_duration(d: HumanDuration) -> Self {
        d.0
    }
    fn to_duration(&self) -> Option<HumanDuration> {
        Some(HumanDuration(*self))
    }
}

impl<T: DurationField> DurationField for Option<T> {
    fn from_duration(d: HumanDuration) -> Self {
        Some(T::from_duration(d))
    }
    fn to_duration(&self) -> Option<HumanDuration> {
        self.as_ref().and_then(T::to_duration)
    }
    fn deserialize_field<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<HumanDuration>::deserialize(d)?.map(T::from_duration))
    }
}

/// `#[serde(with = "sink_core::units::duration")]`: a `std::time::Duration` or `Option` of one
/// that takes a [`HumanDuration`] (`"30s"`) and serialises as one. An `Option` field also needs
/// `#[serde(default)]` (or a container default).
pub mod duration {
    use serde::{Deserializer, Serializer};

    use super::DurationField;

    /// Reads a [`HumanDuration`](super::HumanDuration) into the field.
    pub fn deserialize<'de, D: Deserializer<'de>, T: DurationField>(d: D) -> Result<T, D::Error> {
        T::deserialize_field(d)
    }

    /// Writes the field as a duration string, or none.
    pub fn serialize<S: Serializer, T: DurationField>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        match v.to_duration() {
            Some(d) => s.collect_str(&d),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let table: &[(&str, Option<u64>)] = &[
            ("4096", Some(4096)),
            ("128MiB", Some(128 << 20)),
            ("128mib", Some(128 << 20)),
            ("128 MIB", Some(128 << 20)),
            ("64 MB", Some(64_000_000)),
            ("64kB", Some(64_000)),
            ("1.5MiB", Some(1_572_864)),
            ("1.5 GB", Some(1_500_000_000)),
            ("0.5B", Some(1)),
            (".5KiB", Some(512)),
            ("1_048_576", Some(1 << 20)),
            ("1g", Some(1 << 30)),
            ("512k", Some(512 << 10)),
            ("8M", Some(8 << 20)),
            ("1t", Some(1 << 40)),
            ("1TB", Some(1_000_000_000_000)),
            ("  8 MiB ", Some(8 << 20)),
            ("0", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("16777216TiB", None),
            ("18446744073709551616", None),
            ("", None),
            ("MiB", None),
            (".", None),
            ("1.2.3", None),
            ("lots", None),
            ("12 parsecs", None),
            ("-1", None),
            ("1e3", None),
            ("1 048 576", None),
        ];
        for (s, want) in table {
            assert_eq!(ByteSize::parse(s).ok().map(|b| b.0), *want, "{s:?}");
        }
        let e = ByteSize::parse("12 parsecs").unwrap_err();
        assert!(
            e.contains("\"12 parsecs\"")
                && e.contains("unknown unit \"parsecs\"")
                && e.contains("KiB"),
            "{e}"
        );
        for b in [0u64, 1000, 4096, 128 << 20, 3 << 40, 1_572_864] {
            assert_eq!(ByteSize::parse(&ByteSize(b).to_string()), Ok(ByteSize(b)));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse(" 1h 30m ").unwrap().0,
            Duration::from_secs(5400)
        );
        assert_eq!(
            HumanDuration::parse("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        let e = HumanDuration::parse("soon").unwrap_err();
        assert!(
            e.contains("\"soon\" is not a duration") && e.contains("\"10s\""),
            "{e}"
        );
        let e = serde_json::from_str::<HumanDuration>("60").unwrap_err();
        assert!(e.to_string().contains("60 has no unit"), "{e}");
        let d = HumanDuration(Duration::from_millis(90_250));
        assert_eq!(HumanDuration::parse(&d.to_string()), Ok(d));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1m 30s 250ms\"");
    }

    #[test]
    fn plain_fields_take_the_same_grammar() {
        #[derive(Deserialize, Serialize, Debug, PartialEq)]
        struct F {
            #[serde(with = "bytes")]
            a: usize,
            #[serde(default, with = "bytes", skip_serializing_if = "Option::is_none")]
            b: Option<u64>,
            #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
            c: Option<Duration>,
        }
        let f: F = serde_json::from_str(r#"{"a": "2KiB", "b": 7, "c": "2m"}"#).unwrap();
        assert_eq!(
            f,
            F {
                a: 2048,
                b: Some(7),
                c: Some(Duration::from_secs(120))
            }
        );
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"a":2048,"b":7,"c":"2m"}"#
        );
        let none: F = serde_json::from_str(r#"{"a": 1}"#).unwrap();
        assert_eq!((none.b, none.c), (None, None));
        let null: F = serde_json::from_str(r#"{"a": 1, "b": null, "c": null}"#).unwrap();
        assert_eq!((null.b, null.c), (None, None));
        let e = serde_json::from_str::<F>(r#"{"a": "1x"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown unit \"x\""), "{e}");
    }
}
